// The process whose context the agent serves: its network and UTS namespaces (entered by the whole
// agent), its root file system (reached through /proc/PID/root) and its environment.
#pragma once

#include "base/result.hpp"
#include "base/unique_fd.hpp"

#include <sys/types.h>

#include <map>
#include <string>

namespace mrd::agent {

class Target {
public:
    // targetless: the agent's own namespaces and root.
    static Result<Target> targetless();
    // Opens the namespaces and root of pid; nothing is entered yet.
    static Result<Target> of_pid(pid_t pid);
    // The main process of a container ("containerd://<id>", "cri-o://<id>", "docker://<id>" or the bare
    // id), found by its cgroup (agent/container_process.hpp).
    static Result<Target> of_container(const std::string& container_id);

    Target(Target&&) noexcept = default;

    // setns into the target's network and UTS namespaces. Call before any thread or socket that
    // must live in the target exists: namespaces are per thread and inherited by new threads.
    Status enter() const;

    pid_t pid() const { return pid_; }  // 0 when targetless
    int root_fd() const { return root_fd_.get(); }  // O_PATH directory: the target's "/"
    Result<std::map<std::string, std::string>> environment() const;
    std::string hostname() const;  // as the target's UTS namespace names it (after enter())
    // A pidfd that becomes readable when the target exits; -1 when targetless.
    int exit_fd() const { return pidfd_.get(); }
    std::string describe() const;

private:
    Target() = default;
    pid_t pid_ = 0;
    UniqueFd root_fd_, net_fd_, uts_fd_, pidfd_;
};

}  // namespace mrd::agent
