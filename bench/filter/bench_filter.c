/* bench_filter.c - programs behind bench/filter.sh.
 *
 *   bench_filter chain FILE.jsonl DATADIR   the candidate chain in process:
 *       rows read into memory first, then timed (CPU time of this thread):
 *       parse only, and parse + the full chain (url, text, lang en+un,
 *       unsafe tag with the shipped lists, exact dedupe), and the full chain
 *       less the language step (no_lang_chain: what cld2 costs is the
 *       difference); a 4th argument 0, 1, 2 or 3 runs that mode only
 *   bench_filter pairs FILE.wat DATADIR     what `pairs` pays before the
 *       download: the WAT row source (cs_pipe_wat_rows, 2 threads) drained
 *       alone, then through the filter row source (cs_pipe_filter_rows, read
 *       ahead as pairs does) with the default and the full chain, and the
 *       full chain without read-ahead (_inline); wall and process CPU seconds
 *   bench_filter phash N SUBSET             near-duplicate search over N
 *       64-bit hashes (random, 10% planted near copies) at radius 4 with the
 *       multi-index, against all-pairs on the first SUBSET, scaled by
 *       (N/SUBSET)^2; the index's pairs on the subset are checked against
 *       all-pairs' count
 * Prints one "key value" per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crawlset.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *m)
{
    fprintf(stderr, "bench_filter: %s\n", m);
    exit(1);
}

static int chain(const char *path, const char *datadir, int only)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open input");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)sz + 1);
    if (!data || fread(data, 1, (size_t)sz, f) != (size_t)sz)
        die("read");
    fclose(f);
    size_t nlines = 0;
    for (long i = 0; i < sz; i++)
        nlines += data[i] == '\n';
    char **lines = malloc(nlines * sizeof *lines);
    size_t *lens = malloc(nlines * sizeof *lens);
    size_t k = 0;
    for (char *p = data, *nl; (nl = memchr(p, '\n', (size_t)(data + sz - p))); p = nl + 1) {
        lines[k] = p;
        lens[k++] = (size_t)(nl - p);
    }
    static const char *const sets[][2] = {{"lang", "en,un"}, {"unsafe", "tag"}};
    for (int mode = 0; mode < 4; mode++) {
        if (only >= 0 && mode != only)
            continue;
        cs_filter_rules r;
        char err[1024], p2[4200];
        if (cs_filter_rules_init(&r))
            die("oom");
        if (mode >= 2) {
            for (size_t i = mode == 2 ? 0 : 1; i < 2; i++)
                if (cs_filter_rules_set(&r, sets[i][0], sets[i][1], err, sizeof err))
                    die(err);
            static const char *const lists[][2] = {{"unsafe-words-file", "unsafe-words.txt"},
                                                   {"unsafe-phrases-file", "unsafe-phrases.txt"},
                                                   {"unsafe-regex-file", "unsafe-regex.txt"}};
            for (size_t i = 0; i < 3; i++) {
                snprintf(p2, sizeof p2, "%s/%s", datadir, lists[i][1]);
                if (cs_filter_rules_set(&r, lists[i][0], p2, err, sizeof err))
                    die(err);
            }
        }
        cs_filter_chain *c;
        if (cs_filter_chain_new(&c, &r, err, sizeof err))
            die(err);
        cs_filter_rules_cleanup(&r);
        cs_buf scratch;
        cs_buf_init(&scratch, 0);
        size_t kept = 0;
        double t0 = cpu_now();
        for (size_t i = 0; i < k; i++) {
            cs_candidate cand;
            if (cs_filter_parse_line(c, lines[i], lens[i], &scratch, &cand, err, sizeof err))
                continue;
            if (mode == 0)
                continue;
            cs_filter_verdict v;
            if (cs_filter_chain_apply(c, &cand, &v))
                die("oom");
            kept += v.keep;
        }
        double t = cpu_now() - t0;
        static const char *const names[] = {"parse_only", "default_chain", "full_chain",
                                             "no_lang_chain"};
        printf("%s_rows %zu\n%s_kept %zu\n%s_cpu_s %.3f\n%s_rows_per_cpu_s %.0f\n", names[mode], k,
               names[mode], kept, names[mode], t, names[mode], (double)k / t);
        cs_buf_cleanup(&scratch);
        cs_filter_chain_free(c);
    }
    free(lines);
    free(lens);
    free(data);
    return 0;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double proc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pairs(const char *wat, const char *datadir)
{
    static const char *const names[] = {"extract_only", "extract_default_chain",
                                        "extract_full_chain", "extract_full_chain_inline"};
    for (int mode = 0; mode < 4; mode++) {
        cs_filter_chain *c = NULL;
        char err[1024], p2[4200];
        if (mode) {
            cs_filter_rules r;
            if (cs_filter_rules_init(&r))
                die("oom");
            if (mode >= 2) {
                static const char *const kv[][2] = {{"lang", "en,un"},
                                                    {"unsafe", "tag"},
                                                    {"unsafe-words-file", "unsafe-words.txt"},
                                                    {"unsafe-phrases-file", "unsafe-phrases.txt"},
                                                    {"unsafe-regex-file", "unsafe-regex.txt"}};
                for (size_t i = 0; i < 5; i++) {
                    if (i >= 2)
                        snprintf(p2, sizeof p2, "%s/%s", datadir, kv[i][1]);
                    else
                        snprintf(p2, sizeof p2, "%s", kv[i][1]);
                    if (cs_filter_rules_set(&r, kv[i][0], p2, err, sizeof err))
                        die(err);
                }
            }
            if (cs_filter_chain_new(&c, &r, err, sizeof err))
                die(err);
            cs_filter_rules_cleanup(&r);
        }
        cs_pipe_wat_rows *w;
        if (cs_pipe_wat_rows_new(&w, &wat, 1, 2))
            die("wat rows");
        cs_pipe_filter_rows *f = NULL;
        if (c && cs_pipe_filter_rows_new(&f, cs_pipe_wat_rows_next, w, c, 0))
            die("filter rows");
        if (f && mode < 3) /* as pairs does; _inline: the chain on the source's thread */
            cs_pipe_filter_rows_read_ahead(f);
        double w0 = wall_now(), c0 = proc_now();
        size_t rows = 0;
        const cs_urllist_row *row;
        cs_status st;
        while ((st = f ? cs_pipe_filter_rows_next(f, &row) : cs_pipe_wat_rows_next(w, &row)) ==
               CS_OK)
            rows++;
        if (st != CS_DONE)
            die(cs_status_name(st));
        double tw = wall_now() - w0, tc = proc_now() - c0;
        uint64_t seen = rows, kept = rows;
        if (f)
            cs_pipe_filter_rows_counts(f, &seen, &kept);
        printf("%s_candidates %llu\n%s_rows %zu\n%s_wall_s %.3f\n%s_cpu_s %.3f\n", names[mode],
               (unsigned long long)seen, names[mode], rows, names[mode], tw, names[mode], tc);
        cs_pipe_filter_rows_free(f);
        cs_pipe_wat_rows_free(w);
        cs_filter_chain_free(c);
    }
    return 0;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void count_hit(void *ud, uint32_t id, int d)
{
    (void)id;
    (void)d;
    (*(size_t *)ud)++;
}

