/* reader.c - streaming WARC reader: plain files, one gzip member per record
 * (Common Crawl) and whole-file gzip, with the file offset and compressed
 * length of every record, type filtering that skips blocks without inflating
 * where the format allows (plain files: lseek; gzip members with the WARC
 * 'sl' extra field: jump to the next member), and lenient resynchronisation
 * after malformed records.
 *
 * Structure: an input layer (compressed bytes in `in`) feeds a decompressed
 * window (`win`) over the uncompressed stream; the record layer parses headers
 * out of the window and hands out block bytes by pointer. For plain input the
 * window holds file bytes directly. Gzip member boundaries are remembered as
 * (stream offset, file offset) pairs so a record can be mapped back to the
 * members it spans. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crawlset/gzip.h"
#include "crawlset/warc.h"

#define IN_CAP (1u << 20)   /* compressed input buffer */
#define WIN_CAP (4u << 20)  /* decompressed window */
#define NCHUNK 4            /* background inflate: chunks in flight */
#define CHUNK_CAP (1u << 20)
#define DEFAULT_MAX_HEADER (1u << 20)
#define DEFAULT_MAX_BLOCK ((size_t)64 << 20)
#define SEEK_MIN (256u << 10) /* skip by lseek when at least this far */
#define STEP_MIN (128u << 10) /* least output asked of one inflate call */

typedef struct boundary {
    uint64_t soff; /* stream offset where a member starts */
    uint64_t coff; /* file offset of that member */
    bool has_sl;   /* its header carried the 'sl' skip length */
    uint64_t sl;   /* compressed length of the member */
    uint64_t usize;/* uncompressed length from 'sl' (0 if unknown) */
} boundary;

/* Background inflate: the producer thread fills chunks, the reader copies
 * them into its window. Each chunk carries the member boundaries that start
 * in it and the state of the compressed layer after it. */
typedef struct chunk {
    char *data;
    size_t len;
    boundary *b;          /* members that started in this chunk */
    size_t nb, bcap;
    cs_status st;         /* error met at the end of the chunk */
    char err[CS_ERRMSG_MAX];
    bool eof;             /* no data after this chunk */
    bool in_member;       /* the last byte is inside a member */
    uint64_t member_end;  /* file offset after the last finished member */
    uint64_t bytes_in, bytes_out; /* producer totals */
} chunk;

struct cs_warc_reader {
    char name[512];
    cs_warc_reader_opts opts;
    int fd;
    bool own_fd;
    bool seekable;
    bool gz;
    bool mem_plain;       /* window is the caller's memory */

    /* compressed input (gzip only) */
    uint8_t *in;
    const uint8_t *in_mem; /* caller memory, or NULL */
    size_t in_len, in_pos, in_cap;
    uint64_t in_base;     /* file offset of in[0] */
    bool in_eof;

    cs_inflate *z;
    bool in_member;       /* inside a gzip member's deflate data */
    bool gz_eof;          /* no more members */
    uint64_t member_coff; /* file offset of the current member */
    uint64_t member_soff; /* stream offset where it started */
    uint64_t prod_soff;   /* stream offset of the next byte produced */
    uint64_t bad_soff;    /* after CS_EGZIP: where the bad member started */
    boundary *pend;       /* boundaries produced, not yet handed over */
    size_t npend, pend_cap;
    char perr[CS_ERRMSG_MAX]; /* the producer's last error */
    uint64_t p_bytes_in, p_bytes_out;

    /* what the reader knows of the compressed layer (mirrors the producer
     * after each step, or comes with each chunk when threaded) */
    bool src_eof;
    bool src_in_member;
    uint64_t src_member_end;

    bool threaded;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv_full, cv_free;
    chunk ch[NCHUNK];
    unsigned ch_next_fill, ch_next_take, ch_full;
    bool stop;
    chunk *cur;
    size_t cur_pos;

    /* decompressed window over the stream */
    char *win;
    size_t win_cap, win_pos, win_end;
    uint64_t win_base;    /* stream offset of win[0] */
    bool plain_eof;
    uint64_t file_pos;    /* plain: file offset of win[win_end] */

    boundary *bq;         /* member boundaries, ascending soff: [bq_head, bq_len) */
    size_t bq_head, bq_len, bq_cap;

    /* current record */
    cs_arena arena;
    cs_warc_record rec;
    bool have_rec;
    bool in_block;        /* block bytes remain or trailer not consumed */
    uint64_t block_left;
    bool trailer_done;
    cs_buf block;

    uint64_t member_end_coff; /* producer: file offset after the last finished member */
    cs_status pending;    /* an error met while reading ahead, reported next */
    char pending_err[CS_ERRMSG_MAX];
    bool resync;          /* the last record was malformed: resync first */
    bool fatal;
    char err[CS_ERRMSG_MAX];
    cs_warc_reader_stats stats;
};

/* ---- errors ---- */

/* Formats "FILE: offset N: message" into buf. */
static cs_status vfail_to(const cs_warc_reader *r, char *buf, cs_status st, uint64_t off,
                          const char *fmt, va_list ap)
{
    char msg[CS_ERRMSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(buf, CS_ERRMSG_MAX, "%.120s: offset %llu: %.120s", r->name, (unsigned long long)off,
             msg);
    return st;
}

/* The reader's errors go to err. */
static cs_status fail(cs_warc_reader *r, cs_status st, uint64_t off, const char *fmt, ...)
    CS_PRINTF(4, 5);
static cs_status fail(cs_warc_reader *r, cs_status st, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_to(r, r->err, st, off, fmt, ap);
    va_end(ap);
    return st;
}

/* The producer's errors go to perr: it may run on its own thread. */
static cs_status pfail(cs_warc_reader *r, cs_status st, uint64_t off, const char *fmt, ...)
    CS_PRINTF(4, 5);
static cs_status pfail(cs_warc_reader *r, cs_status st, uint64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_to(r, r->perr, st, off, fmt, ap);
    va_end(ap);
    return st;
}

const char *cs_warc_reader_errmsg(const cs_warc_reader *r) { return r->err; }
const char *cs_warc_reader_name(const cs_warc_reader *r) { return r->name; }
bool cs_warc_reader_gzipped(const cs_warc_reader *r) { return r->gz; }

void cs_warc_reader_stats_get(const cs_warc_reader *r, cs_warc_reader_stats *out)
{
    *out = r->stats;
}

/* ---- types ---- */

static const struct {
    const char *name;
    cs_warc_type type;
} TYPES[] = {
    {"warcinfo", CS_WARC_WARCINFO}, {"response", CS_WARC_RESPONSE},
    {"resource", CS_WARC_RESOURCE}, {"request", CS_WARC_REQUEST},
    {"metadata", CS_WARC_METADATA}, {"revisit", CS_WARC_REVISIT},
    {"conversion", CS_WARC_CONVERSION}, {"continuation", CS_WARC_CONTINUATION},
};

const char *cs_warc_type_name(cs_warc_type t)
{
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++)
        if (TYPES[i].type == t)
            return TYPES[i].name;
    return "unknown";
}

