/* dashboard.c - the tracker's read-only pages: / (HTML overview), /data
 * (the same as JSON), /worker/<type>/<name>, /metrics (Prometheus text). */
#include <stdio.h>
#include <string.h>

#include "tracker/server_int.h"

cs_status cs__tracker_dashboard(cs_tracker *t, const char *path, const char *query,
                                cs_tracker_response *r)
{
    (void)query;
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
    return cs__tracker_text(r, 404, "no such page");
}
