#include "tracer/ptrace/seccomp_filter.hpp"
#include "tracer/ptrace/seccomp_listener.hpp"

#include <catch2/catch.hpp>
#include <linux/audit.h>
#include <linux/io_uring.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace mrd;
using namespace mrd::tracer;

namespace {

// Runs child_body in a child under the filter for routes; the listener's verdicts come from
// answer (on the event loop) and quick (on the listener's thread). Returns the child's exit code.
int run_filtered(const SyscallRouter& router, bool allow_io_uring, std::function<Verdict(const Notification&)> answer,
                 SeccompListener::QuickCheck quick, std::function<int()> child_body) {
    auto filter = build_seccomp_filter(router.traced(), allow_io_uring);
    REQUIRE(filter);
    int report[2];
    REQUIRE(::pipe(report) == 0);
    pid_t child = ::fork();
    if (child == 0) {
        int listener = install_seccomp_filter(*filter);
        if (::write(report[1], &listener, sizeof listener) != sizeof listener || listener < 0) ::_exit(100);
        ::_exit(child_body());
    }
    int remote = -1;
    REQUIRE(::read(report[0], &remote, sizeof remote) == sizeof remote);
    REQUIRE(remote >= 0);
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), remote, 0)));
    REQUIRE(fd);
    asio::io_context io;
    auto busy = asio::make_work_guard(io);  // run_for keeps waiting for the listener's posts
    int status = 0;
    {
        SeccompListener listener(io, std::move(fd), true);
        listener.start(std::move(quick), [&](const Notification& n) { listener.respond(n.id, answer(n)); });
        while (::waitpid(child, &status, WNOHANG) == 0) io.run_for(std::chrono::milliseconds(20));
    }
    ::close(report[0]);
    ::close(report[1]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("notified syscalls get the verdict of the event loop; io_uring_setup fails with ENOSYS") {
    SyscallRouter router;
    router.on(SYS_getppid, [](Call&) -> co::Task<Verdict> { co_return Verdict::local(); });
    router.on(SYS_getpgrp, [](Call&) -> co::Task<Verdict> { co_return Verdict::local(); });
    int code = run_filtered(
        router, false,
        [](const Notification& n) { return n.nr == SYS_getppid ? Verdict::result(4242) : Verdict::error(EPERM); },
        [](const Notification&) { return false; },
        [] {
            io_uring_params params{};
            long ring = ::syscall(SYS_io_uring_setup, 1, &params);
            if (ring != -1 || errno != ENOSYS) return 1;
            if (::syscall(SYS_getppid) != 4242) return 2;
            if (::syscall(SYS_getpgrp) != -1 || errno != EPERM) return 3;
            return 0;
        });
    CHECK(code == 0);
}

TEST_CASE("a quick check answers on the listener's thread: the call runs as made") {
    SyscallRouter router;
    router.on(SYS_getppid, [](Call&) -> co::Task<Verdict> { co_return Verdict::local(); });
    pid_t parent = ::getpid();
    int code = run_filtered(
        router, true, [](const Notification&) { return Verdict::result(1); },
        [](const Notification& n) { return n.nr == SYS_getppid; },
        [parent] {
            io_uring_params params{};
            long ring = ::syscall(SYS_io_uring_setup, 1, &params);
            if (ring < 0) return 1;  // allowed
            return ::syscall(SYS_getppid) == parent ? 0 : 2;
        });
    CHECK(code == 0);
}

TEST_CASE("the router settles certainly-local calls only for routes that say so") {
    SyscallRouter router;
    router.on(SYS_getppid, [](Call&) -> co::Task<Verdict> { co_return Verdict::local(); }, {}, [](const Notification& n) { return n.args[0] == 1; });
    router.on(SYS_getpgrp, [](Call&) -> co::Task<Verdict> { co_return Verdict::local(); });
    Notification n{1, 1, AUDIT_ARCH_X86_64, SYS_getppid, {1, 0, 0, 0, 0, 0}};
    CHECK(router.certainly_local(n));
    n.args[0] = 0;
    CHECK_FALSE(router.certainly_local(n));
    n.nr = SYS_getpgrp;
    CHECK_FALSE(router.certainly_local(n));
    n.nr = SYS_getpid;  // not routed at all
    CHECK(router.certainly_local(n));
    n.nr = SYS_getppid;
    n.args[0] = 1;
    n.arch = AUDIT_ARCH_I386;  // 32-bit calls: the event loop warns
    CHECK_FALSE(router.certainly_local(n));
}

TEST_CASE("a replacing verdict puts a descriptor in place of the program's, then answers the call") {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    REQUIRE(::write(pipe_fds[1], "swapped", 7) == 7);
    ::close(pipe_fds[1]);
    UniqueFd replacement(pipe_fds[0]);
    SyscallRouter router;
    router.on(SYS_getppid, [](Call&) -> co::Task<Verdict> { co_return Verdict::local(); });
    constexpr int kAt = 77;
    int code = run_filtered(
        router, false,
        [&](const Notification&) {
            int copy = ::fcntl(replacement.get(), F_DUPFD_CLOEXEC, 0);
            return Verdict::replace(UniqueFd(copy), kAt, true, 5);
        },
        [](const Notification&) { return false; },
        [] {
            if (::dup2(STDIN_FILENO, kAt) != kAt) return 1;  // what the descriptor was
            if (::syscall(SYS_getppid) != 5) return 2;
            char text[8] = {};
            if (::read(kAt, text, sizeof text) != 7 || std::string(text) != "swapped") return 3;
            if (!(::fcntl(kAt, F_GETFD) & FD_CLOEXEC)) return 4;
            return 0;
        });
    CHECK(code == 0);
}
