/* test_dataset.c - dataset writers: keys, shard rollover, webdataset tars read
 * back with libarchive and with Python's tarfile grouped as the webdataset
 * library groups them, one .jsonl row per input row, stats, the files and
 * web2dataset layouts, out-of-order input giving identical bytes, a crash
 * mid-shard redone by an incremental rerun, bounded open shards, and HTTP PUT
 * output to nginx (WebDAV) and to the fault-injecting origin. */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "origin.h"
#include "test.h"

/* ---- sample generator --------------------------------------------------------- */

typedef struct gen {
    char url[64], caption[64], src[32], err[64], sha[65];
    unsigned char img[4096];
    cs_urllist_column cols[2];
    cs_dataset_sample s;
} gen;

static void sha_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    ASSERT(EVP_Digest(d, n, md, &len, EVP_sha256(), NULL) == 1);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* Row i of a deterministic input: every 5th (from 2) fails to download,
 * every 11th (from 4) fails to resize, some have no caption. */
static const cs_dataset_sample *make(gen *g, uint64_t i)
{
    memset(&g->s, 0, sizeof g->s);
    snprintf(g->url, sizeof g->url, "https://img.example/%" PRIu64 ".jpg", i);
    snprintf(g->caption, sizeof g->caption, "caption %" PRIu64 " caf\xC3\xA9", i);
    snprintf(g->src, sizeof g->src, "row-%" PRIu64, i);
    g->cols[0] = (cs_urllist_column){"src", g->src, NULL};
    g->cols[1] = (cs_urllist_column){"score", "0.5", "0.5"};
    cs_dataset_sample *s = &g->s;
    s->index = i;
    s->url = g->url;
    s->caption = i % 7 == 3 ? NULL : g->caption;
    s->columns = g->cols;
    s->ncolumns = 2;
    s->bytes_downloaded = 1000 + i;
    if (i % 5 == 2) {
        s->status = CS_DATASET_FAILED_TO_DOWNLOAD;
        s->reason = "http_4xx";
        snprintf(g->err, sizeof g->err, "HTTP 404");
        s->error_message = g->err;
    } else if (i % 11 == 4) {
        s->status = CS_DATASET_FAILED_TO_RESIZE;
        s->reason = "decode";
        s->error_message = "decode: not an image";
    } else {
        size_t n = 10 + (size_t)(i * 37 % 3000);
        for (size_t k = 0; k < n; k++)
            g->img[k] = (unsigned char)(i * 31 + k * 7);
        memcpy(g->img, "\xFF\xD8\xFF", 3);
        s->image = g->img;
        s->image_len = n;
        s->width = s->height = 256;
        s->original_width = 640;
        s->original_height = 480;
        sha_hex(g->img, n, g->sha);
        s->sha256 = g->sha;
    }
    return s;
}

static bool is_success(uint64_t i) { return !(i % 5 == 2) && !(i % 11 == 4); }

/* Writes rows order[0..n) (indexes into an input of `total` rows). */
static void write_rows(const char *out, const cs_dataset_opts *o, const uint64_t *order, size_t n,
                       uint64_t total)
{
    cs_dataset_writer *w;
    cs_status st = cs_dataset_writer_open(&w, out, o);
    if (st)
        FAIL("open %s: %s", out, cs_dataset_writer_errmsg(w));
    gen *g = cs_test_keep(malloc(sizeof *g));
    for (size_t k = 0; k < n; k++) {
        cs_dataset_admit adm;
        ASSERT_OK(cs_dataset_writer_admit(w, order[k], &adm));
        if (adm == CS_DATASET_ADMIT_SKIP)
            continue;
        ASSERT_EQ(adm, CS_DATASET_ADMIT_WRITE);
        st = cs_dataset_writer_add(w, make(g, order[k]));
        if (st)
            FAIL("add %" PRIu64 ": %s", order[k], cs_dataset_writer_errmsg(w));
    }
    ASSERT_OK(cs_dataset_writer_end_input(w, total));
    st = cs_dataset_writer_finish(w);
    if (st)
        FAIL("finish: %s", cs_dataset_writer_errmsg(w));
    cs_dataset_writer_free(w);
}

static uint64_t *in_order(size_t n)
{
    uint64_t *v = cs_test_keep(malloc(n * sizeof *v));
    for (size_t i = 0; i < n; i++)
        v[i] = i;
    return v;
}

static uint64_t *shuffled(size_t n, uint64_t seed)
{
    uint64_t *v = in_order(n);
    for (size_t i = n; i > 1; i--) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        size_t j = (size_t)(seed % i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
    return v;
}

static const char *sub(const char *name)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 512, "%s/%s", cs_test_tmpdir(), name);
    return b;
}

static const char *join(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%.900s/%.100s", dir, name);
    return b;
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *da = cs_test_read_file(a, &na), *db = cs_test_read_file(b, &nb);
    if (na != nb || memcmp(da, db, na))
        FAIL("%s (%zu bytes) differs from %s (%zu bytes)", a, na, b, nb);
    cs_free(da);
    cs_free(db);
}

