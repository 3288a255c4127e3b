// The supervisor: launches the program under ptrace with the seccomp filter, follows every thread and
// descendant, and turns their stops into handler coroutines, all on one event loop thread. A tracee
// waiting for the agent never holds up another.
#pragma once

#include "tracer/ptrace/debugger.hpp"
#include "tracer/ptrace/seccomp_listener.hpp"
#include "tracer/ptrace/syscall_router.hpp"
#include "tracer/ptrace/tracee.hpp"

#include <asio.hpp>
#include <linux/filter.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mrd::tracer {

struct LaunchSpec {
    std::string program;  // resolved path
    std::vector<std::string> argv;
    std::vector<std::string> env;  // NAME=value
    bool sync_wake_up = true;      // ask the kernel for synchronous notification wake-ups
};

class Supervisor {
public:
    Supervisor(asio::io_context& io, const SyscallRouter& router);
    ~Supervisor();

    // Blocks the signals the supervisor handles itself; call before starting any thread or child.
    static void prepare_signals();

    Result<pid_t> launch(const LaunchSpec& spec, const std::vector<sock_filter>& filter);
    // Called once every tracee is gone, with the exit status to give the shell (already encoded:
    // 128+N for a signal death, as a shell would report it) and the signal, if any, that killed main.
    void on_finished(std::function<void(int status, int signal)> callback) { on_finished_ = std::move(callback); }
    // Children of the supervisor that are not traced (a locally started agent) are reaped here too.
    void on_child_exit(pid_t pid, std::function<void(int status)> callback) { child_exits_[pid] = std::move(callback); }
    size_t tracee_count() const { return tracees_.size(); }
    // A debugger for the program (the process launched), attached before launch; or, given a name,
    // for the first process that executes a program of that name (its file or its argv[0]).
    void set_debugger(Debugger* debugger, std::string program_name = "") {
        debugger_ = debugger;
        debugged_name_ = std::move(program_name);
    }
    std::vector<std::shared_ptr<Tracee>> threads_of(pid_t pid) const;
    pid_t main_pid() const { return main_pid_; }
    // After launch failed because the program could not be executed: execve's errno, else 0.
    int exec_errno() const { return exec_errno_; }

private:
    void read_signals();
    void on_signal(int signo, int code);
    void reap();
    void on_status(pid_t tid, int status);
    void on_exited(const std::shared_ptr<Tracee>& t, const Stop& stop);
    void on_new_child(const std::shared_ptr<Tracee>& parent, pid_t child);
    void on_group_stop(const std::shared_ptr<Tracee>& t, const Stop& stop);
    co::Task<void> handle_seccomp(std::shared_ptr<Tracee> t);
    co::Task<void> handle_exec(std::shared_ptr<Tracee> t);
    void on_notification(const Notification& n);
    co::Task<void> answer(Notification n, std::shared_ptr<Process> process, const SyscallRouter::Handler* handler);
    std::shared_ptr<Process> process_of(pid_t tid);
    // 32-bit syscalls are not redirected (warned once per process).
    static bool leave_compat_alone(Process& process, uint32_t arch);
    void forward_signal(int signo);
    void maybe_finish();

    asio::io_context& io_;
    const SyscallRouter& router_;
    asio::posix::stream_descriptor signals_;
    std::optional<SeccompListener> listener_;
    std::array<char, 128 * 16> signal_buffer_{};
    std::map<pid_t, std::shared_ptr<Tracee>> tracees_;
    std::map<pid_t, int> early_stops_;  // stops of new children reported before their parent's event
    std::map<pid_t, std::function<void(int)>> child_exits_;
    std::function<void(int, int)> on_finished_;
    Debugger* debugger_ = nullptr;
    bool program_started_ = false;
    std::string debugged_name_;
    pid_t main_pid_ = 0;
    int main_status_ = 0;
    int main_signal_ = 0;
    bool finished_ = false;
    int exec_errno_ = 0;
};

}  // namespace mrd::tracer
