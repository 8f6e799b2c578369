/* cmd_cc.c - `crawlset cc fetch`: fetches the records an index (Common Crawl
 * CSV or CDX JSON lines) points at by HTTP Range, writing them verbatim to a
 * .warc.gz (offsets in the new file are the running sum of lengths) and/or
 * as JSON Lines documents {url, domain, fetch_time, status, html}. Failed
 * rows go back out as an index CSV (+ error_reason, error_message) so they
 * can be fetched again. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "crawlset/http.h"
#include "crawlset/warc.h"

#define MAX_REPORTED 20 /* failures printed one by one; the rest only counted */

static void fetch_usage(FILE *f)
{
    fprintf(f,
            "usage: crawlset cc fetch --index FILE [--out FILE.warc.gz | --jsonl FILE|-] [options]\n"
            "\n"
            "Fetches the WARC records an index names (by HTTP Range on base URL +\n"
            "warc_filename) and writes them out in index order.\n"
            "\n"
            "  --index FILE         rows: Common Crawl index CSV (url, warc_filename,\n"
            "                       warc_record_offset, warc_record_length, ...) or CDX JSON\n"
            "                       lines; plain or .gz; '-' = standard input\n"
            "  --format csv|cdx     index format (default: detected)\n"
            "  --out FILE           append the fetched gzip members verbatim to FILE\n"
            "                       (.warc.gz; '-' = standard output)\n"
            "  --jsonl FILE|-       write one JSON document per response record:\n"
            "                       {\"url\", \"domain\", \"fetch_time\", \"status\", \"html\"}\n"
            "  --failed FILE        write failed rows as index CSV + error_reason,error_message\n"
            "  --base-url URL       data server (default %s)\n"
            "  --parallel N         requests in flight (default 16)\n"
            "  --retries N          retries per row; -1 = forever (default 3)\n"
            "  --retry-delay S      first backoff, doubled per retry, with jitter (default 1)\n"
            "  --timeout S          per request (default 60)\n"
            "  --connect-timeout S  (default 10)\n"
            "  --max-record BYTES   refuse longer records (default 16 MiB)\n"
            "  --user-agent UA      (default \"%s\")\n"
            "\n"
            "Progress is drawn on a terminal only. Exit codes: 0 all rows fetched, 1 some\n"
            "rows failed (see --failed and the summary), 2 usage error, 3 fatal error.\n",
            CS_CCFETCH_DEFAULT_BASE, CS_CCFETCH_DEFAULT_UA);
}

static void cc_usage(FILE *f)
{
    fprintf(f, "usage: crawlset cc COMMAND [ARGS...]\n"
               "\n"
               "commands:\n"
               "  fetch    fetch Common Crawl records by HTTP Range from an index\n"
               "\n"
               "Run 'crawlset cc fetch --help' for its options.\n");
}

/* ---- state of one run ---------------------------------------------------------- */

typedef struct output {
    const char *path;     /* as given; NULL = not wanted */
    char tmp[4096];       /* path.part while writing ("" for stdout) */
    int fd;
} output;

typedef struct fetch_ctx {
    cs_ccindex_reader *index;
    cs_ccfetch *f;
    cs_progress progress;
    uint64_t total;       /* rows expected (0 = unknown) */
    uint64_t bad_rows;    /* index rows that could not be parsed */
    uint64_t reported;    /* failures printed */
    uint64_t skipped;     /* fetched records without a document (not responses) */
    uint64_t documents;
    output warc, jsonl;
    cs_warc_writer *writer;
    cli_out jout;
    FILE *failed;
    const char *failed_path;
    cs_buf line;          /* scratch for CSV and JSON lines */
    cs_buf body;          /* decoded HTTP body */
    cs_arena arena;       /* HTTP header parsing */
    bool fatal;
} fetch_ctx;

static fetch_ctx *g_ctx; /* for the signal handler */

static void on_sigint(int sig)
{
    (void)sig;
    if (g_ctx && g_ctx->f)
        cs_ccfetch_cancel(g_ctx->f);
}

