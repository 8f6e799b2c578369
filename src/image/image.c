/* image.c - cs_image_process(): img2dataset's resizer (resizer.py) on libvips.
 *
 * One call = one short pipeline on the calling thread:
 *   sha256 -> sniff format -> header (no pixels yet) -> size checks and
 *   filters -> load at a reduced scale where the format can (JPEG DCT
 *   scaling, WebP scaled decode) -> colour to 8-bit sRGB/grey, alpha
 *   flattened on white -> resize to the exact img2dataset size -> EXIF
 *   rotation -> crop or pad -> materialise in memory -> encode.
 * JPEG input goes to jpeg.c's libjpeg fast path first (see there why); what
 * it does not take (CMYK, enlarging, ICC conversion) comes here.
 * Materialising before the encoder costs one copy of the small result and
 * tells a decode error (truncated, corrupt: raised while pixels are made)
 * from an encode error.
 *
 * libvips keeps one process-wide error buffer; the detail text copied out of
 * it on a failure is best-effort when threads fail at the same moment (the
 * reason itself never depends on it). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <vips/vips.h>

#include "crawlset/image.h"
#include "crawlset/warc.h"
#include "image_int.h"

/* ---- names ----------------------------------------------------------------- */

static const char *const k_reason_names[] = {
    "ok", "decode", "too_many_pixels", "too_small", "bad_aspect_ratio",
    "hash_mismatch", "encode", "unsupported",
};
static const char *const k_reason_desc[] = {
#define CS__IMG_DESC(name, msg) msg,
    CS_IMAGE_REASON_MAP(CS__IMG_DESC)
#undef CS__IMG_DESC
};
_Static_assert(sizeof k_reason_names / sizeof *k_reason_names == CS_IMAGE__REASON_COUNT,
               "one name per reason");

const char *cs_image_reason_name(cs_image_reason r)
{
    return (unsigned)r < CS_IMAGE__REASON_COUNT ? k_reason_names[r] : "unknown";
}

const char *cs_image_reason_desc(cs_image_reason r)
{
    return (unsigned)r < CS_IMAGE__REASON_COUNT ? k_reason_desc[r] : "unknown reason";
}

static const char *const k_resize_names[] = {"no", "border", "keep_ratio", "keep_ratio_largest",
                                             "center_crop"};

bool cs_image_resize_parse(const char *s, cs_image_resize *out)
{
    for (unsigned i = 0; s && i < sizeof k_resize_names / sizeof *k_resize_names; i++)
        if (!strcmp(s, k_resize_names[i])) {
            *out = (cs_image_resize)i;
            return true;
        }
    return false;
}

const char *cs_image_resize_name(cs_image_resize m)
{
    return (unsigned)m < sizeof k_resize_names / sizeof *k_resize_names ? k_resize_names[m]
                                                                          : "unknown";
}

bool cs_image_format_parse(const char *s, cs_image_format *out)
{
    if (!s)
        return false;
    if (!strcmp(s, "jpg") || !strcmp(s, "jpeg"))
        *out = CS_IMAGE_JPG;
    else if (!strcmp(s, "png"))
        *out = CS_IMAGE_PNG;
    else if (!strcmp(s, "webp"))
        *out = CS_IMAGE_WEBP;
    else
        return false;
    return true;
}

const char *cs_image_format_ext(cs_image_format f)
{
    switch (f) {
    case CS_IMAGE_JPG:
        return "jpg";
    case CS_IMAGE_PNG:
        return "png";
    case CS_IMAGE_WEBP:
        return "webp";
    }
    return "unknown";
}

void cs_image_opts_init(cs_image_opts *o)
{
    memset(o, 0, sizeof *o);
    o->image_size = CS_IMAGE_DEFAULT_SIZE;
    o->resize_mode = CS_IMAGE_RESIZE_BORDER;
    o->max_pixels = CS_IMAGE_DEFAULT_MAX_PIXELS;
    o->format = CS_IMAGE_JPG;
    o->quality = -1;
}

void cs__image_tuning_init(cs__image_tuning *t)
{
    t->jpeg_direct = true;
    t->jpeg_eighths = false;
    t->jpeg_min_residual = 1.0;
    t->webp_min_residual = 1.0;
    t->kernel = -1;
    t->stop = CS__IMAGE_STOP_NONE;
}

void cs_image_result_cleanup(cs_image_result *r)
{
    if (!r)
        return;
    cs_free(r->data);
    memset(r, 0, sizeof *r);
}

/* ---- process-wide set-up --------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static cs_status g_init_status = CS_EIO;

/* GLib and libvips warnings ("VipsJpeg: Premature end of JPEG file", ...) are
 * expected on web input: they go to the library log, never to stderr. */
static void on_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud)
{
    (void)ud;
    cs_log_level l =
        (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) ? CS_LOG_WARN : CS_LOG_DEBUG;
    cs_log(l, "image: %s: %s", domain ? domain : "glib", msg ? msg : "");
}

