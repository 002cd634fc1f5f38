//! P5: the cost of moving bytes through a three-stage pipeline,
//! `pt write N | pt cat | pt cat`, captured at the end and again sent to
//! `/dev/null`.
//!
//! Compared: procession (`a.pipe(b).pipe(c)`), the same line run by
//! `sh -c` (the baseline: std's `output()` to capture, `status()` with stdout
//! to `/dev/null`), duct (`a.pipe(b).pipe(c)`) and the `subprocess` crate
//! (`a | b | c`). Goal: procession takes at most 1.05x the time of `sh -c`.
//!
//! N comes from `PROCESSION_P5_BYTES` (default 256M; the issue's figure is
//! 1G); each case runs `PROCESSION_BENCH_RUNS` times (default 9), round-robin,
//! after one untimed run that checks its output.
//!
//! Run: `cargo bench --bench p5_pipeline`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Stdio;

use subprocess::{Exec, NullFile, Redirection};

const BASELINE: &str = "sh -c";

/// Where the last stage's stdout goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    Capture,
    Null,
}

/// One way to run the pipeline: `pt write N | pt cat | pt cat` to `Sink`,
/// returning the captured bytes (empty for `Sink::Null`).
type Runner = fn(&Path, usize, Sink) -> Vec<u8>;

fn procession_pipe(pt: &Path, n: usize, sink: Sink) -> Vec<u8> {
    let cat = || procession::cmd!(pt, "cat");
    let pipeline = procession::cmd!(pt, "write", n.to_string())
        .pipe(cat())
        .pipe(cat());
    let pipeline = match sink {
        Sink::Capture => pipeline.stdout_capture(),
        Sink::Null => pipeline.stdout_null(),
    };
    pipeline.run().expect("procession runs the pipeline").stdout
}

/// The pipeline as a shell line: `'PT' write N | 'PT' cat | 'PT' cat`.
fn shell_line(pt: &Path, n: usize) -> String {
    let pt = quote(&pt.to_string_lossy());
    format!("{pt} write {n} | {pt} cat | {pt} cat")
}

/// Single-quotes `text` for `sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn sh_c(pt: &Path, n: usize, sink: Sink) -> Vec<u8> {
    let mut sh = std::process::Command::new("/bin/sh");
    sh.arg("-c").arg(shell_line(pt, n));
    match sink {
        Sink::Capture => sh.output().expect("sh runs the pipeline").stdout,
        Sink::Null => {
            sh.stdout(Stdio::null())
                .status()
                .expect("sh runs the pipeline");
            Vec::new()
        }
    }
}

fn duct_pipe(pt: &Path, n: usize, sink: Sink) -> Vec<u8> {
    let cat = || duct::cmd!(pt, "cat");
    let pipeline = duct::cmd!(pt, "write", n.to_string())
        .pipe(cat())
        .pipe(cat());
    let pipeline = match sink {
        Sink::Capture => pipeline.stdout_capture(),
        Sink::Null => pipeline.stdout_null(),
    };
    pipeline.run().expect("duct runs the pipeline").stdout
}

/// Like std's `output()`, subprocess's `capture()` also captures stderr
/// (empty here).
fn subprocess_pipe(pt: &Path, n: usize, sink: Sink) -> Vec<u8> {
    let cat = || Exec::cmd(pt).arg("cat");
    let pipeline = Exec::cmd(pt).arg("write").arg(n.to_string()) | cat() | cat();
    match sink {
        Sink::Capture => {
            let capture = pipeline.stdout(Redirection::Pipe).capture();
            capture.expect("subprocess runs the pipeline").stdout
        }
        Sink::Null => {
            let pipeline = pipeline.stdout(NullFile);
            pipeline.join().expect("subprocess runs the pipeline");
            Vec::new()
        }
    }
}

const RUNNERS: [(&str, Runner); 4] = [
    ("procession a.pipe(b).pipe(c)", procession_pipe),
    (BASELINE, sh_c),
    ("duct a.pipe(b).pipe(c)", duct_pipe),
    ("subprocess a | b | c", subprocess_pipe),
];

/// Runs each case once, untimed, and names those with wrong output.
fn check(pt: &Path, n: usize, sink: Sink) {
    for (name, run) in RUNNERS {
        let out = run(pt, n, sink);
        let want = if sink == Sink::Capture { n } else { 0 };
        if out.len() != want || !support::is_pattern(&out) {
            println!(
                "WRONG OUTPUT: {name}: {} bytes, want {want} pattern bytes",
                out.len()
            );
        }
    }
}

/// Checks, times and reports the pipeline to `sink`.
fn bench(title: &str, pt: &'static Path, n: usize, sink: Sink, runs: usize) {
    check(pt, n, sink);
    let mut timed: Vec<Box<dyn FnMut()>> = RUNNERS
        .iter()
        .map(|&(_, run)| -> Box<dyn FnMut()> {
            Box::new(move || {
                std::hint::black_box(run(pt, n, sink));
            })
        })
        .collect();
    let mut refs: Vec<(&str, &mut dyn FnMut())> = RUNNERS
        .iter()
        .zip(timed.iter_mut())
        .map(|((name, _), f)| (*name, &mut **f as &mut dyn FnMut()))
        .collect();
    let rows = common::interleaved(runs, &mut refs);
    common::report(title, BASELINE, &rows, Some((RUNNERS[0].0, 1.05)));
}

fn main() {
    let n = support::env_usize("PROCESSION_P5_BYTES", 256 << 20);
    let runs = common::runs(9);
    let pt = support::pt();
    let size = common::bytes_label(n);
    println!(
        "P5 pipeline `pt write N | pt cat | pt cat`: N = {size} (PROCESSION_P5_BYTES), \
         {runs} runs per case (PROCESSION_BENCH_RUNS)"
    );
    let title = format!("P5 pipeline, {size} captured at the end: median per run");
    bench(&title, pt, n, Sink::Capture, runs);
    let title = format!("P5 pipeline, {size} to /dev/null: median per run");
    bench(&title, pt, n, Sink::Null, runs);
}
