//! Single-threaded memory patterns: realloc growth, large blocks, steady states, and the
//! malloc+free pair micro-workload for callgrind.

use std::alloc::{alloc, dealloc, Layout};
use std::hint::black_box;
use std::time::Instant;

use crate::util::{mix, object, weigh, Rng};

/// Grows many vectors and strings one element at a time, interleaved: vectors through `push`
/// (amortized doubling), strings through `reserve_exact(1)` + `push` (a realloc to one more byte
/// whenever full, as C code calling `realloc(p, n + 1)` does); then halves and shrinks them.
pub fn realloc(quick: bool) -> u64 {
    let (rounds, count, len) = if quick {
        (3, 1000, 600)
    } else {
        (30, 1000, 600)
    };
    let mut rng = Rng::new(4);
    let mut h = 0u64;
    for _ in 0..rounds {
        let mut vecs: Vec<Vec<u32>> = (0..count).map(|_| Vec::new()).collect();
        let mut strings: Vec<String> = (0..count).map(|_| String::new()).collect();
        let targets: Vec<usize> = (0..count).map(|_| rng.range(1, len)).collect();
        for step in 0..len {
            for i in 0..count {
                if step < targets[i] {
                    vecs[i].push((step * i) as u32);
                    if strings[i].len() == strings[i].capacity() {
                        strings[i].reserve_exact(1);
                    }
                    strings[i].push((b'a' + ((step + i) % 26) as u8) as char);
                }
            }
        }
        for (v, s) in vecs.iter_mut().zip(strings.iter_mut()) {
            v.truncate(v.len() / 2);
            v.shrink_to_fit();
            s.truncate(s.len() / 3);
            s.shrink_to_fit();
            h = mix(
                h,
                v.iter()
                    .fold(v.len() as u64, |a, &x| a.wrapping_add(u64::from(x))),
            );
            h = mix(
                h,
                s.bytes()
                    .fold(s.len() as u64, |a, x| a.wrapping_add(u64::from(x))),
            );
        }
        // Grow the survivors again, now in random order.
        for _ in 0..count * 50 {
            let i = rng.below(count as u64) as usize;
            vecs[i].push(i as u32);
            strings[i].push('z');
        }
        h = mix(h, vecs.iter().map(|v| v.len() as u64).sum());
        h = mix(h, strings.iter().map(|s| s.len() as u64).sum());
    }
    h
}

/// Allocates blocks of 64 KiB - 32 MiB (log-uniform), writes one byte per page, keeps the last
/// four alive and frees the rest.
pub fn large(quick: bool) -> u64 {
    const PAGE: usize = 4096;
    const LIVE: usize = 4;
    let count = if quick { 30 } else { 300 };
    let mut rng = Rng::new(5);
    let mut live: Vec<Option<(*mut u8, Layout)>> = vec![None; LIVE];
    let mut h = 0u64;
    for i in 0..count {
        let shift = rng.range(16, 24);
        let size = (1usize << shift) + rng.below(1 << shift) as usize;
        let layout = Layout::from_size_align(size, 8).expect("layout");
        // SAFETY: layout has non-zero size; the block is checked for null.
        let p = unsafe { alloc(layout) };
        assert!(!p.is_null(), "large: allocation of {size} bytes failed");
        let mut off = 0;
        while off < size {
            // SAFETY: off < size, inside the block.
            unsafe { p.add(off).write_volatile((i + off / PAGE) as u8) };
            off += PAGE;
        }
        // SAFETY: inside the block, written above.
        let first = unsafe { p.read_volatile() };
        let last = unsafe { p.add((size - 1) / PAGE * PAGE).read_volatile() };
        h = mix(mix(h, size as u64), u64::from(first) << 8 | u64::from(last));
        if let Some((old, old_layout)) = live[i % LIVE].replace((p, layout)) {
            // SAFETY: allocated above with this layout, freed once.
            unsafe { dealloc(old, old_layout) };
        }
    }
    for (p, layout) in live.into_iter().flatten() {
        // SAFETY: as above.
        unsafe { dealloc(p, layout) };
    }
    h
}

/// Sizes for steady states: 8 - 256 B, skewed small.
fn steady_size(rng: &mut Rng) -> usize {
    if rng.below(4) == 0 {
        rng.range(65, 256)
    } else {
        rng.range(8, 64)
    }
}

