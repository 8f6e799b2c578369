/* origin.c - the fault-injecting loopback HTTP origin (see origin.h).
 *
 * libmicrohttpd in thread-per-connection mode: a reply that sleeps (delay,
 * stall, drip) blocks only its own connection, so tests can hold 50+ slow
 * transfers open at once. Every sleep waits on one condition variable that
 * cs_origin_stop() broadcasts, so stopping never waits for a stall to end.
 * Routes are immutable once added and freed only at stop, so a reply in
 * flight may keep pointers into its route without holding the lock. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "crawlset/gzip.h"
#include "origin.h"

#define LOG_MAX 1000000 /* requests kept in the log; later ones are counted only */
#define BLOCK_SIZE (64 * 1024)

typedef struct route {
    struct route *next;
    char *path;           /* owned */
    cs_origin_route r;    /* its pointers point at the owned copies below */
    unsigned hits;        /* requests so far (under o->mu) */
} route;

struct cs_origin {
    struct MHD_Daemon *d;
    uint16_t port;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* broadcast at stop; sleeps wait on it */
    bool stopping;
    route *routes;         /* newest first */
    char *root;            /* directory mode; NULL = off */
    route *dir_route;      /* faults for directory files; never NULL once root set */
    route *retired;        /* replaced dir routes, freed at stop */
    cs_origin_request *log;
    size_t nlog, caplog, total;
    int active, peak;
};

/* Per request (MHD's req_cls). */
typedef struct req {
    bool started;
    size_t log_idx;        /* SIZE_MAX when not logged */
} req;

/* The body of one reply (content-reader cls). */
typedef struct stream {
    cs_origin *o;
    const cs_origin_route *r;
    const uint8_t *mem;    /* body in memory (borrowed from the route) ... */
    int fd;                /* ... or an open file (owned), -1 if mem */
    uint64_t start;        /* first source byte to send */
    uint64_t avail;        /* real bytes to send */
    int sock;              /* the connection's socket, for an abortive close */
    bool stalled;          /* the one stall has happened */
} stream;

/* ---- helpers ---------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? cs_strdup(s) : NULL; }

static void route_free(route *rt)
{
    if (!rt)
        return;
    cs_free(rt->path);
    cs_free((void *)rt->r.headers);
    cs_free((void *)rt->r.body);
    cs_free((void *)rt->r.body_file);
    cs_free((void *)rt->r.content_type);
    cs_free((void *)rt->r.redirect);
    cs_free((void *)rt->r.fail_headers);
    cs_free((void *)rt->r.fail_body);
    cs_free(rt);
}

static cs_status read_whole(const char *path, cs_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CS_ENOTFOUND;
    cs_status st = CS_OK;
    for (;;) {
        if ((st = cs_buf_reserve(out, 65536)))
            break;
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = CS_EIO;
            break;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
    close(fd);
    return st;
}

/* Deep-copies r; compresses the body once when r->gzip. */
static cs_status route_copy(route **out, const char *path, const cs_origin_route *r)
{
    cs_status st = CS_ENOMEM;
    cs_buf raw, gz;
    cs_buf_init(&raw, 0);
    cs_buf_init(&gz, 0);
    route *rt = cs_calloc(1, sizeof *rt);
    if (!rt)
        goto fail;
    rt->r = *r;
    rt->r.headers = dup_or_null(r->headers);
    rt->r.content_type = dup_or_null(r->content_type);
    rt->r.redirect = dup_or_null(r->redirect);
    rt->r.fail_headers = dup_or_null(r->fail_headers);
    rt->r.fail_body = dup_or_null(r->fail_body);
    rt->r.body_file = dup_or_null(r->body_file);
    rt->r.body = NULL;
    rt->path = dup_or_null(path);
    if ((r->headers && !rt->r.headers) || (r->content_type && !rt->r.content_type) ||
        (r->redirect && !rt->r.redirect) || (r->fail_headers && !rt->r.fail_headers) ||
        (r->fail_body && !rt->r.fail_body) ||
        (r->body_file && !rt->r.body_file) || (path && !rt->path))
        goto fail;
    if (r->gzip) {
        /* compress now: the body is fixed, so every request sees the same bytes */
        if (r->body_file) {
            if ((st = read_whole(r->body_file, &raw)))
                goto fail;
        } else if (r->body_len && (st = cs_buf_append(&raw, r->body, r->body_len))) {
            goto fail;
        }
        cs_deflate *d;
        if ((st = cs_deflate_new(&d, 6)))
            goto fail;
        cs_slice part = {raw.data ? raw.data : "", raw.len};
        st = cs_deflate_member(d, &part, 1, &gz);
        cs_deflate_free(d);
        if (st)
            goto fail;
        cs_free((void *)rt->r.body_file);
        rt->r.body_file = NULL;
        rt->r.body_len = gz.len;
        rt->r.body = cs_buf_take(&gz, NULL);
    } else if (r->body_len) {
        uint8_t *b = cs_malloc(r->body_len);
        if (!b)
            goto fail;
        memcpy(b, r->body, r->body_len);
        rt->r.body = b;
    }
    cs_buf_cleanup(&raw);
    *out = rt;
    return CS_OK;
fail:
    cs_buf_cleanup(&raw);
    cs_buf_cleanup(&gz);
    route_free(rt);
    return st;
}

