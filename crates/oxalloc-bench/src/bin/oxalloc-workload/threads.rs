//! Multi-threaded workloads: cross-thread frees, producer/consumer, bulk allocation, and false
//! sharing. Every checksum is a wrapping sum over objects, so it does not depend on which
//! thread freed what or when.

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;

use crate::util::{object, thread_cpu_ns, weigh, Rng};

/// Server-like size: mostly 8 B - 4 KiB, sometimes up to 64 KiB.
fn server_size(rng: &mut Rng) -> usize {
    if rng.below(50) == 0 {
        rng.range(4097, 65536)
    } else {
        rng.small_size()
    }
}

/// `threads` workers allocate objects of random sizes; each object is kept in a local pool,
/// freed at once, or sent to a random other worker, which frees it (cross-thread free).
pub fn server(quick: bool, threads: usize) -> u64 {
    let ops = if quick { 40_000 } else { 400_000 };
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..threads).map(|_| mpsc::channel::<Box<[u8]>>()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let senders = senders.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                let mut pool: Vec<Box<[u8]>> = Vec::new();
                let mut sum = 0u64;
                for i in 0..ops {
                    let obj = object(server_size(&mut rng), i as u8);
                    match rng.below(10) {
                        0..=3 => {
                            if pool.len() >= 2000 {
                                let victim = rng.below(pool.len() as u64) as usize;
                                sum = sum.wrapping_add(weigh(&pool.swap_remove(victim)));
                            }
                            pool.push(obj);
                        }
                        4..=6 if threads > 1 => {
                            let mut to = rng.below(threads as u64 - 1) as usize;
                            if to >= t {
                                to += 1;
                            }
                            senders[to].send(obj).expect("server: receiver alive");
                        }
                        _ => sum = sum.wrapping_add(weigh(&obj)),
                    }
                    while let Ok(o) = rx.try_recv() {
                        sum = sum.wrapping_add(weigh(&o));
                    }
                }
                drop(senders);
                for o in pool.drain(..) {
                    sum = sum.wrapping_add(weigh(&o));
                }
                for o in rx.iter() {
                    sum = sum.wrapping_add(weigh(&o));
                }
                sum
            })
        })
        .collect();
    drop(senders);
    handles
        .into_iter()
        .map(|h| h.join().expect("server thread"))
        .fold(0, u64::wrapping_add)
}

/// Larson and Krishnan's server benchmark: each of `threads` slots holds an array of objects;
/// a worker replaces random objects (free one, allocate another of a random 8-1000 B size), then
/// starts its successor, which inherits the array, and exits. So most frees are of objects that
/// an exited thread allocated: a dead thread's memory must be reusable by the threads that live.
pub fn larson(quick: bool, threads: usize) -> u64 {
    let (generations, per_gen, slots) = if quick {
        (20, 10_000, 1000)
    } else {
        (100, 20_000, 1000)
    };
    struct Gen {
        t: usize,
        generation: usize,
        objs: Vec<Box<[u8]>>,
        sum: u64,
        done: mpsc::Sender<u64>,
    }
    fn worker(mut g: Gen, generations: usize, per_gen: usize) {
        let mut rng = Rng::new((g.t * 7919 + g.generation) as u64);
        for i in 0..per_gen {
            let k = rng.below(g.objs.len() as u64) as usize;
            let fresh = object(rng.range(8, 1000), i as u8);
            let old = std::mem::replace(&mut g.objs[k], fresh);
            g.sum = g.sum.wrapping_add(weigh(&old));
        }
        if g.generation + 1 == generations {
            let sum = g.objs.iter().fold(g.sum, |a, o| a.wrapping_add(weigh(o)));
            drop(g.objs);
            g.done.send(sum).expect("larson: main thread waits");
            return;
        }
        // The successor inherits the objects; this thread exits right after starting it.
        g.generation += 1;
        thread::spawn(move || worker(g, generations, per_gen));
    }
    let (done, results) = mpsc::channel();
    for t in 0..threads {
        let done = done.clone();
        thread::spawn(move || {
            let mut rng = Rng::new(500 + t as u64);
            let objs: Vec<Box<[u8]>> = (0..slots)
                .map(|i| object(rng.range(8, 1000), i as u8))
                .collect();
            let g = Gen {
                t,
                generation: 0,
                objs,
                sum: 0,
                done,
            };
            worker(g, generations, per_gen);
        });
    }
    drop(done);
    results.iter().take(threads).fold(0, u64::wrapping_add)
}

