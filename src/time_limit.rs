//! A run's time limit: the earliest of the timeouts and deadlines set
//! anywhere in its command, when it is due, and what a stop for time
//! reports.
//!
//! A timeout counts from the start of the run but not the time this process
//! spends stopped by job control (Ctrl-Z): it moves on by that time. A
//! deadline is a point in time and stays where it is; a timeout never moves
//! past one.

use std::time::{Duration, Instant};

/// The earliest timeout and the earliest deadline of a run (see the module
/// docs). The default is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimeLimit {
    /// The earliest timeout: when it runs out if nothing is paused, and its
    /// length, which the error reports.
    timeout: Option<(Instant, Duration)>,
    /// The earliest deadline.
    deadline: Option<Instant>,
}

impl TimeLimit {
    /// Adds one level's `timeout` (counted from `start`) and `deadline`. A
    /// timeout too long to add to `start` is no limit.
    pub(crate) fn add(
        &mut self,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        start: Instant,
    ) {
        if let Some(t) = timeout {
            if let Some(at) = crate::sync::after(start, t) {
                if self.timeout.is_none_or(|(earliest, _)| at < earliest) {
                    self.timeout = Some((at, t));
                }
            }
        }
        if let Some(d) = deadline {
            self.deadline = Some(self.deadline.map_or(d, |earliest| earliest.min(d)));
        }
    }

    /// When the run is out of time, after this process has spent `paused`
    /// stopped by job control since the run started; `paused` is `None`
    /// while that time is not yet known (a stop or continue in progress),
    /// and then only a deadline that comes first is due. `None`: no limit,
    /// or not known yet.
    pub(crate) fn due(&self, paused: Option<Duration>) -> Option<Instant> {
        let timeout = self
            .timeout
            .filter(|(at, _)| self.deadline.is_none_or(|d| *at < d));
        let Some((at, _)) = timeout else {
            return self.deadline;
        };
        let paused = paused?;
        // A timeout so far off that the pause cannot be added stays where it is.
        let shifted = at.checked_add(paused).unwrap_or(at);
        Some(self.deadline.map_or(shifted, |d| d.min(shifted)))
    }

    /// What a run stopped for time at `now` reports: the timeout that ran
    /// out, or `None` when a deadline had passed (the error then names no
    /// limit).
    pub(crate) fn expired(&self, now: Instant) -> Option<Duration> {
        if self.deadline.is_some_and(|d| now >= d) {
            return None;
        }
        self.timeout.map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_does_not_count_time_stopped() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let table = [
            // (timeout, deadline, paused) -> due
            ((Some(s(10)), None, Some(s(0))), Some(s(10))),
            ((Some(s(10)), None, Some(s(3))), Some(s(13))),
            // A later deadline does not hold the timeout back...
            ((Some(s(10)), Some(s(20)), Some(s(3))), Some(s(13))),
            // ...but the timeout never moves past it.
            ((Some(s(10)), Some(s(12)), Some(s(3))), Some(s(12))),
            ((Some(s(10)), Some(s(12)), Some(s(0))), Some(s(10))),
            // While the pause is not known, a timeout waits...
            ((Some(s(10)), Some(s(12)), None), None),
            // ...but a deadline that comes first does not.
            ((Some(s(10)), Some(s(5)), None), Some(s(5))),
            ((None, Some(s(5)), None), Some(s(5))),
            ((None, None, Some(s(3))), None),
        ];
        for ((timeout, deadline, paused), due) in table {
            let mut limit = TimeLimit::default();
            limit.add(timeout, deadline.map(|d| t0 + d), t0);
            assert_eq!(
                limit.due(paused),
                due.map(|d| t0 + d),
                "{timeout:?} {deadline:?} {paused:?}"
            );
        }
    }

    #[test]
    fn the_earliest_of_each_kind_counts() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut limit = TimeLimit::default();
        limit.add(Some(s(30)), Some(t0 + s(50)), t0);
        limit.add(Some(s(20)), Some(t0 + s(40)), t0 + s(5));
        limit.add(Some(s(40)), None, t0);
        assert_eq!(limit.due(Some(s(0))), Some(t0 + s(25)));
        assert_eq!(limit.expired(t0 + s(25)), Some(s(20)));
        // Too long to express: no limit.
        let mut endless = TimeLimit::default();
        endless.add(Some(Duration::MAX), None, t0);
        assert_eq!(endless, TimeLimit::default());
    }

    #[test]
    fn a_passed_deadline_reports_no_timeout() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut limit = TimeLimit::default();
        limit.add(Some(s(10)), Some(t0 + s(12)), t0);
        assert_eq!(limit.expired(t0 + s(10)), Some(s(10)));
        assert_eq!(limit.expired(t0 + s(12)), None);
        let mut deadline_only = TimeLimit::default();
        deadline_only.add(None, Some(t0 + s(12)), t0);
        assert_eq!(deadline_only.expired(t0 + s(12)), None);
    }
}
