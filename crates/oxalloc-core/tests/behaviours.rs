//! The foundation's behaviours, observed through an injected memory source.

use oxalloc_core::heap::Config;
use oxalloc_core::{ArraySource, Heap};

/// A heap over a leaked buffer of `cap` bytes, filled with garbage on growth.
fn heap(cap: usize) -> Heap<ArraySource> {
    let buf: &'static mut [u64] = Box::leak(vec![0u64; cap / 8 + 2].into_boxed_slice());
    let base = (buf.as_mut_ptr() as usize + 15) & !15;
    // SAFETY: the buffer is leaked, so it lives forever and nobody else uses it.
    let mut src = unsafe { ArraySource::new(base, cap) };
    src.fill = Some(0xAB);
    Heap::new(src, Config::DEFAULT)
}

fn alloc(h: &mut Heap<ArraySource>, n: usize, align: usize) -> usize {
    // SAFETY: align is a power of two.
    unsafe { h.alloc(n, align) as usize }
}

fn free(h: &mut Heap<ArraySource>, p: usize) {
    // SAFETY: p came from alloc.
    unsafe { h.free(p as *mut u8) }.unwrap();
    h.check().unwrap();
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn first_128_small_allocations_grow_fewer_than_8_times() {
    for align in [8, 16] {
        let mut h = heap(1 << 20);
        for i in 0..128 {
            assert_ne!(alloc(&mut h, 1 + i % 32, align), 0);
        }
        let calls = h.source().calls.extends;
        assert!(calls < 8, "{calls} growth calls with align {align}");
        assert!(calls >= 1);
        h.check().unwrap();
    }
}

fn overhead(align: usize) -> f64 {
    let mut h = heap(64 << 20);
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let mut requested = 0usize;
    let n = 10_000;
    for _ in 0..n {
        let size = (rng.next() % 17) as usize * 8;
        requested += size;
        assert_ne!(alloc(&mut h, size, align), 0);
    }
    h.check().unwrap();
    let used = h.source_mut().calls;
    assert!(used.extends > 1);
    let start = h.source().base();
    let brk = {
        use oxalloc_core::Source;
        h.source_mut().end()
    };
    (brk - start - requested) as f64 / n as f64
}

#[test]
fn overhead_through_my_names_is_below_9_bytes_per_object() {
    let my = overhead(8);
    let m = overhead(16);
    println!("overhead per object: my* {my:.2} bytes, malloc {m:.2} bytes");
    assert!(my > 0.0 && my < 9.0, "my* overhead {my}");
    assert!(m > 0.0 && m < 16.0, "malloc overhead {m}");
}

#[test]
fn recently_freed_block_is_reused_first() {
    let mut h = heap(8 << 20);
    for size in [0, 8, 24, 100, 1000, 1024, 1500, 5000, 70_000] {
        for align in [8, 16] {
            // Guards keep the two blocks from merging with each other or with the top.
            let a = alloc(&mut h, size, align);
            let _g1 = alloc(&mut h, 8, align);
            let b = alloc(&mut h, size, align);
            let _g2 = alloc(&mut h, 8, align);
            free(&mut h, a);
            free(&mut h, b);
            // LIFO: the last freed comes back first, then the one before.
            assert_eq!(alloc(&mut h, size, align), b, "size {size}");
            assert_eq!(alloc(&mut h, size, align), a, "size {size}");
        }
    }
}

#[test]
fn a_freed_4k_block_is_split_for_small_requests() {
    let mut h = heap(1 << 20);
    let big = alloc(&mut h, 4096, 8);
    let _guard = alloc(&mut h, 8, 8);
    free(&mut h, big);
    let mut last = 0;
    for _ in 0..20 {
        let p = alloc(&mut h, 32, 8);
        assert!(
            p >= big && p + 32 <= big + 4096,
            "{p:#x} outside the freed block"
        );
        assert!(p > last, "fresh pieces go upward");
        last = p;
    }
    h.check().unwrap();
}

#[test]
fn a_1024_byte_request_is_served_from_128_merged_8_byte_blocks() {
    let mut h = heap(1 << 20);
    let ps: Vec<usize> = (0..128).map(|_| alloc(&mut h, 8, 8)).collect();
    let _guard = alloc(&mut h, 8, 8);
    for w in ps.windows(2) {
        assert_eq!(
            w[1] - w[0],
            16,
            "8-byte objects take 16-byte blocks, in address order"
        );
    }
    // Free in a scattered order: every free merges with what is already free.
    for i in (0..128).step_by(2).chain((1..128).step_by(2)) {
        free(&mut h, ps[i]);
    }
    let c = h.check().unwrap();
    assert_eq!(c.free_blocks, 1, "the 128 blocks merged into one");
    let p = alloc(&mut h, 1024, 8);
    assert!(
        p >= ps[0] && p + 1024 <= ps[127] + 8,
        "{p:#x} not in the merged span"
    );
}

#[test]
fn freeing_the_top_gives_memory_back_and_live_top_keeps_it() {
    let mut h = heap(64 << 20);
    let ps: Vec<usize> = (0..2000).map(|_| alloc(&mut h, 1000, 8)).collect();
    let grown = h.source().calls.extends;
    assert!(grown > 1);
    // Free everything below the topmost block: nothing is given back.
    for &p in &ps[..1999] {
        free(&mut h, p);
    }
    assert_eq!(h.source().calls.shrinks, 0);
    let end_before = {
        use oxalloc_core::Source;
        h.source_mut().end()
    };
    free(&mut h, ps[1999]);
    assert!(h.source().calls.shrinks >= 1);
    let end_after = {
        use oxalloc_core::Source;
        h.source_mut().end()
    };
    assert!(end_after < end_before);
    assert!(
        ps[1999] >= end_after,
        "the highest freed block is above the new break"
    );
    assert!(ps[1000] >= end_after);
}

#[test]
fn a_64k_heap_holds_over_a_thousand_8_byte_objects_and_fails_cleanly() {
    let mut h = heap(64 * 1024);
    let mut ps = Vec::new();
    loop {
        let p = alloc(&mut h, 8, 8);
        if p == 0 {
            break;
        }
        ps.push(p);
    }
    assert!(ps.len() > 1000, "only {} objects fit", ps.len());
    assert_eq!(alloc(&mut h, 100_000, 8), 0);
    for p in ps.drain(..100) {
        free(&mut h, p);
    }
    assert_ne!(alloc(&mut h, 8, 8), 0, "a request that fits still succeeds");
    assert_ne!(alloc(&mut h, 500, 8), 0);
    h.check().unwrap();
}

#[test]
fn a_moved_break_starts_a_new_segment_and_old_blocks_stay_valid() {
    let mut h = heap(16 << 20);
    let a = alloc(&mut h, 100, 16);
    // SAFETY: a is a live block of 100 bytes.
    unsafe { std::ptr::write_bytes(a as *mut u8, 7, 100) };
    assert!(h.source_mut().foreign_move(13));
    let mut bs = Vec::new();
    for _ in 0..200 {
        bs.push(alloc(&mut h, 200, 16));
    }
    assert!(h.stats().segments >= 2);
    h.check().unwrap();
    // SAFETY: a is still live.
    assert!(unsafe { std::slice::from_raw_parts(a as *const u8, 100) }
        .iter()
        .all(|&b| b == 7));
    free(&mut h, a);
    for b in bs {
        free(&mut h, b);
    }
}

#[test]
fn calloc_zeroes_memory_the_source_filled_with_garbage() {
    let mut h = heap(1 << 20);
    for n in [1, 7, 8, 100, 4096, 20_000] {
        // SAFETY: align 16 is a power of two.
        let p = unsafe { h.alloc_zeroed(n, 16) };
        assert!(!p.is_null());
        // SAFETY: p has n bytes.
        assert!(unsafe { std::slice::from_raw_parts(p, n) }
            .iter()
            .all(|&b| b == 0));
        // Dirty it, free it, and zero-allocate again from the same memory.
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(p, 0xEE, n) };
        free(&mut h, p as usize);
    }
}

