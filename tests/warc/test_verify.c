/* test_verify.c - WARC-Block-Digest / WARC-Payload-Digest checking: hand-made
 * records for each rule (encodings, payload location, chunked and whole-block
 * payload digests, revisits, bad values) and the corpus files whose digests
 * are known good or deliberately bad. */
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- helpers ------------------------------------------------------------------ */

typedef enum { ENC_B32, ENC_B16_UPPER, ENC_B16_LOWER, ENC_B64, ENC_B64URL_NOPAD } enc;

/* "algo:VALUE" of data under algo, in the given encoding. */
static void digest_of(cs_digest_algo algo, const void *p, size_t n, enc e, char *out)
{
    cs_digest d;
    ASSERT_OK(cs_digest_init(&d, algo));
    cs_digest_update(&d, p, n);
    uint8_t v[64];
    size_t len;
    cs_digest_final(&d, v, &len);
    cs_digest_cleanup(&d);
    const char *name = algo == CS_DIGEST_SHA1 ? "sha1" : algo == CS_DIGEST_SHA256 ? "sha256" : "md5";
    char enc_buf[200];
    switch (e) {
    case ENC_B32: cs_base32_encode(v, len, enc_buf); break;
    case ENC_B16_UPPER:
    case ENC_B16_LOWER:
        cs_base16_encode(v, len, enc_buf);
        for (char *q = enc_buf; *q; q++)
            if (e == ENC_B16_UPPER && *q >= 'a' && *q <= 'f')
                *q = (char)(*q - 32);
            else if (e == ENC_B16_LOWER && *q >= 'A' && *q <= 'F')
                *q = (char)(*q + 32);
        break;
    case ENC_B64: cs_base64_encode(v, len, enc_buf); break;
    case ENC_B64URL_NOPAD:
        cs_base64_encode(v, len, enc_buf);
        for (char *q = enc_buf; *q; q++)
            if (*q == '+')
                *q = '-';
            else if (*q == '/')
                *q = '_';
            else if (*q == '=')
                *q = '\0';
        break;
    }
    ASSERT(strlen(name) + 1 + strlen(enc_buf) < 128);
    strcpy(out, name);
    strcat(out, ":");
    strcat(out, enc_buf);
}

typedef struct fake_rec {
    cs_warc_record rec;
    cs_warc_field fields[4];
} fake_rec;

/* A record of the given type with the given fields (NULL = absent). */
static void fake(fake_rec *f, cs_warc_type type, const char *ctype, const char *block_digest,
                 const char *payload_digest)
{
    memset(f, 0, sizeof *f);
    f->rec.type = type;
    f->rec.content_type = ctype;
    size_t n = 0;
    if (ctype)
        f->fields[n++] = (cs_warc_field){"Content-Type", 12, ctype, strlen(ctype)};
    if (block_digest)
        f->fields[n++] = (cs_warc_field){"WARC-Block-Digest", 17, block_digest,
                                         strlen(block_digest)};
    if (payload_digest)
        f->fields[n++] = (cs_warc_field){"WARC-Payload-Digest", 19, payload_digest,
                                         strlen(payload_digest)};
    f->rec.fields = f->fields;
    f->rec.nfields = n;
}

static const char *HTTP_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
static const char *HTTP_BODY = "the payload, nothing else";

static char *http_block(size_t *n)
{
    static char b[256];
    snprintf(b, sizeof b, "%s%s", HTTP_HEAD, HTTP_BODY);
    *n = strlen(b);
    return b;
}

/* ---- synthetic records ------------------------------------------------------------ */

