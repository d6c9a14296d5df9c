/* Bounded randomized stress of the whole C API (tests/stress.rs runs it with liboxalloc.so
 * preloaded; it runs under glibc's malloc too).
 *
 *   ./stress [seconds [seed]]        default 20 s, seed from the clock
 *
 * For narrowing down a failure: STRESS_FORKS=0 (no forks), STRESS_EXITS=0 (workers never exit
 * before the end), STRESS_REMOTE=0 (each worker uses its own eighth of the slots: no cross-thread
 * frees except the ones at thread exit).
 *
 * 8 worker threads do malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign/free on
 * objects they exchange through shared slots (atomic exchange, so most frees are cross-thread);
 * each worker exits after a random number of operations (publishing or freeing what it still
 * holds) and the main thread starts a new one in its place. The main thread also forks while the
 * workers churn (the child checks every object it can see, frees some, allocates, and exits), and
 * stops the world at quiet points to check every live object in place, the statistics, and the
 * heap checker (`oxalloc_check`, if liboxalloc.so exports it).
 *
 * Every object of at least 16 bytes starts with {seed, size}; its other bytes are a pattern
 * derived from the seed, checked whenever the object changes hands, is realloc'ed or freed.
 *
 * At the end everything is freed; then, after malloc_trim(0), the in-use bytes of mallinfo2()
 * must be back at their value at the start (under oxalloc; printed only under another malloc),
 * the break within 4 MiB of the start, and resident memory within 64 MiB of the start.
 * Prints `stress ok` and exits 0, or prints `FAIL: ...` and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 8
#define SLOTS 4096
#define OWN 32
#define MAX_OBJ (3u << 20)

#define FAIL(...)                                                                                \
    do {                                                                                         \
        char msg_[512];                                                                          \
        int n_ = snprintf(msg_, sizeof msg_, "FAIL: " __VA_ARGS__);                              \
        if (n_ > (int)sizeof msg_ - 2) n_ = sizeof msg_ - 2;                                     \
        msg_[n_++] = '\n';                                                                       \
        if (write(1, msg_, n_) < 0) {}                                                           \
        if (write(2, msg_, n_) < 0) {}                                                           \
        _exit(1);                                                                                \
    } while (0)

struct obj {
    uint64_t seed;
    uint64_t size;
};

static _Atomic(struct obj *) slots[SLOTS];
/* Objects a worker holds privately (read by the main thread only at quiet points). */
static struct obj *own[WORKERS][OWN];

static atomic_int stop;
static atomic_ulong total_ops, total_forks, total_children, total_threads, total_quiet;

static pthread_mutex_t quiet_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t quiet_cv = PTHREAD_COND_INITIALIZER;
static int pause_req, paused, running;
static atomic_int finished[WORKERS];
static int under_oxalloc;
static int opt_forks = 1, opt_exits = 1, opt_remote = 1;
static int (*oxalloc_check)(void);

