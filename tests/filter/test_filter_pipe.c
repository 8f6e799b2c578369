/* test_filter_pipe.c - the candidate filter chain in process in `crawlset
 * download` and `crawlset pairs` (--filter, --rules, --filter-rule): dropped
 * candidates never become rows, kept rows are numbered densely, and each
 * shard's _stats.json carries the chain's counts for its candidates. */
#include <jansson.h>
#include <unistd.h>

#include "origin.h"
#include "../test.h"

static const char *NAMES[] = {"red-bicycle", "harbour-boats", "mountain-lake", "city-night",
                              "cat-window",  "market-fruit",  "old-library",   "snow-forest",
                              "tea-cup",     "race-finish",   "lighthouse",    "sunflowers"};

TEST_T(filter_in_download_per_shard_stats, 90)
{
    cs_origin_opts oo = {.root = cs_test_source("data/sample/images")};
    cs_origin *o;
    ASSERT_OK(cs_origin_start_opts(&o, &oo));
    const char *t = cs_test_tmpdir();
    char list[600];
    snprintf(list, sizeof list, "%s/cands.jsonl", t);
    cs_buf b;
    cs_buf_init(&b, 0);
    const char *u = cs_origin_url(o);
    for (int i = 0; i < 12; i++) {
        ASSERT_OK(cs_buf_printf(&b, "{\"url\":\"%s/%s.jpg\",\"alt\":\"A photo of %s\"}\n", u,
                                NAMES[i], NAMES[i]));
        if (i == 3) /* dropped candidates between kept ones */
            ASSERT_OK(cs_buf_printf(&b,
                                    "{\"url\":\"%s/%s.jpg\",\"alt\":\"A photo of %s\"}\n"
                                    "{\"url\":\"%s/logo.svg\",\"alt\":\"The site logo here\"}\n"
                                    "{\"url\":\"%s/x.jpg\",\"alt\":\"ab\"}\n",
                                    u, NAMES[i], NAMES[i], u, u));
        if (i == 11)
            ASSERT_OK(cs_buf_printf(&b, "{\"url\":\"%s/y.jpg\",\"alt\":\"Image\"}\n", u));
    }
    cs_test_write_file(list, b.data, b.len);
    cs_buf_cleanup(&b);
    char args[2048];
    snprintf(args, sizeof args,
             "download '%s' --input-format wat-links --out '%s/out' --samples-per-shard 5 "
             "--filter --retries 0 --no-progress",
             list, t);
    char *err = NULL;
    int rc = cs_test_crawlset(args, NULL, &err);
    if (rc)
        FAIL("rc %d: %s", rc, err);
    ASSERT_CONTAINS(err, "filter: 16 candidates, 12 kept");
    cs_free(err);
    /* three shards: 5, 5, 2 rows; every row a success; the filters' counts
     * add up to the 16 candidates */
    uint64_t items = 0, kept = 0, dup = 0, ext = 0, shortt = 0, ph = 0;
    for (int s = 0; s < 3; s++) {
        char p[700];
        snprintf(p, sizeof p, "%s/out/%05d_stats.json", t, s);
        json_error_t je;
        json_t *j = json_load_file(p, 0, &je);
        if (!j)
            FAIL("%s: %s", p, je.text);
        ASSERT_EQ(json_integer_value(json_object_get(j, "count")), s < 2 ? 5 : 2);
        ASSERT_EQ(json_integer_value(json_object_get(j, "successes")), s < 2 ? 5 : 2);
        json_t *f = json_object_get(j, "filters");
        ASSERT(json_is_object(f));
        items += (uint64_t)json_integer_value(json_object_get(f, "items"));
        kept += (uint64_t)json_integer_value(json_object_get(f, "kept"));
        json_t *fs = json_object_get(f, "filters");
        for (size_t i = 0; i < json_array_size(fs); i++) {
            json_t *r = json_object_get(json_array_get(fs, i), "reasons");
            dup += (uint64_t)json_integer_value(json_object_get(r, "duplicate"));
            ext += (uint64_t)json_integer_value(json_object_get(r, "extension"));
            shortt += (uint64_t)json_integer_value(json_object_get(r, "too_short"));
            ph += (uint64_t)json_integer_value(json_object_get(r, "placeholder"));
        }
        if (s == 0) /* the drops after row 3 belong to row 4's shard, the first */
            ASSERT_EQ(json_integer_value(json_object_get(f, "items")), 8);
        if (s == 2) /* the drop after the last row counts for the last shard */
            ASSERT_EQ(json_integer_value(json_object_get(f, "items")), 3);
        json_decref(j);
    }
    ASSERT_UEQ(items, 16);
    ASSERT_UEQ(kept, 12);
    ASSERT_UEQ(dup, 1);
    ASSERT_UEQ(ext, 1);
    ASSERT_UEQ(shortt, 1);
    ASSERT_UEQ(ph, 1);
    char p[700];
    snprintf(p, sizeof p, "%s/out/00000.jsonl", t);
    char *j = cs_test_read_file(p, NULL);
    ASSERT(!strstr(j, "logo.svg"));
    ASSERT_CONTAINS(j, "\"key\":\"000004\"");
    cs_free(j);
    /* a rule flag and a rules file */
    snprintf(p, sizeof p, "%s/r.yaml", t);
    cs_test_write_file(p, "min-text: 200\n", 14);
    snprintf(args, sizeof args,
             "download '%s' --input-format wat-links --out '%s/out2' --rules '%s' --retries 0 "
             "--no-progress",
             list, t, p);
    ASSERT_EQ(cs_test_crawlset(args, NULL, &err), 0);
    ASSERT_CONTAINS(err, "filter: 16 candidates, 0 kept");
    cs_free(err);
    snprintf(args, sizeof args,
             "download '%s' --input-format wat-links --out '%s/out3' --filter-rule min-text=x",
             list, t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 2);
    /* without --filter: every candidate is a row, "filters" stays {} */
    snprintf(args, sizeof args,
             "download '%s' --input-format wat-links --out '%s/out4' --retries 0 --no-progress "
             "--phash --output-format files",
             list, t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    snprintf(p, sizeof p, "%s/out4/00000_stats.json", t);
    char *st = cs_test_read_file(p, NULL);
    ASSERT_CONTAINS(st, "\"filters\": {}");
    ASSERT_CONTAINS(st, "\"count\": 16");
    cs_free(st);
    /* --phash: the metadata holds the pHash of the image written */
    snprintf(p, sizeof p, "%s/out4/00000/000000000.json", t);
    char *meta = cs_test_read_file(p, NULL);
    const char *h = strstr(meta, "\"phash\":\"");
    ASSERT(h);
    snprintf(p, sizeof p, "%s/out4/00000/000000000.jpg", t);
    size_t ilen;
    char *img = cs_test_read_file(p, &ilen);
    uint64_t hash;
    char perr[256], hex[17];
    ASSERT_OK(cs_phash_image(img, ilen, &hash, perr, sizeof perr));
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    ASSERT(!strncmp(h + 9, hex, 16));
    cs_free(img);
    cs_free(meta);
    cs_origin_stop(o);
}

TEST_T(filter_in_pairs, 90)
{
    cs_origin_opts oo = {.root = cs_test_source("data/sample/images")};
    cs_origin *o;
    ASSERT_OK(cs_origin_start_opts(&o, &oo));
    const char *t = cs_test_tmpdir();
    char args[2048];
    snprintf(args, sizeof args,
             "pairs '%s' --out '%s/pairs' --connect-to images.crawlset.test:80:127.0.0.1:%u "
             "--filter --filter-rule block-domains=nothing.example --retries 0 --no-progress",
             cs_test_source("data/sample/demo.wat.gz"), t, (unsigned)cs_origin_port(o));
    char *err = NULL;
    int rc = cs_test_crawlset(args, NULL, &err);
    if (rc)
        FAIL("rc %d: %s", rc, err);
    ASSERT_CONTAINS(err, "filter: 14 candidates");
    cs_free(err);
    char p[700];
    snprintf(p, sizeof p, "%s/pairs/00000_stats.json", t);
    char *st = cs_test_read_file(p, NULL);
    ASSERT_CONTAINS(st, "\"filters\": {\"items\":14,");
    ASSERT_CONTAINS(st, "{\"name\":\"url\",\"in\":14,");
    cs_free(st);
    cs_origin_stop(o);
}

/* ---- read-ahead: a source of numbered rows ------------------------------ */

typedef struct num_src {
    size_t next, total;
    cs_status end; /* after the last row */
    char url[64], cap[64], page[64];
    cs_urllist_column col[2];
    cs_urllist_row row;
} num_src;

static cs_status num_next(void *ud, const cs_urllist_row **out)
{
    num_src *s = ud;
    if (s->next == s->total)
        return s->end;
    size_t i = s->next++;
    snprintf(s->url, sizeof s->url, "https://e%zu.example.com/%zu.jpg", i % 7, i);
    snprintf(s->cap, sizeof s->cap, "A caption for picture %zu", i);
    snprintf(s->page, sizeof s->page, "https://e.example.com/p%zu", i / 10);
    s->col[0] = (cs_urllist_column){"page", s->page, NULL};
    s->col[1] = (cs_urllist_column){"extra", i % 3 ? NULL : "x", i % 3 ? NULL : "[1]"};
    s->row = (cs_urllist_row){.index = i, .url = s->url, .caption = i % 5 ? s->cap : NULL,
                              .columns = s->col, .ncolumns = 2, .line = i + 1};
    *out = &s->row;
    return CS_OK;
}

/* Runs n rows through the filter rows (read ahead or not); checks every
 * kept row against the source's and returns the final status. */
static cs_status drain(bool ahead, size_t total, cs_status end, size_t *kept)
{
    cs_filter_rules r;
    char err[256];
    ASSERT_OK(cs_filter_rules_init(&r));
    cs_filter_chain *c;
    ASSERT_OK(cs_filter_chain_new(&c, &r, err, sizeof err));
    cs_filter_rules_cleanup(&r);
    num_src s = {.total = total, .end = end};
    cs_pipe_filter_rows *f;
    ASSERT_OK(cs_pipe_filter_rows_new(&f, num_next, &s, c, 100));
    if (ahead)
        cs_pipe_filter_rows_read_ahead(f);
    const cs_urllist_row *row;
    cs_status st;
    size_t k = 0;
    while ((st = cs_pipe_filter_rows_next(f, &row)) == CS_OK) {
        /* rows without a caption are dropped (no_text): the kept rows are
         * the source's rows i with i % 5 != 0, in order */
        size_t i = k + k / 4 + 1;
        char want[64];
        snprintf(want, sizeof want, "https://e%zu.example.com/%zu.jpg", i % 7, i);
        ASSERT_STR_EQ(row->url, want);
        snprintf(want, sizeof want, "A caption for picture %zu", i);
        ASSERT_STR_EQ(row->caption, want);
        ASSERT_UEQ(row->index, k);
        ASSERT_UEQ(row->line, i + 1);
        ASSERT_UEQ(row->ncolumns, 2);
        snprintf(want, sizeof want, "https://e.example.com/p%zu", i / 10);
        ASSERT_STR_EQ(row->columns[0].value, want);
        ASSERT_STR_EQ(row->columns[1].name, "extra");
        if (i % 3)
            ASSERT(!row->columns[1].value && !row->columns[1].json);
        else
            ASSERT_STR_EQ(row->columns[1].json, "[1]");
        k++;
    }
    /* the end status stays */
    ASSERT_ST(cs_pipe_filter_rows_next(f, &row), st == CS_DONE ? CS_DONE : st);
    uint64_t seen, kk;
    cs_pipe_filter_rows_counts(f, &seen, &kk);
    ASSERT_UEQ(seen, total);
    ASSERT_UEQ(kk, k);
    cs_pipe_filter_rows_free(f);
    cs_filter_chain_free(c);
    *kept = k;
    return st;
}

TEST(filter_rows_read_ahead)
{
    size_t a, b;
    /* more rows than the queue holds, and a partial last batch */
    ASSERT_ST(drain(false, 3001, CS_DONE, &a), CS_DONE);
    ASSERT_ST(drain(true, 3001, CS_DONE, &b), CS_DONE);
    ASSERT_UEQ(a, 2400);
    ASSERT_UEQ(b, a);
    /* a source error after its rows comes out after them */
    ASSERT_ST(drain(true, 700, CS_EIO, &b), CS_EIO);
    ASSERT_UEQ(b, 560);
    ASSERT_ST(drain(true, 0, CS_DONE, &b), CS_DONE);
    ASSERT_UEQ(b, 0);
    /* freed early, with the reader waiting on a full queue */
    cs_filter_rules r;
    char err[256];
    ASSERT_OK(cs_filter_rules_init(&r));
    cs_filter_chain *c;
    ASSERT_OK(cs_filter_chain_new(&c, &r, err, sizeof err));
    cs_filter_rules_cleanup(&r);
    num_src s = {.total = 100000, .end = CS_DONE};
    cs_pipe_filter_rows *f;
    ASSERT_OK(cs_pipe_filter_rows_new(&f, num_next, &s, c, 0));
    cs_pipe_filter_rows_read_ahead(f);
    const cs_urllist_row *row;
    ASSERT_OK(cs_pipe_filter_rows_next(f, &row));
    usleep(20000);
    ASSERT(s.next < 100000); /* bounded */
    cs_pipe_filter_rows_free(f);
    cs_filter_chain_free(c);
}
