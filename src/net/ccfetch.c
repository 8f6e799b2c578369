/* ccfetch.c - Common Crawl records by HTTP Range on libcurl's multi interface
 * (see ccfetch.h). One thread: a loop starts transfers while slots are free,
 * lets curl move bytes, judges each finished transfer, schedules retries with
 * backoff, and hands results over in input order through a ring bounded by
 * the window (so memory is bounded by window x max_record). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "crawlset/ccfetch.h"
#include "crawlset/fetch.h"
#include "crawlset/gzip.h"
#include "net/net_int.h"

#define ERROR_BODY_MAX (64 * 1024) /* bytes of an error page we read before giving up */

static const struct {
    const char *name;
    bool retry;
    const char *desc;
} REASONS[] = {
#define CS__CCF_ROW(name, retry, msg) {#name, retry, msg},
    CS_CCFETCH_REASON_MAP(CS__CCF_ROW)
#undef CS__CCF_ROW
};

const char *cs_ccfetch_reason_name(cs_ccfetch_reason r)
{
    /* the X-macro names are upper case; reports use lower case */
    static char lower[CS_CCFETCH__REASON_COUNT][24];
    if ((unsigned)r >= CS_CCFETCH__REASON_COUNT)
        return "unknown";
    if (!lower[r][0]) {
        const char *n = REASONS[r].name;
        size_t i = 0;
        for (; n[i] && i < sizeof lower[r] - 1; i++)
            lower[r][i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
        lower[r][i] = 0;
    }
    return lower[r];
}

const char *cs_ccfetch_reason_desc(cs_ccfetch_reason r)
{
    return (unsigned)r < CS_CCFETCH__REASON_COUNT ? REASONS[r].desc : "unknown";
}

void cs_ccfetch_opts_init(cs_ccfetch_opts *o)
{
    memset(o, 0, sizeof *o);
    o->base_url = CS_CCFETCH_DEFAULT_BASE;
    o->user_agent = CS_CCFETCH_DEFAULT_UA;
    o->parallel = 16;
    o->retries = 3;
    o->retry_delay = 1.0;
    o->retry_max_delay = 60.0;
    o->retry_after_max = 300.0;
    o->connect_timeout = 10.0;
    o->timeout = 60.0;
    o->max_record = 16u << 20;
    o->max_inflated = 64u << 20;
    o->verify = true;
    o->ordered = true;
    o->window = 0;
}

/* ---- verification -------------------------------------------------------- */

static void setmsg(char *msg, const char *fmt, ...) CS_PRINTF(2, 3);
static void setmsg(char *msg, const char *fmt, ...)
{
    if (!msg)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, CS_ERRMSG_MAX, fmt, ap);
    va_end(ap);
}

/* Printable preview of up to 12 bytes, for messages. */
static void preview(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < 12 && o + 5 < cap; i++) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    out[o] = 0;
}

