// mirrord-agent: serves a target's files, environment, DNS and network to mirrord clients.
#include "agent/guard.hpp"
#include "agent/incoming.hpp"
#include "agent/packet_capture.hpp"
#include "agent/privileges.hpp"
#include "agent/server.hpp"
#include "base/log.hpp"
#include "wire/messages.hpp"

#include <build_info.hpp>
#include "wire/tls_identity.hpp"
#include "base/process_tuning.hpp"

#include <cxxopts.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <optional>

using namespace mrd;

int main(int argc, char** argv) {
    cxxopts::Options options("mirrord-agent", "Serves a target process's context (files, env, DNS, network) to mirrord");
    options.add_options()
        ("listen", "where clients connect: unix:PATH, or tcp:HOST:PORT with --client-fingerprint ([::] is IPv6 and IPv4; port 0: any) (repeatable)",
            cxxopts::value<std::vector<std::string>>()->default_value("tcp:127.0.0.1:0"))
        ("client-fingerprint", "the SHA-256 fingerprint of the session's certificate: TCP clients must present it (TLS 1.3)",
            cxxopts::value<std::string>())
        ("client-uid", "the uid a unix client must run as (default: this agent's)", cxxopts::value<int>())
        ("listen-beyond-loopback", "allow TCP listeners on addresses other machines reach (clients still need the session's key)")
        ("make-identity", "write a new key and certificate (PEM) to FILE, print its fingerprint, exit", cxxopts::value<std::string>())
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
        std::cout << "mirrord-agent " << MIRRORD_VERSION << " (build " << MIRRORD_GIT_DESCRIBE << "; protocol " << wire::kProtocolVersion << ")"
                  << std::endl;
        return 0;
    }
    log::set_prefix("mirrord-agent");
    if (args.count("make-identity")) {
        auto id = wire::TlsIdentity::generate("mirrord-session");
        std::string path = args["make-identity"].as<std::string>();
        int fd = id ? ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        std::string pem = id ? id->certificate_pem + id->key_pem : "";
        if (fd < 0 || ::write(fd, pem.data(), pem.size()) != static_cast<ssize_t>(pem.size())) {
            std::cerr << "mirrord-agent: cannot write " << path << "\n";
            return 1;
        }
        ::close(fd);
        std::cout << id->fingerprint << std::endl;
        return 0;
    }
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
    if (args.count("client-uid")) server.set_client_uid(static_cast<uid_t>(args["client-uid"].as<int>()));
    if (args.count("listen-beyond-loopback")) server.allow_beyond_loopback();
    // This agent's own identity, made now; its fingerprint goes out in the ready line, which only
    // the session's user reads (the local agent's stdout, or the pod's log through the API).
    std::optional<wire::TlsIdentity> identity;
    if (args.count("client-fingerprint")) {
        auto id = wire::TlsIdentity::generate("mirrord-agent");
        if (!id) {
            std::cerr << "mirrord-agent: " << id.error().message << "\n";
            return 1;
        }
        identity = std::move(*id);
        if (auto st = server.authenticate_with(*identity, args["client-fingerprint"].as<std::string>()); !st) {
            std::cerr << "mirrord-agent: " << st.error().message << "\n";
            return 1;
        }
    }
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
        // Mirroring captures packets: the socket is made now, while the agent may.
        auto capture = agent::PacketCapture::open(io);
        if (!capture) log::warn("mirroring unavailable: ", capture.error().message);
        if (rules)
            incoming = std::make_unique<agent::Incoming>(io, std::move(*rules), capture ? std::move(*capture) : nullptr,
                                                         !args.count("no-flush-connections"));
        else log::warn("incoming traffic unavailable: ", rules.error().message);
    }
    // Inside the target now, with the redirect rules' table made: only what serving needs from here on.
    if (auto st = agent::drop_privileges(); !st) log::warn("keeping privileges: ", st.error().message);
    asio::thread_pool pool(4);  // created after entering: its threads inherit the namespaces
    agent::Resolver resolver(target->root_fd());
    agent::Context ctx{io, pool, *target, resolver, target->hostname(), incoming.get()};
    server.start(ctx);

    std::string ready = wire::kAgentReadyLine;
    for (auto& a : server.addresses()) ready += " " + a;
    if (identity) ready += " fingerprint=" + identity->fingerprint;
    std::cout << ready << std::endl;  // the line launchers wait for
    log::info("serving ", target->describe(), " (hostname ", ctx.hostname, ")");
    io.run();
    if (incoming) incoming->shutdown();
    pool.join();
    return 0;
}
