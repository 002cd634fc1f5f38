//! What other threads may ask of a run in progress, and how they wake the
//! loop that drives it.
//!
//! A run's state machine (`exec`) belongs to the one thread that drives it.
//! Handles, cancel tokens, the pool and the signal forwarder reach it only
//! through its [`Control`]: they post a [`Request`] and wake the driving
//! loop, which acts on it in its next round.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use rustix::process::{Pid, Signal};

use crate::sync::{lock, wait_until};
use crate::sys;

/// What another thread asks of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Request {
    /// Stop with the stop sequence (`Handle::terminate`).
    Terminate,
    /// Stop with `SIGKILL` at once (`Handle::kill`, drop).
    Kill,
    /// Stop with the stop sequence, and report a cancel.
    Cancel,
    /// Send one signal to the group; not a stop.
    Signal(i32),
}

/// The part of a run that other threads may touch: requests, and the waker of
/// the loop that drives it.
#[derive(Default)]
pub(crate) struct Control {
    state: Mutex<ControlState>,
    done: Condvar,
}

#[derive(Default)]
struct ControlState {
    requests: Vec<Request>,
    waker: Option<Arc<sys::Waker>>,
    /// The run is over (its `Exec` is gone).
    done: bool,
    /// The run's process group, while no stage has been reaped (so its id
    /// cannot name another group): the signal forwarder signals it directly,
    /// without waiting for the thread that drives the run.
    group: Option<Pid>,
    /// The run holds the terminal: job control reaches it through the
    /// terminal, not through the forwarder.
    terminal: bool,
}

impl Control {
    pub(crate) fn post(&self, request: Request) {
        let mut state = lock(&self.state);
        state.requests.push(request);
        if let Some(waker) = &state.waker {
            waker.wake();
        }
    }

    pub(crate) fn cancel(&self) {
        self.post(Request::Cancel);
    }

    /// Called by the loop that takes the run over.
    pub(crate) fn set_waker(&self, waker: Arc<sys::Waker>) {
        let mut state = lock(&self.state);
        if !state.requests.is_empty() {
            waker.wake();
        }
        state.waker = Some(waker);
    }

    pub(crate) fn take(&self) -> Vec<Request> {
        std::mem::take(&mut lock(&self.state).requests)
    }

    pub(crate) fn mark_done(&self) {
        lock(&self.state).done = true;
        self.done.notify_all();
    }

    /// Lets [`signal_group`](Control::signal_group) reach `pgid` until the
    /// run reaps a stage (see [`reaping`](Control::reaping)).
    pub(crate) fn set_group(&self, pgid: Pid) {
        lock(&self.state).group = Some(pgid);
    }

    /// Marks the run as holding the terminal, or no longer.
    pub(crate) fn set_terminal(&self, terminal: bool) {
        lock(&self.state).terminal = terminal;
    }

    /// Sends `signal` to the run's process group at once, from any thread,
    /// unless the run holds the terminal. Does nothing once a stage has been
    /// reaped: the group's id could then be reused.
    pub(crate) fn signal_group(&self, signal: Signal) {
        let state = lock(&self.state);
        if let (Some(pgid), false) = (state.group, state.terminal) {
            let _ = sys::signal_group(pgid, signal);
        }
    }

    /// Held while the run tries to reap a stage, so the group is never
    /// signalled directly while a stage is being reaped; once one is, call
    /// [`Reaping::reaped`].
    pub(crate) fn reaping(&self) -> Reaping<'_> {
        Reaping(lock(&self.state))
    }

    pub(crate) fn is_done(&self) -> bool {
        lock(&self.state).done
    }

    /// Waits until the run is over, or `deadline`.
    pub(crate) fn wait_done(&self, deadline: Instant) {
        wait_until(&self.state, &self.done, Some(deadline), |state| state.done);
    }
}

/// See [`Control::reaping`].
pub(crate) struct Reaping<'a>(MutexGuard<'a, ControlState>);

impl Reaping<'_> {
    /// A stage was reaped: the group's id may be reused from now on.
    pub(crate) fn reaped(&mut self) {
        self.0.group = None;
    }
}
