/* test_http.c - HTTP message parsing (lenient and strict), the de-chunker,
 * body decoding (chunked, gzip, deflate, br, stacked, bombs) and real
 * request/response blocks from the shared WARC corpus. */
#include <brotli/encode.h>
#include <zlib.h>

#include "test.h"

/* ---- helpers ---------------------------------------------------------------- */

static cs_arena g_arena;
static char g_err[CS_ERRMSG_MAX];

static cs_status parse(const char *s, size_t n, unsigned flags, cs_http_msg *m)
{
    if (!g_arena.max)
        cs_arena_init(&g_arena, 0);
    cs_arena_reset(&g_arena);
    return cs_http_parse(s, n, &g_arena, flags, m, g_err, sizeof g_err);
}

static cs_status parse_str(const char *s, unsigned flags, cs_http_msg *m)
{
    return parse(s, strlen(s), flags, m);
}

/* Compresses with zlib: wbits 15+16 gzip, 15 zlib, -15 raw deflate. */
static void zcompress(const void *p, size_t n, int wbits, cs_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uLong bound = deflateBound(&z, (uLong)n);
    ASSERT_OK(cs_buf_reserve(out, bound));
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len += bound - z.avail_out;
    deflateEnd(&z);
}

static void brcompress(const void *p, size_t n, cs_buf *out)
{
    size_t cap = BrotliEncoderMaxCompressedSize(n);
    ASSERT(cap > 0);
    ASSERT_OK(cs_buf_reserve(out, cap));
    size_t got = cap;
    ASSERT(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n,
                                 (const uint8_t *)p, &got, (uint8_t *)out->data + out->len));
    out->len += got;
}

/* A response with the given extra header lines (CRLF-terminated) and body. */
static void make_msg(cs_buf *msg, const char *headers, const void *body, size_t n)
{
    cs_buf_init(msg, 0);
    ASSERT_OK(cs_buf_puts(msg, "HTTP/1.1 200 OK\r\n"));
    ASSERT_OK(cs_buf_puts(msg, headers));
    ASSERT_OK(cs_buf_puts(msg, "\r\n"));
    ASSERT_OK(cs_buf_append(msg, body, n));
}

static cs_status decode(const cs_buf *msg, unsigned flags, size_t max, cs_buf *out)
{
    cs_http_msg m;
    ASSERT_OK(parse(msg->data, msg->len, 0, &m));
    return cs_http_decode_body(&m, flags, max, out, g_err, sizeof g_err);
}

static const char *LOREM =
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.";

/* ---- parsing ---------------------------------------------------------------- */

TEST(http_parse_response)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
                    "X-A:   spaced value  \r\n\r\nhello";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, CS_HTTP_STRICT, &m));
    ASSERT(m.is_response);
    ASSERT_EQ(m.status, 200);
    ASSERT_STR_EQ(m.version, "HTTP/1.1");
    ASSERT_STR_EQ(m.reason, "OK");
    ASSERT_STR_EQ(m.method, "");
    ASSERT_STR_EQ(m.target, "");
    ASSERT_EQ(m.nheaders, 3);
    ASSERT_STR_EQ(m.headers[0].name, "Content-Type");
    ASSERT_STR_EQ(m.headers[0].value, "text/html");
    ASSERT_EQ(m.headers[0].value_len, 9);
    ASSERT_STR_EQ(m.headers[2].value, "spaced value");
    ASSERT_EQ(m.header_len, strlen(s) - 5);
    ASSERT_MEM_EQ(m.body.ptr, m.body.len, "hello", 5);
    ASSERT_EQ(m.quirks, 0);
    ASSERT_EQ(m.skipped, 0);
    ASSERT_STR_EQ(g_err, "");
    ASSERT_STR_EQ(cs_http_get(&m, "content-length"), "5");
    ASSERT_STR_EQ(cs_http_get(&m, "X-A"), "spaced value");
    ASSERT(cs_http_get(&m, "Content") == NULL);
    ASSERT(cs_http_get(&m, "Location") == NULL);
}

TEST(http_parse_request)
{
    const char *s = "POST /form?q=1 HTTP/1.0\r\nHost: example.com\r\n\r\na=b";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, CS_HTTP_STRICT, &m));
    ASSERT(!m.is_response);
    ASSERT_EQ(m.status, 0);
    ASSERT_STR_EQ(m.method, "POST");
    ASSERT_STR_EQ(m.target, "/form?q=1");
    ASSERT_STR_EQ(m.version, "HTTP/1.0");
    ASSERT_STR_EQ(m.reason, "");
    ASSERT_STR_EQ(cs_http_get(&m, "HOST"), "example.com");
    ASSERT_MEM_EQ(m.body.ptr, m.body.len, "a=b", 3);

    /* absolute-form and asterisk-form targets */
    ASSERT_OK(parse_str("GET http://example.com/x HTTP/1.1\r\n\r\n", CS_HTTP_STRICT, &m));
    ASSERT_STR_EQ(m.target, "http://example.com/x");
    ASSERT_OK(parse_str("OPTIONS * HTTP/1.1\r\n\r\n", CS_HTTP_STRICT, &m));
    ASSERT_STR_EQ(m.target, "*");
    ASSERT_EQ(m.body.len, 0);
}

TEST(http_parse_lf_only_lines)
{
    const char *s = "HTTP/1.1 404 Not Found\nServer: x\nContent-Length: 3\n\nabc";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, 0, &m));
    ASSERT_EQ(m.status, 404);
    ASSERT_STR_EQ(m.reason, "Not Found");
    ASSERT_EQ(m.nheaders, 2);
    ASSERT_STR_EQ(cs_http_get(&m, "server"), "x");
    ASSERT(m.quirks & CS_HTTP_QUIRK_BARE_LF);
    ASSERT_MEM_EQ(m.body.ptr, m.body.len, "abc", 3);
    ASSERT_ST(parse_str(s, CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "offset 22");
    ASSERT_CONTAINS(g_err, "CRLF");

    /* a mix of CRLF and LF, ending in a bare LF blank line */
    ASSERT_OK(parse_str("HTTP/1.0 200 OK\r\nA: 1\n\r\nbody", 0, &m));
    ASSERT_STR_EQ(cs_http_get(&m, "a"), "1");
    ASSERT_MEM_EQ(m.body.ptr, m.body.len, "body", 4);
}

