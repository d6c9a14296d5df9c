/* Heap misuse cases for oxalloc's misuse detection (tests/misuse.rs runs each one in a child).
 *
 *   ./misuse <case>      runs one case;   ./misuse --list   prints every case name
 *
 * Each case sets up its misuse, prints `addr 0x...` (the pointer it is about to pass, which is
 * the address the allocator must name) on stdout, then commits the misuse exactly once. If the
 * process survives, it prints `NOT DETECTED` and exits 0. A case whose setup does not come out
 * as intended (e.g. two blocks that should be neighbours are not) prints `SETUP FAILED: ...` and
 * exits 2, so that a test never judges a misuse that did not happen.
 *
 * The expected message of every case (kind, address, function) is listed in tests/misuse.rs.
 * Built with `gcc -O0 -fno-builtin -pthread`; it runs under glibc's malloc as well (the classic
 * `my*` names are looked up with dlsym, and a case that needs them exits 3 when they are missing).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Defeats any optimisation across the misuse (the program is built at -O0 anyway). */
static void *volatile sink;
#define OPAQUE(p) (sink = (void *)(p), (void *)sink)

static void addr(const void *p) { printf("addr %p\n", p); }

static void survived(void) {
    printf("NOT DETECTED\n");
    exit(0);
}

static void setup_failed(const char *why) {
    printf("SETUP FAILED: %s\n", why);
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) setup_failed("malloc returned NULL");
    memset(p, 0x5a, n);
    return p;
}

/* ---- double frees ---------------------------------------------------------------------- */

static void double_free_immediate(void) {
    char *p = xmalloc(64);
    free(p);
    addr(p);
    free(OPAQUE(p));
}

/* Other mallocs and frees between the two frees; p's neighbours stay in use (so p is never
 * merged) and no request in between is small enough to be served by p's block. */
static void double_free_delayed(void) {
    char *before = xmalloc(64), *p = xmalloc(64), *after = xmalloc(64);
    free(p);
    void *keep[64];
    for (int i = 0; i < 64; i++) keep[i] = xmalloc(96 + (size_t)i * 61);
    for (int i = 0; i < 64; i += 2) free(keep[i]);
    for (int i = 0; i < 32; i++) free(xmalloc(200 + (size_t)i * 300));
    void *big = xmalloc(200000);
    free(big);
    for (int i = 1; i < 64; i += 2) {
        char *q = keep[i];
        if (p >= q && p < q + malloc_usable_size(q)) setup_failed("p was handed out again");
    }
    addr(p);
    free(OPAQUE(p));
    (void)before, (void)after;
}

/* 1 MiB: above every thread-cache class, merged and madvised when freed. Nothing follows it, so
 * the first free gives it back to the top of the heap (and perhaps the kernel). */
static void double_free_large(void) {
    char *p = xmalloc(1 << 20);
    free(p);
    addr(p);
    free(OPAQUE(p));
}

/* 100 MiB: a mapping of its own, unmapped by the first free. */
static void double_free_huge(void) {
    char *p = xmalloc(100 << 20);
    free(p);
    addr(p);
    free(OPAQUE(p));
}

/* Hardened mode: a huge block freed, a block of the same size allocated (the kernel would hand
 * the same addresses back if the first were unmapped), then the first freed again: the
 * quarantine still holds it, so it is a double free, not a free of the new block. */
static void double_free_huge_reused_hardened(void) {
    char *p = xmalloc(100 << 20);
    free(p);
    char *q = xmalloc(100 << 20);
    q[0] = 1;
    addr(p);
    free(OPAQUE(p));
}

static void double_free_small_cached(void) {
    char *p = xmalloc(16);
    free(p);
    addr(p);
    free(OPAQUE(p));
}

/* A freed small block written over (its first word is the list link): the next malloc of its
 * size, which would take the block and hand out whatever the link now says, stops instead. */
static void write_after_free_small(void) {
    char *p = xmalloc(24);
    free(p);
    addr(p);
    memset(OPAQUE(p), 'A', 24);
    char *q = malloc(24);
    char *r = malloc(24);
    printf("got %p %p\n", (void *)q, (void *)r);
}

/* The same with zeros (a program clearing a block it already freed). */
static void write_after_free_zeroed(void) {
    char *p = xmalloc(200);
    free(p);
    addr(p);
    memset(OPAQUE(p), 0, 200);
    char *q = malloc(200);
    char *r = malloc(200);
    printf("got %p %p\n", (void *)q, (void *)r);
}

