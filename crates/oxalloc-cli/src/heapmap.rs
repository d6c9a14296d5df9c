//! The heap map the library writes (`OXALLOC_MAP_FILE`), parsed, with its totals.
//!
//! ```text
//! # oxalloc heap map v1
//! pid 1234
//! break 0x55d0c3a1b000
//! segment 0x<start> 0x<end> brk|mmap      segments newest first; a segment's records follow it
//! run 0x<addr> <bytes> <count> used|free <bucket>
//! top 0x<addr> <bytes>                    the free top chunk of the current segment
//! fence 0x<addr> <bytes>                  the end of a sealed segment
//! huge 0x<addr> <bytes>                   a block with a mapping of its own
//! stats heap_bytes=N in_use_bytes=N in_use_blocks=N free_blocks=N top_bytes=N mapped_bytes=N cached_bytes=N
//! ```
//!
//! A run is a stretch of neighbouring blocks of one state and size class; bucket `k` means block
//! sizes in `(2^(k-1), 2^k]`. Blocks held in thread caches count as used.

use std::collections::BTreeMap;
use std::fmt;

/// The first line of a map file.
pub const HEADER: &str = "# oxalloc heap map v1";

/// The bytes of a huge block's mapping in front of its block (the mapping record, less the
/// block's header word): the library counts a huge block in use with its block size, the mapping
/// length minus these (for alignments up to 16; the map gives only the mapping's length).
pub const HUGE_RECORD: u64 = 24;

/// One record inside a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Neighbouring blocks of one state and size class.
    Run {
        addr: u64,
        bytes: u64,
        count: u64,
        used: bool,
        bucket: u32,
    },
    /// The free top chunk.
    Top { addr: u64, bytes: u64 },
    /// A sealed segment's fence.
    Fence { addr: u64, bytes: u64 },
}

impl Record {
    /// First address and length.
    pub fn span(&self) -> (u64, u64) {
        match *self {
            Record::Run { addr, bytes, .. }
            | Record::Top { addr, bytes }
            | Record::Fence { addr, bytes } => (addr, bytes),
        }
    }
}

/// A segment and its records, in address order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub end: u64,
    /// From `mmap` rather than the break.
    pub mapped: bool,
    pub records: Vec<Record>,
}

impl Segment {
    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A block with a mapping of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Huge {
    pub addr: u64,
    pub bytes: u64,
}

/// The `stats` line: the library's own counters, written with the map.
pub type MapStats = BTreeMap<String, u64>;

/// A parsed heap map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeapMap {
    pub pid: Option<u32>,
    /// The program break when the map was written.
    pub brk: Option<u64>,
    /// Segments in file order (newest first).
    pub segments: Vec<Segment>,
    pub huge: Vec<Huge>,
    /// The `stats` line, if the map has one (a complete map ends with it).
    pub stats: Option<MapStats>,
}

/// A line the parser could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn hex(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("expected an address like 0x1234, got {s:?}"))?;
    u64::from_str_radix(digits, 16).map_err(|_| format!("bad address {s:?}"))
}

fn dec(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("expected a number, got {s:?}"))
}

