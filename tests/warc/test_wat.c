/* test_wat.c - WAT link extraction: hand-written records in the exact Common
 * Crawl layout (and hostile variants of them), the real whirlwind WAT, the
 * bundled sample cross-checked against jansson, and `crawlset wat links`. */
#include <sys/wait.h>
#include <unistd.h>

#include "crawlset/url.h"
#include "crawlset/wat.h"
#include "test.h"

/* The jansson reference model lives with the fuzz target (fuzz/fuzz_wat.c). */
int cs_fuzz_wat_compare(const char *json, size_t n, const char *record_target,
                        const cs_wat_opts *opts, char *why, size_t whylen);

/* ---- helpers ------------------------------------------------------------- */

/* JSON written with ' for " to keep the C readable; ` stands for '. */
static char *J(const char *s)
{
    char *d = cs_test_keep(cs_strdup(s));
    for (char *p = d; *p; p++)
        *p = *p == '\'' ? '"' : *p == '`' ? '\'' : *p;
    return d;
}

/* A response record in the layout ia-web-commons writes (Payload-Metadata
 * before WARC-Header-Metadata, as in the real whirlwind WAT). head and
 * links are JSON texts (with ' quotes) or NULL to leave the member out. */
static char *response(const char *target, const char *head, const char *links)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b,
        "{'Container':{'Filename':'CC-MAIN-20240517233122-20240518023122-00000.warc.gz',"
        "'Compressed':true,'Offset':'80610308','Gzip-Metadata':{'Deflate-Length':'423',"
        "'Header-Length':'10','Footer-Length':'8','Inflated-CRC':'-1106529533',"
        "'Inflated-Length':'626'}},'Envelope':{'Payload-Metadata':{'Actual-Content-Type':"
        "'application/http; msgtype=response','HTTP-Response-Metadata':{'Response-Message':"
        "{'Version':'HTTP/1.1','Status':'200','Reason':'OK'},'Headers-Length':'300',"
        "'Headers':{'Content-Type':'text/html; charset=UTF-8','Server':'nginx'},"
        "'Entity-Length':'5000','HTML-Metadata':{"));
    bool comma = false;
    if (head) {
        ASSERT_OK(cs_buf_printf(&b, "'Head':%s", head));
        comma = true;
    }
    if (links)
        ASSERT_OK(cs_buf_printf(&b, "%s'Links':%s", comma ? "," : "", links));
    ASSERT_OK(cs_buf_puts(&b, "}},'Actual-Content-Length':'5300','Block-Digest':"
                              "'sha1:IE7NEN3QEJHUCYRRGVMHDDW3BEHFRQ6V'},'Format':'WARC/1.0',"
                              "'WARC-Header-Length':'600','WARC-Header-Metadata':{"
                              "'WARC-Type':'response','WARC-Date':'2024-05-18T01:58:10Z'"));
    if (target)
        ASSERT_OK(cs_buf_printf(&b, ",'WARC-Target-URI':'%s'", target));
    ASSERT_OK(cs_buf_puts(&b, "}}}"));
    char *s = J(b.data);
    cs_buf_cleanup(&b);
    return s;
}

typedef struct got_link {
    char *path, *url_raw, *url, *alt, *title, *text, *rel;
    size_t index;
    bool in_head;
} got_link;

typedef struct got {
    cs_status st;
    char err[256];
    cs_wat_page page;
    char *target, *type, *title, *base, *base_resolved;
    got_link l[256];
    size_t n;
    int stop_after; /* callback returns 1 after this many links; 0 = never */
} got;

static char *dup_slice(cs_slice s) { return s.ptr ? cs_test_keep(cs_strndup(s.ptr, s.len)) : NULL; }

static int collect(void *ud, const cs_wat_page *page, const cs_wat_link *l)
{
    got *g = ud;
    ASSERT(page != NULL);
    ASSERT(g->n < 256);
    got_link *d = &g->l[g->n++];
    d->path = dup_slice(l->path);
    d->url_raw = dup_slice(l->url_raw);
    d->url = dup_slice(l->url);
    d->alt = dup_slice(l->alt);
    d->title = dup_slice(l->title);
    d->text = dup_slice(l->text);
    d->rel = dup_slice(l->rel);
    d->index = l->index;
    d->in_head = l->in_head;
    return g->stop_after && (int)g->n >= g->stop_after;
}

static got *run_n(const char *json, size_t n, const char *rt, const cs_wat_opts *o)
{
    got *g = cs_test_keep(calloc(1, sizeof *g));
    cs_arena a;
    cs_arena_init(&a, 0);
    g->st = cs_wat_extract(json, n, rt, o, collect, g, &a, &g->page, g->err, sizeof g->err);
    g->target = dup_slice(g->page.target_uri);
    g->type = dup_slice(g->page.warc_type);
    g->title = dup_slice(g->page.title);
    g->base = dup_slice(g->page.base);
    g->base_resolved = dup_slice(g->page.base_resolved);
    cs_arena_cleanup(&a);
    return g;
}

static got *run(const char *json, const char *rt, const cs_wat_opts *o)
{
    return run_n(json, strlen(json), rt, o);
}

/* Every accepted document must also agree with the jansson model. */
static void agree(const char *json, const char *rt, const cs_wat_opts *o)
{
    char why[4500];
    if (cs_fuzz_wat_compare(json, strlen(json), rt, o, why, sizeof why) != 0)
        FAIL("scanner and jansson disagree: %s", why);
}

#define T_URL "https://www.example.com/dir/page.html"

/* ---- extraction rules ---------------------------------------------------- */

