/* A program to be made set-user-ID (by tests/dropin.rs, as root): allocates, frees, exits. Its
 * OXALLOC_* environment must be ignored (no statistics file written). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    void *p = malloc(100);
    free(p);
    printf("ran as euid %d (uid %d)\n", (int)geteuid(), (int)getuid());
    return 0;
}
