/* store.c - the tracker store: schema, connection pools and every job /
 * worker / leaderboard operation as one SQL transaction, identical for
 * SQLite and PostgreSQL except where a dialect needs its own statement
 * (row locks with FOR UPDATE SKIP LOCKED, DML in a CTE, column types). */
#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crawlset/gzip.h"
#include "tracker/store.h"

/* ---- errors, time, results --------------------------------------------------- */

static _Thread_local char t_err[CS_ERRMSG_MAX];

void cs__tstore_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_err, sizeof t_err, fmt, ap);
    va_end(ap);
}

const char *cs_tracker_store_errmsg(void) { return t_err[0] ? t_err : "no error"; }

int64_t cs__tnow_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cs__tres_free(cs__tres *r)
{
    if (!r || !r->cells) {
        if (r)
            r->nrows = r->ncols = 0;
        return;
    }
    for (size_t i = 0; i < r->nrows * r->ncols; i++)
        cs_free(r->cells[i]);
    cs_free(r->cells);
    memset(r, 0, sizeof *r);
}

void cs__tworker_info_cleanup(cs__tworker_info *w)
{
    if (!w)
        return;
    cs_free(w->type);
    cs_free(w->nickname);
    w->type = w->nickname = NULL;
}

/* ---- pools -------------------------------------------------------------------- */

typedef struct pool {
    cs__tdb **free;   /* idle connections */
    size_t nfree;
    size_t open;      /* connections alive (idle + in use) */
    size_t max;
    pthread_cond_t cv;
} pool;

struct cs_tracker_store {
    cs__tdialect dialect;
    char *url;
    pthread_mutex_t mu;
    pool wr; /* SQLite: the single writer; PostgreSQL: every connection */
    pool rd; /* SQLite: readers (WAL lets them run beside the writer) */
};

static cs_status db_open(cs_tracker_store *s, cs__tdb **out, char *err, size_t errcap)
{
    return s->dialect == CS__TDB_PG ? cs__tdb_pg_open(s->url, out, err, errcap)
                                    : cs__tdb_sqlite_open(s->url, out, err, errcap);
}

