/* urllist.c - URL lists (txt, csv, tsv, jsonl; plain or gzip) read as a
 * bounded stream with per-row errors.
 *
 * Input goes through zlib's gzread, which passes plain text through and
 * inflates gzip (also concatenated members) by its magic bytes, whatever the
 * name says. JSON lines are parsed with jansson (lines are bounded).
 *
 * The bounded record input and the CSV splitter are shared with ccindex.c
 * (util/lines.c: own code rather than libcsv, for a bound on every row, line
 * numbers, resynchronisation); here they are lenient the way Python's csv
 * module is, since URL lists are often hand-made: a quote opens a quoted
 * field only at the start of a field, text after a closing quote is kept,
 * and a quote that never closes spoils only its own line (the reader resumes
 * after that line's end instead of eating the rest of the file). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "crawlset/gzip.h"
#include "crawlset/urllist.h"
#include "dataset/dataset_int.h"
#include "util/lines.h"

#define DEFAULT_MAX_LINE (1u << 20)
#define MEM_GZIP_MAX (256u << 20)

struct cs_urllist_reader {
    cs__lines in;             /* input, line count, name, errmsg */
    cs_urllist_format format; /* AUTO until open decides */
    char *url_col;            /* owned */
    char *caption_col;        /* owned; NULL = none */
    char **save;              /* owned copies of save_columns */
    size_t nsave;
    char *owned;              /* inflated gzip memory input (in.mem points here) */
    bool dead;                /* a fatal error was returned */

    /* CSV / TSV */
    char delim;
    char **hdr;            /* header names (owned) */
    size_t nhdr;
    long url_idx, cap_idx; /* header positions; -1 = absent */
    long *save_idx;        /* nsave positions */
    cs__fields f;          /* the current row's fields */

    /* the current row */
    json_t *json;
    cs_arena arena;
    cs_urllist_column *cols; /* nsave entries */
    cs_urllist_row row;
    bool repaired;
    uint64_t next_index;
    cs_urllist_stats stats;
};

/* Sets errmsg ("NAME:LINE: what"; no line when 0) and returns st. */
#define FAIL(r, ...) cs__lines_fail(&(r)->in, __VA_ARGS__)

/* ---- text repair ------------------------------------------------------------- */

/* Copies [p, p+n) into the arena as valid UTF-8 without NUL (U+FFFD for
 * every invalid byte or NUL). NULL when out of memory. */
static const char *clean_text(cs_urllist_reader *r, const char *p, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = cs__utf8_seq((const unsigned char *)p + i, n - i);
        if (k == 0 || p[i] == '\0') {
            bad++;
            i++;
        } else {
            i += k;
        }
    }
    if (!bad)
        return cs_arena_strndup(&r->arena, p, n);
    r->repaired = true;
    char *o = cs_arena_alloc(&r->arena, n + 2 * bad + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        size_t k = cs__utf8_seq((const unsigned char *)p + i, n - i);
        if (k == 0 || p[i] == '\0') {
            memcpy(o + j, "\xEF\xBF\xBD", 3);
            j += 3;
            i++;
        } else {
            memcpy(o + j, p + i, k);
            j += k;
            i += k;
        }
    }
    o[j] = 0;
    return o;
}

/* The URL in [p, p+n), trimmed, with spaces and invalid UTF-8 bytes
 * percent-encoded. NULL with errmsg set (and *st) when empty or holding a
 * control character. */
