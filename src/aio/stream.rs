//! `lines_async` and `events_async`: the background loop hosts the run in
//! line mode and hands its lines to a byte-capped queue that the stream
//! pops.
//!
//! The loop calls the run's line sink ([`Queue::push`]) for each line; the
//! consumer is woken once per batch (when a line comes into an empty
//! queue). Past [`HIGH`] queued bytes the sink closes the run's [`Gate`]:
//! the loop stops reading this run's line pipes, so its child blocks on a
//! full pipe, as on a slow terminal, while the loop itself goes on serving
//! every other run. The consumer opens the gate again once the queue is
//! under half of `HIGH`. So a stream holds at most `HIGH`, plus a read
//! chunk per line pipe, plus `max_line` bytes of lines.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, TryLockError};
use std::task::{Context, Poll, Waker};

use futures_core::stream::{FusedStream, Stream};

use crate::command::Command;
use crate::control::{Control, Gate, Request};
use crate::error::Error;
use crate::lines::{Event, event_end, event_item, line_end, line_item};
use crate::plan::Mode;
use crate::run::Line;
use crate::run_modes::kill_now;
use crate::status::ExitStatus;
use crate::sync::lock;

/// Queued bytes at which the run's line pipes stop being read.
pub(crate) const HIGH: usize = 256 * 1024;

/// How a stream's lines and outcome become its items: as for the blocking
/// [`Lines`](crate::Lines) or [`Events`](crate::Events), with the same
/// functions.
trait Items {
    type Item;
    const MODE: Mode;
    fn line(line: Line, command: &str, max: usize) -> Self::Item;
    fn end(outcome: Result<ExitStatus, Error>) -> Option<Self::Item>;
}

enum LineItems {}

impl Items for LineItems {
    type Item = Result<String, Error>;
    const MODE: Mode = Mode::Lines;
    fn line(line: Line, command: &str, max: usize) -> Self::Item {
        line_item(line, command, max)
    }
    fn end(outcome: Result<ExitStatus, Error>) -> Option<Self::Item> {
        line_end(outcome)
    }
}

enum EventItems {}

impl Items for EventItems {
    type Item = Result<Event, Error>;
    const MODE: Mode = Mode::Events;
    fn line(line: Line, command: &str, max: usize) -> Self::Item {
        event_item(line, command, max)
    }
    fn end(outcome: Result<ExitStatus, Error>) -> Option<Self::Item> {
        Some(event_end(outcome))
    }
}

/// The spawned run, as the consumer needs it.
struct Run {
    control: Arc<Control>,
    gate: Arc<Gate>,
    /// The command line, for errors.
    command: Arc<str>,
    /// The longest line handed out whole.
    max: usize,
}

/// The lines between the loop (producer) and the stream (consumer).
pub(crate) struct Queue {
    state: Mutex<QueueState>,
}

struct QueueState {
    lines: VecDeque<Line>,
    /// The bytes of `lines`.
    bytes: usize,
    waker: Option<Waker>,
    /// The run's status or error, once it is over (or could not start).
    outcome: Option<Result<ExitStatus, Error>>,
    run: Option<Run>,
    /// The stream was dropped: lines are dropped as they come.
    closed: bool,
}

