/* fuzz_ccindex.c - libFuzzer target for the Common Crawl index row parsers:
 * the input is read as CSV, as CDX JSON lines and auto-detected, with a small
 * line limit so over-long rows are exercised; good rows are written back as
 * CSV and read again. */
#include <string.h>

#include "fuzz.h"

static void read_all(const uint8_t *data, size_t size, cs_ccindex_format fmt, size_t max_line)
{
    cs_ccindex_opts o = {.format = fmt, .max_line = max_line};
    cs_ccindex_reader *r = NULL;
    cs_buf out;
    cs_buf_init(&out, 1 << 20);
    if (cs_ccindex_open_mem(&r, data, size, "fuzz", &o) != CS_OK) {
        (void)strlen(r ? cs_ccindex_errmsg(r) : "");
        cs_ccindex_free(r);
        cs_buf_cleanup(&out);
        return;
    }
    if (cs_ccindex_csv_header(&out, NULL, 0) || cs_buf_putc(&out, '\n'))
        out.len = 0;
    for (int i = 0; i < 100000; i++) {
        const cs_ccindex_row *row;
        cs_status st = cs_ccindex_next(r, &row);
        if (st == CS_DONE || st == CS_ENOMEM || st == CS_EIO || st == CS_EGZIP)
            break;
        if (st) {
            (void)strlen(cs_ccindex_errmsg(r));
            continue;
        }
        /* every string is NUL-terminated and readable */
        size_t n = strlen(row->url) + strlen(row->domain) + strlen(row->fetch_time) +
                   strlen(row->warc_filename) + strlen(row->segment) + strlen(row->crawl) +
                   strlen(row->mime);
        (void)n;
        cs_slice v;
        (void)cs_ccindex_get(r, "url", &v);
        (void)cs_ccindex_get(r, "timestamp", &v);
        cs_ccindex_row *copy = cs_ccindex_row_dup(row);
        if (copy) {
            const char *extra[] = {"reason", "a \"message\",\nwith lines"};
            if (cs_ccindex_csv_row(&out, copy, extra, 2) != CS_OK)
                out.len = 0; /* over the buffer limit: skip the round trip */
            cs_free(copy);
        }
    }
    cs_ccindex_free(r);
    /* what we wrote must read back as CSV without a header error */
    if (out.len && cs_ccindex_open_mem(&r, out.data, out.len, "again", NULL) == CS_OK) {
        const cs_ccindex_row *row;
        cs_status st;
        while ((st = cs_ccindex_next(r, &row)) != CS_DONE && st != CS_ENOMEM)
            ;
    }
    cs_ccindex_free(r);
    cs_buf_cleanup(&out);
}

CS_FUZZ_TARGET(ccindex)
{
    read_all(data, size, CS_CCINDEX_AUTO, 0);
    read_all(data, size, CS_CCINDEX_CSV, 256);
    read_all(data, size, CS_CCINDEX_CDX, 256);
    return 0;
}
