/* crawlset/fetch.h - the fetcher: many HTTP(S) GETs at once from one thread,
 * polite by default, every outcome named.
 *
 * The engine under the downloader and the search and forum pipelines. It
 * runs libcurl's multi interface on epoll (thousands of transfers in flight,
 * HTTP/1.1 and HTTP/2 with connection reuse, a shared DNS cache) and keeps a
 * queue per host so that it can hold to a per-host concurrency limit, a
 * minimum delay between requests to a host and a global request rate.
 *
 * Politeness is on unless switched off, each by an option that names what it
 * turns off (ignore_robots_txt, ignore_x_robots_tag, ignore_tdm_reservation,
 * ignore_crawl_delay):
 * - robots.txt (RFC 9309, see robots.h) is fetched once per host (scheme,
 *   host, port) before the first request to it and cached (robots_ttl);
 *   requests for the host wait for it. 4xx = everything allowed; 5xx, 429
 *   or no answer = everything disallowed for robots_error_ttl, then it is
 *   fetched again. Up to 5 redirects are followed for robots.txt itself.
 * - X-Robots-Tag (noai, noimageai, noindex, noimageindex by default; comma
 *   lists, several headers, and the form scoped to our product token,
 *   "crawlset: noai") and "tdm-reservation: 1" are checked on the response
 *   headers; a match aborts the transfer before the body is read (opt_out).
 * - Redirects are followed by the fetcher, not by libcurl, so each hop goes
 *   through its host's queue and robots.txt like any other request.
 *
 * Input is pulled from a callback (a pipeline feeds URLs lazily; at most
 * max_queued are held) and/or pushed with cs_fetch_add. Results arrive, in
 * completion order, at a callback, each with one reason from a fixed list.
 *
 * Memory: a queued URL costs about 450 bytes plus its length; a transfer in
 * flight holds a libcurl handle (about 20-50 KiB with its buffers) and its
 * body, which grows on demand up to max_body (never preallocated beyond a
 * declared Content-Length that fits). Bodies over max_body - declared,
 * received, or decoded from gzip/deflate/br - end the transfer at once.
 *
 * Depends on: util, robots; libcurl. */
#ifndef CRAWLSET_FETCH_H
#define CRAWLSET_FETCH_H

#include "crawlset/robots.h"
#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_FETCH_DEFAULT_UA "crawlset/0.1 (+https://github.com/crawlset/crawlset)"
#define CS_FETCH_DEFAULT_AGENT "crawlset" /* robots.txt product token */
#define CS_FETCH_DEFAULT_OPT_OUT "noai,noimageai,noindex,noimageindex"

/* Why a URL ended as it did. X(NAME, description); names are reported in
 * lower case ("http_4xx"). */
#define CS_FETCH_REASON_MAP(X)                                                            \
    X(OK, "fetched")                                                                      \
    X(DNS, "the host name did not resolve")                                               \
    X(CONNECT, "could not connect (refused, unreachable)")                                \
    X(TIMEOUT, "connect, total or low-speed (stalled or dripping) timeout")               \
    X(HTTP_4XX, "the server answered 4xx")                                                \
    X(HTTP_5XX, "the server answered 5xx")                                                \
    X(HTTP_OTHER, "unexpected HTTP status (1xx, or 3xx without a usable Location)")       \
    X(TOO_LARGE, "body (declared, received or decoded) or headers over the limit")       \
    X(ROBOTS, "robots.txt disallows it, or robots.txt was unavailable (5xx)")             \
    X(OPT_OUT, "X-Robots-Tag or tdm-reservation opt-out")                                 \
    X(REDIRECT_LOOP, "redirect loop or more redirects than allowed")                      \
    X(BAD_TYPE, "Content-Type not among the accepted types")                              \
    X(DECODE, "Content-Encoding (gzip, deflate, br) could not be decoded")                \
    X(TLS, "TLS handshake or certificate error")                                          \
    X(NETWORK, "connection reset, truncated body or other transport error")               \
    X(CANCELED, "the run was canceled")                                                   \
    X(BAD_URL, "malformed URL or a scheme other than http/https")

typedef enum cs_fetch_reason {
#define CS__FETCH_ENUM(name, desc) CS_FETCH_##name,
    CS_FETCH_REASON_MAP(CS__FETCH_ENUM)
#undef CS__FETCH_ENUM
    CS_FETCH__REASON_COUNT
} cs_fetch_reason;

