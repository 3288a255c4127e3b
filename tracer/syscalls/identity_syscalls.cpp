#include "tracer/syscalls/identity_syscalls.hpp"

#include <sys/syscall.h>
#include <sys/utsname.h>

#include <cstring>

namespace mrd::tracer {

void IdentitySyscalls::install(SyscallRouter& router) {
    router.on(SYS_uname, [this](Call& call) { return uname(call); });
}

co::Task<Verdict> IdentitySyscalls::uname(Call& call) {
    // The program runs on this machine's kernel: its uname but for the node name.
    struct utsname names{};
    if (::uname(&names) != 0) co_return Verdict::error(errno);
    std::memset(names.nodename, 0, sizeof names.nodename);
    hostname_.copy(names.nodename, sizeof names.nodename - 1);
    co_return call.write_value(call.arg(0), names) ? Verdict::result(0) : Verdict::error(EFAULT);
}

}  // namespace mrd::tracer
