#include "agent/guard.hpp"

#include "agent/redirect_rules.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mrd::agent {

Status start_guard(pid_t agent) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno("guard pipe");
    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno("starting the guard");
    if (pid == 0) {
        // Hold nothing of the agent's (its listeners must close when it dies), only the pipe.
        int keep = fds[0];
        ::close(fds[1]);
        if (keep > 3) ::syscall(SYS_close_range, 3, keep - 1, 0);
        ::syscall(SYS_close_range, keep + 1, ~0u, 0);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(s, SIG_IGN);
        ::prctl(PR_SET_NAME, "mirrord-guard");
        char c;
        while (::read(keep, &c, 1) != 0) {}  // EOF: the agent is gone
        (void)RedirectRules::remove_table(agent);  // nothing to remove after a clean exit
        ::_exit(0);
    }
    ::close(fds[0]);
    // fds[1] stays open, unread, for the agent's lifetime.
    return {};
}

}  // namespace mrd::agent
