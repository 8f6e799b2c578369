/* util.c - error printing, a fast buffered writer, and the input-file and
 * record loop the warc, wat and wet commands share. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void log_to_stderr(cs_log_level level, const char *msg, void *ud)
{
    (void)ud;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "crawlset: %s: %s\n", names[level], msg);
}

void cli_init(const char *argv0)
{
    (void)argv0;
    signal(SIGPIPE, SIG_IGN);
    const char *v = getenv("CRAWLSET_LOG");
    cs_log_level lvl = CS_LOG_WARN;
    if (v && !strcmp(v, "debug"))
        lvl = CS_LOG_DEBUG;
    else if (v && !strcmp(v, "info"))
        lvl = CS_LOG_INFO;
    cs_log_set_handler(log_to_stderr, NULL, lvl);
}

static void verr(const char *fmt, va_list ap)
{
    fputs("crawlset: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(fmt, ap);
    va_end(ap);
}

void cli_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_FATAL);
}

void cli_out_init(cli_out *o, int fd)
{
    o->fd = fd;
    o->cap = 1 << 20;
    o->buf = malloc(o->cap);
    o->len = 0;
    o->failed = !o->buf;
    o->err = o->failed ? ENOMEM : 0;
}

static void write_all(cli_out *o, const char *p, size_t n)
{
    while (n && !o->failed) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            o->failed = true;
            o->err = errno;
            if (errno != EPIPE)
                cli_err("write: %s", strerror(errno));
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void cli_out_write(cli_out *o, const void *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    if (o->len + n > o->cap) {
        cli_out_flush(o);
        if (n >= o->cap / 2) {
            write_all(o, p, n);
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void cli_out_puts(cli_out *o, const char *s) { cli_out_write(o, s, strlen(s)); }

void cli_out_buf(cli_out *o, const cs_buf *b) { cli_out_write(o, b->data, b->len); }

void cli_out_flush(cli_out *o)
{
    write_all(o, o->buf, o->len);
    o->len = 0;
}

void cli_out_cleanup(cli_out *o)
{
    cli_out_flush(o);
    free(o->buf);
    o->buf = NULL;
}

unsigned cli_threads(void)
{
    const char *v = getenv("CRAWLSET_THREADS");
    if (v && *v)
        return (unsigned)atoi(v);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int cli_out_close(cli_out *o)
{
    cli_out_cleanup(o);
    return o->err && o->err != EPIPE ? CLI_EXIT_FATAL : CLI_EXIT_OK;
}

/* ---- `crawlset CMD SUB [OPTIONS] FILE...` commands ---- */

int cli_subcommand_check(int argc, char **argv, const char *cmd, const char *sub,
                         void (*usage)(FILE *f))
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (sub && strcmp(argv[1], sub) != 0) {
        cli_err("%s: unknown subcommand '%s'", cmd, argv[1]);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

bool cli_have_inputs(int argc, int first, const char *cmd, const char *sub)
{
    if (first < argc)
        return true;
    cli_err("%s %s: no input files (use '-' for standard input)", cmd, sub);
    return false;
}

uint64_t cli_input_bytes(char *const *paths, int n)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (strcmp(paths[i], "-") != 0 && stat(paths[i], &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    return total;
}

/* ---- reading WARC files record by record ---- */

int cli_warc_open(const char *path, unsigned types, bool strict, cs_warc_reader **r)
{
    cs_warc_reader_opts ro = {0};
    ro.types = types;
    ro.strict = strict;
    ro.threads = cli_threads(); /* inflate on a helper thread when there are CPUs */
    cs_status st = cs_warc_reader_open(r, path, &ro);
    if (st) {
        cli_err("%s: cannot open: %s", path, st == CS_ENOTFOUND ? "no such file" : cs_strerror(st));
        return CLI_EXIT_FATAL;
    }
    return CLI_EXIT_OK;
}

bool cli_warc_report(cs_warc_reader *r, cs_status st)
{
    cli_err("%s (%s)", cs_warc_reader_errmsg(r), cs_strerror(st));
    return st != CS_EIO && st != CS_ENOMEM;
}

bool cli_warc_failed(cs_warc_reader *r, cs_status st, int *rc)
{
    bool go_on = cli_warc_report(r, st);
    int want = go_on ? CLI_EXIT_PARTIAL : CLI_EXIT_FATAL;
    if (*rc < want)
        *rc = want;
    return go_on;
}

/* Reads one file; returns the exit code it deserves. */
static int warc_file(const cli_warc_loop *l, const char *path)
{
    cs_warc_reader *r;
    int rc = cli_warc_open(path, l->types, l->strict, &r);
    if (rc)
        return rc;
    uint64_t base = l->prog ? l->prog->done : 0; /* bytes of the files before this one */
    unsigned every = l->prog_every ? l->prog_every : 1;
    uint64_t n = 0;
    cs_warc_reader_stats s;
    for (;;) {
        cs_warc_record *rec;
        cs_status st = cs_warc_reader_next(r, &rec);
        if (st == CS_DONE)
            break;
        if (st) {
            if (!cli_warc_failed(r, st, &rc))
                break;
            continue;
        }
        int frc = l->record(l->ud, r, rec, path);
        if (frc == CLI_STOP)
            break;
        if (frc > rc)
            rc = frc;
        if (frc == CLI_EXIT_FATAL)
            break;
        if (l->prog && l->prog->enabled && ++n % every == 0) {
            cs_warc_reader_stats_get(r, &s);
            cs_progress_update(l->prog, base + s.bytes_in);
        }
    }
    if (rc != CLI_EXIT_FATAL && l->file_done)
        l->file_done(l->ud, r);
    if (l->prog) {
        cs_warc_reader_stats_get(r, &s);
        cs_progress_update(l->prog, base + s.bytes_in);
    }
    cs_warc_reader_free(r);
    return rc;
}

int cli_warc_run(const cli_warc_loop *l, char *const *paths, int n)
{
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < n && !(l->out && l->out->failed); i++) {
        int frc = warc_file(l, paths[i]);
        if (frc > rc)
            rc = frc;
    }
    return rc;
}
