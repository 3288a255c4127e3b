#include "tracer/syscalls/incoming_traffic.hpp"

#include "tracer/remote/session_report.hpp"

#include "tracer/policy/outgoing_policy.hpp"
#include "tracer/syscalls/socket_wait.hpp"
#include "tracer/ptrace/tracee_memory.hpp"
#include "tracer/syscalls/tracee_socket.hpp"
#include "wire/address.hpp"
#include "base/async.hpp"
#include "http/h2.hpp"
#include "http/http1.hpp"
#include "base/log.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>

namespace mrd::tracer {

using namespace mrd::wire;
using namespace mrd::http;
using asio::ip::tcp;

namespace {

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
// so no race with another process taking the port in between. SO_REUSEADDR is off meanwhile: with
// it, two sessions could both bind the port, and the second would fail in listen() where no other
// candidate can be tried. 0, or the first attempt's -errno.
long bind_first(int socket, int family, const std::vector<SocketAddress>& candidates, SocketAddress& bound) {
    int reuse = 0, off = 0;
    socklen_t len = sizeof reuse;
    ::getsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, &len);
    if (reuse) ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &off, sizeof off);
    struct Restore {
        int socket, reuse;
        ~Restore() {
            if (reuse) ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
        }
    } restore{socket, reuse};
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
    router.on(SYS_bind, [this](Call& c) { return bind(c); });
    router.on(SYS_listen, [this](Call& c) { return listen(c); });
    // Every accept: the program must see the real peer, and may be given the stolen socket itself.
    router.on(SYS_accept, [this](Call& c) { return accept(c); });
    router.on(SYS_accept4, [this](Call& c) { return accept(c); });
}

bool IncomingTraffic::ignored(const SocketAddress& requested, uint16_t remote_port) const {
    if (config_.mode == IncomingConfig::Mode::off || requested.port == 0) return true;
    if (config_.ignore_localhost && is_loopback(requested.ip)) return true;
    auto& ignore = config_.ignore_ports;
    if (std::find(ignore.begin(), ignore.end(), requested.port) != ignore.end()) return true;
    if (config_.ports && std::find(config_.ports->begin(), config_.ports->end(), remote_port) == config_.ports->end()) return true;
    return false;
}

co::Task<Verdict> IncomingTraffic::bind(Call& call) {
    auto requested = read_sockaddr(call.tid(), call.arg(1), call.arg(2));
    if (!requested) co_return Verdict::local();
    UniqueFd socket = call.duplicate(call.fd_arg(0));
    auto info = socket ? inspect_socket(socket.get()) : std::nullopt;
    if (!info || info->type != SOCK_STREAM || (info->domain != AF_INET && info->domain != AF_INET6)) co_return Verdict::local();
    uint16_t remote_port = requested->address.port;
    for (auto [local, remote] : config_.port_mapping)
        if (local == requested->address.port) remote_port = remote;
    if (ignored(requested->address, remote_port)) co_return Verdict::local();
    std::optional<uint16_t> fixed;
    for (auto [remote, local] : config_.listen_ports)
        if (remote == remote_port) fixed = local;

    SocketAddress chosen;
    long r = bind_first(socket.get(), requested->family, local_bind_candidates(requested->address, fixed), chosen);
    if (r != 0) co_return Verdict::result(r);
    if (!(chosen == requested->address))
        log::info("port ", requested->address.port, " is taken here; the program listens on ", to_string(chosen), " instead");
    bound_[socket_id(socket.get())] = Listener{requested->address, remote_port};
    co_return Verdict::result(0);
}

co::Task<Verdict> IncomingTraffic::listen(Call& call) {
    UniqueFd socket = call.duplicate(call.fd_arg(0));
    if (!socket) co_return Verdict::local();
    auto it = bound_.find(socket_id(socket.get()));
    if (it == bound_.end()) co_return Verdict::local();
    long r = kernel_result(::listen(socket.get(), static_cast<int>(call.arg(1))));
    if (r != 0) co_return Verdict::result(r);
    auto info = inspect_socket(socket.get());
    if (!info || !info->local) co_return Verdict::result(0);
    SocketAddress local = *info->local;
    if (local.ip == "0.0.0.0") local.ip = "127.0.0.1";
    else if (local.ip == "::") local.ip = "::1";
    const Listener listener = it->second;
    listening_[listener.remote_port] = local;
    watched_.push_back({call.shared_process(), call.fd_arg(0), socket_id(socket.get()), listener.remote_port});
    if (!watching_) watch_listeners();
    map_.add_local(*info->local, listener.requested);  // getsockname() shows what the program asked for
    if (subscribed_.count(listener.remote_port)) co_return Verdict::result(0);
    // The program is held until the target's traffic is on its way, so it is ready when listen() returns.
    if (auto st = co_await subscribe(listener.remote_port, local, true); !st)
        log::error("port ", listener.remote_port, ": ", st.error().message, "; the program gets no traffic from the target on it");
    co_return Verdict::result(0);
}

