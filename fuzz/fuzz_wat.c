/* fuzz_wat.c - fuzzes cs_wat_extract() on arbitrary bytes as a WAT JSON
 * block, and checks it against a reference model built on jansson: when
 * jansson accepts the document, the scanner must accept it too and deliver
 * exactly the same page and links; when only the scanner accepts it, jansson
 * must have refused for a reason the scanner deliberately does not check
 * (UTF-8 validity, lone surrogates, number range, NUL in keys), and a raw
 * NUL byte only makes the scanner refuse where jansson is lenient.
 *
 * The model, cs_fuzz_wat_compare(), is also what tests/warc/test_wat.c uses
 * for its cross-check of the sample WAT. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "crawlset/url.h"
#include "crawlset/wat.h"
#include "fuzz.h"

int cs_fuzz_wat_compare(const char *json, size_t n, const char *record_target,
                        const cs_wat_opts *opts, char *why, size_t whylen);

/* Building the comparison text only fails on out of memory. */
#define TRY(x)                                                                            \
    do {                                                                                  \
        if ((x) != CS_OK)                                                                 \
            abort();                                                                      \
    } while (0)

/* ---- the result as text, to compare ---------------------------------------- */

static void put_field(cs_buf *b, cs_slice s)
{
    if (!s.ptr) {
        TRY(cs_buf_puts(b, "|-"));
        return;
    }
    TRY(cs_buf_puts(b, "|="));
    TRY(cs_buf_append(b, s.ptr, s.len));
}

static void put_link(cs_buf *b, const cs_wat_link *l)
{
    TRY(cs_buf_printf(b, "L%d:%zu", l->in_head, l->index));
    put_field(b, l->path);
    put_field(b, l->url_raw);
    put_field(b, l->url);
    put_field(b, l->alt);
    put_field(b, l->title);
    put_field(b, l->text);
    put_field(b, l->rel);
    TRY(cs_buf_putc(b, '\n'));
}

static void put_page(cs_buf *b, const cs_wat_page *p)
{
    TRY(cs_buf_puts(b, "P"));
    put_field(b, p->target_uri);
    put_field(b, p->warc_type);
    put_field(b, p->title);
    put_field(b, p->base);
    put_field(b, p->base_resolved);
    TRY(cs_buf_printf(b, "|%d|%zu|%zu|%zu\n", p->has_html, p->links_total, p->links_delivered,
                        p->links_unresolved));
}

static int collect(void *ud, const cs_wat_page *page, const cs_wat_link *link)
{
    (void)page;
    put_link(ud, link);
    return 0;
}

/* ---- the reference model ------------------------------------------------------ */

static cs_slice jstr(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_string(v))
        return (cs_slice){NULL, 0};
    return (cs_slice){json_string_value(v), json_string_length(v)};
}

static json_t *jobj(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

static char *resolve_dup(cs_slice base, cs_slice ref, cs_slice *out)
{
    size_t cap = CS_URL_RESOLVE_MAX(base.len, ref.len), n;
    char *buf = malloc(cap);
    if (buf && cs_url_resolve(base.ptr, base.len, ref.ptr, ref.len, buf, cap, &n) == CS_OK) {
        *out = (cs_slice){buf, n};
        return buf;
    }
    free(buf);
    *out = (cs_slice){NULL, 0};
    return NULL;
}

static void model_links(json_t *arr, bool in_head, const cs_wat_opts *o, cs_slice rbase,
                        cs_wat_page *pg, cs_buf *links)
{
    if (!json_is_array(arr))
        return;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_object(e))
            continue;
        pg->links_total++;
        cs_wat_link l;
        memset(&l, 0, sizeof l);
        l.path = jstr(e, "path");
        l.url_raw = jstr(e, "url");
        if (!l.url_raw.ptr)
            l.url_raw = jstr(e, "href");
        if (!l.url_raw.ptr)
            continue;
        l.alt = jstr(e, "alt");
        l.title = jstr(e, "title");
        l.text = jstr(e, "text");
        l.rel = jstr(e, "rel");
        l.index = i;
        l.in_head = in_head;
        if (o->images_only && !cs_wat_is_image(l.path, l.alt))
            continue;
        char *mem = resolve_dup(rbase, l.url_raw, &l.url);
        if (!mem)
            pg->links_unresolved++;
        pg->links_delivered++;
        put_link(links, &l);
        free(mem);
    }
}

