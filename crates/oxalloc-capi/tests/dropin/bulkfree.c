/* A single-threaded program that frees many blocks with no malloc in between (a bulk free
 * phase) has `free` take each block in 32 frees later, its header and first word prefetched
 * meanwhile. What the program sees must not change:
 * - the next malloc gets the block freed last (LIFO reuse), and the one freed before it next;
 * - realloc and malloc_usable_size work in the middle of a phase;
 * - a forked child allocates and frees normally;
 * - with a second thread, no phase starts (`threads` argument): a block waiting in a ring is
 *   not marked freed, so another thread could free it again unnoticed.
 * And a block freed in a phase links, through its second word, the block SKIP further down
 * its list (malloc prefetches it: a teardown's lists are in the order the blocks were freed).
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

#define SKIP 4 /* tcache.rs's SKIP */

/* Blocks of one size freed in a phase in shuffled order come back (malloc pops them in list
 * order: about 5.6 MB freed and 10 refills after, fewer than the 16 MiB and 16 refills after
 * which a teardown's lists are merged into the heap, see rebuild.c) with their second
 * word linking the block SKIP pops later, under a per-process key that the XOR of two links
 * cancels: word(p[i]) ^ word(p[i+1]) == p[i+SKIP] ^ p[i+SKIP+1], wherever the four blocks came
 * from one list (lists hold 64 such blocks or more). With `phase` false (a second thread: no
 * phase), no block has the link. */
static void skip_links(int phase) {
    enum { M = 600 }; /* about 10 refills: fewer than the 16 after which a rebuild merges */
    static char *same[M];
    fill();
    for (int i = 0; i < M; i++) {
        same[i] = malloc(64);
        CHECK(same[i], "malloc(64)");
        memset(same[i], 0x33, 64); /* (low four bits not the link tag's 0b1010: a first word
                                    * that may be a link sends the free to the slow path) */
    }
    free_all();
    for (int i = 0; i < M; i++)
        free(same[(i * 7919) % M]);
    for (int i = 0; i < M; i++) {
        same[i] = malloc(64);
        CHECK(same[i], "malloc(64) after the phase");
    }
    int linked = 0;
    for (int i = 0; i + SKIP + 1 < M; i++) {
        uintptr_t a, b;
        memcpy(&a, same[i] + 8, sizeof a);
        memcpy(&b, same[i + 1] + 8, sizeof b);
        if ((a ^ b) == ((uintptr_t)same[i + SKIP] ^ (uintptr_t)same[i + SKIP + 1]))
            linked++;
    }
    if (phase)
        CHECK(linked >= M / 2, "%d of %d blocks freed in a phase link the block %d further down",
              linked, M - SKIP - 1, SKIP);
    else
        CHECK(linked < M / 100, "%d of %d blocks link the block %d further down with no phase",
              linked, M - SKIP - 1, SKIP);
    /* The program may move a block's old second word to its start (copying indeterminate bytes
     * is allowed): the free must not take a skip link there for a list link (a double free). */
    for (int i = 0; i < M; i++) {
        memmove(same[i], same[i] + 8, 56);
        __asm__ volatile("" ::: "memory"); /* (else the copy into a block about to be freed is
                                             * left out) */
        free(same[i]);
    }
}

static void *idle(void *arg) {
    (void)arg;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 && strcmp(argv[1], "threads") == 0;
    if (threads) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, idle, NULL) == 0, "pthread_create");
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    }
    lifo();
    kept_block();
    fork_in_phase();
    skip_links(!threads);
    printf("bulkfree ok\n");
    return 0;
}
