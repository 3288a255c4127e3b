#include "tracer/ptrace/seccomp_filter.hpp"

#include "base/unique_fd.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mrd::tracer {

Result<std::vector<sock_filter>> build_seccomp_filter(const std::vector<TracedSyscall>& traced, bool allow_io_uring) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return Error::msg("seccomp_init failed");
    auto fail = [&](const std::string& what, int rc) {
        seccomp_release(ctx);
        return Error::from_errno("building the seccomp filter: " + what, -rc);
    };
    // 32-bit syscalls (i386 programs, int 0x80 from 64-bit ones) must stop too rather than slip past
    // the filter; the supervisor recognises their arch and leaves them alone with a warning. The x32
    // ABI is rejected outright: it is rare and would be misread as native.
    if (int rc = seccomp_arch_add(ctx, SCMP_ARCH_X86); rc != 0 && rc != -EEXIST) return fail("adding i386", rc);
    if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS)); rc != 0)
        return fail("bad-arch action", rc);
    for (const auto& t : traced) {
        uint32_t action = t.path == TracedSyscall::Path::notify ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(0);
        std::vector<scmp_arg_cmp> conditions;
        for (auto& c : t.conditions)
            conditions.push_back(c.equal ? SCMP_CMP(c.arg, SCMP_CMP_EQ, c.value) : SCMP_CMP(c.arg, SCMP_CMP_NE, c.value));
        int rc = seccomp_rule_add_array(ctx, action, t.nr, static_cast<unsigned>(conditions.size()),
                                        conditions.empty() ? nullptr : conditions.data());
        if (rc != 0) return fail("rule for syscall " + std::to_string(t.nr), rc);
    }
    // io_uring performs opens, connects and sends inside the kernel where no filter sees them: refuse
    // it as Docker's default profile does, so runtimes fall back to the ordinary syscalls.
    if (!allow_io_uring)
        if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SYS_io_uring_setup, 0); rc != 0)
            return fail("io_uring_setup rule", rc);
    UniqueFd mem(::memfd_create("mirrord-seccomp", MFD_CLOEXEC));
    if (!mem) {
        seccomp_release(ctx);
        return Error::from_errno("memfd_create");
    }
    if (int rc = seccomp_export_bpf(ctx, mem.get()); rc != 0) return fail("export", rc);
    seccomp_release(ctx);
    off_t size = ::lseek(mem.get(), 0, SEEK_END);
    std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
    if (::pread(mem.get(), program.data(), static_cast<size_t>(size), 0) != size)
        return Error::from_errno("reading the exported seccomp filter");
    return program;
}

int install_seccomp_filter(const std::vector<sock_filter>& program) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    sock_fprog prog{static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
    long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace mrd::tracer
