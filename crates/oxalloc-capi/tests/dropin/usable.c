/* malloc_usable_size on blocks from the thread caches is answered from the block's header
 * without the heap's lock: 1,000 blocks asked 100 times each; the harness bounds "lock taken"
 * in the OXALLOC_STATS report (one trip per call would be 100,000). Each answer is at least the
 * request and the same every time; the whole usable size is writable. */
#include <malloc.h>
#include <string.h>
#include "check.h"

int main(void) {
    enum { N = 1000, ROUNDS = 100 };
    static unsigned char *p[N];
    static size_t want[N], got[N];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        want[i] = 1 + (s >> 8) % 900;
        p[i] = malloc(want[i]);
        CHECK(p[i], "malloc(%zu)", want[i]);
        got[i] = malloc_usable_size(p[i]);
        CHECK(got[i] >= want[i], "usable %zu < requested %zu", got[i], want[i]);
        memset(p[i], 0xab, got[i]);
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N; i++)
            CHECK(malloc_usable_size(p[i]) == got[i], "block %d: usable size changed", i);
    for (int i = 0; i < N; i++) free(p[i]);
    printf("usable ok\n");
    return 0;
}
