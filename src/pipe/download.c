/* download.c - the download pipeline: rows -> fetcher (this thread) ->
 * image workers (pool) -> dataset writer, with every row accounted for.
 *
 * Threads: the caller's thread runs the fetcher and its callbacks: it pulls
 * rows, asks the writer to admit them (input order), and on each result
 * either writes a failed row at once or hands the body to the pool. The
 * handoff never blocks the fetch loop (transfers in flight keep being
 * served, so their timeouts stay honest): a body the full pool cannot take
 * waits in a backlog, and while there is one no new row is pulled (next_row
 * says CS_EAGAIN). Transfers already in flight still land there, so the
 * backlog is bounded by max_backlog_bytes: past it the loop waits for a
 * worker to free a slot. Workers wake the fetch loop when they finish an
 * item (pool notify -> cs_fetch_wakeup) so the backlog drains as soon as
 * there is room.
 * Workers decode/resize/encode and add the sample to the writer, which is
 * thread-safe and keeps the output deterministic whatever the completion
 * order. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "crawlset/pipe.h"
#include "crawlset/pool.h"

typedef struct item {
    cs_urllist_row *row; /* owned copy */
    uint8_t *body;       /* owned (cs_free) */
    size_t len;
    struct item *next;   /* backlog link */
} item;

typedef struct run {
    const cs_download_opts *o;
    cs_dataset_writer *w;
    cs_pool *pool;
    cs_fetch *f;
    _Atomic(cs_fetch *) f_live; /* f while the pool may wake it */
    cs_row_source_fn src;
    void *src_ud;
    bool src_done;
    cs_urllist_row *pending; /* a row the writer asked us to hold back */
    item *backlog, *backlog_tail; /* bodies the full pool could not take yet */
    size_t nbacklog, backlog_bytes, max_backlog;
    bool drain;              /* the current fetch run ends to let shards commit */
    uint64_t rows_total;     /* rows taken from the source */
    pthread_mutex_t mu;      /* guards st, err, and the worker-side counters */
    cs_download_stats st;
    cs_status first_err;
    char err[CS_ERRMSG_MAX];
    double t0, last_progress;
} run;

void cs_download_opts_init(cs_download_opts *o)
{
    memset(o, 0, sizeof *o);
    cs_fetch_opts_init(&o->fetch);
    o->fetch.accept_types = "image/*";
    cs_image_opts_init(&o->image);
}

static void set_err(run *r, cs_status st, const char *what, const char *msg)
{
    pthread_mutex_lock(&r->mu);
    if (!r->first_err) {
        r->first_err = st;
        snprintf(r->err, sizeof r->err, "%s: %s", what, msg && *msg ? msg : cs_strerror(st));
    }
    pthread_mutex_unlock(&r->mu);
}

static const char *column(const cs_urllist_row *row, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < row->ncolumns; i++)
        if (row->columns[i].name && !strcmp(row->columns[i].name, name))
            return row->columns[i].value;
    return NULL;
}

static void base_sample(cs_dataset_sample *s, const cs_urllist_row *row)
{
    memset(s, 0, sizeof *s);
    s->index = row->index;
    s->url = row->url;
    s->caption = row->caption;
    s->columns = row->columns;
    s->ncolumns = row->ncolumns;
}

cs_status cs_pipe_urllist_rows(void *ud, const cs_urllist_row **row)
{
    cs_urllist_reader *r = ud;
    for (;;) {
        cs_status st = cs_urllist_next(r, row);
        if (st == CS_EFORMAT || st == CS_ETOOBIG) {
            cs_log(CS_LOG_WARN, "%s", cs_urllist_errmsg(r));
            continue;
        }
        return st;
    }
}

/* ---- workers ---- */

