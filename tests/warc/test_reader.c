/* test_reader.c - the WARC reader on the real corpus files and on hostile
 * synthetic input; the writer round trip. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "test.h"

typedef struct rec_info {
    cs_warc_type type;
    uint64_t offset, clen, content_length;
    char uri[512];
    uint64_t block_sum; /* adler32 of the block */
    size_t block_len;
} rec_info;

typedef struct scan {
    rec_info recs[4096];
    size_t n;
    size_t errors;
    cs_status errs[64];
    char lasterr[256];
} scan;

static void scan_reader(cs_warc_reader *r, scan *s, bool finish)
{
    memset(s, 0, sizeof *s);
    for (;;) {
        cs_warc_record *rec;
        cs_status st = cs_warc_reader_next(r, &rec);
        if (st == CS_DONE)
            break;
        if (st) {
            if (s->errors < 64)
                s->errs[s->errors] = st;
            s->errors++;
            snprintf(s->lasterr, sizeof s->lasterr, "%s", cs_warc_reader_errmsg(r));
            ASSERT(s->errors < 1000);
            continue;
        }
        ASSERT(s->n < 4096);
        rec_info *ri = &s->recs[s->n++];
        ri->type = rec->type;
        ri->offset = rec->offset;
        ri->content_length = rec->content_length;
        snprintf(ri->uri, sizeof ri->uri, "%s", rec->target_uri ? rec->target_uri : "");
        uLong a = adler32(0, Z_NULL, 0);
        for (;;) {
            const char *p;
            size_t k;
            st = cs_warc_reader_chunk(r, &p, &k);
            if (st)
                break;
            a = adler32(a, (const Bytef *)p, (uInt)k);
            ri->block_len += k;
        }
        ri->block_sum = a;
        if (st != CS_DONE) {
            if (s->errors < 64)
                s->errs[s->errors] = st;
            s->errors++;
            continue;
        }
        if (finish) {
            st = cs_warc_reader_finish(r);
            if (st) {
                if (s->errors < 64)
                    s->errs[s->errors] = st;
                s->errors++;
                snprintf(s->lasterr, sizeof s->lasterr, "%s", cs_warc_reader_errmsg(r));
            }
        }
        ri->clen = rec->compressed_length;
    }
}

static scan g_thr;

/* Reads rel twice, in one thread and with background inflate, and checks
 * both give the same records, offsets, lengths and errors. */
static void scan_file(const char *rel, scan *s, const cs_warc_reader_opts *o)
{
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus(rel), o));
    scan_reader(r, s, true);
    cs_warc_reader_free(r);
    cs_warc_reader_opts t = o ? *o : (cs_warc_reader_opts){0};
    t.threads = 2;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus(rel), &t));
    scan_reader(r, &g_thr, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_thr.n, s->n);
    ASSERT_EQ(g_thr.errors, s->errors);
    for (size_t i = 0; i < s->n; i++) {
        ASSERT_UEQ(g_thr.recs[i].offset, s->recs[i].offset);
        ASSERT_UEQ(g_thr.recs[i].clen, s->recs[i].clen);
        ASSERT_UEQ(g_thr.recs[i].block_sum, s->recs[i].block_sum);
    }
}

static scan g_a, g_b;
static void add_record(cs_buf *b, const char *type, const char *uri, size_t blen, char fill);

