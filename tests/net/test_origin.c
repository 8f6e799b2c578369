/* test_origin.c - the loopback origin server's scripted faults, seen through
 * libcurl's easy interface the way the fetchers will see them. */
#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "origin.h"
#include "test.h"

typedef struct got {
    CURLcode rc;
    long status;
    cs_buf body;
    cs_buf hdrs;
    size_t abort_after; /* 0 = never: the write callback fails past this many bytes */
} got;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    got *g = ud;
    if (g->abort_after && g->body.len + sz * n > g->abort_after)
        return 0;
    if (cs_buf_append(&g->body, p, sz * n))
        return 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    got *g = ud;
    if (cs_buf_append(&g->hdrs, p, sz * n))
        return 0;
    return sz * n;
}

typedef struct req_opts {
    const char *range;
    long timeout_ms;
    bool follow;
    bool decode;      /* Accept-Encoding + decoding */
    bool path_as_is;
    size_t abort_after;
} req_opts;

static void fetch(const cs_origin *o, const char *path, const req_opts *ro, got *g)
{
    static const req_opts none;
    if (!ro)
        ro = &none;
    memset(g, 0, sizeof *g);
    cs_buf_init(&g->body, 0);
    cs_buf_init(&g->hdrs, 0);
    g->abort_after = ro->abort_after;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", cs_origin_url(o), path);
    CURL *c = curl_easy_init();
    ASSERT(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "origin-test/1");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ro->timeout_ms ? ro->timeout_ms : 10000L);
    if (ro->range)
        curl_easy_setopt(c, CURLOPT_RANGE, ro->range);
    if (ro->follow) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    }
    if (ro->decode)
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (ro->path_as_is)
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    g->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_cleanup(c);
}

static void got_cleanup(got *g)
{
    cs_buf_cleanup(&g->body);
    cs_buf_cleanup(&g->hdrs);
}

static cs_origin *start(void)
{
    cs_origin *o;
    ASSERT_OK(cs_origin_start(&o));
    ASSERT(cs_origin_port(o) > 0);
    return o;
}

static const char DIGITS[] = "0123456789abcdefghijklmnopqrstuvwxyz";

TEST_T(origin_simple_route_and_log, 20)
{
    cs_origin *o = start();
    ASSERT_OK(cs_origin_route_simple(o, "/hello", 200, "hello world\n"));
    got g;
    fetch(o, "/hello", NULL, &g);
    ASSERT_EQ(g.rc, CURLE_OK);
    ASSERT_EQ(g.status, 200);
    ASSERT_STR_EQ(g.body.data, "hello world\n");
    ASSERT_CONTAINS(g.hdrs.data, "Accept-Ranges: bytes");
    got_cleanup(&g);
    fetch(o, "/missing", &(req_opts){.range = "0-3"}, &g);
    ASSERT_EQ(g.status, 404);
    got_cleanup(&g);
    ASSERT_EQ(cs_origin_count(o, "/hello"), 1);
    ASSERT_EQ(cs_origin_count(o, "/missing"), 1);
    ASSERT_EQ(cs_origin_total(o), 2);
    cs_origin_request e;
    ASSERT(cs_origin_log_get(o, 1, &e));
    ASSERT_STR_EQ(e.method, "GET");
    ASSERT_STR_EQ(e.path, "/missing");
    ASSERT_STR_EQ(e.range, "bytes=0-3");
    ASSERT_STR_EQ(e.user_agent, "origin-test/1");
    ASSERT_EQ(e.status, 404);
    ASSERT(!cs_origin_log_get(o, 2, &e));
    cs_origin_stop(o);
}