/// Fills to `n` live objects of random small sizes, then replaces random ones (free one,
/// allocate a new one) a fixed number of times; prints ns per replacement (`ns_per_op`), and
/// the allocator's share of it (`alloc_ns_per_op`): the same loop once more without malloc and
/// free — the same slots read, the same bytes weighed, as many bytes written (into the old
/// object) — is timed and taken off. The rest of an operation is the program's own cache
/// misses, which grow with the number of live objects whatever the allocator.
pub fn steady(n: usize, quick: bool) -> u64 {
    let ops: usize = if quick { 200_000 } else { 2_000_000 };
    let mut rng = Rng::new(6);
    let mut slots: Vec<Box<[u8]>> = Vec::with_capacity(n);
    for i in 0..n {
        slots.push(object(steady_size(&mut rng), i as u8));
    }
    let mut sum = 0u64;
    let start = Instant::now();
    for k in 0..ops {
        let i = rng.below(n as u64) as usize;
        let fresh = object(steady_size(&mut rng), k as u8);
        let old = std::mem::replace(&mut slots[i], fresh);
        sum = sum.wrapping_add(weigh(&old));
    }
    let elapsed = start.elapsed();
    let mut rng = Rng::new(7);
    let start = Instant::now();
    for k in 0..ops {
        let i = rng.below(n as u64) as usize;
        let size = steady_size(&mut rng);
        let old = &mut slots[i];
        sum = sum.wrapping_add(weigh(old));
        let m = size.min(old.len());
        old[..m].fill(k as u8);
        black_box(&old);
    }
    let baseline = start.elapsed();
    let per_op = |d: std::time::Duration| d.as_secs_f64() * 1e9 / ops as f64;
    println!("metric: ns_per_op {:.2}", per_op(elapsed));
    println!(
        "metric: alloc_ns_per_op {:.2}",
        per_op(elapsed.saturating_sub(baseline))
    );
    for s in &slots {
        sum = sum.wrapping_add(weigh(s));
    }
    sum
}

/// `n` pairs of `malloc(size)` + `free`, straight through libc, for instruction counting.
pub fn pair(n: u64, size: usize) -> u64 {
    for _ in 0..n {
        // SAFETY: malloc/free of our own block; black_box keeps the pair from being elided.
        unsafe {
            let p = black_box(libc::malloc(size));
            assert!(!p.is_null(), "pair: malloc({size}) failed");
            libc::free(p);
        }
    }
    mix(n, size as u64)
}

/// A teardown: allocates `n` objects of the steady states' sizes, or of `size` bytes each
/// (their first byte written), frees them all, in allocation order or `shuffled`, five times;
/// prints the free loop's best time per object (`free_ns_per_obj`), and the allocation loop's
/// of the rounds after the first, which reuse what the teardown before gave back
/// (`rebuild_ns_per_obj`: the allocation of a structure built again), and a read of their first
/// bytes in the order the objects were made (`walk_ns_per_obj`: how the rebuilt structure's
/// layout serves a program walking it). Not in the suite: it
/// measures what a bulk free phase (a single-threaded program freeing with no allocation in
/// between) costs or saves at each size of structure. The objects are freed right after they
/// were made and read, so a small structure's headers are always in the cache here.
pub fn teardown(n: usize, shuffled: bool, size: Option<usize>) -> u64 {
    let mut rng = Rng::new(9);
    let mut blocks: Vec<*mut u8> = vec![std::ptr::null_mut(); n];
    let mut best = f64::INFINITY;
    let mut best_again = f64::INFINITY;
    let mut best_walk = f64::INFINITY;
    let mut h = 0u64;
    for round in 0..5u8 {
        let start = Instant::now();
        for b in blocks.iter_mut() {
            let size = size.unwrap_or_else(|| steady_size(&mut rng)).max(1);
            // SAFETY: malloc of a non-zero size; the block is checked before its first byte is
            // written.
            unsafe {
                let p = libc::malloc(size) as *mut u8;
                assert!(!p.is_null(), "teardown: malloc({size}) failed");
                p.write(round);
                *b = p;
            }
        }
        if round > 0 {
            best_again = best_again.min(start.elapsed().as_secs_f64());
            // The structure built again, read in the order it was made (as a program walks
            // it): how its layout serves the program.
            let start = Instant::now();
            // SAFETY: each block is live, its first byte written above.
            let firsts: u64 = blocks.iter().map(|&p| u64::from(unsafe { p.read() })).sum();
            best_walk = best_walk.min(start.elapsed().as_secs_f64());
            h = mix(h, firsts);
        }
        if shuffled {
            for i in (1..n).rev() {
                blocks.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        // SAFETY: each block is live, its first byte written above.
        let firsts: u64 = blocks.iter().map(|&p| u64::from(unsafe { p.read() })).sum();
        h = mix(h, firsts);
        let start = Instant::now();
        for &p in &blocks {
            // SAFETY: each block was allocated above and is freed once.
            unsafe { libc::free(p.cast()) };
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let per_obj = |s: f64| s * 1e9 / n.max(1) as f64;
    println!("metric: free_ns_per_obj {:.2}", per_obj(best));
    println!("metric: rebuild_ns_per_obj {:.2}", per_obj(best_again));
    println!("metric: walk_ns_per_obj {:.2}", per_obj(best_walk));
    mix(h, n as u64)
}
