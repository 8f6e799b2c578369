/* cmd_worker.c - `crawlset worker`: a tracker worker. Loops new job -> run
 * the pipeline for it -> complete, with the tracker client (crawlset/client.h).
 *
 *   CPU     the job's input (a WAT path or URL) through the `pairs` pipeline
 *           without scoring into OUT/job-<start_id>/, then a manifest
 *           (_job.json); completes with the output's URL, which becomes a GPU
 *           job.
 *   GPU     fetches a CPU worker's output (manifest and shards) and scores
 *           it: a pass-through stage until CLIP scoring arrives (its stats
 *           say so); completes with the pair count.
 *   HYBRID  both in one process; completes with the pair count.
 *
 * SIGTERM/SIGINT: the job in progress stops (no more rows, transfers in
 * flight dropped through the download's cancel flag) and is handed back
 * with bye; the worker then leaves. A job is never silently dropped. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crawlset/client.h"
#include "crawlset/pipe.h"
#include "crawlset/urllist.h"

static volatile sig_atomic_t g_stop;
static volatile int g_stop_int; /* the client's cancel flag mirrors g_stop */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    g_stop_int = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: crawlset worker --tracker URL --type cpu|gpu|hybrid --nickname N [OPTIONS]\n"
            "\n"
            "Works for a crawlset tracker: takes a job, runs the pipeline for it, completes\n"
            "it, and again. CPU and HYBRID workers run `pairs` on the job's WAT (the half\n"
            "named by its shard piece); CPU workers complete with the URL of their output,\n"
            "which GPU workers fetch and score. Scoring is a pass-through until CLIP\n"
            "scoring arrives (the scoring stats say so).\n"
            "\n"
            "worker:\n"
            "  --tracker URL              the tracker (required)\n"
            "  --type T                   cpu, gpu or hybrid (required)\n"
            "  --nickname N               name on the leaderboard (default anonymous)\n"
            "  --out DIR|URL              where job outputs go (default worker-out, or for a\n"
            "                             CPU worker the tracker's upload address when it is\n"
            "                             an http(s) URL); a URL is an HTTP PUT store (as\n"
            "                             `pairs --out`)\n"
            "  --public-url URL           CPU with a directory --out: the URL under which\n"
            "                             other machines see DIR (default: its local path)\n"
            "  --work DIR                 scratch for downloaded inputs (default OUT/_work,\n"
            "                             or a temporary directory with a URL --out)\n"
            "  --state FILE               keep the client here (dump/load): a restarted\n"
            "                             worker resumes with the same token and job\n"
            "  --once                     one job (or none) and exit\n"
            "  --max-jobs N               exit after N jobs (done or reported as invalid)\n"
            "  --max-idle S               exit after S seconds without a job (default: never)\n"
            "  --idle-wait S              first wait when no job is open (default 1; doubles\n"
            "                             up to 60, with jitter)\n"
            "  --log-interval S           seconds between progress reports (default 10)\n"
            "  --retries N                tracker call retries (default 5)\n"
            "pairs (CPU, HYBRID):\n"
            "  --image-size N  --threads N  --parallel N  --timeout S  --samples-per-shard N\n"
            "  --download-retries N (image fetches; default 2)\n"
            "  --ignore-robots-txt  --resolve HOST:PORT:ADDR  --connect-to H:P:H2:P2\n"
            "\n"
            "Exit codes: 0 done (no job left with --once/--max-idle, --max-jobs reached, or\n"
            "stopped by a signal with the job handed back), 1 some job inputs were bad\n"
            "(reported with flagInvalidData / gpuInvalidDownload), 2 usage, 3 fatal (the\n"
            "tracker refused the worker, a job could not be completed).\n");
}

enum {
    O_TRACKER = 256, O_TYPE, O_NICK, O_OUT, O_PUBLIC, O_WORK, O_STATE, O_ONCE, O_MAXJOBS,
    O_MAXIDLE, O_IDLEWAIT, O_LOGINT, O_RETRIES, O_SIZE, O_THREADS, O_PARALLEL, O_TIMEOUT,
    O_SPS, O_NOROBOTS, O_RESOLVE, O_CONNECT, O_DLRETRIES, O_HELP,
};

