/* test_robots.c - robots.txt parsing and matching: the RFC 9309 examples
 * written out as test data, Google's robotstxt-spec-test conformance cases
 * (read from their textproto files), and the crawler-commons robots files
 * (all parse; expectations derived from the RFC rules). */
#include <ctype.h>
#include <dirent.h>

#include "test.h"

#include "crawlset/robots.h"

typedef struct expect {
    const char *agent;
    const char *path;
    bool allowed;
} expect;

static cs_robots *parse(const char *txt)
{
    cs_robots *r;
    ASSERT_OK(cs_robots_parse(txt, strlen(txt), &r));
    return r;
}

static void check_all(const char *what, const cs_robots *r, const expect *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool got = cs_robots_allowed(r, e[i].agent, e[i].path, strlen(e[i].path));
        if (got != e[i].allowed)
            FAIL("%s: agent \"%s\" path \"%s\": got %s, want %s", what, e[i].agent, e[i].path,
                 got ? "allowed" : "disallowed", e[i].allowed ? "allowed" : "disallowed");
    }
}

#define CHECK_ALL(what, r, tab) check_all(what, r, tab, sizeof tab / sizeof *tab)

/* ---- RFC 9309 examples ----------------------------------------------------------- */

/* Section 5.1, "Simple Example". */
static const char RFC_SIMPLE[] = "User-Agent: *\n"
                                 "Disallow: *.gif$\n"
                                 "Disallow: /example/\n"
                                 "Allow: /publications/\n"
                                 "\n"
                                 "User-Agent: foobot\n"
                                 "Disallow:/\n"
                                 "Allow:/example/page.html\n"
                                 "Allow:/example/allowed.gif\n"
                                 "\n"
                                 "User-Agent: barbot\n"
                                 "User-Agent: bazbot\n"
                                 "Disallow: /example/page.html\n"
                                 "\n"
                                 "User-Agent: quxbot\n"
                                 "\n"
                                 "EOF\n";

TEST(robots_rfc9309_simple_example)
{
    static const expect E[] = {
        /* foobot: only the two allowed paths */
        {"foobot", "/example/page.html", true},
        {"foobot", "/example/allowed.gif", true},
        {"foobot", "/", false},
        {"foobot", "/publications/", false},
        {"foobot", "/example/other.html", false},
        {"FooBot", "/x", false},
        /* barbot and bazbot share a group; the "*" group does not apply to them */
        {"barbot", "/example/page.html", false},
        {"bazbot", "/example/page.html", false},
        {"barbot", "/example/", true},
        {"bazbot", "/a.gif", true},
        /* quxbot has an empty group: everything allowed */
        {"quxbot", "/example/", true},
        {"quxbot", "/a.gif", true},
        /* everyone else: the "*" group */
        {"otherbot", "/a.gif", false},
        {"otherbot", "/dir/b.gif", false},
        {"otherbot", "/dir/b.gif?x=1", true}, /* $ anchors at the end */
        {"otherbot", "/example/", false},
        {"otherbot", "/example/page.html", false},
        {"otherbot", "/publications/", true},
        {"otherbot", "/publications/a.gif", true}, /* "/publications/" is the longer pattern */
        {"otherbot", "/", true},
        {"otherbot", "/robots.txt", true},
    };
    cs_robots *r = parse(RFC_SIMPLE);
    CHECK_ALL("RFC 9309 5.1", r, E);
    cs_robots_info info;
    cs_robots_info_get(r, &info);
    ASSERT_EQ(info.groups, 4);
    ASSERT_EQ(info.agents, 5);
    ASSERT_EQ(info.rules, 7);
    cs_robots_free(r);
}