TEST(http_parse_cr_cr_lf_lines)
{
    /* files run through a LF -> CRLF conversion (pywb's missing-status-text) */
    const char *s = "HTTP/1.0 302 \r\r\nLocation: /x\r\r\n\r\r\nzz";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, 0, &m));
    ASSERT_EQ(m.status, 302);
    ASSERT_STR_EQ(m.reason, "");
    ASSERT_STR_EQ(cs_http_get(&m, "location"), "/x");
    ASSERT(m.quirks & CS_HTTP_QUIRK_EXTRA_CR);
    ASSERT_MEM_EQ(m.body.ptr, m.body.len, "zz", 2);
    ASSERT_ST(parse_str(s, CS_HTTP_STRICT, &m), CS_EFORMAT);
    /* a stray CR inside a line */
    ASSERT_ST(parse_str("HTTP/1.0 200 OK\r\nA: x\ry\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "stray CR");
    ASSERT_OK(parse_str("HTTP/1.0 200 OK\r\nA: x\ry\r\n\r\n", 0, &m));
}

TEST(http_parse_reason_phrase_variants)
{
    cs_http_msg m;
    /* empty reason after the space: valid even in strict mode */
    ASSERT_OK(parse_str("HTTP/1.1 200 \r\n\r\n", CS_HTTP_STRICT, &m));
    ASSERT_STR_EQ(m.reason, "");
    ASSERT_EQ(m.quirks, 0);
    /* no space at all: lenient only */
    ASSERT_OK(parse_str("HTTP/1.1 204\r\n\r\n", 0, &m));
    ASSERT_EQ(m.status, 204);
    ASSERT_STR_EQ(m.reason, "");
    ASSERT(m.quirks & CS_HTTP_QUIRK_NO_REASON);
    ASSERT_ST(parse_str("HTTP/1.1 204\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "offset 12");
    /* reason with spaces, tabs kept inside */
    ASSERT_OK(parse_str("HTTP/1.1 500 Internal Server\tError\r\n\r\n", CS_HTTP_STRICT, &m));
    ASSERT_STR_EQ(m.reason, "Internal Server\tError");
    /* HTTP/2 captures written as "HTTP/2 200" (lenient), odd spacing */
    ASSERT_OK(parse_str("HTTP/2 301  Moved  \r\n\r\n", 0, &m));
    ASSERT_STR_EQ(m.version, "HTTP/2");
    ASSERT_EQ(m.status, 301);
    ASSERT_STR_EQ(m.reason, "Moved");
    ASSERT(m.quirks & CS_HTTP_QUIRK_START_LINE);
    ASSERT_ST(parse_str("HTTP/2 301 Moved\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "version");
    /* other protocols' status lines (pywb's example-extra has "HTTPX/1.1") */
    ASSERT_OK(parse_str("HTTPX/1.1 200 OK\r\n\r\n", 0, &m));
    ASSERT(m.is_response);
    ASSERT_STR_EQ(m.version, "HTTPX/1.1");
    ASSERT_OK(parse_str("ICY 200 OK\r\nicy-name: radio\r\n\r\n", 0, &m));
    ASSERT(m.is_response);
    ASSERT_EQ(m.status, 200);
    ASSERT_ST(parse_str("HTTPX/1.1 200 OK\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("FOO/1 2000\r\n\r\n", 0, &m), CS_EFORMAT);
    /* broken status codes */
    ASSERT_ST(parse_str("HTTP/1.1 20 OK\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "status code");
    ASSERT_ST(parse_str("HTTP/1.1 2000 OK\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("HTTP/1.1 200OK\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("HTTP/1.1\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("HTTP/1.1 abc\r\n\r\n", 0, &m), CS_EFORMAT);
}

TEST(http_parse_request_line_variants)
{
    cs_http_msg m;
    /* raw space in the target: lenient keeps it in the target */
    ASSERT_OK(parse_str("GET /a b.html HTTP/1.1\r\n\r\n", 0, &m));
    ASSERT_STR_EQ(m.target, "/a b.html");
    ASSERT_STR_EQ(m.version, "HTTP/1.1");
    ASSERT(m.quirks & CS_HTTP_QUIRK_START_LINE);
    ASSERT_ST(parse_str("GET /a b.html HTTP/1.1\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    /* no version (HTTP/0.9 style) */
    ASSERT_OK(parse_str("GET /\r\n\r\n", 0, &m));
    ASSERT_STR_EQ(m.method, "GET");
    ASSERT_STR_EQ(m.target, "/");
    ASSERT_STR_EQ(m.version, "");
    ASSERT_ST(parse_str("GET /\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    /* not HTTP at all */
    ASSERT_ST(parse_str("<html><body>hi</body></html>\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "offset 0");
    ASSERT_ST(parse_str("GET\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("\x01\x02\x03 / HTTP/1.1\r\n\r\n", 0, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("", 0, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("", CS_HTTP_REQUIRE_END, &m), CS_ETRUNC);
    ASSERT_ST(parse_str("\r\n\r\n", 0, &m), CS_EFORMAT);
}

TEST(http_parse_leading_empty_lines)
{
    cs_http_msg m;
    ASSERT_OK(parse_str("\r\n\nHTTP/1.1 200 OK\r\nA: b\r\n\r\nx", 0, &m));
    ASSERT_EQ(m.status, 200);
    ASSERT(m.quirks & CS_HTTP_QUIRK_LEADING_EOL);
    ASSERT_MEM_EQ(m.body.ptr, m.body.len, "x", 1);
    ASSERT_ST(parse_str("\r\nHTTP/1.1 200 OK\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
}

TEST(http_parse_obs_fold)
{
    const char *s = "HTTP/1.1 200 OK\r\nX-Long: first\r\n  second \r\n\tthird\r\nY: y\r\n\r\n";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, 0, &m));
    ASSERT_EQ(m.nheaders, 2);
    ASSERT_STR_EQ(cs_http_get(&m, "x-long"), "first second third");
    ASSERT_EQ(m.headers[0].value_len, strlen("first second third"));
    ASSERT_STR_EQ(cs_http_get(&m, "y"), "y");
    ASSERT(m.quirks & CS_HTTP_QUIRK_OBS_FOLD);
    ASSERT_ST(parse_str(s, CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "folding");
    ASSERT_CONTAINS(g_err, "offset 32");
    /* LF-only folding */
    ASSERT_OK(parse_str("HTTP/1.1 200 OK\nA: 1\n 2\n\n", 0, &m));
    ASSERT_STR_EQ(cs_http_get(&m, "a"), "1 2");
    /* a continuation line with no field before it is skipped */
    ASSERT_OK(parse_str("HTTP/1.1 200 OK\r\n orphan\r\nA: 1\r\n\r\n", 0, &m));
    ASSERT_EQ(m.skipped, 1);
    ASSERT_EQ(m.nheaders, 1);
}

TEST(http_parse_junk_header_lines)
{
    const char *s = "HTTP/1.1 200 OK\r\nGood: 1\r\nthis line has no colon\r\n: no name\r\n"
                    "Spaced : 2\r\nEmpty:\r\n\r\n";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, 0, &m));
    ASSERT_EQ(m.skipped, 2);
    ASSERT_EQ(m.nheaders, 3);
    ASSERT(m.quirks & CS_HTTP_QUIRK_BAD_LINE);
    ASSERT(m.quirks & CS_HTTP_QUIRK_NAME_SPACE);
    ASSERT_STR_EQ(m.headers[1].name, "Spaced");
    ASSERT_STR_EQ(m.headers[1].value, "2");
    ASSERT_STR_EQ(cs_http_get(&m, "empty"), "");
    ASSERT_ST(parse_str(s, CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "offset 26");
    ASSERT_CONTAINS(g_err, "colon");
    /* names with control characters or NULs are junk too */
    const char nul[] = "HTTP/1.1 200 OK\r\nA\0b: 1\r\nC\x01: 2\r\nD: 3\r\n\r\n";
    ASSERT_OK(parse(nul, sizeof nul - 1, 0, &m));
    ASSERT_EQ(m.nheaders, 1);
    ASSERT_EQ(m.skipped, 2);
    ASSERT_ST(parse(nul, sizeof nul - 1, CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_ST(parse_str("HTTP/1.1 200 OK\r\nSpaced : 2\r\n\r\n", CS_HTTP_STRICT, &m),
              CS_EFORMAT);
    ASSERT_ST(parse_str("HTTP/1.1 200 OK\r\nA: x\x01y\r\n\r\n", CS_HTTP_STRICT, &m), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "control character");
}

TEST(http_parse_repeated_headers_keep_order)
{
    const char *s = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: x\r\nset-cookie: b=2\r\n"
                    "SET-COOKIE: c=3\r\n\r\n";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, CS_HTTP_STRICT, &m));
    ASSERT_EQ(m.nheaders, 4);
    ASSERT_STR_EQ(cs_http_get(&m, "Set-Cookie"), "a=1");
    ASSERT_STR_EQ(m.headers[2].name, "set-cookie");
    ASSERT_STR_EQ(m.headers[2].value, "b=2");
    ASSERT_STR_EQ(m.headers[3].value, "c=3");
}

TEST(http_parse_missing_blank_line)
{
    const char *s = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2";
    cs_http_msg m;
    ASSERT_OK(parse_str(s, 0, &m));
    ASSERT_EQ(m.nheaders, 2);
    ASSERT_STR_EQ(cs_http_get(&m, "b"), "2");
    ASSERT_EQ(m.header_len, strlen(s));
    ASSERT_EQ(m.body.len, 0);
    ASSERT(m.quirks & CS_HTTP_QUIRK_NO_END);
    ASSERT_STR_EQ(g_err, "");
    ASSERT_ST(parse_str(s, CS_HTTP_STRICT, &m), CS_ETRUNC);
    ASSERT_CONTAINS(g_err, "blank line");
    ASSERT_ST(parse_str(s, CS_HTTP_REQUIRE_END, &m), CS_ETRUNC);
    /* ends right after a header's LF */
    ASSERT_OK(parse_str("HTTP/1.1 200 OK\r\nA: 1\r\n", 0, &m));
    ASSERT_EQ(m.nheaders, 1);
    ASSERT(m.quirks & CS_HTTP_QUIRK_NO_END);
    ASSERT_ST(parse_str("HTTP/1.1 200 OK\r\nA: 1\r\n", CS_HTTP_REQUIRE_END, &m), CS_ETRUNC);
    ASSERT_ST(parse_str("HTTP/1.1 200 OK\r\nA: 1\r\n\r", CS_HTTP_REQUIRE_END, &m), CS_ETRUNC);
    /* status line only */
    ASSERT_OK(parse_str("HTTP/1.1 200 OK", 0, &m));
    ASSERT_EQ(m.status, 200);
    ASSERT_EQ(m.nheaders, 0);
    ASSERT_ST(parse_str("HTTP/1.1 200 OK", CS_HTTP_REQUIRE_END, &m), CS_ETRUNC);
    /* every prefix of a good message is ETRUNC with REQUIRE_END, OK once whole */
    const char *full = "HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\nB: 2\r\n\r\n";
    for (size_t k = 1; k < strlen(full); k++)
        ASSERT_ST(parse(full, k, CS_HTTP_REQUIRE_END, &m), CS_ETRUNC);
    ASSERT_OK(parse_str(full, CS_HTTP_REQUIRE_END, &m));
    ASSERT_STR_EQ(cs_http_get(&m, "a"), "1 folded");
}

TEST(http_parse_limits)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_http_msg m;
    /* 1000 fields are fine, 1001 are not */
    ASSERT_OK(cs_buf_puts(&b, "HTTP/1.1 200 OK\r\n"));
    for (int i = 0; i < 1000; i++)
        ASSERT_OK(cs_buf_printf(&b, "X-%d: %d\r\n", i, i));
    size_t keep = b.len;
    ASSERT_OK(cs_buf_puts(&b, "\r\n"));
    ASSERT_OK(parse(b.data, b.len, 0, &m));
    ASSERT_EQ(m.nheaders, 1000);
    ASSERT_STR_EQ(m.headers[999].name, "X-999");
    b.len = keep;
    ASSERT_OK(cs_buf_puts(&b, "One: more\r\n\r\n"));
    ASSERT_ST(parse(b.data, b.len, 0, &m), CS_ETOOBIG);
    ASSERT_CONTAINS(g_err, "1000");

    /* a header block over 64 KiB */
    cs_buf_reset(&b);
    ASSERT_OK(cs_buf_puts(&b, "HTTP/1.1 200 OK\r\nX-Big: "));
    for (int i = 0; i < 70000; i++)
        ASSERT_OK(cs_buf_putc(&b, 'a'));
    ASSERT_OK(cs_buf_puts(&b, "\r\n\r\n"));
    ASSERT_ST(parse(b.data, b.len, 0, &m), CS_ETOOBIG);
    ASSERT_CONTAINS(g_err, "longer than");
    /* many lines adding up to more than 64 KiB, no blank line in reach */
    cs_buf_reset(&b);
    ASSERT_OK(cs_buf_puts(&b, "HTTP/1.1 200 OK\r\n"));
    for (int i = 0; i < 900; i++)
        ASSERT_OK(cs_buf_printf(&b, "X-%d: %080d\r\n", i, i));
    ASSERT_ST(parse(b.data, b.len, 0, &m), CS_ETOOBIG);

    /* a small header and a large body are fine */
    cs_buf_reset(&b);
    ASSERT_OK(cs_buf_puts(&b, "HTTP/1.1 200 OK\r\nA: b\r\n\r\n"));
    for (int i = 0; i < 200000; i++)
        ASSERT_OK(cs_buf_putc(&b, i % 100 ? 'x' : '\n'));
    ASSERT_OK(parse(b.data, b.len, 0, &m));
    ASSERT_EQ(m.body.len, 200000);
    cs_buf_cleanup(&b);
}

TEST(http_parse_arena_limit_is_enomem)
{
    cs_arena a;
    cs_arena_init(&a, 64);
    cs_http_msg m;
    const char *s = "HTTP/1.1 200 OK\r\nA-Rather-Long-Header-Name: and a long value too\r\n\r\n";
    ASSERT_ST(cs_http_parse(s, strlen(s), &a, 0, &m, NULL, 0), CS_ENOMEM);
    cs_arena_cleanup(&a);
}

TEST(http_parse_not_nul_terminated_input)
{
    /* the parser must stay inside (p, n): give it a buffer with no NUL */
    const char *s = "HTTP/1.1 200 OK\r\nA: 1\r\n\r\nbody";
    size_t n = strlen(s);
    char *p = malloc(n);
    memcpy(p, s, n);
    cs_http_msg m;
    for (size_t k = 0; k <= n; k++) {
        cs_status st = parse(p, k, 0, &m);
        ASSERT(st == CS_OK || st == CS_EFORMAT);
        ASSERT_ST(parse(p, k, CS_HTTP_STRICT, &m), k >= 25 ? CS_OK : CS_ETRUNC);
    }
    free(p);
}

/* ---- de-chunking ------------------------------------------------------------- */

TEST(http_dechunk_extensions_and_trailers)
{
    const char *body = "4;name=value\r\nWiki\r\n5 ; x=\"y\"\r\npedia\r\nE\r\n in\r\n\r\nchunks."
                       "\r\n0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n";
    cs_buf msg, out;
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    cs_buf_init(&out, 0);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK | CS_HTTP_STRICT, 0, &out));
    ASSERT_STR_EQ(out.data, "Wikipedia in\r\n\r\nchunks.");
    ASSERT_STR_EQ(g_err, "");
    /* without DECHUNK the body is copied as is */
    ASSERT_OK(decode(&msg, 0, 0, &out));
    ASSERT_STR_EQ(out.data, body);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
}

TEST(http_dechunk_streaming_byte_by_byte)
{
    const char *body = "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n3;e\r\n123\r\n0\r\nT: v\r\n\r\nTAIL";
    cs_http_dechunk d;
    cs_http_dechunk_init(&d, CS_HTTP_STRICT);
    char got[64];
    size_t len = 0;
    const char *p = body;
    cs_status st = CS_OK;
    size_t total = strlen(body);
    for (size_t i = 0; i < total && st == CS_OK; i++) {
        const char *q = p + i;
        size_t n = 1;
        while (n && st == CS_OK) {
            cs_slice data;
            st = cs_http_dechunk_feed(&d, &q, &n, &data);
            memcpy(got + len, data.ptr, data.len);
            len += data.len;
        }
        if (st == CS_DONE)
            ASSERT_EQ(i, total - 5); /* stopped at "TAIL" */
    }
    ASSERT_ST(st, CS_DONE);
    ASSERT_MEM_EQ(got, len, "abcdefghijklmnopqrstuvwxyz123", 29);
    ASSERT_OK(cs_http_dechunk_finish(&d));
    ASSERT_EQ(d.chunks, 3);
    /* the bytes after the end are left alone */
    const char *q = "more";
    size_t n = 4;
    cs_slice data;
    ASSERT_ST(cs_http_dechunk_feed(&d, &q, &n, &data), CS_DONE);
    ASSERT_EQ(n, 4);
}

TEST(http_dechunk_missing_final_chunk)
{
    const char *body = "5\r\nhello\r\n6\r\n world\r\n";
    cs_buf msg, out;
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    cs_buf_init(&out, 0);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_STR_EQ(out.data, "hello world");
    ASSERT_CONTAINS(g_err, "final chunk");
    ASSERT_ST(decode(&msg, CS_HTTP_DECHUNK | CS_HTTP_STRICT, 0, &out), CS_ETRUNC);
    /* cut inside a chunk: what there is */
    cs_buf_cleanup(&msg);
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", "10\r\nshort", 9);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_STR_EQ(out.data, "short");
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
}

TEST(http_dechunk_lenient_line_ends)
{
    /* LF-only framing, blanks before sizes, an extra blank line between chunks */
    const char *body = "3\nabc\n\r\n 2\r\nde\r\n0\n\n";
    cs_buf msg, out;
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    cs_buf_init(&out, 0);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_STR_EQ(out.data, "abcde");
    ASSERT_STR_EQ(g_err, "");
    ASSERT_ST(decode(&msg, CS_HTTP_DECHUNK | CS_HTTP_STRICT, 0, &out), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "chunked body: offset 1");
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
}

TEST(http_dechunk_bad_framing)
{
    cs_buf msg, out;
    cs_buf_init(&out, 0);
    /* a bad size after good chunks is an error */
    const char *body = "3\r\nabc\r\nzz\r\nxx\r\n0\r\n\r\n";
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    ASSERT_ST(decode(&msg, CS_HTTP_DECHUNK, 0, &out), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "offset 8");
    ASSERT_CONTAINS(g_err, "chunk size");
    ASSERT_EQ(out.len, 0);
    cs_buf_cleanup(&msg);
    /* chunk size overflow */
    body = "3\r\nabc\r\nfffffffffffffffffff\r\nabc";
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    ASSERT_ST(decode(&msg, CS_HTTP_DECHUNK, 0, &out), CS_EFORMAT);
    ASSERT_CONTAINS(g_err, "too large");
    cs_buf_cleanup(&msg);
    /* labelled chunked but stored de-chunked: kept (lenient), refused (strict) */
    body = "<!doctype html><p>already decoded</p>";
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_STR_EQ(out.data, body);
    ASSERT_CONTAINS(g_err, "not chunked");
    ASSERT_ST(decode(&msg, CS_HTTP_DECHUNK | CS_HTTP_STRICT, 0, &out), CS_EFORMAT);
    cs_buf_cleanup(&msg);
    /* text that starts with hex digits is not taken for a chunk size */
    body = "deadbeef is not a size\r\n";
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", body, strlen(body));
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_STR_EQ(out.data, body);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
}

/* ---- content codings ------------------------------------------------------------ */

TEST(http_decode_gzip_deflate_br)
{
    size_t n = strlen(LOREM);
    struct {
        const char *header;
        int kind; /* zlib wbits, or 0 for br, 1 for none */
    } cases[] = {
        {"Content-Encoding: gzip\r\n", 15 + 16}, {"Content-Encoding: x-gzip\r\n", 15 + 16},
        {"Content-Encoding: GZIP\r\n", 15 + 16}, {"Content-Encoding: deflate\r\n", 15},
        {"Content-Encoding: deflate\r\n", -15},  {"Content-Encoding: br\r\n", 0},
        {"Content-Encoding: identity\r\n", 1},   {"", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cs_buf z, msg, out;
        cs_buf_init(&z, 0);
        if (cases[i].kind == 0)
            brcompress(LOREM, n, &z);
        else if (cases[i].kind == 1)
            ASSERT_OK(cs_buf_append(&z, LOREM, n));
        else
            zcompress(LOREM, n, cases[i].kind, &z);
        make_msg(&msg, cases[i].header, z.data, z.len);
        cs_buf_init(&out, 0);
        ASSERT_OK(decode(&msg, CS_HTTP_DECODE | CS_HTTP_STRICT, 0, &out));
        ASSERT_MEM_EQ(out.data, out.len, LOREM, n);
        /* without DECODE: the bytes as stored */
        ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
        ASSERT_MEM_EQ(out.data, out.len, z.data, z.len);
        cs_buf_cleanup(&z);
        cs_buf_cleanup(&msg);
        cs_buf_cleanup(&out);
    }
}

TEST(http_decode_stacked_codings)
{
    size_t n = strlen(LOREM);
    cs_buf a, b, msg, out;
    /* "gzip, br": gzip applied first, then br; undone br, then gzip */
    cs_buf_init(&a, 0);
    cs_buf_init(&b, 0);
    zcompress(LOREM, n, 15 + 16, &a);
    brcompress(a.data, a.len, &b);
    make_msg(&msg, "Content-Encoding: gzip, br\r\n", b.data, b.len);
    cs_buf_init(&out, 0);
    ASSERT_OK(decode(&msg, CS_HTTP_DECODE, 0, &out));
    ASSERT_MEM_EQ(out.data, out.len, LOREM, n);
    cs_buf_cleanup(&msg);
    /* the same split over two header fields */
    make_msg(&msg, "Content-Encoding: gzip\r\nContent-Encoding: br\r\n", b.data, b.len);
    ASSERT_OK(decode(&msg, CS_HTTP_DECODE, 0, &out));
    ASSERT_MEM_EQ(out.data, out.len, LOREM, n);
    cs_buf_cleanup(&msg);
    /* wrong order does not decode */
    make_msg(&msg, "Content-Encoding: br, gzip\r\n", b.data, b.len);
    ASSERT(decode(&msg, CS_HTTP_DECODE | CS_HTTP_STRICT, 0, &out) != CS_OK);
    cs_buf_cleanup(&msg);

    /* chunked transfer coding over a gzip content coding, the usual case */
    cs_buf chunked;
    cs_buf_init(&chunked, 0);
    for (size_t off = 0; off < a.len; off += 50) {
        size_t k = a.len - off < 50 ? a.len - off : 50;
        ASSERT_OK(cs_buf_printf(&chunked, "%zx\r\n", k));
        ASSERT_OK(cs_buf_append(&chunked, a.data + off, k));
        ASSERT_OK(cs_buf_puts(&chunked, "\r\n"));
    }
    ASSERT_OK(cs_buf_puts(&chunked, "0\r\n\r\n"));
    make_msg(&msg, "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", chunked.data,
             chunked.len);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK | CS_HTTP_DECODE | CS_HTTP_STRICT, 0, &out));
    ASSERT_MEM_EQ(out.data, out.len, LOREM, n);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_MEM_EQ(out.data, out.len, a.data, a.len);
    cs_buf_cleanup(&msg);
    /* a transfer coding other than chunked: "Transfer-Encoding: gzip, chunked" */
    make_msg(&msg, "Transfer-Encoding: gzip, chunked\r\n", chunked.data, chunked.len);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK | CS_HTTP_DECODE, 0, &out));
    ASSERT_MEM_EQ(out.data, out.len, LOREM, n);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&chunked);
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&out);
}

TEST(http_decode_corrupt_and_truncated)
{
    size_t n = strlen(LOREM);
    cs_buf z, msg, out;
    cs_buf_init(&z, 0);
    cs_buf_init(&out, 0);
    zcompress(LOREM, n, 15 + 16, &z);
    /* flip bytes in the deflate data */
    cs_buf bad;
    cs_buf_init(&bad, 0);
    ASSERT_OK(cs_buf_append(&bad, z.data, z.len));
    for (size_t i = 12; i < bad.len - 8; i += 7)
        bad.data[i] ^= 0x55;
    make_msg(&msg, "Content-Encoding: gzip\r\n", bad.data, bad.len);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, 0, &out), CS_EGZIP);
    ASSERT_CONTAINS(g_err, "corrupt gzip");
    ASSERT_EQ(out.len, 0);
    cs_buf_cleanup(&msg);
    /* cut short: ETRUNC with what could be decoded */
    make_msg(&msg, "Content-Encoding: gzip\r\n", z.data, z.len / 2);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, 0, &out), CS_ETRUNC);
    ASSERT_CONTAINS(g_err, "ends early");
    ASSERT(out.len < n);
    ASSERT(memcmp(out.data, LOREM, out.len) == 0);
    cs_buf_cleanup(&msg);
    /* corrupt br */
    cs_buf_reset(&z);
    brcompress(LOREM, n, &z);
    for (size_t i = 3; i < z.len; i += 5)
        z.data[i] ^= 0x5a;
    make_msg(&msg, "Content-Encoding: br\r\n", z.data, z.len);
    cs_status st = decode(&msg, CS_HTTP_DECODE, 0, &out);
    ASSERT(st == CS_EGZIP || st == CS_ETRUNC);
    ASSERT_CONTAINS(g_err, "br");
    cs_buf_cleanup(&msg);
    /* truncated br */
    cs_buf_reset(&z);
    brcompress(LOREM, n, &z);
    make_msg(&msg, "Content-Encoding: br\r\n", z.data, z.len - 3);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, 0, &out), CS_ETRUNC);
    cs_buf_cleanup(&msg);
    /* deflate garbage */
    make_msg(&msg, "Content-Encoding: deflate\r\n", "\xff\xff\xff\xff garbage", 12);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, 0, &out), CS_EGZIP);
    ASSERT_CONTAINS(g_err, "deflate");
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&bad);
    cs_buf_cleanup(&z);
    cs_buf_cleanup(&out);
}

TEST(http_decode_labelled_but_not_compressed)
{
    /* ClueWeb09 kept "Content-Encoding: gzip" on bodies it stored decoded */
    cs_buf msg, out;
    cs_buf_init(&out, 0);
    make_msg(&msg, "Content-Encoding: gzip\r\n", "<html>plain</html>", 18);
    ASSERT_OK(decode(&msg, CS_HTTP_DECODE, 0, &out));
    ASSERT_STR_EQ(out.data, "<html>plain</html>");
    ASSERT_CONTAINS(g_err, "not gzip-compressed");
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE | CS_HTTP_STRICT, 0, &out), CS_EGZIP);
    ASSERT_CONTAINS(g_err, "magic");
    cs_buf_cleanup(&msg);
    /* an empty body with a coding (HEAD, 304) decodes to nothing */
    make_msg(&msg, "Content-Encoding: br\r\nTransfer-Encoding: chunked\r\n", "", 0);
    ASSERT_OK(decode(&msg, CS_HTTP_DECODE | CS_HTTP_DECHUNK | CS_HTTP_STRICT, 0, &out));
    ASSERT_EQ(out.len, 0);
    cs_buf_cleanup(&msg);
    make_msg(&msg, "Content-Encoding: zstd\r\n", "", 0);
    ASSERT_OK(decode(&msg, CS_HTTP_DECODE, 0, &out));
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
}

TEST(http_decode_unsupported_coding)
{
    cs_buf msg, out;
    cs_buf_init(&out, 0);
    make_msg(&msg, "Content-Encoding: zstd\r\n", "\x28\xb5\x2f\xfd junk", 9);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, 0, &out), CS_EUNSUPPORTED);
    ASSERT_CONTAINS(g_err, "'zstd'");
    /* without DECODE the coding does not matter */
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 0, &out));
    ASSERT_EQ(out.len, 9);
    cs_buf_cleanup(&msg);
    make_msg(&msg, "Content-Encoding: a, b, c, d, e, f, g, h, i\r\n", "x", 1);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, 0, &out), CS_EUNSUPPORTED);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
}

