/* rules.c - the candidate chain's rules: defaults, one key table shared by
 * the rules file and the command line (every rule is also a flag), and the
 * rules-file reader.
 *
 * The rules-file format for the whole project is YAML, read with libyaml:
 * maintained, packaged in Debian (libyaml-dev), allows comments, and lists of
 * words, domains and languages read naturally as YAML sequences. Only a flat
 * mapping of scalar or sequence values is accepted here (events API, no
 * tree: anchors, aliases and tags are refused). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "filter/filter_int.h"

typedef enum {
    K_INT,
    K_BOOL,
    K_LIST,
    K_REGEX, /* a list whose items are appended whole */
    K_FILE,  /* appends a file's lines to a list */
    K_UNSAFE,
    K_PATH,  /* a file name (resolved against the rules file's directory) */
    K_STR,   /* a plain string */
} ktype;

typedef struct keydef {
    const char *name;
    ktype type;
    size_t off;      /* offset of the field in cs_filter_rules */
    const char *help;
} keydef;

#define F(field) offsetof(cs_filter_rules, field)

static const keydef KEYS[] = {
    {"schemes", K_LIST, F(schemes), "URL schemes kept (default http,https)"},
    {"exclude-ext", K_LIST, F(exclude_ext), "URL path extensions dropped (default svg,gif,ico)"},
    {"max-url-length", K_INT, F(max_url_length), "longest URL kept, bytes (default 2048)"},
    {"max-host-length", K_INT, F(max_host_length), "longest host kept, bytes (default 60)"},
    {"block-domains", K_LIST, F(block_domains), "domains dropped (and their subdomains)"},
    {"block-domains-file", K_FILE, F(block_domains), "file of domains to drop, one per line"},
    {"allow-domains", K_LIST, F(allow_domains), "when set: only these domains are kept"},
    {"allow-domains-file", K_FILE, F(allow_domains), "file of domains to keep, one per line"},
    {"text-fields", K_LIST, F(text_fields), "line members read as the text (default alt,caption,text)"},
    {"min-text", K_INT, F(min_text), "fewest characters of text kept (default 5)"},
    {"max-text", K_INT, F(max_text), "text cut at this many characters (default 2000)"},
    {"drop-long-text", K_BOOL, F(drop_long_text), "drop text longer than max-text instead of cutting it"},
    {"placeholder", K_BOOL, F(placeholder), "drop filename-like and placeholder text (default true)"},
    {"placeholder-words", K_LIST, F(placeholder_words), "texts that are placeholders (image, logo, ...)"},
    {"placeholder-words-file", K_FILE, F(placeholder_words), "file of placeholder texts"},
    {"lang", K_LIST, F(langs), "languages kept (cld2 codes: en,de,...; un = unknown)"},
    {"lang-detect", K_BOOL, F(lang_detect), "detect the language even when all are kept"},
    {"lang-min-bytes", K_INT, F(lang_min_bytes), "shorter text is of unknown language, cld2 not run (default 20 bytes)"},
    {"lang-reliable", K_BOOL, F(lang_reliable), "an unreliable detection counts as unknown"},
    {"text-cache", K_INT, F(text_cache), "slots of the caches of language and unsafe verdicts by text (default 4096; 0 = none)"},
    {"unsafe", K_UNSAFE, F(unsafe), "unsafe-content filter: off, tag or drop (default off)"},
    {"unsafe-words", K_LIST, F(unsafe_words), "words matched as whole tokens, case-folded"},
    {"unsafe-words-file", K_FILE, F(unsafe_words), "file of unsafe words"},
    {"unsafe-phrases", K_REGEX, F(unsafe_phrases), "a phrase matched as a substring, case-folded"},
    {"unsafe-phrases-file", K_FILE, F(unsafe_phrases), "file of unsafe phrases"},
    {"unsafe-regex", K_REGEX, F(unsafe_regex), "a PCRE2 pattern (caseless, UTF)"},
    {"unsafe-regex-file", K_FILE, F(unsafe_regex), "file of PCRE2 patterns"},
    {"dedupe", K_BOOL, F(dedupe), "exact dedupe on URL + text (default true)"},
    {"dedupe-max", K_INT, F(dedupe_max), "keys remembered at most (default 0: no limit)"},
    {"bloom", K_PATH, F(bloom), "Bloom filter file of URLs seen before: they are dropped"},
    {"bloom-delta", K_PATH, F(bloom_delta), "write the URLs kept to this new Bloom file"},
    {"doc-required", K_LIST, F(doc_required), "documents: fields that must not be empty (default title)"},
    {"doc-dangerous-words", K_LIST, F(doc_dangerous_words), "documents: title words that drop them"},
    {"doc-dangerous-words-file", K_FILE, F(doc_dangerous_words), "documents: file of dangerous title words"},
    {"doc-min-steps", K_INT, F(doc_min_steps), "documents: fewest steps kept (default 2; 0 = off)"},
    {"doc-dedupe-title", K_BOOL, F(doc_dedupe_title), "documents: drop repeated titles (default true)"},
    {"doc-title-field", K_STR, F(doc_title_field), "documents: the title field (default title)"},
    {"doc-steps-field", K_STR, F(doc_steps_field), "documents: the steps field (default steps)"},
    {"all-filters", K_BOOL, F(all_filters), "run every filter on every row for complete stats (slower; default: stop at the first drop)"},
    {"failed-urls-max", K_INT, F(failed_urls_max), "failed URLs listed per filter in the stats (default 100)"},
    {"max-domains", K_INT, F(max_domains), "domains in the per-domain stats (default 100000; 0 = off)"},
    {NULL, K_INT, 0, NULL},
};

