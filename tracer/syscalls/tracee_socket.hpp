// What a tracee's file descriptor is, seen through a duplicate taken with pidfd_getfd(), and the
// conversions between sockaddrs in tracee memory and wire addresses.
#pragma once

#include "tracer/ptrace/tracee.hpp"
#include "wire/messages.hpp"
#include "base/result.hpp"

#include <sys/socket.h>

#include <functional>
#include <optional>
#include <vector>

namespace mrd::tracer {

struct SocketInfo {
    int domain = 0;    // AF_INET, AF_INET6, ...
    int type = 0;      // SOCK_STREAM, SOCK_DGRAM, ...
    int protocol = 0;
    std::optional<wire::SocketAddress> local;  // getsockname, when bound
    std::optional<wire::SocketAddress> peer;   // getpeername, when connected
};

// The inode of a socket (sockets have unique inode numbers while they exist); 0 for none.
uint64_t socket_id(int socket);
// The program's descriptor fd, duplicated, while it is still the socket id (not closed, not reused).
UniqueFd same_socket(Process& process, int fd, uint64_t id);

// nullopt when fd is not a socket (or the process is gone).
std::optional<SocketInfo> inspect_socket(Process& process, int fd);
// The same for a socket of ours (a duplicate of the program's).
std::optional<SocketInfo> inspect_socket(int socket);

// An AF_INET/AF_INET6 sockaddr read from tracee memory.
struct TraceeAddress {
    wire::SocketAddress address;  // v4-mapped IPv6 addresses are reported as IPv4
    int family = 0;
};
std::optional<TraceeAddress> read_sockaddr(pid_t tid, uint64_t addr, uint64_t len);
// The path of an AF_UNIX sockaddr in tracee memory (not for unnamed or abstract addresses).
std::optional<std::string> read_unix_path(pid_t tid, uint64_t addr, uint64_t len);
std::vector<char> make_unix_sockaddr(const std::string& path);
// Bytes of a sockaddr of the given family for address (IPv4 in an AF_INET6 sockaddr becomes v4-mapped).
std::vector<char> make_sockaddr(const wire::SocketAddress& address, int family);
// What a program set on socket `from` (or its listener, for an accepted one), carried over to `to`,
// which takes its place: options, and O_NONBLOCK. Buffer sizes are not: reading them cannot tell a
// set size from the kernel's autotuned default.
void copy_socket_options(int from, int to);
// Writes a sockaddr the way the kernel returns one: truncated to the caller's buffer, with the full
// length stored at len_addr.
Status write_sockaddr_result(pid_t tid, uint64_t addr, uint64_t len_addr, uint32_t capacity, const std::vector<char>& sockaddr);

}  // namespace mrd::tracer
