//! `oxalloc`: run a program under oxalloc (with statistics), benchmark it against other
//! allocators, or draw a program's heap. See `oxalloc --help`.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oxalloc_bench::{
    default_allocators, default_workload_bin, workload_names, Allocator, BenchConfig, Progress,
    REFERENCE, WORKLOADS,
};
use oxalloc_cli::exec::{self, Launch};
use oxalloc_cli::heapmap::HeapMap;
use oxalloc_cli::{chart, human_bytes, locate, mapsvg, optionstable, reports};

/// oxalloc's command-line tool: run a program with oxalloc in place of malloc, print its
/// statistics, benchmark it against other allocators, and draw a picture of a program's heap.
#[derive(Parser, Debug)]
#[command(
    name = "oxalloc",
    version,
    long_about = None,
    after_help = "Examples:
  oxalloc run -- sort -n big.txt              sort, with oxalloc as its malloc
  oxalloc run --stats -- python3 -c 'x = [str(i) for i in range(10**5)]'
  oxalloc bench --quick                       oxalloc against glibc, jemalloc, ...
  oxalloc map -o heap.svg -- sqlite3 :memory: 'select 1'      a picture of its heap
  oxalloc options                             the OXALLOC_* environment variables

liboxalloc.so is found next to this executable, else in ../lib, $PREFIX/lib or /usr/local/lib
(where scripts/install.sh puts it), or given with --lib."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    Run(RunArgs),
    Bench(BenchArgs),
    Map(MapArgs),
    /// Print the table of liboxalloc's options (OXALLOC_* environment variables)
    Options,
}

/// Run a program with oxalloc as its malloc (and print its statistics)
///
/// Runs PROGRAM with liboxalloc.so preloaded (LD_PRELOAD, inherited by its children); with
/// --stats, prints the statistics summary of each of its processes when it ends.
///
/// The exit status is the program's (128 + N when it died of signal N; 127 when it could not be
/// found, 126 when it could not be run). Ctrl-C and Ctrl-\ go to the program; SIGTERM and SIGHUP
/// sent to oxalloc are passed on to it.
#[derive(Args, Debug)]
#[command(override_usage = "oxalloc run [OPTIONS] [--] PROGRAM [ARGS]...")]
struct RunArgs {
    /// When the program ends, print oxalloc's statistics summary of every process it ran (each
    /// child and exec'd program writes its own, labelled with its pid; the program's own process
    /// first, then by pid) on stderr. Uses OXALLOC_STATS_FILE.
    #[arg(long)]
    stats: bool,
    /// With --stats: write the summaries to FILE instead of stderr.
    #[arg(long, value_name = "FILE", requires = "stats")]
    stats_output: Option<PathBuf>,
    /// The liboxalloc.so to preload (default: next to this executable, else ../lib, $PREFIX/lib,
    /// /usr/local/lib).
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// The program to run and its arguments (everything after PROGRAM goes to it; put -- first
    /// when PROGRAM itself starts with -).
    #[arg(
        value_name = "PROGRAM",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    command: Vec<OsString>,
}

/// Benchmark oxalloc against glibc, jemalloc, mimalloc and tcmalloc
///
/// Runs every workload under every allocator (swapped in with LD_PRELOAD), allocators
/// alternating run by run, with a progress bar. Prints the Markdown table (median wall time and peak RSS, each allocator's ratio to oxalloc,
/// geometric means) and writes results.md, results.csv, results.json and time-ratios.svg (a
/// chart of the time ratios) to the output directory. The workloads are those of the
/// oxalloc-bench crate, run by the oxalloc-workload binary next to this executable (built by
/// `cargo build --release --workspace`). Exit status 1 when a run crashed, timed out or printed
/// a different checksum.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  oxalloc bench --quick                                    about a minute; all allocators
  oxalloc bench --quick --workloads bignum,parser --allocators glibc,oxalloc --runs 1
  oxalloc bench --runs 5 --out bench-results               full size
  oxalloc bench --list                                     the workloads")]
