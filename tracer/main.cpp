// mirrord: run a local program in the context of a remote target (ptrace-based).
//   mirrord exec [OPTIONS] [--] COMMAND [ARGS...]
//   mirrord verify-config FILE
//   mirrord --version
#include "tracer/cluster.hpp"
#include "tracer/completions.hpp"
#include "tracer/diagnose_command.hpp"
#include "tracer/exec_command.hpp"
#include "tracer/resolved_config.hpp"
#include "wire/log.hpp"
#include "wire/process_tuning.hpp"

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>
#include <set>

using namespace mrd;
using namespace mrd::tracer;

namespace {

constexpr const char* kUsage =
    "usage: mirrord exec [OPTIONS] [--] COMMAND [ARGS...]\n"
    "       mirrord ls [-n NAMESPACE] [-f CONFIG] [--json]\n"
    "       mirrord diagnose latency [-f CONFIG] [-t TARGET]\n"
    "       mirrord completions bash|zsh|fish\n"
    "       mirrord verify-config [--ide] [--resolved] FILE\n"
    "       mirrord --version\n"
    "Run `mirrord exec --help` for the options.\n";

constexpr const char* kDefaultConfigFile = "./.mirrord/mirrord.json";  // -f without a value, as mirrord

// mirrord 3.250's `exec` flags, short forms included, and this implementation's own.
cxxopts::Options exec_options() {
    cxxopts::Options o("mirrord exec", "Run COMMAND with the target's network, files, environment and hostname");
    o.add_options()
        ("t,target", "the target: pid/N, container/NAME, targetless (Kubernetes: pod/x, deploy/x, ...)", cxxopts::value<std::string>())
        ("n,target-namespace", "the target's namespace", cxxopts::value<std::string>())
        ("f,config-file", "mirrord.json, .toml or .yaml (alone: ./.mirrord/mirrord.json; also MIRRORD_CONFIG_FILE)",
            cxxopts::value<std::string>()->implicit_value(kDefaultConfigFile))
        ("agent", "use the agent at this address (unix:PATH or HOST:PORT) instead of starting one", cxxopts::value<std::string>())
        ("fs-mode", "local, localwithoverrides, read or write", cxxopts::value<std::string>())
        ("steal", "steal incoming traffic instead of mirroring it")
        ("no-outgoing", "outgoing traffic stays local")
        ("no-tcp-outgoing", "outgoing TCP stays local")
        ("no-udp-outgoing", "outgoing UDP stays local")
        ("no-remote-dns", "resolve names locally")
        ("s,override-env-vars-include", "remote variables to take (;-separated wildcards)", cxxopts::value<std::string>())
        ("x,override-env-vars-exclude", "remote variables to leave out (;-separated wildcards)", cxxopts::value<std::string>())
        ("env-file", "a .env file whose variables override the target's", cxxopts::value<std::string>())
        ("a,agent-namespace", "namespace for the agent", cxxopts::value<std::string>())
        ("i,agent-image", "agent image", cxxopts::value<std::string>())
        ("l,agent-log-level", "the agent's log level (mirrord's RUST_LOG filters too)", cxxopts::value<std::string>())
        ("agent-ttl", "seconds the agent's finished Job is kept", cxxopts::value<int>())
        ("agent-startup-timeout", "seconds to wait for the agent to start", cxxopts::value<int>())
        ("e,ephemeral-container", "run the agent as an ephemeral container")
        ("context", "kubeconfig context", cxxopts::value<std::string>())
        ("kubeconfig", "kubeconfig file", cxxopts::value<std::string>())
        ("c,accept-invalid-certificates", "do not verify the API server's certificate (=false to verify)",
            cxxopts::value<std::string>()->implicit_value("true"))
        ("k,key", "a name for this session (mirrord's operator uses it; ignored here)", cxxopts::value<std::string>())
        ("skip-processes", "processes mirrord would leave local (ignored here)", cxxopts::value<std::string>())
        ("no-telemetry", "no telemetry (there is none)")
        ("disable-version-check", "no version check (there is none)")
        ("gdbserver", "serve the GDB remote protocol on HOST:PORT (the program waits for gdb)", cxxopts::value<std::string>())
        ("gdb", "debug the program with gdb in this terminal")
        ("log-level", "error, warn, info, debug or trace (also MIRRORD_LOG, RUST_LOG)", cxxopts::value<std::string>())
        ("h,help", "show this help");
    return o;
}

// mirrord's CLI takes the program as the first non-option argument; everything from there (or
// after "--") belongs to the program. Options with an optional value are rewritten as
// "--name=value" or "--name": -c takes one only with "=" (as mirrord's require_equals); -f also
// takes the next argument when it is not an option (as clap's optional values do).
std::pair<std::vector<std::string>, std::vector<std::string>> split_command(int argc, char** argv, const cxxopts::Options& o,
                                                                            int first = 2) {
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
    std::vector<std::string> ours = {argv[0]}, command;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            command.assign(argv + i + 1, argv + argc);
            break;
        }
        if (a.empty() || a[0] != '-') {
            command.assign(argv + i, argv + argc);
            break;
        }
        std::string name = a.substr(0, a.find('='));
        if (auto opt = optional_value.find(name); opt != optional_value.end()) {
            if (a.size() > name.size()) ours.push_back("--" + opt->second + a.substr(name.size()));
            else if (opt->second == "config-file" && i + 1 < argc && argv[i + 1][0] != '-' && std::string(argv[i + 1]) != "--")
                ours.push_back("--config-file=" + std::string(argv[++i]));
            else ours.push_back("--" + opt->second);
            continue;
        }
        ours.push_back(a);
        if (with_value.count(a) && i + 1 < argc) ours.push_back(argv[++i]);
    }
    return {ours, command};
}

