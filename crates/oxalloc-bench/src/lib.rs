//! The oxalloc benchmark harness.
//!
//! Every workload runs as a child process under every allocator, swapped in with `LD_PRELOAD`
//! (glibc is the process with nothing preloaded). Allocators alternate run by run (A B C, A B C,
//! ...), each run's wall time and peak RSS (the workload's own `VmHWM`, which it prints, else
//! `ru_maxrss` from `wait4`) are recorded, and the
//! workload's checksum line must be the same under every allocator. Optionally, callgrind counts
//! the instructions of the single-threaded workloads and of a malloc+free pair.
//!
//! The entry point is [`run`]; [`Results`] renders the Markdown table and writes CSV and JSON.
//! The workloads themselves live in the `oxalloc-workload` binary of this package
//! (`oxalloc-workload NAME [--quick]`); [`WORKLOADS`] lists them.

mod machine;
mod measure;
mod report;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use machine::Machine;
pub use report::CellSummary;

/// Where Debian puts the shared libraries of the allocators we compare against.
pub const SYSTEM_LIB_DIR: &str = "/usr/lib/x86_64-linux-gnu";

/// The name of the allocator every other one is compared with.
pub const REFERENCE: &str = "oxalloc";

/// An allocator: a name and the shared library to preload (`None`: the C library's own malloc).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocator {
    pub name: String,
    pub preload: Option<PathBuf>,
}

impl Allocator {
    /// An allocator swapped in by preloading `so`.
    pub fn preloaded(name: &str, so: impl Into<PathBuf>) -> Self {
        Allocator {
            name: name.to_string(),
            preload: Some(so.into()),
        }
    }

    /// glibc's malloc: nothing preloaded.
    pub fn glibc() -> Self {
        Allocator {
            name: "glibc".to_string(),
            preload: None,
        }
    }

    /// Sets (or, for glibc, removes) `LD_PRELOAD` on `cmd`.
    fn apply(&self, cmd: &mut Command) {
        match &self.preload {
            Some(so) => cmd.env("LD_PRELOAD", so),
            None => cmd.env_remove("LD_PRELOAD"),
        };
    }

    /// A shell-like prefix that reproduces the environment, for error messages.
    fn env_prefix(&self) -> String {
        match &self.preload {
            Some(so) => format!("LD_PRELOAD={} ", so.display()),
            None => String::new(),
        }
    }
}

/// glibc, jemalloc, mimalloc, tcmalloc (Debian's packages, see `scripts/bench-setup.sh`) and
/// oxalloc from `oxalloc_so`, in that order. Any whose library is missing is left out with a
/// warning on stderr.
pub fn default_allocators(oxalloc_so: &Path) -> Vec<Allocator> {
    let lib = Path::new(SYSTEM_LIB_DIR);
    let mimalloc =
        find_prefixed(lib, "libmimalloc.so").unwrap_or_else(|| lib.join("libmimalloc.so.2"));
    let candidates = [
        Allocator::preloaded("jemalloc", lib.join("libjemalloc.so.2")),
        Allocator::preloaded("mimalloc", mimalloc),
        Allocator::preloaded("tcmalloc", lib.join("libtcmalloc_minimal.so.4")),
        Allocator::preloaded(REFERENCE, oxalloc_so),
    ];
    let mut out = vec![Allocator::glibc()];
    for a in candidates {
        let so = a.preload.as_ref().expect("preloaded");
        if so.is_file() {
            out.push(a);
        } else {
            eprintln!(
                "warning: skipping allocator {}: {} not found (run crates/oxalloc-bench/scripts/bench-setup.sh{})",
                a.name,
                so.display(),
                if a.name == REFERENCE { ", cargo build --release" } else { "" }
            );
        }
    }
    out
}

/// The alphabetically first file in `dir` whose name starts with `prefix`.
fn find_prefixed(dir: &Path, prefix: &str) -> Option<PathBuf> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names.first().map(|n| dir.join(n))
}

