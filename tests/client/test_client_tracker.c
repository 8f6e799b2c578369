/* test_client_tracker.c - the client, the Python package and `crawlset
 * worker` against the real tracker (crawlset/tracker.h, served in-process on
 * 127.0.0.1), with the loopback origin serving data/sample/images for the
 * workers' pairs jobs on data/sample/demo.wat.gz (its image host,
 * images.crawlset.test, is sent to the origin with --connect-to). Each test
 * body runs on SQLite; the _pg variants on PostgreSQL. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client_int.h"
#include "origin.h"
#include "test.h"

typedef struct srv {
    cs_tracker *t;
    char url[64];
} srv;

static srv srv_start(const char *db, double idle)
{
    cs_tracker_options o = {0};
    o.db = db;
    o.idle_timeout = idle;
    o.upload_address = "http://store.example/up";
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

TEST_T(client_tracker_protocol_sqlite, 60)
{
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    body_protocol(db);
}

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

TEST_T(client_python_cycles_sqlite, 60)
{
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    body_python(db);
}

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

TEST_T(worker_cpu_gpu_cycle_sqlite, 120)
{
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    body_worker_cycle(db);
}

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
    usleep(300000);          /* and is inside the pipeline */
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

TEST_T(worker_killed_job_reopens_sqlite, 120)
{
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", cs_test_tmpdir());
    body_worker_killed(db);
}

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
                       out, "--connect-to", connect, "--threads", "1", "--timeout", "2",
                       NULL};
    pid_t w = spawn_worker(log, a);
    wait_open(watch, 1, 20);
    usleep(300000);
    ASSERT_EQ(kill(w, SIGTERM), 0);
    int rc = wait_exit(w, 20, log);
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
