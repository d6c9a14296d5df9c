/* A thread that exits leaves its cached blocks as groups of its cache, and the next thread,
 * which adopts the cache, takes them back whole: thread A fills and frees blocks of eight sizes
 * (they stay in its bins) and exits; thread B, started after, allocates the same sizes and gets
 * A's blocks. The test harness reads the statistics (OXALLOC_STATS): a group taken back per
 * size, none moved to another cache. Contents are checked throughout. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

#define SIZES 8
#define PER 40
static const size_t size[SIZES] = {32, 48, 64, 96, 128, 256, 512, 1000};
static unsigned char *a_blocks[SIZES][PER];

static void *thread_a(void *arg) {
    (void)arg;
    for (int s = 0; s < SIZES; s++)
        for (int i = 0; i < PER; i++) {
            a_blocks[s][i] = malloc(size[s]);
            CHECK(a_blocks[s][i], "malloc(%zu)", size[s]);
            memset(a_blocks[s][i], s + i, size[s]);
        }
    for (int s = 0; s < SIZES; s++)
        for (int i = 0; i < PER; i++) {
            for (size_t j = 0; j < size[s]; j++)
                CHECK(a_blocks[s][i][j] == (unsigned char)(s + i), "block changed");
            free(a_blocks[s][i]);
        }
    return NULL;
}

static void *thread_b(void *arg) {
    int *found = arg;
    unsigned char *mine[SIZES][PER];
    for (int s = 0; s < SIZES; s++)
        for (int i = 0; i < PER; i++) {
            mine[s][i] = malloc(size[s]);
            CHECK(mine[s][i], "malloc(%zu)", size[s]);
            memset(mine[s][i], 0x5a, size[s]);
            for (int j = 0; j < PER; j++)
                if (mine[s][i] == a_blocks[s][j]) {
                    ++*found;
                    break;
                }
        }
    for (int s = 0; s < SIZES; s++)
        for (int i = 0; i < PER; i++) {
            for (size_t j = 0; j < size[s]; j++)
                CHECK(mine[s][i][j] == 0x5a, "block changed");
            free(mine[s][i]);
        }
    return NULL;
}

int main(void) {
    pthread_t t;
    int found = 0;
    CHECK(pthread_create(&t, NULL, thread_a, NULL) == 0, "thread A");
    CHECK(pthread_join(t, NULL) == 0, "join A");
    CHECK(pthread_create(&t, NULL, thread_b, &found) == 0, "thread B");
    CHECK(pthread_join(t, NULL) == 0, "join B");
    CHECK(found >= SIZES * PER * 9 / 10, "only %d of thread B's %d blocks were thread A's", found,
          SIZES * PER);
    puts("retire ok");
    return 0;
}