static cs_status acquire(cs_tracker_store *s, bool write, cs__tdb **out)
{
    pool *p = (write || s->dialect == CS__TDB_PG) ? &s->wr : &s->rd;
    pthread_mutex_lock(&s->mu);
    while (!p->nfree && p->open >= p->max)
        pthread_cond_wait(&p->cv, &s->mu);
    if (p->nfree) {
        *out = p->free[--p->nfree];
        pthread_mutex_unlock(&s->mu);
        return CS_OK;
    }
    p->open++;
    pthread_mutex_unlock(&s->mu);
    char err[CS_ERRMSG_MAX] = "";
    cs_status st = db_open(s, out, err, sizeof err);
    if (st) {
        cs__tstore_seterr("%s", err[0] ? err : cs_strerror(st));
        pthread_mutex_lock(&s->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return st;
}

/* broken: the connection failed in a way that may have left it unusable */
static void release(cs_tracker_store *s, bool write, cs__tdb *c, bool broken)
{
    pool *p = (write || s->dialect == CS__TDB_PG) ? &s->wr : &s->rd;
    pthread_mutex_lock(&s->mu);
    if (broken) {
        p->open--;
        c->ops->close(c);
    } else {
        p->free[p->nfree++] = c;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&s->mu);
}

static void pool_cleanup(pool *p)
{
    for (size_t i = 0; i < p->nfree; i++)
        p->free[i]->ops->close(p->free[i]);
    cs_free(p->free);
    pthread_cond_destroy(&p->cv);
}

static cs_status pool_init(pool *p, size_t max)
{
    p->max = max;
    p->free = cs_calloc(max, sizeof *p->free);
    pthread_cond_init(&p->cv, NULL);
    return p->free ? CS_OK : CS_ENOMEM;
}

/* ---- statements ----------------------------------------------------------------- */

static cs_status run(cs__tdb *c, const char *sql, bool cached, cs__tres *res, int64_t *chg,
                     int n, const char *const *params)
{
    cs_status st = c->ops->exec(c, sql, cached, params, n, res, chg);
    if (st == CS_EIO)
        cs__tstore_seterr("%s", c->err);
    return st;
}

#define NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
/* a cached statement with parameters */
#define Q(c, sql, res, chg, ...)                                                          \
    run((c), (sql), true, (res), (chg), NARGS(__VA_ARGS__), (const char *[]){__VA_ARGS__})
/* a cached statement without parameters */
#define Q0(c, sql, res, chg) run((c), (sql), true, (res), (chg), 0, NULL)

static const char *i64s(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

static int64_t cell_i64(const cs__tres *r, size_t row, size_t col)
{
    const char *v = cs__tres_get(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* Dialect pairs: [0] SQLite, [1] PostgreSQL. */
#define D(s) (s)->dialect

static const char *const SCHEMA[2] = {
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id INTEGER PRIMARY KEY, start_id INTEGER NOT NULL, end_id INTEGER NOT NULL,"
    " shard INTEGER NOT NULL, stage INTEGER NOT NULL DEFAULT 1, state INTEGER NOT NULL DEFAULT 0,"
    " holder TEXT, leased_at INTEGER, rnd INTEGER NOT NULL, pairs INTEGER NOT NULL DEFAULT 0,"
    " done_at INTEGER, i1 TEXT NOT NULL, i2 TEXT, i3 TEXT, i4 TEXT, i5 TEXT);"
    "CREATE INDEX IF NOT EXISTS jobs_pick ON jobs(stage, state, rnd);"
    "CREATE INDEX IF NOT EXISTS jobs_holder ON jobs(holder) WHERE holder IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS workers ("
    " token TEXT PRIMARY KEY, nickname TEXT NOT NULL, type TEXT NOT NULL,"
    " display_name TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " progress TEXT NOT NULL DEFAULT '', job INTEGER, last_job INTEGER,"
    " jobs_done INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS workers_seen ON workers(last_seen);"
    "CREATE TABLE IF NOT EXISTS leaderboard ("
    " nickname TEXT PRIMARY KEY, jobs INTEGER NOT NULL DEFAULT 0, pairs INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS flags ("
    " job INTEGER NOT NULL, stage INTEGER NOT NULL, worker TEXT NOT NULL,"
    " PRIMARY KEY (job, stage, worker));"
    "CREATE TABLE IF NOT EXISTS completions ("
    " job INTEGER NOT NULL, stage INTEGER NOT NULL, worker TEXT NOT NULL, nickname TEXT NOT NULL,"
    " at INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (job, stage));",

    "CREATE TABLE IF NOT EXISTS jobs ("
    " id BIGINT PRIMARY KEY, start_id BIGINT NOT NULL, end_id BIGINT NOT NULL,"
    " shard INT NOT NULL, stage INT NOT NULL DEFAULT 1, state INT NOT NULL DEFAULT 0,"
    " holder TEXT, leased_at BIGINT, rnd BIGINT NOT NULL, pairs BIGINT NOT NULL DEFAULT 0,"
    " done_at BIGINT, i1 TEXT NOT NULL, i2 TEXT, i3 TEXT, i4 TEXT, i5 TEXT);"
    "CREATE INDEX IF NOT EXISTS jobs_pick ON jobs(stage, state, rnd);"
    "CREATE INDEX IF NOT EXISTS jobs_holder ON jobs(holder) WHERE holder IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS workers ("
    " token TEXT PRIMARY KEY, nickname TEXT NOT NULL, type TEXT NOT NULL,"
    " display_name TEXT NOT NULL, created BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
    " progress TEXT NOT NULL DEFAULT '', job BIGINT, last_job BIGINT,"
    " jobs_done BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS workers_seen ON workers(last_seen);"
    "CREATE TABLE IF NOT EXISTS leaderboard ("
    " nickname TEXT PRIMARY KEY, jobs BIGINT NOT NULL DEFAULT 0, pairs BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS flags ("
    " job BIGINT NOT NULL, stage INT NOT NULL, worker TEXT NOT NULL,"
    " PRIMARY KEY (job, stage, worker));"
    "CREATE TABLE IF NOT EXISTS completions ("
    " job BIGINT NOT NULL, stage INT NOT NULL, worker TEXT NOT NULL, nickname TEXT NOT NULL,"
    " at BIGINT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (job, stage));",
};

static const char *const BEGIN_TX[2] = {"BEGIN IMMEDIATE", "BEGIN"};

/* ---- transactions ------------------------------------------------------------------ */

typedef cs_status (*tx_fn)(cs_tracker_store *s, cs__tdb *c, void *arg);

/* Runs fn in one transaction, committed when fn returns CS_OK or CS_DONE,
 * rolled back otherwise, retried a few times on deadlocks and the like. */
static cs_status run_tx(cs_tracker_store *s, bool write, tx_fn fn, void *arg)
{
    cs_status st = CS_OK;
    for (int attempt = 0; attempt < 8; attempt++) {
        cs__tdb *c;
        st = acquire(s, write, &c);
        if (st)
            return st;
        bool retry = false, broken = false;
        st = Q0(c, write ? BEGIN_TX[D(s)] : "BEGIN", NULL, NULL);
        if (st) {
            retry = c->ops->retryable(c);
            broken = !retry;
            release(s, write, c, broken);
            if (retry)
                continue;
            return st;
        }
        st = fn(s, c, arg);
        if (st == CS_OK || st == CS_DONE) {
            cs_status cst = Q0(c, "COMMIT", NULL, NULL);
            if (cst) {
                retry = c->ops->retryable(c);
                (void)Q0(c, "ROLLBACK", NULL, NULL);
                st = cst;
            }
        } else {
            if (st == CS_EIO)
                retry = c->ops->retryable(c);
            if (Q0(c, "ROLLBACK", NULL, NULL) != CS_OK)
                broken = true;
        }
        release(s, write, c, broken);
        if (!retry)
            return st;
        struct timespec ts = {0, (long)(1000000L << (attempt < 6 ? attempt : 6))};
        nanosleep(&ts, NULL);
    }
    return st;
}

/* ---- open / close -------------------------------------------------------------------- */

static bool is_pg_url(const char *db)
{
    return !strncmp(db, "postgresql://", 13) || !strncmp(db, "postgres://", 11) ||
           !strncmp(db, "host=", 5) || !strncmp(db, "dbname=", 7);
}

static cs_status create_schema(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    (void)arg;
    if (D(s) == CS__TDB_PG) {
        /* several trackers may start at once on an empty database */
        cs_status st = Q0(c, "SELECT pg_advisory_xact_lock(8020406)", NULL, NULL);
        if (st)
            return st;
    }
    /* one statement at a time (neither prepared-statement API takes more) */
    char stmt[1024];
    for (const char *p = SCHEMA[D(s)]; *p;) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n >= sizeof stmt)
            return CS_EINVAL;
        memcpy(stmt, p, n);
        stmt[n] = 0;
        cs_status st = run(c, stmt, false, NULL, NULL, 0, NULL);
        if (st)
            return st;
        p += n + (e ? 1 : 0);
    }
    return CS_OK;
}

cs_status cs_tracker_store_open(const char *db, cs_tracker_store **out, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || !errcap) {
        err = dummy;
        errcap = sizeof dummy;
    }
    err[0] = 0;
    *out = NULL;
    if (!db || !*db) {
        snprintf(err, errcap, "no store given (an SQLite file or a postgresql:// URL)");
        return CS_EINVAL;
    }
    cs_tracker_store *s = cs_calloc(1, sizeof *s);
    if (!s || !(s->url = cs_strdup(db))) {
        cs_free(s);
        return CS_ENOMEM;
    }
    s->dialect = is_pg_url(db) ? CS__TDB_PG : CS__TDB_SQLITE;
    pthread_mutex_init(&s->mu, NULL);
    cs_status st = pool_init(&s->wr, s->dialect == CS__TDB_PG ? 64 : 1);
    if (!st)
        st = pool_init(&s->rd, 4);
    if (st)
        goto fail;
    /* the first connection says whether the store can be reached at all */
    cs__tdb *c;
    st = db_open(s, &c, err, errcap);
    if (st)
        goto fail;
    s->wr.open = 1;
    s->wr.free[s->wr.nfree++] = c;
    st = run_tx(s, true, create_schema, NULL);
    if (st) {
        snprintf(err, errcap, "cannot create the schema: %s", cs_tracker_store_errmsg());
        goto fail;
    }
    *out = s;
    return CS_OK;
fail:
    cs_tracker_store_free(s);
    return st;
}

void cs_tracker_store_free(cs_tracker_store *s)
{
    if (!s)
        return;
    pool_cleanup(&s->wr);
    pool_cleanup(&s->rd);
    pthread_mutex_destroy(&s->mu);
    cs_free(s->url);
    cs_free(s);
}

/* ---- workers ------------------------------------------------------------------------- */

typedef struct worker_new_args {
    const char *nickname, *type, *token, *display;
    int64_t now;
} worker_new_args;

static cs_status worker_new_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    worker_new_args *a = arg;
    char now[24];
    (void)s;
    return Q(c,
             "INSERT INTO workers (token, nickname, type, display_name, created, last_seen)"
             " VALUES ($1, $2, $3, $4, $5, $5)",
             NULL, NULL, a->token, a->nickname, a->type, a->display, i64s(now, a->now));
}

cs_status cs__tstore_worker_new(cs_tracker_store *s, const char *nickname, const char *type,
                                int64_t now, char token[33], char **display_name)
{
    unsigned char rnd[16];
    *display_name = NULL;
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        cs__tstore_seterr("no random bytes for a token");
        return CS_EIO;
    }
    cs_base16_encode(rnd, sizeof rnd, token);
    for (char *p = token; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
    token[32] = 0;
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_printf(&b, "%s-%.6s", nickname, token);
    if (!b.data)
        return CS_ENOMEM;
    worker_new_args a = {nickname, type, token, b.data, now};
    cs_status st = run_tx(s, true, worker_new_tx, &a);
    if (st) {
        cs_buf_cleanup(&b);
        return st;
    }
    *display_name = cs_buf_take(&b, NULL);
    return CS_OK;
}

typedef struct touch_args {
    const char *token, *progress;
    int64_t now;
    cs__tworker_info *info;
} touch_args;

static cs_status touch_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    touch_args *a = arg;
    char now[24];
    cs__tres r;
    (void)s;
    cs_status st = Q(c,
                     "UPDATE workers SET last_seen = $2, progress = COALESCE($3, progress)"
                     " WHERE token = $1 RETURNING type, nickname",
                     &r, NULL, a->token, i64s(now, a->now), a->progress);
    if (st)
        return st;
    if (!r.nrows) {
        cs__tres_free(&r);
        cs__tstore_seterr("unknown or timed-out worker token");
        return CS_ENOTFOUND;
    }
    if (a->info) {
        a->info->type = cs_strdup(cs__tres_get(&r, 0, 0));
        a->info->nickname = cs_strdup(cs__tres_get(&r, 0, 1));
        if (!a->info->type || !a->info->nickname) {
            cs__tworker_info_cleanup(a->info);
            st = CS_ENOMEM;
        }
    }
    cs__tres_free(&r);
    return st;
}

