/* test_image.c - cs_image_process(): every corpus image ends with an image or
 * a reason; img2dataset's sizes, filters and expectations; EXIF orientation;
 * pixel bombs; truncation; non-images; sha256; encoders; the libjpeg fast
 * path against the libvips path; many threads at once. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>

#include <vips/vips.h>

#include "image/image_int.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------------- */

static void init(void)
{
    ASSERT_OK(cs_image_global_init());
}

/* Loads encoded bytes with libvips (random access: whole image in memory). */
static VipsImage *load(const void *data, size_t len)
{
    VipsImage *im = vips_image_new_from_buffer(data, len, "", NULL);
    if (!im)
        FAIL("libvips cannot read the output: %s", vips_error_buffer());
    VipsImage *m = vips_image_copy_memory(im);
    g_object_unref(im);
    ASSERT(m);
    return m;
}

/* A w x h sRGB test image: gradients plus a bright 1/4 x 1/4 block at the
 * top-left corner (to tell orientations apart). */
static VipsImage *pattern(int w, int h)
{
    uint8_t *px = g_malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            bool corner = x < w / 4 && y < h / 4;
            p[0] = corner ? 250 : (uint8_t)(40 + (x * 100) / w);
            p[1] = corner ? 250 : (uint8_t)(40 + (y * 100) / h);
            p[2] = corner ? 250 : 60;
        }
    VipsImage *im = vips_image_new_from_memory_copy(px, (size_t)w * h * 3, w, h, 3,
                                                    VIPS_FORMAT_UCHAR);
    g_free(px);
    ASSERT(im);
    im->Type = VIPS_INTERPRETATION_sRGB;
    return im;
}

/* Encodes a pattern as JPEG (q90), PNG or WebP; orientation 0 = no EXIF
 * orientation tag. Returns cs_malloc'd bytes kept until the test ends. */
static uint8_t *make_image(const char *fmt, int w, int h, int orientation, size_t *len)
{
    VipsImage *im = pattern(w, h);
    void *buf = NULL;
    int rc;
    if (orientation)
        vips_image_set_int(im, VIPS_META_ORIENTATION, orientation);
    if (!strcmp(fmt, "png"))
        rc = vips_pngsave_buffer(im, &buf, len, NULL);
    else if (!strcmp(fmt, "webp"))
        rc = vips_webpsave_buffer(im, &buf, len, "Q", 90, NULL);
    else
        rc = vips_jpegsave_buffer(im, &buf, len, "Q", 90, NULL);
    g_object_unref(im);
    if (rc)
        FAIL("cannot make a test image: %s", vips_error_buffer());
    uint8_t *out = cs_test_keep(malloc(*len));
    memcpy(out, buf, *len);
    g_free(buf);
    return out;
}

static cs__image_tuning vips_only(void)
{
    cs__image_tuning t;
    cs__image_tuning_init(&t);
    t.jpeg_direct = false;
    return t;
}

/* Processes and checks the output decodes to the reported size. */
static void process_ok(const void *d, size_t n, const cs_image_opts *o,
                       const cs__image_tuning *t, cs_image_result *r)
{
    cs_status st = cs__image_process_ex(d, n, o, NULL, t, NULL, r);
    if (st != CS_OK)
        FAIL("process: %s (%s: %s)", cs_status_name(st), cs_image_reason_name(r->reason),
             r->errmsg);
    ASSERT_EQ(r->reason, CS_IMAGE_OK);
    ASSERT(r->data && r->len > 0);
    VipsImage *im = load(r->data, r->len);
    ASSERT_EQ(im->Xsize, r->width);
    ASSERT_EQ(im->Ysize, r->height);
    g_object_unref(im);
}

static double psnr(VipsImage *a, VipsImage *b)
{
    ASSERT_EQ(a->Xsize, b->Xsize);
    ASSERT_EQ(a->Ysize, b->Ysize);
    ASSERT_EQ(a->Bands, b->Bands);
    size_t n = VIPS_IMAGE_SIZEOF_IMAGE(a);
    const uint8_t *pa = VIPS_IMAGE_ADDR(a, 0, 0), *pb = VIPS_IMAGE_ADDR(b, 0, 0);
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += (double)(pa[i] - pb[i]) * (pa[i] - pb[i]);
    double mse = se / (double)n;
    return mse == 0 ? 99 : 10 * log10(255.0 * 255.0 / mse);
}

/* Mean of the 8x8 block at (x, y) of an 8-bit image, first band. */
static double block_mean(VipsImage *im, int x, int y)
{
    double s = 0;
    for (int dy = 0; dy < 8; dy++)
        for (int dx = 0; dx < 8; dx++)
            s += *VIPS_IMAGE_ADDR(im, x + dx, y + dy);
    return s / 64;
}

/* ---- the corpus --------------------------------------------------------------------- */

typedef struct expect {
    const char *path;  /* under ../shared/corpus/images/ */
    cs_image_reason reason;
    int w, h;          /* upright original size; 0 = not checked */
} expect;

/* Every image file in the corpus, with the outcome we stand by. Sizes are
 * from the file names (img2dataset) or PROVENANCE.md. A new corpus file
 * fails the test until it is added here. */