cs_ccfetch_reason cs_ccfetch_verify(const uint8_t *data, size_t len, size_t max_inflated,
                                    char *msg)
{
    enum { OUT = 64 * 1024 };
    char pv[64];
    if (!cs_gzip_magic(data, len)) {
        preview(data, len, pv, sizeof pv);
        setmsg(msg, "not gzip: the bytes start with \"%s\" (wrong offset?)", pv);
        return CS_CCFETCH_BAD_GZIP;
    }
    uint8_t *out = cs_malloc(OUT);
    cs_inflate *z = NULL;
    cs_ccfetch_reason res = CS_CCFETCH_OK;
    if (!out || cs_inflate_new(&z, CS_INFLATE_GZIP)) {
        setmsg(msg, "out of memory");
        res = CS_CCFETCH_TOO_LARGE;
        goto done;
    }
    uint8_t head[8];
    size_t head_len = 0, total = 0, pos = 0, members = 0;
    while (pos < len) {
        if (!cs_gzip_magic(data + pos, len - pos)) {
            setmsg(msg, "%zu bytes after gzip member %zu are not gzip (length too long?)",
                   len - pos, members);
            res = CS_CCFETCH_BAD_GZIP;
            goto done;
        }
        size_t member_start = pos;
        cs_inflate_reset(z, CS_INFLATE_GZIP);
        for (;;) {
            size_t used = 0, got = 0;
            cs_status st = cs_inflate_run(z, data + pos, len - pos, &used, out, OUT, &got);
            pos += used;
            total += got;
            if (head_len < sizeof head) {
                size_t k = got < sizeof head - head_len ? got : sizeof head - head_len;
                memcpy(head + head_len, out, k);
                head_len += k;
            }
            if (total > max_inflated) {
                setmsg(msg, "inflates to more than %zu bytes", max_inflated);
                res = CS_CCFETCH_TOO_LARGE;
                goto done;
            }
            if (st == CS_DONE)
                break;
            if (st == CS_EGZIP) {
                setmsg(msg, "corrupt gzip member at byte %zu: %s", member_start,
                       cs_inflate_errmsg(z));
                res = CS_CCFETCH_BAD_GZIP;
                goto done;
            }
            if (st) {
                setmsg(msg, "inflate: %s", cs_strerror(st));
                res = CS_CCFETCH_BAD_GZIP;
                goto done;
            }
            if (used == 0 && got == 0) {
                setmsg(msg, "gzip member at byte %zu is cut off (length too short?)",
                       member_start);
                res = CS_CCFETCH_BAD_GZIP;
                goto done;
            }
        }
        members++;
    }
    if (head_len < 5 || memcmp(head, "WARC/", 5) != 0) {
        preview(head, head_len, pv, sizeof pv);
        setmsg(msg, "inflates to \"%s\", not a WARC record", pv);
        res = CS_CCFETCH_NOT_WARC;
    }
done:
    cs_inflate_free(z);
    cs_free(out);
    if (res == CS_CCFETCH_OK)
        setmsg(msg, "%s", "");
    return res;
}

/* ---- the fetcher ------------------------------------------------------------ */

enum { J_WAITING, J_ACTIVE, J_DONE };

typedef struct job {
    struct job *prev, *next;  /* live list */
    uint64_t index;
    cs_ccindex_row *row;      /* owned copy */
    char *url;                /* owned */
    int state;
    int attempts;
    double first_start;       /* cs_now() of the first attempt (0 = none yet) */
    double not_before;        /* earliest next attempt */
    int slot;                 /* easy handle in use while active, else -1 */
    cs_ccfetch_reason reason;
    char message[CS_ERRMSG_MAX];
    long http_status;
    double finished;
    cs_buf body;              /* the range (max length + 1) */
    /* per attempt */
    char content_range[96];   /* last Content-Range value */
    double retry_after;       /* seconds, < 0 if none */
    bool overflow;            /* more bytes than asked */
    size_t error_bytes;       /* error-page bytes seen */
} job;

struct cs_ccfetch {
    cs_ccfetch_opts o;
    char *base_url, *user_agent; /* owned copies */
    CURLM *multi;
    CURL **easy;              /* parallel handles */
    int *free_slots;          /* stack of idle handle indexes */
    int nfree;
    char (*errbuf)[CURL_ERROR_SIZE];
    job *live;                /* every pulled, undelivered job */
    job **ring;               /* ordered mode: job of index i at ring[i % window] */
    size_t nlive;
    uint64_t next_index, deliver_next;
    uint64_t rng;
    atomic_int canceled;
    cs_ccfetch_stats stats;
    char errmsg[CS_ERRMSG_MAX];
};