cs_status cs__tstore_worker_touch(cs_tracker_store *s, const char *token, const char *progress,
                                  int64_t now, cs__tworker_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    touch_args a = {token, progress, now, info};
    return run_tx(s, true, touch_tx, &a);
}

/* Locks the worker's row; *job = its held job (0 none), *last_job likewise. */
static const char *const Q_WORKER_LOCK[2] = {
    "SELECT job, last_job, nickname, type FROM workers WHERE token = $1",
    "SELECT job, last_job, nickname, type FROM workers WHERE token = $1 FOR UPDATE",
};

typedef struct wrow {
    int64_t job, last_job;
    char nickname[256];
    char type[16];
} wrow;

/* type (may be NULL): the type the request claims; it must be the worker's. */
static cs_status worker_lock(cs_tracker_store *s, cs__tdb *c, const char *token,
                             const char *type, wrow *w)
{
    cs__tres r;
    cs_status st = Q(c, Q_WORKER_LOCK[D(s)], &r, NULL, token);
    if (st)
        return st;
    if (!r.nrows) {
        cs__tres_free(&r);
        cs__tstore_seterr("unknown or timed-out worker token");
        return CS_ENOTFOUND;
    }
    w->job = cell_i64(&r, 0, 0);
    w->last_job = cell_i64(&r, 0, 1);
    snprintf(w->nickname, sizeof w->nickname, "%s", cs__tres_get(&r, 0, 2) ? cs__tres_get(&r, 0, 2) : "");
    snprintf(w->type, sizeof w->type, "%s", cs__tres_get(&r, 0, 3) ? cs__tres_get(&r, 0, 3) : "");
    cs__tres_free(&r);
    if (type && strcmp(type, w->type) != 0) {
        cs__tstore_seterr("type %s is not this worker's type (%s)", type, w->type);
        return CS_EINVAL;
    }
    return CS_OK;
}

