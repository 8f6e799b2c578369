/* test_client_tracker.c - the client, the Python package and `crawlset
 * worker` against the real tracker (crawlset/tracker.h, served in-process on
 * 127.0.0.1), with the loopback origin serving data/sample/images for the
 * workers' pairs jobs on data/sample/demo.wat.gz (its image host,
 * images.crawlset.test, is sent to the origin with --connect-to). Each test
 * body runs on SQLite (_sqlite) and on PostgreSQL (_pg, the tracker tests'
 * harness in tests/tracker/pg.h). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client_int.h"
#include "origin.h"
#include "test.h"
#include "tracker/pg.h"

typedef struct srv {
    cs_tracker *t;
    char url[64];
} srv;

static srv srv_start_up(const char *db, double idle, const char *upload)
{
    cs_tracker_options o = {0};
    o.db = db;
    o.idle_timeout = idle;
    o.upload_address = upload;
    o.invalid_threshold = 2;
    char err[256] = "";
    srv s = {0};
    cs_status st = cs_tracker_new(&o, &s.t, err, sizeof err);
    if (st)
        FAIL("cs_tracker_new(%s): %s", db, err);
    uint16_t port = 0;
    st = cs_tracker_listen(s.t, "127.0.0.1:0", &port, err, sizeof err);
    if (st)
        FAIL("cs_tracker_listen: %s", err);
    snprintf(s.url, sizeof s.url, "http://127.0.0.1:%u", (unsigned)port);
    return s;
}

static srv srv_start(const char *db, double idle)
{
    return srv_start_up(db, idle, "http://store.example/up");
}

static void srv_add(const char *db, const char *input)
{
    cs_tracker_store *st;
    char err[256];
    ASSERT_OK(cs_tracker_store_open(db, &st, err, sizeof err));
    size_t added = 0;
    const char *in[1] = {input};
    ASSERT_OK(cs_tracker_add_jobs(st, in, 1, 0, &added));
    ASSERT_EQ(added, 2);
    cs_tracker_store_free(st);
}

/* TEST name_sqlite and name_pg running body(db). */
#define BOTH_STORES(name, body, timeout)                                                  \
    TEST_T(name##_sqlite, timeout)                                                        \
    {                                                                                     \
        char db_[600];                                                                    \
        snprintf(db_, sizeof db_, "%s/t.db", cs_test_tmpdir());                           \
        body(db_);                                                                        \
    }                                                                                     \
    TEST_T(name##_pg, timeout) { body(cs_test_pg_url()); }

static cs_client_opts quick(void)
{
    cs_client_opts o;
    cs_client_opts_init(&o);
    o.retries = 2;
    o.backoff_base = 0.02;
    o.backoff_max = 0.1;
    return o;
}

static cs_client *join_as(const srv *s, const char *nick, cs_client_type type)
{
    cs_client_opts o = quick();
    cs_client *c;
    cs_status st = cs_client_new(&c, s->url, nick, type, &o);
    if (st)
        FAIL("new %s: %s", nick, cs_client_errmsg(c));
    return c;
}

static uint64_t open_jobs(cs_client *c)
{
    uint64_t n = 0;
    cs_status st = cs_client_job_count(c, &n);
    if (st)
        FAIL("jobCount: %s", cs_client_errmsg(c));
    return n;
}

#define CALL(c, x)                                                                        \
    do {                                                                                  \
        cs_status st_ = (x);                                                              \
        if (st_)                                                                          \
            FAIL("%s: %s: %s", #x, cs_status_name(st_), cs_client_errmsg(c));            \
    } while (0)

/* The store's status JSON (static storage). */
static const char *status_json(const char *db)
{
    static char out[16384];
    cs_tracker_store *st;
    char err[256];
    ASSERT_OK(cs_tracker_store_open(db, &st, err, sizeof err));
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_tracker_store_status_json(st, &b));
    snprintf(out, sizeof out, "%s", b.data ? b.data : "");
    cs_buf_cleanup(&b);
    cs_tracker_store_free(st);
    return out;
}

/* ---- every call and error code over HTTP ----------------------------------------- */

static void body_protocol(const char *db)
{
    const char *wat = cs_test_source("data/sample/demo.wat.gz");
    srv_add(db, wat);
    srv s = srv_start(db, 60);
    cs_client *h = join_as(&s, "hy", CS_CLIENT_HYBRID);
    cs_client *cpu = join_as(&s, "cp", CS_CLIENT_CPU);
    cs_client *gpu = join_as(&s, "gp", CS_CLIENT_GPU);
    ASSERT_STR_EQ(cs_client_upload_address(h), "http://store.example/up");
    ASSERT(strncmp(cs_client_display_name(h), "hy", 2) == 0);
    ASSERT(strlen(cs_client_token(h)) >= 16);
    CALL(h, cs_client_update_upload_address(h));
    ASSERT_STR_EQ(cs_client_upload_address(h), "http://store.example/up");
    ASSERT_UEQ(open_jobs(h), 2);
    ASSERT_UEQ(open_jobs(cpu), 2);
    ASSERT_UEQ(open_jobs(gpu), 0);
    ASSERT_ST(cs_client_new_job(gpu), CS_ENOJOB);
    ASSERT_CONTAINS(cs_client_errmsg(gpu), "HTTP 403");

    /* HYBRID: a job, its input (a local path, used in place), progress, done */
    CALL(h, cs_client_new_job(h));
    const cs_client_job *j = cs_client_job_get(h);
    ASSERT_STR_EQ(j->url, wat);
    ASSERT_UEQ(j->end_id - j->start_id, 1000000);
    ASSERT(j->number >= 0);
    char *path;
    CALL(h, cs_client_download_shard(h, cs_test_tmpdir(), &path));
    ASSERT_STR_EQ(path, wat);
    cs_free(path);
    CALL(h, cs_client_log(h, "Completed 3 / 7"));
    bool alive = false;
    CALL(h, cs_client_is_alive(h, &alive));
    ASSERT(alive);
    CALL(h, cs_client_complete_job(h, 7, NULL));
    ASSERT_UEQ(open_jobs(h), 1);

    /* CPU: completes with a URL, which becomes a GPU job */
    CALL(cpu, cs_client_new_job(cpu));
    ASSERT_UEQ(open_jobs(cpu), 0);
    ASSERT_ST(cs_client_new_job(h), CS_ENOJOB);
    /* a CPU worker cannot hand a GPU job back (400) */
    ASSERT_ST(cs_client_invalid_url(cpu), CS_EBADREQ);
    ASSERT_CONTAINS(cs_client_errmsg(cpu), "HTTP 400: gpuInvalidDownload is for GPU workers");
    CALL(cpu, cs_client_new_job(cpu)); /* the job is still ours: the same one again */
    CALL(cpu, cs_client_complete_job(cpu, 0, "http://out.example/job-1/"));
    ASSERT_UEQ(open_jobs(gpu), 1);
    CALL(gpu, cs_client_new_job(gpu));
    ASSERT_STR_EQ(cs_client_job_get(gpu)->url, "http://out.example/job-1/");
    /* the GPU worker cannot fetch it: back to the CPU pool */
    CALL(gpu, cs_client_invalid_url(gpu));
    ASSERT_UEQ(open_jobs(gpu), 0);
    ASSERT_UEQ(open_jobs(cpu), 1);
    CALL(cpu, cs_client_new_job(cpu));
    CALL(cpu, cs_client_complete_job(cpu, 0, "http://out.example/job-1b/"));
    CALL(gpu, cs_client_new_job(gpu));
    ASSERT_STR_EQ(cs_client_job_get(gpu)->url, "http://out.example/job-1b/");

    /* dump, load in "another process", complete from there */
    char *dump;
    size_t len;
    ASSERT_OK(cs_client_dump(gpu, &dump, &len));
    cs_client *again;
    cs_client_opts o = quick();
    ASSERT_OK(cs_client_load(&again, dump, len, &o));
    cs_free(dump);
    CALL(again, cs_client_log(again, "resumed"));
    CALL(again, cs_client_complete_job(again, 5, NULL));
    cs_client_free(again);

    /* every job is done */
    ASSERT_UEQ(open_jobs(h), 0);
    ASSERT_UEQ(open_jobs(gpu), 0);
    ASSERT_ST(cs_client_new_job(h), CS_ENOJOB);

    /* bye: the worker is gone (validateWorker says False, calls get 404) */
    CALL(h, cs_client_bye(h));
    CALL(h, cs_client_is_alive(h, &alive));
    ASSERT(!alive);
    ASSERT_ST(cs_client_new_job(h), CS_EWORKER);
    ASSERT_CONTAINS(cs_client_errmsg(h), "HTTP 404");
    ASSERT_ST(cs_client_log(h, "x"), CS_EWORKER);
    /* a token that never was */
    char fake[256];
    snprintf(fake, sizeof fake, "{\"url\":\"%s\",\"type\":\"CPU\",\"token\":\"nope\"}", s.url);
    cs_client *f;
    ASSERT_OK(cs_client_load(&f, fake, strlen(fake), &o));
    ASSERT_ST(cs_client_new_job(f), CS_EWORKER);
    cs_client_free(f);
    /* 400: a nickname the tracker refuses */
    ASSERT_ST(cs_client_new(&f, s.url, "two\nlines", CS_CLIENT_CPU, &o), CS_EBADREQ);
    ASSERT_CONTAINS(cs_client_errmsg(f), "nickname");
    cs_client_free(f);
    /* the leaderboard counted the pairs */
    cs_client_free(h);
    cs_client_free(cpu);
    cs_client_free(gpu);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "\"nickname\":\"hy\",\"jobs\":1,\"pairs\":7");
    ASSERT_CONTAINS(js, "\"nickname\":\"gp\",\"jobs\":1,\"pairs\":5");
}

/* 5xx: a tracker whose store went away answers 500: retried, then ESERVER */
static void body_server_fault(const char *db)
{
    srv_add(db, "in-1");
    srv s = srv_start(db, 60);
    cs_client *c = join_as(&s, "x", CS_CLIENT_CPU);
    cs_tracker_stop(s.t);
    /* nobody listens now: a network error after the retries */
    ASSERT_ST(cs_client_new_job(c), CS_ENET);
    cs_client_free(c);
    cs_tracker_free(s.t);
}

BOTH_STORES(client_tracker_protocol, body_protocol, 60)

TEST_T(client_tracker_down_sqlite, 30)
{
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    body_server_fault(db);
}

/* ---- the Python package --------------------------------------------------------- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CS_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CS_TEST_ASAN 1
#endif

/* In the sanitizer build libcrawlset.so needs the ASan runtime, which an
 * uninstrumented python3 does not carry: preload it (leak checks off, as
 * the interpreter keeps memory to the end on purpose). */
static const char *python_env(void)
{
    static char env[700];
#ifdef CS_TEST_ASAN
    FILE *p = popen("clang -print-file-name=libclang_rt.asan-x86_64.so 2>/dev/null", "r");
    char path[600] = "";
    if (p) {
        if (!fgets(path, sizeof path, p))
            path[0] = 0;
        pclose(p);
    }
    path[strcspn(path, "\n")] = 0;
    if (!path[0] || access(path, R_OK))
        FAIL("the ASan runtime for python3 was not found (clang -print-file-name)");
    snprintf(env, sizeof env,
             "LD_PRELOAD='%s' ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0", path);
#endif
    return env;
}

static int run_python(const char *script, const char *arg1, const char *arg2, char **out)
{
    char cmd[4096], op[700];
    snprintf(op, sizeof op, "%s/py.out", cs_test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s CRAWLSET_LIB='%s/libcrawlset.so' PYTHONPATH='%s/bindings/python' "
             "python3 '%s' '%s' '%s' >'%s' 2>&1",
             cs_test_tmpdir(), python_env(), CS_BUILD_DIR, CS_SOURCE_DIR,
             cs_test_source(script), arg1, arg2, op);
    int rc = system(cmd);
    size_t n;
    *out = cs_test_read_file(op, &n);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void body_python(const char *db)
{
    const char *wat = cs_test_source("data/sample/demo.wat.gz");
    srv_add(db, wat);
    srv_add(db, wat);
    srv s = srv_start(db, 60);
    char *out;
    int rc = run_python("tests/client/py_cycle.py", s.url, wat, &out);
    if (rc != 0)
        FAIL("py_cycle.py exited %d:\n%s", rc, out);
    ASSERT_CONTAINS(out, "hybrid cycle ok");
    ASSERT_CONTAINS(out, "cpu->gpu cycle ok");
    ASSERT_CONTAINS(out, "errors ok");
    cs_free(out);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "\"nickname\":\"py-hybrid\",\"jobs\":2,\"pairs\":12");
    ASSERT_CONTAINS(js, "\"nickname\":\"py-gpu\",\"jobs\":2,\"pairs\":11");
}

BOTH_STORES(client_python_cycles, body_python, 60)

/* ---- crawlset worker ------------------------------------------------------------- */

/* Starts `crawlset worker ARGS...` (NULL-terminated), its output in log. */
static pid_t spawn_worker(const char *log, const char *const *args)
{
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        const char *argv[40];
        int n = 0;
        argv[n++] = "crawlset";
        argv[n++] = "worker";
        for (int i = 0; args[i] && n < 39; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(CS_BUILD_DIR "/crawlset", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, double timeout, const char *log)
{
    double end = cs_now() + timeout;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (cs_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            size_t n;
            char *l = cs_test_read_file(log, &n);
            FAIL("worker did not exit in %.0f s; its log:\n%s", timeout, l);
        }
        usleep(20000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *read_log(const char *log)
{
    size_t n;
    return cs_test_read_file(log, &n);
}

/* Waits until the tracker's open jobs (as c sees them) are `want`. */
static void wait_open(cs_client *c, uint64_t want, double timeout)
{
    double end = cs_now() + timeout;
    uint64_t n;
    while ((n = open_jobs(c)) != want) {
        if (cs_now() > end)
            FAIL("open jobs stayed %llu, want %llu", (unsigned long long)n,
                 (unsigned long long)want);
        usleep(20000);
    }
}

/* Waits until the tracker shows `text` in the store's status (a worker's
 * progress line): the worker is inside its pipeline. */
static void wait_status(const char *db, const char *text, double timeout)
{
    double end = cs_now() + timeout;
    while (!strstr(status_json(db), text)) {
        if (cs_now() > end)
            FAIL("the tracker never showed \"%s\": %s", text, status_json(db));
        usleep(50000);
    }
}

static cs_origin *serve_images(unsigned delay_ms)
{
    cs_origin_route slow = {.delay_ms = delay_ms};
    cs_origin_opts oo = {.root = cs_test_source("data/sample/images"),
                         .dir_route = delay_ms ? &slow : NULL};
    cs_origin *o;
    ASSERT_OK(cs_origin_start_opts(&o, &oo));
    return o;
}

static void body_worker_cycle(const char *db)
{
    srv_add(db, cs_test_source("data/sample/demo.wat.gz"));
    srv s = srv_start(db, 60);
    cs_origin *org = serve_images(0);
    char connect[128], out_cpu[600], out_gpu[600], log[600];
    snprintf(connect, sizeof connect, "images.crawlset.test:80:127.0.0.1:%u",
             (unsigned)cs_origin_port(org));
    snprintf(out_cpu, sizeof out_cpu, "%s/cpu", cs_test_tmpdir());
    snprintf(out_gpu, sizeof out_gpu, "%s/gpu", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/worker.log", cs_test_tmpdir());
    /* a CPU worker does both pieces and leaves when none is open; its
       output directory is served by a loopback server, so the GPU worker
       fetches it over HTTP */
    mkdir(out_cpu, 0777);
    cs_origin_opts oo = {.root = out_cpu};
    cs_origin *store;
    ASSERT_OK(cs_origin_start_opts(&store, &oo));
    const char *cpu[] = {"--tracker", s.url, "--type", "cpu", "--nickname", "cpu-w", "--out",
                         out_cpu, "--max-idle", "0", "--threads", "2", "--connect-to", connect,
                         "--log-interval", "0", "--public-url", cs_origin_url(store), NULL};
    int rc = wait_exit(spawn_worker(log, cpu), 60, log);
    char *l = read_log(log);
    if (rc != 0)
        FAIL("cpu worker exit %d:\n%s", rc, l);
    ASSERT_CONTAINS(l, "2 jobs done");
    cs_free(l);
    char p[700];
    snprintf(p, sizeof p, "%s/job-0/_job.json", out_cpu);
    size_t n;
    char *m = cs_test_read_file(p, &n);
    ASSERT_CONTAINS(m, "\"files\":[\"00000.tar\",\"00000.jsonl\",\"00000_stats.json\"]");
    ASSERT_CONTAINS(m, "\"pairs\":7");
    cs_free(m);
    /* a GPU worker fetches both outputs and scores them */
    const char *gpu[] = {"--tracker", s.url, "--type", "gpu", "--nickname", "gpu-w", "--out",
                         out_gpu, "--max-jobs", "2", "--max-idle", "0", NULL};
    rc = wait_exit(spawn_worker(log, gpu), 60, log);
    l = read_log(log);
    if (rc != 0)
        FAIL("gpu worker exit %d:\n%s", rc, l);
    ASSERT_CONTAINS(l, "CLIP scoring is not yet implemented");
    cs_free(l);
    snprintf(p, sizeof p, "%s/job-1000000/_scoring_stats.json", out_gpu);
    m = cs_test_read_file(p, &n);
    ASSERT_CONTAINS(m, "\"pairs_kept\":5");
    ASSERT_CONTAINS(m, "not yet implemented");
    cs_free(m);
    snprintf(p, sizeof p, "%s/job-1000000/00000.tar", out_gpu);
    ASSERT(access(p, R_OK) == 0); /* fetched */
    ASSERT(cs_origin_count(store, "/job-1000000/_job.json") == 1);
    cs_origin_stop(store);
    cs_origin_stop(org);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "{\"stage\":2,\"open\":0,\"leased\":0,\"done\":2}");
    ASSERT_CONTAINS(js, "\"nickname\":\"gpu-w\",\"jobs\":2,\"pairs\":12");
}

BOTH_STORES(worker_cpu_gpu_cycle, body_worker_cycle, 120)

/* kill -9 a worker mid-job: its job re-opens after the idle timeout and
 * another worker finishes it. */
static void body_worker_killed(const char *db)
{
    srv_add(db, cs_test_source("data/sample/demo.wat.gz"));
    srv s = srv_start(db, 1.0);
    cs_origin *org = serve_images(60000); /* the first worker's images never come */
    char connect[128], out[600], log1[600], log2[600];
    snprintf(connect, sizeof connect, "images.crawlset.test:80:127.0.0.1:%u",
             (unsigned)cs_origin_port(org));
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    snprintf(log1, sizeof log1, "%s/w1.log", cs_test_tmpdir());
    snprintf(log2, sizeof log2, "%s/w2.log", cs_test_tmpdir());
    cs_client *watch = join_as(&s, "watch", CS_CLIENT_HYBRID);
    const char *a1[] = {"--tracker", s.url, "--type", "hybrid", "--nickname", "doomed",
                        "--out", out, "--once", "--connect-to", connect, "--threads", "1",
                        "--log-interval", "0.2", NULL};
    pid_t w1 = spawn_worker(log1, a1);
    wait_open(watch, 1, 20); /* it holds a job */
    /* and is inside the pipeline: its progress reached the tracker */
    wait_status(db, "\"progress\":\"pairs: 14 candidates in the input, 7 in shard piece", 20);
    ASSERT_EQ(kill(w1, SIGKILL), 0);
    ASSERT_EQ(wait_exit(w1, 10, log1), 128 + SIGKILL);
    /* the watcher stays alive (its calls refresh it); the job re-opens */
    double t0 = cs_now();
    wait_open(watch, 2, 20);
    ASSERT(cs_now() - t0 >= 0.3);
    /* another worker finishes both, at full speed now */
    ASSERT_OK(cs_origin_set_root(org, cs_test_source("data/sample/images"), NULL));
    const char *a2[] = {"--tracker", s.url, "--type", "hybrid", "--nickname", "rescuer",
                        "--out", out, "--max-jobs", "2", "--max-idle", "0", "--connect-to",
                        connect, "--threads", "2", NULL};
    int rc = wait_exit(spawn_worker(log2, a2), 60, log2);
    char *l = read_log(log2);
    if (rc != 0)
        FAIL("rescuer exit %d:\n%s", rc, l);
    ASSERT_CONTAINS(l, "2 jobs done");
    cs_free(l);
    ASSERT_UEQ(open_jobs(watch), 0);
    cs_client_free(watch);
    cs_origin_stop(org);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "{\"stage\":1,\"open\":0,\"leased\":0,\"done\":2}");
    ASSERT_CONTAINS(js, "\"nickname\":\"rescuer\",\"jobs\":2,\"pairs\":12");
    ASSERT(!strstr(js, "\"nickname\":\"doomed\",\"jobs\":1"));
}

BOTH_STORES(worker_killed_job_reopens, body_worker_killed, 120)

/* SIGTERM: the job is handed back (bye) at once, not after the timeout */
static void body_worker_sigterm(const char *db)
{
    srv_add(db, cs_test_source("data/sample/demo.wat.gz"));
    srv s = srv_start(db, 3600);
    cs_origin *org = serve_images(60000);
    char connect[128], out[600], log[600];
    snprintf(connect, sizeof connect, "images.crawlset.test:80:127.0.0.1:%u",
             (unsigned)cs_origin_port(org));
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/w.log", cs_test_tmpdir());
    cs_client *watch = join_as(&s, "watch", CS_CLIENT_HYBRID);
    const char *a[] = {"--tracker", s.url, "--type", "hybrid", "--nickname", "polite", "--out",
                       out, "--connect-to", connect, "--threads", "1", "--timeout", "1",
                       "--download-retries", "0", NULL};
    pid_t w = spawn_worker(log, a);
    wait_open(watch, 1, 20);
    usleep(300000);
    ASSERT_EQ(kill(w, SIGTERM), 0);
    int rc = wait_exit(w, 40, log);
    char *l = read_log(log);
    if (rc != 0)
        FAIL("worker exit %d:\n%s", rc, l);
    cs_free(l);
    /* no waiting for a timeout: the job is open again, or done */
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "\"leased\":0");
    if (!strstr(js, "{\"stage\":1,\"open\":2,\"leased\":0,\"done\":0}") &&
        !strstr(js, "{\"stage\":1,\"open\":1,\"leased\":0,\"done\":1}"))
        FAIL("job neither returned nor done: %s", js);
    ASSERT_CONTAINS(js, "\"workers\":1"); /* only the watcher is left */
    cs_client_free(watch);
    cs_origin_stop(org);
    cs_tracker_free(s.t);
}

TEST_T(worker_sigterm_returns_job_sqlite, 60)
{
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    body_worker_sigterm(db);
}

TEST(worker_usage)
{
    char *out, *err;
    ASSERT_EQ(cs_test_crawlset("worker --help", &out, &err), 0);
    ASSERT_CONTAINS(out, "--tracker URL");
    cs_free(out);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("worker --type cpu", &out, &err), 2);
    ASSERT_CONTAINS(err, "--tracker URL and --type");
    cs_free(out);
    cs_free(err);
    ASSERT_EQ(cs_test_crawlset("worker --tracker http://127.0.0.1:1 --type tpu", &out, &err), 2);
    cs_free(out);
    cs_free(err);
    char args[900];
    snprintf(args, sizeof args,
             "worker --tracker http://127.0.0.1:1 --type cpu --retries 0 --out '%s/o'",
             cs_test_tmpdir());
    ASSERT_EQ(cs_test_crawlset(args, &out, &err), 3);
    ASSERT_CONTAINS(err, "cannot register");
    cs_free(out);
    cs_free(err);
}

/* --state: a worker killed mid-job and started again with the same state
 * file resumes with the same token and job (no timeout needed), finishes it,
 * and removes the file when it leaves. */
TEST_T(worker_resumes_from_state_sqlite, 60)
{
    char db[600], state[600], out[600], log[600], connect[128];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    snprintf(state, sizeof state, "%s/worker.json", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/w.log", cs_test_tmpdir());
    srv_add(db, cs_test_source("data/sample/demo.wat.gz"));
    srv s = srv_start(db, 3600);
    cs_origin *org = serve_images(60000);
    snprintf(connect, sizeof connect, "images.crawlset.test:80:127.0.0.1:%u",
             (unsigned)cs_origin_port(org));
    cs_client *watch = join_as(&s, "watch", CS_CLIENT_HYBRID);
    const char *a[] = {"--tracker", s.url, "--type", "hybrid", "--nickname", "phoenix",
                       "--out", out, "--once", "--state", state, "--connect-to", connect,
                       "--threads", "1", NULL};
    pid_t w = spawn_worker(log, a);
    wait_open(watch, 1, 20);
    wait_status(db, "\"progress\":\"pairs: 14 candidates", 20);
    ASSERT_EQ(kill(w, SIGKILL), 0);
    wait_exit(w, 10, log);
    size_t n;
    char *st = cs_test_read_file(state, &n);
    ASSERT_CONTAINS(st, "\"job\":{\"url\":");
    cs_free(st);
    ASSERT_OK(cs_origin_set_root(org, cs_test_source("data/sample/images"), NULL));
    int rc = wait_exit(spawn_worker(log, a), 60, log);
    char *l = read_log(log);
    if (rc != 0)
        FAIL("exit %d:\n%s", rc, l);
    ASSERT_CONTAINS(l, "resumed from");
    ASSERT_CONTAINS(l, "with its job");
    ASSERT_CONTAINS(l, "1 jobs done");
    cs_free(l);
    ASSERT(access(state, F_OK) != 0);
    ASSERT_UEQ(open_jobs(watch), 1); /* the other piece is untouched */
    cs_client_free(watch);
    cs_origin_stop(org);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "{\"stage\":1,\"open\":1,\"leased\":0,\"done\":1}");
    ASSERT_CONTAINS(js, "\"nickname\":\"phoenix\",\"jobs\":1");
}

/* a job whose input does not exist is reported (flagInvalidData) and handed
 * back, not held until the timeout; exit code 1 */
TEST_T(worker_reports_bad_input_sqlite, 30)
{
    char db[600], out[600], log[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/w.log", cs_test_tmpdir());
    srv_add(db, "/nonexistent/CC-MAIN-x.wat.gz");
    srv s = srv_start(db, 3600);
    const char *a[] = {"--tracker", s.url, "--type", "cpu", "--nickname", "careful", "--out",
                       out, "--once", NULL};
    int rc = wait_exit(spawn_worker(log, a), 30, log);
    char *l = read_log(log);
    if (rc != 1)
        FAIL("exit %d (want 1):\n%s", rc, l);
    ASSERT_CONTAINS(l, "/nonexistent/CC-MAIN-x.wat.gz");
    ASSERT_CONTAINS(l, "reported as invalid");
    cs_free(l);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "{\"stage\":1,\"open\":2,\"leased\":0,\"done\":0}");

    /* an input that is there but is no WAT (text, a cut gzip header) */
    char db2[600], bogus[600];
    snprintf(db2, sizeof db2, "%s/t2.db", cs_test_tmpdir());
    snprintf(bogus, sizeof bogus, "%s/bogus.wat.gz", cs_test_tmpdir());
    cs_test_write_file(bogus, "\x1f\x8b\x08garbage", 10);
    srv_add(db2, bogus);
    s = srv_start(db2, 3600);
    const char *b[] = {"--tracker", s.url, "--type", "hybrid", "--out", out, "--max-jobs", "2",
                       "--idle-wait", "0.01", NULL};
    rc = wait_exit(spawn_worker(log, b), 30, log);
    l = read_log(log);
    if (rc != 1)
        FAIL("exit %d (want 1):\n%s", rc, l);
    ASSERT_CONTAINS(l, "no readable WAT record");
    ASSERT_CONTAINS(l, "0 jobs done, 2 inputs reported as invalid");
    cs_free(l);
    cs_tracker_free(s.t);
    js = status_json(db2);
    ASSERT_CONTAINS(js, "\"leased\":0");
}

/* ---- CPU output to an HTTP PUT store (nginx WebDAV), fetched from there by
 * a GPU worker ---------------------------------------------------------------------- */


/* Starts nginx (WebDAV PUT, GET) on 127.0.0.1 serving dir/www; 0 when nginx
 * is not installed. The same setup as the dataset module's PUT test. */
static pid_t webdav_start(const char *dir, int *port)
{
    static const char *const bins[] = {"/usr/sbin/nginx", "/usr/bin/nginx",
                                       "/usr/local/sbin/nginx"};
    const char *bin = NULL;
    for (size_t i = 0; i < sizeof bins / sizeof *bins && !bin; i++)
        if (access(bins[i], X_OK) == 0)
            bin = bins[i];
    if (!bin)
        return 0;
    char www[700];
    snprintf(www, sizeof www, "%s/www", dir);
    ASSERT(mkdir(dir, 0755) == 0 && mkdir(www, 0755) == 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    *port = ntohs(a.sin_port);
    char conf[4096], cp[700], gopts[1600], elog[700];
    snprintf(conf, sizeof conf,
             "master_process off; worker_processes 1;\n"
             "events { worker_connections 64; }\n"
             "http { access_log off; client_body_temp_path %s/body; proxy_temp_path %s/p;\n"
             "  fastcgi_temp_path %s/f; uwsgi_temp_path %s/u; scgi_temp_path %s/s;\n"
             "  server { listen 127.0.0.1:%d; root %s;\n"
             "    location / { dav_methods PUT DELETE; create_full_put_path on;\n"
             "      client_max_body_size 0; dav_access user:rw group:r all:r; } } }\n",
             dir, dir, dir, dir, dir, *port, www);
    snprintf(cp, sizeof cp, "%s/nginx.conf", dir);
    snprintf(elog, sizeof elog, "%s/err.log", dir);
    snprintf(gopts, sizeof gopts, "daemon off; pid %s/nginx.pid; error_log %s;", dir, elog);
    cs_test_write_file(cp, conf, strlen(conf));
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, "nginx", "-p", dir, "-c", cp, "-e", elog, "-g", gopts, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool up = connect(fd, (struct sockaddr *)&b, sizeof b) == 0;
        close(fd);
        if (up)
            return pid;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            FAIL("nginx exited at start (see %s)", elog);
        usleep(25000);
    }
    FAIL("nginx did not start listening on port %d", *port);
}

TEST_T(worker_cpu_to_put_store_to_gpu_sqlite, 120)
{
    char db[600], ngdir[600], out_gpu[600], log[600], connect[128], store[64];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    snprintf(ngdir, sizeof ngdir, "%s/nginx", cs_test_tmpdir());
    snprintf(out_gpu, sizeof out_gpu, "%s/gpu", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/w.log", cs_test_tmpdir());
    int port;
    pid_t ng = webdav_start(ngdir, &port);
    if (!ng) {
        printf("SKIP: nginx is not installed (scripts/bootstrap installs it)\n");
        return;
    }
    snprintf(store, sizeof store, "http://127.0.0.1:%d/shards", port);
    srv_add(db, cs_test_source("data/sample/demo.wat.gz"));
    /* the tracker names the store as its upload address: a CPU worker
       without --out sends its output there */
    srv s = srv_start_up(db, 60, store);
    cs_origin *org = serve_images(0);
    snprintf(connect, sizeof connect, "images.crawlset.test:80:127.0.0.1:%u",
             (unsigned)cs_origin_port(org));
    const char *cpu[] = {"--tracker", s.url, "--type", "cpu", "--nickname", "up", "--max-jobs",
                         "1", "--connect-to", connect, "--threads", "2", NULL};
    int rc = wait_exit(spawn_worker(log, cpu), 60, log);
    char *l = read_log(log);
    if (rc != 0)
        FAIL("cpu worker exit %d:\n%s", rc, l);
    ASSERT_CONTAINS(l, "output to the tracker's upload address http://127.0.0.1:");
    ASSERT_CONTAINS(l, "output at http://127.0.0.1:");
    cs_free(l);
    /* the store has the shard and its manifest */
    char p[800];
    snprintf(p, sizeof p, "%s/www/shards", ngdir);
    cs_client *watch = join_as(&s, "watch", CS_CLIENT_GPU);
    ASSERT_UEQ(open_jobs(watch), 1);
    size_t n;
    char manifest[900];
    snprintf(manifest, sizeof manifest, "%s/job-0/_job.json", p);
    if (access(manifest, R_OK))
        snprintf(manifest, sizeof manifest, "%s/job-1000000/_job.json", p);
    char *m = cs_test_read_file(manifest, &n);
    ASSERT_CONTAINS(m, "\"00000.tar\"");
    cs_free(m);
    const char *gpu[] = {"--tracker", s.url, "--type", "gpu", "--nickname", "down", "--out",
                         out_gpu, "--once", NULL};
    rc = wait_exit(spawn_worker(log, gpu), 60, log);
    l = read_log(log);
    if (rc != 0)
        FAIL("gpu worker exit %d:\n%s", rc, l);
    cs_free(l);
    ASSERT_UEQ(open_jobs(watch), 0);
    cs_client_free(watch);
    cs_origin_stop(org);
    cs_tracker_free(s.t);
    kill(ng, SIGTERM);
    waitpid(ng, NULL, 0);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "{\"stage\":2,\"open\":0,\"leased\":0,\"done\":1}");
    ASSERT_CONTAINS(js, "\"nickname\":\"down\",\"jobs\":1");
}

/* no job open: the worker waits (backoff) and takes the job that appears */
TEST_T(worker_waits_for_a_job_sqlite, 60)
{
    char db[600], out[600], log[600], cpu_out[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/gpu", cs_test_tmpdir());
    snprintf(cpu_out, sizeof cpu_out, "%s/cpu-job", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/w.log", cs_test_tmpdir());
    srv_add(db, "some-input");
    srv s = srv_start(db, 60);
    const char *a[] = {"--tracker", s.url, "--type", "gpu", "--nickname", "patient", "--out",
                       out, "--max-jobs", "1", "--max-idle", "30", "--idle-wait", "0.05", NULL};
    pid_t w = spawn_worker(log, a);
    usleep(600000);
    int status;
    ASSERT_EQ(waitpid(w, &status, WNOHANG), 0); /* still waiting */
    /* a CPU worker (the C client) produces a GPU job */
    cs_client *cpu = join_as(&s, "maker", CS_CLIENT_CPU);
    CALL(cpu, cs_client_new_job(cpu));
    mkdir(cpu_out, 0777);
    char p[700];
    snprintf(p, sizeof p, "%s/00000.jsonl", cpu_out);
    const char *rows = "{\"key\":\"0\",\"status\":\"success\"}\n"
                       "{\"key\":\"1\",\"status\":\"failed_to_download\"}\n"
                       "{\"key\":\"2\",\"status\":\"success\"}\n";
    cs_test_write_file(p, rows, strlen(rows));
    static const char *const files[] = {"00000.jsonl"};
    char err[256];
    ASSERT_OK(cs_client_manifest_write(cpu_out, cs_client_job_get(cpu), 2, files, 1, err,
                                       sizeof err));
    snprintf(p, sizeof p, "%s/_job.json", cpu_out);
    CALL(cpu, cs_client_complete_job(cpu, 0, p));
    int rc = wait_exit(w, 30, log);
    char *l = read_log(log);
    if (rc != 0)
        FAIL("exit %d:\n%s", rc, l);
    ASSERT_CONTAINS(l, "1 jobs done");
    cs_free(l);
    cs_client_free(cpu);
    cs_tracker_free(s.t);
    const char *js = status_json(db);
    ASSERT_CONTAINS(js, "\"nickname\":\"patient\",\"jobs\":1,\"pairs\":2");
}

/* SIGTERM while waiting for a job: the worker leaves at once, with bye */
TEST_T(worker_sigterm_while_idle_sqlite, 30)
{
    char db[600], out[600], log[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    snprintf(out, sizeof out, "%s/out", cs_test_tmpdir());
    snprintf(log, sizeof log, "%s/w.log", cs_test_tmpdir());
    srv s = srv_start(db, 3600);
    const char *a[] = {"--tracker", s.url, "--type", "gpu", "--out", out, "--idle-wait", "5",
                       NULL};
    pid_t w = spawn_worker(log, a);
    wait_status(db, "\"workers\":1", 20);
    usleep(200000);
    ASSERT_EQ(kill(w, SIGTERM), 0);
    double t0 = cs_now();
    int rc = wait_exit(w, 20, log);
    ASSERT_EQ(rc, 0);
    ASSERT(cs_now() - t0 < 3.0);
    cs_tracker_free(s.t);
    ASSERT_CONTAINS(status_json(db), "\"workers\":0");
}
