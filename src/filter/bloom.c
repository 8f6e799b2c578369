/* bloom.c - Bloom filter files: sizing, double hashing over XXH3-128,
 * mmap'd read-only opens, atomic saves, OR merges (layout and tracker flow
 * in crawlset/filter.h).
 *
 * Hand-written: Debian packages no maintained C Bloom-filter library with a
 * stable, mergeable on-disk format (libbloom is not packaged); the structure
 * itself is a bit array and two hash values. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "filter/filter_int.h"

#define HDR 4096
#define MAGIC "CSBLOOM\0"
#define MAX_BITS (1ull << 40)

struct cs_bloom {
    uint64_t *bits;     /* m bits */
    uint64_t m;
    uint32_t k;
    uint64_t capacity;
    double error_rate;
    bool writable;
    void *map;          /* read-only: the whole mapping */
    size_t maplen;
};

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

static cs_status alloc_bits(cs_bloom *b)
{
    b->bits = cs_calloc(b->m / 64, sizeof(uint64_t));
    return b->bits ? CS_OK : CS_ENOMEM;
}

cs_status cs_bloom_new(cs_bloom **out, uint64_t capacity, double error_rate)
{
    *out = NULL;
    if (!capacity)
        capacity = CS_BLOOM_DEFAULT_CAPACITY;
    if (error_rate == 0)
        error_rate = CS_BLOOM_DEFAULT_ERROR;
    if (!(error_rate > 0 && error_rate <= 0.5))
        return CS_EINVAL;
    double ln2 = log(2.0);
    double bits = ceil(-(double)capacity * log(error_rate) / (ln2 * ln2));
    if (bits > (double)MAX_BITS)
        return CS_EINVAL;
    uint64_t m = ((uint64_t)bits + 511) / 512 * 512;
    double kk = round((double)m / (double)capacity * ln2);
    cs_bloom *b = cs_calloc(1, sizeof *b);
    if (!b)
        return CS_ENOMEM;
    b->m = m;
    b->k = kk < 1 ? 1 : kk > 32 ? 32 : (uint32_t)kk;
    b->capacity = capacity;
    b->error_rate = error_rate;
    b->writable = true;
    if (alloc_bits(b)) {
        cs_free(b);
        return CS_ENOMEM;
    }
    *out = b;
    return CS_OK;
}

cs_status cs_bloom_new_like(cs_bloom **out, const cs_bloom *src)
{
    *out = NULL;
    cs_bloom *b = cs_calloc(1, sizeof *b);
    if (!b)
        return CS_ENOMEM;
    b->m = src->m;
    b->k = src->k;
    b->capacity = src->capacity;
    b->error_rate = src->error_rate;
    b->writable = true;
    if (alloc_bits(b)) {
        cs_free(b);
        return CS_ENOMEM;
    }
    *out = b;
    return CS_OK;
}

void cs_bloom_free(cs_bloom *b)
{
    if (!b)
        return;
    if (b->map)
        munmap(b->map, b->maplen);
    else
        cs_free(b->bits);
    cs_free(b);
}

static void header(const cs_bloom *b, unsigned char h[HDR])
{
    memset(h, 0, HDR);
    memcpy(h, MAGIC, 8);
    h[8] = 1; /* version 1, little-endian u32 */
    h[12] = (unsigned char)b->k;
    wr64(h + 16, b->m);
    wr64(h + 24, b->capacity);
    uint64_t rate;
    memcpy(&rate, &b->error_rate, 8);
    wr64(h + 32, rate);
    wr64(h + 40, XXH3_64bits(b->bits, b->m / 8));
    wr64(h + 48, XXH3_64bits(h, 48));
}

