/* cmd_warc.c - `crawlset warc ls|stat|cat|index|verify FILE...`. */
#include <errno.h>
#include <getopt.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void usage_warc(FILE *f)
{
    fprintf(f,
            "usage: crawlset warc SUBCOMMAND [OPTIONS] FILE...\n"
            "\n"
            "Reads WARC 1.0/1.1 files: plain, one gzip member per record (Common Crawl),\n"
            "or whole-file gzip. FILE may be '-' for standard input.\n"
            "\n"
            "subcommands:\n"
            "  ls      one line per record: offset, compressed length, type, target URI\n"
            "  stat    record counts per type, errors, bytes\n"
            "  cat     every record (header and block) uncompressed to standard output\n"
            "  index   a CDXJ (or CSV) index of the records: URL, time, status, offset, length\n"
            "  verify  check WARC-Block-Digest and WARC-Payload-Digest of every record\n"
            "\n"
            "common options:\n"
            "  --types LIST   only these record types (e.g. response,metadata)\n"
            "  --strict       refuse real-world quirks instead of tolerating them\n"
            "  --json         JSON Lines output (ls, stat, verify)\n"
            "  -h, --help     this help\n"
            "\n"
            "ls --json keys: offset, compressed_length, type, uri, content_length.\n"
            "index options: --format cdxj|csv (csv has the columns `crawlset cc fetch` reads).\n"
            "\n"
            "Malformed records are reported on stderr as 'FILE: offset N: what' and skipped.\n"
            "Exit codes: 0 ok, 1 some records had errors (or digests mismatched),\n"
            "2 usage error, 3 fatal error (unreadable file, out of memory).\n");
}

typedef struct warc_opts {
    unsigned types;
    bool strict;
    bool json;
    bool csv;
} warc_opts;

/* The state of a run: options, output and what the subcommand keeps. */
typedef struct warc_run {
    warc_opts o;
    cli_out *out;
    cs_buf line, key;  /* output being formatted */
    void *acc;         /* stat: stat_acc; cat: cs_progress; verify: counts */
} warc_run;

/* ---- ls ---- */

static int do_ls(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    (void)path;
    warc_run *w = ud;
    const warc_opts *o = &w->o;
    cs_buf *line = &w->line;
    int rc = 0;
    cs_status st = cs_warc_reader_finish(r);
    if (st && !cli_warc_failed(r, st, &rc))
        return rc;
    cs_buf_reset(line);
    const char *uri = rec->target_uri ? rec->target_uri : "";
    const char *type = rec->type == CS_WARC_UNKNOWN && rec->type_str[0]
                           ? rec->type_str
                           : cs_warc_type_name(rec->type);
    if (o->json) {
        CLI_TRY(cs_buf_printf(line, "{\"offset\":%llu,\"compressed_length\":%llu,\"type\":",
                            (unsigned long long)rec->offset,
                            (unsigned long long)rec->compressed_length));
        CLI_TRY(cs_json_put_str(line, type, strlen(type)));
        CLI_TRY(cs_buf_puts(line, ",\"uri\":"));
        if (rec->target_uri)
            CLI_TRY(cs_json_put_str(line, uri, strlen(uri)));
        else
            CLI_TRY(cs_buf_puts(line, "null"));
        CLI_TRY(cs_buf_printf(line, ",\"content_length\":%llu}\n",
                            (unsigned long long)rec->content_length));
    } else {
        CLI_TRY(cs_buf_printf(line, "%llu\t%llu\t%s\t%s\n", (unsigned long long)rec->offset,
                            (unsigned long long)rec->compressed_length, type, uri));
    }
    cli_out_buf(w->out, line);
    return rc;
}

/* ---- stat ---- */

typedef struct stat_acc {
    uint64_t count[10]; /* by type bit index; 9 = unknown */
    uint64_t bytes[10];
    uint64_t records, errors, bytes_in, bytes_out, files;
} stat_acc;

static int type_index(cs_warc_type t)
{
    for (int i = 0; i < 9; i++)
        if (t == (1u << i))
            return i;
    return 8;
}

