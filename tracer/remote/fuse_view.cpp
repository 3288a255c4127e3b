#include "tracer/remote/fuse_view.hpp"

#include "base/log.hpp"

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

extern char** environ;

namespace mrd::tracer {
namespace {

// The kernel asks for up to 1 MiB per read (FUSE_MAX_PAGES): one agent FileRead each.
constexpr uint16_t kMaxPages = 256;
constexpr uint32_t kMaxReadahead = 4 << 20;
constexpr uint32_t kMaxWrite = 128 << 10;  // nothing is written; the request buffer must allow it
// A node's content and attributes never change (a changed remote file is a new node): cache for a day.
constexpr uint64_t kValidSeconds = 24 * 3600;

fuse_attr attr_of(uint64_t node, const wire::FileStatInfo& st) {
    fuse_attr a{};
    a.ino = node;
    a.size = static_cast<uint64_t>(st.size);
    a.blocks = static_cast<uint64_t>(st.blocks);
    a.atime = static_cast<uint64_t>(st.atime_ns / 1000000000);
    a.atimensec = static_cast<uint32_t>(st.atime_ns % 1000000000);
    a.mtime = static_cast<uint64_t>(st.mtime_ns / 1000000000);
    a.mtimensec = static_cast<uint32_t>(st.mtime_ns % 1000000000);
    a.ctime = static_cast<uint64_t>(st.ctime_ns / 1000000000);
    a.ctimensec = static_cast<uint32_t>(st.ctime_ns % 1000000000);
    a.mode = S_IFREG | (st.mode & 07777);
    a.nlink = 1;
    a.uid = st.uid;
    a.gid = st.gid;
    a.blksize = 4096;
    return a;
}

fuse_attr root_attr() {
    fuse_attr a{};
    a.ino = FUSE_ROOT_ID;
    a.mode = S_IFDIR | 0555;
    a.nlink = 2;
    a.blksize = 4096;
    return a;
}

// fusermount3 mounts for us and hands the /dev/fuse descriptor back over a socket; with
// auto_unmount it stays, and unmounts when that socket closes (however we end).
struct Fusermount {
    UniqueFd device, socket;
    pid_t pid;
};

Result<Fusermount> mount_with_fusermount(const std::string& dir) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return Error::from_errno("socketpair");
    UniqueFd ours(pair[0]), theirs(pair[1]);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "_FUSE_COMMFD=", 13) != 0) env_strings.emplace_back(*e);
    env_strings.push_back("_FUSE_COMMFD=" + std::to_string(theirs.get()));
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string options = "ro,nosuid,nodev,auto_unmount,fsname=mirrord,subtype=mirrord";
    std::vector<std::string> args = {"fusermount3", "-o", options, "--", dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::fcntl(theirs.get(), F_SETFD, 0);  // inherited by fusermount3 only: no other thread forks
    pid_t pid = 0;
    int spawned = ::posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv.data(), envp.data());
    ::fcntl(theirs.get(), F_SETFD, FD_CLOEXEC);
    if (spawned != 0) return Error{spawned, "running fusermount3: " + std::string(std::strerror(spawned))};
    theirs.reset();
    char byte;
    char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = ::recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (n <= 0 || !c || c->cmsg_type != SCM_RIGHTS) {
        int status = 0;
        ::waitpid(pid, &status, 0);  // it failed and exits: say so (it printed why on stderr)
        return Error::msg("fusermount3 could not mount " + dir, EPERM);
    }
    int device;
    std::memcpy(&device, CMSG_DATA(c), sizeof device);
    return Fusermount{UniqueFd(device), std::move(ours), pid};
}

}  // namespace

