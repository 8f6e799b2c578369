/* test_forum.c - `crawlset forum` against the origin on 127.0.0.1 playing a
 * Discourse site made of the real API responses in
 * ../shared/corpus/discourse/perceval: three list pages, a topic longer than
 * its first chunk (1148: 20 posts + a posts.json batch for 21 and 22), a 429
 * with Retry-After in the middle (1149), a topic deleted between list and
 * fetch (1150: 404), malformed JSON (1151), lightbox images on another host
 * (every host is sent to the origin with connect_to), quotes and links; the
 * output of topic 1448 checked field by field; a rerun that fetches only
 * what grew; the HTML fallbacks. */
#include <jansson.h>
#include <sys/stat.h>

#include "../test.h"
#include "origin.h"

static json_t *corpus_json(const char *rel)
{
    json_error_t e;
    json_t *j = json_load_file(cs_test_corpus(rel), 0, &e);
    if (!j)
        FAIL("%s: %s", rel, e.text);
    return j;
}

static void route_json(cs_origin *o, const char *path, json_t *j, const cs_origin_route *base)
{
    char *s = json_dumps(j, JSON_COMPACT);
    cs_origin_route r;
    if (base)
        r = *base;
    else
        memset(&r, 0, sizeof r);
    r.body = s;
    r.body_len = strlen(s);
    r.content_type = "application/json; charset=utf-8";
    ASSERT_OK(cs_origin_route_add(o, path, &r));
    free(s);
}

static json_t *list_entry(json_t *page, size_t i) { return json_array_get(json_object_get(json_object_get(page, "topic_list"), "topics"), i); }

/* The site; highest_1149 lets a rerun see topic 1149 grow. */
static void play_site(cs_origin *o, int highest_1149)
{
    ASSERT_OK(cs_origin_route_simple(o, "/robots.txt", 200, "User-agent: *\nDisallow: /admin/\n"));
    /* page 0: the real /latest.json (1148, 1149), with a next page */
    json_t *p0 = corpus_json("discourse/perceval/discourse_topics.json");
    json_object_set_new(json_object_get(p0, "topic_list"), "more_topics_url",
                        json_string("/latest?page=1"));
    json_object_set_new(list_entry(p0, 1), "highest_post_number", json_integer(highest_1149));
    route_json(o, "/latest.json?page=0", p0, NULL);
    /* page 1: 1150 (deleted), 1448, 1151 (broken), 1148 again (bumped) */
    json_t *pinned = corpus_json("discourse/perceval/discourse_topics_pinned.json");
    json_t *t1150 = json_deep_copy(list_entry(pinned, 1));
    json_t *t1448 = json_deep_copy(list_entry(p0, 0));
    json_object_set_new(t1448, "id", json_integer(1448));
    json_t *t1151 = json_deep_copy(list_entry(p0, 0));
    json_object_set_new(t1151, "id", json_integer(1151));
    json_object_set_new(t1151, "slug", json_string("broken"));
    json_t *p1 = json_pack("{s:{s:[o,o,o,O],s:s}}", "topic_list", "topics", t1150, t1448, t1151,
                           list_entry(p0, 0), "more_topics_url", "/latest?page=2");
    route_json(o, "/latest.json?page=1", p1, NULL);
    json_t *p2 = corpus_json("discourse/perceval/discourse_topics_empty.json");
    route_json(o, "/latest.json?page=2", p2, NULL);
    /* topics */
    json_t *t = corpus_json("discourse/perceval/discourse_topic_1148.json");
    route_json(o, "/t/1148.json", t, NULL);
    json_decref(t);
    json_t *post = corpus_json("discourse/perceval/discourse_post.json");
    json_t *p21 = json_deep_copy(post), *p22 = json_deep_copy(post);
    json_object_set_new(p21, "id", json_integer(21));
    json_object_set_new(p21, "post_number", json_integer(21));
    json_object_set_new(p22, "id", json_integer(22));
    json_object_set_new(p22, "post_number", json_integer(22));
    json_object_set_new(p22, "reply_to_post_number", json_integer(21));
    json_t *batch = json_pack("{s:{s:[o,o]}}", "post_stream", "posts", p21, p22);
    route_json(o, "/t/1148/posts.json?post_ids[]=21&post_ids[]=22", batch, NULL);
    json_decref(batch);
    json_decref(post);
    cs_origin_route limited;
    memset(&limited, 0, sizeof limited);
    limited.fail_times = 1;
    limited.fail_status = 429;
    /* Discourse's rate-limit body only, no Retry-After header: the wait
       must come from extras.wait_seconds */
    limited.fail_body = "{\"errors\":[\"You've performed this action too many times.\"],"
                        "\"error_type\":\"rate_limit\",\"extras\":{\"wait_seconds\":1,"
                        "\"time_left\":\"1 second\"}}";
    t = corpus_json("discourse/perceval/discourse_topic_1149.json");
    json_object_set_new(t, "highest_post_number", json_integer(highest_1149));
    route_json(o, "/t/1149.json", t, &limited);
    json_decref(t);
    ASSERT_OK(cs_origin_route_simple(o, "/t/1150.json", 404, "{\"errors\":[\"not found\"]}"));
    ASSERT_OK(cs_origin_route_simple(o, "/t/1151.json", 200, "{\"post_stream\": {\"posts\": [{\"id\""));
    t = corpus_json("discourse/perceval/discourse_posts.json");
    json_object_set_new(t, "id", json_integer(1448));
    route_json(o, "/t/1448.json", t, NULL);
    json_decref(t);
    /* two of post 2's lightbox originals, with the same bytes */
    cs_origin_route img;
    memset(&img, 0, sizeof img);
    img.body_file = cs_test_corpus("images/pngsuite/basi6a16.png");
    img.content_type = "image/png";
    ASSERT_OK(cs_origin_route_add(
        o, "/original/2X/b/bce1d6fb0cdcb91795d0bbce900d0b4fefbbe476.png", &img));
    ASSERT_OK(cs_origin_route_add(
        o, "/original/2X/7/780715c19e7b97b91afddb0a4b28f86307b3c61c.png", &img));
    json_decref(p0);
    json_decref(p1);
    json_decref(p2);
    json_decref(pinned);
}

