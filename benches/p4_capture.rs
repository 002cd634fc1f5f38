//! P4: the cost of capturing a child's output in memory.
//!
//! `pt write N` writes N pattern bytes to stdout, captured by procession
//! (`stdout_capture().run()` and `read_bytes()`), std (`Command::output`, the
//! baseline), duct (`stdout_capture().run()`) and the `subprocess` crate
//! (`capture()`). Then `pt write N/2 N/2` writes half to stdout and half to
//! stderr, alternating 64 KiB chunks, and every library captures both.
//! Goal: procession takes at most 1.05x the time of std.
//!
//! First, untimed: the memory a capture with a limit of N/2 keeping the tail
//! (`Keep::Tail`) takes while `pt write N` runs, sampled every 2 ms. Goal:
//! at most the limit plus 1 MiB more than before the run.
//!
//! N comes from `PROCESSION_P4_BYTES` (default 256M; the figure is
//! 1G); each case runs `PROCESSION_BENCH_RUNS` times (default 7), round-robin,
//! after one untimed run that checks it returns the right bytes.
//!
//! duct's `read()` is not used: it returns a `String`, and the pattern bytes
//! are not UTF-8; `stdout_capture().run()` is what `read()` does before
//! decoding.
//!
//! Run: `cargo bench --bench p4_capture`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;

use subprocess::{Exec, Redirection};

/// One way to capture: returns (stdout, stderr).
type Capture = Box<dyn Fn() -> (Vec<u8>, Vec<u8>)>;

/// A library's capture of `pt ARGS`: stdout, and stderr too if the flag is set.
type Runner = fn(&Path, &[String], bool) -> (Vec<u8>, Vec<u8>);

const BASELINE: &str = "std output()";

fn procession_run(pt: &Path, args: &[String], stderr: bool) -> (Vec<u8>, Vec<u8>) {
    let mut command = procession::Command::new(pt).args(args).stdout_capture();
    if stderr {
        command = command.stderr_capture();
    }
    let out = command.run().expect("procession runs pt write");
    (out.stdout, out.stderr)
}

fn procession_read_bytes(pt: &Path, args: &[String], _: bool) -> (Vec<u8>, Vec<u8>) {
    let command = procession::Command::new(pt).args(args);
    (
        command.read_bytes().expect("procession runs pt write"),
        Vec::new(),
    )
}

/// std captures both streams whatever the flag says.
fn std_output(pt: &Path, args: &[String], _: bool) -> (Vec<u8>, Vec<u8>) {
    let out = std::process::Command::new(pt).args(args).output();
    let out = out.expect("std runs pt write");
    (out.stdout, out.stderr)
}

fn duct_run(pt: &Path, args: &[String], stderr: bool) -> (Vec<u8>, Vec<u8>) {
    let mut expression = duct::cmd(pt, args).stdout_capture();
    if stderr {
        expression = expression.stderr_capture();
    }
    let out = expression.run().expect("duct runs pt write");
    (out.stdout, out.stderr)
}

/// `capture()` pipes stderr too (empty without the flag), like std.
fn subprocess_capture(pt: &Path, args: &[String], stderr: bool) -> (Vec<u8>, Vec<u8>) {
    let mut exec = Exec::cmd(pt).args(args).stdout(Redirection::Pipe);
    if stderr {
        exec = exec.stderr(Redirection::Pipe);
    }
    let out = exec.capture().expect("subprocess runs pt write");
    (out.stdout, out.stderr)
}

