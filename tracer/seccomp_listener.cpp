#include "tracer/seccomp_listener.hpp"

#include "wire/log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <chrono>
#include <cstring>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace mrd::tracer {

SeccompListener::SeccompListener(asio::io_context& io, UniqueFd fd, bool sync_wake_up) : descriptor_(io), fd_(fd.get()) {
    seccomp_notif_sizes sizes{};
    size_t size = sizeof(seccomp_notif);
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0) size = std::max<size_t>(size, sizes.seccomp_notif);
    buffer_.resize(size);
    if (sync_wake_up) sync_wake_up_ = ::ioctl(fd_, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) == 0;
    descriptor_.assign(fd.release());
}

void SeccompListener::start(std::function<void(const Notification&)> on_notification) {
    on_notification_ = std::move(on_notification);
    wait();
}

void SeccompListener::wait() {
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
        if (ec) return;  // closed: the session is over
        drain();
        wait();
    });
}

bool SeccompListener::pending() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void SeccompListener::drain() {
    // Without synchronous wake-ups, a short poll after each answer catches the thread's next call
    // before we go back to sleep (a cross-CPU wake-up saved each time).
    constexpr auto kSpin = std::chrono::microseconds(30);
    auto spin_until = std::chrono::steady_clock::now() + kSpin;
    for (;;) {
        if (!pending()) {
            if (sync_wake_up_ || std::chrono::steady_clock::now() >= spin_until) return;
            continue;
        }
        std::memset(buffer_.data(), 0, buffer_.size());
        if (::ioctl(fd_, SECCOMP_IOCTL_NOTIF_RECV, buffer_.data()) != 0) {
            if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: the thread gave up meanwhile
            log::error("seccomp notification: ", std::strerror(errno));
            return;
        }
        const auto* n = reinterpret_cast<const seccomp_notif*>(buffer_.data());
        Notification notification{n->id, static_cast<pid_t>(n->pid), n->data.arch, n->data.nr, {}};
        for (size_t i = 0; i < 6; ++i) notification.args[i] = n->data.args[i];
        on_notification_(notification);
        spin_until = std::chrono::steady_clock::now() + kSpin;
    }
}

bool SeccompListener::valid(uint64_t id) const {
    uint64_t copy = id;
    return ::ioctl(fd_, SECCOMP_IOCTL_NOTIF_ID_VALID, &copy) == 0;
}

void SeccompListener::respond(uint64_t id, Verdict verdict) {
    if (verdict.kind == Verdict::Kind::install_fd) {
        seccomp_notif_addfd add{};
        add.id = id;
        add.flags = SECCOMP_ADDFD_FLAG_SEND;  // installed and returned as the result, atomically
        add.srcfd = static_cast<uint32_t>(verdict.fd.get());
        add.newfd_flags = verdict.cloexec ? O_CLOEXEC : 0;
        if (::ioctl(fd_, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0 || errno == ENOENT) return;
        // EMFILE and the like are the program's to see, as from the syscall itself.
        verdict = Verdict::error(errno == EBADF ? EIO : errno);
    }
    seccomp_notif_resp resp{};
    resp.id = id;
    if (verdict.kind == Verdict::Kind::local) {
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else if (verdict.value < 0) {
        resp.error = static_cast<int32_t>(verdict.value);
    } else {
        resp.val = verdict.value;
    }
    if (::ioctl(fd_, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT)
        log::debug("seccomp answer: ", std::strerror(errno));
}

}  // namespace mrd::tracer
