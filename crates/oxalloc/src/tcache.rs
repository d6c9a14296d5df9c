//! Thread caches: per-thread LIFO lists of free blocks by size, in front of the shared heap.
//!
//! ```text
//! malloc(n <= 1016)  -> pop bins[(n + 23) / 16]                 (no lock, no atomic)
//! malloc(n <= 64 KiB)-> pop the bin of n's medium class (8 per power of two; threaded only)
//! free(p) owned here -> push p's bin                            (no lock, no atomic)
//! free(p) owned by T -> push T.remote[p's bin] (one CAS)        (no lock)
//! empty bin          -> its spare list, else the remote list of its class, else drain the
//!                       other remote frees, else the class's stash (no lock), else a deferred
//!                       group (another cache's stash last), else carve a batch (lock)
//! full bin           -> the list becomes the spare; the old spare goes to the class's stash
//!                       when it is free, or onto it with threads (no lock), else becomes a
//!                       deferred group (lock, no merging, no list walked)
//! heap cannot serve  -> merge the deferred groups, then every cache's stash, then other
//!                       threads' long remote lists, then give this cache's blocks back, then
//!                       grow (lock); the pages grown are faulted in after the lock (small bins)
//! ```
//!
//! A block a cache carved carries the cache's id in its header's owner field (bits 48..=63); the
//! heap keeps it while the block is in use. Blocks in a bin or a remote list are "in use" for the
//! heap; their first payload word is the list link, encoded as `next ^ SECRET`, whose low four
//! bits and top byte are then those of `SECRET` (a fixed tag, see `LINK_ZERO`): a second free of
//! a listed block finds the tag and stops the process instead of corrupting a list. Headers are written under the heap's
//! lock (the heap updates a block's flags when a neighbour changes), except the owner field of a
//! block taken from another cache's group, which changes by one atomic `xor` (see `take_spare`).
//!
//! Invariants: `bins[k].count` and `bins[k].spare_count` are the lengths of bin `k`'s list and
//! spare list; every block in a bin or in `remote` belongs to this cache and has a 16-aligned
//! payload, and its owner field names this cache — except the blocks of a spare marked mixed, and
//! rarely a block whose owner change a racing flag write undid (it names a cache that once owned
//! it, and is freed as that cache's: slower, still correct); a block in bin `k` (or `remote.class[k]`) has a size from `bin_size(k)` up to the
//! next class; `stash[k]` is 0 or a stack of lists of class `k` blocks whose owner fields all
//! name this cache: the newest list's head with the stack's total length packed in, each list's
//! head block linking the next list through its second word, packed the same way (0 ends it;
//! one list only for 16-byte blocks); only the owner stores a nonzero value into it, others
//! only swap it to 0 (a forked child zeroes the stashes of the threads it lost);
//! `TABLE[id]` points to the cache with that id for the life of the process.

