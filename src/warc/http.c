/* http.c - HTTP/1.x messages from WARC request/response blocks: start line
 * and header parsing, a streaming de-chunker, and body decoding (chunked,
 * gzip, deflate, br).
 *
 * Hand-written rather than built on llhttp or picohttpparser: archived
 * messages need rules those parsers reject (LF-only and CR CR LF line ends,
 * junk lines, no blank line, "HTTP/2 200" status lines), next to a strict
 * mode, and we need offsets in error messages. The code is small. */
#include <brotli/decode.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crawlset/gzip.h"
#include "crawlset/http.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...) CS_PRINTF(3, 4);
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Records a tolerated quirk, keeping the first one. */
static void note(char *err, size_t errlen, const char *msg)
{
    if (err && errlen && !err[0])
        seterr(err, errlen, "%s", msg);
}

static inline int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static inline bool is_sp(char c) { return c == ' ' || c == '\t'; }

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool all_tchar(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return n > 0;
}

static bool prefix_ieq(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++)
        if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

/* "HTTP/" DIGIT "." DIGIT, exactly. */
static bool version_ok(const char *s, size_t n)
{
    return n == 8 && memcmp(s, "HTTP/", 5) == 0 && s[5] >= '0' && s[5] <= '9' && s[6] == '.' &&
           s[7] >= '0' && s[7] <= '9';
}

/* ---- parsing ------------------------------------------------------------------ */

typedef struct parser {
    const char *p;
    size_t n;     /* input length */
    size_t lim;   /* scanning stops here: min(n, CS_HTTP_MAX_HEADER) */
    unsigned flags;
    bool strict;
    cs_arena *a;
    cs_http_msg *m;
    char *err;
    size_t errlen;
    size_t cap;   /* slots in m->headers */
} parser;

/* One line: [start, end) is its content with the trailing CRs removed. */
typedef struct line {
    size_t start, end;
    size_t next;  /* where the following line starts */
    bool has_lf;  /* false: ran into the end of the input */
    unsigned ncr; /* CRs removed before the LF */
} line;

/* Reads the line at pos. CS_ETOOBIG when it runs past the header limit,
 * CS_ETRUNC when it has no LF and the caller needs complete lines. */
static cs_status get_line(parser *ps, size_t pos, line *l)
{
    const char *lf = pos < ps->lim ? memchr(ps->p + pos, '\n', ps->lim - pos) : NULL;
    if (!lf && ps->n > ps->lim) {
        seterr(ps->err, ps->errlen, "offset %zu: header block longer than %u bytes", pos,
               CS_HTTP_MAX_HEADER);
        return CS_ETOOBIG;
    }
    size_t e = lf ? (size_t)(lf - ps->p) : ps->n;
    l->start = pos;
    l->next = lf ? e + 1 : ps->n;
    l->has_lf = lf != NULL;
    l->ncr = 0;
    while (e > pos && ps->p[e - 1] == '\r') {
        e--;
        l->ncr++;
    }
    l->end = e;
    if (!l->has_lf && (ps->strict || (ps->flags & CS_HTTP_REQUIRE_END))) {
        seterr(ps->err, ps->errlen, "offset %zu: header block ends without a blank line", ps->n);
        return CS_ETRUNC;
    }
    return CS_OK;
}

/* Checks a line's terminator and stray CRs; strict wants exactly CRLF. */
static cs_status check_eol(parser *ps, const line *l)
{
    const char *cr = memchr(ps->p + l->start, '\r', l->end - l->start);
    if (ps->strict) {
        if (l->has_lf && l->ncr != 1) {
            seterr(ps->err, ps->errlen, "offset %zu: line does not end in CRLF", l->end);
            return CS_EFORMAT;
        }
        if (cr) {
            seterr(ps->err, ps->errlen, "offset %zu: stray CR inside a line",
                   (size_t)(cr - ps->p));
            return CS_EFORMAT;
        }
        return CS_OK;
    }
    if (l->has_lf && l->ncr == 0)
        ps->m->quirks |= CS_HTTP_QUIRK_BARE_LF;
    if (l->ncr > 1 || cr)
        ps->m->quirks |= CS_HTTP_QUIRK_EXTRA_CR;
    return CS_OK;
}

static const char *dup(parser *ps, const char *s, size_t n)
{
    return cs_arena_strndup(ps->a, s, n);
}

static cs_status nomem(parser *ps)
{
    seterr(ps->err, ps->errlen, "out of memory (arena limit)");
    return CS_ENOMEM;
}

