/* writer.c - dataset shards with img2dataset's conventions: webdataset tars
 * (libarchive, ustar), the img2dataset "files" layout and the web2dataset
 * layout, each with a JSON Lines row per input row and a _stats.json per
 * shard; atomic commit under OUT/_tmp/, incremental reruns, HTTP PUT output.
 *
 * Out-of-order input, deterministic output: each open shard keeps one slot
 * per row. A sample that is the next one due is written at once (and any
 * early ones queued behind it follow); an early sample goes to the shard's
 * spool file and waits there, on disk, for its turn. So memory stays at a
 * slot per row whatever the arrival order, and the tar and the .jsonl come
 * out in key order, byte for byte the same for every order and every rerun
 * (tar members have fixed mtime, owner and mode). See crawlset/dataset.h.
 *
 * Committing: once a shard has every row and its spool is drained (under the
 * writer lock: that part shares the writer's buffers), it is handed to a
 * committer thread that closes, syncs, stats, renames or uploads it (HTTP
 * PUT) with no lock held, so the image workers keep adding samples to the
 * other shards meanwhile. Up to max_open_shards shards may be committing;
 * past that, admission says wait (cs_dataset_writer_flush waits for them). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "crawlset/dataset.h"
#include "dataset/dataset_int.h"

#define DEFAULT_SPS 10000u
#define DEFAULT_DIGITS 5u
#define DEFAULT_MAX_OPEN 8u
#define MAX_SPS 1000000000ull          /* keys stay far below 2^64 */
#define MAX_SHARDS (1u << 24)          /* shard ids tracked in a byte map */
#define MAX_META (64u << 20)           /* one sample's metadata JSON */
#define COUNTER_MAX 256                /* distinct status_dict / reason entries */
#define PATHLEN 4096

enum { SLOT_EMPTY, SLOT_SPOOLED, SLOT_DONE };
/* What the writer knows of a shard id (byte map). */
enum { SH_UNKNOWN, SH_OPEN, SH_SKIPPED, SH_COMMITTING, SH_COMMITTED, SH_FAILED };

/* One row of an open shard. */
typedef struct slot {
    uint64_t off;      /* spool offset of its record */
    uint64_t img_len;  /* image bytes in the record (webdataset) */
    uint32_t meta_len; /* metadata JSON bytes */
    uint32_t txt_len;  /* caption bytes (KEY.txt) */
    uint8_t state;     /* SLOT_* */
    uint8_t has_img;   /* a successful sample: it has files */
    char ext[8];       /* its image extension */
} slot;

typedef struct counter {
    char *name;
    uint64_t n;
} counter;

typedef struct counters {
    counter *v;
    size_t n, cap;
    uint64_t other; /* counts past COUNTER_MAX distinct names */
} counters;

typedef struct shard {
    uint64_t id;
    char name[32];        /* "00000" */
    uint64_t nrows;       /* rows it will hold */
    uint64_t received;    /* rows added */
    uint64_t next;        /* first row (within the shard) not yet written */
    slot *slots;          /* samples_per_shard of them */
    struct archive *ar;   /* webdataset: the tar being written */
    int tar_fd;
    FILE *jsonl;
    int spool_fd;         /* -1 until an early sample comes */
    uint64_t spool_len;
    uint64_t successes, failed_dl, failed_resize, bytes_dl, bytes_img;
    counters status_dict; /* img2dataset's: error messages and "success" */
    counters reasons;     /* ours: the fixed-list reasons */
    double start_wall;
    struct shard *cnext;  /* commit queue link */
} shard;

struct cs_dataset_writer {
    pthread_mutex_t mu;
    cs_dataset_opts o;        /* defaults filled in */
    char image_ext[8];
    char *root;               /* local output (or staging) directory */
    char *tmp;                /* root/_tmp */
    bool http;
    bool own_root;            /* staging root we created: removed at the end */
    cs__put put;
    uint64_t key_pow;         /* 10^key_digits */
    unsigned key_digits;
    shard **open;             /* max_open_shards entries */
    size_t nopen;
    uint8_t *state;           /* SH_* per shard id */
    size_t nstate;
    bool total_known;
    uint64_t total;
    cs_buf meta;              /* metadata JSON being built */
    cs_buf rbuf;              /* spool read-back */
    cs_buf txt;               /* repaired caption */
    struct archive_entry *entry;
    cs_dataset_stats stats;
    char errmsg[CS_ERRMSG_MAX];

    /* the committer thread (started with the first commit); guarded by mu */
    pthread_t cth;
    bool cth_started, cth_stop;
    pthread_cond_t cq_cv;     /* a shard was queued, or stop */
    pthread_cond_t cdone_cv;  /* a commit ended */
    shard *cq_head, *cq_tail; /* sealed shards waiting */
    size_t ncommitting;       /* queued + the one being published */
    cs_status commit_err;     /* the first failed commit: every later call says so */
    char commit_msg[CS_ERRMSG_MAX];
    char cerr[CS_ERRMSG_MAX]; /* the committer's own error text (no lock held) */
    _Atomic uint64_t uploads;
};

/* fail() writes here instead of w->errmsg on the committer thread, which
 * runs without the lock that guards w->errmsg. */
static _Thread_local char *tl_errbuf;

static const char *const FIXED_FIELDS[] = {
    "url",    "caption",        "key",           "status", "error_message", "width",
    "height", "original_width", "original_height", "exif", "sha256",        "reason",
};

/* ---- small helpers ------------------------------------------------------------ */

static cs_status fail(cs_dataset_writer *w, cs_status st, const char *fmt, ...) CS_PRINTF(3, 4);

static cs_status fail(cs_dataset_writer *w, cs_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_errbuf ? tl_errbuf : w->errmsg, CS_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    return st;
}

