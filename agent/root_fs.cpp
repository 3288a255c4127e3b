#include "agent/root_fs.hpp"

#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mrd::agent {

int open_in_root(int root_fd, const std::string& path, int flags, mode_t mode) {
    if (path.empty() || path[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    open_how how{};
    how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
    how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;  // openat2 rejects a mode it would ignore
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        long fd = ::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);  // EAGAIN: a rename raced the lookup
    }
}

Result<std::string> read_file_in_root(int root_fd, const std::string& path) {
    UniqueFd fd(open_in_root(root_fd, path, O_RDONLY));
    if (!fd) return Error::from_errno("opening " + path + " in the target");
    std::string content;
    char buffer[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("reading " + path + " in the target");
        }
        if (n == 0) return content;
        content.append(buffer, static_cast<size_t>(n));
        if (content.size() > (16u << 20)) return Error::msg(path + " in the target is too large", EFBIG);
    }
}

}  // namespace mrd::agent