/* Sleeps ms unless the server stops first; false when stopping. */
static bool nap(cs_origin *o, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&o->mu);
    while (!o->stopping) {
        if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT)
            break;
    }
    bool ok = !o->stopping;
    pthread_mutex_unlock(&o->mu);
    return ok;
}

static bool is_stopping(cs_origin *o)
{
    pthread_mutex_lock(&o->mu);
    bool s = o->stopping;
    pthread_mutex_unlock(&o->mu);
    return s;
}

static void set_log_status(cs_origin *o, req *rq, int status)
{
    pthread_mutex_lock(&o->mu);
    if (rq->log_idx < o->nlog)
        o->log[rq->log_idx].status = status;
    pthread_mutex_unlock(&o->mu);
}

/* Adds "Name: value" lines from text to the response. */
static void add_header_lines(struct MHD_Response *resp, const char *text)
{
    if (!text)
        return;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char line[1024];
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, p, n);
        line[n] = 0;
        if (n && line[n - 1] == '\r')
            line[--n] = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            MHD_add_response_header(resp, line, v);
        }
        p = eol ? eol + 1 : p + strlen(p);
    }
}

static enum MHD_Result reply_simple(struct MHD_Connection *c, int status, const char *body,
                                    const char *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    add_header_lines(resp, headers);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- Range ---------------------------------------------------------------- */

enum { RANGE_NONE, RANGE_OK, RANGE_UNSAT };

/* Parses one "bytes=a-b" / "a-" / "-n" range against size. Multiple ranges
 * and bad syntax are ignored (RFC 9110 lets a server serve the whole body). */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (!h)
        return RANGE_NONE;
    while (*h == ' ')
        h++;
    if (strncmp(h, "bytes=", 6) != 0)
        return RANGE_NONE;
    h += 6;
    if (strchr(h, ','))
        return RANGE_NONE;
    const char *dash = strchr(h, '-');
    if (!dash)
        return RANGE_NONE;
    cs_slice a = {h, (size_t)(dash - h)}, b = {dash + 1, strlen(dash + 1)};
    a = cs_slice_trim(a);
    b = cs_slice_trim(b);
    uint64_t va, vb;
    if (a.len == 0) { /* suffix: last n bytes */
        if (!cs_slice_to_u64(b, &vb))
            return RANGE_NONE;
        if (vb == 0 || size == 0)
            return RANGE_UNSAT;
        *first = vb >= size ? 0 : size - vb;
        *last = size - 1;
        return RANGE_OK;
    }
    if (!cs_slice_to_u64(a, &va))
        return RANGE_NONE;
    if (b.len == 0) {
        vb = UINT64_MAX;
    } else {
        if (!cs_slice_to_u64(b, &vb))
            return RANGE_NONE;
        if (vb < va)
            return RANGE_NONE;
    }
    if (va >= size)
        return RANGE_UNSAT;
    *first = va;
    *last = vb >= size ? size - 1 : vb;
    return RANGE_OK;
}

