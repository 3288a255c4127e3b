// mirrord: run a local program in the context of a remote target (ptrace-based).
//   mirrord exec [OPTIONS] [--] COMMAND [ARGS...]
//   mirrord port-forward [OPTIONS] -L [LOCAL:]HOST:PORT | -R [REMOTE:]LOCAL ...
//   mirrord dump [OPTIONS] -p PORT...
//   mirrord ls | diagnose latency | verify-config | completions | --version
#include "tracer/cli/cli_options.hpp"
#include "tracer/cli/cluster.hpp"
#include "tracer/cli/completions.hpp"
#include "tracer/cli/diagnose_command.hpp"
#include "tracer/cli/dump_command.hpp"
#include "tracer/cli/exec_command.hpp"
#include "tracer/gdb/lldb_server_stand_in.hpp"
#include "tracer/cli/port_forward_command.hpp"
#include "tracer/policy/resolved_config.hpp"
#include "tracer/cli/ui_command.hpp"
#include "wire/inherited_fds.hpp"
#include "base/log.hpp"
#include "wire/messages.hpp"

#include <build_info.hpp>
#include "base/process_tuning.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

using namespace mrd;
using namespace mrd::tracer;

namespace {

constexpr const char* kUsage =
    "usage: mirrord exec [OPTIONS] [--] COMMAND [ARGS...]\n"
    "       mirrord port-forward [OPTIONS] (-L [LOCAL_PORT:]HOST:REMOTE_PORT | -R [REMOTE_PORT:]LOCAL_PORT)...\n"
    "       mirrord dump [OPTIONS] -p PORT...\n"
    "       mirrord ls [-n NAMESPACE] [-f CONFIG] [--json]\n"
    "       mirrord diagnose latency [-f CONFIG] [-t TARGET]\n"
    "       mirrord completions bash|zsh|fish\n"
    "       mirrord verify-config [--ide] [--resolved] FILE\n"
    "       mirrord ui [--port PORT]\n"
    "       mirrord --version\n"
    "Run `mirrord COMMAND --help` for a command's options.\n";

// mirrord 3.250's `exec` flags, short forms included, and this implementation's own.
cxxopts::Options exec_options() {
    cxxopts::Options o("mirrord exec", "Run COMMAND with the target's network, files, environment and hostname");
    add_session_options(o);
    o.add_options()
        ("fs-mode", "local, localwithoverrides, read or write", cxxopts::value<std::string>())
        ("steal", "steal incoming traffic instead of mirroring it")
        ("no-outgoing", "outgoing traffic stays local")
        ("no-tcp-outgoing", "outgoing TCP stays local")
        ("no-udp-outgoing", "outgoing UDP stays local")
        ("no-remote-dns", "resolve names locally")
        ("s,override-env-vars-include", "remote variables to take (;-separated wildcards)", cxxopts::value<std::string>())
        ("x,override-env-vars-exclude", "remote variables to leave out (;-separated wildcards)", cxxopts::value<std::string>())
        ("env-file", "a .env file whose variables override the target's", cxxopts::value<std::string>())
        ("k,key", "a name for this session (mirrord's operator uses it; ignored here)", cxxopts::value<std::string>())
        ("skip-processes", "processes mirrord would leave local (ignored here)", cxxopts::value<std::string>())
        ("gdbserver", "serve the GDB remote protocol on HOST:PORT (the program waits for gdb)", cxxopts::value<std::string>())
        ("gdb", "debug the program with gdb in this terminal")
        ("debug-child", "debug the first process that runs a program named NAME (go run's binary, a wrapper's child) instead",
            cxxopts::value<std::string>())
        ("dlv", "COMMAND is a debugger (Delve) that starts `lldb-server gdbserver`: it runs here, and the programs it debugs run under mirrord")
        ("report", "at exit, what went to the target and what stayed here (also feature.report)")
        ("events", "write what the session does to FILE, as JSON lines, as it happens", cxxopts::value<std::string>());
    return o;
}

cxxopts::Options port_forward_options() {
    cxxopts::Options o("mirrord port-forward", "Forward local ports through the target, or the target's ports here");
    add_session_options(o);
    o.add_options()
        ("L,port-mapping", "[LOCAL_PORT:]HOST:REMOTE_PORT: 127.0.0.1:LOCAL_PORT connects from the target (repeatable)",
            cxxopts::value<std::vector<std::string>>())
        ("R,reverse-port-mapping", "[REMOTE_PORT:]LOCAL_PORT: the target's port, stolen or mirrored here (repeatable)",
            cxxopts::value<std::vector<std::string>>())
        ("steal", "-R steals instead of mirroring");
    return o;
}

cxxopts::Options dump_options() {
    cxxopts::Options o("mirrord dump", "Print the target's incoming traffic on ports (mirrored)");
    add_session_options(o);
    o.add_options()("p,ports", "a port to dump (repeatable)", cxxopts::value<std::vector<int>>());
    return o;
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
    add_session_options(o);
    return o;
}

// Parsed options, or the exit status of a usage error (2) or of --help (0).
struct Parsed {
    ParsedCommand command;
    std::optional<int> exit;
};

Parsed parse(const char* name, cxxopts::Options& options, int argc, char** argv, int first, bool takes_command = false) {
    auto parsed = parse_command(options, argc, argv, first);
    if (!parsed) {
        std::cerr << name << ": " << parsed.error().message << "\n";
        return {{}, 2};
    }
    if (parsed->options.count("help")) {
        std::cout << options.help() << std::endl;
        return {{}, 0};
    }
    if (!takes_command && !parsed->rest.empty()) {
        std::cerr << name << ": unexpected argument '" << parsed->rest[0] << "'\n";
        return {{}, 2};
    }
    if (auto st = check_session_flags(parsed->options); !st) {  // flags a command lacks count as absent
        std::cerr << name << ": " << st.error().message << "\n";
        return {{}, 2};
    }
    return {std::move(*parsed), std::nullopt};
}

// The session's configuration, or exit status 1 with the reason.
std::optional<Config> config_or_complain(const cxxopts::ParseResult& parsed) {
    auto config = session_config(parsed);
    if (!config) {
        std::cerr << "mirrord: " << config.error().message << "\n";
        return std::nullopt;
    }
    return std::move(*config);
}

std::vector<std::string> semicolon_list(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string item; std::getline(in, item, ';');)
        if (!item.empty()) out.push_back(item);
    return out;
}