cs_warc_type cs_warc_type_parse(const char *s, size_t n)
{
    cs_slice v = cs_slice_trim((cs_slice){s, n});
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++)
        if (cs_slice_ieq(v, TYPES[i].name))
            return TYPES[i].type;
    return CS_WARC_UNKNOWN;
}

unsigned cs_warc_type_mask(const char *list)
{
    unsigned mask = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        cs_slice s = cs_slice_trim((cs_slice){p, n});
        if (s.len) {
            if (cs_slice_ieq(s, "unknown"))
                mask |= CS_WARC_UNKNOWN;
            else {
                cs_warc_type t = cs_warc_type_parse(s.ptr, s.len);
                if (t == CS_WARC_UNKNOWN)
                    return 0;
                mask |= t;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return mask;
}

const char *cs_warc_record_get(const cs_warc_record *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nfields; i++)
        if (r->fields[i].name_len == n &&
            cs_slice_ieq((cs_slice){r->fields[i].name, n}, name))
            return r->fields[i].value;
    return NULL;
}

static cs_status start_thread(cs_warc_reader *r);
static void stop_thread(cs_warc_reader *r);

/* ---- open / free ---- */

static cs_status setup(cs_warc_reader *r, const cs_warc_reader_opts *opts, const char *name)
{
    if (opts)
        r->opts = *opts;
    if (!r->opts.max_header)
        r->opts.max_header = DEFAULT_MAX_HEADER;
    if (!r->opts.types)
        r->opts.types = CS_WARC_ALL;
    snprintf(r->name, sizeof r->name, "%s", name ? name : "(input)");
    cs_arena_init(&r->arena, 0);
    cs_buf_init(&r->block, 0);
    return CS_OK;
}

static cs_status alloc_window(cs_warc_reader *r)
{
    r->win_cap = WIN_CAP;
    if (r->opts.max_header + 65536 > r->win_cap)
        r->win_cap = r->opts.max_header + 65536;
    r->win = cs_malloc(r->win_cap);
    return r->win ? CS_OK : CS_ENOMEM;
}

/* Reads more plain bytes or compressed bytes from the fd. */
static cs_status read_fd(cs_warc_reader *r, void *dst, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t n = read(r->fd, dst, cap);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *got = 0;
            if (r->gz)
                return pfail(r, CS_EIO, r->in_base + r->in_len, "read: %s", strerror(errno));
            return fail(r, CS_EIO, r->file_pos, "read: %s", strerror(errno));
        }
        *got = (size_t)n;
        return CS_OK;
    }
}

static cs_status detect(cs_warc_reader *r)
{
    /* Decide plain vs gzip from the first bytes. */
    uint8_t head[4] = {0};
    size_t have = 0;
    cs_status st = CS_OK;
    if (r->in_mem) {
        have = r->in_len < 4 ? r->in_len : 4;
        memcpy(head, r->in_mem, have);
    } else {
        r->in = cs_malloc(IN_CAP);
        if (!r->in)
            return CS_ENOMEM;
        r->in_cap = IN_CAP;
        while (r->in_len < 4) {
            size_t got;
            if ((st = read_fd(r, r->in + r->in_len, r->in_cap - r->in_len, &got)))
                return st;
            if (got == 0)
                break;
            r->in_len += got;
        }
        have = r->in_len < 4 ? r->in_len : 4;
        memcpy(head, r->in, have);
        r->p_bytes_in = r->stats.bytes_in = r->in_len;
    }
    switch (r->opts.compression) {
    case CS_WARC_GZIP: r->gz = true; break;
    case CS_WARC_PLAIN: r->gz = false; break;
    default: r->gz = cs_gzip_magic(head, have); break;
    }
    if (r->gz) {
        if ((st = cs_inflate_new(&r->z, CS_INFLATE_GZIP_NOHDR)))
            return st;
        if (r->in_mem) {
            r->in = (uint8_t *)r->in_mem;
            r->in_cap = r->in_len;
            r->in_eof = true;
        }
        return alloc_window(r);
    }
    /* plain */
    if (r->in_mem) {
        r->mem_plain = true;
        r->win = (char *)r->in_mem;
        r->win_cap = r->win_end = r->in_len;
        r->plain_eof = true;
        r->file_pos = r->in_len;
        return CS_OK;
    }
    if ((st = alloc_window(r)))
        return st;
    memcpy(r->win, r->in, r->in_len);
    r->win_end = r->in_len;
    r->stats.bytes_out = r->in_len;
    r->file_pos = r->in_len;
    cs_free(r->in);
    r->in = NULL;
    r->in_len = 0;
    return CS_OK;
}

static bool grow_boundaries(boundary **arr, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    boundary *n = cs_realloc(*arr, ncap * sizeof *n);
    if (!n)
        return false;
    *arr = n;
    *cap = ncap;
    return true;
}

/* Producer side: notes that a member starts at the producer's position. */
static cs_status note_member(cs_warc_reader *r, bool has_sl, uint64_t sl)
{
    if (!grow_boundaries(&r->pend, &r->pend_cap, r->npend + 1))
        return CS_ENOMEM;
    r->pend[r->npend++] = (boundary){r->prod_soff, r->member_coff, has_sl, sl, 0};
    return CS_OK;
}

/* Reader side: appends boundaries (ascending soff) to the queue. */
static cs_status push_boundaries(cs_warc_reader *r, const boundary *b, size_t n)
{
    if (!n)
        return CS_OK;
    if (r->bq_head > 0 && r->bq_head >= r->bq_len / 2) {
        memmove(r->bq, r->bq + r->bq_head, (r->bq_len - r->bq_head) * sizeof *r->bq);
        r->bq_len -= r->bq_head;
        r->bq_head = 0;
    }
    if (!grow_boundaries(&r->bq, &r->bq_cap, r->bq_len + n))
        return CS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* a member may restart at the same offset after a retraction */
        while (r->bq_len > r->bq_head && r->bq[r->bq_len - 1].soff >= b[i].soff)
            r->bq_len--;
        r->bq[r->bq_len++] = b[i];
    }
    return CS_OK;
}

/* Drops boundaries before soff, keeping the last one at or before it. */
static void prune_boundaries(cs_warc_reader *r, uint64_t soff)
{
    while (r->bq_head + 1 < r->bq_len && r->bq[r->bq_head + 1].soff <= soff)
        r->bq_head++;
}