#[test]
fn realloc_shrinks_in_place_and_grows_into_the_next_free_block_or_top() {
    let mut h = heap(1 << 20);
    let p = alloc(&mut h, 1000, 8);
    // SAFETY: (all realloc calls) p is live; alignment 8.
    let q = unsafe { h.realloc(p as *mut u8, 100, 8) }.unwrap() as usize;
    assert_eq!(q, p, "shrink stays in place");
    let q = unsafe { h.realloc(p as *mut u8, 5000, 8) }.unwrap() as usize;
    assert_eq!(q, p, "grows into the top in place");
    let next = alloc(&mut h, 3000, 8);
    let _guard = alloc(&mut h, 8, 8);
    let q = unsafe { h.realloc(p as *mut u8, 400, 8) }.unwrap() as usize;
    assert_eq!(q, p);
    free(&mut h, next);
    let q = unsafe { h.realloc(p as *mut u8, 7000, 8) }.unwrap() as usize;
    assert_eq!(q, p, "grows into the freed neighbour in place");
    h.check().unwrap();
}

#[test]
fn a_cache_owned_block_shrinks_in_place_keeping_its_owner_and_freeing_the_tail() {
    let mut h = heap(1 << 20);
    let p = alloc(&mut h, 1000, 16);
    let next = alloc(&mut h, 200, 16);
    let _guard = alloc(&mut h, 8, 16);
    free(&mut h, next);
    let owner = 7usize << 48;
    // SAFETY: p is a live block of h; its header is the word before it.
    unsafe {
        let hp = (p - 8) as *mut usize;
        hp.write(hp.read() | owner);
        for k in 0..1000 {
            ((p + k) as *mut u8).write(k as u8);
        }
    }
    let before = h.check().unwrap();
    // SAFETY: p is an in-use block of h with 1000 usable bytes, marked as a cache's.
    unsafe { h.shrink_owned(p, 40) };
    let after = h.check().unwrap();
    // SAFETY: as above.
    let header = unsafe { ((p - 8) as *const usize).read() };
    assert_eq!(
        header & !((1usize << 48) - 1),
        owner,
        "the owner field is kept"
    );
    assert_eq!(
        header & oxalloc_core::tag::SIZE_MASK,
        48,
        "the block is 48 bytes now"
    );
    for k in 0..40 {
        // SAFETY: the first 40 bytes are still the block's.
        assert_eq!(
            unsafe { ((p + k) as *const u8).read() },
            k as u8,
            "contents kept"
        );
    }
    // The tail merged with the free block after it: as many free blocks, 960 bytes more.
    assert_eq!(after.free_blocks, before.free_blocks);
    assert_eq!(after.free_bytes, before.free_bytes + 1008 - 48);
    // The tail is reused first for a request it fits.
    assert_eq!(alloc(&mut h, 900, 16), p + 48);
    h.check().unwrap();
}

