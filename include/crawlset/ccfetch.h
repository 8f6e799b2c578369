/* crawlset/ccfetch.h - fetches Common Crawl records by HTTP Range.
 *
 * Each index row names a gzip member inside a WARC file on a data server
 * (base URL + warc_filename, bytes offset..offset+length-1). The fetcher runs
 * many Range requests at once on one thread (libcurl multi), retries the
 * failures that may pass (5xx, 429, timeouts, resets) with exponential
 * backoff and jitter, honours Retry-After, and checks every answer: 206 with
 * the right Content-Range, exactly `length` bytes, one or more whole gzip
 * members that inflate to a WARC record. Each row ends as OK or with one
 * reason from a fixed list, delivered to a callback (in input order when
 * asked). Depends on: util, gzip, ccindex; libcurl. */
#ifndef CRAWLSET_CCFETCH_H
#define CRAWLSET_CCFETCH_H

#include "crawlset/ccindex.h"
#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_CCFETCH_DEFAULT_BASE "https://data.commoncrawl.org/"
#define CS_CCFETCH_DEFAULT_UA "crawlset/0.1 (+https://github.com/crawlset/crawlset)"

/* Why a row failed. X(name, retriable, description). */
#define CS_CCFETCH_REASON_MAP(X)                                                          \
    X(OK, 0, "fetched and verified")                                                      \
    X(HTTP_4XX, 0, "the server answered 4xx (429 is retried)")                            \
    X(HTTP_5XX, 1, "the server answered 5xx")                                             \
    X(HTTP_OTHER, 0, "unexpected HTTP status (1xx/3xx, too many redirects)")              \
    X(TIMEOUT, 1, "connect or transfer timed out")                                        \
    X(CONNECT, 1, "could not connect (refused, DNS)")                                     \
    X(NETWORK, 1, "connection reset or other transport error")                            \
    X(SHORT_BODY, 1, "fewer bytes than requested")                                        \
    X(RANGE_IGNORED, 0, "the server ignored Range (200 with the wrong length)")           \
    X(BAD_RANGE, 0, "206 with a Content-Range or length other than asked")                \
    X(BAD_GZIP, 0, "the bytes are not whole gzip members")                                \
    X(NOT_WARC, 0, "the gzip member does not hold a WARC record")                         \
    X(TOO_LARGE, 0, "the record is larger than the configured maximum")                   \
    X(CANCELED, 0, "the run was canceled")

typedef enum cs_ccfetch_reason {
#define CS__CCF_ENUM(name, retry, msg) CS_CCFETCH_##name,
    CS_CCFETCH_REASON_MAP(CS__CCF_ENUM)
#undef CS__CCF_ENUM
    CS_CCFETCH__REASON_COUNT
} cs_ccfetch_reason;

/* "ok", "http_4xx", "timeout", ... (lower-case, stable: used in reports). */
CS_API const char *cs_ccfetch_reason_name(cs_ccfetch_reason r);
CS_API const char *cs_ccfetch_reason_desc(cs_ccfetch_reason r);

typedef struct cs_ccfetch_opts {
    const char *base_url;     /* prefix for warc_filename (default CS_CCFETCH_DEFAULT_BASE) */
    const char *user_agent;   /* default CS_CCFETCH_DEFAULT_UA */
    int parallel;             /* transfers in flight (default 16) */
    int retries;              /* retries after the first attempt; -1 = forever (default 3) */
    double retry_delay;       /* first backoff in seconds, doubled each retry (default 1) */
    double retry_max_delay;   /* backoff cap in seconds (default 60) */
    double retry_after_max;   /* longest Retry-After honoured, seconds (default 300) */
    double connect_timeout;   /* seconds (default 10) */
    double timeout;           /* whole transfer, seconds; 0 = none (default 60) */
    uint64_t max_record;      /* refuse rows with a longer length (default 16 MiB) */
    size_t max_inflated;      /* decompression guard per row (default 64 MiB) */
    bool verify;              /* check gzip + WARC (default true) */
    bool ordered;             /* deliver results in input order (default true) */
    int window;               /* most rows pulled but not delivered (default 4 * parallel) */
} cs_ccfetch_opts;