/* Index of the last boundary with soff <= x, or -1. */
static ptrdiff_t bq_floor(const cs_warc_reader *r, uint64_t x)
{
    size_t lo = r->bq_head, hi = r->bq_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->bq[mid].soff <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->bq_head ? -1 : (ptrdiff_t)lo - 1;
}

/* The boundary starting exactly at stream offset soff, or NULL. */
static const boundary *find_boundary(const cs_warc_reader *r, uint64_t soff)
{
    ptrdiff_t i = bq_floor(r, soff);
    return i >= 0 && r->bq[i].soff == soff ? &r->bq[i] : NULL;
}

/* The last boundary at or before soff (the member holding soff), or NULL. */
static const boundary *boundary_before(const cs_warc_reader *r, uint64_t soff)
{
    ptrdiff_t i = bq_floor(r, soff);
    return i >= 0 ? &r->bq[i] : NULL;
}

/* The first boundary strictly after soff, or NULL. */
static const boundary *boundary_after(const cs_warc_reader *r, uint64_t soff)
{
    ptrdiff_t i = bq_floor(r, soff);
    size_t j = i < 0 ? r->bq_head : (size_t)i + 1;
    return j < r->bq_len ? &r->bq[j] : NULL;
}

static cs_status finish_open(cs_warc_reader *r)
{
    cs_status st = detect(r);
    if (st)
        return st;
    if (r->gz && r->in_len == 0)
        r->gz_eof = r->src_eof = true;
    if (r->gz && r->opts.threads >= 2 && !r->gz_eof)
        return start_thread(r);
    return CS_OK;
}

cs_status cs_warc_reader_open_fd(cs_warc_reader **out, int fd, const char *name,
                                 const cs_warc_reader_opts *opts)
{
    cs_warc_reader *r = cs_calloc(1, sizeof *r);
    if (!r)
        return CS_ENOMEM;
    setup(r, opts, name);
    r->fd = fd;
    struct stat sb;
    r->seekable = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    cs_status st = finish_open(r);
    if (st) {
        cs_warc_reader_free(r);
        return st;
    }
    *out = r;
    return CS_OK;
}

cs_status cs_warc_reader_open(cs_warc_reader **out, const char *path,
                              const cs_warc_reader_opts *opts)
{
    if (!strcmp(path, "-"))
        return cs_warc_reader_open_fd(out, 0, "(stdin)", opts);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CS_ENOTFOUND : CS_EIO;
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    cs_status st = cs_warc_reader_open_fd(out, fd, path, opts);
    if (st) {
        close(fd);
        return st;
    }
    (*out)->own_fd = true;
    return CS_OK;
}

cs_status cs_warc_reader_open_mem(cs_warc_reader **out, const void *data, size_t len,
                                  const char *name, const cs_warc_reader_opts *opts)
{
    cs_warc_reader *r = cs_calloc(1, sizeof *r);
    if (!r)
        return CS_ENOMEM;
    setup(r, opts, name ? name : "(memory)");
    r->fd = -1;
    r->in_mem = data;
    r->in_len = len;
    cs_status st = finish_open(r);
    if (st) {
        cs_warc_reader_free(r);
        return st;
    }
    *out = r;
    return CS_OK;
}

void cs_warc_reader_free(cs_warc_reader *r)
{
    if (!r)
        return;
    stop_thread(r);
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    cs_free(r->bq);
    cs_free(r->pend);
    if (!r->in_mem)
        cs_free(r->in);
    if (!r->mem_plain)
        cs_free(r->win);
    cs_inflate_free(r->z);
    cs_arena_cleanup(&r->arena);
    cs_buf_cleanup(&r->block);
    cs_free(r);
}

/* ---- the stream layer ---- */

static inline uint64_t spos(const cs_warc_reader *r) { return r->win_base + r->win_pos; }
static inline size_t avail(const cs_warc_reader *r) { return r->win_end - r->win_pos; }

/* Makes room at the end of the window by dropping consumed bytes. */
static void compact(cs_warc_reader *r)
{
    if (r->win_pos == 0)
        return;
    size_t keep = r->win_end - r->win_pos;
    if (keep)
        memmove(r->win, r->win + r->win_pos, keep);
    r->win_base += r->win_pos;
    r->win_pos = 0;
    r->win_end = keep;
}

static cs_status refill_in(cs_warc_reader *r)
{
    if (r->in_eof)
        return CS_OK;
    if (r->in_pos > 0) {
        size_t keep = r->in_len - r->in_pos;
        if (keep)
            memmove(r->in, r->in + r->in_pos, keep);
        r->in_base += r->in_pos;
        r->in_pos = 0;
        r->in_len = keep;
    }
    if (r->in_len == r->in_cap)
        return CS_OK;
    size_t got;
    cs_status st = read_fd(r, r->in + r->in_len, r->in_cap - r->in_len, &got);
    if (st)
        return st;
    if (got == 0)
        r->in_eof = true;
    r->in_len += got;
    r->p_bytes_in += got;
    return CS_OK;
}

/* Scans the compressed input for the next gzip magic after the current
 * position; drops the bytes before it. Returns false at end of input. */
static cs_status resync_gzip(cs_warc_reader *r, bool *found)
{
    *found = false;
    for (;;) {
        const uint8_t *p = r->in + r->in_pos;
        size_t n = r->in_len - r->in_pos;
        for (size_t i = 0; i + 2 < n; i++) {
            if (p[i] == 0x1f && p[i + 1] == 0x8b && p[i + 2] == 8) {
                r->in_pos += i;
                *found = true;
                return CS_OK;
            }
        }
        if (r->in_eof) {
            r->in_pos = r->in_len;
            return CS_OK;
        }
        /* keep the last 2 bytes: a magic may straddle the refill */
        if (n > 2)
            r->in_pos = r->in_len - 2;
        cs_status st = refill_in(r);
        if (st)
            return st;
    }
}

