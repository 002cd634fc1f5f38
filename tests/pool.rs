//! The pool: bounded concurrency and slots, ordered and as-completed
//! results, lazy input, submit and the close / join / terminate life cycle,
//! per-job timeouts and the overall deadline (whole trees stopped), halt and
//! retry rules (table-driven), every output mode (grouped and tagged output
//! are checked in a re-executed copy of this test binary, whose stdout we
//! capture), job metadata and its environment variables, events and a
//! panicking callback, the job log read back, drop, and duct jobs (feature
//! `duct`).
//!
//! Fault injection at scale lives in `tests/pool_faults.rs`.

mod support;

use support::{procfs, pt_cmd};

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use procession::{
    Command, Done, Error, Failure, Halt, HaltReason, JobEvent, JobOutput, Keep, Pool, Retry,
    StopCause, Summary, Threshold,
};

/// A fresh empty directory under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "procession-pool-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The pids `pt grandchild` printed, from a job's captured stdout.
fn printed_pids(done: &Done) -> Vec<u32> {
    let out = done.output().expect("the job ran");
    out.stdout_lossy()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

fn seqs(done: &[Done]) -> Vec<u64> {
    done.iter().map(Done::seq).collect()
}

// ---------------------------------------------------------------------------
// Concurrency, order, laziness

#[test]
fn runs_at_most_n_at_once_each_in_its_own_slot() {
    let pool = Pool::new(3);
    let done: Vec<Done> = pool
        .as_completed((0..9).map(|_| pt_cmd(&["sleep", "0.1"])))
        .collect();
    assert_eq!(done.len(), 9);
    let slack = Duration::from_millis(1);
    let spans: Vec<(SystemTime, SystemTime, usize)> = done
        .iter()
        .map(|d| {
            (
                d.start_time(),
                d.start_time() + d.elapsed() - slack,
                d.slot(),
            )
        })
        .collect();
    let mut most = 0;
    for (start, _, slot) in &spans {
        assert!((1..=3).contains(slot), "slot {slot}");
        let overlapping: Vec<_> = spans
            .iter()
            .filter(|(s, e, _)| s <= start && start < e)
            .collect();
        most = most.max(overlapping.len());
        let slots: BTreeSet<usize> = overlapping.iter().map(|(_, _, slot)| *slot).collect();
        assert_eq!(
            slots.len(),
            overlapping.len(),
            "two running jobs shared a slot"
        );
    }
    assert_eq!(most, 3, "three jobs should have run at once");
}

#[test]
fn map_reports_in_input_order_and_as_completed_in_finishing_order() {
    let pool = Pool::new(3);
    let jobs = || ["0.6", "0.3", "0"].map(|s| pt_cmd(&["sleep", s]));
    assert_eq!(seqs(&pool.map(jobs()).collect::<Vec<_>>()), [1, 2, 3]);
    assert_eq!(
        seqs(&pool.as_completed(jobs()).collect::<Vec<_>>()),
        [3, 2, 1]
    );
}

#[test]
fn input_is_pulled_only_as_slots_free_up() {
    let pool = Pool::new(2);
    let pulled = Cell::new(0u64);
    // An endless input: only what is pulled can ever run.
    let jobs = (0..).map(|_| {
        pulled.set(pulled.get() + 1);
        pt_cmd(&["exit", "0"])
    });
    let mut done = pool.as_completed(jobs);
    // Two slots, and at most four jobs per slot prepared ahead of them:
    // after k reports, at most k + 10 jobs were ever pulled (the ones
    // reported, two running, eight prepared).
    for k in 1..=40 {
        assert!(done.next().unwrap().is_success());
        assert!(
            pulled.get() <= k + 10,
            "{} pulled after {k} reports",
            pulled.get()
        );
    }
    drop(done);
}

#[test]
fn the_reorder_window_bounds_what_map_starts_ahead() {
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    let pool = Pool::builder()
        .jobs(4)
        .reorder_window(2)
        .on_event(move |e| {
            if let JobEvent::Started { .. } = e {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build();
    let jobs = [pt_cmd(&["sleep", "0.3"])]
        .into_iter()
        .chain((0..6).map(|_| pt_cmd(&["exit", "0"])));
    let mut done = pool.map(jobs);
    assert_eq!(done.next().unwrap().seq(), 1);
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "only the window started while #1 ran"
    );
    assert_eq!(seqs(&done.collect::<Vec<_>>()), [2, 3, 4, 5, 6, 7]);
}

#[test]
fn a_pipeline_is_a_job() {
    let pool = Pool::new(2);
    let job = pt_cmd(&["write", "1000"]) | pt_cmd(&["count"]);
    let done: Vec<Done> = pool.map([job.stdout_capture()]).collect();
    assert_eq!(done[0].output().unwrap().stdout_lossy().trim(), "1000");
    assert_eq!(done[0].output().unwrap().stages.len(), 2);
}

#[test]
fn the_default_pool_has_one_job_per_core() {
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(Pool::default().jobs(), cores);
    assert_eq!(Pool::new(0).jobs(), 1);
}

#[test]
fn a_job_that_cannot_start_is_its_own_result() {
    let pool = Pool::new(2);
    let jobs = [
        pt_cmd(&["exit", "0"]),
        Command::new("procession-no-such-program"),
        pt_cmd(&["exit", "0"]).dir("/procession/no/such/dir"),
        pt_cmd(&["exit", "0"]),
    ];
    let done: Vec<Done> = pool.map(jobs).collect();
    let failures: Vec<_> = done.iter().map(Done::failure).collect();
    assert_eq!(
        failures,
        [None, Some(Failure::Spawn), Some(Failure::Spawn), None]
    );
    assert!(matches!(done[1].error(), Some(Error::Spawn(_))));
    assert_eq!(done[1].status(), None);
}

// ---------------------------------------------------------------------------
// submit, close, join, terminate, drop

#[test]
fn submitted_jobs_run_without_a_waiter_and_join_counts_them() {
    let pool = Pool::new(2);
    let handles: Vec<_> = (0..5)
        .map(|i| pool.submit(pt_cmd(&["exit", &(i % 2).to_string()])))
        .collect();
    pool.close();
    let summary = pool.join();
    assert_eq!(
        (summary.finished, summary.succeeded, summary.failed),
        (5, 3, 2)
    );
    for (i, handle) in handles.iter().enumerate() {
        assert_eq!(handle.seq(), i as u64 + 1);
        let done = handle.try_done().expect("joined");
        assert_eq!(done.is_success(), i % 2 == 0);
    }
    let late = pool.submit(pt_cmd(&["exit", "0"]));
    assert_eq!(late.done().failure(), Some(Failure::Skipped));
    let err = late.wait().unwrap_err();
    let Error::Skipped(skipped) = &err else {
        panic!("not a skipped job: {err:?}")
    };
    assert_eq!(skipped.seq(), late.seq());
    assert_eq!(skipped.reason(), "the pool was closed");
    assert_eq!(
        err.to_string(),
        format!("job #{} was not started: the pool was closed", late.seq())
    );
}

#[test]
fn waiting_on_a_job_handle_shares_the_output() {
    let pool = Pool::new(1);
    let job = pool.submit(pt_cmd(&["fail", "3", "why"]).stderr_capture());
    let (first, second) = (job.wait().unwrap_err(), job.wait().unwrap_err());
    assert_eq!(first.output().unwrap().stderr, b"why\n");
    assert!(std::ptr::eq(
        first.output().unwrap(),
        second.output().unwrap()
    ));
    assert!(std::ptr::eq(
        first.output().unwrap(),
        job.done().output().unwrap()
    ));
}

#[test]
fn join_without_close_waits_for_what_was_submitted() {
    let pool = Pool::new(2);
    let job = pool.submit(pt_cmd(&["echo", "hi"]).stdout_capture());
    assert_eq!(pool.join().succeeded, 1);
    assert_eq!(job.try_done().unwrap().output().unwrap().stdout, b"hi\n");
    // Still open: more can be submitted.
    assert!(pool.submit(pt_cmd(&["exit", "0"])).wait().is_ok());
    assert!(job.wait_timeout(Duration::from_millis(1)).is_some());
}

/// Starts `jobs` on `pool` through submit, and returns their handles once
/// `running` attempts have started, with the pids each printed.
fn submit_and_wait_started(
    jobs: usize,
    running: usize,
) -> (Pool, Vec<procession::JobHandle>, mpsc::Receiver<Vec<u32>>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let pool = Pool::builder()
        .jobs(running)
        .on_event(move |e| {
            if let JobEvent::Started { pids, .. } = e {
                let _ = tx.lock().unwrap().send(pids.to_vec());
            }
        })
        .build();
    let handles = (0..jobs)
        .map(|_| pool.submit(pt_cmd(&["grandchild", "30", "1", "--hold", "30"]).stdout_capture()))
        .collect();
    (pool, handles, rx)
}

#[test]
fn terminate_stops_every_tree_and_skips_the_queue() {
    let (pool, handles, started) = submit_and_wait_started(3, 2);
    let pids: Vec<u32> = (0..2).flat_map(|_| started.recv().unwrap()).collect();
    let t0 = Instant::now();
    pool.terminate();
    assert!(t0.elapsed() < Duration::from_secs(10));
    let failures: Vec<_> = handles
        .iter()
        .map(|h| h.try_done().expect("reported").failure())
        .collect();
    assert_eq!(
        failures,
        [
            Some(Failure::Stopped(StopCause::Terminate)),
            Some(Failure::Stopped(StopCause::Terminate)),
            Some(Failure::Skipped)
        ]
    );
    for handle in &handles[..2] {
        let message = handle.done().error().expect("stopped").to_string();
        assert!(
            message.contains("was stopped by Pool::terminate after"),
            "{message}"
        );
        for pid in printed_pids(handle.done()) {
            assert!(!procfs::is_live(pid), "grandchild {pid} survived terminate");
        }
    }
    for pid in pids {
        assert!(!procfs::is_live(pid), "job {pid} survived terminate");
    }
    let queued = handles[2].wait().unwrap_err();
    assert_eq!(
        queued.to_string(),
        format!(
            "job #{} was not started: the pool was terminated",
            handles[2].seq()
        )
    );
    assert_eq!(
        pool.submit(pt_cmd(&["exit", "0"])).done().failure(),
        Some(Failure::Skipped)
    );
    assert_eq!(pool.join().halted, Some(HaltReason::Terminated));
    // A batch after terminate runs nothing.
    let summary = pool.as_completed([pt_cmd(&["exit", "0"])]).finish();
    assert_eq!((summary.finished, summary.skipped), (0, 1));
}

#[test]
fn dropping_the_pool_kills_and_reaps_every_tree() {
    let (pool, handles, started) = submit_and_wait_started(2, 2);
    let pids: Vec<u32> = (0..2).flat_map(|_| started.recv().unwrap()).collect();
    let t0 = Instant::now();
    drop(pool);
    assert!(t0.elapsed() < Duration::from_secs(10));
    for handle in &handles {
        let done = handle.try_done().expect("reported before drop returned");
        assert_eq!(done.status().and_then(|s| s.signal()), Some(9));
        for pid in printed_pids(done) {
            assert!(!procfs::is_live(pid), "grandchild {pid} survived the drop");
        }
    }
    for pid in pids {
        assert!(!procfs::is_live(pid), "job {pid} survived the drop");
    }
}

#[test]
fn dropping_a_batch_early_kills_its_running_jobs() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let pool = Pool::builder()
        .jobs(3)
        .on_event(move |e| {
            if let JobEvent::Started { pids, .. } = e {
                let _ = tx.lock().unwrap().send(pids.to_vec());
            }
        })
        .build();
    let jobs = [
        pt_cmd(&["sleep", "30"]),
        pt_cmd(&["sleep", "30"]),
        pt_cmd(&["sleep", "0.5"]),
    ];
    let mut done = pool.as_completed(jobs);
    assert_eq!(done.next().unwrap().seq(), 3);
    let t0 = Instant::now();
    drop(done);
    assert!(t0.elapsed() < Duration::from_secs(10));
    let pids: Vec<u32> = rx.try_iter().flatten().collect();
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(!procfs::is_live(pid), "{pid} survived the batch");
    }
}

// ---------------------------------------------------------------------------
// Timeouts and the deadline

#[test]
fn a_job_timeout_stops_the_whole_tree() {
    let pool = Pool::builder()
        .jobs(2)
        .timeout(Duration::from_millis(300))
        .build();
    let jobs = [
        pt_cmd(&["grandchild", "30", "2", "--hold", "30"]).stdout_capture(),
        pt_cmd(&["exit", "0"]),
    ];
    let done: Vec<Done> = pool.map(jobs).collect();
    assert_eq!(done[0].failure(), Some(Failure::Timeout));
    assert!(done[0].elapsed() < Duration::from_secs(10));
    let grandchildren = printed_pids(&done[0]);
    assert_eq!(grandchildren.len(), 2);
    for pid in grandchildren {
        assert!(
            !procfs::is_live(pid),
            "grandchild {pid} survived the timeout"
        );
    }
    assert!(done[1].is_success());
}

#[test]
fn the_deadline_stops_running_jobs_and_starts_no_more() {
    let deadline = Instant::now() + Duration::from_millis(500);
    let pool = Pool::builder().jobs(2).deadline(deadline).build();
    let mut done = pool.as_completed((0..5).map(|_| pt_cmd(&["sleep", "30"])));
    let reports: Vec<Done> = done.by_ref().collect();
    let summary = done.summary();
    assert!(Instant::now() < deadline + Duration::from_secs(10));
    assert_eq!(reports.len(), 2);
    for d in &reports {
        assert_eq!(d.failure(), Some(Failure::Stopped(StopCause::Deadline)));
    }
    assert_eq!((summary.stopped, summary.skipped), (2, 3));
    assert_eq!(summary.halted, Some(HaltReason::Deadline));
}

// ---------------------------------------------------------------------------
// Halt and retry rules, table-driven

/// What a job of a halt scenario does.
#[derive(Clone, Copy)]
enum Kind {
    Ok,
    Fail,
    /// Runs until stopped.
    Long,
}

fn job_of(kind: Kind) -> Command {
    match kind {
        Kind::Ok => pt_cmd(&["exit", "0"]),
        Kind::Fail => pt_cmd(&["exit", "1"]),
        Kind::Long => pt_cmd(&["sleep", "30"]),
    }
}

#[test]
fn halt_policies() {
    use Kind::{Fail as F, Long as L, Ok as O};
    let fail = |n| Threshold::Failures(n);
    // (policy, jobs at once, jobs, (succeeded, failed, stopped, skipped), halted)
    type Row = (
        Halt,
        usize,
        &'static [Kind],
        (u64, u64, u64, u64),
        Option<HaltReason>,
    );
    let table: &[Row] = &[
        (Halt::Never, 1, &[O, F, O, F], (2, 2, 0, 0), None),
        (
            Halt::Soon(fail(1)),
            1,
            &[O, F, O, O],
            (1, 1, 0, 2),
            Some(HaltReason::Soon),
        ),
        (
            Halt::Soon(fail(2)),
            1,
            &[F, O, F, O, O],
            (1, 2, 0, 2),
            Some(HaltReason::Soon),
        ),
        (
            Halt::Soon(Threshold::Percent(50.0)),
            1,
            &[O, F, F, O],
            (1, 2, 0, 1),
            Some(HaltReason::Soon),
        ),
        (
            Halt::Soon(Threshold::Percent(50.0)),
            1,
            &[O, O, F, O],
            (3, 1, 0, 0),
            None,
        ),
        (
            Halt::Now(fail(1)),
            2,
            &[L, F, O, O],
            (0, 1, 1, 2),
            Some(HaltReason::Now),
        ),
        (
            Halt::Now(fail(2)),
            3,
            &[L, L, F, F, O],
            (0, 2, 2, 1),
            Some(HaltReason::Now),
        ),
    ];
    for (halt, jobs, kinds, want, halted) in table {
        let pool = Pool::builder().jobs(*jobs).halt(*halt).build();
        let t0 = Instant::now();
        let s: Summary = pool.as_completed(kinds.iter().map(|k| job_of(*k))).finish();
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{halt:?}: a long job was not stopped"
        );
        assert_eq!(
            (s.succeeded, s.failed, s.stopped, s.skipped),
            *want,
            "{halt:?} {jobs}"
        );
        assert_eq!(s.halted, *halted, "{halt:?}");
        assert_eq!(s.finished, s.succeeded + s.failed + s.stopped);
    }
}

