//! The driver of one batch: it pulls jobs from its input, prepares them,
//! takes their starts and ends from its inbox, applies the retry and halt
//! rules, and hands out finished jobs through its outbox. What it uses has
//! its own file: `input.rs` (where jobs come from), `inbox.rs` (starts and
//! ends, in order), `window.rs` (the outbox and the order window),
//! `report.rs` (events, job log, counts, bar, halt rule), `dispatch.rs`
//! (slots and spawns).
//!
//! A batch runs on the thread that iterates over it (the caller's, for
//! [`map`](crate::Pool::map) and [`as_completed`](crate::Pool::as_completed);
//! the pool's coordinator, for submitted jobs), and only while that thread
//! is inside `next`. The driver keeps a few jobs prepared ahead (see
//! [`ahead`]: four per slot, at most [`AHEAD`]): pulled from the input,
//! numbered, their output files ready. When a slot frees up, the thread
//! that freed it hands the next prepared job to a spawning thread at once
//! (see `dispatch.rs`), so a slot never waits for the driver, and the driver
//! never waits for an `exec`. Between two calls of `next`, running jobs go
//! on and the prepared ones still start, but no new job is pulled.
//!
//! Memory: the batch holds its running and prepared jobs, retries waiting
//! for their delay, and finished jobs not yet handed out (its outbox, see
//! `window.rs`, bounded by the reorder window for input order).
//!
//! Why this file is long: the driver is one state machine (its loop, its
//! waits, its stop and retry rules, its drop) over one set of fields, and
//! its race test needs the pool's private builder; split further, each
//! part would reach into the others' fields.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::capture::Keep;
use crate::error::Error;
use crate::output::Output;

use super::backend::{SharedIds, StopHow, Stopper};
use super::dispatch::{Inner, Prepared, State, Wake};
use super::inbox::{Arrivals, Completion, Message, Spawned};
use super::input::{Input, Pull};
use super::job::{Done, HaltReason, Job, Summary};
use super::output::{self, JobOutput, Sinks, Spool};
use super::policy::{self, HaltAction, StopCause};
use super::report::{Reporter, callback_error};
use super::window::Outbox;
use crate::redirect::Stream;
use crate::sync::lock;
use crate::trace::Span;

/// The most jobs a batch prepares ahead of free slots.
const AHEAD: usize = 16;

/// The most jobs prepared ahead when each may hold open files: its output
/// files in a results directory, or (tagged output of a `duct`
/// expression) spool files. Grouped output is not held to it: a command's
/// is captured through pipes made when it starts, so a prepared job holds
/// none (a `duct` expression's grouped output is spooled to two files per
/// prepared job, at most [`AHEAD`] of them); and with fewer jobs ahead the
/// driver is woken for nearly every end, which cost a grouped job of
/// `/bin/true` a fifth more CPU in this process than an ungrouped one.
const AHEAD_WITH_FILES: usize = 4;

/// The longest a driver that is busy handing out results lets the ends of
/// successful jobs wait before it takes them (see `Batch::wait`).
const COALESCE: Duration = Duration::from_millis(1);

/// How many prepared jobs a batch keeps waiting for a slot: four per slot,
/// so that a slot never waits for the driver and the driver can take
/// several ends per wake-up, but at most [`AHEAD`]; and fewer where each
/// holds open files.
fn ahead(jobs: usize, output: &JobOutput) -> usize {
    match output {
        JobOutput::Files(_) | JobOutput::Tagged => jobs.min(AHEAD_WITH_FILES),
        _ => jobs.saturating_mul(4).clamp(AHEAD_WITH_FILES, AHEAD),
    }
}

/// An attempt prepared, being spawned, or running.
struct Running {
    job: Job,
    attempt: u32,
    /// 0 until it starts.
    slot: usize,
    start: Instant,
    start_time: SystemTime,
    stopper: Option<Arc<dyn Stopper>>,
    /// Where it runs, for a remote backend.
    ids: Option<SharedIds>,
    spool: Option<Spool>,
    /// The `Started` callback panicked with this message.
    panic: Option<String>,
    /// The batch stopped it.
    stopped: Option<StopCause>,
    /// Its start and end, handed over in order.
    arrivals: Arrivals,
    /// For a retry: the report of the attempt before, to hand out if this
    /// one never starts.
    last: Option<Done>,
    /// The job's span, across its attempts.
    span: Span,
}

/// A failed job waiting for its retry delay.
struct Waiting {
    job: Job,
    seq: u64,
    attempt: u32,
    /// `None`: a delay too long to express, so never (until a stop).
    due: Option<Instant>,
    spool: Option<Spool>,
    /// The report to hand out if the retry never starts.
    last: Done,
    span: Span,
}