cxxopts::Options ls_options() {
    cxxopts::Options o("mirrord ls", "List the targets of a namespace");
    o.add_options()("n,namespace", "namespace", cxxopts::value<std::string>())
        ("f,config-file", "config file (alone: ./.mirrord/mirrord.json)", cxxopts::value<std::string>()->implicit_value(kDefaultConfigFile))
        ("context", "kubeconfig context", cxxopts::value<std::string>())("kubeconfig", "kubeconfig file", cxxopts::value<std::string>())
        ("c,accept-invalid-certificates", "do not verify the API server's certificate", cxxopts::value<std::string>()->implicit_value("true"))
        ("json", "print a JSON list")("h,help", "help");
    return o;
}

cxxopts::Options diagnose_options() {
    cxxopts::Options o("mirrord diagnose latency", "Round trips to the target's agent: min, max, average");
    o.add_options()
        ("f,config-file", "config file (alone: ./.mirrord/mirrord.json)", cxxopts::value<std::string>()->implicit_value(kDefaultConfigFile))
        ("t,target", "the target (else the config's)", cxxopts::value<std::string>())
        ("n,target-namespace", "the target's namespace", cxxopts::value<std::string>())
        ("agent", "an agent's address instead of starting one", cxxopts::value<std::string>())
        ("h,help", "help");
    return o;
}

Result<bool> boolean_flag(const std::string& flag, const std::string& value) {
    if (value == "true") return true;
    if (value == "false") return false;
    return Error::msg("--" + flag + " takes true or false, not '" + value + "'", EINVAL);
}

// mirrord's output: {"type": "Success", "config": {target}, "warnings", "compatible_target_types",
// "resolved_config" (--resolved)} or {"type": "Fail", "errors"}. --ide is mirrord's IDE mode, where
// an empty target is not final: nothing here depends on it.
int verify_config(int argc, char** argv) {
    std::string path;
    bool resolved = false;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--resolved") resolved = true;
        else if (a == "--ide") continue;
        else if (a.rfind("-", 0) != 0 && path.empty()) path = a;
        else {
            std::cerr << "usage: mirrord verify-config [--ide] [--resolved] FILE\n";
            return 2;
        }
    }
    if (path.empty()) {
        std::cerr << "usage: mirrord verify-config [--ide] [--resolved] FILE\n";
        return 2;
    }
    auto config = load_config(path);
    nlohmann::json out;
    if (!config) {
        out = {{"type", "Fail"}, {"errors", {config.error().message}}};
        std::cout << out.dump(2) << std::endl;
        return 1;
    }
    out = {{"type", "Success"},
           {"config", {{"path", target_object(config->target.path)},
                       {"namespace", config->target.namespace_.empty() ? nlohmann::json() : nlohmann::json(config->target.namespace_)}}},
           {"warnings", config->warnings},
           {"compatible_target_types", {"targetless", "pod", "deployment", "rollout", "job", "cronjob", "statefulset", "service",
                                        "replicaset"}}};
    if (resolved) out["resolved_config"] = resolved_config(*config);
    std::cout << out.dump(2) << std::endl;
    return 0;
}

