/* test_tracker_dashboard.c - the read-only pages: /, /worker/<type>/<name>,
 * /data, /metrics through the handler (content, HTML escaping), and / as
 * rendered by headless Chromium over HTTP: the DOM shows the job counts and
 * the leaderboard, and the screenshot (decoded with libvips) is a real,
 * non-blank image of the page. SQLite and PostgreSQL. */
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "tracker_test.h"

/* A tracker with some history: 3 inputs (6 jobs), a GPU stage job, done
 * jobs and workers with progress text. */
static void populate(cs_tracker *t)
{
    tt_resp r = tt_call(t, "POST", "/api/admin/addJobs", NULL,
                        "{\"key\":\"sekrit\",\"inputs\":[\"w/1\",\"w/2\",\"w/3\"]}");
    ASSERT_EQ(r.status, 200);
    char h[64], c[64];
    snprintf(h, sizeof h, "%s", tt_worker(t, "%3Cb%3Eeve%3C%2Fb%3E", "HYBRID"));
    snprintf(c, sizeof c, "%s", tt_worker(t, "cpuhero", "CPU"));
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(tt_post(t, "newJob", h, "HYBRID", "").status, 200);
        ASSERT_EQ(tt_post(t, "markAsDone", h, "HYBRID", ",\"count\":4321").status, 200);
    }
    ASSERT_EQ(tt_post(t, "newJob", c, "CPU", "").status, 200);
    ASSERT_EQ(tt_post(t, "markAsDone", c, "CPU", ",\"url\":\"http://o/x\"").status, 200);
    ASSERT_EQ(tt_post(t, "newJob", c, "CPU", "").status, 200);
    ASSERT_EQ(tt_post(t, "updateProgress", c, "CPU", ",\"progress\":\"downloading 42%\"").status,
              200);
    ASSERT_EQ(tt_post(t, "newJob", h, "HYBRID", "").status, 200);
}

TRACKER_TEST(tracker_dashboard_pages)
{
    cs_tracker *t = tt_open(db, 60, 2);
    populate(t);
    tt_resp r = tt_call(t, "GET", "/", NULL, NULL);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "<title>crawlset tracker</title>");
    ASSERT_CONTAINS(r.body, "6 jobs: 2 open, 2 leased, 2 done");
    ASSERT_CONTAINS(r.body, "<td>GPU (stage 2)</td><td class=\"n\">1</td>");
    ASSERT_CONTAINS(r.body, "&lt;b&gt;eve&lt;/b&gt;"); /* escaped, never markup */
    ASSERT(!strstr(r.body, "<b>eve"));
    ASSERT_CONTAINS(r.body, "downloading 42%");
    ASSERT_CONTAINS(r.body, "<td>cpuhero</td><td class=\"n\">1</td><td class=\"n\">0</td>");
    ASSERT_CONTAINS(r.body, "<td class=\"n\">2</td><td class=\"n\">8642</td>");
    ASSERT_CONTAINS(r.body, "href=\"/worker/CPU/cpuhero-");
    /* the worker page, by the link the overview gives */
    const char *l = strstr(r.body, "href=\"/worker/CPU/");
    char path[128];
    snprintf(path, sizeof path, "%.*s", (int)(strchr(l + 6, '"') - (l + 6)), l + 6);
    tt_resp w = tt_call(t, "GET", path, NULL, NULL);
    ASSERT_EQ(w.status, 200);
    ASSERT_CONTAINS(w.body, "downloading 42%");
    ASSERT_CONTAINS(w.body, "<th>nickname</th><td>cpuhero</td>");
    ASSERT_EQ(tt_call(t, "GET", "/worker/GPU/nobody", NULL, NULL).status, 404);
    ASSERT_EQ(tt_call(t, "GET", "/worker/", NULL, NULL).status, 404);
    ASSERT_EQ(tt_call(t, "GET", "/nope", NULL, NULL).status, 404);
    ASSERT_EQ(tt_call(t, "POST", "/", NULL, "x").status, 400);
    /* /data */
    r = tt_call(t, "GET", "/data", NULL, NULL);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"totals\":{\"open\":2,\"leased\":2,\"done\":2,\"workers\":2}");
    ASSERT_CONTAINS(r.body, "\"leaderboard\":[{\"nickname\":\"<b>eve</b>\",\"jobs\":2,\"pairs\":8642}");
    /* /metrics */
    r = tt_call(t, "GET", "/metrics", NULL, NULL);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "# TYPE crawlset_tracker_jobs gauge\n");
    ASSERT_CONTAINS(r.body, "crawlset_tracker_jobs{stage=\"1\",state=\"done\"} 2\n");
    ASSERT_CONTAINS(r.body, "crawlset_tracker_jobs{stage=\"2\",state=\"open\"} 1\n");
    ASSERT_CONTAINS(r.body, "crawlset_tracker_workers 2\n");
    ASSERT_CONTAINS(r.body, "crawlset_tracker_jobs_completed_total 3\n");
    ASSERT_CONTAINS(r.body, "crawlset_tracker_jobs_leased_total 5\n");
    cs_tracker_free(t);
}

