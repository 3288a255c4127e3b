#include "tracer/policy/config.hpp"

#include "tracer/policy/config_schema.hpp"
#include "base/document.hpp"
#include "base/text_file.hpp"
#include "wire/address.hpp"


#include <algorithm>
#include <re2/re2.h>

#include <cstdlib>
#include <sstream>

extern char** environ;

namespace mrd::tracer {
namespace {

using nlohmann::json;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// mirrord's VecOrSingle: "A;B" or ["A", "B"].
Result<std::vector<std::string>> string_list(const json& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.is_string()) {
        std::istringstream in(v.get<std::string>());
        for (std::string item; std::getline(in, item, ';');)
            if (!item.empty()) out.push_back(item);
        return out;
    }
    for (auto& item : v) {
        if (!item.is_string()) return Error::msg("'" + key + "' must list strings", EINVAL);
        out.push_back(item.get<std::string>());
    }
    return out;
}

Result<uint16_t> port_of(const json& v, const std::string& key) {
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 65535)
        return Error::msg("'" + key + "' must hold port numbers (1-65535)", EINVAL);
    return static_cast<uint16_t>(v.get<long long>());
}

Result<std::vector<uint16_t>> port_list(const json& v, const std::string& key) {
    std::vector<uint16_t> out;
    for (auto& item : v) {
        auto p = port_of(item, key);
        if (!p) return p.error();
        out.push_back(*p);
    }
    return out;
}

Result<std::vector<std::pair<uint16_t, uint16_t>>> port_pairs(const json& v, const std::string& key) {
    std::vector<std::pair<uint16_t, uint16_t>> out;
    for (auto& item : v) {
        if (!item.is_array() || item.size() != 2) return Error::msg("'" + key + "' must be a list of [port, port] pairs", EINVAL);
        auto a = port_of(item[0], key), b = port_of(item[1], key);
        if (!a) return a.error();
        if (!b) return b.error();
        out.emplace_back(*a, *b);
    }
    return out;
}

// Patterns follow mirrord's (Rust) regex syntax, which RE2 shares.
Status check_regexes(const std::vector<std::string>& patterns, const std::string& key) {
    RE2::Options options;
    options.set_log_errors(false);
    for (auto& p : patterns) {
        RE2 re(p, options);
        if (!re.ok()) return Error::msg("'" + key + "': invalid regular expression '" + p + "': " + re.error(), EINVAL);
    }
    return {};
}

Result<FilterList> filter_list(const json& v, const std::string& key) {
    FilterList out;
    bool remote = v.contains("remote"), local = v.contains("local");
    if (remote && local) return Error::msg("'" + key + "' takes either 'remote' or 'local', not both", EINVAL);
    if (!remote && !local) return out;
    auto items = string_list(v[remote ? "remote" : "local"], key);
    if (!items) return items.error();
    auto list = FilterList::parse(remote ? FilterList::Side::remote : FilterList::Side::local, *items);
    if (!list) return list.error().context("'" + key + "'");
    return list;
}

// Macro-free helpers to pull typed values out of an optional key.
template <class T>
void take(const json& obj, const char* key, T& out) {
    if (obj.is_object() && obj.contains(key) && !obj[key].is_null()) out = obj[key].get<T>();
}

Status build_env(const json& v, EnvConfig& env) {
    if (v.is_boolean()) {
        env.enabled = v.get<bool>();
        return {};
    }
    for (auto [key, list] : {std::pair{"include", &env.include}, {"exclude", &env.exclude}, {"unset", &env.unset}}) {
        if (!v.contains(key)) continue;
        auto items = string_list(v[key], std::string("feature.env.") + key);
        if (!items) return items.error();
        *list = *items;
    }
    take(v, "env_file", env.env_file);
    if (v.contains("override")) env.override_vars = v["override"].get<std::map<std::string, std::string>>();
    if (v.contains("mapping")) env.mapping = v["mapping"].get<std::map<std::string, std::string>>();
    std::vector<std::string> names;
    for (auto& [pattern, value] : env.mapping) names.push_back(pattern);
    return check_regexes(names, "feature.env.mapping");
}

