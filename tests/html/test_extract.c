/* test_extract.c - Discourse cooked HTML to text: real posts from the
 * corpus (quotes, oneboxes, lightbox images) and the rules one by one. */
#include <jansson.h>

#include "../test.h"

static char *render(const char *html, const char *base, cs_html_post *p)
{
    cs_html_post_init(p);
    bool cut = true;
    ASSERT_OK(cs_html_post_extract(html, strlen(html), base, 0, NULL, NULL, p, &cut));
    ASSERT(!cut);
    return p->text.data ? p->text.data : "";
}

TEST(extract_rules)
{
    cs_html_post p;
    const char *html =
        "<p>Hello <strong>big</strong>\n  world <img src=\"/images/emoji/twitter/smile.png\" "
        "class=\"emoji\" alt=\":smile:\"></p>\n<p>line one<br>line two</p>"
        "<pre><code>int  main() {\n    return 0;\n}\n</code></pre>"
        "<p>see <a href=\"https://example.org/x?a=1&amp;b=2\">this page</a> and "
        "<a class=\"mention\" href=\"/u/bob\">@bob</a></p>"
        "<aside class=\"quote\" data-username=\"alice\" data-post=\"2\"><div class=\"title\">"
        "<div class=\"quote-controls\"></div><img class=\"avatar\" src=\"/a.png\"> alice:</div>"
        "<blockquote><p>quoted  text</p></blockquote></aside>"
        "<aside class=\"onebox\" data-onebox-src=\"https://news.example/story\"><header>news"
        "</header><article class=\"onebox-body\"><img src=\"https://news.example/t.png\"><h3>"
        "Story</h3></article></aside>"
        "<p><div class=\"lightbox-wrapper\"><a class=\"lightbox\" href=\"//cdn.example/orig/a.png\" "
        "title=\"a.png\"><img src=\"//cdn.example/opt/a_690x300.png\" width=\"690\"><div "
        "class=\"meta\"><span class=\"filename\">a.png</span><span class=\"informations\">"
        "1043x469 27 KB</span></div></a></div></p><p>bye &amp; thanks</p>";
    char *t = render(html, "https://forum.example/t/slug/7", &p);
    ASSERT_STR_EQ(t, "Hello big world :smile:\n\nline one\nline two\n\n"
                     "int  main() {\n    return 0;\n}\n\n"
                     "see [link https://example.org/x?a=1&b=2] and @bob\n\n"
                     "Quote:\"quoted text\"\n\n"
                     "[link https://news.example/story]\n\n"
                     "[img https://cdn.example/orig/a.png]\n\nbye & thanks");
    ASSERT_EQ(p.nimages, 1);
    ASSERT_STR_EQ(p.images[0], "https://cdn.example/orig/a.png");
    ASSERT_EQ(p.nlinks, 2);
    ASSERT_STR_EQ(p.links[0], "https://example.org/x?a=1&b=2");
    ASSERT_STR_EQ(p.links[1], "https://news.example/story");
    cs_html_post_cleanup(&p);
}

static bool name_it(void *ud, const char *url, cs_buf *out)
{
    (void)ud;
    if (!strstr(url, "orig"))
        return false;
    cs_buf_puts(out, "abc123.png");
    return true;
}

TEST(extract_image_names_and_limits)
{
    cs_html_post p;
    cs_html_post_init(&p);
    const char *h = "<p>a <img src=\"http://x/orig.png\"> b <img src=\"http://x/other.jpg\"></p>";
    ASSERT_OK(cs_html_post_extract(h, strlen(h), NULL, 0, name_it, NULL, &p, NULL));
    ASSERT_STR_EQ(p.text.data, "a [img abc123.png] b [img http://x/other.jpg]");
    cs_html_post_cleanup(&p);

    /* data: images and javascript: links are dropped */
    h = "<p>x <img src=\"data:image/png;base64,iVBORw0KGgo=\"> <a href=\"javascript:alert(1)\">y</a>"
        " <a href=\"mailto:a@b.example\">m</a></p>";
    cs_html_post_init(&p);
    ASSERT_OK(cs_html_post_extract(h, strlen(h), NULL, 0, NULL, NULL, &p, NULL));
    ASSERT_STR_EQ(p.text.data, "x [link mailto:a@b.example]");
    ASSERT_EQ(p.nimages, 0);
    ASSERT_EQ(p.nlinks, 1);
    cs_html_post_cleanup(&p);

    /* text is cut at max_text, and the cut is reported */
    cs_buf big;
    cs_buf_init(&big, 0);
    for (int i = 0; i < 10000; i++)
        cs_buf_puts(&big, "<p>word word word</p>");
    cs_html_post_init(&p);
    bool cut = false;
    ASSERT_OK(cs_html_post_extract(big.data, big.len, NULL, 1000, NULL, NULL, &p, &cut));
    ASSERT(cut);
    ASSERT(p.text.len <= 1000);
    cs_html_post_cleanup(&p);
    cs_buf_cleanup(&big);
}

