//! The pool from async code: `Pool::join_async` and
//! `Pool::terminate_async`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use crate::pool::{Pool, Summary};

/// The future of [`Pool::join_async`]: the counts of the submitted jobs.
///
/// Dropping it does nothing to the pool or its jobs.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Join<'p> {
    pool: &'p Pool,
    done: bool,
}

impl Future for Join<'_> {
    type Output = Summary;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Summary> {
        let this = self.get_mut();
        let summary = std::task::ready!(this.pool.poll_join(cx.waker()));
        this.done = true;
        Poll::Ready(summary)
    }
}

impl FusedFuture for Join<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

/// The future of [`Pool::terminate_async`].
///
/// The stop is posted at its first poll and stays: dropping the future
/// after that only stops waiting for the jobs to be reaped.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Terminate<'p> {
    pool: &'p Pool,
    posted: bool,
    done: bool,
}

impl Future for Terminate<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        std::task::ready!(this.pool.poll_terminate(&mut this.posted, cx.waker()));
        this.done = true;
        Poll::Ready(())
    }
}

impl FusedFuture for Terminate<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Pool {
    /// The async twin of [`join`](Pool::join): the counts of the submitted
    /// jobs, once every job submitted so far is reported.
    ///
    /// Cancel-safe: dropping the future does nothing to the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// pool.submit(cmd!("true"));
    /// pool.submit(cmd!("false"));
    /// pool.close();
    /// let summary = futures::executor::block_on(pool.join_async());
    /// assert_eq!((summary.succeeded, summary.failed), (1, 1));
    /// ```
    pub fn join_async(&self) -> Join<'_> {
        Join {
            pool: self,
            done: false,
        }
    }

    /// The async twin of [`terminate`](Pool::terminate): stops every
    /// running job of every batch and starts nothing more; resolves once
    /// the stopped jobs are reaped.
    ///
    /// The stop is posted at the first poll (a future never polled does
    /// nothing) and stays: dropping the future later only stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Failure, Pool};
    ///
    /// let pool = Pool::new(1);
    /// let job = pool.submit(cmd!("sleep", "10"));
    /// futures::executor::block_on(pool.terminate_async());
    /// assert!(job.try_done().is_some_and(|d| d.failure().is_some()));
    /// ```
    pub fn terminate_async(&self) -> Terminate<'_> {
        Terminate {
            pool: self,
            posted: false,
            done: false,
        }
    }
}
