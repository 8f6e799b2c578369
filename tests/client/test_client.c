/* test_client.c - the tracker client (crawlset/client.h) against a tiny
 * in-test HTTP server (libmicrohttpd) that answers each /api/ path with a
 * scripted status and body and records what it was sent, and against the
 * loopback origin for faults (5xx then success, endless bodies, resets).
 * The protocol end to end, against the real tracker, is in
 * test_client_tracker.c. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_int.h"
#include "origin.h"
#include "test.h"

/* ---- a scripted protocol server ---------------------------------------------- */

#define MINI_ROUTES 16

typedef struct mini_route {
    char path[64];
    int status;
    char *body; /* malloc'd */
    size_t body_len;
    int hits;
} mini_route;

typedef struct mini {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    mini_route routes[MINI_ROUTES];
    int nroutes;
    char method[8], path[128], query[512];
    char body[8192];
    int total;
} mini;

typedef struct mini_req {
    char buf[8192];
    size_t len;
} mini_req;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    char *q = cls;
    size_t n = strlen(q);
    snprintf(q + n, 512 - n, "%s%s=%s", n ? "&" : "", k, v ? v : "");
    return MHD_YES;
}

static enum MHD_Result mini_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload, size_t *upload_size, void **req_cls)
{
    mini *m = cls;
    mini_req *rq = *req_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        *req_cls = rq;
        return rq ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (rq->len + n < sizeof rq->buf) {
            memcpy(rq->buf + rq->len, upload, n);
            rq->len += n;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&m->mu);
    m->total++;
    snprintf(m->method, sizeof m->method, "%s", method);
    snprintf(m->path, sizeof m->path, "%s", url);
    m->query[0] = 0;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, m->query);
    memcpy(m->body, rq->buf, rq->len);
    m->body[rq->len] = 0;
    int status = 404;
    const char *body = "no such path\n";
    size_t blen = strlen(body);
    for (int i = 0; i < m->nroutes; i++)
        if (!strcmp(m->routes[i].path, url)) {
            m->routes[i].hits++;
            status = m->routes[i].status;
            body = m->routes[i].body;
            blen = m->routes[i].body_len;
            break;
        }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(blen, (void *)body, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&m->mu);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void mini_done(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    free(*req_cls);
    *req_cls = NULL;
}

static mini *mini_start(void)
{
    mini *m = cs_test_keep(calloc(1, sizeof *m));
    pthread_mutex_init(&m->mu, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                            mini_handler, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, mini_done, m, MHD_OPTION_END);
    ASSERT(m->d);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    ASSERT(di && di->port);
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u/", (unsigned)di->port);
    return m;
}

static void mini_stop(mini *m)
{
    MHD_stop_daemon(m->d);
    for (int i = 0; i < m->nroutes; i++)
        free(m->routes[i].body);
    pthread_mutex_destroy(&m->mu);
}

/* Scripts path's answer (replacing an earlier one). */
static void mini_set(mini *m, const char *path, int status, const char *body)
{
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->nroutes && strcmp(m->routes[i].path, path))
        i++;
    ASSERT(i < MINI_ROUTES);
    if (i == m->nroutes) {
        m->nroutes++;
        snprintf(m->routes[i].path, sizeof m->routes[i].path, "%s", path);
    }
    free(m->routes[i].body);
    m->routes[i].status = status;
    m->routes[i].body = strdup(body);
    m->routes[i].body_len = strlen(body);
    m->routes[i].hits = 0;
    pthread_mutex_unlock(&m->mu);
}

static int mini_hits(mini *m, const char *path)
{
    pthread_mutex_lock(&m->mu);
    int h = 0;
    for (int i = 0; i < m->nroutes; i++)
        if (!strcmp(m->routes[i].path, path))
            h = m->routes[i].hits;
    pthread_mutex_unlock(&m->mu);
    return h;
}

static cs_client_opts fast_opts(void)
{
    cs_client_opts o;
    cs_client_opts_init(&o);
    o.retries = 2;
    o.backoff_base = 0.01;
    o.backoff_max = 0.05;
    o.timeout_ms = 5000;
    return o;
}

static cs_client *mini_client(mini *m, cs_client_type type)
{
    mini_set(m, "/api/new", 200,
             "{\"token\":\"tok-1\",\"display_name\":\"bob-7\",\"upload_address\":\"rsync://up\"}");
    cs_client_opts o = fast_opts();
    cs_client *c;
    cs_status st = cs_client_new(&c, m->url, "bob", type, &o);
    if (st)
        FAIL("cs_client_new: %s: %s", cs_status_name(st), cs_client_errmsg(c));
    return c;
}