static const struct option LONGOPTS[] = {
    {"tracker", required_argument, NULL, O_TRACKER},
    {"type", required_argument, NULL, O_TYPE},
    {"nickname", required_argument, NULL, O_NICK},
    {"out", required_argument, NULL, O_OUT},
    {"public-url", required_argument, NULL, O_PUBLIC},
    {"work", required_argument, NULL, O_WORK},
    {"state", required_argument, NULL, O_STATE},
    {"once", no_argument, NULL, O_ONCE},
    {"max-jobs", required_argument, NULL, O_MAXJOBS},
    {"max-idle", required_argument, NULL, O_MAXIDLE},
    {"idle-wait", required_argument, NULL, O_IDLEWAIT},
    {"log-interval", required_argument, NULL, O_LOGINT},
    {"retries", required_argument, NULL, O_RETRIES},
    {"image-size", required_argument, NULL, O_SIZE},
    {"threads", required_argument, NULL, O_THREADS},
    {"parallel", required_argument, NULL, O_PARALLEL},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"samples-per-shard", required_argument, NULL, O_SPS},
    {"ignore-robots-txt", no_argument, NULL, O_NOROBOTS},
    {"resolve", required_argument, NULL, O_RESOLVE},
    {"connect-to", required_argument, NULL, O_CONNECT},
    {"download-retries", required_argument, NULL, O_DLRETRIES},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct worker {
    const char *tracker, *nickname, *out, *public_url, *state;
    char work[2048];
    char out_buf[2048];  /* --out taken from the tracker's upload address */
    bool out_given;
    cs_client_type type;
    bool type_set, once, out_is_url;
    long max_jobs;
    double max_idle, idle_wait, log_interval;
    cs_client_opts co;
    cs_download_opts dl;
    const char *resolve[17], *connect[17];
    int nresolve, nconnect;
    cs_client *c;    /* the worker */
    cs_client *plog; /* a copy for progress reports from the fetch thread: no
                        retries, so a slow tracker never stalls the pipeline */
    double last_log;
    long jobs_done;
    long jobs_given_up;  /* inputs reported as invalid */
} worker;

static bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int parse(worker *w, int argc, char **argv)
{
    int ch;
    double v;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", LONGOPTS, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case O_TRACKER: w->tracker = a; break;
        case O_TYPE:
            if (!cs_client_type_parse(a, &w->type)) {
                cli_err("--type: cpu, gpu or hybrid");
                return CLI_EXIT_USAGE;
            }
            w->type_set = true;
            break;
        case O_NICK: w->nickname = a; break;
        case O_OUT:
            w->out = a;
            w->out_given = true;
            break;
        case O_PUBLIC: w->public_url = a; break;
        case O_WORK: snprintf(w->work, sizeof w->work, "%s", a); break;
        case O_STATE: w->state = a; break;
        case O_ONCE: w->once = true; break;
        case O_MAXJOBS:
            if (!num(a, 1, 1e12, &v)) goto bad;
            w->max_jobs = (long)v;
            break;
        case O_MAXIDLE:
            if (!num(a, 0, 1e9, &v)) goto bad;
            w->max_idle = v;
            break;
        case O_IDLEWAIT:
            if (!num(a, 0.001, 3600, &v)) goto bad;
            w->idle_wait = v;
            break;
        case O_LOGINT:
            if (!num(a, 0, 86400, &v)) goto bad;
            w->log_interval = v;
            break;
        case O_RETRIES:
            if (!num(a, 0, 1000, &v)) goto bad;
            w->co.retries = (unsigned)v;
            break;
        case O_SIZE:
            if (!num(a, 1, 65535, &v)) goto bad;
            w->dl.image.image_size = (int)v;
            break;
        case O_THREADS:
            if (!num(a, 0, 1024, &v)) goto bad;
            w->dl.threads = (int)v;
            break;
        case O_PARALLEL:
            if (!num(a, 1, 100000, &v)) goto bad;
            w->dl.fetch.parallel = (int)v;
            break;
        case O_TIMEOUT:
            if (!num(a, 0, 86400, &v)) goto bad;
            w->dl.fetch.timeout = v;
            break;
        case O_SPS:
            if (!num(a, 1, 1e9, &v)) goto bad;
            w->dl.dataset.samples_per_shard = (uint64_t)v;
            break;
        case O_NOROBOTS: w->dl.fetch.ignore_robots_txt = true; break;
        case O_DLRETRIES:
            if (!num(a, 0, 1000, &v)) goto bad;
            w->dl.fetch.retries = (int)v;
            break;
        case O_RESOLVE:
        case O_CONNECT: {
            const char **list = ch == O_RESOLVE ? w->resolve : w->connect;
            int *n = ch == O_RESOLVE ? &w->nresolve : &w->nconnect;
            if (*n >= 16) {
                cli_err("--%s: at most 16", LONGOPTS[ch - O_TRACKER].name);
                return CLI_EXIT_USAGE;
            }
            list[(*n)++] = a;
            list[*n] = NULL;
            if (ch == O_RESOLVE)
                w->dl.fetch.resolve = w->resolve;
            else
                w->dl.fetch.connect_to = w->connect;
            break;
        }
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: return CLI_EXIT_USAGE;
        }
        continue;
    bad:
        cli_err("--%s: bad value '%s'", LONGOPTS[ch - O_TRACKER].name, a);
        return CLI_EXIT_USAGE;
    }
    if (optind != argc) {
        cli_err("worker: unexpected argument '%s' (see --help)", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!w->tracker || !w->type_set) {
        cli_err("worker: --tracker URL and --type cpu|gpu|hybrid are required (see --help)");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/* ---- helpers --------------------------------------------------------------------- */

static int mkdirs(const char *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0777);
            *s = '/';
        }
    return mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
}

