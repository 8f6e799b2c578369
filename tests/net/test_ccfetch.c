/* test_ccfetch.c - Common Crawl range fetching against the loopback origin
 * serving a real per-record-gzip WARC file (the corpus' warcfile.warc.gz):
 * byte-identical records, and every failure the fetcher must name. The index
 * of the file is built here by walking gzip members, independent of the WARC
 * reader. Ends with `crawlset cc fetch` run as a process. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "origin.h"
#include "test.h"

#define WARC_REL "crawl-data/CC-TEST/segments/1/warc/test.warc.gz"

typedef struct member {
    uint64_t offset, length;
} member;

static char *g_file;      /* the WARC file's bytes */
static size_t g_len;
static member g_m[64];    /* its gzip members */
static size_t g_nm;
static char g_root[600];  /* served directory */
static char g_path[800];  /* the file under it */

/* Finds every gzip member boundary by inflating member after member. */
static void walk_members(void)
{
    size_t pos = 0;
    cs_inflate *z;
    ASSERT_OK(cs_inflate_new(&z, CS_INFLATE_GZIP_NOHDR));
    static uint8_t out[65536];
    while (pos < g_len) {
        cs_gzip_header h;
        ASSERT_OK(cs_gzip_parse_header((const uint8_t *)g_file + pos, g_len - pos, &h));
        cs_inflate_reset(z, CS_INFLATE_GZIP_NOHDR);
        size_t p = pos + h.header_len;
        cs_status st;
        do {
            size_t used, got;
            st = cs_inflate_run(z, (const uint8_t *)g_file + p, g_len - p, &used, out,
                                sizeof out, &got);
            p += used;
            ASSERT(st == CS_OK || st == CS_DONE);
        } while (st != CS_DONE);
        ASSERT(g_nm < 64);
        g_m[g_nm++] = (member){pos, p - pos};
        pos = p;
    }
    cs_inflate_free(z);
}

static void setup_file(void)
{
    g_file = cs_test_read_file(cs_test_corpus("warc/resiliparse/warcfile.warc.gz"), &g_len);
    walk_members();
    ASSERT_EQ(g_nm, 50);
    snprintf(g_root, sizeof g_root, "%s/www", cs_test_tmpdir());
    char dir[800];
    const char *parts[] = {"", "/crawl-data", "/crawl-data/CC-TEST", "/crawl-data/CC-TEST/segments",
                           "/crawl-data/CC-TEST/segments/1",
                           "/crawl-data/CC-TEST/segments/1/warc"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        snprintf(dir, sizeof dir, "%s%s", g_root, parts[i]);
        ASSERT_EQ(mkdir(dir, 0700), 0);
    }
    snprintf(g_path, sizeof g_path, "%s/" WARC_REL, g_root);
    cs_test_write_file(g_path, g_file, g_len);
}

static cs_origin *start_origin(void)
{
    cs_origin *o;
    cs_origin_opts oo = {.root = g_root};
    ASSERT_OK(cs_origin_start_opts(&o, &oo));
    return o;
}

/* ---- a fetch run over an array of rows ---- */

typedef struct run_ctx {
    cs_ccindex_row *rows;
    size_t n, next;
    cs_ccfetch_reason reason[512];
    char msg[512][CS_ERRMSG_MAX];
    cs_buf data[512];
    int attempts[512];
    double seconds[512];
    uint64_t order[512];    /* index delivered k-th */
    size_t ndone;
    size_t cancel_after;    /* cancel after this many results (0 = never) */
    cs_ccfetch *f;
    cs_status stop_with;    /* returned by the done callback at cancel_after when set */
} run_ctx;

static cs_status next_row(void *ud, const cs_ccindex_row **row)
{
    run_ctx *c = ud;
    if (c->next == c->n)
        return CS_DONE;
    *row = &c->rows[c->next++];
    return CS_OK;
}

static cs_status on_done(void *ud, const cs_ccfetch_result *r)
{
    run_ctx *c = ud;
    ASSERT(r->index < c->n);
    ASSERT(r->row);
    ASSERT_UEQ(r->row->offset, c->rows[r->index].offset);
    c->reason[r->index] = r->reason;
    snprintf(c->msg[r->index], CS_ERRMSG_MAX, "%s", r->message);
    c->attempts[r->index] = r->attempts;
    c->seconds[r->index] = r->seconds;
    cs_buf_init(&c->data[r->index], 0);
    if (r->reason == CS_CCFETCH_OK) {
        ASSERT_UEQ(r->len, r->row->length);
        ASSERT_OK(cs_buf_append(&c->data[r->index], r->data, r->len));
    } else {
        ASSERT(r->data == NULL);
        ASSERT(r->message[0]);
    }
    c->order[c->ndone++] = r->index;
    if (c->cancel_after && c->ndone == c->cancel_after) {
        if (c->stop_with)
            return c->stop_with;
        cs_ccfetch_cancel(c->f);
    }
    return CS_OK;
}