cs_status cs_bloom_open(cs_bloom **out, const char *path, int flags, char *err, size_t errlen)
{
    *out = NULL;
    cs_bloom *b = NULL;
    cs_status st = CS_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CS_EIO;
    }
    struct stat sb;
    unsigned char h[64];
    if (fstat(fd, &sb) || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
        snprintf(err, errlen, "%s: not a Bloom filter file (too short)", path);
        st = CS_EFORMAT;
        goto done;
    }
    if (memcmp(h, MAGIC, 8) || rd64(h + 48) != XXH3_64bits(h, 48)) {
        snprintf(err, errlen, "%s: not a Bloom filter file (bad magic or header checksum)", path);
        st = CS_EFORMAT;
        goto done;
    }
    uint32_t version = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 |
                       (uint32_t)h[11] << 24;
    uint32_t k = (uint32_t)h[12] | (uint32_t)h[13] << 8;
    uint64_t m = rd64(h + 16);
    if (version != 1 || !k || k > 32 || !m || m % 512 || m > MAX_BITS ||
        (uint64_t)sb.st_size != HDR + m / 8) {
        snprintf(err, errlen, "%s: bad Bloom header (version %u, k %u, %llu bits, file %lld bytes)",
                 path, version, k, (unsigned long long)m, (long long)sb.st_size);
        st = CS_EFORMAT;
        goto done;
    }
    if (!(b = cs_calloc(1, sizeof *b))) {
        st = CS_ENOMEM;
        goto done;
    }
    b->m = m;
    b->k = k;
    b->capacity = rd64(h + 24);
    uint64_t rate = rd64(h + 32);
    memcpy(&b->error_rate, &rate, 8);
    if (flags & CS_BLOOM_WRITABLE) {
        b->writable = true;
        if (alloc_bits(b)) {
            st = CS_ENOMEM;
            goto done;
        }
        size_t want = m / 8, got = 0;
        while (got < want) {
            ssize_t r = pread(fd, (char *)b->bits + got, want - got, (off_t)(HDR + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                snprintf(err, errlen, "%s: read error", path);
                goto done;
            }
            got += (size_t)r;
        }
    } else {
        b->maplen = (size_t)sb.st_size;
        b->map = mmap(NULL, b->maplen, PROT_READ, MAP_SHARED, fd, 0);
        if (b->map == MAP_FAILED) {
            b->map = NULL;
            snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
            goto done;
        }
        b->bits = (uint64_t *)((char *)b->map + HDR);
    }
    if ((flags & CS_BLOOM_VERIFY) && XXH3_64bits(b->bits, m / 8) != rd64(h + 40)) {
        snprintf(err, errlen, "%s: the bit array does not match its checksum (corrupt)", path);
        st = CS_EFORMAT;
        goto done;
    }
    st = CS_OK;
    *out = b;
    b = NULL;
done:
    cs_bloom_free(b);
    close(fd);
    return st;
}

/* Bit i of the key with hashes h1, h2: multiply-shift onto [0, m). */
static inline uint64_t bit_of(uint64_t h1, uint64_t h2, uint32_t i, uint64_t m)
{
    uint64_t x = h1 + (uint64_t)i * h2;
    return (uint64_t)(((unsigned __int128)x * m) >> 64);
}

bool cs_bloom_add(cs_bloom *b, const void *key, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(key, n);
    uint64_t h2 = h.high64 | 1;
    bool present = true;
    for (uint32_t i = 0; i < b->k; i++) {
        uint64_t bit = bit_of(h.low64, h2, i, b->m);
        uint64_t mask = 1ull << (bit & 63);
        if (!(b->bits[bit >> 6] & mask)) {
            present = false;
            if (b->writable)
                b->bits[bit >> 6] |= mask;
        }
    }
    return present;
}

bool cs_bloom_query(const cs_bloom *b, const void *key, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(key, n);
    uint64_t h2 = h.high64 | 1;
    for (uint32_t i = 0; i < b->k; i++) {
        uint64_t bit = bit_of(h.low64, h2, i, b->m);
        if (!(b->bits[bit >> 6] & (1ull << (bit & 63))))
            return false;
    }
    return true;
}

bool cs_bloom_same_params(const cs_bloom *a, const cs_bloom *b)
{
    return a->m == b->m && a->k == b->k && a->capacity == b->capacity &&
           memcmp(&a->error_rate, &b->error_rate, sizeof(double)) == 0;
}

cs_status cs_bloom_merge(cs_bloom *dst, const cs_bloom *src)
{
    if (!dst->writable || !cs_bloom_same_params(dst, src))
        return CS_EINVAL;
    for (uint64_t i = 0; i < dst->m / 64; i++)
        dst->bits[i] |= src->bits[i];
    return CS_OK;
}

cs_status cs_bloom_save(const cs_bloom *b, const char *path, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return CS_EIO;
    }
    unsigned char h[HDR];
    header(b, h);
    const char *parts[2] = {(const char *)h, (const char *)b->bits};
    size_t lens[2] = {HDR, b->m / 8};
    for (int p = 0; p < 2; p++) {
        size_t off = 0;
        while (off < lens[p]) {
            ssize_t w = write(fd, parts[p] + off, lens[p] - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
                close(fd);
                unlink(tmp);
                return CS_EIO;
            }
            off += (size_t)w;
        }
    }
    if (fsync(fd) || close(fd) || rename(tmp, path)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return CS_EIO;
    }
    return CS_OK;
}

void cs_bloom_info_get(const cs_bloom *b, cs_bloom_info *o)
{
    memset(o, 0, sizeof *o);
    o->k = b->k;
    o->m = b->m;
    o->capacity = b->capacity;
    o->error_rate = b->error_rate;
    uint64_t set = 0;
    for (uint64_t i = 0; i < b->m / 64; i++)
        set += (uint64_t)__builtin_popcountll(b->bits[i]);
    o->bits_set = set;
    o->est_count = set >= b->m ? INFINITY
                               : -(double)b->m / b->k * log(1.0 - (double)set / (double)b->m);
}
