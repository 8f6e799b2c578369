/* candidate.c - the candidate filter chain: URL rules, text rules, exact
 * dedupe (XXH3-128), the Bloom filter of URLs seen before, unsafe
 * words/phrases/regexes (PCRE2) and language (cld2), in that order, stopping
 * at the first drop (every filter on every candidate with all_filters; see
 * filter.h), and the JSON Lines row parser in front of it. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <idn2.h>
#include <libpsl.h>
#include <pcre2.h>
#include <xxhash.h>

#include "crawlset/url.h"
#include "filter/filter_int.h"
#include "warc/jscan.h"

/* The filters in the order they run: the cheap ones first, so that the
 * expensive ones (unsafe patterns, cld2) only see rows still alive. */
enum { F_URL, F_TEXT, F_DEDUPE, F_BLOOM, F_UNSAFE, F_LANG, F__N };
static const char *const FNAMES[F__N] = {"url", "text", "dedupe", "bloom", "unsafe", "lang"};

/* The line members the parser looks for besides the text fields. */
enum { K_URL, K_TITLE, K_PAGE, K_LANG, K__FIXED };
#define MAX_TEXT_FIELDS (32 - K__FIXED)
#define HOST_SLOTS 1024

struct cs_filter_chain {
    cs_filter_rules r;       /* a copy */
    cs_filter_stats *stats;
    int fi[F__N];            /* index of each filter in the chain, -1 when off */
    size_t nf;
    const psl_ctx_t *psl;
    /* sorted lower-case domain lists, for bsearch */
    char **block, **allow;
    size_t nblock, nallow;
    /* compiled patterns (NULL when not needed) */
    pcre2_code *re_filename, *re_words, *re_phrases, **re_user;
    /* the bytes a match of each unsafe pattern can start with (start_set),
     * so that text holding none of them skips the pattern: index 0
     * re_words, 1 re_words_rest, 2 re_phrases, 3.. re_user */
    struct start_set {
        uint64_t b[4];
        bool any; /* no such knowledge: always run the pattern */
    } *starts;
    /* the unsafe words made of ASCII letters and digits only, as a hash set
     * of their lower-case forms (one lookup per token of ASCII text), and a
     * pattern of the others (NULL when there are none) */
    struct word_slot {
        uint64_t h;
        const char *w;
        size_t n;
    } *wset;
    size_t wcap;
    pcre2_code *re_words_rest;
    size_t nuser;
    pcre2_match_data *md;
    /* per-host cache: candidates of one page share a host */
    char host[256];
    size_t hostlen;          /* (size_t)-1: nothing cached */
    char domain[256];
    size_t domlen;
    const char *host_reason; /* the host's verdict: NULL or a reason */
    cs__h128set set;         /* exact dedupe keys */
    cs_bloom *bloom, *delta; /* URLs seen before (read-only); URLs kept */
    cs_filter_stats *also;   /* a second stats object (borrowed), or NULL */
    const char *names[F__N]; /* the filters in the chain, in order */
    size_t *ph_len;          /* lengths of the placeholder words */
    struct host_slot {       /* recent hosts (host_verdict) */
        char host[64], lower[65], domain[64];
        size_t n, domlen;
        const char *reason;
        bool used;
    } *host_cache;
    /* Results of cld2 and of the unsafe patterns by text: the same alt
     * text recurs across a site's pages (direct-mapped, 64-bit keys). */
    struct lang_slot {
        uint64_t key;
        char lang[16];
        int pct;
        bool rel, used;
    } *lang_cache;
    struct unsafe_slot {
        uint64_t key;
        const char *why;
        bool used;
    } *unsafe_cache;
    size_t cache_mask;       /* slots - 1; the caches are NULL without slots */
    /* scratch, reused */
    cs_buf norm, title, key, low;
    cs_jkeys jkeys;
    const char *jnames[32];
    unsigned njnames;
};

/* ---- helpers ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static cs_status sorted_lower(const cs_strlist *l, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!l->n)
        return CS_OK;
    char **v = cs_calloc(l->n, sizeof *v);
    if (!v)
        return CS_ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        const char *s = l->v[i];
        while (*s == '.') /* ".example.com" means the same */
            s++;
        if (!(v[i] = cs_strdup(s))) {
            for (size_t j = 0; j < i; j++)
                cs_free(v[j]);
            cs_free(v);
            return CS_ENOMEM;
        }
        for (char *c = v[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c += 32;
    }
    qsort(v, l->n, sizeof *v, cmp_str);
    *out = v;
    *n = l->n;
    return CS_OK;
}

static bool in_sorted(char **v, size_t n, const char *s)
{
    return n && bsearch(&s, v, n, sizeof *v, cmp_str) != NULL;
}

/* The host or one of its parent domains is in the list. */
static bool domain_listed(char **v, size_t n, const char *host)
{
    for (const char *h = host; h && *h;) {
        if (in_sorted(v, n, h))
            return true;
        h = strchr(h, '.');
        if (h)
            h++;
    }
    return false;
}

/* Appends s with PCRE2 metacharacters escaped. */
static cs_status re_escape(cs_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == ' '))
            if (cs_buf_putc(b, '\\'))
                return CS_ENOMEM;
        if (cs_buf_putc(b, (char)c))
            return CS_ENOMEM;
    }
    return CS_OK;
}