static const char *clean_url(cs_urllist_reader *r, const char *p, size_t n, uint64_t line,
                             cs_status *st)
{
    static const char hex[] = "0123456789ABCDEF";
    cs_slice t = cs_slice_trim((cs_slice){p, n});
    while (t.len && (t.ptr[0] == ' ' || t.ptr[0] == '\t' || t.ptr[0] == '\f' || t.ptr[0] == '\v')) {
        t.ptr++;
        t.len--;
    }
    if (t.len == 0) {
        *st = FAIL(r, CS_EFORMAT, line, "empty URL");
        return NULL;
    }
    size_t extra = 0;
    const unsigned char *u = (const unsigned char *)t.ptr;
    for (size_t i = 0; i < t.len;) {
        unsigned c = u[i];
        if (c < 0x20 || c == 0x7F) {
            *st = FAIL(r, CS_EFORMAT, line, "control character 0x%02X in the URL", c);
            return NULL;
        }
        if (c == ' ') {
            extra += 2;
            i++;
        } else if (c >= 0x80) {
            size_t k = cs__utf8_seq(u + i, t.len - i);
            if (k == 0) {
                extra += 2;
                i++;
            } else {
                i += k;
            }
        } else {
            i++;
        }
    }
    if (!extra) {
        const char *s = cs_arena_strndup(&r->arena, t.ptr, t.len);
        if (!s)
            *st = CS_ENOMEM;
        return s;
    }
    r->repaired = true;
    char *o = cs_arena_alloc(&r->arena, t.len + extra + 1);
    if (!o) {
        *st = CS_ENOMEM;
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < t.len;) {
        unsigned c = u[i];
        size_t k = c >= 0x80 ? cs__utf8_seq(u + i, t.len - i) : 1;
        if (c == ' ' || k == 0) {
            o[j++] = '%';
            o[j++] = hex[c >> 4];
            o[j++] = hex[c & 15];
            i++;
        } else {
            memcpy(o + j, u + i, k);
            j += k;
            i += k;
        }
    }
    o[j] = 0;
    return o;
}

/* ---- CSV / TSV fields --------------------------------------------------------- */

/* Splits one record into NUL-terminated unquoted fields (lenient: see the
 * top of the file). Only CS_ENOMEM / CS_ETOOBIG can fail. */
static cs_status split(cs_urllist_reader *r, const char *p, size_t n)
{
    return cs__fields_split(&r->f, p, n, r->delim, false);
}

static long find_col(const cs_urllist_reader *r, const char *name)
{
    for (size_t i = 0; i < r->nhdr; i++)
        if (!strcmp(r->hdr[i], name))
            return (long)i;
    for (size_t i = 0; i < r->nhdr; i++)
        if (!strcasecmp(r->hdr[i], name))
            return (long)i;
    return -1;
}

/* "a, b, c" of the header names, shortened to fit. */
static void list_columns(const cs_urllist_reader *r, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->nhdr && o + 8 < cap; i++) {
        int k = snprintf(out + o, cap - o, "%s\"%.40s\"", i ? ", " : "", r->hdr[i]);
        if (k < 0 || (size_t)k >= cap - o) {
            snprintf(out + (o < cap - 5 ? o : cap - 5), 5, "...");
            return;
        }
        o += (size_t)k;
    }
}

static cs_status csv_header(cs_urllist_reader *r, const char *p, size_t n, uint64_t line)
{
    cs_status st = split(r, p, n);
    if (st)
        return st == CS_ENOMEM ? st : FAIL(r, st, line, "header longer than its limit");
    r->hdr = cs_calloc(r->f.n, sizeof *r->hdr);
    if (!r->hdr)
        return CS_ENOMEM;
    r->nhdr = r->f.n;
    for (size_t i = 0; i < r->f.n; i++) {
        const char *fi = cs__fields_get(&r->f, i);
        cs_slice s = cs_slice_trim((cs_slice){fi, strlen(fi)});
        r->hdr[i] = cs_strndup(s.ptr, s.len);
        if (!r->hdr[i])
            return CS_ENOMEM;
    }
    char cols[120];
    r->url_idx = find_col(r, r->url_col);
    if (r->url_idx < 0) {
        list_columns(r, cols, sizeof cols);
        return FAIL(r, CS_EFORMAT, line, "no URL column \"%.40s\" in the header (columns: %s)",
                    r->url_col, cols);
    }
    r->cap_idx = -1;
    if (r->caption_col && (r->cap_idx = find_col(r, r->caption_col)) < 0) {
        list_columns(r, cols, sizeof cols);
        return FAIL(r, CS_EFORMAT, line, "no caption column \"%.40s\" in the header (columns: %s)",
                    r->caption_col, cols);
    }
    for (size_t k = 0; k < r->nsave; k++)
        if ((r->save_idx[k] = find_col(r, r->save[k])) < 0) {
            list_columns(r, cols, sizeof cols);
            return FAIL(r, CS_EFORMAT, line, "no column \"%.40s\" to save in the header (columns: %s)",
                        r->save[k], cols);
        }
    return CS_OK;
}

