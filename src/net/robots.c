/* robots.c - robots.txt parsing and matching (RFC 9309; see robots.h).
 *
 * A parsed file is a byte pool holding the normalised patterns and agent
 * tokens, an array of groups and an array of rules; a group's rules are
 * contiguous and sorted longest pattern first (allow before disallow at equal
 * length), so matching a path against a group stops at the first rule that
 * matches. Patterns match in linear time: '*' globs are matched by placing
 * each literal run at its leftmost occurrence (memmem), which is exact for
 * patterns whose only wildcard is '*'. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crawlset/robots.h"
#include "crawlset/url.h"
#include "util/utf8.h"

typedef struct rule {
    uint32_t off, len;   /* pattern in the pool (normalised) */
    bool allow;
} rule;

typedef struct group {
    size_t agent0, nagents; /* agents[agent0 .. +nagents) */
    size_t rule0, nrules;   /* rules[rule0 .. +nrules) */
    double crawl_delay;     /* seconds, -1 = none */
} group;

typedef struct agent {
    uint32_t off, len;   /* lower-case product token in the pool; "*" for all */
} ua_entry;

struct cs_robots {
    cs_buf pool;
    group *groups;
    size_t ngroups, capgroups;
    ua_entry *agents;
    size_t nagents, capagents;
    rule *rules;
    size_t nrules, caprules;
    size_t bytes;
    bool truncated;
};

static inline int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static inline bool is_blank(int c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }
static inline int upper(int c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
static inline bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static inline bool is_token_char(int c)
{
    /* RFC 9309 section 2.2.1: product tokens are letters, '-' and '_' (so
     * "AB42bot" names "ab", as Google's parser reads it too) */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* Grows an array of elements of size `el` to hold n+1. */
static cs_status grow(void **arr, size_t *cap, size_t n, size_t el)
{
    if (n < *cap)
        return CS_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = cs_realloc(*arr, nc * el);
    if (!p)
        return CS_ENOMEM;
    *arr = p;
    *cap = nc;
    return CS_OK;
}

/* ---- UTF-16 input ----------------------------------------------------------- */

static cs_status put_utf8(cs_buf *b, uint32_t cp)
{
    char t[4];
    return cs_buf_append(b, t, cs__utf8_put(t, cp));
}

/* Transcodes UTF-16 (after its BOM) to UTF-8, at most `max` output bytes;
 * unpaired surrogates become U+FFFD. */
static cs_status utf16_to_utf8(const unsigned char *p, size_t n, bool be, size_t max,
                               cs_buf *out)
{
    cs_status st = CS_OK;
    for (size_t i = 0; i + 1 < n && out->len < max && !st; i += 2) {
        uint32_t u = be ? (uint32_t)(p[i] << 8 | p[i + 1]) : (uint32_t)(p[i + 1] << 8 | p[i]);
        if (u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
            uint32_t v = be ? (uint32_t)(p[i + 2] << 8 | p[i + 3])
                            : (uint32_t)(p[i + 3] << 8 | p[i + 2]);
            if (v >= 0xDC00 && v < 0xE000) {
                u = 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00);
                i += 2;
            } else {
                u = 0xFFFD;
            }
        } else if (u >= 0xD800 && u < 0xE000) {
            u = 0xFFFD;
        }
        st = put_utf8(out, u);
    }
    return st;
}

/* ---- parsing --------------------------------------------------------------------- */

enum key { K_OTHER, K_AGENT, K_ALLOW, K_DISALLOW, K_DELAY };

static enum key classify_key(const char *k, size_t n)
{
    static const struct {
        const char *name;
        enum key key;
    } K[] = {
        {"user-agent", K_AGENT}, {"useragent", K_AGENT},   {"user agent", K_AGENT},
        {"allow", K_ALLOW},      {"disallow", K_DISALLOW}, {"dissallow", K_DISALLOW},
        {"dissalow", K_DISALLOW}, {"disalow", K_DISALLOW}, {"diasllow", K_DISALLOW},
        {"disallaw", K_DISALLOW}, {"crawl-delay", K_DELAY}, {"crawldelay", K_DELAY},
    };
    for (size_t i = 0; i < sizeof K / sizeof *K; i++) {
        size_t kl = strlen(K[i].name);
        if (kl != n)
            continue;
        size_t j = 0;
        while (j < n && lower((unsigned char)k[j]) == K[i].name[j])
            j++;
        if (j == n)
            return K[i].key;
    }
    return K_OTHER;
}

typedef struct parser {
    cs_robots *r;
    group *cur;         /* the group being built; NULL before the first user-agent */
    bool in_agents;     /* the last group line was a user-agent line */
} parser;

static cs_status add_group(parser *ps)
{
    cs_robots *r = ps->r;
    cs_status st = grow((void **)&r->groups, &r->capgroups, r->ngroups, sizeof *r->groups);
    if (st)
        return st;
    group *g = &r->groups[r->ngroups++];
    g->agent0 = r->nagents;
    g->nagents = 0;
    g->rule0 = r->nrules;
    g->nrules = 0;
    g->crawl_delay = -1;
    ps->cur = g;
    return CS_OK;
}

static cs_status on_agent(parser *ps, const char *v, size_t n)
{
    cs_status st;
    if (!ps->cur || !ps->in_agents) {
        if ((st = add_group(ps)))
            return st;
    }
    ps->in_agents = true;
    size_t t = 0;
    if (n && v[0] == '*') {
        t = 1;
    } else {
        while (t < n && is_token_char((unsigned char)v[t]))
            t++;
    }
    if (t == 0)
        return CS_OK; /* names no product token: matches nothing */
    cs_robots *r = ps->r;
    if ((st = grow((void **)&r->agents, &r->capagents, r->nagents, sizeof *r->agents)))
        return st;
    if (r->pool.len > UINT32_MAX - t)
        return CS_ENOMEM;
    ua_entry *a = &r->agents[r->nagents++];
    a->off = (uint32_t)r->pool.len;
    a->len = (uint32_t)t;
    for (size_t i = 0; i < t && !st; i++)
        st = cs_buf_putc(&r->pool, (char)lower((unsigned char)v[i]));
    ps->cur->nagents++;
    return st;
}

/* Appends the normalised pattern v[0..n) to the pool. */
static cs_status put_pattern(cs_buf *pool, const char *v, size_t n)
{
    static const char HEX[] = "0123456789ABCDEF";
    cs_status st = CS_OK;
    for (size_t i = 0; i < n && !st; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '%' && i + 2 < n && is_hex((unsigned char)v[i + 1]) &&
            is_hex((unsigned char)v[i + 2])) {
            char e[3] = {'%', (char)upper(v[i + 1]), (char)upper(v[i + 2])};
            st = cs_buf_append(pool, e, 3);
            i += 2;
        } else if (c <= 0x20 || c >= 0x7F) {
            char e[3] = {'%', HEX[c >> 4], HEX[c & 15]};
            st = cs_buf_append(pool, e, 3);
        } else {
            st = cs_buf_putc(pool, (char)c);
        }
    }
    return st;
}