/* Section 5.2, "Longest Match". */
TEST(robots_rfc9309_longest_match)
{
    static const expect E[] = {
        {"foobot", "/example/page/disallowed.gif", false},
        {"foobot", "/example/page/", true},
        {"foobot", "/example/page/other.gif", true},
        {"foobot", "/example/", true}, /* no rule matches */
    };
    cs_robots *r = parse("User-Agent: foobot\n"
                         "Allow: /example/page/\n"
                         "Disallow: /example/page/disallowed.gif\n");
    CHECK_ALL("RFC 9309 5.2", r, E);
    cs_robots_free(r);
}

/* Section 2.2.1: groups naming the same agent are merged; the agent is
 * matched case-insensitively by its product token; "*" only when no group
 * names the agent. */
TEST(robots_rfc9309_group_merging)
{
    static const expect E[] = {
        {"ExampleBot", "/foo", false}, {"examplebot", "/bar", false},
        {"EXAMPLEBOT", "/baz", false}, {"ExampleBot", "/qux", true},
        {"BazBot", "/baz", false},     {"BazBot", "/foo", true},
        {"OtherBot", "/foo", false},   {"OtherBot", "/baz", true},
    };
    cs_robots *r = parse("user-agent: ExampleBot\n"
                         "disallow: /foo\n"
                         "disallow: /bar\n"
                         "\n"
                         "user-agent: ExampleBot\n"
                         "disallow: /baz\n"
                         "\n"
                         "user-agent: *\n"
                         "disallow: /foo\n"
                         "disallow: /bar\n"
                         "\n"
                         "user-agent: BazBot/2.1\n" /* a version after the token */
                         "disallow: /baz\n");
    CHECK_ALL("RFC 9309 2.2.1", r, E);
    cs_robots_free(r);
}

/* Sections 2.2.2 and 2.2.3: percent-encoding and the special characters. */
TEST(robots_rfc9309_encoding_and_special_chars)
{
    static const expect E[] = {
        /* 2.2.2's table: the rule is encoded, the path is given encoded */
        {"foobot", "/foo/bar?baz=quz", true},
        {"foobot", "/foo/bar/%E3%83%84", true},
        {"foobot", "/foo/bar/%e3%83%84", true}, /* hex case does not matter */
        {"foobot", "/foo/bar/%62%61%7A", true},
        {"foobot", "/foo/bar/baz", false},      /* escapes are not decoded */
        {"foobot", "/foo/bar/other", false},
        /* 2.2.3: '#' comment, '$' end, '*' any */
        {"foobot", "/this/path/exactly", true},
        {"foobot", "/this/path/exactly/not", false},
        {"foobot", "/that/a/b/exactly", true},
        {"foobot", "/that/a/b/exactly/too", true}, /* no '$': a prefix match */
        {"foobot", "/that/exactly", false},
        {"foobot", "/commented", false},
    };
    cs_robots *r = parse("User-agent: foobot\n"
                         "Disallow: /\n"
                         "Allow: /foo/bar?baz=quz\n"
                         "Allow: /foo/bar/\xE3\x83\x84\n"
                         "Allow: /foo/bar/%62%61%7A\n"
                         "Allow: /this/path/exactly$\n"
                         "Allow: /that/*/exactly # comment\n"
                         "# Allow: /commented\n");
    CHECK_ALL("RFC 9309 2.2.2/2.2.3", r, E);
    cs_robots_free(r);
}

/* Details the RFC states in prose: line ends, BOM, blank lines inside a
 * group, records that do not end a group, empty values, ties. */