static void opts_for(cs_forum_opts *o, cs_origin *org, const char *out, const char **connect)
{
    cs_forum_opts_init(o);
    o->site = cs_origin_url(org);
    o->out_dir = out;
    o->rate = 0; /* tests: no per-site pace */
    o->fetch.proxy = "";
    o->fetch.retry_delay = 0.05;
    static char ct[128];
    snprintf(ct, sizeof ct, "::127.0.0.1:%u", (unsigned)cs_origin_port(org));
    connect[0] = ct;
    connect[1] = NULL;
    o->fetch.connect_to = connect;
}

static json_t *load_out(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    if (!j)
        FAIL("%s: %s", p, e.text);
    return j;
}

TEST_T(forum_crawl_discourse_site, 60)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    const char *out = cs_test_tmpdir();
    cs_forum_opts o;
    const char *connect[2];
    opts_for(&o, org, out, connect);
    cs_forum_stats st;
    char msg[256];
    ASSERT_OK(cs_forum_crawl(&o, &st, msg, sizeof msg));

    ASSERT_EQ(st.list_pages, 3);
    ASSERT_EQ(st.topics_listed, 6);
    ASSERT_EQ(st.topics_done, 3);
    ASSERT_EQ(st.topics_deleted, 1);
    ASSERT_EQ(st.topics_failed, 1);
    ASSERT_EQ(st.bad_json, 1);
    ASSERT_EQ(st.post_batches, 1);
    ASSERT_EQ(st.posts, 22 + 2 + 4);
    ASSERT_EQ(st.images_saved, 1);  /* two URLs, the same bytes: one file */
    ASSERT_EQ(st.images_reused, 1);
    ASSERT_EQ(st.images_failed, 4); /* the other four originals are 404 */
    /* each request once, the 429'd topic twice, at least Retry-After apart */
    ASSERT_EQ(cs_origin_count(org, "/t/1148/posts.json"), 1);
    ASSERT_EQ(cs_origin_count(org, "/original/2X/b/bce1d6fb0cdcb91795d0bbce900d0b4fefbbe476.png"), 1);
    ASSERT_EQ(cs_origin_count(org, "/t/1148.json"), 1);
    ASSERT_EQ(cs_origin_count(org, "/t/1149.json"), 2);
    double t429 = -1, tok = -1;
    cs_origin_request rq;
    for (size_t i = 0; cs_origin_log_get(org, i, &rq); i++)
        if (!strcmp(rq.path, "/t/1149.json")) {
            if (rq.status == 429)
                t429 = rq.time;
            else
                tok = rq.time;
        }
    ASSERT(t429 > 0 && tok > 0);
    ASSERT(tok - t429 >= 0.9); /* wait_seconds: 1 (arrival times jitter a little) */

    /* topic 1448, field by field */
    json_t *j = load_out(out, "1448.json");
    char want_url[256];
    snprintf(want_url, sizeof want_url, "%s/t/ibm-powervm-support/1448", cs_origin_url(org));
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "title")), "IBM PowerVM support?");
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "url")), want_url);
    ASSERT_STR_EQ(
        json_string_value(json_object_get(j, "conversations")),
        "\n<# kincl #>:\nHi,\n\nI was wondering if there were any plans to add support for IBM "
        "PowerVM with the advent of OpenPOWER. I imagine it would be a big lift but we are "
        "really talking about just another Infrastructure provider right?\n\nThanks!\n\n"
        "[link http://www-03.ibm.com/systems/power/software/virtualization/index.html]\n"
        "[link http://openpowerfoundation.org]"
        "\n<# iheimItamar #>:\nhave you tried oVirt/RHEV - full support of Power8?"
        "\n<# jprauseJohn Prause #>:\n@blomquisg can you review this question from @kincl and "
        "forward to a SME if necessary."
        "\n<# hantao #>:\nyes,Ovirt/RHEV can support Power8 .");
    ASSERT_EQ(json_array_size(json_object_get(j, "images")), 0);
    json_t *links = json_object_get(j, "links");
    ASSERT_EQ(json_array_size(links), 2);
    ASSERT_STR_EQ(json_string_value(json_array_get(links, 1)), "http://openpowerfoundation.org");
    json_t *posts = json_object_get(j, "posts");
    ASSERT_EQ(json_array_size(posts), 4);
    json_t *p4 = json_array_get(posts, 3);
    ASSERT_STR_EQ(json_string_value(json_object_get(p4, "author")), "tao");
    ASSERT_STR_EQ(json_string_value(json_object_get(p4, "username")), "han");
    ASSERT_STR_EQ(json_string_value(json_object_get(p4, "created_at")), "2016-05-25T02:52:49.526Z");
    ASSERT_EQ(json_integer_value(json_object_get(p4, "post_number")), 4);
    ASSERT_EQ(json_integer_value(json_object_get(p4, "reply_to_post_number")), 2);
    ASSERT_STR_EQ(json_string_value(json_object_get(p4, "text")), "yes,Ovirt/RHEV can support Power8 .");
    json_t *p1 = json_array_get(posts, 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(p1, "author")), "kincl");
    ASSERT(json_is_null(json_object_get(p1, "reply_to_post_number")));
    ASSERT_EQ(json_array_size(json_object_get(p1, "links")), 2);
    json_decref(j);

    /* topic 1148: 22 posts in stream order, quotes, the saved image named by hash */
    j = load_out(out, "1148.json");
    posts = json_object_get(j, "posts");
    ASSERT_EQ(json_array_size(posts), 22);
    for (size_t i = 0; i < 22; i++)
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(posts, i), "post_number")),
                  (json_int_t)i + 1);
    const char *conv = json_string_value(json_object_get(j, "conversations"));
    ASSERT(!strncmp(conv, "\n<# gorhillRaymond Hill #>:\nThis is the new support", 50));
    ASSERT_CONTAINS(conv, "\n<# noisycitytoonoisy #>:\nHey Raymond.");
    ASSERT_CONTAINS(conv, "\n<# gorhillRaymond Hill #>:\nQuote:\"Is \"reply\" the only option to ask a question?\"\n\nI think it is.");
    ASSERT_CONTAINS(conv, "\n<# chr_cChr Cembrana #>:\nHi, im new with ManageIQ");
    json_t *imgs = json_object_get(j, "images");
    ASSERT_EQ(json_array_size(imgs), 1);
    const char *file = json_string_value(json_array_get(imgs, 0));
    ASSERT_EQ(strlen(file), 32 + 4);
    ASSERT(!strcmp(file + 32, ".png"));
    char tag[64];
    snprintf(tag, sizeof tag, "[img %s]", file);
    ASSERT_CONTAINS(conv, tag);
    /* a failed image keeps its URL */
    ASSERT_CONTAINS(conv, "[img http://csa-discourse-uploads.s3-us-west-1.amazonaws.com/original/2X/1/");
    char ip[1024];
    snprintf(ip, sizeof ip, "%s/imgs/%s", out, file);
    struct stat sb;
    ASSERT_EQ(stat(ip, &sb), 0);
    struct stat src;
    ASSERT_EQ(stat(cs_test_corpus("images/pngsuite/basi6a16.png"), &src), 0);
    ASSERT_EQ(sb.st_size, src.st_size); /* the original bytes */
    json_decref(j);

    /* rerun: nothing new; then 1149 grows and only it is fetched again */
    cs_origin_log_clear(org);
    ASSERT_OK(cs_forum_crawl(&o, &st, msg, sizeof msg));
    ASSERT_EQ(st.topics_done, 0);
    ASSERT_EQ(st.topics_unchanged, 3);
    ASSERT_EQ(cs_origin_count(org, "/t/1148.json"), 0);
    ASSERT_EQ(cs_origin_count(org, "/t/1448.json"), 0);
    play_site(org, 5);
    cs_origin_log_clear(org);
    ASSERT_OK(cs_forum_crawl(&o, &st, msg, sizeof msg));
    ASSERT_EQ(st.topics_done, 1);
    ASSERT_EQ(cs_origin_count(org, "/t/1149.json"), 2); /* 429 again, then the topic */
    ASSERT_EQ(cs_origin_count(org, "/t/1148.json"), 0);
    ASSERT_EQ(cs_origin_count(org, "/original/2X/b/bce1d6fb0cdcb91795d0bbce900d0b4fefbbe476.png"), 0);
    cs_origin_stop(org);
}