static cs_status on_rule(parser *ps, bool allow, const char *v, size_t n)
{
    if (!ps->cur)
        return CS_OK; /* rules outside any group are ignored */
    ps->in_agents = false;
    if (n == 0)
        return CS_OK; /* "Disallow:" matches nothing */
    cs_robots *r = ps->r;
    cs_status st = grow((void **)&r->rules, &r->caprules, r->nrules, sizeof *r->rules);
    if (st)
        return st;
    size_t off = r->pool.len;
    if ((st = put_pattern(&r->pool, v, n)))
        return st;
    if (r->pool.len > UINT32_MAX)
        return CS_ENOMEM;
    rule *ru = &r->rules[r->nrules++];
    ru->off = (uint32_t)off;
    ru->len = (uint32_t)(r->pool.len - off);
    ru->allow = allow;
    ps->cur->nrules++;
    return CS_OK;
}

static void on_delay(parser *ps, const char *v, size_t n)
{
    if (!ps->cur || n == 0 || n > 30)
        return;
    char tmp[32];
    memcpy(tmp, v, n);
    tmp[n] = 0;
    char *end;
    double d = strtod(tmp, &end);
    if (end == tmp || !isfinite(d) || d < 0)
        return;
    if (d > ps->cur->crawl_delay)
        ps->cur->crawl_delay = d;
}

/* One line without its terminator. */
static cs_status parse_line(parser *ps, const char *p, size_t n)
{
    const char *hash = memchr(p, '#', n);
    if (hash)
        n = (size_t)(hash - p);
    while (n && is_blank((unsigned char)p[0])) {
        p++;
        n--;
    }
    while (n && is_blank((unsigned char)p[n - 1]))
        n--;
    if (n == 0)
        return CS_OK;
    const char *colon = memchr(p, ':', n);
    const char *key = p, *val;
    size_t klen, vlen;
    enum key k;
    if (colon) {
        klen = (size_t)(colon - p);
        while (klen && is_blank((unsigned char)key[klen - 1]))
            klen--;
        val = colon + 1;
        vlen = n - (size_t)(val - p);
        k = classify_key(key, klen);
    } else {
        /* "disallow /x": a known name, blanks, a value */
        klen = 0;
        while (klen < n && !is_blank((unsigned char)p[klen]))
            klen++;
        if (klen == n)
            return CS_OK;
        k = classify_key(key, klen);
        val = p + klen;
        vlen = n - klen;
    }
    while (vlen && is_blank((unsigned char)val[0])) {
        val++;
        vlen--;
    }
    switch (k) {
    case K_AGENT:
        return on_agent(ps, val, vlen);
    case K_ALLOW:
    case K_DISALLOW:
        return on_rule(ps, k == K_ALLOW, val, vlen);
    case K_DELAY:
        on_delay(ps, val, vlen);
        return CS_OK;
    default:
        return CS_OK; /* sitemap and unknown records: no effect on groups */
    }
}

