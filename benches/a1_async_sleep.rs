//! A1: 1,000 concurrent `pt sleep 1`, stdout and stderr captured, awaited on
//! a tokio current_thread runtime: `join_all` of `run_async`, against
//! `tokio::process` `output()` (the baseline) and `spawn_blocking` around
//! the blocking `run()`. Goals: `run_async` at most 1.10x `tokio::process`,
//! and at most 8 OS threads in the process while it runs (main, the
//! background loop and at most 4 spawning threads; the sampling thread is
//! not counted).
//!
//! The number of commands comes from `PROCESSION_A1_COMMANDS` (default
//! 1000); each case runs `PROCESSION_BENCH_RUNS` times (default 3),
//! round-robin.
//!
//! Run: `cargo bench --bench a1_async_sleep`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const BASELINE: &str = "tokio::process output()";
const SUBJECT: &str = "procession run_async()";

/// One way to run the commands.
type Case = Box<dyn FnMut()>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn procession_async(pt: &Path, n: usize) {
    let outputs = runtime().block_on(futures::future::join_all((0..n).map(|_| {
        procession::Command::new(pt)
            .args(["sleep", "1"])
            .stdout_capture()
            .stderr_capture()
            .run_async()
    })));
    for out in outputs {
        out.expect("procession runs pt sleep");
    }
}

fn tokio_process(pt: &Path, n: usize) {
    // tokio spawns when `output()` is called: inside the runtime.
    let outputs = runtime().block_on(async {
        futures::future::join_all((0..n).map(|_| {
            tokio::process::Command::new(pt)
                .args(["sleep", "1"])
                .kill_on_drop(true)
                .output()
        }))
        .await
    });
    for out in outputs {
        assert!(out.expect("tokio runs pt sleep").status.success());
    }
}

fn spawn_blocking(pt: &'static Path, n: usize) {
    let outputs = runtime().block_on(async {
        futures::future::join_all((0..n).map(|_| {
            tokio::task::spawn_blocking(move || {
                procession::Command::new(pt)
                    .args(["sleep", "1"])
                    .stdout_capture()
                    .stderr_capture()
                    .run()
                    .map(drop)
            })
        }))
        .await
    });
    for out in outputs {
        out.unwrap().expect("procession runs pt sleep");
    }
}

/// Raises the soft limit on descriptors to the hard one: 1,000 runs hold
/// more than 3,000 descriptors.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).expect("raise RLIMIT_NOFILE");
}

/// Runs `f` and returns the most threads this process had meanwhile
/// (sampled every 5 ms), the sampling thread not counted.
fn peak_threads(f: impl FnOnce()) -> usize {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(common::threads(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    f();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    peak.load(Ordering::Relaxed) - 1
}

fn main() {
    raise_fd_limit();
    let pt = support::pt();
    let n = support::env_usize("PROCESSION_A1_COMMANDS", 1000);
    let runs = common::runs(3);

    let mut cases: Vec<(&str, Case)> = vec![
        (SUBJECT, Box::new(move || procession_async(pt, n))),
        (BASELINE, Box::new(move || tokio_process(pt, n))),
        (
            "spawn_blocking(run())",
            Box::new(move || spawn_blocking(pt, n)),
        ),
    ];
    println!("threads at most, while {n} x `pt sleep 1` run:");
    let mut threads = Vec::new();
    for (name, f) in &mut cases {
        let peak = peak_threads(f);
        println!("  {name:<40} {peak}");
        threads.push(peak);
    }
    common::verdict(
        &format!("{SUBJECT} at most 8 threads: {}", threads[0]),
        threads[0] <= 8,
    );
    let mut refs: Vec<(&str, &mut dyn FnMut())> = cases
        .iter_mut()
        .map(|(name, f)| (*name, &mut **f as &mut dyn FnMut()))
        .collect();
    let rows = common::interleaved(runs, &mut refs);
    common::report(
        &format!("A1: {n} x `pt sleep 1` at once, both streams captured, current_thread runtime"),
        BASELINE,
        &rows,
        Some((SUBJECT, 1.10)),
    );
}
