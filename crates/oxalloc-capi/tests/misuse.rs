//! The misuse suite: every case of tests/misuse/misuse.c runs in a child process with
//! liboxalloc.so preloaded; the test asserts that the child was killed by SIGABRT and that stderr
//! holds exactly one line starting with `oxalloc:`, namely
//! `oxalloc: <kind> <address> in <function>()`, where the address is the one the case printed
//! (`addr 0x...`) before committing the misuse.
//!
//! `misuse_table_against_glibc` runs every case under oxalloc and under glibc's malloc (no
//! preload) and prints a comparison table (also written to `target/misuse-table.md`); glibc's
//! outcomes never fail it.
//!
//! Needs `cargo build --release` first (for target/release/liboxalloc.so) and gcc.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The kind of misuse a message names (the text before the address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `double free of 0x...`
    DoubleFree,
    /// `realloc of freed block 0x...`
    ReallocFreed,
    /// `invalid pointer 0x...`
    Invalid,
    /// `invalid pointer or corrupted block header at 0x...` (an interior pointer and an
    /// overwritten header look the same: the word before the pointer is not a valid header)
    BadHeader,
    /// `corrupted heap (next block's header overwritten) after 0x...`
    NextCorrupted,
    /// `buffer overflow past the end of 0x...` (the hardened mode's canary)
    Overflow,
    /// `use of freed block 0x...`
    UseFreed,
    /// `wrong size or alignment for block 0x...` (C23's sized frees)
    WrongSize,
    /// `free block written after free (its list link overwritten) at 0x...`
    WrittenAfterFree,
    /// `free block 0x... written after free (its list links overwritten), found in the heap's
    /// free lists` (a block the heap holds: the operation that reached it is not named)
    HeapLinks,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Kind::DoubleFree => "double free of",
            Kind::ReallocFreed => "realloc of freed block",
            Kind::Invalid => "invalid pointer",
            Kind::BadHeader => "invalid pointer or corrupted block header at",
            Kind::NextCorrupted => "corrupted heap (next block's header overwritten) after",
            Kind::Overflow => "buffer overflow past the end of",
            Kind::UseFreed => "use of freed block",
            Kind::WrongSize => "wrong size or alignment for block",
            Kind::WrittenAfterFree => {
                "free block written after free (its list link overwritten) at"
            }
            Kind::HeapLinks => "free block",
        }
    }
}

mod common;
use common::profile_dir;

/// misuse.c compiled once per test process.
fn program() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let exe = common::scratch_dir("misuse").join("misuse");
        let flags = ["-O0", "-fno-builtin", "-pthread", "-w"];
        common::compile("tests/misuse/misuse.c", &exe, &flags, &[]);
        exe
    })
}

/// What one child run gave.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Run {
    /// The address the case printed before the misuse.
    fn addr(&self) -> Option<&str> {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("addr "))
            .map(str::trim)
    }

    fn oxalloc_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("oxalloc:"))
            .collect()
    }

    fn describe(&self) -> String {
        format!(
            "status: {}{}\n--- stdout\n{}--- stderr\n{}",
            status_text(self.status),
            if self.timed_out {
                " (timed out, killed)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        4 => "SIGILL".into(),
        5 => "SIGTRAP".into(),
        6 => "SIGABRT".into(),
        7 => "SIGBUS".into(),
        8 => "SIGFPE".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        n => format!("signal {n}"),
    }
}

fn status_text(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by {}", signal_name(sig)),
        _ => format!("{s:?}"),
    }
}

/// Cases run in the hardened mode (`OXALLOC_SECURE=1`): an overflow out of a small block that
/// a thread cache takes back without looking at its neighbour is caught there by the canary when
/// the block itself is freed (in the default mode, when the overwritten neighbour is freed); a
/// sized free of a pointer never handed out, which the hardened checks must name as `free_sized`;
/// a huge block freed twice with a block of its size allocated in between (its quarantine).
const HARDENED_CASES: &[&str] = &[
    "overflow_canary_hardened",
    "free_sized_invalid_hardened",
    "double_free_huge_reused_hardened",
];

/// Runs one case, under oxalloc when `preload`, else under the system malloc; a child that
/// does not end within 30 s is killed.
fn run_case(case: &str, preload: bool) -> Run {
    let mut cmd = Command::new(program());
    cmd.arg(case)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_PRELOAD")
        .env_remove("OXALLOC_STATS");
    if preload {
        cmd.env("LD_PRELOAD", common::lib("liboxalloc.so"));
        if HARDENED_CASES.contains(&case) {
            cmd.env("OXALLOC_SECURE", "1");
        }
    }
    let mut child = cmd.spawn().expect("spawning misuse");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        status,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        timed_out,
    }
}

