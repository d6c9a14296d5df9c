//! Rendering [`Results`]: the Markdown table, CSV and JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Results, RunRecord, REFERENCE};

/// The medians of one workload x allocator cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CellSummary {
    /// Median wall time of the successful runs, ms.
    pub median_ms: f64,
    /// Median peak RSS of the successful runs, MiB.
    pub median_rss_mib: f64,
    /// Successful runs with the right checksum.
    pub ok_runs: usize,
    /// All runs.
    pub runs: usize,
    /// Why the cell is not trustworthy: a crash, a timeout or a wrong checksum.
    pub failure: Option<String>,
}

/// The median of `v` (the mean of the two middle values for an even count).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The geometric mean of `v`.
pub fn geomean(v: &[f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|x| x.is_nan() || *x <= 0.0) {
        return None;
    }
    Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

fn ratio_str(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×"))
        .unwrap_or_else(|| "–".to_string())
}

impl Results {
    fn records<'a>(
        &'a self,
        workload: &'a str,
        allocator: &'a str,
    ) -> impl Iterator<Item = &'a RunRecord> {
        self.runs
            .iter()
            .filter(move |r| r.workload == workload && r.allocator == allocator)
    }

    /// The medians of `workload` under `allocator`, if it ran.
    pub fn cell(&self, workload: &str, allocator: &str) -> Option<CellSummary> {
        let all: Vec<&RunRecord> = self.records(workload, allocator).collect();
        if all.is_empty() {
            return None;
        }
        let good: Vec<&&RunRecord> = all
            .iter()
            .filter(|r| r.ok && !r.checksum_mismatch)
            .collect();
        let failure = all
            .iter()
            .find(|r| !r.ok)
            .map(|r| r.status.clone())
            .or_else(|| {
                all.iter()
                    .any(|r| r.checksum_mismatch)
                    .then(|| "wrong checksum".to_string())
            });
        Some(CellSummary {
            median_ms: median(good.iter().map(|r| r.wall_ms).collect()).unwrap_or(f64::NAN),
            median_rss_mib: median(good.iter().map(|r| r.max_rss_kib as f64 / 1024.0).collect())
                .unwrap_or(f64::NAN),
            ok_runs: good.len(),
            runs: all.len(),
            failure,
        })
    }

    /// `allocator / oxalloc` for one workload: (time ratio, RSS ratio); `None` where either cell
    /// failed.
    fn ratios(&self, workload: &str, allocator: &str) -> Option<(f64, f64)> {
        let a = self.cell(workload, allocator)?;
        let o = self.cell(workload, REFERENCE)?;
        if a.failure.is_some() || o.failure.is_some() || a.ok_runs == 0 || o.ok_runs == 0 {
            return None;
        }
        Some((
            a.median_ms / o.median_ms,
            a.median_rss_mib / o.median_rss_mib,
        ))
    }

    /// The whole report in Markdown: header (machine, date, settings), the time/RSS table with
    /// ratios and geometric means, workload metrics, callgrind tables, errors and notes.
    pub fn markdown_table(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "# oxalloc benchmark\n");
        let _ = writeln!(s, "- date: {}", m.date);
        let _ = writeln!(
            s,
            "- machine: {} CPUs (nproc), {}; Linux {}; glibc {}",
            m.nproc, m.cpu_model, m.kernel, m.glibc
        );
        let _ = writeln!(
            s,
            "- size: {}; {} run(s) per cell, allocators alternating run by run; medians shown",
            if self.quick { "quick" } else { "full" },
            self.runs_per_cell
        );
        for a in &self.allocators {
            let so = a.preload.as_ref().map_or("no preload".to_string(), |p| {
                format!("LD_PRELOAD={}", p.display())
            });
            let _ = writeln!(s, "- {}: {so}", a.name);
        }
        let _ = writeln!(
            s,
            "\nMedian wall time and peak RSS per workload. (×r) is allocator / {REFERENCE}: above 1 means {REFERENCE} is faster or smaller.\n"
        );
        s.push_str(&self.main_table());
        s.push_str(&self.targets_summary());
        s.push_str(&self.metrics_table());
        s.push_str(&self.callgrind_tables());
        if !self.errors.is_empty() {
            let _ = writeln!(s, "\n## Errors\n");
            for e in &self.errors {
                let _ = writeln!(s, "```\n{e}\n```");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }

    fn main_table(&self) -> String {
        let mut s = String::from("| workload |");
        let mut sep = String::from("|---|");
        for a in &self.allocators {
            let _ = write!(s, " {} time | {} RSS |", a.name, a.name);
            sep.push_str("---:|---:|");
        }
        let _ = writeln!(s, "\n{sep}");
        let mut time_ratios: Vec<Vec<f64>> = vec![Vec::new(); self.allocators.len()];
        let mut rss_ratios: Vec<Vec<f64>> = vec![Vec::new(); self.allocators.len()];
        for w in &self.workloads {
            let _ = write!(s, "| {w} |");
            for (i, a) in self.allocators.iter().enumerate() {
                let Some(cell) = self.cell(w, &a.name) else {
                    s.push_str(" – | – |");
                    continue;
                };
                if let Some(f) = &cell.failure {
                    let _ = write!(s, " **FAILED: {f}** | – |");
                    continue;
                }
                let ratios = self.ratios(w, &a.name);
                if let Some((t, r)) = ratios {
                    time_ratios[i].push(t);
                    rss_ratios[i].push(r);
                }
                let show = a.name != REFERENCE;
                let (t, r) = match ratios {
                    Some((t, r)) if show => (format!(" ({t:.2}×)"), format!(" ({r:.2}×)")),
                    _ => (String::new(), String::new()),
                };
                let _ = write!(
                    s,
                    " {:.1} ms{t} | {:.1} MiB{r} |",
                    cell.median_ms, cell.median_rss_mib
                );
            }
            s.push('\n');
        }
        s.push_str("| **geomean ratio** |");
        for i in 0..self.allocators.len() {
            let _ = write!(
                s,
                " {} | {} |",
                ratio_str(geomean(&time_ratios[i])),
                ratio_str(geomean(&rss_ratios[i]))
            );
        }
        s.push('\n');
        s
    }

    /// Two of the targets, per workload, from the medians: oxalloc's peak RSS against the
    /// smallest of the peers' (the geometric mean, and the workloads above 1.1×), and the
    /// workloads where glibc's time is below oxalloc's. Empty when no peer ran.
    fn targets_summary(&self) -> String {
        let good = |w: &str, a: &str| {
            self.cell(w, a)
                .filter(|c| c.failure.is_none() && c.ok_runs > 0)
        };
        let (mut rss, mut high, mut behind) = (Vec::new(), Vec::new(), Vec::new());
        for w in &self.workloads {
            let Some(o) = good(w, REFERENCE) else {
                continue;
            };
            let best = self
                .allocators
                .iter()
                .filter(|a| a.name != REFERENCE)
                .filter_map(|a| good(w, &a.name))
                .map(|c| c.median_rss_mib)
                .fold(f64::INFINITY, f64::min);
            if best.is_finite() && best > 0.0 {
                let r = o.median_rss_mib / best;
                rss.push(r);
                if r > 1.1 {
                    high.push(format!("`{w}` {r:.2}×"));
                }
            }
            if let Some((t, _)) = self.ratios(w, "glibc") {
                if t < 1.0 {
                    behind.push(format!("`{w}` {t:.2}×"));
                }
            }
        }
        let Some(g) = geomean(&rss) else {
            return String::new();
        };
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n- {REFERENCE}'s peak RSS against each workload's smallest peer: {g:.3}× in geometric \
             mean (n = {}); above 1.1×: {}.",
            rss.len(),
            list(&high)
        );
        if self.allocators.iter().any(|a| a.name == "glibc") {
            let _ = writeln!(
                s,
                "- Workloads where glibc is faster (glibc's time / {REFERENCE}'s): {}.",
                list(&behind)
            );
        }
        s
    }

    /// Medians of the `metric:` lines the workloads print (say, steady-N's ns per operation).
    fn metrics_table(&self) -> String {
        let keys: BTreeSet<(String, String)> = self
            .runs
            .iter()
            .flat_map(|r| r.metrics.keys().map(|k| (r.workload.clone(), k.clone())))
            .collect();
        if keys.is_empty() {
            return String::new();
        }
        let mut s = String::from("\n## Workload metrics (median)\n\n| workload | metric |");
        let mut sep = String::from("|---|---|");
        for a in &self.allocators {
            let _ = write!(s, " {} |", a.name);
            sep.push_str("---:|");
        }
        let _ = writeln!(s, "\n{sep}");
        let ordered = self
            .workloads
            .iter()
            .flat_map(|w| keys.iter().filter(move |(kw, _)| kw == w));
        for (w, k) in ordered {
            let value = |alloc: &str| {
                median(
                    self.records(w, alloc)
                        .filter(|r| r.ok && !r.checksum_mismatch)
                        .filter_map(|r| r.metrics.get(k).copied())
                        .collect(),
                )
            };
            let reference = value(REFERENCE);
            let _ = write!(s, "| {w} | {k} |");
            for a in &self.allocators {
                match value(&a.name) {
                    Some(v) => {
                        let r = match reference {
                            Some(o) if a.name != REFERENCE && o > 0.0 => {
                                format!(" ({:.2}×)", v / o)
                            }
                            _ => String::new(),
                        };
                        let _ = write!(s, " {v:.1}{r} |");
                    }
                    None => s.push_str(" – |"),
                }
            }
            s.push('\n');
        }
        s
    }

    fn callgrind_tables(&self) -> String {
        let mut s = String::new();
        if !self.callgrind.is_empty() {
            let _ = writeln!(
                s,
                "\n## Callgrind instructions (quick size, whole process, millions of Ir)\n"
            );
            s.push_str("| workload |");
            let mut sep = String::from("|---|");
            for a in &self.allocators {
                let _ = write!(s, " {} |", a.name);
                sep.push_str("---:|");
            }
            let _ = writeln!(s, "\n{sep}");
            let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); self.allocators.len()];
            let mut names: Vec<&str> = Vec::new();
            for c in &self.callgrind {
                if !names.contains(&c.workload.as_str()) {
                    names.push(&c.workload);
                }
            }
            let ir = |w: &str, a: &str| {
                self.callgrind
                    .iter()
                    .find(|c| c.workload == w && c.allocator == a)
                    .and_then(|c| c.instructions)
            };
            for w in names {
                let _ = write!(s, "| {w} |");
                let reference = ir(w, REFERENCE);
                for (i, a) in self.allocators.iter().enumerate() {
                    match ir(w, &a.name) {
                        Some(v) => {
                            let r = match reference {
                                Some(o) if o > 0 => {
                                    ratios[i].push(v as f64 / o as f64);
                                    if a.name == REFERENCE {
                                        String::new()
                                    } else {
                                        format!(" ({:.2}×)", v as f64 / o as f64)
                                    }
                                }
                                _ => String::new(),
                            };
                            let _ = write!(s, " {:.1}{r} |", v as f64 / 1e6);
                        }
                        None => s.push_str(" **failed** |"),
                    }
                }
                s.push('\n');
            }
            s.push_str("| **geomean ratio** |");
            for r in &ratios {
                let _ = write!(s, " {} |", ratio_str(geomean(r)));
            }
            s.push('\n');
        }
        if !self.pairs.is_empty() {
            let _ = writeln!(
                s,
                "\n## Callgrind instructions per malloc+free pair\n\n(Ir(N pairs) − Ir(0 pairs)) / N, N = {}, one size per run.\n",
                self.pairs[0].pairs
            );
            s.push_str("| size |");
            let mut sep = String::from("|---:|");
            for a in &self.allocators {
                let _ = write!(s, " {} |", a.name);
                sep.push_str("---:|");
            }
            let _ = writeln!(s, "\n{sep}");
            let sizes: BTreeSet<usize> = self.pairs.iter().map(|p| p.size).collect();
            let per = |size: usize, a: &str| {
                self.pairs
                    .iter()
                    .find(|p| p.size == size && p.allocator == a)
                    .and_then(|p| p.ir_per_pair)
            };
            for size in sizes {
                let _ = write!(s, "| {size} B |");
                let reference = per(size, REFERENCE);
                for a in &self.allocators {
                    match per(size, &a.name) {
                        Some(v) => {
                            let r = match reference {
                                Some(o) if o > 0.0 && a.name != REFERENCE => {
                                    format!(" ({:.2}×)", v / o)
                                }
                                _ => String::new(),
                            };
                            let _ = write!(s, " {v:.1}{r} |");
                        }
                        None => s.push_str(" **failed** |"),
                    }
                }
                s.push('\n');
            }
        }
        s
    }

    /// Writes every measurement as CSV: one row per timed run (`kind` = `time`), per callgrind
    /// run (`callgrind`) and per pair measurement (`pair`).
    pub fn write_csv(&self, path: &Path) -> io::Result<()> {
        let mut s = String::from(
            "kind,workload,allocator,run,wall_ms,user_ms,sys_ms,max_rss_kib,status,checksum,checksum_mismatch,metrics,instructions,pair_size,ir_per_pair\n",
        );
        for r in &self.runs {
            let metrics: Vec<String> = r.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let row = [
                "time".to_string(),
                r.workload.clone(),
                r.allocator.clone(),
                r.run.to_string(),
                format!("{:.3}", r.wall_ms),
                format!("{:.3}", r.user_ms),
                format!("{:.3}", r.sys_ms),
                r.max_rss_kib.to_string(),
                r.status.clone(),
                r.checksum.clone().unwrap_or_default(),
                r.checksum_mismatch.to_string(),
                metrics.join(";"),
                String::new(),
                String::new(),
                String::new(),
            ];
            push_csv_row(&mut s, &row);
        }
        for c in &self.callgrind {
            let mut row = vec![String::new(); 15];
            row[0] = "callgrind".to_string();
            row[1] = c.workload.clone();
            row[2] = c.allocator.clone();
            row[8] = c.status.clone();
            row[12] = c.instructions.map(|v| v.to_string()).unwrap_or_default();
            push_csv_row(&mut s, &row);
        }
        for p in &self.pairs {
            let mut row = vec![String::new(); 15];
            row[0] = "pair".to_string();
            row[1] = "pair".to_string();
            row[2] = p.allocator.clone();
            row[12] = p.ir_with_pairs.map(|v| v.to_string()).unwrap_or_default();
            row[13] = p.size.to_string();
            row[14] = p.ir_per_pair.map(|v| format!("{v:.3}")).unwrap_or_default();
            push_csv_row(&mut s, &row);
        }
        fs::write(path, s)
    }

    /// Writes everything (machine, settings, every run, callgrind counts, errors) as JSON.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(path, text + "\n")
    }

    /// Writes `results.md` (the table `table`, as printed), `results.csv` and `results.json`
    /// into `dir`. Returns the files written and, for each that could not be, its path and error.
    pub fn write_all(&self, dir: &Path, table: &str) -> (Vec<PathBuf>, Vec<(PathBuf, io::Error)>) {
        let mut written = Vec::new();
        let mut failed = Vec::new();
        for name in ["results.md", "results.csv", "results.json"] {
            let path = dir.join(name);
            let res = match name {
                "results.md" => fs::write(&path, table),
                "results.csv" => self.write_csv(&path),
                _ => self.write_json(&path),
            };
            match res {
                Ok(()) => written.push(path),
                Err(e) => failed.push((path, e)),
            }
        }
        (written, failed)
    }
}

