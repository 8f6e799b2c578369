/* test_download.c - the download pipeline end to end against the loopback
 * origin serving data/sample/images: shards, one .jsonl row per input row,
 * reasons for the failures, stats. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "origin.h"
#include "test.h"

static cs_origin *serve_images(void)
{
    cs_origin_opts oo = {.root = cs_test_source("data/sample/images")};
    cs_origin *o;
    ASSERT_OK(cs_origin_start_opts(&o, &oo));
    return o;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static size_t count_substr(const char *s, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (const char *p = s; (p = strstr(p, needle)); p += k)
        n++;
    return n;
}

static const char *NAMES[] = {"red-bicycle", "harbour-boats", "mountain-lake", "city-night",
                              "cat-window",  "market-fruit",  "old-library",   "snow-forest",
                              "tea-cup",     "race-finish",   "lighthouse",    "sunflowers"};

TEST_T(download_url_list_to_webdataset, 60)
{
    cs_origin *o = serve_images();
    char list[600], out[600];
    snprintf(list, sizeof list, "%s/urls.csv", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_buf_puts(&b, "url,caption,id\n"));
    for (int i = 0; i < 12; i++)
        ASSERT_OK(cs_buf_printf(&b, "%s/%s.jpg,\"picture %d, %s\",id%d\n", cs_origin_url(o),
                                NAMES[i], i, NAMES[i], i));
    ASSERT_OK(cs_buf_printf(&b, "%s/missing.jpg,a missing one,id12\n", cs_origin_url(o)));
    ASSERT_OK(cs_buf_printf(&b, "%s/README.txt,not an image,id13\n", cs_origin_url(o)));
    cs_test_write_file(list, b.data, b.len);
    cs_buf_cleanup(&b);

    cs_download_opts d;
    cs_download_opts_init(&d);
    d.fetch.retries = 0;
    d.dataset.samples_per_shard = 10;
    d.dataset.no_fsync = true;
    d.threads = 2;
    static const char *save[] = {"id"};
    cs_urllist_opts uo = {.caption_col = "caption", .save_columns = save, .nsave = 1};
    cs_urllist_reader *ur;
    ASSERT_OK(cs_urllist_open(&ur, list, &uo));
    cs_download_stats s;
    char err[256];
    cs_status st = cs_download_run(&d, out, cs_pipe_urllist_rows, ur, &s, err, sizeof err);
    cs_urllist_free(ur);
    if (st)
        FAIL("download: %s", err);
    ASSERT_EQ(s.rows, 14);
    ASSERT_EQ(s.ok, 12);
    ASSERT_EQ(s.failed_download, 2);
    ASSERT_EQ(s.by_fetch[CS_FETCH_HTTP_4XX], 1);
    ASSERT_EQ(s.by_fetch[CS_FETCH_BAD_TYPE], 1);

    /* two shards of 10 rows (the second has 4), each with its jsonl and stats */
    char p[700];
    struct stat sb;
    for (int shard = 0; shard < 2; shard++) {
        snprintf(p, sizeof p, "%s/%05d.tar", out, shard);
        ASSERT(stat(p, &sb) == 0 && sb.st_size > 0);
        snprintf(p, sizeof p, "%s/%05d_stats.json", out, shard);
        ASSERT(stat(p, &sb) == 0);
    }
    snprintf(p, sizeof p, "%s/00000.jsonl", out);
    char *j0 = cs_test_keep(cs_test_read_file(p, NULL));
    ASSERT_EQ(count_lines(j0), 10);
    ASSERT_EQ(count_substr(j0, "\"status\":\"success\""), 10);
    ASSERT_CONTAINS(j0, "\"caption\":\"picture 0, red-bicycle\"");
    ASSERT_CONTAINS(j0, "\"id\":\"id3\"");
    snprintf(p, sizeof p, "%s/00001.jsonl", out);
    char *j1 = cs_test_keep(cs_test_read_file(p, NULL));
    ASSERT_EQ(count_lines(j1), 4);
    ASSERT_EQ(count_substr(j1, "\"status\":\"failed_to_download\""), 2);
    ASSERT_CONTAINS(j1, "\"reason\":\"http_4xx\"");
    ASSERT_CONTAINS(j1, "\"reason\":\"bad_type\"");
    /* every image is 256x256 (border mode) */
    ASSERT_EQ(count_substr(j0, "\"width\":256,\"height\":256"), 10);
    cs_origin_stop(o);
}

