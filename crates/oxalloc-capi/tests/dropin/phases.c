/* A thread allocates 50,000 blocks of 48 bytes, checks and frees them all, five times: phases
 * of pure allocation and pure freeing. A bin refilled twice in a row takes two deferred groups
 * in one trip under the heap's lock, and a bin that gives back twice in a row gives back two;
 * with threads, the groups stack up in the thread's stash without the lock. The test harness
 * reads "lock taken" from the OXALLOC_STATS report and bounds it (one trip per group each way
 * took about 7,800), and checks that each round reuses the last one's blocks. Contents are
 * checked. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

enum { N = 50000, SIZE = 48, ROUNDS = 5 };

static void *work(void *arg) {
    (void)arg;
    static unsigned char *b[N];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            b[i] = malloc(SIZE);
            CHECK(b[i], "malloc(%d)", SIZE);
            memset(b[i], (unsigned char)(i + r), SIZE);
        }
        for (int i = 0; i < N; i++) {
            CHECK(b[i][0] == (unsigned char)(i + r) && b[i][SIZE - 1] == (unsigned char)(i + r),
                  "round %d: block %d changed", r, i);
            free(b[i]);
        }
    }
    return NULL;
}

int main(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, work, NULL) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("phases ok\n");
    return 0;
}
