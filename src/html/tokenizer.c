/* tokenizer.c - the WHATWG HTML tokenizer (HTML Living Standard, section
 * 13.2.5), state by state, with zero-copy slices, fed whole or in chunks.
 *
 * Chunks: all state lives in the tokenizer, so a chunk's end is only a
 * pause (rd() answers NEED). Before pausing, the current token's slices
 * into the chunk are copied (detach) and the bytes a lookahead still needs
 * (a cut CR LF, UTF-8 sequence, "DOCTYPE", "[CDATA[", "PUBLIC"/"SYSTEM" or
 * character reference name) are carried to the next chunk. Offsets are
 * input offsets (base + position in the buffer), so that what was read
 * from an earlier chunk is rebuilt from its known bytes when needed.
 *
 * Hand-written (see html.h): no maintained Debian C library offers a
 * streaming, zero-copy, spec-conformant HTML5 tokenizer (libxml2's HTML
 * parser is HTML4-era, gumbo is unmaintained). The named character
 * reference table is data generated once from html5lib's tests
 * (entities.inc, scripts/gen-html-entities).
 *
 * Every character is one byte here: syntax characters are ASCII and other
 * bytes are "anything else" in every state, so multi-byte UTF-8 sequences
 * pass through byte by byte. Input-stream errors (controls, noncharacters,
 * surrogates) are checked on the lead byte, once per input position. */
#include <string.h>

#include "crawlset/html.h"
#include "util/utf8.h"

#define EOF_ (-1)
#define TEXT_FLUSH (64u * 1024u) /* copied text handed out at this size */

enum {
    S_DATA, S_RCDATA, S_RAWTEXT, S_SCRIPT, S_PLAINTEXT, S_TAG_OPEN, S_END_TAG_OPEN,
    S_TAG_NAME, S_RCDATA_LT, S_RCDATA_END_OPEN, S_RCDATA_END_NAME, S_RAWTEXT_LT,
    S_RAWTEXT_END_OPEN, S_RAWTEXT_END_NAME, S_SCRIPT_LT, S_SCRIPT_END_OPEN,
    S_SCRIPT_END_NAME, S_SCRIPT_ESC_START, S_SCRIPT_ESC_START_DASH, S_SCRIPT_ESC,
    S_SCRIPT_ESC_DASH, S_SCRIPT_ESC_DASH_DASH, S_SCRIPT_ESC_LT, S_SCRIPT_ESC_END_OPEN,
    S_SCRIPT_ESC_END_NAME, S_SCRIPT_DESC_START, S_SCRIPT_DESC, S_SCRIPT_DESC_DASH,
    S_SCRIPT_DESC_DASH_DASH, S_SCRIPT_DESC_LT, S_SCRIPT_DESC_END, S_BEFORE_ATTR_NAME,
    S_ATTR_NAME, S_AFTER_ATTR_NAME, S_BEFORE_ATTR_VALUE, S_ATTR_VALUE_DQ, S_ATTR_VALUE_SQ,
    S_ATTR_VALUE_UQ, S_AFTER_ATTR_VALUE_Q, S_SELF_CLOSING, S_BOGUS_COMMENT, S_MARKUP_DECL,
    S_COMMENT_START, S_COMMENT_START_DASH, S_COMMENT, S_COMMENT_LT, S_COMMENT_LT_BANG,
    S_COMMENT_LT_BANG_DASH, S_COMMENT_LT_BANG_DASH_DASH, S_COMMENT_END_DASH, S_COMMENT_END,
    S_COMMENT_END_BANG, S_DOCTYPE, S_BEFORE_DOCTYPE_NAME, S_DOCTYPE_NAME,
    S_AFTER_DOCTYPE_NAME, S_AFTER_PUBLIC_KW, S_BEFORE_PUBLIC_ID, S_PUBLIC_ID_DQ,
    S_PUBLIC_ID_SQ, S_AFTER_PUBLIC_ID, S_BETWEEN_IDS, S_AFTER_SYSTEM_KW,
    S_BEFORE_SYSTEM_ID, S_SYSTEM_ID_DQ, S_SYSTEM_ID_SQ, S_AFTER_SYSTEM_ID, S_BOGUS_DOCTYPE,
    S_CDATA, S_CDATA_BRACKET, S_CDATA_END, S_CHARREF, S_NAMED_CHARREF, S_AMBIGUOUS_AMP,
    S_NUMERIC_CHARREF, S_HEX_START, S_DEC_START, S_HEX, S_DEC
};

/* An accumulator: a slice of the input while the bytes arrive contiguous and
 * unchanged, a copy in buf once they do not. */
typedef struct acc {
    const char *src; /* zero-copy run (when !copied) */
    size_t len;      /* bytes held */
    bool copied;     /* bytes are in buf */
    bool over;       /* cut at max (counted once) */
    cs_buf buf;
    size_t max;
    int limit;       /* cs_html_limit counted on a cut; -1 = none (text) */
} acc;

typedef struct attr {
    acc name, value;
    bool dropped; /* duplicate */
} attr;

struct cs_html_tokenizer {
    cs_html_opts o;
    cs_html_stats st;
    const char *in;  /* the bytes being read: the caller's chunk, or carry + chunk */
    size_t len, pos, cur; /* relative to in */
    size_t base;     /* input offset of in[0] */
    size_t checked;  /* input offset up to which input-stream errors were checked */
    bool final;      /* no input after this buffer */
    bool running;    /* between the first feed and finish */
    size_t tail_from;/* where a pause keeps the bytes from (relative) */
    cs_buf carry;    /* bytes kept across a pause (a few: a lookahead) */
    cs_buf join;     /* carry + the next chunk */
    acc endtmp;      /* the end tag name as typed (RCDATA/RAWTEXT/script fallbacks) */
    char crbuf[4];   /* "&#x" of a numeric character reference, as typed */
    size_t crlen;
    bool cur_cr;    /* the current character was a CR (read as LF) */
    bool oom;
    int state, ret; /* ret: the return state of character references */
    size_t mark;    /* input offset of the '<' or '&' that started the current construct */
    size_t tok_start; /* input offset */
    /* current token */
    int ttype;
    acc name, pub, sys, comment, text;
    bool self_closing, force_quirks, has_name, has_pub, has_sys;
    attr *attrs;    /* cap_attrs of them, grown on demand up to max_attrs */
    size_t cap_attrs;
    size_t nattrs;
    attr spill;     /* attributes past max_attrs land here and are dropped */
    attr *ca;       /* current attribute */
    cs_html_attr *out_attrs;
    cs_buf last_start;
    cs_buf first_start; /* opts.last_start_tag: last_start at the start of a document */
    char tmp[8];    /* the script double-escape temporary buffer (only "script" matters) */
    size_t tmplen;
    uint32_t code;  /* numeric character reference */
    cs_html_token_fn fn;
    void *ud;
    cs_status cb_st;
};

static const char *const err_names[] = {
#define X(name, str) str,
    CS_HTML_ERROR_MAP(X)
#undef X
};
static const char *const limit_names[] = {
#define X(name, str, desc) str,
    CS_HTML_LIMIT_MAP(X)
#undef X
};

const char *cs_html_error_name(cs_html_error e)
{
    return (unsigned)e < CS_HTML__ERROR_COUNT ? err_names[e] : "unknown";
}

const char *cs_html_limit_name(cs_html_limit l)
{
    return (unsigned)l < CS_HTML__LIMIT_COUNT ? limit_names[l] : "unknown";
}

void cs_html_opts_init(cs_html_opts *o)
{
    memset(o, 0, sizeof *o);
    o->initial_state = CS_HTML_STATE_DATA;
    o->switch_states = true;
    o->max_name = 1024;
    o->max_value = 1024 * 1024;
    o->max_comment = 1024 * 1024;
    o->max_attrs = 256;
}

/* ---- named character references ---- */

typedef struct entity {
    const char *name;
    uint8_t len;
    uint32_t cp1, cp2;
} entity;

static const entity entities[] = {
#include "entities.inc"
};
#define NENTITIES (sizeof entities / sizeof entities[0])

static int ent_cmp(const char *s, size_t n, const entity *e)
{
    size_t m = n < e->len ? n : e->len;
    int c = memcmp(s, e->name, m);
    if (c)
        return c;
    return n < e->len ? -1 : n > e->len ? 1 : 0;
}

