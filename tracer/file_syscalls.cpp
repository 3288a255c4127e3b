#include "tracer/file_syscalls.hpp"

#include "tracer/tracee_memory.hpp"
#include "wire/log.hpp"
#include "wire/unique_fd.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace mrd::tracer {

using namespace mrd::wire;
using Route = FileSyscalls::Route;

namespace {

int errno_of(const Error& e) { return e.code ? e.code : EIO; }

timespec to_timespec(int64_t ns) { return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; }

struct stat to_stat(const FileStatInfo& st) {
    struct stat s{};
    s.st_dev = st.dev;
    s.st_ino = st.ino;
    s.st_nlink = st.nlink;
    s.st_mode = st.mode;
    s.st_uid = st.uid;
    s.st_gid = st.gid;
    s.st_rdev = st.rdev;
    s.st_size = st.size;
    s.st_blksize = st.blksize;
    s.st_blocks = st.blocks;
    s.st_atim = to_timespec(st.atime_ns);
    s.st_mtim = to_timespec(st.mtime_ns);
    s.st_ctim = to_timespec(st.ctime_ns);
    return s;
}

struct statx to_statx(const FileStatInfo& st) {
    struct statx s{};
    auto ts = [](int64_t ns) {
        struct statx_timestamp t{};
        t.tv_sec = ns / 1000000000;
        t.tv_nsec = static_cast<uint32_t>(ns % 1000000000);
        return t;
    };
    s.stx_mask = STATX_BASIC_STATS;
    s.stx_blksize = static_cast<uint32_t>(st.blksize);
    s.stx_nlink = st.nlink;
    s.stx_uid = st.uid;
    s.stx_gid = st.gid;
    s.stx_mode = static_cast<uint16_t>(st.mode);
    s.stx_ino = st.ino;
    s.stx_size = static_cast<uint64_t>(st.size);
    s.stx_blocks = static_cast<uint64_t>(st.blocks);
    s.stx_atime = ts(st.atime_ns);
    s.stx_ctime = ts(st.ctime_ns);
    s.stx_mtime = ts(st.mtime_ns);
    s.stx_rdev_major = major(st.rdev);
    s.stx_rdev_minor = minor(st.rdev);
    s.stx_dev_major = major(st.dev);
    s.stx_dev_minor = minor(st.dev);
    return s;
}

bool opens_for_writing(long flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0;
}

}  // namespace

std::optional<std::string> absolute_path(pid_t tid, int dirfd, const std::string& path) {
    if (!path.empty() && path[0] == '/') return normalize_path(path);
    std::string link = "/proc/" + std::to_string(tid) + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd));
    char base[PATH_MAX];
    ssize_t n = ::readlink(link.c_str(), base, sizeof base - 1);
    if (n <= 0 || base[0] != '/') return std::nullopt;  // not a directory path (a socket, a deleted dir...)
    return normalize_path(std::string(base, static_cast<size_t>(n)) + "/" + path);
}