cs_status cs_ccfetch_new(cs_ccfetch **out, const cs_ccfetch_opts *opts)
{
    *out = NULL;
    cs_ccfetch *f = cs_calloc(1, sizeof *f);
    if (!f)
        return CS_ENOMEM;
    if (opts)
        f->o = *opts;
    else
        cs_ccfetch_opts_init(&f->o);
    cs_ccfetch_opts *o = &f->o;
    if (o->parallel <= 0)
        o->parallel = 16;
    if (o->window <= 0)
        o->window = 4 * o->parallel;
    if (o->window < o->parallel)
        o->window = o->parallel;
    if (o->retry_delay < 0)
        o->retry_delay = 0;
    if (o->retry_max_delay <= 0)
        o->retry_max_delay = 60;
    if (o->retry_after_max < 0)
        o->retry_after_max = 0;
    if (!o->max_record)
        o->max_record = 16u << 20;
    if (!o->max_inflated)
        o->max_inflated = 64u << 20;
    f->base_url = cs_strdup(o->base_url ? o->base_url : CS_CCFETCH_DEFAULT_BASE);
    f->user_agent = cs_strdup(o->user_agent ? o->user_agent : CS_CCFETCH_DEFAULT_UA);
    o->base_url = f->base_url;
    o->user_agent = f->user_agent;
    f->easy = cs_calloc((size_t)o->parallel, sizeof *f->easy);
    f->free_slots = cs_calloc((size_t)o->parallel, sizeof *f->free_slots);
    f->errbuf = cs_calloc((size_t)o->parallel, sizeof *f->errbuf);
    f->ring = cs_calloc((size_t)o->window, sizeof *f->ring);
    if (!f->base_url || !f->user_agent || !f->easy || !f->free_slots || !f->errbuf ||
        !f->ring) {
        cs_ccfetch_free(f);
        return CS_ENOMEM;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    f->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    if (!f->rng)
        f->rng = 0x9E3779B97F4A7C15ull;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    *out = f;
    return CS_OK;
}

static void job_free(job *j)
{
    if (!j)
        return;
    cs_free(j->row);
    cs_free(j->url);
    cs_buf_cleanup(&j->body);
    cs_free(j);
}

static void drop_all(cs_ccfetch *f)
{
    while (f->live) {
        job *j = f->live;
        f->live = j->next;
        if (j->slot >= 0 && f->multi)
            curl_multi_remove_handle(f->multi, f->easy[j->slot]);
        job_free(j);
    }
    f->nlive = 0;
    if (f->ring)
        memset(f->ring, 0, (size_t)f->o.window * sizeof *f->ring);
}

void cs_ccfetch_free(cs_ccfetch *f)
{
    if (!f)
        return;
    drop_all(f);
    if (f->easy)
        for (int i = 0; i < f->o.parallel; i++)
            if (f->easy[i])
                curl_easy_cleanup(f->easy[i]);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    bool inited = f->base_url && f->user_agent && f->easy && f->free_slots && f->errbuf &&
                  f->ring;
    cs_free(f->easy);
    cs_free(f->free_slots);
    cs_free(f->errbuf);
    cs_free(f->ring);
    cs_free(f->base_url);
    cs_free(f->user_agent);
    cs_free(f);
    if (inited)
        curl_global_cleanup();
}

void cs_ccfetch_cancel(cs_ccfetch *f) { atomic_store(&f->canceled, 1); }

void cs_ccfetch_stats_get(const cs_ccfetch *f, cs_ccfetch_stats *out) { *out = f->stats; }

const char *cs_ccfetch_errmsg(const cs_ccfetch *f) { return f->errmsg; }

/* ---- curl callbacks ---------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    job *j = ud;
    size_t bytes = sz * n;
    /* error pages are read (a little) and dropped; the header callback has
       seen the status line by the time the body arrives */
    if (j->http_status != 200 && j->http_status != 206) {
        j->error_bytes += bytes;
        return j->error_bytes > ERROR_BODY_MAX ? 0 : bytes;
    }
    if (j->body.len + bytes > j->row->length) {
        j->overflow = true; /* longer than asked: stop now, whatever the file size */
        return 0;
    }
    if (cs_buf_append(&j->body, p, bytes))
        return 0;
    return bytes;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    job *j = ud;
    size_t bytes = sz * n;
    cs_slice v;
    if (bytes >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (after a redirect, 1xx) */
        j->content_range[0] = 0;
        j->retry_after = -1;
        const char *sp = memchr(p, ' ', bytes);
        j->http_status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if (cs__header_is(p, bytes, "Content-Range", &v)) {
        size_t vl = v.len < sizeof j->content_range ? v.len : sizeof j->content_range - 1;
        memcpy(j->content_range, v.ptr, vl);
        j->content_range[vl] = 0;
    } else if (cs__header_is(p, bytes, "Retry-After", &v)) {
        j->retry_after = cs_fetch_parse_retry_after(v.ptr, v.len);
    }
    return bytes;
}

/* ---- attempts ---------------------------------------------------------------- */

static char *build_url(const char *base, const char *file)
{
    size_t bl = strlen(base);
    bool bslash = bl && base[bl - 1] == '/';
    while (*file == '/' && bslash)
        file++;
    size_t n = bl + strlen(file) + 2;
    char *u = cs_malloc(n);
    if (u)
        snprintf(u, n, "%s%s%s", base, bslash || *file == '/' ? "" : "/", file);
    return u;
}

static cs_status start_attempt(cs_ccfetch *f, job *j)
{
    int s = f->free_slots[--f->nfree];
    CURL *e = f->easy[s];
    if (!e) {
        e = f->easy[s] = curl_easy_init();
        if (!e) {
            f->nfree++;
            snprintf(f->errmsg, sizeof f->errmsg, "curl_easy_init failed");
            return CS_ENOMEM;
        }
    } else {
        curl_easy_reset(e);
    }
    j->slot = s;
    j->state = J_ACTIVE;
    j->attempts++;
    if (!j->first_start)
        j->first_start = cs_now();
    cs_buf_reset(&j->body);
    j->content_range[0] = 0;
    j->retry_after = -1;
    j->overflow = false;
    j->error_bytes = 0;
    j->http_status = 0;
    f->errbuf[s][0] = 0;
    char range[64];
    snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, j->row->offset,
             j->row->offset + j->row->length - 1);
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_RANGE, range);
    curl_easy_setopt(e, CURLOPT_USERAGENT, f->o.user_agent);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(f->o.connect_timeout * 1000));
    if (f->o.timeout > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(f->o.timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf[s]);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    CURLMcode mc = curl_multi_add_handle(f->multi, e);
    if (mc != CURLM_OK) {
        snprintf(f->errmsg, sizeof f->errmsg, "curl_multi_add_handle: %s",
                 curl_multi_strerror(mc));
        j->slot = -1;
        f->free_slots[f->nfree++] = s;
        return mc == CURLM_OUT_OF_MEMORY ? CS_ENOMEM : CS_ENET;
    }
    f->stats.requests++;
    if (j->attempts > 1)
        f->stats.retries++;
    return CS_OK;
}

