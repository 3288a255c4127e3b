/* A static musl program: getaddrinfo (musl's resolver reads /etc/resolv.conf, sends UDP with
 * sendto and checks the reply's source), connect, one HTTP GET, print the response body.
 *   musl_client HOST PORT PATH */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: musl_client HOST PORT PATH\n");
        return 2;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(argv[1], argv[2], &hints, &res);
    if (rc != 0) {
        printf("getaddrinfo: %s\n", gai_strerror(rc));
        return 1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        perror("connect");
        return 1;
    }
    char request[512];
    snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", argv[3], argv[1]);
    if (write(fd, request, strlen(request)) < 0) return 1;
    char response[65536];
    size_t used = 0;
    ssize_t n;
    while ((n = read(fd, response + used, sizeof response - 1 - used)) > 0) used += (size_t)n;
    response[used] = 0;
    char *body = strstr(response, "\r\n\r\n");
    printf("%s", body ? body + 4 : response);
    close(fd);
    return 0;
}