static cs_status job_reopen(cs__tdb *c, int64_t job, const char *token)
{
    char j[24];
    return Q(c,
             "UPDATE jobs SET state = 0, holder = NULL, leased_at = NULL"
             " WHERE id = $1 AND holder = $2 AND state = 1",
             NULL, NULL, i64s(j, job), token);
}

/* ---- leasing ----------------------------------------------------------------------------- */

#define JOB_COLS                                                                          \
    "id, start_id, end_id, shard, stage,"                                                 \
    " CASE stage WHEN 1 THEN i1 WHEN 2 THEN i2 WHEN 3 THEN i3 WHEN 4 THEN i4 ELSE i5 END"

static const char *const Q_PICK[2][2] = {
    {"SELECT " JOB_COLS " FROM jobs WHERE stage = $1 AND state = 0 AND rnd >= $2"
     " ORDER BY rnd LIMIT 1",
     "SELECT " JOB_COLS " FROM jobs WHERE stage = $1 AND state = 0 ORDER BY rnd LIMIT 1"},
    {"SELECT " JOB_COLS " FROM jobs WHERE stage = $1 AND state = 0 AND rnd >= $2"
     " ORDER BY rnd LIMIT 1 FOR UPDATE SKIP LOCKED",
     "SELECT " JOB_COLS " FROM jobs WHERE stage = $1 AND state = 0 ORDER BY rnd LIMIT 1"
     " FOR UPDATE SKIP LOCKED"},
};

/* 62-bit random keys: a job's place in the hand-out order, and the pivot a
 * lease starts its search from. */
static int64_t rnd62(void)
{
    uint64_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = (uint64_t)cs__tnow_ms() * 0x9e3779b97f4a7c15ull;
    return (int64_t)(v >> 2);
}

typedef struct lease_args {
    const char *token, *type;
    int stage;
    int64_t now;
    cs__tjob *job;
} lease_args;

static cs_status lease_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    lease_args *a = arg;
    wrow w;
    char b1[24], b2[24], b3[24];
    cs__tres r = {0};
    cs_status st = worker_lock(s, c, a->token, a->type, &w);
    if (st)
        return st;
    if (w.job && (st = job_reopen(c, w.job, a->token)))
        return st;
    st = Q(c, Q_PICK[D(s)][0], &r, NULL, i64s(b1, a->stage), i64s(b2, rnd62()));
    if (!st && !r.nrows)
        st = Q(c, Q_PICK[D(s)][1], &r, NULL, i64s(b1, a->stage));
    if (st)
        return st;
    if (!r.nrows) {
        st = Q(c, "UPDATE workers SET job = NULL, last_seen = $2 WHERE token = $1", NULL, NULL,
               a->token, i64s(b2, a->now));
        return st ? st : CS_DONE;
    }
    cs__tjob *j = a->job;
    j->id = cell_i64(&r, 0, 0);
    j->start_id = cell_i64(&r, 0, 1);
    j->end_id = cell_i64(&r, 0, 2);
    j->shard = (int)cell_i64(&r, 0, 3);
    j->stage = (int)cell_i64(&r, 0, 4);
    j->input = cs_strdup(cs__tres_get(&r, 0, 5) ? cs__tres_get(&r, 0, 5) : "");
    cs__tres_free(&r);
    if (!j->input)
        return CS_ENOMEM;
    i64s(b1, j->id);
    i64s(b2, a->now);
    st = Q(c, "UPDATE jobs SET state = 1, holder = $2, leased_at = $3 WHERE id = $1", NULL, NULL,
           b1, a->token, b2);
    if (!st)
        st = Q(c, "UPDATE workers SET job = $2, last_seen = $3 WHERE token = $1", NULL, NULL,
               a->token, b1, b2);
    (void)b3;
    if (st) {
        cs_free(j->input);
        j->input = NULL;
    }
    return st;
}