/* A client made from a dump (no network), aimed at base. */
static cs_client *loaded_client(const char *base, const char *type, const char *job_url)
{
    char json[2048];
    if (job_url)
        snprintf(json, sizeof json,
                 "{\"url\":\"%s\",\"type\":\"%s\",\"token\":\"tok\",\"nickname\":\"n\","
                 "\"display_name\":\"d\",\"upload_address\":\"\",\"job\":{\"url\":\"%s\","
                 "\"start_id\":100,\"end_id\":200,\"shard\":1}}",
                 base, type, job_url);
    else
        snprintf(json, sizeof json,
                 "{\"url\":\"%s\",\"type\":\"%s\",\"token\":\"tok\",\"nickname\":\"n\","
                 "\"display_name\":\"d\",\"upload_address\":\"\",\"job\":null}",
                 base, type);
    cs_client_opts o = fast_opts();
    cs_client *c;
    cs_status st = cs_client_load(&c, json, strlen(json), &o);
    if (st)
        FAIL("load: %s", cs_client_errmsg(c));
    return c;
}

/* ---- names and parsers -------------------------------------------------------- */

TEST(client_type_names)
{
    cs_client_type t;
    ASSERT(cs_client_type_parse("HYBRID", &t) && t == CS_CLIENT_HYBRID);
    ASSERT(cs_client_type_parse("cpu", &t) && t == CS_CLIENT_CPU);
    ASSERT(cs_client_type_parse("Gpu", &t) && t == CS_CLIENT_GPU);
    ASSERT(cs_client_type_parse("h", &t) && t == CS_CLIENT_HYBRID);
    ASSERT(!cs_client_type_parse("", &t));
    ASSERT(!cs_client_type_parse("tpu", &t));
    ASSERT(!cs_client_type_parse("cpus", &t));
    ASSERT_STR_EQ(cs_client_type_name(CS_CLIENT_GPU), "GPU");
    ASSERT_STR_EQ(cs_status_name(CS_ENOJOB), "ENOJOB");
    ASSERT_STR_EQ(cs_strerror(CS_EWORKER), "unknown or timed-out worker");
}

TEST(client_parse_answers)
{
    char err[256];
    char *tok, *dn, *ua;
    const char *ok = "{\"token\":\"abc\",\"display_name\":\"x\",\"upload_address\":\"u\"}";
    ASSERT_OK(cs__client_parse_new(ok, strlen(ok), &tok, &dn, &ua, err, sizeof err));
    ASSERT_STR_EQ(tok, "abc");
    ASSERT_STR_EQ(dn, "x");
    ASSERT_STR_EQ(ua, "u");
    cs_free(tok), cs_free(dn), cs_free(ua);

    static const struct {
        const char *body, *why;
    } bad_new[] = {
        {"", "not JSON"},
        {"{\"token\":", "not JSON"},
        {"[1,2]", "object"},
        {"{\"display_name\":\"x\"}", "\"token\" is missing"},
        {"{\"token\":5}", "\"token\" is not a string"},
        {"{\"token\":\"\"}", "\"token\" is empty"},
        {"{\"token\":\"a\",\"token\":\"b\"}", "not JSON"},
        {"{\"token\":\"a\",\"display_name\":[]}", "\"display_name\" is not a string"},
        {"{\"token\":\"a\\u0000b\"}", "not JSON"},
    };
    for (size_t i = 0; i < sizeof bad_new / sizeof *bad_new; i++) {
        err[0] = 0;
        cs_status st = cs__client_parse_new(bad_new[i].body, strlen(bad_new[i].body), &tok, &dn,
                                            &ua, err, sizeof err);
        cs_free(tok), cs_free(dn), cs_free(ua);
        if (st != CS_EFORMAT || !strstr(err, bad_new[i].why))
            FAIL("new %zu (%s): %s / %s", i, bad_new[i].body, cs_status_name(st), err);
    }

    cs_client_job job;
    char *url;
    const char *j = "{\"url\":\"http://x/a.wat.gz\",\"start_id\":\"1000000\",\"end_id\":2000000,"
                    "\"shard\":1,\"number\":7}";
    ASSERT_OK(cs__client_parse_job(j, strlen(j), &job, &url, err, sizeof err));
    ASSERT_STR_EQ(job.url, "http://x/a.wat.gz");
    ASSERT_UEQ(job.start_id, 1000000);
    ASSERT_UEQ(job.end_id, 2000000);
    ASSERT_EQ(job.shard_piece, 1);
    ASSERT_EQ(job.number, 7);
    cs_free(url);
    j = "{\"url\":\"p\",\"start_id\":0,\"end_id\":1e6,\"shard\":0}";
    ASSERT_OK(cs__client_parse_job(j, strlen(j), &job, &url, err, sizeof err));
    ASSERT_UEQ(job.end_id, 1000000);
    ASSERT_EQ(job.number, -1);
    cs_free(url);

    static const struct {
        const char *body, *why;
    } bad_job[] = {
        {"{\"start_id\":0,\"end_id\":1,\"shard\":0}", "\"url\" is missing"},
        {"{\"url\":\"u\",\"start_id\":-1,\"end_id\":1,\"shard\":0}", "negative"},
        {"{\"url\":\"u\",\"start_id\":0,\"end_id\":1,\"shard\":2}", "0 or 1"},
        {"{\"url\":\"u\",\"start_id\":0,\"end_id\":1,\"shard\":\"x\"}", "not a decimal"},
        {"{\"url\":\"u\",\"start_id\":5,\"end_id\":1,\"shard\":0}", "below start_id"},
        {"{\"url\":\"u\",\"start_id\":0.5,\"end_id\":1,\"shard\":0}", "whole number"},
        {"{\"url\":\"u\",\"start_id\":{},\"end_id\":1,\"shard\":0}", "not a number"},
        {"{\"url\":\"u\",\"start_id\":99999999999999999999999,\"end_id\":1,\"shard\":0}",
         "not JSON"},
        {"{\"url\":\"u\",\"start_id\":0,\"end_id\":1,\"shard\":true}", "not a number"},
        {"{\"url\":\"u\",\"start_id\":0,\"end_id\":1}", "\"shard\" is missing"},
        {"null", "object"},
    };
    for (size_t i = 0; i < sizeof bad_job / sizeof *bad_job; i++) {
        err[0] = 0;
        cs_status st =
            cs__client_parse_job(bad_job[i].body, strlen(bad_job[i].body), &job, &url, err,
                                 sizeof err);
        cs_free(url);
        if (st != CS_EFORMAT || !strstr(err, bad_job[i].why))
            FAIL("job %zu (%s): %s / %s", i, bad_job[i].body, cs_status_name(st), err);
    }

    uint64_t n;
    ASSERT_OK(cs__client_parse_count(" 42\n", 4, &n, err, sizeof err));
    ASSERT_UEQ(n, 42);
    ASSERT_ST(cs__client_parse_count("4 2", 3, &n, err, sizeof err), CS_EFORMAT);
    ASSERT_ST(cs__client_parse_count("", 0, &n, err, sizeof err), CS_EFORMAT);
    ASSERT_ST(cs__client_parse_count("-1", 2, &n, err, sizeof err), CS_EFORMAT);
    ASSERT_ST(cs__client_parse_count("99999999999999999999", 20, &n, err, sizeof err),
              CS_EFORMAT);
    bool b;
    ASSERT_OK(cs__client_parse_bool("True", 4, &b, err, sizeof err));
    ASSERT(b);
    ASSERT_OK(cs__client_parse_bool("false\n", 6, &b, err, sizeof err));
    ASSERT(!b);
    ASSERT_ST(cs__client_parse_bool("Truex", 5, &b, err, sizeof err), CS_EFORMAT);
    ASSERT_CONTAINS(err, "neither True nor False");
}

