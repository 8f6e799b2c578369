/* docs.c - the filter chain over documents and task graphs (OAT's task
 * filters): required fields, dangerous title, steps count, duplicate title,
 * plus the caller's filters, with the chain stats of stats.c. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpsl.h>
#include <xxhash.h>

#include "crawlset/url.h"
#include "filter/filter_int.h"

enum { D_REQUIRED, D_TITLE, D_STEPS, D_DEDUPE, D__BUILTIN };

struct cs_doc_chain {
    char *title_field, *steps_field;
    cs_strlist required;
    cs_strlist empty_reasons;  /* "empty_FIELD", one per required field */
    size_t min_steps;
    bool dedupe_title;
    pcre2_code *re_danger;
    pcre2_match_data *md;
    cs_doc_filter *extra;
    size_t nextra;
    int fi[D__BUILTIN];        /* index in the chain, -1 when off */
    size_t nf;
    cs_filter_stats *stats;
    const psl_ctx_t *psl;
    cs__h128set titles;        /* titles seen */
    cs_buf norm, host;
};

const cs_doc_field *cs_doc_item_get(const cs_doc_item *it, const char *name)
{
    for (size_t i = 0; i < it->n; i++)
        if (!strcmp(it->fields[i].name, name))
            return &it->fields[i];
    return NULL;
}

cs_status cs_doc_rules_init(cs_doc_rules *r)
{
    memset(r, 0, sizeof *r);
    r->title_field = "title";
    r->steps_field = "steps";
    r->min_steps = 2;
    r->dedupe_title = true;
    r->failed_urls_max = 100;
    r->max_domains = 100000;
    return cs__strlist_push(&r->required, "title", 5);
}

cs_status cs_doc_rules_from(cs_doc_rules *out, const cs_filter_rules *r)
{
    memset(out, 0, sizeof *out);
    out->title_field = r->doc_title_field ? r->doc_title_field : "title";
    out->steps_field = r->doc_steps_field ? r->doc_steps_field : "steps";
    out->min_steps = r->doc_min_steps;
    out->dedupe_title = r->doc_dedupe_title;
    out->failed_urls_max = r->failed_urls_max;
    out->max_domains = r->max_domains;
    if (cs__strlist_copy(&out->required, &r->doc_required) ||
        cs__strlist_copy(&out->dangerous_words, &r->doc_dangerous_words)) {
        cs_doc_rules_cleanup(out);
        return CS_ENOMEM;
    }
    return CS_OK;
}

void cs_doc_rules_cleanup(cs_doc_rules *r)
{
    if (!r)
        return;
    cs__strlist_clear(&r->required);
    cs__strlist_clear(&r->dangerous_words);
}

void cs_doc_chain_free(cs_doc_chain *c)
{
    if (!c)
        return;
    cs_free(c->title_field);
    cs_free(c->steps_field);
    cs__strlist_clear(&c->required);
    cs__strlist_clear(&c->empty_reasons);
    pcre2_code_free(c->re_danger);
    pcre2_match_data_free(c->md);
    for (size_t i = 0; i < c->nextra; i++)
        cs_free((char *)c->extra[i].name);
    cs_free(c->extra);
    cs_filter_stats_free(c->stats);
    cs__h128set_free(&c->titles);
    cs_buf_cleanup(&c->norm);
    cs_buf_cleanup(&c->host);
    cs_free(c);
}

