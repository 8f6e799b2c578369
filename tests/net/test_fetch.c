/* test_fetch.c - the fetcher against the loopback origin: one test per
 * hostile scenario. Each ends well inside its timeout, counts the URL under
 * the right reason, stays under a stated memory bound (bytes allocated
 * through the library's allocator, counted by a hook; RSS as a sanity
 * check), and fetches the good URLs of the same batch. Nothing leaves
 * 127.0.0.1: names are IP literals, "localhost", resolve entries or .invalid
 * (never looked up). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "origin.h"
#include "test.h"

#include "crawlset/fetch.h"

/* ---- memory accounting through the cs_allocator hook ------------------------------- */

static atomic_size_t g_mem_cur, g_mem_peak;

static void mem_add(size_t n)
{
    size_t c = atomic_fetch_add(&g_mem_cur, n) + n;
    size_t p = atomic_load(&g_mem_peak);
    while (c > p && !atomic_compare_exchange_weak(&g_mem_peak, &p, c))
        ;
}

static void *cm_malloc(size_t n, void *ud)
{
    (void)ud;
    size_t *p = malloc(n + 16);
    if (!p)
        return NULL;
    p[0] = n;
    mem_add(n);
    return (char *)p + 16;
}

static void cm_free(void *q, void *ud)
{
    (void)ud;
    if (!q)
        return;
    size_t *p = (size_t *)((char *)q - 16);
    atomic_fetch_sub(&g_mem_cur, p[0]);
    free(p);
}

static void *cm_realloc(void *q, size_t n, void *ud)
{
    if (!q)
        return cm_malloc(n, ud);
    size_t *p = (size_t *)((char *)q - 16);
    size_t old = p[0];
    size_t *np = realloc(p, n + 16);
    if (!np)
        return NULL;
    np[0] = n;
    atomic_fetch_sub(&g_mem_cur, old);
    mem_add(n);
    return (char *)np + 16;
}

/* Counts every library allocation from now on. Call first in a test, before
 * anything is allocated with cs_malloc. */
static void mem_begin(void)
{
    static const cs_allocator A = {cm_malloc, cm_realloc, cm_free, NULL};
    atomic_store(&g_mem_cur, 0);
    atomic_store(&g_mem_peak, 0);
    cs_set_allocator(&A);
}

/* Forgets the peak so far (after setup). */
static void mem_mark(void) { atomic_store(&g_mem_peak, atomic_load(&g_mem_cur)); }

/* Peak bytes in use since the mark; ends counting; everything must be freed. */
static size_t mem_end(size_t base_peak)
{
    size_t peak = atomic_load(&g_mem_peak);
    ASSERT_UEQ(atomic_load(&g_mem_cur), 0);
    cs_set_allocator(NULL);
    return peak > base_peak ? peak - base_peak : 0;
}

static long rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#endif
#ifdef ASAN
#define RSS_BOUND_MB 1500 /* shadow memory and the quarantine inflate RSS */
#else
#define RSS_BOUND_MB 300
#endif

/* ---- a batch runner ------------------------------------------------------------------ */

typedef struct res {
    bool seen;
    cs_fetch_reason reason;
    long status;
    size_t body_len;
    uint64_t received;
    int attempts, redirects;
    int http_version;
    char msg[256];
    char url[256];
    char final_url[512];
    char ctype[64];
    double elapsed, queued;
} res;

typedef struct batch {
    res *r;
    size_t n;
    size_t delivered;
    cs_fetch *f;
    int cancel_after; /* cancel once this many results are in (0 = never) */
} batch;

static cs_status on_result(void *ud, cs_fetch_result *fr)
{
    batch *b = ud;
    size_t i = (size_t)(uintptr_t)fr->user;
    ASSERT(i < b->n);
    res *r = &b->r[i];
    ASSERT(!r->seen);
    r->seen = true;
    r->reason = fr->reason;
    r->status = fr->status;
    r->body_len = fr->body_len;
    r->received = fr->bytes_received;
    r->attempts = fr->attempts;
    r->redirects = fr->redirects;
    r->http_version = fr->http_version;
    r->elapsed = fr->t.elapsed;
    r->queued = fr->t.queued;
    snprintf(r->msg, sizeof r->msg, "%s", fr->message);
    snprintf(r->url, sizeof r->url, "%s", fr->url);
    snprintf(r->final_url, sizeof r->final_url, "%s", fr->final_url);
    snprintf(r->ctype, sizeof r->ctype, "%s", fr->content_type ? fr->content_type : "");
    ASSERT(fr->reason == CS_FETCH_OK ? fr->message[0] == 0 : fr->message[0] != 0);
    ASSERT(fr->reason == CS_FETCH_OK || fr->body == NULL);
    b->delivered++;
    if (b->cancel_after && (int)b->delivered == b->cancel_after)
        cs_fetch_cancel(b->f);
    return CS_OK;
}

static cs_fetch_opts quick_opts(void)
{
    cs_fetch_opts o;
    cs_fetch_opts_init(&o);
    o.connect_timeout = 3;
    o.timeout = 15;
    o.low_speed_limit = 512;
    o.low_speed_time = 2;
    o.retries = 0;
    o.retry_delay = 0.05;
    o.max_body = 4u << 20;
    o.proxy = ""; /* loopback only, whatever the environment says */
    return o;
}

/* The memory bound every run_urls() holds to: bytes allocated through the
 * library's allocator while the run lasts (fetcher, bodies, the origin's
 * per-request state), over what was in use when it started. Tests with large
 * bodies raise it. */
static size_t g_run_bound = 8u << 20;

/* Fetches urls[0..n) (pushed) and fills r[0..n); returns the stats. */
static cs_fetch_stats run_urls(const cs_fetch_opts *o, char **urls, size_t n, res *r,
                               cs_status want)
{
    size_t base = atomic_load(&g_mem_cur);
    if (atomic_load(&g_mem_peak) < base)
        atomic_store(&g_mem_peak, base);
    size_t peak0 = atomic_load(&g_mem_peak);
    atomic_store(&g_mem_peak, base);
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, o));
    memset(r, 0, n * sizeof *r);
    batch b = {r, n, 0, f, 0};
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(cs_fetch_add(f, urls[i], 0, (void *)(uintptr_t)i));
    ASSERT_ST(cs_fetch_run(f, NULL, on_result, &b), want);
    cs_fetch_stats st;
    cs_fetch_stats_get(f, &st);
    cs_fetch_free(f);
    ASSERT_UEQ(b.delivered, n);
    ASSERT_EQ(st.in_flight, 0);
    ASSERT_UEQ(st.queued, 0);
    ASSERT_UEQ(st.body_mem, 0);
    size_t peak = atomic_load(&g_mem_peak);
    if (peak - base > g_run_bound)
        FAIL("the run allocated %zu bytes at its peak, over the bound of %zu", peak - base,
             g_run_bound);
    printf("run of %zu URLs: peak %zu bytes allocated (bound %zu)\n", n, peak - base,
           g_run_bound);
    if (peak0 > peak)
        atomic_store(&g_mem_peak, peak0);
    return st;
}

/* "BASE/path" in a buffer freed with the test (plain malloc: not counted). */
static char *url_of(cs_origin *o, const char *path)
{
    size_t n = strlen(cs_origin_url(o)) + strlen(path) + 1;
    char *u = cs_test_keep(malloc(n));
    snprintf(u, n, "%s%s", cs_origin_url(o), path);
    return u;
}

static void expect(const res *r, cs_fetch_reason want, const char *what)
{
    if (!r->seen)
        FAIL("%s: no result", what);
    if (r->reason != want)
        FAIL("%s: %s: reason %s (%s), want %s", what, r->url, cs_fetch_reason_name(r->reason),
             r->msg, cs_fetch_reason_name(want));
}

/* Adds good routes /good0../good2 and their URLs at urls[at..at+3). */
static void add_good(cs_origin *o, char **urls, size_t at)
{
    for (int i = 0; i < 3; i++) {
        char p[32];
        snprintf(p, sizeof p, "/good%d", i);
        ASSERT_OK(cs_origin_route_simple(o, p, 200, "good body\n"));
        urls[at + (size_t)i] = url_of(o, p);
    }
}

static void expect_good(const res *r, size_t at)
{
    for (size_t i = at; i < at + 3; i++) {
        expect(&r[i], CS_FETCH_OK, "good URL in the same batch");
        ASSERT_EQ(r[i].body_len, 10);
    }
}

static cs_origin *origin(void)
{
    cs_origin *o;
    ASSERT_OK(cs_origin_start(&o));
    return o;
}

/* ---- the plain path ------------------------------------------------------------------ */