/* Fills *o with the defaults above. */
CS_API void cs_ccfetch_opts_init(cs_ccfetch_opts *o);

/* One finished row, handed to the done callback. Everything it points to is
 * owned by the fetcher and valid only during the callback. */
typedef struct cs_ccfetch_result {
    uint64_t index;           /* 0-based position in the input order */
    const cs_ccindex_row *row;/* the fetcher's copy of the row */
    cs_ccfetch_reason reason; /* CS_CCFETCH_OK on success */
    const char *message;      /* detail for failures ("" when OK) */
    const uint8_t *data;      /* the fetched bytes (OK only; else NULL) */
    size_t len;               /* == row->length when OK */
    long http_status;         /* last HTTP status (0 when none) */
    int attempts;             /* requests made for this row */
    double seconds;           /* from first attempt to completion */
} cs_ccfetch_result;

/* Supplies the next row: CS_OK with *row set (borrowed; the fetcher copies
 * it), CS_DONE when there are no more, any other status stops the run. */
typedef cs_status (*cs_ccfetch_next_fn)(void *ud, const cs_ccindex_row **row /* OUT */);
/* Receives a finished row; a non-OK return stops the run with that status. */
typedef cs_status (*cs_ccfetch_done_fn)(void *ud, const cs_ccfetch_result *res);

typedef struct cs_ccfetch_stats {
    uint64_t rows;            /* rows delivered */
    uint64_t ok;
    uint64_t failed;
    uint64_t by_reason[CS_CCFETCH__REASON_COUNT];
    uint64_t requests;        /* HTTP requests made */
    uint64_t retries;         /* of which retries */
    uint64_t bytes;           /* verified bytes delivered */
} cs_ccfetch_stats;

typedef struct cs_ccfetch cs_ccfetch;

/* Creates a fetcher (opts copied; NULL = defaults). Free with cs_ccfetch_free. */
CS_API CS_WARN_UNUSED cs_status cs_ccfetch_new(cs_ccfetch **out /* OUT */,
                                               const cs_ccfetch_opts *opts);
CS_API void cs_ccfetch_free(cs_ccfetch *f);

/* Pulls rows from next_fn, fetches them and hands each result to done_fn,
 * until next_fn says CS_DONE and every row was delivered. Returns CS_OK (rows
 * may still have failed: see the stats), the status of a callback that
 * stopped it, CS_ECANCELED after cs_ccfetch_cancel(), or CS_ENOMEM/CS_ENET when
 * libcurl could not be set up (cs_ccfetch_errmsg says why). */
CS_API CS_WARN_UNUSED cs_status cs_ccfetch_run(cs_ccfetch *f, cs_ccfetch_next_fn next_fn,
                                               cs_ccfetch_done_fn done_fn, void *ud);
/* Asks a running cs_ccfetch_run to stop soon (async-signal-safe). Rows not yet
 * delivered are delivered as CANCELED. */
CS_API void cs_ccfetch_cancel(cs_ccfetch *f);
CS_API void cs_ccfetch_stats_get(const cs_ccfetch *f, cs_ccfetch_stats *out /* OUT */);
CS_API const char *cs_ccfetch_errmsg(const cs_ccfetch *f);

/* Checks that data holds one or more whole gzip members, nothing after them,
 * whose inflated start is a WARC record ("WARC/"), inflating at most
 * max_inflated bytes. CS_CCFETCH_OK, BAD_GZIP, NOT_WARC or TOO_LARGE; msg
 * (CS_ERRMSG_MAX bytes, may be NULL) says why. */
CS_API cs_ccfetch_reason cs_ccfetch_verify(const uint8_t *data, size_t len,
                                           size_t max_inflated, char *msg);

#ifdef __cplusplus
}
#endif
#endif