/// One workload of the `oxalloc-workload` binary.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// The name passed to `oxalloc-workload`.
    pub name: &'static str,
    /// What it models.
    pub about: &'static str,
    /// Single-threaded and deterministic enough for callgrind (run in quick size there).
    pub callgrind: bool,
    /// Part of the `--quick` set.
    pub in_quick: bool,
}

const fn wl(name: &'static str, about: &'static str, callgrind: bool, in_quick: bool) -> Workload {
    Workload {
        name,
        about,
        callgrind,
        in_quick,
    }
}

/// Every workload, in table order.
pub const WORKLOADS: &[Workload] = &[
    wl(
        "bignum",
        "arbitrary-precision arithmetic: small-object churn, mixed lifetimes",
        true,
        true,
    ),
    wl(
        "parser",
        "tokenize, parse into Box trees, evaluate, drop",
        true,
        true,
    ),
    wl(
        "server",
        "4 threads allocate random sizes and free each other's objects",
        false,
        true,
    ),
    wl(
        "prodcons",
        "one thread allocates, another frees (bounded channel)",
        false,
        true,
    ),
    wl(
        "bulk",
        "threads allocate 1e5 objects each, then free them all",
        false,
        true,
    ),
    wl(
        "larson",
        "threads replace random objects, then hand them to a successor thread and exit",
        false,
        true,
    ),
    wl(
        "rounds",
        "threads build, trade and free everything, round after round (mimalloc's stress test)",
        false,
        true,
    ),
    wl(
        "mixed",
        "4 threads replace random blocks of 4 B - 32 KiB in 8,000 slots (glibc's thread bench)",
        false,
        true,
    ),
    wl(
        "relay",
        "4 threads allocate 1,000 blocks of 8 B - 16 KB, free half, hand half on (rpmalloc's test)",
        false,
        true,
    ),
    wl(
        "realloc",
        "grow many Vec/String one element at a time, shrink_to_fit",
        true,
        true,
    ),
    wl(
        "large",
        "64 KiB - 32 MiB blocks allocated, touched, freed",
        false,
        true,
    ),
    wl(
        "steady-1e3",
        "1e3 live small objects, random replacements",
        true,
        true,
    ),
    wl(
        "steady-1e4",
        "1e4 live small objects, random replacements",
        false,
        true,
    ),
    wl(
        "steady-1e5",
        "1e5 live small objects, random replacements",
        true,
        true,
    ),
    wl(
        "steady-1e6",
        "1e6 live small objects, random replacements",
        false,
        true,
    ),
    wl(
        "steady-1e7",
        "1e7 live small objects, random replacements",
        false,
        false,
    ),
    wl(
        "falseshare",
        "cache-scratch and cache-thrash (Hoard): false sharing",
        false,
        true,
    ),
    wl(
        "python",
        "/usr/bin/python3 with PYTHONMALLOC=malloc on an allocation-heavy script",
        false,
        true,
    ),
    wl(
        "sqlite",
        "sqlite3 :memory: on generated SQL (inserts, index, queries, updates, deletes)",
        false,
        true,
    ),
];

/// The names of every workload, in table order.
pub fn workload_names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
}

/// Looks a workload up by name.
pub fn workload(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// The block sizes of the callgrind malloc+free pair micro-workload.
pub const PAIR_SIZES: [usize; 3] = [16, 64, 256];
/// The number of malloc+free pairs per size in the pair micro-workload.
pub const PAIR_COUNT: u64 = 1_000_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The allocators, run in this order within each round.
    pub allocators: Vec<Allocator>,
    /// Workload names (see [`WORKLOADS`]); empty means every workload of the chosen size.
    pub workloads: Vec<String>,
    /// Runs per workload and allocator; the table shows medians.
    pub runs: usize,
    /// Smaller inputs (about 10x less work), and steady-1e7 left out unless named.
    pub quick: bool,
    /// Where run logs go (`logs/`); the caller writes the results there too.
    pub out_dir: PathBuf,
    /// Also count instructions under callgrind (single-threaded workloads and malloc+free pairs).
    pub callgrind: bool,
    /// The `oxalloc-workload` binary.
    pub workload_bin: PathBuf,
    /// A run that takes longer is killed and reported as a timeout.
    pub timeout: Duration,
}

