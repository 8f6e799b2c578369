/* store.c - the tracker store: schema, connection pools and every job /
 * worker / leaderboard operation as one SQL transaction, identical for
 * SQLite and PostgreSQL except where a dialect needs its own statement
 * (row locks with FOR UPDATE SKIP LOCKED, DML in a CTE, column types). */
#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdatomic.h>
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

/* An operation that is one statement (PostgreSQL functions): its SQL and
 * parameters, and what makes its status of the statement's rows. */
typedef struct gpipe {
    const char *sql;
    const char *params[6];
    int nparams;
    cs_status (*finish)(void *arg, cs__tres *r);
} gpipe;

/* A write operation waiting for the group commit. */
typedef struct gop {
    cs_status (*fn)(struct cs_tracker_store *s, cs__tdb *c, void *arg);
    void *arg;
    const gpipe *pipe;        /* NULL: fn only */
    cs_status st;             /* its result, once done */
    bool done;
    bool lead;                /* handed the leadership by the last leader */
    pthread_cond_t cv;        /* its thread waits here */
    char err[CS_ERRMSG_MAX];  /* its error message */
    struct gop *next;
} gop;

/* A worker's row as newJob / markAsDone read it. */
typedef struct wrow {
    int64_t job, last_job;
    int job_stage; /* the held job's stage, once a lease here set it (0: unknown) */
    char nickname[256];
    char type[16];
} wrow;

#define WC_SLOTS 4096 /* the SQLite writer's worker cache (see wc_get) */
typedef struct wslot {
    uint64_t gen;
    char token[33];
    wrow w;
} wslot;


