//! `JobHandle::wait_async` and `JobHandle::done_async`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use crate::error::Error;
use crate::output::Output;
use crate::pool::{Done, JobHandle};

/// The future of [`JobHandle::done_async`]: the job's report.
///
/// Dropping it does nothing to the job: the pool owns it. Several may
/// await one handle at once.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct JobDone<'h> {
    job: &'h JobHandle,
    id: u64,
    done: bool,
}

impl<'h> Future for JobDone<'h> {
    type Output = &'h Done;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'h Done> {
        let this = self.get_mut();
        let job: &'h JobHandle = this.job;
        match job.poll_done(this.id, cx.waker()) {
            None => Poll::Pending,
            Some(done) => {
                this.done = true;
                Poll::Ready(done)
            }
        }
    }
}

impl FusedFuture for JobDone<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for JobDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.job.forget_waiter(self.id);
        }
    }
}

/// The future of [`JobHandle::wait_async`]: the job's output or error.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct JobWait<'h>(JobDone<'h>);

impl<'h> Future for JobWait<'h> {
    type Output = Result<&'h Output, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|done| done.result().as_ref().map_err(Clone::clone))
    }
}

impl FusedFuture for JobWait<'_> {
    fn is_terminated(&self) -> bool {
        self.0.done
    }
}

impl JobHandle {
    /// The async twin of [`done`](JobHandle::done): the job's report, when
    /// it is over.
    ///
    /// Cancel-safe: dropping the future leaves the job to the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let job = pool.submit(procession::cmd!("sh", "-c", "exit 4"));
    /// let done = futures::executor::block_on(job.done_async());
    /// assert_eq!(done.status().and_then(|s| s.code()), Some(4));
    /// ```
    pub fn done_async(&self) -> JobDone<'_> {
        JobDone {
            job: self,
            id: self.waiter_id(),
            done: false,
        }
    }

    /// The async twin of [`wait`](JobHandle::wait): the job's output.
    ///
    /// Cancel-safe: dropping the future leaves the job to the pool.
    ///
    /// # Errors
    ///
    /// As [`wait`](JobHandle::wait), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let pool = procession::Pool::new(1);
    /// let job = pool.submit(procession::cmd!("echo", "hi").stdout_capture());
    /// assert_eq!(futures::executor::block_on(job.wait_async())?.stdout, b"hi\n");
    /// # Ok(()) }
    /// ```
    pub fn wait_async(&self) -> JobWait<'_> {
        JobWait(self.done_async())
    }
}
