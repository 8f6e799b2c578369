/* store_sqlite.c - the tracker store's SQLite connection: one file in WAL
 * mode, prepared statements cached per connection, $N parameters bound by
 * name. store.c serialises its use (one connection behind the pool mutex);
 * other processes (add-jobs next to a running server) wait on the busy
 * timeout. */
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracker/store.h"

#define STMT_CACHE 48
#define MAP_MAX 16 /* parameters of a cached statement */

typedef struct sq_conn {
    cs__tdb base;
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *st;
        int map[MAP_MAX]; /* map[i]: bind index of $i+1 (0: absent) */
    } cache[STMT_CACHE];
    size_t ncache;
    int last_rc;
} sq_conn;

static void sq_close(cs__tdb *c)
{
    sq_conn *q = (sq_conn *)c;
    if (!q)
        return;
    for (size_t i = 0; i < q->ncache; i++)
        sqlite3_finalize(q->cache[i].st);
    sqlite3_close(q->db);
    cs_free(q);
}

static bool sq_retryable(cs__tdb *c)
{
    int rc = ((sq_conn *)c)->last_rc & 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Integers travel as text through the interface; bind canonical decimal
 * integers as integers so arithmetic and comparisons see numbers. */
static bool canonical_int(const char *s, sqlite3_int64 *v)
{
    const char *p = s;
    if (*p == '-')
        p++;
    size_t n = strlen(p);
    if (n == 0 || n > 18 || (p[0] == '0' && n > 1))
        return false;
    sqlite3_int64 x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        x = x * 10 + (p[i] - '0');
    }
    *v = s[0] == '-' ? -x : x;
    return true;
}

static cs_status sq_fail(sq_conn *q, int rc, const char *what)
{
    q->last_rc = rc;
    snprintf(q->base.err, sizeof q->base.err, "sqlite: %s: %s", what, sqlite3_errmsg(q->db));
    return CS_EIO;
}

static cs_status sq_exec(cs__tdb *c, const char *sql, bool cached, const char *const *params,
                         int nparams, cs__tres *res, int64_t *changes)
{
    sq_conn *q = (sq_conn *)c;
    sqlite3_stmt *st = NULL;
    const int *map = NULL;
    bool own = true;
    cs_status rc = CS_OK;
    if (res)
        memset(res, 0, sizeof *res);
    if (cached) {
        for (size_t i = 0; i < q->ncache; i++)
            if (q->cache[i].sql == sql) {
                st = q->cache[i].st;
                map = q->cache[i].map;
                own = false;
                break;
            }
    }
    if (!st) {
        int r = sqlite3_prepare_v3(q->db, sql, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                                   NULL);
        if (r != SQLITE_OK)
            return sq_fail(q, r, "prepare");
        if (cached && q->ncache < STMT_CACHE && sqlite3_bind_parameter_count(st) <= MAP_MAX) {
            int *m = q->cache[q->ncache].map;
            memset(m, 0, MAP_MAX * sizeof *m);
            for (int idx = 1; idx <= sqlite3_bind_parameter_count(st); idx++) {
                const char *name = sqlite3_bind_parameter_name(st, idx);
                int i = (name && name[0] == '$') ? atoi(name + 1) - 1 : -1;
                if (i >= 0 && i < MAP_MAX)
                    m[i] = idx;
            }
            q->cache[q->ncache].sql = sql;
            q->cache[q->ncache++].st = st;
            map = m;
            own = false;
        }
    }
    /* $N: through the map computed when a cached statement was prepared;
     * uncached statements (generated ones) number them in order, so $N is
     * bind index N (looking names up would be quadratic in big INSERTs) */
    for (int i = 0; i < nparams; i++) {
        int idx = map ? (i < MAP_MAX ? map[i] : 0) : i + 1;
        if (!idx || idx > sqlite3_bind_parameter_count(st))
            continue;
        sqlite3_int64 v;
        int r;
        if (!params[i])
            r = sqlite3_bind_null(st, idx);
        else if (canonical_int(params[i], &v))
            r = sqlite3_bind_int64(st, idx, v);
        else
            r = sqlite3_bind_text(st, idx, params[i], -1, SQLITE_STATIC); /* reset below */
        if (r != SQLITE_OK) {
            rc = sq_fail(q, r, "bind");
            goto out;
        }
    }
    size_t cap = 0;
    for (;;) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = sq_fail(q, r, "step");
            goto out;
        }
        if (!res)
            continue;
        size_t nc = (size_t)sqlite3_column_count(st);
        res->ncols = nc;
        if ((res->nrows + 1) * nc > cap) {
            size_t ncap = cap ? cap * 2 : nc * 4;
            char **nv = cs_realloc(res->cells, ncap * sizeof *nv);
            if (!nv) {
                rc = CS_ENOMEM;
                goto out;
            }
            res->cells = nv;
            cap = ncap;
        }
        char **row = res->cells + res->nrows * nc;
        for (size_t j = 0; j < nc; j++) {
            const unsigned char *t = sqlite3_column_text(st, (int)j);
            row[j] = NULL;
            if (t && !(row[j] = cs_strdup((const char *)t))) {
                for (size_t k = 0; k < j; k++)
                    cs_free(row[k]);
                rc = CS_ENOMEM;
                goto out;
            }
        }
        res->nrows++;
    }
    if (changes)
        *changes = sqlite3_changes64(q->db);
