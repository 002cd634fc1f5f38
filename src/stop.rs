//! The stop sequence: which signals stop a process tree, and how long to wait
//! between them.

use std::fmt;
use std::time::Duration;

/// Signals sent to a command's whole process group when it must stop (on a
/// timeout, a cancel, [`Handle::terminate`](crate::Handle::terminate) or a
/// dropped handle), with a wait after each.
///
/// The rule: send the first signal to the group; if the group is not empty
/// after its wait, send the next; and so on. The last step's wait bounds how
/// long we wait for the group to vanish after the final signal. The default is
/// `SIGTERM`, a grace of one second, then `SIGKILL`: well-behaved programs
/// clean up, and nothing survives. GNU parallel's `--term-seq` has the same
/// shape (its default is `TERM,200,TERM,100,TERM,50,KILL,25`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use procession::StopSequence;
///
/// let gentle = StopSequence::new()
///     .then(15, Duration::from_millis(200))
///     .then(15, Duration::from_millis(100))
///     .then(9, Duration::from_millis(25));
/// assert_eq!(gentle.to_string(), "TERM,200,TERM,100,KILL,25");
/// assert_eq!(StopSequence::default().to_string(), "TERM,1000,KILL,100");
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
#[must_use = "builder methods return a changed copy"]
pub struct StopSequence {
    steps: Vec<(i32, Duration)>,
}

impl Default for StopSequence {
    fn default() -> Self {
        StopSequence::term_then_kill(Duration::from_secs(1))
    }
}

/// How long we wait for the group to vanish after a final `SIGKILL`.
const KILL_LINGER: Duration = Duration::from_millis(100);

impl StopSequence {
    /// An empty sequence; add steps with [`then`](StopSequence::then). An
    /// empty sequence stops with `SIGKILL`.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::StopSequence;
    ///
    /// assert_eq!(StopSequence::new().to_string(), "KILL,100");
    /// ```
    pub fn new() -> StopSequence {
        StopSequence { steps: Vec::new() }
    }

    /// `SIGTERM`, wait up to `grace`, then `SIGKILL`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, StopSequence};
    ///
    /// let gentle = StopSequence::term_then_kill(Duration::from_millis(200));
    /// assert_eq!(gentle.to_string(), "TERM,200,KILL,100");
    /// let err = cmd!("sleep", "10")
    ///     .stop_sequence(gentle)
    ///     .timeout(Duration::from_millis(20))
    ///     .run()
    ///     .unwrap_err();
    /// // sleep does not handle SIGTERM, so the first step stops it.
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(15));
    /// ```
    pub fn term_then_kill(grace: Duration) -> StopSequence {
        StopSequence::new().then(15, grace).then(9, KILL_LINGER)
    }

    /// `SIGKILL` at once: what [`Handle::kill`](crate::Handle::kill) uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, StopSequence};
    ///
    /// assert_eq!(StopSequence::kill().to_string(), "KILL,100");
    /// let err = cmd!("sleep", "10")
    ///     .stop_sequence(StopSequence::kill())
    ///     .timeout(Duration::from_millis(20))
    ///     .run()
    ///     .unwrap_err();
    /// assert!(err.to_string().ends_with("was stopped with SIGKILL"));
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(9));
    /// ```
    pub fn kill() -> StopSequence {
        StopSequence::new().then(9, KILL_LINGER)
    }

    /// Adds a step: send `signal`, then wait up to `wait` for the group to
    /// vanish before the next step. A wait too long to add to the current
    /// time (`Duration::MAX`) has no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, StopSequence};
    ///
    /// // SIGHUP first, then SIGKILL.
    /// let hangup = StopSequence::new()
    ///     .then(1, Duration::from_millis(100))
    ///     .then(9, Duration::from_millis(100));
    /// assert_eq!(hangup.to_string(), "HUP,100,KILL,100");
    /// let err = cmd!("sleep", "10")
    ///     .stop_sequence(hangup)
    ///     .timeout(Duration::from_millis(20))
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(1));
    /// ```
    pub fn then(mut self, signal: i32, wait: Duration) -> StopSequence {
        self.steps.push((signal, wait));
        self
    }

    /// Step `index` of the sequence: the signal to send and how long to wait
    /// after it. `None` once the sequence is over. An empty sequence is
    /// treated as [`StopSequence::kill`].
    pub(crate) fn step(&self, index: usize) -> Option<(i32, Duration)> {
        if self.steps.is_empty() {
            return (index == 0).then_some((9, KILL_LINGER));
        }
        self.steps.get(index).copied()
    }

    /// The first signal sent, which the errors mention.
    pub(crate) fn first_signal(&self) -> i32 {
        self.step(0).map_or(9, |(signal, _)| signal)
    }
}

impl fmt::Display for StopSequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut index = 0;
        while let Some((signal, wait)) = self.step(index) {
            if index > 0 {
                f.write_str(",")?;
            }
            let name = crate::status::signal_name(signal)
                .map(|n| n.trim_start_matches("SIG").to_string())
                .unwrap_or_else(|| signal.to_string());
            write!(f, "{name},{}", wait.as_millis())?;
            index += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_of_the_default() {
        let seq = StopSequence::default();
        assert_eq!(seq.step(0), Some((15, Duration::from_secs(1))));
        assert_eq!(seq.step(1), Some((9, KILL_LINGER)));
        assert_eq!(seq.step(2), None);
        assert_eq!(seq.first_signal(), 15);
    }

    #[test]
    fn an_empty_sequence_kills() {
        let seq = StopSequence::new();
        assert_eq!(seq.step(0), Some((9, KILL_LINGER)));
        assert_eq!(seq.step(1), None);
        assert_eq!(seq.to_string(), "KILL,100");
    }
}