TEST_T(origin_ranges, 20)
{
    cs_origin *o = start();
    cs_origin_route r = {.body = DIGITS, .body_len = 36};
    ASSERT_OK(cs_origin_route_add(o, "/d", &r));
    struct {
        const char *range;
        long status;
        const char *body;
        const char *content_range;
    } cases[] = {
        {"bytes=0-3", 206, "0123", "Content-Range: bytes 0-3/36"},
        {"bytes=10-", 206, "abcdefghijklmnopqrstuvwxyz", "Content-Range: bytes 10-35/36"},
        {"bytes=-4", 206, "wxyz", "Content-Range: bytes 32-35/36"},
        {"bytes=30-100", 206, "uvwxyz", "Content-Range: bytes 30-35/36"},
        {"bytes=-100", 206, DIGITS, "Content-Range: bytes 0-35/36"},
        {"bytes=36-40", 416, NULL, "Content-Range: bytes */36"},
        {"bytes=5-2", 200, DIGITS, NULL},     /* invalid: ignored */
        {"bytes=0-1,4-5", 200, DIGITS, NULL}, /* multiple ranges: whole body */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        got g;
        char hdr[64];
        snprintf(hdr, sizeof hdr, "%s", cases[i].range + 6); /* curl adds "bytes=" */
        fetch(o, "/d", &(req_opts){.range = hdr}, &g);
        if (g.status != cases[i].status)
            FAIL("%s: status %ld, want %ld", cases[i].range, g.status, cases[i].status);
        if (cases[i].body)
            ASSERT_STR_EQ(g.body.data, cases[i].body);
        if (cases[i].content_range)
            ASSERT_CONTAINS(g.hdrs.data, cases[i].content_range);
        got_cleanup(&g);
    }
    /* a lying server ignores Range and sends everything with 200 */
    cs_origin_route liar = {.body = DIGITS, .body_len = 36, .ignore_range = true};
    ASSERT_OK(cs_origin_route_add(o, "/liar", &liar));
    got g;
    fetch(o, "/liar", &(req_opts){.range = "3-5"}, &g);
    ASSERT_EQ(g.status, 200);
    ASSERT_STR_EQ(g.body.data, DIGITS);
    ASSERT_CONTAINS(g.hdrs.data, "Accept-Ranges: bytes");
    got_cleanup(&g);
    cs_origin_route norange = {.body = DIGITS, .body_len = 36, .no_range = true};
    ASSERT_OK(cs_origin_route_add(o, "/norange", &norange));
    fetch(o, "/norange", &(req_opts){.range = "3-5"}, &g);
    ASSERT_EQ(g.status, 200);
    ASSERT(!strstr(g.hdrs.data, "Accept-Ranges"));
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_status_headers_and_replacement, 20)
{
    cs_origin *o = start();
    cs_origin_route r = {.status = 500, .body = "boom", .body_len = 4,
                         .headers = "X-Test: one\nX-Other: two\r\n",
                         .content_type = "text/html"};
    ASSERT_OK(cs_origin_route_add(o, "/s", &r));
    got g;
    fetch(o, "/s", &(req_opts){.range = "0-1"}, &g); /* scripted status wins over Range */
    ASSERT_EQ(g.status, 500);
    ASSERT_STR_EQ(g.body.data, "boom");
    ASSERT_CONTAINS(g.hdrs.data, "X-Test: one");
    ASSERT_CONTAINS(g.hdrs.data, "X-Other: two");
    ASSERT_CONTAINS(g.hdrs.data, "Content-Type: text/html");
    got_cleanup(&g);
    ASSERT_OK(cs_origin_route_simple(o, "/s", 201, "new"));
    fetch(o, "/s", NULL, &g);
    ASSERT_EQ(g.status, 201);
    ASSERT_STR_EQ(g.body.data, "new");
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_lying_content_length, 20)
{
    cs_origin *o = start();
    cs_origin_route longer = {.body = DIGITS, .body_len = 36, .lie_length = true,
                              .declared_length = 100};
    ASSERT_OK(cs_origin_route_add(o, "/longer", &longer));
    cs_origin_route shorter = {.body = DIGITS, .body_len = 36, .lie_length = true,
                               .declared_length = 10};
    ASSERT_OK(cs_origin_route_add(o, "/shorter", &shorter));
    got g;
    fetch(o, "/longer", NULL, &g);
    ASSERT_EQ(g.rc, CURLE_PARTIAL_FILE);
    ASSERT_CONTAINS(g.hdrs.data, "Content-Length: 100");
    ASSERT_EQ(g.body.len, 36);
    got_cleanup(&g);
    fetch(o, "/shorter", NULL, &g);
    ASSERT_EQ(g.rc, CURLE_OK);
    ASSERT_STR_EQ(g.body.data, "0123456789");
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_close_and_reset_mid_body, 20)
{
    cs_origin *o = start();
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = DIGITS[i % 36];
    cs_origin_route cl = {.body = big, .body_len = sizeof big, .close_early = true,
                          .close_after = 1000};
    ASSERT_OK(cs_origin_route_add(o, "/close", &cl));
    cs_origin_route rst = cl;
    rst.reset = true;
    rst.close_after = 5000;
    ASSERT_OK(cs_origin_route_add(o, "/reset", &rst));
    got g;
    fetch(o, "/close", NULL, &g);
    ASSERT_EQ(g.rc, CURLE_PARTIAL_FILE);
    ASSERT_EQ(g.body.len, 1000);
    ASSERT_MEM_EQ(g.body.data, 1000, big, 1000);
    got_cleanup(&g);
    fetch(o, "/reset", NULL, &g);
    ASSERT(g.rc == CURLE_RECV_ERROR || g.rc == CURLE_PARTIAL_FILE);
    ASSERT(g.body.len <= 5000);
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_endless_body, 20)
{
    cs_origin *o = start();
    cs_origin_route r = {.endless = true};
    ASSERT_OK(cs_origin_route_add(o, "/endless", &r));
    got g;
    fetch(o, "/endless", &(req_opts){.abort_after = 3 << 20}, &g);
    ASSERT_EQ(g.rc, CURLE_WRITE_ERROR);
    ASSERT(g.body.len > (2 << 20));
    got_cleanup(&g);
    /* the server is still healthy after the client hung up */
    ASSERT_OK(cs_origin_route_simple(o, "/ok", 200, "ok"));
    fetch(o, "/ok", NULL, &g);
    ASSERT_STR_EQ(g.body.data, "ok");
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_redirects_and_loops, 20)
{
    cs_origin *o = start();
    ASSERT_OK(cs_origin_route_simple(o, "/target", 200, "arrived"));
    ASSERT_OK(cs_origin_route_add(o, "/r1", &(cs_origin_route){.redirect = "/target"}));
    ASSERT_OK(cs_origin_route_add(o, "/r301",
                                  &(cs_origin_route){.redirect = "/r1", .status = 301}));
    ASSERT_OK(cs_origin_route_add(o, "/loop-a", &(cs_origin_route){.redirect = "/loop-b"}));
    ASSERT_OK(cs_origin_route_add(o, "/loop-b", &(cs_origin_route){.redirect = "/loop-a"}));
    got g;
    fetch(o, "/r301", &(req_opts){.follow = true}, &g);
    ASSERT_EQ(g.rc, CURLE_OK);
    ASSERT_EQ(g.status, 200);
    ASSERT_STR_EQ(g.body.data, "arrived");
    ASSERT_CONTAINS(g.hdrs.data, "301");
    got_cleanup(&g);
    fetch(o, "/r1", NULL, &g);
    ASSERT_EQ(g.status, 302);
    ASSERT_CONTAINS(g.hdrs.data, "Location: /target");
    got_cleanup(&g);
    fetch(o, "/loop-a", &(req_opts){.follow = true}, &g);
    ASSERT_EQ(g.rc, CURLE_TOO_MANY_REDIRECTS);
    got_cleanup(&g);
    ASSERT(cs_origin_count(o, "/loop-a") >= 3);
    ASSERT(cs_origin_count(o, "/loop-b") >= 3);
    cs_origin_stop(o);
}