/* In a process with threads, the groups a bin gives back stack up in its cache's stash, each
 * group's first block linking the next through its second word. Blocks of 16,000 bytes (a bin of
 * one block and a spare of one): of four freed, the first two go onto the stash, the second on
 * top. That block written after its free (its second word): the third malloc, which takes the
 * stash's top group, stops instead of following the link. */
static void *no_op(void *arg) { return arg; }
static void write_after_free_stash(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, no_op, NULL) != 0 || pthread_join(t, NULL) != 0)
        setup_failed("pthread");
    char *b[4];
    for (int i = 0; i < 4; i++) b[i] = xmalloc(16000);
    for (int i = 0; i < 4; i++) free(b[i]);
    addr(b[1]);
    memset((char *)OPAQUE(b[1]) + 8, 'A', 8);
    char *q = malloc(16000);
    char *r = malloc(16000);
    char *s = malloc(16000);
    printf("got %p %p %p\n", (void *)q, (void *)r, (void *)s);
}

/* The classic names, which allocate from the heap alone (no thread cache). */
static void *(*my_malloc)(size_t);
static void (*my_free)(void *);
static void classic_names(void) {
    my_malloc = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "mymalloc");
    my_free = (void (*)(void *))dlsym(RTLD_DEFAULT, "myfree");
    if (!my_malloc || !my_free) setup_failed("mymalloc/myfree");
}

/* A free block the heap holds (a fence keeps it from merging with the top), written over:
 * the heap's next allocation from its list would follow the overwritten links. */
static void write_after_free_heap(void) {
    classic_names();
    char *p = my_malloc(3000);
    char *fence = my_malloc(16);
    if (!p || !fence) setup_failed("mymalloc");
    my_free(p);
    addr(p);
    memset(OPAQUE(p), 'A', 64);
    char *q = my_malloc(3000);
    printf("got %p\n", (void *)q);
}

/* The same with zeros, in a block that is not the head of its list when it is taken: its
 * null prev link says it is. (The list's head is a smaller block of the same size range, which
 * the request skips.) */
static void write_after_free_heap_zeroed(void) {
    classic_names();
    char *a = my_malloc(3000);
    char *f1 = my_malloc(16);
    char *b = my_malloc(2600);
    char *f2 = my_malloc(16);
    if (!a || !f1 || !b || !f2) setup_failed("mymalloc");
    my_free(a);
    my_free(b); /* b is the list's head, a the second */
    addr(a);
    memset(OPAQUE(a), 0, 64);
    char *q = my_malloc(3000);
    printf("got %p\n", (void *)q);
}

/* 1000 blocks of 40 bytes, then all freed: their bin overflows again and again (48 KB, too
 * little for a bulk free phase: see alloc_bulk). */
static void alloc_1000(char **blocks) {
    for (int i = 0; i < 1000; i++) blocks[i] = xmalloc(40);
}
static void free_1000(char **blocks) {
    for (int i = 0; i < 1000; i++) free(blocks[i]);
}

/* Enough blocks of 1000 bytes (3 MB) that freeing them all starts a bulk free phase (after the
 * first 2 MiB). */
enum { BULK = 3000 };
static void alloc_bulk(char **blocks) {
    for (int i = 0; i < BULK; i++) blocks[i] = xmalloc(1000);
}
static void free_bulk(char **blocks) {
    for (int i = 0; i < BULK; i++) free(blocks[i]);
}

/* p's bin overflows: p goes back to the heap's deferred groups (unmerged, linked) with the
 * older half of the bin; the second free must still be caught. */
static void double_free_deferred(void) {
    char *blocks[1000];
    alloc_1000(blocks);
    free_1000(blocks);
    char *p = blocks[0];
    addr(p);
    free(OPAQUE(p));
}

/* A thread freeing in bulk takes each block in 32 frees later (header and first word prefetched): a double
 * free in such a phase is found before the next malloc can hand the block out twice. */
static void double_free_bulk_phase(void) {
    char *blocks[BULK];
    alloc_bulk(blocks);
    char *p = blocks[BULK - 10];
    addr(p); /* (before the frees: printing may allocate, which ends the phase) */
    free_bulk(blocks);
    free(OPAQUE(p));
    char *a = malloc(40), *b = malloc(40);
    if (a == b) printf("handed out twice\n");
}

