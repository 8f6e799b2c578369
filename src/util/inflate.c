/* inflate.c - deflate/gzip decompression behind one interface. This is the
 * only place that chooses between ISA-L (igzip, several times faster than
 * zlib on x86-64) and zlib. Also gzip header parsing and a one-member-per-call
 * gzip compressor for the WARC writer. */
#include <string.h>
#include <zlib.h>
#ifdef CS_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "crawlset/gzip.h"

struct cs_inflate {
    cs_inflate_fmt fmt;
    bool isal;                /* which backend this inflater uses */
    bool zinit;               /* z is initialised */
    z_stream z;
    uint32_t crc, isize;      /* zlib + NOHDR: running CRC and size */
    uint8_t trailer[8];       /* zlib + NOHDR: trailer bytes collected */
    int trailer_len;          /* -1 while deflate data is still running */
    char errmsg[CS_ERRMSG_MAX];
#ifdef CS_HAVE_ISAL
    struct inflate_state *is; /* large (~50 KiB): allocated once */
#endif
};

#ifdef CS_HAVE_ISAL
static cs_inflate_backend g_backend = CS_INFLATE_ISAL;
#else
static cs_inflate_backend g_backend = CS_INFLATE_ZLIB_BACKEND;
#endif

const char *cs_inflate_backend_name(void)
{
    return g_backend == CS_INFLATE_ISAL ? "isa-l" : "zlib";
}

cs_status cs_inflate_set_backend(cs_inflate_backend b)
{
#ifdef CS_HAVE_ISAL
    g_backend = b == CS_INFLATE_ZLIB_BACKEND ? CS_INFLATE_ZLIB_BACKEND : CS_INFLATE_ISAL;
    return CS_OK;
#else
    if (b == CS_INFLATE_ISAL)
        return CS_EUNSUPPORTED;
    return CS_OK;
#endif
}

static int zlib_bits(cs_inflate_fmt fmt)
{
    switch (fmt) {
    case CS_INFLATE_GZIP: return 15 + 16;
    case CS_INFLATE_ZLIB: return 15;
    default: return -15;
    }
}

void cs_inflate_reset(cs_inflate *z, cs_inflate_fmt fmt)
{
    z->fmt = fmt;
    z->errmsg[0] = 0;
    z->crc = (uint32_t)crc32(0, Z_NULL, 0);
    z->isize = 0;
    z->trailer_len = -1;
#ifdef CS_HAVE_ISAL
    if (z->isal) {
        isal_inflate_reset(z->is);
        switch (fmt) {
        case CS_INFLATE_GZIP: z->is->crc_flag = ISAL_GZIP; break;
        case CS_INFLATE_GZIP_NOHDR: z->is->crc_flag = ISAL_GZIP_NO_HDR_VER; break;
        case CS_INFLATE_ZLIB: z->is->crc_flag = ISAL_ZLIB; break;
        default: z->is->crc_flag = ISAL_DEFLATE; break;
        }
        return;
    }
#endif
    if (z->zinit)
        inflateEnd(&z->z);
    memset(&z->z, 0, sizeof z->z);
    z->zinit = inflateInit2(&z->z, zlib_bits(fmt)) == Z_OK;
}

cs_status cs_inflate_new(cs_inflate **out, cs_inflate_fmt fmt)
{
    cs_inflate *z = cs_calloc(1, sizeof *z);
    if (!z)
        return CS_ENOMEM;
#ifdef CS_HAVE_ISAL
    if (g_backend == CS_INFLATE_ISAL) {
        z->is = cs_malloc(sizeof *z->is);
        if (!z->is) {
            cs_free(z);
            return CS_ENOMEM;
        }
        isal_inflate_init(z->is);
        z->isal = true;
    }
#endif
    cs_inflate_reset(z, fmt);
    if (!z->isal && !z->zinit) {
        cs_free(z);
        return CS_ENOMEM;
    }
    *out = z;
    return CS_OK;
}

