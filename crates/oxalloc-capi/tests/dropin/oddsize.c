/* Cached blocks whose size is 8 more than a multiple of 16: `myrealloc` (the classic face,
 * 8-byte granularity) shrinks a block `malloc` took from a thread cache, which keeps its owner;
 * `free` then caches it in the class below its size. Every size from 24 to 1016 bytes, in
 * rounds; each block carries a pattern checked before it is freed, and the heap checker must
 * pass after each round. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

enum { N = 2000, ROUNDS = 20 };

static void fill(unsigned char *p, size_t n, unsigned tag) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(tag + i);
}

static void verify(const unsigned char *p, size_t n, unsigned tag) {
    for (size_t i = 0; i < n; i++)
        CHECK(p[i] == (unsigned char)(tag + i), "block %p byte %zu overwritten", (void *)p, i);
}

int main(void) {
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "oxalloc_check");
    CHECK(check, "oxalloc_check not found (run with liboxalloc preloaded)");
    void *(*myrealloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "myrealloc");
    CHECK(myrealloc, "myrealloc not found");
    static unsigned char *p[N];
    static size_t len[N];
    unsigned odd = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            size_t n = 24 + (size_t)(i * 7 + r * 13) % 990;
            unsigned char *b = malloc(n);
            CHECK(b, "malloc(%zu)", n);
            /* Shrink through the classic face to a size whose block is 8 mod 16. */
            size_t m = n / 2 + 8;
            m += (m + 8) % 16 == 0 ? 8 : 0;
            unsigned char *c = myrealloc(b, m);
            CHECK(c, "myrealloc(%zu)", m);
            odd += (malloc_usable_size(c) + 8) % 16 == 8;
            fill(c, m, (unsigned)i);
            p[i] = c;
            len[i] = m;
        }
        for (int i = 0; i < N; i++) {
            verify(p[i], len[i], (unsigned)i);
            free(p[i]);
        }
        /* The freed blocks serve new requests of their classes. */
        for (int i = 0; i < N; i++) {
            size_t n = 8 + (size_t)(i * 11 + r) % 1000;
            p[i] = malloc(n);
            CHECK(p[i], "malloc(%zu)", n);
            fill(p[i], n, (unsigned)(i + 1));
            len[i] = n;
        }
        for (int i = 0; i < N; i++) {
            verify(p[i], len[i], (unsigned)(i + 1));
            free(p[i]);
        }
        CHECK(check() == 0, "heap check failed after round %d", r);
    }
    CHECK(odd > N, "only %u blocks of 8 mod 16 bytes were made", odd);
    printf("oddsize ok (%u odd blocks)\n", odd);
    return 0;
}
