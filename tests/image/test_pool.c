/* test_pool.c - cs_pool: every item worked once, bounded queues block and
 * time out, close drains, cancel and free with items in flight discard what
 * was not worked (no leaks under ASan), callbacks, and the pool driving
 * cs_image_process() as the downloader does. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"

typedef struct counters {
    atomic_int worked;
    atomic_int discarded_items;
    atomic_int discarded_results;
    atomic_int notified;
    atomic_int exited;
    atomic_long sum;
    /* a gate the work function waits at while closed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool gate_open;
    useconds_t delay_us;
} counters;

static void counters_init(counters *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->gate_open = true;
}

static void gate(counters *c, bool open)
{
    pthread_mutex_lock(&c->mu);
    c->gate_open = open;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* items are malloc'd longs; results are malloc'd longs (item * 2) */
static void *work_double(void *item, void *ud)
{
    counters *c = ud;
    pthread_mutex_lock(&c->mu);
    while (!c->gate_open)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (c->delay_us)
        usleep(c->delay_us);
    long *in = item;
    long *out = malloc(sizeof *out);
    *out = *in * 2;
    free(in);
    atomic_fetch_add(&c->worked, 1);
    return out;
}

static void discard_item(void *item, void *ud)
{
    free(item);
    atomic_fetch_add(&((counters *)ud)->discarded_items, 1);
}

static void discard_result(void *res, void *ud)
{
    free(res);
    atomic_fetch_add(&((counters *)ud)->discarded_results, 1);
}

static void notify(void *ud)
{
    atomic_fetch_add(&((counters *)ud)->notified, 1);
}

static void thread_exit(void *ud)
{
    atomic_fetch_add(&((counters *)ud)->exited, 1);
}

static long *item(long v)
{
    long *p = malloc(sizeof *p);
    *p = v;
    return p;
}

static cs_pool *make_pool(counters *c, int threads, size_t qcap, size_t ocap)
{
    cs_pool_opts o;
    cs_pool_opts_init(&o);
    o.threads = threads;
    o.queue_cap = qcap;
    o.out_cap = ocap;
    o.work = work_double;
    o.notify = notify;
    o.thread_exit = thread_exit;
    o.discard_item = discard_item;
    o.discard_result = discard_result;
    o.ud = c;
    cs_pool *p;
    ASSERT_OK(cs_pool_new(&o, &p));
    return p;
}

typedef struct consumer {
    cs_pool *p;
    long sum;
    int got;
    cs_status end;
} consumer;

static void *consume(void *arg)
{
    consumer *k = arg;
    for (;;) {
        void *r;
        cs_status st = cs_pool_get(k->p, &r, -1);
        if (st != CS_OK) {
            k->end = st;
            return NULL;
        }
        k->sum += *(long *)r;
        k->got++;
        free(r);
    }
}

TEST(pool_every_item_worked_once)
{
    counters c;
    counters_init(&c);
    cs_pool *p = make_pool(&c, 4, 3, 2);
    consumer k = {.p = p};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, consume, &k), 0);
    long want = 0;
    for (long i = 1; i <= 2000; i++) {
        ASSERT_OK(cs_pool_submit(p, item(i), -1));
        want += 2 * i;
    }
    cs_pool_close(p);
    ASSERT_ST(cs_pool_submit(p, &want, 0), CS_ECANCELED); /* closed: caller keeps it */
    pthread_join(th, NULL);
    ASSERT_ST(k.end, CS_DONE);
    ASSERT_EQ(k.got, 2000);
    ASSERT_EQ(k.sum, want);
    ASSERT_EQ(atomic_load(&c.notified), 2000);
    cs_pool_stats s;
    cs_pool_stats_get(p, &s);
    ASSERT_UEQ(s.done, 2000);
    ASSERT_UEQ(s.dropped, 0);
    cs_pool_free(p);
    ASSERT_EQ(atomic_load(&c.exited), 4);
    ASSERT_EQ(atomic_load(&c.discarded_items) + atomic_load(&c.discarded_results), 0);
}