static void finish(job *j, cs_ccfetch_reason reason)
{
    j->reason = reason;
    j->state = J_DONE;
    j->finished = cs_now();
    if (reason != CS_CCFETCH_OK)
        cs_buf_cleanup(&j->body);
}

/* Parses "bytes A-B/T" (T may be "*"). */
static bool parse_content_range(const char *s, uint64_t *a, uint64_t *b)
{
    if (strncasecmp(s, "bytes", 5) != 0)
        return false;
    s += 5;
    while (*s == ' ')
        s++;
    const char *dash = strchr(s, '-'), *slash = strchr(s, '/');
    if (!dash || !slash || slash < dash)
        return false;
    return cs_slice_to_u64((cs_slice){s, (size_t)(dash - s)}, a) &&
           cs_slice_to_u64((cs_slice){dash + 1, (size_t)(slash - dash - 1)}, b);
}

/* Judges one finished transfer: sets reason + message; true if retriable. */
static bool judge(cs_ccfetch *f, job *j, CURLcode rc)
{
    const char *cerr = f->errbuf[j->slot][0] ? f->errbuf[j->slot] : curl_easy_strerror(rc);
    long code = 0;
    curl_easy_getinfo(f->easy[j->slot], CURLINFO_RESPONSE_CODE, &code);
    j->http_status = code;
    uint64_t want = j->row->length;
    char *m = j->message;
    j->reason = CS_CCFETCH_OK;
    m[0] = 0;
    bool http_error = code >= 300 || (code > 0 && code < 200);
    if (rc == CURLE_WRITE_ERROR && j->overflow) {
        if (code == 200) {
            j->reason = CS_CCFETCH_RANGE_IGNORED;
            setmsg(m, "HTTP 200 with more than the %" PRIu64 " bytes asked: the server ignored "
                      "Range", want);
        } else {
            j->reason = CS_CCFETCH_BAD_RANGE;
            setmsg(m, "HTTP %ld sent more than the %" PRIu64 " bytes asked", code, want);
        }
    } else if (rc != CURLE_OK && !(http_error && rc == CURLE_WRITE_ERROR)) {
        switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            j->reason = CS_CCFETCH_TIMEOUT;
            break;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            j->reason = CS_CCFETCH_CONNECT;
            break;
        case CURLE_PARTIAL_FILE:
            j->reason = CS_CCFETCH_SHORT_BODY;
            break;
        case CURLE_TOO_MANY_REDIRECTS:
            j->reason = CS_CCFETCH_HTTP_OTHER;
            break;
        default:
            j->reason = CS_CCFETCH_NETWORK;
        }
        setmsg(m, "%s (%zu of %" PRIu64 " bytes received)", cerr, j->body.len, want);
    } else if (code == 206) {
        uint64_t a, b;
        if (!parse_content_range(j->content_range, &a, &b) || a != j->row->offset ||
            b != j->row->offset + want - 1) {
            j->reason = CS_CCFETCH_BAD_RANGE;
            setmsg(m, "HTTP 206 with Content-Range \"%s\", asked bytes %" PRIu64 "-%" PRIu64,
                   j->content_range, j->row->offset, j->row->offset + want - 1);
        } else if (j->body.len != want) {
            j->reason = CS_CCFETCH_SHORT_BODY;
            setmsg(m, "HTTP 206 with %zu of %" PRIu64 " bytes", j->body.len, want);
        }
    } else if (code == 200) {
        if (j->body.len != want) { /* a whole file of another size: Range was ignored */
            j->reason = CS_CCFETCH_RANGE_IGNORED;
            setmsg(m, "HTTP 200 with %zu bytes for a range of %" PRIu64 ": the server ignored "
                      "Range", j->body.len, want);
        }
    } else if (code >= 400 && code < 500) {
        j->reason = CS_CCFETCH_HTTP_4XX;
        setmsg(m, "HTTP %ld%s", code,
               code == 416 ? " (range not satisfiable: offset past the end of the file?)"
               : code == 404 ? " (no such WARC file)"
                             : "");
    } else if (code >= 500 && code < 600) {
        j->reason = CS_CCFETCH_HTTP_5XX;
        setmsg(m, "HTTP %ld", code);
    } else {
        j->reason = CS_CCFETCH_HTTP_OTHER;
        setmsg(m, "unexpected HTTP status %ld", code);
    }
    if (j->reason == CS_CCFETCH_OK && f->o.verify)
        j->reason = cs_ccfetch_verify((const uint8_t *)j->body.data, j->body.len,
                                      f->o.max_inflated, m);
    if (j->reason == CS_CCFETCH_OK)
        return false;
    if (j->reason == CS_CCFETCH_HTTP_4XX)
        return code == 429 || code == 408;
    return REASONS[j->reason].retry;
}