static int do_stat(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    (void)r;
    (void)path;
    stat_acc *acc = ((warc_run *)ud)->acc;
    int i = type_index(rec->type);
    acc->count[i]++;
    acc->bytes[i] += rec->content_length;
    acc->records++;
    return 0;
}

/* After each file read to its end. */
static void stat_file_done(void *ud, cs_warc_reader *r)
{
    stat_acc *acc = ((warc_run *)ud)->acc;
    cs_warc_reader_stats s;
    cs_warc_reader_stats_get(r, &s);
    acc->errors += s.errors;
    acc->bytes_in += s.bytes_in;
    acc->bytes_out += s.bytes_out;
    acc->files++;
}

static void print_stat(const stat_acc *acc, const warc_opts *o, cli_out *out)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    if (o->json) {
        CLI_TRY(cs_buf_puts(&b, "{\"types\":{"));
        bool first = true;
        for (int i = 0; i < 9; i++) {
            if (!acc->count[i])
                continue;
            CLI_TRY(cs_buf_printf(&b, "%s\"%s\":{\"records\":%llu,\"bytes\":%llu}", first ? "" : ",",
                                cs_warc_type_name((cs_warc_type)(1u << i)),
                                (unsigned long long)acc->count[i],
                                (unsigned long long)acc->bytes[i]));
            first = false;
        }
        CLI_TRY(cs_buf_printf(&b, "},\"records\":%llu,\"errors\":%llu,\"files\":%llu}\n",
                            (unsigned long long)acc->records, (unsigned long long)acc->errors,
                            (unsigned long long)acc->files));
    } else {
        CLI_TRY(cs_buf_printf(&b, "%-14s %12s %16s\n", "type", "records", "block bytes"));
        for (int i = 0; i < 9; i++)
            if (acc->count[i])
                CLI_TRY(cs_buf_printf(&b, "%-14s %12llu %16llu\n",
                                    cs_warc_type_name((cs_warc_type)(1u << i)),
                                    (unsigned long long)acc->count[i],
                                    (unsigned long long)acc->bytes[i]));
        CLI_TRY(cs_buf_printf(&b, "%-14s %12llu\n%-14s %12llu\n", "total", (unsigned long long)acc->records,
                            "errors", (unsigned long long)acc->errors));
    }
    cli_out_buf(out, &b);
    cs_buf_cleanup(&b);
}

/* ---- cat ---- */

/* Writes the iovecs fully (handles short writes); false on error. */
static bool writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EPIPE)
                cli_err("write: %s", strerror(errno));
            return false;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

/* cat writes straight from the reader's window with writev: no copy. */
static int do_cat(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    (void)path;
    int fd = ((warc_run *)ud)->out->fd;
    int rc = 0;
    cs_status st;
    struct iovec iov[3];
    int niov = 0;
    iov[niov++] = (struct iovec){(void *)rec->header_raw, rec->header_raw_len};
    uint64_t left = rec->content_length;
    for (;;) {
        const char *p;
        size_t k;
        st = cs_warc_reader_chunk(r, &p, &k);
        if (st == CS_DONE)
            break;
        if (st) {
            if (!cli_warc_failed(r, st, &rc))
                return rc;
            break;
        }
        iov[niov++] = (struct iovec){(void *)p, k};
        left -= k;
        if (left == 0)
            break;
        /* the next chunk may reuse the window: write what we have */
        if (!writev_all(fd, iov, niov))
            return CLI_EXIT_FATAL;
        niov = 0;
    }
    iov[niov++] = (struct iovec){(void *)"\r\n\r\n", 4};
    if (!writev_all(fd, iov, niov))
        return CLI_EXIT_FATAL;
    return rc;
}

/* ---- index ---- */

/* SURT form of a URL as Common Crawl's index keys it:
 * "https://www.Example.com/a?b" -> "com,example)/a?b". */
