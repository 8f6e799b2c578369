/* lines.c - bounded record input for the line-oriented readers (see lines.h).
 *
 * The CSV record scanner and field splitter are our own rather than libcsv
 * (Debian libcsv-dev 3.0.3): libcsv pushes fields through callbacks with no
 * record-length limit and no line numbers, and the readers need a bound on
 * every row, "FILE:LINE: what" for each bad one, and resynchronisation after
 * an over-long row or a quote that never closes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/lines.h"

#define READ_CHUNK (64u * 1024)
#define NO_NL SIZE_MAX

/* Scanner states for finding where a CSV record ends (quotes may hide newlines). */
enum { SC_FIELD_START, SC_UNQUOTED, SC_QUOTED, SC_QUOTE_IN_QUOTED };

static void reset_scan(cs__lines *l)
{
    l->scanned = 0;
    l->sc_state = SC_FIELD_START;
    l->first_nl = NO_NL;
}

void cs__lines_init(cs__lines *l, const char *name, const char *dflt, size_t max_line, int name_max,
                    int what_max)
{
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name ? name : dflt);
    l->max_line = max_line;
    l->name_max = name_max;
    l->what_max = what_max;
    reset_scan(l);
}

cs_status cs__lines_fail(cs__lines *l, cs_status st, uint64_t line, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line)
        snprintf(l->errmsg, sizeof l->errmsg, "%.*s:%" PRIu64 ": %.*s", l->name_max, l->name, line,
                 l->what_max, what);
    else
        snprintf(l->errmsg, sizeof l->errmsg, "%.*s: %.*s", l->name_max, l->name, l->what_max + 20,
                 what);
    return st;
}

cs_status cs__lines_open_fd(cs__lines *l, int fd, bool own_fd)
{
    int gfd = own_fd ? fd : dup(fd);
    if (gfd < 0)
        return cs__lines_fail(l, CS_EIO, 0, "dup: %s", strerror(errno));
    l->gz = gzdopen(gfd, "rb");
    if (!l->gz) {
        close(gfd);
        return cs__lines_fail(l, CS_ENOMEM, 0, "out of memory");
    }
    gzbuffer(l->gz, 128 * 1024);
    l->cap = l->max_line + READ_CHUNK + 1;
    l->buf = cs_malloc(l->cap);
    if (!l->buf)
        return cs__lines_fail(l, CS_ENOMEM, 0, "out of memory");
    return CS_OK;
}

cs_status cs__lines_open_path(cs__lines *l, const char *path)
{
    if (!strcmp(path, "-"))
        return cs__lines_open_fd(l, 0, false);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cs__lines_fail(l, e == ENOENT ? CS_ENOTFOUND : CS_EIO, 0, "%s", strerror(e));
    }
    return cs__lines_open_fd(l, fd, true);
}

void cs__lines_open_mem(cs__lines *l, const void *d, size_t len)
{
    l->mem = d ? d : "";
    l->end = d ? len : 0;
    l->eof = true;
}

void cs__lines_cleanup(cs__lines *l)
{
    if (l->gz)
        gzclose(l->gz);
    l->gz = NULL;
    cs_free(l->buf);
    l->buf = NULL;
}

void cs__lines_refill(cs__lines *l)
{
    if (l->eof)
        return;
    if (l->start > 0) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }
    if (l->end == l->cap)
        return; /* full: the caller's line limit decides */
    size_t want = l->cap - l->end;
    if (want > (size_t)INT32_MAX)
        want = INT32_MAX;
    int n = gzread(l->gz, l->buf + l->end, (unsigned)want);
    if (n > 0) {
        l->end += (size_t)n;
        return;
    }
    l->eof = true;
    int zerr = Z_OK;
    const char *zmsg = gzerror(l->gz, &zerr);
    if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        if (zerr == Z_ERRNO) {
            cs__lines_fail(l, CS_EIO, 0, "read error: %s", strerror(errno));
            l->input_err = CS_EIO;
        } else if (zerr == Z_MEM_ERROR) {
            l->input_err = CS_ENOMEM;
        } else {
            cs__lines_fail(l, CS_EGZIP, 0, "gzip: %s", zmsg ? zmsg : "corrupt data");
            l->input_err = CS_EGZIP;
        }
    }
}

