/* stats.c - per-filter and per-domain counts of a filter chain (OAT's
 * ComposedFilter stats: passed, failed, failed URLs per filter, per domain),
 * merged across chains and written as JSON. */
#include <stdlib.h>
#include <string.h>

#include "filter/filter_int.h"

#define MAX_REASONS 32 /* distinct reasons per filter; more count as "other" */

typedef struct reason_count {
    const char *name; /* borrowed (static or chain-owned) */
    uint64_t n;
} reason_count;

typedef struct fstat {
    char *name;
    uint64_t passed, failed;
    reason_count reasons[MAX_REASONS];
    size_t nreasons;
    reason_count tagged[MAX_REASONS];
    size_t ntagged;
    cs_strlist failed_urls; /* the first failed_urls_max */
    uint64_t failed_urls_more;
} fstat;

typedef struct dom {
    char *name;     /* owned, NUL-terminated; NULL = empty slot */
    size_t len;
    uint64_t items, kept;
    uint64_t *pf;   /* passed, failed per filter (2 * nfilters) */
} dom;

struct cs_filter_stats {
    fstat *f;
    size_t nf;
    uint64_t items, kept;
    size_t failed_urls_max, max_domains;
    dom *doms;      /* open addressing, power of two */
    size_t ndoms, domcap;
    dom other;      /* past max_domains */
    dom *last;      /* cache: consecutive items share a domain */
};

void cs__strlist_clear(cs_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        cs_free(l->v[i]);
    cs_free(l->v);
    memset(l, 0, sizeof *l);
}

cs_status cs__strlist_push(cs_strlist *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = cs_realloc(l->v, cap * sizeof *v);
        if (!v)
            return CS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *c = cs_strndup(s, n);
    if (!c)
        return CS_ENOMEM;
    l->v[l->n++] = c;
    return CS_OK;
}

cs_status cs_strlist_push(cs_strlist *l, const char *s, size_t n)
{
    return cs__strlist_push(l, s, n);
}

void cs_strlist_clear(cs_strlist *l)
{
    cs__strlist_clear(l);
}

cs_status cs__strlist_copy(cs_strlist *dst, const cs_strlist *src)
{
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->n; i++)
        if (cs__strlist_push(dst, src->v[i], strlen(src->v[i])))
            return CS_ENOMEM;
    return CS_OK;
}

cs_status cs_filter_stats_new(cs_filter_stats **out, const char *const *names, size_t n,
                              size_t failed_urls_max, size_t max_domains)
{
    *out = NULL;
    cs_filter_stats *s = cs_calloc(1, sizeof *s);
    if (!s)
        return CS_ENOMEM;
    s->failed_urls_max = failed_urls_max;
    s->max_domains = max_domains;
    s->nf = n;
    s->f = cs_calloc(n ? n : 1, sizeof *s->f);
    s->other.pf = cs_calloc(2 * (n ? n : 1), sizeof(uint64_t));
    if (!s->f || !s->other.pf)
        goto oom;
    for (size_t i = 0; i < n; i++)
        if (!(s->f[i].name = cs_strdup(names[i])))
            goto oom;
    *out = s;
    return CS_OK;
oom:
    cs_filter_stats_free(s);
    return CS_ENOMEM;
}

void cs_filter_stats_free(cs_filter_stats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nf; i++) {
        cs_free(s->f[i].name);
        cs__strlist_clear(&s->f[i].failed_urls);
    }
    cs_free(s->f);
    for (size_t i = 0; i < s->domcap; i++) {
        cs_free(s->doms[i].name);
        cs_free(s->doms[i].pf);
    }
    cs_free(s->doms);
    cs_free(s->other.pf);
    cs_free(s);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: short keys, a table lookup */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static cs_status dom_grow(cs_filter_stats *s)
{
    size_t cap = s->domcap ? s->domcap * 2 : 256;
    dom *d = cs_calloc(cap, sizeof *d);
    if (!d)
        return CS_ENOMEM;
    for (size_t i = 0; i < s->domcap; i++) {
        if (!s->doms[i].name)
            continue;
        size_t j = hash_bytes(s->doms[i].name, s->doms[i].len) & (cap - 1);
        while (d[j].name)
            j = (j + 1) & (cap - 1);
        d[j] = s->doms[i];
    }
    cs_free(s->doms);
    s->doms = d;
    s->domcap = cap;
    s->last = NULL;
    return CS_OK;
}

