/* test_lines.c - the bounded record input shared by the URL-list and
 * Common Crawl index readers (src/util/lines.c): records across refills,
 * quotes hiding newlines, the line limit and resynchronisation, line
 * counting, messages, and CSV field splitting (lenient and strict). */
#include <zlib.h>

#include "test.h"
#include "util/lines.h"

/* Reads every record of l; returns how many, checks each is "rN,..." with N
 * its index and that its first line is 2N+1 (each record spans two lines). */
static size_t read_all(cs__lines *l)
{
    size_t k = 0;
    for (;;) {
        size_t len, adv;
        bool found;
        ASSERT_OK(cs__lines_next(l, true, ',', &len, &adv, &found));
        if (!found)
            break;
        char want[32];
        int wl = snprintf(want, sizeof want, "r%zu,", k);
        const char *p = cs__lines_data(l) + l->start;
        ASSERT((size_t)wl <= len && !memcmp(p, want, (size_t)wl));
        ASSERT(p[len - 1] == '"');
        ASSERT_UEQ(cs__lines_take(l, len, adv), 2 * k + 1);
        k++;
    }
    return k;
}

/* Sets l up to read the string s (records of at most max_line bytes). */
static void open_str(cs__lines *l, const char *s, size_t max_line)
{
    cs__lines_init(l, "in", "x", max_line, 50, 170);
    cs__lines_open_mem(l, s, strlen(s));
}

/* Records "rN,"x<newline>y, ""z""",tail" of ~80 bytes each: far more than one
 * read buffer of 64 KiB, so records straddle refills. */
static char *make_records(size_t n, size_t *len)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(cs_buf_printf(&b, "r%zu,\"x\ny, \"\"z\"\" %040zu\"\n", i, i));
    return cs_test_keep(cs_buf_take(&b, len));
}

TEST(lines_records_straddle_refills_plain_gzip_and_memory)
{
    size_t n = 5000, len;
    char *d = make_records(n, &len);
    ASSERT(len > 3 * 64 * 1024);
    char plain[512], gz[512];
    snprintf(plain, sizeof plain, "%s/r.csv", cs_test_tmpdir());
    snprintf(gz, sizeof gz, "%s/r.csv.gz", cs_test_tmpdir());
    cs_test_write_file(plain, d, len);
    gzFile g = gzopen(gz, "wb");
    ASSERT(g);
    ASSERT_EQ(gzwrite(g, d, (unsigned)len), (int)len);
    ASSERT_EQ(gzclose(g), Z_OK);

    const char *paths[] = {plain, gz};
    for (int i = 0; i < 2; i++) {
        cs__lines l;
        cs__lines_init(&l, paths[i], "x", 200, 50, 170);
        ASSERT_OK(cs__lines_open_path(&l, paths[i]));
        ASSERT_UEQ(read_all(&l), n);
        ASSERT_UEQ(l.line, 2 * n);
        ASSERT_OK(l.input_err);
        cs__lines_cleanup(&l);
    }
    cs__lines l;
    cs__lines_init(&l, NULL, "mem", 200, 50, 170);
    ASSERT_STR_EQ(l.name, "mem");
    cs__lines_open_mem(&l, d, len);
    ASSERT_UEQ(read_all(&l), n);
    cs__lines_cleanup(&l);
}

TEST(lines_unquoted_mode_ends_records_at_any_newline)
{
    static const char in[] = "a,\"b\nc\"\n\nlast";
    cs__lines l;
    open_str(&l, in, 100);
    size_t len, adv;
    bool found;
    const char *want[] = {"a,\"b", "c\"", "", "last"};
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(cs__lines_next(&l, false, ',', &len, &adv, &found));
        ASSERT(found);
        ASSERT_MEM_EQ(cs__lines_data(&l) + l.start, len, want[i], strlen(want[i]));
        ASSERT_UEQ(cs__lines_take(&l, len, adv), (uint64_t)i + 1);
    }
    ASSERT_UEQ(l.line, 4); /* the last line has no newline and still counts */
    ASSERT_OK(cs__lines_next(&l, false, ',', &len, &adv, &found));
    ASSERT(!found);
    ASSERT_ST(cs__lines_end(&l, CS_OK), CS_DONE);
    cs__lines_cleanup(&l);
}

