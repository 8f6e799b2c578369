/* server_int.h - the tracker server's private parts, shared by server.c (the
 * protocol and the HTTP glue) and dashboard.c (the read-only pages). */
#ifndef CS_TRACKER_SERVER_INT_H
#define CS_TRACKER_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "tracker/store.h"

struct MHD_Daemon;

struct cs_tracker {
    cs_tracker_store *store;
    char *upload_address;       /* owned; "" when none */
    char *admin_key;            /* owned; "" = admin calls disabled */
    double idle_timeout;        /* seconds */
    unsigned threads;           /* side threads (at most 16) */
    unsigned invalid_threshold; /* flagInvalidData reports that roll a job back */
    size_t max_body;            /* request body limit */
    struct MHD_Daemon *daemon;  /* NULL until cs_tracker_listen */
    pthread_t sweep_thread;
    pthread_t loop_thread;      /* the event loop (SQLite stores) */
    bool loop_running;
    atomic_bool loop_stop;
    /* The loop queues each newJob / markAsDone call in `batch` (and
     * suspends its connection); a committer thread takes the whole queue
     * as soon as it is free, runs it as one transaction, gives the
     * answered calls back in `answered` and wakes the loop through wake_fd
     * (an eventfd). The committer takes the queue itself, at once, rather
     * than wait for the loop to hand it over at the end of its round: a
     * round can take longer than a commit, and the committer idled.
     * cmu guards batch, nbatch, answered, commit_idle. One committer for
     * both stores: SQLite has one writer; on PostgreSQL a batch is a few
     * set statements whatever its size (cs_lease_many, cs_complete_many),
     * so one large batch costs the database less than two halves (two
     * committers: 12,100 cycles/s at 85 us of database CPU per cycle; one:
     * 13,400 at 58 us; one running statements while the other waited for
     * its COMMIT: 11,200). commit_thread keeps room for two. */
    struct conn_ctx *batch;
    size_t nbatch;
    pthread_t commit_thread[2];
    unsigned ncommit;           /* committer threads running */
    struct conn_ctx *answered;
    unsigned commit_idle;       /* committers waiting for calls */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    int wake_fd;
    /* Every other request (registration, progress, dashboard, admin) runs
     * on one of the side threads, so a slow one (a dashboard count over a
     * million jobs, a PostgreSQL round trip) never holds the loop: queued
     * in side_head..side_tail (under cmu), answered through `answered`. */
    pthread_t side[16];
    unsigned nside;             /* side threads running */
    struct conn_ctx *side_head, *side_tail;
    pthread_cond_t scv;
    bool side_stop;             /* under cmu */
    bool sweeping;              /* sweep_thread runs */
    bool stopping;              /* asks the sweeper to end (under mu) */
    bool sync_init;             /* mu and cv initialised */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* counters for /metrics */
    atomic_uint_fast64_t requests, leased, completed, timed_out, store_errors;
    atomic_uint_fast64_t by_class[6]; /* responses by status class (index 1..5) */
};

/* One-line text response (printf-style). CS_ENOMEM only. */
cs_status cs__tracker_text(cs_tracker_response *r, int status, const char *fmt, ...)
    CS_PRINTF(3, 4);
/* Hands b's contents to r as the body. */
cs_status cs__tracker_take(cs_tracker_response *r, int status, const char *ctype, cs_buf *b);
/* GET of a non-API path: /, /worker/<type>/<name>, /data, /metrics. */
cs_status cs__tracker_dashboard(cs_tracker *t, const char *path, const char *query,
                                cs_tracker_response *r);

#endif
