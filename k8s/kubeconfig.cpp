#include "k8s/kubeconfig.hpp"

#include "k8s/pem_data.hpp"

#include "base/document.hpp"
#include "base/text_file.hpp"
#include "base/unique_fd.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace mrd::k8s {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {


// The named entry of a kubeconfig list ("clusters", "users", "contexts"), first document first.
const json* find_entry(const std::vector<json>& docs, const char* list, const std::string& name, const char* inner) {
    for (auto& doc : docs) {
        if (!doc.contains(list) || !doc[list].is_array()) continue;
        for (auto& entry : doc[list])
            if (entry.value("name", "") == name && entry.contains(inner)) return &entry[inner];
    }
    return nullptr;
}

// "xxx-data" (base64) or "xxx" (a file, relative to the kubeconfig's directory).
Result<std::string> data_or_file(const json& obj, const std::string& data_key, const std::string& file_key, const std::string& base) {
    if (obj.contains(data_key)) return base64_decode(obj[data_key].get<std::string>());
    if (obj.contains(file_key)) {
        fs::path p = obj[file_key].get<std::string>();
        if (p.is_relative()) p = fs::path(base) / p;
        return read_file(p);
    }
    return std::string();
}

Result<Credentials> resolve(const std::vector<json>& docs, const std::string& chosen, const std::string& base);

}  // namespace

Result<Credentials> resolve_kubeconfig(const std::vector<json>& documents, const std::string& chosen, const std::string& base) {
    std::vector<json> docs;
    for (auto& d : documents) docs.push_back(without_nulls(d));  // null reads as absent, as in kubectl
    try {
        return resolve(docs, chosen, base);
    } catch (const json::exception& e) {
        // A value of the wrong type (a number where a name belongs...).
        return Error::msg(std::string("kubeconfig: unexpected value: ") + e.what(), EINVAL);
    }
}

namespace {

Result<Credentials> resolve(const std::vector<json>& docs, const std::string& chosen, const std::string& base) {
    std::string context = chosen;
    for (auto& doc : docs)
        if (context.empty() && doc.contains("current-context") && doc["current-context"].is_string())
            context = doc["current-context"].get<std::string>();
    if (context.empty()) return Error::msg("kubeconfig has no current-context; choose one with --context", EINVAL);
    const json* ctx = find_entry(docs, "contexts", context, "context");
    if (!ctx) return Error::msg("kubeconfig has no context '" + context + "'", EINVAL);
    Credentials c;
    c.context = context;
    std::string cluster_name = ctx->value("cluster", ""), user_name = ctx->value("user", "");
    if (ctx->contains("namespace") && !(*ctx)["namespace"].get<std::string>().empty()) c.namespace_ = (*ctx)["namespace"];
    const json* cluster = find_entry(docs, "clusters", cluster_name, "cluster");
    if (!cluster) return Error::msg("kubeconfig context '" + context + "' names a missing cluster '" + cluster_name + "'", EINVAL);
    c.server = cluster->value("server", "");
    if (c.server.empty()) return Error::msg("kubeconfig cluster '" + cluster_name + "' has no server", EINVAL);
    c.insecure = cluster->value("insecure-skip-tls-verify", false);
    c.tls_server_name = cluster->value("tls-server-name", "");
    c.proxy_url = cluster->value("proxy-url", "");
    auto ca = data_or_file(*cluster, "certificate-authority-data", "certificate-authority", base);
    if (!ca) return ca.error().context("cluster '" + cluster_name + "' CA");
    c.ca_pem = *ca;
    if (const json* user = find_entry(docs, "users", user_name, "user")) {
        if (user->contains("token")) c.token = (*user)["token"];
        if (user->contains("tokenFile")) {
            fs::path token_path = (*user)["tokenFile"].get<std::string>();
            if (token_path.is_relative()) token_path = fs::path(base) / token_path;
            auto token = read_file(token_path);
            if (!token) return token.error();
            c.token = *token;
            while (!c.token.empty() && std::isspace(static_cast<unsigned char>(c.token.back()))) c.token.pop_back();
        }
        auto cert = data_or_file(*user, "client-certificate-data", "client-certificate", base);
        auto key = data_or_file(*user, "client-key-data", "client-key", base);
        if (!cert) return cert.error().context("user '" + user_name + "' certificate");
        if (!key) return key.error().context("user '" + user_name + "' key");
        c.client_cert_pem = *cert;
        c.client_key_pem = *key;
        if (user->contains("exec")) {
            const json& e = (*user)["exec"];
            ExecPlugin plugin;
            plugin.command = e.value("command", "");
            plugin.api_version = e.value("apiVersion", "client.authentication.k8s.io/v1beta1");
            if (plugin.api_version != "client.authentication.k8s.io/v1" && plugin.api_version != "client.authentication.k8s.io/v1beta1")
                return Error::msg("user '" + user_name + "': exec plugin apiVersion " + plugin.api_version + " is not supported", EINVAL);
            if (e.contains("args") && e["args"].is_array()) plugin.args = e["args"].get<std::vector<std::string>>();
            if (e.contains("env") && e["env"].is_array())
                for (auto& kv : e["env"]) plugin.env[kv.value("name", "")] = kv.value("value", "");
            plugin.interactive_mode = e.value("interactiveMode", "");
            plugin.provide_cluster_info = e.value("provideClusterInfo", false);
            plugin.install_hint = e.value("installHint", "");
            if (plugin.provide_cluster_info) {  // what client-go gives it: the cluster, its CA as data
                plugin.cluster = {{"server", c.server}, {"insecure-skip-tls-verify", c.insecure}};
                if (!c.ca_pem.empty()) plugin.cluster["certificate-authority-data"] = base64_encode(c.ca_pem);
                if (!c.tls_server_name.empty()) plugin.cluster["tls-server-name"] = c.tls_server_name;
                if (!c.proxy_url.empty()) plugin.cluster["proxy-url"] = c.proxy_url;
                for (auto& ext : cluster->value("extensions", json::array()))
                    if (ext.value("name", "") == "client.authentication.k8s.io/exec") plugin.cluster["config"] = ext.value("extension", json());
            }
            if (plugin.command.empty()) return Error::msg("user '" + user_name + "': exec plugin without a command", EINVAL);
            c.exec = plugin;
        }
        if (user->contains("auth-provider")) {
            const json& provider = (*user)["auth-provider"];
            std::string name = provider.value("name", "");
            if (name != "oidc")
                return Error::msg("user '" + user_name + "' uses the auth-provider '" + name + "', which client-go has dropped; use an exec plugin",
                                  ENOTSUP);
            auto oidc = oidc_from_kubeconfig(provider.value("config", json::object()));
            if (!oidc) return oidc.error().context("user '" + user_name + "'");
            c.token = oidc->id_token;
            c.expires = jwt_expiry(oidc->id_token);
            c.oidc = *oidc;
        }
    }
    return c;
}

}  // namespace