static cs_status csv_row(cs_urllist_reader *r, const char *p, size_t n, uint64_t line)
{
    cs_status st = split(r, p, n);
    if (st == CS_ETOOBIG)
        return FAIL(r, CS_ETOOBIG, line, "row longer than its limit");
    if (st)
        return st;
    if (r->f.n != r->nhdr)
        return FAIL(r, CS_EFORMAT, line, "expected %zu fields as in the header, found %zu",
                    r->nhdr, r->f.n);
    cs_urllist_row *row = &r->row;
    const char *u = cs__fields_get(&r->f, (size_t)r->url_idx);
    if (!(row->url = clean_url(r, u, strlen(u), line, &st)))
        return st;
    if (r->cap_idx >= 0) {
        const char *c = cs__fields_get(&r->f, (size_t)r->cap_idx);
        if (!(row->caption = clean_text(r, c, strlen(c))))
            return CS_ENOMEM;
    }
    for (size_t k = 0; k < r->nsave; k++) {
        const char *v = cs__fields_get(&r->f, (size_t)r->save_idx[k]);
        r->cols[k].json = NULL;
        if (!(r->cols[k].value = clean_text(r, v, strlen(v))))
            return CS_ENOMEM;
    }
    return CS_OK;
}

/* ---- JSON lines ----------------------------------------------------------------- */

/* Text (and JSON text for non-strings) of a JSON value into the arena. */
static cs_status json_value(cs_urllist_reader *r, const json_t *v, const char **text,
                            const char **jtext)
{
    *text = *jtext = NULL;
    if (!v || json_is_null(v))
        return CS_OK;
    if (json_is_string(v)) {
        *text = clean_text(r, json_string_value(v), json_string_length(v));
        return *text ? CS_OK : CS_ENOMEM;
    }
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!d)
        return CS_ENOMEM;
    *text = *jtext = clean_text(r, d, strlen(d));
    free(d); /* jansson's allocator is libc's */
    return *text ? CS_OK : CS_ENOMEM;
}

static cs_status jsonl_row(cs_urllist_reader *r, const char *p, size_t n, uint64_t line)
{
    json_error_t jerr;
    r->json = json_loadb(p, n, 0, &jerr);
    if (!r->json)
        return FAIL(r, CS_EFORMAT, line, "bad JSON at column %d: %s", jerr.column, jerr.text);
    if (!json_is_object(r->json))
        return FAIL(r, CS_EFORMAT, line, "not a JSON object");
    cs_urllist_row *row = &r->row;
    json_t *u = json_object_get(r->json, r->url_col);
    if (!u)
        return FAIL(r, CS_EFORMAT, line, "no \"%.60s\" key", r->url_col);
    if (!json_is_string(u))
        return FAIL(r, CS_EFORMAT, line, "\"%.60s\" is not a string", r->url_col);
    cs_status st;
    if (!(row->url = clean_url(r, json_string_value(u), json_string_length(u), line, &st)))
        return st;
    const char *jt;
    if (r->caption_col &&
        (st = json_value(r, json_object_get(r->json, r->caption_col), &row->caption, &jt)))
        return st;
    for (size_t k = 0; k < r->nsave; k++)
        if ((st = json_value(r, json_object_get(r->json, r->save[k]), &r->cols[k].value,
                             &r->cols[k].json)))
            return st;
    return CS_OK;
}

