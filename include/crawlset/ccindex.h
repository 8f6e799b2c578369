/* crawlset/ccindex.h - Common Crawl index rows: the CSV the OAT pipeline uses
 * (header row; url, warc_filename, warc_record_offset, warc_record_length
 * required) and the CDX JSON lines of the index server ("SURT TIMESTAMP
 * {json}" or bare JSON objects). Plain or gzip input, read as a stream.
 *
 * A bad row is reported (file, line, what), counted and skipped: the reader
 * stays usable. Every pointer in a returned row is owned by the reader and
 * valid until the next cs_ccindex_next() or cs_ccindex_free(). */
#ifndef CRAWLSET_CCINDEX_H
#define CRAWLSET_CCINDEX_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_ccindex_format {
    CS_CCINDEX_AUTO, /* sniff the first non-blank line */
    CS_CCINDEX_CSV,  /* RFC 4180 with a header row */
    CS_CCINDEX_CDX,  /* "SURT TIMESTAMP {json}" or "{json}" per line */
} cs_ccindex_format;

/* One index row. Strings are NUL-terminated, never NULL ("" when absent). */
typedef struct cs_ccindex_row {
    const char *url;
    const char *domain;        /* url_host_registered_domain, else the URL's host */
    const char *fetch_time;    /* as written (CSV fetch_time, CDX timestamp) */
    int fetch_status;          /* HTTP status of the capture; 0 when absent or "-" */
    const char *warc_filename; /* path relative to the data server's root */
    uint64_t offset;           /* warc_record_offset: first byte of the gzip member */
    uint64_t length;           /* warc_record_length: its compressed length (> 0) */
    const char *segment;       /* warc_segment, else taken from warc_filename */
    const char *crawl;         /* crawl ("CC-MAIN-2024-22"), else from warc_filename */
    const char *mime;          /* CDX mime / CSV content_mime_type; "" if absent */
    uint64_t line;             /* 1-based input line where the row starts */
} cs_ccindex_row;

typedef struct cs_ccindex_opts {
    cs_ccindex_format format;  /* CS_CCINDEX_AUTO by default */
    size_t max_line;           /* longest row accepted; 0 = 1 MiB */
} cs_ccindex_opts;

typedef struct cs_ccindex_stats {
    uint64_t rows;             /* rows returned */
    uint64_t errors;           /* bad rows reported and skipped */
    uint64_t lines;            /* input lines read */
} cs_ccindex_stats;

typedef struct cs_ccindex_reader cs_ccindex_reader;

/* Opens path ("-" = standard input; gzip detected by content). For CSV the
 * header row is read and checked here. On failure (CS_EFORMAT: no header or a
 * required column missing; CS_ENOTFOUND, CS_EIO, CS_EGZIP, CS_ENOMEM) *out is
 * still set when the reader could be allocated, so cs_ccindex_errmsg() can say
 * why: call cs_ccindex_free(*out) either way. opts may be NULL. */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_open(cs_ccindex_reader **out /* OUT */,
                                                const char *path,
                                                const cs_ccindex_opts *opts);
/* As cs_ccindex_open on fd, which the reader does not close. name is for messages. */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_open_fd(cs_ccindex_reader **out /* OUT */, int fd,
                                                   const char *name,
                                                   const cs_ccindex_opts *opts);
/* As cs_ccindex_open on memory (plain text only); data must outlive the reader. */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_open_mem(cs_ccindex_reader **out /* OUT */,
                                                    const void *data, size_t len,
                                                    const char *name,
                                                    const cs_ccindex_opts *opts);
CS_API void cs_ccindex_free(cs_ccindex_reader *r);

/* Reads the next row. CS_OK: *row is valid until the next call. CS_DONE: end
 * of input. CS_EFORMAT / CS_ETOOBIG: this row is bad (cs_ccindex_errmsg() says
 * "FILE:LINE: what"); call again for the next one. CS_EIO, CS_EGZIP (corrupt
 * or truncated gzip: the partial last row is not returned) and CS_ENOMEM are
 * fatal; later calls return CS_DONE. */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_next(cs_ccindex_reader *r,
                                                const cs_ccindex_row **row /* OUT */);

/* Any column of the current row by name (CSV header name or CDX JSON key;
 * "urlkey" and "timestamp" for the CDX prefix), as text. false if absent.
 * *value is NUL-terminated and valid until the next cs_ccindex_next(). */
CS_API bool cs_ccindex_get(cs_ccindex_reader *r, const char *name, cs_slice *value /* OUT */);

/* The format in use (never AUTO once a row or header has been read). */
CS_API cs_ccindex_format cs_ccindex_format_of(const cs_ccindex_reader *r);
CS_API const char *cs_ccindex_errmsg(const cs_ccindex_reader *r);
CS_API const char *cs_ccindex_name(const cs_ccindex_reader *r);
CS_API void cs_ccindex_stats_get(const cs_ccindex_reader *r, cs_ccindex_stats *out /* OUT */);

/* ---- writing rows back (failed-row reports) --------------------------------- */

/* The header cs_ccindex_csv_row writes, without the trailing newline:
 * url,url_host_registered_domain,fetch_time,fetch_status,warc_filename,
 * warc_record_offset,warc_record_length,warc_segment,crawl followed by the
 * nextra names given (may be 0). */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_csv_header(cs_buf *out, const char *const *extra,
                                                      size_t nextra);
/* Appends row as one CSV line (CRLF-free, "\n" terminated, RFC 4180 quoting)
 * in the column order of cs_ccindex_csv_header, then the nextra values. */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_csv_row(cs_buf *out, const cs_ccindex_row *row,
                                                   const char *const *extra, size_t nextra);
/* Appends s as one CSV field (quoted when it holds , " CR or LF). */
CS_API CS_WARN_UNUSED cs_status cs_ccindex_csv_field(cs_buf *out, const char *s, size_t n);

/* Deep copy of a row in one allocation (free with cs_free), or NULL. */
CS_API cs_ccindex_row *cs_ccindex_row_dup(const cs_ccindex_row *row);

#ifdef __cplusplus
}
#endif
#endif
