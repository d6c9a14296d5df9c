/* calloc of a huge block (a mapping of its own) leaves its pages unallocated, as glibc does: the
 * mapping is fresh, so it reads as zero without being written. 256 MiB are asked for; resident
 * memory must grow by far less, and every page read must be zero — also after a huge block of
 * the same size was filled with 0xFF and freed (no dirty memory handed out as zeroed). */
#include <string.h>
#include "check.h"

int main(void) {
    const size_t n = (size_t)256 << 20;
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            unsigned char *dirty = malloc(n);
            CHECK(dirty, "malloc(256 MiB)");
            memset(dirty, 0xFF, n);
            free(dirty);
        }
        long before = resident_kib();
        unsigned char *p = calloc(1, n);
        CHECK(p, "calloc(1, 256 MiB)");
        long grown = resident_kib() - before;
        CHECK(grown < 16 * 1024, "round %d: calloc made %ld KiB resident", round, grown);
        for (size_t i = 0; i < n; i += 4096)
            CHECK(p[i] == 0 && p[i + 4095] == 0, "round %d: byte at %zu not zero", round, i);
        free(p);
    }
    printf("callochuge ok\n");
    return 0;
}