TEST(http_decode_max_is_exact)
{
    size_t n = strlen(LOREM);
    cs_buf z, msg, out;
    cs_buf_init(&z, 0);
    cs_buf_init(&out, 0);
    int kinds[] = {15 + 16, 15, 0, 1};
    const char *hdr[] = {"Content-Encoding: gzip\r\n", "Content-Encoding: deflate\r\n",
                         "Content-Encoding: br\r\n", ""};
    for (int i = 0; i < 4; i++) {
        cs_buf_reset(&z);
        if (kinds[i] == 0)
            brcompress(LOREM, n, &z);
        else if (kinds[i] == 1)
            ASSERT_OK(cs_buf_append(&z, LOREM, n));
        else
            zcompress(LOREM, n, kinds[i], &z);
        make_msg(&msg, hdr[i], z.data, z.len);
        ASSERT_OK(decode(&msg, CS_HTTP_DECODE, n, &out));
        ASSERT_EQ(out.len, n);
        ASSERT_ST(decode(&msg, CS_HTTP_DECODE, n - 1, &out), CS_ETOOBIG);
        ASSERT_CONTAINS(g_err, "larger than");
        ASSERT_EQ(out.len, 0);
        cs_buf_cleanup(&msg);
    }
    /* de-chunking alone respects max too */
    make_msg(&msg, "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n", 15);
    ASSERT_OK(decode(&msg, CS_HTTP_DECHUNK, 5, &out));
    ASSERT_ST(decode(&msg, CS_HTTP_DECHUNK, 4, &out), CS_ETOOBIG);
    cs_buf_cleanup(&msg);
    /* and out->max */
    cs_buf small;
    cs_buf_init(&small, 3);
    make_msg(&msg, "", "hello", 5);
    ASSERT_ST(decode(&msg, 0, 0, &small), CS_ETOOBIG);
    ASSERT_EQ(small.max, 3);
    cs_buf_cleanup(&small);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&z);
    cs_buf_cleanup(&out);
}

