#include "wire/inherited_fds.hpp"

#include <dirent.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace mrd::wire {

namespace {

constexpr int kMaxKept = 256;
int g_kept[kMaxKept];  // sorted; filled once at start-up, read after fork
int g_count = 0;

}  // namespace

void remember_inherited_fds() {
    g_count = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return;
    int own = ::dirfd(dir);
    while (dirent* entry = ::readdir(dir)) {
        int fd = std::atoi(entry->d_name);
        if (entry->d_name[0] == '.' || fd <= STDERR_FILENO || fd == own || g_count == kMaxKept) continue;
        g_kept[g_count++] = fd;
    }
    ::closedir(dir);
    std::sort(g_kept, g_kept + g_count);
}

void close_uninherited_on_exec() {
    unsigned first = STDERR_FILENO + 1;
    for (int i = 0; i < g_count; ++i) {
        auto kept = static_cast<unsigned>(g_kept[i]);
        if (kept > first) ::syscall(SYS_close_range, first, kept - 1, CLOSE_RANGE_CLOEXEC);
        first = kept + 1;
    }
    ::syscall(SYS_close_range, first, ~0u, CLOSE_RANGE_CLOEXEC);
}

}  // namespace mrd::wire