/* Starts the next gzip member at in[in_pos]. */
static cs_status start_member(cs_warc_reader *r)
{
    cs_status st;
    for (;;) {
        size_t n = r->in_len - r->in_pos;
        if (n < 64 * 1024 + 16 && !r->in_eof) {
            if ((st = refill_in(r)))
                return st;
            n = r->in_len - r->in_pos;
        }
        if (n == 0) {
            r->gz_eof = true;
            return CS_OK;
        }
        const uint8_t *p = r->in + r->in_pos;
        cs_gzip_header h;
        st = cs_gzip_parse_header(p, n, &h);
        if (st == CS_OK) {
            r->member_coff = r->in_base + r->in_pos;
            r->member_soff = r->prod_soff;
            if ((st = note_member(r, h.has_sl, h.sl_length)))
                return st;
            r->in_pos += h.header_len;
            cs_inflate_reset(r->z, CS_INFLATE_GZIP_NOHDR);
            r->in_member = true;
            return CS_OK;
        }
        uint64_t off = r->in_base + r->in_pos;
        if (st == CS_ETRUNC && r->in_eof) {
            r->in_pos = r->in_len;
            r->gz_eof = true;
            return pfail(r, CS_ETRUNC, off, "gzip member header truncated at end of file");
        }
        if (st == CS_ETRUNC)
            continue;
        /* Not a gzip member here. Trailing zero padding is tolerated. */
        size_t z = 0;
        while (z < n && (p[z] == 0 || p[z] == '\n' || p[z] == '\r'))
            z++;
        if (z == n && r->in_eof) {
            r->in_pos = r->in_len;
            r->gz_eof = true;
            return CS_OK;
        }
        bool found;
        r->in_pos += 1;
        if ((st = resync_gzip(r, &found)))
            return st;
        if (!found)
            r->gz_eof = true;
        r->bad_soff = r->prod_soff;
        return pfail(r, CS_EGZIP, off, "garbage between gzip members (not a gzip header)");
    }
}

/* The producer: inflates into dst[0..cap), *got bytes. Members started go
 * to r->pend. Returns after producing something, at the end of input
 * (gz_eof), or on an error (perr; for CS_EGZIP bad_soff is where the bad
 * member started and the input is already at the next member). */
static cs_status produce(cs_warc_reader *r, char *dst, size_t cap, size_t *got)
{
    cs_status st;
    *got = 0;
    while (!r->gz_eof && cap > 0) {
        if (!r->in_member) {
            if ((st = start_member(r)))
                return st;
            continue;
        }
        if (r->in_pos == r->in_len) {
            if ((st = refill_in(r)))
                return st;
            if (r->in_pos == r->in_len && r->in_eof) {
                r->in_member = false;
                r->gz_eof = true;
                return pfail(r, CS_ETRUNC, r->in_base + r->in_len,
                             "gzip member starting at %llu is truncated",
                             (unsigned long long)r->member_coff);
            }
        }
        size_t used, k;
        st = cs_inflate_run(r->z, r->in + r->in_pos, r->in_len - r->in_pos, &used,
                            (uint8_t *)dst + *got, cap - *got, &k);
        r->in_pos += used;
        *got += k;
        r->prod_soff += k;
        r->p_bytes_out += k;
        if (st == CS_DONE) {
            r->in_member = false;
            r->member_end_coff = r->in_base + r->in_pos;
            if (*got == cap)
                return CS_OK;
            continue;
        }
        if (st == CS_EGZIP) {
            uint64_t off = r->member_coff;
            char why[CS_ERRMSG_MAX];
            snprintf(why, sizeof why, "%s", cs_inflate_errmsg(r->z));
            r->in_member = false;
            r->bad_soff = r->member_soff;
            /* Search for the next member from just after the bad one's
             * start: the inflater may have read far past the damage. */
            if (r->member_coff >= r->in_base && r->member_coff < r->in_base + r->in_len)
                r->in_pos = (size_t)(r->member_coff - r->in_base) + 1;
            bool found;
            if ((st = resync_gzip(r, &found)))
                return st;
            if (!found)
                r->gz_eof = true;
            return pfail(r, CS_EGZIP, off, "corrupt gzip member: %s", why);
        }
        if (st)
            return st;
        if (k > 0)
            return CS_OK;
        if (used == 0 && r->in_pos < r->in_len)
            return pfail(r, CS_EGZIP, r->member_coff, "inflate made no progress");
    }
    return CS_OK;
}

/* Removes from buf[0..*len) (which holds stream bytes from base on) the
 * bytes of a bad member that starts at bad, not before keep; returns the
 * count removed. */
static size_t retract(uint64_t base, size_t *len, uint64_t bad, uint64_t keep)
{
    uint64_t from = bad > keep ? bad : keep;
    if (from >= base + *len)
        return 0;
    if (from < base)
        from = base;
    size_t d = (size_t)(base + *len - from);
    *len -= d;
    return d;
}

static void *producer_main(void *arg)
{
    cs_warc_reader *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->ch_full == NCHUNK && !r->stop)
            pthread_cond_wait(&r->cv_free, &r->mu);
        bool stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            return NULL;
        chunk *c = &r->ch[r->ch_next_fill];
        c->len = c->nb = 0;
        c->st = CS_OK;
        uint64_t base = r->prod_soff;
        cs_status st = CS_OK;
        while (c->len < CHUNK_CAP && !r->gz_eof) {
            size_t got;
            st = produce(r, c->data + c->len, CHUNK_CAP - c->len, &got);
            c->len += got;
            if (r->npend) {
                if (!grow_boundaries(&c->b, &c->bcap, c->nb + r->npend)) {
                    st = CS_ENOMEM;
                    break;
                }
                memcpy(c->b + c->nb, r->pend, r->npend * sizeof *r->pend);
                c->nb += r->npend;
                r->npend = 0;
            }
            if (st)
                break;
        }
        if (st == CS_EGZIP) {
            /* drop the bad member's bytes still in this chunk */
            size_t d = retract(base, &c->len, r->bad_soff, base);
            r->prod_soff -= d;
            while (c->nb && c->b[c->nb - 1].soff >= r->prod_soff && d)
                c->nb--;
        }
        c->st = st;
        if (st)
            memcpy(c->err, r->perr, sizeof c->err);
        c->eof = r->gz_eof || st == CS_EIO || st == CS_ENOMEM;
        c->in_member = r->in_member;
        c->member_end = r->member_end_coff;
        c->bytes_in = r->p_bytes_in;
        c->bytes_out = r->p_bytes_out;
        pthread_mutex_lock(&r->mu);
        r->ch_next_fill = (r->ch_next_fill + 1) % NCHUNK;
        r->ch_full++;
        pthread_cond_signal(&r->cv_full);
        pthread_mutex_unlock(&r->mu);
        if (c->eof)
            return NULL;
    }
}

static cs_status start_thread(cs_warc_reader *r)
{
    for (int i = 0; i < NCHUNK; i++) {
        r->ch[i].data = cs_malloc(CHUNK_CAP);
        if (!r->ch[i].data)
            return CS_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv_full, NULL);
    pthread_cond_init(&r->cv_free, NULL);
    if (pthread_create(&r->thr, NULL, producer_main, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv_full);
        pthread_cond_destroy(&r->cv_free);
        return CS_ENOMEM;
    }
    r->threaded = true;
    return CS_OK;
}

