/* client.c - the tracker client (crawlset/client.h): one worker's calls over
 * libcurl's easy interface (one handle per client, so the connection to the
 * tracker is reused), with bounded answers and retries with backoff and
 * jitter on network errors and 5xx. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client/client_int.h"

struct cs_client {
    cs_client_opts o;       /* copied; user_agent points at ua */
    char *ua;               /* owned */
    char *base;             /* tracker URL without a trailing slash */
    char *nickname;
    char *token;
    char *display_name;
    char *upload_address;
    cs_client_type type;
    bool has_job;
    cs_client_job job;      /* job.url points at job_url */
    char *job_url;
    CURL *curl;             /* created on first use */
    int http_status;        /* of the last answer */
    uint64_t rng;           /* jitter */
    char err[512];
};

/* ---- small helpers ------------------------------------------------------- */

static void seterr(cs_client *c, const char *fmt, ...) CS_PRINTF(2, 3);
static void seterr(cs_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

const char *cs_client_type_name(cs_client_type t)
{
    switch (t) {
    case CS_CLIENT_CPU: return "CPU";
    case CS_CLIENT_GPU: return "GPU";
    default: return "HYBRID";
    }
}

bool cs_client_type_parse(const char *s, cs_client_type *out)
{
    static const char *const names[] = {"hybrid", "cpu", "gpu"};
    if (!s || !*s)
        return false;
    size_t n = strlen(s);
    for (int i = 0; i < 3; i++) {
        if (n <= strlen(names[i]) && !strncasecmp(s, names[i], n)) {
            *out = (cs_client_type)i;
            return true;
        }
    }
    return false;
}

void cs_client_opts_init(cs_client_opts *o)
{
    memset(o, 0, sizeof *o);
    o->retries = 5;
    o->backoff_base = 1.0;
    o->backoff_max = 60.0;
    o->timeout_ms = 30000;
    o->download_timeout_ms = 3600000;
    o->max_body = 1u << 20;
    o->max_download = (uint64_t)16 << 30;
}

static uint64_t next_rand(cs_client *c)
{
    /* xorshift64*: jitter only, not security */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717ull;
}

static bool canceled(const cs_client *c)
{
    return c->o.cancel && *c->o.cancel;
}

/* Waits before retry number `attempt` (0-based): base * 2^attempt, capped,
 * times a random factor in [0.5, 1]. false when canceled meanwhile. */
static bool backoff(cs_client *c, unsigned attempt)
{
    double d = c->o.backoff_base;
    for (unsigned i = 0; i < attempt && d < c->o.backoff_max; i++)
        d *= 2;
    if (d > c->o.backoff_max)
        d = c->o.backoff_max;
    d *= 0.5 + 0.5 * (double)(next_rand(c) >> 11) / 9007199254740992.0;
    double end = cs_now() + d;
    for (;;) {
        if (canceled(c))
            return false;
        double left = end - cs_now();
        if (left <= 0)
            return true;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void init_state(cs_client *c, const cs_client_opts *opts)
{
    if (opts)
        c->o = *opts;
    else
        cs_client_opts_init(&c->o);
    if (c->o.max_body == 0)
        c->o.max_body = 1u << 20;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = 30000;
    if (c->o.download_timeout_ms <= 0)
        c->o.download_timeout_ms = 3600000;
    if (c->o.max_download == 0)
        c->o.max_download = (uint64_t)16 << 30;
    if (!(c->o.backoff_base >= 0))
        c->o.backoff_base = 1.0;
    if (!(c->o.backoff_max >= c->o.backoff_base))
        c->o.backoff_max = c->o.backoff_base;
    c->rng = (uint64_t)(cs_now() * 1e9) ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)c;
    if (!c->rng)
        c->rng = 88172645463325252ull;
}

static cs_status new_blank(cs_client **out, const cs_client_opts *opts)
{
    cs_client *c = cs_calloc(1, sizeof *c);
    *out = c;
    if (!c)
        return CS_ENOMEM;
    init_state(c, opts);
    c->ua = cs_strdup(c->o.user_agent ? c->o.user_agent : "crawlset-client/0.1");
    if (!c->ua)
        return CS_ENOMEM;
    c->o.user_agent = c->ua;
    c->o.cancel = opts ? opts->cancel : NULL;
    return CS_OK;
}

static void drop_job(cs_client *c)
{
    cs_free(c->job_url);
    c->job_url = NULL;
    memset(&c->job, 0, sizeof c->job);
    c->has_job = false;
}

void cs_client_free(cs_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    drop_job(c);
    cs_free(c->ua);
    cs_free(c->base);
    cs_free(c->nickname);
    cs_free(c->token);
    cs_free(c->display_name);
    cs_free(c->upload_address);
    cs_free(c);
}

const char *cs_client_errmsg(const cs_client *c)
{
    return c ? c->err : "out of memory";
}
int cs_client_http_status(const cs_client *c) { return c->http_status; }
cs_client_type cs_client_get_type(const cs_client *c) { return c->type; }
const char *cs_client_base_url(const cs_client *c) { return c->base ? c->base : ""; }
const char *cs_client_nickname(const cs_client *c) { return c->nickname ? c->nickname : ""; }
const char *cs_client_token(const cs_client *c) { return c->token ? c->token : ""; }
const char *cs_client_display_name(const cs_client *c)
{
    return c->display_name ? c->display_name : "";
}
const char *cs_client_upload_address(const cs_client *c)
{
    return c->upload_address ? c->upload_address : "";
}
const cs_client_job *cs_client_job_get(const cs_client *c)
{
    return c->has_job ? &c->job : NULL;
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct sink {
    cs_buf *buf;      /* in-memory answer, or */
    FILE *file;       /* a download */
    uint64_t written;
    uint64_t max;
    bool too_big;
    bool io_error;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = size * n;
    if (s->written + len > s->max) {
        s->too_big = true;
        return 0;
    }
    if (s->buf) {
        if (cs_buf_append(s->buf, p, len)) {
            s->too_big = true;
            return 0;
        }
    } else if (fwrite(p, 1, len, s->file) != len) {
        s->io_error = true;
        return 0;
    }
    s->written += len;
    return len;
}

static bool retryable_curl(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
           rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_PARTIAL_FILE || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR;
}

/* The first line of a server's answer, made printable and short, for
 * messages. */
static void reason_line(const cs_buf *b, char *out, size_t cap)
{
    size_t o = 0;
    if (b && b->data)
        for (size_t i = 0; i < b->len && o + 1 < cap && o < 200; i++) {
            unsigned char ch = (unsigned char)b->data[i];
            if (ch == '\n' || ch == '\r')
                break;
            out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
    out[o] = 0;
}

static cs_status ensure_curl(cs_client *c)
{
    if (!c->curl && !(c->curl = curl_easy_init())) {
        seterr(c, "cannot set up libcurl");
        return CS_ENOMEM;
    }
    return CS_OK;
}

typedef enum { M_GET, M_POST, M_PUT } method;

/* One transfer on the client's handle. */
static CURLcode perform(cs_client *c, method m, const char *url, const char *body, FILE *upload,
                        curl_off_t upload_len, sink *s, long timeout_ms, long *code,
                        char *cerr)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    cerr[0] = 0;
    struct curl_slist *hdrs = NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->o.user_agent);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 30000 ? timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max);
    if (m == M_POST) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (m == M_PUT) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READDATA, upload);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, upload_len);
    } else {
        /* downloads (not API calls) may be redirected to a store */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    }
    if (m == M_POST && !hdrs) {
        curl_easy_reset(h);
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode rc = curl_easy_perform(h);
    *code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(hdrs);
    return rc;
}