static const expect k_corpus[] = {
    {"img2dataset/resize_test_image/123_456.jpg", CS_IMAGE_OK, 123, 456},
    {"img2dataset/resize_test_image/208_495.jpg", CS_IMAGE_OK, 208, 495},
    {"img2dataset/resize_test_image/321_421.jpg", CS_IMAGE_OK, 321, 421},
    {"img2dataset/resize_test_image/389_535.jpg", CS_IMAGE_OK, 389, 535},
    {"img2dataset/resize_test_image/416_264.jpg", CS_IMAGE_OK, 416, 264},
    {"img2dataset/resize_test_image/456_123.jpg", CS_IMAGE_OK, 456, 123},
    {"img2dataset/resize_test_image/524_316.jpg", CS_IMAGE_OK, 524, 316},
    {"libvips/big-height.webp", CS_IMAGE_OK, 13, 169},        /* first frame only */
    {"libvips/cogs.gif", CS_IMAGE_OK, 85, 77},
    {"libvips/invalid_multiframe.gif", CS_IMAGE_OK, 10, 9},
    {"libvips/rotation/6.jpg", CS_IMAGE_OK, 231, 308},        /* 308x231 stored, EXIF 6 */
    {"libvips/sample.png", CS_IMAGE_OK, 290, 442},            /* 16-bit RGB */
    {"libvips/truncated.gif", CS_IMAGE_DECODE, 0, 0},
    {"libvips/truncated.jpg", CS_IMAGE_DECODE, 290, 442},
    {"libwebp/bad_palette_index.webp", CS_IMAGE_OK, 128, 128},
    {"libwebp/lossless1.webp", CS_IMAGE_OK, 1000, 307},
    {"libwebp/very_short.webp", CS_IMAGE_OK, 63, 66},         /* libwebp decodes what is there */
    {"pillow/broken.png", CS_IMAGE_DECODE, 0, 0},
    {"pillow/decompression_bomb.gif", CS_IMAGE_DECODE, 0, 0},
    {"pillow/hopper_16bit_qtables.jpg", CS_IMAGE_OK, 128, 128},
    {"pillow/hopper_gray.jpg", CS_IMAGE_OK, 128, 128},
    {"pillow/hopper_orientation_6.jpg", CS_IMAGE_OK, 128, 128},
    {"pillow/hopper_orientation_6.webp", CS_IMAGE_OK, 128, 128},
    {"pillow/i_trns.png", CS_IMAGE_OK, 64, 64},
    {"pillow/icc_profile_big.jpg", CS_IMAGE_OK, 425, 250},
    {"pillow/invalid-exif.jpg", CS_IMAGE_OK, 200, 200},
    {"pillow/iss634.webp", CS_IMAGE_OK, 245, 245},
    {"pillow/junk_jpeg_header.jpg", CS_IMAGE_OK, 1024, 768},
    {"pillow/p_trns_single.png", CS_IMAGE_OK, 64, 64},
    {"pillow/pil123p.png", CS_IMAGE_OK, 162, 150},
    {"pillow/pil_sample_cmyk.jpg", CS_IMAGE_OK, 100, 100},
    {"pillow/png_decompression_dos.png", CS_IMAGE_OK, 1, 1},
    {"pillow/transparent.webp", CS_IMAGE_OK, 200, 150},
    {"pillow/truncated_image.png", CS_IMAGE_DECODE, 640, 480},
    {"pillow/truncated_jpeg.jpg", CS_IMAGE_DECODE, 100, 100},
    {"pillow/ultrahdr.jpg", CS_IMAGE_DECODE, 1512, 2688},     /* cut after the first SOS */
    {"pillow/zero_width.gif", CS_IMAGE_DECODE, 0, 0},
    {"pngsuite/basi6a16.png", CS_IMAGE_OK, 32, 32},
    {"pngsuite/xcrn0g04.png", CS_IMAGE_DECODE, 0, 0},         /* mangled signature */
    {"pngsuite/xhdn0g08.png", CS_IMAGE_DECODE, 0, 0},         /* bad IHDR CRC */
};
#define N_CORPUS (sizeof k_corpus / sizeof *k_corpus)

static const expect *find_expect(const char *rel)
{
    for (size_t i = 0; i < N_CORPUS; i++)
        if (!strcmp(k_corpus[i].path, rel))
            return &k_corpus[i];
    return NULL;
}

/* Calls fn on every file under images/ (recursively) except the licence. */
static void walk(const char *rel, void (*fn)(const char *rel, const char *path, void *ud),
                 void *ud)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "images%s%s", rel[0] ? "/" : "", rel);
    const char *abs = cs_test_corpus(dir);
    char absdir[1024];
    snprintf(absdir, sizeof absdir, "%s", abs);
    DIR *dp = opendir(absdir);
    if (!dp)
        FAIL("cannot open %s", absdir);
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, "LICENSE"))
            continue;
        char path[2048], sub[1024];
        snprintf(path, sizeof path, "%s/%s", absdir, e->d_name);
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            walk(sub, fn, ud);
        else
            fn(sub, path, ud);
    }
    closedir(dp);
}

typedef struct corpus_run {
    const cs__image_tuning *tune;
    size_t seen;
} corpus_run;

static void check_corpus_file(const char *rel, const char *path, void *ud)
{
    corpus_run *cr = ud;
    const expect *ex = find_expect(rel);
    if (!ex)
        FAIL("corpus file images/%s has no expectation in test_image.c", rel);
    cr->seen++;
    size_t n;
    char *data = cs_test_read_file(path, &n);
    cs_image_result r;
    double t0 = cs_now();
    cs_status st = cs__image_process_ex(data, n, NULL, NULL, cr->tune, NULL, &r);
    double el = cs_now() - t0;
    printf("%-45s %-8s %-10s %dx%d -> %dx%d %.1f ms  %s\n", rel, cs_status_name(st),
           cs_image_reason_name(r.reason), r.original_width, r.original_height, r.width,
           r.height, el * 1000, r.errmsg);
    if (r.reason != ex->reason)
        FAIL("%s: reason %s, want %s (%s)", rel, cs_image_reason_name(r.reason),
             cs_image_reason_name(ex->reason), r.errmsg);
    ASSERT_EQ(st == CS_OK, r.reason == CS_IMAGE_OK);
    ASSERT_EQ(strlen(r.sha256), 64);
    if (ex->w) {
        ASSERT_EQ(r.original_width, ex->w);
        ASSERT_EQ(r.original_height, ex->h);
    }
    if (r.reason == CS_IMAGE_OK) {
        ASSERT_STR_EQ(r.errmsg, "");
        ASSERT_EQ(r.width, 256); /* border, the default */
        ASSERT_EQ(r.height, 256);
        VipsImage *im = load(r.data, r.len);
        ASSERT_EQ(im->Xsize, 256);
        ASSERT(im->Bands == 1 || im->Bands == 3);
        ASSERT_EQ(im->BandFmt, VIPS_FORMAT_UCHAR);
        g_object_unref(im);
    } else {
        ASSERT(r.errmsg[0]); /* always says why */
        ASSERT(r.data == NULL && r.len == 0);
    }
    ASSERT(el < 5); /* nothing in the corpus is slow */
    cs_image_result_cleanup(&r);
    cs_free(data);
}

TEST(image_corpus_every_file_has_an_outcome)
{
    init();
    cs__image_tuning t;
    cs__image_tuning_init(&t);
    corpus_run cr = {.tune = &t};
    walk("", check_corpus_file, &cr);
    ASSERT_EQ(cr.seen, N_CORPUS);
}

TEST(image_corpus_same_outcomes_through_libvips_only)
{
    init();
    cs__image_tuning t = vips_only();
    corpus_run cr = {.tune = &t};
    walk("", check_corpus_file, &cr);
    ASSERT_EQ(cr.seen, N_CORPUS);
}

/* ---- img2dataset's semantics --------------------------------------------------------- */

static const char *const k_resize_files[] = {"123_456", "208_495", "321_421", "389_535",
                                             "416_264", "456_123", "524_316"};

static char *resize_file(int i, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof rel, "images/img2dataset/resize_test_image/%s.jpg", k_resize_files[i]);
    return cs_test_read_file(cs_test_corpus(rel), n);
}

/* PROVENANCE.md: "filter test over the 7 files: min_image_size=200,
 * max_aspect_ratio=1.5 -> 2 ok, 2 'image too small', 3 'aspect ratio too
 * large'; max_image_area=60000 -> 2 ok, 5 'image area too large'". */
