/* The groups a thread's bins give back wait in its cache's stash (a stack of groups, in a
 * process with threads) without the heap's lock. Like the heap's deferred groups, they are
 * merged into the heap when no refill took any for about five seconds of heap activity, so that
 * their pages can go back. A thread (the process then has threads) frees 2,000 blocks of 4,000
 * bytes, which stack up in its stash, then only uses the heap through the classic names (small
 * blocks: no free pages to give back, so nothing else makes the heap look at its idle groups)
 * until `mallinfo2` shows the 8 MB back in the heap, or for 60 seconds. The harness also reads
 * "cached blocks" from the statistics: the stash's blocks count there until they are merged.
 *
 * With the argument `busy`, a second thread stashes the 2,000 blocks and waits, while the main
 * thread also swings 4,000 blocks of 48 bytes through its own stash: a stash taken back keeps its
 * own cache's groups, not every cache's (before, one busy thread kept all stashes forever). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "check.h"


enum { N = 2000, SIZE = 4000 };

static void *no_op(void *arg) { return arg; }

static void stash_blocks(void) {
    static unsigned char *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = malloc(SIZE);
        CHECK(b[i], "malloc(%d)", SIZE);
        memset(b[i], i, SIZE);
    }
    for (int i = 0; i < N; i++)
        free(b[i]);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the holder stashed its blocks; 2: it may exit */

/* Allocates 4,000 blocks of 48 bytes and frees them. */
static void swing(void) {
    static void *s[4000];
    for (int i = 0; i < 4000; i++) {
        s[i] = malloc(48);
        CHECK(s[i], "malloc(48)");
    }
    for (int i = 0; i < 4000; i++)
        free(s[i]);
}

/* Stashes the blocks and stays alive (an exiting thread's cache gives its stash back). */
static void *holder(void *arg) {
    stash_blocks();
    pthread_mutex_lock(&mu);
    stage = 1;
    pthread_cond_broadcast(&cv);
    while (stage != 2)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return arg;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int busy = argc > 1 && strcmp(argv[1], "busy") == 0;
    void *(*mymalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "mymalloc");
    void (*myfree)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "myfree");
    CHECK(mymalloc && myfree, "the classic names (preloaded)");
    pthread_t t;
    if (busy) {
        /* The swing's blocks and room for the classic pairs first, below the stashed blocks: a
         * growth of the heap merges every stash. */
        swing();
        swing();
        void *room = mymalloc(1 << 20);
        CHECK(room, "mymalloc(1 MiB)");
        CHECK(pthread_create(&t, NULL, holder, NULL) == 0, "thread");
        pthread_mutex_lock(&mu);
        while (stage != 1)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        myfree(room);
    } else {
        CHECK(pthread_create(&t, NULL, no_op, NULL) == 0 && pthread_join(t, NULL) == 0, "thread");
        stash_blocks();
    }
    /* The freed blocks count as in use (in the cache) until they are merged. */
    size_t before = mallinfo2().uordblks;
    CHECK(before >= (size_t)N * SIZE, "%zu bytes in use with %d blocks of %d stashed", before, N,
          SIZE);
    double start = now();
    long ops = 0;
    while (mallinfo2().uordblks > before - (size_t)N * SIZE / 2) {
        CHECK(now() - start < 60.0, "the stash is not merged after 60 s (%zu bytes in use)",
              mallinfo2().uordblks);
        for (int i = 0; i < 1000; i++) {
            void *p = mymalloc(64);
            CHECK(p, "mymalloc(64)");
            myfree(p);
        }
        ops += 1000;
        if (busy)
            swing();
    }
    if (busy) {
        pthread_mutex_lock(&mu);
        stage = 2;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        CHECK(pthread_join(t, NULL) == 0, "join");
    }
    printf("merged after %.1f s and %ld classic pairs\n", now() - start, ops);
    printf("idlestash ok\n");
    return 0;
}
