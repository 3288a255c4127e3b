#include "tracer/policy/config_schema.hpp"

#include "base/text_file.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <functional>
#include <sstream>

namespace mrd::tracer {
namespace {

using nlohmann::json;

enum Type : unsigned {
    kBool = 1, kString = 2, kNumber = 4, kArray = 8, kObject = 16, kNull = 32,
    kAny = 63,
    kList = kString | kArray,  // mirrord's "VecOrSingle": "A;B" or ["A", "B"]
};

// ---- Values: each reads one JSON value of a key whose type the walk has already checked ----

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
        if (p.empty()) continue;
        RE2 re(p, options);
        if (!re.ok()) return Error::msg("'" + key + "': invalid regular expression '" + p + "': " + re.error(), EINVAL);
    }
    return {};
}

Result<FsConfig::Mode> fs_mode(const std::string& text, const std::string& key) {
    static const std::map<std::string, FsConfig::Mode> modes = {
        {"local", FsConfig::Mode::local}, {"localwithoverrides", FsConfig::Mode::localwithoverrides},
        {"read", FsConfig::Mode::read}, {"write", FsConfig::Mode::write}};
    auto it = modes.find(to_lower(text));
    if (it == modes.end())
        return Error::msg("'" + key + "': '" + text + "' is not one of local, localwithoverrides, read, write", EINVAL);
    return it->second;
}

Result<IncomingConfig::Mode> incoming_mode(const std::string& text, const std::string& key) {
    static const std::map<std::string, IncomingConfig::Mode> modes = {
        {"mirror", IncomingConfig::Mode::mirror}, {"steal", IncomingConfig::Mode::steal}, {"off", IncomingConfig::Mode::off}};
    auto it = modes.find(to_lower(text));
    if (it == modes.end()) return Error::msg("'" + key + "': '" + text + "' is not one of mirror, steal, off", EINVAL);
    return it->second;
}

// target.path as an object: {"deployment": "x", "container": "y"} -> "deployment/x/container/y"
Result<std::string> target_path(const json& v, const std::string&) {
    if (v.is_string()) return v.get<std::string>();
    std::string kind, name, container;
    for (auto& [k, value] : v.items()) {
        if (k == "container") container = value.get<std::string>();
        else if (k == "labels") continue;  // ignored, with the schema's warning
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

// A regular expression.
Result<std::string> one_regex(const json& v, const std::string& key) {
    std::string pattern = v.get<std::string>();
    if (auto st = check_regexes({pattern}, key); !st) return st.error();
    return pattern;
}

// A VecOrSingle of regular expressions.
Result<std::vector<std::string>> regex_list(const json& v, const std::string& key) {
    auto items = string_list(v, key);
    if (!items) return items.error();
    if (auto st = check_regexes(*items, key); !st) return st.error();
    return items;
}

using StringMap = std::map<std::string, std::string>;

Result<StringMap> string_map(const json& v, const std::string&) { return v.get<StringMap>(); }

// An object of strings whose names are regular expressions.
Result<StringMap> regex_map(const json& v, const std::string& key) {
    auto map = v.get<StringMap>();
    std::vector<std::string> names;
    for (auto& [name, to] : map) names.push_back(name);
    if (auto st = check_regexes(names, key); !st) return st.error();
    return map;
}

// {"remote": [...]} or {"local": [...]}: address filters.
Result<FilterList> address_filters(const json& v, const std::string& key) {
    bool remote = v.contains("remote"), local = v.contains("local");
    if (remote && local) return Error::msg("'" + key + "' takes either 'remote' or 'local', not both", EINVAL);
    if (!remote && !local) return FilterList{};
    auto items = string_list(v[remote ? "remote" : "local"], key);
    if (!items) return items.error();
    auto list = FilterList::parse(remote ? FilterList::Side::remote : FilterList::Side::local, *items);
    if (!list) return list.error().context("'" + key + "'");
    return list;
}

// http_filter.all_of / any_of: [{"header": "regex"}, {"path": "regex"}, ...]
Result<std::vector<std::pair<std::string, std::string>>> http_patterns(const json& v, const std::string& key) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& item : v) {
        if (!item.is_object() || item.size() != 1)
            return Error::msg("'" + key + "' entries are objects like {\"header\": \"regex\"}", EINVAL);
        auto [kind, pattern] = *item.items().begin();
        if ((kind != "header" && kind != "path" && kind != "method") || !pattern.is_string())
            return Error::msg("'" + key + "': '" + kind + "' must be header, path or method with a regex", EINVAL);
        if (auto st = check_regexes({pattern.get<std::string>()}, key); !st) return st.error();
        out.emplace_back(kind, pattern.get<std::string>());
    }
    return out;
}

