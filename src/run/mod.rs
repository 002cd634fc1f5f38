//! One run in progress: its processes, its pipes, its timers.
//!
//! An [`Exec`] is a state machine that never blocks. A poll loop (see
//! `reactor`) asks it which descriptors to watch and when its next timer is
//! due, then tells it what became ready. The same machine serves a blocking
//! `run()` on the caller's thread, the line iterators, and the shared
//! background loop behind [`Handle`](crate::Handle)s and the pool, so every
//! mode has the same exact deadlines and the same stop logic.
//!
//! A run is over when every process has been reaped, every captured pipe is at
//! end of file or abandoned after the drain time, and, if the run is being
//! stopped, its process group is empty or the stop sequence is over.
//!
//! Why this file is long: it is the one place where the run's state is
//! changed, event by event (an exit, a readable or writable pipe, a request,
//! a timer); what can be said without that state lives in the files below.
//!
//! | File          | Holds                                                  |
//! |---------------|--------------------------------------------------------|
//! | `mod.rs`      | [`Exec`]: its processes, pipes and timers, driven      |
//! | `stopping.rs` | the stop sequence carried out on the whole tree        |
//! | `split.rs`    | line-mode output cut into lines                        |
//! | `outcome.rs`  | the run's [`Output`](crate::Output) or its error       |

mod outcome;
mod split;
mod stopping;

pub(crate) use split::{Line, LineSink, MAX_LINE, MIN_MAX_LINE};
use split::{Splitter, split_lines};
use stopping::{Reason, Stopping};

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::capture::Capture;
use crate::control::{Control, Gate, Request};
use crate::error::Error;
use crate::pipestatus::Check;
use crate::plan::{ChannelPlan, Plan};
use crate::redirect::Stream;
use crate::spawn::{SpawnedRun, StartedStage};
use crate::status::ExitStatus;
use crate::stop::StopSequence;
use crate::sys::{self, Interest, Pid, Signal, Wrote};
use crate::terminal::{self, Terminal};
use crate::time_limit::TimeLimit;
use crate::trace::Span;

/// How often we look for exits without a pidfd, and for an empty process
/// group while stopping.
const TICK: Duration = Duration::from_millis(5);

/// How often a run that holds the terminal looks whether job control
/// stopped it (a stop makes no pidfd readable).
const TERMINAL_TICK: Duration = Duration::from_millis(20);

/// The read buffer for pipes.
const CHUNK: usize = 64 * 1024;

/// How much of a line-mode stream is also kept, for error messages.
const LINE_TAIL: usize = 4096;

struct Proc {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    /// The status was taken by someone else (ECHILD): the process is gone.
    lost: bool,
    /// When we reaped it, to order exits for the `SIGPIPE` rule.
    ended: Option<Instant>,
    display: String,
    check: Check,
    feeds_next: bool,
}

impl Proc {
    fn new(stage: StartedStage) -> Proc {
        let pid = sys::pid_from_raw(stage.pid).expect("a spawned process has a pid");
        Proc {
            pid,
            pidfd: sys::pidfd_open(pid),
            status: None,
            lost: false,
            ended: None,
            display: stage.display,
            check: stage.check,
            feeds_next: stage.feeds_next,
        }
    }

    fn done(&self) -> bool {
        self.status.is_some() || self.lost
    }
}

struct Channel {
    fd: Option<OwnedFd>,
    plan: ChannelPlan,
    capture: Capture,
    /// Bytes of an unfinished line, in line mode.
    partial: Vec<u8>,
    /// The unfinished line is longer than the maximum: pieces of it were
    /// handed out already.
    overlong: bool,
    /// The pipe was found full once, and grown if it could be (`big`).
    grown: bool,
    big: Option<sys::BigPipe>,
}

impl Channel {
    /// A channel reading `fd`; a spilling capture makes its file in
    /// `spill_dir` (`None`: the default).
    fn new(fd: OwnedFd, plan: ChannelPlan, spill_dir: Option<Arc<Path>>) -> Channel {
        Channel {
            fd: Some(fd),
            // A line channel keeps a tail too, for the error's message.
            capture: if plan.lines {
                Capture::new(Some(LINE_TAIL), crate::capture::Keep::Tail)
            } else {
                Capture::new(plan.limit, plan.keep).spill_dir(spill_dir)
            },
            plan,
            partial: Vec::new(),
            overlong: false,
            grown: false,
            big: None,
        }
    }
}

