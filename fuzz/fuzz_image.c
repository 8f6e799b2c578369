/* fuzz_image.c - libFuzzer target for the image step: cs__image_process_ex()
 * with a small pixel limit (1 Mpx, so the fuzzer spends its time in parsers,
 * not in resizing), a resize mode, output format and path (libjpeg fast path
 * or libvips only) chosen from the input length, then cs_image_probe().
 * Checks the result contract: a reason from the list, a message on failure,
 * output only on success and within the planned size. Seeds: every corpus
 * image (fuzz/seeds/image.txt) and the crashes found (fuzz/corpus/image/).
 * libvips 8.14 (Debian) keeps its g_assert()s: a failed one aborts the
 * process, and we cannot catch it, only avoid what triggers it. Found so far:
 * jpegload with shrink > a side ("bad dimensions"), avoided in image.c. */
#include <string.h>

#include "crawlset/image.h"
#include "fuzz.h"
#include "image/image_int.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c))                                                                         \
            __builtin_trap();                                                             \
    } while (0)

CS_FUZZ_TARGET(image)
{
    cs_image_opts o;
    cs_image_opts_init(&o);
    o.max_pixels = 1u << 20;
    o.image_size = 64;
    o.resize_mode = (cs_image_resize)(size % 5);
    o.format = (cs_image_format)((size / 5) % 3);
    o.resize_only_if_bigger = (size / 15) % 2;
    cs__image_tuning t;
    cs__image_tuning_init(&t);
    t.jpeg_direct = (size / 30) % 2 == 0;

    cs_image_result r;
    cs_status st = cs__image_process_ex(data, size, &o, NULL, &t, NULL, &r);
    CHECK((unsigned)r.reason < CS_IMAGE__REASON_COUNT);
    CHECK((st == CS_OK) == (r.reason == CS_IMAGE_OK));
    CHECK(strlen(r.sha256) == 64);
    CHECK(memchr(r.errmsg, '\0', sizeof r.errmsg) != NULL);
    if (st == CS_OK) {
        CHECK(r.data && r.len > 0);
        CHECK(r.width >= 1 && r.height >= 1);
        CHECK((uint64_t)r.width * (uint64_t)r.height <= o.max_pixels);
        CHECK(r.errmsg[0] == 0);
    } else {
        CHECK(r.data == NULL && r.len == 0);
        CHECK(r.errmsg[0] != 0);
    }
    cs_image_result_cleanup(&r);

    st = cs_image_probe(data, size, &r);
    CHECK((st == CS_OK) == (r.reason == CS_IMAGE_OK));
    cs_image_result_cleanup(&r);
    return 0;
}
