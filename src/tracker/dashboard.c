/* dashboard.c - the tracker's read-only pages: / (HTML overview: jobs per
 * stage, workers with their last progress and last-seen time, leaderboard),
 * /worker/<type>/<display_name>, /data (the same as JSON) and /metrics
 * (Prometheus text format). All of them read the store's status JSON, so
 * the page, the JSON and the metrics always agree. */
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tracker/server_int.h"

static const char *const STAGE_NAMES[CS__TSTAGES + 1] = {"", "CPU (stage 1)", "GPU (stage 2)",
                                                         "stage 3", "stage 4", "stage 5"};

static void html_esc(cs_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': cs_buf_puts(b, "&lt;"); break;
        case '>': cs_buf_puts(b, "&gt;"); break;
        case '&': cs_buf_puts(b, "&amp;"); break;
        case '"': cs_buf_puts(b, "&quot;"); break;
        case '\'': cs_buf_puts(b, "&#39;"); break;
        default: cs_buf_putc(b, *s);
        }
    }
}

/* Percent-encodes a path segment. */
static void url_esc(cs_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            cs_buf_putc(b, (char)c);
        else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            cs_buf_append(b, e, 3);
        }
    }
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}
static long long jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void ago(cs_buf *b, double s)
{
    if (s < 0)
        s = 0;
    if (s < 120)
        cs_buf_printf(b, "%.0f s ago", s);
    else if (s < 7200)
        cs_buf_printf(b, "%.0f min ago", s / 60);
    else
        cs_buf_printf(b, "%.1f h ago", s / 3600);
}

/* Loads the status JSON; on failure fills r with a 500 and returns NULL. */
static json_t *load_status(cs_tracker *t, cs_tracker_response *r, cs_status *st)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    *st = cs_tracker_store_status_json(t->store, &b);
    if (*st) {
        cs_buf_cleanup(&b);
        if (*st != CS_ENOMEM)
            *st = cs__tracker_text(r, 500, "store error: %s", cs_tracker_store_errmsg());
        return NULL;
    }
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    cs_buf_cleanup(&b);
    if (!j)
        *st = CS_ENOMEM; /* our own JSON: only memory can make it fail */
    return j;
}

