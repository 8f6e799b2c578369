/* verify.c - checks a WARC record's WARC-Block-Digest (over the whole block)
 * and WARC-Payload-Digest (over the HTTP body of application/http records,
 * the whole block otherwise), from a block in memory or streamed from the
 * reader in bounded memory: only the HTTP header block is buffered. */
#include <string.h>

#include "crawlset/http.h"

enum { P_HEAD, P_BODY, P_OFF };

typedef struct check {
    int *verdict;        /* where the verdict goes (out->block / out->payload) */
    char *expected;      /* out->*_expected */
    char *actual;        /* out->*_actual */
    cs_digest_spec spec; /* the expected value, decoded */
    cs_digest d;         /* running digest; ctx NULL when not checking */
    cs_digest d2;        /* payload only: over the de-chunked body */
    cs_digest d3;        /* payload only: over the whole block, when the
                            block check does not already hash it that way */
} check;

typedef struct verifier {
    check block, payload;
    int phase;           /* P_HEAD: buffering HTTP headers; P_BODY: hashing the
                            payload; P_OFF: no payload to hash */
    cs_buf head;         /* the first block bytes, up to the end of the HTTP
                            header block (at most CS_HTTP_MAX_HEADER + 1) */
    size_t scan;         /* head[]: where the first line not yet looked at starts */
    bool started;        /* head[]: a non-empty line (the start line) was seen */
    bool chunked;        /* the HTTP message says Transfer-Encoding: chunked */
    bool dc_live;        /* the de-chunker is still in step */
    cs_http_dechunk dc;
    bool http;           /* the payload follows an HTTP header block */
    uint8_t block_raw[64]; /* the block digest as computed */
    size_t block_raw_len;
    cs_arena arena;      /* for parsing the HTTP headers */
} verifier;

static const char *field(const cs_warc_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->nfields; i++) {
        const cs_warc_field *f = &rec->fields[i];
        size_t k = f->name_len ? f->name_len : strlen(f->name);
        if (cs_slice_ieq((cs_slice){f->name, k}, name))
            return f->value;
    }
    return NULL;
}