/* Scans p[i..avail) with the CSV state machine from state *s; returns the
 * index of the record's newline, or avail. */
static size_t scan_quoted(cs__lines *l, const char *p, size_t i, size_t avail, char dl, int *s)
{
    int st = *s;
    for (; i < avail; i++) {
        char c = p[i];
        switch (st) {
        case SC_FIELD_START:
            st = c == '"' ? SC_QUOTED : c == dl ? SC_FIELD_START : SC_UNQUOTED;
            break;
        case SC_UNQUOTED:
            if (c == dl)
                st = SC_FIELD_START;
            break;
        case SC_QUOTED:
            if (c == '"')
                st = SC_QUOTE_IN_QUOTED;
            else if (c == '\n' && l->first_nl == NO_NL)
                l->first_nl = i;
            break;
        case SC_QUOTE_IN_QUOTED:
            st = c == '"' ? SC_QUOTED : c == dl ? SC_FIELD_START : SC_UNQUOTED;
            break;
        }
        if (c == '\n' && st != SC_QUOTED)
            break;
    }
    *s = st;
    return i;
}

cs_status cs__lines_next(cs__lines *l, bool quoted, char delim, size_t *len, size_t *adv,
                         bool *found)
{
    *found = false;
    *len = *adv = 0;
    for (;;) {
        const char *p = cs__lines_data(l) + l->start;
        size_t avail = l->end - l->start;
        size_t i = l->scanned;
        int s = l->sc_state;
        if (!quoted) {
            const char *nl = i < avail ? memchr(p + i, '\n', avail - i) : NULL;
            i = nl ? (size_t)(nl - p) : avail;
        } else {
            i = scan_quoted(l, p, i, avail, delim, &s);
        }
        if (i < avail) { /* p[i] is the record's newline */
            if (i > l->max_line)
                goto too_long;
            *len = i;
            *adv = i + 1;
            *found = true;
            reset_scan(l);
            return CS_OK;
        }
        l->scanned = i;
        l->sc_state = s;
        if (avail > l->max_line)
            goto too_long;
        if (l->eof) {
            if (l->input_err && avail > 0) { /* a cut-off last line: do not trust it */
                reset_scan(l);
                return l->input_err;
            }
            if (l->open_quote_error && quoted && s == SC_QUOTED && avail > 0) {
                *adv = l->first_nl != NO_NL ? l->first_nl + 1 : avail;
                *len = l->first_nl != NO_NL ? l->first_nl : avail;
                reset_scan(l);
                return CS_EFORMAT;
            }
            reset_scan(l);
            *found = avail > 0;
            *len = *adv = avail;
            return CS_OK;
        }
        cs__lines_refill(l);
    }
too_long:
    *adv = quoted && l->first_nl != NO_NL ? l->first_nl + 1 : 0;
    reset_scan(l);
    return CS_ETOOBIG;
}

void cs__lines_skip_line(cs__lines *l)
{
    for (;;) {
        const char *d = cs__lines_data(l);
        const char *nl = memchr(d + l->start, '\n', l->end - l->start);
        if (nl) {
            l->start = (size_t)(nl - d) + 1;
            return;
        }
        l->start = l->end;
        if (l->eof)
            return;
        cs__lines_refill(l);
    }
}

uint64_t cs__lines_count_nl(const char *p, size_t n)
{
    uint64_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
        k++;
    return k;
}

void cs__lines_drop(cs__lines *l, size_t adv)
{
    if (adv) {
        l->line += cs__lines_count_nl(cs__lines_data(l) + l->start, adv);
        l->start += adv;
    } else {
        cs__lines_skip_line(l);
        l->line++;
    }
}

