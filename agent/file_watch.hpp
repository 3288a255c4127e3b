// What a client has cached of the target's files, watched with inotify so the agent can say when it
// stops being true (FileChanged) and the client can answer re-opens, stats and lookups of missing
// paths without asking. A path is watched through its directory (which reports its entries'
// content, attribute, creation, deletion and rename events) and, for a directory, through itself.
//
// Armed paths are told about once; asking again (FileOpen/FileStat{watch}) arms them again. Not
// seen, and documented: changes through another hard link in another directory, writes through a
// shared mmap, renames of an ancestor directory, file systems without inotify events (network and
// FUSE file systems, /proc). Symlinks are not armed (their target may live anywhere).
#pragma once

#include "wire/messages.hpp"

#include <asio.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace mrd::agent {

class FileWatch : public std::enable_shared_from_this<FileWatch> {
public:
    using Notify = std::function<void(wire::FileChanged)>;
    // notify runs on io's thread.
    static std::shared_ptr<FileWatch> create(asio::io_context& io, int root_fd, Notify notify);
    ~FileWatch();

    // Before a FileOpen or FileStat is served (any thread): watch what its answer depends on. False
    // when path cannot be watched (a symlink, no inotify watches left): the client must revalidate.
    bool arm(const std::string& path);

private:
    FileWatch(asio::io_context& io, int root_fd, Notify notify);
    bool watch_directory(const std::string& dir, int flags);
    void read_events();
    void on_event(int wd, uint32_t mask, const std::string& name);
    void changed(const std::string& path, bool subtree);

    int root_fd_;
    Notify notify_;
    int inotify_ = -1;
    asio::posix::stream_descriptor events_;
    std::vector<char> buffer_;
    std::mutex mutex_;                    // arm() runs on the file threads, events on io's
    std::map<int, std::string> dirs_;     // watch descriptor -> directory
    std::map<std::string, int> watched_;  // directory -> its watch descriptor
    std::atomic<bool> out_of_watches_{false};  // said once
    std::set<std::string> armed_;         // paths a client is to be told about
};

}  // namespace mrd::agent
