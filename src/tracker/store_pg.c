/* store_pg.c - the tracker store's PostgreSQL connection (libpq): text
 * parameters, statements prepared once per connection and keyed by the
 * address of their SQL literal. store.c keeps a pool of these, one per
 * concurrent request. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tracker/store.h"

#define STMT_CACHE 48

typedef struct pg_conn {
    cs__tdb base;
    PGconn *pg;
    const char *prepared[STMT_CACHE]; /* SQL literal addresses; name = "s<index>" */
    size_t nprepared;
    char sqlstate[6];
} pg_conn;

static void pg_close(cs__tdb *c)
{
    pg_conn *p = (pg_conn *)c;
    if (!p)
        return;
    PQfinish(p->pg);
    cs_free(p);
}

static bool pg_retryable(cs__tdb *c)
{
    const char *s = ((pg_conn *)c)->sqlstate;
    /* serialization_failure, deadlock_detected, unique_violation (two
     * processes racing to insert the same leaderboard row) */
    return !strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "23505");
}

static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = 0;
}

static cs_status pg_fail(pg_conn *p, PGresult *r, const char *what)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(p->sqlstate, sizeof p->sqlstate, "%s", st ? st : "");
    snprintf(p->base.err, sizeof p->base.err, "postgresql: %s: %s", what,
             r ? PQresultErrorMessage(r) : PQerrorMessage(p->pg));
    one_line(p->base.err);
    PQclear(r);
    return CS_EIO;
}

/* The prepared-statement slot of sql (prepared now if new); STMT_CACHE when
 * the cache is full. CS_EIO when preparing failed. */
static cs_status pg_slot(pg_conn *p, const char *sql, size_t *slot)
{
    *slot = STMT_CACHE;
    for (size_t i = 0; i < p->nprepared; i++)
        if (p->prepared[i] == sql) {
            *slot = i;
            return CS_OK;
        }
    if (p->nprepared < STMT_CACHE) {
        char name[16];
        snprintf(name, sizeof name, "s%zu", p->nprepared);
        PGresult *r = PQprepare(p->pg, name, sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            return pg_fail(p, r, "prepare");
        PQclear(r);
        *slot = p->nprepared;
        p->prepared[p->nprepared++] = sql;
    }
    return CS_OK;
}

/* Copies r's rows into res (r stays the caller's). */
static cs_status pg_rows(PGresult *r, cs__tres *res)
{
    size_t nr = (size_t)PQntuples(r), nc = (size_t)PQnfields(r);
    if (nr && nc) {
        res->cells = cs_calloc(nr * nc, sizeof *res->cells);
        if (!res->cells)
            return CS_ENOMEM;
    }
    res->nrows = nr;
    res->ncols = nc;
    for (size_t i = 0; i < nr; i++)
        for (size_t j = 0; j < nc; j++) {
            if (PQgetisnull(r, (int)i, (int)j))
                continue;
            char *v = cs_strdup(PQgetvalue(r, (int)i, (int)j));
            if (!v) {
                cs__tres_free(res);
                return CS_ENOMEM;
            }
            res->cells[i * nc + j] = v;
        }
    return CS_OK;
}

static cs_status pg_pipeline(cs__tdb *c, size_t n, const char *const *sql,
                             const char *const *const *params, const int *nparams,
                             cs__tres *res)
{
    pg_conn *p = (pg_conn *)c;
    p->sqlstate[0] = 0;
    for (size_t i = 0; i < n; i++)
        memset(&res[i], 0, sizeof res[i]);
    size_t slots[CS__TPIPE_MAX];
    if (n > CS__TPIPE_MAX) {
        snprintf(p->base.err, sizeof p->base.err, "postgresql: pipeline of %zu statements", n);
        return CS_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        if (pg_slot(p, sql[i], &slots[i]))
            return CS_EIO;
        if (slots[i] == STMT_CACHE) {
            snprintf(p->base.err, sizeof p->base.err, "postgresql: statement cache full");
            return CS_EIO;
        }
    }
    if (!PQenterPipelineMode(p->pg))
        return pg_fail(p, NULL, "pipeline");
    cs_status st = CS_OK;
    size_t sent = 0;
    for (; sent < n; sent++) {
        char name[16];
        snprintf(name, sizeof name, "s%zu", slots[sent]);
        if (!PQsendQueryPrepared(p->pg, name, nparams[sent], params[sent], NULL, NULL, 0)) {
            st = pg_fail(p, NULL, "pipeline send");
            break;
        }
    }
    bool synced = PQpipelineSync(p->pg) == 1;
    if (!synced && !st)
        st = pg_fail(p, NULL, "pipeline sync");
    /* every sent statement has one result (then NULL), then the sync's */
    for (size_t i = 0; i < sent; i++) {
        PGresult *r = PQgetResult(p->pg);
        if (!r) {
            if (!st)
                st = pg_fail(p, NULL, "pipeline result");
            break;
        }
        ExecStatusType es = PQresultStatus(r);
        if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
            /* out of memory: res[i] stays empty (the caller sees no row);
             * the transaction's fate must not depend on it */
            if (es == PGRES_TUPLES_OK)
                (void)pg_rows(r, &res[i]);
            PQclear(r);
        } else if (es == PGRES_PIPELINE_ABORTED) {
            PQclear(r);
        } else if (!st) {
            st = pg_fail(p, r, "query"); /* clears r */
        } else {
            PQclear(r);
        }
        while ((r = PQgetResult(p->pg)))
            PQclear(r);
    }
    if (synced) {
        PGresult *r = PQgetResult(p->pg);
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC && !st)
            st = pg_fail(p, r, "pipeline sync");
        else
            PQclear(r);
    }
    if (!PQexitPipelineMode(p->pg) && !st)
        st = pg_fail(p, NULL, "pipeline end");
    if (st)
        for (size_t i = 0; i < n; i++)
            cs__tres_free(&res[i]);
    return st;
}