static size_t count_lines(const char *p)
{
    size_t n;
    char *d = cs_test_read_file(p, &n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += d[i] == '\n';
    cs_free(d);
    return k;
}

/* Member names of a tar, joined by spaces, and checks each is a regular file
 * with fixed owner, mode and mtime. */
static char *tar_names(const char *p)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, p, 10240) != ARCHIVE_OK)
        FAIL("open %s: %s", p, archive_error_string(a));
    cs_buf b;
    cs_buf_init(&b, 0);
    struct archive_entry *e;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        ASSERT_EQ(archive_entry_filetype(e), AE_IFREG);
        ASSERT_EQ(archive_entry_perm(e), 0644);
        ASSERT_EQ(archive_entry_mtime(e), 0);
        ASSERT_EQ(archive_entry_uid(e), 0);
        if (b.len)
            cs_buf_putc(&b, ' ');
        cs_buf_puts(&b, archive_entry_pathname(e));
    }
    ASSERT_EQ(rc, ARCHIVE_EOF);
    archive_read_free(a);
    return cs_test_keep(b.data ? b.data : strdup(""));
}

/* The bytes of one tar member (cs_malloc'd), or fails. */
static char *tar_member(const char *p, const char *name, size_t *len)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    ASSERT(archive_read_open_filename(a, p, 10240) == ARCHIVE_OK);
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(e), name))
            continue;
        size_t n = (size_t)archive_entry_size(e);
        char *d = cs_malloc(n + 1);
        ASSERT(archive_read_data(a, d, n) == (la_ssize_t)n);
        d[n] = 0;
        archive_read_free(a);
        *len = n;
        return d;
    }
    FAIL("%s has no member %s", p, name);
}

/* ---- keys ------------------------------------------------------------------------- */

TEST(dataset_keys_as_img2dataset)
{
    char k[32];
    ASSERT_UEQ(cs_dataset_key(NULL, 12, k), 9);
    ASSERT_STR_EQ(k, "000000012");
    cs_dataset_key(NULL, 10003, k);
    ASSERT_STR_EQ(k, "000010003");
    cs_dataset_key(NULL, 123456789, k);
    ASSERT_STR_EQ(k, "123456789");
    ASSERT_UEQ(cs_dataset_shard_of(NULL, 10003), 1);
    cs_dataset_opts o = {.samples_per_shard = 1000};
    cs_dataset_key(&o, 1234, k);
    ASSERT_STR_EQ(k, "00001234");
    o.samples_per_shard = 1001; /* ceil(log10(1001)) = 4 digits */
    cs_dataset_key(&o, 1001, k);
    ASSERT_STR_EQ(k, "000010000");
    o.samples_per_shard = 1;
    cs_dataset_key(&o, 7, k);
    ASSERT_STR_EQ(k, "00007");
    o = (cs_dataset_opts){.samples_per_shard = 100, .shard_digits = 3};
    cs_dataset_key(&o, 250, k);
    ASSERT_STR_EQ(k, "00250");
    cs_dataset_format f;
    ASSERT(cs_dataset_format_parse("files", &f) && f == CS_DATASET_FILES);
    ASSERT(cs_dataset_format_parse("web2dataset", &f) && f == CS_DATASET_WEB2DATASET);
    ASSERT(!cs_dataset_format_parse("parquet", &f));
    ASSERT_STR_EQ(cs_dataset_status_name(CS_DATASET_FAILED_TO_RESIZE), "failed_to_resize");
}

/* ---- webdataset ---------------------------------------------------------------------- */

TEST(dataset_webdataset_round_trip)
{
    const char *out = sub("wds");
    cs_dataset_opts o = {.samples_per_shard = 10, .no_fsync = true};
    write_rows(out, &o, in_order(25), 25, 25);
    /* three shards: 10, 10 and 5 rows */
    for (int s = 0; s < 3; s++) {
        char n[32];
        snprintf(n, sizeof n, "%05d.tar", s);
        ASSERT(file_exists(join(out, n)));
        snprintf(n, sizeof n, "%05d.jsonl", s);
        ASSERT_UEQ(count_lines(join(out, n)), s < 2 ? 10 : 5);
        snprintf(n, sizeof n, "%05d_stats.json", s);
        ASSERT(file_exists(join(out, n)));
    }
    ASSERT(!file_exists(join(out, "00003.tar")));
    ASSERT(!file_exists(join(out, "_tmp")));

    /* members of shard 0: successes only, jpg/json/txt in key order */
    cs_buf want;
    cs_buf_init(&want, 0);
    for (uint64_t i = 0; i < 10; i++)
        if (is_success(i))
            cs_buf_printf(&want, "%s00000%" PRIu64 ".jpg 00000%" PRIu64 ".json 00000%" PRIu64 ".txt",
                          want.len ? " " : "", i, i, i); /* 10 per shard: 5 + 1 digits */
    ASSERT_STR_EQ(tar_names(join(out, "00000.tar")), want.data);
    cs_buf_cleanup(&want);
    ASSERT_CONTAINS(tar_names(join(out, "00002.tar")), "000020.jpg 000020.json");

    gen *g = cs_test_keep(malloc(sizeof *g));
    const cs_dataset_sample *s = make(g, 21);
    size_t n;
    char *img = tar_member(join(out, "00002.tar"), "000021.jpg", &n);
    ASSERT_MEM_EQ(img, n, s->image, s->image_len);
    cs_free(img);
    char *txt = tar_member(join(out, "00002.tar"), "000021.txt", &n);
    ASSERT_STR_EQ(txt, "caption 21 caf\xC3\xA9");
    cs_free(txt);
    char *js = tar_member(join(out, "00002.tar"), "000021.json", &n);
    ASSERT_CONTAINS(js, "\"key\":\"000021\",\"status\":\"success\",\"error_message\":null");
    ASSERT_CONTAINS(js, "\"src\":\"row-21\",\"score\":0.5,");
    ASSERT_CONTAINS(js, "\"width\":256,\"height\":256,\"original_width\":640,\"original_height\":480");
    ASSERT_CONTAINS(js, s->sha256);
    cs_free(js);
    /* caption-less rows have an empty .txt, so every sample has the same fields */
    txt = tar_member(join(out, "00001.tar"), "000010.txt", &n);
    ASSERT_UEQ(n, 0);
    cs_free(txt);

    /* the jsonl: every row, failures included, in key order */
    char *jl = cs_test_read_file(join(out, "00000.jsonl"), &n);
    ASSERT(!strncmp(jl, "{\"url\":\"https://img.example/0.jpg\"", 34));
    ASSERT_CONTAINS(jl, "\"key\":\"000002\",\"status\":\"failed_to_download\","
                        "\"error_message\":\"HTTP 404\",\"width\":null");
    ASSERT_CONTAINS(jl, "\"reason\":\"http_4xx\"");
    ASSERT_CONTAINS(jl, "\"key\":\"000004\",\"status\":\"failed_to_resize\"");
    ASSERT_CONTAINS(jl, "\"url\":\"https://img.example/3.jpg\",\"caption\":null");
    cs_free(jl);

    /* stats of shard 0: rows 2 and 7 failed to download, 4 to resize */
    char *st = cs_test_read_file(join(out, "00000_stats.json"), &n);
    ASSERT_CONTAINS(st, "\"count\": 10,");
    ASSERT_CONTAINS(st, "\"successes\": 7,");
    ASSERT_CONTAINS(st, "\"failed_to_download\": 2,");
    ASSERT_CONTAINS(st, "\"failed_to_resize\": 1,");
    ASSERT_CONTAINS(st, "\"status_dict\": {\n        \"success\": 7,\n        \"HTTP 404\": 2,\n"
                        "        \"decode: not an image\": 1\n    }");
    ASSERT_CONTAINS(st, "\"reasons\": {\n        \"ok\": 7,\n        \"http_4xx\": 2,\n"
                        "        \"decode\": 1\n    }");
    ASSERT_CONTAINS(st, "\"bytes_downloaded\": 10045,");
    ASSERT_CONTAINS(st, "\"duration\": ");
    ASSERT_CONTAINS(st, "\"start_time\": ");
    ASSERT_CONTAINS(st, "\"filters\": {}");
    cs_free(st);
}