impl HeapMap {
    /// Parses a map. Lines of unknown kinds are skipped (later versions may add some); a record
    /// that belongs to a segment before any `segment` line is an error.
    pub fn parse(text: &str) -> Result<HeapMap, ParseError> {
        let mut map = HeapMap::default();
        let mut saw_header = false;
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| ParseError {
                line: i + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('#') {
                if line.starts_with("# oxalloc heap map") {
                    saw_header = true;
                }
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let want = |n: usize| {
                if f.len() < n {
                    Err(err(format!(
                        "{} record needs {} fields, has {}",
                        f[0],
                        n - 1,
                        f.len() - 1
                    )))
                } else {
                    Ok(())
                }
            };
            match f[0] {
                "pid" => {
                    want(2)?;
                    map.pid = Some(dec(f[1]).map_err(err)? as u32);
                }
                "break" => {
                    want(2)?;
                    map.brk = Some(hex(f[1]).map_err(err)?);
                }
                "segment" => {
                    want(4)?;
                    let start = hex(f[1]).map_err(err)?;
                    let end = hex(f[2]).map_err(err)?;
                    if end < start {
                        return Err(err(format!("segment ends before it starts: {line}")));
                    }
                    map.segments.push(Segment {
                        start,
                        end,
                        mapped: f[3] == "mmap",
                        records: Vec::new(),
                    });
                }
                "run" | "top" | "fence" => {
                    let rec = match f[0] {
                        "run" => {
                            want(6)?;
                            let used = match f[4] {
                                "used" => true,
                                "free" => false,
                                other => {
                                    return Err(err(format!(
                                        "run state must be used or free, got {other:?}"
                                    )))
                                }
                            };
                            Record::Run {
                                addr: hex(f[1]).map_err(err)?,
                                bytes: dec(f[2]).map_err(err)?,
                                count: dec(f[3]).map_err(err)?,
                                used,
                                bucket: dec(f[5]).map_err(err)? as u32,
                            }
                        }
                        "top" => {
                            want(3)?;
                            Record::Top {
                                addr: hex(f[1]).map_err(err)?,
                                bytes: dec(f[2]).map_err(err)?,
                            }
                        }
                        _ => {
                            want(3)?;
                            Record::Fence {
                                addr: hex(f[1]).map_err(err)?,
                                bytes: dec(f[2]).map_err(err)?,
                            }
                        }
                    };
                    let seg = map
                        .segments
                        .last_mut()
                        .ok_or_else(|| err(format!("{} record before any segment", f[0])))?;
                    seg.records.push(rec);
                }
                "huge" => {
                    want(3)?;
                    map.huge.push(Huge {
                        addr: hex(f[1]).map_err(err)?,
                        bytes: dec(f[2]).map_err(err)?,
                    });
                }
                "stats" => {
                    let mut st = MapStats::new();
                    for kv in &f[1..] {
                        let (k, v) = kv
                            .split_once('=')
                            .ok_or_else(|| err(format!("expected name=value, got {kv:?}")))?;
                        st.insert(k.to_string(), dec(v).map_err(err)?);
                    }
                    map.stats = Some(st);
                }
                _ => {}
            }
        }
        if !saw_header {
            return Err(ParseError {
                line: 1,
                message: format!("not a heap map (no {HEADER:?} line)"),
            });
        }
        Ok(map)
    }

    /// The number of `run` records.
    pub fn run_count(&self) -> usize {
        self.segments
            .iter()
            .flat_map(|s| &s.records)
            .filter(|r| matches!(r, Record::Run { .. }))
            .count()
    }

    /// Totals computed from the records (not copied from the `stats` line).
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for seg in &self.segments {
            t.heap_bytes += seg.len();
            t.segments += 1;
            if seg.mapped {
                t.mapped_segments += 1;
            }
            let mut covered = 0;
            for r in &seg.records {
                covered += r.span().1;
                match *r {
                    Record::Run {
                        bytes,
                        count,
                        used: true,
                        bucket,
                        ..
                    } => {
                        t.used_bytes += bytes;
                        t.used_blocks += count;
                        let e = t.used_by_bucket.entry(bucket).or_default();
                        e.0 += bytes;
                        e.1 += count;
                    }
                    Record::Run {
                        bytes,
                        count,
                        used: false,
                        bucket,
                        ..
                    } => {
                        t.free_bytes += bytes;
                        t.free_blocks += count;
                        // Free neighbours always merge, so a free run is one block; should a run
                        // hold several, count its average block (a lower bound of the largest).
                        t.largest_free = t.largest_free.max(bytes / count.max(1));
                        let e = t.free_by_bucket.entry(bucket).or_default();
                        e.0 += bytes;
                        e.1 += count;
                    }
                    Record::Top { bytes, .. } => {
                        t.top_bytes += bytes;
                        t.largest_free = t.largest_free.max(bytes);
                    }
                    Record::Fence { bytes, .. } => t.fence_bytes += bytes,
                }
            }
            t.overhead_bytes += seg.len().saturating_sub(covered);
        }
        for h in &self.huge {
            t.huge_bytes += h.bytes;
            t.huge_blocks += 1;
        }
        t
    }

