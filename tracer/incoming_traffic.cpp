#include "tracer/incoming_traffic.hpp"

#include "tracer/outgoing_policy.hpp"
#include "tracer/tracee_memory.hpp"
#include "tracer/tracee_socket.hpp"
#include "wire/address.hpp"
#include "wire/async.hpp"
#include "wire/h2.hpp"
#include "wire/http1.hpp"
#include "wire/log.hpp"
#include "wire/unique_fd.hpp"

#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>

namespace mrd::tracer {

using namespace mrd::wire;
using asio::ip::tcp;

namespace {

std::optional<std::pair<dev_t, ino_t>> socket_identity(Process& process, int fd) {
    UniqueFd dup = process.duplicate(fd);
    struct stat st{};
    if (!dup || ::fstat(dup.get(), &st) != 0) return std::nullopt;
    return std::make_pair(st.st_dev, st.st_ino);
}

// As mirrord does: the requested address if possible, else the same port on loopback (the program
// may ask for an address of the target's), else any port.
std::vector<SocketAddress> local_bind_candidates(const SocketAddress& requested, std::optional<uint16_t> fixed_port) {
    SocketAddress wanted = requested;
    if (fixed_port) wanted.port = *fixed_port;
    bool v6 = requested.ip.find(':') != std::string::npos;
    std::vector<SocketAddress> candidates = {wanted};
    if (!fixed_port) candidates.push_back({requested.ip, 0});
    if (!is_loopback(requested.ip) && !is_unspecified_or_multicast(requested.ip)) {
        std::string fallback = v6 ? "::" : "127.0.0.1";
        candidates.push_back({fallback, wanted.port});
        if (!fixed_port) candidates.push_back({fallback, 0});
    }
    return candidates;
}

// Binds the program's own socket (through a duplicate) to the first candidate that works: no probe,
// so no race with another process taking the port in between. 0, or the first attempt's -errno.
long bind_first(int socket, int family, const std::vector<SocketAddress>& candidates, SocketAddress& bound) {
    long first_error = 0;
    for (auto& candidate : candidates) {
        auto bytes = make_sockaddr(candidate, family);
        if (::bind(socket, reinterpret_cast<const sockaddr*>(bytes.data()), static_cast<socklen_t>(bytes.size())) == 0) {
            bound = candidate;
            return 0;
        }
        if (!first_error) first_error = -errno;
    }
    return first_error ? first_error : -EADDRINUSE;
}

HttpFilter leaf(const std::string& kind, const std::string& pattern) { return HttpFilter{kind, pattern, {}}; }

}  // namespace

HttpFilter http_filter_for(const HttpFilterConfig& config, uint16_t port) {
    if (config.empty() || std::find(config.ports.begin(), config.ports.end(), port) == config.ports.end()) return {};
    std::vector<HttpFilter> parts;
    if (!config.header_filter.empty()) parts.push_back(leaf("header", config.header_filter));
    if (!config.path_filter.empty()) parts.push_back(leaf("path", config.path_filter));
    if (!config.method_filter.empty()) parts.push_back(leaf("method", config.method_filter));
    for (auto [list, kind] : {std::pair{&config.all_of, "all_of"}, {&config.any_of, "any_of"}}) {
        if (list->empty()) continue;
        HttpFilter group{kind, "", {}};
        for (auto& [k, pattern] : *list) group.children.push_back(leaf(k, pattern));
        parts.push_back(group);
    }
    if (parts.size() == 1) return parts.front();
    return HttpFilter{"all_of", "", parts};
}

void IncomingTraffic::install(SyscallRouter& router) {
    router.on(SYS_bind, [this](Syscall& c) { return bind(c); });
    router.on(SYS_listen, [this](Syscall& c) { return listen(c); });
    router.on(SYS_accept, [this](Syscall& c) { return accept(c); }, 1);   // only asking for the peer
    router.on(SYS_accept4, [this](Syscall& c) { return accept(c); }, 1);
}

bool IncomingTraffic::ignored(const SocketAddress& requested, uint16_t remote_port) const {
    if (config_.mode == IncomingConfig::Mode::off || requested.port == 0) return true;
    if (config_.ignore_localhost && is_loopback(requested.ip)) return true;
    auto& ignore = config_.ignore_ports;
    if (std::find(ignore.begin(), ignore.end(), requested.port) != ignore.end()) return true;
    if (config_.ports && std::find(config_.ports->begin(), config_.ports->end(), remote_port) == config_.ports->end()) return true;
    return false;
}

co::Task<void> IncomingTraffic::bind(Syscall& call) {
    int fd = static_cast<int>(call.arg(0));
    auto requested = read_sockaddr(call.tid(), call.arg(1), call.arg(2));
    if (!requested) co_return;
    auto info = inspect_socket(*call.tracee().process, fd);
    if (!info || info->type != SOCK_STREAM || (info->domain != AF_INET && info->domain != AF_INET6)) co_return;
    uint16_t remote_port = requested->address.port;
    for (auto [local, remote] : config_.port_mapping)
        if (local == requested->address.port) remote_port = remote;
    if (ignored(requested->address, remote_port)) co_return;
    std::optional<uint16_t> fixed;
    for (auto [remote, local] : config_.listen_ports)
        if (remote == remote_port) fixed = local;

    UniqueFd socket = call.tracee().process->duplicate(fd);
    if (!socket) co_return;
    SocketAddress chosen;
    long r = bind_first(socket.get(), requested->family, local_bind_candidates(requested->address, fixed), chosen);
    call.set_result(r);
    if (r != 0) co_return;
    if (!(chosen == requested->address))
        log::info("port ", requested->address.port, " is taken here; the program listens on ", to_string(chosen), " instead");
    if (auto id = socket_identity(*call.tracee().process, fd)) bound_[*id] = Listener{requested->address, remote_port};
}

co::Task<void> IncomingTraffic::listen(Syscall& call) {
    long r = co_await call.run();
    if (r != 0) co_return;
    int fd = static_cast<int>(call.arg(0));
    auto id = socket_identity(*call.tracee().process, fd);
    if (!id) co_return;
    auto it = bound_.find(*id);
    if (it == bound_.end()) co_return;
    auto info = inspect_socket(*call.tracee().process, fd);
    if (!info || !info->local) co_return;
    SocketAddress local = *info->local;
    if (local.ip == "0.0.0.0") local.ip = "127.0.0.1";
    else if (local.ip == "::") local.ip = "::1";
    const Listener listener = it->second;
    listening_[listener.remote_port] = local;
    map_.add_local(*info->local, listener.requested);  // getsockname() shows what the program asked for
    if (subscribed_.count(listener.remote_port)) co_return;
    // The program is held until the target's traffic is on its way, so it is ready when listen() returns.
    std::string mode = config_.mode == IncomingConfig::Mode::steal ? "steal" : "mirror";
    HttpFilter filter = mode == "steal" ? http_filter_for(config_.http_filter, listener.remote_port) : HttpFilter{};
    auto reply = reply_as<PortSubscribed>(co_await agent_.call<PortSubscribe>(listener.remote_port, mode, filter));
    if (!reply) {
        log::error("port ", listener.remote_port, ": ", reply.error().message, "; the program gets no traffic from the target on it");
        co_return;
    }
    subscribed_.insert(listener.remote_port);
    log::info("port ", listener.remote_port, ": ", mode, filter.kind.empty() ? "" : " (HTTP filter)", " -> ", to_string(local));
}

co::Task<void> IncomingTraffic::accept(Syscall& call) {
    if (call.arg(2) == 0) co_return;
    auto capacity = read_value<socklen_t>(call.tid(), call.arg(2));
    if (!capacity) co_return;
    long r = co_await call.run();
    if (r < 0) co_return;
    translate_returned_address(call.tid(), call.arg(1), call.arg(2), *capacity, [this](auto& a) { return map_.remote_of(a); });
}

void IncomingTraffic::on_agent_message(Message& message) {
    if (auto* m = std::get_if<IncomingConnection>(&message)) co::spawn(deliver_connection(std::move(*m)));
    else if (auto* r = std::get_if<HttpRequest>(&message)) co::spawn(deliver_request(std::move(*r)));
}

co::Task<std::optional<tcp::socket>> IncomingTraffic::connect_to_program(uint16_t port, const SocketAddress& peer) {
    auto it = listening_.find(port);
    if (it == listening_.end()) co_return std::nullopt;
    std::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(it->second.ip, ec), it->second.port);
    tcp::socket socket(io_);
    socket.open(endpoint.protocol(), ec);
    if (!ec) ec = co_await co::connect(socket, endpoint);
    if (ec) {
        log::warn("incoming connection for port ", port, ": the program does not accept (", ec.message(), ")");
        co_return std::nullopt;
    }
    socket.set_option(tcp::no_delay(true), ec);
    map_.add_peer(from_endpoint(socket.local_endpoint(ec)), peer);  // accept() shows the real peer
    co_return std::move(socket);
}