TEST(pool_submit_blocks_when_full_and_times_out)
{
    counters c;
    counters_init(&c);
    gate(&c, false);
    cs_pool *p = make_pool(&c, 1, 2, 4);
    /* one in the worker's hands, two queued: full */
    ASSERT_OK(cs_pool_submit(p, item(1), 0));
    usleep(20000);
    ASSERT_OK(cs_pool_submit(p, item(2), 0));
    ASSERT_OK(cs_pool_submit(p, item(3), 0));
    long *x = item(4);
    ASSERT_ST(cs_pool_submit(p, x, 0), CS_ETIMEOUT);
    double t0 = cs_now();
    ASSERT_ST(cs_pool_submit(p, x, 0.1), CS_ETIMEOUT);
    double el = cs_now() - t0;
    ASSERT(el >= 0.09 && el < 2);
    cs_pool_stats s;
    cs_pool_stats_get(p, &s);
    ASSERT_UEQ(s.queued, 2);
    ASSERT_UEQ(s.running, 1);
    /* nothing out yet */
    void *r;
    ASSERT_ST(cs_pool_get(p, &r, 0), CS_ETIMEOUT);
    ASSERT_ST(cs_pool_get(p, &r, 0.05), CS_ETIMEOUT);
    gate(&c, true);
    ASSERT_OK(cs_pool_submit(p, x, 5)); /* room again */
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(cs_pool_get(p, &r, 5));
        sum += *(long *)r;
        free(r);
    }
    ASSERT_EQ(sum, 20);
    cs_pool_free(p);
}

TEST(pool_output_queue_bounds_the_workers)
{
    counters c;
    counters_init(&c);
    cs_pool *p = make_pool(&c, 2, 16, 3);
    for (long i = 0; i < 10; i++)
        ASSERT_OK(cs_pool_submit(p, item(i), -1));
    usleep(100000);
    cs_pool_stats s;
    cs_pool_stats_get(p, &s);
    /* 3 results waiting, each worker holding one it cannot hand over */
    ASSERT_UEQ(s.results, 3);
    ASSERT_UEQ(s.running, 2);
    ASSERT_UEQ(s.queued, 5);
    cs_pool_close(p);
    int got = 0;
    void *r;
    cs_status st;
    while ((st = cs_pool_get(p, &r, 5)) == CS_OK) {
        free(r);
        got++;
    }
    ASSERT_ST(st, CS_DONE);
    ASSERT_EQ(got, 10);
    ASSERT_ST(cs_pool_get(p, &r, 0), CS_DONE); /* stays done */
    cs_pool_free(p);
}

typedef struct submitter {
    cs_pool *p;
    cs_status st;
    long *it;
} submitter;

static void *submit_forever(void *arg)
{
    submitter *s = arg;
    s->st = cs_pool_submit(s->p, s->it, -1);
    return NULL;
}

static void *get_forever(void *arg)
{
    submitter *s = arg;
    void *r;
    s->st = cs_pool_get(s->p, &r, -1);
    return NULL;
}

TEST(pool_cancel_with_items_in_flight)
{
    counters c;
    counters_init(&c);
    gate(&c, false);
    cs_pool *p = make_pool(&c, 2, 4, 1);
    for (long i = 0; i < 6; i++) /* 2 running (held at the gate), 4 queued */
        ASSERT_OK(cs_pool_submit(p, item(i), -1));
    usleep(20000);
    /* a submitter blocked on the full queue, a getter blocked on no results */
    submitter sub = {.p = p, .it = item(99)}, get = {.p = p};
    pthread_t t1, t2;
    ASSERT_EQ(pthread_create(&t1, NULL, submit_forever, &sub), 0);
    ASSERT_EQ(pthread_create(&t2, NULL, get_forever, &get), 0);
    usleep(50000);
    cs_pool_cancel(p);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ASSERT_ST(sub.st, CS_ECANCELED);
    ASSERT_ST(get.st, CS_ECANCELED);
    free(sub.it); /* refused: still ours */
    ASSERT_EQ(atomic_load(&c.discarded_items), 4); /* never started */
    gate(&c, true);                                 /* let the two in hand finish */
    cs_pool_free(p);                                /* joins; their results dropped */
    ASSERT_EQ(atomic_load(&c.worked), 2);
    ASSERT_EQ(atomic_load(&c.discarded_results), 2);
    ASSERT_EQ(atomic_load(&c.exited), 2);
}

TEST(pool_free_drops_results_never_taken)
{
    counters c;
    counters_init(&c);
    cs_pool *p = make_pool(&c, 3, 8, 8);
    for (long i = 0; i < 8; i++)
        ASSERT_OK(cs_pool_submit(p, item(i), -1));
    cs_pool_close(p);
    /* wait for all to be worked, take none */
    for (int k = 0; k < 500 && atomic_load(&c.worked) < 8; k++)
        usleep(2000);
    ASSERT_EQ(atomic_load(&c.worked), 8);
    cs_pool_free(p);
    ASSERT_EQ(atomic_load(&c.discarded_results), 8);
    cs_pool_free(NULL);
}

