/* test_filter.c - the candidate filter chain, its rules, its stats and the
 * `crawlset filter` command: hand-made cases (tests/filter/cases.jsonl, each
 * row naming the verdict it expects) and WAT candidates checked against an
 * independent computation (tests/filter/filter_ref.py). */
#include <jansson.h>
#include <unistd.h>

#include "../test.h"
#include "filter/filter_int.h"

static cs_filter_chain *chain_with(const char *const *kv)
{
    cs_filter_rules r;
    ASSERT_OK(cs_filter_rules_init(&r));
    char err[512];
    for (; kv && kv[0]; kv += 2) {
        cs_status st = cs_filter_rules_set(&r, kv[0], kv[1], err, sizeof err);
        if (st)
            FAIL("set %s=%s: %s", kv[0], kv[1], err);
    }
    cs_filter_chain *c;
    cs_status st = cs_filter_chain_new(&c, &r, err, sizeof err);
    cs_filter_rules_cleanup(&r);
    if (st)
        FAIL("chain: %s", err);
    return c;
}

static cs_filter_verdict apply(cs_filter_chain *c, const char *url, const char *text)
{
    cs_candidate cand = {{url, url ? strlen(url) : 0}, {text, text ? strlen(text) : 0},
                         {NULL, 0}, {NULL, 0}, {NULL, 0}};
    cs_filter_verdict v;
    ASSERT_OK(cs_filter_chain_apply(c, &cand, &v));
    return v;
}

static void norm_is(const char *in, size_t inlen, const char *want, size_t want_chars)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    size_t chars;
    ASSERT_OK(cs_filter_normalize_text(in, inlen, &b, &chars));
    ASSERT_STR_EQ(b.data ? b.data : "", want);
    ASSERT_UEQ(chars, want_chars);
    cs_buf_cleanup(&b);
}

TEST(filter_normalize_text)
{
    norm_is("  a  b \t\r\n c  ", 15, "a b c", 5);
    norm_is("ab\0c\x07" "d", 6, "abcd", 4);
    norm_is("", 0, "", 0);
    norm_is("   ", 3, "", 0);
    /* NFKC: fullwidth letters, ligatures; NBSP and zero-width space are space */
    norm_is("\xef\xbc\xa1\xef\xbc\xa2", 6, "AB", 2);
    norm_is("\xef\xac\x81x", 4, "fix", 3);
    norm_is("\xc2\xa0\xc2\xa0" "ab\xe2\x80\x8b" "cd", 11, "ab cd", 5);
    /* NFC composition: e + combining acute -> é (one character) */
    norm_is("e\xcc\x81t\xc3\xa9", 6, "\xc3\xa9t\xc3\xa9", 3);
    /* invalid UTF-8 becomes U+FFFD; soft hyphen (format) is removed */
    norm_is("a\xff" "b\xc2\xad" "c", 6, "a\xef\xbf\xbd" "bc", 4);
}