/* "ok", "http_4xx", ... (stable: used in reports); "unknown" when out of range. */
CS_API const char *cs_fetch_reason_name(cs_fetch_reason r);
CS_API const char *cs_fetch_reason_desc(cs_fetch_reason r);
/* The reason named `name` (as cs_fetch_reason_name writes it); false if none. */
CS_API bool cs_fetch_reason_from_name(const char *name, cs_fetch_reason *out /* OUT */);

typedef struct cs_fetch_opts {
    /* who we are */
    const char *user_agent;     /* User-Agent header (default CS_FETCH_DEFAULT_UA) */
    const char *robots_agent;   /* product token for robots.txt and scoped X-Robots-Tag
                                   (default CS_FETCH_DEFAULT_AGENT) */
    const char *const *headers; /* extra request header lines ("Accept: image/webp"),
                                   NULL-terminated array; NULL = none */

    /* concurrency and pace */
    int parallel;               /* transfers in flight, robots.txt included (default 256) */
    int per_host;               /* transfers in flight per host; 0 = no limit (default 16) */
    double host_delay;          /* least seconds between request starts to one host (0) */
    double rate;                /* requests started per second, all hosts; 0 = no limit (0) */
    double rate_burst;          /* token bucket size; 0 = max(1, rate / 10) */
    /* Optional: a wait the server asked for in the BODY of a 429 or 503
     * answer that has no usable Retry-After header (e.g. Discourse's
     * {"extras": {"wait_seconds": N}}). Gets the first 64 KiB of that body
     * (not NUL-terminated); returns seconds (< 0: none). The wait is capped
     * by retry_after_max like a header's. Runs on the fetch thread. */
    double (*retry_hint)(const char *body, size_t len, void *ud);
    void *retry_hint_ud;
    const volatile int *cancel; /* optional: when *cancel turns nonzero (any thread, or a
                                   signal handler), a running cs_fetch_run stops as after
                                   cs_fetch_cancel, within a second at most */
    size_t max_queued;          /* URLs taken in but not yet delivered (default 10,000,
                                   at least parallel) */

    /* each transfer */
    double connect_timeout;     /* seconds (default 10) */
    double timeout;             /* whole request, seconds; 0 = none (default 30) */
    long low_speed_limit;       /* bytes/s below which ... (default 1024; 0 = off) */
    double low_speed_time;      /* ... for this many seconds the request times out (10) */
    size_t max_body;            /* decoded body bytes (default 32 MiB) */
    size_t max_header;          /* response header bytes (default 64 KiB) */
    int max_redirects;          /* hops followed (default 5); more = redirect_loop */
    int retries;                /* retries after the first attempt (default 2) on connect
                                   errors, timeouts, resets, 5xx, 429 and 408 */
    double retry_delay;         /* first backoff, seconds, doubled per retry, jittered (1) */
    double retry_max_delay;     /* backoff cap, seconds (default 30) */
    double retry_after_max;     /* longest Retry-After honoured, seconds (default 60) */
    bool decode;                /* ask for and decode gzip/deflate/br (default true) */
    bool http2;                 /* offer HTTP/2 over TLS (default true) */
    bool verify_tls;            /* check certificates (default true) */
    const char *accept_types;   /* comma list of media types, "type/subtype" or "type/" + "*"
                                   ("image/png,image/jpeg"), "*" for any;
                                   others end as bad_type. A missing type and
                                   application/octet-stream are accepted. NULL = any */

    /* politeness (on by default; each flag turns one thing off) */
    bool ignore_robots_txt;
    bool ignore_x_robots_tag;
    bool ignore_tdm_reservation;
    bool ignore_crawl_delay;    /* robots.txt crawl-delay raises host_delay for its host,
                                   up to crawl_delay_max, unless this is set */
    const char *opt_out_directives; /* X-Robots-Tag values that opt out
                                       (default CS_FETCH_DEFAULT_OPT_OUT) */
    double crawl_delay_max;     /* seconds (default 10) */
    double robots_ttl;          /* seconds a robots.txt is kept (default 86400) */
    double robots_error_ttl;    /* seconds a host whose robots.txt failed stays
                                   disallowed (default 600) */
    double host_error_ttl;      /* seconds a host that did not resolve is remembered as
                                   such (default 300) */
    size_t max_hosts;           /* idle hosts (and their robots.txt) kept (default 100,000) */

    /* name resolution */
    const char *const *resolve; /* libcurl CURLOPT_RESOLVE entries "host:port:address",
                                   NULL-terminated (tests, benchmarks); NULL = none */
    const char *const *connect_to; /* libcurl CURLOPT_CONNECT_TO entries
                                   "HOST:PORT:CONNECT-HOST:CONNECT-PORT": requests for
                                   HOST:PORT go to the other address and port, the URL
                                   (Host header, robots.txt) unchanged. NULL-terminated
                                   (demos, tests); NULL = none */
    double dns_cache_ttl;       /* seconds (default 300) */
    const char *proxy;          /* proxy URL; "" = none; NULL = libcurl's default, which
                                   reads http_proxy/https_proxy/no_proxy (default NULL) */
} cs_fetch_opts;

