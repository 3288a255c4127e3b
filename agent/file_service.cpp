#include "agent/file_service.hpp"

#include "agent/root_fs.hpp"

#include "base/result.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace mrd::agent {
namespace {

using namespace mrd::wire;

ErrorReply error_reply(int code, const std::string& what) {
    return ErrorReply{code, what + ": " + std::strerror(code)};
}

ErrorReply errno_reply(const std::string& what) { return error_reply(errno, what); }

// The directory containing path, opened inside root, and the last component.
struct Parent {
    UniqueFd dir;
    std::string name;
};
Parent open_parent(int root_fd, const std::string& path) {
    std::string trimmed = path;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
    auto slash = trimmed.rfind('/');
    if (slash == std::string::npos) { errno = EINVAL; return {UniqueFd(), {}}; }
    std::string name = trimmed.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") { errno = EBUSY; return {UniqueFd(), {}}; }
    std::string dir = slash == 0 ? "/" : trimmed.substr(0, slash);
    return {UniqueFd(open_in_root(root_fd, dir, O_PATH | O_DIRECTORY)), name};
}

}  // namespace

FileStatInfo to_stat_info(const struct stat& st) {
    auto ns = [](const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
    return FileStatInfo{st.st_dev, st.st_ino, st.st_mode, static_cast<uint32_t>(st.st_nlink), st.st_uid,
                        st.st_gid, st.st_rdev, st.st_size, st.st_blksize, st.st_blocks,
                        ns(st.st_atim), ns(st.st_mtim), ns(st.st_ctim)};
}

FileService::~FileService() {
    for (auto& [handle, fd] : fds_) ::close(fd);
    for (auto& [handle, r] : replacing_) {  // never committed: the target keeps its old version
        ::unlinkat(r.dir, r.temp.c_str(), 0);
        ::close(r.dir);
    }
}

bool FileService::handles(Kind kind) {
    switch (kind) {
        case Kind::FileOpen: case Kind::FileStat: case Kind::FileFstat: case Kind::FileRead:
        case Kind::FileWrite: case Kind::FileClose: case Kind::DirRead: case Kind::ReadLink:
        case Kind::MkDir: case Kind::Unlink: case Kind::Rename: case Kind::Access: case Kind::StatFs:
        case Kind::Truncate:
            return true;
        default:
            return false;
    }
}

Message FileService::serve(const Message& request) {
    return std::visit(
        [this](const auto& m) -> Message {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, FileOpen>) return open(m);
            else if constexpr (std::is_same_v<T, FileStat>) return stat(m);
            else if constexpr (std::is_same_v<T, FileFstat>) return fstat(m);
            else if constexpr (std::is_same_v<T, FileRead>) return read(m);
            else if constexpr (std::is_same_v<T, FileWrite>) return write(m);
            else if constexpr (std::is_same_v<T, FileClose>) return close(m);
            else if constexpr (std::is_same_v<T, DirRead>) return read_dir(m);
            else if constexpr (std::is_same_v<T, ReadLink>) return read_link(m);
            else if constexpr (std::is_same_v<T, MkDir>) return mkdir(m);
            else if constexpr (std::is_same_v<T, Unlink>) return unlink(m);
            else if constexpr (std::is_same_v<T, Rename>) return rename(m);
            else if constexpr (std::is_same_v<T, Access>) return access(m);
            else if constexpr (std::is_same_v<T, Truncate>) return truncate(m);
            else if constexpr (std::is_same_v<T, StatFs>) return statfs(m);
            else return error_reply(EPROTO, std::string("not a file request: ") + kind_name(T::kind));
        },
        request);
}

int FileService::handle_fd(uint64_t handle) const {
    auto it = fds_.find(handle);
    return it == fds_.end() ? -1 : it->second;
}

Message FileService::open(const FileOpen& m) {
    if (m.replace) return open_replacement(m);
    bool watched = m.watch && watch_ && watch_->arm(m.path);  // first: a change after this is reported
    UniqueFd fd(open_in_root(root_fd_, m.path, m.flags, m.mode));
    if (!fd.ok()) return errno_reply("open " + m.path);
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return errno_reply("fstat " + m.path);
    bool pass = m.pass_from_size > 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) >= m.pass_from_size &&
                (m.flags & O_ACCMODE) == O_RDONLY;
    if (pass) {
        // The client reads it itself, at the speed of this file system: read-only, and only this file.
        FileOpened passed{0, to_stat_info(st), watched, true};
        passed.fd = std::make_shared<UniqueFd>(std::move(fd));
        return passed;
    }
    uint64_t handle = next_handle_++;
    fds_[handle] = fd.release();
    return FileOpened{handle, to_stat_info(st), watched};
}