static cs_status next_row(void *ud, const cs_ccindex_row **row)
{
    fetch_ctx *c = ud;
    for (;;) {
        cs_status st = cs_ccindex_next(c->index, row);
        if (st == CS_OK || st == CS_DONE)
            return st;
        if (st == CS_EFORMAT || st == CS_ETOOBIG) {
            c->bad_rows++;
            if (c->reported++ < MAX_REPORTED)
                cli_err("bad index row: %s", cs_ccindex_errmsg(c->index));
            continue;
        }
        cli_err("%s", cs_ccindex_errmsg(c->index)[0] ? cs_ccindex_errmsg(c->index)
                                                      : cs_strerror(st));
        c->fatal = true;
        return st;
    }
}

/* Writes the document for one fetched record (gzip member) to --jsonl. */
static cs_status write_document(fetch_ctx *c, const cs_ccfetch_result *r)
{
    cs_warc_reader *wr = NULL;
    cs_warc_record *rec;
    cs_slice block;
    cs_http_msg msg;
    char err[CS_ERRMSG_MAX];
    cs_status st = cs_warc_reader_open_mem(&wr, r->data, r->len, r->row->warc_filename, NULL);
    if (st)
        goto bad;
    st = cs_warc_reader_next(wr, &rec);
    if (st == CS_DONE)
        st = CS_EFORMAT;
    if (st)
        goto bad;
    if (rec->type != CS_WARC_RESPONSE) {
        c->skipped++;
        cs_warc_reader_free(wr);
        return CS_OK;
    }
    if ((st = cs_warc_reader_block(wr, 0, &block)))
        goto bad;
    cs_arena_reset(&c->arena);
    if ((st = cs_http_parse(block.ptr, block.len, &c->arena, 0, &msg, err, sizeof err)))
        goto bad_http;
    st = cs_http_decode_body(&msg, CS_HTTP_DECHUNK | CS_HTTP_DECODE, 0, &c->body, err,
                             sizeof err);
    if (st && st != CS_ETRUNC) /* a cut-off compressed body still gives what it had */
        goto bad_http;
    cs_buf_reset(&c->line);
    const cs_ccindex_row *row = r->row;
    const char *url = rec->target_uri && rec->target_uri[0] ? rec->target_uri : row->url;
    const char *ftime = row->fetch_time[0] ? row->fetch_time : rec->date ? rec->date : "";
    if ((st = cs_buf_puts(&c->line, "{\"url\":")) ||
        (st = cs_json_put_str(&c->line, url, strlen(url))) ||
        (st = cs_buf_puts(&c->line, ",\"domain\":")) ||
        (st = cs_json_put_str(&c->line, row->domain, strlen(row->domain))) ||
        (st = cs_buf_puts(&c->line, ",\"fetch_time\":")) ||
        (st = cs_json_put_str(&c->line, ftime, strlen(ftime))) ||
        (st = cs_buf_printf(&c->line, ",\"status\":%d,\"html\":", msg.status)) ||
        (st = cs_json_put_str(&c->line, c->body.data ? c->body.data : "", c->body.len)) ||
        (st = cs_buf_puts(&c->line, "}\n")))
        goto bad;
    cli_out_buf(&c->jout, &c->line);
    c->documents++;
    cs_warc_reader_free(wr);
    return c->jout.failed ? CS_EIO : CS_OK;
bad_http:
    if (c->reported++ < MAX_REPORTED)
        cli_err("row %llu (%s): no document: HTTP: %s", (unsigned long long)r->row->line, r->row->url,
                err[0] ? err : cs_strerror(st));
    c->skipped++;
    cs_warc_reader_free(wr);
    return st == CS_ENOMEM ? st : CS_OK;
bad:
    if (st == CS_ENOMEM || st == CS_EIO) {
        cs_warc_reader_free(wr);
        return st;
    }
    if (c->reported++ < MAX_REPORTED)
        cli_err("row %llu (%s): no document: %s", (unsigned long long)r->row->line, r->row->url,
                wr ? cs_warc_reader_errmsg(wr) : cs_strerror(st));
    c->skipped++;
    cs_warc_reader_free(wr);
    return CS_OK;
}