static void *work(void *arg, void *ud)
{
    item *it = arg;
    run *r = ud;
    cs_image_result res;
    const char *expected = column(it->row, r->o->verify_hash_col);
    cs_status ist = cs_image_process(it->body, it->len, &r->o->image, expected, &res);
    (void)ist; /* res.reason says what happened */
    cs_dataset_sample s;
    base_sample(&s, it->row);
    char phash[40], perr[128];
    uint64_t ph;
    if (res.reason == CS_IMAGE_OK && r->o->phash &&
        cs_phash_image(res.data, res.len, &ph, perr, sizeof perr) == CS_OK) {
        snprintf(phash, sizeof phash, "\"phash\":\"%016llx\"", (unsigned long long)ph);
        s.extra_json = phash; /* for near-duplicate search (crawlset/filter.h) */
    }
    s.sha256 = res.sha256[0] ? res.sha256 : NULL;
    s.original_width = res.original_width;
    s.original_height = res.original_height;
    s.bytes_downloaded = it->len;
    if (res.reason == CS_IMAGE_OK) {
        s.status = CS_DATASET_SUCCESS;
        s.image = res.data;
        s.image_len = res.len;
        s.image_ext = cs_image_format_ext(r->o->image.format);
        s.width = res.width;
        s.height = res.height;
    } else {
        s.status = CS_DATASET_FAILED_TO_RESIZE;
        s.reason = cs_image_reason_name(res.reason);
        s.error_message = res.errmsg;
    }
    cs_status st = cs_dataset_writer_add(r->w, &s);
    if (st)
        set_err(r, st, "dataset", cs_dataset_writer_errmsg(r->w));
    pthread_mutex_lock(&r->mu);
    r->st.by_image[res.reason]++;
    if (res.reason == CS_IMAGE_OK) {
        r->st.ok++;
        r->st.bytes_written += res.len;
    } else {
        r->st.failed_image++;
    }
    pthread_mutex_unlock(&r->mu);
    cs_image_result_cleanup(&res);
    cs_free(it->body);
    cs_free(it->row);
    cs_free(it);
    return NULL;
}

static void discard_item(void *arg, void *ud)
{
    (void)ud;
    item *it = arg;
    cs_free(it->body);
    cs_free(it->row);
    cs_free(it);
}

static void thread_exit(void *ud)
{
    (void)ud;
    cs_image_thread_cleanup();
}

/* ---- fetch callbacks (this thread) ---- */

static void progress(run *r, bool force)
{
    if (!r->o->progress)
        return;
    double now = cs_now();
    if (!force && now - r->last_progress < 0.1)
        return;
    r->last_progress = now;
    cs_download_stats snap;
    pthread_mutex_lock(&r->mu);
    snap = r->st;
    pthread_mutex_unlock(&r->mu);
    snap.seconds = now - r->t0;
    r->o->progress(&snap, r->o->progress_ud);
}

/* Hands backlog items to the pool, oldest first. Without `wait` it does
 * not wait for room; with it, it waits while the backlog holds more than
 * `keep` bytes (keep 0: until it is empty; used once the fetcher is idle,
 * or to bound memory when the fetcher outruns the workers by max_backlog
 * bytes - the one case where the fetch loop blocks, for the few ms a worker
 * needs to free a slot). CS_OK when the backlog is empty (or within keep),
 * CS_EAGAIN when the pool is full. */
static cs_status flush_backlog(run *r, bool wait, size_t keep)
{
    while (r->backlog) {
        item *it = r->backlog;
        bool block = wait && (keep == 0 || r->backlog_bytes > keep);
        if (wait && !block)
            return CS_OK;
        cs_status st = cs_pool_submit(r->pool, it, block ? -1 : 0);
        if (st == CS_ETIMEOUT)
            return CS_EAGAIN;
        r->backlog = it->next;
        if (!r->backlog)
            r->backlog_tail = NULL;
        r->nbacklog--;
        r->backlog_bytes -= it->len;
        it->next = NULL;
        if (st) {
            discard_item(it, NULL);
            return st;
        }
    }
    return CS_OK;
}

static void backlog_push(run *r, item *it)
{
    if (r->backlog_tail)
        r->backlog_tail->next = it;
    else
        r->backlog = it;
    r->backlog_tail = it;
    r->backlog_bytes += it->len;
    if (++r->nbacklog > r->st.peak_backlog) { /* only this thread writes it */
        pthread_mutex_lock(&r->mu);
        r->st.peak_backlog = r->nbacklog;
        pthread_mutex_unlock(&r->mu);
    }
}

static void pool_room(void *ud)
{
    run *r = ud;
    cs_fetch *f = atomic_load(&r->f_live);
    if (f)
        cs_fetch_wakeup(f);
}

