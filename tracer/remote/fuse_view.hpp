// Remote files too large to copy whole, shown as the files of a small FUSE file system that the
// supervisor serves: the kernel asks for the ranges a program reads (read(), mmap() page faults,
// readahead) and keeps them in its page cache, so reads of what was read before, and of every
// other file, stay untrapped. One flat directory: a file per node, named by its number.
//
// A thread reads the kernel's requests and answers lookups, attributes and opens from the node
// table, so an open() of such a file (the supervisor opens files for the program) never waits on
// the event loop. Reads are handed to a callback (which asks the agent) and answered with
// answer_read/fail_read from any thread.
#pragma once

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "wire/messages.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include <sys/types.h>

namespace mrd::tracer {

class FuseView {
public:
    // On the view's thread: the kernel wants size bytes of node at offset (request is the answer's key).
    using ReadWanted = std::function<void(uint64_t request, uint64_t node, uint64_t offset, uint32_t size)>;
    // On any thread: a retired node the kernel no longer refers to; what serves it can go.
    using NodeGone = std::function<void(uint64_t node)>;

    enum class Mounter { kernel, fusermount };  // mount(2) needs CAP_SYS_ADMIN; fusermount3 is setuid
    // Mounts on dir (an empty directory), with mount(2) when privileged, fusermount3 otherwise.
    static Result<std::unique_ptr<FuseView>> mount(const std::string& dir, ReadWanted read, NodeGone gone,
                                                   std::optional<Mounter> how = std::nullopt);
    ~FuseView();  // unmounts; reads not answered yet fail
    FuseView(const FuseView&) = delete;

    // A new file with these attributes (read-only whatever its mode says); returns its node.
    uint64_t add(const std::string& remote_path, const wire::FileStatInfo& st);
    std::string path_of(uint64_t node) const { return dir_ + "/" + std::to_string(node); }
    // The remote file changed: the node's name goes (descriptors already open keep reading it).
    void retire(uint64_t node);
    // The remote path a file of the view stands for.
    std::optional<std::string> remote_path(const std::string& local) const;

    // The thread that answers reads: its own reads fail at once (EIO) instead of waiting on itself.
    void set_loop_thread(pid_t tid) { loop_thread_ = tid; }
    void answer_read(uint64_t request, std::span<const char> data);
    void fail_read(uint64_t request, int error);

private:
    struct Node {
        std::string remote_path;
        wire::FileStatInfo stat;
        uint64_t lookups = 0;  // the kernel's references, as it counts them (FORGET)
        bool retired = false;
    };
    FuseView(std::string dir, UniqueFd device, ReadWanted read, NodeGone gone);
    void serve();
    void widen_readahead();
    void handle(const char* request, size_t length);
    void reply(uint64_t unique, int error, std::span<const char> payload = {});
    template <class T>
    void reply_with(uint64_t unique, const T& value) {
        reply(unique, 0, {reinterpret_cast<const char*>(&value), sizeof value});
    }
    void forget(uint64_t node, uint64_t count);

    std::string dir_;
    UniqueFd device_;   // /dev/fuse
    UniqueFd stop_;     // an eventfd: the thread ends when it is signalled
    UniqueFd unmounter_;  // fusermount3's socket: closing it unmounts (auto_unmount)
    pid_t fusermount_ = 0;  // stays until then
    bool kernel_mount_ = false;
    ReadWanted read_;
    NodeGone gone_;
    mutable std::mutex mutex_;
    std::map<uint64_t, Node> nodes_;
    std::atomic<pid_t> loop_thread_{0};
    uint64_t next_node_ = 2;  // 1 is the root directory
    std::thread thread_;
};

}  // namespace mrd::tracer
