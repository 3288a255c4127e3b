#include "agent/file_watch.hpp"

#include "agent/root_fs.hpp"
#include "base/log.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mrd::agent {
namespace {

constexpr uint32_t kEvents = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                             IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr uint32_t kEntriesChanged = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

std::shared_ptr<FileWatch> FileWatch::create(asio::io_context& io, int root_fd, Notify notify) {
    std::shared_ptr<FileWatch> watch(new FileWatch(io, root_fd, std::move(notify)));
    if (watch->inotify_ >= 0) watch->read_events();
    return watch;
}

FileWatch::FileWatch(asio::io_context& io, int root_fd, Notify notify)
    : root_fd_(root_fd), notify_(std::move(notify)), events_(io), buffer_(64 * 1024) {
    inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_ < 0) {
        log::warn("inotify: ", std::strerror(errno), "; clients revalidate cached files instead");
        return;
    }
    events_.assign(inotify_);
}

FileWatch::~FileWatch() {
    std::error_code ignored;
    events_.close(ignored);
}

bool FileWatch::watch_directory(const std::string& dir, int flags) {
    {
        std::lock_guard lock(mutex_);
        if (watched_.count(dir)) return true;  // most stats are of files in directories already watched
    }
    UniqueFd fd(open_in_root(root_fd_, dir, O_PATH | O_DIRECTORY | flags));
    if (!fd.ok()) return false;
    // The directory as the target sees it, reached through its descriptor's magic link.
    int wd = ::inotify_add_watch(inotify_, ("/proc/self/fd/" + std::to_string(fd.get())).c_str(), kEvents);
    if (wd < 0) {
        if (errno == ENOSPC && !out_of_watches_.exchange(true))
            log::warn("inotify: no watches left (fs.inotify.max_user_watches); clients revalidate instead");
        return false;
    }
    std::lock_guard lock(mutex_);
    dirs_.emplace(wd, dir);
    watched_.emplace(dir, wd);
    return true;
}

bool FileWatch::arm(const std::string& path) {
    if (inotify_ < 0 || path.empty() || path[0] != '/') return false;
    struct stat st{};
    UniqueFd self(open_in_root(root_fd_, path, O_PATH | O_NOFOLLOW));
    bool exists = self.ok() && ::fstat(self.get(), &st) == 0;
    if (exists && S_ISLNK(st.st_mode)) return false;  // its target may change anywhere
    if (!exists && errno != ENOENT) return false;
    // Its entry in its directory (content, attributes, creation, removal, renames) ...
    if (path != "/" && !watch_directory(parent_of(path), 0)) return false;
    // ... and, for a directory, its own entries.
    if (exists && S_ISDIR(st.st_mode) && !watch_directory(path, O_NOFOLLOW)) return false;
    std::lock_guard lock(mutex_);
    armed_.insert(path);
    return true;
}

void FileWatch::read_events() {
    events_.async_wait(asio::posix::stream_descriptor::wait_read, [weak = weak_from_this()](std::error_code ec) {
        auto self = weak.lock();
        if (!self || ec) return;
        for (;;) {
            ssize_t n = ::read(self->inotify_, self->buffer_.data(), self->buffer_.size());
            if (n <= 0) break;
            for (ssize_t at = 0; at < n;) {
                auto* e = reinterpret_cast<const inotify_event*>(self->buffer_.data() + at);
                self->on_event(e->wd, e->mask, e->len ? std::string(e->name) : std::string());
                at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
            }
        }
        self->read_events();
    });
}

void FileWatch::on_event(int wd, uint32_t mask, const std::string& name) {
    if (mask & IN_Q_OVERFLOW) return changed("/", true);  // events were lost: nothing cached holds
    std::string dir;
    {
        std::lock_guard lock(mutex_);
        auto it = dirs_.find(wd);
        if (it == dirs_.end()) return;
        dir = it->second;
        if (mask & IN_IGNORED) {  // the directory went: a new one of that name needs a watch of its own
            std::erase_if(watched_, [&](const auto& entry) { return entry.second == wd; });
            dirs_.erase(it);
        }
    }
    if (name.empty()) return changed(dir, (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0);
    std::string child = dir == "/" ? "/" + name : dir + "/" + name;
    // An entry that appeared, went or moved: also whatever was below it, and the directory's listing.
    changed(child, (mask & kEntriesChanged) != 0);
    if (mask & kEntriesChanged) changed(dir, false);
}

void FileWatch::changed(const std::string& path, bool subtree) {
    bool any = false;
    {
        std::lock_guard lock(mutex_);
        any = armed_.erase(path) > 0;
        if (subtree) {
            std::string below = path == "/" ? "/" : path + "/";
            for (auto it = armed_.lower_bound(below); it != armed_.end() && it->compare(0, below.size(), below) == 0;) {
                it = armed_.erase(it);
                any = true;
            }
        }
    }
    if (any) notify_(wire::FileChanged{path, subtree});
}

}  // namespace mrd::agent