/* Live bytes allocated through cs_malloc, and the peak. */
static size_t g_live, g_peak;
static void *count_malloc(size_t n, void *ud)
{
    (void)ud;
    size_t *p = malloc(n + 16);
    if (!p)
        return NULL;
    *p = n;
    g_live += n;
    if (g_live > g_peak)
        g_peak = g_live;
    return (char *)p + 16;
}
static void count_free(void *q, void *ud)
{
    (void)ud;
    size_t *p = (size_t *)((char *)q - 16);
    g_live -= *p;
    free(p);
}
static void *count_realloc(void *q, size_t n, void *ud)
{
    if (!q)
        return count_malloc(n, ud);
    size_t *p = (size_t *)((char *)q - 16);
    size_t old = *p;
    size_t *r = realloc(p, n + 16);
    if (!r)
        return NULL;
    *r = n;
    g_live = g_live - old + n;
    if (g_live > g_peak)
        g_peak = g_live;
    return (char *)r + 16;
}

/* gzip (wbits 31) or br of `total` zero bytes, compressed streaming. */
static void zero_bomb(int br, size_t total, cs_buf *out)
{
    static char zeros[1 << 20];
    if (br) {
        BrotliEncoderState *s = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        ASSERT(s);
        BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, 1);
        size_t left = total;
        bool finished = false;
        while (!finished) {
            size_t k = left < sizeof zeros ? left : sizeof zeros;
            left -= k;
            BrotliEncoderOperation op = left ? BROTLI_OPERATION_PROCESS : BROTLI_OPERATION_FINISH;
            const uint8_t *next_in = (const uint8_t *)zeros;
            size_t avail_in = k;
            for (;;) {
                ASSERT_OK(cs_buf_reserve(out, 65536));
                size_t cap = out->cap - out->len, avail_out = cap;
                uint8_t *next_out = (uint8_t *)out->data + out->len;
                ASSERT(BrotliEncoderCompressStream(s, op, &avail_in, &next_in, &avail_out,
                                                   &next_out, NULL));
                out->len += cap - avail_out;
                if (op == BROTLI_OPERATION_FINISH) {
                    if (BrotliEncoderIsFinished(s)) {
                        finished = true;
                        break;
                    }
                } else if (avail_in == 0 && !BrotliEncoderHasMoreOutput(s)) {
                    break;
                }
            }
        }
        BrotliEncoderDestroyInstance(s);
        return;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t left = total;
    int r;
    do {
        size_t k = left < sizeof zeros ? left : sizeof zeros;
        z.next_in = (Bytef *)zeros;
        z.avail_in = (uInt)k;
        left -= k;
        int flush = left ? Z_NO_FLUSH : Z_FINISH;
        do {
            ASSERT_OK(cs_buf_reserve(out, 65536));
            z.next_out = (Bytef *)out->data + out->len;
            z.avail_out = (uInt)(out->cap - out->len);
            size_t cap = z.avail_out;
            r = deflate(&z, flush);
            out->len += cap - z.avail_out;
        } while (z.avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
    } while (left);
    ASSERT_EQ(r, Z_STREAM_END);
    deflateEnd(&z);
}

TEST_T(http_decode_bombs_are_refused, 120)
{
    cs_allocator hook = {count_malloc, count_realloc, count_free, NULL};
    cs_set_allocator(&hook);
    const size_t max = 1 << 20;
    struct {
        int br;
        size_t total;
        const char *hdr;
    } bombs[] = {
        {0, (size_t)1 << 30, "Content-Encoding: gzip\r\n"}, /* 1 GiB of zeros, ~1 MB gzipped */
        {1, 10u << 20, "Content-Encoding: br\r\n"},
        {0, 10u << 20, "Content-Encoding: gzip, gzip\r\n"}, /* not a valid double: see below */
    };
    for (int i = 0; i < 2; i++) {
        cs_buf z, msg, out;
        cs_buf_init(&z, 0);
        zero_bomb(bombs[i].br, bombs[i].total, &z);
        ASSERT(z.len < bombs[i].total / 500);
        make_msg(&msg, bombs[i].hdr, z.data, z.len);
        cs_buf_cleanup(&z);
        cs_buf_init(&out, 0);
        size_t base = g_live;
        g_peak = g_live;
        ASSERT_ST(decode(&msg, CS_HTTP_DECODE, max, &out), CS_ETOOBIG);
        ASSERT_CONTAINS(g_err, "larger than 1048576");
        /* out never grew past max + 1 (+ the NUL slot) ... */
        ASSERT(out.cap <= max + 1);
        /* ... and the decoder held little beside it (ISA-L/brotli state) */
        printf("%s: peak %zu bytes for max %zu\n", bombs[i].hdr, g_peak - base, max);
        /* brotli's ring buffer holds its window, up to 16 MiB whatever max is */
        size_t slack = bombs[i].br ? (16u << 20) + 512 * 1024 : 512 * 1024;
        if (g_peak - base > max + slack)
            FAIL("peak %zu bytes over max %zu", g_peak - base, max);
        cs_buf_cleanup(&out);
        cs_buf_cleanup(&msg);
    }
    /* stacked: gzip inside gzip, each layer small, the inner one a bomb */
    cs_buf inner, outer, msg, out;
    cs_buf_init(&inner, 0);
    cs_buf_init(&outer, 0);
    zero_bomb(0, 64u << 20, &inner);
    zcompress(inner.data, inner.len, 15 + 16, &outer);
    make_msg(&msg, bombs[2].hdr, outer.data, outer.len);
    cs_buf_init(&out, 0);
    ASSERT_ST(decode(&msg, CS_HTTP_DECODE, max, &out), CS_ETOOBIG);
    ASSERT(out.cap <= max + 1);
    cs_buf_cleanup(&inner);
    cs_buf_cleanup(&outer);
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&out);
    cs_arena_cleanup(&g_arena);
    cs_set_allocator(NULL);
}

