//! The coalescing boundary-tag heap over a [`Source`].
//!
//! # Memory picture
//!
//! ```text
//! segment (one contiguous run of memory from the source):
//!
//!  seg        seg+16                                      top        top_end   seg_end
//!  | prev|end | block | block | free | block | ... | block | top chunk ...  | fence |
//!  `--------'                                              `---- free, not in any list
//!   segment record: link to the previous segment, and its end once sealed (0 while current)
//! ```
//!
//! The current segment ends at the source's end (the break). When the source's end moved (some
//! other code called `sbrk`), the current segment is *sealed*: its top chunk becomes an ordinary
//! free block and a fence (an in-use block never handed out) closes it; a new segment starts.
//!
//! # Invariants (re-derived by [`crate::check`])
//! - `seg + 16 <= top <= top_end == seg_end - 8` for the current segment; `[top, top_end)` is
//!   free and in no list; the block just below `top` is in use.
//! - Every segment's first block has `PREV_INUSE` set; block starts are `8 mod 16`.
//! - `stats.in_use_bytes` is the sum of the sizes of in-use blocks (fences excluded), and
//!   `stats.heap_bytes` the sum of the segments' sizes.

use crate::bins::{bin_of, Bins, MAX_EXACT};
use crate::source::Source;
use crate::stats::Stats;
use crate::tag::*;

/// Bytes of a segment record.
pub const SEG_RECORD: usize = 16;
/// Bit 0 of a segment record's second word: the segment is a mapping (not from the break).
pub const SEG_MAPPED: usize = 1;
/// Bytes before the payload of a block with a mapping of its own:
/// `[prev link, next link, mapping start, header]`, payload 16-aligned at `+ 32` or later.
pub const HUGE_PREFIX: usize = 32;
/// Requests above this fail at once (they could never fit and would overflow the arithmetic).
pub const MAX_REQUEST: usize = 1 << 38;
/// Without lazy purging, the dynamic trim threshold never rises above this (glibc's maximum
/// too: twice its largest mmap threshold; with the default huge threshold, no heap block is
/// larger). With it, the threshold has no bound of its own: a top chunk kept above the
/// configured threshold goes back at a purge tick once no allocation has used it for
/// `purge_after` intervals (see [`Heap::purge_tick`]).
pub const MAX_DYN_TRIM: usize = 64 << 20;
/// Growing within this many operations after a trim counts as thrashing.
const THRASH_OPS: u64 = 1024;
/// How many blocks of its own range list a request looks at before taking a larger list.
const RANGE_SCAN: usize = 8;

/// Where a large free block keeps its purge stamp (its fourth word, after the list links).
const STAMP_OFF: usize = 3 * WORD;
/// Mixed into purge stamps, so that old data rarely decodes as one.
const STAMP_MAGIC: usize = 0x5EED_0F0F_A110_C8ED;

/// Tunables of a heap.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The smallest growth of the source, in bytes.
    pub min_grow: usize,
    /// Growth is at least `heap_bytes >> grow_shift` (slack stays in proportion to the heap).
    pub grow_shift: u32,
    /// The top chunk is given back to the source when it exceeds this many bytes.
    pub trim_threshold: usize,
    /// Blocks of at least this many bytes get a mapping of their own (the process heap's default
    /// is 64 MiB, so ordinary heaps live on the break; `mallopt` may set it from 4 KiB up, or
    /// to `usize::MAX`: no mapping of its own for any block).
    pub huge_threshold: usize,
    /// Free blocks of at least this many bytes give their inner pages back to the source.
    pub advise_threshold: usize,
    /// Whether the heap may carry on from mappings when the end cannot move. Off when the end
    /// is managed by someone who caps it on purpose (an interposed `sbrk`).
    pub map_fallback: bool,
    /// Whether large free ranges wait for the caller to give their pages back (after a delay,
    /// with [`Heap::advise_all_free`]) instead of at once.
    pub lazy_advise: bool,
    /// Whether a huge block's mapping ends with an inaccessible guard page (hardened mode).
    /// Set before the first huge block, never changed after.
    pub guard_pages: bool,
    /// Lazy mode: how many whole purge intervals a large free block stays free before its
    /// pages go back (see [`Heap::purge_tick`]).
    pub purge_after: usize,
    /// Whether the trim threshold rises when the heap grows again soon after a trim (off: the
    /// threshold stays `trim_threshold`, as after glibc's `mallopt(M_TRIM_THRESHOLD)`).
    pub dynamic_trim: bool,
}

