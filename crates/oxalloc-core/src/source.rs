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
}

/// Counters kept by [`ArraySource`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCalls {
    /// Successful `extend` calls.
    pub extends: u64,
    /// Failed `extend` calls.
    pub failed_extends: u64,
    /// Successful `shrink_to` calls.
    pub shrinks: u64,
}

/// A break over a caller-provided byte range `[base, base + cap)`, for tests and fuzzing.
pub struct ArraySource {
    base: usize,
    cap: usize,
    cur: usize,
    /// Byte written over memory each `extend` hands out (so `calloc` cannot assume zeroes).
    pub fill: Option<u8>,
    /// The next this-many `extend` calls fail.
    pub fail_next: u32,
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
            fill: None,
            fail_next: 0,
            calls: SourceCalls::default(),
        }
    }

    /// The start of the range.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Moves the end up by `n` bytes as another user of the break would (the heap does not own
    /// them). Returns whether there was room.
    pub fn foreign_move(&mut self, n: usize) -> bool {
        if self.cur + n > self.base + self.cap {
            return false;
        }
        self.cur += n;
        true
    }
}

// SAFETY: extend hands out disjoint parts of the range given to `new`, which nobody else uses.
unsafe impl Source for ArraySource {
    fn end(&mut self) -> usize {
        self.cur
    }

    fn extend(&mut self, n: usize) -> Option<usize> {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            self.calls.failed_extends += 1;
            return None;
        }
        if n > self.base + self.cap - self.cur {
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
        if end < self.base || end > self.cur {
            return false;
        }
        self.cur = end;
        self.calls.shrinks += 1;
        true
    }
}
