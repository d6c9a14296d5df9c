//! The built `liboxalloc.so` keeps its hot-written statics on cache lines of their own.
//!
//! The statics that threads write on hot paths (the heap lock's word, counters updated under
//! the lock, flags set without it) are wrapped in `os::CachePadded`: 128-byte aligned, with 128
//! bytes of padding. Whether the padding survives is the compiler's and the linker's business
//! (an optimisation once cut it, and a counter written under the lock landed 8 bytes before the
//! flag every slow path reads), so this test reads the library's symbol table with `nm` and
//! checks, for each of them, that it is aligned and that no other static starts within its
//! 128 bytes.

mod common;

use std::process::Command;

/// `(address, size, demangled name, in .bss)` of every data symbol (`b`, `B`: zeroed; `d`,
/// `D`: initialised) of the library.
fn data_symbols() -> Vec<(u64, u64, String, bool)> {
    let lib = common::lib("liboxalloc.so");
    let out = Command::new("nm")
        .args(["-S", "-C", "--defined-only"])
        .arg(&lib)
        .output()
        .unwrap_or_else(|e| panic!("nm not found ({e}): apt-get install binutils"));
    assert!(out.status.success(), "nm {} failed", lib.display());
    let mut syms = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        if f.len() == 4 && matches!(f[2], "b" | "B" | "d" | "D") {
            let addr = u64::from_str_radix(f[0], 16).unwrap();
            let size = u64::from_str_radix(f[1], 16).unwrap();
            syms.push((addr, size, f[3].to_string(), matches!(f[2], "b" | "B")));
        }
    }
    assert!(!syms.is_empty(), "no data symbols in {}", lib.display());
    syms
}

#[test]
fn hot_written_statics_have_their_cache_lines_to_themselves() {
    let syms = data_symbols();
    let hot = [
        "oxalloc::global::LOCKED",
        "oxalloc::global::purge_check::OPS",
        "oxalloc::global::purge_check::SINCE",
        "oxalloc::tcache::EXTRA_TOTAL",
        "oxalloc::tcache::DEFERRED_BLOCKS",
        "oxalloc::tcache::STASHED",
    ];
    for name in hot {
        let &(addr, size, _, _) = syms
            .iter()
            .find(|s| s.2 == name)
            .unwrap_or_else(|| panic!("{name} is not in the symbol table"));
        assert_eq!(addr % 128, 0, "{name} at {addr:#x} is not 128-byte aligned");
        // A value of at most 128 bytes and 128 bytes of padding: nothing else in the 128-byte
        // block of the value nor in the next one (the adjacent-line prefetcher's pair).
        assert!(size >= 256, "{name} is {size} bytes: its padding was cut");
        for (a, _, other, _) in &syms {
            assert!(
                *a <= addr || *a >= addr + 256,
                "{other} at {a:#x} shares the cache lines of {name} at {addr:#x}"
            );
        }
    }
    // The heap lock's word starts the heap's static (`Global` is `repr(C)`, the lock first), on
    // lines of its own.
    let &(global, _, _, _) = syms
        .iter()
        .find(|s| s.2 == "oxalloc::global::GLOBAL")
        .expect("GLOBAL is not in the symbol table");
    assert_eq!(
        global % 128,
        0,
        "GLOBAL at {global:#x} is not 128-byte aligned"
    );
}

/// The allocator's large tables start zeroed, so they live in `.bss`: their pages cost nothing
/// until touched, and then only the touched ones. A non-zero initial value anywhere in such a
/// table moves all of it to `.data`, whose pages the kernel maps from the file in blocks (a field
/// of the deferred ring's table once did: a small program's peak RSS grew by about 100 KiB).
#[test]
fn large_tables_start_zeroed() {
    let mut big = 0;
    for (_, size, name, zeroed) in data_symbols() {
        if size >= 16 << 10 {
            big += 1;
            assert!(
                zeroed,
                "{name} ({size} bytes) is initialised data, not .bss"
            );
        }
    }
    assert!(
        big >= 3,
        "expected the cache table, pool and deferred ring: {big} found"
    );
}