TEST_T(fetch_basics_ok_404_500_bad_url, 30)
{
    mem_begin();
    cs_origin *o = origin();
    ASSERT_OK(cs_origin_route_simple(o, "/a", 200, "hello, world\n"));
    ASSERT_OK(cs_origin_route_simple(o, "/missing", 404, "no\n"));
    ASSERT_OK(cs_origin_route_simple(o, "/err", 500, "oops\n"));
    cs_origin_route r304 = {.status = 304};
    ASSERT_OK(cs_origin_route_add(o, "/nm", &r304));
    char *urls[] = {
        url_of(o, "/a"),        url_of(o, "/missing"), url_of(o, "/err"),
        url_of(o, "/nm"),       "ftp://127.0.0.1/x",   "not a url",
        "http://",              url_of(o, "/a#frag"),  url_of(o, "/a?q=1 2&\xC3\xA9"),
    };
    size_t n = sizeof urls / sizeof *urls;
    res r[9];
    cs_fetch_opts op = quick_opts();
    cs_fetch_stats st = run_urls(&op, urls, n, r, CS_OK);
    expect(&r[0], CS_FETCH_OK, "/a");
    ASSERT_EQ(r[0].status, 200);
    ASSERT_EQ(r[0].body_len, 13);
    ASSERT_STR_EQ(r[0].ctype, "text/plain; charset=utf-8");
    ASSERT_EQ(r[0].attempts, 1);
    expect(&r[1], CS_FETCH_HTTP_4XX, "404");
    ASSERT_EQ(r[1].status, 404);
    expect(&r[2], CS_FETCH_HTTP_5XX, "500");
    expect(&r[3], CS_FETCH_HTTP_OTHER, "304");
    expect(&r[4], CS_FETCH_BAD_URL, "ftp");
    ASSERT_CONTAINS(r[4].msg, "ftp");
    expect(&r[5], CS_FETCH_BAD_URL, "junk");
    expect(&r[6], CS_FETCH_BAD_URL, "no host");
    ASSERT_EQ(r[4].attempts + r[5].attempts + r[6].attempts, 0);
    expect(&r[7], CS_FETCH_OK, "fragment dropped");
    expect(&r[8], CS_FETCH_OK, "space and UTF-8 encoded");
    ASSERT_CONTAINS(r[8].final_url, "/a?q=1%202&%C3%A9");
    /* a URL of 100 KB */
    char *longu = cs_test_keep(malloc(100001));
    memcpy(longu, "http://127.0.0.1/", 17);
    memset(longu + 17, 'x', 100000 - 17);
    longu[100000] = 0;
    char *one[1] = {longu};
    run_urls(&op, one, 1, r, CS_OK);
    expect(&r[0], CS_FETCH_BAD_URL, "100 KB URL");
    /* robots.txt (404 here: allow all) was fetched once for the host */
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 1);
    ASSERT_UEQ(st.robots_fetches, 1);
    ASSERT_UEQ(st.by_reason[CS_FETCH_OK], 3);
    ASSERT_UEQ(st.by_reason[CS_FETCH_BAD_URL], 3);
    ASSERT_UEQ(st.done, n);
    cs_origin_stop(o);
    mem_end(0);
}

TEST(fetch_reason_names)
{
    for (int i = 0; i < CS_FETCH__REASON_COUNT; i++) {
        cs_fetch_reason back;
        ASSERT(cs_fetch_reason_from_name(cs_fetch_reason_name((cs_fetch_reason)i), &back));
        ASSERT_EQ(back, i);
        ASSERT(strlen(cs_fetch_reason_desc((cs_fetch_reason)i)) > 5);
    }
    ASSERT_STR_EQ(cs_fetch_reason_name(CS_FETCH_HTTP_4XX), "http_4xx");
    ASSERT_STR_EQ(cs_fetch_reason_name(CS_FETCH_REDIRECT_LOOP), "redirect_loop");
    ASSERT_STR_EQ(cs_fetch_reason_name((cs_fetch_reason)99), "unknown");
}

TEST(fetch_header_checks_standalone)
{
    const char *A = "crawlset";
#define XRT(v) cs_fetch_x_robots_opt_out(v, strlen(v), A, NULL)
    ASSERT(XRT("noai"));
    ASSERT(XRT("NoImageAI"));
    ASSERT(XRT("nofollow, noindex"));
    ASSERT(XRT("noimageindex,nofollow"));
    ASSERT(XRT("none"));
    ASSERT(XRT("crawlset: noai"));
    ASSERT(XRT("CrawlSet: noimageai, nofollow"));
    ASSERT(!XRT("otherbot: noai"));
    ASSERT(!XRT("otherbot: noai, noindex")); /* the scope carries to the next items */
    ASSERT(XRT("otherbot: nofollow, crawlset: noindex"));
    ASSERT(!XRT("nofollow, noarchive"));
    ASSERT(!XRT("unavailable_after: 25 Jun 2010 15:00:00 PST"));
    ASSERT(!XRT("max-image-preview: large, nosnippet"));
    ASSERT(!XRT(""));
    ASSERT(!cs_fetch_x_robots_opt_out("noindex", 7, A, "noai,noimageai"));
    ASSERT(cs_fetch_x_robots_opt_out("noai", 4, A, "noai,noimageai"));
#undef XRT
    ASSERT(cs_fetch_type_accepted("image/jpeg", "image/*"));
    ASSERT(cs_fetch_type_accepted("IMAGE/PNG; q=1", "image/*"));
    ASSERT(!cs_fetch_type_accepted("text/html; charset=utf-8", "image/*"));
    ASSERT(cs_fetch_type_accepted("text/html", "image/*, text/html"));
    ASSERT(cs_fetch_type_accepted(NULL, "image/*"));
    ASSERT(cs_fetch_type_accepted("application/octet-stream", "image/*"));
    ASSERT(!cs_fetch_type_accepted("imagex/png", "image/*"));
    ASSERT(cs_fetch_type_accepted("text/html", NULL));
    ASSERT(cs_fetch_parse_retry_after("120", 3) == 120);
    ASSERT(cs_fetch_parse_retry_after(" 0 ", 3) == 0);
    ASSERT(cs_fetch_parse_retry_after("soon", 4) == -1);
    ASSERT(cs_fetch_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 29) == 0); /* past */
    char date[64];
    time_t t = time(NULL) + 100;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t));
    double d = cs_fetch_parse_retry_after(date, strlen(date));
    ASSERT(d > 95 && d <= 100);
}

/* ---- hostile origins ----------------------------------------------------------------- */

TEST_T(fetch_slow_drip_and_slow_headers_time_out, 40)
{
    mem_begin();
    cs_origin *o = origin();
    static char body[4000];
    memset(body, 'x', sizeof body);
    /* slowloris: a byte every 400 ms (2.5 B/s against a 512 B/s floor) */
    cs_origin_route drip = {.body = body, .body_len = sizeof body, .drip_bytes = 1,
                            .drip_ms = 400};
    ASSERT_OK(cs_origin_route_add(o, "/drip", &drip));
    /* headers that never come */
    cs_origin_route late = {.body = "x", .body_len = 1, .delay_ms = 60000};
    ASSERT_OK(cs_origin_route_add(o, "/late", &late));
    char *urls[5] = {url_of(o, "/drip"), url_of(o, "/late")};
    add_good(o, urls, 2);
    res r[5];
    cs_fetch_opts op = quick_opts();
    op.timeout = 8;
    double t0 = cs_now();
    mem_mark();
    run_urls(&op, urls, 5, r, CS_OK);
    double took = cs_now() - t0;
    expect(&r[0], CS_FETCH_TIMEOUT, "slow drip");
    ASSERT(r[0].received < sizeof body);
    expect(&r[1], CS_FETCH_TIMEOUT, "slow headers");
    expect_good(r, 2);
    ASSERT(r[0].elapsed < 6); /* the low-speed abort (2 s), not the total timeout */
    ASSERT(took < 12);
    cs_origin_stop(o);
    size_t peak = mem_end(0);
    printf("slow drip: %.1f s, peak %zu bytes\n", took, peak);
    ASSERT(peak < (8u << 20));
}

TEST_T(fetch_endless_body_too_large, 30)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route endless = {.endless = true, .content_type = "image/jpeg"};
    ASSERT_OK(cs_origin_route_add(o, "/endless", &endless));
    char *urls[4] = {url_of(o, "/endless")};
    add_good(o, urls, 1);
    res r[4];
    cs_fetch_opts op = quick_opts();
    op.max_body = 1u << 20;
    mem_mark();
    size_t base = atomic_load(&g_mem_peak);
    double t0 = cs_now();
    cs_fetch_stats st = run_urls(&op, urls, 4, r, CS_OK);
    expect(&r[0], CS_FETCH_TOO_LARGE, "endless");
    ASSERT_CONTAINS(r[0].msg, "over the limit");
    ASSERT(r[0].received <= (1u << 20) + (256u << 10));
    expect_good(r, 1);
    ASSERT(cs_now() - t0 < 10);
    ASSERT(st.peak_body_mem <= (2u << 20) + 64);
    cs_origin_stop(o);
    size_t peak = mem_end(base);
    printf("endless: peak %zu bytes, rss %ld MB\n", peak, rss_mb());
    ASSERT(peak < (6u << 20));
    ASSERT(rss_mb() < RSS_BOUND_MB);
}

TEST_T(fetch_content_length_lies_both_ways, 30)
{
    mem_begin();
    cs_origin *o = origin();
    static char body[100000];
    memset(body, 'y', sizeof body);
    /* claims more than it sends, then hangs up */
    cs_origin_route longer = {.body = body, .body_len = 1000, .lie_length = true,
                              .declared_length = 50000};
    ASSERT_OK(cs_origin_route_add(o, "/claims-more", &longer));
    /* claims less than it sends: HTTP framing wins, the rest is never read
     * as a next response (the connection is not reused) */
    cs_origin_route shorter = {.body = body, .body_len = sizeof body, .lie_length = true,
                               .declared_length = 10};
    ASSERT_OK(cs_origin_route_add(o, "/claims-less", &shorter));
    /* claims a size over the limit: refused before the body */
    cs_origin_route huge = {.body = body, .body_len = 1000, .lie_length = true,
                            .declared_length = 10ull << 30};
    ASSERT_OK(cs_origin_route_add(o, "/claims-huge", &huge));
    char *urls[6] = {url_of(o, "/claims-more"), url_of(o, "/claims-less"),
                     url_of(o, "/claims-huge")};
    add_good(o, urls, 3);
    res r[6];
    cs_fetch_opts op = quick_opts();
    op.per_host = 1; /* everything on one connection at a time: reuse after the lie */
    run_urls(&op, urls, 6, r, CS_OK);
    expect(&r[0], CS_FETCH_NETWORK, "Content-Length longer than the body");
    ASSERT_EQ(r[0].attempts, 1);
    expect(&r[1], CS_FETCH_OK, "Content-Length shorter than the body");
    ASSERT_EQ(r[1].body_len, 10);
    expect(&r[2], CS_FETCH_TOO_LARGE, "Content-Length over max_body");
    ASSERT_CONTAINS(r[2].msg, "Content-Length");
    ASSERT_UEQ(r[2].received, 0);
    expect_good(r, 3);
    cs_origin_stop(o);
    mem_end(0);
}

