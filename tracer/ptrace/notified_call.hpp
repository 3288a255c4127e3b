// One trapped syscall answered through seccomp user notification, as its handler sees it: the
// thread waits in the kernel (interruptible by signals, as in any blocking syscall) until the
// handler's verdict arrives. The handler never changes the thread's registers: it reads arguments
// from the thread's memory, acts on the program's own descriptors through pidfd_getfd duplicates,
// writes results back (a bad pointer gives EFAULT, as the kernel would) and returns the verdict.
#pragma once

#include "tracer/ptrace/tracee.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"

#include <limits.h>

#include <array>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>

namespace mrd::tracer {

class SeccompListener;

// A syscall the supervisor made itself for the program, as the kernel would have answered the
// program: -errno on failure.
inline long kernel_result(long r) { return r < 0 ? -errno : r; }

// A trapped syscall as the kernel reported it.
struct Notification {
    uint64_t id;
    pid_t tid;  // the thread, as this supervisor's PID namespace numbers it
    uint32_t arch;
    long nr;
    std::array<uint64_t, 6> args;
};

// What a trapped syscall does once its handler has decided.
struct Verdict {
    enum class Kind { local, result, install_fd };
    Kind kind = Kind::local;
    long value = 0;   // result: >= 0, or -errno
    UniqueFd fd;      // install_fd: placed in the program, its number the syscall's result
    bool cloexec = false;
    int at = -1;      // install_fd at this number (replacing what it was), the result being value

    // The kernel runs the call as the program made it: a decision, never a fallback for a failure.
    static Verdict local() { return {}; }
    // The call returns r (a kernel-style result: negative means -errno).
    static Verdict result(long r);
    static Verdict error(int err) { return result(-err); }
    static Verdict install(UniqueFd fd, bool cloexec);
    // fd takes the place of the program's descriptor `at` (as dup2 would), and the call returns r.
    static Verdict replace(UniqueFd fd, int at, bool cloexec, long r);
};

class Call {
public:
    Call(uint64_t id, pid_t tid, long nr, const std::array<uint64_t, 6>& args, std::shared_ptr<Process> process,
         const SeccompListener& listener)
        : id_(id), tid_(tid), nr_(nr), args_(args), process_(std::move(process)), listener_(listener) {}

    pid_t tid() const { return tid_; }
    long nr() const { return nr_; }
    uint64_t arg(int i) const { return args_[static_cast<size_t>(i)]; }
    int fd_arg(int i) const { return static_cast<int>(arg(i)); }
    Process& process() { return *process_; }
    std::shared_ptr<Process> shared_process() const { return process_; }
    // A duplicate of the program's descriptor (the same open file or socket); invalid if none.
    UniqueFd duplicate(int fd) { return process_->duplicate(fd); }
    // False once the thread no longer waits for this answer (a signal interrupted the call, or it
    // died): what was read from its memory may no longer be its.
    bool waiting() const;

    template <class T>
    std::optional<T> read(uint64_t addr) const {
        T value{};
        if (!read_bytes(addr, &value, sizeof value)) return std::nullopt;
        return value;
    }
    bool read_bytes(uint64_t addr, void* out, size_t len) const;
    Result<std::string> read_string(uint64_t addr, size_t max = PATH_MAX) const;
    // False when addr is not writable by the program (the syscall should fail with EFAULT).
    bool write(uint64_t addr, const void* data, size_t len) const;
    template <class T>
    bool write_value(uint64_t addr, const T& value) const { return write(addr, &value, sizeof value); }

private:
    uint64_t id_;
    pid_t tid_;
    long nr_;
    std::array<uint64_t, 6> args_;
    std::shared_ptr<Process> process_;
    const SeccompListener& listener_;
};

}  // namespace mrd::tracer
