/* The floor for a trapped syscall that stays local: the least a supervisor can do with seccomp user
 * notification. Runs COMMAND with openat notified and answers every notification "continue", with
 * synchronous wake-ups unless --no-sync (kernels before 6.6 have none).
 *   notify_floor [--no-sync] COMMAND [ARGS...] */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

int main(int argc, char** argv) {
    int sync = 1, first = 1;
    if (argc > 1 && strcmp(argv[1], "--no-sync") == 0) sync = 0, first = 2;
    if (argc <= first) {
        fprintf(stderr, "usage: notify_floor [--no-sync] COMMAND [ARGS...]\n");
        return 2;
    }
    int report[2], go[2];  /* child -> parent: the listener's number; parent -> child: go on */
    if (pipe(report) != 0 || pipe(go) != 0) return 1;
    pid_t child = fork();
    if (child == 0) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (write(report[1], &listener, sizeof listener) != sizeof listener || listener < 0) _exit(127);
        char ok;
        if (read(go[0], &ok, 1) != 1) _exit(127);
        execvp(argv[first], argv + first);
        _exit(127);
    }
    int remote = -1;
    if (read(report[0], &remote, sizeof remote) != sizeof remote || remote < 0) return 1;
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    int listener = (int)syscall(SYS_pidfd_getfd, pidfd, remote, 0);
    if (listener < 0) return 1;
    if (sync) ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0);
    if (write(go[1], "g", 1) != 1) return 1;
    struct seccomp_notif notif;
    struct seccomp_notif_resp resp;
    for (;;) {
        struct pollfd p = {listener, POLLIN, 0};
        if (poll(&p, 1, -1) < 0 && errno == EINTR) continue;
        if (!(p.revents & POLLIN)) break;  /* POLLHUP: no task uses the filter any more */
        memset(&notif, 0, sizeof notif);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) != 0) {
            if (errno == EINTR || errno == ENOENT) continue;
            break;  /* the child is gone */
        }
        memset(&resp, 0, sizeof resp);
        resp.id = notif.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
