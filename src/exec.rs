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

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::Capture;
use crate::control::{Control, Gate, Request};
use crate::error::{Error, ExitError, StoppedError};
use crate::output::Escaped;
use crate::output::{Output, Stage};
use crate::pipestatus::{self, Check, Verdict};
use crate::plan::{ChannelPlan, Plan};
use crate::redirect::Stream;
use crate::spawn::SpawnedRun;
use crate::status::ExitStatus;
use crate::stop::{self, StopSequence, StopState};
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

/// The longest line the line iterators hand out whole, by default; a
/// longer one comes in pieces of at most this size (cut between UTF-8
/// characters), each marked as such, so memory stays bounded without
/// newlines. See `Lines::max_line`.
pub(crate) const MAX_LINE: usize = 8 * 1024 * 1024;

/// The smallest maximum line length: room for any UTF-8 character.
pub(crate) const MIN_MAX_LINE: usize = 4;

/// How much of a line-mode stream is also kept, for error messages.
const LINE_TAIL: usize = 4096;

/// Why a run is being stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reason {
    /// Out of time: the timeout that ran out, `None` for a deadline.
    Timeout(Option<Duration>),
    Cancel,
    /// By the handle's owner; the statuses tell the rest.
    Owner,
}

struct Stopping {
    reason: Reason,
    sequence: StopSequence,
    /// Where the stop sequence stands (see [`stop::advance`]).
    state: StopState,
    /// The first signal sent, for the error.
    signal: i32,
    /// Other processes of the tree (grandchildren, in the group or not),
    /// watched by pidfd.
    members: Vec<Member>,
    /// No live process is left in the tree.
    empty: bool,
}

/// A process of the tree that is not one of our stages.
struct Member {
    pid: Pid,
    /// `None` where pidfds are not available: we look in `/proc` instead.
    fd: Option<OwnedFd>,
    /// In the run's process group when last looked at, so a signal to the
    /// group reaches it.
    in_group: bool,
    exited: bool,
}

/// Why a child's exit status is lost, for the errors that say so.
pub(crate) const STATUS_TAKEN: &str = "its exit status was taken by another waiter (is SIGCHLD \
     set to SIG_IGN, or does the program reap with waitpid(-1)?)";

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
}

struct Feed {
    fd: Option<OwnedFd>,
    data: Arc<[u8]>,
    pos: usize,
}

/// A line of output, tagged with its stream, for the line iterators.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) stream: Stream,
    pub(crate) bytes: Vec<u8>,
    /// A piece of a line longer than the maximum, not a whole line.
    pub(crate) overlong: bool,
    /// For a piece: it is the line's last.
    pub(crate) ends_line: bool,
}

/// Receives every complete line of a line-mode channel as it arrives.
pub(crate) type LineSink = Box<dyn FnMut(Line) + Send + Sync>;

