//! The process-wide heap: one boundary-tag heap on the break, behind one lock.
//!
//! Every public face (the C ABI, [`crate::OxAlloc`]) goes through the functions here, which
//! implement the C library's contracts: `errno` on failure, `free` preserving `errno`, misuse
//! ending the process with one line on stderr.

use crate::source::BrkSource;
use crate::tcache;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};
use oxalloc_core::{heap::Config, Heap, Misuse, Stats};
use oxalloc_os as os;

/// The process heap's type.
pub type ProcessHeap = Heap<BrkSource>;

struct Global {
    lock: os::RawMutex,
    heap: UnsafeCell<Heap<BrkSource>>,
}

// SAFETY: `heap` is only touched while `lock` is held (see `with_heap`).
unsafe impl Sync for Global {}

static GLOBAL: Global = Global {
    lock: os::RawMutex::new(),
    heap: UnsafeCell::new(Heap::new(BrkSource, Config::DEFAULT)),
};

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static STATS_AT_EXIT: AtomicU8 = AtomicU8::new(0);
static STATS_FD: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(2);

/// Initialises the allocator if no call did yet.
#[inline(always)]
pub fn ensure_init() {
    if STATE.load(Ordering::Acquire) != READY {
        init();
    }
}

/// Runs `f` with the heap locked.
#[inline(always)]
pub(crate) fn with_heap<R>(f: impl FnOnce(&mut ProcessHeap) -> R) -> R {
    ensure_init();
    GLOBAL.lock.lock();
    // SAFETY: the lock is held, so this is the only reference to the heap.
    let r = f(unsafe { &mut *GLOBAL.heap.get() });
    // SAFETY: taken above by this thread.
    unsafe { GLOBAL.lock.unlock() };
    r
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
    let mut cfg = Config::DEFAULT;
    if let Some(v) = env_usize(c"OXALLOC_TRIM_THRESHOLD") {
        cfg.trim_threshold = v;
    }
    if let Some(v) = env_usize(c"OXALLOC_HUGE_THRESHOLD") {
        cfg.huge_threshold = v.max(4096);
    }
    // An interposed sbrk manages the heap on purpose (and may cap it): respect its refusals.
    cfg.map_fallback = !os::sbrk_interposed();
    GLOBAL.lock.lock();
    // SAFETY: lock held.
    unsafe { (*GLOBAL.heap.get()).set_config(cfg) };
    // SAFETY: taken above.
    unsafe { GLOBAL.lock.unlock() };
    tcache::init();
    STATE.store(READY, Ordering::Release);
    os::at_fork(fork_prepare, fork_parent, fork_child);
    if matches!(os::getenv(c"OXALLOC_STATS"), Some(v) if v.first() == Some(&b'1')) {
        // A private copy of stderr: programs often close fd 2 in their own exit handlers.
        STATS_FD.store(os::dup_stderr(), Ordering::Relaxed);
        STATS_AT_EXIT.store(1, Ordering::Relaxed);
        os::at_exit(print_stats_at_exit);
    }
}

fn env_usize(name: &core::ffi::CStr) -> Option<usize> {
    let v = os::getenv(name)?;
    if v.is_empty() || v.len() > 19 {
        return warn_bad(name);
    }
    let mut n = 0usize;
    for &c in v {
        if !c.is_ascii_digit() {
            return warn_bad(name);
        }
        n = n * 10 + (c - b'0') as usize;
    }
    Some(n)
}

