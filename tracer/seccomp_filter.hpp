// The seccomp-bpf program installed in the traced child: only the syscalls the supervisor handles
// stop (SECCOMP_RET_TRACE); everything else runs at native speed.
#pragma once

#include "tracer/syscall_router.hpp"
#include "wire/result.hpp"

#include <linux/filter.h>

#include <vector>

namespace mrd::tracer {

// Compiled in the supervisor, before fork, so the child only has to install it.
Result<std::vector<sock_filter>> build_seccomp_filter(const std::vector<TracedSyscall>& traced);

// In the child: no_new_privs + install. Returns errno on failure.
int install_seccomp_filter(const std::vector<sock_filter>& program);

}  // namespace mrd::tracer