#[test]
fn a_start_that_fails_under_a_halt_policy_is_judged_and_the_batch_goes_on() {
    // The failed start pauses the batch until it is judged; one failure of
    // two allowed does not halt, so the batch must go on. The deadline only
    // bounds a batch left paused.
    let pool = Pool::builder()
        .jobs(1)
        .halt(Halt::Soon(Threshold::Failures(2)))
        .deadline(Instant::now() + Duration::from_secs(30))
        .build();
    let jobs = [
        job_of(Kind::Ok),
        Command::new("procession-no-such-program"),
        job_of(Kind::Ok),
        job_of(Kind::Ok),
    ];
    let s: Summary = pool.as_completed(jobs).finish();
    assert_eq!(s.halted, None);
    assert_eq!((s.succeeded, s.failed, s.skipped), (3, 1, 0));
}

#[test]
fn a_job_stopped_by_a_halt_says_so() {
    let pool = Pool::builder()
        .jobs(2)
        .halt("now,fail=1".parse().unwrap())
        .build();
    let done: Vec<Done> = pool.map([job_of(Kind::Long), job_of(Kind::Fail)]).collect();
    assert_eq!(done[0].failure(), Some(Failure::Stopped(StopCause::Halt)));
    let err = done[0].error().expect("stopped");
    assert!(matches!(err, Error::Cancelled(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("was stopped by the pool's halt policy after")
            && message.ends_with("with SIGTERM"),
        "{message}"
    );
    assert!(!message.contains("cancelled"), "{message}");
}

/// A job that fails the first time and succeeds after: `pt verify 0` reads a
/// non-empty shared stdin the first time (a mismatch), then finds it at end
/// of file (empty: a match).
fn fails_once() -> Command {
    let dir = temp_dir("flaky");
    let path = dir.join("input");
    std::fs::write(&path, b"x").unwrap();
    let file = File::open(&path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    pt_cmd(&["verify", "0"]).stdin_file(file).stderr_null()
}

#[test]
fn retry_rules() {
    let ms = Duration::from_millis;
    let timeout = || pt_cmd(&["sleep", "10"]).timeout(ms(50));
    // (rule, job, attempts, final failure)
    type Row = (Retry, Command, u32, Option<Failure>);
    let table: Vec<Row> = vec![
        (
            Retry::default(),
            pt_cmd(&["exit", "2"]),
            1,
            Some(Failure::Exit(2)),
        ),
        (
            Retry::attempts(3),
            pt_cmd(&["exit", "2"]),
            3,
            Some(Failure::Exit(2)),
        ),
        (Retry::attempts(3), fails_once(), 2, None),
        (
            Retry::attempts(3).on_exit(false),
            fails_once(),
            1,
            Some(Failure::Exit(1)),
        ),
        (
            Retry::attempts(2),
            pt_cmd(&["kill-self", "SEGV"]),
            2,
            Some(Failure::Signal(11)),
        ),
        (
            Retry::attempts(2).on_signal(false),
            pt_cmd(&["kill-self", "SEGV"]),
            1,
            Some(Failure::Signal(11)),
        ),
        (Retry::attempts(2), timeout(), 2, Some(Failure::Timeout)),
        (
            Retry::attempts(2).on_timeout(false),
            timeout(),
            1,
            Some(Failure::Timeout),
        ),
        (
            Retry::attempts(5),
            Command::new("procession-no-such-program"),
            1,
            Some(Failure::Spawn),
        ),
    ];
    for (rule, job, attempts, failure) in table {
        let display = job.to_string();
        let pool = Pool::builder().jobs(1).retry(rule.clone()).build();
        let mut batch = pool.as_completed([job]);
        let done = batch.next().unwrap();
        assert_eq!(
            (done.attempts(), done.failure()),
            (attempts, failure),
            "{rule:?} {display}"
        );
        assert_eq!(batch.summary().retries, u64::from(attempts - 1));
    }
}

#[test]
fn a_retry_waits_its_delay_without_holding_a_slot() {
    let pool = Pool::builder()
        .jobs(1)
        .retry(Retry::attempts(2).delay(Duration::from_millis(300)))
        .build();
    let t0 = Instant::now();
    let done: Vec<Done> = pool
        .as_completed([pt_cmd(&["exit", "1"]), pt_cmd(&["exit", "0"])])
        .collect();
    // The second job ran in the only slot while the first waited.
    assert_eq!(seqs(&done), [2, 1]);
    assert_eq!(done[1].attempts(), 2);
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

// ---------------------------------------------------------------------------
// Output modes

#[test]
fn discard_and_capture_with_a_limit() {
    let discard = Pool::builder().jobs(1).output(JobOutput::Discard).build();
    let done: Vec<Done> = discard.map([pt_cmd(&["write", "1M", "1M"])]).collect();
    let out = done[0].output().unwrap();
    assert!(out.stdout.is_empty() && out.stderr.is_empty() && done[0].is_success());

    let capture = Pool::builder()
        .jobs(2)
        .output(JobOutput::Capture {
            limit: Some(1000),
            keep: Keep::Head,
        })
        .build();
    let done: Vec<Done> = capture
        .map([
            pt_cmd(&["write", "10M", "3M"]),
            pt_cmd(&["write", "10", "0"]),
        ])
        .collect();
    let big = done[0].output().unwrap();
    assert_eq!((big.stdout.len(), big.stderr.len()), (1000, 1000));
    assert!(support::is_pattern(&big.stdout) && big.stdout_truncated && big.stderr_truncated);
    let small = done[1].output().unwrap();
    assert_eq!(small.stdout, support::pattern(10));
    assert!(!small.stdout_truncated);
}

#[test]
fn files_in_a_results_directory() {
    let dir = temp_dir("results");
    let pool = Pool::builder()
        .jobs(2)
        .output(JobOutput::Files(dir.clone()))
        .build();
    let summary = pool
        .as_completed((1..=3).map(|i| pt_cmd(&["write", &(100 * i).to_string(), "7"])))
        .finish();
    assert_eq!(summary.succeeded, 3);
    for seq in 1..=3 {
        let out = std::fs::read(dir.join(format!("{seq}/stdout"))).unwrap();
        let err = std::fs::read(dir.join(format!("{seq}/stderr"))).unwrap();
        assert_eq!(out, support::pattern(100 * seq));
        assert_eq!(err, support::pattern(7));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The environment variable that makes `output_child` act.
const CHILD: &str = "PROCESSION_POOL_OUTPUT_CHILD";

/// Not a test of its own: when re-executed with `CHILD` set, runs four jobs
/// that print interleaved stdout and stderr lines, with the output mode
/// `CHILD` names.
#[test]
fn output_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    if mode == "grouped-spill" {
        return grouped_spill_child();
    }
    let (output, ordered) = match mode.as_str() {
        "grouped" => (JobOutput::Grouped, false),
        "grouped-ordered" => (JobOutput::Grouped, true),
        "tagged" => (JobOutput::Tagged, false),
        other => panic!("unknown mode {other}"),
    };
    let pool = Pool::builder().jobs(4).output(output).build();
    // Job k prints 4k lines, 2 ms apart: longer jobs finish later.
    let jobs = (1..=4)
        .rev()
        .map(|k: usize| pt_cmd(&["lines", &(4 * k).to_string(), "2"]));
    let summary = if ordered {
        pool.map(jobs).finish()
    } else {
        pool.as_completed(jobs).finish()
    };
    assert_eq!(summary.succeeded, 4);
}

/// Files of this process open in `dir` (an unnamed file shows as
/// `dir/#inode (deleted)`).
fn open_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// Grouped output of a job that spills past the memory limit (both
/// streams), one that prints nothing and one that prints a little, each
/// with its own spill directory: only the first has files, seen when it
/// finishes.
fn grouped_spill_child() {
    let root = temp_dir("grouped-spill");
    let dirs: Vec<PathBuf> = (1..=3).map(|i| root.join(i.to_string())).collect();
    for dir in &dirs {
        std::fs::create_dir(dir).unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pool = {
        let (seen, dirs) = (seen.clone(), dirs.clone());
        Pool::builder()
            .jobs(2)
            .output(JobOutput::Grouped)
            .on_event(move |event| {
                if let JobEvent::Finished(done) = event {
                    let dir = &dirs[done.seq() as usize - 1];
                    seen.lock().unwrap().push((done.seq(), open_in(dir)));
                }
            })
            .build()
    };
    let jobs = [
        pt_cmd(&["write", "300000", "100000"]),
        pt_cmd(&["exit", "0"]),
        pt_cmd(&["write", "1000"]),
    ];
    let jobs = jobs.into_iter().zip(&dirs).map(|(c, dir)| c.spill_dir(dir));
    let done: Vec<_> = pool.map(jobs).collect();
    // Handed out with their streams copied out and emptied.
    for d in &done {
        let out = d.output().unwrap();
        assert!(
            out.stdout.is_empty() && out.stdout_spilled.is_none(),
            "{d:?}"
        );
    }
    drop(done);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, [(1, 2), (2, 0), (3, 0)]);
    for dir in &dirs {
        assert_eq!(open_in(dir), 0);
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn grouped_output_spills_only_past_the_memory_limit_and_loses_nothing() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "output_child", "--nocapture"])
        .env(CHILD, "grouped-spill")
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap();
    // The test harness prints text; the pattern starts with a 0 byte.
    let whole = |bytes: &[u8], n: usize| {
        let start = bytes.iter().position(|b| *b == 0).expect("pattern bytes");
        bytes[start..].len() >= n && support::is_pattern(&bytes[start..start + n])
    };
    let mut want = support::pattern(300_000);
    want.extend(support::pattern(1000));
    let start = out.stdout.iter().position(|b| *b == 0).unwrap();
    assert!(
        out.stdout[start..].starts_with(&want),
        "stdout in input order"
    );
    assert!(whole(&out.stderr, 100_000), "stderr");
}

/// Runs `output_child` in `mode` and returns its stdout and stderr.
fn run_child(mode: &str) -> (String, String) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "output_child", "--nocapture"])
        .env(CHILD, mode)
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap();
    (out.stdout_lossy(), out.stderr_lossy())
}

/// The lines of `text` that start with `prefix`.
fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// What `pt lines n` prints on one stream: "out 0", "out 2", ... or
/// "err 1", "err 3", ...
fn expected_lines(stream: &str, n: usize) -> Vec<String> {
    let first = usize::from(stream == "err");
    (first..n)
        .step_by(2)
        .map(|i| format!("{stream} {i}"))
        .collect()
}

/// Splits a stream's job lines into per-job blocks (a block starts at line
/// 0 or 1) and checks each block is one job's complete, uninterrupted output.
fn blocks(lines: &[&str], stream: &str) -> Vec<usize> {
    let first = format!("{stream} {}", usize::from(stream == "err"));
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for line in lines {
        if *line == first || blocks.is_empty() {
            blocks.push(Vec::new());
        }
        blocks.last_mut().unwrap().push(line);
    }
    for block in &blocks {
        let want = expected_lines(stream, 2 * block.len());
        assert_eq!(block, &want, "a block was interrupted");
    }
    blocks.iter().map(Vec::len).collect()
}

#[test]
fn grouped_output_never_interleaves_two_jobs() {
    let (stdout, stderr) = run_child("grouped");
    let mut out_blocks = blocks(&lines_with(&stdout, "out "), "out");
    let mut err_blocks = blocks(&lines_with(&stderr, "err "), "err");
    out_blocks.sort();
    err_blocks.sort();
    // Jobs print 4, 8, 12, 16 lines: 2, 4, 6, 8 on each stream.
    assert_eq!(out_blocks, [2, 4, 6, 8], "stdout: {stdout}");
    assert_eq!(err_blocks, [2, 4, 6, 8], "stderr: {stderr}");
}

#[test]
fn grouped_output_of_map_comes_in_input_order() {
    let (stdout, _) = run_child("grouped-ordered");
    // Input order is the longest job first.
    assert_eq!(blocks(&lines_with(&stdout, "out "), "out"), [8, 6, 4, 2]);
}

#[test]
fn tagged_output_prefixes_every_line_with_its_job() {
    let (stdout, stderr) = run_child("tagged");
    for seq in 1..=4usize {
        let n = 4 * (5 - seq); // input order: job 1 prints 16 lines
        for (text, stream) in [(&stdout, "out"), (&stderr, "err")] {
            let prefix = format!("[{seq}] ");
            let got: Vec<String> = lines_with(text, &prefix)
                .iter()
                .map(|l| l[prefix.len()..].to_string())
                .collect();
            assert_eq!(got, expected_lines(stream, n), "job {seq} {stream}");
        }
    }
}

// ---------------------------------------------------------------------------
// Metadata, events, job log

#[test]
fn jobs_see_their_seq_and_slot() {
    let pool = Pool::builder()
        .jobs(2)
        .output(JobOutput::Capture {
            limit: None,
            keep: Keep::Head,
        })
        .build();
    let done: Vec<Done> = pool
        .map((0..4).map(|_| pt_cmd(&["env", "PROCESSION_SEQ", "PROCESSION_SLOT"])))
        .collect();
    for d in &done {
        let want = format!("PROCESSION_SEQ={}\nPROCESSION_SLOT={}\n", d.seq(), d.slot());
        assert_eq!(d.output().unwrap().stdout_lossy(), want);
        assert!((1..=2).contains(&d.slot()));
        assert_eq!(d.attempts(), 1);
        assert!(d.start_time() <= SystemTime::now());
        assert!(d.elapsed() > Duration::ZERO);
    }
}

#[test]
fn job_env_false_leaves_the_environment_as_it_is() {
    let pool = Pool::builder()
        .jobs(2)
        .job_env(false)
        .output(JobOutput::Capture {
            limit: None,
            keep: Keep::Head,
        })
        .build();
    let names = ["env", "PROCESSION_SEQ", "PROCESSION_SLOT", "PATH"];
    for d in pool.map((0..3).map(|_| pt_cmd(&names))) {
        let out = d.output().unwrap().stdout_lossy();
        assert!(!out.contains("PROCESSION_"), "{out}");
        // The rest of the environment is inherited as usual.
        assert!(out.starts_with("PATH="), "{out}");
    }
}

#[test]
fn jobs_read_nothing_unless_told() {
    let pool = Pool::new(1);
    let done: Vec<Done> = pool
        .map([
            pt_cmd(&["count"]).stdout_capture(),
            pt_cmd(&["count"]).stdin_bytes("abc").stdout_capture(),
        ])
        .collect();
    assert_eq!(done[0].output().unwrap().stdout_lossy().trim(), "0");
    assert_eq!(done[1].output().unwrap().stdout_lossy().trim(), "3");
}

#[test]
fn exit_codes_and_signals_are_reported() {
    let pool = Pool::new(3);
    let done: Vec<Done> = pool
        .map([
            pt_cmd(&["exit", "4"]),
            pt_cmd(&["kill-self", "TERM"]),
            pt_cmd(&["exit", "0"]),
        ])
        .collect();
    assert_eq!(done[0].status().and_then(|s| s.code()), Some(4));
    assert_eq!(done[1].status().and_then(|s| s.signal()), Some(15));
    assert_eq!(done[1].failure(), Some(Failure::Signal(15)));
    assert!(done[2].result().is_ok());
    assert!(done[0].command().ends_with("exit 4"));
}

#[test]
fn events_for_every_start_and_finish() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let pool = Pool::builder()
        .jobs(2)
        .retry(Retry::attempts(2).on_exit(true))
        .on_event(move |e| {
            let entry = match e {
                JobEvent::Started {
                    seq,
                    attempt,
                    pids,
                    slot,
                    ..
                } => {
                    assert!(!pids.is_empty() && *slot >= 1);
                    format!("start {seq}.{attempt}")
                }
                JobEvent::Finished(done) => format!("end {}", done.seq()),
                _ => "other".to_string(),
            };
            log.lock().unwrap().push(entry);
        })
        .build();
    pool.map([pt_cmd(&["exit", "0"]), pt_cmd(&["exit", "1"])])
        .finish();
    let mut got = events.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got,
        ["end 1", "end 2", "start 1.1", "start 2.1", "start 2.2"]
    );
}

