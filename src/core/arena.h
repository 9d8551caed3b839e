/* arena.h - region allocator: memory lives as long as its arena.
 *
 * pipemend frees by lifetime, as PostgreSQL's memory contexts do: one arena
 * per process, per batch, per request, reset at the top of its loop. Things
 * that are not memory (a prepared statement, a file) register a cleanup that
 * runs on reset or free, in reverse order of registration.
 *
 * Running out of memory aborts the process with a message (as Redis's
 * zmalloc_oom_handler does): no caller could do anything useful with NULL,
 * and checking every allocation would hide the real error paths. */
#ifndef PM_CORE_ARENA_H
#define PM_CORE_ARENA_H

#include <stddef.h>

typedef struct pm_arena pm_arena;

/* Caller frees with pm_arena_free. block_size 0 picks the default (64 KiB). */
pm_arena *pm_arena_new(size_t block_size);
void pm_arena_free(pm_arena *a);
/* Runs cleanups, keeps the first block for reuse, releases the others. */
void pm_arena_reset(pm_arena *a);
/* Like pm_arena_reset, but keeps every block of the arena's block size for
 * its next allocations instead of releasing it (oversized blocks are
 * released). For an arena reset at the top of a loop whose rounds use about
 * the same memory, such as a batch: the memory is not given back to the
 * system and faulted in (and zeroed by the kernel) again in every round.
 * What it keeps is bounded by the largest round. */
void pm_arena_recycle(pm_arena *a);

void *pm_arena_alloc(pm_arena *a, size_t n); /* 16-byte aligned, uninitialised */
void *pm_arena_calloc(pm_arena *a, size_t n);
char *pm_arena_strndup(pm_arena *a, const char *s, size_t n); /* NUL-terminated */
char *pm_arena_strdup(pm_arena *a, const char *s);
char *pm_arena_sprintf(pm_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pm_arena_on_reset(pm_arena *a, void (*fn)(void *), void *arg);
/* Bytes handed out since the last reset (for memory accounting in tests). */
size_t pm_arena_used(const pm_arena *a);

/* Aborts the process with a message naming the request; used by every
 * allocation helper in core. */
_Noreturn void pm_oom(size_t n);
void *pm_xmalloc(size_t n);
void *pm_xrealloc(void *p, size_t n);
void *pm_xcalloc(size_t count, size_t n);
char *pm_xstrdup(const char *s);

#endif
