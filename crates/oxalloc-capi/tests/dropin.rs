//! Drop-in tests: C and C++ programs written here, compiled with the system compilers and run
//! with liboxalloc.so preloaded (and linked statically with liboxalloc.a where it matters).
//! Each program checks itself and exits non-zero with a `FAIL` line when something is wrong.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::lib;

/// Compiles `tests/dropin/FILE` into an executable; `extra` are more arguments for the compiler.
fn build(file: &str, extra: &[&Path]) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let exe = common::scratch_dir("dropin").join(format!("{}_{n}", file.replace('.', "_")));
    let flags = ["-O1", "-w", "-fno-builtin", "-pthread"];
    common::compile(&format!("tests/dropin/{file}"), &exe, &flags, extra);
    exe
}

/// Runs `exe` with liboxalloc.so preloaded; asserts success; returns stdout.
fn run_preloaded(exe: &Path, args: &[&str]) -> String {
    run_preloaded_env(exe, args, &[])
}

/// As [`run_preloaded`], with more environment variables.
fn run_preloaded_env(exe: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let o = Command::new(exe)
        .args(args)
        .env("LD_PRELOAD", lib("liboxalloc.so"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{} {args:?} failed ({:?}):\n{stdout}\n{}",
        exe.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    print!("{stdout}");
    stdout
}

#[test]
fn conformance_of_every_function_preloaded() {
    let exe = build("conformance.c", &[]);
    assert!(run_preloaded(&exe, &[]).contains("conformance ok"));
}

/// A set-user-ID program linked with oxalloc gets its environment from a less privileged user:
/// it ignores the `OXALLOC_*` options (here, a statistics file in a directory everyone may
/// write). The same program without the set-user-ID bit writes the file, so the test can fail.
/// Making a program set-user-ID `nobody` needs root, as CI runs; elsewhere the test says so and
/// passes.
#[test]
fn set_user_id_programs_ignore_the_options() {
    let id = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&id.stdout).trim() != "0" {
        eprintln!(
            "set_user_id_programs_ignore_the_options: not root, cannot make a set-user-ID program"
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let built = build("setuid.c", &[&lib("liboxalloc.a")]);
    // Next to the libraries rather than in the temporary directory, which may be mounted
    // `nosuid`.
    let exe = common::profile_dir().join(format!("setuid-test-{}", std::process::id()));
    std::fs::copy(&built, &exe).unwrap();
    let dir = built.parent().unwrap().join("setuid-out");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = |name: &str| {
        let file = dir.join(name);
        let o = Command::new(&exe)
            .env("OXALLOC_STATS", "1")
            .env("OXALLOC_STATS_FILE", &file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            file.exists(),
        )
    };
    let (out, written) = run("plain");
    assert!(
        written,
        "the plain program did not write its statistics: {out}"
    );
    let chown = Command::new("chown")
        .arg("65534")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let (out, written) = run("setuid");
    std::fs::remove_file(&exe).unwrap();
    if !out.contains("euid 65534") {
        // A `nosuid` mount or `no_new_privs` ignores the bit: nothing to judge here.
        eprintln!("set_user_id_programs_ignore_the_options: the bit was ignored here: {out}");
        return;
    }
    assert!(
        !written,
        "the set-user-ID program wrote the file its environment named"
    );
}

#[test]
fn mallopt_thresholds_and_top_pad() {
    let exe = build("mallopt.c", &[]);
    assert!(run_preloaded(&exe, &[]).contains("mallopt ok"));
}

#[test]
fn a_refill_that_grows_the_heap_faults_its_pages_in_after_the_lock() {
    let exe = build("populate.c", &[]);
    let out = run_preloaded(&exe, &[]);
    if out.contains("populate skipped") {
        eprintln!("skipped: this kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
        return;
    }
    assert!(out.contains("populate ok"));
}

#[test]
fn sized_frees_libc_names_and_malloc_info_preloaded() {
    let exe = build("extras.c", &[]);
    assert!(run_preloaded(&exe, &[]).contains("extras ok"));
}

#[test]
fn sized_frees_libc_names_and_malloc_info_linked_statically() {
    let exe = build("extras.c", &[&lib("liboxalloc.a")]);
    let o = Command::new(&exe).output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("extras ok"));
}

#[test]
fn conformance_of_every_function_linked_statically() {
    let exe = build("conformance.c", &[&lib("liboxalloc.a")]);
    // No preload: the program's own copy of oxalloc serves it.
    let o = Command::new(&exe).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let syms = Command::new("nm").arg(&exe).output().unwrap();
    let syms = String::from_utf8_lossy(&syms.stdout);
    assert!(
        syms.lines().any(|l| l.ends_with(" T malloc")),
        "malloc is not defined in the static program"
    );
}

#[test]
fn blocks_a_cache_gave_back_merge_before_the_heap_grows() {
    let exe = build("regive.c", &[]);
    let out = run_preloaded(&exe, &[]);
    assert!(out.contains("regive ok"), "{out}");
    // 200,000 blocks of 32 bytes: more groups than a class's ring holds (the rest on its
    // overflow stack: the ring holds 256 groups of 64, 512 KiB), then a 5 MiB request.
    let out = run_preloaded(&exe, &["200000", "24", "5242880"]);
    assert!(out.contains("regive ok"), "{out}");
}

/// The number after `name` on its line of an `OXALLOC_STATS` report.
fn stat(report: &str, name: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(name))
        .unwrap_or_else(|| panic!("no {name:?} line in:\n{report}"));
    let rest = line.trim_start()[name.len()..].trim_start();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Builds `file` (a program that prints `NAME ok`), runs it preloaded with `OXALLOC_STATS=1`,
/// asserts success; returns the statistics report (its stderr).
fn run_with_stats(file: &str) -> String {
    run_with_stats_args(file, &[])
}

/// [`run_with_stats`], with arguments for the program.
fn run_with_stats_args(file: &str, args: &[&str]) -> String {
    let exe = build(file, &[]);
    let o = Command::new(&exe)
        .args(args)
        .env("LD_PRELOAD", lib("liboxalloc.so"))
        .env("OXALLOC_STATS", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    let ok = format!("{} ok", file.trim_end_matches(".c"));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&ok), "{err}");
    err
}

#[test]
fn a_cache_takes_back_its_own_groups_before_another_threads() {
    let err = run_with_stats("owngroups.c");
    // 40,000 blocks of one class per thread: several hundred groups each, more than the ring.
    let reused = stat(&err, "groups reused");
    assert!(reused >= 400, "only {reused} groups taken back:\n{err}");
    assert_eq!(stat(&err, "groups moved"), 0, "{err}");
}

#[test]
fn blocks_taken_from_another_threads_groups_become_the_takers_own() {
    let err = run_with_stats_args("owngroups.c", &["moved"]);
    // 20,000 blocks of one class: hundreds of groups go from A's cache to B's. Blocks left
    // naming A would go onto A's remote list when B frees them (about 20,000 remote frees).
    let moved = stat(&err, "groups moved");
    assert!(moved >= 100, "only {moved} groups moved:\n{err}");
    assert_eq!(stat(&err, "remote frees"), 0, "{err}");
}

#[test]
fn a_string_appended_to_moves_every_eighth_of_its_length() {
    let out = run_preloaded(&build("appends.c", &[]), &[]);
    assert!(out.contains("appends ok"), "{out}");
    // From 16 to 1000 bytes one byte at a time: about 19 moves (39 when every move fits the
    // request exactly; glibc 33).
    let moves: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("moves per string "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no move count in:\n{out}"));
    assert!(moves <= 28, "{moves} moves per string");
}

/// Runs `earlymerge.c` (with `args`) under the statistics; returns its "cached blocks".
fn earlymerge_cached(args: &[&str]) -> (u64, String) {
    let err = run_with_stats_args("earlymerge.c", args);
    (stat(&err, "cached blocks"), err)
}

#[test]
fn a_single_threaded_program_whose_merges_join_keeps_few_groups_per_size() {
    // 20,000 freed 96-byte blocks: about 1,200 stay cached (8 to 16 groups and the bin), not
    // all.
    let (cached, err) = earlymerge_cached(&[]);
    assert!(cached < 4000, "{cached} blocks cached:\n{err}");
}

#[test]
fn a_single_threaded_program_whose_merges_join_nothing_keeps_its_groups() {
    let (cached, err) = earlymerge_cached(&["scattered"]);
    assert!(cached >= 20000, "only {cached} blocks cached:\n{err}");
}

#[test]
fn an_exited_threads_cached_blocks_go_whole_to_the_thread_that_adopts_its_cache() {
    let err = run_with_stats("retire.c");
    // Eight sizes, one group each taken back by thread B (without merging and re-carving).
    let reused = stat(&err, "groups reused");
    assert!(reused >= 8, "only {reused} groups taken back:\n{err}");
    assert_eq!(stat(&err, "groups moved"), 0, "{err}");
}

#[test]
fn blocks_of_an_exited_thread_are_adopted_in_batches() {
    let err = run_with_stats("inherit.c");
    // 20,000 frees of a dead thread's blocks, 40,000 more operations: a few thousand lock
    // trips at most (one per free would be over 20,000).
    let taken = stat(&err, "lock taken");
    assert!(
        taken < 5000,
        "the heap's lock was taken {taken} times:\n{err}"
    );
}

#[test]
fn a_bin_that_swings_between_empty_and_full_grows_its_limit() {
    let err = run_with_stats("swing.c");
    // 200,000 replacements of random 6 and 12 KiB blocks: with the classes' base limits (two
    // and one blocks a list) about 57,000 lock trips; with adaptive limits about 2,600.
    let taken = stat(&err, "lock taken");
    assert!(
        taken < 10_000,
        "the heap's lock was taken {taken} times:\n{err}"
    );
}

#[test]
fn stashed_groups_no_refill_wants_are_merged_when_idle() {
    // 2,000 blocks of 4,000 bytes freed into a thread's stash, then heap activity through the
    // classic names until `mallinfo2` shows them merged (after about five seconds; the program
    // fails after 60). Before, the heap looked at idle groups only while some were deferred or
    // some pages free, and all 2,000 stayed cached.
    let err = run_with_stats("idlestash.c");
    let cached = stat(&err, "cached blocks");
    assert!(cached < 500, "{cached} blocks still cached:\n{err}");
}

#[test]
fn a_thread_taking_back_its_own_stash_does_not_keep_another_threads_idle_stash() {
    // As above, with the 2,000 blocks in a waiting thread's stash while the main thread swings
    // 200 blocks through its own stash all along (before, any stash taken back kept every
    // cache's stash, and the deferred ring, from idle merges: the program failed after 60 s).
    let err = run_with_stats_args("idlestash.c", &["busy"]);
    let reused = stat(&err, "groups reused");
    assert!(reused >= 100, "only {reused} groups taken back:\n{err}");
}

#[test]
fn a_bin_that_swings_takes_its_group_back_from_the_stash_without_the_lock() {
    let err = run_with_stats("stash.c");
    // 10,000 rounds that each give a group back and take one: about 20,000 trips under the lock
    // through the deferred groups, a dozen through the stash.
    let taken = stat(&err, "lock taken");
    assert!(
        taken < 2_000,
        "the heap's lock was taken {taken} times:\n{err}"
    );
    // The second thread's refill took the first's stashed group (none was deferred).
    assert!(stat(&err, "groups moved") >= 1, "{err}");
    // 2,000 rounds of 40 blocks freed in a row: the groups stack up in the stash (about 80,000
    // trips under the lock through the deferred ring), and the second thread takes them all.
    let err = run_with_stats_args("stash.c", &["stack"]);
    let taken = stat(&err, "lock taken");
    assert!(
        taken < 2_000,
        "the heap's lock was taken {taken} times:\n{err}"
    );
    assert!(stat(&err, "groups moved") >= 2, "{err}");
}

#[test]
fn bulk_phases_move_two_groups_per_trip() {
    let err = run_with_stats("phases.c");
    // Five rounds of 50,000 allocations of 48 bytes, then 50,000 frees: one trip under the lock
    // per group each way took 7,802; two groups per trip once a phase is recognised, 4,301; in
    // a process with threads the groups stack up in the thread's stash instead, without the
    // lock: 791 (the first round's carving).
    let taken = stat(&err, "lock taken");
    assert!(
        taken < 2_000,
        "the heap's lock was taken {taken} times:\n{err}"
    );
    // Each round reuses the blocks the one before gave back: groups taken back (1,557 of 128
    // blocks or more once the limit stays), and the heap no larger than one round's blocks
    // (50,000 of 64 bytes).
    assert!(stat(&err, "groups reused") >= 1_000, "{err}");
    let peak = stat(&err, "heap peak");
    assert!(peak < 3_500_000, "heap peak {peak}:\n{err}");
}

#[test]
fn blocks_waiting_on_a_live_threads_remote_list_serve_before_the_heap_grows() {
    // 32 MB freed for a thread that stays alive without allocating, then 48 MB asked for by
    // another: the heap grew by 49 MB when remote lists waited for their owner, 16 MB now.
    let exe = build("stranded.c", &[]);
    assert!(run_preloaded(&exe, &[]).contains("stranded ok"));
}

#[test]
fn blocks_a_thread_freed_for_another_reach_it_when_the_thread_exits() {
    // Remote frees wait in a per-thread batch; an exiting thread pushes its batches.
    let exe = build("batched.c", &[]);
    assert!(run_preloaded(&exe, &[]).contains("batched ok"));
    // A thread that frees without ever allocating gets a cache at its first such free (its
    // frees were each a compare-and-swap on the owner's list before), and its batches reach
    // the owner too.
    let err = run_with_stats_args("batched.c", &["consumer"]);
    assert_eq!(stat(&err, "thread caches"), 2, "{err}");
}

#[test]
fn a_bulk_free_phase_keeps_lifo_reuse_and_starts_only_in_one_thread() {
    // Frees with no malloc in between take each block 32 frees later (header and first word
    // prefetched): six bulk frees in the parent (the child's statistics are not printed: it
    // `_exit`s).
    let err = run_with_stats("bulkfree.c");
    let phases = stat(&err, "free phases");
    assert!((3..=8).contains(&phases), "{phases} phases:\n{err}");
    // With a second thread (joined before the frees), none.
    let err = run_with_stats_args("bulkfree.c", &["threads"]);
    assert_eq!(stat(&err, "free phases"), 0, "{err}");
}

#[test]
fn a_structure_built_again_after_a_teardown_is_laid_out_in_contiguous_memory() {
    // After a teardown in random order the teardown's lists are merged into the heap, and the
    // rebuild carves neighbours (without the merge: 50 of 250,000 were); after one in allocation
    // order the lists are neighbours already.
    let exe = build("rebuild.c", &[]);
    assert!(run_preloaded(&exe, &["shuffled"]).contains("rebuild ok"));
    assert!(run_preloaded(&exe, &[]).contains("rebuild ok"));
}

#[test]
fn a_remote_backlog_longer_than_its_packed_length_keeps_counts_exact() {
    let err = run_with_stats("backlog.c");
    // 100,000 blocks freed for a thread that is not allocating: its remote list stops at 65,535
    // (the rest go to the heap); the cache that takes it back counts exactly that many. A count
    // that ran past 65,535 would wrap when the bin empties (cached blocks ~4e9).
    let cached = stat(&err, "cached blocks");
    assert!(cached <= 200_000, "{cached} cached blocks:\n{err}");
    assert!(stat(&err, "remote frees") <= 65_535, "{err}");
}

#[test]
fn malloc_usable_size_of_a_cached_block_takes_no_lock() {
    let err = run_with_stats("usable.c");
    let taken = stat(&err, "lock taken");
    assert!(
        taken < 5000,
        "the heap's lock was taken {taken} times:\n{err}"
    );
}

#[test]
fn waves_of_threads_beyond_the_static_caches_keep_the_heap_consistent() {
    let exe = build("waves.c", &[]);
    assert!(run_preloaded(&exe, &[]).contains("waves ok"));
}

#[test]
fn threads_with_cross_thread_frees_and_exits() {
    let exe = build("threads.c", &[]);
    run_preloaded(&exe, &["150000"]);
}

#[test]
fn three_hundred_forks_while_threads_churn() {
    let exe = build("fork.c", &[]);
    assert!(run_preloaded(&exe, &["300"]).contains("300 healthy children"));
}

#[test]
fn a_mapping_above_the_break() {
    let exe = build("faults.c", &[]);
    run_preloaded(&exe, &["map"]);
}

#[test]
fn under_rlimit_as() {
    let exe = build("faults.c", &[]);
    run_preloaded(&exe, &["as"]);
}

#[test]
fn under_rlimit_data() {
    let exe = build("faults.c", &[]);
    run_preloaded(&exe, &["data"]);
}

#[test]
fn dlopen_fopen_and_the_programs_own_sbrk() {
    let exe = build("early.c", &[]);
    run_preloaded(&exe, &[]);
}

#[test]
fn multithreaded_cpp_program_matches_glibc() {
    let exe = build("cxx.cpp", &[]);
    let ours = run_preloaded(&exe, &[]);
    let theirs = Command::new(&exe).output().unwrap();
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout));
}

#[test]
fn hardened_mode_runs_the_conformance_suite_threads_and_cpp() {
    let env = [("OXALLOC_SECURE", "1")];
    let exe = build("conformance.c", &[]);
    assert!(run_preloaded_env(&exe, &[], &env).contains("conformance ok"));
    let exe = build("threads.c", &[]);
    run_preloaded_env(&exe, &["30000"], &env);
    let exe = build("cxx.cpp", &[]);
    run_preloaded_env(&exe, &[], &env);
}

#[test]
fn hardened_mode_puts_a_guard_page_after_huge_blocks() {
    use std::os::unix::process::ExitStatusExt;
    let exe = build("guard.c", &[]);
    let o = Command::new(&exe)
        .env("LD_PRELOAD", lib("liboxalloc.so"))
        .env("OXALLOC_SECURE", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("in bounds ok"), "{out}");
    assert_eq!(
        o.status.signal(),
        Some(11),
        "expected SIGSEGV at the guard page: {out}"
    );
}

#[test]
fn cached_blocks_resized_to_8_mod_16_bytes_free_into_their_class() {
    let exe = build("oddsize.c", &[]);
    let out = run_preloaded(&exe, &[]);
    assert!(out.contains("oddsize ok"), "{out}");
}

#[test]
fn free_leaves_errno_alone_on_every_path() {
    let exe = build("freeerrno.c", &[]);
    let out = run_preloaded(&exe, &[]);
    assert!(out.contains("freeerrno ok"), "{out}");
}

#[test]
fn calloc_of_a_huge_block_leaves_its_fresh_pages_alone() {
    let exe = build("callochuge.c", &[]);
    let out = run_preloaded(&exe, &[]);
    assert!(out.contains("callochuge ok"), "{out}");
}

#[test]
fn realloc_of_a_huge_block_moves_its_pages_instead_of_copying() {
    let exe = build("hugerealloc.c", &[]);
    let out = run_preloaded(&exe, &[]);
    assert!(out.contains("hugerealloc ok"), "{out}");
}

/// `(start, KiB resident)` of the library's code mapping in `codepages.c`: before and after
/// its call of `malloc_stats`, in one process (no `OXALLOC_` option inherited).
fn code_pages() -> Vec<(u64, u64)> {
    let exe = build("codepages.c", &[]);
    let mut cmd = Command::new(&exe);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OXALLOC_")) {
        cmd.env_remove(k);
    }
    let o = cmd
        .env("LD_PRELOAD", lib("liboxalloc.so"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "codepages failed ({:?}):\n{out}",
        o.status
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("code "))
        .map(|l| {
            let (start, kib) = l.split_once(' ').unwrap();
            (
                u64::from_str_radix(start, 16).unwrap(),
                kib.trim().parse().unwrap(),
            )
        })
        .collect()
}

/// Small, medium, large, huge and aligned blocks, `realloc`, a second thread and `fork` run
/// code from one 64 KiB window of the library's executable segment: the kernel maps a faulting
/// page's cached neighbours within its 64 KiB window (fault-around, 64 KiB unless changed in
/// debugfs), and `build.rs` and `cold.ld` lay the code out for that. The statistics report lies
/// outside the window: calling it maps more. (Release builds only: a debug build's code does
/// not fit. With a glibc older than 2.35 the loader ignores the 64 KiB alignment the layout
/// needs, and the test says so and checks nothing.)
#[test]
fn the_code_programs_run_stays_in_one_fault_around_window() {
    if cfg!(debug_assertions) || std::env::var_os("OXALLOC_PLAIN_LAYOUT").is_some() {
        println!("skipped: a debug build, or OXALLOC_PLAIN_LAYOUT (see build.rs)");
        return;
    }
    let pages = code_pages();
    assert_eq!(pages.len(), 2, "two code lines expected: {pages:?}");
    let ((start, hot), (_, after)) = (pages[0], pages[1]);
    if start % 0x10000 != 0 {
        println!(
            "skipped: the code is mapped at {start:#x}, not on a 64 KiB boundary (glibc < 2.35)"
        );
        return;
    }
    assert!(
        hot <= 64,
        "{hot} KiB of the library's code resident: over 64"
    );
    assert!(
        after > hot,
        "malloc_stats mapped no more code ({after} KiB against {hot}): is it in the hot window?"
    );
}