static void surt(const char *url, cs_buf *out)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *hend = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(hend - p));
    if (at)
        p = at + 1;
    const char *colon = memchr(p, ':', (size_t)(hend - p));
    const char *host_end = colon ? colon : hend;
    /* lower-case host, strip www. */
    char host[256];
    size_t hl = (size_t)(host_end - p);
    if (hl >= sizeof host)
        hl = sizeof host - 1;
    for (size_t i = 0; i < hl; i++)
        host[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    host[hl] = 0;
    char *h = host;
    if (!strncmp(h, "www.", 4))
        h += 4;
    /* reverse labels */
    size_t n = strlen(h);
    size_t end = n;
    bool first = true;
    for (size_t i = n; i-- > 0;) {
        if (h[i] == '.' || i == 0) {
            size_t s = h[i] == '.' ? i + 1 : i;
            if (!first)
                CLI_TRY(cs_buf_putc(out, ','));
            CLI_TRY(cs_buf_append(out, h + s, end - s));
            first = false;
            end = i;
        }
    }
    CLI_TRY(cs_buf_putc(out, ')'));
    const char *rest = hend;
    if (*rest != '/')
        CLI_TRY(cs_buf_putc(out, '/'));
    size_t rl = strcspn(rest, "#");
    for (size_t i = 0; i < rl; i++) {
        char c = rest[i];
        CLI_TRY(cs_buf_putc(out, (char)((c >= 'A' && c <= 'Z') ? c + 32 : c)));
    }
}

/* "2024-05-18T01:58:10Z" -> "20240518015810" */
static void timestamp14(const char *date, char *out)
{
    size_t k = 0;
    for (const char *p = date ? date : ""; *p && k < 14; p++)
        if (*p >= '0' && *p <= '9')
            out[k++] = *p;
    while (k < 14)
        out[k++] = '0';
    out[14] = 0;
}

/* Status code and MIME type from the start of an HTTP response block. */
static void http_head(const char *p, size_t n, int *status, char *mime, size_t mcap)
{
    *status = 0;
    mime[0] = 0;
    if (n > 12 && !memcmp(p, "HTTP/", 5)) {
        const char *sp = memchr(p, ' ', n < 32 ? n : 32);
        if (sp && (size_t)(sp - p) + 4 <= n)
            *status = atoi(sp + 1);
    }
    const char *end = p + n;
    const char *q = p;
    while (q < end) {
        const char *e = memchr(q, '\n', (size_t)(end - q));
        if (!e)
            break;
        size_t len = (size_t)(e - q);
        if (len <= 1)
            break;
        if (len > 13 && !strncasecmp(q, "content-type:", 13)) {
            cs_slice v = cs_slice_trim((cs_slice){q + 13, len - 13});
            size_t k = 0;
            while (k < v.len && v.ptr[k] != ';' && k + 1 < mcap) {
                char c = v.ptr[k];
                mime[k] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
                k++;
            }
            while (k && (mime[k - 1] == ' '))
                k--;
            mime[k] = 0;
        }
        q = e + 1;
    }
}

