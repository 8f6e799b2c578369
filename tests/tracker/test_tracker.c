/* test_tracker.c - the tracker's semantics through its request handler (no
 * socket), each test against SQLite and against a real PostgreSQL. */
#include <unistd.h>

#include <sqlite3.h>
#include "tracker/store.h"
#include "tracker_test.h"

static void add(cs_tracker *t, const char *db, int n)
{
    (void)t;
    char err[256];
    cs_tracker_store *s;
    ASSERT_OK(cs_tracker_store_open(db, &s, err, sizeof err));
    const char **v = cs_test_keep(calloc((size_t)n, sizeof *v));
    for (int i = 0; i < n; i++) {
        char *b = cs_test_keep(malloc(64));
        snprintf(b, 64, "s3://cc/wat/%03d.warc.wat.gz", i);
        v[i] = b;
    }
    size_t added = 0;
    ASSERT_OK(cs_tracker_add_jobs(s, v, (size_t)n, 0, &added));
    ASSERT_EQ(added, 2 * n);
    cs_tracker_store_free(s);
}

static long long status_field(cs_tracker *t, int stage, const char *what)
{
    tt_resp r = tt_call(t, "GET", "/data", NULL, NULL);
    ASSERT_EQ(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    ASSERT(j);
    json_t *s = json_array_get(json_object_get(j, "jobs"), (size_t)stage - 1);
    long long v = (long long)json_integer_value(json_object_get(s, what));
    json_decref(j);
    return v;
}

TRACKER_TEST(tracker_cpu_gpu_cycle)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 2);
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/jobCount", "type=CPU", NULL).body, "4");
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/jobCount", "type=gpu", NULL).body, "0");
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/getUploadAddress", "type=CPU", NULL).body,
                  "rsync://up.example/");
    const char *cpu = tt_worker(t, "alice", "cpu");
    const char *gpu = tt_worker(t, "bob", "GPU");
    tt_resp r = tt_post(t, "newJob", gpu, "GPU", "");
    ASSERT_EQ(r.status, 403); /* nothing at the GPU stage yet */
    r = tt_post(t, "newJob", cpu, "CPU", "");
    ASSERT_EQ(r.status, 200);
    char url[256];
    snprintf(url, sizeof url, "%s", tt_json_str(r.body, "url"));
    ASSERT_CONTAINS(url, "s3://cc/wat/");
    long long start = tt_json_int(r.body, "start_id"), end = tt_json_int(r.body, "end_id");
    long long shard = tt_json_int(r.body, "shard"), number = tt_json_int(r.body, "number");
    ASSERT_EQ(end - start, 1000000);
    ASSERT(shard == 0 || shard == 1);
    ASSERT(number >= 1 && number <= 4);
    ASSERT_EQ(status_field(t, 1, "leased"), 1);
    /* a CPU completion needs a url; then the job becomes a GPU job */
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"count\":3").status, 400);
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://up/out-1.tar\"").status,
              200);
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://up/out-1.tar\"").status,
              200); /* twice: harmless */
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/jobCount", "type=GPU", NULL).body, "1");
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/jobCount", "type=HYBRID", NULL).body, "3");
    r = tt_post(t, "newJob", gpu, "GPU", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(tt_json_str(r.body, "url"), "http://up/out-1.tar");
    ASSERT_EQ(tt_json_int(r.body, "start_id"), start);
    ASSERT_EQ(tt_json_int(r.body, "end_id"), end);
    ASSERT_EQ(tt_json_int(r.body, "shard"), shard);
    ASSERT_EQ(tt_json_int(r.body, "number"), number);
    ASSERT_EQ(tt_post(t, "markAsDone", gpu, "GPU", ",\"url\":\"x\"").status, 400);
    ASSERT_EQ(tt_post(t, "markAsDone", gpu, "GPU", ",\"count\":-1").status, 400);
    ASSERT_EQ(tt_post(t, "markAsDone", gpu, "GPU", ",\"count\":7").status, 200);
    ASSERT_EQ(tt_post(t, "markAsDone", gpu, "GPU", ",\"count\":7").status, 200);
    ASSERT_EQ(status_field(t, 2, "done"), 1);
    ASSERT_EQ(status_field(t, 1, "open"), 3);
    /* leaderboard: GPU by pairs, CPU by jobs; repeats not counted */
    r = tt_call(t, "GET", "/data", NULL, NULL);
    ASSERT_CONTAINS(r.body, "{\"nickname\":\"bob\",\"jobs\":1,\"pairs\":7}");
    ASSERT_CONTAINS(r.body, "{\"nickname\":\"alice\",\"jobs\":1,\"pairs\":0}");
    /* a HYBRID worker takes CPU-stage inputs and finishes them */
    const char *hyb = tt_worker(t, "carol", "Hybrid");
    r = tt_post(t, "newJob", hyb, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "s3://cc/wat/");
    ASSERT_EQ(tt_post(t, "markAsDone", hyb, "HYBRID", ",\"count\":100").status, 200);
    ASSERT_EQ(status_field(t, 1, "done"), 1);
    r = tt_call(t, "GET", "/data", NULL, NULL);
    ASSERT_CONTAINS(r.body, "\"leaderboard\":[{\"nickname\":\"carol\",\"jobs\":1,\"pairs\":100}");
    cs_tracker_free(t);
}

