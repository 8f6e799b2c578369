/* test_docs.c - the document / task-graph filter chain: required fields,
 * dangerous title, steps, duplicate title, a caller's filter, complete
 * per-filter and per-domain stats, and `crawlset filter --docs`. */
#include <jansson.h>

#include "../test.h"

static const char *low_rating(void *ud, const cs_doc_item *it)
{
    (void)ud;
    const cs_doc_field *r = cs_doc_item_get(it, "rating");
    if (r && !r->is_string && r->count == 1 && atof(r->text.ptr) < 3.0)
        return "low_rating";
    return NULL;
}

static const struct {
    const char *json, *want; /* want: "kept" or the first failing reason */
} CASES[] = {
    {"{\"title\":\"How to Bake Bread\",\"url\":\"https://www.wikihow.com/Bake-Bread\","
     "\"steps\":[{\"text\":\"mix\"},{\"text\":\"bake\"}],\"rating\":4.5}", "kept"},
    {"{\"title\":\"\",\"url\":\"https://www.wikihow.com/x\",\"steps\":[1,2]}", "empty_title"},
    {"{\"title\":\"   \",\"url\":\"https://www.wikihow.com/y\",\"steps\":[1,2]}", "empty_title"},
    {"{\"url\":\"https://www.wikihow.com/z\",\"steps\":[1,2]}", "empty_title"},
    {"{\"title\":\"Fix a bike\",\"url\":\"\",\"steps\":[1,2]}", "empty_url"},
    {"{\"title\":\"Fix a car\",\"url\":null,\"steps\":[1,2]}", "empty_url"},
    {"{\"title\":\"How to make a BOMB at home\",\"url\":\"https://e.org/1\",\"steps\":[1,2]}",
     "dangerous_title"},
    {"{\"title\":\"Bombastic speeches\",\"url\":\"https://e.org/2\",\"steps\":[1,2]}", "kept"},
    {"{\"title\":\"Boil an egg\",\"url\":\"https://e.org/3\",\"steps\":[1]}", "single_step"},
    {"{\"title\":\"Fry an egg\",\"url\":\"https://e.org/4\",\"steps\":[]}", "single_step"},
    {"{\"title\":\"Poach an egg\",\"url\":\"https://e.org/5\"}", "no_steps"},
    {"{\"title\":\"Scramble an egg\",\"url\":\"https://e.org/6\",\"steps\":\"stir\"}", "no_steps"},
    {"{\"title\":\"how to  bake BREAD\",\"url\":\"https://other.com/b\",\"steps\":[1,2]}",
     "duplicate_title"},
    {"{\"title\":\"Grow tomatoes\",\"url\":\"https://e.org/7\",\"steps\":[1,2],\"rating\":2}",
     "low_rating"},
    {"{\"title\":\"Grow basil\",\"url\":\"https://e.org/8\",\"steps\":[1,2],\"domain\":\"x.net\"}",
     "kept"},
};