static void stop_thread(cs_warc_reader *r)
{
    if (r->threaded) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_signal(&r->cv_free);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thr, NULL);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv_full);
        pthread_cond_destroy(&r->cv_free);
        r->threaded = false;
    }
    for (int i = 0; i < NCHUNK; i++) {
        cs_free(r->ch[i].data);
        cs_free(r->ch[i].b);
        r->ch[i].data = NULL;
        r->ch[i].b = NULL;
    }
}

/* Reader side of the threaded mode: copies from the current chunk. */
static cs_status take_chunk(cs_warc_reader *r, size_t room, size_t *got)
{
    *got = 0;
    if (!r->cur) {
        pthread_mutex_lock(&r->mu);
        while (r->ch_full == 0)
            pthread_cond_wait(&r->cv_full, &r->mu);
        pthread_mutex_unlock(&r->mu);
        r->cur = &r->ch[r->ch_next_take];
        r->cur_pos = 0;
        cs_status st = push_boundaries(r, r->cur->b, r->cur->nb);
        if (st)
            return st;
    }
    chunk *c = r->cur;
    size_t k = c->len - r->cur_pos;
    if (k > room)
        k = room;
    memcpy(r->win + r->win_end, c->data + r->cur_pos, k);
    r->win_end += k;
    r->cur_pos += k;
    *got = k;
    if (r->cur_pos < c->len)
        return CS_OK;
    /* chunk done: take over its state, give it back */
    cs_status st = c->st;
    if (st)
        memcpy(r->err, c->err, sizeof r->err);
    r->src_eof = c->eof;
    r->src_in_member = c->in_member;
    r->src_member_end = c->member_end;
    r->stats.bytes_in = c->bytes_in;
    r->stats.bytes_out = c->bytes_out;
    r->cur = NULL;
    pthread_mutex_lock(&r->mu);
    r->ch_next_take = (r->ch_next_take + 1) % NCHUNK;
    r->ch_full--;
    pthread_cond_signal(&r->cv_free);
    pthread_mutex_unlock(&r->mu);
    return st;
}

/* Ensures at least `need` bytes in the window if the input has them.
 * Errors from the compressed layer are returned (the stream then continues
 * at the next member: the caller resynchronises). */
static cs_status fill(cs_warc_reader *r, size_t need)
{
    cs_status st;
    if (r->mem_plain)
        return CS_OK;
    while (avail(r) < need) {
        if (r->win_pos == r->win_end) {
            r->win_base += r->win_pos;
            r->win_pos = r->win_end = 0;
        } else if (r->win_cap - r->win_pos < need || r->win_end == r->win_cap) {
            compact(r);
        }
        if (r->win_end == r->win_cap)
            return CS_OK; /* window full: the caller asked for more than fits */
        if (!r->gz) {
            if (r->plain_eof)
                return CS_OK;
            size_t got;
            if ((st = read_fd(r, r->win + r->win_end, r->win_cap - r->win_end, &got)))
                return st;
            if (got == 0) {
                r->plain_eof = true;
                return CS_OK;
            }
            r->win_end += got;
            r->file_pos += got;
            r->stats.bytes_in += got;
            r->stats.bytes_out += got;
            continue;
        }
        if (r->src_eof && !r->cur)
            return CS_OK;
        size_t room = r->win_cap - r->win_end, got;
        if (r->threaded) {
            if ((st = take_chunk(r, room, &got)))
                return st;
            continue;
        }
        /* Inflate in bounded steps so a header read does not inflate a
         * whole block that may then be skipped by an 'sl' member jump. */
        size_t want = need - avail(r);
        if (want < STEP_MIN)
            want = STEP_MIN;
        if (room > want)
            room = want;
        st = produce(r, r->win + r->win_end, room, &got);
        r->win_end += got;
        cs_status st2 = push_boundaries(r, r->pend, r->npend);
        r->npend = 0;
        r->src_eof = r->gz_eof;
        r->src_in_member = r->in_member;
        r->src_member_end = r->member_end_coff;
        r->stats.bytes_in = r->p_bytes_in;
        r->stats.bytes_out = r->p_bytes_out;
        if (st2)
            return st2;
        if (st) {
            if (st == CS_EGZIP) {
                /* drop what the bad member produced that is still unread */
                size_t d = retract(r->win_base, &r->win_end, r->bad_soff, spos(r));
                r->prod_soff -= d;
            }
            memcpy(r->err, r->perr, sizeof r->err);
            return st;
        }
    }
    return CS_OK;
}

/* Discards n stream bytes, by lseek or member jumps where possible. */
static cs_status skip(cs_warc_reader *r, uint64_t n, uint64_t *skipped)
{
    *skipped = 0;
    while (n > 0) {
        size_t a = avail(r);
        if (a) {
            size_t k = a < n ? a : (size_t)n;
            r->win_pos += k;
            n -= k;
            *skipped += k;
            continue;
        }
        if (!r->gz && r->seekable && !r->plain_eof && n >= SEEK_MIN) {
            off_t to = (off_t)(r->file_pos + n);
            if (lseek(r->fd, to, SEEK_SET) == to) {
                r->win_base += r->win_end + n;
                r->win_pos = r->win_end = 0;
                r->file_pos = (uint64_t)to;
                *skipped += n;
                return CS_OK;
            }
        }
        cs_status st = fill(r, 1);
        if (st)
            return st;
        if (avail(r) == 0)
            return CS_ETRUNC;
    }
    return CS_OK;
}

/* Plain resync: moves to the next line that starts with "WARC/". */
static cs_status resync_plain(cs_warc_reader *r)
{
    for (;;) {
        cs_status st = fill(r, 8);
        if (st)
            return st;
        size_t a = avail(r);
        if (a < 6) {
            r->win_pos = r->win_end;
            if (r->mem_plain || r->plain_eof)
                return CS_OK;
            continue;
        }
        const char *p = r->win + r->win_pos;
        const char *hit = memmem(p + 1, a - 1, "\nWARC/", 6);
        if (hit) {
            r->win_pos += (size_t)(hit + 1 - p);
            return CS_OK;
        }
        r->win_pos = r->win_end - 5; /* keep a possible partial match */
        if (r->mem_plain || r->plain_eof) {
            r->win_pos = r->win_end;
            return CS_OK;
        }
        st = fill(r, 6);
        if (st)
            return st;
    }
}

/* Gzip resync: drops the rest of the current member's output. */
static cs_status resync_member(cs_warc_reader *r)
{
    uint64_t from = spos(r);
    for (;;) {
        const boundary *b = boundary_after(r, from);
        if (b && b->soff >= r->win_base && b->soff <= r->win_base + r->win_end) {
            r->win_pos = (size_t)(b->soff - r->win_base);
            return CS_OK;
        }
        r->win_pos = r->win_end;
        cs_status st = fill(r, 1);
        if (st)
            return st;
        if (r->src_eof && !r->cur && avail(r) == 0)
            return CS_OK;
    }
}

