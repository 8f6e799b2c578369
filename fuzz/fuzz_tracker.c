/* fuzz_tracker.c - libFuzzer target for the tracker's request handler
 * (cs_tracker_handle: query strings, JSON bodies, paths of the protocol and
 * the dashboard) over a real SQLite store in a temporary file, holding a few
 * jobs and one registered worker of each type.
 *
 * Input: byte 0 picks the method and path; the rest up to the first '\n' is
 * the raw query (appended to the path for /worker/), the remainder the body.
 * The text "TOKEN" anywhere becomes the real token of the worker of the type
 * the second byte picks, so the fuzzer reaches past the token check.
 * Checks: an answer is always produced (only out-of-memory may fail), with a
 * status among 200/400/403/404 (never a 500: no input may break the store),
 * a content type, and a body of the stated length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "crawlset/tracker.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c))                                                                         \
            __builtin_trap();                                                             \
    } while (0)

static cs_tracker *g_t;
static char g_tok[3][64];

static const char *const TYPES[3] = {"HYBRID", "CPU", "GPU"};
static const struct {
    const char *method, *path;
} ROUTES[] = {
    {"GET", "/api/new"},          {"POST", "/api/newJob"},
    {"POST", "/api/markAsDone"},  {"POST", "/api/gpuInvalidDownload"},
    {"POST", "/api/updateProgress"}, {"POST", "/api/validateWorker"},
    {"GET", "/api/jobCount"},     {"GET", "/api/getUploadAddress"},
    {"POST", "/api/bye"},         {"POST", "/api/flagInvalidData"},
    {"POST", "/api/admin/addJobs"}, {"GET", "/"},
    {"GET", "/data"},             {"GET", "/metrics"},
    {"GET", "/worker/"},          {"PUT", "/api/newJob"},
};

#ifdef CS_FUZZ_REPLAY
const char *cs_test_tmpdir(void); /* removed when the replaying test ends */
#endif

static void setup(void)
{
    static char db[600];
#ifdef CS_FUZZ_REPLAY
    snprintf(db, sizeof db, "%s/fuzz_tracker.db", cs_test_tmpdir());
#else
    char dir[] = "/tmp/cs_fuzz_tracker.XXXXXX";
    CHECK(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/t.db", dir);
#endif
    cs_tracker_options o = {0};
    o.db = db;
    o.admin_key = "k";
    o.invalid_threshold = 2;
    CHECK(cs_tracker_new(&o, &g_t, NULL, 0) == CS_OK);
    cs_tracker_response r;
    CHECK(cs_tracker_handle(g_t, "POST", "/api/admin/addJobs", NULL,
                            "{\"key\":\"k\",\"inputs\":[\"a\",\"b\",\"c\"]}", 36, &r) == CS_OK);
    cs_tracker_response_cleanup(&r);
    for (int i = 0; i < 3; i++) {
        char q[64];
        snprintf(q, sizeof q, "nickname=fuzz&type=%s", TYPES[i]);
        CHECK(cs_tracker_handle(g_t, "GET", "/api/new", q, "", 0, &r) == CS_OK);
        CHECK(r.status == 200);
        const char *p = strstr(r.body, "\"token\":\"");
        CHECK(p);
        memcpy(g_tok[i], p + 9, 32);
        g_tok[i][32] = 0;
        cs_tracker_response_cleanup(&r);
    }
    /* files under dir stay for the process's life: the store is in use */
}

/* Copies [p, p+n) into a NUL-terminated cs_malloc'd string with TOKEN replaced. */
static char *subst(const char *p, size_t n, const char *tok, size_t *out_len)
{
    size_t cap = n * 7 + 1;
    char *o = cs_malloc(cap), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        if (n - i >= 5 && !memcmp(p + i, "TOKEN", 5)) {
            memcpy(w, tok, 32);
            w += 32;
            i += 5;
        } else {
            *w++ = p[i++];
        }
    }
    *w = 0;
    *out_len = (size_t)(w - o);
    return o;
}

CS_FUZZ_TARGET(tracker)
{
    if (!g_t)
        setup();
    if (size < 2)
        return 0;
    unsigned route = data[0] % (sizeof ROUTES / sizeof *ROUTES);
    const char *tok = g_tok[data[1] % 3];
    const char *rest = (const char *)data + 2;
    size_t n = size - 2;
    const char *nl = memchr(rest, '\n', n);
    size_t qn = nl ? (size_t)(nl - rest) : n;
    size_t ql, bl = 0;
    char *q = subst(rest, qn, tok, &ql);
    char *body = nl ? subst(nl + 1, n - qn - 1, tok, &bl) : NULL;
    char *path = NULL;
    if (!q || (nl && !body))
        goto out;
    const char *p = ROUTES[route].path;
    if (!strcmp(p, "/worker/")) {
        path = cs_malloc(8 + ql + 1);
        if (!path)
            goto out;
        memcpy(path, p, 8);
        memcpy(path + 8, q, ql + 1);
        p = path;
    }
    cs_tracker_response r;
    cs_status st = cs_tracker_handle(g_t, ROUTES[route].method, p, q, body ? body : "", bl, &r);
    CHECK(st == CS_OK || st == CS_ENOMEM);
    if (st == CS_OK) {
        CHECK(r.status == 200 || r.status == 400 || r.status == 403 || r.status == 404);
        CHECK(r.content_type && r.body);
        CHECK(r.body[r.body_len] == 0);
        cs_tracker_response_cleanup(&r);
    }
out:
    cs_free(q);
    cs_free(body);
    cs_free(path);
    return 0;
}