static cs_ccindex_row mkrow(const char *file, uint64_t off, uint64_t len)
{
    cs_ccindex_row r;
    memset(&r, 0, sizeof r);
    r.url = "https://example.com/";
    r.domain = "example.com";
    r.fetch_time = "20200101000000";
    r.warc_filename = file;
    r.segment = r.crawl = r.mime = "";
    r.offset = off;
    r.length = len;
    return r;
}

static void base_url(const cs_origin *o, char *out, size_t cap)
{
    snprintf(out, cap, "%s/", cs_origin_url(o));
}

static cs_ccfetch_opts test_opts(const char *base)
{
    cs_ccfetch_opts fo;
    cs_ccfetch_opts_init(&fo);
    fo.base_url = base;
    fo.parallel = 8;
    fo.retries = 2;
    fo.retry_delay = 0.02;
    fo.retry_max_delay = 0.2;
    fo.connect_timeout = 5;
    fo.timeout = 10;
    return fo;
}

static cs_status run(const cs_ccfetch_opts *fo, run_ctx *c, cs_ccfetch_stats *stats)
{
    cs_ccfetch *f;
    ASSERT_OK(cs_ccfetch_new(&f, fo));
    c->f = f;
    cs_status st = cs_ccfetch_run(f, next_row, on_done, c);
    if (stats)
        cs_ccfetch_stats_get(f, stats);
    cs_ccfetch_free(f);
    return st;
}

static void ctx_cleanup(run_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        cs_buf_cleanup(&c->data[i]);
    cs_free(c->rows);
    cs_free(c);
}

static run_ctx *ctx_new(size_t n)
{
    run_ctx *c = cs_calloc(1, sizeof *c);
    ASSERT(c && n <= 512);
    c->rows = cs_calloc(n, sizeof *c->rows);
    c->n = n;
    return c;
}

/* ---- tests ---- */

TEST(ccfetch_reason_names_are_stable)
{
    ASSERT_STR_EQ(cs_ccfetch_reason_name(CS_CCFETCH_OK), "ok");
    ASSERT_STR_EQ(cs_ccfetch_reason_name(CS_CCFETCH_HTTP_4XX), "http_4xx");
    ASSERT_STR_EQ(cs_ccfetch_reason_name(CS_CCFETCH_RANGE_IGNORED), "range_ignored");
    ASSERT_STR_EQ(cs_ccfetch_reason_name(CS_CCFETCH_NOT_WARC), "not_warc");
    for (int i = 0; i < CS_CCFETCH__REASON_COUNT; i++)
        ASSERT(cs_ccfetch_reason_desc((cs_ccfetch_reason)i)[0]);
}

TEST(ccfetch_verify_checks_gzip_members_and_warc)
{
    setup_file();
    char msg[CS_ERRMSG_MAX];
    const uint8_t *f = (const uint8_t *)g_file;
    for (size_t i = 0; i < g_nm; i++)
        ASSERT_EQ(cs_ccfetch_verify(f + g_m[i].offset, g_m[i].length, 1 << 26, msg),
                  CS_CCFETCH_OK);
    /* several whole members are fine too */
    ASSERT_EQ(cs_ccfetch_verify(f + g_m[3].offset, g_m[3].length + g_m[4].length, 1 << 26, msg),
              CS_CCFETCH_OK);
    ASSERT_EQ(cs_ccfetch_verify(f + g_m[3].offset + 1, g_m[3].length, 1 << 26, msg),
              CS_CCFETCH_BAD_GZIP);
    ASSERT_CONTAINS(msg, "not gzip");
    ASSERT_EQ(cs_ccfetch_verify(f + g_m[3].offset, g_m[3].length - 10, 1 << 26, msg),
              CS_CCFETCH_BAD_GZIP);
    ASSERT_EQ(cs_ccfetch_verify(f + g_m[3].offset, g_m[3].length + 10, 1 << 26, msg),
              CS_CCFETCH_BAD_GZIP);
    ASSERT_EQ(cs_ccfetch_verify(f + g_m[2].offset, g_m[2].length, 1000, msg),
              CS_CCFETCH_TOO_LARGE);
    cs_deflate *d;
    ASSERT_OK(cs_deflate_new(&d, 6));
    cs_buf gz;
    cs_buf_init(&gz, 0);
    cs_slice part = CS_SLICE_LIT("<html>not a warc</html>");
    ASSERT_OK(cs_deflate_member(d, &part, 1, &gz));
    cs_deflate_free(d);
    ASSERT_EQ(cs_ccfetch_verify((const uint8_t *)gz.data, gz.len, 1 << 26, msg),
              CS_CCFETCH_NOT_WARC);
    ASSERT_CONTAINS(msg, "<html>");
    cs_buf_cleanup(&gz);
    cs_free(g_file);
}