TEST_T(forum_match_max_topics_and_chatml, 30)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    const char *out = cs_test_tmpdir();
    cs_forum_opts o;
    const char *connect[2];
    opts_for(&o, org, out, connect);
    o.match = "/t/ibm-powervm-support/14[0-9]+$";
    o.format = CS_FORUM_CHATML;
    o.images = false;
    const char *assist[] = {"iheim", "han", NULL};
    o.assistants = assist;
    cs_forum_stats st;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    ASSERT_EQ(st.topics_done, 1);
    ASSERT_EQ(cs_origin_count(org, "/t/1148.json"), 0);
    json_t *j = load_out(out, "1448.json");
    json_t *m = json_object_get(j, "messages");
    ASSERT_EQ(json_array_size(m), 4);
    const char *roles[] = {"user", "assistant", "user", "assistant"};
    for (size_t i = 0; i < 4; i++)
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(m, i), "role")), roles[i]);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(m, 1), "content")),
                  "have you tried oVirt/RHEV - full support of Power8?");
    json_decref(j);

    /* --max-topics 1 stops listing after the first kept topic */
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s/two", out);
    o.out_dir = dir2;
    o.match = NULL;
    o.max_topics = 1;
    o.format = CS_FORUM_SHAREGPT;
    o.assistants = NULL;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    ASSERT_EQ(st.topics_done, 1);
    ASSERT_EQ(st.list_pages, 1);
    j = load_out(dir2, "1148.json");
    json_t *cv = json_object_get(j, "conversations");
    ASSERT(json_is_array(cv));
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(cv, 0), "from")), "human");
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(cv, 2), "from")), "gpt");
    ASSERT(json_is_string(json_object_get(j, "conversations_text")));
    json_decref(j);

    /* a bad regex is a usage error */
    o.match = "([";
    char msg[256];
    ASSERT_ST(cs_forum_crawl(&o, &st, msg, sizeof msg), CS_EINVAL);
    ASSERT_CONTAINS(msg, "regex");
    cs_origin_stop(org);
}

