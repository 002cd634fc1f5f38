//! What other threads may ask of a run in progress, and how they wake the
//! loop that drives it.
//!
//! A run's state machine (`exec`) belongs to the one thread that drives it.
//! Handles, cancel tokens, the pool and the signal forwarder reach it only
//! through its [`Control`]: they post a [`Request`] and wake the driving
//! loop, which acts on it in its next round.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

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
    /// Send one signal to every process of the tree; not a stop.
    Signal(i32),
    /// Send one signal to one stage (by index); not a stop.
    SignalStage(usize, i32),
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

    pub(crate) fn is_done(&self) -> bool {
        lock(&self.state).done
    }

    /// Waits until the run is over, or `deadline`.
    pub(crate) fn wait_done(&self, deadline: Instant) {
        wait_until(&self.state, &self.done, Some(deadline), |state| state.done);
    }
}