static int cmp_rules(const void *a, const void *b)
{
    const rule *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    if (x->allow != y->allow)
        return x->allow ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

cs_status cs_robots_parse(const char *data, size_t len, cs_robots **out)
{
    *out = NULL;
    cs_robots *r = cs_calloc(1, sizeof *r);
    if (!r)
        return CS_ENOMEM;
    cs_buf_init(&r->pool, 0);
    cs_buf conv;
    cs_buf_init(&conv, 0);
    cs_status st = CS_OK;
    const unsigned char *u = (const unsigned char *)data;
    if (!data)
        len = 0;
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        if ((st = utf16_to_utf8(u + 2, len - 2, u[0] == 0xFE, CS_ROBOTS_MAX_BYTES + 1, &conv)))
            goto fail;
        data = conv.data ? conv.data : "";
        len = conv.len;
    } else {
        /* a UTF-8 byte order mark, or what is left of one */
        static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};
        size_t b = 0;
        while (b < 3 && b < len && u[b] == BOM[b])
            b++;
        data += b;
        len -= b;
    }
    if (len > CS_ROBOTS_MAX_BYTES) {
        r->truncated = true;
        len = CS_ROBOTS_MAX_BYTES;
        /* drop the line cut in two: half a rule may mean something else */
        size_t e = len;
        while (e > 0 && data[e - 1] != '\n' && data[e - 1] != '\r')
            e--;
        len = e;
    }
    r->bytes = len;
    parser ps = {r, NULL, false};
    size_t i = 0;
    while (i < len && !st) {
        size_t s = i;
        while (i < len && data[i] != '\n' && data[i] != '\r')
            i++;
        st = parse_line(&ps, data + s, i - s);
        if (i < len)
            i += (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') ? 2 : 1;
    }
    if (st)
        goto fail;
    for (size_t g = 0; g < r->ngroups; g++)
        if (r->groups[g].nrules > 1)
            qsort(r->rules + r->groups[g].rule0, r->groups[g].nrules, sizeof *r->rules,
                  cmp_rules);
    cs_buf_cleanup(&conv);
    *out = r;
    return CS_OK;
fail:
    cs_buf_cleanup(&conv);
    cs_robots_free(r);
    return st;
}

void cs_robots_free(cs_robots *r)
{
    if (!r)
        return;
    cs_buf_cleanup(&r->pool);
    cs_free(r->groups);
    cs_free(r->agents);
    cs_free(r->rules);
    cs_free(r);
}

void cs_robots_info_get(const cs_robots *r, cs_robots_info *out)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return;
    out->groups = r->ngroups;
    out->agents = r->nagents;
    out->rules = r->nrules;
    out->bytes = r->bytes;
    out->truncated = r->truncated;
}

/* ---- matching ---------------------------------------------------------------------- */

/* Does pattern pat[0..plen) match path[0..n)? */
static bool pattern_match(const char *pat, size_t plen, const char *path, size_t n)
{
    bool anchored = plen && pat[plen - 1] == '$';
    if (anchored)
        plen--;
    size_t i = 0;
    while (i < plen && pat[i] != '*')
        i++;
    /* the literal start must be a prefix of the path */
    if (i > n || memcmp(pat, path, i) != 0)
        return false;
    size_t pos = i;
    if (i == plen)
        return !anchored || pos == n;
    for (;;) {
        while (i < plen && pat[i] == '*')
            i++;
        if (i == plen)
            return true; /* a trailing '*' takes the rest */
        size_t j = i;
        while (j < plen && pat[j] != '*')
            j++;
        size_t sl = j - i;
        if (j == plen && anchored) /* the last run must end the path */
            return n - pos >= sl && memcmp(path + n - sl, pat + i, sl) == 0;
        const char *f = memmem(path + pos, n - pos, pat + i, sl);
        if (!f)
            return false;
        pos = (size_t)(f - path) + sl;
        i = j;
        if (i == plen)
            return true;
    }
}