/* ---- real records from the shared corpus ------------------------------------------ */

/* Finds the next record in a plain WARC at *pos: its header and its block
 * (cut at the end of the data when Content-Length runs past it). Tolerates
 * lines ending in CR CR LF. */
static bool next_record(const char *d, size_t n, size_t *pos, cs_slice *hdr, cs_slice *block)
{
    size_t i = *pos;
    while (i < n && (d[i] == '\r' || d[i] == '\n'))
        i++;
    if (i + 5 > n)
        return false;
    ASSERT(memcmp(d + i, "WARC/", 5) == 0);
    size_t start = i, hend = 0;
    uint64_t clen = 0;
    bool have_len = false;
    while (i < n) {
        const char *lf = memchr(d + i, '\n', n - i);
        ASSERT(lf);
        size_t e = (size_t)(lf - d), c = e;
        while (c > i && d[c - 1] == '\r')
            c--;
        if (c == i) {
            hend = e + 1;
            break;
        }
        cs_slice line = {d + i, c - i};
        if (line.len > 15 && cs_slice_ieq((cs_slice){line.ptr, 15}, "Content-Length:"))
            have_len = cs_slice_to_u64((cs_slice){line.ptr + 15, line.len - 15}, &clen);
        i = e + 1;
    }
    ASSERT(hend && have_len);
    *hdr = (cs_slice){d + start, hend - start};
    size_t blen = clen < n - hend ? (size_t)clen : n - hend;
    *block = (cs_slice){d + hend, blen};
    *pos = hend + blen;
    return true;
}

