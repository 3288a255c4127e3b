#include "base/temp_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>

namespace mrd {
namespace {

std::string temp_root() {
    const char* tmp = std::getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

}  // namespace

Result<std::string> make_temp_dir(const std::string& name) {
    std::string path = temp_root() + "/" + name + "-XXXXXX";
    if (!::mkdtemp(path.data())) return Error::from_errno("creating " + path);
    // Held open (close-on-exec) until we exit: the kernel drops the lock with us, however we end.
    int held = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (held >= 0) ::flock(held, LOCK_SH);
    return path;
}

size_t sweep_stale_temp_dirs(const std::vector<std::string>& names, std::chrono::seconds min_age) {
    std::string root = temp_root();
    DIR* dir = ::opendir(root.c_str());
    if (!dir) return 0;
    size_t removed = 0;
    time_t now = std::time(nullptr);
    while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        auto made_here = [&](const std::string& n) {  // NAME-XXXXXX, as mkdtemp fills it in
            return name.size() == n.size() + 7 && name.rfind(n + "-", 0) == 0;
        };
        if (std::none_of(names.begin(), names.end(), made_here)) continue;
        std::string path = root + "/" + name;
        int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOTCONN && ::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0)  // a dead FUSE mount
            fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st{};
        bool stale = ::fstat(fd, &st) == 0 && st.st_uid == ::getuid() && now - st.st_mtime >= min_age.count() &&
                     ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (stale) {
            std::error_code ignored;
            removed += std::filesystem::remove_all(path, ignored) > 0;
        }
        ::close(fd);
    }
    ::closedir(dir);
    return removed;
}

}  // namespace mrd
