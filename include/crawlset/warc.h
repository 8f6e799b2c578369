/* crawlset/warc.h - streaming WARC 1.0/1.1 reader and writer.
 *
 * The reader takes plain files, per-record gzip (Common Crawl) and whole-file
 * gzip, and reports for each record its byte offset and compressed length in
 * the file, so a record can later be fetched by HTTP Range. Records are parsed
 * into a per-record arena: every pointer in a cs_warc_record is valid until the
 * next cs_warc_reader_next() or cs_warc_reader_free(). */
#ifndef CRAWLSET_WARC_H
#define CRAWLSET_WARC_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record types, as bits so a set of them can be a filter. */
typedef enum cs_warc_type {
    CS_WARC_WARCINFO = 1u << 0,
    CS_WARC_RESPONSE = 1u << 1,
    CS_WARC_RESOURCE = 1u << 2,
    CS_WARC_REQUEST = 1u << 3,
    CS_WARC_METADATA = 1u << 4,
    CS_WARC_REVISIT = 1u << 5,
    CS_WARC_CONVERSION = 1u << 6,
    CS_WARC_CONTINUATION = 1u << 7,
    CS_WARC_UNKNOWN = 1u << 8, /* any other WARC-Type value */
} cs_warc_type;
#define CS_WARC_ALL 0x1FFu

/* Canonical lower-case name ("response"); "unknown" for CS_WARC_UNKNOWN. */
CS_API const char *cs_warc_type_name(cs_warc_type t);
/* Parses a WARC-Type value (case-insensitive); CS_WARC_UNKNOWN if not standard. */
CS_API cs_warc_type cs_warc_type_parse(const char *s, size_t n);
/* Parses a comma-separated list ("response,metadata") into a bit set;
 * returns 0 if any name is not a record type. */
CS_API unsigned cs_warc_type_mask(const char *list);

/* One header field, in file order; repeated names are kept. */
typedef struct cs_warc_field {
    const char *name;  /* NUL-terminated, as written */
    size_t name_len;
    const char *value; /* NUL-terminated, trimmed, continuation lines joined by one space */
    size_t value_len;
} cs_warc_field;

typedef struct cs_warc_record {
    cs_warc_type type;
    const char *type_str;      /* WARC-Type value as written ("" if absent) */
    const char *version;       /* "WARC/1.0", "WARC/1.1", ... */
    cs_warc_field *fields;     /* all header fields */
    size_t nfields;
    const char *target_uri;    /* WARC-Target-URI, "<...>" stripped; NULL if absent */
    const char *date;          /* WARC-Date; NULL if absent */
    const char *record_id;     /* WARC-Record-ID; NULL if absent */
    const char *content_type;  /* Content-Type; NULL if absent */
    uint64_t content_length;   /* declared Content-Length of the block */
    uint64_t offset;           /* where the record starts in the file */
    uint64_t compressed_length;/* bytes it spans in the file: gzip members for
                                  compressed files, header+block+CRLFCRLF for
                                  plain files; 0 while unknown (see below) */
    uint64_t stream_offset;    /* offset in the uncompressed stream */
    bool member_aligned;       /* gzip: the record starts a gzip member, so
                                  (offset, compressed_length) can be range-fetched */
    const char *header_raw;    /* the header block as read (version line through
                                  the blank line), for verbatim copying */
    size_t header_raw_len;
} cs_warc_record;

/* Value of the first field named `name` (case-insensitive), or NULL. */
CS_API const char *cs_warc_record_get(const cs_warc_record *r, const char *name);

typedef enum cs_warc_compression {
    CS_WARC_DETECT, /* sniff the gzip magic */
    CS_WARC_PLAIN,
    CS_WARC_GZIP,
} cs_warc_compression;

typedef struct cs_warc_reader_opts {
    unsigned types;          /* CS_WARC_* bits to return; 0 = all. Others are
                                skipped without inflating where the format allows */
    bool strict;             /* refuse real-world quirks instead of tolerating them */
    size_t max_header;       /* limit on one header block; 0 = 1 MiB */
    cs_warc_compression compression;
    unsigned threads;        /* >= 2: inflate gzip input on a helper thread, so
                                decompression and parsing overlap (the 'sl'
                                member jump is then not used); 0/1: one thread */
} cs_warc_reader_opts;

typedef struct cs_warc_reader cs_warc_reader;

typedef struct cs_warc_reader_stats {
    uint64_t records;        /* records returned */
    uint64_t skipped;        /* records skipped by the type filter */
    uint64_t errors;         /* malformed records reported and skipped */
    uint64_t bytes_in;       /* file bytes consumed */
    uint64_t bytes_out;      /* uncompressed bytes produced */
} cs_warc_reader_stats;

/* Opens path ("-" = standard input). opts may be NULL. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_open(cs_warc_reader **out /* OUT */,
                                                    const char *path,
                                                    const cs_warc_reader_opts *opts);
/* Reads from fd, which the reader does not close. name is used in messages. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_open_fd(cs_warc_reader **out /* OUT */, int fd,
                                                       const char *name,
                                                       const cs_warc_reader_opts *opts);
/* Reads from memory; data must stay valid while the reader lives. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_open_mem(cs_warc_reader **out /* OUT */,
                                                        const void *data, size_t len,
                                                        const char *name,
                                                        const cs_warc_reader_opts *opts);
CS_API void cs_warc_reader_free(cs_warc_reader *r);