    /// Where the totals and the `stats` line disagree: one message per counter (empty when they
    /// all agree, or when the map has no `stats` line).
    pub fn mismatches(&self) -> Vec<String> {
        let Some(st) = &self.stats else {
            return Vec::new();
        };
        let t = self.totals();
        let mut out = Vec::new();
        for (name, ours) in t.stats_view() {
            if let Some(&theirs) = st.get(name) {
                if theirs != ours {
                    out.push(format!(
                        "{name}: the records add up to {ours}, the stats line says {theirs}"
                    ));
                }
            }
        }
        out
    }
}

/// What the records of a map add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Bytes and blocks of the used runs (thread caches' blocks included), huge blocks excluded.
    pub used_bytes: u64,
    pub used_blocks: u64,
    /// Bytes and blocks of the free runs (the free lists), top chunk excluded.
    pub free_bytes: u64,
    pub free_blocks: u64,
    pub top_bytes: u64,
    pub fence_bytes: u64,
    /// Segment records and reserved words: bytes of segments that no record covers.
    pub overhead_bytes: u64,
    /// The sum of the segments' sizes.
    pub heap_bytes: u64,
    pub segments: u64,
    pub mapped_segments: u64,
    pub huge_bytes: u64,
    pub huge_blocks: u64,
    /// The largest free block, the top chunk counted as one.
    pub largest_free: u64,
    /// Used bytes and blocks per bucket.
    pub used_by_bucket: BTreeMap<u32, (u64, u64)>,
    /// Free bytes and blocks per bucket.
    pub free_by_bucket: BTreeMap<u32, (u64, u64)>,
}

impl Totals {
    /// Bytes in use as the library counts them: used runs plus huge blocks (each its mapping
    /// less [`HUGE_RECORD`]).
    pub fn in_use_bytes(&self) -> u64 {
        self.used_bytes
            + self
                .huge_bytes
                .saturating_sub(HUGE_RECORD * self.huge_blocks)
    }

    /// Blocks in use as the library counts them: used runs' blocks plus huge blocks.
    pub fn in_use_blocks(&self) -> u64 {
        self.used_blocks + self.huge_blocks
    }

    /// Free bytes, the top chunk counted as free.
    pub fn free_with_top(&self) -> u64 {
        self.free_bytes + self.top_bytes
    }

    /// External fragmentation: 1 − largest free block / free bytes (top chunk counted as free);
    /// 0 when nothing is free.
    pub fn fragmentation(&self) -> f64 {
        let free = self.free_with_top();
        if free == 0 {
            0.0
        } else {
            1.0 - self.largest_free as f64 / free as f64
        }
    }

    /// Free bytes (top chunk included) as a fraction of the heap.
    pub fn free_fraction(&self) -> f64 {
        if self.heap_bytes == 0 {
            0.0
        } else {
            self.free_with_top() as f64 / self.heap_bytes as f64
        }
    }