#[test]
fn a_header_a_merge_leaves_behind_names_no_cache() {
    let owner = 9usize << 48;
    let mark = |p: usize| {
        // SAFETY: p is a live block of the heap; its header is the word before it.
        unsafe {
            let hp = (p - 8) as *mut usize;
            hp.write(hp.read() | owner);
        }
    };
    // SAFETY: reads a word of the heap's memory.
    let header = |p: usize| unsafe { ((p - 8) as *const usize).read() };
    // Merged into the free block before it (a realloc that moves the block frees it so).
    let mut h = heap(1 << 20);
    let a = alloc(&mut h, 200, 16);
    let p = alloc(&mut h, 200, 16);
    let _guard = alloc(&mut h, 200, 16);
    mark(p);
    free(&mut h, a);
    // SAFETY: p is live; alignment 16.
    let q = unsafe { h.realloc(p as *mut u8, 5000, 16) }.unwrap() as usize;
    assert_ne!(q, p, "the block moved");
    assert_eq!(
        header(p) & owner,
        0,
        "the old header inside the free block names no cache"
    );
    h.check().unwrap();
    // SAFETY: p was freed by the realloc: the heap must say so.
    assert!(
        unsafe { h.free(p as *mut u8) }.is_err(),
        "a second free is caught"
    );
    // Merged into the top chunk.
    let mut h = heap(1 << 20);
    let p = alloc(&mut h, 200, 16);
    mark(p);
    // SAFETY: p is live.
    unsafe { h.free(p as *mut u8) }.unwrap();
    assert_eq!(
        header(p) & owner,
        0,
        "the old header in the top chunk names no cache"
    );
    h.check().unwrap();
}

#[test]
fn blocks_joined_before_a_merge_leave_no_header_inside() {
    let mut h = heap(1 << 20);
    let ps: Vec<usize> = (0..4).map(|_| alloc(&mut h, 8, 16)).collect();
    assert!(ps.windows(2).all(|w| w[1] == w[0] + 16), "neighbours");
    // SAFETY: reads and writes the headers of live blocks of h.
    unsafe {
        for &p in &ps[..3] {
            let hp = (p - 8) as *mut usize;
            hp.write(hp.read() | 5usize << 48);
        }
        // The first three, freed by a cache at once: joined, then merged.
        h.free_owned_sorted(&ps[..3]);
        for &p in &ps[1..3] {
            assert_eq!(((p - 8) as *const usize).read(), 0, "inner header cleared");
        }
    }
    h.check().unwrap();
    // SAFETY: a stale pointer into the joined block: the heap must refuse it.
    assert!(unsafe { h.free(ps[2] as *mut u8) }.is_err());
}