Result<std::unique_ptr<FuseView>> FuseView::mount(const std::string& dir, ReadWanted read, NodeGone gone, std::optional<Mounter> how) {
    Mounter mounter = how.value_or(::geteuid() == 0 ? Mounter::kernel : Mounter::fusermount);
    UniqueFd device, unmounter;
    pid_t fusermount = 0;
    if (mounter == Mounter::kernel) {
        device.reset(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
        if (!device) return Error::from_errno("opening /dev/fuse");
        std::string options = "fd=" + std::to_string(device.get()) + ",rootmode=40000,user_id=" + std::to_string(::getuid()) +
                              ",group_id=" + std::to_string(::getgid()) + ",allow_other";
        if (::mount("mirrord", dir.c_str(), "fuse.mirrord", MS_NOSUID | MS_NODEV | MS_RDONLY, options.c_str()) != 0)
            return Error::from_errno("mounting a FUSE file system on " + dir);
    } else {
        auto mounted = mount_with_fusermount(dir);
        if (!mounted) return mounted.error();
        device = std::move(mounted->device);
        unmounter = std::move(mounted->socket);
        fusermount = mounted->pid;
    }
    std::unique_ptr<FuseView> view(new FuseView(dir, std::move(device), std::move(read), std::move(gone)));
    view->kernel_mount_ = mounter == Mounter::kernel;
    view->unmounter_ = std::move(unmounter);
    view->fusermount_ = fusermount;
    view->thread_ = std::thread([v = view.get()] { v->serve(); });
    view->widen_readahead();
    return view;
}

FuseView::FuseView(std::string dir, UniqueFd device, ReadWanted read, NodeGone gone)
    : dir_(std::move(dir)), device_(std::move(device)), stop_(::eventfd(0, EFD_CLOEXEC)), read_(std::move(read)), gone_(std::move(gone)) {}

FuseView::~FuseView() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = ::write(stop_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    // Detached: a program still holding one of its files must not keep the session from ending.
    if (kernel_mount_) ::umount2(dir_.c_str(), MNT_DETACH);
    unmounter_.reset();  // fusermount3 unmounts when this closes
    device_.reset();     // the last descriptor: the connection is aborted, waiting reads fail
    // fusermount3 exits once it has unmounted: wait for that (briefly), so the directory can go. (The
    // supervisor's reaping of stray children may have collected it already: ECHILD.)
    for (int i = 0; fusermount_ > 0 && i < 200; ++i) {
        pid_t done = ::waitpid(fusermount_, nullptr, WNOHANG);
        if (done != 0) break;
        ::usleep(5000);
    }
}

void FuseView::widen_readahead() {
    // The kernel caps a FUSE file system's readahead at its default (128 KiB) whatever INIT asks;
    // its bdi's setting is the way to raise it (root only: without it, reads are simply smaller).
    struct stat st{};
    if (::stat(dir_.c_str(), &st) != 0) return;
    std::string knob = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
    UniqueFd fd(::open(knob.c_str(), O_WRONLY | O_CLOEXEC));
    std::string kb = std::to_string(kMaxReadahead >> 10);
    if (!fd || ::write(fd.get(), kb.data(), kb.size()) < 0) log::debug("FUSE: readahead stays at the kernel's default (", knob, ")");
}

uint64_t FuseView::add(const std::string& remote_path, const wire::FileStatInfo& st) {
    std::lock_guard lock(mutex_);
    uint64_t node = next_node_++;
    nodes_[node] = Node{remote_path, st};
    return node;
}

void FuseView::retire(uint64_t node) {
    std::string name = std::to_string(node);
    bool gone_now = false;
    {
        std::lock_guard lock(mutex_);
        auto it = nodes_.find(node);
        if (it == nodes_.end() || it->second.retired) return;
        it->second.retired = true;
        if (it->second.lookups == 0) {
            nodes_.erase(it);
            gone_now = true;
        }
    }
    if (gone_now) {
        gone_(node);
        return;
    }
    // The kernel drops its cached name; it forgets the node once no descriptor refers to it.
    fuse_notify_inval_entry_out inval{};
    inval.parent = FUSE_ROOT_ID;
    inval.namelen = static_cast<uint32_t>(name.size());
    fuse_out_header header{};
    header.len = static_cast<uint32_t>(sizeof header + sizeof inval + name.size() + 1);
    header.error = FUSE_NOTIFY_INVAL_ENTRY;
    iovec iov[] = {{&header, sizeof header}, {&inval, sizeof inval}, {name.data(), name.size() + 1}};
    if (::writev(device_.get(), iov, 3) < 0) log::debug("FUSE: invalidating ", path_of(node), ": ", std::strerror(errno));
}

std::optional<std::string> FuseView::remote_path(const std::string& local) const {
    if (local.size() <= dir_.size() + 1 || local.compare(0, dir_.size(), dir_) != 0 || local[dir_.size()] != '/') return std::nullopt;
    uint64_t node = std::strtoull(local.c_str() + dir_.size() + 1, nullptr, 10);
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return std::nullopt;
    return it->second.remote_path;
}

void FuseView::answer_read(uint64_t request, std::span<const char> data) { reply(request, 0, data); }

void FuseView::fail_read(uint64_t request, int error) { reply(request, error); }

void FuseView::reply(uint64_t unique, int error, std::span<const char> payload) {
    fuse_out_header header{};
    header.len = static_cast<uint32_t>(sizeof header + (error ? 0 : payload.size()));
    header.error = -error;
    header.unique = unique;
    iovec iov[] = {{&header, sizeof header}, {const_cast<char*>(payload.data()), error ? 0 : payload.size()}};
    // ENOENT: the request was interrupted (the reader was killed); nobody waits for it any more.
    if (::writev(device_.get(), iov, 2) < 0 && errno != ENOENT)
        log::debug("FUSE: answering request ", unique, ": ", std::strerror(errno));
}

void FuseView::serve() {
    std::vector<char> buffer(sizeof(fuse_in_header) + sizeof(fuse_write_in) + kMaxWrite + 4096);
    for (;;) {
        pollfd fds[] = {{device_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents) return;
        if (fds[0].revents & (POLLERR | POLLHUP)) return;  // unmounted from outside: the connection is gone
        ssize_t n = ::read(device_.get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOENT) continue;  // ENOENT: interrupted before we read it
            if (errno != ENODEV) log::warn("FUSE: reading requests: ", std::strerror(errno));
            return;
        }
        if (static_cast<size_t>(n) >= sizeof(fuse_in_header)) handle(buffer.data(), static_cast<size_t>(n));
    }
}

void FuseView::handle(const char* request, size_t length) {
    fuse_in_header in;
    std::memcpy(&in, request, sizeof in);
    const char* body = request + sizeof in;
    size_t body_length = length - sizeof in;
    auto arg = [&]<class T>(T& value) {
        std::memset(&value, 0, sizeof value);
        std::memcpy(&value, body, std::min(sizeof value, body_length));
    };
    auto node_attr = [&](uint64_t node) -> std::optional<fuse_attr> {
        if (node == FUSE_ROOT_ID) return root_attr();
        std::lock_guard lock(mutex_);
        auto it = nodes_.find(node);
        if (it == nodes_.end()) return std::nullopt;
        return attr_of(node, it->second.stat);
    };
    switch (in.opcode) {
        case FUSE_INIT: {
            fuse_init_in init;
            arg(init);
            fuse_init_out out{};
            out.major = FUSE_KERNEL_VERSION;
            out.minor = std::min<uint32_t>(init.minor, FUSE_KERNEL_MINOR_VERSION);
            if (init.major != FUSE_KERNEL_VERSION) return reply(in.unique, EPROTO);
            out.max_readahead = std::min(init.max_readahead, kMaxReadahead);
            out.flags = init.flags & (FUSE_ASYNC_READ | FUSE_MAX_PAGES | FUSE_BIG_WRITES);
            out.max_background = 16;
            out.congestion_threshold = 12;
            out.max_write = kMaxWrite;
            out.time_gran = 1;
            out.max_pages = kMaxPages;
            size_t size = out.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof out;
            return reply(in.unique, 0, {reinterpret_cast<const char*>(&out), size});
        }
        case FUSE_LOOKUP: {
            std::string name(body, strnlen(body, body_length));
            uint64_t node = in.nodeid == FUSE_ROOT_ID ? std::strtoull(name.c_str(), nullptr, 10) : 0;
            fuse_entry_out entry{};
            {
                std::lock_guard lock(mutex_);
                auto it = nodes_.find(node);
                if (it == nodes_.end() || it->second.retired || std::to_string(node) != name) {
                    // Negative entries are not cached: a name may be added at any time.
                    return reply(in.unique, ENOENT);
                }
                ++it->second.lookups;
                entry.attr = attr_of(node, it->second.stat);
            }
            entry.nodeid = node;
            entry.entry_valid = entry.attr_valid = kValidSeconds;
            return reply_with(in.unique, entry);
        }
        case FUSE_FORGET: {
            fuse_forget_in f;
            arg(f);
            return forget(in.nodeid, f.nlookup);  // no answer
        }
        case FUSE_BATCH_FORGET: {
            fuse_batch_forget_in batch;
            arg(batch);
            auto* one = reinterpret_cast<const fuse_forget_one*>(body + sizeof batch);
            size_t count = std::min<size_t>(batch.count, (body_length - sizeof batch) / sizeof(fuse_forget_one));
            for (size_t i = 0; i < count; ++i) forget(one[i].nodeid, one[i].nlookup);
            return;
        }
        case FUSE_GETATTR: {
            auto a = node_attr(in.nodeid);
            if (!a) return reply(in.unique, ENOENT);
            fuse_attr_out out{};
            out.attr_valid = kValidSeconds;
            out.attr = *a;
            return reply_with(in.unique, out);
        }
        case FUSE_OPEN: {
            fuse_open_in open;
            arg(open);
            if ((open.flags & O_ACCMODE) != O_RDONLY) return reply(in.unique, EROFS);
            if (!node_attr(in.nodeid)) return reply(in.unique, ENOENT);
            fuse_open_out out{};
            out.open_flags = FOPEN_KEEP_CACHE;  // what the kernel has cached of the node stays right
            return reply_with(in.unique, out);
        }
        case FUSE_READ: {
            fuse_read_in r;
            arg(r);
            if (in.nodeid == FUSE_ROOT_ID) return reply(in.unique, EISDIR);
            if (in.pid == static_cast<uint32_t>(loop_thread_.load())) {
                // The event loop itself (a debugger's file read, say) would wait on itself.
                log::warn("FUSE: the supervisor cannot read ", path_of(in.nodeid), " itself; the read fails with EIO");
                return reply(in.unique, EIO);
            }
            return read_(in.unique, in.nodeid, r.offset, r.size);
        }
        case FUSE_OPENDIR: {
            fuse_open_out out{};
            return reply_with(in.unique, out);
        }
        case FUSE_READDIR:  // the names are not listed: only the supervisor hands them out
        case FUSE_RELEASE:
        case FUSE_RELEASEDIR:
        case FUSE_FLUSH:
        case FUSE_DESTROY:
            return reply(in.unique, 0);
        case FUSE_STATFS: {
            fuse_statfs_out out{};
            out.st.bsize = out.st.frsize = 4096;
            out.st.namelen = 255;
            return reply_with(in.unique, out);
        }
        case FUSE_INTERRUPT:  // the read is answered soon anyway
            return;
        default:  // xattrs, access, writes...: ENOSYS tells the kernel not to ask again
            return reply(in.unique, ENOSYS);
    }
}

void FuseView::forget(uint64_t node, uint64_t count) {
    bool gone = false;
    {
        std::lock_guard lock(mutex_);
        auto it = nodes_.find(node);
        if (it == nodes_.end()) return;
        it->second.lookups -= std::min(count, it->second.lookups);
        if (it->second.lookups == 0 && it->second.retired) {
            nodes_.erase(it);
            gone = true;
        }
    }
    if (gone) gone_(node);
}

}  // namespace mrd::tracer
