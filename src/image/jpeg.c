/* jpeg.c - the fast path for JPEG input: libjpeg(-turbo) called directly.
 *
 * Why not libvips here, when image.c already does all of this with it:
 * speed, measured (bench/image.sh, 300-1500 px noisy JPEGs to 256 px border,
 * JPEG q95). Through libvips each image pays a fixed ~0.8 ms of framework
 * (GObject operations, regions, a worker-thread handoff per sink: measured on
 * 16x16 images) and its reduce kernels on top of the entropy decoding, which
 * left it at ~1.3x OpenCV; this file reaches ~2.5x. It does only what the
 * downloader needs for the common case:
 *   - scaled decode: DCT scaling to 1/2, 1/4, 1/8 (or any M/8) of the size,
 *     the largest reduction that stays at or above the target;
 *   - area-average resampling of what is left (OpenCV's INTER_AREA, which
 *     img2dataset uses to shrink), streamed row by row as libjpeg decodes;
 *   - EXIF orientation, center crop or white border, then libjpeg encode
 *     (PNG and WebP output are encoded by libvips from our pixels).
 * Everything else goes back to libvips (returns false): CMYK/YCCK, enlarging
 * (img2dataset uses Lanczos there), ICC conversion when asked.
 * Hostile input: truncation (libjpeg's "Premature end of JPEG file") fails as
 * libvips' fail_on=truncated does; other libjpeg warnings are ignored as
 * there; progressive files with more than MAX_SCANS scans are refused (the
 * known CPU bomb); the pixel limit is checked from the header before
 * jpeg_start_decompress allocates anything. libjpeg reports errors by
 * longjmp: all state lives in a struct reached through a pointer that does
 * not change after setjmp. */
#include <math.h>
#include <setjmp.h>
#include <string.h>

#include "image_int.h"

#ifndef CS_HAVE_LIBJPEG

bool cs__jpeg_direct(cs__image_job *j, cs_status *st)
{
    (void)j;
    (void)st;
    return false;
}

bool cs__jpeg_direct_available(void)
{
    return false;
}

#else

#include <stdio.h> /* jpeglib.h needs FILE */

#include <jerror.h>
#include <jpeglib.h>

#define MAX_SCANS 1000 /* libjpeg-turbo's djpeg -maxscans advice: real files have < 100 */

typedef struct err_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 32];
    bool encoding; /* the failure came from the encoder */
} err_mgr;

