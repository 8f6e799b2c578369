/* ccindex.c - Common Crawl index rows from CSV (RFC 4180, header row) and
 * CDX JSON lines. Input goes through zlib's gzread, which passes plain text
 * through and inflates gzip (also concatenated members) transparently; the
 * JSON of a CDX line is parsed with jansson (lines are small).
 *
 * The bounded record input and the CSV splitter (strict here: RFC 4180) are
 * shared with the URL-list reader in util/lines.c, which says why they are
 * our own rather than libcsv. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "crawlset/ccindex.h"
#include "util/lines.h"

#define DEFAULT_MAX_LINE (1u << 20)

/* Column roles the row struct is filled from. */
enum {
    COL_URL,
    COL_DOMAIN,
    COL_FETCH_TIME,
    COL_FETCH_STATUS,
    COL_FILENAME,
    COL_OFFSET,
    COL_LENGTH,
    COL_SEGMENT,
    COL_CRAWL,
    COL_MIME,
    COL__COUNT
};

static const char *const COL_NAMES[COL__COUNT] = {
    "url",          "url_host_registered_domain", "fetch_time", "fetch_status",
    "warc_filename", "warc_record_offset",        "warc_record_length", "warc_segment",
    "crawl",        "content_mime_type",
};

struct cs_ccindex_reader {
    cs__lines in;          /* input, line count, name, errmsg */
    cs_ccindex_format format;
    bool dead;             /* a fatal error was returned: next() says CS_DONE */

    /* CSV */
    char **hdr;            /* header names (owned) */
    size_t nhdr;
    int col[COL__COUNT];   /* header index of each role, -1 if absent */
    cs__fields f;          /* the current row's fields */

    /* CDX */
    json_t *json;          /* current line's object */
    const char *surt, *timestamp; /* arena copies; "" if absent */

    cs_arena arena;        /* per-row strings */
    cs_ccindex_row row;
    cs_ccindex_stats stats;
};

/* Sets errmsg ("NAME:LINE: what"; no line when 0) and returns st. */
#define FAIL(r, ...) cs__lines_fail(&(r)->in, __VA_ARGS__)

/* Splits one CSV record into NUL-terminated unquoted fields. CS_EFORMAT with
 * errmsg set for junk after a closing quote or an unterminated quote. */
static cs_status split_csv(cs_ccindex_reader *r, const char *p, size_t n, uint64_t line)
{
    cs_status st = cs__fields_split(&r->f, p, n, ',', true);
    if (st == CS_EFORMAT && r->f.bad < 0)
        return FAIL(r, st, line, "unterminated quoted field");
    if (st == CS_EFORMAT)
        return FAIL(r, st, line, "unexpected '%c' after a closing quote", r->f.bad);
    return st;
}

static const char *field(const cs_ccindex_reader *r, size_t i)
{
    return cs__fields_get(&r->f, i);
}

/* ---- derived values -------------------------------------------------------- */

/* The lower-cased host of url (no userinfo, no port), copied to the arena. */
static const char *url_host(cs_arena *a, const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '@')
            at = p + i;
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n && p[0] == '[') { /* IPv6 literal */
        const char *rb = memchr(p, ']', n);
        if (rb)
            n = (size_t)(rb - p) + 1;
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon)
            n = (size_t)(colon - p);
    }
    char *h = cs_arena_strndup(a, p, n);
    if (h)
        for (char *q = h; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q + 32);
    return h;
}

/* The path component after `key` in a Common Crawl filename, or "". */
static const char *path_part(cs_arena *a, const char *filename, const char *key)
{
    const char *p = strstr(filename, key);
    if (!p)
        return "";
    p += strlen(key);
    size_t n = strcspn(p, "/");
    char *s = cs_arena_strndup(a, p, n);
    return s ? s : "";
}

static int parse_status(const char *s)
{
    cs_slice sl = {s, strlen(s)};
    uint64_t v;
    if (!cs_slice_to_u64(sl, &v) || v > 999)
        return 0;
    return (int)v;
}

