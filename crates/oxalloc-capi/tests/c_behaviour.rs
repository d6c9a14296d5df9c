//! C-level behaviour tests of liboxalloc.
//!
//! Each program in `tests/c/` is compiled with the system C compiler (`$CC`, default `gcc`) and
//! linked with `liboxalloc.a` and `tests/c/harness.c`, which interposes `sbrk`/`brk` over a region
//! it owns (capped, counted, filled with 0xAB). The program prints its measured figures and exits
//! 0 on success, or prints `FAIL: reason` and exits 1.
//!
//! `liboxalloc.a` is taken from the profile directory this test binary runs from
//! (`target/<profile>/`), so build it first with the same profile, e.g.
//! `cargo build --release && cargo test -p oxalloc-capi --release --test c_behaviour -- --nocapture`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one program may run before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("c")
}

/// `target/<profile>/liboxalloc.a`, found from this test binary's path
/// (`target/<profile>/deps/c_behaviour-<hash>`).
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let lib = profile_dir.join("liboxalloc.a");
    if !lib.is_file() {
        let profile = profile_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hint = if profile == "release" {
            "cargo build --release".to_string()
        } else if profile == "debug" {
            "cargo build (or use --release with cargo build --release)".to_string()
        } else {
            format!("cargo build --profile {profile}")
        };
        panic!(
            "{} not found: the C behaviour tests link the static library of the profile they run \
             in. Build it first with `{hint}` (e.g. `cargo build --release && cargo test -p \
             oxalloc-capi --release --test c_behaviour`).",
            lib.display()
        );
    }
    lib
}

/// A fresh scratch directory for one program.
fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "oxalloc-c-behaviour-{}-{}",
        std::process::id(),
        name
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// Compiles `tests/c/<name>.c` with the harness and liboxalloc.a; returns the executable.
fn build(name: &str, dir: &Path) -> PathBuf {
    let lib = static_lib();
    let src = c_dir();
    let exe = dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".to_string());
    let out = Command::new(&cc)
        .args([
            "-O1",
            "-g",
            "-std=gnu11",
            "-fno-builtin",
            "-Wall",
            "-Wextra",
        ])
        .args(["-Wno-use-after-free", "-Wno-alloc-size-larger-than"])
        .arg("-I")
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(src.join(format!("{name}.c")))
        .arg(src.join("harness.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    let diag = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "compiling {name}.c failed ({}):\n{diag}",
        out.status
    );
    if !diag.trim().is_empty() {
        eprintln!("[{name}] compiler diagnostics:\n{diag}");
    }
    exe
}

/// Runs the program with `args`; returns (exit status, stdout, stderr), killing it after
/// [`RUN_TIMEOUT`].
fn run(exe: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(exe)
        .args(args)
        .env_remove("HARNESS_CAP")
        .env_remove("OXALLOC_TRIM_THRESHOLD")
        .env_remove("OXALLOC_STATS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    // Read both pipes on threads so a chatty program cannot block.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut so, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut se, &mut s);
        s
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            timed_out = true;
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = t_out.join().unwrap();
    let err = t_err.join().unwrap();
    assert!(
        !timed_out,
        "{} timed out after {RUN_TIMEOUT:?}\nstdout:\n{out}\nstderr:\n{err}",
        exe.display()
    );
    let code = status.code();
    #[cfg(unix)]
    if code.is_none() {
        use std::os::unix::process::ExitStatusExt;
        return (
            None,
            out,
            format!("{err}\n(killed by signal {:?})", status.signal()),
        );
    }
    (code, out, err)
}

/// Builds and runs `tests/c/<name>.c` once per argument list; asserts exit status 0 each time and
/// prints the figures the program reports.
fn c_test(name: &str, runs: &[&[&str]]) {
    let dir = scratch_dir(name);
    let exe = build(name, &dir);
    let mut failures = Vec::new();
    for args in runs {
        let label = if args.is_empty() {
            name.to_string()
        } else {
            format!("{name} {}", args.join(" "))
        };
        let (code, out, err) = run(&exe, args);
        for line in out.lines() {
            println!("[{label}] {line}");
        }
        for line in err.lines() {
            println!("[{label}] (stderr) {line}");
        }
        if code != Some(0) {
            failures.push(format!(
                "`{label}` exited with {code:?}\nstdout:\n{out}\nstderr:\n{err}"
            ));
        }
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn growth() {
    c_test("growth", &[&[]]);
}

#[test]
fn overhead() {
    c_test("overhead", &[&["my"], &["malloc"]]);
}

#[test]
fn cap64k() {
    c_test("cap64k", &[&[]]);
}

#[test]
fn cap1t() {
    c_test("cap1t", &[&[]]);
}

#[test]
fn many() {
    c_test("many", &[&[]]);
}

#[test]
fn shrink() {
    c_test("shrink", &[&[]]);
}

#[test]
fn lockstep() {
    c_test("lockstep", &[&[]]);
}

#[test]
fn lifo() {
    c_test("lifo", &[&[]]);
}

#[test]
fn split() {
    c_test("split", &[&[]]);
}

#[test]
fn merge() {
    c_test("merge", &[&[]]);
}

#[test]
fn calloc() {
    c_test("calloc", &[&[]]);
}

#[test]
fn manpages() {
    c_test("manpages", &[&[]]);
}

#[test]
fn alignment() {
    c_test("alignment", &[&[]]);
}

#[test]
fn foreign() {
    c_test("foreign", &[&[]]);
}

#[test]
fn threads() {
    c_test("threads", &[&[]]);
}
