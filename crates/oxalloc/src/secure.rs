//! The hardened mode (`OXALLOC_SECURE=1`): every allocation goes through the locked heap, with
//! its full checks of the block and of its neighbours' tags, plus:
//!
//! - a canary word after every block's data, checked on free and realloc (an overflow past the
//!   end is reported even when the next block's header was not reached);
//! - freed memory filled with `0xDF` (a use after free reads garbage, not old data);
//! - a quarantine: the last 256 freed blocks are given back to the heap only later, so memory
//!   is not reused at once (and a second free of a quarantined block is a double free); a
//!   quarantined huge block's whole pages are given back and made inaccessible (a use after
//!   free faults; nothing stays resident);
//! - thread caches off (a block is checked on every free);
//! - a guard page (no access) after every huge block's mapping.
//!
//! ```text
//! | header | user data (n bytes) ... | canary |      usable for the user = block usable - 8
//! ```

use crate::global::{self, misuse};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use oxalloc_core::Misuse;
use oxalloc_os as os;

static ON: AtomicBool = AtomicBool::new(false);
static CANARY_SECRET: AtomicUsize = AtomicUsize::new(0);

const QUARANTINE: usize = 256;
/// The quarantine ring (touched only with the heap locked).
struct Ring {
    slots: core::cell::UnsafeCell<[usize; QUARANTINE]>,
    next: core::cell::UnsafeCell<usize>,
}
// SAFETY: the ring is only used inside `global::with_heap`, under the heap's lock.
unsafe impl Sync for Ring {}
static RING: Ring = Ring {
    slots: core::cell::UnsafeCell::new([0; QUARANTINE]),
    next: core::cell::UnsafeCell::new(0),
};

/// Turns the hardened mode on (at initialisation, before the first block).
pub fn enable() {
    CANARY_SECRET.store(os::random_u64() as usize | 1, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
}

/// Whether the hardened mode is on.
#[inline(always)]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

fn canary(p: usize) -> usize {
    (p ^ CANARY_SECRET.load(Ordering::Relaxed)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The usable size of the heap block at `p` (validated by the heap: misuse ends the process).
#[link_section = ".text.oxalloc_cold.oxalloc.secure.heap_usable"]
#[inline(never)]
fn heap_usable(p: *mut u8, func: &str) -> usize {
    match global::with_heap(|h| h.usable_size(p)) {
        Ok(n) => n,
        Err(m) => misuse(m, func),
    }
}

/// Allocates `n` bytes (plus the canary) aligned to `align`.
#[link_section = ".text.oxalloc_cold.oxalloc.secure.alloc"]
#[inline(never)]
pub fn alloc(n: usize, align: usize) -> *mut u8 {
    let Some(m) = n.checked_add(8) else {
        os::set_errno(os::ENOMEM);
        return core::ptr::null_mut();
    };
    let p = global::raw_heap_alloc(m, align);
    if !p.is_null() {
        let u = heap_usable(p, "malloc");
        // SAFETY: the block has `u` usable bytes; the canary takes the last word of them.
        unsafe { ((p as usize + u - 8) as *mut usize).write_unaligned(canary(p as usize)) };
    }
    p
}

/// Checks a block about to be freed or resized: not quarantined, valid, canary intact.
/// Returns its usable size for the user.
#[link_section = ".text.oxalloc_cold.oxalloc.secure.check"]
#[inline(never)]
fn check(p: *mut u8, func: &str) -> usize {
    let q = global::with_heap(|_| {
        // SAFETY: the ring is used under the heap's lock.
        unsafe { (*RING.slots.get()).contains(&(p as usize)) }
    });
    if q {
        misuse(Misuse::DoubleFree(p as usize), func);
    }
    let u = heap_usable(p, func);
    // SAFETY: the block has `u` usable bytes (validated above).
    let c = unsafe { ((p as usize + u - 8) as *const usize).read_unaligned() };
    if c != canary(p as usize) {
        misuse(Misuse::Overflow(p as usize), func);
    }
    u - 8
}

/// Frees `p`: checked, filled, quarantined.
#[link_section = ".text.oxalloc_cold.oxalloc.secure.free"]
#[inline(never)]
pub fn free(p: *mut u8, func: &str) {
    let u = check(p, func);
    // SAFETY: p is a valid in-use block (checked).
    let fill = if unsafe { oxalloc_core::heap::is_huge(p as usize) } {
        // A huge block's whole pages go back to the kernel and become inaccessible while it
        // is quarantined: a use after free there faults, and its memory is not resident (filled
        // instead, each such block stayed resident: a 100 MiB buffer grown by `realloc` in 20
        // steps made 5.4 GiB resident). Its first page, with the header the heap reads when
        // the block leaves the quarantine, is filled as any block.
        let start = (p as usize + 4095) & !4095;
        let end = (p as usize + u) & !4095;
        if end > start {
            os::advise_free(start, end - start);
            os::protect_none(start, end - start);
        }
        u.min(start - p as usize)
    } else {
        u
    };
    // SAFETY: the user's part of the block (u bytes) is no longer used.
    unsafe { core::ptr::write_bytes(p, 0xDF, fill) };
    let evicted = global::with_heap(|_| {
        // SAFETY: the ring is used under the heap's lock.
        unsafe {
            let slots = &mut *RING.slots.get();
            let next = &mut *RING.next.get();
            let old = slots[*next % QUARANTINE];
            slots[*next % QUARANTINE] = p as usize;
            *next += 1;
            old
        }
    });
    if evicted != 0 {
        // SAFETY: the evicted block was checked when it entered the quarantine.
        if let Err(m) = global::with_heap(|h| unsafe { h.free(evicted as *mut u8) }) {
            misuse(m, func);
        }
    }
}

/// Resizes `p` to `n` bytes (always moving: the old block goes through `free`).
#[link_section = ".text.oxalloc_cold.oxalloc.secure.realloc"]
#[inline(never)]
pub fn realloc(p: *mut u8, n: usize, align: usize, func: &str) -> *mut u8 {
    let u = check(p, func);
    let q = alloc(n, align);
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and distinct; u and n bound what each holds.
    unsafe { core::ptr::copy_nonoverlapping(p, q, u.min(n)) };
    free(p, func);
    q
}

/// The usable size for the user (the canary excluded); misuse is reported as in `func`.
#[link_section = ".text.oxalloc_cold.oxalloc.secure.usable_size"]
#[inline(never)]
pub fn usable_size(p: *mut u8, func: &str) -> usize {
    if p.is_null() {
        return 0;
    }
    heap_usable(p, func) - 8
}
