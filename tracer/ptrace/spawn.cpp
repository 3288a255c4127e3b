#include "tracer/ptrace/spawn.hpp"

#include "wire/inherited_fds.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace mrd::tracer {

Result<pid_t> spawn_process(const std::vector<std::string>& args, const std::function<void()>& in_child) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno("starting " + args[0]);
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        wire::close_uninherited_on_exec();
        if (in_child) in_child();
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "mirrord: cannot run %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

Result<std::string> run_for_output(const std::vector<std::string>& args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    auto pid = spawn_process(args, [&] {
        ::dup2(out[1], STDOUT_FILENO);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDERR_FILENO);
    });
    ::close(out[1]);
    if (!pid) {
        ::close(out[0]);
        return pid.error();
    }
    std::string output;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(*pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Error::msg(args[0] + " failed", ECHILD);
    return output;
}

}  // namespace mrd::tracer
