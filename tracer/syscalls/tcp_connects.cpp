#include "tracer/syscalls/tcp_connects.hpp"

#include "tracer/syscalls/socket_wait.hpp"
#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <fcntl.h>
#include <linux/filter.h>

#include <fstream>

namespace mrd::tracer {

using namespace mrd::wire;
using asio::ip::tcp;

namespace {

// The target's kernel gives up on a dropped SYN after about two minutes; so does its agent.
constexpr uint32_t kAgentConnectTimeoutMs = 130000;
// How often a pending attempt checks that the program still has its socket.
constexpr auto kWatchInterval = std::chrono::milliseconds(500);
constexpr int kTimedOut = -1;
// A local agent passes the socket it connected within kHandOverWithinMs of the request; the
// program's connect() waits that long for it (its reply's way back included), blocking or not.
constexpr uint32_t kHandOverWithinMs = 5;
constexpr auto kHandOverWait = std::chrono::milliseconds(20);

tcp::endpoint endpoint_of(const SocketAddress& a) {
    return tcp::endpoint(asio::ip::make_address(unmapped(a.ip)), a.port);
}

bool set_int_option(int fd, int level, int name, int value) { return ::setsockopt(fd, level, name, &value, sizeof value) == 0; }

void consume_socket_error(int socket) {
    int ignored = 0;
    socklen_t len = sizeof ignored;
    ::getsockopt(socket, SOL_SOCKET, SO_ERROR, &ignored, &len);
}

// Whether the program's descriptor fd is close-on-exec (its /proc fdinfo flags).
bool close_on_exec(pid_t tid, int fd) {
    std::ifstream info("/proc/" + std::to_string(tid) + "/fdinfo/" + std::to_string(fd));
    std::string key;
    unsigned long flags = 0;
    while (info >> key)
        if (key == "flags:" && info >> std::oct >> flags) break;
    return flags & O_CLOEXEC;
}

}  // namespace

struct TcpConnects::Attempt {
    explicit Attempt(asio::io_context& io) : sink(io), watch(io) {}
    std::shared_ptr<Process> process;
    int fd = -1;
    uint64_t id = 0;
    SocketAddress remote;
    SocketAddress sink_address;
    SocketAddress program_local;
    tcp::acceptor sink;       // listens, and drops every SYN it gets (a socket filter)
    asio::steady_timer watch;
    uint64_t conn = 0;
    bool done = false;
    std::vector<co::Promise<int>> waiters;
    std::optional<Message> answer;  // the agent's, once it came
    co::Promise<bool> answered;     // set once it came
    co::Promise<bool> quick;        // true: it came in time for a hand-over; false: too late
};

co::Task<Verdict> TcpConnects::connect(Call& call, UniqueFd socket, const SocketInfo& info, const SocketAddress& remote) {
    uint64_t id = socket_id(socket.get());
    if (auto failed = failed_.find(id); failed != failed_.end()) {
        int error = failed->second;  // as the kernel reports a failed connect to the next connect()
        failed_.erase(failed);
        consume_socket_error(socket.get());
        co_return Verdict::error(error);
    }
    int flags = ::fcntl(socket.get(), F_GETFL);
    bool nonblocking = flags >= 0 && (flags & O_NONBLOCK);
    if (auto it = pending_.find(id); it != pending_.end()) {
        if (nonblocking) co_return Verdict::error(EALREADY);
        co_return co_await wait(it->second, socket_timeout(socket.get(), SO_SNDTIMEO));
    }
    if (info.peer) co_return Verdict::local();  // connected already: the kernel says EISCONN

    auto attempt = std::make_shared<Attempt>(io_);
    attempt->process = call.shared_process();
    attempt->fd = call.fd_arg(0);
    attempt->id = id;
    attempt->remote = remote;
    attempt->conn = agent_.new_connection_id();
    // A local agent can pass the socket it connects in the target: the program's is replaced by it.
    int32_t pass_family = agent_.passes_fds() && (info.domain == AF_INET || info.domain == AF_INET6) ? info.domain : 0;
    co::spawn(ask(attempt, pass_family));
    if (pass_family) {
        asio::steady_timer timer(io_, kHandOverWait);
        timer.async_wait([quick = attempt->quick](std::error_code ec) {
            if (!ec) quick.set(false);
        });
        bool in_time = co_await attempt->quick.wait();
        timer.cancel();
        if (in_time) {
            auto connected = reply_as<Connected>(Message(*attempt->answer));
            if (!call.waiting()) {  // nobody hears it; a restart asks anew
                if (connected && !connected->passed) agent_.send(Close{attempt->conn, ECONNABORTED});
                co_return Verdict::error(EINTR);
            }
            // A blocking connect that failed says so; a non-blocking one says EINPROGRESS, and then
            // SO_ERROR (the sink's way below, with the answer in hand).
            if (!connected && !nonblocking) {
                log::debug("connect ", to_string(remote), ": ", connected.error().message);
                co_return Verdict::error(connected.error().code ? connected.error().code : ECONNREFUSED);
            }
            if (connected && connected->passed) co_return hand_over(call, socket.get(), *connected);
        }
    }
    // The sink's way: the program's socket waits in SYN_SENT; what goes wrong before the wait
    // leaves the agent's attempt behind, cancelled.
    auto abandon = [&](Verdict verdict) {
        agent_.send(Close{attempt->conn, ECONNABORTED});
        return verdict;
    };
    bool v6 = info.domain == AF_INET6 && remote.ip.find(':') != std::string::npos;
    tcp::endpoint sink_endpoint(v6 ? asio::ip::address(asio::ip::address_v6::loopback()) : asio::ip::address(asio::ip::address_v4::loopback()), 0);
    std::error_code ec;
    attempt->sink.open(sink_endpoint.protocol(), ec);
    sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    sock_fprog program{1, drop_all};
    int sink_fd = attempt->sink.native_handle();
    if (!ec && (!set_int_option(sink_fd, SOL_SOCKET, SO_REUSEADDR, 1) || !set_int_option(sink_fd, SOL_SOCKET, SO_REUSEPORT, 1) ||
                ::setsockopt(sink_fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0))
        ec = std::error_code(errno, std::system_category());
    if (!ec) attempt->sink.bind(sink_endpoint, ec);
    if (!ec) attempt->sink.listen(1, ec);
    if (!ec) attempt->sink_address = from_endpoint(attempt->sink.local_endpoint(ec));
    if (ec) {
        log::error("connect to ", to_string(remote), ": no loopback listener for it (", ec.message(), "); the call fails");
        co_return abandon(Verdict::error(ENOBUFS));
    }
    if (!call.waiting()) co_return abandon(Verdict::error(EINTR));  // the thread gave up (nobody hears this): leave its socket alone

    // Into SYN_SENT toward the sink, without blocking here whatever the socket's mode.
    auto sink_sockaddr = make_sockaddr(attempt->sink_address, info.domain);
    if (!nonblocking) ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK);
    int r = ::connect(socket.get(), reinterpret_cast<const sockaddr*>(sink_sockaddr.data()), static_cast<socklen_t>(sink_sockaddr.size()));
    int error = errno;
    if (!nonblocking) ::fcntl(socket.get(), F_SETFL, flags);
    if (r == 0 || error != EINPROGRESS) {
        if (r == 0) error = EIO;
        log::error("connect to ", to_string(remote), ": the program's socket cannot wait on loopback (", std::strerror(error), ")");
        co_return abandon(Verdict::error(error));
    }
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&local), &local_len);
    auto program_local = from_sockaddr(reinterpret_cast<sockaddr*>(&local), local_len);
    if (!program_local) co_return abandon(Verdict::error(EIO));
    attempt->program_local = *program_local;
    pending_[id] = attempt;
    co::spawn(run(attempt));
    if (nonblocking) co_return Verdict::error(EINPROGRESS);
    co_return co_await wait(attempt, socket_timeout(socket.get(), SO_SNDTIMEO));
}

