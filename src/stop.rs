//! The stop sequence: which signals stop a process tree, and how long to wait
//! between them.

use std::fmt;
use std::time::{Duration, Instant};

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
    /// // SIGUSR1 first, then SIGKILL.
    /// let usr1 = StopSequence::new()
    ///     .then(10, Duration::from_millis(100))
    ///     .then(9, Duration::from_millis(100));
    /// assert_eq!(usr1.to_string(), "USR1,100,KILL,100");
    /// let err = cmd!("sleep", "10")
    ///     .stop_sequence(usr1)
    ///     .timeout(Duration::from_millis(20))
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(10));
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

    /// The first signal of the sequence that cannot be sent (0, a negative
    /// number, a number no signal has, or a real-time signal the C library
    /// keeps for itself), if any.
    pub(crate) fn invalid_signal(&self) -> Option<i32> {
        self.steps
            .iter()
            .map(|(signal, _)| *signal)
            .find(|signal| crate::sys::signal_from_raw(*signal).is_none())
    }
}

/// Where a stop stands: the next step of the sequence to take, and when.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct StopState {
    /// The index of the next step.
    pub(crate) next: usize,
    /// When it is due; `None` once a wait too long to express began (the
    /// next step never comes).
    pub(crate) at: Option<Instant>,
    /// The stop is over: the tree is empty, or the last wait ran out.
    pub(crate) over: bool,
}

impl StopState {
    /// A stop that starts at `now`: its first step is due at once.
    pub(crate) fn start(now: Instant) -> StopState {
        StopState {
            next: 0,
            at: Some(now),
            over: false,
        }
    }
}

/// What a run must do for its stop now.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct StopActions {
    /// Signals to send, in order, each to every live process of the tree
    /// exactly once (the group, and by pidfd those that left it).
    pub(crate) signals: Vec<i32>,
    /// When to call [`advance`] again if nothing else happens; `None` once
    /// the stop is over.
    pub(crate) wake_at: Option<Instant>,
}

/// The stop rule, as a step function: given the sequence, where the stop
/// stands, the time, and whether the tree is known to be empty, it moves the
/// state on and says what to do.
///
/// - Once the tree is empty, the stop is over: no more signals.
/// - Every step that is due is taken: its signal is sent, and the next step
///   is due its wait later. (Steps fall due one at a time unless the run
///   was not looked at for a while; then each due signal is still sent.)
/// - When the last step's wait has run out, the stop is over, whatever is
///   left of the tree (the run then reports what escaped).
pub(crate) fn advance(
    sequence: &StopSequence,
    state: &mut StopState,
    now: Instant,
    tree_empty: bool,
) -> StopActions {
    let mut actions = StopActions::default();
    if state.over {
        return actions;
    }
    if tree_empty {
        state.over = true;
        return actions;
    }
    while state.at.is_some_and(|at| now >= at) {
        let Some((signal, wait)) = sequence.step(state.next) else {
            state.over = true;
            return actions;
        };
        actions.signals.push(signal);
        state.next += 1;
        state.at = crate::sync::after(now, wait);
    }
    actions.wake_at = state.at;
    actions
}