struct Feed {
    fd: Option<OwnedFd>,
    data: Arc<[u8]>,
    pos: usize,
}

/// One descriptor a run wants watched.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Watched {
    Proc(usize),
    Channel(usize),
    Feed(usize),
    Member(usize),
}

/// A run in progress. See the module docs.
pub(crate) struct Exec {
    display: String,
    pipeline: bool,
    started: Instant,
    pgid: Pid,
    procs: Vec<Proc>,
    channels: Vec<Channel>,
    feeds: Vec<Feed>,
    time_limit: TimeLimit,
    /// Time this process had spent stopped by job control when the run
    /// started: a timeout does not count what comes on top.
    paused_base: Duration,
    /// The terminal, while the run holds it.
    terminal: Option<Terminal>,
    sequence: StopSequence,
    drain: Duration,
    /// When the drain time runs out: set once every process is reaped,
    /// to `None` for a drain time too long to express (no limit).
    drain_at: Option<Option<Instant>>,
    stopping: Option<Stopping>,
    control: Arc<Control>,
    incomplete: bool,
    /// Lines for the line iterators, oldest first.
    pub(crate) lines: VecDeque<Line>,
    /// Where lines go instead of `lines`, when set (the pool's tagged output).
    line_sink: Option<LineSink>,
    /// The longest line handed out whole (see [`MAX_LINE`]).
    max_line: usize,
    /// Back-pressure from the line sink: line channels are not read while
    /// it is closed.
    gate: Option<Arc<Gate>>,
    /// Pipes given up on, to be drained in the background.
    abandoned: Vec<OwnedFd>,
    /// Processes that held a pipe given up on.
    holders: Vec<Pid>,
    /// The run's own cgroup, where it has one (see `Command::cgroup`).
    cgroup: Option<sys::Cgroup>,
    error: Option<Error>,
    /// A panic while driving it: the run is over, with an error, and its
    /// drop kills and reaps the tree.
    broken: bool,
    /// The run's span (feature `tracing`).
    span: Span,
}

impl Exec {
    pub(crate) fn new(plan: Plan, spawned: SpawnedRun, started: Instant) -> Exec {
        let pgid = sys::pid_from_raw(spawned.pgid).expect("a spawned process has a pid");
        let procs = spawned.stages.into_iter().map(Proc::new).collect();
        let channels = spawned
            .channels
            .into_iter()
            .zip(plan.channels)
            .map(|(fd, channel)| Channel::new(fd, channel, plan.spill_dir.clone()))
            .collect();
        let feeds = spawned
            .feeds
            .into_iter()
            .map(|(fd, data)| Feed {
                fd: Some(fd),
                data,
                pos: 0,
            })
            .collect();
        let mut exec = Exec {
            display: plan.display,
            pipeline: plan.pipeline,
            started,
            pgid,
            procs,
            channels,
            feeds,
            time_limit: plan.time_limit,
            paused_base: crate::signals::paused(),
            terminal: None,
            sequence: plan.stop,
            drain: plan.drain,
            drain_at: None,
            stopping: None,
            control: Arc::new(Control::default()),
            incomplete: false,
            lines: VecDeque::new(),
            line_sink: None,
            max_line: MAX_LINE,
            gate: None,
            abandoned: Vec::new(),
            holders: Vec::new(),
            cgroup: spawned.cgroup,
            error: None,
            broken: false,
            span: Span::none(),
        };
        exec.span = Span::run(&exec.display, || exec.pids());
        exec.connect(&plan.cancel, plan.job_control, started);
        exec
    }

