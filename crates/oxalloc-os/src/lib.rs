//! The OS layer of oxalloc: the only code in the allocator that calls the kernel or the C library.
//!
//! # Contract (written once, holds for every function here)
//! - Nothing here allocates, formats with `std`, or calls back into the allocator. Every function
//!   is safe to call from inside `malloc`, before `main`, from any thread, and in a forked child.
//! - The heap break is moved only through the C library's exported `sbrk`/`brk` symbols (never
//!   a raw system call) so that a harness that interposes them sees and caps the heap.
//! - `errno` is read and written only by [`errno`]/[`set_errno`]; callers that must preserve it
//!   (e.g. `free`) save it around calls here.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use core::sync::atomic::{AtomicU32, Ordering};

/// `sbrk(increment)`: moves the break up by `increment` bytes and returns the old break, or
/// `None` when the break cannot move (the C library's `(void *)-1`).
pub fn sbrk(increment: usize) -> Option<usize> {
    if increment > isize::MAX as usize {
        return None;
    }
    // SAFETY: sbrk has no memory-safety preconditions; the caller owns what it gets.
    let r = unsafe { libc::sbrk(increment as libc::intptr_t) };
    if r as isize == -1 {
        None
    } else {
        Some(r as usize)
    }
}

extern "C" {
    /// The C library's own `sbrk` (glibc exports it under this name too).
    fn __sbrk(increment: libc::intptr_t) -> *mut libc::c_void;
}

/// Whether `sbrk` is interposed: the `sbrk` this library calls is not the C library's own.
/// Then whoever interposed it manages (and may cap) the heap on purpose.
pub fn sbrk_interposed() -> bool {
    let ours: unsafe extern "C" fn(libc::intptr_t) -> *mut libc::c_void = libc::sbrk;
    let libcs: unsafe extern "C" fn(libc::intptr_t) -> *mut libc::c_void = __sbrk;
    ours as usize != libcs as usize
}

/// Duplicates standard error onto a private descriptor (>= 200, close-on-exec), so messages
/// still reach it after the program closes fd 2 at exit. Returns 2 if that fails.
pub fn dup_stderr() -> i32 {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) creates a new descriptor and touches no memory.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 200) };
    if fd < 0 {
        2
    } else {
        fd
    }
}

/// Writes all of `bytes` to the C stream `stream` (a `FILE *`) with `fwrite`; returns whether
/// every byte was written. The stream may allocate its buffer on first use: call this without
/// holding the heap's lock.
///
/// # Safety
/// `stream` is a `FILE *` open for writing.
pub unsafe fn write_stream(stream: *mut core::ffi::c_void, bytes: &[u8]) -> bool {
    // SAFETY: the pointer and length describe a live slice; the caller passes a valid stream.
    unsafe { libc::fwrite(bytes.as_ptr().cast(), 1, bytes.len(), stream.cast()) == bytes.len() }
}

/// Writes all of `bytes` to descriptor `fd` with write(2), ignoring failures.
pub fn write_fd(fd: i32, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: the pointer and length describe a live slice.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// The current break (`sbrk(0)`).
pub fn current_break() -> usize {
    // SAFETY: sbrk(0) only reads the break.
    unsafe { libc::sbrk(0) as usize }
}

/// `brk(addr)`: sets the break to `addr`. Returns whether it moved.
///
/// The caller must own every byte between `addr` and the current break (it gives them back).
pub fn brk(addr: usize) -> bool {
    // SAFETY: moving the break down only unmaps memory the caller owns (see above).
    unsafe { libc::brk(addr as *mut libc::c_void) == 0 }
}

/// The system page size (4096 on x86-64 Linux; read once per call from the auxiliary vector).
pub fn page_size() -> usize {
    // SAFETY: getauxval reads the auxiliary vector the kernel passed; no preconditions.
    let p = unsafe { libc::getauxval(libc::AT_PAGESZ) };
    if p == 0 {
        4096
    } else {
        p as usize
    }
}

/// Maps `len` bytes of fresh zeroed read-write anonymous memory, or `None`.
pub fn map(len: usize) -> Option<usize> {
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches no existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        Some(p as usize)
    }
}