static void global_init_once(void)
{
    static const char *const domains[] = {"VIPS", "GLib", "GLib-GObject", "GLib-GIO",
                                          "GModule"};
    for (unsigned i = 0; i < sizeof domains / sizeof *domains; i++)
        g_log_set_handler(domains[i],
                          (GLogLevelFlags)(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL |
                                           G_LOG_FLAG_RECURSION),
                          on_glib_log, NULL);
    if (vips_init("crawlset") != 0) {
        char *e = vips_error_buffer_copy();
        cs_log(CS_LOG_ERROR, "image: libvips did not start: %s", e ? e : "");
        g_free(e);
        g_init_status = CS_EIO;
        return;
    }
    /* Each image is used once: an operation cache only costs memory. */
    vips_cache_set_max(0);
    /* We run many images side by side on our own threads (crawlset/pool.h);
     * one libvips worker per pipeline avoids oversubscription. */
    vips_concurrency_set(1);
    /* Never hand web bytes to ImageMagick, PDF, Matlab, ... loaders. */
    vips_block_untrusted_set(TRUE);
    g_init_status = CS_OK;
}

cs_status cs_image_global_init(void)
{
    pthread_once(&g_once, global_init_once);
    return g_init_status;
}

void cs_image_thread_cleanup(void)
{
    if (g_init_status == CS_OK)
        vips_thread_shutdown();
}

/* ---- formats --------------------------------------------------------------- */

/* We sniff the format ourselves and call that one loader: libvips' own
 * sniffing asks every loader in turn (ImageMagick's included), which costs
 * tens of milliseconds on each HTML page served as an image. */
typedef enum src_kind {
    SRC_NONE,
    SRC_JPEG,
    SRC_PNG,
    SRC_WEBP,
    SRC_GIF,
    SRC_TIFF,
    SRC_HEIF,
    SRC_REFUSED /* an image format, but not one we decode */
} src_kind;

typedef struct sniffed {
    src_kind kind;
    const char *name; /* static */
} sniffed;

static bool has_prefix(const uint8_t *d, size_t n, const void *pfx, size_t k)
{
    return n >= k && memcmp(d, pfx, k) == 0;
}

static sniffed sniff(const uint8_t *d, size_t n)
{
    if (has_prefix(d, n, "\xff\xd8\xff", 3))
        return (sniffed){SRC_JPEG, "jpeg"};
    if (has_prefix(d, n, "\x89PNG\r\n\x1a\n", 8))
        return (sniffed){SRC_PNG, "png"};
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4))
        return (sniffed){SRC_WEBP, "webp"};
    if (has_prefix(d, n, "GIF87a", 6) || has_prefix(d, n, "GIF89a", 6))
        return (sniffed){SRC_GIF, "gif"};
    if (has_prefix(d, n, "II*\0", 4) || has_prefix(d, n, "MM\0*", 4) ||
        has_prefix(d, n, "II+\0", 4) || has_prefix(d, n, "MM\0+", 4))
        return (sniffed){SRC_TIFF, "tiff"};
    if (n >= 12 && !memcmp(d + 4, "ftyp", 4)) {
        static const char *const brands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                             "heis", "mif1", "msf1", "avif", "avis"};
        for (unsigned i = 0; i < sizeof brands / sizeof *brands; i++)
            if (!memcmp(d + 8, brands[i], 4))
                return (sniffed){SRC_HEIF, d[8] == 'a' ? "avif" : "heif"};
    }
    if (has_prefix(d, n, "BM", 2) && n >= 26)
        return (sniffed){SRC_REFUSED, "bmp"};
    if (has_prefix(d, n, "\0\0\1\0", 4))
        return (sniffed){SRC_REFUSED, "ico"};
    if (has_prefix(d, n, "8BPS", 4))
        return (sniffed){SRC_REFUSED, "psd"};
    if (has_prefix(d, n, "%PDF", 4))
        return (sniffed){SRC_REFUSED, "pdf"};
    if (has_prefix(d, n, "\xff\x0a", 2) || has_prefix(d, n, "\0\0\0\x0cJXL \r\n", 10))
        return (sniffed){SRC_REFUSED, "jxl"};
    if (has_prefix(d, n, "\0\0\0\x0cjP  \r\n", 10) || has_prefix(d, n, "\xff\x4f\xff\x51", 4))
        return (sniffed){SRC_REFUSED, "jpeg2000"};
    if (has_prefix(d, n, "<svg", 4) ||
        (has_prefix(d, n, "<?xml", 5) && memmem(d, n < 1024 ? n : 1024, "<svg", 4)))
        return (sniffed){SRC_REFUSED, "svg"};
    return (sniffed){SRC_NONE, NULL};
}

/* The first bytes, printable, for "not an image" messages. */
static void show_start(const uint8_t *d, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < 16 && k + 5 < cap; i++) {
        if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"' && d[i] != '\\')
            buf[k++] = (char)d[i];
        else
            k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", d[i]);
    }
    buf[k] = 0;
}

/* Compressed PNG text chunks (zTXt, iTXt) can inflate a few KB into
 * megabytes each, and libpng inflates them while reading the header: tens of
 * milliseconds per chunk of CPU for metadata we drop anyway. When there are
 * any, the PNG is copied without them (cs_malloc'd into *copy). */
