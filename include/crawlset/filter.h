/* crawlset/filter.h - cleaners: filter chains with complete per-filter and
 * per-domain stats, the candidate filters (URL, text, language, unsafe
 * content, exact dedupe), the rules that configure them, Bloom filter files
 * for dedupe across jobs and workers, perceptual hashes and a near-duplicate
 * index for images, and the document / task-graph filters.
 *
 * Filter chains. The candidate chain stops at the first filter that drops
 * an item, as every real cleaner does (Crawling@Home, img2dataset): the cheap
 * filters run first (url, text, dedupe, bloom), the expensive ones (unsafe,
 * then lang) only on the items still alive, and a filter's "in" count is the
 * items that reached it. With the rule all_filters (an audit) and in the
 * document / task-graph chain (OAT's ComposedFilter), every filter runs on
 * every item, so each filter's counts are complete whatever the filters
 * before it said. Either way an item is kept when all the filters pass it,
 * and the verdicts are the same. Stats: per filter the items in, passed and
 * failed, failures by reason, and the first failed_urls_max failed URLs; per
 * domain (the registered domain of the item's URL, libpsl) passed and failed
 * per filter.
 *
 * Not thread-safe: one chain per thread; cs_filter_stats_merge() adds up the
 * stats of several.
 *
 * Depends on: util, warc (the private JSON scanner for candidate lines),
 * image (libvips start-up for pHash); pcre2, libpsl, libidn2, libyaml, cld2,
 * xxhash, GLib (Unicode normalisation, through libvips). */
#ifndef CRAWLSET_FILTER_H
#define CRAWLSET_FILTER_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- chain stats ------------------------------------------------------- */

typedef struct cs_filter_stats cs_filter_stats;

/* Creates stats for a chain of n filters named names[0..n) (copied).
 * failed_urls_max: failed URLs kept per filter (0 = none; the rest are
 * counted); max_domains: domains tracked (0 = no per-domain stats; past the
 * limit they count under "(other)"). */
CS_API CS_WARN_UNUSED cs_status cs_filter_stats_new(cs_filter_stats **out /* OUT */,
                                                    const char *const *names, size_t n,
                                                    size_t failed_urls_max, size_t max_domains);
CS_API void cs_filter_stats_free(cs_filter_stats *s);

/* Records one item: reasons[i] is NULL when filter i passed it, else the
 * reason it failed (a string that must outlive the stats: a literal or
 * one the chain owns). tagged (may be NULL) is a reason it was tagged
 * without being dropped (unsafe with tag mode), counted per filter as
 * "tagged". domain and url may be empty. CS_ENOMEM only. */
CS_API CS_WARN_UNUSED cs_status cs_filter_stats_add(cs_filter_stats *s, cs_slice domain,
                                                    cs_slice url,
                                                    const char *const *reasons,
                                                    const char *const *tagged);

/* Adds the counts of `from` (same filter names in the same order, else
 * CS_EINVAL) into `into`. */
CS_API CS_WARN_UNUSED cs_status cs_filter_stats_merge(cs_filter_stats *into,
                                                      const cs_filter_stats *from);

/* Items seen and kept. */
CS_API void cs_filter_stats_totals(const cs_filter_stats *s, uint64_t *items /* OUT */,
                                   uint64_t *kept /* OUT */);
/* Counts of filter i (false when i is out of range): in, passed, failed,
 * and the count of one reason (0 when reason is NULL or never seen). */
CS_API bool cs_filter_stats_counts(const cs_filter_stats *s, size_t i, uint64_t *in /* OUT */,
                                   uint64_t *passed /* OUT */, uint64_t *failed /* OUT */);
CS_API uint64_t cs_filter_stats_reason(const cs_filter_stats *s, size_t i, const char *reason);

/* Appends the stats as one JSON object ("in": the items that reached the
 * filter, all of them with complete stats; "out" = passed):
 *   {"items":N,"kept":N,"dropped":N,
 *    "filters":[{"name":"url","in":N,"out":N,"failed":N,
 *                "reasons":{"extension":N,...},"tagged":{"unsafe_word":N},
 *                "failed_urls":[...],"failed_urls_more":N},...],
 *    "domains":{"example.com":{"items":N,"kept":N,
 *                              "url":{"passed":N,"failed":N},...},...}}
 * with_domains false leaves "domains" out. */
CS_API cs_status cs_filter_stats_json(const cs_filter_stats *s, bool with_domains, cs_buf *out);

