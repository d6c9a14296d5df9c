//! `oxalloc-bench`: runs every workload under every allocator and prints the Markdown table;
//! writes `results.csv`, `results.json` and `results.md` to the output directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use oxalloc_bench::{
    default_allocators, default_workload_bin, run, workload_names, Allocator, BenchConfig,
    Progress, Results, WORKLOADS,
};

/// Benchmark oxalloc against glibc, jemalloc, mimalloc and tcmalloc (via LD_PRELOAD).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Smaller inputs (about 10x less work); steady-1e7 is left out unless named.
    #[arg(long)]
    quick: bool,
    /// Runs per workload and allocator (the table shows medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Allocators to run, comma-separated: glibc, jemalloc, mimalloc, tcmalloc, oxalloc, or
    /// NAME=/path/to/lib.so for any other.
    #[arg(long, value_delimiter = ',')]
    allocators: Vec<String>,
    /// Workloads to run, comma-separated (default: all; see --list).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Also count instructions with callgrind (single-threaded workloads, malloc+free pairs).
    #[arg(long)]
    callgrind: bool,
    /// Where to write results.csv, results.json, results.md and logs/.
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// liboxalloc.so to benchmark (default: next to this executable).
    #[arg(long)]
    oxalloc: Option<PathBuf>,
    /// The oxalloc-workload binary (default: next to this executable).
    #[arg(long)]
    workload_bin: Option<PathBuf>,
    /// Seconds after which a run is killed and reported as a timeout.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
    /// Print the report of an earlier run's results.json (in this version's format) and exit.
    #[arg(long, value_name = "RESULTS_JSON")]
    render: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        for w in WORKLOADS {
            println!("{:<12} {}", w.name, w.about);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(path) = &cli.render {
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Results>(&t).map_err(|e| e.to_string()));
        return match parsed {
            Ok(results) => {
                println!("{}", results.markdown_table());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                ExitCode::from(2)
            }
        };
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.to_path_buf()))
        .unwrap_or_default();
    let oxalloc_so = cli
        .oxalloc
        .clone()
        .unwrap_or_else(|| exe_dir.join("liboxalloc.so"));
    if !oxalloc_so.is_file() {
        eprintln!(
            "error: {} not found: run `cargo build --release` or pass --oxalloc PATH",
            oxalloc_so.display()
        );
        return ExitCode::from(2);
    }
    let allocators = match choose_allocators(&cli.allocators, default_allocators(&oxalloc_so)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(bad) = cli
        .workloads
        .iter()
        .find(|w| !workload_names().contains(&w.as_str()))
    {
        eprintln!(
            "error: unknown workload {bad:?}; known: {}",
            workload_names().join(", ")
        );
        return ExitCode::from(2);
    }
    if cli.runs == 0 {
        eprintln!("error: --runs must be at least 1");
        return ExitCode::from(2);
    }

    let cfg = BenchConfig {
        allocators,
        workloads: cli.workloads.clone(),
        runs: cli.runs,
        quick: cli.quick,
        out_dir: cli.out.clone(),
        callgrind: cli.callgrind,
        workload_bin: cli
            .workload_bin
            .clone()
            .unwrap_or_else(default_workload_bin),
        timeout: Duration::from_secs(cli.timeout),
    };
    let results = run(&cfg, &mut print_progress);

    let table = results.markdown_table();
    println!("{table}");
    let (_, failed) = results.write_all(&cfg.out_dir, &table);
    let mut ok = failed.is_empty();
    for (path, e) in failed {
        eprintln!("error: cannot write {}: {e}", path.display());
    }
    eprintln!(
        "results written to {}/results.{{csv,json,md}}",
        cfg.out_dir.display()
    );
    if results.has_errors() {
        eprintln!(
            "error: {} run(s) failed or disagreed; see the Errors section",
            results.errors.len()
        );
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The allocators named on the command line (all defaults when none are).
fn choose_allocators(names: &[String], defaults: Vec<Allocator>) -> Result<Vec<Allocator>, String> {
    if names.is_empty() {
        return Ok(defaults);
    }
    names
        .iter()
        .map(|n| {
            if let Some((name, path)) = n.split_once('=') {
                if !Path::new(path).is_file() {
                    return Err(format!("allocator {name}: {path} not found"));
                }
                return Ok(Allocator::preloaded(name, path));
            }
            defaults
                .iter()
                .find(|a| &a.name == n)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = defaults.iter().map(|a| a.name.as_str()).collect();
                    format!(
                        "allocator {n:?} unavailable (available: {}; or NAME=/path/lib.so)",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// One line per run on stderr.
fn print_progress(p: Progress) {
    let mut err = std::io::stderr().lock();
    let _ = match p {
        Progress::Starting {
            step,
            total,
            workload,
            allocator,
            run,
        } => write!(
            err,
            "[{step:>4}/{total}] {workload:<11} {allocator:<9} run {} ... ",
            run
        ),
        Progress::Finished { record, .. } => {
            if record.ok {
                writeln!(
                    err,
                    "{:8.1} ms {:8.1} MiB",
                    record.wall_ms,
                    record.max_rss_kib as f64 / 1024.0
                )
            } else {
                writeln!(err, "{}", record.status)
            }
        }
        Progress::Callgrind { what, allocator } => {
            writeln!(err, "[callgrind] {what} under {allocator}")
        }
        Progress::Note(n) => writeln!(err, "note: {n}"),
    };
}