static int phash(size_t n, size_t sub)
{
    uint64_t *h = malloc(n * sizeof *h), s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        if (i && i % 10 == 9) {
            uint64_t x = h[rng(&s) % i];
            int flips = (int)(rng(&s) % 7);
            for (int f = 0; f < flips; f++)
                x ^= 1ull << (rng(&s) % 64);
            h[i] = x;
        } else {
            h[i] = rng(&s);
        }
    }
    double t0 = cpu_now();
    cs_phash_index *x;
    if (cs_phash_index_new(&x, h, n, 4))
        die("index");
    double tb = cpu_now() - t0;
    size_t hits = 0, work = 0;
    t0 = cpu_now();
    for (size_t i = 0; i < n; i++)
        work += cs_phash_index_query(x, h[i], count_hit, &hits);
    double tq = cpu_now() - t0;
    cs_phash_index_free(x);
    /* all pairs on the subset */
    t0 = cpu_now();
    size_t ap = 0;
    for (size_t i = 0; i < sub; i++)
        for (size_t j = i + 1; j < sub; j++)
            ap += cs_phash_distance(h[i], h[j]) <= 4;
    double ta = cpu_now() - t0;
    /* the index on the subset finds the same pairs */
    size_t sh = 0;
    if (cs_phash_index_new(&x, h, sub, 4))
        die("index");
    for (size_t i = 0; i < sub; i++)
        cs_phash_index_query(x, h[i], count_hit, &sh);
    cs_phash_index_free(x);
    size_t sub_pairs = (sh - sub) / 2; /* each pair twice, each hash finds itself */
    double scale = ((double)n / (double)sub) * ((double)n / (double)sub);
    printf("hashes %zu\nindex_build_cpu_s %.3f\nindex_query_cpu_s %.3f\n", n, tb, tq);
    printf("index_pairs_within_4 %zu\nindex_comparisons_per_query %.1f\n", (hits - n) / 2,
           (double)work / (double)n);
    printf("allpairs_subset %zu\nallpairs_subset_cpu_s %.3f\nallpairs_subset_pairs %zu\n", sub, ta,
           ap);
    printf("index_subset_pairs %zu\n", sub_pairs);
    printf("allpairs_scaled_cpu_s %.1f\nspeedup %.0f\n", ta * scale, ta * scale / (tb + tq));
    free(h);
    return sub_pairs == ap ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "chain"))
        return chain(argv[2], argv[3], -1);
    if (argc == 5 && !strcmp(argv[1], "chain")) /* one mode: 0 parse, 1 default, 2 full */
        return chain(argv[2], argv[3], atoi(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "pairs"))
        return pairs(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "phash"))
        return phash((size_t)atol(argv[2]), (size_t)atol(argv[3]));
    fprintf(stderr, "usage: bench_filter chain FILE.jsonl DATADIR | pairs FILE.wat DATADIR | "
                    "phash N SUBSET\n");
    return 2;
}
