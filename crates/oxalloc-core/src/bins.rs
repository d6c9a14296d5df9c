//! Segregated free lists: exact lists for small block sizes, four ranges per power of two above
//! them, and a bitmap of the non-empty lists so that finding a block never walks the heap.
//!
//! ```text
//! bin 0..=126   : exact block sizes 16, 24, 32, ..., 1024          (size / 8 - 2)
//! bin 127..     : [2^k, 2^(k+1)) split in four equal ranges, k >= 10 (sizes above 1024)
//! ```
//!
//! Invariants: a free block of size S is in list `bin_of(S)`; every block in range bin `i` is at
//! least `bin_min(i)`; bit `i` of the bitmap is set iff list `i` is non-empty; lists are
//! doubly linked with a null `prev` at the head; new blocks are pushed at the head (LIFO).

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::tag::{kind_of, next_link, prev_link_of, set_next_link, set_prev_link_of};

/// The function [`link_overwritten`] calls (0: none set, it panics).
static ON_OVERWRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Sets what happens when a list link read from a free block is not the address of a block of
/// the heap: the block was written after it was freed. The handler gets the block's payload
/// address and must not return (the process allocator prints a line and aborts).
pub fn set_link_overwritten_handler(f: fn(usize) -> !) {
    ON_OVERWRITTEN.store(f as usize, Ordering::Release);
}

/// A free block `b` whose list links do not point into the heap: stops.
#[cold]
#[inline(never)]
#[link_section = ".text.oxalloc_cold.oxalloc_core.bins.link_overwritten"]
fn link_overwritten(b: usize) -> ! {
    let f = ON_OVERWRITTEN.load(Ordering::Acquire);
    if f != 0 {
        // SAFETY: only set_link_overwritten_handler stores here, from an `fn(usize) -> !`.
        let f: fn(usize) -> ! = unsafe { core::mem::transmute(f) };
        f(b + crate::tag::WORD);
    }
    panic!("free block {b:#x} written after free: its list links do not point into the heap");
}

/// The largest block size with a list of its own.
pub const MAX_EXACT: usize = 1024;
/// Number of exact-size lists.
pub const EXACT_BINS: usize = MAX_EXACT / 8 - 1;
/// Number of lists in all.
pub const NBINS: usize = EXACT_BINS + (64 - 10) * 4;
/// Number of 64-bit words in the bitmap.
pub const BITMAP_WORDS: usize = NBINS.div_ceil(64);

const _: () = assert!(EXACT_BINS == 127);
const _: () = assert!(BITMAP_WORDS * 64 >= NBINS);

/// The list a free block of `size` bytes belongs in.
#[inline(always)]
pub const fn bin_of(size: usize) -> usize {
    if size <= MAX_EXACT {
        size / 8 - 2
    } else {
        let k = (usize::BITS - 1 - size.leading_zeros()) as usize;
        let sub = (size >> (k - 2)) & 3;
        EXACT_BINS + (k - 10) * 4 + sub
    }
}

/// The smallest block size that belongs in list `i`.
pub const fn bin_min(i: usize) -> usize {
    if i < EXACT_BINS {
        (i + 2) * 8
    } else {
        let j = i - EXACT_BINS;
        let k = j / 4 + 10;
        let sub = j % 4;
        let base = (1usize << k) + sub * (1usize << (k - 2));
        if base <= MAX_EXACT {
            MAX_EXACT + 8
        } else {
            base
        }
    }
}

/// The free lists and their bitmap.
pub struct Bins {
    heads: [usize; NBINS],
    bitmap: [u64; BITMAP_WORDS],
    count: usize,
    /// Every block of a list lies in `[lo, hi)` (the heap's bounds, kept by the heap): a link
    /// read from a free block that is neither 0 nor an 8-aligned address there was written over.
    lo: usize,
    hi: usize,
}

impl Bins {
    /// Empty lists.
    pub const fn new() -> Self {
        Bins {
            heads: [0; NBINS],
            bitmap: [0; BITMAP_WORDS],
            count: 0,
            lo: 0,
            hi: 0,
        }
    }

    /// Records the heap's bounds: every block of a list lies in `[lo, hi)`.
    pub fn set_bounds(&mut self, lo: usize, hi: usize) {
        self.lo = lo;
        self.hi = hi;
    }