/* The retry loop around perform() for an API call (what names it in
 * messages). resp receives the answer body (bounded by max_body). */
static cs_status call(cs_client *c, const char *what, method m, const char *url,
                      const char *body, cs_buf *resp)
{
    cs_status st = ensure_curl(c);
    if (st)
        return st;
    char cerr[CURL_ERROR_SIZE];
    for (unsigned attempt = 0;; attempt++) {
        cs_buf_reset(resp);
        sink s = {.buf = resp, .max = c->o.max_body};
        long code = 0;
        CURLcode rc = perform(c, m, url, body, NULL, 0, &s, c->o.timeout_ms, &code, cerr);
        c->http_status = (int)code;
        bool retry = false;
        if (s.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            seterr(c, "%s: the answer is larger than %zu bytes", what, c->o.max_body);
            return CS_ETOOBIG;
        }
        if (rc == CURLE_OUT_OF_MEMORY) {
            seterr(c, "%s: out of memory", what);
            return CS_ENOMEM;
        }
        if (rc != CURLE_OK) {
            seterr(c, "%s: %s", what, cerr[0] ? cerr : curl_easy_strerror(rc));
            st = CS_ENET;
            retry = retryable_curl(rc);
        } else if (code >= 200 && code < 300) {
            c->err[0] = 0;
            return CS_OK;
        } else {
            char line[256];
            reason_line(resp, line, sizeof line);
            seterr(c, "%s: HTTP %ld%s%s", what, code, line[0] ? ": " : "", line);
            if (code == 400)
                st = CS_EBADREQ;
            else if (code == 403)
                st = CS_ENOJOB;
            else if (code == 404)
                st = CS_EWORKER;
            else if (code >= 500 && code < 600) {
                st = CS_ESERVER;
                retry = true;
            } else
                st = CS_EHTTP;
        }
        if (!retry || attempt >= c->o.retries)
            return st;
        if (!backoff(c, attempt)) {
            seterr(c, "%s: canceled while waiting to retry", what);
            return CS_ECANCELED;
        }
    }
}

