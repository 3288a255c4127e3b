#include "tracer/net_syscalls.hpp"

#include "tracer/tracee_memory.hpp"
#include "tracer/tracee_socket.hpp"
#include "wire/address.hpp"
#include "wire/log.hpp"

#include <netinet/in.h>
#include <sys/syscall.h>

namespace mrd::tracer {

using namespace mrd::wire;

namespace {

bool is_inet(int family) { return family == AF_INET || family == AF_INET6; }

// Listen on ::1 only for a genuine IPv6 destination; IPv4 (also v4-mapped) goes to 127.0.0.1.
bool wants_ipv6_interceptor(const SocketInfo& info, const SocketAddress& dest) {
    return info.domain == AF_INET6 && dest.ip.find(':') != std::string::npos;
}

}  // namespace

void NetSyscalls::install(SyscallRouter& router) {
    router.on(SYS_connect, [this](Syscall& c) { return connect(c); });
    router.on(SYS_sendto, [this](Syscall& c) { return sendto(c); }, 4);    // only with a destination
    router.on(SYS_sendmsg, [this](Syscall& c) { return sendmsg(c); });
    router.on(SYS_recvfrom, [this](Syscall& c) { return recvfrom(c); }, 4);  // only asking for the source
    router.on(SYS_recvmsg, [this](Syscall& c) { return recvmsg(c); });
    router.on(SYS_getpeername, [this](Syscall& c) { return peer_or_sock_name(c, true); });
    router.on(SYS_getsockname, [this](Syscall& c) { return peer_or_sock_name(c, false); });
}

co::Task<std::optional<long>> NetSyscalls::run_with_sockaddr(Syscall& call, int arg_ptr, int arg_len,
                                                            const std::vector<char>& sockaddr) {
    ScratchSlot slot = call.tracee().scratch_slot();
    if (!slot) {
        log::error("pid ", call.tid(), ": no scratch memory for a rewritten address; the call fails");
        call.set_result(-ENOMEM);
        co_return std::nullopt;
    }
    if (!write_memory(call.tid(), slot.addr(), sockaddr.data(), sockaddr.size()).ok()) {
        call.set_result(-EFAULT);
        co_return std::nullopt;
    }
    call.set_arg(arg_ptr, slot.addr());
    call.set_arg(arg_len, sockaddr.size());
    co_return co_await call.run();
}

co::Task<void> NetSyscalls::connect(Syscall& call) {
    int fd = static_cast<int>(call.arg(0));
    auto dest = read_sockaddr(call.tid(), call.arg(1), call.arg(2));
    if (!dest) co_return co_await connect_unix(call);
    if (map_.is_interceptor(dest->address)) co_return;  // our own rewrite, restarted
    auto info = inspect_socket(*call.tracee().process, fd);
    if (!info || !is_inet(info->domain) || (info->type != SOCK_STREAM && info->type != SOCK_DGRAM)) co_return;
    Transport transport = info->type == SOCK_STREAM ? Transport::tcp : Transport::udp;
    if (policy_.route(transport, dest->address) == Route::local) co_return;
    bool v6 = wants_ipv6_interceptor(*info, dest->address);

    if (transport == Transport::udp) {
        auto relay = interceptors_.udp_for(dest->address, v6);
        if (!relay) co_return call.set_result(-ENETUNREACH);
        co_await run_with_sockaddr(call, 1, 2, make_sockaddr(*relay, info->domain));
        co_return;
    }

    // Connecting again a socket we already connected: let the kernel answer (EISCONN/EALREADY).
    if (info->peer && map_.is_interceptor(*info->peer)) {
        co_await run_with_sockaddr(call, 1, 2, make_sockaddr(*info->peer, info->domain));
        co_return;
    }

    uint64_t conn = agent_.new_connection_id();
    auto connected = reply_as<Connected>(co_await agent_.call<TcpConnect>(conn, dest->address, uint32_t{0}));
    if (!connected) {
        log::debug("connect ", to_string(dest->address), " from pid ", call.tid(), ": ", connected.error().message);
        call.set_result(-(connected.error().code ? connected.error().code : ECONNREFUSED));
        co_return;
    }
    if (!call.tracee().alive) {  // died while we waited
        agent_.send(Close{conn, 0});
        co_return;
    }
    auto interceptor = interceptors_.expect_tcp(*connected, v6);
    if (!interceptor) co_return call.set_result(-ENETUNREACH);
    auto result = co_await run_with_sockaddr(call, 1, 2, make_sockaddr(*interceptor, info->domain));
    auto after = inspect_socket(*call.tracee().process, fd);
    if (result && (*result == 0 || *result == -EINPROGRESS) && after && after->local)
        interceptors_.bind_local(*after->local, connected->local, conn);
    else
        interceptors_.cancel_tcp(*interceptor);
}

co::Task<void> NetSyscalls::connect_unix(Syscall& call) {
    auto path = read_unix_path(call.tid(), call.arg(1), call.arg(2));
    if (!path || interceptors_.is_unix_interceptor(*path) || !policy_.unix_stream_is_remote(*path)) co_return;
    auto info = inspect_socket(*call.tracee().process, static_cast<int>(call.arg(0)));
    if (!info || info->domain != AF_UNIX || info->type != SOCK_STREAM) co_return;
    uint64_t conn = agent_.new_connection_id();
    auto connected = reply_as<Connected>(co_await agent_.call<UnixConnect>(conn, *path));
    if (!connected) {
        log::debug("connect ", *path, " from pid ", call.tid(), ": ", connected.error().message);
        co_return call.set_result(-(connected.error().code ? connected.error().code : ECONNREFUSED));
    }
    if (!call.tracee().alive) {  // died while we waited
        agent_.send(Close{conn, 0});
        co_return;
    }
    auto interceptor = interceptors_.expect_unix(conn);
    if (!interceptor) co_return call.set_result(-ENETUNREACH);
    auto result = co_await run_with_sockaddr(call, 1, 2, make_unix_sockaddr(*interceptor));
    if (!result || (*result != 0 && *result != -EINPROGRESS)) interceptors_.cancel_unix(*interceptor);
}

co::Task<void> NetSyscalls::redirect_datagram(Syscall& call, int fd, const TraceeAddress& dest, int arg_ptr, int arg_len) {
    if (map_.is_interceptor(dest.address)) co_return;
    auto info = inspect_socket(*call.tracee().process, fd);
    if (!info || !is_inet(info->domain) || info->type != SOCK_DGRAM) co_return;
    if (policy_.route(Transport::udp, dest.address) == Route::local) co_return;
    auto relay = interceptors_.udp_for(dest.address, wants_ipv6_interceptor(*info, dest.address));
    if (!relay) co_return call.set_result(-ENETUNREACH);
    co_await run_with_sockaddr(call, arg_ptr, arg_len, make_sockaddr(*relay, info->domain));
}

co::Task<void> NetSyscalls::sendto(Syscall& call) {
    auto dest = read_sockaddr(call.tid(), call.arg(4), call.arg(5));
    if (!dest) co_return;
    co_await redirect_datagram(call, static_cast<int>(call.arg(0)), *dest, 4, 5);
}

co::Task<void> NetSyscalls::sendmsg(Syscall& call) {
    auto header = read_value<msghdr>(call.tid(), call.arg(1));
    if (!header || !header->msg_name) co_return;
    auto dest = read_sockaddr(call.tid(), reinterpret_cast<uint64_t>(header->msg_name), header->msg_namelen);
    if (!dest || map_.is_interceptor(dest->address)) co_return;
    int fd = static_cast<int>(call.arg(0));
    auto info = inspect_socket(*call.tracee().process, fd);
    if (!info || !is_inet(info->domain) || info->type != SOCK_DGRAM) co_return;
    if (policy_.route(Transport::udp, dest->address) == Route::local) co_return;
    auto relay = interceptors_.udp_for(dest->address, wants_ipv6_interceptor(*info, dest->address));
    if (!relay) co_return;
    // A copy of the msghdr in scratch memory, its name pointing just behind it.
    ScratchSlot slot = call.tracee().scratch_slot();
    if (!slot) co_return call.set_result(-ENOMEM);
    auto name = make_sockaddr(*relay, info->domain);
    msghdr copy = *header;
    copy.msg_name = reinterpret_cast<void*>(slot.addr() + sizeof(msghdr));
    copy.msg_namelen = static_cast<socklen_t>(name.size());
    if (!write_memory(call.tid(), slot.addr(), &copy, sizeof copy).ok() ||
        !write_memory(call.tid(), slot.addr() + sizeof(msghdr), name.data(), name.size()).ok())
        co_return call.set_result(-EFAULT);
    call.set_arg(1, slot.addr());
    co_await call.run();
}

co::Task<void> NetSyscalls::recvfrom(Syscall& call) {
    if (!map_.any_datagram_peers() || call.arg(5) == 0) co_return;
    auto capacity = read_value<socklen_t>(call.tid(), call.arg(5));
    if (!capacity) co_return;
    long n = co_await call.run();
    if (n < 0) co_return;
    translate_returned_address(call.tid(), call.arg(4), call.arg(5), *capacity, [this](auto& a) { return map_.remote_of(a); });
}

co::Task<void> NetSyscalls::recvmsg(Syscall& call) {
    if (!map_.any_datagram_peers()) co_return;
    auto header = read_value<msghdr>(call.tid(), call.arg(1));
    if (!header || !header->msg_name) co_return;
    socklen_t capacity = header->msg_namelen;
    long n = co_await call.run();
    if (n < 0) co_return;
    auto after = read_value<msghdr>(call.tid(), call.arg(1));
    if (!after) co_return;
    auto source = read_sockaddr(call.tid(), reinterpret_cast<uint64_t>(after->msg_name), std::min(after->msg_namelen, capacity));
    if (!source) co_return;
    auto remote = map_.remote_of(source->address);
    if (!remote) co_return;
    (void)write_sockaddr_result(call.tid(), reinterpret_cast<uint64_t>(header->msg_name),
                          call.arg(1) + offsetof(msghdr, msg_namelen), capacity, make_sockaddr(*remote, source->family));
}

co::Task<void> NetSyscalls::peer_or_sock_name(Syscall& call, bool peer) {
    if (call.arg(1) == 0 || call.arg(2) == 0) co_return;
    auto capacity = read_value<socklen_t>(call.tid(), call.arg(2));
    if (!capacity) co_return;
    long r = co_await call.run();
    if (r != 0) co_return;
    translate_returned_address(call.tid(), call.arg(1), call.arg(2), *capacity,
                               [this, peer](auto& a) { return peer ? map_.remote_of(a) : map_.local_of(a); });
}

}  // namespace mrd::tracer
