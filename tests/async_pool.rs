//! The pool from async code: `JobHandle::wait_async` and `done_async` on
//! every executor, several awaiting one job, and a dropped future that
//! leaves the job to the pool; `join_async` and `terminate_async`; the
//! streams `as_completed_async` and `map_async`, whose retry delays and
//! deadline fire with nothing else to wake the task.

mod support;
#[macro_use]
#[path = "support/executors.rs"]
mod executors;

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::Context;
use std::time::{Duration, Instant};

use futures::StreamExt;
use procession::{Command, Error, Failure, JobEvent, JobOutput, Pool, Retry, StopCause};
use support::procfs;

/// An upper bound on "did not hang".
const HANG: Duration = Duration::from_secs(30);

on_every_executor!(job_handle_wait_async, |pt| async move {
    let pool = Pool::new(2);
    let jobs: Vec<_> = (0..4)
        .map(|i| {
            pool.submit(
                Command::new(pt)
                    .args(["echo", &i.to_string()])
                    .stdout_capture(),
            )
        })
        .collect();
    let failing = pool.submit(Command::new(pt).args(["exit", "3"]));
    for (i, job) in jobs.iter().enumerate() {
        let (a, b) = futures::join!(job.wait_async(), job.done_async());
        assert_eq!(a.expect("runs").stdout, format!("{i}\n").as_bytes());
        assert!(b.result().is_ok());
    }
    let err = failing.wait_async().await.expect_err("fails");
    assert!(matches!(err, Error::Exit(_)), "{err}");
    assert_eq!(
        failing.done_async().await.status().and_then(|s| s.code()),
        Some(3)
    );
});

#[test]
fn dropping_done_async_leaves_the_job_running() {
    let pool = Pool::new(1);
    let job = pool.submit(Command::new(support::pt()).args(["sleep", "30"]));
    {
        let waker = futures::task::noop_waker();
        let mut done = pin!(job.done_async());
        assert!(
            done.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
    }
    assert!(job.try_done().is_none(), "the job still runs");
    pool.terminate();
    assert!(job.try_done().is_some(), "terminate ends it");
}

on_every_executor!(join_async_after_close, |pt| async move {
    let pool = Pool::new(3);
    for i in 0..5 {
        pool.submit(Command::new(pt).args(["exit", &(i % 2).to_string()]));
    }
    pool.close();
    let summary = pool.join_async().await;
    assert_eq!((summary.succeeded, summary.failed), (3, 2));
    // Joined once more: the same counts, at once.
    assert_eq!(pool.join_async().await.finished, 5);
});

on_every_executor!(terminate_async_stops_and_reaps, |pt| async move {
    let (tx, started) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let pool = Pool::builder()
        .jobs(2)
        .on_event(move |event| {
            if let JobEvent::Started { pids, .. } = event {
                let _ = tx.lock().unwrap().send(pids.to_vec());
            }
        })
        .build();
    let jobs: Vec<_> = (0..3)
        .map(|_| pool.submit(Command::new(pt).args(["sleep", "30"])))
        .collect();
    let mut pids = Vec::new();
    for _ in 0..2 {
        pids.extend(started.recv_timeout(HANG).expect("two jobs start"));
    }
    pool.terminate_async().await;
    for pid in &pids {
        assert!(procfs::stat(*pid).is_none(), "{pid} was not reaped");
    }
    let failures: Vec<_> = jobs
        .iter()
        .map(|j| j.try_done().expect("reported").failure())
        .collect();
    let stopped = Some(Failure::Stopped(StopCause::Terminate));
    assert_eq!(failures, [stopped, stopped, Some(Failure::Skipped)]);
});

/// Ends the test process if `f` has not returned within [`HANG`]: a
/// stream that is never woken again would otherwise hang the test.
async fn within_hang<T>(what: &'static str, f: impl Future<Output = T>) -> T {
    let (done, watched) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = watched.recv_timeout(HANG) {
            eprintln!("{what}: never woken again");
            std::process::exit(101);
        }
    });
    let value = f.await;
    let _ = done.send(());
    value
}

on_every_executor!(as_completed_async_reports_each_job_once, |pt| async move {
    let pool = Pool::new(4);
    let jobs = (0..24).map(move |i| {
        let code = if i % 5 == 0 { "1" } else { "0" };
        Command::new(pt).args(["exit", code])
    });
    let mut stream = pool.as_completed_async(jobs);
    let mut seqs = Vec::new();
    while let Some(done) = stream.next().await {
        assert_eq!(
            done.is_success(),
            (done.seq() - 1) % 5 != 0,
            "#{}",
            done.seq()
        );
        seqs.push(done.seq());
    }
    assert!(stream.next().await.is_none(), "fused");
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=24).collect::<Vec<u64>>());
    let summary = stream.summary();
    assert_eq!((summary.succeeded, summary.failed), (19, 5));
});

