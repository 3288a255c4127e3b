// Starting mirrord-agent next to a target: a Job pinned to the target's node (hostPID, so it can find
// the target's container by its id and enter its namespaces), or an ephemeral container in the
// target pod (agent.ephemeral). Waits until it runs, with clear errors for what commonly goes
// wrong: an image that cannot be pulled, a policy that forbids the pod, a crash, a timeout.
#pragma once

#include "k8s/api_client.hpp"
#include "k8s/targets.hpp"
#include "tracer/config.hpp"

#include <functional>

namespace mrd::k8s {

inline constexpr uint16_t kAgentPort = 61337;

struct AgentPod {
    std::string namespace_;
    std::string pod;
    uint16_t port = kAgentPort;
    std::string job;  // empty for an ephemeral container
};

// The Job mirrord creates for target (exposed for tests and `--print`-style inspection).
nlohmann::json agent_job(const ResolvedTarget& target, const tracer::AgentConfig& config, const std::string& name);
nlohmann::json agent_ephemeral_container(const ResolvedTarget& target, const tracer::AgentConfig& config, const std::string& name);

// progress: called with a short status line while waiting ("pulling the agent image...").
Result<AgentPod> start_agent(ApiClient& api, const ResolvedTarget& target, const tracer::AgentConfig& config,
                             const std::function<void(const std::string&)>& progress);

// The reason a pod cannot start, if its status shows one (ImagePullBackOff...).
std::optional<std::string> pod_failure(const nlohmann::json& pod, const std::string& container);

}  // namespace mrd::k8s