TEST(image_img2dataset_filters)
{
    init();
    int counts[CS_IMAGE__REASON_COUNT] = {0};
    cs_image_opts o;
    cs_image_opts_init(&o);
    o.min_image_size = 200;
    o.max_aspect_ratio = 1.5;
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *d = resize_file(i, &n);
        cs_image_result r;
        cs_status st = cs_image_process(d, n, &o, NULL, &r);
        ASSERT_EQ(st == CS_OK, r.reason == CS_IMAGE_OK);
        counts[r.reason]++;
        cs_image_result_cleanup(&r);
        cs_free(d);
    }
    ASSERT_EQ(counts[CS_IMAGE_OK], 2);
    ASSERT_EQ(counts[CS_IMAGE_TOO_SMALL], 2);
    ASSERT_EQ(counts[CS_IMAGE_BAD_ASPECT_RATIO], 3);

    memset(counts, 0, sizeof counts);
    cs_image_opts_init(&o);
    o.max_pixels = 60000;
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *d = resize_file(i, &n);
        cs_image_result r;
        cs_status st = cs_image_process(d, n, &o, NULL, &r);
        counts[r.reason]++;
        if (r.reason == CS_IMAGE_TOO_MANY_PIXELS)
            ASSERT_ST(st, CS_ETOOBIG);
        cs_image_result_cleanup(&r);
        cs_free(d);
    }
    ASSERT_EQ(counts[CS_IMAGE_OK], 2);
    ASSERT_EQ(counts[CS_IMAGE_TOO_MANY_PIXELS], 5);
}

/* img2dataset's tests/test_resizer.py over the same files: sizes 256 and
 * 512, every mode, with and without resize_only_if_bigger; the sizes are the
 * ones its check_one_image_size() accepts (keep_ratio: round(x * ratio)). */
TEST(image_img2dataset_resizer_cases)
{
    init();
    static const cs_image_resize modes[] = {CS_IMAGE_RESIZE_BORDER, CS_IMAGE_RESIZE_KEEP_RATIO,
                                            CS_IMAGE_RESIZE_CENTER_CROP, CS_IMAGE_RESIZE_NO,
                                            CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST};
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *d = resize_file(i, &n);
        int W, H;
        ASSERT(sscanf(k_resize_files[i], "%d_%d", &W, &H) == 2);
        for (int size = 256; size <= 512; size += 256)
            for (unsigned m = 0; m < sizeof modes / sizeof *modes; m++)
                for (int bigger = 0; bigger < 2; bigger++) {
                    cs_image_opts o;
                    cs_image_opts_init(&o);
                    o.image_size = size;
                    o.resize_mode = modes[m];
                    o.resize_only_if_bigger = bigger;
                    cs_image_result r;
                    process_ok(d, n, &o, NULL, &r);
                    ASSERT_EQ(r.original_width, W);
                    ASSERT_EQ(r.original_height, H);
                    int ew = W, eh = H;
                    int mn = W < H ? W : H, mx = W < H ? H : W;
                    bool resized = true;
                    if (bigger && ((modes[m] == CS_IMAGE_RESIZE_BORDER && mx <= size) ||
                                   (modes[m] == CS_IMAGE_RESIZE_KEEP_RATIO && mn <= size) ||
                                   (modes[m] == CS_IMAGE_RESIZE_CENTER_CROP && mn <= size) ||
                                   (modes[m] == CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST &&
                                    mx <= size)))
                        resized = false;
                    if (resized) {
                        if (modes[m] == CS_IMAGE_RESIZE_BORDER ||
                            modes[m] == CS_IMAGE_RESIZE_CENTER_CROP) {
                            ew = eh = size;
                        } else if (modes[m] == CS_IMAGE_RESIZE_KEEP_RATIO) {
                            double ratio = (double)size / mn;
                            ew = (int)rint(W * ratio);
                            eh = (int)rint(H * ratio);
                        } else if (modes[m] == CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST) {
                            double ratio = (double)size / mx;
                            ew = (int)rint(W * ratio);
                            eh = (int)rint(H * ratio);
                        }
                    }
                    if (r.width != ew || r.height != eh)
                        FAIL("%s size %d mode %s bigger %d: %dx%d, want %dx%d",
                             k_resize_files[i], size, cs_image_resize_name(modes[m]), bigger,
                             r.width, r.height, ew, eh);
                    cs_image_result_cleanup(&r);
                }
        cs_free(d);
    }
}

TEST(image_target_sizes_hand_computed)
{
    cs_image_opts o;
    cs_image_opts_init(&o);
    struct {
        cs_image_resize mode;
        bool bigger;
        int w, h;
        int rw, rh, fw, fh;
    } cases[] = {
        /* 640x480 at 256 */
        {CS_IMAGE_RESIZE_NO, false, 640, 480, 640, 480, 640, 480},
        {CS_IMAGE_RESIZE_BORDER, false, 640, 480, 256, 192, 256, 256},
        {CS_IMAGE_RESIZE_KEEP_RATIO, false, 640, 480, 341, 256, 341, 256},
        {CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST, false, 640, 480, 256, 192, 256, 192},
        {CS_IMAGE_RESIZE_CENTER_CROP, false, 640, 480, 341, 256, 256, 256},
        /* portrait */
        {CS_IMAGE_RESIZE_KEEP_RATIO, false, 480, 640, 256, 341, 256, 341},
        {CS_IMAGE_RESIZE_CENTER_CROP, false, 480, 640, 256, 341, 256, 256},
        /* small image: enlarged unless resize_only_if_bigger */
        {CS_IMAGE_RESIZE_BORDER, false, 200, 150, 256, 192, 256, 256},
        {CS_IMAGE_RESIZE_BORDER, true, 200, 150, 200, 150, 200, 150},
        {CS_IMAGE_RESIZE_KEEP_RATIO, true, 300, 200, 300, 200, 300, 200},
        {CS_IMAGE_RESIZE_KEEP_RATIO, true, 300, 257, 299, 256, 299, 256},
        {CS_IMAGE_RESIZE_CENTER_CROP, true, 200, 150, 200, 150, 200, 150},
        /* exactly the size: no change, border still pads (img2dataset) */
        {CS_IMAGE_RESIZE_BORDER, false, 256, 100, 256, 100, 256, 256},
        /* Python rounds half to even: 301 * 0.5 = 150.5 -> 150, 303 -> 152 */
        {CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST, false, 512, 301, 256, 150, 256, 150},
        {CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST, false, 512, 303, 256, 152, 256, 152},
        {CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST, false, 512, 305, 256, 152, 256, 152},
        /* a side would round to 0: kept at 1 */
        {CS_IMAGE_RESIZE_BORDER, false, 2000, 1, 256, 1, 256, 256},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        o.resize_mode = cases[i].mode;
        o.resize_only_if_bigger = cases[i].bigger;
        int rw, rh, fw, fh;
        ASSERT(cs_image_target_size(&o, cases[i].w, cases[i].h, &rw, &rh, &fw, &fh));
        if (rw != cases[i].rw || rh != cases[i].rh || fw != cases[i].fw || fh != cases[i].fh)
            FAIL("case %u (%s %dx%d): %dx%d / %dx%d, want %dx%d / %dx%d", i,
                 cs_image_resize_name(cases[i].mode), cases[i].w, cases[i].h, rw, rh, fw, fh,
                 cases[i].rw, cases[i].rh, cases[i].fw, cases[i].fh);
    }
    int a, b, c, d;
    ASSERT(!cs_image_target_size(&o, 0, 10, &a, &b, &c, &d));
}