co::Task<Status> IncomingTraffic::forward(uint16_t remote_port, const SocketAddress& local) {
    listening_[remote_port] = local;
    co_return co_await subscribe(remote_port, local, false);
}

co::Task<Status> IncomingTraffic::subscribe(uint16_t remote_port, const SocketAddress& local, bool program) {
    std::string mode = config_.mode == IncomingConfig::Mode::steal ? "steal" : "mirror";
    // Mirror mode filters too (which requests are copied), as mirrord's http_filter does.
    HttpFilter filter = http_filter_for(config_.http_filter, remote_port);
    // A program's listener can take stolen connections' own sockets from a local agent (accept()
    // installs them), of its own address family; a forward to an address without a program relays.
    int32_t pass_family = !program || !agent_.passes_fds() ? 0 : local.ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    auto reply = reply_as<PortSubscribed>(co_await agent_.call<PortSubscribe>(remote_port, mode, filter, pass_family));
    if (!reply) co_return reply.error();
    subscribed_.insert(remote_port);
    log::info("port ", remote_port, ": ", mode, filter.kind.empty() ? "" : " (HTTP filter)", " -> ", to_string(local));
    co_return Status{};
}

co::Task<Verdict> IncomingTraffic::accept(Call& call) {
    // Connections the supervisor delivers come from its own sockets: the program must see the real
    // peer, so the supervisor accepts for it and installs the new socket.
    UniqueFd listener = call.duplicate(call.fd_arg(0));
    if (!listener || !bound_.count(socket_id(listener.get()))) co_return Verdict::local();
    auto capacity = call.arg(2) ? call.read<socklen_t>(call.arg(2)) : std::optional<socklen_t>(0);
    if (!capacity) co_return Verdict::local();  // EFAULT from the kernel
    int flags = call.nr() == SYS_accept4 ? static_cast<int>(call.arg(3)) : 0;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) co_return Verdict::local();  // EINVAL from the kernel
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    UniqueFd accepted;
    for (;;) {
        // Never blocking here (another thread of the program may take the connection first): the
        // listener is non-blocking for the moment of this accept.
        int fl = ::fcntl(listener.get(), F_GETFL);
        bool nonblocking = fl >= 0 && (fl & O_NONBLOCK);
        if (!nonblocking) ::fcntl(listener.get(), F_SETFL, fl | O_NONBLOCK);
        peer_len = sizeof peer;
        accepted.reset(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC | (flags & SOCK_NONBLOCK)));
        int error = errno;
        if (!nonblocking) ::fcntl(listener.get(), F_SETFL, fl);
        if (accepted) break;
        if (error != EAGAIN || nonblocking) co_return Verdict::error(error);
        auto ready = co_await wait_ready(io_, call, listener.get(), false, socket_timeout(listener.get(), SO_RCVTIMEO));
        if (ready == Readiness::timed_out) co_return Verdict::error(EAGAIN);
        if (ready == Readiness::abandoned) co_return Verdict::error(EINTR);  // nobody hears it; a restart asks anew
    }
    auto seen = from_sockaddr(reinterpret_cast<sockaddr*>(&peer), peer_len);
    auto real = seen ? map_.remote_of(*seen) : std::nullopt;
    auto name = real ? make_sockaddr(*real, peer.ss_family) : std::vector<char>();
    if (name.empty()) name.assign(reinterpret_cast<char*>(&peer), reinterpret_cast<char*>(&peer) + peer_len);
    if (call.arg(1) && !write_sockaddr_result(call.tid(), call.arg(1), call.arg(2), *capacity, name)) co_return Verdict::error(EFAULT);
    if (seen) take_handover(*seen, accepted);
    co_return Verdict::install(std::move(accepted), (flags & SOCK_CLOEXEC) != 0);
}

void IncomingTraffic::watch_listeners() {
    watching_ = true;
    watch_timer_.expires_after(std::chrono::seconds(1));
    watch_timer_.async_wait([this](std::error_code ec) {
        if (ec) return;
        check_listeners();
        if (watched_.empty()) watching_ = false;
        else watch_listeners();
    });
}

