//! The iterators a pool's batches are read through:
//! [`Completed`] (as jobs finish) and [`Ordered`] (in input order).
//!
//! Both are the same wrapper around a batch (the batch knows its order):
//! one macro writes them, so that each public type keeps its own name and
//! docs while their code is written once.

use super::batch::Batch;
use super::input::IterInput;
use super::job::{Done, Job, Summary};

/// Writes a public iterator type over a batch: the struct (with the docs
/// given), `summary`, `finish`, `Iterator` and `Debug`.
macro_rules! batch_iterator {
    (
        $(#[$doc:meta])*
        struct $name:ident;
        $(#[$summary_doc:meta])*
        fn summary;
        $(#[$finish_doc:meta])*
        fn finish;
    ) => {
        $(#[$doc])*
        #[must_use = "the pool runs nothing until you iterate over this, or call finish()"]
        pub struct $name<'p, I>
        where
            I: Iterator,
            I::Item: Into<Job>,
        {
            batch: Batch<'p, IterInput<I>>,
        }

        impl<'p, I> $name<'p, I>
        where
            I: Iterator,
            I::Item: Into<Job>,
        {
            pub(crate) fn new(batch: Batch<'p, IterInput<I>>) -> Self {
                $name { batch }
            }

            $(#[$summary_doc])*
            pub fn summary(&self) -> Summary {
                self.batch.summary()
            }

            $(#[$finish_doc])*
            pub fn finish(mut self) -> Summary {
                while self.batch.next().is_some() {}
                self.batch.summary()
            }
        }

        impl<I> Iterator for $name<'_, I>
        where
            I: Iterator,
            I::Item: Into<Job>,
        {
            type Item = Done;

            fn next(&mut self) -> Option<Done> {
                self.batch.next()
            }
        }

        impl<I> std::fmt::Debug for $name<'_, I>
        where
            I: Iterator,
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

batch_iterator! {
    /// Finished jobs in the order they finish. See
    /// [`Pool::as_completed`](crate::Pool::as_completed).
    ///
    /// Jobs are pulled and started while you iterate. Dropping the iterator
    /// before the end kills the running jobs' process trees (`SIGKILL`) and
    /// waits until they are reaped; jobs not yet started are never started.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// let mut done = pool.as_completed([cmd!("true"), cmd!("false")]);
    /// let first = done.next().unwrap();
    /// assert!(first.seq() == 1 || first.seq() == 2);
    /// assert_eq!(done.count(), 1);
    /// ```
    struct Completed;

    /// The counts so far (final once the iterator returned `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// let mut done = pool.as_completed([cmd!("true"), cmd!("false")]);
    /// while done.next().is_some() {}
    /// let summary = done.summary();
    /// assert_eq!((summary.succeeded, summary.failed), (1, 1));
    /// ```
    fn summary;

    /// Runs the rest of the batch, dropping each finished job as it comes
    /// (nothing is kept), and returns the final counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(4);
    /// let summary = pool.as_completed((0..10).map(|_| cmd!("true"))).finish();
    /// assert_eq!(summary.succeeded, 10);
    /// ```
    fn finish;
}

batch_iterator! {
    /// Finished jobs in input order. See [`Pool::map`](crate::Pool::map).
    ///
    /// Jobs that finish ahead of their turn wait in a buffer of at most the
    /// pool's reorder window (see
    /// [`PoolBuilder::reorder_window`](crate::PoolBuilder::reorder_window)):
    /// no job starts while that many jobs separate it from the oldest one not
    /// yet handed out. Dropping the iterator early kills and reaps the running
    /// jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(4);
    /// let words = ["one", "two", "three"].map(|w| cmd!("echo", w).stdout_capture());
    /// let out: Vec<String> = pool.map(words).map(|d| d.output().unwrap().stdout_lossy()).collect();
    /// assert_eq!(out, ["one\n", "two\n", "three\n"]);
    /// ```
    struct Ordered;

    /// The counts so far (final once the iterator returned `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// let mut done = pool.map([cmd!("true"), cmd!("sleep", "1")]);
    /// assert_eq!(done.next().unwrap().seq(), 1);
    /// assert_eq!(done.summary().finished, 1);
    /// ```
    fn summary;

    /// Runs the rest of the batch, dropping each finished job, and returns
    /// the final counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// assert_eq!(pool.map([cmd!("true"), cmd!("false")]).finish().failed, 1);
    /// ```
    fn finish;
}
