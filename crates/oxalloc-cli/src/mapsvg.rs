//! A heap map drawn as SVG, for a person to read at a glance.
//!
//! From the top: a title with the program and the headline numbers; one bar for the whole heap
//! (in use by size class, free, top chunk); each segment's address space as rows of a band (the
//! address grows left to right, then down; one `<rect>` per run record, split where it wraps to
//! the next row), mapped segments and huge blocks in bands of their own; a legend table (size
//! classes with their blocks and bytes) and the totals, checked against the map's `stats` line,
//! with the fragmentation figure.
//!
//! For tools: every run's rectangles carry `data-run="N"` (the run's index in the file, from 0);
//! the `<g id="totals">` element carries the totals as `data-*` attributes (`data-in-use-bytes`,
//! `data-in-use-blocks`, `data-free-bytes`, `data-free-blocks`, `data-top-bytes`,
//! `data-heap-bytes`, `data-mapped-bytes`, `data-largest-free`, `data-fragmentation`,
//! `data-runs`), computed from the records, not copied from the `stats` line.

use std::fmt::Write as _;

use crate::heapmap::{bucket_label, HeapMap, Record, Segment, Totals};
use crate::{grouped, human_bytes};

/// How to draw.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Picture width in pixels.
    pub width: u32,
    /// About how many rows of address space to draw (the bytes per row are a power of two, at
    /// least 4 KiB, chosen so that the segments fit in about this many rows).
    pub max_rows: u64,
    /// What ran (shown under the title).
    pub command: String,
    /// When the map was taken (`at exit`, `on SIGUSR1 after 2 s`).
    pub when: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            width: 1200,
            max_rows: 40,
            command: String::new(),
            when: "at exit".to_string(),
        }
    }
}

const LEFT: f64 = 118.0;
const RIGHT: f64 = 44.0;
const ROW_H: f64 = 18.0;
const ROW_GAP: f64 = 4.0;

/// Colours of the size classes, from bucket 4 (≤ 16 B) up; the last one also serves larger
/// buckets. Small blocks are cool, large ones warm then dark.
const PALETTE: [&str; 14] = [
    "#3b4cc0", "#2c7fb8", "#1fa3a3", "#41ab5d", "#93c83e", "#d9c21f", "#f39c12", "#e8602c",
    "#d7301f", "#b0174f", "#8e1b7a", "#6a1b9a", "#4a148c", "#2d0a4e",
];

/// The colour of bucket `k`.
pub fn bucket_colour(k: u32) -> &'static str {
    let i = (k.max(4) - 4) as usize;
    PALETTE[i.min(PALETTE.len() - 1)]
}

/// Escapes text for XML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// Bytes per row: a power of two, at least 4 KiB, with `total` bytes in about `max_rows` rows.
pub fn bytes_per_row(total: u64, max_rows: u64) -> u64 {
    let want = total.div_ceil(max_rows.max(1));
    want.max(4096).next_power_of_two()
}

/// The pieces of `[off, off + len)` (offsets in a segment) on rows of `bpr` bytes: (row, start
/// within the row, end within the row).
fn pieces(off: u64, len: u64, bpr: u64) -> Vec<(u64, u64, u64)> {
    if len == 0 {
        return vec![(off / bpr, off % bpr, off % bpr)];
    }
    let end = off + len;
    (off / bpr..=(end - 1) / bpr)
        .map(|r| {
            let lo = off.max(r * bpr) - r * bpr;
            let hi = end.min((r + 1) * bpr) - r * bpr;
            (r, lo, hi)
        })
        .collect()
}

struct Canvas {
    body: String,
    y: f64,
    width: f64,
}

impl Canvas {
    fn band_width(&self) -> f64 {
        self.width - LEFT - RIGHT
    }

    fn text(&mut self, x: f64, y: f64, attrs: &str, text: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" {attrs}>{}</text>"#,
            esc(text)
        );
    }
}

