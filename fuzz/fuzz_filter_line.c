/* fuzz_filter_line.c - libFuzzer target for the candidate line parser
 * (cs_filter_parse_line) and the chain behind it (URL split, host checks,
 * IDNA, libpsl, normalisation, cld2, unsafe patterns, dedupe): each input
 * line is parsed and, when it parses, filtered; the normalised text must be
 * valid UTF-8 and the stats valid to write. */
#include <string.h>

#include "fuzz.h"
#include "dataset/dataset_int.h"

static void check_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = cs__utf8_seq((const unsigned char *)s + i, n - i);
        if (!k)
            __builtin_trap();
        i += k;
    }
}

CS_FUZZ_TARGET(filter_line)
{
    static const char *const kv[][2] = {{"lang", "en,un"},         {"unsafe", "tag"},
                                        {"unsafe-words", "porn,xxx"}, {"unsafe-phrases", "hot stuff"},
                                        {"block-domains", "bad.com"}, {"max-text", "50"}};
    cs_filter_rules r;
    if (cs_filter_rules_init(&r))
        return 0;
    char err[512];
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (cs_filter_rules_set(&r, kv[i][0], kv[i][1], err, sizeof err)) {
            cs_filter_rules_cleanup(&r);
            return 0;
        }
    cs_filter_chain *c = NULL;
    cs_status st = cs_filter_chain_new(&c, &r, err, sizeof err);
    cs_filter_rules_cleanup(&r);
    if (st)
        return 0;
    cs_buf scratch;
    cs_buf_init(&scratch, 0);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        cs_candidate cand;
        if (cs_filter_parse_line(c, p, n, &scratch, &cand, err, sizeof err) == CS_OK) {
            cs_filter_verdict v;
            if (cs_filter_chain_apply(c, &cand, &v) == CS_OK) {
                check_utf8(v.text.ptr, v.text.len);
                if (v.keep != (v.reason == NULL))
                    __builtin_trap();
            }
        }
        p += n + 1;
    }
    cs_buf b;
    cs_buf_init(&b, 0);
    (void)cs_filter_stats_json(cs_filter_chain_stats(c), true, &b);
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&scratch);
    cs_filter_chain_free(c);
    return 0;
}
