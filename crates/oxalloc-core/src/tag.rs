//! Boundary tags: the one-word header every block carries, and the words a free block adds.
//!
//! # Block layout (addresses grow to the right; one cell = one 8-byte word)
//!
//! ```text
//! in-use block (size = S bytes, S % 8 == 0, S >= 16):
//!   b                b+8                                      b+S
//!   | S | P2 P1 1   | payload ........................... |   next block's header
//!                   ^ pointer returned to the caller (usable = S - 8 bytes)
//!
//! free block, S >= 32 ("normal"):
//!   | S | 0 0 0 | next | prev | (unused) ... | S (footer) |
//!
//! free block, S == 24 ("small"):
//!   | prev | 1 0 0 | next | 24 (footer) |
//!
//! free block, S == 16 ("tiny", no room for a footer):
//!   | prev | 0 1 0 | next |        and the next block's header has PREV_TINY set
//! ```
//!
//! The size field is bits 3..=38; bits 39..=46 of an in-use header check the block's address
//! and size under a per-heap secret (an overwritten header is noticed); bits 48..=63 name the
//! thread cache that owns the block (0 for none; see the `oxalloc` crate's thread caches).
//!
//! Low three bits of an in-use header: bit 0 `INUSE`, bit 1 `PREV_INUSE`, bit 2 `PREV_TINY`
//! (the previous block is a free 16-byte block, so it starts 16 bytes before this one).
//! `PREV_INUSE | PREV_TINY` together never describe a heap block and mark a block that has a
//! mapping of its own (`MMAPPED`).
//!
//! A free block's previous block is always in use (free neighbours are merged at once), so a free
//! header needs no `PREV_INUSE` bit; its bits 1–2 say which of the three free layouts it has, and
//! the small layouts keep the free list's `prev` link in the header's upper bits (blocks are
//! 8-byte aligned, so a link has three zero low bits).
//!
//! # Invariants (checked by [`crate::check`])
//! - Blocks tile each segment: `next(b) = b + size(b)`; the last block of a sealed segment is its
//!   fence (an in-use block that is never handed out).
//! - `prev_inuse(next(b)) == inuse(b)`; if `b` is free, `prev_tiny(next(b)) == (size(b) == 16)`.
//! - No two free blocks are neighbours; no free block touches the top chunk.
//! - A free block of size S is in the list of `bin_of(S)`; a bin's bitmap bit is set iff its list
//!   is non-empty.

/// Bytes per word; also the header size and the minimum alignment of every block.
pub const WORD: usize = 8;
/// The smallest block: a header and one word.
pub const MIN_BLOCK: usize = 16;

/// In-use header bit: this block is in use.
pub const INUSE: usize = 1;
/// In-use header bit: the block before this one is in use.
pub const PREV_INUSE: usize = 2;
/// In-use header bit: the block before this one is a free 16-byte block.
pub const PREV_TINY: usize = 4;
/// The low three bits of a block with a mapping of its own.
pub const MMAPPED: usize = INUSE | PREV_INUSE | PREV_TINY;
/// Mask of the flag bits.
pub const FLAGS: usize = 7;
/// Mask of the size field (bits 3..=38): heap blocks are smaller than 512 GiB.
pub const SIZE_MASK: usize = ((1 << 39) - 1) & !FLAGS;
/// Bits 39..=46 of an in-use header: a check of the block's address and size under a
/// per-heap secret, so that a header overwritten by an overflow is noticed when it is read.
pub const CHECK_SHIFT: u32 = 39;
/// Mask of the check field.
pub const CHECK_MASK: usize = 0xFF << CHECK_SHIFT;
/// Bits 48..=63 of an in-use header: the thread cache that owns the block (0: none). Bit 47 is
/// reserved. The heap keeps these bits when it resizes a block in place and clears them when the
/// block is freed into the heap.
pub const OWNER_SHIFT: u32 = 48;
/// Mask of the owner field.
pub const OWNER_MASK: usize = !((1 << OWNER_SHIFT) - 1);

/// Free header kind: normal (size in the header, links in the payload, footer at the end).
pub const KIND_NORMAL: usize = 0;
/// Free header kind: 16 bytes, prev link in the header.
pub const KIND_TINY: usize = 2;
/// Free header kind: 24 bytes, prev link in the header.
pub const KIND_SMALL: usize = 4;

/// Reads the word at `addr`.
///
/// # Safety
/// `addr` must be 8-aligned and inside memory the heap owns.
#[inline(always)]
pub unsafe fn read(addr: usize) -> usize {
    // Headers are read without the heap's lock by the thread caches' fast paths, so every tag
    // access is a relaxed atomic (a plain `mov` on x86-64): racing reads see old or new flags,
    // never a torn word, and the size and owner of an in-use block never change under them.
    // SAFETY: the caller guarantees an aligned address the heap owns.
    unsafe { core::sync::atomic::AtomicUsize::from_ptr(addr as *mut usize) }
        .load(core::sync::atomic::Ordering::Relaxed)
}

/// Writes the word at `addr`.
///
/// # Safety
/// As for [`read`].
#[inline(always)]
pub unsafe fn write(addr: usize, v: usize) {
    // SAFETY: the caller guarantees an aligned address the heap owns.
    unsafe { core::sync::atomic::AtomicUsize::from_ptr(addr as *mut usize) }
        .store(v, core::sync::atomic::Ordering::Relaxed)
}

