//! A3: `pt write N` captured through `run_async` (tokio current_thread
//! runtime), against `tokio::process` `output()` (the baseline), the
//! blocking `run()` and std's `output()`. Goal: `run_async` at most 1.05x
//! `tokio::process`.
//!
//! N comes from `PROCESSION_A3_BYTES` (default 256M); each case runs
//! `PROCESSION_BENCH_RUNS` times (default 7), round-robin, after one untimed
//! run that checks the bytes.
//!
//! Run: `cargo bench --bench a3_async_capture`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;

const BASELINE: &str = "tokio::process output()";
const SUBJECT: &str = "procession run_async()";

type Capture = Box<dyn Fn() -> Vec<u8>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cases(pt: &'static Path, n: usize) -> Vec<(&'static str, Capture)> {
    let arg = n.to_string();
    let args = move || ["write".to_string(), arg.clone()];
    let (a, b, c, d) = (args.clone(), args.clone(), args.clone(), args);
    vec![
        (
            SUBJECT,
            Box::new(move || {
                let run = procession::Command::new(pt)
                    .args(a())
                    .stdout_capture()
                    .run_async();
                runtime().block_on(run).expect("runs").stdout
            }),
        ),
        (
            BASELINE,
            Box::new(move || {
                let args = b();
                let run = async move { tokio::process::Command::new(pt).args(args).output().await };
                runtime().block_on(run).expect("runs").stdout
            }),
        ),
        (
            "procession run()",
            Box::new(move || {
                procession::Command::new(pt)
                    .args(c())
                    .stdout_capture()
                    .run()
                    .expect("runs")
                    .stdout
            }),
        ),
        (
            "std output()",
            Box::new(move || {
                std::process::Command::new(pt)
                    .args(d())
                    .output()
                    .expect("runs")
                    .stdout
            }),
        ),
    ]
}

fn main() {
    let pt = support::pt();
    let n = support::env_usize("PROCESSION_A3_BYTES", 256 << 20);
    let runs = common::runs(7);
    let cases = cases(pt, n);
    for (name, capture) in &cases {
        let out = capture();
        if out.len() != n || !support::is_pattern(&out) {
            println!(
                "WRONG OUTPUT: {name}: {} bytes, want {n} pattern bytes",
                out.len()
            );
        }
    }
    let rows = common::interleaved_calls(runs, &cases);
    common::report(
        &format!("A3: {} of captured stdout", common::bytes_label(n)),
        BASELINE,
        &rows,
        Some((SUBJECT, 1.05)),
    );
}
