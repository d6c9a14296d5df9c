//! The replay driver: one sequence of allocator operations, run on a heap over an
//! [`ArraySource`] and checked at every step against a shadow model and the heap checker.
//!
//! Property tests, regression tests and the fuzzer all drive the heap through [`Replay`].

use oxalloc_core::{heap::Config, ArraySource, Heap};
use std::collections::BTreeMap;

/// One operation. Indices pick a live object modulo the number of live objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `malloc`-like: `size` bytes with alignment `1 << align_log2`.
    Alloc { size: usize, align_log2: u8 },
    /// `calloc`-like: zeroed.
    Calloc { size: usize, align_log2: u8 },
    /// Free the `idx`-th live object.
    Free { idx: usize },
    /// Resize the `idx`-th live object to `size` bytes.
    Realloc { idx: usize, size: usize },
    /// Give back what the top chunk holds above `pad` bytes.
    Trim { pad: usize },
    /// Another user moves the break by `n` bytes (8-aligned or not).
    ForeignMove { n: usize },
    /// The next `n` requests to the source fail.
    FailNext { n: u8 },
    /// A mapping appears right above the break: the end cannot move any more.
    BlockEnd,
    /// `malloc_trim`'s second half: give back the inner pages of every free block.
    AdviseAll,
    /// A purge tick (lazy mode): large blocks free for a whole interval give their pages back.
    PurgeTick,
    /// A thread cache's refill: `k` contiguous blocks of `16 * (class + 1)` bytes, owned by
    /// cache `owner`; each becomes a live object.
    Batch { class: u8, k: u8, owner: u16 },
    /// A thread cache's flush: up to `n` live objects from the `idx`-th on (in the order they
    /// were made, so a batch's blocks come together) are freed at once in address order,
    /// neighbours joined first (`Heap::free_owned_sorted`).
    FreeRun { idx: usize, n: u8 },
    /// Whether the heap may grow (a thread cache turns growth off while it has blocks to give back).
    MayGrow { on: bool },
    /// The next `n` calls to the source of the kinds in `mask` (`OP_EXTEND | OP_SHRINK |
    /// OP_MAP | OP_UNMAP | OP_ADVISE`) fail.
    Fail { mask: u8, n: u8 },
}

/// A live object in the shadow model.
#[derive(Clone, Copy, Debug)]
struct Obj {
    size: usize,
    align: usize,
    seed: u8,
}

/// What went wrong in a replay.
#[derive(Debug)]
pub struct Failure {
    /// Index of the operation.
    pub step: usize,
    /// Description.
    pub what: String,
}

/// A heap over an owned buffer plus the shadow model of what it should hold.
pub struct Replay {
    _buf: Vec<u64>,
    /// The heap under test.
    pub heap: Heap<ArraySource>,
    live: BTreeMap<usize, Obj>,
    order: Vec<usize>,
    seed: u8,
    /// Successful allocations.
    pub allocated: u64,
    /// Allocations that returned null.
    pub refused: u64,
    /// Run the heap checker after every step (slow for long runs).
    pub check_every_step: bool,
    /// 8-byte (`my*`) alignment for `align_log2 == 0`, else 16 (`malloc`).
    pub base_align16: bool,
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(31)) ^ (i >> 8) as u8
}

impl Replay {
    /// A heap that may grow to `cap` bytes; memory the source hands out is filled with `0xA5`.
    pub fn new(cap: usize, cfg: Config) -> Self {
        let mut buf = vec![0u64; cap.div_ceil(8) + 2];
        let base = (buf.as_mut_ptr() as usize + 15) & !15;
        // SAFETY: the buffer is owned by the Replay and outlives the heap (field order: the heap
        // is dropped before `_buf` only in name; the heap holds no destructor).
        let mut src = unsafe { ArraySource::new(base, cap) };
        src.fill = Some(0xA5);
        Replay {
            _buf: buf,
            heap: Heap::new(src, cfg),
            live: BTreeMap::new(),
            order: Vec::new(),
            seed: 1,
            allocated: 0,
            refused: 0,
            check_every_step: true,
            base_align16: true,
        }
    }

    /// Number of live objects.
    pub fn live(&self) -> usize {
        self.order.len()
    }

    /// Bytes requested by the live objects.
    pub fn live_bytes(&self) -> usize {
        self.live.values().map(|o| o.size).sum()
    }

    /// The live objects' addresses, in allocation order.
    pub fn addrs(&self) -> &[usize] {
        &self.order
    }

    fn align_of(&self, log2: u8) -> usize {
        match log2 {
            0 if self.base_align16 => 16,
            0 => 8,
            k => 1usize << k.min(20),
        }
    }