TEST(client_parse_manifest)
{
    char err[256];
    char **files;
    size_t n;
    uint64_t pairs;
    const char *m = "{\"pairs\":12,\"files\":[\"00000.tar\",\"00000.jsonl\"]}";
    ASSERT_OK(cs__client_parse_manifest(m, strlen(m), &files, &n, &pairs, err, sizeof err));
    ASSERT_EQ(n, 2);
    ASSERT_UEQ(pairs, 12);
    ASSERT_STR_EQ(files[1], "00000.jsonl");
    cs__client_free_strv(files, n);
    static const char *const bad[] = {
        "{\"files\":[\"../etc/passwd\"]}", "{\"files\":[\"a/b\"]}", "{\"files\":[\".hidden\"]}",
        "{\"files\":[\"\"]}",              "{\"files\":[1]}",       "{\"files\":\"x\"}",
        "{}",                              "{\"files\":[],\"pairs\":-3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cs_status st = cs__client_parse_manifest(bad[i], strlen(bad[i]), &files, &n, &pairs, err,
                                                 sizeof err);
        if (st != CS_EFORMAT)
            FAIL("manifest %zu (%s) accepted", i, bad[i]);
    }
}

/* ---- calls against the scripted server ---------------------------------------------- */

TEST_T(client_new_and_calls, 30)
{
    mini *m = mini_start();
    cs_client *c = mini_client(m, CS_CLIENT_CPU);
    ASSERT_STR_EQ(m->method, "GET");
    ASSERT_STR_EQ(m->path, "/api/new");
    ASSERT_STR_EQ(m->query, "nickname=bob&type=CPU");
    ASSERT_STR_EQ(cs_client_token(c), "tok-1");
    ASSERT_STR_EQ(cs_client_display_name(c), "bob-7");
    ASSERT_STR_EQ(cs_client_upload_address(c), "rsync://up");
    ASSERT_EQ(strlen(cs_client_base_url(c)), strlen(m->url) - 1); /* no trailing slash */
    ASSERT(!strncmp(cs_client_base_url(c), m->url, strlen(m->url) - 1));
    ASSERT(cs_client_job_get(c) == NULL);

    mini_set(m, "/api/jobCount", 200, "17");
    uint64_t n = 0;
    ASSERT_OK(cs_client_job_count(c, &n));
    ASSERT_UEQ(n, 17);
    ASSERT_STR_EQ(m->query, "type=CPU");

    mini_set(m, "/api/getUploadAddress", 200, "http://store/up\n");
    ASSERT_OK(cs_client_update_upload_address(c));
    ASSERT_STR_EQ(cs_client_upload_address(c), "http://store/up");

    /* markAsDone needs a job */
    ASSERT_ST(cs_client_complete_job(c, 0, "http://out/"), CS_EINVAL);

    mini_set(m, "/api/newJob", 200,
             "{\"url\":\"http://cc/a.wat.gz\",\"start_id\":3000000,\"end_id\":4000000,"
             "\"shard\":1,\"number\":5}");
    ASSERT_OK(cs_client_new_job(c));
    ASSERT_STR_EQ(m->method, "POST");
    ASSERT_STR_EQ(m->body, "{\"token\":\"tok-1\",\"type\":\"CPU\"}");
    const cs_client_job *j = cs_client_job_get(c);
    ASSERT(j);
    ASSERT_STR_EQ(j->url, "http://cc/a.wat.gz");
    ASSERT_UEQ(j->start_id, 3000000);
    ASSERT_UEQ(j->end_id, 4000000);
    ASSERT_EQ(j->shard_piece, 1);
    ASSERT_EQ(j->number, 5);

    mini_set(m, "/api/updateProgress", 200, "");
    ASSERT_OK(cs_client_log(c, "12 / 100 \"images\"\n"));
    ASSERT_STR_EQ(m->body,
                  "{\"token\":\"tok-1\",\"type\":\"CPU\",\"progress\":\"12 / 100 \\\"images\\\"\\n\"}");

    mini_set(m, "/api/validateWorker", 200, "True");
    bool alive = false;
    ASSERT_OK(cs_client_is_alive(c, &alive));
    ASSERT(alive);
    mini_set(m, "/api/validateWorker", 200, "False");
    ASSERT_OK(cs_client_is_alive(c, &alive));
    ASSERT(!alive);

    /* a CPU completion carries the URL, and needs one */
    mini_set(m, "/api/markAsDone", 200, "");
    ASSERT_ST(cs_client_complete_job(c, 3, NULL), CS_EINVAL);
    ASSERT_OK(cs_client_complete_job(c, 3, "http://out/job-3000000/_job.json"));
    ASSERT_STR_EQ(m->body, "{\"token\":\"tok-1\",\"type\":\"CPU\",\"url\":"
                           "\"http://out/job-3000000/_job.json\"}");
    ASSERT(cs_client_job_get(c) == NULL);

    mini_set(m, "/api/bye", 200, "");
    ASSERT_OK(cs_client_bye(c));
    ASSERT_STR_EQ(m->path, "/api/bye");
    ASSERT_STR_EQ(m->body, "{\"token\":\"tok-1\",\"type\":\"CPU\"}");
    cs_client_free(c);

    /* HYBRID and GPU complete with a count; GPU can hand a job back */
    c = mini_client(m, CS_CLIENT_GPU);
    ASSERT_STR_EQ(m->query, "nickname=bob&type=GPU");
    ASSERT_OK(cs_client_new_job(c));
    ASSERT_OK(cs_client_complete_job(c, 1234, NULL));
    ASSERT_STR_EQ(m->body, "{\"token\":\"tok-1\",\"type\":\"GPU\",\"count\":1234}");
    ASSERT_OK(cs_client_new_job(c));
    mini_set(m, "/api/gpuInvalidDownload", 200, "");
    ASSERT_OK(cs_client_invalid_url(c));
    ASSERT_STR_EQ(m->body, "{\"token\":\"tok-1\",\"type\":\"GPU\"}");
    ASSERT(cs_client_job_get(c) == NULL);
    ASSERT_OK(cs_client_new_job(c));
    mini_set(m, "/api/flagInvalidData", 200, "");
    ASSERT_OK(cs_client_flag_invalid_data(c));
    ASSERT_STR_EQ(m->path, "/api/flagInvalidData");
    ASSERT(cs_client_job_get(c) == NULL);
    cs_client_free(c);

    /* a nickname that needs escaping */
    mini_set(m, "/api/new", 200, "{\"token\":\"t\"}");
    cs_client_opts o = fast_opts();
    ASSERT_OK(cs_client_new(&c, m->url, "Théo & co", CS_CLIENT_HYBRID, &o));
    ASSERT_STR_EQ(m->query, "nickname=Théo & co&type=HYBRID");
    ASSERT_STR_EQ(cs_client_display_name(c), "");
    cs_client_free(c);
    mini_stop(m);
}