#[test]
fn a_panicking_callback_fails_only_its_job() {
    let pool = Pool::builder()
        .jobs(2)
        .on_event(|e| match e {
            JobEvent::Finished(done) if done.seq() == 2 => panic!("callback bug on 2"),
            JobEvent::Started { seq: 3, .. } => panic!("callback bug on 3"),
            _ => {}
        })
        .build();
    let done: Vec<Done> = pool.map((0..5).map(|_| pt_cmd(&["exit", "0"]))).collect();
    assert_eq!(done.len(), 5);
    let failures: Vec<_> = done.iter().map(Done::failure).collect();
    assert_eq!(
        failures,
        [None, Some(Failure::Other), Some(Failure::Other), None, None]
    );
    for (i, seq) in [(1, 2), (2, 3)] {
        let err = done[i].error().unwrap();
        let Error::Panicked(panic) = err else {
            panic!("not a panic: {err:?}")
        };
        assert_eq!(panic.message(), format!("callback bug on {seq}"));
        assert_eq!(
            err.to_string(),
            format!("the pool's event callback panicked on job #{seq}: callback bug on {seq}")
        );
    }
    // The pool goes on working.
    assert_eq!(
        pool.as_completed([pt_cmd(&["exit", "0"])])
            .finish()
            .succeeded,
        1
    );
}

