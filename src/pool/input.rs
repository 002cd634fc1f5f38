//! Where a batch's jobs come from: the [`Input`] a batch pulls from, and
//! the caller's iterator as one (`submit.rs` has the other, the queue of
//! submitted jobs).

use super::job::Job;

/// What an input gives when asked for a job.
pub(crate) enum Pull {
    /// A job, with its sequence number if the input assigns them.
    Job(Job, Option<u64>),
    /// Nothing now; ask again after a notification.
    Later,
    /// Nothing ever again.
    End,
}

/// Where a batch's jobs come from.
///
/// `pull` is called without the pool's lock held; the other methods are
/// called under it (so that the batch decides whether to wait without
/// missing a change).
pub(crate) trait Input {
    /// The next job.
    fn pull(&mut self) -> Pull;
    /// Whether `pull` may give a job now.
    fn can_pull(&self) -> bool;
    /// How many jobs are left, when known.
    fn remaining(&self) -> Option<u64>;
    /// Whether the input is known to be over without pulling.
    fn ended(&self) -> bool {
        false
    }
    /// How many jobs the input gives in all, once known while the batch
    /// runs (submitted jobs, once the pool is closed).
    fn total(&self) -> Option<u64> {
        None
    }
}

/// A caller's iterator of jobs, pulled lazily.
pub(crate) struct IterInput<I>(pub(crate) I);

impl<I> Input for IterInput<I>
where
    I: Iterator,
    I::Item: Into<Job>,
{
    fn pull(&mut self) -> Pull {
        match self.0.next() {
            Some(job) => Pull::Job(job.into(), None),
            None => Pull::End,
        }
    }

    fn can_pull(&self) -> bool {
        true
    }

    fn remaining(&self) -> Option<u64> {
        match self.0.size_hint() {
            (low, Some(high)) if low == high => Some(low as u64),
            _ => None,
        }
    }
}