static void rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (!lstat(p, &sb) && S_ISDIR(sb.st_mode))
                rmtree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Sleeps s seconds, waking early on a signal. */
static void nap(double s)
{
    double end = cs_now() + s;
    while (!g_stop) {
        double left = end - cs_now();
        if (left <= 0)
            break;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void report(worker *w, const char *fmt, ...) CS_PRINTF(2, 3);
static void report(worker *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "crawlset: worker %s: %s\n", cs_client_display_name(w->c), line);
    if (cs_client_log(w->c, line))
        cli_err("worker: progress not reported: %s", cs_client_errmsg(w->c));
}

static void save_state(worker *w)
{
    if (w->state && cs_client_dump_file(w->c, w->state))
        cli_err("worker: cannot write the state file %s", w->state);
}

/* ---- CPU / HYBRID: pairs over the job's half of the WAT --------------------------- */

typedef struct job_rows {
    cs_urllist_reader *spool; /* the input's candidates, read back */
    uint64_t skip;           /* rows of the other half before ours */
    uint64_t take;           /* rows of ours */
    uint64_t seen, given;
    uint64_t start_id;
    cs_urllist_row row;
    cs_urllist_column cols[4];
    char id[24];
} job_rows;

static cs_status job_rows_next(void *ud, const cs_urllist_row **out)
{
    job_rows *j = ud;
    for (;;) {
        if (g_stop)
            return CS_ECANCELED; /* stops the run; the job is handed back */
        if (j->given >= j->take)
            return CS_DONE;
        const cs_urllist_row *r;
        cs_status st = cs_urllist_next(j->spool, &r);
        if (st == CS_EFORMAT || st == CS_ETOOBIG) { /* not as written: keep the count */
            cli_err("worker: %s", cs_urllist_errmsg(j->spool));
            j->seen++;
            continue;
        }
        if (st)
            return st;
        if (j->seen++ < j->skip)
            continue;
        j->row = *r;
        size_t n = r->ncolumns < 3 ? r->ncolumns : 3;
        memcpy(j->cols, r->columns, n * sizeof *j->cols);
        /* the sample's id in the job's range, as Crawling@Home numbered them */
        snprintf(j->id, sizeof j->id, "%llu", (unsigned long long)(j->start_id + j->given));
        j->cols[n] = (cs_urllist_column){.name = "id", .value = j->id};
        j->row.columns = j->cols;
        j->row.ncolumns = n + 1;
        j->given++;
        *out = &j->row;
        return CS_OK;
    }
}

static void on_progress(const cs_download_stats *s, void *ud)
{
    worker *w = ud;
    if (g_stop)
        return;
    double now = cs_now();
    if (now - w->last_log < w->log_interval)
        return;
    w->last_log = now;
    char line[200];
    snprintf(line, sizeof line, "pairs: %llu rows, %llu ok, %llu failed",
             (unsigned long long)s->rows, (unsigned long long)s->ok,
             (unsigned long long)(s->failed_download + s->failed_image));
    if (w->plog)
        (void)!cs_client_log(w->plog, line);
}

/* Writes all of p[0..n) to fd; false with errno set on failure. */
static bool write_fd(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads the input's candidates once into fd (an unlinked temporary file),
 * as `crawlset wat links` JSON Lines (url, alt, page); *total = rows. The
 * shard piece is half of them, which needs their count before the first
 * one is used; counting them in a first pass parsed the whole WAT (gunzip
 * and JSON) twice. */
static cs_status spool_candidates(const char *input, int fd, uint64_t *total)
{
    const char *paths[1] = {input};
    cs_pipe_wat_rows *wat;
    cs_status st = cs_pipe_wat_rows_new(&wat, paths, 1, cli_threads());
    if (st)
        return st;
    cs_buf b;
    cs_buf_init(&b, 0);
    const cs_urllist_row *r;
    bool wr_fail = false;
    *total = 0;
    while (!g_stop && (st = cs_pipe_wat_rows_next(wat, &r)) == CS_OK) {
        const char *page = r->ncolumns ? r->columns[0].value : NULL;
        st = cs_buf_puts(&b, "{\"url\":");
        if (!st)
            st = cs_json_put_str(&b, r->url, strlen(r->url));
        if (!st)
            st = cs_buf_puts(&b, ",\"alt\":");
        if (!st)
            st = r->caption ? cs_json_put_str(&b, r->caption, strlen(r->caption))
                            : cs_buf_puts(&b, "null");
        if (!st)
            st = cs_buf_puts(&b, ",\"page\":");
        if (!st)
            st = page ? cs_json_put_str(&b, page, strlen(page)) : cs_buf_puts(&b, "null");
        if (!st)
            st = cs_buf_puts(&b, "}\n");
        if (st)
            break;
        (*total)++;
        if (b.len >= (1u << 20)) {
            if (!write_fd(fd, b.data, b.len)) {
                wr_fail = true;
                st = CS_EIO;
                break;
            }
            b.len = 0;
        }
    }
    if (st == CS_DONE) {
        wr_fail = b.len && !write_fd(fd, b.data, b.len);
        st = wr_fail ? CS_EIO : CS_OK;
    }
    if (wr_fail)
        cli_err("worker: writing the candidates to a temporary file: %s", strerror(errno));
    else if (st && !g_stop)
        cli_err("worker: %s: %s", input, cs_strerror(st));
    cs_buf_cleanup(&b);
    uint64_t recs, errs;
    cs_pipe_wat_rows_counts(wat, &recs, &errs);
    cs_pipe_wat_rows_free(wat);
    if (g_stop)
        return CS_ECANCELED;
    if (!st && recs == 0 && errs > 0) {
        cli_err("worker: %s: no readable WAT record (%llu malformed)", input,
                (unsigned long long)errs);
        return CS_EFORMAT;
    }
    return st;
}

/* An unlinked temporary file in dir (the worker's --work directory, where
 * the input lies too), open for reading and writing; -1 with a message on
 * failure. */
static int temp_fd(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.candidates.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        cli_err("worker: cannot create a temporary file in %s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(path); /* gone with the process, however it ends */
    return fd;
}

/* Runs pairs for the held job into outdir; *pairs = samples written. Returns
 * CS_ECANCELED when stopped by a signal. */
static cs_status run_pairs(worker *w, const char *input, const char *outdir, uint64_t *pairs,
                           uint64_t *rows_out)
{
    const cs_client_job *job = cs_client_job_get(w->c);
    uint64_t total = 0;
    int fd = temp_fd(w->work);
    if (fd < 0)
        return CS_EIO;
    cs_status st = spool_candidates(input, fd, &total);
    if (st) {
        close(fd);
        return st;
    }
    job_rows jr = {.start_id = job->start_id};
    uint64_t half = total / 2;
    jr.skip = job->shard_piece ? half : 0;
    jr.take = job->shard_piece ? total - half : half;
    uint64_t range = job->end_id - job->start_id;
    if (range && jr.take > range) {
        cli_err("worker: %llu candidates, the job's id range has %llu: the rest is left out",
                (unsigned long long)jr.take, (unsigned long long)range);
        jr.take = range;
    }
    report(w, "pairs: %llu candidates in the input, %llu in shard piece %d",
           (unsigned long long)total, (unsigned long long)jr.take, job->shard_piece);
    cs_urllist_opts uo = {.format = CS_URLLIST_WAT_LINKS, .max_line = (size_t)64 << 20};
    if (lseek(fd, 0, SEEK_SET) != 0 ||
        (st = cs_urllist_open_fd(&jr.spool, fd, "candidates", &uo)) != CS_OK) {
        cli_err("worker: reading the candidates back: %s",
                jr.spool ? cs_urllist_errmsg(jr.spool) : strerror(errno));
        cs_urllist_free(jr.spool);
        close(fd);
        return st ? st : CS_EIO;
    }
    cs_download_opts o = w->dl;
    o.progress = on_progress;
    o.progress_ud = w;
    o.cancel = &g_stop_int; /* a signal also drops the transfers in flight */
    w->last_log = cs_now();
    cs_download_stats s;
    char err[CS_ERRMSG_MAX];
    st = cs_download_run(&o, outdir, job_rows_next, &jr, &s, err, sizeof err);
    cs_urllist_free(jr.spool);
    close(fd);
    if (st == CS_ECANCELED || g_stop)
        return CS_ECANCELED;
    if (st) {
        cli_err("worker: pairs: %s", err);
        return st;
    }
    *pairs = s.ok;
    *rows_out = s.rows;
    report(w, "pairs: %llu rows, %llu ok, %llu failed to download, %llu failed to resize",
           (unsigned long long)s.rows, (unsigned long long)s.ok,
           (unsigned long long)s.failed_download, (unsigned long long)s.failed_image);
    return CS_OK;
}

/* The files of a webdataset output of `rows` rows: NNNNN.tar, .jsonl,
 * _stats.json per shard. */
static char **shard_files(const worker *w, uint64_t rows, size_t *n)
{
    uint64_t sps = w->dl.dataset.samples_per_shard ? w->dl.dataset.samples_per_shard : 10000;
    uint64_t shards = (rows + sps - 1) / sps;
    if (shards > 30000)
        shards = 30000;
    char **v = calloc(shards * 3 + 1, sizeof *v);
    if (!v)
        cli_die("out of memory");
    static const char *const ext[] = {".tar", ".jsonl", "_stats.json"};
    for (uint64_t i = 0; i < shards; i++)
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof name, "%05llu%s", (unsigned long long)i, ext[k]);
            if (!(v[i * 3 + k] = strdup(name)))
                cli_die("out of memory");
        }
    *n = shards * 3;
    return v;
}

static void free_files(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- scoring (GPU, HYBRID): a pass-through until CLIP scoring arrives ------------- */

#define SCORING_NOTE                                                                       \
    "pass-through: CLIP scoring is not yet implemented (it arrives with the CLIP "         \
    "issue); every pair is kept unscored"

/* Counts the successful samples of the .jsonl files in dir (the pairs) and
 * writes stats_dir/_scoring_stats.json. */
static cs_status score_dir(const char *dir, const char *stats_dir, uint64_t *pairs)
{
    uint64_t ok = 0, rows = 0, files = 0;
    DIR *d = opendir(dir);
    if (!d) {
        cli_err("worker: %s: %s", dir, strerror(errno));
        return CS_EIO;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 6, ".jsonl"))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        files++;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
            rows++;
            ok += strstr(line, "\"status\":\"success\"") != NULL;
        }
        free(line);
        fclose(f);
    }
    closedir(d);
    char p[PATH_MAX], body[768];
    snprintf(p, sizeof p, "%s/_scoring_stats.json", stats_dir);
    int len = snprintf(body, sizeof body,
                       "{\"stage\":\"score\",\"scorer\":\"none\",\"clip\":\"%s\","
                       "\"metadata_files\":%llu,\"rows\":%llu,\"pairs_in\":%llu,"
                       "\"pairs_kept\":%llu}\n",
                       SCORING_NOTE, (unsigned long long)files, (unsigned long long)rows,
                       (unsigned long long)ok, (unsigned long long)ok);
    FILE *f = fopen(p, "w");
    if (!f || fwrite(body, 1, (size_t)len, f) != (size_t)len || fclose(f)) {
        cli_err("worker: %s: cannot write: %s", p, strerror(errno));
        return CS_EIO;
    }
    fprintf(stderr, "crawlset: worker: scoring: %s; %llu pairs kept\n", SCORING_NOTE,
            (unsigned long long)ok);
    *pairs = ok;
    return CS_OK;
}

