// Remote TCP connects with the kernel's semantics, made on the program's own socket.
//
// The agent connects in the target, which takes as long as it takes (a dropped SYN: minutes).
// Meanwhile the program's socket must behave as a connecting socket does: not writable, SO_ERROR 0,
// getpeername ENOTCONN, a repeated connect EALREADY. So the supervisor points it (through a
// pidfd_getfd duplicate) at a loopback "sink" listener that silently drops SYNs: the socket sits
// in SYN_SENT, and the kernel itself keeps its state for poll/epoll, SO_SNDTIMEO and signals.
//   - The agent connected: the supervisor completes the handshake from a socket bound to the sink's
//     own address (a TCP simultaneous open), and relays that socket to the agent's connection. The
//     program's socket becomes writable exactly then.
//   - The agent failed: the socket is disconnected (connect(AF_UNSPEC)), which wakes its pollers
//     with an error; getsockopt(SO_ERROR) and a repeated connect then report the target's errno
//     (ECONNREFUSED, ETIMEDOUT, ENETUNREACH...).
// A local agent (a unix link) passes the socket it connected, if it connected within a few
// milliseconds: the program's connect() waits that long, blocking or not, and its socket is then
// replaced by that one (SECCOMP_ADDFD_FLAG_SETFD; the options it set before connecting carried
// over): connect() returns 0, and the program talks to the target's peer on the target's own
// connection, nothing relayed. Programs register a socket with epoll after its connect(), so the
// swap is unseen. A connect that takes longer goes the sink's way (the passed socket, if it comes
// late, is relayed by the supervisor itself).
// A non-blocking connect returns EINPROGRESS at once. A blocking one waits, for SO_SNDTIMEO if set
// (then EINPROGRESS, the attempt going on); a signal interrupts the wait as it would the kernel's
// (EINTR, or a restart that resumes waiting for the same attempt). The agent's attempt is cancelled
// when the program closes the socket.
#pragma once

#include "tracer/remote/interceptors.hpp"
#include "tracer/ptrace/notified_call.hpp"
#include "tracer/syscalls/tracee_socket.hpp"

#include <asio.hpp>

#include <map>
#include <memory>

namespace mrd::tracer {

class TcpConnects {
public:
    TcpConnects(asio::io_context& io, AgentClient& agent, Interceptors& interceptors)
        : io_(io), agent_(agent), interceptors_(interceptors) {}

    // connect(fd, remote) of the program; socket: its duplicate.
    co::Task<Verdict> connect(Call& call, UniqueFd socket, const SocketInfo& info, const wire::SocketAddress& remote);
    // Whether connect() of this socket is ours to answer although it is no longer a fresh one.
    bool knows(uint64_t socket_id) const { return pending_.count(socket_id) || failed_.count(socket_id); }
    // getsockopt(SO_ERROR) of a socket whose connect failed in the target: that errno, once.
    std::optional<int> take_error(uint64_t socket_id, int socket);

private:
    struct Attempt;
    // The agent's TcpConnect; its answer goes into the attempt.
    co::Task<void> ask(std::shared_ptr<Attempt> attempt, int32_t pass_family);
    // The program's socket replaced by the one the agent connected in the target (a local agent).
    Verdict hand_over(Call& call, int program_socket, wire::Connected& connected);
    co::Task<void> run(std::shared_ptr<Attempt> attempt);
    // Every half second: once the program no longer has the socket, the agent's attempt is cancelled.
    void watch(std::weak_ptr<Attempt> attempt);
    co::Task<Verdict> wait(std::shared_ptr<Attempt> attempt, std::optional<std::chrono::milliseconds> timeout);
    // Completes the program's handshake from the sink's address; the connected socket, or an errno.
    co::Task<Result<asio::ip::tcp::socket>> open_simultaneously(const Attempt& attempt);
    void finish(Attempt& attempt, int error);

    asio::io_context& io_;
    AgentClient& agent_;
    Interceptors& interceptors_;
    std::map<uint64_t, std::shared_ptr<Attempt>> pending_;  // by socket inode
    std::map<uint64_t, int> failed_;
};

}  // namespace mrd::tracer
