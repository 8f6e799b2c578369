/* crawlset/tracker.h - the job tracker's server side: a durable store of jobs,
 * workers and a leaderboard (SQLite file or PostgreSQL database), and an HTTP
 * server speaking the Crawling@Home wire protocol under /api/, with a
 * read-only dashboard.
 *
 * Jobs: one input string (a WAT URL or path, or any string) with an id range
 * [start_id, end_id) and a shard piece (0 or 1: first or second half of the
 * input). A job moves through up to five stages; stage 1 is the CPU stage,
 * stage 2 the GPU stage, and a stage's completion output becomes the next
 * stage's input. Workers (HYBRID, CPU, GPU) hold a per-worker random token;
 * a job handed out is leased to one worker, whose every call refreshes the
 * lease, and a sweep re-opens the jobs of workers unseen for the idle timeout.
 *
 * Protocol (paths under /api/; errors 400 malformed, 403 no job, 404 unknown
 * or timed-out token, 500 store fault, each with a one-line text body):
 *   GET  new?nickname=N&type=T      -> {"token","display_name","upload_address"}
 *   POST newJob {"token","type"}    -> {"url","start_id","end_id","shard","number"}
 *   POST markAsDone {"token","type","count"} (HYBRID, GPU) | {..,"url"} (CPU)
 *   POST gpuInvalidDownload, flagInvalidData, bye {"token","type"}
 *   POST updateProgress {"token","type","progress"}
 *   POST validateWorker {"token","type"} -> True | False
 *   GET  jobCount?type=T, getUploadAddress?type=T -> text
 * Admin (needs the admin key): POST /api/admin/addJobs {"key","inputs":[...]}.
 * Dashboard: GET / (HTML), /worker/<type>/<display_name>, /data (JSON),
 * /metrics (Prometheus text). */
#ifndef CRAWLSET_TRACKER_H
#define CRAWLSET_TRACKER_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- store ------------------------------------------------------------------ */

typedef struct cs_tracker_store cs_tracker_store;

/* Opens (creating the schema when missing) the store named by db: a
 * "postgresql://" or "postgres://" URL (or a libpq "key=value" string
 * starting with "host=" / "dbname="), otherwise an SQLite file path. On
 * failure err (errcap bytes, may be NULL) says why. Thread-safe object; free
 * with cs_tracker_store_free. */
CS_API CS_WARN_UNUSED cs_status cs_tracker_store_open(const char *db,
                                                      cs_tracker_store **out /* OUT */,
                                                      char *err, size_t errcap);
CS_API void cs_tracker_store_free(cs_tracker_store *s);
/* The calling thread's last store error message (static storage). */
CS_API const char *cs_tracker_store_errmsg(void);

/* Adds two jobs per input (shard pieces 0 and 1) with consecutive id ranges
 * of id_step ids each (0 = 1,000,000), continuing after the highest existing
 * id. Empty inputs are skipped. *added (may be NULL) = jobs added. */
CS_API CS_WARN_UNUSED cs_status cs_tracker_add_jobs(cs_tracker_store *s,
                                                    const char *const *inputs, size_t n,
                                                    uint64_t id_step,
                                                    size_t *added /* OUT */);
/* Adds the inputs listed in a file, one per line (blank lines and lines
 * starting with '#' skipped; gzip, e.g. Common Crawl's wat.paths.gz, read by
 * magic). Lines longer than 64 KiB are an error (CS_ETOOBIG). */
CS_API CS_WARN_UNUSED cs_status cs_tracker_add_jobs_file(cs_tracker_store *s, const char *path,
                                                         uint64_t id_step,
                                                         size_t *added /* OUT */);

/* The dashboard's data as JSON: {"jobs":[{"stage","open","leased","done"}],
 * "workers":[...], "leaderboard":[...], "totals":{...}}. Appends to out. */
CS_API CS_WARN_UNUSED cs_status cs_tracker_store_status_json(cs_tracker_store *s, cs_buf *out);

/* ---- server ----------------------------------------------------------------- */

typedef struct cs_tracker_options {
    const char *db;             /* store, as cs_tracker_store_open (required) */
    const char *upload_address; /* getUploadAddress / new's upload_address ("" default) */
    const char *admin_key;      /* enables admin calls; NULL/"" = disabled */
    double idle_timeout;        /* seconds before an unseen worker's job re-opens (7200) */
    unsigned threads;           /* threads for the calls other than newJob and
                                   markAsDone (0 = 4, at most 16); one event loop
                                   serves HTTP, one thread commits the batches */
    unsigned invalid_threshold; /* distinct workers flagging a job to roll it back (3) */
    size_t max_body;            /* request body limit, bytes (0 = 64 KiB) */
} cs_tracker_options;

typedef struct cs_tracker cs_tracker;

/* Opens the store and prepares the request handler (no socket yet). A
 * restarted tracker refreshes every worker's last-seen time first, so its own
 * downtime times nobody out. */
CS_API CS_WARN_UNUSED cs_status cs_tracker_new(const cs_tracker_options *opt,
                                               cs_tracker **out /* OUT */, char *err,
                                               size_t errcap);
/* Stops the server if listening and frees everything. NULL is fine. */
CS_API void cs_tracker_free(cs_tracker *t);

typedef struct cs_tracker_response {
    int status;               /* HTTP status */
    const char *content_type; /* static string */
    char *body;               /* cs_malloc'd, NUL-terminated; free with _cleanup */
    size_t body_len;
} cs_tracker_response;

/* Handles one request without a socket: method ("GET"/"POST"), path
 * ("/api/newJob"), query (raw, undecoded, without '?'; may be NULL), body
 * (body_len bytes, untrusted, not NUL-terminated). Always fills resp (CS_OK)
 * unless out of memory. Thread-safe. */
CS_API CS_WARN_UNUSED cs_status cs_tracker_handle(cs_tracker *t, const char *method,
                                                  const char *path, const char *query,
                                                  const char *body, size_t body_len,
                                                  cs_tracker_response *resp /* OUT */);
CS_API void cs_tracker_response_cleanup(cs_tracker_response *r);

/* Re-opens the jobs of workers idle longer than the idle timeout; returns
 * the number of workers removed (-1 on store error). The server runs it in a
 * background thread. */
CS_API int64_t cs_tracker_sweep(cs_tracker *t);

/* Starts serving on host:port ("127.0.0.1:0" picks a free port, returned in
 * *port): one libmicrohttpd event loop thread, one thread that commits
 * newJob/markAsDone calls in batches (answers are sent once committed),
 * `threads` side threads for the other calls, and a sweep thread. */
CS_API CS_WARN_UNUSED cs_status cs_tracker_listen(cs_tracker *t, const char *host_port,
                                                  uint16_t *port /* OUT, may be NULL */,
                                                  char *err, size_t errcap);
/* Stops serving (in-flight requests finish). Idempotent. */
CS_API void cs_tracker_stop(cs_tracker *t);

#ifdef __cplusplus
}
#endif
#endif