static cs_status png_without_text(const uint8_t *d, size_t n, uint8_t **copy, size_t *clen)
{
    *copy = NULL;
    size_t pos = 8;
    bool any = false;
    while (pos + 12 <= n) {
        uint32_t len = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 |
                       (uint32_t)d[pos + 2] << 8 | d[pos + 3];
        if (len > n - pos - 12)
            break;
        if (!memcmp(d + pos + 4, "zTXt", 4) || !memcmp(d + pos + 4, "iTXt", 4)) {
            any = true;
            break;
        }
        pos += 12 + (size_t)len;
    }
    if (!any)
        return CS_OK;
    uint8_t *c = cs_malloc(n);
    if (!c)
        return CS_ENOMEM;
    memcpy(c, d, 8);
    size_t k = 8;
    pos = 8;
    while (pos + 12 <= n) {
        uint32_t len = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 |
                       (uint32_t)d[pos + 2] << 8 | d[pos + 3];
        if (len > n - pos - 12)
            break;
        size_t whole = 12 + (size_t)len;
        if (memcmp(d + pos + 4, "zTXt", 4) && memcmp(d + pos + 4, "iTXt", 4)) {
            memcpy(c + k, d + pos, whole);
            k += whole;
        }
        pos += whole;
    }
    memcpy(c + k, d + pos, n - pos); /* a truncated tail stays for libpng to judge */
    k += n - pos;
    *copy = c;
    *clen = k;
    return CS_OK;
}

/* Opens the header with the loader for kind; pixels come later, on demand. */
static VipsImage *open_header(src_kind kind, const uint8_t *d, size_t n)
{
    VipsImage *im = NULL;
    void *b = (void *)d; /* libvips does not write to it */
    int rc = -1;
#define CS__LOAD_OPTS "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL
    switch (kind) {
    case SRC_JPEG:
        rc = vips_jpegload_buffer(b, n, &im, CS__LOAD_OPTS);
        break;
    case SRC_PNG:
        rc = vips_pngload_buffer(b, n, &im, CS__LOAD_OPTS);
        break;
    case SRC_WEBP:
        rc = vips_webpload_buffer(b, n, &im, CS__LOAD_OPTS);
        break;
    case SRC_GIF:
        rc = vips_gifload_buffer(b, n, &im, CS__LOAD_OPTS);
        break;
    case SRC_TIFF:
        rc = vips_tiffload_buffer(b, n, &im, CS__LOAD_OPTS);
        break;
    case SRC_HEIF:
        rc = vips_heifload_buffer(b, n, &im, CS__LOAD_OPTS);
        break;
    default:
        break;
    }
#undef CS__LOAD_OPTS
    if (rc && im) {
        g_object_unref(im);
        im = NULL;
    }
    return im;
}

/* ---- sizes ----------------------------------------------------------------- */

/* Python's round() on a double: half to even (rint in the default mode). */
static int py_round(double v)
{
    double r = rint(v);
    if (r < 1)
        return 1; /* an axis of 0 is not an image (OpenCV would throw) */
    if (r > VIPS_MAX_COORD)
        return VIPS_MAX_COORD;
    return (int)r;
}

static bool make_plan(const cs_image_opts *o, int w, int h, cs__image_plan *p)
{
    if (w < 1 || h < 1)
        return false;
    memset(p, 0, sizeof *p);
    p->rw = p->fw = w;
    p->rh = p->fh = h;
    int S = o->image_size;
    int side;
    switch (o->resize_mode) {
    case CS_IMAGE_RESIZE_KEEP_RATIO:
    case CS_IMAGE_RESIZE_CENTER_CROP:
        side = w < h ? w : h;
        break;
    case CS_IMAGE_RESIZE_BORDER:
    case CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST:
        side = w > h ? w : h;
        break;
    default:
        return true;
    }
    bool downscale = side > S;
    if (o->resize_only_if_bigger && !downscale)
        return true;
    p->resized = true;
    /* albumentations' smallest_max_size / longest_max_size */
    double scale = (double)S / (double)side;
    if (scale != 1.0) {
        p->rw = py_round(w * scale);
        p->rh = py_round(h * scale);
    }
    p->fw = p->rw;
    p->fh = p->rh;
    if (o->resize_mode == CS_IMAGE_RESIZE_CENTER_CROP) {
        /* albumentations' center_crop: (size - crop) // 2 */
        p->post = CS__POST_CROP;
        p->fw = p->fh = S;
        p->crop_x = (p->rw - S) / 2;
        p->crop_y = (p->rh - S) / 2;
    } else if (o->resize_mode == CS_IMAGE_RESIZE_BORDER) {
        /* albumentations' pad, centred: int((S - size) / 2.0) before */
        p->post = CS__POST_PAD;
        p->fw = p->fh = S;
        p->pad_x = (S - p->rw) / 2;
        p->pad_y = (S - p->rh) / 2;
    }
    return true;
}

bool cs_image_target_size(const cs_image_opts *opts, int w, int h, int *rw, int *rh, int *fw,
                          int *fh)
{
    cs_image_opts d;
    if (!opts) {
        cs_image_opts_init(&d);
        opts = &d;
    }
    cs__image_plan p;
    if (!make_plan(opts, w, h, &p))
        return false;
    *rw = p.rw;
    *rh = p.rh;
    *fw = p.fw;
    *fh = p.fh;
    return true;
}

/* ---- shared with jpeg.c ---------------------------------------------------- */

