/* In the hardened mode a huge block's mapping ends with a guard page: writing past the end of
 * the block's last page faults (SIGSEGV) instead of reaching other memory. */
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    size_t n = (size_t)100 << 20;
    char *p = malloc(n);
    if (!p) return 2;
    p[n - 1] = 1;
    printf("in bounds ok\n");
    fflush(stdout);
    volatile char *past = p + n + 4096 - (n % 4096);
    *past = 1;
    printf("NOT CAUGHT\n");
    return 0;
}
