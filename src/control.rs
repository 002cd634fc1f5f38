//! What other threads may ask of a run in progress, and how they wake the
//! loop that drives it.
//!
//! A run's state machine (`run::Exec`) belongs to the one thread that drives it.
//! Handles, cancel tokens, the pool and the signal forwarder reach it only
//! through its [`Control`]: they post a [`Request`] and wake the driving
//! loop, which acts on it in its next round.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::sync::{lock, wait_until};
use crate::sys::{self, Pid, Signal};

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
    /// The run's process group, while no stage has been reaped (so its id
    /// cannot name another group): the signal forwarder signals it directly,
    /// without waiting for the thread that drives the run.
    group: Option<Pid>,
    /// The run holds the terminal: job control reaches it through the
    /// terminal, not through the forwarder.
    terminal: bool,
}

impl Control {
    /// Posts `request` and wakes the driving loop. A request to a run that
    /// is over is dropped, and one already waiting is not queued twice
    /// (signals sent together arrive once, as with the kernel's), so no
    /// number of calls grows memory.
    pub(crate) fn post(&self, request: Request) {
        let mut state = lock(&self.state);
        if state.done || state.requests.contains(&request) {
            return;
        }
        state.requests.push(request);
        if let Some(waker) = &state.waker {
            waker.wake();
        }
    }

    /// Wakes the driving loop without a request (it looks at its run's
    /// [`Gate`] again).
    pub(crate) fn wake(&self) {
        if let Some(waker) = &lock(&self.state).waker {
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

/// Back-pressure on a run's line output: while the gate is closed, the
/// run's line channels are not read (the child blocks on its full pipe, as
/// it would writing to a slow terminal itself), until every process of the
/// run is reaped. Whoever closed it opens it again with [`Gate::open`],
/// which wakes the run's loop.
pub(crate) struct Gate {
    closed: AtomicBool,
    control: Arc<Control>,
}

impl Gate {
    pub(crate) fn new(control: Arc<Control>) -> Gate {
        Gate {
            closed: AtomicBool::new(false),
            control,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Opens the gate and wakes the run's loop, which reads again.
    pub(crate) fn open(&self) {
        if self.closed.swap(false, Ordering::SeqCst) {
            self.control.wake();
        }
    }

    /// Asks the run to stop (its output has nowhere to go).
    pub(crate) fn cancel(&self) {
        self.control.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_a_finished_run_are_dropped() {
        let control = Control::default();
        control.post(Request::Terminate);
        control.mark_done();
        for _ in 0..1000 {
            control.post(Request::Terminate);
            control.post(Request::Signal(1));
        }
        assert_eq!(control.take(), [Request::Terminate]);
        control.post(Request::Kill);
        assert!(control.take().is_empty());
    }

    #[test]
    fn a_waiting_request_is_queued_once() {
        let control = Control::default();
        for _ in 0..1000 {
            control.post(Request::Terminate);
            control.post(Request::Signal(1));
            control.post(Request::Signal(10));
        }
        control.post(Request::Kill);
        assert_eq!(
            control.take(),
            [
                Request::Terminate,
                Request::Signal(1),
                Request::Signal(10),
                Request::Kill
            ]
        );
        control.post(Request::Terminate);
        assert_eq!(control.take(), [Request::Terminate]);
    }
}
