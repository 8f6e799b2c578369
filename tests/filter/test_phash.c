/* test_phash.c - DCT pHash and the near-duplicate index: transformed copies
 * of the corpus images (resized, JPEG q50, 2% cropped, brightness-shifted)
 * are found within radius 4, different images are not, and the multi-index
 * search finds exactly what an all-pairs comparison finds. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include <vips/vips.h>

#include "../test.h"

typedef struct img {
    char path[512];
    uint8_t *data;
    size_t len;
    uint64_t h;
    int w, hgt;
} img;

/* Every decodable image under images/ of the corpus. */
static size_t load_corpus(img *out, size_t max)
{
    static const char *const dirs[] = {"images/img2dataset/resize_test_image", "images/libvips",
                                       "images/libvips/rotation", "images/libwebp",
                                       "images/pillow", "images/pngsuite"};
    size_t n = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        const char *dir = cs_test_corpus(dirs[d]);
        DIR *dh = opendir(dir);
        ASSERT(dh);
        struct dirent *e;
        char names[64][256];
        size_t nn = 0;
        while ((e = readdir(dh)) && nn < 64)
            if (e->d_name[0] != '.')
                snprintf(names[nn++], 256, "%s", e->d_name);
        closedir(dh);
        qsort(names, nn, 256, (int (*)(const void *, const void *))strcmp);
        for (size_t i = 0; i < nn && n < max; i++) {
            img *m = &out[n];
            snprintf(m->path, sizeof m->path, "%s/%s", dir, names[i]);
            struct stat sb;
            if (stat(m->path, &sb) || !S_ISREG(sb.st_mode) || strstr(names[i], "LICENSE"))
                continue;
            m->data = (uint8_t *)cs_test_read_file(m->path, &m->len);
            char err[256];
            if (cs_phash_image(m->data, m->len, &m->h, err, sizeof err) != CS_OK) {
                cs_free(m->data);
                continue;
            }
            cs_image_result r;
            ASSERT_OK(cs_image_probe(m->data, m->len, &r));
            m->w = r.original_width;
            m->hgt = r.original_height;
            cs_image_result_cleanup(&r);
            n++;
        }
    }
    return n;
}

enum { T_RESIZE, T_JPEG50, T_CROP2, T_BRIGHT, T__N };
static const char *const TNAMES[T__N] = {"resized 50%", "JPEG q50", "cropped 2%", "brightness +25"};

/* A transformed copy of the (upright, flattened) image, encoded. */
static uint8_t *transform(const img *m, int t, size_t *len)
{
    VipsImage *a = vips_image_new_from_buffer(m->data, m->len, "", NULL);
    ASSERT(a);
    VipsImage *b = NULL, *c = NULL, *d = NULL;
    VipsImage *a2 = NULL;
    ASSERT(vips_colourspace(a, &a2, VIPS_INTERPRETATION_sRGB, NULL) == 0);
    g_object_unref(a);
    a = a2;
    ASSERT(vips_autorot(a, &b, NULL) == 0);
    if (vips_image_hasalpha(b)) {
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
        ASSERT(vips_flatten(b, &c, "background", white, NULL) == 0);
        vips_area_unref(VIPS_AREA(white));
    } else {
        c = b;
        g_object_ref(c);
    }
    VipsImage *e = NULL;
    ASSERT(vips_cast_uchar(c, &e, NULL) == 0);
    void *buf = NULL;
    switch (t) {
    case T_RESIZE:
        ASSERT(vips_resize(e, &d, 0.5, NULL) == 0);
        ASSERT(vips_pngsave_buffer(d, &buf, len, NULL) == 0);
        break;
    case T_JPEG50:
        ASSERT(vips_jpegsave_buffer(e, &buf, len, "Q", 50, NULL) == 0);
        break;
    case T_CROP2: {
        int dx = e->Xsize / 100, dy = e->Ysize / 100; /* 1% off each side */
        ASSERT(vips_crop(e, &d, dx, dy, e->Xsize - 2 * dx, e->Ysize - 2 * dy, NULL) == 0);
        ASSERT(vips_pngsave_buffer(d, &buf, len, NULL) == 0);
        break;
    }
    case T_BRIGHT: {
        VipsImage *f = NULL;
        ASSERT(vips_linear1(e, &f, 1.0, 25.0, NULL) == 0);
        ASSERT(vips_cast_uchar(f, &d, NULL) == 0);
        g_object_unref(f);
        ASSERT(vips_pngsave_buffer(d, &buf, len, NULL) == 0);
        break;
    }
    }
    g_object_unref(a);
    g_object_unref(b);
    g_object_unref(c);
    g_object_unref(e);
    if (d)
        g_object_unref(d);
    uint8_t *copy = cs_malloc(*len);
    memcpy(copy, buf, *len);
    g_free(buf);
    return copy;
}

