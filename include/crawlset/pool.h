/* crawlset/pool.h - a fixed set of worker threads fed through a bounded
 * queue, with results handed back through a second bounded queue or a
 * callback on the worker.
 *
 * Built for the downloader: the fetch thread submits downloaded bodies, the
 * workers decode/resize/encode them (crawlset/image.h), the fetch thread (or
 * a writer thread) takes the results. Both queues are bounded, so a slow
 * consumer slows the producer down instead of growing memory.
 *
 * Items are opaque pointers; the pool never looks inside or frees them
 * except through the discard callbacks. The work function runs on a worker
 * with no pool lock held; everything else may be called from any thread.
 * Depends on: util; pthreads. */
#ifndef CRAWLSET_POOL_H
#define CRAWLSET_POOL_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cs_pool cs_pool;

typedef struct cs_pool_opts {
    int threads;      /* workers; 0 = one per online CPU (default 0) */
    size_t queue_cap; /* input items waiting; 0 = 2 * threads (default 0) */
    size_t out_cap;   /* results waiting; 0 = no output queue: results are
                         delivered by `work` itself (default 0) */
    /* Runs on a worker for every submitted item. With an output queue, a
     * non-NULL return value is queued for cs_pool_get() (the worker waits
     * while that queue is full); without one the return value must be NULL. */
    void *(*work)(void *item, void *ud);
    /* Optional. Called on a worker after it queued a result (with an output
     * queue) or after work() returned (without one), e.g. to wake a poll
     * loop that has results to take or items to submit; always before
     * cs_pool_get() can return CS_DONE or cs_pool_wait_idle() can return for
     * that item. */
    void (*notify)(void *ud);
    /* Optional. Called by each worker just before it exits (per-thread
     * clean-up such as cs_image_thread_cleanup). */
    void (*thread_exit)(void *ud);
    /* Optional. Receive the items the pool drops on cancel or free: inputs
     * never started, and results never taken. NULL = nothing is done with
     * them (the caller must own them some other way). */
    void (*discard_item)(void *item, void *ud);
    void (*discard_result)(void *result, void *ud);
    void *ud; /* passed to every callback */
} cs_pool_opts;

/* Fills *o with the defaults above (work is NULL: set it). */
CS_API void cs_pool_opts_init(cs_pool_opts *o);

/* Starts the workers. CS_EINVAL without a work function, CS_ENOMEM, or
 * CS_EIO when a thread cannot be created. Free with cs_pool_free(). */
CS_API CS_WARN_UNUSED cs_status cs_pool_new(const cs_pool_opts *opts, cs_pool **out /* OUT */);

/* Queues item for a worker, waiting up to timeout_s seconds for room
 * (0 = do not wait, < 0 = wait as long as it takes). CS_OK (the pool owns
 * the item until work() gets it), CS_ETIMEOUT (queue full; the caller keeps
 * the item), CS_ECANCELED (closed or canceled; the caller keeps the item).
 * A thread that is also the only consumer of the output queue must not wait
 * forever here: the workers may be waiting for it to take results. */
CS_API CS_WARN_UNUSED cs_status cs_pool_submit(cs_pool *p, void *item, double timeout_s);

/* Takes the oldest result, waiting up to timeout_s (0 = do not wait, < 0 =
 * as long as it takes). CS_OK (*result is the caller's), CS_ETIMEOUT (none
 * yet), CS_DONE (closed, every item worked and every result taken),
 * CS_ECANCELED (canceled), CS_EINVAL (the pool has no output queue). */
CS_API CS_WARN_UNUSED cs_status cs_pool_get(cs_pool *p, void **result /* OUT */,
                                            double timeout_s);

/* No more submissions: items already queued are still worked, and
 * cs_pool_get() returns CS_DONE after the last result. Idempotent. */
CS_API void cs_pool_close(cs_pool *p);

/* Waits until every submitted item has been worked (and, with an output
 * queue, its result queued). Does not close the pool. CS_ECANCELED if the
 * pool was canceled meanwhile. Deadlocks if the output queue is full and
 * nobody takes from it: drain from another thread. */
CS_API cs_status cs_pool_wait_idle(cs_pool *p);

/* Stops early: queued inputs that no worker started are discarded
 * (discard_item), waiting submitters and getters return CS_ECANCELED,
 * workers finish the item in hand and drop its result (discard_result).
 * Returns at once; cs_pool_free() joins. Idempotent. */
CS_API void cs_pool_cancel(cs_pool *p);

/* Cancels (as cs_pool_cancel: whatever was not worked yet is discarded),
 * joins the workers, hands results never taken to discard_result and frees
 * the pool. To finish every item first: cs_pool_close(), then cs_pool_get()
 * until CS_DONE (or cs_pool_wait_idle() without an output queue). No other
 * thread may be inside a pool call (cancel first and let them return). NULL
 * does nothing. */
CS_API void cs_pool_free(cs_pool *p);

/* Counters, for progress lines and tests. */
typedef struct cs_pool_stats {
    size_t queued;    /* inputs waiting for a worker */
    size_t running;   /* inputs a worker is on */
    size_t results;   /* results waiting to be taken */
    uint64_t done;    /* inputs worked so far */
    uint64_t dropped; /* inputs and results discarded */
} cs_pool_stats;

CS_API void cs_pool_stats_get(cs_pool *p, cs_pool_stats *out /* OUT */);

/* Number of online CPUs (at least 1). */
CS_API int cs_pool_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
