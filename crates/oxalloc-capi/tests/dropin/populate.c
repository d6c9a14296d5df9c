/* When a thread cache's refill of small blocks grows the heap, the pages it grew by (up to
 * 1 MiB) are faulted in after the heap's lock is released, so that the refills carving them
 * next (this thread's or another's) do not take page faults while holding the lock. Memory
 * grown for a large block is not: a program that never touches the middle of its block does
 * not pay for it. Both are seen with mincore (run preloaded, in one thread).
 *
 * Prints "populate skipped" where the kernel cannot tell (no MADV_POPULATE_WRITE: before
 * Linux 5.14), and leaves out the large block's check where transparent huge pages are always
 * on (the kernel may then fault in its middle by itself). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "check.h"

static uintptr_t PAGE;
#define MiB ((size_t)1 << 20)

/* Resident pages among those of [a, b) (page-aligned). */
static size_t resident(uintptr_t a, uintptr_t b) {
    static unsigned char vec[1 << 16];
    size_t n = (b - a) / PAGE, r = 0;
    CHECK(n <= sizeof vec, "range too long");
    CHECK(mincore((void *)a, b - a, vec) == 0, "mincore failed");
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

/* Whether the kernel knows MADV_POPULATE_WRITE (tried on a mapping of this test's own). */
static int kernel_populates(void) {
    void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    int ok = madvise(m, PAGE, 23 /* MADV_POPULATE_WRITE */) == 0;
    munmap(m, PAGE);
    return ok;
}

/* Whether transparent huge pages are on for every mapping. */
static int thp_always(void) {
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "[always]") != NULL;
}

int main(void) {
    PAGE = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (!kernel_populates()) {
        puts("populate skipped");
        return 0;
    }
    /* A 24 MiB block on the heap (under the 64 MiB mapping threshold), written at its ends
     * only: the heap is large enough that it grows by more than 64 KiB at a time. */
    size_t big_n = 24 * MiB;
    char *big = malloc(big_n);
    CHECK(big, "24 MiB");
    big[0] = 1;
    big[big_n - 1] = 1;
    uintptr_t mid = ((uintptr_t)big + MiB) & ~(PAGE - 1);
    size_t r = thp_always() ? 0 : resident(mid, mid + 4 * MiB);
    CHECK(r == 0, "%zu pages of the untouched middle of a large block are resident", r);

    /* Small blocks until one refill grows the heap. */
    uintptr_t end0 = (uintptr_t)sbrk(0), end1 = end0;
    char *p = NULL;
    for (int i = 0; i < 1000000 && end1 == end0; i++) {
        p = malloc(48);
        CHECK(p, "malloc(48)");
        end1 = (uintptr_t)sbrk(0);
    }
    CHECK(end1 > end0, "the heap never grew");
    /* The refill carved a batch at p (its lowest block, handed out first); the rest of the
     * growth is the top chunk, which should now be resident. */
    uintptr_t a = ((uintptr_t)p + 16 * 1024 + PAGE - 1) & ~(PAGE - 1);
    uintptr_t b = end1 & ~(PAGE - 1);
    if (b > (uintptr_t)p + MiB)
        b = ((uintptr_t)p + MiB) & ~(PAGE - 1);
    CHECK(b >= a + 8 * PAGE, "the heap grew by too little to tell (%zu bytes above the batch)",
          (size_t)(b - a));
    r = resident(a, b);
    CHECK(r == (b - a) / PAGE, "only %zu of the %zu pages the heap grew by are resident", r,
          (size_t)((b - a) / PAGE));
    free(big);
    puts("populate ok");
    return 0;
}
