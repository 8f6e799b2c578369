/* dedupe.c - exact and near-duplicate images across a dataset directory
 * (crawlset/filter.h): walk the tree and the tar shards, hash every image
 * (sha256 + pHash) on a few threads, decide in item order with the
 * multi-index, and optionally remove the duplicates. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "crawlset/image.h"
#include "crawlset/pool.h"
#include "crawlset/warc.h"
#include "filter/filter_int.h"

#define MAX_IMAGE (64u << 20) /* larger members are skipped as non-images */
#define BATCH 256

typedef struct item {
    char *name;        /* relative name: "a/b.jpg" or "00000.tar/KEY.jpg" */
    int tar;           /* index into the tar list, -1 for a file */
    uint8_t sha[32];
    uint64_t ph;
    bool decodable;
    bool dropped;
} item;

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

typedef struct run {
    const char *dir;
    item *items;
    size_t n, cap;
    strv tars;          /* relative tar paths */
    char *err;
    size_t errlen;
} run;

static bool image_name(const char *name)
{
    static const char *const ext[] = {"jpg", "jpeg", "png", "webp", "gif", "tif", "tiff",
                                      "avif", "heic", "bmp", NULL};
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return false;
    for (size_t i = 0; ext[i]; i++)
        if (!strcasecmp(dot + 1, ext[i]))
            return true;
    return false;
}

static cs_status strv_push(strv *s, const char *v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **nv = cs_realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return CS_ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    if (!(s->v[s->n] = cs_strdup(v)))
        return CS_ENOMEM;
    s->n++;
    return CS_OK;
}

static void strv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        cs_free(s->v[i]);
    cs_free(s->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects image files and tar shards under dir/rel, in name order. */
static cs_status walk(run *r, const char *rel, strv *files)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", r->dir, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) {
        snprintf(r->err, r->errlen, "%s: %s", path, strerror(errno));
        return CS_EIO;
    }
    strv names = {0};
    struct dirent *e;
    cs_status st = CS_OK;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strcmp(e->d_name, "_tmp") && (st = strv_push(&names, e->d_name)))
            break;
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof *names.v, cmp_str);
    for (size_t i = 0; i < names.n && !st; i++) {
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", names.v[i]);
        snprintf(full, sizeof full, "%s/%s", r->dir, sub);
        struct stat sb;
        if (lstat(full, &sb))
            continue;
        if (S_ISDIR(sb.st_mode))
            st = walk(r, sub, files);
        else if (S_ISREG(sb.st_mode)) {
            size_t l = strlen(sub);
            if (l > 4 && !strcmp(sub + l - 4, ".tar"))
                st = strv_push(&r->tars, sub);
            else if (image_name(sub))
                st = strv_push(files, sub);
        }
    }
    strv_free(&names);
    return st;
}

/* ---- hashing on threads -------------------------------------------------- */

typedef struct job {
    item *it;
    uint8_t *data;
    size_t len;
} job;

typedef struct batch {
    job jobs[BATCH];
    size_t n;
    atomic_size_t next;
} batch;

static void hash_job(job *j)
{
    cs_digest d;
    if (cs_digest_init(&d, CS_DIGEST_SHA256) == CS_OK) {
        cs_digest_update(&d, j->data, j->len);
        size_t l;
        cs_digest_final(&d, j->it->sha, &l);
        cs_digest_cleanup(&d);
    }
    char err[256];
    j->it->decodable = cs_phash_image(j->data, j->len, &j->it->ph, err, sizeof err) == CS_OK;
}

static void *worker(void *arg)
{
    batch *b = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, 1);
        if (i >= b->n)
            break;
        hash_job(&b->jobs[i]);
    }
    cs_image_thread_cleanup();
    return NULL;
}

static void run_batch(batch *b, unsigned threads)
{
    atomic_store(&b->next, 0);
    pthread_t tid[64];
    unsigned nt = threads > 64 ? 64 : threads;
    if (nt > b->n)
        nt = (unsigned)b->n;
    unsigned started = 0;
    for (unsigned t = 1; t < nt; t++)
        if (pthread_create(&tid[started], NULL, worker, b) == 0)
            started++;
    worker(b);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    for (size_t i = 0; i < b->n; i++)
        cs_free(b->jobs[i].data);
    b->n = 0;
}