TEST_T(ccfetch_all_rows_byte_identical_in_order, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    run_ctx *c = ctx_new(g_nm);
    for (size_t i = 0; i < g_nm; i++)
        c->rows[i] = mkrow(WARC_REL, g_m[i].offset, g_m[i].length);
    cs_ccfetch_opts fo = test_opts(base);
    cs_ccfetch_stats s;
    ASSERT_OK(run(&fo, c, &s));
    ASSERT_EQ(c->ndone, g_nm);
    for (size_t i = 0; i < g_nm; i++) {
        if (c->reason[i] != CS_CCFETCH_OK)
            FAIL("row %zu: %s: %s", i, cs_ccfetch_reason_name(c->reason[i]), c->msg[i]);
        ASSERT_MEM_EQ(c->data[i].data, c->data[i].len, g_file + g_m[i].offset, g_m[i].length);
        ASSERT_UEQ(c->order[i], i); /* delivered in input order */
        ASSERT_EQ(c->attempts[i], 1);
    }
    ASSERT_UEQ(s.rows, g_nm);
    ASSERT_UEQ(s.ok, g_nm);
    ASSERT_UEQ(s.failed, 0);
    ASSERT_UEQ(s.bytes, g_len);
    ASSERT_UEQ(s.requests, g_nm);
    /* what the server saw: polite UA, exact ranges */
    ASSERT_EQ(cs_origin_count(o, "/" WARC_REL), g_nm);
    cs_origin_request e;
    ASSERT(cs_origin_log_get(o, 0, &e));
    ASSERT_CONTAINS(e.user_agent, "crawlset/");
    ASSERT_CONTAINS(e.user_agent, "+https://");
    bool seen = false;
    for (size_t i = 0; cs_origin_log_get(o, i, &e); i++)
        if (!strcmp(e.range, "bytes=940-11844"))
            seen = true;
    ASSERT(seen);
    ctx_cleanup(c);
    cs_origin_stop(o);
    cs_free(g_file);
}

TEST_T(ccfetch_retries_503_and_honours_retry_after, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    cs_origin_route flaky = {.body_file = g_path, .fail_times = 2};
    ASSERT_OK(cs_origin_route_add(o, "/flaky.warc.gz", &flaky));
    cs_origin_route busy = {.body_file = g_path, .fail_times = 1, .fail_status = 429,
                            .fail_headers = "Retry-After: 1"};
    ASSERT_OK(cs_origin_route_add(o, "/busy.warc.gz", &busy));
    run_ctx *c = ctx_new(11);
    for (size_t i = 0; i < 10; i++)
        c->rows[i] = mkrow("flaky.warc.gz", g_m[i].offset, g_m[i].length);
    c->rows[10] = mkrow("busy.warc.gz", g_m[20].offset, g_m[20].length);
    cs_ccfetch_opts fo = test_opts(base);
    fo.retry_delay = 0.01;
    cs_ccfetch_stats s;
    ASSERT_OK(run(&fo, c, &s));
    int retried = 0;
    for (size_t i = 0; i < 11; i++) {
        if (c->reason[i] != CS_CCFETCH_OK)
            FAIL("row %zu: %s: %s", i, cs_ccfetch_reason_name(c->reason[i]), c->msg[i]);
        size_t m = i < 10 ? i : 20;
        ASSERT_MEM_EQ(c->data[i].data, c->data[i].len, g_file + g_m[m].offset, g_m[m].length);
        if (i < 10 && c->attempts[i] > 1)
            retried++;
    }
    ASSERT_EQ(retried, 2);
    ASSERT_EQ(c->attempts[10], 2);
    ASSERT(c->seconds[10] >= 0.9); /* waited for Retry-After, not the 10 ms backoff */
    ASSERT_UEQ(s.retries, 3);
    ASSERT_EQ(cs_origin_count(o, "/flaky.warc.gz"), 12);
    ctx_cleanup(c);
    cs_origin_stop(o);
    cs_free(g_file);
}