static void double_free_calloc(void) {
    char *p = calloc(10, 10);
    if (!p) setup_failed("calloc");
    free(p);
    addr(p);
    free(OPAQUE(p));
}

static void double_free_memalign(void) {
    void *p;
    if (posix_memalign(&p, 4096, 100)) setup_failed("posix_memalign");
    free(p);
    addr(p);
    free(OPAQUE(p));
}

/* realloc(p, 0) frees p (glibc's and oxalloc's choice) and returns NULL: p is gone. */
static void double_free_realloc_zero(void) {
    char *p = xmalloc(100);
    void *r = realloc(p, 0);
    if (r) setup_failed("realloc(p, 0) did not free p");
    addr(p);
    free(OPAQUE(p));
}

/* The classic free after realloc moved the block: the old pointer was freed by realloc. */
static void free_after_realloc_moved(void) {
    char *p = xmalloc(32);
    char *guard = xmalloc(32); /* so p cannot grow in place */
    char *q = realloc(p, 4000);
    if (!q) setup_failed("realloc");
    if (q == p) setup_failed("realloc did not move");
    addr(p);
    free(OPAQUE(p));
    (void)guard;
}

/* realloc moved p and freed its old block into the heap, where it merged with the free block
 * before it: p's header is left inside that free block. A second free of p must still be told
 * from a free of a live block (and the old header, which named p's thread cache, must not send
 * it down the cache's fast path). */
static char *moved_into_merged(void) {
    char *a = xmalloc(200), *p = xmalloc(200), *guard = xmalloc(200);
    if (p != a + 208 || guard != p + 208) setup_failed("a, p, guard are not neighbours");
    free(a);
    malloc_trim(0); /* a's block goes from the thread's cache into the heap */
    char *q = realloc(p, 5000);
    if (!q) setup_failed("realloc");
    if (q == p) setup_failed("realloc did not move");
    (void)guard;
    return p;
}

static void free_after_realloc_moved_merged(void) {
    char *p = moved_into_merged();
    addr(p);
    free(OPAQUE(p));
}

static void realloc_after_realloc_moved_merged(void) {
    char *p = moved_into_merged();
    addr(p);
    void *r = realloc(OPAQUE(p), 40);
    (void)r;
}

/* Neighbouring cached blocks freed into the heap together are joined into one block before it
 * merges; the last one's first word then holds the joined free block's footer (a 16-byte block
 * has no other payload word), not a list link. A second free of it must not pass as live. */
static void free_after_flush_joined_tiny(void) {
    char *a = xmalloc(8), *b = xmalloc(8), *c = xmalloc(8), *d = xmalloc(8);
    if (b != a + 16 || c != b + 16 || d != c + 16) setup_failed("a, b, c, d are not neighbours");
    free(a);
    free(b);
    free(c);
    malloc_trim(0); /* the cache's blocks go into the heap, a b c joined */
    addr(c);
    free(OPAQUE(c));
    (void)d;
}

/* b was freed into the top chunk, then a, the block before it, grew in place over it: a second
 * free of b points into the middle of the live a. malloc_trim takes a small b out of its thread
 * cache (a medium one went into the heap already in a single-threaded program). */
static void free_after_top_merge_grown_over_of(size_t na, size_t nb) {
    char *a = xmalloc(na), *b = xmalloc(nb);
    size_t sa = malloc_usable_size(a) + 8, sb = malloc_usable_size(b) + 8;
    if (b != a + sa) setup_failed("a and b are not neighbours");
    free(b);
    malloc_trim(0);
    char *a2 = realloc(a, sa + sb - 8);
    if (a2 != a) setup_failed("a did not grow in place");
    addr(b);
    free(OPAQUE(b));
}

static void free_after_top_merge_grown_over(void) { free_after_top_merge_grown_over_of(5000, 5000); }

static void free_after_top_merge_grown_over_small(void) { free_after_top_merge_grown_over_of(1000, 200); }

/* The heap gave the top back to the kernel with brk after everything above `keep` was freed: a
 * second free of a block that was up there points into memory the process no longer has. It
 * must be reported, not read (the thread's cache range had been widened over it by a refill). */