/// One descriptor a run wants watched.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source {
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
        let procs = spawned
            .stages
            .into_iter()
            .map(|s| {
                let pid = sys::pid_from_raw(s.pid).expect("a spawned process has a pid");
                Proc {
                    pid,
                    pidfd: sys::pidfd_open(pid),
                    status: None,
                    lost: false,
                    ended: None,
                    display: s.display,
                    check: s.check,
                    feeds_next: s.feeds_next,
                }
            })
            .collect();
        let channels = spawned
            .channels
            .into_iter()
            .zip(plan.channels)
            .map(|(fd, plan)| Channel {
                fd: Some(fd),
                // A line channel keeps a tail too, for the error's message.
                capture: if plan.lines {
                    Capture::new(Some(LINE_TAIL), crate::capture::Keep::Tail)
                } else {
                    Capture::new(plan.limit, plan.keep)
                },
                plan,
                partial: Vec::new(),
                overlong: false,
            })
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
        let fds = exec
            .channels
            .iter()
            .filter_map(|c| c.fd.as_ref())
            .chain(exec.feeds.iter().filter_map(|f| f.fd.as_ref()));
        for fd in fds {
            if let Err(e) = sys::set_nonblocking(fd.as_fd()) {
                exec.error = Some(Error::io("cannot make a pipe non-blocking", e));
            }
        }
        for token in &plan.cancel {
            token.register(&exec.control);
        }
        crate::signals::register(&exec.control, pgid);
        if exec.error.is_some() {
            exec.begin_stop(Reason::Owner, StopSequence::kill(), started);
        }
        exec
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
    pub(crate) fn interests<'a>(&'a self, out: &mut Vec<(BorrowedFd<'a>, Interest, Source)>) {
        for (i, proc) in self.procs.iter().enumerate() {
            if let (Some(fd), false) = (&proc.pidfd, proc.done()) {
                out.push((fd.as_fd(), Interest::Read, Source::Proc(i)));
            }
        }
        let paused = self.paused();
        for (i, channel) in self.channels.iter().enumerate() {
            if channel.plan.lines && paused {
                continue;
            }
            if let Some(fd) = &channel.fd {
                out.push((fd.as_fd(), Interest::Read, Source::Channel(i)));
            }
        }
        for (i, feed) in self.feeds.iter().enumerate() {
            if let Some(fd) = &feed.fd {
                out.push((fd.as_fd(), Interest::Write, Source::Feed(i)));
            }
        }
        if let Some(stopping) = &self.stopping {
            for (i, member) in stopping.members.iter().enumerate() {
                if let (Some(fd), false) = (&member.fd, member.exited) {
                    out.push((fd.as_fd(), Interest::Read, Source::Member(i)));
                }
            }
        }
    }

    /// When the run next needs attention without any descriptor being ready.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let polling = self.procs.iter().any(|p| p.pidfd.is_none() && !p.done())
            || self
                .stopping
                .as_ref()
                .is_some_and(|s| !s.empty && s.members.iter().any(|m| m.fd.is_none() && !m.exited));
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
    pub(crate) fn ready(&mut self, source: Source) {
        match source {
            Source::Proc(i) => self.reap(i),
            Source::Channel(i) => self.read(i),
            Source::Feed(i) => self.write(i),
            Source::Member(i) => {
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

    /// Whether the group id still names our group. While a stage is
    /// unreaped (even a zombie) the group exists and its id cannot be reused.
    /// Once all are reaped, the group lives only while a grandchild is in it;
    /// if none is, the id is free for reuse and must not be signalled.
    fn group_may_exist(&self) -> bool {
        !self.all_reaped() || sys::group_exists(self.pgid)
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
                        format!("cannot learn how {:?} ended: {STATUS_TAKEN}", proc.display),
                        e,
                    ));
                }
            }
        }
    }

    fn read(&mut self, i: usize) {
        let mut buf = [0u8; CHUNK];
        // Back-pressure applies while the run's processes live.
        let pausable = !self.all_reaped();
        let channel = &mut self.channels[i];
        // A few reads per round keeps one busy pipe from starving the others.
        for _ in 0..4 {
            let Some(fd) = &channel.fd else { return };
            match sys::read(fd.as_fd(), &mut buf) {
                Ok(Some(0)) | Err(_) => {
                    channel.fd = None;
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
                    let data = &buf[..n];
                    channel.capture.push(data);
                    if channel.plan.lines {
                        split_lines(
                            &mut Splitter {
                                partial: &mut channel.partial,
                                overlong: &mut channel.overlong,
                                stream: channel.plan.stream,
                                max: self.max_line,
                            },
                            data,
                            &mut self.lines,
                        );
                        if let Some(sink) = &mut self.line_sink {
                            self.lines.drain(..).for_each(&mut **sink);
                        }
                        if pausable && self.gate.as_ref().is_some_and(|g| g.is_closed()) {
                            return;
                        }
                    }
                    if n < buf.len() {
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

    fn begin_stop(&mut self, reason: Reason, sequence: StopSequence, now: Instant) {
        if let Some(stopping) = &mut self.stopping {
            if stop::escalates(&stopping.sequence, &sequence) {
                stopping.sequence = sequence;
                stopping.state = StopState::start(now);
                self.advance_stop(now);
            }
            return;
        }
        if self.finished() {
            return;
        }
        self.stopping = Some(Stopping {
            reason,
            signal: sequence.first_signal(),
            sequence,
            state: StopState::start(now),
            members: Vec::new(),
            empty: false,
        });
        self.advance_stop(now);
    }

    /// Takes the due steps of the stop sequence: the rule is
    /// [`stop::advance`]; this only carries its actions out.
    fn advance_stop(&mut self, now: Instant) {
        let Some(stopping) = &mut self.stopping else {
            return;
        };
        let actions = stop::advance(&stopping.sequence, &mut stopping.state, now, stopping.empty);
        for raw in actions.signals {
            if let Some(signal) = sys::signal_from_raw(raw) {
                self.signal_tree(signal);
            }
        }
    }

    /// Looks for the processes of the tree that are not our stages: the
    /// group's other members, the processes of the run's cgroup, and the
    /// descendants of our stages that left the group (`setsid`, `setpgid`).
    /// While stopping, they are watched by pidfd, so we learn at once when
    /// the last one is gone. Returns them, each with whether it is in the
    /// group.
    ///
    /// `everything`: list all of `/proc` (for the group's members that are
    /// no descendant of ours any more); else only follow the parent links
    /// down from our processes, which is much cheaper (before a signal,
    /// where the group is reached by the group's signal anyway).
    fn look_at_tree(&mut self, everything: bool) -> Vec<(Pid, bool)> {
        let mut roots: Vec<Pid> = self
            .procs
            .iter()
            .filter(|p| !p.done())
            .map(|p| p.pid)
            .collect();
        if let Some(stopping) = &self.stopping {
            roots.extend(stopping.members.iter().filter(|m| !m.exited).map(|m| m.pid));
        }
        let linked = if everything {
            None
        } else {
            sys::descendants(self.pgid, &roots).map(|mut found| {
                for pid in self
                    .cgroup
                    .as_ref()
                    .map(sys::Cgroup::pids)
                    .unwrap_or_default()
                {
                    if found.iter().all(|(p, _)| *p != pid) {
                        found.push((pid, sys::group_of(pid) == Some(self.pgid)));
                    }
                }
                found
            })
        };
        let live: Vec<(Pid, bool)> = linked
            .unwrap_or_else(|| {
                sys::tree_members(
                    self.pgid,
                    &roots,
                    self.cgroup.as_ref(),
                    self.started.elapsed(),
                )
            })
            .into_iter()
            .filter(|(pid, _)| self.procs.iter().all(|p| p.pid != *pid || p.done()))
            .collect();
        if let Some(stopping) = &mut self.stopping {
            for member in &mut stopping.members {
                match live.iter().find(|(pid, _)| *pid == member.pid) {
                    Some((_, in_group)) => member.in_group = *in_group,
                    None if member.fd.is_none() && everything => member.exited = true,
                    None => {}
                }
            }
            for (pid, in_group) in &live {
                if !stopping.members.iter().any(|m| m.pid == *pid) {
                    stopping.members.push(Member {
                        pid: *pid,
                        fd: sys::pidfd_open(*pid),
                        in_group: *in_group,
                        exited: false,
                    });
                }
            }
        }
        live
    }

    /// Once the stages are reaped and every watched process has exited, one
    /// more look decides whether the group is empty (a process may have
    /// forked since the last look). We wait for the pipes to close first:
    /// grandchildren that hold them are still dying until they do, and a
    /// look now would only find them and cost another look later.
    fn check_group(&mut self) {
        if !self.all_reaped() || self.channels.iter().any(|c| c.fd.is_some()) {
            return;
        }
        let Some(stopping) = &self.stopping else {
            return;
        };
        if stopping.empty || stopping.members.iter().any(|m| m.fd.is_some() && !m.exited) {
            return;
        }
        let alive = !self.look_at_tree(true).is_empty();
        if let Some(stopping) = &mut self.stopping {
            stopping.empty = !alive;
        }
    }

    /// Sends `signal` once to every live process of the tree: to the group,
    /// then by pidfd to each stage and descendant that has left it (a
    /// process still in the group must not get it twice: programs take a
    /// second `SIGINT` or `SIGTERM` as "quit now, skip the clean-up"). A
    /// `SIGKILL` also kills the run's cgroup, forks in flight included.
    fn signal_tree(&mut self, signal: Signal) {
        let strays = self.look_at_tree(false);
        // Which stages left the group, asked before the group is signalled:
        // one that leaves in between misses this signal rather than getting
        // it twice.
        let outside: Vec<usize> = (0..self.procs.len())
            .filter(|&i| {
                let proc = &self.procs[i];
                !proc.done() && sys::group_of(proc.pid).is_some_and(|g| g != self.pgid)
            })
            .collect();
        if self.group_may_exist() {
            let _ = sys::signal_group(self.pgid, signal);
        }
        for i in outside {
            let proc = &self.procs[i];
            let _ = sys::signal_process(proc.pid, proc.pidfd.as_ref(), signal);
        }
        for (pid, in_group) in strays {
            if in_group {
                continue;
            }
            let watched = self
                .stopping
                .as_ref()
                .and_then(|s| s.members.iter().find(|m| m.pid == pid));
            match watched {
                Some(member) => {
                    let _ = sys::signal_process(pid, member.fd.as_ref(), signal);
                }
                None => {
                    if let Some(fd) = sys::pidfd_open(pid) {
                        let _ = sys::signal_process(pid, Some(&fd), signal);
                    }
                }
            }
        }
        if signal == Signal::KILL {
            if let Some(cgroup) = &self.cgroup {
                cgroup.kill();
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

    /// The processes of the tree still running as the run ends: those that
    /// held a pipe given up on, and those a stop did not see die.
    fn escaped(&self) -> Vec<Escaped> {
        let mut pids = self.holders.clone();
        if let Some(stopping) = &self.stopping {
            if !stopping.empty {
                pids.extend(stopping.members.iter().filter(|m| !m.exited).map(|m| m.pid));
            }
        }
        pids.sort_by_key(|p| sys::pid_to_raw(*p));
        pids.dedup();
        pids.into_iter()
            .filter(|pid| sys::is_live(*pid))
            .filter_map(|pid| {
                Some(Escaped {
                    pid: sys::pid_to_raw(pid),
                    command: sys::command_line(pid)?,
                })
            })
            .collect()
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

    /// The result of a finished run, recorded in its span.
    pub(crate) fn outcome(mut self) -> Result<Output, Error> {
        let span = std::mem::replace(&mut self.span, Span::none());
        let started = self.started;
        let result = self.conclude();
        span.finished(&result, started.elapsed());
        result
    }

    /// The result of a finished run.
    fn conclude(mut self) -> Result<Output, Error> {
        let now = Instant::now();
        let mut stdout = (Vec::new(), false);
        let mut stderr = (Vec::new(), false);
        let mut stage_out: Vec<(Vec<u8>, Vec<u8>)> = vec![Default::default(); self.procs.len()];
        for channel in std::mem::take(&mut self.channels) {
            let (bytes, truncated) = channel.capture.finish();
            match (channel.plan.owner, channel.plan.stream) {
                (None, Stream::Stdout) => stdout = (bytes, truncated),
                (None, Stream::Stderr) => stderr = (bytes, truncated),
                (Some(i), Stream::Stdout) => stage_out[i].0 = bytes,
                (Some(i), Stream::Stderr) => stage_out[i].1 = bytes,
            }
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let verdicts: Vec<Verdict> = (0..self.procs.len())
            .map(|i| {
                let proc = &self.procs[i];
                let reader_gone = proc.feeds_next
                    && self
                        .procs
                        .get(i + 1)
                        .is_some_and(|next| pipestatus::reader_was_gone(proc.ended, next.ended));
                pipestatus::verdict(status_of(proc), &proc.check, reader_gone)
            })
            .collect();
        let decider = pipestatus::deciding_stage(&verdicts);
        let stages: Vec<Stage> = self
            .procs
            .iter()
            .zip(stage_out)
            .map(|(p, (out, err))| Stage {
                command: p.display.clone(),
                pid: sys::pid_to_raw(p.pid),
                status: status_of(p),
                stdout: out,
                stderr: err,
            })
            .collect();
        let output = Output {
            status: stages[decider].status,
            stdout: stdout.0,
            stderr: stderr.0,
            stdout_truncated: stdout.1,
            stderr_truncated: stderr.1,
            incomplete: self.incomplete,
            escaped: self.escaped(),
            elapsed: now - self.started,
            stages,
        };
        if let Some(stopping) = &self.stopping {
            if stopping.reason != Reason::Owner {
                let stopped = Box::new(StoppedError {
                    command: self.display.clone(),
                    limit: match stopping.reason {
                        Reason::Timeout(limit) => limit,
                        _ => None,
                    },
                    cancelled: stopping.reason == Reason::Cancel,
                    stopped_by: None,
                    signal: stopping.signal,
                    output: Arc::new(output),
                });
                return Err(match stopping.reason {
                    Reason::Timeout(_) => Error::Timeout(stopped),
                    _ => Error::Cancelled(stopped),
                });
            }
        }
        if verdicts[decider] == Verdict::CheckedError {
            let stage = self
                .pipeline
                .then(|| (decider, output.stages[decider].command.clone()));
            return Err(Error::Exit(Box::new(ExitError {
                command: self.display.clone(),
                stage,
                output: Arc::new(output),
            })));
        }
        Ok(output)
    }
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

fn status_of(proc: &Proc) -> ExitStatus {
    // A lost status only reaches here with `Exec::error` set.
    proc.status.unwrap_or(ExitStatus::from_code(-1))
}

/// A line-mode channel's unfinished line, for [`split_lines`].
struct Splitter<'a> {
    partial: &'a mut Vec<u8>,
    overlong: &'a mut bool,
    stream: Stream,
    max: usize,
}

/// Appends `data` to the unfinished line, moving every complete line
/// (without its `\n`, and without a `\r` before it) to `out`.
///
/// A line longer than `max` bytes comes out in pieces marked `overlong`,
/// each at most `max` bytes and cut between UTF-8 characters (see
/// [`cut_at`]); its last piece (up to the newline) is marked `ends_line`.
/// So the unfinished line never holds much more than `max` bytes.
fn split_lines(line: &mut Splitter<'_>, data: &[u8], out: &mut VecDeque<Line>) {
    let mut rest = data;
    loop {
        let nl = rest.iter().position(|b| *b == b'\n');
        let end = nl.unwrap_or(rest.len());
        line.partial.extend_from_slice(&rest[..end]);
        // Only a line known to be longer than `max` is cut.
        while line.partial.len() > line.max {
            let cut = cut_at(line.partial, line.max);
            let tail = line.partial.split_off(cut);
            out.push_back(Line {
                stream: line.stream,
                bytes: std::mem::replace(line.partial, tail),
                overlong: true,
                ends_line: false,
            });
            *line.overlong = true;
        }
        let Some(nl) = nl else { return };
        if line.partial.last() == Some(&b'\r') {
            line.partial.pop();
        }
        out.push_back(Line {
            stream: line.stream,
            bytes: std::mem::take(line.partial),
            overlong: std::mem::take(line.overlong),
            ends_line: true,
        });
        rest = &rest[nl + 1..];
    }
}

/// Where to cut a piece of at most `max` bytes off the front of `bytes`
/// (longer than `max`): at `max`, or up to three bytes before it so as not
/// to split a UTF-8 character (a byte `10xxxxxx` continues one). Bytes that
/// are not UTF-8 are cut at `max`.
fn cut_at(bytes: &[u8], max: usize) -> usize {
    let continues = |i: usize| bytes[i] & 0xC0 == 0x80;
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| i > 0 && !continues(i))
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line's bytes, whether it is a piece of an overlong line, and
    /// whether it ends the line.
    type Piece = (Vec<u8>, bool, bool);

    /// The lines `chunks` make, and what is left unfinished.
    fn split(max: usize, chunks: &[&[u8]]) -> (Vec<Piece>, Vec<u8>) {
        let (mut partial, mut overlong) = (Vec::new(), false);
        let mut out = VecDeque::new();
        for chunk in chunks {
            let mut line = Splitter {
                partial: &mut partial,
                overlong: &mut overlong,
                stream: Stream::Stdout,
                max,
            };
            split_lines(&mut line, chunk, &mut out);
        }
        let lines = out
            .into_iter()
            .map(|l| (l.bytes, l.overlong, l.ends_line))
            .collect();
        (lines, partial)
    }

    #[test]
    fn lines_split_across_chunks() {
        let (lines, partial) = split(MAX_LINE, &[b"a\nb", b"c\r\n\nd"]);
        let whole = |b: &[u8]| (b.to_vec(), false, true);
        assert_eq!(lines, [whole(b"a"), whole(b"bc"), whole(b"")]);
        assert_eq!(partial, b"d");
    }

    #[test]
    fn an_overlong_line_comes_in_marked_pieces() {
        let data = vec![b'x'; 25];
        let (lines, partial) = split(10, &[&data, b"yy\nz"]);
        let piece = |n: usize, last: bool| {
            let mut b = vec![b'x'; n];
            if last {
                b.extend_from_slice(b"yy");
            }
            (b, true, last)
        };
        assert_eq!(lines, [piece(10, false), piece(10, false), piece(5, true)]);
        assert_eq!(partial, b"z");
        // A line of exactly the maximum is whole.
        let (lines, _) = split(10, &[&data[..10], b"\n"]);
        assert_eq!(lines, [(data[..10].to_vec(), false, true)]);
    }

    #[test]
    fn overlong_pieces_are_cut_between_characters() {
        let euros = "€".repeat(30_000);
        let mut line = euros.clone().into_bytes();
        line.push(b'\n');
        // Fed in chunks that end inside characters.
        let chunks: Vec<&[u8]> = line.chunks(4_096).collect();
        for max in [4, 5, 1000, 65_536] {
            let (lines, partial) = split(max, &chunks);
            assert!(partial.is_empty());
            let mut joined = Vec::new();
            for (i, (bytes, overlong, ends)) in lines.iter().enumerate() {
                assert!(bytes.len() <= max && *overlong, "{max} {i}");
                assert_eq!(*ends, i == lines.len() - 1);
                assert!(
                    std::str::from_utf8(bytes).is_ok(),
                    "{max}: piece {i} cut a character"
                );
                joined.extend_from_slice(bytes);
            }
            assert_eq!(joined, euros.as_bytes());
        }
        // The default keeps it whole.
        let (lines, _) = split(MAX_LINE, &chunks);
        assert_eq!(lines, [(euros.into_bytes(), false, true)]);
    }

    #[test]
    fn cut_at_table() {
        let e = "€".as_bytes(); // E2 82 AC
        // (bytes, max, cut)
        let table: &[(&[u8], usize, usize)] = &[
            (b"abcdef", 4, 4),
            (&[b'a', e[0], e[1], e[2], b'b'], 2, 1),
            (&[b'a', e[0], e[1], e[2], b'b'], 3, 1),
            (&[b'a', e[0], e[1], e[2], b'b'], 4, 4),
            (&[e[0], e[1], e[2], e[0], e[1], e[2]], 4, 3),
            // Not UTF-8: continuation bytes all the way, cut at the maximum.
            (&[0x80; 10], 5, 5),
            (&[e[0], e[1], e[2], 0x80, 0x80], 4, 4),
        ];
        for (bytes, max, want) in table {
            assert_eq!(cut_at(bytes, *max), *want, "{bytes:?} {max}");
        }
    }
}
