//! Real programs nobody here wrote, each run twice: once plainly and once with
//! `LD_PRELOAD=liboxalloc.so`. Both runs must print the same stdout and end with the same exit
//! status, and the preloaded run must not write any stderr line starting with `oxalloc:` (the
//! allocator's misuse reports).
//!
//! The library is found next to this test's executable: `target/<profile>/deps/real_programs-*`
//! runs, `target/<profile>/liboxalloc.so` is preloaded. `cargo test` does not build that cdylib,
//! so run `cargo build --release` first (`scripts/test.sh` does); when the library is missing or
//! older than its sources, the tests fail and say so.
//!
//! A program that is not installed fails its test (it is never skipped) with a message naming
//! the Debian package that provides it.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one command may run before the test calls it hung (say, a deadlock in the allocator).
const TIMEOUT: Duration = Duration::from_secs(120);

// ------------------------------------------------------------------------------------------------
// The library, the programs, scratch directories
// ------------------------------------------------------------------------------------------------

/// `target/<profile>/liboxalloc.so`, the parent of the `deps/` directory this test runs from.
///
/// Cargo does not build it for this test: an integration test can only link a `lib`/`rlib`, and
/// this package has only a cdylib and a staticlib, so `cargo test` neither builds nor refreshes
/// the library. Hence the checks that it exists and is not older than its sources.
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps/");
    let build = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "cargo build".to_string(),
        Some("release") | None => "cargo build --release".to_string(),
        Some(profile) => format!("cargo build --profile {profile}"),
    };
    let so = profile_dir.join("liboxalloc.so");
    let built = fs::metadata(&so)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; `cargo test` does not build the cdylib: run `{build}` first",
                so.display()
            )
        });
    // The sources the library was built from, as cargo recorded them next to it. (The file is
    // shared with the rlib of the `oxalloc` crate, which has the same name, so also check this
    // package's own source.)
    let deps = fs::read_to_string(profile_dir.join("liboxalloc.d")).unwrap_or_default();
    let sources = deps
        .split_once(": ")
        .map_or("", |(_, s)| s)
        .split_whitespace()
        .map(PathBuf::from)
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")]);
    for source in sources {
        if let Ok(changed) = fs::metadata(&source).and_then(|m| m.modified()) {
            assert!(
                changed <= built,
                "{} is older than {}: run `{build}` first (`cargo test` does not rebuild the \
                 cdylib)",
                so.display(),
                source.display()
            );
        }
    }
    so
}

/// The absolute path of `program` (looked up on `PATH` unless it contains a `/`); fails the test,
/// naming the Debian package to install, when it is missing.
fn require(program: &str, package: &str) -> PathBuf {
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| is_executable(p))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| is_executable(p))
        })
    };
    found.unwrap_or_else(|| {
        panic!(
            "`{program}` is not installed; this test needs it: install the Debian package \
             `{package}` (apt-get install {package})"
        )
    })
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A fresh directory under the system temporary directory; removed when the test passes, kept
/// (and named on stderr) when it fails.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "oxalloc-real-{test}-{}-{}-{nanos}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A tiny deterministic generator (Knuth's MMIX LCG), so both runs see the same inputs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

// ------------------------------------------------------------------------------------------------
// Running a scenario twice and comparing
// ------------------------------------------------------------------------------------------------

/// One of the two runs of a scenario: its own working directory, and what its commands printed.
struct Run<'a> {
    preload: Option<&'a Path>,
    dir: PathBuf,
    /// `$ command`, its stdout and its exit status, for every command, in order.
    transcript: Vec<u8>,
    /// Problems that are not differences: a failing plain run, `oxalloc:` lines on stderr.
    problems: Vec<String>,
    elapsed: Duration,
}

