/* wat.c - page, links and image candidates from one WAT metadata record.
 *
 * Two passes over one record: the first walks the JSON with the jscan pull
 * scanner, checks all of it and notes where the wanted strings are (target
 * URI, title, base, and per link its path/url/alt/... as offsets into the
 * block, in a table in the caller's arena); the second resolves and delivers
 * the links. Two passes because key order is not fixed: ia-web-commons
 * writes Payload-Metadata (with the links) before WARC-Header-Metadata (with
 * the URI they are relative to), and Head (with Base) may follow Links. */
#include <stdio.h>
#include <string.h>

#include "crawlset/url.h"
#include "crawlset/wat.h"
#include "warc/jscan.h"

enum { F_PATH, F_URL, F_HREF, F_ALT, F_TITLE, F_TEXT, F_REL, F_N };

typedef struct link_ent {
    cs_jspan f[F_N];  /* raw (still escaped) strings in the block */
    uint16_t present; /* bit per field: a string value was seen */
    uint16_t escaped; /* bit per field: it holds escapes */
    uint32_t index;   /* position in its array */
} link_ent;

/* Sized so that a chunk fits one standard 16 KiB arena block. */
#define CHUNK_N 240
typedef struct link_chunk {
    struct link_chunk *next;
    uint32_t n;
    link_ent e[CHUNK_N];
} link_chunk;

typedef struct link_list {
    link_chunk *head, *tail;
    size_t count; /* entries with a url or href */
    size_t total; /* object entries seen */
} link_list;

typedef struct wat_ctx {
    cs_jscan js;
    cs_arena *a;
    const cs_wat_opts *o;
    cs_jstr target, wtype, title, base;
    bool have_target, have_wtype, have_title, have_base;
    bool has_html;
    link_list links, head;
    size_t max_len[F_N]; /* longest raw string per field, for scratch sizes */
    cs_jkeys keys;       /* the link fields, for cs__js_object_strings */
    bool nomem;
} wat_ctx;