TEST(robots_rfc9309_details)
{
    const char *variants[] = {
        "User-agent: a\nDisallow: /x\n",
        "User-agent: a\r\nDisallow: /x\r\n",
        "User-agent: a\rDisallow: /x\r",
        "\xEF\xBB\xBFUser-agent: a\nDisallow: /x",
        "user-agent:a\n\n\n# c\ndisallow:/x   \n",
        "  User-Agent  :  a  \n\tDISALLOW\t:\t/x\n",
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        cs_robots *r = parse(variants[i]);
        ASSERT(!cs_robots_allowed(r, "a", "/x", 2));
        ASSERT(!cs_robots_allowed(r, "a", "/xy", 3));
        ASSERT(cs_robots_allowed(r, "a", "/y", 2));
        ASSERT(cs_robots_allowed(r, "b", "/x", 2));
        cs_robots_free(r);
    }
    static const expect E[] = {
        {"a", "/p", true},       /* allow wins a tie */
        {"b", "/q", false},      /* crawl-delay and sitemap do not end the agent list */
        {"c", "/q", false},
        {"a", "/anything", true} /* "Disallow:" with no value matches nothing */
    };
    cs_robots *r = parse("Disallow: /before-any-group\n"
                         "User-agent: a\n"
                         "Disallow: /p\n"
                         "Allow: /p\n"
                         "Disallow:\n"
                         "User-agent: b\n"
                         "Crawl-delay: 2.5\n"
                         "Sitemap: https://example.com/sitemap.xml\n"
                         "User-agent: c\n"
                         "Disallow: /q\n");
    CHECK_ALL("details", r, E);
    ASSERT(cs_robots_crawl_delay(r, "b") == 2.5);
    ASSERT(cs_robots_crawl_delay(r, "c") == 2.5);
    ASSERT(cs_robots_crawl_delay(r, "a") == -1);
    ASSERT(cs_robots_allowed(r, "zzz", "/before-any-group", 17));
    cs_robots_free(r);
    /* no file, empty file: everything allowed */
    ASSERT(cs_robots_allowed(NULL, "a", "/", 1));
    r = parse("");
    ASSERT(cs_robots_allowed(r, "a", "/", 1));
    cs_robots_free(r);
}

TEST(robots_size_limit_500k)
{
    /* a rule past 500 KiB is not parsed; the line cut at the limit is dropped */
    size_t n = CS_ROBOTS_MAX_BYTES + 4096;
    char *big = cs_malloc(n + 64);
    size_t o = (size_t)sprintf(big, "User-agent: *\nDisallow: /early\n");
    while (o < CS_ROBOTS_MAX_BYTES - 10)
        big[o++] = '#';
    o += (size_t)sprintf(big + o, "\nDisallow: /cut-in-two-by-the-limit\n");
    while (o < n)
        big[o++] = '\n';
    o += (size_t)sprintf(big + o, "Disallow: /late\n");
    cs_robots *r;
    ASSERT_OK(cs_robots_parse(big, o, &r));
    cs_robots_info info;
    cs_robots_info_get(r, &info);
    ASSERT(info.truncated);
    ASSERT(info.bytes <= CS_ROBOTS_MAX_BYTES);
    ASSERT(!cs_robots_allowed(r, "x", "/early", 6));
    ASSERT(cs_robots_allowed(r, "x", "/late", 5));
    ASSERT(cs_robots_allowed(r, "x", "/cut", 4));
    cs_robots_free(r);
    cs_free(big);
}

TEST(robots_wildcards_linear_time)
{
    /* many stars against a long path: must not backtrack exponentially */
    char pat[4200], path[9000];
    size_t o = (size_t)sprintf(pat, "User-agent: *\nDisallow: /");
    for (int i = 0; i < 1000; i++)
        o += (size_t)sprintf(pat + o, "*a");
    sprintf(pat + o, "*b$\n");
    path[0] = '/';
    memset(path + 1, 'a', sizeof path - 1);
    cs_robots *r = parse(pat);
    double t0 = cs_now();
    for (int i = 0; i < 100; i++)
        ASSERT(cs_robots_allowed(r, "x", path, sizeof path));
    path[sizeof path - 1] = 'b';
    ASSERT(!cs_robots_allowed(r, "x", path, sizeof path));
    ASSERT(cs_now() - t0 < 2.0);
    cs_robots_free(r);
}

/* ---- Google's robotstxt-spec-test ---------------------------------------------------- */