Result<FsConfig::Mode> fs_mode(const std::string& text) {
    static const std::map<std::string, FsConfig::Mode> modes = {
        {"local", FsConfig::Mode::local}, {"localwithoverrides", FsConfig::Mode::localwithoverrides},
        {"read", FsConfig::Mode::read}, {"write", FsConfig::Mode::write}};
    auto it = modes.find(lower(text));
    if (it == modes.end())
        return Error::msg("feature.fs mode '" + text + "' is not one of local, localwithoverrides, read, write", EINVAL);
    return it->second;
}

Status build_fs(const json& v, FsConfig& fs) {
    if (v.is_boolean()) {
        fs.mode = v.get<bool>() ? FsConfig::Mode::read : FsConfig::Mode::local;
        return {};
    }
    if (v.is_string() || v.contains("mode")) {
        auto mode = fs_mode(v.is_string() ? v.get<std::string>() : v["mode"].get<std::string>());
        if (!mode) return mode.error();
        fs.mode = *mode;
    }
    if (!v.is_object()) return {};
    for (auto [key, list] : {std::pair{"read_write", &fs.read_write}, {"read_only", &fs.read_only},
                             {"local", &fs.local}, {"not_found", &fs.not_found}}) {
        if (!v.contains(key)) continue;
        auto items = string_list(v[key], std::string("feature.fs.") + key);
        if (!items) return items.error();
        if (auto st = check_regexes(*items, std::string("feature.fs.") + key); !st) return st;
        *list = *items;
    }
    if (v.contains("mapping")) {
        fs.mapping = v["mapping"].get<std::map<std::string, std::string>>();
        std::vector<std::string> names;
        for (auto& [pattern, to] : fs.mapping) names.push_back(pattern);
        if (auto st = check_regexes(names, "feature.fs.mapping"); !st) return st;
    }
    return {};
}

Result<IncomingConfig::Mode> incoming_mode(const std::string& text) {
    std::string t = lower(text);
    if (t == "mirror") return IncomingConfig::Mode::mirror;
    if (t == "steal") return IncomingConfig::Mode::steal;
    if (t == "off") return IncomingConfig::Mode::off;
    return Error::msg("feature.network.incoming mode '" + text + "' is not one of mirror, steal, off", EINVAL);
}

Status build_http_filter(const json& v, HttpFilterConfig& f) {
    const std::string base = "feature.network.incoming.http_filter";
    take(v, "header_filter", f.header_filter);
    take(v, "path_filter", f.path_filter);
    take(v, "method_filter", f.method_filter);
    for (auto [key, list] : {std::pair{"all_of", &f.all_of}, {"any_of", &f.any_of}}) {
        if (!v.contains(key)) continue;
        for (auto& item : v[key]) {
            if (!item.is_object() || item.size() != 1)
                return Error::msg("'" + base + "." + key + "' entries are objects like {\"header\": \"regex\"}", EINVAL);
            auto [kind, pattern] = *item.items().begin();
            if ((kind != "header" && kind != "path" && kind != "method") || !pattern.is_string())
                return Error::msg("'" + base + "." + key + "': '" + kind + "' must be header, path or method with a regex", EINVAL);
            list->emplace_back(kind, pattern.get<std::string>());
        }
    }
    if (v.contains("ports")) {
        auto ports = port_list(v["ports"], base + ".ports");
        if (!ports) return ports.error();
        f.ports = *ports;
    }
    std::vector<std::string> regexes = {f.header_filter, f.path_filter, f.method_filter};
    for (auto& [k, p] : f.all_of) regexes.push_back(p);
    for (auto& [k, p] : f.any_of) regexes.push_back(p);
    return check_regexes(regexes, base);
}

