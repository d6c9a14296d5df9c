/* 300 forks in a row while two threads churn the allocator: every child must be healthy. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include "check.h"

static atomic_int stop;

static void *churn(void *arg) {
    unsigned s = (unsigned)(uintptr_t)arg;
    void *keep[64] = {0};
    while (!atomic_load(&stop)) {
        s = s * 1103515245u + 12345u;
        int k = (s >> 8) % 64;
        free(keep[k]);
        keep[k] = malloc(1 + (s >> 16) % 3000);
        CHECK(keep[k], "malloc in churn");
        memset(keep[k], 1, 1);
    }
    for (int k = 0; k < 64; k++) free(keep[k]);
    return NULL;
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 300;
    pthread_t t[2];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, churn, (void *)(i + 7));
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            /* The child allocates, frees, and even starts a thread. */
            void *ps[200];
            for (int k = 0; k < 200; k++) {
                ps[k] = malloc(16 + k * 13);
                if (!ps[k]) _exit(3);
                memset(ps[k], k, 16 + k * 13);
            }
            for (int k = 0; k < 200; k += 2) free(ps[k]);
            for (int k = 1; k < 200; k += 2) {
                unsigned char *p = ps[k];
                if (p[0] != (unsigned char)k) _exit(4);
                free(p);
            }
            _exit(0);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d unhealthy: status %d", i, st);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("fork ok: %d healthy children\n", forks);
    return 0;
}
