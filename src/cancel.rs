//! Cancelling runs from another thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::control::Control;
use crate::sync::lock;

/// A cloneable token that stops every run it was given to, from any thread.
///
/// Give it to commands with [`Command::cancel_on`](crate::Command::cancel_on).
/// [`cancel`](CancelToken::cancel) stops each running command's process tree
/// with its stop sequence; the runs return a
/// [`Cancelled`](crate::Error::Cancelled) error with the output read so far.
/// A command started after the token was cancelled is stopped at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use procession::{cmd, CancelToken};
///
/// let token = CancelToken::new();
/// let t = token.clone();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(50));
///     t.cancel();
/// });
/// let err = cmd!("sleep", "10").cancel_on(&token).run().unwrap_err();
/// assert!(err.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    shared: Arc<TokenState>,
}

/// What every clone of a token shares.
#[derive(Default)]
struct TokenState {
    cancelled: AtomicBool,
    runs: Mutex<Vec<Weak<Control>>>,
}

impl CancelToken {
    /// A token that is not cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, CancelToken};
    /// # fn main() -> Result<(), procession::Error> {
    /// let token = CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// assert!(cmd!("true").cancel_on(&token).run()?.status.success());
    /// # Ok(()) }
    /// ```
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Stops every run this token was given to, now and from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, CancelToken};
    /// # fn main() -> Result<(), procession::Error> {
    /// let token = CancelToken::new();
    /// let handle = cmd!("sleep", "10").cancel_on(&token).start()?;
    /// token.clone().cancel(); // any clone will do
    /// assert!(handle.wait().unwrap_err().is_cancelled());
    /// # Ok(()) }
    /// ```
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        let runs = std::mem::take(&mut *lock(&self.shared.runs));
        for run in runs.iter().filter_map(Weak::upgrade) {
            run.cancel();
        }
    }

    /// Whether [`cancel`](CancelToken::cancel) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::CancelToken;
    ///
    /// let token = CancelToken::new();
    /// let clone = token.clone();
    /// assert!(!clone.is_cancelled());
    /// token.cancel();
    /// assert!(clone.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Registers a run; cancels it at once if the token already is.
    pub(crate) fn register(&self, control: &Arc<Control>) {
        {
            let mut runs = lock(&self.shared.runs);
            runs.retain(|w| w.strong_count() > 0);
            runs.push(Arc::downgrade(control));
        }
        if self.is_cancelled() {
            control.cancel();
        }
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