static cs_status parse_status_line(parser *ps, const line *l)
{
    cs_http_msg *m = ps->m;
    const char *s = ps->p + l->start;
    size_t n = l->end - l->start, i = 0;
    m->is_response = true;
    while (i < n && !is_sp(s[i]))
        i++;
    size_t vlen = i;
    if (!version_ok(s, vlen)) {
        if (ps->strict) {
            seterr(ps->err, ps->errlen, "offset %zu: bad HTTP version '%.*s'", l->start,
                   (int)(vlen > 32 ? 32 : vlen), s);
            return CS_EFORMAT;
        }
        m->quirks |= CS_HTTP_QUIRK_START_LINE;
    }
    size_t ws = i;
    while (i < n && is_sp(s[i]))
        i++;
    if (i - ws != 1 || (i > ws && s[ws] != ' ')) {
        if (ps->strict || i == ws) {
            seterr(ps->err, ps->errlen, "offset %zu: expected one space after the HTTP version",
                   l->start + ws);
            return CS_EFORMAT;
        }
        m->quirks |= CS_HTTP_QUIRK_START_LINE;
    }
    size_t d = i;
    int status = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - d < 4)
        status = status * 10 + (s[i++] - '0');
    if (i - d != 3 || (i < n && !is_sp(s[i]))) {
        seterr(ps->err, ps->errlen, "offset %zu: expected a 3-digit status code", l->start + d);
        return CS_EFORMAT;
    }
    m->status = status;
    const char *reason = "";
    size_t rlen = 0;
    if (i == n) {
        if (ps->strict) {
            seterr(ps->err, ps->errlen, "offset %zu: no space after the status code",
                   l->start + i);
            return CS_EFORMAT;
        }
        m->quirks |= CS_HTTP_QUIRK_NO_REASON;
    } else {
        if (ps->strict) {
            if (s[i] != ' ') {
                seterr(ps->err, ps->errlen, "offset %zu: expected a space after the status code",
                       l->start + i);
                return CS_EFORMAT;
            }
            i++;
            for (size_t k = i; k < n; k++) {
                unsigned char c = (unsigned char)s[k];
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                    seterr(ps->err, ps->errlen, "offset %zu: control character in reason phrase",
                           l->start + k);
                    return CS_EFORMAT;
                }
            }
        } else {
            while (i < n && is_sp(s[i]))
                i++;
        }
        reason = s + i;
        rlen = n - i;
        if (!ps->strict)
            while (rlen && is_sp(reason[rlen - 1]))
                rlen--;
    }
    if (!(m->version = dup(ps, s, vlen)) || !(m->reason = dup(ps, reason, rlen)))
        return nomem(ps);
    return CS_OK;
}

static cs_status parse_request_line(parser *ps, const line *l)
{
    cs_http_msg *m = ps->m;
    const char *s = ps->p + l->start;
    size_t n = l->end - l->start, i = 0;
    while (i < n && !is_sp(s[i]))
        i++;
    size_t mlen = i;
    if (!all_tchar(s, mlen) || i == n) {
        seterr(ps->err, ps->errlen,
               "offset %zu: not an HTTP status line or request line", l->start);
        return CS_EFORMAT;
    }
    size_t tstart, tend, vstart = n, vlen = 0;
    if (ps->strict) {
        /* method SP request-target SP HTTP-version */
        tstart = mlen + 1;
        const char *sp = tstart <= n ? memchr(s + tstart, ' ', n - tstart) : NULL;
        if (s[mlen] != ' ' || !sp || sp == s + tstart) {
            seterr(ps->err, ps->errlen, "offset %zu: expected 'METHOD SP target SP version'",
                   l->start);
            return CS_EFORMAT;
        }
        tend = (size_t)(sp - s);
        vstart = tend + 1;
        vlen = n - vstart;
        if (!version_ok(s + vstart, vlen)) {
            seterr(ps->err, ps->errlen, "offset %zu: bad HTTP version", l->start + vstart);
            return CS_EFORMAT;
        }
        for (size_t k = tstart; k < tend; k++) {
            unsigned char c = (unsigned char)s[k];
            if (c <= 0x20 || c == 0x7f) {
                seterr(ps->err, ps->errlen, "offset %zu: bad character in request target",
                       l->start + k);
                return CS_EFORMAT;
            }
        }
    } else {
        /* Words split on runs of blanks; the last word is the version when it
         * looks like one, and the target is everything between (targets with
         * raw spaces do occur). */
        tstart = i;
        while (tstart < n && is_sp(s[tstart]))
            tstart++;
        size_t e = n;
        while (e > tstart && is_sp(s[e - 1]))
            e--;
        if (tstart == e) {
            seterr(ps->err, ps->errlen, "offset %zu: request line without a target",
                   l->start + i);
            return CS_EFORMAT;
        }
        size_t w = e;
        while (w > tstart && !is_sp(s[w - 1]))
            w--;
        if (w > tstart && prefix_ieq(s + w, e - w, "HTTP/")) {
            vstart = w;
            vlen = e - w;
            tend = w;
            while (tend > tstart && is_sp(s[tend - 1]))
                tend--;
        } else {
            tend = e; /* HTTP/0.9 style: no version */
        }
        bool regular = s[mlen] == ' ' && tstart == mlen + 1 && vlen &&
                       version_ok(s + vstart, vlen) && s[tend] == ' ' && vstart == tend + 1 &&
                       e == n && !memchr(s + tstart, ' ', tend - tstart);
        if (!regular)
            m->quirks |= CS_HTTP_QUIRK_START_LINE;
    }
    if (!(m->method = dup(ps, s, mlen)) || !(m->target = dup(ps, s + tstart, tend - tstart)) ||
        !(m->version = dup(ps, vlen ? s + vstart : "", vlen)))
        return nomem(ps);
    return CS_OK;
}

