#include "k8s/api_client.hpp"
#include "k8s/json_subset.hpp"

#include "wire/address.hpp"

#include "k8s/pem_data.hpp"

#include "base/log.hpp"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace mrd::k8s {

using nlohmann::json;

namespace {

struct Bio {
    BIO* bio;
    explicit Bio(const std::string& pem) : bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))) {}
    ~Bio() { BIO_free(bio); }
};

int errno_for_status(int status) {
    switch (status) {
        case 401: case 403: return EACCES;
        case 404: return ENOENT;
        case 409: return EEXIST;
        case 422: return EINVAL;
        default: return status >= 500 ? EAGAIN : EPROTO;
    }
}

}  // namespace

std::string url_escape(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
        else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

Result<std::shared_ptr<ApiClient>> ApiClient::create(const Credentials& c, bool accept_invalid_certificates) {
    std::shared_ptr<ApiClient> api(new ApiClient());
    api->credentials_ = c;
    std::string server = c.server;
    if (server.rfind("https://", 0) == 0) {
        server = server.substr(8);
    } else if (server.rfind("http://", 0) == 0) {
        server = server.substr(7);
        api->tls_ = false;
        api->port_ = 80;
    } else {
        return Error::msg("kubeconfig server '" + c.server + "' is not an http(s) URL", EINVAL);
    }
    // A path after the host (Rancher's https://host/k8s/clusters/c-x) prefixes every request.
    if (auto slash = server.find('/'); slash != std::string::npos) {
        api->prefix_ = server.substr(slash);
        while (!api->prefix_.empty() && api->prefix_.back() == '/') api->prefix_.pop_back();
        server = server.substr(0, slash);
    }
    auto hostport = wire::split_host_port(server, static_cast<uint16_t>(api->port_));
    if (!hostport || hostport->host.empty() || hostport->port == 0)
        return Error::msg("kubeconfig server '" + c.server + "' has no valid host[:port]", EINVAL);
    api->host_ = hostport->host;
    api->port_ = hostport->port;
    api->insecure_ = c.insecure || accept_invalid_certificates;

    auto proxy = choose_proxy(c.proxy_url, api->host_, api->tls_, proxy_environment());
    if (!proxy) return proxy.error().context("kubeconfig proxy");
    api->proxy_ = *proxy;
    if (auto st = api->build_http(); !st) return st.error();
    return api;
}

ApiClient::~ApiClient() = default;

// The REST client, built again when a credential plugin hands out a new client certificate.
Status ApiClient::build_http() {
    const Credentials& c = credentials_;
    if (!tls_) {
        http_ = std::make_unique<httplib::ClientImpl>(host_, port_);
    } else {
        std::unique_ptr<httplib::SSLClient> ssl;
        if (!c.client_cert_pem.empty()) {
            Bio cert_bio(c.client_cert_pem), key_bio(c.client_key_pem);
            X509* cert = PEM_read_bio_X509(cert_bio.bio, nullptr, nullptr, nullptr);
            EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.bio, nullptr, nullptr, nullptr);
            if (!cert || !key) return Error::msg("the kubeconfig's client certificate or key is not valid PEM", EINVAL);
            ssl = std::make_unique<httplib::SSLClient>(tls_name(), port_, cert, key);
            X509_free(cert);
            EVP_PKEY_free(key);
        } else {
            ssl = std::make_unique<httplib::SSLClient>(tls_name(), port_);
        }
        // tls-server-name: SNI and the certificate's check use it; the connection goes to the server's host.
        if (!c.tls_server_name.empty()) ssl->set_hostname_addr_map({{c.tls_server_name, host_}});
        if (insecure_) {
            ssl->enable_server_certificate_verification(false);
        } else if (!c.ca_pem.empty()) {
            int added = 0;
            X509_STORE* store = certificate_store(c.ca_pem, added);
            if (!added) {
                X509_STORE_free(store);
                return Error::msg("the kubeconfig's certificate authority is not valid PEM", EINVAL);
            }
            ssl->set_ca_cert_store(store);  // the SSL context owns it now
        }
        http_ = std::move(ssl);
    }
    if (proxy_) {  // HTTP CONNECT for https, as client-go
        http_->set_proxy(proxy_->host, proxy_->port);
        if (!proxy_->user.empty()) http_->set_proxy_basic_auth(proxy_->user, proxy_->password);
    }
    if (!c.token.empty()) http_->set_bearer_token_auth(c.token);
    http_->set_connection_timeout(10);
    http_->set_read_timeout(30);
    http_->set_keep_alive(true);
    return {};
}