/// `readelf -W ARGS` of the library.
fn readelf(args: &[&str]) -> String {
    let lib = common::lib("liboxalloc.so");
    let out = Command::new("readelf")
        .arg("-W")
        .args(args)
        .arg(&lib)
        .output()
        .unwrap_or_else(|e| panic!("readelf not found ({e}): apt-get install binutils"));
    assert!(out.status.success(), "readelf {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The executable segment starts on a 64 KiB boundary with the cold code (`oxalloc_cold`, see
/// `cold.ld`), padded to whole 64 KiB windows; the code every program runs (`.init`, `.plt`,
/// `.text`, `.fini`) fills the next window and no more. The kernel maps a faulting page's
/// cached neighbours within its 64 KiB window, so the cold code's pages stay unmapped unless
/// used. `dropin.rs` checks the same at run time, from a program's own `smaps`. (Release builds
/// only: a debug build's code does not fit.)
#[test]
fn hot_code_fills_one_64_kib_window_after_the_cold_code() {
    if cfg!(debug_assertions) || std::env::var_os("OXALLOC_PLAIN_LAYOUT").is_some() {
        println!("skipped: a debug build, or OXALLOC_PLAIN_LAYOUT (see build.rs)");
        return;
    }
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    // LOAD offset vaddr paddr filesz memsz flags... align
    let segs = readelf(&["-l"]);
    let exec: Vec<&str> = segs
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"LOAD") && f.contains(&"E"))
        .unwrap_or_else(|| panic!("no executable LOAD segment:\n{segs}"));
    let (start, align) = (hex(exec[2]), hex(exec[exec.len() - 1]));
    assert!(align >= 0x10000, "executable segment aligned to {align:#x}");
    assert_eq!(start % 0x10000, 0, "executable segment at {start:#x}");
    // [Nr] name type address offset size entsize flags...: the executable sections.
    let secs = readelf(&["-S"]);
    let exec_secs: Vec<(String, u64, u64)> = secs
        .lines()
        .filter_map(|l| l.split_once(']'))
        .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 6 && f[6].contains('X'))
        .map(|f| (f[0].to_string(), hex(f[2]), hex(f[4])))
        .collect();
    let &(_, cold, cold_size) = exec_secs
        .iter()
        .find(|s| s.0 == "oxalloc_cold")
        .unwrap_or_else(|| panic!("no oxalloc_cold section (was cold.ld used?):\n{secs}"));
    assert_eq!(
        cold, start,
        "oxalloc_cold does not open the executable segment:\n{secs}"
    );
    assert!(
        cold_size > 0 && cold_size % 0x10000 == 0,
        "oxalloc_cold is {cold_size:#x} bytes"
    );
    let hot_start = cold + cold_size;
    for (name, addr, size) in exec_secs.iter().filter(|s| s.0 != "oxalloc_cold") {
        assert!(
            *addr >= hot_start,
            "{name} at {addr:#x} lies among the cold code"
        );
        assert!(
            addr + size <= hot_start + 0x10000,
            "{name} ends {:#x} bytes past the start of the hot window, beyond 64 KiB: mark more \
             rarely run functions #[link_section = \".text.oxalloc_cold.*\"]",
            addr + size - hot_start
        );
    }
    // The functions of the reports and of the hardened mode are all cold (a function marked but
    // inlined into a hot one would leave its code in the hot window; one left unmarked too).
    let out = Command::new("nm")
        .args(["-C", "--defined-only"])
        .arg(common::lib("liboxalloc.so"))
        .output()
        .expect("nm");
    let mut seen = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.splitn(3, ' ').collect();
        if f.len() == 3 && matches!(f[1], "t" | "T") {
            let name = f[2];
            let cold_module = name.starts_with("oxalloc::report::")
                || (name.starts_with("oxalloc::secure::") && name != "oxalloc::secure::enable");
            if cold_module {
                seen += 1;
                let a = hex(f[0]);
                assert!(
                    a >= cold && a < hot_start,
                    "{name} at {a:#x} is not in oxalloc_cold"
                );
            }
        }
    }
    assert!(
        seen >= 8,
        "only {seen} functions of the reports and the hardened mode found"
    );
}
