// Path-taking syscalls. The path is resolved as the program would (relative paths against its
// working directory or dirfd), then routed by the fs policy:
//   local      the call runs untouched;
//   not found  it fails with ENOENT;
//   remote     open/chdir are pointed at the local copy (RemoteFs), stat/access/readlink are
//              answered from the target's metadata, and in write mode mkdir/unlink/rename/truncate
//              happen in the target; copies written to are pushed back on close/fsync.
#pragma once

#include "tracer/fs_policy.hpp"
#include "tracer/remote_fs.hpp"
#include "tracer/syscall_router.hpp"

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
    // track_writes: also trap close/fsync to push written copies back (write mode, read_write paths).
    void install(SyscallRouter& router, bool track_writes);

    enum class Route { local, not_found, synthetic, remote_read, remote_write };
    struct Path {
        std::string remote;        // absolute, mapped (feature.fs.mapping)
        std::string as_given;      // absolute, before mapping
        bool via_copy = false;     // reached through a directory of local copies
        bool climbs_remote = false;  // "/remote/dir/.." style: only the normalized form makes sense here
        Route route = Route::local;
    };

private:
    std::optional<Path> resolve(Syscall& call, int dirfd_arg, int path_arg, bool write, bool empty_path_allowed = false);
    co::Task<void> redirect(Syscall& call, int path_arg, const std::string& local);
    // Lets a path that stays local go ahead (through a copy directory it must become the real path).
    co::Task<void> pass_local(Syscall& call, int path_arg, const Path& p);
    // Finishes a call whose path is local, not found or made up here (synthetic_result: what such a
    // call returns; none: it runs on the made-up file); false when the path is the target's.
    co::Task<bool> settle_unless_remote(Syscall& call, int path_arg, const Path& p, std::optional<long> synthetic_result = {});

    co::Task<void> open(Syscall& call, int dirfd_arg, int path_arg, int flags_arg, bool creat, bool openat2);
    co::Task<void> stat(Syscall& call, int dirfd_arg, int path_arg, int buf_arg, int flags_arg, bool follow, bool statx);
    co::Task<void> access(Syscall& call, int dirfd_arg, int path_arg, int mode_arg);
    co::Task<void> readlink(Syscall& call, int dirfd_arg, int path_arg, int buf_arg, int size_arg);
    co::Task<void> chdir(Syscall& call);
    co::Task<void> getcwd(Syscall& call);
    co::Task<void> mkdir(Syscall& call, int dirfd_arg, int path_arg, int mode_arg);
    co::Task<void> unlink(Syscall& call, int dirfd_arg, int path_arg, int flags_arg, bool rmdir);
    co::Task<void> rename(Syscall& call, int olddir_arg, int old_arg, int newdir_arg, int new_arg, int flags_arg);
    co::Task<void> truncate(Syscall& call);
    // close, fsync, fdatasync, and dup2/dup3 (which close their target): push a written copy back.
    enum class Closing { close, sync, dup };
    co::Task<void> close_or_sync(Syscall& call, Closing kind);
    co::Task<void> xattr(Syscall& call, bool list);

    RemoteFs& fs_;
    const FsPolicy& policy_;
    SpecialPaths special_;
};

// The absolute form of path as tid would resolve it against dirfd (AT_FDCWD: its working directory).
std::optional<std::string> absolute_path(pid_t tid, int dirfd, const std::string& path);

}  // namespace mrd::tracer
