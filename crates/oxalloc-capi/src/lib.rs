//! The C ABI of oxalloc, built as `liboxalloc.so` and `liboxalloc.a`.
//!
//! Each function is a line or two forwarding to [`ox::global`]. The `malloc` family gives 16-byte
//! alignment; the classic `my*` names give `sizeof(long)` (8 bytes).
//!
//! The library links no `std` (only `core` and the C library): std's panic machinery (its
//! backtrace symbolizer alone is most of the code) would be resident in every process for
//! nothing, and would need `libgcc_s`. A panic — a bug in oxalloc — prints one line and aborts.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)] // the C contracts are the man pages'

use core::ffi::{c_int, c_void};
use ox::global as g;

// Without `std`, nothing else asks for the C library by name: record it as needed, so the
// library loads on its own (dlopen, or linking with -loxalloc) as it did with `std`.
#[cfg(not(test))]
#[link(name = "c")]
extern "C" {}

// Unoptimised builds keep code of the precompiled `core` that was built to unwind, and that code
// names the unwinder's personality routine, which only `std` defines: without one, the library
// would not load. Nothing unwinds here (panics abort), so it is never called. Release builds
// drop that code and do not define the symbol, which a program with `std` of its own must
// find as its own.
#[cfg(all(not(test), debug_assertions))]
#[no_mangle]
extern "C" fn rust_eh_personality() {
    g::internal_error(file!(), line!())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    g::internal_error(file, line)
}

/// `malloc`'s alignment: 16 bytes, what x86-64 code relies on.
const MALLOC_ALIGN: usize = 16;
/// The classic `my*` contract: `sizeof(long)`.
const MY_ALIGN: usize = core::mem::size_of::<core::ffi::c_long>();
const EINVAL: c_int = 22;
const ENOMEM: c_int = 12;
const PAGE: usize = 4096;

#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    g::malloc(size).cast()
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { g::free(p.cast(), "free") }
}

#[no_mangle]
pub extern "C" fn calloc(nmemb: usize, size: usize) -> *mut c_void {
    g::calloc(nmemb, size, MALLOC_ALIGN, false).cast()
}

#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C contract of realloc.
    unsafe { g::realloc(p.cast(), size, MALLOC_ALIGN, "realloc") }.cast()
}

/// C23: `free` for a block of `size` requested bytes (checked: a block with fewer usable bytes
/// aborts the process as misuse).
#[no_mangle]
pub unsafe extern "C" fn free_sized(p: *mut c_void, size: usize) {
    // SAFETY: the C contract of free_sized.
    unsafe { g::free_sized(p.cast(), size, 1, "free_sized") }
}

/// C23: `free` for a block of `aligned_alloc(align, size)` (both checked, as `free_sized`).
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, align: usize, size: usize) {
    // SAFETY: the C contract of free_aligned_sized.
    unsafe { g::free_sized(p.cast(), size, align, "free_aligned_sized") }
}

// glibc's own names for its allocator (`__libc_malloc`...), which some programs and
// interposing libraries call directly: they must reach the same heap, or a block would be
// allocated by one allocator and freed by the other.

#[no_mangle]
pub extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    malloc(size)
}

#[no_mangle]
pub unsafe extern "C" fn __libc_free(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { free(p) }
}

#[no_mangle]
pub extern "C" fn __libc_calloc(nmemb: usize, size: usize) -> *mut c_void {
    calloc(nmemb, size)
}

#[no_mangle]
pub unsafe extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C contract of realloc.
    unsafe { realloc(p, size) }
}

#[no_mangle]
pub extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

#[no_mangle]
pub extern "C" fn __libc_valloc(size: usize) -> *mut c_void {
    valloc(size)
}

#[no_mangle]
pub extern "C" fn __libc_pvalloc(size: usize) -> *mut c_void {
    pvalloc(size)
}

#[no_mangle]
pub extern "C" fn mymalloc(size: usize) -> *mut c_void {
    g::heap_alloc(size, MY_ALIGN).cast()
}

#[no_mangle]
pub unsafe extern "C" fn myfree(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { g::free(p.cast(), "myfree") }
}

#[no_mangle]
pub extern "C" fn mycalloc(nmemb: usize, size: usize) -> *mut c_void {
    g::calloc(nmemb, size, MY_ALIGN, true).cast()
}

