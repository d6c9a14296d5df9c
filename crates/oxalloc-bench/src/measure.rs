//! Running one child process and measuring it: wall time, CPU time and peak RSS via `wait4`.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What one child run cost and how it ended.
pub(crate) struct Measured {
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    pub max_rss_kib: u64,
    pub status: String,
    pub ok: bool,
}

impl Measured {
    fn failed(status: String) -> Self {
        Measured {
            wall: Duration::ZERO,
            user: Duration::ZERO,
            sys: Duration::ZERO,
            max_rss_kib: 0,
            status,
            ok: false,
        }
    }
}

/// Runs `cmd` with stdout and stderr sent to the given files and stdin from /dev/null (unless
/// `cmd` set it), kills it after `timeout`, and reaps it with `wait4` for its resource usage.
pub(crate) fn measure(
    mut cmd: Command,
    stdout_path: &Path,
    stderr_path: &Path,
    timeout: Duration,
) -> Measured {
    match (File::create(stdout_path), File::create(stderr_path)) {
        (Ok(out), Ok(err)) => {
            cmd.stdout(out).stderr(err).stdin(Stdio::null());
        }
        (Err(e), _) | (_, Err(e)) => {
            return Measured::failed(format!("cannot create log file: {e}"))
        }
    }
    let start = Instant::now();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Measured::failed(format!("spawn failed: {e}")),
    };
    let pid = child.id() as libc::pid_t;

    // The watchdog kills the child unless told within `timeout` that it has ended. The child
    // is only reaped below, so until then its pid cannot be reused.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
            // SAFETY: plain syscall on our own, not yet reaped, child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        } else {
            false
        }
    });

    let (wstatus, usage) = match wait4(pid) {
        Ok(r) => r,
        Err(e) => {
            let _ = done_tx.send(());
            let _ = watchdog.join();
            return Measured::failed(format!("wait4 failed: {e}"));
        }
    };
    let wall = start.elapsed();
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    // `child` was reaped by wait4 above; dropping a std Child neither waits nor kills.
    drop(child);

    let (status, ok) = if timed_out {
        (format!("timeout after {} s", timeout.as_secs()), false)
    } else {
        describe_status(wstatus)
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        wall,
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss as u64,
        status,
        ok,
    }
}

/// Waits for `pid`, retrying on EINTR.
fn wait4(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// "ok" for exit status 0, else "exit N" or "signal N (NAME)".
fn describe_status(status: libc::c_int) -> (String, bool) {
    if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        if code == 0 {
            ("ok".to_string(), true)
        } else {
            (format!("exit {code}"), false)
        }
    } else if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGKILL => "SIGKILL",
            libc::SIGTRAP => "SIGTRAP",
            _ => "?",
        };
        (format!("signal {sig} ({name})"), false)
    } else {
        (format!("wait status {status:#x}"), false)
    }
}