TEST(dataset_metadata_fields)
{
    const char *out = sub("meta");
    cs_dataset_opts o = {.samples_per_shard = 2, .no_fsync = true, .image_ext = "webp"};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &o));
    cs_urllist_column cols[] = {
        {"page", "https://p.example/", NULL},
        {"status", "should be dropped", NULL}, /* clashes with a fixed field */
        {"page", "dup", NULL},                 /* repeats a column */
        {"n", NULL, NULL},                     /* null */
        {"obj", "{\"a\":1}", "{\"a\":1}"},
    };
    cs_dataset_sample s = {
        .index = 0,
        .url = "https://e.com/a b",
        .caption = "bad \xFF byte\nand a line",
        .columns = cols,
        .ncolumns = 5,
        .status = CS_DATASET_SUCCESS,
        .image = "RIFF....WEBP",
        .image_len = 12,
        .width = 10,
        .height = 20,
        .original_width = 100,
        .original_height = 200,
        .exif = "{\"Image Make\":\"Canon\"}",
        .sha256 = "abc",
        .extra_json = "\"similarity\":0.31,\"page_title\":\"t\"",
    };
    ASSERT_OK(cs_dataset_writer_add(w, &s));
    cs_dataset_sample f = {.index = 1, .url = "https://e.com/x", .status = CS_DATASET_FAILED_TO_DOWNLOAD};
    ASSERT_OK(cs_dataset_writer_add(w, &f));
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
    size_t n;
    char *jl = cs_test_read_file(join(out, "00000.jsonl"), &n);
    ASSERT_STR_EQ(jl,
                  "{\"url\":\"https://e.com/a b\",\"caption\":\"bad \xEF\xBF\xBD byte\\nand a line\","
                  "\"page\":\"https://p.example/\",\"n\":null,\"obj\":{\"a\":1},\"key\":\"000000\","
                  "\"status\":\"success\",\"error_message\":null,\"width\":10,\"height\":20,"
                  "\"original_width\":100,\"original_height\":200,"
                  "\"exif\":\"{\\\"Image Make\\\":\\\"Canon\\\"}\",\"sha256\":\"abc\","
                  "\"reason\":\"ok\",\"similarity\":0.31,\"page_title\":\"t\"}\n"
                  "{\"url\":\"https://e.com/x\",\"caption\":null,\"key\":\"000001\","
                  "\"status\":\"failed_to_download\",\"error_message\":null,\"width\":null,"
                  "\"height\":null,\"original_width\":null,\"original_height\":null,"
                  "\"exif\":null,\"sha256\":null,\"reason\":\"failed_to_download\"}\n");
    cs_free(jl);
    ASSERT_STR_EQ(tar_names(join(out, "00000.tar")), "000000.json 000000.txt 000000.webp");
    char *txt = tar_member(join(out, "00000.tar"), "000000.txt", &n);
    ASSERT_STR_EQ(txt, "bad \xEF\xBF\xBD byte\nand a line"); /* valid UTF-8 for text loaders */
    cs_free(txt);
    char *js = tar_member(join(out, "00000.tar"), "000000.json", &n);
    jl = cs_test_read_file(join(out, "00000.jsonl"), NULL);
    ASSERT(!strncmp(jl, js, n) && jl[n] == '\n'); /* KEY.json == its jsonl line */
    cs_free(js);
    cs_free(jl);
}

