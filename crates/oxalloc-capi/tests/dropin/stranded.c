/* Thread A allocates 2,000 blocks of 16 KiB and stays alive without allocating again; thread B
 * frees them all (remote frees: they wait on A's list for A's next allocation of that size),
 * then allocates 2,000 blocks of 24 KiB. Before the heap grows, blocks waiting on live threads'
 * remote lists are merged into it, so B's blocks reuse A's 32 MB: the heap must grow by less than
 * 24 MB for them (48 MB if the remote blocks stayed stranded). Contents are checked. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

enum { N = 2000, SMALL = 16000, BIG = 24000 };
static unsigned char *blocks[N];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void wait_for(int s) {
    pthread_mutex_lock(&m);
    while (stage < s)
        pthread_cond_wait(&cv, &m);
    pthread_mutex_unlock(&m);
}

static void advance(int s) {
    pthread_mutex_lock(&m);
    stage = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m);
}

static void *thread_a(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SMALL);
        CHECK(blocks[i], "malloc(%d)", SMALL);
        memset(blocks[i], (unsigned char)i, SMALL);
    }
    advance(1);
    wait_for(2); /* alive, not allocating, while B works */
    return NULL;
}

static void *thread_b(void *arg) {
    (void)arg;
    wait_for(1);
    for (int i = 0; i < N; i++) {
        CHECK(blocks[i][0] == (unsigned char)i && blocks[i][SMALL - 1] == (unsigned char)i,
              "block %d changed", i);
        free(blocks[i]);
    }
    size_t before = mallinfo2().arena;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(BIG);
        CHECK(blocks[i], "malloc(%d)", BIG);
        memset(blocks[i], (unsigned char)~i, BIG);
    }
    size_t after = mallinfo2().arena;
    CHECK(after - before < (size_t)24 << 20,
          "the heap grew by %zu bytes for 48 MB of blocks while 32 MB waited on a remote list",
          after - before);
    for (int i = 0; i < N; i++) {
        CHECK(blocks[i][0] == (unsigned char)~i && blocks[i][BIG - 1] == (unsigned char)~i,
              "block %d changed", i);
        free(blocks[i]);
    }
    advance(2);
    return NULL;
}

int main(void) {
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, thread_a, NULL) == 0, "create A");
    CHECK(pthread_create(&b, NULL, thread_b, NULL) == 0, "create B");
    CHECK(pthread_join(b, NULL) == 0, "join B");
    CHECK(pthread_join(a, NULL) == 0, "join A");
    printf("stranded ok\n");
    return 0;
}