TEST(extract_real_discourse_posts)
{
    json_error_t jerr;
    json_t *root = json_load_file(cs_test_corpus("discourse/perceval/discourse_topic_1148.json"),
                                  0, &jerr);
    ASSERT(root);
    json_t *posts = json_object_get(json_object_get(root, "post_stream"), "posts");
    ASSERT_EQ(json_array_size(posts), 20);
    const char *base = "https://discourse.mozilla-community.org/t/1148";
    cs_html_post p;

    /* post 1: text and an onebox reduced to its link */
    const char *c1 = json_string_value(json_object_get(json_array_get(posts, 0), "cooked"));
    char *t = render(c1, base, &p);
    ASSERT_STR_EQ(t, "This is the new support and feedback thread for uBlock Origin\n\n"
                     "[link https://addons.mozilla.org/en-US/firefox/addon/ublock-origin/]");
    ASSERT_EQ(p.nimages, 0);
    cs_html_post_cleanup(&p);

    /* post 4: two quotes without the quote title */
    const char *c4 = json_string_value(json_object_get(json_array_get(posts, 3), "cooked"));
    t = render(c4, base, &p);
    const char *want4 = "Quote:\"Is \"reply\" the only option to ask a question?\"\n\nI think it is.";
    ASSERT(!strncmp(t, want4, strlen(want4)));
    ASSERT(!strstr(t, "noisycitytoonoisy"));
    ASSERT(!strstr(t, "avatar"));
    ASSERT_CONTAINS(t, "Quote:\"Is there a keyboard shortcut to open the element-picker-mode?\"");
    ASSERT_CONTAINS(t, "[link https://github.com/chrisaljoudi/uBlock/issues/256]");
    cs_html_post_cleanup(&p);

    /* post 2: lightbox images are named by their full-size link, chrome dropped */
    const char *c2 = json_string_value(json_object_get(json_array_get(posts, 1), "cooked"));
    t = render(c2, base, &p);
    ASSERT(p.nimages >= 1);
    ASSERT(!strncmp(p.images[0], "https://csa-discourse-uploads.s3-us-west-1.amazonaws.com/original/",
                    66));
    ASSERT(!strstr(t, "KB")); /* the lightbox's size line */
    ASSERT_CONTAINS(t, "Quote:\"On money.cnn.com");
    cs_html_post_cleanup(&p);
    json_decref(root);
}

/* Every cooked post of the API docs' /posts.json example (25 real posts:
 * headings, lists, emoji, images, fragment links): text without markup,
 * emoji as alt text, images and relative links resolved. */
TEST(extract_api_docs_latest_posts)
{
    json_error_t jerr;
    json_t *root = json_load_file(
        cs_test_corpus("discourse/discourse_api_docs/definitions/posts/posts.json"), 0, &jerr);
    ASSERT(root);
    json_t *posts = json_object_get(root, "latest_posts");
    ASSERT_EQ(json_array_size(posts), 25);
    size_t i;
    json_t *p;
    bool saw_emoji = false, saw_img = false;
    json_array_foreach(posts, i, p)
    {
        const char *cooked = json_string_value(json_object_get(p, "cooked"));
        cs_html_post hp;
        char *t = render(cooked, "https://forum.example/t/x/1", &hp);
        ASSERT(strlen(t) > 0);
        ASSERT(!strstr(t, "<p>") && !strstr(t, "</") && !strstr(t, "<img"));
        ASSERT(!strstr(t, "&amp;") && !strstr(t, "\n\n\n"));
        if (strstr(t, ":confetti_ball:"))
            saw_emoji = true;
        for (size_t k = 0; k < hp.nimages; k++)
            if (!strcmp(hp.images[k],
                        "https://www.discourse.org/images/welcome/welcome-to-discourse-hosting-690x314.jpg"))
                saw_img = true;
        for (size_t k = 0; k < hp.nlinks; k++)
            ASSERT(!strncmp(hp.links[k], "http", 4) || !strncmp(hp.links[k], "mailto:", 7));
        cs_html_post_cleanup(&hp);
    }
    ASSERT(saw_emoji);
    ASSERT(saw_img);
    json_decref(root);
}
