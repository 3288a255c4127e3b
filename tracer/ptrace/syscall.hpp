// One syscall trapped at a ptrace stop, as a rewriting handler sees it: its arguments, and the means
// to rewrite them, run it, change its result or skip it. Rewritten argument registers are restored
// when the syscall returns, so the program sees its registers as the syscall ABI promises. Only the
// few calls that no notification verdict can express take this path (see SyscallRouter).
#pragma once

#include "base/co.hpp"
#include "tracer/ptrace/tracee.hpp"
#include "base/result.hpp"

#include <sys/user.h>

#include <array>
#include <bitset>
#include <memory>

namespace mrd::tracer {

class Syscall {
public:
    Syscall(std::shared_ptr<Tracee> tracee, long nr, const std::array<uint64_t, 6>& args)
        : tracee_(std::move(tracee)), nr_(nr), args_(args) {}

    Tracee& tracee() { return *tracee_; }
    pid_t tid() const { return tracee_->tid; }
    long nr() const { return nr_; }
    uint64_t arg(int i) const { return args_[static_cast<size_t>(i)]; }

    // The syscall will run with this argument instead; the original comes back when it returns.
    void set_arg(int i, uint64_t value);
    // Runs the syscall now; returns its result (-errno on failure). Afterwards result() can be changed.
    co::Task<long> run();
    // Before run(): the syscall is skipped and returns result. After run(): replaces the result.
    void set_result(long result);
    bool ran() const { return ran_; }
    bool skipped() const { return skipped_; }
    // Rewritten arguments that do not fit in place go to scratch memory mapped into the address
    // space on first need: the thread runs mmap in place of this syscall, which it then makes
    // again (it is trapped anew and its handler finds the memory there).
    co::Task<void> map_scratch_and_restart();
    // Applies pending register changes and lets the tracee continue. Called once, by the dispatcher.
    void finish();

private:
    bool load_registers();  // false: the tracee is gone
    static unsigned long long& arg_register(user_regs_struct& regs, int i);

    std::shared_ptr<Tracee> tracee_;
    long nr_;
    std::array<uint64_t, 6> args_;
    user_regs_struct regs_{};
    bool regs_loaded_ = false;
    bool dirty_ = false;
    bool ran_ = false;
    bool skipped_ = false;
    std::bitset<6> rewritten_;
};

}  // namespace mrd::tracer