/// Unmaps `[addr, addr + len)`, which the caller mapped with [`map`] and no longer uses.
pub fn unmap(addr: usize, len: usize) -> bool {
    // SAFETY: per the contract above the caller owns the range and nothing refers to it.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) == 0 }
}

/// Resizes the mapping `[addr, addr + old)` to `new` bytes (`mremap` with `MREMAP_MAYMOVE`):
/// the kernel moves its pages instead of copying them. The new start, or `None` (the mapping is
/// then unchanged).
pub fn remap(addr: usize, old: usize, new: usize) -> Option<usize> {
    // SAFETY: the caller owns the whole mapping and updates every reference to it.
    let p = unsafe { libc::mremap(addr as *mut libc::c_void, old, new, libc::MREMAP_MAYMOVE) };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

/// Makes `[addr, addr + len)` inaccessible (`mprotect(PROT_NONE)`): a guard page.
pub fn protect_none(addr: usize, len: usize) -> bool {
    // SAFETY: the caller owns the range (part of its own mapping) and never touches it again.
    unsafe { libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_NONE) == 0 }
}

/// Tells the kernel the pages of `[addr, addr + len)` may be dropped (contents become zero).
pub fn advise_free(addr: usize, len: usize) -> bool {
    // SAFETY: MADV_DONTNEED on memory the caller owns and does not need the contents of.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 }
}

/// Whether `populate_write` may still work: cleared when the kernel says it does not know
/// `MADV_POPULATE_WRITE` (before 5.14: `EINVAL` for a page-aligned range) or may not use it.
static POPULATE_OK: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// The page size, read once (0 until then).
static PAGE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Faults in the whole pages inside `[addr, addr + len)` writable without changing their
/// contents (`MADV_POPULATE_WRITE`, Linux 5.14): the page faults a first write would take,
/// taken now. The range is shrunk to page boundaries here (any page size). Returns whether
/// it was done; `errno` is left as it was either way.
///
/// The caller owns the range or owned it a moment ago: if memory given back in between was
/// mapped again by someone else, their pages are faulted in, with their contents unchanged.
pub fn populate_write(addr: usize, len: usize) -> bool {
    use core::sync::atomic::Ordering;
    if !POPULATE_OK.load(Ordering::Relaxed) {
        return false;
    }
    let mut page = PAGE.load(Ordering::Relaxed);
    if page == 0 {
        page = page_size();
        PAGE.store(page, Ordering::Relaxed);
    }
    let a = addr.saturating_add(page - 1) & !(page - 1);
    let b = addr.saturating_add(len) & !(page - 1);
    if a >= b {
        return false;
    }
    let saved = errno();
    // SAFETY: MADV_POPULATE_WRITE preserves the contents of the memory it faults in; an
    // unmapped range only makes it fail (ENOMEM).
    let ok =
        unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_POPULATE_WRITE) == 0 };
    if !ok {
        let e = errno();
        // The range is page-aligned and the heap is ordinary memory: EINVAL means the advice
        // is unknown. ENOMEM (range no longer mapped) and EFAULT/EINTR are passing.
        if e == libc::EINVAL || e == libc::EPERM || e == libc::ENOSYS {
            POPULATE_OK.store(false, Ordering::Relaxed);
        }
    }
    set_errno(saved);
    ok
}

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns the thread's errno slot, valid for the thread's life.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
pub fn set_errno(e: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e }
}

/// `ENOMEM`, for callers that must report it.
pub const ENOMEM: i32 = libc::ENOMEM;
/// `EINVAL`, for callers that must report it.
pub const EINVAL: i32 = libc::EINVAL;