impl Queue {
    fn new(waker: &Waker) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                lines: VecDeque::new(),
                bytes: 0,
                waker: Some(waker.clone()),
                outcome: None,
                run: None,
                closed: false,
            }),
        }
    }

    /// The line sink (on the loop's thread): queues `line`, wakes the
    /// consumer if the queue was empty, and closes `gate` past [`HIGH`].
    fn push(&self, line: Line, gate: &Gate) {
        let waker = {
            let mut state = lock(&self.state);
            if state.closed {
                return;
            }
            let was_empty = state.lines.is_empty();
            state.bytes += line.bytes.len();
            state.lines.push_back(line);
            if state.bytes >= HIGH {
                gate.close();
            }
            if was_empty { state.waker.take() } else { None }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The run is over (or could not start): wakes the consumer.
    fn finish(&self, outcome: Result<ExitStatus, Error>) {
        let waker = {
            let mut state = lock(&self.state);
            if state.closed {
                return;
            }
            state.outcome = Some(outcome);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Records the spawned run; if the stream is gone already, the run is
    /// killed at once.
    fn set_run(&self, run: Run) {
        let mut state = lock(&self.state);
        if state.closed {
            run.control.post(Request::Kill);
        }
        state.run = Some(run);
    }

    /// The stream is dropped: drop the queued lines, open the gate, and
    /// kill the run if it is spawned (the loop kills and reaps it); a run
    /// spawned later is killed by [`set_run`](Queue::set_run).
    fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.waker = None;
        state.lines.clear();
        state.bytes = 0;
        if let Some(run) = &state.run {
            run.gate.open();
            if state.outcome.is_none() {
                run.control.post(Request::Kill);
            }
        }
    }

    /// The next line (with the command line and maximum for its mapping),
    /// or the outcome once every line is out, or `Pending` with `cx`'s
    /// waker registered. Never waits for the lock (see `Cell::poll_take`).
    #[allow(clippy::type_complexity)]
    fn poll_pop(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(Line, Arc<str>, usize), Result<ExitStatus, Error>>> {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        };
        if let Some(line) = state.lines.pop_front() {
            state.bytes -= line.bytes.len();
            let run = state.run.as_ref().expect("lines come from a spawned run");
            if state.bytes < HIGH / 2 {
                run.gate.open();
            }
            return Poll::Ready(Ok((line, run.command.clone(), run.max)));
        }
        if let Some(outcome) = state.outcome.take() {
            return Poll::Ready(Err(outcome));
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The bytes queued now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        lock(&self.state).bytes
    }
}

/// Plans and spawns `command` on this (spawning) thread, in line mode, and
/// hands the run to the background loop with `queue` as its line sink.
fn spawn_into(command: &Command, mode: Mode, max_line: Option<usize>, queue: Arc<Queue>) {
    let mut exec = match command.exec(mode) {
        Ok((exec, _)) => exec,
        Err(error) => return queue.finish(Err(error)),
    };
    if let Some(max) = max_line {
        exec.set_max_line(max);
    }
    let gate = Arc::new(Gate::new(exec.control().clone()));
    exec.set_gate(gate.clone());
    let sink = {
        let (queue, gate) = (queue.clone(), gate.clone());
        Box::new(move |line| queue.push(line, &gate))
    };
    exec.set_line_sink(sink);
    queue.set_run(Run {
        control: exec.control().clone(),
        gate,
        command: exec.display().into(),
        max: exec.max_line(),
    });
    let done = queue.clone();
    let on_done = Box::new(move |outcome: Result<crate::Output, Error>| {
        done.finish(outcome.map(|out| out.status));
    });
    if let Err(rejected) = crate::reactor::submit(exec, on_done) {
        let rejected = *rejected;
        kill_now(rejected.exec);
        queue.finish(Err(rejected.error));
    }
}

/// The state shared by [`LineStream`] and [`EventStream`].
struct Inner<K> {
    command: Command,
    max_line: Option<usize>,
    state: State,
    items: PhantomData<fn() -> K>,
}

enum State {
    Lazy,
    Running(Arc<Queue>),
    Ended,
}

impl<K: Items> Inner<K> {
    fn new(command: &Command) -> Inner<K> {
        Inner {
            command: command.clone(),
            max_line: None,
            state: State::Lazy,
            items: PhantomData,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<K::Item>> {
        let queue = match &self.state {
            State::Lazy => {
                let queue = Arc::new(Queue::new(cx.waker()));
                self.state = State::Running(queue.clone());
                let (command, max_line) = (self.command.clone(), self.max_line);
                crate::pool::spawner::run(Box::new(move || {
                    spawn_into(&command, K::MODE, max_line, queue);
                    None
                }));
                return Poll::Pending;
            }
            State::Running(queue) => queue,
            State::Ended => return Poll::Ready(None),
        };
        match queue.poll_pop(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok((line, command, max))) => {
                Poll::Ready(Some(K::line(line, &command, max)))
            }
            Poll::Ready(Err(outcome)) => {
                self.state = State::Ended;
                Poll::Ready(K::end(outcome))
            }
        }
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::Lazy => "lazy",
            State::Running(_) => "running",
            State::Ended => "ended",
        }
    }
}

impl<K> Drop for Inner<K> {
    fn drop(&mut self) {
        if let State::Running(queue) = &self.state {
            queue.close();
        }
    }
}

/// The stream of [`Command::lines_async`]: the lines of the command's
/// stdout as they come, then its error if it fails.
///
/// Lazy: nothing is spawned before the first poll. Its items are those of
/// the blocking [`Lines`](crate::Lines), mapped by the same code. The
/// command runs on the crate's background thread; while this stream is
/// not polled, at most 256 KiB of lines (plus a read chunk per pipe and
/// one [`max_line`](LineStream::max_line)) wait in it, and then the
/// command's pipe is no longer read, so the command blocks on it until you
/// poll again. Dropping the stream kills and reaps the command's process tree.
#[must_use = "streams do nothing unless polled; dropping this one stops the command"]
pub struct LineStream {
    inner: Inner<LineItems>,
}

impl LineStream {
    /// The longest line handed out whole, in bytes (default 8 MiB; at
    /// least 4), as [`Lines::max_line`](crate::Lines::max_line). Set it
    /// before the first poll: it applies when the command is spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use procession::{cmd, Error};
    /// # fn main() -> Result<(), procession::Error> {
    /// futures::executor::block_on(async {
    ///     let mut lines = cmd!("printf", "short\\nlonger than eight\\n").lines_async().max_line(8);
    ///     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("short"));
    ///     let Some(Err(Error::LineTooLong(piece))) = lines.next().await else { panic!() };
    ///     assert_eq!(piece.text(), Some("longer t"));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn max_line(mut self, max: usize) -> LineStream {
        self.inner.max_line = Some(max);
        self
    }
}

impl Stream for LineStream {
    type Item = Result<String, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next(cx)
    }
}

impl FusedStream for LineStream {
    fn is_terminated(&self) -> bool {
        matches!(self.inner.state, State::Ended)
    }
}

impl std::fmt::Debug for LineStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineStream")
            .field("command", &self.inner.command.to_string())
            .field("state", &self.inner.state_name())
            .finish()
    }
}

