//! Fuzz input decoding and the two fuzz modes of oxalloc.
//!
//! - [`run_replay`]: the bytes become a heap configuration and a sequence of
//!   [`oxalloc_replay::Op`] (operations × sizes × alignments, plus the heap's environment: trims,
//!   foreign break moves, failing sources, a blocked end, thread-cache batches) run by the replay
//!   driver, which checks a shadow model and the heap checker after every step.
//! - [`run_differential`]: the allocation operations of the same decoding are performed both
//!   through the system allocator (`libc::malloc`/`calloc`/`posix_memalign`/`realloc`/`free`)
//!   and through an oxalloc heap, observing only what the C standard guarantees (success for
//!   modest sizes, alignment, zeroed `calloc` memory, contents preserved across `realloc`, objects
//!   not overlapping or changing behind the program's back); both sides must behave alike.
//!   Operations that only the oxalloc heap can express (trim, madvise, a foreign break move) are
//!   applied to it alone and must not change anything observable.

use oxalloc_core::{heap::Config, ArraySource, Heap};
use oxalloc_replay::{Op, Replay};

/// A cursor over the fuzz input; reads past the end give `None`.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The next two bytes, little-endian (missing bytes read as 0 once one byte was there).
    pub fn u16(&mut self) -> Option<u16> {
        let lo = self.u8()?;
        let hi = self.u8().unwrap_or(0);
        Some(u16::from_le_bytes([lo, hi]))
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> Option<u32> {
        let lo = self.u16()?;
        let hi = self.u16().unwrap_or(0);
        Some(lo as u32 | (hi as u32) << 16)
    }
}

/// Sizes where the layout changes: the minimum blocks, the exact-list limit, the thread-cache
/// limit (1016), pages.
const EDGE_SIZES: [usize; 24] = [
    0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 1000, 1008, 1016, 1017, 1024, 4095,
    4096, 4097, 65536,
];

/// A size: mostly small, some medium and large, edge sizes, and sizes around `huge` (the heap's
/// own-mapping threshold) or, when that is above `max`, around 1 MiB (the default threshold for
/// giving the inner pages of free blocks back); at most `max`. (Objects are filled and checked
/// byte by byte, so large sizes are kept rare: they cost the fuzzer executions.)
pub fn size(inp: &mut Input, huge: usize, max: usize) -> Option<usize> {
    let b = inp.u8()?;
    let n = match b % 16 {
        0..=7 => inp.u8()? as usize % 65,
        8..=10 => inp.u16()? as usize % 1101,
        11 => inp.u32()? as usize % 70_001,
        12 => EDGE_SIZES[inp.u8()? as usize % EDGE_SIZES.len()],
        13 => inp.u32()? as usize % (1 << 18),
        14 if huge <= max => huge.saturating_sub(64) + inp.u8()? as usize,
        14 => (1 << 20) - 64 + inp.u16()? as usize % 128,
        _ => inp.u16()? as usize,
    };
    Some(n.min(max))
}

/// An alignment as `log2` for [`Op::Alloc`]: 0 (the base alignment) most of the time, else
/// 8 bytes .. 4 KiB, rarely 64 KiB.
pub fn align_log2(inp: &mut Input) -> Option<u8> {
    let b = inp.u8()?;
    Some(match b {
        0..=191 => 0,
        255 => 16,
        _ => 3 + (b % 10),
    })
}

/// Which operations a decoding may produce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every operation of the replay driver.
    Replay,
    /// Only what keeps a heap with room to spare able to serve every request: no failing
    /// source, no blocked end, no growth switched off, no thread-cache batches.
    Differential,
}

