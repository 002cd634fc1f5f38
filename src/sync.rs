//! The two ways the crate's threads wait for each other.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Locks a mutex, carrying on if a panicking thread poisoned it: the data
/// guarded here stays consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` until `done` holds for the state in `m`, or until
/// `deadline` (`None`: no limit). Returns whether `done` holds.
pub(crate) fn wait_until<T>(
    m: &Mutex<T>,
    cv: &Condvar,
    deadline: Option<Instant>,
    done: impl Fn(&T) -> bool,
) -> bool {
    let mut guard = lock(m);
    while !done(&guard) {
        guard = match deadline {
            None => cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return false;
                }
                cv.wait_timeout(guard, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    true
}

/// `start + wait`, or `None` (no limit) where the sum does not fit in an
/// [`Instant`], as with `Duration::MAX`. Every deadline the crate derives
/// from a caller's duration goes through here, so an overlong duration
/// means "wait without a limit" and never a panic.
pub(crate) fn after(start: Instant, wait: std::time::Duration) -> Option<Instant> {
    start.checked_add(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overlong_durations_mean_no_limit() {
        let now = Instant::now();
        let table: &[(Duration, bool)] = &[
            (Duration::ZERO, true),
            (Duration::from_secs(1), true),
            (Duration::from_secs(100 * 365 * 24 * 3600), true),
            (Duration::from_secs(u64::MAX), false),
            (Duration::MAX, false),
        ];
        for (wait, fits) in table {
            let at = after(now, *wait);
            assert_eq!(at.is_some(), *fits, "{wait:?}");
            if let Some(at) = at {
                assert_eq!(at - now, *wait);
            }
        }
    }
}