TEST_T(client_error_codes, 30)
{
    mini *m = mini_start();
    cs_client *c = mini_client(m, CS_CLIENT_HYBRID);
    static const struct {
        int status;
        cs_status want;
        int hits; /* 1 + retries for 5xx */
    } cases[] = {
        {400, CS_EBADREQ, 1}, {403, CS_ENOJOB, 1}, {404, CS_EWORKER, 1},
        {500, CS_ESERVER, 3}, {503, CS_ESERVER, 3}, {418, CS_EHTTP, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[64];
        snprintf(body, sizeof body, "reason %d\nsecond line", cases[i].status);
        mini_set(m, "/api/newJob", cases[i].status, body);
        cs_status st = cs_client_new_job(c);
        if (st != cases[i].want)
            FAIL("HTTP %d: got %s (%s)", cases[i].status, cs_status_name(st),
                 cs_client_errmsg(c));
        ASSERT_EQ(mini_hits(m, "/api/newJob"), cases[i].hits);
        ASSERT_EQ(cs_client_http_status(c), cases[i].status);
        char want[64];
        snprintf(want, sizeof want, "newJob: HTTP %d: reason %d", cases[i].status,
                 cases[i].status);
        ASSERT_STR_EQ(cs_client_errmsg(c), want);
        ASSERT(cs_client_job_get(c) == NULL);
    }
    /* every call maps the codes the same way */
    mini_set(m, "/api/updateProgress", 404, "unknown token");
    ASSERT_ST(cs_client_log(c, "x"), CS_EWORKER);
    mini_set(m, "/api/validateWorker", 400, "bad json");
    bool alive;
    ASSERT_ST(cs_client_is_alive(c, &alive), CS_EBADREQ);
    mini_set(m, "/api/jobCount", 502, "gateway");
    uint64_t n;
    ASSERT_ST(cs_client_job_count(c, &n), CS_ESERVER);
    mini_set(m, "/api/bye", 404, "unknown token");
    ASSERT_ST(cs_client_bye(c), CS_EWORKER);
    /* new itself */
    mini_set(m, "/api/new", 400, "bad type");
    cs_client *c2;
    cs_client_opts o = fast_opts();
    ASSERT_ST(cs_client_new(&c2, m->url, "x", CS_CLIENT_CPU, &o), CS_EBADREQ);
    ASSERT_CONTAINS(cs_client_errmsg(c2), "bad type");
    cs_client_free(c2);
    ASSERT_ST(cs_client_new(&c2, "ftp://x", "x", CS_CLIENT_CPU, &o), CS_EINVAL);
    cs_client_free(c2);
    cs_client_free(c);
    mini_stop(m);
}

TEST_T(client_hostile_answers, 30)
{
    mini *m = mini_start();
    cs_client *c = mini_client(m, CS_CLIENT_HYBRID);
    mini_set(m, "/api/newJob", 200, "<html>oops</html>");
    ASSERT_ST(cs_client_new_job(c), CS_EFORMAT);
    ASSERT_CONTAINS(cs_client_errmsg(c), "not JSON");
    mini_set(m, "/api/newJob", 200, "{\"url\":7,\"start_id\":0,\"end_id\":1,\"shard\":0}");
    ASSERT_ST(cs_client_new_job(c), CS_EFORMAT);
    ASSERT_CONTAINS(cs_client_errmsg(c), "\"url\" is not a string");
    ASSERT(cs_client_job_get(c) == NULL);
    mini_set(m, "/api/jobCount", 200, "lots");
    uint64_t n;
    ASSERT_ST(cs_client_job_count(c, &n), CS_EFORMAT);
    mini_set(m, "/api/validateWorker", 200, "maybe");
    bool alive;
    ASSERT_ST(cs_client_is_alive(c, &alive), CS_EFORMAT);
    /* a body over max_body */
    size_t big = (1u << 20) + 10;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    mini_set(m, "/api/newJob", 200, huge);
    free(huge);
    ASSERT_ST(cs_client_new_job(c), CS_ETOOBIG);
    ASSERT_CONTAINS(cs_client_errmsg(c), "larger than 1048576 bytes");
    /* a token past the length limit */
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_puts(&b, "{\"token\":\"");
    for (int i = 0; i < 5000; i++)
        cs_buf_putc(&b, 'x');
    cs_buf_puts(&b, "\"}");
    mini_set(m, "/api/new", 200, b.data);
    cs_buf_cleanup(&b);
    cs_client *c2;
    cs_client_opts o = fast_opts();
    ASSERT_ST(cs_client_new(&c2, m->url, "x", CS_CLIENT_CPU, &o), CS_EFORMAT);
    ASSERT_CONTAINS(cs_client_errmsg(c2), "\"token\" is 5000 bytes");
    cs_client_free(c2);
    cs_client_free(c);
    mini_stop(m);

    /* an endless answer (no length, chunked) stops at the cap */
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    cs_origin_route r = {.endless = true};
    ASSERT_OK(cs_origin_route_add(org, "/api/newJob", &r));
    c = loaded_client(cs_origin_url(org), "CPU", NULL);
    ASSERT_ST(cs_client_new_job(c), CS_ETOOBIG);
    /* a reset mid-answer is a network error, retried */
    cs_origin_route rs = {.body = "{\"url\":\"x\"}", .body_len = 11, .close_early = true,
                          .close_after = 3, .reset = true};
    ASSERT_OK(cs_origin_route_add(org, "/api/newJob", &rs));
    ASSERT_ST(cs_client_new_job(c), CS_ENET);
    ASSERT_EQ(cs_origin_count(org, "/api/newJob"), 4); /* endless once, then 1 + 2 retries */
    cs_client_free(c);
    cs_origin_stop(org);
}

TEST_T(client_retries_then_succeeds, 30)
{
    cs_origin *org;
    ASSERT_OK(cs_origin_start(&org));
    const char *job = "{\"url\":\"/data/a.wat.gz\",\"start_id\":0,\"end_id\":10,\"shard\":0}";
    cs_origin_route r = {.body = job, .body_len = strlen(job), .fail_times = 2,
                         .fail_status = 503};
    ASSERT_OK(cs_origin_route_add(org, "/api/newJob", &r));
    cs_client *c = loaded_client(cs_origin_url(org), "HYBRID", NULL);
    double t0 = cs_now();
    ASSERT_OK(cs_client_new_job(c));
    ASSERT_EQ(cs_origin_count(org, "/api/newJob"), 3);
    ASSERT(cs_now() - t0 < 2.0);
    ASSERT_STR_EQ(cs_client_job_get(c)->url, "/data/a.wat.gz");
    /* a request that keeps failing: 1 + retries attempts, backoff between them */
    cs_origin_route r2 = {.status = 500, .body = "db down", .body_len = 7};
    ASSERT_OK(cs_origin_route_add(org, "/api/updateProgress", &r2));
    ASSERT_ST(cs_client_log(c, "x"), CS_ESERVER);
    ASSERT_EQ(cs_origin_count(org, "/api/updateProgress"), 3);
    ASSERT_CONTAINS(cs_client_errmsg(c), "HTTP 500: db down");
    cs_client_free(c);

    /* cancel: the retry wait stops at once */
    cs_client_opts o = fast_opts();
    o.backoff_base = 30;
    o.backoff_max = 30;
    volatile int stop = 1;
    o.cancel = (const volatile int *)&stop;
    char dump[256];
    snprintf(dump, sizeof dump, "{\"url\":\"%s\",\"type\":\"CPU\",\"token\":\"t\"}",
             cs_origin_url(org));
    ASSERT_OK(cs_client_load(&c, dump, strlen(dump), &o));
    t0 = cs_now();
    ASSERT_ST(cs_client_log(c, "x"), CS_ECANCELED);
    ASSERT(cs_now() - t0 < 5.0);
    cs_client_free(c);
    cs_origin_stop(org);
}

TEST_T(client_connection_refused, 30)
{
    /* a port nobody listens on: bind, learn the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t sl = sizeof sa;
    ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    cs_client_opts o = fast_opts();
    cs_client *c;
    double t0 = cs_now();
    ASSERT_ST(cs_client_new(&c, url, "x", CS_CLIENT_CPU, &o), CS_ENET);
    ASSERT(cs_now() - t0 < 5.0);
    ASSERT_CONTAINS(cs_client_errmsg(c), "new: ");
    cs_client_free(c);
}

TEST(client_dump_load)
{
    mini *m = mini_start();
    cs_client *c = mini_client(m, CS_CLIENT_CPU);
    mini_set(m, "/api/newJob", 200,
             "{\"url\":\"s3 \\\"odd\\\" name\",\"start_id\":5,\"end_id\":9,\"shard\":1,\"number\":3}");
    ASSERT_OK(cs_client_new_job(c));
    char *json;
    size_t len;
    ASSERT_OK(cs_client_dump(c, &json, &len));
    ASSERT_EQ(len, strlen(json));
    cs_client *d;
    ASSERT_OK(cs_client_load(&d, json, len, NULL));
    ASSERT_STR_EQ(cs_client_token(d), "tok-1");
    ASSERT_STR_EQ(cs_client_nickname(d), "bob");
    ASSERT_STR_EQ(cs_client_display_name(d), "bob-7");
    ASSERT_STR_EQ(cs_client_base_url(d), cs_client_base_url(c));
    ASSERT_EQ(cs_client_get_type(d), CS_CLIENT_CPU);
    const cs_client_job *j = cs_client_job_get(d);
    ASSERT(j);
    ASSERT_STR_EQ(j->url, "s3 \"odd\" name");
    ASSERT_UEQ(j->start_id, 5);
    ASSERT_UEQ(j->end_id, 9);
    ASSERT_EQ(j->shard_piece, 1);
    ASSERT_EQ(j->number, 3);
    /* the loaded client talks to the same server with the same token */
    mini_set(m, "/api/markAsDone", 200, "");
    ASSERT_OK(cs_client_complete_job(d, 0, "/out/x"));
    ASSERT_STR_EQ(m->body, "{\"token\":\"tok-1\",\"type\":\"CPU\",\"url\":\"/out/x\"}");
    char *json2;
    ASSERT_OK(cs_client_dump(d, &json2, NULL));
    ASSERT_CONTAINS(json2, "\"job\":null");
    cs_free(json2);
    cs_client_free(d);

    char path[600];
    snprintf(path, sizeof path, "%s/client.json", cs_test_tmpdir());
    ASSERT_OK(cs_client_dump_file(c, path));
    ASSERT_OK(cs_client_load_file(&d, path, NULL));
    ASSERT_STR_EQ(cs_client_job_get(d)->url, "s3 \"odd\" name");
    cs_client_free(d);
    ASSERT_ST(cs_client_load_file(&d, "/nonexistent/x.json", NULL), CS_ENOTFOUND);
    cs_client_free(d);
    cs_free(json);
    cs_client_free(c);
    mini_stop(m);

    static const char *const bad[] = {
        "",
        "[]",
        "{\"url\":\"http://x\",\"type\":\"CPU\"}",
        "{\"url\":\"ftp://x\",\"type\":\"CPU\",\"token\":\"t\"}",
        "{\"url\":\"http://x\",\"type\":\"TPU\",\"token\":\"t\"}",
        "{\"url\":\"http://x\",\"type\":\"CPU\",\"token\":\"t\",\"job\":{\"url\":\"u\"}}",
        "{\"url\":\"http://x\",\"type\":\"CPU\",\"token\":\"t\",\"job\":5}",
        "{\"url\":\"http://x\",\"type\":\"CPU\",\"token\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cs_status st = cs_client_load(&d, bad[i], strlen(bad[i]), NULL);
        if (st != CS_EFORMAT)
            FAIL("load %zu (%s): %s", i, bad[i], cs_status_name(st));
        ASSERT(cs_client_errmsg(d)[0]);
        cs_client_free(d);
    }
}

/* ---- downloads ------------------------------------------------------------------------ */

TEST_T(client_download_shard_cpu, 30)
{
    const char *dir = cs_test_tmpdir();
    char src[600], dl[600];
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dl, sizeof dl, "%s/dl", dir);
    mkdir(src, 0777);
    char data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    char p[700];
    snprintf(p, sizeof p, "%s/CC-1.wat.gz", src);
    cs_test_write_file(p, data, sizeof data);

    cs_origin_opts oo = {.root = src};
    cs_origin *org;
    ASSERT_OK(cs_origin_start_opts(&org, &oo));
    /* progress lines go to updateProgress */
    ASSERT_OK(cs_origin_route_simple(org, "/api/updateProgress", 200, ""));
    char url[300];
    snprintf(url, sizeof url, "%s/CC-1.wat.gz?x=1", cs_origin_url(org));
    cs_client *c = loaded_client(cs_origin_url(org), "HYBRID", url);
    char *path;
    ASSERT_OK(cs_client_download_shard(c, dl, &path));
    char want[700];
    snprintf(want, sizeof want, "%s/CC-1.wat.gz", dl);
    ASSERT_STR_EQ(path, want);
    size_t n;
    char *got = cs_test_read_file(path, &n);
    ASSERT_MEM_EQ(got, n, data, sizeof data);
    cs_free(got);
    cs_free(path);
    ASSERT_EQ(cs_origin_count(org, "/api/updateProgress"), 2);
    cs_client_free(c);

    /* missing upstream file: not found, no retries for a 404, no .part left */
    snprintf(url, sizeof url, "%s/missing.wat.gz", cs_origin_url(org));
    c = loaded_client(cs_origin_url(org), "CPU", url);
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_ENOTFOUND);
    ASSERT(!path);
    snprintf(p, sizeof p, "%s/missing.wat.gz.part", dl);
    ASSERT(access(p, F_OK) != 0);
    cs_client_free(c);

    /* larger than max_download */
    snprintf(url, sizeof url, "%s/CC-1.wat.gz", cs_origin_url(org));
    char json[1024];
    snprintf(json, sizeof json,
             "{\"url\":\"%s\",\"type\":\"CPU\",\"token\":\"t\",\"job\":{\"url\":\"%s\","
             "\"start_id\":0,\"end_id\":1,\"shard\":0}}",
             cs_origin_url(org), url);
    cs_client_opts o = fast_opts();
    o.max_download = 1000;
    ASSERT_OK(cs_client_load(&c, json, strlen(json), &o));
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_ETOOBIG);
    cs_client_free(c);

    /* a local path is used where it is */
    snprintf(p, sizeof p, "%s/CC-1.wat.gz", src);
    snprintf(json, sizeof json,
             "{\"url\":\"%s\",\"type\":\"CPU\",\"token\":\"t\",\"job\":{\"url\":\"file://%s\","
             "\"start_id\":0,\"end_id\":1,\"shard\":0}}",
             cs_origin_url(org), p);
    ASSERT_OK(cs_client_load(&c, json, strlen(json), NULL));
    ASSERT_OK(cs_client_download_shard(c, dl, &path));
    ASSERT_STR_EQ(path, p);
    cs_free(path);
    cs_client_free(c);
    c = loaded_client(cs_origin_url(org), "CPU", "/nonexistent/input.wat.gz");
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_ENOTFOUND);
    ASSERT_CONTAINS(cs_client_errmsg(c), "/nonexistent/input.wat.gz");
    cs_client_free(c);
    c = loaded_client(cs_origin_url(org), "CPU", "gopher://x/y");
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_EUNSUPPORTED);
    cs_client_free(c);
    cs_origin_stop(org);
}

