/* crawlset/url.h - RFC 3986 URI references: splitting into components and
 * resolving a reference against a base URI (section 5.2, with
 * remove_dot_segments).
 *
 * This is the generic syntax of RFC 3986, not the WHATWG URL parser: no
 * percent-encoding, case or IDNA normalisation, backslashes are ordinary
 * data, and "http:g" resolves strictly to "http:g". Inputs are borrowed
 * (pointer, length) slices, never assumed NUL-terminated; nothing here
 * allocates.
 *
 * Hand-written rather than taken from a library: liburiparser (Debian
 * liburiparser1) implements the same RFC but parses each URI into a malloc'd
 * segment list and allocates the result, and libcurl's CURLU
 * normalises and rejects much of what real pages put in href. Link
 * extraction resolves millions of hrefs per WAT file into one reused
 * buffer, and section 5.2 is about 150 lines of C. */
#ifndef CRAWLSET_URL_H
#define CRAWLSET_URL_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The five components of a URI reference (RFC 3986 section 3 / Appendix B).
 * Slices point into the string that was split. A component that is absent
 * has has_* false (an empty query "x?" is present with length 0). */
typedef struct cs_url_parts {
    cs_slice scheme;     /* without the ':' */
    cs_slice authority;  /* without the leading "//" */
    cs_slice path;       /* always present, possibly empty */
    cs_slice query;      /* without the '?' */
    cs_slice fragment;   /* without the '#' */
    bool has_scheme;
    bool has_authority;
    bool has_query;
    bool has_fragment;
} cs_url_parts;

/* Splits s[0..n) into components. A would-be scheme that is not
 * ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) makes the whole prefix part of
 * the path (a relative reference), as RFC 3986 section 4.2 requires. Never
 * fails; the input is not trimmed. */
CS_API void cs_url_split(const char *s, size_t n, cs_url_parts *out /* OUT */);

/* The out buffer cs_url_resolve needs for a base of blen bytes and a
 * reference of rlen bytes: room for the result (at most blen + rlen + 8
 * bytes with the NUL) and scratch for cleaned copies of the inputs. */
#define CS_URL_RESOLVE_MAX(blen, rlen) (2 * ((size_t)(blen) + (size_t)(rlen)) + 16)

/* Resolves the reference ref[0..rlen) against base[0..blen) (RFC 3986
 * section 5.2.2, strict) and writes the target URI, NUL-terminated, to
 * out[0..cap); *out_len gets its length. Before resolving, leading and
 * trailing spaces and C0 controls are trimmed from both strings and ASCII
 * TAB, LF and CR removed inside them (as HTML attribute values and the URL
 * standard do); nothing else is changed.
 *
 * base may be NULL/empty when ref is absolute. Errors: CS_EINVAL when the
 * result would not be an absolute URI (ref is relative and base has no
 * valid scheme), CS_ETOOBIG when cap < CS_URL_RESOLVE_MAX(blen, rlen).
 * The contents of out are unspecified after an error. */
CS_API CS_WARN_UNUSED cs_status cs_url_resolve(const char *base, size_t blen, const char *ref,
                                               size_t rlen, char *out, size_t cap,
                                               size_t *out_len /* OUT */);

/* A base URI split once, for resolving many references against it (the
 * links of one page). */
typedef struct cs_url_base {
    cs_url_parts parts; /* components of s */
    const char *s;      /* the base (borrowed) */
    size_t len;
} cs_url_base;

/* Writes s[0..n) to out (n bytes of room) with leading and trailing spaces
 * and C0 controls trimmed and TAB, LF, CR removed inside: the cleaning that
 * cs_url_resolve() applies to its inputs, and nothing more (no dot-segment
 * removal). Returns the length written. out may equal s. */
CS_API size_t cs_url_clean(const char *s, size_t n, char *out);

/* Prepares b from s[0..n), which must already be clean: an absolute URI
 * without surrounding spaces or controls and without TAB/LF/CR (what
 * cs_url_clean() or cs_url_resolve() writes). Resolving against it then
 * gives exactly what cs_url_resolve() gives against the uncleaned base. s
 * is borrowed for as long as b is used. CS_EINVAL when s has no valid
 * scheme. */
CS_API CS_WARN_UNUSED cs_status cs_url_base_init(cs_url_base *b /* OUT */, const char *s,
                                                 size_t n);

/* cs_url_resolve() against a prepared base (NULL: only absolute references
 * resolve), for batches. *res gets the target: when the cleaned reference
 * is already the answer (an absolute URI with no dot segments) it points
 * into ref and nothing is copied; otherwise it points into out and is
 * NUL-terminated. cap must be at least CS_URL_RESOLVE_MAX(b->len, rlen).
 * Errors as cs_url_resolve(). */
CS_API CS_WARN_UNUSED cs_status cs_url_resolve_with(const cs_url_base *b, const char *ref,
                                                    size_t rlen, char *out, size_t cap,
                                                    cs_slice *res /* OUT */);

/* Applies remove_dot_segments (RFC 3986 section 5.2.4) to path[0..n),
 * writing at most n bytes to out (which may equal path); returns the new
 * length. */
CS_API size_t cs_url_remove_dot_segments(const char *path, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