bool cs_wat_is_image(cs_slice path, cs_slice alt)
{
    if (!alt.ptr || !cs_slice_eq(path, "IMG@/src"))
        return false;
    for (size_t i = 0; i < alt.len; i++) {
        char c = alt.ptr[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f')
            return true;
    }
    return false;
}

/* True when the next value is of `kind`. Otherwise the value is skipped
 * (lenient) or an error recorded (strict). */
static bool member(wat_ctx *c, int kind, const char *what)
{
    int k = cs__js_peek(&c->js);
    if (k == kind)
        return true;
    if (c->o->strict && k != CS_JS_EOF)
        cs__js_fail(&c->js, cs__js_tok(&c->js), CS_EFORMAT, what);
    else
        cs__js_skip(&c->js);
    return false;
}

static void string_member(wat_ctx *c, cs_jstr *dst, bool *have, const char *what)
{
    *have = false;
    if (member(c, CS_JS_STRING, what))
        *have = cs__js_string(&c->js, dst);
}

static void reset_list(link_list *l)
{
    l->head = l->tail = NULL;
    l->count = l->total = 0;
}

static void reset_html(wat_ctx *c)
{
    c->has_html = false;
    c->have_title = c->have_base = false;
    reset_list(&c->links);
    reset_list(&c->head);
}

static link_ent *new_ent(wat_ctx *c, link_list *l)
{
    link_chunk *ch = l->tail;
    if (!ch || ch->n == CHUNK_N) {
        ch = cs_arena_alloc(c->a, sizeof *ch);
        if (!ch) {
            c->nomem = true;
            cs__js_fail(&c->js, cs__js_tok(&c->js), CS_ENOMEM, "out of memory for the link table");
            return NULL;
        }
        ch->next = NULL;
        ch->n = 0;
        if (l->tail)
            l->tail->next = ch;
        else
            l->head = ch;
        l->tail = ch;
    }
    return &ch->e[ch->n];
}

/* The image-candidate rule on a raw entry (decoding only what is escaped). */
static bool ent_is_image(const char *json, const link_ent *e)
{
    if (!((e->present >> F_PATH) & 1) || !((e->present >> F_ALT) & 1))
        return false;
    char path[8 * 6];
    cs_slice ps = {json + e->f[F_PATH].off, e->f[F_PATH].len};
    if ((e->escaped >> F_PATH) & 1) {
        if (ps.len > sizeof path)
            return false; /* cannot decode to the 8 bytes of "IMG@/src" */
        ps = (cs_slice){path, cs__js_unescape(ps.ptr, ps.len, path)};
    }
    if (!cs_slice_eq(ps, "IMG@/src"))
        return false;
    const char *a = json + e->f[F_ALT].off;
    size_t n = e->f[F_ALT].len;
    if (!((e->escaped >> F_ALT) & 1))
        return cs_wat_is_image(ps, (cs_slice){a, n});
    /* escaped alt: blank unless some byte decodes to a non-space */
    for (size_t i = 0; i < n;) {
        char ch = a[i];
        if (ch != '\\') {
            if (ch != ' ')
                return true;
            i++;
            continue;
        }
        char d[8];
        size_t el = a[i + 1] == 'u' ? 6 : 2;
        if (el == 6 && i + 12 <= n && a[i + 6] == '\\' && a[i + 7] == 'u')
            el = 12; /* maybe a surrogate pair */
        size_t m = cs__js_unescape(a + i, el, d);
        if (!cs_wat_is_image(ps, (cs_slice){d, m}))
            i += el;
        else
            return true;
    }
    return false;
}

static const char *const FIELD_NAMES[F_N] = {"path", "url", "href", "alt", "title", "text", "rel"};

static void link_entry(wat_ctx *c, link_list *l, uint32_t index)
{
    cs_jscan *js = &c->js;
    link_ent *e = new_ent(c, l);
    if (!e)
        return;
    uint32_t present, escaped, wrong;
    if (!cs__js_object_strings(js, &c->keys, e->f, &present, &escaped, &wrong))
        return;
    if (wrong && c->o->strict) {
        cs__js_fail(js, cs__js_tok(js), CS_EFORMAT, "link member is not a string");
        return;
    }
    l->total++;
    if (!(present & ((1u << F_URL) | (1u << F_HREF))))
        return; /* nothing to deliver */
    e->present = (uint16_t)present;
    e->escaped = (uint16_t)escaped;
    e->index = index;
    if (c->o->images_only && !ent_is_image(js->start, e))
        return;
    for (uint32_t p = present; p; p &= p - 1) {
        int f = __builtin_ctz(p);
        if (e->f[f].len > c->max_len[f])
            c->max_len[f] = e->f[f].len;
    }
    l->tail->n++; /* keep it */
    l->count++;
}

static void link_array(wat_ctx *c, link_list *l)
{
    cs_jscan *js = &c->js;
    if (!cs__js_enter_array(js))
        return;
    uint32_t i = 0;
    int r;
    while ((r = cs__js_next_elem(js)) == 1) {
        if (member(c, CS_JS_OBJECT, "link is not an object"))
            link_entry(c, l, i);
        i++;
    }
}

static void head(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "Title")) {
            string_member(c, &c->title, &c->have_title, "Head.Title is not a string");
        } else if (CS_JS_IS(&k, "Base")) {
            string_member(c, &c->base, &c->have_base, "Head.Base is not a string");
        } else if (c->o->head_links && CS_JS_IS(&k, "Link")) {
            reset_list(&c->head);
            if (member(c, CS_JS_ARRAY, "Head.Link is not an array"))
                link_array(c, &c->head);
        } else {
            cs__js_skip(js);
        }
    }
}

static void html_metadata(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    c->has_html = true;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "Links")) {
            reset_list(&c->links);
            if (member(c, CS_JS_ARRAY, "HTML-Metadata.Links is not an array"))
                link_array(c, &c->links);
        } else if (CS_JS_IS(&k, "Head")) {
            c->have_title = c->have_base = false;
            reset_list(&c->head);
            if (member(c, CS_JS_OBJECT, "HTML-Metadata.Head is not an object"))
                head(c);
        } else {
            cs__js_skip(js);
        }
    }
}

/* The walkers below reset what they collect when their key repeats, so the
 * last of duplicate keys wins, as in jansson (and the tests compare). */
static void response_metadata(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "HTML-Metadata")) {
            reset_html(c);
            if (member(c, CS_JS_OBJECT, "HTML-Metadata is not an object"))
                html_metadata(c);
        } else {
            cs__js_skip(js);
        }
    }
}