/* A tokenizer for the protobuf text format as these files use it:
 * identifiers, punctuation, "strings" with C escapes, '#' comments. */
typedef struct tp {
    const char *p, *end;
    char tok[4096]; /* identifier or decoded string (NUL-terminated, may hold NULs) */
    size_t toklen;
    char kind;      /* 'i' identifier, 's' string, or the punctuation char; 0 at end */
} tp;

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

static void tp_next(tp *t)
{
    for (;;) {
        while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
            t->p++;
        if (t->p < t->end && *t->p == '#') {
            while (t->p < t->end && *t->p != '\n')
                t->p++;
            continue;
        }
        break;
    }
    t->toklen = 0;
    if (t->p >= t->end) {
        t->kind = 0;
        return;
    }
    char c = *t->p;
    if (c == '"' || c == '\'') {
        t->kind = 's';
        t->p++;
        while (t->p < t->end && *t->p != c) {
            char ch = *t->p++;
            if (ch == '\\' && t->p < t->end) {
                char e = *t->p++;
                switch (e) {
                case 'n': ch = '\n'; break;
                case 'r': ch = '\r'; break;
                case 't': ch = '\t'; break;
                case 'x': {
                    int v = 0, k = 0;
                    while (k < 2 && t->p < t->end && isxdigit((unsigned char)*t->p)) {
                        v = v * 16 + hexval(*t->p++);
                        k++;
                    }
                    ch = (char)v;
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        int v = e - '0', k = 1;
                        while (k < 3 && t->p < t->end && *t->p >= '0' && *t->p <= '7') {
                            v = v * 8 + (*t->p++ - '0');
                            k++;
                        }
                        ch = (char)v;
                    } else {
                        ch = e; /* \" \\ \' */
                    }
                }
            }
            if (t->toklen + 1 < sizeof t->tok)
                t->tok[t->toklen++] = ch;
        }
        t->p++; /* closing quote */
    } else if (isalnum((unsigned char)c) || c == '_') {
        t->kind = 'i';
        while (t->p < t->end && (isalnum((unsigned char)*t->p) || *t->p == '_')) {
            if (t->toklen + 1 < sizeof t->tok)
                t->tok[t->toklen++] = *t->p;
            t->p++;
        }
    } else {
        t->kind = c;
        t->p++;
    }
    t->tok[t->toklen] = 0;
}

typedef struct spec_counts {
    int std_pass, std_fail, g_pass, g_fail;
} spec_counts;

