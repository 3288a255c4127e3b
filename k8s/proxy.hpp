// The HTTP proxy between mirrord and the API server, as client-go picks it: the cluster's
// proxy-url, else HTTPS_PROXY (HTTP_PROXY for an http:// server) unless NO_PROXY names the host.
// Traffic goes through it with HTTP CONNECT, for REST and the port-forward alike.
#pragma once

#include "base/result.hpp"

#include <map>
#include <optional>
#include <string>

namespace mrd::k8s {

struct Proxy {
    std::string host;
    int port = 0;
    std::string user, password;  // from http://user:password@host:port
};

// proxy_url: the kubeconfig's; env: the process environment's proxy variables.
Result<std::optional<Proxy>> choose_proxy(const std::string& proxy_url, const std::string& server_host, bool tls,
                                          const std::map<std::string, std::string>& env);
// Whether NO_PROXY's list (host names, .domains, IPs, CIDRs, "*") covers host.
bool bypasses_proxy(const std::string& no_proxy, const std::string& host);
std::map<std::string, std::string> proxy_environment();  // HTTPS_PROXY, HTTP_PROXY, NO_PROXY (either case)

}  // namespace mrd::k8s
