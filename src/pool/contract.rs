//! The backend contract suite (tests only): the pool's scheduling (faults,
//! retries, halt, the order window, terminate, drop, deadlines, timeouts,
//! callbacks) through any backend. Each case is generic over a [`Harness`]
//! and runs on the fake backend (deterministic, no processes) and on the
//! local one (with the crate's test program).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::Command;
use crate::error::Error;
use crate::output::Output;
use crate::reactor::OnDone;
use crate::sync::lock;
use crate::test_support::pt;

use super::backend::{Backend, Caps, Launch, Started, StopHow, Stopper};
use super::fake::Fake;
use super::job::Job;
use super::local::Local;
use super::{Failure, Halt, HaltReason, JobEvent, Pool, PoolBuilder, Retry, StopCause, Threshold};

/// An upper bound on "did not hang".
const HANG: Duration = Duration::from_secs(30);

/// What a backend under test needs to run the cases.
trait Harness {
    fn backend(&self) -> Box<dyn Backend>;
    /// The job a fake script (see `fake.rs`, one attempt) stands for.
    fn job(&self, script: &str) -> Command;
    /// Makes held attempts that have a timeout time out (a no-op where the
    /// timeout is real).
    fn fire_timeouts(&self);
    /// The per-job timeout the timeout cases set.
    fn timeout(&self) -> Duration;
}

struct FakeHarness(Fake);

impl Harness for FakeHarness {
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(self.0.clone())
    }
    fn job(&self, script: &str) -> Command {
        Command::new("fake").args(script.split_whitespace())
    }
    fn fire_timeouts(&self) {
        // The pool may count an attempt as started before the fake holds it.
        assert!(self.0.wait_held(1, HANG), "nothing held to time out");
        self.0.fire_timeouts();
    }
    fn timeout(&self) -> Duration {
        // Never reached: the test fires it.
        HANG
    }
}

struct LocalHarness;

impl Harness for LocalHarness {
    fn backend(&self) -> Box<dyn Backend> {
        Box::new(Local)
    }
    fn job(&self, script: &str) -> Command {
        let words: Vec<&str> = script.split_whitespace().collect();
        match words.as_slice() {
            ["ok"] => Command::new(pt()).args(["exit", "0"]),
            ["exit", code] => Command::new(pt()).args(["exit", code]),
            ["signal", signal] => Command::new(pt()).args(["kill-self", signal]),
            ["out", text @ ..] => Command::new(pt()).arg("echo").args(text),
            ["spawn-fail"] => Command::new("procession-no-such-program"),
            ["hold"] => Command::new(pt()).args(["sleep", "60"]),
            _ => panic!("no local job for the script {script:?}"),
        }
    }
    fn fire_timeouts(&self) {}
    fn timeout(&self) -> Duration {
        Duration::from_millis(300)
    }
}

/// Wraps a backend and records what the pool asks of it.
#[derive(Clone, Default)]
struct Log {
    inner: Arc<LogState>,
}

#[derive(Default)]
struct LogState {
    events: Mutex<Events>,
    cv: Condvar,
}

#[derive(Default)]
struct Events {
    /// Sequence numbers of started attempts, in order.
    starts: Vec<u64>,
    /// Stop requests, in order.
    stops: Vec<(u64, StopHow)>,
    /// Attempts started and not yet reported.
    running: usize,
}

impl Log {
    fn events<R>(&self, f: impl FnOnce(&Events) -> R) -> R {
        f(&lock(&self.inner.events))
    }

    /// Waits until attempt `n` runs.
    fn wait_started(&self, n: usize) {
        let events = lock(&self.inner.events);
        let (events, _) = self
            .inner
            .cv
            .wait_timeout_while(events, HANG, |e| e.starts.len() < n || e.running == 0)
            .unwrap_or_else(|e| e.into_inner());
        assert!(events.starts.len() >= n, "attempt {n} never started");
    }

    /// Waits until `n` attempts run.
    fn wait_running(&self, n: usize) {
        let events = lock(&self.inner.events);
        let (events, _) = self
            .inner
            .cv
            .wait_timeout_while(events, HANG, |e| e.running < n)
            .unwrap_or_else(|e| e.into_inner());
        assert!(events.running >= n, "{n} attempts never ran at once");
    }
}

struct Logged {
    backend: Box<dyn Backend>,
    log: Log,
}

