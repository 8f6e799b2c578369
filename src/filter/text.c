/* text.c - text normalisation for the filters: NFKC, invalid UTF-8 replaced,
 * control and format characters removed, white space collapsed.
 *
 * Plain ASCII (most alt texts) takes a byte loop that allocates nothing;
 * other text goes through GLib's Unicode tables (g_utf8_make_valid,
 * g_utf8_normalize, g_unichar_type), which libvips already links, rather
 * than hand-written tables. GLib allocates with g_malloc there; the copies
 * live only for the call. */
#include <string.h>

#include <glib.h>

#include "filter/filter_int.h"

static inline bool ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

cs_status cs_filter_normalize_text(const char *s, size_t n, cs_buf *out, size_t *chars)
{
    *chars = 0;
    size_t i = 0;
    for (; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            break;
    cs_status st = cs_buf_reserve(out, n + 1);
    if (st)
        return st;
    size_t start = out->len, count = 0;
    bool space = false;
    if (i == n) { /* ASCII */
        char *w = out->data + out->len;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (ascii_space(c)) {
                space = true;
                continue;
            }
            if (c < 0x20 || c == 0x7f)
                continue;
            if (space && count)
                *w++ = ' ', count++;
            space = false;
            *w++ = (char)c;
            count++;
        }
        out->len = (size_t)(w - out->data);
        out->data[out->len] = '\0';
        *chars = count;
        return CS_OK;
    }
    /* NULs would end GLib's strings early: they are controls, drop them */
    gchar *copy = g_malloc(n + 1);
    size_t m = 0;
    for (i = 0; i < n; i++)
        if (s[i])
            copy[m++] = s[i];
    copy[m] = '\0';
    gchar *valid = g_utf8_make_valid(copy, (gssize)m);
    g_free(copy);
    gchar *norm = g_utf8_normalize(valid, -1, G_NORMALIZE_NFKC);
    g_free(valid);
    if (!norm)
        return CS_ENOMEM;
    size_t nl = strlen(norm);
    if ((st = cs_buf_reserve(out, nl + 1))) {
        g_free(norm);
        return st;
    }
    char *w = out->data + out->len;
    for (const gchar *p = norm; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isspace(c) || c == 0x200B) {
            space = true;
            continue;
        }
        GUnicodeType t = g_unichar_type(c);
        if (t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT)
            continue;
        if (space && count)
            *w++ = ' ', count++;
        space = false;
        w += g_unichar_to_utf8(c, w);
        count++;
    }
    g_free(norm);
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    (void)start;
    *chars = count;
    return CS_OK;
}