/// Decodes one operation.
pub fn op(inp: &mut Input, mode: Mode, huge: usize, max: usize) -> Option<Op> {
    let tag = inp.u8()?;
    Some(match tag % 32 {
        0..=11 => Op::Alloc {
            size: size(inp, huge, max)?,
            align_log2: align_log2(inp)?,
        },
        12..=13 => Op::Calloc {
            size: size(inp, huge, max)?,
            align_log2: align_log2(inp)?,
        },
        14..=22 => Op::Free {
            idx: inp.u16()? as usize,
        },
        23..=27 => Op::Realloc {
            idx: inp.u16()? as usize,
            size: size(inp, huge, max)?,
        },
        28 => Op::Trim {
            pad: inp.u16()? as usize % 20_000,
        },
        29 => Op::ForeignMove {
            n: 1 + inp.u16()? as usize % 300,
        },
        30 => match (inp.u8()? % 6, mode) {
            (0, Mode::Replay) => Op::FailNext {
                n: 1 + inp.u8()? % 3,
            },
            (1, Mode::Replay) => Op::BlockEnd,
            (2, Mode::Replay) => Op::MayGrow {
                on: inp.u8()? % 2 == 0,
            },
            (3, Mode::Replay) => Op::Fail {
                mask: 1 + inp.u8()? % 31,
                n: 1 + inp.u8()? % 3,
            },
            (4, _) => Op::PurgeTick,
            _ => Op::AdviseAll,
        },
        _ if mode == Mode::Replay => match inp.u8()? % 2 {
            0 => Op::Batch {
                class: inp.u8()?,
                k: inp.u8()?,
                owner: inp.u16()?,
            },
            _ => Op::FreeRun {
                idx: inp.u16()? as usize,
                n: inp.u8()?,
            },
        },
        _ => Op::AdviseAll,
    })
}

/// The longest sequence decoded from one input.
pub const MAX_OPS: usize = 4000;

/// A decoded replay case: the heap's size and configuration, and the operations.
#[derive(Debug)]
pub struct Case {
    /// Bytes the heap may grow to.
    pub cap: usize,
    /// Heap configuration.
    pub cfg: Config,
    /// 16-byte (`malloc`) or 8-byte (`my*`) base alignment.
    pub align16: bool,
    /// The operations.
    pub ops: Vec<Op>,
}

/// Decodes a replay case: the first byte picks one of the property tests' heap setups.
pub fn decode(data: &[u8]) -> Case {
    let mut inp = Input::new(data);
    let head = inp.u8().unwrap_or(0);
    let align16 = head & 0x80 != 0;
    let (cap, cfg) = match head % 4 {
        0 => (
            8 << 20,
            Config {
                huge_threshold: 50_000,
                advise_threshold: 20_000,
                ..Config::DEFAULT
            },
        ),
        1 => (
            inp.u16().unwrap_or(0) as usize % 20_000,
            Config {
                min_grow: 256,
                grow_shift: 8,
                trim_threshold: 1024,
                huge_threshold: 8192,
                advise_threshold: 8192,
                map_fallback: false,
                ..Config::DEFAULT
            },
        ),
        2 => (
            8 << 20,
            Config {
                min_grow: 64,
                grow_shift: 12,
                trim_threshold: 0,
                ..Config::DEFAULT
            },
        ),
        _ => (8 << 20, Config::DEFAULT),
    };
    // Requests may exceed the heap (they must then fail cleanly), but not by much: the sizes
    // stay below 2 MiB so a run stays fast.
    let max = 2 << 20;
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        match op(&mut inp, Mode::Replay, cfg.huge_threshold, max) {
            Some(o) => ops.push(o),
            None => break,
        }
    }
    Case {
        cap,
        cfg,
        align16,
        ops,
    }
}