impl Backend for Logged {
    fn caps(&self, job: &Job) -> Caps {
        self.backend.caps(job)
    }

    fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error> {
        let seq = launch.seq;
        let log = self.log.clone();
        {
            let mut events = lock(&log.inner.events);
            events.starts.push(seq);
            events.running += 1;
        }
        let ended = log.clone();
        let on_done: OnDone = Box::new(move |result: Result<Output, Error>| {
            lock(&ended.inner.events).running -= 1;
            ended.inner.cv.notify_all();
            on_done(result);
        });
        self.log.inner.cv.notify_all();
        match self.backend.start(job, launch, on_done) {
            Ok(mut started) => {
                started.stopper = Arc::new(LoggedStopper {
                    stopper: started.stopper,
                    log,
                    seq,
                });
                Ok(started)
            }
            Err(e) => {
                lock(&log.inner.events).running -= 1;
                Err(e)
            }
        }
    }
}

struct LoggedStopper {
    stopper: Arc<dyn Stopper>,
    log: Log,
    seq: u64,
}

impl Stopper for LoggedStopper {
    fn stop(&self, how: StopHow) {
        lock(&self.log.inner.events).stops.push((self.seq, how));
        self.stopper.stop(how);
    }
}

/// A pool from `builder` on the harness's backend, and its log.
fn pool(harness: &impl Harness, builder: PoolBuilder) -> (Pool, Log) {
    let log = Log::default();
    let backend = Logged {
        backend: harness.backend(),
        log: log.clone(),
    };
    (builder.build_with(Box::new(backend)), log)
}

fn faults_are_classified(h: &impl Harness) {
    let (pool, log) = pool(h, Pool::builder().jobs(2));
    let scripts = ["ok", "exit 3", "signal 11", "signal 9", "spawn-fail"];
    let expected = [
        None,
        Some(Failure::Exit(3)),
        Some(Failure::Signal(11)),
        Some(Failure::Signal(9)),
        Some(Failure::Spawn),
    ];
    let done: Vec<_> = pool.map(scripts.iter().map(|s| h.job(s))).collect();
    let failures: Vec<_> = done.iter().map(|d| d.failure()).collect();
    assert_eq!(failures, expected);
    let seqs: Vec<u64> = done.iter().map(|d| d.seq()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "one report per job, in order");
    assert_eq!(log.events(|e| e.starts.len()), 5);
}

fn retries_run_every_attempt(h: &impl Harness) {
    let (pool, log) = pool(h, Pool::builder().jobs(1).retry(Retry::attempts(3)));
    let done: Vec<_> = pool.map([h.job("exit 1"), h.job("ok")]).collect();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0].attempts(), 3);
    assert_eq!(done[0].failure(), Some(Failure::Exit(1)));
    assert_eq!(done[1].attempts(), 1);
    assert_eq!(done[1].failure(), None);
    // A retry may wait behind a new job: the order of starts is the
    // backend's timing.
    let mut starts = log.events(|e| e.starts.clone());
    starts.sort_unstable();
    assert_eq!(starts, [1, 1, 1, 2]);
}

fn halt_soon_starts_nothing_after_the_failure(h: &impl Harness, threshold: Threshold) {
    let (pool, log) = pool(h, Pool::builder().jobs(1).halt(Halt::Soon(threshold)));
    let jobs = ["ok", "exit 1", "exit 1", "ok", "ok"].map(|s| h.job(s));
    let summary = pool.as_completed(jobs).finish();
    // One failure halts by count; by percentage, 2 of the first 3.
    let last = if matches!(threshold, Threshold::Failures(_)) {
        2
    } else {
        3
    };
    assert_eq!(summary.halted, Some(HaltReason::Soon));
    let starts: Vec<u64> = (1..=last).collect();
    assert_eq!(
        log.events(|e| e.starts.clone()),
        starts,
        "started after the halt"
    );
    assert_eq!(summary.succeeded + summary.failed, last);
    assert_eq!(summary.skipped, 5 - last);
}

