// A GDB remote-protocol server in the supervisor. A process has only one ptracer, and ours is the
// supervisor, so a debugger cannot attach to the program; instead it connects to this server (as to
// rr or gdbserver) and debugs through it: registers, memory, software and hardware breakpoints,
// continue and step (all-stop), threads, Ctrl-C, kill and detach, the binary, auxv and shared
// libraries for symbols. gdb's dialect and lldb's (which Delve speaks too, see lldb_server_stand_in).
// Remote syscalls keep being served meanwhile: a thread stopped inside a remote call finishes it when
// the debugger continues. Packets travel through gdb::Connection; vFile reads go to gdb::HostFiles.
//
// The program (or the child --debug-child names) stops at its first instruction and waits for the
// debugger. Other processes run freely.
#pragma once

#include "tracer/gdb/debug_registers.hpp"
#include "tracer/ptrace/debugger.hpp"
#include "tracer/gdb/gdb_registers.hpp"
#include "tracer/gdb/gdb_connection.hpp"
#include "tracer/gdb/gdb_host_files.hpp"
#include "tracer/gdb/gdb_protocol.hpp"
#include "tracer/ptrace/supervisor.hpp"

#include <asio.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>

namespace mrd::tracer {

class GdbServer : public Debugger {
public:
    GdbServer(asio::io_context& io, Supervisor& supervisor);
    // "HOST:PORT" or ":PORT" (port 0: any); the address it listens on.
    Result<std::string> listen(const std::string& address) { return connection_.listen(address); }
    // Called once the debugged program waits at its first instruction.
    void on_waiting(std::function<void(pid_t)> callback) { on_waiting_ = std::move(callback); }
    // The session is over: the listener and any debugger's connection close (their coroutines end).
    void close() { connection_.close(); }

    bool debugs(const Tracee& t) const override { return pid_ != 0 && t.process->pid == pid_; }
    void on_program_started(std::shared_ptr<Tracee> main) override;
    bool on_stop(std::shared_ptr<Tracee> t, const Stop& stop) override;
    void on_syscall(const Tracee& t) override;
    bool on_new_thread(const Tracee& t) override;
    void on_exited(const Tracee& t, const Stop& stop) override;
    void on_signal_forwarded(int signo) override;

private:
    // Nobody debugs any more: the program runs on without breakpoints, as after a detach.
    void run_undebugged();
    // Why a thread last stopped, for its stop reply.
    enum class Cause { none, breakpoint, step, watch, signal };
    struct Thread {
        bool stopped = false;               // in a stop the debugger owns
        bool interrupt_outstanding = false; // PTRACE_INTERRUPT sent, its stop not yet seen
        bool counted = false;               // the world-stop waits for this thread
        int pending_signal = -1;            // an event not yet reported (-1: none)
        Cause cause = Cause::none;
        std::string watch;                  // "watch:ADDR;" when a watchpoint fired
        bool shown = false;                 // lldb has seen its pending event (qThreadStopInfo) and decides
        int deferred_signal = 0;            // lldb: a passed signal that arrived mid-step, sent with the next continue
    };
    // What the connected debugger speaks: gdb's dialect, or lldb's (lldb, and Delve as it talks to
    // lldb-server): Linux signal numbers, thread suffixes, stop reasons, lldb-server's all-stop.
    struct Dialect {
        bool lldb = false;                  // it sent QThreadSuffixSupported
        bool swbreak = false;               // gdb: it takes "swbreak" stops with the pc already at the breakpoint
        bool threads_in_stop_reply = false; // QListThreadsInStopReply
    };
    enum class Mode { waiting, running, stopping, stopped, exited };

    void handle(const std::string& packet);
    std::string dispatch(const std::string& packet, bool& reply);
    void send_packet(const std::string& payload) { connection_.send_packet(payload); }

    void stop_world(pid_t event_tid, int signal);
    Cause classify_trap(Tracee& t, bool was_stepping, const std::string& watch);
    bool rewinds_breakpoints() const { return dialect_.lldb || dialect_.swbreak; }
    int signal_out(int linux_signal) const;  // in the debugger's numbering
    int signal_in(int number) const;
    void maybe_report();
    // A thread the world-stop waited for is stopped (or in a syscall handler): one fewer to wait for.
    void counted_stop(Thread& th);
    void report_stop();
    std::string stop_reply(pid_t tid);
    std::string thread_list(bool with_pcs);
    std::string watch_reason(pid_t tid) const;
    // vCont-style resume: actions per thread ('c' or 's', with a signal), default for the rest.
    void resume(const std::map<pid_t, std::pair<char, int>>& actions, std::pair<char, int> fallback);
    bool report_pending_event();

    std::optional<std::string> read_memory(uint64_t addr, size_t len);
    std::string write_memory(uint64_t addr, const std::vector<uint8_t>& bytes);
    std::string breakpoint(bool insert, uint64_t addr);
    std::string hardware_point(bool insert, DebugRegisters::Kind kind, uint64_t addr, size_t len);
    bool apply_debug_registers();
    void remove_breakpoints();
    std::string query(const std::string& packet);
    std::string xfer(const std::string& content, const std::string& range);
    std::string vcont(const std::string& packet);
    pid_t selected_thread(pid_t chosen) const;

    Supervisor& supervisor_;
    gdb::Connection connection_;
    gdb::HostFiles host_files_;
    Dialect dialect_;

    pid_t pid_ = 0;
    Mode mode_ = Mode::waiting;
    std::map<pid_t, Thread> threads_;
    int pending_stops_ = 0;
    pid_t event_tid_ = 0;
    int event_signal_ = 0;
    std::string exit_reply_;
    pid_t g_thread_ = 0;    // Hg
    pid_t reg_thread_ = 0;  // the thread the packet being answered is about (Hg or lldb's suffix)
    std::map<uint64_t, uint8_t> breakpoints_;  // address -> original byte
    DebugRegisters debug_registers_;           // hardware breakpoints and watchpoints
    std::set<int> pass_signals_;               // QPassSignals, in the debugger's numbering
    std::map<int, gdb::RegisterFile> saved_registers_;  // QSaveRegisterState
    std::function<void(pid_t)> on_waiting_;
    int next_saved_registers_ = 1;
};

}  // namespace mrd::tracer
