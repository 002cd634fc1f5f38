//! The outbox: finished jobs not yet handed out, in the order they finish
//! or in input order, and the order window that bounds it.
//!
//! In input order a finished job waits until every job before it was handed
//! out. To bound that wait (and the memory it takes), a job is only pulled
//! from the input while fewer than `window` jobs separate it from the
//! oldest one not yet handed out ([`may_pull`]).

use std::collections::{BTreeMap, VecDeque};

/// Whether the job numbered `next_seq` may be pulled while `oldest` is the
/// oldest job not yet handed out: fewer than `window` jobs separate them.
///
/// A window of 0 or 1 lets one job run at a time in input order.
pub(crate) fn may_pull(next_seq: u64, oldest: u64, window: usize) -> bool {
    let window = (window as u64).max(1);
    next_seq.saturating_sub(oldest) < window
}

/// Finished jobs not yet handed out.
pub(crate) enum Outbox<T> {
    /// As they finish.
    Completed(VecDeque<T>),
    /// By sequence number; `None` marks a job pulled but never started.
    Ordered {
        /// The oldest job not yet handed out.
        next: u64,
        buffer: BTreeMap<u64, Option<T>>,
    },
}

impl<T> Outbox<T> {
    /// An outbox handing jobs out in input order (numbered from 1), or as
    /// they finish.
    pub(crate) fn new(ordered: bool) -> Outbox<T> {
        if ordered {
            Outbox::Ordered {
                next: 1,
                buffer: BTreeMap::new(),
            }
        } else {
            Outbox::Completed(VecDeque::new())
        }
    }

    /// Job `seq` finished (`None`: it will never start, and is handed out
    /// as nothing).
    pub(crate) fn push(&mut self, seq: u64, item: Option<T>) {
        match self {
            Outbox::Completed(queue) => queue.extend(item),
            Outbox::Ordered { buffer, .. } => {
                buffer.insert(seq, item);
            }
        }
    }

    /// The next job to hand out, if its turn came.
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            Outbox::Completed(queue) => queue.pop_front(),
            Outbox::Ordered { next, buffer } => loop {
                let entry = buffer.remove(next)?;
                *next += 1;
                if entry.is_some() {
                    return entry;
                }
            },
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Outbox::Completed(queue) => queue.is_empty(),
            Outbox::Ordered { buffer, .. } => buffer.is_empty(),
        }
    }

    /// Whether the job numbered `next_seq` may be pulled, as far as the
    /// order is concerned (see [`may_pull`]).
    pub(crate) fn may_pull(&self, next_seq: u64, window: usize) -> bool {
        match self {
            Outbox::Completed(_) => true,
            Outbox::Ordered { next, .. } => may_pull(next_seq, *next, window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_table() {
        let table = [
            // (next to pull, oldest not handed out, window, may pull)
            (1, 1, 16, true),
            (16, 1, 16, true), // 15 jobs between: the last one that fits
            (17, 1, 16, false),
            (17, 2, 16, true), // job 1 handed out: room again
            (5, 5, 1, true),   // a window of 1: one job at a time
            (6, 5, 1, false),
            (5, 5, 0, true), // 0 counts as 1
            (6, 5, 0, false),
            (u64::MAX, 1, 16, false),
            (u64::MAX, 1, usize::MAX, true), // a window as wide as the input
        ];
        for (next_seq, oldest, window, expected) in table {
            assert_eq!(
                may_pull(next_seq, oldest, window),
                expected,
                "{next_seq} {oldest} {window}"
            );
        }
    }

    #[test]
    fn input_order_waits_for_its_turn_and_skips_jobs_never_started() {
        let mut out = Outbox::new(true);
        out.push(3, Some("c"));
        out.push(1, Some("a"));
        assert_eq!(out.pop(), Some("a"));
        assert_eq!(out.pop(), None, "job 2 has not finished");
        assert!(out.may_pull(17, 16) && !out.may_pull(18, 16));
        out.push(2, None);
        assert_eq!(out.pop(), Some("c"));
        assert!(out.is_empty());
        assert!(out.may_pull(19, 16));
    }

    #[test]
    fn completion_order_hands_out_as_pushed_and_never_blocks_a_pull() {
        let mut out = Outbox::new(false);
        out.push(3, Some("c"));
        out.push(2, None);
        out.push(1, Some("a"));
        assert!(out.may_pull(1000, 1));
        assert_eq!(
            (out.pop(), out.pop(), out.pop()),
            (Some("c"), Some("a"), None)
        );
        assert!(out.is_empty());
    }
}