/* Fills *o with the defaults above. */
CS_API void cs_fetch_opts_init(cs_fetch_opts *o);

/* One URL to fetch. */
typedef struct cs_fetch_request {
    const char *url;            /* borrowed; the fetcher copies it */
    size_t url_len;             /* 0 = strlen(url) */
    void *user;                 /* handed back in the result, untouched */
} cs_fetch_request;

/* Timings in seconds. The per-request ones are libcurl's, for the last
 * request made for the URL, each measured from that request's start. */
typedef struct cs_fetch_timings {
    double queued;              /* taken in -> first request started (politeness, rate) */
    double dns;                 /* name lookup done */
    double connect;             /* TCP connected */
    double tls;                 /* TLS handshake done (0 for http) */
    double ttfb;                /* first response byte */
    double request;             /* the last request, whole */
    double elapsed;             /* taken in -> delivered */
} cs_fetch_timings;

/* One finished URL, handed to the done callback. Strings and body are owned
 * by the fetcher and valid during the callback only, except the body, which
 * the callback may take with cs_fetch_result_take_body(). */
typedef struct cs_fetch_result {
    uint64_t index;             /* 0-based order in which URLs were taken in */
    void *user;                 /* the request's user pointer */
    const char *url;            /* as requested */
    const char *final_url;      /* after redirects (== url when none) */
    cs_fetch_reason reason;     /* CS_FETCH_OK on success */
    const char *message;        /* what happened, for failures ("" when OK) */
    long status;                /* last HTTP status (0 when none) */
    int http_version;           /* of the last response: 10, 11, 20 (HTTP/2), 0 = none */
    const char *content_type;   /* of the last response; NULL when absent */
    int64_t content_length;     /* declared by the last response; -1 when absent */
    uint8_t *body;              /* the decoded body (OK only; else NULL) */
    size_t body_len;
    uint64_t bytes_received;    /* body bytes received by the last request (decoded) */
    int attempts;               /* requests made for this URL (retries and redirects) */
    int redirects;              /* redirects followed */
    cs_fetch_timings t;
} cs_fetch_result;

/* Hands the body over: returns it (NUL-terminated after body_len; free with
 * cs_free) and sets res->body to NULL. NULL when there is none. */
CS_API uint8_t *cs_fetch_result_take_body(cs_fetch_result *res, size_t *len /* OUT, may be NULL */);

/* Supplies the next URL: CS_OK with *req set, CS_DONE when there are no
 * more (it is not called again in this run), CS_EAGAIN when there is none
 * right now (it is asked again on the next turn of the loop: after a
 * transfer event, a timer, or cs_fetch_wakeup), any other status stops the
 * run with that status. */
typedef cs_status (*cs_fetch_next_fn)(void *ud, cs_fetch_request *req /* OUT */);
/* Receives a finished URL; a non-OK return stops the run with that status.
 * It may call cs_fetch_add. */
typedef cs_status (*cs_fetch_done_fn)(void *ud, cs_fetch_result *res);