static size_t put_cp(char *w, uint32_t c)
{
    if (c < 0x80) {
        w[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        w[0] = (char)(0xC0 | (c >> 6));
        w[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        w[0] = (char)(0xE0 | (c >> 12));
        w[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        w[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    w[0] = (char)(0xF0 | (c >> 18));
    w[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    w[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    w[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* the table's answer (cs_filter_normalize_text) equals GLib's */
static void norm_same(const char *s, size_t n, cs_buf *a, cs_buf *b)
{
    size_t ca = 0, cb = 0;
    cs_buf_reset(a);
    cs_buf_reset(b);
    ASSERT_OK(cs_filter_normalize_text(s, n, a, &ca));
    ASSERT_OK(cs__normalize_text_glib(s, n, b, &cb));
    if (a->len != b->len || (a->len && memcmp(a->data, b->data, a->len)) || ca != cb) {
        char hex[200] = "";
        for (size_t i = 0; i < n && i < 60; i++)
            snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02x", (unsigned char)s[i]);
        FAIL("input %s: table gives %zu chars '%s', GLib %zu chars '%s'", hex, ca,
             a->data ? a->data : "", cb, b->data ? b->data : "");
    }
}

TEST_T(filter_normalize_fast_equals_glib, 60)
{
    cs_buf a, b;
    cs_buf_init(&a, 0);
    cs_buf_init(&b, 0);
    char s[64];
    /* every BMP character (and a few beyond), alone and in contexts where
     * NFKC could move or compose it: after a letter, before a combining
     * acute, doubled, between spaces, after a Hangul syllable and a jamo */
    for (uint32_t c = 1; c < 0x10100; c++) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        char u[4];
        size_t k = put_cp(u, c), n;
        n = 0, s[n++] = 'x', memcpy(s + n, u, k), n += k, s[n++] = 'y';
        norm_same(s, n, &a, &b);
        n = 0, memcpy(s + n, u, k), n += k, memcpy(s + n, "\xcc\x81", 2), n += 2;
        norm_same(s, n, &a, &b);
        n = 0, memcpy(s + n, u, k), n += k, memcpy(s + n, u, k), n += k;
        norm_same(s, n, &a, &b);
        n = 0, s[n++] = ' ', memcpy(s + n, u, k), n += k, s[n++] = ' ', s[n++] = 'e';
        norm_same(s, n, &a, &b);
        n = 0, memcpy(s + n, "\xea\xb0\x80\xe1\x84\x80", 6), n += 6, memcpy(s + n, u, k), n += k;
        norm_same(s, n, &a, &b);
    }
    /* random strings over a mix of scripts, marks, spaces, controls,
     * compatibility characters and bytes that are not UTF-8 */
    static const uint32_t pool[] = {'a', 'Z', ' ', '\t', 0xA0, 0xAD, 0xE9, 0x301, 0x308, 0x3000,
                                    0x4E2D, 0x6587, 0x3042, 0x30AC, 0xFF76, 0xFF9E, 0xFF21, 0xFB01,
                                    0x1100, 0x1161, 0x11A8, 0xAC00, 0x200B, 0x200D, 0x2028, 0x416,
                                    0x5D0, 0x627, 0x64B, 0xFDFA, 0x2460, 0x1F600, 0x85, 0x7F};
    uint64_t r = 0x2545F4914F6CDD1Dull;
    for (int t = 0; t < 20000; t++) {
        size_t n = 0, len = 1 + t % 12;
        for (size_t i = 0; i < len; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            if (r % 41 == 0)
                s[n++] = (char)(0x80 + r % 0x7F); /* a stray byte */
            else
                n += put_cp(s + n, pool[(r >> 8) % (sizeof pool / sizeof pool[0])]);
        }
        norm_same(s, n, &a, &b);
    }
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
}

TEST(filter_rules_set_and_yaml)
{
    cs_filter_rules r;
    ASSERT_OK(cs_filter_rules_init(&r));
    char err[512];
    ASSERT_UEQ(r.min_text, 5);
    ASSERT_UEQ(r.exclude_ext.n, 3);
    ASSERT_ST(cs_filter_rules_set(&r, "min-text", "x", err, sizeof err), CS_EINVAL);
    ASSERT_CONTAINS(err, "min-text");
    ASSERT_ST(cs_filter_rules_set(&r, "no-such-rule", "1", err, sizeof err), CS_ENOTFOUND);
    ASSERT_ST(cs_filter_rules_set(&r, "dedupe", "maybe", err, sizeof err), CS_EINVAL);
    ASSERT_ST(cs_filter_rules_set(&r, "unsafe", "loud", err, sizeof err), CS_EINVAL);
    ASSERT_OK(cs_filter_rules_set(&r, "exclude-ext", "webp, bmp", err, sizeof err));
    ASSERT_UEQ(r.exclude_ext.n, 5);
    ASSERT_OK(cs_filter_rules_set(&r, "exclude-ext", "", err, sizeof err));
    ASSERT_UEQ(r.exclude_ext.n, 0);
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-regex", "a,b{1,2}", err, sizeof err));
    ASSERT_UEQ(r.unsafe_regex.n, 1);
    ASSERT_STR_EQ(r.unsafe_regex.v[0], "a,b{1,2}");
    ASSERT_ST(cs_filter_rules_set(&r, "unsafe-words-file", "/nonexistent/x", err, sizeof err),
              CS_EIO);

    static const char yaml[] = "# comment\n"
                               "min-text: 7\n"
                               "lang: [en, de]\n"
                               "exclude_ext:\n"
                               "  - svg\n"
                               "  - 'a,b'\n"
                               "unsafe: tag\n"
                               "dedupe: no\n"
                               "unsafe-phrases-file: phrases.txt\n";
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", cs_test_tmpdir());
    snprintf(path, sizeof path, "%s/phrases.txt", dir);
    cs_test_write_file(path, "# c\nhot stuff\n\n  cold stuff  \n", 29);
    snprintf(path, sizeof path, "%s/rules.yaml", dir);
    cs_test_write_file(path, yaml, sizeof yaml - 1);
    ASSERT_OK(cs_filter_rules_load(&r, path, err, sizeof err));
    ASSERT_UEQ(r.min_text, 7);
    ASSERT_UEQ(r.langs.n, 2);
    ASSERT_STR_EQ(r.langs.v[1], "de");
    ASSERT_UEQ(r.exclude_ext.n, 2);
    ASSERT_STR_EQ(r.exclude_ext.v[1], "a,b");
    ASSERT(r.unsafe == CS_UNSAFE_TAG);
    ASSERT(!r.dedupe);
    ASSERT_UEQ(r.unsafe_phrases.n, 2);
    ASSERT_STR_EQ(r.unsafe_phrases.v[1], "cold stuff");

    /* errors name the line */
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"min-text: 5\nbogus: 1\n", "rules:2: unknown rule key"},
        {"min-text: [1, 2]\n", "rules:1: this key takes one value"},
        {"min-text: {a: 1}\n", "rules:1: expected a value"},
        {"- a\n- b\n", "rules:1: the rules must be a mapping"},
        {"min-text: 5\n  x: : :\n", "rules:"},
        {"lang: [[en]]\n", "rules:1: list items must be plain"},
        {"a: &x 1\n", "rules:1: unknown rule key"},
        {"min-text: 1\n---\nmin-text: 2\n", "only one YAML document"},
        {"max-text: -3\n", "rules:1: max-text: '-3' is not a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cs_status st = cs_filter_rules_load_mem(&r, bad[i].yaml, strlen(bad[i].yaml), "rules",
                                                err, sizeof err);
        if (st != CS_EFORMAT || !strstr(err, bad[i].want))
            FAIL("case %zu: got %s '%s', want '%s'", i, cs_status_name(st), err, bad[i].want);
    }
    ASSERT_OK(cs_filter_rules_load_mem(&r, "", 0, "empty", err, sizeof err));
    ASSERT_OK(cs_filter_rules_load_mem(&r, "# only a comment\n", 17, "c", err, sizeof err));
    cs_filter_rules_cleanup(&r);

    /* the shipped default rules file says what the defaults are */
    cs_filter_rules d, f;
    ASSERT_OK(cs_filter_rules_init(&d));
    ASSERT_OK(cs_filter_rules_init(&f));
    ASSERT_OK(cs_filter_rules_load(&f, cs_test_source("data/filter/rules.yaml"), err, sizeof err));
    ASSERT_UEQ(f.min_text, d.min_text);
    ASSERT_UEQ(f.max_text, d.max_text);
    ASSERT_UEQ(f.max_url_length, d.max_url_length);
    ASSERT_UEQ(f.max_host_length, d.max_host_length);
    ASSERT_UEQ(f.exclude_ext.n, d.exclude_ext.n);
    ASSERT_UEQ(f.text_fields.n, d.text_fields.n);
    ASSERT(f.unsafe == d.unsafe && f.dedupe == d.dedupe && f.placeholder == d.placeholder);
    ASSERT_UEQ(f.lang_min_bytes, d.lang_min_bytes);
    ASSERT_UEQ(f.text_cache, d.text_cache);
    ASSERT(f.all_filters == d.all_filters);
    /* and the placeholder file lists the built-in words */
    cs_strlist words = {0};
    ASSERT_OK(cs_filter_rules_set(&f, "placeholder-words", "", err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&f, "placeholder-words-file",
                                  cs_test_source("data/filter/placeholder-words.txt"), err,
                                  sizeof err));
    ASSERT_UEQ(f.placeholder_words.n, d.placeholder_words.n);
    for (size_t i = 0; i < d.placeholder_words.n; i++)
        ASSERT_STR_EQ(f.placeholder_words.v[i], d.placeholder_words.v[i]);
    (void)words;
    cs_filter_rules_cleanup(&d);
    cs_filter_rules_cleanup(&f);
}

/* Every row of cases.jsonl names its verdict in "expect": "kept" or
 * "FILTER/REASON" (the first filter that drops it). */
TEST(filter_cases_file)
{
    static const char *const kv[] = {"block-domains", "blocked.example", NULL};
    cs_filter_chain *c = chain_with(kv);
    size_t len;
    char *data = cs_test_read_file(cs_test_source("tests/filter/cases.jsonl"), &len);
    cs_buf scratch;
    cs_buf_init(&scratch, 0);
    size_t rows = 0, kept = 0;
    for (char *line = data, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        cs_candidate cand;
        char err[256];
        ASSERT_OK(cs_filter_parse_line(c, line, (size_t)(nl - line), &scratch, &cand, err,
                                       sizeof err));
        cs_filter_verdict v;
        ASSERT_OK(cs_filter_chain_apply(c, &cand, &v));
        char got[128];
        if (v.keep)
            snprintf(got, sizeof got, "kept");
        else
            snprintf(got, sizeof got, "%s/%s", v.filter, v.reason);
        const char *e = strstr(line, "\"expect\": \"");
        size_t skip = 11;
        if (!e) {
            e = strstr(line, "\"expect\":\"");
            skip = 10;
        }
        ASSERT(e);
        e += skip;
        if (strncmp(e, got, strlen(got)) || e[strlen(got)] != '"')
            FAIL("row %zu: got %s, line %s", rows + 1, got, line);
        rows++;
        kept += v.keep;
    }
    ASSERT(rows >= 40);
    uint64_t items, k;
    cs_filter_stats_totals(cs_filter_chain_stats(c), &items, &k);
    ASSERT_UEQ(items, rows);
    ASSERT_UEQ(k, kept);
    cs_buf_cleanup(&scratch);
    cs_free(data);
    cs_filter_chain_free(c);
}

TEST(filter_url_limits_and_every_filter_runs)
{
    cs_filter_chain *c = chain_with(NULL);
    char url[2200];
    memcpy(url, "https://example.com/", 20);
    memset(url + 20, 'a', sizeof url - 25);
    memcpy(url + sizeof url - 5, ".jpg", 5);
    cs_filter_verdict v = apply(c, url, "ab"); /* long URL and short text */
    ASSERT(!v.keep);
    ASSERT_STR_EQ(v.reason, "url_too_long");
    url[2048] = '\0'; /* exactly 2048 bytes: fine */
    v = apply(c, url, "A fine caption");
    ASSERT(v.keep);
    /* the chain stopped at the url filter: the text filter saw one row */
    cs_filter_stats *s = cs_filter_chain_stats(c);
    uint64_t in, passed, failed;
    ASSERT(cs_filter_stats_counts(s, 0, &in, &passed, &failed));
    ASSERT_UEQ(in, 2);
    ASSERT_UEQ(failed, 1);
    ASSERT(cs_filter_stats_counts(s, 1, &in, &passed, &failed));
    ASSERT_UEQ(in, 1);
    ASSERT_UEQ(failed, 0);
    ASSERT_UEQ(cs_filter_stats_reason(s, 1, "too_short"), 0);
    cs_filter_chain_free(c);
    /* all-filters: both the url and the text filter counted the first row */
    static const char *const kva[] = {"all-filters", "true", NULL};
    c = chain_with(kva);
    url[2048] = 'a';
    v = apply(c, url, "ab");
    ASSERT_STR_EQ(v.reason, "url_too_long");
    url[2048] = '\0';
    ASSERT(apply(c, url, "A fine caption").keep);
    s = cs_filter_chain_stats(c);
    ASSERT(cs_filter_stats_counts(s, 0, &in, &passed, &failed));
    ASSERT_UEQ(in, 2);
    ASSERT_UEQ(failed, 1);
    ASSERT(cs_filter_stats_counts(s, 1, &in, &passed, &failed));
    ASSERT_UEQ(in, 2);
    ASSERT_UEQ(failed, 1);
    ASSERT_UEQ(cs_filter_stats_reason(s, 1, "too_short"), 1);
    /* truncation at max-text counts characters, not bytes */
    char text[3000];
    for (size_t i = 0; i < 1200; i++)
        memcpy(text + 2 * i, "\xc3\xa9", 2); /* é x 1200 */
    text[2400] = '\0';
    cs_filter_chain_free(c);
    static const char *const kv[] = {"max-text", "1000", NULL};
    c = chain_with(kv);
    v = apply(c, "https://example.com/e.jpg", text);
    ASSERT(v.keep);
    ASSERT(v.truncated);
    ASSERT_UEQ(v.text.len, 2000);
    cs_filter_chain_free(c);
    static const char *const kv2[] = {"max-text", "1000", "drop-long-text", "true", NULL};
    c = chain_with(kv2);
    v = apply(c, "https://example.com/e.jpg", text);
    ASSERT(!v.keep);
    ASSERT_STR_EQ(v.reason, "too_long");
    cs_filter_chain_free(c);
}

TEST(filter_allow_list_and_domains)
{
    static const char *const kv[] = {"allow-domains", "example.com,.example.org", NULL};
    cs_filter_chain *c = chain_with(kv);
    ASSERT(apply(c, "https://cdn.example.com/a.jpg", "Caption one").keep);
    ASSERT(apply(c, "https://example.org/a.jpg", "Caption two").keep);
    cs_filter_verdict v = apply(c, "https://example.net/a.jpg", "Caption three");
    ASSERT_STR_EQ(v.reason, "not_allowed_domain");
    v = apply(c, "https://notexample.com/a.jpg", "Caption four");
    ASSERT_STR_EQ(v.reason, "not_allowed_domain");
    /* per-domain stats use the registered domain (libpsl) */
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_filter_stats_json(cs_filter_chain_stats(c), true, &b));
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    ASSERT(j);
    json_t *d = json_object_get(json_object_get(j, "domains"), "example.com");
    ASSERT(d);
    ASSERT_EQ(json_integer_value(json_object_get(d, "items")), 1);
    d = json_object_get(json_object_get(j, "domains"), "notexample.com");
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(d, "url"), "failed")), 1);
    json_decref(j);
    cs_buf_cleanup(&b);
    cs_filter_chain_free(c);
    /* a co.uk host: the registered domain has three labels */
    c = chain_with(NULL);
    apply(c, "https://img.shop.example.co.uk/a.jpg", "Caption five");
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_filter_stats_json(cs_filter_chain_stats(c), true, &b));
    ASSERT_CONTAINS(b.data, "\"example.co.uk\":{\"items\":1");
    cs_buf_cleanup(&b);
    cs_filter_chain_free(c);
}

TEST(filter_language)
{
    static const char *const kv[] = {"lang", "en", NULL};
    cs_filter_chain *c = chain_with(kv);
    cs_filter_verdict v =
        apply(c, "https://example.com/1.jpg", "A red bicycle leaning against the old stone wall");
    ASSERT(v.keep);
    ASSERT_STR_EQ(v.lang, "en");
    ASSERT(v.lang_class == CS_LANG_EN);
    v = apply(c, "https://example.com/2.jpg",
              "Ein rotes Fahrrad lehnt an der alten Steinmauer im Garten");
    ASSERT(!v.keep);
    ASSERT_STR_EQ(v.reason, "lang_not_kept");
    ASSERT_STR_EQ(v.lang, "de");
    ASSERT(v.lang_class == CS_LANG_MULTI);
    v = apply(c, "https://example.com/3.jpg", "**** ++++ ####");
    ASSERT_STR_EQ(v.reason, "lang_unknown");
    ASSERT(v.lang_class == CS_LANG_NOLANG);
    cs_filter_chain_free(c);
    /* "un" keeps unknown; a region code in the keep list matches */
    static const char *const kv2[] = {"lang", "un,fr", NULL};
    c = chain_with(kv2);
    ASSERT(apply(c, "https://example.com/4.jpg", "**** ++++ ####").keep);
    ASSERT(apply(c, "https://example.com/5.jpg",
                 "Une tarte aux pommes dorée, sortie du four ce matin").keep);
    cs_filter_chain_free(c);
    /* text under lang-min-bytes (20) is of unknown language, cld2 not run;
     * with the threshold off, cld2 says what it says */
    c = chain_with(kv);
    v = apply(c, "https://example.com/6.jpg", "Der Hund schläft"); /* 17 bytes */
    ASSERT_STR_EQ(v.reason, "lang_unknown");
    ASSERT_STR_EQ(v.lang, "un");
    ASSERT_EQ(v.lang_percent, 0);
    cs_filter_chain_free(c);
    static const char *const kv3[] = {"lang", "en", "lang-min-bytes", "0", NULL};
    c = chain_with(kv3);
    v = apply(c, "https://example.com/6.jpg", "Der Hund schläft");
    ASSERT_STR_EQ(v.lang, "de");
    cs_filter_chain_free(c);
}

/* The caches of verdicts by text (text-cache) change no verdict: the same
 * rows through chains with no cache, a 2-slot cache (evictions on nearly
 * every row) and the default give the same verdicts, field by field, and
 * the same stats. The texts repeat (as alt texts do across a site's
 * pages) under other URLs, page-language hints and titles, which the
 * cache keys must tell apart: the hint can change cld2's answer, the title
 * the unsafe one. */
TEST(filter_text_cache_same_verdicts)
{
    static const char *const texts[] = {
        "A red bicycle leaning against the old stone wall",
        "Ein rotes Fahrrad lehnt an der alten Steinmauer im Garten",
        "Une tarte aux pommes dorée, sortie du four ce matin",
        "Centro de información turística de la ciudad",
        "Centro de informação turística da cidade velha",
        "東京タワーの夜景と東京の街並み",
        "中山振富电子有限公司产品展示",
        "Красная площадь зимой в Москве",
        "Fishing boats in the harbour at dawn, with a badword on the hull",
        "free porn pics of the summer festival",
        "Lighthouse on a rocky coast",
        "Der Hund schläft",
        "logo",
        "Hovenier in de tuin aan het werk",
        "Mountain lake under a clear sky",
        "casa",
        "Photo gallery: the village church and its bells",
    };
    static const char *const hints[] = {NULL, "en", "de", "pt", "gl", "ja", "fr-CA"};
    static const char *const titles[] = {NULL, "A clean title", "badword in the title"};
    const size_t nt = sizeof texts / sizeof texts[0];
    const char *sizes[] = {"0", "2", "4096"};
    cs_filter_chain *c[3];
    for (int k = 0; k < 3; k++) {
        const char *kv[] = {"lang", "en,un,de", "unsafe", "tag", "unsafe-words", "badword",
                            "unsafe-phrases", "free porn", "text-cache", sizes[k], NULL};
        c[k] = chain_with(kv);
    }
    char url[128];
    uint64_t r = 88172645463325252ull;
    size_t differs_by_hint = 0;
    for (int i = 0; i < 6000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        const char *text = texts[r % nt];
        const char *hint = hints[(r >> 16) % (sizeof hints / sizeof hints[0])];
        const char *title = titles[(r >> 24) % 3];
        snprintf(url, sizeof url, "https://site%d.example.com/img/%d.jpg", (int)((r >> 32) % 50), i);
        cs_candidate cand = {{url, strlen(url)},
                             {text, strlen(text)},
                             {title, title ? strlen(title) : 0},
                             {NULL, 0},
                             {hint, hint ? strlen(hint) : 0}};
        cs_filter_verdict v[3];
        for (int k = 0; k < 3; k++)
            ASSERT_OK(cs_filter_chain_apply(c[k], &cand, &v[k]));
        for (int k = 1; k < 3; k++) {
            ASSERT_EQ(v[k].keep, v[0].keep);
            ASSERT_STR_EQ(v[k].reason ? v[k].reason : "", v[0].reason ? v[0].reason : "");
            ASSERT_STR_EQ(v[k].unsafe ? v[k].unsafe : "", v[0].unsafe ? v[0].unsafe : "");
            ASSERT_STR_EQ(v[k].lang, v[0].lang);
            ASSERT_EQ(v[k].lang_percent, v[0].lang_percent);
            ASSERT_EQ(v[k].lang_reliable, v[0].lang_reliable);
            ASSERT_EQ(v[k].lang_class, v[0].lang_class);
        }
        if (i < (int)nt * 7) { /* the hint matters for some text: cld2 alone */
            const char *h2 = hints[(size_t)i % 7];
            const char *t2 = texts[(size_t)i / 7];
            char l1[16], l2[16];
            int p1, p2;
            bool r1, r2;
            cs__cld2_detect(t2, strlen(t2), NULL, l1, sizeof l1, &p1, &r1);
            cs__cld2_detect(t2, strlen(t2), h2, l2, sizeof l2, &p2, &r2);
            differs_by_hint += strcmp(l1, l2) || p1 != p2 || r1 != r2;
        }
    }
    ASSERT(differs_by_hint > 0);
    cs_buf j[3];
    for (int k = 0; k < 3; k++) {
        cs_buf_init(&j[k], 0);
        ASSERT_OK(cs_filter_stats_json(cs_filter_chain_stats(c[k]), true, &j[k]));
    }
    ASSERT_STR_EQ(j[1].data, j[0].data);
    ASSERT_STR_EQ(j[2].data, j[0].data);
    /* both verdicts of the title were seen */
    ASSERT(strstr(j[0].data, "unsafe_word"));
    for (int k = 0; k < 3; k++) {
        cs_buf_cleanup(&j[k]);
        cs_filter_chain_free(c[k]);
    }
}

TEST(filter_unsafe_lists)
{
    static const char *const kv[] = {"unsafe", "drop", "unsafe-words", "porn,xxx",
                                     "unsafe-phrases", "Hot Stuff", "unsafe-regex",
                                     "\\bs[e3]x\\s*cam\\b", NULL};
    cs_filter_chain *c = chain_with(kv);
    cs_filter_verdict v = apply(c, "https://e.com/1.jpg", "Free PORN pictures");
    ASSERT_STR_EQ(v.reason, "unsafe_word");
    /* words are whole tokens: not inside other words */
    ASSERT(apply(c, "https://e.com/2.jpg", "A pornographer's biography").keep);
    ASSERT(apply(c, "https://e.com/3.jpg", "Team xxxl jerseys").keep);
    v = apply(c, "https://e.com/4.jpg", "Totally HOT  STUFFed peppers"); /* substring */
    ASSERT_STR_EQ(v.reason, "unsafe_phrase");
    v = apply(c, "https://e.com/5.jpg", "best s3x cam today");
    ASSERT_STR_EQ(v.reason, "unsafe_regex");
    cs_filter_chain_free(c);
    /* ASCII text goes through the word set: upper-case list items, tokens at
     * the ends, words with a hyphen (the rest pattern), a long token */
    static const char *const kvw[] = {"unsafe", "drop", "unsafe-words", "NSFW,x-rated", NULL};
    c = chain_with(kvw);
    ASSERT_STR_EQ(apply(c, "https://e.com/w1.jpg", "nsfw").reason, "too_short");
    ASSERT_STR_EQ(apply(c, "https://e.com/w2.jpg", "Gallery: nSfW").reason, "unsafe_word");
    ASSERT_STR_EQ(apply(c, "https://e.com/w3.jpg", "An X-Rated film poster").reason,
                  "unsafe_word");
    ASSERT(apply(c, "https://e.com/w4.jpg", "A nsfwish x_rated thing").keep);
    ASSERT(apply(c, "https://e.com/w5.jpg",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa nsfw2")
               .keep);
    ASSERT_STR_EQ(apply(c, "https://e.com/w6.jpg", "café nsfw").reason, "unsafe_word");
    /* case folding beyond ASCII: the word list in another script */
    cs_filter_chain_free(c);
    static const char *const kv2[] = {"unsafe", "tag", "unsafe-words", "ÉROTIQUE", NULL};
    c = chain_with(kv2);
    v = apply(c, "https://e.com/6.jpg", "Une photo érotique ancienne");
    ASSERT(v.keep); /* tag mode keeps */
    ASSERT_STR_EQ(v.unsafe, "unsafe_word");
    /* the title is checked too */
    cs_candidate cand = {CS_SLICE_LIT("https://e.com/7.jpg"), CS_SLICE_LIT("A quiet lake"),
                         CS_SLICE_LIT("Érotique"), {NULL, 0}, {NULL, 0}};
    ASSERT_OK(cs_filter_chain_apply(c, &cand, &v));
    ASSERT_STR_EQ(v.unsafe, "unsafe_word");
    ASSERT_UEQ(cs_filter_stats_reason(cs_filter_chain_stats(c), 3, "unsafe_word"), 2);
    cs_filter_chain_free(c);
    /* a bad regex is refused with its offset */
    cs_filter_rules r;
    ASSERT_OK(cs_filter_rules_init(&r));
    char err[256];
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe", "drop", err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-regex", "(unclosed", err, sizeof err));
    ASSERT_ST(cs_filter_chain_new(&c, &r, err, sizeof err), CS_EINVAL);
    ASSERT_CONTAINS(err, "unsafe-regex 1");
    cs_filter_rules_cleanup(&r);
    /* the shipped lists compile and match */
    ASSERT_OK(cs_filter_rules_init(&r));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe", "drop", err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-words-file",
                                  cs_test_source("data/filter/unsafe-words.txt"), err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-phrases-file",
                                  cs_test_source("data/filter/unsafe-phrases.txt"), err,
                                  sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-regex-file",
                                  cs_test_source("data/filter/unsafe-regex.txt"), err, sizeof err));
    ASSERT_OK(cs_filter_chain_new(&c, &r, err, sizeof err));
    cs_filter_rules_cleanup(&r);
    ASSERT(!apply(c, "https://e.com/8.jpg", "nude beach photos").keep);
    ASSERT(!apply(c, "https://e.com/9.jpg", "best p0rn site").keep);
    ASSERT(apply(c, "https://e.com/10.jpg", "Essex countryside in spring").keep);
    cs_filter_chain_free(c);
}

