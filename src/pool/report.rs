//! A batch's reporting: the event callback, the job log, the counts, the
//! progress bar, and the halt rule that the counts feed.
//!
//! The batch decides what happened to a job; the [`Reporter`] tells the
//! world, keeps the counts, and says whether the halt rule now stops the
//! batch.

use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, catch_panic};

use super::dispatch::Inner;
use super::job::{Done, HaltReason, Job, JobEvent, Summary};
use super::policy::{self, Failure, HaltAction, Tally};
use super::progress::Bar;

/// A batch's reports and counts. See the module docs.
pub(crate) struct Reporter {
    /// The pool, for its settings.
    pool: Arc<Inner>,
    summary: Summary,
    /// The counts the halt rule looks at.
    tally: Tally,
    pub(crate) bar: Bar,
}

impl Reporter {
    /// The reporter of a batch of `total` jobs, if known.
    pub(crate) fn new(pool: Arc<Inner>, total: Option<u64>) -> Reporter {
        let config = &pool.config;
        let interval = config.progress.then_some(config.progress_interval);
        Reporter {
            pool,
            summary: Summary::default(),
            tally: Tally::default(),
            bar: Bar::new(interval, total),
        }
    }

    /// The counts so far.
    pub(crate) fn summary(&self, halted: Option<HaltReason>) -> Summary {
        let mut summary = self.summary.clone();
        summary.halted = halted;
        summary
    }

    /// A retry's spawn was reported (whether or not it started).
    pub(crate) fn retried(&mut self) {
        self.summary.retries += 1;
    }

    /// An attempt started: the `Started` event. Returns the callback's
    /// panic message, if it panicked.
    pub(crate) fn started(
        &self,
        job: &Job,
        seq: u64,
        slot: usize,
        attempt: u32,
        pids: &[u32],
    ) -> Option<String> {
        let on_event = self.pool.config.on_event.as_ref()?;
        let command = job.to_string();
        let event = JobEvent::Started {
            seq,
            slot,
            attempt,
            pids,
            command: &command,
        };
        catch_panic(|| on_event(&event)).err()
    }

    /// Writes an attempt's line to the job log, if there is one, counting
    /// a line that could not be written.
    pub(crate) fn log(&mut self, done: &Done) {
        if let Some(log) = &self.pool.config.joblog {
            if !log.record(done) {
                self.summary.joblog_lost += 1;
            }
        }
    }

    /// A job finished for good: event, job log (unless its last attempt
    /// was logged already, when it ended), counts and bar. Returns the job
    /// (failed, if the callback panicked) and what the halt rule says now.
    pub(crate) fn finished(&mut self, mut done: Done, log: bool) -> (Done, HaltAction) {
        if let Some(on_event) = &self.pool.config.on_event {
            if let Err(message) = catch_panic(|| on_event(&JobEvent::Finished(&done))) {
                done.result = Err(callback_error(done.seq, &message));
                done.failure = Some(Failure::Other);
            }
        }
        if log {
            self.log(&done);
        }
        self.summary.finished += 1;
        match done.failure {
            None => self.summary.succeeded += 1,
            Some(Failure::Stopped(_)) => self.summary.stopped += 1,
            Some(_) => self.summary.failed += 1,
        }
        if !matches!(done.failure, Some(Failure::Stopped(_))) {
            self.tally.finished += 1;
            self.tally.failed += u64::from(done.failure.is_some());
        }
        self.bar.finished(&done);
        let action = policy::halt_action(&self.pool.config.halt, self.tally);
        (done, action)
    }

    /// Jobs that will never start.
    pub(crate) fn skipped(&mut self, count: u64) {
        self.summary.skipped += count;
    }

    /// The batch is over.
    pub(crate) fn finish(&mut self, halted: Option<HaltReason>) {
        self.summary.halted = halted;
        self.bar.finish(halted.is_none());
    }

    /// The bar's next tick is due by `now`: draws it.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.bar.tick(now);
    }
}

/// The error of a job whose event callback panicked.
pub(crate) fn callback_error(seq: u64, message: &str) -> Error {
    Error::panicked(
        format!("the pool's event callback panicked on job #{seq}"),
        message,
    )
}