/// A model of glibc's `bench-malloc-thread`: each of `threads` threads keeps 8,000 slots and
/// replaces a random one per step with a block of 4 B - 32 KiB (a power law: most small, some
/// large, so 58% are above 1 KiB), writing its first and last bytes. Every size class churns
/// at random over a working set far larger than the caches (about 50 MB a thread).
pub fn mixed(quick: bool, threads: usize) -> u64 {
    const SLOTS: usize = 8000;
    let steps = if quick { 200_000 } else { 2_000_000 };
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let mut rng = Rng::new(700 + t as u64);
                let mut slots: Vec<Option<Vec<u8>>> = (0..SLOTS).map(|_| None).collect();
                let mut sum = 0u64;
                for i in 0..steps {
                    let k = rng.below(SLOTS as u64) as usize;
                    // u^4 for u uniform in [0, 1): 4 + 32764 u^4 bytes.
                    let u = rng.below(1 << 24) as f64 / f64::from(1u32 << 24);
                    let size = 4 + (32764.0 * u * u * u * u) as usize;
                    let mut v = Vec::with_capacity(size);
                    // SAFETY: the capacity is at least `size`; the bytes are written before
                    // they are read (first and last only: the rest stays untouched, as in
                    // glibc's benchmark).
                    unsafe {
                        let p: *mut u8 = v.as_mut_ptr();
                        p.write(i as u8);
                        p.add(size - 1).write(t as u8);
                    }
                    if let Some(old) = slots[k].replace(v) {
                        // SAFETY: written when the block was allocated.
                        let (a, b) = unsafe {
                            let p = old.as_ptr();
                            (p.read(), p.add(old.capacity() - 1).read())
                        };
                        sum = sum.wrapping_add(old.capacity() as u64 * (u64::from(a) + 1))
                            ^ u64::from(b);
                    }
                }
                sum
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("mixed thread"))
        .fold(0, u64::wrapping_add)
}

/// One thread allocates small objects and sends them through a bounded channel; the other
/// frees them.
pub fn prodcons(quick: bool) -> u64 {
    let count: u64 = if quick { 200_000 } else { 2_000_000 };
    let (tx, rx) = mpsc::sync_channel::<Box<[u8]>>(1024);
    let producer = thread::spawn(move || {
        let mut rng = Rng::new(3);
        for i in 0..count {
            tx.send(object(rng.range(16, 512), i as u8))
                .expect("consumer alive");
        }
    });
    let mut sum = 0u64;
    for o in rx.iter() {
        sum = sum.wrapping_add(weigh(&o));
    }
    producer.join().expect("producer");
    sum
}

/// Each thread repeatedly allocates 1e5 objects and then frees them all (in allocation order
/// or in reverse, alternately). Prints the CPU time per object of each phase, summed over the
/// threads: allocating (and filling), weighing (first and last byte) and freeing.
pub fn bulk(quick: bool, threads: usize) -> u64 {
    let (rounds, per_round) = if quick { (2, 50_000) } else { (10, 100_000) };
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let mut rng = Rng::new(200 + t as u64);
                let mut sum = 0u64;
                let mut phases = [0u64; 3];
                for round in 0..rounds {
                    let t0 = thread_cpu_ns();
                    let mut v: Vec<Box<[u8]>> = Vec::with_capacity(per_round);
                    for i in 0..per_round {
                        v.push(object(rng.range(16, 256), i as u8));
                    }
                    let t1 = thread_cpu_ns();
                    for o in &v {
                        sum = sum.wrapping_add(weigh(o));
                    }
                    let t2 = thread_cpu_ns();
                    if round % 2 == 0 {
                        drop(v);
                    } else {
                        while let Some(o) = v.pop() {
                            drop(o);
                        }
                    }
                    let t3 = thread_cpu_ns();
                    phases[0] += t1 - t0;
                    phases[1] += t2 - t1;
                    phases[2] += t3 - t2;
                }
                (sum, phases)
            })
        })
        .collect();
    let mut sum = 0u64;
    let mut phases = [0u64; 3];
    for h in handles {
        let (s, p) = h.join().expect("bulk thread");
        sum = sum.wrapping_add(s);
        for (a, b) in phases.iter_mut().zip(p) {
            *a += b;
        }
    }
    let objects = (threads * rounds * per_round) as f64;
    for (name, ns) in ["alloc", "weigh", "free"].iter().zip(phases) {
        println!("metric: {name}_cpu_ns_per_obj {:.2}", ns as f64 / objects);
    }
    sum
}