/* Runs every expectation of one textproto file. */
static void run_spec_file(const char *path, const char *name, spec_counts *c)
{
    size_t n;
    char *data = cs_test_read_file(path, &n);
    tp t = {.p = data, .end = data + n};
    static char robots[65536];
    size_t robots_len = 0;
    char url[4096] = "", agent[256] = "", outcome[32] = "", type[32] = "";
    int depth = 0;
    char key[64] = "";
    tp_next(&t);
    while (t.kind) {
        if (t.kind == '{') {
            depth++;
            if (depth == 1)
                robots_len = 0;
            if (depth == 2)
                url[0] = agent[0] = outcome[0] = type[0] = 0;
            tp_next(&t);
        } else if (t.kind == '}') {
            if (depth == 2) {
                bool want = !strcmp(outcome, "ALLOWED");
                ASSERT(want || !strcmp(outcome, "DISALLOWED"));
                bool google = !strcmp(type, "GOOGLE_SPECIFIC");
                cs_robots *r;
                ASSERT_OK(cs_robots_parse(robots, robots_len, &r));
                bool got = cs_robots_allowed_url(r, agent, url, strlen(url));
                cs_robots_free(r);
                if (got == want) {
                    if (google)
                        c->g_pass++;
                    else
                        c->std_pass++;
                } else {
                    if (google)
                        c->g_fail++;
                    else
                        c->std_fail++;
                    printf("%s %s: agent \"%s\" url \"%s\": got %s, want %s\n",
                           google ? "GOOGLE_SPECIFIC differs" : "STANDARD FAILS", name, agent,
                           url, got ? "ALLOWED" : "DISALLOWED", outcome);
                }
            }
            depth--;
            tp_next(&t);
        } else if (t.kind == 'i') {
            snprintf(key, sizeof key, "%.63s", t.tok);
            tp_next(&t);
            if (t.kind == ':')
                tp_next(&t);
            if (t.kind == 's') {
                /* adjacent literals concatenate */
                bool first = true;
                while (t.kind == 's') {
                    if (!strcmp(key, "robotstxt")) {
                        if (first)
                            robots_len = 0;
                        ASSERT(robots_len + t.toklen < sizeof robots);
                        memcpy(robots + robots_len, t.tok, t.toklen);
                        robots_len += t.toklen;
                    } else if (!strcmp(key, "testurl") || !strcmp(key, "useragent")) {
                        char *dst = key[0] == 't' ? url : agent;
                        size_t cap = key[0] == 't' ? sizeof url : sizeof agent;
                        size_t have = first ? 0 : strlen(dst);
                        snprintf(dst + have, cap - have, "%s", t.tok);
                    }
                    first = false;
                    tp_next(&t);
                }
            } else if (t.kind == 'i') {
                if (!strcmp(key, "expected_outcome"))
                    snprintf(outcome, sizeof outcome, "%.31s", t.tok);
                else if (!strcmp(key, "test_type"))
                    snprintf(type, sizeof type, "%.31s", t.tok);
                tp_next(&t);
            }
        } else {
            tp_next(&t); /* '[' ']' ',' */
        }
    }
    cs_free(data);
}

static void run_spec_dir(const char *sub, spec_counts *c, int *files)
{
    const char *dir = cs_test_corpus(sub);
    DIR *d = opendir(dir);
    if (!d)
        FAIL("no %s", dir);
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 10 || strcmp(e->d_name + l - 10, ".textproto") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        run_spec_file(path, e->d_name, c);
        (*files)++;
    }
    closedir(d);
}

/* The textproto files: tests[] of {robotstxt, test_expectations[] of
 * {testurl, useragent, expected_outcome, test_type}} (test_type defaults to
 * STANDARD). The differing lines are printed (seen when the test fails). */
TEST(robots_google_spec_test)
{
    spec_counts c = {0};
    int files = 0;
    run_spec_dir("robots/robotstxt-spec-test/CTC/correctness", &c, &files);
    run_spec_dir("robots/robotstxt-spec-test/CTC/stress", &c, &files);
    printf("robotstxt-spec-test: %d files; STANDARD %d passed, %d failed; "
           "GOOGLE_SPECIFIC %d agree, %d differ\n",
           files, c.std_pass, c.std_fail, c.g_pass, c.g_fail);
    fflush(stdout);
    /* 378 STANDARD expectations, all pass. Of the 22 GOOGLE_SPECIFIC ones one
     * differs: Google treats "index.html" at the end of a pattern as
     * equivalent to "/" (index-page.textproto); RFC 9309 has no such rule
     * and we do not apply it. The others agree (an empty path counts as
     * "/", a missing ':' after a known name is accepted, a multi-word agent
     * value is cut at the first non-token character). */
    ASSERT_EQ(files, 41);
    ASSERT_EQ(c.std_fail, 0);
    ASSERT_EQ(c.std_pass, 378);
    ASSERT_EQ(c.g_pass + c.g_fail, 22);
    ASSERT(c.g_fail <= 1);
}

/* ---- crawler-commons files -------------------------------------------------------------- */

static cs_robots *parse_cc(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "robots/crawler-commons/%s", name);
    size_t n;
    char *d = cs_test_read_file(cs_test_corpus(rel), &n);
    cs_robots *r;
    ASSERT_OK(cs_robots_parse(d, n, &r));
    cs_free(d);
    return r;
}

