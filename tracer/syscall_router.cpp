#include "tracer/syscall_router.hpp"

namespace mrd::tracer {

void SyscallRouter::on(int nr, Handler handler, int nonzero_arg) {
    handlers_[nr] = {std::move(handler), nonzero_arg};
}

const SyscallRouter::Handler* SyscallRouter::find(long nr) const {
    auto it = handlers_.find(nr);
    return it == handlers_.end() ? nullptr : &it->second.first;
}

std::vector<TracedSyscall> SyscallRouter::traced() const {
    std::vector<TracedSyscall> out;
    for (auto& [nr, h] : handlers_) out.push_back({static_cast<int>(nr), h.second});
    return out;
}

}  // namespace mrd::tracer
