//! What a batch hears about its attempts (its inbox), and the rule that
//! hands each attempt's start and end over in order.
//!
//! A spawning thread reports an attempt's start; the engine's background
//! thread (or the spawning thread itself) reports its end. The two race: an
//! end can reach the batch before its start. [`Arrivals`] holds such an end
//! back until the start came, so the batch always handles a start first.

use std::time::{Instant, SystemTime};

use crate::error::Error;
use crate::output::Output;

use super::backend::Started;

/// What a batch hears about its attempts, in order.
pub(crate) enum Message {
    /// A spawning thread started the attempt (or failed to).
    Started(Spawned),
    /// The attempt is over.
    Done(Completion),
    /// The attempt's output files could not be set up for want of
    /// descriptors while other attempts ran: set them up again and queue
    /// it anew (see `dispatch::waits_for_descriptors`).
    Again(u64),
}

/// An attempt's start, reported by the spawning thread.
pub(crate) struct Spawned {
    pub(crate) seq: u64,
    pub(crate) slot: usize,
    /// The pool was terminated before the spawn: nothing was started.
    pub(crate) skipped: bool,
    pub(crate) result: Result<Started, Error>,
    /// When the spawn began.
    pub(crate) at: Instant,
    pub(crate) time: SystemTime,
    /// The start failed and paused the batch: judging it lifts that pause
    /// (see `Inner::resume`).
    pub(crate) paused: bool,
}

/// A finished attempt, on its way to its batch.
pub(crate) struct Completion {
    pub(crate) seq: u64,
    pub(crate) result: Result<Output, Error>,
    pub(crate) ended: Instant,
    /// The attempt failed and paused the batch: judging it lifts that
    /// pause (see `Inner::resume`).
    pub(crate) paused: bool,
}

impl Message {
    /// The attempt's sequence number.
    pub(crate) fn seq(&self) -> u64 {
        match self {
            Message::Started(spawned) => spawned.seq,
            Message::Done(completion) => completion.seq,
            Message::Again(seq) => *seq,
        }
    }
}

/// One attempt's reports, so far: the rule that hands its start and end
/// over in order.
pub(crate) struct Arrivals {
    /// Its start has not been reported yet.
    spawning: bool,
    /// Its end, when reported before its start.
    early: Option<Completion>,
}

impl Arrivals {
    /// An attempt whose start is still to come.
    pub(crate) fn new() -> Arrivals {
        Arrivals {
            spawning: true,
            early: None,
        }
    }

    /// A report came: what to handle now, in order. An end that overtakes
    /// its start is held back, and handed over right after the start.
    pub(crate) fn arrive(&mut self, message: Message) -> [Option<Message>; 2] {
        match message {
            Message::Done(completion) if self.spawning => {
                self.early = Some(completion);
                [None, None]
            }
            Message::Done(completion) => [Some(Message::Done(completion)), None],
            Message::Started(spawned) => {
                self.spawning = false;
                let early = self.early.take().map(Message::Done);
                [Some(Message::Started(spawned)), early]
            }
            // Not started: its start is still to come, after its new spawn.
            Message::Again(seq) => [Some(Message::Again(seq)), None],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(seq: u64) -> Message {
        Message::Started(Spawned {
            seq,
            slot: 1,
            skipped: true,
            result: Err(Error::skipped(seq, "a test")),
            at: Instant::now(),
            time: SystemTime::now(),
            paused: false,
        })
    }

    fn end(seq: u64) -> Message {
        Message::Done(Completion {
            seq,
            result: Err(Error::skipped(seq, "a test")),
            ended: Instant::now(),
            paused: false,
        })
    }

    /// A message as a letter: `S` a start, `E` an end.
    fn letter(message: &Message) -> char {
        match message {
            Message::Started(_) => 'S',
            Message::Done(_) => 'E',
            Message::Again(_) => 'A',
        }
    }

    #[test]
    fn the_arrival_table() {
        // (reports as they arrive, what the batch handles, in order)
        let table: &[(&str, &str)] = &[
            ("SE", "SE"),
            ("ES", "SE"), // the end overtook its start
            ("S", "S"),
            ("E", ""),    // held until the start comes
            ("AS", "AS"), // its output files are set up again first
        ];
        for (arrived, handled) in table {
            let mut arrivals = Arrivals::new();
            let mut out = String::new();
            for c in arrived.chars() {
                let message = match c {
                    'S' => start(1),
                    'A' => Message::Again(1),
                    _ => end(1),
                };
                out.extend(arrivals.arrive(message).iter().flatten().map(letter));
            }
            assert_eq!(out, *handled, "{arrived}");
        }
    }
}
