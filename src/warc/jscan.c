/* jscan.c - block classification, skipping, scalars, errors and unescaping
 * for the private JSON pull scanner (jscan.h).
 *
 * Why hand-written and not the JSON library (jansson, used elsewhere for
 * configuration-sized documents): `crawlset wat links` must keep up with
 * inflating the WAT file, i.e. spend well under a nanosecond per byte of
 * JSON. jansson builds a DOM with a hash table per object and a heap string
 * per value for every record, most of which (Container, HTTP headers, Metas,
 * Scripts) we never look at; no faster C parser is packaged in Debian
 * (yyjson is not, simdjson is C++). This scanner builds nothing: it walks
 * the few paths we want over a SIMD token index (the simdjson stage-1
 * technique, see jscan.h), skips the rest token by token (a string of any
 * length is one token) while checking the grammar, and unescapes only the
 * strings that are output. Its results are cross-checked against jansson by
 * tests/warc/test_wat.c and by the differential fuzzer fuzz/fuzz_wat.c. */
#include <stdlib.h>

#include "util/utf8.h"
#include "warc/jscan.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void cs__js_init(cs_jscan *js, const char *p, size_t n, unsigned max_depth)
{
    memset(js, 0, sizeof *js);
    js->start = p;
    js->len = n;
    js->perr_pos = CS_JS_NONE;
    if (max_depth == 0)
        max_depth = CS_JS_DEFAULT_DEPTH;
    js->max_depth = max_depth > CS_JS_MAX_DEPTH ? CS_JS_MAX_DEPTH : max_depth;
}

bool cs__js_fail(cs_jscan *js, size_t at, cs_status st, const char *what)
{
    if (!js->err) {
        js->err = what;
        js->st = st;
        js->err_off = at > js->len ? js->len : at;
        js->toks = 0;
        js->next_blk = CS_JS_NONE; /* no more tokens */
    }
    return false;
}

bool cs__js_raise_pending(cs_jscan *js)
{
    return cs__js_fail(js, js->perr_pos, js->perr_st, js->perr_msg);
}

static void pending(cs_jscan *js, size_t pos, cs_status st, const char *what)
{
    if (pos < js->perr_pos) {
        js->perr_pos = pos;
        js->perr_st = st;
        js->perr_msg = what;
    }
}

/* ---- stage 1: one 64-byte block to bitmasks -------------------------------- */

typedef struct masks {
    uint64_t quote, bs, ws, op, ctrl;
} masks;

#if defined(__SSE2__)
static inline uint64_t mbits(__m128i x) { return (uint64_t)(unsigned)_mm_movemask_epi8(x); }

static void classify_sse2(const char *p, masks *m)
{
    const __m128i cq = _mm_set1_epi8('"'), cb = _mm_set1_epi8('\\'), csp = _mm_set1_epi8(' ');
    const __m128i ct = _mm_set1_epi8('\t'), cn = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    const __m128i c20 = _mm_set1_epi8(0x20), clb = _mm_set1_epi8('{'), crb = _mm_set1_epi8('}');
    const __m128i ccol = _mm_set1_epi8(':'), ccom = _mm_set1_epi8(','), c1f = _mm_set1_epi8(0x1F);
    memset(m, 0, sizeof *m);
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
        __m128i ok = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, ct), _mm_cmpeq_epi8(v, cn)),
                                  _mm_cmpeq_epi8(v, cr));
        __m128i v20 = _mm_or_si128(v, c20); /* '[' -> '{', ']' -> '}' */
        __m128i op = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v20, clb), _mm_cmpeq_epi8(v20, crb)),
                                  _mm_or_si128(_mm_cmpeq_epi8(v, ccol), _mm_cmpeq_epi8(v, ccom)));
        unsigned sh = 16u * (unsigned)i;
        m->quote |= mbits(_mm_cmpeq_epi8(v, cq)) << sh;
        m->bs |= mbits(_mm_cmpeq_epi8(v, cb)) << sh;
        m->ws |= mbits(_mm_or_si128(ok, _mm_cmpeq_epi8(v, csp))) << sh;
        m->op |= mbits(op) << sh;
        m->ctrl |= mbits(_mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v)) << sh;
    }
}
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CS_JS_X86_DISPATCH 1