TEST(verify_block_and_payload_of_http_response)
{
    size_t n;
    const char *b = http_block(&n);
    char bd[128], pd[128];
    digest_of(CS_DIGEST_SHA1, b, n, ENC_B32, bd);
    digest_of(CS_DIGEST_SHA1, HTTP_BODY, strlen(HTTP_BODY), ENC_B32, pd);
    fake_rec f;
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", bd, pd);
    cs_warc_verify_result v;
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.block_expected, bd);
    ASSERT_STR_EQ(v.block_actual, bd);
    ASSERT_STR_EQ(v.payload_expected, pd);
    ASSERT_STR_EQ(v.payload_actual, pd);

    /* "application/http;msgtype=request" without a space, and a request */
    const char *rq = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    digest_of(CS_DIGEST_SHA1, rq, strlen(rq), ENC_B32, bd);
    digest_of(CS_DIGEST_SHA1, "", 0, ENC_B32, pd);
    fake(&f, CS_WARC_REQUEST, "application/http;msgtype=request", bd, pd);
    ASSERT_OK(cs_warc_verify_block(&f.rec, rq, strlen(rq), &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.payload_actual, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
}

TEST(verify_payload_of_non_http_record_is_the_block)
{
    const char *b = "plain resource bytes\n";
    char d[128];
    digest_of(CS_DIGEST_SHA1, b, strlen(b), ENC_B32, d);
    fake_rec f;
    fake(&f, CS_WARC_RESOURCE, "text/plain", d, d);
    cs_warc_verify_result v;
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, strlen(b), &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    /* a metadata record that happens to start like HTTP is still not HTTP */
    const char *m = "HTTP/1.1 200 OK\r\n\r\nbody";
    digest_of(CS_DIGEST_SHA1, m, strlen(m), ENC_B32, d);
    fake(&f, CS_WARC_METADATA, "application/warc-fields", NULL, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, m, strlen(m), &v));
    ASSERT_EQ(v.block, 0);
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.block_expected, "");
    ASSERT_STR_EQ(v.block_actual, "");
}

TEST(verify_value_encodings)
{
    size_t n;
    const char *b = http_block(&n);
    enc encs[] = {ENC_B32, ENC_B16_UPPER, ENC_B16_LOWER, ENC_B64, ENC_B64URL_NOPAD};
    cs_digest_algo algos[] = {CS_DIGEST_SHA1, CS_DIGEST_SHA256, CS_DIGEST_MD5};
    for (size_t a = 0; a < 3; a++)
        for (size_t e = 0; e < 5; e++) {
            char bd[128], pd[128];
            digest_of(algos[a], b, n, encs[e], bd);
            digest_of(algos[a], HTTP_BODY, strlen(HTTP_BODY), encs[e], pd);
            fake_rec f;
            fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", bd, pd);
            cs_warc_verify_result v;
            ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
            if (v.block != 1 || v.payload != 1)
                FAIL("algo %zu enc %zu: %d %d %s %s", a, e, v.block, v.payload, bd, pd);
            /* the computed value is written the way the expected one was */
            ASSERT_STR_EQ(v.block_actual, bd);
            ASSERT_STR_EQ(v.payload_actual, pd);
        }
}

TEST(verify_mismatch_reports_both_values)
{
    size_t n;
    const char *b = http_block(&n);
    char bd[128], pd[128];
    digest_of(CS_DIGEST_SHA1, "something else", 14, ENC_B32, bd);
    digest_of(CS_DIGEST_SHA1, "other payload", 13, ENC_B16_LOWER, pd);
    fake_rec f;
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", bd, pd);
    cs_warc_verify_result v;
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, -1);
    ASSERT_EQ(v.payload, -1);
    ASSERT_STR_EQ(v.block_expected, bd);
    char want[128];
    digest_of(CS_DIGEST_SHA1, b, n, ENC_B32, want);
    ASSERT_STR_EQ(v.block_actual, want);
    digest_of(CS_DIGEST_SHA1, HTTP_BODY, strlen(HTTP_BODY), ENC_B16_LOWER, want);
    ASSERT_STR_EQ(v.payload_actual, want);
    /* one flipped byte in the block */
    char copy[256];
    memcpy(copy, b, n);
    digest_of(CS_DIGEST_SHA1, b, n, ENC_B32, bd);
    digest_of(CS_DIGEST_SHA1, HTTP_BODY, strlen(HTTP_BODY), ENC_B32, pd);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", bd, pd);
    copy[n - 1] ^= 1;
    ASSERT_OK(cs_warc_verify_block(&f.rec, copy, n, &v));
    ASSERT_EQ(v.block, -1);
    ASSERT_EQ(v.payload, -1);
    copy[n - 1] ^= 1;
    copy[3] ^= 1; /* in the HTTP header: the payload is still fine */
    ASSERT_OK(cs_warc_verify_block(&f.rec, copy, n, &v));
    ASSERT_EQ(v.block, -1);
    ASSERT_EQ(v.payload, 1);
}

