/* manpages: the malloc(3) contracts: free(NULL), malloc(0), realloc(NULL, n), realloc(p, 0),
 * realloc keeping contents, shrinking in place, growing in place into a free neighbour or the
 * top, and failing under the cap with ENOMEM while the old block stays intact. */
#include "harness.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAP (1u << 20)

static void pattern(void *p, size_t n, unsigned seed) {
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)(seed + i * 7);
}

static int has_pattern(const void *p, size_t n, unsigned seed) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

int main(void) {
    harness_set_cap(CAP);

    /* Grow in place at the top: in a fresh heap the first block sits under the top chunk. */
    char *t = malloc(100);
    CHECK(t != NULL, "malloc(100) failed");
    pattern(t, 100, 1);
    unsigned long g0 = harness_grow_calls();
    char *t2 = realloc(t, 200000);
    CHECK(t2 == t, "realloc of the top block to 200000 moved it (%p -> %p); want growth in place", t, t2);
    CHECK(harness_grow_calls() > g0, "growing the top block past the top chunk did not grow the heap");
    CHECK(has_pattern(t2, 100, 1), "realloc at the top lost the contents");
    memset(t2 + 100, 0, 200000 - 100);
    free(t2);

    /* Growing in place into a free next block (the heap is empty here, so the blocks are
     * neighbours carved from the top; the classic names take blocks straight from the heap,
     * where malloc's small sizes may come from the thread's cache). */
    char *n1 = mymalloc(100);
    char *n2 = mymalloc(200);
    void *gn = mymalloc(16);
    CHECK(n1 && n2 && gn, "setup allocation failed");
    CHECK(n2 == n1 + malloc_usable_size(n1) + 8, "setup: mymalloc(100) at %p and mymalloc(200) at %p are not neighbours",
          n1, n2);
    pattern(n1, 100, 7);
    free(n2);
    char *n3 = realloc(n1, 250);
    CHECK(n3 == n1, "realloc(p, 250) with a free 200-byte block after p moved it (%p -> %p)", n1, n3);
    CHECK(has_pattern(n3, 100, 7), "growing in place lost the contents");
    char *n4 = malloc(16); /* the rest of the merged neighbour is still usable */
    CHECK(n4 != NULL, "malloc after growing in place failed");
    free(n3);
    free(n4);
    free(gn);

    /* free(NULL) */
    free(NULL);
    myfree(NULL);

    /* malloc(0): unique non-NULL pointers that can be freed. */
    void *z[16];
    for (int i = 0; i < 16; i++) {
        z[i] = (i % 2) ? mymalloc(0) : malloc(0);
        CHECK(z[i] != NULL, "malloc(0) returned NULL");
        for (int j = 0; j < i; j++)
            CHECK(z[i] != z[j], "malloc(0) returned %p twice", z[i]);
    }
    for (int i = 0; i < 16; i++) {
        if (i % 2)
            myfree(z[i]);
        else
            free(z[i]);
    }

    /* realloc(NULL, n) is malloc(n). */
    char *a = realloc(NULL, 100);
    CHECK(a != NULL, "realloc(NULL, 100) returned NULL");
    CHECK((uintptr_t)a % 16 == 0, "realloc(NULL, 100) = %p is not 16-aligned", a);
    pattern(a, 100, 2);
    char *ma = myrealloc(NULL, 50);
    CHECK(ma != NULL && (uintptr_t)ma % 8 == 0, "myrealloc(NULL, 50) = %p", ma);
    pattern(ma, 50, 3);

    /* realloc(p, 0) frees p and returns NULL (the freed block is reused at once: LIFO). */
    void *guard1 = malloc(16);
    void *r0 = realloc(a, 0);
    CHECK(r0 == NULL, "realloc(p, 0) returned %p, want NULL", r0);
    void *again = malloc(100);
    CHECK(again == a, "after realloc(p, 0), malloc(100) gave %p, want the freed block %p", again, a);
    CHECK(myrealloc(ma, 0) == NULL, "myrealloc(p, 0) did not return NULL");
    free(again);

    /* Contents survive growing (in place and moving) and shrinking. */
    size_t steps[] = {10, 100, 300, 1000, 5000, 40000, 100000, 3000, 64, 7, 1};
    char *p = malloc(10);
    pattern(p, 10, 4);
    size_t cur = 10;
    for (size_t k = 1; k < sizeof steps / sizeof *steps; k++) {
        size_t n = steps[k];
        void *blocker = malloc(24); /* keep the block from always sitting under the top */
        char *q = realloc(p, n);
        CHECK(q != NULL, "realloc(p, %zu) returned NULL", n);
        size_t keep = cur < n ? cur : n;
        CHECK(has_pattern(q, keep, 4), "realloc %zu -> %zu lost the contents", cur, n);
        pattern(q, n, 4);
        p = q;
        cur = n;
        free(blocker);
    }
    free(p);
    for (int my = 0; my < 2; my++) {
        char *x = my ? mymalloc(777) : malloc(777);
        pattern(x, 777, 5);
        void *gx = malloc(16);
        char *y = my ? myrealloc(x, 4000) : realloc(x, 4000);
        CHECK(y && has_pattern(y, 777, 5), "%srealloc grow lost the contents", my ? "my" : "");
        char *w = my ? myrealloc(y, 33) : realloc(y, 33);
        CHECK(w && has_pattern(w, 33, 5), "%srealloc shrink lost the contents", my ? "my" : "");
        free(w);
        free(gx);
    }

    /* Shrinking stays in place. */
    char *s = malloc(1000);
    void *gs = malloc(16);
    pattern(s, 1000, 6);
    char *s2 = realloc(s, 100);
    CHECK(s2 == s, "realloc(p, 100) of a 1000-byte block moved it (%p -> %p)", s, s2);
    char *s3 = realloc(s2, 8);
    CHECK(s3 == s, "realloc(p, 8) moved the block (%p -> %p)", s, s3);
    CHECK(has_pattern(s3, 8, 6), "shrinking lost the contents");
    char *ms = mymalloc(500);
    void *gms = mymalloc(16);
    CHECK(myrealloc(ms, 20) == ms, "myrealloc shrink moved the block");
    myfree(ms);
    myfree(gms);
    free(s3);
    free(gs);

    /* realloc failing under the cap: NULL, ENOMEM, the old block intact and still usable. */
    char *f = malloc(1000);
    CHECK(f != NULL, "malloc(1000) failed");
    pattern(f, 1000, 8);
    void *gf = malloc(16);
    errno = 0;
    void *f2 = realloc(f, 2 * CAP);
    CHECK(f2 == NULL, "realloc beyond the %u-byte cap returned %p (%s the interposed break region [%#lx, %#lx))",
          CAP, f2, harness_in_break(f2) ? "inside" : "outside", (unsigned long)harness_heap_start(),
          (unsigned long)harness_break());
    CHECK(errno == ENOMEM, "failing realloc set errno %d, want ENOMEM", errno);
    CHECK(has_pattern(f, 1000, 8), "a failing realloc changed the old block");
    errno = 0;
    f2 = realloc(f, SIZE_MAX - 64);
    CHECK(f2 == NULL && errno == ENOMEM, "realloc(p, SIZE_MAX-64): %p errno %d", f2, errno);
    CHECK(has_pattern(f, 1000, 8), "a failing realloc changed the old block");
    errno = 0;
    f2 = myrealloc(f, 2 * CAP);
    CHECK(f2 == NULL && errno == ENOMEM, "myrealloc beyond the cap: %p errno %d", f2, errno);
    f2 = realloc(f, 2000); /* a size that fits still works */
    CHECK(f2 != NULL && has_pattern(f2, 1000, 8), "realloc(p, 2000) after failures");
    free(f2);
    free(gf);
    free(guard1);
    hprintf("manpages=ok\n");
    return 0;
}
