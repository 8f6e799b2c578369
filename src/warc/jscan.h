/* jscan.h - private pull scanner for JSON documents held in memory, made for
 * walking a few known paths of large WAT records and skipping the rest
 * fast. jscan.c says why it exists instead of the JSON library.
 *
 * How it works: the document is classified 64 bytes at a time with SIMD
 * compares into bitmasks (as simdjson's stage 1 does): quotes not escaped by
 * an odd run of backslashes, the bytes inside strings (a prefix XOR of the
 * quotes), and from those the "tokens": every opening quote, every {}[]:,
 * outside strings, and the first byte of every run of other non-space bytes
 * outside strings (numbers, literals, junk). The navigation calls then pop
 * token positions off the masks, so skipping a string of any length costs
 * one token, and whitespace costs nothing. The closing quote of a string
 * that is read is found from the token after it: only whitespace can lie
 * between them. Control characters inside strings and
 * invalid escapes are found per block and reported when the cursor reaches
 * them, so the first error in document order is the one reported.
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
 * work. Block classification, skipping, scalars, errors and unescaping live
 * in jscan.c. */
#ifndef CS_WARC_JSCAN_H
#define CS_WARC_JSCAN_H

#include <string.h>

#include "crawlset/util.h"

#define CS_JS_DEFAULT_DEPTH 512
#define CS_JS_MAX_DEPTH 4096 /* hard ceiling for the depth limit */
#define CS_JS_NONE ((size_t)-1)

