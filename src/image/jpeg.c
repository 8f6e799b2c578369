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

/* Shrinking an axis from n to m (m <= n) by area: input sample k covers
 * [k, k+1), output sample i covers [i*n/m, (i+1)*n/m); each input sample
 * meets at most two outputs, o[k] with weight w0[k] and o[k]+1 with w1[k]
 * (weights are overlap / (n/m), so every output's weights sum to 1). */
typedef struct axis {
    int *o;
    float *w0, *w1;
} axis;

static bool axis_init(axis *a, int n, int m)
{
    a->o = cs_malloc((size_t)n * sizeof(int));
    a->w0 = cs_malloc((size_t)n * sizeof(float));
    a->w1 = cs_malloc((size_t)n * sizeof(float));
    if (!a->o || !a->w0 || !a->w1)
        return false;
    double s = (double)n / m;
    for (int k = 0; k < n; k++) {
        int o = (int)((double)k / s);
        if (o >= m)
            o = m - 1;
        double edge = (o + 1) * s; /* where output o ends, in input units */
        if (edge < k + 1 && o + 1 < m) {
            a->o[k] = o;
            a->w0[k] = (float)((edge - k) / s);
            a->w1[k] = (float)((k + 1 - edge) / s);
        } else {
            a->o[k] = o;
            a->w0[k] = (float)(1.0 / s);
            a->w1[k] = 0;
        }
    }
    return true;
}

static void axis_cleanup(axis *a)
{
    cs_free(a->o);
    cs_free(a->w0);
    cs_free(a->w1);
    memset(a, 0, sizeof *a);
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
    axis ax, ay;
    uint8_t *rows;   /* decoded scanlines (a few at a time) */
    float *hrow;     /* one input row resampled across */
    float *acc;      /* output rows being accumulated */
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
    axis_cleanup(&f->ax);
    axis_cleanup(&f->ay);
    cs_free(f->rows);
    cs_free(f->hrow);
    cs_free(f->acc);
    cs_free(f->small);
    cs_free(f->upright);
    cs_free(f->final);
    cs_free(f->dest.buf);
}

/* Decodes every scanline (scaled as set up) into f->small at tw x th, area
 * resampling when the decoded size is larger. */
static bool decode_resize(fast *f, int tw, int th, int nc, bool keep_pixels)
{
    struct jpeg_decompress_struct *dc = &f->dc;
    int w = (int)dc->output_width, h = (int)dc->output_height;
    int batch = dc->rec_outbuf_height > 0 ? dc->rec_outbuf_height : 1;
    size_t stride = (size_t)w * nc;
    f->rows = cs_malloc(stride * batch);
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
    if (w == tw && h == th) {
        while (dc->output_scanline < dc->output_height) {
            JDIMENSION y = dc->output_scanline;
            JDIMENSION got = jpeg_read_scanlines(dc, ptrs, (JDIMENSION)batch);
            for (JDIMENSION i = 0; i < got; i++)
                memcpy(f->small + (y + i) * out_stride, ptrs[i], stride);
        }
        return true;
    }
    if (!axis_init(&f->ax, w, tw) || !axis_init(&f->ay, h, th))
        return false;
    f->hrow = cs_malloc(out_stride * sizeof(float));
    f->acc = cs_calloc(out_stride * 2, sizeof(float)); /* rows oy and oy + 1 */
    if (!f->hrow || !f->acc)
        return false;
    const int *xo = f->ax.o;
    const float *xw0 = f->ax.w0, *xw1 = f->ax.w1;
    int cur = 0; /* output row held in acc[0] */
    while (dc->output_scanline < dc->output_height) {
        JDIMENSION y0 = dc->output_scanline;
        JDIMENSION got = jpeg_read_scanlines(dc, ptrs, (JDIMENSION)batch);
        for (JDIMENSION i = 0; i < got; i++) {
            int y = (int)(y0 + i);
            const uint8_t *src = ptrs[i];
            float *hr = f->hrow;
            memset(hr, 0, out_stride * sizeof(float));
            if (nc == 3) {
                for (int x = 0; x < w; x++) {
                    float a = xw0[x], b = xw1[x];
                    float *q = hr + (size_t)xo[x] * 3;
                    const uint8_t *p = src + (size_t)x * 3;
                    q[0] += a * p[0];
                    q[1] += a * p[1];
                    q[2] += a * p[2];
                    if (b != 0) {
                        q[3] += b * p[0];
                        q[4] += b * p[1];
                        q[5] += b * p[2];
                    }
                }
            } else {
                for (int x = 0; x < w; x++) {
                    hr[xo[x]] += xw0[x] * src[x];
                    if (xw1[x] != 0)
                        hr[xo[x] + 1] += xw1[x] * src[x];
                }
            }
            int oy = f->ay.o[y];
            while (cur < oy) { /* output row cur is complete */
                uint8_t *d = f->small + (size_t)cur * out_stride;
                for (size_t k = 0; k < out_stride; k++) {
                    float v = f->acc[k] + 0.5f;
                    d[k] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
                }
                memmove(f->acc, f->acc + out_stride, out_stride * sizeof(float));
                memset(f->acc + out_stride, 0, out_stride * sizeof(float));
                cur++;
            }
            float a = f->ay.w0[y], b = f->ay.w1[y];
            float *r0 = f->acc, *r1 = f->acc + out_stride;
            for (size_t k = 0; k < out_stride; k++)
                r0[k] += a * hr[k];
            if (b != 0)
                for (size_t k = 0; k < out_stride; k++)
                    r1[k] += b * hr[k];
        }
    }
    for (; cur < th; cur++) { /* the last row (and any the input did not reach) */
        uint8_t *d = f->small + (size_t)cur * out_stride;
        for (size_t k = 0; k < out_stride; k++) {
            float v = f->acc[k] + 0.5f;
            d[k] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
        memmove(f->acc, f->acc + out_stride, out_stride * sizeof(float));
        memset(f->acc + out_stride, 0, out_stride * sizeof(float));
    }
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
