/* filterrows.c - a row source that runs the candidate filter chain
 * (crawlset/filter.h) over another row source, in process: `pairs` and
 * `download` with --filter/--rules. Kept rows are numbered again from 0 (the
 * dataset keys come from that number), and the chain's counts are kept per
 * shard for the "filters" member of each shard's _stats.json: every
 * candidate examined while looking for row i counts for row i's shard
 * (candidates dropped after the last kept row count for the last shard). */
#include <pthread.h>
#include <string.h>

#include "crawlset/pipe.h"

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
    *out = f;
    return CS_OK;
}

void cs_pipe_filter_rows_free(cs_pipe_filter_rows *f)
{
    if (!f)
        return;
    cs_filter_chain_also_stats(f->chain, NULL);
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
        cs_status st = f->src(f->src_ud, &r);
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
