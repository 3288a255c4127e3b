#include "tracer/syscall_router.hpp"

namespace mrd::tracer {

void SyscallRouter::on(int nr, Handler handler, std::vector<ArgCondition> when) {
    handlers_[nr] = {std::move(handler), std::move(when)};
}

void SyscallRouter::on_ptrace_stop(int nr, RewriteHandler handler) { rewrites_[nr] = std::move(handler); }

const SyscallRouter::Handler* SyscallRouter::find(long nr) const {
    auto it = handlers_.find(nr);
    return it == handlers_.end() ? nullptr : &it->second.first;
}

const SyscallRouter::RewriteHandler* SyscallRouter::find_rewrite(long nr) const {
    auto it = rewrites_.find(nr);
    return it == rewrites_.end() ? nullptr : &it->second;
}

std::vector<TracedSyscall> SyscallRouter::traced() const {
    std::vector<TracedSyscall> out;
    for (auto& [nr, h] : handlers_) out.push_back({static_cast<int>(nr), TracedSyscall::Path::notify, h.second});
    for (auto& [nr, h] : rewrites_) out.push_back({static_cast<int>(nr), TracedSyscall::Path::ptrace, {}});
    return out;
}

}  // namespace mrd::tracer
