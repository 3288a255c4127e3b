// Which syscalls leave the kernel, how, and who handles them.
#pragma once

#include "tracer/ptrace/notified_call.hpp"
#include "tracer/ptrace/syscall.hpp"

#include <functional>
#include <map>
#include <vector>

namespace mrd::tracer {

// A condition on one argument, checked in BPF so uninteresting calls never leave the kernel.
struct ArgCondition {
    unsigned arg;
    bool equal;  // false: not equal
    uint64_t value;
};
inline ArgCondition arg_nonzero(unsigned arg) { return {arg, false, 0}; }
inline ArgCondition arg_equals(unsigned arg, uint64_t value) { return {arg, true, value}; }

struct TracedSyscall {
    enum class Path { notify, ptrace };
    int nr;
    Path path = Path::notify;
    std::vector<ArgCondition> conditions;
};

class SyscallRouter {
public:
    // Answered through seccomp user notification: the handler's verdict is the syscall's outcome.
    using Handler = std::function<co::Task<Verdict>(Call&)>;
    // Answered at a ptrace stop by rewriting the thread's registers (only where nothing else can).
    using RewriteHandler = std::function<co::Task<void>(Syscall&)>;

    // A check that a call certainly runs as made, answered without the event loop. It runs on the
    // notification listener's thread, so it may read only what never changes during the session.
    using QuickCheck = std::function<bool(const Notification&)>;

    void on(int nr, Handler handler, std::vector<ArgCondition> when = {}, QuickCheck quick = {});
    void on_ptrace_stop(int nr, RewriteHandler handler);
    const Handler* find(long nr) const;
    // Thread-safe once the program runs (the routes no longer change).
    bool certainly_local(const Notification& n) const;
    const RewriteHandler* find_rewrite(long nr) const;
    std::vector<TracedSyscall> traced() const;

private:
    struct Route {
        Handler handler;
        std::vector<ArgCondition> when;
        QuickCheck quick;
    };
    std::map<long, Route> handlers_;
    std::map<long, RewriteHandler> rewrites_;
};

}  // namespace mrd::tracer
