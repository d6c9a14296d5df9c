//! Helpers shared by the integration tests that build C programs and run them under oxalloc.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`, found from the test's own executable (`target/<profile>/deps/NAME-*`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// A library built next to the tests (`liboxalloc.so`, `liboxalloc.a`); fails clearly if missing.
pub fn lib(name: &str) -> PathBuf {
    let p = profile_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --release` first",
        p.display()
    );
    p
}

/// Compiles `src` (relative to the crate, `.c` with gcc, `.cpp` with g++) into `exe` with the
/// compiler flags `flags`, then `extra` (objects, archives) and `-ldl -lm`.
pub fn compile(src: &str, exe: &Path, flags: &[&str], extra: &[&Path]) {
    let compiler = if src.ends_with(".cpp") { "g++" } else { "gcc" };
    let mut cmd = Command::new(compiler);
    cmd.args(flags)
        .arg("-o")
        .arg(exe)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(src));
    for e in extra {
        cmd.arg(e);
    }
    cmd.args(["-ldl", "-lm"]);
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{compiler} not found ({e}): apt-get install gcc g++"));
    assert!(
        o.status.success(),
        "compiling {src} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A directory of its own for this test process's programs.
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxalloc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