#[test]
fn amortised_realloc_gives_appends_an_eighth_more_room() {
    let usable = |h: &Heap<ArraySource>, p: usize| h.usable_size(p as *mut u8).unwrap();
    for amortise in [false, true] {
        let grow = |h: &mut Heap<ArraySource>, p: usize, n: usize| {
            // SAFETY: p is live; alignment 16.
            let q = unsafe {
                if amortise {
                    h.realloc_amortised(p as *mut u8, n, 16)
                } else {
                    h.realloc(p as *mut u8, n, 16)
                }
            };
            let q = q.unwrap() as usize;
            h.check().unwrap();
            q
        };
        let mut h = heap(1 << 20);
        // At the top: a one-byte append past the block's end.
        let p = alloc(&mut h, 800, 16);
        let n = usable(&h, p) + 1;
        assert_eq!(grow(&mut h, p, n), p, "grows into the top in place");
        let room = usable(&h, p);
        if amortise {
            assert!(room >= n + n / 8, "an append at the top got {room} for {n}");
        } else {
            assert!(room < n + 16, "an exact growth got {room} for {n}");
        }
        // Doubling is exact either way.
        let n = 2 * usable(&h, p);
        assert_eq!(grow(&mut h, p, n), p);
        assert!(
            usable(&h, p) < n + 16,
            "doubling got {} for {n}",
            usable(&h, p)
        );
        // Into a free neighbour with room for the eighth, then into one without it.
        let a = alloc(&mut h, 400, 16);
        let b = alloc(&mut h, 200, 16);
        let c = alloc(&mut h, 300, 16);
        let d = alloc(&mut h, 8, 16);
        let _guard = alloc(&mut h, 8, 16);
        free(&mut h, b);
        free(&mut h, d);
        let n = usable(&h, a) + 1;
        assert_eq!(
            grow(&mut h, a, n),
            a,
            "grows into the freed neighbour in place"
        );
        let room = usable(&h, a);
        assert_eq!(room >= n + n / 8, amortise, "{room} for {n}");
        let n = usable(&h, c) + 1;
        assert_eq!(
            grow(&mut h, c, n),
            c,
            "a neighbour without the eighth still serves"
        );
        assert!(usable(&h, c) < n + n / 8);
        // A block that must move gets the eighth in its new place.
        let n = usable(&h, c) + 1;
        let q = grow(&mut h, c, n);
        assert_ne!(q, c);
        assert_eq!(usable(&h, q) >= n + n / 8, amortise);
        free(&mut h, q);
    }
}

#[test]
fn realloc_failure_leaves_the_block_untouched() {
    let mut h = heap(32 * 1024);
    let p = alloc(&mut h, 100, 16);
    // SAFETY: p has 100 bytes.
    unsafe { std::ptr::write_bytes(p as *mut u8, 9, 100) };
    let _guard = alloc(&mut h, 8, 16);
    // SAFETY: p is live.
    let q = unsafe { h.realloc(p as *mut u8, 1 << 20, 16) }.unwrap();
    assert!(q.is_null());
    // SAFETY: p is still live.
    assert!(unsafe { std::slice::from_raw_parts(p as *const u8, 100) }
        .iter()
        .all(|&b| b == 9));
    h.check().unwrap();
}

#[test]
fn misuse_is_reported_not_followed() {
    let mut h = heap(1 << 20);
    let p = alloc(&mut h, 64, 16);
    let _q = alloc(&mut h, 64, 16);
    free(&mut h, p);
    // SAFETY: (all) the heap validates the pointers before touching blocks.
    assert!(matches!(
        unsafe { h.free(p as *mut u8) },
        Err(oxalloc_core::Misuse::DoubleFree(_))
    ));
    let local = 5u64;
    assert!(unsafe { h.free(&local as *const u64 as *mut u8) }.is_err());
    assert!(unsafe { h.free(8 as *mut u8) }.is_err());
    assert!(unsafe { h.free((p + 3) as *mut u8) }.is_err());
    h.check().unwrap();
}

#[test]
fn alignment_up_to_1_mib_does_not_waste_the_lead() {
    let mut h = heap(64 << 20);
    for shift in 5..=20 {
        let align = 1usize << shift;
        let p = alloc(&mut h, 100, align);
        assert_eq!(p % align, 0);
        h.check().unwrap();
        free(&mut h, p);
    }
    let c = h.check().unwrap();
    assert_eq!(c.in_use_blocks, 0);
    assert_eq!(c.free_blocks, 0, "everything merged back into the top");
}

