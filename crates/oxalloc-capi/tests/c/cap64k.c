/* cap64k: with the break capped at 64 KiB, small allocations fill the heap, then fail with
 * ENOMEM; freeing makes room again; a request that can never fit fails while small ones work. */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 8192
static void *ps[MAXN];

int main(void) {
    harness_set_cap(64 * 1024);
    uintptr_t start = harness_heap_start();
    int n = 0;
    errno = 0;
    while (n < MAXN) {
        void *p = mymalloc(8);
        if (!p)
            break;
        *(long *)p = n;
        ps[n++] = p;
    }
    int e = errno;
    hprintf("cap64k_mymalloc8_ok=%d\n", n);
    int outside = 0;
    for (int i = 0; i < n; i++)
        outside += !harness_in_break(ps[i]);
    CHECK(n < MAXN,
          "%d mymalloc(8) all succeeded under a 64 KiB cap (%d of them lie outside the interposed break "
          "region [%#lx, %#lx): memory not obtained through sbrk/brk)",
          n, outside, (unsigned long)start, (unsigned long)harness_break());
    CHECK(n > 1000, "only %d mymalloc(8) succeeded under a 64 KiB cap (want > 1000)", n);
    CHECK(e == ENOMEM, "failing mymalloc set errno %d, want ENOMEM", e);
    CHECK(harness_break() - start <= 64 * 1024, "break beyond the cap");

    errno = 0;
    void *q = malloc(8);
    CHECK(q == NULL, "malloc(8) succeeded in a full heap");
    CHECK(errno == ENOMEM, "failing malloc set errno %d, want ENOMEM", errno);
    for (int i = 0; i < n; i++)
        CHECK(*(long *)ps[i] == i, "block %d overwritten", i);

    /* Free every other block of the first 200: 100 holes of 16 bytes, all reusable. */
    for (int i = 0; i < 200; i += 2) {
        myfree(ps[i]);
        ps[i] = NULL;
    }
    for (int i = 0; i < 200; i += 2) {
        ps[i] = mymalloc(8);
        CHECK(ps[i] != NULL, "mymalloc(8) failed after freeing 100 blocks (hole %d)", i / 2);
        *(long *)ps[i] = i;
    }
    errno = 0;
    CHECK(mymalloc(8) == NULL && errno == ENOMEM, "heap should be full again");

    /* Free a run of 100 neighbours (1600 bytes): a 1000-byte malloc fits in the merged hole. */
    CHECK(n > 1100, "need more than 1100 blocks");
    for (int i = 1000; i < 1100; i++) {
        myfree(ps[i]);
        ps[i] = NULL;
    }
    void *big = malloc(1000);
    CHECK(big != NULL, "malloc(1000) failed although 100 neighbouring 16-byte blocks were freed");
    memset(big, 0x5A, 1000);

    /* A request that can never fit fails; small ones still work. */
    for (int i = 2000; i < 2010; i++) {
        myfree(ps[i]);
        ps[i] = NULL;
    }
    errno = 0;
    void *never = malloc(100 * 1024);
    CHECK(never == NULL, "malloc(100 KiB) succeeded under a 64 KiB cap (at %p, %s the break region)", never,
          harness_in_break(never) ? "inside" : "outside");
    CHECK(errno == ENOMEM, "malloc(100 KiB) set errno %d, want ENOMEM", errno);
    errno = 0;
    never = mymalloc(100 * 1024);
    CHECK(never == NULL && errno == ENOMEM, "mymalloc(100 KiB): %p errno %d", never, errno);
    for (int i = 2000; i < 2010; i++) {
        ps[i] = mymalloc(8);
        CHECK(ps[i] != NULL, "mymalloc(8) failed after a failed 100 KiB request");
        *(long *)ps[i] = i;
    }
    for (int i = 0; i < n; i++)
        if (ps[i])
            CHECK(*(long *)ps[i] == i, "block %d overwritten", i);
    for (size_t k = 0; k < 1000; k++)
        CHECK(((unsigned char *)big)[k] == 0x5A, "malloc(1000) block overwritten");

    /* Free everything: it all merges back, so one large block fits again. */
    free(big);
    for (int i = 0; i < n; i++)
        myfree(ps[i]);
    void *again = malloc(60000);
    CHECK(again != NULL, "malloc(60000) failed after freeing everything under a 64 KiB cap");
    memset(again, 1, 60000);
    free(again);
    hprintf("cap64k_grow_calls=%lu failed_sbrk=%lu\n", harness_grow_calls(), harness_failed_calls());
    return 0;
}