TEST(wat_links_resolved_against_target)
{
    char *js = response(T_URL, "{'Title':'A page'}",
        "[{'path':'A@/href','url':'/about','text':'About us','title':'About','rel':'nofollow'},"
        "{'path':'IMG@/src','url':'img/a.png','alt':'A dog'},"
        "{'path':'IMG@/src','url':'//cdn.example.net/x.jpg'},"
        "{'path':'A@/href','url':'?p=2'},"
        "{'path':'A@/href','url':'#top'},"
        "{'path':'A@/href','url':'https://other.example.org/'},"
        "{'path':'A@/href','url':'../up.html'},"
        "{'path':'FORM@/action','url':'search','method':'get'}]");
    got *g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->target, T_URL);
    ASSERT_STR_EQ(g->type, "response");
    ASSERT_STR_EQ(g->title, "A page");
    ASSERT(g->base == NULL && g->page.has_html);
    ASSERT_EQ(g->n, 8);
    ASSERT_EQ(g->page.links_total, 8);
    ASSERT_EQ(g->page.links_delivered, 8);
    ASSERT_EQ(g->page.links_unresolved, 0);
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/about");
    ASSERT_STR_EQ(g->l[0].url_raw, "/about");
    ASSERT_STR_EQ(g->l[0].path, "A@/href");
    ASSERT_STR_EQ(g->l[0].text, "About us");
    ASSERT_STR_EQ(g->l[0].title, "About");
    ASSERT_STR_EQ(g->l[0].rel, "nofollow");
    ASSERT(g->l[0].alt == NULL);
    ASSERT_STR_EQ(g->l[1].url, "https://www.example.com/dir/img/a.png");
    ASSERT_STR_EQ(g->l[1].alt, "A dog");
    ASSERT_STR_EQ(g->l[2].url, "https://cdn.example.net/x.jpg");
    ASSERT_STR_EQ(g->l[3].url, T_URL "?p=2");
    ASSERT_STR_EQ(g->l[4].url, T_URL "#top");
    ASSERT_STR_EQ(g->l[5].url, "https://other.example.org/");
    ASSERT_STR_EQ(g->l[6].url, "https://www.example.com/up.html");
    ASSERT_STR_EQ(g->l[7].url, "https://www.example.com/dir/search");
    for (size_t i = 0; i < g->n; i++) {
        ASSERT_EQ(g->l[i].index, i);
        ASSERT(!g->l[i].in_head);
    }
    agree(js, NULL, NULL);
}

TEST(wat_base_href)
{
    const char *links = "[{'path':'IMG@/src','url':'a.jpg','alt':'x'},"
                        "{'path':'A@/href','url':'/root'},{'path':'A@/href','url':'../b'}]";
    /* absolute base */
    char *js = response(T_URL, "{'Base':'https://static.example.org/assets/'}", links);
    got *g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->base, "https://static.example.org/assets/");
    ASSERT_STR_EQ(g->base_resolved, "https://static.example.org/assets/");
    ASSERT_STR_EQ(g->l[0].url, "https://static.example.org/assets/a.jpg");
    ASSERT_STR_EQ(g->l[1].url, "https://static.example.org/root");
    ASSERT_STR_EQ(g->l[2].url, "https://static.example.org/b");
    agree(js, NULL, NULL);
    /* relative base, resolved against the target first */
    js = response(T_URL, "{'Base':' /static/v2/ '}", links);
    g = run(js, NULL, NULL);
    ASSERT_STR_EQ(g->base, " /static/v2/ ");
    ASSERT_STR_EQ(g->base_resolved, "https://www.example.com/static/v2/");
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/static/v2/a.jpg");
    ASSERT_STR_EQ(g->l[2].url, "https://www.example.com/static/b");
    agree(js, NULL, NULL);
    /* no target at all: a relative base is useless, relative links unresolved */
    js = response(NULL, "{'Base':'/static/'}",
                  "[{'path':'A@/href','url':'x'},{'path':'A@/href','url':'http://abs.example/'}]");
    g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT(g->target == NULL && g->base_resolved == NULL);
    ASSERT_EQ(g->n, 2);
    ASSERT(g->l[0].url == NULL);
    ASSERT_STR_EQ(g->l[0].url_raw, "x");
    ASSERT_STR_EQ(g->l[1].url, "http://abs.example/");
    ASSERT_EQ(g->page.links_unresolved, 1);
    agree(js, NULL, NULL);
    /* no target but an absolute base: everything resolves */
    js = response(NULL, "{'Base':'http://b.example/d/'}", "[{'path':'A@/href','url':'x'}]");
    g = run(js, NULL, NULL);
    ASSERT_STR_EQ(g->l[0].url, "http://b.example/d/x");
}

TEST(wat_record_target_fallback)
{
    char *js = response(NULL, NULL, "[{'path':'A@/href','url':'next.html'}]");
    got *g = run(js, "https://fallback.example.com/a/b.html", NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->target, "https://fallback.example.com/a/b.html");
    ASSERT_STR_EQ(g->l[0].url, "https://fallback.example.com/a/next.html");
    agree(js, "https://fallback.example.com/a/b.html", NULL);
    /* the envelope's URI wins over the record's */
    js = response(T_URL, NULL, "[{'path':'A@/href','url':'next.html'}]");
    g = run(js, "https://fallback.example.com/", NULL);
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/dir/next.html");
}

TEST(wat_images_only)
{
    char *js = response(T_URL, NULL,
        "[{'path':'IMG@/src','url':'a.jpg','alt':'A dog in the park'},"
        "{'path':'IMG@/src','url':'b.png','alt':'','title':'no alt text'},"
        "{'path':'IMG@/src','url':'c.png','alt':' \\t\\n '},"
        "{'path':'IMG@/src','url':'d.png'},"
        "{'path':'IMG@/data-src','url':'e.png','alt':'lazy'},"
        "{'path':'A@/href','url':'f.html','alt':'anchor with alt'},"
        "{'path':'img@/src','url':'g.png','alt':'lower case path'},"
        "{'url':'h.png','alt':'no path'},"
        "{'path':'IMG@/src','url':'i.png','alt':' x '}]");
    cs_wat_opts o = {.images_only = true};
    got *g = run(js, NULL, &o);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 2);
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/dir/a.jpg");
    ASSERT_STR_EQ(g->l[0].alt, "A dog in the park");
    ASSERT_EQ(g->l[0].index, 0);
    ASSERT_STR_EQ(g->l[1].alt, " x "); /* alt as written */
    ASSERT_EQ(g->l[1].index, 8);
    ASSERT_EQ(g->page.links_total, 9);
    ASSERT_EQ(g->page.links_delivered, 2);
    agree(js, NULL, &o);
    /* the rule itself */
    ASSERT(cs_wat_is_image(CS_SLICE_LIT("IMG@/src"), CS_SLICE_LIT("x")));
    ASSERT(!cs_wat_is_image(CS_SLICE_LIT("IMG@/src"), (cs_slice){NULL, 0}));
    ASSERT(!cs_wat_is_image(CS_SLICE_LIT("IMG@/src "), CS_SLICE_LIT("x")));
    ASSERT(!cs_wat_is_image(CS_SLICE_LIT("IMG@/src"), CS_SLICE_LIT("\r\n\f")));
}