use crate::global;
use crate::tls;
use core::sync::atomic::{
    AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use oxalloc_core::tag::{
    check_ok, read, write, FLAGS, INUSE, MMAPPED, OWNER_MASK, OWNER_SHIFT, SIZE_MASK, WORD,
};
use oxalloc_os as os;

/// Small block sizes with a bin: 16, 32, ..., 1024 (bin index = size / 16).
pub const CLASSES: usize = 64;
/// The largest request a small bin serves (a 1024-byte block).
pub const MAX_SMALL: usize = CLASSES * 16 - WORD;
/// Medium block sizes with a bin: eight per power of two, from 1152 to 64 KiB (bins
/// `CLASSES + 1 ..`; a request is rounded up to its class, at most 12.5% more).
const MEDIUM: usize = 48;
/// Bins in a cache: index 0 unused, small, medium.
const NBINS: usize = CLASSES + 1 + MEDIUM;
/// The largest request a medium bin serves (a 64 KiB block).
pub const MAX_MEDIUM: usize = 65536 - WORD;
/// The most thread caches alive at once; later threads use the shared heap directly. (Owner
/// field 0xFFFF is nobody's: the disabled cache's `owner_tag` has it.)
const MAX_ID: usize = (1 << 16) - 2;
const _: () = assert!(MAX_ID < Group::MIXED as usize);

const _: () = assert!(MAX_SMALL == 1016);
const _: () = assert!(bin_size(NBINS - 1) == 65536 && bin_size(CLASSES + 1) == 1152);
const _: () = assert!(batch_and_limit(1).1 as usize <= FLUSH_CHUNK);
const _: () = assert!(OWNER_SHIFT == 48);

/// One bin: a LIFO list of free blocks of one size, and a spare list of older ones.
///
/// When the list is full, it becomes the spare and the spare (if any) goes to the cache's stash
/// for the class or back to the heap as a deferred group; when the list is empty, the spare
/// becomes the list. Both moves are O(1): no
/// list is walked, so a bin's blocks are not touched again while they go cold.
#[repr(C)]
#[derive(Clone, Copy)]
struct Bin {
    head: usize,
    count: u32,
    /// The most blocks `head` holds before a free moves it to `spare` (soft: a remote list or a
    /// group taken whole may exceed it until the next move). Between the class's base and
    /// `max_limit` (see [`adapt_limit`]).
    limit: u32,
    spare: usize,
    spare_count: u32,
    /// Whether the bin was refilled from the heap since it last gave a group back.
    refilled: bool,
    /// Whether `spare` may hold blocks whose owner field names another cache: they came in a
    /// group another cache gave back, and are made this cache's one at a time as the slow path
    /// hands them out (see [`take_spare`]). Blocks of `head` always name this cache.
    spare_mixed: bool,
}

const EMPTY_BIN: Bin = Bin {
    head: 0,
    count: 0,
    limit: 0,
    spare: 0,
    spare_count: 0,
    refilled: false,
    spare_mixed: false,
};

/// Counters of one cache, read racily for statistics.
///
/// Written by the cache's own thread only, so a counter is bumped by a plain load and store (see
/// [`bump`]), not an atomic read-modify-write: a `lock` prefix on every refill and give-back
/// drains the store buffer (8% of `bin_slow`'s samples in a model of rptest); anyone may read
/// them.
#[repr(C)]
struct CacheStats {
    refills: AtomicU64,
    flushes: AtomicU64,
    remote_in: AtomicU64,
    /// Groups taken back from the stash (see `TCache::stash`).
    stash_takes: AtomicU64,
    /// Bulk free phases begun (see [`free_ringed`]).
    phases: AtomicU64,
}

/// Adds `n` to a counter of [`CacheStats`] (its cache's thread only: one writer).
#[inline(always)]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

const ALIVE: u8 = 1;
const DEAD: u8 = 2;

/// Remote frees for one cache, on cache lines of their own (other threads write them; 128-byte
/// aligned, see `os::CachePadded`).
///
/// A block with a bin goes onto that bin's list, whose word packs the list's head (bits 0..48)
/// with its length (bits 48..64, at most `REMOTE_MAX` blocks; further frees go to the heap): the
/// owner takes a whole list as an empty bin's content without touching a block. Other blocks (grown past every class) go onto `head`.
#[repr(C, align(128))]
struct Remote {
    head: AtomicUsize,
    class: [AtomicUsize; NBINS],
}

/// The head of a packed remote list.
const LIST_PTR: usize = (1 << 48) - 1;
/// The longest a per-bin remote list gets: its length is packed in the upper 16 bits.
const REMOTE_MAX: usize = 0xFFFF;

impl Remote {
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Remote = Remote {
        head: AtomicUsize::new(0),
        class: [const { AtomicUsize::new(0) }; NBINS],
    };

    /// Takes every list off, as plain encoded lists (the packed lengths dropped).
    fn take_all(&self, mut each: impl FnMut(usize)) {
        each(self.head.swap(0, Ordering::Acquire));
        for c in &self.class {
            if c.load(Ordering::Relaxed) != 0 {
                each(c.swap(0, Ordering::Acquire) & LIST_PTR);
            }
        }
    }

    /// Whether any remote free is waiting.
    fn pending(&self) -> bool {
        self.head.load(Ordering::Relaxed) != 0
            || self.class.iter().any(|c| c.load(Ordering::Relaxed) != 0)
    }
}

/// A thread's cache (on cache lines of its own: 128-byte aligned, see `os::CachePadded`).
#[repr(C, align(128))]
pub struct TCache {
    /// First, so that a bin's address is the cache's plus the bin's offset (one instruction
    /// less on the fast paths than at an offset of its own; see also `small_bin`).
    bins: [Bin; NBINS],
    /// The owner field of the blocks this cache owns (`usize::MAX` for the disabled cache).
    owner: usize,
    /// Copies of SECRET and of the heap's range as of this cache's last refill, its end lowered
    /// by any trim since (every block this cache owns lies in it), so the fast paths read one
    /// cache line for them. The range
    /// is kept as its first 16-aligned address and its number of 16-byte units (see
    /// `in_own_range`).
    secret: usize,
    /// The key of the skip links a bulk free phase writes (see [`note_skip`]): `SKIP_KEY`.
    skip_key: usize,
    lo: usize,
    /// Written with the heap's lock held, by the owner at a refill and by any thread whose
    /// trim lowered the heap's end (`note_bounds_locked`); read by the owner's fast paths.
    span: AtomicUsize,
    /// `LINK_ZERO`, read from here by `free`'s fast path (an operand in memory instead of a
    /// 64-bit constant loaded into a register: one instruction less).
    link_zero: usize,
    /// `owner` in a header's owner field, and the mask of a header's owner field and its size
    /// rounded down to 16: `free`'s fast path tests owner and size class in one comparison
    /// (see `try_free`).
    owner_tag: usize,
    free_mask: usize,
    /// `SIZE_MASK`, read from here by `realloc`'s fast path (an operand in memory, as above).
    size_mask: usize,
    /// Whether the thread is in a bulk free phase (see [`free_ringed`]): `free` goes through
    /// `ring`, and the fast paths are off (`tls::fast` is 0).
    ring_on: bool,
    /// Blocks the next refill of each bin carves: starts at one cache line's worth (one block
    /// from 64 bytes up) and doubles up to `limit`, so a size a program uses a few times
    /// takes little memory, and two threads' first blocks never share a cache line.
    batch: [u8; NBINS],
    id: usize,
    state: AtomicU8,
    /// Bytes the heap grew by for this thread since its cache was last given back (by the
    /// amortised rule, see [`with_growth_policy`]).
    grown_since_flush: usize,
    /// Bytes by which the bins' limits exceed their classes' bases (list and spare: twice the
    /// blocks), at most `EXTRA_BUDGET`.
    extra: usize,
    /// Groups this cache gave back so far (wrapping), and the count when each bin last gave one
    /// back: how often a bin swings, measured against the cache's other bins.
    gave: u32,
    gave_at: [u32; NBINS],
    stats: CacheStats,
    remote: Remote,
    /// Blocks of exited threads' caches that this thread freed, waiting to become its own (a
    /// list linked as a bin's, of any classes), and how many.
    adopt: usize,
    adopt_count: u32,
    /// Per class: this cache's deferred groups pushed out of the class's full ring, a stack
    /// linked through the groups' head blocks. Touched only with the heap lock held (atomics
    /// only so that the cache stays shareable; plain loads and stores suffice).
    over: [AtomicUsize; NBINS],
    /// Per class: how many of the groups in the class's deferred ring name this cache (heap
    /// lock; atomics for the same reason as `over`). A refill scans the ring for its own newest
    /// group only when there is one: the scan probes a cache line per group, up to 256.
    in_ring: [AtomicU16; NBINS],
    /// Per class: groups this cache gave back, kept here instead of in the deferred ring: a
    /// stack (newest head in bits 0..48, total count in 48..64, as a per-bin remote list; each
    /// group's head block links the next group, packed the same way, in its second word; 0:
    /// none). A swinging bin's group goes here when the slot is empty; in a process with
    /// threads every group of a bin of 32 bytes or more does, unless it is mixed or the stack
    /// would count more than `REMOTE_MAX` blocks (see [`stash_put`]). The links are XOR-ed with
    /// the skip links' key and checked (see [`stash_link`]). The owner
    /// puts and takes groups without the heap's lock; any thread holding the lock may take the
    /// whole stack, to merge it (before the heap grows, on `malloc_trim`, at idle merges) or for
    /// a refill that finds no deferred group. Taken by an atomic swap either way, so each group
    /// goes one way. See [`free_own_slow`] and [`STASHED`].
    stash: [AtomicUsize; NBINS],
    /// Set by the owner when a refill takes a group back from its stash; swapped clear by each
    /// purge tick, which counts in `stash_idle` the ticks since (heap lock): a cache whose
    /// stash went unused for `IDLE_TICKS` ticks has it merged (see [`merge_idle_stashes_locked`]).
    /// Per cache, so that one busy thread does not keep every other thread's stash.
    stash_used: AtomicBool,
    stash_idle: AtomicU32,
    /// Blocks of other threads' caches this thread freed, not pushed onto their remote lists
    /// yet (owner only; see [`buffer_remote`]).
    rbuf: [RemoteBatch; RBUF],
    /// Blocks `free` was given in a bulk free phase, header and first word prefetched, each
    /// freed `RING` frees later (0: an empty slot), and the next slot.
    ring: [usize; RING],
    ring_at: usize,
    /// Set while the ring's blocks are freed: a bulk phase does not start again meanwhile.
    ring_draining: bool,
    /// Bytes given back (see [`gave_back`]) since `malloc` last took the slow path: a bulk free
    /// phase starts after `RING_AFTER` (see [`free_ringed`]).
    quiet_bytes: usize,
}

/// Blocks of one class that a thread freed for one other cache, linked as a bin's list (the
/// oldest, `tail`, ends it), to go onto that cache's remote list with one atomic operation.
#[derive(Clone, Copy)]
struct RemoteBatch {
    /// The cache the blocks belong to (0: the batch is empty).
    owner: usize,
    k: usize,
    n: usize,
    head: usize,
    tail: usize,
}

impl RemoteBatch {
    const EMPTY: RemoteBatch = RemoteBatch {
        owner: 0,
        k: 0,
        n: 0,
        head: 0,
        tail: 0,
    };
}

/// Batches a thread keeps of the blocks it frees for other threads (one per owner and class
/// met last, by a hash of the two), and the blocks a batch takes before it is pushed.
const RBUF: usize = 4;
/// How many frees later a block freed in a bulk phase is taken in (see [`free_ringed`]).
const RING: usize = 32;
/// Bytes given back in a stretch without allocation before a bulk free phase starts (see
/// [`gave_back`]).
const RING_AFTER: usize = 2 << 20;
const RBATCH: usize = 32;

/// The cache of a thread that is exiting (or could not get one): matches no block and has no
/// room, so every operation takes the shared heap's path.
static DISABLED: TCache = TCache::new(usize::MAX, 0, 0, 0, [EMPTY_BIN; NBINS], [1; NBINS], DEAD);

impl TCache {
    /// A cache with empty bins and zero counters.
    const fn new(
        owner: usize,
        id: usize,
        secret: usize,
        skip_key: usize,
        bins: [Bin; NBINS],
        batch: [u8; NBINS],
        state: u8,
    ) -> Self {
        TCache {
            owner,
            secret,
            skip_key,
            lo: 0,
            span: AtomicUsize::new(0),
            link_zero: LINK_ZERO,
            owner_tag: owner << OWNER_SHIFT,
            free_mask: OWNER_MASK | (SIZE_MASK & !15),
            size_mask: SIZE_MASK,
            ring_on: false,
            bins,
            batch,
            id,
            state: AtomicU8::new(state),
            grown_since_flush: 0,
            extra: 0,
            gave: 0,
            gave_at: [0; NBINS],
            stats: CacheStats {
                refills: AtomicU64::new(0),
                flushes: AtomicU64::new(0),
                remote_in: AtomicU64::new(0),
                stash_takes: AtomicU64::new(0),
                phases: AtomicU64::new(0),
            },
            stash: [const { AtomicUsize::new(0) }; NBINS],
            stash_used: AtomicBool::new(false),
            stash_idle: AtomicU32::new(0),
            rbuf: [RemoteBatch::EMPTY; RBUF],
            ring: [0; RING],
            ring_at: 0,
            ring_draining: false,
            quiet_bytes: 0,
            remote: Remote::EMPTY,
            adopt: 0,
            adopt_count: 0,
            over: [const { AtomicUsize::new(0) }; NBINS],
            in_ring: [const { AtomicU16::new(0) }; NBINS],
        }
    }
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_CACHE: AtomicUsize = AtomicUsize::new(0);
/// How many caches live in static memory.
const POOL_CACHES: usize = 32;

/// Static memory for the first caches (each slot is written once, by the thread that takes it).
struct Pool([core::cell::UnsafeCell<core::mem::MaybeUninit<TCache>>; POOL_CACHES]);
// SAFETY: slot `id - 1` is written only by the thread that got `id` from LAST_ID (unique).
unsafe impl Sync for Pool {}
#[allow(clippy::declare_interior_mutable_const)]
const POOL_SLOT: core::cell::UnsafeCell<core::mem::MaybeUninit<TCache>> =
    core::cell::UnsafeCell::new(core::mem::MaybeUninit::uninit());
static POOL: Pool = Pool([POOL_SLOT; POOL_CACHES]);

/// Caches that live in heap blocks (beyond the static pool): allocator metadata, not the
/// program's memory, so the statistics leave them out.
static META_BLOCKS: AtomicUsize = AtomicUsize::new(0);
static META_BYTES: AtomicUsize = AtomicUsize::new(0);

/// `(blocks, bytes)` of heap memory that holds caches (a cache is never freed: it is adopted).
pub fn metadata() -> (usize, usize) {
    (
        META_BLOCKS.load(Ordering::Relaxed),
        META_BYTES.load(Ordering::Relaxed),
    )
}

/// Every cache ever made, by id (index 0 unused). Untouched pages of this table cost nothing.
static TABLE: [AtomicUsize; MAX_ID + 1] = [NO_CACHE; MAX_ID + 1];
/// The highest id handed out so far.
static LAST_ID: AtomicUsize = AtomicUsize::new(0);
/// Caches of exited threads (adoptable).
static DEAD_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The pthread key whose destructor flushes a thread's cache at exit (`u32::MAX`: none).
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The list-link secret (set once): its low four bits are a non-zero tag, its top byte neither
/// 0x00 nor 0xFF.
static SECRET: AtomicUsize = AtomicUsize::new(0b1010);
/// The skip-link key (set once, see [`make_skip_key`]).
static SKIP_KEY: AtomicUsize = AtomicUsize::new(0);

/// The bits of a decoded list link that are always zero: a link is a 16-aligned address below
/// 2^56 (user space, five-level paging included), or 0. A word whose decoding has any of them set
/// is not a link: a freed block's first word is tested on these 12 bits, so the program's data
/// rarely looks like a link (1 in 16 random words would on the four low bits alone, sending that
/// many frees down the slow path; a pointer, a small integer or zeros never do, the secret's top
/// byte being neither 0x00 nor 0xFF).
const LINK_ZERO: usize = 0xFF00_0000_0000_000F;
/// The range every cached block lies in: `[LO, LO + SPAN)`.
static LO: AtomicUsize = AtomicUsize::new(0);
static SPAN: AtomicUsize = AtomicUsize::new(0);

/// Every cache made so far (non-null table entries), as raw pointers.
fn caches() -> impl Iterator<Item = *mut TCache> {
    let last = LAST_ID.load(Ordering::Acquire).min(MAX_ID);
    TABLE[1..=last]
        .iter()
        .map(|e| e.load(Ordering::Acquire) as *mut TCache)
        .filter(|t| !t.is_null())
}

/// The heap's header-check secret, for checking headers without the heap's lock.
static HEADER_SECRET: AtomicUsize = AtomicUsize::new(0);

/// Records the heap's header-check secret (see `oxalloc_core::tag::check_ok`).
pub fn set_header_secret(s: usize) {
    HEADER_SECRET.store(s, Ordering::Relaxed);
}

/// Whether `p` is a cache-owned block that sits in a bin or remote list (freed).
pub fn is_listed(p: usize) -> bool {
    if !in_range(p) {
        return false;
    }
    // SAFETY: p - 8 and p are inside the heap's range.
    unsafe {
        let h = read(p - WORD);
        h >> OWNER_SHIFT != 0 && h & INUSE != 0 && looks_listed(read(p))
    }
}

/// The usable size of `p` when it is an in-use block some cache owns, read from its header
/// without the heap's lock (the size of an in-use block changes only by its user's own
/// `realloc`); `None` for any other pointer (the heap then validates it under the lock).
pub fn owned_usable_size(p: usize) -> Option<usize> {
    let (h, _) = owned_block(p)?;
    // SAFETY: p is inside the heap's range (owned_block checked it).
    (!looks_listed(unsafe { read(p) })).then(|| (h & SIZE_MASK) - WORD)
}

/// The header of `p` and the cache that owns it, when `p` is an in-use block some cache owns
/// (its header's check bits valid under the secret); `None` for any other pointer, or a damaged
/// header: the heap's checks judge those. The block may be listed (freed): callers check.
fn owned_block(p: usize) -> Option<(usize, *mut TCache)> {
    if !in_range(p) {
        return None;
    }
    // SAFETY: p - 8 is inside the heap's range.
    let h = unsafe { read(p - WORD) };
    let owner = h >> OWNER_SHIFT;
    if owner == 0
        || h & INUSE == 0
        || h & FLAGS == MMAPPED
        || owner > MAX_ID
        || !check_ok(p - WORD, h, HEADER_SECRET.load(Ordering::Relaxed))
    {
        return None;
    }
    let ot = TABLE[owner].load(Ordering::Acquire) as *mut TCache;
    (!ot.is_null()).then_some((h, ot))
}

/// Sets up what caches need; called once from the allocator's initialisation.
pub fn init() {
    SECRET.store(make_secret(os::random_u64() as usize), Ordering::Relaxed);
    SKIP_KEY.store(make_skip_key(os::random_u64() as usize), Ordering::Relaxed);
    if let Some(k) = os::thread_key_create(thread_exit) {
        KEY.store(k as usize, Ordering::Release);
    }
}

/// The list-link secret made of the random word `r`: tag 0b1010, top byte from 0x01 to 0xFE.
const fn make_secret(r: usize) -> usize {
    let top = 1 + (r >> 56) % 254;
    (r & 0x00FF_FFFF_FFFF_FFF0) | top << 56 | 0b1010
}

/// The skip-link key made of the random word `r`: low four bits 0, top byte from 0x01 to 0xFE.
/// A skip link decodes under it to the block's address itself; under the list secret (tag
/// 0b1010) its low four bits decode to 0b1010, so it never looks like a list link (the program
/// may move the word to a block's start and free the block); and it is independent of the
/// secret, which a program reading a block's old second word therefore does not learn.
const fn make_skip_key(r: usize) -> usize {
    let top = 1 + (r >> 56) % 254;
    (r & 0x00FF_FFFF_FFFF_FFF0) | top << 56
}

/// Whether `w`, a freed block's first word, may be a list link under the secret `s` (the block
/// then may be listed already: the slow path looks closer). Always true for a link.
#[inline(always)]
fn may_be_link(w: usize, s: usize) -> bool {
    (w ^ s) & LINK_ZERO == 0
}

/// [`may_be_link`] on the fast paths: the tag from cache `tc` (an operand in memory, see
/// `TCache::link_zero`), under its copy of the secret `s`.
///
/// # Safety
/// `tc` is a live cache.
#[inline(always)]
unsafe fn may_be_link_in(tc: *const TCache, w: usize, s: usize) -> bool {
    // SAFETY: per the contract.
    unsafe { (w ^ s) & (*tc).link_zero == 0 }
}

#[inline(always)]
fn secret() -> usize {
    SECRET.load(Ordering::Relaxed)
}

/// The most bytes of fresh heap a refill of a small bin that grew the heap faults in, after
/// releasing the lock (see [`refill`]).
const POPULATE_MAX: usize = 1 << 20;

/// The first refill of each bin: the blocks that fill one 64-byte cache line.
const FIRST_BATCH: [u8; NBINS] = {
    let mut b = [1u8; NBINS];
    let mut k = 1;
    while k < 4 {
        b[k] = 64usize.div_ceil(16 * k) as u8;
        k += 1;
    }
    b
};

/// The largest batch a refill of bin `k` carves, and the bin's limit (equal: a bin and its
/// spare hold two batches): small bins up to 16 KiB in all (4-64 blocks a batch), medium bins
/// up to 32 KiB (at least one block a batch).
const fn batch_and_limit(k: usize) -> (u32, u32) {
    let bs = bin_size(k);
    if k > CLASSES {
        let batch = if 16384 / bs < 1 { 1 } else { 16384 / bs };
        return (batch as u32, batch as u32);
    }
    let mut batch = 8192 / bs;
    if batch < 4 {
        batch = 4;
    }
    if batch > 64 {
        batch = 64;
    }
    (batch as u32, batch as u32)
}

/// The most blocks bin `k`'s list may be allowed (see [`adapt_limit`]): up to 1 MiB of blocks
/// and 128 blocks (at least the base).
const fn max_limit(k: usize) -> u32 {
    let base = batch_and_limit(k).1 as usize;
    let mut m = (1 << 20) / bin_size(k);
    if m > FLUSH_CHUNK {
        m = FLUSH_CHUNK;
    }
    if m < base {
        m = base;
    }
    m as u32
}

/// A bin's limit grows only if it swings between empty and full this often: fewer groups than
/// this given back by its whole cache since its own last one.
const SWING_WINDOW: u32 = 64;

/// Bytes one cache's bins may hold beyond their classes' bases (see [`adapt_limit`]). All
/// caches together may take a sixteenth of the heap's span (`EXTRA_TOTAL` counts what they took),
/// so the memory caches can hold stays in proportion to the heap.
const EXTRA_BUDGET: usize = 16 << 20;
#[used]
static EXTRA_TOTAL: os::CachePadded<AtomicUsize> = os::CachePadded::new(AtomicUsize::new(0));

/// The block size of bin `k` (`1 <= k < NBINS`).
const fn bin_size(k: usize) -> usize {
    if k <= CLASSES {
        return 16 * k;
    }
    let m = k - CLASSES - 1;
    let e = 10 + m / 8;
    (1 << e) + (m % 8 + 1) * (1 << (e - 3))
}

/// The medium bin for a request of `n` bytes (`MAX_SMALL < n <= MAX_MEDIUM`): the smallest
/// class whose blocks hold it.
#[inline]
fn medium_bin(n: usize) -> usize {
    let bs = (n + WORD + 15) & !15; // > 1024
    let e = (usize::BITS - 1 - (bs - 1).leading_zeros()) as usize; // 2^e < bs <= 2^(e+1)
    let step = 1 << (e - 3);
    let j = (bs - (1 << e)).div_ceil(step); // 1..=8
    CLASSES + 1 + (e - 10) * 8 + (j - 1)
}

/// The bin a free block of `size` bytes goes to: the largest class it can serve, or 0 for
/// none (too large for a bin).
#[inline]
fn bin_of_block(size: usize) -> usize {
    if size < 1152 {
        let k = size >> 4;
        return if k <= CLASSES { k } else { 0 };
    }
    let e = (usize::BITS - 1 - size.leading_zeros()) as usize; // 2^e <= size < 2^(e+1)
    let j = (size - (1 << e)) >> (e - 3); // 0..=7
    let k = if j == 0 {
        CLASSES + 1 + (e - 11) * 8 + 7
    } else {
        CLASSES + 1 + (e - 10) * 8 + (j - 1)
    };
    if k < NBINS {
        k
    } else {
        0
    }
}

/// Whether `p` could be a cached block: 16-aligned and inside the heap's range.
#[inline(always)]
fn in_range(p: usize) -> bool {
    p.wrapping_sub(LO.load(Ordering::Relaxed)) < SPAN.load(Ordering::Relaxed)
        && p.is_multiple_of(16)
}

/// Whether the first word `w` of a block being freed is a list link (the block is already
/// in a list: a double free). A user's data matches only if it equals a heap address (or 0)
/// XOR the per-process secret.
#[inline(always)]
fn looks_listed(w: usize) -> bool {
    let d = w ^ secret();
    may_be_link(w, secret()) && (d == 0 || in_range(d))
}

/// The next block of a list, decoded from the first word of the listed block `p` with the
/// secret `s`. A link always decodes to a 16-aligned address (or 0); anything else means the
/// block was written after it was freed, and the process stops before the list hands out, or
/// the heap takes in, a pointer made of the program's data.
///
/// # Safety
/// `p` is a block of a cache's list (readable heap memory).
#[inline(always)]
unsafe fn next_link(p: usize, s: usize) -> usize {
    // SAFETY: per the contract.
    let next = unsafe { read(p) } ^ s;
    if next & 15 != 0 {
        written_after_free(p);
    }
    next
}

/// Stops the process: the free block `p`'s list link was overwritten.
#[cold]
#[inline(never)]
#[link_section = ".text.oxalloc_cold.oxalloc.tcache.written_after_free"]
fn written_after_free(p: usize) -> ! {
    global::misuse(oxalloc_core::Misuse::WrittenAfterFree(p), "malloc")
}

/// The fast path of `malloc(n)` for `n <= MAX_SMALL`: a block from the calling thread's cache,
/// or null. About ten instructions.
#[inline(always)]
pub fn try_alloc(n: usize) -> *mut u8 {
    debug_assert!(n <= MAX_SMALL);
    pop((n + 23) >> 4)
}

/// `malloc(n)` for `MAX_SMALL < n <= MAX_MEDIUM`: a block of the request's medium class from the
/// calling thread's cache, refilled from the heap when empty. Null (and `ENOMEM`) when memory
/// is exhausted.
pub fn alloc_medium(n: usize) -> *mut u8 {
    debug_assert!(n > MAX_SMALL && n <= MAX_MEDIUM);
    let k = medium_bin(n);
    let p = pop(k);
    if !p.is_null() {
        return p;
    }
    bin_slow(n, k)
}

/// Pops a block off bin `k` of the calling thread's cache, or null.
#[inline(always)]
fn pop(k: usize) -> *mut u8 {
    // (0 in a bulk free phase: the slow path first takes the ring's blocks in.)
    let tc = tls::fast() as *mut TCache;
    if tc.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: tc is this thread's live cache (only this thread touches its bins); k < NBINS.
    unsafe {
        let bin = (*tc).bins.get_unchecked_mut(k);
        let p = bin.head;
        if p == 0 {
            return core::ptr::null_mut();
        }
        // SAFETY: p is a block in this bin; its first word is the encoded link, which is
        // cleared so that a later free does not take the block for a listed one.
        let next = next_link(p, (*tc).secret);
        bin.head = next;
        // The next block of this bin is fetched while the caller uses this one: in a large
        // heap it went cold since it was freed. (A prefetch never faults.)
        prefetch(next);
        // A block a bulk free phase pushed also links, through its second word, the block
        // `SKIP` further down (see [`push_in_phase`]): fetched now, it is there when its turn
        // comes, where the list's order is not the memory's (a structure freed in random
        // order and built again). Elsewhere the word is the program's old data (or an older
        // phase's link), and the prefetch is wasted (a prefetch never faults).
        prefetch(read(p + WORD) ^ (*tc).skip_key);
        write(p, 0);
        bin.count -= 1;
        p as *mut u8
    }
}

/// Asks the CPU to bring the cache line of `addr` in (no effect elsewhere than x86-64).
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and changes no state visible to the program.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// The fast path of `free(p)`: pushes `p` on the calling thread's cache when this cache owns it
/// and its bin has room. Returns false when the slow path must handle `p` (always in a bulk
/// free phase, see [`free_ringed`]).
///
/// # Safety
/// `p` is any pointer value (null and foreign pointers fail the range test before anything is read).
#[inline(always)]
pub unsafe fn try_free(p: usize) -> bool {
    let tc = tls::fast() as *mut TCache;
    if tc.is_null() {
        return false;
    }
    // SAFETY: tc is this thread's cache; forwarded.
    unsafe { try_free_in(tc, p) }
}

/// [`try_free`] with the calling thread's cache `tc`.
///
/// # Safety
/// `tc` is the calling thread's live cache; `p` as for [`try_free`].
#[inline(always)]
unsafe fn try_free_in(tc: *mut TCache, p: usize) -> bool {
    // SAFETY: forwarded.
    unsafe { !push_own(tc, p).is_null() }
}

/// [`try_free_in`], returning the bin `p` went to (null: not pushed).
///
/// # Safety
/// As for [`try_free_in`].
#[inline(always)]
unsafe fn push_own(tc: *mut TCache, p: usize) -> *mut Bin {
    // SAFETY: tc is this thread's cache; p - 8 is read only once p is known to lie in the range
    // of this cache's blocks (so it is heap memory).
    unsafe {
        if !in_own_range(tc, p) {
            return core::ptr::null_mut();
        }
        // The size rounded down to 16 (a block resized by the heap may have 8 more bytes): its
        // class. With the owner field xor-ed with this cache's: another owner's block (or the
        // heap's, owner 0) leaves bits 48.. set, far above any class, so the one comparison
        // also tests the owner.
        let size = (read(p - WORD) ^ (*tc).owner_tag) & (*tc).free_mask;
        if size > 16 * CLASSES {
            return core::ptr::null_mut();
        }
        let bin = small_bin(tc, size);
        let s = (*tc).secret;
        // A first word with the link tag may be a listed block (double free): the slow path
        // looks closer.
        if (*bin).count >= (*bin).limit || may_be_link_in(tc, read(p), s) {
            return core::ptr::null_mut();
        }
        write(p, (*bin).head ^ s);
        (*bin).head = p;
        (*bin).count += 1;
        bin
    }
}

/// Whether `p` is 16-aligned and inside the range of `tc`'s blocks (so `p - 8` is heap
/// memory). The 16-byte units from the range's first 16-aligned address are counted with the
/// offset's low four bits rotated to the top: a misaligned `p` then counts beyond any range, and
/// one comparison tests both.
///
/// # Safety
/// `tc` is a live cache.
#[inline(always)]
unsafe fn in_own_range(tc: *const TCache, p: usize) -> bool {
    // SAFETY: per the contract.
    unsafe { p.wrapping_sub((*tc).lo).rotate_right(4) < (*tc).span.load(Ordering::Relaxed) }
}

/// After a heap operation in which a trim lowered the heap's end (heap locked): the range of
/// every check made without the lock comes down with it — the process-wide one (`LO`, `SPAN`)
/// and every cache's. A second `free` of a pointer into the pages given back then finds it
/// outside the heap (`invalid pointer`) instead of reading its header from unmapped memory, in
/// whichever thread it happens. (Only a `free` already past its range check when the trim ran
/// can still read the given-back page: a double free racing with the trim.)
#[cold]
pub fn note_bounds_locked(heap: &global::ProcessHeap) {
    let (lo, hi) = heap.bounds();
    let (glo, span) = (LO.load(Ordering::Relaxed), SPAN.load(Ordering::Relaxed));
    if lo >= hi {
        return;
    }
    if span != 0 && hi < glo.wrapping_add(span) {
        SPAN.store(hi - glo, Ordering::Relaxed);
    }
    // Every cache, even when the process-wide range was already below `hi`: a refill from the
    // deferred groups sets its cache's range to the heap's bounds and leaves `LO`/`SPAN` as they
    // were, so a cache's range can reach above the process-wide one.
    for tc in caches() {
        // SAFETY: table entries live for the whole process; a cache's `lo` and `span` are
        // written only with the heap's lock held (by this thread now).
        unsafe { lower_range(tc, hi) };
    }
}

/// Lowers the end of `tc`'s range to `hi` if it lies above (heap locked).
///
/// # Safety
/// `tc` is a cache of the table; the heap's lock is held.
unsafe fn lower_range(tc: *mut TCache, hi: usize) {
    // SAFETY: per the contract (`lo` is written only under the lock, like `span`).
    unsafe {
        let units = hi.saturating_sub((*tc).lo) >> 4;
        if (*tc).span.load(Ordering::Relaxed) > units {
            (*tc).span.store(units, Ordering::Relaxed);
        }
    }
}

/// After the heap served the calling thread a block of its own (heap locked): the thread's cache
/// range grows to the heap's bounds if the heap grew past it, so that a bulk free phase takes
/// such blocks too (`free_ringed` takes only pointers in the range; a single-threaded process's
/// medium blocks come from the heap, and the range only moved with small refills before).
pub fn cover_heap_locked(heap: &global::ProcessHeap) {
    let tc = tls::get() as *mut TCache;
    if tc.is_null() || core::ptr::eq(tc, &DISABLED) {
        return;
    }
    let (lo, hi) = heap.bounds();
    // SAFETY: tc is this thread's live cache; its range changes under the heap's lock (held).
    unsafe {
        if lo < hi && ((*tc).lo != (lo + 15) & !15 || !in_own_range(tc, (hi - 16) & !15)) {
            set_own_range(tc, lo, hi);
        }
    }
}

/// Sets `tc`'s range to the heap's `[lo, hi)` (see `in_own_range`): from the first 16-aligned
/// address, whole 16-byte units (a 16-aligned address in the range is in these).
///
/// # Safety
/// `tc` is the calling thread's cache.
unsafe fn set_own_range(tc: *mut TCache, lo: usize, hi: usize) {
    let lo16 = (lo + 15) & !15;
    // SAFETY: per the contract.
    unsafe {
        (*tc).lo = lo16;
        (*tc)
            .span
            .store(hi.saturating_sub(lo16) >> 4, Ordering::Relaxed);
    }
}

/// The bin of blocks of `size` bytes (a multiple of 16 up to `16 * CLASSES`): its address is
/// the cache's plus twice the size, with no instruction to turn the header's size field into a
/// bin index.
///
/// # Safety
/// `tc` is a live cache; `size` as said.
#[inline(always)]
unsafe fn small_bin(tc: *mut TCache, size: usize) -> *mut Bin {
    const _: () =
        assert!(core::mem::size_of::<Bin>() == 32 && core::mem::offset_of!(TCache, bins) == 0);
    debug_assert!(size.is_multiple_of(16) && size <= 16 * CLASSES);
    // SAFETY: bin size / 16 is inside the cache's bins (at offset 0, 32 bytes each).
    unsafe { (tc as *mut u8).add(2 * size) as *mut Bin }
}

/// The calling thread's cache and `p`'s header, when `p` is 16-aligned and inside the range of
/// the cache's blocks (so `p - 8` is heap memory); `None` otherwise.
///
/// # Safety
/// The cache's range is the heap's as of its last refill, its end lowered by any trim since
/// (`note_bounds_locked`): memory in it is mapped, except what a trim racing with the caller
/// gives back after the range test.
#[inline(always)]
unsafe fn cache_and_header(p: usize) -> Option<(*mut TCache, usize)> {
    let tc = tls::fast() as *mut TCache;
    if tc.is_null() {
        return None;
    }
    // SAFETY: tc is this thread's live cache; p - 8 is read only inside its range.
    unsafe {
        if !in_own_range(tc, p) {
            return None;
        }
        Some((tc, read(p - WORD)))
    }
}

/// `realloc`'s fast path: `p` is a block of the calling thread's cache (the same test as
/// `free`'s fast path) and `n` bytes fit it while using at least half of it: `p` itself. `None`
/// for anything else (null `p` included), which [`realloc_fast`] and the heap then judge.
///
/// # Safety
/// `p` is null or was returned by this allocator (anything else is checked before use).
#[inline(always)]
pub unsafe fn realloc_fits(p: usize, n: usize) -> Option<*mut u8> {
    // SAFETY: forwarded; p's first word is read only after its header (p - 8) was.
    unsafe {
        let (tc, h) = cache_and_header(p)?;
        if h >> OWNER_SHIFT != (*tc).owner || may_be_link_in(tc, read(p), (*tc).secret) {
            return None; // another's block, or perhaps a listed (freed) one: look closer
        }
        let usable = (h & (*tc).size_mask) - WORD;
        (n <= usable && n >= usable / 2).then_some(p as *mut u8)
    }
}

/// `realloc` without the heap's lock, when it can: the block already has room for `n` bytes
/// (and uses at least half of it), or a block of some thread's cache grows into a block of this
/// thread's cache (`n <= MAX_SMALL`). `None`: take the heap's path (which also judges misuse,
/// shrinks in place and grows in place).
///
/// # Safety
/// `p` is non-null; `n > 0`.
pub unsafe fn realloc_fast(p: usize, n: usize) -> Option<*mut u8> {
    // SAFETY: forwarded; p's header was read inside the heap's range.
    unsafe {
        let (_, h) = cache_and_header(p)?;
        if h >> OWNER_SHIFT == 0
            || h & INUSE == 0
            || h & FLAGS == MMAPPED
            || !check_ok(p - WORD, h, HEADER_SECRET.load(Ordering::Relaxed))
            || looks_listed(read(p))
        {
            return None;
        }
        let usable = (h & SIZE_MASK) - WORD;
        if n <= usable {
            // Shrinking stays in place: without the lock when the block stays at least half
            // used, else the heap splits off the tail. The checks above (an owner field, in
            // use, valid check bits, not mapped, no list link in its first word) are the ones
            // `free`'s slow path makes before trusting a cache's block; a block the heap freed
            // names no cache (`Heap::free_block` clears the field of a header a merge leaves
            // behind), so a stale pointer fails them. The heap therefore does not validate the
            // block again (CPython shrinks a string's buffer to its length 120k times a run;
            // the validation was half of each shrink's instructions).
            if n < usable / 2 {
                // SAFETY: p is an in-use, cache-owned block of the process heap (not mapped: a
                // huge block carries MMAPPED) with `usable >= n > 0` bytes (checked above).
                global::with_heap(|heap| heap.shrink_owned(p, n));
            }
            return Some(p as *mut u8);
        }
        if n > MAX_SMALL {
            return None;
        }
        // Grow in place when the heap can (a free block or the top after this one): only the
        // heap, under its lock, knows. A next block that is in use (its header carries valid
        // check bits) rules that out, and the block moves into this thread's cache instead.
        let next = p - WORD + (h & SIZE_MASK);
        let nh = read(next);
        if nh & INUSE == 0 || !check_ok(next, nh, HEADER_SECRET.load(Ordering::Relaxed)) {
            return None;
        }
        // A block that grows by a little (an eighth of it at most: a string appended to) moves
        // to a block with an eighth more room, so appends move it every eighth of its size
        // instead of every 16 bytes; a block that doubles gets exactly what it asks for.
        let want = if n - usable <= usable / 8 {
            (n + n / 8).min(MAX_SMALL)
        } else {
            n
        };
        let q = try_alloc(want);
        let q = if q.is_null() { alloc_slow(want) } else { q };
        if q.is_null() {
            return None;
        }
        core::ptr::copy_nonoverlapping(p as *const u8, q, usable.min(n));
        global::free(p as *mut u8, "realloc");
        Some(q)
    }
}

/// `free` in a bulk free phase of the calling thread (its cache's `ring_on`): `p` takes a slot
/// of the ring, its header and first word prefetched, and the block it displaces (freed `RING`
/// frees ago, its lines in the cache by now) is freed, by the fast path when it can.
///
/// A program freeing a large structure reads one cold header per block, and each read held
/// up `free` for a memory latency; read `RING` frees after the prefetch, they overlap. The
/// next `malloc` takes the ring's blocks in (oldest first, so the block freed last is reused
/// first, as before) and ends the phase.
///
/// The phase starts when the thread gave back `RING_AFTER` bytes of blocks (2 MiB: its bins'
/// groups, the last of them from a bin that was not refilled in between, and the heap's own
/// blocks it freed) since it last allocated, in a single-threaded process. A smaller
/// structure's headers are still in the cache when it is freed, and the ring's own
/// instructions would only slow its frees down.
/// The phase takes the thread's fast paths away (`tls::fast` is 0): `free` costs no
/// instruction more outside the phase, and `malloc` none to end it. Returns false when the
/// thread is not in the phase, or `p` is not in the heap's range (null, foreign pointers and
/// huge blocks are freed at once).
///
/// Why single-threaded only: a block waiting in the ring is untouched, so nothing marks it
/// freed. Were it another thread's (or the heap's), that thread could free it a second time
/// unnoticed and reuse it before the ring frees it under its feet. In one thread, no block is
/// reused before the phase ends.
///
/// # Safety
/// As for [`try_free`] (a null `p` takes a slot as an empty one).
#[inline(always)]
pub unsafe fn free_ringed(p: usize, func: &str) -> bool {
    let tc = tls::get() as *mut TCache;
    // SAFETY: tc is this thread's live cache.
    unsafe {
        if tc.is_null() || !(*tc).ring_on || !in_own_range(tc, p) {
            return false;
        }
        ring_push(tc, p, func);
    }
    true
}

/// [`free_ringed`] in the phase (a function of its own: `free`'s slow path is cold, this is not).
///
/// # Safety
/// `tc` is the calling thread's live cache, in a bulk free phase; `p` as for [`free_ringed`].
#[inline(never)]
unsafe fn ring_push(tc: *mut TCache, p: usize, func: &str) {
    // SAFETY: per the contract (the ring is the owner's only; a prefetch never faults).
    unsafe {
        if !os::single_threaded() {
            // A second thread appeared during the phase (its making allocates, which ends the
            // phase, but this does not rely on it): the phase ends here.
            drain_ring(tc);
            global::free(p as *mut u8, func);
            return;
        }
        // The header and the first word (the list link to be, which the free reads too): two
        // lines for the quarter of the blocks whose payload starts a cache line.
        prefetch(p.wrapping_sub(WORD));
        prefetch(p);
        let at = (*tc).ring_at;
        let q = core::mem::replace((*tc).ring.get_unchecked_mut(at), p);
        (*tc).ring_at = (at + 1) % RING;
        if q != 0 {
            push_in_phase(tc, q, func);
        }
    }
}

/// Frees `q`, a block the ring held, and links its skip (see [`pop`]): the block `SKIP`
/// further down its bin's list, which the phase pushed `SKIP` pushes earlier.
///
/// # Safety
/// `tc` is the calling thread's live cache, in a bulk free phase or ending one; `q` non-null.
#[inline(always)]
unsafe fn push_in_phase(tc: *mut TCache, q: usize, func: &str) {
    // SAFETY: per the contract; a bin's index is its offset in the cache over 32.
    unsafe {
        let bin = push_own(tc, q);
        if bin.is_null() {
            global::free_unringed(q as *mut u8, func);
            return;
        }
        let k = (bin as usize - tc as usize) / core::mem::size_of::<Bin>();
        note_skip(k, q, (*bin).count as usize, (*tc).skip_key);
    }
}

/// How far down its list a block pushed in a bulk free phase links (see [`pop`]).
const SKIP: usize = 4;

/// Per bin, the blocks a bulk free phase pushed last, by the bin's count after the push
/// modulo `SKIP`. Phases start only while the process has one thread (and glibc never sets
/// `__libc_single_threaded` again once a thread was made), so at most one thread ever has a
/// phase: one table serves.
struct SkipWindows(core::cell::UnsafeCell<[[usize; SKIP]; NBINS]>);
// SAFETY: touched only by the thread in a bulk free phase or ending one (see above).
unsafe impl Sync for SkipWindows {}
static SKIPS: SkipWindows = SkipWindows(core::cell::UnsafeCell::new([[0; SKIP]; NBINS]));

/// Writes the skip of block `p`, just pushed in a bulk free phase onto bin `k`, making it the
/// bin's `count`-th block: its second word, XOR-ed with `key` (`SKIP_KEY`), is the block pushed
/// `SKIP` pushes earlier. (The first `SKIP` blocks of a list, and those of a list a phase began on,
/// link whatever the table held: a block of an older list, or null. A skip is a hint, only
/// ever prefetched, so checking the count would cost every block instructions for nothing.)
/// Blocks of 16 bytes have no second word.
///
/// # Safety
/// A bulk free phase of the calling thread; `p` is the head of bin `k`'s list.
#[inline(always)]
unsafe fn note_skip(k: usize, p: usize, count: usize, key: usize) {
    if k < 2 {
        return;
    }
    // SAFETY: per the contract (one thread: nothing else touches the table; k < NBINS); p is a
    // free block of at least 32 bytes, whose second word is its own.
    unsafe {
        let slot = (*SKIPS.0.get())
            .get_unchecked_mut(k)
            .get_unchecked_mut(count % SKIP);
        write(p + WORD, *slot ^ key);
        *slot = p;
    }
}

/// Counts `bytes` that `tc`'s thread gave back since it last allocated (a group of a full bin,
/// or a block of the heap's own, see [`heap_freed`]), and starts a bulk free phase once they
/// reach `RING_AFTER` in a single-threaded process, if `bulk` (a bin that gives back without
/// having been refilled, or the heap's block: a program freeing, not swinging).
///
/// # Safety
/// `tc` is the calling thread's live cache.
unsafe fn gave_back(tc: *mut TCache, bytes: usize, bulk: bool) {
    // SAFETY: per the contract.
    unsafe {
        (*tc).quiet_bytes += bytes;
        if bulk
            && (*tc).quiet_bytes >= RING_AFTER
            && !(*tc).ring_on
            && !(*tc).ring_draining
            && os::single_threaded()
        {
            (*tc).ring_on = true;
            TORN_DOWN.store(REBUILD_AFTER + 1, Ordering::Relaxed);
            tls::set_fast(0);
            bump(&(*tc).stats.phases, 1);
        }
    }
}

/// Set to `REBUILD_AFTER + 1` when a bulk free phase starts (a single-threaded process tore
/// down a large structure), and counted down by refills: the refill that brings it to 0 merges
/// every deferred group into the heap first, if the groups are scattered
/// ([`deferred_scattered`]). The structure the program builds next is then carved from
/// contiguous memory instead of taken from lists in the order its old blocks were freed, and a
/// program that walks its objects in the order it made them reads memory in order (CPython's
/// cyclic collector: a dict of 600,000 lists built again after a shuffled teardown, 1.1–1.4 s
/// before, 0.62–0.66 s after, glibc 0.62–0.71). A program that exits after a teardown makes
/// fewer refills than that and merges nothing.
static TORN_DOWN: AtomicU32 = AtomicU32::new(0);
/// See [`TORN_DOWN`].
const REBUILD_AFTER: u32 = 16;
/// Set once a teardown's groups were merged for a rebuild (see [`TORN_DOWN`]): the process
/// tears down large structures in random order, and its later bulk free phases merge their
/// groups early, while their blocks are still in the cache (see `defer_locked`), instead of
/// leaving them all to one refill, whose walk of cold lists cost 80-130 ns a block.
static SCATTERED_TEARDOWN: AtomicBool = AtomicBool::new(false);
/// The least a teardown's groups hold for the merge of [`TORN_DOWN`]: a smaller structure stays
/// in the caches, where its scattered layout costs little, and merging costs about 300
/// instructions a block (30,000 objects, 2.4 MB, freed shuffled and built again: the rebuild
/// 6.8 → 20.8 ns per object with the merge, a walk of them 0.87 → 0.77).
const REBUILD_MERGE_MIN: usize = 16 << 20;
/// Blocks of a list further apart than this are far (see [`deferred_scattered`]).
const NEAR: usize = 64 << 10;

/// After `free` gave the heap `bytes` of a block of its own (a single-threaded process's medium
/// and large blocks): they count towards a bulk free phase of the calling thread, like its
/// bins' groups (a teardown of 4 KiB blocks reads one cold header per block too) — at most
/// 64 KiB a block, so that it takes 32 frees at least, not one large block, to start a phase.
pub fn heap_freed(bytes: usize) {
    let tc = tls::get() as *mut TCache;
    if bytes == 0 || tc.is_null() || core::ptr::eq(tc, &DISABLED) {
        return;
    }
    // SAFETY: tc is this thread's live cache.
    unsafe { gave_back(tc, bytes.min(HEAP_FREE_COUNTS), true) }
}

/// The most bytes one block the heap takes back adds towards a bulk free phase.
const HEAP_FREE_COUNTS: usize = 64 << 10;
// One block alone never starts a phase.
const _: () = assert!(HEAP_FREE_COUNTS < RING_AFTER);

/// Ends the calling thread's bulk free phase: frees the ring's blocks, oldest first.
///
/// # Safety
/// `tc` is the calling thread's live cache; the heap's lock is not held.
unsafe fn drain_ring(tc: *mut TCache) {
    // SAFETY: per the contract; each slot holds a block `free` was given.
    unsafe {
        (*tc).ring_on = false;
        (*tc).ring_draining = true;
        let at = (*tc).ring_at;
        for i in 0..RING {
            let q = core::mem::take(&mut (*tc).ring[(at + i) % RING]);
            if q != 0 {
                push_in_phase(tc, q, "free");
            }
        }
        (*tc).ring_at = 0;
        (*tc).ring_draining = false;
        (*tc).quiet_bytes = 0;
        tls::set_fast(tc as usize);
    }
}

/// Ends the calling thread's bulk free phase, if any (the heap's lock is not held): called by
/// every allocation that does not go through [`bin_slow`], and by whatever may look at a
/// block the ring holds.
pub fn end_free_phase() {
    let tc = tls::get() as *mut TCache;
    // SAFETY: tc is this thread's live cache.
    unsafe {
        if tc.is_null() || core::ptr::eq(tc, &DISABLED) {
            return;
        }
        (*tc).quiet_bytes = 0;
        if (*tc).ring_on {
            drain_ring(tc);
        }
    }
}

/// The slow path of a small allocation: makes the thread's cache, drains remote frees, or
/// refills the bin from the heap. Null (and `ENOMEM`) when memory is exhausted.
#[cold]
#[inline(never)]
pub fn alloc_slow(n: usize) -> *mut u8 {
    bin_slow(n, (n + 23) >> 4)
}

/// The slow path of an allocation of `n` bytes from bin `k`.
#[cold]
#[inline(never)]
fn bin_slow(n: usize, k: usize) -> *mut u8 {
    let mut tc = tls::get() as *mut TCache;
    if tc.is_null() {
        tc = create();
    }
    if core::ptr::eq(tc, &DISABLED) || crate::secure::on() {
        return global::heap_alloc(n, 16);
    }
    // SAFETY: tc is this thread's live cache.
    unsafe {
        (*tc).quiet_bytes = 0;
        if (*tc).ring_on {
            drain_ring(tc);
            let p = pop(k);
            if !p.is_null() {
                return p;
            }
        }
        // The spare list becomes the list (or hands out a block, see `take_spare`).
        let p = take_spare(tc, k);
        if !p.is_null() {
            return p;
        }
        // Blocks of this size that other threads freed: the whole list becomes the (empty) bin.
        if (*tc).bins[k].head == 0 {
            if let Some((head, n)) = take_packed(&(*tc).remote.class[k]) {
                bump(&(*tc).stats.remote_in, n as u64);
                let p = list_as_bin(tc, k, head, n);
                if !p.is_null() {
                    return p;
                }
            }
        }
        if (*tc).remote.head.load(Ordering::Relaxed) != 0 {
            drain_remote(tc);
        }
        // The group this bin gave back last, unless a thread merged it meanwhile.
        if (*tc).bins[k].head == 0 {
            if let Some((head, n)) = stash_take(tc, k) {
                if !(*tc).stash_used.load(Ordering::Relaxed) {
                    (*tc).stash_used.store(true, Ordering::Relaxed);
                }
                (*tc).bins[k].refilled = true;
                bump(&(*tc).stats.refills, 1);
                bump(&(*tc).stats.stash_takes, 1);
                let p = list_as_bin(tc, k, head, n);
                if !p.is_null() {
                    return p;
                }
            }
        }
        if refill(tc, k) {
            let p = pop(k);
            return if p.is_null() { take_spare(tc, k) } else { p };
        }
    }
    os::set_errno(os::ENOMEM);
    core::ptr::null_mut()
}

/// Takes the packed list (head in bits 0..48, length in 48..64: a per-bin remote list or a
/// stash) off `slot` by one swap: `(head, length)`, or `None` when the slot is empty.
#[inline]
fn take_packed(slot: &AtomicUsize) -> Option<(usize, usize)> {
    if slot.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let v = slot.swap(0, Ordering::Acquire);
    (v != 0).then_some((v & LIST_PTR, v >> 48))
}

/// Puts the group `head` (`count` blocks of class `k`, this cache's own, given back by a full
/// bin) into `tc`'s stash for the class, if it takes it (else the caller defers it): into an
/// empty slot when the bin swings (`!filling`), as in any process; in a process with threads,
/// also onto the stack of groups already there (classes from 32 bytes, whose blocks have a
/// second word for the link, and up to `REMOTE_MAX` blocks in all). Threads that allocate and
/// free many blocks of a size in turn then give them back and take them again without the
/// heap's lock, which every such trip took before (see [`TCache::stash`]).
///
/// # Safety
/// `tc` is the calling thread's live cache; the group is a list of `count` unused blocks it
/// owns, of class `k`, in no bin.
unsafe fn stash_put(tc: *mut TCache, k: usize, head: usize, count: usize, filling: bool) -> bool {
    // SAFETY: per the contract; only the owner stores a nonzero stash, others swap it to 0.
    unsafe {
        let slot = &(*tc).stash[k];
        let cur = slot.load(Ordering::Relaxed);
        debug_assert!(count <= REMOTE_MAX);
        if cur == 0 && !filling {
            if k >= 2 {
                write(head + WORD, SKIP_KEY.load(Ordering::Relaxed));
            }
            slot.store(head | count << 48, Ordering::Release);
        } else if k >= 2 && (cur >> 48) + count <= REMOTE_MAX && !os::single_threaded() {
            // (A thread holding the lock may take the stack meanwhile: then it is shorter.)
            let rest = slot.swap(0, Ordering::Acquire);
            write(head + WORD, rest ^ SKIP_KEY.load(Ordering::Relaxed));
            slot.store(head | (count + (rest >> 48)) << 48, Ordering::Release);
        } else {
            return false;
        }
        mark_stashed(k);
        true
    }
}

/// Sets class `k`'s flag and flag 0 of [`STASHED`] (a cache has a stash of class `k`).
#[inline]
fn mark_stashed(k: usize) {
    if !STASHED[k].load(Ordering::Relaxed) {
        STASHED[k].store(true, Ordering::Release);
    }
    // Whatever the class's flag said: a merge racing with a stash can leave the class's flag
    // set and flag 0 clear, and the next stash must mend that.
    if !STASHED[0].load(Ordering::Relaxed) {
        STASHED[0].store(true, Ordering::Release);
    }
}

/// Takes the newest group off `tc`'s stash for class `k` (owner only): `(head, length)`.
///
/// # Safety
/// `tc` is the calling thread's live cache.
unsafe fn stash_take(tc: *mut TCache, k: usize) -> Option<(usize, usize)> {
    // SAFETY: tc is a live cache.
    let slot = unsafe { &(*tc).stash[k] };
    let (head, total) = take_packed(slot)?;
    if k >= 2 {
        // SAFETY: a stashed group's head block is unused and has a second word, which links
        // the groups below it; nobody else stores into the slot.
        let rest = unsafe { stash_link(head, total) };
        if rest != 0 {
            slot.store(rest, Ordering::Release);
            // (A scan that found the slot empty meanwhile may have cleared the flags.)
            mark_stashed(k);
            return Some((head, total - (rest >> 48)));
        }
    }
    Some((head, total))
}

/// The rest of a stash below its group `head` (the stack holding `total` blocks from `head`
/// down): the packed word in `head`'s second word, XOR-ed with the skip links' key, so that a
/// block written after its free is reported, not followed (a link must decode to 0 or to a
/// 16-aligned address and a smaller total). Not with the list secret: the head block is handed
/// out later with the word in it, and a program may copy a block's never-written second word
/// to its start and free the block, which the secret's encoding would make look like a listed
/// block (a double free); the key's low bits are 0, so under the secret the word never does.
///
/// # Safety
/// `head` is a stashed group's head block (class 2 or more), taken off its stash by the caller.
unsafe fn stash_link(head: usize, total: usize) -> usize {
    // SAFETY: per the contract.
    let rest = unsafe { read(head + WORD) } ^ SKIP_KEY.load(Ordering::Relaxed);
    let (lo, span) = (LO.load(Ordering::Relaxed), SPAN.load(Ordering::Relaxed));
    if !link_fits(rest, total, lo, span) {
        written_after_free(head);
    }
    rest
}

/// Whether `rest`, a stash link decoded with the key, fits a stack of `total` blocks that lie
/// in the heap's range (`span` bytes from `lo`): 0 (the bottom group), or a smaller nonzero
/// count and a 16-aligned address in the range. A word the program wrote decodes to about
/// anything: zeros to the key itself, whose count (its top 16 bits, 256 or more) a stack of
/// more blocks would take, and whose address (random bits) the range rejects.
#[inline]
const fn link_fits(rest: usize, total: usize, lo: usize, span: usize) -> bool {
    let (below, at) = (rest >> 48, rest & LIST_PTR);
    rest == 0 || (below != 0 && below < total && at % 16 == 0 && at.wrapping_sub(lo) < span)
}

/// Takes the whole of a stash slot of class `k` by one swap and calls `f(head, length)` for each
/// of its groups, newest first (`f` may free them: each link is read before).
///
/// # Safety
/// `slot` is a cache's stash for class `k`; `f` takes ownership of each group.
unsafe fn take_stash_groups(slot: &AtomicUsize, k: usize, mut f: impl FnMut(usize, usize)) {
    let Some((mut head, mut total)) = take_packed(slot) else {
        return;
    };
    loop {
        let rest = if k >= 2 {
            // SAFETY: as in `stash_take`; the stack is now the caller's alone.
            unsafe { stash_link(head, total) }
        } else {
            0
        };
        f(head, total - (rest >> 48));
        if rest == 0 {
            return;
        }
        (head, total) = (rest & LIST_PTR, rest >> 48);
    }
}

/// Makes the list `head` of `n` blocks the content of `tc`'s empty bin `k` and pops one.
///
/// # Safety
/// `tc` is the calling thread's live cache; bin `k` is empty; the list's blocks are this
/// cache's, unused, of class `k`.
unsafe fn list_as_bin(tc: *mut TCache, k: usize, head: usize, n: usize) -> *mut u8 {
    // SAFETY: per the contract.
    unsafe {
        let bin = &mut (*tc).bins[k];
        debug_assert!(bin.head == 0);
        bin.head = head;
        bin.count = n as u32;
    }
    pop(k)
}

/// Carves a batch of blocks for bin `k` from the heap. Cached blocks go back to the heap before
/// it grows.
unsafe fn refill(tc: *mut TCache, k: usize) -> bool {
    let bs = bin_size(k);
    // SAFETY: tc is this thread's live cache; the heap is locked inside with_heap.
    unsafe {
        // A bin refilled again without giving anything back in between is being drained (a
        // program allocating in bulk): a refill from the deferred groups fills its spare as
        // well, so such a phase costs half the trips under the lock. (Carving stays at one
        // batch: memory carved for the cache is memory the program may never ask for.)
        let draining = (*tc).bins[k].refilled;
        let want = ((*tc).batch[k] as u32).min((*tc).bins[k].limit) as usize;
        if ((*tc).batch[k] as u32) < (*tc).bins[k].limit {
            (*tc).batch[k] *= 2;
        }
        let id = (*tc).id;
        let owner = (*tc).owner;
        let s = secret();
        // Pages the heap grew by in this trip, to be faulted in after the lock is released.
        let mut populate = (0, 0);
        // One trip under the lock: blocks some cache gave back and the heap has not merged yet
        // (a whole group; another cache's goes to the spare, see `take_spare`), else runs carved from the heap
        // (free fragments first, several if one is short) until the batch is full.
        let got = global::with_heap(|h| {
            collect_orphans(h, false);
            // A program building again after a teardown: the teardown's groups merge into the
            // heap, and what it builds is carved from contiguous memory (see `TORN_DOWN`).
            count_down_teardown_locked(h);
            if let Some(g) = take_deferred(h, k, owner) {
                // The range of blocks `free`'s fast path takes for this cache's (set below for
                // carved blocks): a cache that only ever took groups would send every free the
                // slow way.
                let (lo, hi) = h.bounds();
                set_own_range(tc, lo, hi);
                // (A group of another cache's goes to the spare: then there is no second.)
                let spare = if draining && !g.stale_for(owner) {
                    take_deferred(h, k, owner)
                } else {
                    None
                };
                return Err((g, spare));
            }
            let mut got = 0;
            let before = h.heap_bytes();
            let mut r = with_growth_policy(h, |h| {
                let r = h.alloc_batch(bs, want, id);
                (r.0 != 0).then_some(r)
            });
            if r.is_none() && want > 1 {
                r = Some(h.alloc_batch(bs, 1, id)).filter(|r| r.0 != 0);
            }
            while let Some((p, n)) = r {
                // Push the highest first, so the lowest address comes out first.
                let bin = &mut (*tc).bins[k];
                for i in (0..n).rev() {
                    let q = p + i * bs;
                    write(q, bin.head ^ s);
                    bin.head = q;
                }
                bin.count += n as u32;
                got += n;
                if got >= want {
                    break;
                }
                // More from memory the heap already has (no growth for the rest).
                h.set_may_grow(false);
                r = Some(h.alloc_batch(bs, want - got, id)).filter(|r| r.0 != 0);
                h.set_may_grow(true);
            }
            if k <= CLASSES && h.heap_bytes() > before {
                let (top, end, _) = h.top_info();
                populate = (top, end.min(top + POPULATE_MAX).saturating_sub(top));
            }
            let (lo, hi) = h.bounds();
            if lo < hi {
                LO.store(lo, Ordering::Relaxed);
                SPAN.store(hi - lo, Ordering::Relaxed);
                set_own_range(tc, lo, hi);
            }
            Ok(got)
        });
        // The next refills carve those pages, and their header writes would take the page
        // faults under the lock (`bulk`: 7% of the samples, a thread waiting on the lock for
        // 15% of its trips). Taken here, they hold up no one; one call faults in many pages.
        // Only after refills of small bins, whose blocks put a header on every page the next
        // carves take; at most `POPULATE_MAX`, which a large block carved next could still take
        // untouched. Memory grown for a large or medium block is never faulted in here.
        // Populating keeps contents, so a trim that raced with this only makes it fail (or
        // faults in pages mapped there since, unchanged). `populate_write` keeps whole pages.
        os::populate_write(populate.0, populate.1);
        match got {
            Err((g, spare)) => {
                adopt_group(tc, k, g);
                if let Some(g) = spare {
                    let bin = &mut (*tc).bins[k];
                    bin.spare = g.head;
                    bin.spare_count = g.count;
                    bin.spare_mixed = g.stale_for(owner);
                }
            }
            Ok(0) => return false,
            Ok(_) => {}
        }
        (*tc).bins[k].refilled = true;
        bump(&(*tc).stats.refills, 1);
        true
    }
}

/// The slow path of `free(p)` for a block some cache owns (`h` is its header). Returns false
/// when the block is not cache-owned (the caller frees it into the heap).
///
/// # Safety
/// `p` is non-null and not freed by the fast path.
pub unsafe fn free_slow(p: usize, func: &str) -> bool {
    let Some((h, ot)) = owned_block(p) else {
        return false; // not a cache's block (or a damaged header): the heap's checks judge it
    };
    // SAFETY: p is an in-use block owned by cache `ot` (its header says so).
    unsafe {
        if looks_listed(read(p)) {
            global::misuse(oxalloc_core::Misuse::DoubleFree(p), func);
        }
        let tc = tls::get() as *mut TCache;
        if core::ptr::eq(ot, tc) {
            free_own_slow(tc, p, h);
        } else {
            // Another thread's block: onto its remote list for the block's bin, without its lock.
            let s = secret();
            let k = bin_of_block(h & SIZE_MASK);
            // A thread that frees before it ever allocates (a consumer) gets its cache now:
            // without one, each of its frees took a compare-and-swap on the owner's list, which
            // every other consumer of that owner's blocks hit too.
            let tc = if tc.is_null() && k != 0 { create() } else { tc };
            if (*ot).state.load(Ordering::Acquire) == DEAD {
                // That thread has exited: this thread adopts the block (a batch at a time, see
                // `adopt`); a block with no bin, or freed by an exiting thread, goes to the heap.
                if k == 0 || core::ptr::eq(tc, &DISABLED) {
                    global::with_heap(|heap| heap.free_owned(p));
                } else {
                    adopt(tc, p);
                }
                return true;
            }
            if k != 0 && k <= CLASSES && !tc.is_null() && !core::ptr::eq(tc, &DISABLED) {
                buffer_remote(tc, ot, k, p);
                return true;
            }
            let head = if k == 0 {
                &(*ot).remote.head
            } else {
                &(*ot).remote.class[k]
            };
            let mut old = head.load(Ordering::Relaxed);
            loop {
                if k != 0 && old >> 48 == REMOTE_MAX {
                    // The list's packed length cannot count more: this one goes to the heap
                    // (the owner takes the list as a bin of exactly that many blocks).
                    global::with_heap(|heap| heap.free_owned(p));
                    break;
                }
                write(p, (old & LIST_PTR) ^ s);
                let new = if k == 0 {
                    p
                } else {
                    p | ((old >> 48) + 1) << 48
                };
                match head.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(cur) => old = cur,
                }
            }
        }
    }
    true
}

/// Adds `p`, a free block of small class `k` that cache `ot` (another thread's, alive when
/// checked) owns, to the calling thread's batch for `ot` and `k`; a full batch, or the one it
/// displaces, goes onto `ot`'s remote list for the class with one atomic operation (see
/// `flush_batch`). `prodcons`, whose consumer frees every block the producer allocates, spent
/// 40% of the remote free's samples on its compare-and-swap when each block took one. Small
/// classes only (blocks of at most 1 KiB): what a thread that stops freeing keeps out of
/// everyone's reach stays below 4 × 31 KiB. The calling thread pushes its batches before the
/// heap grows for it (see [`with_growth_policy`]), when it exits and on `malloc_trim`.
///
/// # Safety
/// `tc` is the calling thread's live cache; `p` is a block of `ot` the caller frees, checked
/// not to be listed already.
unsafe fn buffer_remote(tc: *mut TCache, ot: *const TCache, k: usize, p: usize) {
    // SAFETY: the batches are the calling thread's alone; p is a freed block (its first word
    // is the caller's to write).
    unsafe {
        let s = secret();
        let i = ((*ot).id.wrapping_mul(5) ^ k) % RBUF;
        let b = &mut (*tc).rbuf[i];
        if b.owner != ot as usize || b.k != k {
            if b.n != 0 {
                flush_batch(tc, i, None);
            }
            let b = &mut (*tc).rbuf[i];
            *b = RemoteBatch {
                owner: ot as usize,
                k,
                n: 0,
                head: 0,
                tail: p,
            };
        }
        let b = &mut (*tc).rbuf[i];
        write(p, b.head ^ s);
        b.head = p;
        b.n += 1;
        if b.n == RBATCH {
            flush_batch(tc, i, None);
        }
    }
}

/// Pushes the calling thread's batch `i` onto its owner's remote list for its class, or, when
/// the owner has exited or the list's packed length cannot count the batch, frees its blocks
/// into the heap (locked by the caller when `heap` is given, else here).
///
/// # Safety
/// `tc` is the calling thread's cache.
unsafe fn flush_batch(tc: *mut TCache, i: usize, heap: Option<&mut global::ProcessHeap>) {
    // SAFETY: the batch is this thread's; its blocks are free blocks of its owner, listed here
    // only; caches live for the whole process.
    unsafe {
        let b = core::mem::replace(&mut (*tc).rbuf[i], RemoteBatch::EMPTY);
        if b.n == 0 {
            return;
        }
        let s = secret();
        let ot = b.owner as *const TCache;
        let list = &(*ot).remote.class[b.k];
        let mut old = list.load(Ordering::Relaxed);
        loop {
            if (*ot).state.load(Ordering::Acquire) == DEAD || (old >> 48) + b.n > REMOTE_MAX {
                // (An exited owner's short lists could wait for an adopter forever.)
                write(b.tail, s);
                match heap {
                    Some(h) => free_list_locked(h, b.head),
                    None => global::with_heap(|h| free_list_locked(h, b.head)),
                }
                return;
            }
            write(b.tail, (old & LIST_PTR) ^ s);
            let new = b.head | ((old >> 48) + b.n) << 48;
            match list.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(cur) => old = cur,
            }
        }
    }
}

