/* harness.c - see harness.h. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FILL_BYTE 0xAB

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ready;
static uintptr_t base;        /* region start */
static size_t reserved;       /* bytes reserved at base */
static size_t cap;            /* bytes above base the break may reach */
static size_t cap_override;   /* harness_set_cap before init (0 = none) */
static uintptr_t cur;         /* the break */
static unsigned long grows, shrinks, failures;

static void die(const char *msg) {
    (void)!write(2, msg, strlen(msg));
    _exit(2);
}

/* With the lock held. */
static void init_locked(void) {
    if (ready)
        return;
    /* Reserve as much address space as the system lets us, from 1 TiB down. */
    size_t want = (size_t)1 << 40;
    void *p = MAP_FAILED;
    while (want >= ((size_t)1 << 24)) {
        p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
        if (p != MAP_FAILED)
            break;
        want >>= 1;
    }
    if (p == MAP_FAILED)
        die("harness: cannot reserve the break region\n");
    base = (uintptr_t)p;
    reserved = want;
    cur = base;
    cap = reserved;
    const char *e = getenv("HARNESS_CAP"); /* getenv does not allocate */
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 0);
        if (*end != '\0')
            die("harness: bad HARNESS_CAP\n");
        cap = (size_t)v;
    }
    if (cap_override)
        cap = cap_override;
    if (cap > reserved)
        cap = reserved;
    ready = 1;
}

/* Moves the break to `nb` (lock held). Returns 0 or -1 with errno = ENOMEM. */
static int move_to(uintptr_t nb) {
    if (nb < base || nb - base > cap) {
        failures++;
        errno = ENOMEM;
        return -1;
    }
    if (nb > cur) {
        memset((void *)cur, FILL_BYTE, nb - cur);
        grows++;
    } else if (nb < cur) {
        shrinks++;
    }
    cur = nb;
    return 0;
}

void *sbrk(intptr_t increment) {
    pthread_mutex_lock(&lock);
    init_locked();
    uintptr_t old = cur;
    void *r = (void *)old;
    if (increment != 0) {
        uintptr_t nb = old + (uintptr_t)increment;
        /* Wrap-around either way is out of the region. */
        if ((increment > 0 && nb < old) || (increment < 0 && nb > old)) {
            failures++;
            errno = ENOMEM;
            r = (void *)-1;
        } else if (move_to(nb) != 0) {
            r = (void *)-1;
        }
    }
    pthread_mutex_unlock(&lock);
    return r;
}

int brk(void *addr) {
    pthread_mutex_lock(&lock);
    init_locked();
    int r = move_to((uintptr_t)addr);
    pthread_mutex_unlock(&lock);
    return r;
}

void harness_set_cap(size_t bytes) {
    pthread_mutex_lock(&lock);
    if (ready)
        cap = bytes > reserved ? reserved : bytes;
    else
        cap_override = bytes ? bytes : 1;
    pthread_mutex_unlock(&lock);
}

#define GETTER(type, name, expr)                                                                \
    type name(void) {                                                                           \
        pthread_mutex_lock(&lock);                                                              \
        init_locked();                                                                          \
        type v = (expr);                                                                        \
        pthread_mutex_unlock(&lock);                                                            \
        return v;                                                                               \
    }

GETTER(size_t, harness_cap, cap)
GETTER(uintptr_t, harness_heap_start, base)
GETTER(uintptr_t, harness_break, cur)
GETTER(unsigned long, harness_grow_calls, grows)
GETTER(unsigned long, harness_shrink_calls, shrinks)
GETTER(unsigned long, harness_failed_calls, failures)

double hnow(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int harness_in_break(const void *p) {
    pthread_mutex_lock(&lock);
    init_locked();
    int r = (uintptr_t)p >= base && (uintptr_t)p < cur;
    pthread_mutex_unlock(&lock);
    return r;
}

static char out_buf[4096];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void vput(int fd, const char *prefix, const char *fmt, va_list ap) {
    pthread_mutex_lock(&out_lock);
    size_t n = 0;
    if (prefix) {
        n = strlen(prefix);
        memcpy(out_buf, prefix, n);
    }
    int k = vsnprintf(out_buf + n, sizeof out_buf - n - 1, fmt, ap);
    if (k > 0)
        n += (size_t)k < sizeof out_buf - n - 1 ? (size_t)k : sizeof out_buf - n - 2;
    if (prefix)
        out_buf[n++] = '\n';
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, out_buf + off, n - off);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t)w;
    }
    pthread_mutex_unlock(&out_lock);
}

void hprintf(const char *fmt, ...) {
    int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vput(1, NULL, fmt, ap);
    va_end(ap);
    errno = e;
}

void hfail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vput(1, "FAIL: ", fmt, ap);
    va_end(ap);
    _exit(1);
}
