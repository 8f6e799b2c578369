/* cmd_download.c - `crawlset download` (URL lists -> image dataset) and
 * `crawlset pairs` (WAT files -> image-text pairs), img2dataset-style. */
#include <getopt.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#include "cli.h"
#include "crawlset/pipe.h"

static void usage_common(FILE *f)
{
    fprintf(f,
            "output:\n"
            "  --out DIR|URL              output directory, or an http(s) PUT endpoint (required)\n"
            "  --output-format F          webdataset (default), files, web2dataset\n"
            "  --samples-per-shard N      rows per shard (default 10000)\n"
            "  --incremental              skip complete shards, redo incomplete ones\n"
            "images (img2dataset semantics):\n"
            "  --image-size N             default 256\n"
            "  --resize-mode M            no, border (default), keep_ratio, keep_ratio_largest,\n"
            "                             center_crop\n"
            "  --resize-only-if-bigger    leave smaller images alone\n"
            "  --min-image-size N         drop images whose shorter side is smaller\n"
            "  --max-aspect-ratio X       drop images longer/shorter above X\n"
            "  --max-pixels N             refuse from the header above N (default 89478484)\n"
            "  --encode-format F          jpg (default), png, webp\n"
            "  --encode-quality Q         default 95 (jpg, webp)\n"
            "  --threads N                image workers (default: one per CPU)\n"
            "  --phash                    add \"phash\" (64-bit DCT pHash, 16 hex digits) to\n"
            "                             each sample's metadata\n"
            "fetching (polite by default):\n"
            "  --parallel N               transfers in flight (default 256)\n"
            "  --per-host N               in flight per host (default 16)\n"
            "  --host-delay S             least seconds between requests to one host\n"
            "  --rate R                   requests per second overall (default: no limit)\n"
            "  --timeout S                per request (default 30)\n"
            "  --retries N                retries on connection errors, 5xx, 429 (default 2)\n"
            "  --max-body BYTES           largest body (default 33554432)\n"
            "  --user-agent UA            default names crawlset with a contact URL\n"
            "  --ignore-robots-txt        do not fetch or obey robots.txt\n"
            "  --ignore-x-robots-tag      do not obey X-Robots-Tag noai/noimageai/...\n"
            "  --ignore-tdm-reservation   do not obey tdm-reservation: 1\n"
            "  --resolve HOST:PORT:ADDR   resolve HOST:PORT to ADDR (repeatable; tests, demos)\n"
            "  --connect-to H:P:H2:P2     send requests for H:P to H2:P2 (repeatable; demos)\n"
            "  --no-progress              no progress line even on a terminal\n"
            "candidate filters (crawlset filter's chain, in process; off by default):\n"
            "  --filter                   the default rules (URL rules, text >= 5 characters,\n"
            "                             placeholder text, exact dedupe)\n"
            "  --rules FILE               a YAML rules file (implies --filter)\n"
            "  --filter-rule KEY=VALUE    one rule, as crawlset filter's --KEY VALUE\n"
            "                             (repeatable; implies --filter)\n"
            "  Dropped candidates never become rows; each shard's _stats.json gets the\n"
            "  chain's counts for its candidates under \"filters\".\n"
            "\n"
            "Beside each shard: NNNNN.jsonl (one line per input row, with status and\n"
            "reason) and NNNNN_stats.json. Exit codes: 0 every row accounted for (rows\n"
            "may have failed: see the stats), 1 interrupted (SIGINT/SIGTERM: complete\n"
            "shards kept, rerun with --incremental), 2 usage error, 3 fatal error.\n");
}

static void usage_download(FILE *f)
{
    fprintf(f, "usage: crawlset download INPUT --out DIR [OPTIONS]\n"
               "\n"
               "Downloads the images of a URL list into a dataset. INPUT is txt (one URL\n"
               "per line), csv, tsv or jsonl, each optionally gzipped; '-' is stdin.\n"
               "\n"
               "input:\n"
               "  --input-format F           txt, csv, tsv, jsonl, wat-links (default: by name)\n"
               "  --url-col C                column with the URL (default url)\n"
               "  --caption-col C            column with the caption\n"
               "  --save-additional-columns A,B  columns carried into the metadata\n"
               "  --verify-hash C            column with the expected sha256; mismatches dropped\n");
    usage_common(f);
}

