/* fetch.c - the polite fetcher on libcurl multi + epoll (see fetch.h).
 *
 * One thread runs a loop: take URLs in (pull callback, push list), route
 * each to its host (hash table keyed "scheme://host:port"), start requests
 * for hosts that may run one now, let libcurl move bytes on the sockets
 * epoll reports, judge each finished request (done, retry later, follow a
 * redirect, or fail with a reason) and deliver results.
 *
 * Scheduling without scanning every host: a host whose queue can start a
 * request now (robots.txt known, under its concurrency limit, its delay
 * passed) sits on the ready list; one that only waits for its delay sits in
 * a min-heap keyed by the time it may start; retries wait in a second heap
 * keyed by their due time. host_kick() re-files a host after anything that
 * may change its state; stale heap and list entries are re-checked when
 * they come out. The global rate is a token bucket consumed per request.
 *
 * Callbacks libcurl calls (header, body) only record and may abort the
 * transfer (return 0): the header callback ends a 2xx response before its
 * body when it opts out (X-Robots-Tag, tdm-reservation), has an unwanted
 * type or declares a body over the limit; the body callback stops at the
 * limit on decoded bytes (gzip bombs) and reads at most 64 KiB of error
 * pages. Results are judged and delivered from the loop, never from inside
 * libcurl, so a done callback may push new URLs. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "crawlset/fetch.h"
#include "net/net_int.h"

#define ERROR_BODY_MAX (64 * 1024) /* bytes of a non-2xx body read before hanging up */
#define CTYPE_MAX 128              /* Content-Type bytes kept */
#define PREALLOC_MAX (256 * 1024)  /* most body bytes reserved from a Content-Length */
#define URL_MAX (64 * 1024)        /* longer URLs are bad_url */
#define EVENTS_MAX 512

/* ---- reasons ------------------------------------------------------------------ */

static const char *const REASON_NAMES[] = {
    "ok",          "dns",      "connect",  "timeout", "http_4xx",      "http_5xx",
    "http_other",  "too_large", "robots",  "opt_out", "redirect_loop", "bad_type",
    "decode",      "tls",      "network",  "canceled", "bad_url",
};
static const char *const REASON_DESCS[] = {
#define CS__FETCH_DESC(name, desc) desc,
    CS_FETCH_REASON_MAP(CS__FETCH_DESC)
#undef CS__FETCH_DESC
};
_Static_assert(sizeof REASON_NAMES / sizeof *REASON_NAMES == CS_FETCH__REASON_COUNT,
               "one name per reason");

const char *cs_fetch_reason_name(cs_fetch_reason r)
{
    return (unsigned)r < CS_FETCH__REASON_COUNT ? REASON_NAMES[r] : "unknown";
}

const char *cs_fetch_reason_desc(cs_fetch_reason r)
{
    return (unsigned)r < CS_FETCH__REASON_COUNT ? REASON_DESCS[r] : "unknown";
}

bool cs_fetch_reason_from_name(const char *name, cs_fetch_reason *out)
{
    for (int i = 0; i < CS_FETCH__REASON_COUNT; i++)
        if (name && !strcmp(name, REASON_NAMES[i])) {
            *out = (cs_fetch_reason)i;
            return true;
        }
    return false;
}

void cs_fetch_opts_init(cs_fetch_opts *o)
{
    memset(o, 0, sizeof *o);
    o->user_agent = CS_FETCH_DEFAULT_UA;
    o->robots_agent = CS_FETCH_DEFAULT_AGENT;
    o->parallel = 256;
    o->per_host = 16;
    o->max_queued = 10000;
    o->connect_timeout = 10;
    o->timeout = 30;
    o->low_speed_limit = 1024;
    o->low_speed_time = 10;
    o->max_body = 32u << 20;
    o->max_header = 64u << 10;
    o->max_redirects = 5;
    o->retries = 2;
    o->retry_delay = 1;
    o->retry_max_delay = 30;
    o->retry_after_max = 60;
    o->decode = true;
    o->http2 = true;
    o->verify_tls = true;
    o->opt_out_directives = CS_FETCH_DEFAULT_OPT_OUT;
    o->crawl_delay_max = 10;
    o->robots_ttl = 86400;
    o->robots_error_ttl = 600;
    o->host_error_ttl = 300;
    o->max_hosts = 100000;
    o->dns_cache_ttl = 300;
}

/* ---- small helpers ------------------------------------------------------------------ */