TEST(reader_example_warc_types_and_offsets)
{
    static const cs_warc_type want[] = {CS_WARC_WARCINFO, CS_WARC_WARCINFO, CS_WARC_RESPONSE,
                                        CS_WARC_REQUEST,  CS_WARC_REVISIT,  CS_WARC_REQUEST};
    static const uint64_t plain_off[] = {0, 488, 1197, 2566, 3370, 4316};
    static const uint64_t gz_off[] = {0, 353, 784, 2012, 2621, 3207};
    scan_file("warc/warcio/example.warc", &g_a, NULL);
    scan_file("warc/warcio/example.warc.gz", &g_b, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_b.errors, 0);
    ASSERT_EQ(g_a.n, 6);
    ASSERT_EQ(g_b.n, 6);
    uint64_t sum_plain = 0, sum_gz = 0;
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(g_a.recs[i].type, want[i]);
        ASSERT_EQ(g_b.recs[i].type, want[i]);
        ASSERT_UEQ(g_a.recs[i].offset, plain_off[i]);
        ASSERT_UEQ(g_b.recs[i].offset, gz_off[i]);
        ASSERT_UEQ(g_a.recs[i].block_sum, g_b.recs[i].block_sum);
        ASSERT_EQ(g_a.recs[i].block_len, g_a.recs[i].content_length);
        sum_plain += g_a.recs[i].clen;
        sum_gz += g_b.recs[i].clen;
    }
    ASSERT_UEQ(sum_plain, 5120);
    ASSERT_UEQ(sum_gz, 3816);
    ASSERT_STR_EQ(g_a.recs[2].uri, "http://example.com/");
}

TEST(reader_response_block_content)
{
    cs_warc_reader *r;
    cs_warc_reader_opts o = {.types = CS_WARC_RESPONSE};
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/warcio/example.warc.gz"), &o));
    cs_warc_record *rec;
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    ASSERT_EQ(rec->type, CS_WARC_RESPONSE);
    ASSERT_STR_EQ(rec->version, "WARC/1.0");
    ASSERT(rec->record_id && rec->record_id[0] == '<');
    ASSERT_STR_EQ(cs_warc_record_get(rec, "content-type"), "application/http; msgtype=response");
    cs_slice b;
    ASSERT_OK(cs_warc_reader_block(r, 0, &b));
    ASSERT_EQ(b.len, rec->content_length);
    ASSERT(!memcmp(b.ptr, "HTTP/1.1 200 OK", 15));
    ASSERT(memmem(b.ptr, b.len, "Content-Encoding: gzip", 22)); /* body decoded by http.c */
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_stats s;
    cs_warc_reader_stats_get(r, &s);
    ASSERT_EQ(s.records, 1);
    ASSERT_EQ(s.skipped, 5);
    cs_warc_reader_free(r);
}

/* Every (offset, compressed_length) of a per-record gzip file must inflate,
 * on its own, to one whole record: what a Range fetch relies on. */
static void check_range_fetchable(const char *rel, size_t want_records)
{
    size_t flen;
    char *file = cs_test_read_file(cs_test_corpus(rel), &flen);
    scan_file(rel, &g_a, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_a.n, want_records);
    uint64_t sum = 0;
    for (size_t i = 0; i < g_a.n; i++) {
        rec_info *ri = &g_a.recs[i];
        ASSERT(ri->clen > 0);
        ASSERT(ri->offset + ri->clen <= flen);
        if (i + 1 < g_a.n)
            ASSERT_UEQ(ri->offset + ri->clen, g_a.recs[i + 1].offset);
        sum += ri->clen;
        cs_buf out;
        cs_buf_init(&out, 0);
        ASSERT_OK(cs_inflate_buffer(CS_INFLATE_GZIP, file + ri->offset, ri->clen, 1 << 26, &out));
        ASSERT(out.len > 10 && !memcmp(out.data, "WARC/", 5));
        /* the slice read alone gives the same record */
        cs_warc_reader *r;
        ASSERT_OK(cs_warc_reader_open_mem(&r, file + ri->offset, ri->clen, "slice", NULL));
        scan_reader(r, &g_b, true);
        cs_warc_reader_free(r);
        ASSERT_EQ(g_b.n, 1);
        ASSERT_EQ(g_b.errors, 0);
        ASSERT_UEQ(g_b.recs[0].block_sum, ri->block_sum);
        ASSERT_UEQ(g_b.recs[0].clen, ri->clen);
        cs_buf_cleanup(&out);
    }
    ASSERT_UEQ(sum, flen);
    cs_free(file);
}

TEST(reader_common_crawl_warcfile_gz_is_range_fetchable)
{
    check_range_fetchable("warc/resiliparse/warcfile.warc.gz", 50);
}