TEST(lines_line_limit_and_resynchronisation)
{
    /* an over-long plain line: adv 0, the caller drops the line */
    static const char a[] = "0123456789012345678901234567890123456789\nok\n";
    cs__lines l;
    open_str(&l, a, 16);
    size_t len, adv;
    bool found;
    ASSERT_ST(cs__lines_next(&l, false, ',', &len, &adv, &found), CS_ETOOBIG);
    ASSERT_UEQ(adv, 0);
    cs__lines_drop(&l, adv);
    ASSERT_UEQ(l.line, 1);
    ASSERT_OK(cs__lines_next(&l, false, ',', &len, &adv, &found));
    ASSERT(found);
    ASSERT_MEM_EQ(cs__lines_data(&l) + l.start, len, "ok", 2);
    cs__lines_cleanup(&l);

    /* an over-long quoted record: resume after the first newline inside quotes */
    static const char b[] = "x,\"never closed\nnext,row\nmore text here to pass the limit\n";
    open_str(&l, b, 30);
    ASSERT_ST(cs__lines_next(&l, true, ',', &len, &adv, &found), CS_ETOOBIG);
    ASSERT_UEQ(adv, strlen("x,\"never closed\n"));
    cs__lines_drop(&l, adv);
    ASSERT_UEQ(l.line, 1);
    ASSERT_OK(cs__lines_next(&l, true, ',', &len, &adv, &found));
    ASSERT(found);
    ASSERT_MEM_EQ(cs__lines_data(&l) + l.start, len, "next,row", 8);
    cs__lines_cleanup(&l);
}

TEST(lines_quote_open_at_the_end_of_input)
{
    static const char in[] = "a\t\"b\nc\nd";
    cs__lines l;
    size_t len, adv;
    bool found;
    /* lenient readers: the quote spoils only its own line */
    open_str(&l, in, 100);
    l.open_quote_error = true;
    ASSERT_ST(cs__lines_next(&l, true, '\t', &len, &adv, &found), CS_EFORMAT);
    ASSERT_UEQ(len, 4);
    ASSERT_UEQ(adv, 5);
    cs__lines_cleanup(&l);
    /* strict readers: the rest is one record, for the splitter to refuse */
    open_str(&l, in, 100);
    ASSERT_OK(cs__lines_next(&l, true, '\t', &len, &adv, &found));
    ASSERT(found);
    ASSERT_UEQ(len, sizeof in - 1);
    cs__lines_cleanup(&l);
}