TEST_T(ccfetch_failures_are_named_and_others_still_fetched, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    ASSERT_OK(cs_origin_route_add(o, "/liar.warc.gz",
                                  &(cs_origin_route){.body_file = g_path, .ignore_range = true}));
    ASSERT_OK(cs_origin_route_add(
        o, "/cut.warc.gz",
        &(cs_origin_route){.body_file = g_path, .close_early = true, .close_after = 100}));
    ASSERT_OK(cs_origin_route_add(
        o, "/stall.warc.gz",
        &(cs_origin_route){.body_file = g_path, .stall_after = 10, .stall_ms = 15000}));
    ASSERT_OK(cs_origin_route_add(o, "/down.warc.gz",
                                  &(cs_origin_route){.body_file = g_path, .fail_times = 1000}));
    ASSERT_OK(cs_origin_route_add(
        o, "/badrange.warc.gz",
        &(cs_origin_route){.status = 206, .body = "0123456789", .body_len = 10,
                           .headers = "Content-Range: bytes 0-9/100"}));
    ASSERT_OK(cs_origin_route_add(o, "/moved.warc.gz",
                                  &(cs_origin_route){.redirect = "/" WARC_REL, .status = 301}));
    ASSERT_OK(cs_origin_route_add(o, "/loop.warc.gz",
                                  &(cs_origin_route){.redirect = "/loop.warc.gz"}));
    cs_deflate *d;
    ASSERT_OK(cs_deflate_new(&d, 6));
    cs_buf gz;
    cs_buf_init(&gz, 0);
    cs_slice part = CS_SLICE_LIT("<html>this is no WARC record</html>");
    ASSERT_OK(cs_deflate_member(d, &part, 1, &gz));
    cs_deflate_free(d);
    ASSERT_OK(cs_origin_route_add(o, "/html.gz",
                                  &(cs_origin_route){.body = gz.data, .body_len = gz.len}));
    const member *m = g_m;
    struct {
        cs_ccindex_row row;
        cs_ccfetch_reason want;
        const char *msg;
        int attempts;
    } cases[] = {
        {mkrow(WARC_REL, m[2].offset, m[2].length), CS_CCFETCH_OK, NULL, 1},
        {mkrow("missing.warc.gz", m[2].offset, m[2].length), CS_CCFETCH_HTTP_4XX, "404", 1},
        {mkrow("liar.warc.gz", m[5].offset, m[5].length), CS_CCFETCH_RANGE_IGNORED,
         "ignored Range", 1},
        {mkrow("cut.warc.gz", m[2].offset, m[2].length), CS_CCFETCH_SHORT_BODY,
         "100 of 10905", 3},
        {mkrow("stall.warc.gz", m[6].offset, m[6].length), CS_CCFETCH_TIMEOUT, "", 3},
        {mkrow(WARC_REL, m[7].offset + 1, m[7].length), CS_CCFETCH_BAD_GZIP, "not gzip", 1},
        {mkrow(WARC_REL, m[7].offset, m[7].length + 5), CS_CCFETCH_BAD_GZIP, "", 1},
        {mkrow(WARC_REL, m[7].offset, m[7].length - 5), CS_CCFETCH_BAD_GZIP, "cut off", 1},
        {mkrow("html.gz", 0, gz.len), CS_CCFETCH_NOT_WARC, "not a WARC record", 1},
        {mkrow("down.warc.gz", m[8].offset, m[8].length), CS_CCFETCH_HTTP_5XX,
         "gave up after 3 attempts", 3},
        {mkrow(WARC_REL, g_len + 10, 100), CS_CCFETCH_HTTP_4XX, "416", 1},
        {mkrow("badrange.warc.gz", m[9].offset, m[9].length), CS_CCFETCH_BAD_RANGE,
         "Content-Range", 1},
        {mkrow(WARC_REL, m[2].offset, 30000), CS_CCFETCH_TOO_LARGE, "over the limit", 0},
        {mkrow(WARC_REL, m[49].offset, m[49].length), CS_CCFETCH_OK, NULL, 1},
        {mkrow("moved.warc.gz", m[30].offset, m[30].length), CS_CCFETCH_OK, NULL, 1},
        {mkrow("loop.warc.gz", m[30].offset, m[30].length), CS_CCFETCH_HTTP_OTHER, "redirect",
         1},
    };
    size_t n = sizeof cases / sizeof *cases;
    run_ctx *c = ctx_new(n);
    for (size_t i = 0; i < n; i++)
        c->rows[i] = cases[i].row;
    cs_ccfetch_opts fo = test_opts(base);
    fo.timeout = 1.0;
    fo.parallel = 4;
    fo.max_record = 20000; /* the 30000-byte row is refused before fetching */
    cs_ccfetch_stats s;
    ASSERT_OK(run(&fo, c, &s));
    ASSERT_EQ(c->ndone, n);
    for (size_t i = 0; i < n; i++) {
        if (c->reason[i] != cases[i].want)
            FAIL("case %zu: got %s (%s), want %s", i, cs_ccfetch_reason_name(c->reason[i]),
                 c->msg[i], cs_ccfetch_reason_name(cases[i].want));
        if (cases[i].msg)
            ASSERT_CONTAINS(c->msg[i], cases[i].msg);
        if (c->attempts[i] != cases[i].attempts)
            FAIL("case %zu: %d attempts, want %d", i, c->attempts[i], cases[i].attempts);
        ASSERT_UEQ(c->order[i], i);
    }
    ASSERT_MEM_EQ(c->data[0].data, c->data[0].len, g_file + m[2].offset, m[2].length);
    ASSERT_MEM_EQ(c->data[13].data, c->data[13].len, g_file + m[49].offset, m[49].length);
    ASSERT_MEM_EQ(c->data[14].data, c->data[14].len, g_file + m[30].offset, m[30].length);
    ASSERT_UEQ(s.ok, 3);
    ASSERT_UEQ(s.failed, n - 3);
    ASSERT_UEQ(s.by_reason[CS_CCFETCH_BAD_GZIP], 3);
    ASSERT_UEQ(s.by_reason[CS_CCFETCH_HTTP_4XX], 2);
    cs_buf_cleanup(&gz);
    ctx_cleanup(c);
    cs_origin_stop(o);
    cs_free(g_file);
}