static const entity *ent_find(const char *s, size_t n)
{
    size_t lo = 0, hi = NENTITIES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ent_cmp(s, n, &entities[mid]);
        if (c == 0)
            return &entities[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t cs_html_entity_match(const char *s, size_t n, uint32_t cp[2])
{
    size_t k = n < 32 ? n : 32; /* the longest name has 32 bytes */
    for (; k > 0; k--) {
        const entity *e = ent_find(s, k);
        if (e) {
            cp[0] = e->cp1;
            cp[1] = e->cp2;
            return k;
        }
    }
    cp[0] = cp[1] = 0;
    return 0;
}

cs_status cs_html_put_utf8(cs_buf *b, uint32_t cp)
{
    char u[4];
    return cs_buf_append(b, u, cs__utf8_put(u, cp));
}

/* ---- accumulators ---- */

static void acc_init(acc *a, size_t max, int limit)
{
    memset(a, 0, sizeof *a);
    cs_buf_init(&a->buf, 0);
    a->max = max ? max : SIZE_MAX;
    a->limit = limit;
}

static void acc_reset(acc *a)
{
    a->src = NULL;
    a->len = 0;
    a->copied = false;
    a->over = false;
    cs_buf_reset(&a->buf);
}

static cs_slice acc_slice(const acc *a)
{
    if (a->copied)
        return (cs_slice){a->buf.data ? a->buf.data : "", a->buf.len};
    return (cs_slice){a->len ? a->src : "", a->len};
}

static bool acc_room(cs_html_tokenizer *t, acc *a, size_t *n)
{
    if (a->len + *n <= a->max)
        return true;
    if (!a->over) {
        a->over = true;
        if (a->limit >= 0)
            t->st.limited[a->limit]++;
    }
    *n = a->max - a->len;
    return *n > 0;
}

static void acc_copy_mode(cs_html_tokenizer *t, acc *a)
{
    if (a->copied)
        return;
    a->copied = true;
    cs_buf_reset(&a->buf);
    if (a->len && cs_buf_append(&a->buf, a->src, a->len))
        t->oom = true;
}

/* Bytes p[0..n) of the input, unchanged. */
static void acc_src(cs_html_tokenizer *t, acc *a, const char *p, size_t n)
{
    if (!acc_room(t, a, &n))
        return;
    if (!a->copied) {
        if (a->len == 0) {
            a->src = p;
            a->len = n;
            return;
        }
        if (a->src + a->len == p) {
            a->len += n;
            return;
        }
        acc_copy_mode(t, a);
    }
    if (cs_buf_append(&a->buf, p, n))
        t->oom = true;
    a->len += n;
}

/* Bytes that are not in the input at this place. */
static void acc_bytes(cs_html_tokenizer *t, acc *a, const char *p, size_t n)
{
    if (!acc_room(t, a, &n))
        return;
    acc_copy_mode(t, a);
    if (cs_buf_append(&a->buf, p, n))
        t->oom = true;
    a->len += n;
}

static void acc_cp(cs_html_tokenizer *t, acc *a, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    acc_bytes(t, a, u, n);
}

#define ABS(t, rel) ((t)->base + (rel))

/* The bytes at input offset off (n of them) when they are in the current
 * buffer, else NULL (before it: an earlier chunk). */
static const char *at(const cs_html_tokenizer *t, size_t off, size_t n)
{
    if (off < t->base || off - t->base > t->len || n > t->len - (off - t->base))
        return NULL;
    return t->in + (off - t->base);
}

/* lit[0..n) that should be at p in the input (NULL: not available):
 * zero-copy when it is there. */
static void acc_lit_at(cs_html_tokenizer *t, acc *a, const char *p, const char *lit, size_t n)
{
    if (p && memcmp(p, lit, n) == 0)
        acc_src(t, a, p, n);
    else
        acc_bytes(t, a, lit, n);
}

/* ---- input ---- */

/* Bytes that may need an input-stream check: C0 controls other than
 * whitespace and NUL, DEL, and UTF-8 lead bytes of sequences that can be
 * C1 controls (C2), surrogates (ED) or noncharacters (EF, F0-F4). */
static bool needs_check(uint8_t b)
{
    if (b < 0x20)
        return b != 0 && b != '\t' && b != '\n' && b != '\f' && b != '\r';
    return b == 0x7F || b == 0xC2 || b == 0xED || b == 0xEF || (b >= 0xF0 && b <= 0xF4);
}

static void error(cs_html_tokenizer *t, cs_html_error e, size_t off)
{
    t->st.errors++;
    t->st.by_error[e]++;
    if (t->o.on_error)
        t->o.on_error(t->ud, e, ABS(t, off));
}

static void check_input(cs_html_tokenizer *t, size_t at)
{
    const uint8_t *s = (const uint8_t *)t->in + at;
    size_t n = t->len - at;
    uint8_t b = s[0];
    if (b < 0x80) {
        error(t, CS_HTML_ERR_CONTROL_CHARACTER_IN_INPUT_STREAM, at);
        return;
    }
    uint32_t cp;
    if (b == 0xC2) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return;
        cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F);
    } else if (b == 0xED || b == 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return;
        cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    } else {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return;
        cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
             ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
    if (cp >= 0x80 && cp <= 0x9F)
        error(t, CS_HTML_ERR_CONTROL_CHARACTER_IN_INPUT_STREAM, at);
    else if (cp >= 0xD800 && cp <= 0xDFFF)
        error(t, CS_HTML_ERR_SURROGATE_IN_INPUT_STREAM, at);
    else if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
        error(t, CS_HTML_ERR_NONCHARACTER_IN_INPUT_STREAM, at);
}

#define NEED (-2) /* the buffer ended before the input: pause */

static int utf8_len(uint8_t b) { return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2; }

static int rd(cs_html_tokenizer *t)
{
    t->cur = t->pos;
    t->cur_cr = false;
    if (t->pos >= t->len) {
        t->tail_from = t->pos;
        return t->final ? EOF_ : NEED;
    }
    uint8_t b = (uint8_t)t->in[t->pos];
    if (b == '\r') {
        if (t->pos + 1 >= t->len && !t->final) {
            t->tail_from = t->pos; /* CR LF or CR alone: the next chunk says */
            return NEED;
        }
        t->pos++;
        if (t->pos < t->len && t->in[t->pos] == '\n')
            t->pos++;
        t->cur_cr = true;
        return '\n';
    }
    if (b >= 0xC2 && needs_check(b) && !t->final && t->pos + (size_t)utf8_len(b) > t->len) {
        t->tail_from = t->pos; /* a sequence cut by the chunk's end */
        return NEED;
    }
    t->pos++;
    if (ABS(t, t->cur) >= t->checked) {
        t->checked = ABS(t, t->pos);
        if (needs_check(b))
            check_input(t, t->cur);
    }
    return b;
}

/* Bytes that end a fast text run in every state that uses one. */
static bool stops_run(uint8_t b)
{
    return b < 0x20 || b == '<' || b == '&' || b == '>' || b == '"' || b == '\'' || b == '-' ||
           b == '=' || b == '`' || b == ']' || needs_check(b) || b == 0x7F;
}

/* Appends the current character and the run of ordinary bytes after it. */
static void app_run(cs_html_tokenizer *t, acc *a)
{
    if (t->cur_cr) {
        acc_bytes(t, a, "\n", 1);
        return;
    }
    size_t p = t->pos;
    while (p < t->len && !stops_run((uint8_t)t->in[p]))
        p++;
    acc_src(t, a, t->in + t->cur, p - t->cur);
    t->pos = p;
    if (ABS(t, p) > t->checked)
        t->checked = ABS(t, p);
}

static void app(cs_html_tokenizer *t, acc *a)
{
    if (t->cur_cr)
        acc_bytes(t, a, "\n", 1);
    else
        acc_src(t, a, t->in + t->cur, 1);
}

static void app_lower(cs_html_tokenizer *t, acc *a, int c)
{
    if (c >= 'A' && c <= 'Z') {
        char l = (char)(c + 32);
        acc_bytes(t, a, &l, 1);
    } else {
        app(t, a);
    }
}

static const char fffd[] = "\xEF\xBF\xBD";

/* ---- emitting ---- */

static void emit(cs_html_tokenizer *t, cs_html_token *tok)
{
    if (t->oom || t->cb_st)
        return;
    t->st.tokens++;
    t->cb_st = t->fn(t->ud, tok);
}

static void flush_text(cs_html_tokenizer *t)
{
    if (t->text.len == 0)
        return;
    cs_html_token tok;
    memset(&tok, 0, sizeof tok);
    tok.type = CS_HTML_CHARACTER;
    tok.data = acc_slice(&t->text);
    tok.offset = t->tok_start;
    if (t->text.copied)
        t->st.copied += t->text.len;
    emit(t, &tok);
    acc_reset(&t->text);
}

/* Text: the current character (and the ordinary run after it). */
static void text_cur(cs_html_tokenizer *t, bool run)
{
    if (t->text.len == 0)
        t->tok_start = ABS(t, t->cur);
    if (run)
        app_run(t, &t->text);
    else
        app(t, &t->text);
    if (t->text.copied && t->text.len >= TEXT_FLUSH)
        flush_text(t);
}

/* Text lit[0..n) that stands at input offset off. */
static void text_lit(cs_html_tokenizer *t, size_t off, const char *lit, size_t n)
{
    if (t->text.len == 0)
        t->tok_start = off;
    acc_lit_at(t, &t->text, at(t, off, n), lit, n);
    if (t->text.copied && t->text.len >= TEXT_FLUSH)
        flush_text(t);
}

static void text_cp(cs_html_tokenizer *t, uint32_t cp)
{
    if (t->text.len == 0)
        t->tok_start = ABS(t, t->cur);
    acc_cp(t, &t->text, cp);
    if (t->text.copied && t->text.len >= TEXT_FLUSH)
        flush_text(t);
}

static void new_tag(cs_html_tokenizer *t, int type)
{
    t->ttype = type;
    acc_reset(&t->name);
    acc_reset(&t->endtmp);
    t->nattrs = 0;
    t->ca = NULL;
    t->self_closing = false;
    t->tok_start = t->mark;
}

/* Grows the attribute arrays (a tag with many attributes is rare: start
 * small, so that a tokenizer is cheap to create). */
static bool grow_attrs(cs_html_tokenizer *t)
{
    size_t nc = t->cap_attrs ? t->cap_attrs * 2 : 8;
    if (nc > t->o.max_attrs)
        nc = t->o.max_attrs;
    attr *na = cs_realloc(t->attrs, nc * sizeof *na);
    if (!na)
        return false;
    t->attrs = na;
    cs_html_attr *no = cs_realloc(t->out_attrs, nc * sizeof *no);
    if (!no)
        return false;
    t->out_attrs = no;
    for (size_t i = t->cap_attrs; i < nc; i++) {
        acc_init(&na[i].name, t->o.max_name, CS_HTML_LIMIT_NAME);
        acc_init(&na[i].value, t->o.max_value, CS_HTML_LIMIT_VALUE);
        na[i].dropped = false;
    }
    t->cap_attrs = nc;
    return true;
}

static void new_attr(cs_html_tokenizer *t)
{
    attr *a;
    if (t->nattrs < t->o.max_attrs && t->nattrs == t->cap_attrs && !grow_attrs(t)) {
        t->oom = true;
        a = &t->spill; /* stays consistent until the run stops */
        acc_reset(&a->name);
        acc_reset(&a->value);
        a->dropped = true;
        t->ca = a;
        return;
    }
    if (t->nattrs < t->o.max_attrs) {
        a = &t->attrs[t->nattrs++];
    } else {
        if (t->nattrs == t->o.max_attrs) {
            t->st.limited[CS_HTML_LIMIT_ATTRS]++;
            t->nattrs++; /* counted once per tag */
        }
        a = &t->spill;
    }
    acc_reset(&a->name);
    acc_reset(&a->value);
    a->dropped = a == &t->spill;
    t->ca = a;
}

/* On leaving the attribute name state: a repeated name drops the attribute. */
static void check_dup(cs_html_tokenizer *t)
{
    attr *a = t->ca;
    if (!a || a->dropped)
        return;
    cs_slice n = acc_slice(&a->name);
    size_t kept = t->nattrs < t->o.max_attrs ? t->nattrs : t->o.max_attrs;
    for (size_t i = 0; i < kept; i++) {
        attr *b = &t->attrs[i];
        if (b == a)
            break;
        if (b->dropped)
            continue;
        cs_slice m = acc_slice(&b->name);
        if (m.len == n.len && memcmp(m.ptr, n.ptr, n.len) == 0) {
            error(t, CS_HTML_ERR_DUPLICATE_ATTRIBUTE, t->cur);
            a->dropped = true;
            return;
        }
    }
}

static void switch_for(cs_html_tokenizer *t, cs_slice n)
{
    if (cs_slice_eq(n, "title") || cs_slice_eq(n, "textarea"))
        t->state = S_RCDATA;
    else if (cs_slice_eq(n, "style") || cs_slice_eq(n, "xmp") || cs_slice_eq(n, "iframe") ||
             cs_slice_eq(n, "noembed") || cs_slice_eq(n, "noframes"))
        t->state = S_RAWTEXT;
    else if (cs_slice_eq(n, "script"))
        t->state = S_SCRIPT;
    else if (cs_slice_eq(n, "plaintext"))
        t->state = S_PLAINTEXT;
}

static void emit_tag(cs_html_tokenizer *t)
{
    flush_text(t);
    cs_html_token tok;
    memset(&tok, 0, sizeof tok);
    tok.type = t->ttype == 0 ? CS_HTML_START_TAG : CS_HTML_END_TAG;
    tok.name = acc_slice(&t->name);
    tok.self_closing = t->self_closing;
    tok.offset = t->tok_start;
    size_t kept = t->nattrs < t->o.max_attrs ? t->nattrs : t->o.max_attrs;
    if (tok.type == CS_HTML_START_TAG) {
        size_t k = 0;
        for (size_t i = 0; i < kept; i++) {
            if (t->attrs[i].dropped)
                continue;
            t->out_attrs[k].name = acc_slice(&t->attrs[i].name);
            t->out_attrs[k].value = acc_slice(&t->attrs[i].value);
            k++;
        }
        tok.attrs = t->out_attrs;
        tok.nattrs = k;
        cs_buf_reset(&t->last_start);
        if (cs_buf_append(&t->last_start, tok.name.ptr, tok.name.len))
            t->oom = true;
    } else {
        if (t->nattrs)
            error(t, CS_HTML_ERR_END_TAG_WITH_ATTRIBUTES, t->cur);
        if (t->self_closing)
            error(t, CS_HTML_ERR_END_TAG_WITH_TRAILING_SOLIDUS, t->cur);
        tok.self_closing = false;
    }
    t->state = S_DATA;
    emit(t, &tok);
    if (tok.type == CS_HTML_START_TAG && t->o.switch_states)
        switch_for(t, tok.name);
}

static void new_comment(cs_html_tokenizer *t)
{
    acc_reset(&t->comment);
    t->tok_start = t->mark;
}

static void emit_comment(cs_html_tokenizer *t)
{
    flush_text(t);
    cs_html_token tok;
    memset(&tok, 0, sizeof tok);
    tok.type = CS_HTML_COMMENT;
    tok.data = acc_slice(&t->comment);
    tok.offset = t->tok_start;
    emit(t, &tok);
}

static void new_doctype(cs_html_tokenizer *t)
{
    acc_reset(&t->name);
    acc_reset(&t->pub);
    acc_reset(&t->sys);
    t->has_name = t->has_pub = t->has_sys = t->force_quirks = false;
}

static void emit_doctype(cs_html_tokenizer *t)
{
    flush_text(t);
    cs_html_token tok;
    memset(&tok, 0, sizeof tok);
    tok.type = CS_HTML_DOCTYPE;
    tok.name = acc_slice(&t->name);
    tok.has_name = t->has_name;
    tok.has_public_id = t->has_pub;
    tok.has_system_id = t->has_sys;
    tok.public_id = acc_slice(&t->pub);
    tok.system_id = acc_slice(&t->sys);
    tok.force_quirks = t->force_quirks;
    tok.offset = t->tok_start;
    emit(t, &tok);
}

static bool appropriate(cs_html_tokenizer *t)
{
    cs_slice n = acc_slice(&t->name);
    return t->last_start.len > 0 && n.len == t->last_start.len &&
           memcmp(n.ptr, t->last_start.data, n.len) == 0;
}

static bool in_attr(int ret)
{
    return ret == S_ATTR_VALUE_DQ || ret == S_ATTR_VALUE_SQ || ret == S_ATTR_VALUE_UQ;
}

/* Flushes lit[0..n), consumed as a character reference at input offset
 * off, to the attribute value or the text. */
static void flush_lit(cs_html_tokenizer *t, size_t off, const char *lit, size_t n)
{
    if (in_attr(t->ret)) {
        acc_lit_at(t, &t->ca->value, at(t, off, n), lit, n);
    } else {
        if (t->text.len == 0)
            t->tok_start = off;
        acc_lit_at(t, &t->text, at(t, off, n), lit, n);
    }
}

static void flush_cp(cs_html_tokenizer *t, uint32_t cp)
{
    if (in_attr(t->ret))
        acc_cp(t, &t->ca->value, cp);
    else
        text_cp(t, cp);
}

static const uint16_t c1_table[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

static void numeric_end(cs_html_tokenizer *t)
{
    uint32_t c = t->code;
    if (c == 0) {
        error(t, CS_HTML_ERR_NULL_CHARACTER_REFERENCE, t->cur);
        c = 0xFFFD;
    } else if (c > 0x10FFFF) {
        error(t, CS_HTML_ERR_CHARACTER_REFERENCE_OUTSIDE_UNICODE_RANGE, t->cur);
        c = 0xFFFD;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
        error(t, CS_HTML_ERR_SURROGATE_CHARACTER_REFERENCE, t->cur);
        c = 0xFFFD;
    } else if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE) {
        error(t, CS_HTML_ERR_NONCHARACTER_CHARACTER_REFERENCE, t->cur);
    } else if (c == 0x0D || (c < 0x20 && c != '\t' && c != '\n' && c != '\f') ||
               (c >= 0x7F && c <= 0x9F)) {
        error(t, CS_HTML_ERR_CONTROL_CHARACTER_REFERENCE, t->cur);
        if (c >= 0x80 && c <= 0x9F && c1_table[c - 0x80])
            c = c1_table[c - 0x80];
    }
    flush_cp(t, c);
}

static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static bool is_ws(int c) { return c == '\t' || c == '\n' || c == '\f' || c == ' '; }
static int hexval(int c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool next_is(cs_html_tokenizer *t, size_t at, const char *lit, bool ci)
{
    size_t n = strlen(lit);
    if (at + n > t->len)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = t->in[at + i], b = lit[i];
        if (ci && a >= 'a' && a <= 'z')
            a = (char)(a - 32);
        if (a != b)
            return false;
    }
    return true;
}

static void tmp_add(cs_html_tokenizer *t, int c)
{
    if (c >= 'A' && c <= 'Z')
        c += 32;
    if (t->tmplen < sizeof t->tmp)
        t->tmp[t->tmplen] = (char)c;
    t->tmplen++;
}

static bool tmp_is_script(const cs_html_tokenizer *t)
{
    return t->tmplen == 6 && memcmp(t->tmp, "script", 6) == 0;
}

/* ---- lifecycle ---- */

cs_status cs_html_tokenizer_new(cs_html_tokenizer **out, const cs_html_opts *opts)
{
    *out = NULL;
    cs_html_tokenizer *t = cs_calloc(1, sizeof *t);
    if (!t)
        return CS_ENOMEM;
    if (opts)
        t->o = *opts;
    else
        cs_html_opts_init(&t->o);
    if (!t->o.max_name)
        t->o.max_name = 1024;
    if (!t->o.max_value)
        t->o.max_value = 1024 * 1024;
    if (!t->o.max_comment)
        t->o.max_comment = 1024 * 1024;
    if (!t->o.max_attrs)
        t->o.max_attrs = 256;
    t->o.last_start_tag = NULL; /* copied below */
    acc_init(&t->name, t->o.max_name, CS_HTML_LIMIT_NAME);
    acc_init(&t->pub, t->o.max_value, CS_HTML_LIMIT_VALUE);
    acc_init(&t->sys, t->o.max_value, CS_HTML_LIMIT_VALUE);
    acc_init(&t->comment, t->o.max_comment, CS_HTML_LIMIT_COMMENT);
    acc_init(&t->text, 0, -1);
    acc_init(&t->endtmp, t->o.max_name, -1);
    cs_buf_init(&t->carry, 0);
    cs_buf_init(&t->join, 0);
    acc_init(&t->spill.name, t->o.max_name, CS_HTML_LIMIT_NAME);
    acc_init(&t->spill.value, t->o.max_value, CS_HTML_LIMIT_VALUE);
    cs_buf_init(&t->last_start, 0);
    cs_buf_init(&t->first_start, 0);
    if (opts && opts->last_start_tag &&
        cs_buf_puts(&t->first_start, opts->last_start_tag) != CS_OK) {
        cs_html_tokenizer_free(t);
        return CS_ENOMEM;
    }
    *out = t;
    return CS_OK;
}

void cs_html_tokenizer_free(cs_html_tokenizer *t)
{
    if (!t)
        return;
    cs_buf_cleanup(&t->name.buf);
    cs_buf_cleanup(&t->pub.buf);
    cs_buf_cleanup(&t->sys.buf);
    cs_buf_cleanup(&t->comment.buf);
    cs_buf_cleanup(&t->text.buf);
    cs_buf_cleanup(&t->endtmp.buf);
    cs_buf_cleanup(&t->carry);
    cs_buf_cleanup(&t->join);
    cs_buf_cleanup(&t->spill.name.buf);
    cs_buf_cleanup(&t->spill.value.buf);
    cs_buf_cleanup(&t->last_start);
    cs_buf_cleanup(&t->first_start);
    if (t->attrs)
        for (size_t i = 0; i < t->cap_attrs; i++) {
            cs_buf_cleanup(&t->attrs[i].name.buf);
            cs_buf_cleanup(&t->attrs[i].value.buf);
        }
    cs_free(t->attrs);
    cs_free(t->out_attrs);
    cs_free(t);
}

const cs_html_stats *cs_html_tokenizer_stats(const cs_html_tokenizer *t)
{
    return &t->st;
}

/* ---- the state machine ---- */

static void begin(cs_html_tokenizer *t)
{
    static const int initial[] = {S_DATA, S_RCDATA, S_RAWTEXT, S_SCRIPT, S_PLAINTEXT, S_CDATA};
    memset(&t->st, 0, sizeof t->st);
    t->base = t->checked = 0;
    t->oom = false;
    t->cb_st = CS_OK;
    t->state = (unsigned)t->o.initial_state < 6 ? initial[t->o.initial_state] : S_DATA;
    acc_reset(&t->text);
    cs_buf_reset(&t->carry);
    cs_buf_reset(&t->last_start);
    if (t->first_start.len &&
        cs_buf_append(&t->last_start, t->first_start.data, t->first_start.len))
        t->oom = true;
    t->running = true;
}

/* Before a pause: every slice of the current token that points into the
 * buffer is copied (bounded by the limits), the text so far handed out. */
static void detach(cs_html_tokenizer *t)
{
    flush_text(t);
    acc *all[] = {&t->name, &t->pub, &t->sys, &t->comment, &t->endtmp, &t->spill.name,
                  &t->spill.value};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->len)
            acc_copy_mode(t, all[i]);
    size_t kept = t->nattrs < t->cap_attrs ? t->nattrs : t->cap_attrs;
    for (size_t i = 0; i < kept; i++) {
        if (t->attrs[i].name.len)
            acc_copy_mode(t, &t->attrs[i].name);
        if (t->attrs[i].value.len)
            acc_copy_mode(t, &t->attrs[i].value);
    }
}