TEST(reader_common_crawl_warcfile_counts_plain_equals_gzip)
{
    scan_file("warc/resiliparse/warcfile.warc", &g_a, NULL);
    scan_file("warc/resiliparse/warcfile.warc.gz", &g_b, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_a.n, 50);
    size_t by[9] = {0};
    for (size_t i = 0; i < g_a.n; i++) {
        for (int t = 0; t < 9; t++)
            if (g_a.recs[i].type == (1u << t))
                by[t]++;
        ASSERT_UEQ(g_a.recs[i].block_sum, g_b.recs[i].block_sum);
        ASSERT_STR_EQ(g_a.recs[i].uri, g_b.recs[i].uri);
    }
    ASSERT_EQ(by[0], 1);  /* warcinfo */
    ASSERT_EQ(by[3], 17); /* request */
    ASSERT_EQ(by[1], 16); /* response */
    ASSERT_EQ(by[4], 16); /* metadata */
}

TEST(reader_whirlwind_and_wget_files_are_range_fetchable)
{
    check_range_fetchable("warc/whirlwind/whirlwind.warc.gz", 4);
    check_range_fetchable("warc/whirlwind/whirlwind.warc.wat.gz", 2);
    check_range_fetchable("warc/whirlwind/whirlwind.warc.wet.gz", 2);
    check_range_fetchable("warc/ia-web-commons/IAH-urls-wget.warc.gz", 36);
}

TEST(reader_block_sized_records_offsets)
{
    scan_file("warc/resiliparse/block-sized-records.warc", &g_a, NULL);
    ASSERT_EQ(g_a.n, 3);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_UEQ(g_a.recs[0].offset, 0);
    ASSERT_UEQ(g_a.recs[1].offset, 16386);
    ASSERT_UEQ(g_a.recs[2].offset, 32772);
    scan_file("warc/resiliparse/block-sized-records.warc.gz", &g_b, NULL);
    ASSERT_EQ(g_b.n, 3);
    ASSERT_UEQ(g_b.recs[0].offset, 0);
    ASSERT_UEQ(g_b.recs[1].offset, 204);
    ASSERT_UEQ(g_b.recs[2].offset, 409);
    ASSERT_EQ(g_a.recs[0].type, CS_WARC_UNKNOWN);
}

TEST(reader_clipped_gzip_reports_truncation)
{
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/resiliparse/clipped.warc.gz"), NULL));
    cs_warc_record *rec;
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    ASSERT_EQ(rec->type, CS_WARC_RESPONSE);
    size_t got = 0;
    cs_status st;
    char buf[4096];
    size_t k;
    bool first = true;
    while ((st = cs_warc_reader_read(r, buf, sizeof buf, &k)) == CS_OK && k > 0) {
        if (first)
            ASSERT(!memcmp(buf, "HTTP/", 5));
        first = false;
        got += k;
    }
    ASSERT(st == CS_ETRUNC);
    ASSERT(got < rec->content_length);
    ASSERT_CONTAINS(cs_warc_reader_errmsg(r), "clipped.warc.gz");
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_free(r);
}

TEST(reader_truncated_content_length_resyncs)
{
    scan_file("warc/warcio/example-trunc.warc", &g_a, NULL);
    ASSERT_EQ(g_a.n, 4);
    ASSERT_EQ(g_a.errors, 1);
    ASSERT_EQ(g_a.recs[2].type, CS_WARC_RESPONSE);
    ASSERT_EQ(g_a.recs[3].type, CS_WARC_REQUEST);
    ASSERT_CONTAINS(g_a.lasterr, "CRLFCRLF");
}

TEST(reader_corrupt_gzip_member_then_next_member)
{
    /* double-single-inflate-error.gz: member 1 corrupt, member 2 'abcd' */
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/ia-web-commons/double-single-inflate-error.gz"),
                                  NULL));
    cs_warc_record *rec;
    cs_status st = cs_warc_reader_next(r, &rec);
    ASSERT_ST(st, CS_EGZIP);
    ASSERT_CONTAINS(cs_warc_reader_errmsg(r), "offset 0");
    /* the second member is read: it is not a WARC record */
    st = cs_warc_reader_next(r, &rec);
    ASSERT(st == CS_EFORMAT || st == CS_ETRUNC);
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_free(r);
}

