//! oxalloc as a Rust allocator, and the process-wide heap behind the C ABI.
//!
//! ```no_run
//! #[global_allocator]
//! static GLOBAL: oxalloc::OxAlloc = oxalloc::OxAlloc;
//!
//! fn main() {
//!     let v: Vec<u64> = (0..1000).collect();
//!     assert_eq!(v.iter().sum::<u64>(), 499_500);
//!     println!("heap in use: {} bytes", oxalloc::stats().in_use_bytes);
//! }
//! ```
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

pub mod global;
pub mod options;
mod report;
mod secure;
mod source;
mod tcache;
mod tls;

use core::alloc::{GlobalAlloc, Layout};
pub use oxalloc_core::Stats;

/// The README's Rust examples, compiled as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The oxalloc global allocator. Honours `Layout::align` (any power of two).
pub struct OxAlloc;

// SAFETY: every method forwards to the process heap, which returns blocks of at least the
// requested size and alignment that nobody else uses until they are freed.
unsafe impl GlobalAlloc for OxAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        global::alloc(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        global::calloc(1, layout.size(), layout.align(), false)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: ptr was returned by this allocator (GlobalAlloc contract).
        unsafe { global::free(ptr, "dealloc") }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size == 0 {
            // GlobalAlloc forbids it, but stay defined: behave like a fresh zero-size block.
            // SAFETY: ptr is live (GlobalAlloc contract).
            unsafe { global::free(ptr, "realloc") };
            return global::alloc(0, layout.align());
        }
        // SAFETY: ptr is live (GlobalAlloc contract).
        unsafe { global::realloc(ptr, new_size, layout.align(), "realloc") }
    }
}

/// The process heap's statistics (the same numbers `malloc_stats` prints).
pub fn stats() -> Stats {
    global::stats()
}