/// The exact line oxalloc must print for this run, if the case got as far as its misuse.
fn expected_line(run: &Run, kind: Kind, func: &str) -> Option<String> {
    run.addr().map(|a| match kind {
        Kind::HeapLinks => format!(
            "oxalloc: free block {a} written after free (its list links overwritten), found in \
             the heap's free lists"
        ),
        _ => format!("oxalloc: {} {a} in {func}()", kind.text()),
    })
}

/// Whether an oxalloc run is exactly what the case expects; `Err` says what differs.
fn judge(run: &Run, kind: Kind, func: &str) -> Result<(), String> {
    if run.status.code() == Some(2) {
        return Err(format!("the case's setup failed:\n{}", run.describe()));
    }
    let Some(expected) = expected_line(run, kind, func) else {
        return Err(format!(
            "the case printed no `addr` line:\n{}",
            run.describe()
        ));
    };
    let addr = run.addr().unwrap();
    let lines = run.oxalloc_lines();
    if run.status.signal() != Some(6) {
        return Err(format!(
            "expected SIGABRT with `{expected}`, got {}:\n{}",
            status_text(run.status),
            run.describe()
        ));
    }
    if lines.len() != 1 {
        return Err(format!(
            "expected exactly one `oxalloc:` line on stderr, got {}:\n{}",
            lines.len(),
            run.describe()
        ));
    }
    let line = lines[0];
    if !line.starts_with(&format!("oxalloc: {} ", kind.text())) {
        return Err(format!(
            "wrong kind: expected `{expected}`\n                got `{line}`"
        ));
    }
    if !line.split_whitespace().any(|w| w == addr) {
        return Err(format!(
            "wrong address: expected `{expected}`\n                   got `{line}`"
        ));
    }
    if line != expected {
        return Err(format!("expected `{expected}`\n     got `{line}`"));
    }
    Ok(())
}

/// A second message a case may end with. A forged header carries check bits of 0, which are
/// the right ones for its address and size one time in 256 (the secret is random per process):
/// then the heap trusts it, and its check of the next block, a forged header too, reports it.
fn alternative(case: &str) -> Option<Kind> {
    (case == "free_interior_fake_header").then_some(Kind::NextCorrupted)
}

fn check(case: &str, kind: Kind, func: &str) {
    let run = run_case(case, true);
    if let Err(e) = judge(&run, kind, func) {
        if alternative(case).is_some_and(|k| judge(&run, k, func).is_ok()) {
            return;
        }
        panic!("misuse case {case}: {e}");
    }
}

/// `free_interior_bulk_phase`'s bad pointer waits in the bulk free phase's ring: the case
/// returns (and prints `NOT DETECTED`) before the process's exit frees the ring and finds it.
/// Had the phase not started, or the ring refused the pointer, `free` would report it at once.
#[test]
fn a_bad_pointer_in_the_ring_is_found_at_exit() {
    let run = run_case("free_interior_bulk_phase", true);
    assert!(
        run.stdout.contains("NOT DETECTED"),
        "reported before the case returned:\n{}",
        run.describe()
    );
    if let Err(e) = judge(&run, Kind::BadHeader, "free") {
        panic!("{e}");
    }
}

macro_rules! misuse_cases {
    ($($case:ident: $kind:ident in $func:literal;)*) => {
        /// Every case with its expected message: (name, kind, function).
        const CASES: &[(&str, Kind, &str)] = &[$((stringify!($case), Kind::$kind, $func)),*];
        $(
            #[test]
            fn $case() {
                check(stringify!($case), Kind::$kind, $func);
            }
        )*
    };
}