on_every_executor!(map_async_in_input_order, |pt| async move {
    let pool = Pool::new(4);
    // Later jobs finish first.
    let jobs = (0..8).map(move |i| {
        let secs = format!("0.{}", 8 - i);
        Command::new(pt).args(["sleep", &secs])
    });
    let order: Vec<u64> = pool.map_async(jobs).map(|d| d.seq()).collect().await;
    assert_eq!(order, (1..=8).collect::<Vec<u64>>());
    let summary = pool
        .map_async((0..5).map(move |_| Command::new(pt).args(["exit", "0"])))
        .finish_async()
        .await;
    assert_eq!(summary.succeeded, 5);
});

on_every_executor!(
    retry_delay_fires_without_polling_elsewhere,
    |pt| async move {
        let delay = Duration::from_millis(300);
        let pool = Pool::builder()
            .jobs(1)
            .retry(Retry::attempts(2).delay(delay))
            .build();
        let began = Instant::now();
        // Nothing but the background loop's timer can wake the task for the
        // retry: no other job runs, no other future is polled.
        let done: Vec<_> = within_hang(
            "retry",
            pool.as_completed_async([Command::new(pt).args(["exit", "3"])])
                .collect(),
        )
        .await;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].attempts(), 2);
        assert_eq!(done[0].failure(), Some(Failure::Exit(3)));
        assert!(began.elapsed() >= delay, "retried before its delay");
    }
);

on_every_executor!(pool_deadline_ends_the_stream, |pt| async move {
    let pool = Pool::builder()
        .jobs(1)
        .deadline(Instant::now() + Duration::from_millis(200))
        .build();
    let jobs = [
        Command::new(pt).args(["sleep", "30"]),
        Command::new(pt).args(["exit", "0"]),
    ];
    let mut stream = pool.map_async(jobs);
    let done: Vec<_> = within_hang("deadline", stream.by_ref().collect()).await;
    assert_eq!(done.len(), 1, "the second job never started");
    assert_eq!(
        done[0].failure(),
        Some(Failure::Stopped(StopCause::Deadline))
    );
    assert_eq!(
        stream.summary().halted,
        Some(procession::HaltReason::Deadline)
    );
});

on_every_executor!(pool_deadline_with_a_retry_pending, |pt| async move {
    // The retry's delay outlasts the deadline: only the deadline's timer
    // can end the stream.
    let pool = Pool::builder()
        .jobs(1)
        .retry(Retry::attempts(2).delay(Duration::from_secs(600)))
        .deadline(Instant::now() + Duration::from_millis(300))
        .build();
    let done: Vec<_> = within_hang(
        "deadline",
        pool.as_completed_async([Command::new(pt).args(["exit", "4"])])
            .collect(),
    )
    .await;
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].attempts(), done[0].failure()),
        (1, Some(Failure::Exit(4)))
    );
});

/// Set in the re-executed copy of this test binary that runs
/// [`output_child`]'s batch with its stdout to the test: `grouped` or
/// `tagged`.
const OUTPUT_CHILD: &str = "PROCESSION_ASYNC_POOL_OUTPUT_CHILD";

/// How many jobs the child's batch runs.
const OUTPUT_JOBS: usize = 6;

/// What job `i` (from 0) of `case` runs: `pt lines N INTERVAL_MS`, which
/// prints `out 0`, `out 2`, ... to stdout (the odd ones to stderr). Grouped
/// jobs print a few lines, more slowly the earlier the job. The one tagged
/// job prints about 600 KiB: more than a pipe holds, less than the
/// writer's queue (1 MiB), so it ends while its lines wait to be written.
fn output_job(case: &str, i: usize) -> (usize, usize) {
    match case {
        "tagged" => (90_001, 0),
        _ => (2 * i + 1, 2 * (OUTPUT_JOBS - i)),
    }
}

/// The stdout lines of job `i` of `case`.
fn output_lines(case: &str, i: usize) -> impl Iterator<Item = String> {
    (0..output_job(case, i).0)
        .step_by(2)
        .map(|k| format!("out {k}"))
}

/// Not a test of its own: the child's side of the output tests. It prints
/// `done N` as job N is handed out, and exits as soon as the stream ends.
#[test]
fn output_child() {
    let case = std::env::var(OUTPUT_CHILD).unwrap_or_default();
    #[cfg(feature = "duct")]
    if case == "duct-tagged" {
        // A duct expression's output cannot be streamed: it is spooled.
        let pool = Pool::builder().output(JobOutput::Tagged).build();
        let job = duct::cmd(support::pt(), ["echo", "spooled"]);
        let mut stream = pool.as_completed_async([job]);
        while let Some(done) = futures::executor::block_on(stream.next()) {
            assert!(done.is_success());
            println!("done {}", done.seq());
        }
        std::process::exit(0);
    }
    let output = match case.as_str() {
        "grouped" => JobOutput::Grouped,
        "tagged" => JobOutput::Tagged,
        _ => return,
    };
    let count = if case == "tagged" { 1 } else { OUTPUT_JOBS };
    let pool = Pool::builder().jobs(OUTPUT_JOBS).output(output).build();
    let jobs = (0..count).map(move |i| {
        let (lines, interval) = output_job(&case, i);
        Command::new(support::pt())
            .args(["lines", &lines.to_string(), &interval.to_string()])
            .stderr_null()
    });
    futures::executor::block_on(async {
        let mut stream = pool.map_async(jobs);
        while let Some(done) = stream.next().await {
            assert!(done.is_success());
            // Stderr first: stdout may be held by the writer thread.
            eprintln!("done {}", done.seq());
            println!("done {}", done.seq());
        }
    });
    // Output still on its way would be lost.
    std::process::exit(0);
}