static inline int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static inline bool is_sp(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static cs_slice trim(const char *p, size_t n)
{
    while (n && is_sp((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n && is_sp((unsigned char)p[n - 1]))
        n--;
    return (cs_slice){p, n};
}

static bool slice_ieq(cs_slice s, const char *lit, size_t litlen)
{
    if (s.len != litlen)
        return false;
    for (size_t i = 0; i < litlen; i++)
        if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

/* Is `word` (case-insensitive) one of the items of the comma list `list`? */
static bool in_list(cs_slice word, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        cs_slice item = trim(p, n);
        if (item.len && slice_ieq(word, item.ptr, item.len))
            return true;
        p += n + (c ? 1 : 0);
    }
    return false;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- the standalone checks -------------------------------------------------------------- */

bool cs_fetch_x_robots_opt_out(const char *value, size_t len, const char *agent,
                               const char *directives)
{
    if (!directives)
        directives = CS_FETCH_DEFAULT_OPT_OUT;
    size_t al = agent ? strlen(agent) : 0;
    bool scoped_to_us = true; /* items before any "name:" apply to every agent */
    size_t i = 0;
    while (i <= len) {
        size_t s = i;
        while (i < len && value[i] != ',')
            i++;
        cs_slice item = trim(value + s, i - s);
        i++;
        if (!item.len)
            continue;
        const char *colon = memchr(item.ptr, ':', item.len);
        if (colon) {
            cs_slice name = trim(item.ptr, (size_t)(colon - item.ptr));
            cs_slice rest = trim(colon + 1, item.len - (size_t)(colon - item.ptr) - 1);
            static const char *const VALUED[] = {"unavailable_after", "max-snippet",
                                                 "max-image-preview", "max-video-preview"};
            bool valued = false;
            for (size_t k = 0; k < sizeof VALUED / sizeof *VALUED; k++)
                if (slice_ieq(name, VALUED[k], strlen(VALUED[k])))
                    valued = true;
            if (valued)
                continue;
            /* "name: directive": a user-agent scope for this item and the next ones */
            scoped_to_us = agent && slice_ieq(name, agent, al);
            item = rest;
            if (!item.len)
                continue;
        }
        if (!scoped_to_us)
            continue;
        if (in_list(item, directives))
            return true;
        if (slice_ieq(item, "none", 4) && in_list((cs_slice){"noindex", 7}, directives))
            return true;
    }
    return false;
}

bool cs_fetch_type_accepted(const char *content_type, const char *accept_types)
{
    if (!accept_types || !*accept_types)
        return true;
    if (!content_type)
        return true;
    const char *semi = strchr(content_type, ';');
    cs_slice mt = trim(content_type, semi ? (size_t)(semi - content_type) : strlen(content_type));
    if (mt.len == 0 || slice_ieq(mt, "application/octet-stream", 24) ||
        slice_ieq(mt, "binary/octet-stream", 19))
        return true;
    const char *p = accept_types;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        cs_slice pat = trim(p, n);
        p += n + (c ? 1 : 0);
        if (!pat.len)
            continue;
        if (pat.len == 1 && pat.ptr[0] == '*')
            return true;
        if (pat.len >= 2 && pat.ptr[pat.len - 1] == '*' && pat.ptr[pat.len - 2] == '/') {
            /* "type/" followed by a star: any subtype */
            size_t tl = pat.len - 1; /* "image/" */
            if (mt.len > tl && slice_ieq((cs_slice){mt.ptr, tl}, pat.ptr, tl))
                return true;
        } else if (slice_ieq(mt, pat.ptr, pat.len)) {
            return true;
        }
    }
    return false;
}

double cs_fetch_parse_retry_after(const char *value, size_t len)
{
    cs_slice v = trim(value, len);
    if (!v.len || v.len > 64)
        return -1;
    uint64_t secs;
    if (cs_slice_to_u64(v, &secs))
        return secs > 1000000000ull ? 1e9 : (double)secs;
    char tmp[72];
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = 0;
    time_t t = curl_getdate(tmp, NULL);
    if (t == (time_t)-1)
        return -1;
    double d = difftime(t, time(NULL));
    return d > 0 ? d : 0;
}

/* ---- data -------------------------------------------------------------------------------- */

enum { J_NEW, J_QUEUED, J_RETRY, J_ACTIVE, J_DONE };
enum { R_NONE, R_FETCHING, R_READY, R_FAILED };

typedef struct host host;
typedef struct job job;

/* A libcurl easy handle with its error buffer, reused across requests. */
typedef struct xfer {
    CURL *e;
    struct xfer *next_free;
    char err[CURL_ERROR_SIZE];
} xfer;

struct job {
    job *prev, *next;          /* live list */
    job *qnext;                /* host queue, push list or done list */
    cs_fetch *f;
    host *h;                   /* host of cur (NULL until routed) */
    xfer *x;                   /* while active */
    uint64_t index;
    void *user;
    char *url;                 /* as requested (owned) */
    char *cur;                 /* URL of the current request (owned; NULL = url) */
    char *path;                /* path and query of cur (owned), for robots.txt */
    uint64_t *hops;            /* hashes of the URLs visited (redirect loops) */
    int nhops;
    int state;
    bool is_robots;            /* this fetches its host's robots.txt */
    int attempts;              /* requests made */
    int tries;                 /* requests for the current URL */
    int redirects;
    double t_in;               /* taken in */
    double t_first;            /* first request started (0 = none yet) */
    cs_fetch_reason reason;
    char *msg;                 /* owned; failures only */
    /* the current response */
    long status;
    int http_version;          /* 10, 11, 20, 30; 0 = none */
    int64_t clen;              /* Content-Length, -1 = none */
    char ctype[CTYPE_MAX];     /* Content-Type ("" = none) */
    char cenc[16];             /* Content-Encoding, for messages ("" = none) */
    char *location;            /* Location of a 3xx (owned; NULL = none) */
    double retry_after;        /* seconds, -1 = none */
    size_t header_bytes;
    int abort_reason;          /* set by a callback that aborted; -1 = none */
    bool opted_out;            /* an opt-out header was seen (acted on at the end of headers) */
    bool cut;                  /* we stopped reading a body on purpose (error page, robots cap) */
    uint64_t bytes_received;
    cs_buf body;
    cs_buf ebody;              /* a 429/503 body, kept for opts.retry_hint */
    cs_fetch_timings t;
};

struct host {
    host *hnext;               /* hash chain */
    char *key;                 /* "scheme://host:port" (owned) */
    uint64_t hash;
    job *qhead, *qtail;        /* jobs waiting to start */
    int active;                /* requests in flight */
    size_t refs;               /* live jobs routed here (queued, waiting, active) */
    double next_start;         /* earliest next request start (delay, Retry-After) */
    double delay;              /* least seconds between starts */
    int robots_state;
    cs_robots *robots;         /* NULL = everything allowed */
    double robots_until;       /* R_READY: expiry; R_FAILED: when to try again */
    cs_fetch_reason fail_reason; /* R_FAILED, or a dead host */
    char *fail_msg;            /* owned */
    double dead_until;         /* the name did not resolve: until then, fail fast */
    bool in_ready, in_heap;
    host *rnext;               /* ready list */
    host *lprev, *lnext;       /* idle LRU (refs == 0) */
    bool in_lru;
};

typedef struct heap_ent {
    double key;
    void *p;
} heap_ent;

typedef struct heap {
    heap_ent *a;
    size_t n, cap;
} heap;

struct cs_fetch {
    cs_fetch_opts o;
    char *s_ua, *s_agent, *s_types, *s_optout, *s_proxy; /* owned copies of option strings */
    struct curl_slist *resolve, *headers, *connect_to;
    bool resolve_loaded;       /* the resolve entries are in the DNS cache */
    CURLM *multi;
    CURLSH *share;
    int epfd, wakefd;
    bool input_waits;          /* next_fn said CS_EAGAIN: sleep until an event */
    double curl_due;           /* libcurl's timer, absolute; < 0 = none */
    host **buckets;
    size_t nbuckets, nhosts;
    host *ready_head, *ready_tail;
    host *lru_head, *lru_tail;
    heap hdelay;               /* hosts by next_start */
    heap hretry;               /* jobs by due time */
    job *live;                 /* every job, robots.txt ones included */
    size_t nuser;              /* user jobs taken in and not delivered */
    job *push_head, *push_tail;
    job *done_head, *done_tail;
    xfer *free_x;
    double tokens, tokens_t;   /* rate limit bucket */
    uint64_t next_index;
    uint64_t rng;
    atomic_int canceled;
    bool running;
    cs_fetch_stats st;
    char errmsg[CS_ERRMSG_MAX];
};

static void setmsg(char *m, const char *fmt, ...) CS_PRINTF(2, 3);
static void setmsg(char *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, CS_ERRMSG_MAX, fmt, ap);
    va_end(ap);
}

/* Sets j's message (allocated on first use; lost quietly without memory). */
static void job_msg(job *j, const char *fmt, ...) CS_PRINTF(2, 3);
static void job_msg(job *j, const char *fmt, ...)
{
    if (!j->msg && !(j->msg = cs_malloc(CS_ERRMSG_MAX)))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, CS_ERRMSG_MAX, fmt, ap);
    va_end(ap);
}

/* ---- heaps ------------------------------------------------------------------------------- */

static cs_status heap_push(heap *h, double key, void *p)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        heap_ent *a = cs_realloc(h->a, nc * sizeof *a);
        if (!a)
            return CS_ENOMEM;
        h->a = a;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h->a[up].key <= key)
            break;
        h->a[i] = h->a[up];
        i = up;
    }
    h->a[i] = (heap_ent){key, p};
    return CS_OK;
}

static void *heap_pop(heap *h)
{
    void *top = h->a[0].p;
    heap_ent last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->a[c + 1].key < h->a[c].key)
            c++;
        if (last.key <= h->a[c].key)
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

/* ---- hosts --------------------------------------------------------------------------------- */

static void lru_remove(cs_fetch *f, host *h)
{
    if (!h->in_lru)
        return;
    if (h->lprev)
        h->lprev->lnext = h->lnext;
    else
        f->lru_head = h->lnext;
    if (h->lnext)
        h->lnext->lprev = h->lprev;
    else
        f->lru_tail = h->lprev;
    h->lprev = h->lnext = NULL;
    h->in_lru = false;
}

static void lru_append(cs_fetch *f, host *h)
{
    if (h->in_lru)
        return;
    h->lprev = f->lru_tail;
    h->lnext = NULL;
    if (f->lru_tail)
        f->lru_tail->lnext = h;
    else
        f->lru_head = h;
    f->lru_tail = h;
    h->in_lru = true;
}

static void host_free(host *h)
{
    cs_free(h->key);
    cs_free(h->fail_msg);
    cs_robots_free(h->robots);
    cs_free(h);
}

static void host_unlink(cs_fetch *f, host *h)
{
    host **pp = &f->buckets[h->hash & (f->nbuckets - 1)];
    while (*pp && *pp != h)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = h->hnext;
    f->nhosts--;
}

/* Drops idle hosts (and their robots.txt) beyond max_hosts, oldest first. */
static void evict_hosts(cs_fetch *f)
{
    host *h = f->lru_head;
    while (h && f->nhosts > f->o.max_hosts) {
        host *nx = h->lnext;
        if (h->refs == 0 && !h->in_ready && !h->in_heap) {
            lru_remove(f, h);
            host_unlink(f, h);
            host_free(h);
        }
        h = nx;
    }
}

static cs_status host_get(cs_fetch *f, const char *key, host **out)
{
    size_t kl = strlen(key);
    uint64_t hv = hash_str(key, kl);
    if (f->nbuckets) {
        for (host *h = f->buckets[hv & (f->nbuckets - 1)]; h; h = h->hnext)
            if (h->hash == hv && !strcmp(h->key, key)) {
                *out = h;
                return CS_OK;
            }
    }
    if (f->nhosts >= f->nbuckets) { /* grow: keep the load at most 1 */
        size_t nb = f->nbuckets ? f->nbuckets * 2 : 256;
        host **b = cs_calloc(nb, sizeof *b);
        if (!b)
            return CS_ENOMEM;
        for (size_t i = 0; i < f->nbuckets; i++) {
            host *h = f->buckets[i];
            while (h) {
                host *nx = h->hnext;
                h->hnext = b[h->hash & (nb - 1)];
                b[h->hash & (nb - 1)] = h;
                h = nx;
            }
        }
        cs_free(f->buckets);
        f->buckets = b;
        f->nbuckets = nb;
    }
    host *h = cs_calloc(1, sizeof *h);
    if (!h || !(h->key = cs_strndup(key, kl))) {
        cs_free(h);
        return CS_ENOMEM;
    }
    h->hash = hv;
    h->delay = f->o.host_delay;
    h->hnext = f->buckets[hv & (f->nbuckets - 1)];
    f->buckets[hv & (f->nbuckets - 1)] = h;
    f->nhosts++; /* eviction waits for the loop: callers hold host pointers */
    *out = h;
    return CS_OK;
}