/* The block of the first record whose header contains `what`. */
static cs_slice find_block(const char *d, size_t n, const char *what)
{
    size_t pos = 0;
    cs_slice hdr, block;
    while (next_record(d, n, &pos, &hdr, &block)) {
        char *h = cs_strndup(hdr.ptr, hdr.len);
        bool hit = strstr(h, what) != NULL;
        cs_free(h);
        if (hit)
            return block;
    }
    FAIL("no record with %s", what);
}

TEST(http_corpus_iana_chunked)
{
    size_t n;
    char *d = cs_test_read_file(cs_test_corpus("warc/warcio/example-iana.org-chunked.warc"), &n);
    cs_slice b = find_block(d, n, "WARC-Type: response");
    cs_http_msg m;
    ASSERT_OK(parse(b.ptr, b.len, CS_HTTP_STRICT, &m));
    ASSERT_EQ(m.status, 200);
    ASSERT_STR_EQ(m.reason, "OK");
    ASSERT_STR_EQ(cs_http_get(&m, "transfer-encoding"), "chunked");
    ASSERT_STR_EQ(cs_http_get(&m, "X-Cache-Hits"), "157098");
    cs_buf out;
    cs_buf_init(&out, 0);
    ASSERT_OK(cs_http_decode_body(&m, CS_HTTP_DECHUNK | CS_HTTP_DECODE | CS_HTTP_STRICT, 0, &out,
                                  g_err, sizeof g_err));
    ASSERT(strncmp(out.data, "<!doctype html>", 15) == 0);
    ASSERT_CONTAINS(out.data, "Internet Assigned Numbers Authority");
    ASSERT_CONTAINS(out.data, "</html>");
    ASSERT(strstr(out.data, "\r\n001c37") == NULL);
    ASSERT(out.len < m.body.len);
    ASSERT_EQ(out.len, 0x1c37);
    /* the request record */
    cs_slice rq = find_block(d, n, "WARC-Type: request");
    ASSERT_OK(parse(rq.ptr, rq.len, CS_HTTP_STRICT, &m));
    ASSERT(!m.is_response);
    ASSERT_STR_EQ(m.method, "GET");
    ASSERT_STR_EQ(m.target, "/");
    ASSERT_STR_EQ(cs_http_get(&m, "host"), "www.iana.org");
    cs_buf_cleanup(&out);
    cs_free(d);
}

