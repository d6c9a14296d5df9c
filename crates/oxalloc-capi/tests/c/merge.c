/* merge: 128 neighbouring mymalloc(8) blocks plus a guard; once all 128 are freed (in an order
 * that merges with both neighbours), malloc(1024) is served inside the merged span. */
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    void *ps[128];
    for (int i = 0; i < 128; i++) {
        ps[i] = mymalloc(8);
        CHECK(ps[i] != NULL, "mymalloc(8) failed");
        memset(ps[i], 0x77, 8);
    }
    void *guard = mymalloc(8);
    CHECK(guard != NULL, "guard allocation failed");
    memset(guard, 0x99, 8);
    for (int i = 1; i < 128; i++)
        CHECK((uintptr_t)ps[i] == (uintptr_t)ps[i - 1] + 16,
              "mymalloc(8) blocks are not 16-byte neighbours (%p then %p)", ps[i - 1], ps[i]);
    uintptr_t lo = (uintptr_t)ps[0] - 8;          /* first block's header */
    uintptr_t hi = (uintptr_t)ps[127] + 8;        /* end of the last block */
    /* Evens first (no merges), then odds (each merges with both neighbours). */
    for (int i = 0; i < 128; i += 2)
        myfree(ps[i]);
    for (int i = 1; i < 128; i += 2)
        myfree(ps[i]);
    void *q = malloc(1024);
    CHECK(q != NULL, "malloc(1024) failed");
    CHECK((uintptr_t)q >= lo + 8 && (uintptr_t)q + 1024 <= hi,
          "malloc(1024) at %p is not inside the merged span [%#lx, %#lx)", q, (unsigned long)lo,
          (unsigned long)hi);
    memset(q, 1, 1024);
    /* Freed again, the whole 2 KiB span is one block. */
    free(q);
    void *r = mymalloc(hi - lo - 8);
    CHECK(r == ps[0], "mymalloc(%lu) gave %p, want the whole merged span at %p", (unsigned long)(hi - lo - 8),
          r, ps[0]);
    for (int k = 0; k < 8; k++)
        CHECK(((unsigned char *)guard)[k] == 0x99, "guard block overwritten");
    hprintf("merge=ok\n");
    return 0;
}