/* Builds the value from raw [s, s+n), which may span folded lines: each
 * line break with the blanks around it becomes one space; outer blanks go. */
static char *build_value(parser *ps, const char *s, size_t n, bool folded, size_t *len)
{
    while (n && is_sp(*s)) {
        s++;
        n--;
    }
    while (n && (is_sp(s[n - 1]) || s[n - 1] == '\r'))
        n--;
    char *v = cs_arena_alloc(ps->a, n + 1);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (folded && (c == '\r' || c == '\n')) {
            while (k && is_sp(v[k - 1]))
                k--;
            while (i + 1 < n && (s[i + 1] == '\r' || s[i + 1] == '\n' || is_sp(s[i + 1])))
                i++;
            v[k++] = ' ';
            continue;
        }
        v[k++] = c;
    }
    v[k] = '\0';
    *len = k;
    return v;
}

static cs_status add_header(parser *ps, const char *name, size_t nlen, const char *val,
                            size_t vlen, bool folded, size_t off)
{
    cs_http_msg *m = ps->m;
    if (m->nheaders >= CS_HTTP_MAX_FIELDS) {
        seterr(ps->err, ps->errlen, "offset %zu: more than %u header fields", off,
               CS_HTTP_MAX_FIELDS);
        return CS_ETOOBIG;
    }
    if (m->nheaders == ps->cap) {
        size_t ncap = ps->cap ? ps->cap * 2 : 16;
        cs_http_header *h = cs_arena_alloc(ps->a, ncap * sizeof *h);
        if (!h)
            return nomem(ps);
        if (m->nheaders)
            memcpy(h, m->headers, m->nheaders * sizeof *h);
        m->headers = h;
        ps->cap = ncap;
    }
    cs_http_header *h = &m->headers[m->nheaders];
    if (!(h->name = dup(ps, name, nlen)) ||
        !(h->value = build_value(ps, val, vlen, folded, &h->value_len)))
        return nomem(ps);
    h->name_len = nlen;
    m->nheaders++;
    return CS_OK;
}

/* One header field: line l plus any folded continuation lines after it.
 * *pos is moved past all of them. */
static cs_status parse_field(parser *ps, const line *l, size_t *pos)
{
    cs_http_msg *m = ps->m;
    const char *s = ps->p + l->start;
    size_t n = l->end - l->start;
    cs_status st;

    /* gather continuation lines (lenient only; strict rejects them below) */
    size_t vend = l->end;
    bool folded = false;
    line c = *l;
    while (c.has_lf && c.next < ps->n && is_sp(ps->p[c.next]) && !ps->strict) {
        line nx;
        if ((st = get_line(ps, c.next, &nx)))
            return st;
        if ((st = check_eol(ps, &nx)))
            return st;
        c = nx;
        vend = c.end;
        folded = true;
        m->quirks |= CS_HTTP_QUIRK_OBS_FOLD;
    }
    *pos = c.next;

    const char *colon = memchr(s, ':', n);
    size_t nlen = colon ? (size_t)(colon - s) : 0;
    if (ps->strict) {
        if (!colon || !all_tchar(s, nlen)) {
            seterr(ps->err, ps->errlen,
                   colon ? "offset %zu: bad header field name"
                         : "offset %zu: header line without a colon",
                   l->start);
            return CS_EFORMAT;
        }
        for (size_t k = nlen + 1; k < n; k++) {
            unsigned char ch = (unsigned char)s[k];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                seterr(ps->err, ps->errlen, "offset %zu: control character in header value",
                       l->start + k);
                return CS_EFORMAT;
            }
        }
    } else {
        size_t t = nlen;
        while (t && is_sp(s[t - 1]))
            t--;
        if (t != nlen)
            m->quirks |= CS_HTTP_QUIRK_NAME_SPACE;
        nlen = t;
        bool ctl = false;
        for (size_t k = 0; k < nlen && !ctl; k++)
            ctl = (unsigned char)s[k] < 0x20 || s[k] == 0x7f;
        if (!colon || nlen == 0 || ctl) {
            m->skipped++;
            m->quirks |= CS_HTTP_QUIRK_BAD_LINE;
            return CS_OK;
        }
    }
    const char *val = colon + 1;
    return add_header(ps, s, nlen, val, (size_t)(ps->p + vend - val), folded, l->start);
}