/* The same classification 32 bytes at a time (chosen at run time). */
__attribute__((target("avx2"))) static void classify_avx2(const char *p, masks *m)
{
    const __m256i cq = _mm256_set1_epi8('"'), cb = _mm256_set1_epi8('\\');
    const __m256i csp = _mm256_set1_epi8(' '), ct = _mm256_set1_epi8('\t');
    const __m256i cn = _mm256_set1_epi8('\n'), cr = _mm256_set1_epi8('\r');
    const __m256i c20 = _mm256_set1_epi8(0x20), clb = _mm256_set1_epi8('{');
    const __m256i crb = _mm256_set1_epi8('}'), ccol = _mm256_set1_epi8(':');
    const __m256i ccom = _mm256_set1_epi8(','), c1f = _mm256_set1_epi8(0x1F);
    uint64_t r[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 2; i++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * i));
        __m256i ok = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, ct),
                                                     _mm256_cmpeq_epi8(v, cn)),
                                     _mm256_cmpeq_epi8(v, cr));
        __m256i v20 = _mm256_or_si256(v, c20);
        __m256i op = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v20, clb), _mm256_cmpeq_epi8(v20, crb)),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, ccol), _mm256_cmpeq_epi8(v, ccom)));
        unsigned sh = 32u * (unsigned)i;
        r[0] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, cq)) << sh;
        r[1] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, cb)) << sh;
        r[3] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                    _mm256_or_si256(ok, _mm256_cmpeq_epi8(v, csp))) << sh;
        r[4] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(op) << sh;
        r[5] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
                    _mm256_cmpeq_epi8(_mm256_min_epu8(v, c1f), v)) << sh;
    }
    m->quote = r[0], m->bs = r[1], m->ws = r[3], m->op = r[4], m->ctrl = r[5];
}

/* And 64 bytes at once into mask registers where AVX-512BW is there. */
__attribute__((target("avx512f,avx512bw"))) static void classify_avx512(const char *p, masks *m)
{
    __m512i v = _mm512_loadu_si512((const void *)p);
    __m512i v20 = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
    uint64_t ok = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\t')) |
                  _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\n')) |
                  _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\r'));
    m->quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
    m->bs = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
    m->ws = ok | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(' '));
    m->op = _mm512_cmpeq_epi8_mask(v20, _mm512_set1_epi8('{')) |
            _mm512_cmpeq_epi8_mask(v20, _mm512_set1_epi8('}')) |
            _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(':')) |
            _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(','));
    m->ctrl = _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20));
}

/* 0 = not yet chosen, 1 = SSE2, 2 = AVX2, 3 = AVX-512BW. CS_JSCAN_SIMD=sse2|avx2
 * in the environment caps the choice (benchmarks, tests of each path). */
static int g_isa;

static int choose_isa(void)
{
    int isa = 1;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        isa = 2;
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f"))
        isa = 3;
    const char *cap = getenv("CS_JSCAN_SIMD");
    if (cap && !strcmp(cap, "sse2"))
        isa = 1;
    else if (cap && !strcmp(cap, "avx2") && isa > 2)
        isa = 2;
    return isa;
}