/* ---- body streaming ------------------------------------------------------ */

static ssize_t body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *s = cls;
    const cs_origin_route *r = s->r;
    if (is_stopping(s->o))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (r->close_early && pos >= r->close_after) {
        if (r->reset && s->sock >= 0) {
            struct linger lg = {1, 0}; /* close() now sends RST */
            setsockopt(s->sock, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (r->stall_ms && !s->stalled && pos >= r->stall_after) {
        s->stalled = true;
        if (!nap(s->o, r->stall_ms))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (r->drip_ms && r->drip_bytes) {
        if (pos > 0 && !nap(s->o, r->drip_ms))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (max > r->drip_bytes)
            max = r->drip_bytes;
    }
    /* stop short of the next fault boundary so it happens at the exact byte */
    if (r->stall_ms && !s->stalled && r->stall_after > pos && r->stall_after - pos < max)
        max = r->stall_after - pos;
    if (r->close_early && r->close_after > pos && r->close_after - pos < max)
        max = r->close_after - pos;
    if (r->endless) {
        static const char pat[] = "endless body, endless body, endless body, endless!\n";
        for (size_t i = 0; i < max; i++)
            buf[i] = pat[(pos + i) % (sizeof pat - 1)];
        return (ssize_t)max;
    }
    if (pos >= s->avail) /* a lie about the length: more was promised */
        return r->lie_length ? MHD_CONTENT_READER_END_WITH_ERROR
                             : MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t left = s->avail - pos;
    size_t n = left < max ? (size_t)left : max;
    if (s->mem) {
        memcpy(buf, s->mem + s->start + pos, n);
        return (ssize_t)n;
    }
    ssize_t got;
    do {
        got = pread(s->fd, buf, n, (off_t)(s->start + pos));
    } while (got < 0 && errno == EINTR);
    if (got <= 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return got;
}

static void stream_free(void *cls)
{
    stream *s = cls;
    if (s->fd >= 0)
        close(s->fd);
    cs_free(s);
}

static const char *guess_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } T[] = {{".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
             {".txt", "text/plain; charset=utf-8"}, {".json", "application/json"},
             {".jsonl", "application/jsonl"}, {".csv", "text/csv"},
             {".gz", "application/gzip"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
             {".png", "image/png"}, {".gif", "image/gif"}, {".webp", "image/webp"},
             {".svg", "image/svg+xml"}, {".xml", "application/xml"}};
    size_t pl = strlen(path);
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        size_t el = strlen(T[i].ext);
        if (pl >= el && !strcmp(path + pl - el, T[i].ext))
            return T[i].type;
    }
    return "application/octet-stream";
}

/* Sends r's body (from mem, or from the open file fd of size fsize). */
static enum MHD_Result reply_body(cs_origin *o, struct MHD_Connection *c, req *rq,
                                  const cs_origin_route *r, int fd, uint64_t fsize,
                                  const char *type_hint)
{
    stream *s = cs_calloc(1, sizeof *s);
    if (!s) {
        if (fd >= 0)
            close(fd);
        return MHD_NO;
    }
    s->o = o;
    s->r = r;
    s->fd = fd;
    s->mem = fd < 0 ? r->body : NULL;
    uint64_t size = fd >= 0 ? fsize : r->body_len;
    s->start = 0;
    s->avail = size;
    s->sock = -1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        s->sock = ci->connect_fd;

    int status = r->status ? r->status : 200;
    char content_range[96] = "";
    bool ranged = !r->no_range && !r->endless && (r->status == 0 || r->status == 200);
    if (ranged && !r->ignore_range) {
        const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
        uint64_t first = 0, last = 0;
        int k = parse_range(rh, size, &first, &last);
        if (k == RANGE_UNSAT) {
            stream_free(s);
            snprintf(content_range, sizeof content_range, "Content-Range: bytes */%llu",
                     (unsigned long long)size);
            set_log_status(o, rq, 416);
            return reply_simple(c, 416, "range not satisfiable\n", content_range);
        }
        if (k == RANGE_OK) {
            status = 206;
            s->start = first;
            s->avail = last - first + 1;
            snprintf(content_range, sizeof content_range, "bytes %llu-%llu/%llu",
                     (unsigned long long)first, (unsigned long long)last,
                     (unsigned long long)size);
        }
    }
    uint64_t declared = r->endless ? MHD_SIZE_UNKNOWN
                        : r->lie_length ? r->declared_length
                                        : s->avail;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(declared, BLOCK_SIZE, body_cb, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type
                                            : type_hint ? type_hint : "application/octet-stream");
    if (!r->no_range)
        MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (content_range[0])
        MHD_add_response_header(resp, "Content-Range", content_range);
    if (r->gzip)
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    add_header_lines(resp, r->headers);
    set_log_status(o, rq, status);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- routing ----------------------------------------------------------------- */

static enum MHD_Result serve_route(cs_origin *o, struct MHD_Connection *c, req *rq, route *rt)
{
    const cs_origin_route *r = &rt->r;
    pthread_mutex_lock(&o->mu);
    unsigned hit = ++rt->hits;
    pthread_mutex_unlock(&o->mu);
    if (r->delay_ms && !nap(o, r->delay_ms))
        return MHD_NO;
    if (hit <= r->fail_times) {
        int fs = r->fail_status ? r->fail_status : 503;
        char body[64];
        snprintf(body, sizeof body, "failure %u of %u\n", hit, r->fail_times);
        set_log_status(o, rq, fs);
        return reply_simple(c, fs, r->fail_body ? r->fail_body : body, r->fail_headers);
    }
    if (r->redirect) {
        int rs = (r->status >= 300 && r->status < 400) ? r->status : 302;
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Location", r->redirect);
        add_header_lines(resp, r->headers);
        set_log_status(o, rq, rs);
        enum MHD_Result ret = MHD_queue_response(c, (unsigned)rs, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    int fd = -1;
    uint64_t fsize = 0;
    if (r->body_file) {
        struct stat sb;
        fd = open(r->body_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            if (fd >= 0)
                close(fd);
            set_log_status(o, rq, 404);
            return reply_simple(c, 404, "not found\n", NULL);
        }
        fsize = (uint64_t)sb.st_size;
    }
    return reply_body(o, c, rq, r, fd, fsize, r->body_file ? guess_type(r->body_file) : NULL);
}

/* Refuses "..", backslashes and empty paths; true when safe under root. */
static bool safe_path(const char *path)
{
    if (path[0] != '/' || strchr(path, '\\'))
        return false;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
    }
    return true;
}

static enum MHD_Result serve_dir(cs_origin *o, struct MHD_Connection *c, req *rq,
                                 const char *path)
{
    if (!safe_path(path)) {
        set_log_status(o, rq, 403);
        return reply_simple(c, 403, "forbidden\n", NULL);
    }
    char full[4096];
    pthread_mutex_lock(&o->mu);
    route *dr = o->dir_route;
    unsigned hit = ++dr->hits;
    int n = snprintf(full, sizeof full, "%s%s", o->root, path);
    pthread_mutex_unlock(&o->mu);
    const cs_origin_route *r = &dr->r;
    if (r->delay_ms && !nap(o, r->delay_ms))
        return MHD_NO;
    if (hit <= r->fail_times) {
        set_log_status(o, rq, r->fail_status ? r->fail_status : 503);
        return reply_simple(c, r->fail_status ? r->fail_status : 503,
                            r->fail_body ? r->fail_body : "failure\n", r->fail_headers);
    }
    struct stat sb;
    int fd = -1;
    if (n > 0 && (size_t)n < sizeof full)
        fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        set_log_status(o, rq, 404);
        return reply_simple(c, 404, "not found\n", NULL);
    }
    return reply_body(o, c, rq, r, fd, (uint64_t)sb.st_size, guess_type(path));
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Rebuilds "k=v&k2=v2" (decoded, in order) from the query arguments. */
typedef struct qbuf {
    char *s;
    size_t len, cap;
} qbuf;

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    qbuf *q = cls;
    size_t need = strlen(key) + (value ? strlen(value) + 1 : 0) + 1;
    if (q->len + need + 1 > q->cap)
        return MHD_NO; /* too long: matched by path only */
    q->len += (size_t)snprintf(q->s + q->len, q->cap - q->len, "%s%s%s%s", q->len ? "&" : "",
                               key, value ? "=" : "", value ? value : "");
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version,
                               const char *upload_data, size_t *upload_data_size,
                               void **req_cls)
{
    cs_origin *o = cls;
    req *rq = *req_cls;
    if (!rq) {
        rq = cs_calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->log_idx = SIZE_MAX;
        *req_cls = rq;
        cs_origin_request e;
        memset(&e, 0, sizeof e);
        copy_str(e.method, sizeof e.method, method);
        copy_str(e.path, sizeof e.path, url);
        copy_str(e.range, sizeof e.range,
                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"));
        copy_str(e.user_agent, sizeof e.user_agent,
                 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent"));
        e.time = cs_now();
        pthread_mutex_lock(&o->mu);
        o->total++;
        if (o->nlog == o->caplog && o->caplog < LOG_MAX) {
            size_t nc = o->caplog ? o->caplog * 2 : 256;
            cs_origin_request *nl = cs_realloc(o->log, nc * sizeof *nl);
            if (nl) {
                o->log = nl;
                o->caplog = nc;
            }
        }
        if (o->nlog < o->caplog) {
            rq->log_idx = o->nlog;
            o->log[o->nlog++] = e;
        }
        if (++o->active > o->peak)
            o->peak = o->active;
        rq->started = true;
        pthread_mutex_unlock(&o->mu);
        return MHD_YES;
    }
    if (*upload_data_size) { /* request bodies are read and dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    route *rt = NULL;
    /* a route whose path has a query ("/latest.json?page=1") matches that
     * exact query (arguments decoded, in order); others match the path */
    char full[2048];
    qbuf q = {full, 0, sizeof full};
    size_t ulen = strlen(url);
    bool has_query = false;
    if (ulen + 2 < sizeof full) {
        memcpy(full, url, ulen);
        full[ulen] = '?';
        q.s = full + ulen + 1;
        q.cap = sizeof full - ulen - 1;
        q.s[0] = 0;
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
        has_query = q.len > 0;
    }
    pthread_mutex_lock(&o->mu);
    if (has_query)
        for (route *x = o->routes; x; x = x->next)
            if (!strcmp(x->path, full)) {
                rt = x;
                break;
            }
    for (route *x = o->routes; x && !rt; x = x->next)
        if (!strcmp(x->path, url)) {
            rt = x;
            break;
        }
    bool have_root = o->root != NULL;
    pthread_mutex_unlock(&o->mu);
    if (rt)
        return serve_route(o, c, rq, rt);
    if (have_root)
        return serve_dir(o, c, rq, url);
    set_log_status(o, rq, 404);
    return reply_simple(c, 404, "not found\n", NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    cs_origin *o = cls;
    req *rq = *req_cls;
    if (!rq)
        return;
    if (rq->started) {
        pthread_mutex_lock(&o->mu);
        o->active--;
        pthread_mutex_unlock(&o->mu);
    }
    cs_free(rq);
    *req_cls = NULL;
}

/* ---- lifecycle -------------------------------------------------------------- */

cs_status cs_origin_start(cs_origin **out) { return cs_origin_start_opts(out, NULL); }

cs_status cs_origin_start_opts(cs_origin **out, const cs_origin_opts *opts)
{
    *out = NULL;
    cs_origin *o = cs_calloc(1, sizeof *o);
    if (!o)
        return CS_ENOMEM;
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (opts && opts->root) {
        cs_status st = cs_origin_set_root(o, opts->root, opts->dir_route);
        if (st) {
            cs_origin_stop(o);
            return st;
        }
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opts ? opts->port : 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    o->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_POLL | MHD_USE_ITC,
                            0, NULL, NULL, handler, o, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, o,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1 << 20), MHD_OPTION_END);
    if (!o->d) {
        cs_origin_stop(o);
        return CS_ENET;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(o->d, MHD_DAEMON_INFO_BIND_PORT);
    o->port = di ? di->port : 0;
    if (!o->port) {
        cs_origin_stop(o);
        return CS_ENET;
    }
    snprintf(o->url, sizeof o->url, "http://127.0.0.1:%u", (unsigned)o->port);
    *out = o;
    return CS_OK;
}

void cs_origin_stop(cs_origin *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->stopping = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (o->d)
        MHD_stop_daemon(o->d);
    while (o->routes) {
        route *n = o->routes->next;
        route_free(o->routes);
        o->routes = n;
    }
    while (o->retired) {
        route *n = o->retired->next;
        route_free(o->retired);
        o->retired = n;
    }
    route_free(o->dir_route);
    cs_free(o->root);
    cs_free(o->log);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    cs_free(o);
}

uint16_t cs_origin_port(const cs_origin *o) { return o->port; }

const char *cs_origin_url(const cs_origin *o) { return o->url; }

cs_status cs_origin_route_add(cs_origin *o, const char *path, const cs_origin_route *r)
{
    if (!path || path[0] != '/' || !r)
        return CS_EINVAL;
    route *rt;
    cs_status st = route_copy(&rt, path, r);
    if (st)
        return st;
    pthread_mutex_lock(&o->mu);
    rt->next = o->routes; /* newest first: it shadows older routes for the path */
    o->routes = rt;
    pthread_mutex_unlock(&o->mu);
    return CS_OK;
}

cs_status cs_origin_route_simple(cs_origin *o, const char *path, int status, const char *body)
{
    cs_origin_route r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.body = body;
    r.body_len = body ? strlen(body) : 0;
    r.content_type = "text/plain; charset=utf-8";
    return cs_origin_route_add(o, path, &r);
}

cs_status cs_origin_set_root(cs_origin *o, const char *root, const cs_origin_route *dir_route)
{
    cs_origin_route none;
    memset(&none, 0, sizeof none);
    cs_origin_route dr = dir_route ? *dir_route : none;
    dr.body = NULL;
    dr.body_len = 0;
    dr.body_file = NULL;
    dr.gzip = false;     /* would need per-file compression */
    dr.redirect = NULL;
    route *rt;
    cs_status st = route_copy(&rt, NULL, &dr);
    if (st)
        return st;
    char *rc = cs_strdup(root);
    if (!rc) {
        route_free(rt);
        return CS_ENOMEM;
    }
    size_t rl = strlen(rc);
    while (rl > 1 && rc[rl - 1] == '/')
        rc[--rl] = 0;
    pthread_mutex_lock(&o->mu);
    char *old_root = o->root;
    o->root = rc;
    if (o->dir_route) { /* a reply may still use it: keep it until stop */
        o->dir_route->next = o->retired;
        o->retired = o->dir_route;
    }
    o->dir_route = rt;
    pthread_mutex_unlock(&o->mu);
    cs_free(old_root); /* replies copy the root under the lock */
    return CS_OK;
}

/* ---- log ------------------------------------------------------------------------ */

size_t cs_origin_count(cs_origin *o, const char *path)
{
    size_t n = 0;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->nlog; i++)
        if (!strcmp(o->log[i].path, path))
            n++;
    pthread_mutex_unlock(&o->mu);
    return n;
}

size_t cs_origin_total(cs_origin *o)
{
    pthread_mutex_lock(&o->mu);
    size_t n = o->total;
    pthread_mutex_unlock(&o->mu);
    return n;
}

bool cs_origin_log_get(cs_origin *o, size_t i, cs_origin_request *out)
{
    pthread_mutex_lock(&o->mu);
    bool ok = i < o->nlog;
    if (ok)
        *out = o->log[i];
    pthread_mutex_unlock(&o->mu);
    return ok;
}

int cs_origin_active(cs_origin *o)
{
    pthread_mutex_lock(&o->mu);
    int n = o->active;
    pthread_mutex_unlock(&o->mu);
    return n;
}

int cs_origin_peak(cs_origin *o)
{
    pthread_mutex_lock(&o->mu);
    int n = o->peak;
    pthread_mutex_unlock(&o->mu);
    return n;
}

void cs_origin_log_clear(cs_origin *o)
{
    pthread_mutex_lock(&o->mu);
    o->nlog = 0;
    o->total = 0;
    o->peak = o->active;
    pthread_mutex_unlock(&o->mu);
}
