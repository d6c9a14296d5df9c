/* Blocks one thread gave back, taken by another: thread A allocates and frees N blocks of one
 * size class (its cache gives them back in groups) and stays alive; thread B then allocates N
 * blocks of that class, which come from A's groups, writes them, checks them and frees them.
 * Those blocks must have become B's: B's frees stay in B's cache instead of going onto A's
 * remote list, so A, allocating N blocks again, finds nothing sent to it by B. The test harness
 * reads the statistics (OXALLOC_STATS): groups moved, and no remote frees. Contents of live
 * blocks are checked throughout. `moved N SIZE` for others. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

static int N = 20000, SIZE = 80;
static unsigned char **blocks[2];
static pthread_barrier_t bar;

static void fill(int me) {
    for (int i = 0; i < N; i++) {
        blocks[me][i] = malloc(SIZE);
        CHECK(blocks[me][i], "malloc(%d)", SIZE);
        memset(blocks[me][i], (unsigned char)(3 * i + me), SIZE);
    }
}

static void drain(int me) {
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(blocks[me][i][j] == (unsigned char)(3 * i + me), "thread %d block %d changed", me,
                  i);
        free(blocks[me][i]);
    }
}

static void *worker(void *arg) {
    int me = (int)(intptr_t)arg;
    if (me == 0) {
        fill(0);
        drain(0);
    }
    pthread_barrier_wait(&bar);
    if (me == 1) {
        fill(1);
        drain(1);
    }
    pthread_barrier_wait(&bar);
    if (me == 0) {
        fill(0);
        drain(0);
    }
    pthread_barrier_wait(&bar);
    return NULL;
}

int main(int argc, char **argv) {
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
    printf("moved ok\n");
    return 0;
}