TRACKER_TEST(tracker_errors)
{
    cs_tracker *t = tt_open(db, 60, 2);
    const char *w = tt_worker(t, "dave", "HYBRID");
    /* 403: no job open */
    tt_resp r = tt_post(t, "newJob", w, "HYBRID", "");
    ASSERT_EQ(r.status, 403);
    ASSERT_STR_EQ(r.body, "no job available");
    add(t, db, 1);
    /* 404: unknown token, for every call taking one */
    const char *bad = "0123456789abcdef0123456789abcdef";
    static const char *const calls[] = {"newJob", "markAsDone", "gpuInvalidDownload",
                                        "flagInvalidData", "updateProgress", "bye"};
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        r = tt_post(t, calls[i], bad, "GPU", ",\"count\":1,\"progress\":\"x\"");
        if (r.status != 404)
            FAIL("%s with an unknown token: %d %s", calls[i], r.status, r.body);
        ASSERT(!strchr(r.body, '\n') && r.body[0]);
    }
    ASSERT_STR_EQ(tt_post(t, "validateWorker", bad, "GPU", "").body, "False");
    ASSERT_STR_EQ(tt_post(t, "validateWorker", w, "HYBRID", "").body, "True");
    /* 400: malformed requests */
    static const char *const bodies[] = {
        "{", "[]", "\"x\"", "{\"token\":5,\"type\":\"CPU\"}", "{\"type\":\"CPU\"}",
        "{\"token\":\"a\"}", "{\"token\":\"a\",\"type\":\"TPU\"}",
        "{\"token\":\"a\",\"token\":\"b\",\"type\":\"CPU\"}", "{\"token\":\"a\\u0000b\",\"type\":\"CPU\"}",
        "\xff\xfe"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        r = tt_call(t, "POST", "/api/newJob", NULL, bodies[i]);
        if (r.status != 400)
            FAIL("body %s: %d %s", bodies[i], r.status, r.body);
    }
    ASSERT_EQ(tt_call(t, "GET", "/api/new", "nickname=&type=CPU", NULL).status, 400);
    ASSERT_EQ(tt_call(t, "GET", "/api/new", "nickname=a%0Ab&type=CPU", NULL).status, 400);
    ASSERT_EQ(tt_call(t, "GET", "/api/new", "nickname=a%zz&type=CPU", NULL).status, 400);
    ASSERT_EQ(tt_call(t, "GET", "/api/new", "nickname=eve", NULL).status, 400);
    ASSERT_EQ(tt_call(t, "GET", "/api/jobCount", "type=x", NULL).status, 400);
    ASSERT_EQ(tt_call(t, "DELETE", "/api/bye", NULL, NULL).status, 400);
    ASSERT_EQ(tt_call(t, "GET", "/api/nope", NULL, NULL).status, 404);
    /* a type that is not the worker's */
    ASSERT_EQ(tt_post(t, "newJob", w, "GPU", "").status, 400);
    /* progress text: bounded, one line */
    ASSERT_EQ(tt_post(t, "updateProgress", w, "HYBRID", ",\"progress\":\"a\\nb\"").status, 400);
    ASSERT_EQ(tt_post(t, "updateProgress", w, "HYBRID", ",\"progress\":\"50%% done\"").status,
              200);
    /* oversized body */
    size_t big = 64 * 1024 + 1;
    char *b = cs_test_keep(malloc(big + 1));
    memset(b, ' ', big);
    b[big] = 0;
    b[0] = '{';
    b[big - 1] = '}';
    r = tt_call(t, "POST", "/api/newJob", NULL, b);
    ASSERT_EQ(r.status, 400);
    ASSERT_CONTAINS(r.body, "larger than");
    /* a job not held cannot be completed or given back */
    ASSERT_EQ(tt_post(t, "markAsDone", w, "HYBRID", ",\"count\":1").status, 400);
    ASSERT_EQ(tt_post(t, "flagInvalidData", w, "HYBRID", "").status, 400);
    /* admin: key required */
    ASSERT_EQ(tt_call(t, "POST", "/api/admin/addJobs", NULL, "{\"key\":\"no\",\"inputs\":[\"a\"]}")
                  .status,
              403);
    r = tt_call(t, "POST", "/api/admin/addJobs", NULL, "{\"key\":\"sekrit\",\"inputs\":[\"a\",\"b\"]}");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "{\"added\":4}");
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/jobCount", "type=CPU", NULL).body, "6");
    cs_tracker_free(t);
}

