/* forum.c - Discourse topics through the JSON API into one JSON per topic
 * (see forum.h).
 *
 * One cs_fetch_run drives the whole crawl: every request carries a job (list
 * page, topic, post batch, image) and its completion adds the requests that
 * follow from it. A pump keeps at most topics_in_flight topics open and asks
 * for the next list page only when fewer than 2 x topics_in_flight listed
 * topics wait, so memory stays bounded on forums of any size. A topic is
 * written when its posts are all in and the images they show are settled
 * (saved, reused or failed); the text is rendered then, so that "[img NAME]"
 * names the saved file. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crawlset/forum.h"
#include "crawlset/html.h"
#include "crawlset/http.h"
#include "crawlset/image.h"
#include "crawlset/warc.h"

#define MAX_429_REQUEUES 3
#define DEFAULT_CHUNK 20
#define MAX_BATCH 50

enum { J_LIST, J_TOPIC, J_BATCH, J_IMAGE };

typedef struct topic topic;
typedef struct image image;

struct topic {
    uint64_t id;
    char *slug;
    char *url;        /* SITE/t/SLUG/ID */
    char *title;      /* from the list (the topic's own wins) */
    json_t *doc;      /* /t/ID.json (posts removed) */
    json_t *posts;    /* post id (decimal string) -> post */
    json_t *order;    /* post ids in stream order */
    json_t *missing;  /* post ids still to fetch */
    size_t next_missing;
    int chunk;
    int pending_images;
    bool failed;
    topic *next;      /* waiting queue */
};

struct image {
    char *url;
    char *file;       /* saved name; NULL while pending or after a failure */
    bool done;
    topic **waiters;
    size_t nwaiters;
};

typedef struct job {
    int kind;
    int page;         /* J_LIST */
    int tries429;
    topic *t;         /* J_TOPIC, J_BATCH */
    image *img;       /* J_IMAGE */
    char *url;        /* for a requeue */
} job;

typedef struct crawl {
    const cs_forum_opts *o;
    cs_forum_stats st;
    cs_fetch *f;
    pcre2_code *re;
    pcre2_match_data *md;
    char *site;        /* without a trailing '/' */
    char *imgdir;
    FILE *state;
    json_t *done_topics; /* id -> highest_post_number from earlier runs */
    json_t *images;      /* url -> index in imgs */
    json_t *seen;        /* topic ids admitted in this run */
    image **imgs;
    size_t nimgs;
    topic *qhead, *qtail;
    size_t queued, active, admitted;
    int next_page;
    bool list_inflight, list_more;
    cs_status err;
    char *errmsg;
    size_t errcap;
} crawl;

void cs_forum_opts_init(cs_forum_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rate = 1.0;
    o->images = true;
    o->topics_in_flight = 16;
    o->max_text = 1024 * 1024;
    cs_fetch_opts_init(&o->fetch);
}

static void set_err(crawl *c, cs_status st, const char *fmt, const char *arg)
{
    if (c->err == CS_OK)
        c->err = st;
    if (c->errmsg && c->errcap && !c->errmsg[0])
        snprintf(c->errmsg, c->errcap, fmt, arg ? arg : "");
    cs_log(CS_LOG_ERROR, fmt, arg ? arg : "");
}

/* ---- jobs ---- */

static void add_job(crawl *c, const char *url, job *j)
{
    if (!j->url) {
        j->url = cs_strdup(url);
        if (!j->url) {
            cs_free(j);
            c->err = CS_ENOMEM;
            return;
        }
    }
    cs_status st = cs_fetch_add(c->f, url, 0, j);
    if (st) {
        cs_free(j->url);
        cs_free(j);
        c->err = st;
    }
}

static job *new_job(crawl *c, int kind)
{
    job *j = cs_calloc(1, sizeof *j);
    if (!j)
        c->err = CS_ENOMEM;
    else
        j->kind = kind;
    return j;
}

static void free_job(job *j)
{
    if (j) {
        cs_free(j->url);
        cs_free(j);
    }
}

static void topic_free(topic *t)
{
    if (!t)
        return;
    cs_free(t->slug);
    cs_free(t->url);
    cs_free(t->title);
    json_decref(t->doc);
    json_decref(t->posts);
    json_decref(t->order);
    json_decref(t->missing);
    cs_free(t);
}

static void list_page(crawl *c)
{
    job *j = new_job(c, J_LIST);
    if (!j)
        return;
    j->page = c->next_page++;
    cs_buf u;
    cs_buf_init(&u, 0);
    if (c->o->category) {
        cs_buf_printf(&u, "%s/c/%s.json?page=%d", c->site, c->o->category, j->page);
    } else {
        cs_buf_printf(&u, "%s/latest.json?page=%d", c->site, j->page);
    }
    if (!u.data) {
        cs_free(j);
        c->err = CS_ENOMEM;
        return;
    }
    c->list_inflight = true;
    c->st.list_pages++;
    add_job(c, u.data, j);
    cs_buf_cleanup(&u);
}

static void start_topic(crawl *c, topic *t)
{
    job *j = new_job(c, J_TOPIC);
    if (!j) {
        topic_free(t);
        return;
    }
    j->t = t;
    char u[1024];
    snprintf(u, sizeof u, "%s/t/%llu.json", c->site, (unsigned long long)t->id);
    c->active++;
    add_job(c, u, j);
}

/* Keeps topics_in_flight topics open and the list one page ahead. */
static void pump(crawl *c)
{
    size_t limit = c->o->topics_in_flight ? c->o->topics_in_flight : 16;
    while (c->err == CS_OK && c->active < limit && c->qhead) {
        topic *t = c->qhead;
        c->qhead = t->next;
        if (!c->qhead)
            c->qtail = NULL;
        c->queued--;
        start_topic(c, t);
    }
    if (c->err == CS_OK && !c->list_inflight && c->list_more && c->queued < 2 * limit)
        list_page(c);
}

