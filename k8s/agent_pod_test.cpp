#include "k8s/agent_pod.hpp"
#include "k8s/json_access.hpp"

#include <catch2/catch.hpp>

using namespace mrd;
using namespace mrd::k8s;

namespace {

ResolvedTarget target() {
    return {"shop", "api-1", "app", "containerd://" + std::string(64, 'a'), "node-1", "10.77.0.2"};
}

std::string after(const nlohmann::json& command, const std::string& flag) {
    for (size_t i = 0; i + 1 < command.size(); ++i)
        if (command[i] == flag) return command[i + 1];
    return "";
}

}  // namespace

TEST_CASE("agent pod: the Job") {
    AgentPodSpec config;
    auto job = agent_job(target(), config, "mirrord-agent-x", "ab12");
    const auto& pod = field(job, "/spec/template/spec");
    const auto& container = field(pod, "/containers/0");
    CHECK(field(pod, "/hostPID") == true);
    CHECK(text(pod, "/nodeName") == "node-1");
    CHECK(after(field(container, "/command"), "--container-id") == target().container_id);
    // The pod's loopback, a random port, and only the session's key.
    CHECK(after(field(container, "/command"), "--listen") == "tcp:localhost:0");
    CHECK(after(field(container, "/command"), "--client-fingerprint") == "ab12");
    // A probe's connections would count as clients: readiness is read from the agent's log.
    CHECK_FALSE(container.contains("readinessProbe"));
    CHECK(number(job, "/spec/ttlSecondsAfterFinished") == 1);
}

TEST_CASE("agent pod: the ephemeral container finds its target by id, as root") {
    AgentPodSpec config;
    auto ec = agent_ephemeral_container(target(), config, "mirrord-agent-y", "cd34");
    CHECK(after(field(ec, "/command"), "--client-fingerprint") == "cd34");
    CHECK(text(ec, "/targetContainerName") == "app");
    CHECK(after(field(ec, "/command"), "--container-id") == target().container_id);
    CHECK(after(field(ec, "/command"), "--target-pid").empty());
    CHECK(number(ec, "/securityContext/runAsUser") == 0);
    CHECK(field(ec, "/securityContext/runAsNonRoot") == false);
}

TEST_CASE("agent pod: what keeps it from starting") {
    nlohmann::json pod = {{"status", {{"phase", "Pending"}, {"containerStatuses", {{{"name", "mirrord-agent"}, {"image", "reg/agent:9"},
        {"state", {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling"}}}}}}}}}}};
    // The image, and how to make it available.
    CHECK(pod_failure(pod, "mirrord-agent").value() ==
          "ImagePullBackOff: Back-off pulling (the agent image is reg/agent:9: build and push it with scripts/agent-image --push "
          "REGISTRY/NAME:TAG, then set agent.image or MIRRORD_AGENT_IMAGE to it)");
    CHECK_FALSE(pod_failure(pod, "other").has_value());
    nlohmann::json exited = {{"status", {{"ephemeralContainerStatuses", {{{"name", "e"},
        {"state", {{"terminated", {{"reason", "Error"}, {"exitCode", 1}}}}}}}}}}};
    CHECK(pod_failure(exited, "e").value().find("code 1") != std::string::npos);
}
