/* calloc: memory is zeroed although the harness fills fresh break memory with 0xAB and freed
 * blocks hold garbage; nmemb * size overflowing gives NULL with ENOMEM. */
#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_zero(const void *p, size_t n, const char *what) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            hfail("%s: byte %zu of %zu is %#x, want 0", what, i, n, c[i]);
}

int main(void) {
    /* The harness really hands out garbage: fresh malloc memory is 0xAB. */
    unsigned char *m = malloc(4000);
    CHECK(m != NULL, "malloc(4000) failed");
    size_t ab = 0;
    for (size_t i = 0; i < 4000; i++)
        ab += m[i] == 0xAB;
    CHECK(ab > 3000, "fresh heap memory is not 0xAB-filled (%zu of 4000 bytes) - harness not in effect?", ab);
    free(m);

    /* Fresh memory from the break. */
    void *p = calloc(1000, 8);
    CHECK(p != NULL, "calloc(1000, 8) failed");
    check_zero(p, 8000, "calloc(1000, 8) on fresh memory");
    void *big = calloc(1, 3u << 20);
    CHECK(big != NULL, "calloc(1, 3 MiB) failed");
    check_zero(big, 3u << 20, "calloc(1, 3 MiB)");
    void *myp = mycalloc(333, 3);
    CHECK(myp != NULL, "mycalloc(333, 3) failed");
    check_zero(myp, 999, "mycalloc(333, 3)");

    /* Reused memory that held garbage. */
    uint64_t seed = 12345;
    void *live[64] = {0};
    for (int it = 0; it < 5000; it++) {
        int k = (int)(hrand(&seed) % 64);
        size_t n = (size_t)(hrand(&seed) % 700) + 1;
        if (live[k]) {
            free(live[k]);
            live[k] = NULL;
        }
        switch (hrand(&seed) % 3) {
        case 0:
            live[k] = malloc(n);
            CHECK(live[k] != NULL, "malloc failed");
            memset(live[k], 0xCD, n);
            break;
        case 1:
            live[k] = calloc(n, 1);
            CHECK(live[k] != NULL, "calloc failed");
            check_zero(live[k], n, "calloc of reused memory");
            memset(live[k], 0xCD, n);
            break;
        default:
            live[k] = mycalloc(1, n);
            CHECK(live[k] != NULL, "mycalloc failed");
            check_zero(live[k], n, "mycalloc of reused memory");
            memset(live[k], 0xEF, n);
            break;
        }
    }
    for (int k = 0; k < 64; k++)
        free(live[k]);
    /* A tail freed by a shrinking realloc, then calloc. */
    void *r = malloc(5000);
    memset(r, 0xCD, 5000);
    void *g = malloc(16);
    r = realloc(r, 100);
    void *c = calloc(4000, 1);
    CHECK(c != NULL, "calloc(4000, 1) failed");
    check_zero(c, 4000, "calloc after a shrinking realloc");

    /* Zero sizes. */
    void *z1 = calloc(0, 10), *z2 = calloc(10, 0), *z3 = calloc(0, 0);
    CHECK(z1 && z2 && z3 && z1 != z2 && z2 != z3 && z1 != z3, "calloc with a zero size");
    free(z1);
    free(z2);
    free(z3);

    /* Overflow. */
    errno = 0;
    void *o = calloc(SIZE_MAX / 2 + 2, 2);
    CHECK(o == NULL, "calloc(SIZE_MAX/2+2, 2) returned %p", o);
    CHECK(errno == ENOMEM, "calloc overflow set errno %d, want ENOMEM", errno);
    errno = 0;
    o = calloc(SIZE_MAX, SIZE_MAX);
    CHECK(o == NULL && errno == ENOMEM, "calloc(SIZE_MAX, SIZE_MAX): %p errno %d", o, errno);
    errno = 0;
    o = mycalloc((size_t)1 << 33, (size_t)1 << 33);
    CHECK(o == NULL && errno == ENOMEM, "mycalloc(2^33, 2^33): %p errno %d", o, errno);
    errno = 0;
    o = calloc(1, SIZE_MAX);
    CHECK(o == NULL && errno == ENOMEM, "calloc(1, SIZE_MAX): %p errno %d", o, errno);

    free(p);
    free(big);
    myfree(myp);
    free(r);
    free(g);
    free(c);
    hprintf("calloc=ok\n");
    return 0;
}
