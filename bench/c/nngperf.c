/*
 * nngperf: nng's perf tool interface (local_lat, remote_lat, local_thr,
 * remote_thr, inproc_lat, inproc_thr) on the system libnng, so that nanosp's
 * spperf can be run side by side with nng in one benchmark run and can face
 * it across a connection.  Written for nanosp; behaviour follows nng's perf:
 * PAIR v1 sockets, the throughput client sends one empty message to start
 * the clock, lines printed as nng prints them.
 *
 *   nngperf local_lat  URL SIZE COUNT      nngperf remote_lat URL SIZE COUNT
 *   nngperf local_thr  URL SIZE COUNT      nngperf remote_thr URL SIZE COUNT
 *   nngperf inproc_lat SIZE COUNT          nngperf inproc_thr SIZE COUNT
 *   nngperf scale URL PAIRS SIZE COUNT
 *   nngperf local_fanin URL CONTEXTS TOTAL   nngperf remote_fanin URL CLIENTS SIZE COUNT
 *
 * `scale` runs PAIRS independent REQ/REP pairs in this one process (a thread
 * per socket, nng's synchronous API), pair i on URL with its port (tcp, ws)
 * or name (ipc, inproc) plus i, each doing COUNT round trips; it prints the
 * aggregate round trips per second.
 *
 * tls+tcp:// URLs take their TLS files from the environment, as spperf
 * does: SP_TLS_CERT_KEY (PEM with certificate and key, for listeners) and
 * SP_TLS_CA (PEM with the CA, for dialers; the URL's host is the server name).
 *
 * Build: cc -O2 -o nngperf nngperf.c -lnng -lpthread
 */
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fail(const char *what, int rv) {
    fprintf(stderr, "nngperf: %s: %s\n", what, nng_strerror(rv));
    exit(2);
}

