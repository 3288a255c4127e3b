#include "tracer/remote/remote_fs.hpp"

#include "tracer/remote/progress_line.hpp"
#include "tracer/remote/session_report.hpp"

#include "base/log.hpp"
#include "base/temp_dir.hpp"
#include "base/text_file.hpp"
#include "base/unique_fd.hpp"

#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

namespace mrd::tracer {

using namespace mrd::wire;
namespace fs = std::filesystem;

std::string normalize_path(const std::string& path) {
    // On every trapped path: plain scanning, no streams.
    std::vector<std::string_view> parts;
    std::string_view rest(path);
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string_view part = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(part);
    }
    if (parts.empty()) return "/";
    std::string out;
    out.reserve(path.size());
    for (auto part : parts) {
        out += '/';
        out += part;
    }
    return out;
}

namespace {

const std::string kSynthesized = "/.synthesized";
const std::string kPassedPrefix = "/proc/self/fd/";

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Gives a local copy the remote's permission bits and times, so fstat() on it looks right.
void copy_metadata(int fd, const FileStatInfo& st) {
    ::fchmod(fd, (st.mode & 07777) | 0400);
    timespec times[2] = {to_timespec(st.atime_ns), to_timespec(st.mtime_ns)};
    ::futimens(fd, times);
}

}  // namespace

RemoteFs::~RemoteFs() {
    view_for_lookups_ = nullptr;
    view_.reset();  // unmounted before its directory goes
    std::error_code ignored;
    if (!view_dir_.empty()) ::rmdir(view_dir_.c_str());
    if (!root_.empty()) fs::remove_all(root_, ignored);
}

Status RemoteFs::create() {
    auto dir = make_temp_dir(scratch::kFileCopies);
    if (!dir) return dir.error();
    ::chmod(dir->c_str(), 0755);  // the program may switch users; the copies keep their own modes
    root_ = *dir;
    if (on_demand_size_ > 0) {
        auto view_dir = make_temp_dir(scratch::kFuseView);
        if (!view_dir) return view_dir.error();
        ::chmod(view_dir->c_str(), 0755);
        view_dir_ = *view_dir;
    }
    return {};
}

bool RemoteFs::view_ready() {
    if (view_ || view_failed_ || view_dir_.empty()) return view_ != nullptr;
    // Called on the view's thread: hand the read to the event loop, unless the session is over.
    std::weak_ptr<bool> alive = alive_;
    auto& io = agent_.io();
    auto read = [this, alive, &io](uint64_t request, uint64_t node, uint64_t offset, uint32_t size) {
        asio::post(io, [=, this] {
            if (alive.lock()) co::spawn(read_range(request, node, offset, size));
        });
    };
    auto gone = [this, alive, &io](uint64_t node) {
        asio::post(io, [=, this] {
            if (!alive.lock()) return;
            auto it = by_range_.find(node);
            if (it == by_range_.end()) return;
            co::spawn([](AgentClient& agent, uint64_t handle) -> co::Task<void> { co_await agent.call<FileClose>(handle); }(
                agent_, it->second.handle));
            by_range_.erase(it);
        });
    };
    auto view = FuseView::mount(view_dir_, read, gone);
    if (!view) {
        view_failed_ = true;
        log::warn(view.error().message, "; large remote files are copied whole instead of read by range");
        return false;
    }
    view_ = std::move(*view);
    view_->set_loop_thread(::gettid());
    view_for_lookups_ = view_.get();
    return true;
}

Result<std::string> RemoteFs::serve_by_range(const std::string& path, uint64_t handle, const FileStatInfo& st) {
    uint64_t node = view_->add(path, st);
    by_range_[node] = ByRange{path, handle};
    set_copy(path, Copy{st.size, st.mtime_ns, st.ino, false, std::nullopt, node});
    log::debug(path, " (", st.size, " bytes) is read by range as ", view_->path_of(node));
    session_report().record(SessionReport::Kind::fetched, "remote (by range)", path, 0);
    return view_->path_of(node);
}