co::Task<void> IncomingTraffic::deliver_connection(IncomingConnection message) {
    // Registered at once: the agent may send data before the local connection is up.
    auto bridge = std::make_shared<StreamBridge>(message.conn, agent_.outbox(), agent_.connections());
    agent_.connections().add(message.conn, bridge);
    auto socket = co_await connect_to_program(message.port, message.remote);
    if (!socket) co_return bridge->abort(ECONNREFUSED);
    std::error_code ec;
    SocketAddress local = from_endpoint(socket->local_endpoint(ec));
    bridge->on_release([this, local] { map_.remove_peer(local); });
    bridge->attach(std::move(*socket));
}

co::Task<void> IncomingTraffic::deliver_request(HttpRequest message) {
    if (message.version == 2) co_return co_await deliver_h2_request(std::move(message));
    std::string response;
    auto socket = co_await connect_to_program(message.port, message.remote);
    if (socket) {
        std::error_code ec;
        SocketAddress local = from_endpoint(socket->local_endpoint(ec));
        auto w = co_await co::write_all(*socket, asio::buffer(message.bytes));
        Http1Parser parser(Http1Parser::Kind::response);
        if (std::string_view(message.bytes.data(), message.bytes.size()).substr(0, 5) == "HEAD ") parser.expect_no_body();
        std::vector<char> buffer(64 * 1024);
        bool done = false;
        while (!w.error && !done) {
            auto r = co_await co::read_some(*socket, asio::buffer(buffer));
            if (r.error) {
                done = parser.finish().message_done;
                break;
            }
            for (size_t used = 0; used < r.bytes && !done;) {
                auto step = parser.feed(buffer.data() + used, r.bytes - used);
                if (step.error) {
                    response.clear();
                    done = true;
                    break;
                }
                response.append(buffer.data() + used, step.consumed);
                used += step.consumed;
                done = step.message_done;
            }
        }
        if (!done) response.clear();
        socket->close(ec);
        map_.remove_peer(local);
    }
    if (response.empty()) response = simple_http_response(502, "Bad Gateway", "mirrord: the local program did not answer\n");
    agent_.send(HttpResponse{message.conn, message.request, Bytes(response.begin(), response.end())});
}

}  // namespace mrd::tracer