fn halt_now_stops_the_running_jobs_once(h: &impl Harness) {
    let (pool, log) = pool(
        h,
        Pool::builder()
            .jobs(3)
            .halt(Halt::Now(Threshold::Failures(1))),
    );
    let jobs = pool.as_completed(["hold", "hold", "exit 1", "ok"].map(|s| h.job(s)));
    let done: Vec<_> = jobs.collect();
    let mut stops = log.events(|e| e.stops.clone());
    stops.sort_unstable_by_key(|s| s.0);
    assert_eq!(stops, [(1, StopHow::Cancel), (2, StopHow::Cancel)]);
    let failure = |seq: u64| {
        done.iter()
            .find(|d| d.seq() == seq)
            .and_then(|d| d.failure())
    };
    assert_eq!(failure(1), Some(Failure::Stopped(StopCause::Halt)));
    assert_eq!(failure(2), Some(Failure::Stopped(StopCause::Halt)));
    assert_eq!(failure(3), Some(Failure::Exit(1)));
    // A skipped job is counted, not yielded.
    assert_eq!(done.len(), 3);
    assert!(
        !log.events(|e| e.starts.contains(&4)),
        "started after the halt"
    );
}

fn map_keeps_input_order(h: &impl Harness) {
    let (pool, _) = pool(h, Pool::builder().jobs(3));
    let jobs = (1..=20).map(|i| h.job(&format!("out {i}")));
    let outs: Vec<u64> = pool.map(jobs).map(|d| d.seq()).collect();
    assert_eq!(outs, (1..=20).collect::<Vec<_>>());
}

fn terminate_stops_running_and_skips_queued(h: &impl Harness) {
    let (pool, log) = pool(h, Pool::builder().jobs(2));
    let handles: Vec<_> = ["hold", "hold", "ok"].map(|s| pool.submit(h.job(s))).into();
    log.wait_running(2);
    pool.terminate();
    let failures: Vec<_> = handles.into_iter().map(|h| h.done().failure()).collect();
    assert_eq!(
        failures,
        [
            Some(Failure::Stopped(StopCause::Terminate)),
            Some(Failure::Stopped(StopCause::Terminate)),
            Some(Failure::Skipped)
        ]
    );
    let mut stopped: Vec<u64> = log.events(|e| e.stops.iter().map(|s| s.0).collect());
    stopped.sort_unstable();
    assert_eq!(stopped, [1, 2], "each running job stopped once");
}

fn dropping_a_batch_kills_what_runs(h: &impl Harness) {
    let (pool, log) = pool(h, Pool::builder().jobs(3));
    {
        let mut jobs = pool.as_completed(["hold", "hold", "ok"].map(|s| h.job(s)));
        let first = jobs.next().expect("a report");
        assert_eq!(first.seq(), 3);
        log.wait_running(2);
    }
    let mut stops = log.events(|e| e.stops.clone());
    stops.sort_unstable_by_key(|s| s.0);
    assert_eq!(stops, [(1, StopHow::Kill), (2, StopHow::Kill)]);
    assert_eq!(
        log.events(|e| e.running),
        0,
        "a dropped batch waits for its ends"
    );
}

fn a_past_deadline_starts_nothing(h: &impl Harness) {
    let (pool, log) = pool(h, Pool::builder().jobs(2).deadline(Instant::now()));
    let summary = pool.as_completed(["ok", "ok"].map(|s| h.job(s))).finish();
    assert_eq!(summary.halted, Some(HaltReason::Deadline));
    assert_eq!(summary.skipped, 2);
    assert!(log.events(|e| e.starts.is_empty()));
}

fn a_timeout_is_a_timeout_and_retried(h: &impl Harness) {
    let builder = Pool::builder()
        .jobs(1)
        .timeout(h.timeout())
        .retry(Retry::attempts(2).on_timeout(true));
    let (pool, log) = pool(h, builder);
    let handle = pool.submit(h.job("hold"));
    for attempt in 1..=2 {
        log.wait_started(attempt);
        h.fire_timeouts();
    }
    let done = handle.done();
    assert_eq!(done.failure(), Some(Failure::Timeout));
    assert_eq!(done.attempts(), 2);
}

fn callbacks_see_each_job_start_then_finish_once(h: &impl Harness) {
    let events: Arc<Mutex<Vec<(char, u64)>>> = Arc::default();
    let seen = events.clone();
    let builder = Pool::builder().jobs(2).on_event(move |event| match event {
        JobEvent::Started { seq, .. } => lock(&seen).push(('S', *seq)),
        JobEvent::Finished(done) => lock(&seen).push(('F', done.seq())),
    });
    let (pool, _) = pool(h, builder);
    let summary = pool
        .as_completed(["ok", "exit 2", "spawn-fail", "ok"].map(|s| h.job(s)))
        .finish();
    assert_eq!(summary.finished, 4);
    let events = lock(&events).clone();
    for seq in 1..=4 {
        let finished: Vec<usize> = (0..events.len())
            .filter(|i| events[*i] == ('F', seq))
            .collect();
        assert_eq!(finished.len(), 1, "job {seq} finished once: {events:?}");
        if let Some(start) = events.iter().position(|e| *e == ('S', seq)) {
            assert!(start < finished[0], "job {seq} finished before it started");
        }
    }
}

