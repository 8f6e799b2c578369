/* filterrows.c - a row source that runs the candidate filter chain
 * (crawlset/filter.h) over another row source, in process: `pairs` and
 * `download` with --filter/--rules. Kept rows are numbered again from 0 (the
 * dataset keys come from that number), and the chain's counts are kept per
 * shard for the "filters" member of each shard's _stats.json: every
 * candidate examined while looking for row i counts for row i's shard
 * (candidates dropped after the last kept row count for the last shard).
 *
 * With cs_pipe_filter_rows_read_ahead the source is read on a thread of its
 * own (batches of rows copied into a bounded queue), so that the chain runs
 * beside the source's work (WAT parsing and link extraction in `pairs`)
 * instead of after it. */
#include <pthread.h>
#include <string.h>

#include "crawlset/pipe.h"

/* Read-ahead: RA_BATCHES batches of up to RA_ROWS rows, filled by the
 * reader thread and handed to the caller's thread in order. */
#define RA_ROWS 256
#define RA_BATCHES 4

typedef struct coloff {
    size_t name, value, json; /* offsets in text; SIZE_MAX = NULL */
} coloff;

typedef struct ra_batch {
    cs_urllist_row rows[RA_ROWS];
    size_t n;
    cs_status end;          /* CS_OK, or the source's status after the last row */
    cs_buf text;            /* the rows' strings */
    size_t url[RA_ROWS], cap[RA_ROWS], col0[RA_ROWS];
    coloff *co;             /* the rows' columns, as offsets while filling */
    cs_urllist_column *cols;
    size_t ncols, capcols;
} ra_batch;

struct cs_pipe_filter_rows {
    cs_row_source_fn src;
    void *src_ud;
    cs_filter_chain *chain;  /* borrowed */
    uint64_t per_shard;
    uint64_t kept, seen;
    cs_urllist_row row;      /* the row handed out: the source's, renumbered */
    pthread_mutex_t mu;      /* guards shards (the commit thread reads them) */
    cs_filter_stats **shards;
    size_t nshards;
    bool done;
    /* read-ahead */
    bool read_ahead;
    pthread_t reader;
    bool started, stop;
    pthread_mutex_t qmu;
    pthread_cond_t qcond;
    ra_batch *batch[RA_BATCHES];
    size_t head, count;     /* ring of filled batches: batch[head..head+count) */
    ra_batch *cur;          /* the batch being read by the caller (taken off) */
    size_t pos;
};

cs_status cs_pipe_filter_rows_new(cs_pipe_filter_rows **out, cs_row_source_fn src, void *src_ud,
                                  cs_filter_chain *chain, uint64_t samples_per_shard)
{
    *out = NULL;
    cs_pipe_filter_rows *f = cs_calloc(1, sizeof *f);
    if (!f)
        return CS_ENOMEM;
    f->src = src;
    f->src_ud = src_ud;
    f->chain = chain;
    f->per_shard = samples_per_shard ? samples_per_shard : 10000;
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->qmu, NULL);
    pthread_cond_init(&f->qcond, NULL);
    *out = f;
    return CS_OK;
}

void cs_pipe_filter_rows_read_ahead(cs_pipe_filter_rows *f)
{
    if (!f->started)
        f->read_ahead = true;
}

static void batch_free(ra_batch *b)
{
    if (!b)
        return;
    cs_buf_cleanup(&b->text);
    cs_free(b->co);
    cs_free(b->cols);
    cs_free(b);
}

static size_t put_str(ra_batch *b, const char *s, cs_status *st)
{
    if (!s || *st)
        return SIZE_MAX;
    size_t off = b->text.len;
    if (cs_buf_append(&b->text, s, strlen(s) + 1))
        *st = CS_ENOMEM;
    return off;
}

static const char *at(const ra_batch *b, size_t off)
{
    return off == SIZE_MAX ? NULL : b->text.data + off;
}

/* Fills b with the source's next rows (copied); b->end says why it stopped
 * early. */