void cs_inflate_free(cs_inflate *z)
{
    if (!z)
        return;
    if (z->zinit)
        inflateEnd(&z->z);
#ifdef CS_HAVE_ISAL
    cs_free(z->is);
#endif
    cs_free(z);
}

const char *cs_inflate_errmsg(const cs_inflate *z) { return z->errmsg; }

#ifdef CS_HAVE_ISAL
static const char *isal_err(int r)
{
    switch (r) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "invalid gzip/zlib wrapper";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect checksum";
    case ISAL_NEED_DICT: return "preset dictionary required";
    default: return "inflate error";
    }
}

static cs_status run_isal(cs_inflate *z, const uint8_t *in, size_t in_len, size_t *in_used,
                          uint8_t *out, size_t out_cap, size_t *out_len)
{
    struct inflate_state *s = z->is;
    if (s->block_state == ISAL_BLOCK_FINISH) {
        *in_used = *out_len = 0;
        return CS_DONE;
    }
    s->next_in = (uint8_t *)in;
    s->avail_in = in_len > UINT32_MAX ? UINT32_MAX : (uint32_t)in_len;
    s->next_out = out;
    s->avail_out = out_cap > UINT32_MAX ? UINT32_MAX : (uint32_t)out_cap;
    int r = isal_inflate(s);
    *in_used = (size_t)(s->next_in - in);
    *out_len = (size_t)(s->next_out - out);
    if (r < 0) {
        snprintf(z->errmsg, sizeof z->errmsg, "%s", isal_err(r));
        return CS_EGZIP;
    }
    return s->block_state == ISAL_BLOCK_FINISH ? CS_DONE : CS_OK;
}
#endif

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static cs_status run_zlib(cs_inflate *z, const uint8_t *in, size_t in_len, size_t *in_used,
                          uint8_t *out, size_t out_cap, size_t *out_len)
{
    *in_used = *out_len = 0;
    if (z->trailer_len == 8) /* finished earlier */
        return CS_DONE;
    if (z->trailer_len < 0) {
        z->z.next_in = (Bytef *)in;
        z->z.avail_in = in_len > UINT32_MAX ? UINT32_MAX : (uInt)in_len;
        z->z.next_out = out;
        z->z.avail_out = out_cap > UINT32_MAX ? UINT32_MAX : (uInt)out_cap;
        int r = inflate(&z->z, Z_NO_FLUSH);
        *in_used = (size_t)(z->z.next_in - in);
        *out_len = (size_t)(z->z.next_out - out);
        if (z->fmt == CS_INFLATE_GZIP_NOHDR) {
            z->crc = (uint32_t)crc32(z->crc, out, (uInt)*out_len);
            z->isize += (uint32_t)*out_len;
        }
        if (r == Z_STREAM_END) {
            if (z->fmt != CS_INFLATE_GZIP_NOHDR) {
                z->trailer_len = 8;
                return CS_DONE;
            }
            z->trailer_len = 0;
        } else if (r == Z_OK || r == Z_BUF_ERROR) {
            return CS_OK;
        } else {
            snprintf(z->errmsg, sizeof z->errmsg, "%s",
                     z->z.msg ? z->z.msg : (r == Z_NEED_DICT ? "preset dictionary required"
                                                               : "inflate error"));
            return CS_EGZIP;
        }
    }
    /* GZIP_NOHDR: collect and verify the 8-byte trailer */
    while (z->trailer_len < 8 && *in_used < in_len)
        z->trailer[z->trailer_len++] = in[(*in_used)++];
    if (z->trailer_len < 8)
        return CS_OK;
    if (le32(z->trailer) != z->crc) {
        snprintf(z->errmsg, sizeof z->errmsg, "incorrect data check");
        return CS_EGZIP;
    }
    if (le32(z->trailer + 4) != z->isize) {
        snprintf(z->errmsg, sizeof z->errmsg, "incorrect length check");
        return CS_EGZIP;
    }
    return CS_DONE;
}