/// Pushes all of the calling thread's batches (see `flush_batch`).
///
/// # Safety
/// `tc` is the calling thread's cache.
unsafe fn flush_batches(tc: *mut TCache, mut heap: Option<&mut global::ProcessHeap>) {
    for i in 0..RBUF {
        // SAFETY: per the contract.
        unsafe { flush_batch(tc, i, heap.as_deref_mut()) };
    }
}

/// Blocks an exited thread's cache owned that this thread freed, adopted in batches of this
/// many: one trip under the lock rewrites their owner fields (they were just freed, so their
/// headers are in this core's cache), then they are freed as this cache's own.
const ADOPT_BATCH: u32 = 32;

/// Puts `p`, a block of an exited thread's cache, on `tc`'s adoption list.
///
/// # Safety
/// `tc` is the calling thread's live cache; `p` is an in-use cache-owned block nobody uses.
unsafe fn adopt(tc: *mut TCache, p: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        write(p, (*tc).adopt ^ secret());
        (*tc).adopt = p;
        (*tc).adopt_count += 1;
        if (*tc).adopt_count >= ADOPT_BATCH {
            adopt_all(tc);
        }
    }
}

/// Makes the blocks of `tc`'s adoption list its own (owner fields rewritten under the lock, in
/// one trip: the blocks were just freed, so the walk hits the cache) and frees them as such.
///
/// # Safety
/// `tc` is the calling thread's live cache.
unsafe fn adopt_all(tc: *mut TCache) {
    let s = secret();
    // SAFETY: the list's blocks are unused cache-owned blocks; headers change under the lock.
    unsafe {
        let list = core::mem::take(&mut (*tc).adopt);
        (*tc).adopt_count = 0;
        let owner = (*tc).owner;
        global::with_heap(|_| {
            let mut p = list;
            while p != 0 {
                write(
                    p - WORD,
                    (read(p - WORD) & !OWNER_MASK) | owner << OWNER_SHIFT,
                );
                p = next_link(p, s);
            }
        });
        let mut p = list;
        while p != 0 {
            let next = next_link(p, s);
            free_own_slow(tc, p, read(p - WORD));
            p = next;
        }
    }
}