fn a_panicking_callback_fails_its_job(h: &impl Harness) {
    let builder = Pool::builder().jobs(1).on_event(|event| {
        if let JobEvent::Finished(done) = event {
            assert_ne!(done.seq(), 2, "the callback fails on job 2");
        }
    });
    let (pool, _) = pool(h, builder);
    let failures: Vec<_> = pool
        .map(["ok", "ok", "ok"].map(|s| h.job(s)))
        .map(|d| d.failure())
        .collect();
    assert_eq!(failures, [None, Some(Failure::Other), None]);
}

macro_rules! contract {
    ($module:ident, $harness:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn faults() {
                faults_are_classified(&$harness);
            }
            #[test]
            fn retries() {
                retries_run_every_attempt(&$harness);
            }
            #[test]
            fn halt_soon_count() {
                halt_soon_starts_nothing_after_the_failure(&$harness, Threshold::Failures(1));
            }
            #[test]
            fn halt_soon_percent() {
                halt_soon_starts_nothing_after_the_failure(&$harness, Threshold::Percent(40.0));
            }
            #[test]
            fn halt_now() {
                halt_now_stops_the_running_jobs_once(&$harness);
            }
            #[test]
            fn order_window() {
                map_keeps_input_order(&$harness);
            }
            #[test]
            fn terminate() {
                terminate_stops_running_and_skips_queued(&$harness);
            }
            #[test]
            fn drop_batch() {
                dropping_a_batch_kills_what_runs(&$harness);
            }
            #[test]
            fn past_deadline() {
                a_past_deadline_starts_nothing(&$harness);
            }
            #[test]
            fn timeout() {
                a_timeout_is_a_timeout_and_retried(&$harness);
            }
            #[test]
            fn callbacks() {
                callbacks_see_each_job_start_then_finish_once(&$harness);
            }
            #[test]
            fn panicking_callback() {
                a_panicking_callback_fails_its_job(&$harness);
            }
        }
    };
}

contract!(on_fake, FakeHarness(Fake::default()));
contract!(on_local, LocalHarness);

/// The fake alone: per-attempt scripts, and reports in reverse order.
mod fake_only {
    use super::*;
    use crate::pool::backend::Status;

    #[test]
    fn a_retry_that_succeeds_is_one_success() {
        let h = FakeHarness(Fake::default());
        let (pool, log) = pool(&h, Pool::builder().jobs(1).retry(Retry::attempts(3)));
        let done: Vec<_> = pool.map([h.job("exit 1 then ok")]).collect();
        assert_eq!((done[0].attempts(), done[0].failure()), (2, None));
        assert_eq!(log.events(|e| e.starts.clone()), [1, 1]);
    }

    #[test]
    fn map_orders_reports_that_arrive_in_reverse() {
        let fake = Fake::default();
        let h = FakeHarness(fake.clone());
        let (pool, _) = pool(&h, Pool::builder().jobs(3));
        let releaser = std::thread::spawn(move || {
            assert!(fake.wait_held(3, HANG));
            for seq in [3, 2, 1] {
                assert!(fake.release(seq, Status::Exited(i32::try_from(seq).unwrap_or(0))));
            }
        });
        let codes: Vec<_> = pool
            .map(["hold", "hold", "hold"].map(|s| h.job(s)))
            .map(|d| (d.seq(), d.failure()))
            .collect();
        releaser.join().expect("the releasing thread");
        assert_eq!(
            codes,
            [
                (1, Some(Failure::Exit(1))),
                (2, Some(Failure::Exit(2))),
                (3, Some(Failure::Exit(3)))
            ]
        );
    }

    #[test]
    fn a_rejected_submission_is_a_spawn_failure() {
        let h = FakeHarness(Fake::default());
        let (pool, _) = pool(&h, Pool::builder().jobs(1));
        let done: Vec<_> = pool.map([h.job("reject")]).collect();
        assert_eq!(done[0].failure(), Some(Failure::Spawn));
    }
}