// ---- Readers: how a key lands in the Config ----

using Reader = std::function<Status(const json& value, Config& config, const std::string& path)>;

// The field at a chain of members: field(c, &Config::agent, &AgentConfig::ttl) is c.agent.ttl.
template <class... Members>
auto& field(Config& c, Members... members) {
    return (c .* ... .* members);
}

// A boolean, number, string, JSON object or array taken as it is.
template <class... Members>
Reader value(Members... members) {
    return [=](const json& v, Config& c, const std::string&) -> Status {
        auto& f = field(c, members...);
        f = v.get<std::decay_t<decltype(f)>>();
        return {};
    };
}

// A value read by parse (one of the values above), which also says what is wrong with it.
template <class Parse, class... Members>
Reader parsed(Parse parse, Members... members) {
    return [=](const json& v, Config& c, const std::string& path) -> Status {
        auto value = parse(v, path);
        if (!value) return value.error();
        field(c, members...) = std::move(*value);
        return {};
    };
}

Status read_fs_mode(const json& v, Config& c, const std::string& path) {
    if (v.is_boolean()) {  // "fs": true / false
        c.fs.mode = v.get<bool>() ? FsConfig::Mode::read : FsConfig::Mode::local;
        return {};
    }
    if (!v.is_string()) return {};  // an object: its keys are read on their own
    auto mode = fs_mode(v.get<std::string>(), path);
    if (!mode) return mode.error();
    c.fs.mode = *mode;
    return {};
}

Status read_incoming_mode(const json& v, Config& c, const std::string& path) {
    if (!v.is_string()) return {};
    auto mode = incoming_mode(v.get<std::string>(), path);
    if (!mode) return mode.error();
    c.incoming.mode = *mode;
    return {};
}

Status read_target(const json& v, Config& c, const std::string&) {
    if (!v.is_string()) return {};
    c.target.path = v.get<std::string>();
    return {};
}

Status read_agent_image(const json& v, Config& c, const std::string&) {
    if (v.is_string()) c.agent.image = v.get<std::string>();
    else c.agent.image = v.value("registry", std::string("mirrord-ptrace-agent")) + ":" + v.value("tag", std::string(MIRRORD_VERSION));
    return {};
}

Status read_pull_secrets(const json& v, Config& c, const std::string&) {
    c.agent.image_pull_secrets.clear();
    for (auto& s : v) c.agent.image_pull_secrets.push_back(s.is_object() ? s.value("name", "") : s.get<std::string>());
    return {};
}

// A boolean in place of an object switches the whole feature.
Status read_env_switch(const json& v, Config& c, const std::string&) {
    if (v.is_boolean()) c.env.enabled = v.get<bool>();
    return {};
}

Status read_outgoing_switch(const json& v, Config& c, const std::string&) {
    if (v.is_boolean()) c.outgoing.tcp = c.outgoing.udp = v.get<bool>();
    return {};
}

Status read_dns_switch(const json& v, Config& c, const std::string&) {
    if (v.is_boolean()) c.dns.enabled = v.get<bool>();
    return {};
}

// ---- The table ----

struct Key {
    unsigned types;
    Reader read;           // empty: read by the key that holds it, or only holds keys
    bool ignored = false;  // mirrord's, not acted on here: a warning
};

Key ignored(unsigned types = kAny) { return {types, {}, true}; }

using C = Config;
using A = AgentConfig;

