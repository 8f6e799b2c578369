/* image_int.h - private parts of the image module: the per-call job shared by
 * the libvips path (image.c) and the libjpeg fast path (jpeg.c), the tuning
 * knobs and per-stage timings behind cs_image_process() for tests and
 * bench/image.sh. Not installed. */
#ifndef CS_IMAGE_INT_H
#define CS_IMAGE_INT_H

#include "crawlset/image.h"

/* Where to stop, so a benchmark can split the time between stages (each stop
 * materialises the image in memory). */
typedef enum cs__image_stop {
    CS__IMAGE_STOP_NONE,   /* the whole thing */
    CS__IMAGE_STOP_DECODE, /* after decode (with shrink-on-load) + colour */
    CS__IMAGE_STOP_RESIZE  /* after resize, rotation, crop or pad */
} cs__image_stop;

typedef struct cs__image_tuning {
    /* libjpeg fast path for JPEG input (when built with CS_HAVE_LIBJPEG):
     * direct scaled decode, area resampling, direct encode. Default true;
     * false = everything through libvips. */
    bool jpeg_direct;
    /* Fast path DCT scaling: true = any M/8 (libjpeg-turbo's scaled IDCTs,
     * scalar), false = 1/2, 1/4, 1/8 only (SIMD IDCTs). Default false. */
    bool jpeg_eighths;
    /* libvips path, JPEG shrink-on-load: decode at 1/s (s = 8, 4, 2) when
     * the image left is at least this many times the target on both axes.
     * 1.0 = largest scale not below the target (default); 2.0 = libvips'
     * vips_thumbnail rule; 0 = never. */
    double jpeg_min_residual;
    /* Same for WebP's scaled decode (any factor); 0 = never. Default 1.0. */
    double webp_min_residual;
    int kernel;          /* libvips path: VipsKernel for shrinking; -1 = linear */
    cs__image_stop stop; /* default NONE */
} cs__image_tuning;

void cs__image_tuning_init(cs__image_tuning *t);

/* Seconds spent per stage by one call (filled when non-NULL). */
typedef struct cs__image_timings {
    double hash;   /* sha256 (+ verify) */
    double header; /* format sniffing + header read + checks */
    double pixels; /* decode + colour + resize + rotate + crop/pad, into memory */
    double encode; /* encoding of the in-memory result */
    bool direct;   /* the libjpeg fast path did it */
} cs__image_timings;

/* cs_image_process() with knobs; tuning and timings may be NULL. */
cs_status cs__image_process_ex(const void *data, size_t len, const cs_image_opts *opts,
                               const char *expected_sha256, const cs__image_tuning *tuning,
                               cs__image_timings *timings, cs_image_result *out);

/* ---- shared by image.c and jpeg.c -------------------------------------------- */

/* What happens to an upright w x h image (img2dataset's arithmetic). */
typedef struct cs__image_plan {
    bool resized;       /* img2dataset's resize branch is taken */
    int rw, rh;         /* size after the resize step */
    int fw, fh;         /* final size */
    int crop_x, crop_y; /* center_crop: top-left of the kept square */
    int pad_x, pad_y;   /* border: where the image sits in the square */
    enum { CS__POST_NONE, CS__POST_CROP, CS__POST_PAD } post;
} cs__image_plan;

typedef struct cs__image_job {
    const uint8_t *data; /* the input (or a cleaned copy of it) */
    size_t len;
    const cs_image_opts *o;
    const cs__image_tuning *tune;
    cs_image_result *out;
    cs__image_timings *tm; /* may be NULL */
    double t0;             /* cs_now() when the header work began */
} cs__image_job;

/* Fills j->out's reason and message; returns the matching cs_status. */
cs_status cs__image_fail(cs__image_job *j, cs_image_reason r, const char *fmt, ...)
    CS_PRINTF(3, 4);

/* Given the raw header size W x H and EXIF orientation (1-8): records the
 * upright original size, applies max_pixels and img2dataset's filters, and
 * plans the sizes. CS_OK or a failure already recorded in j->out. */
cs_status cs__image_check(cs__image_job *j, int W, int H, int orient, cs__image_plan *p);

/* True when skip_reencode may hand the input bytes back unchanged. */
bool cs__image_passthrough(const cs__image_job *j, bool same_format, int orient, int W, int H,
                           bool alpha, const cs__image_plan *p);

/* Copies the input bytes to j->out as the output (passthrough). */
cs_status cs__image_output_input(cs__image_job *j, int w, int h);

/* Encodes 8-bit interleaved pixels (bands 1 or 3, rows packed) as PNG or
 * WebP with libvips into j->out (JPEG output is jpeg.c's own). */
cs_status cs__image_encode_pixels(cs__image_job *j, const uint8_t *px, int w, int h, int bands);

/* Fast path for JPEG input. Returns true when it handled the image (result
 * or failure recorded, *st set); false to leave it to libvips (CMYK, ICC
 * conversion asked, enlarging, or built without CS_HAVE_LIBJPEG). */
bool cs__jpeg_direct(cs__image_job *j, cs_status *st);

/* Whether this build has the fast path (CS_HAVE_LIBJPEG). */
bool cs__jpeg_direct_available(void);

#endif
