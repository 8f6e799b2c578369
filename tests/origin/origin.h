/* origin.h - a fault-injecting HTTP origin on 127.0.0.1 for tests, demos and
 * benchmarks (libmicrohttpd, one thread per connection).
 *
 * A test starts it on an ephemeral port, scripts replies per path (status,
 * headers, body from memory or a file, delays, stalls, lying lengths, resets,
 * endless bodies, redirects, fail-N-times-then-succeed, gzip), optionally
 * serves a directory, and afterwards inspects the request log. Routes may be
 * added while the server runs; the server copies everything it is given. */
#ifndef CS_ORIGIN_H
#define CS_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_origin cs_origin;

/* One scripted reply. Zero-initialise and set what you need: every field's
 * zero value means "off" / "the honest default". */
typedef struct cs_origin_route {
    int status;              /* 0 = 200 (206/416 when a Range applies) */
    const char *headers;     /* extra header lines "Name: value\n..." (copied) */
    const void *body;        /* body bytes (copied) ... */
    size_t body_len;
    const char *body_file;   /* ... or the contents of this file (read at request time) */
    const char *content_type;/* NULL = application/octet-stream */

    unsigned delay_ms;       /* wait before sending the headers */
    size_t stall_after;      /* with stall_ms: body bytes sent before the stall */
    unsigned stall_ms;       /* one pause mid-body (slow host) */
    size_t drip_bytes;       /* with drip_ms: send the body in pieces this big ... */
    unsigned drip_ms;        /* ... with this pause between them */

    bool ignore_range;       /* lying server: 200 with the full body despite Range */
    bool no_range;           /* no Range support at all (no Accept-Ranges either) */
    bool lie_length;         /* declare declared_length instead of the real size */
    uint64_t declared_length;/* Content-Length to claim when lie_length */
    bool close_early;        /* close the connection after close_after body bytes */
    size_t close_after;
    bool reset;              /* with close_early: abortive close (TCP RST) */
    bool endless;            /* stream filler until the client hangs up (chunked) */
    bool gzip;               /* Content-Encoding: gzip (the body is compressed once,
                                Range applies to the compressed bytes) */

    const char *redirect;    /* Location: reply 302 (or status, if 3xx) */

    unsigned fail_times;     /* the first N requests to this path fail ... */
    int fail_status;         /* ... with this status (0 = 503) ... */
    const char *fail_headers;/* ... and these header lines ("Retry-After: 1") ... */
    const char *fail_body;   /* ... and this body (NULL: "failure N of M") */
} cs_origin_route;

typedef struct cs_origin_opts {
    uint16_t port;           /* 0 = ephemeral */
    const char *root;        /* serve this directory for paths without a route */
    const cs_origin_route *dir_route; /* faults applied to directory files (body
                                         fields ignored); NULL = none */
} cs_origin_opts;

/* One logged request. Strings are copies, truncated to their buffers. */
typedef struct cs_origin_request {
    char method[16];
    char path[512];
    char range[128];         /* Range header; "" if absent */
    char user_agent[256];    /* User-Agent header; "" if absent */
    int status;              /* status replied */
    double time;             /* cs_now() when it arrived */
} cs_origin_request;

/* Starts a server on 127.0.0.1:0 (ephemeral). Stop with cs_origin_stop. */
CS_API CS_WARN_UNUSED cs_status cs_origin_start(cs_origin **out /* OUT */);
/* Starts with options (port, root). opts may be NULL. */
CS_API CS_WARN_UNUSED cs_status cs_origin_start_opts(cs_origin **out /* OUT */,
                                                     const cs_origin_opts *opts);
/* Stops the server: wakes every sleeping reply, closes every connection,
 * joins all threads and frees everything. NULL does nothing. */
CS_API void cs_origin_stop(cs_origin *o);

CS_API uint16_t cs_origin_port(const cs_origin *o);
/* "http://127.0.0.1:PORT" (no trailing slash); owned by o. */
CS_API const char *cs_origin_url(const cs_origin *o);

/* Scripts the reply for an exact path ("/a/b"). A path with a query
 * ("/latest.json?page=1", "/t/1/posts.json?post_ids[]=21&post_ids[]=22")
 * matches requests with exactly that query (arguments percent-decoded, in
 * their order) and takes precedence over the path alone; a path without a
 * query matches whatever the query. A later route for the same path
 * replaces the earlier one (and restarts its fail counter). */
CS_API CS_WARN_UNUSED cs_status cs_origin_route_add(cs_origin *o, const char *path,
                                                    const cs_origin_route *r);
/* Shorthand: status + in-memory body (NUL-terminated string) for path. */
CS_API CS_WARN_UNUSED cs_status cs_origin_route_simple(cs_origin *o, const char *path, int status,
                                                       const char *body);
/* Serves files under root for paths without a route (".." refused with 403). */
CS_API CS_WARN_UNUSED cs_status cs_origin_set_root(cs_origin *o, const char *root,
                                                   const cs_origin_route *dir_route);

/* ---- request log ---- */

/* Requests whose path is `path` so far. */
CS_API size_t cs_origin_count(cs_origin *o, const char *path);
/* Requests of any path so far. */
CS_API size_t cs_origin_total(cs_origin *o);
/* Copies the i-th logged request (arrival order); false if out of range. */
CS_API bool cs_origin_log_get(cs_origin *o, size_t i, cs_origin_request *out /* OUT */);
/* Connections currently open (replies being sent or waiting). */
CS_API int cs_origin_active(cs_origin *o);
/* Most replies in progress at the same time since start. */
CS_API int cs_origin_peak(cs_origin *o);
CS_API void cs_origin_log_clear(cs_origin *o);

#ifdef __cplusplus
}
#endif
#endif