cs_status cs__tstore_job_lease(cs_tracker_store *s, const char *token, const char *type,
                               int stage, int64_t now, cs__tjob *job)
{
    memset(job, 0, sizeof *job);
    lease_args a = {token, type, stage, now, job};
    return run_tx(s, true, lease_tx, &a);
}

/* ---- completion ---------------------------------------------------------------------------- */

typedef struct complete_args {
    const char *token, *type, *output;
    int64_t count, now;
} complete_args;

static cs_status complete_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    complete_args *a = arg;
    wrow w;
    char bj[24], bn[24], bc[24], bs[24];
    cs__tres r;
    cs_status st = worker_lock(s, c, a->token, a->type, &w);
    if (st)
        return st;
    if (!w.job) {
        if (w.last_job)
            return CS_OK; /* a repeated completion: already counted */
        cs__tstore_seterr("this worker holds no job");
        return CS_EINVAL;
    }
    i64s(bj, w.job);
    i64s(bn, a->now);
    st = Q(c, "SELECT stage, state, holder FROM jobs WHERE id = $1", &r, NULL, bj);
    if (st)
        return st;
    int stage = (int)cell_i64(&r, 0, 0), state = (int)cell_i64(&r, 0, 1);
    const char *holder = cs__tres_get(&r, 0, 2);
    bool held = r.nrows && state == 1 && holder && !strcmp(holder, a->token);
    cs__tres_free(&r);
    if (!held) {
        cs__tstore_seterr("job %s is not held by this worker", bj);
        return CS_EINVAL;
    }
    if (a->output && stage < CS__TSTAGES) {
        st = Q(c,
               "UPDATE jobs SET stage = stage + 1, state = 0, holder = NULL, leased_at = NULL,"
               " i2 = CASE WHEN stage = 1 THEN $2 ELSE i2 END,"
               " i3 = CASE WHEN stage = 2 THEN $2 ELSE i3 END,"
               " i4 = CASE WHEN stage = 3 THEN $2 ELSE i4 END,"
               " i5 = CASE WHEN stage = 4 THEN $2 ELSE i5 END WHERE id = $1",
               NULL, NULL, bj, a->output);
    } else {
        st = Q(c,
               "UPDATE jobs SET state = 2, holder = NULL, done_at = $2, pairs = $3 WHERE id = $1",
               NULL, NULL, bj, bn, i64s(bc, a->count));
    }
    if (!st)
        st = Q(c,
               "INSERT INTO completions (job, stage, worker, nickname, at, count)"
               " VALUES ($1, $2, $3, $4, $5, $6)",
               NULL, NULL, bj, i64s(bs, stage), a->token, w.nickname, bn, i64s(bc, a->count));
    if (!st)
        st = Q(c,
               "UPDATE workers SET job = NULL, last_job = $2, last_seen = $3,"
               " jobs_done = jobs_done + 1 WHERE token = $1",
               NULL, NULL, a->token, bj, bn);
    if (!st)
        st = Q(c,
               "INSERT INTO leaderboard (nickname, jobs, pairs) VALUES ($1, 1, $2)"
               " ON CONFLICT (nickname) DO UPDATE SET jobs = leaderboard.jobs + 1,"
               " pairs = leaderboard.pairs + excluded.pairs",
               NULL, NULL, w.nickname, i64s(bc, a->output ? 0 : a->count));
    return st;
}

cs_status cs__tstore_job_complete(cs_tracker_store *s, const char *token, const char *type,
                                  const char *output, int64_t count, int64_t now)
{
    complete_args a = {token, type, output, count, now};
    return run_tx(s, true, complete_tx, &a);
}

/* ---- giving jobs back ------------------------------------------------------------------------ */

typedef struct release_args {
    const char *token, *type;
    cs__trelease how;
    unsigned threshold;
    int64_t now;
} release_args;

static cs_status rollback_job(cs__tdb *c, const char *bj)
{
    cs_status st = Q(c,
                     "UPDATE jobs SET stage = CASE WHEN stage > 1 THEN stage - 1 ELSE 1 END,"
                     " state = 0, holder = NULL, leased_at = NULL WHERE id = $1",
                     NULL, NULL, bj);
    /* the stage before is to be done again: its completion no longer counts */
    if (!st)
        st = Q(c,
               "DELETE FROM completions WHERE job = $1"
               " AND stage >= (SELECT stage FROM jobs WHERE id = $1)",
               NULL, NULL, bj);
    if (!st)
        st = Q(c, "DELETE FROM flags WHERE job = $1", NULL, NULL, bj);
    return st;
}