/* Lenient: "HTTP/..." in any case, or another protocol's version word
 * ("HTTPX/1.1", "ICY") followed by a 3-digit code. A request's method is a
 * token, which cannot hold '/', so the two never overlap. */
static bool looks_like_status_line(const char *s, size_t n)
{
    if (prefix_ieq(s, n, "HTTP/"))
        return true;
    size_t i = 0;
    while (i < n && !is_sp(s[i]))
        i++;
    if (!memchr(s, '/', i) && !(i == 3 && prefix_ieq(s, n, "ICY")))
        return false;
    while (i < n && is_sp(s[i]))
        i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i - d == 3 && (i == n || is_sp(s[i]));
}

cs_status cs_http_parse(const char *p, size_t n, cs_arena *a, unsigned flags, cs_http_msg *out,
                        char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->version = out->reason = out->method = out->target = "";
    out->body = (cs_slice){p, 0};
    if (err && errlen)
        err[0] = '\0';
    parser ps = {.p = p, .n = n, .lim = n < CS_HTTP_MAX_HEADER ? n : CS_HTTP_MAX_HEADER,
                 .flags = flags, .strict = (flags & CS_HTTP_STRICT) != 0, .a = a, .m = out,
                 .err = err, .errlen = errlen};
    cs_status st;
    line l;
    size_t pos = 0;

    if (n == 0) {
        seterr(err, errlen, "offset 0: empty HTTP message");
        return (flags & (CS_HTTP_STRICT | CS_HTTP_REQUIRE_END)) ? CS_ETRUNC : CS_EFORMAT;
    }
    /* start line, after any empty lines */
    for (;;) {
        if ((st = get_line(&ps, pos, &l)))
            return st;
        if (l.end > l.start || !l.has_lf)
            break;
        if (ps.strict) {
            seterr(err, errlen, "offset %zu: empty line before the start line", pos);
            return CS_EFORMAT;
        }
        out->quirks |= CS_HTTP_QUIRK_LEADING_EOL;
        pos = l.next;
    }
    if (l.end == l.start) {
        seterr(err, errlen, "offset %zu: no start line", l.start);
        return CS_EFORMAT;
    }
    if ((st = check_eol(&ps, &l)))
        return st;
    const char *s = p + l.start;
    size_t sn = l.end - l.start;
    if (ps.strict ? (sn >= 5 && memcmp(s, "HTTP/", 5) == 0) : looks_like_status_line(s, sn))
        st = parse_status_line(&ps, &l);
    else
        st = parse_request_line(&ps, &l);
    if (st)
        return st;
    pos = l.next;

    /* header fields up to the blank line */
    for (;;) {
        if (pos >= n) {
            /* no blank line: get_line already refused this in strict and
             * REQUIRE_END mode unless the input ends right after a LF */
            if (ps.strict || (flags & CS_HTTP_REQUIRE_END)) {
                seterr(err, errlen, "offset %zu: header block ends without a blank line", n);
                return CS_ETRUNC;
            }
            out->quirks |= CS_HTTP_QUIRK_NO_END;
            out->header_len = n;
            break;
        }
        if ((st = get_line(&ps, pos, &l)))
            return st;
        if ((st = check_eol(&ps, &l)))
            return st;
        if (l.end == l.start) {
            /* the blank line; without its LF only at the very end (lenient) */
            if (!l.has_lf)
                out->quirks |= CS_HTTP_QUIRK_NO_END;
            out->header_len = l.next;
            break;
        }
        if (is_sp(p[l.start])) {
            /* continuation line with no field before it */
            if (ps.strict) {
                seterr(err, errlen, "offset %zu: obsolete line folding", l.start);
                return CS_EFORMAT;
            }
            out->skipped++;
            out->quirks |= CS_HTTP_QUIRK_BAD_LINE;
            pos = l.next;
            continue;
        }
        if ((st = parse_field(&ps, &l, &pos)))
            return st;
    }
    out->body = (cs_slice){p + out->header_len, n - out->header_len};
    return CS_OK;
}