/* ---- format choice ---------------------------------------------------------------- */

static bool ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !strncasecmp(s + n - k, suf, k);
}

static cs_urllist_format format_from_name(const char *name)
{
    size_t n = strlen(name);
    if (ends_with(name, n, ".gz"))
        n -= 3;
    if (ends_with(name, n, ".txt"))
        return CS_URLLIST_TXT;
    if (ends_with(name, n, ".csv"))
        return CS_URLLIST_CSV;
    if (ends_with(name, n, ".tsv"))
        return CS_URLLIST_TSV;
    if (ends_with(name, n, ".jsonl") || ends_with(name, n, ".json") ||
        ends_with(name, n, ".ndjson"))
        return CS_URLLIST_JSONL;
    return CS_URLLIST_AUTO;
}

/* True when the delimited line has a field equal to the URL column. */
static bool names_url_col(cs_urllist_reader *r, const char *p, size_t n, char dl)
{
    r->delim = dl;
    if (split(r, p, n))
        return false;
    for (size_t i = 0; i < r->f.n; i++) {
        const char *fi = cs__fields_get(&r->f, i);
        cs_slice s = cs_slice_trim((cs_slice){fi, strlen(fi)});
        if (s.len == strlen(r->url_col) && !strncasecmp(s.ptr, r->url_col, s.len))
            return true;
    }
    return false;
}

static cs_urllist_format sniff(cs_urllist_reader *r, const char *p, size_t n)
{
    cs_slice t = cs_slice_trim((cs_slice){p, n});
    if (t.len && t.ptr[0] == '{')
        return CS_URLLIST_JSONL;
    bool want_cols = r->caption_col || r->nsave;
    if (memchr(t.ptr, '\t', t.len) && (want_cols || names_url_col(r, t.ptr, t.len, '\t')))
        return CS_URLLIST_TSV;
    if (memchr(t.ptr, ',', t.len) && (want_cols || names_url_col(r, t.ptr, t.len, ',')))
        return CS_URLLIST_CSV;
    if (t.len == strlen(r->url_col) && !strncasecmp(t.ptr, r->url_col, t.len))
        return CS_URLLIST_CSV; /* a one-column CSV */
    return want_cols ? CS_URLLIST_CSV : CS_URLLIST_TXT;
}

/* Skips a BOM and blank lines, decides the format, and reads a CSV/TSV header. */
static cs_status start(cs_urllist_reader *r, cs_urllist_format fmt)
{
    cs__lines *in = &r->in;
    while (in->end - in->start < 3 && !in->eof)
        cs__lines_refill(in);
    if (in->end - in->start >= 3 && !memcmp(cs__lines_data(in) + in->start, "\xEF\xBB\xBF", 3))
        in->start += 3;
    if (fmt == CS_URLLIST_AUTO)
        fmt = format_from_name(r->in.name);
    for (;;) {
        size_t len, adv;
        bool found;
        bool quoted = fmt == CS_URLLIST_CSV || fmt == CS_URLLIST_TSV;
        r->delim = fmt == CS_URLLIST_TSV ? '\t' : ',';
        cs_status st = cs__lines_next(&r->in, quoted, r->delim, &len, &adv, &found);
        if (st == CS_ETOOBIG || st == CS_EFORMAT)
            return FAIL(r, CS_EFORMAT, r->in.line + 1, "first line %s",
                        st == CS_ETOOBIG ? "longer than the line limit"
                                         : "opens a quote that never closes");
        if (st)
            return st;
        if (!found) {
            if (r->in.input_err)
                return r->in.input_err; /* errmsg already says why */
            if (fmt == CS_URLLIST_CSV || fmt == CS_URLLIST_TSV)
                return FAIL(r, CS_EFORMAT, 0, "empty input: no header row");
            r->format = fmt == CS_URLLIST_AUTO ? CS_URLLIST_TXT : fmt;
            return CS_OK; /* an empty list is just empty */
        }
        const char *p = cs__lines_data(&r->in) + r->in.start;
        if (cs_slice_trim((cs_slice){p, len}).len == 0) {
            cs__lines_take(&r->in, len, adv);
            continue;
        }
        if (fmt == CS_URLLIST_AUTO) {
            fmt = sniff(r, p, len);
            r->format = fmt;
            continue; /* rescan the line in the chosen format */
        }
        r->format = fmt;
        cs_slice t = cs_slice_trim((cs_slice){p, len});
        if (fmt == CS_URLLIST_JSONL || fmt == CS_URLLIST_WAT_LINKS) {
            if (t.ptr[0] == '[')
                return FAIL(r, CS_EFORMAT, r->in.line + 1,
                            "a JSON array, not JSON Lines (one object per line): "
                            "convert it with jq -c '.[]'");
            return CS_OK; /* the line is a row: leave it for next() */
        }
        if (fmt == CS_URLLIST_TXT)
            return CS_OK;
        uint64_t line = cs__lines_take(&r->in, len, adv);
        return csv_header(r, p, len, line);
    }
}