static cs_status release_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    release_args *a = arg;
    wrow w;
    char bj[24], bn[24], bs[24];
    cs__tres r;
    cs_status st = worker_lock(s, c, a->token, a->type, &w);
    if (st)
        return st;
    if (!w.job) {
        cs__tstore_seterr("this worker holds no job");
        return CS_EINVAL;
    }
    i64s(bj, w.job);
    st = Q(c, "SELECT stage, state, holder FROM jobs WHERE id = $1", &r, NULL, bj);
    if (st)
        return st;
    int stage = (int)cell_i64(&r, 0, 0), state = (int)cell_i64(&r, 0, 1);
    const char *holder = cs__tres_get(&r, 0, 2);
    bool held = r.nrows && state == 1 && holder && !strcmp(holder, a->token);
    cs__tres_free(&r);
    if (held) {
        bool back = a->how == CS__TREL_ROLLBACK;
        if (a->how == CS__TREL_FLAG) {
            st = Q(c,
                   "INSERT INTO flags (job, stage, worker) VALUES ($1, $2, $3)"
                   " ON CONFLICT DO NOTHING",
                   NULL, NULL, bj, i64s(bs, stage), a->token);
            if (!st)
                st = Q(c, "SELECT count(*) FROM flags WHERE job = $1 AND stage = $2", &r, NULL,
                       bj, bs);
            if (st)
                return st;
            back = cell_i64(&r, 0, 0) >= (int64_t)(a->threshold ? a->threshold : 1);
            cs__tres_free(&r);
        }
        st = back ? rollback_job(c, bj) : job_reopen(c, w.job, a->token);
        if (st)
            return st;
    }
    return Q(c, "UPDATE workers SET job = NULL, last_seen = $2 WHERE token = $1", NULL, NULL,
             a->token, i64s(bn, a->now));
}

cs_status cs__tstore_job_release(cs_tracker_store *s, const char *token, const char *type,
                                 cs__trelease how, unsigned threshold, int64_t now)
{
    release_args a = {token, type, how, threshold, now};
    return run_tx(s, true, release_tx, &a);
}

static cs_status bye_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    const char *token = arg;
    wrow w;
    cs_status st = worker_lock(s, c, token, NULL, &w);
    if (st)
        return st;
    if (w.job && (st = job_reopen(c, w.job, token)))
        return st;
    return Q(c, "DELETE FROM workers WHERE token = $1", NULL, NULL, token);
}

cs_status cs__tstore_worker_bye(cs_tracker_store *s, const char *token)
{
    return run_tx(s, true, bye_tx, (void *)token);
}

/* ---- sweeping ------------------------------------------------------------------------------------ */

typedef struct sweep_args {
    int64_t cutoff, removed;
} sweep_args;

static cs_status sweep_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    sweep_args *a = arg;
    char b[24];
    i64s(b, a->cutoff);
    if (D(s) == CS__TDB_PG) {
        /* one statement: a worker seen again meanwhile keeps its job */
        cs__tres r;
        cs_status st = Q(c,
                         "WITH gone AS (DELETE FROM workers WHERE last_seen < $1 RETURNING token),"
                         " back AS (UPDATE jobs SET state = 0, holder = NULL, leased_at = NULL"
                         " WHERE state = 1 AND holder IN (SELECT token FROM gone) RETURNING id)"
                         " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM back)",
                         &r, NULL, b);
        if (st)
            return st;
        a->removed = cell_i64(&r, 0, 0);
        cs__tres_free(&r);
        return CS_OK;
    }
    cs_status st = Q(c,
                     "UPDATE jobs SET state = 0, holder = NULL, leased_at = NULL"
                     " WHERE holder IN (SELECT token FROM workers WHERE last_seen < $1)"
                     " AND state = 1",
                     NULL, NULL, b);
    if (!st)
        st = Q(c, "DELETE FROM workers WHERE last_seen < $1", NULL, &a->removed, b);
    return st;
}

cs_status cs__tstore_sweep(cs_tracker_store *s, int64_t cutoff, int64_t *removed)
{
    sweep_args a = {cutoff, 0};
    cs_status st = run_tx(s, true, sweep_tx, &a);
    if (removed)
        *removed = st ? 0 : a.removed;
    return st;
}

static cs_status refresh_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    char b[24];
    (void)s;
    return Q(c, "UPDATE workers SET last_seen = $1 WHERE last_seen < $1", NULL, NULL,
             i64s(b, *(int64_t *)arg));
}

cs_status cs__tstore_refresh_all(cs_tracker_store *s, int64_t now)
{
    return run_tx(s, true, refresh_tx, &now);
}

/* ---- reading ------------------------------------------------------------------------------------- */

typedef struct query_args {
    const char *sql;
    const char *const *params;
    int nparams;
    cs__tres *res;
} query_args;

static cs_status query_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    query_args *a = arg;
    (void)s;
    return run(c, a->sql, true, a->res, NULL, a->nparams, a->params);
}

cs_status cs__tstore_query(cs_tracker_store *s, const char *sql, const char *const *params,
                           int nparams, cs__tres *res)
{
    memset(res, 0, sizeof *res);
    query_args a = {sql, params, nparams, res};
    return run_tx(s, false, query_tx, &a);
}

cs_status cs__tstore_count_open(cs_tracker_store *s, int stage, int64_t *n)
{
    char b[24];
    const char *p[1] = {i64s(b, stage)};
    cs__tres r;
    *n = 0;
    cs_status st =
        cs__tstore_query(s, "SELECT count(*) FROM jobs WHERE stage = $1 AND state = 0", p, 1, &r);
    if (st)
        return st;
    *n = cell_i64(&r, 0, 0);
    cs__tres_free(&r);
    return CS_OK;
}

