#include "tracer/syscalls/file_syscalls.hpp"

#include "tracer/remote/session_report.hpp"

#include "tracer/ptrace/tracee_memory.hpp"
#include "base/log.hpp"
#include "base/text_file.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace mrd::tracer {

using namespace mrd::wire;
using Route = FileSyscalls::Route;

namespace {

int errno_of(const Error& e) { return e.code ? e.code : EIO; }

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

struct statfs to_statfs(const StatFsReply& r) {
    struct statfs s{};
    s.f_type = r.type;
    s.f_bsize = r.bsize;
    s.f_blocks = static_cast<fsblkcnt_t>(r.blocks);
    s.f_bfree = static_cast<fsblkcnt_t>(r.bfree);
    s.f_bavail = static_cast<fsblkcnt_t>(r.bavail);
    s.f_files = static_cast<fsfilcnt_t>(r.files);
    s.f_ffree = static_cast<fsfilcnt_t>(r.ffree);
    s.f_namelen = r.namelen;
    s.f_frsize = r.frsize;
    s.f_flags = r.flags;
    return s;
}

bool opens_for_writing(long flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0;
}

// The program's umask: files the supervisor creates for it get the modes the kernel would give.
mode_t umask_of(pid_t tid) {
    auto status = read_file("/proc/" + std::to_string(tid) + "/status");
    if (!status) return 022;
    auto at = status->find("\nUmask:");
    if (at == std::string::npos) return 022;
    return static_cast<mode_t>(std::strtoul(status->c_str() + at + 7, nullptr, 8));
}

class ScopedUmask {
public:
    explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(old_); }

private:
    mode_t old_;
};

// Opens path for the program and installs the descriptor in it. Opened without blocking (a FIFO
// must not stall the supervisor), then given the program's own blocking mode.
Verdict open_for(pid_t tid, const std::string& path, long flags, mode_t mode) {
    int own = static_cast<int>(flags & ~O_CLOEXEC) | O_CLOEXEC | O_NONBLOCK;
    UniqueFd fd;
    {
        ScopedUmask mask(umask_of(tid));
        fd.reset(::open(path.c_str(), own, mode));
    }
    if (!fd) return Verdict::error(errno);
    if (!(flags & (O_NONBLOCK | O_PATH))) {
        int fl = ::fcntl(fd.get(), F_GETFL);
        if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
    }
    return Verdict::install(std::move(fd), (flags & O_CLOEXEC) != 0);
}

template <class T>
Verdict write_result(Call& call, uint64_t addr, const T& value) {
    return call.write_value(addr, value) ? Verdict::result(0) : Verdict::error(EFAULT);
}

std::optional<std::string> link_of(const std::string& link) {
    char target[PATH_MAX];
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) return std::nullopt;
    return std::string(target, static_cast<size_t>(n));
}

}  // namespace

std::optional<std::string> absolute_path(pid_t tid, int dirfd, const std::string& path) {
    if (!path.empty() && path[0] == '/') return normalize_path(path);
    auto base = link_of("/proc/" + std::to_string(tid) + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd)));
    if (!base || (*base)[0] != '/') return std::nullopt;  // not a directory path (a socket, a deleted dir...)
    return normalize_path(*base + "/" + path);
}