TEST(wat_records_without_links)
{
    /* response without Links, and without HTML-Metadata */
    char *js = response(T_URL, "{'Title':'Only a title'}", NULL);
    got *g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    ASSERT(g->page.has_html);
    ASSERT_STR_EQ(g->title, "Only a title");
    agree(js, NULL, NULL);
    js = J("{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'Response-Message':"
           "{'Status':'301'},'Headers':{'Location':'https://x.example/'}}},"
           "'WARC-Header-Metadata':{'WARC-Type':'response','WARC-Target-URI':'http://x.example/'}}}");
    g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    ASSERT(!g->page.has_html);
    /* request and metadata envelopes */
    js = J("{'Container':{'Filename':'x.warc.gz','Compressed':true},'Envelope':{"
           "'Payload-Metadata':{'Actual-Content-Type':'application/http; msgtype=request',"
           "'HTTP-Request-Metadata':{'Request-Message':{'Method':'GET','Path':'/wiki/Escopete',"
           "'Version':'HTTP/1.1'},'Headers':{'Host':'an.wikipedia.org'}}},'Format':'WARC/1.0',"
           "'WARC-Header-Metadata':{'WARC-Type':'request','WARC-Target-URI':"
           "'https://an.wikipedia.org/wiki/Escopete'}}}");
    g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    ASSERT_STR_EQ(g->type, "request");
    ASSERT(!g->page.has_html);
    js = J("{'Envelope':{'Payload-Metadata':{'Actual-Content-Type':'application/warc-fields',"
           "'WARC-Metadata-Metadata':{'Metadata-Records':[{'Name':'fetchTimeMs','Value':'12'},"
           "{'Name':'languages-cld2','Value':'{\\'reliable\\':true}'}]}},"
           "'WARC-Header-Metadata':{'WARC-Type':'metadata','WARC-Target-URI':'http://m.example/'}}}");
    g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    ASSERT_STR_EQ(g->type, "metadata");
    agree(js, NULL, NULL);
    /* an empty object, and Links that is empty */
    g = run("{}", NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    js = response(T_URL, "{}", "[]");
    g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    ASSERT(g->page.has_html);
}

TEST(wat_unicode_and_escapes)
{
    char *js = response(T_URL, "{'Title':'Caf\\u00e9 \\u2014 \\ud83d\\udc15'}",
        "[{'path':'IMG@/src','url':'\\/img\\/caf\\u00e9.jpg','alt':'caf\\u00e9 \\ud83d\\udc15'},"
        "{'path':'IMG@/src','url':'b.jpg','alt':'lone \\ud800x and \\udc00 and \\ud800\\u0041'},"
        "{'path':'A@/href','url':'c','text':'q\\'\\\\\\/\\b\\f\\n\\r\\t end'},"
        "{'p\\u0061th':'A@/href','\\u0075rl':'escaped-keys','t\\u0065xt':'k'},"
        "{'path':'IMG@/src','url':'d.jpg','alt':'raw UTF-8: Собака 柴犬'}]");
    got *g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->title, "Caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x90\x95");
    ASSERT_EQ(g->n, 5);
    ASSERT_STR_EQ(g->l[0].url_raw, "/img/caf\xC3\xA9.jpg");
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/img/caf\xC3\xA9.jpg");
    ASSERT_STR_EQ(g->l[0].alt, "caf\xC3\xA9 \xF0\x9F\x90\x95");
    ASSERT_STR_EQ(g->l[1].alt,
                  "lone \xEF\xBF\xBDx and \xEF\xBF\xBD and \xEF\xBF\xBD" "A");
    ASSERT_STR_EQ(g->l[2].text, "q\"\\/\b\f\n\r\t end");
    ASSERT_STR_EQ(g->l[3].path, "A@/href");
    ASSERT_STR_EQ(g->l[3].url, "https://www.example.com/dir/escaped-keys");
    ASSERT_STR_EQ(g->l[3].text, "k");
    ASSERT_STR_EQ(g->l[4].alt, "raw UTF-8: Собака 柴犬");
}

static int nul_text_cb(void *ud, const cs_wat_page *p, const cs_wat_link *l)
{
    (void)p;
    size_t *n = ud;
    *n = l->text.len;
    ASSERT(l->text.len == 3 && l->text.ptr[1] == '\0' && l->text.ptr[2] == 'b');
    return 0;
}

TEST(wat_nul_escape_kept_in_slice)
{
    char *js = response(T_URL, NULL, "[{'path':'A@/href','url':'x','text':'a\\u0000b'}]");
    cs_arena a;
    cs_arena_init(&a, 0);
    size_t n = 0;
    ASSERT_OK(cs_wat_extract(js, strlen(js), NULL, NULL, nul_text_cb, &n, &a, NULL, NULL, 0));
    ASSERT_EQ(n, 3);
    cs_arena_cleanup(&a);
    agree(js, NULL, NULL);
}