co::Task<Verdict> TcpConnects::wait(std::shared_ptr<Attempt> attempt, std::optional<std::chrono::milliseconds> timeout) {
    co::Promise<int> outcome;
    attempt->waiters.push_back(outcome);
    std::optional<asio::steady_timer> timer;
    if (timeout) {
        timer.emplace(io_, *timeout);
        timer->async_wait([outcome](std::error_code ec) {
            if (!ec) outcome.set(kTimedOut);
        });
    }
    int error = co_await outcome.wait();
    if (timer) timer->cancel();
    if (error == kTimedOut) co_return Verdict::error(EINPROGRESS);  // still connecting, as the kernel says
    if (error == 0) co_return Verdict::result(0);
    // A blocking connect reports its error itself, and that consumes it (sock_error()).
    if (failed_.erase(attempt->id))
        if (UniqueFd socket = same_socket(*attempt->process, attempt->fd, attempt->id)) consume_socket_error(socket.get());
    co_return Verdict::error(error);
}

co::Task<void> TcpConnects::ask(std::shared_ptr<Attempt> attempt, int32_t pass_family) {
    auto answer = co_await agent_.call<TcpConnect>(attempt->conn, attempt->remote, kAgentConnectTimeoutMs, pass_family, kHandOverWithinMs);
    attempt->answer = std::move(answer);
    attempt->quick.set(true);
    attempt->answered.set(true);
}

