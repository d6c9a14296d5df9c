/* Waves of threads, more at once than the thread caches kept in static memory: each allocates
 * small, medium and large blocks (some grown by realloc), frees a third at once and swaps the
 * rest into a shared table, freeing what it displaces (another thread's block, often one whose
 * thread has exited). After each wave the heap checker (oxalloc_check) must pass; at the end
 * every block is freed, malloc_trim runs, and the checker passes again. Contents are checked.
 * `waves WAVES THREADS OPS`; defaults 4 waves of 48 threads, 1,500 operations each. */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include "check.h"

#define SLOTS 4096
static _Atomic(unsigned char *) slots[SLOTS];
static int OPS = 1500;

static unsigned rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* A block's first byte holds its usable size's low byte, its last usable byte the same. */
static void tag(unsigned char *p) {
    size_t u = malloc_usable_size(p);
    p[0] = p[u - 1] = (unsigned char)u;
}

static void check_tag(unsigned char *p) {
    size_t u = malloc_usable_size(p);
    CHECK(p[0] == (unsigned char)u && p[u - 1] == (unsigned char)u, "block %p changed", (void *)p);
}

static void *worker(void *arg) {
    unsigned s = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < OPS; i++) {
        unsigned r = rnd(&s) % 100;
        size_t n = r < 80 ? 1 + rnd(&s) % 1000 : r < 98 ? 1000 + rnd(&s) % 64000 : 100000 + rnd(&s) % 400000;
        unsigned char *p = malloc(n);
        CHECK(p, "malloc(%zu)", n);
        tag(p);
        if (rnd(&s) % 4 == 0) {
            p = realloc(p, 2 * n + 1);
            CHECK(p, "realloc(%zu)", 2 * n + 1);
            tag(p);
        }
        if (rnd(&s) % 3 == 0) {
            check_tag(p);
            free(p);
            continue;
        }
        unsigned char *old = __atomic_exchange_n(&slots[rnd(&s) % SLOTS], p, __ATOMIC_ACQ_REL);
        if (old) {
            check_tag(old);
            free(old);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int waves = argc > 1 ? atoi(argv[1]) : 4, per = argc > 2 ? atoi(argv[2]) : 48;
    if (argc > 3) OPS = atoi(argv[3]);
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "oxalloc_check");
    CHECK(check, "oxalloc_check not found (run with liboxalloc preloaded)");
    pthread_t *t = calloc((size_t)per, sizeof *t);
    CHECK(t, "calloc");
    for (int w = 0; w < waves; w++) {
        for (int i = 0; i < per; i++)
            CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(w * 1000 + i + 1)) == 0, "create");
        for (int i = 0; i < per; i++) pthread_join(t[i], NULL);
        CHECK(check() == 0, "heap check failed after wave %d", w);
    }
    for (int i = 0; i < SLOTS; i++) {
        unsigned char *p = slots[i];
        if (p) {
            check_tag(p);
            free(p);
        }
    }
    free(t);
    malloc_trim(0);
    CHECK(check() == 0, "heap check failed at the end");
    printf("waves ok\n");
    return 0;
}