static const char *const TYPE_NAMES[] = {"int", "bool", "list", "list", "file", "enum", "path", "string"};

const cs_filter_rule_key *cs_filter_rule_keys(void)
{
    static cs_filter_rule_key keys[sizeof KEYS / sizeof KEYS[0]];
    if (!keys[0].name)
        for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
            keys[i] = (cs_filter_rule_key){KEYS[i].name,
                                           KEYS[i].name ? TYPE_NAMES[KEYS[i].type] : NULL,
                                           KEYS[i].help};
    return keys;
}

/* Placeholder alt texts seen on the web (compared to the whole normalised,
 * lower-cased text with trailing digits and separators removed). */
static const char *const PLACEHOLDERS[] = {
    "image", "img", "images", "photo", "photos", "picture", "pic", "pics", "logo",
    "icon", "banner", "placeholder", "thumbnail", "thumb", "untitled", "spacer", "blank",
    "null", "undefined", "alt", "default", "avatar", "loading", "pixel", "button",
    "arrow", "graphic", "figure", "foto", "bild", "imagen", "imagem", "immagine",
    "no image", "image not found", "alt text", "alt tag", "insert image", "featured image",
    "product image", "profile picture", "click here", "read more", "more", "here", "gallery",
    "slide", "slider", "header", "footer", "background", "screenshot", "preview", "download",
    NULL,
};

static cs_status push_all(cs_strlist *l, const char *const *v)
{
    for (; *v; v++)
        if (cs__strlist_push(l, *v, strlen(*v)))
            return CS_ENOMEM;
    return CS_OK;
}

cs_status cs_filter_rules_init(cs_filter_rules *r)
{
    static const char *const schemes[] = {"http", "https", NULL};
    static const char *const exts[] = {"svg", "gif", "ico", NULL};
    static const char *const fields[] = {"alt", "caption", "text", NULL};
    memset(r, 0, sizeof *r);
    r->max_url_length = 2048;
    r->max_host_length = 60;
    r->min_text = 5;
    r->max_text = 2000;
    r->placeholder = true;
    r->dedupe = true;
    r->lang_min_bytes = 20;
    r->text_cache = 4096;
    r->failed_urls_max = 100;
    r->max_domains = 100000;
    r->doc_min_steps = 2;
    r->doc_dedupe_title = true;
    if (cs__strlist_push(&r->doc_required, "title", 5) || push_all(&r->schemes, schemes) || push_all(&r->exclude_ext, exts) ||
        push_all(&r->text_fields, fields) || push_all(&r->placeholder_words, PLACEHOLDERS)) {
        cs_filter_rules_cleanup(r);
        return CS_ENOMEM;
    }
    return CS_OK;
}

