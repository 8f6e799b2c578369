/* crawlset/wat.h - links and image candidates from Common Crawl WAT records,
 * and plain text from WET records.
 *
 * A WAT file is a WARC file of `metadata` records whose block is one JSON
 * object per record of the crawl (request, response, metadata), written by
 * ia-web-commons:
 *
 *   {"Container":{...},
 *    "Envelope":{"WARC-Header-Metadata":{"WARC-Type":"response",
 *                                        "WARC-Target-URI":"https://..."},
 *                "Payload-Metadata":{"HTTP-Response-Metadata":{
 *                  "HTML-Metadata":{"Head":{"Title":"...","Base":"...",
 *                                           "Link":[{"path":"LINK@/href",...}]},
 *                                   "Links":[{"path":"A@/href","url":"/x",
 *                                             "text":"anchor"},
 *                                            {"path":"IMG@/src","url":"a.jpg",
 *                                             "alt":"a dog"}]}}}}}
 *
 * Key order is not fixed (the target URI often comes after the links), so
 * cs_wat_extract() reads the whole object before delivering any link. Link
 * URLs are resolved (RFC 3986, crawlset/url.h) against Head.Base, itself
 * resolved against the target URI, or else against the target URI.
 *
 * A WET file is a WARC file of `conversion` records whose block is the
 * page's text; cs_wet_doc_from() picks out what a text pipeline needs. */
#ifndef CRAWLSET_WAT_H
#define CRAWLSET_WAT_H

#include "crawlset/util.h"
#include "crawlset/warc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- WAT --------------------------------------------------------------- */

typedef struct cs_wat_opts {
    bool images_only;   /* deliver only image candidates (cs_wat_is_image) */
    bool head_links;    /* also deliver Head.Link[] entries (LINK@/href), first */
    bool strict;        /* a WAT member of an unexpected JSON type (Links not an
                           array, url not a string, ...) is an error; by default
                           it is ignored like an absent member */
    unsigned max_depth; /* JSON nesting limit; 0 = 512 */
} cs_wat_opts;

/* What the record says about the page. Slices are not NUL-terminated; a
 * member that is absent has ptr == NULL. They point into the JSON block,
 * into record_target_uri or into the arena, and stay valid until the
 * arena is reset and while the block and record_target_uri live. */
typedef struct cs_wat_page {
    cs_slice target_uri;     /* Envelope.WARC-Header-Metadata.WARC-Target-URI,
                                else record_target_uri */
    cs_slice warc_type;      /* Envelope.WARC-Header-Metadata.WARC-Type
                                ("response", "request", "metadata", ...) */
    cs_slice title;          /* Head.Title */
    cs_slice base;           /* Head.Base as written */
    cs_slice base_resolved;  /* Head.Base resolved against target_uri; the
                                base links are resolved against when set */
    bool has_html;           /* HTML-Metadata was present */
    size_t links_total;      /* entries in Links[] (and Head.Link[] with
                                head_links) */
    size_t links_delivered;  /* links passed to the callback */
    size_t links_unresolved; /* delivered links whose url could not be resolved */
} cs_wat_page;

/* One link. Slices have ptr == NULL when the member is absent; strings are
 * JSON-unescaped (bytes as decoded, UTF-8 not re-validated). Every slice is
 * valid only during the callback. */
typedef struct cs_wat_link {
    cs_slice path;    /* "A@/href", "IMG@/src", "LINK@/href", "__base__", ... */
    cs_slice url_raw; /* "url" as written; "href" when there is no "url" (the
                         STYLE/#text entries of ia-web-commons) */
    cs_slice url;     /* url_raw resolved to an absolute URI; ptr NULL when it
                         cannot be (no scheme and no usable base) */
    cs_slice alt;     /* IMG alt text */
    cs_slice title;   /* title attribute */
    cs_slice text;    /* anchor text */
    cs_slice rel;     /* rel attribute */
    size_t index;     /* position in its array (Links[] or Head.Link[]) */
    bool in_head;     /* from Head.Link[] */
} cs_wat_link;

/* Called once per link, in document order (Head.Link[] first when asked
 * for). Return 0 to go on, anything else to stop: cs_wat_extract then
 * returns CS_ECANCELED. */
typedef int (*cs_wat_link_fn)(void *ud, const cs_wat_page *page, const cs_wat_link *link);

/* Extracts the page and its links from one WAT metadata record's JSON block
 * json[0..n) (not NUL-terminated). record_target_uri (may be NULL) is the
 * WARC-Target-URI of the WAT record itself, used when the envelope has none.
 * opts may be NULL (all links, lenient). cb may be NULL to get the page only.
 *
 * Memory: a link table and scratch space come from arena a (a few dozen
 * bytes per link plus the longest strings); nothing else is allocated.
 * Reset the arena between records. *page (may be NULL) is filled on
 * success and, as far as known, on error.
 *
 * The whole block is parsed and checked before the first callback, so a
 * malformed record delivers no link at all. Errors: CS_EFORMAT (malformed
 * JSON, or a WAT member of the wrong type with opts->strict), CS_ETRUNC
 * (the JSON ends early), CS_ETOOBIG (nesting deeper than max_depth, or a
 * block of 4 GiB or more), CS_ENOMEM (arena limit or out of memory),
 * CS_ECANCELED (the callback stopped). For all but CS_ECANCELED, err
 * (errlen bytes, may be NULL) gets "byte N: what was wrong", N counted from
 * the start of the block. */
CS_API CS_WARN_UNUSED cs_status cs_wat_extract(const char *json, size_t n,
                                               const char *record_target_uri,
                                               const cs_wat_opts *opts, cs_wat_link_fn cb,
                                               void *ud, cs_arena *a,
                                               cs_wat_page *page /* OUT */, char *err,
                                               size_t errlen);

/* The image-candidate rule: path is exactly "IMG@/src" and alt is present
 * and not blank (ASCII whitespace only). */
CS_API bool cs_wat_is_image(cs_slice path, cs_slice alt);

/* ---- WET --------------------------------------------------------------- */

/* One WET conversion record. Slices borrow from the record and its block
 * (valid until the next cs_warc_reader_next); absent fields have ptr NULL. */
typedef struct cs_wet_doc {
    cs_slice uri;       /* WARC-Target-URI */
    cs_slice lang;      /* WARC-Identified-Content-Language as written: one or
                           more ISO 639-3 codes, comma-separated ("spa,eng"),
                           most likely first */
    cs_slice date;      /* WARC-Date */
    cs_slice record_id; /* WARC-Record-ID */
    cs_slice refers_to; /* WARC-Refers-To: the response record it came from */
    cs_slice text;      /* the block: the page's text, UTF-8, lines joined by LF */
} cs_wet_doc;

/* Fills *doc from a conversion record and its whole block (as returned by
 * cs_warc_reader_block). CS_EINVAL if rec is not a conversion record. */
CS_API CS_WARN_UNUSED cs_status cs_wet_doc_from(const cs_warc_record *rec, cs_slice block,
                                                cs_wet_doc *doc /* OUT */);

/* Splits a language list ("spa,eng") into up to max trimmed, non-empty
 * codes in out[]; returns how many there are in all (may exceed max). */
CS_API size_t cs_wet_langs(cs_slice lang, cs_slice *out /* OUT */, size_t max);

#ifdef __cplusplus
}
#endif
#endif