TRACKER_TEST(tracker_tokens_are_per_worker)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 2);
    char a[64], b[64];
    snprintf(a, sizeof a, "%s", tt_worker(t, "mallory", "HYBRID"));
    snprintf(b, sizeof b, "%s", tt_worker(t, "mallory", "HYBRID"));
    ASSERT(strcmp(a, b) != 0);
    tt_resp r = tt_post(t, "newJob", a, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    long long job = tt_json_int(r.body, "number");
    /* b holds nothing: it can neither complete, flag nor free a's job */
    ASSERT_EQ(tt_post(t, "markAsDone", b, "HYBRID", ",\"count\":5").status, 400);
    ASSERT_EQ(tt_post(t, "flagInvalidData", b, "HYBRID", "").status, 400);
    ASSERT_EQ(tt_post(t, "bye", b, "HYBRID", "").status, 200);
    ASSERT_EQ(tt_post(t, "bye", b, "HYBRID", "").status, 404);
    ASSERT_EQ(tt_post(t, "updateProgress", b, "HYBRID", ",\"progress\":\"x\"").status, 404);
    ASSERT_EQ(status_field(t, 1, "leased"), 1);
    ASSERT_EQ(status_field(t, 1, "done"), 0);
    ASSERT_EQ(tt_post(t, "markAsDone", a, "HYBRID", ",\"count\":5").status, 200);
    ASSERT_EQ(status_field(t, 1, "done"), 1);
    /* bye gives the held job back */
    r = tt_post(t, "newJob", a, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_NE(tt_json_int(r.body, "number"), job);
    ASSERT_EQ(status_field(t, 1, "leased"), 1);
    ASSERT_EQ(tt_post(t, "bye", a, "HYBRID", "").status, 200);
    ASSERT_EQ(status_field(t, 1, "leased"), 0);
    ASSERT_EQ(status_field(t, 1, "open"), 3);
    ASSERT_EQ(tt_post(t, "newJob", a, "HYBRID", "").status, 404);
    cs_tracker_free(t);
}

TRACKER_TEST(tracker_random_order_each_job_once)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 40);
    const char *w = tt_worker(t, "zed", "HYBRID");
    bool seen[81] = {false};
    long long order[80];
    int n = 0, inversions = 0;
    for (;;) {
        tt_resp r = tt_post(t, "newJob", w, "HYBRID", "");
        if (r.status == 403)
            break;
        ASSERT_EQ(r.status, 200);
        long long id = tt_json_int(r.body, "number");
        ASSERT(id >= 1 && id <= 80);
        ASSERT(!seen[id]);
        seen[id] = true;
        order[n++] = tt_json_int(r.body, "start_id");
        ASSERT_EQ(tt_post(t, "markAsDone", w, "HYBRID", ",\"count\":1").status, 200);
    }
    ASSERT_EQ(n, 80);
    for (int i = 1; i < n; i++)
        inversions += order[i] < order[i - 1];
    ASSERT(inversions > 10); /* input order would have none */
    ASSERT_EQ(status_field(t, 1, "done"), 80);
    cs_tracker_free(t);
}

TRACKER_TEST_T(tracker_idle_worker_loses_job, 30)
{
    cs_tracker *t = tt_open(db, 1, 2);
    add(t, db, 1);
    const char *cpu = tt_worker(t, "c", "CPU");
    char gpu[64], keep[64];
    snprintf(gpu, sizeof gpu, "%s", tt_worker(t, "g", "GPU"));
    snprintf(keep, sizeof keep, "%s", tt_worker(t, "k", "HYBRID"));
    ASSERT_EQ(tt_post(t, "newJob", cpu, "CPU", "").status, 200);
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://o/1\"").status, 200);
    ASSERT_EQ(tt_post(t, "newJob", gpu, "GPU", "").status, 200);
    ASSERT_EQ(tt_post(t, "newJob", keep, "HYBRID", "").status, 200);
    ASSERT_EQ(status_field(t, 2, "leased"), 1);
    /* keep reports progress, gpu goes silent */
    for (int i = 0; i < 6; i++) {
        usleep(250 * 1000);
        ASSERT_EQ(tt_post(t, "updateProgress", keep, "HYBRID", ",\"progress\":\"working\"").status,
                  200);
    }
    ASSERT_EQ(cs_tracker_sweep(t), 2); /* gpu and the CPU worker */
    ASSERT_EQ(status_field(t, 2, "leased"), 0);
    ASSERT_EQ(status_field(t, 2, "open"), 1); /* a GPU job re-opened stays a GPU job */
    ASSERT_EQ(status_field(t, 1, "leased"), 1);
    ASSERT_EQ(tt_post(t, "newJob", gpu, "GPU", "").status, 404);
    ASSERT_STR_EQ(tt_post(t, "validateWorker", gpu, "GPU", "").body, "False");
    ASSERT_EQ(tt_post(t, "markAsDone", keep, "HYBRID", ",\"count\":2").status, 200);
    const char *g2 = tt_worker(t, "g2", "GPU");
    tt_resp r = tt_post(t, "newJob", g2, "GPU", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(tt_json_str(r.body, "url"), "http://o/1");
    cs_tracker_free(t);
}

TRACKER_TEST(tracker_invalid_data_rolls_back)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 1);
    const char *cpu = tt_worker(t, "c", "CPU");
    char g1[64], g2[64];
    snprintf(g1, sizeof g1, "%s", tt_worker(t, "g1", "GPU"));
    snprintf(g2, sizeof g2, "%s", tt_worker(t, "g2", "GPU"));
    tt_resp r = tt_post(t, "newJob", cpu, "CPU", "");
    long long num = tt_json_int(r.body, "number");
    char input[256];
    snprintf(input, sizeof input, "%s", tt_json_str(r.body, "url"));
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://o/bad\"").status, 200);
    /* gpuInvalidDownload: straight back to the CPU pool, with its first input */
    ASSERT_EQ(tt_post(t, "newJob", g1, "GPU", "").status, 200);
    ASSERT_EQ(tt_post(t, "gpuInvalidDownload", g1, "GPU", "").status, 200);
    ASSERT_STR_EQ(tt_call(t, "GET", "/api/jobCount", "type=GPU", NULL).body, "0");
    for (;;) {
        r = tt_post(t, "newJob", cpu, "CPU", "");
        ASSERT_EQ(r.status, 200);
        if (tt_json_int(r.body, "number") == num)
            break;
        ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://o/other\"").status, 200);
    }
    ASSERT_STR_EQ(tt_json_str(r.body, "url"), input);
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://o/bad2\"").status, 200);
    /* flagInvalidData: one flag re-opens at the same stage, the second
     * distinct worker's flag (threshold 2) rolls it back */
    for (;;) {
        r = tt_post(t, "newJob", g1, "GPU", "");
        ASSERT_EQ(r.status, 200);
        if (tt_json_int(r.body, "number") == num)
            break;
        ASSERT_EQ(tt_post(t, "markAsDone", g1, "GPU", ",\"count\":1").status, 200);
    }
    long long gpu_open = atoll(tt_call(t, "GET", "/api/jobCount", "type=GPU", NULL).body);
    ASSERT_EQ(tt_post(t, "flagInvalidData", g1, "GPU", "").status, 200);
    ASSERT_EQ(atoll(tt_call(t, "GET", "/api/jobCount", "type=GPU", NULL).body), gpu_open + 1);
    for (;;) {
        r = tt_post(t, "newJob", g1, "GPU", "");
        ASSERT_EQ(r.status, 200);
        if (tt_json_int(r.body, "number") == num)
            break;
    }
    ASSERT_EQ(tt_post(t, "flagInvalidData", g1, "GPU", "").status, 200); /* same worker again */
    ASSERT_EQ(atoll(tt_call(t, "GET", "/api/jobCount", "type=GPU", NULL).body), gpu_open + 1);
    for (;;) {
        r = tt_post(t, "newJob", g2, "GPU", "");
        ASSERT_EQ(r.status, 200);
        if (tt_json_int(r.body, "number") == num)
            break;
    }
    long long cpu_open = atoll(tt_call(t, "GET", "/api/jobCount", "type=CPU", NULL).body);
    ASSERT_EQ(tt_post(t, "flagInvalidData", g2, "GPU", "").status, 200);
    ASSERT_EQ(atoll(tt_call(t, "GET", "/api/jobCount", "type=GPU", NULL).body), gpu_open);
    ASSERT_EQ(atoll(tt_call(t, "GET", "/api/jobCount", "type=CPU", NULL).body), cpu_open + 1);
    for (;;) {
        r = tt_post(t, "newJob", cpu, "CPU", "");
        ASSERT_EQ(r.status, 200);
        if (tt_json_int(r.body, "number") == num)
            break;
    }
    ASSERT_STR_EQ(tt_json_str(r.body, "url"), input);
    /* and it can be completed again through both stages */
    ASSERT_EQ(tt_post(t, "markAsDone", cpu, "CPU", ",\"url\":\"http://o/good\"").status, 200);
    for (;;) {
        r = tt_post(t, "newJob", g2, "GPU", "");
        ASSERT_EQ(r.status, 200);
        if (tt_json_int(r.body, "number") == num)
            break;
    }
    ASSERT_STR_EQ(tt_json_str(r.body, "url"), "http://o/good");
    ASSERT_EQ(tt_post(t, "markAsDone", g2, "GPU", ",\"count\":9").status, 200);
    cs_tracker_free(t);
}

