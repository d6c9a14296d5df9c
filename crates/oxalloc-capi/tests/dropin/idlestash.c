/* The groups a thread's bins give back wait in its cache's stash (a stack of groups, in a
 * process with threads) without the heap's lock. Like the heap's deferred groups, they are
 * merged into the heap when no refill took any for about five seconds of heap activity, so that
 * their pages can go back. A thread (the process then has threads) frees 2,000 blocks of 4,000
 * bytes, which stack up in its stash, then only uses the heap through the classic names for
 * nine seconds (small blocks: no free pages to give back, so nothing else makes the heap look
 * at its idle groups). The harness reads "cached blocks" from the statistics: the stash's blocks
 * count there until they are merged. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "check.h"


enum { N = 2000, SIZE = 4000 };

static void *no_op(void *arg) { return arg; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, no_op, NULL) == 0 && pthread_join(t, NULL) == 0, "thread");
    static unsigned char *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = malloc(SIZE);
        CHECK(b[i], "malloc(%d)", SIZE);
        memset(b[i], i, SIZE);
    }
    for (int i = 0; i < N; i++)
        free(b[i]);
    void *(*mymalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "mymalloc");
    void (*myfree)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "myfree");
    CHECK(mymalloc && myfree, "the classic names (preloaded)");
    double start = now();
    long ops = 0;
    while (now() - start < 9.0) {
        for (int i = 0; i < 1000; i++) {
            void *p = mymalloc(64);
            CHECK(p, "mymalloc(64)");
            myfree(p);
        }
        ops += 1000;
    }
    printf("%ld classic pairs\n", ops);
    printf("idlestash ok\n");
    return 0;
}