static cs_status compile(const char *pat, size_t len, pcre2_code **out, char *err, size_t errlen,
                         const char *what)
{
    int ec;
    PCRE2_SIZE eo;
    *out = pcre2_compile((PCRE2_SPTR)pat, len,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS | PCRE2_MATCH_INVALID_UTF, &ec,
                         &eo, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "%s: %s at offset %zu", what, (const char *)msg, (size_t)eo);
        return CS_EINVAL;
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* interpreted if JIT is unavailable */
    return CS_OK;
}

/* Appends the alternation of the items; words get letter/digit boundaries. */
static cs_status list_pattern(const cs_strlist *l, bool words, cs_buf *b)
{
    cs_status st = cs_buf_puts(b, words ? "(?<![\\p{L}\\p{N}])(?:" : "(?:");
    for (size_t i = 0; !st && i < l->n; i++) {
        if (i)
            st = cs_buf_putc(b, '|');
        if (!st)
            st = re_escape(b, l->v[i]);
    }
    if (!st)
        st = cs_buf_puts(b, words ? ")(?![\\p{L}\\p{N}])" : ")");
    return st;
}

cs_status cs__re_compile_list(const cs_strlist *l, bool words, pcre2_code **out, char *err,
                              size_t errlen, const char *what)
{
    *out = NULL;
    if (!l->n)
        return CS_OK;
    cs_buf b;
    cs_buf_init(&b, 0);
    cs_status st = list_pattern(l, words, &b);
    if (!st)
        st = compile(b.data, b.len, out, err, errlen, what);
    cs_buf_cleanup(&b);
    return st;
}

static bool re_match(const cs_filter_chain *c, const pcre2_code *re, const char *s, size_t n)
{
    return re && pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, c->md, NULL) >= 0;
}

static void set_byte(struct start_set *t, unsigned char b)
{
    t->b[b >> 6] |= 1ull << (b & 63);
}

/* What PCRE2 knows of the first code unit of re's matches (the knowledge
 * its own matcher skips start positions with): a start bitmap, or one
 * code unit (taken caselessly: pattern_info does not say whether it is).
 * "any" when it knows nothing, or the pattern can match an empty string.
 * Caseless 'k' and 's' also match U+212A and U+017F, whose lead bytes are
 * added (the text is NFKC, which maps both away, but this costs nothing). */
static void start_set_of(const pcre2_code *re, struct start_set *t)
{
    memset(t, 0, sizeof *t);
    uint32_t type = 0, unit = 0;
    size_t minlen = 0;
    const uint8_t *bitmap = NULL;
    if (!re || pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &minlen) || !minlen ||
        pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODETYPE, &type) ||
        pcre2_pattern_info(re, PCRE2_INFO_FIRSTBITMAP, &bitmap)) {
        t->any = true;
        return;
    }
    if (type == 1 && !pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODEUNIT, &unit) && unit < 0x80) {
        set_byte(t, (unsigned char)unit);
        if ((unit | 32) >= 'a' && (unit | 32) <= 'z') {
            set_byte(t, (unsigned char)(unit ^ 32));
            if ((unit | 32) == 'k')
                set_byte(t, 0xE2);
            if ((unit | 32) == 's')
                set_byte(t, 0xC5);
        }
    } else if (type == 0 && bitmap) {
        for (unsigned i = 0; i < 256; i++)
            if (bitmap[i >> 3] >> (i & 7) & 1)
                set_byte(t, (unsigned char)i);
        if (t->b[1] & ((1ull << ('k' - 64)) | (1ull << ('K' - 64))))
            set_byte(t, 0xE2);
        if (t->b[1] & ((1ull << ('s' - 64)) | (1ull << ('S' - 64))))
            set_byte(t, 0xC5);
    } else {
        t->any = true;
    }
}

/* re_match, skipped when the text has none of the pattern's start bytes
 * (present: the text's bytes, as a set). */
static bool re_match_set(const cs_filter_chain *c, const pcre2_code *re,
                         const struct start_set *t, const uint64_t present[4], const char *s,
                         size_t n)
{
    if (!re)
        return false;
    if (!t->any && !((t->b[0] & present[0]) | (t->b[1] & present[1]) | (t->b[2] & present[2]) |
                     (t->b[3] & present[3])))
        return false;
    return re_match(c, re, s, n);
}

/* ---- lifecycle -------------------------------------------------------- */

void cs_filter_chain_free(cs_filter_chain *c)
{
    if (!c)
        return;
    cs_filter_rules_cleanup(&c->r);
    cs_filter_stats_free(c->stats);
    for (size_t i = 0; i < c->nblock; i++)
        cs_free(c->block[i]);
    for (size_t i = 0; i < c->nallow; i++)
        cs_free(c->allow[i]);
    cs_free(c->block);
    cs_free(c->allow);
    pcre2_code_free(c->re_filename);
    pcre2_code_free(c->re_words);
    pcre2_code_free(c->re_words_rest);
    cs_free(c->wset);
    pcre2_code_free(c->re_phrases);
    for (size_t i = 0; i < c->nuser; i++)
        pcre2_code_free(c->re_user[i]);
    cs_free(c->re_user);
    cs_free(c->starts);
    pcre2_match_data_free(c->md);
    cs__h128set_free(&c->set);
    cs_free(c->ph_len);
    cs_free(c->host_cache);
    cs_free(c->lang_cache);
    cs_free(c->unsafe_cache);
    cs_bloom_free(c->bloom);
    cs_bloom_free(c->delta);
    cs_buf_cleanup(&c->norm);
    cs_buf_cleanup(&c->title);
    cs_buf_cleanup(&c->key);
    cs_buf_cleanup(&c->low);
    cs_free(c);
}