#[test]
fn four_million_8_byte_objects_fit_quickly() {
    let mut h = heap(128 << 20);
    let t = std::time::Instant::now();
    let mut last = 0;
    for _ in 0..4_000_000 {
        let p = alloc(&mut h, 8, 8);
        assert!(p > last);
        last = p;
    }
    let c = h.check().unwrap();
    assert_eq!(c.in_use_blocks, 4_000_000);
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
}

#[test]
fn a_mapping_above_the_break_makes_the_heap_carry_on_from_mappings() {
    let mut h = heap(256 << 20);
    let mut ps = Vec::new();
    for i in 0..100usize {
        let p = alloc(&mut h, 1000, 16);
        // SAFETY: p has 1000 bytes.
        unsafe { std::ptr::write_bytes(p as *mut u8, i as u8, 1000) };
        ps.push(p);
    }
    h.source_mut().block_end();
    for i in 100..5000usize {
        let p = alloc(&mut h, 1000, 16);
        assert_ne!(p, 0, "allocation {i} failed although mappings work");
        // SAFETY: p has 1000 bytes.
        unsafe { std::ptr::write_bytes(p as *mut u8, i as u8, 1000) };
        ps.push(p);
    }
    assert!(h.source().calls.maps >= 1);
    h.check().unwrap();
    for (i, &p) in ps.iter().enumerate() {
        // SAFETY: p is live with 1000 bytes.
        let s = unsafe { std::slice::from_raw_parts(p as *const u8, 1000) };
        assert!(s.iter().all(|&b| b == i as u8), "object {i} changed");
    }
    for p in ps {
        free(&mut h, p);
    }
    assert!(
        h.source().calls.unmaps >= 1,
        "empty mapped segments are given back"
    );
    let c = h.check().unwrap();
    assert_eq!(c.in_use_blocks, 0);
}

#[test]
fn huge_blocks_get_their_own_mapping_and_give_it_back() {
    let mut h = heap(512 << 20);
    h.set_config(Config {
        huge_threshold: 1 << 20,
        ..Config::DEFAULT
    });
    let p = alloc(&mut h, 3 << 20, 16);
    assert_ne!(p, 0);
    assert_eq!(h.stats().huge_blocks, 1);
    let q = alloc(&mut h, 2 << 20, 4096);
    assert_eq!(q % 4096, 0);
    h.check().unwrap();
    // SAFETY: p is a live huge block.
    let p2 = unsafe { h.realloc(p as *mut u8, 5 << 20, 16) }.unwrap() as usize;
    assert_ne!(p2, 0);
    free(&mut h, p2);
    free(&mut h, q);
    assert_eq!(h.stats().huge_blocks, 0);
    assert_eq!(h.stats().mapped_bytes, 0);
    assert!(h.source().calls.unmaps >= 3);
}

#[test]
fn a_large_free_range_in_the_middle_gives_its_pages_back() {
    let mut h = heap(64 << 20);
    let big = alloc(&mut h, 4 << 20, 16);
    let _guard = alloc(&mut h, 8, 16);
    free(&mut h, big);
    let s = h.stats();
    assert!(
        s.advised_bytes >= 3 << 20,
        "only {} bytes advised",
        s.advised_bytes
    );
}

#[test]
fn lazily_a_large_free_range_gives_its_pages_back_after_a_whole_interval_free() {
    let mut h = heap(64 << 20);
    let mut cfg = Config::DEFAULT;
    cfg.lazy_advise = true;
    h.set_config(cfg);
    let big = alloc(&mut h, 4 << 20, 16);
    let other = alloc(&mut h, 3 << 20, 16);
    let _guard = alloc(&mut h, 8, 16);
    free(&mut h, big);
    assert_eq!(h.stats().advised_bytes, 0, "advised at once in lazy mode");
    assert!(h.dirty_bytes() >= 4 << 20);
    // Freed in this interval: the first tick leaves it (it may be allocated again soon).
    assert_eq!(h.purge_tick(), 0);
    assert!(
        h.dirty_bytes() >= 4 << 20,
        "a young block must keep the ticks coming"
    );
    // Free for a whole interval: the next tick gives its pages back, once.
    let given = h.purge_tick();
    assert!(given >= 3 << 20, "only {given} bytes given back");
    assert_eq!(h.purge_tick(), 0, "given back twice");
    assert_eq!(h.dirty_bytes(), 0);
    // A block freed next to it makes the range young again: given back a tick later.
    free(&mut h, other);
    assert_eq!(h.purge_tick(), 0);
    assert!(h.purge_tick() >= 2 << 20);
    h.check().unwrap();
}