/// A `Write` into shared memory, for reading the job log back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_job_log_parses_back() {
    let log = Shared::default();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let pool = Pool::builder().jobs(2).joblog(log.clone()).build();
    let jobs = [
        pt_cmd(&["exit", "0"]),
        pt_cmd(&["exit", "3"]),
        pt_cmd(&["kill-self", "SEGV"]),
        Command::new("procession-no-such-program"),
        pt_cmd(&["echo", "a\tb"]).stdout_null(),
    ];
    pool.as_completed(jobs).finish();
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    let mut rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    rows.sort_by_key(|r| r[0].parse::<u64>().unwrap());
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 9, "{row:?}");
        assert_eq!(row[0], (i + 1).to_string());
        assert_eq!((row[1], row[4], row[5]), (":", "0", "0"));
        let start: f64 = row[2].parse().unwrap();
        assert!(start >= before - 1.0 && start < before + 60.0, "{start}");
        assert_eq!(row[2].split('.').nth(1).map(str::len), Some(3));
        let runtime: f64 = row[3].trim().parse().unwrap();
        assert!((0.0..60.0).contains(&runtime));
    }
    let exits: Vec<(&str, &str)> = rows.iter().map(|r| (r[6], r[7])).collect();
    assert_eq!(
        exits,
        [
            ("0", "0"),
            ("3", "0"),
            // As GNU parallel logs a signal (and a shell reports it).
            ("139", "11"),
            ("127", "0"),
            ("0", "0")
        ]
    );
    assert!(
        rows[4][8].ends_with("echo 'a b'"),
        "tabs in the command are spaces: {:?}",
        rows[4][8]
    );
}