TEST(wat_key_order_and_duplicates)
{
    /* Head after Links, WARC-Header-Metadata after Payload-Metadata, Envelope
     * after Container: the base and target still apply to every link */
    char *js = J("{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{"
                 "'Links':[{'path':'IMG@/src','url':'a.jpg','alt':'x'}],"
                 "'Head':{'Base':'sub/','Title':'T'}}}},"
                 "'WARC-Header-Metadata':{'WARC-Target-URI':'http://h.example/p/q'}},"
                 "'Container':{'Offset':'1'}}");
    got *g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->base_resolved, "http://h.example/p/sub/");
    ASSERT_STR_EQ(g->l[0].url, "http://h.example/p/sub/a.jpg");
    agree(js, NULL, NULL);
    /* duplicate keys: the last one wins, as in jansson */
    js = J("{'Envelope':{'WARC-Header-Metadata':{'WARC-Target-URI':'http://first.example/',"
           "'WARC-Target-URI':'http://second.example/d/'},"
           "'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{"
           "'Head':{'Title':'one','Title':'two','Base':5},"
           "'Links':[{'path':'A@/href','url':'dropped'}],"
           "'Links':[{'path':'A@/href','url':'first','url':'second','text':'t','text':null}]}}}}}");
    g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->target, "http://second.example/d/");
    ASSERT_STR_EQ(g->title, "two");
    ASSERT(g->base == NULL);
    ASSERT_EQ(g->n, 1);
    ASSERT_STR_EQ(g->l[0].url, "http://second.example/d/second");
    ASSERT(g->l[0].text == NULL);
    agree(js, NULL, NULL);
    /* a repeated Envelope replaces everything found in the first */
    js = J("{'Envelope':{'WARC-Header-Metadata':{'WARC-Target-URI':'http://a.example/'},"
           "'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{"
           "'Links':[{'url':'x'}]}}}},'Envelope':{'Format':'WARC'}}");
    g = run(js, "http://rec.example/", NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 0);
    ASSERT_STR_EQ(g->target, "http://rec.example/");
    ASSERT(!g->page.has_html);
    agree(js, "http://rec.example/", NULL);
}

TEST(wat_href_key_and_head_links)
{
    char *js = response(T_URL,
        "{'Title':'t','Link':[{'path':'LINK@/href','url':'/css/site.css','rel':'stylesheet',"
        "'type':'text/css'},{'path':'LINK@/href','url':'/favicon.ico','rel':'icon'}],"
        "'Scripts':[{'path':'SCRIPT@/src','url':'/app.js'}],'Metas':[{'name':'a','content':'b'}]}",
        "[{'path':'STYLE/#text','href':'../img/bg.png'},"
        "{'path':'A@/href','href':'ignored','url':'wins'},"
        "{'path':'A@/href','text':'no url at all'},"
        "{'path':'__meta_refresh__','url':'https://www.example.com/redirected.html'}]");
    got *g = run(js, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 3);
    ASSERT_EQ(g->page.links_total, 4);
    ASSERT_STR_EQ(g->l[0].path, "STYLE/#text");
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/img/bg.png");
    ASSERT_STR_EQ(g->l[1].url_raw, "wins");
    ASSERT_STR_EQ(g->l[2].path, "__meta_refresh__");
    ASSERT_EQ(g->l[2].index, 3);
    agree(js, NULL, NULL);
    cs_wat_opts o = {.head_links = true};
    g = run(js, NULL, &o);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 5);
    ASSERT_EQ(g->page.links_total, 6);
    ASSERT(g->l[0].in_head && g->l[1].in_head && !g->l[2].in_head);
    ASSERT_STR_EQ(g->l[0].url, "https://www.example.com/css/site.css");
    ASSERT_STR_EQ(g->l[0].rel, "stylesheet");
    ASSERT_STR_EQ(g->l[1].rel, "icon");
    agree(js, NULL, &o);
}

TEST(wat_strict_and_lenient_types)
{
    static const char *const cases[] = {
        "{'Envelope':[]}",
        "{'Envelope':{'WARC-Header-Metadata':'x'}}",
        "{'Envelope':{'WARC-Header-Metadata':{'WARC-Target-URI':7}}}",
        "{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Links':{}}}}}}",
        "{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Links':[1]}}}}}",
        "{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Links':"
        "[{'url':['a']}]}}}}}",
        "{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Head':"
        "{'Title':null}}}}}}",
        "{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':true}}}}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *js = J(cases[i]);
        got *g = run(js, NULL, NULL);
        if (g->st != CS_OK)
            FAIL("lenient, case %zu: %s", i, g->err);
        ASSERT_EQ(g->n, 0);
        agree(js, NULL, NULL);
        cs_wat_opts o = {.strict = true};
        g = run(js, NULL, &o);
        ASSERT_ST(g->st, CS_EFORMAT);
        ASSERT_CONTAINS(g->err, "not a");
        ASSERT_EQ(g->n, 0);
    }
}

/* ---- malformed input ------------------------------------------------------ */

typedef struct bad_case {
    const char *json; /* with ' for " */
    cs_status st;
    const char *err;  /* expected "byte N: what" prefix */
} bad_case;