static long number(const char *s, const char *what) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < 0 || v > (1L << 30)) {
        fprintf(stderr, "nngperf: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

/* Listens on URL, with SP_TLS_CERT_KEY for a tls+tcp:// URL. */
static void listen_on(nng_socket s, const char *url) {
    nng_listener l;
    int rv;
    const char *ck = getenv("SP_TLS_CERT_KEY");
    if ((rv = nng_listener_create(&l, s, url)) != 0) fail("nng_listener_create", rv);
    if (strncmp(url, "tls+", 4) == 0 && ck != NULL &&
        (rv = nng_listener_set_string(l, NNG_OPT_TLS_CERT_KEY_FILE, ck)) != 0)
        fail("tls-cert-key-file", rv);
    if ((rv = nng_listener_start(l, 0)) != 0) fail("nng_listen", rv);
}

/* One dial attempt, with SP_TLS_CA for a tls+tcp:// URL. */
static int dial_once(nng_socket s, const char *url) {
    nng_dialer d;
    int rv;
    const char *ca = getenv("SP_TLS_CA");
    if ((rv = nng_dialer_create(&d, s, url)) != 0) return rv;
    if (strncmp(url, "tls+", 4) == 0 && ca != NULL &&
        (rv = nng_dialer_set_string(d, NNG_OPT_TLS_CA_FILE, ca)) != 0)
        fail("tls-ca-file", rv);
    if ((rv = nng_dialer_start(d, 0)) != 0) nng_dialer_close(d);
    return rv;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

/* The round-trip percentiles line spperf prints too (microseconds). */
static void print_percentiles(uint64_t *rtt, long n) {
    if (n <= 0) return;
    qsort(rtt, (size_t) n, sizeof rtt[0], cmp_u64);
    double q[4] = {0.5, 0.99, 0.999, 1.0}, v[4];
    for (int k = 0; k < 4; k++) {
        long i = (long) ((double) n * q[k] + 0.999999999);
        if (i < 1) i = 1;
        if (i > n) i = n;
        v[k] = rtt[i - 1] / 1e3;
    }
    printf("round trip p50 p99 p99.9 max: %.3f %.3f %.3f %.3f [us]\n", v[0], v[1], v[2], v[3]);
}

static nng_socket open_pair(void) {
    nng_socket s;
    int rv;
    if ((rv = nng_pair1_open(&s)) != 0) fail("nng_pair1_open", rv);
    return s;
}

/* Dials until the server answers (it may still be starting), so that the
 * clock starts with a connection in place. */
static void dial(nng_socket s, const char *url) {
    int rv;
    for (int i = 0; (rv = dial_once(s, url)) != 0; i++) {
        if ((rv != NNG_ECONNREFUSED && rv != NNG_ENOENT) || i > 1000) fail("nng_dial", rv);
        nng_msleep(10);
    }
}

/* Echo server: receive, send back, COUNT times. */
static void lat_server(const char *url, size_t size, long count) {
    nng_socket s = open_pair();
    int rv;
    listen_on(s, url);
    for (long i = 0; i < count; i++) {
        nng_msg *m;
        if ((rv = nng_recvmsg(s, &m, 0)) != 0) fail("nng_recvmsg", rv);
        if (nng_msg_len(m) != size) {
            fprintf(stderr, "nngperf: got %zu bytes, want %zu\n", nng_msg_len(m), size);
            exit(2);
        }
        if ((rv = nng_sendmsg(s, m, 0)) != 0) fail("nng_sendmsg", rv);
    }
    nng_msleep(100); /* let the last reply drain: nng has no linger */
    nng_close(s);
}

static void lat_client(const char *url, size_t size, long count) {
    nng_socket s = open_pair();
    nng_msg *m;
    int rv;
    dial(s, url);
    if ((rv = nng_msg_alloc(&m, size)) != 0) fail("nng_msg_alloc", rv);
    memset(nng_msg_body(m), 'x', size);
    /* One clock read per round trip, into memory allocated up front. */
    uint64_t *rtt = malloc(sizeof(uint64_t) * (size_t) (count > 0 ? count : 1));
    if (rtt == NULL) fail("malloc", NNG_ENOMEM);
    double t0 = now_s(), last = t0;
    for (long i = 0; i < count; i++) {
        if ((rv = nng_sendmsg(s, m, 0)) != 0) fail("nng_sendmsg", rv);
        if ((rv = nng_recvmsg(s, &m, 0)) != 0) fail("nng_recvmsg", rv);
        double t = now_s();
        double ns = (t - last) * 1e9;
        rtt[i] = (uint64_t) ns;
        last = t;
    }
    double total = now_s() - t0;
    nng_msg_free(m);
    nng_close(s);
    printf("total time: %.3f [s]\n", total);
    printf("message size: %d [B]\n", (int) size);
    printf("round trip count: %ld\n", count);
    printf("average latency: %.3f [us]\n", total * 1e6 / ((double) count * 2));
    print_percentiles(rtt, count);
    free(rtt);
}

static void thr_server(const char *url, size_t size, long count) {
    nng_socket s = open_pair();
    nng_msg *m;
    int rv;
    if ((rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, 128)) != 0) fail("recvbuf", rv);
    listen_on(s, url);
    if ((rv = nng_recvmsg(s, &m, 0)) != 0) fail("nng_recvmsg", rv); /* start */
    nng_msg_free(m);
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        if ((rv = nng_recvmsg(s, &m, 0)) != 0) fail("nng_recvmsg", rv);
        if (nng_msg_len(m) != size) {
            fprintf(stderr, "nngperf: got %zu bytes, want %zu\n", nng_msg_len(m), size);
            exit(2);
        }
        nng_msg_free(m);
    }
    double total = now_s() - t0;
    nng_close(s);
    double mps = (double) count / total;
    printf("total time: %.3f [s]\n", total);
    printf("message size: %d [B]\n", (int) size);
    printf("message count: %ld\n", count);
    printf("throughput: %.f [msg/s]\n", mps);
    printf("throughput: %.3f [Mb/s]\n", mps * 8 * (double) size / (1024 * 1024));
}

static volatile int pipe_gone;

static void on_pipe_gone(nng_pipe p, nng_pipe_ev ev, void *arg) {
    (void) p;
    (void) ev;
    (void) arg;
    pipe_gone = 1;
}

static void thr_client(const char *url, size_t size, long count) {
    nng_socket s = open_pair();
    nng_msg *m;
    int rv;
    if ((rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, 128)) != 0) fail("sendbuf", rv);
    if ((rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, on_pipe_gone, NULL)) != 0) fail("notify", rv);
    dial(s, url);
    if ((rv = nng_msg_alloc(&m, 0)) != 0) fail("nng_msg_alloc", rv);
    if ((rv = nng_sendmsg(s, m, 0)) != 0) fail("nng_sendmsg", rv);
    for (long i = 0; i < count; i++) {
        if ((rv = nng_msg_alloc(&m, size)) != 0) fail("nng_msg_alloc", rv);
        if ((rv = nng_sendmsg(s, m, 0)) != 0) fail("nng_sendmsg", rv);
    }
    /* No linger: stay until the server, done, hangs up (at most a minute). */
    for (int i = 0; !pipe_gone && i < 6000; i++) nng_msleep(10);
    nng_close(s);
}