// A path ending in ".*" matches any key of that object. Objects whose children are not listed are
// opaque (anything inside is accepted).
const std::map<std::string, Key>& schema() {
    static const std::map<std::string, Key> keys = {
        {"accept_invalid_certificates", {kBool, value(&C::accept_invalid_certificates)}},
        {"kubeconfig", {kString, value(&C::kubeconfig)}},
        {"kube_context", {kString, value(&C::kube_context)}},
        {"target", {kString | kObject | kNull, read_target}},
        {"target.path", {kString | kObject | kNull, parsed(target_path, &C::target, &TargetConfig::path)}},
        {"target.path.deployment", {kString}}, {"target.path.pod", {kString}},
        {"target.path.rollout", {kString}}, {"target.path.job", {kString}},
        {"target.path.cron_job", {kString}}, {"target.path.stateful_set", {kString}},
        {"target.path.service", {kString}}, {"target.path.replica_set", {kString}},
        {"target.path.container", {kString}}, {"target.path.labels", ignored(kObject)},
        {"target.namespace", {kString | kNull, value(&C::target, &TargetConfig::namespace_)}},

        {"agent", {kObject}},
        {"agent.image", {kString | kObject, read_agent_image}},
        {"agent.image.registry", {kString}}, {"agent.image.tag", {kString}},
        {"agent.namespace", {kString | kNull, value(&C::agent, &A::namespace_)}},
        {"agent.image_pull_policy", {kString, value(&C::agent, &A::image_pull_policy)}},
        {"agent.image_pull_secrets", {kArray, read_pull_secrets}},
        {"agent.ttl", {kNumber, value(&C::agent, &A::ttl)}},
        {"agent.startup_timeout", {kNumber, value(&C::agent, &A::startup_timeout)}},
        {"agent.communication_timeout", {kNumber | kNull, value(&C::agent, &A::communication_timeout)}},
        // This implementation's own (--reconnect-timeout).
        {"agent.reconnect_timeout", {kNumber | kNull, value(&C::agent, &A::reconnect_timeout)}},
        {"agent.log_level", {kString, value(&C::agent, &A::log_level)}},
        {"agent.ephemeral", {kBool, value(&C::agent, &A::ephemeral)}},
        {"agent.privileged", {kBool, value(&C::agent, &A::privileged)}},
        {"agent.service_account", {kString | kNull, value(&C::agent, &A::service_account)}},
        {"agent.labels", {kObject | kNull, value(&C::agent, &A::labels)}},
        {"agent.annotations", {kObject | kNull, value(&C::agent, &A::annotations)}},
        {"agent.tolerations", {kArray | kNull, value(&C::agent, &A::tolerations)}},
        {"agent.resources", {kObject | kNull, value(&C::agent, &A::resources)}},
        {"agent.node_selector", {kObject | kNull, value(&C::agent, &A::node_selector)}},
        {"agent.flush_connections", {kBool, value(&C::agent, &A::flush_connections)}},
        {"agent.check_out_of_pods", ignored()}, {"agent.clean_iptables_on_start", ignored()},
        {"agent.disable_mesh_sidecar_injection", ignored()}, {"agent.disabled_capabilities", ignored()},
        {"agent.dns", ignored()}, {"agent.exclude_from_mesh", ignored()},
        {"agent.external_ip_fix", ignored()}, {"agent.http_detection_timeout", ignored()},
        {"agent.inject_headers", ignored()}, {"agent.jaq_time_limit", ignored()},
        {"agent.json_log", ignored()}, {"agent.max_body_buffer_size", ignored()},
        {"agent.max_body_buffer_timeout", ignored()}, {"agent.metrics", ignored()},
        {"agent.nftables", ignored()}, {"agent.override_cache_control", ignored()},
        {"agent.priority_class", ignored()}, {"agent.security_context", ignored()},

        {"feature", {kObject}},
        {"feature.hostname", {kBool, value(&C::hostname)}},
        {"feature.report", {kBool, value(&C::report)}},  // this implementation's own: --report
        {"feature.env", {kBool | kObject, read_env_switch}},
        {"feature.env.include", {kList, parsed(string_list, &C::env, &EnvConfig::include)}},  // wildcards
        {"feature.env.exclude", {kList, parsed(string_list, &C::env, &EnvConfig::exclude)}},
        {"feature.env.override", {kObject, parsed(string_map, &C::env, &EnvConfig::override_vars)}},
        {"feature.env.override.*", {kString}},
        {"feature.env.unset", {kList, parsed(string_list, &C::env, &EnvConfig::unset)}},
        {"feature.env.env_file", {kString, value(&C::env, &EnvConfig::env_file)}},
        {"feature.env.mapping", {kObject, parsed(regex_map, &C::env, &EnvConfig::mapping)}},
        {"feature.env.mapping.*", {kString}},
        {"feature.env.load_from_process", ignored()},
        {"feature.fs", {kBool | kString | kObject, read_fs_mode}},
        {"feature.fs.mode", {kString, read_fs_mode}},
        {"feature.fs.read_write", {kList, parsed(regex_list, &C::fs, &FsConfig::read_write)}},
        {"feature.fs.read_only", {kList, parsed(regex_list, &C::fs, &FsConfig::read_only)}},
        {"feature.fs.local", {kList, parsed(regex_list, &C::fs, &FsConfig::local)}},
        {"feature.fs.not_found", {kList, parsed(regex_list, &C::fs, &FsConfig::not_found)}},
        {"feature.fs.mapping", {kObject, parsed(regex_map, &C::fs, &FsConfig::mapping)}},
        {"feature.fs.mapping.*", {kString}},
        {"feature.fs.readonly_file_buffer", ignored()},
        {"feature.network", {kObject}},
        {"feature.network.ipv6", ignored()},  // IPv6 is always on here
        {"feature.network.incoming", {kString | kObject, read_incoming_mode}},
        {"feature.network.incoming.mode", {kString, read_incoming_mode}},
        {"feature.network.incoming.http_filter", {kObject}},
        {"feature.network.incoming.http_filter.header_filter", {kString, parsed(one_regex, &C::incoming, &IncomingConfig::http_filter, &HttpFilterConfig::header_filter)}},
        {"feature.network.incoming.http_filter.path_filter", {kString, parsed(one_regex, &C::incoming, &IncomingConfig::http_filter, &HttpFilterConfig::path_filter)}},
        {"feature.network.incoming.http_filter.method_filter", {kString, parsed(one_regex, &C::incoming, &IncomingConfig::http_filter, &HttpFilterConfig::method_filter)}},
        {"feature.network.incoming.http_filter.all_of", {kArray, parsed(http_patterns, &C::incoming, &IncomingConfig::http_filter, &HttpFilterConfig::all_of)}},
        {"feature.network.incoming.http_filter.any_of", {kArray, parsed(http_patterns, &C::incoming, &IncomingConfig::http_filter, &HttpFilterConfig::any_of)}},
        {"feature.network.incoming.http_filter.ports", {kArray, parsed(port_list, &C::incoming, &IncomingConfig::http_filter, &HttpFilterConfig::ports)}},
        {"feature.network.incoming.http_filter.body_filter", ignored()},
        {"feature.network.incoming.http_filter.header_filter_jq", ignored()},
        {"feature.network.incoming.port_mapping", {kArray, parsed(port_pairs, &C::incoming, &IncomingConfig::port_mapping)}},
        {"feature.network.incoming.listen_ports", {kArray, parsed(port_pairs, &C::incoming, &IncomingConfig::listen_ports)}},
        {"feature.network.incoming.ignore_ports", {kArray, parsed(port_list, &C::incoming, &IncomingConfig::ignore_ports)}},
        {"feature.network.incoming.ports", {kArray, parsed(port_list, &C::incoming, &IncomingConfig::ports)}},
        {"feature.network.incoming.ignore_localhost", {kBool, value(&C::incoming, &IncomingConfig::ignore_localhost)}},
        {"feature.network.incoming.on_concurrent_steal", ignored()},  // mirrord's operator's
        {"feature.network.incoming.https_delivery", ignored()},
        {"feature.network.incoming.tls_delivery", ignored()},
        {"feature.network.outgoing", {kBool | kObject, read_outgoing_switch}},
        {"feature.network.outgoing.tcp", {kBool, value(&C::outgoing, &OutgoingConfig::tcp)}},
        {"feature.network.outgoing.udp", {kBool, value(&C::outgoing, &OutgoingConfig::udp)}},
        {"feature.network.outgoing.ignore_localhost", {kBool, value(&C::outgoing, &OutgoingConfig::ignore_localhost)}},
        {"feature.network.outgoing.filter", {kObject, parsed(address_filters, &C::outgoing, &OutgoingConfig::filter)}},
        {"feature.network.outgoing.filter.remote", {kList}},
        {"feature.network.outgoing.filter.local", {kList}},
        {"feature.network.outgoing.unix_streams", {kList, parsed(regex_list, &C::outgoing, &OutgoingConfig::unix_streams)}},
        {"feature.network.dns", {kBool | kObject, read_dns_switch}},
        {"feature.network.dns.enabled", {kBool, value(&C::dns, &DnsConfig::enabled)}},
        {"feature.network.dns.filter", {kObject, parsed(address_filters, &C::dns, &DnsConfig::filter)}},
        {"feature.network.dns.filter.remote", {kList}},
        {"feature.network.dns.filter.local", {kList}},
        {"feature.copy_target", ignored()}, {"feature.split_queues", ignored()},
        {"feature.db_branches", ignored()}, {"feature.magic", ignored()},
        {"feature.preview", ignored()},

        // mirrord's operator, IDE and proxy settings: meaningless for a local supervisor.
        {"api", ignored()}, {"baggage", ignored()}, {"ci", ignored()},
        {"container", ignored()}, {"external_proxy", ignored()},
        {"internal_proxy", ignored()}, {"key", ignored()}, {"multi_cluster", ignored()},
        {"operator", ignored()}, {"profile", ignored()}, {"sip_binaries", ignored()},
        {"skip_build_tools", ignored()}, {"skip_extra_build_tools", ignored()},
        {"skip_processes", ignored()}, {"skip_sip", ignored()}, {"startup_retry", ignored()},
        {"telemetry", ignored()}, {"traceparent", ignored()}, {"use_proxy", ignored()},
        {"$schema", ignored(kString)},
        // mirrord's experimental switches are ignored, but for this implementation's own.
        {"experimental", {kObject}}, {"experimental.*", ignored()},
        {"experimental.allow_io_uring", {kBool, value(&C::allow_io_uring)}},
    };
    return keys;
}