/* The pictures of the corpus that are one picture in several files (the
 * hopper family: same photo, other encodings/orientation); they are left out
 * of the "different images" count. */
static bool same_family(const img *a, const img *b)
{
    return strstr(a->path, "hopper") && strstr(b->path, "hopper");
}

TEST_T(phash_corpus_transforms_found_different_not, 120)
{
    ASSERT_OK(cs_image_global_init());
    static img ims[64];
    size_t n = load_corpus(ims, 64);
    ASSERT(n >= 15);
    int worst[T__N] = {0};
    size_t tested = 0, found[T__N] = {0};
    for (size_t i = 0; i < n; i++) {
        if (ims[i].w < 64 || ims[i].hgt < 64)
            continue; /* icons: a 50% copy of a 32x32 is not the same picture */
        tested++;
        for (int t = 0; t < T__N; t++) {
            size_t len;
            uint8_t *v = transform(&ims[i], t, &len);
            uint64_t h;
            char err[256];
            ASSERT_OK(cs_phash_image(v, len, &h, err, sizeof err));
            int d = cs_phash_distance(h, ims[i].h);
            printf("%-60s %-15s distance %d\n", ims[i].path + strlen(cs_test_corpus("")), TNAMES[t], d);
            if (d > worst[t])
                worst[t] = d;
            found[t] += d <= CS_PHASH_DEFAULT_RADIUS;
            cs_free(v);
        }
    }
    ASSERT(tested >= 12);
    /* different images: pairs within the radius */
    size_t pairs = 0, matches = 0;
    int closest = 64;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (same_family(&ims[i], &ims[j]))
                continue;
            pairs++;
            int d = cs_phash_distance(ims[i].h, ims[j].h);
            if (d < closest)
                closest = d;
            if (d <= CS_PHASH_DEFAULT_RADIUS) {
                matches++;
                printf("false match: %s ~ %s (distance %d)\n", ims[i].path, ims[j].path, d);
            }
        }
    printf("%zu images (%zu transformed); found at radius %d: resize %zu, jpeg50 %zu, "
           "crop2 %zu, bright %zu; worst distances %d %d %d %d; different images: false "
           "matches %zu of %zu pairs (%.2f%%), closest pair at distance %d\n",
           n, tested, CS_PHASH_DEFAULT_RADIUS, found[0], found[1], found[2], found[3], worst[0],
           worst[1], worst[2], worst[3], matches, pairs, 100.0 * (double)matches / (double)pairs,
           closest);
    fflush(stdout);
    /* Resized and re-encoded copies: all found. A 2% crop and a brightness
     * shift (with clipping) move a few DCT coefficients across the median on
     * some pictures (pHash's known weakness): at least 90% are found at the
     * default radius, all within twice it. */
    ASSERT_UEQ(found[T_RESIZE], tested);
    ASSERT_UEQ(found[T_JPEG50], tested);
    ASSERT(found[T_CROP2] * 10 >= tested * 9);
    ASSERT(found[T_BRIGHT] * 10 >= tested * 9);
    for (int t = 0; t < T__N; t++)
        ASSERT(worst[t] <= 2 * CS_PHASH_DEFAULT_RADIUS);
    ASSERT(matches * 100 <= pairs); /* at most 1% false matches */
    ASSERT(closest > 2 * CS_PHASH_DEFAULT_RADIUS);
    for (size_t i = 0; i < n; i++)
        cs_free(ims[i].data);
}

