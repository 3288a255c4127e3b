#include "tracer/cli/local_agent.hpp"

#include "tracer/ptrace/spawn.hpp"

#include "wire/messages.hpp"
#include "base/temp_dir.hpp"
#include "base/text_file.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <memory>
#include <vector>

namespace mrd::tracer {

namespace fs = std::filesystem;

std::string find_agent_binary() {
    if (const char* env = std::getenv("MIRRORD_AGENT_BINARY"); env && *env) return env;
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        for (fs::path candidate : {self.parent_path() / "mirrord-agent", self.parent_path().parent_path() / "agent" / "mirrord-agent"})
            if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "mirrord-agent";  // from PATH
}

Result<pid_t> container_pid(const std::string& name) {
    for (const char* runtime : {"podman", "docker"}) {
        // An argv: the name reaches the runtime as one word, whatever it holds.
        auto output = run_for_output({runtime, "inspect", "--format", "{{.State.Pid}}", "--", name});
        if (!output) continue;
        long pid = std::strtol(output->c_str(), nullptr, 10);
        if (pid > 0) return static_cast<pid_t>(pid);
    }
    return Error::msg("no running podman or docker container named '" + name + "'", ESRCH);
}

Result<LocalAgent> LocalAgent::start(pid_t target_pid, const std::string& log_level, std::chrono::seconds timeout) {
    LocalAgent agent;
    auto dir = make_temp_dir(scratch::kAgentSocket);
    if (!dir) return dir.error().context("a directory for the agent's socket");
    agent.dir_ = *dir;
    agent.address_ = "unix:" + agent.dir_ + "/agent.sock";
    std::string binary = find_agent_binary();

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    UniqueFd out_read(out[0]), out_write(out[1]);
    std::vector<std::string> args = {binary, "--listen", agent.address_, "--idle-timeout", "30", "--log-level", log_level};
    if (target_pid) {
        args.push_back("--target-pid");
        args.push_back(std::to_string(target_pid));
    }
    int stdout_fd = out_write.get();
    auto spawned = spawn_process(args, [stdout_fd] {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the CLI
        ::dup2(stdout_fd, STDOUT_FILENO);
        ::setpgid(0, 0);  // Ctrl-C at the terminal is for the program, not the agent
    });
    if (!spawned) return spawned.error();
    pid_t pid = *spawned;
    agent.pid_ = pid;
    out_write.reset();

    // Wait for "mirrord-agent ready: ..." on its stdout.
    std::string output;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{out_read.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            return Error::msg("the agent did not start within " + std::to_string(timeout.count()) + "s", ETIMEDOUT);
        char buf[256];
        ssize_t n = ::read(out_read.get(), buf, sizeof buf);
        if (n <= 0) {
            int status = 0;
            ::waitpid(pid, &status, 0);
            agent.pid_ = 0;
            return Error::msg("the agent exited during start-up (status " + std::to_string(WEXITSTATUS(status)) +
                              "); its message is above", ECHILD);
        }
        output.append(buf, static_cast<size_t>(n));
    }
    if (output.rfind(wire::kAgentReadyLine, 0) != 0) return Error::msg("unexpected output from the agent: " + output, EPROTO);
    return agent;
}

LocalAgent::LocalAgent(LocalAgent&& o) noexcept
    : pid_(std::exchange(o.pid_, 0)), dir_(std::move(o.dir_)), address_(std::move(o.address_)) {
    o.dir_.clear();
}

LocalAgent::~LocalAgent() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
}

}  // namespace mrd::tracer
