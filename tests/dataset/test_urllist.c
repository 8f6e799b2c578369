/* test_urllist.c - URL list readers: txt, csv, tsv, jsonl and `wat links`
 * output, plain and gzip (by content), BOM, CRLF, quoting, missing columns,
 * over-long rows, unterminated quotes, bad UTF-8, and the shared corpus. */
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "test.h"

static cs_urllist_reader *open_str(const char *text, const char *name, const cs_urllist_opts *o)
{
    cs_urllist_reader *r;
    cs_status st = cs_urllist_open_mem(&r, text, strlen(text), name, o);
    if (st)
        FAIL("open: %s: %s", cs_status_name(st), cs_urllist_errmsg(r));
    return r;
}

static const cs_urllist_row *next_ok(cs_urllist_reader *r)
{
    const cs_urllist_row *row;
    cs_status st = cs_urllist_next(r, &row);
    if (st)
        FAIL("next: %s: %s", cs_status_name(st), cs_urllist_errmsg(r));
    return row;
}

static const char *col(const cs_urllist_row *row, const char *name)
{
    for (size_t k = 0; k < row->ncolumns; k++)
        if (!strcmp(row->columns[k].name, name))
            return row->columns[k].value;
    FAIL("no column %s", name);
}

TEST(urllist_txt_lines_bom_crlf_blank)
{
    const char *txt = "\xEF\xBB\xBFhttps://a.example/1.jpg\r\n"
                      "\r\n"
                      "   https://a.example/2.jpg  \n"
                      "\n"
                      "https://a.example/3.jpg";
    cs_urllist_reader *r = open_str(txt, "list.txt", NULL);
    ASSERT_EQ(cs_urllist_format_of(r), CS_URLLIST_TXT);
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://a.example/1.jpg");
    ASSERT_UEQ(row->index, 0);
    ASSERT_UEQ(row->line, 1);
    ASSERT(row->caption == NULL);
    ASSERT_UEQ(row->ncolumns, 0);
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://a.example/2.jpg");
    ASSERT_UEQ(row->index, 1);
    ASSERT_UEQ(row->line, 3);
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://a.example/3.jpg");
    ASSERT_UEQ(row->index, 2);
    ASSERT_UEQ(row->line, 5);
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_stats s;
    cs_urllist_stats_get(r, &s);
    ASSERT_UEQ(s.rows, 3);
    ASSERT_UEQ(s.errors, 0);
    ASSERT_UEQ(s.lines, 5);
    cs_urllist_free(r);
}

TEST(urllist_txt_rejects_columns)
{
    cs_urllist_opts o = {.format = CS_URLLIST_TXT, .caption_col = "caption"};
    cs_urllist_reader *r;
    ASSERT_ST(cs_urllist_open_mem(&r, "https://a/\n", 11, "l.txt", &o), CS_EINVAL);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "no columns");
    cs_urllist_free(r);
}

TEST(urllist_csv_quoting_and_columns)
{
    const char *csv = "\xEF\xBB\xBF" "id,url,caption,score\r\n"
                      "1,https://e.com/a.jpg,\"a dog, running\",0.5\r\n"
                      "2,\"https://e.com/b.jpg\",\"two\r\nlines \"\"quoted\"\"\",\r\n"
                      "3,https://e.com/c.jpg,,0.7\n"
                      "4,https://e.com/d.jpg,plain,\"0.8\"";
    const char *save[] = {"id", "score"};
    cs_urllist_opts o = {.caption_col = "caption", .save_columns = save, .nsave = 2};
    cs_urllist_reader *r = open_str(csv, "pairs.csv", &o);
    ASSERT_EQ(cs_urllist_format_of(r), CS_URLLIST_CSV);
    size_t nh;
    const char *const *h = cs_urllist_header(r, &nh);
    ASSERT_UEQ(nh, 4);
    ASSERT_STR_EQ(h[0], "id");
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/a.jpg");
    ASSERT_STR_EQ(row->caption, "a dog, running");
    ASSERT_UEQ(row->ncolumns, 2);
    ASSERT_STR_EQ(row->columns[0].name, "id");
    ASSERT_STR_EQ(row->columns[0].value, "1");
    ASSERT(row->columns[0].json == NULL);
    ASSERT_STR_EQ(col(row, "score"), "0.5");
    ASSERT_UEQ(row->line, 2);
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/b.jpg");
    ASSERT_STR_EQ(row->caption, "two\r\nlines \"quoted\"");
    ASSERT_STR_EQ(col(row, "score"), "");
    ASSERT_UEQ(row->line, 3);
    row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "");
    ASSERT_UEQ(row->line, 5);
    ASSERT_UEQ(row->index, 2);
    row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "plain");
    ASSERT_STR_EQ(col(row, "score"), "0.8");
    ASSERT_UEQ(row->line, 6);
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);
}