/// The stream of [`Command::events_async`]: stdout and stderr lines in
/// arrival order, then the exit status (or the error, if the command
/// fails).
///
/// Lazy, bounded and killed on drop as [`LineStream`]; its items are those
/// of the blocking [`Events`](crate::Events), mapped by the same code.
#[must_use = "streams do nothing unless polled; dropping this one stops the command"]
pub struct EventStream {
    inner: Inner<EventItems>,
}

impl EventStream {
    /// The longest line handed out whole, in bytes (default 8 MiB; at
    /// least 4), for both streams: as [`LineStream::max_line`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use procession::{sh, Error, Event};
    /// # fn main() -> Result<(), procession::Error> {
    /// futures::executor::block_on(async {
    ///     let mut events = sh("echo 0123456789 >&2").events_async().max_line(6);
    ///     let Some(Err(Error::LineTooLong(piece))) = events.next().await else { panic!() };
    ///     assert_eq!((piece.text(), piece.is_stderr()), (Some("012345"), true));
    ///     let Some(Err(Error::LineTooLong(piece))) = events.next().await else { panic!() };
    ///     assert_eq!((piece.text(), piece.ends_line()), (Some("6789"), true));
    ///     assert!(matches!(events.next().await, Some(Ok(Event::Exit(_)))));
    ///     assert!(events.next().await.is_none());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn max_line(mut self, max: usize) -> EventStream {
        self.inner.max_line = Some(max);
        self
    }
}

impl Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_next(cx)
    }
}

impl FusedStream for EventStream {
    fn is_terminated(&self) -> bool {
        matches!(self.inner.state, State::Ended)
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("command", &self.inner.command.to_string())
            .field("state", &self.inner.state_name())
            .finish()
    }
}

impl Command {
    /// The async twin of [`lines`](Command::lines): a
    /// [`Stream`](futures_core::Stream) of the lines of the command's
    /// stdout, then its error if it fails.
    ///
    /// The items are those of [`Lines`](crate::Lines). One difference: the
    /// command is planned and spawned on one of the crate's spawning
    /// threads at the first poll, so a spawn error or invalid input is the
    /// stream's first and last item, where `lines` returns it at once. The
    /// command is driven by the crate's background thread; a consumer that
    /// does not keep up pauses the command (its pipe is not read), never
    /// that thread. The timeout counts from the spawn. Dropping the stream
    /// kills and reaps the command's process tree.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// # fn main() -> Result<(), procession::Error> {
    /// let lines: Vec<String> = futures::executor::block_on(
    ///     procession::cmd!("printf", "a\\nb\\n").lines_async().collect::<Vec<_>>(),
    /// )
    /// .into_iter()
    /// .collect::<Result<_, _>>()?;
    /// assert_eq!(lines, ["a", "b"]);
    /// # Ok(()) }
    /// ```
    pub fn lines_async(&self) -> LineStream {
        LineStream {
            inner: Inner::new(self),
        }
    }

