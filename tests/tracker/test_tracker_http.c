/* test_tracker_http.c - the tracker over real HTTP on 127.0.0.1 (libcurl):
 * every call and error code, body limits, and durability: kill -9 of the
 * `crawlset tracker serve` process under a load of concurrent workers, then
 * a restart on the same store, after which every job is done exactly once.
 * Each test runs against SQLite and PostgreSQL. */
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracker_test.h"

typedef struct hresp {
    long status; /* 0: no answer (connection refused, reset, ...) */
    char body[8192];
    size_t len;
    char ctype[128];
} hresp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    hresp *r = ud;
    size_t k = sz * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = 0;
    return sz * n;
}

/* One request; body NULL = GET. raw_len > 0 sends raw bytes of that length. */
static hresp http(const char *url, const char *body, size_t raw_len, bool chunked)
{
    hresp r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    ASSERT(c);
    struct curl_slist *h = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        if (chunked)
            h = curl_slist_append(h, "Transfer-Encoding: chunked");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(raw_len ? raw_len : strlen(body)));
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static hresp post(const char *base, const char *call, const char *tok, const char *type,
                  const char *extra)
{
    char url[256], body[2048];
    snprintf(url, sizeof url, "%s/api/%s", base, call);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"type\":\"%s\"%s}", tok, type, extra);
    return http(url, body, 0, false);
}

static hresp get(const char *base, const char *path_query)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path_query);
    return http(url, NULL, 0, false);
}

static void new_worker(const char *base, const char *nick, const char *type, char tok[64])
{
    char q[256];
    snprintf(q, sizeof q, "/api/new?nickname=%s&type=%s", nick, type);
    hresp r = get(base, q);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.ctype, "application/json");
    snprintf(tok, 64, "%s", tt_json_str(r.body, "token"));
    ASSERT_EQ(strlen(tok), 32);
}