static void free_after_trim_given_back(void) {
    enum { N = 200 };
    static char *v[N];
    for (int i = 0; i < N; i++) v[i] = xmalloc(20000);
    free(v[0]);
    /* A small block (carved where v[0] was): its cache's refill sets its range to the heap's. */
    char *keep = xmalloc(100);
    if ((uintptr_t)keep > (uintptr_t)v[1]) setup_failed("the small block is not below the others");
    uintptr_t brk_before = (uintptr_t)sbrk(0);
    for (int i = N - 1; i >= 1; i--) free(v[i]);
    if ((uintptr_t)sbrk(0) >= brk_before) setup_failed("the heap did not shrink");
    if ((uintptr_t)v[N - 1] < (uintptr_t)sbrk(0)) setup_failed("the last block is still below the break");
    addr(v[N - 1]);
    free(OPAQUE(v[N - 1]));
    (void)keep;
}

/* The same in another thread: its cache's range was set (by a refill) while the blocks were
 * there, and the main thread's trim gave their pages back. The second free happens in that
 * thread, whose fast path must not read the header from the unmapped page. */
static pthread_mutex_t trim_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t trim_cv = PTHREAD_COND_INITIALIZER;
static int trim_stage;
static char *trim_victim, *trim_first;

static void trim_wait_for(int stage) {
    pthread_mutex_lock(&trim_mu);
    while (trim_stage < stage) pthread_cond_wait(&trim_cv, &trim_mu);
    pthread_mutex_unlock(&trim_mu);
}

static void trim_go(int stage) {
    pthread_mutex_lock(&trim_mu);
    trim_stage = stage;
    pthread_cond_broadcast(&trim_cv);
    pthread_mutex_unlock(&trim_mu);
}

/* Frees v[n - 1] down to v[from], trims, and checks that the break came down below v[n - 1]
 * (the second free's victim, which the case then hands to the freeing thread). */
static void free_top_and_trim(char **v, int from, int n) {
    uintptr_t brk_before = (uintptr_t)sbrk(0);
    for (int i = n - 1; i >= from; i--) free(v[i]);
    malloc_trim(0);
    if ((uintptr_t)sbrk(0) >= brk_before) setup_failed("the heap did not shrink");
    if ((uintptr_t)v[n - 1] < (uintptr_t)sbrk(0)) setup_failed("the last block is still below the break");
    trim_victim = v[n - 1];
}

static void *refill_then_free_given_back(void *arg) {
    (void)arg;
    char *mine = xmalloc(48); /* a refill: this cache's range is the heap's, over the blocks */
    if ((uintptr_t)mine > (uintptr_t)trim_first) setup_failed("the thread's block is not below the others");
    trim_go(1);
    trim_wait_for(2);
    addr(trim_victim);
    free(OPAQUE(trim_victim));
    survived();
    (void)mine;
    return NULL;
}

static void free_after_trim_given_back_other_thread(void) {
    enum { N = 60 };
    static char *v[N];
    /* A free fragment below the blocks, for the thread's refill (the top lies above them). */
    char *hole = xmalloc(5000);
    char *guard = xmalloc(100);
    /* Above the medium bins (64 KiB): freed, they go to the heap even with threads. */
    for (int i = 0; i < N; i++) v[i] = xmalloc(100000);
    free(hole);
    trim_first = v[0];
    pthread_t t;
    pthread_create(&t, NULL, refill_then_free_given_back, NULL);
    trim_wait_for(1);
    free_top_and_trim(v, 0, N);
    trim_go(2);
    pthread_join(t, NULL);
    (void)guard;
}

/* A cache's range can reach above the process-wide one: a refill from another cache's deferred
 * group sets it to the heap's bounds of the moment without touching the process-wide range. B
 * carves its first blocks; C fills a bin and exits, so its blocks become deferred groups; the
 * main thread grows the heap with large blocks; B refills from C's group (its range now covers
 * the large blocks); the main thread frees the top ones and trims, which leaves the break above
 * the process-wide range's end. B's second free of the last block must find it outside its range
 * all the same (a trim lowers every cache's range, however it compares with the process-wide one). */
enum { GROUP_SIZE = 200, GROWN = 40 };
static char *group_grown[GROWN];

static void *fill_a_bin_and_exit(void *arg) {
    (void)arg;
    void *p[400];
    for (int i = 0; i < 400; i++) p[i] = xmalloc(GROUP_SIZE);
    for (int i = 0; i < 400; i++) free(p[i]);
    for (int i = 0; i < 40; i++) p[i] = xmalloc(GROUP_SIZE);
    for (int i = 0; i < 40; i++) free(p[i]);
    /* Alive while the heap grows (an exited thread's groups would be merged before growth). */
    trim_go(2);
    trim_wait_for(3);
    return NULL;
}