    /// The async twin of [`events`](Command::events): a
    /// [`Stream`](futures_core::Stream) of stdout and stderr lines in
    /// arrival order, ending with [`Event::Exit`] (or the error, if the
    /// command fails).
    ///
    /// The items are those of [`Events`](crate::Events); a spawn error or
    /// invalid input is the first and last item, as for
    /// [`lines_async`](Command::lines_async), which this stream otherwise
    /// works like.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use procession::Event;
    /// # fn main() -> Result<(), procession::Error> {
    /// futures::executor::block_on(async {
    ///     let mut events = procession::sh("echo out; exit 3").unchecked().events_async();
    ///     assert_eq!(events.next().await.transpose()?, Some(Event::Stdout("out".into())));
    ///     let Some(Ok(Event::Exit(status))) = events.next().await else { panic!() };
    ///     assert_eq!(status.code(), Some(3));
    ///     assert!(events.next().await.is_none());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn events_async(&self) -> EventStream {
        EventStream {
            inner: Inner::new(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::test_support::{procfs, pt};

    /// An upper bound on "did not hang".
    const HANG: Duration = Duration::from_secs(30);

    /// What the queue may hold while paused: `HIGH`, a read chunk past it,
    /// and an unfinished line of at most `max_line`.
    fn bound(max_line: usize) -> usize {
        HIGH + 64 * 1024 + max_line
    }

    /// Counts its wakes.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn line(bytes: usize) -> Line {
        Line {
            stream: crate::redirect::Stream::Stdout,
            bytes: vec![b'x'; bytes],
            overlong: false,
            ends_line: true,
        }
    }

    #[test]
    fn one_wake_per_batch_and_the_gate_follows_the_queue() {
        let wakes = Arc::new(Wakes(Default::default()));
        let waker = Waker::from(wakes.clone());
        let count = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);
        let mut cx = Context::from_waker(&waker);
        let queue = Queue::new(&waker);
        let control = Arc::new(Control::default());
        let gate = Arc::new(Gate::new(control.clone()));
        queue.set_run(Run {
            control,
            gate: gate.clone(),
            command: "test".into(),
            max: 100,
        });
        // A batch of lines into an empty queue: one wake.
        for _ in 0..3 {
            queue.push(line(10), &gate);
        }
        assert_eq!(count(), 1);
        for _ in 0..3 {
            assert!(matches!(queue.poll_pop(&mut cx), Poll::Ready(Ok(_))));
        }
        assert!(queue.poll_pop(&mut cx).is_pending(), "empty: waker stored");
        queue.push(line(10), &gate);
        assert_eq!(count(), 2, "the next batch wakes again");
        // Past HIGH the gate closes; it opens once under HIGH / 2.
        let big = HIGH / 4;
        for _ in 0..4 {
            queue.push(line(big), &gate);
        }
        assert!(gate.is_closed());
        let mut popped = 0;
        while gate.is_closed() {
            assert!(matches!(queue.poll_pop(&mut cx), Poll::Ready(Ok(_))));
            popped += 1;
        }
        assert!(queue.bytes() < HIGH / 2, "{} bytes", queue.bytes());
        assert_eq!(popped, 4, "the small line and three big ones");
        // The outcome comes after the last line.
        queue.finish(Ok(ExitStatus::from_code(0)));
        assert!(matches!(queue.poll_pop(&mut cx), Poll::Ready(Ok(_))));
        assert!(matches!(queue.poll_pop(&mut cx), Poll::Ready(Err(Ok(_)))));
    }

    #[test]
    fn an_unpolled_stream_holds_a_bounded_queue() {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let max_line = 1000;
        let mut lines = Command::new(pt())
            .args(["yes", "a line of pt yes"])
            .lines_async()
            .max_line(max_line);
        assert!(Pin::new(&mut lines).poll_next(&mut cx).is_pending());
        let State::Running(queue) = &lines.inner.state else {
            panic!("spawning")
        };
        let queue = queue.clone();
        assert!(
            procfs::eventually(HANG, || queue.bytes() >= HIGH),
            "the queue never filled"
        );
        // Other runs go on meanwhile: the loop is not blocked.
        for _ in 0..20 {
            let other = Command::new(pt())
                .args(["echo", "x"])
                .stdout_null()
                .start()
                .expect("starts");
            other.wait().expect("runs");
            let bytes = queue.bytes();
            assert!(bytes <= bound(max_line), "{bytes} bytes queued");
        }
        // Polling drains the queue, the gate opens, and more lines come.
        let end = Instant::now() + HANG;
        let mut taken = 0;
        while taken < 3 * HIGH {
            let Poll::Ready(Some(item)) = Pin::new(&mut lines).poll_next(&mut cx) else {
                std::thread::yield_now();
                assert!(Instant::now() < end, "no more lines after the pause");
                continue;
            };
            assert_eq!(item.expect("a line"), "a line of pt yes");
            taken += "a line of pt yes".len();
            assert!(queue.bytes() <= bound(max_line));
        }
    }
}
