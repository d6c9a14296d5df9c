/* Thread A allocates blocks and exits; thread B, started while A was alive, frees them all after
 * A is gone, then allocates as many again. B adopts the dead thread's blocks in batches (one trip
 * under the heap's lock per batch, not one per block): the test harness reads "lock taken" from
 * the OXALLOC_STATS report and bounds it. Contents are checked; the heap must not grow for B's
 * allocations (the inherited blocks serve them; 64 KiB of slack). `inherit N SIZE` for others. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

static int N = 20000, SIZE = 64;
static unsigned char **blocks;
static pthread_t a;

static void *thread_a(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i], "malloc(%d)", SIZE);
        memset(blocks[i], (unsigned char)i, SIZE);
    }
    return NULL;
}

static void *thread_b(void *arg) {
    (void)arg;
    CHECK(pthread_join(a, NULL) == 0, "join A");
    size_t before = mallinfo2().arena;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(blocks[i][j] == (unsigned char)i, "block %d changed", i);
        free(blocks[i]);
    }
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i], "malloc(%d)", SIZE);
        memset(blocks[i], (unsigned char)~i, SIZE);
    }
    size_t after = mallinfo2().arena;
    CHECK(after <= before + (64 << 10), "the heap grew (%zu -> %zu) while inherited blocks could serve",
          before, after);
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
    pthread_t b;
    CHECK(pthread_create(&a, NULL, thread_a, NULL) == 0, "create A");
    CHECK(pthread_create(&b, NULL, thread_b, NULL) == 0, "create B");
    CHECK(pthread_join(b, NULL) == 0, "join B");
    free(blocks);
    printf("inherit ok\n");
    return 0;
}
