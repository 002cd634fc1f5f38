//! `examples/parallel` as a user meets it: help, usage errors and their exit
//! codes, input lines that are not UTF-8, and what a halt reports.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the built `parallel` example with `args` and `input` on stdin.
fn parallel(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(support::examples::example("parallel"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parallel starts");
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    // A usage error exits before reading: a broken pipe is fine then.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("parallel ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pt() -> &'static str {
    support::pt().to_str().expect("a UTF-8 path")
}

#[test]
fn help_goes_to_stdout_with_exit_0_and_lists_every_option() {
    for flag in ["--help", "-h"] {
        let out = parallel(&[flag], b"");
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(out.stderr.is_empty(), "{flag}: {}", text(&out.stderr));
        let help = text(&out.stdout);
        for option in [
            "-j, --jobs N",
            "--timeout SECS",
            "-k, --keep-order",
            "--joblog FILE",
            "--halt WHEN",
            "--retries N",
            "-u, --ungroup",
            "-h, --help",
        ] {
            assert!(help.contains(option), "{flag}: no {option:?} in\n{help}");
        }
    }
}

#[test]
fn usage_errors_name_the_option_on_stderr_with_exit_1() {
    // (arguments, what stderr must say)
    let table: &[(&[&str], &str)] = &[
        (
            &["-j", "0", "true"],
            "parallel: -j: 0 jobs at once is not supported",
        ),
        (
            &["-j0", "true"],
            "parallel: -j: 0 jobs at once is not supported",
        ),
        (
            &["--jobs", "x", "true"],
            "parallel: --jobs: \"x\" is not a valid number",
        ),
        (
            &["--timeout", "-1", "true"],
            "parallel: --timeout: \"-1\" is not more than 0 seconds",
        ),
        (
            &["--timeout", "0", "true"],
            "parallel: --timeout: \"0\" is not more than 0 seconds",
        ),
        (
            &["--timeout", "nan", "true"],
            "parallel: --timeout: \"nan\" is not more than 0 seconds",
        ),
        (
            &["--timeout", "1e30", "true"],
            "parallel: --timeout: \"1e30\" seconds is too long",
        ),
        (&["--timeout"], "parallel: --timeout needs a value"),
        (
            &["--halt", "sometimes", "true"],
            "parallel: --halt: invalid halt policy \"sometimes\"",
        ),
        (
            &["--retries", "-1", "true"],
            "parallel: --retries: \"-1\" is not a valid number",
        ),
        (&["--bogus", "true"], "parallel: unknown option --bogus"),
        (&[], "parallel: no PROGRAM given"),
    ];
    for (args, message) in table {
        let out = parallel(args, b"a\n");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(stderr.starts_with(message), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: parallel"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_input_line_is_taken_as_bytes() {
    let out = parallel(&["-k", "-j", "2", pt(), "argv"], b"a\n\xff\n\nb\nc\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"a\0\xff\0b\0c\0");
}

#[test]
fn jobs_stopped_by_a_halt_are_reported_as_such() {
    // `pt sleep x` fails at once (a usage error, exit 2); the sleep is stopped.
    let t0 = Instant::now();
    let out = parallel(
        &["-j", "2", "--halt", "now,fail=1", pt(), "sleep"],
        b"30\nx\n",
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "the halt did not stop the sleep"
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(123), "{stderr}");
    assert!(
        stderr.contains("sleep 30\" was stopped by the pool's halt policy after"),
        "{stderr}"
    );
    assert!(!stderr.contains("cancelled"), "{stderr}");
    assert!(
        stderr.contains(
            "parallel: halted by --halt now,fail=1: 1 failed, 1 stopped, 0 never started"
        ),
        "{stderr}"
    );
}