/* The unsafe patterns are skipped for text holding none of the bytes
 * their matches can start with (PCRE2's own start knowledge): the verdicts
 * equal an independent run of every pattern on every text, in scripts that
 * do and do not share bytes with the lists, with caseless equivalents
 * beyond ASCII, an anchored pattern, a case-sensitive one, and one that
 * matches the empty string (no start knowledge: always run). */
TEST(filter_unsafe_start_bytes_same_verdicts)
{
    static const char *const words = "porn,xxx,ÉROTIQUE,kitten,straße";
    static const char *const phrases[] = {"Hot Stuff", "живое видео"};
    static const char *const regexes[] = {"\\bs[e3]x\\s*cam\\b", "裸", "(?-i)Cat", "^foo",
                                          "\\d{4}", "(?<=\\s)ω"};
    static const char *const texts[] = {
        "A quiet lake at dawn", "Free PORN pictures", "中山振富电子有限公司", "裸の王様の絵本",
        "Une photo érotique", "UNE PHOTO ÉROTIQUE", "a KITTEN on the sofa", "a \xe2\x84\xaaitten",
        "Die Straße im Regen", "DIE STRASSE IM REGEN", "totally hot stuffed",
        "ЖИВОЕ ВИДЕО с концерта", "Красная площадь зимой", "best s3x cam", "the cat sat",
        "The Cat sat", "foo fighters live", "live foo fighters", "FOO FIGHTERS live",
        "year 2024 photos", "year 24 photos", "Ωμέγα ω and ω", "İnn in İstanbul", "東京タワー 2019",
        "nothing here at all",
    };
    cs_filter_rules r;
    ASSERT_OK(cs_filter_rules_init(&r));
    char err[512];
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe", "tag", err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-words", words, err, sizeof err));
    for (size_t i = 0; i < 2; i++) /* (one phrase per call) */
        ASSERT_OK(cs_filter_rules_set(&r, "unsafe-phrases", phrases[i], err, sizeof err));
    for (size_t i = 0; i < sizeof regexes / sizeof regexes[0]; i++)
        ASSERT_OK(cs_filter_rules_set(&r, "unsafe-regex", regexes[i], err, sizeof err));
    static const char *const kv[][2] = {{"min-text", "1"}, {"placeholder", "false"},
                                        {"dedupe", "false"}};
    for (size_t i = 0; i < 3; i++)
        ASSERT_OK(cs_filter_rules_set(&r, kv[i][0], kv[i][1], err, sizeof err));
    /* the reference: every pattern compiled alone, run on every text */
    pcre2_code *rw, *rp, *ru[6];
    ASSERT_OK(cs__re_compile_list(&r.unsafe_words, true, &rw, err, sizeof err, "w"));
    ASSERT_OK(cs__re_compile_list(&r.unsafe_phrases, false, &rp, err, sizeof err, "p"));
    for (size_t i = 0; i < 6; i++) {
        int ec;
        PCRE2_SIZE eo;
        ru[i] = pcre2_compile((PCRE2_SPTR)regexes[i], PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_MATCH_INVALID_UTF,
                              &ec, &eo, NULL);
        ASSERT(ru[i]);
    }
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    cs_filter_chain *c;
    ASSERT_OK(cs_filter_chain_new(&c, &r, err, sizeof err));
    /* and a chain whose one regex matches the empty string: every row */
    cs_filter_rules_cleanup(&r);
    ASSERT_OK(cs_filter_rules_init(&r));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe", "tag", err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "unsafe-regex", "x*", err, sizeof err));
    ASSERT_OK(cs_filter_rules_set(&r, "min-text", "1", err, sizeof err));
    cs_filter_chain *c2;
    ASSERT_OK(cs_filter_chain_new(&c2, &r, err, sizeof err));
    cs_filter_rules_cleanup(&r);
    size_t counts[4] = {0};
    cs_buf norm;
    cs_buf_init(&norm, 0);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char url[64];
        snprintf(url, sizeof url, "https://e.com/%zu.jpg", i);
        cs_filter_verdict v;
        v = apply(c, url, texts[i]);
        ASSERT(v.keep);
        size_t chars;
        cs_buf_reset(&norm);
        ASSERT_OK(cs_filter_normalize_text(texts[i], strlen(texts[i]), &norm, &chars));
        PCRE2_SPTR t = (PCRE2_SPTR)norm.data;
        const char *want = NULL;
        if (pcre2_match(rw, t, norm.len, 0, 0, md, NULL) >= 0)
            want = "unsafe_word";
        else if (pcre2_match(rp, t, norm.len, 0, 0, md, NULL) >= 0)
            want = "unsafe_phrase";
        else
            for (size_t k = 0; k < 6 && !want; k++)
                if (pcre2_match(ru[k], t, norm.len, 0, 0, md, NULL) >= 0)
                    want = "unsafe_regex";
        if (!want != !v.unsafe || (want && strcmp(want, v.unsafe)))
            FAIL("'%s': chain says %s, every pattern run says %s", texts[i],
                 v.unsafe ? v.unsafe : "safe", want ? want : "safe");
        counts[!want ? 0 : !strcmp(want, "unsafe_word") ? 1 : !strcmp(want, "unsafe_phrase") ? 2 : 3]++;
        v = apply(c2, url, texts[i]);
        ASSERT_STR_EQ(v.unsafe ? v.unsafe : "", "unsafe_regex");
    }
    /* every verdict occurs */
    if (!counts[0] || !counts[1] || !counts[2] || !counts[3])
        FAIL("safe %zu, words %zu, phrases %zu, regexes %zu", counts[0], counts[1], counts[2],
             counts[3]);
    cs_buf_cleanup(&norm);
    pcre2_match_data_free(md);
    pcre2_code_free(rw);
    pcre2_code_free(rp);
    for (size_t i = 0; i < 6; i++)
        pcre2_code_free(ru[i]);
    cs_filter_chain_free(c);
    cs_filter_chain_free(c2);
}

