/* cmd_tracker.c - `crawlset tracker serve|add-jobs|status`: the job tracker's
 * server and its store administration. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: crawlset tracker serve --db DB --listen HOST:PORT [options]\n"
            "       crawlset tracker add-jobs --db DB [--id-step N] LIST\n"
            "       crawlset tracker status --db DB\n"
            "\n"
            "The Crawling@Home job tracker: hands out jobs to CPU, GPU and HYBRID workers\n"
            "over HTTP (paths under /api/), with a read-only dashboard at /.\n"
            "\n"
            "DB is an SQLite file (created when missing; the default kind, no setup) or a\n"
            "postgresql://user@host:port/dbname URL (several trackers may share one).\n"
            "\n"
            "serve options:\n"
            "  --listen HOST:PORT      address to serve on (default 127.0.0.1:8080)\n"
            "  --idle-timeout S        re-open the jobs of workers unseen for S seconds (7200)\n"
            "  --admin-key K           enable admin calls (POST /api/admin/addJobs) with key K\n"
            "                          (or CRAWLSET_TRACKER_ADMIN_KEY)\n"
            "  --upload-address ADDR   the upload address handed to workers\n"
            "  --threads N             threads for calls other than newJob/markAsDone\n"
            "                          (default 4, at most 16; one event loop serves HTTP\n"
            "                          and one thread commits newJob/markAsDone in batches)\n"
            "  --invalid-threshold N   flagInvalidData reports that roll a job back (3)\n"
            "  --max-body BYTES        request body limit (65536)\n"
            "\n"
            "add-jobs: LIST has one input per line (paths, URLs, or a Common Crawl\n"
            "wat.paths.gz); each input becomes two jobs (shard pieces 0 and 1) with\n"
            "consecutive id ranges of --id-step ids (1000000), after the highest id so far.\n"
            "\n"
            "status: prints the job counts per stage, workers and leaderboard as JSON.\n"
            "SIGTERM or SIGINT stops the server cleanly; state lives in the store.\n");
}

static const char *arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_err("%s needs a value", argv[*i]);
        exit(CLI_EXIT_USAGE);
    }
    return argv[++*i];
}

static unsigned long parse_num(const char *opt, const char *v)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || v[0] == '-') {
        cli_err("%s: '%s' is not a non-negative number", opt, v);
        exit(CLI_EXIT_USAGE);
    }
    return n;
}

static int serve(int argc, char **argv)
{
    cs_tracker_options o = {0};
    const char *listen = "127.0.0.1:8080";
    o.admin_key = getenv("CRAWLSET_TRACKER_ADMIN_KEY");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db"))
            o.db = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--listen"))
            listen = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--idle-timeout")) {
            const char *v = arg_value(argc, argv, &i);
            char *end;
            o.idle_timeout = strtod(v, &end);
            if (*end || o.idle_timeout <= 0) {
                cli_err("--idle-timeout: '%s' is not a positive number of seconds", v);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--admin-key"))
            o.admin_key = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--upload-address"))
            o.upload_address = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--threads"))
            o.threads = (unsigned)parse_num(a, arg_value(argc, argv, &i));
        else if (!strcmp(a, "--invalid-threshold"))
            o.invalid_threshold = (unsigned)parse_num(a, arg_value(argc, argv, &i));
        else if (!strcmp(a, "--max-body"))
            o.max_body = parse_num(a, arg_value(argc, argv, &i));
        else {
            cli_err("tracker serve: unknown option '%s'", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (!o.db) {
        cli_err("tracker serve: --db is required");
        return CLI_EXIT_USAGE;
    }
    /* SIGTERM/SIGINT are blocked in every thread (the server's threads
     * inherit the mask) and taken by sigwait below: a clean stop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* A long-running server keeps the heap it grew: glibc's default trims a
     * thread's heap back to the kernel whenever a free leaves 128 KiB on
     * top, and SQLite's per-statement savepoints did that on nearly every
     * call (one madvise per call, a TLB shootdown on every core, then page
     * faults to take the memory back). */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    char err[CS_ERRMSG_MAX];
    cs_tracker *t;
    cs_status st = cs_tracker_new(&o, &t, err, sizeof err);
    if (st)
        cli_die("tracker: %s: %s", o.db, err[0] ? err : cs_strerror(st));
    uint16_t port = 0;
    st = cs_tracker_listen(t, listen, &port, err, sizeof err);
    if (st) {
        cs_tracker_free(t);
        cli_die("tracker: %s", err);
    }
    fprintf(stderr, "crawlset: tracker serving %s on port %u\n", o.db, (unsigned)port);
    /* a line on stdout tells scripts and tests the port (for --listen HOST:0) */
    printf("listening %u\n", (unsigned)port);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "crawlset: tracker stopping\n");
    cs_tracker_free(t);
    return CLI_EXIT_OK;
}

/* The store at db, or the command ends (exit 3) saying why. */
static cs_tracker_store *open_store(const char *db)
{
    char err[CS_ERRMSG_MAX];
    cs_tracker_store *s;
    cs_status st = cs_tracker_store_open(db, &s, err, sizeof err);
    if (st)
        cli_die("tracker: %s: %s", db, err[0] ? err : cs_strerror(st));
    return s;
}

static int add_jobs(int argc, char **argv)
{
    const char *db = NULL, *list = NULL;
    uint64_t step = 1000000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db"))
            db = arg_value(argc, argv, &i);
        else if (!strcmp(a, "--id-step")) {
            step = parse_num(a, arg_value(argc, argv, &i));
            if (!step) {
                cli_err("--id-step must be at least 1");
                return CLI_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_err("tracker add-jobs: unknown option '%s'", a);
            return CLI_EXIT_USAGE;
        } else if (!list)
            list = a;
        else {
            cli_err("tracker add-jobs: one LIST only");
            return CLI_EXIT_USAGE;
        }
    }
    if (!db || !list) {
        cli_err("tracker add-jobs: --db and LIST are required");
        return CLI_EXIT_USAGE;
    }
    cs_tracker_store *s = open_store(db);
    size_t added = 0;
    cs_status st = cs_tracker_add_jobs_file(s, list, step, &added);
    cs_tracker_store_free(s);
    if (st)
        cli_die("tracker add-jobs: %s (%zu jobs were added before)", cs_tracker_store_errmsg(),
                added);
    printf("added %zu jobs\n", added);
    return CLI_EXIT_OK;
}

static int status(int argc, char **argv)
{
    const char *db = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db"))
            db = arg_value(argc, argv, &i);
        else {
            cli_err("tracker status: unknown option '%s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!db) {
        cli_err("tracker status: --db is required");
        return CLI_EXIT_USAGE;
    }
    cs_tracker_store *s = open_store(db);
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_status st = cs_tracker_store_status_json(s, &b);
    cs_tracker_store_free(s);
    if (st) {
        cs_buf_cleanup(&b);
        cli_die("tracker status: %s", cs_tracker_store_errmsg());
    }
    printf("%s\n", b.data);
    cs_buf_cleanup(&b);
    return CLI_EXIT_OK;
}

int cmd_tracker(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "serve"))
        return serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "add-jobs"))
        return add_jobs(argc - 1, argv + 1);
    if (!strcmp(argv[1], "status"))
        return status(argc - 1, argv + 1);
    cli_err("tracker: unknown subcommand '%s'", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
