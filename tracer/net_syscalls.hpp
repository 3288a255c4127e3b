// Outgoing network syscalls: connect() and datagram sends to remote addresses are pointed at
// interceptors (after the agent connected for real, so errors are the target's), and the addresses
// the program reads back (getpeername, getsockname, recvfrom, recvmsg) are the remote ones.
#pragma once

#include "tracer/interceptors.hpp"
#include "tracer/outgoing_policy.hpp"
#include "tracer/syscall_router.hpp"
#include "tracer/tracee_socket.hpp"

namespace mrd::tracer {

class NetSyscalls {
public:
    NetSyscalls(AgentClient& agent, Interceptors& interceptors, AddressMap& map, const OutgoingPolicy& policy)
        : agent_(agent), interceptors_(interceptors), map_(map), policy_(policy) {}
    void install(SyscallRouter& router);

private:
    co::Task<void> connect(Syscall& call);
    co::Task<void> connect_unix(Syscall& call);  // feature.network.outgoing.unix_streams
    co::Task<void> sendto(Syscall& call);
    co::Task<void> sendmsg(Syscall& call);
    co::Task<void> recvfrom(Syscall& call);
    co::Task<void> recvmsg(Syscall& call);
    co::Task<void> peer_or_sock_name(Syscall& call, bool peer);
    // Points the sockaddr argument (pointer arg_ptr, length arg_len) at the interceptor for a remote
    // datagram destination, and runs the syscall. False when it stays local.
    co::Task<void> redirect_datagram(Syscall& call, int fd, const TraceeAddress& dest, int arg_ptr, int arg_len);
    // Runs the syscall with its sockaddr argument replaced; its result, or nullopt when the rewrite
    // failed (the syscall then fails with an errno instead of running).
    co::Task<std::optional<long>> run_with_sockaddr(Syscall& call, int arg_ptr, int arg_len, const std::vector<char>& sockaddr);

    AgentClient& agent_;
    Interceptors& interceptors_;
    AddressMap& map_;
    const OutgoingPolicy& policy_;
};

}  // namespace mrd::tracer
