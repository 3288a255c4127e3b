// Starting mirrord-agent next to a target: a Job pinned to the target's node (hostPID, so it can find
// the target's container by its id and enter its namespaces), or an ephemeral container in the
// target pod (agent.ephemeral). Waits until it listens, with clear errors for what commonly goes
// wrong: an image that cannot be pulled, a policy that forbids the pod, a crash, a timeout.
#pragma once

#include "k8s/api_client.hpp"
#include "k8s/targets.hpp"
#include "k8s/agent_pod_spec.hpp"

#include <functional>

namespace mrd::k8s {


// Deletes the agent's Job (and, in the background, its pod) when the last holder lets go: at the
// session's end, on Ctrl-C, on an error. If the CLI is killed, the agent's idle timeout ends it and
// the Job's ttlSecondsAfterFinished removes it.
class AgentLease {
public:
    AgentLease(std::shared_ptr<ApiClient> api, std::string namespace_, std::string job)
        : api_(std::move(api)), namespace_(std::move(namespace_)), job_(std::move(job)) {}
    ~AgentLease();
    AgentLease(const AgentLease&) = delete;
    AgentLease& operator=(const AgentLease&) = delete;

private:
    std::shared_ptr<ApiClient> api_;
    std::string namespace_, job_;
};

struct AgentPod {
    std::string namespace_;
    std::string pod;
    std::string container;  // the agent's container in that pod
    uint16_t port = 0;  // where the agent listens in its pod, from its ready line
    std::string job;  // empty for an ephemeral container
    std::string fingerprint;  // the agent's certificate's, from its ready line
    std::shared_ptr<AgentLease> lease;  // none for an ephemeral container: it ends with its session
};

struct AgentWait {
    std::function<void(const std::string&)> progress;  // a short status line while waiting
    std::function<bool()> interrupted;                 // Ctrl-C, SIGTERM: give up (and delete the Job)
};

// The Job mirrord creates for target (exposed for tests and `--print`-style inspection).
// client_fingerprint: the session's certificate, the only one the agent accepts.
nlohmann::json agent_job(const ResolvedTarget& target, const AgentPodSpec& config, const std::string& name,
                         const std::string& client_fingerprint);
nlohmann::json agent_ephemeral_container(const ResolvedTarget& target, const AgentPodSpec& config, const std::string& name,
                                         const std::string& client_fingerprint);

// Ready when the agent's log says it listens, not merely when its container runs.
Result<AgentPod> start_agent(const std::shared_ptr<ApiClient>& api, const ResolvedTarget& target, const AgentPodSpec& config,
                             const AgentWait& wait, const std::string& client_fingerprint);

// The reason a pod cannot start, if its status shows one (ImagePullBackOff...).
std::optional<std::string> pod_failure(const nlohmann::json& pod, const std::string& container);

}  // namespace mrd::k8s
