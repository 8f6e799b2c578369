/* jscan.c - the cold half of the private JSON pull scanner (jscan.h):
 * skipping values, strings with escapes, numbers, errors and unescaping.
 *
 * Why hand-written and not the JSON library (jansson, used elsewhere for
 * configuration-sized documents): `crawlset wat links` must keep up with
 * inflating the WAT file, i.e. spend a few nanoseconds per byte of JSON.
 * jansson builds a DOM with a hash table per object and a heap string per
 * value for every record, most of which (Container, HTTP headers, Metas,
 * Scripts) we never look at; no faster C parser (yyjson, simdjson is C++)
 * is packaged in Debian. This scanner does not build anything: it walks the
 * few paths we want, skips the rest with a 16-byte SIMD search for quotes
 * and backslashes, validates the grammar on the way, and unescapes only the
 * strings that are output. Its results are cross-checked against jansson
 * by tests/warc/test_wat.c and by fuzz/fuzz_wat.c. */
#include "warc/jscan.h"

void cs__js_init(cs_jscan *js, const char *p, size_t n, unsigned max_depth)
{
    js->start = js->p = p;
    js->end = p + n;
    js->depth = 0;
    if (max_depth == 0)
        max_depth = CS_JS_DEFAULT_DEPTH;
    js->max_depth = max_depth > CS_JS_MAX_DEPTH ? CS_JS_MAX_DEPTH : max_depth;
    js->first = false;
    js->st = CS_OK;
    js->err = NULL;
    js->err_off = 0;
}

bool cs__js_fail(cs_jscan *js, const char *at, cs_status st, const char *what)
{
    if (!js->err) {
        js->err = what;
        js->st = st;
        if (at < js->start)
            at = js->start;
        if (at > js->end)
            at = js->end;
        js->err_off = (size_t)(at - js->start);
    }
    return false;
}

static inline bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Validates the escape at q (q[0] == '\\'); returns the byte after it, or
 * NULL after recording an error. */