/* ---- public ------------------------------------------------------------------------ */

static cs_status reader_new(cs_urllist_reader **out, const char *name, const cs_urllist_opts *o)
{
    cs_urllist_reader *r = cs_calloc(1, sizeof *r);
    *out = r;
    if (!r)
        return CS_ENOMEM;
    cs__lines_init(&r->in, name, "urls", o && o->max_line ? o->max_line : DEFAULT_MAX_LINE, 50,
                   170);
    r->in.open_quote_error = true;
    r->format = CS_URLLIST_AUTO;
    r->url_idx = r->cap_idx = -1;
    cs__fields_init(&r->f, 2 * r->in.max_line + 1024);
    cs_arena_init(&r->arena, 8 * r->in.max_line + 65536);
    cs_urllist_format f = o ? o->format : CS_URLLIST_AUTO;
    bool wat = f == CS_URLLIST_WAT_LINKS;
    const char *uc = o && o->url_col ? o->url_col : "url";
    const char *cc = o && o->caption_col ? o->caption_col : wat ? "alt" : NULL;
    static const char *const wat_save[] = {"page"};
    const char *const *sv = o && o->nsave ? o->save_columns : wat ? wat_save : NULL;
    size_t nsv = o && o->nsave ? o->nsave : wat ? 1 : 0;
    if (!(r->url_col = cs_strdup(uc)) || (cc && !(r->caption_col = cs_strdup(cc))))
        return FAIL(r, CS_ENOMEM, 0, "out of memory");
    if (nsv) {
        r->save = cs_calloc(nsv, sizeof *r->save);
        r->save_idx = cs_calloc(nsv, sizeof *r->save_idx);
        r->cols = cs_calloc(nsv, sizeof *r->cols);
        if (!r->save || !r->save_idx || !r->cols)
            return FAIL(r, CS_ENOMEM, 0, "out of memory");
        r->nsave = nsv;
        for (size_t k = 0; k < nsv; k++) {
            if (!sv[k] || !sv[k][0])
                return FAIL(r, CS_EINVAL, 0, "empty name in the columns to save");
            if (!(r->save[k] = cs_strdup(sv[k])))
                return FAIL(r, CS_ENOMEM, 0, "out of memory");
            r->cols[k].name = r->save[k];
        }
    }
    return CS_OK;
}

static cs_status finish_open(cs_urllist_reader *r, const cs_urllist_opts *o)
{
    cs_status st = start(r, o ? o->format : CS_URLLIST_AUTO);
    if (st)
        return st;
    if (r->format == CS_URLLIST_TXT && (r->caption_col || r->nsave))
        return FAIL(r, CS_EINVAL, 0,
                    "a txt URL list has no columns: no caption or other column to read");
    return CS_OK;
}

cs_status cs_urllist_open(cs_urllist_reader **out, const char *path, const cs_urllist_opts *o)
{
    cs_status st = reader_new(out, strcmp(path, "-") ? path : "<stdin>", o);
    if (!st)
        st = cs__lines_open_path(&(*out)->in, path);
    return st ? st : finish_open(*out, o);
}

