#include "tracer/syscalls/net_syscalls.hpp"

#include "tracer/remote/session_report.hpp"

#include "tracer/syscalls/socket_wait.hpp"
#include "wire/address.hpp"
#include "base/log.hpp"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <sys/uio.h>

namespace mrd::tracer {

using namespace mrd::wire;

namespace {

// Larger than any datagram: what the supervisor reads or receives for the program at most.
constexpr size_t kMaxDatagram = 1 << 20;

bool is_inet(int family) { return family == AF_INET || family == AF_INET6; }

// Listen on ::1 only for a genuine IPv6 destination; IPv4 (also v4-mapped) goes to 127.0.0.1.
bool wants_ipv6_interceptor(const SocketInfo& info, const SocketAddress& dest) {
    return info.domain == AF_INET6 && dest.ip.find(':') != std::string::npos;
}

// The program's socket (argument 0), duplicated, when it is a UDP socket over IP; info describes it.
UniqueFd udp_socket(Call& call, std::optional<SocketInfo>& info) {
    UniqueFd socket = call.duplicate(call.fd_arg(0));
    info = socket ? inspect_socket(socket.get()) : std::nullopt;
    if (!info || !is_inet(info->domain) || info->type != SOCK_DGRAM) socket.reset();
    return socket;
}

// The program's iovec array.
std::optional<std::vector<iovec>> read_iovecs(const Call& call, uint64_t addr, size_t count) {
    if (count > IOV_MAX) return std::nullopt;
    std::vector<iovec> iov(count);
    if (count && !call.read_bytes(addr, iov.data(), count * sizeof(iovec))) return std::nullopt;
    return iov;
}

size_t total_length(const std::vector<iovec>& iov) {
    size_t total = 0;
    for (auto& v : iov) total += v.iov_len;
    return std::min(total, kMaxDatagram);
}

// Gathers the program's buffers into one of ours; false: EFAULT.
bool gather(const Call& call, const std::vector<iovec>& iov, std::vector<char>& out) {
    out.clear();
    for (auto& v : iov) {
        size_t n = std::min(v.iov_len, kMaxDatagram - out.size());
        size_t at = out.size();
        out.resize(at + n);
        if (n && !call.read_bytes(reinterpret_cast<uint64_t>(v.iov_base), out.data() + at, n)) return false;
    }
    return true;
}

// Scatters n bytes of ours into the program's buffers; false: EFAULT.
bool scatter(const Call& call, const std::vector<iovec>& iov, const char* data, size_t n) {
    for (auto& v : iov) {
        if (n == 0) break;
        size_t chunk = std::min(n, v.iov_len);
        if (!call.write(reinterpret_cast<uint64_t>(v.iov_base), data, chunk)) return false;
        data += chunk;
        n -= chunk;
    }
    return true;
}

}  // namespace

void NetSyscalls::install(SyscallRouter& router) {
    router.on(SYS_connect, [this](Call& c) { return connect(c); });
    router.on(SYS_sendto, [this](Call& c) { return sendto(c); }, {arg_nonzero(4)});    // only with a destination
    router.on(SYS_sendmsg, [this](Call& c) { return sendmsg(c); });
    // Only asking for the source, and only once some datagrams come through a relay.
    auto no_relayed_datagrams = [this](const Notification&) { return !map_.any_datagram_peers(); };
    router.on(SYS_recvfrom, [this](Call& c) { return recvfrom(c); }, {arg_nonzero(4)}, no_relayed_datagrams);
    router.on(SYS_recvmsg, [this](Call& c) { return recvmsg(c); }, {}, no_relayed_datagrams);
    router.on(SYS_getpeername, [this](Call& c) { return peer_or_sock_name(c, true); });
    router.on(SYS_getsockname, [this](Call& c) { return peer_or_sock_name(c, false); });
    router.on(SYS_getsockopt, [this](Call& c) { return socket_error(c); }, {arg_equals(1, SOL_SOCKET), arg_equals(2, SO_ERROR)});
}

co::Task<Verdict> NetSyscalls::connect(Call& call) {
    UniqueFd socket = call.duplicate(call.fd_arg(0));
    if (!socket) co_return Verdict::local();  // EBADF, ENOTSOCK: the kernel's
    auto dest = read_sockaddr(call.tid(), call.arg(1), call.arg(2));
    if (!dest) co_return co_await connect_unix(call, std::move(socket));
    auto info = inspect_socket(socket.get());
    if (!info || !is_inet(info->domain) || (info->type != SOCK_STREAM && info->type != SOCK_DGRAM)) co_return Verdict::local();
    Transport transport = info->type == SOCK_STREAM ? Transport::tcp : Transport::udp;
    // A socket whose connect is ours already (pending, or failed and not yet told) stays ours.
    if (transport == Transport::tcp && tcp_.knows(socket_id(socket.get())))
        co_return co_await tcp_.connect(call, std::move(socket), *info, dest->address);
    if (map_.is_interceptor(dest->address)) co_return Verdict::local();
    auto decision = policy_.decide(transport, dest->address);
    Route route = decision.route;
    if (!policy_.is_dns(dest->address))  // DNS is reported by name, below the relay
        session_report().record(SessionReport::Kind::connection, std::string(transport == Transport::tcp ? "tcp, " : "udp, ") +
                                    (route == Route::local ? "local" : "remote"), to_string(dest->address), 0, decision.rule);
    if (route == Route::local) {
        if (auto here = policy_.local_destination(transport, dest->address)) {
            log::debug("connect to ", to_string(dest->address), ": a local name, connecting to ", to_string(*here), " instead");
            co_return co_await connect_here(call, std::move(socket), info->domain, *here);
        }
        co_return Verdict::local();
    }
    if (transport == Transport::tcp) co_return co_await tcp_.connect(call, std::move(socket), *info, dest->address);

    auto relay = interceptors_.udp_for(dest->address, wants_ipv6_interceptor(*info, dest->address));
    if (!relay) {
        log::error("connect to ", to_string(dest->address), ": ", relay.error().message, "; the call fails");
        co_return Verdict::error(ENETUNREACH);
    }
    auto sockaddr = make_sockaddr(*relay, info->domain);
    co_return Verdict::result(kernel_result(::connect(socket.get(), reinterpret_cast<const struct sockaddr*>(sockaddr.data()),
                                                      static_cast<socklen_t>(sockaddr.size()))));
}

co::Task<Verdict> NetSyscalls::connect_here(Call& call, UniqueFd socket, int family, const wire::SocketAddress& to) {
    auto sockaddr = make_sockaddr(to, family);
    int flags = ::fcntl(socket.get(), F_GETFL);
    bool nonblocking = flags >= 0 && (flags & O_NONBLOCK);
    // Never blocking here: the socket's mode is the program's, so it is switched for the call only.
    if (!nonblocking) ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK);
    int r = ::connect(socket.get(), reinterpret_cast<const struct sockaddr*>(sockaddr.data()), static_cast<socklen_t>(sockaddr.size()));
    int error = r == 0 ? 0 : errno;
    if (!nonblocking) ::fcntl(socket.get(), F_SETFL, flags);
    if (error != EINPROGRESS || nonblocking) co_return error ? Verdict::error(error) : Verdict::result(0);
    auto ready = co_await wait_ready(io_, call, socket.get(), true, socket_timeout(socket.get(), SO_SNDTIMEO));
    if (ready == Readiness::abandoned) co_return Verdict::error(EINTR);
    if (ready == Readiness::timed_out) co_return Verdict::error(EINPROGRESS);
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);  // reading it consumes it, as a blocking connect does
    co_return so_error ? Verdict::error(so_error) : Verdict::result(0);
}