TEST_T(client_download_shard_gpu, 30)
{
    const char *dir = cs_test_tmpdir();
    char out[600], dl[600], p[700];
    snprintf(out, sizeof out, "%s/out/job-1", dir);
    snprintf(p, sizeof p, "%s/out", dir);
    mkdir(p, 0777);
    mkdir(out, 0777);
    snprintf(dl, sizeof dl, "%s/gpu/in", dir);
    static const char *const files[] = {"00000.tar", "00000.jsonl", "00000_stats.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        char body[64];
        snprintf(body, sizeof body, "content of %s\n", files[i]);
        cs_test_write_file(p, body, strlen(body));
    }
    cs_client_job job = {.url = "x.wat.gz", .start_id = 1, .end_id = 2, .number = -1};
    char err[256];
    ASSERT_OK(cs_client_manifest_write(out, &job, 7, files, 3, err, sizeof err));
    static const char *const evil[] = {"../x"};
    ASSERT_ST(cs_client_manifest_write(out, &job, 7, evil, 1, err, sizeof err), CS_EINVAL);

    cs_origin_opts oo = {.root = dir};
    cs_origin *org;
    ASSERT_OK(cs_origin_start_opts(&org, &oo));
    ASSERT_OK(cs_origin_route_simple(org, "/api/updateProgress", 200, ""));
    char url[300];
    /* the directory URL: the manifest is fetched from DIR/_job.json */
    snprintf(url, sizeof url, "%s/out/job-1/", cs_origin_url(org));
    cs_client *c = loaded_client(cs_origin_url(org), "GPU", url);
    char *path;
    ASSERT_OK(cs_client_download_shard(c, dl, &path));
    ASSERT_STR_EQ(path, dl);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dl, files[i]);
        size_t n;
        char *got = cs_test_read_file(p, &n);
        char body[64];
        snprintf(body, sizeof body, "content of %s\n", files[i]);
        ASSERT_STR_EQ(got, body);
        cs_free(got);
    }
    cs_free(path);
    cs_client_free(c);

    /* a local manifest: its directory, after checking the files */
    snprintf(p, sizeof p, "%s/_job.json", out);
    c = loaded_client(cs_origin_url(org), "GPU", p);
    ASSERT_OK(cs_client_download_shard(c, dl, &path));
    ASSERT_STR_EQ(path, out);
    cs_free(path);
    cs_client_free(c);
    snprintf(p, sizeof p, "%s/00000.tar", out);
    unlink(p);
    snprintf(p, sizeof p, "%s/_job.json", out);
    c = loaded_client(cs_origin_url(org), "GPU", p);
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_ENOTFOUND);
    ASSERT_CONTAINS(cs_client_errmsg(c), "00000.tar");
    cs_client_free(c);

    /* a hostile manifest over HTTP never writes outside dir */
    snprintf(p, sizeof p, "%s/out/evil.json", dir);
    const char *bad = "{\"files\":[\"../../escape\"]}";
    cs_test_write_file(p, bad, strlen(bad));
    snprintf(url, sizeof url, "%s/out/evil.json", cs_origin_url(org));
    c = loaded_client(cs_origin_url(org), "GPU", url);
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_EFORMAT);
    ASSERT_CONTAINS(cs_client_errmsg(c), "not a plain file name");
    cs_client_free(c);
    /* a missing output: the GPU worker learns it cannot be fetched */
    snprintf(url, sizeof url, "%s/out/none/", cs_origin_url(org));
    c = loaded_client(cs_origin_url(org), "GPU", url);
    ASSERT_ST(cs_client_download_shard(c, dl, &path), CS_ENOTFOUND);
    cs_client_free(c);
    cs_origin_stop(org);
}