static int do_index(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    warc_run *w = ud;
    const warc_opts *o = &w->o;
    cs_buf *line = &w->line, *key = &w->key;
    int rc = 0;
    const char *fname = path;
    cs_status st;
    if (!rec->target_uri || rec->type == CS_WARC_WARCINFO) {
        if ((st = cs_warc_reader_finish(r))) {
            rc = CLI_EXIT_PARTIAL;
            cli_warc_report(r, st); /* index goes on even after a fatal one */
        }
        return rc;
    }
    /* peek at the HTTP head */
    char head[8192];
    size_t hn = 0;
    st = cs_warc_reader_read(r, head, sizeof head, &hn);
    int status = 0;
    char mime[128] = "";
    if (rec->type == CS_WARC_RESPONSE || rec->type == CS_WARC_REVISIT)
        http_head(head, hn, &status, mime, sizeof mime);
    else if (rec->content_type)
        snprintf(mime, sizeof mime, "%s", rec->content_type);
    st = cs_warc_reader_finish(r);
    if (st) {
        rc = CLI_EXIT_PARTIAL;
        cli_warc_report(r, st);
    }
    const char *digest = cs_warc_record_get(rec, "WARC-Payload-Digest");
    if (digest && !strncasecmp(digest, "sha1:", 5))
        digest += 5;
    char ts[15];
    timestamp14(rec->date, ts);
    cs_buf_reset(line);
    if (o->csv) {
        cs_buf_reset(key);
        CLI_TRY(cs_json_put_str(key, rec->target_uri, strlen(rec->target_uri)));
        /* CSV quoting: wrap in quotes, double inner quotes */
        CLI_TRY(cs_buf_putc(line, '"'));
        for (const char *c = rec->target_uri; *c; c++) {
            if (*c == '"')
                CLI_TRY(cs_buf_putc(line, '"'));
            CLI_TRY(cs_buf_putc(line, *c));
        }
        CLI_TRY(cs_buf_printf(line, "\",%s,%d,\"%s\",%llu,%llu,%s\n", rec->date ? rec->date : "",
                            status, fname, (unsigned long long)rec->offset,
                            (unsigned long long)rec->compressed_length,
                            cs_warc_type_name(rec->type)));
    } else {
        cs_buf_reset(key);
        surt(rec->target_uri, key);
        cli_out_buf(w->out, key);
        CLI_TRY(cs_buf_printf(line, " %s {\"url\":", ts));
        CLI_TRY(cs_json_put_str(line, rec->target_uri, strlen(rec->target_uri)));
        if (mime[0]) {
            CLI_TRY(cs_buf_puts(line, ",\"mime\":"));
            CLI_TRY(cs_json_put_str(line, mime, strlen(mime)));
        }
        if (status)
            CLI_TRY(cs_buf_printf(line, ",\"status\":\"%d\"", status));
        if (digest) {
            CLI_TRY(cs_buf_puts(line, ",\"digest\":"));
            CLI_TRY(cs_json_put_str(line, digest, strlen(digest)));
        }
        CLI_TRY(cs_buf_printf(line, ",\"length\":\"%llu\",\"offset\":\"%llu\",\"filename\":",
                            (unsigned long long)rec->compressed_length,
                            (unsigned long long)rec->offset));
        CLI_TRY(cs_json_put_str(line, fname, strlen(fname)));
        if (!rec->member_aligned && cs_warc_reader_gzipped(r))
            CLI_TRY(cs_buf_puts(line, ",\"range_fetchable\":false"));
        CLI_TRY(cs_buf_puts(line, "}\n"));
    }
    cli_out_buf(w->out, line);
    return rc;
}

/* ---- verify ---- */

static int do_verify(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    warc_run *w = ud;
    const warc_opts *o = &w->o;
    uint64_t *counts = w->acc; /* ok, mismatch, unchecked */
    cs_buf *line = &w->line;
    int rc = 0;
    cs_status st;
    cs_warc_verify_result v;
    st = cs_warc_verify_current(r, rec, &v);
    bool bad = st || v.block < 0 || v.payload < 0;
    if (bad) {
        counts[1]++;
        rc = CLI_EXIT_PARTIAL;
    } else if (v.block > 0 || v.payload > 0)
        counts[0]++;
    else
        counts[2]++;
    static const char *names[] = {"unverifiable", "mismatch", "absent", "ok"};
    const char *bs = names[v.block + 2], *ps = names[v.payload + 2];
    if (st)
        bs = ps = cs_status_name(st);
    cs_buf_reset(line);
    if (o->json) {
        CLI_TRY(cs_buf_printf(line, "{\"offset\":%llu,\"type\":\"%s\",\"uri\":",
                            (unsigned long long)rec->offset, cs_warc_type_name(rec->type)));
        const char *u = rec->target_uri ? rec->target_uri : "";
        CLI_TRY(cs_json_put_str(line, u, strlen(u)));
        CLI_TRY(cs_buf_printf(line, ",\"block\":\"%s\",\"payload\":\"%s\"", bs, ps));
        if (v.block < 0)
            CLI_TRY(cs_buf_printf(line, ",\"block_expected\":\"%s\",\"block_actual\":\"%s\"",
                                v.block_expected, v.block_actual));
        if (v.payload < 0)
            CLI_TRY(cs_buf_printf(line,
                                ",\"payload_expected\":\"%s\",\"payload_actual\":\"%s\"",
                                v.payload_expected, v.payload_actual));
        CLI_TRY(cs_buf_puts(line, "}\n"));
        cli_out_buf(w->out, line);
    } else if (bad) {
        cli_err("%s: offset %llu: %s %s: block digest %s, payload digest %s", path,
                (unsigned long long)rec->offset, cs_warc_type_name(rec->type),
                rec->target_uri ? rec->target_uri : "", bs, ps);
    }
    return rc;
}

