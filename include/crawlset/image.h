/* crawlset/image.h - decode, check, resize and re-encode one image from memory.
 *
 * The image step of the downloader, with img2dataset's resizer semantics
 * (resizer.py): the same resize modes, the same size arithmetic (dimensions
 * rounded half-to-even as Python's round()), the same filters on the original
 * size, alpha flattened onto white and borders padded in white as img2dataset
 * does. Built on libvips: the header is read first and the image refused
 * before any pixel is decoded when it is too large; JPEGs are decoded at a
 * reduced DCT scale (1/2, 1/4, 1/8) when the target is small enough, WebP
 * with libwebp's scaled decode. Differences from img2dataset, on purpose: the
 * EXIF orientation is applied (OpenCV's IMREAD_UNCHANGED ignores it), 16-bit
 * images become 8-bit, CMYK becomes sRGB, truncated files are refused
 * (OpenCV fills them with grey), and only the first frame of an animation is
 * used. Formats read: JPEG, PNG, WebP, GIF, TIFF, HEIF/AVIF; recognised but
 * refused (unsupported): BMP, ICO, PSD, PDF, SVG, JPEG 2000, JPEG XL.
 *
 * JPEG input takes a faster path when the library is built with libjpeg
 * (CS_HAVE_LIBJPEG; src/image/jpeg.c says why and what it covers): same
 * results (same sizes, same reasons, pixels close to libvips': PSNR > 30 dB),
 * about twice the speed.
 *
 * Thread-safe: any number of threads may call cs_image_process() at once.
 * Each call runs on the calling thread only (libvips' own worker threads are
 * capped at one per call); parallelism comes from calling it on several
 * threads (see crawlset/pool.h). Nothing is printed: libvips and GLib
 * warnings go to cs_log() at DEBUG level.
 *
 * Depends on: util, warc (sha256 via cs_digest); libvips; libjpeg (optional). */
#ifndef CRAWLSET_IMAGE_H
#define CRAWLSET_IMAGE_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_IMAGE_DEFAULT_MAX_PIXELS 89478484ull /* Pillow's MAX_IMAGE_PIXELS */
#define CS_IMAGE_DEFAULT_SIZE 256

/* Why an image was refused. X(name, description). Names are stable (reports,
 * the downloader's error column). */
#define CS_IMAGE_REASON_MAP(X)                                                            \
    X(OK, "decoded, resized and encoded")                                                 \
    X(DECODE, "not an image, or a truncated or corrupt one")                             \
    X(TOO_MANY_PIXELS, "width x height above max_pixels (checked before decoding)")       \
    X(TOO_SMALL, "smaller side below min_image_size")                                     \
    X(BAD_ASPECT_RATIO, "longer side / shorter side above max_aspect_ratio")              \
    X(HASH_MISMATCH, "sha256 of the bytes differs from the expected one")                 \
    X(ENCODE, "the output could not be encoded")                                          \
    X(UNSUPPORTED, "an image format or option this build does not handle")

typedef enum cs_image_reason {
#define CS__IMG_ENUM(name, msg) CS_IMAGE_##name,
    CS_IMAGE_REASON_MAP(CS__IMG_ENUM)
#undef CS__IMG_ENUM
    CS_IMAGE__REASON_COUNT
} cs_image_reason;

/* "ok", "decode", "too_many_pixels", ... (lower case; never NULL). */
CS_API const char *cs_image_reason_name(cs_image_reason r);
CS_API const char *cs_image_reason_desc(cs_image_reason r);

/* img2dataset's resize modes (S = image_size):
 *   NO                  keep the size
 *   BORDER              longer side to S keeping the ratio, then pad to S x S,
 *                       centred, with white (img2dataset's default mode)
 *   KEEP_RATIO          shorter side to S keeping the ratio
 *   KEEP_RATIO_LARGEST  longer side to S keeping the ratio
 *   CENTER_CROP         shorter side to S, then the centre S x S */
typedef enum cs_image_resize {
    CS_IMAGE_RESIZE_NO,
    CS_IMAGE_RESIZE_BORDER,
    CS_IMAGE_RESIZE_KEEP_RATIO,
    CS_IMAGE_RESIZE_KEEP_RATIO_LARGEST,
    CS_IMAGE_RESIZE_CENTER_CROP
} cs_image_resize;

/* Parses "no", "border", "keep_ratio", "keep_ratio_largest", "center_crop";
 * false on anything else. */
CS_API bool cs_image_resize_parse(const char *s, cs_image_resize *out /* OUT */);
CS_API const char *cs_image_resize_name(cs_image_resize m);

typedef enum cs_image_format {
    CS_IMAGE_JPG,
    CS_IMAGE_PNG,
    CS_IMAGE_WEBP
} cs_image_format;

/* Parses "jpg" (or "jpeg"), "png", "webp"; false on anything else. */
CS_API bool cs_image_format_parse(const char *s, cs_image_format *out /* OUT */);
/* "jpg", "png", "webp": the file extension. */
CS_API const char *cs_image_format_ext(cs_image_format f);