TEST(urllist_csv_lenient_quotes_and_bad_rows)
{
    const char *csv = "url,caption\n"
                      "https://e.com/1,\"Hello\" said he\n"   /* text after a closing quote */
                      "https://e.com/2,a \"quoted\" word\n"    /* quotes inside a field */
                      "https://e.com/3,x,extra\n"             /* too many fields */
                      ",empty url\n"                          /* no URL */
                      "https://e.com/4,ok\n";
    cs_urllist_opts o = {.caption_col = "caption"};
    cs_urllist_reader *r = open_str(csv, "l.csv", &o);
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "Hello said he");
    row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "a \"quoted\" word");
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "l.csv:4: expected 2 fields");
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "l.csv:5: empty URL");
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/4");
    ASSERT_UEQ(row->index, 2); /* bad rows take no index */
    ASSERT_UEQ(row->line, 6);
    cs_urllist_stats s;
    cs_urllist_stats_get(r, &s);
    ASSERT_UEQ(s.errors, 2);
    ASSERT_UEQ(s.rows, 3);
    cs_urllist_free(r);
}

TEST(urllist_csv_unterminated_quote_spoils_one_line)
{
    const char *csv = "url,caption\n"
                      "https://e.com/1,\"never closed\n"
                      "https://e.com/2,fine\n"
                      "https://e.com/3,also fine\n";
    cs_urllist_opts o = {.caption_col = "caption", .max_line = 40};
    cs_urllist_reader *r = open_str(csv, "q.csv", &o);
    const cs_urllist_row *row;
    /* the open quote swallows the following lines until the limit or the end;
       only its own line is lost */
    ASSERT_ST(cs_urllist_next(r, &row), CS_ETOOBIG);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "q.csv:2:");
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/2");
    ASSERT_UEQ(row->line, 3);
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/3");
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);

    /* at the end of input, without hitting the limit */
    const char *csv2 = "url,caption\nhttps://e.com/1,ok\nhttps://e.com/2,\"open\nhttps://e.com/3,x\n";
    cs_urllist_opts o2 = {.caption_col = "caption"};
    r = open_str(csv2, "q2.csv", &o2);
    row = next_ok(r);
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "q2.csv:3: a quote opened here never closes");
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/3");
    ASSERT_UEQ(row->line, 4);
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);
}

TEST(urllist_csv_missing_columns_are_clear_errors)
{
    cs_urllist_reader *r;
    const char *csv = "link,text\nhttps://e.com/1,x\n";
    ASSERT_ST(cs_urllist_open_mem(&r, csv, strlen(csv), "m.csv", NULL), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "m.csv:1: no URL column \"url\" in the header");
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "\"link\", \"text\"");
    cs_urllist_free(r);

    cs_urllist_opts o = {.url_col = "link", .caption_col = "caption"};
    ASSERT_ST(cs_urllist_open_mem(&r, csv, strlen(csv), "m.csv", &o), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "no caption column \"caption\"");
    cs_urllist_free(r);

    const char *save[] = {"nope"};
    cs_urllist_opts o2 = {.url_col = "link", .save_columns = save, .nsave = 1};
    ASSERT_ST(cs_urllist_open_mem(&r, csv, strlen(csv), "m.csv", &o2), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "no column \"nope\" to save");
    cs_urllist_free(r);

    cs_urllist_opts o3 = {.url_col = "link"};
    r = open_str(csv, "m.csv", &o3);
    ASSERT_STR_EQ(next_ok(r)->url, "https://e.com/1");
    cs_urllist_free(r);

    ASSERT_ST(cs_urllist_open_mem(&r, "", 0, "e.csv", NULL), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "no header");
    cs_urllist_free(r);
}

