/* Times a syscall in a loop: untrapped (getppid) or one the supervisor traps and lets through
 * (openat of a missing path under /usr, which stays local).   syscall_bench getppid|open N  -> ns per call */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: syscall_bench getppid|open N\n");
        return 2;
    }
    long n = atol(argv[2]);
    int open_mode = strcmp(argv[1], "open") == 0;
    double start = now_ns();
    for (long i = 0; i < n; i++) {
        if (open_mode) syscall(SYS_openat, AT_FDCWD, "/usr/lib/mirrord-bench-nonexistent", O_RDONLY);
        else syscall(SYS_getppid);
    }
    printf("%.3f\n", (now_ns() - start) / n);
    return 0;
}
