/* dataset_int.h - private helpers shared by the dataset module's files. */
#ifndef CS_DATASET_INT_H
#define CS_DATASET_INT_H

#include <stdatomic.h>
#include <stddef.h>

#include "crawlset/util.h"

/* Length of the valid UTF-8 sequence starting at p (n bytes available), or
 * 0 when it is not valid (overlong, surrogate, past U+10FFFF, cut off). */
static inline size_t cs__utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

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
