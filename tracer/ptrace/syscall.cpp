#include "tracer/ptrace/syscall.hpp"

#include "base/log.hpp"

#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cstring>

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

co::Task<void> Syscall::map_scratch_and_restart() {
    if (!load_registers()) co_return;
    user_regs_struct saved = regs_;
    regs_.orig_rax = SYS_mmap;
    regs_.rdi = 0;
    regs_.rsi = AddressSpace::kSize;
    regs_.rdx = PROT_READ | PROT_WRITE;
    regs_.r10 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    regs_.r8 = static_cast<uint64_t>(-1);
    regs_.r9 = 0;
    rewritten_.reset();
    dirty_ = true;
    long mapped = co_await run();
    if (!tracee_->alive) co_return;
    if (mapped < 0 && mapped > -4096) {
        log::error("pid ", tid(), ": mapping scratch memory failed (", std::strerror(static_cast<int>(-mapped)), "); the call fails");
        regs_ = saved;
        regs_.rax = static_cast<uint64_t>(mapped);
        dirty_ = true;
        co_return;
    }
    tracee_->mm->set_scratch(static_cast<uint64_t>(mapped));
    // Back to the syscall instruction with the original registers: the call is made again.
    regs_ = saved;
    regs_.rip -= 2;
    regs_.rax = saved.orig_rax;
    dirty_ = true;
}

void Syscall::finish() {
    if (!tracee_->alive) return;
    if (dirty_ && ::ptrace(PTRACE_SETREGS, tid(), nullptr, &regs_) != 0)
        log::debug("PTRACE_SETREGS on ", tid(), ": ", std::strerror(errno));
    tracee_->resume(PTRACE_CONT);
}

}  // namespace mrd::tracer