typedef struct cs_image_opts {
    int image_size;              /* S in the modes above (default 256) */
    cs_image_resize resize_mode; /* default BORDER, as img2dataset */
    bool resize_only_if_bigger;  /* leave images alone that are not larger than
                                    S on the side the mode looks at (default false) */
    uint64_t max_pixels;         /* refuse width*height above this, from the header
                                    (default 89,478,484; 0 = no limit) */
    int min_image_size;          /* refuse if the shorter side is smaller (default 0) */
    double max_aspect_ratio;     /* refuse if longer/shorter is larger (default 0 = none) */
    cs_image_format format;      /* output encoding (default JPG) */
    int quality;                 /* JPG/WebP 1-100 (WebP > 100 = lossless), PNG
                                    compression 0-9; -1 = 95 for JPG and WebP, 6 for
                                    PNG (default -1) */
    bool skip_reencode;          /* hand the original bytes back when nothing would
                                    change them: same format, no resize, no rotation,
                                    no alpha (img2dataset's skip_reencode) */
    bool keep_icc;               /* convert with the embedded ICC profile to sRGB
                                    (default false: values taken as sRGB, like OpenCV;
                                    CMYK is always converted with its profile) */
} cs_image_opts;

/* Fills *o with the defaults above. */
CS_API void cs_image_opts_init(cs_image_opts *o);

/* What cs_image_process() found and made. */
typedef struct cs_image_result {
    cs_image_reason reason;     /* CS_IMAGE_OK or why not */
    char errmsg[CS_ERRMSG_MAX]; /* detail when reason != OK ("" when OK) */
    char sha256[65];            /* lower-case hex of the input bytes (always set) */
    const char *source_format;  /* "jpeg", "png", "webp", "gif", "tiff", "heif",
                                   ... when known, else NULL (static string) */
    int original_width;         /* upright size (after EXIF orientation), from the */
    int original_height;        /*   header; 0 when the header was unreadable */
    int width;                  /* size of the output (0 unless OK) */
    int height;
    uint8_t *data;              /* the encoded output (OK only; else NULL); owned
                                   by the result: cs_image_result_cleanup() */
    size_t len;
} cs_image_result;

/* Initialises libvips once per process (thread-safe, idempotent): no
 * operation cache, one libvips worker per call, warnings routed to cs_log,
 * untrusted loaders (ImageMagick, PDF, SVG, ...) never used. Called by
 * cs_image_process(); call it yourself to pay the start-up cost early.
 * CS_EIO when libvips cannot start. */
CS_API CS_WARN_UNUSED cs_status cs_image_global_init(void);

/* Frees libvips' per-thread buffers. Threads that called cs_image_process()
 * should call it before they exit (a pool's thread_exit hook); harmless
 * elsewhere. */
CS_API void cs_image_thread_cleanup(void);

/* Processes one image held in [data, data+len) (borrowed for the call):
 * sha256 of the bytes, then (in this order) hash check against
 * expected_sha256 (hex, either case; NULL = none), format check, header
 * check against max_pixels, filters on the upright original size
 * (min_image_size, then max_aspect_ratio), decode with EXIF orientation,
 * alpha flattened onto white, colour to 8-bit sRGB (or grey), resize, crop or
 * pad, encode. Every outcome fills *out: reason, errmsg, sha256 and the sizes
 * known so far; on OK also data/len (owned by *out). Release with
 * cs_image_result_cleanup() whatever the outcome.
 * Returns CS_OK when reason is OK; otherwise CS_EFORMAT (decode, too_small,
 * bad_aspect_ratio), CS_ETOOBIG (too_many_pixels, also when the resized
 * image would exceed max_pixels), CS_EDIGEST (hash_mismatch),
 * CS_EUNSUPPORTED (unsupported), CS_EIO (encode, also an output larger than
 * the format allows: JPEG 65500, WebP 16383 a side, checked before decoding),
 * CS_EINVAL (bad options or arguments; reason UNSUPPORTED), CS_ENOMEM. Never
 * crashes on hostile bytes (libvips' own g_assert aborts aside: see
 * fuzz/fuzz_image.c); never prints. */
CS_API CS_WARN_UNUSED cs_status cs_image_process(const void *data, size_t len,
                                                 const cs_image_opts *opts,
                                                 const char *expected_sha256,
                                                 cs_image_result *out /* OUT */);

/* Frees out->data and zeroes *out; NULL does nothing. */
CS_API void cs_image_result_cleanup(cs_image_result *r);

/* Header only: format and upright size, without decoding pixels. Fills
 * *out like cs_image_process() does before decoding (reason DECODE or
 * UNSUPPORTED on failure; sha256 left empty). */
CS_API CS_WARN_UNUSED cs_status cs_image_probe(const void *data, size_t len,
                                               cs_image_result *out /* OUT */);

/* The sizes cs_image_process() would produce, without any image: for an
 * upright w x h input, the size after the resize step (*rw x *rh) and the
 * final size (*fw x *fh) after crop or pad. false when w or h < 1. Pure
 * arithmetic, exposed for tests and callers that plan memory. */
CS_API bool cs_image_target_size(const cs_image_opts *opts, int w, int h, int *rw /* OUT */,
                                 int *rh /* OUT */, int *fw /* OUT */, int *fh /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
