//! The pool from async code: `Pool::map_async` and
//! `Pool::as_completed_async` (streams), `Pool::join_async` and
//! `Pool::terminate_async`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use futures_core::stream::{FusedStream, Stream};

use crate::pool::{Batch, Done, IterInput, Job, Pool, Summary};

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

/// Writes a public stream type over a batch: the struct (with the docs
/// given), `summary`, `finish_async`, `Stream`, `FusedStream`, `Drop` and
/// `Debug`.
macro_rules! batch_stream {
    (
        $(#[$doc:meta])*
        struct $name:ident;
    ) => {
        $(#[$doc])*
        #[must_use = "streams do nothing unless polled"]
        pub struct $name<I>
        where
            I: Iterator + Send + 'static,
            I::Item: Into<Job>,
        {
            /// Boxed, so that the stream is `Unpin`; taken by the drop.
            batch: Option<Box<Batch<'static, IterInput<I>>>>,
            /// A job whose output is not out yet: handed out once it is.
            held: Option<Done>,
            ended: bool,
        }

        impl<I> $name<I>
        where
            I: Iterator + Send + 'static,
            I::Item: Into<Job>,
        {
            pub(crate) fn new(batch: Batch<'static, IterInput<I>>) -> Self {
                $name {
                    batch: Some(Box::new(batch)),
                    held: None,
                    ended: false,
                }
            }

            /// The counts so far (final once the stream has ended).
            pub fn summary(&self) -> Summary {
                self.batch.as_ref().map(|b| b.summary()).unwrap_or_default()
            }

            /// Runs the rest of the batch, dropping each finished job as it
            /// comes, and resolves to the final counts: the async twin of
            /// the iterators' `finish`.
            pub async fn finish_async(mut self) -> Summary {
                while std::future::poll_fn(|cx| Pin::new(&mut self).poll_next(cx))
                    .await
                    .is_some()
                {}
                self.summary()
            }
        }

        impl<I> Stream for $name<I>
        where
            I: Iterator + Send + 'static,
            I::Item: Into<Job>,
        {
            type Item = Done;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Done>> {
                let this = self.get_mut();
                if this.ended {
                    return Poll::Ready(None);
                }
                let Some(batch) = this.batch.as_mut() else {
                    return Poll::Ready(None);
                };
                let next = match this.held.take() {
                    Some(done) => Some(done),
                    None => std::task::ready!(batch.poll_next(cx)),
                };
                // A job (and the end) only once the output of the jobs
                // handed out is out, as the blocking iterators do.
                if batch.poll_output_written(cx).is_pending() {
                    // At the end `next` is `None`: the batch says so again
                    // at the next poll.
                    this.held = next;
                    return Poll::Pending;
                }
                this.ended = next.is_none();
                Poll::Ready(next)
            }
        }

        impl<I> FusedStream for $name<I>
        where
            I: Iterator + Send + 'static,
            I::Item: Into<Job>,
        {
            fn is_terminated(&self) -> bool {
                self.ended
            }
        }

        impl<I> Drop for $name<I>
        where
            I: Iterator + Send + 'static,
            I::Item: Into<Job>,
        {
            /// Kills the running jobs' trees and starts no more, without
            /// waiting for the reaping.
            fn drop(&mut self) {
                if let Some(batch) = self.batch.take() {
                    drop_batch(batch);
                }
            }
        }

        impl<I> std::fmt::Debug for $name<I>
        where
            I: Iterator + Send + 'static,
            I::Item: Into<Job>,
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("summary", &self.summary())
                    .finish()
            }
        }
    };
}