TEST_T(forum_robots_disallow_is_obeyed, 30)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    ASSERT_OK(cs_origin_route_simple(org, "/robots.txt", 200, "User-agent: *\nDisallow: /t/\n"));
    const char *out = cs_test_tmpdir();
    cs_forum_opts o;
    const char *connect[2];
    opts_for(&o, org, out, connect);
    cs_forum_stats st;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    ASSERT_EQ(st.topics_done, 0);
    ASSERT_EQ(cs_origin_count(org, "/t/1148.json"), 0);
    ASSERT_EQ(st.topics_refused, 5); /* 1148, 1149, 1150, 1151, 1448 */
    ASSERT_EQ(st.topics_failed, 0);
    ASSERT_EQ(st.list_failed, 0);

    /* a list page that fails ends the listing, counted */
    ASSERT_OK(cs_origin_route_simple(org, "/robots.txt", 200, "User-agent: *\nDisallow: /admin/\n"));
    ASSERT_OK(cs_origin_route_simple(org, "/latest.json?page=1", 200, "<html>maintenance</html>"));
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s/two", out);
    o.out_dir = dir2;
    o.images = false;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    ASSERT_EQ(st.list_failed, 1);
    ASSERT_EQ(st.list_pages, 2);
    ASSERT_EQ(st.topics_done, 2); /* 1148, 1149 from page 0 */
    cs_origin_stop(org);
}