static cs_status do_resync(cs_warc_reader *r)
{
    r->resync = false;
    return r->gz ? resync_member(r) : resync_plain(r);
}

/* ---- the record layer ---- */

static bool is_ws(char c) { return c == '\r' || c == '\n' || c == ' ' || c == '\t'; }

/* Skips blank lines between records. */
static cs_status skip_blank(cs_warc_reader *r, bool *eof)
{
    *eof = false;
    for (;;) {
        cs_status st = fill(r, 1);
        if (st)
            return st;
        if (avail(r) == 0) {
            *eof = true;
            return CS_OK;
        }
        const char *p = r->win + r->win_pos;
        size_t a = avail(r), i = 0;
        while (i < a && (is_ws(p[i]) || p[i] == 0))
            i++;
        r->win_pos += i;
        if (i < a)
            return CS_OK;
    }
}

static char *normalise_uri(cs_arena *a, const char *v, size_t n)
{
    if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
        v++;
        n -= 2;
    }
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++)
        spaces += v[i] == ' ';
    char *o = cs_arena_alloc(a, n + 2 * spaces + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ') {
            memcpy(o + k, "%20", 3);
            k += 3;
        } else
            o[k++] = v[i];
    }
    o[k] = 0;
    return o;
}

/* Parses the header block hdr[0..n) (through the blank line). */
static cs_status parse_header(cs_warc_reader *r, const char *hdr, size_t n, uint64_t off)
{
    cs_warc_record *rec = &r->rec;
    bool strict = r->opts.strict;
    const char *end = hdr + n;
    const char *nl = memchr(hdr, '\n', n);
    if (!nl)
        return fail(r, CS_EFORMAT, off, "header without a line end");
    size_t vlen = (size_t)(nl - hdr);
    if (vlen && hdr[vlen - 1] == '\r')
        vlen--;
    else if (strict)
        return fail(r, CS_EFORMAT, off, "version line does not end in CRLF");
    if (vlen < 6 || memcmp(hdr, "WARC/", 5) != 0)
        return fail(r, CS_EFORMAT, off, "expected a 'WARC/' version line");
    if (strict && !(vlen == 8 && (!memcmp(hdr, "WARC/1.0", 8) || !memcmp(hdr, "WARC/1.1", 8))))
        return fail(r, CS_EFORMAT, off, "unsupported version '%.*s'", (int)(vlen > 20 ? 20 : vlen),
                    hdr);
    rec->version = cs_arena_strndup(&r->arena, hdr, vlen);

    /* count lines for the field array */
    size_t lines = 0;
    for (const char *p = nl + 1; p < end; p++)
        lines += *p == '\n';
    rec->fields = cs_arena_alloc(&r->arena, (lines + 1) * sizeof *rec->fields);
    if (!rec->version || !rec->fields)
        return CS_ENOMEM;
    rec->nfields = 0;

    const char *p = nl + 1;
    bool have_len = false;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        size_t len = (size_t)(e - p);
        bool crlf = len && p[len - 1] == '\r';
        if (crlf)
            len--;
        else if (strict && e < end)
            return fail(r, CS_EFORMAT, off + (uint64_t)(p - hdr), "header line does not end in CRLF");
        if (len == 0)
            break; /* the blank line */
        if ((p[0] == ' ' || p[0] == '\t') && rec->nfields > 0) {
            if (strict)
                return fail(r, CS_EFORMAT, off + (uint64_t)(p - hdr),
                            "continuation line (obsolete folding)");
            /* join continuation: previous value + ' ' + this line */
            cs_warc_field *f = &rec->fields[rec->nfields - 1];
            cs_slice add = cs_slice_trim((cs_slice){p, len});
            char *v = cs_arena_alloc(&r->arena, f->value_len + add.len + 2);
            if (!v)
                return CS_ENOMEM;
            memcpy(v, f->value, f->value_len);
            size_t k = f->value_len;
            if (add.len) {
                if (k)
                    v[k++] = ' ';
                memcpy(v + k, add.ptr, add.len);
                k += add.len;
            }
            v[k] = 0;
            f->value = v;
            f->value_len = k;
        } else {
            const char *colon = memchr(p, ':', len);
            if (!colon || colon == p) {
                if (strict)
                    return fail(r, CS_EFORMAT, off + (uint64_t)(p - hdr),
                                "header line without a field name and colon");
                p = e + 1;
                continue; /* lenient: ignore the junk line */
            }
            cs_slice name = cs_slice_trim((cs_slice){p, (size_t)(colon - p)});
            cs_slice val = cs_slice_trim((cs_slice){colon + 1, len - (size_t)(colon + 1 - p)});
            cs_warc_field *f = &rec->fields[rec->nfields++];
            f->name = cs_arena_strndup(&r->arena, name.ptr, name.len);
            f->name_len = name.len;
            f->value = cs_arena_strndup(&r->arena, val.ptr, val.len);
            f->value_len = val.len;
            if (!f->name || !f->value)
                return CS_ENOMEM;
        }
        p = e + 1;
    }

    rec->type_str = "";
    rec->type = CS_WARC_UNKNOWN;
    for (size_t i = 0; i < rec->nfields; i++) {
        cs_warc_field *f = &rec->fields[i];
        cs_slice nm = {f->name, f->name_len};
        if (cs_slice_ieq(nm, "WARC-Type") && !rec->type_str[0]) {
            rec->type_str = f->value;
            rec->type = cs_warc_type_parse(f->value, f->value_len);
        } else if (cs_slice_ieq(nm, "Content-Length") && !have_len) {
            if (!cs_slice_to_u64((cs_slice){f->value, f->value_len}, &rec->content_length))
                return fail(r, CS_EFORMAT, off, "bad Content-Length '%.40s'", f->value);
            have_len = true;
        } else if (cs_slice_ieq(nm, "WARC-Target-URI") && !rec->target_uri) {
            rec->target_uri = normalise_uri(&r->arena, f->value, f->value_len);
            if (!rec->target_uri)
                return CS_ENOMEM;
        } else if (cs_slice_ieq(nm, "WARC-Date") && !rec->date) {
            rec->date = f->value;
        } else if (cs_slice_ieq(nm, "WARC-Record-ID") && !rec->record_id) {
            rec->record_id = f->value;
        } else if (cs_slice_ieq(nm, "Content-Type") && !rec->content_type) {
            rec->content_type = f->value;
        }
    }
    if (!have_len)
        return fail(r, CS_EFORMAT, off, "missing Content-Length");
    if (strict) {
        if (!rec->type_str[0])
            return fail(r, CS_EFORMAT, off, "missing WARC-Type");
        if (!rec->record_id)
            return fail(r, CS_EFORMAT, off, "missing WARC-Record-ID");
        if (!rec->date)
            return fail(r, CS_EFORMAT, off, "missing WARC-Date");
    }
    return CS_OK;
}

