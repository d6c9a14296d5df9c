/* free leaves errno alone (POSIX.1-2024) on each of its paths: this thread's cached block, a
 * block another (live) thread allocated (the lock-free remote push), a block of a thread that
 * has exited (adopted), a large block (the heap, which may give memory back), a huge block
 * (its own mapping) and NULL. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "check.h"

enum { N = 256 };
static void *theirs[N];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void *owner(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) {
        theirs[i] = malloc(16 + (size_t)i * 8);
        CHECK(theirs[i], "malloc");
    }
    pthread_mutex_lock(&mu);
    stage = 1;
    pthread_cond_broadcast(&cv);
    while (stage != 2) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void free_keeps_errno(void *p, const char *what) {
    errno = EILSEQ;
    free(p);
    CHECK(errno == EILSEQ, "free of %s changed errno to %d (%s)", what, errno, strerror(errno));
}

int main(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, owner, NULL) == 0, "pthread_create");
    pthread_mutex_lock(&mu);
    while (stage != 1) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    /* The owner is alive: remote frees. */
    for (int i = 0; i < N / 2; i++) free_keeps_errno(theirs[i], "another thread's block");
    pthread_mutex_lock(&mu);
    stage = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
    /* The owner has exited: adopted, then freed as this thread's. */
    for (int i = N / 2; i < N; i++) free_keeps_errno(theirs[i], "an exited thread's block");
    for (int i = 0; i < 1000; i++) free_keeps_errno(malloc(1 + (size_t)i % 500), "an own block");
    for (int i = 0; i < 50; i++) free_keeps_errno(malloc(100000 + (size_t)i * 4096), "a large block");
    free_keeps_errno(malloc(64 << 20), "a huge block");
    free_keeps_errno(NULL, "NULL");
    printf("freeerrno ok\n");
    return 0;
}