static inline void classify(const char *p, masks *m)
{
    int isa = g_isa;
    if (__builtin_expect(isa == 0, 0))
        g_isa = isa = choose_isa(); /* idempotent: a race writes the same value */
    if (isa == 3)
        classify_avx512(p, m);
    else if (isa == 2)
        classify_avx2(p, m);
    else
        classify_sse2(p, m);
}
#elif defined(__SSE2__)
static inline void classify(const char *p, masks *m) { classify_sse2(p, m); }
#else
static inline void classify(const char *p, masks *m)
{
    memset(m, 0, sizeof *m);
    for (unsigned i = 0; i < 64; i++) {
        unsigned char c = (unsigned char)p[i];
        uint64_t bit = (uint64_t)1 << i;
        bool ok = c == '\t' || c == '\n' || c == '\r';
        if (c == '"')
            m->quote |= bit;
        if (c == '\\')
            m->bs |= bit;
        if (ok || c == ' ')
            m->ws |= bit;
        if (c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',')
            m->op |= bit;
        if (c < 0x20)
            m->ctrl |= bit;
    }
}
#endif

static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

#define ODD_BITS 0xAAAAAAAAAAAAAAAAull

/* Bytes preceded by an odd run of backslashes (the escaped ones), with the
 * carry across blocks; the technique of simdjson's json_escape_scanner. */
static inline uint64_t find_escaped(uint64_t bs, uint64_t *carry)
{
    if (bs == 0) {
        uint64_t escaped = *carry;
        *carry = 0;
        return escaped;
    }
    uint64_t potential = bs & ~*carry;
    uint64_t maybe_escaped = potential << 1;
    uint64_t code = ((maybe_escaped | ODD_BITS) - potential) ^ ODD_BITS;
    uint64_t escaped = code ^ (bs | *carry);
    uint64_t escape = code & bs;
    *carry = escape >> 63;
    return escaped;
}

static inline bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Checks the escaped bytes of a block that lie inside strings. */
static void check_escapes(cs_jscan *js, size_t base, uint64_t e)
{
    const char *s = js->start;
    while (e) {
        size_t pos = base + (size_t)__builtin_ctzll(e);
        e &= e - 1;
        if (pos >= js->len) {
            pending(js, pos - 1, CS_ETRUNC, "unexpected end of input in string");
            return;
        }
        switch (s[pos]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            for (size_t k = 1; k <= 4; k++) {
                if (pos + k >= js->len) {
                    pending(js, pos - 1, CS_ETRUNC, "unexpected end of input in string");
                    return;
                }
                if (!is_hex((unsigned char)s[pos + k])) {
                    pending(js, pos - 1, CS_EFORMAT, "invalid \\u escape in string");
                    return;
                }
            }
            break;
        default:
            pending(js, pos - 1, CS_EFORMAT, "invalid escape in string");
            return;
        }
    }
}

bool cs__js_fill(cs_jscan *js)
{
    size_t off = js->next_blk;
    if (js->perr_pos != CS_JS_NONE) { /* every token from here on lies beyond it */
        cs__js_raise_pending(js);
        return false;
    }
    if (off >= js->len)
        return false;
    const char *p = js->start + off;
    char pad[64];
    if (js->len - off < 64) { /* the last, partial block: pad with spaces */
        memset(pad, ' ', sizeof pad);
        memcpy(pad, p, js->len - off);
        p = pad;
    }
    masks m;
    classify(p, &m);
    uint64_t escaped = find_escaped(m.bs, &js->esc_carry);
    uint64_t quote = m.quote & ~escaped;
    uint64_t in_str = prefix_xor(quote) ^ js->in_str_carry;
    js->in_str_carry = (uint64_t)((int64_t)in_str >> 63);
    /* control characters: none inside strings, only TAB/LF/CR outside */
    uint64_t bad = m.ctrl & (in_str | ~m.ws);
    if (bad)
        pending(js, off + (size_t)__builtin_ctzll(bad), CS_EFORMAT,
                (bad & in_str & -bad) ? "control character in string"
                                      : "control character outside a string");
    if (escaped & in_str)
        check_escapes(js, off, escaped & in_str);
    /* tokens: quotes, operators outside strings, starts of other runs */
    uint64_t scalar = ~(m.op | m.ws | quote | in_str);
    uint64_t starts = scalar & ~((scalar << 1) | js->scalar_carry);
    js->scalar_carry = scalar >> 63;
    uint64_t toks = (m.op & ~in_str) | (quote & in_str) | starts;
    if (js->perr_pos != CS_JS_NONE) { /* serve only the tokens up to the error */
        size_t k = js->perr_pos + 1 - off; /* tokens at offsets < k survive */
        toks = js->perr_pos + 1 <= off ? 0 : k >= 64 ? toks : toks & (((uint64_t)1 << k) - 1);
    }
    js->toks = toks;
    if (js->bs) /* remember the previous block's last backslash */
        js->last_bs = js->blk + 63 - (size_t)__builtin_clzll(js->bs);
    js->bs = m.bs;
    js->blk = off;
    js->next_blk = off + 64;
    return true;
}

