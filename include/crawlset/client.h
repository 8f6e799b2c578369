/* crawlset/client.h - the tracker client: one worker's side of the
 * Crawling@Home wire protocol (paths under /api/, see issue 4 and the
 * tracker's documentation), with the original client's methods.
 *
 * One cs_client is one worker: cs_client_new() registers it (GET /api/new)
 * and keeps its token; then new_job / download_shard / log / complete_job
 * in a loop, and bye at the end. A client can be dumped to a JSON string and
 * loaded in another process to carry on with the same token and job.
 *
 * Errors: every call returns a cs_status and leaves a one-line message
 * (call, HTTP status, the server's reason) in cs_client_errmsg():
 *   CS_ENOJOB     403: no job open for this worker type
 *   CS_EWORKER    404: the token is unknown or the worker timed out
 *   CS_EBADREQ    400: the server refused the request as malformed
 *   CS_ESERVER    5xx, still failing after the retries
 *   CS_ENET       no answer (connection refused, reset, timeout) after the retries
 *   CS_EHTTP      another unexpected HTTP status
 *   CS_EFORMAT    the answer is not what the protocol says (garbage JSON,
 *                 wrong types, out-of-range numbers)
 *   CS_ETOOBIG    the answer is larger than opts.max_body (or a download
 *                 larger than opts.max_download)
 *   CS_ECANCELED  *opts.cancel became non-zero while waiting to retry
 *   CS_EINVAL     a call that needs a job without one, or bad arguments
 * Network errors and 5xx answers are retried with exponential backoff and
 * jitter (opts.retries times); 4xx answers are final.
 *
 * Not thread-safe: one client per thread. Uses libcurl's easy interface
 * (curl_global_init must have run once, which libcurl does lazily).
 *
 * Depends on: util; libcurl, jansson. */
#ifndef CRAWLSET_CLIENT_H
#define CRAWLSET_CLIENT_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_client_type {
    CS_CLIENT_HYBRID, /* downloads and scores: completes with a pair count */
    CS_CLIENT_CPU,    /* downloads: completes with the URL of its output */
    CS_CLIENT_GPU,    /* scores a CPU worker's output: completes with a count */
} cs_client_type;

/* "HYBRID", "CPU", "GPU" (the wire spelling). */
CS_API const char *cs_client_type_name(cs_client_type t);
/* Case-insensitive; the first letter is enough ("h", "Cpu", "GPU"), as the
 * original client. false on anything else. */
CS_API bool cs_client_type_parse(const char *s, cs_client_type *out /* OUT */);

typedef struct cs_client_opts {
    unsigned retries;       /* extra attempts on network errors and 5xx; default 5 */
    double backoff_base;    /* first wait in seconds, doubled each retry; default 1 */
    double backoff_max;     /* longest wait; default 60 */
    long timeout_ms;        /* per API request; default 30,000 */
    long download_timeout_ms; /* per shard download; default 3,600,000 */
    size_t max_body;        /* largest API answer accepted; default 1 MiB */
    uint64_t max_download;  /* largest downloaded file; default 16 GiB */
    const char *user_agent; /* NULL = "crawlset-client/VERSION" (copied) */
    const volatile int *cancel; /* when it points at non-zero, retry waits stop
                                   (CS_ECANCELED); borrowed, may be NULL */
} cs_client_opts;

/* Fills the defaults. */
CS_API void cs_client_opts_init(cs_client_opts *o);

/* The job a worker holds (after new_job). Strings owned by the client, valid
 * until the next new_job, load or free. */
typedef struct cs_client_job {
    const char *url;        /* the input: a WAT URL or path (CPU, HYBRID), or a
                               CPU worker's output URL (GPU); never NULL */
    uint64_t start_id;      /* first sample id of the job */
    uint64_t end_id;        /* end of the id range (>= start_id) */
    int shard_piece;        /* 0 = first half of the input, 1 = second */
    int64_t number;         /* the job's number on the tracker; -1 when not sent */
} cs_client_job;

typedef struct cs_client cs_client;

/* Registers a worker: GET BASE/api/new?nickname=N&type=T. base is the
 * tracker's URL ("http://host:port", a trailing slash is fine). opts may be
 * NULL (defaults; copied). On failure *out is still set when it could be
 * allocated, so cs_client_errmsg() says why: cs_client_free(*out) either
 * way. */
CS_API CS_WARN_UNUSED cs_status cs_client_new(cs_client **out /* OUT */, const char *base,
                                              const char *nickname, cs_client_type type,
                                              const cs_client_opts *opts);
/* Frees the client (no network: call bye first to hand the job back). */
CS_API void cs_client_free(cs_client *c);

/* Why the last call failed (never NULL; "" after a success). */
CS_API const char *cs_client_errmsg(const cs_client *c);
/* The last HTTP status the tracker answered (0 = none). */
CS_API int cs_client_http_status(const cs_client *c);