/* The same 640x480 cases on real pixels, through both paths. */
TEST(image_resize_modes_on_pixels)
{
    init();
    size_t n;
    uint8_t *jpg = make_image("jpeg", 640, 480, 0, &n);
    struct {
        cs_image_resize mode;
        int w, h;
    } cases[] = {{CS_IMAGE_RESIZE_NO, 640, 480},
                 {CS_IMAGE_RESIZE_BORDER, 256, 256},
                 {CS_IMAGE_RESIZE_KEEP_RATIO, 341, 256},
                 {CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST, 256, 192},
                 {CS_IMAGE_RESIZE_CENTER_CROP, 256, 256}};
    for (int path = 0; path < 2; path++) {
        cs__image_tuning t;
        if (path)
            t = vips_only();
        else
            cs__image_tuning_init(&t);
        for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
            cs_image_opts o;
            cs_image_opts_init(&o);
            o.resize_mode = cases[i].mode;
            cs_image_result r;
            process_ok(jpg, n, &o, &t, &r);
            ASSERT_EQ(r.width, cases[i].w);
            ASSERT_EQ(r.height, cases[i].h);
            ASSERT_EQ(r.original_width, 640);
            ASSERT_EQ(r.original_height, 480);
            VipsImage *im = load(r.data, r.len);
            if (cases[i].mode == CS_IMAGE_RESIZE_BORDER) {
                /* 256x192 centred: 32 white rows above and below */
                ASSERT(block_mean(im, 100, 0) > 250);
                ASSERT(block_mean(im, 100, 248) > 250);
                ASSERT(block_mean(im, 100, 100) < 200);
                ASSERT(block_mean(im, 0, 34) > 230); /* the bright corner block */
            }
            if (cases[i].mode == CS_IMAGE_RESIZE_CENTER_CROP) {
                /* 341 wide, 42 columns cut on the left: the corner block
                 * (85 px wide at that scale) is still at the left edge */
                ASSERT(block_mean(im, 0, 0) > 230);
                ASSERT(block_mean(im, 60, 0) < 200);
            }
            g_object_unref(im);
            cs_image_result_cleanup(&r);
        }
    }
}

/* Thin and tiny images in every mode, both paths: libvips 8.14 aborts when a
 * shrink-on-load would make a side 0 (fuzz_image found a 4 x 768 JPEG). */
TEST(image_thin_and_tiny_images)
{
    init();
    static const int sizes[][2] = {{1, 1}, {4, 768}, {768, 4}, {2, 3000}, {3000, 2},
                                   {7, 9}, {16, 2000}, {9, 17}};
    static const char *const fmts[] = {"jpeg", "png", "webp"};
    for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (unsigned f = 0; f < 3; f++) {
            size_t n;
            uint8_t *img = make_image(fmts[f], sizes[s][0], sizes[s][1], 0, &n);
            for (int path = 0; path < 2; path++)
                for (int mode = 0; mode < 5; mode++)
                    for (int skip = 0; skip < 2; skip++) {
                        cs__image_tuning t;
                        if (path)
                            t = vips_only();
                        else
                            cs__image_tuning_init(&t);
                        cs_image_opts o;
                        cs_image_opts_init(&o);
                        o.resize_mode = (cs_image_resize)mode;
                        o.image_size = 64;
                        o.skip_reencode = skip;
                        o.resize_only_if_bigger = skip;
                        cs_image_result r;
                        int rw, rh, fw, fh;
                        ASSERT(cs_image_target_size(&o, sizes[s][0], sizes[s][1], &rw, &rh, &fw,
                                                    &fh));
                        if (fw > 65500 || fh > 65500) { /* keep_ratio on 2 x 3000 */
                            ASSERT_ST(cs__image_process_ex(img, n, &o, NULL, &t, NULL, &r),
                                      CS_EIO);
                            ASSERT_EQ(r.reason, CS_IMAGE_ENCODE);
                            ASSERT_CONTAINS(r.errmsg, "at most 65500");
                        } else {
                            process_ok(img, n, &o, &t, &r);
                            ASSERT_EQ(r.width, fw);
                            ASSERT_EQ(r.height, fh);
                        }
                        cs_image_result_cleanup(&r);
                    }
        }
}

/* ---- EXIF orientation -------------------------------------------------------------------- */