/* ---- driver ---- */

int cmd_warc(int argc, char **argv)
{
    int rc = cli_subcommand_check(argc, argv, "warc", NULL, usage_warc);
    if (rc >= 0)
        return rc;
    const char *sub = argv[1];
    warc_run w = {0};
    warc_opts *o = &w.o;
    static const struct option longopts[] = {
        {"types", required_argument, NULL, 't'}, {"strict", no_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            o->types = cs_warc_type_mask(optarg);
            if (!o->types) {
                cli_err("--types: unknown record type in '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 's': o->strict = true; break;
        case 'j': o->json = true; break;
        case 'f':
            if (!strcmp(optarg, "csv"))
                o->csv = true;
            else if (strcmp(optarg, "cdxj")) {
                cli_err("--format must be cdxj or csv");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h': usage_warc(stdout); return 0;
        default: return CLI_EXIT_USAGE;
        }
    }
    int first = optind + 1;
    if (!cli_have_inputs(argc, first, "warc", sub))
        return CLI_EXIT_USAGE;
    stat_acc acc;
    memset(&acc, 0, sizeof acc);
    uint64_t vcounts[3] = {0, 0, 0};
    cs_progress prog;
    cli_warc_loop loop = {.types = o->types, .strict = o->strict, .ud = &w};
    if (!strcmp(sub, "ls"))
        loop.record = do_ls;
    else if (!strcmp(sub, "stat")) {
        loop.record = do_stat;
        loop.file_done = stat_file_done;
        w.acc = &acc;
    } else if (!strcmp(sub, "cat")) {
        loop.record = do_cat;
        cs_progress_init(&prog, stderr, "warc cat", "B",
                         cli_input_bytes(argv + first, argc - first));
        loop.prog = &prog;
        loop.prog_every = 256;
    } else if (!strcmp(sub, "index")) {
        loop.record = do_index;
    } else if (!strcmp(sub, "verify")) {
        loop.record = do_verify;
        w.acc = vcounts;
    } else {
        cli_err("warc: unknown subcommand '%s'", sub);
        usage_warc(stderr);
        return CLI_EXIT_USAGE;
    }
    cli_out out;
    cli_out_init(&out, 1);
    w.out = loop.out = &out;
    cs_buf_init(&w.line, 0);
    cs_buf_init(&w.key, 0);
    if (loop.record == do_index && o->csv)
        cli_out_puts(&out, "url,fetch_time,fetch_status,warc_filename,warc_record_offset,"
                           "warc_record_length,warc_type\n");
    rc = cli_warc_run(&loop, argv + first, argc - first);
    if (loop.record == do_stat)
        print_stat(&acc, o, &out);
    if (loop.prog)
        cs_progress_finish(&prog);
    cli_out_cleanup(&out);
    cs_buf_cleanup(&w.line);
    cs_buf_cleanup(&w.key);
    if (vcounts[0] + vcounts[1] + vcounts[2] && !o->json)
        fprintf(stderr, "verify: %llu ok, %llu failed, %llu without digests\n",
                (unsigned long long)vcounts[0], (unsigned long long)vcounts[1],
                (unsigned long long)vcounts[2]);
    /* unlike wat and wet, a closed pipe counts as a write error here */
    if (out.failed && rc < CLI_EXIT_FATAL)
        rc = CLI_EXIT_FATAL;
    return rc;
}