/* A gzip member of 1 + 258*reps zero bytes, written by hand (fixed-Huffman
 * deflate: one literal, then reps copies of <length 258, distance 1>, 13
 * bits each): about 1:1000, built in milliseconds. */
typedef struct bits {
    uint8_t *p;
    size_t n;
    uint64_t acc;
    int nacc;
} bits;

static void put_bits(bits *b, uint32_t v, int n) /* LSB first */
{
    b->acc |= (uint64_t)v << b->nacc;
    b->nacc += n;
    while (b->nacc >= 8) {
        b->p[b->n++] = (uint8_t)b->acc;
        b->acc >>= 8;
        b->nacc -= 8;
    }
}

static void put_code(bits *b, uint32_t code, int n) /* Huffman codes go MSB first */
{
    uint32_t r = 0;
    for (int i = 0; i < n; i++)
        r |= ((code >> i) & 1u) << (n - 1 - i);
    put_bits(b, r, n);
}

static uint32_t crc_zeros(uint64_t n)
{
    uint8_t z = 0;
    uLong acc = crc32(0, Z_NULL, 0), piece = crc32(0, &z, 1);
    uint64_t plen = 1;
    while (n) {
        if (n & 1)
            acc = crc32_combine(acc, piece, (z_off_t)plen);
        piece = crc32_combine(piece, piece, (z_off_t)plen);
        plen *= 2;
        n >>= 1;
    }
    return (uint32_t)acc;
}

static uint8_t *gzip_bomb(uint64_t reps, size_t *len, uint64_t *inflated)
{
    size_t cap = 32 + (size_t)(reps * 13 / 8) + 16;
    bits b = {malloc(cap), 0, 0, 0};
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(b.p, hdr, 10);
    b.n = 10;
    put_bits(&b, 1, 1);         /* BFINAL */
    put_bits(&b, 1, 2);         /* BTYPE = fixed Huffman */
    put_code(&b, 0x30, 8);      /* literal 0 */
    for (uint64_t i = 0; i < reps; i++) {
        put_code(&b, 0xC5, 8);  /* length code 285: 258 */
        put_code(&b, 0, 5);     /* distance code 0: 1 */
    }
    put_code(&b, 0, 7);         /* end of block */
    if (b.nacc)
        put_bits(&b, 0, 8 - b.nacc);
    uint64_t total = 1 + 258 * reps;
    uint32_t crc = crc_zeros(total);
    for (int i = 0; i < 4; i++)
        b.p[b.n++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        b.p[b.n++] = (uint8_t)(total >> (8 * i));
    *len = b.n;
    *inflated = total;
    return b.p;
}

TEST_T(fetch_gzip_bomb_and_bad_gzip, 40)
{
    /* the bomb itself is checked with zlib on a small copy */
    size_t sl;
    uint64_t sinf;
    uint8_t *small = gzip_bomb(1000, &sl, &sinf);
    static uint8_t out[300000];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ASSERT_EQ(inflateInit2(&zs, 16 + 15), Z_OK);
    zs.next_in = small;
    zs.avail_in = (uInt)sl;
    zs.next_out = out;
    zs.avail_out = sizeof out;
    ASSERT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ASSERT_UEQ(zs.total_out, sinf);
    inflateEnd(&zs);
    free(small);

    size_t blen;
    uint64_t inflated;
    uint8_t *bomb = gzip_bomb((2ull << 30) / 258 + 1, &blen, &inflated); /* 2 GiB */
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route br = {.body = bomb, .body_len = blen, .content_type = "image/jpeg",
                          .headers = "Content-Encoding: gzip\n"};
    ASSERT_OK(cs_origin_route_add(o, "/bomb.jpg", &br));
    free(bomb);
    static const char junk[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03this is not deflate";
    cs_origin_route bad = {.body = junk, .body_len = sizeof junk - 1,
                           .headers = "Content-Encoding: gzip\n"};
    ASSERT_OK(cs_origin_route_add(o, "/bad-gzip", &bad));
    static const char text[] = "compressible text compressible text compressible text\n";
    cs_origin_route gz = {.body = text, .body_len = sizeof text - 1, .gzip = true};
    ASSERT_OK(cs_origin_route_add(o, "/real-gzip", &gz));
    char *urls[6] = {url_of(o, "/bomb.jpg"), url_of(o, "/bad-gzip"), url_of(o, "/real-gzip")};
    add_good(o, urls, 3);
    res r[6];
    cs_fetch_opts op = quick_opts();
    op.max_body = 16u << 20; /* over the 13 MB compressed size: the decoded size stops it */
    g_run_bound = 40u << 20;
    mem_mark();
    size_t base = atomic_load(&g_mem_peak);
    double t0 = cs_now();
    run_urls(&op, urls, 6, r, CS_OK);
    double took = cs_now() - t0;
    expect(&r[0], CS_FETCH_TOO_LARGE, "gzip bomb");
    ASSERT_CONTAINS(r[0].msg, "decoded from gzip");
    ASSERT(r[0].received <= (16u << 20) + (1u << 20));
    expect(&r[1], CS_FETCH_DECODE, "bad gzip");
    expect(&r[2], CS_FETCH_OK, "gzip");
    ASSERT_EQ(r[2].body_len, sizeof text - 1);
    expect_good(r, 3);
    cs_origin_stop(o);
    size_t peak = mem_end(base);
    printf("gzip bomb: %zu bytes inflating to %" PRIu64 ", stopped after %.2f s, peak %zu "
           "bytes, rss %ld MB\n",
           blen, inflated, took, peak, rss_mb());
    ASSERT(inflated >= (2ull << 30));
    ASSERT(took < 15);
    /* the 16 MiB cap; a buffer sized to the 13 MB Content-Length grows once
     * to the cap (realloc may hold both); libcurl's own buffers aside */
    ASSERT(peak < (40u << 20));
    ASSERT(rss_mb() < RSS_BOUND_MB);
}

TEST_T(fetch_huge_body_refused, 30)
{
    /* a "pixel bomb"-sized image: 300 MB, honest Content-Length */
    char path[600];
    snprintf(path, sizeof path, "%s/huge.jpg", cs_test_tmpdir());
    FILE *fp = fopen(path, "wb");
    ASSERT(fp && ftruncate(fileno(fp), 300l << 20) == 0);
    fclose(fp);
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route hr = {.body_file = path};
    ASSERT_OK(cs_origin_route_add(o, "/huge.jpg", &hr));
    /* the same bytes without a length: chunked, cut at the limit */
    cs_origin_route hr2 = {.endless = true, .content_type = "image/jpeg"};
    ASSERT_OK(cs_origin_route_add(o, "/huge-chunked.jpg", &hr2));
    char *urls[5] = {url_of(o, "/huge.jpg"), url_of(o, "/huge-chunked.jpg")};
    add_good(o, urls, 2);
    res r[5];
    cs_fetch_opts op = quick_opts();
    op.max_body = 16u << 20;
    g_run_bound = 40u << 20;
    mem_mark();
    size_t base = atomic_load(&g_mem_peak);
    run_urls(&op, urls, 5, r, CS_OK);
    expect(&r[0], CS_FETCH_TOO_LARGE, "300 MB body, declared");
    ASSERT_UEQ(r[0].received, 0);
    ASSERT_STR_EQ(r[0].ctype, "image/jpeg");
    expect(&r[1], CS_FETCH_TOO_LARGE, "300 MB body, chunked");
    expect_good(r, 2);
    cs_origin_stop(o);
    size_t peak = mem_end(base);
    printf("huge body: peak %zu bytes\n", peak);
    ASSERT(peak < (40u << 20));
}

TEST_T(fetch_redirects_and_loops, 30)
{
    mem_begin();
    cs_origin *o = origin();
    char buf[256];
    /* a loop a -> b -> a */
    cs_origin_route ra = {.redirect = "/loop-b"}, rb = {.redirect = "/loop-a"};
    ASSERT_OK(cs_origin_route_add(o, "/loop-a", &ra));
    ASSERT_OK(cs_origin_route_add(o, "/loop-b", &rb));
    /* a chain of 8 distinct hops (more than 5) and one of 3 */
    for (int i = 0; i < 8; i++) {
        char p[32];
        snprintf(p, sizeof p, "/chain%d", i);
        snprintf(buf, sizeof buf, "/chain%d", i + 1);
        cs_origin_route c = {.redirect = buf, .status = i % 2 ? 301 : 307};
        ASSERT_OK(cs_origin_route_add(o, p, &c));
    }
    ASSERT_OK(cs_origin_route_simple(o, "/chain8", 200, "end of the chain"));
    snprintf(buf, sizeof buf, "%s/chain5", cs_origin_url(o)); /* absolute Location */
    cs_origin_route abs = {.redirect = buf};
    ASSERT_OK(cs_origin_route_add(o, "/to-chain5", &abs));
    /* redirect to a path robots.txt disallows */
    ASSERT_OK(cs_origin_route_simple(o, "/robots.txt", 200, "User-agent: *\nDisallow: /private\n"));
    cs_origin_route rp = {.redirect = "/private/x"};
    ASSERT_OK(cs_origin_route_add(o, "/to-private", &rp));
    /* 3xx without Location */
    cs_origin_route noloc = {.status = 302};
    ASSERT_OK(cs_origin_route_add(o, "/no-location", &noloc));
    /* a redirect with a 200 KB body (read up to 64 KiB, then followed) */
    static char fat[200000];
    memset(fat, 'f', sizeof fat);
    cs_origin_route fatr = {.status = 301, .body = fat, .body_len = sizeof fat,
                            .headers = "Location: /chain8\n"};
    ASSERT_OK(cs_origin_route_add(o, "/fat-redirect", &fatr));
    char *urls[9] = {url_of(o, "/loop-a"), url_of(o, "/chain0"), url_of(o, "/to-chain5"),
                     url_of(o, "/to-private"), url_of(o, "/no-location"),
                     url_of(o, "/fat-redirect")};
    add_good(o, urls, 6);
    res r[9];
    cs_fetch_opts op = quick_opts();
    cs_fetch_stats st = run_urls(&op, urls, 9, r, CS_OK);
    expect(&r[0], CS_FETCH_REDIRECT_LOOP, "a -> b -> a");
    ASSERT_CONTAINS(r[0].msg, "loop");
    ASSERT_EQ(r[0].attempts, 2);
    expect(&r[1], CS_FETCH_REDIRECT_LOOP, "8 hops");
    ASSERT_CONTAINS(r[1].msg, "more than 5 redirects");
    expect(&r[2], CS_FETCH_OK, "3 hops");
    ASSERT_EQ(r[2].redirects, 4);
    ASSERT_CONTAINS(r[2].final_url, "/chain8");
    ASSERT_EQ(r[2].body_len, 16);
    expect(&r[3], CS_FETCH_ROBOTS, "redirect into a disallowed path");
    expect(&r[4], CS_FETCH_HTTP_OTHER, "302 without Location");
    expect(&r[5], CS_FETCH_OK, "301 with a large body");
    ASSERT_EQ(r[5].redirects, 1);
    expect_good(r, 6);
    ASSERT_EQ(cs_origin_count(o, "/private/x"), 0);
    ASSERT(st.redirects >= 7);
    cs_origin_stop(o);
    mem_end(0);
}

/* Arrival times of the requests for path, in order. */
static size_t arrivals(cs_origin *o, const char *path, double *t, size_t cap)
{
    size_t n = 0;
    cs_origin_request q;
    for (size_t i = 0; cs_origin_log_get(o, i, &q); i++)
        if (!strcmp(q.path, path) && n < cap)
            t[n++] = q.time;
    return n;
}

TEST_T(fetch_429_retry_after, 40)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route secs = {.body = "ok", .body_len = 2, .fail_times = 1, .fail_status = 429,
                            .fail_headers = "Retry-After: 1"};
    ASSERT_OK(cs_origin_route_add(o, "/429-secs", &secs));
    char hd[128], date[64];
    time_t t = time(NULL) + 3;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t));
    snprintf(hd, sizeof hd, "Retry-After: %s", date);
    cs_origin_route dated = {.body = "ok", .body_len = 2, .fail_times = 1, .fail_status = 503,
                             .fail_headers = hd};
    ASSERT_OK(cs_origin_route_add(o, "/503-date", &dated));
    cs_origin_route capped = {.body = "ok", .body_len = 2, .fail_times = 1, .fail_status = 429,
                              .fail_headers = "Retry-After: 3600"};
    ASSERT_OK(cs_origin_route_add(o, "/429-long", &capped));
    cs_origin_route always = {.fail_times = 1000, .fail_status = 429,
                              .fail_headers = "Retry-After: 0"};
    ASSERT_OK(cs_origin_route_add(o, "/429-always", &always));
    char *urls[7] = {url_of(o, "/429-secs"), url_of(o, "/503-date"), url_of(o, "/429-long"),
                     url_of(o, "/429-always")};
    add_good(o, urls, 4);
    res r[7];
    cs_fetch_opts op = quick_opts();
    op.retries = 2;
    op.retry_after_max = 2;
    op.per_host = 0;
    run_urls(&op, urls, 7, r, CS_OK);
    expect(&r[0], CS_FETCH_OK, "429 then ok");
    ASSERT_EQ(r[0].attempts, 2);
    expect(&r[1], CS_FETCH_OK, "503 with an HTTP date then ok");
    expect(&r[2], CS_FETCH_OK, "Retry-After capped");
    expect(&r[3], CS_FETCH_HTTP_4XX, "429 forever");
    ASSERT_EQ(r[3].status, 429);
    ASSERT_EQ(r[3].attempts, 3);
    ASSERT_CONTAINS(r[3].msg, "gave up after 3 tries");
    expect_good(r, 4);
    double tt[4];
    ASSERT_EQ(arrivals(o, "/429-secs", tt, 4), 2);
    ASSERT(tt[1] - tt[0] >= 0.95);
    ASSERT_EQ(arrivals(o, "/503-date", tt, 4), 2);
    ASSERT(tt[1] - tt[0] >= 0.95); /* a date 2-3 s ahead, capped at 2 s */
    ASSERT_EQ(arrivals(o, "/429-long", tt, 4), 2);
    ASSERT(tt[1] - tt[0] >= 1.9 && tt[1] - tt[0] < 5); /* capped: not an hour */
    cs_origin_stop(o);
    mem_end(0);
}

