//! Deterministic randomness, checksums and object helpers shared by the workloads.

/// SplitMix64: small, fast, and the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    /// Mostly small sizes: 60% 8-64 B, 30% 65-256 B, 9% 257 B-1 KiB, 1% 1-4 KiB.
    pub fn small_size(&mut self) -> usize {
        match self.below(100) {
            0..=59 => self.range(8, 64),
            60..=89 => self.range(65, 256),
            90..=98 => self.range(257, 1024),
            _ => self.range(1025, 4096),
        }
    }
}

/// Folds `v` into the running checksum `h` (order-dependent).
pub fn mix(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// A heap object of `size` bytes, every byte `tag` (one malloc of exactly `size`, filled).
pub fn object(size: usize, tag: u8) -> Box<[u8]> {
    vec_filled(size, tag).into_boxed_slice()
}

/// A `Vec<u8>` of `size` bytes, every byte `tag`, allocated with malloc (not calloc).
pub fn vec_filled(size: usize, tag: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    v.resize(size, tag);
    v
}

/// What freeing `obj` contributes to an order-independent checksum.
pub fn weigh(obj: &[u8]) -> u64 {
    let first = obj.first().copied().unwrap_or(0);
    let last = obj.last().copied().unwrap_or(0);
    (obj.len() as u64).wrapping_mul(u64::from(first) + 1) ^ (u64::from(last) << 32)
}

/// CPU time of the calling thread so far, in nanoseconds (time descheduled not counted).
pub fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Online CPUs.
pub fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
