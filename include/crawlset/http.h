/* crawlset/http.h - HTTP/1.x messages as stored in WARC request/response
 * records: parsing the start line and header fields, undoing chunked
 * transfer coding and content codings (gzip, deflate, br), and checking a
 * WARC record's WARC-Block-Digest / WARC-Payload-Digest.
 *
 * Depends on: util (arenas, buffers), gzip (inflate), warc (records, reader,
 * digests); libbrotlidec for "br".
 *
 * Parsing is lenient by default because archived traffic is messy (ClueWeb09
 * stores LF-only headers, some tools drop the reason phrase, old servers
 * fold lines); CS_HTTP_STRICT turns every tolerated quirk into an error. */
#ifndef CRAWLSET_HTTP_H
#define CRAWLSET_HTTP_H

#include "crawlset/util.h"
#include "crawlset/warc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- flags ---------------------------------------------------------------- */

/* cs_http_parse and cs_http_decode_body: follow RFC 9112 to the letter (CRLF
 * line ends, no obs-fold, no junk lines, a complete chunked body, ...). */
#define CS_HTTP_STRICT (1u << 0)
/* cs_http_parse: a header block without its terminating blank line gives
 * CS_ETRUNC even when lenient (for callers holding a prefix of the message
 * that can read more and call again). */
#define CS_HTTP_REQUIRE_END (1u << 1)
/* cs_http_decode_body: undo Transfer-Encoding: chunked. */
#define CS_HTTP_DECHUNK (1u << 2)
/* cs_http_decode_body: undo Content-Encoding (gzip, x-gzip, deflate, br,
 * identity) and transfer codings other than chunked. */
#define CS_HTTP_DECODE (1u << 3)

/* Limits on one header block: larger ones give CS_ETOOBIG. */
#define CS_HTTP_MAX_HEADER (64u * 1024u) /* bytes, start line through the blank line */
#define CS_HTTP_MAX_FIELDS 1000u         /* header fields */
/* cs_http_decode_body's cap when max == 0. */
#define CS_HTTP_DEFAULT_MAX_BODY (64u * 1024u * 1024u)

/* Quirks a lenient parse tolerated (cs_http_msg.quirks). */
#define CS_HTTP_QUIRK_BARE_LF (1u << 0)   /* a line ended in LF, not CRLF */
#define CS_HTTP_QUIRK_EXTRA_CR (1u << 1)  /* a line ended in CR CR LF or had a stray CR */
#define CS_HTTP_QUIRK_NO_REASON (1u << 2) /* status line without "SP reason" */
#define CS_HTTP_QUIRK_OBS_FOLD (1u << 3)  /* folded continuation lines */
#define CS_HTTP_QUIRK_BAD_LINE (1u << 4)  /* header lines without a name/colon skipped */
#define CS_HTTP_QUIRK_NO_END (1u << 5)    /* no blank line: headers run to the end */
#define CS_HTTP_QUIRK_LEADING_EOL (1u << 6) /* empty lines before the start line */
#define CS_HTTP_QUIRK_START_LINE (1u << 7)  /* irregular start line (extra spaces,
                                               missing version, odd version) */
#define CS_HTTP_QUIRK_NAME_SPACE (1u << 8)  /* whitespace between name and colon */

/* ---- messages ------------------------------------------------------------- */

/* One header field in message order; repeated names are kept. */
typedef struct cs_http_header {
    const char *name;  /* NUL-terminated, as written (arena) */
    size_t name_len;
    const char *value; /* NUL-terminated, surrounding whitespace trimmed, folded
                          lines joined by one space (arena) */
    size_t value_len;
} cs_http_header;

/* A parsed request or response. Strings live in the arena given to
 * cs_http_parse; body points into the parsed input. Both must outlive the
 * message. Fields that do not apply are "" (never NULL). */
typedef struct cs_http_msg {
    bool is_response;
    int status;              /* response status code (100..999); 0 for requests */
    const char *version;     /* "HTTP/1.1"; "" for a lenient request line without one */
    const char *reason;      /* response reason phrase; "" when empty or missing */
    const char *method;      /* request method ("GET") */
    const char *target;      /* request target ("/path?q", "http://host/", "*") */
    cs_http_header *headers; /* header fields in order */
    size_t nheaders;
    size_t header_len;       /* bytes from the start of the input through the
                                blank line (all of it when that is missing) */
    cs_slice body;           /* the rest of the input (borrowed) */
    size_t skipped;          /* malformed header lines skipped (lenient) */
    unsigned quirks;         /* CS_HTTP_QUIRK_* bits tolerated */
} cs_http_msg;

/* Parses the HTTP/1.x message at p[0..n): a status line ("HTTP/1.1 200 OK")
 * or request line ("GET /path HTTP/1.1"), header fields, and the blank line;
 * the rest is the body. flags: CS_HTTP_STRICT, CS_HTTP_REQUIRE_END.
 * Strings are allocated from a; *out borrows p for body.
 * Errors: CS_EFORMAT (not HTTP, or a rule broken in strict mode), CS_ETRUNC
 * (no blank line, strict or CS_HTTP_REQUIRE_END), CS_ETOOBIG (header block
 * over CS_HTTP_MAX_HEADER bytes or CS_HTTP_MAX_FIELDS fields), CS_ENOMEM
 * (arena limit). err (errlen bytes, may be NULL) then says what was wrong and
 * at which byte offset; it is "" on success. */