co::Task<Verdict> NetSyscalls::connect_unix(Call& call, UniqueFd socket) {
    auto path = read_unix_path(call.tid(), call.arg(1), call.arg(2));
    if (!path || interceptors_.is_unix_interceptor(*path) || !policy_.unix_stream_is_remote(*path)) co_return Verdict::local();
    auto info = inspect_socket(socket.get());
    if (!info || info->domain != AF_UNIX || info->type != SOCK_STREAM) co_return Verdict::local();
    uint64_t conn = agent_.new_connection_id();
    auto connected = reply_as<Connected>(co_await agent_.call<UnixConnect>(conn, *path));
    if (!connected) {
        log::debug("connect ", *path, " from pid ", call.tid(), ": ", connected.error().message);
        co_return Verdict::error(connected.error().code ? connected.error().code : ECONNREFUSED);
    }
    if (!call.waiting()) {  // interrupted or dead meanwhile
        agent_.send(Close{conn, 0});
        co_return Verdict::error(EINTR);
    }
    auto interceptor = interceptors_.expect_unix(conn);
    if (!interceptor) {
        log::error("connect ", *path, ": ", interceptor.error().message, "; the call fails");
        co_return Verdict::error(ENETUNREACH);
    }
    auto sockaddr = make_unix_sockaddr(*interceptor);
    long r = kernel_result(::connect(socket.get(), reinterpret_cast<const struct sockaddr*>(sockaddr.data()),
                                     static_cast<socklen_t>(sockaddr.size())));
    if (r != 0) interceptors_.cancel_unix(*interceptor);
    co_return Verdict::result(r);
}