// kubectl resolves a relative path against the file that holds it: done here, file by file, before
// the files are merged (certificate and key files, token files, an exec command with a '/').
void make_paths_absolute(json& doc, const fs::path& dir) {
    auto fix = [&](json& obj, const char* key, bool only_with_slash = false) {
        if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return;
        fs::path p = obj[key].get<std::string>();
        if (p.empty() || p.is_absolute() || (only_with_slash && p.string().find('/') == std::string::npos)) return;
        obj[key] = (dir / p).lexically_normal().string();
    };
    if (doc.contains("clusters") && doc["clusters"].is_array())
        for (auto& entry : doc["clusters"])
            if (entry.is_object() && entry.contains("cluster")) fix(entry["cluster"], "certificate-authority");
    if (!doc.contains("users") || !doc["users"].is_array()) return;
    for (auto& entry : doc["users"]) {
        if (!entry.is_object() || !entry.contains("user") || !entry["user"].is_object()) continue;
        json& user = entry["user"];
        fix(user, "client-certificate");
        fix(user, "client-key");
        fix(user, "tokenFile");
        if (user.contains("exec")) fix(user["exec"], "command", true);
    }
}

Result<Credentials> load_kubeconfig(const KubeconfigOptions& options) {
    std::vector<std::string> paths;
    if (!options.path.empty()) {
        paths.push_back(options.path);
    } else if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
        std::istringstream in(env);
        for (std::string p; std::getline(in, p, ':');)
            if (!p.empty()) paths.push_back(p);
    } else {
        const char* home = std::getenv("HOME");
        paths.push_back(std::string(home ? home : "") + "/.kube/config");
    }
    std::vector<json> docs;
    std::string base;
    for (auto& p : paths) {
        std::error_code ec;
        if (!fs::exists(p, ec)) continue;
        auto text = read_file(p);
        if (!text) return text.error();
        auto parsed = parse_document(*text, "yaml");  // YAML (JSON is YAML too)
        if (!parsed) return parsed.error().context(p);
        json doc = without_nulls(*parsed);
        if (doc.is_object()) make_paths_absolute(doc, fs::absolute(p).parent_path());
        docs.push_back(std::move(doc));
        if (base.empty()) base = fs::path(p).parent_path();
    }
    if (docs.empty()) return Error::msg("no kubeconfig found (looked at " + paths.front() + (paths.size() > 1 ? ", ..." : "") + ")", ENOENT);
    auto c = resolve_kubeconfig(docs, options.context, base);
    if (!c) return c;
    bool expired = c->expires && std::chrono::system_clock::now() + std::chrono::seconds(10) >= *c->expires;
    if (c->exec || (c->oidc && (c->token.empty() || expired)))
        if (auto st = refresh_credentials(*c); !st) return st.error();
    return c;
}

Status refresh_credentials(Credentials& c) {
    if (c.oidc) {
        if (auto st = refresh_oidc(*c.oidc); !st) return st;
        c.token = c.oidc->id_token;
        c.expires = jwt_expiry(c.token);
        return {};
    }
    if (!c.exec) return Error::msg("the kubeconfig's credentials cannot be renewed", EACCES);
    auto credential = run_exec_plugin(*c.exec, ::isatty(STDIN_FILENO) == 1);
    if (!credential) return credential.error();
    c.token = credential->token;
    if (!credential->client_certificate_pem.empty()) {
        c.client_cert_pem = credential->client_certificate_pem;
        c.client_key_pem = credential->client_key_pem;
    }
    c.expires = credential->expires;
    return {};
}

}  // namespace mrd::k8s