static uint64_t rnd(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint64_t word_of(uint64_t seed, uint64_t k) {
    uint64_t x = seed ^ (k * 0x9E3779B97F4A7C15ull);
    x ^= x >> 31;
    return x * 0xBF58476D1CE4E5B9ull;
}

/* Writes the header and the pattern of `size` bytes. */
static void fill(struct obj *o, uint64_t size, uint64_t seed) {
    o->seed = seed;
    o->size = size;
    unsigned char *b = (unsigned char *)o;
    uint64_t i = 16;
    for (; i + 8 <= size; i += 8) {
        uint64_t w = word_of(seed, i / 8);
        memcpy(b + i, &w, 8);
    }
    if (i < size) {
        uint64_t w = word_of(seed, i / 8);
        memcpy(b + i, &w, size - i);
    }
}

/* Checks the pattern of the first `upto` bytes of an object whose header says (seed, size). */
static void verify_prefix(const struct obj *o, uint64_t seed, uint64_t size, uint64_t upto,
                          const char *when) {
    if (o->seed != seed || o->size != size)
        FAIL("%s: object %p header changed: seed %#llx size %llu, expected %#llx %llu", when,
             (void *)o, (unsigned long long)o->seed, (unsigned long long)o->size,
             (unsigned long long)seed, (unsigned long long)size);
    const unsigned char *b = (const unsigned char *)o;
    uint64_t i = 16;
    for (; i + 8 <= upto; i += 8) {
        uint64_t w = word_of(seed, i / 8), v;
        memcpy(&v, b + i, 8);
        if (v != w) FAIL("%s: object %p (size %llu) bytes %llu..%llu changed", when, (void *)o,
                         (unsigned long long)size, (unsigned long long)i,
                         (unsigned long long)i + 8);
    }
    if (i < upto) {
        uint64_t w = word_of(seed, i / 8);
        if (memcmp(b + i, &w, upto - i))
            FAIL("%s: object %p tail changed", when, (void *)o);
    }
}

static void verify(const struct obj *o, const char *when) {
    if (o->size < 16 || o->size > MAX_OBJ)
        FAIL("%s: object %p header size %llu corrupted", when, (void *)o,
             (unsigned long long)o->size);
    verify_prefix(o, o->seed, o->size, o->size, when);
}

static uint64_t pick_size(uint64_t *s) {
    uint64_t r = rnd(s), c = r % 1000;
    r >>= 10;
    if (c < 700) return 16 + r % 241;          /* small: thread caches */
    if (c < 900) return 256 + r % 3841;        /* medium */
    if (c < 985) return 4096 + r % 61441;      /* large */
    if (c < 999) return 65536 + r % 458753;    /* very large */
    return (1u << 20) + r % (2u << 20);        /* 1..3 MiB: madvised when freed */
}

static void check_aligned(void *p, size_t align, const char *what) {
    if ((uintptr_t)p % align) FAIL("%s returned %p, not %zu-aligned", what, p, align);
}

static struct obj *new_obj(uint64_t *s) {
    uint64_t size = pick_size(s), r = rnd(s), kind = r % 100;
    size_t align = (size_t)1 << (4 + (r >> 8) % 9); /* 16 .. 4096 */
    void *p;
    if (kind < 60) {
        p = malloc(size);
        if (!p) FAIL("malloc(%llu)", (unsigned long long)size);
        check_aligned(p, 16, "malloc");
    } else if (kind < 75) {
        size_t unit = (r >> 20) % 2 ? 16 : 1;
        size_t n = (size + unit - 1) / unit;
        size = n * unit;
        p = calloc(n, unit);
        if (!p) FAIL("calloc(%zu, %zu)", n, unit);
        check_aligned(p, 16, "calloc");
        for (size_t i = 0; i < size; i++)
            if (((unsigned char *)p)[i]) FAIL("calloc(%zu, %zu) = %p byte %zu not zero", n, unit, p, i);
    } else if (kind < 85) {
        int e = posix_memalign(&p, align, size);
        if (e) FAIL("posix_memalign(%zu, %llu) = %d", align, (unsigned long long)size, e);
        check_aligned(p, align, "posix_memalign");
    } else if (kind < 93) {
        if (align > 256) align = 256;
        size = (size + align - 1) / align * align; /* C11: a multiple of the alignment */
        p = aligned_alloc(align, size);
        if (!p) FAIL("aligned_alloc(%zu, %llu)", align, (unsigned long long)size);
        check_aligned(p, align, "aligned_alloc");
    } else {
        p = memalign(align, size);
        if (!p) FAIL("memalign(%zu, %llu)", align, (unsigned long long)size);
        check_aligned(p, align, "memalign");
    }
    if ((r >> 40) % 64 == 0 && malloc_usable_size(p) < size)
        FAIL("malloc_usable_size(%p) = %zu < %llu", p, malloc_usable_size(p),
             (unsigned long long)size);
    fill(p, size, rnd(s) | 1);
    return p;
}

static void drop(struct obj *o, const char *when) {
    verify(o, when);
    free(o);
}

static __thread int my_idx = -1;

/* A random slot: any of them, or with STRESS_REMOTE=0 one of the calling worker's own. */
static size_t slot(uint64_t *s) {
    size_t k = rnd(s) % SLOTS;
    if (!opt_remote && my_idx >= 0) k = my_idx * (SLOTS / WORKERS) + k % (SLOTS / WORKERS);
    return k;
}

static void publish(uint64_t *s, struct obj *o) {
    struct obj *old = atomic_exchange(&slots[slot(s)], o);
    if (old) drop(old, "exchanged");
}

static struct obj *take(uint64_t *s) { return atomic_exchange(&slots[slot(s)], NULL); }

static struct obj *resize(uint64_t *s, struct obj *o) {
    uint64_t seed = o->seed, size = o->size, n;
    verify(o, "before realloc");
    uint64_t r = rnd(s) % 4;
    if (r == 0) n = 16 + size / 2;        /* shrink */
    else if (r == 1) n = size + 1 + rnd(s) % 64; /* grow a little (in place if possible) */
    else n = pick_size(s);
    if (n > MAX_OBJ) n = MAX_OBJ;
    struct obj *q = realloc(o, n);
    if (!q) FAIL("realloc(%p, %llu)", (void *)o, (unsigned long long)n);
    check_aligned(q, 16, "realloc");
    verify_prefix(q, seed, size, n < size ? n : size, "after realloc");
    fill(q, n, rnd(s) | 1);
    return q;
}

/* Short-lived local objects: a burst of same-class blocks freed in random order (thread
 * caches), including sizes below 16 (malloc(0) too). */
static void burst(uint64_t *s) {
    unsigned char *v[64];
    size_t sz[64];
    unsigned char val[64];
    int k = 1 + rnd(s) % 64;
    size_t base = rnd(s) % 3 == 0 ? rnd(s) % 16 : 16 + rnd(s) % 500;
    for (int i = 0; i < k; i++) {
        sz[i] = base + (rnd(s) % 4 == 0 ? rnd(s) % 32 : 0);
        val[i] = (unsigned char)rnd(s);
        v[i] = malloc(sz[i]);
        if (!v[i]) FAIL("malloc(%zu) in burst", sz[i]);
        memset(v[i], val[i], sz[i]);
    }
    for (int i = k - 1; i > 0; i--) {
        int j = rnd(s) % (i + 1);
        unsigned char *t = v[i]; v[i] = v[j]; v[j] = t;
        size_t u = sz[i]; sz[i] = sz[j]; sz[j] = u;
        unsigned char c = val[i]; val[i] = val[j]; val[j] = c;
    }
    for (int i = 0; i < k; i++) {
        for (size_t b = 0; b < sz[i]; b++)
            if (v[i][b] != val[i]) FAIL("burst block %p (%zu bytes) byte %zu changed", (void *)v[i], sz[i], b);
        free(v[i]);
    }
}

static void park(void) {
    pthread_mutex_lock(&quiet_mu);
    paused++;
    pthread_cond_broadcast(&quiet_cv);
    while (pause_req) pthread_cond_wait(&quiet_cv, &quiet_mu);
    paused--;
    pthread_mutex_unlock(&quiet_mu);
}

struct wargs {
    int idx;
    uint64_t seed;
};

static void *worker(void *arg) {
    struct wargs *a = arg;
    int w = a->idx;
    uint64_t s = a->seed;
    free(a); /* allocated by the main thread: a cross-thread free */
    my_idx = w;
    uint64_t budget = opt_exits ? 5000 + rnd(&s) % 200000 : UINT64_MAX, ops = 0;
    pthread_mutex_lock(&quiet_mu);
    running++;
    pthread_mutex_unlock(&quiet_mu);
    for (; ops < budget && !atomic_load_explicit(&stop, memory_order_relaxed); ops++) {
        if (__atomic_load_n(&pause_req, __ATOMIC_RELAXED)) park();
        uint64_t r = rnd(&s) % 100;
        if (r < 38) {
            publish(&s, new_obj(&s));
        } else if (r < 56) {
            struct obj *o = take(&s);
            if (o) drop(o, "taken");
        } else if (r < 70) {
            struct obj *o = take(&s);
            if (o) publish(&s, resize(&s, o));
        } else if (r < 82) {
            burst(&s);
        } else if (r < 90) {
            /* private objects: kept across operations, freed or published at exit */
            int k = rnd(&s) % OWN;
            if (own[w][k]) {
                if (rnd(&s) % 2) drop(own[w][k], "own");
                else publish(&s, own[w][k]);
                own[w][k] = NULL;
            } else {
                own[w][k] = new_obj(&s);
            }
        } else if (r < 94) {
            struct obj *o = take(&s);
            if (o) {
                verify(o, "looked at");
                publish(&s, o);
            }
        } else if (r < 96) {
            /* realloc(NULL, n) allocates; realloc(p, 0) frees */
            struct obj *o = realloc(NULL, 32 + rnd(&s) % 100);
            if (!o) FAIL("realloc(NULL, n)");
            fill(o, 32, rnd(&s) | 1);
            verify(o, "realloc(NULL)");
            if (realloc(o, 0)) FAIL("realloc(p, 0) returned non-NULL");
        } else if (r < 98) {
            uint64_t n = 16 + rnd(&s) % 5000;
            struct obj *o = calloc(1, n);
            if (!o) FAIL("calloc");
            for (uint64_t i = 0; i < n; i++)
                if (((unsigned char *)o)[i]) FAIL("calloc %p byte %llu not zero", (void *)o, (unsigned long long)i);
            fill(o, n, rnd(&s) | 1);
            publish(&s, o);
        } else if (r == 98 && rnd(&s) % 4096 == 0) {
            /* a huge block: a mapping of its own (threshold 64 MiB by default) */
            size_t n = (65u << 20) + rnd(&s) % (4u << 20);
            unsigned char *p = malloc(n);
            if (!p) FAIL("malloc(%zu)", n);
            p[0] = 1;
            p[n / 2] = 2;
            p[n - 1] = 3;
            if (p[0] + p[n / 2] + p[n - 1] != 6) FAIL("huge block");
            p = realloc(p, n + (1u << 20));
            if (!p || p[0] != 1 || p[n / 2] != 2 || p[n - 1] != 3) FAIL("huge realloc");
            free(p);
        } else if (r == 99 && opt_forks && rnd(&s) % 20000 == 0) {
            /* a fork from a worker */
            pid_t pid = fork();
            if (pid < 0) FAIL("fork in worker: %s", strerror(errno));
            if (pid == 0) {
                for (int k = 0; k < OWN; k++)
                    if (own[w][k]) drop(own[w][k], "worker's child");
                free(new_obj(&s));
                _exit(0);
            }
            int st;
            if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
                FAIL("worker's child ended with status %#x", st);
            atomic_fetch_add(&total_forks, 1);
        }
    }
    /* Exit: publish half of the private objects (other threads will free them), free the rest. */
    for (int k = 0; k < OWN; k++) {
        if (own[w][k]) {
            if (rnd(&s) % 2) publish(&s, own[w][k]);
            else drop(own[w][k], "own at exit");
            own[w][k] = NULL;
        }
    }
    atomic_fetch_add(&total_ops, ops);
    pthread_mutex_lock(&quiet_mu);
    running--;
    pthread_cond_broadcast(&quiet_cv);
    pthread_mutex_unlock(&quiet_mu);
    atomic_store(&finished[w], 1);
    return NULL;
}

static pthread_t threads[WORKERS];

static void *warmup(void *arg) {
    free(malloc(100));
    return arg;
}

static void start_worker(int w, uint64_t *s) {
    struct wargs *a = malloc(sizeof *a);
    if (!a) FAIL("malloc");
    a->idx = w;
    a->seed = rnd(s) | 1;
    atomic_store(&finished[w], 0);
    int e = pthread_create(&threads[w], NULL, worker, a);
    if (e) FAIL("pthread_create: %s", strerror(e));
    atomic_fetch_add(&total_threads, 1);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static long resident_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &res) != 2) FAIL("reading /proc/self/statm");
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Runs while the workers churn: the child sees a frozen copy of every slot. */
static void fork_check(uint64_t *s) {
    pid_t pid = fork();
    if (pid < 0) FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        alarm(20);
        uint64_t seen = 0;
        for (int k = 0; k < SLOTS; k++) {
            struct obj *o = atomic_load(&slots[k]);
            if (o) {
                verify(o, "in fork child");
                seen++;
                if (k % 3 == 0) {
                    free(o); /* often a block another (now absent) thread's cache owns */
                    slots[k] = NULL;
                }
            }
        }
        for (int i = 0; i < 200; i++) publish(s, new_obj(s));
        for (int i = 0; i < 20; i++) burst(s);
        malloc_trim(0);
        (void)seen;
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) FAIL("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        FAIL("fork child ended with %s %d", WIFSIGNALED(st) ? "signal" : "status",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    atomic_fetch_add(&total_forks, 1);
    atomic_fetch_add(&total_children, 1);
}