// mirrord's environment variables for keys of the schema: the value is read as that key's would be.
const std::map<std::string, std::string>& environment_keys() {
    static const std::map<std::string, std::string> keys = {
        {"MIRRORD_ACCEPT_INVALID_CERTIFICATES", "accept_invalid_certificates"},
        {"MIRRORD_KUBECONFIG", "kubeconfig"},
        {"MIRRORD_KUBE_CONTEXT", "kube_context"},
        {"MIRRORD_IMPERSONATED_TARGET", "target.path"},
        {"MIRRORD_TARGET_NAMESPACE", "target.namespace"},
        {"MIRRORD_AGENT_IMAGE", "agent.image"},
        {"MIRRORD_AGENT_NAMESPACE", "agent.namespace"},
        {"MIRRORD_AGENT_IMAGE_PULL_POLICY", "agent.image_pull_policy"},
        {"MIRRORD_AGENT_TTL", "agent.ttl"},
        {"MIRRORD_AGENT_STARTUP_TIMEOUT", "agent.startup_timeout"},
        {"MIRRORD_AGENT_COMMUNICATION_TIMEOUT", "agent.communication_timeout"},
        {"MIRRORD_AGENT_RECONNECT_TIMEOUT", "agent.reconnect_timeout"},
        {"MIRRORD_AGENT_RUST_LOG", "agent.log_level"},
        {"MIRRORD_EPHEMERAL_CONTAINER", "agent.ephemeral"},
        {"MIRRORD_AGENT_STEALER_FLUSH_CONNECTIONS", "agent.flush_connections"},
        {"MIRRORD_OVERRIDE_ENV_VARS_INCLUDE", "feature.env.include"},
        {"MIRRORD_OVERRIDE_ENV_VARS_EXCLUDE", "feature.env.exclude"},
        {"MIRRORD_OVERRIDE_ENV_VARS_FILE", "feature.env.env_file"},
        {"MIRRORD_FILE_MODE", "feature.fs.mode"},
        {"MIRRORD_FILE_READ_WRITE_PATTERN", "feature.fs.read_write"},
        {"MIRRORD_FILE_READ_ONLY_PATTERN", "feature.fs.read_only"},
        {"MIRRORD_FILE_LOCAL_PATTERN", "feature.fs.local"},
        {"MIRRORD_HTTP_HEADER_FILTER", "feature.network.incoming.http_filter.header_filter"},
        {"MIRRORD_HTTP_PATH_FILTER", "feature.network.incoming.http_filter.path_filter"},
        {"MIRRORD_HTTP_METHOD_FILTER", "feature.network.incoming.http_filter.method_filter"},
        {"MIRRORD_HTTP_FILTER_PORTS", "feature.network.incoming.http_filter.ports"},  // "80,8080"
        {"MIRRORD_TCP_OUTGOING", "feature.network.outgoing.tcp"},
        {"MIRRORD_UDP_OUTGOING", "feature.network.outgoing.udp"},
        {"MIRRORD_OUTGOING_REMOTE_UNIX_STREAMS", "feature.network.outgoing.unix_streams"},
        {"MIRRORD_REMOTE_DNS", "feature.network.dns.enabled"},
    };
    return keys;
}

