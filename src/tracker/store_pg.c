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

static cs_status pg_exec(cs__tdb *c, const char *sql, bool cached, const char *const *params,
                         int nparams, cs__tres *res, int64_t *changes)
{
    pg_conn *p = (pg_conn *)c;
    PGresult *r;
    p->sqlstate[0] = 0;
    if (res)
        memset(res, 0, sizeof *res);
    size_t slot = STMT_CACHE;
    if (cached) {
        for (size_t i = 0; i < p->nprepared; i++)
            if (p->prepared[i] == sql) {
                slot = i;
                break;
            }
        if (slot == STMT_CACHE && p->nprepared < STMT_CACHE) {
            char name[16];
            snprintf(name, sizeof name, "s%zu", p->nprepared);
            r = PQprepare(p->pg, name, sql, 0, NULL);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                return pg_fail(p, r, "prepare");
            PQclear(r);
            slot = p->nprepared;
            p->prepared[p->nprepared++] = sql;
        }
    }
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
    if (res && es == PGRES_TUPLES_OK) {
        size_t nr = (size_t)PQntuples(r), nc = (size_t)PQnfields(r);
        if (nr && nc) {
            res->cells = cs_calloc(nr * nc, sizeof *res->cells);
            if (!res->cells) {
                PQclear(r);
                return CS_ENOMEM;
            }
        }
        res->nrows = nr;
        res->ncols = nc;
        for (size_t i = 0; i < nr; i++)
            for (size_t j = 0; j < nc; j++) {
                if (PQgetisnull(r, (int)i, (int)j))
                    continue;
                char *v = cs_strdup(PQgetvalue(r, (int)i, (int)j));
                if (!v) {
                    PQclear(r);
                    cs__tres_free(res);
                    return CS_ENOMEM;
                }
                res->cells[i * nc + j] = v;
            }
    }
    PQclear(r);
    return CS_OK;
}

static const cs__tdb_ops PG_OPS = {pg_exec, pg_retryable, pg_close};

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