co::Task<Verdict> NetSyscalls::send_for(Call& call, int socket, msghdr& message, int flags) {
    for (;;) {
        ssize_t n = ::sendmsg(socket, &message, flags | MSG_DONTWAIT);
        if (n >= 0) co_return Verdict::result(n);
        if (errno != EAGAIN || (flags & MSG_DONTWAIT) || is_nonblocking(socket)) co_return Verdict::error(errno);
        auto ready = co_await wait_ready(io_, call, socket, true, socket_timeout(socket, SO_SNDTIMEO));
        if (ready == Readiness::timed_out) co_return Verdict::error(EAGAIN);
        if (ready == Readiness::abandoned) co_return Verdict::error(EINTR);  // nobody hears it; a restart asks anew
    }
}

Result<std::optional<NetSyscalls::RemoteDatagram>> NetSyscalls::remote_datagram(Call& call, const TraceeAddress& dest) {
    using Outcome = std::optional<RemoteDatagram>;
    if (map_.is_interceptor(dest.address)) return Outcome();
    std::optional<SocketInfo> info;
    UniqueFd socket = udp_socket(call, info);
    if (!socket) return Outcome();
    if (policy_.route(Transport::udp, dest.address) == Route::local) return Outcome();
    auto relay = interceptors_.udp_for(dest.address, wants_ipv6_interceptor(*info, dest.address));
    if (!relay) {
        log::error("datagram to ", to_string(dest.address), ": ", relay.error().message, "; the call fails");
        return Error::msg(relay.error().message, ENETUNREACH);
    }
    return Outcome(RemoteDatagram{std::move(socket), make_sockaddr(*relay, info->domain)});
}

co::Task<Verdict> NetSyscalls::sendto(Call& call) {
    auto dest = read_sockaddr(call.tid(), call.arg(4), call.arg(5));
    auto remote = dest ? remote_datagram(call, *dest) : Result<std::optional<RemoteDatagram>>(std::nullopt);
    if (!remote) co_return Verdict::error(remote.error().code);
    if (!*remote) co_return Verdict::local();
    if (call.arg(2) > kMaxDatagram) co_return Verdict::error(EMSGSIZE);
    std::vector<char> data(call.arg(2));
    if (!data.empty() && !call.read_bytes(call.arg(1), data.data(), data.size())) co_return Verdict::error(EFAULT);
    auto& name = (*remote)->relay;
    iovec one{data.data(), data.size()};
    msghdr message{name.data(), static_cast<socklen_t>(name.size()), &one, 1, nullptr, 0, 0};
    co_return co_await send_for(call, (*remote)->socket.get(), message, static_cast<int>(call.arg(3)));
}

