/*
 * harness.h - an interposing sbrk/brk for oxalloc's C behaviour tests.
 *
 * Linking harness.c into a program that also links liboxalloc.a makes the allocator's calls of
 * the C library's exported `sbrk`/`brk` land here instead of in glibc. The break then lives in a
 * region the harness reserved with mmap (MAP_NORESERVE, up to 1 TiB), and the harness
 *   - caps the break at `cap` bytes above the region start (env HARNESS_CAP, or harness_set_cap);
 *     a request beyond the cap fails with (void *)-1 / -1 and errno = ENOMEM;
 *   - counts successful grow calls (positive sbrk, brk up) and shrink calls (negative sbrk,
 *     brk down);
 *   - fills every newly handed-out byte with 0xAB, so code that assumes fresh memory is zero
 *     (e.g. calloc) is caught.
 * The test program may call sbrk/brk itself to move the break as "someone else".
 *
 * The harness never allocates (safe to call from inside malloc). It also offers hprintf, a
 * printf to stdout that does not allocate either (vsnprintf into a static buffer + write), so
 * tests can print without disturbing the heap they measure.
 */
#ifndef OXALLOC_TEST_HARNESS_H
#define OXALLOC_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* The interposed symbols (same prototypes as <unistd.h>). */
void *sbrk(intptr_t increment);
int brk(void *addr);

/* The classic names exported by liboxalloc (8-byte alignment). */
void *mymalloc(size_t size);
void myfree(void *p);
void *mycalloc(size_t nmemb, size_t size);
void *myrealloc(void *p, size_t size);

/* Sets the cap (bytes above the region start the break may reach). Meant to be called before
 * the first allocation; lowering it below the current break only makes further growth fail. */
void harness_set_cap(size_t bytes);
size_t harness_cap(void);
/* The start of the region (the break before anything grew it). */
uintptr_t harness_heap_start(void);
/* The current break. */
uintptr_t harness_break(void);
/* Whether p lies in [region start, break): memory the allocator got through sbrk/brk. */
int harness_in_break(const void *p);
/* Successful grow / shrink calls so far; failed calls (cap exceeded or invalid brk). */
unsigned long harness_grow_calls(void);
unsigned long harness_shrink_calls(void);
unsigned long harness_failed_calls(void);

/* printf to stdout without allocating. */
void hprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "FAIL: <reason>" and exits with status 1. */
void hfail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A small deterministic PRNG (xorshift64*) for the tests. `*state` must not be 0. */
static inline uint64_t hrand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Seconds on the monotonic clock. */
double hnow(void);

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (!(cond))                                                                            \
            hfail(__VA_ARGS__);                                                                 \
    } while (0)

#endif