Status build_incoming(const json& v, IncomingConfig& in) {
    const std::string base = "feature.network.incoming";
    if (v.is_string() || v.contains("mode")) {
        auto mode = incoming_mode(v.is_string() ? v.get<std::string>() : v["mode"].get<std::string>());
        if (!mode) return mode.error();
        in.mode = *mode;
    }
    if (!v.is_object()) return {};
    if (v.contains("http_filter"))
        if (auto st = build_http_filter(v["http_filter"], in.http_filter); !st) return st;
    for (auto [key, list] : {std::pair{"port_mapping", &in.port_mapping}, {"listen_ports", &in.listen_ports}}) {
        if (!v.contains(key)) continue;
        auto pairs = port_pairs(v[key], base + "." + key);
        if (!pairs) return pairs.error();
        *list = *pairs;
    }
    if (v.contains("ignore_ports")) {
        auto ports = port_list(v["ignore_ports"], base + ".ignore_ports");
        if (!ports) return ports.error();
        in.ignore_ports = *ports;
    }
    if (v.contains("ports")) {
        auto ports = port_list(v["ports"], base + ".ports");
        if (!ports) return ports.error();
        in.ports = *ports;
    }
    take(v, "ignore_localhost", in.ignore_localhost);
    return {};
}

Status build_network(const json& v, Config& c) {
    if (v.contains("incoming"))
        if (auto st = build_incoming(v["incoming"], c.incoming); !st) return st;
    if (v.contains("outgoing")) {
        const json& o = v["outgoing"];
        if (o.is_boolean()) {
            c.outgoing.tcp = c.outgoing.udp = o.get<bool>();
        } else {
            take(o, "tcp", c.outgoing.tcp);
            take(o, "udp", c.outgoing.udp);
            take(o, "ignore_localhost", c.outgoing.ignore_localhost);
            if (o.contains("filter")) {
                auto f = filter_list(o["filter"], "feature.network.outgoing.filter");
                if (!f) return f.error();
                c.outgoing.filter = *f;
            }
            if (o.contains("unix_streams")) {
                auto items = string_list(o["unix_streams"], "feature.network.outgoing.unix_streams");
                if (!items) return items.error();
                if (auto st = check_regexes(*items, "feature.network.outgoing.unix_streams"); !st) return st;
                c.outgoing.unix_streams = *items;
            }
        }
    }
    if (v.contains("dns")) {
        const json& d = v["dns"];
        if (d.is_boolean()) {
            c.dns.enabled = d.get<bool>();
        } else {
            take(d, "enabled", c.dns.enabled);
            if (d.contains("filter")) {
                auto f = filter_list(d["filter"], "feature.network.dns.filter");
                if (!f) return f.error();
                c.dns.filter = *f;
            }
        }
    }
    return {};
}

// target.path as an object: {"deployment": "x", "container": "y"} -> "deployment/x/container/y"
Result<std::string> target_path(const json& v) {
    if (v.is_null()) return std::string();
    if (v.is_string()) return v.get<std::string>();
    std::string kind, name, container;
    for (auto& [k, value] : v.items()) {
        if (k == "container") container = value.get<std::string>();
        else if (k == "labels") continue;  // the schema check warns that they are ignored
        else if (value.is_string()) {
            kind = k;
            name = value.get<std::string>();
        }
    }
    if (kind.empty() && v.contains("labels")) return std::string();  // targetless, with the warning
    if (kind.empty()) return Error::msg("target.path object names no target", EINVAL);
    std::replace(kind.begin(), kind.end(), '_', '-');
    std::string path = (kind == "cron-job" ? "cronjob" : kind == "stateful-set" ? "statefulset"
                        : kind == "replica-set" ? "replicaset" : kind) + "/" + name;
    if (!container.empty()) path += "/container/" + container;
    return path;
}

