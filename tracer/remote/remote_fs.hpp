// The target's files, as local copies: a remote file is fetched once into a private directory tree
// that mirrors the target's paths (the "shadow tree"), and the program's path argument is pointed at
// the copy, so read() and mmap() run at local speed. The agent watches what was fetched or stat-ed
// (inotify) and says when it changes (FileChanged): until then a copy, a stat and a path found
// missing are answered here, without a round trip. Otherwise (no watch possible, or a new link to
// the agent, which may have missed changes) a copy is revalidated against the remote size, mtime
// and inode: one round trip. A remote directory is materialised as placeholder entries of the right
// types, so getdents() works locally too. Copies opened for writing are pushed back when closed or
// synced. A file of at least the on-demand size that is only read is not copied: an agent on this
// machine passes the open file itself (the program reads the target's file at its own speed);
// through a remote agent it is served by range through a FUSE view (fuse_view.hpp), each range
// fetched when the program first reads it.
#pragma once

#include "tracer/remote/agent_client.hpp"
#include "tracer/remote/fuse_view.hpp"

#include <sys/types.h>

#include <atomic>
#include <map>
#include <string>

namespace mrd::tracer {

class RemoteFs {
public:
    explicit RemoteFs(AgentClient& agent) : agent_(agent), alive_(std::make_shared<bool>(true)) {}
    ~RemoteFs();
    RemoteFs(const RemoteFs&) = delete;

    Status create();  // the private directories, removed again on destruction
    // Regular files this large or larger, opened only for reading, are served by range (0: never).
    void set_on_demand_size(uint64_t bytes) { on_demand_size_ = bytes; }
    const std::string& root() const { return root_; }
    std::string local_path(const std::string& remote_path) const { return root_ + remote_path; }
    // The remote path a local path inside the shadow tree (or the FUSE view) stands for.
    std::optional<std::string> remote_path(const std::string& local) const;
    // A path fetch() gave for a file the agent passed: a magic link (opening it with O_NOFOLLOW would fail).
    static bool is_passed(const std::string& local);

    // The local copy of the remote path: a file with its content, or a directory with its entries
    // (as placeholders). The remote errno (ENOENT...) when there is none. When the copy is only
    // read, a large file's path may be in the FUSE view instead (its content fetched as it is read).
    co::Task<Result<std::string>> fetch(const std::string& path, bool only_read = false);
    // The local copy of the remote directory that would contain path, so a file can be created in
    // it; ENOENT when that directory does not exist remotely.
    co::Task<Result<std::string>> fetch_parent(const std::string& path);
    // A file made up for the session (e.g. /proc/sys/kernel/hostname), kept apart from the copies
    // and replaced atomically (written aside, then renamed), so a reader never sees it half-written.
    // Returns its local path.
    Result<std::string> synthesize(const std::string& path, const std::string& content);

    co::Task<Result<wire::FileStatInfo>> stat(const std::string& path, bool follow);
    // The agent's FileChanged: what it said of path (and below it, with subtree) may no longer hold.
    void changed(const std::string& path, bool subtree);
    co::Task<Status> access(const std::string& path, int mode);
    co::Task<Result<std::string>> readlink(const std::string& path);
    co::Task<Result<wire::StatFsReply>> statfs(const std::string& path);
    // Changes made in the target, with the local copies kept in step.
    co::Task<Status> mkdir(const std::string& path, uint32_t mode);
    co::Task<Status> unlink(const std::string& path, bool directory);
    co::Task<Status> rename(const std::string& from, const std::string& to, uint32_t flags);
    co::Task<Status> truncate(const std::string& path, int64_t length);