const char *cs_http_get(const cs_http_msg *m, const char *name)
{
    size_t k = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++) {
        const cs_http_header *h = &m->headers[i];
        if (h->name_len == k && cs_slice_ieq((cs_slice){h->name, h->name_len}, name))
            return h->value;
    }
    return NULL;
}

/* ---- streaming de-chunker -------------------------------------------------------- */

enum {
    DC_SIZE,        /* hex digits of a chunk size */
    DC_SIZE_WS,     /* blanks after the size */
    DC_EXT,         /* chunk extension, up to LF */
    DC_SIZE_LF,     /* LF after the size line's CR */
    DC_DATA,        /* chunk data */
    DC_DATA_CR,     /* CR after chunk data */
    DC_DATA_LF,     /* LF after chunk data */
    DC_TRAILER,     /* start of a trailer line (or the final blank line) */
    DC_TRAILER_LINE,/* inside a trailer field line */
    DC_TRAILER_LF,  /* LF of the final blank line */
    DC_DONE,
    DC_ERROR,
};

void cs_http_dechunk_init(cs_http_dechunk *d, unsigned flags)
{
    memset(d, 0, sizeof *d);
    d->state = DC_SIZE;
    d->strict = (flags & CS_HTTP_STRICT) != 0;
    d->error = "";
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void end_size_line(cs_http_dechunk *d)
{
    d->chunks++;
    d->digits = 0;
    d->state = d->left ? DC_DATA : DC_TRAILER;
}

/* The chunk-size line after its digits and after blanks that follow them:
 * more blanks, an extension, or the line end. Returns NULL, or what is wrong
 * with c. */
static const char *after_size(cs_http_dechunk *d, unsigned char c, size_t *i)
{
    if (is_sp((char)c)) {
        d->state = DC_SIZE_WS;
        ++*i;
    } else if (c == ';') {
        d->state = DC_EXT;
        ++*i;
    } else if (c == '\r') {
        d->state = DC_SIZE_LF;
        ++*i;
    } else if (c == '\n' && !d->strict) {
        ++*i;
        end_size_line(d);
    } else {
        return "bad character after the chunk size";
    }
    return NULL;
}

cs_status cs_http_dechunk_feed(cs_http_dechunk *d, const char **pp, size_t *pn, cs_slice *data)
{
    const char *p = *pp;
    size_t n = *pn, i = 0;
    const char *bad = NULL;
    *data = (cs_slice){p, 0};
    if (d->state == DC_ERROR)
        return CS_EFORMAT;
    while (i < n && d->state != DC_DONE && !bad) {
        if (d->state == DC_DATA) {
            size_t take = n - i;
            if (take > d->left)
                take = (size_t)d->left;
            *data = (cs_slice){p + i, take};
            i += take;
            d->left -= take;
            if (d->left == 0)
                d->state = DC_DATA_CR;
            break;
        }
        unsigned char c = (unsigned char)p[i];
        switch (d->state) {
        case DC_SIZE: {
            int h = hexval(c);
            if (h >= 0) {
                if (d->left > (UINT64_MAX >> 4))
                    bad = "chunk size too large";
                else {
                    d->left = d->left * 16 + (unsigned)h;
                    d->digits++;
                    i++;
                }
            } else if (d->digits == 0) {
                /* lenient: blanks before the size, stray line ends between chunks */
                if (!d->strict && (is_sp((char)c) || ((c == '\r' || c == '\n') && d->chunks)))
                    i++;
                else
                    bad = "expected a hexadecimal chunk size";
            } else {
                bad = after_size(d, c, &i);
            }
            break;
        }
        case DC_SIZE_WS:
            bad = after_size(d, c, &i);
            break;
        case DC_EXT: {
            const char *lf = memchr(p + i, '\n', n - i);
            if (!lf) {
                i = n;
            } else {
                i = (size_t)(lf - p) + 1;
                end_size_line(d);
            }
            break;
        }
        case DC_SIZE_LF:
            if (c == '\n') {
                i++;
                end_size_line(d);
            } else {
                bad = "expected LF after CR in chunk size line";
            }
            break;
        case DC_DATA_CR:
            if (c == '\r') {
                d->state = DC_DATA_LF;
                i++;
            } else if (d->strict) {
                bad = "expected CRLF after chunk data";
            } else if (c == '\n') {
                d->state = DC_SIZE;
                i++;
            } else {
                d->state = DC_SIZE; /* lenient: CRLF missing, read a size here */
            }
            break;
        case DC_DATA_LF:
            if (c == '\n') {
                d->state = DC_SIZE;
                i++;
            } else if (d->strict) {
                bad = "expected LF after chunk data";
            } else {
                d->state = DC_SIZE;
            }
            break;
        case DC_TRAILER:
            if (c == '\r') {
                d->state = DC_TRAILER_LF;
                i++;
            } else if (c == '\n' && !d->strict) {
                d->state = DC_DONE;
                i++;
            } else {
                d->state = DC_TRAILER_LINE;
            }
            break;
        case DC_TRAILER_LINE: {
            const char *lf = memchr(p + i, '\n', n - i);
            if (!lf) {
                i = n;
            } else {
                i = (size_t)(lf - p) + 1;
                d->state = DC_TRAILER;
            }
            break;
        }
        case DC_TRAILER_LF:
            if (c == '\n') {
                d->state = DC_DONE;
                i++;
            } else if (d->strict) {
                bad = "expected LF after CR at the end of the chunked body";
            } else {
                d->state = DC_TRAILER_LINE;
            }
            break;
        default:
            bad = "internal state";
            break;
        }
    }
    d->offset += i;
    *pp = p + i;
    *pn = n - i;
    if (bad) {
        d->state = DC_ERROR;
        d->error = bad;
        return CS_EFORMAT;
    }
    return d->state == DC_DONE ? CS_DONE : CS_OK;
}

cs_status cs_http_dechunk_finish(const cs_http_dechunk *d)
{
    return d->state == DC_DONE ? CS_OK : CS_ETRUNC;
}

/* ---- body decoding ------------------------------------------------------------- */

#define MAX_CODINGS 8

typedef struct codings {
    cs_slice v[MAX_CODINGS];
    size_t n;
    bool overflow;
} codings;

/* Appends the comma-separated codings of every field called name. */
static void collect(const cs_http_msg *m, const char *name, codings *c)
{
    for (size_t i = 0; i < m->nheaders; i++) {
        const cs_http_header *h = &m->headers[i];
        if (!cs_slice_ieq((cs_slice){h->name, h->name_len}, name))
            continue;
        const char *s = h->value, *end = h->value + h->value_len;
        while (s < end) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma ? comma : end;
            cs_slice t = cs_slice_trim((cs_slice){s, (size_t)(e - s)});
            /* drop parameters ("gzip;q=1" is not valid here, but seen) */
            const char *semi = memchr(t.ptr, ';', t.len);
            if (semi)
                t = cs_slice_trim((cs_slice){t.ptr, (size_t)(semi - t.ptr)});
            if (t.len) {
                if (c->n < MAX_CODINGS)
                    c->v[c->n++] = t;
                else
                    c->overflow = true;
            }
            s = e + 1;
        }
    }
}

