/* writer.c - WARC writer: one gzip member per record (or plain), correct
 * Content-Length, WARC-Block-Digest and WARC-Payload-Digest, so every
 * written record can be range-fetched by (offset, length). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "crawlset/gzip.h"
#include "crawlset/warc.h"

struct cs_warc_writer {
    int fd;
    uint64_t offset;      /* file offset of the next record */
    cs_warc_writer_opts opts;
    cs_deflate *def;
    cs_buf hdr;           /* header being built */
    cs_buf out;           /* compressed member */
    char err[CS_ERRMSG_MAX];
};

cs_status cs_warc_writer_new(cs_warc_writer **out, int fd, uint64_t offset,
                             const cs_warc_writer_opts *opts)
{
    cs_warc_writer *w = cs_calloc(1, sizeof *w);
    if (!w)
        return CS_ENOMEM;
    w->fd = fd;
    w->offset = offset;
    if (opts)
        w->opts = *opts;
    else
        w->opts.gzip = true;
    if (!w->opts.version)
        w->opts.version = "WARC/1.1";
    cs_buf_init(&w->hdr, 16u << 20);
    cs_buf_init(&w->out, 0);
    if (w->opts.gzip) {
        cs_status st = cs_deflate_new(&w->def, w->opts.level ? w->opts.level : 6);
        if (st) {
            cs_warc_writer_free(w);
            return st;
        }
    }
    *out = w;
    return CS_OK;
}

void cs_warc_writer_free(cs_warc_writer *w)
{
    if (!w)
        return;
    cs_deflate_free(w->def);
    cs_buf_cleanup(&w->hdr);
    cs_buf_cleanup(&w->out);
    cs_free(w);
}

const char *cs_warc_writer_errmsg(const cs_warc_writer *w) { return w->err; }

static cs_status write_all(cs_warc_writer *w, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            snprintf(w->err, sizeof w->err, "write at offset %llu: %s",
                     (unsigned long long)w->offset, strerror(errno));
            return CS_EIO;
        }
        c += k;
        n -= (size_t)k;
    }
    return CS_OK;
}

cs_status cs_warc_writer_write_raw(cs_warc_writer *w, const void *p, size_t n, uint64_t *offset)
{
    if (offset)
        *offset = w->offset;
    cs_status st = write_all(w, p, n);
    if (!st)
        w->offset += n;
    return st;
}

static bool has_field(const cs_warc_field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (cs_slice_ieq((cs_slice){f[i].name, f[i].name_len ? f[i].name_len : strlen(f[i].name)},
                         name))
            return true;
    return false;
}

static void new_uuid(char out[37])
{
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            b[i] = (uint8_t)(x >> 56);
        }
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char hx[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hx[b[i] >> 4];
        out[k++] = hx[b[i] & 15];
    }
    out[k] = 0;
}

/* Offset of the HTTP body in an application/http block, or 0 if none. */
static size_t http_body_offset(const char *p, size_t n)
{
    if (n < 5 || (memcmp(p, "HTTP/", 5) != 0 && !memchr(p, ' ', n < 16 ? n : 16)))
        return 0;
    const char *e = memmem(p, n, "\r\n\r\n", 4);
    if (e)
        return (size_t)(e - p) + 4;
    e = memmem(p, n, "\n\n", 2);
    return e ? (size_t)(e - p) + 2 : 0;
}

static cs_status digest_of(cs_digest_algo algo, const void *p, size_t n, char *out)
{
    cs_digest d;
    cs_status st = cs_digest_init(&d, algo);
    if (st)
        return st;
    cs_digest_update(&d, p, n);
    uint8_t v[64];
    size_t vl;
    cs_digest_final(&d, v, &vl);
    cs_digest_cleanup(&d);
    cs_digest_format(algo, v, vl, out);
    return CS_OK;
}

