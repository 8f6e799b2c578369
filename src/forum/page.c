/* page.c - a Discourse topic from its HTML page: the JSON the page embeds
 * for its JavaScript (#data-preloaded), or, when there is none, the
 * crawler view (the no-JavaScript markup Discourse serves to bots), read
 * with the HTML tokenizer. */
#include <jansson.h>
#include <string.h>

#include "crawlset/forum.h"
#include "crawlset/html.h"

typedef struct scan {
    const char *html;
    size_t len;
    char *preloaded;      /* the data-preloaded attribute (decoded) */
    json_t *posts;        /* crawler view posts */
    json_t *cur;          /* the post being read */
    int in_name;          /* reading span[itemprop=name] */
    cs_buf name;
    int body_depth;       /* >0: inside div[itemprop=text], counting divs */
    size_t body_start;    /* offset where the post HTML starts (0 = next token) */
    bool want_start;
    char *title;
    bool in_title;
    cs_buf title_buf;
} scan;

static const cs_slice *attr(const cs_html_token *t, const char *n)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (cs_slice_eq(t->attrs[i].name, n))
            return &t->attrs[i].value;
    return NULL;
}

static bool attr_is(const cs_html_token *t, const char *n, const char *v)
{
    const cs_slice *a = attr(t, n);
    return a && cs_slice_eq(*a, v);
}

static cs_status on_tok(void *ud, const cs_html_token *t)
{
    scan *s = ud;
    if (s->want_start) {
        s->body_start = t->offset;
        s->want_start = false;
    }
    if (t->type == CS_HTML_START_TAG) {
        const cs_slice *pl;
        if (!s->preloaded && attr_is(t, "id", "data-preloaded") &&
            (pl = attr(t, "data-preloaded"))) {
            s->preloaded = cs_strndup(pl->ptr, pl->len);
            if (!s->preloaded)
                return CS_ENOMEM;
        }
        if (s->body_depth > 0) {
            if (cs_slice_eq(t->name, "div"))
                s->body_depth++;
            return CS_OK;
        }
        const cs_slice *id = attr(t, "id");
        if (id && id->len > 5 && !memcmp(id->ptr, "post_", 5)) {
            uint64_t n;
            if (cs_slice_to_u64((cs_slice){id->ptr + 5, id->len - 5}, &n)) {
                s->cur = json_object();
                json_object_set_new(s->cur, "id", json_integer((json_int_t)n));
                json_object_set_new(s->cur, "post_number", json_integer((json_int_t)n));
                json_array_append_new(s->posts, s->cur);
            }
        }
        if (!s->cur)
            return CS_OK;
        if (attr_is(t, "itemprop", "name") && cs_slice_eq(t->name, "span")) {
            s->in_name = 1;
            cs_buf_reset(&s->name);
        } else if (cs_slice_eq(t->name, "time") && attr(t, "datetime")) {
            const cs_slice *d = attr(t, "datetime");
            json_object_set_new(s->cur, "created_at", json_stringn(d->ptr, d->len));
        } else if (cs_slice_eq(t->name, "div") &&
                   (attr_is(t, "itemprop", "text") || attr_is(t, "itemprop", "articleBody"))) {
            s->body_depth = 1;
            s->want_start = true;
            s->body_start = s->len;
        }
    } else if (t->type == CS_HTML_END_TAG) {
        if (s->body_depth > 0 && cs_slice_eq(t->name, "div") && --s->body_depth == 0) {
            size_t a = s->body_start < t->offset ? s->body_start : t->offset;
            json_object_set_new(s->cur, "cooked", json_stringn(s->html + a, t->offset - a));
        } else if (s->in_name && cs_slice_eq(t->name, "span")) {
            s->in_name = 0;
            json_object_set_new(s->cur, "username",
                                json_stringn(s->name.data ? s->name.data : "", s->name.len));
        }
    } else if (t->type == CS_HTML_CHARACTER && s->in_name && s->body_depth == 0) {
        if (cs_buf_append(&s->name, t->data.ptr, t->data.len) == CS_ENOMEM)
            return CS_ENOMEM;
    }
    return CS_OK;
}

/* The "topic_ID" entry of the preloaded store, whose value is JSON text. */
static char *topic_from_store(const char *store)
{
    json_error_t e;
    json_t *j = json_loads(store, 0, &e);
    const char *k;
    json_t *v;
    char *out = NULL;
    json_object_foreach(j, k, v)
    {
        if (!strncmp(k, "topic_", 6) && json_is_string(v)) {
            json_t *topic = json_loads(json_string_value(v), 0, &e);
            if (json_is_object(json_object_get(topic, "post_stream"))) {
                char *d = json_dumps(topic, JSON_COMPACT);
                out = d ? cs_strdup(d) : NULL;
                free(d);
            }
            json_decref(topic);
            if (out)
                break;
        }
    }
    json_decref(j);
    return out;
}

cs_status cs_forum_topic_from_html(const char *html, size_t len, char **json_out)
{
    *json_out = NULL;
    scan s;
    memset(&s, 0, sizeof s);
    s.html = html;
    s.len = len;
    s.posts = json_array();
    cs_buf_init(&s.name, 4096);
    cs_html_tokenizer *t = NULL;
    cs_html_opts o;
    cs_html_opts_init(&o);
    o.max_value = 64u * 1024 * 1024; /* the preloaded store is one big attribute */
    cs_status st = s.posts ? cs_html_tokenizer_new(&t, &o) : CS_ENOMEM;
    if (st == CS_OK)
        st = cs_html_tokenize(t, html, len, on_tok, &s);
    cs_html_tokenizer_free(t);
    if (st == CS_OK) {
        char *js = s.preloaded ? topic_from_store(s.preloaded) : NULL;
        if (!js && json_array_size(s.posts) > 0) {
            json_t *doc = json_pack("{s:{s:O}}", "post_stream", "posts", s.posts);
            char *d = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
            js = d ? cs_strdup(d) : NULL;
            free(d);
            json_decref(doc);
        }
        if (js)
            *json_out = js;
        else
            st = CS_ENOTFOUND;
    }
    cs_free(s.preloaded);
    json_decref(s.posts);
    cs_buf_cleanup(&s.name);
    return st;
}