static cs_status fail_errno(cs_dataset_writer *w, const char *what, const char *path)
{
    int e = errno;
    return fail(w, e == ENOMEM ? CS_ENOMEM : CS_EIO, "%s %.150s: %s", what, path, strerror(e));
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool path(char *out, const char *a, const char *b, const char *c)
{
    int n = snprintf(out, PATHLEN, "%s/%s%s", a, b, c ? c : "");
    return n > 0 && n < PATHLEN;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void rm_rf(const char *p)
{
    struct stat sb;
    if (lstat(p, &sb) == 0)
        nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static cs_status mkdir_p(cs_dataset_writer *w, const char *dir)
{
    char p[PATHLEN];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return fail(w, CS_EINVAL, "path too long: %.100s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST)
            return fail_errno(w, "mkdir", p);
        *s = '/';
    }
    if (mkdir(p, 0755) && errno != EEXIST)
        return fail_errno(w, "mkdir", p);
    return CS_OK;
}

/* fsync of a directory (its entries), or with whole_fs a syncfs of the
 * file system under it (the staged files of a files layout, one call for
 * the lot). Nothing with no_fsync. */
static cs_status sync_path(cs_dataset_writer *w, const char *dir, bool whole_fs)
{
    if (w->o.no_fsync)
        return CS_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(w, "open", dir);
    int rc = whole_fs ? syncfs(fd) : fsync(fd);
    close(fd);
    return rc ? fail_errno(w, whole_fs ? "syncfs" : "fsync", dir) : CS_OK;
}

static cs_status sync_dir(cs_dataset_writer *w, const char *dir)
{
    return sync_path(w, dir, false);
}

static cs_status write_all(cs_dataset_writer *w, int fd, const void *p, size_t n, uint64_t off,
                           bool positional, const char *name)
{
    const char *c = p;
    while (n) {
        ssize_t k = positional ? pwrite(fd, c, n, (off_t)off) : write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail_errno(w, "write", name);
        }
        c += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return CS_OK;
}

static cs_status write_file(cs_dataset_writer *w, const char *p, const void *d, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail_errno(w, "create", p);
    cs_status st = write_all(w, fd, d, n, 0, false, p);
    if (close(fd) && !st)
        st = fail_errno(w, "close", p);
    return st;
}

/* Appends p as valid UTF-8 (U+FFFD for invalid bytes). */
static cs_status put_utf8(cs_buf *b, const char *p, size_t n)
{
    cs_status st;
    for (size_t i = 0; i < n;) {
        size_t k = cs__utf8_seq((const unsigned char *)p + i, n - i);
        if (k == 0) {
            if ((st = cs_buf_append(b, "\xEF\xBF\xBD", 3)))
                return st;
            i++;
            continue;
        }
        size_t j = i + k;
        while (j < n) { /* extend over a run of valid sequences */
            size_t k2 = cs__utf8_seq((const unsigned char *)p + j, n - j);
            if (!k2)
                break;
            j += k2;
        }
        if ((st = cs_buf_append(b, p + i, j - i)))
            return st;
        i = j;
    }
    return CS_OK;
}

static bool valid_ext(const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((e[i] >= 'a' && e[i] <= 'z') || (e[i] >= '0' && e[i] <= '9')))
            return false;
    return true;
}

/* ---- counters ------------------------------------------------------------------ */

static cs_status count(counters *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name)) {
            c->v[i].n++;
            return CS_OK;
        }
    if (c->n == COUNTER_MAX) {
        c->other++;
        return CS_OK;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        counter *v = cs_realloc(c->v, nc * sizeof *v);
        if (!v)
            return CS_ENOMEM;
        c->v = v;
        c->cap = nc;
    }
    if (!(c->v[c->n].name = cs_strdup(name)))
        return CS_ENOMEM;
    c->v[c->n++].n = 1;
    return CS_OK;
}

static void counters_cleanup(counters *c)
{
    for (size_t i = 0; i < c->n; i++)
        cs_free(c->v[i].name);
    cs_free(c->v);
    memset(c, 0, sizeof *c);
}

static int counter_cmp(const void *a, const void *b)
{
    const counter *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* "{\n        \"a\": 1,\n ...}" sorted by count, then name. */
static cs_status put_counters(cs_buf *b, counters *c)
{
    qsort(c->v, c->n, sizeof *c->v, counter_cmp);
    cs_buf_putc(b, '{');
    for (size_t i = 0; i < c->n; i++) {
        cs_buf_puts(b, i ? ",\n        " : "\n        ");
        cs_json_put_str(b, c->v[i].name, strlen(c->v[i].name));
        cs_buf_printf(b, ": %" PRIu64, c->v[i].n);
    }
    if (c->other) {
        cs_buf_puts(b, c->n ? ",\n        " : "\n        ");
        cs_buf_printf(b, "\"(other)\": %" PRIu64, c->other);
    }
    return cs_buf_puts(b, c->n || c->other ? "\n    }" : "}");
}

/* ---- keys and names --------------------------------------------------------------- */

static void fill_defaults(cs_dataset_opts *o, const cs_dataset_opts *in)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (!o->samples_per_shard)
        o->samples_per_shard = DEFAULT_SPS;
    if (!o->shard_digits)
        o->shard_digits = DEFAULT_DIGITS;
    if (!o->max_open_shards)
        o->max_open_shards = DEFAULT_MAX_OPEN;
    if (!o->put_retries)
        o->put_retries = 4;
    if (!o->put_timeout_ms)
        o->put_timeout_ms = 300000;
}

static unsigned key_digits(uint64_t sps, uint64_t *pow)
{
    unsigned d = 0;
    uint64_t p = 1;
    while (p < sps) {
        p *= 10;
        d++;
    }
    if (pow)
        *pow = p;
    return d;
}

uint64_t cs_dataset_shard_of(const cs_dataset_opts *opts, uint64_t index)
{
    cs_dataset_opts o;
    fill_defaults(&o, opts);
    return index / o.samples_per_shard;
}

size_t cs_dataset_key(const cs_dataset_opts *opts, uint64_t index, char *out)
{
    cs_dataset_opts o;
    fill_defaults(&o, opts);
    uint64_t pow;
    unsigned d = key_digits(o.samples_per_shard, &pow);
    uint64_t id = index / o.samples_per_shard, in = index % o.samples_per_shard;
    int n = snprintf(out, 32, "%0*" PRIu64, (int)(o.shard_digits + d), id * pow + in);
    return n > 0 ? (size_t)n : 0;
}

static void shard_key(const cs_dataset_writer *w, const shard *s, uint64_t in, char *out)
{
    snprintf(out, 32, "%0*" PRIu64, (int)(w->o.shard_digits + w->key_digits),
             s->id * w->key_pow + in);
}

/* ---- metadata -------------------------------------------------------------------------- */

static bool fixed_field(const char *name)
{
    for (size_t i = 0; i < sizeof FIXED_FIELDS / sizeof *FIXED_FIELDS; i++)
        if (!strcmp(name, FIXED_FIELDS[i]))
            return true;
    return false;
}

static void put_str_or_null(cs_buf *b, const char *s)
{
    if (s)
        cs_json_put_str(b, s, strlen(s));
    else
        cs_buf_puts(b, "null");
}

static void put_int_or_null(cs_buf *b, int v)
{
    if (v > 0)
        cs_buf_printf(b, "%d", v);
    else
        cs_buf_puts(b, "null");
}