/// A finished job, with its grouped output still to copy out.
struct Finished {
    done: Done,
    spool: Option<Spool>,
}

/// Where a batch stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Pulling jobs from the input as slots and the window allow.
    Pulling,
    /// The input gave its last job: running what was pulled.
    Drained,
    /// Starting nothing more (`drained`: the input had given its last
    /// job); running jobs end, or are stopped for [`HaltReason::Now`].
    Halted { reason: HaltReason, drained: bool },
    /// Every job was handed out.
    Over { halted: Option<HaltReason> },
}

impl Phase {
    /// Why the batch halted, if it did.
    fn halted(self) -> Option<HaltReason> {
        match self {
            Phase::Halted { reason, .. } => Some(reason),
            Phase::Over { halted } => halted,
            Phase::Pulling | Phase::Drained => None,
        }
    }

    /// Whether the input gave its last job.
    fn drained(self) -> bool {
        matches!(self, Phase::Drained | Phase::Halted { drained: true, .. })
    }

    /// The input gave its last job.
    fn input_ended(&mut self) {
        *self = match *self {
            Phase::Pulling => Phase::Drained,
            Phase::Halted { reason, .. } => Phase::Halted {
                reason,
                drained: true,
            },
            other => other,
        };
    }

    /// The batch halts (or a halt escalates) for `reason`.
    fn halt(&mut self, reason: HaltReason) {
        let drained = self.drained();
        *self = Phase::Halted { reason, drained };
    }
}

/// One batch of jobs. See the module docs.
///
/// `'p` ties a blocking iterator to its [`Pool`](crate::Pool); the async
/// streams use `'static` (the batch holds the pool's shared state itself).
pub(crate) struct Batch<'p, I: Input> {
    inner: Arc<Inner>,
    pool: PhantomData<&'p Inner>,
    id: u64,
    pub(crate) input: I,
    phase: Phase,
    next_seq: u64,
    /// Jobs prepared, being spawned or running, by sequence number.
    running: HashMap<u64, Running>,
    /// How many prepared jobs to keep waiting for a slot.
    ahead: usize,
    /// Jobs are ending fast: take their ends in bulk (see `wait`).
    coalesce: bool,
    waiting: Vec<Waiting>,
    out: Outbox<Finished>,
    report: Reporter,
    /// The pool was terminated: the next check of the rules halts the
    /// batch (it cannot while the pool's lock is held).
    terminated: bool,
    /// The input's total, learnt while waiting, for the bar.
    total: Option<u64>,
    /// Emptied spool files, for the next grouped jobs.
    spares: Vec<Spool>,
    /// Copies grouped output for an async stream.
    copier: crate::aio::GroupedCopier,
    /// For an async stream: the counts of lines the stdout and stderr
    /// writers must have written before the last job handed out has its
    /// tagged output out.
    lines_due: Option<[u64; 2]>,
}

