//! The process-wide heap: one boundary-tag heap on the break, behind one lock.
//!
//! Every public face (the C ABI, [`crate::OxAlloc`]) goes through the functions here, which
//! implement the C library's contracts: `errno` on failure, `free` preserving `errno`, misuse
//! ending the process with one line on stderr.

use crate::options::Options;
use crate::source::BrkSource;
use crate::tcache;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use oxalloc_core::{heap::Config, Heap, Misuse, Stats};
use oxalloc_os as os;

/// The process heap's type.
pub type ProcessHeap = Heap<BrkSource>;

/// `repr(C)`: the lock first, on lines of its own (`tests/layout.rs` checks the static's
/// alignment), then the heap.
#[repr(C)]
struct Global {
    /// On lines of its own: waiters poll it while the holder writes the heap.
    lock: os::CachePadded<os::RawMutex>,
    heap: UnsafeCell<Heap<BrkSource>>,
}

// SAFETY: `heap` is only touched while `lock` is held (see `with_heap`).
unsafe impl Sync for Global {}

static GLOBAL: Global = Global {
    lock: os::CachePadded::new(os::RawMutex::new()),
    heap: UnsafeCell::new(Heap::new(BrkSource, Config::DEFAULT)),
};

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static STATS_FD: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(2);

/// Initialises the allocator if no call did yet.
#[inline(always)]
pub fn ensure_init() {
    if STATE.load(Ordering::Acquire) != READY {
        init();
    }
}

/// Times the heap's lock was taken by [`with_heap`].
#[used]
static LOCKED: os::CachePadded<core::sync::atomic::AtomicU64> =
    os::CachePadded::new(core::sync::atomic::AtomicU64::new(0));

/// `(times the heap's lock was taken, of which found it held, sleeps in the kernel waiting)`.
pub fn lock_counts() -> (u64, u64, u64) {
    let (c, s) = GLOBAL.lock.contention();
    (LOCKED.load(Ordering::Relaxed), c as u64, s as u64)
}

/// Processors the process may run on, read at initialisation.
static CPUS: AtomicUsize = AtomicUsize::new(1);

/// Polls of the heap's lock before a waiter sleeps while threads with a cache number at most
/// four per processor (a holder is then rarely waiting for a processor: spinning through a
/// refill under the lock is cheaper than a sleep and a wake-up), and beyond.
const SPINS_FEW_THREADS: u32 = 1024;
const SPINS_MANY_THREADS: u32 = 128;

/// Sets the heap lock's spinning for `threads` live threads (called when one starts or ends).
pub(crate) fn tune_lock(threads: usize) {
    let few = threads <= 4 * CPUS.load(Ordering::Relaxed);
    GLOBAL.lock.set_spins(if few {
        SPINS_FEW_THREADS
    } else {
        SPINS_MANY_THREADS
    });
}

