/* test_cli_warc.c - the `crawlset warc` command end to end: output formats,
 * exit codes, help, against the real corpus files. */
#include "test.h"

#define C(rel) "../shared/corpus/" rel

TEST(cli_help_everywhere_and_usage_errors)
{
    static const char *cmds[] = {"--help", "warc --help", "wat --help", "wet --help", "cc --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *out, *err;
        int rc = cs_test_crawlset(cmds[i], &out, &err);
        if (rc != 0)
            FAIL("crawlset %s: exit %d: %s", cmds[i], rc, err);
        ASSERT_CONTAINS(out, "usage");
        cs_free(out);
        cs_free(err);
    }
    char *err;
    ASSERT_EQ(cs_test_crawlset("", NULL, &err), 2);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("nosuchcommand", NULL, &err), 2);
    ASSERT_CONTAINS(err, "unknown command");
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("warc frobnicate x", NULL, &err), 2);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("warc ls --types nosuchtype x", NULL, &err), 2);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("warc ls /nonexistent/file.warc", NULL, &err), 3);
    ASSERT_CONTAINS(err, "/nonexistent/file.warc");
    cs_free(err);
}

TEST(cli_warc_ls_json_exact)
{
    char *out;
    ASSERT_EQ(cs_test_crawlset("warc ls --json " C("warc/warcio/example.warc.gz"), &out, NULL), 0);
    ASSERT_STR_EQ(out,
        "{\"offset\":0,\"compressed_length\":353,\"type\":\"warcinfo\",\"uri\":null,\"content_length\":249}\n"
        "{\"offset\":353,\"compressed_length\":431,\"type\":\"warcinfo\",\"uri\":null,\"content_length\":470}\n"
        "{\"offset\":784,\"compressed_length\":1228,\"type\":\"response\",\"uri\":\"http://example.com/\",\"content_length\":975}\n"
        "{\"offset\":2012,\"compressed_length\":609,\"type\":\"request\",\"uri\":\"http://example.com/\",\"content_length\":493}\n"
        "{\"offset\":2621,\"compressed_length\":586,\"type\":\"revisit\",\"uri\":\"http://example.com/\",\"content_length\":369}\n"
        "{\"offset\":3207,\"compressed_length\":609,\"type\":\"request\",\"uri\":\"http://example.com/\",\"content_length\":493}\n");
    cs_free(out);
    ASSERT_EQ(cs_test_crawlset("warc ls " C("warc/resiliparse/block-sized-records.warc"), &out, NULL), 0);
    ASSERT_STR_EQ(out, "0\t16386\tunknown\t\n16386\t16386\tunknown\t\n32772\t16386\tunknown\t\n");
    cs_free(out);
}

TEST(cli_warc_ls_types_and_errors_exit_1)
{
    char *out, *err;
    ASSERT_EQ(cs_test_crawlset("warc ls --types response " C("warc/resiliparse/warcfile.warc.gz"), &out, NULL), 0);
    size_t lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    ASSERT_EQ(lines, 16);
    cs_free(out);
    ASSERT_EQ(cs_test_crawlset("warc ls " C("warc/warcio/example-trunc.warc"), &out, &err), 1);
    ASSERT_CONTAINS(err, "example-trunc.warc: offset");
    ASSERT_CONTAINS(out, "2566\t804\trequest\thttp://example.com/\n");
    cs_free(out);
    cs_free(err);
}

TEST(cli_warc_stat_counts)
{
    char *out;
    ASSERT_EQ(cs_test_crawlset("warc stat --json " C("warc/resiliparse/warcfile.warc.gz"), &out, NULL), 0);
    ASSERT_CONTAINS(out, "\"warcinfo\":{\"records\":1,");
    ASSERT_CONTAINS(out, "\"response\":{\"records\":16,");
    ASSERT_CONTAINS(out, "\"request\":{\"records\":17,");
    ASSERT_CONTAINS(out, "\"metadata\":{\"records\":16,");
    ASSERT_CONTAINS(out, "\"records\":50,\"errors\":0");
    cs_free(out);
}

TEST(cli_warc_cat_reproduces_the_plain_file)
{
    char *out;
    size_t outn, n;
    ASSERT_EQ(cs_test_crawlset_n("warc cat " C("warc/resiliparse/warcfile.warc.gz"), &out, &outn,
                                 NULL),
              0);
    char *want = cs_test_read_file(cs_test_corpus("warc/resiliparse/warcfile.warc"), &n);
    ASSERT_MEM_EQ(out, outn, want, n);
    cs_free(out);
    cs_free(want);
    /* from standard input, one thread or two */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "warc cat - < %s", cs_test_corpus("warc/whirlwind/whirlwind.warc.gz"));
    char *a, *b;
    size_t an, bn;
    ASSERT_EQ(cs_test_crawlset_n(cmd, &a, &an, NULL), 0);
    ASSERT_EQ(cs_test_crawlset_n("warc cat " C("warc/whirlwind/whirlwind.warc.gz"), &b, &bn, NULL),
              0);
    ASSERT(an > 70000);
    ASSERT_MEM_EQ(a, an, b, bn);
    cs_free(b);
    snprintf(cmd, sizeof cmd, "warc cat - < %s", cs_test_corpus("warc/whirlwind/whirlwind.warc"));
    ASSERT_EQ(cs_test_crawlset_n(cmd, &b, &bn, NULL), 0);
    want = cs_test_read_file(cs_test_corpus("warc/whirlwind/whirlwind.warc"), &n);
    ASSERT_MEM_EQ(b, bn, want, n);
    cs_free(a);
    cs_free(b);
    cs_free(want);
}

TEST(cli_warc_index_cdxj_and_csv)
{
    char *out;
    ASSERT_EQ(cs_test_crawlset("warc index " C("warc/whirlwind/whirlwind.warc.gz"), &out, NULL), 0);
    ASSERT_CONTAINS(out, "org,wikipedia,an)/wiki/escopete 2024");
    ASSERT_CONTAINS(out, "\"status\":\"200\"");
    ASSERT_CONTAINS(out, "\"mime\":\"text/html\"");
    cs_free(out);
    ASSERT_EQ(cs_test_crawlset("warc index --format csv " C("warc/resiliparse/warcfile.warc.gz"), &out, NULL), 0);
    ASSERT(!strncmp(out, "url,fetch_time,fetch_status,warc_filename,warc_record_offset,warc_record_length", 79));
    ASSERT_CONTAINS(out, "\"http://003338.cn/l41/481397.html\",");
    ASSERT_CONTAINS(out, ",940,10905,response\n");
    cs_free(out);
}

TEST(cli_warc_verify_exit_codes)
{
    char *out, *err;
    ASSERT_EQ(cs_test_crawlset("warc verify " C("warc/resiliparse/warcfile.warc.gz"), &out, &err), 0);
    ASSERT_CONTAINS(err, "16 ok, 0 failed");
    cs_free(out);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("warc verify --json " C("warc/warcio/example-digest.warc"), &out, &err), 1);
    ASSERT_CONTAINS(out, "\"offset\":922");
    cs_free(out);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("warc verify " C("warc/resiliparse/clipped.warc.gz"), &out, &err), 1);
    ASSERT_CONTAINS(err, "truncated");
    cs_free(out);
    cs_free(err);
}