TEST(wat_malformed_json_reported)
{
    static const bad_case cases[] = {
        {"", CS_ETRUNC, "byte 0: unexpected end of input"},
        {"  \n ", CS_ETRUNC, "byte 4: unexpected end of input"},
        {"[]", CS_EFORMAT, "byte 0: expected an object"},
        {"'x'", CS_EFORMAT, "byte 0: expected an object"},
        {"{", CS_ETRUNC, "byte 1: unexpected end of input in object"},
        {"{'a':1,}", CS_EFORMAT, "byte 7: expected a string as object key"},
        {"{'a' 1}", CS_EFORMAT, "byte 5: expected ':' after object key"},
        {"{'a':tru}", CS_EFORMAT, "byte 5: invalid literal"},
        {"{'a':tru", CS_ETRUNC, "byte 5: unexpected end of input"},
        {"{'a':nul}", CS_EFORMAT, "byte 5: invalid literal"},
        {"{'a':01}", CS_EFORMAT, "byte 5: invalid number"},
        {"{'a':truex}", CS_EFORMAT, "byte 5: invalid literal"},
        {"{'a':1x}", CS_EFORMAT, "byte 5: invalid number"},
        {"{'a':1'b'}", CS_EFORMAT, "byte 6: expected ',' or '}' in object"},
        {"{'a':1,\x01'b':2}", CS_EFORMAT, "byte 7: "},
        {"\\{'a':1}", CS_EFORMAT, "byte 0: expected an object"},
        {"{\\'a':1}", CS_EFORMAT, "byte 1: expected a string as object key"},
        {"{'a':1.}", CS_EFORMAT, "byte 5: invalid number"},
        {"{'a':1e}", CS_EFORMAT, "byte 5: invalid number"},
        {"{'a':-}", CS_EFORMAT, "byte 5: invalid number"},
        {"{'a':+1}", CS_EFORMAT, "byte 5: expected a value"},
        {"{'a':'x\\qy'}", CS_EFORMAT, "byte 7: invalid escape in string"},
        {"{'a':'\\u12G4'}", CS_EFORMAT, "byte 6: invalid \\u escape in string"},
        {"{'a':'\\u12", CS_ETRUNC, "byte 6: unexpected end of input in string"},
        {"{'a':'x\ty'}", CS_EFORMAT, "byte 7: control character in string"},
        {"{'a':'abc", CS_ETRUNC, "byte 9: unexpected end of input in a string"},
        {"{'a':[1,2}", CS_EFORMAT, "byte 9: expected ',' or ']' in array"},
        {"{'a':[1,]}", CS_EFORMAT, "byte 8: expected a value"},
        {"{'a':{'b':1]}", CS_EFORMAT, "byte 11: expected ',' or '}' in object"},
        {"{'a':1} x", CS_EFORMAT, "byte 8: unexpected data after the JSON document"},
        {"{'a':1}{}", CS_EFORMAT, "byte 7: unexpected data after the JSON document"},
        {"{,}", CS_EFORMAT, "byte 1: expected a string as object key"},
        {"{'a':1 'b':2}", CS_EFORMAT, "byte 7: expected ',' or '}' in object"},
        {"{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Links':"
         "[{'url':'a',}]}}}}}",
         CS_EFORMAT, "byte 96: expected a string as object key"},
        {"{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Links':"
         "[{'url':'a'}",
         CS_ETRUNC, "byte 96: unexpected end of input in array"},
        {"{'Envelope':{'Payload-Metadata':{'HTTP-Response-Metadata':{'HTML-Metadata':{'Links':"
         "[{'url':'a'}{'url':'b'}]}}}}}",
         CS_EFORMAT, "byte 96: expected ',' or ']' in array"},
        {"{'Envelope':{'WARC-Header-Metadata':{'WARC-Target-URI':'http://x/\\x'}}}", CS_EFORMAT,
         "byte 65: invalid escape in string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *js = J(cases[i].json);
        got *g = run(js, "http://rec.example/", NULL);
        if (g->st != cases[i].st || strncmp(g->err, cases[i].err, strlen(cases[i].err)) != 0)
            FAIL("case %zu %s: got %s '%s', want %s '%s'", i, js, cs_status_name(g->st), g->err,
                 cs_status_name(cases[i].st), cases[i].err);
        ASSERT_EQ(g->n, 0); /* nothing delivered from a malformed record */
        ASSERT_STR_EQ(g->target, "http://rec.example/");
    }
    /* a raw NUL byte inside a string is a control character */
    const char nul[] = "{\"a\":\"x\0y\"}";
    got *g = run_n(nul, sizeof nul - 1, NULL, NULL);
    ASSERT_ST(g->st, CS_EFORMAT);
    ASSERT_STR_EQ(g->err, "byte 7: control character in string");
}

TEST(wat_every_prefix_is_truncated)
{
    char *js = response(T_URL, "{'Title':'T \\u00e9','Base':'/b/'}",
        "[{'path':'IMG@/src','url':'a.jpg','alt':'x \\ud83d\\udc15'},{'n':-12.5e+3,"
        "'t':true,'f':false,'z':null,'arr':[[],{},[1,[2]]]}]");
    size_t n = strlen(js);
    for (size_t i = 0; i < n; i++) {
        got *g = run_n(js, i, NULL, NULL);
        if (g->st != CS_ETRUNC)
            FAIL("prefix of %zu bytes: %s '%s'", i, cs_status_name(g->st), g->err);
        ASSERT_EQ(g->n, 0);
    }
    got *g = run_n(js, n, NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_EQ(g->n, 1);
}

/* {"Container": {"k": [{"k": [ ... inner ... ]}]}} with depth containers
 * below the top-level object. */
/* Runs of backslashes before quotes, at every offset around the 64-byte
 * blocks the scanner classifies: the escape carry must cross blocks. */
TEST(wat_backslash_runs_across_blocks)
{
    for (size_t k = 0; k < 140; k++) {
        for (size_t m = 0; m < 70; m += (m < 8 ? 1 : 7)) {
            cs_buf b, want;
            cs_buf_init(&b, 0);
            cs_buf_init(&want, 0);
            ASSERT_OK(cs_buf_puts(&b, "{\"Envelope\":{\"WARC-Header-Metadata\":{\"WARC-Target-URI\":\""));
            for (size_t i = 0; i < k; i++) {
                ASSERT_OK(cs_buf_putc(&b, 'a'));
                ASSERT_OK(cs_buf_putc(&want, 'a'));
            }
            for (size_t i = 0; i < m; i++) {
                ASSERT_OK(cs_buf_puts(&b, "\\\\"));
                ASSERT_OK(cs_buf_putc(&want, '\\'));
            }
            ASSERT_OK(cs_buf_puts(&b, "\\\"b\"}},\"x\":\"\\\\\"}"));
            ASSERT_OK(cs_buf_puts(&want, "\"b"));
            got *g = run_n(b.data, b.len, NULL, NULL);
            if (g->st != CS_OK)
                FAIL("k=%zu m=%zu: %s", k, m, g->err);
            ASSERT_MEM_EQ(g->target, strlen(g->target), want.data, want.len);
            cs_buf_cleanup(&b);
            cs_buf_cleanup(&want);
        }
    }
}

static char *nested(size_t depth, const char *inner)
{
    size_t il = strlen(inner);
    char *s = cs_test_keep(malloc(64 + 6 * depth + il));
    char *w = s;
    w += sprintf(w, "{\"Container\":");
    for (size_t i = 0; i < depth; i++)
        w += sprintf(w, (i & 1) ? "[" : "{\"k\":");
    memcpy(w, inner, il);
    w += il;
    for (size_t i = depth; i-- > 0;)
        *w++ = (i & 1) ? ']' : '}';
    *w++ = '}';
    *w = 0;
    return s;
}

TEST(wat_deep_nesting_limited)
{
    /* depth counts the outer object too */
    char *s = nested(510, "1");
    got *g = run(s, NULL, NULL);
    ASSERT_OK(g->st);
    s = nested(512, "1");
    g = run(s, NULL, NULL);
    ASSERT_ST(g->st, CS_ETOOBIG);
    ASSERT_CONTAINS(g->err, "nesting too deep");
    /* far deeper than any stack would take: refused quickly, no recursion */
    s = nested(200000, "1");
    g = run(s, NULL, NULL);
    ASSERT_ST(g->st, CS_ETOOBIG);
    /* a lower limit from the options, inside the navigated part too */
    cs_wat_opts o = {.max_depth = 8};
    char *js = response(T_URL, NULL, "[{'url':'a','x':[[[[[1]]]]]}]");
    g = run(js, NULL, &o);
    ASSERT_ST(g->st, CS_ETOOBIG);
    o.max_depth = 12;
    g = run(js, NULL, &o);
    ASSERT_OK(g->st);
    /* the limit is capped, not trusted */
    o.max_depth = 1u << 30;
    s = nested(100000, "1");
    g = run(s, NULL, &o);
    ASSERT_ST(g->st, CS_ETOOBIG);
}

TEST_T(wat_huge_strings, 60)
{
    size_t big = 16u << 20;
    /* a 16 MiB alt (escaped every 1000 bytes) and a 16 MiB skipped header */
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "{\"Container\":{\"Junk\":\""));
    for (size_t i = 0; i < big; i++)
        ASSERT_OK(cs_buf_putc(&b, (char)('a' + i % 26)));
    ASSERT_OK(cs_buf_puts(&b, "\"},\"Envelope\":{\"WARC-Header-Metadata\":{\"WARC-Target-URI\":"
                              "\"http://h.example/\"},\"Payload-Metadata\":{\"HTTP-Response-Metadata\":"
                              "{\"HTML-Metadata\":{\"Links\":[{\"path\":\"IMG@/src\",\"url\":\"a.png\","
                              "\"alt\":\""));
    for (size_t i = 0; i < big; i++)
        ASSERT_OK(i % 1000 == 999 ? cs_buf_puts(&b, "\\n") : cs_buf_putc(&b, 'x'));
    ASSERT_OK(cs_buf_puts(&b, "\"}]}}}}}"));
    cs_arena a;
    cs_arena_init(&a, 64u << 20); /* the arena need not hold more than the strings output */
    got g;
    memset(&g, 0, sizeof g);
    cs_wat_opts o = {.images_only = true};
    ASSERT_OK(cs_wat_extract(b.data, b.len, NULL, &o, collect, &g, &a, NULL, NULL, 0));
    ASSERT_EQ(g.n, 1);
    ASSERT_EQ(strlen(g.l[0].alt), big); /* each 2-byte escape decodes to one byte */
    ASSERT(g.l[0].alt[999] == '\n');
    ASSERT(a.used < (48u << 20));
    cs_arena_cleanup(&a);
    cs_buf_cleanup(&b);
}

