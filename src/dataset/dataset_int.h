/* dataset_int.h - private helpers shared by the dataset module's files. */
#ifndef CS_DATASET_INT_H
#define CS_DATASET_INT_H

#include <stdatomic.h>
#include <stddef.h>

#include "crawlset/util.h"
#include "util/utf8.h" /* cs__utf8_seq */

/* ---- HTTP PUT output (put.c) ---------------------------------------------------- */

typedef struct cs__put {
    char *base;        /* URL without a trailing slash (owned) */
    unsigned retries;  /* extra attempts per request */
    long timeout_ms;   /* per request */
    _Atomic unsigned long requests, retried; /* counters (any thread) */
} cs__put;

/* Sends the local file to base/rel with PUT (2xx = done), retrying on
 * connection errors, 408, 429 and 5xx with exponential backoff. errmsg
 * (CS_ERRMSG_MAX bytes) says why on failure (CS_ENET, CS_EHTTP, CS_EIO). */
cs_status cs__put_file(cs__put *p, const char *local, const char *rel, char *errmsg);
/* HEAD base/rel: *exists is true for 2xx, false for 404/410 (and other
 * 4xx); CS_ENET / CS_EHTTP with errmsg when it cannot tell. */
cs_status cs__put_exists(cs__put *p, const char *rel, bool *exists, char *errmsg);
/* DELETE base/rel; a 4xx answer (404: nothing there) counts as done. */
cs_status cs__put_delete(cs__put *p, const char *rel, char *errmsg);

#endif