/* Returns 0 when the document was rejected by jansson (with its message in
 * jerr), 1 when the model produced *out. */
static int model(const char *json, size_t n, const char *record_target, const cs_wat_opts *o,
                 cs_buf *out, json_error_t *jerr)
{
    json_t *root = json_loadb(json, n, JSON_ALLOW_NUL, jerr);
    if (!root)
        return 0;
    if (!json_is_object(root)) {
        snprintf(jerr->text, sizeof jerr->text, "not an object");
        json_decref(root);
        return 0;
    }
    cs_wat_page pg;
    memset(&pg, 0, sizeof pg);
    json_t *env = jobj(root, "Envelope");
    json_t *whm = jobj(env, "WARC-Header-Metadata");
    pg.target_uri = jstr(whm, "WARC-Target-URI");
    if (!pg.target_uri.ptr && record_target)
        pg.target_uri = (cs_slice){record_target, strlen(record_target)};
    pg.warc_type = jstr(whm, "WARC-Type");
    json_t *html = jobj(jobj(jobj(env, "Payload-Metadata"), "HTTP-Response-Metadata"),
                        "HTML-Metadata");
    pg.has_html = html != NULL;
    json_t *head = jobj(html, "Head");
    pg.title = jstr(head, "Title");
    pg.base = jstr(head, "Base");
    cs_slice rbase = pg.target_uri;
    char *bmem = NULL;
    if (pg.base.ptr) {
        bmem = resolve_dup(pg.target_uri, pg.base, &pg.base_resolved);
        if (bmem)
            rbase = pg.base_resolved;
    }
    cs_buf links;
    cs_buf_init(&links, 0);
    if (o->head_links)
        model_links(head ? json_object_get(head, "Link") : NULL, true, o, rbase, &pg, &links);
    model_links(html ? json_object_get(html, "Links") : NULL, false, o, rbase, &pg, &links);
    put_page(out, &pg);
    if (links.len)
        TRY(cs_buf_append(out, links.data, links.len));
    cs_buf_cleanup(&links);
    free(bmem);
    json_decref(root);
    return 1;
}

static bool tolerated_jansson_refusal(const char *msg)
{
    static const char *const ok[] = {"unable to decode byte", "invalid Unicode", "too big",
                                     "real number overflow", "NUL byte in object key",
                                     "maximum parsing depth"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strstr(msg, ok[i]))
            return true;
    return false;
}

/* Compares the scanner with the model. Returns 0 when they agree (why
 * empty), -1 with why set when they disagree. */
