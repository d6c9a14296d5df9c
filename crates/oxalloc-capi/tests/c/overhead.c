/* overhead: 10,000 live objects with sizes drawn uniformly from {0,8,...,128} in a fresh heap.
 * (break - heap start - requested bytes) / objects must be in (0, 9) through mymalloc, and
 * below 16 through malloc. Usage: overhead my|malloc */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define N 10000
static void *ps[N];

int main(int argc, char **argv) {
    CHECK(argc == 2 && (strcmp(argv[1], "my") == 0 || strcmp(argv[1], "malloc") == 0),
          "usage: overhead my|malloc");
    int my = strcmp(argv[1], "my") == 0;
    CHECK(harness_break() == harness_heap_start(), "heap not fresh at main");
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    size_t requested = 0;
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(hrand(&seed) % 17) * 8;
        requested += n;
        ps[i] = my ? mymalloc(n) : malloc(n);
        CHECK(ps[i] != NULL, "allocation %d (%zu bytes) returned NULL", i, n);
        if (n)
            memset(ps[i], 0x11, n);
    }
    size_t heap = harness_break() - harness_heap_start();
    double overhead = ((double)heap - (double)requested) / N;
    hprintf("requested=%zu heap=%zu grow_calls=%lu\n", requested, heap, harness_grow_calls());
    hprintf("overhead_%s=%.2f\n", my ? "my" : "malloc", overhead);
    if (my)
        CHECK(overhead > 0 && overhead < 9, "overhead through mymalloc is %.2f bytes/object (want 0 < x < 9)",
              overhead);
    else
        CHECK(overhead < 16, "overhead through malloc is %.2f bytes/object (want < 16)", overhead);
    for (int i = 0; i < N; i++) {
        if (my)
            myfree(ps[i]);
        else
            free(ps[i]);
    }
    return 0;
}