static cs_status add_item(run *r, const char *name, int tar, item **out)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        item *v = cs_realloc(r->items, cap * sizeof *v);
        if (!v)
            return CS_ENOMEM;
        r->items = v;
        r->cap = cap;
    }
    item *it = &r->items[r->n];
    memset(it, 0, sizeof *it);
    if (!(it->name = cs_strdup(name)))
        return CS_ENOMEM;
    it->tar = tar;
    r->n++;
    *out = it;
    return CS_OK;
}

static cs_status read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CS_EIO;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *p = cs_malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return CS_ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        cs_free(p);
        snprintf(err, errlen, "%s: short read", path);
        return CS_EIO;
    }
    *data = p;
    *len = n;
    return CS_OK;
}

/* Hashes every item (files, then tar members), batch by batch; items keep
 * their reading order, sorted by name afterwards. */
static cs_status hash_all(run *r, strv *files, unsigned threads)
{
    batch *b = cs_calloc(1, sizeof *b);
    if (!b)
        return CS_ENOMEM;
    cs_status st = CS_OK;
    /* indices, because add_item may move the array */
    size_t first = 0;
    (void)first;
    for (size_t i = 0; i < files->n && !st; i++) {
        item *it;
        if ((st = add_item(r, files->v[i], -1, &it)))
            break;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", r->dir, files->v[i]);
        job *j = &b->jobs[b->n];
        if ((st = read_file(path, &j->data, &j->len, r->err, r->errlen)))
            break;
        j->it = (item *)(uintptr_t)(r->n - 1); /* fixed up before the batch runs */
        if (++b->n == BATCH) {
            for (size_t k = 0; k < b->n; k++)
                b->jobs[k].it = &r->items[(size_t)(uintptr_t)b->jobs[k].it];
            run_batch(b, threads);
        }
    }
    for (size_t t = 0; t < r->tars.n && !st; t++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", r->dir, r->tars.v[t]);
        struct archive *a = archive_read_new();
        if (!a) {
            st = CS_ENOMEM;
            break;
        }
        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
            snprintf(r->err, r->errlen, "%s: %s", path, archive_error_string(a));
            archive_read_free(a);
            st = CS_EIO;
            break;
        }
        struct archive_entry *e;
        int ar;
        while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
            const char *mname = archive_entry_pathname(e);
            la_int64_t size = archive_entry_size(e);
            if (!mname || archive_entry_filetype(e) != AE_IFREG || !image_name(mname) ||
                size < 0 || size > (la_int64_t)MAX_IMAGE)
                continue;
            char name[8192];
            snprintf(name, sizeof name, "%s/%s", r->tars.v[t], mname);
            item *it;
            if ((st = add_item(r, name, (int)t, &it)))
                break;
            job *j = &b->jobs[b->n];
            j->len = (size_t)size;
            if (!(j->data = cs_malloc(j->len ? j->len : 1))) {
                st = CS_ENOMEM;
                break;
            }
            la_ssize_t got = archive_read_data(a, j->data, j->len);
            if (got != (la_ssize_t)j->len) {
                snprintf(r->err, r->errlen, "%s: member %s: %s", path, mname,
                         got < 0 ? archive_error_string(a) : "truncated");
                cs_free(j->data);
                st = CS_EFORMAT;
                break;
            }
            j->it = (item *)(uintptr_t)(r->n - 1);
            if (++b->n == BATCH) {
                for (size_t k = 0; k < b->n; k++)
                    b->jobs[k].it = &r->items[(size_t)(uintptr_t)b->jobs[k].it];
                run_batch(b, threads);
            }
        }
        if (!st && ar != ARCHIVE_EOF) {
            snprintf(r->err, r->errlen, "%s: %s", path, archive_error_string(a));
            st = CS_EFORMAT;
        }
        archive_read_free(a);
    }
    if (st) {
        for (size_t k = 0; k < b->n; k++)
            cs_free(b->jobs[k].data);
    } else if (b->n) {
        for (size_t k = 0; k < b->n; k++)
            b->jobs[k].it = &r->items[(size_t)(uintptr_t)b->jobs[k].it];
        run_batch(b, threads);
    }
    cs_free(b);
    return st;
}

