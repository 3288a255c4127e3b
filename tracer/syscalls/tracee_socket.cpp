#include "tracer/syscalls/tracee_socket.hpp"

#include "tracer/ptrace/tracee_memory.hpp"
#include "wire/address.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace mrd::tracer {

using wire::SocketAddress;

uint64_t socket_id(int socket) {
    struct stat st{};
    return ::fstat(socket, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

UniqueFd same_socket(Process& process, int fd, uint64_t id) {
    UniqueFd dup = process.duplicate(fd);
    if (dup && socket_id(dup.get()) != id) dup.reset();
    return dup;
}

std::optional<SocketInfo> inspect_socket(Process& process, int fd) {
    UniqueFd dup = process.duplicate(fd);
    if (!dup) return std::nullopt;
    return inspect_socket(dup.get());
}

std::optional<SocketInfo> inspect_socket(int socket) {
    SocketInfo info;
    socklen_t len = sizeof(int);
    if (::getsockopt(socket, SOL_SOCKET, SO_DOMAIN, &info.domain, &len) != 0) return std::nullopt;
    len = sizeof(int);
    ::getsockopt(socket, SOL_SOCKET, SO_TYPE, &info.type, &len);
    len = sizeof(int);
    ::getsockopt(socket, SOL_SOCKET, SO_PROTOCOL, &info.protocol, &len);
    sockaddr_storage ss{};
    len = sizeof ss;
    if (::getsockname(socket, reinterpret_cast<sockaddr*>(&ss), &len) == 0) info.local = wire::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    len = sizeof ss;
    if (::getpeername(socket, reinterpret_cast<sockaddr*>(&ss), &len) == 0) info.peer = wire::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return info;
}

std::optional<TraceeAddress> read_sockaddr(pid_t tid, uint64_t addr, uint64_t len) {
    if (addr == 0 || len < sizeof(sa_family_t) || len > sizeof(sockaddr_storage)) return std::nullopt;
    sockaddr_storage ss{};
    if (!read_memory(tid, addr, &ss, len)) return std::nullopt;
    auto a = wire::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len));
    if (!a) return std::nullopt;
    return TraceeAddress{*a, ss.ss_family};
}

std::optional<std::string> read_unix_path(pid_t tid, uint64_t addr, uint64_t len) {
    sockaddr_un un{};
    if (addr == 0 || len <= offsetof(sockaddr_un, sun_path) + 1 || len > sizeof un) return std::nullopt;
    if (!read_memory(tid, addr, &un, len) || un.sun_family != AF_UNIX || un.sun_path[0] == '\0') return std::nullopt;
    size_t max = len - offsetof(sockaddr_un, sun_path);
    return std::string(un.sun_path, strnlen(un.sun_path, max));
}

std::vector<char> make_unix_sockaddr(const std::string& path) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    size_t n = std::min(path.size(), sizeof un.sun_path - 1);
    std::memcpy(un.sun_path, path.data(), n);
    const char* bytes = reinterpret_cast<const char*>(&un);
    return std::vector<char>(bytes, bytes + offsetof(sockaddr_un, sun_path) + n + 1);
}

std::vector<char> make_sockaddr(const SocketAddress& address, int family) {
    SocketAddress a = address;
    bool v6 = a.ip.find(':') != std::string::npos;
    if (family == AF_INET && v6) return {};  // not expressible: the caller leaves the address alone
    if (family == AF_INET6 && !v6) a.ip = "::ffff:" + a.ip;
    sockaddr_storage ss;
    socklen_t len = wire::to_sockaddr(a, ss);
    const char* p = reinterpret_cast<const char*>(&ss);
    return std::vector<char>(p, p + len);
}

void copy_socket_options(int from, int to) {
    static constexpr std::pair<int, int> kOptions[] = {
        {SOL_SOCKET, SO_KEEPALIVE}, {SOL_SOCKET, SO_RCVTIMEO}, {SOL_SOCKET, SO_SNDTIMEO}, {SOL_SOCKET, SO_LINGER},
        {SOL_SOCKET, SO_PRIORITY},  {SOL_SOCKET, SO_OOBINLINE}, {IPPROTO_TCP, TCP_NODELAY}, {IPPROTO_TCP, TCP_KEEPIDLE},
        {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT}, {IPPROTO_TCP, TCP_USER_TIMEOUT}};
    for (auto [level, name] : kOptions) {
        char value[32];
        socklen_t len = sizeof value;
        if (::getsockopt(from, level, name, value, &len) == 0) ::setsockopt(to, level, name, value, len);
    }
    int flags = ::fcntl(from, F_GETFL), theirs = ::fcntl(to, F_GETFL);
    if (flags >= 0 && theirs >= 0) ::fcntl(to, F_SETFL, (theirs & ~O_NONBLOCK) | (flags & O_NONBLOCK));
}

Status write_sockaddr_result(pid_t tid, uint64_t addr, uint64_t len_addr, uint32_t capacity, const std::vector<char>& sockaddr) {
    if (sockaddr.empty()) return {};
    size_t n = std::min<size_t>(capacity, sockaddr.size());
    if (n > 0)
        if (auto st = write_memory(tid, addr, sockaddr.data(), n); !st) return st;
    auto full = static_cast<socklen_t>(sockaddr.size());
    return write_memory(tid, len_addr, &full, sizeof full);
}

}  // namespace mrd::tracer
