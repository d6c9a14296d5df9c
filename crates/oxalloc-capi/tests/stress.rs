//! The stress run: tests/stress/stress.c (8 threads, cross-thread frees, threads replaced, forks
//! in the middle, every object's contents checked, statistics / break / resident memory balanced
//! at the end) with liboxalloc.so preloaded, for `OXALLOC_STRESS_SECS` seconds (default 20).
//! `OXALLOC_STRESS_SEED` fixes the random seed (the interleaving of threads stays random).
//! To narrow a failure down, run the program by hand: see the comment at the top of stress.c
//! (`STRESS_FORKS=0`, `STRESS_EXITS=0`, `STRESS_REMOTE=0`).
//!
//! Needs `cargo build --release` first (for target/release/liboxalloc.so) and gcc.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn build() -> PathBuf {
    let exe = common::scratch_dir("stress").join("stress");
    let flags = ["-O2", "-fno-builtin", "-pthread", "-Wall"];
    common::compile("tests/stress/stress.c", &exe, &flags, &[]);
    exe
}

#[test]
fn eight_threads_cross_thread_frees_forks_balanced_at_the_end() {
    let lib = common::lib("liboxalloc.so");
    let secs: f64 = std::env::var("OXALLOC_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let exe = build();
    let mut cmd = Command::new(&exe);
    cmd.arg(secs.to_string())
        .env("LD_PRELOAD", &lib)
        .env_remove("OXALLOC_STATS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(seed) = std::env::var("OXALLOC_STRESS_SEED") {
        cmd.arg(seed);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // The run itself is bounded; this only catches a hang (a deadlock after fork, say).
    let deadline = Instant::now() + Duration::from_secs_f64(secs + 120.0);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = t_out.join().unwrap();
    let stderr = t_err.join().unwrap();
    println!("{stdout}");
    eprintln!("{stderr}");
    let status = status.unwrap_or_else(|| panic!("stress hung for {secs} + 120 s: killed"));
    assert!(
        status.success() && stdout.contains("stress ok"),
        "stress failed ({status:?}):\n{}",
        stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| {
                l.starts_with("FAIL") || (l.starts_with("oxalloc:") && !l.contains("stats for pid"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
}