/* ---- rules ------------------------------------------------------------- */

/* What to do with an item that matches the unsafe lists. */
typedef enum cs_unsafe_mode {
    CS_UNSAFE_OFF,  /* the unsafe filter is not in the chain */
    CS_UNSAFE_TAG,  /* keep the item, tag it (verdict.unsafe) */
    CS_UNSAFE_DROP, /* drop it */
} cs_unsafe_mode;

/* A growable list of owned strings. */
typedef struct cs_strlist {
    char **v;
    size_t n, cap;
} cs_strlist;

/* Appends a copy of s[0..n) (CS_ENOMEM); clear frees every item. */
CS_API CS_WARN_UNUSED cs_status cs_strlist_push(cs_strlist *l, const char *s, size_t n);
CS_API void cs_strlist_clear(cs_strlist *l);

/* The candidate chain's configuration. Every field is also a rules-file key
 * and a command-line flag of the same name (cs_filter_rules_set); the
 * defaults are those of cs_filter_rules_init(). */
typedef struct cs_filter_rules {
    /* url */
    cs_strlist schemes;          /* schemes kept (http, https) */
    cs_strlist exclude_ext;      /* URL path extensions dropped (svg, gif, ico) */
    size_t max_url_length;       /* bytes (2048) */
    size_t max_host_length;      /* bytes (60) */
    cs_strlist block_domains;    /* dropped: the host or one of its parent domains */
    cs_strlist allow_domains;    /* when not empty: kept only these */
    /* text */
    cs_strlist text_fields;      /* line members tried in order for the text
                                    (alt, caption, text) */
    size_t min_text;             /* characters after normalisation (5) */
    size_t max_text;             /* characters kept; longer text is truncated (2000) */
    bool drop_long_text;         /* drop text longer than max_text instead */
    bool placeholder;            /* drop filename-like and placeholder text (true) */
    cs_strlist placeholder_words;/* whole-text placeholders ("image", "logo", ...) */
    /* language */
    cs_strlist langs;            /* languages kept (cld2 codes: en, de, zh, ...);
                                    "un" keeps text of unknown language; empty = all */
    bool lang_detect;            /* run cld2 even without langs (for the split) */
    bool lang_reliable;          /* count an unreliable detection as unknown */
    size_t lang_min_bytes;       /* text shorter than this (bytes, 20) is of unknown
                                    language ("un") without running cld2, which
                                    says nothing reliable about so little text */
    size_t text_cache;           /* slots of the caches of language and unsafe
                                    verdicts by text (4096; rounded down to a power
                                    of two, at most 1M; 0 = no cache): the same alt
                                    text recurs across a site's pages */
    /* unsafe */
    cs_unsafe_mode unsafe;       /* off (default), tag or drop */
    cs_strlist unsafe_words;     /* single words, matched as whole tokens, case-folded */
    cs_strlist unsafe_phrases;   /* matched as substrings, case-folded */
    cs_strlist unsafe_regex;     /* PCRE2 patterns (caseless, UTF) */
    /* dedupe */
    bool dedupe;                 /* exact dedupe on URL + text (true) */
    size_t dedupe_max;           /* keys remembered at most (0 = no limit) */
    char *bloom;                 /* Bloom filter file of URLs seen before (read-only,
                                    mmap): filter "bloom" drops them; NULL = off */
    char *bloom_delta;           /* Bloom file written by cs_filter_chain_finish()
                                    with the URLs kept (bloom's parameters, else
                                    the defaults); NULL = none */
    /* documents and task graphs (crawlset filter --docs; cs_doc_rules) */
    cs_strlist doc_required;     /* fields that must not be empty (title) */
    cs_strlist doc_dangerous_words; /* title words that drop a document */
    size_t doc_min_steps;        /* 2 */
    bool doc_dedupe_title;       /* true */
    char *doc_title_field;       /* NULL = "title" */
    char *doc_steps_field;       /* NULL = "steps" */
    /* chain */
    bool all_filters;            /* run every filter on every candidate, for
                                    complete per-filter stats (an audit; false:
                                    stop at the first filter that drops it) */
    /* stats */
    size_t failed_urls_max;      /* per filter (100) */
    size_t max_domains;          /* per-domain stats (100,000; 0 = off) */
    char *base_dir;              /* where relative *-file paths are resolved (NULL = cwd) */
} cs_filter_rules;

