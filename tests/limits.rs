//! One bad value, one exhausted resource: an error or "no limit", never a
//! panic, a hang or an orphan.
//!
//! What is checked: a duration too long to add to `Instant::now()`
//! (`Duration::MAX`) means "no limit" at every entry point that takes one;
//! a run in progress is stopped and reaped on every error path; a thread
//! or descriptor that cannot be had is an error (or, in a pool, a reason to
//! wait for a running job to end), never a panic.
//!
//! Scenarios that need a resource limit run in a child process: the test
//! runs this test binary again, filtered to itself, with an environment
//! variable that makes it apply the limit and play the scenario, so the
//! limit never hits the test harness.
//!
//! No environment variables tune this file.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use procession::{Command, Error, Failure, JobOutput, Keep, Pool, Retry, StopSequence};
use support::procfs;

/// An upper bound on "did not hang", generous for a shared, noisy machine.
const HANG: Duration = Duration::from_secs(30);

fn pt() -> &'static Path {
    support::pt()
}

fn pt_cmd(args: &[&str]) -> Command {
    Command::new(pt()).args(args)
}

// ---------------------------------------------------------------------------
// 1. Durations too long to add to now are no limit
// ---------------------------------------------------------------------------

#[test]
fn a_timeout_of_duration_max_is_no_limit() {
    let out = pt_cmd(&["echo", "hi"])
        .timeout(Duration::MAX)
        .stdout_capture()
        .run()
        .expect("runs to its end");
    assert_eq!(out.stdout, b"hi\n");
    // The same through a handle and the line iterator.
    let handle = pt_cmd(&["echo", "hi"]).timeout(Duration::MAX).start();
    assert!(handle.expect("starts").wait().is_ok());
    let lines: Vec<String> = pt_cmd(&["echo", "hi"])
        .timeout(Duration::MAX)
        .lines()
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("runs to its end");
    assert_eq!(lines, ["hi"]);
}

#[test]
fn a_drain_timeout_of_duration_max_is_no_limit() {
    let out = pt_cmd(&["echo", "drained"])
        .drain_timeout(Duration::MAX)
        .stdout_capture()
        .run()
        .expect("runs to its end");
    assert_eq!(out.stdout, b"drained\n");
    assert!(!out.incomplete);
}

#[test]
fn a_stop_step_of_duration_max_waits_without_a_limit() {
    // sleep dies of SIGTERM, so the endless wait after it ends at once.
    let endless = StopSequence::new().then(15, Duration::MAX);
    let err = pt_cmd(&["sleep", "10"])
        .stop_sequence(endless.clone())
        .timeout(Duration::from_millis(20))
        .run()
        .expect_err("times out");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(err.status().and_then(|s| s.signal()), Some(15));
    let pid = err.output().expect("it ran").stages[0].pid;
    assert!(procfs::stat(pid).is_none(), "pid {pid} was not reaped");

    // The same on the background thread: it goes on driving other runs.
    let stopping = pt_cmd(&["sleep", "10"])
        .stop_sequence(endless)
        .timeout(Duration::from_millis(20))
        .start()
        .expect("starts");
    let other = pt_cmd(&["sleep", "10"])
        .timeout(Duration::from_millis(50))
        .start()
        .expect("starts");
    for (what, handle) in [("stopping", stopping), ("other", other)] {
        let over = !matches!(handle.wait_timeout(HANG), Ok(None));
        if !over {
            // Dropping it would block on the dead loop.
            std::mem::forget(handle);
            panic!("the {what} handle's timeout never fired");
        }
    }
}

#[test]
fn handle_wait_timeout_of_duration_max_waits_to_the_end() {
    let handle = pt_cmd(&["echo", "waited"])
        .stdout_capture()
        .start()
        .expect("starts");
    let out = handle.wait_timeout(Duration::MAX).expect("succeeds");
    assert_eq!(out.expect("over").stdout, b"waited\n");
}

#[test]
fn job_handle_wait_timeout_of_duration_max_waits_to_the_end() {
    let pool = Pool::new(1);
    let job = pool.submit(pt_cmd(&["echo", "job"]).stdout_capture());
    let done = job.wait_timeout(Duration::MAX).expect("over");
    assert_eq!(done.result().as_ref().expect("succeeds").stdout, b"job\n");
}

#[test]
fn a_pool_timeout_of_duration_max_is_no_limit() {
    let capture = JobOutput::Capture {
        limit: None,
        keep: Keep::Head,
    };
    let pool = Pool::builder()
        .timeout(Duration::MAX)
        .output(capture)
        .build();
    let done: Vec<_> = pool.map([pt_cmd(&["echo", "pooled"])]).collect();
    let out = done[0].result().as_ref().expect("succeeds");
    assert_eq!(out.stdout, b"pooled\n");
}

#[test]
fn a_retry_delay_of_duration_max_never_comes_due() {
    // The retry would wait for ever; the pool's deadline ends the wait and
    // reports the first attempt.
    let pool = Pool::builder()
        .retry(Retry::attempts(2).delay(Duration::MAX))
        .deadline(Instant::now() + Duration::from_millis(200))
        .build();
    let began = Instant::now();
    let done: Vec<_> = pool.map([pt_cmd(&["exit", "3"])]).collect();
    assert!(began.elapsed() < HANG);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].attempts(), 1);
    assert_eq!(done[0].failure(), Some(Failure::Exit(3)));
}