#[test]
fn sizes_from_1_byte_to_32_mib_come_back_after_freeing_all() {
    use oxalloc_core::Source;
    let mut h = heap(512 << 20);
    let mut ps = Vec::new();
    for k in 0..=25 {
        let p2 = 1usize << k;
        for s in [p2, p2 + p2 / 2 + 1, if p2 > 2 { p2 - 1 } else { 3 }] {
            if s > 32 << 20 {
                continue;
            }
            let align = if ps.len() % 2 == 1 { 8 } else { 16 };
            let p = alloc(&mut h, s, align);
            assert_ne!(p, 0);
            ps.push(p);
        }
    }
    let base = h.source().base();
    for &p in ps.iter().rev() {
        free(&mut h, p);
    }
    let left = h.source_mut().end() - base;
    assert!(
        left < 128 * 1024,
        "{left} bytes left above the start, stats {:?}",
        h.stats()
    );
}

/// A large block allocated and freed in a loop: with the dynamic threshold, the heap stops
/// giving the top back after the first few rounds (growing again right after a trim raises the
/// threshold); with `dynamic_trim` off (`mallopt(M_TRIM_THRESHOLD)`), every round trims.
#[test]
fn trim_threshold_rises_on_thrash_unless_fixed() {
    let shrinks = |dynamic_trim: bool| {
        let mut h = heap(64 << 20);
        h.set_config(Config {
            dynamic_trim,
            ..Config::DEFAULT
        });
        let keep = alloc(&mut h, 100, 16);
        for _ in 0..20 {
            let p = alloc(&mut h, 1 << 20, 16);
            assert_ne!(p, 0);
            free(&mut h, p);
        }
        free(&mut h, keep);
        h.stats().shrink_calls
    };
    let (dynamic, fixed) = (shrinks(true), shrinks(false));
    assert!(
        dynamic <= 3,
        "dynamic threshold: {dynamic} trims in 20 rounds"
    );
    assert!(fixed >= 20, "fixed threshold: {fixed} trims in 20 rounds");
}

/// A program that frees what it built and builds it again, round after round, with more than a
/// thousand small operations between a round's last free and the next growth: the heap grows
/// again long before the program allocated half as many bytes as the trim gave back, so the trim
/// threshold rises and later rounds keep the top (no break moves). In lazy mode (the process
/// heap's) the kept top goes back at the purge ticks that find it unused, and only then.
#[test]
fn a_heap_rebuilt_in_rounds_keeps_its_top_until_ticks_find_it_unused() {
    use oxalloc_core::Source;
    let mut h = heap(64 << 20);
    h.set_config(Config {
        lazy_advise: true,
        ..Config::DEFAULT
    });
    let keep = alloc(&mut h, 100, 16);
    for round in 0..10 {
        // Small blocks carved from the top and merged back: operations, no growth.
        for _ in 0..1100 {
            let p = alloc(&mut h, 16, 16);
            assert_ne!(p, 0);
            // SAFETY: p came from alloc.
            unsafe { h.free(p as *mut u8) }.unwrap();
        }
        let ps: Vec<usize> = (0..2000).map(|_| alloc(&mut h, 4000, 16)).collect();
        assert!(ps.iter().all(|&p| p != 0), "round {round}: out of memory");
        for &p in &ps {
            free(&mut h, p);
        }
    }
    let s = h.stats();
    assert!(
        s.shrink_calls <= 2,
        "{} trims in 10 rounds: the threshold did not rise ({s:?})",
        s.shrink_calls
    );
    assert!(s.top_bytes > 4 << 20, "the top was not kept: {s:?}");
    let kept_end = h.source_mut().end();
    // The first tick finds the top carved from in its interval; a later one gives it back.
    h.purge_tick();
    assert_eq!(
        h.stats().shrink_calls,
        s.shrink_calls,
        "given back while in use"
    );
    h.purge_tick();
    h.purge_tick();
    let after = h.stats();
    assert_eq!(after.shrink_calls, s.shrink_calls + 1, "{after:?}");
    assert!(
        h.source_mut().end() + (4 << 20) < kept_end,
        "the kept top was not given back: {after:?}"
    );
    h.check().unwrap();
    free(&mut h, keep);
}

