/* text.c - text normalisation for the filters: NFKC, invalid UTF-8 replaced,
 * control and format characters removed, white space collapsed.
 *
 * Plain ASCII (most alt texts) takes a byte loop that allocates nothing;
 * other text goes through GLib's Unicode tables (g_utf8_make_valid,
 * g_utf8_normalize, g_unichar_type), which libvips already links, rather
 * than hand-written tables.
 *
 * Non-ASCII text made only of characters of the Basic Multilingual Plane
 * whose normalisation is "local" (most CJK, Cyrillic, Latin with accents,
 * NBSP, fullwidth forms) takes a second loop that allocates nothing either:
 * a table worked out once per process from GLib itself (fast_table) says,
 * for each BMP character, what NFKC + the cleanup make of it. The rule
 * (UAX #15, quick check): a string of characters that are their own NFKC,
 * have combining class 0 and are not the second half of any canonical
 * pair is in NFKC; and NFKC(s) = NFKC(s with c replaced by NFKC(c)), so a
 * character whose NFKC is made of such characters can be replaced by it.
 * Anything else (a combining mark, a character outside the BMP, invalid
 * UTF-8, a NUL) sends the whole text to GLib, as before; the test
 * filter_normalize_fast_equals_glib compares the two on every BMP
 * character in context. */
#include <pthread.h>
#include <string.h>

#include <glib.h>

#include "filter/filter_int.h"
#include "util/utf8.h"

static inline bool ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* ---- the BMP table ------------------------------------------------------ */

/* fast_table[c]: FT_SLOW (GLib must do it), FT_KEEP, FT_SPACE, FT_DROP, or
 * FT_REPL + the offset in fast_pool of {length, characters...} of NFKC(c)
 * (each of them itself FT_KEEP, FT_SPACE or FT_DROP). */
enum { FT_SLOW, FT_KEEP, FT_SPACE, FT_DROP, FT_REPL };
#define POOL_MAX 24576
static uint16_t fast_table[0x10000];
static uint32_t fast_pool[POOL_MAX];
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

/* what the cleanup does with character c of the NFKC text */
static uint16_t cleanup_kind(gunichar c)
{
    if (g_unichar_isspace(c) || c == 0x200B || c == 0x0B)
        return FT_SPACE;
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT ? FT_DROP : FT_KEEP;
}

static uint8_t second[0x10000 / 8]; /* fast_init's scratch */

static bool is_second(gunichar c)
{
    return c < 0x10000 && (second[c >> 3] >> (c & 7) & 1);
}

/* NFKC of the single character c into out (at most cap); its length, or 0
 * when it does not fit. Without GLib's allocation when the compatibility
 * decomposition holds nothing that could compose (no second half of a pair,
 * no combining mark): then it is the NFKC. */
