/* A single-threaded program tears down a structure in random order and builds it again: the
 * structure it builds is laid out in contiguous memory, as glibc's and mimalloc's are, not in
 * the order the old blocks were freed. (A program then reading its objects in the order it made
 * them — CPython's cyclic garbage collector walks them so — reads memory in order.) After a
 * teardown in allocation order the lists are neighbours already. The blocks of 64 bytes made
 * one after the other must mostly be next to each other in both cases: at most 128 bytes
 * apart for three in four of them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

enum { R = 250000 }; /* 20 MB of 80-byte blocks: a bulk free phase starts past 2 MiB, and a
                        * teardown's groups are merged from 16 MiB */
static char *r[R];
static int order[R];

static int build(void) {
    int near = 0;
    for (int i = 0; i < R; i++) {
        r[i] = malloc(64);
        CHECK(r[i], "malloc(64)");
        memset(r[i], i, 64);
        if (i > 0 && (size_t)(r[i] > r[i - 1] ? r[i] - r[i - 1] : r[i - 1] - r[i]) <= 128)
            near++;
    }
    return near;
}

static void teardown(int shuffled) {
    for (int i = 0; i < R; i++)
        order[i] = i;
    unsigned x = 12345;
    for (int i = R - 1; shuffled && i > 0; i--) {
        x = x * 1103515245 + 12345;
        int j = (int)((x >> 8) % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < R; i++) {
        CHECK((unsigned char)r[order[i]][63] == (unsigned char)order[i], "block %d changed",
              order[i]);
        free(r[order[i]]);
    }
}

int main(int argc, char **argv) {
    int shuffled = argc > 1 && strcmp(argv[1], "shuffled") == 0;
    int first = build();
    CHECK(first >= R * 3 / 4, "a first build: %d of %d blocks next to the one before", first,
          R - 1);
    for (int round = 0; round < 3; round++) {
        teardown(shuffled);
        int near = build();
        CHECK(near >= R * 3 / 4,
              "round %d: %d of %d blocks built again after a %s teardown are next to the one "
              "before",
              round, near, R - 1, shuffled ? "shuffled" : "in-order");
    }
    teardown(shuffled);
    printf("rebuild ok\n");
    return 0;
}
