/* arena.c - per-record bump allocator, reset in O(1) between records. */
#include <string.h>

#include "crawlset/util.h"

#define ARENA_BLOCK 16384

struct cs_arena_block {
    cs_arena_block *next;
    size_t size; /* usable bytes in mem[] */
    size_t off;  /* next free byte */
    _Alignas(16) unsigned char mem[];
};

void cs_arena_init(cs_arena *a, size_t max)
{
    a->head = a->spare = NULL;
    a->used = 0;
    a->max = max ? max : SIZE_MAX;
}

static void free_chain(cs_arena_block *b)
{
    while (b) {
        cs_arena_block *n = b->next;
        cs_free(b);
        b = n;
    }
}

void cs_arena_cleanup(cs_arena *a)
{
    free_chain(a->head);
    free_chain(a->spare);
    a->head = a->spare = NULL;
    a->used = 0;
}

void cs_arena_reset(cs_arena *a)
{
    /* Keep standard-size blocks for reuse; free oversized ones. */
    cs_arena_block *b = a->head;
    while (b) {
        cs_arena_block *n = b->next;
        if (b->size == ARENA_BLOCK) {
            b->off = 0;
            b->next = a->spare;
            a->spare = b;
        } else {
            cs_free(b);
        }
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}

void *cs_arena_alloc(cs_arena *a, size_t n)
{
    size_t rounded = (n + 15) & ~(size_t)15;
    if (rounded < n || rounded > a->max - a->used)
        return NULL;
    cs_arena_block *b = a->head;
    if (!b || b->size - b->off < rounded) {
        if (rounded <= ARENA_BLOCK && a->spare) {
            b = a->spare;
            a->spare = b->next;
        } else {
            size_t sz = rounded > ARENA_BLOCK ? rounded : ARENA_BLOCK;
            b = cs_malloc(sizeof *b + sz);
            if (!b)
                return NULL;
            b->size = sz;
        }
        b->off = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->mem + b->off;
    b->off += rounded;
    a->used += rounded;
    return p;
}

char *cs_arena_strndup(cs_arena *a, const char *s, size_t n)
{
    char *d = cs_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
