#include "agent/target.hpp"

#include <fcntl.h>
#include <sched.h>
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

Result<pid_t> find_container_pid(const std::string& container_id, const std::string& proc_root) {
    std::string id = container_id;
    if (auto scheme = id.find("://"); scheme != std::string::npos) id = id.substr(scheme + 3);
    if (id.size() < 12) return Error::msg("container id '" + container_id + "' is too short", EINVAL);
    pid_t best = 0;
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator(proc_root, ec)) {
        std::string name = entry.path().filename();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        std::ifstream cgroup(entry.path() / "cgroup");
        std::string text((std::istreambuf_iterator<char>(cgroup)), std::istreambuf_iterator<char>());
        if (text.find(id) == std::string::npos) continue;
        pid_t pid = static_cast<pid_t>(std::stol(name));
        if (best == 0 || pid < best) best = pid;
    }
    if (best == 0) return Error::msg("no process of container " + container_id + " on this node (is the agent running with hostPID?)", ESRCH);
    return best;
}

Result<Target> Target::of_container(const std::string& container_id) {
    auto pid = find_container_pid(container_id);
    if (!pid) return pid.error();
    return of_pid(*pid);
}

Status Target::enter() const {
    if (net_fd_ && ::setns(net_fd_.get(), CLONE_NEWNET) != 0)
        return Error::from_errno("entering the network namespace of pid " + std::to_string(pid_));
    if (uts_fd_ && ::setns(uts_fd_.get(), CLONE_NEWUTS) != 0)
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