fn warn_bad(name: &core::ffi::CStr) -> Option<usize> {
    let mut m = os::MsgBuf::new();
    m.str("oxalloc: warning: ignoring invalid value of ")
        .push(name.to_bytes())
        .str("\n");
    m.write_stderr();
    None
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
pub fn misuse(m: Misuse, func: &str) -> ! {
    let mut msg = os::MsgBuf::new();
    msg.str("oxalloc: ")
        .str(m.what())
        .str(" ")
        .hex(m.addr() as u64)
        .str(" (in ")
        .str(func)
        .str(")\n");
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
    // SAFETY: align is a power of two (all callers pass 8, 16 or a checked value).
    let p = with_heap(|h| {
        tcache::with_growth_policy(h, |h| {
            // SAFETY: align is a power of two (callers).
            let p = unsafe { h.alloc(n, align) };
            (!p.is_null()).then_some(p)
        })
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
    if !p.is_null() {
        // Memory from the break is not assumed to be zero (a harness may fill it), and cached
        // blocks hold old data: zero the whole usable size.
        // SAFETY: p is a fresh in-use block; its header gives its usable size.
        unsafe {
            let usable =
                (oxalloc_core::tag::read(p as usize - 8) & oxalloc_core::tag::SIZE_MASK) - 8;
            let usable = if usable >= n && usable < n + 4096 {
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
    if p.is_null() {
        return;
    }
    // SAFETY: try_free checks that p is a block of this thread's cache before touching it.
    if unsafe { tcache::try_free(p as usize) } {
        return;
    }
    // SAFETY: forwarded.
    unsafe { free_slow(p, func) }
}

#[cold]
#[inline(never)]
unsafe fn free_slow(p: *mut u8, func: &str) {
    let e = os::errno();
    // SAFETY: free_slow validates the header before using the block.
    if !unsafe { tcache::free_slow(p as usize, func) } {
        // SAFETY: the heap validates p before touching the block.
        if let Err(m) = with_heap(|h| unsafe { h.free(p) }) {
            misuse(m, func);
        }
    }
    os::set_errno(e);
}

/// Resizes `p` to `n` bytes (C semantics: null `p` allocates; `n == 0` frees and returns null).
/// On failure returns null with `ENOMEM` and leaves `p` untouched.
///
/// # Safety
/// `p` must be null or a live block of this allocator; the old pointer must not be used after a
/// successful move.
#[inline]
pub unsafe fn realloc(p: *mut u8, n: usize, align: usize, func: &str) -> *mut u8 {
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
    // SAFETY: the heap validates p.
    let r = with_heap(|h| {
        let mut err = None;
        // SAFETY: the heap validates p; align is a power of two (callers).
        let q = tcache::with_growth_policy(h, |h| match unsafe { h.realloc(p, n, align) } {
            Ok(q) if q.is_null() => None,
            Ok(q) => Some(q),
            Err(m) => {
                err = Some(m);
                Some(core::ptr::null_mut())
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
    match with_heap(|h| h.usable_size(p)) {
        Ok(n) => n,
        Err(m) => misuse(m, "malloc_usable_size"),
    }
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
pub fn stats() -> Stats {
    with_heap(|h| h.stats())
}

/// Gives back to the kernel what the top of the heap holds above `pad` bytes; returns whether
/// anything was given back.
pub fn trim(pad: usize) -> bool {
    with_heap(|h| h.trim(pad) + h.advise_all_free()) > 0
}

/// Runs the heap checker on the process heap; returns a message on failure.
pub fn check() -> Result<(), oxalloc_core::CheckError> {
    with_heap(|h| h.check().map(|_| ()))
}

/// Writes the statistics summary to stderr (no allocation).
pub fn print_stats() {
    print_stats_to(2)
}

/// Writes the statistics summary to descriptor `fd` (no allocation).
pub fn print_stats_to(fd: i32) {
    let s = stats();
    let mut m = os::MsgBuf::new();
    m.str("oxalloc: stats for pid ")
        .dec(os::pid() as u64)
        .str("\n");
    line(
        &mut m,
        "heap now",
        s.heap_bytes as u64,
        " bytes on the break or in segments",
    );
    line(&mut m, "heap peak", s.peak_heap_bytes as u64, " bytes");
    line(&mut m, "in use", s.in_use_bytes as u64, " bytes");
    line(&mut m, "in use peak", s.peak_in_use_bytes as u64, " bytes");
    line(&mut m, "live blocks", s.in_use_blocks as u64, "");
    m.write_fd(fd);
    let mut m = os::MsgBuf::new();
    line(&mut m, "allocations", s.allocs, "");
    line(&mut m, "frees", s.frees, "");
    line(
        &mut m,
        "free blocks",
        s.free_blocks as u64,
        " in the free lists",
    );
    line(&mut m, "top chunk", s.top_bytes as u64, " bytes");
    line(&mut m, "break grown", s.grow_calls, " times");
    line(&mut m, "break shrunk", s.shrink_calls, " times");
    m.write_fd(fd);
    let mut m = os::MsgBuf::new();
    line(
        &mut m,
        "given back",
        s.released_bytes,
        " bytes by shrinking the break",
    );
    line(&mut m, "pages advised", s.advised_bytes, " bytes (madvise)");
    line(&mut m, "mappings made", s.map_calls, "");
    line(
        &mut m,
        "huge blocks",
        s.huge_blocks as u64,
        " with a mapping of their own",
    );
    line(&mut m, "segments", s.segments, "");
    m.write_fd(fd);
    let t = tcache::totals();
    let mut m = os::MsgBuf::new();
    line(&mut m, "thread caches", t[0], " made");
    line(&mut m, "caches alive", t[1], "");
    line(&mut m, "cached blocks", t[2], "");
    line(&mut m, "cached bytes", t[3], "");
    line(&mut m, "cache refills", t[4], "");
    line(&mut m, "cache flushes", t[5], "");
    line(&mut m, "remote frees", t[6], " received from other threads");
    m.write_fd(fd);
}

fn line(m: &mut os::MsgBuf, name: &str, v: u64, unit: &str) {
    m.str("  ").str(name);
    for _ in name.len()..14 {
        m.str(" ");
    }
    m.dec(v).str(unit).str("\n");
}

extern "C" fn print_stats_at_exit() {
    if STATS_AT_EXIT.load(Ordering::Relaxed) != 0 {
        print_stats_to(STATS_FD.load(Ordering::Relaxed));
    }
}