    /// The totals under the names of the `stats` line.
    pub fn stats_view(&self) -> [(&'static str, u64); 6] {
        [
            ("heap_bytes", self.heap_bytes),
            ("in_use_bytes", self.in_use_bytes()),
            ("in_use_blocks", self.in_use_blocks()),
            ("free_blocks", self.free_blocks),
            ("top_bytes", self.top_bytes),
            ("mapped_bytes", self.huge_bytes),
        ]
    }
}

/// The block sizes of bucket `k`: `(2^(k-1), 2^k]`, as a label (`17–32 B`, `≤ 16 B`).
pub fn bucket_label(k: u32) -> String {
    let hi = 1u128 << k.min(63);
    if k <= 4 {
        return "≤ 16 B".to_string();
    }
    let lo = (hi >> 1) + 1;
    let unit = |n: u128| -> String {
        if n >= 1 << 30 && n % (1 << 30) == 0 {
            format!("{} GiB", n >> 30)
        } else if n >= 1 << 20 && n % (1 << 20) == 0 {
            format!("{} MiB", n >> 20)
        } else if n >= 1 << 10 && n % (1 << 10) == 0 {
            format!("{} KiB", n >> 10)
        } else {
            format!("{n} B")
        }
    };
    if hi <= 1024 {
        format!("{lo}–{hi} B")
    } else {
        format!("> {} – {}", unit(hi >> 1), unit(hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# oxalloc heap map v1
pid 42
break 0x2000
segment 0x1000 0x2000 brk
run 0x1010 48 3 used 4
run 0x1040 64 1 free 6
run 0x1080 2048 1 used 11
run 0x1880 1912 1 free 11
top 0x1ff8 0
segment 0x9000 0xa000 mmap
run 0x9010 4072 1 used 12
fence 0x9ff8 8
huge 0x100000 1048576
stats heap_bytes=8192 in_use_bytes=1054720 in_use_blocks=6 free_blocks=2 top_bytes=0 mapped_bytes=1048576 cached_bytes=48
";

    #[test]
    fn parses_every_record() {
        let m = HeapMap::parse(SAMPLE).expect("parses");
        assert_eq!(m.pid, Some(42));
        assert_eq!(m.brk, Some(0x2000));
        assert_eq!(m.segments.len(), 2);
        assert_eq!(m.segments[0].records.len(), 5);
        assert!(m.segments[1].mapped);
        assert_eq!(
            m.huge,
            [Huge {
                addr: 0x100000,
                bytes: 1 << 20
            }]
        );
        assert_eq!(m.run_count(), 5);
        assert_eq!(
            m.stats.as_ref().and_then(|s| s.get("cached_bytes")),
            Some(&48)
        );
    }

    #[test]
    fn totals_agree_with_the_stats_line() {
        let m = HeapMap::parse(SAMPLE).expect("parses");
        let t = m.totals();
        assert_eq!(t.used_bytes, 48 + 2048 + 4072);
        assert_eq!(t.in_use_blocks(), 6);
        assert_eq!(t.free_bytes, 64 + 1912);
        assert_eq!(t.largest_free, 1912);
        assert_eq!(t.heap_bytes, 8192);
        assert_eq!(t.fence_bytes, 8);
        assert_eq!(t.overhead_bytes, 16 + 8 + 16);
        assert!(m.mismatches().is_empty(), "{:?}", m.mismatches());
        let f = t.fragmentation();
        assert!((f - (1.0 - 1912.0 / 1976.0)).abs() < 1e-12);
    }

    #[test]
    fn disagreement_is_reported() {
        let text = SAMPLE.replace("free_blocks=2", "free_blocks=3");
        let m = HeapMap::parse(&text).expect("parses");
        let mm = m.mismatches();
        assert_eq!(mm.len(), 1);
        assert!(mm[0].starts_with("free_blocks"), "{mm:?}");
    }

    #[test]
    fn bad_input_is_refused_with_a_line_number() {
        assert!(HeapMap::parse("hello\n").is_err());
        let e = HeapMap::parse("# oxalloc heap map v1\nrun 0x10 16 1 used 4\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = HeapMap::parse("# oxalloc heap map v1\nsegment 0x10 zz brk\n").unwrap_err();
        assert!(e.message.contains("zz"), "{e}");
        let e =
            HeapMap::parse("# oxalloc heap map v1\nsegment 0x10 0x20 brk\nrun 0x10 16 1 busy 4\n")
                .unwrap_err();
        assert!(e.message.contains("busy"), "{e}");
    }

    #[test]
    fn bucket_labels() {
        assert_eq!(bucket_label(4), "≤ 16 B");
        assert_eq!(bucket_label(5), "17–32 B");
        assert_eq!(bucket_label(10), "513–1024 B");
        assert_eq!(bucket_label(11), "> 1 KiB – 2 KiB");
        assert_eq!(bucket_label(21), "> 1 MiB – 2 MiB");
    }
}
