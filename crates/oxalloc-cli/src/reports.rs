//! The per-process files the library writes: `OXALLOC_STATS_FILE=DIR/stats-%p.txt` and
//! `OXALLOC_MAP_FILE=DIR/map-%p.txt` (`%p` is the writer's pid).

use std::io;
use std::path::{Path, PathBuf};

/// The pattern (with `%p`) for files named `{prefix}-{pid}.txt` in `dir`.
pub fn pattern(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}-%p.txt"))
}

/// The file process `pid` writes for `pattern(dir, prefix)`.
pub fn file_of(dir: &Path, prefix: &str, pid: u32) -> PathBuf {
    dir.join(format!("{prefix}-{pid}.txt"))
}

/// Every `{prefix}-{pid}.txt` in `dir`, ordered for reading: `root` first, then by pid.
pub fn collect(dir: &Path, prefix: &str, root: u32) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_suffix(".txt"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            found.push((pid, entry.path()));
        }
    }
    found.sort_by_key(|&(pid, _)| (pid != root, pid));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_comes_first_then_pids_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for pid in [30, 7, 12, 100] {
            std::fs::write(file_of(dir.path(), "stats", pid), "x").expect("write");
        }
        std::fs::write(dir.path().join("stats-abc.txt"), "x").expect("write");
        std::fs::write(dir.path().join("map-5.txt"), "x").expect("write");
        let pids: Vec<u32> = collect(dir.path(), "stats", 12)
            .expect("collect")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(pids, [12, 7, 30, 100]);
        assert_eq!(
            pattern(dir.path(), "map")
                .file_name()
                .and_then(|n| n.to_str()),
            Some("map-%p.txt")
        );
    }
}
