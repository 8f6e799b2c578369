/* forum_site.c - a generated Discourse site on 127.0.0.1 for bench/forum.sh:
 * N topics x P posts served the way Discourse serves them (/latest.json
 * pages of 30 topics, /t/ID.json with the first 20 posts and the whole
 * stream, /t/ID/posts.json batches of 20) and, for the browser baseline,
 * each topic as one HTML page (/t/SLUG/ID) carrying all its posts in
 * Discourse's post markup (div.topic-body, div.names, div.regular.contents),
 * without Discourse's JavaScript application (lighter for the browser than
 * the real site). Prints "port N" and serves until stdin closes.
 * Usage: forum_site [--topics N] [--posts P] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "origin.h"

static void add(cs_origin *o, const char *path, const char *type, const char *body)
{
    cs_origin_route r;
    memset(&r, 0, sizeof r);
    r.body = body;
    r.body_len = strlen(body);
    r.content_type = type;
    if (cs_origin_route_add(o, path, &r)) {
        fprintf(stderr, "route %s failed\n", path);
        exit(3);
    }
}

static char *cooked(int topic, int post)
{
    static char b[4096];
    int n = snprintf(b, sizeof b,
                     "<p>Post %d of topic %d: the quick brown fox jumps over the lazy dog, "
                     "again and again, so that the post has a realistic length of text.</p>\n"
                     "<p>Second paragraph with <strong>bold</strong> and <em>emphasis</em> and "
                     "an entity &amp; a line<br>break.</p>",
                     post, topic);
    if (post % 5 == 0)
        n += snprintf(b + n, sizeof b - (size_t)n,
                      "\n<p>See <a href=\"https://example.org/doc/%d\">the docs</a>.</p>", post);
    if (post % 7 == 0 && post > 1)
        n += snprintf(b + n, sizeof b - (size_t)n,
                      "\n<aside class=\"quote\" data-username=\"user%d\" data-post=\"%d\"><div "
                      "class=\"title\"><div class=\"quote-controls\"></div>user%d:</div>"
                      "<blockquote><p>Post %d said something worth quoting.</p></blockquote>"
                      "</aside>",
                      post - 1, post - 1, post - 1, post - 1);
    if (post % 10 == 0)
        snprintf(b + n, sizeof b - (size_t)n,
                 "\n<pre><code class=\"lang-c\">int main(void)\n{\n    return %d;\n}\n"
                 "</code></pre>",
                 post);
    return b;
}

static json_t *post_json(int topic, int post)
{
    char user[32], name[32], date[40];
    snprintf(user, sizeof user, "user%d", (topic + post) % 97);
    snprintf(name, sizeof name, "User %d", (topic + post) % 97);
    snprintf(date, sizeof date, "2024-0%d-%02dT10:%02d:00.000Z", 1 + post % 9, 1 + topic % 28,
             post % 60);
    return json_pack("{s:i,s:i,s:s,s:s,s:s,s:s,s:o}", "id", topic * 1000 + post, "post_number",
                     post, "username", user, "name", name, "created_at", date, "cooked",
                     cooked(topic, post), "reply_to_post_number",
                     post > 2 ? json_integer(post - 1) : json_null());
}

int main(int argc, char **argv)
{
    int topics = 1000, posts = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--topics"))
            topics = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--posts"))
            posts = atoi(argv[i + 1]);
    }
    cs_origin *o;
    if (cs_origin_start(&o))
        return 3;
    add(o, "/robots.txt", "text/plain", "User-agent: *\nDisallow: /admin/\n");
    char path[512];
    int pages = (topics + 29) / 30;
    for (int pg = 0; pg <= pages; pg++) {
        json_t *arr = json_array();
        for (int t = pg * 30 + 1; t <= topics && t <= pg * 30 + 30; t++) {
            char slug[32];
            snprintf(slug, sizeof slug, "topic-%d", t);
            json_array_append_new(arr, json_pack("{s:i,s:s,s:s,s:i,s:s}", "id", t, "slug", slug,
                                                 "title", slug, "highest_post_number", posts,
                                                 "last_posted_at", "2024-06-01T00:00:00.000Z"));
        }
        json_t *tl = json_pack("{s:{s:o}}", "topic_list", "topics", arr);
        if (pg < pages) {
            char more[64];
            snprintf(more, sizeof more, "/latest?page=%d", pg + 1);
            json_object_set_new(json_object_get(tl, "topic_list"), "more_topics_url",
                                json_string(more));
        }
        char *s = json_dumps(tl, JSON_COMPACT);
        snprintf(path, sizeof path, "/latest.json?page=%d", pg);
        add(o, path, "application/json", s);
        free(s);
        json_decref(tl);
    }
    for (int t = 1; t <= topics; t++) {
        json_t *first = json_array(), *stream = json_array();
        for (int p = 1; p <= posts; p++) {
            json_array_append_new(stream, json_integer(t * 1000 + p));
            if (p <= 20)
                json_array_append_new(first, post_json(t, p));
        }
        char title[64], slug[32];
        snprintf(title, sizeof title, "Topic number %d", t);
        snprintf(slug, sizeof slug, "topic-%d", t);
        json_t *doc = json_pack("{s:i,s:s,s:s,s:i,s:i,s:{s:o,s:o}}", "id", t, "title", title,
                                "slug", slug, "highest_post_number", posts, "chunk_size", 20,
                                "post_stream", "posts", first, "stream", stream);
        char *s = json_dumps(doc, JSON_COMPACT);
        snprintf(path, sizeof path, "/t/%d.json", t);
        add(o, path, "application/json", s);
        free(s);
        json_decref(doc);
        for (int b = 21; b <= posts; b += 20) {
            json_t *ps = json_array();
            int n = snprintf(path, sizeof path, "/t/%d/posts.json?", t);
            for (int p = b; p <= posts && p < b + 20; p++) {
                json_array_append_new(ps, post_json(t, p));
                n += snprintf(path + n, sizeof path - (size_t)n, "%spost_ids[]=%d",
                              p > b ? "&" : "", t * 1000 + p);
            }
            json_t *bj = json_pack("{s:{s:o}}", "post_stream", "posts", ps);
            s = json_dumps(bj, JSON_COMPACT);
            add(o, path, "application/json", s);
            free(s);
            json_decref(bj);
        }
        /* the page a browser loads */
        cs_buf h;
        cs_buf_init(&h, 0);
        cs_buf_printf(&h, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>%s</title>"
                          "</head><body><div id=\"main-outlet\"><h1>%s</h1>",
                      title, title);
        for (int p = 1; p <= posts; p++)
            cs_buf_printf(&h, "<article id=\"post_%d\"><div class=\"topic-body clearfix\">"
                              "<div class=\"names trigger-user-card\"><span><a href=\"/u/user%d\">"
                              "user%d</a></span></div><div class=\"regular contents\">"
                              "<div class=\"cooked\">%s</div></div></div></article>",
                          p, (t + p) % 97, (t + p) % 97, cooked(t, p));
        cs_buf_puts(&h, "</div></body></html>");
        snprintf(path, sizeof path, "/t/%s/%d", slug, t);
        add(o, path, "text/html; charset=utf-8", h.data);
        cs_buf_cleanup(&h);
    }
    printf("port %u\n", (unsigned)cs_origin_port(o));
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {
    }
    cs_origin_stop(o);
    return 0;
}