/// The job log's rows (without the header), sorted by sequence number
/// (stable, so a job's attempts stay in order).
fn joblog_rows(log: &Shared) -> Vec<Vec<String>> {
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    rows.sort_by_key(|r| r[0].parse::<u64>().unwrap());
    rows
}

#[test]
fn the_job_log_has_a_line_per_attempt() {
    let log = Shared::default();
    let pool = Pool::builder()
        .jobs(1)
        .retry(Retry::attempts(3))
        .joblog(log.clone())
        .build();
    let jobs = [pt_cmd(&["exit", "2"]), fails_once(), pt_cmd(&["exit", "0"])];
    let summary = pool.as_completed(jobs).finish();
    assert_eq!((summary.retries, summary.joblog_lost), (3, 0));
    let rows: Vec<(String, String)> = joblog_rows(&log)
        .into_iter()
        .map(|r| (r[0].clone(), r[6].clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("1", "2"),
        ("1", "2"),
        ("1", "2"),
        ("2", "1"),
        ("2", "0"),
        ("3", "0"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rows, want);
}

#[test]
fn a_halt_logs_a_waiting_retry_once() {
    let log = Shared::default();
    let pool = Pool::builder()
        .jobs(1)
        .retry(
            Retry::attempts(2)
                .delay(Duration::from_secs(30))
                .on_signal(false),
        )
        .halt(Halt::Now(Threshold::Failures(1)))
        .joblog(log.clone())
        .build();
    // The first job fails and waits 30 s for its retry; the second one's
    // failure (not retried) halts the batch, which reports the first
    // without retrying it.
    let started = Instant::now();
    let jobs = [pt_cmd(&["exit", "3"]), pt_cmd(&["kill-self", "SEGV"])];
    let summary = pool.as_completed(jobs).finish();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no retry waited"
    );
    assert_eq!((summary.failed, summary.retries), (2, 0));
    let exits: Vec<String> = joblog_rows(&log)
        .into_iter()
        .map(|r| r[6].clone())
        .collect();
    assert_eq!(exits, ["3", "139"]);
}

/// A writer that takes `room` bytes, then fails as a full disk does.
struct FillsUp {
    room: usize,
    kept: Shared,
}

impl Write for FillsUp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.kept.0.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_job_log_that_cannot_be_written_is_reported() {
    // A log that cannot even take its header.
    let full = File::options().write(true).open("/dev/full").unwrap();
    let pool = Pool::builder().jobs(2).joblog(full).build();
    let summary = pool
        .as_completed((0..5).map(|_| pt_cmd(&["exit", "0"])))
        .finish();
    assert_eq!((summary.succeeded, summary.joblog_lost), (5, 5));
    let Some(Error::Io(e)) = pool.joblog_error() else {
        panic!("an I/O error expected");
    };
    assert!(e.to_string().contains("job log"), "{e}");

    // A log that fills up after a few lines: the jobs all succeed, the
    // lines not written are counted, and no torn line is left past the
    // first failure.
    let kept = Shared::default();
    let room = 600;
    let log = FillsUp {
        room,
        kept: kept.clone(),
    };
    let pool = Pool::builder().jobs(2).joblog(log).build();
    assert!(pool.joblog_error().is_none());
    let summary = pool
        .as_completed((0..50).map(|_| pt_cmd(&["exit", "0"])))
        .finish();
    assert_eq!(summary.succeeded, 50);
    let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.len(), room);
    let whole = text.matches('\n').count() as u64 - 1;
    assert_eq!(summary.joblog_lost, 50 - whole, "{text}");
    assert!(pool.joblog_error().is_some());
    // The submitted jobs' summary counts them too.
    pool.submit(pt_cmd(&["exit", "0"]));
    pool.close();
    assert_eq!(pool.join().joblog_lost, 1);
}