static void on_error_exit(j_common_ptr c)
{
    err_mgr *e = (err_mgr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

static void on_emit_message(j_common_ptr c, int level)
{
    if (level >= 0)
        return; /* trace messages */
    if (c->err->msg_code == JWRN_JPEG_EOF) {
        err_mgr *e = (err_mgr *)c->err;
        c->err->format_message(c, e->msg);
        longjmp(e->jb, 1); /* truncated: refused, as libvips' fail_on=truncated */
    }
    c->err->num_warnings++;
}

static void on_output_message(j_common_ptr c)
{
    (void)c; /* the library never prints */
}

static void on_progress(j_common_ptr c)
{
    if (c->is_decompressor && ((j_decompress_ptr)c)->input_scan_number > MAX_SCANS) {
        err_mgr *e = (err_mgr *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

/* ---- EXIF orientation ---------------------------------------------------------- */

static unsigned rd16(const uint8_t *p, bool le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, bool le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Orientation tag (0x0112) of IFD0 in an APP1 "Exif" payload; 1 when absent
 * or unreadable (as libexif, which libvips uses, reads a broken one). */
static int exif_orientation(const uint8_t *p, size_t n)
{
    if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0)
        return 1;
    p += 6;
    n -= 6;
    bool le;
    if (p[0] == 'I' && p[1] == 'I')
        le = true;
    else if (p[0] == 'M' && p[1] == 'M')
        le = false;
    else
        return 1;
    if (rd16(p + 2, le) != 42)
        return 1;
    uint32_t ifd = rd32(p + 4, le);
    if (ifd < 8 || ifd > n - 2)
        return 1;
    unsigned count = rd16(p + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t off = (size_t)ifd + 2 + 12 * (size_t)i;
        if (off + 12 > n)
            break;
        if (rd16(p + off, le) != 0x0112)
            continue;
        if (rd16(p + off + 2, le) != 3 || rd32(p + off + 4, le) < 1) /* SHORT, >= 1 value */
            return 1;
        unsigned v = rd16(p + off + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* ---- area resampling ----------------------------------------------------------- */

/* Shrinking an axis from `in` to `out` samples (out <= in) by area, as
 * OpenCV's INTER_AREA: output i covers [i*s, (i+1)*s) of the input (s =
 * in/out), input k covers [k, k+1), and output i is the overlap-weighted
 * mean. Each output reads n consecutive inputs from start[i] (n = ceil(s)+1
 * taps, trailing weights 0), so the loops below are fixed-length gathers. */
typedef struct taps {
    int n;      /* taps per output */
    int *start; /* first input per output */
    float *w;   /* n weights per output, summing to 1 */
} taps;

static bool taps_init(taps *t, int in, int out)
{
    double s = (double)in / out;
    t->n = (int)ceil(s) + 1;
    t->start = cs_malloc((size_t)out * sizeof(int));
    t->w = cs_malloc((size_t)out * t->n * sizeof(float));
    if (!t->start || !t->w)
        return false;
    for (int i = 0; i < out; i++) {
        double lo = i * s, hi = (i + 1) * s;
        if (hi > in)
            hi = in;
        int k0 = (int)floor(lo);
        if (k0 > in - 1)
            k0 = in - 1;
        t->start[i] = k0;
        for (int k = 0; k < t->n; k++) {
            double a = lo > k0 + k ? lo : k0 + k, b = hi < k0 + k + 1 ? hi : k0 + k + 1;
            t->w[(size_t)i * t->n + k] = b > a ? (float)((b - a) / s) : 0.0f;
        }
    }
    return true;
}

static void taps_cleanup(taps *t)
{
    cs_free(t->start);
    cs_free(t->w);
    memset(t, 0, sizeof *t);
}

/* One input row (w samples of nc bytes, readable n - 1 samples past its end)
 * to tw float samples. */
static void resample_row(const taps *t, const uint8_t *src, int tw, int nc, float *dst)
{
    const int n = t->n;
    if (nc == 3 && n == 3) {
        for (int i = 0; i < tw; i++) {
            const uint8_t *p = src + (size_t)t->start[i] * 3;
            const float *w = t->w + (size_t)i * 3;
            float *q = dst + (size_t)i * 3;
            q[0] = w[0] * p[0] + w[1] * p[3] + w[2] * p[6];
            q[1] = w[0] * p[1] + w[1] * p[4] + w[2] * p[7];
            q[2] = w[0] * p[2] + w[1] * p[5] + w[2] * p[8];
        }
        return;
    }
    for (int i = 0; i < tw; i++) {
        const uint8_t *p = src + (size_t)t->start[i] * nc;
        const float *w = t->w + (size_t)i * n;
        for (int c = 0; c < nc; c++) {
            float v = 0;
            for (int k = 0; k < n; k++)
                v += w[k] * p[k * nc + c];
            dst[(size_t)i * nc + c] = v;
        }
    }
}

/* ---- orientation, crop, pad ----------------------------------------------------- */

/* dst (upright, w' x h') from src (w x h) for EXIF orientation o. */
static void orient_copy(const uint8_t *src, int w, int h, int nc, int o, uint8_t *dst)
{
    int dw = o >= 5 ? h : w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int dx, dy;
            switch (o) {
            case 2: dx = w - 1 - x; dy = y; break;
            case 3: dx = w - 1 - x; dy = h - 1 - y; break;
            case 4: dx = x; dy = h - 1 - y; break;
            case 5: dx = y; dy = x; break;
            case 6: dx = h - 1 - y; dy = x; break;
            case 7: dx = h - 1 - y; dy = w - 1 - x; break;
            case 8: dx = y; dy = w - 1 - x; break;
            default: dx = x; dy = y; break;
            }
            memcpy(dst + ((size_t)dy * dw + dx) * nc, src + ((size_t)y * w + x) * nc,
                   (size_t)nc);
        }
}

/* ---- encoder destination: a growing cs_malloc'd buffer ---------------------------- */

typedef struct dest_mgr {
    struct jpeg_destination_mgr pub;
    uint8_t *buf;
    size_t cap;
    size_t len; /* set by term */
} dest_mgr;

static void dest_init(j_compress_ptr c)
{
    dest_mgr *d = (dest_mgr *)c->dest;
    d->cap = 64 * 1024;
    d->buf = cs_malloc(d->cap);
    if (!d->buf)
        ERREXIT(c, JERR_OUT_OF_MEMORY);
    d->pub.next_output_byte = d->buf;
    d->pub.free_in_buffer = d->cap;
}

static boolean dest_empty(j_compress_ptr c)
{
    dest_mgr *d = (dest_mgr *)c->dest;
    uint8_t *nb = cs_realloc(d->buf, d->cap * 2);
    if (!nb)
        ERREXIT(c, JERR_OUT_OF_MEMORY);
    d->buf = nb;
    d->pub.next_output_byte = nb + d->cap;
    d->pub.free_in_buffer = d->cap;
    d->cap *= 2;
    return TRUE;
}

static void dest_term(j_compress_ptr c)
{
    dest_mgr *d = (dest_mgr *)c->dest;
    d->len = d->cap - d->pub.free_in_buffer;
}

/* ---- the path ----------------------------------------------------------------------- */

typedef struct fast {
    struct jpeg_decompress_struct dc;
    struct jpeg_compress_struct cc;
    bool dc_made, cc_made;
    err_mgr err;
    struct jpeg_progress_mgr progress;
    dest_mgr dest;
    taps tx, ty;
    uint8_t *rows;   /* decoded scanlines (a few at a time) */
    float *ring;     /* the last ty.n input rows, resampled across */
    uint8_t *small;  /* resized, raw orientation */
    uint8_t *upright;
    uint8_t *final;
} fast;

static void fast_cleanup(fast *f)
{
    if (f->dc_made)
        jpeg_destroy_decompress(&f->dc);
    if (f->cc_made)
        jpeg_destroy_compress(&f->cc);
    taps_cleanup(&f->tx);
    taps_cleanup(&f->ty);
    cs_free(f->rows);
    cs_free(f->ring);
    cs_free(f->small);
    cs_free(f->upright);
    cs_free(f->final);
    cs_free(f->dest.buf);
}

/* Output row o of the vertical pass from the ring of resampled rows. */
static void emit_row(fast *f, int o, int h, size_t out_stride)
{
    const int n = f->ty.n;
    const float *w = f->ty.w + (size_t)o * n;
    int y0 = f->ty.start[o];
    uint8_t *d = f->small + (size_t)o * out_stride;
    const float *r[3];
    float wk[3];
    int m = 0;
    for (int k = 0; k < n && y0 + k < h; k++)
        if (w[k] != 0) {
            if (m == 3) {
                m = 4; /* more than three rows: the general loop */
                break;
            }
            r[m] = f->ring + (size_t)((y0 + k) % n) * out_stride;
            wk[m++] = w[k];
        }
    if (m == 1) {
        for (size_t i = 0; i < out_stride; i++) {
            float v = wk[0] * r[0][i] + 0.5f;
            d[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    } else if (m == 2) {
        for (size_t i = 0; i < out_stride; i++) {
            float v = wk[0] * r[0][i] + wk[1] * r[1][i] + 0.5f;
            d[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    } else if (m == 3) {
        for (size_t i = 0; i < out_stride; i++) {
            float v = wk[0] * r[0][i] + wk[1] * r[1][i] + wk[2] * r[2][i] + 0.5f;
            d[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    } else {
        for (size_t i = 0; i < out_stride; i++) {
            float v = 0.5f;
            for (int k = 0; k < n && y0 + k < h; k++)
                v += w[k] * f->ring[(size_t)((y0 + k) % n) * out_stride + i];
            d[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    }
}

/* Decodes every scanline (scaled as set up) into f->small at tw x th, area
 * resampling when the decoded size is larger: each row is resampled across
 * as it arrives, and an output row is made as soon as its last input row is
 * in (memory: a few rows, not the image). */
static bool decode_resize(fast *f, int tw, int th, int nc, bool keep_pixels)
{
    struct jpeg_decompress_struct *dc = &f->dc;
    int w = (int)dc->output_width, h = (int)dc->output_height;
    int batch = dc->rec_outbuf_height > 0 ? dc->rec_outbuf_height : 1;
    bool resample = keep_pixels && (w != tw || h != th);
    if (resample && (!taps_init(&f->tx, w, tw) || !taps_init(&f->ty, h, th)))
        return false;
    /* rows are readable tx.n samples past their end (weight 0 there) */
    size_t stride = (size_t)(w + (resample ? f->tx.n : 0)) * nc;
    f->rows = cs_calloc(stride, (size_t)batch);
    JSAMPROW ptrs[16];
    if (!f->rows || batch > 16)
        return false;
    for (int i = 0; i < batch; i++)
        ptrs[i] = f->rows + stride * i;
    if (!keep_pixels) { /* decode only (skip_reencode check, benchmarks) */
        while (dc->output_scanline < dc->output_height)
            jpeg_read_scanlines(dc, ptrs, (JDIMENSION)batch);
        return true;
    }
    size_t out_stride = (size_t)tw * nc;
    f->small = cs_malloc(out_stride * th);
    if (!f->small)
        return false;
    if (!resample) {
        while (dc->output_scanline < dc->output_height) {
            JDIMENSION y = dc->output_scanline;
            JDIMENSION got = jpeg_read_scanlines(dc, ptrs, (JDIMENSION)batch);
            for (JDIMENSION i = 0; i < got; i++)
                memcpy(f->small + (y + i) * out_stride, ptrs[i], (size_t)w * nc);
        }
        return true;
    }
    f->ring = cs_calloc(out_stride * f->ty.n, sizeof(float));
    if (!f->ring)
        return false;
    int next = 0; /* next output row to make */
    while (dc->output_scanline < dc->output_height) {
        JDIMENSION y0 = dc->output_scanline;
        JDIMENSION got = jpeg_read_scanlines(dc, ptrs, (JDIMENSION)batch);
        for (JDIMENSION i = 0; i < got; i++) {
            int y = (int)(y0 + i);
            resample_row(&f->tx, ptrs[i], tw, nc,
                         f->ring + (size_t)(y % f->ty.n) * out_stride);
            while (next < th) {
                int last = f->ty.start[next] + f->ty.n - 1;
                if (last > h - 1)
                    last = h - 1;
                if (last > y)
                    break;
                emit_row(f, next++, h, out_stride);
            }
        }
    }
    while (next < th) /* only if libjpeg stopped short, which it reports */
        memset(f->small + (size_t)next++ * out_stride, 0, out_stride);
    return true;
}

static bool encode_jpeg(fast *f, const uint8_t *px, int w, int h, int nc, int quality)
{
    struct jpeg_compress_struct *cc = &f->cc;
    f->err.encoding = true;
    cc->err = &f->err.pub;
    jpeg_create_compress(cc);
    f->cc_made = true;
    memset(&f->dest, 0, sizeof f->dest);
    f->dest.pub.init_destination = dest_init;
    f->dest.pub.empty_output_buffer = dest_empty;
    f->dest.pub.term_destination = dest_term;
    cc->dest = &f->dest.pub;
    cc->image_width = (JDIMENSION)w;
    cc->image_height = (JDIMENSION)h;
    cc->input_components = nc;
    cc->in_color_space = nc == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cc); /* 4:2:0, no optimised tables: what OpenCV writes */
    jpeg_set_quality(cc, quality, TRUE);
    jpeg_start_compress(cc, TRUE);
    while (cc->next_scanline < cc->image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)cc->next_scanline * w * nc);
        jpeg_write_scanlines(cc, &r, 1);
    }
    jpeg_finish_compress(cc);
    return true;
}

/* Runs with f zeroed and owned by the caller (cleanup there, also after a
 * longjmp). Returns false to hand the image to libvips. */
static bool run(cs__image_job *j, fast *f, cs_status *st)
{
    struct jpeg_decompress_struct *dc = &f->dc;
    f->err.pub.error_exit = on_error_exit;
    f->err.pub.emit_message = on_emit_message;
    f->err.pub.output_message = on_output_message;
    if (setjmp(f->err.jb)) {
        if (f->err.encoding)
            *st = cs__image_fail(j, CS_IMAGE_ENCODE, "jpg: %s", f->err.msg);
        else
            *st = cs__image_fail(j, CS_IMAGE_DECODE, "jpeg: %s", f->err.msg);
        return true;
    }
    jpeg_std_error(&f->err.pub);
    f->err.pub.error_exit = on_error_exit;
    f->err.pub.emit_message = on_emit_message;
    f->err.pub.output_message = on_output_message;
    dc->err = &f->err.pub;
    jpeg_create_decompress(dc);
    f->dc_made = true;
    f->progress.progress_monitor = on_progress;
    dc->progress = &f->progress;
    jpeg_mem_src(dc, j->data, (unsigned long)j->len);
    jpeg_save_markers(dc, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(dc, TRUE);

    int nc;
    if (dc->num_components == 3 &&
        (dc->jpeg_color_space == JCS_YCbCr || dc->jpeg_color_space == JCS_RGB)) {
        nc = 3;
        dc->out_color_space = JCS_RGB;
    } else if (dc->num_components == 1 && dc->jpeg_color_space == JCS_GRAYSCALE) {
        nc = 1;
        dc->out_color_space = JCS_GRAYSCALE;
    } else {
        return false; /* CMYK, YCCK, odd: libvips knows them */
    }
    int orient = 1;
    for (jpeg_saved_marker_ptr m = dc->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            !memcmp(m->data, "Exif\0\0", 6)) {
            orient = exif_orientation(m->data, m->data_length);
            break;
        }
    int W = (int)dc->image_width, H = (int)dc->image_height;
    cs__image_plan p;
    bool swap = orient >= 5;
    /* enlarging is libvips' job (Lanczos): look before deciding anything */
    {
        cs__image_plan probe;
        int ow = swap ? H : W, oh = swap ? W : H;
        cs_image_opts o = *j->o;
        o.max_pixels = 0;
        o.min_image_size = 0;
        o.max_aspect_ratio = 0;
        cs_image_target_size(&o, ow, oh, &probe.rw, &probe.rh, &probe.fw, &probe.fh);
        if (probe.rw > ow || probe.rh > oh)
            return false;
    }
    *st = cs__image_check(j, W, H, orient, &p);
    if (*st)
        return true;
    int tw = swap ? p.rh : p.rw, th = swap ? p.rw : p.rh; /* before rotation */
    bool passthrough = cs__image_passthrough(j, j->o->format == CS_IMAGE_JPG, orient, W, H,
                                             false, &p);
    bool decode_only = passthrough || j->tune->stop == CS__IMAGE_STOP_DECODE;

    /* the DCT scale: the largest reduction not below the target */
    double t1 = cs_now();
    dc->scale_num = 1;
    dc->scale_denom = 1;
    if (passthrough) {
        dc->scale_denom = 8;
    } else if (tw < W && th < H) {
        if (j->tune->jpeg_eighths) {
            for (int m = 1; m < 8; m++) {
                dc->scale_num = (unsigned)m;
                dc->scale_denom = 8;
                jpeg_calc_output_dimensions(dc);
                if ((int)dc->output_width >= tw && (int)dc->output_height >= th)
                    break;
                dc->scale_num = dc->scale_denom = 1;
            }
        } else {
            for (int s = 8; s >= 2; s /= 2)
                if ((W + s - 1) / s >= tw && (H + s - 1) / s >= th) {
                    dc->scale_denom = (unsigned)s;
                    break;
                }
        }
    }
    jpeg_start_decompress(dc);
    if ((int)dc->output_components != nc) {
        *st = cs__image_fail(j, CS_IMAGE_DECODE, "jpeg: unexpected %d components",
                             dc->output_components);
        return true;
    }
    if (!decode_resize(f, tw, th, nc, !decode_only)) {
        cs__image_fail(j, CS_IMAGE_DECODE, "out of memory");
        *st = CS_ENOMEM;
        return true;
    }
    if (decode_only) {
        if (j->tm)
            j->tm->pixels = cs_now() - t1;
        *st = passthrough ? cs__image_output_input(j, p.fw, p.fh) : CS_OK;
        return true;
    }

    /* upright, then crop or pad */
    const uint8_t *img = f->small;
    if (orient != 1) {
        f->upright = cs_malloc((size_t)tw * th * nc);
        if (!f->upright) {
            cs__image_fail(j, CS_IMAGE_DECODE, "out of memory");
            *st = CS_ENOMEM;
            return true;
        }
        orient_copy(f->small, tw, th, nc, orient, f->upright);
        img = f->upright;
    }
    if (p.post != CS__POST_NONE) {
        size_t fstride = (size_t)p.fw * nc, rstride = (size_t)p.rw * nc;
        f->final = cs_malloc(fstride * p.fh);
        if (!f->final) {
            cs__image_fail(j, CS_IMAGE_DECODE, "out of memory");
            *st = CS_ENOMEM;
            return true;
        }
        if (p.post == CS__POST_CROP) {
            for (int y = 0; y < p.fh; y++)
                memcpy(f->final + y * fstride,
                       img + (size_t)(y + p.crop_y) * rstride + (size_t)p.crop_x * nc, fstride);
        } else {
            memset(f->final, 255, fstride * p.fh); /* img2dataset pads in white */
            for (int y = 0; y < p.rh; y++)
                memcpy(f->final + (size_t)(y + p.pad_y) * fstride + (size_t)p.pad_x * nc,
                       img + (size_t)y * rstride, rstride);
        }
        img = f->final;
    }
    double t2 = cs_now();
    if (j->tm)
        j->tm->pixels = t2 - t1;
    if (j->tune->stop == CS__IMAGE_STOP_RESIZE) {
        *st = CS_OK;
        return true;
    }

    if (j->o->format == CS_IMAGE_JPG) {
        encode_jpeg(f, img, p.fw, p.fh, nc, j->o->quality < 0 ? 95 : j->o->quality);
        j->out->data = f->dest.buf; /* handed over */
        j->out->len = f->dest.len;
        f->dest.buf = NULL;
        j->out->width = p.fw;
        j->out->height = p.fh;
        *st = CS_OK;
    } else {
        *st = cs__image_encode_pixels(j, img, p.fw, p.fh, nc);
    }
    if (j->tm)
        j->tm->encode = cs_now() - t2;
    return true;
}

bool cs__jpeg_direct_available(void)
{
    return true;
}

bool cs__jpeg_direct(cs__image_job *j, cs_status *st)
{
    if (!j->tune->jpeg_direct || j->o->keep_icc)
        return false;
    fast *f = cs_calloc(1, sizeof *f);
    if (!f)
        return false; /* libvips will try, and report */
    bool handled = run(j, f, st);
    fast_cleanup(f);
    cs_free(f);
    return handled;
}

#endif