impl<'a> Run<'a> {
    fn new(preload: Option<&'a Path>, dir: PathBuf) -> Run<'a> {
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Run {
            preload,
            dir,
            transcript: Vec::new(),
            problems: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn mode(&self) -> &'static str {
        if self.preload.is_some() {
            "preloaded"
        } else {
            "plain"
        }
    }

    /// A path inside this run's working directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `program` in this run's directory and environment (`LD_PRELOAD` set or cleared, C locale,
    /// UTC, no stdin). Arguments should be relative to the directory, so both runs print the same
    /// command lines.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env_remove("LANGUAGE")
            .env_remove("OXALLOC_STATS")
            .stdin(Stdio::null());
        match self.preload {
            Some(so) => cmd.env("LD_PRELOAD", so),
            None => cmd.env_remove("LD_PRELOAD"),
        };
        cmd
    }

    /// Runs `cmd`, records it in the transcript, and returns its stdout.
    fn exec(&mut self, mut cmd: Command) -> Vec<u8> {
        let label = label(&cmd);
        let started = Instant::now();
        let (status, stdout, stderr) = run_with_timeout(&mut cmd, &label);
        self.elapsed += started.elapsed();

        self.transcript
            .extend_from_slice(format!("$ {label}\n").as_bytes());
        self.transcript.extend_from_slice(&stdout);
        if !stdout.ends_with(b"\n") && !stdout.is_empty() {
            self.transcript.push(b'\n');
        }
        self.transcript
            .extend_from_slice(format!("[{status}]\n").as_bytes());

        let stderr = String::from_utf8_lossy(&stderr);
        if self.preload.is_none() && !status.success() {
            self.problems.push(format!(
                "the plain run of `{label}` failed ({status}), so the scenario itself is broken; \
                 stderr:\n{stderr}"
            ));
        }
        if self.preload.is_some() {
            let reports: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("oxalloc:"))
                .collect();
            if !reports.is_empty() {
                self.problems.push(format!(
                    "the preloaded run of `{label}` ({status}) reported:\n{}",
                    reports.join("\n")
                ));
            }
        }
        stdout
    }
}

/// The command line, without its environment (which differs between the two runs).
fn label(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    let mut s = name.to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty()
            || a.contains(|c: char| !c.is_ascii_alphanumeric() && !"-_=.,/:@%+".contains(c))
        {
            write!(s, " '{}'", a.replace('\'', r"'\''")).unwrap();
        } else {
            write!(s, " {a}").unwrap();
        }
    }
    s
}

/// Runs `cmd`, collecting stdout and stderr; kills it and fails the test after [`TIMEOUT`].
fn run_with_timeout(cmd: &mut Command, label: &str) -> (ExitStatus, Vec<u8>, Vec<u8>) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{label}`: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait(&mut child, label);
    (
        status,
        stdout.join().expect("stdout reader"),
        stderr.join().expect("stderr reader"),
    )
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn wait(child: &mut Child, label: &str) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    let mut nap = Duration::from_micros(200);
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{label}` still ran after {TIMEOUT:?} (hung?); killed it");
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Runs `scenario` plainly and under the preload, each in its own directory, and asserts the
/// transcripts are identical and that nothing went wrong on the way.
fn compare(test: &str, scenario: impl Fn(&mut Run)) {
    let so = library();
    let scratch = Scratch::new(test);
    let mut plain = Run::new(None, scratch.path.join("plain"));
    scenario(&mut plain);
    let mut preloaded = Run::new(Some(&so), scratch.path.join("preloaded"));
    scenario(&mut preloaded);
    eprintln!(
        "{test}: plain {:.2?}, preloaded {:.2?}, {} bytes of output",
        plain.elapsed,
        preloaded.elapsed,
        plain.transcript.len()
    );

    let mut problems: Vec<String> = plain.problems.clone();
    problems.extend(preloaded.problems.iter().cloned());
    if plain.transcript != preloaded.transcript {
        let a = scratch.path.join("plain.out");
        let b = scratch.path.join("preloaded.out");
        write(&a, &plain.transcript);
        write(&b, &preloaded.transcript);
        problems.push(format!(
            "the output differs under LD_PRELOAD={}:\n{}\nfull transcripts: diff -u {} {}",
            so.display(),
            first_difference(&plain.transcript, &preloaded.transcript),
            a.display(),
            b.display()
        ));
    }
    for run in [&plain, &preloaded] {
        if run.problems.is_empty() {
            continue;
        }
        eprintln!("{test}: {} run in {}", run.mode(), run.dir.display());
    }
    assert!(problems.is_empty(), "{test}:\n{}", problems.join("\n\n"));
}

