// Prints a file the way an io_uring runtime would read it: with IORING_OP_OPENAT and IORING_OP_READ
// when io_uring is available, else (like libuv, tokio or liburing users with a fallback) with
// ordinary open and read. Says on stderr which way it went.
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_with_syscalls(const char* path, char* buf, size_t size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, size);
    close(fd);
    return n < 0 ? -errno : (int)n;
}

static int read_with_uring(struct io_uring* ring, const char* path, char* buf, size_t size) {
    struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_openat(sqe, AT_FDCWD, path, O_RDONLY, 0);
    io_uring_submit(ring);
    struct io_uring_cqe* cqe;
    io_uring_wait_cqe(ring, &cqe);
    int fd = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    if (fd < 0) return fd;
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_read(sqe, fd, buf, (unsigned)size, 0);
    io_uring_submit(ring);
    io_uring_wait_cqe(ring, &cqe);
    int n = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    close(fd);
    return n;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: uring_cat FILE\n");
        return 2;
    }
    static char buf[65536];
    struct io_uring ring;
    int n, rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "io_uring unavailable (%s): ordinary syscalls\n", strerror(-rc));
        n = read_with_syscalls(argv[1], buf, sizeof buf);
    } else {
        fprintf(stderr, "io_uring in use\n");
        n = read_with_uring(&ring, argv[1], buf, sizeof buf);
        io_uring_queue_exit(&ring);
    }
    if (n < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(-n));
        return 1;
    }
    fwrite(buf, 1, (size_t)n, stdout);
    return 0;
}