static bool robots_known(cs_fetch *f, host *h)
{
    return f->o.ignore_robots_txt || h->robots_state == R_READY;
}

static bool runnable(cs_fetch *f, host *h)
{
    if (!h->qhead)
        return false;
    if (f->o.per_host > 0 && h->active >= f->o.per_host)
        return false;
    return h->qhead->is_robots || robots_known(f, h);
}

/* Files h on the ready list or the delay heap when it can start a request. */
static cs_status host_kick(cs_fetch *f, host *h, double now)
{
    if (h->in_ready || h->in_heap || !runnable(f, h))
        return CS_OK;
    if (h->next_start <= now) {
        h->rnext = NULL;
        if (f->ready_tail)
            f->ready_tail->rnext = h;
        else
            f->ready_head = h;
        f->ready_tail = h;
        h->in_ready = true;
        return CS_OK;
    }
    cs_status st = heap_push(&f->hdelay, h->next_start, h);
    if (!st)
        h->in_heap = true;
    return st;
}

/* The next host that may start a request now, or NULL. */
static host *ready_pop(cs_fetch *f, double now)
{
    while (f->ready_head) {
        host *h = f->ready_head;
        f->ready_head = h->rnext;
        if (!f->ready_head)
            f->ready_tail = NULL;
        h->in_ready = false;
        if (runnable(f, h) && h->next_start <= now)
            return h;
        (void)host_kick(f, h, now); /* later, or not at all */
    }
    return NULL;
}

static void queue_push(host *h, job *j, bool front)
{
    j->state = J_QUEUED;
    if (front) {
        j->qnext = h->qhead;
        h->qhead = j;
        if (!h->qtail)
            h->qtail = j;
    } else {
        j->qnext = NULL;
        if (h->qtail)
            h->qtail->qnext = j;
        else
            h->qhead = j;
        h->qtail = j;
    }
}