static bool canceled(const run *r)
{
    return r->o->cancel && __atomic_load_n(r->o->cancel, __ATOMIC_RELAXED);
}

static cs_status next_row(void *ud, cs_fetch_request *req)
{
    run *r = ud;
    if (canceled(r))
        return CS_ECANCELED;
    cs_status fst = flush_backlog(r, false, 0);
    if (fst)
        return fst; /* CS_EAGAIN: no new rows while bodies wait */
    for (;;) {
        cs_urllist_row *row = r->pending;
        r->pending = NULL;
        if (!row) {
            if (r->src_done)
                return CS_DONE;
            const cs_urllist_row *src_row;
            cs_status st = r->src(r->src_ud, &src_row);
            if (st == CS_DONE) {
                r->src_done = true;
                return CS_DONE;
            }
            if (st)
                return st;
            row = cs_urllist_row_dup(src_row);
            if (!row)
                return CS_ENOMEM;
            /* the writer keys rows by their input position */
            row->index = r->rows_total++;
            pthread_mutex_lock(&r->mu);
            r->st.rows++;
            pthread_mutex_unlock(&r->mu);
        }
        cs_dataset_admit adm;
        cs_status st = cs_dataset_writer_admit(r->w, row->index, &adm);
        if (st) {
            cs_free(row);
            set_err(r, st, "dataset", cs_dataset_writer_errmsg(r->w));
            return st;
        }
        if (adm == CS_DATASET_ADMIT_SKIP) {
            pthread_mutex_lock(&r->mu);
            r->st.skipped++;
            pthread_mutex_unlock(&r->mu);
            cs_free(row);
            continue;
        }
        if (adm == CS_DATASET_ADMIT_WAIT) {
            /* too many shards open: let this run drain, then go on */
            r->pending = row;
            r->drain = true;
            return CS_DONE;
        }
        req->url = row->url;
        req->url_len = 0;
        req->user = row;
        return CS_OK;
    }
}

static cs_status fetched(void *ud, cs_fetch_result *res)
{
    run *r = ud;
    cs_urllist_row *row = res->user;
    if (res->reason == CS_FETCH_OK) {
        item *it = cs_calloc(1, sizeof *it);
        if (!it) {
            cs_free(row);
            return CS_ENOMEM;
        }
        it->row = row;
        it->body = cs_fetch_result_take_body(res, &it->len);
        pthread_mutex_lock(&r->mu);
        r->st.fetched++;
        r->st.by_fetch[CS_FETCH_OK]++;
        r->st.bytes_downloaded += it->len;
        pthread_mutex_unlock(&r->mu);
        /* older bodies first; then this one, or the backlog if full */
        cs_status st = flush_backlog(r, false, 0);
        if (!st)
            st = cs_pool_submit(r->pool, it, 0);
        if (st == CS_EAGAIN || st == CS_ETIMEOUT) {
            backlog_push(r, it);
            st = flush_backlog(r, true, r->max_backlog);
            if (st && st != CS_EAGAIN)
                return st;
        } else if (st) {
            discard_item(it, NULL);
            return st;
        }
    } else if (res->reason == CS_FETCH_CANCELED) {
        /* the run is stopping: the row is not written, so its shard stays
         * incomplete and an incremental rerun fetches it (a shard must not
         * be committed with rows that were never tried) */
        cs_free(row);
        return CS_OK;
    } else {
        cs_dataset_sample s;
        base_sample(&s, row);
        s.status = CS_DATASET_FAILED_TO_DOWNLOAD;
        s.reason = cs_fetch_reason_name(res->reason);
        s.error_message = res->message && *res->message ? res->message : s.reason;
        cs_status st = cs_dataset_writer_add(r->w, &s);
        pthread_mutex_lock(&r->mu);
        r->st.failed_download++;
        r->st.by_fetch[res->reason < CS_FETCH__REASON_COUNT ? res->reason : 0]++;
        pthread_mutex_unlock(&r->mu);
        cs_free(row);
        if (st) {
            set_err(r, st, "dataset", cs_dataset_writer_errmsg(r->w));
            return st;
        }
    }
    progress(r, false);
    return CS_OK;
}

