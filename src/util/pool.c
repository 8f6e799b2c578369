/* pool.c - worker threads between two bounded ring queues (crawlset/pool.h).
 *
 * One mutex guards everything; five condition variables say what changed
 * (input queued, input room, result queued, result room, pool idle). Timed
 * waits use CLOCK_MONOTONIC so a clock change cannot stretch a timeout. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crawlset/pool.h"

typedef struct ring {
    void **v;
    size_t cap, head, len;
} ring;

static void ring_push(ring *r, void *x)
{
    r->v[(r->head + r->len) % r->cap] = x;
    r->len++;
}

static void *ring_pop(ring *r)
{
    void *x = r->v[r->head];
    r->head = (r->head + 1) % r->cap;
    r->len--;
    return x;
}

struct cs_pool {
    pthread_mutex_t mu;
    pthread_cond_t in_cv;    /* an input was queued, or closed/canceled */
    pthread_cond_t room_cv;  /* the input queue has room, or closed/canceled */
    pthread_cond_t out_cv;   /* a result was queued, or the pool may be done */
    pthread_cond_t oroom_cv; /* the output queue has room, or canceled */
    pthread_cond_t idle_cv;  /* nothing queued and nothing running */
    ring in;
    ring out;
    size_t running;  /* items a worker holds */
    uint64_t done;   /* items worked */
    uint64_t dropped;
    bool closed;
    bool canceled;
    int nthreads;    /* threads started */
    pthread_t *threads;
    cs_pool_opts o;
};

void cs_pool_opts_init(cs_pool_opts *o)
{
    memset(o, 0, sizeof *o);
}

int cs_pool_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Absolute CLOCK_MONOTONIC deadline timeout_s from now. */
static struct timespec deadline(double timeout_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout_s > 1e9)
        timeout_s = 1e9;
    time_t sec = (time_t)timeout_s;
    long nsec = (long)((timeout_s - (double)sec) * 1e9);
    ts.tv_sec += sec;
    ts.tv_nsec += nsec;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits on cv; false once the deadline has passed (timeout_s >= 0). */
static bool wait_cv(cs_pool *p, pthread_cond_t *cv, double timeout_s, const struct timespec *dl)
{
    if (timeout_s < 0) {
        pthread_cond_wait(cv, &p->mu);
        return true;
    }
    return pthread_cond_timedwait(cv, &p->mu, dl) != ETIMEDOUT;
}

static bool pool_done(const cs_pool *p)
{
    return p->closed && p->in.len == 0 && p->running == 0;
}

static void *worker(void *arg)
{
    cs_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->in.len == 0 && !p->closed && !p->canceled)
            pthread_cond_wait(&p->in_cv, &p->mu);
        if (p->canceled || p->in.len == 0)
            break;
        void *item = ring_pop(&p->in);
        p->running++;
        pthread_cond_signal(&p->room_cv);
        pthread_mutex_unlock(&p->mu);

        void *res = p->o.work(item, p->o.ud);

        pthread_mutex_lock(&p->mu);
        bool queued = false;
        if (res && p->out.cap) {
            while (p->out.len == p->out.cap && !p->canceled)
                pthread_cond_wait(&p->oroom_cv, &p->mu);
            if (p->canceled) {
                p->dropped++;
                if (p->o.discard_result) {
                    pthread_mutex_unlock(&p->mu);
                    p->o.discard_result(res, p->o.ud);
                    pthread_mutex_lock(&p->mu);
                }
            } else {
                ring_push(&p->out, res);
                pthread_cond_signal(&p->out_cv);
                queued = true;
            }
        }
        /* notify before the item stops counting as running, so that no
         * getter sees CS_DONE (or waiter idle) before the last notify */
        if ((queued || !p->out.cap) && p->o.notify) {
            pthread_mutex_unlock(&p->mu);
            p->o.notify(p->o.ud);
            pthread_mutex_lock(&p->mu);
        }
        p->running--;
        p->done++;
        if (p->in.len == 0 && p->running == 0) {
            pthread_cond_broadcast(&p->idle_cv);
            if (p->closed)
                pthread_cond_broadcast(&p->out_cv); /* getters may be done */
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (p->o.thread_exit)
        p->o.thread_exit(p->o.ud);
    return NULL;
}

static void join_and_destroy(cs_pool *p)
{
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while (p->out.len) {
        void *r = ring_pop(&p->out);
        p->dropped++;
        if (p->o.discard_result)
            p->o.discard_result(r, p->o.ud);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->in_cv);
    pthread_cond_destroy(&p->room_cv);
    pthread_cond_destroy(&p->out_cv);
    pthread_cond_destroy(&p->oroom_cv);
    pthread_cond_destroy(&p->idle_cv);
    cs_free(p->threads);
    cs_free(p->in.v);
    cs_free(p->out.v);
    cs_free(p);
}