TEST(image_exif_orientation_upright)
{
    init();
    /* The stored image is 96x48 with its bright block at the stored top-left.
     * Where that block must be once upright, per orientation (EXIF 2.3):
     * 0 = top-left, 1 = top-right, 2 = bottom-right, 3 = bottom-left. */
    static const int corner[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
    for (int orient = 1; orient <= 8; orient++) {
        size_t n;
        uint8_t *jpg = make_image("jpeg", 96, 48, orient, &n);
        for (int path = 0; path < 2; path++) {
            cs__image_tuning t;
            if (path)
                t = vips_only();
            else
                cs__image_tuning_init(&t);
            cs_image_opts o;
            cs_image_opts_init(&o);
            o.resize_mode = CS_IMAGE_RESIZE_NO;
            cs_image_result r;
            process_ok(jpg, n, &o, &t, &r);
            bool swap = orient >= 5;
            ASSERT_EQ(r.original_width, swap ? 48 : 96);
            ASSERT_EQ(r.original_height, swap ? 96 : 48);
            ASSERT_EQ(r.width, r.original_width);
            ASSERT_EQ(r.height, r.original_height);
            VipsImage *im = load(r.data, r.len);
            int W = im->Xsize, H = im->Ysize;
            double m[4] = {block_mean(im, 0, 0), block_mean(im, W - 8, 0),
                           block_mean(im, W - 8, H - 8), block_mean(im, 0, H - 8)};
            for (int c = 0; c < 4; c++)
                if ((c == corner[orient]) != (m[c] > 200))
                    FAIL("orientation %d (%s path): corner means %.0f %.0f %.0f %.0f", orient,
                         path ? "libvips" : "default", m[0], m[1], m[2], m[3]);
            g_object_unref(im);
            cs_image_result_cleanup(&r);

            /* resized too: the size is computed on the upright image */
            cs_image_opts_init(&o);
            o.resize_mode = CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST;
            o.image_size = 32;
            process_ok(jpg, n, &o, &t, &r);
            ASSERT_EQ(r.width, swap ? 16 : 32);
            ASSERT_EQ(r.height, swap ? 32 : 16);
            cs_image_result_cleanup(&r);
        }
    }
}

TEST(image_corpus_rotated_files_come_out_upright)
{
    init();
    size_t n;
    char *d = cs_test_read_file(cs_test_corpus("images/libvips/rotation/6.jpg"), &n);
    cs_image_opts o;
    cs_image_opts_init(&o);
    o.resize_mode = CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST;
    cs_image_result r;
    process_ok(d, n, &o, NULL, &r);
    ASSERT_EQ(r.original_width, 231); /* stored 308x231 */
    ASSERT_EQ(r.original_height, 308);
    ASSERT_EQ(r.width, 192); /* round(231 * 256 / 308) */
    ASSERT_EQ(r.height, 256);
    cs_image_result_cleanup(&r);
    /* header only */
    ASSERT_OK(cs_image_probe(d, n, &r));
    ASSERT_STR_EQ(r.source_format, "jpeg");
    ASSERT_EQ(r.original_width, 231);
    ASSERT_EQ(r.original_height, 308);
    cs_image_result_cleanup(&r);
    cs_free(d);
}

/* ---- hostile input ---------------------------------------------------------------------- */

static long maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A small valid PNG whose IHDR now claims w x h (CRC fixed). */
static uint8_t *png_claiming(uint32_t w, uint32_t h, size_t *n)
{
    uint8_t *png = make_image("png", 16, 16, 0, n);
    ASSERT(!memcmp(png + 12, "IHDR", 4));
    put32(png + 16, w);
    put32(png + 20, h);
    put32(png + 29, (uint32_t)crc32(0, png + 12, 17));
    return png;
}

/* A small valid JPEG whose SOF now claims w x h (16-bit fields). */
static uint8_t *jpeg_claiming(unsigned w, unsigned h, size_t *n)
{
    uint8_t *jpg = make_image("jpeg", 16, 16, 0, n);
    for (size_t i = 2; i + 9 < *n; i++)
        if (jpg[i] == 0xff && (jpg[i + 1] == 0xc0 || jpg[i + 1] == 0xc2)) {
            jpg[i + 5] = (uint8_t)(h >> 8);
            jpg[i + 6] = (uint8_t)h;
            jpg[i + 7] = (uint8_t)(w >> 8);
            jpg[i + 8] = (uint8_t)w;
            return jpg;
        }
    FAIL("no SOF in the test JPEG");
}

TEST(image_pixel_bomb_refused_from_the_header)
{
    init();
    long rss0 = maxrss_mb();
    size_t pn, jn;
    uint8_t *png = png_claiming(100000, 100000, &pn);
    uint8_t *jpg = jpeg_claiming(60000, 60000, &jn);
    for (int path = 0; path < 2; path++) {
        cs__image_tuning t;
        if (path)
            t = vips_only();
        else
            cs__image_tuning_init(&t);
        for (int k = 0; k < 2; k++) {
            cs_image_result r;
            double t0 = cs_now();
            cs_status st = cs__image_process_ex(k ? jpg : png, k ? jn : pn, NULL, NULL, &t,
                                                NULL, &r);
            double el = cs_now() - t0;
            ASSERT_ST(st, CS_ETOOBIG);
            ASSERT_EQ(r.reason, CS_IMAGE_TOO_MANY_PIXELS);
            ASSERT_CONTAINS(r.errmsg, k ? "60000x60000" : "100000x100000");
            ASSERT(el < 0.5);
            cs_image_result_cleanup(&r);
        }
    }
    /* under the limit but absurd for its size: decoded lazily and refused as
     * corrupt, never allocated whole */
    size_t n;
    uint8_t *big = png_claiming(9000, 9000, &n);
    cs_image_result r;
    cs_status st = cs_image_process(big, n, NULL, NULL, &r);
    ASSERT(st != CS_OK);
    ASSERT_EQ(r.reason, CS_IMAGE_DECODE);
    cs_image_result_cleanup(&r);
    printf("peak RSS grew by %ld MB\n", maxrss_mb() - rss0);
    ASSERT(maxrss_mb() - rss0 < 200);
}

TEST(image_resize_bomb_refused)
{
    init();
    /* keep_ratio on a 2 x 4000 image would make 256 x 512000 */
    size_t n;
    uint8_t *png = make_image("png", 2, 4000, 0, &n);
    cs_image_opts o;
    cs_image_opts_init(&o);
    o.resize_mode = CS_IMAGE_RESIZE_KEEP_RATIO;
    o.max_pixels = 10000000;
    cs_image_result r;
    ASSERT_ST(cs_image_process(png, n, &o, NULL, &r), CS_ETOOBIG);
    ASSERT_EQ(r.reason, CS_IMAGE_TOO_MANY_PIXELS);
    ASSERT_CONTAINS(r.errmsg, "resized to 256x512000");
    cs_image_result_cleanup(&r);
    /* and a plain small limit */
    o.resize_mode = CS_IMAGE_RESIZE_BORDER;
    o.max_pixels = 1000;
    ASSERT_ST(cs_image_process(png, n, &o, NULL, &r), CS_ETOOBIG);
    cs_image_result_cleanup(&r);
}

TEST(image_truncated_refused)
{
    init();
    size_t n, pn;
    uint8_t *jpg = make_image("jpeg", 800, 600, 0, &n);
    uint8_t *png = make_image("png", 300, 200, 0, &pn);
    for (int path = 0; path < 2; path++) {
        cs__image_tuning t;
        if (path)
            t = vips_only();
        else
            cs__image_tuning_init(&t);
        cs_image_result r;
        for (size_t cut = n / 4; cut < n; cut += n / 4) {
            cs_status st = cs__image_process_ex(jpg, cut, NULL, NULL, &t, NULL, &r);
            ASSERT_ST(st, CS_EFORMAT);
            ASSERT_EQ(r.reason, CS_IMAGE_DECODE);
            ASSERT_CONTAINS(r.errmsg, "Premature end");
            ASSERT_EQ(r.original_width, 800); /* the header was fine */
            cs_image_result_cleanup(&r);
        }
        ASSERT_ST(cs__image_process_ex(png, pn / 2, NULL, NULL, &t, NULL, &r), CS_EFORMAT);
        ASSERT_EQ(r.reason, CS_IMAGE_DECODE);
        cs_image_result_cleanup(&r);
        /* a JPEG cut inside its header */
        ASSERT_ST(cs__image_process_ex(jpg, 40, NULL, NULL, &t, NULL, &r), CS_EFORMAT);
        ASSERT_EQ(r.reason, CS_IMAGE_DECODE);
        ASSERT(r.errmsg[0]);
        cs_image_result_cleanup(&r);
    }
}

TEST(image_non_images_say_why)
{
    init();
    struct {
        const char *bytes;
        size_t len;
        cs_image_reason reason;
        const char *msg;
    } cases[] = {
#define B(lit) lit, sizeof(lit) - 1
        {B("<!DOCTYPE html><html><body>404</body></html>"), CS_IMAGE_DECODE, "<!DOCTYPE"},
        {B(""), CS_IMAGE_DECODE, "empty"},
        {B("\xff\xd8\xff"), CS_IMAGE_DECODE, "jpeg"},
        {B("\x89PNG\r\n\x1a\n"), CS_IMAGE_DECODE, "png"},
        {B("GIF89a\x01\x00\x01\x00garbage"), CS_IMAGE_DECODE, "gif"},
        {B("RIFF\x10\x00\x00\x00WEBPVP8 junkjunk"), CS_IMAGE_DECODE, "webp"},
        {B("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"),
         CS_IMAGE_UNSUPPORTED, "svg"},
        {B("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00"
           "\x00\x01\x00\x00\x00\x01\x00\x18\x00"),
         CS_IMAGE_UNSUPPORTED, "bmp"},
        {B("%PDF-1.4\n"), CS_IMAGE_UNSUPPORTED, "pdf"},
        {B("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"), CS_IMAGE_DECODE, "\\x00\\x01"},
#undef B
    };
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        cs_image_result r;
        cs_status st = cs_image_process(cases[i].bytes, cases[i].len, NULL, NULL, &r);
        ASSERT(st != CS_OK);
        if (r.reason != cases[i].reason)
            FAIL("case %u: %s, want %s (%s)", i, cs_image_reason_name(r.reason),
                 cs_image_reason_name(cases[i].reason), r.errmsg);
        ASSERT_CONTAINS(r.errmsg, cases[i].msg);
        ASSERT(r.data == NULL);
        cs_image_result_cleanup(&r);
    }
    /* random bytes, many times: never a crash, always a reason */
    uint64_t s = 42;
    uint8_t buf[512];
    for (int k = 0; k < 200; k++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            buf[i] = (uint8_t)s;
        }
        if (k % 4 == 1)
            memcpy(buf, "\xff\xd8\xff\xe0", 4);
        else if (k % 4 == 2)
            memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
        cs_image_result r;
        ASSERT(cs_image_process(buf, sizeof buf, NULL, NULL, &r) != CS_OK);
        ASSERT(r.errmsg[0]);
        cs_image_result_cleanup(&r);
    }
}

