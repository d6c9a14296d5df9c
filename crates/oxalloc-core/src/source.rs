//! Where the heap's memory comes from: a break-like source that grows and shrinks at its end.
//!
//! The process-wide heap uses the C library's `sbrk`/`brk` (in the `oxalloc` crate); tests and
//! the fuzzer use [`ArraySource`] over a plain byte array, with a cap, call counters, garbage
//! filling, foreign break moves and injected failures.

/// A memory source with a movable end, like the heap break.
///
/// # Safety
/// Implementors promise that memory returned by [`Source::extend`] is readable and writable,
/// 8-byte aligned at its start when the end was, and used by nobody else until it is given back
/// by [`Source::shrink_to`]. Implementations must never call back into the heap.
pub unsafe trait Source {
    /// The current end of the source (`sbrk(0)`).
    fn end(&mut self) -> usize;
    /// Moves the end up by `n` bytes and returns the old end (`sbrk(n)`), or `None`.
    /// The returned range may not start where the previous one ended (another user moved it).
    fn extend(&mut self, n: usize) -> Option<usize>;
    /// Moves the end down to `end` (`brk(end)`), giving back what is above it.
    fn shrink_to(&mut self, end: usize) -> bool;
    /// Maps `n` bytes (a multiple of [`Source::page_size`]) of fresh memory anywhere, for when
    /// the end cannot move or for blocks that get a mapping of their own. Page-aligned.
    fn map(&mut self, _n: usize) -> Option<usize> {
        None
    }
    /// Whether memory from [`Source::map`] reads as zero (fresh anonymous pages): `calloc` of a
    /// block with a mapping of its own then writes nothing, and its untouched pages stay
    /// unallocated. False by default (a test source fills what it hands out).
    fn maps_zeroed(&self) -> bool {
        false
    }
    /// Resizes a range obtained from [`Source::map`] (whole, as mapped) from `old` to `new`
    /// bytes (multiples of [`Source::page_size`]), moving it if it must, its contents kept (the
    /// part that fits). The new start, or `None` with the range unchanged: the caller copies.
    fn remap(&mut self, _addr: usize, _old: usize, _new: usize) -> Option<usize> {
        None
    }
    /// Gives back a range obtained from [`Source::map`] (whole, as mapped).
    fn unmap(&mut self, _addr: usize, _n: usize) -> bool {
        false
    }
    /// Tells the source the pages of `[addr, addr + n)` (page-aligned) hold nothing of value;
    /// they read as zero afterwards.
    fn advise_free(&mut self, _addr: usize, _n: usize) {}
    /// Makes `[addr, addr + n)` (page-aligned, part of a mapping) inaccessible: a guard page.
    fn protect_none(&mut self, _addr: usize, _n: usize) -> bool {
        true
    }
    /// The page size.
    fn page_size(&self) -> usize {
        4096
    }
}

/// [`ArraySource::fail_ops`]: `extend` fails.
pub const OP_EXTEND: u8 = 1;
/// [`ArraySource::fail_ops`]: `shrink_to` fails.
pub const OP_SHRINK: u8 = 2;
/// [`ArraySource::fail_ops`]: `map` fails.
pub const OP_MAP: u8 = 4;
/// [`ArraySource::fail_ops`]: `unmap` fails.
pub const OP_UNMAP: u8 = 8;
/// [`ArraySource::fail_ops`]: `advise_free` fails (it then leaves the pages as they are).
pub const OP_ADVISE: u8 = 16;

/// Counters kept by [`ArraySource`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCalls {
    /// Successful `extend` calls.
    pub extends: u64,
    /// Failed `extend` calls.
    pub failed_extends: u64,
    /// Successful `shrink_to` calls.
    pub shrinks: u64,
    /// Successful `map` calls.
    pub maps: u64,
    /// Successful `unmap` calls.
    pub unmaps: u64,
    /// `advise_free` calls.
    pub advises: u64,
}

