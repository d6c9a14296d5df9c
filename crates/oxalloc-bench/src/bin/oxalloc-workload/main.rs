//! `oxalloc-workload NAME [--quick] [ARGS]`: every benchmark workload of oxalloc-bench.
//!
//! The workloads allocate through Rust's default `System` allocator, i.e. the C library's
//! malloc, free, realloc, calloc and posix_memalign, so `LD_PRELOAD` swaps the allocator under
//! them. Each prints a `checksum: ...` line that depends on all of its work (and not on the
//! allocator or on thread timing), and may print `metric: NAME VALUE` lines.

mod bignum;
mod external;
mod memory;
mod parser;
mod threads;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: oxalloc-workload NAME [--quick] [--threads N]
       oxalloc-workload pair N SIZE   (N malloc(SIZE)+free pairs, for callgrind)
       oxalloc-workload teardown N [--shuffled] [--size BYTES]   (ns per free of N objects)
names: bignum parser server prodcons bulk larson rounds mixed relay realloc large steady-1e3 steady-1e4
       steady-1e5 steady-1e6 steady-1e7 falseshare python sqlite pair teardown";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let quick = args.iter().any(|a| a == "--quick");
    let (threads, size) = match (flag_value(&args, "--threads"), flag_value(&args, "--size")) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("oxalloc-workload: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let checksum = match name.as_str() {
        "bignum" => bignum::run(quick),
        "parser" => parser::run(quick),
        "server" => threads::server(quick, threads.unwrap_or(4)),
        "prodcons" => threads::prodcons(quick),
        "bulk" => threads::bulk(quick, threads.unwrap_or(4)),
        "larson" => threads::larson(quick, threads.unwrap_or(4)),
        "rounds" => threads::rounds(quick, threads.unwrap_or(4)),
        "mixed" => threads::mixed(quick, threads.unwrap_or(4)),
        "relay" => threads::relay(quick, threads.unwrap_or(4)),
        "realloc" => memory::realloc(quick),
        "large" => memory::large(quick),
        "falseshare" => threads::falseshare(quick, threads.unwrap_or_else(util::nproc)),
        "python" => external::python(quick),
        "sqlite" => external::sqlite(quick),
        "pair" => {
            let n = args.get(1).and_then(|s| s.parse().ok());
            let size = args.get(2).and_then(|s| s.parse().ok());
            let (Some(n), Some(size)) = (n, size) else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            memory::pair(n, size)
        }
        "teardown" => {
            let Some(n) = args.get(1).and_then(|s| s.parse().ok()) else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            memory::teardown(n, args.iter().any(|a| a == "--shuffled"), size)
        }
        other => match other.strip_prefix("steady-").and_then(parse_count) {
            Some(n) => memory::steady(n, quick),
            None => {
                eprintln!("unknown workload {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
    };
    println!("checksum: {checksum:016x}");
    // The process's own peak, for the harness: `ru_maxrss` would also count the pages of the
    // process that spawned this one, as they were when it called exec.
    if let Some(kib) = peak_rss_kib() {
        println!("peak_rss_kib: {kib}");
    }
    ExitCode::SUCCESS
}

/// `VmHWM` of `/proc/self/status`: this process's peak resident set since its exec, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// The value of `flag` (a positive whole number) when `args` has it; an error when its value is
/// missing, not a number, or 0 (run as given, a mistyped value would measure something else).
fn flag_value(args: &[String], flag: &str) -> Result<Option<usize>, String> {
    let Some(i) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    match args.get(i + 1).map(|v| (v, v.parse::<usize>())) {
        Some((_, Ok(n))) if n > 0 => Ok(Some(n)),
        Some((v, _)) => Err(format!("{flag} wants a positive whole number, not {v:?}")),
        None => Err(format!("{flag} wants a value")),
    }
}

/// "1e5" or "100000".
fn parse_count(s: &str) -> Option<usize> {
    match s.split_once('e') {
        Some((m, e)) => {
            let m: usize = m.parse().ok()?;
            let e: u32 = e.parse().ok()?;
            m.checked_mul(10usize.checked_pow(e)?)
        }
        None => s.parse().ok(),
    }
}
