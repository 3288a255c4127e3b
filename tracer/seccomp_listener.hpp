// The supervisor's end of the seccomp user-notification filter: receives the trapped syscalls of
// every traced thread on the event loop and sends the verdicts back.
//
// Cost: with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+) the kernel hands the CPU straight to
// the supervisor and back, so a notified syscall costs a few microseconds more than a native one.
// Without it every notification is a cross-CPU wake-up; the supervisor then polls the listener for
// a short while after each answer, since a thread that made one trapped call tends to make another.
#pragma once

#include "tracer/notified_call.hpp"
#include "wire/unique_fd.hpp"

#include <asio.hpp>
#include <linux/seccomp.h>

#include <functional>
#include <vector>

namespace mrd::tracer {

struct Notification {
    uint64_t id;
    pid_t tid;  // the thread, as this supervisor's PID namespace numbers it
    uint32_t arch;
    long nr;
    std::array<uint64_t, 6> args;
};

class SeccompListener {
public:
    // sync_wake_up: ask for synchronous wake-ups where the kernel has them.
    SeccompListener(asio::io_context& io, UniqueFd fd, bool sync_wake_up);
    bool sync_wake_up() const { return sync_wake_up_; }
    void start(std::function<void(const Notification&)> on_notification);

    // Whether the thread still waits for the answer to id.
    bool valid(uint64_t id) const;
    // Sends the verdict; a thread that stopped waiting meanwhile (a signal) is no error.
    void respond(uint64_t id, Verdict verdict);

private:
    void wait();
    void drain();
    bool pending() const;

    asio::posix::stream_descriptor descriptor_;
    int fd_;
    bool sync_wake_up_ = false;
    std::vector<char> buffer_;
    std::function<void(const Notification&)> on_notification_;
};

}  // namespace mrd::tracer
