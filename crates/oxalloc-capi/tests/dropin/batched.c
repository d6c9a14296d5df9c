/* A thread that frees another thread's blocks keeps them in a small batch per owner and size
 * before it pushes them onto the owner's remote list; a thread that exits pushes what it kept.
 * The main thread allocates 20 blocks of one size; thread B frees them all (fewer than a batch)
 * and exits; the main thread then allocates 40 blocks of that size and must get all 20 back
 * (what its bin held first, then its remote list). Lost at B's exit, none would come back.
 * A second round does the same with 100 blocks (three full batches and a part).
 * With the argument `consumer`, B never allocates: its first free makes its cache, so its frees
 * are batched as well (the statistics then count two caches made). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

#define SIZE 100
static unsigned char *old[100];
static int count;
static int consumer;

static void *free_them(void *arg) {
    (void)arg;
    if (!consumer) {
        /* A thread with a cache of its own before it frees another's block. */
        void *own = malloc(24);
        CHECK(own, "malloc(24)");
        free(own);
    }
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(old[i][j] == (unsigned char)i, "block %d changed", i);
        free(old[i]);
    }
    return NULL;
}

static void round_of(int n) {
    count = n;
    for (int i = 0; i < n; i++) {
        old[i] = malloc(SIZE);
        CHECK(old[i], "malloc(%d)", SIZE);
        memset(old[i], i, SIZE);
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_them, NULL) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    unsigned char *mine[300];
    int back = 0;
    for (int i = 0; i < 2 * n + 40; i++) {
        mine[i] = malloc(SIZE);
        CHECK(mine[i], "malloc(%d)", SIZE);
        memset(mine[i], 0xA5, SIZE);
        for (int j = 0; j < n; j++)
            if (mine[i] == old[j])
                back++;
    }
    CHECK(back == n, "%d of the %d blocks freed by the exited thread came back", back, n);
    for (int i = 0; i < 2 * n + 40; i++)
        free(mine[i]);
}

int main(int argc, char **argv) {
    consumer = argc > 1 && strcmp(argv[1], "consumer") == 0;
    round_of(20);
    round_of(100);
    printf("batched ok\n");
    return 0;
}