struct job {
    const char *url;
    size_t size;
    long count;
    void (*run)(const char *, size_t, long);
};

static void run_job(void *arg) {
    struct job *j = arg;
    j->run(j->url, j->size, j->count);
}

/* The URL of pair i: a TCP/WS port plus i, or a name with ".i" added. */
static void nth_url(char *out, size_t cap, const char *url, int i) {
    const char *colon = strrchr(url, ':');
    const char *slash = strstr(url, "://");
    if ((strncmp(url, "tcp", 3) == 0 || strncmp(url, "ws", 2) == 0) && colon &&
        colon > slash + 2) {
        const char *path = strchr(colon, '/');
        long port = strtol(colon + 1, NULL, 10);
        snprintf(out, cap, "%.*s:%ld%s", (int) (colon - url), url, port + i,
                 path ? path : "");
    } else {
        snprintf(out, cap, "%s.%d", url, i);
    }
}

struct pair {
    char url[256];
    size_t size;
    long count;
    nng_socket rep, req;
};

static void rep_loop(void *arg) {
    struct pair *p = arg;
    for (long i = 0; i < p->count; i++) {
        nng_msg *m;
        int rv;
        if ((rv = nng_recvmsg(p->rep, &m, 0)) != 0) fail("rep recv", rv);
        if ((rv = nng_sendmsg(p->rep, m, 0)) != 0) fail("rep send", rv);
    }
}

static void req_loop(void *arg) {
    struct pair *p = arg;
    nng_msg *m;
    int rv;
    if ((rv = nng_msg_alloc(&m, p->size)) != 0) fail("nng_msg_alloc", rv);
    for (long i = 0; i < p->count; i++) {
        if ((rv = nng_sendmsg(p->req, m, 0)) != 0) fail("req send", rv);
        if ((rv = nng_recvmsg(p->req, &m, 0)) != 0) fail("req recv", rv);
    }
    nng_msg_free(m);
}

static void scale(const char *url, int pairs, size_t size, long count) {
    struct pair *ps = calloc((size_t) pairs, sizeof *ps);
    nng_thread **ts = calloc((size_t) pairs * 2, sizeof *ts);
    int rv;
    for (int i = 0; i < pairs; i++) {
        struct pair *p = &ps[i];
        nth_url(p->url, sizeof p->url, url, i);
        p->size = size;
        p->count = count;
        if ((rv = nng_rep0_open(&p->rep)) != 0) fail("nng_rep0_open", rv);
        if ((rv = nng_req0_open(&p->req)) != 0) fail("nng_req0_open", rv);
        listen_on(p->rep, p->url);
        if ((rv = dial_once(p->req, p->url)) != 0) fail("nng_dial", rv);
    }
    double t0 = now_s();
    for (int i = 0; i < pairs; i++) {
        if ((rv = nng_thread_create(&ts[2 * i], rep_loop, &ps[i])) != 0) fail("thread", rv);
        if ((rv = nng_thread_create(&ts[2 * i + 1], req_loop, &ps[i])) != 0) fail("thread", rv);
    }
    for (int i = 0; i < pairs * 2; i++) nng_thread_destroy(ts[i]);
    double total = now_s() - t0;
    printf("pairs: %d\n", pairs);
    printf("message size: %zu [B]\n", size);
    printf("round trip count: %ld\n", count * pairs);
    printf("total time: %.3f [s]\n", total);
    printf("throughput: %.0f [rt/s]\n", (double) (count * pairs) / total);
    for (int i = 0; i < pairs; i++) {
        nng_close(ps[i].req);
        nng_close(ps[i].rep);
    }
    free(ps);
    free(ts);
}

/*
 * Fan-in: `local_fanin URL CONTEXTS TOTAL` serves TOTAL requests on a REP
 * socket with CONTEXTS contexts at once (each an aio loop: receive, echo),
 * and exits once every client has hung up; `remote_fanin URL CLIENTS SIZE COUNT` opens CLIENTS REQ
 * sockets (one connection each) and, once all are connected, runs COUNT
 * round trips on each at the same time (an aio loop per socket), then
 * prints the aggregate round trips per second and the round-trip
 * percentiles, as spperf's modes of the same names do.
 */
