/* json.c - JSON string output with UTF-8 validation. The JSON *parser* used
 * for configuration-sized documents is jansson; this file only writes. */
#include <string.h>

#include "crawlset/util.h"
#include "util/utf8.h"

cs_status cs_json_put_str(cs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3) */
    cs_status st = cs_buf_reserve(b, n + 2);
    if (st)
        return st;
    if ((st = cs_buf_putc(b, '"')))
        return st;
    size_t i = 0;
    while (i < n) {
        /* fast run of plain ASCII */
        size_t j = i;
        while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
            j++;
        if (j > i && (st = cs_buf_append(b, p + i, j - i)))
            return st;
        i = j;
        if (i >= n)
            break;
        unsigned c = p[i];
        if (c < 0x80) {
            char esc[6] = {'\\', 0, 0, 0, 0, 0};
            size_t el = 2;
            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                el = 6;
            }
            if ((st = cs_buf_append(b, esc, el)))
                return st;
            i++;
        } else {
            size_t k = cs__utf8_seq(p + i, n - i);
            if (k) {
                st = cs_buf_append(b, p + i, k);
                i += k;
            } else {
                st = cs_buf_append(b, "\xEF\xBF\xBD", 3);
                i++;
            }
            if (st)
                return st;
        }
    }
    return cs_buf_putc(b, '"');
}
