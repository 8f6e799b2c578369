/* crawlset/forum.h - forum conversations from Discourse sites, through
 * Discourse's own JSON API (what chats-crawler does with a headless browser).
 *
 * Crawl: topic lists from /latest.json?page=N (or /c/SLUG[/ID].json?page=N)
 * until a page has no more_topics_url (or no topics); each kept topic from
 * /t/ID.json; the posts not in its first chunk from
 * /t/ID/posts.json?post_ids[]=... in batches of the topic's chunk_size,
 * following post_stream.stream, so that every post is fetched once, in
 * order. Requests go through the polite fetcher (fetch.h): robots.txt,
 * X-Robots-Tag, one request per second per site by default, Retry-After on
 * 429 (a 429 that outlasts the fetcher's retries is requeued, up to 3
 * times), exponential backoff on 5xx. A topic answered with HTML instead of
 * JSON is read from the JSON embedded in the page (#data-preloaded), else
 * from the crawler view's post HTML.
 *
 * Output in out_dir: ID.json per topic (title, url, conversations as
 * chats-crawler writes them: "\n<# NAME #>:\n" + text per post, NAME being
 * the username followed by the display name when it differs; plus images,
 * links and posts[] with author, username, created_at, post_number,
 * reply_to_post_number, text, images, links), imgs/ with each image once,
 * named by the first 32 hex digits of its sha256 and its original extension
 * (checked with cs_image_probe: what is not a readable image is not kept),
 * and state.jsonl: one line per finished topic (id, highest_post_number)
 * and per saved image (url, file). A rerun reads it and fetches only new
 * topics and topics whose highest_post_number grew; images already saved
 * are not fetched again. Files are written under a temporary name and
 * renamed.
 *
 * Depends on: util, net (fetch, robots), html, image, warc (sha256);
 * jansson, PCRE2. */
#ifndef CRAWLSET_FORUM_H
#define CRAWLSET_FORUM_H

#include "crawlset/fetch.h"
#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_forum_format {
    CS_FORUM_CHATS,    /* conversations as one string (chats-crawler) */
    CS_FORUM_CHATML,   /* + "messages": [{"role": "user"|"assistant", "content"}] */
    CS_FORUM_SHAREGPT  /* "conversations": [{"from": "human"|"gpt", "value"}],
                          the string moves to "conversations_text" */
} cs_forum_format;

typedef struct cs_forum_opts {
    const char *site;          /* base URL, e.g. "https://discuss.example.org" (required) */
    const char *out_dir;       /* output directory, created if missing (required) */
    const char *match;         /* PCRE2 pattern a topic URL (SITE/t/SLUG/ID) must match;
                                  NULL = every topic */
    size_t max_topics;         /* topics fetched at most (0 = no limit) */
    const char *since;         /* ISO date: skip topics whose last post is older (NULL) */
    const char *category;      /* "SLUG" or "SLUG/ID": list that category (NULL = latest) */
    cs_forum_format format;
    const char *const *assistants; /* usernames mapped to assistant (NULL-terminated);
                                      NULL = everyone but the opener */
    double rate;               /* requests per second to the site (default 1; 0 = no limit) */
    bool images;               /* download images (default true) */
    size_t topics_in_flight;   /* topics held at once (default 16) */
    size_t max_text;           /* text bytes kept per post (default 1 MiB) */
    cs_fetch_opts fetch;       /* fetcher options (robots.txt, UA, timeouts, resolve);
                                  per_host and host_delay are set from rate */
} cs_forum_opts;

/* Fills *o with the defaults above (fetch with cs_fetch_opts_init). */
CS_API void cs_forum_opts_init(cs_forum_opts *o);

typedef struct cs_forum_stats {
    uint64_t list_pages;       /* topic list pages fetched */
    uint64_t topics_listed;    /* topics seen in the lists */
    uint64_t topics_skipped;   /* not matching --match / --since */
    uint64_t topics_unchanged; /* finished in an earlier run and not grown */
    uint64_t topics_done;      /* written */
    uint64_t topics_deleted;   /* 404/410 between list and fetch */
    uint64_t topics_refused;   /* robots.txt disallows them, or an X-Robots-Tag opt-out */
    uint64_t topics_failed;    /* other failures (see the log) */
    uint64_t list_failed;      /* list pages that failed (the listing stopped there) */
    uint64_t topics_from_html; /* read from an HTML page instead of JSON */
    uint64_t posts;            /* posts written */
    uint64_t post_batches;     /* posts.json requests */
    uint64_t images_saved;     /* image files written */
    uint64_t images_reused;    /* already saved (this run or an earlier one) */
    uint64_t images_failed;    /* not fetched or not an image */
    uint64_t bad_json;         /* responses that were not the JSON expected */
    uint64_t requeued_429;     /* requests requeued after 429 outlasted the retries */
    uint64_t requests;         /* HTTP requests made (fetcher count) */
} cs_forum_stats;

/* Crawls o->site into o->out_dir. Returns CS_OK when the crawl ran to its
 * end (topics may have failed: see stats), CS_EINVAL for bad options (bad
 * regex, no site), CS_EIO when the output cannot be written, CS_ENOMEM, or
 * the fetcher's fatal status. errmsg (may be NULL) gets a message. */
CS_API CS_WARN_UNUSED cs_status cs_forum_crawl(const cs_forum_opts *o,
                                               cs_forum_stats *stats /* OUT, may be NULL */,
                                               char *errmsg, size_t errcap);

/* Offline: topics from the response (or resource) records of WARC files
 * paths[0..npaths) whose target URI is a topic URL (/t/SLUG/ID, /t/ID.json,
 * ...) and matches o->match: the topic JSON, or the topic page read as
 * cs_forum_topic_from_html does. Output and state as cs_forum_crawl (site,
 * rate, fetch and images are not used: images stay "[img URL]"); posts the
 * record does not carry are not fetched. A topic archived several times is
 * written from the record with the most posts. Errors as cs_forum_crawl
 * (CS_EIO also for an unreadable WARC); malformed records are skipped and
 * counted. */
CS_API CS_WARN_UNUSED cs_status cs_forum_from_warc(const cs_forum_opts *o,
                                                   const char *const *paths, size_t npaths,
                                                   cs_forum_stats *stats /* OUT, may be NULL */,
                                                   char *errmsg, size_t errcap);

/* Reads a Discourse topic page's HTML: the topic JSON embedded in
 * #data-preloaded (its "topic_ID" entry) when present, else a topic JSON
 * built from the crawler view (div.crawler-post: post number, author,
 * time, cooked HTML). *json_out gets a NUL-terminated JSON text (free with
 * cs_free). CS_ENOTFOUND when the page has neither; CS_ENOMEM. */
CS_API CS_WARN_UNUSED cs_status cs_forum_topic_from_html(const char *html, size_t len,
                                                         char **json_out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
