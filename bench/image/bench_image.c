/* bench_image.c - times cs_image_process() from memory, on one thread or on a
 * cs_pool, for bench/image.sh. All files are read into memory first; only
 * the processing is timed. With --stop the pipeline stops after decode or
 * after resize, so the script can tell where the time goes.
 *
 * Usage: bench_image [--threads N] [--pool 0|1] [--stop none|decode|resize]
 *                    [--jpeg-direct 0|1] [--jpeg-eighths 0|1]
 *                    [--jpeg-residual X] [--webp-residual X] [--kernel K]
 *                    [--mode M] [--size S] [--quality Q] [--out DIR] FILE...
 * --threads > 1 (or --pool 1) runs the images on a cs_pool of that many
 * workers, fed from this thread. --out DIR writes each output as DIR/NNNNN.jpg after the timed run (for
 * quality comparisons).
 * Prints one line: "crawlset threads=N images=N ok=N seconds=S cpu=S hash=S
 * header=S pixels=S encode=S fast_path=on|off direct=N": wall and CPU seconds
 * (all threads) of the processing alone; stage sums and the count of images
 * the libjpeg fast path took from the one-thread run only. */
#include <stdatomic.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "crawlset.h"
#include "image/image_int.h"

typedef struct blob {
    char *data;
    size_t len;
} blob;

typedef struct ctx {
    blob *b;
    const cs_image_opts *opts;
    const cs__image_tuning *tune;
    atomic_size_t ok;
} ctx;

static void *work(void *item, void *ud)
{
    ctx *c = ud;
    blob *b = item;
    cs_image_result r;
    if (cs__image_process_ex(b->data, b->len, c->opts, NULL, c->tune, NULL, &r) == CS_OK)
        atomic_fetch_add(&c->ok, 1);
    cs_image_result_cleanup(&r);
    return NULL;
}

static void thread_exit(void *ud)
{
    (void)ud;
    cs_image_thread_cleanup();
}

/* CPU seconds used by the whole process (all threads) so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc(n > 0 ? (size_t)n : 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

int main(int argc, char **argv)
{
    int threads = 1;
    const char *outdir = NULL;
    bool use_pool = false;
    cs_image_opts opts;
    cs_image_opts_init(&opts);
    cs__image_tuning tune;
    cs__image_tuning_init(&tune);
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_image: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--threads"))
            threads = atoi(v);
        else if (!strcmp(k, "--out"))
            outdir = v;
        else if (!strcmp(k, "--pool"))
            use_pool = atoi(v) != 0;
        else if (!strcmp(k, "--stop"))
            tune.stop = !strcmp(v, "decode")   ? CS__IMAGE_STOP_DECODE
                        : !strcmp(v, "resize") ? CS__IMAGE_STOP_RESIZE
                                               : CS__IMAGE_STOP_NONE;
        else if (!strcmp(k, "--jpeg-direct"))
            tune.jpeg_direct = atoi(v) != 0;
        else if (!strcmp(k, "--jpeg-eighths"))
            tune.jpeg_eighths = atoi(v) != 0;
        else if (!strcmp(k, "--jpeg-residual"))
            tune.jpeg_min_residual = atof(v);
        else if (!strcmp(k, "--webp-residual"))
            tune.webp_min_residual = atof(v);
        else if (!strcmp(k, "--kernel")) {
            int kv = vips_enum_from_nick("bench", VIPS_TYPE_KERNEL, v);
            if (kv < 0) {
                fprintf(stderr, "bench_image: unknown kernel %s\n", v);
                return 2;
            }
            tune.kernel = kv;
        } else if (!strcmp(k, "--mode")) {
            if (!cs_image_resize_parse(v, &opts.resize_mode)) {
                fprintf(stderr, "bench_image: unknown mode %s\n", v);
                return 2;
            }
        } else if (!strcmp(k, "--size"))
            opts.image_size = atoi(v);
        else if (!strcmp(k, "--quality"))
            opts.quality = atoi(v);
        else {
            fprintf(stderr, "bench_image: unknown option %s\n", k);
            return 2;
        }
    }
    size_t n = (size_t)(argc - i);
    blob *b = calloc(n ? n : 1, sizeof *b);
    for (size_t k = 0; k < n; k++)
        if (!(b[k].data = read_all(argv[i + (int)k], &b[k].len))) {
            fprintf(stderr, "bench_image: cannot read %s\n", argv[i + (int)k]);
            return 1;
        }
    if (cs_image_global_init() != CS_OK) {
        fprintf(stderr, "bench_image: libvips did not start\n");
        return 1;
    }
    /* warm up: first-use costs (libvips types, codec tables) are not timed */
    for (size_t k = 0; k < n && k < 3; k++) {
        cs_image_result r;
        (void)cs__image_process_ex(b[k].data, b[k].len, &opts, NULL, &tune, NULL, &r);
        cs_image_result_cleanup(&r);
    }

    cs__image_timings sum = {0};
    size_t ok = 0, direct = 0;
    double c0 = cpu_seconds();
    double t0 = cs_now();
    if (threads <= 1 && !use_pool) {
        for (size_t k = 0; k < n; k++) {
            cs_image_result r;
            cs__image_timings tm;
            if (cs__image_process_ex(b[k].data, b[k].len, &opts, NULL, &tune, &tm, &r) == CS_OK)
                ok++;
            cs_image_result_cleanup(&r);
            sum.hash += tm.hash;
            sum.header += tm.header;
            sum.pixels += tm.pixels;
            sum.encode += tm.encode;
            direct += tm.direct;
        }
    } else {
        ctx c = {.b = b, .opts = &opts, .tune = &tune};
        atomic_init(&c.ok, 0);
        cs_pool_opts po;
        cs_pool_opts_init(&po);
        po.threads = threads;
        po.work = work;
        po.thread_exit = thread_exit;
        po.ud = &c;
        cs_pool *p;
        if (cs_pool_new(&po, &p) != CS_OK) {
            fprintf(stderr, "bench_image: pool did not start\n");
            return 1;
        }
        for (size_t k = 0; k < n; k++)
            if (cs_pool_submit(p, &b[k], -1) != CS_OK) {
                fprintf(stderr, "bench_image: submit failed\n");
                return 1;
            }
        (void)cs_pool_wait_idle(p);
        cs_pool_free(p);
        ok = atomic_load(&c.ok);
    }
    double secs = cs_now() - t0;
    double cpu = cpu_seconds() - c0;
    for (size_t k = 0; outdir && k < n; k++) {
        cs_image_result r;
        if (cs__image_process_ex(b[k].data, b[k].len, &opts, NULL, &tune, NULL, &r) == CS_OK) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%05zu.%s", outdir, k, cs_image_format_ext(opts.format));
            FILE *f = fopen(path, "wb");
            if (f) {
                fwrite(r.data, 1, r.len, f);
                fclose(f);
            }
        }
        cs_image_result_cleanup(&r);
    }
    printf("crawlset threads=%d images=%zu ok=%zu seconds=%.4f cpu=%.4f hash=%.4f header=%.4f "
           "pixels=%.4f encode=%.4f fast_path=%s direct=%zu\n",
           threads, n, ok, secs, cpu, sum.hash, sum.header, sum.pixels, sum.encode,
           cs__jpeg_direct_available() && tune.jpeg_direct ? "on" : "off", direct);
    for (size_t k = 0; k < n; k++)
        free(b[k].data);
    free(b);
    cs_image_thread_cleanup();
    return ok == n ? 0 : 1;
}