TRACKER_TEST(tracker_state_survives_restart)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 2);
    char w[64];
    snprintf(w, sizeof w, "%s", tt_worker(t, "r", "HYBRID"));
    tt_resp r = tt_post(t, "newJob", w, "HYBRID", "");
    long long num = tt_json_int(r.body, "number");
    cs_tracker_free(t);
    t = tt_open(db, 60, 2);
    ASSERT_STR_EQ(tt_post(t, "validateWorker", w, "HYBRID", "").body, "True");
    ASSERT_EQ(status_field(t, 1, "leased"), 1);
    ASSERT_EQ(tt_post(t, "markAsDone", w, "HYBRID", ",\"count\":4").status, 200);
    r = tt_post(t, "newJob", w, "HYBRID", "");
    ASSERT_NE(tt_json_int(r.body, "number"), num);
    cs_tracker_free(t);
}

TRACKER_TEST(tracker_add_jobs_ids_continue)
{
    char list[600];
    snprintf(list, sizeof list, "%s/paths", cs_test_tmpdir());
    const char *text = "crawl-data/a.warc.wat.gz\r\n\n# comment\n  crawl-data/b.warc.wat.gz  \n";
    cs_test_write_file(list, text, strlen(text));
    char err[256];
    cs_tracker_store *s;
    ASSERT_OK(cs_tracker_store_open(db, &s, err, sizeof err));
    size_t added;
    ASSERT_OK(cs_tracker_add_jobs_file(s, list, 0, &added));
    ASSERT_EQ(added, 4);
    /* gzip list (as Common Crawl's wat.paths.gz) */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s.gz'", list, list);
    ASSERT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.gz", list);
    ASSERT_OK(cs_tracker_add_jobs_file(s, cmd, 500, &added));
    ASSERT_EQ(added, 4);
    ASSERT_ST(cs_tracker_add_jobs_file(s, "/nonexistent/list", 0, &added), CS_EIO);
    ASSERT_CONTAINS(cs_tracker_store_errmsg(), "/nonexistent/list");
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_tracker_store_status_json(s, &b));
    ASSERT_CONTAINS(b.data, "\"open\":8");
    cs_buf_cleanup(&b);
    cs_tracker_store_free(s);
    cs_tracker *t = tt_open(db, 60, 2);
    const char *w = tt_worker(t, "ids", "HYBRID");
    /* by start_id (numbers are the shuffled hand-out order) */
    long long lo[8] = {0}, hi[8] = {0}, piece[8] = {0};
    char in[8][128];
    for (int i = 0; i < 8; i++) {
        tt_resp r = tt_post(t, "newJob", w, "HYBRID", "");
        ASSERT_EQ(r.status, 200);
        long long st = tt_json_int(r.body, "start_id");
        int k = st < 4000000 ? (int)(st / 1000000) : 4 + (int)((st - 4000000) / 500);
        ASSERT(k >= 0 && k < 8 && lo[k] == 0 && hi[k] == 0);
        lo[k] = st;
        hi[k] = tt_json_int(r.body, "end_id");
        piece[k] = tt_json_int(r.body, "shard");
        snprintf(in[k], sizeof in[k], "%s", tt_json_str(r.body, "url"));
        ASSERT_EQ(tt_post(t, "markAsDone", w, "HYBRID", ",\"count\":0").status, 200);
    }
    ASSERT_EQ(lo[0], 0);
    ASSERT_EQ(hi[0], 1000000);
    ASSERT_EQ(lo[3], 3000000);
    ASSERT_EQ(lo[4], 4000000); /* the second list continues after the first */
    ASSERT_EQ(hi[4], 4000500);
    ASSERT_EQ(lo[7], 4001500);
    ASSERT_EQ(piece[0], 0);
    ASSERT_EQ(piece[1], 1);
    ASSERT_EQ(piece[7], 1);
    ASSERT_STR_EQ(in[0], "crawl-data/a.warc.wat.gz");
    ASSERT_STR_EQ(in[1], "crawl-data/a.warc.wat.gz");
    ASSERT_STR_EQ(in[3], "crawl-data/b.warc.wat.gz");
    ASSERT_STR_EQ(in[6], "crawl-data/b.warc.wat.gz");
    cs_tracker_free(t);
}