/* ---- one job ------------------------------------------------------------------------ */

typedef enum {
    JOB_DONE,     /* completed */
    JOB_RETURNED, /* stopped by a signal: bye hands it back */
    JOB_GAVE_UP,  /* bad input, reported and released */
    JOB_LOST,     /* the tracker timed this worker out */
    JOB_FATAL,
} job_end;

/* What to do with a job that could not be done: its input is bad, so tell
 * the tracker (GPU: invalidURL, else flagInvalidData) rather than let it
 * time out. */
static job_end give_up(worker *w, cs_status why)
{
    cs_status st = w->type == CS_CLIENT_GPU ? cs_client_invalid_url(w->c)
                                            : cs_client_flag_invalid_data(w->c);
    if (st) {
        cli_err("worker: cannot report the bad input: %s", cs_client_errmsg(w->c));
        return JOB_FATAL;
    }
    cli_err("worker: job input reported as invalid (%s)", cs_strerror(why));
    w->jobs_given_up++;
    return JOB_GAVE_UP;
}

/* Completes the job. The work is done, so a tracker that is down (no
 * answer, 5xx) is waited for longer than one call's retries: up to six more
 * rounds, 5 s apart, unless a signal asks to leave. */
static cs_status complete(worker *w, uint64_t pairs, const char *url)
{
    cs_status st;
    for (int round = 0;; round++) {
        st = cs_client_complete_job(w->c, pairs, url);
        if ((st != CS_ENET && st != CS_ESERVER) || round >= 6 || g_stop)
            return st;
        cli_err("worker: completing the job: %s; trying again", cs_client_errmsg(w->c));
        nap(5);
    }
}

