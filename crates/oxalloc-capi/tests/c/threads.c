/* threads: 4 threads, each 200k random malloc/free/realloc/calloc with contents checked. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define OPS 200000
#define SLOTS 256

struct slot {
    unsigned char *p;
    size_t n;
    unsigned char tag;
};

static size_t pick_size(uint64_t *s) {
    uint64_t r = hrand(s);
    switch (r % 16) {
    case 0:
        return (size_t)(r >> 8) % 65536 + 1;
    case 1:
    case 2:
        return (size_t)(r >> 8) % 4096 + 1;
    default:
        return (size_t)(r >> 8) % 256;
    }
}

static void check(const struct slot *sl, size_t n, int t, int k) {
    for (size_t i = 0; i < n; i++)
        if (sl->p[i] != (unsigned char)(sl->tag + i))
            hfail("thread %d slot %d: byte %zu of %zu changed", t, k, i, sl->n);
}

static void set(struct slot *sl, unsigned char tag) {
    sl->tag = tag;
    for (size_t i = 0; i < sl->n; i++)
        sl->p[i] = (unsigned char)(tag + i);
}

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    uint64_t seed = 0x1234567ULL * (uint64_t)(t + 1);
    static __thread struct slot slots[SLOTS];
    memset(slots, 0, sizeof slots);
    for (int op = 0; op < OPS; op++) {
        int k = (int)(hrand(&seed) % SLOTS);
        struct slot *sl = &slots[k];
        unsigned char tag = (unsigned char)(t * 64 + op);
        if (!sl->p) {
            size_t n = pick_size(&seed);
            int how = (int)(hrand(&seed) % 4);
            if (how == 0) {
                sl->p = calloc(n, 1);
                CHECK(sl->p != NULL, "calloc failed");
                for (size_t i = 0; i < n; i++)
                    CHECK(sl->p[i] == 0, "thread %d: calloc(%zu) byte %zu not zero", t, n, i);
            } else if (how == 1) {
                sl->p = mymalloc(n);
            } else {
                sl->p = malloc(n);
            }
            CHECK(sl->p != NULL, "thread %d: allocation of %zu failed", t, n);
            sl->n = n;
            set(sl, tag);
        } else if (hrand(&seed) % 2) {
            check(sl, sl->n, t, k);
            free(sl->p);
            sl->p = NULL;
        } else {
            size_t n = pick_size(&seed);
            if (n == 0)
                n = 1;
            unsigned char *q = realloc(sl->p, n);
            CHECK(q != NULL, "thread %d: realloc to %zu failed", t, n);
            sl->p = q;
            check(sl, sl->n < n ? sl->n : n, t, k);
            sl->n = n;
            set(sl, tag);
        }
    }
    for (int k = 0; k < SLOTS; k++) {
        if (slots[k].p) {
            check(&slots[k], slots[k].n, t, k);
            free(slots[k].p);
        }
    }
    return NULL;
}

int main(void) {
    harness_set_cap((size_t)1 << 40);
    pthread_t th[THREADS];
    double t0 = hnow();
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0, "pthread_create failed");
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0, "pthread_join failed");
    double t1 = hnow();
    hprintf("threads=%d ops_per_thread=%d time_s=%.3f heap_now=%zu grow_calls=%lu shrink_calls=%lu\n", THREADS,
            OPS, t1 - t0, (size_t)(harness_break() - harness_heap_start()), harness_grow_calls(),
            harness_shrink_calls());
    return 0;
}