TEST(verify_absent_unsupported_and_undecodable)
{
    size_t n;
    const char *b = http_block(&n);
    fake_rec f;
    cs_warc_verify_result v;
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, NULL);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, 0);
    ASSERT_EQ(v.payload, 0);
    ASSERT_STR_EQ(v.payload_expected, "");
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", "crc32:12345678",
         "sha1:1112H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, -2);
    ASSERT_EQ(v.payload, -2);
    ASSERT_STR_EQ(v.block_expected, "crc32:12345678");
    ASSERT_STR_EQ(v.block_actual, "");
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", "no colon", "sha1:");
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, -2);
    ASSERT_EQ(v.payload, -2);
    /* a very long value is cut in *_expected, not overflowed */
    char longv[400];
    memset(longv, 'A', sizeof longv - 1);
    memcpy(longv, "sha1:", 5);
    longv[sizeof longv - 1] = 0;
    fake(&f, CS_WARC_RESOURCE, "text/plain", longv, longv);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, -2);
    ASSERT_EQ(strlen(v.block_expected), 127);
}

TEST(verify_revisit_payload_is_not_checkable)
{
    const char *b = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    char bd[128];
    digest_of(CS_DIGEST_SHA1, b, strlen(b), ENC_B32, bd);
    fake_rec f;
    fake(&f, CS_WARC_REVISIT, "application/http; msgtype=response", bd,
         "sha1:G7HRM7BGOKSKMSXZAHMUQTTV53QOFSMK");
    cs_warc_verify_result v;
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, strlen(b), &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 0);
    ASSERT_STR_EQ(v.payload_expected, "sha1:G7HRM7BGOKSKMSXZAHMUQTTV53QOFSMK");
    ASSERT_STR_EQ(v.payload_actual, "");
}

TEST(verify_payload_of_chunked_body_either_way)
{
    const char *b = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    const char *raw = strstr(b, "\r\n\r\n") + 4;
    char pd[128];
    fake_rec f;
    cs_warc_verify_result v;
    /* as sent (warcio, wget, Heritrix) */
    digest_of(CS_DIGEST_SHA1, raw, strlen(raw), ENC_B32, pd);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, pd);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, strlen(b), &v));
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.payload_actual, pd);
    /* de-chunked (the WARC 1.1 reading) */
    digest_of(CS_DIGEST_SHA1, "hello world", 11, ENC_B32, pd);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, pd);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, strlen(b), &v));
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.payload_actual, pd);
    /* neither */
    digest_of(CS_DIGEST_SHA1, "hello", 5, ENC_B32, pd);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, pd);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, strlen(b), &v));
    ASSERT_EQ(v.payload, -1);
    char want[128];
    digest_of(CS_DIGEST_SHA1, raw, strlen(raw), ENC_B32, want);
    ASSERT_STR_EQ(v.payload_actual, want); /* the bytes as stored */
    /* no Transfer-Encoding: no de-chunked reading */
    const char *nb = "HTTP/1.1 200 OK\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    digest_of(CS_DIGEST_SHA1, "hello", 5, ENC_B32, pd);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, pd);
    ASSERT_OK(cs_warc_verify_block(&f.rec, nb, strlen(nb), &v));
    ASSERT_EQ(v.payload, -1);
}