static job_end run_job(worker *w)
{
    const cs_client_job *job = cs_client_job_get(w->c);
    char jobname[64], outdir[PATH_MAX], indir[PATH_MAX];
    snprintf(jobname, sizeof jobname, "job-%llu", (unsigned long long)job->start_id);
    snprintf(outdir, sizeof outdir, "%s/%s", w->out, jobname);
    /* downloads: a GPU worker's input is its output's first part */
    if (w->type == CS_CLIENT_GPU && !w->out_is_url)
        snprintf(indir, sizeof indir, "%s", outdir);
    else
        snprintf(indir, sizeof indir, "%s/%s", w->work, jobname);
    fprintf(stderr, "crawlset: worker %s: job %s (ids %llu-%llu, piece %d)\n",
            cs_client_display_name(w->c), job->url, (unsigned long long)job->start_id,
            (unsigned long long)job->end_id, job->shard_piece);

    char *input = NULL;
    cs_status st = cs_client_download_shard(w->c, indir, &input);
    if (g_stop)
        goto stopped;
    if (st == CS_EWORKER)
        return JOB_LOST;
    if (st) {
        cli_err("worker: cannot get the job's input: %s", cs_client_errmsg(w->c));
        if (st == CS_ENOTFOUND || st == CS_EHTTP || st == CS_EFORMAT || st == CS_EUNSUPPORTED ||
            st == CS_ETOOBIG)
            return give_up(w, st);
        return JOB_FATAL;
    }

    uint64_t pairs = 0, rows = 0;
    if (w->type == CS_CLIENT_GPU) {
        /* the scoring stats go with our output (the input, when it is a
           local CPU output, is read where it lies) */
        const char *stats_dir = w->out_is_url ? indir : outdir;
        if (mkdirs(stats_dir)) {
            cli_err("worker: %s: %s", stats_dir, strerror(errno));
            cs_free(input);
            return JOB_FATAL;
        }
        st = score_dir(input, stats_dir, &pairs);
        cs_free(input);
        if (st)
            return give_up(w, st);
        report(w, "scored %llu pairs (pass-through)", (unsigned long long)pairs);
        st = complete(w, pairs, NULL);
    } else {
        if (!w->out_is_url && mkdirs(outdir)) {
            cli_err("worker: %s: %s", outdir, strerror(errno));
            cs_free(input);
            return JOB_FATAL;
        }
        st = run_pairs(w, input, outdir, &pairs, &rows);
        bool downloaded = strcmp(input, job->url) != 0 &&
                          !(strncmp(job->url, "file://", 7) == 0 && !strcmp(input, job->url + 7));
        if (downloaded)
            unlink(input);
        cs_free(input);
        input = NULL;
        if (st == CS_ECANCELED)
            goto stopped;
        if (st == CS_EFORMAT || st == CS_EGZIP || st == CS_ETRUNC)
            return give_up(w, st); /* not a usable WAT */
        if (st)
            return JOB_FATAL;
        size_t nfiles;
        char **files = shard_files(w, rows, &nfiles);
        char err[256];
        char mdir[PATH_MAX];
        snprintf(mdir, sizeof mdir, "%s", w->out_is_url ? w->work : outdir);
        if (w->out_is_url)
            mkdirs(mdir);
        st = cs_client_manifest_write(mdir, job, pairs, (const char *const *)files, nfiles, err,
                                      sizeof err);
        free_files(files, nfiles);
        if (st) {
            cli_err("worker: %s", err);
            return JOB_FATAL;
        }
        char url[PATH_MAX + 64];
        if (w->out_is_url) {
            char local[PATH_MAX + 16], target[PATH_MAX + 64];
            snprintf(local, sizeof local, "%s/_job.json", mdir);
            snprintf(target, sizeof target, "%s/_job.json", outdir);
            st = cs_client_put_file(w->c, local, target);
            unlink(local);
            if (st) {
                cli_err("worker: %s", cs_client_errmsg(w->c));
                return JOB_FATAL;
            }
            snprintf(url, sizeof url, "%s/", outdir);
        } else if (w->public_url) {
            size_t n = strlen(w->public_url);
            while (n && w->public_url[n - 1] == '/')
                n--;
            snprintf(url, sizeof url, "%.*s/%s/", (int)n, w->public_url, jobname);
        } else {
            char abs[PATH_MAX];
            if (!realpath(outdir, abs))
                snprintf(abs, sizeof abs, "%s", outdir);
            snprintf(url, sizeof url, "%s", abs);
        }
        if (w->type == CS_CLIENT_HYBRID) {
            uint64_t kept = pairs;
            if (!w->out_is_url && score_dir(outdir, outdir, &kept) == CS_OK)
                pairs = kept;
            st = complete(w, pairs, NULL);
        } else {
            st = complete(w, 0, url);
        }
        if (!st && w->type == CS_CLIENT_CPU)
            fprintf(stderr, "crawlset: worker: output at %s\n", url);
    }
    if (st == CS_EWORKER)
        return JOB_LOST;
    if (st) {
        cli_err("worker: cannot complete the job: %s", cs_client_errmsg(w->c));
        return JOB_FATAL;
    }
    fprintf(stderr, "crawlset: worker %s: job done, %llu pairs\n", cs_client_display_name(w->c),
            (unsigned long long)pairs);
    return JOB_DONE;

stopped:
    cs_free(input);
    return JOB_RETURNED; /* the caller's bye hands it back */
}

