/* The API beyond the classic functions, preloaded: C23's sized frees, glibc's __libc_* names and
 * malloc_info. Includes oxalloc.h with <malloc.h> and <stdlib.h> (their declarations must
 * agree). Each part checks through oxalloc's own statistics (mallinfo2) or its reuse of a block
 * that it really reached oxalloc's heap: glibc's functions of the same names would fail it. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../../../include/oxalloc.h"
#include "check.h"

/* glibc 2.36 has no sized frees: weak references, bound at run time to the preloaded library's
 * (the test checks that they were). */
#pragma weak free_sized
#pragma weak free_aligned_sized

void *__libc_malloc(size_t);
void __libc_free(void *);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *__libc_valloc(size_t);
void *__libc_pvalloc(size_t);

static size_t in_use(void) { return mallinfo2().uordblks; }

static void test_free_sized(void) {
    size_t sizes[] = {0, 1, 8, 24, 100, 1000, 4000, 40000, 400000, 4 << 20};
    for (int i = 0; i < 10; i++) {
        size_t n = sizes[i];
        char *p = malloc(n);
        CHECK(p, "malloc(%zu)", n);
        memset(p, 1, n);
        free_sized(p, n);
        /* The block went back: the next request of that size reuses it (most recent first). */
        char *q = malloc(n);
        CHECK(q == p, "free_sized(%zu) did not free the block (%p then %p)", n, p, q);
        free_sized(q, n);
    }
    /* calloc's n*m, a block shrunk by realloc (the size asked last), and NULL. */
    char *c = calloc(10, 30);
    free_sized(c, 300);
    char *r = realloc(malloc(5000), 200);
    free_sized(r, 200);
    free_sized(NULL, 123);
    /* A big block: the heap's in-use bytes fall by its size. */
    size_t before = in_use();
    char *big = malloc(8 << 20);
    CHECK(in_use() >= before + (8 << 20), "8 MiB not counted");
    free_sized(big, 8 << 20);
    CHECK(in_use() < before + (1 << 20), "free_sized left %zu bytes in use", in_use() - before);
}

static void test_free_aligned_sized(void) {
    for (size_t a = 16; a <= 65536; a <<= 1) {
        char *p = aligned_alloc(a, 3 * a);
        CHECK(p && (uintptr_t)p % a == 0, "aligned_alloc(%zu)", a);
        memset(p, 2, 3 * a);
        free_aligned_sized(p, a, 3 * a);
    }
    size_t before = in_use();
    char *big = aligned_alloc(4096, 6 << 20);
    CHECK(big && in_use() >= before + (6 << 20), "aligned 6 MiB not counted");
    free_aligned_sized(big, 4096, 6 << 20);
    CHECK(in_use() < before + (1 << 20), "free_aligned_sized left %zu bytes", in_use() - before);
    free_aligned_sized(NULL, 64, 10);
}

static void test_libc_names(void) {
    /* Blocks from glibc's names are oxalloc's: counted by its statistics, freed by free. */
    size_t before = in_use();
    char *p = __libc_malloc(3 << 20);
    CHECK(p && in_use() >= before + (3 << 20), "__libc_malloc did not reach oxalloc");
    memset(p, 3, 3 << 20);
    p = __libc_realloc(p, 5 << 20);
    CHECK(p && p[(3 << 20) - 1] == 3 && in_use() >= before + (5 << 20), "__libc_realloc");
    free(p);
    CHECK(in_use() < before + (1 << 20), "free of a __libc_realloc block");
    char *q = malloc(2 << 20);
    __libc_free(q);
    CHECK(in_use() < before + (1 << 20), "__libc_free did not free an oxalloc block");
    char *z = __libc_calloc(1000, 1000);
    CHECK(z && in_use() >= before + 1000000, "__libc_calloc did not reach oxalloc");
    for (int i = 0; i < 1000000; i++) CHECK(z[i] == 0, "__libc_calloc byte %d", i);
    free(z);
    long page = sysconf(_SC_PAGESIZE);
    char *m = __libc_memalign(256, 100), *v = __libc_valloc(100), *pv = __libc_pvalloc(100);
    CHECK(m && (uintptr_t)m % 256 == 0, "__libc_memalign");
    CHECK(v && (uintptr_t)v % page == 0, "__libc_valloc");
    CHECK(pv && (uintptr_t)pv % page == 0 && malloc_usable_size(pv) >= (size_t)page, "__libc_pvalloc");
    __libc_free(m);
    __libc_free(v);
    __libc_free(pv);
    __libc_free(NULL);
}

/* The number in `<TAG type="TYPE" ... ATTR="N"`, searched from `from`; -1 when absent. */
static long long xml_number(const char *from, const char *tag_type, const char *attr) {
    const char *t = strstr(from, tag_type);
    if (!t) return -1;
    const char *end = strstr(t, "/>");
    const char *a = strstr(t, attr);
    if (!a || !end || a > end) return -1;
    return atoll(a + strlen(attr));
}

static void test_malloc_info(void) {
    char *big = malloc(12 << 20);
    memset(big, 4, 12 << 20);
    void *small[500];
    for (int i = 0; i < 500; i++) small[i] = malloc(48);
    for (int i = 0; i < 500; i++) free(small[i]); /* into the thread's cache: "fast" */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len); /* a stream without a descriptor */
    CHECK(f, "open_memstream");
    size_t arena_before = mallinfo2().arena;
    CHECK(malloc_info(0, f) == 0, "malloc_info returned non-zero");
    size_t arena_after = mallinfo2().arena; /* the stream may have grown its buffer */
    fclose(f);
    printf("%s", buf);
    CHECK(strncmp(buf, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 42) == 0, "start: %.60s", buf);
    CHECK(len > 10 && strcmp(buf + len - 10, "</malloc>\n") == 0, "end: %s", buf + (len > 20 ? len - 20 : 0));
    const char *after_heap = strstr(buf, "</heap>");
    CHECK(after_heap && !strstr(after_heap + 1, "<heap"), "one heap");
    long long current = xml_number(buf, "<system type=\"current\"", "size=\"");
    long long max = xml_number(buf, "<system type=\"max\"", "size=\"");
    CHECK(current >= 12 << 20, "system current %lld, below the 12 MiB block", current);
    CHECK(max >= current, "system max %lld < current %lld", max, current);
    CHECK((size_t)current >= arena_before && (size_t)current <= arena_after,
          "current %lld, mallinfo2 arena %zu before and %zu after", current, arena_before, arena_after);
    long long fast = xml_number(buf, "<total type=\"fast\"", "count=\"");
    CHECK(fast >= 100, "fast count %lld after 500 small frees", fast);
    long long rest = xml_number(after_heap, "<total type=\"rest\"", "size=\"");
    CHECK(rest >= 0 && rest < current, "rest size %lld", rest);
    CHECK(xml_number(after_heap, "<total type=\"mmap\"", "count=\"") >= 0, "mmap total");
    free(buf);
    free(big);
    errno = 0;
    f = fopen("/dev/null", "w");
    CHECK(malloc_info(1, f) == -1 && errno == EINVAL, "malloc_info(1) must fail with EINVAL");
    fclose(f);
}

int main(void) {
    CHECK(free_sized && free_aligned_sized, "free_sized or free_aligned_sized not found");
    test_free_sized();
    test_free_aligned_sized();
    test_libc_names();
    test_malloc_info();
    printf("extras ok\n");
    return 0;
}