#[cfg(feature = "progress")]
#[test]
fn a_progress_bar_is_not_drawn_without_a_terminal() {
    let pool = Pool::builder().jobs(2).progress(true).build();
    let summary = pool
        .as_completed((0..4).map(|_| pt_cmd(&["exit", "0"])))
        .finish();
    assert_eq!(summary.succeeded, 4);
}

// ---------------------------------------------------------------------------
// duct expressions

#[cfg(feature = "duct")]
mod duct_jobs {
    use super::*;

    fn pt(args: &[&str]) -> duct::Expression {
        duct::cmd(support::pt(), args)
    }

    #[test]
    fn duct_expressions_run_and_are_judged_by_status() {
        let pool = Pool::builder()
            .jobs(2)
            .output(JobOutput::Capture {
                limit: Some(4),
                keep: Keep::Tail,
            })
            .build();
        let jobs = [
            pt(&["echo", "hello"]),
            pt(&["exit", "3"]),
            pt(&["env", "PROCESSION_SEQ"]),
        ];
        let done: Vec<Done> = pool.map(jobs).collect();
        assert_eq!(done[0].output().unwrap().stdout, b"llo\n");
        assert!(done[0].output().unwrap().stdout_truncated);
        assert_eq!(done[1].failure(), Some(Failure::Exit(3)));
        assert_eq!(done[2].output().unwrap().stdout, b"Q=3\n");
    }

