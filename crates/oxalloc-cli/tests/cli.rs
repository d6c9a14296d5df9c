//! Tests of the `oxalloc` tool: `run` (exit status, statistics of a real program and of each
//! process of a forking one, the options table, a bad option value), `bench --quick` on one
//! workload (table, CSV, JSON, chart), `map` on real programs (the picture parses as SVG, has a
//! shape per run of blocks, and its totals match the library's statistics), and the parsing of
//! the tool's own arguments, bad values included.
//!
//! They need target/<profile>/liboxalloc.so and oxalloc-workload: `cargo build --release
//! --workspace` first (as scripts/test.sh does).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

/// `target/<profile>`: the test executable lives in `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// The liboxalloc.so to preload: next to the tests' profile directory, else the release one.
fn lib() -> PathBuf {
    let here = profile_dir().join("liboxalloc.so");
    if here.is_file() {
        return here;
    }
    let release = profile_dir()
        .parent()
        .map(|t| t.join("release").join("liboxalloc.so"));
    match release {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "{} is missing: run `cargo build --release --workspace` before these tests (cargo \
             test does not build the cdylib)",
            here.display()
        ),
    }
}

/// The `oxalloc` binary under test.
fn oxalloc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oxalloc"))
}

/// `oxalloc run --lib LIB ...`
fn run_cmd() -> Command {
    let mut c = oxalloc();
    c.arg("run").arg("--lib").arg(lib());
    c
}

/// A file of `n` numbers, one a line, in a scrambled order.
fn numbers_file(dir: &Path, n: u64) -> PathBuf {
    let mut s = String::new();
    let mut x: u64 = 12345;
    for _ in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push_str(&format!("{}\n", (x >> 33) % 1_000_000));
    }
    let p = dir.join("numbers.txt");
    std::fs::write(&p, s).expect("write numbers");
    p
}

/// The statistics blocks of `stderr`: (pid, block text), in order.
fn stats_blocks(stderr: &str) -> Vec<(u32, String)> {
    let mut blocks: Vec<(u32, String)> = Vec::new();
    for line in stderr.lines() {
        if let Some(pid) = line.strip_prefix("oxalloc: stats for pid ") {
            let pid = pid.trim().parse().expect("numeric pid");
            blocks.push((pid, String::new()));
        }
        if let Some(b) = blocks.last_mut() {
            b.1.push_str(line);
            b.1.push('\n');
        }
    }
    blocks
}

/// The number on the line of `block` that starts with `name`.
fn field(block: &str, name: &str) -> u64 {
    block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name:?} line in\n{block}"))
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------
// run

#[test]
fn run_passes_the_exit_status_through() {
    run_cmd().args(["sh", "-c", "exit 7"]).assert().code(7);
    run_cmd()
        .args(["--", "sh", "-c", "exit 0"])
        .assert()
        .code(0);
    // A death by signal N is reported as 128 + N, as a shell does.
    run_cmd()
        .args(["sh", "-c", "kill -TERM $$"])
        .assert()
        .code(128 + 15);
    run_cmd()
        .arg("/nonexistent/program")
        .assert()
        .code(127)
        .stderr(predicate::str::contains("cannot run /nonexistent/program"));
}

#[test]
fn run_passes_output_and_arguments_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = numbers_file(dir.path(), 2000);
    let plain = std::process::Command::new("sort")
        .arg("-n")
        .arg(&input)
        .output()
        .expect("sort runs");
    let out = run_cmd()
        .arg("sort")
        .arg("-n")
        .arg(&input)
        .output()
        .expect("oxalloc runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, plain.stdout);
    assert!(out.stderr.is_empty(), "{}", stderr_of(&out));
}

#[test]
fn run_stats_on_a_real_program() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = numbers_file(dir.path(), 50_000);
    let out = run_cmd()
        .args(["--stats", "--", "sort", "-n"])
        .arg(&input)
        .output()
        .expect("oxalloc runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).lines().count(), 50_000);
    let err = stderr_of(&out);
    let blocks = stats_blocks(&err);
    assert_eq!(blocks.len(), 1, "one process, one summary:\n{err}");
    let (pid, block) = &blocks[0];
    assert!(*pid > 1, "{err}");
    assert!(field(block, "allocations") > 0, "{block}");
    assert!(field(block, "heap peak") > 0, "{block}");
    assert!(block.contains("in use by size"), "{block}");
}

