/* fuzz_http.c - libFuzzer target for HTTP messages: cs_http_parse in every
 * mode, cs_http_decode_body with all flags and a 1 MiB cap, the streaming
 * de-chunker fed in small pieces, and WARC digest checking of the input as
 * an application/http block. A seed that is a whole WARC file (see
 * fuzz/seeds/http.txt) is cut to start at its first HTTP response (or its
 * first block), so the fuzzer starts from an HTTP message. */
#include <string.h>

#include "fuzz.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c))                                                                         \
            __builtin_trap();                                                             \
    } while (0)

static void decode_all(const cs_http_msg *m, unsigned flags)
{
    char err[CS_ERRMSG_MAX];
    cs_buf out;
    cs_buf_init(&out, 0);
    cs_status st = cs_http_decode_body(m, flags, 1u << 20, &out, err, sizeof err);
    CHECK(out.len <= (1u << 20));
    CHECK(out.cap <= (1u << 20) + 1 || out.data == NULL);
    CHECK(st != CS_OK || flags || out.len == m->body.len);
    CHECK(memchr(err, '\0', sizeof err) != NULL);
    cs_buf_cleanup(&out);
}

static void dechunk_in_pieces(const char *p, size_t n)
{
    /* pieces of 1..7 bytes must give what one call over everything gives */
    cs_http_dechunk a, b;
    cs_http_dechunk_init(&a, 0);
    cs_http_dechunk_init(&b, 0);
    size_t out_a = 0, out_b = 0;
    const char *q = p;
    size_t left = n;
    cs_status sa = CS_OK, sb = CS_OK;
    while (left && sa == CS_OK) {
        cs_slice d;
        sa = cs_http_dechunk_feed(&a, &q, &left, &d);
        CHECK(d.len == 0 || (d.ptr >= p && d.ptr + d.len <= p + n));
        out_a += d.len;
    }
    size_t off = 0, step = 1;
    while (off < n && sb == CS_OK) {
        size_t k = n - off < step ? n - off : step;
        const char *r = p + off;
        size_t rl = k;
        while (rl && sb == CS_OK) {
            cs_slice d;
            sb = cs_http_dechunk_feed(&b, &r, &rl, &d);
            out_b += d.len;
        }
        off += k - rl;
        if (rl)
            break; /* stopped early: DONE or error */
        step = step % 7 + 1;
    }
    CHECK(sa == sb);
    CHECK(out_a == out_b);
    CHECK(a.offset == b.offset);
}

CS_FUZZ_TARGET(http)
{
    const char *p = (const char *)data;
    size_t n = size;
    if (n > 5 && memcmp(p, "WARC/", 5) == 0) {
        /* the first HTTP response in the file, else the first block */
        const char *e = memmem(p, n, "\r\n\r\nHTTP/", 9);
        if (!e)
            e = memmem(p, n, "\r\n\r\n", 4);
        if (e) {
            n -= (size_t)(e + 4 - p);
            p = e + 4;
        }
    }
    /* copy so that reads past the end are caught by ASan */
    char *buf = cs_malloc(n ? n : 1);
    if (!buf)
        return 0;
    memcpy(buf, p, n);

    cs_arena a;
    cs_arena_init(&a, 0);
    unsigned modes[] = {0, CS_HTTP_STRICT, CS_HTTP_REQUIRE_END};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        cs_arena_reset(&a);
        cs_http_msg m;
        char err[CS_ERRMSG_MAX];
        cs_status st = cs_http_parse(buf, n, &a, modes[i], &m, err, sizeof err);
        if (st != CS_OK) {
            CHECK(err[0] != '\0');
            continue;
        }
        CHECK(m.header_len <= n);
        CHECK(m.header_len <= CS_HTTP_MAX_HEADER);
        CHECK(m.nheaders <= CS_HTTP_MAX_FIELDS);
        CHECK(m.body.ptr == buf + m.header_len && m.body.len == n - m.header_len);
        CHECK(m.version && m.reason && m.method && m.target);
        CHECK(m.is_response ? (m.status >= 0 && m.status <= 999) : m.status == 0);
        for (size_t k = 0; k < m.nheaders; k++) {
            CHECK(strlen(m.headers[k].name) == m.headers[k].name_len);
            CHECK(m.headers[k].name_len > 0);
            CHECK(memchr(m.headers[k].value, '\0', m.headers[k].value_len + 1) != NULL);
            CHECK(cs_http_get(&m, m.headers[k].name) != NULL);
        }
        if (modes[i] == 0) {
            decode_all(&m, 0);
            decode_all(&m, CS_HTTP_DECHUNK);
            decode_all(&m, CS_HTTP_DECHUNK | CS_HTTP_DECODE);
            decode_all(&m, CS_HTTP_DECHUNK | CS_HTTP_DECODE | CS_HTTP_STRICT);
            dechunk_in_pieces(m.body.ptr, m.body.len);
        }
    }
    cs_arena_cleanup(&a);

    /* the digest checker's incremental header scan */
    cs_warc_field f[3] = {
        {"Content-Type", 12, "application/http; msgtype=response", 34},
        {"WARC-Block-Digest", 17, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", 37},
        {"WARC-Payload-Digest", 19, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", 37},
    };
    cs_warc_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = CS_WARC_RESPONSE;
    rec.fields = f;
    rec.nfields = 3;
    rec.content_type = f[0].value;
    cs_warc_verify_result v;
    if (cs_warc_verify_block(&rec, buf, n, &v) == CS_OK) {
        CHECK(v.block == 1 || v.block == -1);
        CHECK(v.payload >= -1 && v.payload <= 1);
    }
    cs_free(buf);
    return 0;
}
