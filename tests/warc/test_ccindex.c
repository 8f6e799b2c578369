/* test_ccindex.c - Common Crawl index rows: CSV (any column order, quoting,
 * extra columns, bad rows) and CDX JSON lines (both forms), plain and gzip. */
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "test.h"

static cs_ccindex_reader *open_str(const char *text, cs_ccindex_format fmt)
{
    cs_ccindex_reader *r;
    cs_ccindex_opts o = {.format = fmt};
    cs_status st = cs_ccindex_open_mem(&r, text, strlen(text), "t.csv", &o);
    if (st)
        FAIL("open: %s: %s", cs_status_name(st), r ? cs_ccindex_errmsg(r) : "");
    return r;
}

TEST(ccindex_csv_any_column_order_and_extras)
{
    const char *csv =
        "warc_record_length,extra,url,fetch_status,warc_record_offset,warc_filename,"
        "url_host_registered_domain,fetch_time,warc_segment,crawl\r\n"
        "1234,x1,https://www.example.com/a,200,5678,crawl-data/CC/segments/1/warc/f.warc.gz,"
        "example.com,2024-05-18T01:58:10Z,1,CC-MAIN-2024-22\r\n"
        "10,x2,http://Other.ORG:8080/b?q=1,404,0,f2.warc.gz,,,,\r\n";
    cs_ccindex_reader *r = open_str(csv, CS_CCINDEX_AUTO);
    ASSERT_EQ(cs_ccindex_format_of(r), CS_CCINDEX_CSV);
    const cs_ccindex_row *row;
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://www.example.com/a");
    ASSERT_STR_EQ(row->domain, "example.com");
    ASSERT_STR_EQ(row->fetch_time, "2024-05-18T01:58:10Z");
    ASSERT_EQ(row->fetch_status, 200);
    ASSERT_STR_EQ(row->warc_filename, "crawl-data/CC/segments/1/warc/f.warc.gz");
    ASSERT_UEQ(row->offset, 5678);
    ASSERT_UEQ(row->length, 1234);
    ASSERT_STR_EQ(row->segment, "1");
    ASSERT_STR_EQ(row->crawl, "CC-MAIN-2024-22");
    ASSERT_UEQ(row->line, 2);
    cs_slice v;
    ASSERT(cs_ccindex_get(r, "extra", &v));
    ASSERT(cs_slice_eq(v, "x1"));
    ASSERT(cs_ccindex_get(r, "EXTRA", &v));
    ASSERT(!cs_ccindex_get(r, "nope", &v));
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->domain, "other.org"); /* derived from the URL */
    ASSERT_EQ(row->fetch_status, 404);
    ASSERT_UEQ(row->offset, 0);
    ASSERT_STR_EQ(row->segment, "");
    ASSERT_UEQ(row->line, 3);
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_stats s;
    cs_ccindex_stats_get(r, &s);
    ASSERT_UEQ(s.rows, 2);
    ASSERT_UEQ(s.errors, 0);
    cs_ccindex_free(r);
}

TEST(ccindex_csv_quoting_rfc4180)
{
    const char *csv = "url,warc_filename,warc_record_offset,warc_record_length,note\n"
                      "\"https://e.com/a,b\",f.gz,1,2,\"say \"\"hi\"\"\"\n"
                      "https://e.com/c,\"f.gz\",3,4,\"two\r\nlines, here\"\n"
                      "https://e.com/d,f.gz,5,6,\"\"\n"
                      "https://e.com/e,f.gz,7,8,\n"
                      "https://e.com/f,f.gz,\"9\",10,last-without-newline";
    cs_ccindex_reader *r = open_str(csv, CS_CCINDEX_CSV);
    const cs_ccindex_row *row;
    cs_slice v;
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://e.com/a,b");
    ASSERT(cs_ccindex_get(r, "note", &v));
    ASSERT(cs_slice_eq(v, "say \"hi\""));
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://e.com/c");
    ASSERT_UEQ(row->line, 3);
    ASSERT(cs_ccindex_get(r, "note", &v));
    ASSERT(cs_slice_eq(v, "two\r\nlines, here"));
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_UEQ(row->line, 5); /* the quoted newline took a line */
    ASSERT(cs_ccindex_get(r, "note", &v));
    ASSERT_EQ(v.len, 0);
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_UEQ(row->offset, 7);
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_UEQ(row->offset, 9);
    ASSERT_UEQ(row->length, 10);
    ASSERT(cs_ccindex_get(r, "note", &v));
    ASSERT(cs_slice_eq(v, "last-without-newline"));
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_free(r);
}