static cs_status pg_exec(cs__tdb *c, const char *sql, bool cached, const char *const *params,
                         int nparams, cs__tres *res, int64_t *changes)
{
    pg_conn *p = (pg_conn *)c;
    PGresult *r;
    p->sqlstate[0] = 0;
    if (res)
        memset(res, 0, sizeof *res);
    size_t slot = STMT_CACHE;
    if (cached && pg_slot(p, sql, &slot))
        return CS_EIO;
    if (slot != STMT_CACHE) {
        char name[16];
        snprintf(name, sizeof name, "s%zu", slot);
        r = PQexecPrepared(p->pg, name, nparams, params, NULL, NULL, 0);
    } else {
        r = PQexecParams(p->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
        return pg_fail(p, r, "query");
    if (changes) {
        const char *t = PQcmdTuples(r);
        *changes = (t && *t) ? strtoll(t, NULL, 10) : 0;
    }
    cs_status st = res && es == PGRES_TUPLES_OK ? pg_rows(r, res) : CS_OK;
    PQclear(r);
    return st;
}

static const cs__tdb_ops PG_OPS = {pg_exec, pg_retryable, pg_close, pg_pipeline};

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "relation already exists, skipping" and the like */
}

cs_status cs__tdb_pg_open(const char *url, cs__tdb **out, char *err, size_t errcap)
{
    *out = NULL;
    pg_conn *p = cs_calloc(1, sizeof *p);
    if (!p)
        return CS_ENOMEM;
    p->base.ops = &PG_OPS;
    p->pg = PQconnectdb(url);
    if (!p->pg || PQstatus(p->pg) != CONNECTION_OK) {
        snprintf(err, errcap, "postgresql: cannot connect: %s",
                 p->pg ? PQerrorMessage(p->pg) : "out of memory");
        one_line(err);
        pg_close(&p->base);
        return CS_EIO;
    }
    PQsetNoticeProcessor(p->pg, quiet_notice, NULL);
    *out = &p->base;
    return CS_OK;
}