void cs_filter_rules_cleanup(cs_filter_rules *r)
{
    if (!r)
        return;
    cs_strlist *lists[] = {&r->schemes, &r->exclude_ext, &r->block_domains, &r->allow_domains,
                           &r->text_fields, &r->placeholder_words, &r->langs,
                           &r->unsafe_words, &r->unsafe_phrases, &r->unsafe_regex,
                           &r->doc_required, &r->doc_dangerous_words};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        cs__strlist_clear(lists[i]);
    cs_free(r->doc_title_field);
    cs_free(r->doc_steps_field);
    r->doc_title_field = r->doc_steps_field = NULL;
    cs_free(r->base_dir);
    cs_free(r->bloom);
    cs_free(r->bloom_delta);
    r->base_dir = r->bloom = r->bloom_delta = NULL;
}

static const keydef *find_key(const char *name)
{
    for (const keydef *k = KEYS; k->name; k++)
        if (!strcmp(k->name, name))
            return k;
    return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (size_t i = 0; yes[i]; i++)
        if (!strcasecmp(v, yes[i]))
            return (*out = true);
    for (size_t i = 0; no[i]; i++)
        if (!strcasecmp(v, no[i]))
            return !(*out = false);
    return false;
}

cs_status cs__read_list_file(const char *path, cs_strlist *l, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CS_EIO;
    }
    char line[4096];
    cs_status st = CS_OK;
    unsigned long lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            snprintf(err, errlen, "%s:%lu: line longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            st = CS_EINVAL;
            break;
        }
        cs_slice s = cs_slice_trim((cs_slice){line, n});
        if (!s.len || s.ptr[0] == '#')
            continue;
        if ((st = cs__strlist_push(l, s.ptr, s.len)))
            break;
    }
    if (st == CS_OK && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        st = CS_EIO;
    }
    fclose(f);
    return st;
}

cs_status cs_filter_rules_set(cs_filter_rules *r, const char *key, const char *value, char *err,
                              size_t errlen)
{
    const keydef *k = find_key(key);
    if (!k) {
        snprintf(err, errlen, "unknown rule '%s'", key);
        return CS_ENOTFOUND;
    }
    void *field = (char *)r + k->off;
    switch (k->type) {
    case K_INT: {
        uint64_t v;
        if (!cs_slice_to_u64((cs_slice){value, strlen(value)}, &v) || v > SIZE_MAX / 2) {
            snprintf(err, errlen, "%s: '%s' is not a number", key, value);
            return CS_EINVAL;
        }
        *(size_t *)field = (size_t)v;
        return CS_OK;
    }
    case K_BOOL:
        if (!parse_bool(value, (bool *)field)) {
            snprintf(err, errlen, "%s: '%s' is not true or false", key, value);
            return CS_EINVAL;
        }
        return CS_OK;
    case K_UNSAFE:
        if (!strcasecmp(value, "off") || !strcasecmp(value, "false") || !strcasecmp(value, "no"))
            r->unsafe = CS_UNSAFE_OFF;
        else if (!strcasecmp(value, "tag"))
            r->unsafe = CS_UNSAFE_TAG;
        else if (!strcasecmp(value, "drop"))
            r->unsafe = CS_UNSAFE_DROP;
        else {
            snprintf(err, errlen, "%s: '%s' is not off, tag or drop", key, value);
            return CS_EINVAL;
        }
        return CS_OK;
    case K_LIST:
    case K_REGEX: {
        cs_strlist *l = field;
        if (!*value || !strcmp(value, "none")) {
            cs__strlist_clear(l);
            return CS_OK;
        }
        if (k->type == K_REGEX)
            return cs__strlist_push(l, value, strlen(value));
        for (const char *p = value;;) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            cs_slice s = cs_slice_trim((cs_slice){p, n});
            if (s.len && cs__strlist_push(l, s.ptr, s.len))
                return CS_ENOMEM;
            if (!c)
                break;
            p = c + 1;
        }
        return CS_OK;
    }
    case K_STR: {
        char **dst = field;
        char *v = *value ? cs_strdup(value) : NULL;
        if (*value && !v)
            return CS_ENOMEM;
        cs_free(*dst);
        *dst = v;
        return CS_OK;
    }
    case K_PATH: {
        char **dst = field;
        char *v = NULL;
        if (*value) {
            size_t need = strlen(value) + (r->base_dir ? strlen(r->base_dir) + 2 : 1);
            if (!(v = cs_malloc(need)))
                return CS_ENOMEM;
            if (value[0] != '/' && r->base_dir)
                snprintf(v, need, "%s/%s", r->base_dir, value);
            else
                snprintf(v, need, "%s", value);
        }
        cs_free(*dst);
        *dst = v;
        return CS_OK;
    }
    case K_FILE: {
        char path[4096];
        if (value[0] != '/' && r->base_dir)
            snprintf(path, sizeof path, "%s/%s", r->base_dir, value);
        else
            snprintf(path, sizeof path, "%s", value);
        return cs__read_list_file(path, field, err, errlen);
    }
    }
    return CS_EINVAL;
}