TEST(docs_chain_builtins_and_stats)
{
    cs_doc_rules r;
    ASSERT_OK(cs_doc_rules_init(&r));
    char err[256];
    ASSERT_OK(cs_strlist_push(&r.required, "url", 3));
    ASSERT_OK(cs_strlist_push(&r.dangerous_words, "bomb", 4));
    cs_doc_filter extra = {"rating", low_rating, NULL};
    cs_doc_chain *c;
    ASSERT_OK(cs_doc_chain_new(&c, &r, &extra, 1, err, sizeof err));
    cs_doc_rules_cleanup(&r);
    cs_arena a;
    cs_arena_init(&a, 0);
    size_t n = sizeof CASES / sizeof CASES[0], kept = 0;
    for (size_t i = 0; i < n; i++) {
        cs_arena_reset(&a);
        cs_doc_item it;
        ASSERT_OK(cs_doc_item_parse(CASES[i].json, strlen(CASES[i].json), &a, &it, err, sizeof err));
        bool keep;
        const char *why;
        ASSERT_OK(cs_doc_chain_apply(c, &it, &keep, &why));
        const char *got = keep ? "kept" : why;
        if (strcmp(got, CASES[i].want))
            FAIL("case %zu: got %s, want %s", i, got, CASES[i].want);
        kept += keep;
    }
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_filter_stats_json(cs_doc_chain_stats(c), true, &b));
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    ASSERT(j);
    ASSERT_EQ(json_integer_value(json_object_get(j, "items")), n);
    ASSERT_EQ(json_integer_value(json_object_get(j, "kept")), kept);
    /* every filter saw every item */
    json_t *fs = json_object_get(j, "filters");
    ASSERT_EQ(json_array_size(fs), 5);
    for (size_t i = 0; i < 5; i++)
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(fs, i), "in")), n);
    /* counts include items that an earlier filter failed: the empty-title
     * rows with one step... none; the steps filter failed 4 rows */
    json_t *steps = json_array_get(fs, 2);
    ASSERT_STR_EQ(json_string_value(json_object_get(steps, "name")), "steps");
    ASSERT_EQ(json_integer_value(json_object_get(steps, "failed")), 4);
    json_t *req = json_array_get(fs, 0);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(req, "reasons"), "empty_title")), 3);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(req, "reasons"), "empty_url")), 2);
    /* failed URLs of the dedupe filter, per-domain counts */
    json_t *dd = json_array_get(fs, 3);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(dd, "failed_urls"), 0)),
                  "https://other.com/b");
    json_t *doms = json_object_get(j, "domains");
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doms, "wikihow.com"), "items")), 4);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doms, "e.org"), "items")), 7);
    ASSERT_EQ(json_integer_value(json_object_get(json_object_get(doms, "x.net"), "kept")), 1);
    json_decref(j);
    cs_buf_cleanup(&b);
    /* parse errors */
    cs_doc_item it;
    ASSERT_ST(cs_doc_item_parse("[1]", 3, &a, &it, err, sizeof err), CS_EFORMAT);
    ASSERT_ST(cs_doc_item_parse("{\"a\":", 5, &a, &it, err, sizeof err), CS_EFORMAT);
    ASSERT_CONTAINS(err, "byte");
    cs_arena_cleanup(&a);
    cs_doc_chain_free(c);
}

TEST_T(docs_cli, 30)
{
    const char *t = cs_test_tmpdir();
    char path[600], args[2048];
    snprintf(path, sizeof path, "%s/docs.jsonl", t);
    FILE *f = fopen(path, "w");
    ASSERT(f);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        fprintf(f, "%s\n", CASES[i].json);
    fputs("not json\n", f);
    fclose(f);
    char *out = NULL, *err = NULL;
    /* the shipped dangerous-words list is used by default */
    snprintf(args, sizeof args,
             "filter --docs --doc-required title,url --stats '%s/s.json' --rejects '%s/r.jsonl' '%s'",
             t, t, path);
    ASSERT_EQ(cs_test_crawlset(args, &out, &err), 1);
    ASSERT_CONTAINS(err, ":16: ");
    ASSERT_CONTAINS(out, "Bake Bread");
    ASSERT_CONTAINS(out, "Grow tomatoes"); /* no rating filter in the CLI */
    ASSERT(!strstr(out, "BOMB"));
    cs_free(out);
    cs_free(err);
    snprintf(path, sizeof path, "%s/r.jsonl", t);
    char *rej = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(rej, "{\"reason\":\"dangerous_title\",\"row\":{\"title\":\"How to make a BOMB");
    cs_free(rej);
    snprintf(path, sizeof path, "%s/s.json", t);
    char *st = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(st, "{\"malformed\":1,\"items\":15,\"kept\":4,");
    cs_free(st);
    /* the doc-* rules from a rules file */
    snprintf(path, sizeof path, "%s/r.yaml", t);
    static const char yaml[] = "doc-min-steps: 1\ndoc-dedupe-title: false\ndoc-dangerous-words: [egg]\n";
    cs_test_write_file(path, yaml, sizeof yaml - 1);
    snprintf(args, sizeof args, "filter --docs --rules '%s' '%s/docs.jsonl'", path, t);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 1);
    ASSERT_CONTAINS(out, "how to  bake BREAD");
    ASSERT(!strstr(out, "Boil an egg"));
    ASSERT_CONTAINS(out, "BOMB"); /* the file's list replaced the shipped one */
    cs_free(out);
}