/// The `replay` target: decodes and runs the case; panics on any failure of the model or the
/// heap checker.
pub fn run_replay(data: &[u8]) {
    let case = decode(data);
    let mut r = Replay::new(case.cap, case.cfg);
    r.base_align16 = case.align16;
    if let Err(f) = r.run(&case.ops) {
        panic!(
            "replay failed at step {} of {} (cap {}, align16 {}): {}",
            f.step,
            case.ops.len(),
            case.cap,
            case.align16,
            f.what
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Differential mode

/// Largest request in differential mode, most live objects and most live bytes: the oxalloc
/// heap's range is always large enough for all of them (with room for fragmentation), so every
/// request must succeed on both sides.
const DIFF_MAX_SIZE: usize = 256 << 10;
const DIFF_MAX_LIVE: usize = 256;
const DIFF_MAX_LIVE_BYTES: usize = 16 << 20;
const DIFF_CAP: usize = 64 << 20;

/// The oxalloc side's memory: one range for the whole fuzzing process (a fresh heap over it for
/// every input; whatever the last input left there is overwritten as the heap grows).
fn diff_range() -> usize {
    static BASE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let buf: &'static mut [u64] = Box::leak(vec![0u64; DIFF_CAP / 8 + 2].into_boxed_slice());
        (buf.as_mut_ptr() as usize + 15) & !15
    })
}

/// One live object, on both sides.
struct Pair {
    sys: usize,
    ox: usize,
    size: usize,
    /// Requested alignment (1 << align_log2, or 16 for the base alignment).
    align: usize,
    seed: u8,
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_mul(151)
        .wrapping_add((i as u8).wrapping_mul(31))
        ^ (i >> 8) as u8
}

fn fill(p: usize, size: usize, seed: u8) {
    // SAFETY: p is a live object of at least `size` bytes.
    let s = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, size) };
    for (i, b) in s.iter_mut().enumerate() {
        *b = pattern(seed, i);
    }
}

/// The first byte (if any) of `p[..upto]` that is not the pattern.
fn first_changed(p: usize, upto: usize, seed: u8) -> Option<usize> {
    // SAFETY: p is a live object of at least `upto` bytes.
    let s = unsafe { std::slice::from_raw_parts(p as *const u8, upto) };
    s.iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(seed, i))
}

fn is_zero(p: usize, size: usize) -> bool {
    // SAFETY: p is a live object of at least `size` bytes.
    unsafe { std::slice::from_raw_parts(p as *const u8, size) }
        .iter()
        .all(|&b| b == 0)
}

/// The system allocator, as a C program sees it.
mod sys {
    pub fn alloc(size: usize, align: usize, zeroed: bool) -> usize {
        // SAFETY: plain C allocation calls; align is a power of two >= sizeof(void *).
        unsafe {
            if align <= 16 {
                if zeroed {
                    libc::calloc(1, size) as usize
                } else {
                    libc::malloc(size) as usize
                }
            } else {
                let mut p = core::ptr::null_mut();
                if libc::posix_memalign(&mut p, align, size) != 0 {
                    return 0;
                }
                if zeroed {
                    core::ptr::write_bytes(p as *mut u8, 0, size);
                }
                p as usize
            }
        }
    }

    pub fn realloc(p: usize, size: usize) -> usize {
        // SAFETY: p is live on the system side.
        unsafe { libc::realloc(p as *mut libc::c_void, size) as usize }
    }

    pub fn free(p: usize) {
        // SAFETY: p is live on the system side.
        unsafe { libc::free(p as *mut libc::c_void) }
    }
}