// `mirrord diagnose latency [-f [FILE]] [-t TARGET] [-n NS] [--agent ADDR]`.
int diagnose(int argc, char** argv) {
    if (argc < 3 || std::string(argv[2]) != "latency") {
        std::cerr << "usage: mirrord diagnose latency [-f [CONFIG]] [-t TARGET] [-n NAMESPACE] [--agent ADDRESS]\n";
        return 2;
    }
    auto o = diagnose_options();
    auto [ours, rest] = split_command(argc, argv, o, 3);
    if (!rest.empty()) {
        std::cerr << "mirrord diagnose latency: unexpected argument '" << rest[0] << "'\n";
        return 2;
    }
    std::vector<char*> args;
    for (auto& a : ours) args.push_back(a.data());
    cxxopts::ParseResult p;
    try {
        p = o.parse(static_cast<int>(args.size()), args.data());
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "mirrord diagnose latency: " << e.what() << "\n";
        return 2;
    }
    if (p.count("help")) {
        std::cout << o.help() << std::endl;
        return 0;
    }
    auto config = load_config(p.count("config-file") ? p["config-file"].as<std::string>() : "");
    if (!config) {
        std::cerr << "mirrord: invalid configuration: " << config.error().message << "\n";
        return 1;
    }
    if (p.count("target")) config->target.path = p["target"].as<std::string>();
    if (p.count("target-namespace")) config->target.namespace_ = p["target-namespace"].as<std::string>();
    return diagnose_latency(*config, p.count("agent") ? p["agent"].as<std::string>() : "");
}

int ls(int argc, char** argv) {
    auto o = ls_options();
    auto [ours, rest] = split_command(argc, argv, o);
    if (!rest.empty()) {
        std::cerr << "mirrord ls: unexpected argument '" << rest[0] << "'\n";
        return 2;
    }
    std::vector<char*> args;
    for (auto& a : ours) args.push_back(a.data());
    cxxopts::ParseResult p;
    try {
        p = o.parse(static_cast<int>(args.size()), args.data());
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "mirrord ls: " << e.what() << "\n";
        return 2;
    }
    if (p.count("help")) {
        std::cout << o.help() << std::endl;
        return 0;
    }
    auto config = load_config(p.count("config-file") ? p["config-file"].as<std::string>() : "");
    if (!config) {
        std::cerr << "mirrord: invalid configuration: " << config.error().message << "\n";
        return 1;
    }
    if (p.count("namespace")) config->target.namespace_ = p["namespace"].as<std::string>();
    if (p.count("context")) config->kube_context = p["context"].as<std::string>();
    if (p.count("kubeconfig")) config->kubeconfig = p["kubeconfig"].as<std::string>();
    if (p.count("accept-invalid-certificates")) {
        auto accept = boolean_flag("accept-invalid-certificates", p["accept-invalid-certificates"].as<std::string>());
        if (!accept) {
            std::cerr << "mirrord ls: " << accept.error().message << "\n";
            return 2;
        }
        config->accept_invalid_certificates = *accept;
    }
    return list_targets_command(*config, p.count("json") > 0);
}