/* After a failed attempt: schedule a retry or finish. */
static void after_failure(cs_ccfetch *f, job *j, bool retriable)
{
    bool more = f->o.retries < 0 || j->attempts <= f->o.retries;
    if (!retriable || !more) {
        if (retriable && j->attempts > 1) {
            size_t ml = strlen(j->message);
            snprintf(j->message + ml, sizeof j->message - ml, " (gave up after %d attempts)",
                     j->attempts);
        }
        finish(j, j->reason);
        return;
    }
    double d = cs__backoff(&f->rng, j->attempts, f->o.retry_delay, f->o.retry_max_delay,
                           j->http_status, j->retry_after, f->o.retry_after_max);
    j->state = J_WAITING;
    j->not_before = cs_now() + d;
    cs_buf_reset(&j->body);
}

static cs_status deliver(cs_ccfetch *f, job *j, cs_ccfetch_done_fn done_fn, void *ud)
{
    cs_ccfetch_result res;
    memset(&res, 0, sizeof res);
    res.index = j->index;
    res.row = j->row;
    res.reason = j->reason;
    res.message = j->reason == CS_CCFETCH_OK ? "" : j->message;
    res.data = j->reason == CS_CCFETCH_OK ? (const uint8_t *)j->body.data : NULL;
    res.len = j->reason == CS_CCFETCH_OK ? j->body.len : 0;
    res.http_status = j->http_status;
    res.attempts = j->attempts;
    res.seconds = j->first_start ? j->finished - j->first_start : 0;
    f->stats.rows++;
    f->stats.by_reason[j->reason]++;
    if (j->reason == CS_CCFETCH_OK) {
        f->stats.ok++;
        f->stats.bytes += res.len;
    } else {
        f->stats.failed++;
    }
    cs_status st = done_fn(ud, &res);
    /* unlink and free */
    if (j->prev)
        j->prev->next = j->next;
    else
        f->live = j->next;
    if (j->next)
        j->next->prev = j->prev;
    if (f->o.ordered)
        f->ring[j->index % (uint64_t)f->o.window] = NULL;
    f->nlive--;
    job_free(j);
    return st;
}

