/* buf.c - bounded growable byte buffer (cs_buf). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crawlset/util.h"

void cs_buf_init(cs_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX - 1;
}

void cs_buf_cleanup(cs_buf *b)
{
    cs_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cs_buf_reset(cs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

cs_status cs_buf_reserve(cs_buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return CS_ETOOBIG;
    size_t need = b->len + extra;
    if (need <= b->cap && b->data)
        return CS_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 4 ? need : ncap * 2;
    if (ncap > b->max)
        ncap = b->max;
    char *p = cs_realloc(b->data, ncap + 1);
    if (!p)
        return CS_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return CS_OK;
}

cs_status cs_buf_append(cs_buf *b, const void *p, size_t n)
{
    cs_status st = cs_buf_reserve(b, n);
    if (st)
        return st;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CS_OK;
}

cs_status cs_buf_putc(cs_buf *b, char c) { return cs_buf_append(b, &c, 1); }

cs_status cs_buf_puts(cs_buf *b, const char *s) { return cs_buf_append(b, s, strlen(s)); }

cs_status cs_buf_printf(cs_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CS_EINVAL;
    if ((size_t)n < sizeof small)
        return cs_buf_append(b, small, (size_t)n);
    cs_status st = cs_buf_reserve(b, (size_t)n);
    if (st)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CS_OK;
}

char *cs_buf_take(cs_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    if (!d)
        d = cs_strndup("", 0);
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
