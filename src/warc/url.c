/* url.c - RFC 3986 reference resolution (section 5.2) into a caller buffer.
 * Why hand-written instead of liburiparser: see include/crawlset/url.h. */
#include <string.h>

#include "crawlset/url.h"

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
        size_t j = i + 2;
        while (j < n && s[j] != '/' && s[j] != '?' && s[j] != '#')
            j++;
        out->has_authority = true;
        out->authority = (cs_slice){s + i + 2, j - i - 2};
        i = j;
    }
    size_t j = i;
    while (j < n && s[j] != '?' && s[j] != '#')
        j++;
    out->path = (cs_slice){s + i, j - i};
    i = j;
    if (i < n && s[i] == '?') {
        j = i + 1;
        while (j < n && s[j] != '#')
            j++;
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
    cs_url_split(r.ptr, r.len, &R);
    if (!R.has_scheme) {
        cs_url_split(b.ptr, b.len, &B);
        if (!B.has_scheme)
            return CS_EINVAL;
    }

    char *w = out;
    cs_slice scheme = R.has_scheme ? R.scheme : B.scheme;
    w = put(w, scheme);
    *w++ = ':';

    bool has_auth;
    cs_slice auth, query = {NULL, 0};
    bool has_query;
    char *path_start;
    if (R.has_scheme || R.has_authority) {
        has_auth = R.has_authority;
        auth = R.authority;
        if (has_auth) {
            *w++ = '/';
            *w++ = '/';
            w = put(w, auth);
        }
        path_start = w;
        w = put(w, R.path);
        w = path_start + cs_url_remove_dot_segments(path_start, (size_t)(w - path_start),
                                                    path_start);
        has_query = R.has_query;
        query = R.query;
    } else {
        has_auth = B.has_authority;
        if (has_auth) {
            *w++ = '/';
            *w++ = '/';
            w = put(w, B.authority);
        }
        path_start = w;
        if (R.path.len == 0) {
            w = put(w, B.path);
            has_query = R.has_query || B.has_query;
            query = R.has_query ? R.query : B.query;
        } else {
            if (R.path.ptr[0] == '/') {
                w = put(w, R.path);
            } else if (B.has_authority && B.path.len == 0) { /* 5.2.3 merge */
                *w++ = '/';
                w = put(w, R.path);
            } else {
                size_t k = B.path.len;
                while (k > 0 && B.path.ptr[k - 1] != '/')
                    k--;
                w = put(w, (cs_slice){B.path.ptr, k});
                w = put(w, R.path);
            }
            w = path_start + cs_url_remove_dot_segments(path_start, (size_t)(w - path_start),
                                                        path_start);
            has_query = R.has_query;
            query = R.query;
        }
    }
    if (has_query) {
        *w++ = '?';
        w = put(w, query);
    }
    if (R.has_fragment) {
        *w++ = '#';
        w = put(w, R.fragment);
    }
    *w = '\0';
    *out_len = (size_t)(w - out);
    return CS_OK;
}
