/* crawlset/util.h - status codes, allocation, bounded buffers, arenas,
 * logging, progress display and small helpers every module uses.
 *
 * Ownership rule for the whole library: a function returning a pointer says
 * who owns it. `_new` objects are freed with the matching `_free` (which
 * accepts NULL); `_init` objects are cleaned with `_cleanup`. Slices passed
 * in as (pointer, length) are borrowed for the duration of the call only.
 */
#ifndef CRAWLSET_UTIL_H
#define CRAWLSET_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CS_API __attribute__((visibility("default")))
#define CS_WARN_UNUSED __attribute__((warn_unused_result))
#define CS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CS_API
#define CS_WARN_UNUSED
#define CS_PRINTF(f, a)
#endif

#define CS_ERRMSG_MAX 256

/* ---- status codes ------------------------------------------------------ */

/* One list, expanded into the enum and into cs_strerror(). CS_OK is 0;
 * CS_DONE is end-of-stream (not an error); everything after is an error. */
#define CS_STATUS_MAP(X)                                                      \
    X(OK, "success")                                                          \
    X(DONE, "end of stream")                                                  \
    X(ENOMEM, "out of memory")                                                \
    X(EINVAL, "invalid argument")                                             \
    X(EIO, "input/output error")                                              \
    X(EFORMAT, "malformed input")                                             \
    X(ETRUNC, "truncated input")                                              \
    X(ETOOBIG, "size limit exceeded")                                         \
    X(EGZIP, "corrupt compressed data")                                       \
    X(EDIGEST, "digest mismatch")                                             \
    X(ENOTFOUND, "not found")                                                 \
    X(EUNSUPPORTED, "unsupported feature")                                    \
    X(ENET, "network error")                                                  \
    X(EHTTP, "unexpected HTTP status")                                        \
    X(ETIMEOUT, "timed out")                                                  \
    X(ECANCELED, "canceled")                                                  \
    X(EAGAIN, "not now, try again later")                                     \
    X(ENOJOB, "no job available")                                             \
    X(EWORKER, "unknown or timed-out worker")                                 \
    X(EBADREQ, "request refused as malformed")                                \
    X(ESERVER, "server error")

typedef enum cs_status {
#define CS__ENUM(name, msg) CS_##name,
    CS_STATUS_MAP(CS__ENUM)
#undef CS__ENUM
    CS__STATUS_COUNT
} cs_status;

/* Static description of a status; never NULL. */
CS_API const char *cs_strerror(cs_status st);
/* Symbolic name ("EFORMAT"); never NULL. */
CS_API const char *cs_status_name(cs_status st);

/* ---- allocation -------------------------------------------------------- */

/* All library allocation goes through these. The hook lets tests fail the
 * Nth allocation or count bytes. A NULL field keeps the libc default. */
typedef struct cs_allocator {
    void *(*malloc_fn)(size_t n, void *ud);
    void *(*realloc_fn)(void *p, size_t n, void *ud);
    void (*free_fn)(void *p, void *ud);
    void *ud;
} cs_allocator;

/* Replaces the allocator process-wide (NULL restores libc). Call before any
 * other library function; not thread-safe against concurrent allocation. */
CS_API void cs_set_allocator(const cs_allocator *a);
CS_API void *cs_malloc(size_t n);
CS_API void *cs_calloc(size_t count, size_t n);
CS_API void *cs_realloc(void *p, size_t n);
CS_API void cs_free(void *p);
/* Copies [s, s+n) into a new NUL-terminated string; caller frees. */
CS_API char *cs_strndup(const char *s, size_t n);
CS_API char *cs_strdup(const char *s);

/* ---- bounded growable buffer ------------------------------------------ */

/* Appends return CS_ETOOBIG past the buffer's max or CS_ENOMEM; they are not
 * marked warn-unused so output code may append to an unbounded buffer and
 * check once (cs_buf_reserve is). */

/* A byte buffer that refuses to grow past `max` (CS_ETOOBIG). data is always
 * NUL-terminated when non-NULL (the NUL is not counted in len). */
typedef struct cs_buf {
    char *data;  /* owned; NULL until first growth */
    size_t len;  /* bytes in use */
    size_t cap;  /* bytes allocated (excluding the NUL slot) */
    size_t max;  /* hard limit on len; 0 = SIZE_MAX */
} cs_buf;

CS_API void cs_buf_init(cs_buf *b, size_t max);
CS_API void cs_buf_cleanup(cs_buf *b);
CS_API void cs_buf_reset(cs_buf *b); /* len = 0, keeps memory */
CS_API CS_WARN_UNUSED cs_status cs_buf_reserve(cs_buf *b, size_t extra);
CS_API cs_status cs_buf_append(cs_buf *b, const void *p, size_t n);
CS_API cs_status cs_buf_putc(cs_buf *b, char c);
CS_API cs_status cs_buf_puts(cs_buf *b, const char *s);
CS_API cs_status cs_buf_printf(cs_buf *b, const char *fmt, ...)
    CS_PRINTF(2, 3);