/// A block of this thread's own cache that the fast path could not take: its bin is full (give
/// the older half back to the heap) or its size has no bin (it goes to the heap).
unsafe fn free_own_slow(tc: *mut TCache, p: usize, h: usize) {
    let k = bin_of_block(h & SIZE_MASK);
    // SAFETY: tc is this thread's cache; p is a block it owns.
    unsafe {
        // (A small block grown in place can reach a medium size: like every medium block, it
        // is cached only once the process has threads.)
        if k == 0 || (k > CLASSES && os::single_threaded()) {
            global::with_heap(|heap| heap.free_owned(p));
            return;
        }
        let s = secret();
        let bin = &mut (*tc).bins[k];
        if bin.count < bin.limit {
            // The fast path only doubted the first word (checked by the caller): push.
            write(p, bin.head ^ s);
            bin.head = p;
            bin.count += 1;
            return;
        }
        // Full: the list becomes the spare; the older spare goes to the stash or back as a
        // deferred group.
        let old = core::mem::replace(&mut bin.spare, bin.head);
        let old_count = core::mem::replace(&mut bin.spare_count, bin.count);
        let old_mixed = core::mem::replace(&mut bin.spare_mixed, false);
        write(p, s); // a list of one
        bin.head = p;
        bin.count = 1;
        // In a bulk free phase (or ending one): `p` starts a list, and the groups go back
        // as a teardown's.
        let phase = (*tc).ring_on || (*tc).ring_draining;
        if phase {
            note_skip(k, p, 1, (*tc).skip_key);
        }
        if old != 0 {
            bump(&(*tc).stats.flushes, 1);
            // A bin that gives back again without a refill in between is being filled (a
            // program freeing in bulk): the list that just filled goes back too, so such a
            // phase costs half the trips under the lock.
            let filling = !(*tc).bins[k].refilled;
            let gone = old_count
                + if filling {
                    (*tc).bins[k].spare_count
                } else {
                    0
                };
            gave_back(tc, gone as usize * bin_size(k), filling);
            // A bin that swings between full and empty gives a group back and soon takes one:
            // its own, from the stash, without the lock (`mixed`: two trips under the lock per
            // swing before). In a single-threaded process a bin being filled gives back for
            // good: the deferred ring. With threads, the stash stacks them too (see
            // `stash_put`), and the spare stays.
            let stashed = !old_mixed && stash_put(tc, k, old, old_count as usize, filling);
            adapt_limit(tc, k, stashed);
            if stashed {
                return;
            }
            let owner = (*tc).owner;
            let bin = &mut (*tc).bins[k];
            let (more, more_count, more_mixed) = if filling {
                (
                    core::mem::take(&mut bin.spare),
                    core::mem::take(&mut bin.spare_count),
                    core::mem::take(&mut bin.spare_mixed),
                )
            } else {
                (0, 0, false)
            };
            global::with_heap(|heap| {
                defer_locked(heap, k, old, old_count as usize, owner, old_mixed, phase);
                if more != 0 {
                    defer_locked(heap, k, more, more_count as usize, owner, more_mixed, phase);
                }
            });
        }
    }
}