/* One rules key, for --help and the flag parser. */
typedef struct cs_filter_rule_key {
    const char *name;  /* "min-text" */
    const char *type;  /* "int", "bool", "list", "file", "path", "enum" */
    const char *help;  /* one line */
} cs_filter_rule_key;

/* The keys, terminated by a NULL name. */
CS_API const cs_filter_rule_key *cs_filter_rule_keys(void);

/* Defaults: URL rules (http/https, no svg/gif/ico, length 2048, host 60,
 * valid host), text >= 5 characters truncated at 2000, placeholder rule,
 * exact dedupe; language and unsafe off. */
CS_API CS_WARN_UNUSED cs_status cs_filter_rules_init(cs_filter_rules *r /* OUT */);
CS_API void cs_filter_rules_cleanup(cs_filter_rules *r);

/* Sets one key from text, as a command-line flag does. Integers are
 * decimal; booleans true/false/yes/no/on/off/1/0; "unsafe" is off, tag or
 * drop. List keys append the comma-separated items of value (the regex
 * key appends value whole); "" or "none" clears the list first. "*-file"
 * keys read one item per line from a file (blank lines and lines starting
 * with '#' ignored) and append them. CS_ENOTFOUND for an unknown key,
 * CS_EINVAL for a bad value, CS_EIO for an unreadable file; err says what. */
CS_API CS_WARN_UNUSED cs_status cs_filter_rules_set(cs_filter_rules *r, const char *key,
                                                    const char *value, char *err,
                                                    size_t errlen);

/* Reads a YAML rules file: one mapping of key: value, the keys of
 * cs_filter_rules_set (a YAML sequence replaces a list key's items).
 * Relative *-file paths are resolved against the file's directory.
 * CS_EFORMAT with "FILE:LINE: what" in err on bad YAML, an unknown key or
 * a bad value; CS_EIO when the file cannot be read. */
CS_API CS_WARN_UNUSED cs_status cs_filter_rules_load(cs_filter_rules *r, const char *path,
                                                     char *err, size_t errlen);
/* As cs_filter_rules_load on memory (name is used in messages). */
CS_API CS_WARN_UNUSED cs_status cs_filter_rules_load_mem(cs_filter_rules *r, const char *data,
                                                         size_t len, const char *name,
                                                         char *err, size_t errlen);

/* ---- candidate chain ---------------------------------------------------- */

/* One image-text candidate. Slices are borrowed for the call; absent ones
 * have ptr NULL. */
typedef struct cs_candidate {
    cs_slice url;   /* the image (or link) URL */
    cs_slice text;  /* alt / caption */
    cs_slice title; /* title attribute, checked by the unsafe filter too */
    cs_slice page;  /* the page URL */
    cs_slice lang;  /* a page-language hint ("en", "eng", "fr-CA"), if any */
} cs_candidate;

/* Language class of a candidate, as LAION-5B split its output. */
typedef enum cs_lang_class {
    CS_LANG_NOLANG, /* not detected or not reliable */
    CS_LANG_EN,     /* English */
    CS_LANG_MULTI,  /* any other language */
} cs_lang_class;

/* The outcome for one candidate; pointers valid until the next apply. */
typedef struct cs_filter_verdict {
    bool keep;              /* every filter passed it */
    const char *filter;     /* the first filter that failed it, NULL when kept */
    const char *reason;     /* its reason ("extension", "too_short", ...) */
    const char *unsafe;     /* when the unsafe filter matched (tag or drop): the
                               reason ("unsafe_word", ...), else NULL */
    bool truncated;         /* text was cut at max_text */
    cs_slice text;          /* the normalised (and maybe truncated) text */
    char lang[16];          /* cld2 code ("en", "zh-Hant"), "" when not run, "un" */
    int lang_percent;       /* of the text in that language, 0-100 */
    bool lang_reliable;
    cs_lang_class lang_class;
} cs_filter_verdict;

typedef struct cs_filter_chain cs_filter_chain;

/* Builds the chain the rules describe (only the enabled filters; names in
 * the order they run: url, text, dedupe, bloom, unsafe, lang). The rules are copied. CS_EINVAL
 * with err set for a regex that does not compile; CS_ENOMEM. */
CS_API CS_WARN_UNUSED cs_status cs_filter_chain_new(cs_filter_chain **out /* OUT */,
                                                    const cs_filter_rules *r, char *err,
                                                    size_t errlen);