cs_status cs__lines_end(cs__lines *l, cs_status st)
{
    if (st) {
        if (st != CS_ENOMEM)
            cs__lines_fail(l, st, l->line + 1, "%s; the input ends inside this row",
                           st == CS_EGZIP ? "corrupt or truncated gzip" : "read error");
        return st;
    }
    return l->input_err ? l->input_err : CS_DONE;
}

cs_status cs__lines_record(cs__lines *l, bool quoted, char delim, const char **rec,
                           size_t *len, uint64_t *line)
{
    for (;;) {
        size_t n, adv;
        bool found;
        cs_status st = cs__lines_next(l, quoted, delim, &n, &adv, &found);
        if (st == CS_ETOOBIG || st == CS_EFORMAT) {
            uint64_t at = l->line + 1;
            if (st == CS_ETOOBIG)
                cs__lines_fail(l, st, at, "row longer than %zu bytes", l->max_line);
            else
                cs__lines_fail(l, st, at, "a quote opened here never closes");
            cs__lines_drop(l, adv);
            return st;
        }
        if (st || !found)
            return cs__lines_end(l, st);
        const char *p = cs__lines_data(l) + l->start;
        uint64_t first = cs__lines_take(l, n, adv);
        if (cs_slice_trim((cs_slice){p, n}).len == 0)
            continue; /* blank lines are not records */
        *rec = p;
        *len = n;
        *line = first;
        return CS_OK;
    }
}

uint64_t cs__lines_take(cs__lines *l, size_t len, size_t adv)
{
    uint64_t first = l->line + 1;
    l->line += cs__lines_count_nl(cs__lines_data(l) + l->start, adv) + (adv == len ? 1 : 0);
    l->start += adv;
    return first;
}

/* ---- CSV / TSV fields ---- */

void cs__fields_init(cs__fields *f, size_t max)
{
    memset(f, 0, sizeof *f);
    cs_buf_init(&f->buf, max);
}

void cs__fields_cleanup(cs__fields *f)
{
    cs_free(f->off);
    f->off = NULL;
    f->n = f->cap = 0;
    cs_buf_cleanup(&f->buf);
}

static cs_status push_field(cs__fields *f, size_t off)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 32;
        size_t *n = cs_realloc(f->off, nc * sizeof *n);
        if (!n)
            return CS_ENOMEM;
        f->off = n;
        f->cap = nc;
    }
    f->off[f->n++] = off;
    return CS_OK;
}

cs_status cs__fields_split(cs__fields *f, const char *p, size_t n, char dl, bool strict)
{
    cs_buf_reset(&f->buf);
    f->n = 0;
    f->bad = 0;
    if (n && p[n - 1] == '\r')
        n--;
    size_t i = 0;
    cs_status st;
    for (;;) {
        if ((st = push_field(f, f->buf.len)))
            return st;
        if (i < n && p[i] == '"') { /* quoted part */
            i++;
            for (;;) {
                const char *q = i < n ? memchr(p + i, '"', n - i) : NULL;
                if (!q && strict) {
                    f->bad = -1;
                    return CS_EFORMAT;
                }
                size_t k = q ? (size_t)(q - p) : n;
                if ((st = cs_buf_append(&f->buf, p + i, k - i)))
                    return st;
                i = k;
                if (!q)
                    break; /* unterminated at the record end: keep what there is */
                i++;
                if (i < n && p[i] == '"') { /* doubled quote */
                    if ((st = cs_buf_putc(&f->buf, '"')))
                        return st;
                    i++;
                    continue;
                }
                break;
            }
            if (strict && i < n && p[i] != dl) {
                f->bad = (unsigned char)p[i];
                return CS_EFORMAT;
            }
        }
        /* unquoted bytes up to the next delimiter (also after a closing quote) */
        const char *c = i < n ? memchr(p + i, dl, n - i) : NULL;
        size_t k = c ? (size_t)(c - p) : n;
        if ((st = cs_buf_append(&f->buf, p + i, k - i)) || (st = cs_buf_putc(&f->buf, '\0')))
            return st;
        if (!c)
            return CS_OK;
        i = k + 1;
    }
}