/// Adapts bin `k`'s limit when it gives a group back. A bin that was also refilled since its
/// last group went back swings between empty and full (a program that frees and allocates
/// this size in turn), and each swing costs a trip under the heap's lock: when it swings often
/// (fewer than `SWING_WINDOW` groups given back by the whole cache since its last one), its
/// limit doubles, up to `max_limit(k)` and within the cache's `EXTRA_BUDGET` and everyone's
/// sixteenth of the heap. A bin that only gave back (a program freeing in bulk) halves its limit
/// towards the base, so a cache does not keep more than it needs — unless the group went onto
/// the cache's own stash (`stashed`: with threads), which the next refills take back: a bin
/// that swings at the scale of whole structures keeps its limit. With threads, then, limits
/// mostly grow; what they add is bounded by `EXTRA_BUDGET` per cache and a sixteenth of the
/// heap's span for all (the blocks a bin holds above its base count there, and go back with
/// the cache).
///
/// # Safety
/// `tc` is the calling thread's live cache.
unsafe fn adapt_limit(tc: *mut TCache, k: usize, stashed: bool) {
    // SAFETY: the bins and the counters are this thread's alone.
    unsafe {
        let since = (*tc).gave.wrapping_sub((*tc).gave_at[k]);
        (*tc).gave = (*tc).gave.wrapping_add(1);
        (*tc).gave_at[k] = (*tc).gave;
        let bin = &mut (*tc).bins[k];
        let bs = bin_size(k);
        let base = batch_and_limit(k).1;
        let limit = bin.limit;
        let new = if !core::mem::take(&mut bin.refilled) {
            if stashed {
                // Filled, but into the cache's own stash, which a refill takes back without
                // the lock (or another thread's refill takes, or a merge): a thread that
                // allocates and frees many blocks of a size in turn swings at the scale of
                // whole structures, and halving its limit at each phase undid the doubling of
                // the phase's first give-back. Halving only the bins that did not draw on the
                // stash since cost the `relay` workload 16% more refills and 5% of its time.
                // So with threads a limit grows and stays (until the stack is full: up to
                // `REMOTE_MAX` blocks), within the budgets, which bound what limits add.
                limit
            } else {
                (limit / 2).max(base)
            }
        } else if since < SWING_WINDOW {
            let want = (limit * 2).min(max_limit(k));
            let room = EXTRA_BUDGET.saturating_sub((*tc).extra).min(
                (SPAN.load(Ordering::Relaxed) / 16)
                    .saturating_sub(EXTRA_TOTAL.load(Ordering::Relaxed)),
            );
            want.min(limit + (room / (2 * bs)) as u32)
        } else {
            limit
        };
        if new > limit {
            let more = (new - limit) as usize * 2 * bs;
            (*tc).extra += more;
            EXTRA_TOTAL.fetch_add(more, Ordering::Relaxed);
        } else if new < limit {
            let less = (limit - new) as usize * 2 * bs;
            (*tc).extra -= less;
            EXTRA_TOTAL.fetch_sub(less, Ordering::Relaxed);
        }
        bin.limit = new;
    }
}

/// Gives the blocks other threads freed for this cache that have no bin (grown past every
/// class: the per-bin remote lists take all others) back to the heap.
unsafe fn drain_remote(tc: *mut TCache) {
    // SAFETY: tc is this thread's cache; remote blocks are owned by it and unused.
    unsafe {
        let list = (*tc).remote.head.swap(0, Ordering::Acquire);
        global::with_heap(|heap| free_list_locked(heap, list));
    }
}

/// Gives every block of `tc` (bins and remote list) back to the locked heap.
unsafe fn flush_all_locked(tc: *mut TCache, heap: &mut global::ProcessHeap) {
    // SAFETY: tc's bins belong to the calling thread (or to a dead thread); the heap is locked.
    unsafe {
        // Every list at once, so that they are walked in step (see `free_lists_locked`).
        let mut lists = [0usize; 2 * NBINS + NBINS + 2 + NBINS];
        let mut n = 0;
        for k in 1..NBINS {
            let bin = &mut (*tc).bins[k];
            lists[n] = core::mem::take(&mut bin.head);
            lists[n + 1] = core::mem::take(&mut bin.spare);
            n += 2;
            bin.count = 0;
            bin.spare_count = 0;
            bin.spare_mixed = false;
            bin.limit = batch_and_limit(k).1;
            bin.refilled = false;
        }
        EXTRA_TOTAL.fetch_sub(core::mem::take(&mut (*tc).extra), Ordering::Relaxed);
        (*tc).remote.take_all(|l| {
            lists[n] = l;
            n += 1;
        });
        lists[n] = core::mem::take(&mut (*tc).adopt);
        n += 1;
        (*tc).adopt_count = 0;
        free_lists_locked(heap, &lists[..n]);
        let mut lanes = Lanes::new();
        for (k, st) in (*tc).stash.iter().enumerate() {
            take_stash_groups(st, k, |head, _| lanes.push(heap, head));
        }
        lanes.flush(heap);
    }
}

/// Gives back the blocks of an exiting thread's cache (heap locked): each bin's list and spare,
/// and each per-bin remote list, as a deferred group of the cache's own — O(1) each, no block
/// touched — the rest merged into the heap. A thread that adopts the cache next takes the
/// groups back as its own (no owner fields rewritten), as a new thread of a program that
/// churns threads soon does; otherwise they go back to the heap as every deferred group does
/// (before it grows, when idle, on `malloc_trim`). Merging them all at exit cost `larson`
/// (200 thread exits) a tenth of its time, and the next thread carved its bins afresh.
///
/// # Safety
/// `tc` is the calling (exiting) thread's cache; the heap is locked.
unsafe fn retire_locked(tc: *mut TCache, heap: &mut global::ProcessHeap) {
    // SAFETY: tc's bins and lists belong to the calling thread; the heap is locked.
    unsafe {
        flush_batches(tc, Some(heap));
        let owner = (*tc).owner;
        for k in 1..NBINS {
            let bin = &mut (*tc).bins[k];
            let (head, count) = (
                core::mem::take(&mut bin.head),
                core::mem::take(&mut bin.count),
            );
            let (spare, spare_count) = (
                core::mem::take(&mut bin.spare),
                core::mem::take(&mut bin.spare_count),
            );
            let spare_mixed = core::mem::take(&mut bin.spare_mixed);
            bin.limit = batch_and_limit(k).1;
            bin.refilled = false;
            let v = (*tc).remote.class[k].swap(0, Ordering::Acquire);
            // (The stash first: it was given back before the spare and the list, and a thread
            // that adopts the cache takes the newest group first — within the stash, its oldest.)
            take_stash_groups(&(*tc).stash[k], k, |l, n| {
                defer_locked(heap, k, l, n, owner, false, false)
            });
            for (l, n, m) in [
                (head, count as usize, false),
                (spare, spare_count as usize, spare_mixed),
                (v & LIST_PTR, v >> 48, false),
            ] {
                if l != 0 {
                    defer_locked(heap, k, l, n, owner, m, false);
                }
            }
        }
        EXTRA_TOTAL.fetch_sub(core::mem::take(&mut (*tc).extra), Ordering::Relaxed);
        let lists = [
            (*tc).remote.head.swap(0, Ordering::Acquire),
            core::mem::take(&mut (*tc).adopt),
        ];
        (*tc).adopt_count = 0;
        free_lists_locked(heap, &lists);
    }
}

/// Frees every block of the list starting at `p` (links encoded with the secret) into the
/// locked heap.
///
/// # Safety
/// The list's blocks are owned by a cache and used by nobody; the heap is locked.
unsafe fn free_list_locked(heap: &mut global::ProcessHeap, p: usize) {
    // SAFETY: forwarded.
    unsafe { free_lists_locked(heap, &[p]) }
}

/// Blocks freed into the heap at once, in address order (at least the largest bin limit, also
/// after adaptation).
const FLUSH_CHUNK: usize = 128;

/// Lists walked in step by [`free_lists_locked`].
const LANES: usize = 8;

/// Frees every block of the lists `lists` (0 for an empty one; links encoded with the secret)
/// into the locked heap, `FLUSH_CHUNK` blocks at a time sorted by address (runs of neighbours
/// join before they merge, see `Heap::free_owned_sorted`). A list is a chain of dependent
/// loads, each a cache miss when its blocks went cold: up to `LANES` lists are walked in step,
/// one block of each per round, so that their misses overlap.
///
/// # Safety
/// The lists' blocks are owned by caches and used by nobody; the heap is locked.
unsafe fn free_lists_locked(heap: &mut global::ProcessHeap, lists: &[usize]) {
    let s = secret();
    let mut rest = lists.iter().copied().filter(|&l| l != 0);
    let mut lanes = [0usize; LANES];
    let mut live = 0;
    for l in lanes.iter_mut() {
        if let Some(h) = rest.next() {
            *l = h;
            live += 1;
        }
    }
    let mut buf = [0usize; FLUSH_CHUNK];
    while live > 0 {
        let mut n = 0;
        // A round adds at most `live` blocks (an emptied lane takes the next list at once).
        while live > 0 && n + live <= FLUSH_CHUNK {
            for l in lanes.iter_mut() {
                if *l == 0 {
                    continue;
                }
                buf[n] = *l;
                n += 1;
                // SAFETY: a listed block (caller); its first word is the encoded link, read
                // before the block is freed below.
                *l = unsafe { next_link(*l, s) };
                if *l == 0 {
                    match rest.next() {
                        Some(h) => *l = h,
                        None => live -= 1,
                    }
                }
            }
        }
        buf[..n].sort_unstable();
        // SAFETY: the blocks were taken off their lists above; they are unused cache-owned
        // blocks of this heap, strictly increasing (no block is on two lists).
        unsafe { heap.free_owned_sorted(&buf[..n]) };
    }
}

/// A list of blocks of one class that a cache gave back (links encoded as in a bin).
#[derive(Clone, Copy)]
struct Group {
    head: usize,
    count: u32,
    /// The cache that gave the group back (its id), and `MIXED` if some blocks may name
    /// another cache (the rest name this one).
    owner: u32,
}

impl Group {
    /// Flag of `owner`: some blocks' owner fields may name another cache than `id()`.
    const MIXED: u32 = 1 << 16;

    /// The cache that gave the group back.
    fn id(&self) -> usize {
        (self.owner & !Self::MIXED) as usize
    }

    /// Whether some blocks may not name the cache `owner` (taken by it, they are stale).
    fn stale_for(&self, owner: usize) -> bool {
        self.owner != owner as u32
    }
}

/// Groups kept per class before the oldest are merged into the heap.
const GROUPS: usize = 256;
/// The slots a class's ring first wraps within (see `Deferred::cap`).
const MIN_CAP: usize = 8;
/// Consecutive slots of one class in the deferred table (see `Deferred::groups`).
const ROW: usize = 8;
const _: () = assert!(GROUPS.is_power_of_two() && MIN_CAP.is_power_of_two() && MIN_CAP <= GROUPS);
const _: () = assert!(GROUPS.is_multiple_of(ROW));

/// In a single-threaded process whose partial merges join most blocks with free neighbours
/// (`joins >= EARLY_JOINS`), a class's ring that holds this many groups merges its
/// `EARLY_BATCH` oldest as a new one comes (a longer ring is not cut back; overflow stacks are
/// left alone). The average
/// is the whole process's, and only partial merges move it (the early merges would pull it
/// down: their groups' neighbours are often still deferred); a program whose frees become
/// scattered after it switched on keeps merging early until partial merges say otherwise.
const EARLY_GROUPS: usize = 16;
/// See [`EARLY_GROUPS`].
const EARLY_JOINS: u32 = 400;
/// Groups an early merge takes at once. Their lists are walked in step, one lane each (see
/// `free_lists_locked`): merged one at a time, a group's walk was a chain of cache misses that
/// nothing overlapped (CPython: 7% of the samples in `free_lists_locked`, 84% of them on the
/// load of the next link). Eight at once: the merging functions' samples 718 -> 485 of about
/// 4,800; the ring then holds 8 to 16 groups instead of 16.
const EARLY_BATCH: usize = 8;
const _: () = assert!(EARLY_BATCH <= EARLY_GROUPS && EARLY_BATCH <= LANES);

