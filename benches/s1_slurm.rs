//! S1: the pool on Slurm. `PROCESSION_S1_JOBS` (default 200) runs of
//! `/bin/true` through the pool's Slurm backend, 2 in flight, against the
//! floor: a shell loop of `srun` with the same 2 in flight (`seq N | xargs
//! -P2 -I{} srun ... true`, with the pool's srun options), in the same
//! process. Goal: the pool takes at most 1.05x the floor's time.
//!
//! Slurm's own variance is large (a new srun often arrives before the last
//! job's CPUs are freed, is queued, and waits for the scheduler), so the
//! cases alternate, floor and pool, `PROCESSION_BENCH_RUNS` pairs (default
//! 5), and their medians are compared; every run's time is printed, with
//! how many of the floor's sruns said they were queued and how many of the
//! pool's jobs took over a second (its proxy: srun's lines are the pool's
//! own). Then the same inside an
//! allocation (`salloc -n2 --no-shell`): each run a step, `srun --exact
//! -n1 -N1`.
//!
//! Run: `cargo bench --features slurm --bench s1_slurm` where `sinfo`
//! answers (the loopback cluster of `.ci/slurm-loopback.sh` will do);
//! elsewhere it says so and exits 0.

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use procession::{Pool, Slurm, cmd};

const TRUE: &str = "/bin/true";
const IN_FLIGHT: usize = 2;

/// The floor: `jobs` sruns through `xargs -P2`; returns how many sruns
/// said their job was queued.
fn floor(jobs: usize, srun_options: &str) -> usize {
    let script = format!(
        "seq {jobs} | xargs -P{IN_FLIGHT} -I{{}} srun -v -n1 --input=none {srun_options} {TRUE}"
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run the floor");
    assert!(out.status.success(), "the floor failed: {out:?}");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("queued and waiting for resources"))
        .count()
}

/// The pool's run; returns how many jobs took over a second (srun's
/// queue messages are the pool's own diagnostics, so this is the proxy for
/// "queued": an unqueued `/bin/true` takes 50-100 ms).
fn pool_run(pool: &Pool, jobs: usize) -> usize {
    let mut slow = 0;
    for done in pool.as_completed((0..jobs).map(|_| cmd!(TRUE))) {
        assert_eq!(done.failure(), None, "every job succeeds");
        slow += usize::from(done.elapsed() > Duration::from_secs(1));
    }
    slow
}

/// Floor and pool, alternating; prints every run and the medians.
fn compare(title: &str, jobs: usize, runs: usize, srun_options: &str, pool: &Pool) {
    let (mut floors, mut pools, mut queued, mut slow) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..runs {
        let mut floor_run = || queued.push(floor(jobs, srun_options));
        let mut pool_case = || slow.push(pool_run(pool, jobs));
        // F P, then P F: neither always runs on a cluster the other warmed.
        if round % 2 == 0 {
            floors.push(common::time(&mut floor_run));
            pools.push(common::time(&mut pool_case));
        } else {
            pools.push(common::time(&mut pool_case));
            floors.push(common::time(&mut floor_run));
        }
        println!(
            "{title} round {}: floor {:.2?} ({} queued), pool {:.2?} ({} over 1 s)",
            round + 1,
            floors[round],
            queued[round],
            pools[round],
            slow[round]
        );
    }
    floors.sort();
    pools.sort();
    let rows = [
        (format!("floor: xargs -P{IN_FLIGHT} srun"), floors[runs / 2]),
        (format!("pool, {IN_FLIGHT} in flight"), pools[runs / 2]),
    ];
    common::report(
        &format!("S1 {title}: {jobs} x {TRUE}, {IN_FLIGHT} in flight, median of {runs}"),
        &rows[0].0,
        &rows,
        Some((&rows[1].0, 1.05)),
    );
}

fn main() {
    let answers = cmd!("sinfo", "-h", "-o", "%T")
        .stderr_null()
        .timeout(Duration::from_secs(2))
        .read()
        .is_ok();
    if !answers {
        println!("S1: no Slurm cluster here (sinfo does not answer); skipped");
        return;
    }
    let jobs = std::env::var("PROCESSION_S1_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runs = common::runs(5).max(1);
    let pool = Pool::builder().slurm(Slurm::jobs()).jobs(IN_FLIGHT).build();
    compare("jobs", jobs, runs, "", &pool);
    drop(pool);

    let alloc = Command::new("salloc")
        .args(["-n2", "--no-shell", "--job-name=procession-s1"])
        .output()
        .expect("run salloc");
    let text = String::from_utf8_lossy(&alloc.stderr);
    let id: String = text
        .split("Granted job allocation ")
        .nth(1)
        .map(|t| t.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!id.is_empty(), "salloc: {text}");
    let steps = format!("--exact -N1 --jobid={id}");
    let pool = Pool::builder()
        .slurm(Slurm::steps().flag(format!("--jobid={id}")))
        .jobs(IN_FLIGHT)
        .build();
    compare("steps", jobs, runs, &steps, &pool);
    drop(pool);
    let _ = Command::new("scancel").arg(&id).status();
}
