//! How the crate's threads wait for each other, and start what they share.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
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

/// The value in `cell`, made by `make` at its first use (under `starting`,
/// so that only one thread makes it). If `make` fails (a thread or a
/// descriptor that cannot be had), the cell stays empty and the next use
/// tries again.
pub(crate) fn get_or_try_init<'a, T, E>(
    cell: &'a OnceLock<T>,
    starting: &Mutex<()>,
    make: impl FnOnce() -> Result<T, E>,
) -> Result<&'a T, E> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let _starting = lock(starting);
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = make()?;
    Ok(cell.get_or_init(|| value))
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
    fn a_value_that_could_not_be_made_is_made_at_the_next_use() {
        let cell = OnceLock::new();
        let starting = Mutex::new(());
        let made = std::cell::Cell::new(0);
        let make = |ok: bool| {
            made.set(made.get() + 1);
            if ok { Ok(made.get()) } else { Err("no thread") }
        };
        // (make succeeds, result, calls of make so far)
        let table: &[(bool, Result<i32, &str>, i32)] = &[
            (false, Err("no thread"), 1),
            (true, Ok(2), 2),
            // Made once: `make` is not called again.
            (false, Ok(2), 2),
            (true, Ok(2), 2),
        ];
        for (ok, want, times) in table {
            let got = get_or_try_init(&cell, &starting, || make(*ok)).copied();
            assert_eq!(got, *want, "{ok}");
            assert_eq!(made.get(), *times, "{ok}");
        }
    }

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
