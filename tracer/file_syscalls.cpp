#include "tracer/file_syscalls.hpp"

#include "tracer/shadow_tree.hpp"
#include "tracer/tracee_memory.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mrd::tracer {

std::optional<std::string> absolute_path(pid_t tid, int dirfd, const std::string& path) {
    if (!path.empty() && path[0] == '/') return normalize_path(path);
    std::string link = "/proc/" + std::to_string(tid) + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd));
    char base[PATH_MAX];
    ssize_t n = ::readlink(link.c_str(), base, sizeof base - 1);
    if (n <= 0 || base[0] != '/') return std::nullopt;  // not a directory path (a socket, a deleted dir...)
    return normalize_path(std::string(base, static_cast<size_t>(n)) + "/" + path);
}

void FileSyscalls::install(SyscallRouter& router) {
    struct Shape { int nr, dirfd, path, flags; };
    static constexpr Shape shapes[] = {
        {SYS_open, -1, 0, -1},       {SYS_openat, 0, 1, -1},     {SYS_openat2, 0, 1, -1},
        {SYS_stat, -1, 0, -1},       {SYS_lstat, -1, 0, -1},     {SYS_newfstatat, 0, 1, 3},
        {SYS_statx, 0, 1, 2},        {SYS_access, -1, 0, -1},    {SYS_faccessat, 0, 1, -1},
        {SYS_faccessat2, 0, 1, 3},   {SYS_readlink, -1, 0, -1},  {SYS_readlinkat, 0, 1, -1},
    };
    for (const Shape& s : shapes)
        router.on(s.nr, [this, s](Syscall& call) { return handle(call, s.dirfd, s.path, s.flags); });
}

co::Task<void> FileSyscalls::handle(Syscall& call, int dirfd_arg, int path_arg, int flags_arg) {
    auto path = read_string(call.tid(), call.arg(path_arg), PATH_MAX);
    if (!path || path->empty()) co_return;  // EFAULT/empty: the kernel answers as usual
    if (flags_arg >= 0 && (call.arg(flags_arg) & AT_EMPTY_PATH) && path->empty()) co_return;
    int dirfd = dirfd_arg >= 0 ? static_cast<int>(call.arg(dirfd_arg)) : AT_FDCWD;
    auto absolute = absolute_path(call.tid(), dirfd, *path);
    if (!absolute) co_return;
    auto local = co_await redirect_(*absolute);
    if (!local || !call.tracee().alive) co_return;
    ScratchSlot slot = call.tracee().scratch_slot();
    if (!slot || local->size() + 1 > AddressSpace::kSlotSize) co_return;
    if (!write_memory(call.tid(), slot.addr(), local->c_str(), local->size() + 1).ok()) co_return;
    call.set_arg(path_arg, slot.addr());
    co_await call.run();
}

}  // namespace mrd::tracer
