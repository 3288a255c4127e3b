// The agent's settings from mirrord's configuration (agent.*), with mirrord's defaults: what the
// agent's Job or ephemeral container is made from. Owned here so that k8s needs nothing of the CLI's
// configuration; tracer/policy/config.cpp fills it in.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mrd::k8s {

struct AgentPodSpec {
    std::string image = "mirrord-ptrace-agent:" MIRRORD_VERSION;  // the agent this CLI speaks with (scripts/agent-image)
    std::string namespace_;
    std::string image_pull_policy = "IfNotPresent";
    std::vector<std::string> image_pull_secrets;
    int ttl = 1;
    int startup_timeout = 60;
    int communication_timeout = 30;
    // Seconds a dropped link to the agent is retried, the agent keeping the session meanwhile; 0: never.
    int reconnect_timeout = 60;
    std::string log_level = "info";
    bool ephemeral = false;
    bool privileged = false;
    std::string service_account;
    nlohmann::json labels = nlohmann::json::object(), annotations = nlohmann::json::object();
    nlohmann::json tolerations = nlohmann::json::array(), resources = nlohmann::json::object();
    nlohmann::json node_selector = nlohmann::json::object();
    bool flush_connections = true;
};

}  // namespace mrd::k8s