    #[test]
    fn a_duct_timeout_kills_the_direct_child() {
        let pool = Pool::builder()
            .jobs(1)
            .timeout(Duration::from_millis(100))
            .build();
        let t0 = Instant::now();
        let done: Vec<Done> = pool.map([pt(&["sleep", "30"])]).collect();
        assert_eq!(done[0].failure(), Some(Failure::Timeout));
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!(done[0].status().and_then(|s| s.signal()), Some(9));
    }

    #[test]
    fn a_missing_duct_program_is_a_spawn_failure() {
        let pool = Pool::new(1);
        let done: Vec<Done> = pool
            .map([duct::cmd!("procession-no-such-program")])
            .collect();
        assert_eq!(done[0].failure(), Some(Failure::Spawn));
    }
}

#[test]
fn a_commands_own_shorter_timeout_still_applies() {
    let pool = Pool::builder().timeout(Duration::from_secs(60)).build();
    let own = Duration::from_millis(100);
    let done: Vec<Done> = pool.map([pt_cmd(&["sleep", "30"]).timeout(own)]).collect();
    assert_eq!(done[0].failure(), Some(Failure::Timeout));
    let limit = done[0]
        .error()
        .and_then(Error::timeout)
        .and_then(|t| t.limit());
    assert_eq!(limit, Some(own));
}