TEST(tracker_store_open_errors)
{
    char err[256] = "";
    cs_tracker_store *s = NULL;
    ASSERT_ST(cs_tracker_store_open("/nonexistent/dir/x.db", &s, err, sizeof err), CS_EIO);
    ASSERT(s == NULL);
    ASSERT_CONTAINS(err, "/nonexistent/dir/x.db");
    ASSERT_ST(cs_tracker_store_open("postgresql://nobody@127.0.0.1:1/none", &s, err, sizeof err),
              CS_EIO);
    ASSERT_CONTAINS(err, "postgresql");
    ASSERT_ST(cs_tracker_store_open("", &s, err, sizeof err), CS_EINVAL);
}

/* ---- out of memory --------------------------------------------------------------------- */

static long g_allocs_left = -1; /* -1: never fail */

static void *oom_malloc(size_t n, void *ud)
{
    (void)ud;
    if (g_allocs_left == 0)
        return NULL;
    if (g_allocs_left > 0)
        g_allocs_left--;
    return malloc(n);
}

static void *oom_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    if (g_allocs_left == 0)
        return NULL;
    if (g_allocs_left > 0)
        g_allocs_left--;
    return realloc(p, n);
}

/* Every call of the handler fails cleanly (CS_ENOMEM, nothing leaked) or
 * answers properly, whichever allocation fails. */
TRACKER_TEST_T(tracker_handler_out_of_memory, 120)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 30);
    char tok[64];
    snprintf(tok, sizeof tok, "%s", tt_worker(t, "oom", "HYBRID"));
    char body[256], prog[256];
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"type\":\"HYBRID\",\"count\":3}", tok);
    snprintf(prog, sizeof prog, "{\"token\":\"%s\",\"type\":\"HYBRID\",\"progress\":\"p\"}", tok);
    static const struct {
        const char *method, *path, *query;
        int body; /* 0 none, 1 body, 2 prog */
    } calls[] = {
        {"GET", "/api/new", "nickname=x&type=CPU", 0}, {"POST", "/api/newJob", NULL, 1},
        {"POST", "/api/updateProgress", NULL, 2},      {"POST", "/api/markAsDone", NULL, 1},
        {"GET", "/api/jobCount", "type=CPU", 0},       {"GET", "/data", NULL, 0},
        {"GET", "/", NULL, 0},                         {"GET", "/metrics", NULL, 0},
        {"POST", "/api/newJob", NULL, 1},              {"POST", "/api/bye", NULL, 1},
    };
    cs_allocator a = {oom_malloc, oom_realloc, NULL, NULL};
    int failures = 0;
    for (long n = 0; n < 60; n++) {
        for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
            const char *b = calls[i].body == 1 ? body : calls[i].body == 2 ? prog : "";
            cs_tracker_response r;
            cs_set_allocator(&a);
            g_allocs_left = n;
            cs_status st =
                cs_tracker_handle(t, calls[i].method, calls[i].path, calls[i].query, b, strlen(b), &r);
            g_allocs_left = -1;
            cs_set_allocator(NULL);
            if (st == CS_ENOMEM) {
                failures++;
                continue;
            }
            ASSERT_OK(st);
            ASSERT(r.body && r.content_type);
            ASSERT(r.status == 200 || r.status == 400 || r.status == 403 || r.status == 404 ||
                   r.status == 500);
            cs_tracker_response_cleanup(&r);
        }
        /* bye removed the worker: a fresh one for the next round */
        snprintf(tok, sizeof tok, "%s", tt_worker(t, "oom", "HYBRID"));
        snprintf(body, sizeof body, "{\"token\":\"%s\",\"type\":\"HYBRID\",\"count\":3}", tok);
        snprintf(prog, sizeof prog, "{\"token\":\"%s\",\"type\":\"HYBRID\",\"progress\":\"p\"}",
                 tok);
    }
    ASSERT(failures > 50);
    /* and the store is still consistent */
    tt_resp r = tt_call(t, "GET", "/data", NULL, NULL);
    ASSERT_EQ(r.status, 200);
    cs_tracker_free(t);
}

/* Two trackers on one store: what one writes, the other sees at once (the
 * SQLite writer's worker cache is emptied by another connection's commit;
 * a stale cache would answer from the worker's old job). */
