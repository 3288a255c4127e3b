// mirrord-agent: serves a target's files, environment, DNS and network to mirrord clients.
#include "agent/guard.hpp"
#include "agent/incoming.hpp"
#include "agent/server.hpp"
#include "wire/log.hpp"
#include "wire/process_tuning.hpp"

#include <cxxopts.hpp>

#include <iostream>

using namespace mrd;

int main(int argc, char** argv) {
    cxxopts::Options options("mirrord-agent", "Serves a target process's context (files, env, DNS, network) to mirrord");
    options.add_options()
        ("listen", "where clients connect: tcp:HOST:PORT ([::] is IPv6 and IPv4) or unix:PATH (repeatable)",
            cxxopts::value<std::vector<std::string>>()->default_value("tcp:[::]:61337"))
        ("target-pid", "the target process; omit for targetless", cxxopts::value<int>())
        ("container-id", "the target container (containerd://..., cri-o://..., docker://...), found by its cgroup",
            cxxopts::value<std::string>())
        ("no-flush-connections", "do not reset connections established before a steal starts")
        ("idle-timeout", "exit after this many seconds without a session (0: never)",
            cxxopts::value<int>()->default_value("60"))
        ("log-level", "error, warn, info, debug, trace, or a RUST_LOG filter as mirrord's (warn,mirrord=debug)",
            cxxopts::value<std::string>())
        ("version", "print the version")
        ("h,help", "show this help");
    cxxopts::ParseResult args;
    try {
        args = options.parse(argc, argv);
        if (!args.unmatched().empty()) throw cxxopts::exceptions::exception("unexpected argument '" + args.unmatched()[0] + "'");
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "mirrord-agent: " << e.what() << "\n(see --help)\n";
        return 2;
    }
    if (args.count("help")) {
        std::cout << options.help() << std::endl;
        return 0;
    }
    if (args.count("version")) {
        std::cout << "mirrord-agent " << MIRRORD_VERSION << std::endl;
        return 0;
    }
    log::set_prefix("mirrord-agent");
    if (args.count("log-level")) {
        // Never a reason not to serve: what cannot be read is skipped with a warning.
        std::string skipped;
        log::set_level(log::level_from_filter(args["log-level"].as<std::string>(), log::Level::info, &skipped));
        if (!skipped.empty()) log::warn("log level: skipped '", skipped, "'");
    }
    int idle = args["idle-timeout"].as<int>();
    if (idle < 0) {
        std::cerr << "mirrord-agent: --idle-timeout must not be negative\n";
        return 2;
    }

    auto target = args.count("target-pid")     ? agent::Target::of_pid(args["target-pid"].as<int>())
                  : args.count("container-id") ? agent::Target::of_container(args["container-id"].as<std::string>())
                                               : agent::Target::targetless();
    if (!target) {
        std::cerr << "mirrord-agent: " << target.error().message << "\n";
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    tune_allocator();

    asio::io_context io;
    agent::Server server(io, std::chrono::seconds(idle));
    for (auto& spec : args["listen"].as<std::vector<std::string>>()) {
        if (auto st = server.listen(spec); !st) {
            std::cerr << "mirrord-agent: " << st.error().message << "\n";
            return 1;
        }
    }
    // Listeners exist in our own namespace; everything from here on lives in the target's.
    if (auto st = target->enter(); !st) {
        std::cerr << "mirrord-agent: " << st.error().message << "\n";
        return 1;
    }
    // Incoming traffic: redirect rules of our own, and a guard that removes them if we die.
    std::unique_ptr<agent::Incoming> incoming;
    if (target->pid()) {
        if (auto st = agent::start_guard(::getpid()); !st) log::warn(st.error().message);
        auto rules = agent::RedirectRules::create(::getpid());
        if (rules) incoming = std::make_unique<agent::Incoming>(io, std::move(*rules), !args.count("no-flush-connections"));
        else log::warn("incoming traffic unavailable: ", rules.error().message);
    }
    asio::thread_pool pool(4);  // created after entering: its threads inherit the namespaces
    agent::Resolver resolver(target->root_fd());
    agent::Context ctx{io, pool, *target, resolver, target->hostname(), incoming.get()};
    server.start(ctx);

    std::string ready = "mirrord-agent ready:";
    for (auto& a : server.addresses()) ready += " " + a;
    std::cout << ready << std::endl;  // the line launchers wait for
    log::info("serving ", target->describe(), " (hostname ", ctx.hostname, ")");
    io.run();
    if (incoming) incoming->shutdown();
    pool.join();
    return 0;
}