co::Task<void> RemoteFs::read_range(uint64_t request, uint64_t node, uint64_t offset, uint32_t size) {
    auto it = by_range_.find(node);
    if (it == by_range_.end() || !view_) {
        if (view_) view_->fail_read(request, EIO);
        co_return;
    }
    std::string path = it->second.path;
    log::trace("FUSE read of ", path, ": ", size, " bytes at ", offset);
    auto data = reply_as<FileData>(co_await agent_.call<FileRead>(it->second.handle, offset, std::min(size, kMaxChunk)));
    if (!view_) co_return;
    if (!data) {
        log::warn("reading ", path, " from the target: ", data.error().message);  // the program sees EIO
        view_->fail_read(request, EIO);
        co_return;
    }
    view_->answer_read(request, std::span<const char>(reinterpret_cast<const char*>(data->data.data()), data->data.size()));
}

Result<std::string> RemoteFs::use_passed(const std::string& path, const FileOpened& opened) {
    if (!opened.fd || !opened.fd->ok()) {
        Error e = Error::msg("the agent's open " + path + " did not arrive with its reply", EIO);
        log::error(e.message);
        return e;
    }
    set_copy(path, Copy{opened.stat.size, opened.stat.mtime_ns, opened.stat.ino, false, std::nullopt, std::nullopt, opened.fd});
    log::debug(path, " (", opened.stat.size, " bytes) is read from the target's file, passed by the agent");
    session_report().record(SessionReport::Kind::fetched, "remote (passed)", path, 0);
    return where(path, copies_.at(path));
}

bool RemoteFs::is_passed(const std::string& local) { return local.rfind(kPassedPrefix, 0) == 0; }

std::string RemoteFs::where(const std::string& path, const Copy& copy) const {
    // A passed file is opened again through our descriptor: a new open file for each open, as the kernel gives.
    if (copy.passed) return kPassedPrefix + std::to_string(copy.passed->get());
    return copy.node ? view_->path_of(*copy.node) : local_path(path);
}

void RemoteFs::retire(const Copy& copy) {
    if (copy.node && view_) view_->retire(*copy.node);
}

void RemoteFs::drop_copy(const std::string& path) {
    auto it = copies_.find(path);
    if (it == copies_.end()) return;
    retire(it->second);
    copies_.erase(it);
}

void RemoteFs::set_copy(const std::string& path, Copy copy) {
    auto [it, added] = copies_.try_emplace(path, copy);
    if (added) return;
    if (it->second.node != copy.node) retire(it->second);
    it->second = copy;
}

std::optional<std::string> RemoteFs::remote_path(const std::string& local) const {
    if (!view_dir_.empty() && local.compare(0, view_dir_.size(), view_dir_) == 0) {
        FuseView* view = view_for_lookups_.load();
        return view ? view->remote_path(local) : std::nullopt;
    }
    if (root_.empty() || local.compare(0, root_.size(), root_) != 0) return std::nullopt;
    if (local.size() == root_.size()) return "/";
    if (local[root_.size()] != '/') return std::nullopt;
    std::string remote = local.substr(root_.size());
    if (remote.rfind(kSynthesized, 0) == 0) return std::nullopt;  // made up here: stands for no remote file
    return remote;
}

Status RemoteFs::make_parents(const std::string& local) {
    std::error_code ec;
    fs::create_directories(fs::path(local).parent_path(), ec);
    if (ec) return Error{ec.value(), "creating the directory for " + local + ": " + ec.message()};
    return {};
}

bool RemoteFs::unchanged(const Copy& copy, const FileStatInfo& st) const {
    return copy.size == st.size && copy.mtime_ns == st.mtime_ns && copy.ino == st.ino && copy.directory == S_ISDIR(st.mode);
}

Result<std::string> RemoteFs::synthesize(const std::string& path, const std::string& content) {
    std::string local = root_ + kSynthesized + path;
    if (auto st = make_parents(local); !st) return st.error();
    std::string aside = local + ".new";
    UniqueFd fd(::open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()) ||
        ::rename(aside.c_str(), local.c_str()) != 0)
        return Error::from_errno("writing " + local);
    return local;
}