TEST(urllist_tsv)
{
    const char *tsv = "caption\turl\tw\n"
                      "a cat\thttps://e.com/cat.jpg\t640\n"
                      "\"quoted, \"\"tab\tinside\"\"\"\thttps://e.com/q.jpg\t1\n"
                      "it's \"fine\"\thttps://e.com/f.jpg\t2\n";
    const char *save[] = {"w"};
    cs_urllist_opts o = {.caption_col = "caption", .save_columns = save, .nsave = 1};
    cs_urllist_reader *r = open_str(tsv, "x.tsv.gz", &o); /* the name's .gz is looked through */
    ASSERT_EQ(cs_urllist_format_of(r), CS_URLLIST_TSV);
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/cat.jpg");
    ASSERT_STR_EQ(row->caption, "a cat");
    ASSERT_STR_EQ(col(row, "w"), "640");
    row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "quoted, \"tab\tinside\"");
    row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "it's \"fine\"");
    cs_urllist_free(r);
}

TEST(urllist_jsonl_values)
{
    const char *jl = "{\"url\":\"https://e.com/1\",\"caption\":\"one\",\"n\":3,\"o\":{\"a\":[1,2]}}\n"
                     "{\"url\":\"https://e.com/2\",\"caption\":null,\"n\":true}\r\n"
                     "not json\n"
                     "[1,2]\n"
                     "{\"caption\":\"no url\"}\n"
                     "{\"url\":5}\n"
                     "{\"url\":\"https://e.com/3\",\"caption\":42}\n";
    const char *save[] = {"n", "o"};
    cs_urllist_opts o = {.caption_col = "caption", .save_columns = save, .nsave = 2};
    cs_urllist_reader *r = open_str(jl, "c.jsonl", &o);
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->caption, "one");
    ASSERT_STR_EQ(row->columns[0].value, "3");
    ASSERT_STR_EQ(row->columns[0].json, "3");
    ASSERT_STR_EQ(row->columns[1].json, "{\"a\":[1,2]}");
    row = next_ok(r);
    ASSERT(row->caption == NULL);
    ASSERT_STR_EQ(row->columns[0].json, "true");
    ASSERT(row->columns[1].value == NULL && row->columns[1].json == NULL); /* absent */
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "c.jsonl:3: bad JSON");
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "c.jsonl:4: not a JSON object");
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "c.jsonl:5: no \"url\" key");
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "c.jsonl:6: \"url\" is not a string");
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/3");
    ASSERT_STR_EQ(row->caption, "42");
    ASSERT_UEQ(row->index, 2);
    ASSERT_UEQ(row->line, 7);
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);
}

TEST(urllist_json_array_is_explained)
{
    cs_urllist_reader *r;
    const char *j = "[{\"url\":\"https://e.com/\"}]";
    ASSERT_ST(cs_urllist_open_mem(&r, j, strlen(j), "list.json", NULL), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "JSON array, not JSON Lines");
    cs_urllist_free(r);
    /* the WHATWG URL test data in the corpus is such an array */
    ASSERT_ST(cs_urllist_open(&r, cs_test_corpus("urls/wpt-urltestdata.json"), NULL), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "jq -c");
    cs_urllist_free(r);
}