#[test]
fn run_stats_on_python() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let out = run_cmd()
        .args(["--stats", "--"])
        .arg(python)
        .args([
            "-c",
            "import os; d = {i: str(i) for i in range(20000)}; print(os.getpid(), len(d))",
        ])
        .env("PYTHONMALLOC", "malloc")
        .output()
        .expect("oxalloc runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let mut words = stdout.split_whitespace();
    let pid: u32 = words.next().and_then(|w| w.parse().ok()).expect("pid");
    assert_eq!(words.next(), Some("20000"));
    let blocks = stats_blocks(&stderr_of(&out));
    assert!(!blocks.is_empty(), "{}", stderr_of(&out));
    assert_eq!(blocks[0].0, pid, "the program's own process comes first");
    assert!(
        field(&blocks[0].1, "allocations") > 20_000,
        "{}",
        blocks[0].1
    );
}

#[test]
fn run_stats_on_a_forking_program_gives_one_summary_per_process() {
    let out = run_cmd()
        .args([
            "--stats",
            "--",
            "sh",
            "-c",
            // The shell forks one ls, and execs the other in its own process (a shell's own
            // process ends with _exit, which writes no statistics).
            "echo $$; ls / >/dev/null; exec ls /usr > /dev/null",
        ])
        .output()
        .expect("oxalloc runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let root: u32 = stdout_of(&out).trim().parse().expect("the shell's pid");
    let err = stderr_of(&out);
    let blocks = stats_blocks(&err);
    assert_eq!(blocks.len(), 2, "two ls processes:\n{err}");
    let pids: BTreeSet<u32> = blocks.iter().map(|b| b.0).collect();
    assert_eq!(
        pids.len(),
        blocks.len(),
        "each summary has its own pid:\n{err}"
    );
    assert_eq!(blocks[0].0, root, "the program's own process first:\n{err}");
    let rest: Vec<u32> = blocks[1..].iter().map(|b| b.0).collect();
    let mut sorted = rest.clone();
    sorted.sort_unstable();
    assert_eq!(rest, sorted, "then by pid");
    for (pid, block) in &blocks {
        assert!(field(block, "allocations") > 0, "pid {pid}:\n{block}");
    }
}

#[test]
fn run_stats_can_go_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stats.txt");
    run_cmd()
        .args(["--stats", "--stats-output"])
        .arg(&file)
        .args(["--", "ls", "/"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    let text = std::fs::read_to_string(&file).expect("stats file");
    assert_eq!(stats_blocks(&text).len(), 1, "{text}");
}

#[test]
fn run_help_prints_the_options_table() {
    let out = oxalloc().args(["run", "--help"]).output().expect("help");
    assert!(out.status.success());
    let help = stdout_of(&out);
    assert!(help.contains("--stats") && help.contains("--lib"), "{help}");
    for o in oxalloc::options::OPTIONS {
        assert!(help.contains(o.env), "{} missing from\n{help}", o.env);
        let line = help
            .lines()
            .find(|l| l.split_whitespace().next() == Some(o.env))
            .expect("a row per option");
        let default = if o.default.is_empty() {
            "(none)"
        } else {
            o.default
        };
        assert!(line.contains(default), "{line}");
    }
    // The short help points at the long one; `oxalloc options` prints the table alone.
    oxalloc()
        .args(["run", "-h"])
        .assert()
        .success()
        .stdout(predicate::str::contains("oxalloc run --help"));
    oxalloc()
        .arg("options")
        .assert()
        .success()
        .stdout(predicate::str::contains("OXALLOC_TRIM_THRESHOLD"));
}

#[test]
fn a_bad_option_value_gives_one_warning_and_changes_no_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = numbers_file(dir.path(), 5000);
    let plain = run_cmd()
        .args(["sort", "-n"])
        .arg(&input)
        .output()
        .expect("runs");
    assert!(plain.status.success());
    let bad = run_cmd()
        .args(["sort", "-n"])
        .arg(&input)
        .env("OXALLOC_TRIM_THRESHOLD", "abc")
        .output()
        .expect("runs");
    assert!(bad.status.success(), "{}", stderr_of(&bad));
    assert_eq!(
        bad.stdout, plain.stdout,
        "the program's output is unchanged"
    );
    let err = stderr_of(&bad);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("oxalloc: warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "exactly one warning line:\n{err}");
    assert!(
        warnings[0].contains("OXALLOC_TRIM_THRESHOLD=abc"),
        "{}",
        warnings[0]
    );
    assert_eq!(err.lines().count(), 1, "nothing else on stderr:\n{err}");
}

#[test]
fn bad_arguments_are_refused_with_usage_errors() {
    // No program.
    oxalloc()
        .arg("run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("PROGRAM"));
    // Unknown subcommand and option.
    oxalloc().arg("frobnicate").assert().code(2);
    oxalloc()
        .args(["run", "--no-such-option", "ls"])
        .assert()
        .code(2);
    // --stats-output needs --stats.
    oxalloc()
        .args(["run", "--stats-output", "/tmp/x", "ls"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--stats"));
    // Bad numbers.
    oxalloc()
        .args(["bench", "--runs", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--runs"));
    oxalloc().args(["bench", "--runs", "many"]).assert().code(2);
    oxalloc()
        .args([
            "map",
            "-o",
            "/tmp/x.svg",
            "--signal-after",
            "-1",
            "--",
            "ls",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--signal-after"));
    oxalloc()
        .args(["map", "-o", "/tmp/x.svg", "--signal-after", "soon", "ls"])
        .assert()
        .code(2);
    oxalloc()
        .args(["map", "-o", "/tmp/x.svg", "--width", "12", "ls"])
        .assert()
        .code(2);
    // map needs --output, and a program or --input (not both).
    oxalloc().args(["map", "ls"]).assert().code(2);
    oxalloc().args(["map", "-o", "/tmp/x.svg"]).assert().code(2);
    oxalloc()
        .args(["map", "-o", "/tmp/x.svg", "-i", "/tmp/m.txt", "ls"])
        .assert()
        .code(2);
    // Values the parser accepts but the command refuses.
    oxalloc()
        .args([
            "bench",
            "--workloads",
            "nosuchworkload",
            "--allocators",
            "glibc",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown workload"));
    oxalloc()
        .args(["bench", "--allocators", "nosuchalloc=/nonexistent.so"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not found"));
    oxalloc()
        .args(["run", "--lib", "/nonexistent/liboxalloc.so", "ls"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--lib"));
}

// ---------------------------------------------------------------------------------------------
// bench

/// `oxalloc-workload teardown N`: the checksum of glibc's run, the metric, and the number of
/// bulk free phases oxalloc's statistics count (one per round at most: five rounds).
fn teardown_run(n: &str, shuffled: bool, size: Option<&str>) -> (String, u64) {
    let workload = profile_dir().join("oxalloc-workload");
    let mut args = vec!["teardown", n];
    if shuffled {
        args.push("--shuffled");
    }
    if let Some(size) = size {
        args.extend(["--size", size]);
    }
    let glibc = std::process::Command::new(&workload)
        .args(&args)
        .output()
        .expect("teardown runs");
    let ox = std::process::Command::new(&workload)
        .args(&args)
        .env("LD_PRELOAD", lib())
        .env("OXALLOC_STATS", "1")
        .output()
        .expect("teardown runs");
    assert!(
        glibc.status.success() && ox.status.success(),
        "{}",
        stderr_of(&ox)
    );
    let checksum = |o: &std::process::Output| {
        stdout_of(o)
            .lines()
            .find(|l| l.starts_with("checksum:"))
            .map(str::to_owned)
    };
    assert_eq!(checksum(&glibc), checksum(&ox));
    assert!(checksum(&ox).is_some());
    let out = stdout_of(&ox);
    assert!(out.contains("metric: free_ns_per_obj "), "{out}");
    let err = stderr_of(&ox);
    let phases = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("free phases"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no free phases line:\n{err}"));
    (out, phases)
}

#[test]
fn a_teardown_enters_a_bulk_free_phase_only_past_two_mib() {
    // 2,000 objects of 8-256 bytes (about 160 KB): their headers are warm, no phase.
    let (_, phases) = teardown_run("2000", false, None);
    assert_eq!(phases, 0, "a small teardown went through the ring");
    // 60,000 (about 5 MB), shuffled: a phase in each of the five rounds.
    let (_, phases) = teardown_run("60000", true, None);
    assert_eq!(phases, 5, "a large teardown's phases");
    // 1,000 blocks of 4,000 bytes: medium blocks, which a single-threaded process frees into
    // the heap at once, count too.
    let (_, phases) = teardown_run("1000", false, Some("4000"));
    assert_eq!(phases, 5, "a teardown of medium blocks' phases");
}

#[test]
fn a_workload_refuses_a_bad_flag_value_instead_of_running_with_its_default() {
    let workload = profile_dir().join("oxalloc-workload");
    for args in [
        &["teardown", "1000", "--size", "4k"][..],
        &["teardown", "1000", "--size"],
        &["bulk", "--quick", "--threads", "0"],
        &["bulk", "--quick", "--threads", "four"],
    ] {
        let out = std::process::Command::new(&workload)
            .args(args)
            .output()
            .expect("oxalloc-workload runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr_of(&out);
        assert!(
            err.contains(args[2]) && err.contains("usage:"),
            "{args:?}: {err}"
        );
        assert!(!stdout_of(&out).contains("checksum"), "{args:?} ran");
    }
}

#[test]
fn bench_quick_on_one_workload_writes_table_csv_json_and_chart() {
    let workload = profile_dir().join("oxalloc-workload");
    assert!(
        workload.is_file(),
        "{} is missing: run `cargo build --release --workspace` first",
        workload.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("results");
    let out = oxalloc()
        .args([
            "bench",
            "--quick",
            "--workloads",
            "bignum",
            "--allocators",
            "glibc,oxalloc",
            "--runs",
            "1",
            "--no-progress",
            "--oxalloc",
        ])
        .arg(lib())
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("bench runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let table = stdout_of(&out);
    assert!(table.contains("| workload |"), "{table}");
    assert!(table.contains("| bignum |"), "{table}");
    assert!(
        table.contains("glibc time") && table.contains("oxalloc time"),
        "{table}"
    );
    assert!(table.contains("geomean"), "{table}");

    let md = std::fs::read_to_string(out_dir.join("results.md")).expect("results.md");
    assert!(md.contains("| bignum |"));
    let csv = std::fs::read_to_string(out_dir.join("results.csv")).expect("results.csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert!(
        rows[0].starts_with("kind,workload,allocator,run,wall_ms"),
        "{csv}"
    );
    let time_rows: Vec<&&str> = rows
        .iter()
        .filter(|r| r.starts_with("time,bignum,"))
        .collect();
    assert_eq!(
        time_rows.len(),
        2,
        "one run each of glibc and oxalloc:\n{csv}"
    );
    let json = std::fs::read_to_string(out_dir.join("results.json")).expect("results.json");
    assert!(json.trim_start().starts_with('{') && json.contains("\"bignum\""));
    // The targets' summary under the table (one peer here: glibc is the smallest).
    assert!(
        md.contains("oxalloc's peak RSS against each workload's smallest peer: ")
            && md.contains("in geometric mean (n = 1)")
            && md.contains("Workloads where glibc is faster"),
        "{md}"
    );
    // `oxalloc-bench --render` prints the same report from results.json.
    let rendered = Command::new(profile_dir().join("oxalloc-bench"))
        .arg("--render")
        .arg(out_dir.join("results.json"))
        .output()
        .expect("oxalloc-bench --render");
    assert!(rendered.status.success(), "{}", stderr_of(&rendered));
    assert_eq!(stdout_of(&rendered).trim(), md.trim());

    let svg = std::fs::read_to_string(out_dir.join("time-ratios.svg")).expect("the chart");
    let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    for want in ["bignum", "geomean", "glibc", "oxalloc = 1"] {
        assert!(
            texts.iter().any(|t| t.contains(want)),
            "no {want:?} in the chart's texts {texts:?}"
        );
    }
    let rects = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
    assert!(
        rects >= 3,
        "bars for bignum and the geomean, and the legend"
    );
}

// ---------------------------------------------------------------------------------------------
// map

/// What a map's text says: the number of run lines, the stats line, and totals computed here.
struct MapFacts {
    runs: usize,
    stats: std::collections::BTreeMap<String, u64>,
    used_bytes: u64,
    used_blocks: u64,
    free_blocks: u64,
    top_bytes: u64,
    heap_bytes: u64,
    huge_bytes: u64,
    huge_blocks: u64,
}

fn map_facts(text: &str) -> MapFacts {
    let mut f = MapFacts {
        runs: 0,
        stats: Default::default(),
        used_bytes: 0,
        used_blocks: 0,
        free_blocks: 0,
        top_bytes: 0,
        heap_bytes: 0,
        huge_bytes: 0,
        huge_blocks: 0,
    };
    assert!(text.starts_with("# oxalloc heap map v1"), "{text}");
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex");
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.first().copied() {
            Some("run") => {
                f.runs += 1;
                let bytes: u64 = w[2].parse().expect("bytes");
                let count: u64 = w[3].parse().expect("count");
                if w[4] == "used" {
                    f.used_bytes += bytes;
                    f.used_blocks += count;
                } else {
                    assert_eq!(w[4], "free", "{line}");
                    f.free_blocks += count;
                }
            }
            Some("top") => f.top_bytes += w[2].parse::<u64>().expect("top"),
            Some("segment") => f.heap_bytes += hex(w[2]) - hex(w[1]),
            Some("huge") => {
                f.huge_bytes += w[2].parse::<u64>().expect("huge");
                f.huge_blocks += 1;
            }
            Some("stats") => {
                for kv in &w[1..] {
                    let (k, v) = kv.split_once('=').expect("name=value");
                    f.stats.insert(k.to_string(), v.parse().expect("number"));
                }
            }
            _ => {}
        }
    }
    f
}

/// Checks a drawn map against its text: it parses as SVG, every run line has its rectangle(s),
/// and the legend's totals are the stats line's numbers.
fn check_picture(svg_path: &Path, map_path: &Path) {
    let text = std::fs::read_to_string(map_path).expect("the saved map");
    let facts = map_facts(&text);
    assert!(facts.runs > 0, "the map has runs:\n{text}");
    assert!(!facts.stats.is_empty(), "the map ends with its stats line");

    let svg = std::fs::read_to_string(svg_path).expect("the picture");
    let doc = roxmltree::Document::parse(&svg).expect("the picture is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );

    // One shape (or more, where a run wraps to the next row) per run line.
    let run_rects: Vec<usize> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter_map(|n| n.attribute("data-run"))
        .map(|v| v.parse().expect("run index"))
        .collect();
    assert!(
        run_rects.len() >= facts.runs,
        "{} run rectangles for {} run lines",
        run_rects.len(),
        facts.runs
    );
    let distinct: BTreeSet<usize> = run_rects.iter().copied().collect();
    assert_eq!(distinct.len(), facts.runs, "every run line is drawn");
    assert_eq!(distinct.iter().next_back().copied(), Some(facts.runs - 1));

    // The totals: attributes of <g id="totals">, and the numbers written in the legend.
    let totals = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("totals"))
        .expect("a totals group");
    let attr = |name: &str| -> u64 {
        totals
            .attribute(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number"))
    };
    let st = |name: &str| facts.stats[name];
    assert_eq!(attr("data-in-use-bytes"), st("in_use_bytes"));
    assert_eq!(attr("data-in-use-blocks"), st("in_use_blocks"));
    assert_eq!(attr("data-free-blocks"), st("free_blocks"));
    assert_eq!(attr("data-top-bytes"), st("top_bytes"));
    assert_eq!(attr("data-heap-bytes"), st("heap_bytes"));
    assert_eq!(attr("data-mapped-bytes"), st("mapped_bytes"));
    assert_eq!(attr("data-runs"), facts.runs as u64);
    // The map is consistent in itself: its records add up to its stats line (huge blocks are
    // counted by the library without the 24 bytes of their mapping in front of the block).
    assert_eq!(
        facts.used_bytes + facts.huge_bytes - 24 * facts.huge_blocks,
        st("in_use_bytes")
    );
    assert_eq!(facts.used_blocks + facts.huge_blocks, st("in_use_blocks"));
    assert_eq!(facts.free_blocks, st("free_blocks"));
    assert_eq!(facts.top_bytes, st("top_bytes"));
    assert_eq!(facts.heap_bytes, st("heap_bytes"));
    // The legend shows the same numbers, each marked as matching the stats line.
    for key in [
        "in_use_bytes",
        "in_use_blocks",
        "free_blocks",
        "top_bytes",
        "heap_bytes",
    ] {
        let shown = doc
            .descendants()
            .find(|n| n.attribute("data-key") == Some(key))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("no legend text for {key}"))
            .replace(',', "");
        assert_eq!(shown.parse::<u64>().expect("number"), st(key), "{key}");
    }
    assert!(
        !doc.descendants()
            .any(|n| n.attribute("class") == Some("bad")),
        "no total differs from the stats line"
    );
    let frag: f64 = totals
        .attribute("data-fragmentation")
        .expect("fragmentation")
        .parse()
        .expect("a number");
    assert!((0.0..=1.0).contains(&frag), "{frag}");
    assert!(svg.contains("fragmentation"));
}

#[test]
fn map_of_a_real_program() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = numbers_file(dir.path(), 30_000);
    let svg = dir.path().join("sort.svg");
    let map = dir.path().join("sort-map.txt");
    let out = oxalloc()
        .args(["map", "--lib"])
        .arg(lib())
        .arg("-o")
        .arg(&svg)
        .arg("--save-map")
        .arg(&map)
        .args(["--", "sort", "-n"])
        .arg(&input)
        .output()
        .expect("map runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out).lines().count(),
        30_000,
        "sort's output passes through"
    );
    assert!(stderr_of(&out).contains("drawn to"), "{}", stderr_of(&out));
    check_picture(&svg, &map);

    // The saved map draws again, to the same picture but for the subtitle.
    let again = dir.path().join("again.svg");
    oxalloc()
        .args(["map", "-o"])
        .arg(&again)
        .arg("-i")
        .arg(&map)
        .assert()
        .success();
    check_picture(&again, &map);
}

#[test]
fn map_of_python_with_used_and_free_runs_taken_on_a_signal() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("py.svg");
    let map = dir.path().join("py-map.txt");
    let script = "import time\n\
                  d = [{i: str(i) for i in range(j)} for j in range(300)]\n\
                  del d[::2]\n\
                  print('ready', flush=True)\n\
                  time.sleep(4)\n";
    let out = oxalloc()
        .args(["map", "--lib"])
        .arg(lib())
        .arg("-o")
        .arg(&svg)
        .arg("--save-map")
        .arg(&map)
        .args(["--signal-after", "1.5", "--"])
        .arg(python)
        .args(["-c", script])
        .env("PYTHONMALLOC", "malloc")
        .output()
        .expect("map runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("on SIGUSR1"), "{err}");
    check_picture(&svg, &map);
    let text = std::fs::read_to_string(&map).expect("map");
    assert!(text
        .lines()
        .any(|l| l.starts_with("run ") && l.contains(" used ")));
    assert!(text
        .lines()
        .any(|l| l.starts_with("run ") && l.contains(" free ")));
    let svg_text = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        svg_text.contains("on SIGUSR1"),
        "the picture says when it was taken"
    );
}

#[test]
fn map_passes_the_exit_status_through_and_reports_a_missing_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("x.svg");
    // The shell ends with _exit and writes no map: its child's is drawn; the status is the
    // shell's.
    oxalloc()
        .args(["map", "--lib"])
        .arg(lib())
        .arg("-o")
        .arg(&svg)
        .args(["--", "sh", "-c", "ls / > /dev/null; exit 3"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("wrote no heap map"));
    assert!(svg.is_file());
    // A process that does not exist has no map.
    oxalloc()
        .args(["map", "--lib"])
        .arg(lib())
        .arg("-o")
        .arg(dir.path().join("y.svg"))
        .args(["--pid", "1", "--", "ls", "/"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no heap map from pid 1"));
}

#[test]
fn threaded_workloads_give_the_same_checksum_under_oxalloc_as_under_the_c_library() {
    // Each object's length and its first and last bytes (where the workloads write a value of
    // their own, and an allocator its links) are folded into the checksum when it is freed,
    // whichever thread frees it: a block handed out twice, or whose first word the allocator
    // wrote while it was in use, changes it.
    let workload = profile_dir().join("oxalloc-workload");
    for name in ["relay", "server", "rounds", "larson", "bulk"] {
        let sum = |preload: Option<&Path>| {
            let mut cmd = std::process::Command::new(&workload);
            cmd.args([name, "--quick"]);
            if let Some(lib) = preload {
                cmd.env("LD_PRELOAD", lib);
            }
            let out = cmd.output().expect("oxalloc-workload runs");
            assert!(out.status.success(), "{name}: {}", stderr_of(&out));
            stdout_of(&out)
                .lines()
                .find(|l| l.starts_with("checksum:"))
                .unwrap_or_else(|| panic!("{name}: no checksum"))
                .to_string()
        };
        assert_eq!(sum(Some(&lib())), sum(None), "{name}");
    }
}
