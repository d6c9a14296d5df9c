/* shrink: freeing a several-MiB heap from the top down gives memory back with brk (the free top
 * exceeds the 64 KiB trim threshold); while the top block is live nothing is given back. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define N 6000
#define SZ 1000
static void *ps[N];

static void fill(void) {
    for (int i = 0; i < N; i++) {
        ps[i] = mymalloc(SZ);
        CHECK(ps[i] != NULL, "mymalloc(%d) number %d returned NULL", SZ, i);
        memset(ps[i], 0x33, SZ);
    }
}

int main(void) {
    uintptr_t start = harness_heap_start();

    /* Phase 1: free all in reverse order. */
    fill();
    uintptr_t b1 = harness_break();
    unsigned long s0 = harness_shrink_calls();
    hprintf("heap_before_free=%zu\n", (size_t)(b1 - start));
    CHECK(b1 - start > 4u << 20, "heap is only %zu bytes, want several MiB", (size_t)(b1 - start));
    uintptr_t lowest_seen = b1;
    int first_shrink_at = -1;
    for (int i = N - 1; i >= 0; i--) {
        myfree(ps[i]);
        uintptr_t b = harness_break();
        CHECK(b <= lowest_seen, "the break went up while freeing (block %d)", i);
        if (b < lowest_seen && first_shrink_at < 0)
            first_shrink_at = i;
        lowest_seen = b;
    }
    uintptr_t b2 = harness_break();
    unsigned long shrinks = harness_shrink_calls() - s0;
    hprintf("heap_after_free=%zu shrink_calls=%lu first_shrink_after_freeing=%d_blocks\n",
            (size_t)(b2 - start), shrinks, first_shrink_at < 0 ? -1 : N - first_shrink_at);
    CHECK(shrinks > 0, "no shrink call after freeing a %zu-byte heap", (size_t)(b1 - start));
    CHECK(b2 < b1, "the break did not go down");
    /* The highest freed blocks now lie at or above the break. */
    for (int i = N - 64; i < N; i++)
        CHECK((uintptr_t)ps[i] >= b2, "freed block %d at %p is below the new break %#lx", i, ps[i],
              (unsigned long)b2);
    CHECK((uintptr_t)ps[N / 2] >= b2, "the middle block is still below the break");
    CHECK(b2 - start <= 64 * 1024 + 4096, "after freeing everything %zu bytes remain above the start",
          (size_t)(b2 - start));

    /* Phase 2: with the top block live, freeing everything below it gives nothing back. */
    fill();
    uintptr_t b3 = harness_break();
    unsigned long s1 = harness_shrink_calls();
    for (int i = N - 2; i >= 0; i--)
        myfree(ps[i]);
    CHECK(harness_shrink_calls() == s1, "%lu shrink calls while the top block is live",
          harness_shrink_calls() - s1);
    CHECK(harness_break() == b3, "the break moved while the top block is live");
    CHECK(((unsigned char *)ps[N - 1])[SZ - 1] == 0x33, "top block overwritten");
    myfree(ps[N - 1]);
    uintptr_t b4 = harness_break();
    hprintf("phase2_heap_live_top=%zu after_top_freed=%zu\n", (size_t)(b3 - start), (size_t)(b4 - start));
    CHECK(harness_shrink_calls() > s1, "freeing the top block gave nothing back");
    CHECK(b4 <= (uintptr_t)ps[0] + 64 * 1024, "freeing the top block left the break at %zu",
          (size_t)(b4 - start));
    return 0;
}
