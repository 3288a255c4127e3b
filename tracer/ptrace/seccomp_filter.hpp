// The seccomp-bpf program installed in the traced child. Only the syscalls the supervisor handles
// leave the kernel: most as user notifications (SECCOMP_RET_USER_NOTIF, answered by the supervisor
// without stopping the thread under ptrace), a few as ptrace stops (SECCOMP_RET_TRACE, where a
// register rewrite is the only way), and io_uring_setup fails with ENOSYS unless allowed.
// Everything else runs at native speed.
#pragma once

#include "tracer/ptrace/syscall_router.hpp"
#include "base/result.hpp"

#include <linux/filter.h>

#include <vector>

namespace mrd::tracer {

// Compiled in the supervisor, before fork, so the child only has to install it.
Result<std::vector<sock_filter>> build_seccomp_filter(const std::vector<TracedSyscall>& traced, bool allow_io_uring);

// In the child: no_new_privs + install with a new notification listener. Returns the listener's
// descriptor (close-on-exec), or -errno.
int install_seccomp_filter(const std::vector<sock_filter>& program);

}  // namespace mrd::tracer
