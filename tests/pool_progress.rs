//! A pool's progress report when stderr is not a terminal (a CI log): a
//! plain line every `progress_interval` and one at the end, with the total
//! of submitted jobs once the pool is closed.
//!
//! Each case runs in a re-executed copy of this test binary (`child`, with
//! `CHILD` naming the case), whose stderr is a pipe the test reads. A job
//! that must still be running when a line is written reads the child's
//! stdin, which the test closes once it has seen the line: no sleeps.

#![cfg(feature = "progress")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use procession::{Command, Pool};
use support::pt_cmd;

const CHILD: &str = "PROCESSION_POOL_PROGRESS_CASE";

/// A job that runs until the test closes the child's stdin (or, should the
/// test never do so, until the pool's timeout).
fn held() -> Command {
    pt_cmd(&["cat"]).stdin_inherit()
}

/// Not a test of its own: the child's side of each case.
#[test]
fn child() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    let builder = Pool::builder()
        .jobs(1)
        .progress(true)
        .timeout(Duration::from_secs(20));
    match case.as_str() {
        "final" => {
            let pool = builder.progress_interval(Duration::from_secs(3600)).build();
            let jobs = [
                pt_cmd(&["exit", "0"]),
                pt_cmd(&["exit", "1"]),
                pt_cmd(&["exit", "0"]),
            ];
            pool.as_completed(jobs).finish();
        }
        "tick" => {
            let pool = builder.progress_interval(Duration::from_millis(20)).build();
            pool.map([held()]).finish();
        }
        "submit" => {
            let pool = builder.progress_interval(Duration::from_millis(20)).build();
            pool.submit(held());
            pool.submit(pt_cmd(&["exit", "0"]));
            pool.close();
            pool.join();
        }
        "terminal" => {
            let pool = builder.progress_interval(Duration::from_millis(20)).build();
            let jobs = [
                pt_cmd(&["exit", "0"]),
                pt_cmd(&["lines", "6", "20"]),
                pt_cmd(&["lines", "6", "20"]),
            ];
            for done in pool.as_completed(jobs) {
                pool.suspend(|| println!("own {}", done.seq()));
            }
        }
        "first" => {
            let pool = builder.build();
            pool.map([pt_cmd(&["lines", "2", "300"])]).finish();
        }
        other => panic!("unknown case {other}"),
    }
}

/// Runs `case` in a child; closes its stdin (ending a `held` job) once a
/// progress line satisfies `release`; returns every progress line.
fn run_case(case: &str, release: impl Fn(&str) -> bool) -> Vec<String> {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if !line.starts_with("progress: ") {
            continue;
        }
        if release(&line) {
            stdin = None;
        }
        lines.push(line);
    }
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "{case}: {:?}",
        tail(&lines)
    );
    lines
}

/// The last few lines, for a failure message.
fn tail(lines: &[String]) -> &[String] {
    &lines[lines.len().saturating_sub(3)..]
}

#[test]
fn a_batch_ends_with_a_plain_line_when_stderr_is_not_a_terminal() {
    let lines = run_case("final", |_| false);
    assert_eq!(lines.len(), 1, "{:?}", tail(&lines));
    assert!(
        lines[0].starts_with("progress: 3/3 jobs, 1 failed, ") && lines[0].ends_with(", ETA 0s"),
        "{:?}",
        tail(&lines)
    );
}

#[test]
fn a_plain_line_comes_every_interval_while_jobs_run() {
    // The job runs until a line was written while it ran.
    let lines = run_case("tick", |line| {
        line.starts_with("progress: 0/1 jobs, 0 failed, ")
    });
    assert!(lines.len() >= 2, "{:?}", tail(&lines));
    assert!(
        lines[0].starts_with("progress: 0/1 jobs, 0 failed, "),
        "{:?}",
        tail(&lines)
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("progress: 1/1 jobs, 0 failed, "),
        "{:?}",
        tail(&lines)
    );
}

#[test]
fn submitted_jobs_show_their_total_once_the_pool_is_closed() {
    // The first job runs until a line showed the total.
    let lines = run_case("submit", |line| line.starts_with("progress: 0/2 jobs, "));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("progress: 0/2 jobs, 0 failed, ")),
        "{:?}",
        tail(&lines)
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("progress: 2/2 jobs, 0 failed, "),
        "{:?}",
        tail(&lines)
    );
}

/// What a terminal shows of each line of `raw` (written to a terminal):
/// the text after its last carriage return, without the erase-line
/// sequence that follows one.
fn visible_lines(raw: &str) -> Vec<String> {
    raw.split("\r\n")
        .map(|line| {
            let shown = line.rsplit('\r').next().unwrap_or("");
            shown.replace("\x1b[2K", "")
        })
        .collect()
}

/// Runs `case` in a child on a pseudo-terminal (`script` copies what the
/// child writes there to its stdout); returns what it wrote.
fn on_terminal(case: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let line = format!(
        "'{}' --exact child --nocapture --test-threads=1",
        exe.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env(CHILD, case)
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs the child on a pseudo-terminal");
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{raw:?}");
    raw
}

#[test]
fn on_a_terminal_the_bar_is_drawn_as_soon_as_the_batch_starts() {
    // The only job writes a line, and its second one a while later: the
    // bar was there before the first, which comes above it.
    let raw = on_terminal("first");
    let bar = raw.find(" 0/1 jobs, 0 failed").expect("no bar drawn");
    let line = raw.find("out 0\r\n").expect("no job line");
    assert!(bar < line, "{raw:?}");
}

#[test]
fn on_a_terminal_job_output_and_own_lines_are_written_above_the_bar() {
    // The harness's `test child ... ` has no newline: the bar, drawn
    // first, erases it, so the first job's first line is on a line of its
    // own (before the bar was drawn at once, it came after that text now
    // and then).
    let raw = on_terminal("terminal");
    assert!(raw.contains(" jobs, 0 failed"), "no bar drawn: {raw:?}");
    let shown = visible_lines(&raw);
    // Each job's lines (twice: two jobs), and the program's own lines, on
    // lines of their own: never after a copy of the bar.
    let mut expected: Vec<String> = (0..6)
        .map(|i| format!("{} {i}", if i % 2 == 0 { "out" } else { "err" }))
        .collect();
    expected.extend((1..=3).map(|seq| format!("own {seq}")));
    for want in &expected {
        let whole = shown.iter().filter(|l| l.trim_end() == want).count();
        let wanted = if want.starts_with("own") { 1 } else { 2 };
        assert_eq!(
            whole, wanted,
            "{want:?} not on a line of its own: {shown:#?}"
        );
    }
    // The bar's last state stays as a line.
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("progress: 3/3 jobs, 0 failed, ")),
        "{shown:#?}"
    );
}
