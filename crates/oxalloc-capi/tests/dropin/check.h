/* Tiny assertion helpers for the drop-in tests: print "FAIL: ..." and exit 1. */
#ifndef CHECK_H
#define CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)
/* The process's resident memory in KiB (/proc/self/statm). */
static inline long resident_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f, "open statm");
    long size = 0, res = 0;
    CHECK(fscanf(f, "%ld %ld", &size, &res) == 2, "read statm");
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}
#endif