/* ---- lists ---- */

static bool matches(crawl *c, const char *url)
{
    if (!c->re)
        return true;
    int rc = pcre2_match(c->re, (PCRE2_SPTR)url, strlen(url), 0, 0, c->md, NULL);
    return rc >= 0;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void on_list(crawl *c, job *j, json_t *doc)
{
    json_t *tl = json_object_get(doc, "topic_list");
    json_t *topics = json_object_get(tl, "topics");
    if (!json_is_array(topics)) {
        c->st.bad_json++;
        cs_log(CS_LOG_WARN, "forum: list page %d has no topic_list.topics", j->page);
        c->list_more = false;
        return;
    }
    size_t i;
    json_t *tj;
    bool any_recent = false;
    json_array_foreach(topics, i, tj)
    {
        json_t *idj = json_object_get(tj, "id");
        if (!json_is_integer(idj) || json_integer_value(idj) <= 0)
            continue;
        c->st.topics_listed++;
        uint64_t id = (uint64_t)json_integer_value(idj);
        const char *slug = jstr(tj, "slug");
        char url[1024];
        snprintf(url, sizeof url, "%s/t/%s/%llu", c->site, slug[0] ? slug : "topic",
                 (unsigned long long)id);
        const char *last = jstr(tj, "last_posted_at");
        if (!last[0])
            last = jstr(tj, "bumped_at");
        if (!last[0])
            last = jstr(tj, "created_at");
        bool recent = !c->o->since || !last[0] || strcmp(last, c->o->since) >= 0;
        if (recent && !json_is_true(json_object_get(tj, "pinned")))
            any_recent = true;
        if (!recent || !matches(c, url)) {
            c->st.topics_skipped++;
            continue;
        }
        char key[32];
        snprintf(key, sizeof key, "%llu", (unsigned long long)id);
        if (json_object_get(c->seen, key))
            continue; /* listed again on a later page (bumped meanwhile) */
        json_object_set_new(c->seen, key, json_true());
        json_t *prev = json_object_get(c->done_topics, key);
        json_int_t hp = json_integer_value(json_object_get(tj, "highest_post_number"));
        if (prev && json_integer_value(prev) >= hp) {
            c->st.topics_unchanged++;
            continue;
        }
        if (c->o->max_topics && c->admitted >= c->o->max_topics) {
            c->list_more = false;
            break;
        }
        topic *t = cs_calloc(1, sizeof *t);
        if (!t || !(t->slug = cs_strdup(slug)) || !(t->url = cs_strdup(url)) ||
            !(t->title = cs_strdup(jstr(tj, "title")))) {
            topic_free(t);
            c->err = CS_ENOMEM;
            return;
        }
        t->id = id;
        c->admitted++;
        if (c->qtail)
            c->qtail->next = t;
        else
            c->qhead = t;
        c->qtail = t;
        c->queued++;
    }
    if (json_array_size(topics) == 0 || !json_is_string(json_object_get(tl, "more_topics_url")))
        c->list_more = false;
    if (c->o->since && !any_recent && json_array_size(topics) > 0)
        c->list_more = false; /* lists are newest first: the rest is older */
    if (c->o->max_topics && c->admitted >= c->o->max_topics)
        c->list_more = false;
}

/* ---- topics and posts ---- */

static void add_posts(topic *t, json_t *arr)
{
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p)
    {
        json_t *idj = json_object_get(p, "id");
        if (!json_is_integer(idj))
            continue;
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(idj));
        if (!json_object_get(t->posts, key))
            json_object_set(t->posts, key, p);
    }
}

static void topic_done(crawl *c, topic *t);
static void posts_complete(crawl *c, topic *t);

static void next_batch(crawl *c, topic *t)
{
    size_t n = json_array_size(t->missing);
    if (t->next_missing >= n) {
        posts_complete(c, t);
        return;
    }
    job *j = new_job(c, J_BATCH);
    if (!j) {
        t->failed = true;
        topic_done(c, t);
        return;
    }
    j->t = t;
    cs_buf u;
    cs_buf_init(&u, 0);
    cs_buf_printf(&u, "%s/t/%llu/posts.json?", c->site, (unsigned long long)t->id);
    int chunk = t->chunk > 0 && t->chunk <= MAX_BATCH ? t->chunk : DEFAULT_CHUNK;
    for (int k = 0; k < chunk && t->next_missing < n; k++, t->next_missing++)
        cs_buf_printf(&u, "%spost_ids%%5B%%5D=%lld", k ? "&" : "",
                      (long long)json_integer_value(json_array_get(t->missing, t->next_missing)));
    c->st.post_batches++;
    if (!u.data) {
        free_job(j);
        c->err = CS_ENOMEM;
        return;
    }
    add_job(c, u.data, j);
    cs_buf_cleanup(&u);
}

/* Takes a topic document in: its posts, the ids still missing; fetch: ask
 * for them (the offline path has only what it has). */
static void on_topic_posts(crawl *c, topic *t, json_t *doc, bool fetch);

static void on_topic(crawl *c, topic *t, json_t *doc) { on_topic_posts(c, t, doc, true); }