cs_status cs_urllist_open_fd(cs_urllist_reader **out, int fd, const char *name,
                             const cs_urllist_opts *o)
{
    cs_status st = reader_new(out, name, o);
    if (!st)
        st = cs__lines_open_fd(&(*out)->in, fd, false);
    return st ? st : finish_open(*out, o);
}

cs_status cs_urllist_open_mem(cs_urllist_reader **out, const void *d, size_t len,
                              const char *name, const cs_urllist_opts *o)
{
    cs_status st = reader_new(out, name, o);
    if (st)
        return st;
    cs_urllist_reader *r = *out;
    cs__lines_open_mem(&r->in, d, len);
    if (cs_gzip_magic((const uint8_t *)r->in.mem, r->in.end)) {
        cs_buf b;
        cs_buf_init(&b, MEM_GZIP_MAX);
        st = cs_inflate_buffer(CS_INFLATE_GZIP, r->in.mem, r->in.end, MEM_GZIP_MAX, &b);
        if (st) {
            cs_buf_cleanup(&b);
            return FAIL(r, st == CS_ENOMEM ? CS_ENOMEM : CS_EGZIP, 0, "gzip: %s",
                        st == CS_ETOOBIG ? "inflates to more than 256 MiB" : cs_strerror(st));
        }
        r->owned = cs_buf_take(&b, &r->in.end);
        r->in.mem = r->owned ? r->owned : "";
    }
    return finish_open(r, o);
}

void cs_urllist_free(cs_urllist_reader *r)
{
    if (!r)
        return;
    cs__lines_cleanup(&r->in);
    cs_free(r->owned);
    for (size_t i = 0; i < r->nhdr; i++)
        cs_free(r->hdr[i]);
    cs_free(r->hdr);
    for (size_t i = 0; i < r->nsave; i++)
        cs_free(r->save[i]);
    cs_free(r->save);
    cs_free(r->save_idx);
    cs_free(r->cols);
    cs_free(r->url_col);
    cs_free(r->caption_col);
    cs__fields_cleanup(&r->f);
    if (r->json)
        json_decref(r->json);
    cs_arena_cleanup(&r->arena);
    cs_free(r);
}

cs_status cs_urllist_next(cs_urllist_reader *r, const cs_urllist_row **row)
{
    *row = NULL;
    if (r->format == CS_URLLIST_AUTO)
        return FAIL(r, CS_EINVAL, 0, "reader did not open");
    if (r->dead)
        return CS_DONE;
    bool quoted = r->format == CS_URLLIST_CSV || r->format == CS_URLLIST_TSV;
    cs_arena_reset(&r->arena);
    if (r->json) {
        json_decref(r->json);
        r->json = NULL;
    }
    const char *p;
    size_t len;
    uint64_t line;
    cs_status st = cs__lines_record(&r->in, quoted, r->delim, &p, &len, &line);
    r->stats.lines = r->in.line;
    if (st == CS_ETOOBIG || st == CS_EFORMAT) {
        r->stats.errors++;
        return st;
    }
    if (st) {
        r->dead = st != CS_DONE;
        return st;
    }
    memset(&r->row, 0, sizeof r->row);
    for (size_t k = 0; k < r->nsave; k++)
        r->cols[k].value = r->cols[k].json = NULL;
    r->repaired = false;
    switch (r->format) {
    case CS_URLLIST_TXT:
        if (len && p[len - 1] == '\r')
            len--;
        r->row.url = clean_url(r, p, len, line, &st);
        if (!r->row.url && st == CS_OK)
            st = CS_ENOMEM;
        break;
    case CS_URLLIST_CSV:
    case CS_URLLIST_TSV:
        st = csv_row(r, p, len, line);
        break;
    default:
        st = jsonl_row(r, p, len, line);
        break;
    }
    if (st == CS_ENOMEM) {
        FAIL(r, st, line, "out of memory");
        return st;
    }
    if (st) {
        r->stats.errors++;
        return st;
    }
    r->row.index = r->next_index++;
    r->row.line = line;
    r->row.columns = r->nsave ? r->cols : NULL;
    r->row.ncolumns = r->nsave;
    r->stats.rows++;
    if (r->repaired)
        r->stats.repaired++;
    *row = &r->row;
    return CS_OK;
}