TEST(verify_payload_digest_of_whole_block_is_accepted)
{
    /* ClueWeb09 (WARC/0.18) gives the whole block's digest as payload digest */
    size_t n;
    const char *b = http_block(&n);
    char d[128];
    digest_of(CS_DIGEST_SHA1, b, n, ENC_B32, d);
    fake_rec f;
    cs_warc_verify_result v;
    fake(&f, CS_WARC_RESPONSE, "application/http;msgtype=response", d, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    /* also without a block digest to share the work with */
    fake(&f, CS_WARC_RESPONSE, "application/http;msgtype=response", NULL, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.payload, 1);
    /* and with a block digest of another algorithm */
    char bd[128];
    digest_of(CS_DIGEST_SHA256, b, n, ENC_B32, bd);
    fake(&f, CS_WARC_RESPONSE, "application/http;msgtype=response", bd, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b, n, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
}

TEST(verify_http_without_payload_location)
{
    fake_rec f;
    cs_warc_verify_result v;
    char d[128];
    /* not an HTTP message at all: the payload cannot be located */
    const char *junk = "\x01\x02 this is not http\r\n\r\nbody";
    digest_of(CS_DIGEST_SHA1, "body", 4, ENC_B32, d);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, junk, strlen(junk), &v));
    ASSERT_EQ(v.payload, 0);
    /* headers with no blank line: lenient parsing says the body is empty */
    const char *nob = "HTTP/1.1 304 Not Modified\r\nETag: x";
    digest_of(CS_DIGEST_SHA1, "", 0, ENC_B32, d);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", NULL, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, nob, strlen(nob), &v));
    ASSERT_EQ(v.payload, 1);
    /* an empty block */
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", d, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, "", 0, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 0);
    /* a header block over the limit: block checked, payload not */
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "HTTP/1.1 200 OK\r\nX-Big: "));
    for (int i = 0; i < 70000; i++)
        ASSERT_OK(cs_buf_putc(&b, 'x'));
    ASSERT_OK(cs_buf_puts(&b, "\r\n\r\nbody"));
    char bd[128];
    digest_of(CS_DIGEST_SHA1, b.data, b.len, ENC_B32, bd);
    digest_of(CS_DIGEST_SHA1, "body", 4, ENC_B32, d);
    fake(&f, CS_WARC_RESPONSE, "application/http; msgtype=response", bd, d);
    ASSERT_OK(cs_warc_verify_block(&f.rec, b.data, b.len, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 0);
    cs_buf_cleanup(&b);
}

/* ---- through the reader ------------------------------------------------------------- */

/* A WARC file in memory holding one response record with the given HTTP
 * header size and body size, digests included. */