static cs_status reason_status(cs_image_reason r)
{
    switch (r) {
    case CS_IMAGE_OK:
        return CS_OK;
    case CS_IMAGE_TOO_MANY_PIXELS:
        return CS_ETOOBIG;
    case CS_IMAGE_HASH_MISMATCH:
        return CS_EDIGEST;
    case CS_IMAGE_ENCODE:
        return CS_EIO;
    case CS_IMAGE_UNSUPPORTED:
        return CS_EUNSUPPORTED;
    default:
        return CS_EFORMAT;
    }
}

cs_status cs__image_fail(cs__image_job *j, cs_image_reason r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->out->errmsg, sizeof j->out->errmsg, fmt, ap);
    va_end(ap);
    j->out->reason = r;
    return reason_status(r);
}

cs_status cs__image_check(cs__image_job *j, int W, int H, int orient, cs__image_plan *p)
{
    const cs_image_opts *o = j->o;
    cs_image_result *out = j->out;
    if (W < 1 || H < 1)
        return cs__image_fail(j, CS_IMAGE_DECODE, "%s: empty image (%dx%d)",
                              out->source_format, W, H);
    uint64_t pixels = (uint64_t)W * (uint64_t)H;
    if (o->max_pixels && pixels > o->max_pixels)
        return cs__image_fail(j, CS_IMAGE_TOO_MANY_PIXELS, "%dx%d = %llu pixels, more than %llu",
                              W, H, (unsigned long long)pixels,
                              (unsigned long long)o->max_pixels);
    bool swap = orient >= 5 && orient <= 8;
    int ow = swap ? H : W, oh = swap ? W : H;
    out->original_width = ow;
    out->original_height = oh;
    /* img2dataset's filters, in its order, on the original size */
    int small = ow < oh ? ow : oh, large = ow < oh ? oh : ow;
    if (small < o->min_image_size)
        return cs__image_fail(j, CS_IMAGE_TOO_SMALL, "%dx%d: smaller side below %d", ow, oh,
                              o->min_image_size);
    if (o->max_aspect_ratio > 0 && (double)large / small > o->max_aspect_ratio)
        return cs__image_fail(j, CS_IMAGE_BAD_ASPECT_RATIO, "%dx%d: aspect ratio %.3g above %.3g",
                              ow, oh, (double)large / small, o->max_aspect_ratio);
    make_plan(o, ow, oh, p);
    /* keep_ratio on a 1 x 100000 image would make 256 x 25,600,000 */
    if (o->max_pixels && (uint64_t)p->rw * (uint64_t)p->rh > o->max_pixels)
        return cs__image_fail(j, CS_IMAGE_TOO_MANY_PIXELS,
                              "%dx%d resized to %dx%d: more than %llu pixels", ow, oh, p->rw,
                              p->rh, (unsigned long long)o->max_pixels);
    /* the encoders' own limits: refuse before decoding, not after */
    int limit = o->format == CS_IMAGE_JPG ? 65500 : o->format == CS_IMAGE_WEBP ? 16383 : 0;
    if (limit && (p->fw > limit || p->fh > limit))
        return cs__image_fail(j, CS_IMAGE_ENCODE, "%dx%d output: %s allows at most %d a side",
                              p->fw, p->fh, cs_image_format_ext(o->format), limit);
    if (j->tm)
        j->tm->header = cs_now() - j->t0;
    return CS_OK;
}

bool cs__image_passthrough(const cs__image_job *j, bool same_format, int orient, int W, int H,
                           bool alpha, const cs__image_plan *p)
{
    return j->o->skip_reencode && same_format && orient == 1 && p->rw == W && p->rh == H &&
           p->post == CS__POST_NONE && !alpha;
}

cs_status cs__image_output_input(cs__image_job *j, int w, int h)
{
    cs_image_result *out = j->out;
    out->data = cs_malloc(j->len ? j->len : 1);
    if (!out->data) {
        cs__image_fail(j, CS_IMAGE_ENCODE, "out of memory for %zu bytes", j->len);
        return CS_ENOMEM;
    }
    memcpy(out->data, j->data, j->len);
    out->len = j->len;
    out->width = w;
    out->height = h;
    return CS_OK;
}

/* Last non-empty line of libvips' error text (the most specific one), which
 * is then cleared. */
static void vips_detail(char *buf, size_t cap)
{
    static const char none[] = "corrupt or truncated (no detail from the decoder)";
    char *e = vips_error_buffer_copy();
    if (e) {
        size_t n = strlen(e);
        while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
            e[--n] = 0;
        char *line = strrchr(e, '\n');
        line = line ? line + 1 : e;
        snprintf(buf, cap, "%s", *line ? line : none);
        g_free(e);
    } else {
        snprintf(buf, cap, "%s", none);
    }
}

static cs_status fail_vips(cs__image_job *j, cs_image_reason r, const char *what)
{
    char d[CS_ERRMSG_MAX];
    vips_detail(d, sizeof d);
    return cs__image_fail(j, r, "%s: %s", what, d);
}

/* Hands an encoder's g_malloc'd buffer over to j->out (as cs_malloc'd). */
static cs_status take_output(cs__image_job *j, void *buf, size_t len, int w, int h)
{
    j->out->data = cs_malloc(len ? len : 1);
    if (!j->out->data) {
        g_free(buf);
        cs__image_fail(j, CS_IMAGE_ENCODE, "out of memory for %zu bytes of output", len);
        return CS_ENOMEM;
    }
    memcpy(j->out->data, buf, len);
    j->out->len = len;
    j->out->width = w;
    j->out->height = h;
    g_free(buf);
    return CS_OK;
}