/// Where two transcripts first differ: the command, and a few lines of both sides.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let la: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
    let lb: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    let at = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let command = la[..at.min(la.len())]
        .iter()
        .rev()
        .find(|l| l.starts_with(b"$ "))
        .map(|l| String::from_utf8_lossy(&l[2..]).into_owned())
        .unwrap_or_default();
    let mut s = format!(
        "first difference at transcript line {} (plain has {} lines, preloaded {}), in the output \
         of `{command}`\n",
        at + 1,
        la.len(),
        lb.len()
    );
    for (name, lines) in [("plain", &la), ("preloaded", &lb)] {
        let from = at.saturating_sub(2);
        let to = (at + 3).min(lines.len());
        writeln!(s, "--- {name}, lines {}..={}:", from + 1, to).unwrap();
        for l in &lines[from..to] {
            writeln!(s, "    {}", String::from_utf8_lossy(l)).unwrap();
        }
    }
    s
}

// ------------------------------------------------------------------------------------------------
// The programs
// ------------------------------------------------------------------------------------------------

/// The preload really replaces malloc: the library is mapped, and its allocator counts calls.
#[test]
fn preload_takes_effect() {
    let so = library();
    let perl = require("perl", "perl");
    let scratch = Scratch::new("preload");
    let run = Run::new(Some(&so), scratch.path.join("run"));

    let mut cmd = run.command(&perl);
    cmd.args([
        "-e",
        "open my $f, '<', '/proc/self/maps' or die; print <$f>;",
    ])
    .env("OXALLOC_STATS", "1");
    let (status, stdout, stderr) = run_with_timeout(&mut cmd, "perl (maps)");
    assert!(status.success(), "perl failed under the preload: {status}");
    let maps = String::from_utf8_lossy(&stdout);
    assert!(
        maps.contains(&*so.to_string_lossy()),
        "{} is not mapped in the preloaded process:\n{maps}",
        so.display()
    );
    let stderr = String::from_utf8_lossy(&stderr);
    let allocs = stat(&stderr, "allocations");
    assert!(
        allocs > 0,
        "perl allocated nothing through oxalloc:\n{stderr}"
    );
}

/// `ls -al` (user and group names through NSS, sorting, formatting) and a recursive listing.
///
/// `/usr` rather than `/`: the tests create directories under `/tmp` while they run, which
/// changes the link count and time of `/tmp` between the two runs.
#[test]
fn ls() {
    let ls = require("ls", "coreutils");
    compare("ls", |run| {
        let mut cmd = run.command(&ls);
        cmd.args(["-al", "/usr"]);
        run.exec(cmd);
        let mut cmd = run.command(&ls);
        cmd.args(["-alR", "--time-style=full-iso", "/usr/include"]);
        run.exec(cmd);
    });
}

/// `grep -E`: alternations, counted repeats, back-references, hundreds of patterns, `-o`, `-v`.
#[test]
fn grep() {
    let grep = require("grep", "grep");
    const WORDS: [&str; 12] = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
        "lambda", "omega",
    ];
    let mut text = String::new();
    let mut rng = Lcg(0x0A11_0C8E);
    for i in 0..50_000 {
        let w1 = WORDS[rng.below(12) as usize];
        let w2 = WORDS[rng.below(12) as usize];
        let n = rng.next();
        let h = rng.next() ^ (rng.next() << 31);
        writeln!(text, "{i:06} {w1}{} {w2} {n} {h:x}", rng.below(100)).unwrap();
    }
    let mut patterns = String::new();
    for _ in 0..300 {
        writeln!(patterns, "{:06}", rng.below(60_000)).unwrap();
        if rng.below(3) == 0 {
            let w = WORDS[rng.below(12) as usize];
            writeln!(patterns, "{w}{}", rng.below(100)).unwrap();
        }
    }
    compare("grep", |run| {
        write(&run.path("lines.txt"), &text);
        write(&run.path("patterns.txt"), &patterns);
        for args in [
            &[
                "-E",
                "-n",
                r"^[0-9]*7[0-9]* (alpha|omega)[0-9]+ .*(ff|0{2,})$",
                "lines.txt",
            ][..],
            &[
                "-E",
                "-c",
                r"(beta|gamma)[0-9]? (eta|theta) [0-9]{9,}",
                "lines.txt",
            ],
            &["-E", "-o", r"[a-f]{4,}[0-9]*", "lines.txt"],
            &["-E", "-v", "-i", r"LAMBDA|[13579]$", "lines.txt"],
            &["-E", "-n", r"([a-f0-9]{2})\1\1", "lines.txt"],
            &["-E", "-w", "-f", "patterns.txt", "lines.txt"],
        ] {
            let mut cmd = run.command(&grep);
            cmd.args(args);
            run.exec(cmd);
        }
    });
}

