/* The library's code a program runs stays in one 64 KiB window of its executable segment.
 *
 * The program goes through the allocator's usual paths (small, medium, large and huge blocks,
 * calloc, realloc growing and shrinking, aligned blocks, a second thread freeing the first's
 * blocks, fork), then prints "code START KIB" for the executable mapping of the library that
 * holds malloc (from /proc/self/smaps): where it starts and how many KiB of it are resident.
 * Then it calls malloc_stats(), whose report code lies outside that window, and prints the
 * line again. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 4096
static void *blocks[N];

static void *other_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i += 2) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
    void *q[256];
    for (int i = 0; i < 256; i++) q[i] = malloc(16 + i * 40);
    for (int i = 0; i < 256; i++) free(q[i]);
    return NULL;
}

/* Prints "code START KIB" for the executable mapping of the object that defines malloc. */
static void code_line(void) {
    Dl_info info;
    if (!dladdr((void *)malloc, &info) || !info.dli_fname) {
        printf("FAIL: dladdr(malloc)\n");
        exit(1);
    }
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) exit(1);
    char line[512];
    unsigned long start = 0;
    int ours = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        long kb;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) == 3) {
            char *path = strchr(line, '/');
            if (path) path[strcspn(path, "\n")] = 0;
            ours = perm[2] == 'x' && path && strcmp(path, info.dli_fname) == 0;
            start = lo;
        } else if (ours && sscanf(line, "Rss: %ld kB", &kb) == 1) {
            printf("code %lx %ld\n", start, kb);
        }
    }
    fclose(f);
    fflush(stdout);
}

int main(void) {
    for (int i = 0; i < N; i++) {
        size_t n = (i % 7 == 0) ? 2000 + i * 3 : 8 + (i * 37) % 900;
        blocks[i] = malloc(n);
        if (!blocks[i]) return 1;
        memset(blocks[i], i, n < 64 ? n : 64);
    }
    char *s = NULL;
    for (int i = 1; i < 3000; i++) {
        s = realloc(s, i);
        s[i - 1] = 'x';
    }
    s = realloc(s, 10);
    free(s);
    void *big = malloc(200000), *huge = malloc(64 << 20), *z = calloc(1000, 10);
    void *a = NULL;
    if (posix_memalign(&a, 4096, 5000) != 0) return 1;
    free(a);
    a = aligned_alloc(64, 640);
    free(a);
    free(z);
    free(huge);
    free(big);
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        free(malloc(100));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    for (int i = 1; i < N; i += 2) free(blocks[i]);
    code_line();
    malloc_stats();
    code_line();
    return 0;
}
