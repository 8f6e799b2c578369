/* fuzz_filter_rules.c - libFuzzer target for the YAML rules reader
 * (cs_filter_rules_load_mem) and the chain built from what it accepts
 * (patterns compiled, lists sorted). Inputs naming list or Bloom files are
 * skipped: a path such as /dev/stdin would block. */
#include <string.h>

#include "fuzz.h"

CS_FUZZ_TARGET(filter_rules)
{
    if (size > 65536 || memmem(data, size, "file", 4) || memmem(data, size, "bloom", 5))
        return 0;
    cs_filter_rules r;
    if (cs_filter_rules_init(&r))
        return 0;
    char err[512];
    err[0] = '\0';
    cs_status st = cs_filter_rules_load_mem(&r, (const char *)data, size, "fuzz", err, sizeof err);
    if (st != CS_OK && st != CS_ENOMEM && !err[0])
        __builtin_trap(); /* every refusal says why */
    if (st == CS_OK && r.max_text < 100000 && r.dedupe_max < 100000) {
        cs_filter_chain *c = NULL;
        if (cs_filter_chain_new(&c, &r, err, sizeof err) == CS_OK) {
            cs_candidate cand = {CS_SLICE_LIT("https://www.example.com/a.jpg"),
                                 CS_SLICE_LIT("A small red bicycle"), CS_SLICE_LIT("title"),
                                 {NULL, 0}, CS_SLICE_LIT("en")};
            cs_filter_verdict v;
            if (cs_filter_chain_apply(c, &cand, &v) == CS_OK && v.keep != (v.reason == NULL))
                __builtin_trap();
            cs_buf b;
            cs_buf_init(&b, 0);
            (void)cs_filter_stats_json(cs_filter_chain_stats(c), true, &b);
            cs_buf_cleanup(&b);
        }
        cs_filter_chain_free(c);
    }
    cs_filter_rules_cleanup(&r);
    return 0;
}
