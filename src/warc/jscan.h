/* jscan.h - private pull scanner for JSON documents held in memory, made for
 * walking a few known paths of large WAT records and skipping the rest
 * fast. jscan.c says why it exists instead of the JSON library.
 *
 * Usage: cs__js_init(), then cs__js_enter_object() / cs__js_next_key() /
 * cs__js_enter_array() / cs__js_next_elem() to navigate, cs__js_string() to
 * read a string value, cs__js_skip() for any value of no interest, and
 * cs__js_finish() at the end. Every call returns false (or -1) once an error
 * is recorded; js->err and js->err_off say what and where. The whole grammar
 * of RFC 8259 is checked, skipped parts included, except that bytes >= 0x80
 * are not checked for UTF-8 validity (whoever writes a value out does that).
 *
 * The navigation calls are inline here: they run a few times per link in a
 * WAT record, and a call across translation units would cost more than the
 * work. The cold and bulky parts (skip, numbers, errors, unescape) live in
 * jscan.c. */
#ifndef CS_WARC_JSCAN_H
#define CS_WARC_JSCAN_H

#include <string.h>

#include "crawlset/util.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define CS_JS_DEFAULT_DEPTH 512
#define CS_JS_MAX_DEPTH 4096 /* hard ceiling for the depth limit */

typedef struct cs_jscan {
    const char *start;  /* first byte of the document */
    const char *p;      /* cursor */
    const char *end;    /* one past the last byte */
    unsigned depth;     /* containers open along the navigated path */
    unsigned max_depth; /* nesting limit, <= CS_JS_MAX_DEPTH */
    bool first;         /* just entered a container: no ',' expected */
    cs_status st;       /* CS_OK, or the error class (EFORMAT, ETRUNC, ETOOBIG) */
    const char *err;    /* static description of the error; NULL while none */
    size_t err_off;     /* byte offset of the error in the document */
} cs_jscan;

/* A string as written between the quotes: still escaped when escaped. */
typedef struct cs_jstr {
    const char *ptr;
    size_t len;
    bool escaped; /* contains at least one backslash escape */
} cs_jstr;

/* Kinds of value, from their first byte. */
enum {
    CS_JS_EOF = 0,
    CS_JS_OBJECT = '{',
    CS_JS_ARRAY = '[',
    CS_JS_STRING = '"',
    CS_JS_OTHER = '0', /* number, true, false, null, or junk (reported by skip) */
};

void cs__js_init(cs_jscan *js, const char *p, size_t n, unsigned max_depth);
/* Records the first error (later ones are ignored); returns false. st is
 * CS_EFORMAT, CS_ETRUNC (input ended early) or CS_ETOOBIG (too deep). */
bool cs__js_fail(cs_jscan *js, const char *at, cs_status st, const char *what);
/* Skips one value of any kind, checking its grammar. */
bool cs__js_skip(cs_jscan *js);
/* Checks that only whitespace is left. */
bool cs__js_finish(cs_jscan *js);
/* Slow path of string scanning: from p (just after the opening quote or at
 * a backslash) to the closing quote, validating escapes. */
bool cs__js_string_slow(cs_jscan *js, const char *p, cs_jstr *out);

/* Decodes the escapes of a raw string (as validated by the scanner) into
 * out, which needs room for len bytes (decoding never grows). \uXXXX
 * becomes UTF-8, surrogate pairs are joined, lone surrogates become U+FFFD.
 * Returns the decoded length; out is not NUL-terminated. */
size_t cs__js_unescape(const char *raw, size_t len, char *out);
/* True when the string equals lit[0..n) after unescaping. */
bool cs__js_str_is_slow(const cs_jstr *s, const char *lit, size_t n);

static inline bool cs__js_str_is(const cs_jstr *s, const char *lit, size_t n)
{
    if (!s->escaped)
        return s->len == n && memcmp(s->ptr, lit, n) == 0;
    return cs__js_str_is_slow(s, lit, n);
}
#define CS_JS_IS(s, lit) cs__js_str_is((s), lit, sizeof(lit) - 1)

static inline bool cs__js_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline void cs__js_skip_ws(cs_jscan *js)
{
    const char *p = js->p;
    while (p < js->end && cs__js_ws((unsigned char)*p))
        p++;
    js->p = p;
}