/* ---- YAML ---------------------------------------------------------------- */

typedef struct yctx {
    yaml_parser_t p;
    yaml_event_t ev;
    bool have_ev;
    const char *name;
    char *err;
    size_t errlen;
} yctx;

static cs_status ynext(yctx *y)
{
    if (y->have_ev)
        yaml_event_delete(&y->ev);
    y->have_ev = false;
    if (!yaml_parser_parse(&y->p, &y->ev)) {
        snprintf(y->err, y->errlen, "%s:%lu: %s", y->name,
                 (unsigned long)y->p.problem_mark.line + 1,
                 y->p.problem ? y->p.problem : "malformed YAML");
        return CS_EFORMAT;
    }
    y->have_ev = true;
    return CS_OK;
}

static cs_status yfail(yctx *y, const char *what)
{
    snprintf(y->err, y->errlen, "%s:%lu: %s", y->name,
             (unsigned long)y->ev.start_mark.line + 1, what);
    return CS_EFORMAT;
}

static cs_status yset(cs_filter_rules *r, yctx *y, const char *key, const char *val)
{
    char msg[CS_ERRMSG_MAX];
    cs_status st = cs_filter_rules_set(r, key, val, msg, sizeof msg);
    if (st == CS_ENOMEM)
        return st;
    if (st) {
        snprintf(y->err, y->errlen, "%s:%lu: %s", y->name,
                 (unsigned long)y->ev.start_mark.line + 1, msg);
        return CS_EFORMAT;
    }
    return CS_OK;
}