Status FileSyscalls::install(SyscallRouter& router, bool track_writes) {
    for (auto& [path, content] : special_.synthetic) {
        auto local = fs_.synthesize(path, content);
        if (!local) return local.error();
        synthetic_files_[path] = *local;
    }
    // Each call with the path arguments (dirfd, path) to check for a quick local verdict.
    struct PathArgs {
        int dirfd, path;
    };
    auto on = [&](int nr, auto handler, std::vector<PathArgs> paths, std::function<bool(const Notification&)> writes) {
        router.on(nr, [this, handler](Call& c) { return handler(this, c); }, {}, [this, paths, writes](const Notification& n) {
            bool write = writes(n);
            for (auto [dirfd, path] : paths)
                if (!certainly_local(n, dirfd, path, write)) return false;
            return true;
        });
    };
    auto reads = [](const Notification&) { return false; };
    auto changes = [](const Notification&) { return true; };
    auto open_flags = [](int arg) { return [arg](const Notification& n) { return opens_for_writing(static_cast<long>(n.args[arg])); }; };
    on(SYS_open, [](FileSyscalls* f, Call& c) { return f->open(c, -1, 0, 1, false, false); }, {{-1, 0}}, open_flags(1));
    on(SYS_openat, [](FileSyscalls* f, Call& c) { return f->open(c, 0, 1, 2, false, false); }, {{0, 1}}, open_flags(2));
    on(SYS_openat2, [](FileSyscalls* f, Call& c) { return f->open(c, 0, 1, 2, false, true); }, {{0, 1}}, [](const Notification& n) {
        auto how = read_value<open_how>(n.tid, n.args[2]);
        return !how || opens_for_writing(static_cast<long>(how->flags));
    });
    on(SYS_creat, [](FileSyscalls* f, Call& c) { return f->open(c, -1, 0, -1, true, false); }, {{-1, 0}}, changes);
    on(SYS_stat, [](FileSyscalls* f, Call& c) { return f->stat(c, -1, 0, 1, -1, true, false); }, {{-1, 0}}, reads);
    on(SYS_lstat, [](FileSyscalls* f, Call& c) { return f->stat(c, -1, 0, 1, -1, false, false); }, {{-1, 0}}, reads);
    on(SYS_newfstatat, [](FileSyscalls* f, Call& c) { return f->stat(c, 0, 1, 2, 3, true, false); }, {{0, 1}}, reads);
    on(SYS_statx, [](FileSyscalls* f, Call& c) { return f->stat(c, 0, 1, 4, 2, true, true); }, {{0, 1}}, reads);
    on(SYS_statfs, [](FileSyscalls* f, Call& c) { return f->statfs(c, false); }, {{-1, 0}}, reads);
    router.on(SYS_fstatfs, [this](Call& c) { return statfs(c, true); }, {}, [this](const Notification& n) {
        auto target = link_of("/proc/" + std::to_string(n.tid) + "/fd/" + std::to_string(static_cast<int>(n.args[0])));
        return !target || !fs_.remote_path(*target);
    });
    on(SYS_access, [](FileSyscalls* f, Call& c) { return f->access(c, -1, 0, 1, -1); }, {{-1, 0}}, reads);
    on(SYS_faccessat, [](FileSyscalls* f, Call& c) { return f->access(c, 0, 1, 2, -1); }, {{0, 1}}, reads);
    on(SYS_faccessat2, [](FileSyscalls* f, Call& c) { return f->access(c, 0, 1, 2, 3); }, {{0, 1}}, reads);
    on(SYS_readlink, [](FileSyscalls* f, Call& c) { return f->readlink(c, -1, 0, 1, 2); }, {{-1, 0}}, reads);
    on(SYS_readlinkat, [](FileSyscalls* f, Call& c) { return f->readlink(c, 0, 1, 2, 3); }, {{0, 1}}, reads);
    router.on_ptrace_stop(SYS_chdir, [this](Syscall& c) { return chdir(c); });
    router.on(SYS_getcwd, [this](Call& c) { return getcwd(c); }, {}, [this](const Notification& n) {
        auto cwd = link_of("/proc/" + std::to_string(n.tid) + "/cwd");
        return !cwd || !fs_.remote_path(*cwd);
    });
    on(SYS_mkdir, [](FileSyscalls* f, Call& c) { return f->mkdir(c, -1, 0, 1); }, {{-1, 0}}, changes);
    on(SYS_mkdirat, [](FileSyscalls* f, Call& c) { return f->mkdir(c, 0, 1, 2); }, {{0, 1}}, changes);
    on(SYS_unlink, [](FileSyscalls* f, Call& c) { return f->unlink(c, -1, 0, -1, false); }, {{-1, 0}}, changes);
    on(SYS_rmdir, [](FileSyscalls* f, Call& c) { return f->unlink(c, -1, 0, -1, true); }, {{-1, 0}}, changes);
    on(SYS_unlinkat, [](FileSyscalls* f, Call& c) { return f->unlink(c, 0, 1, 2, false); }, {{0, 1}}, changes);
    on(SYS_rename, [](FileSyscalls* f, Call& c) { return f->rename(c, -1, 0, -1, 1, -1); }, {{-1, 0}, {-1, 1}}, changes);
    on(SYS_renameat, [](FileSyscalls* f, Call& c) { return f->rename(c, 0, 1, 2, 3, -1); }, {{0, 1}, {2, 3}}, changes);
    on(SYS_renameat2, [](FileSyscalls* f, Call& c) { return f->rename(c, 0, 1, 2, 3, 4); }, {{0, 1}, {2, 3}}, changes);
    on(SYS_truncate, [](FileSyscalls* f, Call& c) { return f->truncate(c); }, {{-1, 0}}, changes);
    // Extended attributes of remote files: none (ls -l asks for ACLs and SELinux labels).
    on(SYS_getxattr, [](FileSyscalls* f, Call& c) { return f->xattr(c, false); }, {{-1, 0}}, reads);
    on(SYS_lgetxattr, [](FileSyscalls* f, Call& c) { return f->xattr(c, false); }, {{-1, 0}}, reads);
    on(SYS_listxattr, [](FileSyscalls* f, Call& c) { return f->xattr(c, true); }, {{-1, 0}}, reads);
    on(SYS_llistxattr, [](FileSyscalls* f, Call& c) { return f->xattr(c, true); }, {{-1, 0}}, reads);
    if (track_writes) {
        router.on(SYS_close, [this](Call& c) { return close_or_sync(c, Closing::close); });
        router.on(SYS_fsync, [this](Call& c) { return close_or_sync(c, Closing::sync); });
        router.on(SYS_fdatasync, [this](Call& c) { return close_or_sync(c, Closing::sync); });
        router.on(SYS_dup2, [this](Call& c) { return close_or_sync(c, Closing::dup); });
        router.on(SYS_dup3, [this](Call& c) { return close_or_sync(c, Closing::dup); });
    }
    return {};
}