/* The entry of a domain, created when new; NULL on out of memory. */
static dom *dom_get(cs_filter_stats *s, cs_slice name)
{
    if (s->last && s->last->len == name.len && !memcmp(s->last->name, name.ptr, name.len))
        return s->last;
    if (s->domcap) {
        size_t j = hash_bytes(name.ptr, name.len) & (s->domcap - 1);
        for (; s->doms[j].name; j = (j + 1) & (s->domcap - 1))
            if (s->doms[j].len == name.len && !memcmp(s->doms[j].name, name.ptr, name.len))
                return s->last = &s->doms[j];
    }
    if (s->ndoms >= s->max_domains)
        return &s->other;
    if ((s->ndoms + 1) * 2 > s->domcap && dom_grow(s))
        return NULL;
    size_t j = hash_bytes(name.ptr, name.len) & (s->domcap - 1);
    while (s->doms[j].name)
        j = (j + 1) & (s->domcap - 1);
    dom *d = &s->doms[j];
    d->pf = cs_calloc(2 * (s->nf ? s->nf : 1), sizeof(uint64_t));
    d->name = cs_strndup(name.ptr, name.len);
    if (!d->pf || !d->name) {
        cs_free(d->pf);
        cs_free(d->name);
        memset(d, 0, sizeof *d);
        return NULL;
    }
    d->len = name.len;
    s->ndoms++;
    return s->last = d;
}

static void count_reason(reason_count *r, size_t *nr, const char *name, uint64_t n)
{
    for (size_t i = 0; i < *nr; i++)
        if (r[i].name == name || !strcmp(r[i].name, name)) {
            r[i].n += n;
            return;
        }
    if (*nr < MAX_REASONS) {
        r[*nr].name = name;
        r[*nr].n = n;
        (*nr)++;
    } else {
        r[MAX_REASONS - 1].name = "other";
        r[MAX_REASONS - 1].n += n;
    }
}

cs_status cs_filter_stats_add(cs_filter_stats *s, cs_slice domain, cs_slice url,
                              const char *const *reasons, const char *const *tagged)
{
    return cs__filter_stats_add_n(s, domain, url, reasons, tagged, s->nf);
}

cs_status cs__filter_stats_add_n(cs_filter_stats *s, cs_slice domain, cs_slice url,
                                 const char *const *reasons, const char *const *tagged,
                                 size_t nrun)
{
    bool kept = true;
    dom *d = NULL;
    if (s->max_domains) {
        if (!domain.ptr)
            domain = (cs_slice){"", 0};
        if (!(d = dom_get(s, domain)))
            return CS_ENOMEM;
        d->items++;
    }
    if (nrun > s->nf)
        nrun = s->nf;
    for (size_t i = 0; i < nrun; i++) {
        fstat *f = &s->f[i];
        if (tagged && tagged[i])
            count_reason(f->tagged, &f->ntagged, tagged[i], 1);
        if (!reasons[i]) {
            f->passed++;
            if (d)
                d->pf[2 * i]++;
            continue;
        }
        kept = false;
        f->failed++;
        if (d)
            d->pf[2 * i + 1]++;
        count_reason(f->reasons, &f->nreasons, reasons[i], 1);
        if (f->failed_urls.n < s->failed_urls_max) {
            if (cs__strlist_push(&f->failed_urls, url.ptr ? url.ptr : "", url.ptr ? url.len : 0))
                return CS_ENOMEM;
        } else {
            f->failed_urls_more++;
        }
    }
    s->items++;
    if (kept) {
        s->kept++;
        if (d)
            d->kept++;
    }
    return CS_OK;
}

static cs_status dom_merge(cs_filter_stats *into, dom *dd, const dom *sd)
{
    (void)into;
    dd->items += sd->items;
    dd->kept += sd->kept;
    for (size_t i = 0; i < 2 * into->nf; i++)
        dd->pf[i] += sd->pf[i];
    return CS_OK;
}

cs_status cs_filter_stats_merge(cs_filter_stats *into, const cs_filter_stats *from)
{
    if (into->nf != from->nf)
        return CS_EINVAL;
    for (size_t i = 0; i < into->nf; i++)
        if (strcmp(into->f[i].name, from->f[i].name))
            return CS_EINVAL;
    into->items += from->items;
    into->kept += from->kept;
    for (size_t i = 0; i < into->nf; i++) {
        fstat *a = &into->f[i];
        const fstat *b = &from->f[i];
        a->passed += b->passed;
        a->failed += b->failed;
        for (size_t k = 0; k < b->nreasons; k++)
            count_reason(a->reasons, &a->nreasons, b->reasons[k].name, b->reasons[k].n);
        for (size_t k = 0; k < b->ntagged; k++)
            count_reason(a->tagged, &a->ntagged, b->tagged[k].name, b->tagged[k].n);
        for (size_t k = 0; k < b->failed_urls.n; k++) {
            if (a->failed_urls.n < into->failed_urls_max) {
                if (cs__strlist_push(&a->failed_urls, b->failed_urls.v[k],
                                     strlen(b->failed_urls.v[k])))
                    return CS_ENOMEM;
            } else {
                a->failed_urls_more++;
            }
        }
        a->failed_urls_more += b->failed_urls_more;
    }
    if (into->max_domains) {
        for (size_t j = 0; j < from->domcap; j++) {
            const dom *sd = &from->doms[j];
            if (!sd->name)
                continue;
            dom *dd = dom_get(into, (cs_slice){sd->name, sd->len});
            if (!dd)
                return CS_ENOMEM;
            dom_merge(into, dd, sd);
        }
        if (from->other.items)
            dom_merge(into, &into->other, &from->other);
    }
    return CS_OK;
}

