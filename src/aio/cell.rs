//! The hand-over cell between a run and the future that awaits it.
//!
//! The producer (the background loop's `on_done`, or a spawning thread for a
//! spawn error) stores the value, takes the waker, unlocks, and only then
//! wakes: an executor that polls inline on wake must find the lock free. The
//! mutex guards pointer moves only: no I/O and no waiting happen under it.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::control::{Control, Request};
use crate::sync::lock;

/// A value handed from another thread to one future, and the run's
/// [`Control`] once it is spawned (to stop it if the future is dropped).
pub(crate) struct Cell<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    control: Option<Arc<Control>>,
    /// The future was dropped before the value came.
    closed: bool,
}

impl<T> Cell<T> {
    /// A cell that wakes `waker` when its value comes.
    pub(crate) fn new(waker: &Waker) -> Cell<T> {
        Cell {
            state: Mutex::new(State {
                value: None,
                waker: Some(waker.clone()),
                control: None,
                closed: false,
            }),
        }
    }

    /// Stores the value and wakes the future (after unlocking).
    pub(crate) fn set(&self, value: T) {
        let waker = {
            let mut state = lock(&self.state);
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Stores the value and wakes the future, unless the future is gone:
    /// then the value is handed back, for the caller to dispose of.
    pub(crate) fn offer(&self, value: T) -> Option<T> {
        let waker = {
            let mut state = lock(&self.state);
            if state.closed {
                return Some(value);
            }
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        None
    }

    /// Records the spawned run's control. If the future is gone already,
    /// the run is killed at once.
    pub(crate) fn set_control(&self, control: &Arc<Control>) {
        let mut state = lock(&self.state);
        if state.closed {
            control.post(Request::Kill);
        }
        state.control = Some(control.clone());
    }

    /// The value if it came, else registers `cx`'s waker (replacing an
    /// older one unless both wake the same task).
    ///
    /// Never waits for the lock: if another thread holds it (storing the
    /// value, or the run's control), the task is woken to poll again. On
    /// busy cores the holder may be preempted for a while, and the
    /// executor's thread must not wait for it.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        };
        if let Some(value) = state.value.take() {
            return Poll::Ready(value);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The future is dropped: stop the run if it is spawned and has not
    /// ended (the loop kills and reaps it); a run spawned later is killed by
    /// [`set_control`](Cell::set_control).
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.waker = None;
        if state.value.is_some() {
            return;
        }
        if let Some(control) = &state.control {
            control.post(Request::Kill);
        }
    }
}

impl<T> Cell<T> {
    /// As [`close`](Cell::close), and hands back the value if it came but
    /// was never taken, for the caller to dispose of (a started `Handle`
    /// to stop without waiting).
    pub(crate) fn close_taking(&self) -> Option<T> {
        self.close();
        lock(&self.state).value.take()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    /// Counts its wakes; optionally checks that the cell is unlocked then.
    struct Counter {
        wakes: AtomicUsize,
        locked_on_wake: AtomicUsize,
        cell: Mutex<Option<Arc<Cell<u32>>>>,
    }

    impl Counter {
        fn new() -> Arc<Counter> {
            Arc::new(Counter {
                wakes: AtomicUsize::new(0),
                locked_on_wake: AtomicUsize::new(0),
                cell: Mutex::new(None),
            })
        }
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            let locked = match &*self.cell.lock().unwrap() {
                Some(cell) => cell.state.try_lock().is_err(),
                None => false,
            };
            if locked {
                self.locked_on_wake.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn a_value_set_on_another_thread_wakes_the_future() {
        let counter = Counter::new();
        let waker = Waker::from(counter.clone());
        let cell = Arc::new(Cell::new(&waker));
        let mut cx = Context::from_waker(&waker);
        assert!(cell.poll_take(&mut cx).is_pending());
        let producer = cell.clone();
        std::thread::spawn(move || producer.set(7)).join().unwrap();
        assert_eq!(counter.wakes.load(Ordering::SeqCst), 1);
        assert_eq!(cell.poll_take(&mut cx), Poll::Ready(7));
    }

    #[test]
    fn the_latest_waker_is_woken() {
        let (first, second) = (Counter::new(), Counter::new());
        let first_waker = Waker::from(first.clone());
        let second_waker = Waker::from(second.clone());
        let cell = Cell::new(&first_waker);
        assert!(
            cell.poll_take(&mut Context::from_waker(&second_waker))
                .is_pending()
        );
        cell.set(1);
        assert_eq!(first.wakes.load(Ordering::SeqCst), 0);
        assert_eq!(second.wakes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_wake_comes_after_unlocking() {
        let counter = Counter::new();
        let waker = Waker::from(counter.clone());
        let cell = Arc::new(Cell::new(&waker));
        *counter.cell.lock().unwrap() = Some(cell.clone());
        cell.set(3);
        assert_eq!(counter.wakes.load(Ordering::SeqCst), 1);
        assert_eq!(counter.locked_on_wake.load(Ordering::SeqCst), 0);
        // Break the cycle cell -> waker -> counter -> cell.
        counter.cell.lock().unwrap().take();
    }

    #[test]
    fn a_value_offered_to_a_dropped_future_comes_back() {
        let counter = Counter::new();
        let cell = Cell::new(&Waker::from(counter.clone()));
        assert_eq!(cell.offer(1), None);
        assert_eq!(counter.wakes.load(Ordering::SeqCst), 1);
        let cell = Cell::new(&Waker::from(counter.clone()));
        cell.close();
        assert_eq!(cell.offer(2), Some(2));
        assert_eq!(
            counter.wakes.load(Ordering::SeqCst),
            1,
            "no wake once closed"
        );
    }

    #[test]
    fn closing_before_the_spawn_kills_the_run_when_it_comes() {
        let counter = Counter::new();
        let cell: Cell<u32> = Cell::new(&Waker::from(counter));
        cell.close();
        let control = Arc::new(Control::default());
        cell.set_control(&control);
        assert!(control.take().contains(&Request::Kill));
    }
}