/// A heap of 64 MB in lazy mode (as the process heap runs).
fn lazy_heap() -> Heap<ArraySource> {
    let mut h = heap(64 << 20);
    h.set_config(Config {
        lazy_advise: true,
        ..Config::DEFAULT
    });
    h
}

/// `n` blocks of 4000 bytes.
fn blocks(h: &mut Heap<ArraySource>, n: usize) -> Vec<usize> {
    (0..n).map(|_| alloc(h, 4000, 16)).collect()
}

/// The other side of the rule above: a program that grows again only after it allocated more
/// than half of what a trim gave back (from free memory elsewhere in the heap), and not in the
/// purge interval of the trim or the next, is not rebuilding the same thing, and the threshold
/// stays: its next large free at the top is given back.
#[test]
fn growth_after_reusing_other_free_memory_keeps_the_threshold() {
    let mut h = lazy_heap();
    let below = blocks(&mut h, 1500); // 6 MB
    let fence = alloc(&mut h, 100, 16); // keeps the two ranges apart
    let top = blocks(&mut h, 2000); // 8 MB above it
    for &p in &below {
        free(&mut h, p);
    }
    for &p in &top {
        free(&mut h, p);
    }
    let trims = h.stats().shrink_calls;
    assert_eq!(trims, 1, "{:?}", h.stats());
    h.purge_tick();
    h.purge_tick();
    // 5 MB from the free range below (more than half of the 8 MB given back), then growth.
    let again = blocks(&mut h, 1250);
    let more = blocks(&mut h, 500);
    assert!(h.stats().grow_calls > 0 && more.iter().all(|&p| p != 0));
    for &p in more.iter().chain(&again) {
        free(&mut h, p);
    }
    assert_eq!(
        h.stats().shrink_calls,
        trims + 1,
        "the top was kept: the threshold rose ({:?})",
        h.stats()
    );
    free(&mut h, fence);
}

/// Bytes of the top chunk kept aside (see `Heap::top_handed_end`).
fn kept(h: &Heap<ArraySource>) -> usize {
    let (_, end, _) = h.top_info();
    end - h.top_handed_end()
}

/// A lazy-mode heap whose trim threshold rose by the time rule and whose top (3 MB) is kept
/// aside but for a growth batch: 6 MB freed below a fence and 8 MB above it (one trim), then,
/// with no purge tick in between, 5 MB allocated from below (more than half of what the trim
/// gave back) before 1 MB more below and 3 MB from the top, which are freed. Returns the heap,
/// the 5 MB of blocks and the fence.
fn heap_with_kept_top() -> (Heap<ArraySource>, Vec<usize>, usize) {
    let mut h = lazy_heap();
    let below = blocks(&mut h, 1500);
    let fence = alloc(&mut h, 100, 16);
    let top = blocks(&mut h, 2000);
    for &p in below.iter().chain(&top) {
        free(&mut h, p);
    }
    assert_eq!(h.stats().shrink_calls, 1, "{:?}", h.stats());
    let again = blocks(&mut h, 1250);
    let more = blocks(&mut h, 1000);
    assert!(h.stats().grow_calls > 0 && more.iter().all(|&p| p != 0));
    for &p in &more {
        free(&mut h, p);
    }
    let s = h.stats();
    assert_eq!(s.shrink_calls, 1, "the top was given back: {s:?}");
    assert!(s.top_bytes > 2 << 20 && kept(&h) > 2 << 20, "{s:?}");
    h.check().unwrap();
    (h, again, fence)
}