co::Task<Verdict> NetSyscalls::sendmsg(Call& call) {
    auto header = call.read<msghdr>(call.arg(1));
    if (!header || !header->msg_name) co_return Verdict::local();
    auto dest = read_sockaddr(call.tid(), reinterpret_cast<uint64_t>(header->msg_name), header->msg_namelen);
    auto remote = dest ? remote_datagram(call, *dest) : Result<std::optional<RemoteDatagram>>(std::nullopt);
    if (!remote) co_return Verdict::error(remote.error().code);
    if (!*remote) co_return Verdict::local();
    // The same message, its data and control gathered here, addressed to the relay.
    auto iov = read_iovecs(call, reinterpret_cast<uint64_t>(header->msg_iov), header->msg_iovlen);
    if (!iov) co_return Verdict::error(header->msg_iovlen > IOV_MAX ? EMSGSIZE : EFAULT);
    std::vector<char> data, control(std::min<size_t>(header->msg_controllen, 65536));
    if (!gather(call, *iov, data)) co_return Verdict::error(EFAULT);
    if (!control.empty() && !call.read_bytes(reinterpret_cast<uint64_t>(header->msg_control), control.data(), control.size()))
        co_return Verdict::error(EFAULT);
    auto& name = (*remote)->relay;
    iovec one{data.data(), data.size()};
    msghdr message{name.data(), static_cast<socklen_t>(name.size()), &one, 1, control.empty() ? nullptr : control.data(), control.size(), 0};
    co_return co_await send_for(call, (*remote)->socket.get(), message, static_cast<int>(call.arg(2)));
}

co::Task<std::optional<Verdict>> NetSyscalls::until_relayed_datagram(Call& call, int socket, int flags) {
    for (;;) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(socket, nullptr, 0, MSG_PEEK | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
        if (n >= 0) {
            auto source = from_sockaddr(reinterpret_cast<sockaddr*>(&from), len);
            if (source && map_.is_interceptor(*source)) co_return std::nullopt;
            co_return Verdict::local();  // not from a relay: the kernel hands it over as it is
        }
        if (errno != EAGAIN || (flags & MSG_DONTWAIT) || is_nonblocking(socket)) co_return Verdict::local();
        auto ready = co_await wait_ready(io_, call, socket, false, socket_timeout(socket, SO_RCVTIMEO));
        if (ready == Readiness::timed_out) co_return Verdict::error(EAGAIN);
        if (ready == Readiness::abandoned) co_return Verdict::error(EINTR);  // nobody hears it; a restart asks anew
    }
}

co::Task<Verdict> NetSyscalls::recvfrom(Call& call) {
    if (!map_.any_datagram_peers()) co_return Verdict::local();
    std::optional<SocketInfo> info;
    UniqueFd socket = udp_socket(call, info);
    if (!socket) co_return Verdict::local();
    auto capacity = call.read<socklen_t>(call.arg(5));
    if (!capacity) co_return Verdict::local();  // EFAULT from the kernel
    int flags = static_cast<int>(call.arg(3));
    if (auto answered = co_await until_relayed_datagram(call, socket.get(), flags)) co_return std::move(*answered);
    std::vector<char> data(std::min<uint64_t>(call.arg(2), kMaxDatagram));
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(socket.get(), data.data(), data.size(), flags | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) co_return Verdict::error(errno);
    if (!call.write(call.arg(1), data.data(), std::min<size_t>(static_cast<size_t>(n), data.size()))) co_return Verdict::error(EFAULT);
    auto source = from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_len);
    auto remote = source ? map_.remote_of(*source) : std::nullopt;
    auto name = remote ? make_sockaddr(*remote, from.ss_family) : std::vector<char>();
    if (name.empty()) name.assign(reinterpret_cast<char*>(&from), reinterpret_cast<char*>(&from) + from_len);
    if (!write_sockaddr_result(call.tid(), call.arg(4), call.arg(5), *capacity, name)) co_return Verdict::error(EFAULT);
    co_return Verdict::result(n);
}