static void batch_fill(cs_pipe_filter_rows *f, ra_batch *b)
{
    b->n = 0;
    b->ncols = 0;
    b->end = CS_OK;
    cs_buf_reset(&b->text);
    while (b->n < RA_ROWS) {
        const cs_urllist_row *r;
        cs_status st = f->src(f->src_ud, &r);
        if (st) {
            b->end = st;
            break;
        }
        if (b->ncols + r->ncolumns > b->capcols) {
            size_t cap = b->capcols ? b->capcols * 2 : 64;
            while (cap < b->ncols + r->ncolumns)
                cap *= 2;
            coloff *co = cs_realloc(b->co, cap * sizeof *co);
            if (co)
                b->co = co;
            cs_urllist_column *cols = co ? cs_realloc(b->cols, cap * sizeof *cols) : NULL;
            if (cols)
                b->cols = cols;
            if (!co || !cols) {
                b->end = CS_ENOMEM;
                break;
            }
            b->capcols = cap;
        }
        size_t i = b->n;
        b->rows[i] = *r;
        b->url[i] = put_str(b, r->url, &st);
        b->cap[i] = put_str(b, r->caption, &st);
        b->col0[i] = b->ncols;
        for (size_t k = 0; k < r->ncolumns; k++) {
            coloff *o = &b->co[b->ncols++];
            o->name = put_str(b, r->columns[k].name, &st);
            o->value = put_str(b, r->columns[k].value, &st);
            o->json = put_str(b, r->columns[k].json, &st);
        }
        if (st) {
            b->end = st;
            break;
        }
        b->n++;
    }
    /* the text no longer moves: offsets to pointers */
    for (size_t k = 0; k < b->ncols; k++)
        b->cols[k] = (cs_urllist_column){at(b, b->co[k].name), at(b, b->co[k].value),
                                         at(b, b->co[k].json)};
    for (size_t i = 0; i < b->n; i++) {
        b->rows[i].url = at(b, b->url[i]);
        b->rows[i].caption = at(b, b->cap[i]);
        b->rows[i].columns = b->rows[i].ncolumns ? b->cols + b->col0[i] : NULL;
    }
}

static void *reader_main(void *ud)
{
    cs_pipe_filter_rows *f = ud;
    for (;;) {
        pthread_mutex_lock(&f->qmu);
        while (!f->stop && f->count == RA_BATCHES)
            pthread_cond_wait(&f->qcond, &f->qmu);
        if (f->stop) {
            pthread_mutex_unlock(&f->qmu);
            return NULL;
        }
        size_t slot = (f->head + f->count) % RA_BATCHES;
        ra_batch *b = f->batch[slot];
        pthread_mutex_unlock(&f->qmu);
        batch_fill(f, b); /* the slot is not in the ring yet: ours alone */
        pthread_mutex_lock(&f->qmu);
        f->count++;
        pthread_cond_broadcast(&f->qcond);
        pthread_mutex_unlock(&f->qmu);
        if (b->end)
            return NULL;
    }
}

/* The next row of the source, through the read-ahead thread. */
static cs_status ra_next(cs_pipe_filter_rows *f, const cs_urllist_row **out)
{
    if (!f->started) {
        for (size_t i = 0; i < RA_BATCHES; i++) {
            if (!(f->batch[i] = cs_calloc(1, sizeof *f->batch[i])))
                return CS_ENOMEM;
            cs_buf_init(&f->batch[i]->text, 0);
        }
        if (pthread_create(&f->reader, NULL, reader_main, f))
            return CS_ENOMEM;
        f->started = true;
    }
    for (;;) {
        if (f->cur && f->pos < f->cur->n) {
            *out = &f->cur->rows[f->pos++];
            return CS_OK;
        }
        if (f->cur && f->cur->end)
            return f->cur->end;
        pthread_mutex_lock(&f->qmu);
        if (f->cur) { /* hand it back: it is the ring's head */
            f->head = (f->head + 1) % RA_BATCHES;
            f->count--;
            f->cur = NULL;
            pthread_cond_broadcast(&f->qcond);
        }
        while (!f->count)
            pthread_cond_wait(&f->qcond, &f->qmu);
        f->cur = f->batch[f->head];
        f->pos = 0;
        pthread_mutex_unlock(&f->qmu);
    }
}

