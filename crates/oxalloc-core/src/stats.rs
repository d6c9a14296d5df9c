//! Counters kept by a heap. Plain integers updated under the heap's own exclusive access.
//!
//! Invariants: `in_use_bytes` is the sum of the sizes of in-use blocks (headers included) and
//! `in_use_blocks` their number; `heap_bytes` is the sum of the sizes of the segments;
//! `peak_heap_bytes >= heap_bytes`.

/// A heap's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of memory the heap holds from its source now.
    pub heap_bytes: usize,
    /// The largest `heap_bytes` seen.
    pub peak_heap_bytes: usize,
    /// Bytes of in-use blocks, headers included.
    pub in_use_bytes: usize,
    /// Number of in-use blocks.
    pub in_use_blocks: usize,
    /// The largest `in_use_bytes` seen.
    pub peak_in_use_bytes: usize,
    /// Allocations served (blocks handed out, including realloc moves).
    pub allocs: u64,
    /// Bytes of the blocks handed out over the heap's life (headers included).
    pub alloc_bytes: u64,
    /// Blocks freed (including realloc moves).
    pub frees: u64,
    /// Times the source was grown.
    pub grow_calls: u64,
    /// Times the source was shrunk.
    pub shrink_calls: u64,
    /// Bytes given back to the source by shrinking.
    pub released_bytes: u64,
    /// Segments started (more than one when the break was moved by someone else).
    pub segments: u64,
    /// Mappings made (segments when the end cannot move, and huge blocks).
    pub map_calls: u64,
    /// Mappings given back.
    pub unmap_calls: u64,
    /// Bytes of huge blocks' mappings now.
    pub mapped_bytes: usize,
    /// Huge blocks (each with a mapping of its own) now.
    pub huge_blocks: usize,
    /// The sizes of the huge blocks now (headers included, as in `in_use_bytes`, which counts
    /// them too).
    pub huge_bytes: usize,
    /// Times free pages inside the heap were given back (`madvise`).
    pub advise_calls: u64,
    /// Bytes of free pages given back inside the heap.
    pub advised_bytes: u64,
    /// Free blocks in the free lists (filled in by `Heap::stats`).
    pub free_blocks: usize,
    /// Bytes of the top chunk, which trimming can give back (filled in by `Heap::stats`).
    pub top_bytes: usize,
}

impl Stats {
    /// All zero.
    pub const ZERO: Stats = Stats {
        heap_bytes: 0,
        peak_heap_bytes: 0,
        in_use_bytes: 0,
        in_use_blocks: 0,
        peak_in_use_bytes: 0,
        allocs: 0,
        alloc_bytes: 0,
        frees: 0,
        grow_calls: 0,
        shrink_calls: 0,
        released_bytes: 0,
        segments: 0,
        map_calls: 0,
        unmap_calls: 0,
        mapped_bytes: 0,
        huge_blocks: 0,
        huge_bytes: 0,
        advise_calls: 0,
        advised_bytes: 0,
        free_blocks: 0,
        top_bytes: 0,
    };

    #[inline(always)]
    pub(crate) fn on_alloc(&mut self, size: usize) {
        self.in_use_bytes += size;
        self.in_use_blocks += 1;
        self.allocs += 1;
        self.alloc_bytes += size as u64;
        if self.in_use_bytes > self.peak_in_use_bytes {
            self.peak_in_use_bytes = self.in_use_bytes;
        }
    }

    #[inline(always)]
    pub(crate) fn on_free(&mut self, size: usize) {
        self.in_use_bytes -= size;
        self.in_use_blocks -= 1;
        self.frees += 1;
    }

    /// An in-use block was split in two in-use blocks (one of which is freed next).
    #[inline(always)]
    pub(crate) fn on_split(&mut self) {
        self.in_use_blocks += 1;
        self.allocs += 1;
    }

    #[inline(always)]
    pub(crate) fn on_resize(&mut self, old: usize, new: usize) {
        self.in_use_bytes = self.in_use_bytes - old + new;
        if self.in_use_bytes > self.peak_in_use_bytes {
            self.peak_in_use_bytes = self.in_use_bytes;
        }
    }

    #[inline(always)]
    pub(crate) fn note_peak(&mut self) {
        if self.heap_bytes > self.peak_heap_bytes {
            self.peak_heap_bytes = self.heap_bytes;
        }
    }
}