static void on_topic_posts(crawl *c, topic *t, json_t *doc, bool fetch)
{
    json_t *ps = json_object_get(doc, "post_stream");
    json_t *posts = json_object_get(ps, "posts");
    if (!json_is_array(posts)) {
        c->st.bad_json++;
        cs_log(CS_LOG_WARN, "forum: %s: no post_stream.posts", t->url);
        t->failed = true;
        topic_done(c, t);
        return;
    }
    t->doc = json_incref(doc);
    t->posts = json_object();
    t->order = json_array();
    t->missing = json_array();
    if (!t->posts || !t->order || !t->missing) {
        c->err = CS_ENOMEM;
        t->failed = true;
        topic_done(c, t);
        return;
    }
    add_posts(t, posts);
    json_int_t chunk = json_integer_value(json_object_get(doc, "chunk_size"));
    t->chunk = chunk > 0 ? (int)chunk : DEFAULT_CHUNK;
    json_t *stream = json_object_get(ps, "stream");
    size_t i;
    json_t *v;
    /* Discourse's first chunk is the start of the stream. When the stream
     * names every loaded post, fetch the ids it has that are not loaded;
     * when it does not (edited fixtures, odd plugins), fall back to the
     * stream's tail after the loaded count, as Perceval does. */
    bool consistent = json_is_array(stream);
    json_array_foreach(posts, i, v)
    {
        bool found = false;
        size_t k;
        json_t *sv;
        json_array_foreach(stream, k, sv) if (json_equal(sv, json_object_get(v, "id")))
        {
            found = true;
            break;
        }
        if (!found)
            consistent = false;
    }
    if (consistent) {
        json_array_foreach(stream, i, v)
        {
            if (!json_is_integer(v))
                continue;
            json_array_append(t->order, v);
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(v));
            if (!json_object_get(t->posts, key))
                json_array_append(t->missing, v);
        }
    } else {
        json_array_foreach(posts, i, v) json_array_append(t->order, json_object_get(v, "id"));
        json_array_foreach(stream, i, v)
        {
            if (i < json_array_size(posts) || !json_is_integer(v))
                continue;
            json_array_append(t->missing, v);
            json_array_append(t->order, v);
        }
    }
    if (fetch) {
        next_batch(c, t);
    } else {
        json_array_clear(t->missing);
        json_t *kept = json_array();
        size_t k;
        json_t *iv;
        json_array_foreach(t->order, k, iv)
        {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(iv));
            if (json_object_get(t->posts, key))
                json_array_append(kept, iv);
        }
        json_decref(t->order);
        t->order = kept;
        posts_complete(c, t);
    }
}

static void on_batch(crawl *c, topic *t, json_t *doc)
{
    json_t *posts = json_object_get(json_object_get(doc, "post_stream"), "posts");
    if (!json_is_array(posts))
        posts = json_object_get(doc, "posts");
    if (!json_is_array(posts)) {
        c->st.bad_json++;
        cs_log(CS_LOG_WARN, "forum: %s: posts.json without posts", t->url);
        t->failed = true;
        topic_done(c, t);
        return;
    }
    add_posts(t, posts);
    next_batch(c, t);
}

/* ---- images ---- */

static image *image_get(crawl *c, const char *url, bool *created)
{
    *created = false;
    json_t *ix = json_object_get(c->images, url);
    if (ix)
        return c->imgs[json_integer_value(ix)];
    image **n = cs_realloc(c->imgs, (c->nimgs + 1) * sizeof *n);
    if (!n)
        return NULL;
    c->imgs = n;
    image *im = cs_calloc(1, sizeof *im);
    if (!im || !(im->url = cs_strdup(url))) {
        cs_free(im);
        return NULL;
    }
    json_object_set_new(c->images, url, json_integer((json_int_t)c->nimgs));
    c->imgs[c->nimgs++] = im;
    *created = true;
    return im;
}

static void state_line(crawl *c, json_t *line)
{
    char *s = json_dumps(line, JSON_COMPACT);
    if (s && c->state) {
        fputs(s, c->state);
        fputc('\n', c->state);
        fflush(c->state);
    }
    free(s);
}

static const char *url_ext(const char *url, char *buf, size_t cap)
{
    const char *end = url + strcspn(url, "?#");
    const char *slash = url;
    for (const char *p = url; p < end; p++)
        if (*p == '/')
            slash = p;
    const char *dot = NULL;
    for (const char *p = slash; p < end; p++)
        if (*p == '.')
            dot = p;
    if (!dot || end - dot - 1 < 1 || (size_t)(end - dot - 1) >= cap)
        return NULL;
    size_t n = (size_t)(end - dot - 1);
    for (size_t i = 0; i < n; i++) {
        char ch = dot[1 + i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            return NULL;
        buf[i] = ch;
    }
    buf[n] = 0;
    return buf;
}

static void image_settled(crawl *c, image *im)
{
    im->done = true;
    for (size_t i = 0; i < im->nwaiters; i++) {
        topic *t = im->waiters[i];
        if (--t->pending_images == 0)
            topic_done(c, t);
    }
    cs_free(im->waiters);
    im->waiters = NULL;
    im->nwaiters = 0;
}

static bool save_image(crawl *c, image *im, const uint8_t *body, size_t len)
{
    cs_image_result r;
    memset(&r, 0, sizeof r);
    cs_status st = cs_image_probe(body, len, &r);
    const char *fmt = r.source_format;
    if (st != CS_OK || r.reason != CS_IMAGE_OK) {
        cs_log(CS_LOG_INFO, "forum: image %s refused: %s", im->url, cs_image_reason_name(r.reason));
        cs_image_result_cleanup(&r);
        return false;
    }
    cs_image_result_cleanup(&r);
    cs_digest d;
    uint8_t h[64];
    size_t hl = 0;
    if (cs_digest_init(&d, CS_DIGEST_SHA256))
        return false;
    cs_digest_update(&d, body, len);
    cs_digest_final(&d, h, &hl);
    cs_digest_cleanup(&d);
    char hex[65];
    cs_base16_encode(h, 16, hex);
    for (char *p = hex; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    char eb[8];
    const char *ext = url_ext(im->url, eb, sizeof eb);
    if (!ext)
        ext = fmt && !strcmp(fmt, "jpeg") ? "jpg" : fmt ? fmt : "bin";
    char name[128], path[4096], tmp[4200];
    snprintf(name, sizeof name, "%s.%s", hex, ext);
    snprintf(path, sizeof path, "%s/%s", c->imgdir, name);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
        FILE *f = fopen(tmp, "wb");
        bool ok = f && fwrite(body, 1, len, f) == len;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok || rename(tmp, path) != 0) {
            unlink(tmp);
            set_err(c, CS_EIO, "forum: cannot write %s", path);
            return false;
        }
        c->st.images_saved++;
    } else {
        c->st.images_reused++;
    }
    im->file = cs_strdup(name);
    json_t *line = json_pack("{s:s,s:s}", "image", im->url, "file", name);
    state_line(c, line);
    json_decref(line);
    return im->file != NULL;
}

