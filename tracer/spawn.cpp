#include "tracer/spawn.hpp"

#include <signal.h>
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
        if (in_child) in_child();
        ::execvp(argv[0], argv.data());
        std::fprintf(stderr, "mirrord: cannot run %s: %s\n", argv[0], std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

}  // namespace mrd::tracer
