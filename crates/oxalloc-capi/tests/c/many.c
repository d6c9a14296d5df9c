/* many: 4 million mymalloc(8) in a fresh heap complete in under 10 s, then all are freed. */
#include "harness.h"

#include <stdlib.h>
#include <sys/mman.h>

#define N 4000000

int main(void) {
    CHECK(harness_break() == harness_heap_start(), "heap not fresh at main");
    /* The pointer array lives outside the heap. */
    void **ps = mmap(NULL, N * sizeof *ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(ps != MAP_FAILED, "mmap of the pointer array failed");
    double t0 = hnow();
    for (long i = 0; i < N; i++) {
        long *p = mymalloc(8);
        if (!p)
            hfail("mymalloc(8) number %ld returned NULL", i);
        *p = i;
        ps[i] = p;
    }
    double t1 = hnow();
    size_t heap = harness_break() - harness_heap_start();
    for (long i = 0; i < N; i++)
        if (*(long *)ps[i] != i)
            hfail("object %ld overwritten", i);
    double t2 = hnow();
    for (long i = 0; i < N; i++)
        myfree(ps[i]);
    double t3 = hnow();
    hprintf("heap=%zu grow_calls=%lu bytes_per_object=%.2f\n", heap, harness_grow_calls(), (double)heap / N);
    hprintf("time_4m_alloc_s=%.3f\n", t1 - t0);
    hprintf("time_4m_free_s=%.3f\n", t3 - t2);
    hprintf("heap_after_free_all=%zu shrink_calls=%lu\n", (size_t)(harness_break() - harness_heap_start()),
            harness_shrink_calls());
    CHECK(t1 - t0 < 10.0, "4M mymalloc(8) took %.3f s (want < 10 s)", t1 - t0);
    return 0;
}
