/* fuzz_robots.c - libFuzzer target for the crawl policies read from
 * untrusted text: robots.txt (cs_robots_parse on the input, then questions
 * whose agent and path come from the input itself - its first line split at
 * the first space - so the matcher sees wildcard-heavy patterns against
 * related paths) and the fetcher's header checks (X-Robots-Tag values,
 * Content-Type against an accept list, Retry-After) on the first line.
 * Checks: parsing never fails except on memory; the answer is the same with
 * a UTF-8 BOM in front. */
#include <string.h>

#include "fuzz.h"
#include "crawlset/fetch.h"
#include "crawlset/robots.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c))                                                                         \
            __builtin_trap();                                                             \
    } while (0)

CS_FUZZ_TARGET(robots)
{
    cs_robots *r = NULL;
    if (cs_robots_parse((const char *)data, size, &r) != CS_OK)
        return 0;
    cs_robots_info info;
    cs_robots_info_get(r, &info);
    CHECK(info.bytes <= CS_ROBOTS_MAX_BYTES);

    /* agent and path from the first line: "agent path" */
    char agent[64] = "crawlset";
    const char *path = "/";
    size_t plen = 1;
    const char *nl = memchr(data, '\n', size);
    size_t l1 = nl ? (size_t)(nl - (const char *)data) : size;
    const char *sp = memchr(data, ' ', l1);
    if (sp) {
        size_t al = (size_t)(sp - (const char *)data);
        if (al < sizeof agent) {
            memcpy(agent, data, al);
            agent[al] = 0;
        }
        path = sp + 1;
        plen = l1 - al - 1;
    }
    bool a = cs_robots_allowed(r, agent, path, plen);
    (void)cs_robots_allowed(r, "*", path, plen);
    (void)cs_robots_allowed(r, "", (const char *)data, size);
    (void)cs_robots_allowed_url(r, agent, (const char *)data, l1);
    (void)cs_robots_crawl_delay(r, agent);

    /* the header checks on the first line */
    (void)cs_fetch_x_robots_opt_out((const char *)data, l1, agent, NULL);
    (void)cs_fetch_x_robots_opt_out((const char *)data, l1, "crawlset", "noai,none,");
    char ct[256];
    size_t cl = l1 < sizeof ct - 1 ? l1 : sizeof ct - 1;
    memcpy(ct, data, cl);
    ct[cl] = 0;
    (void)cs_fetch_type_accepted(ct, "image/*,text/html, *");
    (void)cs_fetch_type_accepted(ct, ct);
    double ra = cs_fetch_parse_retry_after((const char *)data, l1);
    CHECK(ra == -1 || ra >= 0);

    /* the same bytes after a UTF-8 BOM give the same answer (when the input
     * does not itself start with a BOM byte or a UTF-16 BOM) */
    if (size < 4096 && size > 0 && data[0] != 0xEF && data[0] != 0xFF && data[0] != 0xFE &&
        !info.truncated) {
        uint8_t *b = cs_malloc(size + 3);
        if (b) {
            b[0] = 0xEF;
            b[1] = 0xBB;
            b[2] = 0xBF;
            memcpy(b + 3, data, size);
            cs_robots *r2 = NULL;
            if (cs_robots_parse((const char *)b, size + 3, &r2) == CS_OK) {
                CHECK(cs_robots_allowed(r2, agent, path, plen) == a);
                cs_robots_free(r2);
            }
            cs_free(b);
        }
    }
    cs_robots_free(r);
    return 0;
}