/* Fills derived fields and checks the required ones. */
static cs_status finish_row(cs_ccindex_reader *r, uint64_t line)
{
    cs_ccindex_row *row = &r->row;
    if (!row->url[0])
        return FAIL(r, CS_EFORMAT, line, "empty url");
    if (!row->warc_filename[0])
        return FAIL(r, CS_EFORMAT, line, "empty warc_filename");
    if (row->length == 0)
        return FAIL(r, CS_EFORMAT, line, "warc_record_length is 0");
    if (row->offset > UINT64_MAX - row->length)
        return FAIL(r, CS_EFORMAT, line, "warc_record_offset + length overflows");
    if (!row->domain[0]) {
        const char *h = url_host(&r->arena, row->url);
        if (!h)
            return CS_ENOMEM;
        row->domain = h;
    }
    if (!row->segment[0])
        row->segment = path_part(&r->arena, row->warc_filename, "/segments/");
    if (!row->crawl[0])
        row->crawl = path_part(&r->arena, row->warc_filename, "crawl-data/");
    row->line = line;
    return CS_OK;
}

/* ---- CSV rows ---------------------------------------------------------------- */

static cs_status csv_header(cs_ccindex_reader *r, const char *p, size_t n, uint64_t line)
{
    cs_status st = split_csv(r, p, n, line);
    if (st)
        return st;
    r->hdr = cs_calloc(r->f.n, sizeof *r->hdr);
    if (!r->hdr)
        return CS_ENOMEM;
    r->nhdr = r->f.n;
    for (size_t i = 0; i < r->f.n; i++) {
        cs_slice s = cs_slice_trim((cs_slice){field(r, i), strlen(field(r, i))});
        if (i == 0 && s.len >= 3 && !memcmp(s.ptr, "\xEF\xBB\xBF", 3)) /* BOM */
            s = cs_slice_trim((cs_slice){s.ptr + 3, s.len - 3});
        r->hdr[i] = cs_strndup(s.ptr, s.len);
        if (!r->hdr[i])
            return CS_ENOMEM;
    }
    for (int c = 0; c < COL__COUNT; c++) {
        r->col[c] = -1;
        for (size_t i = 0; i < r->nhdr; i++)
            if (cs_slice_ieq((cs_slice){r->hdr[i], strlen(r->hdr[i])}, COL_NAMES[c])) {
                r->col[c] = (int)i;
                break;
            }
    }
    char missing[160] = "";
    static const int req[] = {COL_URL, COL_FILENAME, COL_OFFSET, COL_LENGTH};
    for (size_t k = 0; k < sizeof req / sizeof *req; k++)
        if (r->col[req[k]] < 0) {
            size_t ml = strlen(missing);
            snprintf(missing + ml, sizeof missing - ml, "%s%s", ml ? ", " : "",
                     COL_NAMES[req[k]]);
        }
    if (missing[0])
        return FAIL(r, CS_EFORMAT, line,
                    "not a Common Crawl index CSV: missing column(s) %s in the header", missing);
    return CS_OK;
}

static const char *csv_col(cs_ccindex_reader *r, int role)
{
    return r->col[role] >= 0 ? field(r, (size_t)r->col[role]) : "";
}

static cs_status csv_row(cs_ccindex_reader *r, const char *p, size_t n, uint64_t line)
{
    cs_status st = split_csv(r, p, n, line);
    if (st)
        return st;
    if (r->f.n != r->nhdr)
        return FAIL(r, CS_EFORMAT, line, "expected %zu fields, found %zu", r->nhdr, r->f.n);
    cs_ccindex_row *row = &r->row;
    memset(row, 0, sizeof *row);
    row->url = csv_col(r, COL_URL);
    row->domain = csv_col(r, COL_DOMAIN);
    row->fetch_time = csv_col(r, COL_FETCH_TIME);
    row->fetch_status = parse_status(csv_col(r, COL_FETCH_STATUS));
    row->warc_filename = csv_col(r, COL_FILENAME);
    row->segment = csv_col(r, COL_SEGMENT);
    row->crawl = csv_col(r, COL_CRAWL);
    row->mime = csv_col(r, COL_MIME);
    const char *o = csv_col(r, COL_OFFSET), *l = csv_col(r, COL_LENGTH);
    if (!cs_slice_to_u64((cs_slice){o, strlen(o)}, &row->offset))
        return FAIL(r, CS_EFORMAT, line, "warc_record_offset is not a number: \"%.40s\"", o);
    if (!cs_slice_to_u64((cs_slice){l, strlen(l)}, &row->length))
        return FAIL(r, CS_EFORMAT, line, "warc_record_length is not a number: \"%.40s\"", l);
    return finish_row(r, line);
}