CS_API void cs_filter_chain_free(cs_filter_chain *c);

/* Runs the filters on one candidate until one drops it (every filter with
 * all_filters), records it in the stats and fills *v (lang is "" when the
 * lang filter was not reached). CS_ENOMEM only (the verdict is then a drop). */
CS_API CS_WARN_UNUSED cs_status cs_filter_chain_apply(cs_filter_chain *c,
                                                      const cs_candidate *cand,
                                                      cs_filter_verdict *v /* OUT */);

/* The chain's stats (owned by the chain). */
CS_API cs_filter_stats *cs_filter_chain_stats(cs_filter_chain *c);

/* A new empty stats object with the chain's filters and limits (for the
 * caller to keep per-part counts, e.g. per shard; free it). */
CS_API CS_WARN_UNUSED cs_status cs_filter_chain_new_stats(const cs_filter_chain *c,
                                                          cs_filter_stats **out /* OUT */);
/* Also records every item applied from now on into s (NULL: stop); s must
 * come from cs_filter_chain_new_stats and outlive its use. */
CS_API void cs_filter_chain_also_stats(cs_filter_chain *c, cs_filter_stats *s);

/* Finds the candidate in one JSON Lines row, a flat JSON object as `crawlset
 * wat links` and the download input write (url, the first of the rules'
 * text_fields present, title, page, lang), without building a tree. Strings
 * with escapes are unescaped into scratch (reset by the caller between
 * lines, or reused: it is reset here). CS_EFORMAT (err says where and what)
 * for a line that is not a JSON object or whose url is missing or not a
 * string. */
CS_API CS_WARN_UNUSED cs_status cs_filter_parse_line(const cs_filter_chain *c, const char *line,
                                                     size_t len, cs_buf *scratch,
                                                     cs_candidate *out /* OUT */, char *err,
                                                     size_t errlen);

/* Text normalisation used by the chain, exposed for tests: NFKC (GLib),
 * invalid UTF-8 replaced by U+FFFD, control and format characters removed,
 * runs of white space collapsed to one space, trimmed. Appends to out;
 * *chars gets the number of characters. */
CS_API cs_status cs_filter_normalize_text(const char *s, size_t n, cs_buf *out,
                                          size_t *chars /* OUT */);

/* Normalises a URL for keys (dedupe, Bloom): scheme and host lower-cased,
 * fragment dropped, nothing else changed. Writes at most n bytes to out
 * (which may equal url); returns the length. */
CS_API size_t cs_filter_url_norm(const char *url, size_t n, char *out);

/* Saves what the chain has to save at the end of a run: the Bloom delta
 * (rules key bloom-delta). CS_EIO with err set when it cannot be written. */
CS_API CS_WARN_UNUSED cs_status cs_filter_chain_finish(cs_filter_chain *c, char *err,
                                                       size_t errlen);

/* ---- Bloom filter files --------------------------------------------------
 *
 * A Bloom filter of the keys seen across jobs and workers (Crawling@Home's
 * Bloom server, as files). Sized from the expected count n and the error
 * rate p: m = ceil(-n ln p / ln(2)^2) bits rounded up to a multiple of 512,
 * k = round(m/n ln 2) hashes (1% at 100M: 958,505,984 bits = 114 MiB, k 7).
 * Key hashing: XXH3-128 of the key bytes gives h1, h2; bit i is
 * (h1 + i*h2) mapped onto [0, m) by multiply-shift (double hashing).
 *
 * File layout (little-endian), a 4096-byte header then the bit array, so
 * the bits are page-aligned for mmap:
 *   0  "CSBLOOM\0"     8  version (u32, 1)     12 k (u32)
 *   16 m bits (u64)    24 capacity n (u64)     32 error rate (f64)
 *   40 bits checksum: XXH3-64 of the bit array (u64)
 *   48 header checksum: XXH3-64 of bytes 0..47 (u64); the rest zero.
 * Nothing in the file depends on the order keys were added, so two files
 * with the same parameters merge by OR, and merge(A, B) is byte for byte
 * the file built from the keys of A and B.
 *
 * Read-only opens mmap the file (MAP_SHARED, PROT_READ): any number of
 * processes share one copy in the page cache. Writable opens read the file
 * into memory; cs_bloom_save() writes a temporary file and renames it into
 * place, so readers that mapped the old file keep a consistent view.
 *
 * The tracker flow (a dedupe Bloom across workers):
 *   1. The tracker keeps the master filter file (crawlset bloom create).
 *   2. A worker taking a job fetches the current master (HTTP GET of the
 *      file; a worker on the tracker's machine mmaps it directly) and runs
 *      its filter chain with rules bloom: MASTER (candidates whose URL is in
 *      it are dropped: filter "bloom", reason "seen") and bloom-delta: DELTA
 *      (the URLs it keeps go into a fresh filter with the master's
 *      parameters).
 *   3. With the job's completion the worker sends DELTA back; the tracker
 *      ORs it into the master (cs_bloom_merge; crawlset bloom merge), which
 *      is idempotent and commutative, so late, repeated or reordered deltas
 *      are harmless, and saves the master atomically.
 *   4. Workers that took jobs before the merge may keep a few URLs that a
 *      concurrent worker also kept: the same trade-off the Crawling@Home
 *      server made; the exact dedupe inside a job is unaffected.
 * tests/filter/test_bloom.c plays this with two workers against files. */