/// Draws `map` as an SVG document.
pub fn render(map: &HeapMap, opts: &RenderOptions) -> String {
    let t = map.totals();
    let width = f64::from(opts.width.max(600));
    let mut c = Canvas {
        body: String::new(),
        y: 0.0,
        width,
    };
    header(&mut c, map, &t, opts);
    summary_bar(&mut c, &t);

    let all_len: u64 = map.segments.iter().map(Segment::len).sum();
    let bpr = bytes_per_row(all_len, opts.max_rows);
    let mut run_index = 0usize;
    let brk_segs: Vec<&Segment> = map.segments.iter().filter(|s| !s.mapped).collect();
    let map_segs: Vec<&Segment> = map.segments.iter().filter(|s| s.mapped).collect();
    // Run indices follow the file order, whichever band a segment is drawn in.
    let mut first_run = Vec::new();
    for s in &map.segments {
        first_run.push(run_index);
        run_index += s
            .records
            .iter()
            .filter(|r| matches!(r, Record::Run { .. }))
            .count();
    }
    let index_of = |s: &Segment| {
        map.segments
            .iter()
            .position(|x| std::ptr::eq(x, s))
            .map(|i| first_run[i])
            .unwrap_or(0)
    };

    section_title(
        &mut c,
        &format!(
            "Heap on the break — 1 row = {} · addresses grow left to right, then down",
            human_bytes(bpr)
        ),
    );
    if brk_segs.is_empty() {
        c.text(
            LEFT,
            c.y + 14.0,
            r#"class="note""#,
            "(no segment on the break)",
        );
        c.y += 24.0;
    }
    let brk_inside = map
        .brk
        .is_some_and(|b| brk_segs.iter().any(|s| s.start <= b && b <= s.end));
    for (i, s) in brk_segs.iter().enumerate() {
        draw_segment(&mut c, s, i, bpr, index_of(s), map.brk);
    }
    if let (Some(b), false) = (map.brk, brk_inside) {
        c.text(
            LEFT,
            c.y + 12.0,
            r#"class="note""#,
            &format!("break at 0x{b:x}: outside the heap's segments (the program moved it)"),
        );
        c.y += 20.0;
    }
    if !map_segs.is_empty() {
        section_title(
            &mut c,
            &format!(
                "Mapped segments (mmap: the break could not grow) — 1 row = {}",
                human_bytes(bpr)
            ),
        );
        for (i, s) in map_segs.iter().enumerate() {
            draw_segment(&mut c, s, i, bpr, index_of(s), None);
        }
    }
    if !map.huge.is_empty() {
        huge_band(&mut c, map);
    }
    legend(&mut c, &t, map);

    let height = c.y + 16.0;
    let mut out = String::with_capacity(c.body.len() + 4096);
    let _ = writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Verdana, Arial, sans-serif" font-size="12" data-pid="{pid}">"#,
        w = width,
        h = height.ceil(),
        pid = map.pid.map(|p| p.to_string()).unwrap_or_default()
    );
    out.push_str(&defs());
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{width}" height="{}" fill="#ffffff"/>"##,
        height.ceil()
    );
    out.push_str(&c.body);
    out.push_str("</svg>\n");
    out
}