/* Finds the end of the header block starting at the window position; sets
 * *hlen to its length including the blank line. */
static cs_status find_header_end(cs_warc_reader *r, size_t *hlen)
{
    size_t scanned = 0;
    for (;;) {
        const char *p = r->win + r->win_pos;
        size_t a = avail(r);
        size_t from = scanned > 3 ? scanned - 3 : 0;
        const char *hit = memmem(p + from, a - from, "\r\n\r\n", 4);
        size_t h = hit ? (size_t)(hit - p) + 4 : 0;
        if (!r->opts.strict) {
            /* LF-only headers: "\n\n" (also "\n\r\n") */
            const char *lf = p + from;
            size_t left = a - from;
            while ((lf = memchr(lf, '\n', left))) {
                size_t i = (size_t)(lf - p);
                if (hit && i + 1 >= h)
                    break;
                if (i + 1 < a && p[i + 1] == '\n') {
                    h = i + 2;
                    hit = lf;
                    break;
                }
                if (i + 2 < a && p[i + 1] == '\r' && p[i + 2] == '\n') {
                    h = i + 3;
                    hit = lf;
                    break;
                }
                left = a - i - 1;
                lf++;
            }
        }
        if (hit && h <= r->opts.max_header) {
            *hlen = h;
            return CS_OK;
        }
        if (a > r->opts.max_header || (hit && h > r->opts.max_header))
            return fail(r, CS_ETOOBIG, spos(r), "header block larger than %zu bytes",
                        r->opts.max_header);
        scanned = a;
        cs_status st = fill(r, a + 4096);
        if (st)
            return st;
        if (avail(r) == a) {
            if (a == 0)
                return CS_DONE;
            return fail(r, CS_ETRUNC, spos(r), "file ends inside a record header");
        }
    }
}

/* Jumps over the rest of a gzip member whose 'sl' extra field gives its
 * compressed length, without inflating it. */
static bool jump_member(cs_warc_reader *r)
{
    const cs_warc_record *rec = &r->rec;
    if (!r->gz || r->threaded || !rec->member_aligned || !r->in_member ||
        r->member_coff != rec->offset)
        return false;
    const boundary *b = find_boundary(r, rec->stream_offset);
    if (!b || !b->has_sl || b->sl < 18)
        return false;
    uint64_t to = b->coff + b->sl;
    if (to >= r->in_base && to <= r->in_base + r->in_len) {
        r->in_pos = (size_t)(to - r->in_base);
    } else if (!r->in_mem && r->seekable && to > r->in_base + r->in_len) {
        if (lseek(r->fd, (off_t)to, SEEK_SET) != (off_t)to)
            return false;
        r->in_base = to;
        r->in_pos = r->in_len = 0;
        r->in_eof = false;
    } else {
        return false;
    }
    r->in_member = r->src_in_member = false;
    r->member_end_coff = r->src_member_end = to;
    r->win_pos = r->win_end; /* drop the member's output */
    r->block_left = 0;
    r->rec.compressed_length = b->sl;
    return true;
}

/* Consumes the rest of the current record: block and trailer, and works out
 * the record's compressed length. A missing trailer is reported. */
static cs_status finish_record(cs_warc_reader *r)
{
    if (!r->in_block)
        return CS_OK;
    cs_warc_record *rec = &r->rec;
    cs_status st = CS_OK;
    r->in_block = false;
    if (r->block_left && jump_member(r))
        return CS_OK;
    if (r->block_left) {
        uint64_t skipped;
        st = skip(r, r->block_left, &skipped);
        r->block_left -= skipped;
        if (st == CS_ETRUNC)
            return fail(r, CS_ETRUNC, rec->offset,
                        "record block truncated: %llu of %llu bytes missing",
                        (unsigned long long)r->block_left,
                        (unsigned long long)rec->content_length);
        if (st)
            return st;
    }
    /* trailer: CRLF CRLF */
    if ((st = fill(r, 4)))
        return st;
    const char *p = r->win + r->win_pos;
    size_t a = avail(r);
    bool at_member = r->gz && find_boundary(r, spos(r));
    if (a >= 4 && !memcmp(p, "\r\n\r\n", 4)) {
        r->win_pos += 4;
    } else if (a == 0 || (at_member && !r->opts.strict)) {
        if (r->opts.strict)
            return fail(r, CS_ETRUNC, spos(r), "record at %llu lacks the CRLFCRLF trailer",
                        (unsigned long long)rec->offset);
    } else {
        size_t i = 0;
        while (i < a && i < 4 && (p[i] == '\r' || p[i] == '\n'))
            i++;
        if (r->opts.strict || i == 0) {
            r->resync = true;
            return fail(r, CS_EFORMAT, spos(r),
                        "record at %llu: block not followed by CRLFCRLF (wrong Content-Length?)",
                        (unsigned long long)rec->offset);
        }
        r->win_pos += i;
    }
    if (!r->gz) {
        rec->compressed_length = spos(r) - rec->offset;
        return CS_OK;
    }
    if (!rec->member_aligned)
        return CS_OK;
    /* The record is range-fetchable when it ends where its member ends. Read
     * one byte ahead so the inflater passes the member's end. */
    uint64_t end = spos(r);
    if (avail(r) == 0) {
        st = fill(r, 1);
        if (st) { /* belongs to the next record: report it on the next call */
            r->pending = st;
            memcpy(r->pending_err, r->err, sizeof r->err);
        }
    }
    const boundary *nb = boundary_after(r, end - 1);
    if (nb && nb->soff >= r->win_base + r->win_pos && nb->soff <= r->win_base + r->win_end) {
        const char *q = r->win + r->win_pos;
        size_t gap = (size_t)(nb->soff - end), k = 0;
        while (k < gap && (q[k] == '\r' || q[k] == '\n'))
            k++;
        if (k == gap) {
            r->win_pos += gap;
            rec->compressed_length = nb->coff - rec->offset;
            return CS_OK;
        }
    } else if (!nb && !r->src_in_member && r->src_eof && !r->cur) {
        const char *q = r->win + r->win_pos;
        size_t n = avail(r), k = 0;
        while (k < n && (q[k] == '\r' || q[k] == '\n'))
            k++;
        if (k == n) {
            r->win_pos += n;
            rec->compressed_length = r->src_member_end - rec->offset;
            return CS_OK;
        }
    }
    rec->member_aligned = false; /* more records share the member */
    return CS_OK;
}