/* Encodes an 8-bit 1- or 3-band image with libvips. */
static cs_status encode_vips(cs__image_job *j, VipsImage *in)
{
    const cs_image_opts *o = j->o;
    void *buf = NULL;
    size_t len = 0;
    int q = o->quality;
    int rc;
    switch (o->format) {
    case CS_IMAGE_PNG:
        rc = vips_pngsave_buffer(in, &buf, &len, "compression", q < 0 ? 6 : q, "strip", TRUE,
                                 NULL);
        break;
    case CS_IMAGE_WEBP:
        rc = vips_webpsave_buffer(in, &buf, &len, "Q", q < 0 ? 95 : q > 100 ? 100 : q,
                                  "lossless", q > 100, "strip", TRUE, NULL);
        break;
    default:
        /* 4:2:0 as OpenCV/libjpeg write it (libvips would keep full chroma
         * from Q 90 up: bigger and slower), no optimised Huffman tables. */
        rc = vips_jpegsave_buffer(in, &buf, &len, "Q", q < 0 ? 95 : q, "strip", TRUE,
                                  "subsample_mode", VIPS_FOREIGN_SUBSAMPLE_ON, NULL);
        break;
    }
    if (rc || !buf) {
        g_free(buf);
        return fail_vips(j, CS_IMAGE_ENCODE, cs_image_format_ext(o->format));
    }
    return take_output(j, buf, len, in->Xsize, in->Ysize);
}

cs_status cs__image_encode_pixels(cs__image_job *j, const uint8_t *px, int w, int h, int bands)
{
    VipsImage *im =
        vips_image_new_from_memory(px, (size_t)w * h * bands, w, h, bands, VIPS_FORMAT_UCHAR);
    if (!im)
        return fail_vips(j, CS_IMAGE_ENCODE, "wrap pixels");
    im->Type = bands == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    cs_status st = encode_vips(j, im);
    g_object_unref(im);
    return st;
}

/* ---- the libvips path -------------------------------------------------------- */

#define MAX_IMAGES 16

typedef struct vjob {
    cs__image_job *j;
    VipsImage *im[MAX_IMAGES]; /* every image made, unref'd at the end */
    int nim;
    src_kind kind;   /* sniffed format */
    const char *fmt; /* its name */
} vjob;

static void vjob_cleanup(vjob *v)
{
    for (int i = v->nim - 1; i >= 0; i--)
        g_object_unref(v->im[i]);
    v->nim = 0;
}

/* Takes ownership of im (NULL allowed); false when NULL or the table is full. */
static bool keep(vjob *v, VipsImage *im)
{
    if (!im)
        return false;
    if (v->nim == MAX_IMAGES) {
        g_object_unref(im);
        vips_error("crawlset", "image table full");
        return false;
    }
    v->im[v->nim++] = im;
    return true;
}

/* Largest DCT scale-down (8, 4, 2) that leaves at least min_residual times the
 * target on both axes; 1 when none does. libvips 8.14 sizes a shrunk JPEG as
 * w / s and aborts (g_assert) on a 0 side, so s never exceeds either side
 * (found by fuzz_image: a 4 x 768 JPEG at shrink 8). */
static int jpeg_shrink(int w, int h, int tw, int th, double min_residual)
{
    if (min_residual <= 0)
        return 1;
    for (int s = 8; s >= 2; s /= 2) {
        int dw = (w + s - 1) / s, dh = (h + s - 1) / s;
        if (w / s >= 1 && h / s >= 1 && dw >= tw * min_residual && dh >= th * min_residual)
            return s;
    }
    return 1;
}

/* The largest shrink libvips can take for a decode-only check. */
static int jpeg_max_shrink(int w, int h)
{
    int s = 8;
    while (s > 1 && (w / s < 1 || h / s < 1))
        s /= 2;
    return s;
}

static VipsArrayDouble *white(int bands)
{
    double v[4] = {255, 255, 255, 255};
    return vips_array_double_new(v, bands > 4 ? 4 : bands);
}

/* Colour to 8-bit sRGB (3 bands) or grey (1 band), alpha flattened on white:
 * what every encoder is given. */
