/* Fault runs: a mapping right above the break, RLIMIT_AS and RLIMIT_DATA. Mode in argv[1]. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdint.h>
#include "check.h"

static void mapping_above_break(void) {
    free(malloc(100)); /* the heap exists */
    char *brk_now = sbrk(0);
    long page = sysconf(_SC_PAGESIZE);
    char *at = (char *)(((uintptr_t)brk_now + page - 1) & ~(uintptr_t)(page - 1));
    void *m = mmap(at, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(m == at, "could not place a mapping above the break");
    /* Allocate 200 MB in pieces: the break cannot move, so it must come from mappings. */
    enum { N = 50000 };
    static unsigned char *ps[N];
    for (int i = 0; i < N; i++) {
        size_t n = 1000 + i % 7000;
        ps[i] = malloc(n);
        CHECK(ps[i], "malloc %d failed with a mapping above the break", i);
        memset(ps[i], i & 0xff, n);
    }
    CHECK(sbrk(0) <= (void *)at, "the break moved into the mapping");
    for (int i = 0; i < N; i++) {
        size_t n = 1000 + i % 7000;
        for (size_t j = 0; j < n; j += 97) CHECK(ps[i][j] == (i & 0xff), "object %d changed", i);
        if (i % 3 == 0) {
            ps[i] = realloc(ps[i], n * 2);
            CHECK(ps[i] && ps[i][n - 1] == (i & 0xff), "realloc across mappings");
        }
    }
    for (int i = 0; i < N; i++) free(ps[i]);
    printf("mapping above the break ok\n");
}

static void limited(int resource, const char *name) {
    struct rlimit rl = {(rlim_t)300 << 20, (rlim_t)300 << 20};
    if (resource == RLIMIT_AS) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)600 << 20; /* the program itself needs some */
    }
    CHECK(setrlimit(resource, &rl) == 0, "setrlimit %s", name);
    errno = 0;
    void *big = malloc((size_t)1 << 30);
    CHECK(big == NULL && errno == ENOMEM, "1 GiB under %s: %p errno %d", name, big, errno);
    void *small = malloc(1000);
    CHECK(small, "small allocation after a failure under %s", name);
    /* Fill memory until allocations fail, then free and allocate again. */
    static void *ps[1 << 20];
    int n = 0;
    while (n < (1 << 20)) {
        void *p = malloc(64 << 10);
        if (!p) {
            CHECK(errno == ENOMEM, "errno %d", errno);
            break;
        }
        memset(p, 1, 64 << 10);
        ps[n++] = p;
    }
    CHECK(n > 100 && n < (1 << 20), "filled %d blocks under %s", n, name);
    for (int i = 0; i < n; i++) free(ps[i]);
    for (int i = 0; i < 100; i++) {
        ps[i] = malloc(64 << 10);
        CHECK(ps[i], "allocation after freeing under %s", name);
    }
    for (int i = 0; i < 100; i++) free(ps[i]);
    free(small);
    printf("%s ok: %d blocks of 64 KiB before ENOMEM\n", name, n);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "map";
    if (!strcmp(mode, "map")) mapping_above_break();
    else if (!strcmp(mode, "as")) limited(RLIMIT_AS, "RLIMIT_AS");
    else if (!strcmp(mode, "data")) limited(RLIMIT_DATA, "RLIMIT_DATA");
    return 0;
}