std::optional<FileSyscalls::Path> FileSyscalls::resolve(pid_t tid, int dirfd, const std::string& given, bool write) const {
    if (given.empty()) return std::nullopt;  // an fd-based call (AT_EMPTY_PATH) or ENOENT: the kernel's
    auto absolute = absolute_path(tid, dirfd, given);
    if (!absolute) return std::nullopt;
    Path p;
    if (auto remote = fs_.remote_path(*absolute)) {
        p.as_given = *remote;
        p.via_copy = true;
    } else if (given[0] != '/') {
        return std::nullopt;  // relative to a local directory: local, as in mirrord
    } else {
        p.as_given = *absolute;
        // "/app/data/.." is "/app" to us, but the kernel would look "/app/data" up locally first.
        auto dots = given.find("/..");
        if (dots != std::string::npos && dots > 0) {
            std::string before = normalize_path(given.substr(0, dots));
            p.climbs_remote = policy_.route(policy_.map(before), false) != PathRoute::local;
        }
    }
    p.remote = p.as_given;
    bool explain = session_report().active();
    if (special_.synthetic.count(p.as_given)) {
        p.route = Route::synthetic;
        if (explain) p.rule = "mirrord, from the target's settings";
    } else if (special_.local.count(p.as_given)) {
        p.route = Route::local;
        if (explain) p.rule = "mirrord (a file of its own)";
    } else if (special_.remote.count(p.as_given)) {
        p.route = write ? Route::local : Route::remote_read;
        if (explain) p.rule = "mirrord (the target's name resolution)";
    } else {
        p.remote = policy_.map(p.as_given);
        auto decision = policy_.decide(p.remote, write, explain);
        if (decision.rule) p.rule = *decision.rule;
        if (explain && p.remote != p.as_given) p.rule += ", mapped to " + p.remote + " by feature.fs.mapping";
        switch (decision.route) {
            case PathRoute::local: p.route = Route::local; break;
            case PathRoute::not_found: p.route = Route::not_found; break;
            case PathRoute::remote_read: p.route = Route::remote_read; break;
            case PathRoute::remote_write: p.route = Route::remote_write; break;
        }
    }
    return p;
}

std::optional<FileSyscalls::Path> FileSyscalls::resolve(Call& call, int dirfd_arg, int path_arg, bool write) const {
    auto given = call.read_string(call.arg(path_arg));
    if (!given) return std::nullopt;  // EFAULT, ENAMETOOLONG: the kernel says so itself
    return resolve(call.tid(), dirfd_arg >= 0 ? call.fd_arg(dirfd_arg) : AT_FDCWD, *given, write);
}

