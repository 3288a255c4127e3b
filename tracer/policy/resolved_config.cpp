#include "tracer/policy/resolved_config.hpp"

#include <sstream>

namespace mrd::tracer {

using nlohmann::json;

namespace {

json filter(const FilterList& list) {
    if (list.side == FilterList::Side::none) return json::object();
    json texts = json::array();
    for (auto& e : list.entries) texts.push_back(e.text);
    return {{list.side == FilterList::Side::remote ? "remote" : "local", texts}};
}

json pairs(const std::vector<std::pair<uint16_t, uint16_t>>& list) {
    json out = json::array();
    for (auto& [a, b] : list) out.push_back({a, b});
    return out;
}

json patterns(const std::vector<std::pair<std::string, std::string>>& list) {
    json out = json::array();
    for (auto& [kind, regex] : list) out.push_back({{kind, regex}});
    return out;
}

const char* fs_mode(FsConfig::Mode m) {
    switch (m) {
        case FsConfig::Mode::local: return "local";
        case FsConfig::Mode::localwithoverrides: return "localwithoverrides";
        case FsConfig::Mode::read: return "read";
        case FsConfig::Mode::write: return "write";
    }
    return "read";
}

const char* incoming_mode(IncomingConfig::Mode m) {
    switch (m) {
        case IncomingConfig::Mode::off: return "off";
        case IncomingConfig::Mode::mirror: return "mirror";
        case IncomingConfig::Mode::steal: return "steal";
    }
    return "mirror";
}

json optional_text(const std::string& s) { return s.empty() ? json() : json(s); }

json http_filter(const HttpFilterConfig& f) {
    json out = {{"ports", f.ports}};
    if (!f.header_filter.empty()) out["header_filter"] = f.header_filter;
    if (!f.path_filter.empty()) out["path_filter"] = f.path_filter;
    if (!f.method_filter.empty()) out["method_filter"] = f.method_filter;
    if (!f.all_of.empty()) out["all_of"] = patterns(f.all_of);
    if (!f.any_of.empty()) out["any_of"] = patterns(f.any_of);
    return out;
}

}  // namespace

json target_object(const std::string& path) {
    if (path.empty()) return nullptr;
    if (path == "targetless") return "targetless";
    std::vector<std::string> parts;
    std::istringstream in(path);
    for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
    if (parts.size() < 2) return path;
    static const std::map<std::string, std::string> keys = {
        {"pod", "pod"}, {"po", "pod"}, {"deployment", "deployment"}, {"deploy", "deployment"}, {"rollout", "rollout"},
        {"job", "job"}, {"cronjob", "cron_job"}, {"statefulset", "stateful_set"}, {"sts", "stateful_set"},
        {"service", "service"}, {"svc", "service"}, {"replicaset", "replica_set"}, {"rs", "replica_set"}};
    auto key = keys.find(parts[0]);
    if (key == keys.end()) return path;  // pid/N, container/NAME: this implementation's own targets
    json out = {{key->second, parts[1]}, {"container", nullptr}};
    if (parts.size() == 4 && parts[2] == "container") out["container"] = parts[3];
    return out;
}

json resolved_config(const Config& c) {
    const AgentConfig& a = c.agent;
    json incoming = {{"mode", incoming_mode(c.incoming.mode)},
                     {"http_filter", http_filter(c.incoming.http_filter)},
                     {"port_mapping", pairs(c.incoming.port_mapping)},
                     {"listen_ports", pairs(c.incoming.listen_ports)},
                     {"ignore_ports", c.incoming.ignore_ports},
                     {"ignore_localhost", c.incoming.ignore_localhost}};
    if (c.incoming.ports) incoming["ports"] = *c.incoming.ports;
    json env = json::object();
    if (c.env.enabled) {
        env = {{"override", c.env.override_vars}, {"unset", c.env.unset}, {"mapping", c.env.mapping}};
        if (!c.env.include.empty()) env["include"] = c.env.include;
        if (!c.env.exclude.empty()) env["exclude"] = c.env.exclude;
        if (!c.env.env_file.empty()) env["env_file"] = c.env.env_file;
    }
    return {
        {"accept_invalid_certificates", c.accept_invalid_certificates},
        {"kubeconfig", optional_text(c.kubeconfig)},
        {"kube_context", optional_text(c.kube_context)},
        {"target", {{"path", target_object(c.target.path)}, {"namespace", optional_text(c.target.namespace_)}}},
        {"agent",
         {{"image", a.image}, {"namespace", optional_text(a.namespace_)}, {"image_pull_policy", a.image_pull_policy},
          {"image_pull_secrets", a.image_pull_secrets}, {"ttl", a.ttl}, {"startup_timeout", a.startup_timeout},
          {"communication_timeout", a.communication_timeout}, {"reconnect_timeout", a.reconnect_timeout}, {"log_level", a.log_level}, {"ephemeral", a.ephemeral},
          {"privileged", a.privileged}, {"service_account", optional_text(a.service_account)}, {"labels", a.labels},
          {"annotations", a.annotations}, {"tolerations", a.tolerations}, {"resources", a.resources},
          {"node_selector", a.node_selector}, {"flush_connections", a.flush_connections}}},
        {"feature",
         {{"env", c.env.enabled ? env : json(false)},
          {"fs",
           {{"mode", fs_mode(c.fs.mode)}, {"read_write", c.fs.read_write}, {"read_only", c.fs.read_only},
            {"local", c.fs.local}, {"not_found", c.fs.not_found}, {"mapping", c.fs.mapping}}},
          {"network",
           {{"incoming", incoming},
            {"outgoing",
             {{"tcp", c.outgoing.tcp}, {"udp", c.outgoing.udp}, {"ignore_localhost", c.outgoing.ignore_localhost},
              {"filter", filter(c.outgoing.filter)}, {"unix_streams", c.outgoing.unix_streams}}},
            {"dns", {{"enabled", c.dns.enabled}, {"filter", filter(c.dns.filter)}}}}},
          {"hostname", c.hostname},
          {"report", c.report}}},
        {"experimental", {{"allow_io_uring", c.allow_io_uring}}},
    };
}

}  // namespace mrd::tracer