/// Runs `f` with the heap locked.
#[inline(always)]
pub(crate) fn with_heap<R>(f: impl FnOnce(&mut ProcessHeap) -> R) -> R {
    // Every system call of the allocator happens in here (the futex wait, brk, mmap, madvise):
    // errno is kept, so that `free` leaves it alone on every path and a `malloc` that succeeds
    // does not change it. (Callers set ENOMEM after this returns.)
    let e = os::errno();
    ensure_init();
    GLOBAL.lock.lock();
    // Counted under the lock: a plain load and store, no atomic read-modify-write.
    LOCKED.store(LOCKED.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    // SAFETY: the lock is held, so this is the only reference to the heap.
    let h = unsafe { &mut *GLOBAL.heap.get() };
    let r = f(h);
    if h.dirty_bytes() > 0 || tcache::any_deferred() {
        purge_check(h);
    }
    if h.take_bounds_lowered() {
        tcache::note_bounds_locked(h);
    }
    // SAFETY: taken above by this thread.
    unsafe { GLOBAL.lock.unlock() };
    if MAP_PENDING.load(Ordering::Relaxed) != 0 {
        map_pending();
    }
    os::set_errno(e);
    r
}

/// Every 20 ms of heap activity (checked every 64 heap operations): the pages of large free
/// ranges go back to the kernel, after deferred cache blocks that no refill wanted for a while
/// are merged into the heap. Called with the heap locked.
#[cold]
fn purge_check(h: &mut ProcessHeap) {
    // Written under the lock on every trip: away from what other threads read (see CachePadded).
    #[used]
    static OPS: os::CachePadded<core::sync::atomic::AtomicU32> =
        os::CachePadded::new(core::sync::atomic::AtomicU32::new(0));
    #[used]
    static SINCE: os::CachePadded<core::sync::atomic::AtomicU64> =
        os::CachePadded::new(core::sync::atomic::AtomicU64::new(0));
    if !OPS.fetch_add(1, Ordering::Relaxed).is_multiple_of(64) {
        return;
    }
    let now = os::now_ms().max(1);
    let since = SINCE.load(Ordering::Relaxed);
    if since == 0 {
        SINCE.store(now, Ordering::Relaxed);
    } else if now.saturating_sub(since) >= 20 {
        tcache::purge_deferred_locked(h);
        h.purge_tick();
        SINCE.store(0, Ordering::Relaxed);
    }
}

#[cold]
fn map_pending() {
    MAP_PENDING.store(0, Ordering::Relaxed);
    with_heap(|h| write_map_locked(h));
}

/// First-call initialisation: read the options, register fork and exit handlers. Runs without
/// the lock held, so the C library may call back into malloc from here.
#[cold]
#[inline(never)]
fn init() {
    if STATE
        .compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return; // another thread (or a recursive call) is initialising; the heap is usable.
    }
    CPUS.store(os::cpu_count(), Ordering::Relaxed);
    oxalloc_core::bins::set_link_overwritten_handler(link_overwritten);
    let o = Options::from_env();
    let mut cfg = Config::DEFAULT;
    cfg.trim_threshold = o.trim_threshold;
    cfg.huge_threshold = o.huge_threshold;
    MMAP_THRESHOLD.store(o.huge_threshold, Ordering::Relaxed);
    // An interposed sbrk manages the heap on purpose (and may cap it): respect its refusals.
    cfg.map_fallback = !os::sbrk_interposed();
    cfg.lazy_advise = true;
    // Large free blocks keep their pages for about half a second of heap activity (25 purge
    // ticks of 20 ms): a block freed and allocated again within that costs no page faults.
    cfg.purge_after = 25;
    // The hardened mode ends every huge block's mapping with a guard page.
    cfg.guard_pages = o.secure;
    let secret = os::random_u64() as usize;
    tcache::set_header_secret(secret);
    GLOBAL.lock.lock();
    // SAFETY: lock held. The secret changes only while no block exists (a recursive call from
    // the C library during init may already have allocated: then the heap keeps its secret).
    unsafe {
        let h = &mut *GLOBAL.heap.get();
        h.set_config(cfg);
        if h.stats().segments == 0 && h.stats().huge_blocks == 0 {
            h.set_secret(secret);
        } else {
            tcache::set_header_secret(h.secret());
        }
    }
    // SAFETY: taken above.
    unsafe { GLOBAL.lock.unlock() };
    // SAFETY: written once here, before READY is published; read only after.
    unsafe { *OPTIONS.0.get() = o };
    tcache::init();
    if o.secure {
        crate::secure::enable();
    }
    STATE.store(READY, Ordering::Release);
    os::at_fork(fork_prepare, fork_parent, fork_child);
    if o.stats {
        // A private copy of stderr: programs often close fd 2 in their own exit handlers.
        STATS_FD.store(os::dup_stderr(), Ordering::Relaxed);
    }
    if o.stats || !o.stats_file.is_empty() || !o.map_file.is_empty() {
        os::at_exit(report_at_exit);
    }
    // Blocks the exiting thread's bulk free phase still holds are freed at exit, so that a
    // misuse among them is reported (double frees, foreign pointers) before the process ends
    // (and before the statistics, registered first, run last).
    os::at_exit(end_free_phase_at_exit);
    if !o.map_file.is_empty() {
        os::on_sigusr1(map_on_signal);
    }
    if o.verbose {
        let mut m = os::MsgBuf::new();
        m.str("oxalloc: pid ").dec(os::pid() as u64);
        m.str(" trim-threshold=").dec(o.trim_threshold as u64);
        m.str(" huge-threshold=").dec(o.huge_threshold as u64);
        m.str(" secure=").dec(o.secure as u64);
        m.str(" sbrk-interposed=")
            .dec(os::sbrk_interposed() as u64)
            .str("\n");
        m.write_stderr();
    }
}