static job *queue_pop(host *h)
{
    job *j = h->qhead;
    if (j) {
        h->qhead = j->qnext;
        if (!h->qhead)
            h->qtail = NULL;
        j->qnext = NULL;
    }
    return j;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static void body_release(cs_fetch *f, job *j)
{
    f->st.body_mem -= j->body.data ? j->body.cap + 1 : 0;
    cs_buf_cleanup(&j->body);
    cs_buf_cleanup(&j->ebody);
}

static void job_free(cs_fetch *f, job *j)
{
    body_release(f, j);
    if (j->cur != j->url)
        cs_free(j->cur);
    cs_free(j->url);
    cs_free(j->path);
    cs_free(j->hops);
    cs_free(j->msg);
    cs_free(j->location);
    cs_free(j);
}

static void live_unlink(cs_fetch *f, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        f->live = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

static job *job_new(cs_fetch *f, const char *url, size_t len, void *user, bool is_robots)
{
    job *j = cs_calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->url = cs_strndup(url, len);
    if (!j->url) {
        cs_free(j);
        return NULL;
    }
    j->cur = j->url;
    j->f = f;
    j->user = user;
    j->is_robots = is_robots;
    j->abort_reason = -1;
    j->clen = -1;
    j->retry_after = -1;
    j->t_in = cs_now();
    cs_buf_init(&j->body, is_robots ? CS_ROBOTS_MAX_BYTES : f->o.max_body);
    cs_buf_init(&j->ebody, ERROR_BODY_MAX);
    j->next = f->live;
    if (f->live)
        f->live->prev = j;
    f->live = j;
    if (!is_robots) {
        j->index = f->next_index++;
        f->nuser++;
        f->st.queued = f->nuser;
        if (f->nuser > f->st.peak_queued)
            f->st.peak_queued = f->nuser;
    }
    return j;
}

/* Detaches j from its host (the host may become idle). */
static void job_leave_host(cs_fetch *f, job *j)
{
    host *h = j->h;
    if (!h)
        return;
    j->h = NULL;
    if (h->refs)
        h->refs--;
    if (h->refs == 0 && !h->qhead)
        lru_append(f, h);
}

/* A user job is finished: it waits on the done list for delivery. */
static void finish(cs_fetch *f, job *j, cs_fetch_reason reason)
{
    j->reason = reason;
    j->state = J_DONE;
    j->qnext = NULL;
    if (reason != CS_FETCH_OK)
        body_release(f, j);
    job_leave_host(f, j);
    if (f->done_tail)
        f->done_tail->qnext = j;
    else
        f->done_head = j;
    f->done_tail = j;
}

/* ---- URLs -------------------------------------------------------------------------------------- */

/* Splits and normalises url[0..n): *norm the URL to request, *key its host
 * key, *path its path and query (all owned). CS_OK, CS_ENOMEM, or CS_EINVAL
 * with a message (bad_url) or CS_ENOTFOUND (a name that never resolves). */
static cs_status parse_url(const char *url, size_t n, char **norm, char **key, char **path,
                           char *msg)
{
    *norm = *key = *path = NULL;
    cs_status st = CS_ENOMEM;
    cs_slice s = trim(url, n);
    while (s.len && (unsigned char)s.ptr[0] <= 0x20) {
        s.ptr++;
        s.len--;
    }
    if (s.len > URL_MAX) {
        setmsg(msg, "a URL of %zu bytes (the limit is %d)", s.len, URL_MAX);
        return CS_EINVAL;
    }
    /* percent-encode what may not appear raw after the authority: controls,
     * space, DEL, non-ASCII and a few unsafe ASCII characters; drop the
     * fragment */
    size_t cap = s.len * 3 + 1;
    char *enc = cs_malloc(cap);
    CURLU *u = curl_url();
    char *scheme = NULL, *hostp = NULL, *port = NULL, *pth = NULL, *query = NULL, *full = NULL;
    if (!enc || !u)
        goto out;
    size_t o = 0, i = 0;
    const char *sep = memchr(s.ptr, ':', s.len);
    size_t auth_end = 0;
    if (sep && (size_t)(sep - s.ptr) + 3 <= s.len && sep[1] == '/' && sep[2] == '/') {
        auth_end = (size_t)(sep - s.ptr) + 3;
        while (auth_end < s.len && !strchr("/?#", s.ptr[auth_end]))
            auth_end++;
    }
    static const char HEX[] = "0123456789ABCDEF";
    for (; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '#')
            break;
        if (i >= auth_end && (c <= 0x20 || c >= 0x7F || strchr("\"<>\\^`{|}", c))) {
            enc[o++] = '%';
            enc[o++] = HEX[c >> 4];
            enc[o++] = HEX[c & 15];
        } else {
            enc[o++] = (char)c;
        }
    }
    enc[o] = 0;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, enc, 0);
    if (uc == CURLUE_OUT_OF_MEMORY)
        goto out;
    st = CS_EINVAL;
    if (uc) {
        setmsg(msg, "not a URL: %s", curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) || !scheme ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        setmsg(msg, "scheme \"%.20s\" is not http or https", scheme ? scheme : "");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &hostp, 0) || !hostp || !hostp[0]) {
        setmsg(msg, "no host in the URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) || !port) {
        setmsg(msg, "no port for the URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PATH, &pth, 0) != CURLUE_OK)
        pth = NULL;
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    if ((uc = curl_url_get(u, CURLUPART_URL, &full, 0)) != CURLUE_OK) {
        st = uc == CURLUE_OUT_OF_MEMORY ? CS_ENOMEM : CS_EINVAL;
        setmsg(msg, "not a URL: %s", curl_url_strerror(uc));
        goto out;
    }
    size_t hl = strlen(hostp);
    for (size_t k = 0; k < hl; k++)
        hostp[k] = (char)lower((unsigned char)hostp[k]);
    size_t hl2 = hl && hostp[hl - 1] == '.' ? hl - 1 : hl;
    if ((hl2 >= 8 && !memcmp(hostp + hl2 - 8, ".invalid", 8)) ||
        (hl2 == 7 && !memcmp(hostp, "invalid", 7))) {
        setmsg(msg, "%s: names under .invalid never resolve (RFC 6761); not looked up", hostp);
        st = CS_ENOTFOUND;
        goto out;
    }
    st = CS_ENOMEM;
    size_t kl = strlen(scheme) + hl + strlen(port) + 5;
    *key = cs_malloc(kl);
    const char *pp = pth && pth[0] ? pth : "/";
    size_t pl = strlen(pp) + (query ? strlen(query) + 1 : 0) + 1;
    *path = cs_malloc(pl);
    *norm = cs_strdup(full);
    if (!*key || !*path || !*norm)
        goto out;
    snprintf(*key, kl, "%s://%s:%s", scheme, hostp, port);
    snprintf(*path, pl, "%s%s%s", pp, query ? "?" : "", query ? query : "");
    st = CS_OK;
out:
    if (st) {
        cs_free(*norm);
        cs_free(*key);
        cs_free(*path);
        *norm = *key = *path = NULL;
    }
    curl_free(scheme);
    curl_free(hostp);
    curl_free(port);
    curl_free(pth);
    curl_free(query);
    curl_free(full);
    if (u)
        curl_url_cleanup(u);
    cs_free(enc);
    return st;
}

/* ---- routing -------------------------------------------------------------------------------------- */

static cs_status route(cs_fetch *f, job *j, double now);

/* Starts a robots.txt fetch for h: a job at the head of its queue. */
static cs_status robots_begin(cs_fetch *f, host *h)
{
    size_t kl = strlen(h->key);
    char *u = cs_malloc(kl + 12);
    if (!u)
        return CS_ENOMEM;
    memcpy(u, h->key, kl);
    memcpy(u + kl, "/robots.txt", 12);
    job *r = job_new(f, u, kl + 11, NULL, true);
    cs_free(u);
    if (!r)
        return CS_ENOMEM;
    r->h = h;
    h->refs++;
    lru_remove(f, h);
    queue_push(h, r, true);
    h->robots_state = R_FETCHING;
    return CS_OK;
}

/* Decides a job of host h against its robots.txt; true if it may go on. */
static bool robots_permit(cs_fetch *f, host *h, job *j)
{
    if (f->o.ignore_robots_txt || j->is_robots)
        return true;
    if (h->robots_state == R_FAILED) {
        job_msg(j, "%s", h->fail_msg ? h->fail_msg : "robots.txt unavailable");
        finish(f, j, h->fail_reason);
        return false;
    }
    if (h->robots_state != R_READY)
        return true; /* decided when robots.txt arrives */
    if (cs_robots_allowed(h->robots, f->o.robots_agent, j->path, strlen(j->path)))
        return true;
    job_msg(j, "disallowed by %s/robots.txt for \"%s\"", h->key, f->o.robots_agent);
    finish(f, j, CS_FETCH_ROBOTS);
    return false;
}

/* Puts j (its cur URL) in its host's queue, or finishes it. */
static cs_status route(cs_fetch *f, job *j, double now)
{
    char msg[CS_ERRMSG_MAX];
    char *norm, *key, *path;
    const char *u = j->cur ? j->cur : j->url;
    cs_status st = parse_url(u, strlen(u), &norm, &key, &path, msg);
    if (st == CS_ENOMEM)
        return st;
    if (st) {
        job_msg(j, "%s", msg);
        finish(f, j, st == CS_ENOTFOUND ? CS_FETCH_DNS : CS_FETCH_BAD_URL);
        return CS_OK;
    }
    if (j->cur != j->url)
        cs_free(j->cur);
    j->cur = norm;
    cs_free(j->path);
    j->path = path;
    host *h;
    st = host_get(f, key, &h);
    cs_free(key);
    if (st)
        return st;
    j->h = h;
    h->refs++;
    lru_remove(f, h);
    if (h->dead_until > now) {
        job_msg(j, "%s", h->fail_msg ? h->fail_msg : "host did not resolve");
        finish(f, j, h->fail_reason);
        return CS_OK;
    }
    if (!f->o.ignore_robots_txt) {
        if ((h->robots_state == R_READY || h->robots_state == R_FAILED) && now >= h->robots_until) {
            cs_robots_free(h->robots);
            h->robots = NULL;
            h->robots_state = R_NONE;
        }
        if (!robots_permit(f, h, j))
            return CS_OK;
        if (h->robots_state == R_NONE && (st = robots_begin(f, h)))
            return st;
    }
    queue_push(h, j, false);
    return host_kick(f, h, now);
}

/* ---- libcurl callbacks ------------------------------------------------------------------------------ */

static void abort_with(job *j, cs_fetch_reason r)
{
    if (j->abort_reason < 0)
        j->abort_reason = (int)r;
}

static size_t on_header(char *p, size_t sz, size_t nmemb, void *ud)
{
    job *j = ud;
    cs_fetch *f = j->f;
    size_t n = sz * nmemb;
    if (n >= 5 && !memcmp(p, "HTTP/", 5)) { /* a response begins (1xx ones included) */
        const char *sp = memchr(p, ' ', n);
        j->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        j->clen = -1;
        j->ctype[0] = 0;
        j->cenc[0] = 0;
        cs_free(j->location);
        j->location = NULL;
        j->retry_after = -1;
        j->opted_out = false;
        j->header_bytes = n;
        return n;
    }
    j->header_bytes += n;
    if (j->header_bytes > f->o.max_header) {
        job_msg(j, "response headers over %zu bytes", f->o.max_header);
        abort_with(j, CS_FETCH_TOO_LARGE);
        return 0;
    }
    bool ok2xx = j->status >= 200 && j->status < 300;
    if (n <= 2 && (p[0] == '\r' || p[0] == '\n')) { /* end of the headers */
        if (!ok2xx || j->is_robots)
            return n;
        if (j->opted_out) {
            abort_with(j, CS_FETCH_OPT_OUT);
            return 0;
        }
        if (!cs_fetch_type_accepted(j->ctype[0] ? j->ctype : NULL, f->o.accept_types)) {
            job_msg(j, "Content-Type \"%s\" is not one of \"%s\"", j->ctype, f->o.accept_types);
            abort_with(j, CS_FETCH_BAD_TYPE);
            return 0;
        }
        if (j->clen >= 0 && (uint64_t)j->clen > f->o.max_body) {
            job_msg(j, "Content-Length %" PRId64 " is over the limit of %zu bytes", j->clen,
                    f->o.max_body);
            abort_with(j, CS_FETCH_TOO_LARGE);
            return 0;
        }
        if (j->clen > 0 && !j->body.data) {
            /* one allocation for a small honest length; a large declared one
             * is not trusted with memory before its bytes arrive */
            size_t want = (size_t)j->clen < PREALLOC_MAX ? (size_t)j->clen : PREALLOC_MAX;
            if (cs_buf_reserve(&j->body, want) == CS_OK) {
                f->st.body_mem += j->body.cap + 1;
                if (f->st.body_mem > f->st.peak_body_mem)
                    f->st.peak_body_mem = f->st.body_mem;
            }
        }
        return n;
    }
    cs_slice v;
    if (cs__header_is(p, n, "Content-Type", &v)) {
        size_t k = v.len < CTYPE_MAX - 1 ? v.len : CTYPE_MAX - 1;
        memcpy(j->ctype, v.ptr, k);
        j->ctype[k] = 0;
    } else if (cs__header_is(p, n, "Content-Length", &v)) {
        uint64_t cl;
        j->clen = cs_slice_to_u64(v, &cl) && cl <= INT64_MAX ? (int64_t)cl : -1;
    } else if (cs__header_is(p, n, "Content-Encoding", &v)) {
        size_t k = v.len < sizeof j->cenc - 1 ? v.len : sizeof j->cenc - 1;
        memcpy(j->cenc, v.ptr, k);
        j->cenc[k] = 0;
    } else if (cs__header_is(p, n, "Retry-After", &v)) {
        j->retry_after = cs_fetch_parse_retry_after(v.ptr, v.len);
    } else if (j->status >= 300 && j->status < 400 && !j->is_robots &&
               cs__header_is(p, n, "Location", &v) && v.len && v.len <= URL_MAX) {
        cs_free(j->location);
        j->location = cs_strndup(v.ptr, v.len);
    } else if (ok2xx && !j->is_robots && !j->opted_out) {
        if (!f->o.ignore_x_robots_tag && cs__header_is(p, n, "X-Robots-Tag", &v) &&
            cs_fetch_x_robots_opt_out(v.ptr, v.len, f->o.robots_agent,
                                      f->o.opt_out_directives)) {
            j->opted_out = true;
            job_msg(j, "X-Robots-Tag: %.*s", (int)(v.len < 160 ? v.len : 160), v.ptr);
        } else if (!f->o.ignore_tdm_reservation && cs__header_is(p, n, "tdm-reservation", &v) &&
                   v.len == 1 && v.ptr[0] == '1') {
            j->opted_out = true;
            job_msg(j, "tdm-reservation: 1 (TDM Reservation Protocol)");
        }
    }
    return n;
}

static size_t on_body(char *p, size_t sz, size_t nmemb, void *ud)
{
    job *j = ud;
    cs_fetch *f = j->f;
    size_t n = sz * nmemb;
    j->bytes_received += n;
    f->st.bytes_received += n;
    if (j->status < 200 || j->status >= 300) {
        if (j->bytes_received > ERROR_BODY_MAX) {
            j->cut = true; /* the status says enough; judged by it */
            return 0;
        }
        if ((j->status == 429 || j->status == 503) && f->o.retry_hint && !j->is_robots &&
            cs_buf_append(&j->ebody, p, n) != CS_OK)
            cs_buf_reset(&j->ebody); /* no hint then: the backoff decides */
        return n;
    }
    size_t room = j->body.max - j->body.len;
    if (n > room) {
        if (j->is_robots) { /* RFC 9309 2.5: parse the first 500 KiB, ignore the rest */
            n = room;
            j->cut = true;
        } else {
            if (j->cenc[0] && f->o.decode)
                job_msg(j, "body over the limit of %zu bytes (decoded from %s)", f->o.max_body,
                        j->cenc);
            else
                job_msg(j, "body over the limit of %zu bytes", f->o.max_body);
            abort_with(j, CS_FETCH_TOO_LARGE);
            return 0;
        }
    }
    size_t cap0 = j->body.data ? j->body.cap + 1 : 0;
    if (cs_buf_append(&j->body, p, n) != CS_OK) {
        job_msg(j, "out of memory for a %zu byte body", j->body.len + n);
        abort_with(j, CS_FETCH_TOO_LARGE);
        return 0;
    }
    f->st.body_mem += j->body.cap + 1 - cap0;
    if (f->st.body_mem > f->st.peak_body_mem)
        f->st.peak_body_mem = f->st.body_mem;
    return j->cut ? 0 : sz * nmemb;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    cs_fetch *f = userp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(f->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (socketp) {
        if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
            epoll_ctl(f->epfd, EPOLL_CTL_ADD, s, &ev);
    } else {
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(f->epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(f->multi, s, (void *)1);
    }
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    cs_fetch *f = userp;
    (void)m;
    f->curl_due = timeout_ms < 0 ? -1 : cs_now() + (double)timeout_ms / 1000.0;
    return 0;
}

/* ---- requests -------------------------------------------------------------------------------------- */

static cs_status start(cs_fetch *f, job *j, double now)
{
    xfer *x = f->free_x;
    if (x) {
        f->free_x = x->next_free;
        curl_easy_reset(x->e);
    } else {
        x = cs_calloc(1, sizeof *x);
        if (!x || !(x->e = curl_easy_init())) {
            cs_free(x);
            snprintf(f->errmsg, sizeof f->errmsg, "curl_easy_init failed");
            return CS_ENOMEM;
        }
    }
    CURL *e = x->e;
    x->err[0] = 0;
    j->x = x;
    j->state = J_ACTIVE;
    j->attempts++;
    j->tries++;
    if (!j->t_first) {
        j->t_first = now;
        j->t.queued = now - j->t_in;
    }
    j->status = 0;
    j->clen = -1;
    j->ctype[0] = 0;
    j->cenc[0] = 0;
    cs_free(j->location);
    j->location = NULL;
    j->retry_after = -1;
    j->header_bytes = 0;
    j->abort_reason = -1;
    j->opted_out = false;
    j->cut = false;
    j->bytes_received = 0;
    body_release(f, j);
    cs_free(j->msg);
    j->msg = NULL;
    const cs_fetch_opts *o = &f->o;
    curl_easy_setopt(e, CURLOPT_URL, j->cur);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_SHARE, f->share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
    if (f->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    if (f->resolve && !f->resolve_loaded) {
        /* parsed by libcurl at every transfer that carries it; its entries go
         * into the shared DNS cache for good, so one transfer is enough */
        curl_easy_setopt(e, CURLOPT_RESOLVE, f->resolve);
        f->resolve_loaded = true;
    }
    if (f->connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, f->connect_to);
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, (long)o->dns_cache_ttl);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (j->is_robots) { /* RFC 9309 2.3.1.2: follow at least five redirects */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1000));
    if (o->timeout > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    if (o->low_speed_limit > 0 && o->low_speed_time > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)ceil(o->low_speed_time));
    }
    if (o->decode)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (o->http2) {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        if (!strncmp(j->cur, "https:", 6))
            curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (o->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
    if (!o->verify_tls) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->err);
    CURLMcode mc = curl_multi_add_handle(f->multi, e);
    if (mc != CURLM_OK) {
        snprintf(f->errmsg, sizeof f->errmsg, "curl_multi_add_handle: %s",
                 curl_multi_strerror(mc));
        x->next_free = f->free_x;
        f->free_x = x;
        j->x = NULL;
        return mc == CURLM_OUT_OF_MEMORY ? CS_ENOMEM : CS_ENET;
    }
    host *h = j->h;
    h->active++;
    h->next_start = now + h->delay;
    f->st.in_flight++;
    if (f->st.in_flight > f->st.peak_in_flight)
        f->st.peak_in_flight = f->st.in_flight;
    f->st.requests++;
    if (j->tries > 1)
        f->st.retries++;
    if (j->is_robots)
        f->st.robots_fetches++;
    if (f->o.rate > 0)
        f->tokens -= 1;
    return CS_OK;
}

/* Maps a libcurl transfer error to a reason; *retry when another try may pass. */
static cs_fetch_reason curl_reason(CURLcode rc, bool *retry)
{
    *retry = false;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return CS_FETCH_DNS;
    case CURLE_COULDNT_CONNECT:
        *retry = true;
        return CS_FETCH_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        *retry = true;
        return CS_FETCH_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return CS_FETCH_TLS;
    case CURLE_BAD_CONTENT_ENCODING:
        return CS_FETCH_DECODE;
    case CURLE_TOO_MANY_REDIRECTS:
        return CS_FETCH_REDIRECT_LOOP;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return CS_FETCH_BAD_URL;
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_OUT_OF_MEMORY: /* libcurl's own limits ("giant realloc for header") */
        return CS_FETCH_TOO_LARGE;
    default: /* resets, truncation, HTTP/2 stream errors, garbage replies */
        *retry = true;
        return CS_FETCH_NETWORK;
    }
}

/* Judges a finished request of user job j. Sets j->reason and its message;
 * returns whether a retry may help. */
static bool judge(cs_fetch *f, job *j, CURLcode rc, const char *cerr)
{
    (void)f;
    bool retry = false;
    if (j->abort_reason >= 0) { /* a callback decided; the message is set */
        j->reason = (cs_fetch_reason)j->abort_reason;
        if (j->reason == CS_FETCH_OPT_OUT && !j->msg)
            job_msg(j, "opted out by the response headers");
        return false;
    }
    if (rc == CURLE_WRITE_ERROR && j->cut)
        rc = CURLE_OK; /* we hung up on purpose */
    if (rc != CURLE_OK) {
        j->reason = curl_reason(rc, &retry);
        if (strstr(cerr, "Too large response headers")) { /* libcurl's 300 KiB limit */
            j->reason = CS_FETCH_TOO_LARGE;
            retry = false;
        }
        if (j->status > 0)
            job_msg(j, "%s (HTTP %ld, %" PRIu64 " body bytes received)", cerr, j->status,
                    j->bytes_received);
        else
            job_msg(j, "%s", cerr);
        return retry;
    }
    long s = j->status;
    if (s >= 200 && s < 300) {
        j->reason = CS_FETCH_OK;
        return false;
    }
    if (s >= 400 && s < 500) {
        j->reason = CS_FETCH_HTTP_4XX;
        job_msg(j, "HTTP %ld", s);
        return s == 429 || s == 408;
    }
    if (s >= 500 && s < 600) {
        j->reason = CS_FETCH_HTTP_5XX;
        job_msg(j, "HTTP %ld", s);
        return s != 501 && s != 505;
    }
    j->reason = CS_FETCH_HTTP_OTHER;
    job_msg(j, s ? "unexpected HTTP status %ld" : "no HTTP status", s);
    return false;
}

/* Backoff before try number j->tries + 1. */
static double backoff(cs_fetch *f, job *j)
{
    return cs__backoff(&f->rng, j->tries, f->o.retry_delay, f->o.retry_max_delay, j->status,
                       j->retry_after, f->o.retry_after_max);
}

static cs_status schedule_retry(cs_fetch *f, job *j, double now)
{
    double d = backoff(f, j);
    if (j->retry_after >= 0 && (j->status == 429 || j->status == 503) && j->h) {
        /* the host asked everyone to wait, not only this URL */
        if (j->h->next_start < now + d)
            j->h->next_start = now + d;
    }
    j->state = J_RETRY;
    return heap_push(&f->hretry, now + d, j);
}

/* Ends every queued job of h with reason (the host is dead or disallowed). */
static void fail_queue(cs_fetch *f, host *h, cs_fetch_reason reason, const char *msg)
{
    job *j, *robots = NULL;
    while ((j = queue_pop(h))) {
        if (j->is_robots) {
            robots = j;
            continue;
        }
        job_msg(j, "%s", msg);
        finish(f, j, reason);
    }
    if (robots)
        queue_push(h, robots, true);
}

/* A robots.txt request ended: decide the host's rules and release its queue. */
static cs_status robots_end(cs_fetch *f, job *r, CURLcode rc, const char *cerr, double now)
{
    host *h = r->h;
    long s = r->status;
    bool retry = false;
    cs_fetch_reason why = CS_FETCH_ROBOTS;
    char msg[CS_ERRMSG_MAX];
    msg[0] = 0;
    if (rc == CURLE_WRITE_ERROR && r->cut)
        rc = CURLE_OK;
    int outcome; /* 0 rules, 1 allow all, 2 disallow all */
    if (rc == CURLE_OK && s >= 200 && s < 300) {
        outcome = 0;
    } else if (rc == CURLE_TOO_MANY_REDIRECTS || (rc == CURLE_OK && s >= 300 && s < 500 &&
                                                  s != 429)) {
        outcome = 1; /* "unavailable": RFC 9309 2.3.1.3 */
    } else {
        outcome = 2; /* "unreachable": 2.3.1.4 */
        if (rc != CURLE_OK) {
            why = curl_reason(rc, &retry);
            if (why == CS_FETCH_REDIRECT_LOOP || why == CS_FETCH_DECODE ||
                why == CS_FETCH_BAD_URL || why == CS_FETCH_TOO_LARGE)
                why = CS_FETCH_ROBOTS;
            setmsg(msg, "%s/robots.txt: %s", h->key, cerr);
        } else {
            retry = s == 429 || (s >= 500 && s != 501);
            setmsg(msg, "%s/robots.txt answered HTTP %ld: the host counts as disallowed for "
                        "%.0f s (RFC 9309 2.3.1.4)", h->key, s, f->o.robots_error_ttl);
        }
    }
    if (outcome == 2 && retry && r->tries <= f->o.retries) {
        r->status = s;
        r->state = J_RETRY;
        queue_push(h, r, true); /* keeps the host waiting; the delay below holds it */
        double d = backoff(f, r);
        if (h->next_start < now + d)
            h->next_start = now + d;
        return host_kick(f, h, now);
    }
    /* the robots job is done either way */
    job_leave_host(f, r);
    live_unlink(f, r);
    if (outcome == 0) {
        cs_robots *rb = NULL;
        cs_status st = cs_robots_parse(r->body.data ? r->body.data : "", r->body.len, &rb);
        if (st) {
            job_free(f, r);
            return st;
        }
        h->robots = rb;
        h->robots_state = R_READY;
        h->robots_until = now + f->o.robots_ttl;
        double cd = f->o.ignore_crawl_delay ? -1 : cs_robots_crawl_delay(rb, f->o.robots_agent);
        if (cd > f->o.crawl_delay_max)
            cd = f->o.crawl_delay_max;
        h->delay = cd > f->o.host_delay ? cd : f->o.host_delay;
    } else if (outcome == 1) {
        h->robots = NULL;
        h->robots_state = R_READY;
        h->robots_until = now + f->o.robots_ttl;
        h->delay = f->o.host_delay;
    } else {
        h->robots_state = R_FAILED;
        h->robots_until = now + f->o.robots_error_ttl;
        h->fail_reason = why;
        cs_free(h->fail_msg);
        h->fail_msg = cs_strdup(msg);
        if (why == CS_FETCH_DNS) {
            h->dead_until = now + f->o.host_error_ttl;
        }
    }
    job_free(f, r);
    /* decide the waiting jobs */
    job *keep = NULL, *keep_tail = NULL, *j;
    while ((j = queue_pop(h))) {
        if (robots_permit(f, h, j)) {
            j->qnext = NULL;
            if (keep_tail)
                keep_tail->qnext = j;
            else
                keep = j;
            keep_tail = j;
        }
    }
    h->qhead = keep;
    h->qtail = keep_tail;
    return host_kick(f, h, now);
}

/* Follows a redirect of j to `to`; finishes it on a loop. */
static cs_status redirect(cs_fetch *f, job *j, const char *to, double now)
{
    uint64_t hv = hash_str(to, strlen(to));
    if (!j->hops) {
        j->hops = cs_malloc((size_t)(f->o.max_redirects + 2) * sizeof *j->hops);
        if (!j->hops)
            return CS_ENOMEM;
        const char *u0 = j->url;
        j->hops[j->nhops++] = hash_str(u0, strlen(u0));
        if (j->cur != j->url)
            j->hops[0] = hash_str(j->cur, strlen(j->cur));
    }
    for (int i = 0; i < j->nhops; i++)
        if (j->hops[i] == hv) {
            job_msg(j, "redirect loop: back to %.180s after %d redirects", to, j->redirects);
            finish(f, j, CS_FETCH_REDIRECT_LOOP);
            return CS_OK;
        }
    if (j->redirects >= f->o.max_redirects) {
        job_msg(j, "more than %d redirects (last to %.180s)", f->o.max_redirects, to);
        finish(f, j, CS_FETCH_REDIRECT_LOOP);
        return CS_OK;
    }
    j->hops[j->nhops++] = hv;
    char *nu = cs_strdup(to);
    if (!nu)
        return CS_ENOMEM;
    job_leave_host(f, j);
    if (j->cur != j->url)
        cs_free(j->cur);
    j->cur = nu;
    j->redirects++;
    j->tries = 0;
    f->st.redirects++;
    return route(f, j, now);
}

/* A request ended (libcurl says done): judge it and move its job on. */
static cs_status on_done(cs_fetch *f, CURL *e, CURLcode rc)
{
    job *j = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    double now = cs_now();
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    if (code)
        j->status = code;
    long hv = 0;
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &hv);
    j->http_version = hv == CURL_HTTP_VERSION_1_0   ? 10
                      : hv == CURL_HTTP_VERSION_1_1 ? 11
                      : hv == CURL_HTTP_VERSION_2_0 ? 20
                      : hv == CURL_HTTP_VERSION_3   ? 30
                                                    : 0;
    curl_off_t us = 0;
    curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &us);
    j->t.dns = (double)us / 1e6;
    us = 0;
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &us);
    j->t.connect = (double)us / 1e6;
    us = 0;
    curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &us);
    j->t.tls = (double)us / 1e6;
    us = 0;
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &us);
    j->t.ttfb = (double)us / 1e6;
    us = 0;
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us);
    j->t.request = (double)us / 1e6;
    char *loc = NULL, *to = NULL;
    bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && j->cut);
    if (!j->is_robots && answered && j->abort_reason < 0 && j->status >= 300 &&
        j->status < 400) {
        if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc && loc[0]) {
            if (!(to = cs_strdup(loc)))
                return CS_ENOMEM;
        } else if (j->location) {
            /* libcurl resolves Location only for transfers it saw to the end;
             * we hung up on a long 3xx body: resolve it here */
            CURLU *u = curl_url();
            char *abs = NULL;
            if (u && curl_url_set(u, CURLUPART_URL, j->cur, 0) == CURLUE_OK &&
                curl_url_set(u, CURLUPART_URL, j->location, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_URL, &abs, 0) == CURLUE_OK)
                to = cs_strdup(abs);
            curl_free(abs);
            if (u)
                curl_url_cleanup(u);
        }
    }
    xfer *x = j->x;
    char cerr[CURL_ERROR_SIZE];
    snprintf(cerr, sizeof cerr, "%s", x->err[0] ? x->err : curl_easy_strerror(rc));
    curl_multi_remove_handle(f->multi, e);
    x->next_free = f->free_x;
    f->free_x = x;
    j->x = NULL;
    host *h = j->h;
    h->active--;
    f->st.in_flight--;
    if (j->is_robots) {
        cs_free(to);
        return robots_end(f, j, rc, cerr, now);
    }
    cs_status st = CS_OK;
    bool retry = judge(f, j, rc, cerr);
    if (retry && j->retry_after < 0 && j->ebody.len && f->o.retry_hint &&
        (j->status == 429 || j->status == 503)) {
        double w = f->o.retry_hint(j->ebody.data, j->ebody.len, f->o.retry_hint_ud);
        if (w >= 0)
            j->retry_after = w;
    }
    if (j->ebody.data) { /* the hint's body is not kept past its answer */
        cs_buf_cleanup(&j->ebody);
        cs_buf_init(&j->ebody, ERROR_BODY_MAX);
    }
    if (j->reason == CS_FETCH_OK) {
        finish(f, j, CS_FETCH_OK);
    } else if (j->reason == CS_FETCH_HTTP_OTHER && to) {
        st = redirect(f, j, to, now);
    } else if (retry && j->tries <= f->o.retries) {
        st = schedule_retry(f, j, now);
    } else {
        if (retry && j->tries > 1 && j->msg) {
            size_t ml = strlen(j->msg);
            snprintf(j->msg + ml, CS_ERRMSG_MAX - ml, " (gave up after %d tries)", j->tries);
        }
        if (j->reason == CS_FETCH_DNS) { /* fail the host's other URLs fast for a while */
            h->dead_until = now + f->o.host_error_ttl;
            h->fail_reason = CS_FETCH_DNS;
            cs_free(h->fail_msg);
            h->fail_msg = cs_strdup(cerr);
            fail_queue(f, h, CS_FETCH_DNS, cerr);
        }
        finish(f, j, j->reason);
    }
    cs_free(to);
    if (!st)
        st = host_kick(f, h, now);
    return st;
}