int exec(int argc, char** argv) {
    auto options = exec_options();
    auto [command, exit] = parse("mirrord exec", options, argc, argv, 2, true);
    if (exit) return *exit;
    if (command.rest.empty()) {
        std::cerr << "mirrord exec: no command given\n" << kUsage;
        return 2;
    }
    auto config = config_or_complain(command.options);
    if (!config) return 1;
    const auto& p = command.options;
    Config& c = *config;
    // Flags win over the environment and the file.
    if (p.count("fs-mode")) {
        auto fs = build_config({{"feature", {{"fs", p["fs-mode"].as<std::string>()}}}}, {});
        if (!fs) {
            std::cerr << "mirrord exec: --fs-mode: " << fs.error().message << "\n";
            return 2;
        }
        c.fs.mode = fs->fs.mode;
    }
    if (p.count("steal")) c.incoming.mode = IncomingConfig::Mode::steal;
    if (p.count("no-outgoing")) c.outgoing.tcp = c.outgoing.udp = false;
    if (p.count("no-tcp-outgoing")) c.outgoing.tcp = false;
    if (p.count("no-udp-outgoing")) c.outgoing.udp = false;
    if (p.count("no-remote-dns")) c.dns.enabled = false;
    if (p.count("override-env-vars-include")) c.env.include = semicolon_list(p["override-env-vars-include"].as<std::string>());
    if (p.count("override-env-vars-exclude")) c.env.exclude = semicolon_list(p["override-env-vars-exclude"].as<std::string>());
    if (!c.env.include.empty() && !c.env.exclude.empty()) {
        std::cerr << "mirrord exec: use either include or exclude for environment variables, not both\n";
        return 2;
    }
    if (p.count("env-file")) c.env.env_file = p["env-file"].as<std::string>();
    if (p.count("report")) c.report = true;
    for (const char* ignored : {"key", "skip-processes"})
        if (p.count(ignored)) c.warnings.push_back(std::string("--") + ignored + " is a mirrord setting this implementation ignores");
    if (p.count("debug-child") && !p.count("gdb") && !p.count("gdbserver")) {
        std::cerr << "mirrord exec: --debug-child goes with --gdb or --gdbserver\n";
        return 2;
    }
    if (p.count("dlv")) {
        if (p.count("gdb") || p.count("gdbserver")) {
            std::cerr << "mirrord exec: --dlv and --gdb/--gdbserver exclude each other\n";
            return 2;
        }
        // The stand-in's programs get these same options: everything before the command but --dlv.
        std::vector<std::string> same_options(argv + 2, argv + argc - command.rest.size());
        std::erase(same_options, "--dlv");
        if (!same_options.empty() && same_options.back() == "--") same_options.pop_back();
        return run_with_lldb_server_stand_in(same_options, command.rest);
    }
    ExecOptions exec{c, agent_flag(p), command.rest, p.count("gdbserver") ? p["gdbserver"].as<std::string>() : "", p.count("gdb") > 0,
                     p.count("debug-child") ? p["debug-child"].as<std::string>() : "", p.count("events") ? p["events"].as<std::string>() : ""};
    exit_like(exec_command(exec));
}