Status build_agent(const json& v, AgentConfig& a) {
    if (v.contains("image")) {
        const json& image = v["image"];
        if (image.is_string()) {
            a.image = image.get<std::string>();
        } else {
            std::string registry = image.value("registry", std::string("mirrord-ptrace-agent"));
            a.image = registry + ":" + image.value("tag", std::string(MIRRORD_VERSION));
        }
    }
    take(v, "namespace", a.namespace_);
    take(v, "image_pull_policy", a.image_pull_policy);
    if (v.contains("image_pull_secrets"))
        for (auto& s : v["image_pull_secrets"]) a.image_pull_secrets.push_back(s.is_object() ? s.value("name", "") : s.get<std::string>());
    take(v, "ttl", a.ttl);
    take(v, "startup_timeout", a.startup_timeout);
    take(v, "communication_timeout", a.communication_timeout);
    take(v, "reconnect_timeout", a.reconnect_timeout);
    take(v, "log_level", a.log_level);
    take(v, "ephemeral", a.ephemeral);
    take(v, "privileged", a.privileged);
    take(v, "service_account", a.service_account);
    take(v, "labels", a.labels);
    take(v, "annotations", a.annotations);
    take(v, "tolerations", a.tolerations);
    take(v, "resources", a.resources);
    take(v, "node_selector", a.node_selector);
    take(v, "flush_connections", a.flush_connections);
    if (a.ttl < 0 || a.startup_timeout <= 0 || a.communication_timeout <= 0)
        return Error::msg("agent.ttl, agent.startup_timeout and agent.communication_timeout must be positive", EINVAL);
    if (a.reconnect_timeout < 0) return Error::msg("agent.reconnect_timeout must be 0 (never) or positive", EINVAL);
    return {};
}

Result<bool> parse_bool(const std::string& name, const std::string& value) {
    std::string v = lower(value);
    if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "0" || v == "no" || v == "off") return false;
    return Error::msg(name + "='" + value + "' is not a boolean (true/false)", EINVAL);
}

Result<int> parse_int(const std::string& name, const std::string& value) {
    try {
        size_t used = 0;
        int n = std::stoi(value, &used);
        if (used == value.size()) return n;
    } catch (...) {
    }
    return Error::msg(name + "='" + value + "' is not a number", EINVAL);
}