struct fanin_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
};

static nng_mtx *fanin_mtx;
static nng_cv *fanin_cv;
static long fanin_left; /* requests to serve, or clients still running */

static long fanin_pipes; /* the server's live connections */

static void fanin_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg) {
    (void) p;
    (void) arg;
    nng_mtx_lock(fanin_mtx);
    fanin_pipes += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
    if (fanin_pipes == 0) nng_cv_wake(fanin_cv);
    nng_mtx_unlock(fanin_mtx);
}

static void fanin_served(void) {
    nng_mtx_lock(fanin_mtx);
    if (--fanin_left == 0) nng_cv_wake(fanin_cv);
    nng_mtx_unlock(fanin_mtx);
}

static void fanin_server_cb(void *arg) {
    struct fanin_ctx *c = arg;
    if (nng_aio_result(c->aio) != 0) return; /* closed */
    if (c->sending) {
        c->sending = 0;
        fanin_served();
        nng_ctx_recv(c->ctx, c->aio);
    } else {
        c->sending = 1;
        nng_aio_set_msg(c->aio, nng_aio_get_msg(c->aio));
        nng_ctx_send(c->ctx, c->aio);
    }
}

static void fanin_server(const char *url, int contexts, long total) {
    nng_socket rep;
    int rv;
    if ((rv = nng_rep0_open(&rep)) != 0) fail("nng_rep0_open", rv);
    if ((rv = nng_mtx_alloc(&fanin_mtx)) != 0) fail("nng_mtx_alloc", rv);
    if ((rv = nng_cv_alloc(&fanin_cv, fanin_mtx)) != 0) fail("nng_cv_alloc", rv);
    fanin_left = total;
    nng_pipe_notify(rep, NNG_PIPE_EV_ADD_POST, fanin_pipe_cb, NULL);
    nng_pipe_notify(rep, NNG_PIPE_EV_REM_POST, fanin_pipe_cb, NULL);
    listen_on(rep, url);
    struct fanin_ctx *cs = calloc((size_t) contexts, sizeof *cs);
    for (int i = 0; i < contexts; i++) {
        if ((rv = nng_ctx_open(&cs[i].ctx, rep)) != 0) fail("nng_ctx_open", rv);
        if ((rv = nng_aio_alloc(&cs[i].aio, fanin_server_cb, &cs[i])) != 0) fail("nng_aio_alloc", rv);
        nng_ctx_recv(cs[i].ctx, cs[i].aio);
    }
    /* Served, and every client hung up: closing earlier could cut replies
     * still on their way to a client that is slow to read them. */
    nng_mtx_lock(fanin_mtx);
    while (fanin_left > 0 || fanin_pipes > 0) nng_cv_wait(fanin_cv);
    nng_mtx_unlock(fanin_mtx);
    nng_close(rep);
    for (int i = 0; i < contexts; i++) nng_aio_free(cs[i].aio);
    free(cs);
}

struct fanin_client {
    nng_socket req;
    nng_aio *aio;
    int sending;
    long done, count;
    size_t size;
    double t;
    uint64_t *rtt;
};

static void fanin_send(struct fanin_client *c, nng_msg *m) {
    c->sending = 1;
    c->t = now_s();
    nng_aio_set_msg(c->aio, m);
    nng_send_aio(c->req, c->aio);
}

static void fanin_client_cb(void *arg) {
    struct fanin_client *c = arg;
    int rv = nng_aio_result(c->aio);
    if (rv != 0) fail(c->sending ? "req send" : "req recv", rv);
    if (c->sending) {
        c->sending = 0;
        nng_recv_aio(c->req, c->aio);
        return;
    }
    double dt = (now_s() - c->t) * 1e9;
    c->rtt[c->done++] = (uint64_t) dt;
    if (c->done < c->count) {
        fanin_send(c, nng_aio_get_msg(c->aio));
    } else {
        nng_msg_free(nng_aio_get_msg(c->aio));
        fanin_served();
    }
}