/* A wait given in the body of a 429 (Discourse: extras.wait_seconds) is
 * honoured through opts.retry_hint when no Retry-After header says one;
 * a header still wins when there is one. */
static double wait_hint(const char *body, size_t len, void *ud)
{
    int *calls = ud;
    (*calls)++;
    const char *k = memmem(body, len, "\"wait_seconds\":", 15);
    return k ? atof(k + 15) : -1;
}

TEST_T(fetch_429_wait_in_the_body, 40)
{
    cs_origin *o = origin();
    cs_origin_route body = {.body = "ok", .body_len = 2, .fail_times = 1, .fail_status = 429,
                            .fail_body = "{\"errors\":[\"slow down\"],\"error_type\":"
                                         "\"rate_limit\",\"extras\":{\"wait_seconds\":1}}"};
    ASSERT_OK(cs_origin_route_add(o, "/429-body", &body));
    cs_origin_route header = {.body = "ok", .body_len = 2, .fail_times = 1, .fail_status = 429,
                              .fail_headers = "Retry-After: 0",
                              .fail_body = "{\"extras\":{\"wait_seconds\":30}}"};
    ASSERT_OK(cs_origin_route_add(o, "/429-both", &header));
    char *urls[2] = {url_of(o, "/429-body"), url_of(o, "/429-both")};
    res r[2];
    int calls = 0;
    cs_fetch_opts op = quick_opts();
    op.retries = 2;
    op.retry_delay = 0.01;
    op.retry_max_delay = 0.02;
    op.per_host = 0;
    op.retry_hint = wait_hint;
    op.retry_hint_ud = &calls;
    run_urls(&op, urls, 2, r, CS_OK);
    expect(&r[0], CS_FETCH_OK, "429 with a wait in its body, then ok");
    expect(&r[1], CS_FETCH_OK, "429 with a header and a body, then ok");
    ASSERT_EQ(calls, 1); /* only where no header said anything */
    double tt[4];
    ASSERT_EQ(arrivals(o, "/429-body", tt, 4), 2);
    ASSERT(tt[1] - tt[0] >= 0.95);
    ASSERT_EQ(arrivals(o, "/429-both", tt, 4), 2);
    ASSERT(tt[1] - tt[0] < 5); /* Retry-After: 0, not the body's 30 s */
    cs_origin_stop(o);
}

TEST_T(fetch_503_storm, 30)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route s3 = {.body = "finally", .body_len = 7, .fail_times = 3};
    ASSERT_OK(cs_origin_route_add(o, "/storm-3", &s3));
    cs_origin_route s100 = {.body = "never", .body_len = 5, .fail_times = 100};
    ASSERT_OK(cs_origin_route_add(o, "/storm-100", &s100));
    char *urls[5] = {url_of(o, "/storm-3"), url_of(o, "/storm-100")};
    add_good(o, urls, 2);
    res r[5];
    cs_fetch_opts op = quick_opts();
    op.retries = 3;
    op.retry_delay = 0.1;
    double t0 = cs_now();
    cs_fetch_stats st = run_urls(&op, urls, 5, r, CS_OK);
    expect(&r[0], CS_FETCH_OK, "ok after 3 x 503");
    ASSERT_EQ(r[0].attempts, 4);
    ASSERT_EQ(r[0].body_len, 7);
    expect(&r[1], CS_FETCH_HTTP_5XX, "503 forever");
    ASSERT_EQ(r[1].attempts, 4);
    ASSERT_EQ(r[1].status, 503);
    ASSERT_CONTAINS(r[1].msg, "gave up after 4 tries");
    expect_good(r, 2);
    ASSERT_EQ(cs_origin_count(o, "/storm-100"), 4);
    ASSERT_UEQ(st.retries, 6);
    /* backoff 0.1, 0.2, 0.4 s (x 0.75..1.25) */
    double tt[8];
    ASSERT_EQ(arrivals(o, "/storm-100", tt, 8), 4);
    ASSERT(tt[1] - tt[0] >= 0.07 && tt[2] - tt[1] >= 0.14 && tt[3] - tt[2] >= 0.29);
    ASSERT(cs_now() - t0 < 5);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_reset_mid_body, 30)
{
    mem_begin();
    cs_origin *o = origin();
    static char body[200000];
    memset(body, 'r', sizeof body);
    cs_origin_route rr = {.body = body, .body_len = sizeof body, .close_early = true,
                          .close_after = 70000, .reset = true};
    ASSERT_OK(cs_origin_route_add(o, "/reset", &rr));
    char *urls[4] = {url_of(o, "/reset")};
    add_good(o, urls, 1);
    res r[4];
    cs_fetch_opts op = quick_opts();
    op.retries = 1;
    run_urls(&op, urls, 4, r, CS_OK);
    expect(&r[0], CS_FETCH_NETWORK, "reset mid-body");
    ASSERT_EQ(r[0].attempts, 2); /* retried once */
    ASSERT(r[0].received < sizeof body);
    expect_good(r, 1);
    cs_origin_stop(o);
    mem_end(0);
}

