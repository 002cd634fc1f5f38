//! P1: the pool's overhead on trivial jobs. `PROCESSION_P1_JOBS` (default
//! 2,000) runs of `/bin/true`, 2 in flight, through the pool, against the
//! floor: two threads each spawning and waiting with `std::process::Command`
//! (the plain `posix_spawn` + `waitpid` loop), taking jobs from one counter.
//! Goal: the pool takes at most 1.10x the floor's time.
//!
//! A third case runs the pool with `job_env(false)`: without
//! `PROCESSION_SEQ` and `PROCESSION_SLOT`, std passes this process's
//! environment as it is instead of building the child's afresh on every
//! spawn, which is what the floor does too.
//!
//! Each case runs `PROCESSION_BENCH_RUNS` times (default 5), round-robin.
//!
//! Run: `cargo bench --bench p1_pool`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use procession::{Pool, cmd};

const TRUE: &str = "/bin/true";
const IN_FLIGHT: usize = 2;

/// The floor: `threads` threads spawning and waiting for `jobs` jobs in all.
fn std_threads(jobs: usize, threads: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < jobs {
                    let status = std::process::Command::new(TRUE).status().unwrap();
                    assert!(status.success());
                }
            });
        }
    });
}

fn main() {
    let jobs = support::env_usize("PROCESSION_P1_JOBS", 2000);
    let runs = common::runs(5);
    println!("P1: {jobs} x {TRUE}, {IN_FLIGHT} in flight, {runs} runs per case");
    let vars = std::env::vars_os().count();
    println!("this process's environment: {vars} variables");
    let pool = Pool::new(IN_FLIGHT);
    let bare = Pool::builder().jobs(IN_FLIGHT).job_env(false).build();
    let batch = |pool: &Pool| {
        let summary = pool.as_completed((0..jobs).map(|_| cmd!(TRUE))).finish();
        assert_eq!(summary.succeeded, jobs as u64);
    };
    let mut through_pool = || batch(&pool);
    let mut through_bare = || batch(&bare);
    let mut floor = || std_threads(jobs, IN_FLIGHT);
    let floor_name = "std spawn+wait, 2 threads (floor)";
    let pool_name = "procession Pool::new(2)";
    let bare_name = "procession, job_env(false)";
    let rows = common::interleaved(
        runs,
        &mut [
            (floor_name, &mut floor),
            (pool_name, &mut through_pool),
            (bare_name, &mut through_bare),
        ],
    );
    common::report(
        &format!("P1: {jobs} x /bin/true, 2 in flight"),
        floor_name,
        &rows,
        Some((pool_name, 1.10)),
    );
}
