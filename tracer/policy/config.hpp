// mirrord's configuration (mirrord.json / .toml / .yaml), for the parts this implementation has,
// with mirrord's defaults. Keys mirrord knows but this implementation ignores are accepted with a
// warning; keys nobody knows are an error.
#pragma once

#include "base/result.hpp"
#include "k8s/agent_pod_spec.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mrd::tracer {

// "[protocol://][name|address|subnet/mask][:port]", as in feature.network.outgoing.filter.
struct AddressFilter {
    enum class Protocol { any, tcp, udp };
    Protocol protocol = Protocol::any;
    std::string host;      // empty: any; an IP, a CIDR subnet, or a host name
    uint16_t port = 0;     // 0: any
    std::string text;      // as written, for messages

    static Result<AddressFilter> parse(const std::string& text);
};

struct FilterList {
    enum class Side { none, remote, local };  // remote: only these go remote; local: only these stay local
    Side side = Side::none;
    std::vector<AddressFilter> entries;

    static Result<FilterList> parse(Side side, const std::vector<std::string>& texts);
};

struct EnvConfig {
    bool enabled = true;
    std::vector<std::string> include;  // wildcard patterns (* and ?)
    std::vector<std::string> exclude;
    std::map<std::string, std::string> override_vars;
    std::vector<std::string> unset;
    std::string env_file;
    std::map<std::string, std::string> mapping;  // regex on names -> value
};

struct FsConfig {
    enum class Mode { local, localwithoverrides, read, write };
    Mode mode = Mode::read;
    std::vector<std::string> read_write, read_only, local, not_found;  // regexes
    std::map<std::string, std::string> mapping;                       // regex -> replacement
};

struct HttpFilterConfig {
    std::string header_filter, path_filter, method_filter;
    std::vector<std::pair<std::string, std::string>> all_of, any_of;  // (kind, regex)
    std::vector<uint16_t> ports;  // ports the filter applies to (default 80, 8080)
    bool empty() const { return header_filter.empty() && path_filter.empty() && method_filter.empty() && all_of.empty() && any_of.empty(); }
};

struct IncomingConfig {
    enum class Mode { off, mirror, steal };
    Mode mode = Mode::mirror;
    HttpFilterConfig http_filter;
    std::vector<std::pair<uint16_t, uint16_t>> port_mapping;  // local -> remote
    std::vector<std::pair<uint16_t, uint16_t>> listen_ports;  // remote -> local listen port
    std::vector<uint16_t> ignore_ports;
    std::optional<std::vector<uint16_t>> ports;  // only these, when set
    bool ignore_localhost = false;
};

struct OutgoingConfig {
    bool tcp = true;
    bool udp = true;
    bool ignore_localhost = false;
    FilterList filter;
    std::vector<std::string> unix_streams;  // regexes: unix stream sockets connected in the target
};

struct DnsConfig {
    bool enabled = true;
    FilterList filter;
};

struct TargetConfig {
    std::string path;       // "pod/x", "deploy/x/container/y", "pid/123", "container/name", "targetless"; empty: none
    std::string namespace_;
};

// The agent's part of the configuration is the agent pod's specification (k8s/agent_pod_spec.hpp).
using AgentConfig = k8s::AgentPodSpec;


struct Config {
    TargetConfig target;
    AgentConfig agent;
    EnvConfig env;
    FsConfig fs;
    IncomingConfig incoming;
    OutgoingConfig outgoing;
    DnsConfig dns;
    bool hostname = true;
    bool report = false;  // feature.report (this implementation's own): what went remote, at exit
    std::string kubeconfig;
    std::string kube_context;
    bool accept_invalid_certificates = false;
    // --agent-identity / --agent-fingerprint: for an agent started by hand on TCP (flags only).
    std::string agent_identity, agent_fingerprint;
    // experimental.allow_io_uring: let io_uring_setup succeed (its operations are not redirected).
    bool allow_io_uring = false;
    std::vector<std::string> warnings;  // ignored keys and the like, for the user
};

// Parses a config document (json, toml or yaml chosen by the file's extension).
Result<nlohmann::json> read_config_document(const std::string& path);
// Validates against mirrord's schema and builds the Config; env is the MIRRORD_* environment to apply
// on top (as mirrord does, environment variables win over the file).
Result<Config> build_config(const nlohmann::json& document, const std::map<std::string, std::string>& env);
// Convenience: the file (if any) plus the process environment.
Result<Config> load_config(const std::string& path);

}  // namespace mrd::tracer