TRACKER_TEST(tracker_two_trackers_see_each_others_writes)
{
    cs_tracker *a = tt_open(db, 60, 2);
    add(a, db, 2);
    cs_tracker *b = tt_open(db, 60, 2);
    const char *w = tt_worker(a, "carol", "HYBRID");
    tt_resp r = tt_post(a, "newJob", w, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    long long j1 = tt_json_int(r.body, "number");
    /* b completes that job and leases the next one for the same worker */
    ASSERT_EQ(tt_post(b, "markAsDone", w, "HYBRID", ",\"count\":3").status, 200);
    r = tt_post(b, "newJob", w, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    long long j2 = tt_json_int(r.body, "number");
    ASSERT(j2 != j1);
    /* a completes the job the worker holds now */
    r = tt_post(a, "markAsDone", w, "HYBRID", ",\"count\":4");
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(status_field(a, 1, "done"), 2);
    /* b says bye: a no longer knows the worker */
    ASSERT_EQ(tt_post(a, "newJob", w, "HYBRID", "").status, 200);
    ASSERT_EQ(tt_post(b, "bye", w, "HYBRID", "").status, 200);
    ASSERT_EQ(tt_post(a, "markAsDone", w, "HYBRID", ",\"count\":1").status, 404);
    ASSERT_EQ(tt_post(a, "newJob", w, "HYBRID", "").status, 404);
    ASSERT_EQ(status_field(a, 1, "open"), 2);
    cs_tracker_free(b);
    cs_tracker_free(a);
}

/* Jobs given back (bye, gpuInvalidDownload) are handed out again before the
 * stage runs dry, whatever order the store searches in (PostgreSQL searches
 * on from its last lease and wraps around). */
TRACKER_TEST(tracker_returned_jobs_are_handed_out_again)
{
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 4); /* 8 jobs */
    bool seen[9] = {0};
    /* two workers take a job each and leave: their jobs go back */
    for (int i = 0; i < 2; i++) {
        const char *w = tt_worker(t, i ? "erin" : "dave", "HYBRID");
        ASSERT_EQ(tt_post(t, "newJob", w, "HYBRID", "").status, 200);
        ASSERT_EQ(tt_post(t, "bye", w, "HYBRID", "").status, 200);
    }
    /* one worker then finishes all 8 */
    const char *w = tt_worker(t, "frank", "HYBRID");
    for (int i = 0; i < 8; i++) {
        tt_resp r = tt_post(t, "newJob", w, "HYBRID", "");
        ASSERT_EQ(r.status, 200);
        long long n = tt_json_int(r.body, "number");
        ASSERT(n >= 1 && n <= 8 && !seen[n]);
        seen[n] = true;
        ASSERT_EQ(tt_post(t, "markAsDone", w, "HYBRID", ",\"count\":1").status, 200);
    }
    ASSERT_EQ(tt_post(t, "newJob", w, "HYBRID", "").status, 403);
    ASSERT_EQ(status_field(t, 1, "done"), 8);
    cs_tracker_free(t);
}

/* The sqlite3 answer to one query as text ("" when no row). */
static void sq_one(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = 0;
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) /* every row, every column, joined by | */
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *v = sqlite3_column_text(st, i);
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s|", v ? (const char *)v : "");
        }
    sqlite3_finalize(st);
}

/* A file made by an older crawlset (open jobs found through an index on
 * (stage, state, id), completions a rowid table) is brought up to date
 * when opened: the old index goes, the partial index on open jobs comes,
 * the lease searches it, and the jobs go through as before. */
TEST(tracker_sqlite_old_index_replaced)
{
    char db[600], got[1024];
    snprintf(db, sizeof db, "%s/old.db", cs_test_tmpdir());
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 3);
    cs_tracker_free(t);
    sqlite3 *q;
    ASSERT_EQ(sqlite3_open(db, &q), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(q,
                           "DROP INDEX jobs_open; CREATE INDEX jobs_pick ON jobs(stage, state, id);"
                           "DROP TABLE completions; CREATE TABLE completions (job INTEGER NOT NULL,"
                           " stage INTEGER NOT NULL, worker TEXT NOT NULL, nickname TEXT NOT NULL,"
                           " at INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (job, stage))",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(q);

    t = tt_open(db, 60, 2);
    ASSERT_EQ(sqlite3_open(db, &q), SQLITE_OK);
    sq_one(q, "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs'", got,
           sizeof got);
    ASSERT_STR_EQ(got, "jobs_open|");
    sq_one(q,
           "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE stage = 1 AND state = 0"
           " ORDER BY id LIMIT 1",
           got, sizeof got);
    ASSERT(strstr(got, "USING INDEX jobs_open") || strstr(got, "USING COVERING INDEX jobs_open"));
    char w[64];
    snprintf(w, sizeof w, "%s", tt_worker(t, "o", "HYBRID"));
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(tt_post(t, "newJob", w, "HYBRID", "").status, 200);
        ASSERT_EQ(tt_post(t, "markAsDone", w, "HYBRID", ",\"count\":2").status, 200);
    }
    ASSERT_EQ(tt_post(t, "newJob", w, "HYBRID", "").status, 403);
    ASSERT_EQ(status_field(t, 1, "done"), 6);
    sq_one(q, "SELECT count(*), sum(count) FROM completions", got, sizeof got);
    ASSERT_STR_EQ(got, "6|12|");
    sqlite3_close(q);
    cs_tracker_free(t);
}

/* ---- batches (cs__tstore_calls: what the event loop's committer runs) ---- */

typedef struct bcall {
    const char *token, *type, *output;
    bool complete;
    int stage;
    int64_t count;
} bcall;

/* Runs v[0..n) as one batch; st[i] gets each call's status and, for a
 * lease that got one, ids[i] its job number (else 0). */
