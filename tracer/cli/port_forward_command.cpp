#include "tracer/cli/port_forward_command.hpp"

#include "tracer/remote/agent_client.hpp"
#include "tracer/syscalls/incoming_traffic.hpp"
#include "tracer/cli/session_agent.hpp"
#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <iostream>
#include <sstream>

namespace mrd::tracer {

using asio::ip::tcp;
using namespace mrd::wire;

namespace {

constexpr uint32_t kConnectTimeoutMs = 30'000;

Result<uint16_t> port_number(const std::string& text, const std::string& spec) {
    char* end = nullptr;
    unsigned long n = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end || n == 0 || n > 65535) return Error::msg("'" + text + "' in '" + spec + "' is not a port (1-65535)", EINVAL);
    return static_cast<uint16_t>(n);
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::istringstream in(text);
    for (std::string p; std::getline(in, p, sep);) parts.push_back(p);
    if (!text.empty() && text.back() == sep) parts.push_back("");
    return parts;
}

// Accepts on 127.0.0.1:local_port; each connection is made anew from the target.
co::Task<void> serve_local(tcp::acceptor& acceptor, AgentClient& agent, LocalForward forward) {
    for (;;) {
        auto [ec, socket] = co_await co::accept(acceptor);
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) continue;
        co::spawn([](AgentClient& agent, LocalForward forward, tcp::socket socket) -> co::Task<void> {
            uint64_t conn = agent.new_connection_id();
            // Registered before the connect: the target's server may speak first.
            auto bridge = std::make_shared<StreamBridge>(conn, agent.outbox(), agent.connections());
            agent.connections().add(conn, bridge);
            SocketAddress remote{forward.host, forward.remote_port};
            auto connected = reply_as<Connected>(co_await agent.call<TcpConnect>(conn, remote, kConnectTimeoutMs));
            if (!connected) {
                log::warn("port-forward ", forward.local_port, ": connecting to ", forward.host, ":", forward.remote_port,
                          " from the target: ", connected.error().message);
                agent.connections().remove(conn);
                co_return;  // the local client sees its connection closed
            }
            log::info("port-forward ", forward.local_port, ": connected to ", to_string(connected->remote));
            std::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            bridge->attach(std::move(socket));
        }(agent, forward, std::move(socket)));
    }
}

}  // namespace

Result<LocalForward> parse_local_forward(const std::string& spec) {
    auto parts = split(spec, ':');
    if (parts.size() != 2 && parts.size() != 3)
        return Error::msg("-L '" + spec + "': expected [local_port:]host:remote_port", EINVAL);
    LocalForward f;
    auto remote = port_number(parts.back(), spec);
    if (!remote) return remote.error();
    f.remote_port = *remote;
    f.host = parts[parts.size() - 2];
    if (f.host.empty()) return Error::msg("-L '" + spec + "': no host", EINVAL);
    f.local_port = f.remote_port;
    if (parts.size() == 3) {
        auto local = port_number(parts[0], spec);
        if (!local) return local.error();
        f.local_port = *local;
    }
    return f;
}

Result<RemoteForward> parse_remote_forward(const std::string& spec) {
    auto parts = split(spec, ':');
    if (parts.size() != 1 && parts.size() != 2) return Error::msg("-R '" + spec + "': expected [remote_port:]local_port", EINVAL);
    RemoteForward f;
    auto local = port_number(parts.back(), spec);
    if (!local) return local.error();
    f.local_port = f.remote_port = *local;
    if (parts.size() == 2) {
        auto remote = port_number(parts[0], spec);
        if (!remote) return remote.error();
        f.remote_port = *remote;
    }
    return f;
}

int port_forward_command(const Config& config, const std::string& agent_address, const std::vector<LocalForward>& local,
                         const std::vector<RemoteForward>& remote) {
    if (!remote.empty() && config.incoming.mode == IncomingConfig::Mode::off) {
        log::error("-R needs incoming traffic, which feature.network.incoming turns off");
        return 1;
    }
    CommandSession session(config, agent_address);
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    for (auto& f : local) {  // listening first: a port already taken here fails before any agent starts
        auto acceptor = std::make_unique<tcp::acceptor>(session.io());
        tcp::endpoint endpoint(asio::ip::address_v4::loopback(), f.local_port);
        std::error_code ec;
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            log::error("-L: listening on 127.0.0.1:", f.local_port, ": ", ec.message());
            return 1;
        }
        acceptors.push_back(std::move(acceptor));
    }
    AgentClient& agent = session.agent();
    AddressMap address_map;
    IncomingTraffic incoming(session.io(), agent, address_map, config.incoming);
    agent.on_unsolicited([&](Message& m) { incoming.on_agent_message(m); });
    session.at_end([&] {
        std::error_code ignored;
        for (auto& a : acceptors) a->close(ignored);
    });
    return session.run([&]() -> co::Task<void> {
        for (size_t i = 0; i < local.size(); ++i) {
            co::spawn(serve_local(*acceptors[i], agent, local[i]));
            std::cout << "Forwarding 127.0.0.1:" << local[i].local_port << " -> " << local[i].host << ":" << local[i].remote_port
                      << " (from the target)" << std::endl;
        }
        std::string mode = config.incoming.mode == IncomingConfig::Mode::steal ? "stolen" : "mirrored";
        for (auto& f : remote) {
            SocketAddress here{"127.0.0.1", f.local_port};  // named: a braced temporary in co_await is destroyed twice (GCC 12)
            if (auto st = co_await incoming.forward(f.remote_port, here); !st) {
                log::error("-R ", f.remote_port, ": ", st.error().message);
                co_return session.finish(1);
            }
            std::cout << "Forwarding the target's port " << f.remote_port << " -> 127.0.0.1:" << f.local_port << " (" << mode << ")"
                      << std::endl;
        }
    });
}

}  // namespace mrd::tracer
