/* A single-threaded program that frees many blocks with no malloc in between (a bulk free
 * phase) has `free` take each block in 32 frees later, its header and first word prefetched
 * meanwhile. What the program sees must not change:
 * - the next malloc gets the block freed last (LIFO reuse), and the one freed before it next;
 * - realloc and malloc_usable_size work in the middle of a phase;
 * - a forked child allocates and frees normally;
 * - with a second thread, no phase starts (`threads` argument): a block waiting in a ring is
 *   not marked freed, so another thread could free it again unnoticed.
 * The test in dropin.rs counts the phases in the statistics. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include "check.h"

#define N 12000 /* about 5.6 MB of blocks: a phase starts once the bins gave back 2 MiB */

static size_t size_of(int i) { return 16 + (size_t)(i * 37) % 900; }

static char *blocks[N];

static void fill(void) {
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(size_of(i));
        CHECK(blocks[i], "malloc(%zu)", size_of(i));
        memset(blocks[i], i, size_of(i));
    }
}

static void free_all(void) {
    for (int i = 0; i < N; i++)
        free(blocks[i]);
}

/* The blocks freed last come back first, the later one first: the last 20 frees, all of one
 * size, end a bulk free of blocks of many sizes. */
static void lifo(void) {
    fill();
    char *same[20];
    for (int i = 0; i < 20; i++) {
        same[i] = malloc(40);
        CHECK(same[i], "malloc(40)");
    }
    free_all();
    for (int i = 0; i < 20; i++)
        free(same[i]);
    for (int i = 19; i >= 0; i--) {
        char *p = malloc(40);
        CHECK(p == same[i], "malloc %d after a bulk free: %p, expected the block freed %d frees "
              "before the end, %p", 19 - i, (void *)p, 19 - i, (void *)same[i]);
    }
    for (int i = 0; i < 20; i++)
        free(same[i]);
}

/* A block kept across the phase: its usable size, then a shrink in place that keeps its data. */
static void kept_block(void) {
    char *keep = malloc(100);
    CHECK(keep, "malloc(100)");
    memset(keep, 7, 100);
    fill();
    free_all();
    CHECK(malloc_usable_size(keep) >= 100, "usable size %zu", malloc_usable_size(keep));
    fill();
    free_all();
    char *k2 = realloc(keep, 90);
    CHECK(k2 == keep, "realloc to a smaller size moved the block");
    for (int i = 0; i < 90; i++)
        CHECK(k2[i] == 7, "realloc lost byte %d", i);
    free(k2);
}

/* A child forked in the middle of a phase allocates and frees normally; so does the parent. */
static void fork_in_phase(void) {
    fill();
    free_all();
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    char *a = malloc(size_of(N - 1));
    CHECK(a == blocks[N - 1], "%s: malloc after the phase: %p, expected %p",
          pid == 0 ? "child" : "parent", (void *)a, (void *)blocks[N - 1]);
    fill();
    free_all();
    free(a);
    if (pid == 0)
        _exit(0);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
}

static void *idle(void *arg) {
    (void)arg;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "threads") == 0) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, idle, NULL) == 0, "pthread_create");
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    }
    lifo();
    kept_block();
    fork_in_phase();
    printf("bulkfree ok\n");
    return 0;
}