// The address is always the pointer the case passes (printed by the case itself).
misuse_cases! {
    // double frees
    double_free_immediate: DoubleFree in "free";
    double_free_delayed: DoubleFree in "free";
    double_free_large: DoubleFree in "free";
    double_free_huge: DoubleFree in "free";
    double_free_huge_reused_hardened: DoubleFree in "free";
    double_free_other_thread: DoubleFree in "free";
    double_free_other_thread_back: DoubleFree in "free";
    double_free_thread_exited: DoubleFree in "free";
    double_free_adopted: DoubleFree in "free";
    double_free_small_cached: DoubleFree in "free";
    double_free_deferred: DoubleFree in "free";
    double_free_bulk_phase: DoubleFree in "free";
    free_global_bulk_phase: Invalid in "free";
    free_interior_bulk_phase: BadHeader in "free";
    double_free_medium_cached: DoubleFree in "free";
    double_free_calloc: DoubleFree in "free";
    double_free_memalign: DoubleFree in "free";
    double_free_realloc_zero: DoubleFree in "free";
    double_free_fork_child: DoubleFree in "free";
    free_after_realloc_moved: DoubleFree in "free";
    free_after_realloc_moved_merged: DoubleFree in "free";
    free_after_flush_joined_tiny: BadHeader in "free";
    free_after_top_merge_grown_over: BadHeader in "free";
    free_after_top_merge_grown_over_small: BadHeader in "free";
    free_after_trim_given_back: Invalid in "free";
    free_after_trim_given_back_other_thread: Invalid in "free";
    free_after_trim_given_back_group_refill: Invalid in "free";
    free_into_merged_span: DoubleFree in "free";
    myfree_double: DoubleFree in "myfree";
    // pointers never handed out
    free_stack: Invalid in "free";
    free_global: Invalid in "free";
    free_small_int: Invalid in "free";
    free_wild_high: Invalid in "free";
    free_other_mapping: Invalid in "free";
    free_foreign_fake_header: Invalid in "free";
    free_interior: BadHeader in "free";
    free_misaligned: Invalid in "free";
    free_interior_aligned: BadHeader in "free";
    free_interior_fake_header: BadHeader in "free";
    // realloc
    realloc_freed: ReallocFreed in "realloc";
    realloc_freed_large: ReallocFreed in "realloc";
    realloc_after_realloc_moved_merged: ReallocFreed in "realloc";
    realloc_invalid: Invalid in "realloc";
    realloc_interior: BadHeader in "realloc";
    // a header overwritten by an overflow from the block before
    overflow_into_next_header_free_next: BadHeader in "free";
    overflow_free_first: BadHeader in "free";
    overflow_canary_hardened: Overflow in "free";
    overflow_off_by_one_nul: BadHeader in "free";
    overflow_large_free_first: NextCorrupted in "free";
    // a free block held in a thread cache, written after its free
    write_after_free_small: WrittenAfterFree in "malloc";
    write_after_free_zeroed: WrittenAfterFree in "malloc";
    write_after_free_stash: WrittenAfterFree in "malloc";
    // a free block the heap holds, written after its free
    write_after_free_heap: HeapLinks in "mymalloc";
    write_after_free_heap_zeroed: HeapLinks in "mymalloc";
    // other entry points (a freed block named the way the allocator names it elsewhere)
    usable_size_freed: UseFreed in "malloc_usable_size";
    usable_size_freed_bulk_phase: UseFreed in "malloc_usable_size";
    usable_size_invalid: Invalid in "malloc_usable_size";
    // C23's sized frees: a size the block cannot hold, an alignment it does not have
    free_sized_too_big: WrongSize in "free_sized";
    free_sized_freed: DoubleFree in "free_sized";
    free_aligned_sized_misaligned: WrongSize in "free_aligned_sized";
    free_aligned_sized_bad_alignment: WrongSize in "free_aligned_sized";
    free_sized_invalid_hardened: Invalid in "free_sized";
}

#[test]
fn every_case_of_misuse_c_has_a_test() {
    let o = Command::new(program()).arg("--list").output().unwrap();
    let listed = String::from_utf8_lossy(&o.stdout);
    let listed: Vec<&str> = listed.lines().collect();
    let ours: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    assert_eq!(listed, ours, "misuse.c's cases and this file's list differ");
}

/// A short description of how a run ended, for the table.
fn outcome(run: &Run) -> String {
    if run.timed_out {
        return "hung (killed after 30 s)".into();
    }
    match (run.status.code(), run.status.signal()) {
        (Some(0), _) if run.stdout.contains("NOT DETECTED") => "not detected".into(),
        (Some(2), _) => "setup failed".into(),
        (Some(3), _) => "n/a (no such function)".into(),
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => {
            let msg = run.stderr.lines().map(str::trim).rfind(|l| !l.is_empty());
            match msg {
                Some(m) => format!(
                    "detected: `{}` ({})",
                    m.replace('|', "\\|"),
                    signal_name(sig)
                ),
                None => format!("crashed with {}", signal_name(sig)),
            }
        }
        _ => format!("{:?}", run.status),
    }
}

#[test]
fn misuse_table_against_glibc() {
    let mut table =
        String::from("| case | expected (oxalloc) | oxalloc | glibc |\n|---|---|---|---|\n");
    let mut passed = 0;
    for &(case, kind, func) in CASES {
        let ox = run_case(case, true);
        let glibc = run_case(case, false);
        let ox_cell = match judge(&ox, kind, func) {
            Ok(()) => {
                passed += 1;
                format!("PASS {}", outcome(&ox))
            }
            Err(_) => format!("FAIL {}", outcome(&ox)),
        };
        table.push_str(&format!(
            "| {case} | `{} … in {func}()` | {ox_cell} | {} |\n",
            kind.text(),
            outcome(&glibc)
        ));
    }
    table.push_str(&format!(
        "\noxalloc: {passed} of {} cases give exactly the expected message.\n",
        CASES.len()
    ));
    println!("{table}");
    let path = profile_dir().parent().unwrap().join("misuse-table.md");
    std::fs::write(&path, &table).unwrap();
    println!("(written to {})", path.display());
}
