// The target's files, for one client: every path is resolved inside the target's root (openat2 with
// RESOLVE_IN_ROOT, so absolute symlinks and ".." stay in the target), and open files are handles.
// Calls block; the agent runs them off its event loop, one client's calls in order.
#pragma once

#include "agent/file_watch.hpp"
#include "wire/messages.hpp"

#include <sys/stat.h>

#include <map>
#include <memory>

namespace mrd::agent {

class FileService {
public:
    explicit FileService(int root_fd, std::shared_ptr<FileWatch> watch = nullptr) : root_fd_(root_fd), watch_(std::move(watch)) {}
    FileService(const FileService&) = delete;
    ~FileService();

    // True for the kinds this service answers.
    static bool handles(wire::Kind kind);
    // Executes a file request; the reply, or ErrorReply.
    wire::Message serve(const wire::Message& request);

private:
    wire::Message open(const wire::FileOpen& m);
    wire::Message stat(const wire::FileStat& m);
    wire::Message fstat(const wire::FileFstat& m);
    wire::Message read(const wire::FileRead& m);
    wire::Message write(const wire::FileWrite& m);
    wire::Message close(const wire::FileClose& m);
    wire::Message read_dir(const wire::DirRead& m);
    wire::Message read_link(const wire::ReadLink& m);
    wire::Message mkdir(const wire::MkDir& m);
    wire::Message unlink(const wire::Unlink& m);
    wire::Message rename(const wire::Rename& m);
    wire::Message access(const wire::Access& m);
    wire::Message truncate(const wire::Truncate& m);
    wire::Message statfs(const wire::StatFs& m);

    wire::Message open_replacement(const wire::FileOpen& m);
    int handle_fd(uint64_t handle) const;
    int root_fd_;
    std::shared_ptr<FileWatch> watch_;  // FileOpen/FileStat{watch} arm it
    uint64_t next_handle_ = 1;
    std::map<uint64_t, int> fds_;
    struct Replacement {
        int dir;  // O_PATH, owned
        std::string temp, name;
        bool unnamed = false;  // O_TMPFILE: linked as temp only at commit
    };
    std::map<uint64_t, Replacement> replacing_;  // handles of FileOpen{replace}, by handle
};

wire::FileStatInfo to_stat_info(const struct stat& st);

}  // namespace mrd::agent
