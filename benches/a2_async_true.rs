//! A2: `PROCESSION_A2_JOBS` (default 2,000) runs of `/bin/true`, 8 in
//! flight, awaited on a tokio current_thread runtime, through the async
//! API: `buffer_unordered(8)` of `run_async`, and the pool's stream
//! (`Pool::new(8).as_completed_async`). Baselines: `tokio::process` with
//! `buffer_unordered(8)` (goal: the pool's stream at most 1.05x it), and
//! the blocking pool (`Pool::new(8).as_completed(..).finish()`).
//!
//! Each case runs `PROCESSION_BENCH_RUNS` times (default 5), round-robin.
//!
//! Run: `cargo bench --bench a2_async_true`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use futures::StreamExt;
use procession::{Command, Pool};

const TRUE: &str = "/bin/true";
const IN_FLIGHT: usize = 8;

const BASELINE: &str = "tokio::process, buffer_unordered(8)";
const SUBJECT: &str = "Pool::new(8).as_completed_async";
const RUN_ASYNC: &str = "run_async, buffer_unordered(8)";

/// One way to run the jobs.
type Case = Box<dyn FnMut()>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn run_async(jobs: usize) {
    let ok = runtime().block_on(
        futures::stream::iter(0..jobs)
            .map(|_| Command::new(TRUE).run_async())
            .buffer_unordered(IN_FLIGHT)
            .filter(|out| std::future::ready(out.is_ok()))
            .count(),
    );
    assert_eq!(ok, jobs);
}

fn pool_stream(jobs: usize) {
    let pool = Pool::new(IN_FLIGHT);
    let summary = runtime().block_on(
        pool.as_completed_async((0..jobs).map(|_| Command::new(TRUE)))
            .finish_async(),
    );
    assert_eq!(summary.succeeded, jobs as u64);
}

fn tokio_process(jobs: usize) {
    let ok = runtime().block_on(
        futures::stream::iter(0..jobs)
            .map(|_| {
                tokio::process::Command::new(TRUE)
                    .kill_on_drop(true)
                    .status()
            })
            .buffer_unordered(IN_FLIGHT)
            .filter(|status| std::future::ready(status.as_ref().is_ok_and(|s| s.success())))
            .count(),
    );
    assert_eq!(ok, jobs);
}

fn blocking_pool(jobs: usize) {
    let pool = Pool::new(IN_FLIGHT);
    let summary = pool
        .as_completed((0..jobs).map(|_| Command::new(TRUE)))
        .finish();
    assert_eq!(summary.succeeded, jobs as u64);
}

fn main() {
    let jobs = support::env_usize("PROCESSION_A2_JOBS", 2000);
    let runs = common::runs(5);
    let mut cases: Vec<(&str, Case)> = vec![
        (SUBJECT, Box::new(move || pool_stream(jobs))),
        (RUN_ASYNC, Box::new(move || run_async(jobs))),
        (BASELINE, Box::new(move || tokio_process(jobs))),
        (
            "blocking Pool::new(8).as_completed",
            Box::new(move || blocking_pool(jobs)),
        ),
    ];
    let mut refs: Vec<(&str, &mut dyn FnMut())> = cases
        .iter_mut()
        .map(|(name, f)| (*name, &mut **f as &mut dyn FnMut()))
        .collect();
    let rows = common::interleaved(runs, &mut refs);
    common::report(
        &format!("A2: {jobs} x `{TRUE}`, {IN_FLIGHT} in flight, current_thread runtime"),
        BASELINE,
        &rows,
        Some((SUBJECT, 1.05)),
    );
    let time = |name: &str| {
        rows.iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_secs_f64())
            .expect("measured")
    };
    common::verdict(
        &format!(
            "{RUN_ASYNC} <= 1.05x {BASELINE}: {:.3}x",
            time(RUN_ASYNC) / time(BASELINE)
        ),
        time(RUN_ASYNC) <= 1.05 * time(BASELINE),
    );
}