TEST(forum_topic_from_html)
{
    /* #data-preloaded: a JSON store whose topic_ID entry is JSON text */
    json_t *topic = corpus_json("discourse/perceval/discourse_posts.json");
    char *tj = json_dumps(topic, JSON_COMPACT);
    json_t *store = json_pack("{s:s,s:s}", "site", "{}", "topic_1448", tj);
    char *sj = json_dumps(store, JSON_COMPACT);
    cs_buf page;
    cs_buf_init(&page, 0);
    cs_buf_puts(&page, "<!DOCTYPE html><html><body><div class=\"hidden\" id=\"data-preloaded\" data-preloaded=\"");
    for (const char *p = sj; *p; p++) {
        if (*p == '"')
            cs_buf_puts(&page, "&quot;");
        else if (*p == '&')
            cs_buf_puts(&page, "&amp;");
        else if (*p == '<')
            cs_buf_puts(&page, "&lt;");
        else
            cs_buf_putc(&page, *p);
    }
    cs_buf_puts(&page, "\"></div></body></html>");
    char *out = NULL;
    ASSERT_OK(cs_forum_topic_from_html(page.data, page.len, &out));
    json_error_t e;
    json_t *got = json_loads(out, 0, &e);
    ASSERT(json_equal(got, topic));
    json_decref(got);
    cs_free(out);
    free(tj);
    free(sj);
    json_decref(store);
    json_decref(topic);
    cs_buf_cleanup(&page);

    /* the crawler view */
    const char *cv =
        "<html><body><div id=\"post_1\" itemprop=\"comment\" class=\"topic-body crawler-post\">"
        "<div class=\"crawler-post-meta\"><span class=\"creator\" itemprop=\"author\"><a "
        "href=\"/u/alice\"><span itemprop=\"name\">alice</span></a></span><time "
        "datetime=\"2024-01-02T03:04:05Z\" class=\"post-time\">Jan 2</time></div>"
        "<div class=\"post\" itemprop=\"text\"><p>Hello <div>nested</div> world</p></div></div>"
        "<div id=\"post_2\" class=\"topic-body crawler-post\"><span itemprop=\"name\">bob</span>"
        "<div class=\"post\" itemprop=\"text\"><p>Hi</p></div></div></body></html>";
    ASSERT_OK(cs_forum_topic_from_html(cv, strlen(cv), &out));
    got = json_loads(out, 0, &e);
    json_t *ps = json_object_get(json_object_get(got, "post_stream"), "posts");
    ASSERT_EQ(json_array_size(ps), 2);
    json_t *a = json_array_get(ps, 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(a, "username")), "alice");
    ASSERT_STR_EQ(json_string_value(json_object_get(a, "created_at")), "2024-01-02T03:04:05Z");
    ASSERT_STR_EQ(json_string_value(json_object_get(a, "cooked")), "<p>Hello <div>nested</div> world</p>");
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(ps, 1), "cooked")), "<p>Hi</p>");
    json_decref(got);
    cs_free(out);
    ASSERT_ST(cs_forum_topic_from_html("<p>nothing</p>", 14, &out), CS_ENOTFOUND);
}