/* First byte in [p, end) that is '"', '\\' or a control character < 0x20,
 * or end. The hot loop of the whole scanner. */
static inline const char *cs__js_scan_str(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1F);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20)
            return p;
        p++;
    }
    return end;
}

/* Reads the string whose opening quote is at js->p. */
static inline bool cs__js_string_at(cs_jscan *js, cs_jstr *out)
{
    const char *s = js->p + 1;
    const char *q = cs__js_scan_str(s, js->end);
    if (q < js->end && *q == '"') {
        out->ptr = s;
        out->len = (size_t)(q - s);
        out->escaped = false;
        js->p = q + 1;
        return true;
    }
    return cs__js_string_slow(js, q, out);
}

static inline int cs__js_peek(cs_jscan *js)
{
    if (js->err)
        return CS_JS_EOF;
    cs__js_skip_ws(js);
    if (js->p >= js->end)
        return CS_JS_EOF;
    char c = *js->p;
    return (c == '{' || c == '[' || c == '"') ? c : CS_JS_OTHER;
}

/* Reads a string value; the next value must be a string. */
static inline bool cs__js_string(cs_jscan *js, cs_jstr *out /* OUT */)
{
    if (cs__js_peek(js) != CS_JS_STRING)
        return cs__js_fail(js, js->p, js->p < js->end ? CS_EFORMAT : CS_ETRUNC,
                           "expected a string");
    return cs__js_string_at(js, out);
}

static inline bool cs__js_enter(cs_jscan *js, char open)
{
    if (js->err)
        return false;
    cs__js_skip_ws(js);
    if (js->p >= js->end)
        return cs__js_fail(js, js->p, CS_ETRUNC, "unexpected end of input");
    if (*js->p != open)
        return cs__js_fail(js, js->p, CS_EFORMAT,
                           open == '{' ? "expected an object" : "expected an array");
    if (js->depth >= js->max_depth)
        return cs__js_fail(js, js->p, CS_ETOOBIG, "nesting too deep");
    js->depth++;
    js->p++;
    js->first = true;
    return true;
}

static inline bool cs__js_enter_object(cs_jscan *js) { return cs__js_enter(js, '{'); }
static inline bool cs__js_enter_array(cs_jscan *js) { return cs__js_enter(js, '['); }

/* 1: a member follows, *key is its name and the cursor is at its value;
 * 0: the object ended ('}' consumed); -1: error. */
static inline int cs__js_next_key(cs_jscan *js, cs_jstr *key /* OUT */)
{
    if (js->err)
        return -1;
    cs__js_skip_ws(js);
    if (js->p >= js->end)
        goto trunc;
    bool first = js->first;
    js->first = false;
    if (*js->p == '}') {
        js->p++;
        js->depth--;
        return 0;
    }
    if (!first) {
        if (*js->p != ',') {
            cs__js_fail(js, js->p, CS_EFORMAT, "expected ',' or '}' in object");
            return -1;
        }
        js->p++;
        cs__js_skip_ws(js);
        if (js->p >= js->end)
            goto trunc;
    }
    if (*js->p != '"') {
        cs__js_fail(js, js->p, CS_EFORMAT, "expected a string as object key");
        return -1;
    }
    if (!cs__js_string_at(js, key))
        return -1;
    cs__js_skip_ws(js);
    if (js->p >= js->end)
        goto trunc;
    if (*js->p != ':') {
        cs__js_fail(js, js->p, CS_EFORMAT, "expected ':' after object key");
        return -1;
    }
    js->p++;
    return 1;
trunc:
    cs__js_fail(js, js->p, CS_ETRUNC, "unexpected end of input in object");
    return -1;
}

/* 1: an element follows (cursor at it); 0: the array ended; -1: error. */
static inline int cs__js_next_elem(cs_jscan *js)
{
    if (js->err)
        return -1;
    cs__js_skip_ws(js);
    if (js->p >= js->end) {
        cs__js_fail(js, js->p, CS_ETRUNC, "unexpected end of input in array");
        return -1;
    }
    bool first = js->first;
    js->first = false;
    if (*js->p == ']') {
        js->p++;
        js->depth--;
        return 0;
    }
    if (!first) {
        if (*js->p != ',') {
            cs__js_fail(js, js->p, CS_EFORMAT, "expected ',' or ']' in array");
            return -1;
        }
        js->p++;
    }
    return 1;
}

#endif
