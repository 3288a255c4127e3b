/* For the debugger tests.
 *   gdb_target FILE              reads FILE, exits with its number of lines
 *   gdb_target --http HOST PORT  connects, calls paused(), then sends a GET on that connection
 *   gdb_target --spin            loops until interrupted
 *   gdb_target --ticking         a busy loop in ticking_loop() while SIGALRM ticks every 5 ms
 *   gdb_target --watch           a thread started after watch_ready() sets `watched` to 42 */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

void paused(void) {}  /* a place to stop while a connection is open */

static int http(const char *host, const char *port) {
    struct addrinfo hints = {0}, *res;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return 101;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) return 102;
    paused();
    char request[256];
    snprintf(request, sizeof request, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host);
    if (write(fd, request, strlen(request)) < 0) return 103;
    char response[4096];
    ssize_t n, total = 0;
    while ((n = read(fd, response + total, sizeof response - 1 - (size_t)total)) > 0) total += n;
    response[total] = 0;
    char *body = strstr(response, "\r\n\r\n");
    printf("%s", body ? body + 4 : response);
    return 0;
}

static int count_lines(const char *content) {
    int lines = 0;
    for (const char *p = content; *p; p++)
        if (*p == '\n') lines++;
    return lines;
}

int process_config(const char *content) {
    int lines = count_lines(content);
    int result = lines;
    return result;
}

static volatile int ticks;
static void tick(int sig) { (void)sig; ticks++; }

/* gdb's `next` single-steps the loop's line while signals keep arriving: it must stay in this frame. */
int ticking_loop(void) {
    volatile unsigned long sum = 0;
    for (unsigned long i = 0; i < 500; i++) sum += i;
    int done = 7;
    return done;
}

static int ticking(void) {
    signal(SIGALRM, tick);
    struct itimerval every_5ms = {{0, 5000}, {0, 5000}};
    setitimer(ITIMER_REAL, &every_5ms, NULL);
    return ticking_loop();
}

/* For watchpoints: written by a thread that does not exist yet when gdb starts watching. */
volatile int watched;
void watch_ready(void) {}
static void *writer(void *arg) {
    (void)arg;
    watched = 42;
    return NULL;
}
static int watch(void) {
    watch_ready();
    pthread_t thread;
    pthread_create(&thread, NULL, writer, NULL);
    pthread_join(thread, NULL);
    return watched;
}

int main(int argc, char **argv) {
    static char buffer[65536];
    if (argc == 4 && strcmp(argv[1], "--http") == 0) return http(argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "--ticking") == 0) return ticking();
    if (argc == 2 && strcmp(argv[1], "--watch") == 0) return watch();
    if (argc == 2 && strcmp(argv[1], "--spin") == 0) {
        volatile unsigned long spins = 0;
        for (;;) spins++;
    }
    FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;
    if (!f) return 100;
    size_t n = fread(buffer, 1, sizeof buffer - 1, f);
    buffer[n] = 0;
    fclose(f);
    return process_config(buffer);
}