/// Writes all of `bytes` to standard error with write(2), ignoring failures.
pub fn write_stderr(bytes: &[u8]) {
    write_fd(2, bytes)
}

/// Ends the process at once with SIGABRT (no unwinding, no atexit handlers).
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// Reads an environment variable without allocating (the C library's `getenv`).
///
/// Returns the value's bytes, which live as long as the environment is not changed.
pub fn getenv(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv reads the environment and returns a NUL-terminated string or NULL.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null result of getenv is a valid NUL-terminated C string.
    Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// Whether the process runs in secure-execution mode (`AT_SECURE`: set-user-ID or
/// set-group-ID, or raised capabilities): its environment comes from a less privileged user.
pub fn secure_execution() -> bool {
    // SAFETY: getauxval reads the auxiliary vector the kernel passed; no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Registers a function to run at process exit (`atexit`). Returns whether it was registered.
pub fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: atexit stores the function pointer; `f` is a plain `extern "C" fn()`.
    unsafe { libc::atexit(f) == 0 }
}

/// The calling process's id.
pub fn pid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// A value alone on its cache lines: 128 bytes, the pair of 64-byte lines that x86-64
/// processors fetch together (the adjacent-line prefetcher), so that writes to it do not stall
/// the threads that read its neighbours, nor writes to the neighbours its readers.
///
/// Statics written on hot paths go in one (the heap lock's word, the counters updated under
/// the lock, flags set by threads without the lock); the read-mostly ones that every slow path
/// reads (the heap's range, the secrets, the state) then never share a line with them. Before,
/// `free`'s slow path stalled on loading the heap's range because a counter written under the
/// lock sat on its line (a two-thread run: 35% of that function's samples on that load).
///
/// A static of this type must also be `#[used]`. LLVM splits an internal static whose fields
/// are only accessed at constant offsets into one global per field, and then the padding is
/// gone: without `#[used]` (with alignment alone, and with the pad field too), a counter
/// written under the lock and the flag every slow path reads ended up 8 bytes apart. The pad is
/// a field of its own so that the static's size, not only its alignment, keeps the next static
/// away (`tests/layout.rs` checks both in the built library).
#[repr(C, align(128))]
pub struct CachePadded<T> {
    value: T,
    _pad: [u8; 128],
}

impl<T> CachePadded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        CachePadded {
            value,
            _pad: [0; 128],
        }
    }
}

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A mutual-exclusion lock that never allocates: one atomic word, a short spin, then the
/// kernel's futex (`0` free, `1` held, `2` held with sleepers).
///
/// The allocator holds its locks for short stretches (a refill or a flush of one bin): a thread
/// that finds the lock taken usually gets it within a few hundred cycles, far sooner than a
/// sleep and a wake-up through the kernel would give it. It may be used from `malloc` itself,
/// and re-initialised in a forked child with [`RawMutex::reinit`].
pub struct RawMutex {
    state: AtomicU32,
    /// How many times a waiter polls before sleeping (see [`RawMutex::set_spins`]).
    spins: AtomicU32,
    /// Acquisitions that found the lock held (counted on the slow path only).
    contended: AtomicU32,
    /// Times a waiter went to sleep in the kernel.
    sleeps: AtomicU32,
}

/// How many times a waiter polls the lock before sleeping in the kernel, unless the owner of
/// the mutex says otherwise.
const SPINS: u32 = 128;

impl RawMutex {
    /// An unlocked mutex.
    pub const fn new() -> Self {
        RawMutex {
            state: AtomicU32::new(0),
            spins: AtomicU32::new(SPINS),
            contended: AtomicU32::new(0),
            sleeps: AtomicU32::new(0),
        }
    }

