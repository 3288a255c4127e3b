#include "tracer/cli/cli_options.hpp"

#include "base/log.hpp"

#include <map>
#include <set>

namespace mrd::tracer {

void add_session_options(cxxopts::Options& o) {
    o.add_options()
        ("t,target", "the target: pid/N, container/NAME, targetless (Kubernetes: pod/x, deploy/x, ...)", cxxopts::value<std::string>())
        ("n,target-namespace", "the target's namespace", cxxopts::value<std::string>())
        ("f,config-file", "mirrord.json, .toml or .yaml (alone: ./.mirrord/mirrord.json; also MIRRORD_CONFIG_FILE)",
            cxxopts::value<std::string>()->implicit_value(kDefaultConfigFile))
        ("agent", "use the agent at this address (unix:PATH or tcp:HOST:PORT) instead of starting one", cxxopts::value<std::string>())
        ("agent-fingerprint", "with a TCP --agent: the fingerprint in its ready line", cxxopts::value<std::string>())
        ("agent-identity", "with a TCP --agent: the key file (mirrord-agent --make-identity) whose fingerprint it was given",
            cxxopts::value<std::string>())
        ("a,agent-namespace", "namespace for the agent", cxxopts::value<std::string>())
        ("i,agent-image", "agent image", cxxopts::value<std::string>())
        ("l,agent-log-level", "the agent's log level (mirrord's RUST_LOG filters too)", cxxopts::value<std::string>())
        ("agent-ttl", "seconds the agent's finished Job is kept", cxxopts::value<int>())
        ("agent-startup-timeout", "seconds to wait for the agent to start", cxxopts::value<int>())
        ("reconnect-timeout", "seconds a dropped link to the agent is retried before remote calls fail (0: never; "
            "agent.reconnect_timeout, default 60)", cxxopts::value<int>())
        ("e,ephemeral-container", "run the agent as an ephemeral container")
        ("context", "kubeconfig context", cxxopts::value<std::string>())
        ("kubeconfig", "kubeconfig file", cxxopts::value<std::string>())
        ("c,accept-invalid-certificates", "do not verify the API server's certificate (=false to verify)",
            cxxopts::value<std::string>()->implicit_value("true"))
        ("no-telemetry", "no telemetry (there is none)")
        ("disable-version-check", "no version check (there is none)")
        ("log-level", "error, warn, info, debug or trace (also MIRRORD_LOG, RUST_LOG)", cxxopts::value<std::string>())
        ("h,help", "show this help");
}

Result<ParsedCommand> parse_command(cxxopts::Options& o, int argc, char** argv, int first) {
    std::set<std::string> with_value;
    std::map<std::string, std::string> optional_value;  // "-f", "--config-file" -> "config-file"
    for (const auto& group : o.groups())
        for (const auto& opt : o.group_help(group).options) {
            std::vector<std::string> names = {"--" + opt.l.front()};
            if (!opt.s.empty()) names.push_back("-" + opt.s);
            for (auto& n : names) {
                if (opt.has_implicit) optional_value[n] = opt.l.front();
                else if (!opt.is_boolean) with_value.insert(n);
            }
        }
    std::vector<std::string> ours = {argv[0]};
    ParsedCommand out;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            out.rest.assign(argv + i + 1, argv + argc);
            break;
        }
        if (a.empty() || a[0] != '-') {
            out.rest.assign(argv + i, argv + argc);
            break;
        }
        std::string name = a.substr(0, a.find('='));
        if (auto opt = optional_value.find(name); opt != optional_value.end()) {
            if (a.size() > name.size()) ours.push_back("--" + opt->second + a.substr(name.size()));
            else if (opt->second == "config-file" && i + 1 < argc && argv[i + 1][0] != '-')
                ours.push_back("--config-file=" + std::string(argv[++i]));
            else ours.push_back("--" + opt->second);
            continue;
        }
        ours.push_back(a);
        if (with_value.count(a) && i + 1 < argc) ours.push_back(argv[++i]);
    }
    std::vector<char*> args;
    for (auto& a : ours) args.push_back(a.data());
    try {
        out.options = o.parse(static_cast<int>(args.size()), args.data());
    } catch (const cxxopts::exceptions::exception& e) {
        return Error::msg(e.what(), EINVAL);
    }
    return out;
}

Status check_session_flags(const cxxopts::ParseResult& p) {
    if (p.count("log-level")) {
        log::Level level;
        if (!log::parse_level(p["log-level"].as<std::string>(), level))
            return Error::msg("unknown log level '" + p["log-level"].as<std::string>() + "'", EINVAL);
        log::set_level(level);
    }
    if (p.count("accept-invalid-certificates")) {
        std::string v = p["accept-invalid-certificates"].as<std::string>();
        if (v != "true" && v != "false") return Error::msg("--accept-invalid-certificates takes true or false, not '" + v + "'", EINVAL);
    }
    return {};
}

Result<Config> session_config(const cxxopts::ParseResult& p) {
    auto config = load_config(p.count("config-file") ? p["config-file"].as<std::string>() : "");
    if (!config) return config.error().context("invalid configuration");
    Config& c = *config;
    auto text = [&](const char* flag, std::string& field) {
        if (p.count(flag)) field = p[flag].as<std::string>();
    };
    text("target", c.target.path);
    text("target-namespace", c.target.namespace_);
    text("agent-namespace", c.agent.namespace_);
    text("agent-image", c.agent.image);
    text("agent-log-level", c.agent.log_level);
    text("context", c.kube_context);
    text("kubeconfig", c.kubeconfig);
    text("agent-fingerprint", c.agent_fingerprint);
    text("agent-identity", c.agent_identity);
    if (p.count("agent-ttl")) c.agent.ttl = p["agent-ttl"].as<int>();
    if (p.count("agent-startup-timeout")) c.agent.startup_timeout = p["agent-startup-timeout"].as<int>();
    if (p.count("reconnect-timeout")) {
        c.agent.reconnect_timeout = p["reconnect-timeout"].as<int>();
        if (c.agent.reconnect_timeout < 0) return Error::msg("--reconnect-timeout must be 0 (never) or positive", EINVAL);
    }
    if (p.count("ephemeral-container")) c.agent.ephemeral = true;
    if (p.count("accept-invalid-certificates")) c.accept_invalid_certificates = p["accept-invalid-certificates"].as<std::string>() == "true";
    return config;
}

std::string agent_flag(const cxxopts::ParseResult& parsed) { return parsed.count("agent") ? parsed["agent"].as<std::string>() : ""; }

}  // namespace mrd::tracer
