//! Stress: many short pipelines in a row (`pt echo x | pt cat`, through
//! `read`, `run`, `start`, `lines`, and a failing one) leave no zombie child,
//! no extra descriptor and no extra thread behind, and it prints how long
//! they took.
//!
//! Environment: `PROCESSION_STRESS_PIPELINES` (default 1000) is the number
//! of pipelines. Run with `--nocapture` to see the timings.

mod support;

use std::time::{Duration, Instant};

use procession::{Command, Error};
use support::{procfs, pt_cmd};

/// How one pipeline is run.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Read,
    Run,
    Start,
    Lines,
    Failing,
}

const MODES: [Mode; 5] = [
    Mode::Read,
    Mode::Run,
    Mode::Start,
    Mode::Lines,
    Mode::Failing,
];

fn echo_cat() -> Command {
    pt_cmd(["echo", "x"]) | pt_cmd(["cat"])
}

/// Runs one pipeline and checks its result.
fn run_once(mode: Mode) {
    match mode {
        Mode::Read => assert_eq!(echo_cat().read().unwrap(), "x"),
        Mode::Run => {
            let out = echo_cat().stdout_capture().stderr_capture().run().unwrap();
            assert_eq!(out.stdout, b"x\n");
            assert!(out.stages.iter().all(|s| s.status.success()));
        }
        Mode::Start => {
            let handle = echo_cat().stdout_capture().start().unwrap();
            assert_eq!(handle.wait().unwrap().stdout, b"x\n");
        }
        Mode::Lines => {
            let lines: Vec<String> = echo_cat()
                .lines()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(lines, ["x"]);
        }
        Mode::Failing => {
            let err = (pt_cmd(["echo", "x"]) | pt_cmd(["exit", "1"]))
                .run()
                .unwrap_err();
            let Error::Exit(exit) = &err else {
                panic!("{err:?}")
            };
            assert_eq!(exit.stage().map(|(i, _)| i), Some(1));
        }
    }
}

/// The value at quantile `q` of sorted `times`.
fn quantile(times: &[Duration], q: f64) -> Duration {
    times[((times.len() - 1) as f64 * q).round() as usize]
}

fn assert_clean(after: usize, fds: usize, threads: usize) {
    assert_eq!(
        procfs::zombie_children(),
        Vec::<u32>::new(),
        "zombies after {after} pipelines"
    );
    assert_eq!(
        procfs::open_fds(),
        fds,
        "descriptors after {after} pipelines"
    );
    assert_eq!(
        procfs::own_threads(),
        threads,
        "threads after {after} pipelines"
    );
}

#[test]
fn many_short_pipelines_leave_nothing_behind() {
    let count = support::env_usize("PROCESSION_STRESS_PIPELINES", 1000);
    // Build `pt` and start the crate's one background thread before measuring.
    support::pt();
    for mode in MODES {
        run_once(mode);
    }
    let (fds, threads) = (procfs::open_fds(), procfs::own_threads());
    assert_clean(0, fds, threads);

    let mut times = Vec::with_capacity(count);
    let mut per_mode = [(Duration::ZERO, 0u32); MODES.len()];
    let started = Instant::now();
    for i in 0..count {
        let mode = MODES[i % MODES.len()];
        let t = Instant::now();
        run_once(mode);
        let took = t.elapsed();
        times.push(took);
        per_mode[i % MODES.len()].0 += took;
        per_mode[i % MODES.len()].1 += 1;
        if (i + 1) % 250 == 0 {
            assert_clean(i + 1, fds, threads);
        }
    }
    let total = started.elapsed();
    assert_clean(count, fds, threads);

    times.sort();
    println!(
        "{count} pipelines (2 stages each) in {total:.2?}: mean {:.2?}, p50 {:.2?}, p90 {:.2?}, \
         p99 {:.2?}, max {:.2?}",
        total / count.max(1) as u32,
        quantile(&times, 0.5),
        quantile(&times, 0.9),
        quantile(&times, 0.99),
        times.last().copied().unwrap_or_default()
    );
    for (mode, (time, runs)) in MODES.iter().zip(per_mode) {
        println!("  {mode:?}: {runs} runs, mean {:.2?}", time / runs.max(1));
    }
}
