// An agent started by the CLI for a target on this machine (pid/N, container/NAME, targetless),
// listening on a private unix socket; it dies with the CLI.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <chrono>
#include <string>

namespace mrd::tracer {

class LocalAgent {
public:
    static Result<LocalAgent> start(pid_t target_pid, const std::string& log_level, std::chrono::seconds timeout);
    LocalAgent(LocalAgent&& o) noexcept;
    LocalAgent& operator=(LocalAgent&&) = delete;
    ~LocalAgent();

    const std::string& address() const { return address_; }
    pid_t pid() const { return pid_; }
    void forget() { pid_ = 0; }  // it exited and was reaped elsewhere

private:
    LocalAgent() = default;
    pid_t pid_ = 0;
    std::string dir_, address_;
};

// MIRRORD_AGENT_BINARY, or mirrord-agent beside this executable (or in ../agent/ of a build tree), or PATH.
std::string find_agent_binary();
// The host PID of a podman or docker container's main process.
Result<pid_t> container_pid(const std::string& name);

}  // namespace mrd::tracer