/* ---- CDX rows ----------------------------------------------------------------- */

/* A JSON value as text in the arena: strings as is, numbers formatted. */
static const char *json_text(cs_arena *a, const json_t *v)
{
    char tmp[64];
    if (!v)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(tmp, sizeof tmp, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "";
    default:
        return NULL; /* objects and arrays have no text form here */
    }
    return cs_arena_strndup(a, tmp, strlen(tmp));
}

static const char *jstr(cs_ccindex_reader *r, const char *key)
{
    const char *s = json_text(&r->arena, json_object_get(r->json, key));
    return s ? s : "";
}

static cs_status json_u64(cs_ccindex_reader *r, const char *key, uint64_t *out, uint64_t line)
{
    json_t *v = json_object_get(r->json, key);
    if (!v)
        return FAIL(r, CS_EFORMAT, line, "no \"%s\"", key);
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return FAIL(r, CS_EFORMAT, line, "\"%s\" is negative", key);
        *out = (uint64_t)json_integer_value(v);
        return CS_OK;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (!s || !cs_slice_to_u64((cs_slice){s, strlen(s)}, out))
        return FAIL(r, CS_EFORMAT, line, "\"%s\" is not a number", key);
    return CS_OK;
}

static cs_status cdx_row(cs_ccindex_reader *r, const char *p, size_t n, uint64_t line)
{
    cs_slice s = cs_slice_trim((cs_slice){p, n});
    r->surt = r->timestamp = "";
    if (s.len && s.ptr[0] != '{' && s.ptr[0] != '[') { /* "SURT TIMESTAMP {json}" */
        const char *sp1 = memchr(s.ptr, ' ', s.len);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', s.len - (size_t)(sp1 + 1 - s.ptr)) : NULL;
        if (!sp2 || sp2 + 1 >= s.ptr + s.len || sp2[1] != '{')
            return FAIL(r, CS_EFORMAT, line,
                        "expected \"SURT TIMESTAMP {json}\" or a JSON object");
        r->surt = cs_arena_strndup(&r->arena, s.ptr, (size_t)(sp1 - s.ptr));
        r->timestamp = cs_arena_strndup(&r->arena, sp1 + 1, (size_t)(sp2 - sp1 - 1));
        if (!r->surt || !r->timestamp)
            return CS_ENOMEM;
        s.len -= (size_t)(sp2 + 1 - s.ptr);
        s.ptr = sp2 + 1;
    }
    json_error_t jerr;
    r->json = json_loadb(s.ptr, s.len, 0, &jerr);
    if (!r->json)
        return FAIL(r, CS_EFORMAT, line, "bad JSON at column %d: %s", jerr.column, jerr.text);
    if (!json_is_object(r->json))
        return FAIL(r, CS_EFORMAT, line, "not a JSON object");
    cs_ccindex_row *row = &r->row;
    memset(row, 0, sizeof *row);
    row->url = jstr(r, "url");
    row->domain = jstr(r, "url_host_registered_domain");
    row->fetch_time = r->timestamp[0] ? r->timestamp : jstr(r, "timestamp");
    row->fetch_status = parse_status(jstr(r, "status"));
    row->warc_filename = jstr(r, "filename");
    row->segment = jstr(r, "segment");
    row->crawl = jstr(r, "crawl");
    row->mime = jstr(r, "mime");
    if (!row->warc_filename[0]) {
        const char *e = jstr(r, "error");
        if (e[0])
            return FAIL(r, CS_EFORMAT, line, "index server error: %.120s", e);
        return FAIL(r, CS_EFORMAT, line, "no \"filename\"");
    }
    cs_status st;
    if ((st = json_u64(r, "offset", &row->offset, line)) ||
        (st = json_u64(r, "length", &row->length, line)))
        return st;
    return finish_row(r, line);
}