void IncomingTraffic::check_listeners() {
    std::set<uint16_t> closed;
    for (auto it = watched_.begin(); it != watched_.end();) {
        if (same_socket(*it->process, it->fd, it->socket)) {
            ++it;
            continue;
        }
        closed.insert(it->remote_port);
        bound_.erase(it->socket);
        it = watched_.erase(it);
    }
    for (uint16_t port : closed) {
        bool still = std::any_of(watched_.begin(), watched_.end(), [port](const Watched& w) { return w.remote_port == port; });
        if (still) continue;
        listening_.erase(port);
        if (subscribed_.erase(port)) co::spawn(unsubscribe(port));
    }
}

co::Task<void> IncomingTraffic::unsubscribe(uint16_t port) {
    log::info("port ", port, ": the program closed its listener; the target's traffic goes to its own app again");
    auto done = co_await agent_.call<PortUnsubscribe>(port);
    if (auto* e = std::get_if<ErrorReply>(&done)) log::warn("port ", port, ": unsubscribing: ", e->message);
}

void IncomingTraffic::on_agent_message(Message& message) {
    if (auto* m = std::get_if<IncomingConnection>(&message)) co::spawn(deliver_connection(std::move(*m)));
    else if (auto* p = std::get_if<ProgramConnect>(&message)) co::spawn(give_program_connection(std::move(*p)));
    else if (auto* r = std::get_if<HttpRequest>(&message)) {
        if (!r->mirrored) return co::spawn(deliver_request(std::move(*r)));  // the agent waits for each answer
        if (copies_waiting_ >= kMaxWaitingCopies) {
            if (copies_dropped_++ % kMaxWaitingCopies == 0)
                log::warn("mirror: the program is ", kMaxWaitingCopies, " requests behind the target's traffic; copies are dropped (",
                          copies_dropped_, " so far)");
            return;
        }
        ++copies_waiting_;
        auto& waiting = mirrored_[r->conn];
        waiting.push_back(std::move(*r));
        if (waiting.size() == 1) co::spawn(deliver_mirrored(waiting.front().conn));
    }
}

co::Task<void> IncomingTraffic::deliver_mirrored(uint64_t conn) {
    for (;;) {
        auto it = mirrored_.find(conn);
        if (it == mirrored_.end() || it->second.empty()) co_return;
        HttpRequest next = std::move(it->second.front());  // its husk stays queued: later copies wait behind it
        co_await deliver_request(std::move(next));
        --copies_waiting_;
        it = mirrored_.find(conn);
        it->second.pop_front();
        if (it->second.empty()) {
            mirrored_.erase(it);
            co_return;
        }
    }
}

co::Task<std::optional<tcp::socket>> IncomingTraffic::connect_to_program(uint16_t port, const SocketAddress& peer,
                                                                         const std::function<void(const SocketAddress&)>* called) {
    auto it = listening_.find(port);
    if (it == listening_.end()) co_return std::nullopt;
    std::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(it->second.ip, ec), it->second.port);
    tcp::socket socket(io_);
    socket.open(endpoint.protocol(), ec);
    // The port is picked by connect() by its four-tuple (IP_BIND_ADDRESS_NO_PORT): a bind() to port
    // 0 for every delivery searched the port range past every TIME_WAIT of the ones before.
    int one = 1;
    if (!ec) ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (!ec) socket.bind(tcp::endpoint(endpoint.address().is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                                                   : asio::ip::address(asio::ip::address_v4::loopback()), 0), ec);
    SocketAddress local;
    if (!ec) {
        auto connecting = co::connect(socket, endpoint);  // connect() is called here, and picks the port
        local = from_endpoint(socket.local_endpoint(ec));
        // Registered before the event loop turns, so accept() shows the real peer however soon it comes.
        if (!ec) map_.add_peer(local, peer);
        if (!ec && called) (*called)(local);
        std::error_code connected = co_await connecting;
        if (!ec) ec = connected;
    }
    if (ec) {
        map_.remove_peer(local);
        check_listeners();  // refused: perhaps closed just now, and the port goes back to the target's app
        if (listening_.count(port)) log::warn("incoming connection for port ", port, ": the program does not accept (", ec.message(), ")");
        co_return std::nullopt;
    }
    socket.set_option(tcp::no_delay(true), ec);
    co_return std::move(socket);
}