TEST_T(forum_cli, 30)
{
    char *o = NULL, *e = NULL;
    ASSERT_EQ(cs_test_crawlset("forum --help", &o, &e), 0);
    ASSERT_CONTAINS(o, "--match");
    cs_free(o);
    cs_free(e);
    ASSERT_EQ(cs_test_crawlset("forum http://127.0.0.1:1", &o, &e), 2);
    cs_free(o);
    cs_free(e);
    ASSERT_EQ(cs_test_crawlset("forum ftp://x --out /tmp/x", &o, &e), 2);
    cs_free(o);
    cs_free(e);

    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    char args[1024];
    snprintf(args, sizeof args, "forum %s --out %s/o --rate 0 --no-images --match '/1448$'",
             cs_origin_url(org), cs_test_tmpdir());
    ASSERT_EQ(cs_test_crawlset(args, &o, &e), 0);
    ASSERT_CONTAINS(e, "1 topics written");
    cs_free(o);
    cs_free(e);
    cs_origin_stop(org);
}

TEST_T(forum_rate_backoff_and_since, 30)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    /* 1448 answers 503 twice before it works: backoff, then the topic */
    json_t *t = corpus_json("discourse/perceval/discourse_posts.json");
    json_object_set_new(t, "id", json_integer(1448));
    cs_origin_route flaky;
    memset(&flaky, 0, sizeof flaky);
    flaky.fail_times = 2;
    flaky.fail_status = 503;
    route_json(org, "/t/1448.json", t, &flaky);
    json_decref(t);
    const char *out = cs_test_tmpdir();
    cs_forum_opts o;
    const char *connect[2];
    opts_for(&o, org, out, connect);
    o.rate = 10; /* at most one request per 0.1 s to the site */
    o.since = "2016-05-25T01:00:00Z";
    o.images = false;
    cs_forum_stats st;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    /* 1149 (last post 2016-05-25T00:06) is older than --since; the others
     * (last posts 2016-05-25T02:52 and 2016-05-26) are kept */
    ASSERT_EQ(st.topics_skipped, 1);
    ASSERT_EQ(cs_origin_count(org, "/t/1149.json"), 0);
    ASSERT_EQ(cs_origin_count(org, "/t/1448.json"), 3);
    ASSERT_EQ(st.topics_done, 2); /* 1148 and 1448 */
    /* the pace: 0.1 s between request starts to the site. Arrival times
     * jitter on a busy machine, so the span is checked, not each gap
     * (robots.txt, fetched before anything else, not counted) */
    cs_origin_request rq;
    double first = -1, last = -1;
    size_t m = 0;
    for (size_t i = 0; cs_origin_log_get(org, i, &rq); i++) {
        if (!strcmp(rq.path, "/robots.txt"))
            continue;
        if (first < 0)
            first = rq.time;
        last = rq.time;
        m++;
    }
    ASSERT(m >= 8);
    if (last - first < 0.085 * (double)(m - 1))
        FAIL("%zu requests in %.3f s: faster than 10/s", m, last - first);
    cs_origin_stop(org);
}

