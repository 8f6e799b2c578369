/* h128set.c - the growing half of the 128-bit hash set (filter_int.h). */
#include "filter_int.h"

cs_status cs__h128set_grow(cs__h128set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    XXH128_hash_t *t = cs_calloc(cap, sizeof *t);
    if (!t)
        return CS_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        XXH128_hash_t h = s->v[i];
        if (!h.low64 && !h.high64)
            continue;
        size_t j = (size_t)h.low64 & (cap - 1);
        while (t[j].low64 || t[j].high64)
            j = (j + 1) & (cap - 1);
        t[j] = h;
    }
    cs_free(s->v);
    s->v = t;
    s->cap = cap;
    return CS_OK;
}

void cs__h128set_free(cs__h128set *s)
{
    cs_free(s->v);
    *s = (cs__h128set){0};
}
