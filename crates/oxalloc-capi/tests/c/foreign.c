/* foreign: the program itself moves the break (sbrk(4096), then an odd sbrk(13)) between
 * allocations. Allocation keeps working, never touches the foreign ranges, earlier blocks keep
 * their contents and can be freed, and the allocator never gives back memory it does not own. */
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXB 600
static unsigned char *blk[MAXB];
static size_t bsz[MAXB];
static int nb;

struct range {
    uintptr_t lo, hi;
};
static struct range foreign[2];
static int nforeign;

static void fill(unsigned char *p, size_t n, int id) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(id * 31 + i);
}

static void check_block(int i) {
    for (size_t k = 0; k < bsz[i]; k++)
        if (blk[i][k] != (unsigned char)(i * 31 + k))
            hfail("block %d (%zu bytes at %p) byte %zu changed", i, bsz[i], blk[i], k);
}

static void add(size_t n, int my) {
    CHECK(nb < MAXB, "too many blocks");
    unsigned char *p = my ? mymalloc(n) : malloc(n);
    CHECK(p != NULL, "%s(%zu) failed after a foreign break move", my ? "mymalloc" : "malloc", n);
    CHECK((uintptr_t)p % (my ? 8 : 16) == 0, "%s(%zu) = %p misaligned after a foreign break move",
          my ? "mymalloc" : "malloc", n, p);
    for (int f = 0; f < nforeign; f++)
        CHECK((uintptr_t)p + n <= foreign[f].lo || (uintptr_t)p - 8 >= foreign[f].hi,
              "block %p (%zu bytes) overlaps the foreign range [%#lx, %#lx)", p, n, (unsigned long)foreign[f].lo,
              (unsigned long)foreign[f].hi);
    fill(p, n, nb);
    blk[nb] = p;
    bsz[nb] = n;
    nb++;
}

static void check_foreign(void) {
    for (int f = 0; f < nforeign; f++)
        for (uintptr_t a = foreign[f].lo; a < foreign[f].hi; a++)
            if (*(unsigned char *)a != (unsigned char)(0x5A + f))
                hfail("foreign range %d byte %#lx changed to %#x", f, (unsigned long)(a - foreign[f].lo),
                      *(unsigned char *)a);
}

static void foreign_move(intptr_t n) {
    void *r = sbrk(n);
    CHECK(r != (void *)-1, "sbrk(%ld) failed", (long)n);
    foreign[nforeign].lo = (uintptr_t)r;
    foreign[nforeign].hi = (uintptr_t)r + (uintptr_t)n;
    memset(r, 0x5A + nforeign, (size_t)n);
    nforeign++;
}

int main(void) {
    for (int i = 0; i < 40; i++)
        add((size_t)(i * 37 % 300) + 1, i % 3 == 0);
    unsigned char *top = malloc(100); /* the block under the top chunk */
    fill(top, 100, 999);

    foreign_move(4096);
    /* Growing the old top block must not run into the foreign range. */
    unsigned char *top2 = realloc(top, 20000);
    CHECK(top2 != NULL, "realloc of the old top block failed");
    for (size_t k = 0; k < 100; k++)
        CHECK(top2[k] == (unsigned char)(999 * 31 + k), "realloc across a foreign move lost the contents");
    CHECK((uintptr_t)top2 + 20000 <= foreign[0].lo || (uintptr_t)top2 >= foreign[0].hi,
          "realloc grew the old top block into the foreign range");
    for (int i = 0; i < 100; i++) /* > several KiB: forces growth past the foreign range */
        add((size_t)(i * 53 % 400) + 1, i % 2);

    foreign_move(13);
    CHECK(harness_break() % 8 != 0, "the break should now be unaligned");
    for (int i = 0; i < 150; i++)
        add((size_t)(i * 71 % 500) + 1, i % 2);
    add(100000, 0);
    add(100001, 1);

    for (int i = 0; i < nb; i++)
        check_block(i);
    check_foreign();
    uint64_t seed = 42;
    /* Free the earlier blocks (including those from before the moves), allocate again. */
    for (int i = 0; i < 140; i++) {
        if (hrand(&seed) % 2)
            continue;
        if (i % 3 == 0)
            myfree(blk[i]);
        else
            free(blk[i]);
        blk[i] = NULL;
    }
    free(top2);
    for (int i = 0; i < nb; i++)
        if (blk[i])
            check_block(i);
    for (int i = 0; i < 100; i++)
        add((size_t)(i * 13 % 900) + 1, i % 2);
    for (int i = 0; i < nb; i++)
        if (blk[i])
            check_block(i);
    check_foreign();
    for (int i = 0; i < nb; i++)
        free(blk[i]);
    check_foreign();
    CHECK(harness_break() >= foreign[1].hi, "the break went below memory the program moved it over");
    /* Everything still works after all that. */
    void *x = malloc(300000);
    CHECK(x != NULL, "malloc(300000) failed at the end");
    memset(x, 0, 300000);
    free(x);
    check_foreign();
    hprintf("foreign=ok grow_calls=%lu shrink_calls=%lu\n", harness_grow_calls(), harness_shrink_calls());
    return 0;
}