typedef struct cs_jscan {
    const char *start;     /* first byte of the document */
    size_t len;            /* its length */
    size_t blk;            /* offset of the block the token bits belong to */
    size_t next_blk;       /* offset of the next block to classify */
    uint64_t toks;         /* token bits of the current block not yet consumed */
    uint64_t bs;           /* backslash bits of the current block */
    size_t last_bs;        /* position of the last backslash before the current
                              block (0: none that matters) */
    uint64_t in_str_carry; /* all ones when the last block ended inside a string */
    uint64_t esc_carry;    /* 1 when the next block's first byte is escaped */
    uint64_t scalar_carry; /* 1 when the last block ended inside a scalar run */
    size_t perr_pos;       /* first string error found ahead of the cursor, or NONE */
    const char *perr_msg;  /* ... its description */
    cs_status perr_st;     /* ... and class */
    unsigned depth;        /* containers open along the navigated path */
    unsigned max_depth;    /* nesting limit, <= CS_JS_MAX_DEPTH */
    bool first;            /* just entered a container: no ',' expected */
    cs_status st;          /* CS_OK, or the error class (EFORMAT, ETRUNC, ETOOBIG) */
    const char *err;       /* static description of the error; NULL while none */
    size_t err_off;        /* byte offset of the error in the document */
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
bool cs__js_fail(cs_jscan *js, size_t at, cs_status st, const char *what);
/* Classifies the next block into js->toks; false at the end of input (or
 * when a pending error was raised). */
bool cs__js_fill(cs_jscan *js);
/* Raises the pending string error (always returns false). */
bool cs__js_raise_pending(cs_jscan *js);
/* Skips one value of any kind, checking its grammar. */
bool cs__js_skip(cs_jscan *js);
/* A set of up to 32 object keys, prepared for fast matching. */
typedef struct cs_jkeys {
    unsigned n;
    const char *const *names; /* borrowed */
    uint16_t lens[32];
    uint64_t words[32];       /* first 8 bytes, zero padded */
} cs_jkeys;
void cs__js_keys_init(cs_jkeys *k, const char *const *names, unsigned n);

/* Where a string lies in the document: the bytes between its quotes. */
typedef struct cs_jspan {
    uint32_t off, len;
} cs_jspan;

/* Reads the object that is the next value. For each member whose key is
 * keys->names[i] (after unescaping) and whose value is a string, spans[i]
 * gets where its raw bytes are, bit i of *present is set, and bit i of
 * *escaped says whether it holds escapes; a later duplicate replaces an
 * earlier one, and a value of another type clears the bit and sets bit i of
 * *wrong. Other members are skipped. The fast path for flat objects such as
 * WAT link entries; spans[i] is untouched unless bit i of *present is set.
 * The document must be shorter than 4 GiB. */
bool cs__js_object_strings(cs_jscan *js, const cs_jkeys *keys, cs_jspan *spans,
                           uint32_t *present, uint32_t *escaped, uint32_t *wrong);
/* Checks that nothing but whitespace is left. */
bool cs__js_finish(cs_jscan *js);

/* Decodes the escapes of a raw string (as validated by the scanner) into
 * out, which needs room for len bytes (decoding never grows). \uXXXX
 * becomes UTF-8, surrogate pairs are joined, lone surrogates become U+FFFD.
 * Returns the decoded length; out is not NUL-terminated. */
size_t cs__js_unescape(const char *raw, size_t len, char *out);
/* True when the string equals lit[0..n) after unescaping. */
bool cs__js_str_is_slow(const cs_jstr *s, const char *lit, size_t n);

static inline bool cs__js_str_is(const cs_jstr *s, const char *lit, size_t n)
{
    if (s->len == n && memcmp(s->ptr, lit, n) == 0)
        return true;
    return s->escaped && cs__js_str_is_slow(s, lit, n);
}
#define CS_JS_IS(s, lit) cs__js_str_is((s), lit, sizeof(lit) - 1)

/* Position of the next token, or CS_JS_NONE at the end of input or once an
 * error is recorded. Does not consume it. (A pending string error masks the
 * tokens after it, and the next fill raises it.) */
static inline size_t cs__js_tok(cs_jscan *js)
{
    while (js->toks == 0)
        if (!cs__js_fill(js))
            return CS_JS_NONE;
    return js->blk + (size_t)__builtin_ctzll(js->toks);
}

static inline void cs__js_pop(cs_jscan *js) { js->toks &= js->toks - 1; }

/* Reports a missing token: truncation, unless an error is already set. */
static inline bool cs__js_eof(cs_jscan *js, const char *what)
{
    if (js->in_str_carry)
        what = "unexpected end of input in a string";
    return cs__js_fail(js, js->len, CS_ETRUNC, what);
}

/* Whether the string between quotes at open and close holds a backslash;
 * close must lie before the current block's end. */
static inline bool cs__js_has_bs(const cs_jscan *js, size_t open, size_t close)
{
    if (js->last_bs > open)
        return true; /* only string bytes lie between open and the block */
    size_t from = open + 1 > js->blk ? open + 1 : js->blk;
    if (close <= from)
        return false;
    unsigned lo = (unsigned)(from - js->blk), hi = (unsigned)(close - js->blk);
    uint64_t below_hi = hi >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    return (js->bs & below_hi & ~(((uint64_t)1 << lo) - 1)) != 0;
}

/* The closing quote of a string, from the position of the token after it:
 * the last non-whitespace byte before that token. */
static inline size_t cs__js_close_before(const cs_jscan *js, size_t next)
{
    const char *s = js->start;
    size_t c = next - 1;
    while (s[c] != '"') /* only ' ', TAB, LF, CR can be in between */
        c--;
    return c;
}

/* Reads the string whose opening quote is the next token (at pos). The
 * cursor is left at the token after the string. */
static inline bool cs__js_string_at(cs_jscan *js, size_t pos, cs_jstr *out)
{
    cs__js_pop(js);
    size_t next = cs__js_tok(js);
    if (next == CS_JS_NONE)
        return cs__js_eof(js, "unexpected end of input after a string");
    size_t close = cs__js_close_before(js, next);
    out->ptr = js->start + pos + 1;
    out->len = close - pos - 1;
    out->escaped = cs__js_has_bs(js, pos, close);
    return true;
}

/* Kind of the next value; CS_JS_EOF at end of input or after an error. */
static inline int cs__js_peek(cs_jscan *js)
{
    size_t pos = cs__js_tok(js);
    if (pos == CS_JS_NONE)
        return CS_JS_EOF;
    char c = js->start[pos];
    return (c == '{' || c == '[' || c == '"') ? c : CS_JS_OTHER;
}

/* Reads a string value; the next value must be a string. */
static inline bool cs__js_string(cs_jscan *js, cs_jstr *out /* OUT */)
{
    size_t pos = cs__js_tok(js);
    if (pos == CS_JS_NONE)
        return cs__js_eof(js, "unexpected end of input (expected a string)");
    if (js->start[pos] != '"')
        return cs__js_fail(js, pos, CS_EFORMAT, "expected a string");
    return cs__js_string_at(js, pos, out);
}

static inline bool cs__js_enter(cs_jscan *js, char open)
{
    size_t pos = cs__js_tok(js);
    if (pos == CS_JS_NONE)
        return cs__js_eof(js, "unexpected end of input");
    if (js->start[pos] != open)
        return cs__js_fail(js, pos, CS_EFORMAT,
                           open == '{' ? "expected an object" : "expected an array");
    if (js->depth >= js->max_depth)
        return cs__js_fail(js, pos, CS_ETOOBIG, "nesting too deep");
    cs__js_pop(js);
    js->depth++;
    js->first = true;
    return true;
}

static inline bool cs__js_enter_object(cs_jscan *js) { return cs__js_enter(js, '{'); }
static inline bool cs__js_enter_array(cs_jscan *js) { return cs__js_enter(js, '['); }

/* 1: a member follows, *key is its name and the cursor is at its value;
 * 0: the object ended ('}' consumed); -1: error. */
static inline int cs__js_next_key(cs_jscan *js, cs_jstr *key /* OUT */)
{
    size_t pos = cs__js_tok(js);
    if (pos == CS_JS_NONE)
        goto trunc;
    bool first = js->first;
    js->first = false;
    char c = js->start[pos];
    if (c == '}') {
        cs__js_pop(js);
        js->depth--;
        return 0;
    }
    if (!first) {
        if (c != ',') {
            cs__js_fail(js, pos, CS_EFORMAT, "expected ',' or '}' in object");
            return -1;
        }
        cs__js_pop(js);
        if ((pos = cs__js_tok(js)) == CS_JS_NONE)
            goto trunc;
        c = js->start[pos];
    }
    if (c != '"') {
        cs__js_fail(js, pos, CS_EFORMAT, "expected a string as object key");
        return -1;
    }
    if (!cs__js_string_at(js, pos, key))
        return -1;
    if ((pos = cs__js_tok(js)) == CS_JS_NONE)
        goto trunc;
    if (js->start[pos] != ':') {
        cs__js_fail(js, pos, CS_EFORMAT, "expected ':' after object key");
        return -1;
    }
    cs__js_pop(js);
    return 1;
trunc:
    cs__js_eof(js, "unexpected end of input in object");
    return -1;
}

/* 1: an element follows (cursor at it); 0: the array ended; -1: error. */
static inline int cs__js_next_elem(cs_jscan *js)
{
    size_t pos = cs__js_tok(js);
    if (pos == CS_JS_NONE) {
        cs__js_eof(js, "unexpected end of input in array");
        return -1;
    }
    bool first = js->first;
    js->first = false;
    char c = js->start[pos];
    if (c == ']') {
        cs__js_pop(js);
        js->depth--;
        return 0;
    }
    if (!first) {
        if (c != ',') {
            cs__js_fail(js, pos, CS_EFORMAT, "expected ',' or ']' in array");
            return -1;
        }
        cs__js_pop(js);
    }
    return 1;
}

#endif