TEST_T(pairs_from_demo_wat_with_connect_to, 60)
{
    cs_origin *o = serve_images();
    char out[600], map[128];
    snprintf(out, sizeof out, "%s/pairs", cs_test_tmpdir());
    snprintf(map, sizeof map, "images.crawlset.test:80:127.0.0.1:%u", (unsigned)cs_origin_port(o));
    const char *connect_to[] = {map, NULL};
    cs_download_opts d;
    cs_download_opts_init(&d);
    d.fetch.retries = 0;
    d.fetch.connect_to = connect_to;
    d.dataset.no_fsync = true;
    d.threads = 2;
    const char *paths[] = {cs_test_source("data/sample/demo.wat.gz")};
    cs_pipe_wat_rows *w;
    ASSERT_OK(cs_pipe_wat_rows_new(&w, paths, 1, 1));
    cs_download_stats s;
    char err[256];
    cs_status st = cs_download_run(&d, out, cs_pipe_wat_rows_next, w, &s, err, sizeof err);
    uint64_t recs, errs;
    cs_pipe_wat_rows_counts(w, &recs, &errs);
    cs_pipe_wat_rows_free(w);
    if (st)
        FAIL("pairs: %s", err);
    ASSERT_EQ(errs, 0);
    ASSERT_EQ(s.rows, 14); /* 12 images + a missing one + a text file; the empty alt is no candidate */
    ASSERT_EQ(s.ok, 12);
    ASSERT_EQ(s.by_fetch[CS_FETCH_HTTP_4XX], 1);
    ASSERT_EQ(s.by_fetch[CS_FETCH_BAD_TYPE], 1);
    /* robots.txt was asked once, on the demo host name (the Host header) */
    ASSERT_EQ(cs_origin_count(o, "/robots.txt"), 1);
    char p[700];
    snprintf(p, sizeof p, "%s/00000.jsonl", out);
    char *j = cs_test_keep(cs_test_read_file(p, NULL));
    ASSERT_EQ(count_lines(j), 14);
    ASSERT_CONTAINS(j, "\"caption\":\"Cyclists crossing the finish line\"");
    ASSERT_CONTAINS(j, "\"page\":\"http://photos.crawlset.test/page/3\"");
    ASSERT_CONTAINS(j, "\"key\":\"000000000\"");
    /* the shard groups as the webdataset library groups it */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "python3 %s %s --rows 14 --samples 12 --shards 1 >%s/py.out 2>&1",
             cs_test_source("tests/dataset/check_webdataset.py"), out, cs_test_tmpdir());
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(p, sizeof p, "%s/py.out", cs_test_tmpdir());
        FAIL("check_webdataset.py: %s", (char *)cs_test_keep(cs_test_read_file(p, NULL)));
    }
    cs_origin_stop(o);
}

/* One image worker with a queue of two, hundreds of fast loopback fetches:
 * bodies must wait in the backlog (the fetch loop is never blocked by the
 * pool), and every row still ends in the output exactly once. */