TEST(dataset_default_shards_of_ten_thousand)
{
    const char *out = sub("big");
    cs_dataset_opts o = {.no_fsync = true};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &o));
    char cap[32];
    for (uint64_t i = 0; i < 20005; i++) {
        snprintf(cap, sizeof cap, "c%" PRIu64, i);
        cs_dataset_sample s = {.index = i, .url = "https://e.com/", .caption = cap,
                               .image = "x", .image_len = 1};
        ASSERT_OK(cs_dataset_writer_add(w, &s));
    }
    cs_dataset_stats stt;
    ASSERT_OK(cs_dataset_writer_flush(w));
    cs_dataset_writer_stats_get(w, &stt);
    ASSERT_UEQ(stt.shards_written, 2); /* full shards commit as soon as their last row is in */
    ASSERT_UEQ(stt.open_shards, 1);
    ASSERT_UEQ(stt.spooled, 0);
    ASSERT_OK(cs_dataset_writer_end_input(w, 20005));
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
    ASSERT_UEQ(count_lines(join(out, "00000.jsonl")), 10000);
    ASSERT_UEQ(count_lines(join(out, "00002.jsonl")), 5);
    char *names = tar_names(join(out, "00001.tar"));
    ASSERT(!strncmp(names, "000010000.jpg 000010000.json 000010000.txt 000010001.jpg", 56));
    ASSERT_CONTAINS(names, "000019999.txt");
    ASSERT_STR_EQ(tar_names(join(out, "00002.tar")),
                  "000020000.jpg 000020000.json 000020000.txt 000020001.jpg 000020001.json "
                  "000020001.txt 000020002.jpg 000020002.json 000020002.txt 000020003.jpg "
                  "000020003.json 000020003.txt 000020004.jpg 000020004.json 000020004.txt");
}

TEST(dataset_out_of_order_gives_identical_bytes)
{
    const char *a = sub("ordered"), *b = sub("shuffled"), *c = sub("reversed");
    cs_dataset_opts o = {.samples_per_shard = 10, .no_fsync = true, .max_open_shards = 3};
    write_rows(a, &o, in_order(25), 25, 25);
    write_rows(b, &o, shuffled(25, 12345), 25, 25);
    uint64_t *rev = in_order(25);
    for (size_t i = 0; i < 25; i++)
        rev[i] = 24 - i;
    /* reversed order needs the last shard's end declared up front */
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, c, &o));
    ASSERT_OK(cs_dataset_writer_end_input(w, 25));
    gen *g = cs_test_keep(malloc(sizeof *g));
    for (size_t k = 0; k < 25; k++)
        ASSERT_OK(cs_dataset_writer_add(w, make(g, rev[k])));
    cs_dataset_stats s;
    ASSERT_OK(cs_dataset_writer_flush(w));
    cs_dataset_writer_stats_get(w, &s);
    ASSERT_UEQ(s.spooled, 22); /* all but the first row of each shard waited */
    ASSERT_UEQ(s.shards_written, 3);
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
    const char *files[] = {"00000.tar", "00001.tar", "00002.tar",
                           "00000.jsonl", "00001.jsonl", "00002.jsonl"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        assert_same_file(join(a, files[i]), join(b, files[i]));
        assert_same_file(join(a, files[i]), join(c, files[i]));
    }
    ASSERT(!file_exists(join(b, "_tmp")));
}

/* A writer killed mid-shard leaves only temporary files; an incremental
 * rerun skips the complete shard and redoes the rest to the same bytes. */
TEST(dataset_crash_then_incremental_rerun)
{
    const char *ref = sub("ref"), *out = sub("crashed");
    cs_dataset_opts o = {.samples_per_shard = 10, .no_fsync = true};
    write_rows(ref, &o, in_order(25), 25, 25);

    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        cs_dataset_writer *w;
        gen g;
        if (cs_dataset_writer_open(&w, out, &o))
            _exit(2);
        uint64_t rows[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 11, 10, 13, 20, 22};
        for (size_t k = 0; k < sizeof rows / sizeof *rows; k++)
            if (cs_dataset_writer_add(w, make(&g, rows[k])))
                _exit(3);
        if (cs_dataset_writer_flush(w)) /* shard 0's commit is done... */
            _exit(4);
        _exit(0); /* ...then a "crash": no finish, no free */
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT(file_exists(join(out, "00000_stats.json")));
    assert_same_file(join(ref, "00000.tar"), join(out, "00000.tar"));
    ASSERT(!file_exists(join(out, "00001.tar")));
    ASSERT(!file_exists(join(out, "00001_stats.json")));
    ASSERT(file_exists(join(out, "_tmp/00001.tar")));
    ASSERT(file_exists(join(out, "_tmp/00001.spool")));
    ASSERT(file_exists(join(out, "_tmp/00002.jsonl")));

    /* rerun, incremental, in another order */
    cs_dataset_opts inc = o;
    inc.incremental = true;
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &inc));
    gen *g = cs_test_keep(malloc(sizeof *g));
    uint64_t *order = shuffled(25, 99);
    size_t skipped = 0;
    for (size_t k = 0; k < 25; k++) {
        cs_dataset_admit adm;
        ASSERT_OK(cs_dataset_writer_admit(w, order[k], &adm));
        if (order[k] < 10) {
            ASSERT_EQ(adm, CS_DATASET_ADMIT_SKIP);
            skipped++;
            continue;
        }
        ASSERT_EQ(adm, CS_DATASET_ADMIT_WRITE);
        ASSERT_OK(cs_dataset_writer_add(w, make(g, order[k])));
    }
    ASSERT_UEQ(skipped, 10);
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 3))); /* a row of a skipped shard: ignored */
    ASSERT_OK(cs_dataset_writer_end_input(w, 25));
    cs_dataset_stats s;
    ASSERT_OK(cs_dataset_writer_flush(w));
    cs_dataset_writer_stats_get(w, &s);
    ASSERT_UEQ(s.shards_skipped, 1);
    ASSERT_UEQ(s.shards_written, 2);
    ASSERT_UEQ(s.skipped_rows, 1);
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
    const char *files[] = {"00000.tar", "00001.tar", "00002.tar",
                           "00000.jsonl", "00001.jsonl", "00002.jsonl"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        assert_same_file(join(ref, files[i]), join(out, files[i]));
    ASSERT(!file_exists(join(out, "_tmp")));

    /* a complete tar without its stats (killed between the renames) is redone too */
    ASSERT_EQ(unlink(join(out, "00002_stats.json")), 0);
    cs_test_write_file(join(out, "00002.tar"), "garbage", 7);
    uint64_t rows2[] = {20, 21, 22, 23, 24};
    write_rows(out, &inc, rows2, 5, 25);
    assert_same_file(join(ref, "00002.tar"), join(out, "00002.tar"));
}