struct OptionsCell(UnsafeCell<Options>);
// SAFETY: written once by `init` before READY is published (Release), read after (Acquire).
unsafe impl Sync for OptionsCell {}
static OPTIONS: OptionsCell = OptionsCell(UnsafeCell::new(Options::DEFAULT));

/// The options in force (the defaults before the first allocation).
pub fn options() -> Options {
    if STATE.load(Ordering::Acquire) != READY {
        return Options::DEFAULT;
    }
    // SAFETY: READY was published after the options were written.
    unsafe { *OPTIONS.0.get() }
}

/// A map was asked for by SIGUSR1 while the heap was busy: written by the next call.
static MAP_PENDING: AtomicU8 = AtomicU8::new(0);

extern "C" fn map_on_signal(_sig: i32) {
    // Never wait for the lock in a signal handler: the interrupted code may hold it.
    if GLOBAL.lock.try_lock() {
        // SAFETY: the lock is held.
        write_map_locked(unsafe { &*GLOBAL.heap.get() });
        // SAFETY: taken above.
        unsafe { GLOBAL.lock.unlock() };
    } else {
        MAP_PENDING.store(1, Ordering::Relaxed);
    }
}

#[link_section = ".text.oxalloc_cold.oxalloc.global.write_map_locked"]
#[inline(never)]
fn write_map_locked(h: &ProcessHeap) {
    let o = options();
    if let Some(fd) = crate::report::open_pattern(o.map_file) {
        crate::report::write_map(fd, h);
        os::close(fd);
    }
}

extern "C" fn end_free_phase_at_exit() {
    tcache::end_free_phase();
}

extern "C" fn report_at_exit() {
    let o = options();
    if o.stats {
        crate::report::write_stats(STATS_FD.load(Ordering::Relaxed));
    }
    if !o.stats_file.is_empty() {
        if let Some(fd) = crate::report::open_pattern(o.stats_file) {
            crate::report::write_stats(fd);
            os::close(fd);
        }
    }
    if !o.map_file.is_empty() {
        with_heap(|h| write_map_locked(h));
    }
}

/// Whether `fork_prepare` took the lock (it does not in a single-threaded process, where a
/// fork may come from a signal handler that interrupted the allocator itself).
static FORK_LOCKED: AtomicU8 = AtomicU8::new(0);

