// Path resolution confined to the target's root directory.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <string>

namespace mrd::agent {

// openat2(root_fd, path, RESOLVE_IN_ROOT): absolute symlinks and ".." resolve inside the target, as
// they would for the target itself. path must be absolute. Returns -1 with errno set on failure.
int open_in_root(int root_fd, const std::string& path, int flags, mode_t mode = 0);

// A whole (small) file of the target, e.g. /etc/resolv.conf.
Result<std::string> read_file_in_root(int root_fd, const std::string& path);

}  // namespace mrd::agent
