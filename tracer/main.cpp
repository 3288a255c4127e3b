// mirrord: run a local program in the context of a remote target (ptrace-based).
//   mirrord exec [OPTIONS] [--] COMMAND [ARGS...]
//   mirrord verify-config FILE
//   mirrord --version
#include "tracer/cluster.hpp"
#include "tracer/exec_command.hpp"
#include "wire/log.hpp"
#include "wire/process_tuning.hpp"

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <set>

using namespace mrd;
using namespace mrd::tracer;

namespace {

constexpr const char* kUsage =
    "usage: mirrord exec [OPTIONS] [--] COMMAND [ARGS...]\n"
    "       mirrord ls [-n NAMESPACE] [-f CONFIG] [--json]\n"
    "       mirrord verify-config FILE\n"
    "       mirrord --version\n"
    "Run `mirrord exec --help` for the options.\n";

cxxopts::Options exec_options() {
    cxxopts::Options o("mirrord exec", "Run COMMAND with the target's network, files, environment and hostname");
    o.add_options()
        ("t,target", "the target: pid/N, container/NAME, targetless (Kubernetes: pod/x, deploy/x, ...)", cxxopts::value<std::string>())
        ("n,target-namespace", "the target's namespace", cxxopts::value<std::string>())
        ("f,config-file", "mirrord.json, .toml or .yaml", cxxopts::value<std::string>())
        ("agent", "use the agent at this address (unix:PATH or HOST:PORT) instead of starting one", cxxopts::value<std::string>())
        ("fs-mode", "local, localwithoverrides, read or write", cxxopts::value<std::string>())
        ("steal", "steal incoming traffic instead of mirroring it")
        ("no-outgoing", "outgoing traffic stays local")
        ("no-tcp-outgoing", "outgoing TCP stays local")
        ("no-udp-outgoing", "outgoing UDP stays local")
        ("no-remote-dns", "resolve names locally")
        ("override-env-vars-include", "remote variables to take (;-separated wildcards)", cxxopts::value<std::string>())
        ("override-env-vars-exclude", "remote variables to leave out (;-separated wildcards)", cxxopts::value<std::string>())
        ("a,agent-namespace", "namespace for the agent", cxxopts::value<std::string>())
        ("i,agent-image", "agent image", cxxopts::value<std::string>())
        ("l,agent-log-level", "the agent's log level", cxxopts::value<std::string>())
        ("context", "kubeconfig context", cxxopts::value<std::string>())
        ("kubeconfig", "kubeconfig file", cxxopts::value<std::string>())
        ("accept-invalid-certificates", "do not verify the API server's certificate")
        ("ephemeral-container", "run the agent as an ephemeral container")
        ("gdbserver", "serve the GDB remote protocol on HOST:PORT (the program waits for gdb)", cxxopts::value<std::string>())
        ("gdb", "debug the program with gdb in this terminal")
        ("log-level", "error, warn, info, debug or trace (also MIRRORD_LOG)", cxxopts::value<std::string>())
        ("h,help", "show this help");
    return o;
}

// mirrord's CLI takes the program as the first non-option argument; everything from there (or
// after "--") belongs to the program.
std::pair<std::vector<std::string>, std::vector<std::string>> split_command(int argc, char** argv, const cxxopts::Options& o) {
    std::set<std::string> with_value;
    for (const auto& group : o.groups())
        for (const auto& opt : o.group_help(group).options)
            if (!opt.is_boolean) {
                with_value.insert("--" + opt.l.front());
                if (!opt.s.empty()) with_value.insert("-" + opt.s);
            }
    std::vector<std::string> ours = {argv[0]}, command;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            command.assign(argv + i + 1, argv + argc);
            break;
        }
        if (a.empty() || a[0] != '-') {
            command.assign(argv + i, argv + argc);
            break;
        }
        ours.push_back(a);
        if (with_value.count(a) && a.find('=') == std::string::npos && i + 1 < argc) ours.push_back(argv[++i]);
    }
    return {ours, command};
}

int verify_config(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: mirrord verify-config FILE\n";
        return 2;
    }
    auto config = load_config(argv[2]);
    nlohmann::json out;
    if (config) {
        out = {{"type", "Success"}, {"warnings", config->warnings}};
        std::cout << out.dump(2) << std::endl;
        return 0;
    }
    out = {{"type", "Fail"}, {"errors", {config.error().message}}};
    std::cout << out.dump(2) << std::endl;
    return 1;
}

int ls(int argc, char** argv) {
    cxxopts::Options o("mirrord ls", "List the targets of a namespace");
    o.add_options()("n,namespace", "namespace", cxxopts::value<std::string>())("f,config-file", "config file", cxxopts::value<std::string>())
        ("context", "kubeconfig context", cxxopts::value<std::string>())("kubeconfig", "kubeconfig file", cxxopts::value<std::string>())
        ("accept-invalid-certificates", "do not verify the API server's certificate")("json", "print a JSON list")("h,help", "help");
    cxxopts::ParseResult p;
    try {
        p = o.parse(argc - 1, argv + 1);
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
    if (p.count("accept-invalid-certificates")) config->accept_invalid_certificates = true;
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
    if (parsed.count("accept-invalid-certificates")) c.accept_invalid_certificates = true;
    if (parsed.count("ephemeral-container")) c.agent.ephemeral = true;

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
