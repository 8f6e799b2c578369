/* store.h - the tracker's store (internal): the job/worker/leaderboard
 * operations, written once in SQL over a tiny connection interface with two
 * implementations, SQLite (store_sqlite.c: WAL, one file, 1 KiB pages, one
 * writer connection, readers beside it, checkpoints in a background thread)
 * and PostgreSQL (store_pg.c: libpq, a pool of connections, leasing with
 * FOR UPDATE SKIP LOCKED so several tracker processes can share one
 * database). store.c holds the logic. Each operation is one SQL transaction
 * body; writes are group-committed: concurrent operations queue and one
 * leader thread runs the queued batch in one transaction (SQLite: one batch
 * at a time; PostgreSQL: up to 8 on separate connections). Operations that
 * refuse (unknown token, job not held) do so before writing anything, so a
 * batch can go on past them; a store error makes the leader run the batch
 * again one operation per transaction.
 *
 * Errors: operations return cs_status; the message of the calling thread's
 * last failure is cs_tracker_store_errmsg() (thread-local, like errno). */
#ifndef CS_TRACKER_STORE_H
#define CS_TRACKER_STORE_H

#include <pthread.h>

#include "crawlset/tracker.h"

/* ---- connections ---------------------------------------------------------- */

typedef enum cs__tdialect { CS__TDB_SQLITE, CS__TDB_PG } cs__tdialect;

/* A result set: nrows x ncols cells, each a cs_malloc'd NUL-terminated string
 * or NULL for SQL NULL. */
typedef struct cs__tres {
    size_t nrows, ncols;
    char **cells;
} cs__tres;

void cs__tres_free(cs__tres *r);
static inline const char *cs__tres_get(const cs__tres *r, size_t row, size_t col)
{
    return (row < r->nrows && col < r->ncols) ? r->cells[row * r->ncols + col] : NULL;
}

typedef struct cs__tdb cs__tdb;
#define CS__TPIPE_MAX 260 /* statements in one pipeline */
typedef struct cs__tdb_ops {
    /* Runs sql with text parameters $1..$n (NULL = SQL NULL). When cached,
     * sql is a string literal whose address keys a per-connection prepared
     * statement (at most 16 parameters); uncached statements number their
     * parameters $1..$n in order of appearance. res (may be NULL) receives the rows; *changes (may be NULL)
     * the number of rows changed. CS_EIO on failure (message in c->err). */
    cs_status (*exec)(cs__tdb *c, const char *sql, bool cached, const char *const *params,
                      int nparams, cs__tres *res, int64_t *changes);
    /* True when the last failure may succeed if the transaction is retried
     * (deadlock, serialization failure, busy). */
    bool (*retryable)(cs__tdb *c);
    void (*close)(cs__tdb *c);
    /* Optional (NULL: not supported): runs the n cached statements sql[i]
     * (parameters params[i][0..nparams[i])) sent at once, results read
     * after (one round trip); res[i] receives statement i's rows (none
     * when out of memory). CS_OK when every statement went through and
     * the pipeline ended cleanly; CS_EIO otherwise (c->err says what
     * failed; statements after a failed one were skipped). */
    cs_status (*pipeline)(cs__tdb *c, size_t n, const char *const *sql,
                          const char *const *const *params, const int *nparams, cs__tres *res);
} cs__tdb_ops;

struct cs__tdb {
    const cs__tdb_ops *ops;
    char err[CS_ERRMSG_MAX];
};

cs_status cs__tdb_sqlite_open(const char *path, cs__tdb **out, char *err, size_t errcap);
/* SQLite: a thread doing PASSIVE WAL checkpoints beside the writer. */
typedef struct cs__tckpt cs__tckpt;
cs_status cs__tsqlite_ckpt_start(const char *path, cs__tckpt **out);
void cs__tsqlite_ckpt_stop(cs__tckpt *k);
cs_status cs__tdb_pg_open(const char *url, cs__tdb **out, char *err, size_t errcap);

/* ---- the store -------------------------------------------------------------- */

#define CS__TSTAGES 5

typedef struct cs__tjob {
    int64_t id;       /* the job number */
    int64_t start_id; /* id range [start_id, end_id) */
    int64_t end_id;
    int shard;        /* shard piece: 0 first half of the input, 1 second */
    int stage;        /* 1..CS__TSTAGES */
    char *input;      /* this stage's input (cs_malloc'd) */
} cs__tjob;

typedef struct cs__tworker_info {
    char *type;         /* HYBRID, CPU or GPU (cs_malloc'd) */
    char *nickname;     /* cs_malloc'd */
} cs__tworker_info;

/* Sets the calling thread's store error message. */
void cs__tstore_seterr(const char *fmt, ...) CS_PRINTF(1, 2);

/* Milliseconds since the epoch (wall clock: several processes share it). */
int64_t cs__tnow_ms(void);