static bool img_name(void *ud, const char *url, cs_buf *out)
{
    crawl *c = ud;
    json_t *ix = json_object_get(c->images, url);
    if (!ix)
        return false;
    image *im = c->imgs[json_integer_value(ix)];
    if (!im->file)
        return false;
    return cs_buf_puts(out, im->file) == CS_OK;
}

static void posts_complete(crawl *c, topic *t)
{
    t->pending_images = 1; /* held until every image is looked at */
    if (c->o->images) {
        size_t i;
        json_t *idv;
        json_array_foreach(t->order, i, idv)
        {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(idv));
            json_t *p = json_object_get(t->posts, key);
            const char *cooked = jstr(p, "cooked");
            cs_html_post hp;
            cs_html_post_init(&hp);
            cs_status st = cs_html_post_extract(cooked, strlen(cooked), t->url, c->o->max_text,
                                                NULL, NULL, &hp, NULL);
            for (size_t k = 0; st == CS_OK && k < hp.nimages; k++) {
                bool created;
                image *im = image_get(c, hp.images[k], &created);
                if (!im) {
                    c->err = CS_ENOMEM;
                    break;
                }
                if (im->done)
                    continue;
                topic **w = cs_realloc(im->waiters, (im->nwaiters + 1) * sizeof *w);
                if (!w) {
                    c->err = CS_ENOMEM;
                    break;
                }
                im->waiters = w;
                w[im->nwaiters++] = t;
                t->pending_images++;
                if (created) {
                    job *j = new_job(c, J_IMAGE);
                    if (j) {
                        j->img = im;
                        add_job(c, im->url, j);
                    }
                }
            }
            cs_html_post_cleanup(&hp);
        }
    }
    if (--t->pending_images == 0)
        topic_done(c, t);
}

/* ---- output ---- */

static bool in_list(const char *const *l, const char *s)
{
    for (; l && *l; l++)
        if (!strcmp(*l, s))
            return true;
    return false;
}

/* ---- output: written straight into a buffer (building a jansson tree
 * and dumping it cost more than fetching and parsing the topic) ---- */

static int put_key(cs_buf *b, const char *k)
{
    int bad = cs_buf_putc(b, '"') != CS_OK;
    bad |= cs_buf_puts(b, k) != CS_OK;
    bad |= cs_buf_puts(b, "\": ") != CS_OK;
    return bad;
}

static int put_str(cs_buf *b, const char *s) { return cs_json_put_str(b, s, strlen(s)) != CS_OK; }

/* A value taken from the input document: strings and integers as such,
 * anything else (or nothing) as null. */
static int put_val(cs_buf *b, json_t *v)
{
    if (json_is_string(v))
        return cs_json_put_str(b, json_string_value(v), json_string_length(v)) != CS_OK;
    if (json_is_integer(v))
        return cs_buf_printf(b, "%lld", (long long)json_integer_value(v)) != CS_OK;
    return cs_buf_puts(b, "null") != CS_OK;
}

typedef struct strset {
    char **v;
    size_t n;
} strset;

static bool strset_add(strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], x))
            return true;
    char *d = cs_strdup(x);
    char **nv = d ? cs_realloc(s->v, (s->n + 1) * sizeof *nv) : NULL;
    if (!nv) {
        cs_free(d);
        return false;
    }
    nv[s->n++] = d;
    s->v = nv;
    return true;
}

static int strset_put(cs_buf *b, const strset *s)
{
    int bad = cs_buf_putc(b, '[') != CS_OK;
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            bad |= cs_buf_puts(b, ", ") != CS_OK;
        bad |= put_str(b, s->v[i]);
    }
    bad |= cs_buf_putc(b, ']') != CS_OK;
    return bad;
}

static void strset_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        cs_free(s->v[i]);
    cs_free(s->v);
}