/* Runs the state machine over in[0..len) (after the bytes carried from the
 * last pause); final: the input ends there. */
static cs_status run(cs_html_tokenizer *t, const char *in, size_t len, bool final)
{
    if (t->oom)
        return CS_ENOMEM;
    if (t->cb_st)
        return t->cb_st;
    if (!in)
        len = 0;
    if (t->carry.len) {
        cs_buf_reset(&t->join);
        if (cs_buf_append(&t->join, t->carry.data, t->carry.len) ||
            (len && cs_buf_append(&t->join, in, len))) {
            t->oom = true;
            return CS_ENOMEM;
        }
        cs_buf_reset(&t->carry);
        t->in = t->join.data;
        t->len = t->join.len;
    } else {
        t->in = in ? in : "";
        t->len = len;
    }
    t->pos = t->cur = 0;
    t->final = final;
    bool re = false;
    int c = 0;

    while (!t->oom && !t->cb_st) {
        if (!re)
            c = rd(t);
        re = false;
        if (c == NEED)
            goto pause;
        switch (t->state) {
        case S_DATA:
            if (c == '&') {
                t->ret = S_DATA;
                t->mark = ABS(t, t->cur);
                t->state = S_CHARREF;
            } else if (c == '<') {
                t->mark = ABS(t, t->cur);
                t->state = S_TAG_OPEN;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                text_cur(t, false);
            } else if (c == EOF_) {
                goto eof;
            } else {
                text_cur(t, true);
            }
            break;
        case S_RCDATA:
            if (c == '&') {
                t->ret = S_RCDATA;
                t->mark = ABS(t, t->cur);
                t->state = S_CHARREF;
            } else if (c == '<') {
                t->mark = ABS(t, t->cur);
                t->state = S_RCDATA_LT;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                text_lit(t, ABS(t, t->cur), fffd, 3);
            } else if (c == EOF_) {
                goto eof;
            } else {
                text_cur(t, true);
            }
            break;
        case S_RAWTEXT:
        case S_SCRIPT:
        case S_PLAINTEXT:
            if (c == '<' && t->state != S_PLAINTEXT) {
                t->mark = ABS(t, t->cur);
                t->state = t->state == S_RAWTEXT ? S_RAWTEXT_LT : S_SCRIPT_LT;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                text_lit(t, ABS(t, t->cur), fffd, 3);
            } else if (c == EOF_) {
                goto eof;
            } else {
                text_cur(t, true);
            }
            break;
        case S_TAG_OPEN:
            if (c == '!') {
                t->state = S_MARKUP_DECL;
            } else if (c == '/') {
                t->state = S_END_TAG_OPEN;
            } else if (is_alpha(c)) {
                new_tag(t, 0);
                re = true;
                t->state = S_TAG_NAME;
            } else if (c == '?') {
                error(t, CS_HTML_ERR_UNEXPECTED_QUESTION_MARK_INSTEAD_OF_TAG_NAME, t->cur);
                new_comment(t);
                re = true;
                t->state = S_BOGUS_COMMENT;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_BEFORE_TAG_NAME, t->cur);
                text_lit(t, t->mark, "<", 1);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_INVALID_FIRST_CHARACTER_OF_TAG_NAME, t->cur);
                text_lit(t, t->mark, "<", 1);
                re = true;
                t->state = S_DATA;
            }
            break;
        case S_END_TAG_OPEN:
            if (is_alpha(c)) {
                new_tag(t, 1);
                re = true;
                t->state = S_TAG_NAME;
            } else if (c == '>') {
                error(t, CS_HTML_ERR_MISSING_END_TAG_NAME, t->cur);
                t->state = S_DATA;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_BEFORE_TAG_NAME, t->cur);
                text_lit(t, t->mark, "</", 2);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_INVALID_FIRST_CHARACTER_OF_TAG_NAME, t->cur);
                new_comment(t);
                re = true;
                t->state = S_BOGUS_COMMENT;
            }
            break;
        case S_TAG_NAME:
            if (is_ws(c)) {
                t->state = S_BEFORE_ATTR_NAME;
            } else if (c == '/') {
                t->state = S_SELF_CLOSING;
            } else if (c == '>') {
                emit_tag(t);
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->name, fffd, 3);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_TAG, t->cur);
                goto eof;
            } else {
                app_lower(t, &t->name, c);
            }
            break;

        /* RCDATA, RAWTEXT and script data end tags: one code path, three
         * fallback states. */
        case S_RCDATA_LT:
        case S_RAWTEXT_LT:
            if (c == '/') {
                t->state = t->state == S_RCDATA_LT ? S_RCDATA_END_OPEN : S_RAWTEXT_END_OPEN;
            } else {
                text_lit(t, t->mark, "<", 1);
                re = true;
                t->state = t->state == S_RCDATA_LT ? S_RCDATA : S_RAWTEXT;
            }
            break;
        case S_SCRIPT_LT:
            if (c == '/') {
                t->state = S_SCRIPT_END_OPEN;
            } else if (c == '!') {
                text_lit(t, t->mark, "<!", 2);
                t->state = S_SCRIPT_ESC_START;
            } else {
                text_lit(t, t->mark, "<", 1);
                re = true;
                t->state = S_SCRIPT;
            }
            break;
        case S_RCDATA_END_OPEN:
        case S_RAWTEXT_END_OPEN:
        case S_SCRIPT_END_OPEN:
        case S_SCRIPT_ESC_END_OPEN: {
            int back = t->state == S_RCDATA_END_OPEN    ? S_RCDATA
                       : t->state == S_RAWTEXT_END_OPEN ? S_RAWTEXT
                       : t->state == S_SCRIPT_END_OPEN  ? S_SCRIPT
                                                        : S_SCRIPT_ESC;
            if (is_alpha(c)) {
                new_tag(t, 1);
                re = true;
                t->state = back == S_RCDATA    ? S_RCDATA_END_NAME
                           : back == S_RAWTEXT ? S_RAWTEXT_END_NAME
                           : back == S_SCRIPT  ? S_SCRIPT_END_NAME
                                               : S_SCRIPT_ESC_END_NAME;
            } else {
                text_lit(t, t->mark, "</", 2);
                re = true;
                t->state = back;
            }
            break;
        }
        case S_RCDATA_END_NAME:
        case S_RAWTEXT_END_NAME:
        case S_SCRIPT_END_NAME:
        case S_SCRIPT_ESC_END_NAME: {
            int back = t->state == S_RCDATA_END_NAME    ? S_RCDATA
                       : t->state == S_RAWTEXT_END_NAME ? S_RAWTEXT
                       : t->state == S_SCRIPT_END_NAME  ? S_SCRIPT
                                                        : S_SCRIPT_ESC;
            if (is_ws(c) && appropriate(t)) {
                t->state = S_BEFORE_ATTR_NAME;
            } else if (c == '/' && appropriate(t)) {
                t->state = S_SELF_CLOSING;
            } else if (c == '>' && appropriate(t)) {
                emit_tag(t);
            } else if (is_alpha(c)) {
                app_lower(t, &t->name, c);
                app(t, &t->endtmp);
            } else {
                /* "</" and the temporary buffer (the name as typed) */
                text_lit(t, t->mark, "</", 2);
                cs_slice tb = acc_slice(&t->endtmp);
                if (t->endtmp.copied)
                    acc_bytes(t, &t->text, tb.ptr, tb.len);
                else if (tb.len)
                    acc_src(t, &t->text, tb.ptr, tb.len);
                re = true;
                t->state = back;
            }
            break;
        }
        case S_SCRIPT_ESC_START:
        case S_SCRIPT_ESC_START_DASH:
            if (c == '-') {
                text_cur(t, false);
                t->state = t->state == S_SCRIPT_ESC_START ? S_SCRIPT_ESC_START_DASH
                                                          : S_SCRIPT_ESC_DASH_DASH;
            } else {
                re = true;
                t->state = S_SCRIPT;
            }
            break;
        case S_SCRIPT_ESC:
        case S_SCRIPT_ESC_DASH:
        case S_SCRIPT_ESC_DASH_DASH:
            if (c == '-') {
                text_cur(t, false);
                if (t->state != S_SCRIPT_ESC_DASH_DASH)
                    t->state = t->state == S_SCRIPT_ESC ? S_SCRIPT_ESC_DASH
                                                        : S_SCRIPT_ESC_DASH_DASH;
            } else if (c == '<') {
                t->mark = ABS(t, t->cur);
                t->state = S_SCRIPT_ESC_LT;
            } else if (c == '>' && t->state == S_SCRIPT_ESC_DASH_DASH) {
                text_cur(t, false);
                t->state = S_SCRIPT;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                text_lit(t, ABS(t, t->cur), fffd, 3);
                t->state = S_SCRIPT_ESC;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_SCRIPT_HTML_COMMENT_LIKE_TEXT, t->cur);
                goto eof;
            } else {
                text_cur(t, t->state == S_SCRIPT_ESC);
                t->state = S_SCRIPT_ESC;
            }
            break;
        case S_SCRIPT_ESC_LT:
            if (c == '/') {
                t->state = S_SCRIPT_ESC_END_OPEN;
            } else if (is_alpha(c)) {
                t->tmplen = 0;
                text_lit(t, t->mark, "<", 1);
                re = true;
                t->state = S_SCRIPT_DESC_START;
            } else {
                text_lit(t, t->mark, "<", 1);
                re = true;
                t->state = S_SCRIPT_ESC;
            }
            break;
        case S_SCRIPT_DESC_START:
        case S_SCRIPT_DESC_END:
            if (is_ws(c) || c == '/' || c == '>') {
                if (t->state == S_SCRIPT_DESC_START)
                    t->state = tmp_is_script(t) ? S_SCRIPT_DESC : S_SCRIPT_ESC;
                else
                    t->state = tmp_is_script(t) ? S_SCRIPT_ESC : S_SCRIPT_DESC;
                text_cur(t, false);
            } else if (is_alpha(c)) {
                tmp_add(t, c);
                text_cur(t, false);
            } else {
                re = true;
                t->state = t->state == S_SCRIPT_DESC_START ? S_SCRIPT_ESC : S_SCRIPT_DESC;
            }
            break;
        case S_SCRIPT_DESC:
        case S_SCRIPT_DESC_DASH:
        case S_SCRIPT_DESC_DASH_DASH:
            if (c == '-') {
                text_cur(t, false);
                if (t->state != S_SCRIPT_DESC_DASH_DASH)
                    t->state = t->state == S_SCRIPT_DESC ? S_SCRIPT_DESC_DASH
                                                         : S_SCRIPT_DESC_DASH_DASH;
            } else if (c == '<') {
                text_cur(t, false);
                t->state = S_SCRIPT_DESC_LT;
            } else if (c == '>' && t->state == S_SCRIPT_DESC_DASH_DASH) {
                text_cur(t, false);
                t->state = S_SCRIPT;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                text_lit(t, ABS(t, t->cur), fffd, 3);
                t->state = S_SCRIPT_DESC;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_SCRIPT_HTML_COMMENT_LIKE_TEXT, t->cur);
                goto eof;
            } else {
                text_cur(t, t->state == S_SCRIPT_DESC);
                t->state = S_SCRIPT_DESC;
            }
            break;
        case S_SCRIPT_DESC_LT:
            if (c == '/') {
                t->tmplen = 0;
                text_cur(t, false);
                t->state = S_SCRIPT_DESC_END;
            } else {
                re = true;
                t->state = S_SCRIPT_DESC;
            }
            break;

        /* attributes */
        case S_BEFORE_ATTR_NAME:
            if (is_ws(c)) {
            } else if (c == '/' || c == '>' || c == EOF_) {
                re = true;
                t->state = S_AFTER_ATTR_NAME;
            } else if (c == '=') {
                error(t, CS_HTML_ERR_UNEXPECTED_EQUALS_SIGN_BEFORE_ATTRIBUTE_NAME, t->cur);
                new_attr(t);
                app(t, &t->ca->name);
                t->state = S_ATTR_NAME;
            } else {
                new_attr(t);
                re = true;
                t->state = S_ATTR_NAME;
            }
            break;
        case S_ATTR_NAME:
            if (is_ws(c) || c == '/' || c == '>' || c == EOF_) {
                check_dup(t);
                re = true;
                t->state = S_AFTER_ATTR_NAME;
            } else if (c == '=') {
                check_dup(t);
                t->state = S_BEFORE_ATTR_VALUE;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->ca->name, fffd, 3);
            } else {
                if (c == '"' || c == '\'' || c == '<')
                    error(t, CS_HTML_ERR_UNEXPECTED_CHARACTER_IN_ATTRIBUTE_NAME, t->cur);
                app_lower(t, &t->ca->name, c);
            }
            break;
        case S_AFTER_ATTR_NAME:
            if (is_ws(c)) {
            } else if (c == '/') {
                t->state = S_SELF_CLOSING;
            } else if (c == '=') {
                t->state = S_BEFORE_ATTR_VALUE;
            } else if (c == '>') {
                emit_tag(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_TAG, t->cur);
                goto eof;
            } else {
                new_attr(t);
                re = true;
                t->state = S_ATTR_NAME;
            }
            break;
        case S_BEFORE_ATTR_VALUE:
            if (is_ws(c)) {
            } else if (c == '"') {
                t->state = S_ATTR_VALUE_DQ;
            } else if (c == '\'') {
                t->state = S_ATTR_VALUE_SQ;
            } else if (c == '>') {
                error(t, CS_HTML_ERR_MISSING_ATTRIBUTE_VALUE, t->cur);
                emit_tag(t);
            } else {
                re = true;
                t->state = S_ATTR_VALUE_UQ;
            }
            break;
        case S_ATTR_VALUE_DQ:
        case S_ATTR_VALUE_SQ:
            if (c == (t->state == S_ATTR_VALUE_DQ ? '"' : '\'')) {
                t->state = S_AFTER_ATTR_VALUE_Q;
            } else if (c == '&') {
                t->ret = t->state;
                t->mark = ABS(t, t->cur);
                t->state = S_CHARREF;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->ca->value, fffd, 3);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_TAG, t->cur);
                goto eof;
            } else {
                app_run(t, &t->ca->value);
            }
            break;
        case S_ATTR_VALUE_UQ:
            if (is_ws(c)) {
                t->state = S_BEFORE_ATTR_NAME;
            } else if (c == '&') {
                t->ret = S_ATTR_VALUE_UQ;
                t->mark = ABS(t, t->cur);
                t->state = S_CHARREF;
            } else if (c == '>') {
                emit_tag(t);
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->ca->value, fffd, 3);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_TAG, t->cur);
                goto eof;
            } else {
                if (c == '"' || c == '\'' || c == '<' || c == '=' || c == '`')
                    error(t, CS_HTML_ERR_UNEXPECTED_CHARACTER_IN_UNQUOTED_ATTRIBUTE_VALUE,
                          t->cur);
                app(t, &t->ca->value);
            }
            break;
        case S_AFTER_ATTR_VALUE_Q:
            if (is_ws(c)) {
                t->state = S_BEFORE_ATTR_NAME;
            } else if (c == '/') {
                t->state = S_SELF_CLOSING;
            } else if (c == '>') {
                emit_tag(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_TAG, t->cur);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_MISSING_WHITESPACE_BETWEEN_ATTRIBUTES, t->cur);
                re = true;
                t->state = S_BEFORE_ATTR_NAME;
            }
            break;
        case S_SELF_CLOSING:
            if (c == '>') {
                t->self_closing = true;
                emit_tag(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_TAG, t->cur);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_UNEXPECTED_SOLIDUS_IN_TAG, t->cur);
                re = true;
                t->state = S_BEFORE_ATTR_NAME;
            }
            break;

        /* comments */
        case S_BOGUS_COMMENT:
            if (c == '>') {
                t->state = S_DATA;
                emit_comment(t);
            } else if (c == EOF_) {
                emit_comment(t);
                goto eof;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->comment, fffd, 3);
            } else {
                app_run(t, &t->comment);
            }
            break;
        case S_MARKUP_DECL:
            if (!t->final && t->len - t->cur < 7) {
                t->tail_from = t->cur; /* "DOCTYPE" / "[CDATA[" may be cut */
                goto pause;
            }
            if (next_is(t, t->cur, "--", false)) {
                t->pos = t->cur + 2;
                new_comment(t);
                t->state = S_COMMENT_START;
            } else if (next_is(t, t->cur, "DOCTYPE", true)) {
                t->pos = t->cur + 7;
                t->state = S_DOCTYPE;
            } else if (next_is(t, t->cur, "[CDATA[", false)) {
                t->pos = t->cur + 7;
                if (t->o.cdata_allowed) {
                    t->state = S_CDATA;
                } else {
                    error(t, CS_HTML_ERR_CDATA_IN_HTML_CONTENT, t->cur);
                    new_comment(t);
                    acc_src(t, &t->comment, t->in + t->cur, 7);
                    t->state = S_BOGUS_COMMENT;
                }
            } else {
                error(t, CS_HTML_ERR_INCORRECTLY_OPENED_COMMENT, t->cur);
                new_comment(t);
                re = true;
                t->state = S_BOGUS_COMMENT;
            }
            if (ABS(t, t->pos) > t->checked)
                t->checked = ABS(t, t->pos);
            break;
        case S_COMMENT_START:
            if (c == '-') {
                t->state = S_COMMENT_START_DASH;
            } else if (c == '>') {
                error(t, CS_HTML_ERR_ABRUPT_CLOSING_OF_EMPTY_COMMENT, t->cur);
                t->state = S_DATA;
                emit_comment(t);
            } else {
                re = true;
                t->state = S_COMMENT;
            }
            break;
        case S_COMMENT_START_DASH:
            if (c == '-') {
                t->state = S_COMMENT_END;
            } else if (c == '>') {
                error(t, CS_HTML_ERR_ABRUPT_CLOSING_OF_EMPTY_COMMENT, t->cur);
                t->state = S_DATA;
                emit_comment(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_COMMENT, t->cur);
                emit_comment(t);
                goto eof;
            } else {
                acc_lit_at(t, &t->comment, at(t, ABS(t, t->cur) - 1, 1), "-", 1);
                re = true;
                t->state = S_COMMENT;
            }
            break;
        case S_COMMENT:
            if (c == '<') {
                app(t, &t->comment);
                t->state = S_COMMENT_LT;
            } else if (c == '-') {
                t->state = S_COMMENT_END_DASH;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->comment, fffd, 3);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_COMMENT, t->cur);
                emit_comment(t);
                goto eof;
            } else {
                app_run(t, &t->comment);
            }
            break;
        case S_COMMENT_LT:
            if (c == '!') {
                app(t, &t->comment);
                t->state = S_COMMENT_LT_BANG;
            } else if (c == '<') {
                app(t, &t->comment);
            } else {
                re = true;
                t->state = S_COMMENT;
            }
            break;
        case S_COMMENT_LT_BANG:
            re = true;
            t->state = c == '-' ? (re = false, S_COMMENT_LT_BANG_DASH) : S_COMMENT;
            break;
        case S_COMMENT_LT_BANG_DASH:
            re = true;
            t->state = c == '-' ? (re = false, S_COMMENT_LT_BANG_DASH_DASH) : S_COMMENT_END_DASH;
            break;
        case S_COMMENT_LT_BANG_DASH_DASH:
            if (c != '>' && c != EOF_)
                error(t, CS_HTML_ERR_NESTED_COMMENT, t->cur);
            re = true;
            t->state = S_COMMENT_END;
            break;
        case S_COMMENT_END_DASH:
            if (c == '-') {
                t->state = S_COMMENT_END;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_COMMENT, t->cur);
                emit_comment(t);
                goto eof;
            } else {
                acc_lit_at(t, &t->comment, at(t, ABS(t, t->cur) - 1, 1), "-", 1);
                re = true;
                t->state = S_COMMENT;
            }
            break;
        case S_COMMENT_END:
            if (c == '>') {
                t->state = S_DATA;
                emit_comment(t);
            } else if (c == '!') {
                t->state = S_COMMENT_END_BANG;
            } else if (c == '-') {
                acc_lit_at(t, &t->comment, at(t, ABS(t, t->cur) - 2, 1), "-", 1);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_COMMENT, t->cur);
                emit_comment(t);
                goto eof;
            } else {
                acc_lit_at(t, &t->comment, at(t, ABS(t, t->cur) - 2, 2), "--", 2);
                re = true;
                t->state = S_COMMENT;
            }
            break;
        case S_COMMENT_END_BANG:
            if (c == '-') {
                acc_lit_at(t, &t->comment, at(t, ABS(t, t->cur) - 3, 3), "--!", 3);
                t->state = S_COMMENT_END_DASH;
            } else if (c == '>') {
                error(t, CS_HTML_ERR_INCORRECTLY_CLOSED_COMMENT, t->cur);
                t->state = S_DATA;
                emit_comment(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_COMMENT, t->cur);
                emit_comment(t);
                goto eof;
            } else {
                acc_lit_at(t, &t->comment, at(t, ABS(t, t->cur) - 3, 3), "--!", 3);
                re = true;
                t->state = S_COMMENT;
            }
            break;

        /* DOCTYPE */
        case S_DOCTYPE:
            t->tok_start = t->mark;
            if (is_ws(c)) {
                t->state = S_BEFORE_DOCTYPE_NAME;
            } else if (c == '>') {
                re = true;
                t->state = S_BEFORE_DOCTYPE_NAME;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                new_doctype(t);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_MISSING_WHITESPACE_BEFORE_DOCTYPE_NAME, t->cur);
                re = true;
                t->state = S_BEFORE_DOCTYPE_NAME;
            }
            break;
        case S_BEFORE_DOCTYPE_NAME:
            if (is_ws(c)) {
            } else if (c == '>') {
                error(t, CS_HTML_ERR_MISSING_DOCTYPE_NAME, t->cur);
                new_doctype(t);
                t->force_quirks = true;
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                new_doctype(t);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                new_doctype(t);
                t->has_name = true;
                if (c == 0) {
                    error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                    acc_bytes(t, &t->name, fffd, 3);
                } else {
                    app_lower(t, &t->name, c);
                }
                t->state = S_DOCTYPE_NAME;
            }
            break;
        case S_DOCTYPE_NAME:
            if (is_ws(c)) {
                t->state = S_AFTER_DOCTYPE_NAME;
            } else if (c == '>') {
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, &t->name, fffd, 3);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                app_lower(t, &t->name, c);
            }
            break;
        case S_AFTER_DOCTYPE_NAME:
            if (is_ws(c)) {
            } else if (c == '>') {
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else if (!t->final && t->len - t->cur < 6) {
                t->tail_from = t->cur; /* "PUBLIC" / "SYSTEM" may be cut */
                goto pause;
            } else if (next_is(t, t->cur, "PUBLIC", true)) {
                t->pos = t->cur + 6;
                t->state = S_AFTER_PUBLIC_KW;
            } else if (next_is(t, t->cur, "SYSTEM", true)) {
                t->pos = t->cur + 6;
                t->state = S_AFTER_SYSTEM_KW;
            } else {
                error(t, CS_HTML_ERR_INVALID_CHARACTER_SEQUENCE_AFTER_DOCTYPE_NAME, t->cur);
                t->force_quirks = true;
                re = true;
                t->state = S_BOGUS_DOCTYPE;
            }
            if (ABS(t, t->pos) > t->checked)
                t->checked = ABS(t, t->pos);
            break;
        case S_AFTER_PUBLIC_KW:
        case S_BEFORE_PUBLIC_ID:
        case S_AFTER_SYSTEM_KW:
        case S_BEFORE_SYSTEM_ID: {
            bool pub = t->state == S_AFTER_PUBLIC_KW || t->state == S_BEFORE_PUBLIC_ID;
            bool kw = t->state == S_AFTER_PUBLIC_KW || t->state == S_AFTER_SYSTEM_KW;
            if (is_ws(c)) {
                if (kw)
                    t->state = pub ? S_BEFORE_PUBLIC_ID : S_BEFORE_SYSTEM_ID;
            } else if (c == '"' || c == '\'') {
                if (kw)
                    error(t,
                          pub ? CS_HTML_ERR_MISSING_WHITESPACE_AFTER_DOCTYPE_PUBLIC_KEYWORD
                              : CS_HTML_ERR_MISSING_WHITESPACE_AFTER_DOCTYPE_SYSTEM_KEYWORD,
                          t->cur);
                if (pub) {
                    acc_reset(&t->pub);
                    t->has_pub = true;
                    t->state = c == '"' ? S_PUBLIC_ID_DQ : S_PUBLIC_ID_SQ;
                } else {
                    acc_reset(&t->sys);
                    t->has_sys = true;
                    t->state = c == '"' ? S_SYSTEM_ID_DQ : S_SYSTEM_ID_SQ;
                }
            } else if (c == '>') {
                error(t,
                      pub ? CS_HTML_ERR_MISSING_DOCTYPE_PUBLIC_IDENTIFIER
                          : CS_HTML_ERR_MISSING_DOCTYPE_SYSTEM_IDENTIFIER,
                      t->cur);
                t->force_quirks = true;
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                error(t,
                      pub ? CS_HTML_ERR_MISSING_QUOTE_BEFORE_DOCTYPE_PUBLIC_IDENTIFIER
                          : CS_HTML_ERR_MISSING_QUOTE_BEFORE_DOCTYPE_SYSTEM_IDENTIFIER,
                      t->cur);
                t->force_quirks = true;
                re = true;
                t->state = S_BOGUS_DOCTYPE;
            }
            break;
        }
        case S_PUBLIC_ID_DQ:
        case S_PUBLIC_ID_SQ:
        case S_SYSTEM_ID_DQ:
        case S_SYSTEM_ID_SQ: {
            bool pub = t->state == S_PUBLIC_ID_DQ || t->state == S_PUBLIC_ID_SQ;
            int q = (t->state == S_PUBLIC_ID_DQ || t->state == S_SYSTEM_ID_DQ) ? '"' : '\'';
            acc *a = pub ? &t->pub : &t->sys;
            if (c == q) {
                t->state = pub ? S_AFTER_PUBLIC_ID : S_AFTER_SYSTEM_ID;
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
                acc_bytes(t, a, fffd, 3);
            } else if (c == '>') {
                error(t,
                      pub ? CS_HTML_ERR_ABRUPT_DOCTYPE_PUBLIC_IDENTIFIER
                          : CS_HTML_ERR_ABRUPT_DOCTYPE_SYSTEM_IDENTIFIER,
                      t->cur);
                t->force_quirks = true;
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                app(t, a);
            }
            break;
        }
        case S_AFTER_PUBLIC_ID:
        case S_BETWEEN_IDS:
            if (is_ws(c)) {
                if (t->state == S_AFTER_PUBLIC_ID)
                    t->state = S_BETWEEN_IDS;
            } else if (c == '>') {
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == '"' || c == '\'') {
                if (t->state == S_AFTER_PUBLIC_ID)
                    error(t,
                          CS_HTML_ERR_MISSING_WHITESPACE_BETWEEN_DOCTYPE_PUBLIC_AND_SYSTEM_IDENTIFIERS,
                          t->cur);
                acc_reset(&t->sys);
                t->has_sys = true;
                t->state = c == '"' ? S_SYSTEM_ID_DQ : S_SYSTEM_ID_SQ;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_MISSING_QUOTE_BEFORE_DOCTYPE_SYSTEM_IDENTIFIER, t->cur);
                t->force_quirks = true;
                re = true;
                t->state = S_BOGUS_DOCTYPE;
            }
            break;
        case S_AFTER_SYSTEM_ID:
            if (is_ws(c)) {
            } else if (c == '>') {
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_DOCTYPE, t->cur);
                t->force_quirks = true;
                emit_doctype(t);
                goto eof;
            } else {
                error(t, CS_HTML_ERR_UNEXPECTED_CHARACTER_AFTER_DOCTYPE_SYSTEM_IDENTIFIER,
                      t->cur);
                re = true;
                t->state = S_BOGUS_DOCTYPE;
            }
            break;
        case S_BOGUS_DOCTYPE:
            if (c == '>') {
                t->state = S_DATA;
                emit_doctype(t);
            } else if (c == 0) {
                error(t, CS_HTML_ERR_UNEXPECTED_NULL_CHARACTER, t->cur);
            } else if (c == EOF_) {
                emit_doctype(t);
                goto eof;
            }
            break;

        /* CDATA sections */
        case S_CDATA:
            if (c == ']') {
                t->state = S_CDATA_BRACKET;
            } else if (c == EOF_) {
                error(t, CS_HTML_ERR_EOF_IN_CDATA, t->cur);
                goto eof;
            } else {
                text_cur(t, c != 0);
            }
            break;
        case S_CDATA_BRACKET:
            if (c == ']') {
                t->state = S_CDATA_END;
            } else {
                text_lit(t, ABS(t, t->cur) - 1, "]", 1);
                re = true;
                t->state = S_CDATA;
            }
            break;
        case S_CDATA_END:
            if (c == ']') {
                text_lit(t, ABS(t, t->cur) - 2, "]", 1);
            } else if (c == '>') {
                t->state = S_DATA;
            } else {
                text_lit(t, ABS(t, t->cur) - 2, "]]", 2);
                re = true;
                t->state = S_CDATA;
            }
            break;

        /* character references */
        case S_CHARREF:
            if (is_alnum(c)) {
                re = true;
                t->state = S_NAMED_CHARREF;
            } else if (c == '#') {
                t->state = S_NUMERIC_CHARREF;
            } else {
                flush_lit(t, t->mark, "&", 1);
                re = true;
                t->state = t->ret;
            }
            break;
        case S_NAMED_CHARREF: {
            if (!t->final && t->len - t->cur < 33) {
                t->tail_from = t->cur; /* the longest name and the character after it */
                goto pause;
            }
            uint32_t cp[2];
            size_t m = cs_html_entity_match(t->in + t->cur, t->len - t->cur, cp);
            if (m == 0) {
                flush_lit(t, t->mark, "&", 1);
                re = true;
                t->state = S_AMBIGUOUS_AMP;
                break;
            }
            t->pos = t->cur + m;
            if (ABS(t, t->pos) > t->checked)
                t->checked = ABS(t, t->pos);
            bool semi = t->in[t->cur + m - 1] == ';';
            int next = t->pos < t->len ? (unsigned char)t->in[t->pos] : EOF_;
            if (in_attr(t->ret) && !semi && (next == '=' || is_alnum(next))) {
                flush_lit(t, t->mark, "&", 1);
                acc_src(t, &t->ca->value, t->in + t->cur, m);
            } else {
                if (!semi)
                    error(t, CS_HTML_ERR_MISSING_SEMICOLON_AFTER_CHARACTER_REFERENCE, t->pos);
                flush_cp(t, cp[0]);
                if (cp[1])
                    flush_cp(t, cp[1]);
            }
            t->state = t->ret;
            break;
        }
        case S_AMBIGUOUS_AMP:
            if (is_alnum(c)) {
                if (in_attr(t->ret))
                    app(t, &t->ca->value);
                else
                    text_cur(t, false);
            } else {
                if (c == ';')
                    error(t, CS_HTML_ERR_UNKNOWN_NAMED_CHARACTER_REFERENCE, t->cur);
                re = true;
                t->state = t->ret;
            }
            break;
        case S_NUMERIC_CHARREF:
            t->code = 0;
            t->crlen = 2;
            memcpy(t->crbuf, "&#", 2);
            if (c == 'x' || c == 'X') {
                t->crbuf[t->crlen++] = (char)c;
                t->state = S_HEX_START;
            } else {
                re = true;
                t->state = S_DEC_START;
            }
            break;
        case S_HEX_START:
        case S_DEC_START:
            if (t->state == S_HEX_START ? hexval(c) >= 0 : is_digit(c)) {
                re = true;
                t->state = t->state == S_HEX_START ? S_HEX : S_DEC;
            } else {
                error(t, CS_HTML_ERR_ABSENCE_OF_DIGITS_IN_NUMERIC_CHARACTER_REFERENCE, t->cur);
                flush_lit(t, t->mark, t->crbuf, t->crlen);
                re = true;
                t->state = t->ret;
            }
            break;
        case S_HEX:
        case S_DEC: {
            int v = t->state == S_HEX ? hexval(c) : (is_digit(c) ? c - '0' : -1);
            if (v >= 0) {
                uint32_t base = t->state == S_HEX ? 16 : 10;
                if (t->code <= 0x10FFFF)
                    t->code = t->code * base + (uint32_t)v;
            } else if (c == ';') {
                numeric_end(t);
                t->state = t->ret;
            } else {
                error(t, CS_HTML_ERR_MISSING_SEMICOLON_AFTER_CHARACTER_REFERENCE, t->cur);
                numeric_end(t);
                re = true;
                t->state = t->ret;
            }
            break;
        }
        default:
            goto eof;
        }
    }
    goto out;