TEST_T(ccfetch_forever_retries_eventually_succeed, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    ASSERT_OK(cs_origin_route_add(o, "/flaky.warc.gz",
                                  &(cs_origin_route){.body_file = g_path, .fail_times = 7,
                                                     .fail_status = 500}));
    run_ctx *c = ctx_new(1);
    c->rows[0] = mkrow("flaky.warc.gz", g_m[10].offset, g_m[10].length);
    cs_ccfetch_opts fo = test_opts(base);
    fo.retries = -1;
    fo.retry_delay = 0.005;
    fo.retry_max_delay = 0.05;
    ASSERT_OK(run(&fo, c, NULL));
    ASSERT_EQ(c->reason[0], CS_CCFETCH_OK);
    ASSERT_EQ(c->attempts[0], 8);
    ASSERT_MEM_EQ(c->data[0].data, c->data[0].len, g_file + g_m[10].offset, g_m[10].length);
    ctx_cleanup(c);
    cs_origin_stop(o);
    cs_free(g_file);
}

TEST_T(ccfetch_connection_refused, 20)
{
    cs_origin *o;
    ASSERT_OK(cs_origin_start(&o));
    char base[128];
    base_url(o, base, sizeof base);
    cs_origin_stop(o); /* nothing listens there now */
    run_ctx *c = ctx_new(1);
    c->rows[0] = mkrow("x.warc.gz", 0, 10);
    cs_ccfetch_opts fo = test_opts(base);
    fo.retries = 1;
    ASSERT_OK(run(&fo, c, NULL));
    ASSERT_EQ(c->reason[0], CS_CCFETCH_CONNECT);
    ASSERT_EQ(c->attempts[0], 2);
    ctx_cleanup(c);
}