static void run_calls(cs_tracker_store *s, const bcall *v, size_t n, cs_status *st,
                      int64_t *ids, char inputs[][64])
{
    cs__tcall *c = cs_test_keep(calloc(n, sizeof *c));
    cs__tcall **p = cs_test_keep(calloc(n, sizeof *p));
    int64_t now = cs__tnow_ms();
    for (size_t i = 0; i < n; i++) {
        c[i] = (cs__tcall){.complete = v[i].complete, .token = v[i].token, .type = v[i].type,
                           .output = v[i].output, .stage = v[i].stage, .count = v[i].count,
                           .now = now};
        p[i] = &c[i];
    }
    cs__tstore_calls(s, p, n);
    for (size_t i = 0; i < n; i++) {
        st[i] = c[i].st;
        if (st[i] && !c[i].err[0])
            FAIL("call %zu: status %s without a message", i, cs_status_name(st[i]));
        ids[i] = c[i].job.input ? c[i].job.id : 0;
        if (inputs)
            snprintf(inputs[i], 64, "%s", c[i].job.input ? c[i].job.input : "");
        free(c[i].job.input);
    }
}

static size_t count_st(const cs_status *st, size_t n, cs_status want)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += st[i] == want;
    return k;
}

/* Every call in a batch answers as it would alone: leases beyond the open
 * jobs get CS_DONE, unknown tokens CS_ENOTFOUND, a wrong type or a
 * completion without a job CS_EINVAL, repeated completions CS_OK; a
 * worker leasing again gives its job back; a CPU output becomes the GPU
 * stage's input; leases wrap around to open jobs numbered before the last
 * one handed out. On PostgreSQL every batch of different workers runs as
 * set statements (cs_lease_many, cs_complete_many) and none fails as a
 * whole; a token with quotes, backslashes and braces stays one array
 * element; one worker's two calls in a batch run one after the other. */
TRACKER_TEST(tracker_store_batches)
{
    char err[256];
    cs_tracker_store *s;
    ASSERT_OK(cs_tracker_store_open(db, &s, err, sizeof err));
    const char *in[3] = {"w/0.wat.gz", "w/1.wat.gz", "w/2.wat.gz"};
    size_t added = 0;
    ASSERT_OK(cs_tracker_add_jobs(s, in, 3, 0, &added));
    ASSERT_EQ(added, 6);
    char h[8][33], cpu[33], gpu[33];
    int64_t now = cs__tnow_ms();
    for (int i = 0; i < 8; i++) {
        char *dn = NULL;
        ASSERT_OK(cs__tstore_worker_new(s, "hy", "HYBRID", now, h[i], &dn));
        cs_free(dn);
    }
    char *dn = NULL;
    ASSERT_OK(cs__tstore_worker_new(s, "cp", "CPU", now, cpu, &dn));
    cs_free(dn);
    ASSERT_OK(cs__tstore_worker_new(s, "gp", "GPU", now, gpu, &dn));
    cs_free(dn);
    cs_status st[16];
    int64_t ids[16];
    char inputs[16][64];

    /* A: eight leases for six jobs, an unknown token, a wrong type */
    bcall a[10];
    for (int i = 0; i < 8; i++)
        a[i] = (bcall){h[i], "HYBRID", NULL, false, 1, 0};
    a[8] = (bcall){"a\"b\\c{},NULL", "HYBRID", NULL, false, 1, 0};
    a[9] = (bcall){cpu, "GPU", NULL, false, 2, 0};
    run_calls(s, a, 10, st, ids, inputs);
    ASSERT_EQ(count_st(st, 8, CS_OK), 6);
    ASSERT_EQ(count_st(st, 8, CS_DONE), 2);
    ASSERT_EQ(st[8], CS_ENOTFOUND);
    ASSERT_EQ(st[9], CS_EINVAL);
    bool seen[7] = {0};
    bool had[8];
    for (int i = 0; i < 8; i++) {
        had[i] = st[i] == CS_OK;
        if (had[i]) {
            ASSERT(ids[i] >= 1 && ids[i] <= 6 && !seen[ids[i]]);
            seen[ids[i]] = true;
            ASSERT_CONTAINS(inputs[i], "w/");
        }
    }

    /* B: every HYBRID worker completes (two hold nothing); the CPU worker
     * finds nothing open */
    bcall b[9];
    for (int i = 0; i < 8; i++)
        b[i] = (bcall){h[i], "HYBRID", NULL, true, 0, i + 1};
    b[8] = (bcall){cpu, "CPU", NULL, false, 1, 0};
    run_calls(s, b, 9, st, ids, NULL);
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(st[i], had[i] ? CS_OK : CS_EINVAL);
    ASSERT_EQ(st[8], CS_DONE);
    /* C: the same completions again: harmless for those that completed */
    run_calls(s, b, 8, st, ids, NULL);
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(st[i], had[i] ? CS_OK : CS_EINVAL);

    /* D: four more jobs; three taken, the GPU stage is empty */
    const char *in2[2] = {"w/3.wat.gz", "w/4.wat.gz"};
    ASSERT_OK(cs_tracker_add_jobs(s, in2, 2, 0, &added));
    ASSERT_EQ(added, 4);
    bcall d[4] = {{cpu, "CPU", NULL, false, 1, 0},
                  {h[0], "HYBRID", NULL, false, 1, 0},
                  {h[1], "HYBRID", NULL, false, 1, 0},
                  {gpu, "GPU", NULL, false, 2, 0}};
    run_calls(s, d, 4, st, ids, NULL);
    ASSERT_EQ(st[0], CS_OK);
    ASSERT_EQ(st[1], CS_OK);
    ASSERT_EQ(st[2], CS_OK);
    ASSERT_EQ(st[3], CS_DONE);
    ASSERT(ids[0] > 6 && ids[1] > 6 && ids[2] > 6);
    int64_t taken[2] = {ids[0], ids[2]}, h0_old = ids[1];

    /* E: the CPU worker hands its output on; h0 leases again: its job goes
     * back to open, and it takes an open one (PostgreSQL: the last new one,
     * its old one not yet open to the statement; SQLite: the lowest) */
    bcall e[2] = {{cpu, "CPU", "http://up/x.tar", true, 0, 0},
                  {h[0], "HYBRID", NULL, false, 1, 0}};
    run_calls(s, e, 2, st, ids, NULL);
    ASSERT_EQ(st[0], CS_OK);
    ASSERT_EQ(st[1], CS_OK);
    ASSERT(ids[1] > 6 && ids[1] != taken[0] && ids[1] != taken[1]);
    if (cs__tstore_is_pg(s))
        ASSERT(ids[1] != h0_old);
    int64_t e_id = ids[1];

    /* F: the GPU worker gets the CPU output; h1 completes */
    bcall f[2] = {{gpu, "GPU", NULL, false, 2, 0}, {h[1], "HYBRID", NULL, true, 0, 5}};
    run_calls(s, f, 2, st, ids, inputs);
    ASSERT_EQ(st[0], CS_OK);
    ASSERT_STR_EQ(inputs[0], "http://up/x.tar");
    ASSERT_EQ(st[1], CS_OK);

    /* G: one job is open (on PostgreSQL h0's old one, numbered before the
     * last one handed out: the lease wraps around): one of two leases
     * gets it */
    bcall g[2] = {{h[3], "HYBRID", NULL, false, 1, 0}, {h[4], "HYBRID", NULL, false, 1, 0}};
    run_calls(s, g, 2, st, ids, NULL);
    ASSERT_EQ(count_st(st, 2, CS_OK), 1);
    ASSERT_EQ(count_st(st, 2, CS_DONE), 1);
    int64_t g_id = st[0] == CS_OK ? ids[0] : ids[1];
    ASSERT(g_id > 6 && g_id != taken[0] && g_id != taken[1] && g_id != e_id);
    if (cs__tstore_is_pg(s))
        ASSERT_EQ(g_id, h0_old);

    uint64_t set_batches, split;
    cs__tstore_batch_counts(s, &set_batches, &split);
    ASSERT_EQ(split, 0);
    ASSERT_EQ(set_batches, cs__tstore_is_pg(s) ? 7 : 0);

    /* H: one worker twice in a batch (a retry beside its call): the second
     * lease gives back the first one's job and takes one (run one call
     * after the other, not as a set): of two new jobs, one stays open */
    const char *in3[1] = {"w/5.wat.gz"};
    ASSERT_OK(cs_tracker_add_jobs(s, in3, 1, 0, &added));
    bcall hh[2] = {{h[5], "HYBRID", NULL, false, 1, 0}, {h[5], "HYBRID", NULL, false, 1, 0}};
    run_calls(s, hh, 2, st, ids, NULL);
    ASSERT_EQ(st[0], CS_OK);
    ASSERT_EQ(st[1], CS_OK);
    bcall last[2] = {{h[6], "HYBRID", NULL, false, 1, 0}, {h[7], "HYBRID", NULL, false, 1, 0}};
    run_calls(s, last, 2, st, ids, NULL);
    ASSERT_EQ(st[0], CS_OK);
    ASSERT_EQ(st[1], CS_DONE);
    cs__tstore_batch_counts(s, &set_batches, &split);
    ASSERT_EQ(split, 0);
    ASSERT_EQ(set_batches, cs__tstore_is_pg(s) ? 8 : 0);
    cs_tracker_store_free(s);
}