TEST(reader_empty_and_non_warc_gzip)
{
    cs_warc_reader *r;
    cs_warc_record *rec;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/ia-web-commons/empty.gz"), NULL));
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_free(r);
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/ia-web-commons/hi-2.gz"), NULL));
    cs_status st = cs_warc_reader_next(r, &rec);
    ASSERT(st == CS_EFORMAT || st == CS_ETRUNC);
    int guard = 0;
    while ((st = cs_warc_reader_next(r, &rec)) != CS_DONE)
        ASSERT(++guard < 5);
    cs_warc_reader_free(r);
    ASSERT_OK(cs_warc_reader_open_mem(&r, "", 0, "empty", NULL));
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_free(r);
}

TEST(reader_sl_extra_field_skips_without_inflating)
{
    cs_warc_reader *r;
    cs_warc_reader_opts o = {.types = CS_WARC_RESPONSE};
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/jwarc/gzip_extra_sl.warc.gz"), &o));
    cs_warc_record *rec;
    ASSERT_ST(cs_warc_reader_next(r, &rec), CS_DONE);
    cs_warc_reader_stats s;
    cs_warc_reader_stats_get(r, &s);
    ASSERT_EQ(s.skipped, 1);
    ASSERT_EQ(s.errors, 0);
    cs_warc_reader_free(r);
    scan_file("warc/jwarc/gzip_extra_sl.warc.gz", &g_a, NULL);
    ASSERT_EQ(g_a.n, 1);
    ASSERT_UEQ(g_a.recs[0].clen, 459);
}

/* A gzip member with the 'sl' extra field, as jwarc and some crawlers write. */
static void sl_member(cs_buf *out, const char *p, size_t n)
{
    cs_buf raw;
    cs_buf_init(&raw, 0);
    z_stream z;
    memset(&z, 0, sizeof z);
    ASSERT(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    ASSERT_OK(cs_buf_reserve(&raw, deflateBound(&z, n)));
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)raw.data;
    z.avail_out = (uInt)raw.cap;
    ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
    raw.len = z.total_out;
    deflateEnd(&z);
    uint32_t total = (uint32_t)(10 + 2 + 12 + raw.len + 8), crc = (uint32_t)crc32(0, (const Bytef *)p, (uInt)n);
    uint8_t h[24] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 12, 0, 's', 'l', 8, 0};
    for (int i = 0; i < 4; i++) {
        h[16 + i] = (uint8_t)(total >> (8 * i));
        h[20 + i] = (uint8_t)(n >> (8 * i));
    }
    ASSERT_OK(cs_buf_append(out, h, 24));
    ASSERT_OK(cs_buf_append(out, raw.data, raw.len));
    uint8_t t[8];
    for (int i = 0; i < 4; i++) {
        t[i] = (uint8_t)(crc >> (8 * i));
        t[4 + i] = (uint8_t)(n >> (8 * i));
    }
    ASSERT_OK(cs_buf_append(out, t, 8));
    cs_buf_cleanup(&raw);
}

TEST(reader_sl_members_skip_big_blocks_without_inflating)
{
    cs_buf one, gz;
    cs_buf_init(&one, 0);
    cs_buf_init(&gz, 0);
    add_record(&one, "response", "http://big/", 4000000, 'q');
    sl_member(&gz, one.data, one.len);
    cs_buf_reset(&one);
    add_record(&one, "metadata", "http://small/", 100, 'm');
    sl_member(&gz, one.data, one.len);
    cs_warc_reader_opts o = {.types = CS_WARC_METADATA};
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open_mem(&r, gz.data, gz.len, "sl", &o));
    scan_reader(r, &g_a, true);
    cs_warc_reader_stats s;
    cs_warc_reader_stats_get(r, &s);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_a.n, 1);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_STR_EQ(g_a.recs[0].uri, "http://small/");
    ASSERT(s.bytes_out < 1000000); /* the 4 MB block was not inflated */
    /* without the filter both records read, with exact member lengths */
    ASSERT_OK(cs_warc_reader_open_mem(&r, gz.data, gz.len, "sl", NULL));
    scan_reader(r, &g_a, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_a.n, 2);
    ASSERT_UEQ(g_a.recs[0].clen + g_a.recs[1].clen, gz.len);
    cs_buf_cleanup(&one);
    cs_buf_cleanup(&gz);
}