static void usage_pairs(FILE *f)
{
    fprintf(f, "usage: crawlset pairs FILE.wat.gz... --out DIR [OPTIONS]\n"
               "\n"
               "Image-text pairs from Common Crawl WAT files: the image candidates (IMG@/src\n"
               "with a non-empty alt) are downloaded, resized and written as shards, in one\n"
               "process with bounded queues.\n"
               "\n");
    usage_common(f);
}

enum {
    O_OUT = 256, O_OUTFMT, O_SPS, O_INCR, O_SIZE, O_MODE, O_BIGGER, O_MINSIZE, O_ASPECT,
    O_PIXELS, O_ENCFMT, O_QUALITY, O_THREADS, O_PARALLEL, O_PERHOST, O_HOSTDELAY, O_RATE,
    O_TIMEOUT, O_RETRIES, O_MAXBODY, O_UA, O_NOROBOTS, O_NOXROBOTS, O_NOTDM, O_RESOLVE,
    O_NOPROGRESS, O_CONNECTTO, O_INFMT, O_URLCOL, O_CAPCOL, O_SAVECOLS, O_VERIFY, O_HELP,
    O_FILTER, O_RULES, O_FRULE, O_PHASH,
};

static const struct option LONGOPTS[] = {
    {"out", required_argument, NULL, O_OUT},
    {"output-format", required_argument, NULL, O_OUTFMT},
    {"samples-per-shard", required_argument, NULL, O_SPS},
    {"incremental", no_argument, NULL, O_INCR},
    {"image-size", required_argument, NULL, O_SIZE},
    {"resize-mode", required_argument, NULL, O_MODE},
    {"resize-only-if-bigger", no_argument, NULL, O_BIGGER},
    {"min-image-size", required_argument, NULL, O_MINSIZE},
    {"max-aspect-ratio", required_argument, NULL, O_ASPECT},
    {"max-pixels", required_argument, NULL, O_PIXELS},
    {"encode-format", required_argument, NULL, O_ENCFMT},
    {"encode-quality", required_argument, NULL, O_QUALITY},
    {"threads", required_argument, NULL, O_THREADS},
    {"parallel", required_argument, NULL, O_PARALLEL},
    {"per-host", required_argument, NULL, O_PERHOST},
    {"host-delay", required_argument, NULL, O_HOSTDELAY},
    {"rate", required_argument, NULL, O_RATE},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"retries", required_argument, NULL, O_RETRIES},
    {"max-body", required_argument, NULL, O_MAXBODY},
    {"user-agent", required_argument, NULL, O_UA},
    {"ignore-robots-txt", no_argument, NULL, O_NOROBOTS},
    {"ignore-x-robots-tag", no_argument, NULL, O_NOXROBOTS},
    {"ignore-tdm-reservation", no_argument, NULL, O_NOTDM},
    {"resolve", required_argument, NULL, O_RESOLVE},
    {"no-progress", no_argument, NULL, O_NOPROGRESS},
    {"connect-to", required_argument, NULL, O_CONNECTTO},
    {"input-format", required_argument, NULL, O_INFMT},
    {"url-col", required_argument, NULL, O_URLCOL},
    {"caption-col", required_argument, NULL, O_CAPCOL},
    {"save-additional-columns", required_argument, NULL, O_SAVECOLS},
    {"verify-hash", required_argument, NULL, O_VERIFY},
    {"help", no_argument, NULL, O_HELP},
    {"filter", no_argument, NULL, O_FILTER},
    {"rules", required_argument, NULL, O_RULES},
    {"filter-rule", required_argument, NULL, O_FRULE},
    {"phash", no_argument, NULL, O_PHASH},
    {NULL, 0, NULL, 0},
};