/* ---- the loop ------------------------------------------------------------------------------------ */

static void refill(cs_fetch *f, double now)
{
    f->tokens += (now - f->tokens_t) * f->o.rate;
    if (f->tokens > f->o.rate_burst)
        f->tokens = f->o.rate_burst;
    f->tokens_t = now;
}

/* Takes one URL in (pushed first, then pulled); *took says whether it did. */
static cs_status take_in(cs_fetch *f, cs_fetch_next_fn next_fn, void *ud, bool *eof, double now,
                         bool *took)
{
    *took = false;
    job *j = f->push_head;
    if (j) {
        f->push_head = j->qnext;
        if (!f->push_head)
            f->push_tail = NULL;
        j->qnext = NULL;
        *took = true;
        return route(f, j, now);
    }
    if (*eof || f->nuser >= f->o.max_queued)
        return CS_OK;
    cs_fetch_request req;
    memset(&req, 0, sizeof req);
    cs_status st = next_fn(ud, &req);
    if (st == CS_DONE) {
        *eof = true;
        return CS_OK;
    }
    if (st == CS_EAGAIN) {
        f->input_waits = true; /* nothing now: asked again next turn */
        return CS_OK;
    }
    if (st)
        return st;
    const char *u = req.url ? req.url : "";
    j = job_new(f, u, req.url_len ? req.url_len : strlen(u), req.user, false);
    if (!j)
        return CS_ENOMEM;
    *took = true;
    return route(f, j, now);
}