TEST_T(download_backlog_when_the_image_pool_is_full, 90)
{
    cs_origin *o = serve_images();
    char list[600], out[600];
    snprintf(list, sizeof list, "%s/urls.txt", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    enum { N = 240 };
    cs_buf b;
    cs_buf_init(&b, 0);
    for (int i = 0; i < N; i++)
        ASSERT_OK(cs_buf_printf(&b, "%s/%s.jpg?n=%d\n", cs_origin_url(o), NAMES[i % 12], i));
    cs_test_write_file(list, b.data, b.len);
    cs_buf_cleanup(&b);

    cs_download_opts d;
    cs_download_opts_init(&d);
    d.fetch.retries = 0;
    d.fetch.per_host = 64;
    d.dataset.samples_per_shard = 100;
    d.dataset.no_fsync = true;
    d.threads = 1;
    d.max_backlog_bytes = 200 << 10;
    cs_urllist_reader *ur;
    ASSERT_OK(cs_urllist_open(&ur, list, NULL));
    cs_download_stats s;
    char err[256];
    cs_status st = cs_download_run(&d, out, cs_pipe_urllist_rows, ur, &s, err, sizeof err);
    cs_urllist_free(ur);
    if (st)
        FAIL("download: %s", err);
    ASSERT_EQ(s.rows, N);
    ASSERT_EQ(s.ok, N);
    ASSERT(s.peak_backlog > 0);
    /* the images are 10-60 KB: a 200 KB budget holds a handful at most */
    ASSERT(s.peak_backlog <= 20);
    size_t lines = 0;
    for (int shard = 0; shard < 3; shard++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%05d.jsonl", out, shard);
        char *j = cs_test_keep(cs_test_read_file(p, NULL));
        lines += count_lines(j);
        ASSERT_EQ(count_substr(j, "\"status\":\"success\""), count_lines(j));
    }
    ASSERT_EQ(lines, N);
    cs_origin_stop(o);
}

/* SIGTERM mid-run: `crawlset download` stops soon, exits 1, keeps the
 * complete shards, leaves no incomplete one (no canceled row is written as
 * a failure), and --incremental then finishes to the same rows. */
TEST_T(download_sigterm_keeps_complete_shards_and_incremental_finishes, 90)
{
    cs_origin *o = serve_images();
    char list[600], out[600];
    snprintf(list, sizeof list, "%s/urls.txt", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    enum { N = 400 };
    cs_buf b;
    cs_buf_init(&b, 0);
    for (int i = 0; i < N; i++)
        ASSERT_OK(cs_buf_printf(&b, "%s/%s.jpg?n=%d\n", cs_origin_url(o), NAMES[i % 12], i));
    cs_test_write_file(list, b.data, b.len);
    cs_buf_cleanup(&b);

    char bin[700];
    snprintf(bin, sizeof bin, "%s/crawlset", CS_BUILD_DIR);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(bin, bin, "download", list, "--out", out, "--samples-per-shard", "20",
              "--threads", "1", "--per-host", "2", "--host-delay", "0.01", "--retries", "0",
              "--ignore-robots-txt", "--no-progress", (char *)NULL);
        _exit(127);
    }
    /* wait for the first complete shard, then interrupt */
    char p[700];
    snprintf(p, sizeof p, "%s/00000_stats.json", out);
    struct stat sb;
    for (int i = 0; i < 200 && stat(p, &sb) != 0; i++)
        usleep(20000);
    ASSERT(stat(p, &sb) == 0);
    kill(pid, SIGTERM);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 1);
    /* every shard present is complete: 20 rows, all successes */
    int present = 0;
    for (int shard = 0; shard < N / 20; shard++) {
        snprintf(p, sizeof p, "%s/%05d.jsonl", out, shard);
        if (stat(p, &sb) != 0)
            continue;
        present++;
        char *j = cs_test_keep(cs_test_read_file(p, NULL));
        ASSERT_EQ(count_lines(j), 20);
        ASSERT_EQ(count_substr(j, "\"status\":\"success\""), 20);
    }
    ASSERT(present >= 1 && present < N / 20);

    char *sout = NULL, *serr = NULL;
    char args[1400];
    snprintf(args, sizeof args,
             "download %s --out %s --samples-per-shard 20 --threads 1 --retries 0 "
             "--ignore-robots-txt --no-progress --incremental",
             list, out);
    int rc = cs_test_crawlset(args, &sout, &serr);
    cs_test_keep(sout);
    cs_test_keep(serr);
    ASSERT_EQ(rc, 0);
    size_t lines = 0;
    for (int shard = 0; shard < N / 20; shard++) {
        snprintf(p, sizeof p, "%s/%05d.jsonl", out, shard);
        char *j = cs_test_keep(cs_test_read_file(p, NULL));
        lines += count_substr(j, "\"status\":\"success\"");
    }
    ASSERT_EQ(lines, N);
    cs_origin_stop(o);
}
