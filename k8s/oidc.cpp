#include "k8s/oidc.hpp"

#include "k8s/pem_data.hpp"
#include "wire/address.hpp"

#include <httplib.h>

namespace mrd::k8s {

using nlohmann::json;

namespace {

std::string form_escape(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
        else out += std::string("%") + hex[c >> 4] + hex[c & 15];
    }
    return out;
}

// https://host[:port][/path] -> a client for host:port, and the path.
Result<std::pair<std::unique_ptr<httplib::SSLClient>, std::string>> client_for(const std::string& url, const std::string& ca_pem) {
    if (url.rfind("https://", 0) != 0) return Error::msg("oidc issuer '" + url + "' is not an https URL", EINVAL);
    std::string rest = url.substr(8);
    auto slash = rest.find('/');
    std::string hostport = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash);
    auto host = wire::split_host_port(hostport, 443);
    if (!host || host->host.empty()) return Error::msg("oidc issuer '" + url + "' has no host:port", EINVAL);
    auto client = std::make_unique<httplib::SSLClient>(host->host, host->port);
    if (!ca_pem.empty()) {
        int certificates = 0;
        client->set_ca_cert_store(certificate_store(ca_pem, certificates));
    }
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(10);
    client->set_read_timeout(30);
    return std::make_pair(std::move(client), path);
}

}  // namespace

Result<OidcProvider> oidc_from_kubeconfig(const json& config) {
    OidcProvider p;
    p.client_id = config.value("client-id", "");
    p.client_secret = config.value("client-secret", "");
    p.issuer_url = config.value("idp-issuer-url", "");
    p.id_token = config.value("id-token", "");
    p.refresh_token = config.value("refresh-token", "");
    if (config.contains("idp-certificate-authority-data"))
        p.issuer_ca_pem = base64_decode(config.value("idp-certificate-authority-data", "")).value_or("");
    if (p.id_token.empty() && p.refresh_token.empty())
        return Error::msg("the oidc auth-provider has neither an id-token nor a refresh-token (log in with your oidc tool)", EINVAL);
    return p;
}

std::optional<std::chrono::system_clock::time_point> jwt_expiry(const std::string& token) {
    auto first = token.find('.'), second = token.find('.', first + 1);
    if (first == std::string::npos || second == std::string::npos) return std::nullopt;
    try {
        json claims = json::parse(base64url_decode(token.substr(first + 1, second - first - 1)).value_or(""));
        if (!claims.contains("exp") || !claims["exp"].is_number()) return std::nullopt;
        return std::chrono::system_clock::from_time_t(claims["exp"].get<long long>());
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

Status refresh_oidc(OidcProvider& p) {
    if (p.refresh_token.empty() || p.issuer_url.empty())
        return Error::msg("the oidc id-token has expired and there is no refresh-token or issuer to renew it (log in again)", EACCES);
    std::string issuer = p.issuer_url;
    while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
    auto discovery_client = client_for(issuer, p.issuer_ca_pem);
    if (!discovery_client) return discovery_client.error();
    auto& [client, base] = *discovery_client;
    auto discovery = client->Get((base + "/.well-known/openid-configuration").c_str());
    if (!discovery || discovery->status != 200)
        return Error::msg("oidc: the issuer's discovery document at " + issuer + " is unavailable", EACCES);
    std::string endpoint;
    try {
        endpoint = json::parse(discovery->body).value("token_endpoint", "");
    } catch (const std::exception&) {
    }
    if (endpoint.empty()) return Error::msg("oidc: the issuer names no token_endpoint", EPROTO);
    auto token_client = client_for(endpoint, p.issuer_ca_pem);
    if (!token_client) return token_client.error();
    std::string form = "grant_type=refresh_token&refresh_token=" + form_escape(p.refresh_token) + "&client_id=" + form_escape(p.client_id);
    if (!p.client_secret.empty()) form += "&client_secret=" + form_escape(p.client_secret);
    auto answer = token_client->first->Post(token_client->second.c_str(), form, "application/x-www-form-urlencoded");
    if (!answer || answer->status != 200)
        return Error::msg("oidc: the issuer refused to refresh the token (" + std::string(answer ? std::to_string(answer->status) : "no answer") + ")",
                          EACCES);
    try {
        json tokens = json::parse(answer->body);
        p.id_token = tokens.value("id_token", "");
        if (tokens.contains("refresh_token")) p.refresh_token = tokens.value("refresh_token", p.refresh_token);
    } catch (const std::exception& e) {
        return Error::msg(std::string("oidc: the issuer's answer is not JSON: ") + e.what(), EPROTO);
    }
    if (p.id_token.empty()) return Error::msg("oidc: the issuer gave no id_token", EPROTO);
    return {};
}

}  // namespace mrd::k8s
