/* filter_int.h - private parts of the filter module shared by its files. */
#ifndef CS_FILTER_INT_H
#define CS_FILTER_INT_H

#include "crawlset/filter.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <xxhash.h>

void cs__strlist_clear(cs_strlist *l);
cs_status cs__strlist_push(cs_strlist *l, const char *s, size_t n);
cs_status cs__strlist_copy(cs_strlist *dst, const cs_strlist *src);

/* cs_filter_normalize_text always through GLib (no table): for tests. */
cs_status cs__normalize_text_glib(const char *s, size_t n, cs_buf *out, size_t *chars);

/* cld2 (lang.cc): detects the language of UTF-8 text s[0..n). hint (may be
 * NULL/empty) is a content-language hint ("en", "fr-CA"). code gets the
 * cld2 code ("un" when unknown); percent the share of the text in it. */
void cs__cld2_detect(const char *s, size_t n, const char *hint, char *code, size_t codecap,
                     int *percent, bool *reliable);

/* cs_filter_stats_add counting the item in the first nrun filters only (the
 * ones it reached: a short-circuit chain stops at the first drop). */
cs_status cs__filter_stats_add_n(cs_filter_stats *s, cs_slice domain, cs_slice url,
                                 const char *const *reasons, const char *const *tagged,
                                 size_t nrun);

/* Reads a list file (one item per line, '#' comments) into l. */
cs_status cs__read_list_file(const char *path, cs_strlist *l, char *err, size_t errlen);

/* One PCRE2 alternation of the items of l (escaped; caseless, UTF); words
 * get letter/digit boundaries. *out is NULL for an empty list. CS_EINVAL
 * with err naming `what` when it does not compile. */
cs_status cs__re_compile_list(const cs_strlist *l, bool words, pcre2_code **out, char *err,
                              size_t errlen, const char *what);

/* A set of 128-bit hashes for exact dedupe (candidates, document titles):
 * open addressing with linear probing, {0,0} marks an empty slot (a hash of
 * {0,0} is kept as {1,0}), at most 70% full. */
typedef struct cs__h128set {
    XXH128_hash_t *v;
    size_t n, cap; /* cap: 0 or a power of two */
} cs__h128set;

cs_status cs__h128set_grow(cs__h128set *s);
void cs__h128set_free(cs__h128set *s);

/* True when h is in the set; otherwise inserts it, unless the set already
 * holds max hashes (0: no limit). *st becomes CS_ENOMEM when the set could
 * not grow (h is then not inserted). Inline: the candidate chain's hot path. */
static inline bool cs__h128set_seen(cs__h128set *s, XXH128_hash_t h, size_t max, cs_status *st)
{
    if (!h.low64 && !h.high64)
        h.low64 = 1;
    size_t mask = s->cap - 1, j;
    if (s->cap)
        for (j = (size_t)h.low64 & mask; s->v[j].low64 || s->v[j].high64; j = (j + 1) & mask)
            if (s->v[j].low64 == h.low64 && s->v[j].high64 == h.high64)
                return true;
    if (max && s->n >= max)
        return false;
    if ((s->n + 1) * 10 > s->cap * 7 && (*st = cs__h128set_grow(s)))
        return false;
    mask = s->cap - 1;
    for (j = (size_t)h.low64 & mask; s->v[j].low64 || s->v[j].high64; j = (j + 1) & mask)
        ;
    s->v[j] = h;
    s->n++;
    return false;
}

/* Fetches the slot h probes first into the cache (a lookup coming later). */
static inline void cs__h128set_prefetch(const cs__h128set *s, XXH128_hash_t h)
{
    if (s->cap)
        __builtin_prefetch(&s->v[(size_t)h.low64 & (s->cap - 1)]);
}

#endif
