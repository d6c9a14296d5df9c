/* A thread's bin that swings between full and empty gives a group back and soon takes one: the
 * group waits in the cache's stash, taken back without the heap's lock. A thread (so that medium
 * blocks are cached) allocates three blocks of 16,000 bytes and frees them, 10,000 times: the
 * class's bin holds one block and its spare one more, and the small heap leaves no budget to
 * raise the limit, so each round gives a group back when the third block is freed and needs one
 * when the third is allocated. Through the heap's deferred groups that was two trips under the
 * lock a round (about 20,000); through the stash, none. The test harness reads "lock taken"
 * from the OXALLOC_STATS report and bounds it. Every block's contents are checked, and a second
 * thread then takes the stashed group (it allocates the same size while the first waits).
 *
 * With the argument `stack`, each round allocates 40 blocks and frees them all, 2,000 times: the
 * bin fills and gives back group after group, and takes them back in the next round. In a
 * process with threads the stash stacks them (a single-threaded one defers them to the heap's
 * ring): about 80,000 trips under the lock before, none now. The second thread then takes the
 * whole stack (the newest group, the rest through the deferred groups): every block it gets
 * but those the first thread's bin keeps must be one the first thread freed. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

enum { MAX_N = 40, SIZE = 16000 };
static int ROUNDS = 10000, N = 3;
static unsigned char *last[MAX_N]; /* the swinger's blocks of its last round */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase;

static void fill(unsigned char *p, int tag) {
    memset(p, tag, SIZE);
}

static void verify(const unsigned char *p, int tag) {
    for (int j = 0; j < SIZE; j += 61)
        CHECK(p[j] == (unsigned char)tag, "block changed at %d", j);
    CHECK(p[SIZE - 1] == (unsigned char)tag, "block's last byte changed");
}

static void *swinger(void *arg) {
    (void)arg;
    unsigned char *b[MAX_N];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            b[i] = malloc(SIZE);
            CHECK(b[i], "malloc(%d)", SIZE);
            fill(b[i], r + i);
        }
        for (int i = 0; i < N; i++) {
            verify(b[i], r + i);
            last[i] = b[i];
            free(b[i]);
        }
    }
    /* Let the other thread run while this one is alive (its stash stays its own). */
    pthread_mutex_lock(&mu);
    phase = 1;
    pthread_cond_broadcast(&cv);
    while (phase != 2) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *taker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (phase != 1) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    unsigned char *b[MAX_N];
    int known = 0;
    for (int i = 0; i < N; i++) {
        b[i] = malloc(SIZE);
        CHECK(b[i], "malloc(%d)", SIZE);
        fill(b[i], 0xA0 + i);
        for (int j = 0; j < N; j++)
            known += b[i] == last[j];
    }
    /* (The swinger's bin keeps a few of them: two today, its list and its spare of one block
     * each.) */
    CHECK(N == 3 || known >= N - 4, "%d of the taker's %d blocks are ones the swinger freed",
          known, N);
    for (int i = 0; i < N; i++) {
        verify(b[i], 0xA0 + i);
        free(b[i]);
    }
    pthread_mutex_lock(&mu);
    phase = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "stack") == 0) {
        ROUNDS = 2000;
        N = MAX_N;
    }
    pthread_t s, t;
    CHECK(pthread_create(&s, NULL, swinger, NULL) == 0, "swinger");
    CHECK(pthread_create(&t, NULL, taker, NULL) == 0, "taker");
    CHECK(pthread_join(t, NULL) == 0, "join taker");
    CHECK(pthread_join(s, NULL) == 0, "join swinger");
    puts("stash ok");
    return 0;
}
