//! The heap checker: walks every block of every segment and every free list, and re-derives the
//! invariants written beside [`crate::tag`], [`crate::bins`] and [`crate::heap`].
//!
//! It is O(blocks × list length) in the worst case and meant for tests, the fuzzer, and debug runs.

use crate::bins::{bin_of, NBINS};
use crate::heap::{Heap, SEG_MAPPED, SEG_RECORD};
use crate::source::Source;
use crate::tag::*;

/// An invariant that does not hold, with the address where it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckError {
    /// What is wrong.
    pub what: &'static str,
    /// The block (or list head, or segment) concerned.
    pub addr: usize,
}

fn fail<T>(what: &'static str, addr: usize) -> Result<T, CheckError> {
    Err(CheckError { what, addr })
}

/// What the walk of the blocks found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// In-use blocks (fences excluded).
    pub in_use_blocks: usize,
    /// Bytes of in-use blocks.
    pub in_use_bytes: usize,
    /// Free blocks in the lists.
    pub free_blocks: usize,
    /// Bytes of free blocks in the lists.
    pub free_bytes: usize,
    /// Bytes of the top chunk.
    pub top_bytes: usize,
    /// Segments.
    pub segments: usize,
    /// The largest free block (or the top chunk, if larger).
    pub largest_free: usize,
    /// Blocks with a mapping of their own.
    pub huge_blocks: usize,
    /// Their sizes.
    pub huge_bytes: usize,
}

