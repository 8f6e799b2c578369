/* alloc.c - the library's allocator with a replaceable hook. */
#include <stdlib.h>
#include <string.h>

#include "crawlset/util.h"

static cs_allocator g_alloc; /* zero = libc */

void cs_set_allocator(const cs_allocator *a)
{
    if (a)
        g_alloc = *a;
    else
        memset(&g_alloc, 0, sizeof g_alloc);
}

void *cs_malloc(size_t n)
{
    if (n == 0)
        n = 1;
    if (g_alloc.malloc_fn)
        return g_alloc.malloc_fn(n, g_alloc.ud);
    return malloc(n);
}

void *cs_calloc(size_t count, size_t n)
{
    if (n && count > SIZE_MAX / n)
        return NULL;
    void *p = cs_malloc(count * n);
    if (p)
        memset(p, 0, count * n);
    return p;
}

void *cs_realloc(void *p, size_t n)
{
    if (n == 0)
        n = 1;
    if (g_alloc.realloc_fn)
        return g_alloc.realloc_fn(p, n, g_alloc.ud);
    return realloc(p, n);
}

void cs_free(void *p)
{
    if (!p)
        return;
    if (g_alloc.free_fn)
        g_alloc.free_fn(p, g_alloc.ud);
    else
        free(p);
}

char *cs_strndup(const char *s, size_t n)
{
    char *d = cs_malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cs_strdup(const char *s) { return s ? cs_strndup(s, strlen(s)) : NULL; }