TEST(urllist_wat_links_candidates)
{
    /* as `crawlset wat links` prints them */
    const char *jl =
        "{\"page\":\"https://www.example.com/\",\"path\":\"IMG@/src\","
        "\"url\":\"https://www.example.com/img/logo.png\",\"alt\":\"Example logo\"}\n"
        "{\"page\":\"https://www.example.com/\",\"path\":\"A@/href\","
        "\"url\":\"https://www.example.com/about\",\"text\":\"About\"}\n";
    cs_urllist_opts o = {.format = CS_URLLIST_WAT_LINKS};
    cs_urllist_reader *r = open_str(jl, "<stdin>", &o);
    ASSERT_EQ(cs_urllist_format_of(r), CS_URLLIST_WAT_LINKS);
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://www.example.com/img/logo.png");
    ASSERT_STR_EQ(row->caption, "Example logo");
    ASSERT_UEQ(row->ncolumns, 1);
    ASSERT_STR_EQ(row->columns[0].name, "page");
    ASSERT_STR_EQ(row->columns[0].value, "https://www.example.com/");
    row = next_ok(r);
    ASSERT(row->caption == NULL);
    cs_urllist_free(r);
}

TEST(urllist_sniffs_format_without_extension)
{
    struct {
        const char *text;
        cs_urllist_format want;
    } cases[] = {
        {"https://e.com/a\nhttps://e.com/b\n", CS_URLLIST_TXT},
        {"https://e.com/a,b\n", CS_URLLIST_TXT}, /* a comma, but no url column named */
        {"url,caption\nhttps://e.com/a,x\n", CS_URLLIST_CSV},
        {"url\nhttps://e.com/a\n", CS_URLLIST_CSV},
        {"\n\nurl\tcaption\nhttps://e.com/a\tx\n", CS_URLLIST_TSV},
        {"{\"url\":\"https://e.com/a\"}\n", CS_URLLIST_JSONL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cs_urllist_reader *r = open_str(cases[i].text, "<stdin>", NULL);
        if (cs_urllist_format_of(r) != cases[i].want)
            FAIL("case %zu: format %s", i, cs_urllist_format_name(cs_urllist_format_of(r)));
        const cs_urllist_row *row = next_ok(r);
        ASSERT(!strncmp(row->url, "https://e.com/a", 15));
        cs_urllist_free(r);
    }
    cs_urllist_format f;
    ASSERT(cs_urllist_format_parse("ndjson", &f) && f == CS_URLLIST_JSONL);
    ASSERT(cs_urllist_format_parse("wat-links", &f) && f == CS_URLLIST_WAT_LINKS);
    ASSERT(cs_urllist_format_parse("wat_links", &f) && f == CS_URLLIST_WAT_LINKS);
    ASSERT(!cs_urllist_format_parse("parquet", &f));
}

TEST(urllist_bad_utf8_and_control_characters)
{
    const char *csv = "url,caption\n"
                      "https://e.com/caf\xE9 au lait.jpg,caf\xE9 \xC3\xA9t\xC3\xA9\n"
                      "https://e.com/\xE6\x97\xA5.jpg,\xF0\x9F\x90\xB1\n"
                      "\"https://e.com/a\x01\x62\",x\n";
    cs_urllist_opts o = {.caption_col = "caption"};
    cs_urllist_reader *r = open_str(csv, "u.csv", &o);
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/caf%E9%20au%20lait.jpg");
    ASSERT_STR_EQ(row->caption, "caf\xEF\xBF\xBD \xC3\xA9t\xC3\xA9");
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/\xE6\x97\xA5.jpg"); /* valid UTF-8 is kept */
    ASSERT_STR_EQ(row->caption, "\xF0\x9F\x90\xB1");
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "control character 0x01");
    cs_urllist_stats s;
    cs_urllist_stats_get(r, &s);
    ASSERT_UEQ(s.repaired, 1);
    cs_urllist_free(r);

    /* NUL bytes in a txt line: the URL is refused, not cut short */
    const char nul[] = "https://e.com/a\0b\nhttps://e.com/c\n";
    ASSERT_OK(cs_urllist_open_mem(&r, nul, sizeof nul - 1, "n.txt", NULL));
    ASSERT_ST(cs_urllist_next(r, &row), CS_EFORMAT);
    ASSERT_STR_EQ(next_ok(r)->url, "https://e.com/c");
    cs_urllist_free(r);
}

