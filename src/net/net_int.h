/* net_int.h - private helpers shared by the net module's two fetchers
 * (fetch.c, the polite web fetcher; ccfetch.c, Common Crawl ranges):
 * jittered exponential backoff that honours Retry-After, the random numbers
 * behind the jitter, and matching a response header line. */
#ifndef CS_NET_INT_H
#define CS_NET_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "crawlset/util.h"

/* Uniform in [0, 1) from a xorshift64 state (never 0). */
static inline double cs__rand01(uint64_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (double)(*rng >> 11) / 9007199254740992.0;
}

/* Seconds to wait after attempt number `tries` (>= 1) failed: delay doubled
 * per attempt up to max_delay, times a jitter in [0.75, 1.25) so requests
 * that failed together do not retry together; at least the server's
 * Retry-After (seconds, < 0 = none; capped at retry_after_max) when the
 * status was 429 or 503. */
static inline double cs__backoff(uint64_t *rng, int tries, double delay, double max_delay,
                                 long status, double retry_after, double retry_after_max)
{
    int k = tries - 1 < 30 ? tries - 1 : 30;
    double d = delay * (double)(1u << k);
    if (d > max_delay)
        d = max_delay;
    d *= 0.75 + 0.5 * cs__rand01(rng);
    if (retry_after >= 0 && (status == 429 || status == 503)) {
        double ra = retry_after < retry_after_max ? retry_after : retry_after_max;
        if (ra > d)
            d = ra;
    }
    return d;
}

/* Is the header line [p, p+n) "name: value" (name case-insensitive)? Then
 * *val is the value without surrounding white space (a CRLF included). */
static inline bool cs__header_is(const char *p, size_t n, const char *name, cs_slice *val)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
        return false;
    *val = cs_slice_trim((cs_slice){p + k + 1, n - k - 1});
    return true;
}

#endif
