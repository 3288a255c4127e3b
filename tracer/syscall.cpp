#include "tracer/syscall.hpp"

#include "wire/log.hpp"

#include <sys/ptrace.h>

namespace mrd::tracer {

unsigned long long& Syscall::arg_register(user_regs_struct& regs, int i) {
    switch (i) {
        case 0: return regs.rdi;
        case 1: return regs.rsi;
        case 2: return regs.rdx;
        case 3: return regs.r10;
        case 4: return regs.r8;
        default: return regs.r9;
    }
}

bool Syscall::load_registers() {
    if (regs_loaded_) return true;
    if (::ptrace(PTRACE_GETREGS, tid(), nullptr, &regs_) != 0) return false;
    regs_loaded_ = true;
    return true;
}

void Syscall::set_arg(int i, uint64_t value) {
    if (!load_registers()) return;
    arg_register(regs_, i) = value;
    rewritten_.set(static_cast<size_t>(i));
    dirty_ = true;
}

co::Task<long> Syscall::run() {
    if (dirty_) {
        if (::ptrace(PTRACE_SETREGS, tid(), nullptr, &regs_) != 0) co_return -errno;
        dirty_ = false;
    }
    ran_ = true;
    Stop stop = co_await tracee_->resume_and_wait(PTRACE_SYSCALL);
    // A signal can only be reported after the syscall-exit stop, but be tolerant: pass it on.
    while (stop.kind == Stop::Kind::signal || stop.kind == Stop::Kind::group_stop) {
        int sig = stop.kind == Stop::Kind::signal ? stop.signal : 0;
        stop = co_await tracee_->resume_and_wait(PTRACE_SYSCALL, sig);
    }
    if (stop.kind != Stop::Kind::syscall) co_return -ESRCH;  // it died
    regs_loaded_ = false;
    if (!load_registers()) co_return -ESRCH;
    for (int i = 0; i < 6; ++i)
        if (rewritten_.test(static_cast<size_t>(i))) {
            arg_register(regs_, i) = args_[static_cast<size_t>(i)];
            dirty_ = true;
        }
    co_return static_cast<long>(regs_.rax);
}

void Syscall::set_result(long result) {
    if (!load_registers()) return;
    if (!ran_) {
        regs_.orig_rax = static_cast<uint64_t>(-1);  // skip it
        skipped_ = true;
        // Arguments stay as the program passed them.
        for (int i = 0; i < 6; ++i)
            if (rewritten_.test(static_cast<size_t>(i))) arg_register(regs_, i) = args_[static_cast<size_t>(i)];
    }
    regs_.rax = static_cast<uint64_t>(result);
    dirty_ = true;
}

void Syscall::finish() {
    if (!tracee_->alive) return;
    if (dirty_ && ::ptrace(PTRACE_SETREGS, tid(), nullptr, &regs_) != 0)
        log::debug("PTRACE_SETREGS on ", tid(), ": ", std::strerror(errno));
    tracee_->resume(PTRACE_CONT);
}

}  // namespace mrd::tracer