co::Task<void> IncomingTraffic::deliver_connection(IncomingConnection message) {
    session_report().record(SessionReport::Kind::incoming, message.mirror ? "mirrored connections" : "stolen connections",
                            "port " + std::to_string(message.port) + " from " + to_string(message.remote));
    if (message.passed) co_return co_await hand_over(std::move(message));
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

struct IncomingTraffic::Handover {
    std::optional<tcp::socket> knock;  // the supervisor's connection to the program's listener: makes accept() ready
    UniqueFd stolen;    // the target's connection, installed by accept() in place of knock's peer
    SocketAddress stolen_local, seen_local;  // its address in the target; the one the program is to see
};

co::Task<void> IncomingTraffic::hand_over(IncomingConnection message) {
    if (!message.fd || !message.fd->ok()) {
        log::warn("stolen connection on port ", message.port, " from ", to_string(message.remote), ": its socket did not come with it");
        co_return;
    }
    auto handover = std::make_shared<Handover>(Handover{std::nullopt, std::move(*message.fd), {}, message.local});
    if (auto info = inspect_socket(handover->stolen.get()); info && info->local) handover->stolen_local = *info->local;
    // Registered as soon as connect() is called: the program's accept() may take the connection
    // before its completion comes round here.
    SocketAddress knocking;
    // Named, not a temporary of the co_await expression (GCC 12 destroys such a lambda twice).
    std::function<void(const SocketAddress&)> registered = [this, handover, &knocking](const SocketAddress& local) {
        knocking = local;
        handovers_[to_string(local)] = handover;
    };
    auto knock = co_await connect_to_program(message.port, message.remote, &registered);
    std::string key = to_string(knocking);
    if (!knock) {  // the stolen socket closes: its peer sees the connection closed
        if (auto it = handovers_.find(key); it != handovers_.end() && it->second == handover) handovers_.erase(it);
        co_return;
    }
    handover->knock = std::move(*knock);
    // Its peer in the program closes once accept() has swapped it (or the listener is gone).
    handover->knock->async_wait(tcp::socket::wait_read, [this, key, knocking, handover](std::error_code) {
        map_.remove_peer(knocking);
        if (auto it = handovers_.find(key); it != handovers_.end() && it->second == handover) handovers_.erase(it);
    });
}

void IncomingTraffic::take_handover(const SocketAddress& seen, UniqueFd& accepted) {
    auto it = handovers_.find(to_string(seen));
    if (it == handovers_.end()) return;
    auto handover = it->second;
    handovers_.erase(it);
    UniqueFd stolen = std::move(handover->stolen);
    // As accept4 made the loopback one: its O_NONBLOCK, and the options it inherited from the listener.
    copy_socket_options(accepted.get(), stolen.get());
    // getsockname() shows the address the peer connected to, not the agent's redirect port.
    if (!handover->stolen_local.ip.empty()) map_.add_local(handover->stolen_local, handover->seen_local);
    accepted = std::move(stolen);  // the loopback connection closes: knock sees it
}

co::Task<void> IncomingTraffic::deliver_request(HttpRequest message) {
    session_report().record(SessionReport::Kind::incoming, message.mirrored ? "mirrored requests" : "stolen requests",
                            "port " + std::to_string(message.port) + " from " + message.remote.ip);
    if (message.version == 2) co_return co_await deliver_h2_request(std::move(message));
    bool head = std::string_view(message.bytes.data(), message.bytes.size()).substr(0, 5) == "HEAD ";
    // The connection to the program that the peer's connection kept alive, as the peer's own would
    // be; one the program has closed meanwhile is replaced once (nothing of the answer came yet).
    std::string response;
    bool keep = false;
    std::optional<ProgramConnection> program = take_kept(message.conn);
    for (bool kept = program.has_value();; kept = false) {
        if (!program) {
            auto socket = co_await connect_to_program(message.port, message.remote);
            if (!socket) break;
            std::error_code ec;
            SocketAddress local = from_endpoint(socket->local_endpoint(ec));
            program.emplace(ProgramConnection{std::move(*socket), local});
        }
        bool answered = co_await exchange(program->socket, message.bytes, head, response, keep);
        if (answered || !kept || !response.empty()) break;
        drop(std::move(*program));
        program.reset();
    }
    if (program) {
        if (keep && !response.empty()) keep_for(message.conn, std::move(*program));
        else drop(std::move(*program));
    }
    if (message.mirrored) co_return;  // a copy: the target's own application has answered the peer
    if (response.empty()) response = simple_http_response(502, "Bad Gateway", "mirrord: the local program did not answer\n");
    agent_.send(HttpResponse{message.conn, message.request, bytes_of(response)});
}

namespace {

// A connection given to the agent: nothing flows through here; its end (Close) lets go of its peer.
class GivenConnection : public Endpoint {
public:
    explicit GivenConnection(std::function<void()> ended) : ended_(std::move(ended)) {}
    void on_data(Bytes) override {}
    void on_window(uint32_t) override {}
    void on_eof() override {}
    void on_close(int) override {
        if (auto ended = std::exchange(ended_, nullptr)) ended();
    }

private:
    std::function<void()> ended_;
};

}  // namespace

co::Task<void> IncomingTraffic::give_program_connection(ProgramConnect request) {
    session_report().record(SessionReport::Kind::incoming, "stolen requests' connections",
                            "port " + std::to_string(request.port) + " from " + request.remote.ip);
    ProgramConnected reply{request.conn, 0, false, nullptr};
    auto socket = co_await connect_to_program(request.port, request.remote);
    if (!socket) {
        reply.error = ECONNREFUSED;
        agent_.send(std::move(reply));
        co_return;
    }
    std::error_code ec;
    SocketAddress local = from_endpoint(socket->local_endpoint(ec));
    reply.passed = true;
    reply.fd = std::make_shared<UniqueFd>(co::release_socket(*socket));
    uint64_t conn = request.conn;
    agent_.connections().add(conn, std::make_shared<GivenConnection>([this, local, conn] {
        map_.remove_peer(local);
        agent_.connections().remove(conn);
    }));
    agent_.send(std::move(reply));
}

co::Task<bool> IncomingTraffic::exchange(tcp::socket& socket, const wire::Bytes& request, bool head, std::string& response,
                                         bool& keep) {
    response.clear();
    keep = false;
    auto w = co_await co::write_all(socket, asio::buffer(request));
    if (w.error) co_return false;
    Http1Parser parser(Http1Parser::Kind::response);
    if (head) parser.expect_no_body();
    std::vector<char> buffer(64 * 1024);
    for (bool got = false;; got = true) {
        auto r = co_await co::read_some(socket, asio::buffer(buffer));
        if (r.error) {
            if (!got || !parser.finish().message_done) response.clear();
            co_return got;
        }
        for (size_t used = 0; used < r.bytes;) {
            auto step = parser.feed(buffer.data() + used, r.bytes - used);
            if (step.error) {
                response.clear();  // answered, badly: 502, not asked again
                co_return true;
            }
            response.append(buffer.data() + used, step.consumed);
            used += step.consumed;
            if (step.message_done) {
                keep = parser.keep_alive() && used == r.bytes;  // nothing unasked for after it
                co_return true;
            }
        }
    }
}

std::optional<IncomingTraffic::ProgramConnection> IncomingTraffic::take_kept(uint64_t conn) {
    auto it = kept_.find(conn);
    if (it == kept_.end()) return std::nullopt;
    ProgramConnection program = std::move(it->second.program);
    kept_.erase(it);
    return program;
}

void IncomingTraffic::keep_for(uint64_t conn, ProgramConnection program) {
    if (kept_.size() >= kMaxKept) {  // the longest idle goes
        auto oldest = std::min_element(kept_.begin(), kept_.end(), [](auto& a, auto& b) { return a.second.since < b.second.since; });
        drop(std::move(oldest->second.program));
        kept_.erase(oldest);
    }
    kept_.insert_or_assign(conn, Kept{std::move(program), std::chrono::steady_clock::now()});
    if (!sweeping_kept_) sweep_kept();
}

void IncomingTraffic::sweep_kept() {
    sweeping_kept_ = true;
    kept_timer_.expires_after(kKeptIdle);
    kept_timer_.async_wait([this](std::error_code ec) {
        sweeping_kept_ = false;
        if (ec) return;
        auto idle_since = std::chrono::steady_clock::now() - kKeptIdle;
        for (auto it = kept_.begin(); it != kept_.end();) {
            if (it->second.since > idle_since) {
                ++it;
                continue;
            }
            drop(std::move(it->second.program));
            it = kept_.erase(it);
        }
        if (!kept_.empty()) sweep_kept();
    });
}

void IncomingTraffic::drop(ProgramConnection program) {
    std::error_code ignored;
    program.socket.close(ignored);
    map_.remove_peer(program.local);
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