TEST(dataset_overwrite_without_incremental)
{
    const char *out = sub("over");
    cs_dataset_opts o = {.samples_per_shard = 10, .no_fsync = true};
    write_rows(out, &o, in_order(10), 10, 10);
    size_t n1;
    char *first = cs_test_keep(cs_test_read_file(join(out, "00000_stats.json"), &n1));
    /* same rows again, not incremental: the shard is written again */
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &o));
    cs_dataset_admit adm;
    ASSERT_OK(cs_dataset_writer_admit(w, 0, &adm));
    ASSERT_EQ(adm, CS_DATASET_ADMIT_WRITE);
    ASSERT(!file_exists(join(out, "00000_stats.json"))); /* gone first: incomplete until done */
    gen *g = cs_test_keep(malloc(sizeof *g));
    for (uint64_t i = 0; i < 10; i++)
        ASSERT_OK(cs_dataset_writer_add(w, make(g, i)));
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
    ASSERT(file_exists(join(out, "00000_stats.json")));
    ASSERT_UEQ(count_lines(join(out, "00000.jsonl")), 10);
    (void)first;
}

TEST(dataset_open_shards_are_bounded)
{
    const char *out = sub("bounded");
    cs_dataset_opts o = {.samples_per_shard = 4, .max_open_shards = 2, .no_fsync = true};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &o));
    cs_dataset_admit adm;
    ASSERT_OK(cs_dataset_writer_admit(w, 0, &adm));
    ASSERT_EQ(adm, CS_DATASET_ADMIT_WRITE);
    ASSERT_OK(cs_dataset_writer_admit(w, 4, &adm));
    ASSERT_EQ(adm, CS_DATASET_ADMIT_WRITE);
    ASSERT_OK(cs_dataset_writer_admit(w, 8, &adm));
    ASSERT_EQ(adm, CS_DATASET_ADMIT_WAIT);
    gen *g = cs_test_keep(malloc(sizeof *g));
    ASSERT_ST(cs_dataset_writer_add(w, make(g, 8)), CS_ETOOBIG);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "max_open_shards");
    for (uint64_t i = 0; i < 4; i++) /* finishing shard 0 frees a place */
        ASSERT_OK(cs_dataset_writer_add(w, make(g, 3 - i)));
    ASSERT_OK(cs_dataset_writer_admit(w, 8, &adm));
    ASSERT_EQ(adm, CS_DATASET_ADMIT_WRITE);
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 8)));
    /* misuse */
    ASSERT_ST(cs_dataset_writer_add(w, make(g, 8)), CS_EINVAL);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "added twice");
    ASSERT_ST(cs_dataset_writer_add(w, make(g, 2)), CS_EINVAL);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "already complete");
    cs_dataset_sample bad = *make(g, 5);
    bad.extra_json = "\"a\":1\n";
    ASSERT_ST(cs_dataset_writer_add(w, &bad), CS_EINVAL);
    bad.extra_json = NULL;
    bad.image_ext = "../x";
    ASSERT_ST(cs_dataset_writer_add(w, &bad), CS_EINVAL);
    ASSERT_OK(cs_dataset_writer_end_input(w, 9));
    ASSERT_ST(cs_dataset_writer_end_input(w, 10), CS_EINVAL);
    ASSERT_ST(cs_dataset_writer_add(w, make(g, 9)), CS_EINVAL);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "past the end");
    /* shard 1 lacks rows 4..7: finish reports it and cleans up */
    ASSERT_ST(cs_dataset_writer_finish(w), CS_ETRUNC);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "1 shard(s) incomplete (00001), 4 rows missing");
    cs_dataset_writer_free(w);
    ASSERT(file_exists(join(out, "00000.tar")));
    ASSERT(file_exists(join(out, "00002.tar"))); /* one row, committed at end_input */
    ASSERT_UEQ(count_lines(join(out, "00002.jsonl")), 1);
    ASSERT(!file_exists(join(out, "00001.tar")));
    ASSERT(!file_exists(join(out, "_tmp")));
}