/* add-jobs continues from job_seq, and from the jobs themselves when
 * job_seq is missing or disagrees with them (a file written by an older
 * crawlset, which kept no job_seq, then added to again by one). */
TEST(tracker_sqlite_job_seq_fallback)
{
    char db[600], got[1024];
    snprintf(db, sizeof db, "%s/seq.db", cs_test_tmpdir());
    cs_tracker *t = tt_open(db, 60, 2);
    add(t, db, 2); /* jobs 1-4, ranges 0 - 4,000,000 */
    cs_tracker_free(t);
    sqlite3 *q;
    ASSERT_EQ(sqlite3_open(db, &q), SQLITE_OK);
    sq_one(q, "SELECT last_id, last_end FROM job_seq", got, sizeof got);
    ASSERT_STR_EQ(got, "4|4000000|");
    /* an older writer added two jobs and left job_seq as it was */
    ASSERT_EQ(sqlite3_exec(q,
                           "INSERT INTO jobs (id, start_id, end_id, shard, i1) VALUES"
                           " (5, 4000000, 5000000, 0, 'x'), (6, 5000000, 6000000, 1, 'x')",
                           NULL, NULL, NULL),
              SQLITE_OK);
    t = tt_open(db, 60, 2);
    add(t, db, 1);
    cs_tracker_free(t);
    sq_one(q, "SELECT min(id), min(start_id), max(end_id) FROM jobs WHERE id > 6", got,
           sizeof got);
    ASSERT_STR_EQ(got, "7|6000000|8000000|");
    /* no job_seq row at all */
    ASSERT_EQ(sqlite3_exec(q, "DELETE FROM job_seq", NULL, NULL, NULL), SQLITE_OK);
    t = tt_open(db, 60, 2);
    add(t, db, 1);
    cs_tracker_free(t);
    sq_one(q, "SELECT min(id), min(start_id), max(end_id) FROM jobs WHERE id > 8", got,
           sizeof got);
    ASSERT_STR_EQ(got, "9|8000000|10000000|");
    sq_one(q, "SELECT last_id, last_end FROM job_seq", got, sizeof got);
    ASSERT_STR_EQ(got, "10|10000000|");
    sqlite3_close(q);
}