impl BenchConfig {
    /// Every default allocator (see [`default_allocators`]), every workload, 3 runs, full size,
    /// results in `bench-results/`, the workload binary next to the current executable.
    pub fn new(oxalloc_so: &Path) -> Self {
        BenchConfig {
            allocators: default_allocators(oxalloc_so),
            workloads: Vec::new(),
            runs: 3,
            quick: false,
            out_dir: PathBuf::from("bench-results"),
            callgrind: false,
            workload_bin: default_workload_bin(),
            timeout: Duration::from_secs(300),
        }
    }

    /// The workloads to run: the named ones, or the default set for the chosen size.
    pub fn selected_workloads(&self) -> Vec<String> {
        if self.workloads.is_empty() {
            WORKLOADS
                .iter()
                .filter(|w| w.in_quick || !self.quick)
                .map(|w| w.name.to_string())
                .collect()
        } else {
            self.workloads.clone()
        }
    }
}

/// `oxalloc-workload` next to the current executable (or one directory up, for executables in
/// `target/<profile>/deps/`).
pub fn default_workload_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().unwrap_or(Path::new("."));
    let here = dir.join("oxalloc-workload");
    if !here.exists() {
        if let Some(up) = dir.parent().map(|d| d.join("oxalloc-workload")) {
            if up.exists() {
                return up;
            }
        }
    }
    here
}

/// A step of [`run`], for progress display.
#[derive(Clone, Debug)]
pub enum Progress {
    /// A timed run is about to start; `step` counts from 1 to `total`, `run` from 1 to
    /// [`BenchConfig::runs`].
    Starting {
        step: usize,
        total: usize,
        workload: String,
        allocator: String,
        run: usize,
    },
    /// A timed run ended.
    Finished {
        step: usize,
        total: usize,
        record: RunRecord,
    },
    /// A callgrind run is about to start.
    Callgrind { what: String, allocator: String },
    /// Something the user should know (a skipped workload, a failure).
    Note(String),
}

/// One timed run of one workload under one allocator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub workload: String,
    pub allocator: String,
    /// Round number, from 1.
    pub run: usize,
    pub wall_ms: f64,
    pub user_ms: f64,
    pub sys_ms: f64,
    /// Peak resident set size of the child, KiB: the `peak_rss_kib:` line the workload printed
    /// (its own high-water mark, `VmHWM`), else `ru_maxrss`. The kernel counts in `ru_maxrss`
    /// the memory the process had before it called exec — for a child of this harness, the
    /// harness's own pages (about 3 MiB), which hid the differences between allocators on the
    /// small workloads; programs run by exec (python, sqlite) are far above it.
    pub max_rss_kib: u64,
    /// "ok", "exit N", "signal N (NAME)", "timeout" or "spawn failed: ...".
    pub status: String,
    pub ok: bool,
    /// The workload's `checksum:` line (or a hash of its whole stdout when it prints none).
    pub checksum: Option<String>,
    /// Whether the checksum differs from the other allocators' (see [`Results::errors`]).
    pub checksum_mismatch: bool,
    /// `metric: NAME VALUE` lines the workload printed (say, `ns_per_op`).
    pub metrics: BTreeMap<String, f64>,
}

/// Instruction count of one workload under one allocator, from callgrind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallgrindRecord {
    pub workload: String,
    pub allocator: String,
    pub instructions: Option<u64>,
    pub status: String,
}

/// Instructions per malloc+free pair, from callgrind: (Ir(N pairs) - Ir(0 pairs)) / N.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PairRecord {
    pub allocator: String,
    pub size: usize,
    pub pairs: u64,
    pub ir_with_pairs: Option<u64>,
    pub ir_baseline: Option<u64>,
    pub ir_per_pair: Option<f64>,
}