cs_status cs_doc_chain_new(cs_doc_chain **out, const cs_doc_rules *r, const cs_doc_filter *extra,
                           size_t n_extra, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    cs_doc_chain *c = cs_calloc(1, sizeof *c);
    if (!c)
        return CS_ENOMEM;
    cs_buf_init(&c->norm, 0);
    cs_buf_init(&c->host, 0);
    cs_status st = CS_ENOMEM;
    const char **names = NULL;
    c->title_field = cs_strdup(r->title_field ? r->title_field : "title");
    c->steps_field = cs_strdup(r->steps_field ? r->steps_field : "steps");
    if (!c->title_field || !c->steps_field || cs__strlist_copy(&c->required, &r->required))
        goto fail;
    for (size_t i = 0; i < r->required.n; i++) {
        char reason[256];
        int l = snprintf(reason, sizeof reason, "empty_%s", r->required.v[i]);
        if (cs__strlist_push(&c->empty_reasons, reason, (size_t)l < sizeof reason ? (size_t)l : sizeof reason - 1))
            goto fail;
    }
    c->min_steps = r->min_steps;
    c->dedupe_title = r->dedupe_title;
    if (!(c->md = pcre2_match_data_create(1, NULL)))
        goto fail;
    if ((st = cs__re_compile_list(&r->dangerous_words, true, &c->re_danger, err, errlen,
                                  "dangerous words")))
        goto fail;
    st = CS_ENOMEM;
    if (n_extra && !(c->extra = cs_calloc(n_extra, sizeof *c->extra)))
        goto fail;
    for (size_t i = 0; i < n_extra; i++) {
        c->extra[i] = extra[i];
        if (!(c->extra[i].name = cs_strdup(extra[i].name ? extra[i].name : "custom")))
            goto fail;
        c->nextra++;
    }
    if (!(names = cs_calloc(D__BUILTIN + n_extra, sizeof *names)))
        goto fail;
    static const char *const BN[D__BUILTIN] = {"required", "title", "steps", "dedupe"};
    for (int f = 0; f < D__BUILTIN; f++) {
        bool on = f == D_REQUIRED ? r->required.n > 0
                  : f == D_TITLE  ? r->dangerous_words.n > 0
                  : f == D_STEPS  ? r->min_steps > 0
                                  : r->dedupe_title;
        c->fi[f] = on ? (int)c->nf : -1;
        if (on)
            names[c->nf++] = BN[f];
    }
    for (size_t i = 0; i < n_extra; i++)
        names[c->nf++] = c->extra[i].name;
    if ((st = cs_filter_stats_new(&c->stats, names, c->nf, r->failed_urls_max, r->max_domains)))
        goto fail;
    c->psl = psl_builtin();
    cs_free(names);
    *out = c;
    return CS_OK;
fail:
    cs_free(names);
    cs_doc_chain_free(c);
    return st;
}

cs_filter_stats *cs_doc_chain_stats(cs_doc_chain *c)
{
    return c->stats;
}

static bool empty(const cs_doc_field *f)
{
    if (!f || f->count == 0)
        return true;
    if (f->is_string)
        return cs_slice_trim(f->text).len == 0;
    return false;
}

/* The item's domain: its "domain" field, else the registered domain of its
 * "url" host. Points into the item or into c->host. */
static cs_slice item_domain(cs_doc_chain *c, const cs_doc_item *it)
{
    const cs_doc_field *d = cs_doc_item_get(it, "domain");
    if (d && d->is_string && d->text.len)
        return d->text;
    const cs_doc_field *u = cs_doc_item_get(it, "url");
    if (!u || !u->is_string)
        return (cs_slice){"", 0};
    cs_url_parts p;
    cs_url_split(u->text.ptr, u->text.len, &p);
    if (!p.has_authority)
        return (cs_slice){"", 0};
    cs_slice a = p.authority;
    const char *at = memchr(a.ptr, '@', a.len);
    if (at) {
        a.len -= (size_t)(at + 1 - a.ptr);
        a.ptr = at + 1;
    }
    const char *colon = memchr(a.ptr, ':', a.len);
    if (colon && a.ptr[0] != '[')
        a.len = (size_t)(colon - a.ptr);
    cs_buf_reset(&c->host);
    if (cs_buf_append(&c->host, a.ptr, a.len))
        return (cs_slice){"", 0};
    for (size_t i = 0; i < c->host.len; i++)
        if (c->host.data[i] >= 'A' && c->host.data[i] <= 'Z')
            c->host.data[i] += 32;
    const char *reg = psl_registrable_domain(c->psl, c->host.data);
    if (reg)
        return (cs_slice){reg, strlen(reg)};
    return (cs_slice){c->host.data, c->host.len};
}

