// uname() reports the target's hostname (feature.hostname).
#pragma once

#include "tracer/ptrace/syscall_router.hpp"

#include <string>

namespace mrd::tracer {

class IdentitySyscalls {
public:
    explicit IdentitySyscalls(std::string hostname) : hostname_(std::move(hostname)) {}
    void install(SyscallRouter& router);

private:
    co::Task<Verdict> uname(Call& call);
    std::string hostname_;
};

}  // namespace mrd::tracer
