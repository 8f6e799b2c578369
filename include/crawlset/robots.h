/* crawlset/robots.h - robots.txt (RFC 9309, the Robots Exclusion Protocol):
 * parsing a file into groups of rules and asking whether a crawler may fetch
 * a path.
 *
 * What the parser accepts (RFC 9309 section 2, plus the leniencies every
 * major crawler has, each on the side of honouring the site's intent):
 * - UTF-8 with or without a byte order mark (a cut-off BOM prefix is skipped
 *   too); UTF-16 LE/BE files with a BOM are transcoded to UTF-8 first.
 * - Lines end with CR, LF or CR LF; '#' starts a comment anywhere.
 * - "name: value" records, name case-insensitive, blanks around ':' allowed;
 *   a missing ':' is accepted after a known name followed by blanks
 *   ("disallow /x"), and so are a few common misspellings ("useragent",
 *   "user agent", "dissallow", "disalow", ...).
 * - Groups: one or more consecutive user-agent lines followed by rules.
 *   Blank lines, comments and other records (crawl-delay, sitemap, unknown
 *   names) neither start nor end a group; a user-agent line after a rule
 *   starts a new group. Rules before the first user-agent line are ignored.
 * - Only the first 500 KiB (CS_ROBOTS_MAX_BYTES) are parsed; the rest is
 *   ignored, as RFC 9309 section 2.5 allows.
 *
 * Matching (section 2.2): the groups whose user-agent matches the crawler's
 * product token (case-insensitive; a line's value is cut at the first
 * character that cannot be in a product token - letters, '-', '_' - so
 * "Googlebot/2.1" names "googlebot") are merged; if none match, the "*"
 * groups are used; if there are none, everything is allowed. Among the rules
 * that match the path, the one with the longest pattern (in octets, after
 * normalisation) wins, and "allow" wins a tie. '*' matches any run of
 * octets, '$' at the end of a pattern anchors it to the end of the path.
 * The matcher applies the rules to "/robots.txt" like any path; fetching
 * robots.txt itself is never checked (the fetcher's job, RFC 9309 2.2.2).
 *
 * Percent-encoding (section 2.2.2): patterns have octets outside printable
 * US-ASCII percent-encoded, and every %xx escape in patterns and paths has its
 * hex digits upper-cased, before comparing. Escapes are not decoded
 * ("%62" does not match "b"), and the path is otherwise compared as given:
 * pass it percent-encoded as it goes on the wire (the fetcher does).
 *
 * Hand-written: Google's robotstxt library is C++ (and Google-specific in
 * places), and no packaged C library implements RFC 9309. Depends on: util. */
#ifndef CRAWLSET_ROBOTS_H
#define CRAWLSET_ROBOTS_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_ROBOTS_MAX_BYTES (500u * 1024u) /* bytes of a file that are parsed */

typedef struct cs_robots cs_robots;

/* Parses data[0..len) (any bytes; not NUL-terminated) into a new object,
 * freed with cs_robots_free. Never fails on content: junk lines are skipped
 * and an empty or junk file allows everything. CS_ENOMEM only. */
CS_API CS_WARN_UNUSED cs_status cs_robots_parse(const char *data, size_t len,
                                                cs_robots **out /* OUT */);
/* Frees r; NULL does nothing. */
CS_API void cs_robots_free(cs_robots *r);

/* May a crawler whose product token is `agent` (NUL-terminated, e.g.
 * "crawlset") fetch path[0..len)? path is the path and query of the URL
 * ("/a/b?c=d"), percent-encoded; an empty path means "/". r NULL allows. */
CS_API bool cs_robots_allowed(const cs_robots *r, const char *agent, const char *path,
                              size_t len);

/* The same for a whole URL url[0..len): its path and query are matched
 * (no path counts as "/"; the fragment is dropped). */
CS_API bool cs_robots_allowed_url(const cs_robots *r, const char *agent, const char *url,
                                  size_t len);

/* The crawl-delay of the groups that apply to `agent` in seconds (the
 * largest if several merge), or -1 when none is given. Not part of RFC 9309;
 * honoured by the fetcher when asked. */
CS_API double cs_robots_crawl_delay(const cs_robots *r, const char *agent);

/* Counts for reports and tests. */
typedef struct cs_robots_info {
    size_t groups;     /* groups (a group may name several agents) */
    size_t agents;     /* user-agent values */
    size_t rules;      /* allow/disallow rules kept (empty patterns are dropped) */
    size_t bytes;      /* bytes parsed (at most CS_ROBOTS_MAX_BYTES) */
    bool truncated;    /* the input was longer than CS_ROBOTS_MAX_BYTES */
} cs_robots_info;

CS_API void cs_robots_info_get(const cs_robots *r, cs_robots_info *out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