TEST(dataset_free_without_finish_abandons)
{
    const char *out = sub("abandon");
    cs_dataset_opts o = {.samples_per_shard = 4, .no_fsync = true};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &o));
    gen *g = cs_test_keep(malloc(sizeof *g));
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 1)));
    ASSERT(file_exists(join(out, "_tmp/00000.spool")));
    cs_dataset_writer_free(w);
    ASSERT(!file_exists(join(out, "_tmp")));
    ASSERT(!file_exists(join(out, "00000.tar")));
    cs_dataset_writer_free(NULL);
}

/* ---- files layouts -------------------------------------------------------------------- */

static size_t count_dir(const char *d)
{
    DIR *dp = opendir(d);
    if (!dp)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        n += e->d_name[0] != '.';
    closedir(dp);
    return n;
}

TEST(dataset_files_layout)
{
    const char *a = sub("files_a"), *b = sub("files_b");
    cs_dataset_opts o = {.format = CS_DATASET_FILES, .samples_per_shard = 10, .no_fsync = true};
    write_rows(a, &o, in_order(25), 25, 25);
    write_rows(b, &o, shuffled(25, 7), 25, 25);
    size_t ok0 = 0;
    for (uint64_t i = 0; i < 10; i++)
        ok0 += is_success(i);
    ASSERT_UEQ(count_dir(join(a, "00000")), 3 * ok0);
    ASSERT(file_exists(join(a, "00000/000000.jpg")));
    ASSERT(file_exists(join(a, "00000/000000.txt")));
    ASSERT(file_exists(join(a, "00000/000000.json")));
    ASSERT(!file_exists(join(a, "00000/000002.jpg"))); /* failed */
    ASSERT(file_exists(join(a, "00002/000020.jpg")));
    ASSERT_UEQ(count_lines(join(a, "00002.jsonl")), 5);
    ASSERT(file_exists(join(a, "00002_stats.json")));
    ASSERT(!file_exists(join(a, "_tmp")));
    const char *same[] = {"00000.jsonl", "00001.jsonl", "00002.jsonl",
                          "00001/000011.jpg", "00001/000011.json", "00001/000011.txt"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        assert_same_file(join(a, same[i]), join(b, same[i]));
    gen *g = cs_test_keep(malloc(sizeof *g));
    size_t n;
    char *img = cs_test_read_file(join(a, "00001/000011.jpg"), &n);
    const cs_dataset_sample *s = make(g, 11);
    ASSERT_MEM_EQ(img, n, s->image, s->image_len);
    cs_free(img);
    /* rewriting a shard (not incremental) replaces its folder */
    uint64_t rows[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    write_rows(a, &o, rows, 10, 25);
    ASSERT_UEQ(count_dir(join(a, "00000")), 3 * ok0);
}

TEST(dataset_web2dataset_layout)
{
    const char *a = sub("w2d");
    cs_dataset_opts o = {.format = CS_DATASET_WEB2DATASET, .samples_per_shard = 10,
                         .no_fsync = true, .image_ext = "png"};
    write_rows(a, &o, shuffled(25, 3), 25, 25);
    size_t ok = 0;
    for (uint64_t i = 0; i < 25; i++)
        ok += is_success(i);
    ASSERT_UEQ(count_dir(join(a, "images")), ok);
    ASSERT_UEQ(count_dir(join(a, "metadata")), ok);
    ASSERT(file_exists(join(a, "images/000011.png")));
    ASSERT(file_exists(join(a, "metadata/000011.json")));
    ASSERT(!file_exists(join(a, "images/000011.txt")));
    ASSERT_UEQ(count_lines(join(a, "00001.jsonl")), 10);
    ASSERT(!file_exists(join(a, "_tmp")));
}

/* ---- Python: webdataset grouping ----------------------------------------------------- */

static int run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(dataset_webdataset_python_grouping)
{
    if (system("python3 -c 'import tarfile, json, hashlib' >/dev/null 2>&1") != 0) {
        printf("SKIP: python3 is not installed (scripts/bootstrap installs it)\n");
        return;
    }
    const char *out = sub("py");
    cs_dataset_opts o = {.samples_per_shard = 10, .no_fsync = true};
    write_rows(out, &o, shuffled(25, 4242), 25, 25);
    size_t ok = 0;
    for (uint64_t i = 0; i < 25; i++)
        ok += is_success(i);
    char cmd[2048], res[4096];
    snprintf(cmd, sizeof cmd, "python3 %s %s --rows 25 --samples %zu --shards 3 --sha-of-stored-image 2>&1",
             cs_test_source("tests/dataset/check_webdataset.py"), out, ok);
    int rc = run_capture(cmd, res, sizeof res);
    if (rc != 0)
        FAIL("check_webdataset.py: exit %d: %s", rc, res);
    char want[128];
    snprintf(want, sizeof want, "{\"shards\": 3, \"samples\": %zu, \"rows\": 25}", ok);
    ASSERT_CONTAINS(res, want);

    /* the checker does catch a broken dataset: a .jsonl row lost */
    size_t n;
    char *jl = cs_test_read_file(join(out, "00001.jsonl"), &n);
    char *nl = strchr(jl, '\n');
    cs_test_write_file(join(out, "00001.jsonl"), nl + 1, n - (size_t)(nl + 1 - jl));
    cs_free(jl);
    rc = run_capture(cmd, res, sizeof res);
    ASSERT_EQ(rc, 1);
    ASSERT_CONTAINS(res, "00001");
}

/* ---- HTTP PUT ---------------------------------------------------------------------------- */

static const char *find_nginx(void)
{
    static char found[512];
    const char *env = getenv("PATH");
    char list[4096];
    snprintf(list, sizeof list, "%s:/usr/sbin:/sbin:/usr/local/sbin", env ? env : "");
    char *save = NULL;
    for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof found, "%s/nginx", d);
        if (access(found, X_OK) == 0)
            return found;
    }
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool can_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

typedef struct nginx {
    pid_t pid;
    int port;
    char dir[512]; /* prefix; files land under dir/www */
} nginx;

/* Starts nginx with WebDAV PUT on 127.0.0.1:ephemeral as a child; false when
 * nginx is not installed. */
static bool nginx_start(nginx *n)
{
    const char *bin = find_nginx();
    if (!bin)
        return false;
    snprintf(n->dir, sizeof n->dir, "%s/nginx", cs_test_tmpdir());
    ASSERT(mkdir(n->dir, 0755) == 0 && mkdir(join(n->dir, "www"), 0755) == 0);
    n->port = free_port();
    char conf[4096];
    snprintf(conf, sizeof conf,
             "master_process off;\n"
             "worker_processes 1;\n"
             "events { worker_connections 64; }\n"
             "http {\n"
             "  access_log off;\n"
             "  client_body_temp_path %s/body;\n"
             "  proxy_temp_path %s/proxy;\n"
             "  fastcgi_temp_path %s/fastcgi;\n"
             "  uwsgi_temp_path %s/uwsgi;\n"
             "  scgi_temp_path %s/scgi;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d;\n"
             "    root %s/www;\n"
             "    location / {\n"
             "      dav_methods PUT DELETE;\n"
             "      create_full_put_path on;\n"
             "      client_max_body_size 0;\n"
             "      dav_access user:rw group:r all:r;\n"
             "    }\n"
             "  }\n"
             "}\n",
             n->dir, n->dir, n->dir, n->dir, n->dir, n->port, n->dir);
    char cp[600], gopts[1600], elog[600];
    snprintf(cp, sizeof cp, "%s/nginx.conf", n->dir);
    snprintf(elog, sizeof elog, "%s/err.log", n->dir);
    snprintf(gopts, sizeof gopts, "daemon off; pid %s/nginx.pid; error_log %s/err.log;", n->dir,
             n->dir);
    cs_test_write_file(cp, conf, strlen(conf));
    n->pid = fork();
    ASSERT(n->pid >= 0);
    if (n->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        execl(bin, "nginx", "-p", n->dir, "-c", cp, "-e", elog, "-g", gopts, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        if (can_connect(n->port))
            return true;
        int st;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            char *log = file_exists(elog) ? cs_test_read_file(elog, NULL) : NULL;
            FAIL("nginx exited at start: %s", log ? log : "(no log)");
        }
        usleep(25000);
    }
    FAIL("nginx did not start listening on port %d", n->port);
}

static void nginx_stop(nginx *n)
{
    kill(n->pid, SIGTERM);
    int st;
    waitpid(n->pid, &st, 0);
}

TEST_T(dataset_http_put_to_nginx_webdav, 120)
{
    nginx ng;
    if (!nginx_start(&ng)) {
        printf("SKIP: nginx is not installed (scripts/bootstrap installs it)\n");
        return;
    }
    const char *ref = sub("put_ref");
    cs_dataset_opts o = {.samples_per_shard = 10, .no_fsync = true};
    write_rows(ref, &o, in_order(25), 25, 25);

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/runs/r1/", ng.port);
    cs_dataset_opts po = o;
    po.staging_dir = sub("put_staging");
    write_rows(url, &po, shuffled(25, 77), 25, 25);
    char www[1024];
    snprintf(www, sizeof www, "%s/www/runs/r1", ng.dir);
    const char *files[] = {"00000.tar", "00001.tar", "00002.tar",
                           "00000.jsonl", "00001.jsonl", "00002.jsonl"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        assert_same_file(join(ref, files[i]), join(www, files[i]));
    ASSERT(file_exists(join(www, "00002_stats.json")));
    ASSERT_UEQ(count_dir(po.staging_dir), 0); /* uploaded files are deleted locally */

    /* incremental: HEAD finds the stats, every row is skipped, nothing is sent */
    cs_dataset_opts inc = po;
    inc.incremental = true;
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, url, &inc));
    for (uint64_t i = 0; i < 25; i++) {
        cs_dataset_admit adm;
        ASSERT_OK(cs_dataset_writer_admit(w, i, &adm));
        ASSERT_EQ(adm, CS_DATASET_ADMIT_SKIP);
    }
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_stats s;
    ASSERT_OK(cs_dataset_writer_flush(w));
    cs_dataset_writer_stats_get(w, &s);
    ASSERT_UEQ(s.shards_skipped, 3);
    ASSERT_UEQ(s.uploads, 0);
    cs_dataset_writer_free(w);

    /* the files layout: one PUT per file, folders created by the server;
       the staging directory is a fresh one under $TMPDIR, removed at the end */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/runs/files", ng.port);
    cs_dataset_opts fo = {.format = CS_DATASET_FILES, .samples_per_shard = 10, .no_fsync = true};
    write_rows(url, &fo, in_order(12), 12, 12);
    snprintf(www, sizeof www, "%s/www/runs/files", ng.dir);
    ASSERT(file_exists(join(www, "00000/000000.jpg")));
    ASSERT(file_exists(join(www, "00001/000011.json")));
    ASSERT(file_exists(join(www, "00001_stats.json")));
    ASSERT_UEQ(count_lines(join(www, "00001.jsonl")), 2);
    nginx_stop(&ng);
}

