//! P3: the pool on jobs that take a while. `PROCESSION_P3_JOBS` (default 400)
//! runs of `pt sleep 0.01`, 8 in flight, through the pool, against the
//! floor: 8 threads each spawning and waiting with `std::process::Command`.
//! Goal: the pool takes at most 1.02x the floor's time.
//!
//! Each case runs `PROCESSION_BENCH_RUNS` times (default 5), round-robin.
//!
//! Run: `cargo bench --bench p3_pool_sleep`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use procession::{Command, Pool};

const IN_FLIGHT: usize = 8;
const SECS: &str = "0.01";

/// The floor: `threads` threads spawning and waiting for `jobs` jobs in all.
fn std_threads(pt: &Path, jobs: usize, threads: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < jobs {
                    let status = std::process::Command::new(pt)
                        .args(["sleep", SECS])
                        .status()
                        .unwrap();
                    assert!(status.success());
                }
            });
        }
    });
}

fn main() {
    let jobs = support::env_usize("PROCESSION_P3_JOBS", 400);
    let runs = common::runs(5);
    let pt = support::pt();
    println!("P3: {jobs} x pt sleep {SECS}, {IN_FLIGHT} in flight, {runs} runs per case");
    let pool = Pool::new(IN_FLIGHT);
    let mut through_pool = || {
        let job = || Command::new(pt).args(["sleep", SECS]);
        let summary = pool.as_completed((0..jobs).map(|_| job())).finish();
        assert_eq!(summary.succeeded, jobs as u64);
    };
    let mut floor = || std_threads(pt, jobs, IN_FLIGHT);
    let floor_name = "std spawn+wait, 8 threads (floor)";
    let pool_name = "procession Pool::new(8)";
    let rows = common::interleaved(
        runs,
        &mut [(floor_name, &mut floor), (pool_name, &mut through_pool)],
    );
    common::report(
        &format!("P3: {jobs} x pt sleep {SECS}, 8 in flight"),
        floor_name,
        &rows,
        Some((pool_name, 1.02)),
    );
}