/* ---- stage 2 helpers --------------------------------------------------------- */

static inline bool is_delim(cs_jscan *js, size_t pos)
{
    if (pos >= js->len)
        return true;
    char c = js->start[pos];
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':' || c == ']' ||
           c == '}' || c == '[' || c == '{' || c == '"';
}

static inline bool digit_at(cs_jscan *js, size_t p)
{
    return p < js->len && js->start[p] >= '0' && js->start[p] <= '9';
}

/* Validates the number or literal starting at pos. */
static bool scalar(cs_jscan *js, size_t pos)
{
    const char *s = js->start;
    size_t p = pos;
    const char *lit = NULL;
    size_t n = 0;
    switch (s[pos]) {
    case 't': lit = "true", n = 4; break;
    case 'f': lit = "false", n = 5; break;
    case 'n': lit = "null", n = 4; break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        if (s[p] == '-')
            p++;
        if (p >= js->len)
            return cs__js_fail(js, pos, CS_ETRUNC, "unexpected end of input in number");
        if (s[p] == '0')
            p++;
        else if (digit_at(js, p))
            while (digit_at(js, p))
                p++;
        else
            return cs__js_fail(js, pos, CS_EFORMAT, "invalid number");
        if (p < js->len && s[p] == '.') {
            p++;
            if (!digit_at(js, p))
                return cs__js_fail(js, pos, p >= js->len ? CS_ETRUNC : CS_EFORMAT,
                                   "invalid number");
            while (digit_at(js, p))
                p++;
        }
        if (p < js->len && (s[p] == 'e' || s[p] == 'E')) {
            p++;
            if (p < js->len && (s[p] == '+' || s[p] == '-'))
                p++;
            if (!digit_at(js, p))
                return cs__js_fail(js, pos, p >= js->len ? CS_ETRUNC : CS_EFORMAT,
                                   "invalid number");
            while (digit_at(js, p))
                p++;
        }
        if (!is_delim(js, p))
            return cs__js_fail(js, pos, CS_EFORMAT, "invalid number");
        return true;
    default:
        return cs__js_fail(js, pos, CS_EFORMAT, "expected a value");
    }
    size_t have = js->len - pos;
    if (have < n) {
        if (memcmp(s + pos, lit, have) == 0)
            return cs__js_fail(js, pos, CS_ETRUNC, "unexpected end of input");
        return cs__js_fail(js, pos, CS_EFORMAT, "invalid literal (expected a value)");
    }
    if (memcmp(s + pos, lit, n) != 0 || !is_delim(js, pos + n))
        return cs__js_fail(js, pos, CS_EFORMAT, "invalid literal (expected a value)");
    return true;
}

/* The token loop of cs__js_skip keeps the cursor in locals: every byte it
 * reads from the document could alias *js as far as the compiler knows, so
 * working on js->toks directly would reload it after each byte. */