/* Read-only state, owned by the client. */
CS_API cs_client_type cs_client_get_type(const cs_client *c);
CS_API const char *cs_client_base_url(const cs_client *c);    /* no trailing slash */
CS_API const char *cs_client_nickname(const cs_client *c);
CS_API const char *cs_client_token(const cs_client *c);
CS_API const char *cs_client_display_name(const cs_client *c);
CS_API const char *cs_client_upload_address(const cs_client *c);
/* The job held, or NULL when none (before new_job, after complete/bye). */
CS_API const cs_client_job *cs_client_job_get(const cs_client *c);

/* GET /api/jobCount?type=T: open jobs for this worker's type. */
CS_API CS_WARN_UNUSED cs_status cs_client_job_count(cs_client *c, uint64_t *count /* OUT */);
/* GET /api/getUploadAddress?type=T: refreshes cs_client_upload_address(). */
CS_API CS_WARN_UNUSED cs_status cs_client_update_upload_address(cs_client *c);
/* POST /api/newJob: takes a job (CS_ENOJOB when none is open). */
CS_API CS_WARN_UNUSED cs_status cs_client_new_job(cs_client *c);

/* Makes the job's input available locally and returns its path in *path
 * (caller frees with cs_free):
 * - CPU, HYBRID: the job's url is the input (a WAT file). A local path (or
 *   file:// URL) is returned as it is, after checking it exists; an
 *   http(s) URL is downloaded into dir (retries, max_download).
 * - GPU: the url is a CPU worker's output: a local directory (returned as
 *   it is), a local or http(s) manifest (DIR/_job.json, see
 *   cs_client_manifest_write; its files are downloaded into dir), or one
 *   http(s) .tar file (downloaded into dir). *path is then a directory.
 * dir is created when missing. Progress is logged to the tracker. */
CS_API CS_WARN_UNUSED cs_status cs_client_download_shard(cs_client *c, const char *dir,
                                                         char **path /* OUT */);

/* POST /api/markAsDone. HYBRID and GPU send the pair count; CPU sends url
 * (the address of its output, see cs_client_download_shard) and ignores
 * count. The job is released on success. */
CS_API CS_WARN_UNUSED cs_status cs_client_complete_job(cs_client *c, uint64_t count,
                                                       const char *url);
/* POST /api/updateProgress: a line of progress text (refreshes the lease). */
CS_API CS_WARN_UNUSED cs_status cs_client_log(cs_client *c, const char *progress);
/* POST /api/validateWorker: *alive is the server's True/False. */
CS_API CS_WARN_UNUSED cs_status cs_client_is_alive(cs_client *c, bool *alive /* OUT */);
/* POST /api/gpuInvalidDownload: the GPU job's input could not be fetched;
 * the job goes back to the CPU pool and is released here. */
CS_API CS_WARN_UNUSED cs_status cs_client_invalid_url(cs_client *c);
/* POST /api/flagInvalidData: the job's input is bad data; enough flags
 * from different workers roll the job back one stage. Released here. */
CS_API CS_WARN_UNUSED cs_status cs_client_flag_invalid_data(cs_client *c);
/* POST /api/bye: the job goes back to open and the worker is removed. The
 * client keeps its state but the token is no longer valid. */
CS_API CS_WARN_UNUSED cs_status cs_client_bye(cs_client *c);

/* Serialises the client (base URL, nickname, type, token, names, job) as a
 * JSON object into *json (caller frees with cs_free). */
CS_API CS_WARN_UNUSED cs_status cs_client_dump(const cs_client *c, char **json /* OUT */,
                                               size_t *len /* OUT, may be NULL */);
/* Recreates a dumped client without any network call. On a malformed dump
 * CS_EFORMAT with *out set (its errmsg says why): free it either way. */
CS_API CS_WARN_UNUSED cs_status cs_client_load(cs_client **out /* OUT */, const char *json,
                                               size_t len, const cs_client_opts *opts);
/* The same through a file (written atomically: temporary name + rename). */
CS_API CS_WARN_UNUSED cs_status cs_client_dump_file(const cs_client *c, const char *path);
CS_API CS_WARN_UNUSED cs_status cs_client_load_file(cs_client **out /* OUT */, const char *path,
                                                    const cs_client_opts *opts);

/* ---- job output hand-over (CPU -> GPU) ---------------------------------- */

/* Writes DIR/_job.json, the manifest a GPU worker reads: the job (input url,
 * ids, shard piece), the pair count, and `files` (names relative to DIR,
 * no '/' allowed; copied). Atomic (temporary name + rename). */
CS_API CS_WARN_UNUSED cs_status cs_client_manifest_write(const char *dir, const cs_client_job *job,
                                                         uint64_t pairs,
                                                         const char *const *files, size_t nfiles,
                                                         char *err, size_t errlen);
/* Sends a local file with HTTP PUT to url (retries as the API calls). */
CS_API CS_WARN_UNUSED cs_status cs_client_put_file(cs_client *c, const char *local,
                                                   const char *url);

#ifdef __cplusplus
}
#endif
#endif