int port_forward(int argc, char** argv) {
    auto options = port_forward_options();
    auto [command, exit] = parse("mirrord port-forward", options, argc, argv, 2);
    if (exit) return *exit;
    const auto& p = command.options;
    // Each -L and -R spec parsed, or a usage error.
    auto specs = [&](const char* flag, auto parse, auto& out) {
        if (!p.count(flag)) return true;
        for (auto& spec : p[flag].as<std::vector<std::string>>()) {
            auto f = parse(spec);
            if (!f) {
                std::cerr << "mirrord port-forward: " << f.error().message << "\n";
                return false;
            }
            out.push_back(*f);
        }
        return true;
    };
    std::vector<LocalForward> local;
    std::vector<RemoteForward> remote;
    if (!specs("port-mapping", parse_local_forward, local) || !specs("reverse-port-mapping", parse_remote_forward, remote)) return 2;
    if (local.empty() && remote.empty()) {
        std::cerr << "mirrord port-forward: give at least one -L or -R\n";
        return 2;
    }
    auto config = config_or_complain(p);
    if (!config) return 1;
    if (p.count("steal")) config->incoming.mode = IncomingConfig::Mode::steal;
    for (auto& w : config->warnings) log::warn(w);
    return port_forward_command(*config, agent_flag(p), local, remote);
}

int dump(int argc, char** argv) {
    auto options = dump_options();
    auto [command, exit] = parse("mirrord dump", options, argc, argv, 2);
    if (exit) return *exit;
    const auto& p = command.options;
    std::vector<uint16_t> ports;
    if (p.count("ports"))
        for (int port : p["ports"].as<std::vector<int>>()) {
            if (port < 1 || port > 65535) {
                std::cerr << "mirrord dump: " << port << " is not a port\n";
                return 2;
            }
            ports.push_back(static_cast<uint16_t>(port));
        }
    if (ports.empty()) {
        std::cerr << "mirrord dump: give the ports with -p PORT\n";
        return 2;
    }
    auto config = config_or_complain(p);
    if (!config) return 1;
    for (auto& w : config->warnings) log::warn(w);
    return dump_command(*config, agent_flag(p), ports);
}