void cs_filter_stats_totals(const cs_filter_stats *s, uint64_t *items, uint64_t *kept)
{
    *items = s->items;
    *kept = s->kept;
}

bool cs_filter_stats_counts(const cs_filter_stats *s, size_t i, uint64_t *in, uint64_t *passed,
                            uint64_t *failed)
{
    if (i >= s->nf)
        return false;
    *passed = s->f[i].passed;
    *failed = s->f[i].failed;
    *in = *passed + *failed;
    return true;
}

uint64_t cs_filter_stats_reason(const cs_filter_stats *s, size_t i, const char *reason)
{
    if (i >= s->nf || !reason)
        return 0;
    for (size_t k = 0; k < s->f[i].nreasons; k++)
        if (!strcmp(s->f[i].reasons[k].name, reason))
            return s->f[i].reasons[k].n;
    for (size_t k = 0; k < s->f[i].ntagged; k++)
        if (!strcmp(s->f[i].tagged[k].name, reason))
            return s->f[i].tagged[k].n;
    return 0;
}

static void put_reasons(cs_buf *b, const char *key, const reason_count *r, size_t n)
{
    cs_buf_printf(b, ",\"%s\":{", key);
    for (size_t k = 0; k < n; k++) {
        if (k)
            cs_buf_putc(b, ',');
        cs_json_put_str(b, r[k].name, strlen(r[k].name));
        cs_buf_printf(b, ":%llu", (unsigned long long)r[k].n);
    }
    cs_buf_putc(b, '}');
}

static void put_dom(const cs_filter_stats *s, cs_buf *b, const char *name, size_t len,
                    const dom *d)
{
    cs_json_put_str(b, name, len);
    cs_buf_printf(b, ":{\"items\":%llu,\"kept\":%llu", (unsigned long long)d->items,
                  (unsigned long long)d->kept);
    for (size_t i = 0; i < s->nf; i++) {
        cs_buf_putc(b, ',');
        cs_json_put_str(b, s->f[i].name, strlen(s->f[i].name));
        cs_buf_printf(b, ":{\"passed\":%llu,\"failed\":%llu}",
                      (unsigned long long)d->pf[2 * i], (unsigned long long)d->pf[2 * i + 1]);
    }
    cs_buf_putc(b, '}');
}

static int dom_cmp(const void *a, const void *b)
{
    const dom *x = *(const dom *const *)a, *y = *(const dom *const *)b;
    return strcmp(x->name, y->name);
}

cs_status cs_filter_stats_json(const cs_filter_stats *s, bool with_domains, cs_buf *b)
{
    size_t before = b->len;
    cs_buf_printf(b, "{\"items\":%llu,\"kept\":%llu,\"dropped\":%llu,\"filters\":[",
                  (unsigned long long)s->items, (unsigned long long)s->kept,
                  (unsigned long long)(s->items - s->kept));
    for (size_t i = 0; i < s->nf; i++) {
        const fstat *f = &s->f[i];
        if (i)
            cs_buf_putc(b, ',');
        cs_buf_puts(b, "{\"name\":");
        cs_json_put_str(b, f->name, strlen(f->name));
        cs_buf_printf(b, ",\"in\":%llu,\"out\":%llu,\"failed\":%llu",
                      (unsigned long long)(f->passed + f->failed),
                      (unsigned long long)f->passed, (unsigned long long)f->failed);
        put_reasons(b, "reasons", f->reasons, f->nreasons);
        if (f->ntagged)
            put_reasons(b, "tagged", f->tagged, f->ntagged);
        cs_buf_puts(b, ",\"failed_urls\":[");
        for (size_t k = 0; k < f->failed_urls.n; k++) {
            if (k)
                cs_buf_putc(b, ',');
            cs_json_put_str(b, f->failed_urls.v[k], strlen(f->failed_urls.v[k]));
        }
        cs_buf_printf(b, "],\"failed_urls_more\":%llu}", (unsigned long long)f->failed_urls_more);
    }
    cs_buf_putc(b, ']');
    if (with_domains && s->max_domains) {
        /* sorted by name, so the output does not depend on the table */
        const dom **v = cs_malloc((s->ndoms ? s->ndoms : 1) * sizeof *v);
        if (!v)
            return CS_ENOMEM;
        size_t n = 0;
        for (size_t j = 0; j < s->domcap; j++)
            if (s->doms[j].name)
                v[n++] = &s->doms[j];
        qsort(v, n, sizeof *v, dom_cmp);
        cs_buf_puts(b, ",\"domains\":{");
        for (size_t k = 0; k < n; k++) {
            if (k)
                cs_buf_putc(b, ',');
            put_dom(s, b, v[k]->name, v[k]->len, v[k]);
        }
        if (s->other.items) {
            if (n)
                cs_buf_putc(b, ',');
            put_dom(s, b, "(other)", 7, &s->other);
        }
        cs_buf_putc(b, '}');
        cs_free(v);
    }
    cs_status st = cs_buf_putc(b, '}');
    if (st == CS_OK && b->len <= before)
        st = CS_ENOMEM;
    return st;
}