static cs_status load(cs_filter_rules *r, yctx *y)
{
    cs_status st;
    char key[128];
    if ((st = ynext(y)) || y->ev.type != YAML_STREAM_START_EVENT)
        return st ? st : yfail(y, "expected a YAML stream");
    if ((st = ynext(y)))
        return st;
    if (y->ev.type == YAML_STREAM_END_EVENT)
        return CS_OK; /* an empty file: the defaults */
    if (y->ev.type != YAML_DOCUMENT_START_EVENT)
        return yfail(y, "expected a document");
    if ((st = ynext(y)))
        return st;
    if (y->ev.type == YAML_SCALAR_EVENT && y->ev.data.scalar.length == 0) {
        /* an empty document */
    } else {
        if (y->ev.type != YAML_MAPPING_START_EVENT)
            return yfail(y, "the rules must be a mapping of key: value");
        for (;;) {
            if ((st = ynext(y)))
                return st;
            if (y->ev.type == YAML_MAPPING_END_EVENT)
                break;
            if (y->ev.type != YAML_SCALAR_EVENT)
                return yfail(y, "expected a key");
            if (y->ev.data.scalar.length >= sizeof key)
                return yfail(y, "key too long");
            memcpy(key, y->ev.data.scalar.value, y->ev.data.scalar.length);
            key[y->ev.data.scalar.length] = '\0';
            /* rules_file: the underscore spelling works too */
            for (char *c = key; *c; c++)
                if (*c == '_')
                    *c = '-';
            const keydef *k = find_key(key);
            if (!k)
                return yfail(y, "unknown rule key");
            if ((st = ynext(y)))
                return st;
            if (y->ev.type == YAML_SCALAR_EVENT) {
                const char *v = (const char *)y->ev.data.scalar.value;
                if (strlen(v) != y->ev.data.scalar.length)
                    return yfail(y, "NUL in a value");
                if (k->type == K_LIST || k->type == K_REGEX) /* a scalar replaces too */
                    if ((st = yset(r, y, key, "")))
                        return st;
                if ((st = yset(r, y, key, v)))
                    return st;
            } else if (y->ev.type == YAML_SEQUENCE_START_EVENT) {
                if (k->type != K_LIST && k->type != K_REGEX && k->type != K_FILE)
                    return yfail(y, "this key takes one value, not a list");
                if (k->type != K_FILE && (st = yset(r, y, key, "")))
                    return st;
                for (;;) {
                    if ((st = ynext(y)))
                        return st;
                    if (y->ev.type == YAML_SEQUENCE_END_EVENT)
                        break;
                    if (y->ev.type != YAML_SCALAR_EVENT)
                        return yfail(y, "list items must be plain values");
                    const char *v = (const char *)y->ev.data.scalar.value;
                    if (strlen(v) != y->ev.data.scalar.length)
                        return yfail(y, "NUL in a value");
                    if (!*v)
                        continue;
                    if (k->type == K_LIST) {
                        /* one item, commas and all */
                        cs_strlist *l = (cs_strlist *)((char *)r + k->off);
                        if (cs__strlist_push(l, v, strlen(v)))
                            return CS_ENOMEM;
                    } else if ((st = yset(r, y, key, v))) {
                        return st;
                    }
                }
            } else {
                return yfail(y, "expected a value or a list");
            }
        }
    }
    if ((st = ynext(y)) || y->ev.type != YAML_DOCUMENT_END_EVENT)
        return st ? st : yfail(y, "expected the end of the document");
    if ((st = ynext(y)) || y->ev.type != YAML_STREAM_END_EVENT)
        return st ? st : yfail(y, "only one YAML document is allowed");
    return CS_OK;
}

cs_status cs_filter_rules_load_mem(cs_filter_rules *r, const char *data, size_t len,
                                   const char *name, char *err, size_t errlen)
{
    yctx y;
    memset(&y, 0, sizeof y);
    y.name = name ? name : "rules";
    y.err = err;
    y.errlen = errlen;
    if (!yaml_parser_initialize(&y.p))
        return CS_ENOMEM;
    yaml_parser_set_input_string(&y.p, (const unsigned char *)data, len);
    cs_status st = load(r, &y);
    if (y.have_ev)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.p);
    return st;
}

cs_status cs_filter_rules_load(cs_filter_rules *r, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CS_EIO;
    }
    cs_buf b;
    cs_buf_init(&b, 16u << 20);
    char chunk[65536];
    size_t n;
    cs_status st = CS_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((st = cs_buf_append(&b, chunk, n)))
            break;
    bool rerr = ferror(f);
    fclose(f);
    if (st || rerr) {
        snprintf(err, errlen, "%s: %s", path, rerr ? "read error" : "larger than 16 MiB");
        cs_buf_cleanup(&b);
        return rerr ? CS_EIO : st;
    }
    /* relative list files are found beside the rules file */
    char *old = r->base_dir;
    const char *slash = strrchr(path, '/');
    r->base_dir = slash ? cs_strndup(path, (size_t)(slash - path) + (slash == path)) : NULL;
    if (slash && !r->base_dir) {
        r->base_dir = old;
        cs_buf_cleanup(&b);
        return CS_ENOMEM;
    }
    st = cs_filter_rules_load_mem(r, b.data ? b.data : "", b.len, path, err, errlen);
    cs_free(r->base_dir);
    r->base_dir = old;
    cs_buf_cleanup(&b);
    return st;
}