TEST_T(origin_fail_n_times_then_succeed, 20)
{
    cs_origin *o = start();
    cs_origin_route r = {.body = "fine", .body_len = 4, .fail_times = 2};
    ASSERT_OK(cs_origin_route_add(o, "/flaky", &r));
    cs_origin_route tm = {.body = "later", .body_len = 5, .fail_times = 1, .fail_status = 429,
                          .fail_headers = "Retry-After: 7"};
    ASSERT_OK(cs_origin_route_add(o, "/busy", &tm));
    long want[] = {503, 503, 200, 200};
    for (int i = 0; i < 4; i++) {
        got g;
        fetch(o, "/flaky", NULL, &g);
        ASSERT_EQ(g.status, want[i]);
        if (want[i] == 200)
            ASSERT_STR_EQ(g.body.data, "fine");
        got_cleanup(&g);
    }
    got g;
    fetch(o, "/busy", NULL, &g);
    ASSERT_EQ(g.status, 429);
    ASSERT_CONTAINS(g.hdrs.data, "Retry-After: 7");
    got_cleanup(&g);
    fetch(o, "/busy", NULL, &g);
    ASSERT_EQ(g.status, 200);
    ASSERT_STR_EQ(g.body.data, "later");
    got_cleanup(&g);
    ASSERT_EQ(cs_origin_count(o, "/flaky"), 4);
    /* replacing the route restarts its counter */
    ASSERT_OK(cs_origin_route_add(o, "/flaky", &r));
    fetch(o, "/flaky", NULL, &g);
    ASSERT_EQ(g.status, 503);
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_gzip_encoding, 20)
{
    cs_origin *o = start();
    char text[5000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "gzip me please "[i % 15];
    cs_origin_route r = {.body = text, .body_len = sizeof text, .gzip = true};
    ASSERT_OK(cs_origin_route_add(o, "/gz", &r));
    got g;
    fetch(o, "/gz", &(req_opts){.decode = true}, &g);
    ASSERT_EQ(g.rc, CURLE_OK);
    ASSERT_CONTAINS(g.hdrs.data, "Content-Encoding: gzip");
    ASSERT_MEM_EQ(g.body.data, g.body.len, text, sizeof text);
    got_cleanup(&g);
    fetch(o, "/gz", NULL, &g); /* raw: a gzip member, much smaller */
    ASSERT(cs_gzip_magic((const uint8_t *)g.body.data, g.body.len));
    ASSERT(g.body.len < 1000);
    cs_buf out;
    cs_buf_init(&out, 0);
    ASSERT_OK(cs_inflate_buffer(CS_INFLATE_GZIP, g.body.data, g.body.len, 1 << 20, &out));
    ASSERT_MEM_EQ(out.data, out.len, text, sizeof text);
    cs_buf_cleanup(&out);
    got_cleanup(&g);
    cs_origin_stop(o);
}

TEST_T(origin_delay_stall_and_drip, 20)
{
    cs_origin *o = start();
    cs_origin_route slow = {.body = "late", .body_len = 4, .delay_ms = 5000};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &slow));
    cs_origin_route stall = {.body = DIGITS, .body_len = 36, .stall_after = 10,
                             .stall_ms = 5000};
    ASSERT_OK(cs_origin_route_add(o, "/stall", &stall));
    cs_origin_route drip = {.body = DIGITS, .body_len = 36, .drip_bytes = 6, .drip_ms = 30};
    ASSERT_OK(cs_origin_route_add(o, "/drip", &drip));
    cs_origin_route pause_ok = {.body = DIGITS, .body_len = 36, .stall_after = 20,
                                .stall_ms = 300};
    ASSERT_OK(cs_origin_route_add(o, "/pause", &pause_ok));
    got g;
    double t0 = cs_now();
    fetch(o, "/slow", &(req_opts){.timeout_ms = 300}, &g);
    ASSERT_EQ(g.rc, CURLE_OPERATION_TIMEDOUT);
    ASSERT(cs_now() - t0 < 3);
    got_cleanup(&g);
    fetch(o, "/stall", &(req_opts){.timeout_ms = 300}, &g);
    ASSERT_EQ(g.rc, CURLE_OPERATION_TIMEDOUT);
    ASSERT_EQ(g.body.len, 10);
    got_cleanup(&g);
    t0 = cs_now();
    fetch(o, "/drip", NULL, &g);
    ASSERT_EQ(g.rc, CURLE_OK);
    ASSERT_STR_EQ(g.body.data, DIGITS);
    ASSERT(cs_now() - t0 >= 0.12); /* 6 pieces, 5 pauses of 30 ms */
    got_cleanup(&g);
    t0 = cs_now();
    fetch(o, "/pause", NULL, &g);
    ASSERT_EQ(g.rc, CURLE_OK);
    ASSERT_STR_EQ(g.body.data, DIGITS);
    ASSERT(cs_now() - t0 >= 0.25);
    got_cleanup(&g);
    /* stopping does not wait for the sleeping replies */
    t0 = cs_now();
    cs_origin_stop(o);
    ASSERT(cs_now() - t0 < 3);
}