/* ---- the loop ----------------------------------------------------------------------- */

/* Where outputs and scratch go. A CPU worker without --out sends its
 * output to the tracker's upload address when that is an http(s) store. */
static int setup_out(worker *w)
{
    const char *up = cs_client_upload_address(w->c);
    if (!w->out_given && w->type == CS_CLIENT_CPU &&
        (!strncmp(up, "http://", 7) || !strncmp(up, "https://", 8)) &&
        strlen(up) < sizeof w->out_buf) {
        size_t n = strlen(up);
        while (n && up[n - 1] == '/')
            n--;
        snprintf(w->out_buf, sizeof w->out_buf, "%.*s", (int)n, up);
        w->out = w->out_buf;
        fprintf(stderr, "crawlset: worker: output to the tracker's upload address %s\n", w->out);
    }
    w->out_is_url = !strncmp(w->out, "http://", 7) || !strncmp(w->out, "https://", 8);
    if (!w->work[0]) {
        if (w->out_is_url) {
            const char *tmp = getenv("TMPDIR");
            snprintf(w->work, sizeof w->work, "%s/crawlset-worker-%ld", tmp ? tmp : "/tmp",
                     (long)getpid());
        } else {
            snprintf(w->work, sizeof w->work, "%s/_work", w->out);
        }
    }
    if (mkdirs(w->work)) {
        cli_err("worker: %s: %s", w->work, strerror(errno));
        return CLI_EXIT_FATAL;
    }
    return CLI_EXIT_OK;
}

