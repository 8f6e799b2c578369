/* lines.h - the input layer of the line-oriented readers (URL lists in
 * dataset/urllist.c, Common Crawl indexes in warc/ccindex.c); internal to the
 * library.
 *
 * cs__lines reads a file descriptor through zlib's gzread (plain text passes
 * through, gzip is inflated by its magic bytes) or a memory block, keeps the
 * unconsumed bytes in one buffer of max_line + 64 KiB, finds where the next
 * record ends across refills (any newline, or for CSV a newline outside
 * quotes), counts lines and formats "NAME:LINE: what" messages.
 * cs__fields splits one CSV/TSV record into "f0\0f1\0..." with offsets. */
#ifndef CS_UTIL_LINES_H
#define CS_UTIL_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "crawlset/util.h"

typedef struct cs__lines {
    char name[256];        /* what messages call the input */
    size_t max_line;       /* longest record accepted */
    int name_max;          /* message: at most this many bytes of the name */
    int what_max;          /* message: at most this many bytes of what (+20 with no line) */
    bool open_quote_error; /* a quote open at the end of input is CS_EFORMAT; else the
                              rest of the input is one record */

    /* input */
    gzFile gz;           /* NULL for memory input */
    const char *mem;     /* memory input (borrowed) */
    char *buf;           /* read buffer (owned; NULL for memory input) */
    size_t cap;          /* its size */
    size_t start, end;   /* unconsumed bytes are [start, end) */
    bool eof;            /* no more input after end */
    cs_status input_err; /* a fatal input error found at eof (CS_EGZIP, CS_EIO, CS_ENOMEM) */

    /* scanning state, kept across refills (offsets relative to start) */
    size_t scanned;  /* bytes after start already scanned */
    int sc_state;    /* CSV scanner state */
    size_t first_nl; /* first newline inside quotes, SIZE_MAX if none */
    uint64_t line;   /* lines consumed so far */

    char errmsg[CS_ERRMSG_MAX]; /* the last error, "NAME:LINE: what" */
} cs__lines;

/* Sets l up for an input called `name` (NULL: dflt) with records of at most
 * max_line bytes and the given message widths; allocates nothing. */
void cs__lines_init(cs__lines *l, const char *name, const char *dflt, size_t max_line, int name_max,
                    int what_max);
/* Reads fd through zlib. own_fd: l closes fd (also when this fails); else l
 * reads a dup of it. CS_EIO / CS_ENOMEM with errmsg set. */
cs_status cs__lines_open_fd(cs__lines *l, int fd, bool own_fd);
/* Opens path ("-": standard input, not closed). CS_ENOTFOUND / CS_EIO /
 * CS_ENOMEM with errmsg set. */
cs_status cs__lines_open_path(cs__lines *l, const char *path);
/* Reads [d, d+len) (borrowed until cleanup; NULL = empty). */
void cs__lines_open_mem(cs__lines *l, const void *d, size_t len);
/* Closes the input and frees the buffer; l may then be initialised again. */
void cs__lines_cleanup(cs__lines *l);

/* Sets errmsg to "NAME:LINE: what" (LINE 0: "NAME: what") and returns st. */
cs_status cs__lines_fail(cs__lines *l, cs_status st, uint64_t line, const char *fmt, ...)
    CS_PRINTF(4, 5);

/* The unconsumed input is [data + start, data + end). */
static inline const char *cs__lines_data(const cs__lines *l)
{
    return l->gz ? l->buf : l->mem;
}

/* Reads more input after end, first moving the unconsumed bytes to the front
 * (pointers into the data are then stale). Nothing new when the buffer is
 * full or at eof; a read error sets eof, input_err and errmsg. */
void cs__lines_refill(cs__lines *l);

/* Finds the end of the next record in [start, end): with `quoted` a newline
 * outside quotes (fields separated by delim), else any newline. On CS_OK *len
 * is the record length without the newline and *adv the bytes to consume
 * (nothing is consumed here); *found is false at the end of input. Errors
 * that spoil one record:
 *   CS_ETOOBIG  no record end within max_line; *adv is the bytes to drop to
 *               resume (after the first quoted newline), or 0 = drop the
 *               line (cs__lines_skip_line);
 *   CS_EFORMAT  (only with open_quote_error) a quote still open at the end
 *               of input; *len and *adv as above.
 * A fatal input error with bytes left returns that error (input_err). */
cs_status cs__lines_next(cs__lines *l, bool quoted, char delim, size_t *len /* OUT */,
                         size_t *adv /* OUT */, bool *found /* OUT */);
/* Drops input up to and including the next newline. */
void cs__lines_skip_line(cs__lines *l);
/* Consumes a record found by cs__lines_next: counts its lines (a last line
 * without a newline counts too) and returns the number of its first line. */
uint64_t cs__lines_take(cs__lines *l, size_t len, size_t adv);
/* Drops a record cs__lines_next refused (CS_ETOOBIG, CS_EFORMAT): adv bytes,
 * or with adv 0 up to the next newline; counts its lines. (Reading on may
 * meet an input error, which then sets errmsg.) */
void cs__lines_drop(cs__lines *l, size_t adv);
/* What a reader's next() answers when cs__lines_next found no record (st
 * CS_OK) or failed for good (st, an input error): CS_DONE at a clean end,
 * else the input error; errmsg says "...; the input ends inside this row"
 * when a cut-off row was left. */
cs_status cs__lines_end(cs__lines *l, cs_status st);
/* The whole step of a reader's next(): the next non-blank record, consumed.
 * CS_OK with *rec, *len and *line (the number of its first line); a
 * spoilt record (CS_ETOOBIG, CS_EFORMAT) is dropped, with errmsg naming its
 * line; at the end what cs__lines_end answers (CS_DONE or the input error;
 * CS_ENOMEM). */
cs_status cs__lines_record(cs__lines *l, bool quoted, char delim, const char **rec /* OUT */,
                           size_t *len /* OUT */, uint64_t *line /* OUT */);
/* Newlines in [p, p+n). */
uint64_t cs__lines_count_nl(const char *p, size_t n);

/* ---- CSV / TSV fields ---- */

typedef struct cs__fields {
    cs_buf buf;    /* the current record's fields: "f0\0f1\0..." */
    size_t *off;   /* offsets of the fields in buf (owned) */
    size_t n, cap; /* fields in use, allocated */
    int bad;       /* after a strict split's CS_EFORMAT: the byte after a
                      closing quote, or -1 for a quote that never closes */
} cs__fields;

/* max bounds the bytes of one record's fields (CS_ETOOBIG past it). */
void cs__fields_init(cs__fields *f, size_t max);
void cs__fields_cleanup(cs__fields *f);
/* Splits the record [p, p+n) (a final CR dropped) into unquoted fields. A
 * quote opens a quoted field only at the start of a field; "" inside is one
 * quote. Lenient (strict false): text after a closing quote is kept and an
 * open quote ends with the record. Strict: both are CS_EFORMAT (see bad).
 * Otherwise only CS_ENOMEM / CS_ETOOBIG. */
cs_status cs__fields_split(cs__fields *f, const char *p, size_t n, char delim, bool strict);
/* Field i (NUL-terminated), i < n. */
static inline const char *cs__fields_get(const cs__fields *f, size_t i)
{
    return f->buf.data + f->off[i];
}

#endif