// mirrord's variables for settings this implementation does not have: said, never silent.
const char* const kIgnoredVariables[] = {
    "MIRRORD_ENABLE_IPV6", "MIRRORD_SKIP_PROCESSES", "MIRRORD_TELEMETRY", "MIRRORD_AGENT_JSON_LOG",
    "MIRRORD_AGENT_EXCLUDE_FROM_MESH", "MIRRORD_AGENT_CLEAN_IPTABLES_ON_START", "MIRRORD_AGENT_HTTP_DETECTION_TIMEOUT",
    "MIRRORD_AGENT_EXTERNAL_IP_FIX", "MIRRORD_ENV_LOAD_FROM_PROCESS", "MIRRORD_OPERATOR_ENABLE", "MIRRORD_KEY",
    "MIRRORD_SKIP_BUILD_TOOLS", "MIRRORD_SKIP_EXTRA_BUILD_TOOLS", "MIRRORD_SKIP_SIP", "MIRRORD_HTTP_HEADER_FILTER_JQ",
    "MIRRORD_MULTI_CLUSTER", "MIRRORD_OPERATOR_ON_CONCURRENT_STEAL", "MIRRORD_FILE_OPS", "MIRRORD_FILE_RO_OPS",
    "MIRRORD_PROXY", "MIRRORD_API", "MIRRORD_PREVIEW_IMAGE", "MIRRORD_PREVIEW_TTL_MINS", "MIRRORD_PREVIEW_TTL_SECS",
    "MIRRORD_PREVIEW_REPLICAS"};

