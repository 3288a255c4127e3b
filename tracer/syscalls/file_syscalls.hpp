// Path-taking syscalls. The path is read once from the program's memory (the checks and the action
// use that copy: another thread of the program changing the string meanwhile changes nothing of
// ours; this is not a sandbox, and the program is the user's own), resolved as the program would
// (relative paths against its working directory or dirfd), then routed by the fs policy:
//   local      the kernel runs the call as made;
//   not found  it fails with ENOENT;
//   remote     open installs a descriptor of the local copy (RemoteFs) in the program,
//              stat/statfs/access/readlink are answered from the target's metadata, and in write
//              mode mkdir/unlink/rename/truncate happen in the target; copies written to are pushed
//              back on close/fsync;
//   made up    files synthesized for the session (hostname, a DNS-filtered hosts file) are
//              written once and opened like local copies.
// A local path reached through a copy directory (a relative path after chdir into a remote
// directory) is acted on by the supervisor with its real path. chdir into a remote directory is the
// one call answered by a register rewrite at a ptrace stop: no verdict can change a working directory.
#pragma once

#include "tracer/policy/fs_policy.hpp"
#include "tracer/remote/remote_fs.hpp"
#include "tracer/ptrace/syscall_router.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>

namespace mrd::tracer {

// Paths decided before the fs policy: DNS and hostname files follow feature.network.dns and
// feature.hostname whatever the fs mode.
struct SpecialPaths {
    std::set<std::string> remote;                   // always read from the target
    std::set<std::string> local;                    // always local
    std::map<std::string, std::string> synthetic;   // content made up here
};

class FileSyscalls {
public:
    FileSyscalls(RemoteFs& fs, const FsPolicy& policy, SpecialPaths special)
        : fs_(fs), policy_(policy), special_(std::move(special)) {}
    // Writes the made-up files. track_writes: also trap close/fsync to push written copies back
    // (write mode, read_write paths).
    Status install(SyscallRouter& router, bool track_writes);

    enum class Route { local, not_found, synthetic, remote_read, remote_write };
    struct Path {
        std::string remote;        // absolute, mapped (feature.fs.mapping)
        std::string as_given;      // absolute, before mapping
        bool via_copy = false;     // reached through a directory of local copies
        bool climbs_remote = false;  // "/remote/dir/.." style: only the normalized form makes sense here
        Route route = Route::local;
        std::string rule;  // what chose the route, when the session's report wants to know
        // A local path the kernel would not find as given (reached through a copy directory, or
        // mapped by feature.fs.mapping): the supervisor acts on `remote`, the path it stands for.
        bool acted_on_here() const { return route == Route::local && (via_copy || climbs_remote || remote != as_given); }
        // Answered from a file on this machine by the supervisor: a made-up one, or acted_on_here.
        bool on_local_file() const { return route == Route::synthetic || acted_on_here(); }
        // The verdict of a path the kernel handles as given (local) or that does not exist here
        // (not_found); nullopt for the rest.
        std::optional<Verdict> settled() const;
    };

private:
    // nullopt: the kernel's business as it stands (an unreadable path: EFAULT; an fd-based call...).
    std::optional<Path> resolve(pid_t tid, int dirfd, const std::string& given, bool write) const;
    std::optional<Path> resolve(Call& call, int dirfd_arg, int path_arg, bool write) const;
    // On the listener's thread: the call's path stays local as given (reads only immutable state).
    bool certainly_local(const Notification& n, int dirfd_arg, int path_arg, bool write) const;
    // The local file a route that stays on this machine names (the made-up file's copy, or the path).
    std::string local_file(const Path& p) const;

    co::Task<Verdict> open(Call& call, int dirfd_arg, int path_arg, int flags_arg, bool creat, bool openat2);
    co::Task<Verdict> stat(Call& call, int dirfd_arg, int path_arg, int buf_arg, int flags_arg, bool follow, bool statx);
    co::Task<Verdict> statfs(Call& call, bool by_fd);
    co::Task<Verdict> access(Call& call, int dirfd_arg, int path_arg, int mode_arg, int flags_arg);
    co::Task<Verdict> readlink(Call& call, int dirfd_arg, int path_arg, int buf_arg, int size_arg);
    co::Task<void> chdir(Syscall& call);
    co::Task<Verdict> getcwd(Call& call);
    co::Task<Verdict> mkdir(Call& call, int dirfd_arg, int path_arg, int mode_arg);
    co::Task<Verdict> unlink(Call& call, int dirfd_arg, int path_arg, int flags_arg, bool rmdir);
    co::Task<Verdict> rename(Call& call, int olddir_arg, int old_arg, int newdir_arg, int new_arg, int flags_arg);
    co::Task<Verdict> truncate(Call& call);
    // close, fsync, fdatasync, and dup2/dup3 (which close their target): push a written copy back.
    enum class Closing { close, sync, dup };
    co::Task<Verdict> close_or_sync(Call& call, Closing kind);
    co::Task<Verdict> xattr(Call& call, bool list);

    RemoteFs& fs_;
    const FsPolicy& policy_;
    SpecialPaths special_;
    std::map<std::string, std::string> synthetic_files_;  // path -> its made-up copy
};

// The absolute form of path as tid would resolve it against dirfd (AT_FDCWD: its working directory).
std::optional<std::string> absolute_path(pid_t tid, int dirfd, const std::string& path);

}  // namespace mrd::tracer
