#include "base/temp_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>

namespace mrd {
namespace {

std::string temp_root() {
    const char* tmp = std::getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

// rename(2) that fails with EEXIST rather than replace `to` (an empty directory would be).
int rename_no_replace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL) return -1;
    // A file system without RENAME_NOREPLACE: checked, then renamed.
    if (::access(to.c_str(), F_OK) == 0) return errno = EEXIST, -1;
    return ::rename(from.c_str(), to.c_str());
}

}  // namespace

Result<std::string> make_temp_dir(const std::string& name) {
    std::string root = temp_root();
    for (int attempt = 0; attempt < 16; ++attempt) {
        std::string making = root + "/." + name + "-XXXXXX";
        if (!::mkdtemp(making.data())) return Error::from_errno("creating " + making);
        std::string path = root + "/" + making.substr(root.size() + 2);
        // Held open (close-on-exec) until we exit: the kernel drops the lock with us, however we end.
        int held = ::open(making.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (held >= 0) ::flock(held, LOCK_SH);
        if (held >= 0 && rename_no_replace(making, path) == 0) return path;
        int error = errno;
        if (held >= 0) ::close(held);
        ::rmdir(making.c_str());
        if (error != EEXIST) return Error::from_errno("creating " + path, error);
    }
    return Error::msg("creating " + root + "/" + name + "-XXXXXX: every name tried is taken", EEXIST);
}

size_t sweep_stale_temp_dirs(const std::vector<std::string>& names) {
    std::string root = temp_root();
    DIR* dir = ::opendir(root.c_str());
    if (!dir) return 0;
    size_t removed = 0;
    time_t now = std::time(nullptr);
    struct stat root_st{};
    ::fstat(::dirfd(dir), &root_st);
    while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        bool half_made = !name.empty() && name[0] == '.';
        auto made_here = [&](const std::string& n) {  // [.]NAME-XXXXXX, as mkdtemp fills it in
            return name.size() == half_made + n.size() + 7 && name.compare(half_made, n.size() + 1, n + "-") == 0;
        };
        if (std::none_of(names.begin(), names.end(), made_here)) continue;
        std::string path = root + "/" + name;
        int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOTCONN && ::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0)  // a dead FUSE mount
            fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st{};
        // A half-made one may not be locked yet: only one that has been so for a minute is left over.
        // A mount that answers is a live session's FUSE view (the lock is on the directory beneath).
        bool stale = ::fstat(fd, &st) == 0 && st.st_uid == ::getuid() && st.st_dev == root_st.st_dev &&
                     (!half_made || now - st.st_mtime >= 60) && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (stale) {
            std::error_code ec;
            auto gone = std::filesystem::remove_all(path, ec);
            removed += !ec && gone > 0;
        }
        ::close(fd);
    }
    ::closedir(dir);
    return removed;
}

}  // namespace mrd