TEST(reader_clueweb_quirks_lenient_and_strict)
{
    scan_file("warc/resiliparse/clueweb-quirk.warc.gz", &g_a, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_a.n, 30);
    ASSERT_EQ(g_a.recs[0].type, CS_WARC_WARCINFO);
    for (int i = 1; i < 30; i++)
        ASSERT_EQ(g_a.recs[i].type, CS_WARC_RESPONSE);
    cs_warc_reader_opts o = {.strict = true};
    scan_file("warc/resiliparse/clueweb-quirk.warc.gz", &g_b, &o);
    ASSERT_EQ(g_b.n, 0);
    ASSERT(g_b.errors >= 30);
}

TEST(reader_whole_file_gzip)
{
    scan_file("warc/warcio/example-bad-non-chunked.warc.gz", &g_a, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_a.n, 6);
    ASSERT_EQ(g_a.recs[2].type, CS_WARC_RESPONSE);
    scan_file("warc/warcio/example.warc", &g_b, NULL);
    for (int i = 0; i < 6; i++)
        ASSERT_UEQ(g_a.recs[i].block_sum, g_b.recs[i].block_sum);
}

TEST(reader_target_uri_normalisation_and_repeated_headers)
{
    scan_file("warc/warcio/example-space-in-target-uri.warc.gz", &g_a, NULL);
    bool found = false;
    for (size_t i = 0; i < g_a.n; i++)
        if (!strcmp(g_a.recs[i].uri, "file:///example%20with%20spaces.png"))
            found = true;
    ASSERT(found);
    scan_file("warc/warcio/example-wget-bad-target-uri.warc.gz", &g_a, NULL);
    found = false;
    for (size_t i = 0; i < g_a.n; i++)
        if (!strcmp(g_a.recs[i].uri, "http://example.com/"))
            found = true;
    ASSERT(found);

    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, cs_test_corpus("warc/ia-web-commons/mutliple-headers.warc"), NULL));
    cs_warc_record *rec;
    ASSERT_OK(cs_warc_reader_next(r, &rec));
    int protocols = 0;
    for (size_t i = 0; i < rec->nfields; i++)
        protocols += !strcmp(rec->fields[i].name, "WARC-Protocol");
    ASSERT_EQ(protocols, 2);
    cs_warc_reader_free(r);
}

TEST(reader_every_corpus_warc_terminates)
{
    static const char *files[] = {
        "warc/warcio/bad.arc", "warc/warcio/example-bad.warc.gz.bad", "warc/warcio/example.arc",
        "warc/warcio/example.arc.gz", "warc/warcio/example-space-in-url.arc",
        "warc/warcio/example-wrong-chunks.warc.gz", "warc/warcio/post-test.warc.gz",
        "warc/warcio/example-digest.warc", "warc/warcio/example-iana.org-chunked.warc",
        "warc/warcio/example-resource.warc.gz", "warc/pywb/example-extra.warc",
        "warc/pywb/example-url-agnostic-orig.warc.gz", "warc/pywb/example-url-agnostic-revisit.warc.gz",
        "warc/pywb/example-wget-1-14.warc.gz", "warc/pywb/example-wpull.warc.gz",
        "warc/pywb/httpbin-resource.warc.gz", "warc/pywb/missing-status-text.warc",
        "warc/ia-web-commons/abcd.gz", "warc/ia-web-commons/hi.gz",
        "warc/ia-web-commons/link-extraction-test.warc", "warc/ia-web-commons/text-extraction-test.warc",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        scan_file(files[i], &g_a, NULL);
        printf("%s: %zu records, %zu errors\n", files[i], g_a.n, g_a.errors);
    }
    scan_file("warc/warcio/post-test.warc.gz", &g_a, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_a.n, 6);
    scan_file("warc/ia-web-commons/link-extraction-test.warc", &g_a, NULL);
    ASSERT_EQ(g_a.errors, 0);
    ASSERT_EQ(g_a.n, 10);
    scan_file("warc/warcio/example-wrong-chunks.warc.gz", &g_a, NULL);
    ASSERT_EQ(g_a.n, 2);
    ASSERT_EQ(g_a.recs[0].type, CS_WARC_RESPONSE);
    ASSERT_EQ(g_a.recs[1].type, CS_WARC_REQUEST);
}