    fn fill(&mut self, p: usize, size: usize) -> u8 {
        self.seed = self.seed.wrapping_add(1).max(1);
        let seed = self.seed;
        // SAFETY: p is a live object of at least `size` bytes.
        let s = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, size) };
        for (i, b) in s.iter_mut().enumerate() {
            *b = pattern(seed, i);
        }
        seed
    }

    fn verify(&self, p: usize, o: &Obj, upto: usize) -> Result<(), String> {
        // SAFETY: p is a live object of at least o.size bytes.
        let s = unsafe { std::slice::from_raw_parts(p as *const u8, upto.min(o.size)) };
        for (i, &b) in s.iter().enumerate() {
            if b != pattern(o.seed, i) {
                return Err(format!("object {p:#x} byte {i} changed"));
            }
        }
        Ok(())
    }

    fn admit(&mut self, p: usize, size: usize, align: usize) -> Result<(), String> {
        if !p.is_multiple_of(align) {
            return Err(format!("{p:#x} not aligned to {align}"));
        }
        let usable = self
            .heap
            .usable_size(p as *mut u8)
            .map_err(|e| format!("usable_size: {e:?}"))?;
        if usable < size {
            return Err(format!("usable {usable} < requested {size}"));
        }
        // No overlap with any live object (using usable sizes of both).
        let end = p + usable.max(1);
        if let Some((&q, _)) = self.live.range(..end).next_back() {
            let qu = self.heap.usable_size(q as *mut u8).unwrap_or(0).max(1);
            if q + qu > p {
                return Err(format!("{p:#x}+{usable} overlaps {q:#x}+{qu}"));
            }
        }
        Ok(())
    }

    /// Runs one operation and checks the model and (if enabled) the heap.
    pub fn step(&mut self, op: Op) -> Result<(), String> {
        match op {
            Op::Alloc { size, align_log2 } | Op::Calloc { size, align_log2 } => {
                let align = self.align_of(align_log2);
                let zeroed = matches!(op, Op::Calloc { .. });
                // SAFETY: align is a power of two.
                let p = unsafe {
                    if zeroed {
                        self.heap.alloc_zeroed(size, align)
                    } else {
                        self.heap.alloc(size, align)
                    }
                } as usize;
                if p == 0 {
                    self.refused += 1;
                } else {
                    self.allocated += 1;
                    self.admit(p, size, align)?;
                    if zeroed {
                        // SAFETY: p is a fresh object of `size` bytes.
                        let s = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
                        if s.iter().any(|&b| b != 0) {
                            return Err(format!("calloc {p:#x} not zeroed"));
                        }
                    }
                    let seed = self.fill(p, size);
                    self.live.insert(p, Obj { size, align, seed });
                    self.order.push(p);
                }
            }
            Op::Free { idx } => {
                if !self.order.is_empty() {
                    let p = self.order.swap_remove(idx % self.order.len());
                    let o = self.live.remove(&p).unwrap();
                    self.verify(p, &o, o.size)?;
                    // SAFETY: p is live.
                    unsafe { self.heap.free(p as *mut u8) }.map_err(|e| format!("free: {e:?}"))?;
                }
            }
            Op::Realloc { idx, size } => {
                if !self.order.is_empty() {
                    let i = idx % self.order.len();
                    let p = self.order[i];
                    let o = self.live[&p];
                    self.verify(p, &o, o.size)?;
                    // SAFETY: p is live; o.align is a power of two.
                    let q = unsafe { self.heap.realloc(p as *mut u8, size, o.align) }
                        .map_err(|e| format!("realloc: {e:?}"))?
                        as usize;
                    if q == 0 {
                        self.refused += 1;
                        // The block must be untouched.
                        self.verify(p, &o, o.size)?;
                    } else {
                        self.live.remove(&p);
                        self.verify(q, &o, size)?;
                        self.admit(q, size, o.align)?;
                        let seed = self.fill(q, size);
                        self.live.insert(
                            q,
                            Obj {
                                size,
                                align: o.align,
                                seed,
                            },
                        );
                        self.order[i] = q;
                    }
                }
            }
            Op::Trim { pad } => {
                self.heap.trim(pad);
            }
            Op::ForeignMove { n } => {
                self.heap.source_mut().foreign_move(n);
            }
            Op::FailNext { n } => {
                self.heap.source_mut().fail_next = n as u32;
            }
            Op::BlockEnd => {
                self.heap.source_mut().block_end();
            }
            Op::AdviseAll => {
                self.heap.advise_all_free();
            }
            Op::PurgeTick => {
                self.heap.purge_tick();
            }
            Op::Batch { class, k, owner } => {
                let bs = 16 * (class as usize % 64 + 1);
                let k = (k as usize % 32) + 1;
                // SAFETY: bs is a multiple of 16, k >= 1, owner < 2^16.
                let (p, k) = unsafe { self.heap.alloc_batch(bs, k, owner as usize) };
                if p == 0 {
                    self.refused += 1;
                } else {
                    for i in 0..k {
                        let q = p + i * bs;
                        let size = bs - 8;
                        self.allocated += 1;
                        self.admit(q, size, 16)?;
                        let seed = self.fill(q, size);
                        self.live.insert(
                            q,
                            Obj {
                                size,
                                align: 16,
                                seed,
                            },
                        );
                        self.order.push(q);
                    }
                }
            }
            Op::FreeRun { idx, n } => {
                if !self.order.is_empty() {
                    let start = idx % self.order.len();
                    let end = (start + n as usize % 64 + 1).min(self.order.len());
                    let mut run: Vec<usize> = Vec::new();
                    let mut i = start;
                    for _ in start..end {
                        let p = self.order[i];
                        // Huge blocks (a mapping of their own) are never cached.
                        // SAFETY: p is live; its header is the word before it.
                        let h = unsafe { (p as *const usize).sub(1).read() };
                        if h & oxalloc_core::tag::FLAGS == oxalloc_core::tag::MMAPPED {
                            i += 1;
                            continue;
                        }
                        let o = self.live.remove(&p).unwrap();
                        self.verify(p, &o, o.size)?;
                        self.order.remove(i);
                        run.push(p);
                    }
                    run.sort_unstable();
                    // SAFETY: every block of the run is live and forgotten by the model.
                    unsafe { self.heap.free_owned_sorted(&run) };
                }
            }
            Op::MayGrow { on } => {
                self.heap.set_may_grow(on);
            }
            Op::Fail { mask, n } => {
                let src = self.heap.source_mut();
                src.fail_ops = mask & 31;
                src.fail_next = n as u32;
            }
        }
        if self.check_every_step {
            self.heap
                .check()
                .map_err(|e| format!("heap check: {} at {:#x}", e.what, e.addr))?;
        }
        Ok(())
    }

    /// Runs all operations, then frees everything and checks that the heap is empty.
    pub fn run(&mut self, ops: &[Op]) -> Result<(), Failure> {
        for (step, &op) in ops.iter().enumerate() {
            self.step(op).map_err(|what| Failure {
                step,
                what: format!("{op:?}: {what}"),
            })?;
        }
        self.drain().map_err(|what| Failure {
            step: ops.len(),
            what,
        })
    }

    /// Frees every live object (verifying contents) and checks the heap holds nothing in use.
    pub fn drain(&mut self) -> Result<(), String> {
        while !self.order.is_empty() {
            self.step(Op::Free {
                idx: self.order.len() - 1,
            })?;
        }
        let c = self
            .heap
            .check()
            .map_err(|e| format!("heap check: {} at {:#x}", e.what, e.addr))?;
        if c.in_use_blocks != 0 || self.heap.stats().in_use_bytes != 0 {
            return Err(format!(
                "{} blocks still in use after freeing all",
                c.in_use_blocks
            ));
        }
        // Nothing leaks: every byte still mapped from the source belongs to a segment of the
        // heap (a mapping that could not be given back became one).
        let mut held = 0usize;
        self.heap.walk(|it| match it {
            oxalloc_core::walk::Item::Segment {
                start,
                end,
                mapped: true,
            } => held += end - (start & !4095),
            oxalloc_core::walk::Item::Huge { size, .. } => held += size,
            _ => {}
        });
        let live = self.heap.source().mapped_live;
        if live != held {
            return Err(format!(
                "{live} bytes mapped, but the heap holds {held} of them"
            ));
        }
        Ok(())
    }
}