static size_t nfkc_char(gunichar c, gunichar *out, size_t cap)
{
    gunichar d[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
    gsize n = g_unichar_fully_decompose(c, TRUE, d, G_N_ELEMENTS(d));
    if (n == 1 && d[0] == c) { /* no decomposition: its own NFKC */
        out[0] = c;
        return 1;
    }
    bool plain = n <= cap;
    for (gsize i = 0; plain && i < n; i++)
        plain = !is_second(d[i]) && g_unichar_combining_class(d[i]) == 0;
    if (plain) {
        memcpy(out, d, n * sizeof *d);
        return n;
    }
    char u[8];
    u[g_unichar_to_utf8(c, u)] = '\0';
    gchar *norm = g_utf8_normalize(u, -1, G_NORMALIZE_NFKC);
    size_t k = 0;
    for (const gchar *p = norm; p && *p && k <= cap; p = g_utf8_next_char(p))
        if (k++ < cap)
            out[k - 1] = g_utf8_get_char(p);
    g_free(norm);
    return k <= cap ? k : 0;
}

static bool nonchar(gunichar c)
{
    return (c >= 0xD800 && c <= 0xDFFF) || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

/* About 5 ms, once per process (the first text that is not ASCII). */
static void fast_init(void)
{
    /* the second halves of canonical pairs, which may compose with what
     * comes before them (planes 0 and 1: plane 2's decompositions are
     * singletons, and no pair outside the BMP has its second in it) */
    for (gunichar c = 0; c < 0x20000; c++) {
        gunichar a, b;
        if (!(c >= 0xD800 && c <= 0xDFFF) && g_unichar_decompose(c, &a, &b) && b && b < 0x10000)
            second[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    /* pass 1: the characters that are their own NFKC and never move or
     * compose ("stable"); the NFKC of the others go to the pool */
    static uint8_t stable[0x10000 / 8];
    static uint16_t pending[0x10000];
    static uint32_t pending_at[0x10000];
    size_t npending = 0, used = 0;
    for (gunichar c = 1; c < 0x10000; c++) {
        if (nonchar(c))
            continue; /* surrogates and noncharacters: GLib's business */
        if (c >= 0xAC00 && c <= 0xD7A3) { /* Hangul syllables: their own NFKC */
            stable[c >> 3] |= (uint8_t)(1u << (c & 7));
            fast_table[c] = cleanup_kind(c);
            continue;
        }
        gunichar r[32];
        size_t n = nfkc_char(c, r, G_N_ELEMENTS(r));
        if (n == 1 && r[0] == c) {
            if (!is_second(c) && g_unichar_combining_class(c) == 0) {
                stable[c >> 3] |= (uint8_t)(1u << (c & 7));
                fast_table[c] = cleanup_kind(c);
            }
        } else if (n > 0 && used + 1 + n <= POOL_MAX && FT_REPL + used <= 0xFFFF) {
            pending[npending] = (uint16_t)c;
            pending_at[npending++] = (uint32_t)used;
            fast_pool[used++] = (uint32_t)n;
            for (size_t i = 0; i < n; i++)
                fast_pool[used++] = r[i];
        }
    }
    /* pass 2: characters whose NFKC is a string of stable characters */
    for (size_t k = 0; k < npending; k++) {
        const uint32_t *r = &fast_pool[pending_at[k]];
        bool ok = true;
        for (size_t i = 1; ok && i <= r[0]; i++)
            ok = r[i] < 0x10000 && (stable[r[i] >> 3] >> (r[i] & 7) & 1);
        if (ok)
            fast_table[pending[k]] = (uint16_t)(FT_REPL + pending_at[k]);
    }
}

/* Decodes the well-formed UTF-8 sequence at s[*i] (of n), a BMP character
 * beyond ASCII; 0 when it is not one (the caller hands over to GLib). */
static uint32_t utf8_bmp(const unsigned char *s, size_t n, size_t *i)
{
    size_t k = *i;
    unsigned char c = s[k];
    if (c >= 0xC2 && c <= 0xDF && k + 1 < n && (s[k + 1] & 0xC0) == 0x80) {
        *i = k + 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[k + 1] & 0x3F);
    }
    if (c >= 0xE0 && c <= 0xEF && k + 2 < n && (s[k + 1] & 0xC0) == 0x80 &&
        (s[k + 2] & 0xC0) == 0x80) {
        uint32_t u = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[k + 1] & 0x3F) << 6) |
                     (s[k + 2] & 0x3F);
        if (u < 0x800 || (u >= 0xD800 && u <= 0xDFFF))
            return 0; /* overlong, surrogate */
        *i = k + 3;
        return u;
    }
    return 0;
}

/* The table's normalisation of s[0..n) appended to out: CS_OK, CS_EAGAIN
 * (out unchanged) when a character needs GLib, or an error of cs_buf. */
static cs_status normalize_fast(const char *s, size_t n, cs_buf *out, size_t *chars)
{
    pthread_once(&fast_once, fast_init);
    const unsigned char *p = (const unsigned char *)s;
    size_t start = out->len, count = 0;
    bool space = false;
    /* room for the input as it is, grown below when a replacement needs it */
    cs_status st = cs_buf_reserve(out, n + 1);
    if (st)
        return st;
    char *w = out->data + out->len;
    for (size_t i = 0; i < n;) {
        uint32_t u = p[i], kind;
        if (u < 0x80) {
            i++;
            kind = fast_table[u];
        } else {
            kind = (u = utf8_bmp(p, n, &i)) ? fast_table[u] : FT_SLOW;
        }
        if (kind == FT_SLOW) {
            out->len = start;
            out->data[start] = '\0';
            return CS_EAGAIN;
        }
        const uint32_t *r = &u;
        size_t rn = 1;
        if (kind >= FT_REPL) {
            r = &fast_pool[kind - FT_REPL + 1];
            rn = fast_pool[kind - FT_REPL];
            size_t used = (size_t)(w - out->data);
            if (used + 3 * rn + (n - i) + 2 > out->cap) {
                out->len = used;
                if ((st = cs_buf_reserve(out, 3 * rn + (n - i) + 2))) {
                    out->len = start;
                    return st;
                }
                w = out->data + used;
            }
        }
        for (size_t j = 0; j < rn; j++) {
            uint32_t x = r[j];
            uint32_t k = kind < FT_REPL ? kind : fast_table[x];
            if (k == FT_SPACE) {
                space = true;
                continue;
            }
            if (k == FT_DROP)
                continue;
            if (space && count)
                *w++ = ' ', count++;
            space = false;
            w += cs__utf8_put(w, x);
            count++;
        }
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    *chars = count;
    return CS_OK;
}

cs_status cs_filter_normalize_text(const char *s, size_t n, cs_buf *out, size_t *chars)
{
    *chars = 0;
    size_t i = 0;
    for (; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            break;
    cs_status st = cs_buf_reserve(out, n + 1);
    if (st)
        return st;
    size_t count = 0;
    bool space = false;
    if (i == n) { /* ASCII */
        char *w = out->data + out->len;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (ascii_space(c)) {
                space = true;
                continue;
            }
            if (c < 0x20 || c == 0x7f)
                continue;
            if (space && count)
                *w++ = ' ', count++;
            space = false;
            *w++ = (char)c;
            count++;
        }
        out->len = (size_t)(w - out->data);
        out->data[out->len] = '\0';
        *chars = count;
        return CS_OK;
    }
    if ((st = normalize_fast(s, n, out, chars)) != CS_EAGAIN)
        return st;
    return cs__normalize_text_glib(s, n, out, chars);
}

cs_status cs__normalize_text_glib(const char *s, size_t n, cs_buf *out, size_t *chars)
{
    *chars = 0;
    cs_status st = cs_buf_reserve(out, n + 1);
    if (st)
        return st;
    size_t count = 0, i;
    bool space = false;
    /* NULs would end GLib's strings early: they are controls, drop them */
    gchar *copy = g_malloc(n + 1);
    size_t m = 0;
    for (i = 0; i < n; i++)
        if (s[i])
            copy[m++] = s[i];
    copy[m] = '\0';
    gchar *valid = g_utf8_make_valid(copy, (gssize)m);
    g_free(copy);
    gchar *norm = g_utf8_normalize(valid, -1, G_NORMALIZE_NFKC);
    g_free(valid);
    if (!norm)
        return CS_ENOMEM;
    size_t nl = strlen(norm);
    if ((st = cs_buf_reserve(out, nl + 1))) {
        g_free(norm);
        return st;
    }
    char *w = out->data + out->len;
    for (const gchar *p = norm; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        /* (vertical tab: GLib calls it a control, the ASCII loop a space) */
        if (g_unichar_isspace(c) || c == 0x200B || c == 0x0B) {
            space = true;
            continue;
        }
        GUnicodeType t = g_unichar_type(c);
        if (t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT)
            continue;
        if (space && count)
            *w++ = ' ', count++;
        space = false;
        w += g_unichar_to_utf8(c, w);
        count++;
    }
    g_free(norm);
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    *chars = count;
    return CS_OK;
}