/* The metadata object of sample s (key given) into w->meta, one line. */
static cs_status build_meta(cs_dataset_writer *w, const cs_dataset_sample *s, const char *key)
{
    cs_buf *b = &w->meta;
    cs_buf_reset(b);
    cs_buf_puts(b, "{\"url\":");
    put_str_or_null(b, s->url);
    cs_buf_puts(b, ",\"caption\":");
    put_str_or_null(b, s->caption);
    for (size_t k = 0; k < s->ncolumns; k++) {
        const cs_urllist_column *c = &s->columns[k];
        if (!c->name || fixed_field(c->name))
            continue;
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = s->columns[j].name && !strcmp(s->columns[j].name, c->name);
        if (dup)
            continue;
        cs_buf_putc(b, ',');
        cs_json_put_str(b, c->name, strlen(c->name));
        cs_buf_putc(b, ':');
        if (c->json)
            cs_buf_puts(b, c->json);
        else
            put_str_or_null(b, c->value);
    }
    cs_buf_puts(b, ",\"key\":");
    cs_json_put_str(b, key, strlen(key));
    cs_buf_puts(b, ",\"status\":\"");
    cs_buf_puts(b, cs_dataset_status_name(s->status));
    cs_buf_puts(b, "\",\"error_message\":");
    put_str_or_null(b, s->error_message);
    cs_buf_puts(b, ",\"width\":");
    put_int_or_null(b, s->width);
    cs_buf_puts(b, ",\"height\":");
    put_int_or_null(b, s->height);
    cs_buf_puts(b, ",\"original_width\":");
    put_int_or_null(b, s->original_width);
    cs_buf_puts(b, ",\"original_height\":");
    put_int_or_null(b, s->original_height);
    cs_buf_puts(b, ",\"exif\":");
    put_str_or_null(b, s->exif);
    cs_buf_puts(b, ",\"sha256\":");
    put_str_or_null(b, s->sha256);
    cs_buf_puts(b, ",\"reason\":");
    const char *reason = s->reason ? s->reason
                         : s->status == CS_DATASET_SUCCESS ? "ok"
                                                           : cs_dataset_status_name(s->status);
    cs_json_put_str(b, reason, strlen(reason));
    if (s->extra_json && s->extra_json[0]) {
        cs_buf_putc(b, ',');
        cs_buf_puts(b, s->extra_json);
    }
    cs_status st = cs_buf_putc(b, '}');
    if (st)
        return fail(w, st, "metadata of row %" PRIu64 ": %s", s->index,
                    st == CS_ETOOBIG ? "larger than 64 MiB" : cs_strerror(st));
    return CS_OK;
}

/* ---- tar members --------------------------------------------------------------------------- */

