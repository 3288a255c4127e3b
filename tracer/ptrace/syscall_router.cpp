#include "tracer/ptrace/syscall_router.hpp"

#include <linux/audit.h>

namespace mrd::tracer {

void SyscallRouter::on(int nr, Handler handler, std::vector<ArgCondition> when, QuickCheck quick) {
    handlers_[nr] = {std::move(handler), std::move(when), std::move(quick)};
}

bool SyscallRouter::certainly_local(const Notification& n) const {
    if (n.arch != AUDIT_ARCH_X86_64) return false;  // 32-bit calls: the event loop warns about them
    auto it = handlers_.find(n.nr);
    if (it == handlers_.end()) return true;
    return it->second.quick && it->second.quick(n);
}

void SyscallRouter::on_ptrace_stop(int nr, RewriteHandler handler) { rewrites_[nr] = std::move(handler); }

const SyscallRouter::Handler* SyscallRouter::find(long nr) const {
    auto it = handlers_.find(nr);
    return it == handlers_.end() ? nullptr : &it->second.handler;
}

const SyscallRouter::RewriteHandler* SyscallRouter::find_rewrite(long nr) const {
    auto it = rewrites_.find(nr);
    return it == rewrites_.end() ? nullptr : &it->second;
}

std::vector<TracedSyscall> SyscallRouter::traced() const {
    std::vector<TracedSyscall> out;
    for (auto& [nr, h] : handlers_) out.push_back({static_cast<int>(nr), TracedSyscall::Path::notify, h.when});
    for (auto& [nr, h] : rewrites_) out.push_back({static_cast<int>(nr), TracedSyscall::Path::ptrace, {}});
    return out;
}

}  // namespace mrd::tracer