void cs_pipe_filter_rows_free(cs_pipe_filter_rows *f)
{
    if (!f)
        return;
    cs_filter_chain_also_stats(f->chain, NULL);
    if (f->started) {
        pthread_mutex_lock(&f->qmu);
        f->stop = true;
        pthread_cond_broadcast(&f->qcond);
        pthread_mutex_unlock(&f->qmu);
        pthread_join(f->reader, NULL);
    }
    for (size_t i = 0; i < RA_BATCHES; i++)
        batch_free(f->batch[i]);
    pthread_cond_destroy(&f->qcond);
    pthread_mutex_destroy(&f->qmu);
    for (size_t i = 0; i < f->nshards; i++)
        cs_filter_stats_free(f->shards[i]);
    cs_free(f->shards);
    pthread_mutex_destroy(&f->mu);
    cs_free(f);
}

/* The stats of shard i, created when new (under the lock). */
static cs_filter_stats *shard_stats(cs_pipe_filter_rows *f, uint64_t i)
{
    cs_filter_stats *s = NULL;
    pthread_mutex_lock(&f->mu);
    if (i >= f->nshards) {
        size_t n = (size_t)i + 1;
        cs_filter_stats **v = cs_realloc(f->shards, n * sizeof *v);
        if (v) {
            memset(v + f->nshards, 0, (n - f->nshards) * sizeof *v);
            f->shards = v;
            f->nshards = n;
        }
    }
    if (i < f->nshards) {
        if (!f->shards[i] && cs_filter_chain_new_stats(f->chain, &f->shards[i]))
            f->shards[i] = NULL;
        s = f->shards[i];
    }
    pthread_mutex_unlock(&f->mu);
    return s;
}

cs_status cs_pipe_filter_rows_next(void *ud, const cs_urllist_row **out)
{
    cs_pipe_filter_rows *f = ud;
    *out = NULL;
    if (f->done)
        return CS_DONE;
    for (;;) {
        const cs_urllist_row *r;
        cs_status st = f->read_ahead ? ra_next(f, &r) : f->src(f->src_ud, &r);
        if (st == CS_DONE && f->kept && f->kept % f->per_shard == 0) {
            /* drops after the last kept row: they count for the last shard */
            uint64_t last = f->kept / f->per_shard - 1;
            cs_filter_stats *tail = shard_stats(f, last + 1), *dst = shard_stats(f, last);
            pthread_mutex_lock(&f->mu);
            if (tail && dst && cs_filter_stats_merge(dst, tail))
                st = CS_ENOMEM;
            pthread_mutex_unlock(&f->mu);
        }
        if (st) {
            if (st == CS_DONE)
                f->done = true;
            cs_filter_chain_also_stats(f->chain, NULL);
            return st;
        }
        cs_filter_stats *s = shard_stats(f, f->kept / f->per_shard);
        if (!s)
            return CS_ENOMEM;
        cs_filter_chain_also_stats(f->chain, s);
        cs_candidate cand;
        memset(&cand, 0, sizeof cand);
        cand.url = (cs_slice){r->url, strlen(r->url)};
        if (r->caption)
            cand.text = (cs_slice){r->caption, strlen(r->caption)};
        for (size_t i = 0; i < r->ncolumns; i++)
            if (r->columns[i].value && !strcmp(r->columns[i].name, "page"))
                cand.page = (cs_slice){r->columns[i].value, strlen(r->columns[i].value)};
        cs_filter_verdict v;
        /* the shard's stats object is written here and read by the commit
         * thread only once its shard is complete, i.e. no longer written */
        if ((st = cs_filter_chain_apply(f->chain, &cand, &v)))
            return st;
        f->seen++;
        if (!v.keep)
            continue;
        f->row = *r;
        f->row.index = f->kept++;
        *out = &f->row;
        return CS_OK;
    }
}

cs_status cs_pipe_filter_rows_shard_json(void *ud, uint64_t shard, cs_buf *out)
{
    cs_pipe_filter_rows *f = ud;
    pthread_mutex_lock(&f->mu);
    cs_filter_stats *s = shard < f->nshards ? f->shards[shard] : NULL;
    cs_status st = s ? cs_filter_stats_json(s, false, out) : cs_buf_puts(out, "{}");
    pthread_mutex_unlock(&f->mu);
    return st;
}

void cs_pipe_filter_rows_counts(const cs_pipe_filter_rows *f, uint64_t *seen, uint64_t *kept)
{
    *seen = f->seen;
    *kept = f->kept;
}