TEST_T(dataset_http_put_retries_and_failures, 60)
{
    cs_origin *og;
    ASSERT_OK(cs_origin_start(&og));
    cs_origin_route flaky = {.status = 201, .fail_times = 2, .fail_status = 503};
    ASSERT_OK(cs_origin_route_add(og, "/up/00000.tar", &flaky));
    ASSERT_OK(cs_origin_route_simple(og, "/up/00000.jsonl", 201, ""));
    ASSERT_OK(cs_origin_route_simple(og, "/up/00000_stats.json", 204, ""));
    char url[256];
    snprintf(url, sizeof url, "%s/up", cs_origin_url(og));
    cs_dataset_opts o = {.samples_per_shard = 2, .no_fsync = true, .put_retries = 3};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, url, &o));
    gen *g = cs_test_keep(malloc(sizeof *g));
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 1)));
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 0)));
    cs_dataset_stats s;
    ASSERT_OK(cs_dataset_writer_flush(w));
    cs_dataset_writer_stats_get(w, &s);
    ASSERT_UEQ(s.uploads, 3);
    ASSERT_UEQ(s.upload_retries, 2);
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
    /* the order the server saw: old stats removed (not incremental), the tar
       (3 tries), the jsonl, the stats last */
    const char *want[][2] = {{"DELETE", "/up/00000_stats.json"}, {"PUT", "/up/00000.tar"},
                             {"PUT", "/up/00000.tar"},           {"PUT", "/up/00000.tar"},
                             {"PUT", "/up/00000.jsonl"},         {"PUT", "/up/00000_stats.json"}};
    ASSERT_UEQ(cs_origin_total(og), 6);
    for (size_t i = 0; i < 6; i++) {
        cs_origin_request rq;
        ASSERT(cs_origin_log_get(og, i, &rq));
        ASSERT_STR_EQ(rq.method, want[i][0]);
        ASSERT_STR_EQ(rq.path, want[i][1]);
    }

    /* a refusal (403) is not retried: the shard fails with a clear message */
    ASSERT_OK(cs_origin_route_simple(og, "/no/00000.tar", 403, "forbidden"));
    snprintf(url, sizeof url, "%s/no/", cs_origin_url(og));
    ASSERT_OK(cs_dataset_writer_open(&w, url, &o));
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 0)));
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 1))); /* hands the shard to the committer */
    ASSERT_ST(cs_dataset_writer_flush(w), CS_EHTTP);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "PUT http://127.0.0.1:");
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "/no/00000.tar: HTTP 403");
    /* every later call says so, with the same message */
    ASSERT_ST(cs_dataset_writer_add(w, make(g, 2)), CS_EHTTP);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "/no/00000.tar: HTTP 403");
    cs_dataset_admit adm;
    ASSERT_ST(cs_dataset_writer_admit(w, 4, &adm), CS_EHTTP);
    ASSERT_ST(cs_dataset_writer_finish(w), CS_EHTTP);
    ASSERT_UEQ(cs_origin_count(og, "/no/00000.tar"), 1);
    cs_dataset_writer_free(w);
    cs_origin_stop(og);

    /* nothing listening: the first request (the DELETE) fails after its retry */
    int port = free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    o.put_retries = 1;
    ASSERT_OK(cs_dataset_writer_open(&w, url, &o));
    ASSERT_ST(cs_dataset_writer_add(w, make(g, 0)), CS_ENET);
    ASSERT_CONTAINS(cs_dataset_writer_errmsg(w), "DELETE http://127.0.0.1:");
    cs_dataset_writer_free(w);
}