namespace mrd::tracer {

// An HTTP/2 request, on a connection of its own to the program (h2c, prior knowledge).
co::Task<void> IncomingTraffic::deliver_h2_request(HttpRequest message) {
    HttpResponse response{message.conn, message.request, {}, {}, {}, {}};
    auto socket = co_await connect_to_program(message.port, message.remote);
    if (socket) {
        std::error_code ec;
        SocketAddress local = from_endpoint(socket->local_endpoint(ec));
        bool done = false;
        H2Session h2(H2Session::Role::client, {
            [&](int32_t, H2Headers headers, bool trailers, bool end) {
                (trailers ? response.trailers : response.headers) = std::move(headers);
                if (end) done = true;
            },
            [&](int32_t, const char* data, size_t n) { response.body.insert(response.body.end(), data, data + n); },
            [&](int32_t) { done = true; },
            [&](int32_t, uint32_t) { done = true; },
        });
        int32_t stream = h2.request(message.headers, message.body.empty());
        if (!message.body.empty()) {
            h2.send(stream, message.body.data(), message.body.size());
            h2.finish(stream);
        }
        std::vector<char> buffer(64 * 1024);
        while (!done) {
            std::string out = h2.take_output();
            if (!out.empty()) {
                auto w = co_await co::write_all(*socket, asio::buffer(out));
                if (w.error) break;
            }
            auto r = co_await co::read_some(*socket, asio::buffer(buffer));
            if (r.error || !h2.receive(buffer.data(), r.bytes)) break;
        }
        if (!done) response.headers.clear();
        socket->close(ec);
        map_.remove_peer(local);
    }
    if (response.headers.empty()) response.headers = {{":status", "502"}};
    agent_.send(std::move(response));
}

}  // namespace mrd::tracer