TEST(robots_crawler_commons_all_parse)
{
    DIR *d = opendir(cs_test_corpus("robots/crawler-commons"));
    ASSERT(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        cs_robots *r = parse_cc(e->d_name);
        /* ask a few things of every file: nothing may crash */
        (void)cs_robots_allowed(r, "crawlset", "/", 1);
        (void)cs_robots_allowed_url(r, "googlebot", "http://x/a/b?c", 14);
        (void)cs_robots_crawl_delay(r, "*");
        cs_robots_free(r);
        files++;
    }
    closedir(d);
    ASSERT_EQ(files, 24);
}

TEST(robots_crawler_commons_bom_variants_equal)
{
    const char *names[] = {"robots-with-utf8-bom.txt", "robots-with-utf16le-bom.txt",
                           "robots-with-utf16be-bom.txt"};
    const char *paths[] = {"/",          "/login.aspx",    "/register.aspx", "/profile/x",
                           "/a/output/print", "/search.aspx?q", "/other",     "/a/output/x"};
    const char *agents[] = {"googlebot", "crawlset", "*"};
    cs_robots *r[3];
    for (int i = 0; i < 3; i++)
        r[i] = parse_cc(names[i]);
    cs_robots_info i0, ii;
    cs_robots_info_get(r[0], &i0);
    ASSERT_EQ(i0.groups, 2);
    ASSERT_EQ(i0.rules, 10);
    for (int i = 1; i < 3; i++) {
        cs_robots_info_get(r[i], &ii);
        ASSERT_EQ(ii.groups, i0.groups);
        ASSERT_EQ(ii.agents, i0.agents);
        ASSERT_EQ(ii.rules, i0.rules);
    }
    for (size_t a = 0; a < 3; a++)
        for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
            bool want = cs_robots_allowed(r[0], agents[a], paths[p], strlen(paths[p]));
            for (int i = 1; i < 3; i++)
                ASSERT_EQ(cs_robots_allowed(r[i], agents[a], paths[p], strlen(paths[p])), want);
        }
    ASSERT(!cs_robots_allowed(r[0], "crawlset", "/login.aspx", 11));
    ASSERT(!cs_robots_allowed(r[0], "googlebot", "/x/output/print", 15));
    ASSERT(cs_robots_allowed(r[0], "crawlset", "/other", 6));
    for (int i = 0; i < 3; i++)
        cs_robots_free(r[i]);
}