cs_status cs_inflate_run(cs_inflate *z, const uint8_t *in, size_t in_len, size_t *in_used,
                         uint8_t *out, size_t out_cap, size_t *out_len)
{
#ifdef CS_HAVE_ISAL
    if (z->isal)
        return run_isal(z, in, in_len, in_used, out, out_cap, out_len);
#endif
    return run_zlib(z, in, in_len, in_used, out, out_cap, out_len);
}

bool cs_gzip_magic(const uint8_t *p, size_t n)
{
    return n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8;
}

cs_status cs_gzip_parse_header(const uint8_t *p, size_t n, cs_gzip_header *h)
{
    memset(h, 0, sizeof *h);
    if (n < 3)
        return (n == 0 || (p[0] == 0x1f && (n < 2 || p[1] == 0x8b))) ? CS_ETRUNC : CS_EGZIP;
    if (!cs_gzip_magic(p, n))
        return CS_EGZIP;
    if (n < 10)
        return CS_ETRUNC;
    h->flags = p[3];
    if (h->flags & 0xE0)
        return CS_EGZIP; /* reserved bits set */
    h->mtime = le32(p + 4);
    size_t off = 10;
    if (h->flags & 4) { /* FEXTRA */
        if (n < off + 2)
            return CS_ETRUNC;
        size_t xlen = (size_t)p[off] | (size_t)p[off + 1] << 8;
        off += 2;
        if (n < off + xlen)
            return CS_ETRUNC;
        size_t x = off, end = off + xlen;
        while (x + 4 <= end) {
            size_t sl = (size_t)p[x + 2] | (size_t)p[x + 3] << 8;
            if (x + 4 + sl > end)
                break;
            if (p[x] == 's' && p[x + 1] == 'l' && sl >= 4) {
                h->has_sl = true;
                h->sl_length = le32(p + x + 4);
            }
            x += 4 + sl;
        }
        off = end;
    }
    for (int f = 8; f <= 16; f += 8) { /* FNAME, FCOMMENT: NUL-terminated */
        if (!(h->flags & f))
            continue;
        const uint8_t *z = off < n ? memchr(p + off, 0, n - off) : NULL;
        if (!z)
            return n - off > 65536 ? CS_EGZIP : CS_ETRUNC;
        off = (size_t)(z - p) + 1;
    }
    if (h->flags & 2) { /* FHCRC */
        if (n < off + 2)
            return CS_ETRUNC;
        off += 2;
    }
    h->header_len = off;
    return CS_OK;
}

cs_status cs_inflate_buffer(cs_inflate_fmt fmt, const void *in, size_t n, size_t max, cs_buf *out)
{
    const uint8_t *p = in;
    if (fmt == CS_INFLATE_ZLIB) {
        /* HTTP "deflate" is often raw deflate despite RFC 9110: sniff */
        if (n < 2 || (p[0] & 0x0f) != 8 || ((unsigned)p[0] << 8 | p[1]) % 31 != 0)
            fmt = CS_INFLATE_RAW;
    }
    cs_inflate *z;
    cs_status st = cs_inflate_new(&z, fmt);
    if (st)
        return st;
    size_t pos = 0;
    size_t produced_total = 0;
    for (;;) {
        st = cs_buf_reserve(out, 65536);
        if (st == CS_ETOOBIG)
            st = cs_buf_reserve(out, 1);
        if (st)
            goto done;
        size_t room = out->cap - out->len;
        if (room > max - produced_total + 1)
            room = max - produced_total + 1;
        size_t used, got;
        st = cs_inflate_run(z, p + pos, n - pos, &used, (uint8_t *)out->data + out->len, room, &got);
        pos += used;
        out->len += got;
        produced_total += got;
        out->data[out->len] = 0;
        if (produced_total > max) {
            st = CS_ETOOBIG;
            goto done;
        }
        if (st == CS_DONE) {
            if (fmt == CS_INFLATE_GZIP && cs_gzip_magic(p + pos, n - pos)) {
                cs_inflate_reset(z, fmt);
                continue;
            }
            st = CS_OK;
            goto done;
        }
        if (st)
            goto done;
        if (used == 0 && got == 0) {
            if (pos >= n) {
                st = CS_ETRUNC;
                goto done;
            }
        }
    }
done:
    cs_inflate_free(z);
    return st;
}