/// Runs the differential comparison of one input; panics with a description of the first
/// difference (or of anything the C standard forbids, on either side).
pub fn run_differential(data: &[u8]) {
    let mut inp = Input::new(data);
    let head = inp.u8().unwrap_or(0);
    let cfg = match head % 3 {
        0 => Config::DEFAULT,
        1 => Config {
            min_grow: 64,
            grow_shift: 12,
            trim_threshold: 0,
            advise_threshold: 4096,
            ..Config::DEFAULT
        },
        _ => Config {
            trim_threshold: 1024,
            advise_threshold: 20_000,
            ..Config::DEFAULT
        },
    };
    let base = diff_range();
    // SAFETY: the range lives as long as the process; one heap at a time uses it (libFuzzer
    // runs inputs one after another, and the heap is dropped at the end of this function).
    let mut src = unsafe { ArraySource::new(base, DIFF_CAP) };
    src.fill = Some(0xA5);
    let mut heap = Heap::new(src, cfg);

    let mut live: Vec<Pair> = Vec::new();
    let mut seed: u8 = 0;
    let mut step = 0usize;
    let mut foreign = 0usize;
    let mut next_seed = || {
        seed = seed.wrapping_add(1).max(1);
        seed
    };

    macro_rules! differ {
        ($($arg:tt)*) => {
            panic!("differential: step {}: {}", step, format!($($arg)*))
        };
    }

    while step < MAX_OPS {
        let Some(op) = op(
            &mut inp,
            Mode::Differential,
            cfg.huge_threshold,
            DIFF_MAX_SIZE,
        ) else {
            break;
        };
        match op {
            Op::Alloc { size, align_log2 } | Op::Calloc { size, align_log2 } => {
                let live_bytes: usize = live.iter().map(|o| o.size).sum();
                if live.len() >= DIFF_MAX_LIVE || live_bytes + size > DIFF_MAX_LIVE_BYTES {
                    step += 1;
                    continue;
                }
                let zeroed = matches!(op, Op::Calloc { .. });
                let align = match align_log2 {
                    0 => 16,
                    k => 1usize << k,
                };
                let sysp = sys::alloc(size, align, zeroed);
                // SAFETY: align is a power of two.
                let oxp = unsafe {
                    if zeroed {
                        heap.alloc_zeroed(size, align)
                    } else {
                        heap.alloc(size, align)
                    }
                } as usize;
                // C: malloc(0) may return null or a unique pointer; oxalloc promises a pointer.
                if oxp == 0 {
                    differ!("oxalloc refused {op:?} (the system allocator gave {sysp:#x})");
                }
                if sysp == 0 && size != 0 {
                    differ!("the system allocator refused {op:?} (oxalloc gave {oxp:#x})");
                }
                if !oxp.is_multiple_of(align) {
                    differ!("oxalloc: {oxp:#x} is not {align}-aligned for {op:?}");
                }
                // C: aligned for any object that fits (16 on x86-64 from 16 bytes up); a
                // posix_memalign block to its alignment.
                let need = if align > 16 {
                    align
                } else if size >= 16 {
                    16
                } else {
                    1
                };
                if !sysp.is_multiple_of(need) {
                    differ!("system: {sysp:#x} is not {need}-aligned for {op:?}");
                }
                match heap.usable_size(oxp as *mut u8) {
                    Ok(u) if u >= size => {}
                    other => differ!("oxalloc usable_size({oxp:#x}) = {other:?} < {size}"),
                }
                if zeroed {
                    if !is_zero(oxp, size) {
                        differ!("oxalloc calloc {oxp:#x} ({size} bytes) not zeroed");
                    }
                    if sysp != 0 && !is_zero(sysp, size) {
                        differ!("system calloc {sysp:#x} ({size} bytes) not zeroed");
                    }
                }
                // No overlap with any live object on the oxalloc side.
                for o in &live {
                    if oxp < o.ox + o.size.max(1) && o.ox < oxp + size.max(1) {
                        differ!(
                            "oxalloc {oxp:#x}+{size} overlaps live {:#x}+{}",
                            o.ox,
                            o.size
                        );
                    }
                }
                if sysp == 0 {
                    // malloc(0) returned null on the system side: nothing to compare later.
                    // SAFETY: oxp is live.
                    if let Err(m) = unsafe { heap.free(oxp as *mut u8) } {
                        differ!("oxalloc free of a fresh block: {m:?}");
                    }
                } else {
                    let s = next_seed();
                    fill(sysp, size, s);
                    fill(oxp, size, s);
                    live.push(Pair {
                        sys: sysp,
                        ox: oxp,
                        size,
                        align,
                        seed: s,
                    });
                }
            }
            Op::Free { idx } => {
                if !live.is_empty() {
                    let o = live.swap_remove(idx % live.len());
                    if let Some(i) = first_changed(o.ox, o.size, o.seed) {
                        differ!(
                            "oxalloc object {:#x} ({} bytes) byte {i} changed",
                            o.ox,
                            o.size
                        );
                    }
                    if let Some(i) = first_changed(o.sys, o.size, o.seed) {
                        differ!(
                            "system object {:#x} ({} bytes) byte {i} changed",
                            o.sys,
                            o.size
                        );
                    }
                    sys::free(o.sys);
                    // SAFETY: o.ox is live.
                    if let Err(m) = unsafe { heap.free(o.ox as *mut u8) } {
                        differ!("oxalloc free({:#x}): {m:?}", o.ox);
                    }
                }
            }
            Op::Realloc { idx, size } => {
                if !live.is_empty() {
                    // realloc(p, 0) is implementation-defined in C (and undefined in C23).
                    let size = size.max(1);
                    let i = idx % live.len();
                    let live_bytes: usize = live.iter().map(|o| o.size).sum();
                    let o = &live[i];
                    if live_bytes - o.size + size > DIFF_MAX_LIVE_BYTES {
                        step += 1;
                        continue;
                    }
                    let sysp = sys::realloc(o.sys, size);
                    // SAFETY: o.ox is live; o.align is a power of two.
                    let oxp = match unsafe { heap.realloc(o.ox as *mut u8, size, o.align) } {
                        Ok(q) => q as usize,
                        Err(m) => differ!("oxalloc realloc({:#x}, {size}): {m:?}", o.ox),
                    };
                    if oxp == 0 || sysp == 0 {
                        differ!(
                            "realloc({} bytes -> {size}): oxalloc gave {oxp:#x}, the system {sysp:#x}",
                            o.size
                        );
                    }
                    let keep = o.size.min(size);
                    if let Some(b) = first_changed(oxp, keep, o.seed) {
                        differ!(
                            "oxalloc realloc {:#x} -> {oxp:#x} lost byte {b} of {keep}",
                            o.ox
                        );
                    }
                    if let Some(b) = first_changed(sysp, keep, o.seed) {
                        differ!(
                            "system realloc {:#x} -> {sysp:#x} lost byte {b} of {keep}",
                            o.sys
                        );
                    }
                    // oxalloc keeps the block's alignment; C's realloc promises only the base one.
                    if !oxp.is_multiple_of(o.align) {
                        differ!("oxalloc realloc {oxp:#x} lost its {}-alignment", o.align);
                    }
                    if !sysp.is_multiple_of(16) && size >= 16 {
                        differ!("system realloc {sysp:#x} is not 16-aligned");
                    }
                    let s = next_seed();
                    fill(sysp, size, s);
                    fill(oxp, size, s);
                    let align = o.align;
                    live[i] = Pair {
                        sys: sysp,
                        ox: oxp,
                        size,
                        align,
                        seed: s,
                    };
                }
            }
            // Events only the oxalloc heap knows: they must not change anything observable.
            Op::Trim { pad } => {
                heap.trim(pad);
            }
            Op::AdviseAll => {
                heap.advise_all_free();
            }
            Op::PurgeTick => {
                heap.purge_tick();
            }
            Op::ForeignMove { n } => {
                if foreign < 64 {
                    foreign += 1;
                    heap.source_mut().foreign_move(n);
                }
            }
            // FailNext, BlockEnd, MayGrow, Fail, Batch, FreeRun (and whatever the driver gains
            // later).
            _ => unreachable!("{op:?} is not decoded in differential mode"),
        }
        if let Err(e) = heap.check() {
            differ!("heap check after {op:?}: {} at {:#x}", e.what, e.addr);
        }
        step += 1;
    }
    // Everything still live is intact on both sides; then both sides free it all.
    for o in live.drain(..) {
        if let Some(i) = first_changed(o.ox, o.size, o.seed) {
            differ!("at the end: oxalloc object {:#x} byte {i} changed", o.ox);
        }
        if let Some(i) = first_changed(o.sys, o.size, o.seed) {
            differ!("at the end: system object {:#x} byte {i} changed", o.sys);
        }
        sys::free(o.sys);
        // SAFETY: o.ox is live.
        if let Err(m) = unsafe { heap.free(o.ox as *mut u8) } {
            differ!("oxalloc free({:#x}) at the end: {m:?}", o.ox);
        }
    }
    match heap.check() {
        Ok(c) if c.in_use_blocks == 0 && heap.stats().in_use_bytes == 0 => {}
        Ok(c) => differ!(
            "after freeing everything: {} blocks, {} bytes still in use",
            c.in_use_blocks,
            heap.stats().in_use_bytes
        ),
        Err(e) => differ!("final heap check: {} at {:#x}", e.what, e.addr),
    }
    // The heap (which has no destructor) ends here; the next input builds a new one over the
    // same range.
}
