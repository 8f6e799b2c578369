/* fuzz_urllist.c - libFuzzer target for the URL list readers: the input is
 * read as every format (txt, csv, tsv, jsonl, wat links, and sniffed), with
 * and without caption and saved columns, with a small line limit so over-long
 * rows and unterminated quotes are exercised; every row is checked to be
 * NUL-terminated valid UTF-8 and copied with cs_urllist_row_dup. Gzip input
 * (by magic) goes through the in-memory inflate path. */
#include <string.h>

#include "fuzz.h"
#include "dataset/dataset_int.h"

static void check_utf8(const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = cs__utf8_seq((const unsigned char *)s + i, n - i);
        if (!k)
            __builtin_trap(); /* the reader promised valid UTF-8 */
        i += k;
    }
}

static void read_all(const uint8_t *data, size_t size, cs_urllist_format fmt, bool cols,
                     size_t max_line)
{
    static const char *const save[] = {"a", "caption", "b"};
    cs_urllist_opts o = {.format = fmt, .max_line = max_line};
    if (cols) {
        o.caption_col = "caption";
        o.save_columns = save;
        o.nsave = 3;
    }
    cs_urllist_reader *r = NULL;
    if (cs_urllist_open_mem(&r, data, size, "fuzz", &o) != CS_OK) {
        (void)strlen(cs_urllist_errmsg(r));
        cs_urllist_free(r);
        return;
    }
    uint64_t expect = 0;
    for (int i = 0; i < 100000; i++) {
        const cs_urllist_row *row;
        cs_status st = cs_urllist_next(r, &row);
        if (st == CS_DONE || st == CS_ENOMEM || st == CS_EIO || st == CS_EGZIP)
            break;
        if (st) {
            (void)strlen(cs_urllist_errmsg(r));
            continue;
        }
        if (row->index != expect++ || !row->url || !row->url[0])
            __builtin_trap();
        check_utf8(row->url);
        check_utf8(row->caption);
        for (size_t k = 0; k < row->ncolumns; k++) {
            check_utf8(row->columns[k].value);
            check_utf8(row->columns[k].json);
        }
        cs_urllist_row *c = cs_urllist_row_dup(row);
        if (c && strcmp(c->url, row->url))
            __builtin_trap();
        cs_free(c);
    }
    cs_urllist_free(r);
}

CS_FUZZ_TARGET(urllist)
{
    read_all(data, size, CS_URLLIST_AUTO, false, 0);
    read_all(data, size, CS_URLLIST_AUTO, true, 0);
    read_all(data, size, CS_URLLIST_TXT, false, 64);
    read_all(data, size, CS_URLLIST_CSV, true, 64);
    read_all(data, size, CS_URLLIST_CSV, false, 0);
    read_all(data, size, CS_URLLIST_TSV, true, 64);
    read_all(data, size, CS_URLLIST_JSONL, true, 128);
    read_all(data, size, CS_URLLIST_WAT_LINKS, false, 0);
    return 0;
}
