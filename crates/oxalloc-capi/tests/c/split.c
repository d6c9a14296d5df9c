/* split: a freed 4 KiB block (with a guard after it, so it is not merged into the top) serves
 * later small requests from inside its span — through the classic names (straight from the
 * heap) and through malloc (whose thread cache carves its refills from the span). */
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *p = malloc(4096);
    void *guard = malloc(1100);
    char *m = mymalloc(4096);
    void *mg = mymalloc(16);
    CHECK(p && guard && m && mg, "setup allocation failed");

    /* The classic names first: the span is the only free block in the heap. */
    uintptr_t lo = (uintptr_t)m, hi = lo + 4096;
    myfree(m);
    void *ms[10];
    for (int i = 0; i < 10; i++) {
        void *q = mymalloc(32);
        CHECK(q != NULL, "mymalloc(32) failed");
        CHECK((uintptr_t)q >= lo && (uintptr_t)q + 32 <= hi,
              "mymalloc(32) number %d at %p is outside the freed span [%#lx, %#lx)", i, q, (unsigned long)lo,
              (unsigned long)hi);
        ms[i] = q;
    }
    /* Freed again, the pieces merge back with the rest of the span into one block. */
    for (int i = 0; i < 10; i++)
        myfree(ms[i]);
    void *again = mymalloc(4096);
    CHECK((uintptr_t)again == lo, "the span did not merge back into one block (mymalloc(4096) gave %p, want %#lx)",
          again, (unsigned long)lo);

    /* Then malloc, on the first span. */
    lo = (uintptr_t)p;
    hi = lo + 4096;
    free(p);
    void *qs[10];
    for (int i = 0; i < 10; i++) {
        qs[i] = malloc(32);
        CHECK(qs[i] != NULL, "malloc(32) failed");
        uintptr_t q = (uintptr_t)qs[i];
        CHECK(q >= lo && q + 32 <= hi, "malloc(32) number %d at %p is outside the freed span [%p, %p)", i,
              qs[i], p, p + 4096);
        memset(qs[i], i, 32);
    }
    /* What is left of the span is still one free block that a larger request can use. */
    void *r = malloc(2000);
    CHECK(r != NULL, "malloc(2000) failed");
    CHECK((uintptr_t)r >= lo && (uintptr_t)r + 2000 <= hi, "malloc(2000) at %p is outside the rest of the span",
          r);
    for (int i = 0; i < 10; i++)
        free(qs[i]);
    free(r);
    hprintf("split=ok\n");
    return 0;
}