/* ---- hashes ---------------------------------------------------------------------------- */

TEST(image_sha256_matches_sha256sum)
{
    init();
    const char *path = cs_test_corpus("images/pillow/hopper_gray.jpg");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    ASSERT(p);
    char want[128] = "";
    ASSERT(fscanf(p, "%64s", want) == 1);
    pclose(p);
    size_t n;
    char *d = cs_test_read_file(path, &n);
    cs_image_result r;
    ASSERT_OK(cs_image_process(d, n, NULL, NULL, &r));
    ASSERT_STR_EQ(r.sha256, want);
    cs_image_result_cleanup(&r);

    /* the expected hash, either case: passes */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(want[i] >= 'a' && want[i] <= 'f' ? want[i] - 32 : want[i]);
    ASSERT_OK(cs_image_process(d, n, NULL, upper, &r));
    cs_image_result_cleanup(&r);
    /* a different one: refused before any decoding, the real hash reported */
    char wrong[65];
    memcpy(wrong, want, 65);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    ASSERT_ST(cs_image_process(d, n, NULL, wrong, &r), CS_EDIGEST);
    ASSERT_EQ(r.reason, CS_IMAGE_HASH_MISMATCH);
    ASSERT_STR_EQ(r.sha256, want);
    ASSERT_CONTAINS(r.errmsg, wrong);
    ASSERT(r.data == NULL && r.original_width == 0);
    cs_image_result_cleanup(&r);
    ASSERT_ST(cs_image_process(d, n, NULL, "abc", &r), CS_EDIGEST);
    ASSERT_CONTAINS(r.errmsg, "not 64 hex digits");
    cs_image_result_cleanup(&r);
    /* a failed decode still reports the hash */
    ASSERT_ST(cs_image_process("hello", 5, NULL, NULL, &r), CS_EFORMAT);
    ASSERT_STR_EQ(r.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    cs_image_result_cleanup(&r);
    cs_free(d);
}

/* ---- encoders, colour ------------------------------------------------------------------ */

TEST(image_encodes_jpg_png_webp_that_decode_back)
{
    init();
    const char *inputs[] = {"images/img2dataset/resize_test_image/524_316.jpg",
                            "images/pillow/transparent.webp", "images/libvips/sample.png",
                            "images/pillow/hopper_gray.jpg"};
    static const cs_image_format fmts[] = {CS_IMAGE_JPG, CS_IMAGE_PNG, CS_IMAGE_WEBP};
    static const char *const names[] = {"jpeg", "png", "webp"};
    for (unsigned i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        size_t n;
        char *d = cs_test_read_file(cs_test_corpus(inputs[i]), &n);
        for (unsigned f = 0; f < 3; f++)
            for (int q = -1; q <= 1; q++) {
                cs_image_opts o;
                cs_image_opts_init(&o);
                o.format = fmts[f];
                o.quality = q < 0 ? -1 : fmts[f] == CS_IMAGE_PNG ? 9 : q ? 101 : 50;
                if (q == 1 && fmts[f] == CS_IMAGE_JPG)
                    o.quality = 100;
                cs_image_result r;
                process_ok(d, n, &o, NULL, &r);
                cs_image_result r2;
                ASSERT_OK(cs_image_probe(r.data, r.len, &r2));
                ASSERT_STR_EQ(r2.source_format, names[f]);
                ASSERT_EQ(r2.width, r.width);
                cs_image_result_cleanup(&r2);
                VipsImage *im = load(r.data, r.len);
                /* grey stays grey (WebP has no grey); the rest is 3-band sRGB, no
                 * alpha */
                ASSERT_EQ(im->Bands, strstr(inputs[i], "gray") && fmts[f] != CS_IMAGE_WEBP ? 1 : 3);
                g_object_unref(im);
                cs_image_result_cleanup(&r);
            }
        cs_free(d);
    }
}

TEST(image_alpha_flattened_on_white)
{
    init();
    /* a fully transparent black RGBA PNG: img2dataset makes it white */
    uint8_t px[32 * 32 * 4] = {0};
    VipsImage *im =
        vips_image_new_from_memory_copy(px, sizeof px, 32, 32, 4, VIPS_FORMAT_UCHAR);
    im->Type = VIPS_INTERPRETATION_sRGB;
    void *buf;
    size_t n;
    ASSERT(vips_pngsave_buffer(im, &buf, &n, NULL) == 0);
    g_object_unref(im);
    cs_image_opts o;
    cs_image_opts_init(&o);
    o.resize_mode = CS_IMAGE_RESIZE_NO;
    for (int f = 0; f < 2; f++) {
        o.format = f ? CS_IMAGE_PNG : CS_IMAGE_JPG;
        cs_image_result r;
        process_ok(buf, n, &o, NULL, &r);
        VipsImage *out = load(r.data, r.len);
        ASSERT_EQ(out->Bands, 3);
        double avg;
        ASSERT(vips_avg(out, &avg, NULL) == 0);
        ASSERT(avg > 250);
        g_object_unref(out);
        cs_image_result_cleanup(&r);
    }
    g_free(buf);
}

TEST(image_cmyk_and_16bit_become_8bit_srgb)
{
    init();
    const char *files[] = {"images/pillow/pil_sample_cmyk.jpg", "images/libvips/sample.png",
                           "images/pngsuite/basi6a16.png", "images/pillow/i_trns.png"};
    for (unsigned i = 0; i < 4; i++) {
        size_t n;
        char *d = cs_test_read_file(cs_test_corpus(files[i]), &n);
        cs_image_opts o;
        cs_image_opts_init(&o);
        o.resize_mode = CS_IMAGE_RESIZE_NO;
        o.format = CS_IMAGE_PNG;
        cs_image_result r;
        process_ok(d, n, &o, NULL, &r);
        VipsImage *im = load(r.data, r.len);
        ASSERT_EQ(im->BandFmt, VIPS_FORMAT_UCHAR);
        ASSERT_EQ(im->Bands, strstr(files[i], "i_trns") ? 1 : 3); /* grey + alpha -> grey */
        double avg;
        ASSERT(vips_avg(im, &avg, NULL) == 0);
        ASSERT(avg > 10 && avg < 250); /* not black, not blank */
        g_object_unref(im);
        cs_image_result_cleanup(&r);
        cs_free(d);
    }
}

TEST(image_skip_reencode_hands_back_the_bytes)
{
    init();
    size_t n;
    uint8_t *jpg = make_image("jpeg", 200, 150, 0, &n);
    cs_image_opts o;
    cs_image_opts_init(&o);
    o.skip_reencode = true;
    o.resize_only_if_bigger = true;
    for (int path = 0; path < 2; path++) {
        cs__image_tuning t;
        if (path)
            t = vips_only();
        else
            cs__image_tuning_init(&t);
        cs_image_result r;
        ASSERT_OK(cs__image_process_ex(jpg, n, &o, NULL, &t, NULL, &r));
        ASSERT_MEM_EQ(r.data, r.len, jpg, n);
        ASSERT_EQ(r.width, 200);
        ASSERT_EQ(r.height, 150);
        cs_image_result_cleanup(&r);
        /* still decoded: a truncated file is refused */
        ASSERT_ST(cs__image_process_ex(jpg, n * 2 / 3, &o, NULL, &t, NULL, &r), CS_EFORMAT);
        cs_image_result_cleanup(&r);
        /* another output format: re-encoded */
        o.format = CS_IMAGE_PNG;
        process_ok(jpg, n, &o, &t, &r);
        ASSERT(r.len != n || memcmp(r.data, jpg, n));
        cs_image_result_cleanup(&r);
        o.format = CS_IMAGE_JPG;
    }
}

TEST(image_bad_options_refused)
{
    init();
    size_t n;
    uint8_t *jpg = make_image("jpeg", 20, 20, 0, &n);
    cs_image_opts o;
    cs_image_result r;
    cs_image_opts_init(&o);
    o.image_size = 0;
    ASSERT_ST(cs_image_process(jpg, n, &o, NULL, &r), CS_EINVAL);
    ASSERT_EQ(r.reason, CS_IMAGE_UNSUPPORTED);
    ASSERT_CONTAINS(r.errmsg, "image_size");
    cs_image_opts_init(&o);
    o.format = CS_IMAGE_PNG;
    o.quality = 95; /* PNG quality is a compression level, as img2dataset */
    ASSERT_ST(cs_image_process(jpg, n, &o, NULL, &r), CS_EINVAL);
    ASSERT_CONTAINS(r.errmsg, "0 to 9");
    cs_image_opts_init(&o);
    o.max_aspect_ratio = -1;
    ASSERT_ST(cs_image_process(jpg, n, &o, NULL, &r), CS_EINVAL);
    cs_image_opts_init(&o);
    o.resize_mode = (cs_image_resize)42;
    ASSERT_ST(cs_image_process(jpg, n, &o, NULL, &r), CS_EINVAL);
    ASSERT_ST(cs_image_process(NULL, 10, NULL, NULL, &r), CS_EINVAL);
    ASSERT_ST(cs_image_process(jpg, n, NULL, NULL, NULL), CS_EINVAL);
    cs_image_result_cleanup(NULL);
}

TEST(image_names_and_parsers)
{
    static const char *const names[] = {"ok", "decode", "too_many_pixels", "too_small",
                                        "bad_aspect_ratio", "hash_mismatch", "encode",
                                        "unsupported"};
    ASSERT_EQ(CS_IMAGE__REASON_COUNT, 8);
    for (int i = 0; i < CS_IMAGE__REASON_COUNT; i++) {
        ASSERT_STR_EQ(cs_image_reason_name((cs_image_reason)i), names[i]);
        ASSERT(strlen(cs_image_reason_desc((cs_image_reason)i)) > 5);
    }
    static const char *const modes[] = {"no", "border", "keep_ratio", "keep_ratio_largest",
                                        "center_crop"};
    for (int i = 0; i < 5; i++) {
        cs_image_resize m;
        ASSERT(cs_image_resize_parse(modes[i], &m));
        ASSERT_EQ(m, i);
        ASSERT_STR_EQ(cs_image_resize_name(m), modes[i]);
    }
    cs_image_resize m;
    ASSERT(!cs_image_resize_parse("fixed", &m));
    cs_image_format f;
    ASSERT(cs_image_format_parse("jpeg", &f) && f == CS_IMAGE_JPG);
    ASSERT(cs_image_format_parse("webp", &f) && f == CS_IMAGE_WEBP);
    ASSERT(!cs_image_format_parse("gif", &f));
    ASSERT_STR_EQ(cs_image_format_ext(CS_IMAGE_PNG), "png");
    cs_image_opts o;
    cs_image_opts_init(&o);
    ASSERT_EQ(o.image_size, 256);
    ASSERT_EQ(o.resize_mode, CS_IMAGE_RESIZE_BORDER);
    ASSERT_UEQ(o.max_pixels, 89478484);
}

/* ---- the libjpeg fast path against libvips ----------------------------------------------- */

TEST(image_fast_path_agrees_with_libvips)
{
    init();
    static const int sizes[][2] = {{1500, 1000}, {1001, 777}, {640, 480}, {300, 1500},
                                   {257, 257}, {4000, 300}};
    static const cs_image_resize modes[] = {CS_IMAGE_RESIZE_BORDER, CS_IMAGE_RESIZE_KEEP_RATIO,
                                            CS_IMAGE_RESIZE_CENTER_CROP,
                                            CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST,
                                            CS_IMAGE_RESIZE_NO};
    cs__image_tuning fast, slow = vips_only();
    cs__image_tuning_init(&fast);
    int direct = 0;
    for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n;
        uint8_t *jpg = make_image("jpeg", sizes[s][0], sizes[s][1], s % 2 ? 6 : 0, &n);
        for (unsigned m = 0; m < sizeof modes / sizeof *modes; m++) {
            cs_image_opts o;
            cs_image_opts_init(&o);
            o.resize_mode = modes[m];
            cs_image_result a, b;
            cs__image_timings tm;
            ASSERT_OK(cs__image_process_ex(jpg, n, &o, NULL, &fast, &tm, &a));
            direct += tm.direct;
            process_ok(jpg, n, &o, &slow, &b);
            ASSERT_EQ(a.width, b.width);
            ASSERT_EQ(a.height, b.height);
            ASSERT_EQ(a.original_width, b.original_width);
            VipsImage *ia = load(a.data, a.len), *ib = load(b.data, b.len);
            double db = psnr(ia, ib);
            if (db < 30)
                FAIL("%dx%d %s: the two paths differ, PSNR %.1f dB", sizes[s][0], sizes[s][1],
                     cs_image_resize_name(modes[m]), db);
            g_object_unref(ia);
            g_object_unref(ib);
            cs_image_result_cleanup(&a);
            cs_image_result_cleanup(&b);
        }
    }
    printf("fast path %s, used for %d of %d cases\n",
           cs__jpeg_direct_available() ? "built" : "not built (no CS_HAVE_LIBJPEG)", direct,
           (int)(sizeof sizes / sizeof *sizes * sizeof modes / sizeof *modes));
    ASSERT_EQ(direct > 0, cs__jpeg_direct_available());
}

