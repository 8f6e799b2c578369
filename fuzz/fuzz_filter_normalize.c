/* fuzz_filter_normalize.c - libFuzzer target, differential: the text
 * normalisation of the filters (cs_filter_normalize_text: ASCII loop, the
 * BMP table, GLib) against GLib alone (cs__normalize_text_glib) on any
 * bytes; the two must give the same text and character count. */
#include <string.h>

#include "fuzz.h"
#include "filter/filter_int.h"

CS_FUZZ_TARGET(filter_normalize)
{
    cs_buf a, b;
    cs_buf_init(&a, 0);
    cs_buf_init(&b, 0);
    size_t ca = 0, cb = 0;
    cs_status sa = cs_filter_normalize_text((const char *)data, size, &a, &ca);
    cs_status sb = cs__normalize_text_glib((const char *)data, size, &b, &cb);
    if (sa == CS_OK && sb == CS_OK &&
        (a.len != b.len || ca != cb || (a.len && memcmp(a.data, b.data, a.len))))
        __builtin_trap();
    cs_buf_cleanup(&a);
    cs_buf_cleanup(&b);
    return 0;
}