static void payload_metadata(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "HTTP-Response-Metadata")) {
            reset_html(c);
            if (member(c, CS_JS_OBJECT, "HTTP-Response-Metadata is not an object"))
                response_metadata(c);
        } else {
            cs__js_skip(js);
        }
    }
}

static void header_metadata(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "WARC-Target-URI"))
            string_member(c, &c->target, &c->have_target, "WARC-Target-URI is not a string");
        else if (CS_JS_IS(&k, "WARC-Type"))
            string_member(c, &c->wtype, &c->have_wtype, "WARC-Type is not a string");
        else
            cs__js_skip(js);
    }
}

static void envelope(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "WARC-Header-Metadata")) {
            c->have_target = c->have_wtype = false;
            if (member(c, CS_JS_OBJECT, "WARC-Header-Metadata is not an object"))
                header_metadata(c);
        } else if (CS_JS_IS(&k, "Payload-Metadata")) {
            reset_html(c);
            if (member(c, CS_JS_OBJECT, "Payload-Metadata is not an object"))
                payload_metadata(c);
        } else {
            cs__js_skip(js);
        }
    }
}

static void document(wat_ctx *c)
{
    cs_jscan *js = &c->js;
    cs_jstr k;
    if (!cs__js_enter_object(js))
        return;
    while (cs__js_next_key(js, &k) == 1) {
        if (CS_JS_IS(&k, "Envelope")) {
            c->have_target = c->have_wtype = false;
            reset_html(c);
            if (member(c, CS_JS_OBJECT, "Envelope is not an object"))
                envelope(c);
        } else {
            cs__js_skip(js);
        }
    }
    cs__js_finish(js);
}

/* ---- pass 2: decode, resolve, deliver ------------------------------------ */

/* A string from the block: borrowed when it has no escapes, else decoded
 * into dst (room for raw length bytes). */
static cs_slice decode(const char *raw, size_t len, bool escaped, char *dst)
{
    if (!escaped)
        return (cs_slice){raw, len};
    return (cs_slice){dst, cs__js_unescape(raw, len, dst)};
}

static cs_slice decode_arena(wat_ctx *c, const cs_jstr *s)
{
    if (!s->escaped)
        return (cs_slice){s->ptr, s->len};
    char *d = cs_arena_alloc(c->a, s->len + 1);
    if (!d) {
        c->nomem = true;
        return (cs_slice){NULL, 0};
    }
    size_t n = cs__js_unescape(s->ptr, s->len, d);
    d[n] = '\0';
    return (cs_slice){d, n};
}

typedef struct scratch {
    char *f[F_N];  /* per field decode buffer (max_len bytes) */
    char *url;     /* resolve output */
    size_t url_cap;
} scratch;

