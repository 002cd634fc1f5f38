//! Job control for a command that inherits the terminal.
//!
//! Every run is its own process group, and a group that is not the
//! terminal's foreground group is stopped (`SIGTTIN`, `SIGTTOU`) when it
//! reads the terminal or changes its modes. So a run whose stdin is our
//! controlling terminal, started while this process is the terminal's
//! foreground group, does what a shell does with a foreground job:
//!
//! - the terminal's foreground group becomes the run's group, so it can
//!   read, change modes, and get Ctrl-C and Ctrl-Z itself;
//! - when the run's stages are over, this process takes the terminal back;
//!   if they ended by a signal or were stopped by us (timeout, drop,
//!   cancel), the modes are restored as they were before (a killed editor
//!   leaves the terminal raw); after a normal exit the modes stay as the
//!   command left them (`stty -echo` works), as in a shell;
//! - a stage that dies of the terminal's `SIGINT` or `SIGQUIT` (the user
//!   pressed Ctrl-C or Ctrl-\\) passes that signal on to this process, as it
//!   would have reached us without the separate group (see
//!   [`after_end`]);
//! - when the run is stopped (Ctrl-Z), this process takes the terminal
//!   back and stops too, so the shell sees its job stopped; `fg` continues
//!   it, and it hands the terminal back to the run and continues it.

use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::{Pid, Signal};
use rustix::termios::Termios;

use crate::sys;

/// A run holds the terminal: one at a time, so two runs started at once by
/// two threads cannot both take it (the second stays in the background, as
/// it would under a shell).
static LENT: AtomicBool = AtomicBool::new(false);

/// A terminal lent to a run's process group.
pub(crate) struct Terminal {
    /// Our own process group, which gets the terminal back.
    ours: Pid,
    /// The run's group.
    job: Pid,
    /// The modes before the run.
    modes: Option<Termios>,
}

impl Terminal {
    /// Gives the terminal to `job` if our stdin is our controlling terminal
    /// and this process is its foreground group; `None` otherwise (no
    /// terminal, or we are a background job: the run then stays in the
    /// background too).
    pub(crate) fn lend(job: Pid) -> Option<Terminal> {
        let ours = sys::own_group();
        if sys::terminal_foreground()? != ours || LENT.swap(true, Ordering::SeqCst) {
            return None;
        }
        let modes = sys::terminal_modes();
        if sys::set_terminal_foreground(job).is_err() {
            LENT.store(false, Ordering::SeqCst);
            return None;
        }
        // A stage that touched the terminal before it was lent is stopped
        // by `SIGTTIN` or `SIGTTOU`: continue it (its call starts again).
        let _ = sys::signal_group(job, Signal::CONT);
        Some(Terminal { ours, job, modes })
    }

    /// The run was stopped by job control: take the terminal back, stop
    /// this process with it, and once continued, hand the terminal back if
    /// we are in the foreground again (`fg`, not `bg`) and continue the run.
    pub(crate) fn suspend(&self, stop_self: impl FnOnce()) {
        let held = sys::terminal_foreground() == Some(self.job);
        let job_modes = if held {
            let job_modes = sys::terminal_modes();
            let _ = sys::set_terminal_foreground(self.ours);
            if let Some(modes) = &self.modes {
                sys::set_terminal_modes(modes);
            }
            job_modes
        } else {
            None
        };
        stop_self();
        if sys::terminal_foreground() == Some(self.ours) {
            if let Some(modes) = &job_modes {
                sys::set_terminal_modes(modes);
            }
            let _ = sys::set_terminal_foreground(self.job);
        }
        let _ = sys::signal_group(self.job, Signal::CONT);
    }

    /// Takes the terminal back once the run's stages are over; see
    /// [`after_end`] for `end`.
    pub(crate) fn release(self, end: End) {
        let action = after_end(end);
        if sys::terminal_foreground() == Some(self.job) {
            let _ = sys::set_terminal_foreground(self.ours);
        }
        if action.restore_modes {
            if let Some(modes) = &self.modes {
                sys::set_terminal_modes(modes);
            }
        }
        LENT.store(false, Ordering::SeqCst);
        if let Some(signal) = action.pass_on.and_then(sys::signal_from_raw) {
            sys::signal_self(signal);
        }
    }
}

/// How a run that held the terminal ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct End {
    /// The signal that ended the stage that decides the run, if any.
    pub(crate) signal: Option<i32>,
    /// We stopped the run ourselves (timeout, cancel, terminate, drop).
    pub(crate) stopped_by_us: bool,
}

/// What to do when taking the terminal back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Action {
    /// Set the modes saved before the run.
    pub(crate) restore_modes: bool,
    /// Send this signal to ourselves.
    pub(crate) pass_on: Option<i32>,
}

/// The rule for taking the terminal back, as a shell has it: the modes are
/// restored after a signal or a stop of ours (the program could not clean
/// up), kept after an exit (the program meant them); and a death by the
/// terminal's interrupt or quit signal, which we did not send, is passed on
/// to this process, which would have got it from the terminal had the
/// command run in our group.
pub(crate) fn after_end(end: End) -> Action {
    const SIGINT: i32 = 2;
    const SIGQUIT: i32 = 3;
    let killed = end.signal.is_some();
    Action {
        restore_modes: killed || end.stopped_by_us,
        pass_on: end
            .signal
            .filter(|s| !end.stopped_by_us && (*s == SIGINT || *s == SIGQUIT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_the_terminal_back() {
        let end = |signal, stopped_by_us| End {
            signal,
            stopped_by_us,
        };
        let act = |restore_modes, pass_on| Action {
            restore_modes,
            pass_on,
        };
        let table = [
            // An exit keeps the modes the program set.
            (end(None, false), act(false, None)),
            // Ctrl-C and Ctrl-\ at the terminal reach us too.
            (end(Some(2), false), act(true, Some(2))),
            (end(Some(3), false), act(true, Some(3))),
            // Other signals: restore, but they were not meant for us.
            (end(Some(9), false), act(true, None)),
            (end(Some(15), false), act(true, None)),
            // Our own stops (a timeout, a drop): restore, pass nothing on,
            // even if our stop sequence uses SIGINT.
            (end(Some(2), true), act(true, None)),
            (end(Some(15), true), act(true, None)),
            (end(None, true), act(true, None)),
        ];
        for (end, action) in table {
            assert_eq!(after_end(end), action, "{end:?}");
        }
    }
}