    // A local copy handed out for writing: pushed back when a descriptor of it is closed or synced.
    void track_writable(dev_t dev, ino_t ino, const std::string& path);
    std::optional<std::string> writable_path(dev_t dev, ino_t ino) const;
    // Writes the local copy's content to the remote file (creating or truncating it), unless it is
    // unchanged since the last push and force is false.
    co::Task<Status> push(const std::string& path, bool force = true);
    // Pushes every copy handed out for writing that changed (before mirrord exits).
    co::Task<void> flush_all();
private:
    void renamed(const std::string& from, const std::string& to);
    void removed(const std::string& path);

    struct Copy {
        int64_t size = 0, mtime_ns = 0;
        uint64_t ino = 0;
        bool directory = false;
        std::optional<uint64_t> watched_on;  // the agent link that watches it; unset: revalidate
        std::optional<uint64_t> node;        // served by range: its node in the FUSE view, no local copy
        std::shared_ptr<UniqueFd> passed;    // the target's file itself, passed by a local agent
    };
    // A file the FUSE view serves: the remote file stays open for its reads.
    struct ByRange {
        std::string path;
        uint64_t handle;
    };
    // A watched answer, kept while the link it came on is current and nothing changed.
    struct KnownStat {
        Result<wire::FileStatInfo> answer;
        uint64_t link = 0;
    };
    // Whether an answer that was watched can be kept: no FileChanged crossed it on its way.
    struct Asked {
        uint64_t changes, link;
    };
    Asked asking() const { return {changes_, agent_.link_generation()}; }
    bool still_current(const Asked& asked) const { return asked.changes == changes_ && asked.link == agent_.link_generation(); }
    bool fresh(const Copy& copy) const { return copy.watched_on == agent_.link_generation(); }
    // Drops what is known of path (and below it): after our own changes, and on FileChanged.
    void forget(const std::string& path, bool subtree);
    co::Task<Result<std::string>> fetch_now(const std::string& path, bool only_read);
    std::string where(const std::string& path, const Copy& copy) const;
    // A copy entry replaced or dropped: a file served by range stops being handed out.
    void retire(const Copy& copy);
    void set_copy(const std::string& path, Copy copy);
    void drop_copy(const std::string& path);
    Result<std::string> use_passed(const std::string& path, const wire::FileOpened& opened);
    Result<std::string> serve_by_range(const std::string& path, uint64_t handle, const wire::FileStatInfo& st);
    bool view_ready();
    co::Task<void> read_range(uint64_t request, uint64_t node, uint64_t offset, uint32_t size);
    co::Task<Result<std::string>> fetch_file(const std::string& path, uint64_t handle, const wire::FileStatInfo& st);
    co::Task<Result<std::string>> fetch_directory(const std::string& path, uint64_t handle, const wire::FileStatInfo& st);
    Status make_parents(const std::string& local);
    bool unchanged(const Copy& copy, const wire::FileStatInfo& st) const;

    AgentClient& agent_;
    std::string root_;
    std::map<std::string, Copy> copies_;
    std::map<std::pair<std::string, bool>, KnownStat> stats_;  // (path, follow)
    uint64_t changes_ = 0;  // FileChanged messages so far
    std::map<std::pair<std::string, bool>, co::Shared<Result<std::string>>> inflight_;  // (path, only_read)
    uint64_t on_demand_size_ = 0;
    std::string view_dir_;  // made with the shadow tree; the view is mounted on the first large file
    std::unique_ptr<FuseView> view_;
    std::atomic<FuseView*> view_for_lookups_{nullptr};  // remote_path() runs on the listener's thread too
    bool view_failed_ = false;
    std::map<uint64_t, ByRange> by_range_;  // node -> its remote file
    std::shared_ptr<bool> alive_;  // what the view's thread posts to the event loop checks it
    std::map<std::pair<dev_t, ino_t>, std::string> writable_;
    std::map<std::string, std::pair<int64_t, int64_t>> pushed_;  // path -> local (size, mtime) last pushed
};

// "/a/./b//c/../d" -> "/a/b/d" (lexically; symlinks are the kernel's business).
std::string normalize_path(const std::string& path);

}  // namespace mrd::tracer
