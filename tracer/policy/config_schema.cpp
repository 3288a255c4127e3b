#include "tracer/policy/config_schema.hpp"

#include <algorithm>
#include <map>

namespace mrd::tracer {
namespace {

enum Type : unsigned {
    kBool = 1, kString = 2, kNumber = 4, kArray = 8, kObject = 16, kNull = 32,
    kAny = 63,
    kList = kString | kArray,  // mirrord's "VecOrSingle": "A;B" or ["A", "B"]
};

struct Key {
    unsigned types;
    bool supported;
};

// A path ending in ".*" matches any key of that object. Objects whose children are not listed are
// opaque (anything inside is accepted).
const std::map<std::string, Key>& schema() {
    static const std::map<std::string, Key> keys = {
        {"accept_invalid_certificates", {kBool, true}},
        {"kubeconfig", {kString, true}},
        {"kube_context", {kString, true}},
        {"target", {kString | kObject | kNull, true}},
        {"target.path", {kString | kObject | kNull, true}},
        {"target.path.deployment", {kString, true}}, {"target.path.pod", {kString, true}},
        {"target.path.rollout", {kString, true}}, {"target.path.job", {kString, true}},
        {"target.path.cron_job", {kString, true}}, {"target.path.stateful_set", {kString, true}},
        {"target.path.service", {kString, true}}, {"target.path.replica_set", {kString, true}},
        {"target.path.container", {kString, true}}, {"target.path.labels", {kObject, false}},
        {"target.namespace", {kString | kNull, true}},

        {"agent", {kObject, true}},
        {"agent.image", {kString | kObject, true}},
        {"agent.image.registry", {kString, true}}, {"agent.image.tag", {kString, true}},
        {"agent.namespace", {kString | kNull, true}},
        {"agent.image_pull_policy", {kString, true}},
        {"agent.image_pull_secrets", {kArray, true}},
        {"agent.ttl", {kNumber, true}},
        {"agent.startup_timeout", {kNumber, true}},
        {"agent.communication_timeout", {kNumber | kNull, true}},
        {"agent.reconnect_timeout", {kNumber | kNull, true}},  // this implementation's own: --reconnect-timeout
        {"agent.log_level", {kString, true}},
        {"agent.ephemeral", {kBool, true}},
        {"agent.privileged", {kBool, true}},
        {"agent.service_account", {kString | kNull, true}},
        {"agent.labels", {kObject | kNull, true}},
        {"agent.annotations", {kObject | kNull, true}},
        {"agent.tolerations", {kArray | kNull, true}},
        {"agent.resources", {kObject | kNull, true}},
        {"agent.node_selector", {kObject | kNull, true}},
        {"agent.flush_connections", {kBool, true}},
        {"agent.check_out_of_pods", {kAny, false}}, {"agent.clean_iptables_on_start", {kAny, false}},
        {"agent.disable_mesh_sidecar_injection", {kAny, false}}, {"agent.disabled_capabilities", {kAny, false}},
        {"agent.dns", {kAny, false}}, {"agent.exclude_from_mesh", {kAny, false}},
        {"agent.external_ip_fix", {kAny, false}}, {"agent.http_detection_timeout", {kAny, false}},
        {"agent.inject_headers", {kAny, false}}, {"agent.jaq_time_limit", {kAny, false}},
        {"agent.json_log", {kAny, false}}, {"agent.max_body_buffer_size", {kAny, false}},
        {"agent.max_body_buffer_timeout", {kAny, false}}, {"agent.metrics", {kAny, false}},
        {"agent.nftables", {kAny, false}}, {"agent.override_cache_control", {kAny, false}},
        {"agent.priority_class", {kAny, false}}, {"agent.security_context", {kAny, false}},

        {"feature", {kObject, true}},
        {"feature.hostname", {kBool, true}},
        {"feature.report", {kBool, true}},  // this implementation's own: --report
        {"feature.env", {kBool | kObject, true}},
        {"feature.env.include", {kList, true}},
        {"feature.env.exclude", {kList, true}},
        {"feature.env.override", {kObject, true}},
        {"feature.env.override.*", {kString, true}},
        {"feature.env.unset", {kList, true}},
        {"feature.env.env_file", {kString, true}},
        {"feature.env.mapping", {kObject, true}},
        {"feature.env.mapping.*", {kString, true}},
        {"feature.env.load_from_process", {kAny, false}},
        {"feature.fs", {kBool | kString | kObject, true}},
        {"feature.fs.mode", {kString, true}},
        {"feature.fs.read_write", {kList, true}},
        {"feature.fs.read_only", {kList, true}},
        {"feature.fs.local", {kList, true}},
        {"feature.fs.not_found", {kList, true}},
        {"feature.fs.mapping", {kObject, true}},
        {"feature.fs.mapping.*", {kString, true}},
        {"feature.fs.readonly_file_buffer", {kAny, false}},
        {"feature.network", {kObject, true}},
        {"feature.network.ipv6", {kAny, false}},  // IPv6 is always on here
        {"feature.network.incoming", {kString | kObject, true}},
        {"feature.network.incoming.mode", {kString, true}},
        {"feature.network.incoming.http_filter", {kObject, true}},
        {"feature.network.incoming.http_filter.header_filter", {kString, true}},
        {"feature.network.incoming.http_filter.path_filter", {kString, true}},
        {"feature.network.incoming.http_filter.method_filter", {kString, true}},
        {"feature.network.incoming.http_filter.all_of", {kArray, true}},
        {"feature.network.incoming.http_filter.any_of", {kArray, true}},
        {"feature.network.incoming.http_filter.ports", {kArray, true}},
        {"feature.network.incoming.http_filter.body_filter", {kAny, false}},
        {"feature.network.incoming.http_filter.header_filter_jq", {kAny, false}},
        {"feature.network.incoming.port_mapping", {kArray, true}},
        {"feature.network.incoming.listen_ports", {kArray, true}},
        {"feature.network.incoming.ignore_ports", {kArray, true}},
        {"feature.network.incoming.ports", {kArray, true}},
        {"feature.network.incoming.ignore_localhost", {kBool, true}},
        {"feature.network.incoming.on_concurrent_steal", {kAny, false}},  // mirrord's operator's
        {"feature.network.incoming.https_delivery", {kAny, false}},
        {"feature.network.incoming.tls_delivery", {kAny, false}},
        {"feature.network.outgoing", {kBool | kObject, true}},
        {"feature.network.outgoing.tcp", {kBool, true}},
        {"feature.network.outgoing.udp", {kBool, true}},
        {"feature.network.outgoing.ignore_localhost", {kBool, true}},
        {"feature.network.outgoing.filter", {kObject, true}},
        {"feature.network.outgoing.filter.remote", {kList, true}},
        {"feature.network.outgoing.filter.local", {kList, true}},
        {"feature.network.outgoing.unix_streams", {kList, true}},
        {"feature.network.dns", {kBool | kObject, true}},
        {"feature.network.dns.enabled", {kBool, true}},
        {"feature.network.dns.filter", {kObject, true}},
        {"feature.network.dns.filter.remote", {kList, true}},
        {"feature.network.dns.filter.local", {kList, true}},
        {"feature.copy_target", {kAny, false}}, {"feature.split_queues", {kAny, false}},
        {"feature.db_branches", {kAny, false}}, {"feature.magic", {kAny, false}},
        {"feature.preview", {kAny, false}},

        // mirrord's operator, IDE and proxy settings: meaningless for a local supervisor.
        {"api", {kAny, false}}, {"baggage", {kAny, false}}, {"ci", {kAny, false}},
        {"container", {kAny, false}}, {"external_proxy", {kAny, false}},
        {"internal_proxy", {kAny, false}}, {"key", {kAny, false}}, {"multi_cluster", {kAny, false}},
        {"operator", {kAny, false}}, {"profile", {kAny, false}}, {"sip_binaries", {kAny, false}},
        {"skip_build_tools", {kAny, false}}, {"skip_extra_build_tools", {kAny, false}},
        {"skip_processes", {kAny, false}}, {"skip_sip", {kAny, false}}, {"startup_retry", {kAny, false}},
        {"telemetry", {kAny, false}}, {"traceparent", {kAny, false}}, {"use_proxy", {kAny, false}},
        {"$schema", {kString, false}},
        // mirrord's experimental switches are ignored, but for this implementation's own.
        {"experimental", {kObject, true}}, {"experimental.*", {kAny, false}},
        {"experimental.allow_io_uring", {kBool, true}},
    };
    return keys;
}

unsigned type_of(const nlohmann::json& v) {
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

void check(const nlohmann::json& object, const std::string& parent, SchemaProblems& out) {
    for (auto& [key, value] : object.items()) {
        std::string path = parent.empty() ? key : parent + "." + key;
        auto it = schema().find(path);
        if (it == schema().end()) it = schema().find(parent + ".*");
        if (it == schema().end()) {
            out.errors.push_back("unknown key '" + path + "'" + suggestion(parent, key));
            continue;
        }
        const Key& k = it->second;
        if (!(type_of(value) & k.types)) {
            out.errors.push_back("'" + path + "' must be " + describe(k.types) + ", not " + describe(type_of(value)));
            continue;
        }
        if (!k.supported) {
            out.warnings.push_back("'" + path + "' is a mirrord setting this implementation ignores");
            continue;
        }
        if (value.is_object() && has_children(path)) check(value, path, out);
    }
}

}  // namespace

SchemaProblems check_schema(const nlohmann::json& document) {
    SchemaProblems problems;
    if (!document.is_object()) {
        problems.errors.push_back("the configuration must be an object at the top level");
        return problems;
    }
    check(document, "", problems);
    return problems;
}

}  // namespace mrd::tracer