TEST(ccindex_csv_missing_required_column_is_clear)
{
    const char *csv = "url,warc_filename,offset,warc_record_length\nhttps://e.com/,f,1,2\n";
    cs_ccindex_reader *r = NULL;
    ASSERT_ST(cs_ccindex_open_mem(&r, csv, strlen(csv), "idx.csv", NULL), CS_EFORMAT);
    ASSERT(r);
    ASSERT_CONTAINS(cs_ccindex_errmsg(r), "idx.csv:1:");
    ASSERT_CONTAINS(cs_ccindex_errmsg(r), "missing column(s) warc_record_offset");
    cs_ccindex_free(r);
    ASSERT_ST(cs_ccindex_open_mem(&r, "", 0, "empty.csv", NULL), CS_EFORMAT);
    ASSERT_CONTAINS(cs_ccindex_errmsg(r), "no header");
    cs_ccindex_free(r);
    /* a BOM and blank lines before the header are fine */
    const char *bom = "\xEF\xBB\xBF url , warc_filename,warc_record_offset,"
                      "warc_record_length\n\n\nu,f,1,2\n";
    ASSERT_OK(cs_ccindex_open_mem(&r, bom, strlen(bom), "bom.csv", NULL));
    const cs_ccindex_row *row;
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "u");
    ASSERT_UEQ(row->line, 4);
    cs_ccindex_free(r);
}

TEST(ccindex_csv_bad_rows_are_reported_and_skipped)
{
    const char *csv = "url,warc_filename,warc_record_offset,warc_record_length\n"
                      "https://e.com/1,f,12x,5\n"            /* bad offset */
                      "https://e.com/2,f,1,-5\n"             /* bad length */
                      "https://e.com/3,f,1\n"                /* too few fields */
                      "https://e.com/4,f,1,0\n"              /* zero length */
                      "\n"                                   /* blank: not a row */
                      "\"https://e.com/5\"x,f,1,2\n"         /* junk after quote */
                      ",f,1,2\n"                             /* empty url */
                      "https://e.com/6,f,1,99999999999999999999999\n" /* overflow */
                      "https://e.com/ok,f,1,2\n"
                      "\"https://e.com/unterminated,f,1,2\n";
    cs_ccindex_reader *r = open_str(csv, CS_CCINDEX_AUTO);
    const cs_ccindex_row *row;
    struct {
        uint64_t line;
        const char *what;
    } want[] = {{2, "warc_record_offset is not a number"},
                {3, "warc_record_length is not a number"},
                {4, "expected 4 fields, found 3"},
                {5, "warc_record_length is 0"},
                {7, "after a closing quote"},
                {8, "empty url"},
                {9, "warc_record_length is not a number"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        ASSERT_ST(cs_ccindex_next(r, &row), CS_EFORMAT);
        char pfx[64];
        snprintf(pfx, sizeof pfx, "t.csv:%" PRIu64 ": ", want[i].line);
        ASSERT_CONTAINS(cs_ccindex_errmsg(r), pfx);
        ASSERT_CONTAINS(cs_ccindex_errmsg(r), want[i].what);
    }
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://e.com/ok");
    ASSERT_ST(cs_ccindex_next(r, &row), CS_EFORMAT);
    ASSERT_CONTAINS(cs_ccindex_errmsg(r), "unterminated quoted field");
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_stats s;
    cs_ccindex_stats_get(r, &s);
    ASSERT_UEQ(s.rows, 1);
    ASSERT_UEQ(s.errors, 8);
    cs_ccindex_free(r);
}

TEST(ccindex_line_length_is_bounded)
{
    size_t big = 5000;
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "url,warc_filename,warc_record_offset,warc_record_length\n"));
    ASSERT_OK(cs_buf_puts(&b, "https://e.com/1,f,1,2\n"));
    ASSERT_OK(cs_buf_puts(&b, "https://e.com/"));
    for (size_t i = 0; i < big; i++)
        ASSERT_OK(cs_buf_putc(&b, 'a'));
    ASSERT_OK(cs_buf_puts(&b, ",f,1,2\nhttps://e.com/3,f,1,2\n"));
    /* through a file and gzip too, so the refill path is exercised */
    char path[600];
    snprintf(path, sizeof path, "%s/idx.csv.gz", cs_test_tmpdir());
    gzFile gz = gzopen(path, "wb");
    ASSERT(gz);
    ASSERT_EQ(gzwrite(gz, b.data, (unsigned)b.len), (int)b.len);
    gzclose(gz);
    for (int pass = 0; pass < 2; pass++) {
        cs_ccindex_opts o = {.max_line = 1000};
        cs_ccindex_reader *r;
        if (pass == 0)
            ASSERT_OK(cs_ccindex_open_mem(&r, b.data, b.len, "t.csv", &o));
        else
            ASSERT_OK(cs_ccindex_open(&r, path, &o));
        const cs_ccindex_row *row;
        ASSERT_OK(cs_ccindex_next(r, &row));
        ASSERT_ST(cs_ccindex_next(r, &row), CS_ETOOBIG);
        ASSERT_CONTAINS(cs_ccindex_errmsg(r), ":3: row longer than 1000 bytes");
        ASSERT_OK(cs_ccindex_next(r, &row));
        ASSERT_STR_EQ(row->url, "https://e.com/3");
        ASSERT_UEQ(row->line, 4);
        ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
        cs_ccindex_free(r);
    }
    cs_buf_cleanup(&b);
}