TEST(phash_gray32_properties)
{
    uint8_t a[1024], b[1024];
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            a[y * 32 + x] = (uint8_t)(120 + 50 * sin(x * 0.31 + y * 0.17) + 40 * cos(x * y * 0.05));
    uint64_t h = cs_phash_gray32(a);
    ASSERT_EQ(__builtin_popcountll(h), 32); /* median split */
    ASSERT(h & 1);                          /* the DC term is above the median */
    /* a uniform brightness shift (no clipping) changes only the DC term */
    for (int i = 0; i < 1024; i++)
        b[i] = (uint8_t)(a[i] + 10);
    ASSERT_EQ(cs_phash_distance(cs_phash_gray32(b), h), 0);
    /* the mirror image is another picture */
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            b[y * 32 + x] = a[y * 32 + 31 - x];
    ASSERT(cs_phash_distance(cs_phash_gray32(b), h) > 8);
    uint64_t out;
    char err[256];
    ASSERT_ST(cs_phash_image("not an image", 12, &out, err, sizeof err), CS_EFORMAT);
    ASSERT(err[0]);
}

typedef struct hits {
    uint32_t ids[4096];
    int d[4096];
    size_t n;
} hits;

static void on_hit(void *ud, uint32_t id, int d)
{
    hits *h = ud;
    if (h->n < 4096) {
        h->ids[h->n] = id;
        h->d[h->n++] = d;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The index finds exactly the hashes an all-pairs scan finds, each once,
 * for several radii, with planted near duplicates. */
TEST_T(phash_index_matches_all_pairs, 60)
{
    enum { N = 6000 };
    static uint64_t hs[N];
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < N; i++) {
        if (i % 5 == 4) { /* a near copy of an earlier one: flip 0-8 bits */
            uint64_t h = hs[rng(&s) % i];
            int flips = (int)(rng(&s) % 9);
            for (int f = 0; f < flips; f++)
                h ^= 1ull << (rng(&s) % 64);
            hs[i] = h;
        } else {
            hs[i] = rng(&s);
        }
    }
    static const int radii[] = {0, 1, 4, 7, 10};
    for (size_t r = 0; r < sizeof radii / sizeof radii[0]; r++) {
        cs_phash_index *x;
        ASSERT_OK(cs_phash_index_new(&x, hs, N, radii[r]));
        size_t work = 0, total = 0;
        for (size_t q = 0; q < N; q += 7) {
            static hits h;
            h.n = 0;
            work += cs_phash_index_query(x, hs[q], on_hit, &h);
            uint32_t want[4096];
            size_t nw = 0;
            for (size_t j = 0; j < N; j++)
                if (cs_phash_distance(hs[j], hs[q]) <= radii[r])
                    want[nw++] = (uint32_t)j;
            for (size_t k = 0; k < h.n; k++)
                ASSERT_EQ(h.d[k], cs_phash_distance(hs[h.ids[k]], hs[q]));
            qsort(h.ids, h.n, sizeof h.ids[0], cmp_u32);
            if (h.n != nw || memcmp(h.ids, want, nw * sizeof want[0]))
                FAIL("radius %d, query %zu: %zu hits, all-pairs %zu", radii[r], q, h.n, nw);
            total += N;
        }
        if (radii[r] == 4)
            ASSERT(work * 20 < total); /* far fewer comparisons than all pairs */
        cs_phash_index_free(x);
    }
    cs_phash_index *x;
    ASSERT_ST(cs_phash_index_new(&x, hs, N, 32), CS_EINVAL);
    ASSERT_ST(cs_phash_index_new(&x, hs, N, -1), CS_EINVAL);
    ASSERT_OK(cs_phash_index_new(&x, NULL, 0, 4));
    hits h = {.n = 0};
    ASSERT_UEQ(cs_phash_index_query(x, 42, on_hit, &h), 0);
    cs_phash_index_free(x);
}