/// Blocks that caches gave back, by class, not merged into the heap yet: a full bin's spare list
/// goes here as one group (no merging, no list walk under the lock), and the next refill of that
/// class anywhere takes a whole group. Like the bins, these blocks are "in use" for the heap.
/// They are merged into the heap before it grows (see [`with_growth_policy`]), by `malloc_trim`,
/// and once no refill wanted them for about five seconds (see [`purge_deferred_locked`]). When
/// a class's ring is full, its oldest group moves to the overflow stack of the cache that gave
/// it (16-byte blocks, which have no room for the stack's links, are merged instead), so a
/// refill finds its own cache's groups without a search and without rewriting owner fields.
///
/// Invariants (heap lock held for every access): `len[k] <= cap(k) <= GROUPS`, `cap(k)` a power
/// of two; class `k`'s groups are a ring, oldest first: `group(k, (first[k] + i) % cap(k))`
/// for `i < len[k]` (`first[k] < cap(k)`, and 0 when `len[k]` is), then the stacks
/// from each cache's `over[k]` (`over_groups[k]` groups in all), each group a list of blocks of
/// class `k` whose owner fields name the cache it came from (a group marked `MIXED` may also
/// hold blocks naming another); `blocks` and `bytes` are the
/// totals over rings and stacks.
struct Deferred {
    /// In rows of `ROW` slots of every class (`groups[slot / ROW][class * ROW + slot % ROW]`,
    /// see [`Deferred::group`]), and a ring starts again at slot 0 whenever it empties: a
    /// program whose rings stay short touches the first row only (14 KiB of this 450 KiB
    /// table), and a longer ring one page per `ROW` slots (one row for every slot, it took a
    /// page of its own for every 2 slots: `steady-1e4`, 92 KiB of the library's zeroed data
    /// resident).
    groups: [[Group; NBINS * ROW]; GROUPS / ROW],
    first: [usize; NBINS],
    len: [usize; NBINS],
    /// The slots class `k`'s ring wraps within, `MIN_CAP << shift[k]` (zero-initialised, so
    /// that this table stays in `.bss`): doubled (the ring laid out again from slot 0) when it
    /// is full, up to `GROUPS`; back to `MIN_CAP` when it empties. A ring whose oldest groups
    /// are merged while new ones come (early and partial merges) moves through its slots:
    /// wrapping within all `GROUPS` of them, with one row per slot, it touched a page of the
    /// table for every 2 slots (`parser`: 104 KiB of the library's zeroed data resident, now 64).
    shift: [u8; NBINS],
    /// Per class (from 32-byte blocks up): how many groups the caches' overflow stacks hold
    /// (see `TCache::over`; a head block's second word links the next group's head, its third
    /// holds the count and owner), so a class can defer any number of blocks without merging.
    over_groups: [usize; NBINS],
    blocks: usize,
    bytes: usize,
    /// Whether a refill took a group since the last purge tick.
    used: bool,
    /// Purge ticks since a refill last took a group.
    idle_ticks: u32,
    /// The class before the one the next partial merge starts with.
    cursor: usize,
    /// Groups refills took that their own cache had given back, and that another cache had
    /// (whose blocks are made the taker's one at a time, see `take_spare`).
    own_takes: u64,
    foreign_takes: u64,
    /// How often merging deferred groups joins their blocks with free neighbours: a moving
    /// average, in thousandths, of the blocks a partial merge absorbed (the heap's count of
    /// free blocks grew by fewer than it merged: blocks joined with free neighbours, with each
    /// other, or with the top chunk). See [`EARLY_GROUPS`].
    joins: u32,
}

struct DeferredCell(core::cell::UnsafeCell<Deferred>);
// SAFETY: only touched with the heap lock held (every function below takes the locked heap).
unsafe impl Sync for DeferredCell {}
static DEFERRED: DeferredCell = DeferredCell(core::cell::UnsafeCell::new(Deferred {
    groups: [[Group {
        head: 0,
        count: 0,
        owner: 0,
    }; NBINS * ROW]; GROUPS / ROW],
    first: [0; NBINS],
    len: [0; NBINS],
    shift: [0; NBINS],
    over_groups: [0; NBINS],
    blocks: 0,
    bytes: 0,
    used: false,
    idle_ticks: 0,
    cursor: 0,
    own_takes: 0,
    foreign_takes: 0,
    joins: 0,
}));
/// Deferred blocks, readable without the lock (statistics, the purge check's fast test).
#[used]
static DEFERRED_BLOCKS: os::CachePadded<AtomicUsize> = os::CachePadded::new(AtomicUsize::new(0));

/// The deferred groups; the heap lock (proved by `_heap`) makes this the only reference.
#[allow(clippy::mut_from_ref)]
fn deferred(_heap: &mut global::ProcessHeap) -> &mut Deferred {
    // SAFETY: the heap lock is held by the caller (it holds the locked heap).
    unsafe { &mut *DEFERRED.0.get() }
}

/// Keeps the list `head` of `count` blocks of class `k` as a group; when the class already has
/// `GROUPS` groups, its oldest is merged into the heap first.
///
/// # Safety
/// The heap is locked; the list's blocks are owned by a cache, unused, of class `k`.
unsafe fn defer_locked(
    heap: &mut global::ProcessHeap,
    k: usize,
    head: usize,
    count: usize,
    owner: usize,
    mixed: bool,
    bulk: bool,
) {
    let d = deferred(heap);
    // (In a bulk free phase of a process whose teardowns were scattered, see
    // `SCATTERED_TEARDOWN`, whatever the average says.)
    let early = d.joins >= EARLY_JOINS || (bulk && SCATTERED_TEARDOWN.load(Ordering::Relaxed));
    if d.len[k] >= EARLY_GROUPS && early && os::single_threaded() {
        // The oldest few at once: their lists are walked in step (see `free_lists_locked`).
        let mut heads = [0usize; EARLY_BATCH];
        for h in heads.iter_mut() {
            *h = d.pop_oldest(k).head;
        }
        // SAFETY: deferred groups are lists of unused cache-owned blocks.
        unsafe { free_lists_locked(heap, &heads) };
    }
    let d = deferred(heap);
    if d.len[k] == GROUPS {
        let old = d.pop_oldest(k);
        if k >= 2 {
            // SAFETY: the group's head block is unused and has three payload words (>= 32 B).
            unsafe { d.push_over(k, old) };
        } else {
            // SAFETY: a deferred group is a list of unused cache-owned blocks.
            unsafe { free_list_locked(heap, old.head) };
        }
    }
    deferred(heap).push(
        k,
        Group {
            head,
            count: count as u32,
            owner: owner as u32 | if mixed { Group::MIXED } else { 0 },
        },
    );
}

/// Counts a group of cache `owner` into (`add`) or out of class `k`'s deferred ring (heap
/// locked; see `TCache::in_ring`).
fn note_in_ring(k: usize, owner: usize, add: bool) {
    let tc = TABLE.get(owner).map_or(core::ptr::null_mut(), |e| {
        e.load(Ordering::Acquire) as *mut TCache
    });
    if tc.is_null() {
        return;
    }
    // SAFETY: caches live for the whole process; `in_ring` is the heap lock's (held).
    let c = unsafe { &(*tc).in_ring[k] };
    let v = c.load(Ordering::Relaxed);
    debug_assert!(add || v > 0);
    c.store(
        if add { v + 1 } else { v.wrapping_sub(1) },
        Ordering::Relaxed,
    );
}

impl Deferred {
    /// Slot `slot` of class `k`.
    #[inline]
    fn group(&self, k: usize, slot: usize) -> &Group {
        &self.groups[slot / ROW][k * ROW + slot % ROW]
    }

    /// Slot `slot` of class `k`, to write.
    #[inline]
    fn group_mut(&mut self, k: usize, slot: usize) -> &mut Group {
        &mut self.groups[slot / ROW][k * ROW + slot % ROW]
    }

    /// The slots class `k`'s ring wraps within.
    #[inline]
    fn cap(&self, k: usize) -> usize {
        MIN_CAP << self.shift[k]
    }

    /// The slot of class `k`'s `j`-th group (0: the oldest).
    #[inline]
    fn slot(&self, k: usize, j: usize) -> usize {
        (self.first[k] + j) & (self.cap(k) - 1)
    }

    /// Puts `g` at the newest end of class `k`'s ring (not full).
    fn push(&mut self, k: usize, g: Group) {
        debug_assert!(self.len[k] < GROUPS);
        if self.len[k] == self.cap(k) {
            self.grow(k);
        }
        let slot = self.slot(k, self.len[k]);
        *self.group_mut(k, slot) = g;
        note_in_ring(k, g.id(), true);
        self.len[k] += 1;
        self.blocks += g.count as usize;
        self.bytes += g.count as usize * bin_size(k);
        DEFERRED_BLOCKS.store(self.blocks, Ordering::Relaxed);
    }

    /// Doubles class `k`'s ring (full, below `GROUPS`), its groups laid out from slot 0.
    fn grow(&mut self, k: usize) {
        debug_assert!(self.len[k] == self.cap(k) && self.cap(k) < GROUPS);
        let first = self.first[k];
        // Rotate slots 0..cap left by `first`: three reversals, in place.
        let cap = self.cap(k);
        let mut rev = |mut a: usize, mut b: usize| {
            while a + 1 < b {
                b -= 1;
                let t = *self.group(k, a);
                *self.group_mut(k, a) = *self.group(k, b);
                *self.group_mut(k, b) = t;
                a += 1;
            }
        };
        rev(0, first);
        rev(first, cap);
        rev(0, cap);
        self.first[k] = 0;
        self.shift[k] += 1;
    }

    /// Pushes a group taken off class `k`'s ring onto its cache's overflow stack (counts
    /// unchanged).
    ///
    /// # Safety
    /// `k >= 2`; the group's blocks are unused blocks owned by the (live or dead) cache it names.
    unsafe fn push_over(&mut self, k: usize, g: Group) {
        debug_assert!(k >= 2);
        let tc = TABLE[g.id()].load(Ordering::Acquire) as *const TCache;
        // SAFETY: blocks of class 2 and up have at least 24 payload bytes; the group's owner is
        // a cache that lives for the whole process; its `over` is the heap lock's (held).
        unsafe {
            let top = &(*tc).over[k];
            write(g.head + WORD, top.load(Ordering::Relaxed));
            write(
                g.head + 2 * WORD,
                g.count as usize | (g.owner as usize) << 32,
            );
            top.store(g.head, Ordering::Relaxed);
        }
        self.over_groups[k] += 1;
        self.blocks += g.count as usize;
        self.bytes += g.count as usize * bin_size(k);
    }

    /// Pops the newest group of class `k` from cache `tc`'s overflow stack, if any.
    ///
    /// # Safety
    /// `tc` is a cache of the table.
    unsafe fn pop_over_of(&mut self, k: usize, tc: *const TCache) -> Option<Group> {
        // SAFETY: caches live for the whole process; `over` is the heap lock's (held).
        let top = unsafe { &(*tc).over[k] };
        let head = top.load(Ordering::Relaxed);
        if head == 0 {
            return None;
        }
        // SAFETY: written by push_over into the group's head block, unused since.
        let (next, meta) = unsafe { (read(head + WORD), read(head + 2 * WORD)) };
        top.store(next, Ordering::Relaxed);
        let g = Group {
            head,
            count: meta as u32,
            owner: (meta >> 32) as u32,
        };
        self.over_groups[k] -= 1;
        self.blocks -= g.count as usize;
        self.bytes -= g.count as usize * bin_size(k);
        DEFERRED_BLOCKS.store(self.blocks, Ordering::Relaxed);
        Some(g)
    }

    /// Pops a group of class `k` from the first cache's overflow stack that has one.
    fn pop_over(&mut self, k: usize) -> Option<Group> {
        if self.over_groups[k] == 0 {
            return None;
        }
        // SAFETY: table entries.
        caches().find_map(|t| unsafe { self.pop_over_of(k, t) })
    }

    /// Takes class `k`'s `i`-th group (0: the oldest) off its ring; the newer ones move down.
    fn remove(&mut self, k: usize, i: usize) -> Group {
        debug_assert!(i < self.len[k]);
        let g = *self.group(k, self.slot(k, i));
        note_in_ring(k, g.id(), false);
        for j in i..self.len[k] - 1 {
            *self.group_mut(k, self.slot(k, j)) = *self.group(k, self.slot(k, j + 1));
        }
        self.len[k] -= 1;
        if self.len[k] == 0 {
            self.first[k] = 0;
            self.shift[k] = 0;
        }
        self.blocks -= g.count as usize;
        self.bytes -= g.count as usize * bin_size(k);
        DEFERRED_BLOCKS.store(self.blocks, Ordering::Relaxed);
        g
    }

    /// Takes class `k`'s oldest group off its ring.
    fn pop_oldest(&mut self, k: usize) -> Group {
        debug_assert!(self.len[k] > 0);
        let g = *self.group(k, self.first[k]);
        note_in_ring(k, g.id(), false);
        self.first[k] = self.slot(k, 1);
        self.len[k] -= 1;
        if self.len[k] == 0 {
            self.first[k] = 0;
            self.shift[k] = 0;
        }
        self.blocks -= g.count as usize;
        self.bytes -= g.count as usize * bin_size(k);
        DEFERRED_BLOCKS.store(self.blocks, Ordering::Relaxed);
        g
    }
}

/// A deferred group of class `k`, taken off (heap locked): the newest that cache `owner` gave
/// back (in the ring, else on its overflow stack), else the ring's newest, else one from another
/// cache's stack, else another cache's stash. A cache's own groups come first, wherever they
/// are: another cache's blocks are handed out one at a time from the spare, each made this
/// cache's on the way (see [`take_spare`]), and were given back by a thread that may still have
/// them in its caches.
fn take_deferred(heap: &mut global::ProcessHeap, k: usize, owner: usize) -> Option<Group> {
    let d = deferred(heap);
    let n = d.len[k];
    let own_tc = match TABLE.get(owner) {
        Some(e) => e.load(Ordering::Acquire) as *const TCache,
        None => core::ptr::null(),
    };
    // SAFETY: a cache of the table; `in_ring` is the heap lock's (held).
    let any_own = !own_tc.is_null() && unsafe { (*own_tc).in_ring[k].load(Ordering::Relaxed) } > 0;
    let in_ring = if any_own {
        (0..n)
            .rev()
            .find(|&j| d.group(k, d.slot(k, j)).id() == owner)
    } else {
        debug_assert!(!(0..n).any(|j| d.group(k, d.slot(k, j)).id() == owner));
        None
    };
    let g = if let Some(i) = in_ring {
        d.remove(k, i)
    } else if let Some(g) = (!own_tc.is_null() && d.over_groups[k] > 0)
        // SAFETY: a cache of the table.
        .then(|| unsafe { d.pop_over_of(k, own_tc) })
        .flatten()
    {
        g
    } else if n > 0 {
        d.remove(k, n - 1)
    } else if let Some(g) = d.pop_over(k) {
        g
    } else {
        // Last, another cache's stash: blocks it gave back, rather than memory carved anew.
        let g = steal_stash_locked(heap, k, owner)?;
        let d = deferred(heap);
        d.used = true;
        d.foreign_takes += 1;
        return Some(g);
    };
    d.used = true;
    if g.id() == owner {
        d.own_takes += 1;
    } else {
        d.foreign_takes += 1;
    }
    Some(g)
}

/// Takes a block for bin `k` off its spare list, the calling thread's bin `k` being empty: a
/// spare whose blocks all name this cache becomes the list; a mixed one (a group another cache
/// gave back) hands out one block, made this cache's now. Null when there is no spare.
///
/// Rewriting a whole group's owner fields when it is taken walked its list block after block,
/// a cache miss each that nothing overlapped (`rounds`: 9% of the samples; 22k of its 43k
/// groups taken were another cache's). One at a time, the next block is fetched while the
/// program uses this one, as `pop` does, and blocks never handed out are never rewritten. Only
/// the slow path knows about it: `pop` and `free`'s fast path are unchanged.
///
/// Nobody else uses these blocks, but the heap may write the flag bits of their headers under
/// its lock when a neighbour is freed or carved (a plain read and write of the word). The owner
/// field is therefore changed by one atomic `xor`: a racing flag write can only undo the owner
/// change, never the reverse, and a block left naming the other cache is freed as that cache's
/// block (onto its remote list, or adopted if it has exited) — slower, still correct.
///
/// # Safety
/// `tc` is the calling thread's live cache; its bin `k` is empty.
unsafe fn take_spare(tc: *mut TCache, k: usize) -> *mut u8 {
    // SAFETY: the bins are this thread's; spare blocks are unused blocks of this cache's.
    unsafe {
        let bin = &mut (*tc).bins[k];
        debug_assert!(bin.head == 0);
        if bin.spare == 0 {
            return core::ptr::null_mut();
        }
        if !bin.spare_mixed {
            bin.head = core::mem::take(&mut bin.spare);
            bin.count = core::mem::take(&mut bin.spare_count);
            return pop(k);
        }
        let p = bin.spare;
        let next = next_link(p, (*tc).secret);
        bin.spare = next;
        bin.spare_count -= 1;
        bin.spare_mixed = next != 0;
        prefetch(next);
        write(p, 0);
        let flip = (read(p - WORD) ^ (*tc).owner << OWNER_SHIFT) & OWNER_MASK;
        if flip != 0 {
            AtomicUsize::from_ptr((p - WORD) as *mut usize).fetch_xor(flip, Ordering::Relaxed);
        }
        p as *mut u8
    }
}

/// Makes a deferred group taken for this cache the content of `tc`'s empty bin `k`: its list
/// when every block names this cache, else its spare, mixed (see [`take_spare`]).
///
/// # Safety
/// `tc` is the calling thread's cache; bin `k` and its spare are empty; the group was taken off the deferred
/// lists by this thread.
unsafe fn adopt_group(tc: *mut TCache, k: usize, g: Group) {
    // SAFETY: the bins are this thread's alone.
    unsafe {
        let bin = &mut (*tc).bins[k];
        debug_assert!(bin.head == 0 && bin.spare == 0);
        if g.stale_for((*tc).owner) {
            bin.spare = g.head;
            bin.spare_count = g.count;
            bin.spare_mixed = true;
        } else {
            bin.head = g.head;
            bin.count = g.count;
        }
    }
}

/// Merges every deferred group into the heap (heap locked), the caches' stashes included.
/// Returns whether there were any.
pub fn merge_deferred_locked(heap: &mut global::ProcessHeap) -> bool {
    let any = merge_all_deferred_locked(heap);
    merge_stashes_locked(heap) | any
}

