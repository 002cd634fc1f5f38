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