impl<'p, I: Input> Batch<'p, I> {
    /// A batch handing out jobs as they complete, or in input order.
    pub(crate) fn new(inner: &Arc<Inner>, input: I, ordered: bool) -> Batch<'p, I> {
        let report = Reporter::new(inner.clone(), input.remaining());
        Batch {
            id: inner.open_batch(),
            inner: inner.clone(),
            pool: PhantomData,
            input,
            phase: Phase::Pulling,
            next_seq: 1,
            running: HashMap::new(),
            ahead: ahead(inner.config.jobs, &inner.config.output),
            coalesce: false,
            waiting: Vec::new(),
            out: Outbox::new(ordered),
            report,
            terminated: false,
            total: None,
            spares: Vec::new(),
            copier: crate::aio::GroupedCopier::default(),
            lines_due: None,
        }
    }

    /// The counts so far.
    pub(crate) fn summary(&self) -> Summary {
        self.report.summary(self.phase.halted())
    }

    /// The next finished job, preparing jobs as slots free up; `None` once
    /// the batch is over.
    pub(crate) fn next(&mut self) -> Option<Done> {
        loop {
            // Without a context, `advance` waits: it is never pending.
            if let Poll::Ready(done) = self.advance(None) {
                return done;
            }
        }
    }

    /// The async twin of [`next`](Self::next): the same steps, but where
    /// `next` would wait, it registers `cx`'s waker with the pool (woken
    /// wherever a waiting driver would be) and with the background loop's
    /// timers (a retry delay, the deadline, a progress tick), and returns
    /// `Pending`. A job's grouped or tagged output may not be out yet when
    /// its report is returned: see [`emit`](Self::emit).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Done>> {
        self.advance(Some(cx))
    }

    /// For an async stream: ready once the output of the jobs handed out
    /// so far is out (grouped output copied, tagged lines written), as the
    /// blocking `next` waits for it before it returns a job.
    pub(crate) fn poll_output_written(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        std::task::ready!(self.copier.poll_drained(cx));
        if let Some([out, err]) = self.lines_due {
            std::task::ready!(output::Writer::of(Stream::Stdout).poll_written(out, cx.waker()));
            std::task::ready!(output::Writer::of(Stream::Stderr).poll_written(err, cx.waker()));
            self.lines_due = None;
        }
        Poll::Ready(())
    }

    /// The driver's loop, for [`next`](Self::next) (`cx` is `None`: it
    /// waits) and [`poll_next`](Self::poll_next).
    fn advance(&mut self, mut cx: Option<&mut Context<'_>>) -> Poll<Option<Done>> {
        let blocking = cx.is_none();
        loop {
            if let Some(finished) = self.out.pop() {
                return Poll::Ready(Some(self.emit(finished, blocking)));
            }
            if matches!(self.phase, Phase::Over { .. }) {
                return Poll::Ready(None);
            }
            self.prepare_jobs();
            if let Some(finished) = self.out.pop() {
                return Poll::Ready(Some(self.emit(finished, blocking)));
            }
            if self.is_over() {
                self.finish();
                return Poll::Ready(None);
            }
            let news = match cx.as_deref_mut() {
                None => self.wait(),
                Some(cx) => std::task::ready!(self.try_wait(cx)),
            };
            for message in news {
                self.receive(message);
            }
            if let Some(total) = self.total.take() {
                self.report.bar.set_total(total);
            }
            self.report.tick(Instant::now());
        }
    }

    /// Whether no attempt of the batch is prepared or running: dropping
    /// it then waits for nothing.
    pub(crate) fn is_idle(&self) -> bool {
        self.running.is_empty()
    }

    fn is_over(&self) -> bool {
        self.running.is_empty()
            && self.waiting.is_empty()
            && self.out.is_empty()
            && !matches!(self.phase, Phase::Pulling)
    }

    fn finish(&mut self) {
        let halted = self.phase.halted();
        let drained = self.phase.drained();
        self.phase = Phase::Over { halted };
        if let Some(shared) = self.inner.lock().shared(self.id) {
            shared.over = true;
        }
        // After a forwarded Ctrl-C, the batch is over because of it: the
        // signal, not the end of the loop over the batch, ends the program.
        crate::signals::linger_if_ending();
        if halted.is_some() && !drained {
            self.report.skipped(self.input.remaining().unwrap_or(0));
        }
        self.report.finish(halted);
    }

    /// Hands a finished job out, copying its grouped output first (or, for
    /// tagged output, waiting until the writer threads wrote its lines), so
    /// that a job handed out has its output out. Output that cannot be
    /// written halts the batch.
    ///
    /// For an async stream (`blocking` false), nothing here may wait: the
    /// grouped output is queued to be copied off the executor's thread (see
    /// `aio::GroupedCopier`), and for tagged lines the writers' counts to
    /// reach are noted; the stream holds the job until
    /// [`poll_output_written`](Self::poll_output_written) is ready.
    fn emit(&mut self, mut finished: Finished, blocking: bool) -> Done {
        if !blocking {
            // As below: spooled output (grouped, or tagged for a backend
            // that cannot stream lines) and captured grouped output.
            if finished.spool.is_some() || self.inner.config.output == JobOutput::Grouped {
                self.copier.copy_later(&mut finished.done, finished.spool);
            } else if self.writes_lines() {
                self.lines_due = Some([
                    output::Writer::of(Stream::Stdout).pushed(),
                    output::Writer::of(Stream::Stderr).pushed(),
                ]);
            }
            self.check_output();
            return finished.done;
        }
        if self.inner.config.output == JobOutput::Grouped && finished.spool.is_none() {
            let output = match &mut finished.done.result {
                Ok(output) => Some(output),
                Err(error) => error.output_mut(),
            };
            if let Some(output) = output {
                // A failed copy marks the output closed: checked below.
                let _ = super::progress::suspend(|| output::copy_captured(output));
            }
        } else if let Some(mut spool) = finished.spool {
            let copied = super::progress::suspend(|| spool.copy_out());
            if copied.is_ok() && self.spares.len() < self.inner.config.jobs && spool.reset().is_ok()
            {
                self.spares.push(spool);
            }
        } else if self.writes_lines() {
            output::Writer::of(Stream::Stdout).wait_written();
            output::Writer::of(Stream::Stderr).wait_written();
        }
        self.check_output();
        finished.done
    }

    /// Whether jobs' output lines go through the writer threads: tagged
    /// output, and terminal output above a progress bar.
    fn writes_lines(&self) -> bool {
        match self.inner.config.output {
            JobOutput::Tagged => true,
            JobOutput::AsCommand => self.report.bar.drawn(),
            _ => false,
        }
    }

    /// Halts the batch if its jobs' output can no longer be written.
    fn check_output(&mut self) {
        let to_terminal = self.writes_lines() || self.inner.config.output == JobOutput::Grouped;
        if to_terminal && output::closed() {
            self.halt(HaltReason::OutputClosed);
        }
    }

    /// Whether a new job may be pulled, as far as input order is concerned.
    fn window_ok(&self) -> bool {
        self.out.may_pull(self.next_seq, self.inner.config.window)
    }

    /// Notices the deadline and a terminated pool.
    fn check_stops(&mut self, now: Instant) {
        if self.phase.halted().is_some() {
            return;
        }
        if self.terminated {
            self.halt(HaltReason::Terminated);
        } else if self.inner.config.deadline.is_some_and(|d| now >= d) {
            self.halt(HaltReason::Deadline);
        } else {
            self.check_output();
        }
    }

    /// Whether a retry is due or a new job may be pulled.
    fn has_work(&self, now: Instant) -> bool {
        self.waiting.iter().any(|w| w.due.is_some_and(|d| d <= now))
            || (!self.phase.drained() && self.window_ok())
    }

    /// Prepares jobs (due retries first) until `ahead` are waiting for a
    /// slot, the input has nothing now, or the rules say stop.
    fn prepare_jobs(&mut self) {
        loop {
            let now = Instant::now();
            self.check_stops(now);
            if self.phase.halted().is_some() || !self.has_work(now) {
                return;
            }
            {
                let mut state = self.inner.lock();
                self.terminated |= state.terminated.is_some();
                if state.prepared(self.id) >= self.ahead {
                    return;
                }
                // Messages come first: an endless input of quick jobs must
                // not keep us here.
                if state.shared(self.id).is_some_and(|s| !s.inbox.is_empty()) {
                    return;
                }
            }
            if self.terminated {
                continue;
            }
            let (job, seq, attempt, spool, last) = match self
                .waiting
                .iter()
                .position(|w| w.due.is_some_and(|d| d <= now))
            {
                Some(i) => {
                    let w = self.waiting.swap_remove(i);
                    let last = Some((w.last, w.span));
                    (w.job, w.seq, w.attempt, w.spool, last)
                }
                None => match self.input.pull() {
                    Pull::Job(job, seq) => {
                        let seq = seq.unwrap_or(self.next_seq);
                        self.next_seq = self.next_seq.max(seq + 1);
                        (job, seq, 1, None, None)
                    }
                    Pull::Later => return,
                    Pull::End => {
                        self.phase.input_ended();
                        return;
                    }
                },
            };
            self.prepare(job, seq, attempt, spool, last);
        }
    }

    /// Prepares one attempt and queues it for a slot. A job whose output
    /// files cannot be set up is queued too: its start fails with that
    /// error (or, for want of descriptors while others run, it is prepared
    /// again later: see `dispatch::waits_for_descriptors`).
    fn prepare(
        &mut self,
        job: Job,
        seq: u64,
        attempt: u32,
        spool: Option<Spool>,
        last: Option<(Done, Span)>,
    ) {
        let (last, span) = match last {
            Some((done, span)) => (Some(done), span),
            None => (None, Span::job(seq, &job)),
        };
        let run = Running {
            job,
            attempt,
            slot: 0,
            start: Instant::now(),
            start_time: SystemTime::now(),
            stopper: None,
            ids: None,
            spool,
            panic: None,
            stopped: None,
            arrivals: Arrivals::new(),
            last,
            span,
        };
        self.queue(seq, run, false);
    }

    /// Sets up the output of an attempt and queues it for a slot.
    fn queue(&mut self, seq: u64, mut run: Running, requeued: bool) {
        let since = self.inner.since();
        let prepared = Prepared {
            key: (self.id, seq),
            job: run.job.clone(),
            sinks: self.sinks_for(seq, &mut run),
            span: run.span.clone(),
            since,
            requeued,
        };
        self.running.insert(seq, run);
        self.inner.prepare(prepared);
    }

    /// Sets up again the output files of an attempt that could not have
    /// them for want of descriptors while others ran, and queues it anew;
    /// unless the batch stopped meanwhile.
    fn prepare_again(&mut self, seq: u64) {
        let Some(run) = self.running.get(&seq) else {
            return;
        };
        if run.stopped.is_some() || self.phase.halted().is_some() || self.terminated {
            self.unprepare(seq);
            return;
        }
        let Some(run) = self.running.remove(&seq) else {
            return;
        };
        self.queue(seq, run, true);
    }

    /// Where this attempt's output goes, creating its files if needed.
    fn sinks_for(&mut self, seq: u64, run: &mut Running) -> Result<Sinks, Error> {
        let file_error = |e| Error::io(format!("cannot set up the output files of job #{seq}"), e);
        let spares = &mut self.spares;
        let mut grouped = |run: &mut Running| -> Result<Sinks, Error> {
            match &mut run.spool {
                // A retry starts from empty files.
                Some(spool) => spool.reset().map_err(file_error)?,
                None => match spares.pop() {
                    Some(spare) => run.spool = Some(spare),
                    None => run.spool = Some(Spool::new().map_err(file_error)?),
                },
            }
            run.spool
                .as_ref()
                .expect("just set")
                .sinks()
                .map_err(file_error)
        };
        let above_bar = self.report.bar.drawn() && self.inner.backend.caps(&run.job).stream_lines;
        Ok(match &self.inner.config.output {
            JobOutput::AsCommand if above_bar => Sinks::Lines,
            JobOutput::AsCommand => Sinks::AsCommand,
            JobOutput::Discard => Sinks::Null,
            JobOutput::Capture { limit, keep } => Sinks::Capture(*limit, *keep),
            JobOutput::Files(dir) => output::result_files(dir, seq).map_err(file_error)?,
            // A command's grouped output is captured: memory first, a file
            // only past the limit.
            JobOutput::Grouped if self.inner.backend.caps(&run.job).spill_capture => {
                Sinks::Capture(Some(output::GROUPED_MEMORY), Keep::Spill)
            }
            JobOutput::Grouped => grouped(run)?,
            JobOutput::Tagged if self.inner.backend.caps(&run.job).stream_lines => Sinks::Tagged,
            JobOutput::Tagged => grouped(run)?,
        })
    }

    /// Handles one message of the inbox.
    fn receive(&mut self, message: Message) {
        for message in self.in_order(message).into_iter().flatten() {
            match message {
                Message::Started(spawned) => self.started(spawned),
                Message::Done(completion) => self.complete(completion),
                Message::Again(seq) => self.prepare_again(seq),
            }
        }
    }

    /// What to handle now for this message: its attempt's start before its
    /// end (see [`Arrivals`]). A message about an attempt the batch no
    /// longer holds is handed over as it is.
    fn in_order(&mut self, message: Message) -> [Option<Message>; 2] {
        match self.running.get_mut(&message.seq()) {
            Some(run) => run.arrivals.arrive(message),
            None => [Some(message), None],
        }
    }

    /// A spawning thread reported an attempt's start.
    fn started(&mut self, spawned: Spawned) {
        let seq = spawned.seq;
        if spawned.skipped {
            self.unprepare(seq);
            return;
        }
        let Some(run) = self.running.get_mut(&seq) else {
            return;
        };
        if run.attempt > 1 {
            self.report.retried();
        }
        run.slot = spawned.slot;
        run.start = spawned.at;
        run.start_time = spawned.time;
        match spawned.result {
            Ok(started) => {
                if run.stopped.is_some() {
                    // A halt came while it was being spawned.
                    started.stopper.stop(StopHow::Cancel);
                }
                run.stopper = Some(started.stopper);
                run.ids = started.ids;
                run.span.started(run.slot, run.attempt, &started.pids);
                run.panic =
                    self.report
                        .started(&run.job, seq, run.slot, run.attempt, &started.pids);
            }
            Err(error) => self.complete(Completion {
                seq,
                result: Err(error),
                ended: Instant::now(),
                paused: spawned.paused,
            }),
        }
    }

    /// Waits for news of this batch's attempts, for room to prepare a job,
    /// or for the next timer; returns the news.
    ///
    /// While jobs end faster than one per [`COALESCE`], the driver is not
    /// woken for each: it sleeps for up to that long and takes every end
    /// that came meanwhile at once (a failure, or prepared jobs running
    /// low, still wakes it at once). A result may so reach the caller up to
    /// [`COALESCE`] late; the end time it records is exact.
    fn wait(&mut self) -> VecDeque<Message> {
        let began = Instant::now();
        let inner = self.inner.clone();
        let mut state = inner.lock();
        loop {
            match self.check(&mut state, began) {
                Ok(news) => return news,
                Err(timer) => state = inner.wait(state, timer),
            }
        }
    }

    /// The async twin of [`wait`](Self::wait): the same checks, but
    /// instead of sleeping it registers `cx`'s waker with the pool and the
    /// next timer with the background loop. It never coalesces ends: a task
    /// is woken for each.
    fn try_wait(&mut self, cx: &mut Context<'_>) -> Poll<VecDeque<Message>> {
        self.coalesce = false;
        let inner = self.inner.clone();
        let mut state = inner.lock();
        match self.check(&mut state, Instant::now()) {
            Ok(news) => Poll::Ready(news),
            Err(timer) => {
                inner.register(&mut state, cx.waker());
                drop(state);
                if let Some(timer) = timer {
                    crate::reactor::wake_at(timer, cx.waker());
                }
                Poll::Pending
            }
        }
    }

    /// What [`wait`](Self::wait) decides under the pool's lock: news to
    /// return (perhaps none, when there is something else to do), or
    /// `Err(timer)`: sleep until notified or until the timer.
    fn check(
        &mut self,
        state: &mut State,
        began: Instant,
    ) -> Result<VecDeque<Message>, Option<Instant>> {
        self.terminated |= state.terminated.is_some();
        if let Some(shared) = state.shared(self.id) {
            if !shared.inbox.is_empty() {
                let news = std::mem::take(&mut shared.inbox);
                let ended = news.iter().any(|m| matches!(m, Message::Done(_)));
                self.coalesce = ended && began.elapsed() < 2 * COALESCE;
                return Ok(news);
            }
        }
        if self.report.bar.wants_total() && self.total.is_none() {
            self.total = self.input.total();
            if self.total.is_some() {
                return Ok(VecDeque::new());
            }
        }
        if !self.phase.drained() && self.input.ended() {
            self.phase.input_ended();
            return Ok(VecDeque::new());
        }
        let now = Instant::now();
        if self.report.bar.next_tick().is_some_and(|t| t <= now) {
            return Ok(VecDeque::new());
        }
        if self.phase.halted().is_none() {
            let deadline_passed = self.inner.config.deadline.is_some_and(|d| now >= d);
            let room = state.prepared(self.id) < self.ahead && self.has_work(now);
            if self.terminated || deadline_passed || (room && self.input.can_pull()) {
                return Ok(VecDeque::new());
            }
        }
        // A quiet spell: back to waking for every end.
        self.coalesce &= now < began + COALESCE;
        let wake = Wake {
            starts: self.wants_starts(),
            coalesce: self.coalesce,
            low_water: self.ahead / 2,
        };
        if let Some(shared) = state.shared(self.id) {
            shared.wake = wake;
        }
        let mut timer = self.next_timer(now);
        if let Some(tick) = self.report.bar.next_tick() {
            timer = Some(timer.map_or(tick, |t| t.min(tick)));
        }
        if self.coalesce {
            timer = Some(timer.map_or(began + COALESCE, |t| t.min(began + COALESCE)));
        }
        Err(timer)
    }

    /// Whether a start must wake the driver, rather than wait for the
    /// attempt's end: for the event callback, and for a halt, which stops
    /// attempts that were being spawned once they start. Room for more jobs
    /// does not need it: that comes with an end, or a failed start, which
    /// always wake the driver.
    fn wants_starts(&self) -> bool {
        self.inner.config.on_event.is_some() || self.phase.halted().is_some()
    }

    /// When the batch next has something to do without being notified: a
    /// retry comes due, or the deadline passes.
    fn next_timer(&self, now: Instant) -> Option<Instant> {
        if self.phase.halted().is_some() {
            return None;
        }
        let retries = self
            .waiting
            .iter()
            .filter_map(|w| w.due)
            .filter(|due| *due > now);
        retries.chain(self.inner.config.deadline).min()
    }

    /// An attempt ended: retry it, or report the job.
    fn complete(&mut self, completion: Completion) {
        let Some(run) = self.running.remove(&completion.seq) else {
            return;
        };
        let mut result = completion.result;
        if let Some(message) = run.panic {
            result = Err(callback_error(completion.seq, &message));
        }
        let stopped = run
            .stopped
            .or_else(|| self.stop_cause(&result, completion.ended));
        if let (Some(cause), Err(Error::Cancelled(e))) = (stopped, &mut result) {
            e.stopped_by = Some(cause.who());
        }
        let failure = policy::classify(&result, stopped);
        let done = Done {
            seq: completion.seq,
            slot: run.slot,
            attempts: run.attempt,
            command: run.job.to_string(),
            start_time: run.start_time,
            elapsed: completion.ended.saturating_duration_since(run.start),
            result,
            failure,
            ids: run
                .ids
                .as_ref()
                .map(|ids| lock(ids).clone())
                .unwrap_or_default(),
        };
        run.span.finished(&done.result, done.elapsed);
        let retry = failure
            .filter(|_| self.phase.halted().is_none())
            .and_then(|f| policy::retry_after(&self.inner.config.retry, run.attempt, f));
        match retry {
            Some(delay) => {
                // Every attempt has its line in the job log, as with GNU
                // parallel's `--retries`.
                self.report.log(&done);
                self.waiting.push(Waiting {
                    job: run.job,
                    seq: completion.seq,
                    attempt: run.attempt + 1,
                    due: crate::sync::after(completion.ended, delay),
                    spool: run.spool,
                    last: done,
                    span: run.span,
                });
            }
            None => self.report(done, run.spool, true),
        }
        self.check_output();
        // Judged (and halted, if the rule says so): this failure no longer
        // holds the batch.
        if completion.paused {
            self.inner.resume(self.id);
        }
    }

    /// Whether the pool (not the batch) stopped an attempt with this result.
    fn stop_cause(&self, result: &Result<Output, Error>, ended: Instant) -> Option<StopCause> {
        match result {
            Err(Error::Cancelled(_))
                if self.terminated || self.inner.lock().terminated.is_some() =>
            {
                Some(StopCause::Terminate)
            }
            // Stopped by the output writer: its output had nowhere to go.
            Err(Error::Cancelled(_)) if output::closed() => Some(StopCause::Halt),
            Err(Error::Timeout(e))
                if e.limit().is_none()
                    && self.inner.config.deadline.is_some_and(|d| ended >= d) =>
            {
                Some(StopCause::Deadline)
            }
            _ => None,
        }
    }

    /// A job finished for good: reported (see [`Reporter::finished`]),
    /// into the outbox, and the batch halted if the rule says so.
    fn report(&mut self, done: Done, spool: Option<Spool>, log: bool) {
        let (done, action) = self.report.finished(done, log);
        self.out.push(done.seq, Some(Finished { done, spool }));
        match action {
            HaltAction::Continue => {}
            HaltAction::StopStarting => self.halt(HaltReason::Soon),
            HaltAction::StopAll => self.halt(HaltReason::Now),
        }
    }

    /// Starts no more jobs; for `Now`, stops the running ones. Prepared
    /// jobs are taken back (skipped), and retries that have not started are
    /// reported with their last attempt.
    fn halt(&mut self, reason: HaltReason) {
        let stops_running = matches!(reason, HaltReason::Now | HaltReason::OutputClosed);
        let escalate = stops_running && self.phase.halted() == Some(HaltReason::Soon);
        if self.phase.halted().is_some() && !escalate {
            return;
        }
        self.phase.halt(reason);
        for prepared in self.inner.withdraw(self.id) {
            self.unprepare(prepared.key.1);
        }
        if stops_running {
            // Those still being spawned are stopped once they start.
            for run in self.running.values_mut() {
                run.stopped = Some(StopCause::Halt);
                if let Some(stopper) = &run.stopper {
                    stopper.stop(StopHow::Cancel);
                }
            }
        }
        for waiting in std::mem::take(&mut self.waiting) {
            self.report(waiting.last, waiting.spool, false);
        }
    }

    /// Forgets a prepared attempt that will never start: a first attempt
    /// counts as skipped; a retry is reported with its attempt before.
    fn unprepare(&mut self, seq: u64) {
        let Some(run) = self.running.remove(&seq) else {
            return;
        };
        match run.last {
            Some(last) => self.report(last, run.spool, false),
            None => {
                self.report.skipped(1);
                self.out.push(seq, None);
                if let Some(spool) = run.spool {
                    self.spares.push(spool);
                }
            }
        }
    }
}