static void *refill_from_group_then_free(void *arg) {
    (void)arg;
    sink = xmalloc(48); /* a carving refill: the range is the heap's now */
    trim_go(1);
    trim_wait_for(4);
    sink = xmalloc(GROUP_SIZE); /* a refill from the exited thread's group: the grown heap's */
    trim_go(5);
    trim_wait_for(6);
    addr(trim_victim);
    free(OPAQUE(trim_victim));
    survived();
    return NULL;
}

/* Stages: 1 B carved, 2 C filled its bin, 3 the heap grew (C may exit), 4 C exited (B may
 * refill), 5 B refilled, 6 the heap was trimmed (B may free). */
static void free_after_trim_given_back_group_refill(void) {
    sink = xmalloc(32);
    pthread_t b, c;
    pthread_create(&b, NULL, refill_from_group_then_free, NULL);
    trim_wait_for(1);
    pthread_create(&c, NULL, fill_a_bin_and_exit, NULL);
    trim_wait_for(2);
    for (int i = 0; i < GROWN; i++) group_grown[i] = xmalloc(100000);
    trim_go(3);
    pthread_join(c, NULL);
    trim_go(4);
    trim_wait_for(5);
    free_top_and_trim(group_grown, GROWN / 2 + 1, GROWN);
    trim_go(6);
    pthread_join(b, NULL);
}

/* Thread A (main) allocates, thread B frees twice (while A is alive). */
static void *free_twice(void *arg) {
    free(arg);
    addr(arg);
    free(OPAQUE(arg));
    survived();
    return NULL;
}

static void double_free_other_thread(void) {
    char *p = xmalloc(64);
    pthread_t t;
    pthread_create(&t, NULL, free_twice, p);
    pthread_join(t, NULL);
}

/* A medium block (3000 bytes) in a process with threads: it sits in the thread's medium bin
 * after the first free; the second is caught there. */
static void *nothing(void *arg) { return arg; }
static void double_free_medium_cached(void) {
    pthread_t t;
    pthread_create(&t, NULL, nothing, NULL);
    pthread_join(t, NULL);
    char *p = xmalloc(3000);
    free(p);
    addr(p);
    free(OPAQUE(p));
}

/* Thread A (main) allocates, thread B frees and stays alive, then A frees again. */
static _Atomic int b_freed;
static void *free_once_and_wait(void *arg) {
    free(arg);
    b_freed = 1;
    for (;;) pause();
    return NULL;
}

static void double_free_other_thread_back(void) {
    char *p = xmalloc(64);
    pthread_t t;
    pthread_create(&t, NULL, free_once_and_wait, p);
    while (!b_freed) usleep(100);
    addr(p);
    free(OPAQUE(p));
}

/* Thread B allocates and frees, then exits (its cache goes back); main frees again. */
static void *alloc_free_exit(void *arg) {
    char *p = xmalloc(48);
    free(p);
    *(void **)arg = p;
    return NULL;
}

static void double_free_thread_exited(void) {
    void *p = NULL;
    pthread_t t;
    pthread_create(&t, NULL, alloc_free_exit, &p);
    pthread_join(t, NULL);
    addr(p);
    free(OPAQUE(p));
}

/* Thread B allocates and exits; main frees the block (it adopts a dead thread's block) and
 * frees it again. */
static void *alloc_exit(void *arg) {
    *(void **)arg = xmalloc(48);
    return NULL;
}

static void double_free_adopted(void) {
    void *p = NULL;
    pthread_t t;
    pthread_create(&t, NULL, alloc_exit, &p);
    pthread_join(t, NULL);
    addr(p);
    free(p);
    free(OPAQUE(p));
}

/* Double free in a child after fork; the parent dies of the child's signal. */
static void double_free_fork_child(void) {
    char *p = xmalloc(64);
    addr(p);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) setup_failed("fork");
    if (pid == 0) {
        free(p);
        free(OPAQUE(p));
        survived();
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) setup_failed("waitpid");
    if (WIFSIGNALED(st)) {
        signal(WTERMSIG(st), SIG_DFL);
        raise(WTERMSIG(st));
    }
    exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

/* b is freed and merged with both neighbours; then b (now the middle of a free span, its old
 * header still there) is freed again. 2000 bytes: above the thread-cache classes. */
