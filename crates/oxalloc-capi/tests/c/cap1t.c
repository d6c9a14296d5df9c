/* cap1t: with a 1 TiB cap, sizes from 1 byte to 32 MiB (powers of two and odd sizes) come from
 * the break; the first and last byte of each are written; all are freed and the break drops. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define MAXB 128

int main(void) {
    harness_set_cap((size_t)1 << 40);
    hprintf("cap=%zu\n", harness_cap());
    uintptr_t start = harness_heap_start();
    void *ps[MAXB];
    size_t sz[MAXB];
    int n = 0;
    for (int k = 0; k <= 25; k++) {
        size_t p2 = (size_t)1 << k;
        size_t cand[3] = {p2, p2 + p2 / 2 + 1, p2 > 2 ? p2 - 1 : 3};
        for (int c = 0; c < 3; c++) {
            size_t s = cand[c];
            if (s > ((size_t)32 << 20))
                continue;
            int my = (n % 2) == 1;
            void *p = my ? mymalloc(s) : malloc(s);
            CHECK(p != NULL, "%s(%zu) returned NULL", my ? "mymalloc" : "malloc", s);
            CHECK((uintptr_t)p >= start && (uintptr_t)p + s <= harness_break(),
                  "block of %zu bytes at %p is not inside [heap start, break)", s, p);
            ((unsigned char *)p)[0] = (unsigned char)n;
            ((unsigned char *)p)[s - 1] = (unsigned char)(n + 1);
            ps[n] = p;
            sz[n] = s;
            n++;
        }
    }
    uintptr_t peak = harness_break();
    hprintf("blocks=%d heap=%zu grow_calls=%lu\n", n, (size_t)(peak - start), harness_grow_calls());
    for (int i = 0; i < n; i++) {
        unsigned char *p = ps[i];
        CHECK((sz[i] == 1 || p[0] == (unsigned char)i) && p[sz[i] - 1] == (unsigned char)(i + 1),
              "block %d (%zu bytes) overwritten", i, sz[i]);
        for (int j = 0; j < n; j++)
            if (j != i)
                CHECK((uintptr_t)ps[j] + sz[j] <= (uintptr_t)p || (uintptr_t)p + sz[i] <= (uintptr_t)ps[j],
                      "blocks %d and %d overlap", i, j);
    }
    for (int i = n - 1; i >= 0; i--) {
        if (i % 2)
            myfree(ps[i]);
        else
            free(ps[i]);
    }
    size_t after = harness_break() - start;
    hprintf("heap_after_free_all=%zu shrink_calls=%lu\n", after, harness_shrink_calls());
    CHECK(after < 128 * 1024, "after freeing everything the break is still %zu bytes above the start", after);
    return 0;
}