/* ---- compressor ---- */

/* Members are written with raw deflate between our own header and trailer,
 * so the header can carry the WARC 'sl' extra field (compressed and
 * uncompressed length of the member): readers can then skip a record
 * without inflating it. */
struct cs_deflate {
    z_stream z;
};

cs_status cs_deflate_new(cs_deflate **out, int level)
{
    cs_deflate *d = cs_calloc(1, sizeof *d);
    if (!d)
        return CS_ENOMEM;
    if (deflateInit2(&d->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        cs_free(d);
        return CS_ENOMEM;
    }
    *out = d;
    return CS_OK;
}

void cs_deflate_free(cs_deflate *d)
{
    if (!d)
        return;
    deflateEnd(&d->z);
    cs_free(d);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

cs_status cs_deflate_member(cs_deflate *d, const cs_slice *parts, size_t n, cs_buf *out)
{
    cs_status st;
    uint64_t total = 0;
    uint32_t crc = (uint32_t)crc32(0, Z_NULL, 0);
    for (size_t i = 0; i < n; i++) {
        total += parts[i].len;
        /* crc32 takes uInt lengths: feed big parts in pieces */
        const Bytef *p = (const Bytef *)parts[i].ptr;
        size_t left = parts[i].len;
        while (left) {
            uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
            crc = (uint32_t)crc32(crc, p, k);
            p += k;
            left -= k;
        }
    }
    bool sl = total < 0xFFF00000u;
    size_t start = out->len;
    uint8_t hdr[24] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    size_t hlen = 10;
    if (sl) {
        hdr[3] = 4; /* FEXTRA */
        hdr[10] = 12;
        hdr[11] = 0;
        hdr[12] = 's';
        hdr[13] = 'l';
        hdr[14] = 8;
        hdr[15] = 0;
        /* 16..19 compressed length (patched below), 20..23 uncompressed */
        put_le32(hdr + 20, (uint32_t)total);
        hlen = 24;
    }
    if ((st = cs_buf_append(out, hdr, hlen)))
        return st;
    deflateReset(&d->z);
    for (size_t i = 0; i <= n; i++) {
        int flush = i == n ? Z_FINISH : Z_NO_FLUSH;
        const Bytef *p = i < n ? (const Bytef *)parts[i].ptr : (const Bytef *)"";
        size_t left = i < n ? parts[i].len : 0;
        do {
            uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
            d->z.next_in = (Bytef *)p;
            d->z.avail_in = k;
            int f = (left == k) ? flush : Z_NO_FLUSH;
            for (;;) {
                if ((st = cs_buf_reserve(out, 65536)))
                    return st;
                d->z.next_out = (Bytef *)out->data + out->len;
                d->z.avail_out = (uInt)(out->cap - out->len);
                int r = deflate(&d->z, f);
                out->len = out->cap - d->z.avail_out;
                if (r == Z_STREAM_END)
                    break;
                if (r != Z_OK && r != Z_BUF_ERROR)
                    return CS_EGZIP;
                if (f != Z_FINISH && d->z.avail_in == 0)
                    break;
            }
            p += k;
            left -= k;
        } while (left);
    }
    uint8_t trailer[8];
    put_le32(trailer, crc);
    put_le32(trailer + 4, (uint32_t)total);
    if ((st = cs_buf_append(out, trailer, 8)))
        return st;
    if (sl)
        put_le32((uint8_t *)out->data + start + 16, (uint32_t)(out->len - start));
    return CS_OK;
}
