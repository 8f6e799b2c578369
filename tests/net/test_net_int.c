/* test_net_int.c - the helpers the two fetchers share (src/net/net_int.h):
 * jittered exponential backoff honouring Retry-After, and header matching. */
#include "test.h"
#include "net/net_int.h"

TEST(backoff_doubles_caps_jitters_and_honours_retry_after)
{
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    double lo = 1e9, hi = 0;
    for (int i = 0; i < 2000; i++) {
        double u = cs__rand01(&rng);
        ASSERT(u >= 0 && u < 1);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    ASSERT(lo < 0.01 && hi > 0.99); /* spread over the interval */
    for (int tries = 1; tries <= 40; tries++) {
        double base = 0.5 * (double)(1u << (tries - 1 < 30 ? tries - 1 : 30));
        if (base > 20)
            base = 20;
        double d = cs__backoff(&rng, tries, 0.5, 20, 200, -1, 60);
        ASSERT(d >= 0.75 * base && d < 1.25 * base);
    }
    /* Retry-After counts for 429 and 503 only, capped at retry_after_max */
    ASSERT(cs__backoff(&rng, 1, 1, 30, 429, 45, 60) == 45);
    ASSERT(cs__backoff(&rng, 1, 1, 30, 503, 500, 60) == 60);
    ASSERT(cs__backoff(&rng, 1, 1, 30, 500, 45, 60) < 1.25);
    /* a Retry-After shorter than the backoff does not shorten it */
    double d = cs__backoff(&rng, 5, 1, 30, 429, 0, 60);
    ASSERT(d >= 12 && d < 20);
}

TEST(header_is_matches_the_name_and_trims_the_value)
{
    cs_slice v;
    static const char line[] = "retry-after:  120 \r\n";
    ASSERT(cs__header_is(line, sizeof line - 1, "Retry-After", &v));
    ASSERT_MEM_EQ(v.ptr, v.len, "120", 3);
    static const char empty[] = "Location:\r\n";
    ASSERT(cs__header_is(empty, sizeof empty - 1, "Location", &v));
    ASSERT_UEQ(v.len, 0);
    ASSERT(!cs__header_is(line, sizeof line - 1, "Retry", &v));
    ASSERT(!cs__header_is("Retry-After", 11, "Retry-After", &v));
    ASSERT(!cs__header_is("Retry-After-X: 1", 16, "Retry-After", &v));
}