#[no_mangle]
pub unsafe extern "C" fn myrealloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C contract of realloc.
    unsafe { g::realloc(p.cast(), size, MY_ALIGN, "myrealloc") }.cast()
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, nmemb: usize, size: usize) -> *mut c_void {
    match nmemb.checked_mul(size) {
        // SAFETY: the C contract of realloc.
        Some(n) => unsafe { realloc(p, n) },
        None => fail(ENOMEM),
    }
}

fn fail(e: c_int) -> *mut c_void {
    ox_set_errno(e);
    core::ptr::null_mut()
}

fn ox_set_errno(e: c_int) {
    g::set_errno(e)
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return EINVAL;
    }
    let e = g::errno();
    let p = g::alloc(size, align.max(MALLOC_ALIGN));
    if p.is_null() {
        g::set_errno(e);
        return ENOMEM;
    }
    // SAFETY: the caller passes a writable out-pointer (C contract).
    unsafe { *out = p.cast() };
    0
}

#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        return fail(EINVAL);
    }
    g::alloc(size, align.max(MALLOC_ALIGN)).cast()
}

#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned_alloc(align, size)
}

#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    g::alloc(size, PAGE).cast()
}

#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    match size.checked_add(PAGE - 1) {
        Some(n) => g::alloc(n & !(PAGE - 1), PAGE).cast(),
        None => fail(ENOMEM),
    }
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    g::usable_size(p.cast())
}

#[no_mangle]
pub extern "C" fn malloc_trim(pad: usize) -> c_int {
    g::trim(pad) as c_int
}

/// Runs the heap checker on the whole heap: 0 when every invariant holds, else -1 after one
/// line on stderr naming the broken invariant (for tests and debugging).
#[no_mangle]
pub extern "C" fn oxalloc_check() -> c_int {
    match g::check() {
        Ok(()) => 0,
        Err(e) => {
            g::report_check_failure(e);
            -1
        }
    }
}

#[no_mangle]
pub extern "C" fn malloc_stats() {
    g::print_stats()
}

/// glibc's XML description of the heap (see `oxalloc::report::write_malloc_info`).
#[no_mangle]
pub unsafe extern "C" fn malloc_info(options: c_int, stream: *mut c_void) -> c_int {
    // SAFETY: the C contract of malloc_info (a stream open for writing).
    unsafe { g::malloc_info(options, stream) }
}

/// glibc's tunables that apply to oxalloc (`M_TRIM_THRESHOLD`, `M_TOP_PAD`,
/// `M_MMAP_THRESHOLD`, `M_MMAP_MAX`; see `oxalloc::global::mallopt`); the others (arenas, fast
/// bins) are accepted and change nothing.
#[no_mangle]
pub extern "C" fn mallopt(param: c_int, value: c_int) -> c_int {
    g::mallopt(param, value)
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Default)]
pub struct Mallinfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

/// glibc's `struct mallinfo` (int fields, saturated).
#[repr(C)]
#[derive(Default)]
pub struct Mallinfo {
    arena: c_int,
    ordblks: c_int,
    smblks: c_int,
    hblks: c_int,
    hblkhd: c_int,
    usmblks: c_int,
    fsmblks: c_int,
    uordblks: c_int,
    fordblks: c_int,
    keepcost: c_int,
}

#[no_mangle]
pub extern "C" fn mallinfo2() -> Mallinfo2 {
    let s = ox::stats();
    // As glibc: `arena`, `uordblks` and `fordblks` describe the heap; blocks with a mapping of
    // their own are `hblks` and `hblkhd` only.
    // (Saturating: the thread caches' own records are taken off `in_use_bytes`, and with a
    // low `M_MMAP_THRESHOLD` one can be a mapped block, counted in `huge_bytes` too.)
    let on_heap = s.in_use_bytes.saturating_sub(s.huge_bytes);
    Mallinfo2 {
        arena: s.heap_bytes,
        ordblks: s.free_blocks,
        hblks: s.huge_blocks,
        hblkhd: s.mapped_bytes,
        usmblks: s.peak_heap_bytes,
        uordblks: on_heap,
        fordblks: s.heap_bytes.saturating_sub(on_heap),
        keepcost: s.top_bytes,
        ..Mallinfo2::default()
    }
}

#[no_mangle]
pub extern "C" fn mallinfo() -> Mallinfo {
    let m = mallinfo2();
    let c = |v: usize| v.min(c_int::MAX as usize) as c_int;
    Mallinfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
        ..Mallinfo::default()
    }
}