    /// Makes the pipes non-blocking for the poll loop, and lets the cancel
    /// tokens and the signal forwarder reach the run. A pipe that cannot be
    /// made non-blocking ends the run at once, with that error.
    fn connect(&mut self, cancel: &[CancelToken], job_control: bool, now: Instant) {
        let fds = self
            .channels
            .iter()
            .filter_map(|c| c.fd.as_ref())
            .chain(self.feeds.iter().filter_map(|f| f.fd.as_ref()));
        for fd in fds {
            // Both are ends of pipes that `spawn` made.
            if let Err(e) = sys::set_nonblocking_new_pipe(fd.as_fd()) {
                self.error = Some(Error::io("cannot make a pipe non-blocking", e));
            }
        }
        for token in cancel {
            token.register(&self.control);
        }
        crate::signals::register(&self.control, job_control.then_some(self.pgid));
        if self.error.is_some() {
            self.begin_stop(Reason::Owner, StopSequence::kill(), now);
        }
    }

    /// Attaches the run to the terminal on our stdin, as a shell does with
    /// a foreground job: it gets the terminal if this process holds it (see
    /// `terminal`).
    pub(crate) fn attach_terminal(&mut self) {
        if self.stopping.is_some() || self.error.is_some() {
            return;
        }
        self.terminal = Terminal::attach(self.pgid);
        self.control
            .set_terminal(self.terminal.as_ref().is_some_and(Terminal::lent));
    }

    /// When the run is out of time (see [`TimeLimit::due`]).
    fn due(&self) -> Option<Instant> {
        let paused = (!crate::signals::pausing())
            .then(|| crate::signals::paused().saturating_sub(self.paused_base));
        self.time_limit.due(paused)
    }

    /// The command line, for errors.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// Sends lines to `sink` as they arrive instead of queueing them (for
    /// runs in the background loop, where nobody pops the queue).
    pub(crate) fn set_line_sink(&mut self, sink: LineSink) {
        self.line_sink = Some(sink);
    }

    /// Sets the longest line handed out whole (at least
    /// [`MIN_MAX_LINE`]). Call it before the exec is first driven.
    pub(crate) fn set_max_line(&mut self, max: usize) {
        self.max_line = max.max(MIN_MAX_LINE);
    }

    /// Reads line channels only while `gate` is open (see [`Gate`]).
    pub(crate) fn set_gate(&mut self, gate: Arc<Gate>) {
        self.gate = Some(gate);
    }