TRACKER_TEST_T(tracker_http_every_call, 60)
{
    cs_tracker *t = tt_open(db, 60, 2);
    uint16_t port = 0;
    char err[256];
    ASSERT_OK(cs_tracker_listen(t, "127.0.0.1:0", &port, err, sizeof err));
    ASSERT(port != 0);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)port);

    /* new: nickname URL-encoded, type case-insensitive */
    hresp r = get(base, "/api/new?nickname=Ann%20Lee&type=hybrid");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(tt_json_str(r.body, "upload_address"), "rsync://up.example/");
    ASSERT_CONTAINS(tt_json_str(r.body, "display_name"), "Ann Lee");
    char hyb[64], cpu[64], gpu[64];
    snprintf(hyb, sizeof hyb, "%s", tt_json_str(r.body, "token"));
    new_worker(base, "cpu1", "CPU", cpu);
    new_worker(base, "gpu1", "GPU", gpu);
    ASSERT_EQ(get(base, "/api/new?nickname=x&type=TPU").status, 400);
    ASSERT_EQ(get(base, "/api/new?type=CPU").status, 400);

    /* 403 before there is work */
    r = post(base, "newJob", hyb, "HYBRID", "");
    ASSERT_EQ(r.status, 403);
    ASSERT_CONTAINS(r.ctype, "text/plain");
    /* jobs over the admin call */
    char url[256];
    snprintf(url, sizeof url, "%s/api/admin/addJobs", base);
    ASSERT_EQ(http(url, "{\"key\":\"bad\",\"inputs\":[\"x\"]}", 0, false).status, 403);
    r = http(url, "{\"key\":\"sekrit\",\"inputs\":[\"w/1.wat.gz\",\"w/2.wat.gz\"]}", 0, false);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "{\"added\":4}");
    r = get(base, "/api/jobCount?type=CPU");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "4");
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=GPU").body, "0");
    ASSERT_EQ(get(base, "/api/jobCount").status, 400);
    r = get(base, "/api/getUploadAddress?type=CPU");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "rsync://up.example/");

    /* HYBRID cycle */
    r = post(base, "newJob", hyb, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(tt_json_str(r.body, "url"), "w/");
    ASSERT(tt_json_int(r.body, "number") >= 1);
    ASSERT_EQ(post(base, "updateProgress", hyb, "HYBRID", ",\"progress\":\"10 of 20\"").status,
              200);
    ASSERT_STR_EQ(post(base, "validateWorker", hyb, "HYBRID", "").body, "True");
    ASSERT_EQ(post(base, "markAsDone", hyb, "HYBRID", ",\"count\":12").status, 200);
    ASSERT_EQ(post(base, "markAsDone", hyb, "HYBRID", ",\"count\":12").status, 200);
    /* CPU -> GPU, then the GPU worker says the download was bad */
    ASSERT_EQ(post(base, "newJob", cpu, "CPU", "").status, 200);
    ASSERT_EQ(post(base, "markAsDone", cpu, "CPU", ",\"url\":\"http://up/o.tar\"").status, 200);
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=GPU").body, "1");
    r = post(base, "newJob", gpu, "GPU", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(tt_json_str(r.body, "url"), "http://up/o.tar");
    ASSERT_EQ(post(base, "gpuInvalidDownload", gpu, "GPU", "").status, 200);
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=GPU").body, "0");
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=CPU").body, "3");
    ASSERT_EQ(post(base, "newJob", gpu, "GPU", "").status, 403);
    ASSERT_EQ(post(base, "flagInvalidData", gpu, "GPU", "").status, 400); /* holds nothing */
    /* 404 for unknown tokens; validateWorker says False */
    const char *bad = "ffffffffffffffffffffffffffffffff";
    ASSERT_EQ(post(base, "newJob", bad, "CPU", "").status, 404);
    ASSERT_EQ(post(base, "markAsDone", bad, "CPU", ",\"url\":\"u\"").status, 404);
    ASSERT_EQ(post(base, "updateProgress", bad, "CPU", ",\"progress\":\"p\"").status, 404);
    ASSERT_EQ(post(base, "bye", bad, "CPU", "").status, 404);
    ASSERT_STR_EQ(post(base, "validateWorker", bad, "CPU", "").body, "False");
    /* another worker's token cannot touch hyb's job */
    ASSERT_EQ(post(base, "newJob", hyb, "HYBRID", "").status, 200);
    char evil[64];
    new_worker(base, "evil", "CPU", evil);
    ASSERT_EQ(post(base, "markAsDone", evil, "CPU", ",\"url\":\"http://evil\"").status, 400);
    ASSERT_EQ(post(base, "flagInvalidData", evil, "CPU", "").status, 400);
    /* cpu's repeat of its own last completion is harmless: 200, no effect */
    ASSERT_EQ(post(base, "markAsDone", cpu, "CPU", ",\"url\":\"http://evil\"").status, 200);
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=GPU").body, "0");
    ASSERT_EQ(post(base, "bye", evil, "CPU", "").status, 200);
    ASSERT_EQ(post(base, "markAsDone", evil, "CPU", ",\"url\":\"http://evil\"").status, 404);
    /* bye gives hyb's job back */
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=HYBRID").body, "2");
    r = post(base, "bye", hyb, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=HYBRID").body, "3");
    ASSERT_EQ(post(base, "newJob", hyb, "HYBRID", "").status, 404);

    /* 400: malformed, oversized (announced and chunked), wrong method */
    snprintf(url, sizeof url, "%s/api/newJob", base);
    r = http(url, "{\"token\":", 0, false);
    ASSERT_EQ(r.status, 400);
    ASSERT(r.len > 0 && !strchr(r.body, '\n'));
    ASSERT_EQ(http(url, "\0\0\0", 3, false).status, 400);
    size_t big = 200 * 1024;
    char *huge = cs_test_keep(malloc(big + 1));
    memset(huge, 'a', big);
    huge[big] = 0;
    r = http(url, huge, big, false);
    ASSERT_EQ(r.status, 400);
    ASSERT_CONTAINS(r.body, "larger than");
    r = http(url, huge, big, true);
    ASSERT_EQ(r.status, 400);
    ASSERT_CONTAINS(r.body, "larger than");
    ASSERT_EQ(get(base, "/api/nothing").status, 404);
    /* still alive and well */
    ASSERT_STR_EQ(get(base, "/api/jobCount?type=CPU").body, "3");
    cs_tracker_free(t);
}

/* ---- kill -9 durability ----------------------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static pid_t spawn_tracker(const char *db, int port, int gen)
{
    char listen[64], out[600];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(out, sizeof out, "%s/serve.%d.log", cs_test_tmpdir(), gen);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        char bin[600];
        snprintf(bin, sizeof bin, "%s/crawlset", CS_BUILD_DIR);
        execl(bin, bin, "tracker", "serve", "--db", db, "--listen", listen, "--idle-timeout",
              "60", "--threads", "8", (char *)NULL);
        _exit(127);
    }
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    for (int i = 0; i < 200; i++) {
        if (get(base, "/api/jobCount?type=CPU").status == 200)
            return pid;
        usleep(25 * 1000);
    }
    char *log = cs_test_read_file(out, NULL);
    FAIL("the tracker did not come up on port %d: %s", port, log);
}

#define NJOBS 600 /* 300 inputs */
#define NTHREADS 12

typedef struct load {
    char base[64];
    atomic_int finished[NJOBS + 1]; /* final completions each job's workers believe they made */
    atomic_bool stop;
    atomic_int calls, retries;
} load;

typedef struct wctx {
    load *L;
    int idx;
    char type[8];
    const char *base; /* tracker to talk to (NULL: L->base) */
} wctx;

/* A request retried until the tracker answers (it may be down). */
static hresp call(load *L, const char *base, const char *callname, const char *tok,
                  const char *type, const char *extra)
{
    for (;;) {
        hresp r = post(base, callname, tok, type, extra);
        atomic_fetch_add(&L->calls, 1);
        if (r.status && r.status < 500)
            return r;
        atomic_fetch_add(&L->retries, 1);
        if (atomic_load(&L->stop))
            return r;
        usleep(10 * 1000);
    }
}

static bool all_done(load *L)
{
    hresp r = get(L->base, "/data");
    if (r.status != 200)
        return false;
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *tot = json_object_get(j, "totals");
    bool done = json_integer_value(json_object_get(tot, "done")) == NJOBS;
    json_decref(j);
    return done;
}

static void *worker(void *arg)
{
    wctx *w = arg;
    load *L = w->L;
    const char *base = w->base ? w->base : L->base;
    char tok[64] = "", nick[32], q[128];
    snprintf(nick, sizeof nick, "w%d", w->idx);
    snprintf(q, sizeof q, "/api/new?nickname=%s&type=%s", nick, w->type);
    while (!tok[0] && !atomic_load(&L->stop)) {
        hresp r = get(base, q);
        if (r.status == 200)
            snprintf(tok, sizeof tok, "%s", tt_json_str(r.body, "token"));
        else
            usleep(10 * 1000);
    }
    while (!atomic_load(&L->stop)) {
        hresp r = call(L, base, "newJob", tok, w->type, "");
        if (r.status == 403) {
            if (all_done(L))
                break;
            usleep(5 * 1000);
            continue;
        }
        if (r.status != 200) {
            fprintf(stderr, "newJob: %ld %s\n", r.status, r.body);
            break;
        }
        long long n = tt_json_int(r.body, "number");
        char extra[128];
        if (!strcmp(w->type, "CPU"))
            snprintf(extra, sizeof extra, ",\"url\":\"http://out/%lld\"", n);
        else
            snprintf(extra, sizeof extra, ",\"count\":%lld", n);
        r = call(L, base, "markAsDone", tok, w->type, extra);
        if (r.status != 200) {
            fprintf(stderr, "markAsDone: %ld %s\n", r.status, r.body);
            break;
        }
        if (strcmp(w->type, "CPU") != 0 && n >= 1 && n <= NJOBS)
            atomic_fetch_add(&L->finished[n], 1);
    }
    return NULL;
}

TRACKER_TEST_T(tracker_http_kill9_durability, 120)
{
    /* the jobs first, through the store */
    char err[256];
    cs_tracker_store *s;
    ASSERT_OK(cs_tracker_store_open(db, &s, err, sizeof err));
    const char *inputs[NJOBS / 2];
    for (int i = 0; i < NJOBS / 2; i++) {
        char *b = cs_test_keep(malloc(32));
        snprintf(b, 32, "in/%d", i);
        inputs[i] = b;
    }
    size_t added;
    ASSERT_OK(cs_tracker_add_jobs(s, inputs, NJOBS / 2, 0, &added));
    ASSERT_EQ(added, NJOBS);
    cs_tracker_store_free(s);

    int port = free_port();
    load *L = cs_test_keep(calloc(1, sizeof *L));
    snprintf(L->base, sizeof L->base, "http://127.0.0.1:%d", port);
    pid_t pid = spawn_tracker(db, port, 0);
    pthread_t th[NTHREADS];
    wctx w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i].L = L;
        w[i].idx = i;
        w[i].base = NULL;
        /* half HYBRID, a quarter CPU, a quarter GPU */
        snprintf(w[i].type, sizeof w[i].type, "%s", i % 4 < 2 ? "HYBRID" : i % 4 == 2 ? "CPU" : "GPU");
        ASSERT_EQ(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    /* kill -9 the tracker three times while the workers run */
    for (int k = 1; k <= 3; k++) {
        int before = atomic_load(&L->calls);
        while (atomic_load(&L->calls) < before + 150)
            usleep(2 * 1000);
        int finished = 0;
        for (int n = 1; n <= NJOBS; n++)
            finished += atomic_load(&L->finished[n]);
        ASSERT(finished < NJOBS); /* it dies in the middle of the work */
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        ASSERT_EQ(waitpid(pid, NULL, 0), pid);
        usleep(50 * 1000);
        pid = spawn_tracker(db, port, k);
    }
    double t0 = cs_now();
    while (!all_done(L) && cs_now() - t0 < 60)
        usleep(50 * 1000);
    atomic_store(&L->stop, true);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    /* every job done exactly once: in the store ... */
    hresp r = get(L->base, "/data");
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"totals\":{\"open\":0,\"leased\":0,\"done\":600");
    kill(pid, SIGTERM);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* clean stop on SIGTERM */
    /* ... and as the workers saw it: one final completion per job */
    for (int n = 1; n <= NJOBS; n++)
        if (atomic_load(&L->finished[n]) != 1)
            FAIL("job %d was finished %d times", n, atomic_load(&L->finished[n]));
    /* the leaderboard counts each final completion once: pairs = sum of numbers */
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *lb = json_object_get(j, "leaderboard");
    long long pairs = 0;
    for (size_t i = 0; i < json_array_size(lb); i++)
        pairs += json_integer_value(json_object_get(json_array_get(lb, i), "pairs"));
    json_decref(j);
    ASSERT_EQ(pairs, (long long)NJOBS * (NJOBS + 1) / 2);
    fprintf(stderr, "  %d calls, %d retried while the tracker was down\n", atomic_load(&L->calls),
            atomic_load(&L->retries));
}

/* Two tracker processes on one PostgreSQL database (FOR UPDATE SKIP LOCKED):
 * workers talk to either; every job is finished exactly once. */
TEST_T(tracker_http_two_trackers_share_pg, 120)
{
    const char *db = cs_test_pg_url();
    char err[256];
    cs_tracker_store *s;
    ASSERT_OK(cs_tracker_store_open(db, &s, err, sizeof err));
    const char *inputs[NJOBS / 2];
    for (int i = 0; i < NJOBS / 2; i++) {
        char *b = cs_test_keep(malloc(32));
        snprintf(b, 32, "in/%d", i);
        inputs[i] = b;
    }
    size_t added;
    ASSERT_OK(cs_tracker_add_jobs(s, inputs, NJOBS / 2, 0, &added));
    cs_tracker_store_free(s);
    int port1 = free_port(), port2 = free_port();
    while (port2 == port1)
        port2 = free_port();
    load *L = cs_test_keep(calloc(1, sizeof *L));
    snprintf(L->base, sizeof L->base, "http://127.0.0.1:%d", port1);
    char base2[64];
    snprintf(base2, sizeof base2, "http://127.0.0.1:%d", port2);
    pid_t p1 = spawn_tracker(db, port1, 10), p2 = spawn_tracker(db, port2, 11);
    pthread_t th[NTHREADS];
    wctx w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i].L = L;
        w[i].idx = i;
        w[i].base = i % 2 ? base2 : NULL;
        snprintf(w[i].type, sizeof w[i].type, "%s", i % 4 < 2 ? "HYBRID" : i % 4 == 2 ? "CPU" : "GPU");
        ASSERT_EQ(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    double t0 = cs_now();
    while (!all_done(L) && cs_now() - t0 < 60)
        usleep(50 * 1000);
    atomic_store(&L->stop, true);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    hresp r = get(base2, "/data");
    ASSERT_CONTAINS(r.body, "\"totals\":{\"open\":0,\"leased\":0,\"done\":600");
    for (int n = 1; n <= NJOBS; n++)
        if (atomic_load(&L->finished[n]) != 1)
            FAIL("job %d was finished %d times", n, atomic_load(&L->finished[n]));
    kill(p1, SIGTERM);
    kill(p2, SIGTERM);
    int st1, st2;
    ASSERT_EQ(waitpid(p1, &st1, 0), p1);
    ASSERT_EQ(waitpid(p2, &st2, 0), p2);
    ASSERT(WIFEXITED(st1) && WEXITSTATUS(st1) == 0);
    ASSERT(WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
}

/* The command line: help, usage errors, add-jobs from a gzip list, status. */
TEST_T(tracker_cli, 60)
{
    char *out = NULL, *err = NULL;
    ASSERT_EQ(cs_test_crawlset("tracker --help", &out, &err), 0);
    ASSERT_CONTAINS(out, "crawlset tracker serve");
    cs_free(out);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("tracker serve --listen 127.0.0.1:0", &out, &err), 2);
    ASSERT_CONTAINS(err, "--db");
    cs_free(out);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("tracker frob", &out, &err), 2);
    cs_free(out);
    cs_free(err);
    char list[600], cmd[2000];
    snprintf(list, sizeof list, "%s/wat.paths", cs_test_tmpdir());
    const char *text = "crawl-data/CC-MAIN-2024-10/segments/1/wat/a.warc.wat.gz\n"
                       "crawl-data/CC-MAIN-2024-10/segments/1/wat/b.warc.wat.gz\n";
    cs_test_write_file(list, text, strlen(text));
    snprintf(cmd, sizeof cmd, "gzip '%s'", list);
    ASSERT_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "tracker add-jobs --db '%s/t.db' '%s.gz'", cs_test_tmpdir(), list);
    ASSERT_EQ(cs_test_crawlset(cmd, &out, &err), 0);
    ASSERT_STR_EQ(out, "added 4 jobs\n");
    cs_free(out);
    cs_free(err);
    snprintf(cmd, sizeof cmd, "tracker add-jobs --db '%s/t.db' '%s/missing'", cs_test_tmpdir(),
             cs_test_tmpdir());
    ASSERT_EQ(cs_test_crawlset(cmd, &out, &err), 3);
    ASSERT_CONTAINS(err, "missing");
    cs_free(out);
    cs_free(err);
    snprintf(cmd, sizeof cmd, "tracker status --db '%s/t.db'", cs_test_tmpdir());
    ASSERT_EQ(cs_test_crawlset(cmd, &out, &err), 0);
    ASSERT_CONTAINS(out, "{\"stage\":1,\"open\":4,\"leased\":0,\"done\":0}");
    cs_free(out);
    cs_free(err);
    snprintf(cmd, sizeof cmd, "tracker serve --db '%s/t.db' --listen nonsense", cs_test_tmpdir());
    ASSERT_EQ(cs_test_crawlset(cmd, &out, &err), 3);
    ASSERT_CONTAINS(err, "HOST:PORT");
    cs_free(out);
    cs_free(err);
}

