// Local copies of remote files: a remote file is fetched once into a private directory tree that
// mirrors the target's paths, and the program's path argument is pointed at the copy, so reads and
// mmap run at local speed. A copy is revalidated against the remote size, mtime and inode, so an
// unchanged file costs one round trip.
#pragma once

#include "tracer/agent_client.hpp"

#include <map>
#include <string>

namespace mrd::tracer {

class ShadowTree {
public:
    explicit ShadowTree(AgentClient& agent) : agent_(agent) {}
    ~ShadowTree();

    Status create();  // the private directory, removed again on destruction
    const std::string& root() const { return root_; }
    std::string local_path(const std::string& remote_path) const { return root_ + remote_path; }

    // The local copy of the remote file at path (fetching or refreshing it); the remote errno
    // (ENOENT...) when there is none.
    co::Task<Result<std::string>> fetch(const std::string& path);
    // A file whose content is made up here (e.g. /proc/sys/kernel/hostname).
    Result<std::string> put(const std::string& path, const std::string& content);

private:
    struct Cached {
        int64_t size = 0, mtime_ns = 0;
        uint64_t ino = 0;
    };
    Status make_parents(const std::string& local);

    AgentClient& agent_;
    std::string root_;
    std::map<std::string, Cached> cache_;
};

// "/a/./b//c/../d" -> "/a/b/d" (lexically; symlinks are the kernel's business).
std::string normalize_path(const std::string& path);

}  // namespace mrd::tracer
