/* main.c - `cs-origin`: serves a directory on loopback (with Range support)
 * until killed, for benchmarks and the README demo. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "origin.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cs-origin --root DIR [--port N] [--host 127.0.0.1]\n"
               "Serves the files under DIR over HTTP on the loopback interface (Range\n"
               "requests supported, '..' refused) and prints the URL it listens on.\n");
}

int main(int argc, char **argv)
{
    const char *root = NULL, *host = "127.0.0.1";
    long port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc) {
            root = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "cs-origin: bad port '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            host = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!root) {
        usage(stderr);
        return 2;
    }
    if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost")) {
        fprintf(stderr, "cs-origin: only 127.0.0.1 is supported (a test server must not be "
                        "reachable from other machines)\n");
        return 2;
    }
    cs_origin_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.port = (uint16_t)port;
    opts.root = root;
    cs_origin *o;
    cs_status st = cs_origin_start_opts(&o, &opts);
    if (st) {
        fprintf(stderr, "cs-origin: cannot listen on 127.0.0.1:%ld: %s\n", port, cs_strerror(st));
        return 3;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("%s/\n", cs_origin_url(o));
    fflush(stdout);
    while (!g_stop)
        pause();
    cs_origin_stop(o);
    return 0;
}
