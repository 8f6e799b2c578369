/* url.c - RFC 3986 reference resolution (section 5.2) into a caller buffer.
 * Why hand-written instead of liburiparser: see include/crawlset/url.h. */
#include <string.h>

#include "crawlset/url.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Index of the first byte of s[0..n) equal to a, b or c; n if none. Hrefs
 * are tens of bytes, so this is the inner loop of splitting them; the last
 * partial chunk is read as an overlapping full one. */
static inline size_t find3(const char *s, size_t n, char a, char b, char c)
{
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c);
        size_t i = 0;
        for (;;) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
                                     _mm_cmpeq_epi8(v, vc));
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (bits)
                return i + (size_t)__builtin_ctz(bits);
            if (i + 16 == n)
                return n;
            i = i + 32 <= n ? i + 16 : n - 16; /* overlap: bytes before i were clean */
        }
    }
#endif
    for (size_t i = 0; i < n; i++)
        if (s[i] == a || s[i] == b || s[i] == c)
            return i;
    return n;
}

/* True when s[0..n) holds a byte below 0x20 (TAB, LF, CR and the rest). */
static inline bool has_ctl(const char *s, size_t n)
{
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i c1f = _mm_set1_epi8(0x1F);
        for (size_t i = 0;;) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v)))
                return true;
            if (i + 16 == n)
                return false;
            i = i + 32 <= n ? i + 16 : n - 16;
        }
    }
#endif
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return true;
    return false;
}

static inline bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

void cs_url_split(const char *s, size_t n, cs_url_parts *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    if (n && is_alpha((unsigned char)s[0])) {
        size_t j = 1;
        while (j < n) {
            unsigned char c = (unsigned char)s[j];
            if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'))
                break;
            j++;
        }
        if (j < n && s[j] == ':') {
            out->has_scheme = true;
            out->scheme = (cs_slice){s, j};
            i = j + 1;
        }
    }
    if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t j = i + 2 + find3(s + i + 2, n - i - 2, '/', '?', '#');
        out->has_authority = true;
        out->authority = (cs_slice){s + i + 2, j - i - 2};
        i = j;
    }
    size_t j = i + find3(s + i, n - i, '?', '#', '#');
    out->path = (cs_slice){s + i, j - i};
    i = j;
    if (i < n && s[i] == '?') {
        j = i + 1 + find3(s + i + 1, n - i - 1, '#', '#', '#');
        out->has_query = true;
        out->query = (cs_slice){s + i + 1, j - i - 1};
        i = j;
    }
    if (i < n && s[i] == '#') {
        out->has_fragment = true;
        out->fragment = (cs_slice){s + i + 1, n - i - 1};
    }
}

size_t cs_url_remove_dot_segments(const char *in, size_t n, char *out)
{
    /* o <= i always holds, so out may alias in: every byte written was
     * consumed from the input first. */
    size_t i = 0, o = 0;
    while (i < n) {
        size_t rest = n - i;
        const char *p = in + i;
        if (rest >= 3 && p[0] == '.' && p[1] == '.' && p[2] == '/') { /* A: "../" */
            i += 3;
        } else if (rest >= 2 && p[0] == '.' && p[1] == '/') { /* A: "./" */
            i += 2;
        } else if (rest >= 3 && p[0] == '/' && p[1] == '.' && p[2] == '/') { /* B: "/./" */
            i += 2;
        } else if (rest == 2 && p[0] == '/' && p[1] == '.') { /* B: "/." at the end */
            out[o++] = '/';
            i = n;
        } else if (rest >= 3 && p[0] == '/' && p[1] == '.' && p[2] == '.' &&
                   (rest == 3 || p[3] == '/')) { /* C: "/../" or "/.." */
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the segment's preceding "/" */
            if (rest == 3) {
                out[o++] = '/';
                i = n;
            } else {
                i += 3;
            }
        } else if ((rest == 1 && p[0] == '.') ||
                   (rest == 2 && p[0] == '.' && p[1] == '.')) { /* D */
            i = n;
        } else { /* E: move the first segment, with its leading "/" */
            size_t j = i + (p[0] == '/');
            while (j < n && in[j] != '/')
                j++;
            memmove(out + o, in + i, j - i);
            o += j - i;
            i = j;
        }
    }
    return o;
}

