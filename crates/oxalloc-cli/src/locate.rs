//! Finding `liboxalloc.so`.

use std::path::{Path, PathBuf};

/// The library's file name.
pub const LIB_NAME: &str = "liboxalloc.so";

/// Where to look for the library, in order, when no path is given: next to the running
/// executable (the cargo target directory), `../lib` from it (an installed `PREFIX/bin/oxalloc`),
/// `$PREFIX/lib` when `PREFIX` is set, and `/usr/local/lib` (where `scripts/install.sh` puts it
/// by default).
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(dir.join(LIB_NAME));
        if let Some(up) = dir.parent() {
            out.push(up.join("lib").join(LIB_NAME));
        }
    }
    if let Some(prefix) = std::env::var_os("PREFIX").filter(|p| !p.is_empty()) {
        out.push(Path::new(&prefix).join("lib").join(LIB_NAME));
    }
    out.push(Path::new("/usr/local/lib").join(LIB_NAME));
    out.dedup();
    out
}

/// The library to preload: `explicit` if given (it must exist), else the first of
/// [`candidates`] that exists. The path is made absolute, so that a program that changes
/// directory (or its children) still finds it.
pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        if !p.is_file() {
            return Err(format!("{}: no such file (given with --lib)", p.display()));
        }
        return absolute(p);
    }
    let tried = candidates();
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => absolute(p),
        None => Err(format!(
            "{LIB_NAME} not found; looked in: {}. Build it with `cargo build --release`, install it \
             with `scripts/install.sh`, or pass --lib PATH",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// The value of `LD_PRELOAD` that puts `lib` first and keeps what was there (`existing`).
pub fn preload_value(lib: &Path, existing: Option<&std::ffi::OsStr>) -> std::ffi::OsString {
    let mut v = lib.as_os_str().to_os_string();
    if let Some(e) = existing.filter(|e| !e.is_empty()) {
        v.push(" ");
        v.push(e);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn explicit_path_must_exist() {
        let err = find_library(Some(Path::new("/nonexistent/liboxalloc.so"))).unwrap_err();
        assert!(err.contains("--lib"), "{err}");
    }

    #[test]
    fn preload_keeps_what_was_there() {
        let lib = Path::new("/x/liboxalloc.so");
        assert_eq!(preload_value(lib, None), "/x/liboxalloc.so");
        assert_eq!(preload_value(lib, Some(OsStr::new(""))), "/x/liboxalloc.so");
        assert_eq!(
            preload_value(lib, Some(OsStr::new("/y/libz.so"))),
            "/x/liboxalloc.so /y/libz.so"
        );
    }

    #[test]
    fn candidates_end_with_the_install_location() {
        let c = candidates();
        assert_eq!(
            c.last().map(PathBuf::as_path),
            Some(Path::new("/usr/local/lib/liboxalloc.so"))
        );
    }
}
