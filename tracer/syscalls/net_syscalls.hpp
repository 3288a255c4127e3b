// Outgoing network syscalls: connect() to remote addresses goes through the agent (TCP: see
// TcpConnects; UDP and unix streams: the program's socket is connected to a relay), datagrams sent
// to remote addresses are sent by the supervisor to the relay on the program's own socket, and the
// addresses the program reads back (getpeername, getsockname, recvfrom, recvmsg) are the remote
// ones: where a translation applies, the supervisor makes the call on the program's socket itself.
#pragma once

#include "tracer/remote/interceptors.hpp"
#include "tracer/policy/outgoing_policy.hpp"
#include "tracer/ptrace/syscall_router.hpp"
#include "tracer/syscalls/tcp_connects.hpp"
#include "tracer/syscalls/tracee_socket.hpp"

namespace mrd::tracer {

class NetSyscalls {
public:
    NetSyscalls(asio::io_context& io, AgentClient& agent, Interceptors& interceptors, AddressMap& map, const OutgoingPolicy& policy)
        : io_(io), agent_(agent), interceptors_(interceptors), map_(map), policy_(policy), tcp_(io, agent, interceptors) {}
    void install(SyscallRouter& router);

private:
    co::Task<Verdict> connect(Call& call);
    co::Task<Verdict> connect_unix(Call& call, UniqueFd socket);  // feature.network.outgoing.unix_streams
    // A local connect to another address than the program gave (OutgoingPolicy::local_destination),
    // made on the program's socket with the kernel's semantics: EINPROGRESS when non-blocking,
    // SO_SNDTIMEO, signals.
    co::Task<Verdict> connect_here(Call& call, UniqueFd socket, int family, const wire::SocketAddress& to);
    co::Task<Verdict> sendto(Call& call);
    co::Task<Verdict> sendmsg(Call& call);
    co::Task<Verdict> recvfrom(Call& call);
    co::Task<Verdict> recvmsg(Call& call);
    co::Task<Verdict> peer_or_sock_name(Call& call, bool peer);
    co::Task<Verdict> socket_error(Call& call);
    // A datagram of the program's socket (argument 0) to dest, when it goes to the target: the
    // socket and the relay's sockaddr. nullopt: it stays local; an error: the call fails with it.
    struct RemoteDatagram {
        UniqueFd socket;
        std::vector<char> relay;
    };
    Result<std::optional<RemoteDatagram>> remote_datagram(Call& call, const TraceeAddress& dest);
    // Sends on the program's socket as the kernel would for the thread: a blocking socket waits for
    // room (interruptibly, SO_SNDTIMEO honoured).
    co::Task<Verdict> send_for(Call& call, int socket, msghdr& message, int flags);
    // Waits for a datagram (as the blocking call would) and tells whether it comes from a relay:
    // only then does the supervisor receive it for the program. nullopt: the kernel's call as made.
    co::Task<std::optional<Verdict>> until_relayed_datagram(Call& call, int socket, int flags);

    asio::io_context& io_;
    AgentClient& agent_;
    Interceptors& interceptors_;
    AddressMap& map_;
    const OutgoingPolicy& policy_;
    TcpConnects tcp_;
};

}  // namespace mrd::tracer
