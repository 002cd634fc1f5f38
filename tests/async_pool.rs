//! The pool from async code: `JobHandle::wait_async` and `done_async` on
//! every executor, several awaiting one job, and a dropped future that
//! leaves the job to the pool; `join_async` and `terminate_async`.

mod support;
#[macro_use]
#[path = "support/executors.rs"]
mod executors;

use std::future::Future;
use std::pin::pin;
use std::sync::mpsc;
use std::task::Context;
use std::time::Duration;

use procession::{Command, Error, Failure, JobEvent, Pool, StopCause};
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
