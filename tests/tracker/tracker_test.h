/* tracker_test.h - helpers shared by the tracker tests: stores of both kinds,
 * calls through the pure handler, tiny JSON field readers. */
#ifndef CS_TRACKER_TEST_H
#define CS_TRACKER_TEST_H

#include <jansson.h>

#include "test.h"
#include "tracker/pg.h"

/* Runs fn once against a fresh SQLite file and once against a fresh
 * PostgreSQL database: TEST(name_sqlite) and TEST(name_pg). */
#define TRACKER_TEST_T(name, timeout)                                                     \
    static void body_##name(const char *db);                                              \
    TEST_T(name##_sqlite, timeout)                                                        \
    {                                                                                     \
        static char p[600];                                                               \
        snprintf(p, sizeof p, "%s/tracker.db", cs_test_tmpdir());                         \
        body_##name(p);                                                                   \
    }                                                                                     \
    TEST_T(name##_pg, timeout) { body_##name(cs_test_pg_url()); }                         \
    static void body_##name(const char *db)
#define TRACKER_TEST(name) TRACKER_TEST_T(name, 0)

static inline cs_tracker *tt_open(const char *db, double idle, unsigned threshold)
{
    cs_tracker_options o = {0};
    o.db = db;
    o.idle_timeout = idle;
    o.invalid_threshold = threshold;
    o.upload_address = "rsync://up.example/";
    o.admin_key = "sekrit";
    char err[256] = "";
    cs_tracker *t = NULL;
    cs_status st = cs_tracker_new(&o, &t, err, sizeof err);
    if (st)
        FAIL("cs_tracker_new(%s): %s: %s", db, cs_status_name(st), err);
    return t;
}

typedef struct tt_resp {
    int status;
    char body[4096];
} tt_resp;

static inline tt_resp tt_call(cs_tracker *t, const char *method, const char *path,
                              const char *query, const char *body)
{
    tt_resp out;
    cs_tracker_response r;
    ASSERT_OK(cs_tracker_handle(t, method, path, query, body ? body : "",
                                body ? strlen(body) : 0, &r));
    out.status = r.status;
    snprintf(out.body, sizeof out.body, "%s", r.body ? r.body : "");
    ASSERT(r.body && strlen(r.body) == r.body_len);
    ASSERT(r.content_type);
    cs_tracker_response_cleanup(&r);
    return out;
}

/* A string field of a JSON object body (static buffer) or NULL. */
static inline const char *tt_json_str(const char *body, const char *key)
{
    static char buf[4][2048];
    static int i;
    json_t *j = json_loads(body, 0, NULL);
    const char *v = j ? json_string_value(json_object_get(j, key)) : NULL;
    char *b = buf[i++ & 3];
    snprintf(b, 2048, "%s", v ? v : "");
    json_decref(j);
    return v ? b : NULL;
}

static inline long long tt_json_int(const char *body, const char *key)
{
    json_t *j = json_loads(body, 0, NULL);
    json_t *v = j ? json_object_get(j, key) : NULL;
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

/* Registers a worker; returns its token (static buffer, 4 in rotation). */
static inline const char *tt_worker(cs_tracker *t, const char *nick, const char *type)
{
    static char tok[4][64];
    static int i;
    char q[256];
    snprintf(q, sizeof q, "nickname=%s&type=%s", nick, type);
    tt_resp r = tt_call(t, "GET", "/api/new", q, NULL);
    ASSERT_EQ(r.status, 200);
    const char *v = tt_json_str(r.body, "token");
    ASSERT(v && strlen(v) == 32);
    char *b = tok[i++ & 3];
    snprintf(b, 64, "%s", v);
    return b;
}

/* POSTs {"token":tok,"type":type EXTRA} to /api/CALL. extra starts with ','
 * or is "". */
static inline tt_resp tt_post(cs_tracker *t, const char *call, const char *tok, const char *type,
                              const char *extra)
{
    char path[64], body[2048];
    snprintf(path, sizeof path, "/api/%s", call);
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"type\":\"%s\"%s}", tok, type, extra);
    return tt_call(t, "POST", path, NULL, body);
}

#endif