/* Trims leading/trailing spaces and C0 controls; sets *dirty when TAB, LF
 * or CR occur inside (they must then be removed). */
static cs_slice clean_bounds(const char *s, size_t n, bool *dirty)
{
    size_t a = 0, b = n;
    while (a < b && (unsigned char)s[a] <= 0x20)
        a++;
    while (b > a && (unsigned char)s[b - 1] <= 0x20)
        b--;
    *dirty = false;
    if (has_ctl(s + a, b - a)) /* rare: look closer */
        for (size_t i = a; i < b; i++)
            if (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
                *dirty = true;
                break;
            }
    return (cs_slice){s + a, b - a};
}

static size_t strip_tabs_newlines(cs_slice s, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != '\t' && s.ptr[i] != '\n' && s.ptr[i] != '\r')
            dst[o++] = s.ptr[i];
    return o;
}

static inline char *put(char *w, cs_slice s)
{
    if (s.len)
        memcpy(w, s.ptr, s.len);
    return w + s.len;
}

/* True when some segment of path is "." or "..". */
static bool has_dot_segment(cs_slice path)
{
    const char *p = path.ptr, *end = path.ptr + path.len;
    while (p < end && (p = memchr(p, '.', (size_t)(end - p))) != NULL) {
        if (p == path.ptr || p[-1] == '/') {
            const char *q = p + 1;
            if (q < end && *q == '.')
                q++;
            if (q == end || *q == '/')
                return true;
        }
        p++;
    }
    return false;
}

/* Writes the target of R against B (B unused when R has a scheme). */
static size_t compose(const cs_url_parts *R, const cs_url_parts *B, char *out)
{
    char *w = out;
    w = put(w, R->has_scheme ? R->scheme : B->scheme);
    *w++ = ':';
    cs_slice query = {NULL, 0};
    bool has_query;
    char *path_start;
    if (R->has_scheme || R->has_authority) {
        if (R->has_authority) {
            *w++ = '/';
            *w++ = '/';
            w = put(w, R->authority);
        }
        path_start = w;
        w = put(w, R->path);
        if (has_dot_segment(R->path))
            w = path_start + cs_url_remove_dot_segments(path_start, (size_t)(w - path_start),
                                                        path_start);
        has_query = R->has_query;
        query = R->query;
    } else {
        if (B->has_authority) {
            *w++ = '/';
            *w++ = '/';
            w = put(w, B->authority);
        }
        path_start = w;
        if (R->path.len == 0) {
            w = put(w, B->path);
            has_query = R->has_query || B->has_query;
            query = R->has_query ? R->query : B->query;
        } else {
            if (R->path.ptr[0] == '/') {
                w = put(w, R->path);
            } else if (B->has_authority && B->path.len == 0) { /* 5.2.3 merge */
                *w++ = '/';
                w = put(w, R->path);
            } else {
                size_t k = B->path.len;
                while (k > 0 && B->path.ptr[k - 1] != '/')
                    k--;
                w = put(w, (cs_slice){B->path.ptr, k});
                w = put(w, R->path);
            }
            cs_slice merged = {path_start, (size_t)(w - path_start)};
            if (has_dot_segment(merged))
                w = path_start + cs_url_remove_dot_segments(path_start, merged.len, path_start);
            has_query = R->has_query;
            query = R->query;
        }
    }
    if (has_query) {
        *w++ = '?';
        w = put(w, query);
    }
    if (R->has_fragment) {
        *w++ = '#';
        w = put(w, R->fragment);
    }
    *w = '\0';
    return (size_t)(w - out);
}

size_t cs_url_clean(const char *s, size_t n, char *out)
{
    bool dirty;
    cs_slice c = clean_bounds(s, n, &dirty);
    if (dirty)
        return strip_tabs_newlines(c, out);
    memmove(out, c.ptr, c.len);
    return c.len;
}

cs_status cs_url_base_init(cs_url_base *b, const char *s, size_t n)
{
    memset(b, 0, sizeof *b);
    cs_url_split(s, n, &b->parts);
    if (!b->parts.has_scheme)
        return CS_EINVAL;
    b->s = s;
    b->len = n;
    return CS_OK;
}

/* True when ref[0..n) is an absolute URI that resolution returns unchanged:
 * a valid scheme, no byte <= 0x20 at either end, no control byte at all, and
 * no "/." before the query (the only way a dot segment starts past the
 * scheme). One pass; the common case of hrefs in a WAT. False only means
 * "take the general path". */