/// Capturing `pt write OUT [ERR]`'s stdout (and stderr, if `err` is given).
/// The first case is the subject of the goal.
fn cases(pt: &'static Path, out: usize, err: Option<usize>) -> Vec<(&'static str, Capture)> {
    let runners: &[(&'static str, Runner)] = if err.is_none() {
        &[
            ("procession stdout_capture().run()", procession_run),
            ("procession read_bytes()", procession_read_bytes),
            (BASELINE, std_output),
            ("duct stdout_capture().run()", duct_run),
            ("subprocess stdout(Pipe).capture()", subprocess_capture),
        ]
    } else {
        &[
            ("procession stdout+stderr_capture().run()", procession_run),
            (BASELINE, std_output),
            ("duct stdout+stderr_capture().run()", duct_run),
            (
                "subprocess stdout+stderr(Pipe).capture()",
                subprocess_capture,
            ),
        ]
    };
    let mut args = vec!["write".to_string(), out.to_string()];
    args.extend(err.map(|n| n.to_string()));
    let stderr = err.is_some();
    runners
        .iter()
        .map(|&(name, run)| {
            let args = args.clone();
            let capture: Capture = Box::new(move || run(pt, &args, stderr));
            (name, capture)
        })
        .collect()
}

/// Runs each case once, untimed, and names those that return wrong bytes.
fn check(cases: &[(&'static str, Capture)], out: usize, err: usize) {
    for (name, capture) in cases {
        let (stdout, stderr) = capture();
        let right = |got: &[u8], len| got.len() == len && support::is_pattern(got);
        if !right(&stdout, out) || !right(&stderr, err) {
            println!(
                "WRONG OUTPUT: {name}: {} stdout bytes and {} stderr bytes, want {out} and {err} \
                 pattern bytes",
                stdout.len(),
                stderr.len()
            );
        }
    }
}

/// Checks, times and reports one set of cases.
fn bench(title: &str, cases: &[(&'static str, Capture)], runs: usize, out: usize, err: usize) {
    check(cases, out, err);
    let rows = common::interleaved_calls(runs, cases);
    common::report(title, BASELINE, &rows, Some((cases[0].0, 1.05)));
    let seconds = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| r.1.as_secs_f64());
    if let Some(base) = seconds(BASELINE) {
        println!(
            "std throughput: {:.0} MiB/s",
            (out + err) as f64 / base / f64::from(1 << 20)
        );
    }
    for (name, _) in cases
        .iter()
        .skip(1)
        .filter(|(n, _)| n.starts_with("procession"))
    {
        if let (Some(t), Some(base)) = (seconds(name), seconds(BASELINE)) {
            let r = t / base;
            common::verdict(&format!("{name} <= 1.05x {BASELINE}: {r:.3}x"), r <= 1.05);
        }
    }
}

/// The peak growth of resident memory while a `Keep::Tail` capture with a
/// limit of `n / 2` takes the tail of `n` bytes.
fn tail_memory(pt: &Path, n: usize) {
    let limit = n / 2;
    let before = common::resident_bytes();
    let (out, peak) = common::peak_resident_while(|| {
        procession::Command::new(pt)
            .args(["write", &n.to_string()])
            .stdout_capture_limit(limit, procession::Keep::Tail)
            .run()
            .expect("procession runs pt write")
    });
    assert_eq!(out.stdout.len(), limit);
    let grew = peak.saturating_sub(before);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "P4 Keep::Tail, limit {} of {}: resident memory grew by {:.1} MiB at its peak",
        common::bytes_label(limit),
        common::bytes_label(n),
        mib(grew)
    );
    common::verdict(
        &format!(
            "peak growth <= limit + 1 MiB ({:.1} MiB)",
            mib(limit as u64 + (1 << 20))
        ),
        grew <= limit as u64 + (1 << 20),
    );
}

fn main() {
    let n = support::env_usize("PROCESSION_P4_BYTES", 256 << 20);
    let runs = common::runs(7);
    let pt = support::pt();
    println!(
        "P4 capture: N = {} (PROCESSION_P4_BYTES), {runs} runs per case (PROCESSION_BENCH_RUNS)",
        common::bytes_label(n)
    );
    tail_memory(pt, n);
    let out_only = cases(pt, n, None);
    let title = format!(
        "P4 capture {} of stdout: median per run",
        common::bytes_label(n)
    );
    bench(&title, &out_only, runs, n, 0);
    let half = n / 2;
    let both = cases(pt, half, Some(half));
    let title = format!(
        "P4 capture {} of stdout + {} of stderr: median per run",
        common::bytes_label(half),
        common::bytes_label(half)
    );
    bench(&title, &both, runs, half, half);
}
