/*
 * oxalloc.h — the C interface of oxalloc, a malloc replacement.
 *
 * Link with -loxalloc (liboxalloc.so or liboxalloc.a; `pkg-config --cflags --libs oxalloc`), or
 * preload liboxalloc.so. The standard functions replace the C library's; the classic names
 * (mymalloc, ...) are the same allocator with the classic 8-byte (sizeof(long)) alignment.
 *
 * Alignment: malloc, calloc, realloc give 16-byte aligned blocks; mymalloc, mycalloc,
 * myrealloc give sizeof(long) = 8-byte aligned blocks (less padding).
 * Failure: NULL with errno = ENOMEM (EINVAL for a bad alignment). free preserves errno.
 * Misuse (double free, foreign or interior pointer): the process ends with SIGABRT after one
 * line on stderr starting with "oxalloc:".
 */
#ifndef OXALLOC_H
#define OXALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The classic interface (8-byte alignment). */
void *mymalloc(size_t size);
void myfree(void *ptr);
void *mycalloc(size_t nmemb, size_t size);
void *myrealloc(void *ptr, size_t size);

/* The standard interface, as in <stdlib.h> and <malloc.h> (16-byte alignment). */
void *malloc(size_t size);
void free(void *ptr);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *ptr, size_t size);
void *reallocarray(void *ptr, size_t nmemb, size_t size);
int posix_memalign(void **memptr, size_t alignment, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
void *memalign(size_t alignment, size_t size);
void *valloc(size_t size);
void *pvalloc(size_t size);
size_t malloc_usable_size(void *ptr);
int malloc_trim(size_t pad);
void malloc_stats(void);

/* C23 sized frees: free, after checking that the block can hold `size` bytes (and has the
 * alignment `alignment`); a block that cannot is misuse (SIGABRT, one line on stderr). */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* glibc's XML description of the heap on `stream` (a FILE *); options must be 0 (else -1 and
 * errno = EINVAL). */
int malloc_info(int options, FILE *stream);

/* oxalloc extras. */
/* Runs the heap checker: 0 when every invariant holds, else -1 (and one line on stderr). */
int oxalloc_check(void);
/* glibc's M_TRIM_THRESHOLD (-1), M_TOP_PAD (-2), M_MMAP_THRESHOLD (-3) and M_MMAP_MAX (-4) apply;
 * other parameters are accepted and change nothing. 1 when applied, 0 when refused. */
int mallopt(int param, int value);

#ifdef __cplusplus
}
#endif

#endif /* OXALLOC_H */