static void synth_warc(size_t header_pad, size_t body_len, cs_buf *out)
{
    cs_buf blk;
    cs_buf_init(&blk, 0);
    ASSERT_OK(cs_buf_puts(&blk, "HTTP/1.1 200 OK\r\nX-Pad: "));
    for (size_t i = 0; i < header_pad; i++)
        ASSERT_OK(cs_buf_putc(&blk, (char)('a' + i % 26)));
    ASSERT_OK(cs_buf_puts(&blk, "\r\nContent-Type: application/octet-stream\r\n\r\n"));
    size_t body_at = blk.len;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < body_len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ASSERT_OK(cs_buf_putc(&blk, (char)x));
    }
    char bd[128], pd[128];
    digest_of(CS_DIGEST_SHA1, blk.data, blk.len, ENC_B32, bd);
    digest_of(CS_DIGEST_SHA1, blk.data + body_at, blk.len - body_at, ENC_B32, pd);
    cs_buf_init(out, 0);
    ASSERT_OK(cs_buf_printf(out,
                            "WARC/1.0\r\nWARC-Type: response\r\n"
                            "WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n"
                            "WARC-Date: 2024-01-01T00:00:00Z\r\n"
                            "WARC-Target-URI: http://example.com/\r\n"
                            "Content-Type: application/http; msgtype=response\r\n"
                            "WARC-Block-Digest: %s\r\nWARC-Payload-Digest: %s\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            bd, pd, blk.len));
    ASSERT_OK(cs_buf_append(out, blk.data, blk.len));
    ASSERT_OK(cs_buf_puts(out, "\r\n\r\n"));
    cs_buf_cleanup(&blk);
}

TEST_T(verify_current_streams_large_records, 120)
{
    /* headers from tiny to just under the 64 KiB limit, bodies up to 8 MiB:
     * the HTTP header block is found across the reader's chunks */
    size_t pads[] = {0, 5000, 60000, 65000};
    size_t bodies[] = {0, 1, 100000, 8u << 20};
    for (size_t i = 0; i < 4; i++) {
        cs_buf w;
        synth_warc(pads[i], bodies[i], &w);
        cs_warc_reader *r;
        ASSERT_OK(cs_warc_reader_open_mem(&r, w.data, w.len, "synth", NULL));
        cs_warc_record *rec;
        ASSERT_OK(cs_warc_reader_next(r, &rec));
        cs_warc_verify_result v;
        ASSERT_OK(cs_warc_verify_current(r, rec, &v));
        if (v.block != 1 || v.payload != 1)
            FAIL("pad %zu body %zu: block %d payload %d (%s vs %s)", pads[i], bodies[i], v.block,
                 v.payload, v.payload_expected, v.payload_actual);
        ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
        cs_warc_reader_free(r);
        cs_buf_cleanup(&w);
    }
}

TEST_T(verify_current_header_split_across_small_reads, 60)
{
    /* The WARC arrives through a pipe a few bytes at a time, so the reader
     * hands the HTTP header block over in many small chunks. */
    size_t pads[] = {0, 3000};
    for (size_t i = 0; i < 2; i++) {
        cs_buf w;
        synth_warc(pads[i], 20000, &w);
        const char *blk = strstr(w.data, "\r\n\r\n") + 4;
        size_t hdr = (size_t)(blk - w.data);
        int fds[2];
        ASSERT(pipe(fds) == 0);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            size_t off = 0;
            while (off < w.len) {
                size_t k = off < hdr + pads[i] + 200 ? (off < hdr ? hdr - off : 3) : w.len - off;
                if (off + k > w.len)
                    k = w.len - off;
                if (write(fds[1], w.data + off, k) != (ssize_t)k)
                    _exit(1);
                off += k;
                if (off > hdr && k <= 3)
                    usleep(50);
            }
            _exit(0);
        }
        close(fds[1]);
        cs_warc_reader *r;
        ASSERT_OK(cs_warc_reader_open_fd(&r, fds[0], "pipe", NULL));
        cs_warc_record *rec;
        ASSERT_OK(cs_warc_reader_next(r, &rec));
        cs_warc_verify_result v;
        ASSERT_OK(cs_warc_verify_current(r, rec, &v));
        ASSERT_EQ(v.block, 1);
        ASSERT_EQ(v.payload, 1);
        ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
        cs_warc_reader_free(r);
        close(fds[0]);
        int status;
        ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        cs_buf_cleanup(&w);
    }
}

typedef struct verdicts {
    int block[64], payload[64];
    cs_warc_type type[64];
    cs_status st[64];
    int n;
} verdicts;

static void verify_file(const char *rel, verdicts *out)
{
    memset(out, 0, sizeof *out);
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus(rel), NULL));
    cs_warc_record *rec;
    cs_status st;
    while ((st = cs_warc_reader_next(r, &rec)) != CS_DONE) {
        if (st == CS_EIO || st == CS_ENOMEM)
            FAIL("%s: %s", rel, cs_warc_reader_errmsg(r));
        if (st)
            continue;
        ASSERT(out->n < 64);
        cs_warc_verify_result v;
        out->st[out->n] = cs_warc_verify_current(r, rec, &v);
        out->block[out->n] = v.block;
        out->payload[out->n] = v.payload;
        out->type[out->n] = rec->type;
        out->n++;
    }
    cs_warc_reader_free(r);
}