static bool already_resolved(const char *s, size_t n)
{
    if (n < 2 || !is_alpha((unsigned char)s[0]) || (unsigned char)s[n - 1] <= 0x20)
        return false;
    size_t i = 1;
    while (i < n && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
                     s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= n || s[i] != ':')
        return false;
    i++;
    if (i < n && s[i] == '.')
        return false; /* the path may start with a dot segment */
    bool in_path = true; /* until the first '?' or '#' */
    bool prev_slash = false;
#if defined(__SSE2__)
    const __m128i c1f = _mm_set1_epi8(0x1F), dot = _mm_set1_epi8('.'), sl = _mm_set1_epi8('/');
    const __m128i qm = _mm_set1_epi8('?'), hs = _mm_set1_epi8('#');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v)))
            return false;
        if (!in_path)
            continue;
        unsigned d = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot));
        unsigned sb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, sl));
        unsigned q = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, qm), _mm_cmpeq_epi8(v, hs)));
        unsigned cand = d & ((sb << 1) | (unsigned)prev_slash);
        if (q) {
            unsigned before = (1u << __builtin_ctz(q)) - 1;
            if (cand & before)
                return false;
            in_path = false;
            continue;
        }
        if (cand)
            return false;
        prev_slash = (sb >> 15) & 1;
    }
#endif
    for (; i < n; i++) {
        char c = s[i];
        if ((unsigned char)c < 0x20)
            return false;
        if (!in_path)
            continue;
        if (c == '?' || c == '#')
            in_path = false;
        else if (c == '.' && prev_slash)
            return false;
        prev_slash = c == '/';
    }
    return true;
}

cs_status cs_url_resolve_with(const cs_url_base *b, const char *ref, size_t rlen, char *out,
                              size_t cap, cs_slice *res)
{
    size_t blen = b ? b->len : 0;
    if (!ref)
        rlen = 0;
    if (cap < CS_URL_RESOLVE_MAX(blen, rlen))
        return CS_ETOOBIG;
    if (ref && already_resolved(ref, rlen)) {
        *res = (cs_slice){ref, rlen};
        return CS_OK;
    }
    bool dirty;
    cs_slice r = clean_bounds(ref ? ref : "", rlen, &dirty);
    if (dirty) { /* scratch above the room for the result */
        char *scratch = out + blen + rlen + 8;
        r.len = strip_tabs_newlines(r, scratch);
        r.ptr = scratch;
    }
    cs_url_parts R;
    cs_url_split(r.ptr, r.len, &R);
    if (R.has_scheme && !has_dot_segment(R.path)) {
        *res = r; /* already the target */
        return CS_OK;
    }
    if (!R.has_scheme && !b)
        return CS_EINVAL;
    size_t n = compose(&R, b ? &b->parts : NULL, out);
    *res = (cs_slice){out, n};
    return CS_OK;
}

cs_status cs_url_resolve(const char *base, size_t blen, const char *ref, size_t rlen, char *out,
                         size_t cap, size_t *out_len)
{
    if (!base)
        blen = 0;
    if (!ref)
        rlen = 0;
    if (cap < CS_URL_RESOLVE_MAX(blen, rlen))
        return CS_ETOOBIG;
    /* Layout of out: [0, blen + rlen + 8) the result; above it scratch for
     * the cleaned inputs when they held TAB/LF/CR. */
    char *scratch = out + blen + rlen + 8;
    bool dirty;
    cs_slice b = clean_bounds(base ? base : "", blen, &dirty);
    if (dirty) {
        b.len = strip_tabs_newlines(b, scratch);
        b.ptr = scratch;
        scratch += b.len;
    }
    cs_slice r = clean_bounds(ref ? ref : "", rlen, &dirty);
    if (dirty) {
        r.len = strip_tabs_newlines(r, scratch);
        r.ptr = scratch;
    }
    cs_url_parts R, B;
    memset(&B, 0, sizeof B);
    cs_url_split(r.ptr, r.len, &R);
    if (!R.has_scheme) {
        cs_url_split(b.ptr, b.len, &B);
        if (!B.has_scheme)
            return CS_EINVAL;
    }
    *out_len = compose(&R, &B, out);
    return CS_OK;
}
