#include "tracer/gdb/gdb_server.hpp"

#include "tracer/gdb/gdb_inferior.hpp"
#include "tracer/gdb/gdb_registers.hpp"
#include "tracer/ptrace/tracee_memory.hpp"
#include "base/async.hpp"
#include "base/log.hpp"
#include "base/text_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

namespace mrd::tracer {

using namespace gdb;

namespace {

std::string hex2(int v) { return hex_le(static_cast<uint64_t>(v) & 0xff, 1); }
}  // namespace

GdbServer::GdbServer(asio::io_context& io, Supervisor& supervisor)
    : supervisor_(supervisor),
      connection_(io, {[this] { dialect_ = {}; }, [this](const std::string& packet) { handle(packet); },
                       [this] {
                           // gdb hears SIGINT; lldb-server reports SIGSTOP, which lldb does not pass on (SIGINT it would)
                           if (mode_ == Mode::running) stop_world(pid_, dialect_.lldb ? SIGSTOP : SIGINT);
                       },
                       [this] { run_undebugged(); }}) {}

void GdbServer::run_undebugged() {
    remove_breakpoints();
    host_files_.close_all();
    if (mode_ == Mode::stopped || mode_ == Mode::waiting) resume({}, {'c', 0});
}

void GdbServer::on_signal_forwarded(int) {
    // With no debugger to decide, the signal takes its course (a program waiting for gdb would
    // otherwise never see it, and mirrord would never end).
    if (!connection_.connected()) run_undebugged();
}

void GdbServer::handle(const std::string& packet) {
    bool reply = true;
    std::string answer = dispatch(packet, reply);
    if (reply) send_packet(answer);
}

pid_t GdbServer::selected_thread(pid_t chosen) const {
    if (chosen > 0 && threads_.count(chosen)) return chosen;
    if (event_tid_ && threads_.count(event_tid_)) return event_tid_;
    return pid_;
}

std::string GdbServer::dispatch(const std::string& packet, bool& reply) {
    if (packet.empty()) return "";
    // lldb names the thread of a register packet in a ";thread:TID;" suffix rather than with Hg.
    std::string p = packet;
    pid_t suffix_thread = 0;
    if (auto at = p.find(";thread:"); dialect_.lldb && at != std::string::npos) {
        std::string id = p.substr(at + 8);
        suffix_thread = static_cast<pid_t>(parse_hex(id.substr(0, id.find(';'))).value_or(0));
        p.erase(at);
    }
    reg_thread_ = selected_thread(suffix_thread ? suffix_thread : g_thread_);
    if (mode_ == Mode::exited && p[0] != 'q' && p[0] != 'Q' && p[0] != 'v' && p != "?") return exit_reply_.empty() ? "E01" : exit_reply_;
    switch (p[0]) {
        case '?':
            if (mode_ == Mode::exited) return exit_reply_;
            if (mode_ == Mode::running) {  // gdb reconnected to a running program: stop it first
                reply = false;
                stop_world(pid_, 0);
                return "";
            }
            return stop_reply(selected_thread(0));
        case 'g': {
            auto regs = read_registers(reg_thread_);
            return regs ? encode_all(*regs) : "E01";
        }
        case 'G': {
            auto regs = read_registers(reg_thread_);
            if (!regs || !decode_all(p.substr(1), *regs) || !write_registers(reg_thread_, *regs)) return "E01";
            return "OK";
        }
        case 'p': {
            auto regno = parse_hex(p.substr(1));
            auto regs = read_registers(reg_thread_);
            if (!regno || !regs) return "E01";
            return encode_one(*regs, static_cast<int>(*regno)).value_or("E01");
        }
        case 'P': {
            auto eq = p.find('=');
            auto regno = parse_hex(p.substr(1, eq - 1));
            auto regs = read_registers(reg_thread_);
            if (eq == std::string::npos || !regno || !regs || !decode_one(*regs, static_cast<int>(*regno), p.substr(eq + 1)) ||
                !write_registers(reg_thread_, *regs))
                return "E01";
            return "OK";
        }
        case 'm': case 'x': {  // x: lldb's binary read ("x0,0" asks whether it is supported)
            auto parts = split(p.substr(1), ',');
            if (parts.size() != 2) return "E01";
            auto addr = parse_hex(parts[0]), len = parse_hex(parts[1]);
            if (!addr || !len) return "E01";
            if (p[0] == 'x' && *len == 0) return "OK";
            auto bytes = read_memory(*addr, std::min<size_t>(*len, 65536));
            if (!bytes) return "E14";
            return p[0] == 'x' ? *bytes : to_hex(*bytes);
        }
        case 'M': {
            auto colon = p.find(':');
            auto parts = split(p.substr(1, colon - 1), ',');
            if (colon == std::string::npos || parts.size() != 2) return "E01";
            auto addr = parse_hex(parts[0]);
            auto data = from_hex(p.substr(colon + 1));
            if (!addr || !data) return "E01";
            return write_memory(*addr, *data);
        }
        case 'X': {
            auto colon = p.find(':');
            auto parts = split(p.substr(1, colon - 1), ',');
            if (colon == std::string::npos || parts.size() != 2) return "E01";
            auto addr = parse_hex(parts[0]);
            if (!addr) return "E01";
            std::string data = p.substr(colon + 1);
            return write_memory(*addr, std::vector<uint8_t>(data.begin(), data.end()));
        }
        case 'Z': case 'z': {
            auto parts = split(p.substr(1), ',');
            if (parts.size() < 3) return "E01";
            auto addr = parse_hex(parts[1]);
            auto len = parse_hex(parts[2]);
            if (!addr || !len) return "E01";
            if (parts[0] == "0") return breakpoint(p[0] == 'Z', *addr);
            static const std::map<std::string, DebugRegisters::Kind> kinds = {
                {"1", DebugRegisters::Kind::execute}, {"2", DebugRegisters::Kind::write}, {"4", DebugRegisters::Kind::access}};
            auto kind = kinds.find(parts[0]);
            if (kind == kinds.end()) return "";  // read-only watchpoints: x86 has none
            return hardware_point(p[0] == 'Z', kind->second, *addr, static_cast<size_t>(*len));
        }
        case 'H': {
            if (p.size() < 3) return "E01";
            std::string id = p.substr(2);
            pid_t tid = id == "-1" || id == "0" ? 0 : static_cast<pid_t>(parse_hex(id).value_or(0));
            if (p[1] == 'g') g_thread_ = tid;
            return "OK";
        }
        case 'T': {
            auto tid = parse_hex(p.substr(1));
            return tid && threads_.count(static_cast<pid_t>(*tid)) ? "OK" : "E01";
        }
        case 'c': case 's': case 'C': case 'S': {
            reply = false;
            char action = static_cast<char>(std::tolower(p[0]));
            int sig = 0;
            if (p[0] == 'C' || p[0] == 'S') sig = signal_in(static_cast<int>(parse_hex(p.substr(1, p.find(';') - 1)).value_or(0)));
            std::map<pid_t, std::pair<char, int>> actions;
            if (action == 's') actions[selected_thread(0)] = {'s', sig};
            else actions[selected_thread(0)] = {'c', sig};
            resume(actions, {'c', 0});
            return "";
        }
        case 'k':
            reply = false;
            if (pid_) ::kill(pid_, SIGKILL);
            return "";
        case 'D':
            remove_breakpoints();
            send_packet("OK");
            reply = false;
            resume({}, {'c', 0});
            connection_.hang_up();
            return "";
        case 'q': case 'Q':
            return query(p);
        case 'v':
            if (p.rfind("vCont?", 0) == 0) return "vCont;c;C;s;S";
            if (p.rfind("vCont;", 0) == 0) {
                reply = false;
                return vcont(p);
            }
            if (p.rfind("vFile:", 0) == 0) return host_files_.request(p);
            if (p.rfind("vKill", 0) == 0) {
                if (pid_) ::kill(pid_, SIGKILL);
                return "OK";
            }
            return "";
        default:
            return "";
    }
}

std::string GdbServer::query(const std::string& p) {
    if (p.rfind("qSupported", 0) == 0) {
        dialect_.swbreak = p.find("swbreak+") != std::string::npos;
        return "PacketSize=20000;QStartNoAckMode+;qXfer:features:read+;qXfer:auxv:read+;qXfer:exec-file:read+;"
               "qXfer:libraries-svr4:read+;QPassSignals+;vContSupported+;swbreak+";
    }
    // lldb's dialect (lldb-gdb-remote.txt), which Delve speaks too.
    if (p == "QThreadSuffixSupported") {
        dialect_.lldb = true;
        return "OK";
    }
    if (p == "QListThreadsInStopReply") {
        dialect_.threads_in_stop_reply = true;
        return "OK";
    }
    if (p == "qHostInfo") return host_info();
    if (p == "qProcessInfo") return process_info(pid_);
    if (p.rfind("qThreadStopInfo", 0) == 0) {
        auto tid = parse_hex(p.substr(15));
        if (!tid || !threads_.count(static_cast<pid_t>(*tid))) return "E15";
        threads_[static_cast<pid_t>(*tid)].shown = true;
        return stop_reply(static_cast<pid_t>(*tid));
    }
    if (p.rfind("qMemoryRegionInfo:", 0) == 0) {
        auto addr = parse_hex(p.substr(18));
        return addr ? memory_region_info(pid_, *addr) : "E01";
    }
    if (p == "QSaveRegisterState") {
        auto regs = read_registers(reg_thread_);
        if (!regs) return "E01";
        saved_registers_[next_saved_registers_] = *regs;
        return std::to_string(next_saved_registers_++);
    }
    if (p.rfind("QRestoreRegisterState:", 0) == 0) {
        auto it = saved_registers_.find(std::atoi(p.c_str() + 22));
        if (it == saved_registers_.end() || !write_registers(reg_thread_, it->second)) return "E01";
        saved_registers_.erase(it);
        return "OK";
    }
    if (p.rfind("qXfer:libraries-svr4:read::", 0) == 0) return xfer(svr4_library_list(pid_, !dialect_.lldb), p.substr(27));
    if (p == "QStartNoAckMode") {
        connection_.stop_acks();  // this packet was acked already; from its reply on, nothing is
        return "OK";
    }
    if (p.rfind("QPassSignals:", 0) == 0) {
        pass_signals_.clear();
        for (auto& s : split(p.substr(13), ';'))
            if (auto n = parse_hex(s)) pass_signals_.insert(static_cast<int>(*n));
        return "OK";
    }
    if (p.rfind("QProgramSignals:", 0) == 0 || p.rfind("QNonStop:0", 0) == 0 || p.rfind("QThreadEvents", 0) == 0) return "OK";
    if (p == "qAttached" || p.rfind("qAttached:", 0) == 0) return "0";  // we started it: quitting gdb kills it
    if (p == "qC") return "QC" + hex_number(static_cast<uint64_t>(selected_thread(0)));
    if (p == "qfThreadInfo") {
        std::string out = "m";
        for (auto& t : supervisor_.threads_of(pid_)) out += hex_number(static_cast<uint64_t>(t->tid)) + ",";
        if (out.size() > 1) out.pop_back();
        return out.size() > 1 ? out : "l";
    }
    if (p == "qsThreadInfo") return "l";
    if (p == "qSymbol::") return "OK";
    if (p.rfind("qThreadExtraInfo,", 0) == 0) return to_hex(std::string_view("running under mirrord"));
    if (p.rfind("qXfer:features:read:", 0) == 0) {
        std::string rest = p.substr(20);
        auto colon = rest.find(':');
        auto document = target_description(rest.substr(0, colon));
        if (!document || colon == std::string::npos) return "E00";
        return xfer(*document, rest.substr(colon + 1));
    }
    if (p.rfind("qXfer:auxv:read::", 0) == 0) return xfer(read_file("/proc/" + std::to_string(pid_) + "/auxv").value_or(""), p.substr(17));
    if (p.rfind("qXfer:exec-file:read:", 0) == 0) {
        auto rest = p.substr(21);
        return xfer(read_link("/proc/" + std::to_string(pid_) + "/exe").value_or(""), rest.substr(rest.find(':') + 1));
    }
    return "";
}

std::string GdbServer::xfer(const std::string& content, const std::string& range) {
    auto parts = split(range, ',');
    if (parts.size() != 2) return "E01";
    auto offset = parse_hex(parts[0]), length = parse_hex(parts[1]);
    if (!offset || !length) return "E01";
    if (*offset >= content.size()) return "l";
    std::string chunk = content.substr(*offset, *length);
    return (*offset + chunk.size() >= content.size() ? "l" : "m") + chunk;
}

std::string GdbServer::vcont(const std::string& p) {
    std::map<pid_t, std::pair<char, int>> actions;
    std::pair<char, int> fallback = {0, 0};
    for (auto& part : split(p.substr(6), ';')) {
        if (part.empty()) continue;
        auto colon = part.find(':');
        std::string act = part.substr(0, colon);
        char kind = static_cast<char>(std::tolower(act[0]));
        int sig = act.size() > 1 ? signal_in(static_cast<int>(parse_hex(act.substr(1)).value_or(0))) : 0;
        if (kind != 'c' && kind != 's') continue;
        if (colon == std::string::npos) {
            if (!fallback.first) fallback = {kind, sig};
        } else {
            std::string id = part.substr(colon + 1);
            if (auto dot = id.find('.'); dot != std::string::npos) id = id.substr(dot + 1);  // pPID.TID
            pid_t tid = id == "-1" ? 0 : static_cast<pid_t>(parse_hex(id).value_or(0));
            if (tid == 0) fallback = {kind, sig};
            else if (!actions.count(tid)) actions[tid] = {kind, sig};
        }
    }
    resume(actions, fallback);
    return "";
}

std::optional<std::string> GdbServer::read_memory(uint64_t addr, size_t len) {
    std::string data(len, '\0');
    size_t got = 0;
    // Page by page: a read may run into an unmapped page, and gdb wants what is readable.
    while (got < len) {
        size_t chunk = std::min(len - got, static_cast<size_t>(4096 - ((addr + got) & 4095)));
        if (!tracer::read_memory(pid_, addr + got, data.data() + got, chunk)) break;
        got += chunk;
    }
    if (got == 0) return std::nullopt;
    data.resize(got);
    for (auto& [bp, original] : breakpoints_)  // gdb sees its code, not our int3s
        if (bp >= addr && bp < addr + got) data[bp - addr] = static_cast<char>(original);
    return data;
}

std::string GdbServer::write_memory(uint64_t addr, const std::vector<uint8_t>& bytes) {
    std::vector<uint8_t> data = bytes;
    for (auto& [bp, original] : breakpoints_)  // writing over a breakpoint updates what it hides
        if (bp >= addr && bp < addr + data.size()) {
            original = data[bp - addr];
            data[bp - addr] = 0xcc;
        }
    if (data.empty()) return "OK";
    return tracer::poke_memory(pid_, addr, data.data(), data.size()) ? "OK" : "E14";
}

std::string GdbServer::breakpoint(bool insert, uint64_t addr) {
    if (insert) {
        if (breakpoints_.count(addr)) return "OK";
        uint8_t original;
        if (!tracer::read_memory(pid_, addr, &original, 1)) return "E14";
        uint8_t int3 = 0xcc;
        if (!tracer::poke_memory(pid_, addr, &int3, 1)) return "E14";
        breakpoints_[addr] = original;
        return "OK";
    }
    auto it = breakpoints_.find(addr);
    if (it == breakpoints_.end()) return "OK";
    (void)tracer::poke_memory(pid_, addr, &it->second, 1);
    breakpoints_.erase(it);
    return "OK";
}

std::string GdbServer::hardware_point(bool insert, DebugRegisters::Kind kind, uint64_t addr, size_t len) {
    DebugRegisters before = debug_registers_;
    if (insert ? !debug_registers_.insert(kind, addr, len) : !debug_registers_.remove(kind, addr, len))
        return insert ? "E28" : "OK";  // no slot left (ENOSPC): gdb falls back or says so
    if (!apply_debug_registers()) {
        debug_registers_ = before;
        (void)apply_debug_registers();
        return "E22";
    }
    return "OK";
}

bool GdbServer::apply_debug_registers() {
    bool ok = true;
    for (auto& t : supervisor_.threads_of(pid_))
        if (auto st = debug_registers_.apply(t->tid); !st) {
            log::debug(st.error().message);
            ok = false;
        }
    return ok;
}

void GdbServer::remove_breakpoints() {
    for (auto& [addr, byte] : breakpoints_) (void)tracer::poke_memory(pid_, addr, &byte, 1);
    breakpoints_.clear();
    if (!debug_registers_.empty()) {
        debug_registers_.clear();
        (void)apply_debug_registers();
    }
}

// ---- the debugged process's state ----

void GdbServer::on_program_started(std::shared_ptr<Tracee> main) {
    pid_ = main->process->pid;
    main->process->frozen = true;
    threads_[main->tid].stopped = true;
    event_tid_ = main->tid;
    event_signal_ = 0;
    mode_ = Mode::stopped;
    log::warn("the program (pid ", pid_, ") is stopped at its first instruction; waiting for gdb (target remote ",
              connection_.address(), ")");
    connection_.accept();
    if (on_waiting_) on_waiting_(pid_);
}

bool GdbServer::on_stop(std::shared_ptr<Tracee> t, const Stop& stop) {
    Thread& th = threads_[t->tid];
    bool interrupt = stop.kind == Stop::Kind::group_stop && stop.signal == SIGTRAP;
    log::trace("gdb: thread ", t->tid, " stops (", interrupt ? "interrupt" : "signal ", stop.signal, ") in mode ", static_cast<int>(mode_),
               th.counted ? ", counted" : "", th.stopped ? ", stopped" : "");
    if (interrupt && th.interrupt_outstanding) {
        th.interrupt_outstanding = false;
        if (th.counted) {
            th.stopped = true;
            counted_stop(th);
        } else if (t->process->frozen) {
            th.stopped = true;  // a late interrupt: the world is stopped anyway
        } else {
            t->force_resume(PTRACE_CONT);  // a late interrupt after gdb continued
        }
        return true;
    }
    int sig = stop.signal;
    if (stop.kind == Stop::Kind::signal && sig == SIGTRAP) {
        bool was_stepping = std::exchange(t->stepping, false);
        th.watch = watch_reason(t->tid);
        th.cause = classify_trap(*t, was_stepping, th.watch);
    } else if (stop.kind == Stop::Kind::signal) {
        th.cause = Cause::signal;
    }
    if (mode_ == Mode::running && !connection_.connected()) return false;  // nobody debugs: the signal takes its usual course
    // A signal the debugger asked not to hear about (e.g. Go's SIGURG) takes its course. While the
    // thread single-steps, stepping into the handler would look like a finished step: gdb hears of
    // it and steps over the handler; lldb would end up back on the breakpoint it was stepping off, so
    // the step goes on and the signal comes with the next continue (unless the stepped instruction
    // itself faulted).
    if (mode_ == Mode::running && stop.kind == Stop::Kind::signal && sig != SIGTRAP && pass_signals_.count(signal_out(sig))) {
        bool fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGSYS;
        if (!t->stepping) {
            t->force_resume(PTRACE_CONT, sig);
            return true;
        }
        if (dialect_.lldb && !fault) {
            th.deferred_signal = sig;
            t->force_resume(PTRACE_SINGLESTEP);
            return true;
        }
    }
    th.stopped = true;
    if (th.counted) {
        th.pending_signal = sig;  // stopped by something else than our interrupt: report it later
        counted_stop(th);
        return true;
    }
    if (mode_ == Mode::running) {
        stop_world(t->tid, sig);
        return true;
    }
    th.pending_signal = sig;  // while the world is stopped or stopping
    return true;
}

bool GdbServer::on_new_thread(const Tracee& t) {
    if (!debug_registers_.empty())
        if (auto st = debug_registers_.apply(t.tid); !st) log::warn("gdb: ", st.error().message);
    // Created just before the world stopped and interrupted before its first stop: that stop is the
    // one the world waits for (the interrupt may merge into it, and a held thread would never show
    // another). Should the interrupt stop it again later, interrupt_outstanding absorbs that.
    auto it = threads_.find(t.tid);
    if (it == threads_.end() || !it->second.counted) return false;
    it->second.stopped = true;
    counted_stop(it->second);
    return true;
}

void GdbServer::on_syscall(const Tracee& t) {
    auto it = threads_.find(t.tid);
    if (it == threads_.end() || !it->second.counted) return;
    counted_stop(it->second);  // stopped in its handler: stopped enough
}

void GdbServer::counted_stop(Thread& th) {
    th.counted = false;
    --pending_stops_;
    maybe_report();
}

void GdbServer::on_exited(const Tracee& t, const Stop& stop) {
    auto it = threads_.find(t.tid);
    if (it != threads_.end()) {
        if (it->second.counted) --pending_stops_;
        threads_.erase(it);
    }
    if (t.tid == pid_) {
        exit_reply_ = stop.signal ? "X" + hex2(signal_out(stop.signal)) : "W" + hex2(WEXITSTATUS(stop.status));
        mode_ = Mode::exited;
        if (connection_.connected()) send_packet(exit_reply_);
        return;
    }
    maybe_report();
}

void GdbServer::stop_world(pid_t event_tid, int signal) {
    event_tid_ = event_tid;
    event_signal_ = signal;
    mode_ = Mode::stopping;
    pending_stops_ = 0;
    auto threads = supervisor_.threads_of(pid_);
    if (!threads.empty()) threads.front()->process->frozen = true;
    for (auto& t : threads) {
        Thread& th = threads_[t->tid];
        if (th.stopped || t->in_stop) continue;  // already stopped (by us, or inside a syscall handler)
        log::trace("gdb: interrupting thread ", t->tid);
        if (::ptrace(PTRACE_INTERRUPT, t->tid, nullptr, nullptr) == 0) {
            th.interrupt_outstanding = true;
            th.counted = true;
            ++pending_stops_;
        }
    }
    maybe_report();
}

void GdbServer::maybe_report() {
    log::trace("gdb: mode ", static_cast<int>(mode_), ", ", pending_stops_, " stop(s) pending");
    if (mode_ != Mode::stopping || pending_stops_ > 0) return;
    mode_ = Mode::stopped;
    if (!connection_.connected() && pid_) return resume({}, {'c', 0});  // gdb left while the world was stopping
    report_stop();
}

void GdbServer::report_stop() {
    if (!connection_.connected()) return;  // '?' reports it when gdb connects
    send_packet(stop_reply(event_tid_));
}

GdbServer::Cause GdbServer::classify_trap(Tracee& t, bool was_stepping, const std::string& watch) {
    if (!watch.empty()) return Cause::watch;
    siginfo_t info{};
    auto regs = read_registers(t.tid);
    // An int3 of ours: the pc is one past it. lldb, Delve and gdb with swbreak want it back on the breakpoint.
    if (regs && ::ptrace(PTRACE_GETSIGINFO, t.tid, nullptr, &info) == 0 && info.si_code == SI_KERNEL &&
        breakpoints_.count(regs->gp.rip - 1)) {
        if (rewinds_breakpoints()) {
            regs->gp.rip -= 1;
            if (auto st = write_registers(t.tid, *regs); !st) log::debug("gdb: ", st.error().message);
        }
        return Cause::breakpoint;
    }
    return was_stepping ? Cause::step : Cause::none;
}

int GdbServer::signal_out(int linux_signal) const { return dialect_.lldb ? linux_signal : signal_to_gdb(linux_signal); }
int GdbServer::signal_in(int number) const { return dialect_.lldb ? number : signal_from_gdb(number); }

std::string GdbServer::stop_reply(pid_t tid) {
    auto it = threads_.find(tid);
    int sig = 0;
    // A stop of ours (the first instruction, an interrupt) reads as SIGTRAP to gdb and as SIGSTOP to lldb,
    // as lldb-server has it: lldb takes a SIGTRAP at a breakpoint address for that breakpoint's hit.
    if (tid == event_tid_) sig = event_signal_ ? event_signal_ : dialect_.lldb ? SIGSTOP : SIGTRAP;
    else if (it != threads_.end() && it->second.pending_signal > 0) sig = it->second.pending_signal;
    std::string out = "T" + hex2(signal_out(sig)) + "thread:" + hex_number(static_cast<uint64_t>(tid)) + ";";
    if (dialect_.threads_in_stop_reply) out += thread_list(tid == event_tid_);
    Cause cause = it != threads_.end() ? it->second.cause : Cause::none;
    if (cause == Cause::watch) out += it->second.watch;
    if (cause == Cause::breakpoint && dialect_.swbreak) out += "swbreak:;";
    if (dialect_.lldb) {
        static const char* const reasons[] = {"", "reason:breakpoint;", "reason:trace;", "reason:watchpoint;", "reason:signal;"};
        if (sig && sig != SIGTRAP && cause == Cause::none) cause = Cause::signal;  // an interrupt: SIGSTOP
        out += reasons[static_cast<int>(cause)];
    }
    return out;
}

std::string GdbServer::thread_list(bool with_pcs) {
    std::string tids = "threads:", pcs = "thread-pcs:";
    for (auto& t : supervisor_.threads_of(pid_)) {
        tids += hex_number(static_cast<uint64_t>(t->tid)) + ",";
        if (!with_pcs) continue;
        if (auto regs = read_registers(t->tid)) pcs += hex_number(regs->gp.rip) + ",";
    }
    if (tids.back() == ',') tids.back() = ';';
    if (pcs.back() == ',') pcs.back() = ';';
    return tids + (with_pcs && pcs.back() == ';' ? pcs : "");
}

std::string GdbServer::watch_reason(pid_t tid) const {
    if (debug_registers_.empty()) return "";
    auto hit = debug_registers_.take_hit(tid);
    if (!hit || hit->kind == DebugRegisters::Kind::execute) return "";  // gdb finds breakpoints by pc
    return std::string(hit->kind == DebugRegisters::Kind::write ? "watch:" : "awatch:") + hex_number(hit->addr) + ";";
}

bool GdbServer::report_pending_event() {
    for (auto& [tid, th] : threads_) {
        // A breakpoint hit gdb has since removed is no event any more (its pc was put back on it).
        if (th.cause == Cause::breakpoint && rewinds_breakpoints() && th.pending_signal == SIGTRAP) {
            auto regs = read_registers(tid);
            if (regs && !breakpoints_.count(regs->gp.rip)) th.pending_signal = -1;
        }
        if (th.pending_signal >= 0 && th.stopped) {
            event_tid_ = tid;
            event_signal_ = th.pending_signal;
            th.pending_signal = -1;
            mode_ = Mode::stopped;
            report_stop();
            return true;
        }
    }
    return false;
}

void GdbServer::resume(const std::map<pid_t, std::pair<char, int>>& actions, std::pair<char, int> fallback) {
    if (mode_ == Mode::exited || !pid_) return;
    // An event that happened while gdb was looking at another one is reported first, gdbserver-style.
    // lldb-server instead shows them all at the stop (qThreadStopInfo) and lets lldb decide.
    if (connection_.connected() && !dialect_.lldb && report_pending_event()) return;
    auto threads = supervisor_.threads_of(pid_);
    if (threads.empty()) return;
    threads.front()->process->frozen = false;
    mode_ = Mode::running;
    event_signal_ = 0;
    for (auto& t : threads) {
        auto it = actions.find(t->tid);
        auto [kind, sig] = it != actions.end() ? it->second : fallback;
        Thread& th = threads_[t->tid];
        // A thread no action names stays as it is (stopped), as the protocol says.
        t->kept_stopped = !kind;
        log::trace("gdb: resume thread ", t->tid, " with ", kind ? kind : '-', th.stopped ? "" : " (not stopped)");
        if (!kind) continue;
        t->stepping = kind == 's';
        th.cause = Cause::none;
        th.watch.clear();
        if (th.stopped) {
            th.stopped = false;
            if (t->tid != event_tid_ && it == actions.end()) sig = 0;
            // A signal nobody decided on is not lost: without a debugger, or one that never saw it.
            bool undecided = !connection_.connected() || (dialect_.lldb && !th.shown);
            if (undecided && th.pending_signal > 0 && th.pending_signal != SIGTRAP) sig = th.pending_signal;
            th.pending_signal = -1;
            th.shown = false;
            if (kind == 'c' && !sig) sig = std::exchange(th.deferred_signal, 0);
            t->force_resume(kind == 's' ? PTRACE_SINGLESTEP : PTRACE_CONT, sig);
        } else {
            t->release();  // a syscall handler finished while stopped
        }
    }
}

}  // namespace mrd::tracer