/* A slow upload does not hold the writer: while shard 0's PUT takes a
 * second, rows of shard 1 are added at once (the commit thread uploads
 * with no lock held), and flush waits for the upload. */
TEST_T(dataset_slow_put_does_not_block_adds, 60)
{
    cs_origin *og;
    ASSERT_OK(cs_origin_start(&og));
    cs_origin_route slow = {.status = 201, .delay_ms = 1000};
    ASSERT_OK(cs_origin_route_add(og, "/up/00000.tar", &slow));
    ASSERT_OK(cs_origin_route_simple(og, "/up/00000.jsonl", 201, ""));
    ASSERT_OK(cs_origin_route_simple(og, "/up/00000_stats.json", 201, ""));
    char url[256];
    snprintf(url, sizeof url, "%s/up", cs_origin_url(og));
    cs_dataset_opts o = {.samples_per_shard = 2, .no_fsync = true};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, url, &o));
    gen *g = cs_test_keep(malloc(sizeof *g));
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 0)));
    double t0 = cs_now();
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 1))); /* shard 0 complete */
    ASSERT_OK(cs_dataset_writer_add(w, make(g, 2))); /* shard 1, meanwhile */
    double t_add = cs_now() - t0;
    ASSERT(t_add < 0.5);
    cs_dataset_stats s;
    cs_dataset_writer_stats_get(w, &s);
    ASSERT_UEQ(s.committing, 1);
    ASSERT_OK(cs_dataset_writer_flush(w));
    ASSERT(cs_now() - t0 >= 0.9);
    cs_dataset_writer_stats_get(w, &s);
    ASSERT_UEQ(s.committing, 0);
    ASSERT_UEQ(s.shards_written, 1);
    ASSERT_UEQ(s.uploads, 3);
    cs_dataset_writer_free(w); /* shard 1 incomplete: abandoned */
    cs_origin_stop(og);
}