/* Registers a worker with a fresh random token (33 bytes incl. NUL) and
 * display name (cs_malloc'd, caller frees). */
CS_WARN_UNUSED cs_status cs__tstore_worker_new(cs_tracker_store *s, const char *nickname,
                                               const char *type, int64_t now,
                                               char token[33] /* OUT */,
                                               char **display_name /* OUT */);
/* Refreshes the worker's last-seen time and, when progress is not NULL, its
 * progress text; info (may be NULL) receives its type and nickname.
 * CS_ENOTFOUND for an unknown or timed-out token. */
CS_WARN_UNUSED cs_status cs__tstore_worker_touch(cs_tracker_store *s, const char *token,
                                                 const char *progress, int64_t now,
                                                 cs__tworker_info *info /* OUT */);
void cs__tworker_info_cleanup(cs__tworker_info *w);
/* type (may be NULL) in lease/complete/release: the type the request
 * claims; CS_EINVAL when it is not the worker's registered type. */
/* Leases a random open job of `stage` to the worker (a job it held before
 * goes back to open). CS_DONE when none is open, CS_ENOTFOUND for an unknown
 * token. job->input is cs_malloc'd. */
CS_WARN_UNUSED cs_status cs__tstore_job_lease(cs_tracker_store *s, const char *token,
                                              const char *type, int stage,
                                              int64_t now, cs__tjob *job /* OUT */);
/* Completes the worker's job: with output != NULL the job moves to the next
 * stage with output as its input (the last stage ends it); without, it is
 * done. count adds pairs to the nickname's leaderboard entry. Repeating a
 * completion is harmless (CS_OK). CS_ENOTFOUND unknown token, CS_EINVAL the
 * worker holds no job. */
CS_WARN_UNUSED cs_status cs__tstore_job_complete(cs_tracker_store *s, const char *token,
                                                 const char *type,
                                                 const char *output, int64_t count,
                                                 int64_t now);
/* A lease or a completion to run in a batch with others (cs__tstore_calls),
 * with exactly the effect and answer of cs__tstore_job_lease / _complete. */
typedef struct cs__tcall {
    bool complete;                     /* false: lease */
    const char *token, *type, *output; /* borrowed */
    int stage;                         /* lease */
    int64_t count, now;
    cs__tjob job;                      /* lease: OUT (input cs_malloc'd) */
    cs_status st;                      /* OUT */
    char err[CS_ERRMSG_MAX];           /* OUT: the message when st != CS_OK */
} cs__tcall;
/* Runs calls[0..n) in as few transactions as it can (one per 256 when no
 * call fails with a store error; else each on its own); returns once every
 * effect is committed. */
void cs__tstore_calls(cs_tracker_store *s, cs__tcall *const *calls, size_t n);
bool cs__tstore_is_pg(const cs_tracker_store *s);
/* Batches of writes so far: committed as set statements (PostgreSQL), and
 * run again one call at a time because the batch failed as a whole. */
void cs__tstore_batch_counts(cs_tracker_store *s, uint64_t *set, uint64_t *split);
/* How the worker gives its job back. */
typedef enum cs__trelease {
    CS__TREL_REOPEN,   /* open again at the same stage */
    CS__TREL_ROLLBACK, /* back one stage (gpuInvalidDownload) */
    CS__TREL_FLAG,     /* flagInvalidData: back one stage once `threshold`
                          distinct workers flagged it, else reopen */
} cs__trelease;
CS_WARN_UNUSED cs_status cs__tstore_job_release(cs_tracker_store *s, const char *token,
                                                const char *type,
                                                cs__trelease how, unsigned threshold,
                                                int64_t now);
/* Removes the worker; its job goes back to open. CS_ENOTFOUND unknown token. */
CS_WARN_UNUSED cs_status cs__tstore_worker_bye(cs_tracker_store *s, const char *token);
/* Re-opens the jobs of workers unseen since `cutoff` (ms) and removes them. */
CS_WARN_UNUSED cs_status cs__tstore_sweep(cs_tracker_store *s, int64_t cutoff,
                                          int64_t *removed /* OUT, may be NULL */);
/* Gives every worker a fresh last-seen time (a restarted tracker does not
 * hold its own downtime against the workers). */
CS_WARN_UNUSED cs_status cs__tstore_refresh_all(cs_tracker_store *s, int64_t now);
/* Number of open jobs of a stage. */
CS_WARN_UNUSED cs_status cs__tstore_count_open(cs_tracker_store *s, int stage,
                                               int64_t *n /* OUT */);
/* Runs one read-only query (no parameters) and returns its rows. */
CS_WARN_UNUSED cs_status cs__tstore_query(cs_tracker_store *s, const char *sql,
                                          const char *const *params, int nparams,
                                          cs__tres *res /* OUT */);

#endif