cs_status cs_download_run(const cs_download_opts *o, const char *out, cs_row_source_fn src,
                          void *src_ud, cs_download_stats *stats, char *err, size_t errlen)
{
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.src = src;
    r.src_ud = src_ud;
    r.t0 = cs_now();
    r.max_backlog = o->max_backlog_bytes ? o->max_backlog_bytes : (size_t)64 << 20;
    pthread_mutex_init(&r.mu, NULL);
    if (err && errlen)
        err[0] = 0;

    cs_status st = cs_image_global_init();
    if (st) {
        set_err(&r, st, "image", "libvips could not start");
        goto done;
    }
    cs_dataset_opts dopts = o->dataset;
    if (!dopts.max_open_shards) {
        /* enough shards for every row the fetcher and the pool may hold */
        uint64_t per = dopts.samples_per_shard ? dopts.samples_per_shard : 10000;
        uint64_t held = (uint64_t)o->fetch.max_queued + 4u * (o->threads > 0 ? o->threads : 8);
        dopts.max_open_shards = (unsigned)(held / per + 4);
        if (dopts.max_open_shards > 64)
            dopts.max_open_shards = 64;
    }
    st = cs_dataset_writer_open(&r.w, out, &dopts);
    if (st) {
        set_err(&r, st, "dataset", r.w ? cs_dataset_writer_errmsg(r.w) : NULL);
        goto done;
    }
    cs_pool_opts po;
    cs_pool_opts_init(&po);
    po.threads = o->threads;
    po.work = work;
    po.thread_exit = thread_exit;
    po.discard_item = discard_item;
    po.notify = pool_room;
    po.ud = &r;
    if ((st = cs_pool_new(&po, &r.pool))) {
        set_err(&r, st, "pool", "could not start the image workers");
        goto done;
    }
    cs_fetch_opts fo = o->fetch;
    if (o->cancel)
        fo.cancel = o->cancel;
    if ((st = cs_fetch_new(&r.f, &fo))) {
        set_err(&r, st, "fetch", "could not set up libcurl");
        goto done;
    }
    atomic_store(&r.f_live, r.f);
    for (;;) {
        r.drain = false;
        st = cs_fetch_run(r.f, next_row, fetched, &r);
        if (canceled(&r)) {
            st = CS_ECANCELED;
            set_err(&r, st, "download", "canceled");
            cs_pool_cancel(r.pool); /* queued images are dropped */
            break;
        }
        /* the fetcher is idle now: the backlog may wait for room */
        cs_status bst = flush_backlog(&r, true, 0);
        if (!st)
            st = bst;
        if (st) {
            if (!r.first_err)
                set_err(&r, st, "fetch", cs_fetch_errmsg(r.f));
            break;
        }
        if (!r.drain)
            break;
        /* shards waiting for their last rows: let the workers finish them,
         * and the commit thread the shards they completed */
        if ((st = cs_pool_wait_idle(r.pool)))
            break;
        if ((st = cs_dataset_writer_flush(r.w))) {
            set_err(&r, st, "dataset", cs_dataset_writer_errmsg(r.w));
            break;
        }
    }
    cs_pool_close(r.pool);
    cs_status pst = cs_pool_wait_idle(r.pool);
    if (!st)
        st = pst;
    if (!st && r.first_err)
        st = r.first_err;
    if (!st) {
        st = cs_dataset_writer_end_input(r.w, r.rows_total);
        if (!st)
            st = cs_dataset_writer_finish(r.w);
        if (st)
            set_err(&r, st, "dataset", cs_dataset_writer_errmsg(r.w));
    }
    progress(&r, true);
done:
    atomic_store(&r.f_live, NULL);
    cs_pool_free(r.pool);
    while (r.backlog) {
        item *it = r.backlog;
        r.backlog = it->next;
        discard_item(it, NULL);
    }
    cs_fetch_free(r.f);
    cs_dataset_writer_free(r.w);
    cs_free(r.pending);
    r.st.seconds = cs_now() - r.t0;
    if (stats)
        *stats = r.st;
    if (!st && r.first_err)
        st = r.first_err;
    if (st && err && errlen)
        snprintf(err, errlen, "%s", r.err[0] ? r.err : cs_strerror(st));
    pthread_mutex_destroy(&r.mu);
    return st;
}