/* BASE/api/NAME */
static cs_status api_url(cs_client *c, cs_buf *u, const char *name)
{
    cs_buf_reset(u);
    cs_buf_puts(u, c->base);
    cs_buf_puts(u, "/api/");
    return cs_buf_puts(u, name);
}

/* {"token":...,"type":...[,extra]} */
static cs_status body_token(cs_client *c, cs_buf *b, const char *extra_key, const char *extra_str,
                            const uint64_t *extra_num)
{
    cs_buf_reset(b);
    cs_buf_puts(b, "{\"token\":");
    cs_json_put_str(b, c->token, strlen(c->token));
    cs_buf_puts(b, ",\"type\":\"");
    cs_buf_puts(b, cs_client_type_name(c->type));
    cs_buf_putc(b, '"');
    if (extra_key) {
        cs_buf_printf(b, ",\"%s\":", extra_key);
        if (extra_str)
            cs_json_put_str(b, extra_str, strlen(extra_str));
        else
            cs_buf_printf(b, "%llu", (unsigned long long)*extra_num);
    }
    return cs_buf_putc(b, '}');
}

/* A POST with the token body; the answer in resp. */
static cs_status post_token(cs_client *c, const char *name, const char *extra_key,
                            const char *extra_str, const uint64_t *extra_num, cs_buf *resp)
{
    if (!c->token) {
        seterr(c, "%s: the client has no token", name);
        return CS_EINVAL;
    }
    cs_buf u, b;
    cs_buf_init(&u, 0);
    cs_buf_init(&b, 0);
    cs_status st = api_url(c, &u, name);
    if (!st)
        st = body_token(c, &b, extra_key, extra_str, extra_num);
    if (st)
        seterr(c, "%s: out of memory", name);
    else
        st = call(c, name, M_POST, u.data, b.data, resp);
    cs_buf_cleanup(&u);
    cs_buf_cleanup(&b);
    return st;
}

static cs_status get_typed(cs_client *c, const char *name, const char *query, cs_buf *resp)
{
    cs_buf u;
    cs_buf_init(&u, 0);
    cs_status st = api_url(c, &u, name);
    if (!st) {
        cs_buf_putc(&u, '?');
        st = cs_buf_puts(&u, query);
    }
    if (st)
        seterr(c, "%s: out of memory", name);
    else
        st = call(c, name, M_GET, u.data, NULL, resp);
    cs_buf_cleanup(&u);
    return st;
}

/* ---- the calls --------------------------------------------------------------- */

static cs_status set_base(cs_client *c, const char *base)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    cs_free(c->base);
    c->base = cs_strndup(base, n);
    return c->base ? CS_OK : CS_ENOMEM;
}