    /// The line sink asked for a pause. Once every process is reaped the
    /// rest is read anyway (at most what the pipes hold, unless a stranger
    /// holds them, which the drain time deals with), so that a stopped job
    /// still ends.
    fn paused(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| g.is_closed()) && !self.all_reaped()
    }

    /// The longest line handed out whole.
    pub(crate) fn max_line(&self) -> usize {
        self.max_line
    }

    pub(crate) fn control(&self) -> &Arc<Control> {
        &self.control
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|p| sys::pid_to_raw(p.pid)).collect()
    }

    /// The descriptors to watch now.
    pub(crate) fn interests<'a>(&'a self, out: &mut Vec<(BorrowedFd<'a>, Interest, Watched)>) {
        for (i, proc) in self.procs.iter().enumerate() {
            if let (Some(fd), false) = (&proc.pidfd, proc.done()) {
                out.push((fd.as_fd(), Interest::Read, Watched::Proc(i)));
            }
        }
        let paused = self.paused();
        for (i, channel) in self.channels.iter().enumerate() {
            if channel.plan.lines && paused {
                continue;
            }
            if let Some(fd) = &channel.fd {
                out.push((fd.as_fd(), Interest::Read, Watched::Channel(i)));
            }
        }
        for (i, feed) in self.feeds.iter().enumerate() {
            if let Some(fd) = &feed.fd {
                out.push((fd.as_fd(), Interest::Write, Watched::Feed(i)));
            }
        }
        if let Some(stopping) = &self.stopping {
            for (i, member) in stopping.members.iter().enumerate() {
                if let (Some(fd), false) = (&member.fd, member.exited) {
                    out.push((fd.as_fd(), Interest::Read, Watched::Member(i)));
                }
            }
        }
    }

    /// When the run next needs attention without any descriptor being ready.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let polling = self.procs.iter().any(|p| p.pidfd.is_none() && !p.done())
            || self.stopping.as_ref().is_some_and(|s| {
                !s.empty
                    && (!sys::LISTS_PROCESSES
                        || s.members.iter().any(|m| m.fd.is_none() && !m.exited))
            });
        let tick = polling.then(|| Instant::now() + TICK);
        let terminal =
            (self.terminal.is_some() && !self.all_reaped()).then(|| Instant::now() + TERMINAL_TICK);
        [
            self.due().filter(|_| self.stopping.is_none()),
            terminal,
            self.stopping
                .as_ref()
                .filter(|s| !s.state.over && !s.empty)
                .and_then(|s| s.state.at),
            self.drain_at.flatten(),
            tick,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A watched descriptor is ready.
    pub(crate) fn on_ready(&mut self, watched: Watched) {
        match watched {
            Watched::Proc(i) => self.reap(i),
            Watched::Channel(i) => self.read(i),
            Watched::Feed(i) => self.write(i),
            Watched::Member(i) => {
                if let Some(stopping) = &mut self.stopping {
                    stopping.members[i].exited = true;
                }
            }
        }
    }

    /// Handles requests and timers. Call after every poll round.
    pub(crate) fn tick(&mut self, now: Instant) {
        for request in self.control.take() {
            match request {
                Request::Signal(raw) => {
                    if let Some(signal) = sys::signal_from_raw(raw) {
                        self.signal_tree(signal);
                    }
                }
                Request::SignalStage(i, raw) => {
                    if let (Some(signal), Some(proc)) =
                        (sys::signal_from_raw(raw), self.procs.get(i))
                    {
                        if !proc.done() {
                            let _ = sys::signal_process(proc.pid, proc.pidfd.as_ref(), signal);
                        }
                    }
                }
                Request::Terminate => self.begin_stop(Reason::Owner, self.sequence.clone(), now),
                Request::Cancel => self.begin_stop(Reason::Cancel, self.sequence.clone(), now),
                Request::Kill => self.begin_stop(Reason::Owner, StopSequence::kill(), now),
            }
        }
        for i in 0..self.procs.len() {
            if self.procs[i].pidfd.is_none() && !self.procs[i].done() {
                self.reap(i);
            }
        }
        if self.terminal.is_some() {
            self.job_control();
        }
        if self.due().is_some_and(|d| now >= d) {
            let reason = Reason::Timeout(self.time_limit.expired(now));
            self.begin_stop(reason, self.sequence.clone(), now);
        }
        self.advance_stop(now);
        self.check_group();
        if self.all_reaped() {
            let drain_at = *self
                .drain_at
                .get_or_insert_with(|| crate::sync::after(now, self.drain));
            if drain_at.is_some_and(|d| now >= d) && self.channels.iter().any(|c| c.fd.is_some()) {
                self.abandon_pipes();
            }
        }
    }

    /// A run attached to the terminal: stopped by job control, it may stop
    /// this process too, or get the terminal (see `terminal::on_stop`);
    /// over, it gives the terminal back.
    fn job_control(&mut self) {
        if !self.all_reaped() {
            let stop = self
                .procs
                .iter()
                .filter(|p| !p.done())
                .find_map(|p| sys::stop_signal(p.pid, p.pidfd.as_ref()));
            if let Some(terminal) = &mut self.terminal {
                terminal.tick();
                if let Some(signal) = stop {
                    terminal.stopped(signal, crate::signals::suspend);
                }
                self.control.set_terminal(terminal.lent());
            }
            return;
        }
        let Some(terminal) = self.terminal.take() else {
            return;
        };
        self.control.set_terminal(false);
        // Ctrl-C reaches every stage of the group; any signal death counts.
        let signal = self
            .procs
            .iter()
            .find_map(|p| p.status.and_then(|s| s.signal()));
        terminal.release(terminal::End {
            signal,
            stopped_by_us: self.stopping.is_some(),
        });
    }

    /// Whether the run is over (see the module docs).
    pub(crate) fn finished(&self) -> bool {
        if self.broken {
            return true;
        }
        self.all_reaped()
            && self.channels.iter().all(|c| c.fd.is_none())
            && self
                .stopping
                .as_ref()
                .is_none_or(|s| s.state.over || s.empty)
    }

    fn all_reaped(&self) -> bool {
        self.procs.iter().all(Proc::done)
    }

    fn reap(&mut self, i: usize) {
        let proc = &mut self.procs[i];
        // The signal forwarder may signal the group from another thread
        // until a stage is reaped.
        let mut reaping = self.control.reaping();
        let result = sys::try_reap(proc.pid, proc.pidfd.as_ref());
        if !matches!(result, Ok(None)) {
            reaping.reaped();
        }
        drop(reaping);
        match result {
            Ok(Some(status)) => {
                proc.status = Some(status);
                proc.ended = Some(Instant::now());
            }
            Ok(None) => {}
            Err(e) => {
                proc.lost = true;
                proc.ended = Some(Instant::now());
                if self.error.is_none() {
                    self.error = Some(Error::io(
                        format!(
                            "cannot learn how {:?} ended: {}",
                            proc.display,
                            crate::error::STATUS_TAKEN
                        ),
                        e,
                    ));
                }
            }
        }
    }

    fn read(&mut self, i: usize) {
        // Bytes that are not kept as they come (lines, a tail, a spill)
        // go through a buffer kept by the thread, not zeroed every time.
        thread_local! {
            static SCRATCH: std::cell::Cell<Option<Box<[u8]>>> = const { std::cell::Cell::new(None) };
        }
        let mut buf = SCRATCH
            .take()
            .unwrap_or_else(|| vec![0; CHUNK].into_boxed_slice());
        self.read_with(i, &mut buf);
        SCRATCH.set(Some(buf));
    }

    fn read_with(&mut self, i: usize, buf: &mut [u8]) {
        // Back-pressure applies while the run's processes live.
        let pausable = !self.all_reaped();
        let channel = &mut self.channels[i];
        // A few reads per round keeps one busy pipe from starving the others.
        for _ in 0..4 {
            let Some(fd) = &channel.fd else { return };
            // Straight into the capture's buffer where it keeps the bytes
            // as they come.
            let spare = (!channel.plan.lines)
                .then(|| channel.capture.spare(CHUNK))
                .flatten();
            let direct = spare.is_some();
            let (result, asked) = match spare {
                Some(vec) => {
                    let asked = vec.capacity() - vec.len();
                    (sys::read_spare(fd.as_fd(), vec), asked)
                }
                None => (sys::read(fd.as_fd(), buf), buf.len()),
            };
            match result {
                Ok(Some(0)) | Err(_) => {
                    channel.fd = None;
                    channel.big = None;
                    if channel.plan.lines && (!channel.partial.is_empty() || channel.overlong) {
                        let bytes = std::mem::take(&mut channel.partial);
                        self.lines.push_back(Line {
                            stream: channel.plan.stream,
                            bytes,
                            overlong: channel.overlong,
                            ends_line: true,
                        });
                        channel.overlong = false;
                        if let Some(sink) = &mut self.line_sink {
                            self.lines.drain(..).for_each(&mut **sink);
                        }
                    }
                    return;
                }
                Ok(Some(n)) => {
                    let pushed = if direct {
                        channel.capture.appended(n)
                    } else {
                        channel.capture.push(&buf[..n])
                    };
                    if let Err(e) = pushed {
                        let error = spill_error(&self.display, channel, e);
                        self.fail(error);
                        return;
                    }
                    if channel.plan.lines {
                        split_lines(
                            &mut Splitter {
                                partial: &mut channel.partial,
                                overlong: &mut channel.overlong,
                                stream: channel.plan.stream,
                                max: self.max_line,
                            },
                            &buf[..n],
                            &mut self.lines,
                        );
                        if let Some(sink) = &mut self.line_sink {
                            self.lines.drain(..).for_each(&mut **sink);
                        }
                        if pausable && self.gate.as_ref().is_some_and(|g| g.is_closed()) {
                            return;
                        }
                    } else if n >= CHUNK && !channel.grown {
                        // A full pipe: the child writes faster than a
                        // default pipe lets it (see `sys::grow_pipe`).
                        channel.grown = true;
                        channel.big = sys::grow_pipe(fd.as_fd());
                    }
                    if n < asked {
                        return;
                    }
                }
                Ok(None) => return,
            }
        }
    }

    fn write(&mut self, i: usize) {
        let feed = &mut self.feeds[i];
        loop {
            let Some(fd) = &feed.fd else { return };
            if feed.pos >= feed.data.len() {
                feed.fd = None; // end of file for the child
                return;
            }
            match sys::write(fd.as_fd(), &feed.data[feed.pos..]) {
                Ok(Wrote::Bytes(n)) => feed.pos += n,
                Ok(Wrote::WouldBlock) => return,
                // The child closed stdin early: not an error, as in a shell.
                Ok(Wrote::Closed) | Err(_) => {
                    feed.fd = None;
                    return;
                }
            }
        }
    }

    /// Gives up on pipes still open after the drain time: another process
    /// holds them. They are drained and discarded in the background rather
    /// than closed, so that process does not die of `SIGPIPE`.
    fn abandon_pipes(&mut self) {
        let mut inodes = Vec::new();
        for channel in &mut self.channels {
            if let Some(fd) = channel.fd.take() {
                inodes.extend(sys::inode(fd.as_fd()));
                self.abandoned.push(fd);
                self.incomplete = true;
            }
        }
        if !inodes.is_empty() && self.error.is_none() {
            self.holders = sys::pipe_holders(&inodes);
        }
    }

    /// Ends the run with `error`: the tree is killed, and the run reports
    /// `error` once it is reaped.
    pub(crate) fn fail(&mut self, error: Error) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.begin_stop(Reason::Owner, StopSequence::kill(), Instant::now());
        self.abandon_pipes();
    }

    /// Ends the run at once after a panic while driving it (`message`):
    /// its state may be half-updated, so it is not driven any more. It
    /// reports the panic as its error; dropping it kills and reaps its tree.
    pub(crate) fn broken(&mut self, message: String) {
        self.error = Some(Error::panicked(
            format!("driving {:?} panicked", self.display),
            message,
        ));
        self.broken = true;
        for channel in &mut self.channels {
            channel.fd = None;
        }
        for feed in &mut self.feeds {
            feed.fd = None;
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Pipes to drain in the background, taken once.
    pub(crate) fn take_abandoned(&mut self) -> Vec<OwnedFd> {
        std::mem::take(&mut self.abandoned)
    }
}

/// A spilling capture could not make or write its file: the error says
/// where, why, and how much of the stream was kept (the rest is lost, so
/// the run is stopped rather than reported as if it were whole).
fn spill_error(display: &str, channel: &Channel, source: std::io::Error) -> Error {
    let (total, kept) = channel.capture.spill_failure();
    let stream = match channel.plan.stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    Error::io(
        format!(
            "cannot spill the {stream} of {display:?} to a temporary file in {:?}: kept the \
             first {kept} of {total} bytes, the run was stopped",
            channel.capture.spill_dir_shown()
        ),
        source,
    )
}

impl Drop for Exec {
    /// A run dropped before its end (an error path, a panic) must not leave
    /// its tree behind: the group and every unreaped stage get `SIGKILL`,
    /// and the stages are reaped, waiting for them (they die at once). A
    /// finished run is left alone.
    fn drop(&mut self) {
        if !self.all_reaped() {
            // From here on, the signal forwarder leaves the group alone.
            self.control.reaping().reaped();
            self.signal_tree(Signal::KILL);
            for proc in self.procs.iter_mut().filter(|p| !p.done()) {
                match sys::reap(proc.pid, proc.pidfd.as_ref()) {
                    Ok(status) => proc.status = status,
                    Err(_) => proc.lost = true,
                }
            }
        }
        if let Some(terminal) = self.terminal.take() {
            // Dropped before its stages were over (an error path): the
            // terminal comes back all the same.
            terminal.release(terminal::End {
                signal: None,
                stopped_by_us: true,
            });
        }
        self.control.mark_done();
    }
}