TEST(urllist_huge_lines_are_bounded)
{
    size_t big = 3u << 20; /* 3 MiB line, over the 1 MiB default */
    size_t n = big + 200;
    char *d = cs_test_keep(malloc(n));
    size_t o = (size_t)sprintf(d, "https://e.com/first\nhttps://e.com/");
    memset(d + o, 'x', big);
    o += big;
    o += (size_t)sprintf(d + o, "\nhttps://e.com/last\n");
    char p[512];
    snprintf(p, sizeof p, "%s/big.txt", cs_test_tmpdir());
    cs_test_write_file(p, d, o);
    cs_urllist_reader *r;
    ASSERT_OK(cs_urllist_open(&r, p, NULL));
    const cs_urllist_row *row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/first");
    ASSERT_ST(cs_urllist_next(r, &row), CS_ETOOBIG);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "big.txt:2: row longer than 1048576 bytes");
    row = next_ok(r);
    ASSERT_STR_EQ(row->url, "https://e.com/last");
    ASSERT_UEQ(row->line, 3);
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);
}

static void write_gz(const char *p, const char *text, size_t n, size_t members)
{
    gzFile g = gzopen(p, "wb");
    ASSERT(g);
    size_t per = (n + members - 1) / members;
    gzclose(g);
    /* several members, concatenated, as `cat a.gz b.gz` would */
    for (size_t i = 0; i < n; i += per) {
        g = gzopen(p, i ? "ab" : "wb");
        ASSERT(g);
        size_t k = n - i < per ? n - i : per;
        ASSERT_EQ(gzwrite(g, text + i, (unsigned)k), (int)k);
        ASSERT_EQ(gzclose(g), Z_OK);
    }
}

TEST(urllist_gzip_by_content)
{
    const char *csv = "url,caption\nhttps://e.com/1,one\nhttps://e.com/2,two\nhttps://e.com/3,three\n";
    char p[512];
    snprintf(p, sizeof p, "%s/list.csv", cs_test_tmpdir()); /* gzip despite the name */
    write_gz(p, csv, strlen(csv), 3);
    cs_urllist_opts o = {.caption_col = "caption"};
    cs_urllist_reader *r;
    ASSERT_OK(cs_urllist_open(&r, p, &o));
    ASSERT_STR_EQ(next_ok(r)->caption, "one");
    ASSERT_STR_EQ(next_ok(r)->caption, "two");
    ASSERT_STR_EQ(next_ok(r)->caption, "three");
    const cs_urllist_row *row;
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);

    /* through a pipe (standard input style), and from memory */
    int fd = open(p, O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_OK(cs_urllist_open_fd(&r, fd, "<stdin>", &o));
    ASSERT_EQ(cs_urllist_format_of(r), CS_URLLIST_CSV);
    ASSERT_STR_EQ(next_ok(r)->url, "https://e.com/1");
    cs_urllist_free(r);
    close(fd);
    size_t n;
    char *gz = cs_test_keep(cs_test_read_file(p, &n));
    ASSERT_OK(cs_urllist_open_mem(&r, gz, n, "mem.csv.gz", &o));
    ASSERT_STR_EQ(next_ok(r)->caption, "one");
    cs_urllist_free(r);

    /* truncated gzip: a fatal error, the cut-off row is not returned */
    snprintf(p, sizeof p, "%s/cut.txt.gz", cs_test_tmpdir());
    char text[4000];
    size_t tl = 0;
    for (int i = 0; i < 100; i++)
        tl += (size_t)sprintf(text + tl, "https://e.com/%d\n", i);
    write_gz(p, text, tl, 1);
    char *all = cs_test_keep(cs_test_read_file(p, &n));
    cs_test_write_file(p, all, n - 12);
    ASSERT_OK(cs_urllist_open(&r, p, NULL));
    cs_status st;
    size_t rows = 0;
    while ((st = cs_urllist_next(r, &row)) == CS_OK)
        rows++;
    ASSERT_ST(st, CS_EGZIP);
    ASSERT(rows < 100);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "gzip");
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);
}