    /// Blocks until the calling thread holds the lock.
    #[inline]
    pub fn lock(&self) {
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        self.contended.fetch_add(1, Ordering::Relaxed);
        for _ in 0..self.spins.load(Ordering::Relaxed) {
            core::hint::spin_loop();
            if self.state.load(Ordering::Relaxed) == 0
                && self
                    .state
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // Mark the lock contended, then sleep until the holder wakes us.
        while self.state.swap(2, Ordering::Acquire) != 0 {
            self.sleeps.fetch_add(1, Ordering::Relaxed);
            futex(&self.state, libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, 2);
        }
    }

    /// Sets how many times a waiter polls the lock before sleeping in the kernel: longer pays
    /// when every waiter has a processor (a sleep and a wake-up cost more than the wait), shorter
    /// when threads outnumber processors (the holder may be waiting for one).
    pub fn set_spins(&self, n: u32) {
        self.spins.store(n, Ordering::Relaxed);
    }

    /// Takes the lock if it is free; returns whether it was taken.
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread must hold the lock.
    #[inline]
    pub unsafe fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            futex(&self.state, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }

    /// `(contended acquisitions, sleeps in the kernel)` so far: how often threads met at the
    /// lock.
    pub fn contention(&self) -> (u32, u32) {
        (
            self.contended.load(Ordering::Relaxed),
            self.sleeps.load(Ordering::Relaxed),
        )
    }

    /// Puts the mutex back in its unlocked initial state.
    ///
    /// # Safety
    /// Only in a forked child, where the thread that held the lock no longer exists and no other
    /// thread can be using the mutex.
    pub unsafe fn reinit(&self) {
        self.state.store(0, Ordering::Relaxed);
    }
}

/// The processors this thread may run on (at least 1).
pub fn cpu_count() -> usize {
    // SAFETY: a zeroed cpu_set_t is a valid out-buffer of the size given.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        // (The system call, not the C library's wrapper: see `page_size`.)
        if libc::syscall(
            libc::SYS_sched_getaffinity,
            0,
            core::mem::size_of::<libc::cpu_set_t>(),
            &mut set,
        ) <= 0
        {
            return 1;
        }
        (libc::CPU_COUNT(&set) as usize).max(1)
    }
}

/// `futex(op, val)` on `word` (wait or wake; errors such as EAGAIN are the caller's loop's).
fn futex(word: &AtomicU32, op: i32, val: u32) {
    // SAFETY: word is a live, aligned 32-bit atomic; no timeout, no second address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            core::ptr::null::<libc::timespec>(),
        );
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

extern "C" {
    /// glibc (2.32+): non-zero while the process has only ever had one thread.
    static __libc_single_threaded: core::ffi::c_char;
}

/// Whether the process is known to be single-threaded (glibc's `__libc_single_threaded`).
pub fn single_threaded() -> bool {
    // SAFETY: glibc defines this byte for the life of the process; reading it is always valid.
    unsafe { core::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
}

/// Creates a thread-specific data key whose destructor runs when a thread exits with a
/// non-null value set (`pthread_key_create`). Returns the key.
pub fn thread_key_create(dtor: unsafe extern "C" fn(*mut core::ffi::c_void)) -> Option<u32> {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: key is a valid out-pointer; the destructor is a plain extern "C" function.
    if unsafe { libc::pthread_key_create(&mut key, Some(dtor)) } == 0 {
        Some(key)
    } else {
        None
    }
}

/// Sets the calling thread's value for `key` (`pthread_setspecific`).
///
/// # Safety
/// `key` must come from [`thread_key_create`]; `value` is handed to the key's destructor at
/// thread exit, which must accept it.
pub unsafe fn thread_key_set(key: u32, value: *mut core::ffi::c_void) -> bool {
    // SAFETY: setspecific only stores the pointer; the key came from thread_key_create.
    unsafe { libc::pthread_setspecific(key, value) == 0 }
}

/// 64 random bits from the kernel (`getrandom`, non-blocking), or from the clock and ASLR when
/// that fails. Never allocates.
pub fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: the buffer is 8 writable bytes.
    let n = unsafe { libc::getrandom((&raw mut v).cast(), 8, libc::GRND_NONBLOCK) };
    if n != 8 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        v = (ts.tv_nsec as u64)
            ^ ((ts.tv_sec as u64) << 32)
            ^ (&raw const ts as u64).rotate_left(17);
    }
    v
}