static void free_into_merged_span(void) {
    char *a = xmalloc(2000), *b = xmalloc(2000), *c = xmalloc(2000), *guard = xmalloc(2000);
    if (b != a + 2016 || c != b + 2016) setup_failed("a, b, c are not neighbours");
    free(a);
    free(c);
    free(b);
    addr(b);
    free(OPAQUE(b));
    (void)guard;
}

/* Classic names (oxalloc.h): looked up at run time so the program also runs under glibc. */
static void myfree_double(void) {
    void *(*mymalloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "mymalloc");
    void (*myfree)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "myfree");
    if (!mymalloc || !myfree) {
        printf("UNSUPPORTED: no mymalloc/myfree\n");
        exit(3);
    }
    char *p = mymalloc(40);
    if (!p) setup_failed("mymalloc");
    myfree(p);
    addr(p);
    myfree(OPAQUE(p));
}

/* ---- pointers never handed out ---------------------------------------------------------- */

static void free_stack(void) {
    char buf[256] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    addr(buf + 64);
    free(OPAQUE(buf + 64));
}

static char global_buf[4096] __attribute__((aligned(16)));

static void free_global(void) {
    addr(global_buf + 64);
    free(OPAQUE(global_buf + 64));
}

/* A bulk free phase (see double_free_bulk_phase), then a pointer outside the heap: the ring
 * does not take it, it is found at once. */
static void free_global_bulk_phase(void) {
    char *blocks[BULK];
    alloc_bulk(blocks);
    addr(global_buf + 64);
    free_bulk(blocks);
    free(OPAQUE(global_buf + 64));
}

/* A bulk free phase, then an interior pointer of a live block (in the heap's range, 16-aligned:
 * the ring takes it), and the process ends right after: found at exit, as the ring is freed. */
static void free_interior_bulk_phase(void) {
    char *live = xmalloc(256);
    char *blocks[BULK];
    alloc_bulk(blocks);
    addr(live + 16);
    free_bulk(blocks);
    free(OPAQUE(live + 16));
}

static void free_small_int(void) {
    addr((void *)8);
    free(OPAQUE(8));
}

/* A wild pointer far above user space (kernel half). */
static void free_wild_high(void) {
    void *p = (void *)0xffff800000001010ull;
    addr(p);
    free(OPAQUE(p));
}

static void free_other_mapping(void) {
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) setup_failed("mmap");
    addr(m);
    free(OPAQUE(m));
}

/* Another allocator's memory: a mapping holding blocks with plausible one-word headers (an
 * in-use 64-byte block followed by another), as a bump allocator of the same design would
 * write them. Only a check of where the pointer lies can tell it is not oxalloc's. */
static void free_foreign_fake_header(void) {
    char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) setup_failed("mmap");
    char *p = m + 4096;
    ((uint64_t *)p)[-1] = 64 | 3;    /* size 64, in use, previous in use */
    ((uint64_t *)(p + 56))[0] = 64 | 3; /* the next block's header */
    memset(p, 0x11, 56);
    addr(p);
    free(OPAQUE(p));
}

static void free_interior(void) {
    char *p = xmalloc(256);
    addr(p + 16);
    free(OPAQUE(p + 16));
}

static void free_misaligned(void) {
    char *p = xmalloc(64);
    addr(p + 1);
    free(OPAQUE(p + 1));
}

static void free_interior_aligned(void) {
    void *v;
    if (posix_memalign(&v, 64, 256)) setup_failed("posix_memalign");
    char *p = v;
    memset(p, 0x5a, 256);
    addr(p + 64);
    free(OPAQUE(p + 64));
}

/* An interior pointer whose preceding word was written by the program to look exactly like an
 * in-use header (size 64, flags 3), with a plausible next header 64 bytes on. */
static void free_interior_fake_header(void) {
    char *p = xmalloc(512);
    uint64_t *w = (uint64_t *)p;
    w[1] = 64 | 3;      /* "header" of p + 16 */
    w[1 + 8] = 64 | 3;  /* "header" of p + 80 */
    addr(p + 16);
    free(OPAQUE(p + 16));
}

/* ---- realloc ----------------------------------------------------------------------------- */

static void realloc_freed(void) {
    char *p = xmalloc(64);
    free(p);
    addr(p);
    void *q = realloc(OPAQUE(p), 128);
    (void)q;
}

static void realloc_freed_large(void) {
    char *p = xmalloc(300000);
    char *guard = xmalloc(64);
    free(p);
    addr(p);
    void *q = realloc(OPAQUE(p), 400000);
    (void)q, (void)guard;
}

