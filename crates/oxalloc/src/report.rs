//! What oxalloc tells about a process: the statistics summary (to stderr or a file) and the heap
//! map (a text file the `oxalloc map` command draws). Written with `write(2)` from stack buffers.

use crate::global::{self, ProcessHeap};
use crate::tcache;
use oxalloc_core::walk::Item;
use oxalloc_os as os;

/// Where an [`Out`] writes.
#[derive(Clone, Copy)]
enum Sink {
    /// A descriptor, with write(2).
    Fd(i32),
    /// A C stream (`FILE *`), with `fwrite`.
    Stream(*mut core::ffi::c_void),
}

/// A writer that buffers on the stack and writes to a descriptor or a C stream.
struct Out {
    sink: Sink,
    buf: [u8; 4096],
    len: usize,
    /// Whether every write so far went through whole.
    ok: bool,
}

impl Out {
    fn new(fd: i32) -> Self {
        Out::to(Sink::Fd(fd))
    }

    fn to(sink: Sink) -> Self {
        Out {
            sink,
            buf: [0; 4096],
            len: 0,
            ok: true,
        }
    }

    #[link_section = ".text.oxalloc_cold.oxalloc.report.put"]
    #[inline(never)]
    fn put(&mut self, m: &os::MsgBuf) {
        let b = m.as_bytes();
        if self.len + b.len() > self.buf.len() {
            self.flush();
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    #[link_section = ".text.oxalloc_cold.oxalloc.report.flush"]
    #[inline(never)]
    fn flush(&mut self) {
        match self.sink {
            Sink::Fd(fd) => os::write_fd(fd, &self.buf[..self.len]),
            // SAFETY: a stream is only made from the `FILE *` `malloc_info` was given.
            Sink::Stream(f) => self.ok &= unsafe { os::write_stream(f, &self.buf[..self.len]) },
        }
        self.len = 0;
    }
}

/// The size-class bucket of a block for reports: `k` for sizes in `(2^(k-1), 2^k]`, from 16.
pub fn bucket(size: usize) -> u32 {
    let s = size.max(16);
    usize::BITS - (s - 1).leading_zeros()
}

/// Replaces `%p` in `pattern` by the process id; returns a NUL-terminated path.
fn path_with_pid(pattern: &[u8], out: &mut [u8; 256]) -> Option<usize> {
    let mut pid = os::MsgBuf::new();
    pid.dec(os::pid() as u64);
    let mut n = 0;
    let mut i = 0;
    while i < pattern.len() {
        let piece: &[u8] = if pattern[i] == b'%' && pattern.get(i + 1) == Some(&b'p') {
            i += 2;
            pid.as_bytes()
        } else {
            i += 1;
            &pattern[i - 1..i]
        };
        if n + piece.len() >= out.len() {
            return None;
        }
        out[n..n + piece.len()].copy_from_slice(piece);
        n += piece.len();
    }
    out[n] = 0;
    Some(n)
}

/// Opens the file a `%p` pattern names for writing.
#[link_section = ".text.oxalloc_cold.oxalloc.report.open_pattern"]
#[inline(never)]
pub fn open_pattern(pattern: &[u8]) -> Option<i32> {
    let mut path = [0u8; 256];
    let n = path_with_pid(pattern, &mut path)?;
    let c = core::ffi::CStr::from_bytes_with_nul(&path[..=n]).ok()?;
    let fd = os::open_write(c);
    (fd >= 0).then_some(fd)
}

fn line(m: &mut os::MsgBuf, name: &str, v: u64, unit: &str) {
    m.str("  ").str(name);
    for _ in name.len()..15 {
        m.str(" ");
    }
    m.dec(v).str(unit).str("\n");
}

/// Writes the statistics summary of the process heap to `fd`.
#[link_section = ".text.oxalloc_cold.oxalloc.report.write_stats"]
#[inline(never)]
pub fn write_stats(fd: i32) {
    let s = global::stats();
    let mut out = Out::new(fd);
    let mut m = os::MsgBuf::new();
    m.str("oxalloc: stats for pid ")
        .dec(os::pid() as u64)
        .str("\n");
    line(
        &mut m,
        "heap now",
        s.heap_bytes as u64,
        " bytes on the break or in segments",
    );
    line(&mut m, "heap peak", s.peak_heap_bytes as u64, " bytes");
    line(
        &mut m,
        "in use",
        s.in_use_bytes as u64,
        " bytes (thread caches' blocks included)",
    );
    line(&mut m, "in use peak", s.peak_in_use_bytes as u64, " bytes");
    line(&mut m, "live blocks", s.in_use_blocks as u64, "");
    out.put(&m);
    let mut m = os::MsgBuf::new();
    line(&mut m, "allocations", s.allocs, " (by the heap)");
    line(&mut m, "frees", s.frees, " (by the heap)");
    line(
        &mut m,
        "free blocks",
        s.free_blocks as u64,
        " in the free lists",
    );
    line(&mut m, "top chunk", s.top_bytes as u64, " bytes");
    line(&mut m, "break grown", s.grow_calls, " times");
    line(&mut m, "break shrunk", s.shrink_calls, " times");
    out.put(&m);
    let mut m = os::MsgBuf::new();
    line(
        &mut m,
        "given back",
        s.released_bytes,
        " bytes by shrinking the break",
    );
    line(&mut m, "pages advised", s.advised_bytes, " bytes (madvise)");
    line(&mut m, "mappings made", s.map_calls, "");
    line(
        &mut m,
        "mapped now",
        s.mapped_bytes as u64,
        " bytes in huge blocks",
    );
    line(
        &mut m,
        "huge blocks",
        s.huge_blocks as u64,
        " with a mapping of their own",
    );
    line(&mut m, "segments", s.segments, "");
    out.put(&m);
    let t = tcache::totals();
    let mut m = os::MsgBuf::new();
    line(&mut m, "thread caches", t[0], " made");
    line(&mut m, "caches alive", t[1], "");
    line(&mut m, "cached blocks", t[2], "");
    line(&mut m, "cached bytes", t[3], "");
    line(&mut m, "cache refills", t[4], "");
    line(&mut m, "cache flushes", t[5], "");
    line(&mut m, "remote frees", t[6], " received from other threads");
    line(
        &mut m,
        "groups reused",
        t[7],
        " (a cache took back blocks it gave)",
    );
    line(&mut m, "groups moved", t[8], " (to another thread's cache)");
    line(
        &mut m,
        "free phases",
        t[9],
        " (frees in bulk, headers prefetched)",
    );
    out.put(&m);
    let (taken, contended, sleeps) = global::lock_counts();
    let mut m = os::MsgBuf::new();
    line(&mut m, "lock taken", taken, " times");
    line(&mut m, "lock contended", contended, " times (found held)");
    line(&mut m, "lock sleeps", sleeps, " (waits in the kernel)");
    out.put(&m);
    // Blocks in use per size class, from a walk of the heap.
    let mut counts = [0u64; 48];
    global::with_heap(|h: &mut ProcessHeap| {
        h.walk(|it| match it {
            Item::Block {
                size, used: true, ..
            }
            | Item::Huge { size, .. } => counts[bucket(size).min(47) as usize] += 1,
            _ => {}
        })
    });
    let mut m = os::MsgBuf::new();
    m.str("  in use by size (block bytes <= N: count)\n   ");
    let mut col = 0;
    for (k, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        m.str(" ").dec(1u64 << k).str(":").dec(c);
        col += 1;
        if col % 8 == 0 {
            m.str("\n   ");
            out.put(&m);
            m = os::MsgBuf::new();
        }
    }
    m.str("\n");
    out.put(&m);
    out.flush();
}

/// Writes the heap map to `fd`: one line per segment, per run of neighbouring blocks of the
/// same state and size class, per top chunk, fence and huge block.
#[link_section = ".text.oxalloc_cold.oxalloc.report.write_map"]
#[inline(never)]
pub fn write_map(fd: i32, h: &ProcessHeap) {
    let mut out = Out::new(fd);
    let mut m = os::MsgBuf::new();
    m.str("# oxalloc heap map v1\npid ")
        .dec(os::pid() as u64)
        .str("\nbreak ");
    m.hex(os::current_break() as u64).str("\n");
    out.put(&m);
    // The pending run: (start, bytes, count, used, bucket).
    type Run = (usize, usize, u64, bool, u32);
    let mut run: Option<Run> = None;
    #[link_section = ".text.oxalloc_cold.oxalloc.report.flush_run"]
    #[inline(never)]
    fn flush_run(out: &mut Out, r: Run) {
        let mut m = os::MsgBuf::new();
        m.str("run ")
            .hex(r.0 as u64)
            .str(" ")
            .dec(r.1 as u64)
            .str(" ")
            .dec(r.2);
        m.str(if r.3 { " used " } else { " free " })
            .dec(r.4 as u64)
            .str("\n");
        out.put(&m);
    }
    // One item of the walk (a function, not a closure, so that it goes with the cold code).
    #[link_section = ".text.oxalloc_cold.oxalloc.report.map_item"]
    #[inline(never)]
    fn map_item(out: &mut Out, run: &mut Option<Run>, it: Item) {
        if let Item::Block {
            addr, size, used, ..
        } = it
        {
            let b = bucket(size);
            match run {
                Some(ref mut r) if r.3 == used && r.4 == b && r.0 + r.1 == addr => {
                    r.1 += size;
                    r.2 += 1;
                }
                _ => {
                    if let Some(r) = run.take() {
                        flush_run(out, r);
                    }
                    *run = Some((addr, size, 1, used, b));
                }
            }
            return;
        }
        if let Some(r) = run.take() {
            flush_run(out, r);
        }
        let mut m = os::MsgBuf::new();
        match it {
            Item::Segment { start, end, mapped } => {
                m.str("segment ").hex(start as u64).str(" ").hex(end as u64);
                m.str(if mapped { " mmap\n" } else { " brk\n" });
            }
            Item::Top { addr, size } => {
                m.str("top ")
                    .hex(addr as u64)
                    .str(" ")
                    .dec(size as u64)
                    .str("\n");
            }
            Item::Fence { addr, size } => {
                m.str("fence ")
                    .hex(addr as u64)
                    .str(" ")
                    .dec(size as u64)
                    .str("\n");
            }
            Item::Huge { addr, size } => {
                m.str("huge ")
                    .hex(addr as u64)
                    .str(" ")
                    .dec(size as u64)
                    .str("\n");
            }
            Item::Block { .. } => {}
        }
        out.put(&m);
    }
    h.walk(|it| map_item(&mut out, &mut run, it));
    if let Some(r) = run.take() {
        flush_run(&mut out, r);
    }
    let s = h.stats();
    let t = tcache::totals();
    let mut m = os::MsgBuf::new();
    m.str("stats heap_bytes=").dec(s.heap_bytes as u64);
    m.str(" in_use_bytes=").dec(s.in_use_bytes as u64);
    m.str(" in_use_blocks=").dec(s.in_use_blocks as u64);
    m.str(" free_blocks=").dec(s.free_blocks as u64);
    m.str(" top_bytes=").dec(s.top_bytes as u64);
    m.str(" mapped_bytes=").dec(s.mapped_bytes as u64);
    m.str(" cached_bytes=").dec(t[3]).str("\n");
    out.put(&m);
    out.flush();
}

/// Writes glibc's `malloc_info` XML document about the process heap to the C stream `stream`,
/// with glibc's element names so that tools reading glibc's output read this one: one `heap`
/// (oxalloc has one), its free blocks by size range (`sizes`), the blocks held by thread caches
/// and their deferred groups as `fast` (free, kept for speed, like glibc's fast bins), the heap's
/// free blocks and top chunk as `rest`, huge blocks as `mmap`, and the heap's size now and at
/// its peak. Returns whether the stream took every byte.
///
/// # Safety
/// `stream` is a `FILE *` open for writing. The heap's lock is not held while writing to it
/// (the stream may allocate).
pub unsafe fn write_malloc_info(stream: *mut core::ffi::c_void) -> bool {
    let s = global::stats();
    let t = tcache::totals();
    // Free blocks of the heap's lists by size bucket: (count, bytes); the top chunk apart.
    let mut free = [(0u64, 0u64); 48];
    let mut top = 0u64;
    global::with_heap(|h: &mut ProcessHeap| {
        h.walk(|it| match it {
            Item::Block {
                size, used: false, ..
            } => {
                let b = &mut free[bucket(size).min(47) as usize];
                b.0 += 1;
                b.1 += size as u64;
            }
            Item::Top { size, .. } => top += size as u64,
            _ => {}
        })
    });
    let (rest_count, rest_bytes) = free
        .iter()
        .fold((u64::from(top > 0), top), |a, b| (a.0 + b.0, a.1 + b.1));
    let mut out = Out::to(Sink::Stream(stream));
    let mut m = os::MsgBuf::new();
    m.str("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    out.put(&m);
    for (k, &(count, bytes)) in free.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let mut m = os::MsgBuf::new();
        let from = if k <= 4 { 1 } else { (1u64 << (k - 1)) + 1 };
        m.str("  <size from=\"")
            .dec(from)
            .str("\" to=\"")
            .dec(1u64 << k)
            .str("\" total=\"")
            .dec(bytes)
            .str("\" count=\"")
            .dec(count)
            .str("\"/>\n");
        out.put(&m);
    }
    let totals = |m: &mut os::MsgBuf| {
        total(m, "fast", t[2], t[3]);
        total(m, "rest", rest_count, rest_bytes);
    };
    let systems = |m: &mut os::MsgBuf| {
        let heap = s.heap_bytes as u64;
        m.str("<system type=\"current\" size=\"")
            .dec(heap)
            .str("\"/>\n<system type=\"max\" size=\"")
            .dec(s.peak_heap_bytes as u64)
            .str("\"/>\n<aspace type=\"total\" size=\"")
            .dec(heap)
            .str("\"/>\n<aspace type=\"mprotect\" size=\"")
            .dec(heap)
            .str("\"/>\n");
    };
    let mut m = os::MsgBuf::new();
    m.str("</sizes>\n");
    totals(&mut m);
    systems(&mut m);
    m.str("</heap>\n");
    out.put(&m);
    let mut m = os::MsgBuf::new();
    totals(&mut m);
    total(&mut m, "mmap", s.huge_blocks as u64, s.mapped_bytes as u64);
    systems(&mut m);
    m.str("</malloc>\n");
    out.put(&m);
    out.flush();
    out.ok
}

/// One `<total type=... count=... size=.../>` line of `malloc_info`.
fn total(m: &mut os::MsgBuf, kind: &str, count: u64, size: u64) {
    m.str("<total type=\"")
        .str(kind)
        .str("\" count=\"")
        .dec(count)
        .str("\" size=\"")
        .dec(size)
        .str("\"/>\n");
}