static cs_status on_done(void *ud, const cs_ccfetch_result *r)
{
    fetch_ctx *c = ud;
    cs_status st = CS_OK;
    if (r->reason == CS_CCFETCH_OK) {
        if (c->writer && (st = cs_warc_writer_write_raw(c->writer, r->data, r->len, NULL))) {
            cli_err("%s: %s", c->warc.path, cs_warc_writer_errmsg(c->writer));
            c->fatal = true;
            return st;
        }
        if (c->jsonl.path && (st = write_document(c, r))) {
            cli_err("%s: %s", c->jsonl.path, cs_strerror(st));
            c->fatal = true;
            return st;
        }
    } else {
        if (c->reported++ < MAX_REPORTED)
            cli_err("row %llu (%s): %s: %s", (unsigned long long)r->row->line, r->row->url,
                    cs_ccfetch_reason_name(r->reason), r->message);
        if (c->failed) {
            const char *extra[] = {cs_ccfetch_reason_name(r->reason), r->message};
            cs_buf_reset(&c->line);
            if ((st = cs_ccindex_csv_row(&c->line, r->row, extra, 2)))
                return st;
            if (fwrite(c->line.data, 1, c->line.len, c->failed) != c->line.len) {
                cli_err("%s: %s", c->failed_path, strerror(errno));
                c->fatal = true;
                return CS_EIO;
            }
        }
    }
    cs_progress_update(&c->progress, r->index + 1 + c->bad_rows);
    return CS_OK;
}

/* Opens path.part for writing (or standard output for "-"). */
static bool output_open(output *o)
{
    if (!strcmp(o->path, "-")) {
        o->tmp[0] = 0;
        o->fd = 1;
        return true;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.part", o->path);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        cli_err("%s: %s", o->tmp, strerror(errno));
        return false;
    }
    return true;
}

/* Closes; renames path.part to path when keep, else removes it. */
static bool output_close(output *o, bool keep)
{
    if (!o->path || o->fd < 0)
        return true;
    bool ok = true;
    if (o->fd != 1) {
        if (keep && fsync(o->fd) != 0 && errno != EINVAL)
            ok = false;
        if (close(o->fd) != 0)
            ok = false;
        if (keep && ok && rename(o->tmp, o->path) != 0)
            ok = false;
        if (!ok)
            cli_err("%s: %s", o->path, strerror(errno));
        if (!keep || !ok)
            unlink(o->tmp);
    }
    o->fd = -1;
    return ok;
}

static bool parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        cli_err("%s: '%s' is not a number in [%g, %g]", opt, v, lo, hi);
        return false;
    }
    *out = d;
    return true;
}