/* ---- deciding ------------------------------------------------------------ */

typedef struct near_ctx {
    const run *r;
    size_t self;
    long best;
    int best_d;
} near_ctx;

static void on_near(void *ud, uint32_t id, int d)
{
    near_ctx *c = ud;
    /* only earlier, kept, decodable items; the closest, then the first */
    if (id >= c->self || c->r->items[id].dropped || !c->r->items[id].decodable)
        return;
    if (c->best < 0 || d < c->best_d || (d == c->best_d && (long)id < c->best)) {
        c->best = (long)id;
        c->best_d = d;
    }
}

typedef struct shaent {
    uint8_t sha[32];
    size_t id;
    bool used;
} shaent;

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const item *)a)->name, ((const item *)b)->name);
}

/* ---- dropping ------------------------------------------------------------- */

static size_t stem_len(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strchr(base, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

/* Removes the files of a dropped file item: same folder, same stem. */
static uint64_t drop_files(run *r, const item *it)
{
    uint64_t removed = 0;
    char dpath[8192];
    const char *slash = strrchr(it->name, '/');
    size_t dlen = slash ? (size_t)(slash - it->name) : 0;
    snprintf(dpath, sizeof dpath, "%s/%.*s", r->dir, (int)dlen, it->name);
    const char *base = slash ? slash + 1 : it->name;
    size_t sl = stem_len(it->name) - (size_t)(base - it->name);
    DIR *d = opendir(dpath);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, base, sl) && e->d_name[sl] == '.') {
                char f[12288];
                snprintf(f, sizeof f, "%s/%s", dpath, e->d_name);
                if (unlink(f) == 0)
                    removed++;
            }
        closedir(d);
    }
    /* web2dataset: images/KEY.ext and metadata/KEY.json */
    if (dlen >= 6 && !strncmp(it->name + dlen - 6, "images", 6) &&
        (dlen == 6 || it->name[dlen - 7] == '/')) {
        char m[12288];
        snprintf(m, sizeof m, "%s/%.*smetadata/%.*s.json", r->dir, (int)(dlen - 6), it->name,
                 (int)sl, base);
        if (unlink(m) == 0)
            removed++;
    }
    return removed;
}