/* ---- synthetic input ---- */

static void add_record(cs_buf *b, const char *type, const char *uri, size_t blen, char fill)
{
    ASSERT_OK(cs_buf_printf(b,
                            "WARC/1.1\r\nWARC-Type: %s\r\nWARC-Target-URI: %s\r\n"
                            "WARC-Record-ID: <urn:uuid:x>\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            type, uri, blen));
    for (size_t i = 0; i < blen; i++)
        ASSERT_OK(cs_buf_putc(b, (char)(fill + (char)(i % 7))));
    ASSERT_OK(cs_buf_append(b, "\r\n\r\n", 4));
}

TEST(reader_hostile_plain_input_is_reported_and_skipped)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    add_record(&b, "resource", "http://a/", 10, 'a');
    ASSERT_OK(cs_buf_puts(&b, "garbage line\r\nmore garbage\r\n"));
    add_record(&b, "resource", "http://b/", 20, 'b');
    /* missing Content-Length */
    ASSERT_OK(cs_buf_puts(&b, "WARC/1.0\r\nWARC-Type: resource\r\n\r\nxyz\r\n\r\n"));
    /* bad Content-Length */
    ASSERT_OK(cs_buf_puts(&b, "WARC/1.0\r\nWARC-Type: resource\r\nContent-Length: -5\r\n\r\n\r\n\r\n"));
    add_record(&b, "resource", "http://c/", 30, 'c');
    /* header bigger than the limit */
    ASSERT_OK(cs_buf_puts(&b, "WARC/1.0\r\nX-Big: "));
    for (int i = 0; i < 5000; i++)
        ASSERT_OK(cs_buf_puts(&b, "xxxxxxxxxx"));
    ASSERT_OK(cs_buf_puts(&b, "\r\nContent-Length: 0\r\n\r\n\r\n\r\n"));
    add_record(&b, "resource", "http://d/", 40, 'd');
    /* truncated at the end: header only */
    ASSERT_OK(cs_buf_puts(&b, "WARC/1.0\r\nContent-Length: 100\r\n\r\nonly a few"));
    cs_warc_reader_opts o = {.max_header = 4096};
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open_mem(&r, b.data, b.len, "hostile", &o));
    scan_reader(r, &g_a, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_a.n, 5);
    ASSERT_STR_EQ(g_a.recs[0].uri, "http://a/");
    ASSERT_STR_EQ(g_a.recs[1].uri, "http://b/");
    ASSERT_STR_EQ(g_a.recs[2].uri, "http://c/");
    ASSERT_STR_EQ(g_a.recs[3].uri, "http://d/");
    ASSERT(g_a.errors >= 5);
    cs_buf_cleanup(&b);
}

static void gzip_member(cs_buf *out, const char *p, size_t n)
{
    cs_deflate *d;
    ASSERT_OK(cs_deflate_new(&d, 6));
    cs_slice part = {p, n};
    ASSERT_OK(cs_deflate_member(d, &part, 1, out));
    cs_deflate_free(d);
}

static void big_synthetic(cs_buf *plain, cs_buf *gz, int nrec)
{
    cs_buf one;
    cs_buf_init(&one, 0);
    for (int i = 0; i < nrec; i++) {
        cs_buf_reset(&one);
        char uri[64];
        snprintf(uri, sizeof uri, "http://host%d.example/", i);
        size_t blen = (size_t)((i * 7919) % 300000);
        add_record(&one, i % 3 ? "response" : "metadata", uri, blen, (char)('a' + i % 20));
        ASSERT_OK(cs_buf_append(plain, one.data, one.len));
        gzip_member(gz, one.data, one.len);
    }
    cs_buf_cleanup(&one);
}

static void write_tmp(const char *name, cs_buf *b, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", cs_test_tmpdir(), name);
    cs_test_write_file(path, b->data, b->len);
}