TEST(wat_callback_stop_and_arena_limit)
{
    char *js = response(T_URL, NULL,
        "[{'url':'a'},{'url':'b'},{'url':'c'}]");
    got *g = calloc(1, sizeof *g);
    g->stop_after = 2;
    cs_arena a;
    cs_arena_init(&a, 0);
    ASSERT_ST(cs_wat_extract(js, strlen(js), NULL, NULL, collect, g, &a, NULL, NULL, 0),
              CS_ECANCELED);
    ASSERT_EQ(g->n, 2);
    cs_arena_cleanup(&a);
    /* an arena too small for the link table: CS_ENOMEM with a message, no link */
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "{\"Envelope\":{\"Payload-Metadata\":{\"HTTP-Response-Metadata\":"
                              "{\"HTML-Metadata\":{\"Links\":["));
    for (int i = 0; i < 5000; i++)
        ASSERT_OK(cs_buf_printf(&b, "%s{\"url\":\"/l%d\"}", i ? "," : "", i));
    ASSERT_OK(cs_buf_puts(&b, "]}}}}}"));
    cs_arena_init(&a, 64 << 10);
    char err[128];
    memset(g, 0, sizeof *g);
    ASSERT_ST(cs_wat_extract(b.data, b.len, "http://h/", NULL, collect, g, &a, NULL, err,
                             sizeof err),
              CS_ENOMEM);
    ASSERT_CONTAINS(err, "out of memory");
    ASSERT_EQ(g->n, 0);
    cs_arena_cleanup(&a);
    /* and enough arena: all 5000 */
    cs_arena_init(&a, 1 << 20);
    ASSERT_OK(cs_wat_extract(b.data, b.len, "http://h/", NULL, NULL, NULL, &a, NULL, err,
                             sizeof err));
    cs_arena_cleanup(&a);
    cs_buf_cleanup(&b);
}

/* ---- real and sample files through the WARC reader ------------------------- */

typedef struct file_counts {
    size_t records, json, links, unresolved, errors, pages_html;
} file_counts;