struct cs_tracker_store {
    cs__tdialect dialect;
    char *url;
    pthread_mutex_t mu;
    pool wr; /* SQLite: the single writer; PostgreSQL: every connection */
    pool rd; /* SQLite: readers (WAL lets them run beside the writer) */
    /* group commit: writes queue here; one thread at a time (the leader)
     * runs everything queued in one transaction */
    pthread_mutex_t gmu;
    gop *qhead, *qtail;
    cs__tckpt *ckpt; /* SQLite: the background checkpointer */
    int leaders;     /* batches running */
    int max_leaders; /* SQLite 1 (one writer); PostgreSQL several connections */
    /* SQLite: the writer's cache of worker rows (see wc_*), used only by
     * the thread that holds the writer connection */
    struct wslot *wc; /* WC_SLOTS entries; NULL: no cache */
    uint64_t wc_gen;     /* entries of another generation are empty */
    int64_t wc_version;  /* PRAGMA data_version when the cache was last valid */
    _Atomic int64_t lease_after[CS__TSTAGES + 1]; /* PostgreSQL: see lease_args_init */
    _Atomic uint64_t set_batches;  /* batches committed as set statements (run_set) */
    _Atomic uint64_t split_batches; /* batches run again one call at a time */
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
        if (p == &s->wr)
            s->wc_gen++; /* a new writer connection: data_version restarts */
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

/* v in decimal (every call formats a few: snprintf was 2% of a cycle) */
static const char *i64s(char buf[24], int64_t v)
{
    char t[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        t[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    size_t k = 0;
    if (v < 0)
        buf[k++] = '-';
    while (n)
        buf[k++] = t[--n];
    buf[k] = 0;
    return buf;
}

static int64_t cell_i64(const cs__tres *r, size_t row, size_t col)
{
    const char *v = cs__tres_get(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* Dialect pairs: [0] SQLite, [1] PostgreSQL.
 * completions holds one row per completed (job, stage): the leaderboard is
 * derived from it (jobs = rows, pairs = sum of counts per nickname), so a
 * completion writes no shared counter row that concurrent batches would
 * fight over, and a rolled-back stage stops counting. */
#define D(s) (s)->dialect

static const char *const SCHEMA[2] = {
    "CREATE TABLE IF NOT EXISTS jobs ("
    " id INTEGER PRIMARY KEY, start_id INTEGER NOT NULL, end_id INTEGER NOT NULL,"
    " shard INTEGER NOT NULL, stage INTEGER NOT NULL DEFAULT 1, state INTEGER NOT NULL DEFAULT 0,"
    " holder TEXT, leased_at INTEGER, pairs INTEGER NOT NULL DEFAULT 0,"
    " done_at INTEGER, i1 TEXT NOT NULL, i2 TEXT, i3 TEXT, i4 TEXT, i5 TEXT);"
    /* open jobs only (leases and jobCount search it): a lease deletes one
     * entry and a completion touches no index, where an index on
     * (stage, state, id) moved every job twice per cycle (11% of the
     * store's time per newJob+markAsDone). The dashboard's per-state
     * counts scan the table instead (0.4 s per million jobs, side thread). */
    "DROP INDEX IF EXISTS jobs_pick;"
    "CREATE INDEX IF NOT EXISTS jobs_open ON jobs(stage, id) WHERE state = 0;"
    /* no index on jobs(holder) nor workers(last_seen): every call would
     * rewrite one; the sweep (every few seconds) finds held jobs through
     * workers.job and scans the workers table, which is small */
    "DROP INDEX IF EXISTS jobs_holder;"
    "CREATE TABLE IF NOT EXISTS workers ("
    " token TEXT PRIMARY KEY, nickname TEXT NOT NULL, type TEXT NOT NULL,"
    " display_name TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " progress TEXT NOT NULL DEFAULT '', job INTEGER, last_job INTEGER,"
    " jobs_done INTEGER NOT NULL DEFAULT 0);"
    "DROP INDEX IF EXISTS workers_seen;"
    "CREATE TABLE IF NOT EXISTS flags ("
    " job INTEGER NOT NULL, stage INTEGER NOT NULL, worker TEXT NOT NULL,"
    " PRIMARY KEY (job, stage, worker));"
    "CREATE TABLE IF NOT EXISTS completions ("
    " job INTEGER NOT NULL, stage INTEGER NOT NULL, worker TEXT NOT NULL, nickname TEXT NOT NULL,"
    " at INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (job, stage)) WITHOUT ROWID;"
    /* the last job number and id range end handed out by add-jobs (see
     * add_tx): max(end_id) has no index, and reading it scanned every job
     * once per 65,536 inputs added */
    "CREATE TABLE IF NOT EXISTS job_seq (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " last_id INTEGER NOT NULL, last_end INTEGER NOT NULL);",

    "CREATE TABLE IF NOT EXISTS jobs ("
    " id BIGINT PRIMARY KEY, start_id BIGINT NOT NULL, end_id BIGINT NOT NULL,"
    " shard INT NOT NULL, stage INT NOT NULL DEFAULT 1, state INT NOT NULL DEFAULT 0,"
    " holder TEXT, leased_at BIGINT, pairs BIGINT NOT NULL DEFAULT 0,"
    " done_at BIGINT, i1 TEXT NOT NULL, i2 TEXT, i3 TEXT, i4 TEXT, i5 TEXT);"
    /* as in SQLite; here a leased or done row version also gets no entry
     * in it (a state change is never a HOT update: one index entry per
     * row version, the primary key's, instead of two) */
    "DROP INDEX IF EXISTS jobs_pick;"
    "CREATE INDEX IF NOT EXISTS jobs_open ON jobs(stage, id) WHERE state = 0;"
    /* as in SQLite: no index on jobs(holder) nor workers(last_seen), so
     * that the workers' rows are updated in place (HOT: no indexed column
     * changes) and a job's state changes touch two indexes, not three */
    "DROP INDEX IF EXISTS jobs_holder;"
    "CREATE TABLE IF NOT EXISTS workers ("
    " token TEXT PRIMARY KEY, nickname TEXT NOT NULL, type TEXT NOT NULL,"
    " display_name TEXT NOT NULL, created BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
    " progress TEXT NOT NULL DEFAULT '', job BIGINT, last_job BIGINT,"
    " jobs_done BIGINT NOT NULL DEFAULT 0);"
    "DROP INDEX IF EXISTS workers_seen;"
    "CREATE TABLE IF NOT EXISTS flags ("
    " job BIGINT NOT NULL, stage INT NOT NULL, worker TEXT NOT NULL,"
    " PRIMARY KEY (job, stage, worker));"
    "CREATE TABLE IF NOT EXISTS completions ("
    " job BIGINT NOT NULL, stage INT NOT NULL, worker TEXT NOT NULL, nickname TEXT NOT NULL,"
    " at BIGINT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (job, stage));"
    "CREATE TABLE IF NOT EXISTS job_seq (one INT PRIMARY KEY CHECK (one = 1),"
    " last_id BIGINT NOT NULL, last_end BIGINT NOT NULL);",
};

static const char *const BEGIN_TX[2] = {"BEGIN IMMEDIATE", "BEGIN"};

/* PostgreSQL: the two hot calls (newJob, markAsDone) as server-side
 * functions, so that each is one round trip instead of four or five. They
 * do exactly what lease_tx and complete_tx do with separate statements
 * (same statements, same row-lock order: worker, then job) and answer with
 * rc: 0 done, 1 unknown token, 2 wrong type (w_type: the worker's), 3 no
 * open job (lease: the worker's job is cleared) or no job held (complete),
 * 4 the held job is not this worker's any more. Refusals 1, 2, 4 and
 * complete's 3 write nothing. enable_seqscan is off inside them: every
 * statement there finds its rows by a key, but the planner, going by the
 * statistics of a workers table analysed before any worker registered,
 * scanned it whole, with every dead version of its rows (updated on every
 * call) checked for visibility: 15% of the database's CPU per cycle. */
static const char *const PG_FUNCS[] = {
    "CREATE OR REPLACE FUNCTION cs_lease(p_token text, p_type text, p_stage int,"
    " p_now bigint, p_after bigint, OUT rc int, OUT j_id bigint, OUT j_start bigint, OUT j_end bigint,"
    " OUT j_shard int, OUT j_stage int, OUT j_input text, OUT w_type text)"
    " LANGUAGE plpgsql SET enable_seqscan = off AS $f$\n"
    "#variable_conflict use_column\n"
    "DECLARE w_job bigint;\n"
    "BEGIN\n"
    " SELECT job, type INTO w_job, w_type FROM workers WHERE token = p_token FOR UPDATE;\n"
    " IF NOT FOUND THEN rc := 1; RETURN; END IF;\n"
    " IF p_type IS NOT NULL AND p_type <> w_type THEN rc := 2; RETURN; END IF;\n"
    " IF w_job IS NOT NULL AND w_job <> 0 THEN\n"
    "  UPDATE jobs SET state = 0, holder = NULL, leased_at = NULL"
    " WHERE id = w_job AND holder = p_token AND state = 1;\n"
    " END IF;\n"
    " UPDATE jobs SET state = 1, holder = p_token, leased_at = p_now WHERE id ="
    " (SELECT id FROM jobs WHERE stage = p_stage AND state = 0 AND id > p_after"
    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, start_id, end_id, shard,"
    " stage, CASE stage WHEN 1 THEN i1 WHEN 2 THEN i2 WHEN 3 THEN i3 WHEN 4 THEN i4 ELSE i5 END"
    " INTO j_id, j_start, j_end, j_shard, j_stage, j_input;\n"
    " IF NOT FOUND AND p_after > 0 THEN\n"
    "  UPDATE jobs SET state = 1, holder = p_token, leased_at = p_now WHERE id ="
    " (SELECT id FROM jobs WHERE stage = p_stage AND state = 0"
    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, start_id, end_id, shard,"
    " stage, CASE stage WHEN 1 THEN i1 WHEN 2 THEN i2 WHEN 3 THEN i3 WHEN 4 THEN i4 ELSE i5 END"
    " INTO j_id, j_start, j_end, j_shard, j_stage, j_input;\n"
    " END IF;\n"
    " IF NOT FOUND THEN\n"
    "  UPDATE workers SET job = NULL, last_seen = p_now WHERE token = p_token;\n"
    "  rc := 3; RETURN;\n"
    " END IF;\n"
    " UPDATE workers SET job = j_id, last_seen = p_now WHERE token = p_token;\n"
    " rc := 0;\n"
    "END $f$",

    "CREATE OR REPLACE FUNCTION cs_complete(p_token text, p_type text, p_output text,"
    " p_count bigint, p_now bigint, OUT rc int, OUT w_type text, OUT w_job bigint)"
    " LANGUAGE plpgsql SET enable_seqscan = off AS $f$\n"
    "#variable_conflict use_column\n"
    "DECLARE w_last bigint; w_nick text; j_stage int;\n"
    "BEGIN\n"
    " SELECT job, last_job, nickname, type INTO w_job, w_last, w_nick, w_type"
    " FROM workers WHERE token = p_token FOR UPDATE;\n"
    " IF NOT FOUND THEN rc := 1; RETURN; END IF;\n"
    " IF p_type IS NOT NULL AND p_type <> w_type THEN rc := 2; RETURN; END IF;\n"
    " IF w_job IS NULL OR w_job = 0 THEN\n"
    "  IF w_last IS NOT NULL AND w_last <> 0 THEN\n"
    "   UPDATE workers SET last_seen = p_now WHERE token = p_token;\n"
    "   rc := 0; RETURN;\n"
    "  END IF;\n"
    "  rc := 3; RETURN;\n"
    " END IF;\n"
    " IF p_output IS NOT NULL THEN\n"
    "  UPDATE jobs SET stage = stage + 1, state = 0, holder = NULL, leased_at = NULL,"
    " i2 = CASE WHEN stage = 1 THEN p_output ELSE i2 END,"
    " i3 = CASE WHEN stage = 2 THEN p_output ELSE i3 END,"
    " i4 = CASE WHEN stage = 3 THEN p_output ELSE i4 END,"
    " i5 = CASE WHEN stage = 4 THEN p_output ELSE i5 END"
    " WHERE id = w_job AND holder = p_token AND state = 1 AND stage < 5"
    " RETURNING stage - 1 INTO j_stage;\n"
    " END IF;\n"
    " IF j_stage IS NULL THEN\n"
    "  UPDATE jobs SET state = 2, holder = NULL, done_at = p_now, pairs = p_count"
    " WHERE id = w_job AND holder = p_token AND state = 1 RETURNING stage INTO j_stage;\n"
    " END IF;\n"
    " IF j_stage IS NULL THEN rc := 4; RETURN; END IF;\n"
    " INSERT INTO completions (job, stage, worker, nickname, at, count)"
    " VALUES (w_job, j_stage, p_token, w_nick, p_now,"
    " CASE WHEN p_output IS NULL THEN p_count ELSE 0 END);\n"
    " UPDATE workers SET job = NULL, last_job = w_job, last_seen = p_now,"
    " jobs_done = jobs_done + 1 WHERE token = p_token;\n"
    " rc := 0;\n"
    "END $f$",

    /* A batch's completions as one statement: cs_complete for each
     * (p_tok[i], p_type[i], p_out[i], p_cnt[i]), the tokens all different,
     * answering one row per call in call order (ord: 1-based position)
     * with cs_complete's rc, w_type, w_job. Each statement a function runs
     * costs its executor start-up and the function's interpretation once
     * per call; here once per batch. Database CPU per newJob+markAsDone
     * cycle under the tracker bench (64 workers, 1M jobs): 121 us with the
     * per-call functions pipelined, 58 us with these. The workers are
     * locked in token order, then their jobs, as one call would. */
    "CREATE OR REPLACE FUNCTION cs_complete_many(p_tok text[], p_type text[], p_out text[],"
    " p_cnt bigint[], p_now bigint)"
    " RETURNS TABLE (ord bigint, rc int, w_type text, w_job bigint)"
    " LANGUAGE plpgsql SET enable_seqscan = off AS $f$\n"
    "BEGIN\n"
    " RETURN QUERY\n"
    " WITH c AS (SELECT * FROM unnest(p_tok, p_type, p_out, p_cnt) WITH ORDINALITY"
    " AS u(tok, typ, outp, cnt, ord)),\n"
    " w AS (SELECT x.token, x.type, x.job, x.last_job, x.nickname FROM workers x"
    " WHERE x.token = ANY (p_tok) ORDER BY x.token FOR UPDATE),\n"
    " ok AS (SELECT c.tok, c.outp, c.cnt, w.job, w.nickname FROM c JOIN w ON w.token = c.tok"
    " WHERE (c.typ IS NULL OR c.typ = w.type) AND w.job IS NOT NULL AND w.job <> 0),\n"
    " adv AS (UPDATE jobs j SET stage = j.stage + 1, state = 0, holder = NULL, leased_at = NULL,"
    " i2 = CASE WHEN j.stage = 1 THEN ok.outp ELSE j.i2 END,"
    " i3 = CASE WHEN j.stage = 2 THEN ok.outp ELSE j.i3 END,"
    " i4 = CASE WHEN j.stage = 3 THEN ok.outp ELSE j.i4 END,"
    " i5 = CASE WHEN j.stage = 4 THEN ok.outp ELSE j.i5 END"
    " FROM ok WHERE j.id = ok.job AND j.holder = ok.tok AND j.state = 1 AND j.stage < 5"
    " AND ok.outp IS NOT NULL"
    " RETURNING j.id, j.stage - 1 AS st, ok.tok, ok.nickname, 0::bigint AS cnt),\n"
    " fin AS (UPDATE jobs j SET state = 2, holder = NULL, done_at = p_now, pairs = ok.cnt"
    " FROM ok WHERE j.id = ok.job AND j.holder = ok.tok AND j.state = 1"
    " AND (ok.outp IS NULL OR j.stage >= 5)"
    " RETURNING j.id, j.stage AS st, ok.tok, ok.nickname,"
    " CASE WHEN ok.outp IS NULL THEN ok.cnt ELSE 0 END AS cnt),\n"
    " m AS (SELECT * FROM adv UNION ALL SELECT * FROM fin),\n"
    " ins AS (INSERT INTO completions (job, stage, worker, nickname, at, count)"
    " SELECT m.id, m.st, m.tok, m.nickname, p_now, m.cnt FROM m),\n"
    " uw AS (UPDATE workers x SET job = NULL, last_job = m.id, last_seen = p_now,"
    " jobs_done = x.jobs_done + 1 FROM m WHERE x.token = m.tok),\n"
    /* a repeated completion (the job already counted): seen, nothing more */
    " rep AS (UPDATE workers x SET last_seen = p_now FROM c JOIN w ON w.token = c.tok"
    " WHERE x.token = c.tok AND (c.typ IS NULL OR c.typ = w.type)"
    " AND (w.job IS NULL OR w.job = 0) AND w.last_job IS NOT NULL AND w.last_job <> 0)\n"
    " SELECT c.ord, CASE WHEN w.token IS NULL THEN 1"
    " WHEN c.typ IS NOT NULL AND c.typ <> w.type THEN 2"
    " WHEN w.job IS NULL OR w.job = 0 THEN"
    " CASE WHEN w.last_job IS NOT NULL AND w.last_job <> 0 THEN 0 ELSE 3 END"
    " WHEN m.id IS NULL THEN 4 ELSE 0 END, w.type, w.job"
    " FROM c LEFT JOIN w ON w.token = c.tok LEFT JOIN m ON m.tok = c.tok ORDER BY c.ord;\n"
    "END $f$",

    /* A batch's leases at one stage as one statement: cs_lease for each
     * (p_tok[i], p_type[i]), the tokens all different, answering one row
     * per call in call order with cs_lease's columns. The open jobs are
     * taken from just after p_after on, then from the start when too few
     * are left there; the i-th lease in call order gets the i-th job
     * taken, so the last call's job is where the next batch starts. */
    "CREATE OR REPLACE FUNCTION cs_lease_many(p_tok text[], p_type text[], p_stage int,"
    " p_now bigint, p_after bigint)"
    " RETURNS TABLE (ord bigint, rc int, j_id bigint, j_start bigint, j_end bigint,"
    " j_shard int, j_stage int, j_input text, w_type text)"
    " LANGUAGE plpgsql SET enable_seqscan = off AS $f$\n"
    "BEGIN\n"
    " RETURN QUERY\n"
    " WITH c AS (SELECT * FROM unnest(p_tok, p_type) WITH ORDINALITY AS u(tok, typ, ord)),\n"
    " w AS (SELECT x.token, x.type, x.job FROM workers x"
    " WHERE x.token = ANY (p_tok) ORDER BY x.token FOR UPDATE),\n"
    " ok AS (SELECT c.tok, w.job, row_number() OVER (ORDER BY c.ord) AS rn"
    " FROM c JOIN w ON w.token = c.tok WHERE c.typ IS NULL OR c.typ = w.type),\n"
    " ro AS (UPDATE jobs j SET state = 0, holder = NULL, leased_at = NULL FROM ok"
    " WHERE j.id = ok.job AND j.holder = ok.tok AND j.state = 1),\n"
    /* p2 has LIMIT 0, and reads nothing, unless p1 found too few */
    " p1 AS (SELECT id FROM jobs WHERE stage = p_stage AND state = 0 AND id > p_after"
    " ORDER BY id LIMIT (SELECT count(*) FROM ok) FOR UPDATE SKIP LOCKED),\n"
    " p2 AS (SELECT id FROM jobs WHERE stage = p_stage AND state = 0 AND id <= p_after"
    " ORDER BY id LIMIT (SELECT count(*) FROM ok) - (SELECT count(*) FROM p1)"
    " FOR UPDATE SKIP LOCKED),\n"
    " p AS (SELECT q.id, row_number() OVER (ORDER BY q.o, q.id) AS rn FROM"
    " (SELECT id, 1 AS o FROM p1 UNION ALL SELECT id, 2 FROM p2) q),\n"
    " l AS (UPDATE jobs j SET state = 1, holder = ok.tok, leased_at = p_now"
    " FROM p JOIN ok ON ok.rn = p.rn WHERE j.id = p.id"
    " RETURNING j.id, j.start_id, j.end_id, j.shard, j.stage, CASE j.stage WHEN 1 THEN j.i1"
    " WHEN 2 THEN j.i2 WHEN 3 THEN j.i3 WHEN 4 THEN j.i4 ELSE j.i5 END AS inp, ok.tok),\n"
    " uw AS (UPDATE workers x SET job = l.id, last_seen = p_now"
    " FROM ok LEFT JOIN l ON l.tok = ok.tok WHERE x.token = ok.tok)\n"
    " SELECT c.ord, CASE WHEN w.token IS NULL THEN 1"
    " WHEN c.typ IS NOT NULL AND c.typ <> w.type THEN 2 WHEN l.id IS NULL THEN 3 ELSE 0 END,"
    " l.id, l.start_id, l.end_id, l.shard, l.stage, l.inp, w.type"
    " FROM c LEFT JOIN w ON w.token = c.tok LEFT JOIN l ON l.tok = c.tok ORDER BY c.ord;\n"
    "END $f$",
};

/* ---- transactions ------------------------------------------------------------------ */

typedef cs_status (*tx_fn)(cs_tracker_store *s, cs__tdb *c, void *arg);

static cs_status lease_tx(cs_tracker_store *s, cs__tdb *c, void *arg);
static cs_status complete_tx(cs_tracker_store *s, cs__tdb *c, void *arg);
static void wc_clear(cs_tracker_store *s);

/* After fn ran in a write transaction: the worker cache survives only
 * leases and completions (they keep it up to date). */
static void wc_after(cs_tracker_store *s, tx_fn fn)
{
    if (fn != lease_tx && fn != complete_tx)
        wc_clear(s);
}

/* At the start of a write transaction (the write lock held): a commit by
 * another connection since the last one empties the worker cache. */
static cs_status wc_check(cs_tracker_store *s, cs__tdb *c)
{
    if (D(s) != CS__TDB_SQLITE)
        return CS_OK;
    cs__tres r;
    cs_status st = Q0(c, "PRAGMA data_version", &r, NULL);
    if (st)
        return st;
    int64_t v = cell_i64(&r, 0, 0);
    cs__tres_free(&r);
    if (v != s->wc_version)
        wc_clear(s);
    s->wc_version = v;
    return CS_OK;
}

/* Runs fn in one transaction, committed when fn returns CS_OK or CS_DONE,
 * rolled back otherwise, retried a few times on deadlocks and the like. */
static cs_status run_tx_single(cs_tracker_store *s, bool write, tx_fn fn, void *arg)
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
        if (write && (st = wc_check(s, c)) != CS_OK) {
            retry = c->ops->retryable(c);
            if (Q0(c, "ROLLBACK", NULL, NULL) != CS_OK)
                broken = true;
            release(s, write, c, broken);
            if (retry)
                continue;
            return st;
        }
        st = fn(s, c, arg);
        if (write)
            wc_after(s, fn);
        if (st == CS_OK || st == CS_DONE) {
            cs_status cst = Q0(c, "COMMIT", NULL, NULL);
            if (cst) {
                retry = c->ops->retryable(c);
                (void)Q0(c, "ROLLBACK", NULL, NULL);
                wc_clear(s);
                st = cst;
            }
        } else {
            if (write)
                wc_clear(s);
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

/* Statuses by which an operation refuses without having written anything:
 * the batch goes on with the next operation. */
static bool clean_refusal(cs_status st)
{
    return st == CS_OK || st == CS_DONE || st == CS_ENOTFOUND || st == CS_EINVAL;
}

#define BATCH_MAX 256

_Static_assert(BATCH_MAX + 2 <= CS__TPIPE_MAX, "a batch fits a pipeline");

/* The batch as one pipeline (BEGIN and each operation's statement, one
 * round trip), then COMMIT once every answer arrived. CS_OK: committed,
 * each op's st set. COMMIT is never sent in the pipeline: a tracker killed
 * after sending it would leave the server to run the batch and commit it
 * late, after a new tracker already answered the same workers' retries (a
 * retried newJob re-leased; the late batch then moved that worker to yet
 * another job, and its markAsDone completed a job it was never told of).
 * Without COMMIT, a dead tracker's batch ends in a rollback when the server
 * reads the end of the connection, and its row locks keep newer calls of
 * the same workers waiting until then. */
static cs_status run_pipe(cs__tdb *c, gop **ops, size_t n)
{
    const char *sql[CS__TPIPE_MAX];
    const char *const *params[CS__TPIPE_MAX];
    int np[CS__TPIPE_MAX];
    cs__tres res[CS__TPIPE_MAX];
    sql[0] = BEGIN_TX[CS__TDB_PG];
    params[0] = NULL;
    np[0] = 0;
    for (size_t i = 0; i < n; i++) {
        sql[i + 1] = ops[i]->pipe->sql;
        params[i + 1] = ops[i]->pipe->params;
        np[i + 1] = ops[i]->pipe->nparams;
    }
    cs_status st = c->ops->pipeline(c, n + 1, sql, params, np, res);
    if (!st) {
        cs__tres_free(&res[0]);
        st = Q0(c, "COMMIT", NULL, NULL);
        if (st)
            for (size_t i = 0; i < n; i++)
                cs__tres_free(&res[i + 1]);
    } else if (st == CS_EIO) {
        cs__tstore_seterr("%s", c->err);
    }
    if (st)
        return st;
    /* committed: what each operation answers */
    for (size_t i = 0; i < n; i++) {
        t_err[0] = 0;
        ops[i]->st = ops[i]->pipe->finish(ops[i]->arg, &res[i + 1]);
        snprintf(ops[i]->err, sizeof ops[i]->err, "%s", t_err);
        cs__tres_free(&res[i + 1]);
    }
    return CS_OK;
}

/* Runs ops[0..n) between BEGIN and COMMIT on c, one statement at a time;
 * each op's st is set as it goes. */
static cs_status run_plain(cs_tracker_store *s, cs__tdb *c, gop **ops, size_t n)
{
    cs_status st = Q0(c, BEGIN_TX[D(s)], NULL, NULL);
    if (!st)
        st = wc_check(s, c);
    for (size_t i = 0; i < n && !st; i++) {
        t_err[0] = 0;
        cs_status ost = ops[i]->fn(s, c, ops[i]->arg);
        wc_after(s, ops[i]->fn);
        if (!clean_refusal(ost))
            return ost;
        ops[i]->st = ost;
        snprintf(ops[i]->err, sizeof ops[i]->err, "%s", t_err);
    }
    return st ? st : Q0(c, "COMMIT", NULL, NULL);
}

static bool set_applies(gop **ops, size_t n);
static cs_status run_set(cs_tracker_store *s, cs__tdb *c, gop **ops, size_t n);

/* Runs ops[0..n) in one transaction (one libpq pipeline where every op has
 * a pipelined form: as set statements when set_applies, else one statement
 * per op). CS_OK: committed, each op's st set. Otherwise nothing
 * was committed (the caller runs them one by one); a retryable store error
 * is tried again, with a growing pause, up to 5 times. */
static cs_status run_batch(cs_tracker_store *s, gop **ops, size_t n)
{
    cs_status st = CS_OK;
    bool piped = D(s) == CS__TDB_PG;
    for (size_t i = 0; i < n && piped; i++)
        piped = ops[i]->pipe != NULL;
    bool set = piped && set_applies(ops, n);
    for (int attempt = 0; attempt < 5; attempt++) {
        cs__tdb *c;
        if ((st = acquire(s, true, &c)))
            return st;
        if (!piped || !c->ops->pipeline)
            st = run_plain(s, c, ops, n);
        else
            st = set ? run_set(s, c, ops, n) : run_pipe(c, ops, n);
        if (!st) {
            if (set)
                atomic_fetch_add(&s->set_batches, 1);
            release(s, true, c, false);
            return CS_OK;
        }
        bool retry = st == CS_EIO && c->ops->retryable(c);
        bool broken = Q0(c, "ROLLBACK", NULL, NULL) != CS_OK;
        wc_clear(s);
        release(s, true, c, broken);
        if (!retry)
            return st;
        struct timespec ts = {0, (long)(1000000L << attempt)};
        nanosleep(&ts, NULL);
    }
    return st;
}

/* Runs ops[0..n) as one batch; when the batch fails as a whole, each op
 * on its own, so that one bad operation never fails another. Each op's st
 * and err are set. */
static void run_or_split(cs_tracker_store *s, gop **ops, size_t n)
{
    if (run_batch(s, ops, n) == CS_OK)
        return;
    atomic_fetch_add(&s->split_batches, 1);
    for (size_t i = 0; i < n; i++) {
        t_err[0] = 0;
        ops[i]->st = run_tx_single(s, true, ops[i]->fn, ops[i]->arg);
        snprintf(ops[i]->err, sizeof ops[i]->err, "%s", t_err);
    }
}

/* Writes go through a group commit: the calling thread queues its operation;
 * whichever thread finds no leader becomes one and runs every queued
 * operation in one transaction (one WAL append / one fsync for all of
 * them), then wakes the others. An operation that fails with a store error
 * makes the leader run the batch again one operation per transaction, so
 * one bad operation never fails another. Reads run directly. */
static cs_status run_tx_pipe(cs_tracker_store *s, bool write, tx_fn fn, void *arg,
                             const gpipe *pipe)
{
    if (!write)
        return run_tx_single(s, false, fn, arg);
    gop o = {.fn = fn, .arg = arg, .pipe = pipe};
    pthread_cond_init(&o.cv, NULL);
    pthread_mutex_lock(&s->gmu);
    if (s->qtail)
        s->qtail->next = &o;
    else
        s->qhead = &o;
    s->qtail = &o;
    if (s->leaders < s->max_leaders) {
        s->leaders++;
        o.lead = true;
    }
    /* each thread sleeps on its own condition variable: the leader wakes
     * exactly the threads whose operations it ran, and hands the lead to the
     * first one still queued */
    while (!o.done && !o.lead)
        pthread_cond_wait(&o.cv, &s->gmu);
    if (!o.done) {
        gop *batch[BATCH_MAX];
        size_t n = 0;
        while (s->qhead && n < BATCH_MAX) {
            batch[n++] = s->qhead;
            s->qhead = s->qhead->next;
        }
        if (!s->qhead)
            s->qtail = NULL;
        pthread_mutex_unlock(&s->gmu);
        run_or_split(s, batch, n);
        pthread_mutex_lock(&s->gmu);
        for (size_t i = 0; i < n; i++) {
            batch[i]->done = true;
            if (batch[i] != &o)
                pthread_cond_signal(&batch[i]->cv);
        }
        if (s->qhead) {
            s->qhead->lead = true;
            pthread_cond_signal(&s->qhead->cv);
        } else {
            s->leaders--;
        }
    }
    pthread_mutex_unlock(&s->gmu);
    pthread_cond_destroy(&o.cv);
    if (o.st)
        cs__tstore_seterr("%s", o.err[0] ? o.err : cs_strerror(o.st));
    return o.st;
}

static cs_status run_tx(cs_tracker_store *s, bool write, tx_fn fn, void *arg)
{
    return run_tx_pipe(s, write, fn, arg, NULL);
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
    if (D(s) == CS__TDB_PG)
        for (size_t i = 0; i < sizeof PG_FUNCS / sizeof *PG_FUNCS; i++) {
            cs_status st = run(c, PG_FUNCS[i], false, NULL, NULL, 0, NULL);
            if (st)
                return st;
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
    pthread_mutex_init(&s->gmu, NULL);
    /* PostgreSQL: a few batches at once hide the round trips; the operations
     * lock rows in one order (worker, then job), so batches do not deadlock */
    s->max_leaders = s->dialect == CS__TDB_PG ? 8 : 1;
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
    if (s->dialect == CS__TDB_SQLITE)
        s->wc = cs_calloc(WC_SLOTS, sizeof *s->wc); /* none: no cache, same answers */
    s->wc_gen = 1;
    if (s->dialect == CS__TDB_SQLITE && cs__tsqlite_ckpt_start(db, &s->ckpt) != CS_OK)
        s->ckpt = NULL; /* the writer's autocheckpoint still bounds the WAL */
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
    cs__tsqlite_ckpt_stop(s->ckpt);
    pool_cleanup(&s->wr);
    pool_cleanup(&s->rd);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->gmu);
    cs_free(s->wc);
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
    unsigned char rnd[19]; /* 16 for the token, 3 for the display name */
    *display_name = NULL;
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        cs__tstore_seterr("no random bytes for a token");
        return CS_EIO;
    }
    cs_base16_encode(rnd, 16, token);
    for (char *p = token; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
    token[32] = 0;
    cs_buf b;
    cs_buf_init(&b, 0);
    /* the suffix tells a nickname's workers apart without revealing any of
     * the token */
    cs_buf_printf(&b, "%s-%02x%02x%02x", nickname, rnd[16], rnd[17], rnd[18]);
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
    cs__tworker_info_cleanup(a->info); /* a retried batch runs this again */
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


/* ---- the SQLite writer's worker cache ------------------------------------------------------
 * newJob and markAsDone read the worker's row (its type, nickname, held
 * job) before writing; with one writer those rows change only through it,
 * so it keeps them: a direct-mapped table by token, filled on a miss. Its
 * rules: a lease or completion updates the entry once its statements
 * succeeded; every other write, every rolled-back transaction and every
 * commit by another connection (PRAGMA data_version, checked at the start
 * of each write transaction) empties it (a new generation). PostgreSQL
 * never uses it: several trackers may share that database. */

static wslot *wc_slot(cs_tracker_store *s, const char *token)
{
    if (!s->wc || strlen(token) != 32)
        return NULL;
    uint64_t h = 1469598103934665603ull;
    for (const char *p = token; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return &s->wc[h & (WC_SLOTS - 1)];
}

static const wrow *wc_get(cs_tracker_store *s, const char *token)
{
    wslot *e = wc_slot(s, token);
    return e && e->gen == s->wc_gen && !strcmp(e->token, token) ? &e->w : NULL;
}

static void wc_put(cs_tracker_store *s, const char *token, const wrow *w)
{
    wslot *e = wc_slot(s, token);
    if (!e)
        return;
    e->gen = s->wc_gen;
    memcpy(e->token, token, 33);
    e->w = *w;
}

/* The worker's held job changed, at stage (0: unknown), and its last
 * completed one when last >= 0. */
static void wc_set_job(cs_tracker_store *s, const char *token, int64_t job, int64_t last,
                       int stage)
{
    wslot *e = wc_slot(s, token);
    if (e && e->gen == s->wc_gen && !strcmp(e->token, token)) {
        e->w.job = job;
        e->w.job_stage = job ? stage : 0;
        if (last >= 0)
            e->w.last_job = last;
    }
}

static void wc_clear(cs_tracker_store *s) { s->wc_gen++; }

/* type (may be NULL): the type the request claims; it must be the worker's. */
static cs_status worker_lock(cs_tracker_store *s, cs__tdb *c, const char *token,
                             const char *type, wrow *w)
{
    const wrow *cached = wc_get(s, token);
    if (cached) {
        *w = *cached;
        goto check_type;
    }
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
    w->job_stage = 0;
    snprintf(w->nickname, sizeof w->nickname, "%s", cs__tres_get(&r, 0, 2) ? cs__tres_get(&r, 0, 2) : "");
    snprintf(w->type, sizeof w->type, "%s", cs__tres_get(&r, 0, 3) ? cs__tres_get(&r, 0, 3) : "");
    cs__tres_free(&r);
    wc_put(s, token, w);
check_type:
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

/* SQLite's hot statements (lease_tx, complete_tx: never run for
 * PostgreSQL, whose functions in PG_FUNCS do the same) are OR FAIL: each
 * changes at most one row, so a failure has no partial change to undo, and
 * without the default ABORT SQLite opens no statement journal for them (a
 * savepoint, with an allocation and a bitmap cleared and freed, per
 * statement inside the batch's transaction). Nor do they use RETURNING:
 * SQLite gathers RETURNING rows in an ephemeral table, a pager opened and
 * closed per statement; with one writer, a SELECT then an UPDATE by rowid
 * in the same transaction is the same and costs less.
 *
 * A lease takes the lowest-numbered open job of the stage. Job numbers are
 * a random permutation of the input order (cs_tracker_add_jobs shuffles),
 * so this is the random hand-out order, and consecutive leases touch
 * neighbouring rows (few pages written per group commit). */
static const char Q_SQ_PICK[] =
    "SELECT " JOB_COLS " FROM jobs WHERE stage = $1 AND state = 0 ORDER BY id LIMIT 1";
static const char Q_SQ_TAKE[] =
    "UPDATE OR FAIL jobs SET state = 1, holder = $2, leased_at = $3 WHERE id = $1";

/* xorshift64* seeded from the OpenSSL RNG: shuffles job numbers */
static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

typedef struct lease_args {
    const char *token, *type;
    int stage;
    int64_t now;
    cs__tjob *job;
    cs_tracker_store *s;
    char after[24]; /* PostgreSQL: lease_after of the stage, as text */
} lease_args;

/* PostgreSQL leases search for an open job from just after the last one
 * this store leased at the stage, and from the start only when none is
 * open there: a leased row's old version stays in the index until vacuum,
 * and a search from the lowest number walks over every one of them (a
 * store slowed from 7,400 to 3,600 cycles/s within 15 s). Job numbers are
 * a random permutation, so the order handed out stays random; a job
 * re-opened behind the cursor waits for the next pass. */
static void lease_args_init(lease_args *a, cs_tracker_store *s, const char *token,
                            const char *type, int stage, int64_t now, cs__tjob *job)
{
    *a = (lease_args){token, type, stage, now, job, s, ""};
    if (s->dialect != CS__TDB_PG)
        return; /* SQLite has no dead index entries: lowest open number first */
    int64_t after = stage >= 1 && stage <= CS__TSTAGES ? atomic_load(&s->lease_after[stage]) : 0;
    snprintf(a->after, sizeof a->after, "%lld", (long long)after);
}

/* The rc of cs_lease / cs_complete (see PG_FUNCS) as a status. */
static cs_status pg_rc(const cs__tres *r, const char *type, const char *wtype, const char *job)
{
    switch (cell_i64(r, 0, 0)) {
    case 0:
        return CS_OK;
    case 1:
        cs__tstore_seterr("unknown or timed-out worker token");
        return CS_ENOTFOUND;
    case 2:
        cs__tstore_seterr("type %s is not this worker's type (%.15s)", type ? type : "",
                          wtype ? wtype : "");
        return CS_EINVAL;
    case 3:
        return CS_DONE;
    case 4:
        cs__tstore_seterr("job %s is not held by this worker", job ? job : "?");
        return CS_EINVAL;
    default:
        cs__tstore_seterr("postgresql: unexpected answer from a tracker function");
        return CS_EIO;
    }
}

/* $5: the job number to search on from (see lease_after) */
static const char Q_PG_LEASE[] = "SELECT * FROM cs_lease($1, $2, $3, $4, $5)";
static const char Q_PG_COMPLETE[] = "SELECT * FROM cs_complete($1, $2, $3, $4, $5)";

/* The job in row 0 of r, its JOB_COLS from column col on (id, start_id,
 * end_id, shard, stage, input). */
static cs_status job_from_row(cs__tjob *j, const cs__tres *r, size_t col)
{
    j->id = cell_i64(r, 0, col);
    j->start_id = cell_i64(r, 0, col + 1);
    j->end_id = cell_i64(r, 0, col + 2);
    j->shard = (int)cell_i64(r, 0, col + 3);
    j->stage = (int)cell_i64(r, 0, col + 4);
    const char *in = cs__tres_get(r, 0, col + 5);
    j->input = cs_strdup(in ? in : "");
    return j->input ? CS_OK : CS_ENOMEM;
}

static cs_status lease_pg_finish(void *arg, cs__tres *rp)
{
    lease_args *a = arg;
    cs__tres r = *rp;
    memset(rp, 0, sizeof *rp);
    cs_free(a->job->input);
    memset(a->job, 0, sizeof *a->job);
    if (r.nrows != 1 || r.ncols != 8) {
        cs__tres_free(&r);
        cs__tstore_seterr("postgresql: unexpected answer from cs_lease");
        return CS_EIO;
    }
    cs_status st = pg_rc(&r, a->type, cs__tres_get(&r, 0, 7), NULL);
    if (!st) {
        cs__tjob *j = a->job;
        st = job_from_row(j, &r, 1);
        if (j->stage >= 1 && j->stage <= CS__TSTAGES)
            atomic_store(&a->s->lease_after[j->stage], j->id);
    }
    cs__tres_free(&r);
    return st;
}

static cs_status lease_pg(cs__tdb *c, lease_args *a)
{
    char b1[24], b2[24];
    cs__tres r;
    cs_status st = Q(c, Q_PG_LEASE, &r, NULL, a->token, a->type, i64s(b1, a->stage),
                     i64s(b2, a->now), a->after);
    return st ? st : lease_pg_finish(a, &r);
}

static cs_status lease_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    lease_args *a = arg;
    wrow w;
    char b1[24], b2[24];
    cs__tres r = {0};
    cs_free(a->job->input); /* a retried batch runs this again */
    memset(a->job, 0, sizeof *a->job);
    if (D(s) == CS__TDB_PG)
        return lease_pg(c, a);
    cs_status st = worker_lock(s, c, a->token, a->type, &w);
    if (st)
        return st;
    if (w.job && (st = job_reopen(c, w.job, a->token)))
        return st;
    i64s(b2, a->now);
    st = Q(c, Q_SQ_PICK, &r, NULL, i64s(b1, a->stage));
    if (!st && r.nrows)
        st = Q(c, Q_SQ_TAKE, NULL, NULL, cs__tres_get(&r, 0, 0), a->token, b2);
    if (st) {
        cs__tres_free(&r);
        return st;
    }
    if (!r.nrows) {
        st = Q(c, "UPDATE OR FAIL workers SET job = NULL, last_seen = $2 WHERE token = $1", NULL,
               NULL, a->token, b2);
        if (!st)
            wc_set_job(s, a->token, 0, -1, 0);
        return st ? st : CS_DONE;
    }
    cs__tjob *j = a->job;
    st = job_from_row(j, &r, 0);
    cs__tres_free(&r);
    if (st)
        return st;
    st = Q(c, "UPDATE OR FAIL workers SET job = $2, last_seen = $3 WHERE token = $1", NULL, NULL,
           a->token, i64s(b1, j->id), b2);
    if (st) {
        cs_free(j->input);
        j->input = NULL;
    } else {
        wc_set_job(s, a->token, j->id, -1, j->stage);
    }
    return st;
}

cs_status cs__tstore_job_lease(cs_tracker_store *s, const char *token, const char *type,
                               int stage, int64_t now, cs__tjob *job)
{
    memset(job, 0, sizeof *job);
    lease_args a;
    lease_args_init(&a, s, token, type, stage, now, job);
    if (s->dialect != CS__TDB_PG)
        return run_tx(s, true, lease_tx, &a);
    char b1[24], b2[24];
    gpipe p = {Q_PG_LEASE, {token, type, i64s(b1, stage), i64s(b2, now), a.after}, 5,
               lease_pg_finish};
    return run_tx_pipe(s, true, lease_tx, &a, &p);
}

/* ---- completion ---------------------------------------------------------------------------- */

typedef struct complete_args {
    const char *token, *type, *output;
    int64_t count, now;
} complete_args;

static cs_status complete_pg_finish(void *arg, cs__tres *rp)
{
    complete_args *a = arg;
    cs__tres r = *rp;
    memset(rp, 0, sizeof *rp);
    if (r.nrows != 1 || r.ncols != 3) {
        cs__tres_free(&r);
        cs__tstore_seterr("postgresql: unexpected answer from cs_complete");
        return CS_EIO;
    }
    cs_status st = pg_rc(&r, a->type, cs__tres_get(&r, 0, 1), cs__tres_get(&r, 0, 2));
    if (st == CS_DONE) {
        cs__tstore_seterr("this worker holds no job");
        st = CS_EINVAL;
    }
    cs__tres_free(&r);
    return st;
}

static cs_status complete_tx(cs_tracker_store *s, cs__tdb *c, void *arg)
{
    complete_args *a = arg;
    wrow w;
    char bj[24], bn[24], bc[24], bs[24];
    cs__tres r;
    if (D(s) == CS__TDB_PG) {
        cs_status st = Q(c, Q_PG_COMPLETE, &r, NULL, a->token, a->type, a->output,
                         i64s(bc, a->count), i64s(bn, a->now));
        return st ? st : complete_pg_finish(a, &r);
    }
    cs_status st = worker_lock(s, c, a->token, a->type, &w);
    if (st)
        return st;
    if (!w.job) {
        if (w.last_job) /* a repeated completion: already counted */
            return Q(c, "UPDATE OR FAIL workers SET last_seen = $2 WHERE token = $1", NULL, NULL,
                     a->token, i64s(bn, a->now));
        cs__tstore_seterr("this worker holds no job");
        return CS_EINVAL;
    }
    i64s(bj, w.job);
    i64s(bn, a->now);
    /* the job moves on only while this worker holds it (not held: nothing
     * written; see Q_SQ_PICK on why not UPDATE ... RETURNING). Its stage is
     * known when this writer leased it; else it is read. */
    int stage = w.job_stage;
    if (!stage) {
        st = Q(c, "SELECT stage FROM jobs WHERE id = $1 AND holder = $2 AND state = 1", &r, NULL,
               bj, a->token);
        if (st)
            return st;
        stage = r.nrows ? (int)cell_i64(&r, 0, 0) : 0;
        cs__tres_free(&r);
    }
    int64_t changed = 0;
    if (!stage)
        ; /* not held */
    else if (a->output && stage < CS__TSTAGES) /* its output is the next stage's input */
        st = Q(c,
               "UPDATE OR FAIL jobs SET stage = stage + 1, state = 0, holder = NULL,"
               " leased_at = NULL, i2 = CASE WHEN stage = 1 THEN $2 ELSE i2 END,"
               " i3 = CASE WHEN stage = 2 THEN $2 ELSE i3 END,"
               " i4 = CASE WHEN stage = 3 THEN $2 ELSE i4 END,"
               " i5 = CASE WHEN stage = 4 THEN $2 ELSE i5 END"
               " WHERE id = $1 AND holder = $3 AND state = 1 AND stage = $4",
               NULL, &changed, bj, a->output, a->token, i64s(bs, stage));
    else /* no output, or the last stage */
        st = Q(c,
               "UPDATE OR FAIL jobs SET state = 2, holder = NULL, done_at = $2, pairs = $3"
               " WHERE id = $1 AND holder = $4 AND state = 1 AND stage = $5",
               NULL, &changed, bj, bn, i64s(bc, a->count), a->token, i64s(bs, stage));
    if (st)
        return st;
    if (changed != 1) {
        cs__tstore_seterr("job %s is not held by this worker", bj);
        return CS_EINVAL;
    }
    st = Q(c,
           "INSERT OR FAIL INTO completions (job, stage, worker, nickname, at, count)"
           " VALUES ($1, $2, $3, $4, $5, $6)",
           NULL, NULL, bj, i64s(bs, stage), a->token, w.nickname, bn,
           i64s(bc, a->output ? 0 : a->count));
    if (!st)
        st = Q(c,
               "UPDATE OR FAIL workers SET job = NULL, last_job = $2, last_seen = $3,"
               " jobs_done = jobs_done + 1 WHERE token = $1",
               NULL, NULL, a->token, bj, bn);
    if (!st)
        wc_set_job(s, a->token, 0, w.job, 0);
    return st;
}

cs_status cs__tstore_job_complete(cs_tracker_store *s, const char *token, const char *type,
                                  const char *output, int64_t count, int64_t now)
{
    complete_args a = {token, type, output, count, now};
    if (s->dialect != CS__TDB_PG)
        return run_tx(s, true, complete_tx, &a);
    char bc[24], bn[24];
    gpipe p = {Q_PG_COMPLETE, {token, type, output, i64s(bc, count), i64s(bn, now)}, 5,
               complete_pg_finish};
    return run_tx_pipe(s, true, complete_tx, &a, &p);
}

bool cs__tstore_is_pg(const cs_tracker_store *s) { return s->dialect == CS__TDB_PG; }

void cs__tstore_batch_counts(cs_tracker_store *s, uint64_t *set, uint64_t *split)
{
    *set = atomic_load(&s->set_batches);
    *split = atomic_load(&s->split_batches);
}

/* One call's operation as the group commit sees it. */
typedef struct call_slot {
    gop o;
    lease_args la;
    complete_args ca;
    gpipe p;
    char b1[24], b2[24];
} call_slot;

void cs__tstore_calls(cs_tracker_store *s, cs__tcall *const *calls, size_t n)
{
    call_slot *slots = cs_calloc(n < BATCH_MAX ? (n ? n : 1) : BATCH_MAX, sizeof *slots);
    for (size_t base = 0; base < n; base += BATCH_MAX) {
        size_t m = n - base < BATCH_MAX ? n - base : BATCH_MAX;
        gop *ops[BATCH_MAX];
        for (size_t i = 0; i < m; i++) {
            cs__tcall *c = calls[base + i];
            memset(&c->job, 0, sizeof c->job);
            c->err[0] = 0;
            if (!slots) {
                c->st = CS_ENOMEM;
                snprintf(c->err, sizeof c->err, "%s", cs_strerror(CS_ENOMEM));
                continue;
            }
            call_slot *k = &slots[i];
            memset(k, 0, sizeof *k);
            if (c->complete) {
                k->ca = (complete_args){c->token, c->type, c->output, c->count, c->now};
                k->o.fn = complete_tx;
                k->o.arg = &k->ca;
                k->p = (gpipe){Q_PG_COMPLETE,
                               {c->token, c->type, c->output, i64s(k->b1, c->count),
                                i64s(k->b2, c->now)},
                               5,
                               complete_pg_finish};
            } else {
                lease_args_init(&k->la, s, c->token, c->type, c->stage, c->now, &c->job);
                k->o.fn = lease_tx;
                k->o.arg = &k->la;
                k->p = (gpipe){Q_PG_LEASE,
                               {c->token, c->type, i64s(k->b1, c->stage), i64s(k->b2, c->now),
                                k->la.after},
                               5,
                               lease_pg_finish};
            }
            if (D(s) == CS__TDB_PG)
                k->o.pipe = &k->p;
            ops[i] = &k->o;
        }
        if (!slots)
            continue;
        run_or_split(s, ops, m);
        for (size_t i = 0; i < m; i++) {
            cs__tcall *c = calls[base + i];
            c->st = ops[i]->st;
            snprintf(c->err, sizeof c->err, "%s", ops[i]->st ? ops[i]->err : "");
            if (c->st && !c->err[0])
                snprintf(c->err, sizeof c->err, "%s", cs_strerror(c->st));
        }
    }
    cs_free(slots);
}

/* ---- batches as set statements (PostgreSQL) ------------------------------------------- */

/* A growing string: a PostgreSQL array literal being written. */
typedef struct abuf {
    char *p;
    size_t n, cap;
    bool oom;
} abuf;

static void ab_put(abuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *p = cs_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* Appends v (NULL: SQL NULL) as one element of an array literal: quoted,
 * with '"' and '\' escaped, so that any text (a token, a URL) is one
 * element whatever it holds. */
static void ab_elem(abuf *b, const char *v)
{
    ab_put(b, b->n > 1 ? "," : "", b->n > 1);
    if (!v) {
        ab_put(b, "NULL", 4);
        return;
    }
    ab_put(b, "\"", 1);
    for (const char *p = v; *p;) {
        size_t k = strcspn(p, "\"\\");
        ab_put(b, p, k);
        p += k;
        if (*p) {
            char e[2] = {'\\', *p++};
            ab_put(b, e, 2);
        }
    }
    ab_put(b, "\"", 1);
}

static int cmp_tokens(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static const char *op_token(const gop *o)
{
    return o->fn == lease_tx ? ((const lease_args *)o->arg)->token
                             : ((const complete_args *)o->arg)->token;
}

/* A batch runs as set statements (cs_complete_many, cs_lease_many) when it
 * holds only leases and completions, of different workers: one worker's
 * two calls in one batch (a retry beside the call it repeats) must run one
 * after the other, which the per-call pipeline does. */
static bool set_applies(gop **ops, size_t n)
{
    if (n < 2 || n > BATCH_MAX)
        return false;
    const char *tok[BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        if (ops[i]->fn != lease_tx && ops[i]->fn != complete_tx)
            return false;
        if (ops[i]->fn == lease_tx) {
            int stage = ((const lease_args *)ops[i]->arg)->stage;
            if (stage < 1 || stage > CS__TSTAGES)
                return false;
        }
        if (!(tok[i] = op_token(ops[i])))
            return false;
    }
    qsort(tok, n, sizeof *tok, cmp_tokens);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(tok[i - 1], tok[i]))
            return false;
    return true;
}

static const char Q_PG_COMPLETE_MANY[] = "SELECT * FROM cs_complete_many($1, $2, $3, $4, $5)";
static const char Q_PG_LEASE_MANY[] = "SELECT * FROM cs_lease_many($1, $2, $3, $4, $5)";

#define SET_STMTS (1 + 1 + CS__TSTAGES) /* BEGIN, the completions, leases per stage */

/* One set statement: the ops it answers for (in call order), its array
 * parameters and the scalars beside them. */
typedef struct set_stmt {
    gop *ops[BATCH_MAX];
    size_t n;
    abuf arr[4];
    char b1[24], b2[24], b3[24];
    const char *params[5];
} set_stmt;

/* Checks that r answers st's ops one row each in call order (column 0:
 * the 1-based position) with ncols columns. */
static bool set_rows_ok(const cs__tres *r, const set_stmt *st, size_t ncols)
{
    if (r->nrows != st->n || r->ncols != ncols)
        return false;
    for (size_t i = 0; i < st->n; i++)
        if (cell_i64(r, i, 0) != (int64_t)i + 1)
            return false;
    return true;
}

/* The batch ops[0..n) (set_applies) as BEGIN, one cs_complete_many for the
 * completions and one cs_lease_many per stage leased, pipelined (one round
 * trip), then COMMIT once every answer arrived (see run_pipe on why not in
 * the pipeline). CS_OK: committed, each op's st set from its row, by the
 * same finish functions as the per-call statements. */
static cs_status run_set(cs_tracker_store *s, cs__tdb *c, gop **ops, size_t n)
{
    set_stmt *ss = cs_calloc(SET_STMTS - 1, sizeof *ss); /* [0] completions, [k] stage k */
    if (!ss)
        return CS_ENOMEM;
    int64_t now = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = ops[i]->fn == complete_tx ? 0 : (size_t)((lease_args *)ops[i]->arg)->stage;
        ss[k].ops[ss[k].n++] = ops[i];
    }
    const char *sql[SET_STMTS];
    const char *const *params[SET_STMTS];
    int np[SET_STMTS];
    set_stmt *order[SET_STMTS];
    size_t m = 0;
    sql[m] = BEGIN_TX[CS__TDB_PG];
    params[m] = NULL;
    np[m] = 0;
    order[m++] = NULL;
    bool oom = false;
    for (size_t k = 0; k < SET_STMTS - 1; k++) {
        set_stmt *t = &ss[k];
        if (!t->n)
            continue;
        for (int a = 0; a < 4; a++)
            ab_put(&t->arr[a], "{", 1);
        for (size_t i = 0; i < t->n; i++) {
            if (k == 0) {
                const complete_args *ca = t->ops[i]->arg;
                char cnt[24];
                ab_elem(&t->arr[0], ca->token);
                ab_elem(&t->arr[1], ca->type);
                ab_elem(&t->arr[2], ca->output);
                ab_elem(&t->arr[3], i64s(cnt, ca->count));
                now = ca->now;
            } else {
                const lease_args *la = t->ops[i]->arg;
                ab_elem(&t->arr[0], la->token);
                ab_elem(&t->arr[1], la->type);
                now = la->now;
            }
        }
        for (int a = 0; a < 4; a++) {
            ab_put(&t->arr[a], "}", 1);
            oom |= t->arr[a].oom;
        }
        if (k == 0) {
            t->params[0] = t->arr[0].p;
            t->params[1] = t->arr[1].p;
            t->params[2] = t->arr[2].p;
            t->params[3] = t->arr[3].p;
            t->params[4] = i64s(t->b1, ((complete_args *)t->ops[t->n - 1]->arg)->now);
            sql[m] = Q_PG_COMPLETE_MANY;
        } else {
            t->params[0] = t->arr[0].p;
            t->params[1] = t->arr[1].p;
            t->params[2] = i64s(t->b1, (int64_t)k);
            t->params[3] = i64s(t->b2, now);
            t->params[4] = i64s(t->b3, atomic_load(&s->lease_after[k]));
            sql[m] = Q_PG_LEASE_MANY;
        }
        params[m] = t->params;
        np[m] = 5;
        order[m++] = t;
    }
    cs__tres res[SET_STMTS];
    memset(res, 0, sizeof res);
    cs_status st = oom ? CS_ENOMEM : c->ops->pipeline(c, m, sql, params, np, res);
    if (st == CS_EIO)
        cs__tstore_seterr("%s", c->err);
    if (!st)
        for (size_t i = 1; i < m && !st; i++)
            if (!set_rows_ok(&res[i], order[i], order[i] == &ss[0] ? 4 : 9)) {
                cs__tstore_seterr("postgresql: unexpected answer from a batch function");
                st = CS_EIO;
            }
    if (!st)
        st = Q0(c, "COMMIT", NULL, NULL);
    if (!st) {
        /* committed: each op's answer is its row, given to the op's finish
         * as the one row its per-call statement would have answered */
        for (size_t i = 1; i < m; i++) {
            set_stmt *t = order[i];
            cs__tres *r = &res[i];
            for (size_t row = 0; row < t->n; row++) {
                cs__tres one = {1, r->ncols - 1, cs_calloc(r->ncols - 1, sizeof(char *))};
                t_err[0] = 0;
                if (!one.cells) {
                    t->ops[row]->st = CS_ENOMEM;
                    snprintf(t->ops[row]->err, sizeof t->ops[row]->err, "%s",
                             cs_strerror(CS_ENOMEM));
                    continue;
                }
                for (size_t col = 1; col < r->ncols; col++) {
                    one.cells[col - 1] = r->cells[row * r->ncols + col];
                    r->cells[row * r->ncols + col] = NULL;
                }
                t->ops[row]->st = t->ops[row]->pipe->finish(t->ops[row]->arg, &one);
                snprintf(t->ops[row]->err, sizeof t->ops[row]->err, "%s", t_err);
                cs__tres_free(&one);
            }
        }
    }
    for (size_t i = 0; i < m; i++)
        cs__tres_free(&res[i]);
    for (size_t k = 0; k < SET_STMTS - 1; k++)
        for (int a = 0; a < 4; a++)
            cs_free(ss[k].arr[a].p);
    cs_free(ss);
    return st;
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
                         "WITH gone AS (DELETE FROM workers WHERE last_seen < $1"
                         " RETURNING token, job),"
                         " back AS (UPDATE jobs SET state = 0, holder = NULL, leased_at = NULL"
                         " WHERE id IN (SELECT job FROM gone WHERE job IS NOT NULL)"
                         " AND state = 1 AND holder IN (SELECT token FROM gone) RETURNING id)"
                         " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM back)",
                         &r, NULL, b);
        if (st)
            return st;
        a->removed = cell_i64(&r, 0, 0);
        cs__tres_free(&r);
        return CS_OK;
    }
    /* a held job is its holder's workers.job (lease, completion, release
     * and sweep change both in one transaction) */
    cs_status st = Q(c,
                     "UPDATE jobs SET state = 0, holder = NULL, leased_at = NULL"
                     " WHERE id IN (SELECT job FROM workers WHERE last_seen < $1"
                     " AND job IS NOT NULL)"
                     " AND holder IN (SELECT token FROM workers WHERE last_seen < $1)"
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
    /* where the last add ended: job_seq, when it agrees with the highest
     * job number (read through the primary key); else (a store written
     * before job_seq, or by an older tracker) from the jobs themselves */
    st = Q0(c,
            "SELECT COALESCE((SELECT max(id) FROM jobs), 0),"
            " (SELECT last_id FROM job_seq WHERE one = 1),"
            " (SELECT last_end FROM job_seq WHERE one = 1)",
            &r, NULL);
    if (st)
        return st;
    int64_t id = cell_i64(&r, 0, 0), next = cell_i64(&r, 0, 2);
    bool known = cs__tres_get(&r, 0, 1) && cs__tres_get(&r, 0, 2) && cell_i64(&r, 0, 1) == id;
    cs__tres_free(&r);
    if (!known) {
        st = Q0(c, "SELECT COALESCE(max(end_id), 0) FROM jobs", &r, NULL);
        if (st)
            return st;
        next = cell_i64(&r, 0, 0);
        cs__tres_free(&r);
    }

    /* job k (list order: input k/2, piece k%2) keeps the id range of its
     * place in the list, and gets number id0 + 1 + position in a random
     * permutation: the hand-out order */
    cs_buf sql;
    cs_buf_init(&sql, 0);
    size_t m = 0;
    size_t *in = cs_malloc((a->n ? a->n : 1) * sizeof *in);
    size_t *perm = cs_malloc((a->n ? a->n : 1) * 2 * sizeof *perm);
    const char **params = cs_malloc(ADD_BATCH * 2 * 5 * sizeof *params);
    char(*nums)[24] = cs_malloc(ADD_BATCH * 2 * 4 * sizeof *nums);
    if (!params || !nums || !in || !perm) {
        st = CS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < a->n; i++)
        if (a->inputs[i] && a->inputs[i][0])
            in[m++] = i;
    uint64_t seed = 0;
    if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1 || !seed)
        seed = (uint64_t)cs__tnow_ms() | 1;
    for (size_t k = 0; k < 2 * m; k++)
        perm[k] = k;
    for (size_t k = 2 * m; k > 1; k--) {
        size_t j = (size_t)(rng_next(&seed) % k);
        size_t tmp = perm[k - 1];
        perm[k - 1] = perm[j];
        perm[j] = tmp;
    }
    for (size_t pos = 0; pos < 2 * m && !st;) {
        cs_buf_reset(&sql);
        cs_buf_puts(&sql, "INSERT INTO jobs (id, start_id, end_id, shard, i1) VALUES ");
        int np = 0, nn = 0;
        size_t rows = 0;
        for (; pos < 2 * m && rows < ADD_BATCH * 2; pos++, rows++) {
            size_t k = perm[pos];
            if (D(s) == CS__TDB_SQLITE) /* SQLite numbers '?' in order, cheaply */
                cs_buf_printf(&sql, "%s(?, ?, ?, ?, ?)", rows ? ", " : "");
            else
                cs_buf_printf(&sql, "%s($%d, $%d, $%d, $%d, $%d)", rows ? ", " : "", np + 1,
                              np + 2, np + 3, np + 4, np + 5);
            int64_t start = next + (int64_t)k * a->step;
            params[np++] = i64s(nums[nn++], id + 1 + (int64_t)pos);
            params[np++] = i64s(nums[nn++], start);
            params[np++] = i64s(nums[nn++], start + a->step);
            params[np++] = i64s(nums[nn++], (int64_t)(k % 2));
            params[np++] = a->inputs[in[k / 2]];
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
    if (!st && m) {
        char b1[24], b2[24];
        st = Q(c,
               "INSERT INTO job_seq (one, last_id, last_end) VALUES (1, $1, $2)"
               " ON CONFLICT (one) DO UPDATE SET last_id = excluded.last_id,"
               " last_end = excluded.last_end",
               NULL, NULL, i64s(b1, id + 2 * (int64_t)m),
               i64s(b2, next + 2 * (int64_t)m * a->step));
    }
out:
    cs_free(in);
    cs_free(perm);
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

/* After a large add, PostgreSQL: VACUUM (ANALYZE) the jobs table. The
 * planner gets statistics for it, and the new rows are marked all-visible
 * and their hint bits set in one pass, here, rather than by the first
 * leases (each first touch of a row wrote its page) and by the autovacuum
 * that an insert of 20% of the table starts within the minute, under
 * load. 0.2 s per million jobs. Best effort: a failure leaves that to
 * autovacuum and changes nothing else. */
static void settle(cs_tracker_store *s)
{
    if (s->dialect != CS__TDB_PG)
        return;
    cs__tdb *c;
    if (acquire(s, true, &c))
        return;
    bool broken = Q0(c, "VACUUM (ANALYZE) jobs", NULL, NULL) != CS_OK;
    release(s, true, c, broken);
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
    if (total >= 2 * FILE_BATCH)
        settle(s);
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
                              "SELECT nickname, count(*), COALESCE(sum(count), 0) AS pairs"
                              " FROM completions GROUP BY nickname"
                              " ORDER BY pairs DESC, count(*) DESC, nickname LIMIT 100",
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
