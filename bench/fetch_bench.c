/* fetch_bench.c - drives the crawlset fetcher against a loopback origin
 * (bench/slow_origin) and reports requests/s, outcome counts, peak RSS and
 * CPU time, for bench/fetch.sh.
 *
 * Usage: fetch_bench --port P [--n N] [--parallel K] [--hosts H]
 *                    [--per-host L] [--no-robots]
 * URLs are http://hI.bench:P/img/J.jpg for I < H (each name resolved to
 * 127.0.0.1 by a resolve entry, so the fetcher sees H hosts, each with its
 * own robots.txt and per-host limit) and J < N, pulled lazily. Prints one
 * line of key=value pairs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "crawlset/fetch.h"

typedef struct feed {
    int port, hosts;
    long n, next;
    char buf[128];
    long ok, failed;
    long by[CS_FETCH__REASON_COUNT];
    double sum_request, sum_ttfb; /* libcurl's request and first-byte times, summed */
} feed;

static cs_status next_url(void *ud, cs_fetch_request *req)
{
    feed *f = ud;
    if (f->next == f->n)
        return CS_DONE;
    snprintf(f->buf, sizeof f->buf, "http://h%d.bench:%d/img/%ld.jpg",
             (int)(f->next % f->hosts), f->port, f->next);
    req->url = f->buf;
    f->next++;
    return CS_OK;
}

static cs_status on_done(void *ud, cs_fetch_result *r)
{
    feed *f = ud;
    f->by[r->reason]++;
    f->sum_request += r->t.request;
    f->sum_ttfb += r->t.ttfb;
    if (r->reason == CS_FETCH_OK)
        f->ok++;
    else
        f->failed++;
    return CS_OK;
}

int main(int argc, char **argv)
{
    feed fd;
    memset(&fd, 0, sizeof fd);
    fd.n = 20000;
    fd.hosts = 100;
    int parallel = 1000, per_host = 16;
    bool robots = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(a, "--port"))
            fd.port = atoi(v), i++;
        else if (!strcmp(a, "--n"))
            fd.n = atol(v), i++;
        else if (!strcmp(a, "--parallel"))
            parallel = atoi(v), i++;
        else if (!strcmp(a, "--hosts"))
            fd.hosts = atoi(v), i++;
        else if (!strcmp(a, "--per-host"))
            per_host = atoi(v), i++;
        else if (!strcmp(a, "--no-robots"))
            robots = false;
        else {
            fprintf(stderr, "usage: %s --port P [--n N] [--parallel K] [--hosts H] "
                            "[--per-host L] [--no-robots]\n", argv[0]);
            return 2;
        }
    }
    if (!fd.port || fd.hosts < 1)
        return 2;
    char **entries = calloc((size_t)fd.hosts + 1, sizeof *entries);
    for (int i = 0; i < fd.hosts; i++) {
        entries[i] = malloc(64);
        snprintf(entries[i], 64, "h%d.bench:%d:127.0.0.1", i, fd.port);
    }
    cs_fetch_opts o;
    cs_fetch_opts_init(&o);
    o.parallel = parallel;
    o.per_host = per_host;
    o.resolve = (const char *const *)entries;
    o.ignore_robots_txt = !robots;
    o.proxy = ""; /* loopback: never through an environment proxy */
    o.max_queued = (size_t)parallel * 4;
    cs_fetch *f;
    if (cs_fetch_new(&f, &o) != CS_OK) {
        fprintf(stderr, "cs_fetch_new failed\n");
        return 1;
    }
    double t0 = cs_now();
    cs_status st = cs_fetch_run(f, next_url, on_done, &fd);
    double secs = cs_now() - t0;
    cs_fetch_stats s;
    cs_fetch_stats_get(f, &s);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("status=%s urls=%ld ok=%ld failed=%ld seconds=%.3f req_per_s=%.0f requests=%llu "
           "robots=%llu peak_in_flight=%d peak_rss_mb=%ld cpu_s=%.2f avg_request_ms=%.1f "
           "avg_ttfb_ms=%.1f",
           cs_status_name(st), fd.n, fd.ok, fd.failed, secs,
           (double)s.requests / secs, (unsigned long long)s.requests,
           (unsigned long long)s.robots_fetches, s.peak_in_flight, ru.ru_maxrss / 1024, cpu,
           1000 * fd.sum_request / (double)fd.n, 1000 * fd.sum_ttfb / (double)fd.n);
    for (int r = 1; r < CS_FETCH__REASON_COUNT; r++)
        if (fd.by[r])
            printf(" %s=%ld", cs_fetch_reason_name((cs_fetch_reason)r), fd.by[r]);
    printf("\n");
    cs_fetch_free(f);
    for (int i = 0; i < fd.hosts; i++)
        free(entries[i]);
    free(entries);
    return st == CS_OK ? 0 : 1;
}