/* Renders topic t as its output JSON text into out. */
static bool render_topic(crawl *c, topic *t, cs_buf *out)
{
    int bad = 0;
    cs_buf conv, posts, msgs, nm;
    cs_buf_init(&conv, 0);
    cs_buf_init(&posts, 0);
    cs_buf_init(&msgs, 0);
    cs_buf_init(&nm, 0);
    strset images = {0}, links = {0};
    const char *opener = NULL;
    size_t i, np = 0;
    json_t *idv;
    json_array_foreach(t->order, i, idv)
    {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(idv));
        json_t *p = json_object_get(t->posts, key);
        if (!p)
            continue;
        const char *cooked = jstr(p, "cooked");
        cs_html_post hp;
        cs_html_post_init(&hp);
        bool cut = false;
        if (cs_html_post_extract(cooked, strlen(cooked), t->url, c->o->max_text, img_name, c, &hp,
                                 &cut)) {
            cs_html_post_cleanup(&hp);
            c->err = CS_ENOMEM;
            break;
        }
        const char *user = jstr(p, "username");
        const char *name = jstr(p, "name");
        if (!opener)
            opener = user;
        const char *text = hp.text.data ? hp.text.data : "";
        /* the chats-crawler turn */
        bad |= cs_buf_puts(&conv, "\n<# ") != CS_OK;
        bad |= cs_buf_puts(&conv, user) != CS_OK;
        if (name[0] && strcmp(name, user) != 0)
            bad |= cs_buf_puts(&conv, name) != CS_OK;
        bad |= cs_buf_puts(&conv, " #>:\n") != CS_OK;
        bad |= cs_buf_append(&conv, text, hp.text.len) != CS_OK;
        /* posts[] */
        bad |= cs_buf_puts(&posts, np ? ",\n  {" : "\n  {") != CS_OK;
        bad |= put_key(&posts, "author");
        bad |= put_str(&posts, name[0] ? name : user);
        bad |= cs_buf_puts(&posts, ", ") != CS_OK;
        bad |= put_key(&posts, "username");
        bad |= put_str(&posts, user);
        bad |= cs_buf_puts(&posts, ", ") != CS_OK;
        bad |= put_key(&posts, "created_at");
        bad |= put_val(&posts, json_object_get(p, "created_at"));
        bad |= cs_buf_puts(&posts, ", ") != CS_OK;
        bad |= put_key(&posts, "post_number");
        bad |= put_val(&posts, json_object_get(p, "post_number"));
        bad |= cs_buf_puts(&posts, ", ") != CS_OK;
        bad |= put_key(&posts, "reply_to_post_number");
        bad |= put_val(&posts, json_object_get(p, "reply_to_post_number"));
        bad |= cs_buf_puts(&posts, ", ") != CS_OK;
        bad |= put_key(&posts, "text");
        bad |= cs_json_put_str(&posts, text, hp.text.len) != CS_OK;
        bad |= cs_buf_puts(&posts, ", ") != CS_OK;
        bad |= put_key(&posts, "images");
        bad |= cs_buf_putc(&posts, '[') != CS_OK;
        for (size_t k = 0; k < hp.nimages; k++) {
            if (k)
                bad |= cs_buf_puts(&posts, ", ") != CS_OK;
            bad |= put_str(&posts, hp.images[k]);
            cs_buf_reset(&nm);
            if (img_name(c, hp.images[k], &nm) && !strset_add(&images, nm.data))
                c->err = CS_ENOMEM;
        }
        bad |= cs_buf_puts(&posts, "], ") != CS_OK;
        bad |= put_key(&posts, "links");
        bad |= cs_buf_putc(&posts, '[') != CS_OK;
        for (size_t k = 0; k < hp.nlinks; k++) {
            if (k)
                bad |= cs_buf_puts(&posts, ", ") != CS_OK;
            bad |= put_str(&posts, hp.links[k]);
            if (!strset_add(&links, hp.links[k]))
                c->err = CS_ENOMEM;
        }
        bad |= cs_buf_puts(&posts, "]}") != CS_OK;
        /* role-tagged messages */
        bool assistant = c->o->assistants ? in_list(c->o->assistants, user)
                                          : strcmp(user, opener) != 0;
        if (c->o->format == CS_FORUM_CHATML) {
            bad |= cs_buf_puts(&msgs, np ? ",\n  {\"role\": " : "\n  {\"role\": ") != CS_OK;
            bad |= put_str(&msgs, assistant ? "assistant" : "user");
            bad |= cs_buf_puts(&msgs, ", \"content\": ") != CS_OK;
            bad |= cs_json_put_str(&msgs, text, hp.text.len) != CS_OK;
            bad |= cs_buf_putc(&msgs, '}') != CS_OK;
        } else if (c->o->format == CS_FORUM_SHAREGPT) {
            bad |= cs_buf_puts(&msgs, np ? ",\n  {\"from\": " : "\n  {\"from\": ") != CS_OK;
            bad |= put_str(&msgs, assistant ? "gpt" : "human");
            bad |= cs_buf_puts(&msgs, ", \"value\": ") != CS_OK;
            bad |= cs_json_put_str(&msgs, text, hp.text.len) != CS_OK;
            bad |= cs_buf_putc(&msgs, '}') != CS_OK;
        }
        np++;
        cs_html_post_cleanup(&hp);
        c->st.posts++;
    }
    json_t *doc = t->doc;
    bad |= cs_buf_printf(out, "{\"id\": %llu,\n \"title\": ", (unsigned long long)t->id) != CS_OK;
    json_t *title = json_object_get(doc, "title");
    if (json_is_string(title))
        bad |= put_val(out, title);
    else
        bad |= put_str(out, t->title);
    bad |= cs_buf_puts(out, ",\n \"url\": ") != CS_OK;
    bad |= put_str(out, t->url);
    bad |= cs_buf_puts(out, ",\n \"slug\": ") != CS_OK;
    bad |= put_str(out, t->slug);
    static const char *const extra[] = {"category_id", "created_at", "highest_post_number", NULL};
    for (int k = 0; extra[k]; k++) {
        json_t *v = json_object_get(doc, extra[k]);
        if (v) {
            bad |= cs_buf_puts(out, ",\n ") != CS_OK;
            bad |= put_key(out, extra[k]);
            bad |= put_val(out, v);
        }
    }
    if (c->o->format == CS_FORUM_SHAREGPT) {
        bad |= cs_buf_puts(out, ",\n \"conversations\": [") != CS_OK;
        bad |= cs_buf_append(out, msgs.data, msgs.len) != CS_OK;
        bad |= cs_buf_puts(out, "],\n \"conversations_text\": ") != CS_OK;
        bad |= cs_json_put_str(out, conv.data ? conv.data : "", conv.len) != CS_OK;
    } else {
        bad |= cs_buf_puts(out, ",\n \"conversations\": ") != CS_OK;
        bad |= cs_json_put_str(out, conv.data ? conv.data : "", conv.len) != CS_OK;
        if (c->o->format == CS_FORUM_CHATML) {
            bad |= cs_buf_puts(out, ",\n \"messages\": [") != CS_OK;
            bad |= cs_buf_append(out, msgs.data, msgs.len) != CS_OK;
            bad |= cs_buf_putc(out, ']') != CS_OK;
        }
    }
    bad |= cs_buf_puts(out, ",\n \"images\": ") != CS_OK;
    bad |= strset_put(out, &images);
    bad |= cs_buf_puts(out, ",\n \"links\": ") != CS_OK;
    bad |= strset_put(out, &links);
    bad |= cs_buf_puts(out, ",\n \"posts\": [") != CS_OK;
    bad |= cs_buf_append(out, posts.data, posts.len) != CS_OK;
    bad |= cs_buf_puts(out, "]}\n") != CS_OK;
    strset_free(&images);
    strset_free(&links);
    cs_buf_cleanup(&conv);
    cs_buf_cleanup(&posts);
    cs_buf_cleanup(&msgs);
    cs_buf_cleanup(&nm);
    return !bad;
}

