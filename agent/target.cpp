#include "agent/target.hpp"

#include "agent/container_process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace mrd::agent {

Result<Target> Target::targetless() {
    Target t;
    t.root_fd_.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!t.root_fd_) return Error::from_errno("opening /");
    return t;
}

Result<Target> Target::of_pid(pid_t pid) {
    Target t;
    t.pid_ = pid;
    std::string proc = "/proc/" + std::to_string(pid);
    // The pidfd first: it pins the identity of the process we open the rest of.
    t.pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!t.pidfd_) return Error::from_errno("target pid " + std::to_string(pid));
    t.root_fd_.reset(::open((proc + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!t.root_fd_) return Error::from_errno("opening " + proc + "/root");
    t.net_fd_.reset(::open((proc + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!t.net_fd_) return Error::from_errno("opening " + proc + "/ns/net");
    t.uts_fd_.reset(::open((proc + "/ns/uts").c_str(), O_RDONLY | O_CLOEXEC));
    if (!t.uts_fd_) return Error::from_errno("opening " + proc + "/ns/uts");
    return t;
}

Result<Target> Target::of_container(const std::string& container_id) {
    auto pid = find_container_pid(container_id);
    if (!pid) return pid.error();
    return of_pid(*pid);
}

namespace {

// Whether fd is the namespace this thread is already in (an ephemeral agent shares the pod's
// network and UTS namespaces, and may lack the CAP_SYS_ADMIN that setns needs).
bool already_in(int fd, const char* kind) {
    struct stat ours {}, theirs {};
    std::string self = std::string("/proc/thread-self/ns/") + kind;
    return ::stat(self.c_str(), &ours) == 0 && ::fstat(fd, &theirs) == 0 && ours.st_dev == theirs.st_dev &&
           ours.st_ino == theirs.st_ino;
}

}  // namespace

Status Target::enter() const {
    if (net_fd_ && !already_in(net_fd_.get(), "net") && ::setns(net_fd_.get(), CLONE_NEWNET) != 0)
        return Error::from_errno("entering the network namespace of pid " + std::to_string(pid_));
    if (uts_fd_ && !already_in(uts_fd_.get(), "uts") && ::setns(uts_fd_.get(), CLONE_NEWUTS) != 0)
        return Error::from_errno("entering the UTS namespace of pid " + std::to_string(pid_));
    return {};
}

Result<std::map<std::string, std::string>> Target::environment() const {
    std::string path = pid_ ? "/proc/" + std::to_string(pid_) + "/environ" : "/proc/self/environ";
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::from_errno("reading " + path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::map<std::string, std::string> vars;
    std::istringstream entries(all);
    std::string entry;
    while (std::getline(entries, entry, '\0')) {
        auto eq = entry.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        vars.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    return vars;
}

std::string Target::hostname() const {
    utsname u{};
    if (::uname(&u) != 0) return {};
    return u.nodename;
}

std::string Target::describe() const { return pid_ ? "pid " + std::to_string(pid_) : "targetless"; }

}  // namespace mrd::agent
