/* realloc of a huge block (a mapping of its own) resizes the mapping instead of copying it, as
 * glibc does with mremap: a 100 MiB block of which one page was written grows to 420 MiB in 20
 * steps, and resident memory must stay far below what copying would touch. Contents survive
 * every step and the shrink after; other huge blocks in the allocator's list stay valid (the
 * heap checker passes, they are freed after the moved one). */
#include <dlfcn.h>
#include <string.h>
#include "check.h"

int main(void) {
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "oxalloc_check");
    CHECK(check, "oxalloc_check not found (run with liboxalloc preloaded)");
    size_t n = (size_t)100 << 20;
    unsigned char *before = malloc((size_t)80 << 20), *p = malloc(n), *after = malloc((size_t)90 << 20);
    CHECK(before && p && after, "malloc of three huge blocks");
    before[0] = 7;
    after[0] = 9;
    for (int i = 0; i < 4096; i++) p[i] = (unsigned char)i;
    long base = resident_kib() / 1024;
    for (int step = 0; step < 20; step++) {
        p[n - 1] = (unsigned char)step;
        n += (size_t)16 << 20;
        p = realloc(p, n);
        CHECK(p, "realloc to %zu", n);
        CHECK(p[n - ((size_t)16 << 20) - 1] == (unsigned char)step, "step %d: last byte lost", step);
        for (int i = 0; i < 4096; i++) CHECK(p[i] == (unsigned char)i, "step %d: byte %d lost", step, i);
    }
    long grown = resident_kib() / 1024 - base;
    CHECK(grown < 64, "growing by 320 MiB made %ld MiB resident (copying)", grown);
    p = realloc(p, (size_t)70 << 20);
    CHECK(p, "shrink");
    for (int i = 0; i < 4096; i++) CHECK(p[i] == (unsigned char)i, "shrink: byte %d lost", i);
    CHECK(check() == 0, "heap check failed");
    CHECK(before[0] == 7 && after[0] == 9, "another huge block changed");
    free(p);
    free(after);
    free(before);
    CHECK(check() == 0, "heap check failed after the frees");
    printf("hugerealloc ok\n");
    return 0;
}