co::Task<Verdict> NetSyscalls::recvmsg(Call& call) {
    if (!map_.any_datagram_peers()) co_return Verdict::local();
    auto header = call.read<msghdr>(call.arg(1));
    if (!header || !header->msg_name) co_return Verdict::local();
    std::optional<SocketInfo> info;
    UniqueFd socket = udp_socket(call, info);
    if (!socket) co_return Verdict::local();
    auto iov = read_iovecs(call, reinterpret_cast<uint64_t>(header->msg_iov), header->msg_iovlen);
    if (!iov) co_return Verdict::local();  // the kernel reports the bad vector
    int flags = static_cast<int>(call.arg(2));
    if (auto answered = co_await until_relayed_datagram(call, socket.get(), flags)) co_return std::move(*answered);
    std::vector<char> data(total_length(*iov)), control(std::min<size_t>(header->msg_controllen, 65536));
    sockaddr_storage from{};
    iovec one{data.data(), data.size()};
    msghdr message{&from, sizeof from, &one, 1, control.empty() ? nullptr : control.data(), control.size(), 0};
    ssize_t n = ::recvmsg(socket.get(), &message, flags | MSG_DONTWAIT);
    if (n < 0) co_return Verdict::error(errno);
    if (!scatter(call, *iov, data.data(), std::min<size_t>(static_cast<size_t>(n), data.size()))) co_return Verdict::error(EFAULT);
    if (message.msg_controllen && !call.write(reinterpret_cast<uint64_t>(header->msg_control), control.data(), message.msg_controllen))
        co_return Verdict::error(EFAULT);
    uint64_t fields = call.arg(1);
    if (!call.write_value(fields + offsetof(msghdr, msg_controllen), message.msg_controllen) ||
        !call.write_value(fields + offsetof(msghdr, msg_flags), message.msg_flags))
        co_return Verdict::error(EFAULT);
    auto source = from_sockaddr(reinterpret_cast<sockaddr*>(&from), message.msg_namelen);
    auto remote = source ? map_.remote_of(*source) : std::nullopt;
    auto name = remote ? make_sockaddr(*remote, from.ss_family) : std::vector<char>();
    if (name.empty()) name.assign(reinterpret_cast<char*>(&from), reinterpret_cast<char*>(&from) + message.msg_namelen);
    if (!write_sockaddr_result(call.tid(), reinterpret_cast<uint64_t>(header->msg_name), fields + offsetof(msghdr, msg_namelen),
                               header->msg_namelen, name))
        co_return Verdict::error(EFAULT);
    co_return Verdict::result(n);
}

co::Task<Verdict> NetSyscalls::peer_or_sock_name(Call& call, bool peer) {
    if (call.arg(1) == 0 || call.arg(2) == 0) co_return Verdict::local();
    UniqueFd socket = call.duplicate(call.fd_arg(0));
    if (!socket) co_return Verdict::local();
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int r = peer ? ::getpeername(socket.get(), reinterpret_cast<sockaddr*>(&ss), &len)
                 : ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    auto seen = r == 0 ? from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len) : std::nullopt;
    if (!seen) co_return Verdict::local();
    auto translated = peer ? map_.remote_of(*seen) : map_.local_of(*seen);
    auto name = translated ? make_sockaddr(*translated, ss.ss_family) : std::vector<char>();
    if (name.empty()) co_return Verdict::local();
    auto capacity = call.read<socklen_t>(call.arg(2));
    if (!capacity || !write_sockaddr_result(call.tid(), call.arg(1), call.arg(2), *capacity, name)) co_return Verdict::error(EFAULT);
    co_return Verdict::result(0);
}

co::Task<Verdict> NetSyscalls::socket_error(Call& call) {
    UniqueFd socket = call.duplicate(call.fd_arg(0));
    if (!socket) co_return Verdict::local();
    auto error = tcp_.take_error(socket_id(socket.get()), socket.get());
    if (!error) co_return Verdict::local();
    auto len = call.read<socklen_t>(call.arg(4));
    if (!len) co_return Verdict::error(EFAULT);
    if (static_cast<int>(*len) < 0) co_return Verdict::error(EINVAL);
    socklen_t n = std::min<socklen_t>(*len, sizeof(int));
    if (!call.write(call.arg(3), &*error, n) || !call.write_value(call.arg(4), n)) co_return Verdict::error(EFAULT);
    co_return Verdict::result(0);
}

}  // namespace mrd::tracer