static bool agent_is(const cs_robots *r, const ua_entry *a, const char *tok, size_t tl)
{
    if (a->len != tl)
        return false;
    const char *s = r->pool.data + a->off;
    for (size_t i = 0; i < tl; i++)
        if (s[i] != lower((unsigned char)tok[i]))
            return false;
    return true;
}

static bool group_names(const cs_robots *r, const group *g, const char *tok, size_t tl)
{
    for (size_t a = 0; a < g->nagents; a++)
        if (agent_is(r, &r->agents[g->agent0 + a], tok, tl))
            return true;
    return false;
}

/* Which groups apply to agent: the ones naming it, else the "*" ones.
 * Returns the token to select groups by. */
static const char *select_token(const cs_robots *r, const char *agent)
{
    size_t tl = strlen(agent);
    if (tl && !(tl == 1 && agent[0] == '*'))
        for (size_t g = 0; g < r->ngroups; g++)
            if (group_names(r, &r->groups[g], agent, tl))
                return agent;
    return "*";
}

bool cs_robots_allowed(const cs_robots *r, const char *agent, const char *path, size_t len)
{
    if (!r || r->nrules == 0)
        return true;
    if (len == 0) {
        path = "/";
        len = 1;
    }
    /* upper-case the hex digits of %xx escapes (a copy only when needed) */
    char stackbuf[2048];
    char *norm = NULL;
    for (size_t i = 0; i + 2 < len; i++) {
        if (path[i] == '%' && is_hex((unsigned char)path[i + 1]) &&
            is_hex((unsigned char)path[i + 2]) &&
            (upper(path[i + 1]) != path[i + 1] || upper(path[i + 2]) != path[i + 2])) {
            norm = len <= sizeof stackbuf ? stackbuf : cs_malloc(len);
            break;
        }
    }
    if (norm) {
        memcpy(norm, path, len);
        for (size_t i = 0; i + 2 < len; i++)
            if (norm[i] == '%' && is_hex((unsigned char)norm[i + 1]) &&
                is_hex((unsigned char)norm[i + 2])) {
                norm[i + 1] = (char)upper(norm[i + 1]);
                norm[i + 2] = (char)upper(norm[i + 2]);
                i += 2;
            }
        path = norm;
    }
    const char *tok = select_token(r, agent ? agent : "");
    size_t tl = strlen(tok);
    size_t best_len = 0;
    bool best_allow = true, found = false;
    for (size_t g = 0; g < r->ngroups; g++) {
        const group *gr = &r->groups[g];
        if (!group_names(r, gr, tok, tl))
            continue;
        for (size_t k = 0; k < gr->nrules; k++) {
            const rule *ru = &r->rules[gr->rule0 + k];
            if (found && (ru->len < best_len || (ru->len == best_len && !ru->allow) ||
                          (ru->len == best_len && best_allow)))
                break; /* sorted: nothing later in this group can win */
            if (pattern_match(r->pool.data + ru->off, ru->len, path, len)) {
                if (!found || ru->len > best_len || (ru->len == best_len && ru->allow)) {
                    best_len = ru->len;
                    best_allow = ru->allow;
                    found = true;
                }
                break;
            }
        }
    }
    if (norm && norm != stackbuf)
        cs_free(norm);
    return found ? best_allow : true;
}

bool cs_robots_allowed_url(const cs_robots *r, const char *agent, const char *url, size_t len)
{
    cs_url_parts p;
    cs_url_split(url, len, &p);
    const char *path = p.path.ptr;
    size_t n = p.path.len;
    if (!p.has_query)
        return cs_robots_allowed(r, agent, n ? path : "/", n ? n : 1);
    /* path and query are adjacent in the URL: "/p?q" (or "?q" with no path) */
    if (n)
        return cs_robots_allowed(r, agent, path, (size_t)(p.query.ptr + p.query.len - path));
    size_t ql = p.query.len + 2;
    char small[512];
    char *buf = ql <= sizeof small ? small : cs_malloc(ql);
    if (!buf)
        return cs_robots_allowed(r, agent, "/", 1);
    buf[0] = '/';
    buf[1] = '?';
    memcpy(buf + 2, p.query.ptr, p.query.len);
    bool ok = cs_robots_allowed(r, agent, buf, ql);
    if (buf != small)
        cs_free(buf);
    return ok;
}

double cs_robots_crawl_delay(const cs_robots *r, const char *agent)
{
    if (!r)
        return -1;
    const char *tok = select_token(r, agent ? agent : "");
    size_t tl = strlen(tok);
    double d = -1;
    for (size_t g = 0; g < r->ngroups; g++)
        if (group_names(r, &r->groups[g], tok, tl) && r->groups[g].crawl_delay > d)
            d = r->groups[g].crawl_delay;
    return d;
}