static cs_status copy_rules(cs_filter_rules *d, const cs_filter_rules *s)
{
    *d = *s;
    d->base_dir = NULL;
    memset(&d->doc_required, 0, sizeof d->doc_required);
    memset(&d->doc_dangerous_words, 0, sizeof d->doc_dangerous_words);
    d->doc_title_field = d->doc_steps_field = NULL; /* the chain does not use them */
    d->bloom = s->bloom ? cs_strdup(s->bloom) : NULL;
    d->bloom_delta = s->bloom_delta ? cs_strdup(s->bloom_delta) : NULL;
    if ((s->bloom && !d->bloom) || (s->bloom_delta && !d->bloom_delta))
        return CS_ENOMEM;
    cs_strlist *dl[] = {&d->schemes, &d->exclude_ext, &d->block_domains, &d->allow_domains,
                        &d->text_fields, &d->placeholder_words, &d->langs,
                        &d->unsafe_words, &d->unsafe_phrases, &d->unsafe_regex};
    const cs_strlist *sl[] = {&s->schemes, &s->exclude_ext, &s->block_domains,
                              &s->allow_domains, &s->text_fields, &s->placeholder_words,
                              &s->langs, &s->unsafe_words, &s->unsafe_phrases,
                              &s->unsafe_regex};
    for (size_t i = 0; i < sizeof dl / sizeof dl[0]; i++)
        memset(dl[i], 0, sizeof *dl[i]);
    for (size_t i = 0; i < sizeof dl / sizeof dl[0]; i++)
        if (cs__strlist_copy(dl[i], sl[i]))
            return CS_ENOMEM;
    return CS_OK;
}

/* Filename-like text: a file name with an image extension, or a camera /
 * CMS default name (IMG_1234, DSC01234, image001, Screenshot_2021...), or a
 * bare hex/digit identifier. */
static const char RE_FILENAME[] =
    "^(?:[^\\s/\\\\]{1,200}\\.(?:jpe?g|jfif|png|gif|webp|bmp|svg|tiff?|heic|avif|ico)"
    "|(?:img|dsc|dscn|dscf|dcim|pxl|mvimg|image|photo|pic|screenshot|scan|gopr|sam|wp)"
    "[-_ ]?\\d{3,}[\\w-]*"
    "|[0-9a-f]{8,}(?:[-_][0-9a-f]+)*)$";

static bool ascii_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static uint64_t word_hash(const char *s, size_t n)
{
    return XXH3_64bits(s, n) | 1; /* 0 marks an empty slot */
}

/* The slot of the lower-case ASCII word s[0..n) in the set, or NULL. */
static const struct word_slot *word_find(const cs_filter_chain *c, const char *s, size_t n)
{
    uint64_t h = word_hash(s, n);
    for (size_t j = (size_t)h & (c->wcap - 1); c->wset[j].h; j = (j + 1) & (c->wcap - 1))
        if (c->wset[j].h == h && c->wset[j].n == n && !memcmp(c->wset[j].w, s, n))
            return &c->wset[j];
    return NULL;
}

/* Splits the unsafe words into the hash set (ASCII letters and digits
 * only, lower-cased in place in the chain's copy of the rules) and a
 * pattern of the rest. The full pattern (re_words) stays for text that is
 * not ASCII, where case folding and letter boundaries are Unicode's. */