#define JS_NEXT(on_end)                                                                 \
    do {                                                                                  \
        while (toks == 0) {                                                               \
            js->toks = 0;                                                                 \
            if (!cs__js_fill(js)) {                                                       \
                on_end;                                                                   \
            }                                                                             \
            toks = js->toks;                                                              \
            blk = js->blk;                                                                \
        }                                                                                 \
        pos = blk + (size_t)__builtin_ctzll(toks);                                        \
        toks &= toks - 1;                                                                 \
    } while (0)

bool cs__js_skip(cs_jscan *js)
{
    const char *s = js->start;
    uint64_t stack[CS_JS_MAX_DEPTH / 64]; /* bit set: open container is an object */
    unsigned d = 0;
    unsigned max = js->max_depth > js->depth ? js->max_depth - js->depth : 0;
    uint64_t toks = js->toks;
    size_t blk = js->blk, pos;
    char c;

value:
    JS_NEXT(return cs__js_eof(js, "unexpected end of input (expected a value)"));
value_at:
    c = s[pos];
    if (c == '"') /* the whole string is this one token */
        goto after;
    if (c == '{') {
        if (d >= max)
            return cs__js_fail(js, pos, CS_ETOOBIG, "nesting too deep");
        stack[d >> 6] |= (uint64_t)1 << (d & 63);
        d++;
        JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
        if (s[pos] == '}') {
            d--;
            goto after;
        }
        goto key;
    }
    if (c == '[') {
        if (d >= max)
            return cs__js_fail(js, pos, CS_ETOOBIG, "nesting too deep");
        stack[d >> 6] &= ~((uint64_t)1 << (d & 63));
        d++;
        JS_NEXT(return cs__js_eof(js, "unexpected end of input in array"));
        if (s[pos] == ']') {
            d--;
            goto after;
        }
        goto value_at;
    }
    if (c == ']' || c == '}' || c == ',' || c == ':')
        return cs__js_fail(js, pos, CS_EFORMAT, "expected a value");
    js->toks = toks; /* scalar() may fail, and failing clears the cursor */
    if (!scalar(js, pos))
        return false;
    goto after;

key: /* pos is the token that must open the member's key */
    if (s[pos] != '"')
        return cs__js_fail(js, pos, CS_EFORMAT, "expected a string as object key");
    JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
    if (s[pos] != ':')
        return cs__js_fail(js, pos, CS_EFORMAT, "expected ':' after object key");
    goto value;

after:
    if (d == 0) {
        js->toks = toks;
        return true;
    }
    JS_NEXT(return cs__js_eof(js, "unexpected end of input in container"));
    {
        bool is_obj = (stack[(d - 1) >> 6] >> ((d - 1) & 63)) & 1;
        c = s[pos];
        if (c == ',') {
            if (!is_obj)
                goto value;
            JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
            goto key;
        }
        if ((c == '}' && is_obj) || (c == ']' && !is_obj)) {
            d--;
            goto after;
        }
        return cs__js_fail(js, pos, CS_EFORMAT,
                           is_obj ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
    }
}

/* Up to the first 8 bytes of p[0..len) as a little-endian word, zero padded
 * (end: end of the document, so the fast 8-byte load stays inside it). */
static inline uint64_t key_word(const char *p, size_t len, const char *end)
{
    uint64_t w = 0;
    if (len > 8)
        len = 8;
    if (end - p >= 8) {
        memcpy(&w, p, 8);
        if (len < 8)
            w &= ((uint64_t)1 << (8 * len)) - 1;
        return w;
    }
    for (size_t i = 0; i < len; i++)
        w |= (uint64_t)(unsigned char)p[i] << (8 * i);
    return w;
}

void cs__js_keys_init(cs_jkeys *k, const char *const *names, unsigned n)
{
    k->n = n > 32 ? 32 : n;
    k->names = names;
    for (unsigned i = 0; i < k->n; i++) {
        size_t len = strlen(names[i]);
        k->lens[i] = (uint16_t)len;
        k->words[i] = key_word(names[i], len, names[i] + len);
    }
}

static inline int match_key(const cs_jscan *js, const cs_jkeys *keys, size_t open, size_t close)
{
    const char *k = js->start + open + 1;
    size_t len = close - open - 1;
    uint64_t w = key_word(k, len, js->start + js->len);
    for (unsigned i = 0; i < keys->n; i++)
        if (keys->words[i] == w && keys->lens[i] == len &&
            (len <= 8 || memcmp(k, keys->names[i], len) == 0))
            return (int)i;
    if (cs__js_has_bs(js, open, close)) {
        cs_jstr ks = {k, len, true};
        for (unsigned i = 0; i < keys->n; i++)
            if (cs__js_str_is_slow(&ks, keys->names[i], keys->lens[i]))
                return (int)i;
    }
    return -1;
}

bool cs__js_object_strings(cs_jscan *js, const cs_jkeys *keys, cs_jspan *spans,
                           uint32_t *present, uint32_t *escaped, uint32_t *wrong)
{
    const char *s = js->start;
    uint64_t toks = js->toks;
    size_t blk = js->blk, pos, open;
    *present = *escaped = *wrong = 0;
    if (js->err)
        return false;
    JS_NEXT(return cs__js_eof(js, "unexpected end of input"));
    if (s[pos] != '{')
        return cs__js_fail(js, pos, CS_EFORMAT, "expected an object");
    if (js->depth >= js->max_depth)
        return cs__js_fail(js, pos, CS_ETOOBIG, "nesting too deep");
    JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
    if (s[pos] != '}') {
        for (;;) {
            if (s[pos] != '"')
                return cs__js_fail(js, pos, CS_EFORMAT, "expected a string as object key");
            open = pos;
            JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
            if (s[pos] != ':')
                return cs__js_fail(js, pos, CS_EFORMAT, "expected ':' after object key");
            size_t close = cs__js_close_before(js, pos);
            int idx = match_key(js, keys, open, close);
            JS_NEXT(return cs__js_eof(js, "unexpected end of input (expected a value)"));
            if (s[pos] == '"') {
                open = pos;
                JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
                if (idx >= 0) {
                    close = cs__js_close_before(js, pos);
                    uint32_t bit = (uint32_t)1 << idx;
                    spans[idx].off = (uint32_t)(open + 1);
                    spans[idx].len = (uint32_t)(close - open - 1);
                    *escaped = cs__js_has_bs(js, open, close) ? *escaped | bit : *escaped & ~bit;
                    *present |= bit;
                    *wrong &= ~bit;
                }
            } else {
                if (idx >= 0) {
                    *present &= ~((uint32_t)1 << idx);
                    *wrong |= (uint32_t)1 << idx;
                }
                /* any other value: hand the token back and skip it */
                js->toks = toks | ((uint64_t)1 << (pos - blk));
                js->depth++;
                bool ok = cs__js_skip(js);
                js->depth--;
                if (!ok)
                    return false;
                toks = js->toks;
                blk = js->blk;
                JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
            }
            if (s[pos] == '}')
                break;
            if (s[pos] != ',')
                return cs__js_fail(js, pos, CS_EFORMAT, "expected ',' or '}' in object");
            JS_NEXT(return cs__js_eof(js, "unexpected end of input in object"));
        }
    }
    js->toks = toks;
    js->first = false;
    return true;
}

bool cs__js_finish(cs_jscan *js)
{
    if (js->err)
        return false;
    size_t pos = cs__js_tok(js);
    if (pos != CS_JS_NONE)
        return cs__js_fail(js, pos, CS_EFORMAT, "unexpected data after the JSON document");
    return js->err == NULL;
}

/* ---- unescaping ---------------------------------------------------------------- */

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
                    unsigned lo = is_u_escape(raw, i, len) ? hex4(raw + i + 2) : 0;
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    } else {
                        cp = 0xFFFD;
                    }
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                o += cs__utf8_put(out + o, cp);
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