static const char CDX[] =
    "com,example)/ 20240518015810 {\"url\": \"https://example.com/\", \"mime\": \"text/html\", "
    "\"status\": \"200\", \"digest\": \"ABC\", \"length\": \"1234\", \"offset\": \"5678\", "
    "\"filename\": \"crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/warc/"
    "CC-MAIN-20240518000000-20240518030000-00001.warc.gz\", \"languages\": \"eng\", "
    "\"encoding\": \"UTF-8\"}\n"
    "{\"url\": \"http://www.Example.org:81/x\", \"timestamp\": \"20240101000000\", "
    "\"status\": \"-\", \"length\": 10, \"offset\": 0, \"filename\": \"a/b.warc.gz\"}\n"
    "\n"
    "org,example)/ 2024 {\"url\": \"http://e.org/\", \"filename\": \"f\", \"offset\": \"1\"}\n"
    "org,example)/ 2024 {\"url\": \"http://e.org/\", \"filename\": \"f\", \"offset\": \"1\", "
    "\"length\": \"2\"\n"
    "not a cdx line at all\n"
    "{\"error\": \"No Captures found for: x\"}\n"
    "[1,2]\n"
    "{\"url\": \"u\", \"filename\": \"f\", \"offset\": -1, \"length\": 2}\n"
    "{\"url\": \"u\", \"filename\": \"f\", \"offset\": \"7\", \"length\": \"8\"}";

TEST(ccindex_cdx_both_forms_and_bad_lines)
{
    cs_ccindex_reader *r = open_str(CDX, CS_CCINDEX_AUTO);
    ASSERT_EQ(cs_ccindex_format_of(r), CS_CCINDEX_CDX);
    const cs_ccindex_row *row;
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://example.com/");
    ASSERT_STR_EQ(row->domain, "example.com");
    ASSERT_STR_EQ(row->fetch_time, "20240518015810");
    ASSERT_EQ(row->fetch_status, 200);
    ASSERT_UEQ(row->offset, 5678);
    ASSERT_UEQ(row->length, 1234);
    ASSERT_STR_EQ(row->crawl, "CC-MAIN-2024-22");
    ASSERT_STR_EQ(row->segment, "1715971057216.39");
    ASSERT_STR_EQ(row->mime, "text/html");
    cs_slice v;
    ASSERT(cs_ccindex_get(r, "urlkey", &v));
    ASSERT(cs_slice_eq(v, "com,example)/"));
    ASSERT(cs_ccindex_get(r, "languages", &v));
    ASSERT(cs_slice_eq(v, "eng"));
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->domain, "www.example.org");
    ASSERT_STR_EQ(row->fetch_time, "20240101000000");
    ASSERT_EQ(row->fetch_status, 0);
    ASSERT_UEQ(row->length, 10);
    ASSERT(cs_ccindex_get(r, "length", &v));
    ASSERT(cs_slice_eq(v, "10"));
    ASSERT_UEQ(row->line, 2);
    const char *errs[] = {":4: no \"length\"", ":5: bad JSON", ":6: expected \"SURT TIMESTAMP",
                          ":7: index server error: No Captures", ":8: not a JSON object",
                          ":9: \"offset\" is negative"};
    for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
        ASSERT_ST(cs_ccindex_next(r, &row), CS_EFORMAT);
        ASSERT_CONTAINS(cs_ccindex_errmsg(r), errs[i]);
    }
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_UEQ(row->offset, 7);
    ASSERT_UEQ(row->line, 10);
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_free(r);
}