static const char *check_escape(cs_jscan *js, const char *q)
{
    const char *end = js->end;
    if (end - q < 2)
        return cs__js_fail(js, q, CS_ETRUNC, "unexpected end of input in string"), NULL;
    switch (q[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return q + 2;
    case 'u':
        for (int k = 2; k < 6; k++) {
            if (q + k >= end)
                return cs__js_fail(js, q, CS_ETRUNC, "unexpected end of input in string"), NULL;
            if (!is_hex((unsigned char)q[k]))
                return cs__js_fail(js, q, CS_EFORMAT, "invalid \\u escape in string"), NULL;
        }
        return q + 6;
    default:
        return cs__js_fail(js, q, CS_EFORMAT, "invalid escape in string"), NULL;
    }
}

/* Finishes a string from q, the first special byte after the opening quote
 * at `open`. Returns the byte after the closing quote or NULL on error. */
static const char *finish_string(cs_jscan *js, const char *open, const char *q, bool *escaped)
{
    const char *end = js->end;
    for (;;) {
        if (q >= end)
            return cs__js_fail(js, open, CS_ETRUNC, "unterminated string"), NULL;
        unsigned char c = (unsigned char)*q;
        if (c == '"')
            return q + 1;
        if (c == '\\') {
            *escaped = true;
            if (!(q = check_escape(js, q)))
                return NULL;
        } else {
            return cs__js_fail(js, q, CS_EFORMAT, "control character in string"), NULL;
        }
        q = cs__js_scan_str(q, end);
    }
}

bool cs__js_string_slow(cs_jscan *js, const char *q, cs_jstr *out)
{
    const char *open = js->p;
    bool escaped = false;
    const char *after = finish_string(js, open, q, &escaped);
    if (!after)
        return false;
    out->ptr = open + 1;
    out->len = (size_t)(after - 1 - (open + 1));
    out->escaped = escaped;
    js->p = after;
    return true;
}

static const char *skip_number(cs_jscan *js, const char *p)
{
    const char *end = js->end, *s = p;
    if (*p == '-')
        p++;
    if (p >= end)
        return cs__js_fail(js, s, CS_ETRUNC, "unexpected end of input in number"), NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return cs__js_fail(js, s, CS_EFORMAT, "invalid number"), NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return cs__js_fail(js, s, p >= end ? CS_ETRUNC : CS_EFORMAT, "invalid number"), NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return cs__js_fail(js, s, p >= end ? CS_ETRUNC : CS_EFORMAT, "invalid number"), NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *skip_literal(cs_jscan *js, const char *p, const char *lit, size_t n)
{
    size_t have = (size_t)(js->end - p);
    if (have >= n && memcmp(p, lit, n) == 0)
        return p + n;
    if (have < n && memcmp(p, lit, have) == 0)
        return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input"), NULL;
    return cs__js_fail(js, p, CS_EFORMAT, "invalid literal (expected a value)"), NULL;
}

bool cs__js_skip(cs_jscan *js)
{
    if (js->err)
        return false;
    const char *p = js->p, *end = js->end;
    uint64_t stack[CS_JS_MAX_DEPTH / 64]; /* bit set: open container is an object */
    unsigned d = 0;
    unsigned limit = js->max_depth > js->depth ? js->max_depth - js->depth : 0;
    bool escaped;

value:
    while (p < end && cs__js_ws((unsigned char)*p))
        p++;
    if (p >= end)
        return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input (expected a value)");
    switch (*p) {
    case '"': {
        const char *open = p;
        p = cs__js_scan_str(p + 1, end);
        if (p >= end || *p != '"') {
            if (!(p = finish_string(js, open, p, &escaped)))
                return false;
        } else {
            p++;
        }
        goto after;
    }
    case '{':
        if (d >= limit)
            return cs__js_fail(js, p, CS_ETOOBIG, "nesting too deep");
        stack[d >> 6] |= (uint64_t)1 << (d & 63);
        d++;
        p++;
        while (p < end && cs__js_ws((unsigned char)*p))
            p++;
        if (p >= end)
            return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input in object");
        if (*p == '}') {
            p++;
            d--;
            goto after;
        }
        goto key;
    case '[':
        if (d >= limit)
            return cs__js_fail(js, p, CS_ETOOBIG, "nesting too deep");
        stack[d >> 6] &= ~((uint64_t)1 << (d & 63));
        d++;
        p++;
        while (p < end && cs__js_ws((unsigned char)*p))
            p++;
        if (p >= end)
            return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input in array");
        if (*p == ']') {
            p++;
            d--;
            goto after;
        }
        goto value;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (!(p = skip_number(js, p)))
            return false;
        goto after;
    case 't':
        if (!(p = skip_literal(js, p, "true", 4)))
            return false;
        goto after;
    case 'f':
        if (!(p = skip_literal(js, p, "false", 5)))
            return false;
        goto after;
    case 'n':
        if (!(p = skip_literal(js, p, "null", 4)))
            return false;
        goto after;
    default:
        return cs__js_fail(js, p, CS_EFORMAT, "expected a value");
    }

key:
    if (*p != '"')
        return cs__js_fail(js, p, CS_EFORMAT, "expected a string as object key");
    {
        const char *open = p;
        p = cs__js_scan_str(p + 1, end);
        if (p >= end || *p != '"') {
            if (!(p = finish_string(js, open, p, &escaped)))
                return false;
        } else {
            p++;
        }
    }
    while (p < end && cs__js_ws((unsigned char)*p))
        p++;
    if (p >= end)
        return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input in object");
    if (*p != ':')
        return cs__js_fail(js, p, CS_EFORMAT, "expected ':' after object key");
    p++;
    goto value;

after:
    if (d == 0) {
        js->p = p;
        return true;
    }
    while (p < end && cs__js_ws((unsigned char)*p))
        p++;
    if (p >= end)
        return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input in container");
    {
        bool is_obj = (stack[(d - 1) >> 6] >> ((d - 1) & 63)) & 1;
        char c = *p;
        if (c == ',') {
            p++;
            if (!is_obj)
                goto value;
            while (p < end && cs__js_ws((unsigned char)*p))
                p++;
            if (p >= end)
                return cs__js_fail(js, p, CS_ETRUNC, "unexpected end of input in object");
            goto key;
        }
        if ((c == '}' && is_obj) || (c == ']' && !is_obj)) {
            p++;
            d--;
            goto after;
        }
        return cs__js_fail(js, p, CS_EFORMAT,
                           is_obj ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
    }
}

bool cs__js_finish(cs_jscan *js)
{
    if (js->err)
        return false;
    cs__js_skip_ws(js);
    if (js->p != js->end)
        return cs__js_fail(js, js->p, CS_EFORMAT, "unexpected data after the JSON document");
    return true;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else
            v |= (c | 0x20) - 'a' + 10;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static inline bool is_u_escape(const char *raw, size_t i, size_t len)
{
    if (len - i < 6 || raw[i] != '\\' || raw[i + 1] != 'u')
        return false;
    for (int k = 2; k < 6; k++)
        if (!is_hex((unsigned char)raw[i + k]))
            return false;
    return true;
}

size_t cs__js_unescape(const char *raw, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        const char *bs = memchr(raw + i, '\\', len - i);
        size_t run = bs ? (size_t)(bs - (raw + i)) : len - i;
        memcpy(out + o, raw + i, run);
        o += run;
        i += run;
        if (i >= len)
            break;
        if (i + 1 >= len) { /* a lone trailing backslash: cannot come from the scanner */
            out[o++] = '\\';
            break;
        }
        char e = raw[i + 1];
        switch (e) {
        case 'b': out[o++] = '\b'; i += 2; break;
        case 'f': out[o++] = '\f'; i += 2; break;
        case 'n': out[o++] = '\n'; i += 2; break;
        case 'r': out[o++] = '\r'; i += 2; break;
        case 't': out[o++] = '\t'; i += 2; break;
        case 'u':
            if (is_u_escape(raw, i, len)) {
                unsigned cp = hex4(raw + i + 2);
                i += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (is_u_escape(raw, i, len)) {
                        unsigned lo = hex4(raw + i + 2);
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            i += 6;
                        } else {
                            cp = 0xFFFD;
                        }
                    } else {
                        cp = 0xFFFD;
                    }
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                o += put_utf8(out + o, cp);
                break;
            }
            out[o++] = e; /* malformed: cannot come from the scanner */
            i += 2;
            break;
        default: /* '"', '\\', '/', or anything the scanner would have refused */
            out[o++] = e;
            i += 2;
            break;
        }
    }
    return o;
}

bool cs__js_str_is_slow(const cs_jstr *s, const char *lit, size_t n)
{
    char buf[512];
    /* an escape is at most 6 bytes per decoded byte */
    if (s->len > 6 * n || s->len > sizeof buf)
        return false;
    size_t m = cs__js_unescape(s->ptr, s->len, buf);
    return m == n && memcmp(buf, lit, n) == 0;
}