TEST_T(forum_category_listing, 30)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    json_t *cat = corpus_json("discourse/perceval/discourse_topics.json"); /* no more_topics_url */
    route_json(org, "/c/support/5.json?page=0", cat, NULL);
    json_decref(cat);
    const char *out = cs_test_tmpdir();
    cs_forum_opts o;
    const char *connect[2];
    opts_for(&o, org, out, connect);
    o.category = "support/5";
    o.images = false;
    cs_forum_stats st;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    ASSERT_EQ(st.list_pages, 1); /* no more_topics_url: one page */
    ASSERT_EQ(st.topics_done, 2);
    ASSERT_EQ(cs_origin_count(org, "/latest.json"), 0);
    ASSERT_EQ(cs_origin_count(org, "/c/support/5.json"), 1);
    cs_origin_stop(org);
}

/* A site that answers /t/ID.json with the topic's HTML page: the crawl
 * reads the crawler view's posts. */
TEST_T(forum_html_only_topic_in_crawl, 30)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    play_site(org, 4);
    const char *page =
        "<!DOCTYPE html><html><head><title>IBM PowerVM support?</title></head><body>"
        "<div id=\"post_1\" class=\"topic-body crawler-post\"><span itemprop=\"name\">kincl</span>"
        "<time datetime=\"2016-05-23T17:03:59Z\">May 23</time>"
        "<div class=\"post\" itemprop=\"text\"><p>Hi, any plans for PowerVM?</p></div></div>"
        "<div id=\"post_2\" class=\"topic-body crawler-post\"><span itemprop=\"name\">iheim</span>"
        "<div class=\"post\" itemprop=\"text\"><p>have you tried oVirt?</p></div></div>"
        "</body></html>";
    cs_origin_route r;
    memset(&r, 0, sizeof r);
    r.body = page;
    r.body_len = strlen(page);
    r.content_type = "text/html; charset=utf-8";
    ASSERT_OK(cs_origin_route_add(org, "/t/1448.json", &r));
    const char *out = cs_test_tmpdir();
    cs_forum_opts o;
    const char *connect[2];
    opts_for(&o, org, out, connect);
    o.match = "/1448$";
    cs_forum_stats st;
    ASSERT_OK(cs_forum_crawl(&o, &st, NULL, 0));
    ASSERT_EQ(st.topics_from_html, 1);
    ASSERT_EQ(st.topics_done, 1);
    json_t *j = load_out(out, "1448.json");
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "conversations")),
                  "\n<# kincl #>:\nHi, any plans for PowerVM?\n<# iheim #>:\nhave you tried oVirt?");
    json_t *p1 = json_array_get(json_object_get(j, "posts"), 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(p1, "created_at")), "2016-05-23T17:03:59Z");
    /* no title in the page's JSON: the list's */
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "title")), "IBM PowerVM support?");
    json_decref(j);
    cs_origin_stop(org);
}

/* ---- offline: topics from a WARC ---- */

