/* Thread A allocates more blocks of one class than a remote list's packed length can count
 * (65,535) and hands them all to the main thread, which frees them while A waits; then A
 * allocates as many again (its cache takes the remote list) and frees them. The statistics must
 * stay sane: the harness reads "cached blocks" from the OXALLOC_STATS report and bounds it.
 * Contents are checked. `backlog N SIZE` for others. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

static int N = 100000, SIZE = 32;
static unsigned char **blocks;
static pthread_barrier_t bar;

static void *thread_a(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i], "malloc(%d)", SIZE);
        memset(blocks[i], (unsigned char)i, SIZE);
    }
    pthread_barrier_wait(&bar); /* main frees them all */
    pthread_barrier_wait(&bar);
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i], "malloc(%d)", SIZE);
        memset(blocks[i], (unsigned char)~i, SIZE);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(blocks[i][j] == (unsigned char)~i, "block %d changed", i);
        free(blocks[i]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 3) {
        N = atoi(argv[1]);
        SIZE = atoi(argv[2]);
    }
    blocks = calloc((size_t)N, sizeof *blocks);
    CHECK(blocks, "calloc");
    CHECK(pthread_barrier_init(&bar, NULL, 2) == 0, "barrier");
    pthread_t a;
    CHECK(pthread_create(&a, NULL, thread_a, NULL) == 0, "create");
    pthread_barrier_wait(&bar);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(blocks[i][j] == (unsigned char)i, "block %d changed", i);
        free(blocks[i]);
    }
    pthread_barrier_wait(&bar);
    CHECK(pthread_join(a, NULL) == 0, "join");
    free(blocks);
    printf("backlog ok\n");
    return 0;
}