typedef struct cs_bloom cs_bloom;

/* Parameters of a filter (what the header holds). */
typedef struct cs_bloom_info {
    uint32_t k;          /* hashes per key */
    uint64_t m;          /* bits */
    uint64_t capacity;   /* expected count it was sized for */
    double error_rate;   /* configured false-positive rate at capacity */
    uint64_t bits_set;   /* bits that are 1 (computed) */
    double est_count;    /* estimated distinct keys: -m/k ln(1 - bits_set/m) */
} cs_bloom_info;

#define CS_BLOOM_DEFAULT_CAPACITY 100000000ull
#define CS_BLOOM_DEFAULT_ERROR 0.01

/* A new empty filter in memory for capacity keys at error_rate (0 and 0 =
 * the defaults, 100M at 1%). CS_EINVAL for a rate outside (0, 0.5] or a
 * size above 2^40 bits. */
CS_API CS_WARN_UNUSED cs_status cs_bloom_new(cs_bloom **out /* OUT */, uint64_t capacity,
                                             double error_rate);
/* A new empty filter with the parameters of b. */
CS_API CS_WARN_UNUSED cs_status cs_bloom_new_like(cs_bloom **out /* OUT */, const cs_bloom *b);

enum {
    CS_BLOOM_WRITABLE = 1, /* read into memory, for adding and saving */
    CS_BLOOM_VERIFY = 2,   /* check the bit array's checksum (reads it all) */
};
/* Opens a filter file (flags above; 0 = read-only mmap, header checked).
 * CS_EIO (cannot open/map), CS_EFORMAT (not a filter, bad header checksum,
 * size mismatch, bits checksum mismatch with VERIFY); err says which. */
CS_API CS_WARN_UNUSED cs_status cs_bloom_open(cs_bloom **out /* OUT */, const char *path,
                                              int flags, char *err, size_t errlen);
/* Frees (unmaps) b; NULL does nothing. */
CS_API void cs_bloom_free(cs_bloom *b);

/* Adds a key; returns whether it was (probably) present before. A read-only
 * filter is not changed (returns the query answer). */
CS_API bool cs_bloom_add(cs_bloom *b, const void *key, size_t n);
/* Whether the key is (probably) present: false is certain. */
CS_API bool cs_bloom_query(const cs_bloom *b, const void *key, size_t n);

/* ORs src into dst (dst writable). CS_EINVAL when their parameters differ. */
CS_API CS_WARN_UNUSED cs_status cs_bloom_merge(cs_bloom *dst, const cs_bloom *src);

/* Writes b to path atomically (PATH.tmp.PID, fsync, rename). CS_EIO. */
CS_API CS_WARN_UNUSED cs_status cs_bloom_save(const cs_bloom *b, const char *path, char *err,
                                              size_t errlen);

CS_API void cs_bloom_info_get(const cs_bloom *b, cs_bloom_info *out /* OUT */);
/* Whether two filters have the same parameters (k, m, capacity, rate). */
CS_API bool cs_bloom_same_params(const cs_bloom *a, const cs_bloom *b);

/* ---- perceptual hashes and near duplicates ------------------------------
 *
 * pHash as the imagehash library computes it: the image (EXIF orientation
 * applied, alpha flattened onto white) reduced to 32x32 grey by libvips,
 * a 2-D DCT-II of it, the 8x8 lowest frequencies, and one bit per
 * coefficient: 1 when it is above their median. Bit 8*v+u is coefficient
 * (row v, column u). Two images are near duplicates when the Hamming
 * distance of their hashes is within a radius (default 4). */

