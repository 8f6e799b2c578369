/* cmd_bloom.c - `crawlset bloom create|add|query|merge|info`: Bloom filter
 * files of URLs for dedupe across jobs and workers (crawlset/filter.h says
 * the file layout and the tracker flow). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage_bloom(FILE *f)
{
    fprintf(f,
            "usage: crawlset bloom create FILE [--capacity N] [--error-rate P]\n"
            "       crawlset bloom add FILE [INPUT...]\n"
            "       crawlset bloom query FILE [--present] [INPUT...]\n"
            "       crawlset bloom merge OUT IN...\n"
            "       crawlset bloom info FILE [--verify]\n"
            "\n"
            "Bloom filter files of URLs, for dedupe across jobs and workers: mmap'd\n"
            "read-only by any number of processes, merged by OR (same parameters only).\n"
            "\n"
            "  create  a new empty filter sized for N keys at false-positive rate P\n"
            "          (defaults: 100000000 at 0.01, 114 MiB); an existing FILE is replaced\n"
            "  add     adds the URL of each input row (JSON Lines with \"url\", as 'crawlset\n"
            "          wat links' and 'crawlset filter' write, or one URL per line); the\n"
            "          file is rewritten atomically. Prints how many were new.\n"
            "  query   prints the input rows whose URL is not in the filter (with\n"
            "          --present: those that are), each line unchanged\n"
            "  merge   ORs IN... into OUT (OUT may be one of them); parameters must match\n"
            "  info    parameters, bits set and the estimated count, as JSON; --verify\n"
            "          checks the bit array against its checksum\n"
            "\n"
            "URLs are compared with scheme and host lower-cased and the fragment dropped.\n"
            "INPUT defaults to standard input ('-').\n"
            "Exit codes: 0 ok, 1 some rows had no URL, 2 usage error, 3 fatal error.\n");
}

/* Calls fn on the URL of each line of the inputs; returns rows without one. */
typedef void (*url_fn)(void *ud, const char *line, size_t len, const char *url, size_t ulen);

static uint64_t each_url(char **inputs, int n, url_fn fn, void *ud, int *rc)
{
    static const char *const dash[] = {"-"};
    uint64_t bad = 0;
    cs_filter_rules rules;
    cs_filter_chain *c = NULL;
    char err[512];
    if (cs_filter_rules_init(&rules) || cs_filter_chain_new(&c, &rules, err, sizeof err))
        cli_die("out of memory");
    cs_filter_rules_cleanup(&rules);
    cs_buf scratch;
    cs_buf_init(&scratch, 0);
    if (n == 0) {
        inputs = (char **)dash;
        n = 1;
    }
    for (int i = 0; i < n; i++) {
        FILE *f = strcmp(inputs[i], "-") ? fopen(inputs[i], "r") : stdin;
        if (!f) {
            cli_err("%s: %s", inputs[i], strerror(errno));
            *rc = CLI_EXIT_FATAL;
            break;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            size_t l = (size_t)len;
            while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
                l--;
            cs_slice t = cs_slice_trim((cs_slice){line, l});
            if (!t.len)
                continue;
            if (t.ptr[0] == '{') {
                cs_candidate cand;
                if (cs_filter_parse_line(c, line, l, &scratch, &cand, err, sizeof err) ||
                    !cand.url.len) {
                    bad++;
                    continue;
                }
                fn(ud, line, l, cand.url.ptr, cand.url.len);
            } else {
                fn(ud, line, l, t.ptr, t.len);
            }
        }
        if (ferror(f)) {
            cli_err("%s: read error", inputs[i]);
            *rc = CLI_EXIT_FATAL;
        }
        free(line);
        if (f != stdin)
            fclose(f);
    }
    cs_buf_cleanup(&scratch);
    cs_filter_chain_free(c);
    return bad;
}

typedef struct bctx {
    cs_bloom *b;
    cs_buf key;
    uint64_t added, present;
    bool want_present;
    cli_out *out;
} bctx;

static size_t norm(bctx *x, const char *url, size_t n)
{
    cs_buf_reset(&x->key);
    CLI_TRY(cs_buf_reserve(&x->key, n + 1));
    return cs_filter_url_norm(url, n, x->key.data);
}

static void add_one(void *ud, const char *line, size_t len, const char *url, size_t n)
{
    bctx *x = ud;
    (void)line;
    (void)len;
    size_t k = norm(x, url, n);
    if (cs_bloom_add(x->b, x->key.data, k))
        x->present++;
    else
        x->added++;
}

static void query_one(void *ud, const char *line, size_t len, const char *url, size_t n)
{
    bctx *x = ud;
    size_t k = norm(x, url, n);
    bool in = cs_bloom_query(x->b, x->key.data, k);
    x->present += in;
    if (in == x->want_present) {
        cli_out_write(x->out, line, len);
        cli_out_write(x->out, "\n", 1);
    }
}

static void print_info(const char *path, const cs_bloom *b)
{
    cs_bloom_info in;
    cs_bloom_info_get(b, &in);
    printf("{\"file\":");
    cs_buf s;
    cs_buf_init(&s, 0);
    CLI_TRY(cs_json_put_str(&s, path, strlen(path)));
    printf("%s,\"k\":%u,\"bits\":%llu,\"bytes\":%llu,\"capacity\":%llu,\"error_rate\":%g,"
           "\"bits_set\":%llu,\"fill\":%.6f,\"estimated_count\":%.0f}\n",
           s.data, in.k, (unsigned long long)in.m, (unsigned long long)(in.m / 8 + 4096),
           (unsigned long long)in.capacity, in.error_rate, (unsigned long long)in.bits_set,
           (double)in.bits_set / (double)in.m, in.est_count + 0.0);
    cs_buf_cleanup(&s);
}