static bool http_url(const char *s)
{
    return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

cs_status cs_client_new(cs_client **out, const char *base, const char *nickname,
                        cs_client_type type, const cs_client_opts *opts)
{
    cs_client *c;
    cs_status st = new_blank(&c, opts);
    *out = c;
    if (st)
        return st;
    if (!base || !http_url(base)) {
        seterr(c, "new: the tracker URL must start with http:// or https://");
        return CS_EINVAL;
    }
    if ((unsigned)type > CS_CLIENT_GPU) {
        seterr(c, "new: unknown worker type %d", (int)type);
        return CS_EINVAL;
    }
    if (!nickname)
        nickname = "anonymous";
    if (strlen(nickname) > CS__CLIENT_MAX_STR) {
        seterr(c, "new: the nickname is longer than %d bytes", CS__CLIENT_MAX_STR);
        return CS_EINVAL;
    }
    c->type = type;
    if (set_base(c, base) || !(c->nickname = cs_strdup(nickname)) || ensure_curl(c)) {
        seterr(c, "new: out of memory");
        return CS_ENOMEM;
    }
    char *esc = curl_easy_escape(c->curl, nickname, (int)strlen(nickname));
    if (!esc) {
        seterr(c, "new: out of memory");
        return CS_ENOMEM;
    }
    cs_buf q, resp;
    cs_buf_init(&q, 0);
    cs_buf_init(&resp, 0);
    cs_buf_printf(&q, "nickname=%s&type=%s", esc, cs_client_type_name(type));
    curl_free(esc);
    st = q.data ? get_typed(c, "new", q.data, &resp) : CS_ENOMEM;
    if (!st) {
        st = cs__client_parse_new(resp.data ? resp.data : "", resp.len, &c->token,
                                  &c->display_name, &c->upload_address, c->err, sizeof c->err);
        if (st == CS_ENOMEM)
            seterr(c, "new: out of memory");
    }
    cs_buf_cleanup(&q);
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_job_count(cs_client *c, uint64_t *count)
{
    char q[32];
    snprintf(q, sizeof q, "type=%s", cs_client_type_name(c->type));
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st = get_typed(c, "jobCount", q, &resp);
    if (!st)
        st = cs__client_parse_count(resp.data, resp.len, count, c->err, sizeof c->err);
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_update_upload_address(cs_client *c)
{
    char q[32];
    snprintf(q, sizeof q, "type=%s", cs_client_type_name(c->type));
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st = get_typed(c, "getUploadAddress", q, &resp);
    if (!st) {
        cs_slice s = cs_slice_trim((cs_slice){resp.data, resp.len});
        if (s.len > CS__CLIENT_MAX_STR || memchr(s.ptr ? s.ptr : "", 0, s.len)) {
            seterr(c, "getUploadAddress: the answer is not one line of text");
            st = CS_EFORMAT;
        } else {
            char *a = cs_strndup(s.ptr ? s.ptr : "", s.len);
            if (!a) {
                st = CS_ENOMEM;
            } else {
                cs_free(c->upload_address);
                c->upload_address = a;
            }
        }
    }
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_new_job(cs_client *c)
{
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st = post_token(c, "newJob", NULL, NULL, NULL, &resp);
    if (!st) {
        cs_client_job job;
        char *url;
        st = cs__client_parse_job(resp.data ? resp.data : "", resp.len, &job, &url, c->err,
                                  sizeof c->err);
        if (!st) {
            drop_job(c);
            c->job = job;
            c->job_url = url;
            c->job.url = url;
            c->has_job = true;
        } else {
            cs_free(url);
        }
    }
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_complete_job(cs_client *c, uint64_t count, const char *url)
{
    if (!c->has_job) {
        seterr(c, "markAsDone: no job held");
        return CS_EINVAL;
    }
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st;
    if (c->type == CS_CLIENT_CPU) {
        if (!url || !*url || strlen(url) > CS__CLIENT_MAX_STR) {
            seterr(c, "markAsDone: a CPU job completes with the URL of its output");
            cs_buf_cleanup(&resp);
            return CS_EINVAL;
        }
        st = post_token(c, "markAsDone", "url", url, NULL, &resp);
    } else {
        st = post_token(c, "markAsDone", "count", NULL, &count, &resp);
    }
    if (!st)
        drop_job(c);
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_log(cs_client *c, const char *progress)
{
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st = post_token(c, "updateProgress", "progress", progress ? progress : "", NULL,
                              &resp);
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_is_alive(cs_client *c, bool *alive)
{
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st = post_token(c, "validateWorker", NULL, NULL, NULL, &resp);
    if (!st)
        st = cs__client_parse_bool(resp.data, resp.len, alive, c->err, sizeof c->err);
    cs_buf_cleanup(&resp);
    return st;
}

static cs_status release_call(cs_client *c, const char *name)
{
    cs_buf resp;
    cs_buf_init(&resp, 0);
    cs_status st = post_token(c, name, NULL, NULL, NULL, &resp);
    if (!st)
        drop_job(c);
    cs_buf_cleanup(&resp);
    return st;
}

cs_status cs_client_invalid_url(cs_client *c) { return release_call(c, "gpuInvalidDownload"); }
cs_status cs_client_flag_invalid_data(cs_client *c) { return release_call(c, "flagInvalidData"); }
cs_status cs_client_bye(cs_client *c) { return release_call(c, "bye"); }

/* Progress during a download: a failure to report it is not fatal. */
static void progress(cs_client *c, const char *line)
{
    if (cs_client_log(c, line))
        c->err[0] = 0;
}

/* ---- downloads ----------------------------------------------------------------- */

static cs_status mkdirs(cs_client *c, const char *dir)
{
    char *p = cs_strdup(dir);
    if (!p)
        return CS_ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        mkdir(p, 0777);
        *s = '/';
    }
    cs_status st = CS_OK;
    if (mkdir(p, 0777) && errno != EEXIST) {
        seterr(c, "%s: cannot create the directory: %s", dir, strerror(errno));
        st = CS_EIO;
    }
    cs_free(p);
    return st;
}

/* Downloads url into path (through path.part, renamed when complete). */
static cs_status download(cs_client *c, const char *url, const char *path)
{
    cs_status st = ensure_curl(c);
    if (st)
        return st;
    size_t n = strlen(path);
    char *part = cs_malloc(n + 6);
    if (!part)
        return CS_ENOMEM;
    memcpy(part, path, n);
    memcpy(part + n, ".part", 6);
    char cerr[CURL_ERROR_SIZE];
    cs_buf errbody;
    cs_buf_init(&errbody, 4096);
    for (unsigned attempt = 0;; attempt++) {
        FILE *f = fopen(part, "wb");
        if (!f) {
            seterr(c, "%s: cannot write: %s", part, strerror(errno));
            st = CS_EIO;
            break;
        }
        sink s = {.file = f, .max = c->o.max_download};
        long code = 0;
        CURLcode rc = perform(c, M_GET, url, NULL, NULL, 0, &s, c->o.download_timeout_ms, &code,
                              cerr);
        bool bad_close = fclose(f) != 0;
        bool retry = false;
        if (s.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            seterr(c, "%s: larger than %llu bytes", url, (unsigned long long)c->o.max_download);
            st = CS_ETOOBIG;
        } else if (s.io_error || bad_close) {
            seterr(c, "%s: cannot write: %s", part, strerror(errno));
            st = CS_EIO;
        } else if (rc != CURLE_OK) {
            seterr(c, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
            st = CS_ENET;
            retry = retryable_curl(rc);
        } else if (code >= 200 && code < 300) {
            st = CS_OK;
        } else {
            seterr(c, "%s: HTTP %ld", url, code);
            st = code == 404 || code == 410 ? CS_ENOTFOUND : CS_EHTTP;
            retry = code >= 500 || code == 429 || code == 408;
        }
        if (!st) {
            if (rename(part, path)) {
                seterr(c, "%s: cannot rename: %s", path, strerror(errno));
                st = CS_EIO;
            }
            break;
        }
        if (!retry || attempt >= c->o.retries)
            break;
        if (!backoff(c, attempt)) {
            seterr(c, "%s: canceled while waiting to retry", url);
            st = CS_ECANCELED;
            break;
        }
    }
    if (st)
        unlink(part);
    cs_buf_cleanup(&errbody);
    cs_free(part);
    return st;
}

/* A file name for a URL's last path segment ("input" when it has none). */
static void name_from_url(const char *url, char *out, size_t cap)
{
    const char *end = url + strcspn(url, "?#");
    const char *start = end;
    while (start > url && start[-1] != '/')
        start--;
    size_t o = 0;
    for (const char *p = start; p < end && o + 1 < cap; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        out[o++] = ok ? ch : '_';
    }
    out[o] = 0;
    if (!o || out[0] == '.' || strstr(url, "://") + 3 >= start)
        snprintf(out, cap, "input");
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = cs_malloc(na + nb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static cs_status read_small_file(cs_client *c, const char *path, cs_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(c, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? CS_ENOTFOUND : CS_EIO;
    }
    cs_status st = CS_OK;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if ((st = cs_buf_append(b, tmp, n)))
            break;
    if (!st && ferror(f))
        st = CS_EIO;
    fclose(f);
    if (st)
        seterr(c, "%s: %s", path, st == CS_ETOOBIG ? "too large for a manifest" : "read error");
    return st;
}

/* GPU input over HTTP: a manifest (its files fetched beside it) or a tar. */
static cs_status gpu_fetch(cs_client *c, const char *url, const char *dir)
{
    char name[256];
    if (ends_with(url, ".tar")) {
        name_from_url(url, name, sizeof name);
        char *p = join(dir, name);
        if (!p)
            return CS_ENOMEM;
        cs_status st = download(c, url, p);
        cs_free(p);
        return st;
    }
    /* the manifest: URL itself when it names a .json, else URL/_job.json */
    cs_buf murl;
    cs_buf_init(&murl, 0);
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    cs_buf_append(&murl, url, n);
    if (!ends_with(url, ".json"))
        cs_buf_puts(&murl, "/_job.json");
    if (!murl.data) {
        cs_buf_cleanup(&murl);
        return CS_ENOMEM;
    }
    /* the directory the files are relative to */
    size_t base_len = murl.len;
    while (base_len && murl.data[base_len - 1] != '/')
        base_len--;
    cs_status st = CS_ENOMEM;
    char **files = NULL;
    size_t nfiles = 0;
    uint64_t pairs = 0;
    char *mpath = join(dir, "_job.json");
    cs_buf mbody, furl;
    cs_buf_init(&mbody, c->o.max_body);
    cs_buf_init(&furl, 0);
    if (!mpath)
        goto done;
    if ((st = download(c, murl.data, mpath)))
        goto done;
    if ((st = read_small_file(c, mpath, &mbody)))
        goto done;
    if ((st = cs__client_parse_manifest(mbody.data ? mbody.data : "", mbody.len, &files, &nfiles,
                                        &pairs, c->err, sizeof c->err)))
        goto done;
    for (size_t i = 0; i < nfiles; i++) {
        if (i % 8 == 0 && c->token) {
            char line[96];
            snprintf(line, sizeof line, "Fetching images: file %zu of %zu", i + 1, nfiles);
            progress(c, line);
        }
        cs_buf_reset(&furl);
        cs_buf_append(&furl, murl.data, base_len);
        if ((st = cs_buf_puts(&furl, files[i])))
            goto done;
        char *p = join(dir, files[i]);
        if (!p) {
            st = CS_ENOMEM;
            goto done;
        }
        st = download(c, furl.data, p);
        cs_free(p);
        if (st)
            goto done;
    }
done:
    cs__client_free_strv(files, nfiles);
    cs_free(mpath);
    cs_buf_cleanup(&mbody);
    cs_buf_cleanup(&furl);
    cs_buf_cleanup(&murl);
    return st;
}

/* GPU input on the local file system: a directory, or a manifest (its
 * directory is returned after checking that its files are there). */
static cs_status gpu_local(cs_client *c, const char *path, char **out)
{
    struct stat sb;
    if (stat(path, &sb)) {
        seterr(c, "%s: %s", path, strerror(errno));
        return CS_ENOTFOUND;
    }
    if (S_ISDIR(sb.st_mode) || !ends_with(path, ".json")) {
        *out = cs_strdup(path);
        return *out ? CS_OK : CS_ENOMEM;
    }
    cs_buf b;
    cs_buf_init(&b, c->o.max_body);
    char **files = NULL;
    size_t nfiles = 0;
    uint64_t pairs;
    cs_status st = read_small_file(c, path, &b);
    if (!st)
        st = cs__client_parse_manifest(b.data ? b.data : "", b.len, &files, &nfiles, &pairs,
                                       c->err, sizeof c->err);
    char *dir = NULL;
    if (!st) {
        const char *slash = strrchr(path, '/');
        dir = slash ? cs_strndup(path, (size_t)(slash - path)) : cs_strdup(".");
        if (!dir)
            st = CS_ENOMEM;
    }
    for (size_t i = 0; !st && i < nfiles; i++) {
        char *p = join(dir, files[i]);
        if (!p) {
            st = CS_ENOMEM;
        } else {
            if (access(p, R_OK)) {
                seterr(c, "%s: listed in %s but %s", p, path, strerror(errno));
                st = CS_ENOTFOUND;
            }
            cs_free(p);
        }
    }
    cs__client_free_strv(files, nfiles);
    cs_buf_cleanup(&b);
    if (st)
        cs_free(dir);
    else
        *out = dir;
    return st;
}

cs_status cs_client_download_shard(cs_client *c, const char *dir, char **path)
{
    *path = NULL;
    if (!c->has_job) {
        seterr(c, "downloadShard: no job held");
        return CS_EINVAL;
    }
    const char *url = c->job.url;
    if (!strncasecmp(url, "file://", 7))
        url += 7;
    bool remote = http_url(url);
    if (!remote && strstr(url, "://")) {
        seterr(c, "downloadShard: unsupported URL scheme in \"%.200s\"", url);
        return CS_EUNSUPPORTED;
    }
    if (c->token)
        progress(c, c->type == CS_CLIENT_GPU ? "Fetching images" : "Downloading shard");
    cs_status st;
    if (c->type == CS_CLIENT_GPU) {
        if (!remote)
            return gpu_local(c, url, path);
        if (!dir || (st = mkdirs(c, dir)))
            return dir ? st : CS_EINVAL;
        if ((st = gpu_fetch(c, url, dir)))
            return st;
        *path = cs_strdup(dir);
    } else {
        if (!remote) {
            if (access(url, R_OK)) {
                seterr(c, "downloadShard: %s: %s", url, strerror(errno));
                return CS_ENOTFOUND;
            }
            *path = cs_strdup(url);
            return *path ? CS_OK : CS_ENOMEM;
        }
        if (!dir || (st = mkdirs(c, dir)))
            return dir ? st : CS_EINVAL;
        char name[256];
        name_from_url(url, name, sizeof name);
        char *p = join(dir, name);
        if (!p)
            return CS_ENOMEM;
        if ((st = download(c, url, p))) {
            cs_free(p);
            return st;
        }
        *path = p;
    }
    if (!*path)
        return CS_ENOMEM;
    if (c->token)
        progress(c, c->type == CS_CLIENT_GPU ? "Downloaded images" : "Downloaded shard");
    return CS_OK;
}

cs_status cs_client_put_file(cs_client *c, const char *local, const char *url)
{
    cs_status st = ensure_curl(c);
    if (st)
        return st;
    char cerr[CURL_ERROR_SIZE];
    cs_buf resp;
    cs_buf_init(&resp, 0);
    for (unsigned attempt = 0;; attempt++) {
        FILE *f = fopen(local, "rb");
        struct stat sb;
        if (!f || fstat(fileno(f), &sb)) {
            seterr(c, "%s: %s", local, strerror(errno));
            if (f)
                fclose(f);
            st = CS_EIO;
            break;
        }
        cs_buf_reset(&resp);
        sink s = {.buf = &resp, .max = 65536};
        long code = 0;
        CURLcode rc = perform(c, M_PUT, url, NULL, f, (curl_off_t)sb.st_size, &s,
                              c->o.download_timeout_ms, &code, cerr);
        fclose(f);
        bool retry = false;
        if (rc != CURLE_OK && !s.too_big) {
            seterr(c, "PUT %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
            st = CS_ENET;
            retry = retryable_curl(rc);
        } else if (code >= 200 && code < 300) {
            st = CS_OK;
            break;
        } else {
            seterr(c, "PUT %s: HTTP %ld", url, code);
            st = CS_EHTTP;
            retry = code >= 500 || code == 429 || code == 408;
        }
        if (!retry || attempt >= c->o.retries)
            break;
        if (!backoff(c, attempt)) {
            st = CS_ECANCELED;
            break;
        }
    }
    cs_buf_cleanup(&resp);
    return st;
}

/* ---- dump / load ------------------------------------------------------------------ */

cs_status cs_client_dump(const cs_client *c, char **json, size_t *len)
{
    *json = NULL;
    cs_buf b;
    cs_buf_init(&b, 0);
    const char *s;
    cs_buf_puts(&b, "{\"crawlset_client\":1,\"url\":");
    s = cs_client_base_url(c);
    cs_json_put_str(&b, s, strlen(s));
    cs_buf_puts(&b, ",\"nickname\":");
    s = cs_client_nickname(c);
    cs_json_put_str(&b, s, strlen(s));
    cs_buf_printf(&b, ",\"type\":\"%s\",\"token\":", cs_client_type_name(c->type));
    s = cs_client_token(c);
    cs_json_put_str(&b, s, strlen(s));
    cs_buf_puts(&b, ",\"display_name\":");
    s = cs_client_display_name(c);
    cs_json_put_str(&b, s, strlen(s));
    cs_buf_puts(&b, ",\"upload_address\":");
    s = cs_client_upload_address(c);
    cs_json_put_str(&b, s, strlen(s));
    cs_buf_puts(&b, ",\"job\":");
    if (c->has_job) {
        cs_buf_puts(&b, "{\"url\":");
        cs_json_put_str(&b, c->job.url, strlen(c->job.url));
        cs_buf_printf(&b, ",\"start_id\":%llu,\"end_id\":%llu,\"shard\":%d",
                      (unsigned long long)c->job.start_id, (unsigned long long)c->job.end_id,
                      c->job.shard_piece);
        if (c->job.number >= 0)
            cs_buf_printf(&b, ",\"number\":%lld", (long long)c->job.number);
        cs_buf_putc(&b, '}');
    } else {
        cs_buf_puts(&b, "null");
    }
    if (cs_buf_putc(&b, '}') || !b.data) {
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    *json = cs_buf_take(&b, len);
    return CS_OK;
}

static cs_status load_str(cs_client *c, json_t *o, const char *key, bool required, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!required && (!v || json_is_null(v))) {
        *out = cs_strdup("");
        return *out ? CS_OK : CS_ENOMEM;
    }
    if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
        json_string_length(v) > CS__CLIENT_MAX_STR || (required && !json_string_length(v))) {
        seterr(c, "load: \"%s\" is missing or not a %sstring", key, required ? "non-empty " : "");
        return CS_EFORMAT;
    }
    *out = cs_strdup(json_string_value(v));
    return *out ? CS_OK : CS_ENOMEM;
}

cs_status cs_client_load(cs_client **out, const char *json, size_t len, const cs_client_opts *opts)
{
    cs_client *c;
    cs_status st = new_blank(&c, opts);
    *out = c;
    if (st)
        return st;
    json_error_t je;
    json_t *j = json_loadb(json ? json : "", json ? len : 0, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) {
        seterr(c, "load: not JSON (%s at byte %d)", je.text, je.position);
        return CS_EFORMAT;
    }
    char *type = NULL, *base = NULL;
    if (!json_is_object(j)) {
        seterr(c, "load: a JSON object was expected");
        st = CS_EFORMAT;
        goto done;
    }
    if ((st = load_str(c, j, "url", true, &base)) || (st = load_str(c, j, "type", true, &type)) ||
        (st = load_str(c, j, "nickname", false, &c->nickname)) ||
        (st = load_str(c, j, "token", true, &c->token)) ||
        (st = load_str(c, j, "display_name", false, &c->display_name)) ||
        (st = load_str(c, j, "upload_address", false, &c->upload_address)))
        goto done;
    if (!http_url(base)) {
        seterr(c, "load: \"url\" is not an http(s) URL");
        st = CS_EFORMAT;
        goto done;
    }
    if ((st = set_base(c, base)))
        goto done;
    if (!cs_client_type_parse(type, &c->type)) {
        seterr(c, "load: unknown worker type \"%.40s\"", type);
        st = CS_EFORMAT;
        goto done;
    }
    json_t *job = json_object_get(j, "job");
    if (job && !json_is_null(job) && !json_is_object(job)) {
        seterr(c, "load: \"job\" is neither null nor an object");
        st = CS_EFORMAT;
        goto done;
    }
    if (job && !json_is_null(job)) {
        char *body = json_dumps(job, JSON_COMPACT);
        if (!body) {
            st = CS_ENOMEM;
            goto done;
        }
        cs_client_job jb;
        char *url;
        char why[256];
        st = cs__client_parse_job(body, strlen(body), &jb, &url, why, sizeof why);
        free(body);
        if (st) {
            cs_free(url);
            seterr(c, "load: job: %s", why);
            goto done;
        }
        c->job = jb;
        c->job_url = url;
        c->job.url = url;
        c->has_job = true;
    }
done:
    if (st == CS_ENOMEM)
        seterr(c, "load: out of memory");
    cs_free(type);
    cs_free(base);
    json_decref(j);
    return st;
}

/* Writes data to path through a temporary name and a rename. */
static cs_status write_atomic(const char *path, const char *data, size_t len, char *err,
                              size_t errlen)
{
    size_t n = strlen(path);
    char *tmp = cs_malloc(n + 32);
    if (!tmp)
        return CS_ENOMEM;
    snprintf(tmp, n + 32, "%s.tmp%ld", path, (long)getpid());
    cs_status st = CS_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fflush(f) || fsync(fileno(f))) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        st = CS_EIO;
    }
    if (f && fclose(f) && !st) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        st = CS_EIO;
    }
    if (!st && rename(tmp, path)) {
        snprintf(err, errlen, "%s: cannot rename: %s", path, strerror(errno));
        st = CS_EIO;
    }
    if (st)
        unlink(tmp);
    cs_free(tmp);
    return st;
}

cs_status cs_client_dump_file(const cs_client *c, const char *path)
{
    char *json;
    size_t len;
    cs_status st = cs_client_dump(c, &json, &len);
    if (st)
        return st;
    char err[256];
    st = write_atomic(path, json, len, err, sizeof err);
    cs_free(json);
    return st;
}

cs_status cs_client_load_file(cs_client **out, const char *path, const cs_client_opts *opts)
{
    *out = NULL;
    cs_buf b;
    cs_buf_init(&b, 1u << 20);
    cs_client *tmp;
    cs_status st = new_blank(&tmp, opts);
    if (st) {
        *out = tmp;
        return st;
    }
    st = read_small_file(tmp, path, &b);
    if (st) {
        *out = tmp;
        cs_buf_cleanup(&b);
        return st;
    }
    cs_client_free(tmp);
    st = cs_client_load(out, b.data ? b.data : "", b.len, opts);
    cs_buf_cleanup(&b);
    return st;
}

/* ---- manifest ------------------------------------------------------------------------ */

cs_status cs_client_manifest_write(const char *dir, const cs_client_job *job, uint64_t pairs,
                                   const char *const *files, size_t nfiles, char *err,
                                   size_t errlen)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_puts(&b, "{\"crawlset_job\":1,\"url\":");
    const char *u = job && job->url ? job->url : "";
    cs_json_put_str(&b, u, strlen(u));
    if (job) {
        cs_buf_printf(&b, ",\"start_id\":%llu,\"end_id\":%llu,\"shard\":%d",
                      (unsigned long long)job->start_id, (unsigned long long)job->end_id,
                      job->shard_piece);
        if (job->number >= 0)
            cs_buf_printf(&b, ",\"number\":%lld", (long long)job->number);
    }
    cs_buf_printf(&b, ",\"pairs\":%llu,\"files\":[", (unsigned long long)pairs);
    for (size_t i = 0; i < nfiles; i++) {
        if (!cs__client_plain_name(files[i])) {
            snprintf(err, errlen, "manifest: \"%.100s\" is not a plain file name", files[i]);
            cs_buf_cleanup(&b);
            return CS_EINVAL;
        }
        if (i)
            cs_buf_putc(&b, ',');
        cs_json_put_str(&b, files[i], strlen(files[i]));
    }
    cs_status st = cs_buf_puts(&b, "]}\n");
    if (st || !b.data) {
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    char *path = join(dir, "_job.json");
    if (!path) {
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    st = write_atomic(path, b.data, b.len, err, errlen);
    cs_free(path);
    cs_buf_cleanup(&b);
    return st;
}