cs_status cs_doc_chain_apply(cs_doc_chain *c, const cs_doc_item *it, bool *keep,
                             const char **reason)
{
    const char *reasons[D__BUILTIN + 64] = {0};
    const char **rs = reasons;
    const char **heap = NULL;
    if (c->nf > D__BUILTIN + 64) {
        if (!(heap = cs_calloc(c->nf, sizeof *heap)))
            return CS_ENOMEM;
        rs = heap;
    }
    cs_status st = CS_OK;
    if (c->fi[D_REQUIRED] >= 0)
        for (size_t i = 0; i < c->required.n; i++)
            if (empty(cs_doc_item_get(it, c->required.v[i]))) {
                rs[c->fi[D_REQUIRED]] = c->empty_reasons.v[i];
                break;
            }
    const cs_doc_field *title = cs_doc_item_get(it, c->title_field);
    cs_buf_reset(&c->norm);
    if (title && title->is_string) {
        size_t chars;
        if ((st = cs_filter_normalize_text(title->text.ptr, title->text.len, &c->norm, &chars)))
            goto done;
    }
    const char *t = c->norm.data ? c->norm.data : "";
    if (c->fi[D_TITLE] >= 0 && c->re_danger &&
        pcre2_match(c->re_danger, (PCRE2_SPTR)t, c->norm.len, 0, 0, c->md, NULL) >= 0)
        rs[c->fi[D_TITLE]] = "dangerous_title";
    if (c->fi[D_STEPS] >= 0) {
        const cs_doc_field *s = cs_doc_item_get(it, c->steps_field);
        if (!s || !s->is_array)
            rs[c->fi[D_STEPS]] = "no_steps";
        else if (s->count < c->min_steps)
            rs[c->fi[D_STEPS]] = "single_step";
    }
    if (c->fi[D_DEDUPE] >= 0 && c->norm.len) {
        /* case-folded for ASCII: "Make Bread" and "make bread" are one */
        for (size_t i = 0; i < c->norm.len; i++)
            if (c->norm.data[i] >= 'A' && c->norm.data[i] <= 'Z')
                c->norm.data[i] += 32;
        if (cs__h128set_seen(&c->titles, XXH3_128bits(c->norm.data, c->norm.len), 0, &st))
            rs[c->fi[D_DEDUPE]] = "duplicate_title";
        if (st)
            goto done;
    }
    for (size_t i = 0; i < c->nextra; i++)
        rs[c->nf - c->nextra + i] = c->extra[i].fn(c->extra[i].ud, it);
    *keep = true;
    *reason = NULL;
    for (size_t i = 0; i < c->nf; i++)
        if (rs[i]) {
            *keep = false;
            *reason = rs[i];
            break;
        }
    const cs_doc_field *u = cs_doc_item_get(it, "url");
    cs_slice url = u && u->is_string ? u->text : (cs_slice){"", 0};
    st = cs_filter_stats_add(c->stats, item_domain(c, it), url, rs, NULL);
done:
    cs_free(heap);
    if (st) {
        *keep = false;
        *reason = "out_of_memory";
    }
    return st;
}

cs_status cs_doc_item_parse(const char *json, size_t n, cs_arena *a, cs_doc_item *it, char *err,
                            size_t errlen)
{
    memset(it, 0, sizeof *it);
    json_error_t je;
    json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        snprintf(err, errlen, "byte %d: %s", je.position, je.text);
        return CS_EFORMAT;
    }
    cs_status st = CS_OK;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        st = CS_EFORMAT;
        goto done;
    }
    size_t nf = json_object_size(root);
    cs_doc_field *f = cs_arena_alloc(a, (nf ? nf : 1) * sizeof *f);
    if (!f) {
        st = CS_ENOMEM;
        goto done;
    }
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(root, key, v)
    {
        cs_doc_field *d = &f[i];
        memset(d, 0, sizeof *d);
        if (!(d->name = cs_arena_strndup(a, key, strlen(key)))) {
            st = CS_ENOMEM;
            goto done;
        }
        if (json_is_string(v)) {
            d->is_string = true;
            size_t l = json_string_length(v);
            char *s = cs_arena_strndup(a, json_string_value(v), l);
            if (!s) {
                st = CS_ENOMEM;
                goto done;
            }
            d->text = (cs_slice){s, l};
            d->count = 1;
        } else {
            d->is_array = json_is_array(v);
            d->count = json_is_array(v)    ? json_array_size(v)
                       : json_is_object(v) ? json_object_size(v)
                       : json_is_null(v)   ? 0
                                           : 1;
            char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!txt) {
                st = CS_ENOMEM;
                goto done;
            }
            d->text.ptr = cs_arena_strndup(a, txt, strlen(txt));
            d->text.len = strlen(txt);
            free(txt);
            if (!d->text.ptr) {
                st = CS_ENOMEM;
                goto done;
            }
        }
        i++;
    }
    it->fields = f;
    it->n = i;
done:
    json_decref(root);
    return st;
}