int cmd_bloom(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage_bloom(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *sub = argv[1];
    char err[1024];
    int rc = CLI_EXIT_OK;
    /* options anywhere after the subcommand; the rest are positional */
    uint64_t capacity = 0;
    double rate = 0;
    bool present = false, verify = false;
    char **pos = calloc((size_t)argc, sizeof *pos);
    int npos = 0;
    if (!pos)
        cli_die("out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_bloom(stdout);
            free(pos);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--capacity") && i + 1 < argc) {
            char *end;
            capacity = strtoull(argv[++i], &end, 10);
            if (*end || !capacity) {
                cli_err("bloom: bad --capacity '%s'", argv[i]);
                free(pos);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--error-rate") && i + 1 < argc) {
            char *end;
            rate = strtod(argv[++i], &end);
            if (*end || !(rate > 0 && rate <= 0.5)) {
                cli_err("bloom: --error-rate must be in (0, 0.5], not '%s'", argv[i]);
                free(pos);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--present")) {
            present = true;
        } else if (!strcmp(a, "--verify")) {
            verify = true;
        } else if (a[0] == '-' && a[1]) {
            cli_err("bloom: unknown option '%s' (see --help)", a);
            free(pos);
            return CLI_EXIT_USAGE;
        } else {
            pos[npos++] = argv[i];
        }
    }
    cs_bloom *b = NULL;
    if (!strcmp(sub, "create")) {
        if (npos != 1) {
            cli_err("bloom create: one FILE");
            rc = CLI_EXIT_USAGE;
        } else if (cs_bloom_new(&b, capacity, rate)) {
            cli_err("bloom create: cannot make a filter that size");
            rc = CLI_EXIT_FATAL;
        } else if (cs_bloom_save(b, pos[0], err, sizeof err)) {
            cli_err("%s", err);
            rc = CLI_EXIT_FATAL;
        } else {
            print_info(pos[0], b);
        }
    } else if (!strcmp(sub, "add") || !strcmp(sub, "query")) {
        bool add = !strcmp(sub, "add");
        if (npos < 1) {
            cli_err("bloom %s: FILE missing", sub);
            rc = CLI_EXIT_USAGE;
        } else if (cs_bloom_open(&b, pos[0], add ? CS_BLOOM_WRITABLE : 0, err, sizeof err)) {
            cli_err("%s", err);
            rc = CLI_EXIT_FATAL;
        } else {
            cli_out out;
            cli_out_init(&out, 1);
            bctx x = {.b = b, .want_present = present, .out = &out};
            cs_buf_init(&x.key, 0);
            uint64_t bad = each_url(pos + 1, npos - 1, add ? add_one : query_one, &x, &rc);
            cli_out_cleanup(&out);
            cs_buf_cleanup(&x.key);
            if (bad) {
                cli_err("bloom %s: %llu rows without a URL skipped", sub, (unsigned long long)bad);
                if (rc == CLI_EXIT_OK)
                    rc = CLI_EXIT_PARTIAL;
            }
            if (add && rc != CLI_EXIT_FATAL) {
                if (cs_bloom_save(b, pos[0], err, sizeof err)) {
                    cli_err("%s", err);
                    rc = CLI_EXIT_FATAL;
                } else {
                    fprintf(stderr, "bloom add: %llu new, %llu already present\n",
                            (unsigned long long)x.added, (unsigned long long)x.present);
                }
            }
        }
    } else if (!strcmp(sub, "merge")) {
        if (npos < 2) {
            cli_err("bloom merge: OUT and at least one IN");
            rc = CLI_EXIT_USAGE;
        }
        for (int i = 1; i < npos && rc == CLI_EXIT_OK; i++) {
            cs_bloom *in = NULL;
            if (cs_bloom_open(&in, pos[i], CS_BLOOM_VERIFY, err, sizeof err)) {
                cli_err("%s", err);
                rc = CLI_EXIT_FATAL;
            } else if (!b && cs_bloom_new_like(&b, in)) {
                cli_die("out of memory");
            } else if (cs_bloom_merge(b, in)) {
                cli_err("bloom merge: %s has other parameters than %s", pos[i], pos[1]);
                rc = CLI_EXIT_FATAL;
            }
            cs_bloom_free(in);
        }
        if (rc == CLI_EXIT_OK && cs_bloom_save(b, pos[0], err, sizeof err)) {
            cli_err("%s", err);
            rc = CLI_EXIT_FATAL;
        }
    } else if (!strcmp(sub, "info")) {
        if (npos != 1) {
            cli_err("bloom info: one FILE");
            rc = CLI_EXIT_USAGE;
        } else if (cs_bloom_open(&b, pos[0], verify ? CS_BLOOM_VERIFY : 0, err, sizeof err)) {
            cli_err("%s", err);
            rc = CLI_EXIT_FATAL;
        } else {
            print_info(pos[0], b);
        }
    } else {
        cli_err("bloom: unknown subcommand '%s' (see --help)", sub);
        rc = CLI_EXIT_USAGE;
    }
    cs_bloom_free(b);
    free(pos);
    return rc;
}