typedef struct dl_cli {
    cs_download_opts o;
    const char *out;
    const char *resolve[17];
    int nresolve;
    const char *connect_to[17];
    int nconnect;
    bool no_progress;
    cs_urllist_opts uo;
    const char *save[64];
    char *save_buf;
    const char *verify_col;
    cs_progress prog;
    char label[160];
    bool filter;                 /* run the candidate filter chain */
    const char *rules;           /* its YAML rules file */
    const char *frules[64];      /* KEY=VALUE rules */
    int nfrules;
    cs_filter_chain *chain;
    cs_pipe_filter_rows *frows;
} dl_cli;

static bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Parses the options shared by download and pairs; returns -1 on success,
 * else the exit code. Positional arguments are left in argv[optind..]. */
static int parse(dl_cli *c, int argc, char **argv, bool pairs)
{
    double v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", LONGOPTS, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case O_OUT: c->out = a; break;
        case O_OUTFMT:
            if (!cs_dataset_format_parse(a, &c->o.dataset.format)) {
                cli_err("--output-format: webdataset, files or web2dataset");
                return CLI_EXIT_USAGE;
            }
            break;
        case O_SPS:
            if (!num(a, 1, 1e9, &v)) goto bad;
            c->o.dataset.samples_per_shard = (uint64_t)v;
            break;
        case O_INCR: c->o.dataset.incremental = true; break;
        case O_SIZE:
            if (!num(a, 1, 65535, &v)) goto bad;
            c->o.image.image_size = (int)v;
            break;
        case O_MODE:
            if (!cs_image_resize_parse(a, &c->o.image.resize_mode)) {
                cli_err("--resize-mode: no, border, keep_ratio, keep_ratio_largest, center_crop");
                return CLI_EXIT_USAGE;
            }
            break;
        case O_BIGGER: c->o.image.resize_only_if_bigger = true; break;
        case O_MINSIZE:
            if (!num(a, 0, 65535, &v)) goto bad;
            c->o.image.min_image_size = (int)v;
            break;
        case O_ASPECT:
            if (!num(a, 0, 1e6, &v)) goto bad;
            c->o.image.max_aspect_ratio = v;
            break;
        case O_PIXELS:
            if (!num(a, 0, 1e15, &v)) goto bad;
            c->o.image.max_pixels = (uint64_t)v;
            break;
        case O_ENCFMT:
            if (!cs_image_format_parse(a, &c->o.image.format)) {
                cli_err("--encode-format: jpg, png or webp");
                return CLI_EXIT_USAGE;
            }
            break;
        case O_QUALITY:
            if (!num(a, 0, 101, &v)) goto bad;
            c->o.image.quality = (int)v;
            break;
        case O_THREADS:
            if (!num(a, 0, 1024, &v)) goto bad;
            c->o.threads = (int)v;
            break;
        case O_PARALLEL:
            if (!num(a, 1, 100000, &v)) goto bad;
            c->o.fetch.parallel = (int)v;
            break;
        case O_PERHOST:
            if (!num(a, 0, 100000, &v)) goto bad;
            c->o.fetch.per_host = (int)v;
            break;
        case O_HOSTDELAY:
            if (!num(a, 0, 86400, &v)) goto bad;
            c->o.fetch.host_delay = v;
            break;
        case O_RATE:
            if (!num(a, 0, 1e9, &v)) goto bad;
            c->o.fetch.rate = v;
            break;
        case O_TIMEOUT:
            if (!num(a, 0, 86400, &v)) goto bad;
            c->o.fetch.timeout = v;
            break;
        case O_RETRIES:
            if (!num(a, 0, 1000, &v)) goto bad;
            c->o.fetch.retries = (int)v;
            break;
        case O_MAXBODY:
            if (!num(a, 1, 1e12, &v)) goto bad;
            c->o.fetch.max_body = (size_t)v;
            break;
        case O_UA: c->o.fetch.user_agent = a; break;
        case O_NOROBOTS: c->o.fetch.ignore_robots_txt = true; break;
        case O_NOXROBOTS: c->o.fetch.ignore_x_robots_tag = true; break;
        case O_NOTDM: c->o.fetch.ignore_tdm_reservation = true; break;
        case O_RESOLVE:
            if (c->nresolve >= 16) {
                cli_err("--resolve: at most 16");
                return CLI_EXIT_USAGE;
            }
            c->resolve[c->nresolve++] = a;
            c->resolve[c->nresolve] = NULL;
            c->o.fetch.resolve = c->resolve;
            break;
        case O_NOPROGRESS: c->no_progress = true; break;
        case O_CONNECTTO:
            if (c->nconnect >= 16) {
                cli_err("--connect-to: at most 16");
                return CLI_EXIT_USAGE;
            }
            c->connect_to[c->nconnect++] = a;
            c->connect_to[c->nconnect] = NULL;
            c->o.fetch.connect_to = c->connect_to;
            break;
        case O_INFMT:
        case O_URLCOL:
        case O_CAPCOL:
        case O_SAVECOLS:
        case O_VERIFY:
            if (pairs) {
                cli_err("pairs: --%s is for download only", LONGOPTS[ch - O_OUT].name);
                return CLI_EXIT_USAGE;
            }
            if (ch == O_INFMT && !cs_urllist_format_parse(a, &c->uo.format)) {
                cli_err("--input-format: txt, csv, tsv, jsonl or wat-links");
                return CLI_EXIT_USAGE;
            }
            if (ch == O_URLCOL)
                c->uo.url_col = a;
            if (ch == O_CAPCOL)
                c->uo.caption_col = a;
            if (ch == O_VERIFY)
                c->verify_col = a;
            if (ch == O_SAVECOLS) {
                free(c->save_buf);
                c->save_buf = strdup(a);
                size_t n = 0;
                for (char *t = strtok(c->save_buf, ","); t && n < 63; t = strtok(NULL, ","))
                    c->save[n++] = t;
                c->uo.save_columns = c->save;
                c->uo.nsave = n;
            }
            break;
        case O_FILTER: c->filter = true; break;
        case O_PHASH: c->o.phash = true; break;
        case O_RULES: c->filter = true; c->rules = a; break;
        case O_FRULE:
            if (c->nfrules >= 64 || !strchr(a, '=')) {
                cli_err("--filter-rule: KEY=VALUE (at most 64)");
                return CLI_EXIT_USAGE;
            }
            c->filter = true;
            c->frules[c->nfrules++] = a;
            break;
        case 'h':
        case O_HELP: return 0;
        default: return CLI_EXIT_USAGE;
        }
        continue;
    bad:
        cli_err("--%s: bad value '%s'", LONGOPTS[ch - O_OUT].name, a);
        return CLI_EXIT_USAGE;
    }
    if (!c->out) {
        cli_err("--out DIR is required");
        return CLI_EXIT_USAGE;
    }
    return -1;
}

