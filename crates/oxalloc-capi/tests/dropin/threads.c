/* Threads with cross-thread frees and thread exit with live objects; contents checked. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

#define THREADS 6
#define SLOTS 4096
static _Atomic(unsigned char *) slots[SLOTS];
static long ops_per_thread = 400000;

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Each object: [size (8 bytes)][tag byte repeated]. */
static unsigned char *make(size_t n, unsigned char tag) {
    unsigned char *p = malloc(n);
    CHECK(p, "malloc(%zu)", n);
    memcpy(p, &n, sizeof n);
    memset(p + 8, tag, n - 8);
    return p;
}

static void verify(unsigned char *p) {
    size_t n;
    memcpy(&n, p, sizeof n);
    CHECK(n >= 8 && n < (1 << 20), "size word corrupted: %zu", n);
    unsigned char tag = p[8 % n == 0 ? 0 : 8];
    for (size_t i = 8; i < n; i++) CHECK(p[i] == tag, "object %p byte %zu changed", (void *)p, i);
}

static void *worker(void *arg) {
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
    for (long i = 0; i < ops_per_thread; i++) {
        uint64_t r = rnd(&s);
        size_t k = r % SLOTS;
        size_t n = 9 + (r >> 20) % (r % 16 == 0 ? 5000 : 200);
        unsigned char *mine = make(n, (unsigned char)(r >> 40));
        unsigned char *old = __atomic_exchange_n(&slots[k], mine, __ATOMIC_ACQ_REL);
        if (old) {
            verify(old);
            if (r % 7 == 0) {
                /* realloc an object another thread made */
                size_t on;
                memcpy(&on, old, sizeof on);
                unsigned char tag = old[8];
                size_t nn = 9 + (r >> 30) % 3000;
                unsigned char *q = realloc(old, nn);
                CHECK(q, "realloc");
                for (size_t j = 8; j < (on < nn ? on : nn); j++) CHECK(q[j] == tag, "realloc lost data");
                free(q);
            } else {
                free(old); /* usually a cross-thread free */
            }
        }
    }
    return NULL;
}

/* A thread that leaves live objects behind and exits. */
static void *leaver(void *arg) {
    (void)arg;
    for (int k = 0; k < SLOTS; k += 3) {
        unsigned char *mine = make(64, 0x77);
        unsigned char *old = __atomic_exchange_n(&slots[k], mine, __ATOMIC_ACQ_REL);
        if (old) {
            verify(old);
            free(old);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) ops_per_thread = atol(argv[1]);
    for (int round = 0; round < 3; round++) {
        pthread_t t[THREADS + 1];
        CHECK(pthread_create(&t[THREADS], NULL, leaver, NULL) == 0, "create");
        pthread_join(t[THREADS], NULL); /* its objects outlive it */
        for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1 + round * 10)) == 0, "create");
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    }
    for (int k = 0; k < SLOTS; k++)
        if (slots[k]) {
            verify(slots[k]);
            free(slots[k]);
        }
    printf("threads ok\n");
    return 0;
}