static cs_status tar_member(cs_dataset_writer *w, shard *s, const char *name, const void *d,
                            size_t n)
{
    struct archive_entry *e = w->entry;
    archive_entry_clear(e);
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, (time_t)w->o.mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (archive_write_header(s->ar, e) != ARCHIVE_OK)
        goto bad;
    const char *c = d;
    while (n) {
        la_ssize_t k = archive_write_data(s->ar, c, n);
        if (k <= 0)
            goto bad;
        c += k;
        n -= (size_t)k;
    }
    return CS_OK;
bad:
    return fail(w, CS_EIO, "%s.tar: %s", s->name, archive_error_string(s->ar));
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes row `in` of s (its parts given) to the shard: the .jsonl line and,
 * for a webdataset success, the tar members in name order. */
static cs_status emit(cs_dataset_writer *w, shard *s, uint64_t in, const char *meta,
                      size_t meta_len, const char *txt, size_t txt_len, const void *img,
                      size_t img_len)
{
    slot *sl = &s->slots[in];
    if (fwrite(meta, 1, meta_len, s->jsonl) != meta_len || fputc('\n', s->jsonl) == EOF)
        return fail(w, CS_EIO, "write %s.jsonl: %s", s->name, strerror(errno));
    if (w->o.format == CS_DATASET_WEBDATASET && sl->has_img) {
        char key[32], names[3][48];
        shard_key(w, s, in, key);
        snprintf(names[0], sizeof names[0], "%s.%s", key, sl->ext);
        snprintf(names[1], sizeof names[1], "%s.json", key);
        snprintf(names[2], sizeof names[2], "%s.txt", key);
        const char *order[3] = {names[0], names[1], names[2]};
        size_t n = w->o.no_txt ? 2 : 3;
        qsort(order, n, sizeof *order, str_cmp);
        for (size_t i = 0; i < n; i++) {
            cs_status st;
            if (order[i] == names[0])
                st = tar_member(w, s, names[0], img, img_len);
            else if (order[i] == names[1])
                st = tar_member(w, s, names[1], meta, meta_len);
            else
                st = tar_member(w, s, names[2], txt, txt_len);
            if (st)
                return st;
        }
    }
    sl->state = SLOT_DONE;
    return CS_OK;
}

/* Writes the spooled rows that are now due. */
static cs_status drain(cs_dataset_writer *w, shard *s)
{
    while (s->next < s->nrows && s->slots[s->next].state == SLOT_SPOOLED) {
        slot *sl = &s->slots[s->next];
        size_t n = (size_t)(sl->meta_len + sl->txt_len + sl->img_len);
        cs_buf_reset(&w->rbuf);
        cs_status st = cs_buf_reserve(&w->rbuf, n);
        if (st)
            return fail(w, st, "%s: spool read-back: %s", s->name, cs_strerror(st));
        size_t got = 0;
        while (got < n) {
            ssize_t k = pread(s->spool_fd, w->rbuf.data + got, n - got, (off_t)(sl->off + got));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return fail(w, CS_EIO, "read %s.spool: %s", s->name,
                            k < 0 ? strerror(errno) : "short read");
            got += (size_t)k;
        }
        const char *d = w->rbuf.data;
        st = emit(w, s, s->next, d, sl->meta_len, d + sl->meta_len, sl->txt_len,
                  d + sl->meta_len + sl->txt_len, (size_t)sl->img_len);
        if (st)
            return st;
        s->next++;
    }
    return CS_OK;
}

/* ---- shards: open, abandon, commit ----------------------------------------------------------- */

static cs_status state_grow(cs_dataset_writer *w, uint64_t id)
{
    if (id >= MAX_SHARDS)
        return fail(w, CS_EINVAL, "shard %" PRIu64 " is past the limit of %u shards", id,
                    MAX_SHARDS);
    if (id < w->nstate)
        return CS_OK;
    size_t n = w->nstate ? w->nstate : 64;
    while (n <= id)
        n *= 2;
    uint8_t *m = cs_realloc(w->state, n);
    if (!m)
        return fail(w, CS_ENOMEM, "out of memory");
    memset(m + w->nstate, SH_UNKNOWN, n - w->nstate);
    w->state = m;
    w->nstate = n;
    return CS_OK;
}

static shard *find_open(cs_dataset_writer *w, uint64_t id)
{
    for (size_t i = 0; i < w->nopen; i++)
        if (w->open[i]->id == id)
            return w->open[i];
    return NULL;
}

/* Removes every temporary file of shard `name`. */
static void remove_tmp(cs_dataset_writer *w, const char *name)
{
    static const char *const suffixes[] = {".tar", ".jsonl", ".spool", "_stats.json", "", ".old"};
    char p[PATHLEN];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
        if (path(p, w->tmp, name, suffixes[i]))
            rm_rf(p);
}

static void shard_close_files(shard *s)
{
    if (s->ar) {
        /* writes a trailer into a file that is thrown away next (archive_write_fail()
           would skip it, but then archive_write_free() leaks the fd client's buffer) */
        archive_write_free(s->ar);
        s->ar = NULL;
    }
    if (s->tar_fd >= 0)
        close(s->tar_fd);
    s->tar_fd = -1;
    if (s->jsonl)
        fclose(s->jsonl);
    s->jsonl = NULL;
    if (s->spool_fd >= 0)
        close(s->spool_fd);
    s->spool_fd = -1;
}

static void shard_free(shard *s)
{
    if (!s)
        return;
    shard_close_files(s);
    counters_cleanup(&s->status_dict);
    counters_cleanup(&s->reasons);
    cs_free(s->slots);
    cs_free(s);
}

static void unlist(cs_dataset_writer *w, shard *s)
{
    for (size_t i = 0; i < w->nopen; i++)
        if (w->open[i] == s) {
            w->open[i] = w->open[--w->nopen];
            break;
        }
}

/* Drops an open shard and its temporary files; it stays incomplete. */
static void abandon(cs_dataset_writer *w, shard *s, uint8_t state)
{
    shard_close_files(s);
    remove_tmp(w, s->name);
    unlist(w, s);
    w->state[s->id] = state;
    shard_free(s);
}

/* Is shard `name` complete where the output lives? */
static cs_status complete_exists(cs_dataset_writer *w, const char *name, bool *yes)
{
    char rel[64];
    snprintf(rel, sizeof rel, "%s_stats.json", name);
    if (w->http)
        return cs__put_exists(&w->put, rel, yes, w->errmsg);
    char p[PATHLEN];
    path(p, w->root, rel, NULL);
    *yes = exists(p);
    return CS_OK;
}

static cs_status shard_open(cs_dataset_writer *w, uint64_t id, shard **out)
{
    *out = NULL;
    shard *s = cs_calloc(1, sizeof *s);
    if (!s)
        return fail(w, CS_ENOMEM, "out of memory");
    s->id = id;
    s->tar_fd = s->spool_fd = -1;
    snprintf(s->name, sizeof s->name, "%0*" PRIu64, (int)w->o.shard_digits, id);
    s->nrows = w->o.samples_per_shard;
    if (w->total_known && w->total - id * w->o.samples_per_shard < s->nrows)
        s->nrows = w->total - id * w->o.samples_per_shard;
    s->start_wall = wall_now();
    char p[PATHLEN];
    cs_status st = CS_OK;
    if (!(s->slots = cs_calloc((size_t)w->o.samples_per_shard, sizeof *s->slots))) {
        st = fail(w, CS_ENOMEM, "out of memory");
        goto fail;
    }
    remove_tmp(w, s->name); /* leftovers of a run that died */
    if (!w->o.incremental) {
        /* replacing: the old stats go first, so a crash now leaves "incomplete" */
        char rel[64];
        snprintf(rel, sizeof rel, "%s_stats.json", s->name);
        path(p, w->root, rel, NULL);
        if (w->http) {
            if ((st = cs__put_delete(&w->put, rel, w->errmsg)))
                goto fail;
        } else if (unlink(p) && errno != ENOENT) {
            st = fail_errno(w, "remove", p);
            goto fail;
        }
    }
    if (w->o.format == CS_DATASET_WEBDATASET) {
        path(p, w->tmp, s->name, ".tar");
        s->tar_fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->tar_fd < 0) {
            st = fail_errno(w, "create", p);
            goto fail;
        }
        s->ar = archive_write_new();
        if (!s->ar || archive_write_set_format_pax_restricted(s->ar) != ARCHIVE_OK ||
            archive_write_add_filter_none(s->ar) != ARCHIVE_OK ||
            archive_write_open_fd(s->ar, s->tar_fd) != ARCHIVE_OK) {
            st = fail(w, CS_EIO, "%s.tar: %s", s->name,
                      s->ar ? archive_error_string(s->ar) : "out of memory");
            goto fail;
        }
    } else {
        path(p, w->tmp, s->name, NULL);
        if ((st = mkdir_p(w, p)))
            goto fail;
        if (w->o.format == CS_DATASET_WEB2DATASET) {
            path(p, w->tmp, s->name, "/images");
            if ((st = mkdir_p(w, p)))
                goto fail;
            path(p, w->tmp, s->name, "/metadata");
            if ((st = mkdir_p(w, p)))
                goto fail;
        }
    }
    path(p, w->tmp, s->name, ".jsonl");
    if (!(s->jsonl = fopen(p, "wbe"))) {
        st = fail_errno(w, "create", p);
        goto fail;
    }
    setvbuf(s->jsonl, NULL, _IOFBF, 64 * 1024);
    w->open[w->nopen++] = s;
    w->state[id] = SH_OPEN;
    *out = s;
    return CS_OK;
fail:
    shard_close_files(s);
    remove_tmp(w, s->name);
    shard_free(s);
    return st;
}

static cs_status write_stats(cs_dataset_writer *w, shard *s, const char *p)
{
    double end = wall_now();
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_buf_printf(&b, "{\n    \"shard\": \"%s\",\n    \"format\": \"%s\",\n", s->name,
                  cs_dataset_format_name(w->o.format));
    cs_buf_printf(&b,
                  "    \"count\": %" PRIu64 ",\n    \"successes\": %" PRIu64
                  ",\n    \"failed_to_download\": %" PRIu64 ",\n    \"failed_to_resize\": %" PRIu64
                  ",\n",
                  s->nrows, s->successes, s->failed_dl, s->failed_resize);
    cs_buf_printf(&b,
                  "    \"start_time\": %.3f,\n    \"end_time\": %.3f,\n    \"duration\": %.3f,\n",
                  s->start_wall, end, end - s->start_wall);
    cs_buf_printf(&b,
                  "    \"bytes_downloaded\": %" PRIu64 ",\n    \"bytes_written\": %" PRIu64 ",\n",
                  s->bytes_dl, s->bytes_img);
    cs_buf_puts(&b, "    \"status_dict\": ");
    put_counters(&b, &s->status_dict);
    cs_buf_puts(&b, ",\n    \"reasons\": ");
    put_counters(&b, &s->reasons);
    cs_buf_puts(&b, ",\n    \"filters\": ");
    cs_status st = CS_OK;
    if (w->o.filters_json) /* the candidate filters' counts for this shard */
        st = w->o.filters_json(w->o.filters_ud, s->id, &b);
    else
        cs_buf_puts(&b, "{}");
    cs_buf_puts(&b, "\n}\n");
    if (!st)
        st = b.data ? CS_OK : CS_ENOMEM;
    if (!st) {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            st = fail_errno(w, "create", p);
        } else {
            st = write_all(w, fd, b.data, b.len, 0, false, p);
            if (!st && !w->o.no_fsync && fsync(fd))
                st = fail_errno(w, "fsync", p);
            if (close(fd) && !st)
                st = fail_errno(w, "close", p);
        }
    } else {
        fail(w, st, "out of memory");
    }
    cs_buf_cleanup(&b);
    return st;
}

