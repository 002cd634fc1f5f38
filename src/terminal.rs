//! Job control for a command that inherits the terminal.
//!
//! Every run is its own process group, and a group that is not the
//! terminal's foreground group is stopped (`SIGTTIN`, `SIGTTOU`) when it
//! reads the terminal or changes its modes. So a run whose stdin is our
//! controlling terminal does what a shell does with a foreground job:
//!
//! - if this process is the terminal's foreground group, the terminal's
//!   foreground group becomes the run's group, so it can read, change modes,
//!   and get Ctrl-C and Ctrl-Z itself;
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
//!
//! One run holds the terminal at a time. A run that could not have it (an
//! other run of ours held it, or this process was a background job) goes
//! on in the background; if it stops on the terminal, [`on_stop`] says
//! what to do: it gets the terminal once the other run gives it back, or
//! this process stops as a background job that wants the terminal would,
//! and gets it with `fg`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys::{self, Pid, Signal, TerminalModes};

/// A run holds the terminal: one at a time, so two runs started at once by
/// two threads cannot both take it.
static LENT: AtomicBool = AtomicBool::new(false);

const SIGTTIN: i32 = 21;
const SIGTTOU: i32 = 22;

/// A run whose stdin is our controlling terminal, and whether it holds it.
pub(crate) struct Terminal {
    /// Our own process group, which gets the terminal back.
    ours: Pid,
    /// The run's group.
    job: Pid,
    /// The modes before the run had the terminal.
    modes: Option<TerminalModes>,
    /// The run holds the terminal (and the [`LENT`] token).
    lent: bool,
    /// The run stopped on the terminal while another run held it: it gets
    /// the terminal when that run gives it back.
    waiting: bool,
}

impl Terminal {
    /// Attaches the run `job` to our controlling terminal, if our stdin is
    /// it, and gives it the terminal if this process is its foreground group
    /// and no other run holds it. `None` without a terminal, or when our own
    /// group's leader lives outside our pid namespace (we could not name the
    /// group to take the terminal back).
    pub(crate) fn attach(job: Pid) -> Option<Terminal> {
        sys::terminal_foreground()?;
        let mut terminal = Terminal {
            ours: sys::own_group()?,
            job,
            modes: None,
            lent: false,
            waiting: false,
        };
        if terminal.try_lend() {
            // A stage that touched the terminal before it was lent is
            // stopped by `SIGTTIN` or `SIGTTOU`: continue it (its call
            // starts again).
            terminal.resume_job();
        }
        Some(terminal)
    }

    /// Whether the run holds the terminal.
    pub(crate) fn lent(&self) -> bool {
        self.lent
    }

    /// Gives the terminal to the run if this process is the terminal's
    /// foreground group and no other run holds it. Returns whether the run
    /// holds it.
    fn try_lend(&mut self) -> bool {
        if self.lent {
            return true;
        }
        if sys::terminal_foreground() != Some(self.ours) || LENT.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.modes = sys::terminal_modes();
        if sys::set_terminal_foreground(self.job).is_err() {
            LENT.store(false, Ordering::SeqCst);
            return false;
        }
        self.lent = true;
        true
    }

    fn resume_job(&self) {
        let _ = sys::signal_group(self.job, Signal::CONT);
    }

    /// Called every round: a run waiting for the terminal gets it as soon
    /// as it is free, and goes on.
    pub(crate) fn tick(&mut self) {
        if self.waiting && self.try_lend() {
            self.waiting = false;
            self.resume_job();
        }
    }

    /// A stage of the run was stopped by `signal`; see [`on_stop`].
    /// `stop_self` stops this process until it is continued.
    pub(crate) fn stopped(&mut self, signal: Option<i32>, stop_self: impl FnOnce()) {
        let wants_terminal = matches!(signal, Some(SIGTTIN | SIGTTOU));
        let foreground = sys::terminal_foreground() == Some(self.ours);
        let elsewhere = !self.lent && LENT.load(Ordering::SeqCst);
        match on_stop(self.lent, wants_terminal, foreground, elsewhere) {
            OnStop::Ignore => {}
            OnStop::LendNow => {
                if self.try_lend() {
                    self.resume_job();
                } else {
                    self.waiting = true;
                }
            }
            OnStop::Wait => self.waiting = true,
            OnStop::Suspend => self.suspend(stop_self),
        }
    }

    /// Takes the terminal back (if the run holds it), stops this process,
    /// and once continued, hands the terminal to the run if we are in the
    /// foreground again (`fg`, not `bg`) and continues the run.
    fn suspend(&mut self, stop_self: impl FnOnce()) {
        let held = self.lent && sys::terminal_foreground() == Some(self.job);
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
        if self.lent {
            if sys::terminal_foreground() == Some(self.ours) {
                if let Some(modes) = &job_modes {
                    sys::set_terminal_modes(modes);
                }
                let _ = sys::set_terminal_foreground(self.job);
            }
        } else {
            self.waiting = !self.try_lend() && LENT.load(Ordering::SeqCst);
        }
        self.resume_job();
    }

    /// Takes the terminal back once the run's stages are over; see
    /// [`after_end`] for `end`. A run that never held the terminal leaves it
    /// alone.
    pub(crate) fn release(self, end: End) {
        if !self.lent {
            return;
        }
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

/// What to do when a stage of a run attached to the terminal stops.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OnStop {
    /// Someone else stopped it (`kill -STOP`): not ours to undo.
    Ignore,
    /// It stopped on the terminal, which is free and ours: lend it, continue.
    LendNow,
    /// It stopped on the terminal while another run holds it: wait for it.
    Wait,
    /// Take the terminal back if we lent it, stop this process, and carry on
    /// once continued.
    Suspend,
}

/// The rule for a stopped stage. A run that holds the terminal was stopped
/// by it (Ctrl-Z) or by itself: this process stops with it, as the shell's
/// job. A run without the terminal that stopped on it (`SIGTTIN`,
/// `SIGTTOU`) gets it now if this process is the foreground group and no
/// other run holds it, waits if another run holds it, and else (this
/// process is a background job) stops this process, as the shell's
/// background job that wants the terminal.
pub(crate) fn on_stop(
    lent: bool,
    wants_terminal: bool,
    foreground: bool,
    lent_elsewhere: bool,
) -> OnStop {
    if lent {
        OnStop::Suspend
    } else if !wants_terminal {
        OnStop::Ignore
    } else if lent_elsewhere {
        OnStop::Wait
    } else if foreground {
        OnStop::LendNow
    } else {
        OnStop::Suspend
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
    fn a_stopped_stage() {
        use OnStop::*;
        // (lent, wants the terminal, we are foreground, lent elsewhere)
        let table = [
            // Holding the terminal: Ctrl-Z, or the program stopped itself.
            ((true, false, false, false), Suspend),
            ((true, true, false, false), Suspend),
            ((true, false, true, false), Suspend),
            // Without it, stopped by someone else.
            ((false, false, true, false), Ignore),
            ((false, false, false, true), Ignore),
            // Without it, stopped on it.
            ((false, true, true, false), LendNow),
            ((false, true, false, true), Wait),
            ((false, true, true, true), Wait),
            ((false, true, false, false), Suspend),
        ];
        for ((lent, wants, foreground, elsewhere), action) in table {
            assert_eq!(
                on_stop(lent, wants, foreground, elsewhere),
                action,
                "{lent} {wants} {foreground} {elsewhere}"
            );
        }
    }

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
