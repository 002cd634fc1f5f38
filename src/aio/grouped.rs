//! Grouped pool output for the async streams: copied to this process's
//! stdout and stderr off the executor's thread, in the order the reports
//! are handed out.
//!
//! A blocking batch copies a job's grouped output before it hands the job
//! out. An async stream must not write to a terminal or a pipe on the
//! executor's thread (a slow reader would stall every task), so it queues
//! the copy here and holds the job: one spawning thread at a time drains
//! the queue, so jobs' outputs stay whole and in order, and wakes the
//! stream when it is drained, which then hands the job out (and ends only
//! once the queue is drained: a program that exits after the stream's last
//! item loses no output).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::output::Output;
use crate::pool::{Done, Spool, copy_captured, suspend_bars};
use crate::sync::lock;

/// One job's output to copy.
enum Copy {
    /// Captured in memory (and perhaps a spill file).
    Captured(Output),
    /// In spool files.
    Spool(Spool),
}

#[derive(Default)]
struct Queue {
    copies: VecDeque<Copy>,
    /// A spawning thread is draining the queue.
    draining: bool,
    /// The stream's task, waiting for the queue to drain.
    waker: Option<Waker>,
}

/// The queue of one async batch's grouped output (see the module docs).
#[derive(Default)]
pub(crate) struct GroupedCopier {
    queue: Arc<Mutex<Queue>>,
}

impl GroupedCopier {
    /// Queues the grouped output of `done` (its captured streams, which are
    /// taken out of it, or its `spool`) to be copied out after the jobs
    /// queued before.
    pub(crate) fn copy_later(&self, done: &mut Done, spool: Option<Spool>) {
        let copy = match spool {
            Some(spool) => Copy::Spool(spool),
            None => {
                let output = match &mut done.result {
                    Ok(output) => Some(output),
                    Err(error) => error.output_mut(),
                };
                let Some(output) = output else {
                    return;
                };
                Copy::Captured(Output {
                    stdout: std::mem::take(&mut output.stdout),
                    stderr: std::mem::take(&mut output.stderr),
                    stdout_spilled: output.stdout_spilled.take(),
                    stderr_spilled: output.stderr_spilled.take(),
                    ..output.clone()
                })
            }
        };
        let start = {
            let mut queue = lock(&self.queue);
            queue.copies.push_back(copy);
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            let queue = self.queue.clone();
            crate::pool::spawner::run(Box::new(move || {
                drain(&queue);
                None
            }));
        }
    }
}

impl GroupedCopier {
    /// Ready once everything queued is copied out; else `cx`'s task is
    /// woken when it is.
    pub(crate) fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut queue = lock(&self.queue);
        if !queue.draining {
            return Poll::Ready(());
        }
        queue.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Copies out what is queued, oldest first, until the queue is empty.
/// A failed write marks the output closed, which halts the batch at its
/// next step.
fn drain(queue: &Mutex<Queue>) {
    loop {
        let copy = {
            let mut queue = lock(queue);
            match queue.copies.pop_front() {
                Some(copy) => copy,
                None => {
                    queue.draining = false;
                    let waker = queue.waker.take();
                    drop(queue);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    return;
                }
            }
        };
        let _ = suspend_bars(|| match copy {
            Copy::Captured(mut output) => copy_captured(&mut output),
            Copy::Spool(mut spool) => spool.copy_out(),
        });
    }
}