/* Delivers what is ready: in ordered mode the done prefix of the ring. */
static cs_status deliver_ready(cs_ccfetch *f, cs_ccfetch_done_fn done_fn, void *ud)
{
    cs_status st = CS_OK;
    if (f->o.ordered) {
        while (!st && f->deliver_next < f->next_index) {
            job *j = f->ring[f->deliver_next % (uint64_t)f->o.window];
            if (!j || j->state != J_DONE)
                break;
            f->deliver_next++;
            st = deliver(f, j, done_fn, ud);
        }
        return st;
    }
    job *j = f->live;
    while (j && !st) {
        job *nx = j->next;
        if (j->state == J_DONE)
            st = deliver(f, j, done_fn, ud);
        j = nx;
    }
    return st;
}

static cs_status pull(cs_ccfetch *f, cs_ccfetch_next_fn next_fn, void *ud, job **out, bool *eof)
{
    *out = NULL;
    const cs_ccindex_row *row = NULL;
    cs_status st = next_fn(ud, &row);
    if (st == CS_DONE) {
        *eof = true;
        return CS_OK;
    }
    if (st)
        return st;
    job *j = cs_calloc(1, sizeof *j);
    if (!j)
        return CS_ENOMEM;
    j->slot = -1;
    j->row = cs_ccindex_row_dup(row);
    j->url = j->row ? build_url(f->o.base_url, j->row->warc_filename) : NULL;
    if (!j->row || !j->url) {
        job_free(j);
        return CS_ENOMEM;
    }
    cs_buf_init(&j->body, (size_t)(j->row->length < f->o.max_record ? j->row->length + 1
                                                                       : f->o.max_record + 1));
    j->index = f->next_index++;
    j->state = J_WAITING;
    j->next = f->live;
    if (f->live)
        f->live->prev = j;
    f->live = j;
    f->nlive++;
    if (f->o.ordered)
        f->ring[j->index % (uint64_t)f->o.window] = j;
    if (j->row->length > f->o.max_record) {
        setmsg(j->message, "record length %" PRIu64 " is over the limit of %" PRIu64 " bytes",
               j->row->length, f->o.max_record);
        finish(j, CS_CCFETCH_TOO_LARGE);
        return CS_OK;
    }
    if (j->row->length > SIZE_MAX - 1) {
        setmsg(j->message, "record length %" PRIu64 " does not fit in memory", j->row->length);
        finish(j, CS_CCFETCH_TOO_LARGE);
        return CS_OK;
    }
    *out = j;
    return CS_OK;
}

/* The waiting job due first (not_before <= now), or NULL; *next_due gets the
 * earliest future not_before among the others. */
static job *due_job(cs_ccfetch *f, double now, double *next_due)
{
    job *best = NULL;
    for (job *j = f->live; j; j = j->next) {
        if (j->state != J_WAITING)
            continue;
        if (j->not_before <= now) {
            if (!best || j->index < best->index)
                best = j;
        } else if (j->not_before < *next_due) {
            *next_due = j->not_before;
        }
    }
    return best;
}