static void warc_response(cs_warc_writer *w, const char *uri, const char *ctype, const char *body,
                          bool chunked)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_printf(&b, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n", ctype);
    if (chunked)
        cs_buf_printf(&b, "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(body),
                      body);
    else
        cs_buf_printf(&b, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    cs_warc_field f[2] = {{"WARC-Target-URI", 0, uri, 0},
                          {"Content-Type", 0, "application/http; msgtype=response", 0}};
    ASSERT_OK(cs_warc_writer_write(w, CS_WARC_RESPONSE, f, 2, b.data, b.len, NULL, NULL));
    cs_buf_cleanup(&b);
}

TEST_T(forum_topics_from_warc, 30)
{
    const char *dir = cs_test_tmpdir();
    char wpath[1024];
    snprintf(wpath, sizeof wpath, "%s/forum.warc.gz", dir);
    FILE *wf = fopen(wpath, "wb");
    ASSERT(wf);
    cs_warc_writer *w;
    cs_warc_writer_opts wo = {true, 0, NULL};
    ASSERT_OK(cs_warc_writer_new(&w, fileno(wf), 0, &wo));
    /* 1448 as a topic page: JSON in #data-preloaded, body chunked */
    json_t *topic = corpus_json("discourse/perceval/discourse_posts.json");
    json_object_set_new(topic, "id", json_integer(1448));
    char *tj = json_dumps(topic, JSON_COMPACT);
    json_t *store = json_pack("{s:s}", "topic_1448", tj);
    char *sj = json_dumps(store, JSON_COMPACT);
    cs_buf page;
    cs_buf_init(&page, 0);
    cs_buf_puts(&page, "<!DOCTYPE html><html><body><div id=\"data-preloaded\" data-preloaded=\"");
    for (const char *p = sj; *p; p++)
        if (*p == '"')
            cs_buf_puts(&page, "&quot;");
        else if (*p == '&')
            cs_buf_puts(&page, "&amp;");
        else
            cs_buf_putc(&page, *p);
    cs_buf_puts(&page, "\"></div></body></html>");
    warc_response(w, "https://forum.example/t/ibm-powervm-support/1448", "text/html", page.data,
                  true);
    /* 1149 as JSON, then again as a poorer crawler view (1 post): the JSON wins */
    char *t1149 = cs_test_read_file(cs_test_corpus("discourse/perceval/discourse_topic_1149.json"), NULL);
    warc_response(w, "https://forum.example/t/1149.json", "application/json", t1149, false);
    warc_response(w, "https://forum.example/t/support/1149", "text/html",
                  "<div id=\"post_1\"><span itemprop=\"name\">x</span><div itemprop=\"text\">"
                  "<p>y</p></div></div>",
                  false);
    warc_response(w, "https://forum.example/robots.txt", "text/plain", "User-agent: *\n", false);
    warc_response(w, "https://forum.example/t/1151.json", "application/json", "{\"post_stream\":", false);
    cs_warc_writer_free(w);
    fclose(wf);
    cs_free(t1149);
    free(tj);
    free(sj);
    json_decref(store);
    json_decref(topic);
    cs_buf_cleanup(&page);

    char out[1024];
    snprintf(out, sizeof out, "%s/out", dir);
    cs_forum_opts o;
    cs_forum_opts_init(&o);
    o.out_dir = out;
    cs_forum_stats st;
    const char *paths[] = {wpath};
    ASSERT_OK(cs_forum_from_warc(&o, paths, 1, &st, NULL, 0));
    ASSERT_EQ(st.topics_done, 2);
    ASSERT_EQ(st.topics_from_html, 2);
    ASSERT_EQ(st.topics_unchanged, 1);
    ASSERT_EQ(st.topics_failed, 1);
    ASSERT_EQ(st.bad_json, 1);
    json_t *j = load_out(out, "1448.json");
    ASSERT_STR_EQ(json_string_value(json_object_get(j, "url")),
                  "https://forum.example/t/ibm-powervm-support/1448");
    const char *conv = json_string_value(json_object_get(j, "conversations"));
    ASSERT(!strncmp(conv, "\n<# kincl #>:\nHi,\n\nI was wondering", 33));
    ASSERT_CONTAINS(conv, "\n<# hantao #>:\nyes,Ovirt/RHEV can support Power8 .");
    json_decref(j);
    j = load_out(out, "1149.json");
    ASSERT_EQ(json_array_size(json_object_get(j, "posts")), 2);
    json_decref(j);

    /* the command */
    char args[2048];
    snprintf(args, sizeof args, "forum --warc %s --out %s/cli --format chatml", wpath, dir);
    char *so = NULL, *se = NULL;
    ASSERT_EQ(cs_test_crawlset(args, &so, &se), 1); /* 1151 failed */
    ASSERT_CONTAINS(se, "2 topics written");
    cs_free(so);
    cs_free(se);
    snprintf(args, sizeof args, "forum --warc --out %s/cli", dir);
    ASSERT_EQ(cs_test_crawlset(args, &so, &se), 2);
    cs_free(so);
    cs_free(se);
}