void FileSyscalls::install(SyscallRouter& router, bool track_writes) {
    auto on = [&](int nr, auto handler) { router.on(nr, [this, handler](Syscall& c) { return handler(this, c); }); };
    on(SYS_open, [](FileSyscalls* f, Syscall& c) { return f->open(c, -1, 0, 1, false, false); });
    on(SYS_openat, [](FileSyscalls* f, Syscall& c) { return f->open(c, 0, 1, 2, false, false); });
    on(SYS_openat2, [](FileSyscalls* f, Syscall& c) { return f->open(c, 0, 1, 2, false, true); });
    on(SYS_creat, [](FileSyscalls* f, Syscall& c) { return f->open(c, -1, 0, -1, true, false); });
    on(SYS_stat, [](FileSyscalls* f, Syscall& c) { return f->stat(c, -1, 0, 1, -1, true, false); });
    on(SYS_lstat, [](FileSyscalls* f, Syscall& c) { return f->stat(c, -1, 0, 1, -1, false, false); });
    on(SYS_newfstatat, [](FileSyscalls* f, Syscall& c) { return f->stat(c, 0, 1, 2, 3, true, false); });
    on(SYS_statx, [](FileSyscalls* f, Syscall& c) { return f->stat(c, 0, 1, 4, 2, true, true); });
    on(SYS_access, [](FileSyscalls* f, Syscall& c) { return f->access(c, -1, 0, 1); });
    on(SYS_faccessat, [](FileSyscalls* f, Syscall& c) { return f->access(c, 0, 1, 2); });
    on(SYS_faccessat2, [](FileSyscalls* f, Syscall& c) { return f->access(c, 0, 1, 2); });
    on(SYS_readlink, [](FileSyscalls* f, Syscall& c) { return f->readlink(c, -1, 0, 1, 2); });
    on(SYS_readlinkat, [](FileSyscalls* f, Syscall& c) { return f->readlink(c, 0, 1, 2, 3); });
    on(SYS_chdir, [](FileSyscalls* f, Syscall& c) { return f->chdir(c); });
    on(SYS_getcwd, [](FileSyscalls* f, Syscall& c) { return f->getcwd(c); });
    on(SYS_mkdir, [](FileSyscalls* f, Syscall& c) { return f->mkdir(c, -1, 0, 1); });
    on(SYS_mkdirat, [](FileSyscalls* f, Syscall& c) { return f->mkdir(c, 0, 1, 2); });
    on(SYS_unlink, [](FileSyscalls* f, Syscall& c) { return f->unlink(c, -1, 0, -1, false); });
    on(SYS_rmdir, [](FileSyscalls* f, Syscall& c) { return f->unlink(c, -1, 0, -1, true); });
    on(SYS_unlinkat, [](FileSyscalls* f, Syscall& c) { return f->unlink(c, 0, 1, 2, false); });
    on(SYS_rename, [](FileSyscalls* f, Syscall& c) { return f->rename(c, -1, 0, -1, 1, -1); });
    on(SYS_renameat, [](FileSyscalls* f, Syscall& c) { return f->rename(c, 0, 1, 2, 3, -1); });
    on(SYS_renameat2, [](FileSyscalls* f, Syscall& c) { return f->rename(c, 0, 1, 2, 3, 4); });
    on(SYS_truncate, [](FileSyscalls* f, Syscall& c) { return f->truncate(c); });
    // Extended attributes of remote files: none (ls -l asks for ACLs and SELinux labels).
    on(SYS_getxattr, [](FileSyscalls* f, Syscall& c) { return f->xattr(c, false); });
    on(SYS_lgetxattr, [](FileSyscalls* f, Syscall& c) { return f->xattr(c, false); });
    on(SYS_listxattr, [](FileSyscalls* f, Syscall& c) { return f->xattr(c, true); });
    on(SYS_llistxattr, [](FileSyscalls* f, Syscall& c) { return f->xattr(c, true); });
    if (track_writes) {
        on(SYS_close, [](FileSyscalls* f, Syscall& c) { return f->close_or_sync(c, Closing::close); });
        on(SYS_fsync, [](FileSyscalls* f, Syscall& c) { return f->close_or_sync(c, Closing::sync); });
        on(SYS_fdatasync, [](FileSyscalls* f, Syscall& c) { return f->close_or_sync(c, Closing::sync); });
        on(SYS_dup2, [](FileSyscalls* f, Syscall& c) { return f->close_or_sync(c, Closing::dup); });
        on(SYS_dup3, [](FileSyscalls* f, Syscall& c) { return f->close_or_sync(c, Closing::dup); });
    }
}