/// Lazy mode, time: growing again in the purge interval of a trim (or the next) counts as
/// rebuilding, however much was allocated first, and the threshold rises. The next large free
/// at the top is then kept, but only as far as the configured threshold would have kept it:
/// the rest counts as the source's memory. An allocation that may not grow is refused it, one
/// that may takes it as a growth (counted in `grown_total`, no call to the source), and a purge
/// tick that finds it unused gives it back.
#[test]
fn growth_in_the_interval_of_a_trim_keeps_the_top_as_if_given_back() {
    let (mut h, again, fence) = heap_with_kept_top();
    let s = h.stats();
    // Without growth, a 1.5 MB block does not fit (the free range below holds 1 MB).
    let (grown, extends) = (h.grown_total(), h.source().calls.extends);
    h.set_may_grow(false);
    assert_eq!(
        alloc(&mut h, 3 << 19, 16),
        0,
        "carved from the kept top without growing"
    );
    h.set_may_grow(true);
    let big = alloc(&mut h, 3 << 19, 16);
    assert_ne!(big, 0);
    assert!(
        h.grown_total() >= grown + (1 << 20),
        "not counted as growth"
    );
    assert_eq!(h.source().calls.extends, extends, "the source was asked");
    h.check().unwrap();
    // Growing in place into the kept part is a growth too, and keeps the part inside the top.
    let grown = h.grown_total();
    // SAFETY: big is a live block of this heap.
    let bigger = unsafe { h.realloc(big as *mut u8, 5 << 19, 16) }.unwrap() as usize;
    assert_eq!(bigger, big, "moved instead of growing in place");
    assert!(h.grown_total() > grown, "not counted as growth");
    h.check().unwrap();
    assert_eq!(h.source().calls.extends, extends, "the source was asked");
    free(&mut h, bigger);
    // Unused for more than `purge_after` ticks, the kept top goes back.
    for _ in 0..3 {
        h.purge_tick();
    }
    let after = h.stats();
    assert_eq!(after.shrink_calls, 2, "{after:?}");
    assert!(after.heap_bytes < s.heap_bytes - (2 << 20), "{after:?}");
    assert_eq!(kept(&h), 0);
    h.check().unwrap();
    for &p in &again {
        free(&mut h, p);
    }
    free(&mut h, fence);
}

/// A new trim threshold (`mallopt`) decides about the top afresh: what the old risen one kept
/// aside is the heap's again, usable without growth (counted as a growth).
#[test]
fn a_new_trim_threshold_hands_the_kept_top_back() {
    let (mut h, _, _) = heap_with_kept_top();
    let grown = h.grown_total();
    let mut c = h.config();
    c.trim_threshold = 32 << 20;
    c.dynamic_trim = false;
    h.set_config(c);
    assert_eq!(kept(&h), 0);
    assert!(h.grown_total() > grown + (2 << 20), "not counted as growth");
    h.set_may_grow(false);
    assert_ne!(alloc(&mut h, 3 << 19, 16), 0, "the top is still kept aside");
    h.check().unwrap();
}

/// Growing from the source past a kept top hands the kept part out with the new memory, and
/// counts both as growth.
#[test]
fn growth_from_the_source_counts_the_kept_top_it_absorbs() {
    let (mut h, _, _) = heap_with_kept_top();
    let (top, end, _) = h.top_info();
    let k = kept(&h);
    let (grown, bytes) = (h.grown_total(), h.heap_bytes());
    let p = alloc(&mut h, (end - top) + (1 << 20), 16);
    assert_ne!(p, 0);
    assert_eq!(kept(&h), 0);
    let counted = (h.grown_total() - grown) as usize;
    assert!(
        counted >= k + (h.heap_bytes() - bytes),
        "kept {k} absorbed, grown_total only +{counted}"
    );
    h.check().unwrap();
}

/// A trim threshold of `usize::MAX` ("never trim") keeps nothing aside: no overflow makes the
/// top look like the source's.
#[test]
fn an_endless_trim_threshold_keeps_nothing_aside() {
    let mut h = heap(64 << 20);
    h.set_config(Config {
        lazy_advise: true,
        trim_threshold: usize::MAX,
        ..Config::DEFAULT
    });
    let v: Vec<usize> = (0..2000).map(|_| alloc(&mut h, 4000, 16)).collect();
    for &p in v.iter().rev() {
        free(&mut h, p);
    }
    assert_eq!(h.stats().shrink_calls, 0);
    assert_eq!(kept(&h), 0);
    h.set_may_grow(false);
    assert_ne!(alloc(&mut h, 4 << 20, 16), 0, "the top was kept aside");
}

/// A free block written after its free: its list links hold the program's data. The heap stops
/// at the first link it would follow (here, with no handler set, by panicking) instead of
/// writing through it.
#[test]
#[should_panic(expected = "written after free")]
fn a_free_block_written_after_its_free_stops_the_heap() {
    let mut h = heap(1 << 20);
    let a = alloc(&mut h, 3000, 16);
    let fence = alloc(&mut h, 16, 16);
    assert!(a != 0 && fence != 0);
    free(&mut h, a);
    // SAFETY: a's block is free heap memory of at least 64 bytes; this is the misuse under test.
    unsafe { core::ptr::write_bytes(a as *mut u8, b'A', 64) };
    alloc(&mut h, 3000, 16);
}