TEST(urllist_open_errors)
{
    cs_urllist_reader *r;
    ASSERT_ST(cs_urllist_open(&r, "/nonexistent/urls.txt", NULL), CS_ENOTFOUND);
    ASSERT_CONTAINS(cs_urllist_errmsg(r), "No such file");
    cs_urllist_free(r);
    /* an empty txt list is fine and empty */
    r = open_str("\n\n", "e.txt", NULL);
    const cs_urllist_row *row;
    ASSERT_ST(cs_urllist_next(r, &row), CS_DONE);
    cs_urllist_free(r);
}

TEST(urllist_row_dup)
{
    const char *csv = "url,caption,a,b\nhttps://e.com/1,cap,x,\n";
    const char *save[] = {"a", "b"};
    cs_urllist_opts o = {.caption_col = "caption", .save_columns = save, .nsave = 2};
    cs_urllist_reader *r = open_str(csv, "d.csv", &o);
    cs_urllist_row *c = cs_urllist_row_dup(next_ok(r));
    cs_urllist_free(r); /* the copy outlives the reader */
    ASSERT(c);
    ASSERT_STR_EQ(c->url, "https://e.com/1");
    ASSERT_STR_EQ(c->caption, "cap");
    ASSERT_UEQ(c->ncolumns, 2);
    ASSERT_STR_EQ(c->columns[0].name, "a");
    ASSERT_STR_EQ(c->columns[0].value, "x");
    ASSERT_STR_EQ(c->columns[1].value, "");
    ASSERT(c->columns[1].json == NULL);
    cs_free(c);
}

/* Every file of the shared URL corpus, in every format: rows + errors account
 * for every non-blank line or the open fails cleanly; nothing crashes. */
TEST(urllist_shared_corpus_files)
{
    const char *dir = cs_test_corpus("urls");
    DIR *dp = opendir(dir);
    ASSERT(dp);
    struct dirent *e;
    size_t files = 0;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        for (int f = CS_URLLIST_AUTO; f <= CS_URLLIST_WAT_LINKS; f++) {
            cs_urllist_opts o = {.format = (cs_urllist_format)f};
            cs_urllist_reader *r;
            cs_status st = cs_urllist_open(&r, p, &o);
            if (st == CS_OK) {
                const cs_urllist_row *row;
                uint64_t rows = 0;
                while ((st = cs_urllist_next(r, &row)) != CS_DONE) {
                    ASSERT(st == CS_OK || st == CS_EFORMAT || st == CS_ETOOBIG);
                    if (st == CS_OK) {
                        ASSERT_UEQ(row->index, rows);
                        ASSERT(row->url[0]);
                        rows++;
                    }
                }
                cs_urllist_stats s;
                cs_urllist_stats_get(r, &s);
                ASSERT_UEQ(s.rows, rows);
            } else {
                ASSERT(st == CS_EFORMAT || st == CS_EINVAL);
                ASSERT(cs_urllist_errmsg(r)[0]);
            }
            cs_urllist_free(r);
        }
        files++;
    }
    closedir(dp);
    ASSERT(files >= 4);

    /* url-resolve.csv read as a txt list: one row per non-blank line */
    cs_urllist_opts o = {.format = CS_URLLIST_TXT};
    cs_urllist_reader *r;
    ASSERT_OK(cs_urllist_open(&r, cs_test_corpus("urls/url-resolve.csv"), &o));
    const cs_urllist_row *row;
    cs_status st;
    uint64_t rows = 0;
    while ((st = cs_urllist_next(r, &row)) == CS_OK)
        rows++;
    ASSERT_ST(st, CS_DONE);
    ASSERT(rows > 20);
    cs_urllist_free(r);
}