TEST(http_corpus_missing_status_text)
{
    size_t n;
    char *d = cs_test_read_file(cs_test_corpus("warc/pywb/missing-status-text.warc"), &n);
    cs_slice b = find_block(d, n, "WARC-Type: response");
    cs_http_msg m;
    ASSERT_OK(parse(b.ptr, b.len, 0, &m));
    ASSERT_EQ(m.status, 302);
    ASSERT_STR_EQ(m.version, "HTTP/1.0");
    ASSERT_STR_EQ(m.reason, "");
    ASSERT_STR_EQ(cs_http_get(&m, "location"), "http://www.iana.org/badst");
    ASSERT_STR_EQ(cs_http_get(&m, "server"), "BigIP");
    ASSERT(m.quirks & CS_HTTP_QUIRK_EXTRA_CR); /* the file's lines end in CR CR LF */
    ASSERT_ST(parse(b.ptr, b.len, CS_HTTP_STRICT, &m), CS_EFORMAT);
    cs_free(d);
}

TEST(http_corpus_multiple_headers)
{
    size_t n;
    char *d = cs_test_read_file(cs_test_corpus("warc/ia-web-commons/mutliple-headers.warc"), &n);
    cs_slice b = find_block(d, n, "WARC-Type: response");
    cs_http_msg m;
    ASSERT_OK(parse(b.ptr, b.len, CS_HTTP_STRICT, &m));
    ASSERT_EQ(m.status, 200);
    ASSERT_STR_EQ(m.reason, "");
    ASSERT_STR_EQ(cs_http_get(&m, "X-Powered-By"), "PHP/8.3.11");
    const char *powered[2], *links[3];
    size_t np = 0, nl = 0;
    for (size_t i = 0; i < m.nheaders; i++) {
        if (!strcmp(m.headers[i].name, "x-powered-by"))
            powered[np++] = m.headers[i].value;
        if (!strcmp(m.headers[i].name, "link"))
            links[nl++] = m.headers[i].value;
    }
    ASSERT_EQ(np, 2);
    ASSERT_EQ(nl, 3);
    ASSERT_STR_EQ(powered[1], "PleskLin");
    ASSERT_STR_EQ(links[0], "<https://www.example.com/wp-json/>; rel=\"https://api.w.org/\"");
    ASSERT_STR_EQ(links[2], "<https://www.example.com/?p=00000>; rel=shortlink");
    ASSERT_EQ(m.body.len, 108);
    ASSERT(strncmp(m.body.ptr, "<!DOCTYPE html>", 15) == 0);
    /* the crawler recorded the body decoded and renamed the header */
    ASSERT(cs_http_get(&m, "content-encoding") == NULL);
    ASSERT_STR_EQ(cs_http_get(&m, "x-crawler-content-encoding"), "br");
    cs_free(d);
}