cs_status cs_warc_reader_next(cs_warc_reader *r, cs_warc_record **out)
{
    cs_status st;
    *out = NULL;
    if (r->fatal)
        return CS_EIO;
    if (r->have_rec && r->in_block) {
        r->have_rec = false;
        st = finish_record(r);
        if (st) {
            if (st == CS_EIO || st == CS_ENOMEM)
                r->fatal = true;
            r->stats.errors++;
            return st;
        }
    }
    r->have_rec = false;
    if (r->pending) {
        st = r->pending;
        r->pending = CS_OK;
        memcpy(r->err, r->pending_err, sizeof r->err);
        r->stats.errors++;
        return st;
    }
    for (;;) {
        if (r->resync) {
            if ((st = do_resync(r))) {
                if (st == CS_EIO || st == CS_ENOMEM)
                    r->fatal = true;
                r->stats.errors++;
                return st;
            }
        }
        bool eof;
        st = skip_blank(r, &eof);
        if (st)
            goto bad;
        if (eof)
            return CS_DONE;
        cs_arena_reset(&r->arena);
        cs_warc_record *rec = &r->rec;
        memset(rec, 0, sizeof *rec);
        rec->stream_offset = spos(r);
        prune_boundaries(r, rec->stream_offset);
        if (r->gz) {
            const boundary *b = find_boundary(r, rec->stream_offset);
            if (b) {
                rec->offset = b->coff;
                rec->member_aligned = true;
            } else {
                b = boundary_before(r, rec->stream_offset);
                rec->offset = b ? b->coff : 0;
            }
        } else {
            rec->offset = rec->stream_offset;
        }
        size_t hlen = 0;
        st = find_header_end(r, &hlen);
        if (st == CS_DONE)
            return CS_DONE;
        if (st)
            goto bad;
        const char *hdr = r->win + r->win_pos;
        st = parse_header(r, hdr, hlen, rec->offset);
        if (st)
            goto bad;
        rec->header_raw = cs_arena_strndup(&r->arena, hdr, hlen);
        if (!rec->header_raw) {
            st = CS_ENOMEM;
            goto bad;
        }
        rec->header_raw_len = hlen;
        r->win_pos += hlen;
        r->block_left = rec->content_length;
        r->in_block = true;
        r->have_rec = true;
        if (!(rec->type & r->opts.types)) {
            r->stats.skipped++;
            r->have_rec = false;
            st = finish_record(r);
            if (st)
                goto bad;
            continue;
        }
        r->stats.records++;
        *out = rec;
        return CS_OK;
    bad:
        if (st == CS_EIO || st == CS_ENOMEM) {
            r->fatal = true;
            return st;
        }
        r->stats.errors++;
        r->in_block = false;
        r->have_rec = false;
        /* gzip layer errors already moved to the next member */
        if (st != CS_EGZIP)
            r->resync = true;
        if (st == CS_ETRUNC) {
            r->win_pos = r->win_end; /* the rest of the input is unusable */
            r->resync = r->gz && !(r->src_eof && !r->cur);
        }
        return st;
    }
}

cs_status cs_warc_reader_finish(cs_warc_reader *r)
{
    if (!r->have_rec || !r->in_block)
        return CS_OK;
    cs_status st = finish_record(r);
    if (st) {
        r->have_rec = false;
        if (st == CS_EIO || st == CS_ENOMEM)
            r->fatal = true;
        r->stats.errors++;
    }
    return st;
}

cs_status cs_warc_reader_chunk(cs_warc_reader *r, const char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (!r->have_rec || !r->in_block || r->block_left == 0)
        return CS_DONE;
    if (avail(r) == 0) {
        cs_status st = fill(r, 1);
        if (st) {
            r->in_block = false;
            r->stats.errors++;
            return st;
        }
        if (avail(r) == 0) {
            r->in_block = false;
            r->stats.errors++;
            return fail(r, CS_ETRUNC, r->rec.offset,
                        "record block truncated: %llu of %llu bytes missing",
                        (unsigned long long)r->block_left,
                        (unsigned long long)r->rec.content_length);
        }
    }
    size_t a = avail(r);
    size_t k = a < r->block_left ? a : (size_t)r->block_left;
    *p = r->win + r->win_pos;
    *n = k;
    r->win_pos += k;
    r->block_left -= k;
    return CS_OK;
}

cs_status cs_warc_reader_read(cs_warc_reader *r, void *buf, size_t cap, size_t *n)
{
    *n = 0;
    while (*n < cap) {
        if (!r->have_rec || !r->in_block || r->block_left == 0)
            break;
        if (avail(r) == 0 && *n > 0)
            break;
        const char *p;
        size_t k;
        uint64_t left = r->block_left;
        size_t room = cap - *n;
        if (left > room)
            r->block_left = room; /* limit this chunk */
        cs_status st = cs_warc_reader_chunk(r, &p, &k);
        if (left > room)
            r->block_left = left - (st == CS_OK ? k : 0);
        if (st == CS_DONE)
            break;
        if (st)
            return st;
        memcpy((char *)buf + *n, p, k);
        *n += k;
    }
    return CS_OK;
}

cs_status cs_warc_reader_block(cs_warc_reader *r, size_t max, cs_slice *block)
{
    if (!max)
        max = DEFAULT_MAX_BLOCK;
    block->ptr = "";
    block->len = 0;
    cs_buf_reset(&r->block);
    if (!r->have_rec)
        return CS_DONE;
    bool too_big = r->block_left > max;
    if (!too_big && (size_t)r->block_left <= avail(r)) {
        /* zero-copy: the whole block is in the window */
        block->ptr = r->win + r->win_pos;
        block->len = (size_t)r->block_left;
        r->win_pos += block->len;
        r->block_left = 0;
        return CS_OK;
    }
    if (!too_big) {
        cs_status st = fill(r, (size_t)r->block_left);
        if (st == CS_OK && (size_t)r->block_left <= avail(r) && r->block_left <= r->win_cap / 2) {
            block->ptr = r->win + r->win_pos;
            block->len = (size_t)r->block_left;
            r->win_pos += block->len;
            r->block_left = 0;
            return CS_OK;
        }
        if (st)
            return st;
    }
    for (;;) {
        const char *p;
        size_t k;
        cs_status st = cs_warc_reader_chunk(r, &p, &k);
        if (st == CS_DONE)
            break;
        if (st)
            return st;
        if (!too_big && (st = cs_buf_append(&r->block, p, k)))
            return st;
    }
    if (too_big)
        return fail(r, CS_ETOOBIG, r->rec.offset, "record block of %llu bytes exceeds %zu",
                    (unsigned long long)r->rec.content_length, max);
    block->ptr = r->block.data ? r->block.data : "";
    block->len = r->block.len;
    return CS_OK;
}