cs_status cs_pool_new(const cs_pool_opts *opts, cs_pool **out)
{
    *out = NULL;
    if (!opts || !opts->work || opts->threads < 0)
        return CS_EINVAL;
    cs_pool *p = cs_calloc(1, sizeof *p);
    if (!p)
        return CS_ENOMEM;
    p->o = *opts;
    int n = opts->threads ? opts->threads : cs_pool_cpu_count();
    p->in.cap = opts->queue_cap ? opts->queue_cap : 2 * (size_t)n;
    p->out.cap = opts->out_cap;
    p->in.v = cs_calloc(p->in.cap, sizeof(void *));
    p->out.v = p->out.cap ? cs_calloc(p->out.cap, sizeof(void *)) : NULL;
    p->threads = cs_calloc((size_t)n, sizeof(pthread_t));
    if (!p->in.v || (p->out.cap && !p->out.v) || !p->threads) {
        cs_free(p->in.v);
        cs_free(p->out.v);
        cs_free(p->threads);
        cs_free(p);
        return CS_ENOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->in_cv, &ca);
    pthread_cond_init(&p->room_cv, &ca);
    pthread_cond_init(&p->out_cv, &ca);
    pthread_cond_init(&p->oroom_cv, &ca);
    pthread_cond_init(&p->idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            cs_pool_cancel(p);
            join_and_destroy(p);
            return CS_EIO;
        }
        p->nthreads++;
    }
    *out = p;
    return CS_OK;
}

cs_status cs_pool_submit(cs_pool *p, void *item, double timeout_s)
{
    struct timespec dl;
    if (timeout_s > 0)
        dl = deadline(timeout_s);
    cs_status st = CS_OK;
    pthread_mutex_lock(&p->mu);
    while (p->in.len == p->in.cap && !p->closed && !p->canceled) {
        if (timeout_s == 0 || !wait_cv(p, &p->room_cv, timeout_s, &dl)) {
            if (p->in.len == p->in.cap && !p->closed && !p->canceled) {
                st = CS_ETIMEOUT;
                goto out;
            }
        }
    }
    if (p->closed || p->canceled) {
        st = CS_ECANCELED;
        goto out;
    }
    ring_push(&p->in, item);
    pthread_cond_signal(&p->in_cv);
out:
    pthread_mutex_unlock(&p->mu);
    return st;
}

cs_status cs_pool_get(cs_pool *p, void **result, double timeout_s)
{
    *result = NULL;
    if (!p->out.cap)
        return CS_EINVAL;
    struct timespec dl;
    if (timeout_s > 0)
        dl = deadline(timeout_s);
    cs_status st = CS_OK;
    pthread_mutex_lock(&p->mu);
    while (p->out.len == 0) {
        if (p->canceled) {
            st = CS_ECANCELED;
            goto out;
        }
        if (pool_done(p)) {
            st = CS_DONE;
            goto out;
        }
        if (timeout_s == 0 || !wait_cv(p, &p->out_cv, timeout_s, &dl)) {
            if (p->out.len == 0 && !p->canceled && !pool_done(p)) {
                st = CS_ETIMEOUT;
                goto out;
            }
        }
    }
    *result = ring_pop(&p->out);
    pthread_cond_signal(&p->oroom_cv);
out:
    pthread_mutex_unlock(&p->mu);
    return st;
}

void cs_pool_close(cs_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_cond_broadcast(&p->in_cv);
    pthread_cond_broadcast(&p->room_cv);
    pthread_cond_broadcast(&p->out_cv);
    pthread_mutex_unlock(&p->mu);
}

cs_status cs_pool_wait_idle(cs_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while ((p->in.len || p->running) && !p->canceled)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    cs_status st = p->canceled ? CS_ECANCELED : CS_OK;
    pthread_mutex_unlock(&p->mu);
    return st;
}

void cs_pool_cancel(cs_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->canceled) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->canceled = true;
    /* Take the unstarted inputs out under the lock, discard them outside. */
    size_t n = p->in.len;
    void **items = n ? cs_malloc(n * sizeof(void *)) : NULL;
    size_t got = 0;
    while (p->in.len) {
        void *x = ring_pop(&p->in);
        if (items)
            items[got++] = x;
        else if (p->o.discard_item)
            p->o.discard_item(x, p->o.ud); /* no memory to defer: call under the lock */
        p->dropped++;
    }
    pthread_cond_broadcast(&p->in_cv);
    pthread_cond_broadcast(&p->room_cv);
    pthread_cond_broadcast(&p->out_cv);
    pthread_cond_broadcast(&p->oroom_cv);
    pthread_cond_broadcast(&p->idle_cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < got; i++)
        if (p->o.discard_item)
            p->o.discard_item(items[i], p->o.ud);
    cs_free(items);
}

void cs_pool_free(cs_pool *p)
{
    if (!p)
        return;
    cs_pool_cancel(p);
    join_and_destroy(p);
}

void cs_pool_stats_get(cs_pool *p, cs_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->queued = p->in.len;
    out->running = p->running;
    out->results = p->out.len;
    out->done = p->done;
    out->dropped = p->dropped;
    pthread_mutex_unlock(&p->mu);
}
