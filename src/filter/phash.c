/* phash.c - the DCT perceptual hash of images and a multi-index-hashing
 * index for near-duplicate search (crawlset/filter.h).
 *
 * Hand-written parts and why: libvips (used to decode and shrink) has no
 * DCT, and only the 8x8 lowest frequencies of a 32x32 DCT are needed, which
 * is 10,240 multiply-adds with a precomputed cosine table (FFTW would be a
 * new dependency for less). No Debian library provides multi-index hashing
 * over 64-bit codes; it is a few sorted arrays. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "crawlset/image.h"
#include "filter/filter_int.h"

/* ---- the hash ----------------------------------------------------------- */

static double COS[8][32]; /* cos((2x+1) u pi / 64) */
static pthread_once_t cos_once = PTHREAD_ONCE_INIT;

static void cos_init(void)
{
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 32; x++)
            COS[u][x] = cos((2 * x + 1) * u * M_PI / 64.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

uint64_t cs_phash_gray32(const uint8_t px[1024])
{

    pthread_once(&cos_once, cos_init);
    double rows[32][8]; /* DCT along each row, first 8 frequencies */
    for (int y = 0; y < 32; y++)
        for (int u = 0; u < 8; u++) {
            double s = 0;
            for (int x = 0; x < 32; x++)
                s += px[y * 32 + x] * COS[u][x];
            rows[y][u] = s;
        }
    double c[64], sorted[64];
    for (int v = 0; v < 8; v++)
        for (int u = 0; u < 8; u++) {
            double s = 0;
            for (int y = 0; y < 32; y++)
                s += rows[y][u] * COS[v][y];
            c[v * 8 + u] = s;
        }
    memcpy(sorted, c, sizeof c);
    qsort(sorted, 64, sizeof sorted[0], cmp_double);
    double median = (sorted[31] + sorted[32]) / 2;
    uint64_t h = 0;
    for (int i = 0; i < 64; i++)
        if (c[i] > median)
            h |= 1ull << i;
    return h;
}

cs_status cs_phash_image(const void *data, size_t len, uint64_t *out, char *err, size_t errlen)
{
    *out = 0;
    if (cs_image_global_init() != CS_OK) {
        snprintf(err, errlen, "libvips could not start");
        return CS_EIO;
    }
    cs_image_result probe;
    memset(&probe, 0, sizeof probe);
    cs_status st = cs_image_probe(data, len, &probe); /* refuses bombs and odd formats */
    if (st) {
        snprintf(err, errlen, "%s", probe.errmsg[0] ? probe.errmsg : cs_strerror(st));
        cs_image_result_cleanup(&probe);
        return CS_EFORMAT;
    }
    cs_image_result_cleanup(&probe);
    /* Full decode (no shrink-on-load: a JPEG decoded at 1/8 scale hashes a
     * little differently from the same picture re-encoded as PNG), upright,
     * 8-bit sRGB, alpha flattened onto white, grey, then 32x32 with libvips'
     * antialiased resize. */
    VipsImage *t[8] = {0};
    VipsImage *img = NULL;
    st = CS_EFORMAT;
    if (!(t[0] = vips_image_new_from_buffer(data, len, "", "fail_on", VIPS_FAIL_ON_ERROR, NULL)))
        goto done;
    if (vips_autorot(t[0], &t[1], NULL))
        goto done;
    img = t[1];
    if (vips_colourspace(img, &t[2], VIPS_INTERPRETATION_sRGB, NULL))
        goto done;
    img = t[2];
    if (vips_image_hasalpha(img)) {
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
        int r = vips_flatten(img, &t[3], "background", white, NULL);
        vips_area_unref(VIPS_AREA(white));
        if (r)
            goto done;
        img = t[3];
    }
    if (vips_colourspace(img, &t[4], VIPS_INTERPRETATION_B_W, NULL))
        goto done;
    img = t[4];
    if (img->Bands > 1) {
        if (vips_extract_band(img, &t[5], 0, NULL))
            goto done;
        img = t[5];
    }
    if (vips_thumbnail_image(img, &t[6], 32, "height", 32, "size", VIPS_SIZE_FORCE, NULL))
        goto done;
    img = t[6];
    if (vips_cast_uchar(img, &t[7], NULL))
        goto done;
    img = t[7];
    if (img->Xsize != 32 || img->Ysize != 32)
        goto done;
    size_t n = 0;
    uint8_t *px = vips_image_write_to_memory(img, &n);
    if (!px || n != 1024) {
        g_free(px);
        goto done;
    }
    *out = cs_phash_gray32(px);
    g_free(px);
    st = CS_OK;
done:
    if (st) {
        const char *e = vips_error_buffer();
        snprintf(err, errlen, "cannot decode: %.*s", (int)strcspn(e, "\n"), e);
        vips_error_clear();
    }
    for (int i = 0; i < 8; i++)
        if (t[i])
            g_object_unref(t[i]);
    return st;
}

/* ---- multi-index hashing ------------------------------------------------ */

/* One indexed hash in a chunk table: the whole hash is stored, so scanning
 * a bucket reads one array sequentially. */
typedef struct entry {
    uint64_t h;
    uint32_t id;
} entry;

#define DIRECT_BITS 20 /* chunks this narrow get a bucket-start table */

struct cs_phash_index {
    size_t n;
    int radius;
    int m;              /* chunks: radius + 1 */
    int shift[32];      /* chunk c = (h >> shift[c]) & mask[c] */
    uint64_t mask[32];
    entry *tab[32];     /* per chunk, sorted by (chunk value, id) */
    uint32_t *start[32];/* per chunk of <= DIRECT_BITS bits: first entry of
                           each chunk value (2^w + 1 entries), else NULL */
};

static inline uint64_t chunk_of(const cs_phash_index *x, int c, uint64_t h)
{
    return (h >> x->shift[c]) & x->mask[c];
}

void cs_phash_index_free(cs_phash_index *x)
{
    if (!x)
        return;
    for (int c = 0; c < x->m; c++) {
        cs_free(x->tab[c]);
        cs_free(x->start[c]);
    }
    cs_free(x);
}

typedef struct sort_ctx {
    int shift;
    uint64_t mask;
} sort_ctx;
static _Thread_local sort_ctx g_sort;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    uint64_t cx = (x->h >> g_sort.shift) & g_sort.mask, cy = (y->h >> g_sort.shift) & g_sort.mask;
    if (cx != cy)
        return cx < cy ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

cs_status cs_phash_index_new(cs_phash_index **out, const uint64_t *hashes, size_t n, int radius)
{
    *out = NULL;
    if (radius < 0 || radius > 31 || n >= UINT32_MAX)
        return CS_EINVAL;
    cs_phash_index *x = cs_calloc(1, sizeof *x);
    if (!x)
        return CS_ENOMEM;
    x->n = n;
    x->radius = radius;
    x->m = radius + 1;
    int pos = 0;
    for (int c = 0; c < x->m; c++) {
        int w = 64 / x->m + (c < 64 % x->m);
        x->shift[c] = pos;
        x->mask[c] = w == 64 ? ~0ull : ((1ull << w) - 1);
        pos += w;
        if (!(x->tab[c] = cs_malloc((n ? n : 1) * sizeof(entry))))
            goto oom;
        entry *t = x->tab[c];
        if (w <= DIRECT_BITS) {
            /* counting sort by chunk value (stable: ids stay in order) */
            size_t nb = (size_t)1 << w;
            uint32_t *st = cs_calloc(nb + 1, sizeof *st);
            if (!st)
                goto oom;
            x->start[c] = st;
            for (size_t i = 0; i < n; i++)
                st[chunk_of(x, c, hashes[i]) + 1]++;
            for (size_t b = 0; b < nb; b++)
                st[b + 1] += st[b];
            uint32_t *fill = cs_malloc(nb * sizeof *fill);
            if (!fill)
                goto oom;
            memcpy(fill, st, nb * sizeof *fill);
            for (size_t i = 0; i < n; i++)
                t[fill[chunk_of(x, c, hashes[i])]++] = (entry){hashes[i], (uint32_t)i};
            cs_free(fill);
        } else {
            for (size_t i = 0; i < n; i++)
                t[i] = (entry){hashes[i], (uint32_t)i};
            g_sort = (sort_ctx){x->shift[c], x->mask[c]};
            qsort(t, n, sizeof *t, cmp_entry);
        }
    }
    *out = x;
    return CS_OK;
oom:
    cs_phash_index_free(x);
    return CS_ENOMEM;
}

size_t cs_phash_index_query(const cs_phash_index *x, uint64_t q, cs_phash_hit_fn fn, void *ud)
{
    size_t work = 0;
    for (int c = 0; c < x->m; c++) {
        uint64_t v = chunk_of(x, c, q);
        const entry *t = x->tab[c];
        size_t lo, hi;
        if (x->start[c]) {
            lo = x->start[c][v];
            hi = x->start[c][v + 1];
        } else {
            lo = 0; /* first entry with chunk >= v */
            size_t h = x->n;
            while (lo < h) {
                size_t mid = lo + (h - lo) / 2;
                if (chunk_of(x, c, t[mid].h) < v)
                    lo = mid + 1;
                else
                    h = mid;
            }
            hi = lo;
            while (hi < x->n && chunk_of(x, c, t[hi].h) == v)
                hi++;
        }
        for (size_t i = lo; i < hi; i++) {
            uint64_t h = t[i].h;
            work++;
            int d = cs_phash_distance(h, q);
            if (d > x->radius)
                continue;
            /* found through an earlier chunk already? */
            bool earlier = false;
            for (int e = 0; e < c && !earlier; e++)
                earlier = chunk_of(x, e, h) == chunk_of(x, e, q);
            if (!earlier)
                fn(ud, t[i].id, d);
        }
    }
    return work;
}