static cs_status connect_worker(worker *w)
{
    cs_client_free(w->c);
    w->c = NULL;
    cs_status st = cs_client_new(&w->c, w->tracker, w->nickname, w->type, &w->co);
    if (st) {
        cli_err("worker: cannot register with %s: %s", w->tracker, cs_client_errmsg(w->c));
        return st;
    }
    fprintf(stderr, "crawlset: worker %s registered with %s as %s\n",
            cs_client_display_name(w->c), w->tracker, cs_client_type_name(w->type));
    save_state(w);
    return CS_OK;
}

/* A second client with the same token for progress reports from the fetch
 * thread (no retries, short timeout). */
static void make_progress_client(worker *w)
{
    cs_client_free(w->plog);
    w->plog = NULL;
    char *json;
    size_t len;
    if (cs_client_dump(w->c, &json, &len))
        return;
    cs_client_opts o = w->co;
    o.retries = 0;
    o.timeout_ms = 5000;
    if (cs_client_load(&w->plog, json, len, &o)) {
        cs_client_free(w->plog);
        w->plog = NULL;
    }
    cs_free(json);
}

int cmd_worker(int argc, char **argv)
{
    worker w;
    memset(&w, 0, sizeof w);
    cs_client_opts_init(&w.co);
    cs_download_opts_init(&w.dl);
    w.nickname = "anonymous";
    w.out = "worker-out";
    w.idle_wait = 1;
    w.max_idle = -1;
    w.log_interval = 10;
    int rc = parse(&w, argc, argv);
    if (rc >= 0)
        return rc;
    w.co.cancel = &g_stop_int;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* resume from the state file, or register */
    if (w.state && access(w.state, F_OK) == 0) {
        if (cs_client_load_file(&w.c, w.state, &w.co)) {
            cli_err("worker: %s: %s", w.state, cs_client_errmsg(w.c));
            cs_client_free(w.c);
            return CLI_EXIT_FATAL;
        }
        if (strcmp(cs_client_base_url(w.c), w.tracker) &&
            strncmp(cs_client_base_url(w.c), w.tracker, strlen(cs_client_base_url(w.c)))) {
            cli_err("worker: %s belongs to the tracker %s", w.state, cs_client_base_url(w.c));
            cs_client_free(w.c);
            return CLI_EXIT_USAGE;
        }
        w.type = cs_client_get_type(w.c);
        bool alive = false;
        cs_status st = cs_client_is_alive(w.c, &alive);
        if (st) {
            cli_err("worker: %s", cs_client_errmsg(w.c));
            cs_client_free(w.c);
            return CLI_EXIT_FATAL;
        }
        if (alive) {
            fprintf(stderr, "crawlset: worker %s resumed from %s%s\n",
                    cs_client_display_name(w.c), w.state,
                    cs_client_job_get(w.c) ? " with its job" : "");
        } else {
            cli_err("worker: the tracker timed out the worker in %s (its job went back to "
                    "open); registering again", w.state);
            if (connect_worker(&w)) {
                cs_client_free(w.c);
                return CLI_EXIT_FATAL;
            }
        }
    } else if (connect_worker(&w)) {
        cs_client_free(w.c);
        return CLI_EXIT_FATAL;
    }

    rc = setup_out(&w);
    double idle_since = cs_now(), wait = w.idle_wait;
    unsigned seed = (unsigned)getpid();
    while (!g_stop && rc == CLI_EXIT_OK) {
        if (!cs_client_job_get(w.c)) {
            cs_status st = cs_client_new_job(w.c);
            if (st == CS_ENOJOB) {
                if (w.once || (w.max_idle >= 0 && cs_now() - idle_since >= w.max_idle)) {
                    fprintf(stderr, "crawlset: worker: no job open; leaving\n");
                    break;
                }
                nap(wait * (0.5 + 0.5 * (double)rand_r(&seed) / RAND_MAX));
                wait = wait * 2 > 60 ? 60 : wait * 2;
                continue;
            }
            if (st == CS_EWORKER) { /* the tracker forgot us (timed out): again */
                cli_err("worker: %s; registering again", cs_client_errmsg(w.c));
                if (connect_worker(&w)) {
                    rc = CLI_EXIT_FATAL;
                    break;
                }
                continue;
            }
            if (st == CS_ECANCELED)
                break;
            if (st) {
                cli_err("worker: %s", cs_client_errmsg(w.c));
                rc = CLI_EXIT_FATAL;
                break;
            }
            save_state(&w);
        }
        make_progress_client(&w);
        job_end e = run_job(&w);
        idle_since = cs_now();
        if (e == JOB_FATAL) {
            rc = CLI_EXIT_FATAL;
            break;
        }
        if (e == JOB_LOST) {
            cli_err("worker: the tracker no longer knows this worker (%s): the job was "
                    "re-opened for others; registering again", cs_client_errmsg(w.c));
            if (connect_worker(&w)) {
                rc = CLI_EXIT_FATAL;
                break;
            }
            continue;
        }
        if (e == JOB_RETURNED && g_stop)
            break;
        save_state(&w);
        if (e == JOB_DONE) {
            w.jobs_done++;
            wait = w.idle_wait;
        }
        if (e == JOB_GAVE_UP && !w.once) {
            /* the tracker may hand the same bad job out again: do not spin */
            nap(wait * (0.5 + 0.5 * (double)rand_r(&seed) / RAND_MAX));
            wait = wait * 2 > 60 ? 60 : wait * 2;
        }
        if (w.once || (w.max_jobs && w.jobs_done + w.jobs_given_up >= w.max_jobs))
            break;
    }
    /* leave: bye hands a job still held back to the tracker */
    g_stop_int = 0; /* let bye retry even after a signal */
    bool held = cs_client_job_get(w.c) != NULL;
    cs_status st = cs_client_bye(w.c);
    if (st && st != CS_EWORKER) {
        cli_err("worker: bye: %s%s", cs_client_errmsg(w.c),
                held ? " (the job re-opens after the tracker's idle timeout)" : "");
        if (rc == CLI_EXIT_OK)
            rc = CLI_EXIT_FATAL;
    } else if (held) {
        fprintf(stderr, "crawlset: worker: job handed back to the tracker\n");
    }
    if (w.state && !st)
        unlink(w.state);
    if (w.out_is_url)
        rmtree(w.work);
    fprintf(stderr, "crawlset: worker: %ld jobs done", w.jobs_done);
    if (w.jobs_given_up)
        fprintf(stderr, ", %ld inputs reported as invalid", w.jobs_given_up);
    fputc('\n', stderr);
    if (rc == CLI_EXIT_OK && w.jobs_given_up)
        rc = CLI_EXIT_PARTIAL;
    cs_client_free(w.plog);
    cs_client_free(w.c);
    return rc;
}