static cs_status copy_bounded(cs_slice in, size_t max, cs_buf *dst, char *err, size_t errlen)
{
    if (in.len > max) {
        seterr(err, errlen, "decoded body larger than %zu bytes", max);
        return CS_ETOOBIG;
    }
    cs_status st = cs_buf_append(dst, in.ptr, in.len);
    if (st == CS_ETOOBIG)
        seterr(err, errlen, "decoded body larger than the output buffer allows");
    return st;
}

static cs_status dechunk(cs_slice in, unsigned flags, size_t max, cs_buf *dst, bool *passthrough,
                         char *err, size_t errlen)
{
    cs_http_dechunk d;
    cs_http_dechunk_init(&d, flags);
    const char *p = in.ptr;
    size_t n = in.len;
    cs_status st = CS_OK;
    size_t start = dst->len;
    *passthrough = false;
    while (n) {
        cs_slice data;
        st = cs_http_dechunk_feed(&d, &p, &n, &data);
        if (data.len) {
            if (data.len > max - (dst->len - start)) {
                seterr(err, errlen, "de-chunked body larger than %zu bytes", max);
                return CS_ETOOBIG;
            }
            cs_status st2 = cs_buf_append(dst, data.ptr, data.len);
            if (st2)
                return st2;
        }
        if (st == CS_DONE)
            break;
        if (st == CS_EFORMAT) {
            if (!(flags & CS_HTTP_STRICT) && d.chunks == 0) {
                /* Labelled chunked but not: the archiving tool stored the
                 * body de-chunked and kept the header. Use it as it is. */
                note(err, errlen, "body labelled chunked is not chunked: kept as is");
                *passthrough = true;
                return CS_OK;
            }
            seterr(err, errlen, "chunked body: offset %llu: %s", (unsigned long long)d.offset,
                   d.error);
            return CS_EFORMAT;
        }
    }
    if (cs_http_dechunk_finish(&d) != CS_OK) {
        if (flags & CS_HTTP_STRICT) {
            seterr(err, errlen, "chunked body: offset %llu: ends without the final chunk",
                   (unsigned long long)d.offset);
            return CS_ETRUNC;
        }
        note(err, errlen, "chunked body ends without the final chunk");
    }
    return CS_OK;
}