/// Opens (creating or truncating) a file for writing; returns the descriptor or -1.
pub fn open_write(path: &core::ffi::CStr) -> i32 {
    // SAFETY: path is a valid C string; open does not touch other memory.
    unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        )
    }
}

/// Closes a descriptor.
pub fn close(fd: i32) {
    // SAFETY: closing a descriptor this process opened.
    unsafe { libc::close(fd) };
}

/// Installs `handler` for SIGUSR1 (with `SA_RESTART`). Returns whether it was installed.
pub fn on_sigusr1(handler: extern "C" fn(i32)) -> bool {
    // SAFETY: a zeroed sigaction with a handler and an empty mask is a valid argument.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, core::ptr::null_mut()) == 0
    }
}

/// Milliseconds of a coarse monotonic clock (vDSO: no system call).
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Registers fork handlers (`pthread_atfork`). Returns whether they were registered.
pub fn at_fork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) -> bool {
    // SAFETY: pthread_atfork stores the three function pointers.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// A small formatter into a fixed stack buffer, for messages written without allocating.
pub struct MsgBuf {
    buf: [u8; 512],
    len: usize,
}

impl MsgBuf {
    /// An empty message.
    pub const fn new() -> Self {
        MsgBuf {
            buf: [0; 512],
            len: 0,
        }
    }

    /// Appends bytes (silently truncated at the buffer's end).
    #[inline(never)]
    pub fn push(&mut self, s: &[u8]) -> &mut Self {
        for &b in s {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        self
    }

    /// Appends a string.
    #[inline(never)]
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.push(s.as_bytes())
    }

    /// Appends an unsigned decimal number.
    #[inline(never)]
    #[link_section = ".text.oxalloc_cold.oxalloc_os.lib.dec"]
    pub fn dec(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&tmp[i..])
    }

    /// Appends `0x` and a hexadecimal number.
    #[inline(never)]
    #[link_section = ".text.oxalloc_cold.oxalloc_os.lib.hex"]
    pub fn hex(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 16];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.str("0x");
        self.push(&tmp[i..])
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the message to standard error.
    pub fn write_stderr(&self) {
        write_stderr(self.as_bytes());
    }

    /// Writes the message to descriptor `fd`.
    pub fn write_fd(&self, fd: i32) {
        write_fd(fd, self.as_bytes());
    }
}

impl Default for MsgBuf {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    /// A counter behind the mutex, incremented non-atomically by several threads: any lapse in
    /// mutual exclusion loses increments.
    struct Guarded {
        lock: RawMutex,
        count: core::cell::UnsafeCell<u64>,
    }
    // SAFETY: `count` is touched only with `lock` held.
    unsafe impl Sync for Guarded {}

    #[test]
    fn mutex_excludes_with_every_spin_setting() {
        for spins in [0, 1, SPINS, 4096] {
            let g = Arc::new(Guarded {
                lock: RawMutex::new(),
                count: core::cell::UnsafeCell::new(0),
            });
            g.lock.set_spins(spins);
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let g = Arc::clone(&g);
                    std::thread::spawn(move || {
                        for _ in 0..20_000 {
                            g.lock.lock();
                            // SAFETY: the lock is held.
                            unsafe {
                                let c = g.count.get();
                                c.write_volatile(c.read_volatile() + 1);
                                g.lock.unlock();
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            // SAFETY: every thread has finished.
            assert_eq!(unsafe { *g.count.get() }, 80_000, "spins {spins}");
        }
    }

    #[test]
    fn cpu_count_is_within_the_configured_processors() {
        let n = cpu_count();
        // SAFETY: sysconf has no preconditions.
        let configured = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
        assert!(
            n >= 1 && n as i64 <= configured.max(1),
            "{n} of {configured}"
        );
    }
}
