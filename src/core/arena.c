/* arena.c - the region allocator of arena.h. Blocks are chained; a request
 * larger than a quarter block gets a block of its own so that a big record
 * does not waste the tail of the current one. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
} block;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *arg;
} cleanup;

struct pm_arena {
    block *head;  /* current block: the newest, chained to the older ones */
    block *first; /* the block made with the arena, kept across resets */
    size_t block_size;
    size_t used;
    cleanup *cleanups;
    block *spare; /* blocks of block_size kept by pm_arena_recycle */
};

_Noreturn void pm_oom(size_t n)
{
    fprintf(stderr, "pipemend: fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *pm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        pm_oom(n);
    return p;
}

void *pm_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        pm_oom(n);
    return q;
}

void *pm_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        pm_oom(count * n);
    return p;
}

char *pm_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = pm_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static block *block_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(block))
        pm_oom(size);
    block *b = malloc(sizeof(block) + size);
    if (!b)
        pm_oom(size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

pm_arena *pm_arena_new(size_t block_size)
{
    pm_arena *a = pm_xcalloc(1, sizeof *a);
    a->block_size = block_size ? block_size : 64 * 1024;
    a->head = a->first = block_new(a->block_size);
    return a;
}

static void run_cleanups(pm_arena *a)
{
    while (a->cleanups) {
        cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg); /* the node itself lives in the arena */
    }
}

void pm_arena_reset(pm_arena *a)
{
    run_cleanups(a);
    for (block *b = a->spare, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->spare = NULL;
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (b != a->first)
            free(b);
    }
    a->first->next = NULL;
    a->first->used = 0;
    a->head = a->first;
    a->used = 0;
}

void pm_arena_recycle(pm_arena *a)
{
    run_cleanups(a);
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        if (b == a->first)
            continue;
        if (b->size == a->block_size) {
            b->next = a->spare;
            a->spare = b;
        } else {
            free(b);
        }
    }
    a->first->next = NULL;
    a->first->used = 0;
    a->head = a->first;
    a->used = 0;
}

void pm_arena_free(pm_arena *a)
{
    if (!a)
        return;
    run_cleanups(a);
    for (block *b = a->spare, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    block *b = a->head;
    while (b) {
        block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *pm_arena_alloc(pm_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    block *b = a->head;
    if (b->size - b->used < n) {
        if (n > a->block_size / 4) {
            /* Oversized request: a dedicated block, linked behind the head
             * so the head keeps serving small requests. */
            block *big = block_new(n);
            big->used = n;
            big->next = b->next;
            b->next = big;
            a->used += n;
            return big->data;
        }
        block *nb = a->spare;
        if (nb) {
            a->spare = nb->next;
            nb->used = 0;
        } else {
            nb = block_new(a->block_size);
        }
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used += n;
    return p;
}

void *pm_arena_calloc(pm_arena *a, size_t n)
{
    void *p = pm_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *pm_arena_strndup(pm_arena *a, const char *s, size_t n)
{
    char *p = pm_arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *pm_arena_strdup(pm_arena *a, const char *s)
{
    return pm_arena_strndup(a, s, strlen(s));
}

char *pm_arena_sprintf(pm_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = pm_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void pm_arena_on_reset(pm_arena *a, void (*fn)(void *), void *arg)
{
    cleanup *c = pm_arena_alloc(a, sizeof *c);
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t pm_arena_used(const pm_arena *a)
{
    return a->used;
}