static void realloc_invalid(void) {
    char buf[128] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    addr(buf + 32);
    void *q = realloc(OPAQUE(buf + 32), 100);
    (void)q;
}

static void realloc_interior(void) {
    char *p = xmalloc(256);
    addr(p + 32);
    void *q = realloc(OPAQUE(p + 32), 512);
    (void)q;
}

/* ---- header overwritten by an overflow from the block before --------------------------- */

/* Two neighbouring malloc(24) blocks (p, q) with q right after p's usable bytes. */
static void neighbours24(char **pp, char **qq) {
    char *v[16];
    for (int i = 0; i < 16; i++) v[i] = xmalloc(24);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            if (v[j] == v[i] + malloc_usable_size(v[i]) + 8) {
                *pp = v[i];
                *qq = v[j];
                return;
            }
    setup_failed("no two malloc(24) blocks are neighbours");
}

/* Writes 16 bytes past p's usable size: over q's header and q's first 8 bytes. */
static void overflow16(char *p) { memset(p + malloc_usable_size(p), 'A', 16); }

static void overflow_into_next_header_free_next(void) {
    char *p, *q;
    neighbours24(&p, &q);
    overflow16(p);
    addr(q);
    free(OPAQUE(q));
}

static void overflow_free_first(void) {
    char *p, *q;
    neighbours24(&p, &q);
    overflow16(p);
    /* The overflowing block goes first (a thread cache may take it back without looking at its
     * neighbour); the damage must be reported when the neighbour is freed at the latest. */
    addr(q);
    free(OPAQUE(p));
    free(OPAQUE(q));
}

/* In the hardened mode, the canary after a block catches an overflow out of it when the block
 * itself is freed, before the neighbour is touched. */
static void overflow_canary_hardened(void) {
    char *p = xmalloc(24);
    size_t n = malloc_usable_size(p);
    memset(p, 'A', n + 8);
    addr(p);
    free(OPAQUE(p));
}

/* The classic off-by-one: a string's terminating NUL one byte past the usable size clears the
 * low byte of the next header (its size's low bits and every flag). */
static void overflow_off_by_one_nul(void) {
    char *p, *q;
    neighbours24(&p, &q);
    size_t n = malloc_usable_size(p);
    memset(p, 'x', n);
    p[n] = 0;
    addr(q);
    free(OPAQUE(q));
}

/* The same off-by-one in a larger block (outside the thread caches), the overflowing block freed. */
static void overflow_large_free_first(void) {
    char *p = xmalloc(4000), *q = xmalloc(4000), *guard = xmalloc(64);
    if (q != p + malloc_usable_size(p) + 8) setup_failed("p and q are not neighbours");
    memset(p + malloc_usable_size(p), 'B', 16);
    addr(p);
    free(OPAQUE(p));
    (void)guard;
}

/* ---- other entry points ------------------------------------------------------------------ */

static void usable_size_freed(void) {
    char *p = xmalloc(64);
    free(p);
    addr(p);
    size_t n = malloc_usable_size(OPAQUE(p));
    printf("usable %zu\n", n);
}

/* The same, for a block that waits in a bulk free phase's ring (see double_free_bulk_phase). */
static void usable_size_freed_bulk_phase(void) {
    char *blocks[BULK];
    alloc_bulk(blocks);
    addr(blocks[BULK - 1]);
    free_bulk(blocks);
    size_t n = malloc_usable_size(OPAQUE(blocks[BULK - 1]));
    printf("usable %zu\n", n);
}

static void usable_size_invalid(void) {
    char buf[64] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    addr(buf + 16);
    size_t n = malloc_usable_size(OPAQUE(buf + 16));
    printf("usable %zu\n", n);
}

/* C23's sized frees: looked up at run time (glibc 2.36 has none). */
static void (*sized_free(void))(void *, size_t) {
    void (*f)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    if (!f) {
        printf("UNSUPPORTED: no free_sized\n");
        exit(3);
    }
    return f;
}

static void (*aligned_sized_free(void))(void *, size_t, size_t) {
    void (*f)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (!f) {
        printf("UNSUPPORTED: no free_aligned_sized\n");
        exit(3);
    }
    return f;
}

static void free_sized_too_big(void) {
    void (*fs)(void *, size_t) = sized_free();
    char *p = xmalloc(40);
    addr(p);
    fs(OPAQUE(p), 4000);
}