/// The child's stdout lines for `case`, the test harness's own left out.
fn child_output(case: &str) -> Vec<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "output_child", "--nocapture", "--test-threads=1"])
        .timeout(HANG)
        .env(OUTPUT_CHILD, case)
        .stderr_null()
        .read()
        .expect("the child runs");
    // The harness's own "test output_child ... " starts the first line.
    out.lines()
        .map(|l| l.trim_start_matches("test output_child ... "))
        .filter(|l| l.starts_with("out ") || l.starts_with("done ") || l.starts_with('['))
        .map(str::to_string)
        .collect()
}

#[test]
fn grouped_output_is_whole_in_order_and_out_before_its_job() {
    let seen = child_output("grouped");
    let expected: Vec<String> = (0..OUTPUT_JOBS)
        .flat_map(|i| output_lines("grouped", i).chain([format!("done {}", i + 1)]))
        .collect();
    assert_eq!(seen, expected);
}

/// Spooled output (a duct job's, tagged) is copied out before its job.
#[cfg(feature = "duct")]
#[test]
fn spooled_output_is_out_before_its_job() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "output_child", "--nocapture", "--test-threads=1"])
        .timeout(HANG)
        .env(OUTPUT_CHILD, "duct-tagged")
        .stderr_null()
        .read()
        .expect("the child runs");
    let spooled = out
        .find("spooled")
        .unwrap_or_else(|| panic!("lost: {out:?}"));
    let done = out
        .find("done 1")
        .unwrap_or_else(|| panic!("never handed out: {out:?}"));
    assert!(spooled < done, "{out:?}");
}

/// A tagged job ends while its lines still wait for a stdout that nobody
/// reads: the stream must not hand it out (its `done` comes on stderr)
/// until they are written.
#[test]
fn tagged_lines_are_out_before_their_job() {
    use std::io::{BufRead, Read};
    use std::os::fd::OwnedFd;
    let (mut out_reader, out_writer) = os_pipe::pipe().expect("pipe");
    let (err_reader, err_writer) = os_pipe::pipe().expect("pipe");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "output_child", "--nocapture", "--test-threads=1"])
        .timeout(HANG)
        .env(OUTPUT_CHILD, "tagged")
        .stdout_file(std::fs::File::from(OwnedFd::from(out_writer)))
        .stderr_file(std::fs::File::from(OwnedFd::from(err_writer)))
        .start()
        .expect("the child starts");
    let (tx, handed_out) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err_reader)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("done") {
                let _ = tx.send(line);
            }
        }
    });
    // The job takes a few milliseconds; had it been handed out without its
    // lines, its `done` would come in that time.
    if let Ok(line) = handed_out.recv_timeout(Duration::from_secs(2)) {
        panic!("{line} came while the job's lines could not be written");
    }
    let mut out = String::new();
    out_reader.read_to_string(&mut out).expect("reads stdout");
    child.wait().expect("the child passes");
    let seen: Vec<&str> = out
        .lines()
        .map(|l| l.trim_start_matches("test output_child ... "))
        .filter(|l| l.starts_with('[') || l.starts_with("done"))
        .collect();
    let expected: Vec<String> = output_lines("tagged", 0)
        .map(|l| format!("[1] {l}"))
        .chain(["done 1".to_string()])
        .collect();
    assert!(
        seen.iter().copied().eq(expected.iter().map(String::as_str)),
        "{} lines, {} expected; the last: {:?}",
        seen.len(),
        expected.len(),
        seen.last()
    );
}

/// `next()` is cancel-safe: dropped by `select!` whenever a timer ticks
/// first, it loses no job and reports none twice.
#[test]
fn next_in_a_select_loop_loses_no_job() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = Pool::new(3);
        let jobs = (0..12).map(|i| {
            let secs = format!("0.0{}", i % 4);
            Command::new(support::pt()).args(["sleep", &secs])
        });
        let mut stream = pool.as_completed_async(jobs);
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let (mut seqs, mut ticks) = (Vec::new(), 0);
        loop {
            tokio::select! {
                done = stream.next() => match done {
                    Some(done) => seqs.push(done.seq()),
                    None => break,
                },
                _ = tick.tick() => ticks += 1,
            }
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=12).collect::<Vec<u64>>());
        assert!(ticks > 1, "the timer won some rounds");
    });
}
