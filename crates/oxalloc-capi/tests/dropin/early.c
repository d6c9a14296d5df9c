/* Foreign code calling back into malloc: dlopen/dlsym/dlerror, fopen, opendir, the program's
 * own sbrk calls between allocations, and atexit. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    void *h = dlopen("libm.so.6", RTLD_NOW);
    CHECK(h, "dlopen: %s", dlerror());
    double (*cosine)(double) = (double (*)(double))dlsym(h, "cos");
    CHECK(cosine && cosine(0.0) == 1.0, "dlsym");
    CHECK(dlsym(h, "no_such_symbol_here") == NULL && dlerror() != NULL, "dlerror");
    dlclose(h);
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f, "fopen");
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    DIR *d = opendir("/");
    CHECK(d, "opendir");
    while (readdir(d)) {
    }
    closedir(d);
    /* The program moves the break itself, between allocations. */
    char *a = malloc(1000);
    memset(a, 'a', 1000);
    void *mine = sbrk(4096 + 13);
    CHECK(mine != (void *)-1, "sbrk");
    memset(mine, 0xEE, 4096 + 13);
    char *b[1000];
    for (int i = 0; i < 1000; i++) {
        b[i] = malloc(100 + i);
        CHECK(b[i], "malloc after the program's sbrk");
        memset(b[i], 'b', 100 + i);
        CHECK(!(b[i] >= (char *)mine && b[i] < (char *)mine + 4096 + 13), "allocator handed out the program's memory");
    }
    for (int i = 0; i < 4096 + 13; i++) CHECK(((unsigned char *)mine)[i] == 0xEE, "program's sbrk memory overwritten");
    for (int i = 0; i < 1000; i++) free(b[i]);
    for (int i = 0; i < 1000; i++) CHECK(a[i] == 'a', "block changed");
    free(a);
    printf("early ok (%d map lines)\n", lines);
    return 0;
}