static void topic_done(crawl *c, topic *t)
{
    if (!t->failed && c->err == CS_OK) {
        cs_buf text;
        cs_buf_init(&text, 0);
        if (!render_topic(c, t, &text) && c->err == CS_OK)
            c->err = CS_ENOMEM;
        char path[4096], tmp[4200];
        snprintf(path, sizeof path, "%s/%llu.json", c->o->out_dir, (unsigned long long)t->id);
        snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
        FILE *f = text.data && c->err == CS_OK ? fopen(tmp, "wb") : NULL;
        bool wrote = f && fwrite(text.data, 1, text.len, f) == text.len;
        if (f && fclose(f) != 0)
            wrote = false;
        cs_buf_cleanup(&text);
        if (!wrote || rename(tmp, path) != 0) {
            unlink(tmp);
            set_err(c, CS_EIO, "forum: cannot write %s", path);
        } else {
            c->st.topics_done++;
            json_t *hp = json_object_get(t->doc, "highest_post_number");
            json_t *line = json_pack("{s:I,s:I}", "topic", (json_int_t)t->id,
                                     "highest_post_number", json_integer_value(hp));
            state_line(c, line);
            json_decref(line);
        }
    } else if (t->failed) {
        c->st.topics_failed++;
    }
    c->active--;
    topic_free(t);
}

/* ---- fetch callbacks ---- */

static bool looks_html(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n && i < 512; i++) {
        if (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')
            continue;
        return b[i] == '<';
    }
    return false;
}

static cs_status on_done(void *ud, cs_fetch_result *r)
{
    crawl *c = ud;
    job *j = r->user;
    if (!j)
        return CS_OK;
    if (r->reason == CS_FETCH_CANCELED || c->err) {
        if (j->kind == J_TOPIC || j->kind == J_BATCH) {
            j->t->failed = true;
            topic_done(c, j->t);
        } else if (j->kind == J_IMAGE) {
            image_settled(c, j->img);
        } else if (j->kind == J_LIST) {
            c->list_inflight = false;
        }
        free_job(j);
        return CS_OK;
    }
    if (r->reason == CS_FETCH_HTTP_4XX && r->status == 429 && j->tries429 < MAX_429_REQUEUES) {
        j->tries429++;
        c->st.requeued_429++;
        cs_status st = cs_fetch_add(c->f, j->url, 0, j);
        if (st == CS_OK)
            return CS_OK;
        c->err = st;
    }
    if (j->kind == J_IMAGE) {
        bool ok = r->reason == CS_FETCH_OK && save_image(c, j->img, r->body, r->body_len);
        if (!ok)
            c->st.images_failed++;
        image_settled(c, j->img);
        free_job(j);
        pump(c);
        return c->err == CS_EIO || c->err == CS_ENOMEM ? c->err : CS_OK;
    }
    json_t *doc = NULL;
    if (r->reason == CS_FETCH_OK) {
        json_error_t jerr;
        doc = json_loadb((const char *)r->body, r->body_len, 0, &jerr);
        if (!doc && j->kind == J_TOPIC && looks_html(r->body, r->body_len)) {
            char *js = NULL;
            if (cs_forum_topic_from_html((const char *)r->body, r->body_len, &js) == CS_OK) {
                doc = json_loads(js, 0, &jerr);
                if (doc)
                    c->st.topics_from_html++;
            }
            cs_free(js);
        }
        if (!doc) {
            c->st.bad_json++;
            cs_log(CS_LOG_WARN, "forum: %s: not JSON (%s)", r->url, jerr.text);
        }
    } else {
        cs_log(CS_LOG_WARN, "forum: %s: %s (%ld) %s", r->url, cs_fetch_reason_name(r->reason),
               r->status, r->message ? r->message : "");
    }
    switch (j->kind) {
    case J_LIST:
        c->list_inflight = false;
        if (doc) {
            on_list(c, j, doc);
        } else {
            c->st.list_failed++;
            c->list_more = false;
        }
        break;
    case J_TOPIC:
        if (doc) {
            on_topic(c, j->t, doc);
        } else {
            if (r->status == 404 || r->status == 410) {
                c->st.topics_deleted++;
                c->active--;
                topic_free(j->t);
            } else if (r->reason == CS_FETCH_ROBOTS || r->reason == CS_FETCH_OPT_OUT) {
                c->st.topics_refused++;
                c->active--;
                topic_free(j->t);
            } else {
                j->t->failed = true;
                topic_done(c, j->t);
            }
        }
        break;
    case J_BATCH:
        if (doc) {
            on_batch(c, j->t, doc);
        } else {
            j->t->failed = true;
            topic_done(c, j->t);
        }
        break;
    }
    json_decref(doc);
    free_job(j);
    pump(c);
    return c->err == CS_EIO || c->err == CS_ENOMEM ? c->err : CS_OK;
}

/* ---- state ---- */