impl<I: Input> Batch<'_, I> {
    /// Forgets the prepared jobs and kills the running ones, without
    /// waiting (the first half of the drop; an async stream calls it
    /// before it hands the rest of the drop to another thread).
    pub(crate) fn stop_now(&mut self) {
        for prepared in self.inner.withdraw(self.id) {
            self.running.remove(&prepared.key.1);
        }
        for run in self.running.values() {
            if let Some(stopper) = &run.stopper {
                stopper.stop(StopHow::Kill);
            }
        }
    }
}

impl<I: Input> Drop for Batch<'_, I> {
    /// Forgets the prepared jobs, kills the running ones and waits until
    /// they are reaped.
    fn drop(&mut self) {
        self.stop_now();
        let inner = self.inner.clone();
        let mut state = inner.lock();
        // Attempts are killed as they start.
        if let Some(shared) = state.shared(self.id) {
            shared.wake = Wake {
                starts: true,
                coalesce: false,
                low_water: 0,
            };
        }
        while !self.running.is_empty() {
            let messages = state
                .shared(self.id)
                .map(|s| std::mem::take(&mut s.inbox))
                .unwrap_or_default();
            for message in messages {
                self.forget(message);
            }
            if !self.running.is_empty() {
                state = inner.wait(state, None);
            }
        }
        drop(state);
        self.inner.close_batch(self.id);
    }
}