/* ---- adding jobs ------------------------------------------------------------------------------------ */

#define ADD_BATCH 256 /* inputs per INSERT (2 rows each, 6 parameters a row) */

typedef struct add_args {
    const char *const *inputs;
    size_t n;
    int64_t step;
    size_t added;
} add_args;

static cs_status add_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    add_args *a = arg;
    cs__tres r;
    cs_status st = CS_OK;
    a->added = 0;
    if (D(s) == CS__TDB_PG &&
        (st = Q0(c, "LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE", NULL, NULL)))
        return st;
    st = Q0(c, "SELECT COALESCE(max(id), 0), COALESCE(max(end_id), 0) FROM jobs", &r, NULL);
    if (st)
        return st;
    int64_t id = cell_i64(&r, 0, 0), next = cell_i64(&r, 0, 1);
    cs__tres_free(&r);

    cs_buf sql;
    cs_buf_init(&sql, 0);
    const char **params = cs_malloc(ADD_BATCH * 2 * 6 * sizeof *params);
    char(*nums)[24] = cs_malloc(ADD_BATCH * 2 * 5 * sizeof *nums);
    if (!params || !nums) {
        st = CS_ENOMEM;
        goto out;
    }
    size_t i = 0;
    while (i < a->n && !st) {
        cs_buf_reset(&sql);
        cs_buf_puts(&sql, "INSERT INTO jobs (id, start_id, end_id, shard, rnd, i1) VALUES ");
        int np = 0, nn = 0;
        size_t rows = 0;
        for (; i < a->n && rows < ADD_BATCH * 2; i++) {
            if (!a->inputs[i] || !a->inputs[i][0])
                continue;
            for (int piece = 0; piece < 2; piece++) {
                cs_buf_printf(&sql, "%s($%d, $%d, $%d, $%d, $%d, $%d)", rows ? ", " : "", np + 1,
                              np + 2, np + 3, np + 4, np + 5, np + 6);
                params[np++] = i64s(nums[nn++], ++id);
                params[np++] = i64s(nums[nn++], next);
                params[np++] = i64s(nums[nn++], next + a->step);
                params[np++] = i64s(nums[nn++], piece);
                params[np++] = i64s(nums[nn++], rnd62());
                params[np++] = a->inputs[i];
                next += a->step;
                rows++;
            }
        }
        if (!rows)
            break;
        if (!sql.data) {
            st = CS_ENOMEM;
            break;
        }
        st = run(c, sql.data, false, NULL, NULL, np, params);
        if (!st)
            a->added += rows;
    }
out:
    cs_free(params);
    cs_free(nums);
    cs_buf_cleanup(&sql);
    return st;
}

cs_status cs_tracker_add_jobs(cs_tracker_store *s, const char *const *inputs, size_t n,
                              uint64_t id_step, size_t *added)
{
    if (added)
        *added = 0;
    if (id_step == 0)
        id_step = 1000000;
    if (id_step > (uint64_t)INT64_MAX / 4) {
        cs__tstore_seterr("id step %llu is too large", (unsigned long long)id_step);
        return CS_EINVAL;
    }
    add_args a = {inputs, n, (int64_t)id_step, 0};
    cs_status st = run_tx(s, true, add_tx, &a);
    if (!st && added)
        *added = a.added;
    return st;
}

#define LINE_MAX_BYTES (64 * 1024)
#define LIST_MAX_BYTES ((size_t)4 << 30)
#define FILE_BATCH 65536