/* Stops every worker, checks every live object in place, the statistics and the heap. */
static void quiet_point(void) {
    pthread_mutex_lock(&quiet_mu);
    __atomic_store_n(&pause_req, 1, __ATOMIC_RELAXED);
    while (paused < running) pthread_cond_wait(&quiet_cv, &quiet_mu);
    uint64_t live = 0, n = 0;
    for (int k = 0; k < SLOTS; k++) {
        struct obj *o = atomic_load(&slots[k]);
        if (o) {
            verify(o, "at quiet point");
            live += o->size;
            n++;
        }
    }
    for (int w = 0; w < WORKERS; w++)
        for (int k = 0; k < OWN; k++)
            if (own[w][k]) {
                verify(own[w][k], "own at quiet point");
                live += own[w][k]->size;
                n++;
            }
    struct mallinfo2 mi = mallinfo2();
    if (under_oxalloc && mi.uordblks < live)
        FAIL("mallinfo2().uordblks = %zu < %llu bytes in %llu live objects", mi.uordblks,
             (unsigned long long)live, (unsigned long long)n);
    if (oxalloc_check && oxalloc_check() != 0) FAIL("oxalloc_check() failed at a quiet point");
    atomic_fetch_add(&total_quiet, 1);
    __atomic_store_n(&pause_req, 0, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&quiet_cv);
    pthread_mutex_unlock(&quiet_mu);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 20;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
    seed |= 1;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);

    const char *e;
    if ((e = getenv("STRESS_FORKS"))) opt_forks = atoi(e);
    if ((e = getenv("STRESS_EXITS"))) opt_exits = atoi(e);
    if ((e = getenv("STRESS_REMOTE"))) opt_remote = atoi(e);
    under_oxalloc = dlsym(RTLD_DEFAULT, "mymalloc") != NULL;
    oxalloc_check = (int (*)(void))dlsym(RTLD_DEFAULT, "oxalloc_check");
    printf("stress: %d threads, %.0f s, seed %#llx, under %s; forks %s, thread exits %s, "
           "cross-thread frees %s\n",
           WORKERS, secs, (unsigned long long)seed, under_oxalloc ? "oxalloc" : "another malloc",
           opt_forks ? "on" : "off", opt_exits ? "on" : "off", opt_remote ? "on" : "off");
    printf("heap checker: %s\n",
           oxalloc_check ? "oxalloc_check() at every quiet point"
                         : "not exported (no oxalloc_check symbol): quiet points check objects and mallinfo2 only");
    fflush(stdout);

    /* The baseline, once stdio and the thread library have made their own allocations: one
     * thread started and joined first. */
    {
        pthread_t t;
        if (pthread_create(&t, NULL, warmup, NULL) || pthread_join(t, NULL)) FAIL("warm-up thread");
    }
    malloc_trim(0);
    struct mallinfo2 mi0 = mallinfo2();
    void *brk0 = sbrk(0);
    long rss0 = resident_kib();

    uint64_t s = seed;
    double t0 = now(), deadline = t0 + secs, next_fork = t0 + 0.1, next_quiet = t0 + 1.0;
    for (int w = 0; w < WORKERS; w++) start_worker(w, &s);
    while (now() < deadline) {
        for (int w = 0; w < WORKERS; w++) {
            if (atomic_load(&finished[w])) {
                int e = pthread_join(threads[w], NULL);
                if (e) FAIL("pthread_join: %s", strerror(e));
                start_worker(w, &s);
            }
        }
        double t = now();
        if (opt_forks && t >= next_fork) {
            fork_check(&s);
            next_fork = t + 0.2;
        }
        if (t >= next_quiet) {
            quiet_point();
            next_quiet = t + 2.0;
        }
        usleep(2000);
    }
    atomic_store(&stop, 1);
    for (int w = 0; w < WORKERS; w++) {
        int e = pthread_join(threads[w], NULL);
        if (e) FAIL("pthread_join: %s", strerror(e));
    }
    double t1 = now();
    quiet_point();

    struct mallinfo2 mi_peak = mallinfo2();
    uint64_t left = 0;
    for (int k = 0; k < SLOTS; k++) {
        struct obj *o = atomic_exchange(&slots[k], NULL);
        if (o) {
            drop(o, "at the end");
            left++;
        }
    }
    if (oxalloc_check && oxalloc_check() != 0) FAIL("oxalloc_check() failed at the end");
    malloc_trim(0);
    struct mallinfo2 mi1 = mallinfo2();
    void *brk1 = sbrk(0);
    long rss1 = resident_kib();

    unsigned long ops = atomic_load(&total_ops);
    printf("ops: %lu in %.1f s (%.0f ops/s), %lu threads started, %lu forks (%lu checked children), "
           "%lu quiet points, %llu objects freed at the end\n",
           ops, t1 - t0, ops / (t1 - t0), atomic_load(&total_threads), atomic_load(&total_forks),
           atomic_load(&total_children), atomic_load(&total_quiet), (unsigned long long)left);
    printf("mallinfo2 in-use bytes: start %zu, before the final frees %zu, end %zu (arena %zu, "
           "peak %zu)\n",
           mi0.uordblks, mi_peak.uordblks, mi1.uordblks, mi1.arena, mi1.usmblks);
    long dbrk = (char *)brk1 - (char *)brk0;
    printf("break: start %p, end %p (%+ld KiB)\n", brk0, brk1, dbrk / 1024);
    printf("resident: start %ld KiB, end %ld KiB (%+ld KiB)\n", rss0, rss1, rss1 - rss0);
    printf("--- malloc_stats()\n");
    fflush(stdout);
    malloc_stats();
    fflush(stderr);
    printf("---\n");
    fflush(stdout);

    int bad = 0;
    /* Everything this program allocated is freed; what is left is the C library's own state,
     * made lazily during the run (stdio buffers, thread bookkeeping): a few KiB at most. */
    if (mi1.uordblks > mi0.uordblks + (64 << 10)) {
        printf("%s: in-use bytes not back to the start: %zu now, %zu at the start\n",
               under_oxalloc ? "FAIL" : "note", mi1.uordblks, mi0.uordblks);
        bad |= under_oxalloc;
    }
    /* The break comes down unless one of those few live blocks sits near the top of the heap;
     * resident memory (below) must come back in any case: free pages are given back. */
    if (dbrk > (4l << 20) || dbrk < -(4l << 20))
        printf("note: the break moved by %+ld KiB (a live block pins the top of the heap)\n", dbrk / 1024);
    if (rss1 - rss0 > 64l << 10) {
        printf("FAIL: resident memory grew by %ld KiB (more than 64 MiB)\n", rss1 - rss0);
        bad = 1;
    }
    if (bad) return 1;
    printf("stress ok\n");
    return 0;
}