// mirrord's environment variables, which take precedence over the file.
Status apply_environment(const std::map<std::string, std::string>& env, Config& c) {
    auto get = [&](const char* name) -> const std::string* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : &it->second;
    };
    struct BoolVar { const char* name; bool* field; };
    for (auto [name, field] : {BoolVar{"MIRRORD_TCP_OUTGOING", &c.outgoing.tcp}, {"MIRRORD_UDP_OUTGOING", &c.outgoing.udp},
                               {"MIRRORD_REMOTE_DNS", &c.dns.enabled},
                               {"MIRRORD_EPHEMERAL_CONTAINER", &c.agent.ephemeral},
                               {"MIRRORD_AGENT_STEALER_FLUSH_CONNECTIONS", &c.agent.flush_connections},
                               {"MIRRORD_ACCEPT_INVALID_CERTIFICATES", &c.accept_invalid_certificates}}) {
        if (auto* v = get(name)) {
            auto b = parse_bool(name, *v);
            if (!b) return b.error();
            *field = *b;
        }
    }
    struct IntVar { const char* name; int* field; };
    for (auto [name, field] : {IntVar{"MIRRORD_AGENT_TTL", &c.agent.ttl}, {"MIRRORD_AGENT_STARTUP_TIMEOUT", &c.agent.startup_timeout},
                               {"MIRRORD_AGENT_COMMUNICATION_TIMEOUT", &c.agent.communication_timeout},
                               {"MIRRORD_AGENT_RECONNECT_TIMEOUT", &c.agent.reconnect_timeout}}) {
        if (auto* v = get(name)) {
            auto n = parse_int(name, *v);
            if (!n) return n.error();
            *field = *n;
        }
    }
    struct StringVar { const char* name; std::string* field; };
    for (auto [name, field] : {StringVar{"MIRRORD_IMPERSONATED_TARGET", &c.target.path}, {"MIRRORD_TARGET_NAMESPACE", &c.target.namespace_},
                               {"MIRRORD_AGENT_IMAGE", &c.agent.image}, {"MIRRORD_AGENT_NAMESPACE", &c.agent.namespace_},
                               {"MIRRORD_AGENT_RUST_LOG", &c.agent.log_level}, {"MIRRORD_AGENT_IMAGE_PULL_POLICY", &c.agent.image_pull_policy},
                               {"MIRRORD_OVERRIDE_ENV_VARS_FILE", &c.env.env_file}, {"MIRRORD_KUBECONFIG", &c.kubeconfig},
                               {"MIRRORD_KUBE_CONTEXT", &c.kube_context},
                               {"MIRRORD_HTTP_HEADER_FILTER", &c.incoming.http_filter.header_filter},
                               {"MIRRORD_HTTP_PATH_FILTER", &c.incoming.http_filter.path_filter},
                               {"MIRRORD_HTTP_METHOD_FILTER", &c.incoming.http_filter.method_filter}}) {
        if (auto* v = get(name)) *field = *v;
    }
    struct ListVar { const char* name; std::vector<std::string>* field; };
    for (auto [name, field] : {ListVar{"MIRRORD_OVERRIDE_ENV_VARS_INCLUDE", &c.env.include}, {"MIRRORD_OVERRIDE_ENV_VARS_EXCLUDE", &c.env.exclude},
                               {"MIRRORD_FILE_READ_WRITE_PATTERN", &c.fs.read_write}, {"MIRRORD_FILE_READ_ONLY_PATTERN", &c.fs.read_only},
                               {"MIRRORD_FILE_LOCAL_PATTERN", &c.fs.local},
                               {"MIRRORD_OUTGOING_REMOTE_UNIX_STREAMS", &c.outgoing.unix_streams}}) {
        if (auto* v = get(name)) {
            auto items = string_list(json(*v), name);
            if (!items) return items.error();
            if (auto st = check_regexes(*items, name); !st) return st;
            *field = *items;
        }
    }
    if (get("MIRRORD_AGENT_IMAGE_REGISTRY") || get("MIRRORD_AGENT_IMAGE_TAG")) {
        auto colon = c.agent.image.rfind(':');
        std::string registry = c.agent.image.substr(0, colon), tag = colon == std::string::npos ? "latest" : c.agent.image.substr(colon + 1);
        if (auto* v = get("MIRRORD_AGENT_IMAGE_REGISTRY")) registry = *v;
        if (auto* v = get("MIRRORD_AGENT_IMAGE_TAG")) tag = *v;
        c.agent.image = registry + ":" + tag;
    }
    // mirrord's variables for settings this implementation does not have: said, never silent.
    for (const char* name : {"MIRRORD_ENABLE_IPV6", "MIRRORD_SKIP_PROCESSES", "MIRRORD_TELEMETRY", "MIRRORD_AGENT_JSON_LOG", "MIRRORD_AGENT_EXCLUDE_FROM_MESH",
                             "MIRRORD_AGENT_CLEAN_IPTABLES_ON_START", "MIRRORD_AGENT_HTTP_DETECTION_TIMEOUT",
                             "MIRRORD_AGENT_EXTERNAL_IP_FIX", "MIRRORD_ENV_LOAD_FROM_PROCESS", "MIRRORD_OPERATOR_ENABLE", "MIRRORD_KEY",
                             "MIRRORD_SKIP_BUILD_TOOLS", "MIRRORD_SKIP_EXTRA_BUILD_TOOLS", "MIRRORD_SKIP_SIP",
                             "MIRRORD_HTTP_HEADER_FILTER_JQ", "MIRRORD_MULTI_CLUSTER", "MIRRORD_OPERATOR_ON_CONCURRENT_STEAL",
                             "MIRRORD_FILE_OPS", "MIRRORD_FILE_RO_OPS", "MIRRORD_PROXY", "MIRRORD_API", "MIRRORD_PREVIEW_IMAGE",
                             "MIRRORD_PREVIEW_TTL_MINS", "MIRRORD_PREVIEW_TTL_SECS", "MIRRORD_PREVIEW_REPLICAS"})
        if (get(name)) c.warnings.push_back(std::string(name) + " is a mirrord setting this implementation ignores");
    if (auto* v = get("MIRRORD_FILE_MODE")) {
        auto mode = fs_mode(*v);
        if (!mode) return mode.error();
        c.fs.mode = *mode;
    }
    if (auto* v = get("MIRRORD_AGENT_TCP_STEAL_TRAFFIC")) {
        auto b = parse_bool("MIRRORD_AGENT_TCP_STEAL_TRAFFIC", *v);
        if (!b) return b.error();
        c.incoming.mode = *b ? IncomingConfig::Mode::steal : IncomingConfig::Mode::mirror;
    }
    if (auto* v = get("MIRRORD_HTTP_FILTER_PORTS")) {
        c.incoming.http_filter.ports.clear();
        std::istringstream in(*v);
        for (std::string item; std::getline(in, item, ',');) {
            auto n = parse_int("MIRRORD_HTTP_FILTER_PORTS", item);
            if (!n || *n < 1 || *n > 65535) return Error::msg("MIRRORD_HTTP_FILTER_PORTS must list ports", EINVAL);
            c.incoming.http_filter.ports.push_back(static_cast<uint16_t>(*n));
        }
    }
    return {};
}

}  // namespace