static void on_progress(const cs_download_stats *s, void *ud)
{
    dl_cli *c = ud;
    if (!c->prog.enabled)
        return;
    double mb = (double)s->bytes_downloaded / (1024.0 * 1024.0);
    snprintf(c->label, sizeof c->label, "ok %llu  failed %llu  %.1f MiB",
             (unsigned long long)s->ok,
             (unsigned long long)(s->failed_download + s->failed_image), mb);
    cs_progress_update(&c->prog, s->ok + s->failed_download + s->failed_image);
}

static int report(dl_cli *c, cs_status st, const cs_download_stats *s, const char *err)
{
    cs_progress_finish(&c->prog);
    fprintf(stderr,
            "crawlset: %llu rows: %llu ok, %llu failed to download, %llu failed to resize, "
            "%llu skipped; %.1f samples/s\n",
            (unsigned long long)s->rows, (unsigned long long)s->ok,
            (unsigned long long)s->failed_download, (unsigned long long)s->failed_image,
            (unsigned long long)s->skipped,
            s->seconds > 0 ? (double)(s->ok + s->failed_download + s->failed_image) / s->seconds
                           : 0.0);
    for (int i = 1; i < CS_FETCH__REASON_COUNT; i++)
        if (s->by_fetch[i])
            fprintf(stderr, "  download %-14s %llu\n", cs_fetch_reason_name((cs_fetch_reason)i),
                    (unsigned long long)s->by_fetch[i]);
    for (int i = 1; i < CS_IMAGE__REASON_COUNT; i++)
        if (s->by_image[i])
            fprintf(stderr, "  image    %-14s %llu\n", cs_image_reason_name((cs_image_reason)i),
                    (unsigned long long)s->by_image[i]);
    free(c->save_buf);
    if (st == CS_ECANCELED) {
        cli_err("interrupted: complete shards are kept; rerun with --incremental to finish");
        return CLI_EXIT_PARTIAL;
    }
    if (st) {
        cli_err("%s", err);
        return CLI_EXIT_FATAL;
    }
    return 0;
}

