/* growth: the first 128 small allocations (1..32 bytes, malloc and mymalloc mixed) of a fresh
 * heap must cost fewer than 8 grow calls (growth comes in batches of at least 4 KiB). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

int main(void) {
    CHECK(harness_break() == harness_heap_start(), "heap not fresh at main (break moved by %lu bytes)",
          (unsigned long)(harness_break() - harness_heap_start()));
    unsigned long g0 = harness_grow_calls();
    void *ps[128];
    size_t sz[128];
    for (int i = 0; i < 128; i++) {
        sz[i] = (size_t)(i % 32) + 1; /* every size 1..32, four times each */
        int use_my = (i + i / 32) % 2;
        ps[i] = use_my ? mymalloc(sz[i]) : malloc(sz[i]);
        CHECK(ps[i] != NULL, "allocation %d of %zu bytes returned NULL", i, sz[i]);
        memset(ps[i], i, sz[i]);
    }
    unsigned long grows = harness_grow_calls() - g0;
    size_t heap = harness_break() - harness_heap_start();
    hprintf("grow_calls_first128=%lu\n", grows);
    hprintf("heap_after_first128=%zu\n", heap);
    for (int i = 0; i < 128; i++)
        for (size_t k = 0; k < sz[i]; k++)
            CHECK(((unsigned char *)ps[i])[k] == (unsigned char)i,
                  "block %d byte %zu overwritten (blocks overlap?)", i, k);
    CHECK(grows < 8, "the first 128 small allocations made %lu grow calls (want < 8)", grows);
    for (int i = 0; i < 128; i++) {
        if (i % 2)
            myfree(ps[i]);
        else
            free(ps[i]);
    }
    return 0;
}