Result<FilterList> FilterList::parse(Side side, const std::vector<std::string>& texts) {
    FilterList out{side, {}};
    for (auto& text : texts) {
        auto f = AddressFilter::parse(text);
        if (!f) return f.error();
        out.entries.push_back(*f);
    }
    return out;
}

Result<AddressFilter> AddressFilter::parse(const std::string& text) {
    AddressFilter f;
    f.text = text;
    std::string rest = text;
    auto scheme = rest.find("://");
    if (scheme != std::string::npos) {
        std::string proto = lower(rest.substr(0, scheme));
        if (proto == "tcp") f.protocol = Protocol::tcp;
        else if (proto == "udp") f.protocol = Protocol::udp;
        else return Error::msg("filter '" + text + "': protocol must be tcp or udp", EINVAL);
        rest = rest.substr(scheme + 3);
    }
    std::string port;
    if (!rest.empty() && rest[0] == '[') {  // [v6]:port
        auto close = rest.find(']');
        if (close == std::string::npos) return Error::msg("filter '" + text + "': unclosed '['", EINVAL);
        f.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return Error::msg("filter '" + text + "': expected ':' after ']'", EINVAL);
            port = rest.substr(close + 2);
        }
    } else if (std::count(rest.begin(), rest.end(), ':') > 1) {  // bare IPv6, maybe with /mask
        f.host = rest;
    } else {
        auto colon = rest.rfind(':');
        f.host = rest.substr(0, colon);
        if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (!port.empty()) {
        auto n = parse_int("port", port);
        if (!n || *n < 1 || *n > 65535) return Error::msg("filter '" + text + "': invalid port '" + port + "'", EINVAL);
        f.port = static_cast<uint16_t>(*n);
    }
    auto slash = f.host.find('/');
    if (slash != std::string::npos) {
        auto bits = parse_int("mask", f.host.substr(slash + 1));
        bool v6 = f.host.find(':') != std::string::npos;
        if (!wire::is_ip_literal(f.host.substr(0, slash)) || !bits || *bits < 0 || *bits > (v6 ? 128 : 32))
            return Error::msg("filter '" + text + "': invalid subnet '" + f.host + "'", EINVAL);
    }
    if (f.host.empty() && f.port == 0 && f.protocol == Protocol::any)
        return Error::msg("filter '" + text + "' matches nothing in particular", EINVAL);
    return f;
}

Result<nlohmann::json> read_config_document(const std::string& path) {
    auto text = read_file(path);
    if (!text) return text.error();
    std::string ext = lower(path.substr(path.rfind('.') == std::string::npos ? path.size() : path.rfind('.') + 1));
    std::string format = ext == "yml" ? "yaml" : ext;
    auto doc = parse_document(*text, format);
    if (!doc) return doc.error().context(path);
    return doc;
}

