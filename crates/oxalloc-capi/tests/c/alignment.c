/* alignment: my* pointers are 8-aligned; malloc/calloc/realloc pointers for sizes that are
 * multiples of 16 are 16-aligned, also when 8-aligned blocks are mixed in; memalign family
 * honours larger alignments. */
#include "harness.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512

int main(void) {
    static void *live[SLOTS];
    static int kind[SLOTS]; /* 0 malloc family, 1 my family */
    uint64_t seed = 777;
    long checked16 = 0, checked8 = 0, other = 0, other_aligned = 0;
    for (int it = 0; it < 200000; it++) {
        int k = (int)(hrand(&seed) % SLOTS);
        if (live[k]) {
            if (kind[k])
                myfree(live[k]);
            else
                free(live[k]);
            live[k] = NULL;
        }
        unsigned op = (unsigned)(hrand(&seed) % 8);
        size_t n = (size_t)(hrand(&seed) % 600);
        void *p;
        switch (op) {
        case 0:
        case 1: /* mymalloc, any size */
            p = mymalloc(n);
            kind[k] = 1;
            CHECK(p && (uintptr_t)p % 8 == 0, "mymalloc(%zu) = %p is not 8-aligned", n, p);
            checked8++;
            break;
        case 2:
            p = mycalloc(1, n);
            kind[k] = 1;
            CHECK(p && (uintptr_t)p % 8 == 0, "mycalloc(1, %zu) = %p is not 8-aligned", n, p);
            checked8++;
            break;
        case 3:
            p = myrealloc(mymalloc(n / 2 + 1), n + 1);
            kind[k] = 1;
            CHECK(p && (uintptr_t)p % 8 == 0, "myrealloc(.., %zu) = %p is not 8-aligned", n + 1, p);
            checked8++;
            break;
        case 4: /* malloc, multiple of 16 */
            n &= ~(size_t)15;
            p = malloc(n);
            kind[k] = 0;
            CHECK(p && (uintptr_t)p % 16 == 0, "malloc(%zu) = %p is not 16-aligned", n, p);
            checked16++;
            break;
        case 5:
            n &= ~(size_t)15;
            p = calloc(n / 16 + 1, 16);
            kind[k] = 0;
            CHECK(p && (uintptr_t)p % 16 == 0, "calloc(%zu, 16) = %p is not 16-aligned", n / 16 + 1, p);
            checked16++;
            break;
        case 6:
            n &= ~(size_t)15;
            p = realloc(malloc(n / 3 + 1), n + 16);
            kind[k] = 0;
            CHECK(p && (uintptr_t)p % 16 == 0, "realloc(.., %zu) = %p is not 16-aligned", n + 16, p);
            checked16++;
            break;
        default: /* malloc of any size: only observed */
            p = malloc(n);
            kind[k] = 0;
            CHECK(p != NULL, "malloc(%zu) failed", n);
            other++;
            other_aligned += (uintptr_t)p % 16 == 0;
            break;
        }
        memset(p, 0x42, n);
        live[k] = p;
    }
    for (int k = 0; k < SLOTS; k++) {
        if (!live[k])
            continue;
        if (kind[k])
            myfree(live[k]);
        else
            free(live[k]);
    }
    /* Larger alignments through the memalign family. */
    for (size_t al = 32; al <= 8192; al *= 2) {
        void *a = aligned_alloc(al, 3 * al);
        CHECK(a && (uintptr_t)a % al == 0, "aligned_alloc(%zu) = %p", al, a);
        void *b = NULL;
        CHECK(posix_memalign(&b, al, 100) == 0 && (uintptr_t)b % al == 0, "posix_memalign(%zu) = %p", al, b);
        void *c = memalign(al, 1);
        CHECK(c && (uintptr_t)c % al == 0, "memalign(%zu) = %p", al, c);
        free(a);
        free(b);
        free(c);
    }
    hprintf("aligned8_checked=%ld aligned16_checked=%ld malloc_any_size_16_aligned=%ld/%ld\n", checked8,
            checked16, other_aligned, other);
    return 0;
}
