#include "tracer/syscalls/socket_wait.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

namespace mrd::tracer {

namespace {

// How often a wait checks that the thread still waits for its answer.
constexpr auto kRecheck = std::chrono::milliseconds(200);

}  // namespace

co::Task<Readiness> wait_ready(asio::io_context& io, const Call& call, int socket, bool writable,
                               std::optional<std::chrono::milliseconds> timeout) {
    using clock = std::chrono::steady_clock;
    auto deadline = timeout ? clock::now() + *timeout : clock::time_point::max();
    asio::posix::stream_descriptor descriptor(io, ::fcntl(socket, F_DUPFD_CLOEXEC, 0));
    asio::steady_timer timer(io);
    auto type = writable ? asio::posix::stream_descriptor::wait_write : asio::posix::stream_descriptor::wait_read;
    for (;;) {
        pollfd p{socket, static_cast<short>(writable ? POLLOUT : POLLIN), 0};
        if (::poll(&p, 1, 0) == 1) co_return Readiness::ready;
        if (clock::now() >= deadline) co_return Readiness::timed_out;
        if (!call.waiting()) co_return Readiness::abandoned;
        co::Promise<bool> woke;
        descriptor.async_wait(type, [woke](std::error_code) { woke.set(true); });
        timer.expires_at(std::min(deadline, clock::now() + kRecheck));
        timer.async_wait([woke](std::error_code ec) {
            if (!ec) woke.set(true);
        });
        co_await woke.wait();
        descriptor.cancel();
        timer.cancel();
    }
}

std::optional<std::chrono::milliseconds> socket_timeout(int socket, int option) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(socket, SOL_SOCKET, option, &tv, &len) != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0)) return std::nullopt;
    return std::chrono::milliseconds(tv.tv_sec * 1000 + tv.tv_usec / 1000);
}

bool is_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK);
}

}  // namespace mrd::tracer