TEST_T(ccfetch_200_rows_32_in_flight, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    ASSERT_OK(cs_origin_route_add(o, "/slow.warc.gz",
                                  &(cs_origin_route){.body_file = g_path, .delay_ms = 300}));
    enum { N = 200 };
    run_ctx *c = ctx_new(N);
    for (size_t i = 0; i < N; i++)
        c->rows[i] = mkrow("slow.warc.gz", g_m[i % g_nm].offset, g_m[i % g_nm].length);
    cs_ccfetch_opts fo = test_opts(base);
    fo.parallel = 32;
    double t0 = cs_now();
    cs_ccfetch_stats s;
    ASSERT_OK(run(&fo, c, &s));
    double el = cs_now() - t0;
    ASSERT_UEQ(s.ok, N);
    for (size_t i = 0; i < N; i++) {
        ASSERT_EQ(c->reason[i], CS_CCFETCH_OK);
        size_t m = i % g_nm;
        ASSERT_MEM_EQ(c->data[i].data, c->data[i].len, g_file + g_m[m].offset, g_m[m].length);
        ASSERT_UEQ(c->order[i], i);
    }
    /* one at a time would take 60 s */
    ASSERT(el < 10);
    ASSERT(cs_origin_peak(o) >= 24);
    ASSERT(cs_origin_peak(o) <= 40);
    ctx_cleanup(c);
    cs_origin_stop(o);
    cs_free(g_file);
}

TEST_T(ccfetch_unordered_cancel_and_callback_stop, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    /* unordered: every row delivered once */
    run_ctx *c = ctx_new(g_nm);
    for (size_t i = 0; i < g_nm; i++)
        c->rows[i] = mkrow(WARC_REL, g_m[i].offset, g_m[i].length);
    cs_ccfetch_opts fo = test_opts(base);
    fo.ordered = false;
    ASSERT_OK(run(&fo, c, NULL));
    ASSERT_EQ(c->ndone, g_nm);
    bool seen[64] = {false};
    for (size_t i = 0; i < g_nm; i++) {
        ASSERT(!seen[c->order[i]]);
        seen[c->order[i]] = true;
        ASSERT_EQ(c->reason[i], CS_CCFETCH_OK);
    }
    ctx_cleanup(c);

    /* cancel: the rest is delivered as canceled, nothing more is pulled */
    ASSERT_OK(cs_origin_route_add(o, "/slow.warc.gz",
                                  &(cs_origin_route){.body_file = g_path, .delay_ms = 100}));
    c = ctx_new(g_nm);
    for (size_t i = 0; i < g_nm; i++)
        c->rows[i] = mkrow("slow.warc.gz", g_m[i].offset, g_m[i].length);
    c->cancel_after = 3;
    fo = test_opts(base);
    fo.parallel = 2;
    ASSERT_ST(run(&fo, c, NULL), CS_ECANCELED);
    ASSERT(c->ndone >= 3 && c->ndone < g_nm);
    ASSERT(c->next < g_nm);
    ASSERT_EQ(c->reason[c->order[c->ndone - 1]], CS_CCFETCH_CANCELED);
    ctx_cleanup(c);

    /* a callback error stops the run with that status */
    c = ctx_new(g_nm);
    for (size_t i = 0; i < g_nm; i++)
        c->rows[i] = mkrow(WARC_REL, g_m[i].offset, g_m[i].length);
    c->cancel_after = 5;
    c->stop_with = CS_EIO;
    fo = test_opts(base);
    ASSERT_ST(run(&fo, c, NULL), CS_EIO);
    ASSERT_EQ(c->ndone, 5);
    ctx_cleanup(c);
    cs_origin_stop(o);
    cs_free(g_file);
}

/* ---- the command ---- */

static int run_cli(char *const argv[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0)
            _exit(126);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    return WEXITSTATUS(status);
}