static void read_wat(const char *path, const cs_wat_opts *o, bool cross_check, file_counts *c)
{
    memset(c, 0, sizeof *c);
    cs_warc_reader_opts ro = {.types = CS_WARC_METADATA};
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, path, &ro));
    cs_arena a;
    cs_arena_init(&a, 0);
    cs_warc_record *rec;
    cs_status st;
    while ((st = cs_warc_reader_next(r, &rec)) != CS_DONE) {
        ASSERT_OK(st);
        c->records++;
        ASSERT_STR_EQ(rec->content_type, "application/json");
        cs_slice block;
        ASSERT_OK(cs_warc_reader_block(r, 0, &block));
        c->json++;
        cs_arena_reset(&a);
        cs_wat_page pg;
        char err[256];
        st = cs_wat_extract(block.ptr, block.len, rec->target_uri, o, NULL, NULL, &a, &pg, err,
                            sizeof err);
        if (st) {
            c->errors++;
            continue;
        }
        c->links += pg.links_delivered;
        c->unresolved += pg.links_unresolved;
        c->pages_html += pg.has_html;
        if (cross_check) {
            char why[4500];
            if (cs_fuzz_wat_compare(block.ptr, block.len, rec->target_uri, o, why, sizeof why))
                FAIL("record at %llu: %s", (unsigned long long)rec->offset, why);
        }
    }
    cs_arena_cleanup(&a);
    cs_warc_reader_free(r);
}

TEST(wat_whirlwind_real_file)
{
    /* the real CC-MAIN-2024-22 WAT: warcinfo + one request-envelope record */
    const char *files[] = {"warc/whirlwind/whirlwind.warc.wat", "warc/whirlwind/whirlwind.warc.wat.gz"};
    for (int i = 0; i < 2; i++) {
        file_counts c;
        read_wat(cs_test_corpus(files[i]), NULL, true, &c);
        ASSERT_EQ(c.records, 1);
        ASSERT_EQ(c.errors, 0);
        ASSERT_EQ(c.links, 0);
        ASSERT_EQ(c.pages_html, 0);
    }
    size_t n;
    char *d = cs_test_read_file(cs_test_corpus("warc/whirlwind/whirlwind.warc.wat"), &n);
    const char *json = strstr(d, "{\"Container\"");
    ASSERT(json);
    const char *end = strstr(json, "\r\n\r\n");
    got *g = run_n(json, (size_t)(end - json), NULL, NULL);
    ASSERT_OK(g->st);
    ASSERT_STR_EQ(g->target, "https://an.wikipedia.org/wiki/Escopete");
    ASSERT_STR_EQ(g->type, "request");
    ASSERT_EQ(g->n, 0);
    cs_free(d);
}

static void sample_cross_check(void)
{
    const char *sample = cs_test_source("data/sample/sample.wat.gz");
    file_counts c;
    cs_wat_opts o = {0};
    read_wat(sample, &o, true, &c);
    ASSERT_EQ(c.records, 48); /* 16 pages x (request, response, metadata) */
    ASSERT_EQ(c.errors, 0);
    ASSERT_EQ(c.pages_html, 14);
    ASSERT_EQ(c.links, 79);
    ASSERT_EQ(c.unresolved, 0);
    o.images_only = true;
    read_wat(sample, &o, true, &c);
    ASSERT_EQ(c.links, 37);
    o.head_links = true;
    read_wat(sample, &o, true, &c);
    ASSERT_EQ(c.links, 37);
    o.images_only = false;
    read_wat(sample, &o, true, &c);
    ASSERT_EQ(c.links, 79 + 3);
}

TEST(wat_sample_cross_checked_with_jansson) { sample_cross_check(); }

/* The scanner picks SSE2, AVX2 or AVX-512 at run time; CS_JSCAN_SIMD caps
 * the choice, so the narrower paths are checked on wide machines too (each
 * test is a fresh process, and the choice is made on first use). */
TEST(wat_simd_paths_agree)
{
    const char *isa[] = {"sse2", "avx2"};
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            setenv("CS_JSCAN_SIMD", isa[i], 1);
            sample_cross_check();
            test_wat_backslash_runs_across_blocks();
            test_wat_malformed_json_reported();
            test_wat_every_prefix_is_truncated();
            _exit(0);
        }
        int st;
        ASSERT(waitpid(pid, &st, 0) == pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            FAIL("checks failed with CS_JSCAN_SIMD=%s", isa[i]);
    }
}

/* ---- the command ------------------------------------------------------------ */

typedef struct cmd_result {
    int rc;
    char *out, *err;
} cmd_result;

