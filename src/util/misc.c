/* misc.c - slices, logging, time and base16/32/64 codecs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crawlset/util.h"

/* ---- slices ---- */

bool cs_slice_eq(cs_slice a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

static inline int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

bool cs_slice_ieq(cs_slice a, const char *lit)
{
    size_t n = strlen(lit);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

static inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

cs_slice cs_slice_trim(cs_slice s)
{
    while (s.len && is_ws(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_ws(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

bool cs_slice_to_u64(cs_slice s, uint64_t *out)
{
    s = cs_slice_trim(s);
    if (s.len == 0 || s.len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.ptr[i] - '0';
        if (d > 9)
            return false;
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ---- logging ---- */

static cs_log_fn g_log_fn;
static void *g_log_ud;
static cs_log_level g_log_min = CS_LOG_INFO;

void cs_log_set_handler(cs_log_fn fn, void *ud, cs_log_level min_level)
{
    g_log_fn = fn;
    g_log_ud = ud;
    g_log_min = min_level;
}

void cs_log(cs_log_level level, const char *fmt, ...)
{
    if (!g_log_fn || level < g_log_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_log_fn(level, msg, g_log_ud);
}

/* ---- time ---- */

double cs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- base16 / base32 / base64 ---- */

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char B16[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cs_base32_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 5) {
        uint8_t blk[5] = {0};
        size_t k = n - i < 5 ? n - i : 5;
        memcpy(blk, in + i, k);
        uint64_t v = ((uint64_t)blk[0] << 32) | ((uint64_t)blk[1] << 24) |
                     ((uint64_t)blk[2] << 16) | ((uint64_t)blk[3] << 8) | blk[4];
        static const int chars[6] = {0, 2, 4, 5, 7, 8};
        int nc = chars[k];
        for (int j = 0; j < 8; j++)
            out[o++] = j < nc ? B32[(v >> (35 - 5 * j)) & 31] : '=';
    }
    out[o] = '\0';
    return o;
}

static int b32val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

/* Decodes n characters of `width` bits each (their values from val, < 0 =
 * not in the alphabet), '=' padding at the end ignored, into out (cap
 * bytes); a last partial byte is dropped. The length, or (size_t)-1. */
static size_t decode_bits(const char *in, size_t n, uint8_t *out, size_t cap, int width,
                          int (*val)(int))
{
    uint32_t acc = 0; /* only the low `bits` bits matter */
    int bits = 0;
    size_t o = 0;
    while (n && in[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = val((unsigned char)in[i]);
        if (v < 0)
            return (size_t)-1;
        acc = (acc << width) | (uint32_t)v;
        bits += width;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return (size_t)-1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

size_t cs_base32_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    return decode_bits(in, n, out, cap, 5, b32val);
}

size_t cs_base16_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = B16[in[i] >> 4];
        out[2 * i + 1] = B16[in[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t cs_base16_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 2 || n / 2 > cap)
        return (size_t)-1;
    for (size_t i = 0; i < n / 2; i++) {
        int h = hexval((unsigned char)in[2 * i]), l = hexval((unsigned char)in[2 * i + 1]);
        if (h < 0 || l < 0)
            return (size_t)-1;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return n / 2;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

size_t cs_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    return decode_bits(in, n, out, cap, 6, b64val);
}

size_t cs_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}