TEST(verify_corpus_example_digest)
{
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/warcio/example-digest.warc"), NULL));
    cs_warc_record *rec;
    cs_warc_verify_result v;
    /* 1: block fine, payload digest value is not valid base32/16/64 */
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    ASSERT_EQ(rec->type, CS_WARC_REQUEST);
    ASSERT_OK(cs_warc_verify_current(r, rec, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, -2);
    ASSERT_STR_EQ(v.payload_expected, "sha1:1112H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
    /* 2: base32 block digest, base64 payload digest (of the empty body) */
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    ASSERT_EQ(rec->offset, 922);
    ASSERT_OK(cs_warc_verify_current(r, rec, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.block_actual, "sha1:Z6W6WEQQQICP5WA7OWB2SS75WLK4K7Y3");
    ASSERT_STR_EQ(v.payload_actual, "sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    /* 3: same again */
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    ASSERT_OK(cs_warc_verify_current(r, rec, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    /* 4: base64 block digest, filename-safe base64 payload digest */
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    ASSERT_OK(cs_warc_verify_current(r, rec, &v));
    ASSERT_EQ(v.block, 1);
    ASSERT_EQ(v.payload, 1);
    ASSERT_STR_EQ(v.block_actual, "sha1:z63rEhCCBP7YH3WDqUv9stXFfxs=");
    ASSERT_STR_EQ(v.payload_actual, "sha1:2jmj7l5rSw0yVb_vlWAYkK_YBwk=");
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_free(r);
}

TEST(verify_corpus_clipped_block_fails)
{
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/resiliparse/clipped.warc.gz"), NULL));
    cs_warc_record *rec;
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    cs_warc_verify_result v;
    ASSERT_ST(cs_warc_verify_current(r, rec, &v), CS_ETRUNC);
    ASSERT_EQ(v.block, -1);
    ASSERT_STR_EQ(v.block_expected, "sha1:FG2VO675VIVY4YSJCHVLIJGWV272H7K4");
    ASSERT(strcmp(v.block_actual, v.block_expected) != 0);
    ASSERT_EQ(v.payload, -1);
    cs_warc_reader_free(r);
}

TEST(verify_corpus_common_crawl_all_good)
{
    const char *files[] = {"warc/resiliparse/warcfile.warc", "warc/resiliparse/warcfile.warc.gz",
                           "warc/whirlwind/whirlwind.warc", "warc/whirlwind/whirlwind.warc.gz"};
    int min_good[] = {16, 16, 1, 4}; /* the plain whirlwind copy has fewer digests */
    for (size_t f = 0; f < 4; f++) {
        verdicts v;
        verify_file(files[f], &v);
        int good = 0;
        for (int i = 0; i < v.n; i++) {
            ASSERT_OK(v.st[i]);
            if (v.block[i] < 0 || v.payload[i] < 0)
                FAIL("%s: record %d: block %d payload %d", files[f], i, v.block[i],
                     v.payload[i]);
            good += v.block[i] == 1;
        }
        ASSERT_EQ(v.n, f < 2 ? 50 : 4);
        ASSERT(good >= min_good[f]);
    }
}

TEST(verify_corpus_other_writers)
{
    verdicts v;
    /* warcprox, base16 lower case, chunked response */
    verify_file("warc/warcio/example-iana.org-chunked.warc", &v);
    ASSERT_EQ(v.n, 3);
    ASSERT_EQ(v.block[1], 1);
    ASSERT_EQ(v.payload[1], 1);
    ASSERT_EQ(v.block[2], 1);
    /* base16 upper case, HTTP/2 capture */
    verify_file("warc/ia-web-commons/mutliple-headers.warc", &v);
    ASSERT_EQ(v.block[0], 1);
    ASSERT_EQ(v.payload[0], 1);
    /* ClueWeb09: LF-only HTTP headers, payload digest over the whole block */
    verify_file("warc/resiliparse/clueweb-quirk.warc.gz", &v);
    ASSERT_EQ(v.n, 30);
    for (int i = 1; i < 30; i++) {
        ASSERT_EQ(v.block[i], 1);
        ASSERT_EQ(v.payload[i], 1);
    }
    /* wget, Heritrix-style, webrecorder */
    const char *good[] = {"warc/ia-web-commons/IAH-urls-wget.warc", "warc/warcio/example.warc",
                          "warc/warcio/post-test.warc.gz", "warc/pywb/example-wget-1-14.warc.gz",
                          "warc/pywb/example-wpull.warc.gz"};
    for (size_t f = 0; f < sizeof good / sizeof *good; f++) {
        verify_file(good[f], &v);
        for (int i = 0; i < v.n; i++)
            if (v.block[i] < 0 || v.payload[i] < 0)
                FAIL("%s: record %d: block %d payload %d", good[f], i, v.block[i],
                     v.payload[i]);
    }
    /* revisit payload digests describe another record */
    verify_file("warc/warcio/example.warc", &v);
    ASSERT_EQ(v.type[4], CS_WARC_REVISIT);
    ASSERT_EQ(v.block[4], 1);
    ASSERT_EQ(v.payload[4], 0);
}

TEST(verify_corpus_known_bad_digests)
{
    verdicts v;
    /* the revisit's block digest was altered in this copy */
    verify_file("warc/warcio/example-bad-non-chunked.warc.gz", &v);
    ASSERT_EQ(v.type[4], CS_WARC_REVISIT);
    ASSERT_EQ(v.block[4], -1);
    ASSERT_EQ(v.block[2], 1);
    ASSERT_EQ(v.payload[2], 1);
    /* "HTTPX/1.1" record: one byte shorter body under the same payload digest */
    verify_file("warc/pywb/example-extra.warc", &v);
    ASSERT_EQ(v.payload[0], 1);
    ASSERT_EQ(v.payload[3], -1);
    /* Content-Length cut short: the block is wrong */
    verify_file("warc/warcio/example-trunc.warc", &v);
    int bad = 0;
    for (int i = 0; i < v.n; i++)
        bad += v.block[i] == -1;
    ASSERT_EQ(bad, 1);
}

TEST(verify_block_and_current_agree)
{
    /* the in-memory and streaming paths give identical results */
    const char *files[] = {"warc/resiliparse/warcfile.warc.gz", "warc/warcio/example-digest.warc",
                           "warc/resiliparse/clueweb-quirk.warc.gz",
                           "warc/warcio/example-iana.org-chunked.warc"};
    for (size_t f = 0; f < 4; f++) {
        cs_warc_reader *r1, *r2;
        ASSERT_OK(cs_warc_reader_open(&r1, cs_test_corpus(files[f]), NULL));
        ASSERT_OK(cs_warc_reader_open(&r2, cs_test_corpus(files[f]), NULL));
        cs_warc_record *a, *b;
        int n = 0;
        while (cs_warc_reader_next(r1, &a) == CS_OK) {
            ASSERT_OK(cs_warc_reader_next(r2, &b));
            cs_slice blk;
            ASSERT_OK(cs_warc_reader_block(r1, 0, &blk));
            cs_warc_verify_result v1, v2;
            ASSERT_OK(cs_warc_verify_block(a, blk.ptr, blk.len, &v1));
            ASSERT_OK(cs_warc_verify_current(r2, b, &v2));
            if (memcmp(&v1, &v2, sizeof v1) != 0)
                FAIL("%s record %d: %d/%d vs %d/%d", files[f], n, v1.block, v1.payload,
                     v2.block, v2.payload);
            n++;
        }
        ASSERT(n > 0);
        cs_warc_reader_free(r1);
        cs_warc_reader_free(r2);
    }
}
