//! The `oxalloc` command-line tool, as a library: everything but the argument parsing.
//!
//! - [`locate`]: finding `liboxalloc.so` (next to the tool, where `scripts/install.sh` puts it,
//!   or a path given on the command line);
//! - [`exec`]: running a program with the library preloaded, passing signals and the exit status
//!   through;
//! - [`reports`]: the per-process files the library writes (`OXALLOC_STATS_FILE`,
//!   `OXALLOC_MAP_FILE`, each with `%p` for the pid);
//! - [`heapmap`]: the heap map format (`# oxalloc heap map v1`) and its totals;
//! - [`mapsvg`]: the heap map drawn as SVG;
//! - [`chart`]: the benchmark's time-ratio chart (SVG, with plotters);
//! - [`optionstable`]: the library's options table, as `oxalloc run --help` prints it.

pub mod chart;
pub mod exec;
pub mod heapmap;
pub mod locate;
pub mod mapsvg;
pub mod optionstable;
pub mod reports;

/// Formats a byte count for people: `512 B`, `1.5 KiB`, `12.0 MiB`, `2.00 GiB`.
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.2} GiB", f / (K * K * K))
    }
}

/// Formats an integer with thousands separators: `1,234,567`.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1234567), "1,234,567");
    }
}