impl<S: Source> Heap<S> {
    /// Walks the whole heap and checks every invariant; returns what it counted.
    #[link_section = ".text.oxalloc_cold.oxalloc_core.check.check"]
    #[inline(never)]
    pub fn check(&self) -> Result<Census, CheckError> {
        let mut c = Census::default();
        let (top, top_end, mut seg) = self.top_info();
        if top > top_end {
            return fail("top above top_end", top);
        }
        if self.top_handed_end() < top {
            return fail("kept part of the top larger than the top", top);
        }
        c.top_bytes = top_end - top;
        c.largest_free = c.top_bytes;
        let mut current = true;
        let mut guard = 0usize;
        while seg != 0 {
            guard += 1;
            if guard > 1 << 20 {
                return fail("segment list does not end", seg);
            }
            c.segments += 1;
            // SAFETY: seg is a segment record of this heap (list invariant; checked by walking).
            let (prev_seg, fence) = unsafe { (read(seg), read(seg + WORD) & !SEG_MAPPED) };
            if seg % 16 != 8 {
                return fail("segment record misaligned", seg);
            }
            let limit = if current {
                if fence != 0 {
                    return fail("current segment has a fence", seg);
                }
                top
            } else {
                if fence == 0 {
                    return fail("sealed segment without fence", seg);
                }
                fence
            };
            let mut b = seg + SEG_RECORD;
            let mut prev_free = 0usize; // size of the previous block if free, else 0
            while b < limit {
                // SAFETY: b is inside the segment's block area.
                let h = unsafe { read(b) };
                if h & INUSE != 0 {
                    if h & FLAGS == MMAPPED {
                        return fail("heap block marked as mapped", b);
                    }
                    let s = size_of_header(h);
                    if s < MIN_BLOCK || b + s > limit {
                        return fail("in-use block size out of range", b);
                    }
                    let want = match prev_free {
                        0 => PREV_INUSE,
                        16 => PREV_TINY,
                        _ => 0,
                    };
                    if h & (PREV_INUSE | PREV_TINY) != want {
                        return fail("prev flags disagree with the previous block", b);
                    }
                    if !check_ok(b, h, self.secret()) {
                        return fail("in-use header's check bits are wrong", b);
                    }
                    c.in_use_blocks += 1;
                    c.in_use_bytes += s;
                    prev_free = 0;
                    b += s;
                } else {
                    if prev_free != 0 {
                        return fail("two free neighbours", b);
                    }
                    let s = match h & FLAGS {
                        KIND_NORMAL => {
                            let s = size_of_header(h);
                            if s < 32 || b + s > limit {
                                return fail("free block size out of range", b);
                            }
                            // SAFETY: inside the block.
                            if unsafe { read(b + s - WORD) } != s {
                                return fail("footer disagrees with header", b);
                            }
                            s
                        }
                        KIND_TINY => 16,
                        KIND_SMALL => {
                            // SAFETY: inside the block.
                            if unsafe { read(b + 16) } != 24 {
                                return fail("footer of 24-byte block wrong", b);
                            }
                            24
                        }
                        _ => return fail("unknown free header kind", b),
                    };
                    if b + s > limit {
                        return fail("free block overruns its segment", b);
                    }
                    self.check_membership(b, s)?;
                    c.free_blocks += 1;
                    c.free_bytes += s;
                    c.largest_free = c.largest_free.max(s);
                    prev_free = s;
                    b += s;
                }
            }
            if b != limit {
                return fail("blocks overrun the segment end", b);
            }
            if current {
                if prev_free != 0 {
                    return fail("free block next to the top chunk", b);
                }
            } else {
                // SAFETY: limit is the fence of a sealed segment.
                let h = unsafe { read(limit) };
                let want = match prev_free {
                    0 => PREV_INUSE,
                    16 => PREV_TINY,
                    _ => 0,
                };
                if h & INUSE == 0 || !(8..=16).contains(&size_of_header(h)) {
                    return fail("bad fence", limit);
                }
                if h & (PREV_INUSE | PREV_TINY) != want {
                    return fail("fence prev flags wrong", limit);
                }
            }
            current = false;
            seg = prev_seg;
        }
        // Lists: links agree, every node is a free block of the right size, bitmap matches.
        let mut listed = 0usize;
        for i in 0..NBINS {
            let head = self.bins().head(i);
            if self.bins().bit(i) != (head != 0) {
                return fail("bitmap disagrees with list", i);
            }
            let mut prev = 0usize;
            let mut n = head;
            while n != 0 {
                listed += 1;
                if listed > c.free_blocks {
                    return fail("more listed blocks than free blocks", n);
                }
                // SAFETY: n was found by the walk above (membership check).
                let (h, p, next) = unsafe { (read(n), prev_link(n), next_link(n)) };
                if h & INUSE != 0 || bin_of(free_size(h)) != i {
                    return fail("listed block in the wrong list", n);
                }
                if p != prev {
                    return fail("prev link disagrees", n);
                }
                prev = n;
                n = next;
            }
        }
        if listed != c.free_blocks {
            return fail("free blocks missing from the lists", listed);
        }
        // Huge blocks: a doubly linked list of mappings, each with an in-use MMAPPED header.
        let mut m = self.huge_head();
        let mut prev = 0usize;
        while m != 0 {
            // SAFETY: m is a mapping in the huge list.
            let (p, pl, next) = unsafe { (read(m + 2 * WORD), read(m), read(m + WORD)) };
            if pl != prev {
                return fail("huge list prev link disagrees", m);
            }
            // SAFETY: p - 8 is the header of the huge block in mapping m.
            let h = unsafe { read(p - WORD) };
            if h & FLAGS != MMAPPED || p < m + crate::heap::HUGE_PREFIX {
                return fail("bad huge block header", m);
            }
            c.in_use_blocks += 1;
            c.in_use_bytes += size_of_header(h);
            c.huge_blocks += 1;
            c.huge_bytes += size_of_header(h);
            prev = m;
            m = next;
        }
        let st = self.stats();
        if st.huge_blocks != c.huge_blocks {
            return fail("huge block count disagrees", c.huge_blocks);
        }
        if st.huge_bytes != c.huge_bytes {
            return fail("huge block bytes disagree", c.huge_bytes);
        }
        if st.in_use_bytes != c.in_use_bytes || st.in_use_blocks != c.in_use_blocks {
            return fail("statistics disagree with the heap", st.in_use_bytes);
        }
        Ok(c)
    }

    /// Follows `prev` links from the free block `b` to its list's head.
    fn check_membership(&self, b: usize, s: usize) -> Result<(), CheckError> {
        let mut n = b;
        let mut steps = 0usize;
        loop {
            // SAFETY: n is a free block (b, then blocks reached through links checked below).
            let p = unsafe { prev_link(n) };
            if p == 0 {
                break;
            }
            if p % WORD != 0 {
                return fail("misaligned prev link", n);
            }
            // SAFETY: p is a link of a free block of this heap.
            if unsafe { next_link(p) } != n {
                return fail("next link disagrees with prev link", p);
            }
            n = p;
            steps += 1;
            if steps > 1 << 24 {
                return fail("free list does not end", b);
            }
        }
        if self.bins().head(bin_of(s)) != n {
            return fail("free block not in the list of its size", b);
        }
        Ok(())
    }
}