static void fanin_clients(const char *url, int clients, size_t size, long count) {
    int rv;
    if ((rv = nng_mtx_alloc(&fanin_mtx)) != 0) fail("nng_mtx_alloc", rv);
    if ((rv = nng_cv_alloc(&fanin_cv, fanin_mtx)) != 0) fail("nng_cv_alloc", rv);
    struct fanin_client *cs = calloc((size_t) clients, sizeof *cs);
    uint64_t *rtt = calloc((size_t) clients * (size_t) count, sizeof *rtt);
    for (int i = 0; i < clients; i++) {
        struct fanin_client *c = &cs[i];
        if ((rv = nng_req0_open(&c->req)) != 0) fail("nng_req0_open", rv);
        if (i == 0) {
            dial(c->req, url); /* the server may still be starting */
        } else if ((rv = dial_once(c->req, url)) != 0) {
            fail("nng_dial", rv);
        }
        if ((rv = nng_aio_alloc(&c->aio, fanin_client_cb, c)) != 0) fail("nng_aio_alloc", rv);
        c->count = count;
        c->size = size;
        c->rtt = rtt + (size_t) i * (size_t) count;
    }
    fanin_left = clients;
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        nng_msg *m;
        if ((rv = nng_msg_alloc(&m, size)) != 0) fail("nng_msg_alloc", rv);
        fanin_send(&cs[i], m);
    }
    nng_mtx_lock(fanin_mtx);
    while (fanin_left > 0) nng_cv_wait(fanin_cv);
    nng_mtx_unlock(fanin_mtx);
    double total = now_s() - t0;
    printf("clients: %d\n", clients);
    printf("message size: %zu [B]\n", size);
    printf("round trip count: %ld\n", count * clients);
    printf("total time: %.3f [s]\n", total);
    printf("throughput: %.0f [rt/s]\n", (double) (count * clients) / total);
    print_percentiles(rtt, count * clients);
    for (int i = 0; i < clients; i++) {
        nng_close(cs[i].req);
        nng_aio_free(cs[i].aio);
    }
    free(cs);
    free(rtt);
}

int main(int argc, char **argv) {
    if (argc < 2) goto usage;
    const char *mode = argv[1];
    if (strcmp(mode, "inproc_lat") == 0 || strcmp(mode, "inproc_thr") == 0) {
        if (argc != 4) goto usage;
        int lat = mode[7] == 'l';
        struct job j = {lat ? "inproc://nngperf_lat" : "inproc://nngperf_thr",
                        (size_t) number(argv[2], "size"), number(argv[3], "count"),
                        lat ? lat_server : thr_server};
        nng_thread *t;
        int rv;
        /* Clients redial until the server listens: start order does not matter. */
        if (lat) {
            if ((rv = nng_thread_create(&t, run_job, &j)) != 0) fail("thread", rv);
            lat_client(j.url, j.size, j.count);
        } else {
            j.run = thr_client;
            if ((rv = nng_thread_create(&t, run_job, &j)) != 0) fail("thread", rv);
            thr_server(j.url, j.size, j.count);
        }
        nng_thread_destroy(t);
        return 0;
    }
    if (strcmp(mode, "scale") == 0) {
        if (argc != 6) goto usage;
        scale(argv[2], (int) number(argv[3], "pairs"), (size_t) number(argv[4], "size"),
              number(argv[5], "count"));
        return 0;
    }
    if (strcmp(mode, "local_fanin") == 0) {
        if (argc != 5) goto usage;
        fanin_server(argv[2], (int) number(argv[3], "contexts"), number(argv[4], "total"));
        return 0;
    }
    if (strcmp(mode, "remote_fanin") == 0) {
        if (argc != 6) goto usage;
        fanin_clients(argv[2], (int) number(argv[3], "clients"), (size_t) number(argv[4], "size"),
                      number(argv[5], "count"));
        return 0;
    }
    if (argc != 5) goto usage;
    const char *url = argv[2];
    size_t size = (size_t) number(argv[3], "size");
    long count = number(argv[4], "count");
    if (strcmp(mode, "local_lat") == 0) lat_server(url, size, count);
    else if (strcmp(mode, "remote_lat") == 0) lat_client(url, size, count);
    else if (strcmp(mode, "local_thr") == 0) thr_server(url, size, count);
    else if (strcmp(mode, "remote_thr") == 0) thr_client(url, size, count);
    else goto usage;
    return 0;
usage:
    fprintf(stderr,
            "usage: nngperf local_lat|remote_lat|local_thr|remote_thr URL SIZE COUNT\n"
            "       nngperf inproc_lat|inproc_thr SIZE COUNT\n"
            "       nngperf scale URL PAIRS SIZE COUNT\n"
            "       nngperf local_fanin URL CONTEXTS TOTAL\n"
            "       nngperf remote_fanin URL CLIENTS SIZE COUNT\n");
    return 2;
}