Verdict TcpConnects::hand_over(Call& call, int program_socket, Connected& connected) {
    UniqueFd socket = connected.fd ? std::move(*connected.fd) : UniqueFd();
    if (!socket) {
        log::error("connect to ", to_string(connected.remote), ": the agent's socket did not come with its answer; the call fails");
        return Verdict::error(EIO);
    }
    copy_socket_options(program_socket, socket.get());
    log::debug("connect to ", to_string(connected.remote), ": the program has the target's socket (", to_string(connected.local), ")");
    return Verdict::replace(std::move(socket), call.fd_arg(0), close_on_exec(call.tid(), call.fd_arg(0)), 0);
}

co::Task<void> TcpConnects::run(std::shared_ptr<Attempt> attempt) {
    watch(attempt);
    co_await attempt->answered.wait();
    auto connected = reply_as<Connected>(std::move(*attempt->answer));
    if (!connected) {
        log::debug("connect ", to_string(attempt->remote), ": ", connected.error().message);
        co_return finish(*attempt, connected.error().code ? connected.error().code : ECONNREFUSED);
    }
    // Registered at once: the target's server may speak first.
    auto bridge = connected->passed ? nullptr : interceptors_.bridge_for(*connected);
    auto socket = co_await open_simultaneously(*attempt);
    if (!socket) {
        if (bridge) bridge->abort(ECONNABORTED);
        co_return finish(*attempt, socket.error().code ? socket.error().code : ECONNABORTED);
    }
    if (bridge) interceptors_.attach_tcp(bridge, std::move(*socket), attempt->sink_address, attempt->program_local, *connected);
    else interceptors_.relay_here(std::move(*socket), attempt->sink_address, attempt->program_local, *connected);  // passed too late
    finish(*attempt, 0);
}

void TcpConnects::watch(std::weak_ptr<Attempt> weak) {
    auto attempt = weak.lock();
    attempt->watch.expires_after(kWatchInterval);
    attempt->watch.async_wait([this, weak](std::error_code ec) {
        auto a = weak.lock();
        if (ec || !a || a->done) return;
        if (same_socket(*a->process, a->fd, a->id)) return watch(weak);
        log::debug("connect to ", to_string(a->remote), ": the program closed its socket; cancelled");
        agent_.send(Close{a->conn, ECONNABORTED});
    });
}

co::Task<Result<tcp::socket>> TcpConnects::open_simultaneously(const Attempt& attempt) {
    tcp::endpoint from = endpoint_of(attempt.sink_address);
    tcp::socket socket(io_);
    std::error_code ec;
    socket.open(from.protocol(), ec);
    if (!ec && (!set_int_option(socket.native_handle(), SOL_SOCKET, SO_REUSEADDR, 1) ||
                !set_int_option(socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, 1)))
        ec = std::error_code(errno, std::system_category());
    if (!ec) socket.bind(from, ec);
    if (!ec) ec = co_await co::connect(socket, endpoint_of(attempt.program_local));
    // Refused: the program's socket is gone (closed, or timed out on its own).
    if (ec) co_return Error{ec.value(), "completing the program's connection: " + ec.message()};
    socket.set_option(tcp::no_delay(true), ec);
    co_return std::move(socket);
}

void TcpConnects::finish(Attempt& attempt, int error) {
    attempt.done = true;
    attempt.watch.cancel();
    std::error_code ignored;
    attempt.sink.close(ignored);
    pending_.erase(attempt.id);
    if (error) {
        // Wake the program's pollers with an error; SO_ERROR will say which.
        if (UniqueFd socket = same_socket(*attempt.process, attempt.fd, attempt.id)) {
            sockaddr unspec{};
            unspec.sa_family = AF_UNSPEC;
            ::connect(socket.get(), &unspec, sizeof unspec);
            failed_[attempt.id] = error;
        }
    }
    auto waiters = std::move(attempt.waiters);
    for (auto& w : waiters) w.set(error);
}

std::optional<int> TcpConnects::take_error(uint64_t id, int socket) {
    auto it = failed_.find(id);
    if (it == failed_.end()) return std::nullopt;
    int error = it->second;
    failed_.erase(it);
    consume_socket_error(socket);
    return error;
}

}  // namespace mrd::tracer