unsigned type_of(const json& v) {
    if (v.is_boolean()) return kBool;
    if (v.is_string()) return kString;
    if (v.is_number()) return kNumber;
    if (v.is_array()) return kArray;
    if (v.is_object()) return kObject;
    return kNull;
}

std::string describe(unsigned types) {
    static const std::pair<unsigned, const char*> names[] = {
        {kBool, "a boolean"}, {kString, "a string"}, {kNumber, "a number"},
        {kArray, "a list"}, {kObject, "an object"}, {kNull, "null"}};
    std::string out;
    for (auto [t, name] : names)
        if (types & t) out += (out.empty() ? "" : " or ") + std::string(name);
    return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cur = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1])});
            prev = cur;
        }
    }
    return row[b.size()];
}

// "did you mean" among the keys that may appear next to path.
std::string suggestion(const std::string& parent, const std::string& key) {
    std::string prefix = parent.empty() ? "" : parent + ".";
    std::string best;
    size_t best_distance = 3;
    for (auto& [path, k] : schema()) {
        if (path.rfind(prefix, 0) != 0) continue;
        std::string rest = path.substr(prefix.size());
        if (rest.find('.') != std::string::npos || rest == "*") continue;
        size_t d = edit_distance(key, rest);
        if (d < best_distance) {
            best_distance = d;
            best = rest;
        }
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

bool has_children(const std::string& path) {
    auto it = schema().lower_bound(path + ".");
    return it != schema().end() && it->first.rfind(path + ".", 0) == 0;
}

const Key* find_key(const std::string& parent, const std::string& path) {
    auto it = schema().find(path);
    if (it == schema().end()) it = schema().find(parent + ".*");
    return it == schema().end() ? nullptr : &it->second;
}

// Checks and reads an object's keys: a key's own keys first, then the key itself.
void walk(const json& object, const std::string& parent, Config& config, SchemaProblems& out) {
    for (auto& [key, value] : object.items()) {
        std::string path = parent.empty() ? key : parent + "." + key;
        const Key* k = find_key(parent, path);
        if (!k) {
            out.errors.push_back("unknown key '" + path + "'" + suggestion(parent, key));
            continue;
        }
        if (!(type_of(value) & k->types)) {
            out.errors.push_back("'" + path + "' must be " + describe(k->types) + ", not " + describe(type_of(value)));
            continue;
        }
        if (k->ignored) {
            out.warnings.push_back("'" + path + "' is a mirrord setting this implementation ignores");
            continue;
        }
        size_t errors = out.errors.size();
        if (value.is_object() && has_children(path)) walk(value, path, config, out);
        if (out.errors.size() != errors || !k->read) continue;
        try {
            if (auto st = k->read(value, config, path); !st) out.errors.push_back(st.error().message);
        } catch (const json::exception& e) {
            out.errors.push_back("'" + path + "': " + e.what());
        }
    }
}

Result<bool> parse_bool(const std::string& name, const std::string& value) {
    std::string v = to_lower(value);
    if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "0" || v == "no" || v == "off") return false;
    return Error::msg(name + "='" + value + "' is not a boolean (true/false)", EINVAL);
}

Result<long long> parse_number(const std::string& name, const std::string& value) {
    auto n = to_integer(value);
    if (!n) return Error::msg(name + "='" + value + "' is not a number", EINVAL);
    return *n;
}

// An environment variable's text as the JSON its key takes.
Result<json> variable_value(const std::string& name, const std::string& text, const std::string& path, unsigned types) {
    if (path == "feature.network.incoming.http_filter.ports") {  // "80,8080"
        json ports = json::array();
        std::istringstream in(text);
        for (std::string item; std::getline(in, item, ',');) {
            auto n = parse_number(name, item);
            if (!n) return n.error();
            ports.push_back(*n);
        }
        return ports;
    }
    if (types & kString) return json(text);
    if (types & kBool) {
        auto b = parse_bool(name, text);
        if (!b) return b.error();
        return json(*b);
    }
    auto n = parse_number(name, text);
    if (!n) return n.error();
    return json(*n);
}

}  // namespace

