/* test_dedupe.c - `crawlset dedupe` over datasets written by the dataset
 * writer (webdataset tar shards and the files layout): exact and near copies
 * of corpus images are reported against the first copy and dropped, the
 * other images are left alone. */
#include <dirent.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <vips/vips.h>

#include "../test.h"

static const char *const PICS[] = {"123_456.jpg", "208_495.jpg", "321_421.jpg", "389_535.jpg",
                                   "416_264.jpg", "456_123.jpg", "524_316.jpg"};
#define NPICS (sizeof PICS / sizeof PICS[0])

static uint8_t *pic(size_t i, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "images/img2dataset/resize_test_image/%s", PICS[i]);
    return (uint8_t *)cs_test_read_file(cs_test_corpus(rel), len);
}

/* JPEG q50 of a 70% resize of the picture. */
static uint8_t *near_copy(const uint8_t *data, size_t len, size_t *out_len)
{
    VipsImage *a = vips_image_new_from_buffer(data, len, "", NULL), *b = NULL;
    ASSERT(a);
    ASSERT(vips_resize(a, &b, 0.7, NULL) == 0);
    void *buf;
    ASSERT(vips_jpegsave_buffer(b, &buf, out_len, "Q", 50, NULL) == 0);
    g_object_unref(a);
    g_object_unref(b);
    uint8_t *c = cs_malloc(*out_len);
    memcpy(c, buf, *out_len);
    g_free(buf);
    return c;
}

/* Writes 7 pictures + an exact copy of #1 + a near copy of #2 + an exact
 * copy of #3 in shard 1, as rows 0-9 with 4 per shard. */
static void write_dataset(const char *out, cs_dataset_format fmt)
{
    cs_dataset_opts o = {.format = fmt, .samples_per_shard = 4, .no_fsync = true};
    cs_dataset_writer *w;
    ASSERT_OK(cs_dataset_writer_open(&w, out, &o));
    uint8_t *imgs[10];
    size_t lens[10];
    for (size_t i = 0; i < NPICS; i++)
        imgs[i] = pic(i, &lens[i]);
    imgs[7] = pic(1, &lens[7]);
    imgs[8] = near_copy(imgs[2], lens[2], &lens[8]);
    imgs[9] = pic(3, &lens[9]);
    for (uint64_t i = 0; i < 10; i++) {
        char url[64];
        snprintf(url, sizeof url, "https://example.com/%llu.jpg", (unsigned long long)i);
        cs_dataset_sample s = {.index = i, .url = url, .caption = "a picture",
                               .status = CS_DATASET_SUCCESS, .image = imgs[i],
                               .image_len = lens[i], .width = 10, .height = 10};
        ASSERT_OK(cs_dataset_writer_add(w, &s));
        cs_free(imgs[i]);
    }
    ASSERT_OK(cs_dataset_writer_end_input(w, 10));
    ASSERT_OK(cs_dataset_writer_finish(w));
    cs_dataset_writer_free(w);
}

static size_t tar_members(const char *path, const char *needle)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    ASSERT(archive_read_open_filename(a, path, 65536) == ARCHIVE_OK);
    struct archive_entry *e;
    size_t n = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK)
        n += !needle || strstr(archive_entry_pathname(e), needle) != NULL;
    archive_read_free(a);
    return n;
}

static const char EXPECT[] =
    "{\"item\":\"00001.tar/000013.jpg\",\"dup_of\":\"00000.tar/000001.jpg\",\"kind\":\"exact\","
    "\"distance\":0}\n"
    "{\"item\":\"00002.tar/000020.jpg\",\"dup_of\":\"00000.tar/000002.jpg\",\"kind\":\"near\","
    "\"distance\":%d}\n"
    "{\"item\":\"00002.tar/000021.jpg\",\"dup_of\":\"00000.tar/000003.jpg\",\"kind\":\"exact\","
    "\"distance\":0}\n";

/* The near copy's distance, computed here from the bytes in the shards. */
static int near_distance(void)
{
    size_t l2, l3;
    uint8_t *a = pic(2, &l2);
    uint8_t *b = near_copy(a, l2, &l3);
    uint64_t h1, h2;
    char err[256];
    ASSERT_OK(cs_phash_image(a, l2, &h1, err, sizeof err));
    ASSERT_OK(cs_phash_image(b, l3, &h2, err, sizeof err));
    cs_free(a);
    cs_free(b);
    return cs_phash_distance(h1, h2);
}

