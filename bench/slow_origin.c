/* slow_origin.c - a fast HTTP/1.1 origin for the latency-bound fetch
 * benchmark: every reply waits a fixed delay (default 100 ms) before it is
 * sent, with keep-alive, on epoll threads sharing one port (SO_REUSEPORT).
 *
 * Why not tests/origin: it runs a thread per connection (libmicrohttpd), and
 * 1,000 connections each sleeping 100 ms would measure thread scheduling
 * rather than the fetcher. Why not nginx: it has no fixed-delay reply without
 * a third-party module (echo_sleep) or a slow upstream of its own. The delay
 * is the same for every request, so due times arrive in order and the timer
 * is a FIFO per thread, not a heap.
 *
 * Usage: slow_origin [--port P] [--delay-ms D] [--body N] [--threads T]
 * Prints "port P" on stdout once listening and runs until killed. Replies:
 * /robots.txt -> 404 at once; any other path -> 200 with N bytes of
 * image/jpeg after D ms. Counts requests and prints them on SIGTERM. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 65536
#define RBUF 8192

typedef struct conn {
    char in[RBUF];
    size_t inlen;
    const char *out;   /* reply being written (shared, static) */
    size_t outlen, outoff;
    bool pending;      /* a request waits for its delay */
    uint32_t gen;      /* bumped on close: stale timer entries are skipped */
} conn;

typedef struct due {
    double t;
    int fd;
    uint32_t gen;
} due;

typedef struct worker {
    int ep, lfd;
    due *q;            /* FIFO ring */
    size_t qcap, qhead, qlen;
    pthread_t th;
} worker;

static conn *g_conns[MAX_FD];
static char *g_ok, *g_404;
static size_t g_oklen, g_404len;
static double g_delay = 0.1;
static atomic_ulong g_requests, g_accepts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void q_push(worker *w, due d)
{
    if (w->qlen == w->qcap) {
        size_t nc = w->qcap ? w->qcap * 2 : 4096;
        due *nq = malloc(nc * sizeof *nq);
        for (size_t i = 0; i < w->qlen; i++)
            nq[i] = w->q[(w->qhead + i) % w->qcap];
        free(w->q);
        w->q = nq;
        w->qcap = nc;
        w->qhead = 0;
    }
    w->q[(w->qhead + w->qlen++) % w->qcap] = d;
}

static void close_conn(worker *w, int fd)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conn *c = g_conns[fd];
    c->inlen = 0;
    c->out = NULL;
    c->pending = false;
    c->gen++;
}

/* Writes what is left of c's reply; false when the connection died. */
static bool flush_out(worker *w, int fd, conn *c)
{
    while (c->out && c->outoff < c->outlen) {
        ssize_t n = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
            epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev);
            return true;
        }
        if (n <= 0)
            return false;
        c->outoff += (size_t)n;
    }
    if (c->out) {
        c->out = NULL;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return true;
}

static void reply(worker *w, int fd, conn *c, const char *r, size_t n)
{
    c->out = r;
    c->outlen = n;
    c->outoff = 0;
    if (!flush_out(w, fd, c))
        close_conn(w, fd);
}

/* Looks for a whole request in c->in; schedules or sends its reply. */
static void parse(worker *w, int fd, conn *c)
{
    while (!c->pending && !c->out) {
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t used = (size_t)(end - c->in) + 4;
        bool robots = c->inlen > 16 && !memcmp(c->in, "GET /robots.txt ", 16);
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        atomic_fetch_add(&g_requests, 1);
        if (robots) {
            reply(w, fd, c, g_404, g_404len);
        } else {
            c->pending = true;
            q_push(w, (due){now() + g_delay, fd, c->gen});
        }
    }
}

static void *run(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[512];
    for (;;) {
        int timeout = -1;
        double t = now();
        while (w->qlen) {
            due d = w->q[w->qhead];
            if (d.t > t) {
                timeout = (int)((d.t - t) * 1000) + 1;
                break;
            }
            w->qhead = (w->qhead + 1) % w->qcap;
            w->qlen--;
            conn *c = g_conns[d.fd];
            if (c && c->gen == d.gen && c->pending) {
                c->pending = false;
                reply(w, d.fd, c, g_ok, g_oklen);
                if (c->gen == d.gen)
                    parse(w, d.fd, c);
            }
        }
        int n = epoll_wait(w->ep, evs, 512, timeout);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == w->lfd) {
                int cfd;
                while ((cfd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (cfd >= MAX_FD) {
                        close(cfd);
                        continue;
                    }
                    atomic_fetch_add(&g_accepts, 1);
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (!g_conns[cfd])
                        g_conns[cfd] = calloc(1, sizeof(conn));
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(w->ep, EPOLL_CTL_ADD, cfd, &ev);
                }
                continue;
            }
            conn *c = g_conns[fd];
            if (evs[i].events & EPOLLOUT) {
                if (!flush_out(w, fd, c)) {
                    close_conn(w, fd);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(fd, c->in + c->inlen, RBUF - c->inlen, 0);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    close_conn(w, fd);
                    continue;
                }
                c->inlen += (size_t)r;
                if (c->inlen == RBUF) { /* no request is this big here */
                    close_conn(w, fd);
                    continue;
                }
                parse(w, fd, c);
            }
        }
    }
    return NULL;
}

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4096) != 0) {
        perror("bind/listen");
        exit(1);
    }
    return s;
}

static void on_term(int sig)
{
    (void)sig;
    char b[96];
    int n = snprintf(b, sizeof b, "requests %lu connections %lu\n",
                     (unsigned long)atomic_load(&g_requests),
                     (unsigned long)atomic_load(&g_accepts));
    ssize_t w = write(2, b, (size_t)n);
    (void)w;
    _exit(0);
}

int main(int argc, char **argv)
{
    int port = 0, threads = 1;
    long body = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--delay-ms"))
            g_delay = atof(argv[i + 1]) / 1000.0;
        else if (!strcmp(argv[i], "--body"))
            body = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--port P] [--delay-ms D] [--body N] [--threads T]\n",
                    argv[0]);
            return 2;
        }
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %ld\r\n\r\n",
                      body);
    g_oklen = (size_t)hl + (size_t)body;
    g_ok = malloc(g_oklen);
    memcpy(g_ok, head, (size_t)hl);
    memset(g_ok + hl, 0xAB, (size_t)body);
    static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    g_404 = (char *)nf;
    g_404len = sizeof nf - 1;
    worker *w = calloc((size_t)threads, sizeof *w);
    w[0].lfd = listen_on(port);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(w[0].lfd, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    for (int i = 0; i < threads; i++) {
        if (i)
            w[i].lfd = listen_on(port);
        w[i].ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = w[i].lfd};
        epoll_ctl(w[i].ep, EPOLL_CTL_ADD, w[i].lfd, &ev);
    }
    printf("port %d\n", port);
    fflush(stdout);
    for (int i = 1; i < threads; i++)
        pthread_create(&w[i].th, NULL, run, &w[i]);
    run(&w[0]);
    return 0;
}