TEST_T(reader_large_synthetic_plain_gzip_pipe_and_both_backends, 120)
{
    cs_buf plain, gz;
    cs_buf_init(&plain, 0);
    cs_buf_init(&gz, 0);
    big_synthetic(&plain, &gz, 300);
    char pp[512], gp[512];
    write_tmp("big.warc", &plain, pp, sizeof pp);
    write_tmp("big.warc.gz", &gz, gp, sizeof gp);
    static scan ref;
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, pp, NULL));
    scan_reader(r, &ref, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(ref.n, 300);
    ASSERT_EQ(ref.errors, 0);
    for (int backend = 0; backend < 2; backend++) {
        if (backend == 1 && cs_inflate_set_backend(CS_INFLATE_ZLIB_BACKEND))
            continue;
        ASSERT_OK(cs_warc_reader_open(&r, gp, NULL));
        scan_reader(r, &g_a, true);
        cs_warc_reader_free(r);
        ASSERT_EQ(g_a.n, 300);
        ASSERT_EQ(g_a.errors, 0);
        uint64_t sum = 0;
        for (int i = 0; i < 300; i++) {
            ASSERT_UEQ(g_a.recs[i].block_sum, ref.recs[i].block_sum);
            sum += g_a.recs[i].clen;
        }
        ASSERT_UEQ(sum, gz.len);
    }
    cs_inflate_set_backend(CS_INFLATE_AUTO);
    /* inflating on a helper thread gives the same records and lengths */
    cs_warc_reader_opts to = {.threads = 2};
    ASSERT_OK(cs_warc_reader_open(&r, gp, &to));
    scan_reader(r, &g_a, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_a.n, 300);
    ASSERT_EQ(g_a.errors, 0);
    uint64_t tsum = 0;
    for (int i = 0; i < 300; i++) {
        ASSERT_UEQ(g_a.recs[i].block_sum, ref.recs[i].block_sum);
        tsum += g_a.recs[i].clen;
    }
    ASSERT_UEQ(tsum, gz.len);
    /* through a pipe (not seekable) */
    int fds[2];
    ASSERT(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        size_t off = 0;
        while (off < gz.len) {
            ssize_t w = write(fds[1], gz.data + off, gz.len - off > 7777 ? 7777 : gz.len - off);
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    ASSERT_OK(cs_warc_reader_open_fd(&r, fds[0], "pipe", NULL));
    scan_reader(r, &g_a, true);
    cs_warc_reader_free(r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    ASSERT_EQ(g_a.n, 300);
    for (int i = 0; i < 300; i++)
        ASSERT_UEQ(g_a.recs[i].block_sum, ref.recs[i].block_sum);
    /* type filter on a plain file skips big blocks with lseek */
    cs_buf_reset(&plain);
    for (int i = 0; i < 12; i++) {
        add_record(&plain, "resource", "http://big/", 3000000, 'r');
        add_record(&plain, "metadata", "http://small/", 100, 'm');
    }
    write_tmp("seek.warc", &plain, pp, sizeof pp);
    cs_warc_reader_opts o = {.types = CS_WARC_METADATA};
    ASSERT_OK(cs_warc_reader_open(&r, pp, &o));
    scan_reader(r, &g_a, false);
    cs_warc_reader_stats s;
    cs_warc_reader_stats_get(r, &s);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_a.n, 12);
    ASSERT_EQ(g_a.errors, 0);
    printf("read %llu of %zu bytes\n", (unsigned long long)s.bytes_in, plain.len);
    ASSERT(s.bytes_in < plain.len * 3 / 4);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&gz);
}

TEST(reader_truncated_and_garbage_gzip)
{
    cs_buf plain, gz;
    cs_buf_init(&plain, 0);
    cs_buf_init(&gz, 0);
    big_synthetic(&plain, &gz, 5);
    /* garbage between members 2 and 3, then a truncated tail */
    cs_buf bad;
    cs_buf_init(&bad, 0);
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open_mem(&r, gz.data, gz.len, "x", NULL));
    scan_reader(r, &g_b, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_b.n, 5);
    size_t cut2 = (size_t)g_b.recs[2].offset;
    ASSERT_OK(cs_buf_append(&bad, gz.data, cut2));
    ASSERT_OK(cs_buf_puts(&bad, "JUNK JUNK JUNK"));
    ASSERT_OK(cs_buf_append(&bad, gz.data + cut2, gz.len - cut2 - 10));
    ASSERT_OK(cs_warc_reader_open_mem(&r, bad.data, bad.len, "bad", NULL));
    scan_reader(r, &g_a, true);
    cs_warc_reader_free(r);
    ASSERT_EQ(g_a.n, 5);          /* the last one is truncated but still returned */
    ASSERT(g_a.errors >= 2);      /* garbage + truncation */
    for (int i = 0; i < 4; i++)
        ASSERT_UEQ(g_a.recs[i].block_sum, g_b.recs[i].block_sum);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&gz);
    cs_buf_cleanup(&bad);
}