/// Appends one CSV row, quoting fields that need it (RFC 4180).
fn push_csv_row(s: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            s.push('"');
            s.push_str(&f.replace('"', "\"\""));
            s.push('"');
        } else {
            s.push_str(f);
        }
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_geomeans() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
        let g = geomean(&[2.0, 8.0]).expect("positive");
        assert!((g - 4.0).abs() < 1e-12);
        assert_eq!(geomean(&[]), None);
    }

    fn record(workload: &str, allocator: &str, wall_ms: f64, max_rss_kib: u64) -> RunRecord {
        RunRecord {
            workload: workload.to_string(),
            allocator: allocator.to_string(),
            run: 1,
            wall_ms,
            user_ms: wall_ms,
            sys_ms: 0.0,
            max_rss_kib,
            status: "ok".to_string(),
            ok: true,
            checksum: None,
            checksum_mismatch: false,
            metrics: Default::default(),
        }
    }

    #[test]
    fn targets_summary_takes_the_smallest_peer_of_each_workload() {
        let mut r = Results {
            machine: crate::machine::Machine {
                nproc: 2,
                cpu_model: String::new(),
                kernel: String::new(),
                glibc: String::new(),
                date: String::new(),
            },
            quick: true,
            runs_per_cell: 1,
            allocators: vec![
                crate::Allocator::glibc(),
                crate::Allocator::preloaded("mimalloc", "/x.so"),
                crate::Allocator::preloaded(REFERENCE, "/y.so"),
            ],
            workloads: vec!["a".into(), "b".into()],
            runs: vec![
                // a: the smallest peer is mimalloc's 2048 KiB; oxalloc 2.5 MiB is 1.25×.
                record("a", "glibc", 100.0, 4096),
                record("a", "mimalloc", 100.0, 2048),
                record("a", REFERENCE, 120.0, 2560),
                // b: glibc's 4096 KiB is the smallest; oxalloc 0.8×, and faster than glibc.
                record("b", "glibc", 200.0, 4096),
                record("b", "mimalloc", 50.0, 8192),
                record("b", REFERENCE, 100.0, 3277),
            ],
            callgrind: Vec::new(),
            pairs: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
        };
        let s = r.targets_summary();
        let g = (1.25f64 * (3277.0 / 4096.0)).sqrt();
        assert!(
            s.contains(&format!("{g:.3}× in geometric mean (n = 2)")),
            "{s}"
        );
        assert!(s.contains("above 1.1×: `a` 1.25×."), "{s}");
        assert!(
            s.contains("glibc is faster (glibc's time / oxalloc's): `a` 0.83×."),
            "{s}"
        );
        // A failed peer cell is left out: b's smallest peer becomes mimalloc's 8192 KiB.
        r.runs[3].ok = false;
        r.runs[3].status = "signal 11".to_string();
        let s = r.targets_summary();
        let g = (1.25f64 * (3277.0 / 8192.0)).sqrt();
        assert!(s.contains(&format!("{g:.3}×")), "{s}");
    }

    #[test]
    fn csv_quoting() {
        let mut s = String::new();
        push_csv_row(&mut s, &["a".into(), "b,c".into(), "d\"e".into()]);
        assert_eq!(s, "a,\"b,c\",\"d\"\"e\"\n");
    }
}