/* ---- threads ---------------------------------------------------------------------------- */

typedef struct mt_job {
    const uint8_t *data;
    size_t len;
    char want[65]; /* sha256 of the single-thread output */
    int bad;
} mt_job;

static void *mt_worker(void *arg)
{
    mt_job *jobs = arg;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 6; i++) {
            cs_image_result r;
            if (cs_image_process(jobs[i].data, jobs[i].len, NULL, NULL, &r) != CS_OK) {
                jobs[i].bad++;
            } else {
                cs_digest d;
                uint8_t v[64];
                size_t vn;
                char hex[65];
                if (cs_digest_init(&d, CS_DIGEST_SHA256) == CS_OK) {
                    cs_digest_update(&d, r.data, r.len);
                    cs_digest_final(&d, v, &vn);
                    cs_digest_cleanup(&d);
                    cs_base16_encode(v, vn, hex);
                    for (int k = 0; k < 64; k++)
                        hex[k] = (char)(hex[k] >= 'A' && hex[k] <= 'F' ? hex[k] + 32 : hex[k]);
                    if (strncmp(hex, jobs[i].want, 64))
                        jobs[i].bad++;
                }
            }
            cs_image_result_cleanup(&r);
        }
    cs_image_thread_cleanup();
    return NULL;
}