static void *br_alloc(void *opaque, size_t n)
{
    (void)opaque;
    return cs_malloc(n);
}

static void br_free(void *opaque, void *p)
{
    (void)opaque;
    cs_free(p);
}

static cs_status unbrotli(cs_slice in, size_t max, cs_buf *dst, char *err, size_t errlen)
{
    BrotliDecoderState *s = BrotliDecoderCreateInstance(br_alloc, br_free, NULL);
    if (!s)
        return CS_ENOMEM;
    const uint8_t *next_in = (const uint8_t *)in.ptr;
    size_t avail_in = in.len, start = dst->len;
    cs_status st;
    for (;;) {
        st = cs_buf_reserve(dst, 65536);
        if (st == CS_ETOOBIG)
            st = cs_buf_reserve(dst, 1);
        if (st) {
            if (st == CS_ETOOBIG)
                seterr(err, errlen, "br-decoded body larger than %zu bytes", max);
            break;
        }
        size_t produced = dst->len - start, room = dst->cap - dst->len;
        if (room > max - produced + 1)
            room = max - produced + 1;
        uint8_t *next_out = (uint8_t *)dst->data + dst->len;
        size_t avail_out = room;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
        dst->len += room - avail_out;
        dst->data[dst->len] = '\0';
        if (dst->len - start > max) {
            seterr(err, errlen, "br-decoded body larger than %zu bytes", max);
            st = CS_ETOOBIG;
            break;
        }
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            st = CS_OK;
            break;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            seterr(err, errlen, "br data ends early (after %zu input bytes)", in.len);
            st = CS_ETRUNC;
            break;
        }
        if (r == BROTLI_DECODER_RESULT_ERROR) {
            seterr(err, errlen, "corrupt br data at input byte %zu: %s",
                   (size_t)(next_in - (const uint8_t *)in.ptr),
                   BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s)));
            st = CS_EGZIP;
            break;
        }
        /* NEEDS_MORE_OUTPUT: go round */
    }
    BrotliDecoderDestroyInstance(s);
    return st;
}

static cs_status inflate_to(cs_inflate_fmt fmt, const char *what, cs_slice in, size_t max,
                            cs_buf *dst, char *err, size_t errlen)
{
    cs_status st = cs_inflate_buffer(fmt, in.ptr, in.len, max, dst);
    switch (st) {
    case CS_OK: break;
    case CS_ETOOBIG: seterr(err, errlen, "%s-decoded body larger than %zu bytes", what, max); break;
    case CS_ETRUNC: seterr(err, errlen, "%s data ends early (%zu input bytes)", what, in.len); break;
    case CS_EGZIP: seterr(err, errlen, "corrupt %s data in body", what); break;
    default: seterr(err, errlen, "%s: %s", what, cs_strerror(st)); break;
    }
    return st;
}

typedef enum step_kind { STEP_DECHUNK, STEP_GZIP, STEP_DEFLATE, STEP_BR } step_kind;