/* Calls fn(w, local path, relative name) for each file under dir/sub. */
static cs_status each_file(cs_dataset_writer *w, const char *dir, const char *sub,
                           const char *relprefix,
                           cs_status (*fn)(cs_dataset_writer *, const char *, const char *))
{
    char d[PATHLEN];
    path(d, dir, sub, NULL);
    DIR *dp = opendir(d);
    if (!dp)
        return errno == ENOENT ? CS_OK : fail_errno(w, "open", d);
    cs_status st = CS_OK;
    struct dirent *e;
    while (!st && (e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char lp[PATHLEN], rel[PATHLEN];
        if (!path(lp, d, e->d_name, NULL) || !path(rel, relprefix, e->d_name, NULL)) {
            st = fail(w, CS_EINVAL, "path too long under %.100s", d);
            break;
        }
        st = fn(w, lp, rel);
    }
    closedir(dp);
    return st;
}

static cs_status upload_one(cs_dataset_writer *w, const char *local, const char *rel)
{
    cs_status st = cs__put_file(&w->put, local, rel, tl_errbuf ? tl_errbuf : w->errmsg);
    if (!st)
        atomic_fetch_add(&w->uploads, 1);
    return st;
}

static cs_status move_one(cs_dataset_writer *w, const char *local, const char *rel)
{
    char dst[PATHLEN];
    if (!path(dst, w->root, rel, NULL))
        return fail(w, CS_EINVAL, "path too long: %.100s", rel);
    if (rename(local, dst))
        return fail_errno(w, "rename to", dst);
    return CS_OK;
}

/* The committer's half (no lock held; s is its own now): close the files,
 * then put them in place, stats last. */
static cs_status publish(cs_dataset_writer *w, shard *s)
{
    char p[PATHLEN], q[PATHLEN], rel[64];
    cs_status st = CS_OK;
    if (s->ar) {
        int rc = archive_write_close(s->ar);
        archive_write_free(s->ar);
        s->ar = NULL;
        if (rc != ARCHIVE_OK) {
            st = fail(w, CS_EIO, "%s.tar: closing failed", s->name);
            goto fail;
        }
        if (!w->o.no_fsync && fsync(s->tar_fd)) {
            st = fail_errno(w, "fsync", s->name);
            goto fail;
        }
        close(s->tar_fd);
        s->tar_fd = -1;
    }
    path(p, w->tmp, s->name, ".jsonl");
    if (fflush(s->jsonl) || (!w->o.no_fsync && fsync(fileno(s->jsonl)))) {
        st = fail_errno(w, "write", p);
        goto fail;
    }
    fclose(s->jsonl);
    s->jsonl = NULL;
    if (s->spool_fd >= 0) {
        close(s->spool_fd);
        s->spool_fd = -1;
        path(p, w->tmp, s->name, ".spool");
        unlink(p);
    }
    path(p, w->tmp, s->name, "_stats.json");
    if ((st = write_stats(w, s, p)))
        goto fail;
    if (w->o.format != CS_DATASET_WEBDATASET) {
        path(p, w->tmp, s->name, NULL);
        if ((st = sync_path(w, p, true)))
            goto fail;
    }

    if (w->http) {
        /* data, then .jsonl, then stats: the remote side sees stats last */
        if (w->o.format == CS_DATASET_WEBDATASET) {
            path(p, w->tmp, s->name, ".tar");
            snprintf(rel, sizeof rel, "%s.tar", s->name);
            st = upload_one(w, p, rel);
        } else if (w->o.format == CS_DATASET_FILES) {
            path(p, w->tmp, s->name, NULL);
            st = each_file(w, p, ".", s->name, upload_one);
        } else {
            path(p, w->tmp, s->name, NULL);
            if (!(st = each_file(w, p, "images", "images", upload_one)))
                st = each_file(w, p, "metadata", "metadata", upload_one);
        }
        if (st)
            goto fail;
        path(p, w->tmp, s->name, ".jsonl");
        snprintf(rel, sizeof rel, "%s.jsonl", s->name);
        if ((st = upload_one(w, p, rel)))
            goto fail;
        path(p, w->tmp, s->name, "_stats.json");
        snprintf(rel, sizeof rel, "%s_stats.json", s->name);
        if ((st = upload_one(w, p, rel)))
            goto fail;
        remove_tmp(w, s->name);
    } else {
        if (w->o.format == CS_DATASET_WEBDATASET) {
            path(p, w->tmp, s->name, ".tar");
            path(q, w->root, s->name, ".tar");
            if (rename(p, q)) {
                st = fail_errno(w, "rename to", q);
                goto fail;
            }
        } else if (w->o.format == CS_DATASET_FILES) {
            path(p, w->tmp, s->name, NULL);
            path(q, w->root, s->name, NULL);
            if (exists(q)) { /* replacing an older copy */
                char old[PATHLEN];
                path(old, w->tmp, s->name, ".old");
                if (rename(q, old)) {
                    st = fail_errno(w, "rename", q);
                    goto fail;
                }
                rm_rf(old);
            }
            if (rename(p, q)) {
                st = fail_errno(w, "rename to", q);
                goto fail;
            }
        } else {
            path(p, w->tmp, s->name, NULL);
            path(q, w->root, "images", NULL);
            if ((st = mkdir_p(w, q)))
                goto fail;
            path(q, w->root, "metadata", NULL);
            if ((st = mkdir_p(w, q)))
                goto fail;
            if ((st = each_file(w, p, "images", "images", move_one)) ||
                (st = each_file(w, p, "metadata", "metadata", move_one)))
                goto fail;
            rm_rf(p);
        }
        path(p, w->tmp, s->name, ".jsonl");
        path(q, w->root, s->name, ".jsonl");
        if (rename(p, q)) {
            st = fail_errno(w, "rename to", q);
            goto fail;
        }
        if ((st = sync_dir(w, w->root)))
            goto fail;
        path(p, w->tmp, s->name, "_stats.json");
        path(q, w->root, s->name, "_stats.json");
        if (rename(p, q)) {
            st = fail_errno(w, "rename to", q);
            goto fail;
        }
        if ((st = sync_dir(w, w->root)))
            goto fail;
    }
    return CS_OK;
fail:
    return st;
}

static void *committer(void *arg)
{
    cs_dataset_writer *w = arg;
    tl_errbuf = w->cerr;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->cq_head && !w->cth_stop)
            pthread_cond_wait(&w->cq_cv, &w->mu);
        shard *s = w->cq_head;
        if (!s)
            break; /* stopped, nothing left */
        w->cq_head = s->cnext;
        if (!w->cq_head)
            w->cq_tail = NULL;
        cs_status st;
        if (w->cth_stop) { /* freed before finishing: leave it for a rerun */
            st = CS_ECANCELED;
        } else {
            pthread_mutex_unlock(&w->mu);
            w->cerr[0] = 0;
            st = publish(w, s);
            pthread_mutex_lock(&w->mu);
        }
        if (st) {
            if (!w->commit_err && st != CS_ECANCELED) {
                w->commit_err = st;
                snprintf(w->commit_msg, sizeof w->commit_msg, "%s", w->cerr);
                snprintf(w->errmsg, sizeof w->errmsg, "%s", w->cerr);
            }
            shard_close_files(s);
            remove_tmp(w, s->name);
            w->state[s->id] = SH_FAILED;
        } else {
            w->state[s->id] = SH_COMMITTED;
            w->stats.shards_written++;
        }
        shard_free(s);
        w->ncommitting--;
        pthread_cond_broadcast(&w->cdone_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* All rows are in (lock held): write what the spool still holds, then hand
 * the shard to the committer. */
static cs_status commit(cs_dataset_writer *w, shard *s)
{
    cs_status st = drain(w, s);
    if (st)
        goto fail;
    if (s->next != s->nrows) {
        st = fail(w, CS_EINVAL, "%s: committing with rows missing", s->name);
        goto fail;
    }
    if (!w->cth_started) {
        if (pthread_create(&w->cth, NULL, committer, w)) {
            st = fail(w, CS_ENOMEM, "cannot start the commit thread");
            goto fail;
        }
        w->cth_started = true;
    }
    unlist(w, s);
    w->state[s->id] = SH_COMMITTING;
    s->cnext = NULL;
    if (w->cq_tail)
        w->cq_tail->cnext = s;
    else
        w->cq_head = s;
    w->cq_tail = s;
    w->ncommitting++;
    pthread_cond_signal(&w->cq_cv);
    return CS_OK;
fail:
    abandon(w, s, SH_FAILED);
    return st;
}

/* A failed commit fails every later call, with its message. */
static cs_status commit_failed(cs_dataset_writer *w)
{
    if (w->commit_err)
        snprintf(w->errmsg, sizeof w->errmsg, "%s", w->commit_msg);
    return w->commit_err;
}

static void wait_commits(cs_dataset_writer *w)
{
    while (w->ncommitting)
        pthread_cond_wait(&w->cdone_cv, &w->mu);
}

/* ---- public ------------------------------------------------------------------------------------ */

const char *cs_dataset_format_name(cs_dataset_format f)
{
    switch (f) {
    case CS_DATASET_WEBDATASET: return "webdataset";
    case CS_DATASET_FILES: return "files";
    case CS_DATASET_WEB2DATASET: return "web2dataset";
    }
    return "?";
}

bool cs_dataset_format_parse(const char *name, cs_dataset_format *out)
{
    for (int f = CS_DATASET_WEBDATASET; f <= CS_DATASET_WEB2DATASET; f++)
        if (!strcasecmp(name, cs_dataset_format_name((cs_dataset_format)f))) {
            *out = (cs_dataset_format)f;
            return true;
        }
    return false;
}

const char *cs_dataset_status_name(cs_dataset_status s)
{
    switch (s) {
    case CS_DATASET_SUCCESS: return "success";
    case CS_DATASET_FAILED_TO_DOWNLOAD: return "failed_to_download";
    case CS_DATASET_FAILED_TO_RESIZE: return "failed_to_resize";
    }
    return "failed_to_download";
}

static bool is_http(const char *out)
{
    return !strncasecmp(out, "http://", 7) || !strncasecmp(out, "https://", 8);
}

cs_status cs_dataset_writer_open(cs_dataset_writer **out, const char *dir,
                                 const cs_dataset_opts *opts)
{
    cs_dataset_writer *w = cs_calloc(1, sizeof *w);
    *out = w;
    if (!w)
        return CS_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cq_cv, NULL);
    pthread_cond_init(&w->cdone_cv, NULL);
    fill_defaults(&w->o, opts);
    w->o.staging_dir = NULL; /* not kept: the string is the caller's */
    cs_buf_init(&w->meta, MAX_META);
    cs_buf_init(&w->rbuf, 0);
    cs_buf_init(&w->txt, MAX_META);
    if (!(w->entry = archive_entry_new()))
        return fail(w, CS_ENOMEM, "out of memory");
    const char *ext = opts && opts->image_ext ? opts->image_ext : "jpg";
    if (!valid_ext(ext))
        return fail(w, CS_EINVAL, "image extension \"%.20s\": 1 to 5 of [a-z0-9]", ext);
    snprintf(w->image_ext, sizeof w->image_ext, "%s", ext);
    if (w->o.format > CS_DATASET_WEB2DATASET)
        return fail(w, CS_EINVAL, "unknown dataset format %d", (int)w->o.format);
    if (w->o.samples_per_shard > MAX_SPS)
        return fail(w, CS_EINVAL, "samples per shard %" PRIu64 " is over %llu",
                    w->o.samples_per_shard, MAX_SPS);
    if (w->o.shard_digits > 12)
        return fail(w, CS_EINVAL, "shard digits %u is over 12", w->o.shard_digits);
    w->key_digits = key_digits(w->o.samples_per_shard, &w->key_pow);
    if (!(w->open = cs_calloc(w->o.max_open_shards, sizeof *w->open)))
        return fail(w, CS_ENOMEM, "out of memory");
    cs_status st;
    if (is_http(dir)) {
        w->http = true;
        size_t n = strlen(dir);
        while (n && dir[n - 1] == '/')
            n--;
        if (!(w->put.base = cs_strndup(dir, n)))
            return fail(w, CS_ENOMEM, "out of memory");
        w->put.retries = w->o.put_retries;
        w->put.timeout_ms = w->o.put_timeout_ms;
        if (opts && opts->staging_dir) {
            w->root = cs_strdup(opts->staging_dir);
            if (!w->root)
                return fail(w, CS_ENOMEM, "out of memory");
            if ((st = mkdir_p(w, w->root)))
                return st;
        } else {
            const char *t = getenv("TMPDIR");
            char tmpl[PATHLEN];
            snprintf(tmpl, sizeof tmpl, "%s/crawlset-put.XXXXXX", t && t[0] ? t : "/tmp");
            if (!mkdtemp(tmpl))
                return fail_errno(w, "mkdtemp", tmpl);
            w->own_root = true;
            if (!(w->root = cs_strdup(tmpl)))
                return fail(w, CS_ENOMEM, "out of memory");
        }
    } else {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        if (!n)
            return fail(w, CS_EINVAL, "empty output directory");
        if (!(w->root = cs_strndup(dir, n)))
            return fail(w, CS_ENOMEM, "out of memory");
        if ((st = mkdir_p(w, w->root)))
            return st;
    }
    char p[PATHLEN];
    if (!path(p, w->root, "_tmp", NULL) || !(w->tmp = cs_strdup(p)))
        return fail(w, CS_ENOMEM, "out of memory");
    if ((st = mkdir_p(w, w->tmp)))
        return st;
    return CS_OK;
}

/* The shard of `index` ready for rows (opened if needed), or NULL with
 * *skip (a complete shard) or an error. */
static cs_status get_shard(cs_dataset_writer *w, uint64_t index, bool reserve_only,
                           shard **out, cs_dataset_admit *adm)
{
    *out = NULL;
    *adm = CS_DATASET_ADMIT_WRITE;
    if (w->total_known && index >= w->total)
        return fail(w, CS_EINVAL, "row %" PRIu64 " is past the end of input (%" PRIu64 " rows)",
                    index, w->total);
    uint64_t id = index / w->o.samples_per_shard;
    cs_status st = state_grow(w, id);
    if (st)
        return st;
    switch (w->state[id]) {
    case SH_OPEN:
        *out = find_open(w, id);
        return CS_OK;
    case SH_SKIPPED:
        *adm = CS_DATASET_ADMIT_SKIP;
        return CS_OK;
    case SH_COMMITTING:
    case SH_COMMITTED:
        return fail(w, CS_EINVAL, "row %" PRIu64 ": its shard is already complete", index);
    case SH_FAILED:
        return fail(w, CS_EIO, "row %" PRIu64 ": its shard failed earlier", index);
    default:
        break;
    }
    char name[32];
    snprintf(name, sizeof name, "%0*" PRIu64, (int)w->o.shard_digits, id);
    if (w->o.incremental) {
        bool done;
        if ((st = complete_exists(w, name, &done)))
            return st;
        if (done) {
            w->state[id] = SH_SKIPPED;
            w->stats.shards_skipped++;
            *adm = CS_DATASET_ADMIT_SKIP;
            return CS_OK;
        }
    }
    if (w->nopen >= w->o.max_open_shards || w->ncommitting >= w->o.max_open_shards) {
        *adm = CS_DATASET_ADMIT_WAIT;
        if (reserve_only)
            return CS_OK;
        return fail(w, CS_ETOOBIG,
                    "row %" PRIu64 ": %zu shards are open already (max_open_shards); "
                    "ask cs_dataset_writer_admit() before fetching",
                    index, w->nopen);
    }
    return shard_open(w, id, out);
}

cs_status cs_dataset_writer_admit(cs_dataset_writer *w, uint64_t index, cs_dataset_admit *out)
{
    pthread_mutex_lock(&w->mu);
    shard *s;
    cs_status st = commit_failed(w);
    if (!st)
        st = get_shard(w, index, true, &s, out);
    pthread_mutex_unlock(&w->mu);
    return st;
}

static cs_status add_locked(cs_dataset_writer *w, const cs_dataset_sample *smp)
{
    shard *s;
    cs_dataset_admit adm;
    cs_status st = commit_failed(w);
    if (st)
        return st;
    st = get_shard(w, smp->index, false, &s, &adm);
    if (st)
        return st;
    if (adm == CS_DATASET_ADMIT_SKIP) {
        w->stats.skipped_rows++;
        return CS_OK;
    }
    uint64_t in = smp->index % w->o.samples_per_shard;
    if (in >= s->nrows)
        return fail(w, CS_EINVAL, "row %" PRIu64 " is past the end of input", smp->index);
    slot *sl = &s->slots[in];
    if (sl->state != SLOT_EMPTY)
        return fail(w, CS_EINVAL, "row %" PRIu64 " added twice", smp->index);
    if (smp->extra_json && strpbrk(smp->extra_json, "\r\n"))
        return fail(w, CS_EINVAL, "row %" PRIu64 ": extra_json holds a line break", smp->index);
    const char *ext = smp->image_ext ? smp->image_ext : w->image_ext;
    if (!valid_ext(ext))
        return fail(w, CS_EINVAL, "row %" PRIu64 ": image extension \"%.20s\"", smp->index, ext);
    bool ok = smp->status == CS_DATASET_SUCCESS;
    if (ok && !smp->image && smp->image_len)
        return fail(w, CS_EINVAL, "row %" PRIu64 ": no image bytes", smp->index);

    char key[32];
    shard_key(w, s, in, key);
    if ((st = build_meta(w, smp, key)))
        return st;
    cs_buf_reset(&w->txt);
    if (smp->caption && (st = put_utf8(&w->txt, smp->caption, strlen(smp->caption))))
        return fail(w, st, "row %" PRIu64 ": caption: %s", smp->index, cs_strerror(st));
    const char *txt = w->txt.data ? w->txt.data : "";
    size_t txt_len = w->txt.len;

    /* from here on a failure spoils the shard: it is dropped (a rerun redoes it) */
    if (ok)
        s->successes++;
    else if (smp->status == CS_DATASET_FAILED_TO_RESIZE)
        s->failed_resize++;
    else
        s->failed_dl++;
    const char *reason = smp->reason ? smp->reason : ok ? "ok" : cs_dataset_status_name(smp->status);
    const char *msg = ok ? "success" : smp->error_message ? smp->error_message : reason;
    if ((st = count(&s->status_dict, msg)) || (st = count(&s->reasons, reason))) {
        st = fail(w, st, "out of memory");
        goto spoiled;
    }
    s->bytes_dl += smp->bytes_downloaded;

    sl->has_img = ok;
    snprintf(sl->ext, sizeof sl->ext, "%s", ext);
    sl->meta_len = (uint32_t)w->meta.len;
    sl->txt_len = (uint32_t)txt_len;
    size_t img_len = ok ? smp->image_len : 0;
    const void *img = img_len ? smp->image : "";
    if (ok) {
        s->bytes_img += img_len;
        w->stats.bytes_written += img_len;
    }

    /* the files layouts write a sample's files at once, under _tmp/NNNNN/ */
    bool tar = w->o.format == CS_DATASET_WEBDATASET;
    if (ok && !tar) {
        char p[PATHLEN], f[64];
        bool web2 = w->o.format == CS_DATASET_WEB2DATASET;
        snprintf(f, sizeof f, "/%s%s.%s", web2 ? "images/" : "", key, ext);
        path(p, w->tmp, s->name, f);
        if ((st = write_file(w, p, img, img_len)))
            goto spoiled;
        snprintf(f, sizeof f, "/%s%s.json", web2 ? "metadata/" : "", key);
        path(p, w->tmp, s->name, f);
        if ((st = write_file(w, p, w->meta.data, w->meta.len)))
            goto spoiled;
        if (!web2 && !w->o.no_txt) {
            snprintf(f, sizeof f, "/%s.txt", key);
            path(p, w->tmp, s->name, f);
            if ((st = write_file(w, p, txt, txt_len)))
                goto spoiled;
        }
    }

    if (in == s->next) {
        if ((st = emit(w, s, in, w->meta.data, w->meta.len, txt, txt_len, img, img_len)))
            goto spoiled;
        s->next++;
        if ((st = drain(w, s)))
            goto spoiled;
    } else { /* early: spool the metadata line (and for a tar the caption and image) */
        char p[PATHLEN];
        if (s->spool_fd < 0) {
            path(p, w->tmp, s->name, ".spool");
            s->spool_fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (s->spool_fd < 0) {
                st = fail_errno(w, "create", p);
                goto spoiled;
            }
        }
        if (!tar) {
            sl->txt_len = 0;
            img_len = 0;
        }
        sl->off = s->spool_len;
        sl->img_len = img_len;
        uint64_t o = s->spool_len;
        if ((st = write_all(w, s->spool_fd, w->meta.data, w->meta.len, o, true, "spool")) ||
            (st = write_all(w, s->spool_fd, txt, sl->txt_len, o + w->meta.len, true, "spool")) ||
            (st = write_all(w, s->spool_fd, img, img_len, o + w->meta.len + sl->txt_len, true,
                            "spool")))
            goto spoiled;
        s->spool_len += w->meta.len + sl->txt_len + img_len;
        sl->state = SLOT_SPOOLED;
        w->stats.spooled++;
    }
    s->received++;
    w->stats.rows++;
    if (ok)
        w->stats.successes++;
    else if (smp->status == CS_DATASET_FAILED_TO_RESIZE)
        w->stats.failed_to_resize++;
    else
        w->stats.failed_to_download++;
    if (s->received == s->nrows)
        return commit(w, s);
    return CS_OK;
spoiled:
    abandon(w, s, SH_FAILED);
    return st;
}

cs_status cs_dataset_writer_add(cs_dataset_writer *w, const cs_dataset_sample *s)
{
    pthread_mutex_lock(&w->mu);
    cs_status st = add_locked(w, s);
    pthread_mutex_unlock(&w->mu);
    return st;
}

cs_status cs_dataset_writer_end_input(cs_dataset_writer *w, uint64_t rows)
{
    pthread_mutex_lock(&w->mu);
    cs_status st = CS_OK;
    if (w->total_known && w->total != rows) {
        st = fail(w, CS_EINVAL, "end of input given twice (%" PRIu64 ", then %" PRIu64 " rows)",
                  w->total, rows);
        goto out;
    }
    w->total_known = true;
    w->total = rows;
    uint64_t sps = w->o.samples_per_shard;
    for (size_t i = 0; i < w->nopen;) {
        shard *s = w->open[i];
        uint64_t first = s->id * sps;
        uint64_t n = rows > first ? rows - first : 0;
        if (n >= s->nrows) {
            i++;
            continue;
        }
        for (uint64_t k = n; k < s->nrows; k++)
            if (s->slots[k].state != SLOT_EMPTY) {
                st = fail(w, CS_EINVAL, "row %" PRIu64 " was added, but the input has %" PRIu64
                          " rows", first + k, rows);
                goto out;
            }
        s->nrows = n;
        if (n == 0) { /* admitted past the end: nothing to write */
            abandon(w, s, SH_UNKNOWN);
            continue;
        }
        if (s->received == s->nrows) {
            cs_status c = commit(w, s);
            if (c && !st)
                st = c;
            continue; /* commit removed it from the list */
        }
        i++;
    }
out:
    pthread_mutex_unlock(&w->mu);
    return st;
}

static cs_status finish_locked(cs_dataset_writer *w)
{
    wait_commits(w);
    char names[160] = "";
    size_t nn = 0, nshards = w->nopen;
    uint64_t missing = 0;
    while (w->nopen) {
        shard *s = w->open[0];
        missing += s->nrows - s->received;
        size_t l = strlen(names);
        if (l + 12 < sizeof names)
            snprintf(names + l, sizeof names - l, "%s%s", nn++ ? ", " : "", s->name);
        abandon(w, s, SH_UNKNOWN);
    }
    char p[PATHLEN];
    if (path(p, w->root, "_tmp", NULL))
        rmdir(p); /* only when empty: another writer may share the directory */
    cs_status cst = commit_failed(w);
    if (cst)
        return cst;
    if (nshards)
        return fail(w, CS_ETRUNC,
                    "%zu shard(s) incomplete (%s), %" PRIu64 " rows missing%s: "
                    "rerun with incremental to finish them",
                    nshards, names, missing, w->total_known ? "" : " (end of input not declared)");
    return CS_OK;
}

cs_status cs_dataset_writer_finish(cs_dataset_writer *w)
{
    pthread_mutex_lock(&w->mu);
    cs_status st = finish_locked(w);
    pthread_mutex_unlock(&w->mu);
    return st;
}

cs_status cs_dataset_writer_flush(cs_dataset_writer *w)
{
    pthread_mutex_lock(&w->mu);
    wait_commits(w);
    cs_status st = commit_failed(w);
    pthread_mutex_unlock(&w->mu);
    return st;
}

void cs_dataset_writer_free(cs_dataset_writer *w)
{
    if (!w)
        return;
    if (w->cth_started) {
        pthread_mutex_lock(&w->mu);
        w->cth_stop = true;
        pthread_cond_signal(&w->cq_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->cth, NULL);
    }
    pthread_cond_destroy(&w->cq_cv);
    pthread_cond_destroy(&w->cdone_cv);
    while (w->nopen)
        abandon(w, w->open[0], SH_UNKNOWN);
    if (w->tmp)
        rmdir(w->tmp);
    if (w->own_root && w->root)
        rm_rf(w->root);
    if (w->entry)
        archive_entry_free(w->entry);
    cs_buf_cleanup(&w->meta);
    cs_buf_cleanup(&w->rbuf);
    cs_buf_cleanup(&w->txt);
    cs_free(w->open);
    cs_free(w->state);
    cs_free(w->root);
    cs_free(w->tmp);
    cs_free(w->put.base);
    pthread_mutex_destroy(&w->mu);
    cs_free(w);
}

const char *cs_dataset_writer_errmsg(const cs_dataset_writer *w)
{
    return w ? w->errmsg : "out of memory";
}

void cs_dataset_writer_stats_get(cs_dataset_writer *w, cs_dataset_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    out->open_shards = w->nopen;
    out->uploads = atomic_load(&w->uploads);
    out->committing = w->ncommitting;
    out->upload_retries = w->put.retried;
    pthread_mutex_unlock(&w->mu);
}