cs_status cs_warc_writer_write(cs_warc_writer *w, cs_warc_type type, const cs_warc_field *fields,
                               size_t nfields, const void *block, size_t block_len,
                               uint64_t *offset, uint64_t *length)
{
    cs_status st;
    cs_buf *h = &w->hdr;
    cs_buf_reset(h);
    if ((st = cs_buf_printf(h, "%s\r\nWARC-Type: %s\r\n", w->opts.version, cs_warc_type_name(type))))
        return st;
    if (!has_field(fields, nfields, "WARC-Record-ID")) {
        char u[37];
        new_uuid(u);
        if ((st = cs_buf_printf(h, "WARC-Record-ID: <urn:uuid:%s>\r\n", u)))
            return st;
    }
    if (!has_field(fields, nfields, "WARC-Date")) {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if ((st = cs_buf_printf(h, "WARC-Date: %s\r\n", ts)))
            return st;
    }
    for (size_t i = 0; i < nfields; i++) {
        const cs_warc_field *f = &fields[i];
        size_t nl = f->name_len ? f->name_len : strlen(f->name);
        size_t vl = f->value_len ? f->value_len : strlen(f->value);
        cs_slice nm = {f->name, nl};
        /* fields the writer owns */
        if (cs_slice_ieq(nm, "WARC-Type") || cs_slice_ieq(nm, "Content-Length") ||
            cs_slice_ieq(nm, "WARC-Block-Digest") || cs_slice_ieq(nm, "WARC-Payload-Digest"))
            continue;
        /* no CR/LF injection through values */
        if (memchr(f->name, '\n', nl) || memchr(f->value, '\n', vl) || memchr(f->name, '\r', nl) ||
            memchr(f->value, '\r', vl) || memchr(f->name, ':', nl)) {
            snprintf(w->err, sizeof w->err, "header field '%.*s' contains CR, LF or ':'",
                     (int)(nl > 40 ? 40 : nl), f->name);
            return CS_EINVAL;
        }
        if ((st = cs_buf_append(h, f->name, nl)) || (st = cs_buf_append(h, ": ", 2)) ||
            (st = cs_buf_append(h, f->value, vl)) || (st = cs_buf_append(h, "\r\n", 2)))
            return st;
    }
    char dg[128];
    if ((st = digest_of(CS_DIGEST_SHA1, block, block_len, dg)))
        return st;
    if ((st = cs_buf_printf(h, "WARC-Block-Digest: %s\r\n", dg)))
        return st;
    if (type == CS_WARC_RESPONSE || type == CS_WARC_REQUEST || type == CS_WARC_RESOURCE) {
        size_t body = type == CS_WARC_RESOURCE ? 0 : http_body_offset(block, block_len);
        if (type == CS_WARC_RESOURCE || body) {
            if ((st = digest_of(CS_DIGEST_SHA1, (const char *)block + body, block_len - body, dg)))
                return st;
            if ((st = cs_buf_printf(h, "WARC-Payload-Digest: %s\r\n", dg)))
                return st;
        }
    }
    if ((st = cs_buf_printf(h, "Content-Length: %zu\r\n\r\n", block_len)))
        return st;

    uint64_t start = w->offset;
    if (w->opts.gzip) {
        cs_slice parts[3] = {{h->data, h->len}, {block, block_len}, {"\r\n\r\n", 4}};
        cs_buf_reset(&w->out);
        if ((st = cs_deflate_member(w->def, parts, 3, &w->out)))
            return st;
        if ((st = write_all(w, w->out.data, w->out.len)))
            return st;
        w->offset += w->out.len;
    } else {
        if ((st = write_all(w, h->data, h->len)) || (st = write_all(w, block, block_len)) ||
            (st = write_all(w, "\r\n\r\n", 4)))
            return st;
        w->offset += h->len + block_len + 4;
    }
    if (offset)
        *offset = start;
    if (length)
        *length = w->offset - start;
    return CS_OK;
}
