/* cmd_forum.c - `crawlset forum`: a Discourse site's topics as conversation
 * JSON files (chats-crawler's output through the JSON API). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crawlset/forum.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: crawlset forum URL --out DIR [OPTIONS]\n"
            "       crawlset forum --warc FILE.warc[.gz]... --out DIR [OPTIONS]\n"
            "\n"
            "Crawls a Discourse forum through its JSON API: topic lists, topics, every\n"
            "post once, in order; writes DIR/ID.json per topic (title, url,\n"
            "conversations as chats-crawler writes them, images, links, posts[]) and\n"
            "DIR/imgs/ (each image once, named by content hash). DIR/state.jsonl makes\n"
            "reruns fetch only new topics and topics that grew.\n"
            "With --warc, topics come from archived responses instead (topic JSON or\n"
            "topic pages, read from #data-preloaded or the crawler view); nothing is\n"
            "fetched.\n"
            "\n"
            "  --warc                     the arguments are WARC files, not a site URL\n"
            "  --out DIR                  output directory (required)\n"
            "  --match REGEX              keep topics whose URL (URL/t/SLUG/ID) matches (PCRE2)\n"
            "  --max-topics N             fetch at most N topics\n"
            "  --since DATE               skip topics whose last post is older (ISO 8601)\n"
            "  --category SLUG[/ID]       list one category instead of /latest\n"
            "  --format F                 chats (default), chatml (+messages), sharegpt\n"
            "  --assistant USER,...       these users are the assistant (default: everyone\n"
            "                             but the topic's opener)\n"
            "  --rate R                   requests per second to the site (default 1; 0 = no\n"
            "                             limit)\n"
            "  --no-images                do not download images\n"
            "  --topics-in-flight N       topics open at once (default 16)\n"
            "  --per-host N               requests in flight per host when --rate 0 (default 16)\n"
            "  --no-robots                do not fetch or obey robots.txt\n"
            "  --user-agent UA            default names crawlset with a contact URL\n"
            "  --timeout S                per request (default 30)\n"
            "  --retries N                retries on errors, 5xx, 429 (default 3)\n"
            "  --resolve HOST:PORT:ADDR   resolve HOST:PORT to ADDR (repeatable; tests)\n"
            "\n"
            "Prints a summary line of counts on stderr. Exit codes: 0 every topic written\n"
            "(or deleted, refused by robots.txt, unchanged), 1 some topics or list pages\n"
            "failed (see the log), 2 usage error, 3 fatal error.\n");
}

enum { O_OUT = 256, O_MATCH, O_MAX, O_SINCE, O_CAT, O_FMT, O_ASSIST, O_RATE, O_NOIMG, O_TIF,
       O_NOROBOTS, O_UA, O_TIMEOUT, O_RETRIES, O_RESOLVE, O_PERHOST, O_WARC };

static const struct option LONGOPTS[] = {
    {"out", required_argument, NULL, O_OUT},
    {"match", required_argument, NULL, O_MATCH},
    {"max-topics", required_argument, NULL, O_MAX},
    {"since", required_argument, NULL, O_SINCE},
    {"category", required_argument, NULL, O_CAT},
    {"format", required_argument, NULL, O_FMT},
    {"assistant", required_argument, NULL, O_ASSIST},
    {"rate", required_argument, NULL, O_RATE},
    {"no-images", no_argument, NULL, O_NOIMG},
    {"topics-in-flight", required_argument, NULL, O_TIF},
    {"per-host", required_argument, NULL, O_PERHOST},
    {"warc", no_argument, NULL, O_WARC},
    {"no-robots", no_argument, NULL, O_NOROBOTS},
    {"user-agent", required_argument, NULL, O_UA},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"retries", required_argument, NULL, O_RETRIES},
    {"resolve", required_argument, NULL, O_RESOLVE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool num(const char *s, double *out)
{
    char *e;
    *out = strtod(s, &e);
    return *s && !*e && *out >= 0;
}

int cmd_forum(int argc, char **argv)
{
    cs_forum_opts o;
    cs_forum_opts_init(&o);
    const char *resolve[17] = {0};
    int nresolve = 0;
    char *assist_copy = NULL;
    const char *assist[65] = {0};
    double d;
    bool warc = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", LONGOPTS, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case 'h': usage(stdout); return 0;
        case O_OUT: o.out_dir = a; break;
        case O_MATCH: o.match = a; break;
        case O_MAX:
            if (!num(a, &d)) goto bad;
            o.max_topics = (size_t)d;
            break;
        case O_SINCE: o.since = a; break;
        case O_CAT: o.category = a; break;
        case O_FMT:
            if (!strcmp(a, "chats")) o.format = CS_FORUM_CHATS;
            else if (!strcmp(a, "chatml")) o.format = CS_FORUM_CHATML;
            else if (!strcmp(a, "sharegpt")) o.format = CS_FORUM_SHAREGPT;
            else goto bad;
            break;
        case O_ASSIST: {
            free(assist_copy);
            assist_copy = strdup(a);
            if (!assist_copy)
                cli_die("out of memory");
            int n = 0;
            for (char *save = NULL, *t = strtok_r(assist_copy, ",", &save); t && n < 64;
                 t = strtok_r(NULL, ",", &save))
                assist[n++] = t;
            assist[n] = NULL;
            o.assistants = assist;
            break;
        }
        case O_RATE:
            if (!num(a, &o.rate)) goto bad;
            break;
        case O_NOIMG: o.images = false; break;
        case O_TIF:
            if (!num(a, &d) || d < 1) goto bad;
            o.topics_in_flight = (size_t)d;
            break;
        case O_PERHOST:
            if (!num(a, &d) || d < 1) goto bad;
            o.fetch.per_host = (int)d;
            break;
        case O_WARC: warc = true; break;
        case O_NOROBOTS: o.fetch.ignore_robots_txt = true; break;
        case O_UA: o.fetch.user_agent = a; break;
        case O_TIMEOUT:
            if (!num(a, &o.fetch.timeout)) goto bad;
            break;
        case O_RETRIES:
            if (!num(a, &d)) goto bad;
            o.fetch.retries = (int)d;
            break;
        case O_RESOLVE:
            if (nresolve < 16)
                resolve[nresolve++] = a;
            o.fetch.resolve = resolve;
            break;
        default: usage(stderr); free(assist_copy); return 2;
        }
        continue;
    bad:
        cli_err("forum: bad value for %s: '%s'", argv[optind - 1], a ? a : "");
        free(assist_copy);
        return 2;
    }
    if (warc ? optind >= argc || !o.out_dir : optind != argc - 1 || !o.out_dir) {
        cli_err(warc ? "forum: need WARC files and --out DIR (see --help)"
                     : "forum: need one URL and --out DIR (see --help)");
        free(assist_copy);
        return 2;
    }
    cs_forum_stats st;
    char msg[512];
    cs_status rc;
    if (warc) {
        rc = cs_forum_from_warc(&o, (const char *const *)argv + optind, (size_t)(argc - optind),
                                &st, msg, sizeof msg);
        goto report;
    }
    o.site = argv[optind];
    if (strncmp(o.site, "http://", 7) && strncmp(o.site, "https://", 8)) {
        cli_err("forum: URL must start with http:// or https://: '%s'", o.site);
        free(assist_copy);
        return 2;
    }
    rc = cs_forum_crawl(&o, &st, msg, sizeof msg);
report:
    fprintf(stderr,
            "forum: %llu topics written, %llu unchanged, %llu skipped, %llu deleted, %llu "
            "refused (robots.txt/opt-out), %llu failed, %llu from HTML; %llu posts in %llu "
            "batches; images %llu saved, %llu reused, %llu failed; %llu list pages (%llu "
            "failed), %llu requests, %llu bad JSON, %llu 429 requeues\n",
            (unsigned long long)st.topics_done, (unsigned long long)st.topics_unchanged,
            (unsigned long long)st.topics_skipped, (unsigned long long)st.topics_deleted,
            (unsigned long long)st.topics_refused, (unsigned long long)st.topics_failed,
            (unsigned long long)st.topics_from_html,
            (unsigned long long)st.posts, (unsigned long long)st.post_batches,
            (unsigned long long)st.images_saved, (unsigned long long)st.images_reused,
            (unsigned long long)st.images_failed, (unsigned long long)st.list_pages,
            (unsigned long long)st.list_failed, (unsigned long long)st.requests, (unsigned long long)st.bad_json,
            (unsigned long long)st.requeued_429);
    free(assist_copy);
    if (rc == CS_EINVAL) {
        cli_err("%s", msg[0] ? msg : cs_strerror(rc));
        return 2;
    }
    if (rc) {
        cli_err("%s", msg[0] ? msg : cs_strerror(rc));
        return 3;
    }
    return st.topics_failed || st.list_failed ? 1 : 0;
}