/// Merges every deferred group (not the stashes) into the locked heap. Returns whether there
/// were any.
fn merge_all_deferred_locked(heap: &mut global::ProcessHeap) -> bool {
    let any = merge_some_deferred_locked(heap);
    while merge_some_deferred_locked(heap) {}
    any
}

/// Merges the oldest deferred groups, class after class from where the last call stopped, until
/// an eighth of the deferred bytes (at least 64 KiB) went into the heap (heap locked). Returns
/// whether there were any.
fn merge_some_deferred_locked(heap: &mut global::ProcessHeap) -> bool {
    let blocks = DEFERRED_BLOCKS.load(Ordering::Relaxed);
    if blocks == 0 {
        return false;
    }
    let free_before = heap.free_blocks();
    merge_some_deferred_inner(heap);
    let merged = blocks.saturating_sub(deferred(heap).blocks);
    if merged >= 16 {
        let added = heap.free_blocks().saturating_sub(free_before).min(merged);
        let d = deferred(heap);
        d.joins = (d.joins * 7 + (1000 * (merged - added) / merged) as u32) / 8;
    }
    true
}

/// [`merge_some_deferred_locked`]'s merging, when some block is deferred.
fn merge_some_deferred_inner(heap: &mut global::ProcessHeap) {
    let budget = (deferred(heap).bytes / 8).max(64 << 10);
    let mut merged = 0;
    // Groups merged together, their lists walked in step.
    let mut heads = [0usize; LANES];
    let mut n = 0;
    let mut k = deferred(heap).cursor;
    for _ in 0..NBINS {
        k = if k + 1 >= NBINS { 1 } else { k + 1 };
        loop {
            let d = deferred(heap);
            let g = if d.len[k] > 0 {
                d.pop_oldest(k)
            } else if let Some(g) = d.pop_over(k) {
                g
            } else {
                break;
            };
            merged += g.count as usize * bin_size(k);
            heads[n] = g.head;
            n += 1;
            if n == LANES || merged >= budget {
                // SAFETY: deferred groups are lists of unused cache-owned blocks.
                unsafe { free_lists_locked(heap, &heads[..n]) };
                n = 0;
            }
            if merged >= budget {
                deferred(heap).cursor = k - 1;
                return;
            }
        }
    }
    // SAFETY: as above.
    unsafe { free_lists_locked(heap, &heads[..n]) };
    deferred(heap).cursor = k;
}

/// Counts a refill down from a teardown (heap locked; see [`TORN_DOWN`]): the refill that
/// reaches 0 merges every deferred group into the heap, if they hold `REBUILD_MERGE_MIN` and are
/// scattered.
fn count_down_teardown_locked(h: &mut global::ProcessHeap) {
    let t = TORN_DOWN.load(Ordering::Relaxed);
    if t == 0 {
        return;
    }
    TORN_DOWN.store(t - 1, Ordering::Relaxed);
    if t == 1
        && os::single_threaded()
        && deferred(h).bytes >= REBUILD_MERGE_MIN
        && deferred_scattered(h)
    {
        // (This merge joins nearly every block: it must not tell the early merges' gate that
        // merges join, which would keep them on for the process's life, in a steady state after
        // it too, where they join nothing. It turns them on for the process's later bulk free
        // phases only: see `defer_locked`.)
        let joins = deferred(h).joins;
        merge_deferred_locked(h);
        deferred(h).joins = joins;
        SCATTERED_TEARDOWN.store(true, Ordering::Relaxed);
    }
}

/// Whether the deferred groups are in no order of the memory's (heap locked): following up to
/// 16 links of the newest group of each class, more join blocks further apart than `NEAR` than
/// nearer. A teardown in random order leaves such groups; one in allocation order leaves lists
/// of neighbours, which a rebuild can take as they are.
fn deferred_scattered(heap: &mut global::ProcessHeap) -> bool {
    let s = secret();
    let d = deferred(heap);
    let mut score = 0isize;
    for k in 1..NBINS {
        if d.len[k] == 0 {
            continue;
        }
        let g = *d.group(k, d.slot(k, d.len[k] - 1));
        let mut p = g.head;
        for _ in 1..g.count.min(16) {
            // SAFETY: a deferred group is a list of unused blocks, linked under the secret (a
            // link the program overwrote stops the process, as when a refill takes the group).
            let next = unsafe { next_link(p, s) };
            if next == 0 {
                break;
            }
            score += if p.abs_diff(next) > NEAR { 1 } else { -1 };
            p = next;
        }
    }
    score > 0
}

/// Whether any block is deferred, or some cache may have a stash (read without the lock): the
/// purge ticks look for idle groups while this holds.
#[inline(always)]
pub fn any_deferred() -> bool {
    DEFERRED_BLOCKS.load(Ordering::Relaxed) != 0 || STASHED[0].load(Ordering::Relaxed)
}

/// Purge ticks without a refill from the deferred groups (or, per cache, from its stash) before
/// they are merged into the heap. A tick comes at a trip under the heap's lock at least 20 ms
/// after the last and 64 trips after it: with steady heap activity about five seconds, as
/// jemalloc's decay; a program tearing down a large structure before it exits does not pay for
/// merging it. A program that makes no trips under the lock has no ticks.
const IDLE_TICKS: u32 = 250;

/// A purge tick (heap locked): when no refill wanted the deferred groups for `IDLE_TICKS`
/// ticks, they are merged into the heap, so that their pages can go back; so are the stashes of
/// each cache that took none back for as long (see [`merge_idle_stashes_locked`]). Returns
/// whether any were.
pub fn purge_deferred_locked(heap: &mut global::ProcessHeap) -> bool {
    let stashes = merge_idle_stashes_locked(heap);
    let d = deferred(heap);
    if core::mem::replace(&mut d.used, false) {
        d.idle_ticks = 0;
        return stashes;
    }
    d.idle_ticks += 1;
    if d.idle_ticks < IDLE_TICKS {
        return stashes;
    }
    d.idle_ticks = 0;
    merge_all_deferred_locked(heap) | stashes
}

/// A purge tick's look at the caches' stashes (heap locked): the stashes of a cache that took
/// no group back from them for `IDLE_TICKS` ticks are merged into the heap (a thread that freed
/// a large structure and then made only other allocations, or none). Each cache counts its own
/// ticks: a thread that keeps taking its groups back keeps them, and keeps no one else's.
/// Returns whether any were merged.
fn merge_idle_stashes_locked(heap: &mut global::ProcessHeap) -> bool {
    // Flag 0 is cleared before the caches are read (a stash put meanwhile sets it again) and
    // set again if a cache kept its stash.
    if !STASHED[0].load(Ordering::Relaxed) || !STASHED[0].swap(false, Ordering::AcqRel) {
        return false;
    }
    let mut lanes = Lanes::new();
    let mut kept = false;
    for t in caches() {
        // SAFETY: table entries live for the whole process; `stash_idle` is touched only with
        // the lock held; a stash is taken by one swap.
        unsafe {
            let c = &*t;
            if !c.stash.iter().any(|st| st.load(Ordering::Relaxed) != 0) {
                c.stash_idle.store(0, Ordering::Relaxed);
                continue;
            }
            let used =
                c.stash_used.load(Ordering::Relaxed) && c.stash_used.swap(false, Ordering::Relaxed);
            let idle = if used {
                0
            } else {
                c.stash_idle.load(Ordering::Relaxed) + 1
            };
            if idle < IDLE_TICKS {
                c.stash_idle.store(idle, Ordering::Relaxed);
                kept = true;
                continue;
            }
            c.stash_idle.store(0, Ordering::Relaxed);
            for (k, st) in c.stash.iter().enumerate() {
                take_stash_groups(st, k, |head, _| lanes.push(heap, head));
            }
        }
    }
    if kept {
        mark_stashed(0);
    }
    lanes.flush(heap)
}

/// Bytes held in the bins and the stash of `tc`.
unsafe fn cached_bytes(tc: *mut TCache) -> usize {
    // SAFETY: tc is the calling thread's cache.
    unsafe {
        (*tc)
            .bins
            .iter()
            .zip((*tc).stash.iter())
            .enumerate()
            .map(|(k, (b, st))| {
                let n = (b.count + b.spare_count) as usize + (st.load(Ordering::Relaxed) >> 48);
                // (A medium class's size takes a few instructions: only for bins with blocks.)
                if n == 0 || k == 0 {
                    0
                } else {
                    n * bin_size(k)
                }
            })
            .sum()
    }
}

/// Per class: whether some cache may have a stashed group (set by an owner that stashes one
/// when it is clear, cleared by a thread holding the lock whose scan of every cache found none).
/// Flag 0 (no class) summarises them: set after every stash, cleared (by a swap) by the merge
/// before every growth before it reads the classes' flags, which it skips when flag 0 is clear
/// (they cost about 700 instructions to go through). A merge racing with a stash can leave a
/// class's flag set under a clear flag 0 until the next stash of any class: merges before
/// growth miss that stash meanwhile (a refill's `steal_stash_locked` reads the class's flag
/// itself).
/// The scans under the lock (a refill about to carve, every growth) skip a class without one, so
/// they cost nothing in a program whose bins do not swing. A stale set flag costs a scan. A clear
/// flag over a stashed group (a put that raced with a scan) hides it from other threads until
/// its owner takes it back and stashes again; the owner's own flush (`malloc_trim`, a growth
/// that gives its cache back) and its exit take its stashes whatever the flags say.
#[used]
static STASHED: os::CachePadded<[AtomicBool; NBINS]> =
    os::CachePadded::new([const { AtomicBool::new(false) }; NBINS]);

/// Takes class `k`'s stashed group of a cache other than `owner`'s, if any (heap locked): the
/// newest of its stack; the others become that cache's deferred groups.
fn steal_stash_locked(heap: &mut global::ProcessHeap, k: usize, owner: usize) -> Option<Group> {
    if !STASHED[k].load(Ordering::Acquire) {
        return None;
    }
    for t in caches() {
        // SAFETY: table entries live for the whole process; a stash is taken by one swap.
        let st = unsafe { &(*t).stash[k] };
        if st.load(Ordering::Relaxed) == 0 {
            continue;
        }
        // SAFETY: as above; a cache's owner field never changes once it is in the table.
        let id = unsafe { (*t).owner };
        if id == owner {
            continue;
        }
        let mut got: Option<Group> = None;
        // SAFETY: the stack is taken by one swap; its groups are lists of unused blocks of
        // cache `id`, class `k`.
        unsafe {
            take_stash_groups(st, k, |head, n| match got {
                None => {
                    got = Some(Group {
                        head,
                        count: n as u32,
                        owner: id as u32,
                    })
                }
                Some(_) => defer_locked(heap, k, head, n, id, false, false),
            })
        };
        if got.is_some() {
            return got;
        }
    }
    STASHED[k].store(false, Ordering::Relaxed);
    None
}

/// Merges every cache's stashed groups (see `TCache::stash`) into the locked heap, their lists
/// walked in step. Returns whether there were any.
fn merge_stashes_locked(heap: &mut global::ProcessHeap) -> bool {
    // Flag 0: whether any class's flag may be set (cleared before the classes are read).
    if !STASHED[0].load(Ordering::Relaxed) || !STASHED[0].swap(false, Ordering::AcqRel) {
        return false;
    }
    let mut lanes = Lanes::new();
    let classes: [bool; NBINS] = core::array::from_fn(|k| {
        k > 0 && STASHED[k].load(Ordering::Relaxed) && STASHED[k].swap(false, Ordering::Acquire)
    });
    if !classes.iter().any(|&c| c) {
        return false;
    }
    for t in caches() {
        // SAFETY: table entries live for the whole process; a stash is taken by one swap.
        let stash = unsafe { &(*t).stash };
        for (k, st) in stash.iter().enumerate().filter(|&(k, _)| classes[k]) {
            // SAFETY: stashed groups are lists of unused cache-owned blocks.
            unsafe { take_stash_groups(st, k, |head, _| lanes.push(heap, head)) };
        }
    }
    lanes.flush(heap)
}

/// Lists to be freed into the heap, up to `LANES` at a time, so that their walks go in step
/// (see [`free_lists_locked`]).
struct Lanes {
    lists: [usize; LANES],
    n: usize,
    any: bool,
}

impl Lanes {
    fn new() -> Self {
        Lanes {
            lists: [0; LANES],
            n: 0,
            any: false,
        }
    }

    /// Adds the list `head` (unused cache-owned blocks), freeing the lanes when they are full.
    fn push(&mut self, heap: &mut global::ProcessHeap, head: usize) {
        self.lists[self.n] = head;
        self.n += 1;
        self.any = true;
        if self.n == LANES {
            self.flush(heap);
        }
    }

    /// Frees the lists added since the last flush; returns whether any list was ever added.
    fn flush(&mut self, heap: &mut global::ProcessHeap) -> bool {
        // SAFETY: the lists are unused cache-owned blocks, given up by whoever added them.
        unsafe { free_lists_locked(heap, &self.lists[..self.n]) };
        self.n = 0;
        self.any
    }
}

/// The least a cache holds before it is given back for holding a sixteenth of the heap (see
/// [`with_growth_policy`]).
const LARGE_CACHE: usize = 256 << 10;

/// Runs `attempt` on the locked heap under the rule that cached blocks go back to the heap
/// before it grows: first without growing; then after merging deferred groups, then every
/// cache's stash, then other threads' long remote lists (see [`collect_remote_locked`]); then
/// with the calling thread's cache given back, if it holds at least as many bytes as the heap
/// grew by for it since the last such flush (so flushing costs no more than growing did), or,
/// in a single-threaded process, if it holds a sixteenth of the heap (at least `LARGE_CACHE`);
/// then growing; and, if even that fails, with the cache given back in any case.
///
/// The second rule bounds what a cache keeps when the first never fires again (the heap grew a
/// lot since its last flush) in a program that frees sizes it no longer allocates (`realloc`:
/// the heap peaked at 3.9 MB for 2.2 MB live, now 3.3 MB). Its floor spaces the flushes out: the
/// cache must take in `LARGE_CACHE` bytes of frees between two of them. With a sixteenth of a
/// small heap alone (9 KiB), the cache was flushed at almost every refill (each flush left
/// fragments a batch did not fit in, so the next refill again found no room): `steady-1e3`
/// took 30 times as long. With threads, it cost `server` 1.07-1.24x the time (the flushes merge
/// under the shared lock while the other threads wait) for 6-13% less peak RSS: not taken.
pub fn with_growth_policy<T>(
    h: &mut global::ProcessHeap,
    mut attempt: impl FnMut(&mut global::ProcessHeap) -> Option<T>,
) -> Option<T> {
    h.set_may_grow(false);
    if let Some(r) = attempt(h) {
        h.set_may_grow(true);
        return Some(r);
    }
    // Blocks the caches gave back are merged before anything else: the oldest groups first, an
    // eighth of them (at least 64 KiB) at a time, until the request fits.
    while merge_some_deferred_locked(h) {
        if let Some(r) = attempt(h) {
            h.set_may_grow(true);
            return Some(r);
        }
    }
    // Then the groups the caches keep in their stashes (the newest given back).
    if merge_stashes_locked(h) {
        if let Some(r) = attempt(h) {
            h.set_may_grow(true);
            return Some(r);
        }
    }
    // Then other threads' long remote lists (a thread that no longer allocates a size can have
    // many of its blocks waiting there), after the calling thread pushed its batches of their
    // blocks onto them.
    let mut tc = tls::get() as *mut TCache;
    if core::ptr::eq(tc, &DISABLED) {
        tc = core::ptr::null_mut();
    }
    if !tc.is_null() {
        // SAFETY: the calling thread's live cache; the heap is locked.
        unsafe { flush_batches(tc, Some(h)) };
    }
    if collect_remote_locked(h) {
        if let Some(r) = attempt(h) {
            h.set_may_grow(true);
            return Some(r);
        }
    }
    let mut flushed = false;
    // SAFETY: tc is null or the calling thread's live cache; the heap is locked.
    unsafe {
        if !tc.is_null() {
            let cached = cached_bytes(tc) + (*tc).remote.pending() as usize;
            let amortised = cached >= (*tc).grown_since_flush;
            let large = cached >= (h.heap_bytes() / 16).max(LARGE_CACHE) && os::single_threaded();
            if cached > 0 && (amortised || large) {
                flush_all_locked(tc, h);
                if amortised {
                    (*tc).grown_since_flush = 0;
                }
                flushed = true;
                if let Some(r) = attempt(h) {
                    h.set_may_grow(true);
                    return Some(r);
                }
            }
        }
        h.set_may_grow(true);
        let before = h.grown_total();
        let r = attempt(h);
        if !tc.is_null() {
            (*tc).grown_since_flush += (h.grown_total() - before) as usize;
        }
        if r.is_some() {
            return r;
        }
        if !tc.is_null() && !flushed {
            flush_all_locked(tc, h);
            (*tc).grown_since_flush = 0;
            return attempt(h);
        }
    }
    None
}

/// Gives back every block the calling thread's cache holds (`malloc_trim`). Called with the
/// heap locked.
pub fn flush_current_locked(heap: &mut global::ProcessHeap) {
    let tc = tls::get() as *mut TCache;
    if tc.is_null() || core::ptr::eq(tc, &DISABLED) {
        return;
    }
    // SAFETY: tc is this thread's live cache; the heap is locked.
    unsafe {
        flush_batches(tc, Some(heap));
        flush_all_locked(tc, heap);
        (*tc).grown_since_flush = 0;
    }
}

/// Merges the long remote lists (at least `STRANDED` bytes) of every cache but the calling
/// thread's into the heap (heap locked): their blocks were freed by other threads and wait for
/// the owner's next refill of their class, which may never come (`server`: peak RSS −13%, with
/// 64 threads −15%). Short lists serve their owners' next refills (merging every list cost
/// `server` with 64 threads 1.56× the time, 64 KiB and up 1.08×), and the caller's own lists its
/// own (a producer whose consumer frees its blocks). A list is taken off with the same atomic
/// swap as the owner's, so each block goes one way. Returns whether any were.
fn collect_remote_locked(heap: &mut global::ProcessHeap) -> bool {
    let mut any = false;
    let me = tls::get() as *const TCache;
    for t in caches() {
        if core::ptr::eq(t, me) {
            continue;
        }
        // SAFETY: table entries live for the whole process.
        let lists = unsafe { &(*t).remote.class };
        let mut long = [0usize; NBINS];
        let mut n = 0;
        for (k, c) in lists.iter().enumerate().skip(1) {
            let v = c.load(Ordering::Relaxed);
            if v != 0 && (v >> 48) * bin_size(k) >= STRANDED {
                long[n] = c.swap(0, Ordering::Acquire) & LIST_PTR;
                any |= long[n] != 0;
                n += 1;
            }
        }
        // SAFETY: remote blocks are unused blocks owned by the cache; heap locked.
        unsafe { free_lists_locked(heap, &long[..n]) };
    }
    any
}