    /// Whether `l` may be a list link: 0, or an 8-aligned address inside the heap's bounds.
    #[inline(always)]
    fn link_ok(&self, l: usize) -> bool {
        l == 0 || (l.is_multiple_of(8) && l.wrapping_sub(self.lo) < self.hi.wrapping_sub(self.lo))
    }

    /// The next block of the free block `b`'s list (0 at the end). A link that cannot be one
    /// (the block was written after its free) stops the process.
    ///
    /// # Safety
    /// `b` must be a free block in a list.
    #[inline]
    pub unsafe fn next_of(&self, b: usize) -> usize {
        // SAFETY: per the contract.
        let next = unsafe { next_link(b) };
        if !self.link_ok(next) {
            link_overwritten(b);
        }
        next
    }

    /// The first block of list `i` (0 if empty).
    #[inline(always)]
    pub fn head(&self, i: usize) -> usize {
        self.heads[i]
    }

    /// Number of blocks in all lists.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether bit `i` of the bitmap is set.
    pub fn bit(&self, i: usize) -> bool {
        self.bitmap[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Pushes the free block `b` (of size `size`, header already written) at the head of its list.
    ///
    /// # Safety
    /// `b` must be a free block of `size` bytes that is in no list.
    #[inline]
    pub unsafe fn push(&mut self, b: usize, size: usize) {
        let i = bin_of(size);
        let old = self.heads[i];
        // Every block of a list has the same free layout (sizes in a list share it), so the old
        // head's link is written without reading its header first.
        let kind = kind_of(size);
        // SAFETY: b and old are free blocks of that layout (caller; list invariant).
        unsafe {
            set_prev_link_of(b, kind, 0);
            set_next_link(b, old);
            if old != 0 {
                set_prev_link_of(old, kind, b);
            }
        }
        self.heads[i] = b;
        self.bitmap[i / 64] |= 1u64 << (i % 64);
        self.count += 1;
    }

    /// Removes the free block `b` of size `size` from its list.
    ///
    /// # Safety
    /// `b` must be a free block of `size` bytes in list `bin_of(size)`.
    #[inline]
    pub unsafe fn unlink(&mut self, b: usize, size: usize) {
        self.count -= 1;
        let kind = kind_of(size);
        // SAFETY: b is in a list (caller), so its neighbours are free blocks of its layout.
        unsafe {
            let prev = prev_link_of(b, kind);
            let next = next_link(b);
            // Links written over after the free (the program's data, zeros in a non-head
            // block's prev) would send the writes below anywhere.
            if !self.link_ok(prev)
                || !self.link_ok(next)
                || (prev == 0 && self.heads[bin_of(size)] != b)
            {
                link_overwritten(b);
            }
            if next != 0 {
                set_prev_link_of(next, kind, prev);
            }
            if prev != 0 {
                set_next_link(prev, next);
            } else {
                let i = bin_of(size);
                self.heads[i] = next;
                if next == 0 {
                    self.bitmap[i / 64] &= !(1u64 << (i % 64));
                }
            }
        }
    }

    /// The first non-empty list with index `>= i`, if any.
    #[inline]
    pub fn first_nonempty_from(&self, i: usize) -> Option<usize> {
        if i >= NBINS {
            return None;
        }
        let mut w = i / 64;
        let mut bits = self.bitmap[w] & (!0u64 << (i % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            if w == BITMAP_WORDS {
                return None;
            }
            bits = self.bitmap[w];
        }
    }
}

impl Default for Bins {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_monotone_and_cover_every_size() {
        let mut last = 0;
        let mut s = 16;
        while s < (1 << 40) {
            let i = bin_of(s);
            assert!(i >= last, "bin_of not monotone at {s}");
            assert!(i < NBINS);
            assert!(bin_min(i) <= s, "size {s} below the minimum of its bin {i}");
            if i + 1 < NBINS {
                assert!(bin_min(i + 1) > s, "size {s} reaches bin {}", i + 1);
            }
            last = i;
            s += if s < 4096 { 8 } else { (s / 7) & !7 };
        }
        assert_eq!(bin_of(usize::MAX & !7), NBINS - 1);
    }
}