TEST_T(ccfetch_cli_interrupt_keeps_what_was_fetched, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    ASSERT_OK(cs_origin_route_add(o, "/slow.warc.gz",
                                  &(cs_origin_route){.body_file = g_path, .delay_ms = 400}));
    const char *tmp = cs_test_tmpdir();
    char idx[700], out[700], failed[700], so[700], se[700], bin[700];
    snprintf(idx, sizeof idx, "%s/idx.csv", tmp);
    snprintf(out, sizeof out, "%s/out.warc.gz", tmp);
    snprintf(failed, sizeof failed, "%s/failed.csv", tmp);
    snprintf(so, sizeof so, "%s/stdout", tmp);
    snprintf(se, sizeof se, "%s/stderr", tmp);
    snprintf(bin, sizeof bin, "%s/crawlset", CS_BUILD_DIR);
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "url,warc_filename,warc_record_offset,warc_record_length\n"));
    ASSERT_OK(cs_buf_printf(&b, "https://first/," WARC_REL ",%" PRIu64 ",%" PRIu64 "\n",
                            g_m[0].offset, g_m[0].length));
    for (size_t i = 1; i < g_nm; i++)
        ASSERT_OK(cs_buf_printf(&b, "https://e/%zu,slow.warc.gz,%" PRIu64 ",%" PRIu64 "\n", i,
                                g_m[i].offset, g_m[i].length));
    cs_test_write_file(idx, b.data, b.len);
    cs_buf_cleanup(&b);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fo = open(so, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(se, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execl(bin, bin, "cc", "fetch", "--index", idx, "--base-url", base, "--out", out,
              "--failed", failed, "--parallel", "2", (char *)NULL);
        _exit(127);
    }
    /* interrupt once the first (fast) row is through and the slow ones are in flight */
    for (int i = 0; i < 200 && cs_origin_count(o, "/slow.warc.gz") < 2; i++)
        usleep(10000);
    usleep(100000);
    kill(pid, SIGINT);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    char *err = cs_test_read_file(se, NULL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1)
        FAIL("status %d: %s", status, err);
    ASSERT_CONTAINS(err, "interrupted");
    ASSERT_CONTAINS(err, "canceled");
    cs_free(err);
    size_t olen;
    char *got = cs_test_read_file(out, &olen); /* renamed into place, whole members only */
    ASSERT(olen >= g_m[0].length && olen < g_len);
    ASSERT_MEM_EQ(got, g_m[0].length, g_file, g_m[0].length);
    cs_free(got);
    /* the rows not fetched are in --failed, ready to be re-run */
    cs_ccindex_reader *r;
    ASSERT_OK(cs_ccindex_open(&r, failed, NULL));
    const cs_ccindex_row *row;
    size_t nfailed = 0;
    while (cs_ccindex_next(r, &row) == CS_OK) {
        cs_slice v;
        ASSERT(cs_ccindex_get(r, "error_reason", &v));
        ASSERT(cs_slice_eq(v, "canceled"));
        nfailed++;
    }
    cs_ccindex_free(r);
    ASSERT(nfailed >= 1);
    ASSERT(cs_origin_count(o, "/slow.warc.gz") < g_nm - 1); /* it stopped pulling rows */
    cs_origin_stop(o);
    cs_free(g_file);
}

