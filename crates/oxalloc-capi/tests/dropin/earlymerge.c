/* A single-threaded program whose freed blocks lie side by side: after its first merges have
 * shown that merging joins them with free neighbours, a class's cache keeps only a few groups
 * of freed blocks and merges the older ones into the heap at once (warm memory for every other
 * size). Phase 1 allocates and frees N blocks of 64 bytes, then allocates N of 200 (the heap
 * merges the 64-byte groups before it grows: the merges join); phase 2 allocates and frees N
 * blocks of 96 bytes. The test harness reads the statistics (OXALLOC_STATS): the 96-byte blocks
 * must not stay cached (N of them would, as deferred groups, without the early merge).
 * `earlymerge scattered`: phase 1 then frees every other 64-byte block before the 200-byte ones
 * come, so the merges join nothing and the 96-byte groups must stay cached (a program freeing
 * blocks between live ones pays less to take its groups back than to merge and carve them).
 * Every block's contents are checked. */
#include <string.h>
#include "check.h"

static int N = 20000;

static unsigned char **fill(int size, int tag) {
    unsigned char **v = calloc((size_t)N, sizeof *v);
    CHECK(v, "calloc");
    for (int i = 0; i < N; i++) {
        v[i] = malloc((size_t)size);
        CHECK(v[i], "malloc(%d)", size);
        memset(v[i], (unsigned char)(i * 7 + tag), (size_t)size);
    }
    return v;
}

static void check(unsigned char **v, int size, int tag) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < size; j++)
            CHECK(v[i][j] == (unsigned char)(i * 7 + tag), "block %d of %d bytes changed", i, size);
}

static void drain(unsigned char **v, int size, int tag) {
    check(v, size, tag);
    for (int i = 0; i < N; i++) free(v[i]);
    free(v);
}

int main(int argc, char **argv) {
    int scattered = argc == 2 && strcmp(argv[1], "scattered") == 0;
    unsigned char **first = fill(64, 1);
    check(first, 64, 1);
    for (int i = 0; i < N; i++)
        if (!scattered || i % 2) free(first[i]);
    unsigned char **keep = fill(200, 2);
    drain(fill(96, 3), 96, 3);
    check(keep, 200, 2);
    if (scattered)
        for (int i = 0; i < N; i += 2) CHECK(first[i][5] == (unsigned char)(i * 7 + 1), "block %d", i);
    printf("earlymerge ok\n");
    return 0;
}
