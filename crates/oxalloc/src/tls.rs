//! One thread-local word, reached without a function call.
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic TLS model: every access
//! calls `__tls_get_addr`. glibc asks a replacement malloc to use the initial-exec model instead.
//! On x86-64 the slot is defined here in `.tbss` and read with a `GOTTPOFF` load plus an
//! `%fs`-relative move — two instructions (the linker relaxes them further in executables).
//! Elsewhere a `thread_local!` stands in.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use core::arch::{asm, global_asm};

    global_asm!(
        ".section .tbss,\"awT\",@nobits",
        ".p2align 3",
        ".globl OXALLOC_TLS_SLOT_V1",
        ".hidden OXALLOC_TLS_SLOT_V1",
        ".type OXALLOC_TLS_SLOT_V1,@object",
        ".size OXALLOC_TLS_SLOT_V1,8",
        "OXALLOC_TLS_SLOT_V1:",
        ".zero 8",
        ".text",
    );

    /// The calling thread's slot (0 until set).
    #[inline(always)]
    pub fn get() -> usize {
        let v: usize;
        // SAFETY: reads the calling thread's own 8-byte TLS slot defined above.
        unsafe {
            asm!(
                "mov {0}, qword ptr [rip + OXALLOC_TLS_SLOT_V1@GOTTPOFF]",
                "mov {0}, qword ptr fs:[{0}]",
                out(reg) v,
                options(nostack, readonly, preserves_flags)
            );
        }
        v
    }

    /// Sets the calling thread's slot.
    #[inline(always)]
    pub fn set(v: usize) {
        // SAFETY: writes the calling thread's own 8-byte TLS slot defined above.
        unsafe {
            asm!(
                "mov {t}, qword ptr [rip + OXALLOC_TLS_SLOT_V1@GOTTPOFF]",
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
    std::thread_local!(static SLOT: Cell<usize> = const { Cell::new(0) });

    /// The calling thread's slot (0 until set).
    #[inline(always)]
    pub fn get() -> usize {
        SLOT.with(|s| s.get())
    }

    /// Sets the calling thread's slot.
    #[inline(always)]
    pub fn set(v: usize) {
        SLOT.with(|s| s.set(v))
    }
}

pub use imp::{get, set};