co::Task<Result<StatFsReply>> RemoteFs::statfs(const std::string& path) {
    co_return reply_as<StatFsReply>(co_await agent_.call<StatFs>(path));
}

co::Task<Result<FileStatInfo>> RemoteFs::stat(const std::string& path, bool follow) {
    auto key = std::make_pair(path, follow);
    if (auto it = stats_.find(key); it != stats_.end() && it->second.link == agent_.link_generation()) co_return it->second.answer;
    Asked asked = asking();
    Message message = co_await agent_.call<FileStat>(path, follow, true);
    bool watched = false;
    if (auto* error = std::get_if<ErrorReply>(&message)) watched = error->watched;
    else if (auto* reply = std::get_if<FileStatReply>(&message)) watched = reply->watched;
    auto reply = reply_as<FileStatReply>(std::move(message));
    Result<FileStatInfo> answer = reply ? Result<FileStatInfo>(reply->stat) : Result<FileStatInfo>(reply.error());
    if (watched && still_current(asked)) stats_.insert_or_assign(key, KnownStat{answer, asked.link});
    co_return answer;
}

void RemoteFs::changed(const std::string& path, bool subtree) {
    ++changes_;
    forget(path, subtree);
}

void RemoteFs::forget(const std::string& path, bool subtree) {
    // By lookups in the ordered maps, not a scan: this runs on every FileChanged and every change of ours.
    if (auto it = copies_.find(path); it != copies_.end()) it->second.watched_on.reset();
    stats_.erase({path, false});
    stats_.erase({path, true});
    if (!subtree) return;
    std::string below = path == "/" ? "/" : path + "/";
    auto inside = [&](const std::string& p) { return p.compare(0, below.size(), below) == 0; };
    for (auto it = copies_.lower_bound(below); it != copies_.end() && inside(it->first); ++it) it->second.watched_on.reset();
    for (auto it = stats_.lower_bound({below, false}); it != stats_.end() && inside(it->first.first);) it = stats_.erase(it);
}

co::Task<Result<std::string>> RemoteFs::fetch(const std::string& path, bool only_read) {
    // One fetch per path (and use) at a time; concurrent callers share its result.
    auto key = std::make_pair(path, only_read);
    if (auto it = inflight_.find(key); it != inflight_.end()) co_return co_await it->second.wait();
    co::Shared<Result<std::string>> done;
    inflight_.emplace(key, done);
    // Whatever happens, the entry goes and the callers sharing it resume: a throw (a file system
    // error while placing the copy) is this fetch's failure, not a hang for everyone waiting.
    Result<std::string> result = Error::msg("fetching " + path + " failed", EIO);
    try {
        result = co_await fetch_now(path, only_read);
    } catch (const std::exception& e) {
        result = Error::msg("fetching " + path + ": " + e.what(), EIO);
    }
    inflight_.erase(key);
    done.set(result);
    co_return result;
}