/// Writes every byte of `obj` `reps` times (volatile, so the writes really happen).
fn hammer(obj: &mut [u8], reps: usize) {
    for _ in 0..reps {
        for b in obj.iter_mut() {
            // SAFETY: `b` is a valid, exclusive reference.
            unsafe {
                let p: *mut u8 = b;
                p.write_volatile(p.read_volatile().wrapping_add(1));
            }
        }
    }
}

/// The pattern of rpmalloc's benchmark (`rptest` in mimalloc-bench): each of `threads` threads,
/// 1,500 times, allocates 1,000 blocks of 8 B - 16 KB (small sizes likelier: the density falls
/// linearly; 64 bytes of each written), frees half of them at once and, every other time,
/// hands the other half to the next thread, which frees them (else it frees them itself). Most
/// blocks are medium sized, and every size is given back and taken again in bulk each time.
pub fn relay(quick: bool, threads: usize) -> u64 {
    use std::sync::{Arc, Mutex};
    const PER: usize = 1000;
    let loops = if quick { 150 } else { 1500 };
    // Slot `t`: what thread `t - 1` handed to thread `t`, not taken yet.
    let slots: Arc<Vec<Mutex<Vec<Vec<u8>>>>> =
        Arc::new((0..threads).map(|_| Mutex::new(Vec::new())).collect());
    let weigh_all = |v: Vec<Vec<u8>>| v.iter().fold(0u64, |s, o| s.wrapping_add(weigh(o)));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let slots = Arc::clone(&slots);
            thread::spawn(move || {
                let mut rng = Rng::new(300 + t as u64);
                let mut sum = 0u64;
                let mut held: Vec<Vec<u8>> = Vec::with_capacity(PER);
                for l in 0..loops {
                    for i in 0..PER {
                        let n = 8 + rng.below(15_993).min(rng.below(15_993)) as usize;
                        let mut o = Vec::with_capacity(n);
                        o.resize(n.min(64), i as u8);
                        held.push(o);
                    }
                    let mut kept = Vec::with_capacity(PER / 2);
                    for (i, o) in held.drain(..).enumerate() {
                        if i % 2 == 1 {
                            sum = sum.wrapping_add(weigh(&o));
                        } else {
                            kept.push(o);
                        }
                    }
                    if l % 2 == 0 && threads > 1 {
                        let next = &slots[(t + 1) % threads];
                        let untaken = std::mem::replace(&mut *next.lock().expect("slot"), kept);
                        sum = sum.wrapping_add(weigh_all(untaken));
                    } else {
                        sum = sum.wrapping_add(weigh_all(kept));
                    }
                    let mine = std::mem::take(&mut *slots[t].lock().expect("slot"));
                    sum = sum.wrapping_add(weigh_all(mine));
                }
                sum
            })
        })
        .collect();
    let mut sum = 0u64;
    for h in handles {
        sum = sum.wrapping_add(h.join().expect("relay thread"));
    }
    for slot in slots.iter() {
        sum = sum.wrapping_add(weigh_all(std::mem::take(&mut *slot.lock().expect("slot"))));
    }
    sum
}

/// Hoard's cache-scratch (main thread allocates one small object per worker; each worker frees
/// it, allocates its own of the same size and writes it in a tight loop), then cache-thrash
/// (each thread allocates small objects and writes them repeatedly). Slow when the allocator
/// puts different threads' objects on one cache line.
pub fn falseshare(quick: bool, threads: usize) -> u64 {
    const SIZE: usize = 8;
    let (iterations, reps) = if quick {
        (100, 40_000)
    } else {
        (1_000, 40_000)
    };
    let mut sum = 0u64;

    // cache-scratch
    let objects: Vec<Box<[u8]>> = (0..threads).map(|t| object(SIZE, t as u8)).collect();
    let handles: Vec<_> = objects
        .into_iter()
        .map(|given| {
            thread::spawn(move || {
                let mut s = weigh(&given);
                drop(given);
                for i in 0..iterations {
                    let mut own = object(SIZE, i as u8);
                    hammer(&mut own, reps);
                    s = s.wrapping_add(weigh(black_box(&own)));
                }
                s
            })
        })
        .collect();
    for h in handles {
        sum = sum.wrapping_add(h.join().expect("cache-scratch thread"));
    }

    // cache-thrash
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || {
                let mut s = 0u64;
                for i in 0..iterations {
                    let mut own = object(SIZE, (i + t) as u8);
                    hammer(&mut own, reps);
                    s = s.wrapping_add(weigh(black_box(&own)));
                }
                s
            })
        })
        .collect();
    for h in handles {
        sum = sum.wrapping_add(h.join().expect("cache-thrash thread"));
    }
    sum
}

