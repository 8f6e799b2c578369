/* bench/tracker/store_bench.c - the tracker store's hot path alone, without
 * HTTP: W workers each lease and complete jobs, the calls run in batches of
 * W through cs__tstore_calls (what the event loop's committer does). Prints
 * the CPU microseconds per newJob+markAsDone cycle, which do not depend on
 * what else the machine runs as much as wall times do.
 * Usage: bench_tracker_store DB|postgresql://... [seconds] [workers]
 * The store must already hold jobs (crawlset tracker add-jobs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tracker/store.h"

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') { /* --help: not a database file named "--help" */
        fprintf(stderr, "usage: %s DB [seconds] [workers]\n", argv[0]);
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 5;
    int nw = argc > 3 ? atoi(argv[3]) : 64;
    if (nw < 1 || nw > 256)
        nw = 64;
    char err[256];
    cs_tracker_store *s;
    if (cs_tracker_store_open(argv[1], &s, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 3;
    }
    char tokens[256][33];
    cs__tcall calls[256], *cp[256];
    for (int i = 0; i < nw; i++) {
        char nick[32], *dn = NULL;
        snprintf(nick, sizeof nick, "bench%d", i);
        if (cs__tstore_worker_new(s, nick, "HYBRID", cs__tnow_ms(), tokens[i], &dn)) {
            fprintf(stderr, "worker_new: %s\n", cs_tracker_store_errmsg());
            return 3;
        }
        free(dn);
        cp[i] = &calls[i];
    }
    long cycles = 0, errors = 0;
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    while (now_s(CLOCK_MONOTONIC) - w0 < secs) {
        for (int phase = 0; phase < 2; phase++) {
            for (int i = 0; i < nw; i++) {
                memset(&calls[i], 0, sizeof calls[i]);
                calls[i].complete = phase == 1;
                calls[i].token = tokens[i];
                calls[i].type = "HYBRID";
                calls[i].stage = 1;
                calls[i].count = 1;
                calls[i].now = cs__tnow_ms();
            }
            cs__tstore_calls(s, cp, (size_t)nw);
            for (int i = 0; i < nw; i++) {
                if (calls[i].st)
                    errors++;
                else if (phase == 1)
                    cycles++;
                cs_free(calls[i].job.input);
            }
        }
    }
    double wall = now_s(CLOCK_MONOTONIC) - w0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("store %s: %ld cycles in %.2fs wall, %.2fs CPU: %.1f us CPU per cycle, %.0f cycles/s"
           " (%ld errors)\n",
           strncmp(argv[1], "postgres", 8) ? "sqlite" : "postgresql", cycles, wall, cpu,
           cycles ? cpu * 1e6 / (double)cycles : 0.0, cycles / wall, errors);
    cs_tracker_store_free(s);
    return errors ? 1 : 0;
}
