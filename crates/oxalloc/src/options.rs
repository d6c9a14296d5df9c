//! Every option of oxalloc, in one table: name, environment variable, default, meaning.
//!
//! Options are read once, from the environment, at the first allocation. An invalid value gives
//! one warning line on stderr and the default — never a crash, never a changed program output.

use oxalloc_os as os;

/// One option.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// Short name.
    pub name: &'static str,
    /// The environment variable that sets it.
    pub env: &'static str,
    /// The default, as written in the environment.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// The table of options (the README and `oxalloc run --help` print it).
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "stats",
        env: "OXALLOC_STATS",
        default: "0",
        meaning: "1: print the statistics summary to stderr when the process exits",
    },
    OptionSpec {
        name: "stats-file",
        env: "OXALLOC_STATS_FILE",
        default: "",
        meaning: "write the statistics summary at exit to this file instead (%p: the process id)",
    },
    OptionSpec {
        name: "verbose",
        env: "OXALLOC_VERBOSE",
        default: "0",
        meaning: "1: one line on stderr with the options in force",
    },
    OptionSpec {
        name: "trim-threshold",
        env: "OXALLOC_TRIM_THRESHOLD",
        default: "65536",
        meaning: "bytes of free memory at the top of the heap above which the break moves down",
    },
    OptionSpec {
        name: "huge-threshold",
        env: "OXALLOC_HUGE_THRESHOLD",
        default: "67108864",
        meaning: "blocks of at least this many bytes get a mapping of their own (min 4096)",
    },
    OptionSpec {
        name: "secure",
        env: "OXALLOC_SECURE",
        default: "0",
        meaning: "1: hardened mode: no thread caches, every free checked with both neighbours, \
                  canaries after blocks, freed memory filled, a quarantine",
    },
    OptionSpec {
        name: "map-file",
        env: "OXALLOC_MAP_FILE",
        default: "",
        meaning: "write a map of the heap to this file at exit and on SIGUSR1 (%p: the process id)",
    },
];

/// The options in force.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// `OXALLOC_STATS`.
    pub stats: bool,
    /// `OXALLOC_STATS_FILE` (empty: none).
    pub stats_file: &'static [u8],
    /// `OXALLOC_VERBOSE`.
    pub verbose: bool,
    /// `OXALLOC_TRIM_THRESHOLD`.
    pub trim_threshold: usize,
    /// `OXALLOC_HUGE_THRESHOLD`.
    pub huge_threshold: usize,
    /// `OXALLOC_SECURE`.
    pub secure: bool,
    /// `OXALLOC_MAP_FILE` (empty: none).
    pub map_file: &'static [u8],
}

impl Options {
    /// The defaults of the table.
    pub const DEFAULT: Options = Options {
        stats: false,
        stats_file: b"",
        verbose: false,
        trim_threshold: 65536,
        huge_threshold: 64 << 20,
        secure: false,
        map_file: b"",
    };

    /// Reads every option from the environment (no allocation).
    pub fn from_env() -> Options {
        let mut o = Options::DEFAULT;
        // A set-user-ID (or set-group-ID, or capability-raising) program gets its environment
        // from the user who started it: the options would let that user make it write files
        // it chooses (the statistics, the heap map). Such a program runs with the defaults,
        // as glibc ignores its `MALLOC_` tunables.
        if os::secure_execution() {
            return o;
        }
        for spec in OPTIONS {
            // The table's names are NUL-free ASCII; build the C string on the stack.
            let mut name = [0u8; 40];
            name[..spec.env.len()].copy_from_slice(spec.env.as_bytes());
            let Ok(cname) = core::ffi::CStr::from_bytes_until_nul(&name) else {
                continue;
            };
            let Some(v) = os::getenv(cname) else {
                continue;
            };
            let ok = match spec.name {
                "stats" => parse_bool(v).map(|b| o.stats = b).is_some(),
                "verbose" => parse_bool(v).map(|b| o.verbose = b).is_some(),
                "secure" => parse_bool(v).map(|b| o.secure = b).is_some(),
                "trim-threshold" => parse_size(v).map(|n| o.trim_threshold = n).is_some(),
                "huge-threshold" => parse_size(v)
                    .filter(|&n| n >= 4096)
                    .map(|n| o.huge_threshold = n)
                    .is_some(),
                "stats-file" => {
                    o.stats_file = v;
                    !v.is_empty() && v.len() < 200
                }
                "map-file" => {
                    o.map_file = v;
                    !v.is_empty() && v.len() < 200
                }
                _ => true,
            };
            if !ok {
                match spec.name {
                    "stats-file" => o.stats_file = b"",
                    "map-file" => o.map_file = b"",
                    _ => {}
                }
                let mut m = os::MsgBuf::new();
                m.str("oxalloc: warning: ignoring invalid ")
                    .str(spec.env)
                    .str("=")
                    .push(&v[..v.len().min(60)])
                    .str(" (default ")
                    .str(if spec.default.is_empty() {
                        "none"
                    } else {
                        spec.default
                    })
                    .str(")\n");
                m.write_stderr();
            }
        }
        o
    }
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    match v {
        b"1" | b"yes" | b"true" | b"on" => Some(true),
        b"0" | b"no" | b"false" | b"off" | b"" => Some(false),
        _ => None,
    }
}

/// A byte count: digits with an optional `k`, `m` or `g` suffix (powers of 1024).
fn parse_size(v: &[u8]) -> Option<usize> {
    let (digits, mult) = match v.last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1usize << 10),
        b'm' | b'M' => (&v[..v.len() - 1], 1 << 20),
        b'g' | b'G' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n = 0usize;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as usize;
    }
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn sizes_and_booleans_parse_or_are_refused() {
        assert_eq!(parse_size(b"4096"), Some(4096));
        assert_eq!(parse_size(b"64k"), Some(65536));
        assert_eq!(parse_size(b"2M"), Some(2 << 20));
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"12x"), None);
        assert_eq!(parse_size(b"-5"), None);
        assert_eq!(parse_size(b"99999999999999999999"), None);
        assert_eq!(parse_bool(b"1"), Some(true));
        assert_eq!(parse_bool(b"off"), Some(false));
        assert_eq!(parse_bool(b"2"), None);
    }

    #[test]
    fn every_option_has_a_documented_default() {
        for o in OPTIONS {
            assert!(o.env.starts_with("OXALLOC_") && o.env.len() < 40);
            assert!(!o.meaning.is_empty());
        }
    }
}