/* Rewrites tar t without the members whose stem is dropped. */
static cs_status rewrite_tar(run *r, size_t t, char **stems, size_t nstems, uint64_t *removed)
{
    char path[8192], tmp[8300];
    snprintf(path, sizeof path, "%s/%s", r->dir, r->tars.v[t]);
    snprintf(tmp, sizeof tmp, "%s.dedupe.tmp", path);
    struct archive *in = archive_read_new(), *out = archive_write_new();
    cs_status st = CS_EIO;
    char *buf = cs_malloc(1 << 16);
    if (!in || !out || !buf) {
        st = CS_ENOMEM;
        goto done;
    }
    archive_read_support_format_tar(in);
    archive_write_set_format_pax_restricted(out);
    if (archive_read_open_filename(in, path, 1 << 16) != ARCHIVE_OK ||
        archive_write_open_filename(out, tmp) != ARCHIVE_OK) {
        snprintf(r->err, r->errlen, "%s: %s", path, archive_error_string(in));
        goto done;
    }
    struct archive_entry *e;
    int ar;
    while ((ar = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *mname = archive_entry_pathname(e);
        size_t sl = mname ? stem_len(mname) : 0;
        bool drop = false;
        for (size_t i = 0; mname && i < nstems && !drop; i++)
            drop = strlen(stems[i]) == sl && !strncmp(stems[i], mname, sl);
        if (drop) {
            (*removed)++;
            continue;
        }
        if (archive_write_header(out, e) != ARCHIVE_OK)
            break;
        la_ssize_t k;
        while ((k = archive_read_data(in, buf, 1 << 16)) > 0)
            if (archive_write_data(out, buf, (size_t)k) != k)
                break;
        if (k < 0)
            break;
    }
    if (ar != ARCHIVE_EOF || archive_write_close(out) != ARCHIVE_OK) {
        snprintf(r->err, r->errlen, "%s: rewriting failed: %s", path,
                 archive_error_string(ar != ARCHIVE_EOF ? in : out));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path)) {
        snprintf(r->err, r->errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    st = CS_OK;
done:
    archive_read_free(in);
    archive_write_free(out);
    cs_free(buf);
    return st;
}

cs_status cs_dedupe_dir(const char *dir, const cs_dedupe_opts *opts, cs_dedupe_fn fn, void *ud,
                        cs_dedupe_stats *stats, char *err, size_t errlen)
{
    cs_dedupe_opts o = opts ? *opts : (cs_dedupe_opts){0};
    if (o.radius == 0)
        o.radius = CS_PHASH_DEFAULT_RADIUS;
    else if (o.radius == -2) /* radius 0 asked for explicitly */
        o.radius = 0;
    if (o.radius > 31)
        return CS_EINVAL;
    if (!o.threads)
        o.threads = (unsigned)cs_pool_cpu_count();
    cs_dedupe_stats s = {0};
    run r = {.dir = dir, .err = err, .errlen = errlen};
    strv files = {0};
    cs_phash_index *x = NULL;
    uint64_t *hs = NULL;
    shaent *shas = NULL;
    cs_status st = walk(&r, "", &files);
    if (!st)
        st = hash_all(&r, &files, o.threads);
    if (st)
        goto done;
    if (r.n)
        qsort(r.items, r.n, sizeof *r.items, cmp_item);
    s.images = r.n;
    /* sha256 set (open addressing) and the pHash index */
    size_t cap = 16;
    while (cap < 2 * r.n)
        cap *= 2;
    if (!(shas = cs_calloc(cap, sizeof *shas)) || !(hs = cs_malloc((r.n ? r.n : 1) * sizeof *hs))) {
        st = CS_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < r.n; i++) {
        hs[i] = r.items[i].ph;
        s.undecodable += !r.items[i].decodable;
    }
    if (o.radius >= 0 && (st = cs_phash_index_new(&x, hs, r.n, o.radius)))
        goto done;
    for (size_t i = 0; i < r.n; i++) {
        item *it = &r.items[i];
        uint64_t k;
        memcpy(&k, it->sha, 8);
        size_t j = (size_t)k & (cap - 1);
        for (; shas[j].used; j = (j + 1) & (cap - 1))
            if (!memcmp(shas[j].sha, it->sha, 32))
                break;
        if (shas[j].used) {
            it->dropped = true;
            s.exact++;
            if (fn)
                fn(ud, it->name, r.items[shas[j].id].name, "exact", 0);
            continue;
        }
        shas[j].used = true;
        memcpy(shas[j].sha, it->sha, 32);
        shas[j].id = i;
        if (!x || !it->decodable)
            continue;
        near_ctx c = {&r, i, -1, 99};
        cs_phash_index_query(x, it->ph, on_near, &c);
        if (c.best >= 0) {
            it->dropped = true;
            s.near++;
            if (fn)
                fn(ud, it->name, r.items[c.best].name, "near", c.best_d);
        }
    }
    if (o.drop) {
        for (size_t i = 0; i < r.n; i++)
            if (r.items[i].dropped && r.items[i].tar < 0)
                s.dropped += drop_files(&r, &r.items[i]);
        for (size_t t = 0; t < r.tars.n && !st; t++) {
            strv stems = {0};
            size_t pre = strlen(r.tars.v[t]) + 1;
            for (size_t i = 0; i < r.n && !st; i++)
                if (r.items[i].dropped && r.items[i].tar == (int)t) {
                    char stem[8192];
                    snprintf(stem, sizeof stem, "%.*s",
                             (int)(stem_len(r.items[i].name) - pre), r.items[i].name + pre);
                    st = strv_push(&stems, stem);
                }
            if (!st && stems.n) {
                st = rewrite_tar(&r, t, stems.v, stems.n, &s.dropped);
                s.shards_rewritten += st == CS_OK;
            }
            strv_free(&stems);
        }
    }
done:
    cs_phash_index_free(x);
    cs_free(hs);
    cs_free(shas);
    for (size_t i = 0; i < r.n; i++)
        cs_free(r.items[i].name);
    cs_free(r.items);
    strv_free(&files);
    strv_free(&r.tars);
    if (stats)
        *stats = s;
    return st;
}
