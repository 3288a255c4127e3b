// Many threads reading the same files over and over: counts the reads that found a file empty or
// missing (a file being rewritten under them). Prints "<empty> empty of <total>".
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char** files;
static int nfiles, rounds;
static atomic_int empty, total;

static void* reader(void* arg) {
    (void)arg;
    char buf[65536];
    for (int i = 0; i < rounds; ++i)
        for (int f = 0; f < nfiles; ++f) {
            int fd = open(files[f], O_RDONLY);
            ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
            if (fd >= 0) close(fd);
            if (n <= 0) atomic_fetch_add(&empty, 1);
            atomic_fetch_add(&total, 1);
        }
    return NULL;
}

int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: read_race THREADS ROUNDS FILE...\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    rounds = atoi(argv[2]);
    files = argv + 3;
    nfiles = argc - 3;
    pthread_t t[256];
    if (threads > 256) threads = 256;
    for (int i = 0; i < threads; ++i) pthread_create(&t[i], NULL, reader, NULL);
    for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
    printf("%d empty of %d\n", atomic_load(&empty), atomic_load(&total));
    return 0;
}