cs_urllist_format cs_urllist_format_of(const cs_urllist_reader *r) { return r->format; }

const char *cs_urllist_format_name(cs_urllist_format f)
{
    switch (f) {
    case CS_URLLIST_TXT: return "txt";
    case CS_URLLIST_CSV: return "csv";
    case CS_URLLIST_TSV: return "tsv";
    case CS_URLLIST_JSONL: return "jsonl";
    case CS_URLLIST_WAT_LINKS: return "wat-links";
    default: return "auto";
    }
}

bool cs_urllist_format_parse(const char *name, cs_urllist_format *out)
{
    static const struct {
        const char *name;
        cs_urllist_format f;
    } names[] = {
        {"auto", CS_URLLIST_AUTO},   {"txt", CS_URLLIST_TXT},         {"csv", CS_URLLIST_CSV},
        {"tsv", CS_URLLIST_TSV},     {"jsonl", CS_URLLIST_JSONL},     {"json", CS_URLLIST_JSONL},
        {"ndjson", CS_URLLIST_JSONL}, {"wat-links", CS_URLLIST_WAT_LINKS},
        {"wat_links", CS_URLLIST_WAT_LINKS}, /* the spelling --help used first */
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcasecmp(name, names[i].name)) {
            *out = names[i].f;
            return true;
        }
    return false;
}

const char *const *cs_urllist_header(const cs_urllist_reader *r, size_t *n)
{
    *n = r->nhdr;
    return r->nhdr ? (const char *const *)r->hdr : NULL;
}

const char *cs_urllist_errmsg(const cs_urllist_reader *r)
{
    return r ? r->in.errmsg : "out of memory";
}
const char *cs_urllist_name(const cs_urllist_reader *r) { return r->in.name; }
void cs_urllist_stats_get(const cs_urllist_reader *r, cs_urllist_stats *out) { *out = r->stats; }

cs_urllist_row *cs_urllist_row_dup(const cs_urllist_row *row)
{
    size_t need = sizeof *row + row->ncolumns * sizeof(cs_urllist_column);
#define SZ(s) ((s) ? strlen(s) + 1 : 0)
    need += SZ(row->url) + SZ(row->caption);
    for (size_t k = 0; k < row->ncolumns; k++)
        need += SZ(row->columns[k].name) + SZ(row->columns[k].value) + SZ(row->columns[k].json);
#undef SZ
    char *m = cs_malloc(need);
    if (!m)
        return NULL;
    cs_urllist_row *c = (cs_urllist_row *)m;
    *c = *row;
    cs_urllist_column *cols = (cs_urllist_column *)(m + sizeof *row);
    char *s = (char *)(cols + row->ncolumns);
#define COPY(dst, src)                                                                        \
    do {                                                                                      \
        if (src) {                                                                            \
            size_t l_ = strlen(src) + 1;                                                      \
            memcpy(s, src, l_);                                                               \
            (dst) = s;                                                                        \
            s += l_;                                                                          \
        } else {                                                                              \
            (dst) = NULL;                                                                     \
        }                                                                                     \
    } while (0)
    COPY(c->url, row->url);
    COPY(c->caption, row->caption);
    for (size_t k = 0; k < row->ncolumns; k++) {
        COPY(cols[k].name, row->columns[k].name);
        COPY(cols[k].value, row->columns[k].value);
        COPY(cols[k].json, row->columns[k].json);
    }
#undef COPY
    c->columns = row->ncolumns ? cols : NULL;
    return c;
}