TEST_T(image_many_threads_same_bytes, 300)
{
    init();
    static const int sizes[][2] = {{900, 700}, {300, 1200}, {100, 80}};
    mt_job jobs[6];
    for (int i = 0; i < 6; i++) {
        size_t n;
        jobs[i].data = i < 3 ? make_image("jpeg", sizes[i][0], sizes[i][1], 0, &n)
                             : make_image(i == 3 ? "png" : "webp", sizes[i - 3][0],
                                          sizes[i - 3][1], 0, &n);
        jobs[i].len = n;
        jobs[i].bad = 0;
        cs_image_result r;
        ASSERT_OK(cs_image_process(jobs[i].data, n, NULL, NULL, &r));
        cs_digest d;
        uint8_t v[64];
        size_t vn;
        ASSERT_OK(cs_digest_init(&d, CS_DIGEST_SHA256));
        cs_digest_update(&d, r.data, r.len);
        cs_digest_final(&d, v, &vn);
        cs_digest_cleanup(&d);
        cs_base16_encode(v, vn, jobs[i].want);
        for (int k = 0; k < 64; k++)
            jobs[i].want[k] =
                (char)(jobs[i].want[k] >= 'A' && jobs[i].want[k] <= 'F' ? jobs[i].want[k] + 32
                                                                        : jobs[i].want[k]);
        cs_image_result_cleanup(&r);
    }
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        ASSERT_EQ(pthread_create(&th[t], NULL, mt_worker, jobs), 0);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(jobs[i].bad, 0);
}

/* ---- the library never prints ------------------------------------------------------------- */

typedef struct logged {
    int n;
} logged;

static void count_log(cs_log_level level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    ((logged *)ud)->n++;
}

TEST(image_warnings_go_to_the_log_not_stderr)
{
    logged lg = {0};
    cs_log_set_handler(count_log, &lg, CS_LOG_DEBUG);
    init();
    /* junk before a marker: libjpeg warns; gif: libnsgif warns */
    const char *files[] = {"images/pillow/junk_jpeg_header.jpg", "images/libvips/truncated.gif",
                           "images/libvips/cogs.gif"};
    fflush(stderr);
    int saved = dup(2);
    char path[1024];
    snprintf(path, sizeof path, "%s/stderr", cs_test_tmpdir());
    FILE *cap = fopen(path, "w+");
    ASSERT(cap && saved >= 0);
    dup2(fileno(cap), 2);
    cs__image_tuning t = vips_only();
    for (unsigned i = 0; i < 3; i++) {
        size_t n;
        char *d = cs_test_read_file(cs_test_corpus(files[i]), &n);
        cs_image_result r;
        (void)cs__image_process_ex(d, n, NULL, NULL, &t, NULL, &r);
        cs_image_result_cleanup(&r);
        cs_free(d);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fseek(cap, 0, SEEK_END);
    long written = ftell(cap);
    fclose(cap);
    cs_log_set_handler(NULL, NULL, CS_LOG_INFO);
    ASSERT_EQ(written, 0);
    ASSERT(lg.n > 0);
}