impl<I: Input> Batch<'_, I> {
    /// While dropping: kills what starts, forgets what ends.
    fn forget(&mut self, message: Message) {
        for message in self.in_order(message).into_iter().flatten() {
            match message {
                Message::Started(Spawned {
                    result: Ok(started),
                    ..
                }) => started.stopper.stop(StopHow::Kill),
                Message::Started(Spawned { seq, .. }) | Message::Again(seq) => {
                    self.running.remove(&seq);
                }
                Message::Done(completion) => {
                    self.running.remove(&completion.seq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Mutex, mpsc};

    use super::*;
    use crate::Command;
    use crate::pool::backend::{Backend, Caps, Launch, Started};
    use crate::pool::local::Local;
    use crate::pool::{Halt, JobEvent, Pool, Threshold};
    use crate::reactor::OnDone;
    use crate::sync::lock;
    use crate::test_support::pt;

    /// An upper bound on "did not hang".
    const HANG: Duration = Duration::from_secs(30);

    type End = (u64, Result<Output, Error>, OnDone);

    /// Runs jobs on this machine, but hands each end to the test, which
    /// reports it to the pool when it chooses.
    struct Held {
        ends: mpsc::Sender<End>,
        starts: Arc<AtomicUsize>,
    }

    impl Backend for Held {
        fn caps(&self, job: &Job) -> Caps {
            Local.caps(job)
        }

        fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error> {
            self.starts.fetch_add(1, Ordering::SeqCst);
            let seq = launch.seq;
            let ends = self.ends.clone();
            let hold: OnDone = Box::new(move |result| {
                let _ = ends.send((seq, result, on_done));
            });
            Local.start(job, launch, hold)
        }
    }

    #[test]
    fn jobs_prepared_ahead_table() {
        let files = JobOutput::Files(std::path::PathBuf::from("results"));
        // (slots, output, prepared ahead)
        let table = [
            (2, JobOutput::AsCommand, 8),
            (2, JobOutput::Grouped, 8),
            (1, JobOutput::Grouped, 4),
            (8, JobOutput::Grouped, AHEAD),
            (2, JobOutput::Tagged, 2),
            (2, files.clone(), 2),
            (8, files, AHEAD_WITH_FILES),
        ];
        for (slots, output, want) in table {
            assert_eq!(ahead(slots, &output), want, "{slots} {output:?}");
        }
    }

    /// A failure ends while the driver is still judging the success before
    /// it: the failure's pause must hold until the failure is judged, so
    /// that no job starts after the failure that halts the batch.
    #[test]
    fn a_failure_ending_while_a_success_is_judged_starts_nothing_more() {
        let (ends_tx, ends) = mpsc::channel::<End>();
        let (pulled_tx, pulled) = mpsc::channel::<()>();
        let (reported_tx, reported) = mpsc::channel::<u64>();
        let reported = Mutex::new(reported);
        let starts = Arc::new(AtomicUsize::new(0));
        let raced = Arc::new(AtomicBool::new(false));
        let raced_in_callback = raced.clone();
        let pool = Pool::builder()
            .jobs(1)
            .halt(Halt::Soon(Threshold::Failures(1)))
            .on_event(move |event| {
                // Judging job 1: job 2 fails meanwhile.
                if let JobEvent::Finished(done) = event {
                    if done.seq() == 1 {
                        let reported = lock(&reported);
                        while let Ok(seq) = reported.recv_timeout(HANG) {
                            if seq == 2 {
                                raced_in_callback.store(true, Ordering::SeqCst);
                                break;
                            }
                        }
                    }
                }
            })
            .build_with(Box::new(Held {
                ends: ends_tx,
                starts: starts.clone(),
            }));
        let reporter = std::thread::spawn(move || {
            for (seq, result, on_done) in ends {
                if seq == 1 {
                    // Job 2 waits for job 1's slot once the input gave job 3.
                    let _ = pulled.recv_timeout(HANG);
                }
                on_done(result);
                let _ = reported_tx.send(seq);
            }
        });
        let jobs = (1..=4).map(|seq| {
            if seq == 3 {
                let _ = pulled_tx.send(());
            }
            let code = if seq == 2 { "1" } else { "0" };
            Command::new(pt()).args(["exit", code])
        });
        let summary = pool.as_completed(jobs).finish();
        drop(pool);
        reporter.join().expect("the reporting thread");
        assert!(raced.load(Ordering::SeqCst), "job 2 did not end in time");
        assert_eq!(starts.load(Ordering::SeqCst), 2, "jobs started");
        assert_eq!(
            (
                summary.succeeded,
                summary.failed,
                summary.stopped,
                summary.skipped
            ),
            (1, 1, 0, 2)
        );
        assert_eq!(summary.halted, Some(HaltReason::Soon));
    }
}