// `mirrord diagnose latency [OPTIONS]`.
int diagnose(int argc, char** argv) {
    if (argc < 3 || std::string(argv[2]) != "latency") {
        std::cerr << "usage: mirrord diagnose latency [-f [CONFIG]] [-t TARGET] [-n NAMESPACE] [--agent ADDRESS]\n";
        return 2;
    }
    auto options = diagnose_options();
    auto [command, exit] = parse("mirrord diagnose latency", options, argc, argv, 3);
    if (exit) return *exit;
    auto config = config_or_complain(command.options);
    if (!config) return 1;
    return diagnose_latency(*config, agent_flag(command.options));
}

int ls(int argc, char** argv) {
    auto options = ls_options();
    auto [command, exit] = parse("mirrord ls", options, argc, argv, 2);
    if (exit) return *exit;
    const auto& p = command.options;
    auto config = load_config(p.count("config-file") ? p["config-file"].as<std::string>() : "");
    if (!config) {
        std::cerr << "mirrord: invalid configuration: " << config.error().message << "\n";
        return 1;
    }
    if (p.count("namespace")) config->target.namespace_ = p["namespace"].as<std::string>();
    if (p.count("context")) config->kube_context = p["context"].as<std::string>();
    if (p.count("kubeconfig")) config->kubeconfig = p["kubeconfig"].as<std::string>();
    if (p.count("accept-invalid-certificates")) config->accept_invalid_certificates = p["accept-invalid-certificates"].as<std::string>() == "true";
    return list_targets_command(*config, p.count("json") > 0);
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
        else path.clear(), i = argc;
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

// `mirrord ui [--port PORT]`.
int ui(int argc, char** argv) {
    cxxopts::Options o("mirrord ui", "A local web page with the live events of the running sessions");
    o.add_options()("port", "the port on 127.0.0.1 (default: a free one)", cxxopts::value<int>())("h,help", "show this help");
    auto [command, exit] = parse("mirrord ui", o, argc, argv, 2);
    if (exit) return *exit;
    int port = command.options.count("port") ? command.options["port"].as<int>() : 0;
    if (port < 0 || port > 65535) {
        std::cerr << "mirrord ui: --port must be 0-65535\n";
        return 2;
    }
    return ui_command(port);
}

int completions(int argc, char** argv) {
    auto e = exec_options(), pf = port_forward_options(), d = dump_options(), l = ls_options(), diag = diagnose_options();
    std::string script = argc == 3 ? completion_script(argv[2], {{"exec", &e}, {"port-forward", &pf}, {"dump", &d}, {"ls", &l},
                                                                 {"diagnose", &diag}, {"verify-config", nullptr}, {"ui", nullptr},
                                                                 {"completions", nullptr}})
                                   : "";
    if (script.empty()) {
        std::cerr << "usage: mirrord completions bash|zsh|fish\n";
        return 2;
    }
    std::cout << script;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    log::set_prefix("mirrord");
    wire::remember_inherited_fds();  // first: before anything of the CLI's own is open
    tune_allocator();
    if (invoked_as_lldb_server(argv[0])) return lldb_server_stand_in(argc, argv);
    if (argc < 2) {
        std::cerr << kUsage;
        return 2;
    }
    std::string sub = argv[1];
    if (sub == "exec") return exec(argc, argv);
    if (sub == "port-forward") return port_forward(argc, argv);
    if (sub == "dump") return dump(argc, argv);
    if (sub == "verify-config") return verify_config(argc, argv);
    if (sub == "ls") return ls(argc, argv);
    if (sub == "diagnose") return diagnose(argc, argv);
    if (sub == "completions") return completions(argc, argv);
    if (sub == "ui") return ui(argc, argv);
    if (sub == "--version" || sub == "version") {
        std::cout << "mirrord " << MIRRORD_VERSION << " (ptrace edition; build " << MIRRORD_GIT_DESCRIBE << "; agent protocol "
                  << wire::kProtocolVersion << ")" << std::endl;
        return 0;
    }
    if (sub == "-h" || sub == "--help" || sub == "help") {
        std::cout << kUsage;
        return 0;
    }
    std::cerr << "mirrord: unknown command '" << sub << "'\n" << kUsage;
    return 2;
}
