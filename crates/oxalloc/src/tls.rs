//! Two thread-local words, reached without a function call: the thread's cache, and the cache
//! its fast paths use (the same, or 0 while the thread is in a bulk free phase: see
//! `tcache::free_ringed`; a fast path that finds 0 takes the slow path, which costs the fast
//! paths no instruction).
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic TLS model: every access
//! calls `__tls_get_addr`. glibc asks a replacement malloc to use the initial-exec model instead.
//! On x86-64 the slots are defined here in `.tbss` and read with a `GOTTPOFF` load plus an
//! `%fs`-relative move — two instructions (the linker relaxes them further in executables).
//! Elsewhere a `thread_local!` stands in.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use core::arch::{asm, global_asm};

    // Word 0: the fast paths' cache; word 1: the thread's cache.
    global_asm!(
        ".section .tbss,\"awT\",@nobits",
        ".p2align 4",
        ".globl OXALLOC_TLS_SLOT_V2",
        ".hidden OXALLOC_TLS_SLOT_V2",
        ".type OXALLOC_TLS_SLOT_V2,@object",
        ".size OXALLOC_TLS_SLOT_V2,16",
        "OXALLOC_TLS_SLOT_V2:",
        ".zero 16",
        ".text",
    );

    /// The cache the calling thread's fast paths use (0 until set, and in a bulk free phase).
    #[inline(always)]
    pub fn fast() -> usize {
        let v: usize;
        // SAFETY: reads the calling thread's own TLS words defined above.
        unsafe {
            asm!(
                "mov {0}, qword ptr [rip + OXALLOC_TLS_SLOT_V2@GOTTPOFF]",
                "mov {0}, qword ptr fs:[{0}]",
                out(reg) v,
                options(nostack, readonly, preserves_flags)
            );
        }
        v
    }

    /// The calling thread's cache (0 until set).
    #[inline(always)]
    pub fn get() -> usize {
        let v: usize;
        // SAFETY: reads the calling thread's own TLS words defined above.
        unsafe {
            asm!(
                "mov {0}, qword ptr [rip + OXALLOC_TLS_SLOT_V2@GOTTPOFF]",
                "mov {0}, qword ptr fs:[{0} + 8]",
                out(reg) v,
                options(nostack, readonly, preserves_flags)
            );
        }
        v
    }

    /// Sets the calling thread's cache, for its fast paths too.
    #[inline(always)]
    pub fn set(v: usize) {
        // SAFETY: writes the calling thread's own TLS words defined above.
        unsafe {
            asm!(
                "mov {t}, qword ptr [rip + OXALLOC_TLS_SLOT_V2@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {v}",
                "mov qword ptr fs:[{t} + 8], {v}",
                t = out(reg) _,
                v = in(reg) v,
                options(nostack, preserves_flags)
            );
        }
    }

    /// Sets the cache the calling thread's fast paths use.
    #[inline(always)]
    pub fn set_fast(v: usize) {
        // SAFETY: writes the calling thread's own TLS words defined above.
        unsafe {
            asm!(
                "mov {t}, qword ptr [rip + OXALLOC_TLS_SLOT_V2@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {v}",
                t = out(reg) _,
                v = in(reg) v,
                options(nostack, preserves_flags)
            );
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    extern crate std;
    use core::cell::Cell;
    std::thread_local!(static SLOTS: [Cell<usize>; 2] = const { [Cell::new(0), Cell::new(0)] });

    /// The cache the calling thread's fast paths use (0 until set, and in a bulk free phase).
    #[inline(always)]
    pub fn fast() -> usize {
        SLOTS.with(|s| s[0].get())
    }

    /// The calling thread's cache (0 until set).
    #[inline(always)]
    pub fn get() -> usize {
        SLOTS.with(|s| s[1].get())
    }

    /// Sets the calling thread's cache, for its fast paths too.
    #[inline(always)]
    pub fn set(v: usize) {
        SLOTS.with(|s| {
            s[0].set(v);
            s[1].set(v)
        })
    }

    /// Sets the cache the calling thread's fast paths use.
    #[inline(always)]
    pub fn set_fast(v: usize) {
        SLOTS.with(|s| s[0].set(v))
    }
}

pub use imp::{fast, get, set, set_fast};
