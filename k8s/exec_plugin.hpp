// kubeconfig exec credential plugins (client.authentication.k8s.io v1 and v1beta1), as client-go
// runs them: KUBERNETES_EXEC_INFO with spec.interactive and, when provideClusterInfo is set,
// spec.cluster; stdin given only when interactive (interactiveMode Never, IfAvailable, Always);
// the answer's apiVersion checked; a token or a client certificate, possibly expiring.
#pragma once

#include "base/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mrd::k8s {

struct ExecPlugin {
    std::string command;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string api_version;
    std::string interactive_mode;  // Never, IfAvailable, Always ("": the version's default)
    bool provide_cluster_info = false;
    std::string install_hint;
    nlohmann::json cluster;  // spec.cluster, when provide_cluster_info
};

struct ExecCredential {
    std::string token;
    std::string client_certificate_pem, client_key_pem;
    std::optional<std::chrono::system_clock::time_point> expires;
};

// Runs the plugin; stdin_is_terminal decides IfAvailable.
Result<ExecCredential> run_exec_plugin(const ExecPlugin& plugin, bool stdin_is_terminal);

}  // namespace mrd::k8s