static cs_status load_state(crawl *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? CS_OK : CS_EIO;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)n, 0, &jerr);
        if (!j)
            continue; /* a torn last line after a crash */
        json_t *tid = json_object_get(j, "topic");
        if (json_is_integer(tid)) {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(tid));
            json_object_set(c->done_topics, key, json_object_get(j, "highest_post_number"));
        }
        const char *iu = json_string_value(json_object_get(j, "image"));
        const char *fl = json_string_value(json_object_get(j, "file"));
        if (iu && fl && !strchr(fl, '/')) {
            bool created;
            image *im = image_get(c, iu, &created);
            if (im && created) {
                im->file = cs_strdup(fl);
                im->done = true;
            }
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return CS_OK;
}

static int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* What both entry points need: the regex, the output directory, the state. */
static void setup(crawl *c, const cs_forum_opts *o, char *errmsg, size_t errcap, bool need_site)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    c->errmsg = errmsg;
    c->errcap = errcap;
    if (errmsg && errcap)
        errmsg[0] = 0;
    if (!o || (need_site && (!o->site || !o->site[0])) || !o->out_dir || !o->out_dir[0]) {
        set_err(c, CS_EINVAL, "forum: a site and an output directory are required%s", "");
        return;
    }
    c->site = cs_strdup(o->site ? o->site : "");
    if (!c->site) {
        c->err = CS_ENOMEM;
        return;
    }
    for (size_t n = strlen(c->site); n > 0 && c->site[n - 1] == '/'; n--)
        c->site[n - 1] = 0;
    if (o->match) {
        int ec;
        PCRE2_SIZE eo;
        c->re = pcre2_compile((PCRE2_SPTR)o->match, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
        if (!c->re) {
            set_err(c, CS_EINVAL, "forum: bad --match regex: %s", o->match);
            return;
        }
        c->md = pcre2_match_data_create_from_pattern(c->re, NULL);
        if (!c->md) {
            c->err = CS_ENOMEM;
            return;
        }
    }
    size_t dl = strlen(o->out_dir) + 16;
    c->imgdir = cs_malloc(dl);
    if (!c->imgdir) {
        c->err = CS_ENOMEM;
        return;
    }
    snprintf(c->imgdir, dl, "%s/imgs", o->out_dir);
    if (mkdir_p(o->out_dir) != 0 || (o->images && mkdir_p(c->imgdir) != 0)) {
        set_err(c, CS_EIO, "forum: cannot create %s", o->out_dir);
        return;
    }
    c->done_topics = json_object();
    c->images = json_object();
    c->seen = json_object();
    if (!c->done_topics || !c->images || !c->seen) {
        c->err = CS_ENOMEM;
        return;
    }
    char sp[4096];
    snprintf(sp, sizeof sp, "%s/state.jsonl", o->out_dir);
    if (load_state(c, sp) != CS_OK) {
        set_err(c, CS_EIO, "forum: cannot read %s", sp);
        return;
    }
    c->state = fopen(sp, "a");
    if (!c->state)
        set_err(c, CS_EIO, "forum: cannot write %s", sp);
}

static cs_status teardown(crawl *c, cs_forum_stats *stats)
{
    while (c->qhead) { /* topics still queued (a stop) */
        topic *t = c->qhead;
        c->qhead = t->next;
        topic_free(t);
    }
    for (size_t i = 0; i < c->nimgs; i++) {
        cs_free(c->imgs[i]->url);
        cs_free(c->imgs[i]->file);
        cs_free(c->imgs[i]->waiters);
        cs_free(c->imgs[i]);
    }
    cs_free(c->imgs);
    cs_fetch_free(c->f);
    if (c->state)
        fclose(c->state);
    json_decref(c->done_topics);
    json_decref(c->images);
    json_decref(c->seen);
    pcre2_match_data_free(c->md);
    pcre2_code_free(c->re);
    cs_free(c->site);
    cs_free(c->imgdir);
    if (stats)
        *stats = c->st;
    return c->err;
}

/* Discourse's rate limiter answers 429 with {"extras": {"wait_seconds": N}}
 * (sometimes without a Retry-After): the fetcher asks here. */
static double discourse_wait_seconds(const char *body, size_t len, void *ud)
{
    (void)ud;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    double w = -1;
    json_t *ws = json_object_get(json_object_get(root, "extras"), "wait_seconds");
    if (json_is_number(ws) && json_number_value(ws) >= 0)
        w = json_number_value(ws);
    json_decref(root);
    return w;
}

cs_status cs_forum_crawl(const cs_forum_opts *o, cs_forum_stats *stats, char *errmsg,
                         size_t errcap)
{
    crawl c;
    setup(&c, o, errmsg, errcap, true);
    if (c.err)
        return teardown(&c, stats);
    cs_fetch_opts fo = o->fetch;
    if (!fo.retry_hint)
        fo.retry_hint = discourse_wait_seconds;
    if (o->rate > 0) {
        fo.per_host = 1;
        fo.host_delay = 1.0 / o->rate;
    }
    if (fo.retries < 3)
        fo.retries = 3;
    cs_status st = cs_fetch_new(&c.f, &fo);
    if (st) {
        set_err(&c, st, "forum: cannot start the fetcher%s", "");
        return teardown(&c, stats);
    }
    c.list_more = true;
    list_page(&c);
    st = c.err ? c.err : cs_fetch_run(c.f, NULL, on_done, &c);
    if (st && !c.err)
        set_err(&c, st, "forum: fetch run failed: %s", cs_fetch_errmsg(c.f));
    cs_fetch_stats fs;
    cs_fetch_stats_get(c.f, &fs);
    c.st.requests = fs.requests;
    return teardown(&c, stats);
}

/* ---- offline: topic pages and topic JSON from WARC files ---- */