/// A remote list holding this many bytes is merged into the heap before the heap grows.
const STRANDED: usize = 256 << 10;

/// Set when a block may have been freed onto the remote list of an exited thread's cache.
static ORPHANS: AtomicBool = AtomicBool::new(false);

/// Frees the remote lists of exited threads' caches into the heap, when a free may have put
/// blocks there since the last call (a thread exited), or always with `all`. Called with the
/// heap locked.
pub fn collect_orphans(heap: &mut global::ProcessHeap, all: bool) {
    if DEAD_COUNT.load(Ordering::Relaxed) == 0 || !(ORPHANS.swap(false, Ordering::Acquire) || all) {
        return;
    }
    for t in caches() {
        // SAFETY: table entries are caches that live for the whole process; a dead cache's
        // remote lists are owned by nobody but the heap now (locked).
        unsafe {
            if (*t).state.load(Ordering::Acquire) == DEAD {
                let mut lists = [0usize; NBINS + 1];
                let mut n = 0;
                (*t).remote.take_all(|l| {
                    lists[n] = l;
                    n += 1;
                });
                free_lists_locked(heap, &lists[..n]);
            }
        }
    }
}

/// Caches of live threads (made, minus dead; a snapshot).
fn alive_caches() -> usize {
    LAST_ID
        .load(Ordering::Relaxed)
        .min(MAX_ID)
        .saturating_sub(DEAD_COUNT.load(Ordering::Relaxed))
}

/// Makes (or adopts) the calling thread's cache and registers its exit handler.
#[cold]
fn create() -> *mut TCache {
    global::ensure_init();
    if crate::secure::on() {
        // Hardened mode: no caches, every block is checked on every free.
        tls::set(&DISABLED as *const TCache as usize);
        return &DISABLED as *const TCache as *mut TCache;
    }
    // A dead thread's cache first: its id, and any remote frees that reached it.
    let mut tc: *mut TCache = core::ptr::null_mut();
    if DEAD_COUNT.load(Ordering::Relaxed) > 0 {
        for t in caches() {
            // SAFETY: table entries live for the whole process.
            let state = unsafe { &(*t).state };
            if state
                .compare_exchange(DEAD, ALIVE, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                DEAD_COUNT.fetch_sub(1, Ordering::Relaxed);
                global::tune_lock(alive_caches());
                tc = t;
                break;
            }
        }
    }
    if tc.is_null() {
        let id = LAST_ID.fetch_add(1, Ordering::AcqRel) + 1;
        if id > MAX_ID {
            tls::set(&DISABLED as *const TCache as usize);
            return &DISABLED as *const TCache as *mut TCache;
        }
        // The first caches live in static memory, so a program's heap holds only its own blocks
        // (a thread's first allocation never takes the last free bytes of a capped heap).
        // A cache that cannot be made leaves errno alone: the caller's `malloc` may still
        // succeed from the heap, and `free` never sets it.
        let errno = os::errno();
        let mem = if id <= POOL_CACHES {
            POOL.0[id - 1].get().cast::<TCache>()
        } else {
            let m = global::heap_alloc(
                core::mem::size_of::<TCache>(),
                core::mem::align_of::<TCache>(),
            ) as *mut TCache;
            if !m.is_null() {
                // (Once per thread beyond the static ones: a reference to a misaligned cache
                // would be undefined behaviour, so this is checked in every build.)
                assert!(m.is_aligned(), "a heap-allocated cache is misaligned");
                META_BLOCKS.fetch_add(1, Ordering::Relaxed);
                // SAFETY: m is a fresh heap block; its header gives its size.
                let size = unsafe { read(m as usize - WORD) } & SIZE_MASK;
                META_BYTES.fetch_add(size, Ordering::Relaxed);
            }
            m
        };
        if mem.is_null() {
            os::set_errno(errno);
            // No memory: try again later, with the same id if no thread took one since.
            let _ = LAST_ID.compare_exchange(id, id - 1, Ordering::AcqRel, Ordering::Relaxed);
            return &DISABLED as *const TCache as *mut TCache;
        }
        let mut bins = [EMPTY_BIN; NBINS];
        for (k, b) in bins.iter_mut().enumerate().skip(1) {
            b.limit = batch_and_limit(k).1;
        }
        let key = SKIP_KEY.load(Ordering::Relaxed);
        // SAFETY: mem is a fresh block of the right size and alignment.
        unsafe { mem.write(TCache::new(id, id, secret(), key, bins, FIRST_BATCH, ALIVE)) };
        TABLE[id].store(mem as usize, Ordering::Release);
        tc = mem;
        global::tune_lock(alive_caches());
    }
    tls::set(tc as usize);
    let key = KEY.load(Ordering::Acquire);
    if key != usize::MAX {
        // May call malloc (glibc allocates for high keys): the cache is already in place.
        // SAFETY: the key's destructor (thread_exit) takes exactly this cache pointer.
        unsafe { os::thread_key_set(key as u32, tc.cast()) };
    }
    tc
}

/// pthread key destructor: the thread is exiting; its cache's blocks become deferred groups
/// (see [`retire_locked`]) and the cache becomes adoptable by a later thread.
unsafe extern "C" fn thread_exit(v: *mut core::ffi::c_void) {
    let tc = v as *mut TCache;
    end_free_phase();
    tls::set(&DISABLED as *const TCache as usize);
    if tc.is_null() || core::ptr::eq(tc, &DISABLED) {
        return;
    }
    // SAFETY: tc was this thread's cache; no other thread uses its bins.
    unsafe {
        global::with_heap(|h| retire_locked(tc, h));
        (*tc).state.store(DEAD, Ordering::Release);
    }
    DEAD_COUNT.fetch_add(1, Ordering::Relaxed);
    global::tune_lock(alive_caches());
    // Remote frees that saw the cache alive may still land on its lists: collect them too.
    ORPHANS.store(true, Ordering::Release);
}

/// In a forked child: only the forking thread survives. Every other cache is emptied (its
/// blocks stay allocated: their lists may have been mid-update) and becomes adoptable.
pub fn after_fork_child() {
    let me = tls::get() as *mut TCache;
    let mut dead = 0;
    for t in caches() {
        if core::ptr::eq(t, me) {
            continue;
        }
        // SAFETY: no other thread exists in the child.
        unsafe {
            for b in (*t).bins.iter_mut() {
                b.head = 0;
                b.count = 0;
                b.spare = 0;
                b.spare_count = 0;
                b.spare_mixed = false;
            }
            (*t).adopt = 0;
            (*t).adopt_count = 0;
            (*t).rbuf = [RemoteBatch::EMPTY; RBUF];
            (*t).ring = [0; RING];
            (*t).ring_at = 0;
            (*t).ring_on = false;
            (*t).ring_draining = false;
            (*t).quiet_bytes = 0;
            (*t).remote.take_all(|_| {});
            for st in (*t).stash.iter() {
                st.store(0, Ordering::Relaxed);
            }
            (*t).state.store(DEAD, Ordering::Relaxed);
        }
        dead += 1;
    }
    DEAD_COUNT.store(dead, Ordering::Relaxed);
    global::tune_lock(alive_caches());
}

/// Totals over all caches: `(caches, alive, cached blocks, cached bytes, refills, flushes,
/// blocks received from other threads, groups reused, groups moved, bulk free phases)`. Read
/// without locks: a snapshot, not exact.
#[link_section = ".text.oxalloc_cold.oxalloc.tcache.totals"]
#[inline(never)]
pub fn totals() -> [u64; 10] {
    let mut t = [0u64; 10];
    // Deferred blocks count as cached (sizes approximated by their class).
    // SAFETY: a racy snapshot of two counters, as for the caches below.
    unsafe {
        let d = &*DEFERRED.0.get();
        t[2] += core::ptr::read_volatile(&d.blocks) as u64;
        t[3] += core::ptr::read_volatile(&d.bytes) as u64;
        t[7] = core::ptr::read_volatile(&d.own_takes);
        t[8] = core::ptr::read_volatile(&d.foreign_takes);
    }
    for c in caches() {
        // SAFETY: caches live for the whole process; counts are read racily (a snapshot).
        unsafe {
            t[0] += 1;
            if (*c).state.load(Ordering::Relaxed) == ALIVE {
                t[1] += 1;
            }
            for (k, b) in (*c).bins.iter().enumerate() {
                let n = core::ptr::read_volatile(&b.count) as u64
                    + core::ptr::read_volatile(&b.spare_count) as u64;
                t[2] += n;
                t[3] += n * if k == 0 { 0 } else { bin_size(k) as u64 };
            }
            for (k, st) in (*c).stash.iter().enumerate() {
                let n = (st.load(Ordering::Relaxed) >> 48) as u64;
                t[2] += n;
                t[3] += n * bin_size(k.max(1)) as u64;
            }
            t[7] += (*c).stats.stash_takes.load(Ordering::Relaxed);
            t[4] += (*c).stats.refills.load(Ordering::Relaxed);
            t[5] += (*c).stats.flushes.load(Ordering::Relaxed);
            t[6] += (*c).stats.remote_in.load(Ordering::Relaxed);
            t[9] += (*c).stats.phases.load(Ordering::Relaxed);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    /// 1,000 pseudo-random words (xorshift) from `seed`.
    fn random_words(seed: usize) -> impl Iterator<Item = usize> {
        core::iter::successors(Some(seed), |&r| {
            let r = r ^ r << 13;
            let r = r ^ r >> 7;
            Some(r ^ r << 17)
        })
        .skip(1)
        .take(1000)
    }

    #[test]
    fn stash_links_fit_and_words_written_over_them_do_not() {
        let (lo, span) = (0x5555_0000_0000, 1 << 30);
        for r in random_words(0x9E37_79B9_7F4A_7C15) {
            let key = make_skip_key(r);
            for total in [2, 300, REMOTE_MAX] {
                // A link to the group below (its head block, its count), and the bottom's 0.
                let below = (lo + 16 * (r % 1000) + 32) | (total - 1) << 48;
                assert!(link_fits(below, total, lo, span));
                assert!(link_fits(0, total, lo, span));
                // Words a program may write into the freed head block: zeros, a pointer into
                // the heap, small numbers, text; decoded with the key.
                for w in [0, lo + 64, lo, 1, 256, 0x4141_4141_4141_4141] {
                    assert!(
                        !link_fits(w ^ key, total, lo, span),
                        "{w:#x} under key {key:#x} fits a stack of {total}"
                    );
                }
            }
        }
    }

    #[test]
    fn skip_links_decode_to_their_block_and_never_look_like_list_links() {
        for r in random_words(0x2545_F491_4F6C_DD1D) {
            let s = make_secret(r);
            let key = make_skip_key(r.rotate_left(29));
            assert_eq!(key & 15, 0);
            assert!(key >> 56 != 0 && key >> 56 != 0xFF, "key {key:#x}");
            for b in [0, 16, 0x5555_5555_0000, (1 << 47) - 16, (1 << 56) - 16] {
                let w = b ^ key;
                assert_eq!(w ^ key, b);
                assert!(
                    !may_be_link(w, s),
                    "skip to {b:#x}, key {key:#x}, secret {s:#x}"
                );
            }
        }
    }

    #[test]
    fn links_always_look_like_links_and_program_data_rarely_does() {
        for r in random_words(0x9E37_79B9_7F4A_7C15) {
            let s = make_secret(r);
            assert_eq!(s & 15, 0b1010);
            assert!(s >> 56 != 0 && s >> 56 != 0xFF, "secret {s:#x}");
            for next in [0, 16, 0x5555_5555_0000, (1 << 47) - 16, (1 << 56) - 16] {
                assert!(may_be_link(next ^ s, s), "link to {next:#x}, secret {s:#x}");
            }
            // Zeros, small integers, negative ones, pointers (aligned or not): never.
            for w in (0..4096).chain((1..4096).map(|i: usize| i.wrapping_neg())) {
                assert!(!may_be_link(w, s), "{w:#x}, secret {s:#x}");
                assert!(!may_be_link(0x7FFF_0000_0000 + w, s));
            }
            // Words of one repeated byte (memset data): at most one of the 256 (on four low
            // bits alone, 16 would).
            let alike = (0..256usize)
                .filter(|&b| may_be_link(b * 0x0101_0101_0101_0101, s))
                .count();
            assert!(alike <= 1, "{alike} repeated-byte words, secret {s:#x}");
        }
    }

    /// A deferred ring against a queue: pushes at the newest end, pops of the oldest, removals
    /// from anywhere, through every capacity, with wrap-around at each.
    #[test]
    fn deferred_rings_keep_their_groups_in_order_as_they_grow() {
        // SAFETY: every field of `Deferred` is an integer, a bool or an array of them (zero is
        // valid: the static starts so); boxed, as it is 450 KiB.
        let mut d: std::boxed::Box<Deferred> = unsafe {
            let layout = std::alloc::Layout::new::<Deferred>();
            let p = std::alloc::alloc_zeroed(layout);
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            std::boxed::Box::from_raw(p.cast())
        };
        let k = 5;
        let mut shadow = std::collections::VecDeque::new();
        let mut r = 0x2545_F491_4F6C_DD1Dusize;
        let mut next = 1usize;
        let mut caps = std::vec::Vec::new();
        let mut wrapped_growths = 0;
        for step in 0..20_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            // Mostly growing in the first half, mostly shrinking in the second.
            let push_bias = if step < 10_000 { 6 } else { 3 };
            let op = r % 10;
            if shadow.len() < GROUPS && (shadow.is_empty() || op < push_bias) {
                // Owner ids above the table's size: no cache to count them for.
                let g = Group {
                    head: next * 16,
                    count: 1,
                    owner: (MAX_ID + 1) as u32,
                };
                next += 1;
                if d.len[k] == d.cap(k) && d.first[k] != 0 {
                    wrapped_growths += 1;
                }
                d.push(k, g);
                shadow.push_back(g.head);
            } else if op.is_multiple_of(2) {
                assert_eq!(d.pop_oldest(k).head, shadow.pop_front().unwrap());
            } else {
                let i = (r >> 8) % shadow.len();
                assert_eq!(d.remove(k, i).head, shadow.remove(i).unwrap());
            }
            assert_eq!(d.len[k], shadow.len());
            assert!(d.len[k] <= d.cap(k) && d.cap(k) <= GROUPS && d.first[k] < d.cap(k));
            assert!(!shadow.is_empty() || (d.first[k] == 0 && d.cap(k) == MIN_CAP));
            for (j, &h) in shadow.iter().enumerate() {
                assert_eq!(d.group(k, d.slot(k, j)).head, h, "step {step}, group {j}");
            }
            if caps.last() != Some(&d.cap(k)) {
                caps.push(d.cap(k));
            }
            // Another class's slots are never written.
            assert!((0..GROUPS).all(|j| d.group(k + 1, j).head == 0 && d.group(k - 1, j).head == 0));
        }
        // Every capacity was reached, most from a ring that had wrapped; the ring emptied at
        // least once afterwards (back to the least capacity, checked at every step).
        assert!(caps.starts_with(&[8, 16, 32, 64, 128, 256]), "{caps:?}");
        assert!(caps.len() > 6, "{caps:?}");
        assert!(wrapped_growths >= 3, "{wrapped_growths}");
        assert_eq!(d.blocks, shadow.len());
        // Emptied, a ring wraps within the least capacity again. (Draining also puts back the
        // process-wide count of deferred blocks these operations wrote.)
        while let Some(h) = shadow.pop_front() {
            assert_eq!(d.pop_oldest(k).head, h);
        }
        assert_eq!((d.len[k], d.first[k], d.cap(k)), (0, 0, MIN_CAP));
        assert_eq!(DEFERRED_BLOCKS.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn every_medium_request_gets_the_smallest_class_that_holds_it() {
        for n in MAX_SMALL + 1..=MAX_MEDIUM {
            let need = (n + WORD + 15) & !15;
            let k = medium_bin(n);
            assert!(k > CLASSES && k < NBINS, "request {n}: bin {k}");
            assert!(
                bin_size(k) >= need,
                "request {n}: class {} too small",
                bin_size(k)
            );
            assert!(
                k == CLASSES + 1 || bin_size(k - 1) < need,
                "request {n}: a smaller class ({}) holds it",
                bin_size(k - 1)
            );
            assert!(
                bin_size(k) <= need + need / 8,
                "request {n}: more than 12.5% rounding"
            );
        }
    }

    #[test]
    fn every_block_goes_to_the_largest_class_it_can_serve() {
        for size in (16..80_000).step_by(8) {
            let k = bin_of_block(size);
            if size < 16 * (CLASSES + 1) {
                assert_eq!(k, size >> 4, "small block {size}");
                continue;
            }
            if k == 0 {
                assert!(
                    size >= bin_size(NBINS - 1) + 8192 || size < 1152,
                    "block {size}"
                );
                continue;
            }
            assert!(bin_size(k) <= size, "block {size} in class {}", bin_size(k));
            assert!(
                k + 1 == NBINS || bin_size(k + 1) > size,
                "block {size}: class {k}"
            );
        }
        for k in 1..NBINS {
            assert_eq!(bin_of_block(bin_size(k)), k);
            let (batch, limit) = batch_and_limit(k);
            assert!(batch >= 1 && limit >= batch && limit as usize <= FLUSH_CHUNK);
            // A refill's batch (a u8) doubles up to the limit, which adapts up to max_limit.
            assert!(max_limit(k) >= limit && max_limit(k) as usize <= FLUSH_CHUNK);
            assert!(max_limit(k) <= u8::MAX as u32 / 2 + 1);
        }
    }
}
