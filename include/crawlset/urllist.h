/* crawlset/urllist.h - URL lists, the inputs of `crawlset download` (the
 * img2dataset input formats): txt (one URL per line), csv, tsv, jsonl, each
 * plain or gzip (detected by content, not by name), and the JSON Lines
 * candidates that `crawlset wat links` prints.
 *
 * Read as a stream with bounded memory: no row may exceed max_line bytes.
 * A bad row is reported ("FILE:LINE: what"), counted and skipped, and the
 * reader stays usable; only a read error or corrupt gzip ends the input.
 *
 * Rows are numbered in input order (index 0, 1, ... over the rows returned;
 * skipped bad rows and blank lines take no number). The dataset writers
 * (crawlset/dataset.h) derive shard and key from that index, so the same
 * input always gives the same keys.
 *
 * Text handed out is always valid UTF-8: invalid bytes and NUL in captions
 * and column values become U+FFFD; in URLs, spaces and bytes that are not
 * valid UTF-8 are percent-encoded (what a browser sends), and a URL with
 * other control characters is a bad row. */
#ifndef CRAWLSET_URLLIST_H
#define CRAWLSET_URLLIST_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_urllist_format {
    CS_URLLIST_AUTO,      /* by name (.txt .csv .tsv .jsonl/.json/.ndjson, under .gz),
                             else sniffed from the first non-blank line */
    CS_URLLIST_TXT,       /* one URL per line; blank lines skipped */
    CS_URLLIST_CSV,       /* RFC 4180 with a header row */
    CS_URLLIST_TSV,       /* as CSV with TAB between fields */
    CS_URLLIST_JSONL,     /* one JSON object per line */
    CS_URLLIST_WAT_LINKS, /* `crawlset wat links` output: JSONL whose url_col
                             defaults to "url", caption_col to "alt" and
                             save_columns to {"page"} */
} cs_urllist_format;

typedef struct cs_urllist_opts {
    cs_urllist_format format;       /* CS_URLLIST_AUTO by default */
    const char *url_col;            /* column/key holding the URL; NULL = "url" */
    const char *caption_col;        /* column/key holding the caption; NULL = none */
    const char *const *save_columns;/* more columns carried into each row (and
                                       the sample metadata), in this order */
    size_t nsave;
    size_t max_line;                /* longest row accepted; 0 = 1 MiB */
} cs_urllist_opts;

/* One carried column. For CSV/TSV and JSON strings `json` is NULL and the
 * value is text; for other JSON values `json` is the compact JSON text
 * (number, true/false, object, array) and `value` its text form. A JSON
 * null or an absent key has value == NULL and json == NULL. */
typedef struct cs_urllist_column {
    const char *name;  /* as requested in save_columns */
    const char *value; /* NUL-terminated text; NULL when null/absent */
    const char *json;  /* JSON text for non-string JSON values, else NULL */
} cs_urllist_column;

/* One row. Pointers are owned by the reader and valid until the next
 * cs_urllist_next() or cs_urllist_free(); cs_urllist_row_dup() keeps one. */
typedef struct cs_urllist_row {
    uint64_t index;                    /* 0-based position among rows returned */
    const char *url;                   /* never NULL or empty */
    const char *caption;               /* NULL without a caption column, or null */
    const cs_urllist_column *columns;  /* opts.save_columns, in order */
    size_t ncolumns;
    uint64_t line;                     /* 1-based input line where the row starts */
} cs_urllist_row;

typedef struct cs_urllist_stats {
    uint64_t rows;     /* rows returned */
    uint64_t errors;   /* bad rows reported and skipped */
    uint64_t lines;    /* input lines read */
    uint64_t repaired; /* rows whose text needed U+FFFD or percent-encoding */
} cs_urllist_stats;

typedef struct cs_urllist_reader cs_urllist_reader;

/* Opens path ("-" = standard input; gzip detected by its magic bytes). The
 * format comes from opts or the name (a ".gz" suffix is looked through) or,
 * failing both, from the first non-blank line: '{' = JSONL, a TAB = TSV, a
 * comma-separated line naming url_col = CSV, else TXT. For CSV/TSV the header
 * is read and checked here: a missing url, caption or save column is
 * CS_EFORMAT with the header's columns listed in the message. Save columns
 * with TXT are CS_EINVAL. On failure *out is still set when the reader could
 * be allocated so cs_urllist_errmsg() says why: call cs_urllist_free(*out)
 * either way. opts may be NULL. Strings in opts are copied. */
CS_API CS_WARN_UNUSED cs_status cs_urllist_open(cs_urllist_reader **out /* OUT */,
                                                const char *path, const cs_urllist_opts *opts);
/* As cs_urllist_open on fd, which the reader does not close; name is used
 * for messages and the format guess. */
CS_API CS_WARN_UNUSED cs_status cs_urllist_open_fd(cs_urllist_reader **out /* OUT */, int fd,
                                                   const char *name,
                                                   const cs_urllist_opts *opts);
/* As cs_urllist_open on memory; gzip data is inflated up to 256 MiB. The
 * data is borrowed and must outlive the reader. */
CS_API CS_WARN_UNUSED cs_status cs_urllist_open_mem(cs_urllist_reader **out /* OUT */,
                                                    const void *data, size_t len,
                                                    const char *name,
                                                    const cs_urllist_opts *opts);
CS_API void cs_urllist_free(cs_urllist_reader *r);

/* Reads the next row. CS_OK: *row is valid until the next call. CS_DONE: end
 * of input. CS_EFORMAT / CS_ETOOBIG: this row is bad (cs_urllist_errmsg()
 * says "FILE:LINE: what"); call again for the next one. CS_EIO, CS_EGZIP
 * (corrupt or truncated gzip: a cut-off last row is not returned) and
 * CS_ENOMEM are fatal; later calls return CS_DONE. */
CS_API CS_WARN_UNUSED cs_status cs_urllist_next(cs_urllist_reader *r,
                                                const cs_urllist_row **row /* OUT */);

/* The format in use (never AUTO after a successful open). */
CS_API cs_urllist_format cs_urllist_format_of(const cs_urllist_reader *r);
/* "txt", "csv", "tsv", "jsonl", "wat-links"; "auto" for AUTO. */
CS_API const char *cs_urllist_format_name(cs_urllist_format f);
/* Parses a format name as above (also "json", "ndjson" = jsonl); false if unknown. */
CS_API bool cs_urllist_format_parse(const char *name, cs_urllist_format *out /* OUT */);
/* CSV/TSV header names (NULL and 0 for other formats); owned by the reader. */
CS_API const char *const *cs_urllist_header(const cs_urllist_reader *r, size_t *n /* OUT */);
CS_API const char *cs_urllist_errmsg(const cs_urllist_reader *r);
CS_API const char *cs_urllist_name(const cs_urllist_reader *r);
CS_API void cs_urllist_stats_get(const cs_urllist_reader *r, cs_urllist_stats *out /* OUT */);

/* Deep copy of a row in one allocation (free with cs_free), or NULL. */
CS_API cs_urllist_row *cs_urllist_row_dup(const cs_urllist_row *row);

#ifdef __cplusplus
}
#endif
#endif