TEST(filter_parse_line)
{
    cs_filter_chain *c = chain_with(NULL);
    cs_buf s;
    cs_buf_init(&s, 0);
    cs_candidate cand;
    char err[256];
    static const char l1[] = "{\"page\":\"https://p/\",\"url\":\"https://a\\/b.jpg\","
                             "\"alt\":\"caf\\u00e9 \\\"x\\\"\",\"n\":[1,{\"a\":2}],\"text\":\"t\"}";
    ASSERT_OK(cs_filter_parse_line(c, l1, sizeof l1 - 1, &s, &cand, err, sizeof err));
    ASSERT_MEM_EQ(cand.url.ptr, cand.url.len, "https://a/b.jpg", 15);
    ASSERT_MEM_EQ(cand.text.ptr, cand.text.len, "caf\xc3\xa9 \"x\"", 9);
    ASSERT_MEM_EQ(cand.page.ptr, cand.page.len, "https://p/", 10);
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"[1]", "expected an object"},
        {"{\"alt\":\"x\"}", "no \"url\""},
        {"{\"url\":5}", "\"url\" is not a string"},
        {"{\"url\":\"x\"} junk", "byte"},
        {"{\"url\":\"x", "byte"},
        {"", "byte"},
        {"{\"url\":\"a\\q\"}", "byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cs_status st = cs_filter_parse_line(c, bad[i].line, strlen(bad[i].line), &s, &cand, err,
                                            sizeof err);
        if (st != CS_EFORMAT || !strstr(err, bad[i].want))
            FAIL("case %zu: got %s '%s'", i, cs_status_name(st), err);
    }
    cs_buf_cleanup(&s);
    cs_filter_chain_free(c);
}