TEST_T(dedupe_webdataset_report_and_drop, 60)
{
    ASSERT_OK(cs_image_global_init());
    const char *t = cs_test_tmpdir();
    char dir[600], args[2048], want[1024], path[700];
    snprintf(dir, sizeof dir, "%s/ds", t);
    write_dataset(dir, CS_DATASET_WEBDATASET);
    int d = near_distance();
    ASSERT(d <= CS_PHASH_DEFAULT_RADIUS);
    snprintf(want, sizeof want, EXPECT, d);
    char *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "dedupe '%s' --stats '%s/st.json'", dir, t);
    ASSERT_EQ(cs_test_crawlset(args, &out, &err), 0);
    ASSERT_STR_EQ(out, want);
    ASSERT_CONTAINS(err, "10 images, 2 exact and 1 near duplicates");
    cs_free(out);
    cs_free(err);
    /* exact only: the near copy stays */
    snprintf(args, sizeof args, "dedupe --exact-only --threads 1 '%s'", dir);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT(!strstr(out, "near"));
    ASSERT_CONTAINS(out, "000021.jpg");
    cs_free(out);
    /* radius 0 would not find it unless it is at distance 0 */
    snprintf(args, sizeof args, "dedupe --radius 0 '%s'", dir);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT(d == 0 || !strstr(out, "near"));
    cs_free(out);
    /* drop: the three samples leave their shards (jpg, json, txt each) */
    snprintf(path, sizeof path, "%s/00002.tar", dir);
    ASSERT_UEQ(tar_members(path, NULL), 6);
    snprintf(args, sizeof args, "dedupe --drop --stats '%s/st.json' '%s'", t, dir);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    ASSERT_UEQ(tar_members(path, NULL), 0);
    snprintf(path, sizeof path, "%s/00001.tar", dir);
    ASSERT_UEQ(tar_members(path, NULL), 9);
    ASSERT_UEQ(tar_members(path, "000013"), 0);
    snprintf(path, sizeof path, "%s/00000.tar", dir);
    ASSERT_UEQ(tar_members(path, NULL), 12);
    snprintf(path, sizeof path, "%s/st.json", t);
    char *st = cs_test_read_file(path, NULL);
    ASSERT_CONTAINS(st, "\"images\":10,\"exact\":2,\"near\":1,\"undecodable\":0,"
                        "\"dropped_files\":9,\"shards_rewritten\":2");
    cs_free(st);
    /* run again: nothing left to find */
    snprintf(args, sizeof args, "dedupe '%s'", dir);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT_STR_EQ(out, "");
    cs_free(out);
}

TEST_T(dedupe_files_layouts, 60)
{
    ASSERT_OK(cs_image_global_init());
    const char *t = cs_test_tmpdir();
    char dir[600], args[2048], path[700];
    snprintf(dir, sizeof dir, "%s/files", t);
    write_dataset(dir, CS_DATASET_FILES);
    snprintf(args, sizeof args, "dedupe --drop '%s'", dir);
    char *out = NULL;
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT_CONTAINS(out, "\"item\":\"00001/000013.jpg\",\"dup_of\":\"00000/000001.jpg\"");
    cs_free(out);
    struct stat sb;
    snprintf(path, sizeof path, "%s/00001/000013.json", dir);
    ASSERT(stat(path, &sb) != 0);
    snprintf(path, sizeof path, "%s/00001/000012.json", dir);
    ASSERT(stat(path, &sb) == 0);
    snprintf(path, sizeof path, "%s/00002/000020.txt", dir);
    ASSERT(stat(path, &sb) != 0);
    /* web2dataset: images/ and metadata/ */
    snprintf(dir, sizeof dir, "%s/w2d", t);
    write_dataset(dir, CS_DATASET_WEB2DATASET);
    snprintf(args, sizeof args, "dedupe --drop '%s'", dir);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT_CONTAINS(out, "\"item\":\"images/000013.jpg\",\"dup_of\":\"images/000001.jpg\"");
    cs_free(out);
    snprintf(path, sizeof path, "%s/metadata/000013.json", dir);
    ASSERT(stat(path, &sb) != 0);
    snprintf(path, sizeof path, "%s/images/000013.jpg", dir);
    ASSERT(stat(path, &sb) != 0);
    snprintf(path, sizeof path, "%s/metadata/000012.json", dir);
    ASSERT(stat(path, &sb) == 0);
    /* errors */
    ASSERT_EQ(cs_test_crawlset("dedupe /nonexistent/dir", NULL, NULL), 3);
    ASSERT_EQ(cs_test_crawlset("dedupe", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("dedupe --radius 40 x", NULL, NULL), 2);
    snprintf(dir, sizeof dir, "%s/bad", t);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/00000.tar", dir);
    static const char junk[] = "this is not a tar file, not at all, and it goes on for a while "
                               "so that the reader has enough bytes to look at..............";
    cs_test_write_file(path, junk, sizeof junk - 1);
    snprintf(args, sizeof args, "dedupe '%s'", dir);
    char *err = NULL;
    ASSERT_EQ(cs_test_crawlset(args, NULL, &err), 3);
    ASSERT_CONTAINS(err, "00000.tar");
    cs_free(err);
}
