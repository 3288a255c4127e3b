#include "k8s/agent_pod.hpp"

#include "k8s/json_access.hpp"

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

json agent_command(const tracer::AgentConfig& config, const std::vector<std::string>& target_args) {
    json cmd = {"mirrord-agent", "--listen", "tcp:0.0.0.0:" + std::to_string(kAgentPort), "--idle-timeout",
                std::to_string(config.communication_timeout), "--log-level", config.log_level == "info" ? "warn" : config.log_level};
    for (auto& a : target_args) cmd.push_back(a);
    if (!config.flush_connections) cmd.push_back("--no-flush-connections");
    return cmd;
}

json security_context(const tracer::AgentConfig& config) {
    return {{"privileged", config.privileged},
            {"capabilities", {{"add", {"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "DAC_READ_SEARCH"}}}}};
}

json resources(const tracer::AgentConfig& config) {
    if (!config.resources.empty()) return config.resources;
    return {{"requests", {{"cpu", "10m"}, {"memory", "50Mi"}}}, {"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}};
}

}  // namespace

json agent_job(const ResolvedTarget& target, const tracer::AgentConfig& config, const std::string& name) {
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
           {"command", agent_command(config, {"--container-id", target.container_id})},
           {"securityContext", security_context(config)},
           {"resources", resources(config)},
           {"ports", {{{"containerPort", kAgentPort}}}},
           {"readinessProbe", {{"tcpSocket", {{"port", kAgentPort}}}, {"periodSeconds", 1}}},
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

json agent_ephemeral_container(const ResolvedTarget& target, const tracer::AgentConfig& config, const std::string& name) {
    // Sharing the target container's PID namespace, the target is PID 1 and its network is ours.
    return {{"name", name},
            {"image", config.image},
            {"imagePullPolicy", config.image_pull_policy},
            {"targetContainerName", target.container},
            {"command", agent_command(config, {"--target-pid", "1"})},
            {"securityContext", security_context(config)}};
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
                if (reason == f) return reason + ": " + text(waiting, "/message");
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

Result<AgentPod> start_agent(ApiClient& api, const ResolvedTarget& target, const tracer::AgentConfig& config,
                             const std::function<void(const std::string&)>& progress) {
    std::string name = "mirrord-agent-" + random_suffix();
    AgentPod agent;
    std::string ns;
    if (config.ephemeral) {
        ns = target.namespace_;
        json patch = {{"spec", {{"ephemeralContainers", {agent_ephemeral_container(target, config, name)}}}}};
        auto r = api.patch("/api/v1/namespaces/" + ns + "/pods/" + target.pod + "/ephemeralcontainers", patch,
                           "application/strategic-merge-patch+json");
        if (!r) return r.error().context("adding the agent as an ephemeral container to pod/" + target.pod);
        agent = AgentPod{ns, target.pod, kAgentPort, ""};
    } else {
        ns = config.namespace_.empty() ? target.namespace_ : config.namespace_;
        auto r = api.post("/apis/batch/v1/namespaces/" + ns + "/jobs", agent_job(target, config, name));
        if (!r) return r.error().context("creating the agent job in namespace " + ns);
        agent = AgentPod{ns, "", kAgentPort, name};
    }

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.startup_timeout);
    std::string last_state;
    for (;;) {
        json pod;
        if (agent.job.empty()) {
            auto p = api.get("/api/v1/namespaces/" + ns + "/pods/" + agent.pod);
            if (!p) return p.error();
            pod = *p;
            if (auto failure = pod_failure(pod, name)) return Error::msg("the agent cannot start: " + *failure, EIO);
            for (auto& cs : list(pod, "/status/ephemeralContainerStatuses"))
                if (text(cs, "/name") == name && field(cs, "/state/running").is_object()) return agent;
        } else {
            auto pods = api.get("/api/v1/namespaces/" + ns + "/pods?labelSelector=" + url_escape("job-name=" + name));
            if (!pods) return pods.error();
            if (!list(*pods, "/items").empty()) {
                pod = list(*pods, "/items")[0];
                agent.pod = text(pod, "/metadata/name");
                if (auto failure = pod_failure(pod, "mirrord-agent")) return Error::msg("the agent cannot start: " + *failure, EIO);
                for (auto& c : list(pod, "/status/conditions"))
                    if (text(c, "/type") == "Ready" && text(c, "/status") == "True") return agent;
            } else {
                // No pod: a policy may have refused it; the job's events say so.
                auto events = api.get("/api/v1/namespaces/" + ns + "/events?fieldSelector=" + url_escape("involvedObject.name=" + name));
                if (events)
                    for (auto& e : list(*events, "/items"))
                        if (text(e, "/reason") == "FailedCreate")
                            return Error::msg("the agent pod was not created: " + text(e, "/message"), EACCES);
            }
        }
        std::string state = pod.is_null() ? "waiting for the agent pod to be scheduled"
                                          : "agent pod " + text(pod, "/status/phase", "Pending");
        if (state != last_state) progress(state);
        last_state = state;
        if (std::chrono::steady_clock::now() > deadline)
            return Error::msg("the agent did not start within " + std::to_string(config.startup_timeout) + "s (" + state +
                              "); see agent.startup_timeout", ETIMEDOUT);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

}  // namespace mrd::k8s