std::optional<FileSyscalls::Path> FileSyscalls::resolve(Syscall& call, int dirfd_arg, int path_arg, bool write, bool empty_path_allowed) {
    auto given = read_string(call.tid(), call.arg(path_arg), PATH_MAX);
    if (!given || given->empty()) return std::nullopt;  // EFAULT, or an fd-based call: the kernel's business
    (void)empty_path_allowed;
    int dirfd = dirfd_arg >= 0 ? static_cast<int>(call.arg(dirfd_arg)) : AT_FDCWD;
    auto absolute = absolute_path(call.tid(), dirfd, *given);
    if (!absolute) return std::nullopt;
    Path p;
    if (auto remote = fs_.remote_path(*absolute)) {
        p.as_given = *remote;
        p.via_copy = true;
    } else if ((*given)[0] != '/') {
        return std::nullopt;  // relative to a local directory: local, as in mirrord
    } else {
        p.as_given = *absolute;
        // "/app/data/.." is "/app" to us, but the kernel would look "/app/data" up locally first.
        auto dots = given->find("/..");
        if (dots != std::string::npos && dots > 0) {
            std::string before = normalize_path(given->substr(0, dots));
            p.climbs_remote = policy_.route(policy_.map(before), false) != PathRoute::local;
        }
    }
    p.remote = p.as_given;
    if (special_.synthetic.count(p.as_given)) p.route = Route::synthetic;
    else if (special_.local.count(p.as_given)) p.route = Route::local;
    else if (special_.remote.count(p.as_given)) p.route = write ? Route::local : Route::remote_read;
    else {
        p.remote = policy_.map(p.as_given);
        switch (policy_.route(p.remote, write)) {
            case PathRoute::local: p.route = Route::local; break;
            case PathRoute::not_found: p.route = Route::not_found; break;
            case PathRoute::remote_read: p.route = Route::remote_read; break;
            case PathRoute::remote_write: p.route = Route::remote_write; break;
        }
    }
    return p;
}

co::Task<void> FileSyscalls::redirect(Syscall& call, int path_arg, const std::string& local) {
    ScratchSlot slot = call.tracee().scratch_slot();
    if (!slot || local.size() + 1 > AddressSpace::kSlotSize) {
        log::error("pid ", call.tid(), ": no scratch memory to redirect a path; the call fails");
        co_return call.set_result(-ENOMEM);
    }
    if (!write_memory(call.tid(), slot.addr(), local.c_str(), local.size() + 1).ok()) co_return;
    call.set_arg(path_arg, slot.addr());
    co_await call.run();
}

co::Task<void> FileSyscalls::pass_local(Syscall& call, int path_arg, const Path& p) {
    if (p.via_copy || p.climbs_remote) co_await redirect(call, path_arg, p.as_given);
}

co::Task<bool> FileSyscalls::settle_unless_remote(Syscall& call, int path_arg, const Path& p, std::optional<long> synthetic_result) {
    switch (p.route) {
        case Route::local:
            co_await pass_local(call, path_arg, p);
            co_return true;
        case Route::not_found:
            call.set_result(-ENOENT);
            co_return true;
        case Route::synthetic:
            if (synthetic_result) {
                call.set_result(*synthetic_result);
            } else if (auto local = fs_.put(p.as_given, special_.synthetic.at(p.as_given))) {
                co_await redirect(call, path_arg, *local);
            } else {
                call.set_result(-errno_of(local.error()));
            }
            co_return true;
        default:
            co_return false;
    }
}