TEST(pool_free_while_working_and_queued)
{
    counters c;
    counters_init(&c);
    c.delay_us = 2000;
    cs_pool *p = make_pool(&c, 2, 64, 64);
    for (long i = 0; i < 50; i++)
        ASSERT_OK(cs_pool_submit(p, item(i), -1));
    usleep(5000);
    cs_pool_free(p); /* no close, no draining: everything accounted for */
    int worked = atomic_load(&c.worked);
    ASSERT(worked < 50);
    ASSERT_EQ(worked + atomic_load(&c.discarded_items), 50);
    ASSERT_EQ(atomic_load(&c.discarded_results), worked);
}

static atomic_long g_callback_sum;

static void *work_callback(void *item, void *ud)
{
    (void)ud;
    atomic_fetch_add(&g_callback_sum, *(long *)item);
    free(item);
    return NULL;
}

TEST(pool_without_output_queue)
{
    cs_pool_opts o;
    cs_pool_opts_init(&o);
    o.work = work_callback;
    cs_pool *p;
    ASSERT_OK(cs_pool_new(&o, &p)); /* threads = CPUs, queue = 2 * CPUs */
    atomic_store(&g_callback_sum, 0);
    for (long i = 1; i <= 100; i++)
        ASSERT_OK(cs_pool_submit(p, item(i), -1));
    ASSERT_OK(cs_pool_wait_idle(p));
    ASSERT_EQ(atomic_load(&g_callback_sum), 5050);
    void *r;
    ASSERT_ST(cs_pool_get(p, &r, 0), CS_EINVAL);
    cs_pool_close(p);
    cs_pool_free(p);
    ASSERT(cs_pool_cpu_count() >= 1);
}

TEST(pool_bad_options)
{
    cs_pool_opts o;
    cs_pool_opts_init(&o);
    cs_pool *p = (cs_pool *)&o;
    ASSERT_ST(cs_pool_new(&o, &p), CS_EINVAL); /* no work function */
    ASSERT(p == NULL);
    o.work = work_callback;
    o.threads = -1;
    ASSERT_ST(cs_pool_new(&o, &p), CS_EINVAL);
    ASSERT_ST(cs_pool_new(NULL, &p), CS_EINVAL);
}

/* ---- the downloader's use: images decoded off the fetch thread ----------------------------- */

typedef struct img_job {
    const char *data;
    size_t len;
    cs_image_result res;
    cs_status st;
} img_job;

static void *work_image(void *item, void *ud)
{
    (void)ud;
    img_job *j = item;
    j->st = cs_image_process(j->data, j->len, NULL, NULL, &j->res);
    return j;
}

static void image_thread_exit(void *ud)
{
    (void)ud;
    cs_image_thread_cleanup();
}

TEST_T(pool_image_processing, 300)
{
    ASSERT_OK(cs_image_global_init());
    const char *files[] = {"images/img2dataset/resize_test_image/524_316.jpg",
                           "images/pillow/transparent.webp", "images/libvips/truncated.jpg",
                           "images/pillow/p_trns_single.png", "images/libvips/rotation/6.jpg"};
    char *data[5];
    size_t len[5];
    for (int i = 0; i < 5; i++)
        data[i] = cs_test_read_file(cs_test_corpus(files[i]), &len[i]);
    cs_pool_opts o;
    cs_pool_opts_init(&o);
    o.threads = 3;
    o.queue_cap = 4;
    o.out_cap = 4;
    o.work = work_image;
    o.thread_exit = image_thread_exit;
    cs_pool *p;
    ASSERT_OK(cs_pool_new(&o, &p));
    enum { N = 60 };
    img_job *jobs = calloc(N, sizeof *jobs);
    int next = 0, got = 0, ok = 0, bad = 0;
    /* one thread submits and takes, never waiting forever on either side */
    while (got < N) {
        if (next < N) {
            jobs[next].data = data[next % 5];
            jobs[next].len = len[next % 5];
            cs_status st = cs_pool_submit(p, &jobs[next], 0);
            if (st == CS_OK)
                next++;
            else
                ASSERT_ST(st, CS_ETIMEOUT);
        }
        void *r;
        cs_status st = cs_pool_get(p, &r, next < N ? 0 : 5);
        if (st == CS_ETIMEOUT)
            continue;
        ASSERT_OK(st);
        img_job *j = r;
        got++;
        if (j->st == CS_OK) {
            ok++;
            ASSERT_EQ(j->res.width, 256);
        } else {
            bad++;
            ASSERT_EQ(j->res.reason, CS_IMAGE_DECODE); /* truncated.jpg */
        }
        cs_image_result_cleanup(&j->res);
    }
    ASSERT_EQ(ok, N * 4 / 5);
    ASSERT_EQ(bad, N / 5);
    cs_pool_close(p);
    void *r;
    ASSERT_ST(cs_pool_get(p, &r, 5), CS_DONE);
    cs_pool_free(p);
    free(jobs);
    for (int i = 0; i < 5; i++)
        cs_free(data[i]);
}
