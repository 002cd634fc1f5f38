//! R8: a host program that set `SIGCHLD` to `SIG_IGN` (so the kernel reaps
//! its children itself and their statuses are lost) must not crash or hang
//! the library: each run either behaves correctly or fails with a clear typed
//! error that names the cause.
//!
//! The disposition is process-wide, so the test re-executes its own test
//! binary as a child program that runs only `r8_child` (which does nothing
//! unless `PROCESSION_R8_CHILD` is set). The child ignores `SIGCHLD`, runs a
//! few commands and prints one `R8 <case>: <result>` line per command; the
//! parent judges the results.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use procession::{Error, Output, cmd};

const CHILD_ENV: &str = "PROCESSION_R8_CHILD";

/// How long the child may take, so a hang cannot hang the test.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------

/// Sets `SIGCHLD` to `SIG_IGN`. There is no safe way to set `SIG_IGN` with
/// the crates the tests may use, so this declares libc's `signal` itself.
fn ignore_sigchld() {
    const SIGCHLD: i32 = 17;
    const SIG_IGN: usize = 1;
    unsafe extern "C" {
        // `sighandler_t` is pointer-sized; only SIG_IGN is passed, never a
        // function.
        fn signal(signum: i32, handler: usize) -> usize;
    }
    // SAFETY: sets a standard disposition for a standard signal; no handler
    // code is involved, and the child test runs alone in its process.
    let previous = unsafe { signal(SIGCHLD, SIG_IGN) };
    assert_ne!(previous, usize::MAX, "signal(SIGCHLD, SIG_IGN) failed");
}

/// One line for the parent: `Ok <code>` or `Err <kind>: <message>`.
fn describe(result: Result<Output, Error>) -> String {
    match result {
        Ok(output) => format!("Ok {:?}", output.status.code()),
        Err(error) => {
            let kind = match &error {
                Error::Exit(_) => "Exit",
                Error::Timeout(_) => "Timeout",
                Error::Io(_) => "Io",
                _ => "Other",
            };
            format!(
                "Err {kind} {:?}: {error}",
                error.status().and_then(|s| s.code())
            )
        }
    }
}

/// The child program (see the file's doc). Does nothing unless re-executed
/// by `ignored_sigchld_gives_results_or_clear_errors`.
#[test]
fn r8_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // Built (if need be) before: building runs rustc with std, which
    // cannot wait for a child once SIGCHLD is ignored.
    let pt = support::pt();
    ignore_sigchld();
    let cases = [
        ("run exit 0", describe(cmd!(pt, "exit", "0").run())),
        (
            "start exit 0",
            describe(cmd!(pt, "exit", "0").start().and_then(|h| h.into_output())),
        ),
        ("run exit 3", describe(cmd!(pt, "exit", "3").run())),
        (
            "capture",
            describe(cmd!(pt, "echo", "hi").stdout_capture().run()),
        ),
        (
            "timeout",
            describe(
                cmd!(pt, "sleep", "30")
                    .timeout(Duration::from_millis(200))
                    .run(),
            ),
        ),
        // The first stage ends (and is reaped by the kernel) before the
        // second joins its process group.
        (
            "pipeline",
            describe((cmd!(pt, "exit", "0") | cmd!(pt, "cat")).run()),
        ),
    ];
    for (case, result) in cases {
        println!("R8 {case}: {result}");
    }
    println!("R8 done");
}

// ---------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------

/// Runs the child and returns its `R8` lines (case, result) and its exit
/// status. Panics if it takes longer than `CHILD_LIMIT`.
fn run_child() -> (Vec<(String, String)>, std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "r8_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-execute the test binary");
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let status = child.wait().expect("wait for the child");
        let _ = tx.send((lines, status));
    });
    let started = Instant::now();
    let Ok((lines, status)) = rx.recv_timeout(CHILD_LIMIT) else {
        support::procfs::kill(pid);
        panic!("the child hung for {CHILD_LIMIT:?}");
    };
    let transcript = lines.join("\n");
    let cases = lines
        .iter()
        .filter_map(|line| {
            let (case, result) = line[line.find("R8 ")? + 3..].split_once(": ")?;
            Some((case.to_string(), result.to_string()))
        })
        .collect();
    eprintln!("R8 child took {:?}", started.elapsed());
    (cases, status, transcript)
}

/// A clear error for a lost status: typed as I/O and naming the cause.
fn is_clear_sigchld_error(result: &str) -> bool {
    result.starts_with("Err Io") && result.contains("SIGCHLD")
}

#[test]
fn ignored_sigchld_gives_results_or_clear_errors() {
    let (cases, status, transcript) = run_child();
    assert!(
        status.success() && status.signal().is_none(),
        "the child crashed: {status:?}\n{transcript}"
    );
    let expected = [
        ("run exit 0", "Ok Some(0)"),
        ("start exit 0", "Ok Some(0)"),
        ("run exit 3", "Err Exit Some(3)"),
        ("capture", "Ok Some(0)"),
        ("timeout", "Err Timeout"),
        ("pipeline", "Ok Some(0)"),
    ];
    assert_eq!(
        cases.len(),
        expected.len(),
        "one line per case:\n{transcript}"
    );
    for ((case, result), (want_case, correct)) in cases.iter().zip(expected) {
        assert_eq!(case, want_case, "{transcript}");
        assert!(
            result.starts_with(correct) || is_clear_sigchld_error(result),
            "{case}: {result:?} is neither correct ({correct}...) nor a clear SIGCHLD error"
        );
    }
}