/* The sweeper thread of a listening tracker: a worker that goes silent
 * loses its job after --idle-timeout, another worker gets and finishes it,
 * and the silent one's token is refused from then on. */
TRACKER_TEST_T(tracker_http_sweeper_reopens, 30)
{
    cs_tracker *t = tt_open(db, 1, 2);
    uint16_t port = 0;
    char err[256];
    ASSERT_OK(cs_tracker_listen(t, "127.0.0.1:0", &port, err, sizeof err));
    char base[64], url[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)port);
    snprintf(url, sizeof url, "%s/api/admin/addJobs", base);
    ASSERT_EQ(http(url, "{\"key\":\"sekrit\",\"inputs\":[\"only\"]}", 0, false).status, 200);
    char a[64], b[64];
    new_worker(base, "silent", "HYBRID", a);
    double ta = cs_now(); /* a's last call is no later than this */
    hresp r = post(base, "newJob", a, "HYBRID", "");
    ASSERT_EQ(r.status, 200);
    long long num = tt_json_int(r.body, "number");
    new_worker(base, "busy", "HYBRID", b);
    ASSERT_EQ(post(base, "newJob", b, "HYBRID", "").status, 200); /* the other piece */
    ASSERT_EQ(post(base, "markAsDone", b, "HYBRID", ",\"count\":1").status, 200);
    /* b keeps calling; a is silent */
    double t0 = cs_now();
    for (;;) {
        usleep(200 * 1000);
        r = post(base, "newJob", b, "HYBRID", "");
        if (r.status == 200)
            break;
        ASSERT_EQ(r.status, 403);
        if (cs_now() - t0 > 10)
            FAIL("the silent worker's job was not re-opened");
    }
    /* not before the idle timeout (1 s after a's last call; measured from
     * a's call, not from t0: b's calls before t0 may take a while on a
     * loaded machine) */
    ASSERT(cs_now() - ta >= 0.95);
    ASSERT_EQ(tt_json_int(r.body, "number"), num);
    ASSERT_EQ(post(base, "markAsDone", b, "HYBRID", ",\"count\":2").status, 200);
    ASSERT_EQ(post(base, "markAsDone", a, "HYBRID", ",\"count\":2").status, 404);
    ASSERT_STR_EQ(post(base, "validateWorker", a, "HYBRID", "").body, "False");
    r = get(base, "/metrics");
    ASSERT_CONTAINS(r.body, "crawlset_tracker_workers_timed_out_total 1\n");
    cs_tracker_free(t);
}
