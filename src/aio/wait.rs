//! `Handle::wait_async`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use crate::error::Error;
use crate::handle::Handle;
use crate::output::Output;

/// The future of [`Handle::wait_async`].
///
/// Dropping it does nothing to the command: the [`Handle`] owns the run.
/// Several may await one handle at once.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Wait<'h> {
    handle: &'h Handle,
    id: u64,
    done: bool,
}

impl<'h> Future for Wait<'h> {
    type Output = Result<&'h Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let handle: &'h Handle = this.handle;
        match handle.poll_result(this.id, cx.waker()) {
            None => Poll::Pending,
            Some(result) => {
                this.done = true;
                Poll::Ready(result)
            }
        }
    }
}

impl FusedFuture for Wait<'_> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.handle.forget_waiter(self.id);
        }
    }
}

impl Handle {
    /// The async twin of [`wait`](Handle::wait): resolves when the command
    /// is over, woken by the crate's background thread.
    ///
    /// Cancel-safe: dropping the future leaves the command running (the
    /// handle owns it). Any number of futures may await one handle, and
    /// each gets the same output, as `wait` does.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::cmd!("echo", "hi").stdout_capture().start()?;
    /// let out = futures::executor::block_on(handle.wait_async())?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok(()) }
    /// ```
    pub fn wait_async(&self) -> Wait<'_> {
        Wait {
            handle: self,
            id: self.waiter_id(),
            done: false,
        }
    }
}