/* The topic id and slug in a topic URL: /t/SLUG/ID, /t/ID, /t/SLUG/ID/N,
 * /t/ID.json (query and fragment ignored). */
static bool topic_url(const char *uri, uint64_t *id, char *slug, size_t cap)
{
    const char *p = strstr(uri, "/t/");
    if (!p)
        return false;
    p += 3;
    const char *end = p + strcspn(p, "?#");
    char seg[3][256];
    int n = 0;
    while (p < end && n < 3) {
        const char *q = p;
        while (q < end && *q != '/')
            q++;
        size_t l = (size_t)(q - p);
        if (l >= sizeof seg[0])
            return false;
        memcpy(seg[n], p, l);
        seg[n][l] = 0;
        n++;
        p = q < end ? q + 1 : q;
    }
    slug[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(seg[i]);
        if (l > 5 && !strcmp(seg[i] + l - 5, ".json"))
            seg[i][l - 5] = 0;
        uint64_t v;
        if (seg[i][0] && cs_slice_to_u64((cs_slice){seg[i], strlen(seg[i])}, &v) && v > 0) {
            *id = v;
            if (i > 0)
                snprintf(slug, cap, "%s", seg[0]);
            return true;
        }
    }
    return false;
}

static void warc_record(crawl *c, const cs_warc_record *rec, const char *block, size_t len,
                        json_t *best)
{
    uint64_t id = 0;
    char slug[256];
    const char *uri = rec->target_uri;
    if (!uri || !topic_url(uri, &id, slug, sizeof slug))
        return;
    cs_arena a;
    cs_arena_init(&a, 4u << 20);
    cs_http_msg m;
    cs_buf body;
    cs_buf_init(&body, 0);
    json_t *doc = NULL;
    char key[32];
    snprintf(key, sizeof key, "%llu", (unsigned long long)id);
    if (cs_http_parse(block, len, &a, 0, &m, NULL, 0) != CS_OK || m.status != 200 ||
        cs_http_decode_body(&m, CS_HTTP_DECHUNK | CS_HTTP_DECODE, 0, &body, NULL, 0) != CS_OK) {
        c->st.topics_failed++;
        goto done;
    }
    json_error_t jerr;
    doc = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
    if (!doc && looks_html((const uint8_t *)(body.data ? body.data : ""), body.len)) {
        char *js = NULL;
        if (cs_forum_topic_from_html(body.data, body.len, &js) == CS_OK) {
            doc = json_loads(js, 0, &jerr);
            if (doc)
                c->st.topics_from_html++;
        }
        cs_free(js);
    }
    json_t *posts = json_object_get(json_object_get(doc, "post_stream"), "posts");
    if (!json_is_array(posts)) {
        c->st.bad_json++;
        c->st.topics_failed++;
        goto done;
    }
    /* a topic archived twice (page and JSON, or two visits): the fuller one */
    json_t *prev = json_object_get(best, key);
    if (prev && json_integer_value(prev) >= (json_int_t)json_array_size(posts)) {
        c->st.topics_unchanged++;
        goto done;
    }
    json_object_set_new(best, key, json_integer((json_int_t)json_array_size(posts)));
    topic *t = cs_calloc(1, sizeof *t);
    char url[2048];
    const char *ds = jstr(doc, "slug");
    snprintf(url, sizeof url, "%.*s/t/%s/%llu", (int)(strstr(uri, "/t/") - uri), uri,
             ds[0] ? ds : slug[0] ? slug : "topic", (unsigned long long)id);
    if (!t || !(t->slug = cs_strdup(ds[0] ? ds : slug)) || !(t->url = cs_strdup(url)) ||
        !(t->title = cs_strdup(jstr(doc, "title")))) {
        topic_free(t);
        c->err = CS_ENOMEM;
        goto done;
    }
    t->id = id;
    c->active++;
    on_topic_posts(c, t, doc, false);
done:
    json_decref(doc);
    cs_buf_cleanup(&body);
    cs_arena_cleanup(&a);
}

cs_status cs_forum_from_warc(const cs_forum_opts *o, const char *const *paths, size_t npaths,
                             cs_forum_stats *stats, char *errmsg, size_t errcap)
{
    crawl c;
    cs_forum_opts oo;
    if (o) {
        oo = *o;
        oo.images = false; /* offline: nothing is fetched */
    }
    setup(&c, o ? &oo : NULL, errmsg, errcap, false);
    json_t *best = json_object();
    if (!best && !c.err)
        c.err = CS_ENOMEM;
    cs_warc_reader_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.types = CS_WARC_RESPONSE | CS_WARC_RESOURCE;
    for (size_t i = 0; i < npaths && !c.err; i++) {
        cs_warc_reader *r = NULL;
        cs_status st = cs_warc_reader_open(&r, paths[i], &ro);
        if (st) {
            set_err(&c, st == CS_ENOMEM ? st : CS_EIO, "forum: cannot read %s", paths[i]);
            break;
        }
        for (;;) {
            cs_warc_record *rec;
            st = cs_warc_reader_next(r, &rec);
            if (st == CS_DONE)
                break;
            if (st == CS_EIO || st == CS_ENOMEM) {
                set_err(&c, st, "forum: %s", cs_warc_reader_errmsg(r));
                break;
            }
            if (st) {
                cs_log(CS_LOG_WARN, "forum: %s", cs_warc_reader_errmsg(r));
                continue;
            }
            if (!rec->target_uri || !matches(&c, rec->target_uri))
                continue;
            cs_slice block;
            st = cs_warc_reader_block(r, 64u << 20, &block);
            if (st == CS_OK)
                warc_record(&c, rec, block.ptr, block.len, best);
            else
                c.st.topics_failed++;
            if (c.err)
                break;
        }
        cs_warc_reader_free(r);
    }
    json_decref(best);
    return teardown(&c, stats);
}