unsafe extern "C" fn fork_prepare() {
    if os::single_threaded() {
        FORK_LOCKED.store(0, Ordering::Relaxed);
    } else {
        GLOBAL.lock.lock();
        FORK_LOCKED.store(1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn fork_parent() {
    if FORK_LOCKED.load(Ordering::Relaxed) != 0 {
        // SAFETY: fork_prepare took the lock in this thread.
        unsafe { GLOBAL.lock.unlock() };
    }
}

unsafe extern "C" fn fork_child() {
    // SAFETY: in the child only this thread exists; the lock it took in prepare is reset.
    unsafe { GLOBAL.lock.reinit() };
    tcache::after_fork_child();
}

/// Ends the process after one line on stderr naming the misuse and the address.
#[cold]
#[inline(never)]
#[link_section = ".text.oxalloc_cold.oxalloc.global.misuse"]
pub fn misuse(m: Misuse, func: &str) -> ! {
    let mut msg = os::MsgBuf::new();
    let what = match m {
        Misuse::DoubleFree(_) if func.starts_with("realloc") || func.starts_with("myrealloc") => {
            "realloc of freed block"
        }
        Misuse::DoubleFree(_) if func == "malloc_usable_size" => "use of freed block",
        _ => m.what(),
    };
    msg.str("oxalloc: ")
        .str(what)
        .str(" ")
        .hex(m.addr() as u64)
        .str(" in ")
        .str(func)
        .str("()\n");
    msg.write_stderr();
    os::abort()
}

/// A panic in the library (an arithmetic overflow, an index out of bounds: a bug): one line on
/// stderr naming where, then abort. No formatting machinery and no allocation, so it works with
/// the heap locked. `liboxalloc.so`'s panic handler (it links no `std`) calls this.
#[link_section = ".text.oxalloc_cold.oxalloc.global.internal_error"]
#[inline(never)]
pub fn internal_error(file: &str, line: u32) -> ! {
    let mut msg = os::MsgBuf::new();
    msg.str("oxalloc: internal error at ")
        .str(file)
        .str(":")
        .dec(u64::from(line))
        .str("\n");
    msg.write_stderr();
    os::abort()
}

/// The heap found a free block whose list links do not point into it (the block at `p` was
/// written after its free): one line on stderr, then abort. Called with the heap locked, from
/// whichever operation reached the block.
#[link_section = ".text.oxalloc_cold.oxalloc.global.link_overwritten"]
#[inline(never)]
fn link_overwritten(p: usize) -> ! {
    let mut msg = os::MsgBuf::new();
    msg.str("oxalloc: free block ")
        .hex(p as u64)
        .str(" written after free (its list links overwritten), found in the heap's free lists\n");
    msg.write_stderr();
    os::abort()
}

/// `malloc`: `n` bytes, 16-byte aligned; null with `errno = ENOMEM` on failure. Small requests
/// come from the calling thread's cache.
#[inline(always)]
pub fn malloc(n: usize) -> *mut u8 {
    if n <= tcache::MAX_SMALL {
        let p = tcache::try_alloc(n);
        if !p.is_null() {
            return p;
        }
        return tcache::alloc_slow(n);
    }
    malloc_large(n)
}

/// `malloc` above the small sizes, out of line: the small path then needs no stack frame.
#[inline(never)]
fn malloc_large(n: usize) -> *mut u8 {
    // Medium sizes come from the thread caches once the process has threads (their point is
    // to keep threads off the heap's lock); a single-threaded program gets them from the heap,
    // where a freed block at once merges, splits and serves any smaller request.
    if n <= tcache::MAX_MEDIUM && !os::single_threaded() {
        return tcache::alloc_medium(n);
    }
    heap_alloc(n, 16)
}

/// Allocates `n` bytes aligned to `align` (a power of two); null with `errno = ENOMEM` on
/// failure. Alignments up to 16 with small sizes use the thread cache.
#[inline]
pub fn alloc(n: usize, align: usize) -> *mut u8 {
    if align <= 16 {
        return malloc(n);
    }
    heap_alloc(n, align)
}

/// Allocates from the shared heap (under its lock). Before the heap grows, the calling thread's
/// cached blocks go back to it, so they can merge and serve the request.
pub fn heap_alloc(n: usize, align: usize) -> *mut u8 {
    ensure_init();
    // The blocks a bulk free phase holds back are freed first: they may serve this request.
    tcache::end_free_phase();
    if crate::secure::on() {
        return crate::secure::alloc(n, align);
    }
    raw_heap_alloc(n, align)
}

/// [`heap_alloc`] without the hardened mode's additions.
pub fn raw_heap_alloc(n: usize, align: usize) -> *mut u8 {
    let p = with_heap(|h| {
        let p = tcache::with_growth_policy(h, |h| {
            // SAFETY: align is a power of two (callers).
            let p = unsafe { h.alloc(n, align) };
            (!p.is_null()).then_some(p)
        });
        if p.is_some() {
            tcache::cover_heap_locked(h);
        }
        p
    })
    .unwrap_or(core::ptr::null_mut());
    if p.is_null() {
        os::set_errno(os::ENOMEM);
    }
    p
}

/// Allocates `nmemb * size` zeroed bytes; null with `ENOMEM` on overflow or failure. `classic`
/// allocates from the shared heap only (the `my*` face), else as [`alloc`].
#[inline]
pub fn calloc(nmemb: usize, size: usize, align: usize, classic: bool) -> *mut u8 {
    let Some(n) = nmemb.checked_mul(size) else {
        os::set_errno(os::ENOMEM);
        return core::ptr::null_mut();
    };
    let p = if classic {
        heap_alloc(n, align)
    } else {
        alloc(n, align)
    };
    // SAFETY: p is null or a fresh in-use block.
    if !p.is_null() && unsafe { oxalloc_core::heap::is_huge(p as usize) } {
        // A fresh anonymous mapping reads as zero (`BrkSource::maps_zeroed`): writing zeros
        // would only fault in pages the program may never touch (`calloc(1, 256 MiB)`: 264 MB
        // resident and 0.19 s before, as glibc 1.2 MB and no time).
        return p;
    }
    if !p.is_null() {
        // Memory from the break is not assumed to be zero (a harness may fill it), and cached
        // blocks hold old data: zero the whole usable size.
        // SAFETY: p is a fresh in-use block; its header gives its usable size.
        unsafe {
            let usable =
                (oxalloc_core::tag::read(p as usize - 8) & oxalloc_core::tag::SIZE_MASK) - 8;
            // (The hardened mode keeps a canary in the last word: zero only what was asked.)
            let usable = if usable >= n && usable < n + 4096 && !crate::secure::on() {
                usable
            } else {
                n
            };
            core::ptr::write_bytes(p, 0, usable);
        }
    }
    p
}

/// Frees `p` (null does nothing); `errno` is preserved. Misuse ends the process.
///
/// # Safety
/// `p` must not be used after this call.
#[inline(always)]
pub unsafe fn free(p: *mut u8, func: &str) {
    // (A null `p` is never in a cache's range: the slow path returns at once.)
    // SAFETY: try_free checks that p is a block of this thread's cache before touching it.
    if unsafe { tcache::try_free(p as usize) } {
        return;
    }
    // SAFETY: forwarded.
    unsafe { free_not_fast(p, func) }
}

/// `free` when the fast path could not: first a bulk free phase's ring (hot in such a phase;
/// without the cold slow path's frame), else the slow path.
#[inline(never)]
unsafe fn free_not_fast(p: *mut u8, func: &str) {
    // SAFETY: forwarded (a null `p` in the ring is an empty slot).
    if unsafe { tcache::free_ringed(p as usize, func) } {
        return;
    }
    // SAFETY: forwarded.
    unsafe { free_slow(p, func) }
}

#[cold]
#[inline(never)]
unsafe fn free_slow(p: *mut u8, func: &str) {
    if p.is_null() {
        return;
    }
    if crate::secure::on() {
        // (The hardened mode also calls madvise and mprotect outside the heap's lock.)
        let e = os::errno();
        crate::secure::free(p, func);
        os::set_errno(e);
        return;
    }
    // SAFETY: forwarded.
    unsafe { free_unringed(p, func) }
}

/// `free`'s slow path for a non-null `p`, outside the hardened mode and the ring.
///
/// # Safety
/// As for [`free`]; `p` is non-null.
pub(crate) unsafe fn free_unringed(p: *mut u8, func: &str) {
    // errno is kept by `with_heap`, where every system call happens; another thread's block
    // goes onto its remote list without one.
    // SAFETY: free_slow validates the header before using the block.
    if !unsafe { tcache::free_slow(p as usize, func) } {
        // The bytes it frees count towards a bulk free phase (see `tcache::heap_freed`).
        match with_heap(|h| {
            let before = h.in_use_bytes();
            // SAFETY: the heap validates p before touching the block.
            unsafe { h.free(p) }.map(|()| before.saturating_sub(h.in_use_bytes()))
        }) {
            Ok(bytes) => tcache::heap_freed(bytes),
            Err(m) => misuse(m, func),
        }
    }
}

/// Resizes `p` to `n` bytes (C semantics: null `p` allocates; `n == 0` frees and returns null).
/// On failure returns null with `ENOMEM` and leaves `p` untouched.
///
/// # Safety
/// `p` must be null or a live block of this allocator; the old pointer must not be used after a
/// successful move.
#[inline(always)]
pub unsafe fn realloc(p: *mut u8, n: usize, align: usize, func: &str) -> *mut u8 {
    // The common case first, inline: a block of this thread's cache that still fits.
    if align == 16 && n != 0 {
        // SAFETY: realloc_fits reads p's header only inside this cache's range.
        if let Some(q) = unsafe { tcache::realloc_fits(p as usize, n) } {
            return q;
        }
    }
    // SAFETY: forwarded.
    unsafe { realloc_slow(p, n, align, func) }
}

#[cold]
#[inline(never)]
unsafe fn realloc_slow(p: *mut u8, n: usize, align: usize, func: &str) -> *mut u8 {
    // A bulk free phase ends (its ring's blocks freed) at any allocation: the fast paths are
    // back for the rest.
    tcache::end_free_phase();
    if p.is_null() {
        // The classic face (8-byte alignment) allocates from the shared heap only.
        return if align < 16 {
            heap_alloc(n, align)
        } else {
            alloc(n, align)
        };
    }
    if n == 0 {
        // SAFETY: forwarded precondition.
        unsafe { free(p, func) };
        return core::ptr::null_mut();
    }
    if crate::secure::on() {
        let q = crate::secure::realloc(p, n, align, func);
        if q.is_null() {
            os::set_errno(os::ENOMEM);
        }
        return q;
    }
    if align == 16 {
        // SAFETY: realloc_fast checks the block before using it; p is non-null, n > 0.
        if let Some(q) = unsafe { tcache::realloc_fast(p as usize, n) } {
            return q;
        }
    }
    if tcache::is_listed(p as usize) {
        misuse(Misuse::DoubleFree(p as usize), func);
    }
    let r = with_heap(|h| {
        let mut err = None;
        // `malloc`'s blocks grow with room for appends; the classic face's grow exactly.
        let q = tcache::with_growth_policy(h, |h| {
            // SAFETY: the heap validates p; align is a power of two (callers).
            let r = unsafe {
                if align == 16 {
                    h.realloc_amortised(p, n, align)
                } else {
                    h.realloc(p, n, align)
                }
            };
            match r {
                Ok(q) if q.is_null() => None,
                Ok(q) => Some(q),
                Err(m) => {
                    err = Some(m);
                    Some(core::ptr::null_mut())
                }
            }
        });
        match err {
            Some(m) => Err(m),
            None => Ok(q.unwrap_or(core::ptr::null_mut())),
        }
    });
    match r {
        Ok(q) => {
            if q.is_null() {
                os::set_errno(os::ENOMEM);
            }
            q
        }
        Err(m) => misuse(m, func),
    }
}

/// The usable size of the block `p` (0 for null). Misuse ends the process.
pub fn usable_size(p: *mut u8) -> usize {
    usable_size_in(p, "malloc_usable_size")
}

/// [`usable_size`], with misuse reported as in `func`.
fn usable_size_in(p: *mut u8, func: &str) -> usize {
    // (A block waiting in a bulk free phase's ring is freed first: it then looks freed.)
    tcache::end_free_phase();
    if tcache::is_listed(p as usize) {
        misuse(Misuse::DoubleFree(p as usize), func);
    }
    if crate::secure::on() {
        return crate::secure::usable_size(p, func);
    }
    if let Some(n) = tcache::owned_usable_size(p as usize) {
        return n;
    }
    match with_heap(|h| h.usable_size(p)) {
        Ok(n) => n,
        Err(m) => misuse(m, func),
    }
}

/// C23's `free_sized(p, n)` (`align == 1`) and `free_aligned_sized(p, align, n)`: `free`, once
/// the block is checked against what the caller says it is. A block that cannot be one of `n`
/// bytes (it has fewer usable bytes), or that does not have the alignment `align` (or an
/// alignment that is no power of two), is misuse: the process aborts, as for a double free.
///
/// # Safety
/// As for [`free`].
pub unsafe fn free_sized(p: *mut u8, n: usize, align: usize, func: &str) {
    if p.is_null() {
        return;
    }
    // The block is validated first: a freed or foreign pointer is reported as such.
    let usable = usable_size_in(p, func);
    if !align.is_power_of_two() || !(p as usize).is_multiple_of(align) || usable < n {
        misuse(Misuse::WrongSize(p as usize), func);
    }
    // SAFETY: forwarded; the block was just validated.
    unsafe { free(p, func) }
}

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    os::errno()
}

/// Sets the calling thread's `errno`.
pub fn set_errno(e: i32) {
    os::set_errno(e)
}

/// The process heap's statistics.
#[link_section = ".text.oxalloc_cold.oxalloc.global.stats"]
#[inline(never)]
pub fn stats() -> Stats {
    let mut s = with_heap(|h| h.stats());
    // Thread caches beyond the static pool live in heap blocks: metadata, not the program's.
    let (blocks, bytes) = tcache::metadata();
    s.in_use_blocks = s.in_use_blocks.saturating_sub(blocks);
    s.in_use_bytes = s.in_use_bytes.saturating_sub(bytes);
    s
}

/// Gives back to the kernel what the top of the heap holds above `pad` bytes; returns whether
/// anything was given back.
#[link_section = ".text.oxalloc_cold.oxalloc.global.trim"]
#[inline(never)]
pub fn trim(pad: usize) -> bool {
    tcache::end_free_phase();
    with_heap(|h| {
        tcache::flush_current_locked(h);
        // Remote frees that reached caches of threads that exited meanwhile, then every
        // deferred group: all of it merges before the top is trimmed.
        tcache::collect_orphans(h, true);
        tcache::merge_deferred_locked(h);
        h.trim(pad) + h.advise_all_free()
    }) > 0
}

/// Runs the heap checker on the process heap; returns a message on failure.
#[link_section = ".text.oxalloc_cold.oxalloc.global.check"]
#[inline(never)]
pub fn check() -> Result<(), oxalloc_core::CheckError> {
    with_heap(|h| h.check().map(|_| ()))
}

/// Writes one line on stderr for a heap-checker failure.
#[link_section = ".text.oxalloc_cold.oxalloc.global.report_check_failure"]
#[inline(never)]
pub fn report_check_failure(e: oxalloc_core::CheckError) {
    let mut m = os::MsgBuf::new();
    m.str("oxalloc: heap check failed: ")
        .str(e.what)
        .str(" at ")
        .hex(e.addr as u64)
        .str("\n");
    m.write_stderr();
}

/// Writes the statistics summary to stderr (no allocation).
#[link_section = ".text.oxalloc_cold.oxalloc.global.print_stats"]
#[inline(never)]
pub fn print_stats() {
    crate::report::write_stats(2)
}

/// glibc's `mallopt` parameters that oxalloc honours (`<malloc.h>`'s values).
pub const M_TRIM_THRESHOLD: i32 = -1;
/// See [`M_TRIM_THRESHOLD`].
pub const M_TOP_PAD: i32 = -2;
/// See [`M_TRIM_THRESHOLD`].
pub const M_MMAP_THRESHOLD: i32 = -3;
/// See [`M_TRIM_THRESHOLD`].
pub const M_MMAP_MAX: i32 = -4;

/// glibc's `mallopt(param, value)`: 1 when the parameter was applied (or does not apply to
/// oxalloc: arenas, fast bins, check actions), 0 when the value is refused.
/// - `M_TRIM_THRESHOLD`: the top is given back above `value` bytes, and the threshold no longer
///   rises by itself.
/// - `M_TOP_PAD`: the heap grows by at least `value` bytes at a time (at least 4 KiB).
/// - `M_MMAP_THRESHOLD`: blocks the heap serves from `value` bytes up (at least 4 KiB) get a
///   mapping of their own (sizes the thread caches serve are not affected).
/// - `M_MMAP_MAX`: 0 puts every block on the heap (no mapping of its own, whatever
///   `M_MMAP_THRESHOLD` says meanwhile); any other value restores the last threshold.
#[link_section = ".text.oxalloc_cold.oxalloc.global.mallopt"]
#[inline(never)]
pub fn mallopt(param: i32, value: i32) -> i32 {
    ensure_init();
    with_heap(|h| {
        let mut cfg = h.config();
        match param {
            M_TRIM_THRESHOLD if value >= 0 => {
                cfg.trim_threshold = value as usize;
                cfg.dynamic_trim = false;
            }
            M_TOP_PAD if value >= 0 => cfg.min_grow = ((value as usize).max(4096) + 7) & !7,
            M_MMAP_THRESHOLD if value >= 4096 => {
                // After `M_MMAP_MAX` 0 the threshold waits until mappings are allowed again.
                if cfg.huge_threshold != usize::MAX {
                    cfg.huge_threshold = value as usize;
                }
                MMAP_THRESHOLD.store(value as usize, Ordering::Relaxed);
            }
            M_MMAP_MAX if value == 0 => cfg.huge_threshold = usize::MAX,
            M_MMAP_MAX if value > 0 => {
                cfg.huge_threshold = MMAP_THRESHOLD.load(Ordering::Relaxed);
            }
            M_TRIM_THRESHOLD | M_TOP_PAD | M_MMAP_THRESHOLD | M_MMAP_MAX => return 0,
            _ => return 1,
        }
        h.set_config(cfg);
        1
    })
}

/// The threshold for own mappings that `M_MMAP_MAX` restores: the option's, or the last
/// `M_MMAP_THRESHOLD`.
static MMAP_THRESHOLD: AtomicUsize = AtomicUsize::new(0);

/// glibc's `malloc_info(options, stream)`: the heap described in glibc's XML format on the C
/// stream. 0 on success; -1 with `errno = EINVAL` when `options` is not 0 (as its man page
/// says; glibc itself returns `EINVAL`), -1 when the stream refused the output.
///
/// # Safety
/// `stream` is a `FILE *` open for writing.
#[link_section = ".text.oxalloc_cold.oxalloc.global.malloc_info"]
#[inline(never)]
pub unsafe fn malloc_info(options: i32, stream: *mut core::ffi::c_void) -> i32 {
    if options != 0 {
        os::set_errno(os::EINVAL);
        return -1;
    }
    // SAFETY: forwarded.
    if unsafe { crate::report::write_malloc_info(stream) } {
        0
    } else {
        -1
    }
}
