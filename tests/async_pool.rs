//! The pool from async code: `JobHandle::wait_async` and `done_async` on
//! every executor, several awaiting one job, and a dropped future that
//! leaves the job to the pool.

mod support;
#[macro_use]
#[path = "support/executors.rs"]
mod executors;

use std::future::Future;
use std::pin::pin;
use std::task::Context;

use procession::{Command, Error, Pool};

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