static const char *CSS =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}"
    "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.5em}"
    "table{border-collapse:collapse;margin:.5em 0;background:#fff}"
    "td,th{border:1px solid #ccc;padding:.3em .8em;text-align:left}"
    "th{background:#2d5d8a;color:#fff}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".bar{display:inline-block;height:.8em;background:#3c8d40}";

static void page_head(cs_buf *b, const char *title)
{
    cs_buf_puts(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"refresh\" content=\"15\"><title>");
    html_esc(b, title);
    cs_buf_printf(b, "</title><style>%s</style></head><body>\n<h1>", CSS);
    html_esc(b, title);
    cs_buf_puts(b, "</h1>\n");
}

static cs_status page_index(cs_tracker *t, cs_tracker_response *r)
{
    cs_status st;
    json_t *j = load_status(t, r, &st);
    if (!j)
        return st;
    cs_buf b;
    cs_buf_init(&b, 0);
    page_head(&b, "crawlset tracker");
    json_t *tot = json_object_get(j, "totals");
    long long all = jint(tot, "open") + jint(tot, "leased") + jint(tot, "done");
    cs_buf_printf(&b,
                  "<p id=\"summary\">%lld jobs: %lld open, %lld leased, %lld done "
                  "(%.1f%%); %lld workers connected.</p>\n",
                  all, jint(tot, "open"), jint(tot, "leased"), jint(tot, "done"),
                  all ? 100.0 * (double)jint(tot, "done") / (double)all : 0.0,
                  jint(tot, "workers"));
    cs_buf_puts(&b, "<h2>Jobs</h2>\n<table id=\"jobs\"><tr><th>stage</th><th>open</th>"
                    "<th>leased</th><th>done</th><th>progress</th></tr>\n");
    json_t *jobs = json_object_get(j, "jobs");
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        json_t *s = json_array_get(jobs, i);
        long long o = jint(s, "open"), l = jint(s, "leased"), d = jint(s, "done");
        long long stage = jint(s, "stage");
        if (stage > 2 && !o && !l && !d)
            continue; /* unused generic stages */
        cs_buf_printf(&b,
                      "<tr><td>%s</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                      "<td class=\"n\">%lld</td><td><span class=\"bar\" style=\"width:%dpx\">"
                      "</span></td></tr>\n",
                      STAGE_NAMES[stage >= 1 && stage <= CS__TSTAGES ? stage : 0], o, l, d,
                      all ? (int)(200 * d / all) : 0);
    }
    cs_buf_puts(&b, "</table>\n<h2>Leaderboard</h2>\n<table id=\"leaderboard\"><tr><th>#</th>"
                    "<th>nickname</th><th>jobs</th><th>pairs</th></tr>\n");
    json_t *lb = json_object_get(j, "leaderboard");
    for (size_t i = 0; i < json_array_size(lb); i++) {
        json_t *e = json_array_get(lb, i);
        cs_buf_printf(&b, "<tr><td class=\"n\">%zu</td><td>", i + 1);
        html_esc(&b, jstr(e, "nickname"));
        cs_buf_printf(&b, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>\n",
                      jint(e, "jobs"), jint(e, "pairs"));
    }
    cs_buf_puts(&b, "</table>\n<h2>Workers</h2>\n<table id=\"workers\"><tr><th>worker</th>"
                    "<th>type</th><th>nickname</th><th>job</th><th>jobs done</th>"
                    "<th>progress</th><th>last seen</th></tr>\n");
    json_t *ws = json_object_get(j, "workers");
    for (size_t i = 0; i < json_array_size(ws); i++) {
        json_t *w = json_array_get(ws, i);
        cs_buf_puts(&b, "<tr><td><a href=\"/worker/");
        url_esc(&b, jstr(w, "type"));
        cs_buf_putc(&b, '/');
        url_esc(&b, jstr(w, "display_name"));
        cs_buf_puts(&b, "\">");
        html_esc(&b, jstr(w, "display_name"));
        cs_buf_puts(&b, "</a></td><td>");
        html_esc(&b, jstr(w, "type"));
        cs_buf_puts(&b, "</td><td>");
        html_esc(&b, jstr(w, "nickname"));
        long long job = jint(w, "job");
        if (job)
            cs_buf_printf(&b, "</td><td class=\"n\">%lld", job);
        else
            cs_buf_puts(&b, "</td><td>-");
        cs_buf_printf(&b, "</td><td class=\"n\">%lld</td><td>", jint(w, "jobs_done"));
        html_esc(&b, jstr(w, "progress"));
        cs_buf_puts(&b, "</td><td>");
        ago(&b, json_real_value(json_object_get(w, "seen_ago_s")));
        cs_buf_puts(&b, "</td></tr>\n");
    }
    cs_buf_puts(&b, "</table>\n<p><a href=\"/data\">JSON</a> · <a href=\"/metrics\">metrics</a>"
                    "</p>\n</body></html>\n");
    json_decref(j);
    if (!b.data) {
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    return cs__tracker_take(r, 200, "text/html; charset=utf-8", &b);
}

static cs_status page_worker(cs_tracker *t, const char *rest, cs_tracker_response *r)
{
    /* rest = "<type>/<display_name>" (already percent-decoded by the server) */
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1])
        return cs__tracker_text(r, 404, "no such worker (want /worker/<type>/<name>)");
    char type[16];
    size_t tl = (size_t)(slash - rest);
    if (tl >= sizeof type)
        return cs__tracker_text(r, 404, "no such worker");
    memcpy(type, rest, tl);
    type[tl] = 0;
    for (char *p = type; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    const char *params[2] = {type, slash + 1};
    cs__tres res;
    cs_status st = cs__tstore_query(t->store,
                                    "SELECT display_name, nickname, type, progress, last_seen,"
                                    " job, jobs_done, created FROM workers"
                                    " WHERE type = $1 AND display_name = $2",
                                    params, 2, &res);
    if (st)
        return st == CS_ENOMEM
                   ? st
                   : cs__tracker_text(r, 500, "store error: %s", cs_tracker_store_errmsg());
    if (!res.nrows) {
        cs__tres_free(&res);
        return cs__tracker_text(r, 404, "no such worker (it may have left or timed out)");
    }
    cs_buf b;
    cs_buf_init(&b, 0);
    const char *name = cs__tres_get(&res, 0, 0);
    page_head(&b, name ? name : "");
    int64_t now = cs__tnow_ms();
    const char *seen = cs__tres_get(&res, 0, 4), *created = cs__tres_get(&res, 0, 7);
    const char *job = cs__tres_get(&res, 0, 5);
    static const char *const labels[] = {"nickname", "type", "progress"};
    cs_buf_puts(&b, "<table id=\"worker\">\n");
    for (size_t k = 0; k < 3; k++) {
        cs_buf_printf(&b, "<tr><th>%s</th><td>", labels[k]);
        html_esc(&b, cs__tres_get(&res, 0, k + 1));
        cs_buf_puts(&b, "</td></tr>\n");
    }
    cs_buf_puts(&b, "<tr><th>job</th><td>");
    html_esc(&b, job ? job : "-");
    cs_buf_puts(&b, "</td></tr>\n<tr><th>jobs done</th><td>");
    html_esc(&b, cs__tres_get(&res, 0, 6));
    cs_buf_puts(&b, "</td></tr>\n<tr><th>last seen</th><td>");
    ago(&b, seen ? (double)(now - strtoll(seen, NULL, 10)) / 1000.0 : 0);
    cs_buf_puts(&b, "</td></tr>\n<tr><th>joined</th><td>");
    ago(&b, created ? (double)(now - strtoll(created, NULL, 10)) / 1000.0 : 0);
    cs_buf_puts(&b, "</td></tr>\n</table>\n<p><a href=\"/\">back</a></p>\n</body></html>\n");
    cs__tres_free(&res);
    if (!b.data) {
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    return cs__tracker_take(r, 200, "text/html; charset=utf-8", &b);
}

static cs_status page_metrics(cs_tracker *t, cs_tracker_response *r)
{
    cs_status st;
    json_t *j = load_status(t, r, &st);
    if (!j)
        return st;
    static const char *const states[] = {"open", "leased", "done"};
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_puts(&b, "# HELP crawlset_tracker_jobs Jobs by stage and state.\n"
                    "# TYPE crawlset_tracker_jobs gauge\n");
    json_t *jobs = json_object_get(j, "jobs");
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        json_t *s = json_array_get(jobs, i);
        for (size_t k = 0; k < 3; k++)
            cs_buf_printf(&b, "crawlset_tracker_jobs{stage=\"%lld\",state=\"%s\"} %lld\n",
                          jint(s, "stage"), states[k], jint(s, states[k]));
    }
    cs_buf_printf(&b,
                  "# HELP crawlset_tracker_workers Workers connected.\n"
                  "# TYPE crawlset_tracker_workers gauge\n"
                  "crawlset_tracker_workers %lld\n",
                  jint(json_object_get(j, "totals"), "workers"));
    json_decref(j);
    uint64_t set_batches, split_batches;
    cs__tstore_batch_counts(t->store, &set_batches, &split_batches);
    struct {
        const char *name, *help;
        uint64_t v;
    } counters[] = {
        {"requests_total", "HTTP requests handled.", atomic_load(&t->requests)},
        {"jobs_leased_total", "Jobs handed out.", atomic_load(&t->leased)},
        {"jobs_completed_total", "Job completions accepted.", atomic_load(&t->completed)},
        {"workers_timed_out_total", "Workers removed by the idle sweep.",
         atomic_load(&t->timed_out)},
        {"store_errors_total", "Store failures (answered 500).", atomic_load(&t->store_errors)},
        {"store_set_batches_total",
         "newJob/markAsDone batches committed as set statements (PostgreSQL).", set_batches},
        {"store_split_batches_total",
         "Batches that failed as a whole and ran again one call at a time.", split_batches},
    };
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++)
        cs_buf_printf(&b,
                      "# HELP crawlset_tracker_%s %s\n# TYPE crawlset_tracker_%s counter\n"
                      "crawlset_tracker_%s %llu\n",
                      counters[i].name, counters[i].help, counters[i].name, counters[i].name,
                      (unsigned long long)counters[i].v);
    cs_buf_puts(&b, "# HELP crawlset_tracker_responses_total HTTP responses by status class.\n"
                    "# TYPE crawlset_tracker_responses_total counter\n");
    for (int c = 1; c <= 5; c++)
        cs_buf_printf(&b, "crawlset_tracker_responses_total{class=\"%dxx\"} %llu\n", c,
                      (unsigned long long)atomic_load(&t->by_class[c]));
    if (!b.data) {
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    return cs__tracker_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

cs_status cs__tracker_dashboard(cs_tracker *t, const char *path, const char *query,
                                cs_tracker_response *r)
{
    (void)query;
    if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
        return page_index(t, r);
    if (!strcmp(path, "/data")) {
        cs_buf b;
        cs_buf_init(&b, 0);
        cs_status st = cs_tracker_store_status_json(t->store, &b);
        if (st) {
            cs_buf_cleanup(&b);
            if (st == CS_ENOMEM)
                return st;
            return cs__tracker_text(r, 500, "store error: %s", cs_tracker_store_errmsg());
        }
        return cs__tracker_take(r, 200, "application/json", &b);
    }
    if (!strcmp(path, "/metrics"))
        return page_metrics(t, r);
    if (!strncmp(path, "/worker/", 8))
        return page_worker(t, path + 8, r);
    return cs__tracker_text(r, 404, "no such page");
}