namespace {

// mirrord's shorthands in their full form, so that one schema and one reader serve both: null for
// "absent", a target object in place of {"path": ...}, "network"/"incoming"/"http_filter" as
// booleans, a single port for a list of ports.
json normalized(const json& input) {
    json d = without_nulls(input);
    if (!d.is_object()) return d;
    if (d.contains("target") && d["target"].is_object() && !d["target"].empty() && !d["target"].contains("path") &&
        !d["target"].contains("namespace"))
        d["target"] = {{"path", d["target"]}};
    if (!d.contains("feature") || !d["feature"].is_object()) return d;
    json& feature = d["feature"];
    if (feature.contains("network") && feature["network"].is_boolean())
        feature["network"] = feature["network"].get<bool>() ? json::object()
                                                            : json{{"incoming", "off"}, {"outgoing", false}, {"dns", false}};
    if (!feature.contains("network") || !feature["network"].is_object()) return d;
    json& network = feature["network"];
    if (network.contains("incoming") && network["incoming"].is_boolean())
        network["incoming"] = network["incoming"].get<bool>() ? "mirror" : "off";
    if (network.contains("incoming") && network["incoming"].is_object()) {
        json& incoming = network["incoming"];
        if (incoming.contains("http_filter") && incoming["http_filter"].is_boolean()) incoming.erase("http_filter");
        if (incoming.contains("http_filter") && incoming["http_filter"].is_object()) {
            json& ports = incoming["http_filter"]["ports"];
            if (ports.is_number()) ports = json::array({ports});
            if (ports.is_null()) incoming["http_filter"].erase("ports");
        }
    }
    return d;
}

}  // namespace

Result<Config> build_config(const nlohmann::json& input, const std::map<std::string, std::string>& env) {
    Config c;
    json document = normalized(input);
    SchemaProblems problems = check_schema(document);
    if (!problems.errors.empty()) {
        std::string all;
        for (auto& e : problems.errors) all += (all.empty() ? "" : "; ") + e;
        return Error::msg(all, EINVAL);
    }
    c.warnings = problems.warnings;
    try {
        take(document, "kubeconfig", c.kubeconfig);
        take(document, "kube_context", c.kube_context);
        take(document, "accept_invalid_certificates", c.accept_invalid_certificates);
        if (document.contains("target")) {
            const json& t = document["target"];
            auto path = target_path(t.is_object() ? t.value("path", json()) : t);
            if (!path) return path.error();
            c.target.path = *path;
            if (t.is_object()) take(t, "namespace", c.target.namespace_);
        }
        if (document.contains("agent"))
            if (auto st = build_agent(document["agent"], c.agent); !st) return st.error();
        if (document.contains("experimental")) take(document["experimental"], "allow_io_uring", c.allow_io_uring);
        const json feature = document.value("feature", json::object());
        take(feature, "hostname", c.hostname);
        take(feature, "report", c.report);
        if (feature.contains("env"))
            if (auto st = build_env(feature["env"], c.env); !st) return st.error();
        if (feature.contains("fs"))
            if (auto st = build_fs(feature["fs"], c.fs); !st) return st.error();
        if (feature.contains("network"))
            if (auto st = build_network(feature["network"], c); !st) return st.error();
    } catch (const json::exception& e) {
        return Error::msg(std::string("configuration: ") + e.what(), EINVAL);
    }
    if (auto st = apply_environment(env, c); !st) return st.error();
    if (!c.env.include.empty() && !c.env.exclude.empty())
        return Error::msg("feature.env: use either include or exclude, not both", EINVAL);
    if (c.incoming.http_filter.ports.empty()) c.incoming.http_filter.ports = {80, 8080};
    return c;
}

Result<Config> load_config(const std::string& path) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq != std::string::npos && entry.rfind("MIRRORD_", 0) == 0) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    json document = json::object();
    // The flag first, then MIRRORD_CONFIG_FILE, as mirrord.
    std::string file = !path.empty() ? path : env.count("MIRRORD_CONFIG_FILE") ? env["MIRRORD_CONFIG_FILE"] : "";
    if (!file.empty()) {
        auto doc = read_config_document(file);
        if (!doc) return doc.error();
        document = *doc;
    }
    auto config = build_config(document, env);
    if (!config) return file.empty() ? config.error() : config.error().context(file);
    return config;
}

}  // namespace mrd::tracer
