//! P8: OS threads in the process while `PROCESSION_P8_JOBS` (default 256)
//! jobs (`pt sleep 1`, stdout and stderr captured) are in flight in one
//! pool. Goal: at most 8 threads in all (the main thread, the engine's
//! background thread, and nothing per job). For contrast, the same jobs
//! with one std thread each (`std::process::Command::output`).
//!
//! Run: `cargo bench --bench p8_pool_threads`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use procession::{Command, JobEvent, JobOutput, Keep, Pool};

/// Threads while every job of the pool is in flight: counted on the
/// driving thread when the last job has started.
fn pool_threads(pt: &std::path::Path, jobs: usize) -> usize {
    let started = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (s, p) = (started.clone(), peak.clone());
    let pool = Pool::builder()
        .jobs(jobs)
        .output(JobOutput::Capture {
            limit: Some(64 * 1024),
            keep: Keep::Tail,
        })
        .on_event(move |e| {
            if let JobEvent::Started { .. } = e {
                if s.fetch_add(1, Ordering::SeqCst) + 1 == jobs {
                    p.store(common::threads(), Ordering::SeqCst);
                }
            }
        })
        .build();
    let summary = pool
        .as_completed((0..jobs).map(|_| Command::new(pt).args(["sleep", "1"])))
        .finish();
    assert_eq!(summary.succeeded, jobs as u64);
    peak.load(Ordering::SeqCst)
}

/// Threads with one std thread per job, all waiting on their child.
fn std_threads(pt: &std::path::Path, jobs: usize) -> usize {
    let barrier = Arc::new(Barrier::new(jobs + 1));
    let mut counted = 0;
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let barrier = barrier.clone();
            s.spawn(move || {
                let child = std::process::Command::new(pt)
                    .args(["sleep", "1"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                barrier.wait();
                assert!(child.wait_with_output().unwrap().status.success());
            });
        }
        barrier.wait();
        counted = common::threads();
    });
    counted
}

fn main() {
    let jobs = support::env_usize("PROCESSION_P8_JOBS", 256);
    let pt = support::pt();
    println!("P8: threads while {jobs} x pt sleep 1 (stdout and stderr captured) are in flight");
    println!("threads before: {}", common::threads());
    let pool = pool_threads(pt, jobs);
    let std = std_threads(pt, jobs);
    println!("{:<44} {:>8}", "case", "threads");
    println!("{:<44} {:>8}", "procession Pool (one pool)", pool);
    println!("{:<44} {:>8}", "std, one thread per job", std);
    let verdict = if pool <= 8 { "met" } else { "NOT met" };
    println!("goal: procession Pool <= 8 threads: {pool}, {verdict}");
}