/* Hands the data over to the caller (free with cs_free) and resets b. */
CS_API char *cs_buf_take(cs_buf *b, size_t *len /* OUT, may be NULL */);

/* ---- arena ------------------------------------------------------------- */

/* Bump allocator for per-record work: everything is released at once by
 * cs_arena_reset(). Allocation beyond `max` total bytes fails (NULL). */
typedef struct cs_arena_block cs_arena_block;
typedef struct cs_arena {
    cs_arena_block *head;  /* current block */
    cs_arena_block *spare; /* blocks kept for reuse after a reset */
    size_t used;           /* bytes handed out since the last reset */
    size_t max;            /* hard limit on used; 0 = SIZE_MAX */
} cs_arena;

CS_API void cs_arena_init(cs_arena *a, size_t max);
CS_API void cs_arena_cleanup(cs_arena *a);
CS_API void cs_arena_reset(cs_arena *a);
/* 16-byte aligned; NULL on limit or out of memory. Valid until reset. */
CS_API void *cs_arena_alloc(cs_arena *a, size_t n);
CS_API char *cs_arena_strndup(cs_arena *a, const char *s, size_t n);

/* ---- slices ------------------------------------------------------------ */

/* A borrowed byte range; not NUL-terminated unless stated. */
typedef struct cs_slice {
    const char *ptr;
    size_t len;
} cs_slice;

#define CS_SLICE_LIT(s) ((cs_slice){(s), sizeof(s) - 1})
CS_API bool cs_slice_eq(cs_slice a, const char *lit);      /* exact */
CS_API bool cs_slice_ieq(cs_slice a, const char *lit);     /* ASCII case-insensitive */
CS_API cs_slice cs_slice_trim(cs_slice s);                 /* strip SP/HT/CR/LF */
/* Parses a decimal unsigned integer; false on junk or overflow. */
CS_API bool cs_slice_to_u64(cs_slice s, uint64_t *out /* OUT */);

/* ---- logging ----------------------------------------------------------- */

typedef enum cs_log_level {
    CS_LOG_DEBUG,
    CS_LOG_INFO,
    CS_LOG_WARN,
    CS_LOG_ERROR
} cs_log_level;

typedef void (*cs_log_fn)(cs_log_level level, const char *msg, void *ud);

/* The library never prints: messages go to this callback (default: none).
 * Process-wide; set it once at startup. */
CS_API void cs_log_set_handler(cs_log_fn fn, void *ud, cs_log_level min_level);
CS_API void cs_log(cs_log_level level, const char *fmt, ...) CS_PRINTF(2, 3);

/* ---- JSON output ------------------------------------------------------- */

/* Appends s as a JSON string literal (with quotes). Invalid UTF-8 bytes are
 * replaced by U+FFFD so the output is always valid JSON. */
CS_API cs_status cs_json_put_str(cs_buf *b, const char *s, size_t n);

/* ---- encodings --------------------------------------------------------- */

/* RFC 4648 base32 (upper case, padded) of n bytes into out (needs
 * ((n+4)/5)*8 + 1 bytes); returns the length written (NUL-terminated). */
CS_API size_t cs_base32_encode(const uint8_t *in, size_t n, char *out);
/* Decodes base32 (case-insensitive, padding optional) into out (cap bytes);
 * returns the decoded length or (size_t)-1 on bad input. */
CS_API size_t cs_base32_decode(const char *in, size_t n, uint8_t *out, size_t cap);
CS_API size_t cs_base16_encode(const uint8_t *in, size_t n, char *out);
CS_API size_t cs_base16_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Standard or URL-safe alphabet accepted; padding optional. */
CS_API size_t cs_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
CS_API size_t cs_base64_encode(const uint8_t *in, size_t n, char *out);

/* ---- time -------------------------------------------------------------- */

/* Monotonic seconds. */
CS_API double cs_now(void);

/* ---- progress display (for the CLI) ------------------------------------ */

/* Draws "label  done/total unit  rate/s  ETA" on one line of a terminal at
 * most every 100 ms, and nothing at all when `out` is not a TTY. */
typedef struct cs_progress {
    FILE *out;          /* stream to draw on (borrowed) */
    bool enabled;       /* out is a TTY and not disabled */
    const char *label;  /* borrowed */
    const char *unit;   /* "records", "B", ... (borrowed) */
    uint64_t total;     /* 0 = unknown */
    uint64_t done;
    double start;       /* cs_now() at init */
    double last_draw;   /* cs_now() of the last draw */
    bool bytes;         /* format counts as sizes */
} cs_progress;

CS_API void cs_progress_init(cs_progress *p, FILE *out, const char *label,
                             const char *unit, uint64_t total);
CS_API void cs_progress_update(cs_progress *p, uint64_t done);
CS_API void cs_progress_finish(cs_progress *p);

#ifdef __cplusplus
}
#endif
#endif