/* ---- format detection ---------------------------------------------------------- */

static bool looks_like_cdx(const char *p, size_t n)
{
    cs_slice s = cs_slice_trim((cs_slice){p, n});
    if (s.len && s.ptr[0] == '{')
        return true;
    /* SURT, a space, digits, a space, '{' */
    const char *sp1 = memchr(s.ptr, ' ', s.len);
    if (!sp1 || sp1 == s.ptr)
        return false;
    const char *q = sp1 + 1, *e = s.ptr + s.len;
    const char *d0 = q;
    while (q < e && *q >= '0' && *q <= '9')
        q++;
    return q > d0 && q + 1 < e && q[0] == ' ' && q[1] == '{';
}

/* Skips blank lines and reads the first record: detects the format and, for
 * CSV, parses the header. */
static cs_status start(cs_ccindex_reader *r, cs_ccindex_format fmt)
{
    for (;;) {
        size_t len, adv;
        bool found;
        cs_status st = cs__lines_next(&r->in, fmt != CS_CCINDEX_CDX, ',', &len, &adv, &found);
        if (st == CS_ETOOBIG)
            return FAIL(r, CS_EFORMAT, r->in.line + 1, "first line longer than %zu bytes",
                        r->in.max_line);
        if (st)
            return st;
        if (!found) {
            if (r->in.input_err) /* errmsg already says why */
                return r->in.input_err;
            if (fmt == CS_CCINDEX_CDX) {
                r->format = CS_CCINDEX_CDX;
                return CS_OK; /* an empty CDX file is just empty */
            }
            return FAIL(r, CS_EFORMAT, 0, "empty input: no header row");
        }
        const char *p = cs__lines_data(&r->in) + r->in.start;
        cs_slice t = cs_slice_trim((cs_slice){p, len});
        if (t.len == 0) {
            r->in.line += cs__lines_count_nl(p, adv);
            r->in.start += adv;
            continue;
        }
        if (fmt == CS_CCINDEX_AUTO)
            fmt = looks_like_cdx(p, len) ? CS_CCINDEX_CDX : CS_CCINDEX_CSV;
        r->format = fmt;
        if (fmt == CS_CCINDEX_CDX)
            return CS_OK; /* the line is a row: leave it for next() */
        uint64_t line = cs__lines_take(&r->in, len, adv);
        return csv_header(r, p, len, line);
    }
}

/* ---- public -------------------------------------------------------------------- */

static cs_status reader_new(cs_ccindex_reader **out, const char *name, const cs_ccindex_opts *opts)
{
    cs_ccindex_reader *r = cs_calloc(1, sizeof *r);
    *out = r;
    if (!r)
        return CS_ENOMEM;
    cs__lines_init(&r->in, name, "index",
                   opts && opts->max_line ? opts->max_line : DEFAULT_MAX_LINE, 60, 159);
    r->format = CS_CCINDEX_AUTO;
    for (int c = 0; c < COL__COUNT; c++)
        r->col[c] = -1;
    cs__fields_init(&r->f, 2 * r->in.max_line + 1024);
    cs_arena_init(&r->arena, 4 * r->in.max_line + 65536);
    r->surt = r->timestamp = "";
    return CS_OK;
}

cs_status cs_ccindex_open(cs_ccindex_reader **out, const char *path, const cs_ccindex_opts *opts)
{
    cs_status st = reader_new(out, strcmp(path, "-") ? path : "<stdin>", opts);
    if (!st)
        st = cs__lines_open_path(&(*out)->in, path);
    return st ? st : start(*out, opts ? opts->format : CS_CCINDEX_AUTO);
}

