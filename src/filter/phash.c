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

typedef struct entry {
    uint64_t chunk; /* the chunk's value */
    uint32_t id;
} entry;

struct cs_phash_index {
    uint64_t *h;        /* the hashes */
    size_t n;
    int radius;
    int m;              /* chunks: radius + 1 */
    int shift[32];      /* chunk c = (h >> shift[c]) & mask[c] */
    uint64_t mask[32];
    entry *tab[32];     /* per chunk, sorted by (chunk, id) */
};

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->chunk != y->chunk)
        return x->chunk < y->chunk ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

void cs_phash_index_free(cs_phash_index *x)
{
    if (!x)
        return;
    for (int c = 0; c < x->m; c++)
        cs_free(x->tab[c]);
    cs_free(x->h);
    cs_free(x);
}

/* Radix sort by chunk value (up to 22 bits: two passes of 11), else qsort. */
static cs_status sort_entries(entry *e, size_t n, int bits)
{
    if (bits > 22 || n < 1024) {
        qsort(e, n, sizeof *e, cmp_entry);
        return CS_OK;
    }
    entry *tmp = cs_malloc(n * sizeof *tmp);
    if (!tmp)
        return CS_ENOMEM;
    size_t *cnt = cs_malloc(((size_t)1 << 11) * sizeof *cnt);
    if (!cnt) {
        cs_free(tmp);
        return CS_ENOMEM;
    }
    entry *src = e, *dst = tmp;
    for (int pass = 0; pass < 2; pass++) {
        int sh = pass * 11;
        memset(cnt, 0, ((size_t)1 << 11) * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(src[i].chunk >> sh) & 2047]++;
        size_t sum = 0;
        for (size_t b = 0; b < 2048; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) /* stable: ids stay in order */
            dst[cnt[(src[i].chunk >> sh) & 2047]++] = src[i];
        entry *s = src;
        src = dst;
        dst = s;
    }
    /* two passes: the result is back in e */
    cs_free(cnt);
    cs_free(tmp);
    return CS_OK;
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
    if (!(x->h = cs_malloc((n ? n : 1) * sizeof *x->h)))
        goto oom;
    if (n)
        memcpy(x->h, hashes, n * sizeof *x->h);
    int pos = 0;
    for (int c = 0; c < x->m; c++) {
        int w = 64 / x->m + (c < 64 % x->m);
        x->shift[c] = pos;
        x->mask[c] = w == 64 ? ~0ull : ((1ull << w) - 1);
        pos += w;
        if (!(x->tab[c] = cs_malloc((n ? n : 1) * sizeof(entry))))
            goto oom;
        for (size_t i = 0; i < n; i++)
            x->tab[c][i] = (entry){(hashes[i] >> x->shift[c]) & x->mask[c], (uint32_t)i};
        if (sort_entries(x->tab[c], n, w))
            goto oom;
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
        uint64_t v = (q >> x->shift[c]) & x->mask[c];
        const entry *t = x->tab[c];
        size_t lo = 0, hi = x->n; /* first entry with chunk >= v */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t[mid].chunk < v)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < x->n && t[i].chunk == v; i++) {
            uint64_t h = x->h[t[i].id];
            /* found through an earlier chunk already? */
            bool earlier = false;
            for (int e = 0; e < c && !earlier; e++)
                earlier = ((h >> x->shift[e]) & x->mask[e]) == ((q >> x->shift[e]) & x->mask[e]);
            if (earlier)
                continue;
            work++;
            int d = cs_phash_distance(h, q);
            if (d <= x->radius)
                fn(ud, t[i].id, d);
        }
    }
    return work;
}
