// kubeconfig, as kubectl reads it: $KUBECONFIG (several files, merged first-wins, each one's relative
// paths against its own directory) or ~/.kube/config,
// the current context (or a chosen one), its cluster (server, CA data/file, insecure), its user
// (bearer token or token file, client certificate and key as data or files, exec credential
// plugins) and its namespace.
#pragma once

#include "k8s/exec_plugin.hpp"
#include "k8s/oidc.hpp"
#include "base/result.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mrd::k8s {


struct Credentials {
    std::string server;        // https://host:port[/path prefix]
    std::string tls_server_name;  // the name the server's certificate is checked against (and SNI), if not the host
    std::string proxy_url;        // the cluster's proxy-url (else HTTPS_PROXY/NO_PROXY apply)
    std::string ca_pem;        // empty: the system's trust store
    bool insecure = false;     // insecure-skip-tls-verify
    std::string token;
    std::string client_cert_pem, client_key_pem;
    std::optional<ExecPlugin> exec;
    std::optional<OidcProvider> oidc;  // the oidc auth-provider
    std::optional<std::chrono::system_clock::time_point> expires;  // of what the exec plugin or oidc gave
    std::string namespace_ = "default";
    std::string context;
};

struct KubeconfigOptions {
    std::string path;     // explicit file (mirrord's kubeconfig setting); else $KUBECONFIG, ~/.kube/config
    std::string context;  // else current-context
};

Result<Credentials> load_kubeconfig(const KubeconfigOptions& options);
// From already-parsed documents (first wins), for tests.
Result<Credentials> resolve_kubeconfig(const std::vector<nlohmann::json>& documents, const std::string& context,
                                       const std::string& base_dir);
// Runs the exec plugin (again), or refreshes the oidc token, and takes the new credentials and
// their expiry.
Status refresh_credentials(Credentials& credentials);

}  // namespace mrd::k8s
