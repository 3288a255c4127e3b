// The Kubernetes API over HTTPS (cpp-httplib + OpenSSL), with the kubeconfig's credentials.
// Failures carry the API's own message ("deployments.apps \"x\" not found") and an errno-like code.
#pragma once

#include "k8s/kubeconfig.hpp"
#include "k8s/proxy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace httplib { class ClientImpl; }

namespace mrd::k8s {

class ApiClient {
public:
    static Result<std::shared_ptr<ApiClient>> create(const Credentials& credentials, bool accept_invalid_certificates);
    ~ApiClient();

    Result<nlohmann::json> get(const std::string& path);
    // Only these parts of the answer (JSON pointers, "*" for array elements: parse_subset).
    Result<nlohmann::json> get(const std::string& path, const std::vector<std::string>& only);
    Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body);
    // A strategic-merge or JSON-merge patch, by content type.
    Result<nlohmann::json> patch(const std::string& path, const nlohmann::json& body, const std::string& content_type);
    Status remove(const std::string& path);
    // A streaming GET (pods/log?follow=true): on_data gets the body as it arrives and returns false
    // to stop. Ends after `quiet` without data; true when on_data stopped it.
    Result<bool> follow(const std::string& path, const std::function<bool(std::string_view)>& on_data, std::chrono::seconds quiet);

    const Credentials& credentials() const { return credentials_; }
    bool verify_server() const { return !insecure_; }
    std::string host() const { return host_; }
    int port() const { return port_; }
    bool tls() const { return tls_; }
    const std::string& prefix() const { return prefix_; }
    const std::optional<Proxy>& proxy() const { return proxy_; }  // the server URL's path, before every request's
    // The name the server's certificate must carry (and the SNI): tls-server-name, else the host.
    std::string tls_name() const { return credentials_.tls_server_name.empty() ? host_ : credentials_.tls_server_name; }

    // The bearer token now: refreshed from the exec plugin when it is about to expire.
    std::string token();
    // Renews an exec plugin's or OIDC credential now (the server said 401 before its expiry).
    Status refresh();

private:
    ApiClient() = default;
    // Runs request; with an exec plugin, refreshes an expiring credential first and retries once after a 401.
    template <class Request>
    Result<nlohmann::json> call(const std::string& what, Request request, const std::vector<std::string>* only = nullptr);
    Status build_http();
    Result<nlohmann::json> result(const std::string& what, int status, const std::string& body, const std::string& error,
                                  const std::vector<std::string>* only = nullptr);

    Credentials credentials_;
    std::unique_ptr<httplib::ClientImpl> http_;
    std::string host_;
    std::string prefix_;
    std::optional<Proxy> proxy_;
    int port_ = 443;
    bool tls_ = true;
    bool insecure_ = false;
};

// "%2F"-style escaping for label selectors and field selectors in query strings.
std::string url_escape(const std::string& text);

}  // namespace mrd::k8s
