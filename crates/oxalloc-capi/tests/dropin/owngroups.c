/* Two threads give back blocks of one size class in turn, then allocate them again in turn: each
 * thread must get back the groups its own cache gave (their blocks already name it), not the
 * other thread's, even when the other thread's groups are newer and have pushed its own out of
 * the class's ring. Contents of live blocks are checked throughout; the test harness reads the
 * "groups moved" statistic (OXALLOC_STATS) and expects none. `owngroups N SIZE` for others.
 *
 * `owngroups moved`: thread 0 allocates and frees N blocks (its cache gives them back in groups)
 * and stays alive; thread 1 then allocates N blocks, which come from thread 0's groups, and frees
 * them; then thread 0 allocates and frees N again. Those blocks must have become thread 1's: its
 * frees stay in its cache instead of going onto thread 0's remote list, so the harness expects
 * groups moved and no remote frees. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

static int N = 40000, SIZE = 48;
static unsigned char **blocks[2];
static pthread_barrier_t bar;

static void fill(int me) {
    for (int i = 0; i < N; i++) {
        blocks[me][i] = malloc(SIZE);
        CHECK(blocks[me][i], "malloc(%d)", SIZE);
        memset(blocks[me][i], (unsigned char)(i + me), SIZE);
    }
}

static void drain(int me) {
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(blocks[me][i][j] == (unsigned char)(i + me), "thread %d block %d changed", me, i);
        free(blocks[me][i]);
    }
}

static int moved;

static void *worker(void *arg) {
    int me = (int)(intptr_t)arg;
    if (moved) {
        for (int turn = 0; turn < 3; turn++) {
            if (turn % 2 == me) {
                fill(me);
                drain(me);
            }
            pthread_barrier_wait(&bar);
        }
        return NULL;
    }
    fill(me);
    pthread_barrier_wait(&bar);
    /* Thread 0 gives its blocks back first, thread 1 after it (its groups are the newest). */
    for (int turn = 0; turn < 2; turn++) {
        if (turn == me) drain(me);
        pthread_barrier_wait(&bar);
    }
    /* Thread 0 allocates first: its own groups are now the oldest. */
    for (int turn = 0; turn < 2; turn++) {
        if (turn == me) fill(me);
        pthread_barrier_wait(&bar);
    }
    drain(me);
    return NULL;
}

int main(int argc, char **argv) {
    moved = argc == 2 && strcmp(argv[1], "moved") == 0;
    if (moved) {
        N = 20000;
        SIZE = 80;
    }
    if (argc == 3) {
        N = atoi(argv[1]);
        SIZE = atoi(argv[2]);
    }
    for (int t = 0; t < 2; t++) {
        blocks[t] = calloc((size_t)N, sizeof *blocks[t]);
        CHECK(blocks[t], "calloc");
    }
    CHECK(pthread_barrier_init(&bar, NULL, 2) == 0, "barrier");
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) == 0, "create");
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    printf("owngroups ok\n");
    return 0;
}