TEST(filter_stats_merge_and_json)
{
    static const char *const names[] = {"a", "b"};
    cs_filter_stats *x, *y;
    ASSERT_OK(cs_filter_stats_new(&x, names, 2, 2, 10));
    ASSERT_OK(cs_filter_stats_new(&y, names, 2, 2, 10));
    const char *r1[] = {NULL, "r"}, *r2[] = {"q", "r"}, *r3[] = {NULL, NULL};
    ASSERT_OK(cs_filter_stats_add(x, CS_SLICE_LIT("d.com"), CS_SLICE_LIT("u1"), r1, NULL));
    ASSERT_OK(cs_filter_stats_add(x, CS_SLICE_LIT("e.com"), CS_SLICE_LIT("u2"), r2, NULL));
    ASSERT_OK(cs_filter_stats_add(y, CS_SLICE_LIT("d.com"), CS_SLICE_LIT("u3"), r2, NULL));
    ASSERT_OK(cs_filter_stats_add(y, CS_SLICE_LIT("d.com"), CS_SLICE_LIT("u4"), r3, NULL));
    ASSERT_OK(cs_filter_stats_merge(x, y));
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_filter_stats_json(x, true, &b));
    ASSERT_STR_EQ(b.data,
                  "{\"items\":4,\"kept\":1,\"dropped\":3,\"filters\":["
                  "{\"name\":\"a\",\"in\":4,\"out\":2,\"failed\":2,\"reasons\":{\"q\":2},"
                  "\"failed_urls\":[\"u2\",\"u3\"],\"failed_urls_more\":0},"
                  "{\"name\":\"b\",\"in\":4,\"out\":1,\"failed\":3,\"reasons\":{\"r\":3},"
                  "\"failed_urls\":[\"u1\",\"u2\"],\"failed_urls_more\":1}],"
                  "\"domains\":{\"d.com\":{\"items\":3,\"kept\":1,"
                  "\"a\":{\"passed\":2,\"failed\":1},\"b\":{\"passed\":1,\"failed\":2}},"
                  "\"e.com\":{\"items\":1,\"kept\":0,"
                  "\"a\":{\"passed\":0,\"failed\":1},\"b\":{\"passed\":0,\"failed\":1}}}}");
    cs_buf_cleanup(&b);
    static const char *const other[] = {"a", "c"};
    cs_filter_stats *z;
    ASSERT_OK(cs_filter_stats_new(&z, other, 2, 0, 0));
    ASSERT_ST(cs_filter_stats_merge(x, z), CS_EINVAL);
    cs_filter_stats_free(x);
    cs_filter_stats_free(y);
    cs_filter_stats_free(z);
    /* past max_domains, domains count under (other) */
    ASSERT_OK(cs_filter_stats_new(&x, names, 2, 0, 1));
    ASSERT_OK(cs_filter_stats_add(x, CS_SLICE_LIT("d.com"), CS_SLICE_LIT("u"), r3, NULL));
    ASSERT_OK(cs_filter_stats_add(x, CS_SLICE_LIT("e.com"), CS_SLICE_LIT("u"), r3, NULL));
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_filter_stats_json(x, true, &b));
    ASSERT_CONTAINS(b.data, "\"(other)\":{\"items\":1");
    cs_buf_cleanup(&b);
    cs_filter_stats_free(x);
}