cs_status cs_http_decode_body(const cs_http_msg *m, unsigned flags, size_t max, cs_buf *out,
                              char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (max == 0)
        max = CS_HTTP_DEFAULT_MAX_BODY;
    if (max > SIZE_MAX / 2)
        max = SIZE_MAX / 2;
    bool strict = (flags & CS_HTTP_STRICT) != 0;
    cs_buf_reset(out);

    /* The sender applied content codings in order, then transfer codings in
     * order (chunked last); undo them back to front. */
    codings ce = {0}, te = {0};
    collect(m, "Transfer-Encoding", &te);
    collect(m, "Content-Encoding", &ce);
    step_kind steps[2 * MAX_CODINGS + 1];
    size_t nsteps = 0;
    if (ce.overflow || te.overflow) {
        seterr(err, errlen, "more than %d content or transfer codings", MAX_CODINGS);
        return CS_EUNSUPPORTED;
    }
    for (size_t pass = 0; pass < 2; pass++) {
        codings *c = pass == 0 ? &te : &ce;
        for (size_t k = c->n; k-- > 0;) {
            cs_slice t = c->v[k];
            if (cs_slice_ieq(t, "chunked")) {
                if (pass == 0 && (flags & CS_HTTP_DECHUNK))
                    steps[nsteps++] = STEP_DECHUNK;
                continue;
            }
            if (!(flags & CS_HTTP_DECODE) || cs_slice_ieq(t, "identity"))
                continue;
            if (cs_slice_ieq(t, "gzip") || cs_slice_ieq(t, "x-gzip"))
                steps[nsteps++] = STEP_GZIP;
            else if (cs_slice_ieq(t, "deflate"))
                steps[nsteps++] = STEP_DEFLATE;
            else if (cs_slice_ieq(t, "br"))
                steps[nsteps++] = STEP_BR;
            else if (m->body.len == 0)
                continue; /* nothing to decode anyway */
            else {
                seterr(err, errlen, "unsupported %s coding '%.*s'",
                       pass == 0 ? "transfer" : "content", (int)(t.len > 40 ? 40 : t.len), t.ptr);
                return CS_EUNSUPPORTED;
            }
        }
    }
    /* The chunked step must come first even when a sender listed it
     * elsewhere (lenient). */
    for (size_t k = 1; k < nsteps; k++)
        if (steps[k] == STEP_DECHUNK) {
            memmove(steps + 1, steps, k * sizeof *steps);
            steps[0] = STEP_DECHUNK;
        }

    size_t omax = out->max;
    if (out->max > max + 1)
        out->max = max + 1; /* room for one byte past max: that is how bombs show */
    cs_buf tmp[2];
    cs_buf_init(&tmp[0], max + 1);
    cs_buf_init(&tmp[1], max + 1);
    cs_slice cur = m->body;
    cs_status st = CS_OK, trunc = CS_OK;
    if (nsteps == 0 || cur.len == 0) {
        st = copy_bounded(cur, max, out, err, errlen);
        goto done;
    }
    for (size_t k = 0; k < nsteps; k++) {
        cs_buf *dst = k + 1 == nsteps ? out : &tmp[k % 2];
        cs_buf_reset(dst);
        bool passthrough = false;
        switch (steps[k]) {
        case STEP_DECHUNK:
            st = dechunk(cur, flags, max, dst, &passthrough, err, errlen);
            break;
        case STEP_GZIP:
            if (cur.len && !cs_gzip_magic((const uint8_t *)cur.ptr, cur.len)) {
                if (strict) {
                    seterr(err, errlen, "body labelled gzip does not start with the gzip magic");
                    st = CS_EGZIP;
                    break;
                }
                /* Stored decoded with the header kept (ClueWeb09 does this). */
                note(err, errlen, "body labelled gzip is not gzip-compressed: kept as is");
                passthrough = true;
                break;
            }
            st = inflate_to(CS_INFLATE_GZIP, "gzip", cur, max, dst, err, errlen);
            break;
        case STEP_DEFLATE:
            /* zlib-wrapped per RFC 9110, raw deflate in practice: sniffed */
            st = inflate_to(CS_INFLATE_ZLIB, "deflate", cur, max, dst, err, errlen);
            break;
        case STEP_BR:
            st = unbrotli(cur, max, dst, err, errlen);
            break;
        }
        if (st == CS_ETRUNC && !trunc) {
            trunc = st; /* keep decoding what we have; report at the end */
            st = CS_OK;
        }
        if (st)
            goto done;
        if (passthrough) {
            cs_buf_reset(dst);
            if ((st = copy_bounded(cur, max, dst, err, errlen)))
                goto done;
        }
        cur = (cs_slice){dst->data ? dst->data : "", dst->len};
        if (cur.len == 0 && k + 1 < nsteps) {
            cs_buf_reset(out);
            break;
        }
    }
    st = trunc;
done:
    cs_buf_cleanup(&tmp[0]);
    cs_buf_cleanup(&tmp[1]);
    out->max = omax;
    if (st && st != CS_ETRUNC)
        cs_buf_reset(out);
    return st;
}