/* Starts requests while slots, the rate and the hosts allow; takes URLs in
 * (routing needs no token) when no host can start one. */
static cs_status fill(cs_fetch *f, cs_fetch_next_fn next_fn, void *ud, bool *eof)
{
    for (;;) {
        double now = cs_now();
        if (f->st.in_flight >= f->o.parallel)
            return CS_OK;
        bool token = true;
        if (f->o.rate > 0) {
            refill(f, now);
            token = f->tokens >= 1;
        }
        host *h = token ? ready_pop(f, now) : NULL;
        if (h) {
            job *j = queue_pop(h);
            cs_status st = start(f, j, now);
            if (st) {
                queue_push(h, j, true);
                return st;
            }
            if ((st = host_kick(f, h, now)))
                return st;
            continue;
        }
        bool took;
        cs_status st = take_in(f, next_fn, ud, eof, now, &took);
        if (st)
            return st;
        if (!took)
            return CS_OK;
    }
}

uint8_t *cs_fetch_result_take_body(cs_fetch_result *res, size_t *len)
{
    uint8_t *b = res->body;
    if (len)
        *len = b ? res->body_len : 0;
    res->body = NULL;
    res->body_len = 0;
    return b;
}

static cs_status deliver_done(cs_fetch *f, cs_fetch_done_fn done_fn, void *ud)
{
    cs_status st = CS_OK;
    while (f->done_head && !st) {
        job *j = f->done_head;
        f->done_head = j->qnext;
        if (!f->done_head)
            f->done_tail = NULL;
        cs_fetch_result r;
        memset(&r, 0, sizeof r);
        r.index = j->index;
        r.user = j->user;
        r.url = j->url;
        r.final_url = j->cur ? j->cur : j->url;
        r.reason = j->reason;
        r.message = j->reason == CS_FETCH_OK ? "" : j->msg ? j->msg : cs_fetch_reason_desc(j->reason);
        r.status = j->status;
        r.http_version = j->http_version;
        r.content_type = j->ctype[0] ? j->ctype : NULL;
        r.content_length = j->clen;
        bool ok = j->reason == CS_FETCH_OK;
        r.body = ok && j->body.len ? (uint8_t *)j->body.data : NULL;
        r.body_len = r.body ? j->body.len : 0;
        r.bytes_received = j->bytes_received;
        r.attempts = j->attempts;
        r.redirects = j->redirects;
        r.t = j->t;
        r.t.elapsed = cs_now() - j->t_in;
        f->st.done++;
        f->st.by_reason[j->reason]++;
        if (ok)
            f->st.bytes += j->body.len;
        uint8_t *given = r.body;
        st = done_fn(ud, &r);
        if (given && !r.body) { /* taken */
            f->st.body_mem -= j->body.cap + 1;
            j->body.data = NULL;
            j->body.len = j->body.cap = 0;
        }
        live_unlink(f, j);
        f->nuser--;
        f->st.queued = f->nuser;
        job_free(f, j);
    }
    return st;
}

