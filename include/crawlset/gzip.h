/* crawlset/gzip.h - inflate (ISA-L when built with it, zlib otherwise) and
 * gzip member headers. The backend choice lives in src/util/inflate.c only. */
#ifndef CRAWLSET_GZIP_H
#define CRAWLSET_GZIP_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_inflate_fmt {
    CS_INFLATE_RAW,        /* raw deflate (RFC 1951) */
    CS_INFLATE_GZIP,       /* one gzip member: header, deflate, verified trailer */
    CS_INFLATE_GZIP_NOHDR, /* deflate + verified gzip trailer; caller parsed the header */
    CS_INFLATE_ZLIB,       /* zlib wrapper (RFC 1950) */
} cs_inflate_fmt;

typedef enum cs_inflate_backend {
    CS_INFLATE_AUTO, /* ISA-L when available */
    CS_INFLATE_ISAL,
    CS_INFLATE_ZLIB_BACKEND,
} cs_inflate_backend;

typedef struct cs_inflate cs_inflate;

/* Creates an inflater for one stream of format fmt. Free with cs_inflate_free. */
CS_API CS_WARN_UNUSED cs_status cs_inflate_new(cs_inflate **out /* OUT */, cs_inflate_fmt fmt);
CS_API void cs_inflate_free(cs_inflate *z);
/* Starts a new stream (the next gzip member, say) with format fmt. */
CS_API void cs_inflate_reset(cs_inflate *z, cs_inflate_fmt fmt);
/* Inflates from in[0..in_len) into out[0..out_cap). *in_used and *out_len say
 * how much was consumed and produced. Returns CS_OK when more input or output
 * space is needed, CS_DONE when the stream ended (trailer checked; bytes after
 * it are not consumed), CS_EGZIP on corrupt data (cs_inflate_errmsg says why). */
CS_API CS_WARN_UNUSED cs_status cs_inflate_run(cs_inflate *z, const uint8_t *in, size_t in_len,
                                               size_t *in_used /* OUT */, uint8_t *out,
                                               size_t out_cap, size_t *out_len /* OUT */);
CS_API const char *cs_inflate_errmsg(const cs_inflate *z);
/* "isa-l" or "zlib": the backend new inflaters use. */
CS_API const char *cs_inflate_backend_name(void);
/* Forces the backend of inflaters created after the call (tests, benchmarks).
 * Returns CS_EUNSUPPORTED when ISA-L was not built in. */
CS_API cs_status cs_inflate_set_backend(cs_inflate_backend b);

/* Inflates a whole buffer (one or more concatenated gzip members when
 * fmt == CS_INFLATE_GZIP) into out, refusing to produce more than max bytes
 * (CS_ETOOBIG: decompression-bomb guard). */
CS_API CS_WARN_UNUSED cs_status cs_inflate_buffer(cs_inflate_fmt fmt, const void *in, size_t n,
                                                  size_t max, cs_buf *out);

/* A parsed gzip member header (RFC 1952). */
typedef struct cs_gzip_header {
    size_t header_len;   /* bytes up to the deflate data */
    uint32_t mtime;
    uint8_t flags;       /* FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT */
    bool has_sl;         /* the WARC 'sl' extra subfield was present */
    uint64_t sl_length;  /* its value: compressed length of the whole member */
} cs_gzip_header;

/* Parses the gzip header at p. CS_OK, CS_ETRUNC (need more bytes: at most
 * 64 KiB + names), or CS_EGZIP (not a gzip header). */
CS_API CS_WARN_UNUSED cs_status cs_gzip_parse_header(const uint8_t *p, size_t n,
                                                     cs_gzip_header *out /* OUT */);
/* True when p starts with the gzip magic 1f 8b 08. */
CS_API bool cs_gzip_magic(const uint8_t *p, size_t n);

/* Deflate compressor writing one gzip member per call (for the WARC writer). */
typedef struct cs_deflate cs_deflate;
CS_API CS_WARN_UNUSED cs_status cs_deflate_new(cs_deflate **out /* OUT */, int level);
CS_API void cs_deflate_free(cs_deflate *d);
/* Appends one complete gzip member holding the concatenation of the n parts.
 * Members under 4 GiB carry the WARC 'sl' extra field (member length), so a
 * reader can skip them without inflating. */
CS_API CS_WARN_UNUSED cs_status cs_deflate_member(cs_deflate *d, const cs_slice *parts, size_t n,
                                                  cs_buf *out);

#ifdef __cplusplus
}
#endif
#endif