fn defs() -> String {
    let mut s = String::from(
        r##"<defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f3f3"/><rect width="2" height="6" fill="#b9b9b9"/></pattern>
<pattern id="dots" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#eef4fb"/><circle cx="3" cy="3" r="1.2" fill="#8fb0d3"/></pattern>
</defs>
<style>
.f{fill:url(#hatch);stroke:#9a9a9a;stroke-width:0.4}
.top{fill:url(#dots);stroke:#6f93b8;stroke-width:0.6}
.fence{fill:#000000}
.band{fill:#555555}
.huge{fill:#7f8c8d;stroke:#2c3e50;stroke-width:1}
.brk{stroke:#e0001b;stroke-width:2.5}
.title{font-size:20px;font-weight:bold;fill:#111111}
.sub{font-size:13px;fill:#444444}
.head{font-size:14px;font-weight:bold;fill:#222222}
.seg{font-size:12px;fill:#333333}
.addr{font-family:DejaVu Sans Mono, Menlo, Consolas, monospace;font-size:10px;fill:#666666}
.note{font-size:12px;fill:#a03000}
.num{font-family:DejaVu Sans Mono, Menlo, Consolas, monospace;font-size:12px;fill:#222222}
.ok{fill:#1a7f37;font-weight:bold}
.bad{fill:#cf222e;font-weight:bold}
"##,
    );
    for k in 4..(4 + PALETTE.len() as u32) {
        let _ = writeln!(s, ".u{k}{{fill:{}}}", bucket_colour(k));
    }
    s.push_str("</style>\n");
    s
}

fn header(c: &mut Canvas, map: &HeapMap, t: &Totals, opts: &RenderOptions) {
    let pid = map.pid.map(|p| format!(" — pid {p}")).unwrap_or_default();
    c.text(
        20.0,
        30.0,
        r#"class="title""#,
        &format!("oxalloc heap map{pid}"),
    );
    let mut sub = String::new();
    if !opts.command.is_empty() {
        sub.push_str(&opts.command);
        sub.push_str(" · ");
    }
    sub.push_str("map taken ");
    sub.push_str(&opts.when);
    c.text(20.0, 50.0, r#"class="sub""#, &sub);
    let seg_word = if t.segments == 1 {
        "segment"
    } else {
        "segments"
    };
    let mut line = format!(
        "heap {} in {} {seg_word} · in use {} ({:.1} %) in {} blocks · free {} + top chunk {} ({:.1} %) · fragmentation {:.2}",
        human_bytes(t.heap_bytes),
        t.segments,
        human_bytes(t.used_bytes),
        pct(t.used_bytes, t.heap_bytes),
        grouped(t.used_blocks),
        human_bytes(t.free_bytes),
        human_bytes(t.top_bytes),
        t.free_fraction() * 100.0,
        t.fragmentation(),
    );
    if t.huge_blocks > 0 {
        let _ = write!(
            line,
            " · {} huge block(s), {}",
            t.huge_blocks,
            human_bytes(t.huge_bytes)
        );
    }
    c.text(20.0, 70.0, r#"class="sub""#, &line);
    c.y = 80.0;
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// One bar for the whole heap: in use by size class, then free, top chunk and overhead.
fn summary_bar(c: &mut Canvas, t: &Totals) {
    let y = c.y + 8.0;
    let h = 22.0;
    let bw = c.band_width();
    let total = t.heap_bytes.max(1) as f64;
    let _ = writeln!(
        c.body,
        r#"<g id="summary-bar"><text x="{:.1}" y="{:.1}" class="seg" text-anchor="end">whole heap</text>"#,
        LEFT - 8.0,
        y + 15.0
    );
    let mut x = LEFT;
    let mut seg = |c: &mut Canvas, class: &str, bytes: u64, label: &str| {
        if bytes == 0 {
            return;
        }
        let w = bytes as f64 / total * bw;
        let _ = writeln!(
            c.body,
            r#"<rect class="{class}" x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{h}" data-kind="summary"><title>{}</title></rect>"#,
            esc(label)
        );
        x += w;
    };
    for (&k, &(bytes, blocks)) in &t.used_by_bucket {
        seg(
            c,
            &format!("u{}", k.clamp(4, 3 + PALETTE.len() as u32)),
            bytes,
            &format!(
                "in use, {}: {} in {} blocks",
                bucket_label(k),
                human_bytes(bytes),
                grouped(blocks)
            ),
        );
    }
    seg(
        c,
        "f",
        t.free_bytes,
        &format!("free blocks: {}", human_bytes(t.free_bytes)),
    );
    seg(
        c,
        "top",
        t.top_bytes,
        &format!("top chunk: {}", human_bytes(t.top_bytes)),
    );
    seg(
        c,
        "band",
        t.overhead_bytes + t.fence_bytes,
        "segment records, fences and reserved words",
    );
    let _ = writeln!(
        c.body,
        r##"<rect x="{LEFT}" y="{y:.1}" width="{bw:.2}" height="{h}" fill="none" stroke="#333333" stroke-width="1"/>"##
    );
    let label_y = y + h + 14.0;
    c.text(
        LEFT,
        label_y,
        r#"class="seg""#,
        &format!(
            "◀ in use {:.1} % (coloured by size class)",
            pct(t.used_bytes, t.heap_bytes)
        ),
    );
    c.text(
        LEFT + bw,
        label_y,
        r#"class="seg" text-anchor="end""#,
        &format!(
            "free {:.1} % + top chunk {:.1} % ▶",
            pct(t.free_bytes, t.heap_bytes),
            pct(t.top_bytes, t.heap_bytes)
        ),
    );
    c.body.push_str("</g>\n");
    c.y = label_y + 8.0;
}

fn section_title(c: &mut Canvas, title: &str) {
    c.y += 22.0;
    c.text(20.0, c.y, r#"class="head""#, title);
    c.y += 6.0;
}

fn draw_segment(
    c: &mut Canvas,
    s: &Segment,
    i: usize,
    bpr: u64,
    first_run: usize,
    brk: Option<u64>,
) {
    let has_top = s.records.iter().any(|r| matches!(r, Record::Top { .. }));
    let has_fence = s.records.iter().any(|r| matches!(r, Record::Fence { .. }));
    let state = if has_top {
        "current segment (ends with the top chunk)"
    } else if has_fence {
        "sealed (ends with a fence)"
    } else {
        "segment"
    };
    c.y += 18.0;
    c.text(
        20.0,
        c.y,
        r#"class="seg""#,
        &format!(
            "#{} · {} · 0x{:x} – 0x{:x} · {} · {}",
            i + 1,
            if s.mapped { "mmap" } else { "brk" },
            s.start,
            s.end,
            human_bytes(s.len()),
            state
        ),
    );
    c.y += 6.0;
    let bw = c.band_width();
    let rows = s.len().div_ceil(bpr).max(1);
    let top_y = c.y;
    let row_y = |r: u64| top_y + r as f64 * (ROW_H + ROW_GAP);
    let _ = writeln!(
        c.body,
        r#"<g class="segment" data-start="0x{:x}" data-end="0x{:x}" data-mapped="{}">"#,
        s.start, s.end, s.mapped
    );
    // Row backgrounds (segment records and reserved words show through) and addresses.
    for r in 0..rows {
        let y = row_y(r);
        let row_bytes = (s.len() - r * bpr).min(bpr);
        let w = row_bytes as f64 / bpr as f64 * bw;
        let _ = writeln!(
            c.body,
            r#"<rect class="band" x="{LEFT}" y="{y:.1}" width="{w:.2}" height="{ROW_H}"/>"#
        );
        let _ = writeln!(
            c.body,
            r#"<text x="{:.1}" y="{:.1}" class="addr" text-anchor="end">0x{:x}</text>"#,
            LEFT - 6.0,
            y + 13.0,
            s.start + r * bpr
        );
    }
    let x_of = |within: u64| LEFT + within as f64 / bpr as f64 * bw;
    let mut run = first_run;
    for rec in &s.records {
        let (addr, len) = rec.span();
        let off = addr.saturating_sub(s.start);
        let (class, title, run_attr) = match *rec {
            Record::Run {
                bytes,
                count,
                used,
                bucket,
                ..
            } => {
                let class = if used {
                    format!("u{}", bucket.clamp(4, 3 + PALETTE.len() as u32))
                } else {
                    "f".to_string()
                };
                let title = format!(
                    "{} · {} block{} · {} · class {} · 0x{addr:x}",
                    if used { "in use" } else { "free" },
                    grouped(count),
                    if count == 1 { "" } else { "s" },
                    human_bytes(bytes),
                    bucket_label(bucket)
                );
                let attr = format!(r#" data-run="{run}""#);
                run += 1;
                (class, title, attr)
            }
            Record::Top { bytes, .. } => (
                "top".to_string(),
                format!("top chunk · {} · 0x{addr:x}", human_bytes(bytes)),
                r#" data-kind="top""#.to_string(),
            ),
            Record::Fence { bytes, .. } => (
                "fence".to_string(),
                format!("fence · {bytes} B · 0x{addr:x}"),
                r#" data-kind="fence""#.to_string(),
            ),
        };
        let is_fence = matches!(rec, Record::Fence { .. });
        let is_top = matches!(rec, Record::Top { .. });
        if is_top && len == 0 {
            continue;
        }
        for (r, lo, hi) in pieces(off, len, bpr) {
            let mut x = x_of(lo);
            let mut w = x_of(hi) - x;
            if is_fence && w < 2.0 {
                // A fence is a few bytes: draw it as a visible marker ending where it ends.
                x = (x + w - 2.0).max(LEFT);
                w = 2.0;
            }
            let _ = writeln!(
                c.body,
                r#"<rect class="{class}" x="{x:.2}" y="{:.1}" width="{w:.3}" height="{ROW_H}"{run_attr}><title>{}</title></rect>"#,
                row_y(r),
                esc(&title)
            );
            if is_top && w > 70.0 {
                c.text(
                    x + w / 2.0,
                    row_y(r) + 13.0,
                    r##"font-size="11" fill="#34506e" text-anchor="middle""##,
                    "top chunk",
                );
            }
        }
    }
    if let Some(b) = brk.filter(|&b| s.start <= b && b <= s.end) {
        let off = b - s.start;
        // The break at a row boundary belongs to the end of the row before.
        let (r, within) = if off > 0 && off % bpr == 0 {
            (off / bpr - 1, bpr)
        } else {
            (off / bpr, off % bpr)
        };
        let x = x_of(within);
        let y = row_y(r);
        let _ = writeln!(
            c.body,
            r#"<line class="brk" x1="{x:.2}" y1="{:.1}" x2="{x:.2}" y2="{:.1}" data-kind="break"><title>program break 0x{b:x}</title></line>"#,
            y - 4.0,
            y + ROW_H + 4.0
        );
        // The label goes right of the line: past the break the row is empty (or the margin).
        let _ = writeln!(
            c.body,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="#e0001b">break</text>"##,
            x + 4.0,
            y + 13.0
        );
    }
    c.body.push_str("</g>\n");
    c.y = row_y(rows) - ROW_GAP;
}

fn huge_band(c: &mut Canvas, map: &HeapMap) {
    section_title(
        c,
        "Huge blocks (a mapping each) — widths proportional to each other, not to the rows above",
    );
    c.y += 8.0;
    let bw = c.band_width();
    let total: u64 = map.huge.iter().map(|h| h.bytes).sum::<u64>().max(1);
    let gap = 4.0;
    let usable = bw - gap * (map.huge.len().saturating_sub(1)) as f64;
    let mut x = LEFT;
    let _ = writeln!(c.body, r#"<g id="huge">"#);
    for h in &map.huge {
        let w = (h.bytes as f64 / total as f64 * usable).max(3.0);
        let _ = writeln!(
            c.body,
            r#"<rect class="huge" x="{x:.2}" y="{:.1}" width="{w:.2}" height="{ROW_H}" data-kind="huge"><title>huge block 0x{:x} · {}</title></rect>"#,
            c.y,
            h.addr,
            human_bytes(h.bytes)
        );
        if w > 70.0 {
            c.text(
                x + w / 2.0,
                c.y + 13.0,
                r##"font-size="11" fill="#ffffff" text-anchor="middle""##,
                &human_bytes(h.bytes),
            );
        }
        x += w + gap;
    }
    c.body.push_str("</g>\n");
    c.y += ROW_H;
}

/// The size-class table (left) and the totals checked against the stats line (right).
fn legend(c: &mut Canvas, t: &Totals, map: &HeapMap) {
    section_title(c, "Legend and totals");
    let top = c.y + 6.0;

    // Special swatches.
    let mut x = 20.0;
    let y = top + 4.0;
    let swatch = |c: &mut Canvas, x: &mut f64, class: &str, label: &str| {
        let _ = writeln!(
            c.body,
            r#"<rect class="{class}" x="{:.1}" y="{y:.1}" width="22" height="14" data-kind="legend"/>"#,
            *x
        );
        c.text(*x + 28.0, y + 11.5, r#"class="seg""#, label);
        *x += 28.0 + label.chars().count() as f64 * 6.6 + 22.0;
    };
    swatch(c, &mut x, "u6", "in use (colour = size class)");
    swatch(c, &mut x, "f", "free block (in a free list)");
    swatch(c, &mut x, "top", "top chunk (free, at the end)");
    swatch(c, &mut x, "band", "segment record / reserved");
    swatch(c, &mut x, "fence", "fence");
    let _ = writeln!(
        c.body,
        r#"<line class="brk" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        x + 4.0,
        y - 2.0,
        x + 4.0,
        y + 16.0
    );
    c.text(x + 12.0, y + 11.5, r#"class="seg""#, "program break");

    // Size-class table.
    let ty = top + 40.0;
    // Swatch, label, then the right edges of the four number columns.
    let cols = [20.0, 46.0, 275.0, 375.0, 475.0, 570.0];
    let heads = [
        "",
        "block size",
        "used blocks",
        "used bytes",
        "free blocks",
        "free bytes",
    ];
    for (i, h) in heads.iter().enumerate() {
        let anchor = if i >= 2 { r#" text-anchor="end""# } else { "" };
        c.text(cols[i], ty, &format!(r#"class="head"{anchor}"#), h);
    }
    let mut buckets: Vec<u32> = t
        .used_by_bucket
        .keys()
        .chain(t.free_by_bucket.keys())
        .copied()
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    let mut row_y = ty + 6.0;
    let _ = writeln!(c.body, r#"<g id="size-classes">"#);
    for &k in &buckets {
        let (ub, un) = t.used_by_bucket.get(&k).copied().unwrap_or_default();
        let (fb, fnb) = t.free_by_bucket.get(&k).copied().unwrap_or_default();
        let _ = writeln!(
            c.body,
            r#"<rect class="u{}" x="{:.1}" y="{:.1}" width="18" height="13" data-bucket="{k}"/>"#,
            k.clamp(4, 3 + PALETTE.len() as u32),
            cols[0],
            row_y + 3.0
        );
        let ry = row_y + 14.0;
        c.text(cols[1], ry, r#"class="seg""#, &bucket_label(k));
        for (i, v) in [grouped(un), human_bytes(ub), grouped(fnb), human_bytes(fb)]
            .iter()
            .enumerate()
        {
            c.text(cols[i + 2], ry, r#"class="num" text-anchor="end""#, v);
        }
        row_y += 17.0;
    }
    c.body.push_str("</g>\n");
    let table_end = row_y + 6.0;

    // Totals, checked against the stats line.
    let tx = 620.0_f64.min(c.width - 560.0).max(600.0);
    let st = map.stats.as_ref();
    let _ = writeln!(
        c.body,
        r#"<g id="totals" data-in-use-bytes="{}" data-in-use-blocks="{}" data-free-bytes="{}" data-free-blocks="{}" data-top-bytes="{}" data-heap-bytes="{}" data-mapped-bytes="{}" data-largest-free="{}" data-fragmentation="{:.4}" data-free-fraction="{:.4}" data-runs="{}" data-cached-bytes="{}">"#,
        t.in_use_bytes(),
        t.in_use_blocks(),
        t.free_bytes,
        t.free_blocks,
        t.top_bytes,
        t.heap_bytes,
        t.huge_bytes,
        t.largest_free,
        t.fragmentation(),
        t.free_fraction(),
        map.run_count(),
        st.and_then(|s| s.get("cached_bytes"))
            .map(|v| v.to_string())
            .unwrap_or_default()
    );
    c.text(tx, ty, r#"class="head""#, "totals");
    c.text(
        tx + 320.0,
        ty,
        r#"class="head" text-anchor="end""#,
        "from the map",
    );
    c.text(
        tx + 450.0,
        ty,
        r#"class="head" text-anchor="end""#,
        "stats line",
    );
    let mut y = ty + 20.0;
    let rows: [(&str, &str, u64); 6] = [
        (
            "in_use_bytes",
            "in use, bytes (huge included)",
            t.in_use_bytes(),
        ),
        ("in_use_blocks", "in use, blocks", t.in_use_blocks()),
        ("free_blocks", "free blocks", t.free_blocks),
        ("top_bytes", "top chunk, bytes", t.top_bytes),
        ("heap_bytes", "heap, bytes (all segments)", t.heap_bytes),
        ("mapped_bytes", "huge blocks, bytes", t.huge_bytes),
    ];
    for (key, label, ours) in rows {
        c.text(tx, y, r#"class="seg""#, label);
        c.text(
            tx + 320.0,
            y,
            &format!(r#"class="num" text-anchor="end" data-key="{key}""#),
            &grouped(ours),
        );
        match st.and_then(|s| s.get(key)) {
            Some(&theirs) => {
                c.text(
                    tx + 450.0,
                    y,
                    &format!(r#"class="num" text-anchor="end" data-stats-key="{key}""#),
                    &grouped(theirs),
                );
                let (class, mark) = if theirs == ours {
                    ("ok", "✓")
                } else {
                    ("bad", "✗ differs")
                };
                c.text(tx + 460.0, y, &format!(r#"class="{class}""#), mark);
            }
            None => c.text(tx + 450.0, y, r#"class="num" text-anchor="end""#, "–"),
        }
        y += 17.0;
    }
    let extra = [
        (
            "free_bytes",
            "free blocks, bytes".to_string(),
            grouped(t.free_bytes),
        ),
        (
            "cached_bytes",
            "of the in-use bytes, in thread caches".to_string(),
            st.and_then(|s| s.get("cached_bytes"))
                .map(|&v| grouped(v))
                .unwrap_or_else(|| "–".to_string()),
        ),
        (
            "largest_free",
            "largest free block (top chunk counted)".to_string(),
            grouped(t.largest_free),
        ),
    ];
    for (key, label, v) in extra {
        c.text(tx, y, r#"class="seg""#, &label);
        c.text(
            tx + 320.0,
            y,
            &format!(r#"class="num" text-anchor="end" data-key="{key}""#),
            &v,
        );
        y += 17.0;
    }
    y += 6.0;
    c.text(
        tx,
        y,
        r#"class="head" data-key="fragmentation""#,
        &format!("fragmentation {:.3}", t.fragmentation()),
    );
    c.text(
        tx + 175.0,
        y,
        r#"class="seg""#,
        "= 1 − largest free block / free bytes (top chunk included)",
    );
    y += 18.0;
    c.text(
        tx,
        y,
        r#"class="head" data-key="free_fraction""#,
        &format!(
            "free / heap {:.1} % ({} of {})",
            t.free_fraction() * 100.0,
            human_bytes(t.free_with_top()),
            human_bytes(t.heap_bytes)
        ),
    );
    y += 6.0;
    if st.is_none() {
        y += 16.0;
        c.text(
            tx,
            y,
            r#"class="note""#,
            "the map has no stats line: it was cut short",
        );
    }
    c.body.push_str("</g>\n");
    c.y = table_end.max(y) + 8.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_powers_of_two_of_at_least_a_page() {
        assert_eq!(bytes_per_row(1000, 40), 4096);
        assert_eq!(bytes_per_row(5_454_008, 40), 256 << 10);
        assert_eq!(bytes_per_row(40 << 20, 40), 1 << 20);
    }

    #[test]
    fn pieces_split_at_row_ends() {
        assert_eq!(pieces(10, 20, 100), [(0, 10, 30)]);
        assert_eq!(pieces(90, 20, 100), [(0, 90, 100), (1, 0, 10)]);
        assert_eq!(pieces(0, 300, 100), [(0, 0, 100), (1, 0, 100), (2, 0, 100)]);
        assert_eq!(pieces(100, 0, 100), [(1, 0, 0)]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }

    #[test]
    fn colours_cover_every_bucket() {
        assert_eq!(bucket_colour(0), PALETTE[0]);
        assert_eq!(bucket_colour(4), PALETTE[0]);
        assert_eq!(bucket_colour(60), PALETTE[PALETTE.len() - 1]);
    }
}