/* Runs `crawlset ARGS` (a shell word list) with stdin from in_path. */
static cmd_result crawlset(const char *args, const char *in_path)
{
    const char *dir = cs_test_tmpdir();
    char cmd[2048], outp[512], errp[512];
    snprintf(outp, sizeof outp, "%s/out", dir);
    snprintf(errp, sizeof errp, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "cd %s && %s/crawlset %s <%s >%s 2>%s", CS_SOURCE_DIR, CS_BUILD_DIR,
             args, in_path ? in_path : "/dev/null", outp, errp);
    int st = system(cmd);
    cmd_result r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = cs_test_keep(cs_test_read_file(outp, NULL));
    r.err = cs_test_keep(cs_test_read_file(errp, NULL));
    return r;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

TEST(wat_cli_links_sample)
{
    cmd_result r = crawlset("wat links --images data/sample/sample.wat.gz", NULL);
    ASSERT_EQ(r.rc, 0);
    ASSERT_STR_EQ(r.err, "");
    ASSERT_EQ(count_lines(r.out), 37);
    ASSERT(!strncmp(r.out,
                    "{\"page\":\"https://www.example.com/\",\"path\":\"IMG@/src\",\"url\":"
                    "\"https://www.example.com/img/logo.png\",\"alt\":\"Example logo\"}\n"
                    "{\"page\":\"https://www.example.com/\",\"path\":\"IMG@/src\",\"url\":"
                    "\"https://www.example.com/images/team.jpg\",\"alt\":\"Our team at the 2023 "
                    "summit\",\"title\":\"Team photo\"}\n",
                    260));
    /* unicode (escaped surrogate pair in the WAT) and escaping on output */
    ASSERT_CONTAINS(r.out, "\"url\":\"https://www.example.com/img/404-dog.png\",\"alt\":"
                           "\"\xF0\x9F\x90\x95 A confused dog\"}");
    ASSERT_CONTAINS(r.out, "\"alt\":\"The \\\"Next\\\" button, marked with a red arrow \\\\ here\"");
    ASSERT_CONTAINS(r.out, "\"alt\":\"Done: the tool is installed\\nand ready\"");
    ASSERT_CONTAINS(r.out, "\"url\":\"https://static.example.org/blog/photos/tulips.jpg\"");
    ASSERT_CONTAINS(r.out, "\"url\":\"https://ru.example.net/img/leash.jpg\",\"alt\":\"Поводок\"");
    /* every line is a JSON object with the keys in order */
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
        ASSERT(!strncmp(line, "{\"page\":\"", 9) && strstr(line, ",\"path\":\"IMG@/src\",\"url\":\"") &&
               line[strlen(line) - 1] == '}');
    r = crawlset("wat links data/sample/sample.wat.gz", NULL);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(count_lines(r.out), 79);
    ASSERT_CONTAINS(r.out, "{\"page\":\"https://www.example.com/\",\"path\":\"A@/href\",\"url\":"
                           "\"https://www.example.com/#main\",\"text\":\"Skip to content\"}\n");
    r = crawlset("wat links --head data/sample/sample.wat.gz", NULL);
    ASSERT_EQ(count_lines(r.out), 82);
    /* standard input, and a plain (uncompressed) WAT */
    r = crawlset("wat links --images -", "data/sample/sample.wat.gz");
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(count_lines(r.out), 37);
    char plain[600];
    snprintf(plain, sizeof plain, "%s/sample.wat", cs_test_tmpdir());
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "gzip -dc %s/data/sample/sample.wat.gz >%s", CS_SOURCE_DIR, plain);
    ASSERT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "wat links --images %s", plain);
    r = crawlset(cmd, NULL);
    ASSERT_EQ(r.rc, 0);
    ASSERT_EQ(count_lines(r.out), 37);
    /* the real WAT: no links, no error */
    snprintf(cmd, sizeof cmd, "wat links %s",
             cs_test_corpus("warc/whirlwind/whirlwind.warc.wat.gz"));
    r = crawlset(cmd, NULL);
    ASSERT_EQ(r.rc, 0);
    ASSERT_STR_EQ(r.out, "");
}

TEST(wat_cli_usage_and_errors)
{
    cmd_result r = crawlset("wat --help", NULL);
    ASSERT_EQ(r.rc, 0);
    ASSERT_CONTAINS(r.out, "usage: crawlset wat links");
    r = crawlset("wat links --help", NULL);
    ASSERT_EQ(r.rc, 0);
    ASSERT_CONTAINS(r.out, "--images");
    r = crawlset("wat", NULL);
    ASSERT_EQ(r.rc, 2);
    r = crawlset("wat links", NULL);
    ASSERT_EQ(r.rc, 2);
    ASSERT_CONTAINS(r.err, "no input files");
    r = crawlset("wat links --bogus x", NULL);
    ASSERT_EQ(r.rc, 2);
    r = crawlset("wat frobnicate x", NULL);
    ASSERT_EQ(r.rc, 2);
    r = crawlset("wat links /nonexistent/file.wat.gz", NULL);
    ASSERT_EQ(r.rc, 3);
    ASSERT_CONTAINS(r.err, "/nonexistent/file.wat.gz: cannot open");
}

/* A WAT with a malformed record between good ones: the error is reported as
 * FILE: offset N: ..., the records after it are still read, exit code 1. */
TEST(wat_cli_malformed_record_then_next)
{
    const char *good1 = "{\"Envelope\":{\"WARC-Header-Metadata\":{\"WARC-Target-URI\":"
                        "\"http://one.example/\"},\"Payload-Metadata\":{\"HTTP-Response-Metadata\":"
                        "{\"HTML-Metadata\":{\"Links\":[{\"path\":\"IMG@/src\",\"url\":\"1.jpg\","
                        "\"alt\":\"one\"}]}}}}}";
    const char *bad = "{\"Envelope\":{\"Payload-Metadata\":{\"HTTP-Response-Metadata\":"
                      "{\"HTML-Metadata\":{\"Links\":[{\"path\":\"IMG@/src\",\"url\":\"2.jpg\","
                      "\"alt\":\"two\"}";
    const char *good2 = "{\"Envelope\":{\"WARC-Header-Metadata\":{\"WARC-Target-URI\":"
                        "\"http://three.example/d/\"},\"Payload-Metadata\":{\"HTTP-Response-Metadata\":"
                        "{\"HTML-Metadata\":{\"Links\":[{\"path\":\"IMG@/src\",\"url\":\"3.jpg\","
                        "\"alt\":\"three\"}]}}}}}";
    const char *blocks[] = {good1, bad, good2};
    cs_buf f;
    cs_buf_init(&f, 0);
    size_t bad_off = 0;
    for (int i = 0; i < 3; i++) {
        if (i == 1)
            bad_off = f.len;
        ASSERT_OK(cs_buf_printf(&f,
                                "WARC/1.0\r\nWARC-Type: metadata\r\nWARC-Target-URI: http://rec%d.example/\r\n"
                                "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-00000000000%d>\r\n"
                                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s\r\n\r\n",
                                i, i, strlen(blocks[i]), blocks[i]));
    }
    char path[600];
    snprintf(path, sizeof path, "%s/bad.wat", cs_test_tmpdir());
    cs_test_write_file(path, f.data, f.len);
    char args[700], want[800];
    snprintf(args, sizeof args, "wat links %s", path);
    cmd_result r = crawlset(args, NULL);
    ASSERT_EQ(r.rc, 1);
    ASSERT_EQ(count_lines(r.out), 2);
    ASSERT_CONTAINS(r.out, "\"url\":\"http://one.example/1.jpg\"");
    ASSERT_CONTAINS(r.out, "\"url\":\"http://three.example/d/3.jpg\"");
    ASSERT(!strstr(r.out, "2.jpg"));
    snprintf(want, sizeof want, "%s: offset %zu: WAT JSON byte %zu: unexpected end of input", path,
             bad_off, strlen(bad));
    ASSERT_CONTAINS(r.err, want);
    cs_buf_cleanup(&f);
}