int cs_fuzz_wat_compare(const char *json, size_t n, const char *record_target,
                        const cs_wat_opts *opts, char *why, size_t whylen)
{
    cs_wat_opts o = opts ? *opts : (cs_wat_opts){0};
    o.strict = false; /* the model is the lenient reading */
    cs_buf mine, ref;
    cs_buf_init(&mine, 0);
    cs_buf_init(&ref, 0);
    cs_arena a;
    cs_arena_init(&a, 0);
    cs_wat_page pg;
    char err[256];
    cs_status st = cs_wat_extract(json, n, record_target, &o, collect, &mine, &a, &pg, err,
                                  sizeof err);
    if (st == CS_OK) {
        cs_buf tmp;
        cs_buf_init(&tmp, 0);
        put_page(&tmp, &pg);
        if (mine.len)
            TRY(cs_buf_append(&tmp, mine.data, mine.len));
        cs_buf_cleanup(&mine);
        mine = tmp;
    }
    json_error_t je;
    int rc = 0;
    why[0] = '\0';
    if (!model(json, n, record_target, &o, &ref, &je)) {
        if (st == CS_OK && !tolerated_jansson_refusal(je.text)) {
            snprintf(why, whylen, "scanner accepted, jansson refused: %s", je.text);
            rc = -1;
        }
    } else if (st != CS_OK) {
        /* Allowed refusals: nesting beyond our limit, and raw NUL bytes, which
         * jansson's lexer takes for end of input (after a number or literal
         * it then silently drops them: it accepts {"a":1<NUL>}). */
        if (st != CS_ETOOBIG && !memchr(json, '\0', n)) {
            snprintf(why, whylen, "jansson accepted, scanner refused: %s (%s)", err,
                     cs_status_name(st));
            rc = -1;
        }
    } else if (mine.len != ref.len || memcmp(mine.data, ref.data, mine.len) != 0) {
        snprintf(why, whylen, "results differ:\n--- scanner\n%.*s--- jansson\n%.*s",
                 (int)(mine.len > 2000 ? 2000 : mine.len), mine.data ? mine.data : "",
                 (int)(ref.len > 2000 ? 2000 : ref.len), ref.data ? ref.data : "");
        rc = -1;
    }
    cs_buf_cleanup(&mine);
    cs_buf_cleanup(&ref);
    cs_arena_cleanup(&a);
    return rc;
}

/* Both URL resolution paths (one-off and batch with a pre-split base) must
 * agree on any reference; the input serves as one (and, split at the first
 * LF, as base + reference). */
static void check_url_paths(const char *base, size_t bl, const char *ref, size_t rl)
{
    size_t cap = CS_URL_RESOLVE_MAX(bl, rl), n1, bn;
    char *o1 = malloc(cap), *o2 = malloc(cap), *bb = malloc(CS_URL_RESOLVE_MAX(0, bl));
    if (!o1 || !o2 || !bb)
        abort();
    cs_status s1 = cs_url_resolve(base, bl, ref, rl, o1, cap, &n1);
    cs_url_base b;
    const cs_url_base *bp = NULL;
    bn = cs_url_clean(base, bl, bb);
    if (cs_url_base_init(&b, bb, bn) == CS_OK)
        bp = &b;
    cs_slice r2;
    cs_status s2 = cs_url_resolve_with(bp, ref, rl, o2, cap, &r2);
    if (s1 != s2 || (s1 == CS_OK && (n1 != r2.len || memcmp(o1, r2.ptr, n1) != 0))) {
        fprintf(stderr, "fuzz_wat: url paths differ: %s vs %s\n", cs_status_name(s1),
                cs_status_name(s2));
        abort();
    }
    free(o1);
    free(o2);
    free(bb);
}

CS_FUZZ_TARGET(wat)
{
    /* the size picks the options, so that mutations visit every mode */
    cs_wat_opts o = {0};
    o.images_only = size & 1;
    o.head_links = (size >> 1) & 1;
    const char *rt = (size & 4) ? "http://record.example/dir/page" : NULL;
    char why[4500];
    if (cs_fuzz_wat_compare((const char *)data, size, rt, &o, why, sizeof why) != 0) {
        fprintf(stderr, "fuzz_wat: %s\n", why);
        abort();
    }
    if (size <= 4096) {
        static const char base[] = "http://h.example/a/b/c?q#f";
        check_url_paths(base, sizeof base - 1, (const char *)data, size);
        const uint8_t *lf = memchr(data, '\n', size);
        if (lf)
            check_url_paths((const char *)data, (size_t)(lf - data), (const char *)lf + 1,
                            size - (size_t)(lf - data) - 1);
    }
    /* strict mode and a small depth limit must not crash either */
    o.strict = true;
    o.max_depth = 8;
    cs_arena a;
    cs_arena_init(&a, 1 << 20);
    char err[128];
    cs_status st = cs_wat_extract((const char *)data, size, rt, &o, NULL, NULL, &a, NULL, err,
                                  sizeof err);
    if (st != CS_OK && err[0] == '\0')
        abort(); /* every error comes with a message */
    cs_arena_cleanup(&a);
    return 0;
}