/// The check bits of an in-use header of `size` bytes at `b` under `secret`.
#[inline(always)]
pub const fn check_bits(b: usize, size: usize, secret: usize) -> usize {
    let x = (b ^ (size << 17) ^ secret).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) << CHECK_SHIFT
}

/// Whether the in-use header `h` at `b` carries the right check bits.
#[inline(always)]
pub const fn check_ok(b: usize, h: usize, secret: usize) -> bool {
    h & CHECK_MASK == check_bits(b, h & SIZE_MASK, secret)
}

/// The size of a block from its header, for in-use and normal free headers.
#[inline(always)]
pub const fn size_of_header(h: usize) -> usize {
    h & SIZE_MASK
}

/// The size of a free block from its header (any of the three free layouts).
#[inline(always)]
pub const fn free_size(h: usize) -> usize {
    match h & FLAGS {
        KIND_TINY => 16,
        KIND_SMALL => 24,
        _ => h & SIZE_MASK,
    }
}

/// The size of any heap block (in-use or free) from its header.
#[inline(always)]
pub const fn block_size(h: usize) -> usize {
    if h & INUSE != 0 {
        size_of_header(h)
    } else {
        free_size(h)
    }
}

/// Writes the header (and footer) of a free block of `size` bytes at `b`, with null links.
///
/// # Safety
/// `[b, b + size)` must be heap memory not in use by anyone.
#[inline]
pub unsafe fn make_free(b: usize, size: usize) {
    // SAFETY: all writes are inside [b, b + size), owned by the caller.
    unsafe {
        match size {
            16 => write(b, KIND_TINY),
            24 => {
                write(b, KIND_SMALL);
                write(b + 16, 24);
            }
            _ => {
                write(b, size);
                write(b + size - WORD, size);
            }
        }
        write(b + WORD, 0);
        if size >= 32 {
            write(b + 2 * WORD, 0);
        }
    }
}

/// The `next` link of a free block.
///
/// # Safety
/// `b` must be a free block.
#[inline(always)]
pub unsafe fn next_link(b: usize) -> usize {
    // SAFETY: a free block's second word is its next link.
    unsafe { read(b + WORD) }
}

/// Sets the `next` link of a free block.
///
/// # Safety
/// `b` must be a free block.
#[inline(always)]
pub unsafe fn set_next_link(b: usize, v: usize) {
    // SAFETY: as in `next_link`.
    unsafe { write(b + WORD, v) }
}

/// The `prev` link of a free block.
///
/// # Safety
/// `b` must be a free block.
#[inline(always)]
pub unsafe fn prev_link(b: usize) -> usize {
    // SAFETY: b is a free block; its layout decides where the link is.
    unsafe {
        let h = read(b);
        match h & FLAGS {
            KIND_TINY | KIND_SMALL => h & !FLAGS,
            _ => read(b + 2 * WORD),
        }
    }
}

/// The free-header kind of every free block of `size` bytes (the layout depends on the size
/// alone, so blocks of one free list share it).
#[inline(always)]
pub const fn kind_of(size: usize) -> usize {
    match size {
        16 => KIND_TINY,
        24 => KIND_SMALL,
        _ => KIND_NORMAL,
    }
}

/// The `prev` link of a free block whose kind is `kind` (see [`kind_of`]): no header read for
/// a normal block.
///
/// # Safety
/// `b` must be a free block of that kind.
#[inline(always)]
pub unsafe fn prev_link_of(b: usize, kind: usize) -> usize {
    // SAFETY: b is a free block (caller): its header is readable.
    debug_assert_eq!(unsafe { read(b) } & FLAGS, kind);
    // SAFETY: b is a free block of this kind; the kind decides where the link is.
    unsafe {
        if kind == KIND_NORMAL {
            read(b + 2 * WORD)
        } else {
            read(b) & !FLAGS
        }
    }
}

/// Sets the `prev` link of a free block whose kind is `kind` (see [`kind_of`]) without reading
/// it: a list's neighbours are written when a block joins or leaves the list, and in a large
/// heap they are cold (a store does not wait for the line; a load would).
///
/// # Safety
/// `b` must be a free block of that kind; `v` must be 8-aligned.
#[inline(always)]
pub unsafe fn set_prev_link_of(b: usize, kind: usize, v: usize) {
    // SAFETY: b is a free block (caller): its header is readable.
    debug_assert_eq!(unsafe { read(b) } & FLAGS, kind);
    // SAFETY: b is a free block of this kind: a small layout's header is its link and kind.
    unsafe {
        if kind == KIND_NORMAL {
            write(b + 2 * WORD, v)
        } else {
            write(b, v | kind)
        }
    }
}

/// Sets the `PREV_INUSE`/`PREV_TINY` bits of the in-use block at `b` to describe a previous
/// block that is in use (`prev_free == 0`) or free with size `prev_free`.
///
/// # Safety
/// `b` must be an in-use block (or a fence).
#[inline(always)]
pub unsafe fn set_prev_state(b: usize, prev_free: usize) {
    // SAFETY: b is an in-use header the heap owns.
    unsafe {
        let h = read(b) & !(PREV_INUSE | PREV_TINY);
        let bits = match prev_free {
            0 => PREV_INUSE,
            16 => PREV_TINY,
            _ => 0,
        };
        write(b, h | bits);
    }
}
