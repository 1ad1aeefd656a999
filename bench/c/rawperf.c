/*
 * rawperf: the raw-socket baseline for nanosp's benchmark, with spperf's and
 * nng perf's command line.  Messages are framed as SP over TCP frames them
 * (8-byte big-endian length, then the bytes) but with no library at all:
 *
 *   local_lat / remote_lat   ping-pong, one write() per message
 *   local_thr / remote_thr   one write() per message
 *   remote_thr_batch         as many messages per write() as fit in 64 KiB
 *
 * URLs: tcp://HOST:PORT or ipc:///path (Unix socket).  Output lines match
 * nng perf's.  Build: cc -O2 -o rawperf rawperf.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(2);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static long number(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < 0) {
        fprintf(stderr, "rawperf: bad number %s\n", s);
        exit(2);
    }
    return v;
}

/* Returns a connected (or, when listening, accepted) socket. */
static int endpoint(const char *url, int listening) {
    int fd, one = 1;
    if (strncmp(url, "ipc://", 6) == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, url + 6, sizeof a.sun_path - 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) die("socket");
        if (listening) {
            unlink(a.sun_path);
            if (bind(fd, (void *) &a, sizeof a) < 0 || listen(fd, 1) < 0) die("bind");
            int c = accept(fd, NULL, NULL);
            if (c < 0) die("accept");
            close(fd);
            return c;
        }
        for (int i = 0; connect(fd, (void *) &a, sizeof a) < 0; i++) {
            if (i > 500) die("connect");
            usleep(10000);
        }
        return fd;
    }
    if (strncmp(url, "tcp://", 6) != 0) {
        fprintf(stderr, "rawperf: url must be tcp:// or ipc://\n");
        exit(2);
    }
    char host[256];
    strncpy(host, url + 6, sizeof host - 1);
    host[sizeof host - 1] = 0;
    char *colon = strrchr(host, ':');
    if (!colon) {
        fprintf(stderr, "rawperf: missing port\n");
        exit(2);
    }
    *colon = 0;
    const char *port = colon + 1;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host[0] && strcmp(host, "*") ? host : "0.0.0.0", port, &hints, &ai))
        die("getaddrinfo");
    if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) < 0) die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listening) {
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) die("bind");
        int c = accept(fd, NULL, NULL);
        if (c < 0) die("accept");
        close(fd);
        fd = c;
    } else {
        for (int i = 0; connect(fd, ai->ai_addr, ai->ai_addrlen) < 0; i++) {
            if (i > 500) die("connect");
            usleep(10000);
            close(fd);
            fd = socket(ai->ai_family, SOCK_STREAM, 0);
        }
    }
    freeaddrinfo(ai);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void put_all(int fd, const void *b, size_t n) {
    const char *p = b;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        p += w;
        n -= (size_t) w;
    }
}

static void get_all(int fd, void *b, size_t n) {
    char *p = b;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            die("read");
        }
        p += r;
        n -= (size_t) r;
    }
}

static void frame(char *buf, size_t size) {
    uint64_t be = __builtin_bswap64((uint64_t) size);
    memcpy(buf, &be, 8);
    memset(buf + 8, 'x', size);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: rawperf local_lat|remote_lat|local_thr|remote_thr|remote_thr_batch URL SIZE COUNT\n");
        return 2;
    }
    const char *mode = argv[1], *url = argv[2];
    size_t size = (size_t) number(argv[3]);
    long count = number(argv[4]);
    char *buf = malloc(8 + size + (1 << 16));
    if (!buf) die("malloc");
    if (!strcmp(mode, "local_lat")) {
        int fd = endpoint(url, 1);
        for (long i = 0; i < count; i++) {
            get_all(fd, buf, 8 + size);
            put_all(fd, buf, 8 + size);
        }
        close(fd);
    } else if (!strcmp(mode, "remote_lat")) {
        int fd = endpoint(url, 0);
        frame(buf, size);
        double t0 = now_s();
        for (long i = 0; i < count; i++) {
            put_all(fd, buf, 8 + size);
            get_all(fd, buf, 8 + size);
        }
        double total = now_s() - t0;
        printf("total time: %.3f [s]\n", total);
        printf("message size: %d [B]\n", (int) size);
        printf("round trip count: %ld\n", count);
        printf("average latency: %.3f [us]\n", total * 1e6 / ((double) count * 2));
        close(fd);
    } else if (!strcmp(mode, "local_thr")) {
        int fd = endpoint(url, 1);
        get_all(fd, buf, 8); /* the empty start message */
        double t0 = now_s();
        size_t want = (size_t) count * (8 + size);
        static char big[1 << 16];
        while (want) {
            ssize_t r = read(fd, big, want < sizeof big ? want : sizeof big);
            if (r <= 0) die("read");
            want -= (size_t) r;
        }
        double total = now_s() - t0;
        double mps = (double) count / total;
        printf("total time: %.3f [s]\n", total);
        printf("message size: %d [B]\n", (int) size);
        printf("message count: %ld\n", count);
        printf("throughput: %.f [msg/s]\n", mps);
        printf("throughput: %.3f [Mb/s]\n", mps * 8 * (double) size / (1024 * 1024));
        close(fd);
    } else if (!strcmp(mode, "remote_thr") || !strcmp(mode, "remote_thr_batch")) {
        int fd = endpoint(url, 0);
        int batch = !strcmp(mode, "remote_thr_batch");
        memset(buf, 0, 8);
        put_all(fd, buf, 8);
        size_t one = 8 + size;
        long per = batch ? (long) ((1 << 16) / one) : 1;
        if (per < 1) per = 1;
        char *out = malloc((size_t) per * one);
        if (!out) die("malloc");
        for (long k = 0; k < per; k++) frame(out + k * one, size);
        for (long i = 0; i < count; i += per) {
            long n = count - i < per ? count - i : per;
            put_all(fd, out, (size_t) n * one);
        }
        shutdown(fd, SHUT_WR);
        get_all(fd, buf, 0);
        close(fd);
    } else {
        fprintf(stderr, "rawperf: unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