/* Advances to the next record (skipping the rest of the current block).
 * CS_OK: *rec is valid until the next call. CS_DONE: end of input.
 * A malformed record gives its error status with cs_warc_reader_errmsg()
 * naming file, offset and the problem; the reader has resynchronised, so
 * calling next again continues with the following record. CS_EIO and
 * CS_ENOMEM are fatal. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_next(cs_warc_reader *r,
                                                    cs_warc_record **rec /* OUT */);

/* Streams the current record's block without copying: *p points into the
 * reader's buffer (valid until the next call), *n > 0; CS_DONE at the end of
 * the block. CS_ETRUNC if the file ends inside the block. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_chunk(cs_warc_reader *r, const char **p /* OUT */,
                                                     size_t *n /* OUT */);
/* Copies up to cap block bytes into buf; *n == 0 at the end of the block. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_read(cs_warc_reader *r, void *buf, size_t cap,
                                                    size_t *n /* OUT */);
/* Reads the rest of the block into a reader-owned buffer (valid until the
 * next call). CS_ETOOBIG if it exceeds max (0 = 64 MiB); the block is then
 * still consumed. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_block(cs_warc_reader *r, size_t max,
                                                     cs_slice *block /* OUT */);

/* Consumes the rest of the current record (block and trailer) so that
 * rec->compressed_length is known. Returns the error met on the way (the
 * record's block truncated, a missing trailer); CS_OK otherwise. */
CS_API CS_WARN_UNUSED cs_status cs_warc_reader_finish(cs_warc_reader *r);

/* The last error: "FILE: offset N: what was wrong". */
CS_API const char *cs_warc_reader_errmsg(const cs_warc_reader *r);
CS_API const char *cs_warc_reader_name(const cs_warc_reader *r);
CS_API void cs_warc_reader_stats_get(const cs_warc_reader *r, cs_warc_reader_stats *out /* OUT */);
/* True when the input is gzip-compressed. */
CS_API bool cs_warc_reader_gzipped(const cs_warc_reader *r);

/* ---- digests ------------------------------------------------------------ */

typedef enum cs_digest_algo {
    CS_DIGEST_NONE,
    CS_DIGEST_SHA1,
    CS_DIGEST_SHA256,
    CS_DIGEST_SHA512,
    CS_DIGEST_MD5,
} cs_digest_algo;

/* Incremental digest (OpenSSL). */
typedef struct cs_digest {
    cs_digest_algo algo;
    void *ctx; /* EVP_MD_CTX */
} cs_digest;

CS_API CS_WARN_UNUSED cs_status cs_digest_init(cs_digest *d, cs_digest_algo algo);
CS_API void cs_digest_update(cs_digest *d, const void *p, size_t n);
/* Writes the raw digest to out (64 bytes suffice) and its length to *len. */
CS_API void cs_digest_final(cs_digest *d, uint8_t *out, size_t *len /* OUT */);
CS_API void cs_digest_cleanup(cs_digest *d);

/* A parsed "algo:value" digest field (value in base32, base16 or base64). */
typedef struct cs_digest_spec {
    cs_digest_algo algo;
    uint8_t value[64];
    size_t len;
} cs_digest_spec;

/* CS_OK, CS_EUNSUPPORTED (unknown algorithm) or CS_EFORMAT (bad value). */
CS_API CS_WARN_UNUSED cs_status cs_digest_parse(const char *s, cs_digest_spec *out /* OUT */);
/* Formats "sha1:BASE32" (sha1) or "sha256:base16"-style values as WARC tools
 * write them (sha1 and sha256 in base32). out needs 128 bytes. */
CS_API void cs_digest_format(cs_digest_algo algo, const uint8_t *v, size_t n, char *out);

/* ---- writer --------------------------------------------------------------- */

typedef struct cs_warc_writer cs_warc_writer;

typedef struct cs_warc_writer_opts {
    bool gzip;         /* one gzip member per record (default true via _new) */
    int level;         /* deflate level; 0 = default (6) */
    const char *version; /* "WARC/1.1" (default) or "WARC/1.0" */
} cs_warc_writer_opts;

/* Writes to fd (not closed by the writer); offset is where the file
 * position is now (0 for a new file), for the offsets the writer reports. */
CS_API CS_WARN_UNUSED cs_status cs_warc_writer_new(cs_warc_writer **out /* OUT */, int fd,
                                                   uint64_t offset,
                                                   const cs_warc_writer_opts *opts);
CS_API void cs_warc_writer_free(cs_warc_writer *w);

/* Writes one record of the given type with the given extra fields (may
 * include WARC-Target-URI, WARC-Date, Content-Type, ...) and block. The
 * writer adds WARC-Type, WARC-Record-ID and WARC-Date when missing, always
 * sets Content-Length and WARC-Block-Digest (sha1), and for response, request
 * and resource records WARC-Payload-Digest. Field lengths of 0 mean the
 * strings are NUL-terminated. *offset and *length (may be NULL)
 * say where the record landed in the file. */
CS_API CS_WARN_UNUSED cs_status cs_warc_writer_write(cs_warc_writer *w, cs_warc_type type,
                                                     const cs_warc_field *fields, size_t nfields,
                                                     const void *block, size_t block_len,
                                                     uint64_t *offset /* OUT */,
                                                     uint64_t *length /* OUT */);
/* Appends bytes that already form whole records (e.g. a gzip member fetched
 * by range) verbatim. */
CS_API CS_WARN_UNUSED cs_status cs_warc_writer_write_raw(cs_warc_writer *w, const void *p, size_t n,
                                                         uint64_t *offset /* OUT */);
CS_API const char *cs_warc_writer_errmsg(const cs_warc_writer *w);

#ifdef __cplusplus
}
#endif
#endif