Result<json> ApiClient::result(const std::string& what, int status, const std::string& body, const std::string& error,
                               const std::vector<std::string>* only) {
    if (status == 0 && error.find("SSLServerVerification") != std::string::npos)
        return Error::msg("the Kubernetes API server's certificate is not trusted (certificate verify failed): set the "
                          "cluster's certificate-authority in the kubeconfig, or use --accept-invalid-certificates", EACCES);
    if (status == 0) return Error::msg(what + ": cannot reach the Kubernetes API at " + credentials_.server + " (" + error + ")", ECONNREFUSED);
    json parsed;
    try {
        bool subset = only && status >= 200 && status < 300;  // an error's Status is read whole
        parsed = body.empty() ? json::object() : subset ? parse_subset(body, *only) : json::parse(body);
    } catch (const std::exception&) {
        if (status >= 200 && status < 300) return Error::msg(what + ": the API answered with something that is not JSON", EPROTO);
    }
    if (status >= 200 && status < 300) return parsed;
    std::string message = parsed.is_object() ? parsed.value("message", "") : "";
    if (message.empty()) message = "HTTP " + std::to_string(status);
    return Error::msg(message, errno_for_status(status));
}

Status ApiClient::refresh() {
    std::string cert = credentials_.client_cert_pem, key = credentials_.client_key_pem;
    if (auto st = refresh_credentials(credentials_); !st) return st;
    if (credentials_.client_cert_pem != cert || credentials_.client_key_pem != key) return build_http();
    if (!credentials_.token.empty()) http_->set_bearer_token_auth(credentials_.token);
    return {};
}

std::string ApiClient::token() {
    if ((credentials_.exec || credentials_.oidc) && credentials_.expires &&
        std::chrono::system_clock::now() + std::chrono::seconds(10) >= *credentials_.expires)
        if (auto st = refresh(); !st) log::warn("refreshing the kubeconfig's credentials: ", st.error().message);
    return credentials_.token;
}

template <class Request>
Result<json> ApiClient::call(const std::string& what, Request request, const std::vector<std::string>* only) {
    token();  // an expiring credential is renewed before it is used
    auto r = request();
    if (r && r->status == 401 && (credentials_.exec || credentials_.oidc)) {  // revoked early: renewed, once
        if (auto st = refresh(); !st) return st.error().context(what + ": refreshing the credentials after a 401");
        r = request();
    }
    return result(what, r ? r->status : 0, r ? r->body : "", r ? "" : httplib::to_string(r.error()), only);
}

Result<json> ApiClient::get(const std::string& path) {
    return call("GET " + path, [&] { return http_->Get((prefix_ + path).c_str()); });
}

Result<json> ApiClient::get(const std::string& path, const std::vector<std::string>& only) {
    return call("GET " + path, [&] { return http_->Get((prefix_ + path).c_str()); }, &only);
}

Result<json> ApiClient::post(const std::string& path, const json& body) {
    return call("POST " + path, [&] { return http_->Post((prefix_ + path).c_str(), body.dump(), "application/json"); });
}

Result<json> ApiClient::patch(const std::string& path, const json& body, const std::string& content_type) {
    return call("PATCH " + path, [&] { return http_->Patch((prefix_ + path).c_str(), body.dump(), content_type.c_str()); });
}

Status ApiClient::remove(const std::string& path) {
    auto res = call("DELETE " + path, [&] { return http_->Delete((prefix_ + path).c_str()); });
    if (!res) return res.error();
    return {};
}

Result<bool> ApiClient::follow(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                               std::chrono::seconds quiet) {
    bool stopped = false;
    std::string error_body;
    int status = 0;
    token();
    http_->set_read_timeout(quiet);
    auto r = http_->Get(
        (prefix_ + path).c_str(), httplib::Headers{},
        [&](const httplib::Response& response) {
            status = response.status;
            return true;
        },
        [&](const char* data, size_t size) {
            if (status < 200 || status >= 300) {
                error_body.append(data, size);
                return true;
            }
            stopped = !on_data(std::string_view(data, size));
            return !stopped;
        });
    http_->set_read_timeout(30);
    if (stopped) return true;
    if (!r && r.error() == httplib::Error::Read) return false;  // quiet for too long
    auto res = result("GET " + path, r ? r->status : 0, error_body, r ? "" : httplib::to_string(r.error()));
    if (!res) return res.error();
    return false;
}

}  // namespace mrd::k8s
