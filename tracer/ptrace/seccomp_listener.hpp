// The supervisor's end of the seccomp user-notification filter: receives the trapped syscalls of
// every traced thread and sends the verdicts back.
//
// A thread of its own waits on the listener, so the kernel's synchronous wake-up (Linux 6.6+,
// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) reaches it directly: it runs on the trapped thread's CPU and
// hands the CPU straight back. Measured here, that makes a trapped call that stays local cost little
// more than a native one; through the event loop's epoll the wake-up is an ordinary cross-CPU one,
// ten times dearer. That thread answers at once what is certainly local (a quick check that reads
// only what never changes during the session); everything else goes to the event loop. Without
// synchronous wake-ups it polls the listener for half a millisecond after each answer, since a
// thread that made one trapped call tends to make another soon.
#pragma once

#include "tracer/ptrace/notified_call.hpp"
#include "base/unique_fd.hpp"

#include <asio.hpp>

#include <functional>
#include <thread>
#include <vector>

namespace mrd::tracer {

class SeccompListener {
public:
    // Called on the listener's thread: true when the call certainly runs as made.
    using QuickCheck = std::function<bool(const Notification&)>;

    // sync_wake_up: ask for synchronous wake-ups where the kernel has them.
    SeccompListener(asio::io_context& io, UniqueFd fd, bool sync_wake_up);
    ~SeccompListener();
    bool sync_wake_up() const { return sync_wake_up_; }
    // on_notification runs on the event loop for whatever quick does not settle.
    void start(QuickCheck quick, std::function<void(const Notification&)> on_notification);

    // Whether the thread still waits for the answer to id.
    bool valid(uint64_t id) const;
    // Sends the verdict; a thread that stopped waiting meanwhile (a signal) is no error.
    void respond(uint64_t id, Verdict verdict) const;

private:
    void run();

    asio::io_context& io_;
    UniqueFd fd_;
    UniqueFd stop_;  // an eventfd: the destructor ends the thread
    bool sync_wake_up_ = false;
    QuickCheck quick_;
    std::function<void(const Notification&)> on_notification_;
    std::thread thread_;
};

}  // namespace mrd::tracer