cs_status cs_ccindex_open_fd(cs_ccindex_reader **out, int fd, const char *name,
                             const cs_ccindex_opts *opts)
{
    cs_status st = reader_new(out, name, opts);
    if (!st)
        st = cs__lines_open_fd(&(*out)->in, fd, false);
    return st ? st : start(*out, opts ? opts->format : CS_CCINDEX_AUTO);
}

cs_status cs_ccindex_open_mem(cs_ccindex_reader **out, const void *d, size_t len,
                              const char *name, const cs_ccindex_opts *opts)
{
    cs_status st = reader_new(out, name, opts);
    if (st)
        return st;
    cs_ccindex_reader *r = *out;
    cs__lines_open_mem(&r->in, d, len);
    return start(r, opts ? opts->format : CS_CCINDEX_AUTO);
}

void cs_ccindex_free(cs_ccindex_reader *r)
{
    if (!r)
        return;
    cs__lines_cleanup(&r->in);
    for (size_t i = 0; i < r->nhdr; i++)
        cs_free(r->hdr[i]);
    cs_free(r->hdr);
    cs__fields_cleanup(&r->f);
    if (r->json)
        json_decref(r->json);
    cs_arena_cleanup(&r->arena);
    cs_free(r);
}

cs_status cs_ccindex_next(cs_ccindex_reader *r, const cs_ccindex_row **row)
{
    *row = NULL;
    if (r->format == CS_CCINDEX_AUTO)
        return FAIL(r, CS_EINVAL, 0, "reader did not open");
    if (r->dead)
        return CS_DONE;
    cs_arena_reset(&r->arena);
    if (r->json) {
        json_decref(r->json);
        r->json = NULL;
    }
    r->f.n = 0;
    r->surt = r->timestamp = "";
    bool csv = r->format == CS_CCINDEX_CSV;
    const char *p;
    size_t len;
    uint64_t line;
    cs_status st = cs__lines_record(&r->in, csv, ',', &p, &len, &line);
    r->stats.lines = r->in.line;
    if (st == CS_ETOOBIG || st == CS_EFORMAT) {
        r->stats.errors++;
        return st;
    }
    if (st) {
        r->dead = st != CS_DONE;
        return st;
    }
    st = csv ? csv_row(r, p, len, line) : cdx_row(r, p, len, line);
    if (st == CS_ENOMEM)
        return st;
    if (st) {
        r->stats.errors++;
        return st;
    }
    r->stats.rows++;
    *row = &r->row;
    return CS_OK;
}

bool cs_ccindex_get(cs_ccindex_reader *r, const char *name, cs_slice *value)
{
    *value = (cs_slice){"", 0};
    if (r->format == CS_CCINDEX_CSV) {
        if (r->f.n != r->nhdr || r->f.n == 0)
            return false;
        for (size_t i = 0; i < r->nhdr; i++)
            if (!strcasecmp(r->hdr[i], name)) {
                *value = (cs_slice){field(r, i), strlen(field(r, i))};
                return true;
            }
        return false;
    }
    if (!r->json)
        return false;
    if (!strcmp(name, "urlkey") && r->surt[0]) {
        *value = (cs_slice){r->surt, strlen(r->surt)};
        return true;
    }
    if (!strcmp(name, "timestamp") && r->timestamp[0]) {
        *value = (cs_slice){r->timestamp, strlen(r->timestamp)};
        return true;
    }
    const char *s = json_text(&r->arena, json_object_get(r->json, name));
    if (!s)
        return false;
    *value = (cs_slice){s, strlen(s)};
    return true;
}

cs_ccindex_format cs_ccindex_format_of(const cs_ccindex_reader *r) { return r->format; }

const char *cs_ccindex_errmsg(const cs_ccindex_reader *r) { return r->in.errmsg; }