#define CS_PHASH_DEFAULT_RADIUS 4

/* The pHash of an encoded image in data[0..len) (any format cs_image
 * decodes). CS_EFORMAT (err says why) when it cannot be decoded. Thread-safe. */
CS_API CS_WARN_UNUSED cs_status cs_phash_image(const void *data, size_t len,
                                               uint64_t *out /* OUT */, char *err,
                                               size_t errlen);
/* The pHash of 32x32 grey pixels, row by row. */
CS_API uint64_t cs_phash_gray32(const uint8_t px[1024]);

static inline int cs_phash_distance(uint64_t a, uint64_t b)
{
    return __builtin_popcountll(a ^ b);
}

/* Near-duplicate search without comparing all pairs: multi-index hashing
 * (Norouzi et al.). The 64 bits are cut into radius+1 chunks; two hashes
 * within the radius agree exactly on at least one chunk (pigeonhole), so a
 * query looks up its own chunk values in one sorted table per chunk and
 * compares only the hashes found there. Built once over an array of hashes
 * (ids are their positions); read-only afterwards, so queries may run on
 * several threads. */
typedef struct cs_phash_index cs_phash_index;

/* Indexes hashes[0..n) (copied) for searches within radius (0-31).
 * CS_EINVAL for a bad radius or n >= 2^32; CS_ENOMEM. */
CS_API CS_WARN_UNUSED cs_status cs_phash_index_new(cs_phash_index **out /* OUT */,
                                                   const uint64_t *hashes, size_t n,
                                                   int radius);
CS_API void cs_phash_index_free(cs_phash_index *x);

/* Called once per hash within the radius of the query (each id once). */
typedef void (*cs_phash_hit_fn)(void *ud, uint32_t id, int distance);

/* Finds every indexed hash within the index's radius of q; returns how
 * many full comparisons were made (the work, for benchmarks). */
CS_API size_t cs_phash_index_query(const cs_phash_index *x, uint64_t q, cs_phash_hit_fn fn,
                                   void *ud);

/* ---- dataset dedupe ------------------------------------------------------
 *
 * Exact (sha256 of the bytes) and near (pHash within a radius, through the
 * index above) duplicate images across a whole dataset directory: every
 * image file under it (the files and web2dataset layouts, any folder tree)
 * and every image member of its .tar shards (webdataset). Folders named
 * _tmp and names starting with '.' are skipped. Items are taken in path
 * order (tar members in shard order); an item is a duplicate of the first
 * earlier item that is kept and is byte-identical (exact) or within the
 * radius (near: the closest one, the first of equals). */

typedef struct cs_dedupe_opts {
    int radius;        /* near-duplicate radius; 0 = default 4; -1 = exact only;
                          -2 = radius 0 */
    bool drop;         /* remove duplicates: files with the item's name stem in
                          its folder (KEY.jpg, KEY.json, KEY.txt; and
                          metadata/KEY.json beside images/), tar members with
                          that stem (each changed shard rewritten atomically) */
    unsigned threads;  /* hashing threads; 0 = one per CPU */
} cs_dedupe_opts;

typedef struct cs_dedupe_stats {
    uint64_t images;       /* image items found */
    uint64_t undecodable;  /* items pHash could not decode (exact dedupe only) */
    uint64_t exact;        /* exact duplicates */
    uint64_t near;         /* near duplicates */
    uint64_t dropped;      /* files removed and tar members left out */
    uint64_t shards_rewritten;
} cs_dedupe_stats;

/* One duplicate: item and dup_of are names relative to the directory
 * ("00000.tar/000000012.jpg", "images/12.jpg"); kind "exact" or "near";
 * distance the Hamming distance (0 for exact). Called in item order. */
typedef void (*cs_dedupe_fn)(void *ud, const char *item, const char *dup_of, const char *kind,
                             int distance);

/* Finds (and with opts->drop removes) the duplicates under dir. fn may be
 * NULL. CS_EIO / CS_EFORMAT (an unreadable file or corrupt tar; err says
 * which) stop the run before anything is dropped. */
CS_API CS_WARN_UNUSED cs_status cs_dedupe_dir(const char *dir, const cs_dedupe_opts *opts,
                                              cs_dedupe_fn fn, void *ud,
                                              cs_dedupe_stats *stats /* OUT */, char *err,
                                              size_t errlen);