static cs_status deliver(const char *json, cs_wat_page *pg, const cs_url_base *ub,
                         const link_list *l, bool in_head, scratch *s, cs_wat_link_fn cb,
                         void *ud)
{
    for (link_chunk *ch = l->head; ch; ch = ch->next) {
        for (uint32_t i = 0; i < ch->n; i++) {
            const link_ent *e = &ch->e[i];
            cs_slice f[F_N];
            for (int k = 0; k < F_N; k++) {
                if ((e->present >> k) & 1)
                    f[k] = decode(json + e->f[k].off, e->f[k].len, (e->escaped >> k) & 1, s->f[k]);
                else
                    f[k] = (cs_slice){NULL, 0};
            }
            cs_wat_link lk;
            lk.path = f[F_PATH];
            lk.url_raw = f[F_URL].ptr ? f[F_URL] : f[F_HREF];
            lk.alt = f[F_ALT];
            lk.title = f[F_TITLE];
            lk.text = f[F_TEXT];
            lk.rel = f[F_REL];
            lk.index = e->index;
            lk.in_head = in_head;
            if (cs_url_resolve_with(ub, lk.url_raw.ptr, lk.url_raw.len, s->url, s->url_cap,
                                    &lk.url) != CS_OK) {
                lk.url = (cs_slice){NULL, 0};
                pg->links_unresolved++;
            }
            pg->links_delivered++;
            if (cb && cb(ud, pg, &lk) != 0)
                return CS_ECANCELED;
        }
    }
    return CS_OK;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

cs_status cs_wat_extract(const char *json, size_t n, const char *record_target_uri,
                         const cs_wat_opts *opts, cs_wat_link_fn cb, void *ud, cs_arena *a,
                         cs_wat_page *page, char *err, size_t errlen)
{
    static const cs_wat_opts defaults = {0};
    cs_wat_page pg;
    memset(&pg, 0, sizeof pg);
    if (record_target_uri)
        pg.target_uri = (cs_slice){record_target_uri, strlen(record_target_uri)};
    if (err && errlen)
        err[0] = '\0';
    if (page)
        *page = pg;
    if (!json && n)
        return CS_EINVAL;
    if (n >= UINT32_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "byte 0: WAT record of %zu bytes is too big", n);
        return CS_ETOOBIG;
    }

    wat_ctx c;
    memset(&c, 0, sizeof c);
    c.a = a;
    c.o = opts ? opts : &defaults;
    cs__js_keys_init(&c.keys, FIELD_NAMES, F_N);
    cs__js_init(&c.js, json ? json : "", n, c.o->max_depth);
    document(&c);
    if (c.js.err) {
        if (err && errlen)
            snprintf(err, errlen, "byte %zu: %s", c.js.err_off, c.js.err);
        return c.js.st;
    }

    /* page */
    if (c.have_target)
        pg.target_uri = decode_arena(&c, &c.target);
    if (c.have_wtype)
        pg.warc_type = decode_arena(&c, &c.wtype);
    if (c.have_title)
        pg.title = decode_arena(&c, &c.title);
    if (c.have_base)
        pg.base = decode_arena(&c, &c.base);
    pg.has_html = c.has_html;
    pg.links_total = c.links.total + (c.o->head_links ? c.head.total : 0);
    if (c.nomem)
        goto nomem;
    /* The base links resolve against: Head.Base resolved against the
     * target, else the target itself, cleaned (as cs_url_resolve would
     * clean it, no more). Either way a clean string, split once. */
    cs_url_base ub;
    bool have_base = false;
    if (pg.base.ptr) {
        size_t cap = CS_URL_RESOLVE_MAX(pg.target_uri.len, pg.base.len), bn;
        char *b = cs_arena_alloc(a, cap);
        if (!b)
            goto nomem;
        if (cs_url_resolve(pg.target_uri.ptr, pg.target_uri.len, pg.base.ptr, pg.base.len, b,
                           cap, &bn) == CS_OK &&
            cs_url_base_init(&ub, b, bn) == CS_OK) {
            have_base = true;
            pg.base_resolved = (cs_slice){b, bn};
        }
    }
    if (!have_base && pg.target_uri.ptr) {
        char *b = cs_arena_alloc(a, pg.target_uri.len + 1);
        if (!b)
            goto nomem;
        size_t bn = cs_url_clean(pg.target_uri.ptr, pg.target_uri.len, b);
        have_base = cs_url_base_init(&ub, b, bn) == CS_OK;
    }

    cs_status st = CS_OK;
    if (c.links.count || (c.o->head_links && c.head.count)) {
        scratch s;
        size_t total = 0;
        for (int k = 0; k < F_N; k++)
            total += c.max_len[k] + 1;
        s.url_cap = CS_URL_RESOLVE_MAX(have_base ? ub.len : 0,
                                       max_sz(c.max_len[F_URL], c.max_len[F_HREF]));
        char *mem = cs_arena_alloc(a, total + s.url_cap);
        if (!mem)
            goto nomem;
        for (int k = 0; k < F_N; k++) {
            s.f[k] = mem;
            mem += c.max_len[k] + 1;
        }
        s.url = mem;
        const cs_url_base *ubp = have_base ? &ub : NULL;
        if (c.o->head_links)
            st = deliver(json, &pg, ubp, &c.head, true, &s, cb, ud);
        if (st == CS_OK)
            st = deliver(json, &pg, ubp, &c.links, false, &s, cb, ud);
    }
    if (page)
        *page = pg;
    return st;

nomem:
    if (err && errlen)
        snprintf(err, errlen, "byte %zu: out of memory (arena limit)", c.js.err_off);
    return CS_ENOMEM;
}