impl Config {
    /// The defaults: 4 KiB minimum growth, growth of 1/256 of the heap, trim above 64 KiB,
    /// own mappings from 64 MiB, inner pages of free blocks from 1 MiB given back.
    pub const DEFAULT: Config = Config {
        min_grow: 4096,
        grow_shift: 8,
        trim_threshold: 64 * 1024,
        huge_threshold: 64 << 20,
        advise_threshold: 1 << 20,
        map_fallback: true,
        lazy_advise: false,
        guard_pages: false,
        purge_after: 1,
        dynamic_trim: true,
    };
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Heap misuse found by `free`/`realloc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// The block is already free.
    DoubleFree(usize),
    /// The pointer was never handed out by this heap (outside it, misaligned, a small integer).
    InvalidPointer(usize),
    /// Inside the heap, but the word before it is not a valid header: an interior pointer, or a
    /// header overwritten (e.g. by an overflow from the block before).
    BadHeader(usize),
    /// The block is valid but a neighbour's boundary tag does not agree: memory next to it was
    /// overwritten (e.g. an overflow from this block into the next one's header).
    Corrupted(usize),
    /// The canary after the block's data was overwritten (hardened mode): a buffer overflow.
    Overflow(usize),
    /// A sized free (`free_sized`, `free_aligned_sized`) named a size the block cannot hold or
    /// an alignment it does not have.
    WrongSize(usize),
    /// A free block held in a thread cache's list was written to after it was freed: its list
    /// link no longer decodes to a block address.
    WrittenAfterFree(usize),
}

impl Misuse {
    /// The user pointer concerned.
    pub fn addr(&self) -> usize {
        match *self {
            Misuse::DoubleFree(a)
            | Misuse::InvalidPointer(a)
            | Misuse::BadHeader(a)
            | Misuse::Corrupted(a)
            | Misuse::Overflow(a)
            | Misuse::WrongSize(a)
            | Misuse::WrittenAfterFree(a) => a,
        }
    }

    /// A short description put before the address, e.g. `"double free of"`.
    pub fn what(&self) -> &'static str {
        match self {
            Misuse::DoubleFree(_) => "double free of",
            Misuse::InvalidPointer(_) => "invalid pointer",
            Misuse::BadHeader(_) => "invalid pointer or corrupted block header at",
            Misuse::Corrupted(_) => "corrupted heap (next block's header overwritten) after",
            Misuse::Overflow(_) => "buffer overflow past the end of",
            Misuse::WrongSize(_) => "wrong size or alignment for block",
            Misuse::WrittenAfterFree(_) => {
                "free block written after free (its list link overwritten) at"
            }
        }
    }
}

/// The block size for a request of `n` bytes with 8-byte alignment, or `None` if too large.
#[inline(always)]
pub const fn request8(n: usize) -> Option<usize> {
    if n > MAX_REQUEST {
        return None;
    }
    let s = (n + WORD + 7) & !7;
    Some(if s < MIN_BLOCK { MIN_BLOCK } else { s })
}

/// The block size for a request of `n` bytes with 16-byte alignment (a multiple of 16).
#[inline(always)]
pub const fn request16(n: usize) -> Option<usize> {
    if n > MAX_REQUEST {
        return None;
    }
    Some((n + WORD + 15) & !15)
}

/// Whether the in-use block whose payload is `p` is a huge block (a mapping of its own, made
/// when it was allocated and unmapped when it is freed: never reused).
///
/// # Safety
/// `p` is the payload of an in-use block of a heap.
pub unsafe fn is_huge(p: usize) -> bool {
    // SAFETY: per the contract, p - 8 is the block's header.
    unsafe { read(p - WORD) & FLAGS == MMAPPED }
}

/// Where an address lies in the heap.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Blocks,
    Top,
    Outside,
}

/// What a validated pointer belongs to.
#[derive(Clone, Copy)]
enum Owner {
    /// A block of a segment, at this header address.
    Heap(usize),
    /// A huge block, whose mapping starts here.
    Huge(usize),
}

/// A heap: free lists, the top chunk, and the segments it got from its source.
pub struct Heap<S: Source> {
    src: S,
    bins: Bins,
    /// Start of the top chunk (0 before the first segment).
    top: usize,
    /// End of the top chunk (the fence slot of the current segment starts here).
    top_end: usize,
    /// The current segment's record (0 before the first segment).
    seg: usize,
    /// Whether the current segment came from moving the end (and may grow and shrink there).
    seg_brk: bool,
    /// The first block with a mapping of its own (a doubly linked list through the mappings).
    huge: usize,
    /// The trim threshold in force: `cfg.trim_threshold`, raised when the heap grows again
    /// soon after giving its top back (see [`MAX_DYN_TRIM`]).
    dyn_trim: usize,
    /// `allocs + frees` and `alloc_bytes` when the top was last given back, and how many bytes
    /// it gave.
    last_trim_at: u64,
    last_trim_alloc: u64,
    last_trim_bytes: usize,
    /// The purge tick (`epoch`) of the last trim (lazy mode).
    last_trim_epoch: usize,
    /// Bytes at the end of the top chunk that the configured trim threshold would have given
    /// back but a risen one keeps (lazy mode). Allocation treats them as the source's: carving
    /// into them is a growth, refused while growth is not allowed and counted in
    /// [`Heap::grown_total`], so the rule "caches give back before the heap grows" sees the
    /// same growths as if the top had been trimmed, without the page faults of regrowing. (A
    /// block at the top growing in place takes it whether or not growth is allowed, as it
    /// extends the source in that case.) Handed back to the heap, counted as a growth, when the
    /// top changes segment or grows from the source, or the configuration or a purge tick
    /// drops the risen threshold. Invariant: `kept <= top_end - top`.
    kept: usize,
    /// Set when a trim lowered `hi` (see [`Heap::take_bounds_lowered`]).
    bounds_lowered: bool,
    /// Bytes the heap grew by so far, from the source or into `kept` (never decreases).
    grown_total: u64,
    /// The purge tick (`epoch`) in which a block was last carved from the top chunk.
    top_used: usize,
    /// Whether allocation may ask the source for more memory (see [`Heap::set_may_grow`]).
    may_grow: bool,
    /// Lowest and highest addresses of any segment ever adopted (a quick range check).
    lo: usize,
    hi: usize,
    /// The secret of the headers' check bits.
    secret: usize,
    /// Bytes freed into large free ranges since their pages were last given back (lazy mode).
    dirty: usize,
    /// Purge ticks so far (lazy mode): a large free block carries the tick it was freed in.
    epoch: usize,
    /// Payloads of the last huge blocks unmapped (to name a second free a double free).
    unmapped: [usize; 8],
    unmapped_next: usize,
    cfg: Config,
    stats: Stats,
}

impl<S: Source> Heap<S> {
    /// An empty heap; it asks `src` for memory on the first allocation.
    pub const fn new(src: S, cfg: Config) -> Self {
        Heap {
            src,
            bins: Bins::new(),
            top: 0,
            top_end: 0,
            seg: 0,
            seg_brk: false,
            huge: 0,
            dyn_trim: cfg.trim_threshold,
            last_trim_at: 0,
            last_trim_alloc: 0,
            last_trim_bytes: 0,
            last_trim_epoch: 0,
            kept: 0,
            bounds_lowered: false,
            grown_total: 0,
            top_used: 0,
            may_grow: true,
            lo: usize::MAX,
            hi: 0,
            secret: 0x5bd1_e995_3c6e_f372,
            dirty: 0,
            epoch: 0,
            unmapped: [0; 8],
            unmapped_next: 0,
            cfg,
            stats: Stats::ZERO,
        }
    }

    /// The memory source.
    pub fn source(&self) -> &S {
        &self.src
    }

    /// The memory source, mutably (tests use it to move the end or inject failures).
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.src
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.cfg
    }

    /// Changes the configuration. A trim threshold that rose by itself stays risen unless the
    /// threshold or its dynamic rise changes.
    pub fn set_config(&mut self, cfg: Config) {
        if cfg.trim_threshold != self.cfg.trim_threshold
            || cfg.dynamic_trim != self.cfg.dynamic_trim
        {
            self.dyn_trim = cfg.trim_threshold;
            // What the old threshold kept aside is the heap's again: the new one decides.
            self.hand_out_kept();
        }
        self.cfg = cfg;
    }

    /// Free blocks in the heap's free lists.
    pub fn free_blocks(&self) -> usize {
        self.bins.count()
    }

    /// Bytes of memory the heap holds from its source.
    pub fn heap_bytes(&self) -> usize {
        self.stats.heap_bytes
    }

    /// Bytes in in-use blocks (huge ones included).
    pub fn in_use_bytes(&self) -> usize {
        self.stats.in_use_bytes
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.free_blocks = self.bins.count();
        s.top_bytes = self.top_end - self.top;
        s
    }

    pub(crate) fn bins(&self) -> &Bins {
        &self.bins
    }

    /// The size field of an in-use header of `size` bytes at `b`, with its check bits.
    #[inline(always)]
    fn tag(&self, b: usize, size: usize) -> usize {
        size | check_bits(b, size, self.secret)
    }

    /// The secret of the headers' check bits (for code that checks headers without the heap).
    pub fn secret(&self) -> usize {
        self.secret
    }

    /// Sets the secret of the headers' check bits. Only before the first allocation.
    pub fn set_secret(&mut self, secret: usize) {
        debug_assert!(self.seg == 0);
        self.secret = secret;
    }

    /// Whether allocations may grow the heap. A caller with cached free blocks turns growth
    /// off, tries, and on failure gives its cached blocks back before trying again with growth
    /// on — so cached memory is merged and reused before the heap grows.
    pub fn set_may_grow(&mut self, on: bool) {
        self.may_grow = on;
    }

    /// The lowest address of any segment this heap ever had and the highest end (`lo > hi`
    /// before the first); the end comes down when a trim gives back the highest segment's top.
    /// Every block of a segment lies in `[lo, hi)`; huge blocks may lie outside.
    pub fn bounds(&self) -> (usize, usize) {
        (self.lo, self.hi)
    }

    /// Whether a trim lowered the heap's end (see [`Heap::bounds`]) since the last call: the
    /// caller then narrows the ranges it keeps of the heap (one load and a branch per call).
    #[inline]
    pub fn take_bounds_lowered(&mut self) -> bool {
        core::mem::take(&mut self.bounds_lowered)
    }

    /// Carves up to `kmax` contiguous in-use blocks of `bs` bytes (a multiple of 16) with
    /// 16-aligned payloads, each header naming `owner` in its owner field; the last block may be
    /// larger (the rest of a free block too small to split). Free blocks are used first — a
    /// fragment that holds fewer than `kmax` blocks gives what it holds — then the top chunk.
    /// Returns the first payload and the number of blocks (`(0, 0)` when out of memory).
    ///
    /// # Safety
    /// `bs` must be a multiple of 16 and at least 16; `kmax >= 1`; `owner < 1 << 16`.
    pub unsafe fn alloc_batch(&mut self, bs: usize, kmax: usize, owner: usize) -> (usize, usize) {
        // SAFETY: blocks come from this heap's lists or top.
        unsafe {
            let (p, k) = match self.find_free(bs) {
                Some((b, size)) if (b + WORD).is_multiple_of(16) => {
                    let k = (size / bs).min(kmax);
                    (self.take(b, size, k * bs) as usize, k)
                }
                Some((b, size)) => {
                    // Wrong parity (8-aligned blocks were mixed in): give it back, use the top.
                    make_free(b, size);
                    self.bins.push(b, size);
                    (self.alloc_from_top(kmax * bs, true) as usize, kmax)
                }
                None => (self.alloc_from_top(kmax * bs, true) as usize, kmax),
            };
            if p == 0 {
                return (0, 0);
            }
            let b = p - WORD;
            let h = read(b);
            let got = size_of_header(h);
            let hi = owner << OWNER_SHIFT;
            for i in 0..k {
                let size = if i == k - 1 { got - (k - 1) * bs } else { bs };
                let flags = if i == 0 {
                    h & FLAGS
                } else {
                    INUSE | PREV_INUSE
                };
                write(b + i * bs, self.tag(b + i * bs, size) | flags | hi);
            }
            self.stats.in_use_blocks += k - 1;
            self.stats.allocs += (k - 1) as u64;
            (p, k)
        }
    }

    /// Frees a block a thread cache owned: clears its owner field and frees it into the heap.
    ///
    /// # Safety
    /// `p` must be the payload of an in-use block of this heap that nobody uses any more.
    pub unsafe fn free_owned(&mut self, p: usize) {
        // SAFETY: p is an in-use block of this heap (caller).
        unsafe {
            let b = p - WORD;
            write(b, read(b) & !OWNER_MASK);
            self.free_block(b);
        }
    }

    /// Shrinks in place a block a thread cache owned (`malloc`'s face: 16-byte granularity) to
    /// `n` bytes, freeing the tail when it can form a block. The block keeps its owner field.
    /// The caller has checked the block's header (owner field set, in use, check bits valid, not
    /// mapped) and that its first word is not a cache list's link, so the full validation of
    /// [`Heap::realloc`] (about half of a small shrink's instructions) is skipped: a header the
    /// heap left behind when it merged a freed block names no cache (see `free_block`).
    ///
    /// # Safety
    /// `p` must be the payload of an in-use block of this heap's blocks (not huge) that a thread
    /// cache owns, with at least `n` usable bytes; `0 < n <= MAX_REQUEST`.
    pub unsafe fn shrink_owned(&mut self, p: usize, n: usize) {
        debug_assert!(n > 0 && n <= MAX_REQUEST);
        let s = (n + WORD + 15) & !15;
        // SAFETY: p is an in-use block of this heap with at least n usable bytes (caller), so
        // s is at most its size.
        unsafe { self.shrink_block(p - WORD, s) }
    }

    /// Frees blocks a thread cache owned, given as payload addresses in increasing order. A run
    /// of neighbouring blocks is first joined into one in-use block, so the run costs one merge
    /// with its outer neighbours and one list insertion instead of one per block (a cache that
    /// carved a batch and gets it back whole returns one block).
    ///
    /// # Safety
    /// Every address is the payload of an in-use block of this heap that nobody uses any more;
    /// `ps` is strictly increasing.
    pub unsafe fn free_owned_sorted(&mut self, ps: &[usize]) {
        let mut i = 0;
        // SAFETY: every block is an in-use block of this heap (caller); a run's blocks are
        // neighbours, so the joined block tiles exactly their memory.
        unsafe {
            while i < ps.len() {
                let b = ps[i] - WORD;
                debug_assert!(i == 0 || ps[i - 1] < ps[i]);
                let h = read(b);
                let mut size = size_of_header(h);
                let mut j = i + 1;
                while j < ps.len() && ps[j] - WORD == b + size {
                    let inner = ps[j] - WORD;
                    size += size_of_header(read(inner));
                    // The inner header ends up inside the joined free block: it is cleared, so
                    // that a stale pointer to it fails every check (`free`'s fast path trusts
                    // a header that names its cache and a first word that is not a list link,
                    // and the last block's first word may become the joined block's footer).
                    write(inner, 0);
                    j += 1;
                }
                let joined = j - i - 1;
                if joined > 0 {
                    // The run's blocks become one in-use block; the statistics count the
                    // joined ones as freed here (their bytes are freed with the run).
                    write(b, self.tag(b, size) | (h & FLAGS));
                    self.stats.in_use_blocks -= joined;
                    self.stats.frees += joined as u64;
                } else {
                    write(b, h & !OWNER_MASK);
                }
                self.free_block(b);
                i = j;
            }
        }
    }

    /// `(top, top_end, current segment record)`.
    pub fn top_info(&self) -> (usize, usize, usize) {
        (self.top, self.top_end, self.seg)
    }

    /// Where the part of the top chunk that allocation may use without a growth ends: before
    /// the part a risen trim threshold keeps aside (see `kept`). Saturating, so that the
    /// heap checker can report a broken invariant instead of overflowing.
    pub fn top_handed_end(&self) -> usize {
        self.top_end.saturating_sub(self.kept)
    }

    /// Allocates `n` bytes aligned to `align` (a power of two). Returns null when out of memory.
    ///
    /// # Safety
    /// `align` must be a power of two.
    pub unsafe fn alloc(&mut self, n: usize, align: usize) -> *mut u8 {
        // SAFETY: the helpers below only touch memory this heap owns.
        unsafe {
            if n >= self.cfg.huge_threshold {
                return self.alloc_huge(n, align);
            }
            if align <= WORD {
                let Some(s) = request8(n) else {
                    return core::ptr::null_mut();
                };
                self.alloc_block(s, false)
            } else if align == 16 {
                let Some(s) = request16(n) else {
                    return core::ptr::null_mut();
                };
                let p = self.alloc_block(s, true);
                if p.is_null() || (p as usize).is_multiple_of(16) {
                    return p;
                }
                // The block has the wrong parity (8-aligned blocks were mixed in): slow path.
                self.free_block(p as usize - WORD);
                self.alloc_aligned(n, 16)
            } else {
                self.alloc_aligned(n, align)
            }
        }
    }

    /// Allocates `n` zeroed bytes aligned to `align`.
    ///
    /// # Safety
    /// As for [`Heap::alloc`].
    pub unsafe fn alloc_zeroed(&mut self, n: usize, align: usize) -> *mut u8 {
        // SAFETY: alloc returns null or a block with at least `usable` writable bytes.
        unsafe {
            let p = self.alloc(n, align);
            // Memory from the source is not assumed to be zero (a harness may fill it), except
            // a huge block's fresh mapping from a source whose mappings read as zero.
            let fresh = !p.is_null() && is_huge(p as usize) && self.src.maps_zeroed();
            if !p.is_null() && !fresh {
                core::ptr::write_bytes(p, 0, self.usable_unchecked(p as usize));
            }
            p
        }
    }

    /// Finds (or makes) an in-use block of exactly `s` bytes or a little more; returns its payload.
    #[inline]
    unsafe fn alloc_block(&mut self, s: usize, align16: bool) -> *mut u8 {
        // SAFETY: every address used is a block of this heap per the invariants.
        unsafe {
            let i = bin_of(s);
            if s <= MAX_EXACT {
                let b = self.bins.head(i);
                if b != 0 {
                    self.bins.unlink(b, s);
                    write(b, self.tag(b, s) | INUSE | PREV_INUSE);
                    set_prev_state(b + s, 0);
                    self.stats.on_alloc(s);
                    return (b + WORD) as *mut u8;
                }
            }
            if let Some((b, bs)) = self.find_free(s) {
                return self.take(b, bs, s);
            }
            self.alloc_from_top(s, align16)
        }
    }

    /// Finds and unlinks a free block of at least `s` bytes: the most recently freed fitting
    /// block among the first few of `s`'s own list, else the head of the next non-empty list.
    #[inline]
    unsafe fn find_free(&mut self, s: usize) -> Option<(usize, usize)> {
        let i = bin_of(s);
        // SAFETY: list members are free blocks of this heap.
        unsafe {
            let mut b = self.bins.head(i);
            let mut k = 0;
            while b != 0 && k < RANGE_SCAN {
                let bs = free_size(read(b));
                if bs >= s {
                    self.bins.unlink(b, bs);
                    return Some((b, bs));
                }
                b = self.bins.next_of(b);
                k += 1;
            }
            let j = self.bins.first_nonempty_from(i + 1)?;
            let b = self.bins.head(j);
            let bs = free_size(read(b));
            self.bins.unlink(b, bs);
            Some((b, bs))
        }
    }

    /// Makes the free block `b` (size `bs`, already unlinked) an in-use block of `s` bytes,
    /// giving the rest back to the lists when it can form a block.
    #[inline]
    unsafe fn take(&mut self, b: usize, bs: usize, s: usize) -> *mut u8 {
        // SAFETY: b is a free block of bs bytes followed by an in-use block.
        unsafe {
            let rest = bs - s;
            if rest >= MIN_BLOCK {
                write(b, self.tag(b, s) | INUSE | PREV_INUSE);
                let r = b + s;
                make_free(r, rest);
                self.bins.push(r, rest);
                set_prev_state(b + bs, rest);
                self.stats.on_alloc(s);
            } else {
                write(b, self.tag(b, bs) | INUSE | PREV_INUSE);
                set_prev_state(b + bs, 0);
                self.stats.on_alloc(bs);
            }
            (b + WORD) as *mut u8
        }
    }

    /// Carves `s` bytes from the top chunk, growing the source when needed. With `align16`,
    /// the payload is 16-aligned: after 8-aligned blocks moved the top off parity, a 24-byte
    /// free block is left below the new block (reusable, and merged when a neighbour is freed).
    unsafe fn alloc_from_top(&mut self, s: usize, align16: bool) -> *mut u8 {
        // SAFETY: [top, top_end) is free memory of the current segment.
        unsafe {
            let skew = if align16 && self.top % 16 != 8 { 24 } else { 0 };
            let room = self.top_end - self.top;
            if room >= s + skew && room - self.kept < s + skew && !self.grow_into_kept(s + skew) {
                return core::ptr::null_mut();
            }
            if room < s + skew {
                if !self.may_grow || !self.grow(s + skew) {
                    return core::ptr::null_mut();
                }
                // Growing may have started a new segment, whose top has the right parity.
                if align16 && self.top % 16 == 8 && skew != 0 {
                    return self.alloc_from_top(s, true);
                }
            }
            let mut prev_state = 0;
            if skew != 0 {
                make_free(self.top, 24);
                self.bins.push(self.top, 24);
                self.top += 24;
                prev_state = 24;
            }
            let b = self.top;
            self.top += s;
            self.top_used = self.epoch;
            write(b, self.tag(b, s) | INUSE);
            set_prev_state(b, prev_state);
            self.stats.on_alloc(s);
            (b + WORD) as *mut u8
        }
    }

    /// Ensures the top chunk has at least `s` bytes: extends the current segment, or starts a
    /// new one when the source's end has moved or cannot be extended contiguously.
    #[cold]
    unsafe fn grow(&mut self, s: usize) -> bool {
        // SAFETY: extend_top/new_segment only write memory the source handed to this heap.
        unsafe { self.extend_top(s - (self.top_end - self.top)) || self.new_segment(s) }
    }

    /// Makes `need` bytes of the top chunk available by taking what is missing, or a growth
    /// batch if that is more, from the kept part (as much as it has): a growth as far as the
    /// growth rules go. False when growth is not allowed now.
    fn grow_into_kept(&mut self, need: usize) -> bool {
        if !self.may_grow {
            return false;
        }
        let avail = self.top_end - self.top - self.kept;
        let g = self.batch().max(need - avail).min(self.kept);
        self.kept -= g;
        self.grown_total += g as u64;
        true
    }

    /// Makes the kept part of the top ordinary top memory, counted as a growth.
    fn hand_out_kept(&mut self) {
        self.grown_total += self.kept as u64;
        self.kept = 0;
    }

    /// Bytes the heap grew by so far: from the source, or into the part of the top chunk a
    /// risen trim threshold kept (see `kept`). Never decreases.
    pub fn grown_total(&self) -> u64 {
        self.grown_total
    }

    fn batch(&self) -> usize {
        let prop = self.stats.heap_bytes >> self.cfg.grow_shift;
        (if prop > self.cfg.min_grow {
            prop
        } else {
            self.cfg.min_grow
        } + 7)
            & !7
    }

    fn seg_end(&self) -> usize {
        self.top_end + WORD
    }

    /// Grows the current segment in place by at least `deficit` bytes. Returns whether the top
    /// chunk is now `deficit` bytes larger (false: no segment, the end moved, or no memory; a
    /// discontiguous region that the source handed out anyway becomes a new segment).
    unsafe fn extend_top(&mut self, deficit: usize) -> bool {
        if self.seg == 0 || !self.seg_brk || deficit > MAX_REQUEST {
            return false;
        }
        let end = self.seg_end();
        if self.src.end() != end {
            return false;
        }
        let deficit = (deficit + 7) & !7;
        let want = self.batch().max(deficit);
        let (got, n) = match self.src.extend(want) {
            Some(a) => (a, want),
            None if want > deficit => match self.src.extend(deficit) {
                Some(a) => (a, deficit),
                None => return false,
            },
            None => return false,
        };
        if got != end {
            // SAFETY: the source handed us [got, got + n).
            unsafe { self.adopt_region(got, n, true) };
            return false;
        }
        self.stats.grow_calls += 1;
        self.top_end += n;
        self.hand_out_kept();
        self.grown_total += n as u64;
        self.hi = self.hi.max(self.top_end + WORD);
        self.bins.set_bounds(self.lo, self.hi);
        self.stats.heap_bytes += n;
        self.stats.note_peak();
        self.note_growth();
        true
    }

    /// Starts a new segment big enough for a block of `s` bytes.
    unsafe fn new_segment(&mut self, s: usize) -> bool {
        // Ask for an amount that leaves the source's end 8-aligned, even if it is not now.
        let pad = (8 - self.src.end() % 8) % 8;
        let min = s + SEG_RECORD + WORD + 16 + pad;
        let want = self.batch().max(min) + pad;
        let got = match self.src.extend(want) {
            Some(a) => Some((a, want)),
            None if want > min => self.src.extend(min).map(|a| (a, min)),
            None => None,
        };
        if let Some((got, n)) = got {
            // SAFETY: the source handed us [got, got + n).
            unsafe { self.adopt_region(got, n, true) };
            return self.top_end - self.top >= s;
        }
        // The end cannot move (a mapping above it, or a limit): carry on from a mapping.
        if !self.cfg.map_fallback {
            return false;
        }
        let page = self.src.page_size();
        let want = (want.max(4 * self.batch()).max(1 << 20) + page - 1) & !(page - 1);
        let min = (min + page - 1) & !(page - 1);
        let got = match self.src.map(want) {
            Some(a) => Some((a, want)),
            None if want > min => self.src.map(min).map(|a| (a, min)),
            None => None,
        };
        match got {
            Some((got, n)) => {
                self.stats.map_calls += 1;
                // SAFETY: the source mapped [got, got + n) for us.
                unsafe { self.adopt_region(got, n, false) };
                self.top_end - self.top >= s
            }
            None => false,
        }
    }

    /// Makes `[got, got + n)` the current segment, sealing the previous one. `from_brk` says
    /// whether the region came from moving the end (else from `map`).
    unsafe fn adopt_region(&mut self, got: usize, n: usize, from_brk: bool) {
        let start = ((got + 7) & !15) + 8; // first address >= got that is 8 mod 16
        let end = (got + n) & !7;
        if from_brk {
            self.stats.grow_calls += 1;
        }
        if end < start + SEG_RECORD + MIN_BLOCK + WORD {
            // Too small to hold anything: give it back if we can, else leave it unused.
            if !from_brk {
                self.src.unmap(got, n);
            } else if self.src.end() == got + n {
                self.src.shrink_to(got);
            }
            return;
        }
        // SAFETY: the old segment's memory and the new region belong to this heap.
        unsafe {
            if self.seg != 0 {
                self.seal();
            }
            write(start, self.seg);
            write(start + WORD, if from_brk { 0 } else { SEG_MAPPED });
        }
        self.seg = start;
        self.seg_brk = from_brk;
        self.lo = self.lo.min(start);
        self.hi = self.hi.max(end);
        self.bins.set_bounds(self.lo, self.hi);
        self.top = start + SEG_RECORD;
        self.top_end = end - WORD;
        // (No part is kept: sealing the old segment handed it out, and a first one has none.)
        debug_assert_eq!(self.kept, 0);
        self.grown_total += (end - start) as u64;
        self.stats.heap_bytes += end - start;
        self.stats.segments += 1;
        self.stats.note_peak();
    }

    /// Makes the mapping `[m, m + len)` (page-aligned, unused) a sealed segment holding one free
    /// block, linked just below the current segment. Without a current segment it becomes the
    /// current one.
    unsafe fn adopt_free_mapping(&mut self, m: usize, len: usize) {
        if self.seg == 0 {
            // SAFETY: forwarded: the mapping is ours and unused.
            unsafe { self.adopt_region(m, len, false) };
            return;
        }
        let rec = m + 8;
        let first = rec + SEG_RECORD;
        let fence = m + len - WORD;
        let size = fence - first;
        // SAFETY: all writes are inside the unused mapping; the current record is ours.
        unsafe {
            write(rec, read(self.seg));
            write(rec + WORD, fence | SEG_MAPPED);
            write(self.seg, rec);
            make_free(first, size);
            self.bins.push(first, size);
            write(fence, self.tag(fence, WORD) | INUSE);
            set_prev_state(fence, size);
        }
        self.lo = self.lo.min(rec);
        self.hi = self.hi.max(m + len);
        self.bins.set_bounds(self.lo, self.hi);
        self.stats.heap_bytes += m + len - rec;
        self.stats.segments += 1;
        self.stats.note_peak();
    }

    /// Closes the current segment: the top chunk becomes a free block, a fence ends it.
    unsafe fn seal(&mut self) {
        let end = self.seg_end();
        let top_size = self.top_end - self.top;
        // SAFETY: [top, end) is the free top chunk and fence slot of the current segment.
        unsafe {
            if top_size >= MIN_BLOCK {
                make_free(self.top, top_size);
                self.bins.push(self.top, top_size);
                write(self.top_end, self.tag(self.top_end, WORD) | INUSE);
                set_prev_state(self.top_end, top_size);
            } else {
                // 0 or 8 bytes: the fence takes them.
                write(
                    self.top,
                    self.tag(self.top, end - self.top) | INUSE | PREV_INUSE,
                );
            }
            let fence = if top_size >= MIN_BLOCK {
                self.top_end
            } else {
                self.top
            };
            let mapped = read(self.seg + WORD) & SEG_MAPPED;
            write(self.seg + WORD, fence | mapped);
        }
        self.top = self.top_end;
        self.hand_out_kept();
    }

    /// Gives the top chunk back to the source when it is large and the end is still ours.
    #[inline]
    fn maybe_trim(&mut self) {
        // Keep one growth batch above the top so that batching itself never causes a trim.
        let pad = self.batch();
        let room = self.top_end - self.top;
        if room > self.dyn_trim.saturating_add(pad) {
            self.trim_noted(pad);
        } else if self.cfg.lazy_advise
            && self.seg_brk
            && self.src.end() == self.seg_end()
            && room - self.kept > self.cfg.trim_threshold.saturating_add(pad)
        {
            // The configured threshold would give back all but `pad`: keep the rest aside.
            self.kept = room - pad;
        }
    }

    /// [`Heap::trim`], remembered for [`Heap::note_growth`].
    fn trim_noted(&mut self, pad: usize) -> usize {
        let given = self.trim(pad);
        if given > 0 {
            self.last_trim_at = self.stats.allocs + self.stats.frees;
            self.last_trim_alloc = self.stats.alloc_bytes;
            self.last_trim_bytes = given;
            self.last_trim_epoch = self.epoch;
        }
        given
    }

    /// Called after each growth: growing again soon after giving memory back means the program
    /// allocates and frees a large amount in a loop. Then the trim threshold rises so the break
    /// stops moving every time, as glibc's dynamic threshold does. Soon: within [`THRASH_OPS`]
    /// operations, or before the program allocated half as many bytes as were given back (a
    /// program that frees everything and builds it again grows the heap long before it has
    /// allocated it all, 1024 operations being a few hundred KiB of small blocks: mimalloc's
    /// stress test at a fifth), or, in lazy mode, in the purge interval of the trim or the next
    /// (20-40 ms of activity in the process heap). A program whose rounds reuse much of the
    /// rest of the heap before growing meets only the last: the `realloc` workload regrew 39
    /// times, 4,500 page faults. Its top is then kept only as far as the configured threshold
    /// would have kept it (see `kept`): when the whole top was kept, the thread caches were no
    /// longer given back before growing, and `realloc`'s peak heap rose from 3.9 to 4.8 MB
    /// (CPython's from 28.6 to 32.9 MB under the byte rule alone).
    fn note_growth(&mut self) {
        if self.last_trim_bytes > 0 {
            let ops = self.stats.allocs + self.stats.frees;
            let allocated = self.stats.alloc_bytes - self.last_trim_alloc;
            let soon = ops - self.last_trim_at < THRASH_OPS
                || allocated < self.last_trim_bytes as u64 / 2
                || (self.cfg.lazy_advise && self.epoch <= self.last_trim_epoch + 1);
            if soon && self.cfg.dynamic_trim {
                let cap = if self.cfg.lazy_advise {
                    usize::MAX / 4
                } else {
                    self.cfg.trim_threshold.max(MAX_DYN_TRIM)
                };
                let want = self.last_trim_bytes.max(self.dyn_trim).saturating_mul(2);
                self.dyn_trim = want.min(cap);
            }
            self.last_trim_bytes = 0;
        }
    }

    /// Gives back all of the top chunk above `pad` bytes. Returns the number of bytes given back.
    pub fn trim(&mut self, pad: usize) -> usize {
        if self.seg == 0 || !self.seg_brk {
            return 0;
        }
        let keep = (pad + 7) & !7;
        if self.top_end - self.top <= keep {
            return 0;
        }
        let end = self.seg_end();
        if self.src.end() != end {
            return 0;
        }
        let new_end = self.top + keep + WORD;
        if !self.src.shrink_to(new_end) {
            return 0;
        }
        let given = end - new_end;
        self.top_end = new_end - WORD;
        self.kept = 0;
        if self.hi == end {
            // The break was the heap's highest end: its bounds shrink with it, so that a
            // pointer into the pages given back is outside the heap for every check that
            // reads them (see `bounds`).
            self.hi = new_end;
            self.bins.set_bounds(self.lo, self.hi);
            self.bounds_lowered = true;
        }
        self.stats.heap_bytes -= given;
        self.stats.shrink_calls += 1;
        self.stats.released_bytes += given as u64;
        given
    }

    /// Where `b` lies: in a segment's block area, in the current top chunk, or neither.
    /// O(number of segments).
    fn locate(&self, b: usize) -> Place {
        let mut seg = self.seg;
        let mut limit = self.top;
        let mut current = true;
        while seg != 0 {
            if b >= seg + SEG_RECORD && b < limit {
                return Place::Blocks;
            }
            if current && b >= self.top && b < self.top_end {
                return Place::Top;
            }
            // SAFETY: seg is a segment record of this heap.
            let prev = unsafe { read(seg) };
            if prev == 0 {
                break;
            }
            // A sealed segment's blocks end at its fence, whose address its record holds.
            // SAFETY: prev is a sealed segment record.
            limit = unsafe { read(prev + WORD) } & !SEG_MAPPED;
            seg = prev;
            current = false;
        }
        Place::Outside
    }

    /// Whether `b` could be the header of a block handed out by this heap.
    fn owns_block(&self, b: usize) -> bool {
        self.locate(b) == Place::Blocks
    }

    /// Whether `h`, read at `b`, is a believable free-block header (for telling a double free
    /// from a pointer that never was a block).
    fn plausible_free(&self, b: usize, h: usize) -> bool {
        let link_ok = |l: usize| l == 0 || (l.is_multiple_of(WORD) && self.owns_block(l));
        // SAFETY: only words inside the heap's block area are read.
        unsafe {
            match h & FLAGS {
                KIND_NORMAL => {
                    let s = h & SIZE_MASK;
                    s >= 32
                        && h & !SIZE_MASK == 0
                        && self.owns_block(b + s - WORD)
                        && read(b + s - WORD) == s
                }
                KIND_TINY => link_ok(h & !FLAGS) && link_ok(read(b + WORD)),
                KIND_SMALL => self.owns_block(b + 16) && read(b + 16) == 24,
                _ => false,
            }
        }
    }

    /// Checks that `p` is the payload of an in-use block; returns what it belongs to.
    #[inline]
    fn validate(&self, p: usize) -> Result<Owner, Misuse> {
        if !p.is_multiple_of(WORD) || p < 2 * WORD {
            return Err(Misuse::InvalidPointer(p));
        }
        let b = p - WORD;
        match self.locate(b) {
            Place::Blocks => {}
            // A block that was freed and merged into the top chunk.
            Place::Top => return Err(Misuse::DoubleFree(p)),
            Place::Outside => {
                return match self.find_huge(p) {
                    Some(m) => Ok(Owner::Huge(m)),
                    None if self.recently_unmapped(p) => Err(Misuse::DoubleFree(p)),
                    None => Err(Misuse::InvalidPointer(p)),
                };
            }
        }
        // SAFETY: b is inside a segment's block area, so it is readable heap memory.
        let h = unsafe { read(b) };
        if h & INUSE == 0 {
            return Err(if self.plausible_free(b, h) {
                Misuse::DoubleFree(p)
            } else {
                Misuse::BadHeader(p)
            });
        }
        if h & FLAGS == MMAPPED || !check_ok(b, h, self.secret) {
            return Err(Misuse::BadHeader(p));
        }
        let s = size_of_header(h);
        if s < MIN_BLOCK || !self.owns_block(b + s - WORD) {
            return Err(Misuse::BadHeader(p));
        }
        if h & PREV_INUSE == 0 {
            // The previous block must be a free block that ends exactly here; if it is larger,
            // this header is a stale one inside a merged free block: a double free.
            // SAFETY: the words read are inside the heap's block area (checked).
            let ok = unsafe {
                let ps = if h & PREV_TINY != 0 {
                    16
                } else {
                    read(b - WORD)
                };
                ps >= MIN_BLOCK
                    && ps <= b
                    && self.owns_block(b - ps)
                    && read(b - ps) & INUSE == 0
                    && free_size(read(b - ps)) == ps
            };
            if !ok {
                return Err(Misuse::DoubleFree(p));
            }
        }
        let next = b + s;
        if next != self.top {
            // SAFETY: next is a block header of the same segment (checked above).
            let nh = unsafe { read(next) };
            if nh & INUSE != 0 {
                if nh & PREV_INUSE == 0 {
                    // The next block believes this one is free: this header is a stale one
                    // inside a merged free block (a double free), or the next header was hit.
                    return Err(if check_ok(next, nh, self.secret) {
                        Misuse::DoubleFree(p)
                    } else {
                        Misuse::Corrupted(p)
                    });
                }
                if !check_ok(next, nh, self.secret) {
                    return Err(Misuse::Corrupted(p));
                }
            } else if !self.plausible_free(next, nh) {
                return Err(Misuse::Corrupted(p));
            }
        }
        Ok(Owner::Heap(b))
    }

    /// Whether `p` was the payload of one of the last huge blocks unmapped.
    fn recently_unmapped(&self, p: usize) -> bool {
        self.unmapped.contains(&p)
    }

    /// The mapping start of the huge block whose payload is `p`, if there is one.
    fn find_huge(&self, p: usize) -> Option<usize> {
        let mut m = self.huge;
        while m != 0 {
            // SAFETY: m is a live mapping in the huge list; its third word is its payload.
            let (payload, next) = unsafe { (read(m + 2 * WORD), read(m + WORD)) };
            if payload == p {
                return Some(m);
            }
            m = next;
        }
        None
    }

    /// Allocates a block with a mapping of its own.
    unsafe fn alloc_huge(&mut self, n: usize, align: usize) -> *mut u8 {
        let align = align.max(16);
        let page = self.src.page_size();
        let extra = HUGE_PREFIX + if align > 16 { align } else { 0 };
        if n > MAX_REQUEST - extra - page || align > MAX_REQUEST / 2 {
            return core::ptr::null_mut();
        }
        let len = (n + extra + page - 1) & !(page - 1);
        let guard = if self.cfg.guard_pages { page } else { 0 };
        let Some(m) = self.src.map(len + guard) else {
            return core::ptr::null_mut();
        };
        if guard != 0 && !self.src.protect_none(m + len, guard) {
            self.src.unmap(m, len + guard);
            return core::ptr::null_mut();
        }
        let p = (m + HUGE_PREFIX + align - 1) & !(align - 1);
        let size = m + len - (p - WORD);
        // SAFETY: [m, m + len) was just mapped for this block.
        unsafe {
            write(m, 0);
            write(m + WORD, self.huge);
            write(m + 2 * WORD, p);
            if self.huge != 0 {
                write(self.huge, m);
            }
            write(p - WORD, size | MMAPPED);
        }
        self.huge = m;
        self.stats.map_calls += 1;
        self.stats.mapped_bytes += len + guard;
        self.stats.huge_blocks += 1;
        self.stats.huge_bytes += size;
        self.stats.on_alloc(size);
        p as *mut u8
    }

    /// Resizes the huge block whose mapping is `m` and payload `p` to `n` bytes by resizing the
    /// mapping (the payload keeps its offset in it, so its alignment), updating the huge list
    /// and the statistics. The new payload, or `None` (nothing changed: the caller copies).
    /// Without guard pages only (the guard would have to move too).
    unsafe fn remap_huge(&mut self, m: usize, p: usize, n: usize) -> Option<usize> {
        // SAFETY: m is a live mapping in the huge list, p its payload; after a move, the list
        // links and header are rewritten at the new place before anything else reads them.
        unsafe {
            let page = self.src.page_size();
            let off = p - m;
            if n > MAX_REQUEST - off - page {
                return None;
            }
            let size = size_of_header(read(p - WORD));
            let old_len = p - WORD + size - m;
            let new_len = (off + n + page - 1) & !(page - 1);
            if new_len == old_len {
                return Some(p);
            }
            let m2 = self.src.remap(m, old_len, new_len)?;
            let p2 = m2 + off;
            let size2 = m2 + new_len - (p2 - WORD);
            write(p2 - WORD, size2 | MMAPPED);
            write(m2 + 2 * WORD, p2);
            if m2 != m {
                let (prev, next) = (read(m2), read(m2 + WORD));
                if prev != 0 {
                    write(prev + WORD, m2);
                } else {
                    self.huge = m2;
                }
                if next != 0 {
                    write(next, m2);
                }
                // A later free of the old address is a double free, not a foreign pointer.
                self.unmapped[self.unmapped_next % 8] = p;
                self.unmapped_next += 1;
            }
            self.stats.mapped_bytes = self.stats.mapped_bytes - old_len + new_len;
            self.stats.huge_bytes = self.stats.huge_bytes - size + size2;
            self.stats.on_resize(size, size2);
            Some(p2)
        }
    }

    /// Unmaps the huge block at mapping `m`.
    unsafe fn free_huge(&mut self, m: usize) {
        // SAFETY: m is a live mapping in the huge list.
        unsafe {
            let (prev, next, p) = (read(m), read(m + WORD), read(m + 2 * WORD));
            let size = size_of_header(read(p - WORD));
            let guard = if self.cfg.guard_pages {
                self.src.page_size()
            } else {
                0
            };
            let len = p - WORD + size - m + guard;
            if prev != 0 {
                write(prev + WORD, next);
            } else {
                self.huge = next;
            }
            if next != 0 {
                write(next, prev);
            }
            self.stats.on_free(size);
            self.stats.mapped_bytes -= len;
            self.stats.huge_blocks -= 1;
            self.stats.huge_bytes -= size;
            self.unmapped[self.unmapped_next % 8] = p;
            self.unmapped_next += 1;
            if self.src.unmap(m, len) {
                self.stats.unmap_calls += 1;
            } else {
                // The mapping could not be given back: keep it as free memory of the heap.
                self.adopt_free_mapping(m, len);
            }
        }
    }

    /// The first mapping in the list of huge blocks (for the checker).
    pub(crate) fn huge_head(&self) -> usize {
        self.huge
    }

    /// Frees the block whose payload is `p` (null does nothing).
    ///
    /// # Safety
    /// No other reference to the block's payload may be used afterwards. `p` is validated, so a
    /// pointer that is not from this heap gives an error rather than undefined behaviour, as long
    /// as the heap's own memory has not been overwritten.
    pub unsafe fn free(&mut self, p: *mut u8) -> Result<(), Misuse> {
        if p.is_null() {
            return Ok(());
        }
        match self.validate(p as usize)? {
            // SAFETY: b is a validated in-use block of this heap.
            Owner::Heap(b) => unsafe { self.free_block(b) },
            // SAFETY: m is a live mapping in the huge list.
            Owner::Huge(m) => unsafe { self.free_huge(m) },
        }
        Ok(())
    }

    /// Frees the in-use block `b`, merging it with free neighbours (or the top chunk).
    unsafe fn free_block(&mut self, b: usize) {
        // SAFETY: b is an in-use block; its neighbours are found through the boundary tags.
        unsafe {
            let h = read(b);
            let bsize = size_of_header(h);
            self.stats.on_free(bsize);
            let mut start = b;
            let mut size = bsize;
            if h & PREV_INUSE == 0 {
                let ps = if h & PREV_TINY != 0 {
                    16
                } else {
                    read(b - WORD)
                };
                let pb = b - ps;
                self.bins.unlink(pb, ps);
                start = pb;
                size += ps;
            }
            let next = b + bsize;
            if next == self.top {
                // The block's header stays in the top chunk, where a neighbour growing in place
                // (or a carve) may later cover it with a live block: cleared, a stale pointer to
                // it cannot pass for an in-use block (a second free there is caught as a
                // corrupted header; before that, while the top holds it, as a double free).
                write(b, 0);
                self.top = start;
                self.maybe_trim();
                return;
            }
            if start != b {
                // The header stays inside the free block it merged into. It must not name a
                // thread cache: `free`'s and `realloc`'s fast paths trust a block whose header
                // names theirs, so a stale pointer to it would pass as live there instead of
                // being judged a double free by the heap. (Without a merge backwards,
                // `make_free` below rewrites it.)
                write(b, h & !OWNER_MASK);
            }
            let nh = read(next);
            if nh & INUSE == 0 {
                let ns = free_size(nh);
                self.bins.unlink(next, ns);
                size += ns;
            }
            if size >= self.cfg.advise_threshold && bsize >= self.cfg.advise_threshold / 16 {
                if self.cfg.lazy_advise {
                    // Given back later, if still free (see `dirty_bytes`): a block freed and
                    // soon allocated again keeps its pages.
                    self.dirty += bsize;
                } else {
                    self.advise(start, size);
                }
            }
            make_free(start, size);
            if size >= 64 * 1024 && self.release_mapped_segment(start, size) {
                return;
            }
            self.bins.push(start, size);
            set_prev_state(start + size, size);
            if size >= self.cfg.advise_threshold
                && self.cfg.lazy_advise
                && (start == b || bsize >= self.cfg.advise_threshold / 16)
            {
                // A new (or much grown) large free block: its pages go back once it has stayed
                // free for a whole purge interval.
                write(start + STAMP_OFF, self.stamp(self.epoch, false));
            }
        }
    }

    /// The stamp of a large free block: the purge tick it was freed in, and whether its pages
    /// went back since. Kept in the free block's fourth word (after the list links), which
    /// `advise` keeps; a word that does not decode to a past tick is treated as "old, not given
    /// back" (a block that changed without a new stamp is given back at the next tick).
    fn stamp(&self, epoch: usize, purged: bool) -> usize {
        (epoch << 1 | purged as usize) ^ self.secret.rotate_left(29) ^ STAMP_MAGIC
    }

    /// `(tick, purged)` from a stamp word, if it decodes to a past tick.
    fn read_stamp(&self, w: usize) -> Option<(usize, bool)> {
        let v = w ^ self.secret.rotate_left(29) ^ STAMP_MAGIC;
        (v >> 1 <= self.epoch).then_some((v >> 1, v & 1 != 0))
    }

    /// A purge tick (lazy mode; the caller calls it every interval of activity while
    /// [`Heap::dirty_bytes`] is non-zero): the pages of large free blocks that have stayed free
    /// for `purge_after` whole intervals go back to the source; younger ones wait for a later
    /// tick (a block freed and soon allocated again keeps its pages). Returns the bytes given
    /// back.
    pub fn purge_tick(&mut self) -> usize {
        self.epoch += 1;
        self.dirty = 0;
        let mut total = 0;
        // A top chunk kept by a risen trim threshold that no allocation carved from for
        // `purge_after` whole intervals goes back, and the threshold returns to its base: the
        // cycle it was kept for did not come back.
        if self.kept_top() > 0 && self.epoch - self.top_used > self.cfg.purge_after {
            total += self.trim_noted(self.batch());
            self.dyn_trim = self.cfg.trim_threshold;
            // (When the trim failed, the end having moved, the top stays the heap's.)
            self.hand_out_kept();
        }
        let mut i = self
            .bins
            .first_nonempty_from(bin_of(self.cfg.advise_threshold));
        while let Some(bin) = i {
            let mut b = self.bins.head(bin);
            while b != 0 {
                // SAFETY: b is a free block in a list; blocks of these lists have a fourth word.
                let (s, next, w) = unsafe {
                    (
                        free_size(read(b)),
                        self.bins.next_of(b),
                        read(b + STAMP_OFF),
                    )
                };
                if s >= self.cfg.advise_threshold {
                    match self.read_stamp(w) {
                        Some((_, true)) => {}
                        Some((e, false)) if self.epoch - e <= self.cfg.purge_after => {
                            self.dirty += s
                        }
                        _ => {
                            let before = self.stats.advised_bytes;
                            self.advise(b, s);
                            total += (self.stats.advised_bytes - before) as usize;
                            // SAFETY: as above (advise keeps the first four words).
                            unsafe { write(b + STAMP_OFF, self.stamp(self.epoch, true)) };
                        }
                    }
                }
                b = next;
            }
            i = self.bins.first_nonempty_from(bin + 1);
        }
        total
    }

    /// Gives the inner pages of the free range `[b, b + size)` back to the source, keeping the
    /// words its free-block layout uses.
    fn advise(&mut self, b: usize, size: usize) {
        let page = self.src.page_size();
        let lo = (b + 4 * WORD + page - 1) & !(page - 1);
        let hi = (b + size - WORD) & !(page - 1);
        if hi > lo {
            self.src.advise_free(lo, hi - lo);
            self.stats.advise_calls += 1;
            self.stats.advised_bytes += (hi - lo) as u64;
        }
    }

    /// Bytes a purge tick may give back (lazy mode): freed into large free ranges whose pages
    /// were not given back yet, and of a top chunk kept above the configured trim threshold
    /// because the threshold rose.
    pub fn dirty_bytes(&self) -> usize {
        self.dirty + self.kept_top()
    }

    /// Bytes of the top chunk above the configured trim threshold (and one growth batch) that
    /// a risen trim threshold keeps (lazy mode; 0 otherwise).
    fn kept_top(&self) -> usize {
        if !self.cfg.lazy_advise || self.dyn_trim <= self.cfg.trim_threshold {
            return 0;
        }
        (self.top_end - self.top).saturating_sub(self.cfg.trim_threshold + self.batch())
    }

    /// Gives every free block's inner pages back (what `malloc_trim` does besides trimming).
    pub fn advise_all_free(&mut self) -> usize {
        self.dirty = 0;
        let page = self.src.page_size();
        let mut total = 0;
        let mut i = self.bins.first_nonempty_from(bin_of(2 * page + 4 * WORD));
        while let Some(bin) = i {
            let mut b = self.bins.head(bin);
            while b != 0 {
                // SAFETY: b is a free block in a list.
                let (s, next) = unsafe { (free_size(read(b)), self.bins.next_of(b)) };
                let before = self.stats.advised_bytes;
                self.advise(b, s);
                total += (self.stats.advised_bytes - before) as usize;
                b = next;
            }
            i = self.bins.first_nonempty_from(bin + 1);
        }
        total
    }

    /// If the free block `[b, b + size)` (header written, in no list) is all of a sealed mapped
    /// segment, unmaps the segment and returns true.
    unsafe fn release_mapped_segment(&mut self, b: usize, size: usize) -> bool {
        // SAFETY: b + size is the block after a free block: an in-use block or a fence.
        let fh = unsafe { read(b + size) };
        let fsize = size_of_header(fh);
        if fsize > 16 {
            return false;
        }
        let rec = b - SEG_RECORD;
        let mut newer = 0usize;
        let mut seg = self.seg;
        while seg != 0 && seg != rec {
            newer = seg;
            // SAFETY: seg is a segment record.
            seg = unsafe { read(seg) };
        }
        if seg == 0 || newer == 0 {
            return false; // not a segment start, or the current segment
        }
        // SAFETY: rec is a sealed segment record.
        let (older, w1) = unsafe { (read(rec), read(rec + WORD)) };
        if w1 & SEG_MAPPED == 0 || w1 & !SEG_MAPPED != b + size {
            return false;
        }
        let page = self.src.page_size();
        let map_start = rec & !(page - 1);
        let map_end = b + size + fsize;
        if !self.src.unmap(map_start, map_end - map_start) {
            return false; // kept: the block stays a free block of the segment
        }
        // SAFETY: the segment is gone; unlink its record from the list.
        unsafe { write(newer, older) };
        self.stats.heap_bytes -= map_end - rec;
        self.stats.segments -= 1;
        self.stats.unmap_calls += 1;
        true
    }

    /// The usable size of the block whose payload is `p`.
    ///
    /// # Safety
    /// `p` must be the payload of an in-use block of this heap.
    #[inline]
    pub unsafe fn usable_unchecked(&self, p: usize) -> usize {
        // SAFETY: caller's precondition.
        size_of_header(unsafe { read(p - WORD) }) - WORD
    }

    /// The usable size of the block whose payload is `p` (validated; 0 for null).
    pub fn usable_size(&self, p: *mut u8) -> Result<usize, Misuse> {
        if p.is_null() {
            return Ok(0);
        }
        let b = match self.validate(p as usize)? {
            Owner::Heap(b) => b,
            Owner::Huge(_) => p as usize - WORD,
        };
        // SAFETY: b is an in-use block (validated).
        Ok(size_of_header(unsafe { read(b) }) - WORD)
    }

    /// Resizes the block at `p` to `n` bytes with alignment `align`, in place when it can.
    /// Returns the (possibly moved) payload, or null when out of memory (the block is then
    /// untouched). `p` null is `alloc`; `n == 0` is *not* special here (the C face frees).
    ///
    /// # Safety
    /// As for [`Heap::free`] and [`Heap::alloc`].
    pub unsafe fn realloc(
        &mut self,
        p: *mut u8,
        n: usize,
        align: usize,
    ) -> Result<*mut u8, Misuse> {
        // SAFETY: forwarded.
        unsafe { self.realloc_in(p, n, align, false) }
    }

    /// [`Heap::realloc`] for a block that is appended to: a growth by at most an eighth of the
    /// block gets an eighth more room than asked for, in place when the next block or the top
    /// has it (else exactly `n` in place), or in the block it moves to. A string grown a few
    /// bytes at a time then comes back every eighth of its length instead of every 16 bytes.
    /// Any other request is served as by [`Heap::realloc`].
    ///
    /// # Safety
    /// As for [`Heap::realloc`].
    pub unsafe fn realloc_amortised(
        &mut self,
        p: *mut u8,
        n: usize,
        align: usize,
    ) -> Result<*mut u8, Misuse> {
        // SAFETY: forwarded.
        unsafe { self.realloc_in(p, n, align, true) }
    }

    unsafe fn realloc_in(
        &mut self,
        p: *mut u8,
        n: usize,
        align: usize,
        amortise: bool,
    ) -> Result<*mut u8, Misuse> {
        // SAFETY: the helpers only touch memory of this heap.
        unsafe {
            if p.is_null() {
                return Ok(self.alloc(n, align));
            }
            let owner = self.validate(p as usize)?;
            let b = p as usize - WORD;
            let want = if align == 16 {
                request16(n)
            } else {
                request8(n)
            };
            let Some(s) = want else {
                return Ok(core::ptr::null_mut());
            };
            let h = read(b);
            let bs = size_of_header(h);
            let aligned = align <= 16 || (p as usize).is_multiple_of(align);
            if let Owner::Huge(m) = owner {
                // Keep the mapping while the new size uses at least half of it.
                if aligned && s <= bs && s >= bs / 2 {
                    return Ok(p);
                }
                // A block that stays huge: its mapping is resized, the pages moved, not copied.
                if align <= 16 && n >= self.cfg.huge_threshold && !self.cfg.guard_pages {
                    if let Some(q) = self.remap_huge(m, p as usize, n) {
                        return Ok(q as *mut u8);
                    }
                }
                let q = self.alloc(n, align);
                if !q.is_null() {
                    core::ptr::copy_nonoverlapping(p, q, (bs - WORD).min(n));
                    self.free_huge(m);
                }
                return Ok(q);
            }
            // An append's growth (see `realloc_amortised`), unless it would make the block huge.
            let roomy = n + n / 8;
            let roomy = (amortise
                && s > bs
                && s - bs <= bs / 8
                && roomy < self.cfg.huge_threshold
                && roomy <= MAX_REQUEST)
                .then_some(roomy);
            if aligned && n < self.cfg.huge_threshold {
                if s <= bs {
                    self.shrink_block(b, s);
                    return Ok(p);
                }
                if let Some(r) = roomy {
                    let rs = if align == 16 {
                        request16(r)
                    } else {
                        request8(r)
                    };
                    if rs.is_some_and(|rs| self.grow_in_place(b, bs, rs)) {
                        return Ok(p);
                    }
                }
                if self.grow_in_place(b, bs, s) {
                    return Ok(p);
                }
            }
            let mut q = core::ptr::null_mut();
            if let Some(r) = roomy {
                q = self.alloc(r, align);
            }
            if q.is_null() {
                q = self.alloc(n, align);
            }
            if q.is_null() {
                return Ok(q);
            }
            let keep = if bs - WORD < n { bs - WORD } else { n };
            core::ptr::copy_nonoverlapping(p, q, keep);
            self.free_block(b);
            Ok(q)
        }
    }

    /// Shrinks the in-use block `b` to `s` bytes, freeing the tail when it can form a block.
    unsafe fn shrink_block(&mut self, b: usize, s: usize) {
        // SAFETY: b is an in-use block of at least s bytes.
        unsafe {
            let h = read(b);
            let bs = size_of_header(h);
            if bs - s < MIN_BLOCK {
                return;
            }
            write(b, self.tag(b, s) | (h & (FLAGS | OWNER_MASK)));
            let t = b + s;
            write(t, self.tag(t, bs - s) | INUSE | PREV_INUSE);
            // The tail is counted as a block of its own for a moment, then freed.
            self.stats.on_split();
            self.free_block(t);
        }
    }

    /// Grows the in-use block `b` (size `bs`) to `s > bs` bytes into the following free block or
    /// the top chunk. Returns whether it did.
    unsafe fn grow_in_place(&mut self, b: usize, bs: usize, s: usize) -> bool {
        // SAFETY: b is an in-use block; its next neighbour is found through its size.
        unsafe {
            let next = b + bs;
            if next == self.top {
                let room = self.top_end - self.top;
                if room < s - bs && !self.extend_top(s - bs - room) {
                    return false;
                }
                if next != self.top {
                    return false;
                }
                let h = read(b);
                write(b, self.tag(b, s) | (h & (FLAGS | OWNER_MASK)));
                self.top = b + s;
                if self.kept > self.top_end - self.top {
                    self.grown_total += (self.kept - (self.top_end - self.top)) as u64;
                    self.kept = self.top_end - self.top;
                }
                self.top_used = self.epoch;
                self.stats.on_resize(bs, s);
                return true;
            }
            let nh = read(next);
            if nh & INUSE != 0 {
                return false;
            }
            let ns = free_size(nh);
            if bs + ns < s {
                return false;
            }
            self.bins.unlink(next, ns);
            let total = bs + ns;
            let h = read(b);
            let rest = total - s;
            if rest >= MIN_BLOCK {
                write(b, self.tag(b, s) | (h & (FLAGS | OWNER_MASK)));
                let r = b + s;
                make_free(r, rest);
                self.bins.push(r, rest);
                set_prev_state(r + rest, rest);
                self.stats.on_resize(bs, s);
            } else {
                write(b, self.tag(b, total) | (h & (FLAGS | OWNER_MASK)));
                set_prev_state(b + total, 0);
                self.stats.on_resize(bs, total);
            }
            true
        }
    }

    /// Allocates `n` bytes whose payload is aligned to `align` (> 8), giving the leading space
    /// back to the heap as a free block.
    unsafe fn alloc_aligned(&mut self, n: usize, align: usize) -> *mut u8 {
        let Some(s) = request8(n) else {
            return core::ptr::null_mut();
        };
        if align > MAX_REQUEST || s > MAX_REQUEST - align {
            return core::ptr::null_mut();
        }
        // SAFETY: all addresses are inside the block just allocated.
        unsafe {
            let p = self.alloc_block(s + align + MIN_BLOCK, false);
            if p.is_null() {
                return p;
            }
            let mut b = p as usize - WORD;
            if !(p as usize).is_multiple_of(align) {
                let q = ((p as usize + MIN_BLOCK) + align - 1) & !(align - 1);
                let nb = q - WORD;
                let lead = nb - b;
                let h = read(b);
                let total = size_of_header(h);
                // The new block starts after a free lead block; the lead keeps b's prev flags.
                write(nb, self.tag(nb, total - lead) | INUSE);
                set_prev_state(nb, 0);
                write(b, self.tag(b, lead) | (h & FLAGS));
                self.stats.on_split();
                self.free_block(b);
                b = nb;
            }
            self.shrink_block(b, s);
            (b + WORD) as *mut u8
        }
    }
}