/* Runs chromium headless on url; returns its exit code. */
static int chromium(const char *url, const char *flags, const char *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout -k 2 20 /usr/bin/chromium --headless --no-sandbox --disable-gpu "
             "--no-first-run --disable-dev-shm-usage --hide-scrollbars --mute-audio "
             "--disable-extensions --disable-background-networking --no-proxy-server "
             "--user-data-dir='%s/chromium' --window-size=1200,900 %s '%s' >'%s' 2>'%s/chromium.err'",
             cs_test_tmpdir(), flags, url, out, cs_test_tmpdir());
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TRACKER_TEST_T(tracker_dashboard_chromium, 60)
{
    if (access("/usr/bin/chromium", X_OK) != 0)
        FAIL("/usr/bin/chromium is missing (scripts/bootstrap installs it)");
    cs_tracker *t = tt_open(db, 60, 2);
    populate(t);
    uint16_t port;
    char err[256];
    ASSERT_OK(cs_tracker_listen(t, "127.0.0.1:0", &port, err, sizeof err));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)port);

    char dom[600], png[600], flag[700];
    snprintf(dom, sizeof dom, "%s/dom.html", cs_test_tmpdir());
    snprintf(png, sizeof png, "%s/shot.png", cs_test_tmpdir());
    ASSERT_EQ(chromium(url, "--dump-dom", dom), 0);
    char *d = cs_test_read_file(dom, NULL);
    /* the browser's DOM (tbody inserted by the parser): jobs and leaderboard */
    ASSERT_CONTAINS(d, "<table id=\"jobs\">");
    ASSERT_CONTAINS(d, "6 jobs: 2 open, 2 leased, 2 done");
    ASSERT_CONTAINS(d, "<td>CPU (stage 1)</td><td class=\"n\">1</td><td class=\"n\">2</td>"
                       "<td class=\"n\">2</td>");
    ASSERT_CONTAINS(d, "<table id=\"leaderboard\">");
    ASSERT_CONTAINS(d, "<td>&lt;b&gt;eve&lt;/b&gt;</td><td class=\"n\">2</td>"
                       "<td class=\"n\">8642</td>");
    ASSERT_CONTAINS(d, "downloading 42%");
    cs_free(d);

    snprintf(flag, sizeof flag, "--screenshot='%s'", png);
    char log[600];
    snprintf(log, sizeof log, "%s/shot.log", cs_test_tmpdir());
    ASSERT_EQ(chromium(url, flag, log), 0);
    struct stat sb;
    ASSERT_EQ(stat(png, &sb), 0);
    ASSERT(sb.st_size > 5000);
    ASSERT_EQ(vips_init("cs_tests"), 0);
    VipsImage *im = vips_image_new_from_file(png, NULL);
    ASSERT(im);
    ASSERT_EQ(vips_image_get_width(im), 1200);
    ASSERT_EQ(vips_image_get_height(im), 900);
    /* not blank: real contrast, and the table headers' blue is there */
    double sd = 0;
    VipsImage *band0 = NULL;
    ASSERT_EQ(vips_extract_band(im, &band0, 0, NULL), 0);
    ASSERT_EQ(vips_deviate(band0, &sd, NULL), 0);
    ASSERT(sd > 10.0);
    VipsImage *mem = vips_image_copy_memory(im);
    ASSERT(mem);
    size_t sz;
    const unsigned char *px = vips_image_get_data(mem);
    int bands = vips_image_get_bands(mem);
    sz = (size_t)vips_image_get_width(mem) * (size_t)vips_image_get_height(mem);
    size_t blue = 0;
    for (size_t i = 0; i < sz; i++) {
        const unsigned char *p = px + i * (size_t)bands;
        if (p[0] < 70 && p[1] > 70 && p[1] < 120 && p[2] > 110 && p[2] < 160)
            blue++;
    }
    ASSERT(blue > 2000); /* three header rows of #2d5d8a */
    g_object_unref(mem);
    g_object_unref(band0);
    g_object_unref(im);
    cs_tracker_free(t);
}
