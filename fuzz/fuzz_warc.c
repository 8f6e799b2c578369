/* fuzz_warc.c - libFuzzer target for the WARC reader: the input is read as
 * a WARC file (plain or gzip, lenient and strict), every block streamed. */
#include "fuzz.h"

static void read_all(const uint8_t *data, size_t size, bool strict, unsigned types)
{
    cs_warc_reader_opts o = {.strict = strict, .types = types, .max_header = 4096};
    cs_warc_reader *r;
    if (cs_warc_reader_open_mem(&r, data, size, "fuzz", &o))
        return;
    for (int i = 0; i < 100000; i++) {
        cs_warc_record *rec;
        cs_status st = cs_warc_reader_next(r, &rec);
        if (st == CS_DONE || st == CS_EIO || st == CS_ENOMEM)
            break;
        if (st)
            continue;
        (void)cs_warc_record_get(rec, "WARC-Date");
        if (i & 1) {
            cs_slice b;
            if (cs_warc_reader_block(r, 1 << 20, &b) == CS_OK && b.len)
                (void)b.ptr[b.len - 1];
        } else {
            const char *p;
            size_t k;
            while (cs_warc_reader_chunk(r, &p, &k) == CS_OK)
                (void)p[k - 1];
            if (cs_warc_reader_finish(r) != CS_OK)
                continue;
        }
    }
    cs_warc_reader_free(r);
}

CS_FUZZ_TARGET(warc)
{
    read_all(data, size, false, 0);
    read_all(data, size, true, 0);
    read_all(data, size, false, CS_WARC_METADATA);
    return 0;
}