/* Counts the rows of a regular-file index (for the progress ETA). */
static uint64_t count_rows(const char *path, const cs_ccindex_opts *io)
{
    struct stat sb;
    if (!strcmp(path, "-") || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    cs_ccindex_reader *r;
    uint64_t n = 0;
    if (cs_ccindex_open(&r, path, io) == CS_OK) {
        const cs_ccindex_row *row;
        cs_status st;
        while ((st = cs_ccindex_next(r, &row)) != CS_DONE)
            if (st == CS_OK || st == CS_EFORMAT || st == CS_ETOOBIG)
                n++;
            else
                break;
    }
    cs_ccindex_free(r);
    return n;
}

static int cmd_cc_fetch(int argc, char **argv)
{
    cs_ccfetch_opts fo;
    cs_ccfetch_opts_init(&fo);
    cs_ccindex_opts io = {.format = CS_CCINDEX_AUTO};
    const char *index_path = NULL;
    fetch_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.warc.fd = ctx.jsonl.fd = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fetch_usage(stdout);
            return CLI_EXIT_OK;
        }
        /* every option takes a value: "--opt VALUE" or "--opt=VALUE" */
        const char *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (a[0] == '-' && a[1] == '-' && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 < argc)
                v = argv[++i];
        }
        if (!v) {
            cli_err("cc fetch: %s needs a value", name);
            return CLI_EXIT_USAGE;
        }
        double d;
        if (!strcmp(name, "--index")) {
            index_path = v;
        } else if (!strcmp(name, "--format")) {
            if (!strcmp(v, "csv"))
                io.format = CS_CCINDEX_CSV;
            else if (!strcmp(v, "cdx") || !strcmp(v, "json") || !strcmp(v, "jsonl"))
                io.format = CS_CCINDEX_CDX;
            else {
                cli_err("cc fetch: --format: want csv or cdx, not '%s'", v);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(name, "--out")) {
            ctx.warc.path = v;
        } else if (!strcmp(name, "--jsonl")) {
            ctx.jsonl.path = v;
        } else if (!strcmp(name, "--failed")) {
            ctx.failed_path = v;
        } else if (!strcmp(name, "--base-url")) {
            if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
                cli_err("cc fetch: --base-url: want an http:// or https:// URL, not '%s'", v);
                return CLI_EXIT_USAGE;
            }
            fo.base_url = v;
        } else if (!strcmp(name, "--user-agent")) {
            fo.user_agent = v;
        } else if (!strcmp(name, "--parallel")) {
            if (!parse_num(name, v, 1, 4096, &d))
                return CLI_EXIT_USAGE;
            fo.parallel = (int)d;
        } else if (!strcmp(name, "--retries")) {
            if (!parse_num(name, v, -1, 1000000, &d))
                return CLI_EXIT_USAGE;
            fo.retries = (int)d;
        } else if (!strcmp(name, "--retry-delay")) {
            if (!parse_num(name, v, 0, 86400, &fo.retry_delay))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(name, "--timeout")) {
            if (!parse_num(name, v, 0.001, 86400, &fo.timeout))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(name, "--connect-timeout")) {
            if (!parse_num(name, v, 0.001, 86400, &fo.connect_timeout))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(name, "--max-record")) {
            if (!parse_num(name, v, 1, 1e12, &d))
                return CLI_EXIT_USAGE;
            fo.max_record = (uint64_t)d;
        } else {
            cli_err("cc fetch: unknown option '%s'", name);
            fetch_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (!index_path) {
        cli_err("cc fetch: --index is required");
        fetch_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!ctx.warc.path && !ctx.jsonl.path) {
        cli_err("cc fetch: say where records go: --out FILE.warc.gz and/or --jsonl FILE");
        return CLI_EXIT_USAGE;
    }
    if (ctx.warc.path && ctx.jsonl.path && !strcmp(ctx.warc.path, "-") &&
        !strcmp(ctx.jsonl.path, "-")) {
        cli_err("cc fetch: --out and --jsonl cannot both be standard output");
        return CLI_EXIT_USAGE;
    }

    int rc = CLI_EXIT_FATAL;
    cs_status st = cs_ccindex_open(&ctx.index, index_path, &io);
    if (st) {
        cli_err("%s", ctx.index && cs_ccindex_errmsg(ctx.index)[0]
                          ? cs_ccindex_errmsg(ctx.index)
                          : cs_strerror(st));
        cs_ccindex_free(ctx.index);
        return CLI_EXIT_FATAL;
    }
    cs_buf_init(&ctx.line, 0);
    cs_buf_init(&ctx.body, 0);
    cs_arena_init(&ctx.arena, 8u << 20);
    bool out_ok = true;
    if (ctx.warc.path) {
        out_ok = output_open(&ctx.warc);
        if (out_ok && (st = cs_warc_writer_new(&ctx.writer, ctx.warc.fd, 0, NULL))) {
            cli_err("%s: %s", ctx.warc.path, cs_strerror(st));
            out_ok = false;
        }
    }
    if (out_ok && ctx.jsonl.path) {
        out_ok = output_open(&ctx.jsonl);
        if (out_ok)
            cli_out_init(&ctx.jout, ctx.jsonl.fd);
    }
    if (out_ok && ctx.failed_path) {
        ctx.failed = fopen(ctx.failed_path, "w");
        if (!ctx.failed) {
            cli_err("%s: %s", ctx.failed_path, strerror(errno));
            out_ok = false;
        } else {
            const char *extra[] = {"error_reason", "error_message"};
            cs_buf_reset(&ctx.line);
            if (cs_ccindex_csv_header(&ctx.line, extra, 2) || cs_buf_putc(&ctx.line, '\n'))
                out_ok = false;
            else
                fwrite(ctx.line.data, 1, ctx.line.len, ctx.failed);
        }
    }
    if (!out_ok)
        goto done;
    if ((st = cs_ccfetch_new(&ctx.f, &fo))) {
        cli_err("cc fetch: %s", cs_strerror(st));
        goto done;
    }
    cs_progress_init(&ctx.progress, stderr, "cc fetch", "rows", 0);
    if (ctx.progress.enabled)
        ctx.progress.total = count_rows(index_path, &io);
    g_ctx = &ctx;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    double t0 = cs_now();
    st = cs_ccfetch_run(ctx.f, next_row, on_done, &ctx);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    g_ctx = NULL;
    cs_progress_finish(&ctx.progress);
    if (ctx.jsonl.path) {
        cli_out_flush(&ctx.jout);
        if (ctx.jout.failed)
            ctx.fatal = true;
    }
    if (st && st != CS_ECANCELED) {
        if (!ctx.fatal)
            cli_err("cc fetch: %s%s%s", cs_strerror(st), cs_ccfetch_errmsg(ctx.f)[0] ? ": " : "",
                    cs_ccfetch_errmsg(ctx.f));
        ctx.fatal = true;
    }

    /* summary: ok/failed by reason */
    cs_ccfetch_stats s;
    cs_ccfetch_stats_get(ctx.f, &s);
    cs_buf sum;
    cs_buf_init(&sum, 0);
    (void)!cs_buf_printf(&sum, "cc fetch: %llu rows: %llu ok, %llu failed",
                         (unsigned long long)(s.rows + ctx.bad_rows), (unsigned long long)s.ok,
                         (unsigned long long)(s.failed + ctx.bad_rows));
    bool first = true;
    for (int k = 1; k < CS_CCFETCH__REASON_COUNT; k++)
        if (s.by_reason[k]) {
            (void)!cs_buf_printf(&sum, "%s%s %llu", first ? " (" : ", ",
                                 cs_ccfetch_reason_name((cs_ccfetch_reason)k),
                                 (unsigned long long)s.by_reason[k]);
            first = false;
        }
    if (ctx.bad_rows) {
        (void)!cs_buf_printf(&sum, "%sbad_row %llu", first ? " (" : ", ",
                             (unsigned long long)ctx.bad_rows);
        first = false;
    }
    if (!first)
        (void)!cs_buf_putc(&sum, ')');
    (void)!cs_buf_printf(&sum, "; %llu bytes, %llu requests (%llu retries) in %.1fs",
                         (unsigned long long)s.bytes, (unsigned long long)s.requests,
                         (unsigned long long)s.retries, cs_now() - t0);
    if (ctx.jsonl.path)
        (void)!cs_buf_printf(&sum, "; %llu documents, %llu records without one",
                             (unsigned long long)ctx.documents, (unsigned long long)ctx.skipped);
    if (st == CS_ECANCELED)
        (void)!cs_buf_puts(&sum, "; interrupted");
    cli_err("%s", sum.data ? sum.data : "");
    cs_buf_cleanup(&sum);
    rc = ctx.fatal ? CLI_EXIT_FATAL
         : (s.failed || ctx.bad_rows || st == CS_ECANCELED) ? CLI_EXIT_PARTIAL
                                                              : CLI_EXIT_OK;

done:
    cs_warc_writer_free(ctx.writer);
    if (ctx.jsonl.path && ctx.jsonl.fd >= 0)
        cli_out_cleanup(&ctx.jout);
    bool keep = rc != CLI_EXIT_FATAL;
    if (!output_close(&ctx.warc, keep) || !output_close(&ctx.jsonl, keep))
        rc = CLI_EXIT_FATAL;
    if (ctx.failed && fclose(ctx.failed) != 0) {
        cli_err("%s: %s", ctx.failed_path, strerror(errno));
        rc = CLI_EXIT_FATAL;
    }
    cs_ccfetch_free(ctx.f);
    cs_ccindex_free(ctx.index);
    cs_buf_cleanup(&ctx.line);
    cs_buf_cleanup(&ctx.body);
    cs_arena_cleanup(&ctx.arena);
    return rc;
}

int cmd_cc(int argc, char **argv)
{
    if (argc < 2) {
        cc_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        cc_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "fetch"))
        return cmd_cc_fetch(argc - 1, argv + 1);
    cli_err("cc: unknown command '%s'", argv[1]);
    cc_usage(stderr);
    return CLI_EXIT_USAGE;
}