Message FileService::open_replacement(const FileOpen& m) {
    Parent parent = open_parent(root_fd_, m.path);
    if (!parent.dir.ok()) return errno_reply("open " + m.path);
    struct stat old{};
    bool exists = ::fstatat(parent.dir.get(), parent.name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && (!S_ISREG(old.st_mode) || old.st_nlink > 1)) {
        // A symlink or a hard link must stay one: that file is written in place.
        FileOpen in_place = m;
        in_place.replace = false;
        return open(in_place);
    }
    std::string temp = "." + parent.name.substr(0, 200) + ".mirrord-" + std::to_string(::getpid()) + "-" + std::to_string(next_handle_);
    // Unnamed until committed (O_TMPFILE), so that an agent killed meanwhile leaves nothing behind;
    // a named temporary file where the file system has no O_TMPFILE.
    UniqueFd fd(::openat(parent.dir.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    bool unnamed = fd.ok();
    if (!unnamed) fd = UniqueFd(::openat(parent.dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.ok()) return errno_reply("open " + m.path + " (its new version)");
    mode_t mode = exists ? old.st_mode & 07777 : m.mode & 07777;
    if ((exists && ::fchown(fd.get(), old.st_uid, old.st_gid) != 0) || ::fchmod(fd.get(), mode) != 0) {
        ErrorReply e = errno_reply("open " + m.path + " (owner and mode of its new version)");
        if (!unnamed) ::unlinkat(parent.dir.get(), temp.c_str(), 0);
        return e;
    }
    struct stat st{};
    ::fstat(fd.get(), &st);
    uint64_t handle = next_handle_++;
    fds_[handle] = fd.release();
    replacing_[handle] = Replacement{parent.dir.release(), temp, parent.name, unnamed};
    return FileOpened{handle, to_stat_info(st)};
}

Message FileService::stat(const FileStat& m) {
    bool watched = m.watch && watch_ && watch_->arm(m.path);
    UniqueFd fd(open_in_root(root_fd_, m.path, O_PATH | (m.follow_symlinks ? 0 : O_NOFOLLOW)));
    if (!fd.ok()) {
        ErrorReply e = errno_reply("stat " + m.path);
        e.watched = watched && e.code == ENOENT;  // a missing path, watched for its appearance
        return e;
    }
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return errno_reply("stat " + m.path);
    return FileStatReply{to_stat_info(st), watched};
}

Message FileService::fstat(const FileFstat& m) {
    int fd = handle_fd(m.handle);
    if (fd < 0) return error_reply(EBADF, "fstat");
    struct stat st{};
    if (::fstat(fd, &st) != 0) return errno_reply("fstat");
    return FileStatReply{to_stat_info(st)};
}

Message FileService::read(const FileRead& m) {
    int fd = handle_fd(m.handle);
    if (fd < 0) return error_reply(EBADF, "read");
    uint32_t want = std::min(m.length, kMaxChunk);
    FileData reply;
    reply.data.resize(want);
    size_t got = 0;
    while (got < want) {  // fill the chunk: one round trip should carry as much as asked
        ssize_t n = ::pread(fd, reply.data.data() + got, want - got, static_cast<off_t>(m.offset + got));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_reply("read");
        }
        if (n == 0) {
            reply.eof = true;
            break;
        }
        got += static_cast<size_t>(n);
    }
    reply.data.resize(got);
    return reply;
}

Message FileService::write(const FileWrite& m) {
    int fd = handle_fd(m.handle);
    if (fd < 0) return error_reply(EBADF, "write");
    size_t done = 0;
    while (done < m.data.size()) {
        ssize_t n = ::pwrite(fd, m.data.data() + done, m.data.size() - done, static_cast<off_t>(m.offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_reply("write");
        }
        done += static_cast<size_t>(n);
    }
    return FileWritten{done};
}

Message FileService::close(const FileClose& m) {
    auto it = fds_.find(m.handle);
    if (it == fds_.end()) return error_reply(EBADF, "close");
    int fd = it->second;
    fds_.erase(it);
    auto replacing = replacing_.find(m.handle);
    if (replacing == replacing_.end()) {
        if (::close(fd) != 0 && errno != EINTR) return errno_reply("close");
        return Ok{};
    }
    Replacement r = std::move(replacing->second);
    replacing_.erase(replacing);
    UniqueFd dir(r.dir);
    // On disk before it takes the old version's place: a crash leaves one or the other, whole.
    bool written = m.commit && ::fsync(fd) == 0;
    if (written && r.unnamed) {  // named only now, beside the old version, then renamed over it
        std::string self = "/proc/self/fd/" + std::to_string(fd);
        written = ::linkat(AT_FDCWD, self.c_str(), dir.get(), r.temp.c_str(), AT_SYMLINK_FOLLOW) == 0;
    }
    int saved = errno;
    ::close(fd);
    if (written && ::renameat(dir.get(), r.temp.c_str(), dir.get(), r.name.c_str()) == 0) return Ok{};
    if (written) saved = errno;
    ::unlinkat(dir.get(), r.temp.c_str(), 0);
    if (!m.commit) return Ok{};
    return error_reply(saved, "putting the new version of " + r.name + " in place");
}

Message FileService::read_dir(const DirRead& m) {
    int fd = handle_fd(m.handle);
    if (fd < 0) return error_reply(EBADF, "getdents");
    alignas(8) char buffer[32768];
    // As many entries as fit, and the end noticed in the same reply: a small directory is one round trip.
    long n = 0;
    bool eof = false;
    while (sizeof buffer - static_cast<size_t>(n) >= 1024) {
        long got = ::syscall(SYS_getdents64, fd, buffer + n, sizeof buffer - static_cast<size_t>(n));
        if (got < 0 && n == 0) return errno_reply("getdents");
        if (got <= 0) {
            eof = got == 0;
            break;
        }
        n += got;
    }
    DirEntries reply;
    reply.eof = eof;
    for (long off = 0; off < n;) {
        struct Dirent64 {
            uint64_t d_ino;
            int64_t d_off;
            unsigned short d_reclen;
            unsigned char d_type;
            char d_name[];
        };
        const auto* d = reinterpret_cast<const Dirent64*>(buffer + off);
        reply.entries.push_back(DirEntry{d->d_name, d->d_ino, d->d_type});
        off += d->d_reclen;
    }
    return reply;
}

Message FileService::read_link(const ReadLink& m) {
    UniqueFd fd(open_in_root(root_fd_, m.path, O_PATH | O_NOFOLLOW));
    if (!fd.ok()) return errno_reply("readlink " + m.path);
    char target[4096];
    ssize_t n = ::readlinkat(fd.get(), "", target, sizeof target);
    if (n < 0) return errno_reply("readlink " + m.path);
    return LinkTarget{std::string(target, static_cast<size_t>(n))};
}

Message FileService::mkdir(const MkDir& m) {
    Parent parent = open_parent(root_fd_, m.path);
    if (!parent.dir.ok()) return errno_reply("mkdir " + m.path);
    if (::mkdirat(parent.dir.get(), parent.name.c_str(), m.mode) != 0) return errno_reply("mkdir " + m.path);
    return Ok{};
}

Message FileService::unlink(const Unlink& m) {
    Parent parent = open_parent(root_fd_, m.path);
    if (!parent.dir.ok()) return errno_reply("unlink " + m.path);
    if (::unlinkat(parent.dir.get(), parent.name.c_str(), m.directory ? AT_REMOVEDIR : 0) != 0)
        return errno_reply(std::string(m.directory ? "rmdir " : "unlink ") + m.path);
    return Ok{};
}

Message FileService::rename(const Rename& m) {
    Parent from = open_parent(root_fd_, m.from);
    if (!from.dir.ok()) return errno_reply("rename " + m.from);
    Parent to = open_parent(root_fd_, m.to);
    if (!to.dir.ok()) return errno_reply("rename to " + m.to);
    if (::syscall(SYS_renameat2, from.dir.get(), from.name.c_str(), to.dir.get(), to.name.c_str(), m.flags) != 0)
        return errno_reply("rename " + m.from + " to " + m.to);
    return Ok{};
}

Message FileService::access(const Access& m) {
    UniqueFd fd(open_in_root(root_fd_, m.path, O_PATH));
    if (!fd.ok()) return errno_reply("access " + m.path);
    if (::syscall(SYS_faccessat2, fd.get(), "", m.mode, AT_EMPTY_PATH) != 0) return errno_reply("access " + m.path);
    return Ok{};
}

Message FileService::truncate(const Truncate& m) {
    UniqueFd fd(open_in_root(root_fd_, m.path, O_WRONLY));
    if (!fd.ok()) return errno_reply("truncate " + m.path);
    if (::ftruncate(fd.get(), m.length) != 0) return errno_reply("truncate " + m.path);
    return Ok{};
}

Message FileService::statfs(const StatFs& m) {
    UniqueFd fd(open_in_root(root_fd_, m.path, O_PATH));
    if (!fd.ok()) return errno_reply("statfs " + m.path);
    struct statfs s{};
    if (::fstatfs(fd.get(), &s) != 0) return errno_reply("statfs " + m.path);
    return StatFsReply{static_cast<int64_t>(s.f_type), static_cast<int64_t>(s.f_bsize), static_cast<int64_t>(s.f_blocks),
                       static_cast<int64_t>(s.f_bfree), static_cast<int64_t>(s.f_bavail), static_cast<int64_t>(s.f_files),
                       static_cast<int64_t>(s.f_ffree), static_cast<int64_t>(s.f_namelen), static_cast<int64_t>(s.f_frsize),
                       static_cast<int64_t>(s.f_flags)};
}

}  // namespace mrd::agent