struct BenchArgs {
    /// Smaller inputs (about 10x less work); steady-1e7 is left out unless named.
    #[arg(long)]
    quick: bool,
    /// Allocators, comma-separated: glibc, jemalloc, mimalloc, tcmalloc, oxalloc, or
    /// NAME=/path/to/lib.so (default: all that are installed).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    allocators: Vec<String>,
    /// Workloads, comma-separated (default: all; see --list).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    workloads: Vec<String>,
    /// Runs per workload and allocator (the table shows medians).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Where to write results.{md,csv,json}, time-ratios.svg and logs/.
    #[arg(long, default_value = "bench-results", value_name = "DIR")]
    out: PathBuf,
    /// Where to draw the chart of the time ratios (default: DIR/time-ratios.svg, DIR from --out).
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Also count instructions with callgrind (needs valgrind).
    #[arg(long)]
    callgrind: bool,
    /// The liboxalloc.so to benchmark (default: found as for `oxalloc run`).
    #[arg(long, value_name = "PATH")]
    oxalloc: Option<PathBuf>,
    /// The oxalloc-workload binary (default: next to this executable).
    #[arg(long, value_name = "PATH")]
    workload_bin: Option<PathBuf>,
    /// Seconds after which a run is killed and reported as a timeout.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    timeout: u64,
    /// No progress bar (one line per run on stderr instead).
    #[arg(long)]
    no_progress: bool,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
}

