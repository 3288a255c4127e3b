// Which syscalls stop, and who handles them.
#pragma once

#include "tracer/syscall.hpp"

#include <functional>
#include <map>
#include <vector>

namespace mrd::tracer {

struct TracedSyscall {
    int nr;
    int nonzero_arg = -1;  // >= 0: stop only when this argument is non-zero (checked in BPF)
};

class SyscallRouter {
public:
    using Handler = std::function<co::Task<void>(Syscall&)>;

    void on(int nr, Handler handler, int nonzero_arg = -1);
    const Handler* find(long nr) const;
    std::vector<TracedSyscall> traced() const;

private:
    std::map<long, std::pair<Handler, int>> handlers_;
};

}  // namespace mrd::tracer