/// Whether a new stop request replaces the stop in progress: a kill during
/// a gentler stop goes straight to `SIGKILL`; anything else changes nothing.
pub(crate) fn escalates(current: &StopSequence, requested: &StopSequence) -> bool {
    *requested == StopSequence::kill() && current != requested
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

    /// Runs [`advance`] on a table of (ms since the start, tree empty) and
    /// returns, for each row, the signals sent and the next wake-up in ms.
    fn play(seq: &StopSequence, rows: &[(u64, bool)]) -> Vec<(Vec<i32>, Option<u64>, bool)> {
        let t0 = Instant::now();
        let ms = |d: u64| t0 + Duration::from_millis(d);
        let mut state = StopState::start(t0);
        rows.iter()
            .map(|&(at, empty)| {
                let actions = advance(seq, &mut state, ms(at), empty);
                let wake = actions.wake_at.map(|w| (w - t0).as_millis() as u64);
                (actions.signals, wake, state.over)
            })
            .collect()
    }

    #[test]
    fn the_stop_rule() {
        let term_kill = StopSequence::term_then_kill(Duration::from_millis(1000));
        let forever = StopSequence::new()
            .then(15, Duration::MAX)
            .then(9, Duration::from_millis(100));
        let three = StopSequence::new()
            .then(2, Duration::from_millis(200))
            .then(15, Duration::from_millis(100))
            .then(9, Duration::from_millis(25));
        #[allow(clippy::type_complexity)]
        let table: &[(
            &StopSequence,
            &[(u64, bool)],
            &[(&[i32], Option<u64>, bool)],
        )] = &[
            // The first step at once; nothing until its wait is over.
            (
                &term_kill,
                &[(0, false), (500, false)],
                &[(&[15], Some(1000), false), (&[], Some(1000), false)],
            ),
            // The tree empties during the grace: over, no SIGKILL.
            (
                &term_kill,
                &[(0, false), (300, true), (2000, false)],
                &[
                    (&[15], Some(1000), false),
                    (&[], None, true),
                    (&[], None, true),
                ],
            ),
            // The grace runs out: SIGKILL, then a last wait, then over.
            (
                &term_kill,
                &[(0, false), (1000, false), (1100, false)],
                &[
                    (&[15], Some(1000), false),
                    (&[9], Some(1100), false),
                    (&[], None, true),
                ],
            ),
            // Each step in turn.
            (
                &three,
                &[(0, false), (200, false), (300, false), (325, false)],
                &[
                    (&[2], Some(200), false),
                    (&[15], Some(300), false),
                    (&[9], Some(325), false),
                    (&[], None, true),
                ],
            ),
            // Looked at late: the due step is taken; its wait counts from now.
            (
                &three,
                &[(0, false), (10_000, false)],
                &[(&[2], Some(200), false), (&[15], Some(10_100), false)],
            ),
            // An empty tree from the start: nothing is sent.
            (&term_kill, &[(0, true)], &[(&[], None, true)]),
            // A wait too long to express: the next step never comes.
            (
                &forever,
                &[(0, false), (1_000_000, false), (1_000_001, true)],
                &[(&[15], None, false), (&[], None, false), (&[], None, true)],
            ),
            // An empty sequence kills.
            (
                &StopSequence::new(),
                &[(0, false), (100, false)],
                &[(&[9], Some(100), false), (&[], None, true)],
            ),
        ];
        for (seq, rows, want) in table {
            let got = play(seq, rows);
            let want: Vec<(Vec<i32>, Option<u64>, bool)> =
                want.iter().map(|(s, w, o)| (s.to_vec(), *w, *o)).collect();
            assert_eq!(got, want, "{seq} with {rows:?}");
        }
    }

    #[test]
    fn only_a_kill_escalates() {
        let default = StopSequence::default();
        assert!(escalates(&default, &StopSequence::kill()));
        assert!(!escalates(&StopSequence::kill(), &StopSequence::kill()));
        assert!(!escalates(&StopSequence::kill(), &default));
        assert!(!escalates(&default, &default));
    }

    #[test]
    fn invalid_signals_are_found() {
        let seq = |signal| StopSequence::new().then(signal, Duration::ZERO);
        assert_eq!(seq(15).invalid_signal(), None);
        assert_eq!(seq(0).invalid_signal(), Some(0));
        assert_eq!(seq(99).invalid_signal(), Some(99));
        assert_eq!(seq(-3).invalid_signal(), Some(-3));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(seq(crate::sys::SIGRTMIN).invalid_signal(), None);
        assert_eq!(StopSequence::new().invalid_signal(), None);
    }

    #[test]
    fn an_empty_sequence_kills() {
        let seq = StopSequence::new();
        assert_eq!(seq.step(0), Some((9, KILL_LINGER)));
        assert_eq!(seq.step(1), None);
        assert_eq!(seq.to_string(), "KILL,100");
    }
}