TEST(http_corpus_clueweb_lf_only)
{
    size_t zn;
    char *z = cs_test_read_file(cs_test_corpus("warc/resiliparse/clueweb-quirk.warc.gz"), &zn);
    cs_buf w;
    cs_buf_init(&w, 0);
    ASSERT_OK(cs_inflate_buffer(CS_INFLATE_GZIP, z, zn, 64u << 20, &w));
    size_t pos = 0, responses = 0, decoded = 0;
    cs_slice hdr, block;
    cs_buf out;
    cs_buf_init(&out, 0);
    while (next_record(w.data, w.len, &pos, &hdr, &block)) {
        if (!memmem(hdr.ptr, hdr.len, "WARC-Type: response", 19))
            continue;
        responses++;
        cs_http_msg m;
        ASSERT_OK(parse(block.ptr, block.len, 0, &m));
        ASSERT(m.is_response);
        ASSERT(m.status >= 200 && m.status < 600);
        ASSERT(m.quirks & CS_HTTP_QUIRK_BARE_LF);
        ASSERT(m.nheaders > 0);
        ASSERT(cs_http_get(&m, "content-type") != NULL);
        ASSERT(m.header_len < block.len);
        ASSERT(m.body.ptr[-1] == '\n' && m.body.ptr[-2] == '\n');
        ASSERT_ST(parse(block.ptr, block.len, CS_HTTP_STRICT, &m), CS_EFORMAT);
        ASSERT_OK(parse(block.ptr, block.len, 0, &m));
        /* bodies labelled gzip were stored decoded: lenient decoding keeps them */
        cs_status st = cs_http_decode_body(&m, CS_HTTP_DECHUNK | CS_HTTP_DECODE, 0, &out, g_err,
                                           sizeof g_err);
        ASSERT_OK(st);
        if (cs_http_get(&m, "content-encoding"))
            decoded++;
        ASSERT_EQ(out.len, m.body.len);
    }
    ASSERT_EQ(responses, 29);
    ASSERT(decoded > 0);
    cs_buf_cleanup(&out);
    cs_buf_cleanup(&w);
    cs_free(z);
}

TEST(http_corpus_all_plain_warcs_parse)
{
    /* every request/response block in the plain corpus files parses leniently */
    const char *files[] = {"warc/warcio/example.warc",
                           "warc/warcio/example-digest.warc",
                           "warc/pywb/example-extra.warc",
                           "warc/resiliparse/warcfile.warc",
                           "warc/whirlwind/whirlwind.warc",
                           "warc/ia-web-commons/IAH-urls-wget.warc",
                           "warc/ia-web-commons/link-extraction-test.warc"};
    cs_buf out;
    cs_buf_init(&out, 0);
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n, pos = 0, msgs = 0;
        char *d = cs_test_read_file(cs_test_corpus(files[f]), &n);
        cs_slice hdr, block;
        while (next_record(d, n, &pos, &hdr, &block)) {
            if (!memmem(hdr.ptr, hdr.len, "application/http", 16))
                continue;
            cs_http_msg m;
            cs_status st = parse(block.ptr, block.len, 0, &m);
            if (st)
                FAIL("%s: record at %zu: %s", files[f], (size_t)(hdr.ptr - d), g_err);
            msgs++;
            if (m.is_response) {
                st = cs_http_decode_body(&m, CS_HTTP_DECHUNK | CS_HTTP_DECODE, 0, &out, g_err,
                                         sizeof g_err);
                if (st)
                    FAIL("%s: record at %zu: %s: %s", files[f], (size_t)(hdr.ptr - d),
                         cs_status_name(st), g_err);
            }
        }
        ASSERT(msgs > 0);
        cs_free(d);
    }
    cs_buf_cleanup(&out);
}