/// A break over a caller-provided byte range `[base, base + cap)`, for tests and fuzzing.
///
/// `map` hands out pages from the high end of the range downward, so a mapping can sit right
/// above the break and stop it, as on a real system.
pub struct ArraySource {
    base: usize,
    cap: usize,
    cur: usize,
    map_floor: usize,
    brk_limit: usize,
    /// Whether `map` works at all.
    pub can_map: bool,
    /// Byte written over memory each `extend` hands out (so `calloc` cannot assume zeroes).
    pub fill: Option<u8>,
    /// The next this-many calls of the kinds in `fail_ops` fail.
    pub fail_next: u32,
    /// Which calls `fail_next` makes fail: a mask of the `OP_*` constants.
    pub fail_ops: u8,
    /// Bytes mapped and not unmapped.
    pub mapped_live: usize,
    /// Call counters.
    pub calls: SourceCalls,
}

impl ArraySource {
    /// A source over `[base, base + cap)`, with its end at `base`.
    ///
    /// # Safety
    /// The range must be valid, writable, 8-aligned at `base`, and used by nothing else while
    /// the source (or a heap over it) lives.
    pub unsafe fn new(base: usize, cap: usize) -> Self {
        ArraySource {
            base,
            cap,
            cur: base,
            map_floor: base + cap,
            brk_limit: base + cap,
            can_map: true,
            fill: None,
            fail_next: 0,
            fail_ops: OP_EXTEND | OP_MAP,
            mapped_live: 0,
            calls: SourceCalls::default(),
        }
    }

    /// The start of the range.
    pub fn base(&self) -> usize {
        self.base
    }

    /// The size of the range.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Moves the end up by `n` bytes as another user of the break would (the heap does not own
    /// them). Returns whether there was room.
    pub fn foreign_move(&mut self, n: usize) -> bool {
        if self.cur + n > self.limit() {
            return false;
        }
        self.cur += n;
        true
    }

    /// Places a mapping right above the current end, so the end cannot move up any more
    /// (`map` still works, from the high end of the range).
    pub fn block_end(&mut self) {
        self.brk_limit = self.cur;
    }

    /// Whether this call of kind `op` is one that must fail.
    fn injected(&mut self, op: u8) -> bool {
        if self.fail_next > 0 && self.fail_ops & op != 0 {
            self.fail_next -= 1;
            return true;
        }
        false
    }

    fn limit(&self) -> usize {
        self.brk_limit.min(self.map_floor)
    }
}

// SAFETY: extend hands out disjoint parts of the range given to `new`, which nobody else uses.
unsafe impl Source for ArraySource {
    fn end(&mut self) -> usize {
        self.cur
    }

    fn extend(&mut self, n: usize) -> Option<usize> {
        if self.injected(OP_EXTEND) {
            self.calls.failed_extends += 1;
            return None;
        }
        if n > self.limit() - self.cur {
            self.calls.failed_extends += 1;
            return None;
        }
        let old = self.cur;
        self.cur += n;
        if let Some(f) = self.fill {
            // SAFETY: [old, old + n) is inside the range owned by this source.
            unsafe { core::ptr::write_bytes(old as *mut u8, f, n) };
        }
        self.calls.extends += 1;
        Some(old)
    }

    fn shrink_to(&mut self, end: usize) -> bool {
        if self.injected(OP_SHRINK) || end < self.base || end > self.cur {
            return false;
        }
        self.cur = end;
        self.calls.shrinks += 1;
        true
    }

    fn map(&mut self, n: usize) -> Option<usize> {
        if !self.can_map || self.injected(OP_MAP) {
            return None;
        }
        let floor = (self.map_floor & !4095).checked_sub(n)?;
        if floor < self.cur {
            return None;
        }
        self.map_floor = floor;
        self.mapped_live += n;
        if let Some(f) = self.fill {
            // SAFETY: [floor, floor + n) is inside the range owned by this source.
            unsafe { core::ptr::write_bytes(floor as *mut u8, f, n) };
        }
        self.calls.maps += 1;
        Some(floor)
    }

    fn unmap(&mut self, addr: usize, n: usize) -> bool {
        if self.injected(OP_UNMAP) {
            return false;
        }
        if addr == self.map_floor {
            self.map_floor += n;
        }
        self.mapped_live -= n;
        self.calls.unmaps += 1;
        true
    }

    fn advise_free(&mut self, addr: usize, n: usize) {
        if self.injected(OP_ADVISE) {
            return;
        }
        // Pages given back read as zero afterwards.
        // SAFETY: the heap advises only free memory it owns inside this source's range.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, n) };
        self.calls.advises += 1;
    }
}
