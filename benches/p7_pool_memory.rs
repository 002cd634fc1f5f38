//! P7: the pool's memory stays flat.
//!
//! 1. Resident memory after `PROCESSION_P7_JOBS_A` (default 2,000) and after
//!    `PROCESSION_P7_JOBS_B` (default 20,000) more `/bin/true` jobs (8 in
//!    flight, output captured), measured after a warm-up: growth under
//!    10 MiB. (The sizes are 10,000 and 100,000: set the variables.)
//! 2. Peak resident memory while `PROCESSION_P7_WRITERS` (default 4) jobs
//!    each print `PROCESSION_P7_BYTES` (default 50M; the issue says 500M) to
//!    stdout and stderr, 4 in flight, once under a 1 MiB capture limit and
//!    once to files in a results directory: at most 64 MiB.
//!
//! The peak is sampled every 2 ms by a thread that reads `/proc/self/statm`.
//!
//! Run: `cargo bench --bench p7_pool_memory`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use procession::{Command, JobOutput, Keep, Pool, cmd};

const MIB: f64 = 1024.0 * 1024.0;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

fn run_true(pool: &Pool, jobs: usize) {
    let summary = pool
        .as_completed((0..jobs).map(|_| cmd!("/bin/true")))
        .finish();
    assert_eq!(summary.succeeded, jobs as u64);
}

/// Runs `f` while sampling resident memory; returns the peak.
fn peak_while(f: impl FnOnce()) -> u64 {
    common::peak_resident_while(f).1
}

fn growth(jobs_a: usize, jobs_b: usize) -> bool {
    let pool = Pool::builder()
        .jobs(8)
        .output(JobOutput::Capture {
            limit: Some(4096),
            keep: Keep::Tail,
        })
        .build();
    run_true(&pool, 500);
    let warm = common::resident_bytes();
    run_true(&pool, jobs_a);
    let after_a = common::resident_bytes();
    run_true(&pool, jobs_b);
    let after_b = common::resident_bytes();
    println!("\nP7a: resident memory, /bin/true jobs, 8 in flight");
    println!("after warm-up (500 jobs)       {:>8.1} MiB", mib(warm));
    println!(
        "after {jobs_a:>7} more jobs         {:>8.1} MiB",
        mib(after_a)
    );
    println!(
        "after {jobs_b:>7} more jobs         {:>8.1} MiB",
        mib(after_b)
    );
    let grown = after_b.saturating_sub(warm);
    let met = grown < 10 << 20;
    let verdict = if met { "met" } else { "NOT met" };
    println!("goal: growth < 10 MiB: {:.1} MiB, {verdict}", mib(grown));
    met
}

fn big_output(writers: usize, bytes: usize) -> bool {
    let pt = support::pt();
    let size = bytes.to_string();
    let job = || Command::new(pt).args(["write", &size, &size]);
    let capture = Pool::builder()
        .jobs(4)
        .output(JobOutput::Capture {
            limit: Some(1 << 20),
            keep: Keep::Tail,
        })
        .build();
    let dir = std::env::temp_dir().join(format!("procession-p7-{}", std::process::id()));
    let files = Pool::builder()
        .jobs(4)
        .output(JobOutput::Files(dir.clone()))
        .build();
    println!("\nP7b: peak resident memory, {writers} jobs x {bytes} bytes to stdout and to stderr");
    let before = common::resident_bytes();
    println!("before                         {:>8.1} MiB", mib(before));
    let mut met = true;
    for (name, pool) in [
        ("capture, 1 MiB limit", &capture),
        ("files in a results dir", &files),
    ] {
        let peak = peak_while(|| {
            let summary = pool.as_completed((0..writers).map(|_| job())).finish();
            assert_eq!(summary.succeeded, writers as u64);
        });
        println!("{name:<30} {:>8.1} MiB peak", mib(peak));
        met &= peak <= 64 << 20;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let verdict = if met { "met" } else { "NOT met" };
    println!("goal: peak <= 64 MiB: {verdict}");
    met
}

fn main() {
    let jobs_a = support::env_usize("PROCESSION_P7_JOBS_A", 2_000);
    let jobs_b = support::env_usize("PROCESSION_P7_JOBS_B", 20_000);
    let writers = support::env_usize("PROCESSION_P7_WRITERS", 4);
    let bytes = support::env_usize("PROCESSION_P7_BYTES", 50 << 20);
    println!("P7: jobs {jobs_a} then {jobs_b}; {writers} writers of {bytes} bytes per stream");
    big_output(writers, bytes);
    growth(jobs_a, jobs_b);
}
