/* lifo: a freed block is the first one reused by a request of the same size (LIFO), for small
 * and large sizes, through malloc and mymalloc. Guards keep freed blocks off the top chunk. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static const size_t sizes[] = {1, 8, 24, 32, 100, 200, 500, 1000, 1016, 2000, 5000, 9000};

/* A guard allocated right after a block of `s` bytes must be its neighbour in the heap: the
 * classic names take blocks straight from the heap; malloc's sizes above 1016 bytes do too
 * (smaller ones may come from the thread's cache, carved elsewhere, where LIFO order holds
 * without guards). */
static void *guard(int my, size_t s) {
    if (my)
        return mymalloc(16);
    return malloc(s > 1016 ? 1100 : 16);
}

int main(void) {
    for (int my = 0; my < 2; my++) {
        void *(*al)(size_t) = my ? mymalloc : malloc;
        void (*fr)(void *) = my ? myfree : free;
        const char *name = my ? "mymalloc" : "malloc";
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t s = sizes[k];
            void *p = al(s);
            void *g = guard(my, s);
            CHECK(p && g, "%s(%zu) failed", name, s);
            fr(p);
            void *q = al(s);
            CHECK(q == p, "%s(%zu): free(p) then %s(%zu) gave %p, want p=%p", name, s, name, s, q, p);

            /* Two freed blocks of one size come back in reverse order. */
            void *a = al(s), *ga = guard(my, s), *b = al(s), *gb = guard(my, s);
            CHECK(a && ga && b && gb, "%s(%zu) failed", name, s);
            fr(a);
            fr(b);
            void *x = al(s), *y = al(s);
            CHECK(x == b && y == a, "%s(%zu): freed a=%p then b=%p, got %p then %p (want b then a)",
                  name, s, a, b, x, y);
            /* keep q, g, ga, gb, x, y live: they guard later iterations */
            (void)g;
            (void)ga;
            (void)gb;
            (void)q;
        }
        hprintf("lifo_%s=ok\n", name);
    }
    return 0;
}