static cs_status word_set(cs_filter_chain *c, char *err, size_t errlen)
{
    const cs_strlist *l = &c->r.unsafe_words;
    cs_strlist rest = {0};
    c->wcap = 16;
    while (c->wcap < 2 * l->n + 2)
        c->wcap *= 2;
    if (!(c->wset = cs_calloc(c->wcap, sizeof *c->wset)))
        return CS_ENOMEM;
    cs_status st = CS_OK;
    for (size_t i = 0; !st && i < l->n; i++) {
        char *w = l->v[i];
        size_t n = strlen(w);
        bool simple = n > 0;
        for (size_t k = 0; k < n; k++)
            simple = simple && ascii_alnum((unsigned char)w[k]);
        if (!simple) {
            st = cs__strlist_push(&rest, w, n);
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (w[k] >= 'A' && w[k] <= 'Z')
                w[k] += 32;
        if (word_find(c, w, n))
            continue;
        uint64_t h = word_hash(w, n);
        size_t j = (size_t)h & (c->wcap - 1);
        while (c->wset[j].h)
            j = (j + 1) & (c->wcap - 1);
        c->wset[j] = (struct word_slot){h, w, n};
    }
    if (!st)
        st = cs__re_compile_list(&rest, true, &c->re_words_rest, err, errlen, "unsafe-words");
    cs__strlist_clear(&rest);
    return st;
}

cs_status cs_filter_chain_new(cs_filter_chain **out, const cs_filter_rules *r, char *err,
                              size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    cs_filter_chain *c = cs_calloc(1, sizeof *c);
    if (!c)
        return CS_ENOMEM;
    cs_status st = copy_rules(&c->r, r);
    cs_buf_init(&c->norm, 0);
    cs_buf_init(&c->title, 0);
    cs_buf_init(&c->key, 0);
    cs_buf_init(&c->low, 0);
    c->hostlen = (size_t)-1;
    if (st)
        goto fail;
    const char *names[F__N];
    for (int f = 0; f < F__N; f++) {
        bool on = true;
        if (f == F_LANG)
            on = r->langs.n > 0 || r->lang_detect;
        else if (f == F_UNSAFE)
            on = r->unsafe != CS_UNSAFE_OFF;
        else if (f == F_DEDUPE)
            on = r->dedupe;
        else if (f == F_BLOOM)
            on = r->bloom != NULL;
        c->fi[f] = on ? (int)c->nf : -1;
        if (on)
            names[c->nf++] = FNAMES[f];
    }
    if ((st = cs_filter_stats_new(&c->stats, names, c->nf, r->failed_urls_max, r->max_domains)))
        goto fail;
    memcpy(c->names, names, c->nf * sizeof names[0]);
    c->psl = psl_builtin();
    if (r->bloom && (st = cs_bloom_open(&c->bloom, r->bloom, 0, err, errlen)))
        goto fail;
    if (r->bloom_delta &&
        (st = c->bloom ? cs_bloom_new_like(&c->delta, c->bloom) : cs_bloom_new(&c->delta, 0, 0)))
        goto fail;
    if ((st = sorted_lower(&r->block_domains, &c->block, &c->nblock)) ||
        (st = sorted_lower(&r->allow_domains, &c->allow, &c->nallow)))
        goto fail;
    c->ph_len = cs_malloc((r->placeholder_words.n ? r->placeholder_words.n : 1) * sizeof(size_t));
    size_t slots = 0;
    if (r->text_cache) {
        slots = 1;
        while (slots * 2 <= r->text_cache && slots < ((size_t)1 << 20))
            slots *= 2;
        c->cache_mask = slots - 1;
        c->lang_cache = cs_calloc(slots, sizeof *c->lang_cache);
        c->unsafe_cache = cs_calloc(slots, sizeof *c->unsafe_cache);
    }
    c->host_cache = cs_calloc(HOST_SLOTS, sizeof *c->host_cache);
    if (!c->ph_len || (slots && (!c->lang_cache || !c->unsafe_cache)) || !c->host_cache) {
        st = CS_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < r->placeholder_words.n; i++)
        c->ph_len[i] = strlen(r->placeholder_words.v[i]);
    if (!(c->md = pcre2_match_data_create(1, NULL))) {
        st = CS_ENOMEM;
        goto fail;
    }
    if (r->placeholder &&
        (st = compile(RE_FILENAME, sizeof RE_FILENAME - 1, &c->re_filename, err, errlen,
                      "filename pattern")))
        goto fail;
    if (r->unsafe != CS_UNSAFE_OFF) {
        if ((st = word_set(c, err, errlen)) ||
            (st = cs__re_compile_list(&r->unsafe_words, true, &c->re_words, err, errlen,
                               "unsafe-words")) ||
            (st = cs__re_compile_list(&r->unsafe_phrases, false, &c->re_phrases, err, errlen,
                               "unsafe-phrases")))
            goto fail;
        if (r->unsafe_regex.n &&
            !(c->re_user = cs_calloc(r->unsafe_regex.n, sizeof *c->re_user))) {
            st = CS_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < r->unsafe_regex.n; i++) {
            char what[64];
            snprintf(what, sizeof what, "unsafe-regex %zu", i + 1);
            if ((st = compile(r->unsafe_regex.v[i], strlen(r->unsafe_regex.v[i]),
                              &c->re_user[i], err, errlen, what)))
                goto fail;
            c->nuser++;
        }
        if (!(c->starts = cs_calloc(3 + c->nuser, sizeof *c->starts))) {
            st = CS_ENOMEM;
            goto fail;
        }
        start_set_of(c->re_words, &c->starts[0]);
        start_set_of(c->re_words_rest, &c->starts[1]);
        start_set_of(c->re_phrases, &c->starts[2]);
        for (size_t i = 0; i < c->nuser; i++)
            start_set_of(c->re_user[i], &c->starts[3 + i]);
    }
    /* the line parser's keys */
    static const char *const fixed[K__FIXED] = {"url", "title", "page", "lang"};
    for (unsigned i = 0; i < K__FIXED; i++)
        c->jnames[c->njnames++] = fixed[i];
    for (size_t i = 0; i < r->text_fields.n && i < MAX_TEXT_FIELDS; i++)
        c->jnames[c->njnames++] = c->r.text_fields.v[i];
    cs__js_keys_init(&c->jkeys, c->jnames, c->njnames);
    *out = c;
    return CS_OK;
fail:
    if (st == CS_ENOMEM && err && errlen && !err[0])
        snprintf(err, errlen, "out of memory");
    cs_filter_chain_free(c);
    return st;
}

cs_filter_stats *cs_filter_chain_stats(cs_filter_chain *c)
{
    return c->stats;
}

cs_status cs_filter_chain_new_stats(const cs_filter_chain *c, cs_filter_stats **out)
{
    return cs_filter_stats_new(out, c->names, c->nf, c->r.failed_urls_max, c->r.max_domains);
}

void cs_filter_chain_also_stats(cs_filter_chain *c, cs_filter_stats *s)
{
    c->also = s;
}

/* ---- URL ---------------------------------------------------------------- */

static bool valid_ascii_host(const char *h, size_t n)
{
    if (!n)
        return false;
    if (h[0] == '[') { /* IPv6 literal */
        if (n < 3 || h[n - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < n; i++) {
            char c = h[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.'))
                return false;
        }
        return true;
    }
    if (h[n - 1] == '.') /* a fully qualified name */
        n--;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? h[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || h[i - 1] == '-' || h[i - label] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
        label++;
    }
    return true;
}

/* Works out the host's verdict and registered domain into the cache. */
static void host_verdict_compute(cs_filter_chain *c, const char *host, size_t n);

/* The host's verdict and registered domain: the last host's, or from a
 * direct-mapped cache of recent hosts (candidates of a page share hosts,
 * pages of a site too), else worked out. */
static void host_verdict(cs_filter_chain *c, const char *host, size_t n)
{
    if (c->hostlen == n && !memcmp(c->host, host, n))
        return;
    struct host_slot *hs = NULL;
    if (n < sizeof hs->host) {
        hs = &c->host_cache[XXH3_64bits(host, n) & (HOST_SLOTS - 1)];
        if (hs->used && hs->n == n && !memcmp(hs->host, host, n)) {
            memcpy(c->host, hs->lower, n + 1);
            c->hostlen = n;
            memcpy(c->domain, hs->domain, hs->domlen);
            c->domlen = hs->domlen;
            c->host_reason = hs->reason;
            return;
        }
    }
    host_verdict_compute(c, host, n);
    if (hs && c->hostlen == n && c->domlen < sizeof hs->domain) {
        hs->used = true;
        hs->n = n;
        memcpy(hs->host, host, n);
        memcpy(hs->lower, c->host, n + 1);
        memcpy(hs->domain, c->domain, c->domlen);
        hs->domlen = c->domlen;
        hs->reason = c->host_reason;
    }
}

static void host_verdict_compute(cs_filter_chain *c, const char *host, size_t n)
{
    c->hostlen = (size_t)-1;
    c->host_reason = NULL;
    c->domlen = 0;
    if (n >= sizeof c->host) {
        c->host_reason = "host_too_long";
        return;
    }
    memcpy(c->host, host, n);
    c->host[n] = '\0';
    c->hostlen = n;
    bool ascii = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (ch >= 'A' && ch <= 'Z')
            c->host[i] = (char)(ch + 32);
        if (ch >= 0x80)
            ascii = false;
    }
    const char *lookup = c->host;
    char *idna = NULL;
    if (!n)
        c->host_reason = "no_host";
    else if (n > c->r.max_host_length)
        c->host_reason = "host_too_long";
    else if (ascii ? !valid_ascii_host(c->host, n)
                   : idn2_to_ascii_8z(c->host, &idna, IDN2_NONTRANSITIONAL) != IDN2_OK ||
                         !valid_ascii_host(idna, strlen(idna)))
        c->host_reason = "bad_host";
    if (idna)
        lookup = idna;
    if (!c->host_reason) {
        if (c->nblock && domain_listed(c->block, c->nblock, lookup))
            c->host_reason = "blocked_domain";
        else if (c->nallow && !domain_listed(c->allow, c->nallow, lookup))
            c->host_reason = "not_allowed_domain";
    }
    const char *reg = psl_registrable_domain(c->psl, lookup);
    if (!reg || !*reg)
        reg = lookup;
    size_t rl = strlen(reg);
    if (rl < sizeof c->domain) {
        memcpy(c->domain, reg, rl);
        c->domlen = rl;
    }
    if (idna)
        idn2_free(idna);
}

/* The host part of an authority: no userinfo, no port. */
static cs_slice authority_host(cs_slice a)
{
    for (size_t i = a.len; i-- > 0;)
        if (a.ptr[i] == '@') {
            a.ptr += i + 1;
            a.len -= i + 1;
            break;
        }
    if (a.len && a.ptr[0] == '[') {
        const char *e = memchr(a.ptr, ']', a.len);
        if (e)
            a.len = (size_t)(e - a.ptr) + 1;
        return a;
    }
    const char *colon = memchr(a.ptr, ':', a.len);
    if (colon)
        a.len = (size_t)(colon - a.ptr);
    return a;
}

static const char *url_filter(cs_filter_chain *c, cs_slice url, cs_url_parts *p)
{
    if (!url.ptr || !url.len)
        return "no_url";
    cs_url_split(url.ptr, url.len, p);
    if (!p->has_scheme)
        return "no_scheme";
    const char *why = NULL;
    bool ok = false;
    for (size_t i = 0; i < c->r.schemes.n; i++)
        if (cs_slice_ieq(p->scheme, c->r.schemes.v[i]))
            ok = true;
    if (!ok)
        why = cs_slice_ieq(p->scheme, "data")         ? "data_url"
              : cs_slice_ieq(p->scheme, "javascript") ? "javascript_url"
              : cs_slice_ieq(p->scheme, "mailto")     ? "mailto_url"
                                                      : "scheme";
    if (!why && url.len > c->r.max_url_length)
        why = "url_too_long";
    if (!p->has_authority) {
        c->hostlen = (size_t)-1;
        c->domlen = 0;
        return why ? why : "no_host";
    }
    cs_slice host = authority_host(p->authority);
    host_verdict(c, host.ptr, host.len);
    if (!why)
        why = c->host_reason;
    if (!why && c->r.exclude_ext.n) {
        cs_slice path = p->path;
        const char *seg = path.ptr, *end = path.ptr + path.len;
        for (const char *q = path.ptr; q < end; q++)
            if (*q == '/')
                seg = q + 1;
        const char *dot = NULL;
        for (const char *q = seg; q < end; q++)
            if (*q == '.')
                dot = q;
        if (dot) {
            cs_slice ext = {dot + 1, (size_t)(end - dot - 1)};
            for (size_t i = 0; i < c->r.exclude_ext.n; i++)
                if (cs_slice_ieq(ext, c->r.exclude_ext.v[i]))
                    return "extension";
        }
    }
    return why;
}

/* ---- text --------------------------------------------------------------- */

static bool placeholder_word(const cs_filter_chain *c, const char *s, size_t n)
{
    /* drop trailing digits and separators: "image 1", "photo_02" */
    while (n && ((s[n - 1] >= '0' && s[n - 1] <= '9') || s[n - 1] == ' ' || s[n - 1] == '_' ||
                 s[n - 1] == '-' || s[n - 1] == '.' || s[n - 1] == '#'))
        n--;
    if (!n || n > 40)
        return n == 0;
    char low[48];
    for (size_t i = 0; i < n; i++)
        low[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    for (size_t i = 0; i < c->r.placeholder_words.n; i++)
        if (c->ph_len[i] == n && !strncasecmp(c->r.placeholder_words.v[i], low, n))
            return true;
    return false;
}

static const char *text_filter(cs_filter_chain *c, cs_slice text, cs_filter_verdict *v,
                               cs_status *st)
{
    cs_buf_reset(&c->norm);
    size_t chars = 0;
    if (text.ptr && (*st = cs_filter_normalize_text(text.ptr, text.len, &c->norm, &chars)))
        return "no_text";
    v->text = (cs_slice){c->norm.data ? c->norm.data : "", c->norm.len};
    if (!text.ptr)
        return "no_text";
    if (chars > c->r.max_text) {
        /* cut after max_text characters */
        size_t k = 0, i = 0;
        const unsigned char *p = (const unsigned char *)c->norm.data;
        for (; i < c->norm.len; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                if (k == c->r.max_text)
                    break;
                k++;
            }
        }
        c->norm.len = i;
        c->norm.data[i] = '\0';
        v->text.len = i;
        v->truncated = true;
        if (c->r.drop_long_text)
            return "too_long";
    }
    if (chars < c->r.min_text)
        return "too_short";
    if (c->r.placeholder) {
        if (placeholder_word(c, v->text.ptr, v->text.len))
            return "placeholder";
        /* no alternative of the pattern matches text with two spaces or more
         * (most captions): skip the regex for those */
        const char *sp = memchr(v->text.ptr, ' ', v->text.len);
        bool two = sp && memchr(sp + 1, ' ', v->text.len - (size_t)(sp + 1 - v->text.ptr));
        if (!two && v->text.len <= 256 &&
            re_match(c, c->re_filename, v->text.ptr, v->text.len))
            return "filename_like";
    }
    return NULL;
}

static const char *lang_filter(cs_filter_chain *c, const cs_candidate *cand,
                               cs_filter_verdict *v)
{
    char hint[32] = "";
    if (cand->lang.ptr && cand->lang.len < sizeof hint) {
        memcpy(hint, cand->lang.ptr, cand->lang.len);
        hint[cand->lang.len] = '\0';
    }
    struct lang_slot *ls = NULL;
    if (v->text.len < c->r.lang_min_bytes) {
        /* too little text for cld2 to say anything reliable */
        strcpy(v->lang, "un");
        v->lang_percent = 0;
        v->lang_reliable = false;
        goto decided;
    }
    uint64_t key = 0;
    if (c->lang_cache) {
        key = XXH3_64bits_withSeed(v->text.ptr, v->text.len, XXH3_64bits(hint, strlen(hint)));
        ls = &c->lang_cache[key & c->cache_mask];
        if (ls->used && ls->key == key) {
            memcpy(v->lang, ls->lang, sizeof v->lang);
            v->lang_percent = ls->pct;
            v->lang_reliable = ls->rel;
            goto decided;
        }
    }
    cs__cld2_detect(v->text.ptr, v->text.len, hint, v->lang, sizeof v->lang, &v->lang_percent,
                    &v->lang_reliable);
    if (ls) {
        *ls = (struct lang_slot){.key = key, .pct = v->lang_percent, .rel = v->lang_reliable,
                                 .used = true};
        memcpy(ls->lang, v->lang, sizeof v->lang);
    }
decided:
    if (c->r.lang_reliable && !v->lang_reliable)
        strcpy(v->lang, "un");
    bool unknown = !strcmp(v->lang, "un");
    v->lang_class = unknown ? CS_LANG_NOLANG : !strcmp(v->lang, "en") ? CS_LANG_EN : CS_LANG_MULTI;
    if (!c->r.langs.n)
        return NULL;
    size_t base = strcspn(v->lang, "-");
    for (size_t i = 0; i < c->r.langs.n; i++) {
        const char *k = c->r.langs.v[i];
        if (!strcasecmp(k, v->lang) || (strlen(k) == base && !strncasecmp(k, v->lang, base)))
            return NULL;
    }
    return unknown ? "lang_unknown" : "lang_not_kept";
}

/* True when ASCII text s[0..n) has a token (a run of letters and digits)
 * in the word set, compared lower-cased. */
static bool word_in_set(const cs_filter_chain *c, const char *s, size_t n)
{
    char low[64];
    for (size_t i = 0; i < n;) {
        if (!ascii_alnum((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t b = i;
        while (i < n && ascii_alnum((unsigned char)s[i]))
            i++;
        size_t m = i - b;
        if (m <= sizeof low) {
            for (size_t k = 0; k < m; k++)
                low[k] = (s[b + k] >= 'A' && s[b + k] <= 'Z') ? (char)(s[b + k] + 32) : s[b + k];
            if (word_find(c, low, m))
                return true;
        } else { /* rare: a long token, against every word */
            for (size_t j = 0; j < c->wcap; j++)
                if (c->wset[j].h && c->wset[j].n == m && !strncasecmp(c->wset[j].w, s + b, m))
                    return true;
        }
    }
    return false;
}

static const char *unsafe_in(const cs_filter_chain *c, const char *s, size_t n)
{
    uint64_t present[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        present[b >> 6] |= 1ull << (b & 63);
    }
    const struct start_set *t = c->starts;
    bool ascii = !present[2] && !present[3];
    if (ascii ? word_in_set(c, s, n) || re_match_set(c, c->re_words_rest, &t[1], present, s, n)
              : re_match_set(c, c->re_words, &t[0], present, s, n))
        return "unsafe_word";
    if (re_match_set(c, c->re_phrases, &t[2], present, s, n))
        return "unsafe_phrase";
    for (size_t i = 0; i < c->nuser; i++)
        if (re_match_set(c, c->re_user[i], &t[3 + i], present, s, n))
            return "unsafe_regex";
    return NULL;
}

static const char *unsafe_filter(cs_filter_chain *c, const cs_candidate *cand,
                                 const cs_filter_verdict *v, cs_status *st)
{
    uint64_t key = XXH3_64bits(v->text.ptr, v->text.len);
    if (cand->title.ptr)
        key ^= XXH3_64bits_withSeed(cand->title.ptr, cand->title.len, 1) * 0x9E3779B97F4A7C15ull;
    struct unsafe_slot *us = c->unsafe_cache ? &c->unsafe_cache[key & c->cache_mask] : NULL;
    if (us && us->used && us->key == key)
        return us->why;
    const char *why = unsafe_in(c, v->text.ptr, v->text.len);
    if (!why && cand->title.ptr && cand->title.len) {
        size_t chars;
        cs_buf_reset(&c->title);
        if ((*st = cs_filter_normalize_text(cand->title.ptr, cand->title.len, &c->title, &chars)))
            return NULL;
        why = unsafe_in(c, c->title.data, c->title.len);
    }
    if (us)
        *us = (struct unsafe_slot){key, why, true};
    return why;
}

/* ---- dedupe ------------------------------------------------------------- */

/* The dedupe key: the normalised URL, then the normalised text. The slot
 * it probes first is prefetched: the set is large and the lookup comes after
 * the language and unsafe filters. */
static size_t url_norm_parts(const char *url, size_t n, const cs_url_parts *p, char *out);

static XXH128_hash_t dedupe_key(cs_filter_chain *c, cs_slice url, const cs_url_parts *p,
                                const cs_filter_verdict *v, cs_status *st)
{
    XXH128_hash_t h = {0, 0};
    cs_buf_reset(&c->key);
    if ((*st = cs_buf_reserve(&c->key, url.len + v->text.len + 2)))
        return h;
    char *w = c->key.data;
    size_t n = url.ptr && url.len ? url_norm_parts(url.ptr, url.len, p, w) : 0;
    w[n] = '\n';
    memcpy(w + n + 1, v->text.ptr, v->text.len);
    h = XXH3_128bits(w, n + 1 + v->text.len);
    cs__h128set_prefetch(&c->set, h);
    return h;
}

/* ---- apply -------------------------------------------------------------- */

cs_status cs_filter_chain_apply(cs_filter_chain *c, const cs_candidate *cand,
                                cs_filter_verdict *v)
{
    memset(v, 0, sizeof *v);
    const char *reasons[F__N] = {0}, *tagged[F__N] = {0};
    cs_status st = CS_OK;
    const bool all = c->r.all_filters;
    size_t nrun = c->nf; /* the filters the candidate reached */
    cs_url_parts parts;
    memset(&parts, 0, sizeof parts);
/* stops the chain after filter f when it dropped the candidate */
#define STOP_AFTER(f)                                                                           \
    do {                                                                                        \
        if (!all && reasons[c->fi[f]]) {                                                       \
            nrun = (size_t)c->fi[f] + 1;                                                        \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)
    reasons[c->fi[F_URL]] = url_filter(c, cand->url, &parts);
    STOP_AFTER(F_URL);
    reasons[c->fi[F_TEXT]] = text_filter(c, cand->text, v, &st);
    if (st)
        goto done;
    STOP_AFTER(F_TEXT);
    if (c->fi[F_DEDUPE] >= 0) {
        XXH128_hash_t dkey = dedupe_key(c, cand->url, &parts, v, &st);
        if (!st)
            reasons[c->fi[F_DEDUPE]] =
                cs__h128set_seen(&c->set, dkey, c->r.dedupe_max, &st) ? "duplicate" : NULL;
        if (st)
            goto done;
        STOP_AFTER(F_DEDUPE);
    }
    if (c->fi[F_BLOOM] >= 0 && cand->url.ptr && cand->url.len) {
        cs_buf_reset(&c->low);
        if ((st = cs_buf_reserve(&c->low, cand->url.len + 1)))
            goto done;
        size_t keylen = url_norm_parts(cand->url.ptr, cand->url.len, &parts, c->low.data);
        if (cs_bloom_query(c->bloom, c->low.data, keylen))
            reasons[c->fi[F_BLOOM]] = "seen";
        STOP_AFTER(F_BLOOM);
    }
    if (c->fi[F_UNSAFE] >= 0) {
        v->unsafe = unsafe_filter(c, cand, v, &st);
        if (st)
            goto done;
        if (c->r.unsafe == CS_UNSAFE_DROP)
            reasons[c->fi[F_UNSAFE]] = v->unsafe;
        else
            tagged[c->fi[F_UNSAFE]] = v->unsafe;
        STOP_AFTER(F_UNSAFE);
    }
    if (c->fi[F_LANG] >= 0)
        reasons[c->fi[F_LANG]] = lang_filter(c, cand, v);
#undef STOP_AFTER
done:
    if (st) {
        v->keep = false;
        v->filter = "internal";
        v->reason = "out_of_memory";
        return st;
    }
    v->keep = true;
    for (size_t i = 0; i < nrun; i++)
        if (reasons[i]) {
            v->keep = false;
            v->reason = reasons[i];
            v->filter = c->names[i];
            break;
        }
    if (v->keep && c->delta && cand->url.ptr && cand->url.len) {
        cs_buf_reset(&c->low);
        if ((st = cs_buf_reserve(&c->low, cand->url.len + 1)))
            return st;
        size_t keylen = url_norm_parts(cand->url.ptr, cand->url.len, &parts, c->low.data);
        cs_bloom_add(c->delta, c->low.data, keylen);
    }
    cs_slice dom = {c->domain, c->hostlen == (size_t)-1 ? 0 : c->domlen};
    st = cs__filter_stats_add_n(c->stats, dom, cand->url, reasons, tagged, nrun);
    if (!st && c->also)
        st = cs__filter_stats_add_n(c->also, dom, cand->url, reasons, tagged, nrun);
    return st;
}

size_t cs_filter_url_norm(const char *url, size_t n, char *out)
{
    cs_url_parts p;
    cs_url_split(url, n, &p);
    return url_norm_parts(url, n, &p, out);
}

/* cs_filter_url_norm with the URL already split. */
static size_t url_norm_parts(const char *url, size_t n, const cs_url_parts *pp, char *out)
{
    const cs_url_parts p = *pp;
    if (p.has_fragment)
        n = (size_t)(p.fragment.ptr - 1 - url);
    size_t lower_end = 0;
    if (p.has_authority)
        lower_end = (size_t)(p.authority.ptr + p.authority.len - url);
    else if (p.has_scheme)
        lower_end = p.scheme.len;
    for (size_t i = 0; i < n; i++) {
        char ch = url[i];
        out[i] = (i < lower_end && ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    return n;
}

cs_status cs_filter_chain_finish(cs_filter_chain *c, char *err, size_t errlen)
{
    if (!c->delta)
        return CS_OK;
    return cs_bloom_save(c->delta, c->r.bloom_delta, err, errlen);
}

/* ---- line parser -------------------------------------------------------- */

cs_status cs_filter_parse_line(const cs_filter_chain *c, const char *line, size_t len,
                               cs_buf *scratch, cs_candidate *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    cs_buf_reset(scratch);
    if (len >= UINT32_MAX) {
        snprintf(err, errlen, "line longer than 4 GiB");
        return CS_EFORMAT;
    }
    cs_jscan js;
    cs__js_init(&js, line, len, 64);
    cs_jspan spans[32];
    uint32_t present = 0, escaped = 0, wrong = 0;
    if (!cs__js_object_strings(&js, &c->jkeys, spans, &present, &escaped, &wrong) ||
        !cs__js_finish(&js)) {
        snprintf(err, errlen, "byte %zu: %s", js.err_off, js.err ? js.err : "malformed JSON");
        return CS_EFORMAT;
    }
    if (wrong & (1u << K_URL)) {
        snprintf(err, errlen, "\"url\" is not a string");
        return CS_EFORMAT;
    }
    if (!(present & (1u << K_URL))) {
        snprintf(err, errlen, "no \"url\" member");
        return CS_EFORMAT;
    }
    /* room for every escaped string, so slices into scratch stay put */
    size_t need = 0;
    for (unsigned i = 0; i < c->njnames; i++)
        if (escaped & (1u << i))
            need += spans[i].len;
    if (need && cs_buf_reserve(scratch, need + 1))
        return CS_ENOMEM;
    cs_slice vals[32] = {{0}};
    for (unsigned i = 0; i < c->njnames; i++) {
        vals[i] = (cs_slice){NULL, 0};
        if (!(present & (1u << i)))
            continue;
        const char *raw = line + spans[i].off;
        if (escaped & (1u << i)) {
            char *d = scratch->data + scratch->len;
            size_t m = cs__js_unescape(raw, spans[i].len, d);
            scratch->len += m;
            vals[i] = (cs_slice){d, m};
        } else {
            vals[i] = (cs_slice){raw, spans[i].len};
        }
    }
    out->url = vals[K_URL];
    out->title = vals[K_TITLE];
    out->page = vals[K_PAGE];
    out->lang = vals[K_LANG];
    for (unsigned i = K__FIXED; i < c->njnames; i++)
        if (vals[i].ptr) {
            out->text = vals[i];
            break;
        }
    return CS_OK;
}
