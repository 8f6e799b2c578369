/* crawlset/pipe.h - the pipelines built from the layers below.
 *
 * download: rows (URL, caption, saved columns) -> fetcher (one thread,
 * libcurl multi) -> image workers (decode, check, resize, encode on a
 * bounded pool) -> dataset writer (shards, .jsonl, _stats.json). Every input
 * row ends up in its shard's .jsonl, successful or not, with a reason.
 * Bounded memory: the fetcher holds at most fetch.max_queued rows, the pool
 * queue_cap bodies, and the writer spools early samples to disk.
 *
 * Row sources: a URL list (crawlset/urllist.h), or WAT files, whose image
 * candidates (IMG@/src with a non-empty alt) become rows with the page URL
 * saved as column "page" (the `pairs` pipeline).
 *
 * Depends on: util, warc (WAT), dataset, net (fetch), image, pool, filter. */
#ifndef CRAWLSET_PIPE_H
#define CRAWLSET_PIPE_H

#include "crawlset/dataset.h"
#include "crawlset/fetch.h"
#include "crawlset/filter.h"
#include "crawlset/image.h"
#include "crawlset/urllist.h"
#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Counters of a run, also handed to the progress callback. */
typedef struct cs_download_stats {
    uint64_t rows;              /* rows taken from the source */
    uint64_t skipped;           /* rows of shards already complete (incremental) */
    uint64_t fetched;           /* downloads that succeeded */
    uint64_t ok;                /* samples written */
    uint64_t failed_download;   /* by fetch reason below */
    uint64_t failed_image;      /* by image reason below */
    uint64_t by_fetch[CS_FETCH__REASON_COUNT];
    uint64_t by_image[CS_IMAGE__REASON_COUNT];
    uint64_t bytes_downloaded;  /* bodies of successful downloads */
    uint64_t bytes_written;     /* encoded images */
    double seconds;             /* since the start */
    uint64_t peak_backlog;      /* most downloaded bodies waiting at once for a
                                   full image pool (the fetcher kept running) */
} cs_download_stats;

typedef void (*cs_download_progress_fn)(const cs_download_stats *s, void *ud);

typedef struct cs_download_opts {
    cs_fetch_opts fetch;        /* cs_fetch_opts_init() defaults; accept_types: images */
    cs_image_opts image;        /* cs_image_opts_init() defaults */
    cs_dataset_opts dataset;    /* zero = defaults */
    int threads;                /* image workers; 0 = one per CPU */
    size_t max_backlog_bytes;   /* downloaded bodies held for a full image pool
                                   before the fetch thread waits for room
                                   (0 = 64 MiB) */
    bool phash;                 /* add "phash" (16 hex digits, crawlset/filter.h's
                                   64-bit DCT pHash of the output image) to each
                                   successful sample's metadata */
    const char *verify_hash_col;/* saved column with the expected sha256 (hex);
                                   mismatches are dropped (reason hash_mismatch) */
    cs_download_progress_fn progress; /* called from the fetch thread, <= 10/s */
    void *progress_ud;
    const volatile int *cancel; /* optional: when *cancel turns nonzero (any thread, or a
                                   signal handler) the run stops soon: no more rows are
                                   pulled, transfers are dropped, queued images too;
                                   complete shards stay, the rest is left for an
                                   incremental rerun; cs_download_run says CS_ECANCELED */
} cs_download_opts;

CS_API void cs_download_opts_init(cs_download_opts *o);

/* Supplies the next row (valid until the next call): CS_OK, CS_DONE at the
 * end, or an error that stops the run. */
typedef cs_status (*cs_row_source_fn)(void *ud, const cs_urllist_row **row /* OUT */);

/* Downloads every row of the source into out (a directory or http(s) URL,
 * see crawlset/dataset.h). Returns CS_OK when every row was accounted for
 * (rows may have failed: see *stats); CS_ECANCELED when opts->cancel was
 * raised; other errors with err saying why. stats may be NULL. */
CS_API CS_WARN_UNUSED cs_status cs_download_run(const cs_download_opts *o, const char *out,
                                                cs_row_source_fn src, void *src_ud,
                                                cs_download_stats *stats /* OUT */,
                                                char *err, size_t errlen);

/* A cs_row_source_fn over a cs_urllist_reader (ud): bad rows are reported
 * through cs_log (WARN, "FILE:LINE: what") and skipped. */
CS_API cs_status cs_pipe_urllist_rows(void *ud, const cs_urllist_row **row /* OUT */);

/* A row source over WAT files: image candidates as rows (url resolved,
 * caption = alt, column "page"). Malformed records are counted and
 * reported through cs_log (WARN) and skipped. */
typedef struct cs_pipe_wat_rows cs_pipe_wat_rows;
CS_API CS_WARN_UNUSED cs_status cs_pipe_wat_rows_new(cs_pipe_wat_rows **out /* OUT */,
                                                const char *const *paths, size_t npaths,
                                                unsigned threads);
CS_API void cs_pipe_wat_rows_free(cs_pipe_wat_rows *w);
/* A cs_row_source_fn; ud is the cs_pipe_wat_rows. */
CS_API cs_status cs_pipe_wat_rows_next(void *ud, const cs_urllist_row **row /* OUT */);
/* Records read and malformed records skipped so far. */
CS_API void cs_pipe_wat_rows_counts(const cs_pipe_wat_rows *w, uint64_t *records, uint64_t *errors);

/* A row source that runs a candidate filter chain (crawlset/filter.h) over
 * the rows of another source (url, caption as the text, column "page"):
 * only kept rows come out, numbered again from 0. The chain's counts are kept
 * per shard of samples_per_shard rows (0 = 10,000; use the dataset's) for
 * cs_pipe_filter_rows_shard_json, which fits cs_dataset_opts.filters_json
 * (ud = the cs_pipe_filter_rows). The chain is borrowed and must outlive it. */
typedef struct cs_pipe_filter_rows cs_pipe_filter_rows;
CS_API CS_WARN_UNUSED cs_status cs_pipe_filter_rows_new(cs_pipe_filter_rows **out /* OUT */,
                                                        cs_row_source_fn src, void *src_ud,
                                                        cs_filter_chain *chain,
                                                        uint64_t samples_per_shard);
CS_API void cs_pipe_filter_rows_free(cs_pipe_filter_rows *f);
/* Reads the source ahead on a thread of its own (bounded: 4 batches of 256
 * rows, copied), so that the chain runs beside the source's own work. Call
 * before the first row. Only for a source whose calls always return soon
 * (files, not a pipe or a terminal): cs_pipe_filter_rows_free waits for the
 * call in progress. */
CS_API void cs_pipe_filter_rows_read_ahead(cs_pipe_filter_rows *f);
/* A cs_row_source_fn; ud is the cs_pipe_filter_rows. */
CS_API cs_status cs_pipe_filter_rows_next(void *ud, const cs_urllist_row **row /* OUT */);
/* Appends the chain's stats for shard `shard` ({} when it has none). */
CS_API cs_status cs_pipe_filter_rows_shard_json(void *ud, uint64_t shard, cs_buf *out);
/* Candidates examined and kept so far. */
CS_API void cs_pipe_filter_rows_counts(const cs_pipe_filter_rows *f, uint64_t *seen,
                                       uint64_t *kept);

#ifdef __cplusplus
}
#endif
#endif