static void copy_str(char *dst, const char *s)
{
    size_t n = strlen(s);
    if (n > 127)
        n = 127;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Sets up one check from the field's value. */
static cs_status check_init(check *c, const char *value)
{
    if (!value) {
        *c->verdict = 0;
        return CS_OK;
    }
    copy_str(c->expected, value);
    if (cs_digest_parse(value, &c->spec) != CS_OK) {
        *c->verdict = -2;
        return CS_OK;
    }
    cs_status st = cs_digest_init(&c->d, c->spec.algo);
    if (st == CS_ENOMEM)
        return st;
    if (st) {
        *c->verdict = -2;
        return CS_OK;
    }
    return CS_OK;
}

static bool active(const check *c) { return c->d.ctx != NULL; }

/* Writes the digest v as "algo:value" in the encoding the expected value
 * used, so the two can be compared by eye. */
static void format_like(const char *expected, const uint8_t *v, size_t n, char *out)
{
    const char *colon = strchr(expected, ':');
    cs_slice algo = cs_slice_trim((cs_slice){expected, colon ? (size_t)(colon - expected) : 0});
    cs_slice ev = cs_slice_trim((cs_slice){colon ? colon + 1 : "", colon ? strlen(colon + 1) : 0});
    uint8_t tmp[64];
    char enc[200];
    if (ev.len == 2 * n && cs_base16_decode(ev.ptr, ev.len, tmp, sizeof tmp) == n) {
        cs_base16_encode(v, n, enc);
        bool upper = false;
        for (size_t i = 0; i < ev.len; i++)
            upper |= ev.ptr[i] >= 'A' && ev.ptr[i] <= 'F';
        for (char *q = enc; *q; q++)
            if (upper && *q >= 'a' && *q <= 'f')
                *q = (char)(*q - 32);
            else if (!upper && *q >= 'A' && *q <= 'F')
                *q = (char)(*q + 32);
    } else if (ev.len == 0 || cs_base32_decode(ev.ptr, ev.len, tmp, sizeof tmp) == n) {
        cs_base32_encode(v, n, enc);
    } else {
        cs_base64_encode(v, n, enc);
        bool urlsafe = memchr(ev.ptr, '-', ev.len) || memchr(ev.ptr, '_', ev.len);
        bool pad = memchr(ev.ptr, '=', ev.len) != NULL;
        for (char *q = enc; *q; q++) {
            if (urlsafe && *q == '+')
                *q = '-';
            else if (urlsafe && *q == '/')
                *q = '_';
            else if (!pad && *q == '=')
                *q = '\0';
        }
    }
    if (algo.len > 16)
        algo.len = 16;
    /* "algo:value", cut to the 127 characters the result has room for */
    size_t k = 0, e = strlen(enc);
    memcpy(out, algo.ptr, algo.len);
    k = algo.len;
    out[k++] = ':';
    if (e > 127 - k)
        e = 127 - k;
    memcpy(out + k, enc, e);
    out[k + e] = '\0';
}

/* Compares a computed digest with the expected one; the first comparison
 * (or a successful one) sets the "actual" string. */
static bool match(check *c, const uint8_t *v, size_t n)
{
    bool ok = n == c->spec.len && memcmp(v, c->spec.value, n) == 0;
    if (!c->actual[0] || ok)
        format_like(c->expected, v, n, c->actual);
    return ok;
}

static bool check_final(check *c, cs_digest *d, uint8_t *raw, size_t *raw_len)
{
    uint8_t v[64];
    size_t n = 0;
    cs_digest_final(d, v, &n);
    if (raw) {
        memcpy(raw, v, n);
        *raw_len = n;
    }
    return match(c, v, n);
}

static cs_status verifier_init(verifier *v, const cs_warc_record *rec, cs_warc_verify_result *out)
{
    memset(v, 0, sizeof *v);
    memset(out, 0, sizeof *out);
    cs_buf_init(&v->head, CS_HTTP_MAX_HEADER + 1);
    cs_arena_init(&v->arena, 0);
    v->block = (check){.verdict = &out->block, .expected = out->block_expected,
                       .actual = out->block_actual};
    v->payload = (check){.verdict = &out->payload, .expected = out->payload_expected,
                         .actual = out->payload_actual};
    cs_status st = check_init(&v->block, field(rec, "WARC-Block-Digest"));
    if (st)
        return st;
    const char *pd = field(rec, "WARC-Payload-Digest");
    if (rec->type == CS_WARC_REVISIT) {
        /* A revisit's payload digest is that of the earlier record it points
         * to; its block holds at most the HTTP headers. Not checkable here. */
        if (pd)
            copy_str(out->payload_expected, pd);
        v->phase = P_OFF;
        return CS_OK;
    }
    if ((st = check_init(&v->payload, pd)))
        return st;
    const char *ct = rec->content_type ? rec->content_type : field(rec, "Content-Type");
    v->http = ct && strlen(ct) >= 16 && cs_slice_ieq((cs_slice){ct, 16}, "application/http");
    v->phase = !active(&v->payload) ? P_OFF : v->http ? P_HEAD : P_BODY;
    if (v->http && active(&v->payload) &&
        !(active(&v->block) && v->block.spec.algo == v->payload.spec.algo) &&
        (st = cs_digest_init(&v->payload.d3, v->payload.spec.algo)) == CS_ENOMEM)
        return st;
    return CS_OK;
}

static bool contains_ci(const char *s, const char *lit)
{
    size_t k = strlen(lit);
    for (; *s; s++)
        if (cs_slice_ieq((cs_slice){s, strnlen(s, k)}, lit))
            return true;
    return false;
}

/* True once head[] holds a complete HTTP header block: a blank line after
 * the start line (blank lines before it are skipped, as cs_http_parse does).
 * Incremental, so that many small chunks cost linear time. */
static bool header_end_seen(verifier *v)
{
    const char *h = v->head.data;
    for (;;) {
        const char *lf = memchr(h + v->scan, '\n', v->head.len - v->scan);
        if (!lf)
            return false;
        size_t e = (size_t)(lf - h), c = e;
        while (c > v->scan && h[c - 1] == '\r')
            c--;
        bool blank = c == v->scan;
        v->scan = e + 1;
        if (!blank)
            v->started = true;
        else if (v->started)
            return true;
    }
}

static void payload_update(verifier *v, const char *p, size_t n)
{
    cs_digest_update(&v->payload.d, p, n);
    while (v->dc_live && n) {
        cs_slice data;
        cs_status st = cs_http_dechunk_feed(&v->dc, &p, &n, &data);
        cs_digest_update(&v->payload.d2, data.ptr, data.len);
        if (st != CS_OK)
            v->dc_live = false; /* done, or not chunked after all */
    }
}

/* Moves from P_HEAD to P_BODY once the header block of the HTTP message at
 * head[] is complete (final: the block has ended). */
static cs_status try_headers(verifier *v, bool final)
{
    cs_http_msg m;
    if (v->head.len == 0) {
        if (final)
            v->phase = P_OFF; /* an empty block has no HTTP message */
        return CS_OK;
    }
    cs_arena_reset(&v->arena);
    cs_status st = cs_http_parse(v->head.data, v->head.len, &v->arena,
                                 final ? 0 : CS_HTTP_REQUIRE_END, &m, NULL, 0);
    if (st == CS_ETRUNC && !final)
        return CS_OK; /* need more bytes */
    if (st == CS_ENOMEM)
        return st;
    if (st) {
        /* Not an HTTP message, or a header block over the limit: the payload
         * cannot be located. */
        v->phase = P_OFF;
        return CS_OK;
    }
    v->phase = P_BODY;
    const char *te = cs_http_get(&m, "Transfer-Encoding");
    if (te && contains_ci(te, "chunked") && cs_digest_init(&v->payload.d2, v->payload.spec.algo) == CS_OK) {
        v->chunked = v->dc_live = true;
        cs_http_dechunk_init(&v->dc, 0);
    }
    payload_update(v, m.body.ptr, m.body.len);
    return CS_OK;
}

static cs_status verifier_feed(verifier *v, const char *p, size_t n)
{
    cs_digest_update(&v->block.d, p, n);
    cs_digest_update(&v->payload.d3, p, n);
    if (v->phase == P_BODY) {
        payload_update(v, p, n);
    } else if (v->phase == P_HEAD) {
        size_t room = CS_HTTP_MAX_HEADER + 1 - v->head.len;
        size_t take = n < room ? n : room;
        cs_status st = cs_buf_append(&v->head, p, take);
        if (st)
            return st;
        /* parse once the header block is complete, or the limit is hit (the
         * parser then says CS_ETOOBIG and the payload is not checked) */
        if ((header_end_seen(v) || v->head.len > CS_HTTP_MAX_HEADER) &&
            (st = try_headers(v, false)))
            return st;
        if (v->phase == P_BODY)
            payload_update(v, p + take, n - take);
    }
    return CS_OK;
}

static cs_status verifier_finish(verifier *v)
{
    cs_status st = CS_OK;
    if (v->phase == P_HEAD)
        st = try_headers(v, true);
    if (active(&v->block))
        *v->block.verdict =
            check_final(&v->block, &v->block.d, v->block_raw, &v->block_raw_len) ? 1 : -1;
    if (active(&v->payload)) {
        if (v->phase == P_BODY) {
            bool ok = check_final(&v->payload, &v->payload.d, NULL, NULL);
            /* Tools differ on what the payload is. The WARC 1.1 spec says the
             * HTTP entity body after transfer decoding, but most writers
             * (warcio, wget, Heritrix) hash the chunked bytes as sent, so
             * accept a match over the de-chunked body too; and ClueWeb09
             * (WARC/0.18) gives the digest of the whole block, so accept
             * that as well. */
            if (!ok && v->chunked && v->payload.d2.ctx)
                ok = check_final(&v->payload, &v->payload.d2, NULL, NULL);
            if (!ok && v->payload.d3.ctx)
                ok = check_final(&v->payload, &v->payload.d3, NULL, NULL);
            else if (!ok && v->http && active(&v->block) &&
                     v->block.spec.algo == v->payload.spec.algo)
                ok = match(&v->payload, v->block_raw, v->block_raw_len);
            *v->payload.verdict = ok ? 1 : -1;
        } else {
            *v->payload.verdict = 0;
        }
    }
    cs_digest_cleanup(&v->block.d);
    cs_digest_cleanup(&v->payload.d);
    cs_digest_cleanup(&v->payload.d2);
    cs_digest_cleanup(&v->payload.d3);
    cs_buf_cleanup(&v->head);
    cs_arena_cleanup(&v->arena);
    return st;
}

cs_status cs_warc_verify_block(const cs_warc_record *rec, const char *block, size_t n,
                               cs_warc_verify_result *out)
{
    verifier v;
    cs_status st = verifier_init(&v, rec, out);
    if (!st)
        st = verifier_feed(&v, block, n);
    cs_status st2 = verifier_finish(&v);
    return st ? st : st2;
}

cs_status cs_warc_verify_current(cs_warc_reader *r, const cs_warc_record *rec,
                                 cs_warc_verify_result *out)
{
    verifier v;
    cs_status st = verifier_init(&v, rec, out);
    while (!st) {
        const char *p;
        size_t n;
        st = cs_warc_reader_chunk(r, &p, &n);
        if (st == CS_DONE) {
            st = CS_OK;
            break;
        }
        if (!st)
            st = verifier_feed(&v, p, n);
    }
    cs_status st2 = verifier_finish(&v);
    return st ? st : st2;
}