TEST(lines_messages_name_the_input_and_line)
{
    cs__lines l;
    char name[100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    cs__lines_init(&l, name, "x", 100, 10, 12);
    ASSERT_ST(cs__lines_fail(&l, CS_EFORMAT, 7, "what %d went wrong", 42), CS_EFORMAT);
    ASSERT_STR_EQ(l.errmsg, "nnnnnnnnnn:7: what 42 went");
    cs__lines_fail(&l, CS_EIO, 0, "%s", "a longer reason with no line number at all");
    ASSERT_STR_EQ(l.errmsg, "nnnnnnnnnn: a longer reason with no line num");

    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.csv", cs_test_tmpdir());
    cs__lines_init(&l, "none.csv", "x", 100, 50, 170);
    ASSERT_ST(cs__lines_open_path(&l, missing), CS_ENOTFOUND);
    ASSERT_STR_EQ(l.errmsg, "none.csv: No such file or directory");
    cs__lines_cleanup(&l);
}

TEST(lines_truncated_gzip_is_a_fatal_input_error)
{
    size_t len;
    char *d = make_records(2000, &len);
    char gz[512];
    snprintf(gz, sizeof gz, "%s/t.gz", cs_test_tmpdir());
    gzFile g = gzopen(gz, "wb");
    ASSERT(g);
    ASSERT_EQ(gzwrite(g, d, (unsigned)len), (int)len);
    ASSERT_EQ(gzclose(g), Z_OK);
    size_t glen;
    char *z = cs_test_keep(cs_test_read_file(gz, &glen));
    cs_test_write_file(gz, z, glen / 2);

    cs__lines l;
    cs__lines_init(&l, "t.gz", "x", 200, 50, 170);
    ASSERT_OK(cs__lines_open_path(&l, gz));
    cs_status st;
    size_t n = 0, rlen, adv;
    bool found;
    while (!(st = cs__lines_next(&l, true, ',', &rlen, &adv, &found)) && found) {
        cs__lines_take(&l, rlen, adv);
        n++;
    }
    ASSERT(n > 0 && n < 2000);
    ASSERT_ST(st, CS_EGZIP);
    ASSERT_ST(l.input_err, CS_EGZIP);
    ASSERT_CONTAINS(l.errmsg, "t.gz: gzip: ");
    /* a reader's next() then says where the input ends */
    ASSERT_ST(cs__lines_end(&l, st), CS_EGZIP);
    char want[64];
    snprintf(want, sizeof want, "t.gz:%" PRIu64 ": corrupt or truncated gzip; the input ",
             l.line + 1);
    ASSERT_CONTAINS(l.errmsg, want);
    cs__lines_cleanup(&l);
}

static void expect_fields(const cs__fields *f, const char *const *want, size_t n)
{
    ASSERT_UEQ(f->n, n);
    for (size_t i = 0; i < n; i++)
        ASSERT_STR_EQ(cs__fields_get(f, i), want[i]);
}

TEST(fields_split_lenient_and_strict)
{
    cs__fields f;
    cs__fields_init(&f, 1000);
    static const char ok[] = "a,\"b \"\"c\"\" d\",,\"e,\nf\",\r";
    static const char *const ok_want[] = {"a", "b \"c\" d", "", "e,\nf", ""};
    for (int strict = 0; strict < 2; strict++) {
        ASSERT_OK(cs__fields_split(&f, ok, sizeof ok - 1, ',', strict));
        expect_fields(&f, ok_want, 5);
    }
    ASSERT_OK(cs__fields_split(&f, "", 0, ',', true));
    expect_fields(&f, (const char *const[]){""}, 1);

    /* text after a closing quote: kept when lenient, refused when strict */
    static const char after[] = "\"x\"y,z";
    ASSERT_OK(cs__fields_split(&f, after, sizeof after - 1, ',', false));
    expect_fields(&f, (const char *const[]){"xy", "z"}, 2);
    ASSERT_ST(cs__fields_split(&f, after, sizeof after - 1, ',', true), CS_EFORMAT);
    ASSERT_EQ(f.bad, 'y');

    /* a quote that never closes */
    static const char open[] = "p\t\"q\tr";
    ASSERT_OK(cs__fields_split(&f, open, sizeof open - 1, '\t', false));
    expect_fields(&f, (const char *const[]){"p", "q\tr"}, 2);
    ASSERT_ST(cs__fields_split(&f, open, sizeof open - 1, '\t', true), CS_EFORMAT);
    ASSERT_EQ(f.bad, -1);

    /* a quote inside an unquoted field is plain text */
    ASSERT_OK(cs__fields_split(&f, "a\"b,c", 5, ',', true));
    expect_fields(&f, (const char *const[]){"a\"b", "c"}, 2);

    /* many fields grow the offsets; the buffer limit holds */
    char many[300];
    memset(many, ',', sizeof many);
    ASSERT_OK(cs__fields_split(&f, many, sizeof many, ',', true));
    ASSERT_UEQ(f.n, sizeof many + 1);
    cs__fields_cleanup(&f);
    cs__fields_init(&f, 8);
    ASSERT_ST(cs__fields_split(&f, "0123456789", 10, ',', false), CS_ETOOBIG);
    cs__fields_cleanup(&f);
}