co::Task<Result<std::string>> RemoteFs::fetch_now(const std::string& path, bool only_read) {
    // A file served by range has no local copy to write: a writer gets a whole copy.
    auto usable = [&](const Copy& copy) { return only_read || (!copy.node && !copy.passed); };
    if (auto it = copies_.find(path); it != copies_.end() && usable(it->second)) {
        if (fresh(it->second)) co_return where(path, it->second);  // watched, and unchanged since: no round trip
        Asked asked = asking();
        auto st = co_await stat(path, true);
        if (!st) co_return st.error();
        if (auto again = copies_.find(path); again != copies_.end() && usable(again->second) && unchanged(again->second, *st)) {
            if (stats_.count({path, true}) && still_current(asked)) again->second.watched_on = asked.link;  // the stat armed it
            co_return where(path, again->second);
        }
    }
    Asked asked = asking();
    uint64_t pass_from_size = only_read && agent_.passes_fds() ? on_demand_size_ : 0;
    auto opened = reply_as<FileOpened>(
        co_await agent_.call<FileOpen>(path, int32_t{O_RDONLY | O_NONBLOCK}, uint32_t{0}, false, true, pass_from_size));
    if (!opened) co_return opened.error();
    Result<std::string> result = Error::msg(path + " is neither a file nor a directory", ENXIO);
    bool by_range = !opened->passed && only_read && S_ISREG(opened->stat.mode) && on_demand_size_ > 0 &&
                    static_cast<uint64_t>(opened->stat.size) >= on_demand_size_ && view_ready();
    if (opened->passed) result = use_passed(path, *opened);
    else if (by_range) result = serve_by_range(path, opened->handle, opened->stat);  // the handle stays open for its reads
    else if (S_ISDIR(opened->stat.mode)) result = co_await fetch_directory(path, opened->handle, opened->stat);
    else if (S_ISREG(opened->stat.mode)) result = co_await fetch_file(path, opened->handle, opened->stat);
    if (!by_range && !opened->passed) co_await agent_.call<FileClose>(opened->handle);
    if (auto copy = copies_.find(path); result && opened->watched && still_current(asked) && copy != copies_.end())
        copy->second.watched_on = asked.link;
    co_return result;
}

co::Task<Result<std::string>> RemoteFs::fetch_file(const std::string& path, uint64_t handle, const FileStatInfo& st) {
    std::string local = local_path(path);
    if (auto made = make_parents(local); !made) co_return made.error();
    // Written beside and renamed into place: a program reading the old copy never sees half a file.
    std::string partial = local + ".mirrord-partial";
    UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) {
        Error e = Error::from_errno("creating the local copy of " + path + " (" + partial + ")");
        log::error(e.message);
        co_return e;
    }
    // Several reads in flight, so the transfer is not one round trip per chunk.
    constexpr size_t kInFlight = 8;
    ProgressLine progress;
    uint64_t fetched = 0;
    std::deque<std::pair<uint64_t, co::Promise<Message>::Awaiter>> reads;
    uint64_t next = 0;
    bool more = true;
    auto fail = [&](Error e) -> Error {
        ::unlink(partial.c_str());
        return e;
    };
    while (more || !reads.empty()) {
        while (more && reads.size() < kInFlight && (next <= static_cast<uint64_t>(st.size) || reads.empty())) {
            reads.emplace_back(next, agent_.call<FileRead>(handle, next, kMaxChunk));
            next += kMaxChunk;
        }
        auto [offset, pending] = reads.front();
        reads.pop_front();
        auto data = reply_as<FileData>(co_await pending);
        if (!data) co_return fail(data.error());
        if (!data->data.empty()) {
            ssize_t written = ::pwrite(fd.get(), data->data.data(), data->data.size(), static_cast<off_t>(offset));
            if (written != static_cast<ssize_t>(data->data.size())) {  // short: the disk is full
                Error e = Error::from_errno("writing the local copy of " + path + " (" + partial + ")", written < 0 ? errno : ENOSPC);
                log::error(e.message);  // the program sees only the errno
                co_return fail(e);
            }
        }
        fetched += data->data.size();
        progress.update([&] {
            char text[64];
            std::snprintf(text, sizeof text, ": %.1f of %.1f MB", static_cast<double>(fetched) / (1 << 20), static_cast<double>(st.size) / (1 << 20));
            return "fetching " + path + " from the target" + text;
        });
        if (data->eof || data->data.size() < kMaxChunk) more = false;  // later replies are empty
    }
    copy_metadata(fd.get(), st);
    std::error_code ec;
    if (fs::is_directory(local, ec)) fs::remove_all(local, ec);  // it was a directory before
    if (::rename(partial.c_str(), local.c_str()) != 0) co_return Error::from_errno("renaming " + partial);
    set_copy(path, Copy{st.size, st.mtime_ns, st.ino, false});
    session_report().record(SessionReport::Kind::fetched, "remote", path, static_cast<uint64_t>(st.size));
    co_return local;
}