/* ---- the command, on WAT candidates, against filter_ref.py -------------- */

static bool have_python(void)
{
    return system("python3 -c 'import unicodedata, json' >/dev/null 2>&1") == 0;
}

/* Compares crawlset's stats (filters url, text, dedupe) with the reference's. */
static void compare_stats(const char *ours_path, const char *ref_path)
{
    json_error_t je;
    json_t *a = json_load_file(ours_path, 0, &je);
    if (!a)
        FAIL("%s: %s", ours_path, je.text);
    json_t *b = json_load_file(ref_path, 0, &je);
    if (!b)
        FAIL("%s: %s", ref_path, je.text);
    ASSERT_EQ(json_integer_value(json_object_get(a, "items")),
              json_integer_value(json_object_get(b, "items")));
    ASSERT_EQ(json_integer_value(json_object_get(a, "kept")),
              json_integer_value(json_object_get(b, "kept")));
    json_t *fs = json_object_get(a, "filters");
    ASSERT_EQ(json_array_size(fs), 3);
    for (size_t i = 0; i < json_array_size(fs); i++) {
        json_t *f = json_array_get(fs, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *g = json_object_get(json_object_get(b, "filters"), name);
        if (!g)
            FAIL("filter %s missing from the reference", name);
        ASSERT_EQ(json_integer_value(json_object_get(f, "in")),
                  json_integer_value(json_object_get(g, "in")));
        if (json_integer_value(json_object_get(f, "out")) !=
            json_integer_value(json_object_get(g, "out")))
            FAIL("filter %s: out %lld, reference %lld", name,
                 (long long)json_integer_value(json_object_get(f, "out")),
                 (long long)json_integer_value(json_object_get(g, "out")));
        if (!json_equal(json_object_get(f, "reasons"), json_object_get(g, "reasons"))) {
            char *x = json_dumps(json_object_get(f, "reasons"), JSON_SORT_KEYS);
            char *y = json_dumps(json_object_get(g, "reasons"), JSON_SORT_KEYS);
            FAIL("filter %s reasons: ours %s, reference %s", name, x, y);
        }
    }
    json_decref(a);
    json_decref(b);
}

TEST_T(filter_cli_wat_candidates_vs_reference, 120)
{
    if (!have_python()) {
        printf("SKIP: python3 is not installed (scripts/bootstrap installs it)\n");
        return;
    }
    const char *t = cs_test_tmpdir();
    char cmd[4096];
    /* candidates: the real Common Crawl WAT of the corpus (whirlwind: no
     * HTML links), the hand-written sample WAT, a synthetic one, and the
     * hand-made cases */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && python3 scripts/make-sample-wat -o '%s/s.wat' >/dev/null && "
             "python3 scripts/make-sample-wat --synthetic 120 --seed 5 -o '%s/y.wat' >/dev/null",
             CS_SOURCE_DIR, t, t);
    ASSERT_EQ(system(cmd), 0);
    char args[4096];
    /* (cs_test_crawlset's own redirection of stdout would win over one here) */
    snprintf(cmd, sizeof cmd, "'%s/crawlset' wat links '%s' '%s/s.wat' '%s/y.wat' >'%s/c.jsonl'",
             CS_BUILD_DIR, cs_test_corpus("warc/whirlwind/whirlwind.warc.wat.gz"), t, t, t);
    ASSERT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cat '%s/tests/filter/cases.jsonl' >> '%s/c.jsonl'", CS_SOURCE_DIR,
             t);
    ASSERT_EQ(system(cmd), 0);

    snprintf(args, sizeof args,
             "filter --block-domains blocked.example --stats '%s/st.json' <'%s/c.jsonl'", t, t);
    char *err = NULL, *kept = NULL;
    int rc = cs_test_crawlset(args, &kept, &err);
    if (rc)
        FAIL("rc %d: %s", rc, err);
    cs_free(err);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && python3 tests/filter/filter_ref.py data/filter/placeholder-words.txt "
             "--block blocked.example <'%s/c.jsonl' >'%s/ref.json'",
             CS_SOURCE_DIR, t, t);
    ASSERT_EQ(system(cmd), 0);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/st.json", t);
    snprintf(b, sizeof b, "%s/ref.json", t);
    compare_stats(a, b);
    /* --all-filters: every filter counts every row; the same rows are kept */
    snprintf(args, sizeof args,
             "filter --block-domains blocked.example --all-filters --stats '%s/sta.json' "
             "<'%s/c.jsonl'", t, t);
    char *kept_all = NULL;
    ASSERT_EQ(cs_test_crawlset(args, &kept_all, NULL), 0);
    ASSERT_STR_EQ(kept_all, kept);
    cs_free(kept_all);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && python3 tests/filter/filter_ref.py data/filter/placeholder-words.txt "
             "--block blocked.example --all-filters <'%s/c.jsonl' >'%s/refa.json'",
             CS_SOURCE_DIR, t, t);
    ASSERT_EQ(system(cmd), 0);
    snprintf(a, sizeof a, "%s/sta.json", t);
    snprintf(b, sizeof b, "%s/refa.json", t);
    compare_stats(a, b);
    snprintf(a, sizeof a, "%s/st.json", t);
    snprintf(b, sizeof b, "%s/sta.json", t);
    json_error_t je;
    json_t *ja = json_load_file(a, 0, &je), *jb = json_load_file(b, 0, &je);
    ASSERT(ja && jb);
    /* the text filter sees fewer rows when the chain stops early */
    json_int_t in_sc = json_integer_value(
        json_object_get(json_array_get(json_object_get(ja, "filters"), 1), "in"));
    json_int_t in_all = json_integer_value(
        json_object_get(json_array_get(json_object_get(jb, "filters"), 1), "in"));
    ASSERT(in_sc < in_all);
    json_decref(ja);
    json_decref(jb);

    /* kept rows are byte-identical input lines, in input order */
    size_t ilen;
    snprintf(a, sizeof a, "%s/c.jsonl", t);
    char *in = cs_test_read_file(a, &ilen);
    size_t nk = 0;
    char *p = in;
    for (char *k = kept, *nl; (nl = strchr(k, '\n')); k = nl + 1, nk++) {
        size_t n = (size_t)(nl - k + 1);
        char *at = memmem(p, ilen - (size_t)(p - in), k, n);
        if (!at || (at != in && at[-1] != '\n'))
            FAIL("kept row %zu is not an input line (in order)", nk + 1);
        p = at + n;
    }
    ASSERT(nk > 300);
    cs_free(in);
    cs_free(kept);

    /* a rules file gives the same result as the flags */
    snprintf(a, sizeof a, "%s/r.yaml", t);
    cs_test_write_file(a, "block-domains:\n  - blocked.example\n", 35);
    snprintf(args, sizeof args,
             "filter --rules '%s/r.yaml' --stats '%s/st2.json' <'%s/c.jsonl' >/dev/null", t, t,
             t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    snprintf(a, sizeof a, "%s/st2.json", t);
    snprintf(b, sizeof b, "%s/ref.json", t);
    compare_stats(a, b);
}