/// Threads that build, trade and free everything, in rounds (the pattern of mimalloc's stress
/// test): each round starts `threads` threads; thread `t` allocates `10000 (t + 1)` objects of
/// 8 B - 256 B (powers of two; 1% a hundred times larger, 0.1% a thousand, 0.01% ten thousand:
/// up to 2.5 MiB), keeps a retained set, frees two of every three earlier objects at random,
/// swaps objects with a table shared by all threads (so it frees others' objects), and frees
/// all it holds before it exits. Between rounds half the shared table is freed. The heap is
/// built up and torn down every round. Every object is filled with a pattern that is checked
/// when it is freed.
pub fn rounds(quick: bool, threads: usize) -> u64 {
    use std::sync::atomic::{AtomicPtr, Ordering};
    use std::sync::Arc;
    const SHARED: usize = 1000;
    const PATTERN: u64 = 0x6a09_e667_f3bc_c908;
    let rounds = if quick { 4 } else { 20 };

    /// An object of `n >= 1` words; word `i` holds `(n - i) ^ PATTERN`, so word 0 gives `n`.
    fn make(n: usize) -> *mut u64 {
        let b: Box<[u64]> = (0..n).map(|i| (n - i) as u64 ^ PATTERN).collect();
        Box::into_raw(b).cast::<u64>()
    }
    /// Checks and frees an object from [`make`] (or nothing, for null); returns its words.
    fn unmake(p: *mut u64) -> u64 {
        if p.is_null() {
            return 0;
        }
        // SAFETY: p came from make, whose word 0 holds the length, and is freed only here.
        let b = unsafe {
            let n = (*p ^ PATTERN) as usize;
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n))
        };
        let n = b.len();
        for (i, &w) in b.iter().enumerate() {
            assert_eq!(w ^ PATTERN, (n - i) as u64, "rounds: object corrupted");
        }
        n as u64
    }
    fn words(rng: &mut Rng, shift: u64) -> usize {
        let mut n = 1usize << rng.below(shift);
        if rng.below(100) == 0 {
            n *= match rng.below(100) {
                0 => 10_000,
                1..=9 => 1000,
                _ => 100,
            };
        }
        n
    }

    let shared: Arc<Vec<AtomicPtr<u64>>> = Arc::new(
        (0..SHARED)
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect(),
    );
    let mut total = 0u64;
    let mut rng = Rng::new(31);
    for round in 0..rounds {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let mut rng = Rng::new((t * 43 + round * 1_000_003) as u64);
                    let mut allocs = 10_000 * (t % 8 + 1);
                    let mut retain = allocs / 2;
                    let mut made = 0u64;
                    let mut data: Vec<*mut u64> = Vec::new();
                    let mut kept: Vec<*mut u64> = Vec::with_capacity(retain);
                    while allocs > 0 || retain > 0 {
                        if retain == 0 || (allocs > 0 && rng.below(2) == 0) {
                            allocs -= 1;
                            let n = words(&mut rng, 5);
                            made += n as u64;
                            data.push(make(n));
                        } else {
                            retain -= 1;
                            let n = words(&mut rng, 7);
                            made += n as u64;
                            kept.push(make(n));
                        }
                        if rng.below(3) < 2 && !data.is_empty() {
                            let i = rng.below(data.len() as u64) as usize;
                            unmake(std::mem::replace(&mut data[i], std::ptr::null_mut()));
                        }
                        if rng.below(4) == 0 && !data.is_empty() {
                            let i = rng.below(data.len() as u64) as usize;
                            let j = rng.below(SHARED as u64) as usize;
                            data[i] = shared[j].swap(data[i], Ordering::AcqRel);
                        }
                    }
                    for p in kept.into_iter().chain(data) {
                        unmake(p);
                    }
                    made
                })
            })
            .collect();
        for h in handles {
            total = total.wrapping_add(h.join().expect("rounds thread"));
        }
        for (j, slot) in shared.iter().enumerate() {
            if round + 1 == rounds || rng.below(2) == 0 {
                let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
                black_box(unmake(p));
                black_box(j);
            }
        }
    }
    total
}