/// `sort -n` of 300k numbers, in memory and as an external merge sort with two threads.
#[test]
fn sort() {
    let sort = require("sort", "coreutils");
    let mut numbers = String::new();
    let mut rng = Lcg(300_000);
    for _ in 0..300_000 {
        let n = rng.below(2_000_000_000) as i64 - 1_000_000_000;
        match rng.below(8) {
            0 => writeln!(numbers, "{n}.{}", rng.below(1000)).unwrap(),
            1 => writeln!(numbers, "{}", n % 1000).unwrap(),
            _ => writeln!(numbers, "{n}").unwrap(),
        }
    }
    compare("sort", |run| {
        write(&run.path("numbers.txt"), &numbers);
        for args in [
            &["-n", "numbers.txt"][..],
            &[
                "-n",
                "-r",
                "-u",
                "-S",
                "1M",
                "-T",
                ".",
                "--parallel=2",
                "numbers.txt",
            ],
        ] {
            let mut cmd = run.command(&sort);
            cmd.args(args);
            run.exec(cmd);
        }
    });
}

const PYTHON_SCRIPT: &str = r#"
import gc, hashlib

def digest(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:16]

state = 12345
def rnd():
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
    return state >> 33

d = {}
for i in range(60000):
    d["key%d_%d" % (i, rnd() % 1000)] = [i, str(rnd()), (i, i * 2), {"n": i}]
print("dict", len(d), digest("|".join(sorted(d)[:5000])))