/// Proptest strategies for operation sequences.
#[cfg(feature = "proptest")]
pub mod strategy {
    use super::Op;
    use proptest::prelude::*;

    /// Sizes biased toward small objects, with some large ones.
    pub fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            6 => 0usize..=64,
            3 => 0usize..=1100,
            1 => 0usize..=70_000,
        ]
    }

    /// Any operation, for a heap of moderate size.
    pub fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (size(), prop_oneof![8 => Just(0u8), 1 => 3u8..=12]).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
            2 => (size(), Just(0u8)).prop_map(|(size, align_log2)| Op::Calloc { size, align_log2 }),
            10 => any::<usize>().prop_map(|idx| Op::Free { idx }),
            4 => (any::<usize>(), size()).prop_map(|(idx, size)| Op::Realloc { idx, size }),
            1 => (0usize..20_000).prop_map(|pad| Op::Trim { pad }),
            1 => (1usize..300).prop_map(|n| Op::ForeignMove { n }),
            1 => (1u8..3).prop_map(|n| Op::FailNext { n }),
            1 => Just(Op::BlockEnd),
            1 => Just(Op::AdviseAll),
            1 => Just(Op::PurgeTick),
            2 => (any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(class, k, owner)| Op::Batch { class, k, owner }),
            2 => (any::<usize>(), any::<u8>()).prop_map(|(idx, n)| Op::FreeRun { idx, n }),
            1 => any::<bool>().prop_map(|on| Op::MayGrow { on }),
            1 => (1u8..32, 1u8..4).prop_map(|(mask, n)| Op::Fail { mask, n }),
        ]
    }
}