TEST(robots_crawler_commons_expectations)
{
    cs_robots *r = parse_cc("rfc9309-example-simple-robots.txt");
    static const expect SIMPLE[] = {
        {"foobot", "/example/page.html", true}, {"foobot", "/example/allowed.gif", true},
        {"foobot", "/x", false},                {"barbot", "/example/page.html", false},
        {"bazbot", "/example/page.html", false}, {"quxbot", "/example/", true},
        {"crawlset", "/x.gif", false},          {"crawlset", "/publications/", true},
    };
    CHECK_ALL("rfc9309-example-simple-robots.txt", r, SIMPLE);
    cs_robots_free(r);

    r = parse_cc("rfc9309-example-rule-group-merging.txt");
    static const expect MERGE[] = {
        {"ExampleBot", "/foo", false}, {"ExampleBot", "/baz", false},
        {"examplebot", "/bar", false}, {"BazBot", "/baz", false},
        {"BazBot", "/foo", true},      {"crawlset", "/foo", false},
        {"crawlset", "/baz", true},
    };
    CHECK_ALL("rfc9309-example-rule-group-merging.txt", r, MERGE);
    cs_robots_free(r);

    r = parse_cc("crawl-delay-group-merging.txt");
    static const expect DELAY[] = {
        {"mybot", "/private/x", false}, {"yourbot", "/private/x", false},
        /* the file's comment says /login/ applies to mybot too; RFC 9309 merges the
         * groups that name the product token, and only yourbot's does */
        {"mybot", "/login/", true},     {"yourbot", "/login/", false},
        {"mybot", "/public", true},     {"crawlset", "/private/x", true},
    };
    CHECK_ALL("crawl-delay-group-merging.txt", r, DELAY);
    ASSERT(cs_robots_crawl_delay(r, "mybot") == 10);
    ASSERT(cs_robots_crawl_delay(r, "yourbot") == 10); /* same group as mybot */
    ASSERT(cs_robots_crawl_delay(r, "crawlset") == 30);
    cs_robots_free(r);

    r = parse_cc("precedence-of-rules.txt");
    static const expect PREC[] = {
        {"testy", "/foo", false},      {"testy", "/foo/bar", true}, /* longer allow */
        {"testy", "/foo/baz", false},  {"testy", "/other", true},
        {"wget", "/foo", true},        {"wget", "/bar", false}, /* "/ *" (2 octets) beats "/" */
        {"wget", "/index.html", true},
    };
    CHECK_ALL("precedence-of-rules.txt", r, PREC);
    cs_robots_free(r);

    r = parse_cc("merge-rules.txt");
    static const expect MR[] = {
        {"wget", "/foo/bar", true}, /* allow and disallow of equal length: allow */
        {"wget", "/tmp/bar", false}, {"wget", "/ckh/bar", true},
        {"crawlset", "/foo/bar", false}, {"crawlset", "/ckh/bar", true},
        {"curl", "/anything", false},
    };
    CHECK_ALL("merge-rules.txt", r, MR);
    cs_robots_free(r);

    /* "bot1", "bot2", ... all name the product token "bot" (digits are not
     * token characters), so their groups merge */
    r = parse_cc("format-errors-robots.txt");
    static const expect FE[] = {
        {"bot", "/whitespace-before-colon/", false}, {"bot", "/no-colon/", false},
        {"bot", "/no-colon-useragent/", false},      {"bot", "/other", false},
        {"bot1", "/other", true}, /* no group names "bot1" and there is no "*" group */
    };
    CHECK_ALL("format-errors-robots.txt", r, FE);
    cs_robots_free(r);

    r = parse_cc("directive-typos-robots.txt");
    static const expect TY[] = {
        {"bot", "/dissalow/", false},           {"bot", "/useragent/", false},
        {"bot", "/useragent-no-colon/", false}, {"bot", "/desallow/", true},
        {"bot", "/useg-agent/", false}, /* an unknown line does not end bot2's group */
        {"bot", "/other/", true},
    };
    CHECK_ALL("directive-typos-robots.txt", r, TY);
    cs_robots_free(r);

    r = parse_cc("malformed-path.txt");
    static const expect MP[] = {
        {"crawlset", "/wiki/Wikipedia_talk:Mediation_Committee/x", false},
        {"crawlset", "/wiki/Wikipedia_talk%3Mediation_Committee/x", false},
        {"crawlset", "/wiki/Main_Page", true},
    };
    CHECK_ALL("malformed-path.txt", r, MP);
    cs_robots_free(r);

    r = parse_cc("dos-line-endings.txt");
    ASSERT(cs_robots_crawl_delay(r, "crawlset") == 1);
    cs_robots_free(r);

    r = parse_cc("twitter.com-robots.txt");
    static const expect TW[] = {
        {"googlebot", "/search?q=x", false}, {"Slurp", "/a/with_friends", false},
        {"crawlset", "/jack", true},         {"crawlset", "/jack?x", false},
    };
    CHECK_ALL("twitter.com-robots.txt", r, TW);
    ASSERT(cs_robots_crawl_delay(r, "msnbot") == 10);
    ASSERT(cs_robots_crawl_delay(r, "googlebot") == -1);
    cs_robots_free(r);

    r = parse_cc("many-user-agents.txt");
    cs_robots_info info;
    cs_robots_info_get(r, &info);
    ASSERT(info.agents > 200);
    cs_robots_free(r);
}