const char *cs_ccindex_name(const cs_ccindex_reader *r) { return r->in.name; }

void cs_ccindex_stats_get(const cs_ccindex_reader *r, cs_ccindex_stats *out) { *out = r->stats; }

/* ---- writing ------------------------------------------------------------------ */

cs_status cs_ccindex_csv_field(cs_buf *out, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote)
        return cs_buf_append(out, s, n);
    cs_status st = cs_buf_putc(out, '"');
    for (size_t i = 0; i < n && !st; i++) {
        if (s[i] == '"')
            st = cs_buf_putc(out, '"');
        if (!st)
            st = cs_buf_putc(out, s[i]);
    }
    if (!st)
        st = cs_buf_putc(out, '"');
    return st;
}

cs_status cs_ccindex_csv_header(cs_buf *out, const char *const *extra, size_t nextra)
{
    static const int order[] = {COL_URL,    COL_DOMAIN,  COL_FETCH_TIME, COL_FETCH_STATUS,
                                COL_FILENAME, COL_OFFSET, COL_LENGTH,     COL_SEGMENT,
                                COL_CRAWL};
    cs_status st = CS_OK;
    for (size_t i = 0; i < sizeof order / sizeof *order && !st; i++)
        st = cs_buf_printf(out, "%s%s", i ? "," : "", COL_NAMES[order[i]]);
    for (size_t i = 0; i < nextra && !st; i++) {
        if (!(st = cs_buf_putc(out, ',')))
            st = cs_ccindex_csv_field(out, extra[i], strlen(extra[i]));
    }
    return st;
}

static cs_status put_field(cs_buf *out, const char *s, bool comma)
{
    cs_status st = comma ? cs_buf_putc(out, ',') : CS_OK;
    if (!st && s)
        st = cs_ccindex_csv_field(out, s, strlen(s));
    return st;
}

cs_status cs_ccindex_csv_row(cs_buf *out, const cs_ccindex_row *row, const char *const *extra,
                             size_t nextra)
{
    char status[16] = "", off[24], len[24];
    if (row->fetch_status)
        snprintf(status, sizeof status, "%d", row->fetch_status);
    snprintf(off, sizeof off, "%" PRIu64, row->offset);
    snprintf(len, sizeof len, "%" PRIu64, row->length);
    cs_status st;
    if ((st = put_field(out, row->url, false)) || (st = put_field(out, row->domain, true)) ||
        (st = put_field(out, row->fetch_time, true)) || (st = put_field(out, status, true)) ||
        (st = put_field(out, row->warc_filename, true)) || (st = put_field(out, off, true)) ||
        (st = put_field(out, len, true)) || (st = put_field(out, row->segment, true)) ||
        (st = put_field(out, row->crawl, true)))
        return st;
    for (size_t i = 0; i < nextra; i++)
        if ((st = put_field(out, extra[i], true)))
            return st;
    return cs_buf_putc(out, '\n');
}

cs_ccindex_row *cs_ccindex_row_dup(const cs_ccindex_row *row)
{
    const char *src[] = {row->url, row->domain, row->fetch_time, row->warc_filename,
                         row->segment, row->crawl, row->mime};
    enum { NS = sizeof src / sizeof *src };
    size_t lens[NS], total = sizeof(cs_ccindex_row);
    for (int i = 0; i < NS; i++) {
        lens[i] = src[i] ? strlen(src[i]) : 0;
        total += lens[i] + 1;
    }
    cs_ccindex_row *d = cs_malloc(total);
    if (!d)
        return NULL;
    *d = *row;
    char *p = (char *)(d + 1);
    const char **dst[] = {&d->url, &d->domain, &d->fetch_time, &d->warc_filename,
                          &d->segment, &d->crawl, &d->mime};
    for (int i = 0; i < NS; i++) {
        if (lens[i])
            memcpy(p, src[i], lens[i]);
        p[lens[i]] = 0;
        *dst[i] = p;
        p += lens[i] + 1;
    }
    return d;
}