typedef struct cs_fetch_stats {
    uint64_t done;              /* results delivered */
    uint64_t by_reason[CS_FETCH__REASON_COUNT];
    uint64_t requests;          /* requests started (retries, redirects, robots.txt) */
    uint64_t retries;
    uint64_t redirects;
    uint64_t robots_fetches;    /* robots.txt requests */
    uint64_t bytes;             /* body bytes of OK results */
    uint64_t bytes_received;    /* body bytes received by all requests (decoded) */
    int in_flight;              /* transfers now */
    int peak_in_flight;
    size_t queued;              /* URLs taken in, not yet delivered */
    size_t peak_queued;
    size_t hosts;               /* hosts known now */
    size_t body_mem;            /* bytes now held in bodies */
    size_t peak_body_mem;
} cs_fetch_stats;

typedef struct cs_fetch cs_fetch;

/* Creates a fetcher (opts copied, strings included; NULL = defaults). Free
 * with cs_fetch_free. CS_ENOMEM, or CS_ENET when libcurl cannot be set up. */
CS_API CS_WARN_UNUSED cs_status cs_fetch_new(cs_fetch **out /* OUT */, const cs_fetch_opts *opts);
/* Frees f and its caches; NULL does nothing. Not during cs_fetch_run. */
CS_API void cs_fetch_free(cs_fetch *f);

/* Queues one URL (copied; user handed back in its result). Call before
 * cs_fetch_run or from its callbacks, on the thread that runs it. Not
 * bounded by max_queued: the caller decides how much it pushes. */
CS_API CS_WARN_UNUSED cs_status cs_fetch_add(cs_fetch *f, const char *url, size_t len,
                                             void *user);

/* Fetches every queued URL and every URL next_fn (may be NULL) supplies,
 * handing each result to done_fn, until there is nothing left. Every URL
 * taken in (pulled or pushed) reaches done_fn exactly once, whatever happens,
 * so `user` pointers can always be released there. Returns CS_OK (URLs may
 * still have failed: see the results and the stats); CS_ECANCELED after
 * cs_fetch_cancel (the unfinished URLs are delivered as canceled and next_fn
 * is not called again); the status of a callback that stopped it, or
 * CS_ENOMEM / CS_ENET when libcurl or epoll fail (cs_fetch_errmsg says why) -
 * in both cases the unfinished URLs are delivered as canceled, with the
 * callback's statuses ignored from then on. Raises the
 * process's soft open-files limit towards the hard one when `parallel`
 * needs more descriptors. The robots.txt and DNS caches outlive the run. */
CS_API CS_WARN_UNUSED cs_status cs_fetch_run(cs_fetch *f, cs_fetch_next_fn next_fn,
                                             cs_fetch_done_fn done_fn, void *ud);
/* Wakes a running cs_fetch_run's loop (e.g. a consumer made room, so a
 * next_fn that said CS_EAGAIN has input again). Async-signal-safe; any
 * thread. */
CS_API void cs_fetch_wakeup(cs_fetch *f);
/* Asks a running cs_fetch_run to stop soon. Async-signal-safe; any thread. */
CS_API void cs_fetch_cancel(cs_fetch *f);
CS_API void cs_fetch_stats_get(const cs_fetch *f, cs_fetch_stats *out /* OUT */);
CS_API const char *cs_fetch_errmsg(const cs_fetch *f);

/* ---- the checks, usable on their own (e.g. on archived responses) ---- */

/* Does one X-Robots-Tag header value value[0..len) opt out of `agent`
 * (product token, case-insensitive) by one of `directives` (comma list,
 * NULL = CS_FETCH_DEFAULT_OPT_OUT)? Items are comma separated; "name: item"
 * scopes that item and the ones after it to a user agent; unscoped items
 * apply to everyone; "none" counts as "noindex, nofollow";
 * "unavailable_after: DATE" and the max-* settings are not scopes. */
CS_API bool cs_fetch_x_robots_opt_out(const char *value, size_t len, const char *agent,
                                      const char *directives);
/* Is content_type (a Content-Type value, parameters allowed; NULL = absent)
 * accepted by accept_types (as in cs_fetch_opts; NULL = anything)? */
CS_API bool cs_fetch_type_accepted(const char *content_type, const char *accept_types);
/* Seconds to wait from a Retry-After value (delta-seconds or HTTP-date);
 * -1 when it is neither. */
CS_API double cs_fetch_parse_retry_after(const char *value, size_t len);

#ifdef __cplusplus
}
#endif
#endif
