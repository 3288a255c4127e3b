#include "k8s/agent_pod.hpp"

#include "k8s/json_access.hpp"
#include "base/log.hpp"
#include "wire/messages.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <chrono>
#include <random>
#include <thread>

namespace mrd::k8s {

using nlohmann::json;

namespace {

std::string random_suffix() {
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    std::string s;
    for (int i = 0; i < 8; ++i) s += chars[rd() % (sizeof chars - 1)];
    return s;
}

json agent_command(const AgentPodSpec& config, const std::vector<std::string>& target_args, const std::string& client_fingerprint) {
    // The pod's loopback only (127.0.0.1 and ::1, one random port): the API server's port-forward
    // reaches it, other pods cannot; and only this session's key is accepted there.
    json cmd = {"mirrord-agent", "--listen", "tcp:localhost:0", "--client-fingerprint", client_fingerprint, "--idle-timeout",
                std::to_string(config.communication_timeout), "--log-level", config.log_level == "info" ? "warn" : config.log_level};
    for (auto& a : target_args) cmd.push_back(a);
    if (!config.flush_connections) cmd.push_back("--no-flush-connections");
    return cmd;
}

json security_context(const AgentPodSpec& config) {
    return {{"privileged", config.privileged},
            {"capabilities", {{"add", {"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "DAC_READ_SEARCH"}}}}};
}

json resources(const AgentPodSpec& config) {
    if (!config.resources.empty()) return config.resources;
    return {{"requests", {{"cpu", "10m"}, {"memory", "50Mi"}}}, {"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}};
}

}  // namespace

json agent_job(const ResolvedTarget& target, const AgentPodSpec& config, const std::string& name,
               const std::string& client_fingerprint) {
    json labels = {{"app", "mirrord"}, {"app.kubernetes.io/name", "mirrord-agent"}, {"mirrord-agent", name}};
    for (auto& [k, v] : config.labels.items()) labels[k] = v;
    json annotations = {{"sidecar.istio.io/inject", "false"}, {"linkerd.io/inject", "disabled"}};
    for (auto& [k, v] : config.annotations.items()) annotations[k] = v;
    json pod_spec = {
        {"hostPID", true},
        {"nodeName", target.node},
        {"restartPolicy", "Never"},
        {"terminationGracePeriodSeconds", 0},
        // The target's node may be tainted: by default tolerate everything, like mirrord.
        {"tolerations", config.tolerations.empty() ? json::array({{{"operator", "Exists"}}}) : config.tolerations},
        {"volumes", {{{"name", "host-run"}, {"hostPath", {{"path", "/run"}}}}, {{"name", "host-var"}, {"hostPath", {{"path", "/var"}}}}}},
        {"containers",
         {{{"name", "mirrord-agent"},
           {"image", config.image},
           {"imagePullPolicy", config.image_pull_policy},
           {"command", agent_command(config, {"--container-id", target.container_id}, client_fingerprint)},
           {"securityContext", security_context(config)},
           {"resources", resources(config)},
           {"volumeMounts", {{{"name", "host-run"}, {"mountPath", "/host/run"}}, {{"name", "host-var"}, {"mountPath", "/host/var"}}}}}}},
    };
    if (!config.service_account.empty()) pod_spec["serviceAccountName"] = config.service_account;
    if (!config.node_selector.empty()) pod_spec["nodeSelector"] = config.node_selector;
    if (!config.image_pull_secrets.empty()) {
        json secrets = json::array();
        for (auto& s : config.image_pull_secrets) secrets.push_back({{"name", s}});
        pod_spec["imagePullSecrets"] = secrets;
    }
    return {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", name}, {"labels", labels}, {"annotations", annotations}}},
            {"spec",
             {{"ttlSecondsAfterFinished", config.ttl},
              {"backoffLimit", 0},
              {"template", {{"metadata", {{"labels", labels}, {"annotations", annotations}}}, {"spec", pod_spec}}}}}};
}

json agent_ephemeral_container(const ResolvedTarget& target, const AgentPodSpec& config, const std::string& name,
                               const std::string& client_fingerprint) {
    // In the target container's PID namespace, or the pod's when it shares one (where PID 1 is the
    // pause container): the target is found by its id either way. Root whatever the pod's
    // securityContext says, for the capabilities to be effective.
    json security = security_context(config);
    security["runAsUser"] = 0;
    security["runAsGroup"] = 0;
    security["runAsNonRoot"] = false;
    return {{"name", name},
            {"image", config.image},
            {"imagePullPolicy", config.image_pull_policy},
            {"targetContainerName", target.container},
            {"command", agent_command(config, {"--container-id", target.container_id}, client_fingerprint)},
            {"securityContext", security}};
}

std::optional<std::string> pod_failure(const json& pod, const std::string& container) {
    static const char* const fatal[] = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
                                        "CreateContainerConfigError", "CreateContainerError", "RunContainerError"};
    for (const char* list : {"containerStatuses", "ephemeralContainerStatuses"}) {
        for (auto& cs : k8s::list(pod, std::string("/status/") + list)) {
            if (text(cs, "/name") != container) continue;
            auto waiting = object(cs, "/state/waiting");
            std::string reason = text(waiting, "/reason");
            for (const char* f : fatal)
                if (reason == f) {
                    std::string why = reason + ": " + text(waiting, "/message");
                    if (reason == "ImagePullBackOff" || reason == "ErrImagePull" || reason == "InvalidImageName")
                        why += " (the agent image is " + text(cs, "/image", "not named") +
                               ": build and push it with scripts/agent-image --push REGISTRY/NAME:TAG, then set agent.image or "
                               "MIRRORD_AGENT_IMAGE to it)";
                    return why;
                }
            auto terminated = object(cs, "/state/terminated");
            if (!terminated.empty())
                return "the agent exited (" + text(terminated, "/reason") + ", code " +
                       std::to_string(number(terminated, "/exitCode")) + ") " + text(terminated, "/message");
        }
    }
    if (text(pod, "/status/phase") == "Failed")
        return "the agent pod failed: " + text(pod, "/status/message", "no reason given");
    return std::nullopt;
}

AgentLease::~AgentLease() {
    if (auto st = api_->remove("/apis/batch/v1/namespaces/" + namespace_ + "/jobs/" + job_ + "?propagationPolicy=Background"); !st)
        log::warn("could not delete the agent job ", job_, " (its ttlSecondsAfterFinished will): ", st.error().message);
}

namespace {

// "mirrord-agent ready: tcp:127.0.0.1:PORT tcp:[::1]:PORT fingerprint=HEX": the port and the
// fingerprint, into agent; false while the line is not complete.
bool read_ready_line(const std::string& log, AgentPod& agent) {
    auto at = log.find(wire::kAgentReadyLine);
    if (at == std::string::npos) return false;
    auto end = log.find('\n', at);
    if (end == std::string::npos) return false;
    std::istringstream words(log.substr(at + std::strlen(wire::kAgentReadyLine), end - at - std::strlen(wire::kAgentReadyLine)));
    for (std::string w; words >> w;) {
        if (w.rfind("fingerprint=", 0) == 0) agent.fingerprint = w.substr(12);
        else if (w.rfind("tcp:", 0) == 0 && agent.port == 0) agent.port = static_cast<uint16_t>(std::atoi(w.c_str() + w.rfind(':') + 1));
    }
    return true;
}

// Until the agent says it listens, where, and who it is: its log, followed (a pod can be Running
// long before).
Result<bool> wait_for_ready_line(ApiClient& api, AgentPod& agent, std::chrono::seconds quiet) {
    std::string log;
    return api.follow("/api/v1/namespaces/" + agent.namespace_ + "/pods/" + agent.pod + "/log?container=" +
                          url_escape(agent.container) + "&follow=true",
                      [&](std::string_view data) {
                          log.append(data);
                          return !read_ready_line(log, agent);
                      },
                      quiet);
}

bool container_running(const json& pod, const std::string& container) {
    for (const char* statuses : {"/status/containerStatuses", "/status/ephemeralContainerStatuses"})
        for (auto& cs : list(pod, statuses))
            if (text(cs, "/name") == container && field(cs, "/state/running").is_object()) return true;
    return false;
}

}  // namespace

Result<AgentPod> start_agent(const std::shared_ptr<ApiClient>& api, const ResolvedTarget& target, const AgentPodSpec& config,
                             const AgentWait& wait, const std::string& client_fingerprint) {
    std::string name = "mirrord-agent-" + random_suffix();
    AgentPod agent;
    if (config.ephemeral) {
        agent.namespace_ = target.namespace_;
        json patch = {{"spec", {{"ephemeralContainers", {agent_ephemeral_container(target, config, name, client_fingerprint)}}}}};
        auto r = api->patch("/api/v1/namespaces/" + agent.namespace_ + "/pods/" + target.pod + "/ephemeralcontainers", patch,
                            "application/strategic-merge-patch+json");
        if (!r) return r.error().context("adding the agent as an ephemeral container to pod/" + target.pod);
        agent.pod = target.pod;
        agent.container = name;
    } else {
        agent.namespace_ = config.namespace_.empty() ? target.namespace_ : config.namespace_;
        auto r = api->post("/apis/batch/v1/namespaces/" + agent.namespace_ + "/jobs", agent_job(target, config, name, client_fingerprint));
        if (!r) return r.error().context("creating the agent job in namespace " + agent.namespace_);
        agent.job = name;
        agent.container = "mirrord-agent";
        // From here on, any way out of the session (an error below, the end, Ctrl-C) deletes the Job.
        agent.lease = std::make_shared<AgentLease>(api, agent.namespace_, name);
    }
    const std::string& ns = agent.namespace_;

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.startup_timeout);
    std::string last_state;
    for (;;) {
        if (wait.interrupted()) return Error::msg("interrupted while the agent was starting", EINTR);
        json pod;
        if (agent.job.empty()) {
            auto p = api->get("/api/v1/namespaces/" + ns + "/pods/" + agent.pod);
            if (!p) return p.error();
            pod = *p;
        } else {
            auto pods = api->get("/api/v1/namespaces/" + ns + "/pods?labelSelector=" + url_escape("job-name=" + name));
            if (!pods) return pods.error();
            if (!list(*pods, "/items").empty()) {
                pod = list(*pods, "/items")[0];
                agent.pod = text(pod, "/metadata/name");
            } else {
                // No pod: a policy may have refused it; the job's events say so.
                auto events = api->get("/api/v1/namespaces/" + ns + "/events?fieldSelector=" + url_escape("involvedObject.name=" + name));
                if (events)
                    for (auto& e : list(*events, "/items"))
                        if (text(e, "/reason") == "FailedCreate")
                            return Error::msg("the agent pod was not created: " + text(e, "/message"), EACCES);
            }
        }
        if (!pod.is_null()) {
            if (auto failure = pod_failure(pod, agent.container)) {
                std::string security = object(pod, "/spec/securityContext").dump();
                return Error::msg("the agent cannot start: " + *failure +
                                      (agent.job.empty() && security != "{}" ? " (the pod's securityContext: " + security + ")" : ""),
                                  EIO);
            }
            if (container_running(pod, agent.container)) {
                auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
                auto ready = wait_for_ready_line(*api, agent, std::clamp(left, std::chrono::seconds(1), std::chrono::seconds(2)));
                if (!ready) return ready.error().context("reading the agent's log");
                if (*ready && (agent.port == 0 || agent.fingerprint.empty()))
                    return Error::msg("the agent's ready line gives no TCP port or fingerprint (is the image this mirrord's?)", EPROTO);
                if (*ready) return agent;
            }
        }
        std::string state = pod.is_null() ? "waiting for the agent pod to be scheduled"
                            : container_running(pod, agent.container) ? "waiting for the agent to listen"
                                                                       : "agent pod " + text(pod, "/status/phase", "Pending");
        if (state != last_state) wait.progress(state);
        last_state = state;
        if (std::chrono::steady_clock::now() > deadline)
            return Error::msg("the agent did not start within " + std::to_string(config.startup_timeout) + "s (" + state +
                              "); see agent.startup_timeout", ETIMEDOUT);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

}  // namespace mrd::k8s