cs_status cs_ccfetch_run(cs_ccfetch *f, cs_ccfetch_next_fn next_fn, cs_ccfetch_done_fn done_fn,
                         void *ud)
{
    cs_status st = CS_OK;
    if (!f->multi) {
        f->multi = curl_multi_init();
        if (!f->multi) {
            snprintf(f->errmsg, sizeof f->errmsg, "curl_multi_init failed");
            return CS_ENOMEM;
        }
        curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)f->o.parallel);
        curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->o.parallel);
        f->nfree = f->o.parallel;
        for (int i = 0; i < f->o.parallel; i++)
            f->free_slots[i] = f->o.parallel - 1 - i;
    }
    bool eof = false;
    for (;;) {
        if (atomic_load(&f->canceled)) {
            for (job *j = f->live; j; j = j->next) {
                if (j->state == J_DONE)
                    continue;
                if (j->slot >= 0) {
                    curl_multi_remove_handle(f->multi, f->easy[j->slot]);
                    f->free_slots[f->nfree++] = j->slot;
                    j->slot = -1;
                }
                setmsg(j->message, "canceled");
                finish(j, CS_CCFETCH_CANCELED);
            }
            eof = true;
            st = deliver_ready(f, done_fn, ud);
            if (!st && f->nlive == 0)
                st = CS_ECANCELED;
            if (st)
                goto out;
        }
        double now = cs_now();
        double next_due = now + 3600;
        /* fill free slots: due retries first, then new rows */
        while (f->nfree > 0) {
            job *j = due_job(f, now, &next_due);
            if (!j) {
                if (eof || f->nlive >= (size_t)f->o.window)
                    break;
                if ((st = pull(f, next_fn, ud, &j, &eof)))
                    goto out;
                if (!j)
                    continue; /* eof, or finished without fetching (too large) */
            }
            if ((st = start_attempt(f, j)))
                goto out;
        }
        if ((st = deliver_ready(f, done_fn, ud)))
            goto out;
        if (eof && f->nlive == 0)
            break;
        int running = 0;
        CURLMcode mc = curl_multi_perform(f->multi, &running);
        if (mc != CURLM_OK) {
            snprintf(f->errmsg, sizeof f->errmsg, "curl_multi_perform: %s",
                     curl_multi_strerror(mc));
            st = mc == CURLM_OUT_OF_MEMORY ? CS_ENOMEM : CS_ENET;
            goto out;
        }
        CURLMsg *msg;
        int left;
        bool progressed = false;
        while ((msg = curl_multi_info_read(f->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            CURLcode rc = msg->data.result;
            job *j = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
            bool retriable = judge(f, j, rc);
            curl_multi_remove_handle(f->multi, e);
            f->free_slots[f->nfree++] = j->slot;
            j->slot = -1;
            if (j->reason == CS_CCFETCH_OK)
                finish(j, CS_CCFETCH_OK);
            else
                after_failure(f, j, retriable);
            progressed = true;
        }
        if (progressed)
            continue; /* refill slots and deliver before waiting */
        now = cs_now();
        next_due = now + 3600;
        bool can_pull = !eof && f->nlive < (size_t)f->o.window && f->nfree > 0;
        if (can_pull)
            continue;
        (void)due_job(f, now, &next_due);
        double wait = next_due - now;
        if (wait > 0.2)
            wait = 0.2; /* notice cancel soon */
        if (wait < 0)
            wait = 0;
        int ms = (int)(wait * 1000) + 1;
        mc = curl_multi_poll(f->multi, NULL, 0, ms, NULL);
        if (mc != CURLM_OK) {
            snprintf(f->errmsg, sizeof f->errmsg, "curl_multi_poll: %s", curl_multi_strerror(mc));
            st = CS_ENET;
            goto out;
        }
    }
out:
    drop_all(f);
    f->nfree = f->o.parallel;
    for (int i = 0; i < f->o.parallel; i++)
        f->free_slots[i] = f->o.parallel - 1 - i;
    atomic_store(&f->canceled, 0);
    return st;
}