static void clear_schedules(cs_fetch *f)
{
    for (size_t b = 0; b < f->nbuckets; b++)
        for (host *h = f->buckets[b]; h; h = h->hnext) {
            h->qhead = h->qtail = NULL;
            h->in_ready = h->in_heap = false;
            h->active = 0;
            if (h->robots_state == R_FETCHING)
                h->robots_state = R_NONE;
        }
    f->ready_head = f->ready_tail = NULL;
    f->hdelay.n = f->hretry.n = 0;
    f->push_head = f->push_tail = NULL;
}

/* Takes every active request off libcurl. */
static void unplug_all(cs_fetch *f)
{
    for (job *j = f->live; j; j = j->next)
        if (j->state == J_ACTIVE && j->x) {
            curl_multi_remove_handle(f->multi, j->x->e);
            j->x->next_free = f->free_x;
            f->free_x = j->x;
            j->x = NULL;
            f->st.in_flight--;
        }
}

/* Cancel: every undelivered job ends as canceled (delivered later). */
static void cancel_all(cs_fetch *f, const char *why)
{
    unplug_all(f);
    job *j = f->live;
    while (j) {
        job *nx = j->next;
        if (j->is_robots) {
            job_leave_host(f, j);
            live_unlink(f, j);
            job_free(f, j);
        } else if (j->state != J_DONE) {
            job_msg(j, "%s", why);
            j->qnext = NULL;
            finish(f, j, CS_FETCH_CANCELED);
        }
        j = nx;
    }
    clear_schedules(f);
}

/* After an error: everything is dropped undelivered. */
static void drop_all(cs_fetch *f)
{
    unplug_all(f);
    while (f->live) {
        job *j = f->live;
        job_leave_host(f, j);
        live_unlink(f, j);
        job_free(f, j);
    }
    f->nuser = 0;
    f->st.queued = 0;
    f->done_head = f->done_tail = NULL;
    clear_schedules(f);
}

static void raise_nofile(cs_fetch *f)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)f->o.parallel * 5 + 256; /* in flight + cached connections */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || need < rl.rlim_max ? need : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Milliseconds to wait for sockets before the loop has work again. */
static int wait_ms(cs_fetch *f, bool eof)
{
    double now = cs_now();
    bool slots = f->st.in_flight < f->o.parallel;
    if (f->done_head || (slots && f->push_head))
        return 0; /* a callback pushed URLs: route them now */
    if (slots && !eof && f->nuser < f->o.max_queued && !f->input_waits)
        return 0; /* deliveries made room for more input */
    double due = now + 1.0;
    if (f->curl_due >= 0 && f->curl_due < due)
        due = f->curl_due;
    if (f->hretry.n && f->hretry.a[0].key < due)
        due = f->hretry.a[0].key;
    if (slots && f->hdelay.n && f->hdelay.a[0].key < due)
        due = f->hdelay.a[0].key;
    if (slots && f->ready_head) {
        double t = now;
        if (f->o.rate > 0 && f->tokens < 1)
            t = now + (1 - f->tokens) / f->o.rate;
        if (t < due)
            due = t;
    }
    if (due <= now)
        return 0;
    return (int)ceil((due - now) * 1000);
}