/// Draw a program's heap as an SVG picture
///
/// Runs PROGRAM under oxalloc and draws its heap: the address space of each segment as rows of
/// a band, one rectangle per run of blocks coloured by size class (free blocks hatched grey), the
/// top chunk, fences, the program break, mapped segments and huge blocks, a legend with the
/// totals (checked against the library's own counters) and the fragmentation.
///
/// The map is the one the program's own process writes at exit (OXALLOC_MAP_FILE), or, with
/// --signal-after, the one it writes when sent SIGUSR1 that many seconds after it started. The
/// exit status is the program's; 1 when no picture could be made.
#[derive(Args, Debug)]
#[command(
    override_usage = "oxalloc map --output FILE.svg [OPTIONS] [--] PROGRAM [ARGS]...\n       oxalloc map --output FILE.svg --input MAP.txt",
    after_help = "Examples:
  oxalloc map -o heap.svg -- sqlite3 :memory: 'create table t(x); insert into t values(1)'
  PYTHONMALLOC=malloc oxalloc map -o py.svg --signal-after 2 -- python3 server.py
  oxalloc map -o heap.svg --save-map heap.txt -- sort -n big.txt
  oxalloc map -o again.svg --input heap.txt        draw a saved map (or one of OXALLOC_MAP_FILE)"
)]
struct MapArgs {
    /// The SVG file to write.
    #[arg(short, long, value_name = "FILE.svg")]
    output: PathBuf,
    /// Draw the map of this process (a child of the program) instead of the program's own.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Send SIGUSR1 to the program after SECS seconds (fractions allowed) and draw the map it
    /// writes then, rather than the one at exit. Not sent if the program has not installed
    /// oxalloc's handler yet (it does at its first allocation).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_negative_numbers = true)]
    signal_after: Option<Duration>,
    /// Also save the drawn map (text) to FILE.
    #[arg(long, value_name = "FILE")]
    save_map: Option<PathBuf>,
    /// Draw an existing map file instead of running a program.
    #[arg(short, long, value_name = "MAP.txt", conflicts_with_all = ["command", "pid", "signal_after"])]
    input: Option<PathBuf>,
    /// Picture width in pixels.
    #[arg(long, default_value_t = 1200, value_name = "PX", value_parser = clap::value_parser!(u32).range(600..=10000))]
    width: u32,
    /// About how many rows of address space to draw (each row is a power of two of bytes, at
    /// least 4 KiB).
    #[arg(long, default_value_t = 40, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=2000))]
    rows: u64,
    /// The liboxalloc.so to preload (as for `oxalloc run`).
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// The program to run and its arguments.
    #[arg(
        value_name = "PROGRAM",
        required_unless_present = "input",
        num_args = 1..,
        trailing_var_arg = true
    )]
    command: Vec<OsString>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=86400.0).contains(&v) {
        return Err(format!("{s:?}: expected 0 to 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn main() -> ExitCode {
    let table = optionstable::table();
    let cmd = Cli::command()
        .mut_subcommand("run", |c| {
            c.after_help("Run `oxalloc run --help` for the table of OXALLOC_* options.")
                .after_long_help(format!(
                    "Examples:\n  oxalloc run -- ls -l\n  oxalloc run --stats -- sh -c 'ls / | sort'    one summary per process\n  OXALLOC_TRIM_THRESHOLD=1m oxalloc run -- ./server\n\n{table}"
                ))
        });
    let matches = cmd.get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match cli.command {
        Cmd::Run(a) => run(a),
        Cmd::Bench(a) => bench(a),
        Cmd::Map(a) => map(a),
        Cmd::Options => {
            println!("{table}");
            ExitCode::SUCCESS
        }
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("oxalloc: error: {msg}");
    ExitCode::FAILURE
}

// ---------------------------------------------------------------------------------------------
// run

fn run(a: RunArgs) -> ExitCode {
    let lib = match locate::find_library(a.lib.as_deref()) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let (program, args) = split_command(a.command);
    let dir = if a.stats {
        match tempfile::Builder::new().prefix("oxalloc-stats-").tempdir() {
            Ok(d) => Some(d),
            Err(e) => return fail(format!("cannot create a temporary directory: {e}")),
        }
    } else {
        None
    };
    let mut env = Vec::new();
    if let Some(d) = &dir {
        env.push((
            OsString::from("OXALLOC_STATS_FILE"),
            reports::pattern(d.path(), "stats").into_os_string(),
        ));
    }
    let launch = Launch {
        program,
        args,
        lib,
        env,
    };
    let mut child = match launch.spawn() {
        Ok(c) => c,
        Err((msg, code)) => {
            eprintln!("oxalloc: {msg}");
            return ExitCode::from(code);
        }
    };
    let root = child.id();
    let status = match exec::wait(&mut child) {
        Ok(s) => s,
        Err(e) => return fail(format!("waiting for the program: {e}")),
    };
    if let Some(d) = &dir {
        if let Err(e) = print_stats(d.path(), root, a.stats_output.as_deref()) {
            eprintln!("oxalloc: error: printing the statistics: {e}");
        }
    }
    ExitCode::from(exec::shell_status(status))
}

fn split_command(mut command: Vec<OsString>) -> (OsString, Vec<OsString>) {
    let program = command.remove(0);
    (program, command)
}

/// Prints every process's statistics file, the root process first.
fn print_stats(dir: &Path, root: u32, to: Option<&Path>) -> std::io::Result<()> {
    let files = reports::collect(dir, "stats", root)?;
    let mut text = String::new();
    if files.is_empty() {
        text.push_str(
            "oxalloc: no process wrote statistics (a statically linked or setuid program ignores \
             LD_PRELOAD; a process that ends by a signal or _exit writes none)\n",
        );
    } else if files[0].0 != root {
        text.push_str(&format!(
            "oxalloc: no statistics from pid {root} (the program's own process: it ended by a \
             signal, _exit or exec of a program that does not use oxalloc)\n\n"
        ));
    }
    for (i, (_, path)) in files.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let body = std::fs::read_to_string(path)?;
        text.push_str(&body);
        if !body.ends_with('\n') {
            text.push('\n');
        }
    }
    match to {
        Some(p) => std::fs::write(p, text),
        None => std::io::stderr().lock().write_all(text.as_bytes()),
    }
}

// ---------------------------------------------------------------------------------------------
// bench

fn bench(a: BenchArgs) -> ExitCode {
    if a.list {
        for w in WORKLOADS {
            println!(
                "{:<12} {}{}",
                w.name,
                w.about,
                if w.in_quick { "" } else { " (full size only)" }
            );
        }
        return ExitCode::SUCCESS;
    }
    let oxalloc_so = match locate::find_library(a.oxalloc.as_deref()) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let allocators = match choose_allocators(&a.allocators, &oxalloc_so) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if let Some(bad) = a
        .workloads
        .iter()
        .find(|w| !workload_names().contains(&w.as_str()))
    {
        return fail(format!(
            "unknown workload {bad:?}; known: {}",
            workload_names().join(", ")
        ));
    }
    let workload_bin = a.workload_bin.clone().unwrap_or_else(default_workload_bin);
    if !workload_bin.is_file() {
        return fail(format!(
            "{} not found: build it with `cargo build --release --workspace` (or pass --workload-bin)",
            workload_bin.display()
        ));
    }
    let cfg = BenchConfig {
        allocators,
        workloads: a.workloads.clone(),
        runs: a.runs as usize,
        quick: a.quick,
        out_dir: a.out.clone(),
        callgrind: a.callgrind,
        workload_bin,
        timeout: Duration::from_secs(a.timeout),
    };

    let pb = if a.no_progress {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
    } else {
        ProgressBar::new(0)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner:.green} [{elapsed_precise}] {bar:32.cyan/blue} {pos:>3}/{len:3} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    let hidden = pb.is_hidden();
    let say = |pb: &ProgressBar, line: String| {
        if hidden {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
    };
    let started = Instant::now();
    let results = oxalloc_bench::run(&cfg, &mut |p| match p {
        Progress::Starting {
            total,
            workload,
            allocator,
            run,
            ..
        } => {
            pb.set_length(total as u64);
            pb.set_message(format!("{workload} · {allocator} · run {run}"));
        }
        Progress::Finished {
            step,
            total,
            record,
        } => {
            pb.inc(1);
            if !record.ok {
                say(
                    &pb,
                    format!(
                        "{} under {}: {}",
                        record.workload, record.allocator, record.status
                    ),
                );
            } else if hidden {
                eprintln!(
                    "[{step:>3}/{total}] {:<11} {:<9} run {}: {:8.1} ms {:8.1} MiB",
                    record.workload,
                    record.allocator,
                    record.run,
                    record.wall_ms,
                    record.max_rss_kib as f64 / 1024.0
                );
            }
        }
        Progress::Callgrind { what, allocator } => {
            pb.set_message(format!("callgrind: {what} · {allocator}"));
        }
        Progress::Note(n) => say(&pb, format!("note: {n}")),
    });
    pb.finish_and_clear();

    let table = results.markdown_table();
    println!("{table}");
    let out = &cfg.out_dir;
    let (mut written, failed) = results.write_all(out, &table);
    let mut ok = failed.is_empty();
    for (path, e) in failed {
        eprintln!("oxalloc: error: cannot write {}: {e}", path.display());
    }
    match chart::ratio_data(&results) {
        Some(data) if !data.workloads.is_empty() => {
            let path = a
                .chart
                .clone()
                .unwrap_or_else(|| out.join("time-ratios.svg"));
            match chart::write_svg(&data, &path) {
                Ok(()) => written.push(path),
                Err(e) => {
                    eprintln!("oxalloc: error: cannot draw the chart: {e}");
                    ok = false;
                }
            }
        }
        Some(_) => {}
        None => eprintln!("oxalloc: no chart: {REFERENCE} was not among the allocators"),
    }
    eprintln!(
        "oxalloc: {} in {:.0} s; wrote {}",
        if results.has_errors() {
            "benchmark finished with errors"
        } else {
            "benchmark done"
        },
        started.elapsed().as_secs_f64(),
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if results.has_errors() {
        eprintln!(
            "oxalloc: error: {} run(s) failed or disagreed; see the Errors section",
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

/// The allocators named on the command line (all installed ones when none are).
fn choose_allocators(names: &[String], oxalloc_so: &Path) -> Result<Vec<Allocator>, String> {
    if names.is_empty() {
        return Ok(default_allocators(oxalloc_so));
    }
    let mut defaults: Option<Vec<Allocator>> = None;
    let mut out: Vec<Allocator> = Vec::new();
    for n in names {
        let a = if let Some((name, path)) = n.split_once('=') {
            if !Path::new(path).is_file() {
                return Err(format!("allocator {name}: {path} not found"));
            }
            Allocator::preloaded(name, path)
        } else if n == "glibc" {
            Allocator::glibc()
        } else if n == REFERENCE {
            Allocator::preloaded(REFERENCE, oxalloc_so)
        } else {
            let d = defaults.get_or_insert_with(|| default_allocators(oxalloc_so));
            d.iter().find(|a| &a.name == n).cloned().ok_or_else(|| {
                let known: Vec<&str> = d.iter().map(|a| a.name.as_str()).collect();
                format!(
                    "allocator {n:?} unavailable (available: {}; or NAME=/path/lib.so)",
                    known.join(", ")
                )
            })?
        };
        if out.iter().any(|b| b.name == a.name) {
            return Err(format!("allocator {:?} named twice", a.name));
        }
        out.push(a);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// map

fn map(a: MapArgs) -> ExitCode {
    let Taken {
        text,
        status,
        command,
        when,
    } = if let Some(input) = &a.input {
        match std::fs::read_to_string(input) {
            Ok(text) => Taken {
                text,
                status: None,
                command: String::new(),
                when: format!("from {}", input.display()),
            },
            Err(e) => return fail(format!("{}: {e}", input.display())),
        }
    } else {
        match run_for_map(&a) {
            Ok(r) => r,
            Err((msg, code)) => {
                eprintln!("oxalloc: error: {msg}");
                return ExitCode::from(code);
            }
        }
    };
    let heap = match HeapMap::parse(&text) {
        Ok(m) => m,
        Err(e) => return fail(format!("the heap map is unreadable: {e}")),
    };
    if let Some(p) = &a.save_map {
        if let Err(e) = std::fs::write(p, &text) {
            return fail(format!("{}: {e}", p.display()));
        }
    }
    let opts = mapsvg::RenderOptions {
        width: a.width,
        max_rows: a.rows,
        command,
        when,
    };
    let svg = mapsvg::render(&heap, &opts);
    if let Err(e) = std::fs::write(&a.output, svg) {
        return fail(format!("{}: {e}", a.output.display()));
    }
    let t = heap.totals();
    eprintln!(
        "oxalloc: heap map of pid {} drawn to {}: {} runs; heap {}, in use {}, free {} + top {}, fragmentation {:.2}",
        heap.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
        a.output.display(),
        heap.run_count(),
        human_bytes(t.heap_bytes),
        human_bytes(t.in_use_bytes()),
        human_bytes(t.free_bytes),
        human_bytes(t.top_bytes),
        t.fragmentation()
    );
    for m in heap.mismatches() {
        eprintln!("oxalloc: warning: map and statistics disagree: {m}");
    }
    match status {
        Some(code) => ExitCode::from(code),
        None => ExitCode::SUCCESS,
    }
}

/// A heap map to draw, and where it came from.
struct Taken {
    /// The map's text.
    text: String,
    /// The program's exit status, when a program ran.
    status: Option<u8>,
    /// The program's command line (for the title).
    command: String,
    /// When the map was written (for the title).
    when: String,
}

/// Runs the program of `a` with OXALLOC_MAP_FILE set and returns the map to draw (or an error
/// message and exit status).
fn run_for_map(a: &MapArgs) -> Result<Taken, (String, u8)> {
    let lib = locate::find_library(a.lib.as_deref()).map_err(|e| (e, 1))?;
    let dir = tempfile::Builder::new()
        .prefix("oxalloc-map-")
        .tempdir()
        .map_err(|e| (format!("cannot create a temporary directory: {e}"), 1))?;
    let (program, args) = split_command(a.command.clone());
    let command = exec::command_line(&program, &args, 110);
    let launch = Launch {
        program,
        args,
        lib,
        env: vec![(
            OsString::from("OXALLOC_MAP_FILE"),
            reports::pattern(dir.path(), "map").into_os_string(),
        )],
    };
    let mut child = launch.spawn()?;
    let root = child.id();
    let mut snapshot: Option<String> = None;
    let status = match a.signal_after {
        Some(after) => exec::wait_with_timer(&mut child, after, |pid| {
            snapshot = signal_snapshot(dir.path(), pid);
        }),
        None => exec::wait(&mut child),
    }
    .map_err(|e| (format!("waiting for the program: {e}"), 1))?;
    let code = exec::shell_status(status);
    if !status.success() {
        eprintln!("oxalloc: the program ended with {}", exec::describe(status));
    }
    let maps = reports::collect(dir.path(), "map", root).unwrap_or_default();
    let pid = match a.pid {
        Some(p) => p,
        None if snapshot.is_some() || maps.iter().any(|(p, _)| *p == root) => root,
        None => {
            // The program's own process wrote no map (a shell ends with _exit; an exec'd program
            // may not use malloc): draw the largest heap among its children's.
            let largest = maps
                .iter()
                .filter_map(|(p, path)| {
                    let text = std::fs::read_to_string(path).ok()?;
                    let heap = HeapMap::parse(&text).ok()?.totals().heap_bytes;
                    Some((heap, *p))
                })
                .max();
            match largest {
                Some((_, p)) => {
                    eprintln!(
                        "oxalloc: pid {root} (the program's own process) wrote no heap map (a shell \
                         ends with _exit); drawing pid {p}, the largest heap of the {} written",
                        maps.len()
                    );
                    p
                }
                None => root,
            }
        }
    };
    let others: Vec<u32> = maps.iter().map(|(p, _)| *p).filter(|&p| p != pid).collect();
    if let (Some(text), true) = (&snapshot, pid == root) {
        note_others(&others);
        let when = format!(
            "on SIGUSR1, {:.1} s after the start",
            a.signal_after.unwrap_or_default().as_secs_f64()
        );
        return Ok(Taken {
            text: text.clone(),
            status: Some(code),
            command,
            when,
        });
    }
    let path = reports::file_of(dir.path(), "map", pid);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            note_others(&others);
            let when = if pid == root {
                "at exit".to_string()
            } else {
                format!("at exit of pid {pid}, a child of the program")
            };
            Ok(Taken {
                text,
                status: Some(code),
                command,
                when,
            })
        }
        Err(_) => {
            let list = if others.is_empty() {
                "no process wrote a map (a statically linked or setuid program ignores \
                 LD_PRELOAD; a process killed by a signal or ended by _exit writes none)"
                    .to_string()
            } else {
                format!(
                    "maps were written by pid(s) {} (choose one with --pid)",
                    others
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Err((format!("no heap map from pid {pid}: {list}"), 1))
        }
    }
}

fn note_others(others: &[u32]) {
    if !others.is_empty() {
        let shown: Vec<String> = others.iter().take(12).map(|p| p.to_string()).collect();
        eprintln!(
            "oxalloc: {} other process(es) wrote maps too (pids {}{}); draw one with --pid",
            others.len(),
            shown.join(", "),
            if others.len() > 12 { ", …" } else { "" }
        );
    }
}

/// Sends SIGUSR1 to `pid` and returns the complete map it writes (or `None`, with a warning).
fn signal_snapshot(dir: &Path, pid: u32) -> Option<String> {
    if !exec::catches_signal(pid, libc::SIGUSR1) {
        eprintln!(
            "oxalloc: warning: pid {pid} does not catch SIGUSR1 yet (no allocation so far?): not \
             signalled; drawing the map at exit"
        );
        return None;
    }
    let path = reports::file_of(dir, "map", pid);
    let _ = std::fs::remove_file(&path);
    if let Err(e) = exec::send_signal(pid, libc::SIGUSR1) {
        eprintln!("oxalloc: warning: cannot signal pid {pid}: {e}");
        return None;
    }
    // The map is complete once its last line, the stats line, is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if text.ends_with('\n') && text.lines().last().is_some_and(|l| l.starts_with("stats "))
            {
                eprintln!("oxalloc: pid {pid} wrote its heap map on SIGUSR1");
                return Some(text);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "oxalloc: warning: pid {pid} wrote no complete map within 10 s of SIGUSR1; drawing the \
         map at exit"
    );
    None
}
