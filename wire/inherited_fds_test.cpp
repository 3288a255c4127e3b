#include "wire/inherited_fds.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_CASE("inherited fds: a child keeps what the CLI inherited, and nothing the CLI opened") {
    int inherited = ::open("/dev/null", O_RDONLY);  // as from the shell: no close-on-exec
    REQUIRE(inherited > 2);
    mrd::wire::remember_inherited_fds();
    int own = ::open("/dev/null", O_RDONLY);  // the CLI's own, opened as Asio does
    REQUIRE(own > inherited);
    pid_t pid = ::fork();
    if (pid == 0) {
        mrd::wire::close_uninherited_on_exec();
        bool ok = !(::fcntl(inherited, F_GETFD) & FD_CLOEXEC) && (::fcntl(own, F_GETFD) & FD_CLOEXEC) &&
                  !(::fcntl(STDERR_FILENO, F_GETFD) & FD_CLOEXEC);
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    ::close(own);
    ::close(inherited);
}