TEST(ccindex_gzip_input_and_truncation)
{
    char path[600], cut[600];
    snprintf(path, sizeof path, "%s/idx.cdx.gz", cs_test_tmpdir());
    snprintf(cut, sizeof cut, "%s/cut.cdx.gz", cs_test_tmpdir());
    cs_buf b;
    cs_buf_init(&b, 0);
    for (int i = 0; i < 3000; i++)
        ASSERT_OK(cs_buf_printf(&b,
                                "{\"url\": \"https://e.com/%d\", \"filename\": \"f\", "
                                "\"offset\": \"%d\", \"length\": \"%d\"}\n",
                                i, i * 1000, 100 + i));
    gzFile gz = gzopen(path, "wb");
    ASSERT(gz);
    ASSERT_EQ(gzwrite(gz, b.data, (unsigned)b.len), (int)b.len);
    gzclose(gz);
    cs_ccindex_reader *r;
    ASSERT_OK(cs_ccindex_open(&r, path, NULL));
    const cs_ccindex_row *row;
    int n = 0;
    cs_status st;
    while ((st = cs_ccindex_next(r, &row)) == CS_OK) {
        ASSERT_UEQ(row->offset, (uint64_t)n * 1000);
        n++;
    }
    ASSERT_ST(st, CS_DONE);
    ASSERT_EQ(n, 3000);
    cs_ccindex_free(r);

    /* a truncated gzip: the rows before the cut, then a fatal error, no partial row */
    size_t glen;
    char *g = cs_test_read_file(path, &glen);
    cs_test_write_file(cut, g, glen / 2);
    cs_free(g);
    ASSERT_OK(cs_ccindex_open(&r, cut, NULL));
    n = 0;
    while ((st = cs_ccindex_next(r, &row)) == CS_OK) {
        ASSERT_UEQ(row->length, 100 + (uint64_t)n);
        n++;
    }
    ASSERT_ST(st, CS_EGZIP);
    ASSERT_CONTAINS(cs_ccindex_errmsg(r), "cut.cdx.gz:");
    ASSERT(n > 100 && n < 3000);
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_free(r);

    /* plain file through an fd; the reader does not close it */
    snprintf(path, sizeof path, "%s/plain.cdx", cs_test_tmpdir());
    cs_test_write_file(path, b.data, b.len);
    int fd = open(path, O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_OK(cs_ccindex_open_fd(&r, fd, "plain", NULL));
    n = 0;
    while (cs_ccindex_next(r, &row) == CS_OK)
        n++;
    ASSERT_EQ(n, 3000);
    cs_ccindex_free(r);
    ASSERT(lseek(fd, 0, SEEK_SET) == 0); /* still open */
    close(fd);
    cs_buf_cleanup(&b);

    ASSERT_ST(cs_ccindex_open(&r, "/nonexistent/idx.csv", NULL), CS_ENOTFOUND);
    ASSERT_CONTAINS(cs_ccindex_errmsg(r), "/nonexistent/idx.csv");
    cs_ccindex_free(r);
}

TEST(ccindex_csv_writer_round_trips)
{
    const char *csv = "url,warc_filename,warc_record_offset,warc_record_length,fetch_status\n"
                      "\"https://e.com/a,\"\"b\"\"\",f.gz,1,2,301\n";
    cs_ccindex_reader *r = open_str(csv, CS_CCINDEX_CSV);
    const cs_ccindex_row *row;
    ASSERT_OK(cs_ccindex_next(r, &row));
    cs_ccindex_row *copy = cs_ccindex_row_dup(row);
    ASSERT(copy);
    cs_ccindex_free(r);
    cs_buf b;
    cs_buf_init(&b, 0);
    const char *ex[] = {"error_reason", "error_message"};
    ASSERT_OK(cs_ccindex_csv_header(&b, ex, 2));
    ASSERT_OK(cs_buf_putc(&b, '\n'));
    const char *vals[] = {"http_4xx", "404, \"not found\"\nsecond line"};
    ASSERT_OK(cs_ccindex_csv_row(&b, copy, vals, 2));
    cs_free(copy);
    r = open_str(b.data, CS_CCINDEX_AUTO);
    ASSERT_OK(cs_ccindex_next(r, &row));
    ASSERT_STR_EQ(row->url, "https://e.com/a,\"b\"");
    ASSERT_STR_EQ(row->domain, "e.com");
    ASSERT_EQ(row->fetch_status, 301);
    ASSERT_UEQ(row->offset, 1);
    ASSERT_UEQ(row->length, 2);
    cs_slice v;
    ASSERT(cs_ccindex_get(r, "error_message", &v));
    ASSERT(cs_slice_eq(v, "404, \"not found\"\nsecond line"));
    ASSERT_ST(cs_ccindex_next(r, &row), CS_DONE);
    cs_ccindex_free(r);
    cs_buf_cleanup(&b);
}