static void free_sized_freed(void) {
    void (*fs)(void *, size_t) = sized_free();
    char *p = xmalloc(40);
    free(p);
    addr(p);
    fs(OPAQUE(p), 40);
}

/* In the hardened mode (run with OXALLOC_SECURE=1), whose own checks must name the function:
 * a pointer never handed out. */
static void free_sized_invalid_hardened(void) {
    void (*fs)(void *, size_t) = sized_free();
    free(xmalloc(16)); /* the allocator has started (and read OXALLOC_SECURE) */
    char buf[64] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    addr(buf + 16);
    fs(OPAQUE(buf + 16), 8);
}

static void free_aligned_sized_misaligned(void) {
    void (*fas)(void *, size_t, size_t) = aligned_sized_free();
    char *p = aligned_alloc(64, 64);
    if (!p || (uintptr_t)p % 4096 == 0) setup_failed("a 64-byte aligned block that is not page aligned");
    addr(p);
    fas(OPAQUE(p), 4096, 64);
}

static void free_aligned_sized_bad_alignment(void) {
    void (*fas)(void *, size_t, size_t) = aligned_sized_free();
    char *p = aligned_alloc(64, 64);
    if (!p) setup_failed("aligned_alloc");
    addr(p);
    fas(OPAQUE(p), 48, 64);
}

/* ------------------------------------------------------------------------------------------ */

struct kase {
    const char *name;
    void (*run)(void);
};

#define CASE(f) {#f, f}
static const struct kase cases[] = {
    CASE(double_free_immediate),
    CASE(double_free_delayed),
    CASE(double_free_large),
    CASE(double_free_huge),
    CASE(double_free_huge_reused_hardened),
    CASE(double_free_other_thread),
    CASE(double_free_other_thread_back),
    CASE(double_free_thread_exited),
    CASE(double_free_adopted),
    CASE(double_free_small_cached),
    CASE(double_free_deferred),
    CASE(double_free_bulk_phase),
    CASE(free_global_bulk_phase),
    CASE(free_interior_bulk_phase),
    CASE(double_free_medium_cached),
    CASE(double_free_calloc),
    CASE(double_free_memalign),
    CASE(double_free_realloc_zero),
    CASE(double_free_fork_child),
    CASE(free_after_realloc_moved),
    CASE(free_after_realloc_moved_merged),
    CASE(free_after_flush_joined_tiny),
    CASE(free_after_top_merge_grown_over),
    CASE(free_after_top_merge_grown_over_small),
    CASE(free_after_trim_given_back),
    CASE(free_after_trim_given_back_other_thread),
    CASE(free_after_trim_given_back_group_refill),
    CASE(free_into_merged_span),
    CASE(myfree_double),
    CASE(free_stack),
    CASE(free_global),
    CASE(free_small_int),
    CASE(free_wild_high),
    CASE(free_other_mapping),
    CASE(free_foreign_fake_header),
    CASE(free_interior),
    CASE(free_misaligned),
    CASE(free_interior_aligned),
    CASE(free_interior_fake_header),
    CASE(realloc_freed),
    CASE(realloc_freed_large),
    CASE(realloc_after_realloc_moved_merged),
    CASE(realloc_invalid),
    CASE(realloc_interior),
    CASE(overflow_into_next_header_free_next),
    CASE(overflow_free_first),
    CASE(overflow_canary_hardened),
    CASE(overflow_off_by_one_nul),
    CASE(overflow_large_free_first),
    CASE(write_after_free_small),
    CASE(write_after_free_zeroed),
    CASE(write_after_free_stash),
    CASE(write_after_free_heap),
    CASE(write_after_free_heap_zeroed),
    CASE(usable_size_freed),
    CASE(usable_size_freed_bulk_phase),
    CASE(usable_size_invalid),
    CASE(free_sized_too_big),
    CASE(free_sized_freed),
    CASE(free_aligned_sized_misaligned),
    CASE(free_aligned_sized_bad_alignment),
    CASE(free_sized_invalid_hardened),
};

int main(int argc, char **argv) {
    /* No core files: an abort here is the expected outcome. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: %s <case> | --list\n", argv[0]);
        return 64;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!strcmp(argv[1], "--list")) {
            printf("%s\n", cases[i].name);
        } else if (!strcmp(argv[1], cases[i].name)) {
            cases[i].run();
            survived();
        }
    }
    if (strcmp(argv[1], "--list")) {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 64;
    }
    return 0;
}