static cs_status to_srgb8(vjob *v, VipsImage **inout)
{
    cs__image_job *j = v->j;
    VipsImage *in = *inout, *t = NULL;
    bool done_icc = false;
    if (j->o->keep_icc && vips_image_get_typeof(in, VIPS_META_ICC_NAME)) {
        if (vips_icc_transform(in, &t, "srgb", "embedded", TRUE, "depth", 8, NULL) == 0) {
            if (!keep(v, t))
                return fail_vips(j, CS_IMAGE_DECODE, "ICC transform");
            in = t;
            done_icc = true;
        } else {
            char d[CS_ERRMSG_MAX];
            vips_detail(d, sizeof d); /* a broken profile: carry on without it */
            cs_log(CS_LOG_DEBUG, "image: ICC transform skipped: %s", d);
        }
    }
    VipsInterpretation want =
        in->Bands >= 3 || in->Type == VIPS_INTERPRETATION_CMYK ? VIPS_INTERPRETATION_sRGB
                                                                : VIPS_INTERPRETATION_B_W;
    if (!done_icc || in->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(in, &t, want, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_UNSUPPORTED, "colour conversion");
        in = t;
    }
    if (in->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_cast(in, &t, VIPS_FORMAT_UCHAR, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_UNSUPPORTED, "8-bit conversion");
        in = t;
    }
    int colour = want == VIPS_INTERPRETATION_sRGB ? 3 : 1;
    if (in->Bands > colour && vips_image_hasalpha(in)) {
        /* img2dataset: alpha / 255 * rgb + 255 - alpha */
        VipsArrayDouble *bg = white(colour);
        int rc = vips_flatten(in, &t, "background", bg, "max_alpha", 255.0, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (rc || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "alpha flatten");
        in = t;
        if (in->BandFmt != VIPS_FORMAT_UCHAR) {
            if (vips_cast(in, &t, VIPS_FORMAT_UCHAR, NULL) || !keep(v, t))
                return fail_vips(j, CS_IMAGE_DECODE, "8-bit conversion");
            in = t;
        }
    }
    if (in->Bands > colour) {
        if (vips_extract_band(in, &t, 0, "n", colour, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "band extraction");
        in = t;
    } else if (in->Bands < colour) {
        if (vips_bandjoin_const1(in, &t, 0, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "band join");
        in = t;
    }
    *inout = in;
    return CS_OK;
}

/* Sniffs, checks the format is one we decode (PNG cleaned of text chunks into
 * *copy), and opens its header. */
static cs_status open_input(vjob *v, VipsImage **hdr, uint8_t **copy)
{
    cs__image_job *j = v->j;
    *hdr = NULL;
    sniffed sn = sniff(j->data, j->len);
    v->kind = sn.kind;
    v->fmt = sn.name;
    j->out->source_format = sn.name;
    if (sn.kind == SRC_NONE) {
        char start[80];
        show_start(j->data, j->len, start, sizeof start);
        return cs__image_fail(j, CS_IMAGE_DECODE, "not an image (starts with \"%s\")", start);
    }
    if (sn.kind == SRC_REFUSED)
        return cs__image_fail(j, CS_IMAGE_UNSUPPORTED, "%s images are not accepted", sn.name);
    if (sn.kind == SRC_PNG) {
        size_t n = 0;
        if (png_without_text(j->data, j->len, copy, &n) != CS_OK) {
            cs__image_fail(j, CS_IMAGE_DECODE, "out of memory");
            return CS_ENOMEM;
        }
        if (*copy) {
            j->data = *copy;
            j->len = n;
        }
    }
    VipsImage *im = open_header(sn.kind, j->data, j->len);
    if (!keep(v, im)) {
        char d[CS_ERRMSG_MAX];
        vips_detail(d, sizeof d);
        return cs__image_fail(j, CS_IMAGE_DECODE, "%s: bad header: %s", sn.name, d);
    }
    *hdr = im;
    return CS_OK;
}

static cs_status run_vips(vjob *v, VipsImage *hdr)
{
    cs__image_job *j = v->j;
    cs_image_result *out = j->out;
    int W = hdr->Xsize, H = hdr->Ysize;
    int orient = vips_image_get_orientation(hdr);
    bool swap = orient >= 5 && orient <= 8;
    cs__image_plan p;
    cs_status st = cs__image_check(j, W, H, orient, &p);
    if (st)
        return st;
    int tw = swap ? p.rh : p.rw, th = swap ? p.rw : p.rh; /* target before rotation */
    bool same_format = (v->kind == SRC_JPEG && j->o->format == CS_IMAGE_JPG) ||
                       (v->kind == SRC_PNG && j->o->format == CS_IMAGE_PNG) ||
                       (v->kind == SRC_WEBP && j->o->format == CS_IMAGE_WEBP);
    /* img2dataset's skip_reencode: the bytes are already what we would write.
     * They are still decoded (at the smallest scale) to refuse broken ones. */
    bool passthrough = cs__image_passthrough(j, same_format, orient, W, H,
                                             vips_image_hasalpha(hdr), &p) &&
                       hdr->Type != VIPS_INTERPRETATION_CMYK;

    /* decode, at a reduced scale where the format allows */
    double t1 = cs_now();
    VipsImage *in = hdr, *t = NULL;
    if (v->kind == SRC_JPEG && (passthrough || (tw < W && th < H))) {
        int s = passthrough ? jpeg_max_shrink(W, H)
                            : jpeg_shrink(W, H, tw, th, j->tune->jpeg_min_residual);
        if (s > 1) {
            if (vips_jpegload_buffer((void *)j->data, j->len, &t, "shrink", s, "access",
                                     VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED,
                                     NULL) ||
                !keep(v, t))
                return fail_vips(j, CS_IMAGE_DECODE, "jpeg");
            in = t;
        }
    } else if (v->kind == SRC_WEBP && !passthrough && tw < W && th < H &&
               j->tune->webp_min_residual > 0 && vips_image_get_n_pages(hdr) == 1) {
        double sx = (double)tw / W, sy = (double)th / H;
        double scale = (sx > sy ? sx : sy) * j->tune->webp_min_residual;
        /* never let libvips round a side to 0 (it would abort) */
        if (scale < 1.0 && W * scale >= 2 && H * scale >= 2) {
            if (vips_webpload_buffer((void *)j->data, j->len, &t, "scale", scale, "access",
                                     VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED,
                                     NULL) ||
                !keep(v, t))
                return fail_vips(j, CS_IMAGE_DECODE, "webp");
            in = t;
        }
    }
    if (passthrough) {
        double avg;
        if (vips_avg(in, &avg, NULL))
            return fail_vips(j, CS_IMAGE_DECODE, v->fmt);
        if (j->tm)
            j->tm->pixels = cs_now() - t1;
        return cs__image_output_input(j, out->original_width, out->original_height);
    }
    st = to_srgb8(v, &in);
    if (st)
        return st;
    if (j->tune->stop == CS__IMAGE_STOP_DECODE) {
        if (!keep(v, vips_image_copy_memory(in)))
            return fail_vips(j, CS_IMAGE_DECODE, v->fmt);
        if (j->tm)
            j->tm->pixels = cs_now() - t1;
        return CS_OK;
    }

    /* resize to the exact size img2dataset computes */
    if (in->Xsize != tw || in->Ysize != th) {
        double hs = (double)tw / in->Xsize, vs = (double)th / in->Ysize;
        int kernel = hs < 1 || vs < 1 ? (j->tune->kernel >= 0 ? j->tune->kernel
                                                               : VIPS_KERNEL_LINEAR)
                                      : VIPS_KERNEL_LANCZOS3; /* img2dataset: lanczos up */
        if (vips_resize(in, &t, hs, "vscale", vs, "kernel", kernel, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "resize");
        in = t;
        /* libvips rounds its output size itself; make sure it is ours */
        if (in->Xsize != tw || in->Ysize != th) {
            if (vips_gravity(in, &t, VIPS_COMPASS_DIRECTION_CENTRE, tw, th, "extend",
                             VIPS_EXTEND_COPY, NULL) ||
                !keep(v, t))
                return fail_vips(j, CS_IMAGE_DECODE, "resize");
            in = t;
        }
    }

    /* EXIF orientation, on the small image (needs it whole in memory) */
    if (orient != 1) {
        VipsImage *m = vips_image_copy_memory(in);
        if (!keep(v, m))
            return fail_vips(j, CS_IMAGE_DECODE, v->fmt);
        vips_image_set_int(m, VIPS_META_ORIENTATION, orient);
        if (vips_autorot(m, &t, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "rotate");
        in = t;
    }

    /* center_crop or border */
    if (p.post == CS__POST_CROP) {
        if (vips_extract_area(in, &t, p.crop_x, p.crop_y, p.fw, p.fh, NULL) || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "crop");
        in = t;
    } else if (p.post == CS__POST_PAD) {
        VipsArrayDouble *bg = white(in->Bands);
        int rc = vips_embed(in, &t, p.pad_x, p.pad_y, p.fw, p.fh, "extend",
                            VIPS_EXTEND_BACKGROUND, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (rc || !keep(v, t))
            return fail_vips(j, CS_IMAGE_DECODE, "pad");
        in = t;
    }

    /* pixels into memory: any decode error shows up here, not in the encoder */
    VipsImage *final = vips_image_copy_memory(in);
    if (!keep(v, final))
        return fail_vips(j, CS_IMAGE_DECODE, v->fmt);
    if (final->Xsize != p.fw || final->Ysize != p.fh)
        return cs__image_fail(j, CS_IMAGE_DECODE, "internal: made %dx%d, planned %dx%d",
                              final->Xsize, final->Ysize, p.fw, p.fh);
    double t2 = cs_now();
    if (j->tm)
        j->tm->pixels = t2 - t1;
    if (j->tune->stop == CS__IMAGE_STOP_RESIZE)
        return CS_OK;

    st = encode_vips(j, final);
    if (j->tm)
        j->tm->encode = cs_now() - t2;
    return st;
}

/* ---- entry points ------------------------------------------------------------ */

static void hex_sha256(const uint8_t *data, size_t len, char out[65])
{
    static const char hx[] = "0123456789abcdef";
    cs_digest d;
    uint8_t v[64];
    size_t n = 0;
    out[0] = 0;
    if (cs_digest_init(&d, CS_DIGEST_SHA256) != CS_OK)
        return;
    cs_digest_update(&d, data, len);
    cs_digest_final(&d, v, &n);
    cs_digest_cleanup(&d);
    if (n > 32)
        n = 32;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[v[i] >> 4];
        out[2 * i + 1] = hx[v[i] & 15];
    }
    out[2 * n] = 0;
}

static bool hex_eq(const char *got, const char *want)
{
    if (strlen(want) != 64 || strlen(got) != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char c = want[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (c != got[i])
            return false;
    }
    return true;
}

static const char *check_opts(const cs_image_opts *o)
{
    if (o->image_size < 1 || o->image_size > VIPS_MAX_COORD)
        return "image_size out of range";
    if ((unsigned)o->resize_mode > CS_IMAGE_RESIZE_CENTER_CROP)
        return "unknown resize mode";
    if ((unsigned)o->format > CS_IMAGE_WEBP)
        return "unknown output format";
    if (o->min_image_size < 0)
        return "min_image_size is negative";
    if (!(o->max_aspect_ratio >= 0))
        return "max_aspect_ratio is negative or NaN";
    if (o->quality != -1) {
        if (o->format == CS_IMAGE_PNG && (o->quality < 0 || o->quality > 9))
            return "PNG quality is a compression level, 0 to 9";
        if (o->format == CS_IMAGE_JPG && (o->quality < 1 || o->quality > 100))
            return "JPEG quality is 1 to 100";
        if (o->format == CS_IMAGE_WEBP && (o->quality < 1 || o->quality > 101))
            return "WebP quality is 1 to 100, or 101 for lossless";
    }
    return NULL;
}

cs_status cs__image_process_ex(const void *data, size_t len, const cs_image_opts *opts,
                               const char *expected_sha256, const cs__image_tuning *tuning,
                               cs__image_timings *timings, cs_image_result *out)
{
    if (!out)
        return CS_EINVAL;
    memset(out, 0, sizeof *out);
    if (timings)
        memset(timings, 0, sizeof *timings);
    cs_image_opts dflt;
    if (!opts) {
        cs_image_opts_init(&dflt);
        opts = &dflt;
    }
    cs__image_tuning tdflt;
    if (!tuning) {
        cs__image_tuning_init(&tdflt);
        tuning = &tdflt;
    }
    cs__image_job j = {.data = data, .len = len, .o = opts, .tune = tuning, .out = out,
                       .tm = timings};
    if (!data && len) {
        cs__image_fail(&j, CS_IMAGE_UNSUPPORTED, "invalid arguments: no data");
        return CS_EINVAL;
    }
    const char *bad = check_opts(opts);
    if (bad) {
        cs__image_fail(&j, CS_IMAGE_UNSUPPORTED, "invalid options: %s", bad);
        return CS_EINVAL;
    }

    double t0 = cs_now();
    hex_sha256(data ? data : (const void *)"", len, out->sha256);
    if (expected_sha256 && !hex_eq(out->sha256, expected_sha256)) {
        if (strlen(expected_sha256) != 64)
            return cs__image_fail(&j, CS_IMAGE_HASH_MISMATCH,
                                  "expected sha256 \"%.70s\" is not 64 hex digits",
                                  expected_sha256);
        return cs__image_fail(&j, CS_IMAGE_HASH_MISMATCH, "sha256 %s, expected %.64s",
                              out->sha256, expected_sha256);
    }
    if (timings)
        timings->hash = cs_now() - t0;
    if (len == 0)
        return cs__image_fail(&j, CS_IMAGE_DECODE, "empty input");
    if (cs_image_global_init() != CS_OK)
        return cs__image_fail(&j, CS_IMAGE_UNSUPPORTED, "libvips could not start");
    j.t0 = cs_now();

    cs_status st;
    bool jpeg = sniff(j.data, j.len).kind == SRC_JPEG;
    if (jpeg)
        out->source_format = "jpeg";
    if (jpeg && cs__jpeg_direct(&j, &st)) {
        if (timings)
            timings->direct = true;
    } else {
        /* a failed fast path may have left partial results: start clean */
        char keep_sha[65];
        memcpy(keep_sha, out->sha256, sizeof keep_sha);
        cs_free(out->data);
        memset(out, 0, sizeof *out);
        memcpy(out->sha256, keep_sha, sizeof keep_sha);
        vjob v = {.j = &j};
        uint8_t *copy = NULL;
        VipsImage *hdr;
        st = open_input(&v, &hdr, &copy);
        if (st == CS_OK)
            st = run_vips(&v, hdr);
        vjob_cleanup(&v);
        cs_free(copy); /* after the images: they read from it */
    }
    if (st == CS_OK) {
        out->reason = CS_IMAGE_OK;
        out->errmsg[0] = 0;
        vips_error_clear(); /* warnings libvips left behind for this image */
    } else {
        cs_free(out->data);
        out->data = NULL;
        out->len = 0;
        out->width = out->height = 0;
    }
    return st;
}

cs_status cs_image_process(const void *data, size_t len, const cs_image_opts *opts,
                           const char *expected_sha256, cs_image_result *out)
{
    return cs__image_process_ex(data, len, opts, expected_sha256, NULL, NULL, out);
}

cs_status cs_image_probe(const void *data, size_t len, cs_image_result *out)
{
    if (!out)
        return CS_EINVAL;
    memset(out, 0, sizeof *out);
    cs_image_opts o;
    cs_image_opts_init(&o);
    cs__image_job j = {.data = data, .len = len, .o = &o, .out = out};
    if (!data || !len)
        return cs__image_fail(&j, CS_IMAGE_DECODE, "empty input");
    if (cs_image_global_init() != CS_OK)
        return cs__image_fail(&j, CS_IMAGE_UNSUPPORTED, "libvips could not start");
    vjob v = {.j = &j};
    uint8_t *copy = NULL;
    VipsImage *hdr;
    cs_status st = open_input(&v, &hdr, &copy);
    if (st == CS_OK) {
        bool swap = vips_image_get_orientation_swap(hdr);
        out->original_width = out->width = swap ? hdr->Ysize : hdr->Xsize;
        out->original_height = out->height = swap ? hdr->Xsize : hdr->Ysize;
        vips_error_clear();
    }
    vjob_cleanup(&v);
    cs_free(copy);
    return st;
}