cs_status cs_fetch_run(cs_fetch *f, cs_fetch_next_fn next_fn, cs_fetch_done_fn done_fn, void *ud)
{
    if (f->running || !done_fn)
        return CS_EINVAL;
    f->running = true;
    raise_nofile(f);
    bool eof = next_fn == NULL;
    cs_status st = CS_OK;
    struct epoll_event evs[EVENTS_MAX];
    f->tokens_t = cs_now();
    for (;;) {
        if (atomic_load(&f->canceled) ||
            (f->o.cancel && __atomic_load_n(f->o.cancel, __ATOMIC_RELAXED))) {
            cancel_all(f, "canceled");
            st = deliver_done(f, done_fn, ud);
            if (!st)
                st = CS_ECANCELED;
            break;
        }
        double now = cs_now();
        while (f->hretry.n && f->hretry.a[0].key <= now) {
            job *j = heap_pop(&f->hretry);
            queue_push(j->h, j, true);
            if ((st = host_kick(f, j->h, now)))
                goto out;
        }
        while (f->hdelay.n && f->hdelay.a[0].key <= now) {
            host *h = heap_pop(&f->hdelay);
            h->in_heap = false;
            if ((st = host_kick(f, h, now)))
                goto out;
        }
        if (f->nhosts > f->o.max_hosts)
            evict_hosts(f);
        f->input_waits = false;
        if ((st = fill(f, next_fn, ud, &eof)))
            goto out;
        if ((st = deliver_done(f, done_fn, ud)))
            goto out;
        if (eof && !f->live)
            break;
        int n = epoll_wait(f->epfd, evs, EVENTS_MAX, wait_ms(f, eof));
        if (n < 0 && errno != EINTR) {
            snprintf(f->errmsg, sizeof f->errmsg, "epoll_wait: %s", strerror(errno));
            st = CS_ENET;
            goto out;
        }
        int running;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == f->wakefd) {
                uint64_t v;
                ssize_t r = read(f->wakefd, &v, sizeof v);
                (void)r;
                continue;
            }
            int mask = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                       ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                       ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(f->multi, evs[i].data.fd, mask, &running);
        }
        if (f->curl_due >= 0 && cs_now() >= f->curl_due) {
            f->curl_due = -1;
            curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(f->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            if ((st = on_done(f, m->easy_handle, m->data.result)))
                goto out;
        }
    }
out:
    if (st && st != CS_ECANCELED) {
        /* every URL taken in still gets its one result, so that callers can
         * release what they hung on `user`; their statuses no longer matter */
        char why[96];
        snprintf(why, sizeof why, "canceled: the run stopped (%s)", cs_status_name(st));
        cancel_all(f, why);
        while (f->done_head)
            (void)deliver_done(f, done_fn, ud);
        drop_all(f);
    }
    f->running = false;
    atomic_store(&f->canceled, 0);
    return st;
}

/* ---- lifecycle ------------------------------------------------------------------------------------- */

static cs_status copy_str(const char **field, char **own, const char *dflt)
{
    const char *s = *field ? *field : dflt;
    *own = NULL;
    if (s && !(*own = cs_strdup(s)))
        return CS_ENOMEM;
    *field = *own;
    return CS_OK;
}

static cs_status make_slist(const char *const *arr, struct curl_slist **out)
{
    *out = NULL;
    for (size_t i = 0; arr && arr[i]; i++) {
        struct curl_slist *n = curl_slist_append(*out, arr[i]);
        if (!n)
            return CS_ENOMEM;
        *out = n;
    }
    return CS_OK;
}

cs_status cs_fetch_new(cs_fetch **out, const cs_fetch_opts *opts)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return CS_ENET;
    cs_fetch *f = cs_calloc(1, sizeof *f);
    if (!f)
        return CS_ENOMEM;
    f->epfd = f->wakefd = -1;
    f->curl_due = -1;
    if (opts)
        f->o = *opts;
    else
        cs_fetch_opts_init(&f->o);
    cs_fetch_opts *o = &f->o;
    cs_status st = CS_ENOMEM;
    if (copy_str(&o->user_agent, &f->s_ua, CS_FETCH_DEFAULT_UA) ||
        copy_str(&o->robots_agent, &f->s_agent, CS_FETCH_DEFAULT_AGENT) ||
        copy_str(&o->accept_types, &f->s_types, NULL) ||
        copy_str(&o->opt_out_directives, &f->s_optout, CS_FETCH_DEFAULT_OPT_OUT) ||
        copy_str(&o->proxy, &f->s_proxy, NULL) ||
        make_slist(o->resolve, &f->resolve) || make_slist(o->headers, &f->headers) ||
        make_slist(o->connect_to, &f->connect_to))
        goto fail;
    o->resolve = NULL;
    o->connect_to = NULL;
    o->headers = NULL;
    if (o->parallel <= 0)
        o->parallel = 256;
    if (o->per_host < 0)
        o->per_host = 0;
    if (o->max_queued < (size_t)o->parallel)
        o->max_queued = (size_t)o->parallel;
    if (o->rate > 0 && o->rate_burst < 1)
        o->rate_burst = o->rate / 10 > 1 ? o->rate / 10 : 1;
    if (o->max_body == 0)
        o->max_body = 32u << 20;
    if (o->max_header == 0)
        o->max_header = 64u << 10;
    if (o->max_redirects < 0)
        o->max_redirects = 0;
    if (o->retries < 0)
        o->retries = 0;
    if (o->max_hosts == 0)
        o->max_hosts = 100000;
    f->tokens = o->rate_burst;
    f->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)f << 16) ^ 0x9E3779B97F4A7C15ull;
    st = CS_ENET;
    f->multi = curl_multi_init();
    f->share = curl_share_init();
    if (!f->multi || !f->share) {
        snprintf(f->errmsg, sizeof f->errmsg, "libcurl multi/share init failed");
        goto fail;
    }
    curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    if (o->per_host > 0)
        curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->per_host);
    /* idle connections kept: room for every host's connections to be reused */
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)o->parallel * 4);
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    f->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f->epfd < 0 || f->wakefd < 0) {
        snprintf(f->errmsg, sizeof f->errmsg, "epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = f->wakefd;
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->wakefd, &ev) != 0) {
        snprintf(f->errmsg, sizeof f->errmsg, "epoll_ctl: %s", strerror(errno));
        goto fail;
    }
    *out = f;
    return CS_OK;
fail:
    cs_fetch_free(f);
    return st;
}

void cs_fetch_free(cs_fetch *f)
{
    if (!f)
        return;
    if (f->multi)
        drop_all(f);
    while (f->free_x) {
        xfer *x = f->free_x;
        f->free_x = x->next_free;
        curl_easy_cleanup(x->e);
        cs_free(x);
    }
    if (f->multi)
        curl_multi_cleanup(f->multi);
    if (f->share)
        curl_share_cleanup(f->share);
    if (f->epfd >= 0)
        close(f->epfd);
    if (f->wakefd >= 0)
        close(f->wakefd);
    for (size_t b = 0; b < f->nbuckets; b++) {
        host *h = f->buckets[b];
        while (h) {
            host *nx = h->hnext;
            host_free(h);
            h = nx;
        }
    }
    cs_free(f->buckets);
    cs_free(f->hdelay.a);
    cs_free(f->hretry.a);
    curl_slist_free_all(f->resolve);
    curl_slist_free_all(f->connect_to);
    curl_slist_free_all(f->headers);
    cs_free(f->s_ua);
    cs_free(f->s_agent);
    cs_free(f->s_types);
    cs_free(f->s_optout);
    cs_free(f->s_proxy);
    cs_free(f);
}

cs_status cs_fetch_add(cs_fetch *f, const char *url, size_t len, void *user)
{
    if (!url)
        return CS_EINVAL;
    job *j = job_new(f, url, len ? len : strlen(url), user, false);
    if (!j)
        return CS_ENOMEM;
    j->state = J_NEW;
    if (f->push_tail)
        f->push_tail->qnext = j;
    else
        f->push_head = j;
    f->push_tail = j;
    return CS_OK;
}

void cs_fetch_wakeup(cs_fetch *f)
{
    if (f->wakefd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(f->wakefd, &one, sizeof one);
        (void)r;
    }
}

void cs_fetch_cancel(cs_fetch *f)
{
    atomic_store(&f->canceled, 1);
    cs_fetch_wakeup(f);
}

void cs_fetch_stats_get(const cs_fetch *f, cs_fetch_stats *out)
{
    *out = f->st;
    out->hosts = f->nhosts;
    out->queued = f->nuser;
}

const char *cs_fetch_errmsg(const cs_fetch *f) { return f->errmsg; }