out:
    if (rc && res)
        cs__tres_free(res);
    if (own)
        sqlite3_finalize(st);
    else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return rc;
}

static const cs__tdb_ops SQ_OPS = {sq_exec, sq_retryable, sq_close, NULL};

/* Memory statistics make every SQLite allocation take a global mutex (about
 * 5% of the tracker's hot loop); the library never reads them. Only
 * possible before SQLite initialises: once that happened (another user in
 * the process) the call is refused and changes nothing. */
static void sq_config_once(void) { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

cs_status cs__tdb_sqlite_open(const char *path, cs__tdb **out, char *err, size_t errcap)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sq_config_once);
    *out = NULL;
    sq_conn *q = cs_calloc(1, sizeof *q);
    if (!q)
        return CS_ENOMEM;
    q->base.ops = &SQ_OPS;
    int r = sqlite3_open_v2(path, &q->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL);
    if (r != SQLITE_OK) {
        snprintf(err, errcap, "sqlite: cannot open %s: %s", path,
                 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(r));
        sq_close(&q->base);
        return CS_EIO;
    }
    sqlite3_busy_timeout(q->db, 10000);
    /* 1 KiB pages (new files only): a lease or a completion dirties a few
     * B-tree pages, and every dirty page is copied to the WAL and back, so
     * small pages cut the bytes written per operation about fourfold.
     * WAL: readers do not block the writer; NORMAL sync survives a killed
     * process (the WAL is in the OS cache), a power cut may lose the last
     * transactions but never corrupts the file. */
    static const char *const pragmas[] = {"PRAGMA page_size=1024", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                                          "PRAGMA foreign_keys=OFF",
                                          /* 4 MB: every commit walks the page
                                           * cache's hash table (SQLite's
                                           * pcache1 truncation), so a larger
                                           * cache costs CPU on every batch;
                                           * the hot rows fit (measured with
                                           * bench_tracker_store: 64 MB cost
                                           * 30 us per cycle, 4 MB 22 us) */
                                          "PRAGMA cache_size=-4096",
                                          /* 64 MB: background checkpoints do the work */
                                          "PRAGMA wal_autocheckpoint=16384"};
    for (size_t i = 0; i < sizeof pragmas / sizeof *pragmas; i++) {
        char *msg = NULL;
        if (sqlite3_exec(q->db, pragmas[i], NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errcap, "sqlite: %s: %s: %s", path, pragmas[i], msg ? msg : "?");
            sqlite3_free(msg);
            sq_close(&q->base);
            return CS_EIO;
        }
    }
    *out = &q->base;
    return CS_OK;
}

/* ---- background checkpoints ------------------------------------------------ */

/* The writer's commit would otherwise run the WAL checkpoint itself (copy
 * back + fsync, tens of ms) every 1000 pages: here a thread with its own
 * connection does PASSIVE checkpoints every 100 ms, beside the writer, which
 * keeps only a large safety-net autocheckpoint (see the open pragmas). */
struct cs__tckpt {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *ckpt_main(void *arg)
{
    cs__tckpt *k = arg;
    pthread_mutex_lock(&k->mu);
    long wait_ms = 100;
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += wait_ms * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->mu);
        int nlog = 0, nckpt = 0;
        if (sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt) !=
            SQLITE_OK)
            cs_log(CS_LOG_DEBUG, "sqlite checkpoint: %s", sqlite3_errmsg(k->db));
        /* under a steady stream of commits, keep up with the writer: the
         * WAL restarts (at the writer's next transaction) only once every
         * frame is copied back, and what is left when the writer's own
         * autocheckpoint fires is copied inside one of its commits, a
         * stall for every waiting request */
        wait_ms = nlog > 2048 ? 2 : 100;
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

cs_status cs__tsqlite_ckpt_start(const char *path, cs__tckpt **out)
{
    *out = NULL;
    cs__tckpt *k = cs_calloc(1, sizeof *k);
    if (!k)
        return CS_ENOMEM;
    if (sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(k->db);
        cs_free(k);
        return CS_EIO;
    }
    sqlite3_busy_timeout(k->db, 1000);
    /* a connection that has read nothing does not know the file is in WAL
     * mode: its checkpoints would do nothing (sqlite3_wal_checkpoint_v2
     * answers -1 frames); one read opens the WAL */
    if (sqlite3_exec(k->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK)
        cs_log(CS_LOG_DEBUG, "sqlite checkpointer: %s", sqlite3_errmsg(k->db));
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        sqlite3_close(k->db);
        cs_free(k);
        return CS_EIO;
    }
    *out = k;
    return CS_OK;
}

void cs__tsqlite_ckpt_stop(cs__tckpt *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    sqlite3_close(k->db);
    cs_free(k);
}