/* A port nothing listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

TEST_T(fetch_unknown_host_refused_port_tls, 30)
{
    mem_begin();
    cs_origin *o = origin();
    int cp = closed_port();
    char refused[64], resolved[64], entry[64], tls[96];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/x", cp);
    /* a name resolved from a local entry (never asked of DNS) to the closed port */
    snprintf(entry, sizeof entry, "closed.test:%d:127.0.0.1", cp);
    snprintf(resolved, sizeof resolved, "http://closed.test:%d/y", cp);
    snprintf(tls, sizeof tls, "https://127.0.0.1:%u/tls", (unsigned)cs_origin_port(o));
    char *urls[9] = {"http://no-such-host.invalid/a.jpg", "http://NO-SUCH-HOST.INVALID./b",
                     refused, resolved, tls, "http://invalid/c"};
    add_good(o, urls, 6);
    const char *resolve[] = {entry, NULL};
    res r[9];
    cs_fetch_opts op = quick_opts();
    op.resolve = resolve;
    op.retries = 1;
    double t0 = cs_now();
    run_urls(&op, urls, 9, r, CS_OK);
    expect(&r[0], CS_FETCH_DNS, ".invalid");
    ASSERT_CONTAINS(r[0].msg, "RFC 6761");
    ASSERT_EQ(r[0].attempts, 0);
    ASSERT(r[0].elapsed < 0.5);
    expect(&r[1], CS_FETCH_DNS, ".INVALID.");
    expect(&r[5], CS_FETCH_DNS, "invalid");
    expect(&r[2], CS_FETCH_CONNECT, "refused");
    expect(&r[3], CS_FETCH_CONNECT, "refused, by name");
    expect(&r[4], CS_FETCH_TLS, "TLS to a plain-HTTP port");
    expect_good(r, 6);
    ASSERT(cs_now() - t0 < 10);
    cs_origin_stop(o);
    mem_end(0);
}

/* ---- a raw TCP server for replies the origin cannot make ---------------------------- */

typedef struct raw_srv {
    int fd;
    int port;
    int mode; /* 0: endless header lines, 1: one 2 MB header line */
    pthread_t th;
    atomic_int stop;
    atomic_size_t sent;
} raw_srv;

static void *raw_main(void *arg)
{
    raw_srv *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        char req[4096];
        ssize_t got = recv(c, req, sizeof req, 0);
        (void)got;
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n";
        send(c, head, sizeof head - 1, MSG_NOSIGNAL);
        char line[1100];
        memset(line, 'a', sizeof line);
        for (int i = 0; i < 100000 && !atomic_load(&s->stop); i++) {
            ssize_t w;
            if (s->mode == 0) {
                int k = snprintf(line, sizeof line, "X-Junk-%d: ", i);
                line[k] = 'a';
                memcpy(line + 1000, "\r\n", 2);
                w = send(c, line, 1002, MSG_NOSIGNAL);
            } else {
                w = send(c, i == 0 ? "X-Big: " : line, i == 0 ? 7 : 1000, MSG_NOSIGNAL);
                if (i == 2100)
                    w = send(c, "\r\n\r\n", 4, MSG_NOSIGNAL);
            }
            if (w <= 0)
                break;
            atomic_fetch_add(&s->sent, (size_t)w);
        }
        close(c);
    }
    return NULL;
}

static void raw_start(raw_srv *s, int mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(s->fd, 16), 0);
    socklen_t l = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &l);
    s->port = ntohs(a.sin_port);
    ASSERT_EQ(pthread_create(&s->th, NULL, raw_main, s), 0);
}

static void raw_stop(raw_srv *s)
{
    atomic_store(&s->stop, 1);
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
}

TEST_T(fetch_huge_headers, 30)
{
    mem_begin();
    cs_origin *o = origin();
    raw_srv many, one;
    raw_start(&many, 0);
    raw_start(&one, 1);
    char u1[64], u2[64];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/many-headers", many.port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d/giant-header", one.port);
    char *urls[5] = {u1, u2};
    add_good(o, urls, 2);
    res r[5];
    cs_fetch_opts op = quick_opts();
    op.ignore_robots_txt = true; /* the raw servers answer every path the same */
    mem_mark();
    size_t base = atomic_load(&g_mem_peak);
    double t0 = cs_now();
    run_urls(&op, urls, 5, r, CS_OK);
    expect(&r[0], CS_FETCH_TOO_LARGE, "endless header lines");
    ASSERT_CONTAINS(r[0].msg, "headers over");
    expect(&r[1], CS_FETCH_TOO_LARGE, "a 2 MB header line");
    expect_good(r, 2);
    ASSERT(cs_now() - t0 < 10);
    raw_stop(&many);
    raw_stop(&one);
    cs_origin_stop(o);
    size_t peak = mem_end(base);
    printf("huge headers: server sent %zu + %zu bytes; peak %zu bytes\n",
           atomic_load(&many.sent), atomic_load(&one.sent), peak);
    ASSERT(peak < (4u << 20));
}

TEST_T(fetch_content_type_required, 30)
{
    mem_begin();
    cs_origin *o = origin();
    static char page[3u << 20];
    memset(page, '<', sizeof page);
    cs_origin_route html = {.body = page, .body_len = sizeof page,
                            .content_type = "text/html; charset=utf-8"};
    ASSERT_OK(cs_origin_route_add(o, "/page.jpg", &html));
    cs_origin_route jpg = {.body = "\xff\xd8\xff", .body_len = 3, .content_type = "image/jpeg"};
    ASSERT_OK(cs_origin_route_add(o, "/real.jpg", &jpg));
    cs_origin_route bin = {.body = "\xff\xd8\xff", .body_len = 3};
    ASSERT_OK(cs_origin_route_add(o, "/octet", &bin)); /* application/octet-stream */
    char *urls[3] = {url_of(o, "/page.jpg"), url_of(o, "/real.jpg"), url_of(o, "/octet")};
    res r[3];
    cs_fetch_opts op = quick_opts();
    op.accept_types = "image/*";
    run_urls(&op, urls, 3, r, CS_OK);
    expect(&r[0], CS_FETCH_BAD_TYPE, "text/html for an image");
    ASSERT_CONTAINS(r[0].msg, "text/html");
    ASSERT(r[0].received < 65536); /* refused on the headers, body not read */
    expect(&r[1], CS_FETCH_OK, "image/jpeg");
    expect(&r[2], CS_FETCH_OK, "octet-stream accepted");
    cs_origin_stop(o);
    mem_end(0);
}

/* ---- politeness ------------------------------------------------------------------------- */