co::Task<Result<std::string>> RemoteFs::fetch_directory(const std::string& path, uint64_t handle, const FileStatInfo& st) {
    std::string local = local_path(path);
    std::error_code ec;
    if (!fs::is_directory(local, ec)) {
        fs::remove(local, ec);
        fs::create_directories(local, ec);
        if (ec) co_return Error{ec.value(), "creating " + local + ": " + ec.message()};
    }
    std::set<std::string> names;
    for (;;) {
        auto batch = reply_as<DirEntries>(co_await agent_.call<DirRead>(handle, uint32_t{4096}));
        if (!batch) co_return batch.error();
        for (auto& e : batch->entries) {
            if (e.name == "." || e.name == ".." || e.name.find('/') != std::string::npos) continue;
            names.insert(e.name);
            std::string entry = local + "/" + e.name;
            struct stat existing{};
            if (::lstat(entry.c_str(), &existing) == 0) continue;  // already a copy or placeholder
            // A placeholder of the right type: getdents() shows the same names and kinds as the
            // target; opening or stat-ing one goes to the target.
            if (e.type == DT_DIR) ::mkdir(entry.c_str(), 0755);
            else if (e.type == DT_LNK) ::symlink("mirrord-placeholder", entry.c_str());
            else if (e.type == DT_FIFO) ::mkfifo(entry.c_str(), 0644);
            else ::close(::open(entry.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        }
        if (batch->eof || batch->entries.empty()) break;
    }
    for (auto& existing : fs::directory_iterator(local, ec)) {  // gone remotely: gone here
        std::string name = existing.path().filename();
        if (!names.count(name) && name.find(".mirrord-partial") == std::string::npos) {
            fs::remove_all(existing.path(), ec);
            drop_copy(path == "/" ? "/" + name : path + "/" + name);
        }
    }
    ::chmod(local.c_str(), (st.mode & 07777) | 0700);
    set_copy(path, Copy{st.size, st.mtime_ns, st.ino, true});
    co_return local;
}

co::Task<Result<std::string>> RemoteFs::fetch_parent(const std::string& path) {
    std::string parent = parent_of(path);
    auto dir = co_await fetch(parent);
    if (!dir) co_return dir.error();
    if (!fs::is_directory(*dir)) co_return Error::msg(parent + " is not a directory", ENOTDIR);
    co_return local_path(path);
}

void RemoteFs::track_writable(dev_t dev, ino_t ino, const std::string& path) { writable_[{dev, ino}] = path; }

std::optional<std::string> RemoteFs::writable_path(dev_t dev, ino_t ino) const {
    auto it = writable_.find({dev, ino});
    if (it == writable_.end()) return std::nullopt;
    return it->second;
}

co::Task<Status> RemoteFs::push(const std::string& path, bool force) {
    std::string local = local_path(path);
    UniqueFd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) co_return Error::from_errno("reading " + local);
    struct stat st{};
    ::fstat(fd.get(), &st);
    std::pair<int64_t, int64_t> state{st.st_size, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
    if (!force && pushed_.count(path) && pushed_[path] == state) co_return Status{};
    // A new version beside it, renamed into place at the end: a failure midway leaves the old one.
    auto opened = reply_as<FileOpened>(
        co_await agent_.call<FileOpen>(path, int32_t{O_WRONLY | O_CREAT | O_TRUNC}, static_cast<uint32_t>(st.st_mode & 07777), true));
    if (!opened) co_return opened.error().context("writing " + path + " in the target");
    Status status;
    std::vector<char> buffer(kMaxChunk);
    for (uint64_t offset = 0;;) {
        ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
        if (n < 0) {
            status = Error::from_errno("reading " + local);
            break;
        }
        if (n == 0) break;
        auto written = reply_as<FileWritten>(
            co_await agent_.call<FileWrite>(opened->handle, offset, bytes_of(buffer.data(), n)));
        if (!written) {
            status = written.error().context("writing " + path + " in the target");
            break;
        }
        offset += static_cast<uint64_t>(n);
    }
    auto closed = reply_as<Ok>(co_await agent_.call<FileClose>(opened->handle, status.ok()));
    if (!status) co_return status;
    if (!closed) co_return closed.error().context("writing " + path + " in the target");
    pushed_[path] = state;
    session_report().record(SessionReport::Kind::written_back, "remote", path, static_cast<uint64_t>(state.first));
    // What we wrote is now the remote state: the copy is current.
    forget(path, false);
    forget(parent_of(path), false);  // it may be new there
    if (auto after = co_await stat(path, true)) set_copy(path, Copy{after->size, after->mtime_ns, after->ino, false});
    co_return Status{};
}

namespace {

Status status_of(Message&& reply) {
    auto ok = reply_as<Ok>(std::move(reply));
    if (!ok) return ok.error();
    return {};
}

}  // namespace

co::Task<Status> RemoteFs::access(const std::string& path, int mode) {
    co_return status_of(co_await agent_.call<Access>(path, int32_t{mode}));
}

co::Task<Result<std::string>> RemoteFs::readlink(const std::string& path) {
    auto target = reply_as<LinkTarget>(co_await agent_.call<ReadLink>(path));
    if (!target) co_return target.error();
    co_return target->target;
}

co::Task<Status> RemoteFs::mkdir(const std::string& path, uint32_t mode) {
    Status st = status_of(co_await agent_.call<MkDir>(path, mode));
    forget(path, false);  // what we knew of it and of its directory's entries, success or not
    forget(parent_of(path), false);
    if (st) {
        std::error_code ec;
        fs::create_directories(local_path(path), ec);
    }
    co_return st;
}

co::Task<Status> RemoteFs::unlink(const std::string& path, bool directory) {
    Status st = status_of(co_await agent_.call<Unlink>(path, directory));
    forget(path, true);
    forget(parent_of(path), false);
    if (st) removed(path);
    co_return st;
}

co::Task<Status> RemoteFs::rename(const std::string& from, const std::string& to, uint32_t flags) {
    Status st = status_of(co_await agent_.call<Rename>(from, to, flags));
    for (auto& p : {from, to}) {
        forget(p, true);
        forget(parent_of(p), false);
    }
    if (st) renamed(from, to);
    co_return st;
}

co::Task<Status> RemoteFs::truncate(const std::string& path, int64_t length) {
    Status st = status_of(co_await agent_.call<Truncate>(path, length));
    forget(path, false);
    if (st) {
        ::truncate(local_path(path).c_str(), length);
        drop_copy(path);  // revalidate on the next open
    }
    co_return st;
}

co::Task<void> RemoteFs::flush_all() {
    std::set<std::string> paths;
    for (auto& [key, path] : writable_) paths.insert(path);
    for (auto& path : paths)
        if (auto st = co_await push(path, false); !st) log::error(st.error().message);
}

void RemoteFs::renamed(const std::string& from, const std::string& to) {
    std::error_code ec;
    std::string from_local = local_path(from), to_local = local_path(to);
    if (fs::exists(fs::symlink_status(from_local, ec))) {
        fs::create_directories(fs::path(to_local).parent_path(), ec);
        fs::rename(from_local, to_local, ec);
    }
    std::map<std::string, Copy> moved;
    for (auto it = copies_.begin(); it != copies_.end();) {
        if (it->first == from || it->first.rfind(from + "/", 0) == 0) {
            if (it->second.node) retire(it->second);  // its view name says the old path: asked again
            else moved[to + it->first.substr(from.size())] = it->second;
            it = copies_.erase(it);
        } else {
            ++it;
        }
    }
    copies_.merge(moved);
    for (auto& [key, path] : writable_)
        if (path == from || path.rfind(from + "/", 0) == 0) path = to + path.substr(from.size());
}

void RemoteFs::removed(const std::string& path) {
    std::error_code ec;
    fs::remove_all(local_path(path), ec);
    std::erase_if(copies_, [&](const auto& c) {
        bool below = c.first == path || c.first.rfind(path + "/", 0) == 0;
        if (below) retire(c.second);
        return below;
    });
}

}  // namespace mrd::tracer
