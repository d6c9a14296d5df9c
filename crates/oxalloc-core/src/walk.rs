//! Walking the heap for tools: every segment, block, top chunk and huge block, in order.
//!
//! Used by the statistics (blocks per size class) and the heap map. The walk trusts the heap's
//! invariants (run [`Heap::check`] first when they are in doubt); it never allocates.

use crate::heap::{Heap, HUGE_PREFIX, SEG_MAPPED, SEG_RECORD};
use crate::source::Source;
use crate::tag::*;

/// One item of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// A segment: `[start, end)`, from a mapping or from the break.
    Segment {
        /// First byte (the segment record).
        start: usize,
        /// One past the last byte.
        end: usize,
        /// Whether it is a mapping.
        mapped: bool,
    },
    /// A block of a segment.
    Block {
        /// Header address.
        addr: usize,
        /// Size in bytes, header included.
        size: usize,
        /// In use (or held by a thread cache) rather than free.
        used: bool,
        /// The thread cache that owns it (0: none).
        owner: u16,
    },
    /// The free top chunk of the current segment.
    Top {
        /// First byte.
        addr: usize,
        /// Size in bytes.
        size: usize,
    },
    /// A segment's fence.
    Fence {
        /// Header address.
        addr: usize,
        /// Size in bytes.
        size: usize,
    },
    /// A block with a mapping of its own.
    Huge {
        /// Mapping start.
        addr: usize,
        /// Mapping length.
        size: usize,
    },
}

impl<S: Source> Heap<S> {
    /// Calls `f` for every segment (newest first), then its blocks in address order (and its top
    /// chunk or fence), then every huge block.
    pub fn walk(&self, mut f: impl FnMut(Item)) {
        let (top, top_end, mut seg) = self.top_info();
        let mut current = true;
        while seg != 0 {
            // SAFETY: seg is a segment record of this heap.
            let (prev, w1) = unsafe { (read(seg), read(seg + WORD)) };
            let mapped = w1 & SEG_MAPPED != 0;
            let fence = w1 & !SEG_MAPPED;
            let limit = if current { top } else { fence };
            let end = if current {
                top_end + WORD
            } else {
                // SAFETY: the fence is an in-use block of this segment.
                fence + size_of_header(unsafe { read(fence) })
            };
            f(Item::Segment {
                start: seg,
                end,
                mapped,
            });
            let mut b = seg + SEG_RECORD;
            while b < limit {
                // SAFETY: b is a block header of this segment (tiling invariant).
                let h = unsafe { read(b) };
                let size = block_size(h);
                if size == 0 {
                    break;
                }
                let used = h & INUSE != 0;
                let owner = if used { (h >> OWNER_SHIFT) as u16 } else { 0 };
                f(Item::Block {
                    addr: b,
                    size,
                    used,
                    owner,
                });
                b += size;
            }
            if current {
                f(Item::Top {
                    addr: top,
                    size: top_end - top,
                });
            } else {
                f(Item::Fence {
                    addr: fence,
                    size: end - fence,
                });
            }
            current = false;
            seg = prev;
        }
        let mut m = self.huge_head();
        while m != 0 {
            // SAFETY: m is a mapping in the huge list.
            let (next, p) = unsafe { (read(m + WORD), read(m + 2 * WORD)) };
            // SAFETY: p - 8 is the huge block's header.
            let size = size_of_header(unsafe { read(p - WORD) }) + (p - WORD - m);
            debug_assert!(p >= m + HUGE_PREFIX);
            f(Item::Huge { addr: m, size });
            m = next;
        }
    }
}
