// vFile: the debugger reads files of the machine the program runs on (its binary, its libraries)
// through the server: open (read-only), pread, fstat, readlink, close. Descriptors left open when
// the debugger goes are closed with it.
#pragma once

#include <set>
#include <string>

namespace mrd::tracer::gdb {

class HostFiles {
public:
    HostFiles() = default;
    HostFiles(const HostFiles&) = delete;
    ~HostFiles() { close_all(); }
    // "vFile:OPERATION:ARGS": its reply ("F..."), or "" for an operation not supported.
    std::string request(const std::string& packet);
    void close_all();

private:
    std::set<int> files_;  // the debugger's descriptors are ours
};

}  // namespace mrd::tracer::gdb