pause:
    /* keep the bytes from tail_from (a lookahead cut by the chunk's end:
     * at most a few dozen bytes), make the current token independent of
     * this buffer, and wait for more */
    detach(t);
    if (t->tail_from < t->len &&
        cs_buf_append(&t->carry, t->in + t->tail_from, t->len - t->tail_from))
        t->oom = true;
    t->base += t->tail_from;
    goto out;
eof:
    flush_text(t);
out:
    if (t->oom)
        return CS_ENOMEM;
    return t->cb_st;
}

cs_status cs_html_feed(cs_html_tokenizer *t, const char *chunk, size_t len, cs_html_token_fn fn,
                       void *ud)
{
    if (!t->running)
        begin(t);
    t->fn = fn;
    t->ud = ud;
    return run(t, chunk, len, false);
}

cs_status cs_html_finish(cs_html_tokenizer *t, cs_html_token_fn fn, void *ud)
{
    if (!t->running)
        begin(t);
    t->fn = fn;
    t->ud = ud;
    cs_status st = run(t, "", 0, true);
    t->running = false;
    return st;
}

cs_status cs_html_tokenize(cs_html_tokenizer *t, const char *in, size_t len,
                           cs_html_token_fn fn, void *ud)
{
    begin(t);
    t->fn = fn;
    t->ud = ud;
    cs_status st = run(t, in, len, true);
    t->running = false;
    return st;
}