/* ---- documents and task graphs -------------------------------------------
 *
 * The same chain mechanism over generic items: an item is a set of named
 * top-level fields (a JSON object's members). Built-in filters, in order:
 *   required  every field of the required list present and not empty (null,
 *             "", blank text, [] and {} are empty); reason "empty_FIELD"
 *   title     the title has none of the dangerous words (whole tokens,
 *             case-folded); reason "dangerous_title"
 *   steps     the steps field holds at least min_steps elements; reasons
 *             "no_steps" (absent or not a list), "single_step" (fewer)
 *   dedupe    the normalised, case-folded title was not seen before;
 *             reason "duplicate_title"
 * then the caller's own filters (cs_doc_chain_add). Every filter sees every
 * item; stats per filter and per domain (the item's "domain" field, else the
 * registered domain of its "url"), failed URLs from "url". */

/* One top-level field. */
typedef struct cs_doc_field {
    const char *name;  /* NUL-terminated */
    cs_slice text;     /* string value (unescaped), else the JSON text */
    size_t count;      /* elements of an array, members of an object, 1 for
                          other non-null values, 0 for null */
    bool is_string;
    bool is_array;
} cs_doc_field;

typedef struct cs_doc_item {
    const cs_doc_field *fields;
    size_t n;
} cs_doc_item;

/* The field named name, or NULL. */
CS_API const cs_doc_field *cs_doc_item_get(const cs_doc_item *it, const char *name);

typedef struct cs_doc_rules {
    cs_strlist required;        /* fields that must not be empty (title) */
    const char *title_field;    /* "title" */
    cs_strlist dangerous_words; /* title words that drop the item */
    const char *steps_field;    /* "steps" */
    size_t min_steps;           /* 2; 0 = no steps filter */
    bool dedupe_title;          /* true */
    size_t failed_urls_max;     /* 100 */
    size_t max_domains;         /* 100,000 */
} cs_doc_rules;

/* Defaults above (dangerous_words empty: data/filter/dangerous-words.txt
 * ships a list). Strings in the struct are borrowed by cs_doc_chain_new. */
CS_API CS_WARN_UNUSED cs_status cs_doc_rules_init(cs_doc_rules *r /* OUT */);
CS_API void cs_doc_rules_cleanup(cs_doc_rules *r);

/* The document rules of a cs_filter_rules (the doc-* keys), borrowing its
 * strings: valid while r is. */
CS_API CS_WARN_UNUSED cs_status cs_doc_rules_from(cs_doc_rules *out /* OUT */,
                                                  const cs_filter_rules *r);

/* A filter of the caller's: NULL when the item passes, else a reason that
 * outlives the chain. */
typedef const char *(*cs_doc_filter_fn)(void *ud, const cs_doc_item *it);

typedef struct cs_doc_chain cs_doc_chain;

/* extra: the caller's filters (name, fn, ud), n_extra of them, run after
 * the built-ins; names copied. CS_EINVAL (err set) for a word list that does
 * not compile. */
typedef struct cs_doc_filter {
    const char *name;
    cs_doc_filter_fn fn;
    void *ud;
} cs_doc_filter;
CS_API CS_WARN_UNUSED cs_status cs_doc_chain_new(cs_doc_chain **out /* OUT */,
                                                 const cs_doc_rules *r,
                                                 const cs_doc_filter *extra, size_t n_extra,
                                                 char *err, size_t errlen);
CS_API void cs_doc_chain_free(cs_doc_chain *c);
/* Runs every filter on the item; *keep and *reason (first failing filter's
 * reason, NULL when kept) out. CS_ENOMEM only. */
CS_API CS_WARN_UNUSED cs_status cs_doc_chain_apply(cs_doc_chain *c, const cs_doc_item *it,
                                                   bool *keep /* OUT */,
                                                   const char **reason /* OUT */);
CS_API cs_filter_stats *cs_doc_chain_stats(cs_doc_chain *c);

/* Reads the top-level members of the JSON object json[0..n) (jansson) into
 * *it; the fields live in arena a (reset it between items). CS_EFORMAT
 * with err for anything but an object. */
CS_API CS_WARN_UNUSED cs_status cs_doc_item_parse(const char *json, size_t n, cs_arena *a,
                                                  cs_doc_item *it /* OUT */, char *err,
                                                  size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
