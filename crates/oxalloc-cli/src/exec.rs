//! Running a program with `liboxalloc.so` preloaded, the way a shell would: the terminal's
//! interrupt and quit keys reach the program (which shares our process group) and not us, a
//! `SIGTERM` or `SIGHUP` sent to us is passed on, and the exit status comes back as a shell
//! reports it (`128 + N` for a death by signal N).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::locate::preload_value;

/// The program to run and its environment additions.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The program (looked up in `PATH` like a shell does).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The library to preload.
    pub lib: std::path::PathBuf,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
}

impl Launch {
    /// The command, with `LD_PRELOAD` set (ahead of any library already preloaded).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        let existing = std::env::var_os("LD_PRELOAD");
        cmd.env("LD_PRELOAD", preload_value(&self.lib, existing.as_deref()));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the program and sets up the signal handling of [`wait`]. A program that cannot be
    /// started gives an error message and the status a shell would report (127: not found, 126:
    /// not executable).
    pub fn spawn(&self) -> Result<Child, (String, u8)> {
        match self.command().spawn() {
            Ok(child) => {
                shield_signals(child.id() as i32);
                Ok(child)
            }
            Err(e) => {
                let code = match e.kind() {
                    io::ErrorKind::NotFound => 127,
                    _ => 126,
                };
                Err((
                    format!("cannot run {}: {e}", Path::new(&self.program).display()),
                    code,
                ))
            }
        }
    }
}

/// The pid signals are passed on to (0: none).
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn pass_on(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe and touches no memory of ours.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Ignores SIGINT and SIGQUIT (the terminal sends them to the whole foreground process group, so
/// the program gets them; we want to outlive it to report) and passes SIGTERM and SIGHUP on to
/// `pid`. Done after the spawn: an ignored signal would stay ignored in the program.
fn shield_signals(pid: i32) {
    CHILD.store(pid, Ordering::Relaxed);
    // SAFETY: installing dispositions; `pass_on` only calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        let handler = pass_on as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, handler);
    }
}

/// The exit status a shell reports for `status`: the exit code, or 128 + the signal number.
pub fn shell_status(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return (code & 0xff) as u8;
    }
    match status.signal() {
        Some(sig) => (128 + sig).clamp(0, 255) as u8,
        None => 1,
    }
}

/// A readable description of `status`: `exit 0`, `exit 7`, `signal 9 (SIGKILL)`.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit {code}");
    }
    match status.signal() {
        Some(sig) => format!("signal {sig} ({})", signal_name(sig)),
        None => "unknown status".to_string(),
    }
}

/// The conventional name of signal `sig`.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => "?",
    }
}

/// Waits for the program to end.
pub fn wait(child: &mut Child) -> io::Result<ExitStatus> {
    let r = child.wait();
    CHILD.store(0, Ordering::Relaxed);
    r
}

/// Waits for the program, calling `at` once when `after` has passed while it still runs (the
/// child is not reaped before, so its pid cannot have been reused).
pub fn wait_with_timer(
    child: &mut Child,
    after: Duration,
    mut at: impl FnMut(u32),
) -> io::Result<ExitStatus> {
    let start = Instant::now();
    let mut fired = false;
    loop {
        if let Some(status) = child.try_wait()? {
            CHILD.store(0, Ordering::Relaxed);
            return Ok(status);
        }
        if !fired && start.elapsed() >= after {
            fired = true;
            at(child.id());
            continue;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` catches `sig` (from `SigCgt` in `/proc/PID/status`): sending SIGUSR1
/// to a process that has not installed a handler would kill it.
pub fn catches_signal(pid: u32, sig: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| sig >= 1 && mask & (1u64 << (sig - 1)) != 0)
}

/// Sends `sig` to `pid`.
pub fn send_signal(pid: u32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory effects on this process.
    if unsafe { libc::kill(pid as libc::pid_t, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The program's name for titles: the command line, shortened to `max` characters.
pub fn command_line(program: &OsStr, args: &[OsString], max: usize) -> String {
    let mut s = program.to_string_lossy().into_owned();
    for a in args {
        s.push(' ');
        let a = a.to_string_lossy().replace('\n', " ↵ ");
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\;&|<>()*?".contains(c))
        {
            s.push('\'');
            s.push_str(&a.replace('\'', "'\\''"));
            s.push('\'');
        } else {
            s.push_str(&a);
        }
    }
    if s.chars().count() > max {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_as_a_shell_reports_them() {
        assert_eq!(shell_status(ExitStatus::from_raw(0)), 0);
        assert_eq!(shell_status(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(shell_status(ExitStatus::from_raw(libc::SIGKILL)), 137);
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGSEGV)),
            "signal 11 (SIGSEGV)"
        );
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exit 3");
    }

    #[test]
    fn command_lines_are_quoted_and_shortened() {
        let args: Vec<OsString> = vec!["-c".into(), "print(1 + 1)".into()];
        assert_eq!(
            command_line(OsStr::new("python3"), &args, 80),
            "python3 -c 'print(1 + 1)'"
        );
        assert_eq!(command_line(OsStr::new("abcdef"), &[], 4), "abc…");
    }

    #[test]
    fn we_catch_no_sigusr1() {
        assert!(!catches_signal(std::process::id(), libc::SIGUSR1));
    }
}
