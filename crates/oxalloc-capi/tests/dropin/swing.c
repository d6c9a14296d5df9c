/* A thread keeps 2,000 blocks of two medium sizes (6 and 12 KiB) and replaces a random one
 * 200,000 times with a block of a random one of the two sizes: each size's count in the thread's
 * cache walks up and down at random. With fixed bin limits of one or two blocks, nearly every
 * replacement took a trip under the heap's lock; adaptive limits grow for bins that swing between
 * empty and full. The test harness reads "lock taken" from the OXALLOC_STATS report and bounds
 * it. Contents are checked (a tag word at both ends of every block). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

enum { SLOTS = 2000, ROUNDS = 200000 };
static const size_t SIZES[2] = {6000, 12000};

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void put(uint64_t *p, size_t size, uint64_t tag) {
    p[0] = tag;
    p[size / 8 - 1] = ~tag;
}

static void *churn(void *arg) {
    (void)arg;
    static uint64_t *slot[SLOTS];
    static size_t size[SLOTS];
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < SLOTS; i++) {
        size[i] = SIZES[next(&s) & 1];
        slot[i] = malloc(size[i]);
        CHECK(slot[i], "malloc(%zu)", size[i]);
        put(slot[i], size[i], (uint64_t)i << 32);
    }
    for (uint64_t r = 0; r < ROUNDS; r++) {
        uint64_t x = next(&s);
        int i = (int)(x % SLOTS);
        uint64_t *p = slot[i];
        CHECK(p[0] >> 32 == (uint64_t)i, "slot %d: block changed", i);
        CHECK(p[size[i] / 8 - 1] == ~p[0], "slot %d: block's end changed", i);
        free(p);
        size[i] = SIZES[(x >> 40) & 1];
        slot[i] = malloc(size[i]);
        CHECK(slot[i], "malloc(%zu)", size[i]);
        put(slot[i], size[i], (uint64_t)i << 32 | (r & 0xFFFFFFFF));
    }
    for (int i = 0; i < SLOTS; i++)
        free(slot[i]);
    return NULL;
}

int main(void) {
    /* Medium blocks are cached once the process has threads: the work runs in one. */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn, NULL) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("swing ok\n");
    return 0;
}