TEST(writer_round_trip_gzip_and_plain)
{
    for (int gzip = 0; gzip < 2; gzip++) {
        char path[512];
        snprintf(path, sizeof path, "%s/out%d.warc", cs_test_tmpdir(), gzip);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT(fd >= 0);
        cs_warc_writer_opts wo = {.gzip = gzip};
        cs_warc_writer *w;
        ASSERT_OK(cs_warc_writer_new(&w, fd, 0, &wo));
        uint64_t offs[3], lens[3];
        const char *http = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hi</html>";
        cs_warc_field f1[] = {{"WARC-Target-URI", 0, "http://example.com/", 0},
                              {"Content-Type", 0, "application/http; msgtype=response", 0}};
        ASSERT_OK(cs_warc_writer_write(w, CS_WARC_RESPONSE, f1, 2, http, strlen(http), &offs[0],
                                       &lens[0]));
        cs_warc_field f2[] = {{"WARC-Target-URI", 0, "http://example.com/a.png", 0}};
        ASSERT_OK(cs_warc_writer_write(w, CS_WARC_RESOURCE, f2, 1, "\x89PNG", 4, &offs[1], &lens[1]));
        ASSERT_OK(cs_warc_writer_write(w, CS_WARC_METADATA, NULL, 0, "", 0, &offs[2], &lens[2]));
        cs_warc_field evil[] = {{"X-Evil", 0, "a\r\nWARC-Type: response", 0}};
        ASSERT_ST(cs_warc_writer_write(w, CS_WARC_METADATA, evil, 1, "", 0, NULL, NULL), CS_EINVAL);
        cs_warc_writer_free(w);
        close(fd);
        cs_warc_reader *r;
        ASSERT_OK(cs_warc_reader_open(&r, path, NULL));
        scan_reader(r, &g_a, true);
        cs_warc_reader_free(r);
        ASSERT_EQ(g_a.errors, 0);
        ASSERT_EQ(g_a.n, 3);
        for (int i = 0; i < 3; i++) {
            ASSERT_UEQ(g_a.recs[i].offset, offs[i]);
            ASSERT_UEQ(g_a.recs[i].clen, lens[i]);
        }
        ASSERT_STR_EQ(g_a.recs[0].uri, "http://example.com/");
        ASSERT_EQ(g_a.recs[1].type, CS_WARC_RESOURCE);
        if (gzip) { /* our members carry 'sl': the header says the member length */
            size_t flen;
            char *f = cs_test_read_file(path, &flen);
            for (int i = 0; i < 3; i++) {
                cs_gzip_header gh;
                ASSERT_OK(cs_gzip_parse_header((const uint8_t *)f + offs[i], flen - offs[i], &gh));
                ASSERT(gh.has_sl);
                ASSERT_UEQ(gh.sl_length, lens[i]);
            }
            cs_free(f);
        }
        ASSERT_EQ(g_a.recs[1].block_len, 4);
        /* strict reading accepts what we write */
        cs_warc_reader_opts so = {.strict = true};
        ASSERT_OK(cs_warc_reader_open(&r, path, &so));
        scan_reader(r, &g_b, true);
        cs_warc_reader_free(r);
        ASSERT_EQ(g_b.errors, 0);
        ASSERT_EQ(g_b.n, 3);
    }
}