/// Drops a stream's batch without blocking the executor: forgets its
/// prepared jobs and kills its running ones at once, then leaves the wait
/// for their reaping (milliseconds) to a short-lived thread of its own.
/// Not to a spawning thread: the attempts still being spawned wait for one,
/// and with every spawning thread waiting in such a drop none would come.
/// A batch with nothing running is dropped here (that waits for nothing);
/// so is one if no thread can be started.
fn drop_batch<I>(mut batch: Box<Batch<'static, IterInput<I>>>)
where
    I: Iterator + Send + 'static,
    I::Item: Into<Job>,
{
    if batch.is_idle() {
        return;
    }
    batch.stop_now();
    let _ = std::thread::Builder::new()
        .name("procession-drop".into())
        .spawn(move || drop(batch));
}

batch_stream! {
    /// Finished jobs as they finish, as a [`Stream`]: see
    /// [`Pool::as_completed_async`].
    ///
    /// `'static` and `Send`: it holds the pool's shared state, not a
    /// borrow of the [`Pool`], so it can be spawned as a task. Dropping it
    /// before the end kills the running jobs' trees (`SIGKILL`) and starts
    /// no more, at once; a short-lived thread of its own waits for the
    /// reaping, so the executor never does.
    struct CompletedStream;
}

batch_stream! {
    /// Finished jobs in input order, as a [`Stream`]: see
    /// [`Pool::map_async`].
    ///
    /// Jobs that finish ahead of their turn wait in the reorder window, as
    /// for [`Ordered`](crate::Ordered). `'static` and `Send`; dropping it
    /// early kills the running jobs' trees and starts no more, without
    /// waiting.
    struct OrderedStream;
}

impl Pool {
    /// The async twin of [`map`](Pool::map): the jobs' reports **in input
    /// order**, as a [`Stream`].
    ///
    /// The batch is driven while the stream is polled (by the task that
    /// polls it, woken by the pool's threads and the crate's background
    /// thread, never blocked). Retry delays and the pool's deadline fire
    /// on their own.
    ///
    /// As with the blocking iterators, a job is handed out once its output
    /// is out: with [`JobOutput::Grouped`](crate::JobOutput::Grouped),
    /// copied to stdout and stderr (off the executor's thread, in the order
    /// jobs are handed out); with
    /// [`JobOutput::Tagged`](crate::JobOutput::Tagged), its lines written.
    /// The stream waits for it without blocking: the thread that writes
    /// wakes it.
    ///
    /// What the blocking iterators do on the thread that iterates, the
    /// stream does on the task that polls it: pulling jobs from `jobs`,
    /// calling the [`on_event`](crate::PoolBuilder::on_event) callback and
    /// writing the job log. Keep them quick.
    ///
    /// Cancel-safe: a job is handed out by `next()`, or stays for the next
    /// call.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(3);
    /// let jobs = [0.2, 0.0, 0.1].map(|s| cmd!("sleep", s.to_string()));
    /// let order: Vec<u64> =
    ///     futures::executor::block_on(pool.map_async(jobs).map(|d| d.seq()).collect());
    /// assert_eq!(order, [1, 2, 3]);
    /// ```
    pub fn map_async<I>(&self, jobs: I) -> OrderedStream<I::IntoIter>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Into<Job>,
    {
        OrderedStream::new(self.batch(jobs.into_iter(), true))
    }

    /// The async twin of [`as_completed`](Pool::as_completed): the jobs'
    /// reports **as they finish**, as a [`Stream`]. As
    /// [`map_async`](Pool::map_async) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// let mut done = pool.as_completed_async([cmd!("sleep", "0.3"), cmd!("true")]);
    /// futures::executor::block_on(async {
    ///     assert_eq!(done.next().await.map(|d| d.seq()), Some(2));
    ///     assert_eq!(done.next().await.map(|d| d.seq()), Some(1));
    ///     assert!(done.next().await.is_none());
    /// });
    /// assert_eq!(done.summary().succeeded, 2);
    /// ```
    pub fn as_completed_async<I>(&self, jobs: I) -> CompletedStream<I::IntoIter>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Into<Job>,
    {
        CompletedStream::new(self.batch(jobs.into_iter(), false))
    }
}
