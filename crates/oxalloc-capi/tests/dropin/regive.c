/* Blocks that a thread's cache gives back unmerged (a full bin's older half) are merged into the
 * heap before it grows: after a thread frees 750 KiB of small blocks, a 512 KiB request must be
 * served by that memory, not by growing the heap. Also checks that the blocks the cache gave
 * back are handed out again (contents of live blocks intact throughout). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

/* Defaults: 12,000 blocks of 48 bytes, then 512 KiB; `regive N SIZE BIG` for others (enough
 * blocks of one class fill its ring of deferred groups, and the rest go to its overflow
 * stack). */
#include <stdlib.h>
static int N = 12000, SIZE = 48;
static size_t BIG = 512 << 10;
static unsigned char **blocks;

static void *churn(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i], "malloc(%d)", SIZE);
        memset(blocks[i], (unsigned char)i, SIZE);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SIZE; j++)
            CHECK(blocks[i][j] == (unsigned char)i, "block %d changed", i);
        free(blocks[i]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 4) {
        N = atoi(argv[1]);
        SIZE = atoi(argv[2]);
        BIG = (size_t)atol(argv[3]);
    }
    blocks = calloc((size_t)N, sizeof *blocks);
    CHECK(blocks, "calloc");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn, NULL) == 0, "create");
    pthread_join(t, NULL);
    size_t before = mallinfo2().arena;
    CHECK(before >= (size_t)N * SIZE, "the heap holds %zu bytes, less than was allocated", before);
    unsigned char *big = malloc(BIG);
    CHECK(big, "malloc(%zu)", BIG);
    memset(big, 1, BIG);
    size_t after = mallinfo2().arena;
    printf("heap before %zu, after the %zu-byte request %zu\n", before, BIG, after);
    CHECK(after <= before, "the heap grew (%zu -> %zu) while freed blocks could serve", before, after);
    free(big);
    /* The same small size again, from this thread: served without growing either. */
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        CHECK(blocks[i], "malloc(%d)", SIZE);
    }
    size_t again = mallinfo2().arena;
    CHECK(again <= before + (64 << 10), "the heap grew to %zu for blocks it had (%zu)", again, before);
    for (int i = 0; i < N; i++) free(blocks[i]);
    free(blocks);
    printf("regive ok\n");
    return 0;
}