bool FileSyscalls::certainly_local(const Notification& n, int dirfd_arg, int path_arg, bool write) const {
    auto given = read_string(n.tid, n.args[static_cast<size_t>(path_arg)], PATH_MAX);
    if (!given) return true;  // the kernel reports the bad pointer
    auto p = resolve(n.tid, dirfd_arg >= 0 ? static_cast<int>(n.args[static_cast<size_t>(dirfd_arg)]) : AT_FDCWD, *given, write);
    bool local = !p || (p->route == Route::local && !p->acted_on_here());
    bool opens = n.nr == SYS_open || n.nr == SYS_openat || n.nr == SYS_openat2 || n.nr == SYS_creat;
    if (local && opens && p) session_report().record(SessionReport::Kind::file, "local", p->as_given, 0, p->rule);
    return local;
}

std::optional<Verdict> FileSyscalls::Path::settled() const {
    if (route == Route::local) return Verdict::local();
    if (route == Route::not_found) return Verdict::error(ENOENT);
    return std::nullopt;
}

std::string FileSyscalls::local_file(const Path& p) const {
    if (p.route == Route::synthetic) return synthetic_files_.at(p.as_given);
    return p.remote;
}

co::Task<Verdict> FileSyscalls::open(Call& call, int dirfd_arg, int path_arg, int flags_arg, bool creat, bool openat2) {
    long flags = O_CREAT | O_WRONLY | O_TRUNC;
    mode_t mode = static_cast<mode_t>(call.arg(creat ? 1 : (openat2 ? 0 : flags_arg + 1)));
    if (openat2) {
        auto how = call.read<open_how>(call.arg(flags_arg));
        if (!how) co_return Verdict::local();  // the kernel reports the bad pointer
        flags = static_cast<long>(how->flags);
        mode = static_cast<mode_t>(how->mode);
    } else if (!creat) {
        flags = static_cast<long>(call.arg(flags_arg));
    }
    if (!(flags & (O_CREAT | O_TMPFILE))) mode = 0;
    bool write = opens_for_writing(flags);
    auto p = resolve(call, dirfd_arg, path_arg, write);
    if (!p) co_return Verdict::local();
    static const char* const route_names[] = {"local", "not found", "made up here", "remote (read)", "remote (write)"};
    session_report().record(SessionReport::Kind::file, route_names[static_cast<int>(p->route)], p->as_given, 0, p->rule);
    switch (p->route) {
        case Route::local:
            if (!p->acted_on_here()) co_return Verdict::local();
            co_return open_for(call.tid(), p->remote, flags, mode);
        case Route::not_found:
            co_return Verdict::error(ENOENT);
        case Route::synthetic:
            if (write) {
                log::debug(p->as_given, " is made up for this session (read-only); pid ", call.tid(), " cannot write it");
                co_return Verdict::error(EROFS);
            }
            co_return open_for(call.tid(), local_file(*p), flags, mode);
        case Route::remote_read: {
            auto local = co_await fs_.fetch(p->remote, !write);
            if (!local) co_return Verdict::error(errno_of(local.error()));
            if (RemoteFs::is_passed(*local)) flags &= ~O_NOFOLLOW;  // the agent resolved the path
            co_return open_for(call.tid(), *local, flags, mode);
        }
        case Route::remote_write:
            break;
    }
    // Existing content is needed unless the open truncates; a missing file may be created.
    // (No co_await inside ?: — GCC 12 miscompiles it.)
    Result<std::string> local = Error::msg("", ENOENT);
    if (!(flags & O_TRUNC)) local = co_await fs_.fetch(p->remote);
    if (!local && local.error().code == ENOENT && (flags & (O_CREAT | O_TRUNC))) local = co_await fs_.fetch_parent(p->remote);
    if (!local) co_return Verdict::error(errno_of(local.error()));
    Verdict opened = open_for(call.tid(), fs_.local_path(p->remote), flags, mode);
    if (opened.kind != Verdict::Kind::install_fd) co_return opened;
    // Closing a descriptor of this copy pushes it back; a create or truncate takes effect in the
    // target at once.
    struct stat st{};
    if (::fstat(opened.fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
        fs_.track_writable(st.st_dev, st.st_ino, p->remote);
        if (flags & (O_CREAT | O_TRUNC))
            if (auto pushed = co_await fs_.push(p->remote); !pushed) log::warn(pushed.error().message);
    }
    co_return opened;
}

co::Task<Verdict> FileSyscalls::stat(Call& call, int dirfd_arg, int path_arg, int buf_arg, int flags_arg, bool follow,
                                     bool statx) {
    int at_flags = flags_arg >= 0 ? static_cast<int>(call.arg(flags_arg)) : (follow ? 0 : AT_SYMLINK_NOFOLLOW);
    if (at_flags & AT_SYMLINK_NOFOLLOW) follow = false;
    auto p = resolve(call, dirfd_arg, path_arg, false);
    if (!p) co_return Verdict::local();
    uint64_t buf = call.arg(buf_arg);
    if (p->on_local_file()) {
        std::string local = local_file(*p);
        if (statx) {
            struct statx sx{};
            long r = kernel_result(::statx(AT_FDCWD, local.c_str(), at_flags & ~AT_EMPTY_PATH, static_cast<unsigned>(call.arg(3)), &sx));
            co_return r < 0 ? Verdict::result(r) : write_result(call, buf, sx);
        }
        struct stat st{};
        long r = kernel_result(::fstatat(AT_FDCWD, local.c_str(), &st, at_flags & ~AT_EMPTY_PATH));
        co_return r < 0 ? Verdict::result(r) : write_result(call, buf, st);
    }
    if (auto settled = p->settled()) co_return std::move(*settled);
    auto st = co_await fs_.stat(p->remote, follow);
    if (!st) co_return Verdict::error(errno_of(st.error()));
    if (statx) co_return write_result(call, buf, to_statx(*st));
    co_return write_result(call, buf, to_stat(*st));
}

co::Task<Verdict> FileSyscalls::statfs(Call& call, bool by_fd) {
    std::optional<Path> p;
    if (by_fd) {
        // A descriptor of a local copy stands for the target's file.
        auto target = link_of("/proc/" + std::to_string(call.tid()) + "/fd/" + std::to_string(call.fd_arg(0)));
        auto remote = target ? fs_.remote_path(*target) : std::nullopt;
        if (!remote) co_return Verdict::local();
        p = Path{*remote, *remote, true, false, Route::remote_read};
    } else {
        p = resolve(call, -1, 0, false);
        if (!p) co_return Verdict::local();
    }
    if (p->on_local_file()) {
        struct statfs st{};
        long r = kernel_result(::statfs(local_file(*p).c_str(), &st));
        co_return r < 0 ? Verdict::result(r) : write_result(call, call.arg(1), st);
    }
    if (auto settled = p->settled()) co_return std::move(*settled);
    auto reply = co_await fs_.statfs(p->remote);
    if (!reply) co_return Verdict::error(errno_of(reply.error()));
    co_return write_result(call, call.arg(1), to_statfs(*reply));
}

co::Task<Verdict> FileSyscalls::access(Call& call, int dirfd_arg, int path_arg, int mode_arg, int flags_arg) {
    auto p = resolve(call, dirfd_arg, path_arg, false);
    if (!p) co_return Verdict::local();
    int mode = static_cast<int>(call.arg(mode_arg));
    if (p->on_local_file()) {
        int flags = flags_arg >= 0 ? static_cast<int>(call.arg(flags_arg)) & ~AT_EMPTY_PATH : 0;
        co_return Verdict::result(kernel_result(::syscall(SYS_faccessat2, AT_FDCWD, local_file(*p).c_str(), mode, flags)));
    }
    if (auto settled = p->settled()) co_return std::move(*settled);
    Status ok = co_await fs_.access(p->remote, mode);
    co_return ok ? Verdict::result(0) : Verdict::error(errno_of(ok.error()));
}

co::Task<Verdict> FileSyscalls::readlink(Call& call, int dirfd_arg, int path_arg, int buf_arg, int size_arg) {
    auto p = resolve(call, dirfd_arg, path_arg, false);
    if (!p) co_return Verdict::local();
    auto size = static_cast<int>(call.arg(size_arg));
    if (size <= 0) co_return Verdict::local();  // EINVAL from the kernel
    std::optional<std::string> target;
    if (p->on_local_file()) {
        std::vector<char> buffer(static_cast<size_t>(std::min(size, PATH_MAX)));
        ssize_t n = ::readlink(local_file(*p).c_str(), buffer.data(), buffer.size());
        if (n < 0) co_return Verdict::error(errno);
        target = std::string(buffer.data(), static_cast<size_t>(n));
    } else if (auto settled = p->settled()) {
        co_return std::move(*settled);
    } else {
        auto remote = co_await fs_.readlink(p->remote);
        if (!remote) co_return Verdict::error(errno_of(remote.error()));
        target = *remote;
    }
    size_t n = std::min<size_t>(target->size(), static_cast<size_t>(size));
    if (!call.write(call.arg(buf_arg), target->data(), n)) co_return Verdict::error(EFAULT);
    co_return Verdict::result(static_cast<long>(n));
}

co::Task<void> FileSyscalls::chdir(Syscall& call) {
    auto given = read_string(call.tid(), call.arg(0), PATH_MAX);
    if (!given) co_return;
    auto p = resolve(call.tid(), AT_FDCWD, *given, false);
    if (!p || (p->route == Route::local && !p->acted_on_here())) co_return;
    if (p->route == Route::not_found) co_return call.set_result(-ENOENT);
    if (p->route == Route::synthetic) co_return call.set_result(-ENOTDIR);
    // The new path needs memory in the program's address space: scratch memory, mapped on first need.
    if (!call.tracee().mm->has_scratch()) co_return co_await call.map_scratch_and_restart();
    std::string target = p->remote;
    if (p->route != Route::local) {
        // Into the local copy of the directory: relative paths then resolve among its copies.
        auto local = co_await fs_.fetch(p->remote);
        if (!local) co_return call.set_result(-errno_of(local.error()));
        target = *local;
    }
    ScratchSlot slot = call.tracee().scratch_slot();
    if (!slot || target.size() + 1 > AddressSpace::kSlotSize) {
        log::error("pid ", call.tid(), ": no scratch memory left to redirect chdir; the call fails with ENOMEM");
        co_return call.set_result(-ENOMEM);
    }
    if (auto st = write_memory(call.tid(), slot.addr(), target.c_str(), target.size() + 1); !st) {
        log::error("pid ", call.tid(), ": ", st.error().message, "; chdir fails with EFAULT");
        co_return call.set_result(-EFAULT);
    }
    call.set_arg(0, slot.addr());
    co_await call.run();
}

co::Task<Verdict> FileSyscalls::getcwd(Call& call) {
    auto cwd = link_of("/proc/" + std::to_string(call.tid()) + "/cwd");
    auto remote = cwd ? fs_.remote_path(*cwd) : std::nullopt;  // inside a copy directory: the target's path
    if (!remote) co_return Verdict::local();
    if (remote->size() + 1 > call.arg(1)) co_return Verdict::error(ERANGE);
    if (!call.write(call.arg(0), remote->c_str(), remote->size() + 1)) co_return Verdict::error(EFAULT);
    co_return Verdict::result(static_cast<long>(remote->size() + 1));
}

co::Task<Verdict> FileSyscalls::mkdir(Call& call, int dirfd_arg, int path_arg, int mode_arg) {
    auto p = resolve(call, dirfd_arg, path_arg, true);
    if (!p) co_return Verdict::local();
    auto mode = static_cast<mode_t>(call.arg(mode_arg));
    switch (p->route) {
        case Route::remote_write: break;
        case Route::not_found: co_return Verdict::error(ENOENT);
        default:
            if (!p->acted_on_here()) co_return Verdict::local();
            ScopedUmask mask(umask_of(call.tid()));
            co_return Verdict::result(kernel_result(::mkdir(p->remote.c_str(), mode)));
    }
    Status st = co_await fs_.mkdir(p->remote, mode & ~umask_of(call.tid()) & 07777);
    co_return st ? Verdict::result(0) : Verdict::error(errno_of(st.error()));
}

co::Task<Verdict> FileSyscalls::unlink(Call& call, int dirfd_arg, int path_arg, int flags_arg, bool rmdir) {
    if (flags_arg >= 0 && (call.arg(flags_arg) & AT_REMOVEDIR)) rmdir = true;
    auto p = resolve(call, dirfd_arg, path_arg, true);
    if (!p) co_return Verdict::local();
    switch (p->route) {
        case Route::remote_write: break;
        case Route::not_found: co_return Verdict::error(ENOENT);
        default:
            if (!p->acted_on_here()) co_return Verdict::local();
            co_return Verdict::result(kernel_result(rmdir ? ::rmdir(p->remote.c_str()) : ::unlink(p->remote.c_str())));
    }
    Status st = co_await fs_.unlink(p->remote, rmdir);
    co_return st ? Verdict::result(0) : Verdict::error(errno_of(st.error()));
}

co::Task<Verdict> FileSyscalls::rename(Call& call, int olddir_arg, int old_arg, int newdir_arg, int new_arg, int flags_arg) {
    auto from = resolve(call, olddir_arg, old_arg, true);
    auto to = resolve(call, newdir_arg, new_arg, true);
    bool from_remote = from && from->route == Route::remote_write;
    bool to_remote = to && to->route == Route::remote_write;
    uint32_t flags = flags_arg >= 0 ? static_cast<uint32_t>(call.arg(flags_arg)) : 0;
    if (!from_remote && !to_remote) {
        bool here = (from && from->acted_on_here()) || (to && to->acted_on_here());
        if (!here) co_return Verdict::local();  // local to local, as given
        if (!from || !to || from->route != Route::local || to->route != Route::local) co_return Verdict::error(EXDEV);
        co_return Verdict::result(kernel_result(::renameat2(AT_FDCWD, from->remote.c_str(), AT_FDCWD, to->remote.c_str(), flags)));
    }
    if (from_remote != to_remote) co_return Verdict::error(EXDEV);  // as across file systems
    Status st = co_await fs_.rename(from->remote, to->remote, flags);
    co_return st ? Verdict::result(0) : Verdict::error(errno_of(st.error()));
}

co::Task<Verdict> FileSyscalls::truncate(Call& call) {
    auto p = resolve(call, -1, 0, true);
    if (!p) co_return Verdict::local();
    auto length = static_cast<off_t>(call.arg(1));
    switch (p->route) {
        case Route::remote_write: break;
        case Route::not_found: co_return Verdict::error(ENOENT);
        default:
            if (!p->acted_on_here()) co_return Verdict::local();
            co_return Verdict::result(kernel_result(::truncate(p->remote.c_str(), length)));
    }
    Status st = co_await fs_.truncate(p->remote, length);
    co_return st ? Verdict::result(0) : Verdict::error(errno_of(st.error()));
}

co::Task<Verdict> FileSyscalls::close_or_sync(Call& call, Closing kind) {
    // Identify the descriptor by what it is, not by its number: a duplicate says which file it is.
    int fd = call.fd_arg(kind == Closing::dup ? 1 : 0);  // dup2's target gets closed
    if (kind == Closing::dup && call.arg(0) == call.arg(1)) co_return Verdict::local();
    UniqueFd dup = call.duplicate(fd);
    if (!dup) co_return Verdict::local();
    struct stat st{};
    if (::fstat(dup.get(), &st) != 0 || !S_ISREG(st.st_mode)) co_return Verdict::local();
    auto path = fs_.writable_path(st.st_dev, st.st_ino);
    if (!path) co_return Verdict::local();
    // The thread is held in close() until its writes are in the target; then the kernel closes.
    Status pushed = co_await fs_.push(*path, false);
    if (pushed) co_return Verdict::local();
    log::error(pushed.error().message);
    if (kind == Closing::sync) co_return Verdict::error(EIO);
    co_return Verdict::local();  // the descriptor goes away all the same; the copy is pushed again at exit
}

co::Task<Verdict> FileSyscalls::xattr(Call& call, bool list) {
    auto p = resolve(call, -1, 0, false);
    if (!p) co_return Verdict::local();
    if (p->on_local_file()) {
        // Asked of the local file itself, into a buffer of ours, then copied out.
        size_t size = std::min<uint64_t>(call.arg(list ? 2 : 3), 65536);
        std::vector<char> buffer(size);
        std::string local = local_file(*p);
        ssize_t n;
        if (list) {
            n = call.nr() == SYS_llistxattr ? ::llistxattr(local.c_str(), buffer.data(), size) : ::listxattr(local.c_str(), buffer.data(), size);
        } else {
            auto name = call.read_string(call.arg(1), 256);
            if (!name) co_return Verdict::error(EFAULT);
            n = call.nr() == SYS_lgetxattr ? ::lgetxattr(local.c_str(), name->c_str(), buffer.data(), size)
                                           : ::getxattr(local.c_str(), name->c_str(), buffer.data(), size);
        }
        if (n < 0) co_return Verdict::error(errno);
        if (size > 0 && n > 0 && !call.write(call.arg(list ? 1 : 2), buffer.data(), static_cast<size_t>(n)))
            co_return Verdict::error(EFAULT);
        co_return Verdict::result(n);
    }
    if (auto settled = p->settled()) co_return std::move(*settled);
    co_return list ? Verdict::result(0) : Verdict::error(ENODATA);
}

}  // namespace mrd::tracer