int exec(int argc, char** argv) {
    auto options = exec_options();
    auto [ours, command] = split_command(argc, argv, options);
    std::vector<char*> args;
    for (auto& a : ours) args.push_back(a.data());
    cxxopts::ParseResult parsed;
    try {
        parsed = options.parse(static_cast<int>(args.size()), args.data());
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "mirrord exec: " << e.what() << "\n";
        return 2;
    }
    if (parsed.count("help")) {
        std::cout << options.help() << "\nEverything after the options (or after --) is the command.\n";
        return 0;
    }
    if (parsed.count("log-level")) {
        log::Level level;
        if (!log::parse_level(parsed["log-level"].as<std::string>(), level)) {
            std::cerr << "mirrord exec: unknown log level '" << parsed["log-level"].as<std::string>() << "'\n";
            return 2;
        }
        log::set_level(level);
    }
    if (command.empty()) {
        std::cerr << "mirrord exec: no command given\n" << kUsage;
        return 2;
    }
    auto config = load_config(parsed.count("config-file") ? parsed["config-file"].as<std::string>() : "");
    if (!config) {
        std::cerr << "mirrord: invalid configuration: " << config.error().message << "\n";
        return 1;
    }
    Config& c = *config;
    // Flags win over the environment and the file.
    if (parsed.count("target")) c.target.path = parsed["target"].as<std::string>();
    if (parsed.count("target-namespace")) c.target.namespace_ = parsed["target-namespace"].as<std::string>();
    if (parsed.count("fs-mode")) {
        nlohmann::json doc = {{"feature", {{"fs", parsed["fs-mode"].as<std::string>()}}}};
        auto fs = build_config(doc, {});
        if (!fs) {
            std::cerr << "mirrord exec: --fs-mode: " << fs.error().message << "\n";
            return 2;
        }
        c.fs.mode = fs->fs.mode;
    }
    if (parsed.count("steal")) c.incoming.mode = IncomingConfig::Mode::steal;
    if (parsed.count("no-outgoing")) c.outgoing.tcp = c.outgoing.udp = false;
    if (parsed.count("no-tcp-outgoing")) c.outgoing.tcp = false;
    if (parsed.count("no-udp-outgoing")) c.outgoing.udp = false;
    if (parsed.count("no-remote-dns")) c.dns.enabled = false;
    auto list = [](const std::string& text) {
        std::vector<std::string> out;
        std::istringstream in(text);
        for (std::string item; std::getline(in, item, ';');) if (!item.empty()) out.push_back(item);
        return out;
    };
    if (parsed.count("override-env-vars-include")) c.env.include = list(parsed["override-env-vars-include"].as<std::string>());
    if (parsed.count("override-env-vars-exclude")) c.env.exclude = list(parsed["override-env-vars-exclude"].as<std::string>());
    if (!c.env.include.empty() && !c.env.exclude.empty()) {
        std::cerr << "mirrord exec: use either include or exclude for environment variables, not both\n";
        return 2;
    }
    if (parsed.count("agent-namespace")) c.agent.namespace_ = parsed["agent-namespace"].as<std::string>();
    if (parsed.count("agent-image")) c.agent.image = parsed["agent-image"].as<std::string>();
    if (parsed.count("agent-log-level")) c.agent.log_level = parsed["agent-log-level"].as<std::string>();
    if (parsed.count("context")) c.kube_context = parsed["context"].as<std::string>();
    if (parsed.count("kubeconfig")) c.kubeconfig = parsed["kubeconfig"].as<std::string>();
    if (parsed.count("accept-invalid-certificates")) {
        auto accept = boolean_flag("accept-invalid-certificates", parsed["accept-invalid-certificates"].as<std::string>());
        if (!accept) {
            std::cerr << "mirrord exec: " << accept.error().message << "\n";
            return 2;
        }
        c.accept_invalid_certificates = *accept;
    }
    if (parsed.count("ephemeral-container")) c.agent.ephemeral = true;
    if (parsed.count("env-file")) c.env.env_file = parsed["env-file"].as<std::string>();
    if (parsed.count("agent-ttl")) c.agent.ttl = parsed["agent-ttl"].as<int>();
    if (parsed.count("agent-startup-timeout")) c.agent.startup_timeout = parsed["agent-startup-timeout"].as<int>();
    for (const char* ignored : {"key", "skip-processes"})
        if (parsed.count(ignored)) c.warnings.push_back(std::string("--") + ignored + " is a mirrord setting this implementation ignores");

    ExecOptions exec{c, parsed.count("agent") ? parsed["agent"].as<std::string>() : "", command,
                     parsed.count("gdbserver") ? parsed["gdbserver"].as<std::string>() : "", parsed.count("gdb") > 0};
    exit_like(exec_command(exec));
}

}  // namespace

int main(int argc, char** argv) {
    log::set_prefix("mirrord");
    tune_allocator();
    if (argc < 2) {
        std::cerr << kUsage;
        return 2;
    }
    std::string sub = argv[1];
    if (sub == "exec") return exec(argc, argv);
    if (sub == "verify-config") return verify_config(argc, argv);
    if (sub == "ls") return ls(argc, argv);
    if (sub == "diagnose") return diagnose(argc, argv);
    if (sub == "completions") {
        auto exec = exec_options(), list = ls_options(), diag = diagnose_options();
        std::string script = argc == 3 ? completion_script(argv[2], {{"exec", &exec}, {"ls", &list}, {"diagnose", &diag},
                                                                      {"verify-config", nullptr}, {"completions", nullptr}})
                                       : "";
        if (script.empty()) {
            std::cerr << "usage: mirrord completions bash|zsh|fish\n";
            return 2;
        }
        std::cout << script;
        return 0;
    }
    if (sub == "--version" || sub == "version") {
        std::cout << "mirrord " << MIRRORD_VERSION << " (ptrace)" << std::endl;
        return 0;
    }
    if (sub == "-h" || sub == "--help" || sub == "help") {
        std::cout << kUsage;
        return 0;
    }
    std::cerr << "mirrord: unknown command '" << sub << "'\n" << kUsage;
    return 2;
}
