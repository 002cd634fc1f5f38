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
//!    `SIGPIPE` whose reader (the next stage) had already exited counts as a
//!    success. A stage killed by `SIGPIPE` while its reader was still running
//!    (the reader closed its input early, or the pipe led elsewhere) is a
//!    failure like any other signal. bash with `pipefail` reports the first
//!    case as status 141; this is our deliberate difference.

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