TEST_T(fetch_robots_disallow_fetched_once, 30)
{
    mem_begin();
    cs_origin *o = origin();
    ASSERT_OK(cs_origin_route_simple(o, "/robots.txt", 200,
                                     "User-agent: *\nDisallow: /\n\n"
                                     "User-agent: crawlset\nDisallow: /private/\n"
                                     "Allow: /private/ok$\n"));
    ASSERT_OK(cs_origin_route_simple(o, "/pub", 200, "public"));
    ASSERT_OK(cs_origin_route_simple(o, "/private/ok", 200, "fine"));
    enum { N = 60 };
    char *urls[N];
    for (int i = 0; i < N; i++) {
        char p[64];
        if (i % 3 == 0)
            snprintf(p, sizeof p, "/private/x%d", i);
        else if (i % 3 == 1)
            snprintf(p, sizeof p, "/pub?i=%d", i);
        else
            snprintf(p, sizeof p, "/private/ok");
        urls[i] = url_of(o, p);
    }
    res r[N];
    cs_fetch_opts op = quick_opts();
    cs_fetch_stats st = run_urls(&op, urls, N, r, CS_OK);
    for (int i = 0; i < N; i++)
        expect(&r[i], i % 3 == 0 ? CS_FETCH_ROBOTS : CS_FETCH_OK, urls[i]);
    ASSERT_CONTAINS(r[0].msg, "robots.txt");
    ASSERT_EQ(r[0].attempts, 0);
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 1); /* once for 60 URLs */
    ASSERT_UEQ(st.robots_fetches, 1);
    for (int i = 0; i < N; i += 3) {
        char p[64];
        snprintf(p, sizeof p, "/private/x%d", i);
        ASSERT_EQ(cs_origin_count(o, p), 0);
    }
    /* the robots.txt request carries our User-Agent */
    cs_origin_request q;
    ASSERT(cs_origin_log_get(o, 0, &q));
    ASSERT_STR_EQ(q.path, "/robots.txt");
    ASSERT_CONTAINS(q.user_agent, "crawlset");
    /* another product token sees the "*" group; ignore_robots_txt sees none */
    op.robots_agent = "otherbot";
    st = run_urls(&op, urls, 3, r, CS_OK);
    expect(&r[1], CS_FETCH_ROBOTS, "otherbot");
    op.ignore_robots_txt = true;
    st = run_urls(&op, urls, 3, r, CS_OK);
    expect(&r[0], CS_FETCH_HTTP_4XX, "robots ignored: /private/x0 is a 404");
    expect(&r[1], CS_FETCH_OK, "robots ignored");
    ASSERT_UEQ(st.robots_fetches, 0);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_robots_4xx_allows_all, 30)
{
    mem_begin();
    cs_origin *o = origin();
    ASSERT_OK(cs_origin_route_simple(o, "/robots.txt", 403, "forbidden"));
    char *urls[3];
    add_good(o, urls, 0);
    res r[3];
    cs_fetch_opts op = quick_opts();
    run_urls(&op, urls, 3, r, CS_OK);
    expect_good(r, 0);
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 1);
    /* robots.txt behind redirects (followed up to 5) */
    cs_origin *o2 = origin();
    cs_origin_route rd = {.redirect = "/real-robots.txt"};
    ASSERT_OK(cs_origin_route_add(o2, "/robots.txt", &rd));
    ASSERT_OK(cs_origin_route_simple(o2, "/real-robots.txt", 200, "User-agent: *\nDisallow: /good1\n"));
    add_good(o2, urls, 0);
    run_urls(&op, urls, 3, r, CS_OK);
    expect(&r[0], CS_FETCH_OK, "allowed");
    expect(&r[1], CS_FETCH_ROBOTS, "disallowed by the redirected robots.txt");
    ASSERT_EQ(cs_origin_count(o2, "/real-robots.txt"), 1);
    cs_origin_stop(o2);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_robots_5xx_disallows_for_a_while, 30)
{
    mem_begin();
    cs_origin *o = origin();
    ASSERT_OK(cs_origin_route_simple(o, "/robots.txt", 503, "down"));
    enum { N = 10 };
    char *urls[N];
    for (int i = 0; i < N; i++) {
        char p[32];
        snprintf(p, sizeof p, "/page%d", i);
        ASSERT_OK(cs_origin_route_simple(o, p, 200, "page"));
        urls[i] = url_of(o, p);
    }
    res r[N];
    cs_fetch_opts op = quick_opts();
    op.retries = 1;
    op.robots_error_ttl = 1.0;
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, &op));
    batch b = {r, N, 0, f, 0};
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++)
        ASSERT_OK(cs_fetch_add(f, urls[i], 0, (void *)(uintptr_t)i));
    ASSERT_OK(cs_fetch_run(f, NULL, on_result, &b));
    for (int i = 0; i < N; i++)
        expect(&r[i], CS_FETCH_ROBOTS, "robots.txt 503");
    ASSERT_CONTAINS(r[0].msg, "503");
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 2); /* one retry */
    ASSERT_EQ(cs_origin_count(o, "/page0"), 0);
    /* within the error TTL: no new robots.txt request */
    memset(r, 0, sizeof r);
    b.delivered = 0;
    ASSERT_OK(cs_fetch_add(f, urls[0], 0, (void *)(uintptr_t)0));
    ASSERT_OK(cs_fetch_run(f, NULL, on_result, &b));
    expect(&r[0], CS_FETCH_ROBOTS, "still disallowed");
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 2);
    /* after it, robots.txt is asked again (now it is there) */
    usleep(1100000);
    ASSERT_OK(cs_origin_route_simple(o, "/robots.txt", 200, "User-agent: *\nAllow: /\n"));
    memset(r, 0, sizeof r);
    b.delivered = 0;
    for (int i = 0; i < N; i++)
        ASSERT_OK(cs_fetch_add(f, urls[i], 0, (void *)(uintptr_t)i));
    ASSERT_OK(cs_fetch_run(f, NULL, on_result, &b));
    for (int i = 0; i < N; i++)
        expect(&r[i], CS_FETCH_OK, "robots.txt back");
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 3);
    cs_fetch_free(f);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_x_robots_tag_and_tdm_opt_out, 30)
{
    mem_begin();
    cs_origin *o = origin();
    static char big[4u << 20]; /* large bodies: an opt-out must not read them */
    memset(big, 'b', sizeof big);
    static const struct {
        const char *path, *headers;
        bool out;
    } C[] = {
        {"/noai", "X-Robots-Tag: noai\n", true},
        {"/noimageai-list", "X-Robots-Tag: nofollow, noimageai\n", true},
        {"/two-headers", "X-Robots-Tag: nofollow\nX-Robots-Tag: noindex\n", true},
        {"/scoped-to-us", "X-Robots-Tag: crawlset: noimageindex\n", true},
        {"/scoped-other", "X-Robots-Tag: otherbot: noai, noindex\n", false},
        {"/harmless", "X-Robots-Tag: nofollow, noarchive\n", false},
        {"/tdm", "tdm-reservation: 1\n", true},
        {"/tdm-0", "tdm-reservation: 0\n", false},
    };
    enum { N = sizeof C / sizeof *C };
    char *urls[N];
    for (int i = 0; i < N; i++) {
        cs_origin_route rt = {.body = big, .body_len = sizeof big, .headers = C[i].headers,
                              .content_type = "image/png"};
        ASSERT_OK(cs_origin_route_add(o, C[i].path, &rt));
        urls[i] = url_of(o, C[i].path);
    }
    res r[N];
    cs_fetch_opts op = quick_opts();
    op.max_body = 8u << 20;
    g_run_bound = 8 * (6u << 20); /* 4 MiB bodies, each briefly 2 + 4 MiB while growing */
    cs_fetch_stats st = run_urls(&op, urls, N, r, CS_OK);
    for (int i = 0; i < N; i++) {
        expect(&r[i], C[i].out ? CS_FETCH_OPT_OUT : CS_FETCH_OK, C[i].path);
        if (C[i].out) /* aborted on the headers: at most what came with them */
            ASSERT(r[i].received < 65536);
        else
            ASSERT_EQ(r[i].body_len, sizeof big);
    }
    ASSERT_CONTAINS(r[0].msg, "X-Robots-Tag: noai");
    ASSERT_CONTAINS(r[6].msg, "tdm-reservation");
    printf("opt-out: %" PRIu64 " body bytes received for %d large bodies\n", st.bytes_received,
           N);
    /* each politeness switch turns its own check off */
    op.ignore_x_robots_tag = true;
    run_urls(&op, urls, N, r, CS_OK);
    for (int i = 0; i < N; i++)
        expect(&r[i], i == 6 ? CS_FETCH_OPT_OUT : CS_FETCH_OK, C[i].path);
    op.ignore_x_robots_tag = false;
    op.ignore_tdm_reservation = true;
    run_urls(&op, urls, N, r, CS_OK);
    expect(&r[6], CS_FETCH_OK, "tdm ignored");
    expect(&r[0], CS_FETCH_OPT_OUT, "noai still");
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_per_host_limit, 30)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route slow = {.body = "s", .body_len = 1, .delay_ms = 200};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &slow));
    enum { N = 30 };
    char *urls[N];
    for (int i = 0; i < N; i++) {
        char p[32];
        snprintf(p, sizeof p, "/slow?i=%d", i);
        urls[i] = url_of(o, p);
    }
    res r[N];
    cs_fetch_opts op = quick_opts();
    op.per_host = 3;
    op.ignore_robots_txt = true;
    double t0 = cs_now();
    cs_fetch_stats st = run_urls(&op, urls, N, r, CS_OK);
    double took = cs_now() - t0;
    for (int i = 0; i < N; i++)
        expect(&r[i], CS_FETCH_OK, "slow");
    printf("per-host 3: origin peak %d, fetcher peak %d, %.2f s\n", cs_origin_peak(o),
           st.peak_in_flight, took);
    ASSERT(cs_origin_peak(o) <= 3);
    ASSERT(cs_origin_peak(o) >= 2);
    ASSERT(st.peak_in_flight <= 3);
    ASSERT(took >= 1.9); /* 30 x 0.2 s / 3 */
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_host_delay, 30)
{
    mem_begin();
    cs_origin *o = origin();
    ASSERT_OK(cs_origin_route_simple(o, "/d", 200, "d"));
    enum { N = 8 };
    char *urls[N];
    for (int i = 0; i < N; i++) {
        char p[32];
        snprintf(p, sizeof p, "/d?i=%d", i);
        urls[i] = url_of(o, p);
    }
    res r[N];
    cs_fetch_opts op = quick_opts();
    op.host_delay = 0.25;
    run_urls(&op, urls, N, r, CS_OK);
    for (int i = 0; i < N; i++)
        expect(&r[i], CS_FETCH_OK, "delayed");
    /* every request to the host, robots.txt included, 0.25 s apart */
    size_t n = cs_origin_total(o);
    ASSERT_EQ(n, N + 1);
    cs_origin_request prev, q;
    ASSERT(cs_origin_log_get(o, 0, &prev));
    double min_gap = 1e9;
    for (size_t i = 1; i < n; i++) {
        ASSERT(cs_origin_log_get(o, i, &q));
        if (q.time - prev.time < min_gap)
            min_gap = q.time - prev.time;
        prev = q;
    }
    printf("host delay 0.25 s: smallest gap at the origin %.3f s\n", min_gap);
    ASSERT(min_gap >= 0.2);
    /* robots.txt's crawl-delay raises the delay for its host (capped) */
    cs_origin *o2 = origin();
    ASSERT_OK(cs_origin_route_simple(o2, "/robots.txt", 200, "User-agent: *\nCrawl-delay: 0.4\n"));
    ASSERT_OK(cs_origin_route_simple(o2, "/d", 200, "d"));
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "/d?i=%d", i);
        urls[i] = url_of(o2, p);
    }
    op.host_delay = 0;
    op.crawl_delay_max = 0.3;
    run_urls(&op, urls, 4, r, CS_OK);
    double t[4];
    ASSERT_EQ(arrivals(o2, "/d", t, 4), 4);
    for (int i = 1; i < 4; i++)
        ASSERT(t[i] - t[i - 1] >= 0.25);
    ASSERT(t[3] - t[0] < 1.15); /* 0.4 s capped at 0.3 s (uncapped: >= 1.2 s) */
    op.ignore_crawl_delay = true;
    double t0 = cs_now();
    run_urls(&op, urls, 4, r, CS_OK);
    ASSERT(cs_now() - t0 < 0.6); /* honoured, it would take >= 0.9 s */
    cs_origin_stop(o2);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_global_rate_limit, 30)
{
    mem_begin();
    cs_origin *o = origin();
    ASSERT_OK(cs_origin_route_simple(o, "/r", 200, "r"));
    /* three host names for one origin: the rate is global, not per host */
    char e1[64];
    snprintf(e1, sizeof e1, "h1.test:%u:127.0.0.1", (unsigned)cs_origin_port(o));
    const char *resolve[] = {e1, NULL};
    enum { N = 30 };
    char *urls[N];
    const char *hosts[] = {"127.0.0.1", "localhost", "h1.test"};
    for (int i = 0; i < N; i++) {
        char *u = cs_test_keep(malloc(96));
        snprintf(u, 96, "http://%s:%u/r?i=%d", hosts[i % 3], (unsigned)cs_origin_port(o), i);
        urls[i] = u;
    }
    res r[N];
    cs_fetch_opts op = quick_opts();
    op.rate = 20;
    op.rate_burst = 1;
    op.ignore_robots_txt = true;
    op.resolve = resolve;
    double t0 = cs_now();
    cs_fetch_stats st = run_urls(&op, urls, N, r, CS_OK);
    double took = cs_now() - t0;
    for (int i = 0; i < N; i++)
        expect(&r[i], CS_FETCH_OK, urls[i]);
    ASSERT_UEQ(st.hosts, 3);
    double t[N];
    ASSERT_EQ(arrivals(o, "/r", t, N), N);
    /* at most 20 + burst in any one-second window; 30 take >= 29/20 s */
    for (int i = 0; i + 21 < N; i++)
        if (t[i + 21] - t[i] < 0.95) {
            for (int k = 0; k < N; k++)
                printf("%d %.3f\n", k, t[k] - t[0]);
            fflush(stdout);
            FAIL("22 requests within %.3f s", t[i + 21] - t[i]);
        }
    printf("rate 20/s: 30 requests over %.2f s at the origin (%.2f s run)\n", t[N - 1] - t[0],
           took);
    ASSERT(t[N - 1] - t[0] >= 1.35);
    ASSERT(took < 5);
    cs_origin_stop(o);
    mem_end(0);
}