TEST_T(ccfetch_cli_to_warc_gz_and_failed_report, 20)
{
    setup_file();
    cs_origin *o = start_origin();
    char base[128];
    base_url(o, base, sizeof base);
    const char *tmp = cs_test_tmpdir();
    char idx[700], out[700], failed[700], so[700], se[700], bin[700];
    snprintf(idx, sizeof idx, "%s/idx.csv", tmp);
    snprintf(out, sizeof out, "%s/out.warc.gz", tmp);
    snprintf(failed, sizeof failed, "%s/failed.csv", tmp);
    snprintf(so, sizeof so, "%s/stdout", tmp);
    snprintf(se, sizeof se, "%s/stderr", tmp);
    snprintf(bin, sizeof bin, "%s/crawlset", CS_BUILD_DIR);

    /* every record, in file order, with the columns shuffled: the output is the file */
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "warc_record_offset,url,warc_filename,warc_record_length\n"));
    for (size_t i = 0; i < g_nm; i++)
        ASSERT_OK(cs_buf_printf(&b, "%" PRIu64 ",https://example.com/%zu," WARC_REL ",%" PRIu64
                                    "\n", g_m[i].offset, i, g_m[i].length));
    cs_test_write_file(idx, b.data, b.len);
    char *argv1[] = {bin, "cc", "fetch", "--index", idx, "--base-url", base, "--out", out,
                     "--parallel", "8", "--retries", "1", "--retry-delay", "0.01", NULL};
    int rc = run_cli(argv1, so, se);
    char *err = cs_test_read_file(se, NULL);
    if (rc != 0)
        FAIL("exit %d: %s", rc, err);
    ASSERT_CONTAINS(err, "50 ok");
    cs_free(err);
    size_t olen;
    char *got = cs_test_read_file(out, &olen);
    ASSERT_MEM_EQ(got, olen, g_file, g_len);
    cs_free(got);

    /* a bad row: exit 1, reported in --failed with its reason, the others written */
    cs_buf_reset(&b);
    ASSERT_OK(cs_buf_puts(&b, "url,warc_filename,warc_record_offset,warc_record_length\n"));
    ASSERT_OK(cs_buf_printf(&b, "https://a.example/,%s,%" PRIu64 ",%" PRIu64 "\n", WARC_REL,
                            g_m[1].offset, g_m[1].length));
    ASSERT_OK(cs_buf_printf(&b, "\"https://b.example/?x=1,2\",missing.warc.gz,%" PRIu64
                                ",%" PRIu64 "\n", g_m[2].offset, g_m[2].length));
    ASSERT_OK(cs_buf_puts(&b, "https://c.example/,f,notanumber,5\n"));
    ASSERT_OK(cs_buf_printf(&b, "https://d.example/,%s,%" PRIu64 ",%" PRIu64 "\n", WARC_REL,
                            g_m[3].offset, g_m[3].length));
    cs_test_write_file(idx, b.data, b.len);
    char *argv2[] = {bin, "cc", "fetch", "--index", idx, "--base-url", base, "--out", out,
                     "--failed", failed, "--retries", "0", NULL};
    rc = run_cli(argv2, so, se);
    err = cs_test_read_file(se, NULL);
    if (rc != 1)
        FAIL("exit %d, want 1: %s", rc, err);
    ASSERT_CONTAINS(err, "2 ok");
    ASSERT_CONTAINS(err, "http_4xx");
    ASSERT_CONTAINS(err, "bad_row");
    ASSERT_CONTAINS(err, "idx.csv:4:");
    cs_free(err);
    got = cs_test_read_file(out, &olen);
    ASSERT_UEQ(olen, g_m[1].length + g_m[3].length);
    ASSERT_MEM_EQ(got, g_m[1].length, g_file + g_m[1].offset, g_m[1].length);
    ASSERT_MEM_EQ(got + g_m[1].length, g_m[3].length, g_file + g_m[3].offset, g_m[3].length);
    cs_free(got);
    /* the failed report is an index CSV again, with the reason */
    cs_ccindex_reader *r;
    ASSERT_OK(cs_ccindex_open(&r, failed, NULL));
    const cs_ccindex_row *row;
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://b.example/?x=1,2");
    ASSERT_STR_EQ(row->warc_filename, "missing.warc.gz");
    cs_slice v;
    ASSERT(cs_ccindex_get(r, "error_reason", &v));
    ASSERT(cs_slice_eq(v, "http_4xx"));
    ASSERT(cs_ccindex_get(r, "error_message", &v));
    ASSERT(v.len > 0);
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_free(r);

    /* JSON Lines documents from a CDX index: one per response record */
    char jsonl[700];
    snprintf(jsonl, sizeof jsonl, "%s/docs.jsonl", tmp);
    snprintf(idx, sizeof idx, "%s/idx.cdx", tmp);
    cs_buf_reset(&b);
    for (size_t i = 1; i <= 3; i++) /* request, response, metadata */
        ASSERT_OK(cs_buf_printf(&b,
                                "cn,003338)/l41/481397.html 20200808172741 {\"url\": "
                                "\"http://003338.cn/l41/481397.html\", \"offset\": \"%" PRIu64
                                "\", \"length\": \"%" PRIu64 "\", \"filename\": \"" WARC_REL
                                "\"}\n",
                                g_m[i].offset, g_m[i].length));
    cs_test_write_file(idx, b.data, b.len);
    char *argv5[] = {bin, "cc", "fetch", "--index", idx, "--base-url", base, "--jsonl", jsonl,
                     NULL};
    rc = run_cli(argv5, so, se);
    err = cs_test_read_file(se, NULL);
    if (rc != 0)
        FAIL("exit %d: %s", rc, err);
    ASSERT_CONTAINS(err, "1 documents");
    cs_free(err);
    char *docs = cs_test_read_file(jsonl, &olen);
    ASSERT(olen > 1000);
    ASSERT(strchr(docs, '\n') == docs + olen - 1); /* one line */
    ASSERT(!strncmp(docs, "{\"url\":\"http://003338.cn/l41/481397.html\",\"domain\":"
                          "\"003338.cn\",\"fetch_time\":\"20200808172741\",\"status\":200,"
                          "\"html\":\"",
                    90));
    ASSERT_CONTAINS(docs, "\"status\":200,\"html\":\"<html>");
    cs_free(docs);

    /* usage errors exit 2 */
    char *argv3[] = {bin, "cc", "fetch", "--parallel", "0", NULL};
    ASSERT_EQ(run_cli(argv3, so, se), 2);
    char *argv4[] = {bin, "cc", "fetch", "--help", NULL};
    ASSERT_EQ(run_cli(argv4, so, se), 0);
    char *help = cs_test_read_file(so, NULL);
    ASSERT_CONTAINS(help, "--index");
    cs_free(help);
    cs_buf_cleanup(&b);
    cs_origin_stop(o);
    cs_free(g_file);
}