nums = [rnd() for _ in range(120000)]
nums.sort()
print("sorted", nums[0], nums[len(nums) // 2], nums[-1])
joined = ",".join(map(str, nums))
print("joined", len(joined), digest(joined))
del nums[::2]
print("halved", len(nums), sum(nums) % 1000003)

parts = [("abc%d" % i) * (i % 17) for i in range(40000)]
big = "".join(parts)
print("big", len(big), digest(big))
pieces = big.split("1")
print("split", len(pieces), digest("-".join(sorted(pieces, key=lambda s: (len(s), s))[-100:])))
del parts, pieces, big

for k in list(d)[::3]:
    del d[k]
inverted = {}
for k, v in d.items():
    inverted.setdefault(v[0] % 997, []).append(k)
print("inverted", len(d), len(inverted), digest(repr(sorted((k, len(v)) for k, v in inverted.items()))))

buf = bytearray()
for i in range(100000):
    buf += i.to_bytes(4, "little")
    if i % 1000 == 0:
        buf = bytearray(buf)
print("bytes", len(buf), digest(bytes(buf)))

class Node:
    def __init__(self, parent):
        self.parent = parent
        self.children = []
        self.payload = "x" * (rnd() % 200)
        if parent is not None:
            parent.children.append(self)

for rep in range(3):
    root = Node(None)
    nodes = [root]
    for i in range(10000):
        nodes.append(Node(nodes[rnd() % len(nodes)]))
    total = sum(len(n.payload) for n in nodes)
    del nodes, root
    print("tree", rep, total, gc.collect() >= 0)

words = sorted({"w%x" % rnd() for _ in range(50000)})
print("words", len(words), words[0], words[-1], digest(" ".join(words)))
"#;

/// CPython with `PYTHONMALLOC=malloc`, so every object goes through `malloc` and `free`.
#[test]
fn python() {
    let python = require("/usr/bin/python3", "python3");
    compare("python", |run| {
        let cmd = python_script(run, &python, "work.py", PYTHON_SCRIPT);
        run.exec(cmd);
    });
}

/// A command running `script` (written to `name` in the run's directory) with CPython, every
/// object through `malloc` and `free`, hashing fixed and no bytecode files written.
fn python_script(run: &Run, python: &Path, name: &str, script: &str) -> Command {
    write(&run.path(name), script);
    let mut cmd = run.command(python);
    cmd.arg(name)
        .env("PYTHONMALLOC", "malloc")
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Threads in waves: each builds objects, hands half of them through a queue to a thread of the
/// next wave (which frees them) and exits, so caches of exited threads are adopted and blocks
/// are freed by threads that did not allocate them.
const PYTHON_THREADS_SCRIPT: &str = r#"
import hashlib, queue, threading

def digest(data):
    return hashlib.sha256(data.encode()).hexdigest()[:16]

def work(wave, t, inbox, outbox, results):
    state = wave * 1000 + t + 1
    got = 0
    while True:
        item = inbox.get()
        if item is None:
            break
        got += sum(len(s) for s in item["strings"]) + len(item["map"])
    made = []
    for i in range(2000):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        made.append({"strings": ["s%x" % (state >> k) for k in range(0, 40, 8)],
                     "map": {j: str(j) * (state % 7) for j in range(state % 9)}})
    for item in made[::2]:
        outbox.put(item)
    kept = digest(repr(made[1::2]))
    del made
    results[(wave, t)] = (got, kept)

results = {}
inboxes = [queue.Queue() for _ in range(6)]
for box in inboxes:
    box.put(None)
for wave in range(4):
    outboxes = [queue.Queue() for _ in range(6)]
    threads = [threading.Thread(target=work, args=(wave, t, inboxes[t], outboxes[t], results))
               for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for box in outboxes:
        box.put(None)
    inboxes = outboxes
for key in sorted(results):
    print(key, results[key])
"#;

/// CPython with `PYTHONMALLOC=malloc` running threads in waves ([`PYTHON_THREADS_SCRIPT`]).
#[test]
fn python_threads() {
    let python = require("/usr/bin/python3", "python3");
    compare("python_threads", |run| {
        let cmd = python_script(run, &python, "threads.py", PYTHON_THREADS_SCRIPT);
        run.exec(cmd);
    });

    // Once more under the preload with statistics: the exited threads' caches were adopted by
    // the next waves (24 threads and the main thread in fewer caches), and frees from other
    // threads arrived as such.
    let so = library();
    let scratch = Scratch::new("python_threads_stats");
    let run = Run::new(Some(&so), scratch.path.join("run"));
    let mut cmd = python_script(&run, &python, "threads.py", PYTHON_THREADS_SCRIPT);
    cmd.env("OXALLOC_STATS", "1");
    let (status, _, stderr) = run_with_timeout(&mut cmd, "python3 threads.py (stats)");
    assert!(
        status.success(),
        "python3 failed under the preload: {status}"
    );
    let stderr = String::from_utf8_lossy(&stderr);
    let made = stat(&stderr, "thread caches");
    let remote = stat(&stderr, "remote frees");
    assert!(
        (2..25).contains(&made),
        "{made} thread caches made for 24 threads in waves of 6 and the main thread:\n{stderr}"
    );
    assert!(remote > 0, "no frees from other threads arrived:\n{stderr}");
}

/// The number after `name` in the statistics `OXALLOC_STATS=1` printed (the last report).
fn stat(stderr: &str, name: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .filter_map(|l| l.trim().strip_prefix(name))
        .find_map(|n| n.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no `{name}` in the statistics; stderr:\n{stderr}"))
}

/// `git`: 300 commits over ~50 files, then the history, a repack, an fsck and the object list.
#[test]
fn git() {
    let git = require("git", "git");
    compare("git", |run| {
        let git_cmd = |run: &Run, commit: u64, args: &[&str]| {
            let date = format!("@{} +0000", 1_700_000_000 + commit * 3600);
            let home = run.path("home");
            let mut cmd = run.command(&git);
            cmd.args(args)
                .current_dir(run.path("repo"))
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", &home)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_AUTHOR_NAME", "A U Thor")
                .env("GIT_AUTHOR_EMAIL", "author@example.com")
                .env("GIT_AUTHOR_DATE", &date)
                .env("GIT_COMMITTER_NAME", "C O Mitter")
                .env("GIT_COMMITTER_EMAIL", "committer@example.com")
                .env("GIT_COMMITTER_DATE", &date)
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .env_remove("GIT_INDEX_FILE");
            cmd
        };
        fs::create_dir(run.path("home")).unwrap();
        fs::create_dir(run.path("repo")).unwrap();
        let mut cmd = git_cmd(run, 0, &["init", "-q", "-b", "main", "."]);
        run.exec(cmd);

        let mut rng = Lcg(0x617);
        for commit in 1..=300u64 {
            let files = if commit == 1 { 40 } else { 4 };
            for _ in 0..files {
                let n = if commit == 1 {
                    rng.below(40)
                } else {
                    rng.below(52)
                };
                let dir = run.path(&format!("repo/d{}", n % 5));
                fs::create_dir_all(&dir).unwrap();
                let mut text = String::new();
                for line in 0..(20 + rng.below(200)) {
                    writeln!(
                        text,
                        "file {n} commit {commit} line {line}: {:x}",
                        rng.next()
                    )
                    .unwrap();
                }
                write(&dir.join(format!("f{n}.txt")), text);
            }
            if commit % 7 == 0 {
                let gone = run.path(&format!("repo/d{}/f{}.txt", commit % 5, commit % 40));
                let _ = fs::remove_file(gone);
            }
            cmd = git_cmd(run, commit, &["add", "-A"]);
            run.exec(cmd);
            let message = format!("commit {commit}\n\nChange a few files.");
            cmd = git_cmd(run, commit, &["commit", "-q", "-m", &message]);
            run.exec(cmd);
        }
        for args in [
            &["ls-files", "-s"][..],
            &["log", "--format=%H"],
            &[
                "log",
                "--stat",
                "--format=%h %an %ad %s",
                "--date=iso-strict",
            ],
            &["diff", "--stat", "HEAD~15", "HEAD"],
            &["log", "-p", "-3", "--format=%H"],
            &["gc", "-q"],
            &["fsck", "--full", "--strict"],
            &["cat-file", "--batch-all-objects", "--batch-check"],
            &["rev-list", "--objects", "--all"],
        ] {
            cmd = git_cmd(run, 21, args);
            run.exec(cmd);
        }
    });
}

const PERL_SCRIPT: &str = r#"
use strict;
use warnings;

my $state = 42;
sub rnd { $state = ($state * 1103515245 + 12345) % 2147483648; return $state; }
sub sum32 { return unpack("%32C*", $_[0]); }

my %h;
for my $i (1 .. 80000) {
    my $k = sprintf("k%06d_%x", $i, rnd() % 4096);
    $h{$k} = [$i, rnd(), "v" x ($i % 13)];
}
my @keys = sort keys %h;
print "hash ", scalar(@keys), " $keys[0] $keys[-1] ", sum32(join("|", @keys)), "\n";

my %count;
for my $k (@keys) {
    if ($k =~ /^k(\d+)_([a-f]+)([0-9]*)$/) {
        $count{length $2}++;
        $h{$k}[3] = "$1-$3";
    }
}
print "regex ", join(",", map { "$_=$count{$_}" } sort { $a <=> $b } keys %count), "\n";

my @nums = map { rnd() % 1000000 } 1 .. 200000;
my @sorted = sort { $a <=> $b } @nums;
print "sort $sorted[0] $sorted[100000] $sorted[-1] ", sum32(join(",", @sorted)), "\n";

my $s = "";
for my $i (1 .. 100000) {
    $s .= chr(65 + $i % 26) x ($i % 7);
    $s .= "\n" if $i % 50 == 0;
}
(my $t = $s) =~ s/([AEIOU])\1+/lc($1) . length($&)/ge;
my @lines = split /\n/, $t;
print "string ", length($s), " ", length($t), " ", scalar(@lines), " ", sum32($t), "\n";

delete @h{grep { /[02468]_/ } @keys};
my $total = 0;
$total += $_->[0] for values %h;
print "delete ", scalar(keys %h), " $total\n";

my @words = map { join "", map { chr(97 + rnd() % 26) } 1 .. (3 + rnd() % 8) } 1 .. 50000;
my %seen;
my @uniq = grep { !$seen{$_}++ } @words;
my @bylen = sort { length($a) <=> length($b) or $a cmp $b } @uniq;
print "words ", scalar(@uniq), " $bylen[0] $bylen[-1] ", sum32(join(" ", @bylen)), "\n";
"#;

/// A C file for `gcc` to compile: structs, loops, recursion, printf.
const C_PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *left, *right; long key; char name[24]; };

static struct node *insert(struct node *t, long key) {
    if (!t) {
        t = calloc(1, sizeof *t);
        t->key = key;
        snprintf(t->name, sizeof t->name, "k%ld", key);
        return t;
    }
    if (key < t->key) t->left = insert(t->left, key);
    else t->right = insert(t->right, key);
    return t;
}

static long walk(const struct node *t, long depth) {
    if (!t) return 0;
    return depth * (long)strlen(t->name) + walk(t->left, depth + 1) + walk(t->right, depth + 1);
}

int main(void) {
    struct node *root = NULL;
    unsigned long x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ul + 1442695040888963407ul;
        root = insert(root, (long)(x >> 33));
    }
    printf("weighted name length %ld\n", walk(root, 1));
    return 0;
}
"#;

/// `gcc` compiling a C file (assembly to stdout, warnings on), linking it, and the result run.
#[test]
fn gcc() {
    let gcc = require("gcc", "gcc");
    compare("gcc", |run| {
        write(&run.path("prog.c"), C_PROGRAM);
        let mut cmd = run.command(&gcc);
        cmd.args(["-O2", "-Wall", "-Wextra", "-S", "-o", "-", "prog.c"]);
        run.exec(cmd);
        let mut cmd = run.command(&gcc);
        cmd.args(["-O2", "-Wall", "-o", "prog", "prog.c"]);
        run.exec(cmd);
        // Relative to the run's directory (the child's), so both transcripts name it alike.
        let cmd = run.command(Path::new("./prog"));
        run.exec(cmd);
    });
}

/// `perl`: hashes, regular expressions with captures and substitutions, sorting, strings.
#[test]
fn perl() {
    let perl = require("perl", "perl");
    compare("perl", |run| {
        write(&run.path("work.pl"), PERL_SCRIPT);
        let mut cmd = run.command(&perl);
        cmd.arg("work.pl")
            .env("PERL_HASH_SEED", "0")
            .env("PERL_PERTURB_KEYS", "0");
        run.exec(cmd);
    });
}

/// `sqlite3` on a database file: 20k inserts in a transaction, an index, aggregates and joins.
#[test]
fn sqlite3() {
    let sqlite3 = require("sqlite3", "sqlite3");
    let mut sql = String::from(
        "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, cat INTEGER, price REAL, \
         note TEXT);\n\
         CREATE TABLE cat(id INTEGER PRIMARY KEY, label TEXT);\n\
         BEGIN;\n",
    );
    let mut rng = Lcg(20_000);
    for c in 0..50 {
        writeln!(sql, "INSERT INTO cat VALUES({c}, 'category {c:02}');").unwrap();
    }
    for i in 0..20_000 {
        let note = "n".repeat(rng.below(300) as usize);
        writeln!(
            sql,
            "INSERT INTO item(name, cat, price, note) VALUES('item-{:08x}', {}, {}.{:02}, '{note}');",
            rng.next(),
            rng.below(60),
            rng.below(10_000),
            i % 100
        )
        .unwrap();
    }
    sql.push_str(
        "COMMIT;\n\
         CREATE INDEX item_cat ON item(cat, price);\n\
         CREATE INDEX item_name ON item(name);\n\
         SELECT count(*), sum(price), min(name), max(name), sum(length(note)) FROM item;\n\
         SELECT c.label, count(i.id), printf('%.2f', avg(i.price)), max(i.price)\n\
           FROM cat c LEFT JOIN item i ON i.cat = c.id GROUP BY c.id ORDER BY c.id;\n\
         SELECT count(*) FROM item WHERE cat NOT IN (SELECT id FROM cat);\n\
         SELECT i.name, c.label, i.price FROM item i JOIN cat c ON c.id = i.cat\n\
           WHERE i.price > 9900 ORDER BY i.price DESC, i.name LIMIT 25;\n\
         SELECT cat, group_concat(substr(name, 6, 2), '') FROM\n\
           (SELECT * FROM item WHERE id % 97 = 0 ORDER BY name) GROUP BY cat ORDER BY cat;\n\
         UPDATE item SET note = note || note WHERE id % 3 = 0;\n\
         DELETE FROM item WHERE id % 5 = 0;\n\
         SELECT count(*), sum(length(note)), total(price) FROM item;\n\
         VACUUM;\n\
         PRAGMA integrity_check;\n",
    );
    compare("sqlite3", |run| {
        write(&run.path("work.sql"), &sql);
        let mut cmd = run.command(&sqlite3);
        cmd.args(["-bail", "work.db", ".read work.sql"]);
        run.exec(cmd);
    });
}