/* ---- scale, input, cancel ------------------------------------------------------------------------ */

/* Pull-mode input; the batch comes first so on_result can take the same ud. */
typedef struct puller {
    batch b;
    cs_origin *o;
    int n, next;
    char buf[128];
} puller;

static cs_status pull_next(void *ud, cs_fetch_request *req)
{
    puller *p = ud;
    if (p->next == p->n)
        return CS_DONE;
    snprintf(p->buf, sizeof p->buf, "%s/slow?i=%d", cs_origin_url(p->o), p->next);
    req->url = p->buf;
    req->user = (void *)(uintptr_t)p->next;
    p->next++;
    return CS_OK;
}

TEST_T(fetch_500_urls_200_in_flight, 40)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route slow = {.body = "0123456789", .body_len = 10, .delay_ms = 100};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &slow));
    enum { N = 500 };
    res *r = cs_test_keep(calloc(N, sizeof *r));
    cs_fetch_opts op = quick_opts();
    op.parallel = 200;
    op.per_host = 0;
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, &op));
    puller p = {{r, N, 0, f, 0}, o, N, 0, ""};
    double t0 = cs_now();
    ASSERT_OK(cs_fetch_run(f, pull_next, on_result, &p));
    double took = cs_now() - t0;
    cs_fetch_stats st;
    cs_fetch_stats_get(f, &st);
    cs_fetch_free(f);
    for (int i = 0; i < N; i++)
        expect(&r[i], CS_FETCH_OK, "slow");
    printf("500 URLs at 200 in flight: %.2f s, fetcher peak %d, origin peak %d, "
           "requests %" PRIu64 "\n",
           took, st.peak_in_flight, cs_origin_peak(o), st.requests);
    ASSERT_UEQ(st.by_reason[CS_FETCH_OK], N);
    ASSERT_EQ(st.peak_in_flight, 200);
    ASSERT(cs_origin_peak(o) >= 100);
    ASSERT_UEQ(st.requests, N + 1); /* and one robots.txt */
    ASSERT(took < 15);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_pull_is_bounded_by_max_queued, 30)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route slow = {.body = "x", .body_len = 1, .delay_ms = 20};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &slow));
    enum { N = 400 };
    res *r = cs_test_keep(calloc(N, sizeof *r));
    cs_fetch_opts op = quick_opts();
    op.parallel = 10;
    op.max_queued = 10;
    op.per_host = 0;
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, &op));
    puller p = {{r, N, 0, f, 0}, o, N, 0, ""};
    ASSERT_OK(cs_fetch_run(f, pull_next, on_result, &p));
    cs_fetch_stats st;
    cs_fetch_stats_get(f, &st);
    cs_fetch_free(f);
    ASSERT_UEQ(p.b.delivered, N);
    ASSERT(st.peak_queued <= 10);
    ASSERT_UEQ(st.by_reason[CS_FETCH_OK], N);
    cs_origin_stop(o);
    mem_end(0);
}

TEST_T(fetch_cancel_delivers_everything, 30)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route slow = {.body = "x", .body_len = 1, .delay_ms = 20000};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &slow));
    enum { N = 40 };
    char *urls[N];
    for (int i = 0; i < N; i++) {
        char p[32];
        snprintf(p, sizeof p, i < 2 ? "/good%d" : "/slow?i=%d", i);
        urls[i] = url_of(o, p);
    }
    ASSERT_OK(cs_origin_route_simple(o, "/good0", 200, "g"));
    ASSERT_OK(cs_origin_route_simple(o, "/good1", 200, "g"));
    res r[N];
    memset(r, 0, sizeof r);
    cs_fetch_opts op = quick_opts();
    op.timeout = 60;
    op.low_speed_limit = 0;
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, &op));
    batch b = {r, N, 0, f, 2}; /* cancel once the two quick ones are in */
    for (int i = 0; i < N; i++)
        ASSERT_OK(cs_fetch_add(f, urls[i], 0, (void *)(uintptr_t)i));
    double t0 = cs_now();
    ASSERT_ST(cs_fetch_run(f, NULL, on_result, &b), CS_ECANCELED);
    ASSERT(cs_now() - t0 < 5);
    ASSERT_UEQ(b.delivered, N);
    expect(&r[0], CS_FETCH_OK, "before the cancel");
    expect(&r[1], CS_FETCH_OK, "before the cancel");
    for (int i = 2; i < N; i++)
        expect(&r[i], CS_FETCH_CANCELED, "slow");
    cs_fetch_stats st;
    cs_fetch_stats_get(f, &st);
    ASSERT_EQ(st.in_flight, 0);
    /* the fetcher is usable again after a cancel */
    memset(r, 0, sizeof r);
    b.delivered = 0;
    b.cancel_after = 0;
    ASSERT_OK(cs_fetch_add(f, urls[0], 0, (void *)(uintptr_t)0));
    b.n = 1;
    ASSERT_OK(cs_fetch_run(f, NULL, on_result, &b));
    expect(&r[0], CS_FETCH_OK, "after");
    cs_fetch_free(f);
    cs_origin_stop(o);
    mem_end(0);
}

/* The done callback takes bodies and pushes follow-up URLs (a forum crawl). */
typedef struct chain {
    cs_fetch *f;
    cs_origin *o;
    int done;
    uint8_t *kept[8];
    size_t kept_len[8];
} chain;

static cs_status on_chain(void *ud, cs_fetch_result *res_)
{
    chain *c = ud;
    ASSERT_EQ(res_->reason, CS_FETCH_OK);
    int depth = (int)(uintptr_t)res_->user;
    size_t len;
    c->kept[depth] = cs_fetch_result_take_body(res_, &len);
    c->kept_len[depth] = len;
    ASSERT(res_->body == NULL);
    c->done++;
    if (depth < 7) {
        char u[128];
        snprintf(u, sizeof u, "%s/n%d", cs_origin_url(c->o), depth + 1);
        ASSERT_OK(cs_fetch_add(c->f, u, 0, (void *)(uintptr_t)(depth + 1)));
    }
    return CS_OK;
}

TEST_T(fetch_callback_pushes_and_takes_bodies, 30)
{
    mem_begin();
    cs_origin *o = origin();
    for (int i = 0; i < 8; i++) {
        char p[16], body[32];
        snprintf(p, sizeof p, "/n%d", i);
        snprintf(body, sizeof body, "node %d", i);
        ASSERT_OK(cs_origin_route_simple(o, p, 200, body));
    }
    cs_fetch_opts op = quick_opts();
    chain c = {0};
    c.o = o;
    ASSERT_OK(cs_fetch_new(&c.f, &op));
    char u[128];
    snprintf(u, sizeof u, "%s/n0", cs_origin_url(o));
    ASSERT_OK(cs_fetch_add(c.f, u, 0, (void *)(uintptr_t)0));
    ASSERT_OK(cs_fetch_run(c.f, NULL, on_chain, &c));
    ASSERT_EQ(c.done, 8);
    cs_fetch_stats st;
    cs_fetch_stats_get(c.f, &st);
    ASSERT_UEQ(st.body_mem, 0);
    cs_fetch_free(c.f);
    for (int i = 0; i < 8; i++) {
        char want[32];
        snprintf(want, sizeof want, "node %d", i);
        ASSERT_MEM_EQ(c.kept[i], c.kept_len[i], want, strlen(want));
        ASSERT_EQ(c.kept[i][c.kept_len[i]], 0);
        cs_free(c.kept[i]);
    }
    cs_origin_stop(o);
    mem_end(0);
}

typedef struct stopper {
    int n, ok, canceled;
    char last_msg[128];
} stopper;