CS_API CS_WARN_UNUSED cs_status cs_http_parse(const char *p, size_t n, cs_arena *a,
                                              unsigned flags, cs_http_msg *out /* OUT */,
                                              char *err, size_t errlen);

/* Value of the first header field called name (ASCII case-insensitive), or
 * NULL. Borrowed from the message. */
CS_API const char *cs_http_get(const cs_http_msg *m, const char *name);

/* Decodes m's body into out (reset first; out->max still applies). flags:
 * CS_HTTP_DECHUNK, CS_HTTP_DECODE, CS_HTTP_STRICT; with neither of the first
 * two the body is copied as is. Content codings are undone last-applied
 * first ("Content-Encoding: gzip, br" is un-br'd, then gunzipped).
 * max (0 = CS_HTTP_DEFAULT_MAX_BODY) caps the decoded size, and every
 * intermediate one: a decompression bomb gives CS_ETOOBIG, each stage's
 * output buffer never exceeding max + 1 bytes (plus the decoder's own state:
 * ~50 KiB for inflate, brotli's window of up to 16 MiB for br).
 * Lenient mode (no CS_HTTP_STRICT) tolerates, noting it in err: a chunked
 * body without its final chunk; a body labelled chunked that is not (tools
 * that stored it de-chunked); a body labelled gzip without the gzip magic
 * (tools that stored it decoded; ClueWeb09 does); an empty body with any
 * coding. Errors: CS_EGZIP (corrupt gzip/deflate/br data), CS_EFORMAT (bad
 * chunked framing), CS_ETRUNC (compressed data ends early: out holds what was
 * decoded), CS_EUNSUPPORTED (unknown coding, e.g. zstd), CS_ETOOBIG, CS_ENOMEM.
 * err (may be NULL) says what happened: "" on a clean success. */
CS_API CS_WARN_UNUSED cs_status cs_http_decode_body(const cs_http_msg *m, unsigned flags,
                                                    size_t max, cs_buf *out, char *err,
                                                    size_t errlen);

/* ---- streaming de-chunker ---------------------------------------------------- */

/* Undoes chunked transfer coding incrementally without copying: the decoded
 * data comes back as slices of the input. Chunk extensions and trailer
 * fields are skipped. */
typedef struct cs_http_dechunk {
    int state;        /* internal */
    bool strict;      /* CS_HTTP_STRICT given at init */
    unsigned digits;  /* hex digits in the current size line */
    uint64_t left;    /* data bytes left in the current chunk */
    uint64_t chunks;  /* chunk size lines completed (the final one included) */
    uint64_t offset;  /* encoded bytes consumed so far */
    const char *error;/* static description of the last CS_EFORMAT */
} cs_http_dechunk;

CS_API void cs_http_dechunk_init(cs_http_dechunk *d, unsigned flags);
/* Consumes encoded bytes from *p, *n (advancing both) until it has a run of
 * decoded data, which it returns in *data (a slice of the input, possibly
 * empty), or until the input is used up. Call again while *n > 0.
 * CS_OK: more may follow. CS_DONE: the final chunk and trailers have been
 * read (bytes after them are not consumed). CS_EFORMAT: bad framing at
 * d->offset (d->error says what); d->chunks == 0 means the input did not
 * start like a chunked body at all. */
CS_API CS_WARN_UNUSED cs_status cs_http_dechunk_feed(cs_http_dechunk *d, const char **p,
                                                     size_t *n, cs_slice *data /* OUT */);
/* CS_OK when the body ended properly (CS_DONE seen), else CS_ETRUNC. */
CS_API cs_status cs_http_dechunk_finish(const cs_http_dechunk *d);

/* ---- WARC digest verification ------------------------------------------------- */

/* Outcome of checking one record. block/payload: 1 matches, 0 field absent
 * or not checkable (e.g. revisit payloads, which describe an earlier
 * record), -1 mismatch, -2 unsupported algorithm or undecodable value.
 * The strings are "" when not applicable; *_expected is the field as
 * written, *_actual the computed digest ("sha1:BASE32", or base16/base64
 * when the expected value was written that way). */
typedef struct cs_warc_verify_result {
    int block;
    int payload;
    char block_expected[128], block_actual[128];
    char payload_expected[128], payload_actual[128];
} cs_warc_verify_result;

/* Checks the block and payload digests of rec, whose whole block is
 * block[0..n). The payload of an application/http record is what follows the
 * HTTP header block; of other records, the whole block. Returns CS_OK (the
 * verdicts are in *out) or CS_ENOMEM. */
CS_API CS_WARN_UNUSED cs_status cs_warc_verify_block(const cs_warc_record *rec, const char *block,
                                                     size_t n,
                                                     cs_warc_verify_result *out /* OUT */);

/* Same for the reader's current record rec, streaming the rest of its block
 * with cs_warc_reader_chunk() (so call it before reading the block any other
 * way; the block is consumed). Memory use is bounded (HTTP headers up to
 * CS_HTTP_MAX_HEADER are buffered), whatever the record size.
 * Returns CS_OK, or the reader's error (CS_ETRUNC for a block cut short,
 * CS_EGZIP, CS_EIO...) with *out still filled in from the bytes that could be
 * read: a cut block reports block == -1. */
CS_API CS_WARN_UNUSED cs_status cs_warc_verify_current(cs_warc_reader *r,
                                                       const cs_warc_record *rec,
                                                       cs_warc_verify_result *out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