/// Everything one [`run`] measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    pub quick: bool,
    pub runs_per_cell: usize,
    pub allocators: Vec<Allocator>,
    pub workloads: Vec<String>,
    pub runs: Vec<RunRecord>,
    pub callgrind: Vec<CallgrindRecord>,
    pub pairs: Vec<PairRecord>,
    /// Crashes, timeouts and checksum mismatches, each with a command that reproduces it.
    pub errors: Vec<String>,
    /// Skipped workloads and the like.
    pub notes: Vec<String>,
}

impl Results {
    /// Whether any run crashed, timed out or printed a different checksum.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// Runs the benchmark `cfg` describes, reporting each step to `progress`.
pub fn run(cfg: &BenchConfig, progress: &mut dyn FnMut(Progress)) -> Results {
    let workloads = cfg.selected_workloads();
    let mut results = Results {
        machine: Machine::detect(),
        quick: cfg.quick,
        runs_per_cell: cfg.runs,
        allocators: cfg.allocators.clone(),
        workloads: Vec::new(),
        runs: Vec::new(),
        callgrind: Vec::new(),
        pairs: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let logs = cfg.out_dir.join("logs");
    if let Err(e) = fs::create_dir_all(&logs) {
        results
            .errors
            .push(format!("cannot create {}: {e}", logs.display()));
        return results;
    }
    let mut valid = Vec::new();
    for name in &workloads {
        if workload(name).is_none() {
            results.errors.push(format!(
                "unknown workload {name:?} (known: {})",
                workload_names().join(", ")
            ));
        } else {
            valid.push(name.clone());
        }
    }
    if !cfg.workload_bin.is_file() {
        results.errors.push(format!(
            "workload binary {} not found (cargo build --release -p oxalloc-bench)",
            cfg.workload_bin.display()
        ));
        return results;
    }
    if !cfg.allocators.iter().any(|a| a.name == REFERENCE) {
        let msg = format!("no allocator named {REFERENCE}: the table has no ratios");
        progress(Progress::Note(msg.clone()));
        results.notes.push(msg);
    }
    results.workloads = valid.clone();
    let libraries_at_start = library_stamps(&cfg.allocators);

    let total = valid.len() * cfg.runs * cfg.allocators.len();
    let mut step = 0;
    for name in &valid {
        for run in 1..=cfg.runs {
            for alloc in &cfg.allocators {
                step += 1;
                progress(Progress::Starting {
                    step,
                    total,
                    workload: name.clone(),
                    allocator: alloc.name.clone(),
                    run,
                });
                let record = timed_run(cfg, name, alloc, run, &logs, &mut results);
                progress(Progress::Finished {
                    step,
                    total,
                    record: record.clone(),
                });
                results.runs.push(record);
            }
        }
        check_checksums(&mut results, cfg, name);
    }

    if cfg.callgrind {
        run_callgrind(cfg, &valid, &logs, &mut results, progress);
    }
    for (before, after) in libraries_at_start
        .iter()
        .zip(library_stamps(&cfg.allocators))
    {
        if *before != after {
            results.errors.push(format!(
                "{} changed during the benchmark (rebuilt?): the results mix two builds",
                before.0.display()
            ));
        }
    }
    results
}

/// Path, size and modification time of each preloaded library, to notice a rebuild mid-run.
fn library_stamps(
    allocators: &[Allocator],
) -> Vec<(PathBuf, Option<(u64, std::time::SystemTime)>)> {
    allocators
        .iter()
        .filter_map(|a| a.preload.clone())
        .map(|p| {
            let stamp = fs::metadata(&p)
                .and_then(|m| Ok((m.len(), m.modified()?)))
                .ok();
            (p, stamp)
        })
        .collect()
}

/// The command that runs workload `name`.
fn workload_command(cfg: &BenchConfig, args: &[String]) -> Command {
    let mut cmd = Command::new(&cfg.workload_bin);
    cmd.args(args);
    cmd
}

fn workload_args(name: &str, quick: bool) -> Vec<String> {
    let mut args = vec![name.to_string()];
    if quick {
        args.push("--quick".to_string());
    }
    args
}

/// Shell-quotes a command line for error messages.
fn shell_line(alloc: &Allocator, program: &Path, args: &[String]) -> String {
    let mut s = alloc.env_prefix();
    s.push_str(&program.display().to_string());
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

fn timed_run(
    cfg: &BenchConfig,
    name: &str,
    alloc: &Allocator,
    run: usize,
    logs: &Path,
    results: &mut Results,
) -> RunRecord {
    let args = workload_args(name, cfg.quick);
    let mut cmd = workload_command(cfg, &args);
    alloc.apply(&mut cmd);
    let stdout_path = logs.join("last.stdout");
    let stderr_path = logs.join("last.stderr");
    let mut m = measure::measure(cmd, &stdout_path, &stderr_path, cfg.timeout);
    let stdout = fs::read(&stdout_path).unwrap_or_default();
    let stderr = fs::read(&stderr_path).unwrap_or_default();
    check_preloaded(&mut m, &stderr);
    let mut record = RunRecord {
        workload: name.to_string(),
        allocator: alloc.name.clone(),
        run,
        wall_ms: m.wall.as_secs_f64() * 1e3,
        user_ms: m.user.as_secs_f64() * 1e3,
        sys_ms: m.sys.as_secs_f64() * 1e3,
        max_rss_kib: m.max_rss_kib,
        status: m.status.clone(),
        ok: m.ok,
        checksum: None,
        checksum_mismatch: false,
        metrics: BTreeMap::new(),
    };
    if m.ok {
        let (checksum, metrics) = parse_output(&stdout);
        record.checksum = Some(checksum);
        record.metrics = metrics;
        if let Some(kib) = parse_peak_rss(&stdout) {
            record.max_rss_kib = kib;
        }
        // A successful run should be silent on stderr; say so once per cell if it is not
        // (say, an allocator's misuse report).
        if let Some(line) = String::from_utf8_lossy(&stderr).lines().next() {
            let prefix = format!("{name} under {}: stderr:", alloc.name);
            if !results.notes.iter().any(|n| n.starts_with(&prefix)) {
                results.notes.push(format!("{prefix} {line}"));
            }
        }
    } else {
        let keep = logs.join(format!("failed-{name}-{}-{run}", alloc.name));
        let _ = fs::copy(&stdout_path, keep.with_extension("stdout"));
        let _ = fs::copy(&stderr_path, keep.with_extension("stderr"));
        results.errors.push(format!(
            "{name} under {}: {} (run {})\n  command: {}\n  stderr (last lines, full log in {}):\n{}",
            alloc.name,
            m.status,
            run,
            shell_line(alloc, &cfg.workload_bin, &args),
            keep.with_extension("stderr").display(),
            tail(&stderr, 15)
        ));
    }
    record
}

/// A run where ld.so could not preload the library silently used glibc: count it as failed.
fn check_preloaded(m: &mut measure::Measured, stderr: &[u8]) {
    if String::from_utf8_lossy(stderr).contains("from LD_PRELOAD cannot be preloaded") {
        m.ok = false;
        m.status = "LD_PRELOAD failed (ld.so ignored the library)".to_string();
    }
}

/// The last `n` lines of `bytes`, indented.
fn tail(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() {
        return "    (empty)".to_string();
    }
    lines[start..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `peak_rss_kib: N` line of a workload's output (the process's own peak resident set, which
/// `oxalloc-workload` reads from `/proc/self/status` before it exits), if any.
pub fn parse_peak_rss(stdout: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib:")?.trim().parse().ok())
}

/// The checksum (the `checksum:` lines, else an FNV-1a hash of all of stdout) and the
/// `metric: NAME VALUE` lines of a workload's output.
pub fn parse_output(stdout: &[u8]) -> (String, BTreeMap<String, f64>) {
    let text = String::from_utf8_lossy(stdout);
    let mut sums = Vec::new();
    let mut metrics = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("checksum:") {
            sums.push(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("metric:") {
            let mut it = rest.split_whitespace();
            if let (Some(k), Some(v)) = (it.next(), it.next().and_then(|v| v.parse().ok())) {
                metrics.insert(k.to_string(), v);
            }
        }
    }
    let checksum = if sums.is_empty() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in stdout {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("stdout-fnv1a:{h:016x}")
    } else {
        sums.join(" ")
    };
    (checksum, metrics)
}

/// Marks, and records an error for, every run of `name` whose checksum differs from the
/// reference one (glibc's when glibc agrees with itself, otherwise the most common one).
fn check_checksums(results: &mut Results, cfg: &BenchConfig, name: &str) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut glibc: BTreeMap<String, usize> = BTreeMap::new();
    for r in results.runs.iter().filter(|r| r.workload == name && r.ok) {
        let sum = r.checksum.clone().unwrap_or_default();
        if r.allocator == "glibc" {
            *glibc.entry(sum.clone()).or_default() += 1;
        }
        *counts.entry(sum).or_default() += 1;
    }
    if counts.len() <= 1 {
        return;
    }
    let (reference, from) = if glibc.len() == 1 {
        (glibc.into_keys().next().unwrap_or_default(), "glibc's")
    } else {
        let best = counts
            .iter()
            .max_by_key(|(_, &n)| n)
            .map(|(k, _)| k.clone());
        (best.unwrap_or_default(), "the most common one")
    };
    for r in results
        .runs
        .iter_mut()
        .filter(|r| r.workload == name && r.ok)
    {
        let got = r.checksum.as_deref().unwrap_or("");
        if got != reference {
            r.checksum_mismatch = true;
            let line = cfg
                .allocators
                .iter()
                .find(|a| a.name == r.allocator)
                .map(|a| shell_line(a, &cfg.workload_bin, &workload_args(name, cfg.quick)))
                .unwrap_or_default();
            results.errors.push(format!(
                "{name} under {}: wrong checksum in run {}: got {got:?}, expected {reference:?} ({from})\n  command: {line}",
                r.allocator,
                r.run
            ));
        }
    }
}

/// The callgrind part: Ir of each single-threaded workload (quick size) and Ir per malloc+free
/// pair, per allocator.
fn run_callgrind(
    cfg: &BenchConfig,
    workloads: &[String],
    logs: &Path,
    results: &mut Results,
    progress: &mut dyn FnMut(Progress),
) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        let msg = "callgrind: valgrind not found (run crates/oxalloc-bench/scripts/bench-setup.sh)"
            .to_string();
        progress(Progress::Note(msg.clone()));
        results.errors.push(msg);
        return;
    }
    let selected: Vec<&String> = workloads
        .iter()
        .filter(|w| workload(w).is_some_and(|w| w.callgrind))
        .collect();
    for name in selected {
        let args = workload_args(name, true);
        for alloc in &cfg.allocators {
            progress(Progress::Callgrind {
                what: name.clone(),
                allocator: alloc.name.clone(),
            });
            let (instructions, status) = callgrind_ir(cfg, alloc, &args, logs, &mut results.errors);
            results.callgrind.push(CallgrindRecord {
                workload: name.clone(),
                allocator: alloc.name.clone(),
                instructions,
                status,
            });
        }
    }
    for alloc in &cfg.allocators {
        progress(Progress::Callgrind {
            what: "pair (baseline)".to_string(),
            allocator: alloc.name.clone(),
        });
        let base_args = vec![
            "pair".to_string(),
            "0".to_string(),
            PAIR_SIZES[0].to_string(),
        ];
        let (base, _) = callgrind_ir(cfg, alloc, &base_args, logs, &mut results.errors);
        for size in PAIR_SIZES {
            progress(Progress::Callgrind {
                what: format!("pair {size} B"),
                allocator: alloc.name.clone(),
            });
            let args = vec!["pair".to_string(), PAIR_COUNT.to_string(), size.to_string()];
            let (with, _) = callgrind_ir(cfg, alloc, &args, logs, &mut results.errors);
            let per = match (with, base) {
                (Some(w), Some(b)) => Some((w as f64 - b as f64) / PAIR_COUNT as f64),
                _ => None,
            };
            results.pairs.push(PairRecord {
                allocator: alloc.name.clone(),
                size,
                pairs: PAIR_COUNT,
                ir_with_pairs: with,
                ir_baseline: base,
                ir_per_pair: per,
            });
        }
    }
}

/// Runs the workload under `valgrind --tool=callgrind` and returns its total instruction count.
fn callgrind_ir(
    cfg: &BenchConfig,
    alloc: &Allocator,
    args: &[String],
    logs: &Path,
    errors: &mut Vec<String>,
) -> (Option<u64>, String) {
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg("--callgrind-out-file=/dev/null")
        .arg(&cfg.workload_bin)
        .args(args);
    alloc.apply(&mut cmd);
    let stdout_path = logs.join("last-callgrind.stdout");
    let stderr_path = logs.join("last-callgrind.stderr");
    let mut m = measure::measure(cmd, &stdout_path, &stderr_path, cfg.timeout);
    let stderr = fs::read(&stderr_path).unwrap_or_default();
    check_preloaded(&mut m, &stderr);
    let ir = parse_callgrind_ir(&String::from_utf8_lossy(&stderr));
    if !m.ok || ir.is_none() {
        let mut full_args = vec![
            "--tool=callgrind".to_string(),
            "--callgrind-out-file=/dev/null".to_string(),
            cfg.workload_bin.display().to_string(),
        ];
        full_args.extend(args.iter().cloned());
        errors.push(format!(
            "callgrind {} under {}: {}{}\n  command: {}\n  stderr (last lines):\n{}",
            args.join(" "),
            alloc.name,
            m.status,
            if ir.is_none() {
                ", no instruction count"
            } else {
                ""
            },
            shell_line(alloc, Path::new("valgrind"), &full_args),
            tail(&stderr, 15)
        ));
        return (None, m.status);
    }
    (ir, m.status)
}

/// The total instruction count callgrind 3.19 prints on stderr: `==PID== Collected : N`
/// (or, failing that, the `I   refs:      1,234` summary line).
pub fn parse_callgrind_ir(stderr: &str) -> Option<u64> {
    let number = |s: &str| s.trim().replace(',', "").parse::<u64>().ok();
    let after = |line: &str, key: &str| line.split_once(key).and_then(|(_, rest)| number(rest));
    stderr
        .lines()
        .find_map(|l| after(l, "Collected :"))
        .or_else(|| stderr.lines().find_map(|l| after(l, "I   refs:")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_callgrind_summary() {
        let err = "==1== Events    : Ir\n==1== Collected : 126651\n==1== \n==1== I   refs:      126,651\n";
        assert_eq!(parse_callgrind_ir(err), Some(126_651));
        assert_eq!(
            parse_callgrind_ir("==1== I   refs:      1,234,567\n"),
            Some(1_234_567)
        );
        assert_eq!(parse_callgrind_ir("nothing"), None);
    }

    #[test]
    fn parses_checksum_and_metrics() {
        let (sum, metrics) = parse_output(b"hello\nmetric: ns_per_op 12.5\nchecksum: 00ff\n");
        assert_eq!(sum, "00ff");
        assert_eq!(metrics.get("ns_per_op"), Some(&12.5));
        let (sum, _) = parse_output(b"1|2\n");
        assert!(sum.starts_with("stdout-fnv1a:"));
    }

    #[test]
    fn parses_the_peak_rss_line() {
        assert_eq!(
            parse_peak_rss(b"checksum: 00ff\npeak_rss_kib: 2596\n"),
            Some(2596)
        );
        assert_eq!(parse_peak_rss(b"checksum: 00ff\n"), None);
        assert_eq!(parse_peak_rss(b"peak_rss_kib: lots\n"), None);
    }

    #[test]
    fn every_workload_is_unique() {
        let mut names = workload_names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
    }
}