co::Task<void> FileSyscalls::open(Syscall& call, int dirfd_arg, int path_arg, int flags_arg, bool creat, bool openat2) {
    long flags = O_CREAT | O_WRONLY | O_TRUNC;
    if (openat2) {
        auto how = read_value<open_how>(call.tid(), call.arg(flags_arg));
        if (!how) co_return;
        flags = static_cast<long>(how->flags);
    } else if (!creat) {
        flags = static_cast<long>(call.arg(flags_arg));
    }
    bool write = opens_for_writing(flags);
    auto p = resolve(call, dirfd_arg, path_arg, write);
    if (!p) co_return;
    if (co_await settle_unless_remote(call, path_arg, *p)) co_return;
    switch (p->route) {
        case Route::remote_read: {
            auto local = co_await fs_.fetch(p->remote);
            if (!local) co_return call.set_result(-errno_of(local.error()));
            co_return co_await redirect(call, path_arg, *local);
        }
        case Route::remote_write: {
            // Existing content is needed unless the open truncates; a missing file may be created.
            // (No co_await inside ?: — GCC 12 miscompiles it.)
            Result<std::string> local = Error::msg("", ENOENT);
            if (!(flags & O_TRUNC)) local = co_await fs_.fetch(p->remote);
            if (!local && local.error().code == ENOENT && (flags & (O_CREAT | O_TRUNC))) local = co_await fs_.fetch_parent(p->remote);
            if (!local) co_return call.set_result(-errno_of(local.error()));
            co_await redirect(call, path_arg, *local);
            break;
        }
        default:
            break;
    }
    // After a write-mode open: remember the copy so closing it pushes it back; a create or truncate
    // takes effect in the target at once.
    if (!call.ran() || !call.tracee().alive) co_return;
    struct stat st{};
    if (::stat(fs_.local_path(p->remote).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) co_return;
    fs_.track_writable(st.st_dev, st.st_ino, p->remote);
    if (flags & (O_CREAT | O_TRUNC))
        if (auto pushed = co_await fs_.push(p->remote); !pushed) log::warn(pushed.error().message);
}

co::Task<void> FileSyscalls::stat(Syscall& call, int dirfd_arg, int path_arg, int buf_arg, int flags_arg, bool follow,
                                  bool statx) {
    if (flags_arg >= 0 && (call.arg(flags_arg) & AT_SYMLINK_NOFOLLOW)) follow = false;
    auto p = resolve(call, dirfd_arg, path_arg, false);
    if (!p) co_return;
    if (co_await settle_unless_remote(call, path_arg, *p)) co_return;
    auto st = co_await fs_.stat(p->remote, follow);
    if (!st) co_return call.set_result(-errno_of(st.error()));
    Status written;
    if (statx) {
        struct statx sx = to_statx(*st);
        written = write_memory(call.tid(), call.arg(buf_arg), &sx, sizeof sx);
    } else {
        struct stat s = to_stat(*st);
        written = write_memory(call.tid(), call.arg(buf_arg), &s, sizeof s);
    }
    call.set_result(written ? 0 : -EFAULT);
}

co::Task<void> FileSyscalls::access(Syscall& call, int dirfd_arg, int path_arg, int mode_arg) {
    auto p = resolve(call, dirfd_arg, path_arg, false);
    if (!p) co_return;
    if (co_await settle_unless_remote(call, path_arg, *p, 0)) co_return;
    Status ok = co_await fs_.access(p->remote, static_cast<int>(call.arg(mode_arg)));
    call.set_result(ok ? 0 : -errno_of(ok.error()));
}

co::Task<void> FileSyscalls::readlink(Syscall& call, int dirfd_arg, int path_arg, int buf_arg, int size_arg) {
    auto p = resolve(call, dirfd_arg, path_arg, false);
    if (!p) co_return;
    if (co_await settle_unless_remote(call, path_arg, *p, -EINVAL)) co_return;  // made-up files are no links
    auto target = co_await fs_.readlink(p->remote);
    if (!target) co_return call.set_result(-errno_of(target.error()));
    size_t n = std::min<size_t>(target->size(), call.arg(size_arg));
    if (!write_memory(call.tid(), call.arg(buf_arg), target->data(), n)) co_return call.set_result(-EFAULT);
    call.set_result(static_cast<long>(n));
}

co::Task<void> FileSyscalls::chdir(Syscall& call) {
    auto p = resolve(call, -1, 0, false);
    if (!p) co_return;
    if (co_await settle_unless_remote(call, 0, *p, -ENOTDIR)) co_return;
    // Into the local copy of the directory: relative paths then resolve among its copies.
    auto local = co_await fs_.fetch(p->remote);
    if (!local) co_return call.set_result(-errno_of(local.error()));
    co_await redirect(call, 0, *local);
}

co::Task<void> FileSyscalls::getcwd(Syscall& call) {
    long n = co_await call.run();
    if (n <= 0) co_return;
    auto cwd = read_string(call.tid(), call.arg(0), PATH_MAX);
    if (!cwd) co_return;
    auto remote = fs_.remote_path(*cwd);  // inside a copy directory: show the target's path
    if (!remote) co_return;
    if (remote->size() + 1 > call.arg(1)) co_return call.set_result(-ERANGE);
    if (!write_memory(call.tid(), call.arg(0), remote->c_str(), remote->size() + 1)) co_return;
    call.set_result(static_cast<long>(remote->size() + 1));
}

co::Task<void> FileSyscalls::mkdir(Syscall& call, int dirfd_arg, int path_arg, int mode_arg) {
    auto p = resolve(call, dirfd_arg, path_arg, true);
    if (!p) co_return;
    switch (p->route) {
        case Route::remote_write: break;
        case Route::not_found: co_return call.set_result(-ENOENT);
        default: co_return co_await pass_local(call, path_arg, *p);
    }
    Status st = co_await fs_.mkdir(p->remote, static_cast<uint32_t>(call.arg(mode_arg)));
    call.set_result(st ? 0 : -errno_of(st.error()));
}

co::Task<void> FileSyscalls::unlink(Syscall& call, int dirfd_arg, int path_arg, int flags_arg, bool rmdir) {
    if (flags_arg >= 0 && (call.arg(flags_arg) & AT_REMOVEDIR)) rmdir = true;
    auto p = resolve(call, dirfd_arg, path_arg, true);
    if (!p) co_return;
    switch (p->route) {
        case Route::remote_write: break;
        case Route::not_found: co_return call.set_result(-ENOENT);
        default: co_return co_await pass_local(call, path_arg, *p);
    }
    Status st = co_await fs_.unlink(p->remote, rmdir);
    call.set_result(st ? 0 : -errno_of(st.error()));
}

co::Task<void> FileSyscalls::rename(Syscall& call, int olddir_arg, int old_arg, int newdir_arg, int new_arg, int flags_arg) {
    auto from = resolve(call, olddir_arg, old_arg, true);
    auto to = resolve(call, newdir_arg, new_arg, true);
    bool from_remote = from && from->route == Route::remote_write;
    bool to_remote = to && to->route == Route::remote_write;
    if (!from_remote && !to_remote) {
        if ((from && from->via_copy) || (to && to->via_copy)) co_return call.set_result(-EXDEV);
        co_return;  // local to local
    }
    if (from_remote != to_remote) co_return call.set_result(-EXDEV);  // as across file systems
    uint32_t flags = flags_arg >= 0 ? static_cast<uint32_t>(call.arg(flags_arg)) : 0;
    Status st = co_await fs_.rename(from->remote, to->remote, flags);
    call.set_result(st ? 0 : -errno_of(st.error()));
}

co::Task<void> FileSyscalls::truncate(Syscall& call) {
    auto p = resolve(call, -1, 0, true);
    if (!p) co_return;
    switch (p->route) {
        case Route::remote_write: break;
        case Route::not_found: co_return call.set_result(-ENOENT);
        default: co_return co_await pass_local(call, 0, *p);
    }
    Status st = co_await fs_.truncate(p->remote, static_cast<int64_t>(call.arg(1)));
    call.set_result(st ? 0 : -errno_of(st.error()));
}

co::Task<void> FileSyscalls::close_or_sync(Syscall& call, Closing kind) {
    // Identify the descriptor by what it is, not by its number: a duplicate says which file it is.
    int fd = static_cast<int>(call.arg(kind == Closing::dup ? 1 : 0));  // dup2's target gets closed
    if (kind == Closing::dup && call.arg(0) == call.arg(1)) co_return;
    UniqueFd dup = call.tracee().process->duplicate(fd);
    if (!dup) co_return;
    struct stat st{};
    if (::fstat(dup.get(), &st) != 0 || !S_ISREG(st.st_mode)) co_return;
    auto path = fs_.writable_path(st.st_dev, st.st_ino);
    if (!path) co_return;
    if (kind != Closing::sync) {
        long r = co_await call.run();
        if (r < 0) co_return;
    }
    Status pushed = co_await fs_.push(*path, false);
    if (pushed) co_return;
    log::error(pushed.error().message);
    if (kind == Closing::sync) call.set_result(-EIO);
}

co::Task<void> FileSyscalls::xattr(Syscall& call, bool list) {
    auto p = resolve(call, -1, 0, false);
    if (!p) co_return;
    if (co_await settle_unless_remote(call, 0, *p, list ? 0 : -ENODATA)) co_return;
    call.set_result(list ? 0 : -ENODATA);
}

}  // namespace mrd::tracer