#[test]
fn the_pool_and_its_results_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    send_sync::<procession::JobHandle>();
    send_sync::<Done>();
    send_sync::<Summary>();
    // A pool shared by scoped threads runs their batches side by side, in
    // its one set of slots.
    let pool = Pool::new(2);
    let job = || pt_cmd(&["sleep", "0.05"]);
    let done: Vec<Done> = std::thread::scope(|s| {
        let a = s.spawn(|| pool.as_completed((0..6).map(|_| job())).collect::<Vec<_>>());
        let b = s.spawn(|| pool.map((0..6).map(|_| job())).collect::<Vec<_>>());
        let c = s.spawn(|| (0..6).map(|_| pool.submit(job())).collect::<Vec<_>>());
        let submitted = c.join().unwrap();
        let mut all = a.join().unwrap();
        all.extend(b.join().unwrap());
        pool.close();
        assert_eq!(pool.join().succeeded, 6);
        assert!(submitted.iter().all(|h| h.try_done().is_some()));
        all
    });
    assert_eq!(done.len(), 12);
    let slack = Duration::from_millis(1);
    for d in &done {
        let (start, end) = (d.start_time(), d.start_time() + d.elapsed() - slack);
        let overlapping: Vec<&Done> = done
            .iter()
            .filter(|o| o.start_time() <= start && start < o.start_time() + o.elapsed() - slack)
            .collect();
        assert!(overlapping.len() <= 2, "{} jobs at once", overlapping.len());
        let slots: BTreeSet<usize> = overlapping.iter().map(|o| o.slot()).collect();
        assert_eq!(
            slots.len(),
            overlapping.len(),
            "two running jobs shared a slot"
        );
        assert!(end > start);
    }
}