static cs_status stop_after_two(void *ud, cs_fetch_result *r)
{
    stopper *s = ud;
    s->ok += r->reason == CS_FETCH_OK;
    if (r->reason == CS_FETCH_CANCELED) {
        s->canceled++;
        snprintf(s->last_msg, sizeof s->last_msg, "%s", r->message);
    }
    return ++s->n == 2 ? CS_EIO : CS_OK;
}

TEST_T(fetch_callback_error_stops_the_run, 30)
{
    mem_begin();
    cs_origin *o = origin();
    cs_origin_route slow = {.body = "x", .body_len = 1, .delay_ms = 3000};
    ASSERT_OK(cs_origin_route_add(o, "/slow", &slow));
    ASSERT_OK(cs_origin_route_simple(o, "/quick", 200, "q"));
    cs_fetch_opts op = quick_opts();
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, &op));
    char u[128];
    for (int i = 0; i < 20; i++) {
        snprintf(u, sizeof u, "%s/%s?i=%d", cs_origin_url(o), i < 2 ? "quick" : "slow", i);
        ASSERT_OK(cs_fetch_add(f, u, 0, NULL));
    }
    stopper sp = {0};
    double t0 = cs_now();
    ASSERT_ST(cs_fetch_run(f, NULL, stop_after_two, &sp), CS_EIO);
    ASSERT(cs_now() - t0 < 2.5); /* did not wait for the slow ones */
    /* every URL still came back once: the rest as canceled */
    ASSERT_EQ(sp.n, 20);
    ASSERT_EQ(sp.ok, 2);
    ASSERT_EQ(sp.canceled, 18);
    ASSERT_CONTAINS(sp.last_msg, "EIO");
    cs_fetch_stats st;
    cs_fetch_stats_get(f, &st);
    ASSERT_EQ(st.in_flight, 0);
    ASSERT_UEQ(st.queued, 0);
    cs_fetch_free(f);
    cs_origin_stop(o);
    mem_end(0);
}

/* ---- HTTP/2 and TLS against nginx ------------------------------------------------------------ */

static bool find_exe(const char *name, char *out, size_t cap)
{
    const char *env = getenv("PATH");
    char list[4096];
    snprintf(list, sizeof list, "%s:/usr/sbin:/sbin:/usr/local/sbin", env ? env : "");
    char *save = NULL;
    for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

static bool can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void put_file(const char *dir, const char *name, const char *body, size_t n)
{
    char p[1400];
    ASSERT((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) < sizeof p);
    cs_test_write_file(p, body, n);
}

/* nginx over TLS with HTTP/2 on 127.0.0.1, a self-signed certificate made
 * with the openssl command; pid 0 when either program is missing. */
typedef struct tls_server {
    pid_t pid;
    int port;
    char dir[512];
} tls_server;

static void tls_start(tls_server *t)
{
    char nginx[512], openssl[512];
    t->pid = 0;
    if (!find_exe("nginx", nginx, sizeof nginx) || !find_exe("openssl", openssl, sizeof openssl))
        return;
    snprintf(t->dir, sizeof t->dir, "%s/tls", cs_test_tmpdir());
    char www[600], cmd[4096];
    snprintf(www, sizeof www, "%s/www", t->dir);
    ASSERT(mkdir(t->dir, 0755) == 0 && mkdir(www, 0755) == 0);
    snprintf(cmd, sizeof cmd,
             "'%s' req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
             "-keyout '%s/key.pem' -out '%s/cert.pem' >/dev/null 2>&1",
             openssl, t->dir, t->dir);
    ASSERT_EQ(system(cmd), 0);
    t->port = closed_port();
    char conf[8192];
    int cl = snprintf(conf, sizeof conf,
             "master_process off;\n"
             "worker_processes 1;\n"
             "events { worker_connections 256; }\n"
             "http {\n"
             "  access_log off;\n"
             "  client_body_temp_path %s/body;\n"
             "  proxy_temp_path %s/proxy;\n"
             "  fastcgi_temp_path %s/fastcgi;\n"
             "  uwsgi_temp_path %s/uwsgi;\n"
             "  scgi_temp_path %s/scgi;\n"
             "  types { image/jpeg jpg; text/plain txt; }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl http2;\n"
             "    ssl_certificate %s/cert.pem;\n"
             "    ssl_certificate_key %s/key.pem;\n"
             "    root %s;\n"
             "    gzip on; gzip_types text/plain; gzip_min_length 10;\n"
             "    location = /status { stub_status; }\n"
             "    location /optout/ { add_header X-Robots-Tag \"crawlset: noimageai\"; }\n"
             "  }\n"
             "}\n",
             t->dir, t->dir, t->dir, t->dir, t->dir, t->port, t->dir, t->dir, www);
    ASSERT(cl > 0 && (size_t)cl < sizeof conf);
    char cp[600], gopts[1600], elog[600];
    snprintf(cp, sizeof cp, "%s/nginx.conf", t->dir);
    snprintf(elog, sizeof elog, "%s/err.log", t->dir);
    snprintf(gopts, sizeof gopts, "daemon off; pid %s/nginx.pid; error_log %s/err.log;", t->dir,
             t->dir);
    cs_test_write_file(cp, conf, strlen(conf));
    t->pid = fork();
    ASSERT(t->pid >= 0);
    if (t->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(nginx, "nginx", "-p", t->dir, "-c", cp, "-e", elog, "-g", gopts, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        if (can_connect(t->port))
            return;
        int st;
        if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
            char *log = cs_test_read_file(elog, NULL);
            FAIL("nginx exited at start: %s", log);
        }
        usleep(25000);
    }
    FAIL("nginx did not listen on %d", t->port);
}

static void tls_stop(tls_server *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        int st;
        waitpid(t->pid, &st, 0);
    }
}

static cs_status keep_body(void *ud, cs_fetch_result *r)
{
    char *out = ud;
    ASSERT_EQ(r->reason, CS_FETCH_OK);
    snprintf(out, 512, "%.*s", (int)r->body_len, (const char *)r->body);
    return CS_OK;
}

TEST_T(fetch_http2_over_tls_nginx, 60)
{
    tls_server t;
    tls_start(&t);
    if (!t.pid) {
        printf("SKIP: nginx or openssl missing (scripts/bootstrap installs them)\n");
        return;
    }
    char www[600];
    snprintf(www, sizeof www, "%s/www", t.dir);
    static char img[30000];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (char)(i * 7);
    enum { N = 40 };
    char *urls[N + 4];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "img%d.jpg", i);
        put_file(www, name, img, sizeof img);
        char *u = cs_test_keep(malloc(96));
        snprintf(u, 96, "https://localhost:%d/%s", t.port, name);
        urls[i] = u;
    }
    put_file(www, "robots.txt", "User-agent: *\nDisallow: /private/\n", 34);
    char od[700];
    snprintf(od, sizeof od, "%s/optout", www);
    ASSERT_EQ(mkdir(od, 0755), 0);
    put_file(od, "a.jpg", img, sizeof img);
    static const char text[] = "plain text, compressed by nginx on the way, plain text\n";
    put_file(www, "t.txt", text, sizeof text - 1);
    const char *extra[] = {"/optout/a.jpg", "/private/b.jpg", "/t.txt", "/missing.jpg"};
    for (int i = 0; i < 4; i++) {
        char *u = cs_test_keep(malloc(96));
        snprintf(u, 96, "https://localhost:%d%s", t.port, extra[i]);
        urls[N + i] = u;
    }
    /* the certificate is self-signed: refused unless verification is off */
    mem_begin();
    res r[N + 4];
    cs_fetch_opts op = quick_opts();
    run_urls(&op, urls, 2, r, CS_OK);
    expect(&r[0], CS_FETCH_TLS, "self-signed certificate");
    expect(&r[1], CS_FETCH_TLS, "self-signed certificate");
    op.verify_tls = false;
    cs_fetch_stats st = run_urls(&op, urls, N + 4, r, CS_OK);
    for (int i = 0; i < N; i++) {
        expect(&r[i], CS_FETCH_OK, urls[i]);
        ASSERT_EQ(r[i].body_len, sizeof img);
        ASSERT_EQ(r[i].http_version, 20);
    }
    expect(&r[N], CS_FETCH_OPT_OUT, "X-Robots-Tag over HTTP/2");
    expect(&r[N + 1], CS_FETCH_ROBOTS, "robots.txt over HTTPS");
    expect(&r[N + 2], CS_FETCH_OK, "gzip from nginx");
    ASSERT_EQ(r[N + 2].body_len, sizeof text - 1);
    expect(&r[N + 3], CS_FETCH_HTTP_4XX, "404");
    ASSERT_UEQ(st.robots_fetches, 1);
    mem_end(0);
    /* multiplexed: one TLS connection carried the parallel requests (PIPEWAIT);
     * without it, 16 per host would have been opened */
    char su[96];
    snprintf(su, sizeof su, "https://localhost:%d/status", t.port);
    mem_begin();
    cs_fetch *f;
    ASSERT_OK(cs_fetch_new(&f, &op));
    ASSERT_OK(cs_fetch_add(f, su, 0, NULL));
    static char status[512];
    ASSERT_OK(cs_fetch_run(f, NULL, keep_body, status));
    cs_fetch_free(f);
    mem_end(0);
    unsigned long accepts = 0, handled = 0, requests = 0;
    const char *nums = strstr(status, "requests");
    ASSERT(nums && sscanf(nums + 8, " %lu %lu %lu", &accepts, &handled, &requests) == 3);
    printf("nginx stub_status: %s", status);
    fflush(stdout);
    ASSERT(requests >= N + 5);
    ASSERT(accepts <= 5); /* 2 refused handshakes, 1 for the batch, 1 for this */
    tls_stop(&t);
}