TEST_T(origin_body_file_and_directory, 20)
{
    const char *dir = cs_test_tmpdir();
    char path[600], sub[600];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    cs_test_write_file(path, DIGITS, 36);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ASSERT_EQ(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/sub/page.html", dir);
    cs_test_write_file(sub, "<p>hi</p>", 9);

    cs_origin *o = start();
    cs_origin_route fr = {.body_file = path};
    ASSERT_OK(cs_origin_route_add(o, "/file", &fr));
    got g;
    fetch(o, "/file", &(req_opts){.range = "30-"}, &g);
    ASSERT_EQ(g.status, 206);
    ASSERT_STR_EQ(g.body.data, "uvwxyz");
    got_cleanup(&g);

    ASSERT_OK(cs_origin_set_root(o, dir, NULL));
    fetch(o, "/data.bin", &(req_opts){.range = "1-2"}, &g);
    ASSERT_EQ(g.status, 206);
    ASSERT_STR_EQ(g.body.data, "12");
    ASSERT_CONTAINS(g.hdrs.data, "Content-Range: bytes 1-2/36");
    got_cleanup(&g);
    fetch(o, "/sub/page.html", NULL, &g);
    ASSERT_EQ(g.status, 200);
    ASSERT_STR_EQ(g.body.data, "<p>hi</p>");
    ASSERT_CONTAINS(g.hdrs.data, "text/html");
    got_cleanup(&g);
    fetch(o, "/sub", NULL, &g); /* directories are not listed */
    ASSERT_EQ(g.status, 404);
    got_cleanup(&g);
    fetch(o, "/nope.bin", NULL, &g);
    ASSERT_EQ(g.status, 404);
    got_cleanup(&g);
    fetch(o, "/sub/../../etc/passwd", &(req_opts){.path_as_is = true}, &g);
    ASSERT_EQ(g.status, 403);
    got_cleanup(&g);
    fetch(o, "/sub/%2e%2e/%2e%2e/etc/passwd", &(req_opts){.path_as_is = true}, &g);
    ASSERT(g.status == 403 || g.status == 404);
    ASSERT(!strstr(g.body.data, "root:"));
    got_cleanup(&g);
    fetch(o, "/data.bin", &(req_opts){.range = "40-50"}, &g);
    ASSERT_EQ(g.status, 416);
    got_cleanup(&g);
    /* directory files can be given faults too */
    ASSERT_OK(cs_origin_set_root(o, dir, &(cs_origin_route){.ignore_range = true}));
    fetch(o, "/data.bin", &(req_opts){.range = "1-2"}, &g);
    ASSERT_EQ(g.status, 200);
    ASSERT_STR_EQ(g.body.data, DIGITS);
    got_cleanup(&g);
    cs_origin_stop(o);

    cs_origin_opts opts = {.root = dir};
    ASSERT_OK(cs_origin_start_opts(&o, &opts));
    fetch(o, "/data.bin", NULL, &g);
    ASSERT_STR_EQ(g.body.data, DIGITS);
    got_cleanup(&g);
    cs_origin_stop(o);
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (*(size_t *)ud) += sz * n;
    return sz * n;
}

TEST_T(origin_many_slow_connections_at_once, 20)
{
    enum { N = 60 };
    cs_origin *o = start();
    cs_origin_route r = {.body = DIGITS, .body_len = 36, .delay_ms = 600};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &r));
    CURLM *m = curl_multi_init();
    CURL *h[N];
    size_t got_bytes[N] = {0};
    char url[256];
    snprintf(url, sizeof url, "%s/slow", cs_origin_url(o));
    for (int i = 0; i < N; i++) {
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, 15000L);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &got_bytes[i]);
        curl_multi_add_handle(m, h[i]);
    }
    double t0 = cs_now();
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double el = cs_now() - t0;
    CURLMsg *msg;
    int left, ok = 0;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK)
            ok++;
    ASSERT_EQ(ok, N);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(got_bytes[i], 36);
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(m);
    /* sequential would take 36 s; concurrent replies finish in about one delay */
    ASSERT(el < 8);
    ASSERT(cs_origin_peak(o) >= 50);
    ASSERT_EQ(cs_origin_count(o, "/slow"), N);
    cs_origin_stop(o);
}
