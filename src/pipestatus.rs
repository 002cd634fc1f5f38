//! The pipeline status rule, in one place.
//!
//! bash with `set -o pipefail` reports the status of the rightmost stage that
//! failed. We do the same, with two refinements:
//!
//! 1. A stage the user marked `unchecked()` (or whose code is in its allowed
//!    list) can fail without failing the pipeline, but a checked failure
//!    anywhere beats an unchecked one: **checked error > unchecked error >
//!    success**, and among equals **the rightmost stage decides**.
//! 2. **SIGPIPE after the reader left is success.** In `producer | head -n 1`,
//!    `head` exits after one line and the producer's next write kills it with
//!    `SIGPIPE`. That is how pipelines are meant to end, so a stage killed by
//!    `SIGPIPE` whose reader (the next stage) is gone counts as a success.
//!    A stage killed by `SIGPIPE` while its reader goes on running (the reader
//!    closed its input early and kept working, or the pipe led elsewhere) is a
//!    failure like any other signal. bash with `pipefail` reports the first
//!    case as status 141; this is our deliberate difference.
//!
//!    "Gone" cannot be an exact order of exits: GNU `head` closes its input
//!    just before it exits, so the producer often dies a moment before its
//!    reader. The reader counts as gone if it ended no later than
//!    [`READER_WINDOW`] after the producer.

use std::time::{Duration, Instant};

use crate::status::ExitStatus;

/// What a stage's end means for the pipeline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Verdict {
    Success,
    /// Failed, but the user said not to treat that as an error.
    UncheckedError,
    CheckedError,
}

/// Which exit codes a command accepts.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) enum Check {
    /// Only code 0 is success (the default).
    #[default]
    Zero,
    /// These codes are success too (for example `grep` exiting 1).
    Codes(Vec<i32>),
    /// Any end is accepted: the status is data, not an error.
    Unchecked,
}

/// How long after a producer's `SIGPIPE` its reader may still end and count
/// as having left first (see the module docs).
pub(crate) const READER_WINDOW: Duration = Duration::from_millis(200);

/// Whether a producer that ended at `producer` was killed by its reader
/// leaving, the reader having ended at `reader` (`None`: still running).
pub(crate) fn reader_was_gone(producer: Option<Instant>, reader: Option<Instant>) -> bool {
    match (producer, reader) {
        (Some(producer), Some(reader)) => reader <= producer + READER_WINDOW,
        _ => false,
    }
}

/// Judges one stage.
///
/// `reader_exited_first`: the stage's stdout fed the next stage, and that
/// stage had exited before this one died (see the module docs).
pub(crate) fn verdict(status: ExitStatus, check: &Check, reader_exited_first: bool) -> Verdict {
    const SIGPIPE: i32 = 13;
    let ok = match status.code() {
        Some(0) => true,
        Some(code) => matches!(check, Check::Codes(codes) if codes.contains(&code)),
        None => status.signal() == Some(SIGPIPE) && reader_exited_first,
    };
    if ok {
        Verdict::Success
    } else if *check == Check::Unchecked {
        Verdict::UncheckedError
    } else {
        Verdict::CheckedError
    }
}

/// The index of the stage whose status is the pipeline's status: the
/// rightmost stage with the worst verdict (the last stage when all succeed).
///
/// `verdicts` must not be empty.
pub(crate) fn deciding_stage(verdicts: &[Verdict]) -> usize {
    let worst = verdicts.iter().copied().max().unwrap_or(Verdict::Success);
    verdicts
        .iter()
        .rposition(|v| *v == worst)
        .unwrap_or(verdicts.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::Verdict::{CheckedError as C, Success as S, UncheckedError as U};
    use super::*;

    #[test]
    fn the_rule_table() {
        let table: &[(&[Verdict], usize)] = &[
            (&[S], 0),
            (&[C], 0),
            (&[S, S, S], 2),
            (&[C, S, S], 0),
            (&[S, C, S], 1),
            (&[C, S, C], 2), // rightmost failure decides
            (&[U, S], 0),
            (&[C, U], 0), // checked beats unchecked, even to its left
            (&[U, C, U], 1),
            (&[U, S, U], 2),
        ];
        for (verdicts, expected) in table {
            assert_eq!(deciding_stage(verdicts), *expected, "{verdicts:?}");
        }
    }

    #[test]
    fn reader_window() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let table = [
            (Some(t), Some(t), true),
            (Some(t + ms(50)), Some(t), true), // reader first
            (Some(t), Some(t + ms(50)), true), // head closes, then exits
            (Some(t), Some(t + READER_WINDOW), true), // the edge
            (Some(t), Some(t + ms(1000)), false), // reader went on working
            (Some(t), None, false),
            (None, Some(t), false),
        ];
        for (producer, reader, expected) in table {
            assert_eq!(
                reader_was_gone(producer, reader),
                expected,
                "{producer:?} {reader:?}"
            );
        }
    }

    #[test]
    fn verdicts() {
        let code = ExitStatus::from_code;
        let sigpipe = ExitStatus::from_signal(13, false);
        let sigterm = ExitStatus::from_signal(15, false);
        let table: &[(ExitStatus, Check, bool, Verdict)] = &[
            (code(0), Check::Zero, false, S),
            (code(1), Check::Zero, false, C),
            (code(1), Check::Codes(vec![1]), false, S),
            (code(2), Check::Codes(vec![1]), false, C),
            (code(2), Check::Unchecked, false, U),
            (sigpipe, Check::Zero, true, S),
            (sigpipe, Check::Zero, false, C),
            (sigpipe, Check::Unchecked, false, U),
            (sigterm, Check::Zero, true, C),
        ];
        for (status, check, reader_first, expected) in table {
            assert_eq!(
                verdict(*status, check, *reader_first),
                *expected,
                "{status} {check:?} {reader_first}"
            );
        }
    }
}