TEST_T(filter_cli_options, 60)
{
    const char *t = cs_test_tmpdir();
    char args[2048], path[600];
    snprintf(path, sizeof path, "%s/in.jsonl", t);
    static const char in[] =
        "{\"url\":\"https://e.com/1.jpg\",\"alt\":\"A dog running on a beach\"}\n"
        "not json\n"
        "\n"
        "{\"url\":\"https://e.com/2.jpg\",\"alt\":\"nude beach\"}\n"
        "{\"url\":\"https://e.com/3.jpg\",\"alt\":\"Ein Hund läuft am Strand entlang\"}\n"
        "{\"url\":\"https://e.com/4.svg\",\"alt\":\"A vector drawing of a dog\"}";
    cs_test_write_file(path, in, sizeof in - 1);
    char *out = NULL, *err = NULL;
    /* malformed rows: reported with their line, dropped, exit 1 */
    snprintf(args, sizeof args, "filter '%s' --tag-unsafe --stats '%s/s.json' --rejects '%s/r.jsonl'",
             path, t, t);
    ASSERT_EQ(cs_test_crawlset(args, &out, &err), 1);
    ASSERT_CONTAINS(err, ":2: ");
    ASSERT_CONTAINS(out, "{\"url\":\"https://e.com/2.jpg\",\"alt\":\"nude beach\",\"unsafe\":\"unsafe_word\"}\n");
    ASSERT(!strstr(out, "4.svg"));
    cs_free(out);
    cs_free(err);
    snprintf(path, sizeof path, "%s/r.jsonl", t);
    char *rej = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(rej, "{\"filter\":\"url\",\"reason\":\"extension\",\"row\":{\"url\":\"https://e.com/4.svg\"");
    cs_free(rej);
    snprintf(path, sizeof path, "%s/s.json", t);
    char *st = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(st, "\"malformed\":1,\"items\":4,\"kept\":3");
    ASSERT_CONTAINS(st, "\"tagged\":{\"unsafe_word\":1}");
    cs_free(st);
    /* language split */
    snprintf(args, sizeof args, "filter '%s/in.jsonl' --split-lang '%s/L' >/dev/null", t, t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 1);
    snprintf(path, sizeof path, "%s/L-multi.jsonl", t);
    char *multi = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(multi, "3.jpg");
    ASSERT(!strstr(multi, "1.jpg"));
    cs_free(multi);
    snprintf(path, sizeof path, "%s/L-en.jsonl", t);
    char *en = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(en, "1.jpg");
    cs_free(en);
    /* usage errors */
    ASSERT_EQ(cs_test_crawlset("filter --bogus", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("filter --min-text", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("filter --min-text abc", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("filter --no-min-text", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("filter --rules /nonexistent.yaml", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("filter --unsafe-regex '(' --drop-unsafe", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("filter --help", &out, NULL), 0);
    ASSERT_CONTAINS(out, "--min-text");
    ASSERT_CONTAINS(out, "--block-domains-file");
    cs_free(out);
    /* --no-dedupe and --min-text=0 keep everything parseable */
    snprintf(args, sizeof args,
             "filter --no-dedupe --min-text=0 --exclude-ext '' --no-placeholder < '%s/in.jsonl'", t);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 1);
    ASSERT_CONTAINS(out, "4.svg");
    cs_free(out);
}
