/* mallopt's parameters that oxalloc honours, seen through mallinfo2 (run preloaded, in one
 * thread): M_MMAP_THRESHOLD, M_MMAP_MAX, M_TRIM_THRESHOLD, M_TOP_PAD; the others are accepted.
 * mallinfo2's heap figures leave blocks with a mapping of their own out, as glibc's do. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define MiB ((size_t)1 << 20)

static struct mallinfo2 mi(void) {
    struct mallinfo2 m = mallinfo2();
    CHECK(m.uordblks <= m.arena && m.uordblks + m.fordblks == m.arena,
          "heap figures: arena %zu, in use %zu, free %zu", m.arena, m.uordblks, m.fordblks);
    return m;
}

static void test_mmap_threshold(void) {
    size_t h0 = mi().hblks;
    CHECK(mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1, "M_MMAP_THRESHOLD 256 KiB refused");
    char *p = malloc(MiB);
    memset(p, 1, MiB);
    struct mallinfo2 m = mi();
    CHECK(m.hblks == h0 + 1 && m.hblkhd >= MiB, "1 MiB not mapped on its own: %zu blocks, %zu bytes", m.hblks, m.hblkhd);
    CHECK(m.uordblks < MiB, "a mapped block counted on the heap (%zu bytes)", m.uordblks);
    char *q = malloc(100 * 1024);
    CHECK(mi().hblks == h0 + 1, "100 KiB mapped under a 256 KiB threshold");
    free(p);
    free(q);
    CHECK(mi().hblks == h0, "the mapping was not given back");
    CHECK(mallopt(M_MMAP_THRESHOLD, 100) == 0, "M_MMAP_THRESHOLD 100 accepted");
    /* M_MMAP_MAX 0: no block gets a mapping of its own, whatever its size. */
    CHECK(mallopt(M_MMAP_MAX, 0) == 1, "M_MMAP_MAX 0 refused");
    CHECK(mallopt(M_MMAP_THRESHOLD, 512 * 1024) == 1, "M_MMAP_THRESHOLD 512 KiB refused");
    char *big = malloc(80 * MiB);
    CHECK(big, "80 MiB");
    m = mi();
    CHECK(m.hblks == h0 && m.arena >= 80 * MiB && m.uordblks >= 80 * MiB, "80 MiB not on the heap with M_MMAP_MAX 0");
    free(big);
    /* Any other M_MMAP_MAX restores the last threshold (512 KiB, set meanwhile). */
    CHECK(mallopt(M_MMAP_MAX, 65536) == 1, "M_MMAP_MAX 65536 refused");
    p = malloc(MiB);
    q = malloc(300 * 1024);
    CHECK(mi().hblks == h0 + 1, "M_MMAP_MAX did not restore the threshold of 512 KiB");
    free(p);
    free(q);
    CHECK(mallopt(M_MMAP_THRESHOLD, 64 * MiB) == 1, "M_MMAP_THRESHOLD 64 MiB refused");
}

static void test_trim_threshold(void) {
    /* A high threshold keeps a freed 32 MiB top. */
    CHECK(mallopt(M_TRIM_THRESHOLD, 256 * MiB) == 1, "M_TRIM_THRESHOLD refused");
    char *a = malloc(32 * MiB);
    memset(a, 2, 32 * MiB);
    free(a);
    CHECK(mi().arena >= 32 * MiB, "the top was given back under a 256 MiB threshold (arena %zu)", mi().arena);
    /* A low fixed one gives the top back every time, even when the program allocates and frees
     * the same size in a loop (where the default threshold would rise and keep it). */
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "M_TRIM_THRESHOLD refused");
    for (int i = 0; i < 10; i++) {
        char *b = malloc(4 * MiB);
        memset(b, 3, 4 * MiB);
        free(b);
        CHECK(mi().arena < 2 * MiB, "round %d: the top was kept (arena %zu)", i, mi().arena);
    }
}

static void test_top_pad(void) {
    CHECK(mallopt(M_TRIM_THRESHOLD, 64 * MiB) == 1, "M_TRIM_THRESHOLD refused");
    size_t before = mi().arena;
    CHECK(mallopt(M_TOP_PAD, 16 * MiB) == 1, "M_TOP_PAD refused");
    char *p = malloc(before + 512 * 1024); /* more than the top holds: the heap grows */
    struct mallinfo2 m = mi();
    CHECK(m.arena >= before + 16 * MiB, "M_TOP_PAD 16 MiB: the heap grew only to %zu", m.arena);
    free(p);
    CHECK(mallopt(M_TOP_PAD, 0) == 1, "M_TOP_PAD 0 refused");
}

int main(void) {
    free(malloc(1)); /* initialised */
    test_mmap_threshold();
    test_trim_threshold();
    test_top_pad();
    /* Parameters without a meaning for oxalloc are accepted. */
    CHECK(mallopt(M_ARENA_MAX, 1) == 1 && mallopt(M_MXFAST, 0) == 1 && mallopt(M_PERTURB, 0) == 1,
          "inapplicable parameters refused");
    CHECK(mallopt(M_TRIM_THRESHOLD, -5) == 0, "a negative trim threshold accepted");
    printf("mallopt ok\n");
    return 0;
}