/* SIGINT / SIGTERM: stop soon, keep the complete shards (exit 1). */
static volatile int interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void init_cli(dl_cli *c)
{
    memset(c, 0, sizeof *c);
    cs_download_opts_init(&c->o);
    c->o.progress = on_progress;
    c->o.progress_ud = c;
    c->o.cancel = &interrupted;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void start_progress(dl_cli *c, const char *what)
{
    snprintf(c->label, sizeof c->label, "%s", what);
    cs_progress_init(&c->prog, stderr, c->label, "samples", 0);
    if (c->no_progress)
        c->prog.enabled = false;
}

/* With --filter/--rules: puts the candidate filter chain in front of the
 * row source (*src, *src_ud replaced) and its per-shard counts into the
 * shards' _stats.json; read_ahead: the source (WAT files) is read on a
 * thread of its own. Returns -1, or an exit code. */
static int setup_filter(dl_cli *c, cs_row_source_fn *src, void **src_ud, bool read_ahead)
{
    if (!c->filter)
        return -1;
    cs_filter_rules r;
    char err[1024];
    if (cs_filter_rules_init(&r))
        cli_die("out of memory");
    int rc = -1;
    if (c->rules && cs_filter_rules_load(&r, c->rules, err, sizeof err)) {
        cli_err("%s", err);
        rc = CLI_EXIT_USAGE;
    }
    for (int i = 0; i < c->nfrules && rc < 0; i++) {
        char key[128];
        const char *eq = strchr(c->frules[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - c->frules[i]), c->frules[i]);
        if (cs_filter_rules_set(&r, key, eq + 1, err, sizeof err)) {
            cli_err("--filter-rule %s: %s", c->frules[i], err);
            rc = CLI_EXIT_USAGE;
        }
    }
    if (rc < 0 && cs_filter_chain_new(&c->chain, &r, err, sizeof err)) {
        cli_err("filter: %s", err);
        rc = CLI_EXIT_USAGE;
    }
    cs_filter_rules_cleanup(&r);
    if (rc >= 0)
        return rc;
    if (cs_pipe_filter_rows_new(&c->frows, *src, *src_ud, c->chain,
                                c->o.dataset.samples_per_shard))
        cli_die("out of memory");
    if (read_ahead)
        cs_pipe_filter_rows_read_ahead(c->frows);
    *src = cs_pipe_filter_rows_next;
    *src_ud = c->frows;
    c->o.dataset.filters_json = cs_pipe_filter_rows_shard_json;
    c->o.dataset.filters_ud = c->frows;
    return -1;
}

static void finish_filter(dl_cli *c)
{
    if (!c->frows)
        return;
    uint64_t seen, kept;
    cs_pipe_filter_rows_counts(c->frows, &seen, &kept);
    fprintf(stderr, "crawlset: filter: %llu candidates, %llu kept\n", (unsigned long long)seen,
            (unsigned long long)kept);
    cs_pipe_filter_rows_free(c->frows);
    cs_filter_chain_free(c->chain);
}

int cmd_download(int argc, char **argv)
{
    dl_cli c;
    init_cli(&c);
    int rc = parse(&c, argc, argv, false);
    if (rc >= 0) {
        if (rc == 0)
            usage_download(stdout);
        free(c.save_buf);
        return rc;
    }
    if (optind + 1 != argc) {
        cli_err("download: give exactly one INPUT (see --help)");
        free(c.save_buf);
        return CLI_EXIT_USAGE;
    }
    c.o.verify_hash_col = c.verify_col;
    if (c.verify_col) { /* the hash column must be carried in the rows */
        bool have = false;
        for (size_t i = 0; i < c.uo.nsave; i++)
            have |= !strcmp(c.save[i], c.verify_col);
        if (!have && c.uo.nsave < 63) {
            c.save[c.uo.nsave++] = c.verify_col;
            c.uo.save_columns = c.save;
        }
    }
    cs_urllist_reader *ur;
    cs_status st = cs_urllist_open(&ur, argv[optind], &c.uo);
    if (st) {
        cli_err("%s: %s", argv[optind], ur ? cs_urllist_errmsg(ur) : cs_strerror(st));
        cs_urllist_free(ur);
        free(c.save_buf);
        return st == CS_ENOTFOUND || st == CS_EIO ? CLI_EXIT_FATAL : CLI_EXIT_USAGE;
    }
    cs_row_source_fn src = cs_pipe_urllist_rows;
    void *src_ud = ur;
    if ((rc = setup_filter(&c, &src, &src_ud, false)) >= 0) {
        cs_urllist_free(ur);
        free(c.save_buf);
        return rc;
    }
    start_progress(&c, "download");
    cs_download_stats s;
    char err[CS_ERRMSG_MAX];
    st = cs_download_run(&c.o, c.out, src, src_ud, &s, err, sizeof err);
    finish_filter(&c);
    cs_urllist_stats us;
    cs_urllist_stats_get(ur, &us);
    cs_urllist_free(ur);
    if (us.errors)
        fprintf(stderr, "crawlset: %llu input rows were malformed and skipped\n",
                (unsigned long long)us.errors);
    return report(&c, st, &s, err);
}

int cmd_pairs(int argc, char **argv)
{
    dl_cli c;
    init_cli(&c);
    int rc = parse(&c, argc, argv, true);
    if (rc >= 0) {
        if (rc == 0)
            usage_pairs(stdout);
        free(c.save_buf);
        return rc;
    }
    if (optind >= argc) {
        cli_err("pairs: no WAT files (see --help)");
        return CLI_EXIT_USAGE;
    }
    cs_pipe_wat_rows *w;
    if (cs_pipe_wat_rows_new(&w, (const char *const *)argv + optind, (size_t)(argc - optind),
                        cli_threads()))
        cli_die("out of memory");
    cs_row_source_fn src = cs_pipe_wat_rows_next;
    void *src_ud = w;
    if ((rc = setup_filter(&c, &src, &src_ud, true)) >= 0) {
        cs_pipe_wat_rows_free(w);
        free(c.save_buf);
        return rc;
    }
    start_progress(&c, "pairs");
    cs_download_stats s;
    char err[CS_ERRMSG_MAX];
    cs_status st = cs_download_run(&c.o, c.out, src, src_ud, &s, err, sizeof err);
    finish_filter(&c);
    uint64_t recs, errs;
    cs_pipe_wat_rows_counts(w, &recs, &errs);
    cs_pipe_wat_rows_free(w);
    fprintf(stderr, "crawlset: %llu WAT records read, %llu malformed\n",
            (unsigned long long)recs, (unsigned long long)errs);
    return report(&c, st, &s, err);
}
