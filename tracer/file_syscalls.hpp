// Path-taking syscalls (open, stat, access, readlink and their *at forms): the path is made
// absolute as the program would resolve it, and when the target serves it, the argument is pointed
// at the local copy.
#pragma once

#include "tracer/syscall_router.hpp"

#include <functional>
#include <optional>
#include <string>

namespace mrd::tracer {

class FileSyscalls {
public:
    // Given an absolute path, the local path to use instead, or nullopt to leave the call alone.
    using Redirect = std::function<co::Task<std::optional<std::string>>(const std::string& path)>;

    explicit FileSyscalls(Redirect redirect) : redirect_(std::move(redirect)) {}
    void install(SyscallRouter& router);

private:
    co::Task<void> handle(Syscall& call, int dirfd_arg, int path_arg, int flags_arg);
    Redirect redirect_;
};

// The absolute form of path as tid would resolve it against dirfd (AT_FDCWD: its working directory).
std::optional<std::string> absolute_path(pid_t tid, int dirfd, const std::string& path);

}  // namespace mrd::tracer
