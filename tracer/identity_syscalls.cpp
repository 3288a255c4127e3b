#include "tracer/identity_syscalls.hpp"

#include "tracer/tracee_memory.hpp"

#include <sys/syscall.h>
#include <sys/utsname.h>

#include <cstddef>

namespace mrd::tracer {

void IdentitySyscalls::install(SyscallRouter& router) {
    router.on(SYS_uname, [this](Syscall& call) { return uname(call); });
}

co::Task<void> IdentitySyscalls::uname(Syscall& call) {
    long r = co_await call.run();
    if (r != 0) co_return;
    char nodename[sizeof(utsname::nodename)] = {};
    hostname_.copy(nodename, sizeof nodename - 1);
    (void)write_memory(call.tid(), call.arg(0) + offsetof(utsname, nodename), nodename, sizeof nodename);
}

}  // namespace mrd::tracer