cs_status cs_tracker_add_jobs_file(cs_tracker_store *s, const char *path, uint64_t id_step,
                                   size_t *added)
{
    cs_status st = CS_OK;
    size_t total = 0;
    cs_buf raw, text;
    cs_buf_init(&raw, LIST_MAX_BYTES);
    cs_buf_init(&text, LIST_MAX_BYTES);
    const char **lines = NULL;
    if (added)
        *added = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cs__tstore_seterr("%s: %s", path, strerror(errno));
        return CS_EIO;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((st = cs_buf_append(&raw, chunk, n))) {
            cs__tstore_seterr("%s: list larger than 4 GiB", path);
            break;
        }
    if (!st && ferror(f)) {
        cs__tstore_seterr("%s: read error: %s", path, strerror(errno));
        st = CS_EIO;
    }
    fclose(f);
    if (st)
        goto out;
    const cs_buf *body = &raw;
    if (cs_gzip_magic((const uint8_t *)raw.data, raw.len)) {
        st = cs_inflate_buffer(CS_INFLATE_GZIP, raw.data, raw.len, LIST_MAX_BYTES, &text);
        if (st) {
            cs__tstore_seterr("%s: %s", path, cs_strerror(st));
            goto out;
        }
        body = &text;
    }
    lines = cs_malloc(FILE_BATCH * sizeof *lines);
    if (!lines) {
        st = CS_ENOMEM;
        goto out;
    }
    size_t nl = 0, lineno = 0;
    char *p = body->data, *end = body->data + body->len;
    while (p && p < end) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        lineno++;
        char *q = e;
        *q = 0; /* the buffer is ours; NUL-terminate the line in place */
        while (q > p && (q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t'))
            *--q = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if ((size_t)(q - p) > LINE_MAX_BYTES) {
            cs__tstore_seterr("%s:%zu: line longer than 64 KiB", path, lineno);
            st = CS_ETOOBIG;
            goto out;
        }
        if (memchr(p, 0, (size_t)(q - p))) {
            cs__tstore_seterr("%s:%zu: NUL byte in line", path, lineno);
            st = CS_EFORMAT;
            goto out;
        }
        if (*p && *p != '#')
            lines[nl++] = p;
        if (nl == FILE_BATCH) {
            size_t got;
            if ((st = cs_tracker_add_jobs(s, lines, nl, id_step, &got)))
                goto out;
            total += got;
            nl = 0;
        }
        p = e + 1;
    }
    if (nl) {
        size_t got;
        if ((st = cs_tracker_add_jobs(s, lines, nl, id_step, &got)))
            goto out;
        total += got;
    }
out:
    if (added)
        *added = total;
    cs_free(lines);
    cs_buf_cleanup(&raw);
    cs_buf_cleanup(&text);
    return st;
}

/* ---- status --------------------------------------------------------------------------------------- */

cs_status cs_tracker_store_status_json(cs_tracker_store *s, cs_buf *out)
{
    cs__tres jobs = {0}, workers = {0}, lb = {0};
    cs_status st = cs__tstore_query(
        s, "SELECT stage, state, count(*) FROM jobs GROUP BY stage, state ORDER BY stage, state",
        NULL, 0, &jobs);
    if (!st)
        st = cs__tstore_query(s,
                              "SELECT display_name, nickname, type, progress, last_seen, job,"
                              " jobs_done FROM workers ORDER BY last_seen DESC LIMIT 1000",
                              NULL, 0, &workers);
    if (!st)
        st = cs__tstore_query(s,
                              "SELECT nickname, jobs, pairs FROM leaderboard"
                              " ORDER BY pairs DESC, jobs DESC, nickname LIMIT 100",
                              NULL, 0, &lb);
    if (st)
        goto out;
    int64_t now = cs__tnow_ms();
    int64_t per[CS__TSTAGES + 1][3] = {{0}};
    for (size_t i = 0; i < jobs.nrows; i++) {
        int64_t stage = cell_i64(&jobs, i, 0), state = cell_i64(&jobs, i, 1);
        if (stage >= 1 && stage <= CS__TSTAGES && state >= 0 && state <= 2)
            per[stage][state] = cell_i64(&jobs, i, 2);
    }
    int64_t tot[3] = {0};
    cs_buf_puts(out, "{\"jobs\":[");
    for (int stg = 1; stg <= CS__TSTAGES; stg++) {
        cs_buf_printf(out, "%s{\"stage\":%d,\"open\":%lld,\"leased\":%lld,\"done\":%lld}",
                      stg > 1 ? "," : "", stg, (long long)per[stg][0], (long long)per[stg][1],
                      (long long)per[stg][2]);
        for (int k = 0; k < 3; k++)
            tot[k] += per[stg][k];
    }
    cs_buf_printf(out,
                  "],\"totals\":{\"open\":%lld,\"leased\":%lld,\"done\":%lld,\"workers\":%zu},"
                  "\"workers\":[",
                  (long long)tot[0], (long long)tot[1], (long long)tot[2], workers.nrows);
    for (size_t i = 0; i < workers.nrows; i++) {
        cs_buf_puts(out, i ? ",{" : "{");
        static const char *const names[] = {"display_name", "nickname", "type", "progress"};
        for (size_t k = 0; k < 4; k++) {
            const char *v = cs__tres_get(&workers, i, k);
            cs_buf_printf(out, "\"%s\":", names[k]);
            cs_json_put_str(out, v ? v : "", v ? strlen(v) : 0);
            cs_buf_putc(out, ',');
        }
        int64_t seen = cell_i64(&workers, i, 4);
        cs_buf_printf(out, "\"last_seen_ms\":%lld,\"seen_ago_s\":%.1f,\"job\":%lld,"
                           "\"jobs_done\":%lld}",
                      (long long)seen, (double)(now - seen) / 1000.0,
                      (long long)cell_i64(&workers, i, 5), (long long)cell_i64(&workers, i, 6));
    }
    cs_buf_puts(out, "],\"leaderboard\":[");
    for (size_t i = 0; i < lb.nrows; i++) {
        const char *v = cs__tres_get(&lb, i, 0);
        cs_buf_puts(out, i ? ",{\"nickname\":" : "{\"nickname\":");
        cs_json_put_str(out, v ? v : "", v ? strlen(v) : 0);
        cs_buf_printf(out, ",\"jobs\":%lld,\"pairs\":%lld}", (long long)cell_i64(&lb, i, 1),
                      (long long)cell_i64(&lb, i, 2));
    }
    if (cs_buf_puts(out, "]}"))
        st = CS_ENOMEM;
out:
    cs__tres_free(&jobs);
    cs__tres_free(&workers);
    cs__tres_free(&lb);
    return st;
}