SchemaProblems read_schema(const nlohmann::json& document, Config& config) {
    SchemaProblems problems;
    if (!document.is_object()) {
        problems.errors.push_back("the configuration must be an object at the top level");
        return problems;
    }
    walk(document, "", config, problems);
    return problems;
}

Status read_environment(const std::map<std::string, std::string>& env, Config& c) {
    auto get = [&](const char* name) -> const std::string* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : &it->second;
    };
    for (auto& [name, path] : environment_keys()) {
        auto* text = get(name.c_str());
        if (!text) continue;
        const Key& key = schema().at(path);
        auto v = variable_value(name, *text, path, key.types);
        if (!v) return v.error();
        if (auto st = key.read(*v, c, name); !st) return st;
    }
    // Registry and tag replace their part of the image named so far.
    if (get("MIRRORD_AGENT_IMAGE_REGISTRY") || get("MIRRORD_AGENT_IMAGE_TAG")) {
        auto colon = c.agent.image.rfind(':');
        std::string registry = c.agent.image.substr(0, colon), tag = colon == std::string::npos ? "latest" : c.agent.image.substr(colon + 1);
        if (auto* v = get("MIRRORD_AGENT_IMAGE_REGISTRY")) registry = *v;
        if (auto* v = get("MIRRORD_AGENT_IMAGE_TAG")) tag = *v;
        c.agent.image = registry + ":" + tag;
    }
    if (auto* v = get("MIRRORD_AGENT_TCP_STEAL_TRAFFIC")) {
        auto b = parse_bool("MIRRORD_AGENT_TCP_STEAL_TRAFFIC", *v);
        if (!b) return b.error();
        c.incoming.mode = *b ? IncomingConfig::Mode::steal : IncomingConfig::Mode::mirror;
    }
    for (const char* name : kIgnoredVariables)
        if (get(name)) c.warnings.push_back(std::string(name) + " is a mirrord setting this implementation ignores");
    return {};
}

std::vector<std::string> unread_schema_keys() {
    std::vector<std::string> unread;
    for (auto& [path, key] : schema()) {
        if (key.ignored || key.read || has_children(path)) continue;
        // Read by the key that holds it?
        bool held = false;
        for (auto dot = path.rfind('.'); dot != std::string::npos && !held; dot = path.rfind('.', dot - 1)) {
            auto parent = schema().find(path.substr(0, dot));
            held = parent != schema().end() && parent->second.read;
            if (dot == 0) break;
        }
        if (!held) unread.push_back(path);
    }
    return unread;
}

bool is_supported_key(const std::string& path) {
    auto it = schema().find(path);
    return it != schema().end() && !it->second.ignored;
}

}  // namespace mrd::tracer
