//! Turning a [`Command`] into running processes.
//!
//! Two steps. [`plan`] flattens the command tree into stages, layering each
//! pipeline's options over its stages', and resolves every redirection into a
//! concrete source or sink. [`spawn`] then creates the pipes and starts the
//! stages with `std::process::Command`, all in one new process group, keeping
//! every spawn on the fast `posix_spawn` path: we resolve bare program names
//! on `PATH` ourselves (std falls back to `fork` + `exec` for a bare name with
//! a changed `PATH`), use `process_group` (which `posix_spawn` supports), and
//! never use `pre_exec`. Only what the caller asks for leaves that path:
//! `uid`, `gid`, and a `before_spawn` hook that adds a `pre_exec`.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::capture::Keep;
use crate::command::{Command, EnvOp, Hook, Kind, join_dir};
use crate::error::{Error, InvalidInput, SpawnError, SpawnFailure};
use crate::pipestatus::Check;
use crate::redirect::{InSpec, OutSpec};
use crate::stop::StopSequence;
use crate::sys::SpawnErrno;

/// Which stream a captured pipe carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Where a stage reads stdin from, once resolved.
#[derive(Clone)]
enum Source {
    Inherit,
    Null,
    Bytes(Arc<[u8]>),
    File(Arc<File>),
    /// The caller's pipe (`stdin_pipe`).
    Caller,
    /// The previous stage's stdout.
    Prev,
}

/// Where a stage writes stdout or stderr, once resolved.
#[derive(Clone)]
enum Sink {
    Inherit,
    Null,
    /// A captured pipe: an index into [`Plan::channels`].
    Channel(usize),
    File(Arc<File>),
    /// The next stage's stdin.
    Next,
}

/// A pipe the run reads: what it carries and where its bytes belong.
#[derive(Clone, Debug)]
pub(crate) struct ChannelPlan {
    pub(crate) stream: Stream,
    /// `None`: the run's own stdout or stderr. `Some(i)`: stage `i`'s.
    pub(crate) owner: Option<usize>,
    pub(crate) limit: Option<usize>,
    pub(crate) keep: Keep,
    /// Split into lines for [`Command::lines`] and [`Command::events`].
    pub(crate) lines: bool,
}

struct StagePlan {
    display: String,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<EnvOp>,
    dir: Option<PathBuf>,
    check: Check,
    stdin: Source,
    stdout: Sink,
    stderr: Sink,
    arg0: Option<OsString>,
    uid: Option<u32>,
    gid: Option<u32>,
    hooks: Vec<Hook>,
    new_session: bool,
}

/// What a run mode asks of the outermost level.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// `run`: the command's own settings.
    Run,
    /// `start`: the command's own settings, and `stdin_pipe` is allowed.
    Start,
    /// `read`: capture stdout.
    Read,
    /// `lines`: stdout as lines.
    Lines,
    /// `events`: stdout and stderr as lines.
    Events,
}

/// A command flattened and resolved, ready to spawn.
pub(crate) struct Plan {
    stages: Vec<StagePlan>,
    pub(crate) channels: Vec<ChannelPlan>,
    pub(crate) display: String,
    pub(crate) deadline: Option<Instant>,
    pub(crate) limit: Option<Duration>,
    /// The earliest of the deadlines alone (not the timeouts), which time
    /// spent stopped by job control does not move.
    pub(crate) absolute: Option<Instant>,
    pub(crate) stop: StopSequence,
    /// Run in a cgroup of its own ([`Command::cgroup`]).
    pub(crate) cgroup: bool,
    pub(crate) drain: Duration,
    pub(crate) cancel: Vec<CancelToken>,
    pub(crate) pipeline: bool,
    /// The run mode captures these itself, whatever the command says.
    forced: (bool, bool),
}

/// Default for [`Command::drain_timeout`].
const DEFAULT_DRAIN: Duration = Duration::from_millis(500);

/// The inherited state while walking the command tree.
#[derive(Clone)]
struct Context {
    env: Vec<EnvOp>,
    dir: Option<PathBuf>,
    check: Option<Check>,
    stdin: Source,
    stdout: Sink,
    stderr: Sink,
    uid: Option<u32>,
    gid: Option<u32>,
    hooks: Vec<Hook>,
    new_session: bool,
    depth: usize,
}

/// Flattens `command` into stages and resolves its redirections.
pub(crate) fn plan(command: &Command, mode: Mode, start: Instant) -> Result<Plan, Error> {
    let display = command.to_string();
    let mut plan = Plan {
        stages: Vec::new(),
        channels: Vec::new(),
        display: display.clone(),
        deadline: None,
        limit: None,
        absolute: None,
        stop: command.node.opts.stop.clone().unwrap_or_default(),
        cgroup: command.node.opts.cgroup.unwrap_or(false),
        drain: command.node.opts.drain.unwrap_or(DEFAULT_DRAIN),
        cancel: Vec::new(),
        pipeline: matches!(command.node.kind, Kind::Pipeline(_)),
        forced: (
            matches!(mode, Mode::Read | Mode::Lines | Mode::Events),
            mode == Mode::Events,
        ),
    };
    let mut root = Context {
        env: Vec::new(),
        dir: None,
        check: None,
        stdin: Source::Inherit,
        stdout: Sink::Inherit,
        stderr: Sink::Inherit,
        uid: None,
        gid: None,
        hooks: Vec::new(),
        new_session: false,
        depth: 0,
    };
    let lines = matches!(mode, Mode::Lines | Mode::Events);
    if matches!(mode, Mode::Read | Mode::Lines | Mode::Events) {
        root.stdout =
            Sink::Channel(plan.add_channel(Stream::Stdout, None, None, Keep::Head, lines));
    }
    if mode == Mode::Events {
        root.stderr = Sink::Channel(plan.add_channel(Stream::Stderr, None, None, Keep::Head, true));
    }
    if let Some(signal) = plan.stop.invalid_signal() {
        return Err(Error::invalid(
            &display,
            InvalidInput::InvalidSignal { signal },
        ));
    }
    plan.walk(command, root, start, &display)?;
    Ok(plan)
}

impl Plan {
    /// Whether a stage reads this process's own stdin.
    pub(crate) fn inherits_stdin(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s.stdin, Source::Inherit))
    }

    fn add_channel(
        &mut self,
        stream: Stream,
        owner: Option<usize>,
        limit: Option<usize>,
        keep: Keep,
        lines: bool,
    ) -> usize {
        self.channels.push(ChannelPlan {
            stream,
            owner,
            limit,
            keep,
            lines,
        });
        self.channels.len() - 1
    }

    fn walk(
        &mut self,
        command: &Command,
        outer: Context,
        start: Instant,
        root_display: &str,
    ) -> Result<(), Error> {
        let opts = &command.node.opts;
        let mut ctx = outer.clone();
        ctx.depth += 1;
        ctx.env.extend(opts.env.iter().cloned());
        if let Some(dir) = &opts.dir {
            ctx.dir = Some(join_dir(outer.dir.as_deref(), dir));
        }
        // The innermost setting wins, except that `unchecked()` on an
        // enclosing pipeline makes every status inside it data.
        if let Some(check) = &opts.check {
            if ctx.check != Some(Check::Unchecked) {
                ctx.check = Some(check.clone());
            }
        }
        for token in &opts.cancel {
            self.cancel.push(token.clone());
        }
        ctx.uid = opts.uid.or(ctx.uid);
        ctx.gid = opts.gid.or(ctx.gid);
        ctx.hooks.extend(opts.hooks.iter().cloned());
        ctx.new_session |= opts.new_session;
        // A timeout too long to express is no limit.
        let timeouts = opts
            .timeout
            .and_then(|t| Some((crate::sync::after(start, t)?, Some(t))));
        if let Some(deadline) = opts.deadline {
            self.absolute = Some(self.absolute.map_or(deadline, |d| d.min(deadline)));
        }
        for (deadline, limit) in timeouts.into_iter().chain(opts.deadline.map(|d| (d, None))) {
            if self.deadline.is_none_or(|d| deadline < d) {
                self.deadline = Some(deadline);
                self.limit = limit;
            }
        }
        // The first stage this node will produce owns its captures.
        let owner = (outer.depth > 0).then_some(self.stages.len());
        if let Some(spec) = &opts.stdin {
            ctx.stdin = self.source(spec, root_display)?;
        }
        // `read`, `lines` and `events` capture the outermost streams they
        // need, over the command's own setting for them.
        let root = outer.depth == 0;
        let out = match &opts.stdout {
            Some(spec) if !(root && self.forced.0) => {
                self.sink(spec, Stream::Stdout, owner, root_display)?
            }
            _ => outer.stdout.clone(),
        };
        let err = match &opts.stderr {
            Some(spec) if !(root && self.forced.1) => {
                self.sink(spec, Stream::Stderr, owner, root_display)?
            }
            _ => outer.stderr.clone(),
        };
        (ctx.stdout, ctx.stderr) = match opts.route {
            Some(route) => route.apply(out, err),
            None => (out, err),
        };
        match &command.node.kind {
            Kind::Program { program, args } => {
                self.stages.push(StagePlan {
                    // The root command's line is already made.
                    display: if root {
                        root_display.to_string()
                    } else {
                        command.to_string()
                    },
                    program: program.clone(),
                    args: args.iter().map(|a| a.value.clone()).collect(),
                    env: ctx.env,
                    dir: ctx.dir,
                    check: ctx.check.unwrap_or_default(),
                    stdin: ctx.stdin,
                    stdout: ctx.stdout,
                    stderr: ctx.stderr,
                    arg0: opts.arg0.clone(),
                    uid: ctx.uid,
                    gid: ctx.gid,
                    hooks: ctx.hooks,
                    new_session: ctx.new_session,
                });
            }
            Kind::Pipeline(stages) if stages.is_empty() => {
                return Err(Error::invalid(root_display, InvalidInput::EmptyPipeline));
            }
            Kind::Pipeline(stages) => {
                let last = stages.len().saturating_sub(1);
                for (i, stage) in stages.iter().enumerate() {
                    let mut inner = ctx.clone();
                    if i > 0 {
                        inner.stdin = Source::Prev;
                    }
                    if i < last {
                        inner.stdout = Sink::Next;
                    }
                    self.walk(stage, inner, start, root_display)?;
                }
            }
        }
        Ok(())
    }

    fn source(&mut self, spec: &InSpec, display: &str) -> Result<Source, Error> {
        Ok(match spec {
            InSpec::Inherit => Source::Inherit,
            InSpec::Null => Source::Null,
            InSpec::Bytes(bytes) => Source::Bytes(bytes.clone()),
            InSpec::File(file) => Source::File(file.clone()),
            InSpec::Path(path) => Source::File(Arc::new(
                File::open(path).map_err(|e| redirect_error(display, path, &e))?,
            )),
            InSpec::Pipe => Source::Caller,
        })
    }

    fn sink(
        &mut self,
        spec: &OutSpec,
        stream: Stream,
        owner: Option<usize>,
        display: &str,
    ) -> Result<Sink, Error> {
        Ok(match spec {
            OutSpec::Inherit => Sink::Inherit,
            OutSpec::Null => Sink::Null,
            OutSpec::Capture(limit, keep) => {
                Sink::Channel(self.add_channel(stream, owner, *limit, *keep, false))
            }
            OutSpec::File(file) => Sink::File(file.clone()),
            OutSpec::Path(path, append) => {
                let mut options = OpenOptions::new();
                options.create(true);
                if *append {
                    options.append(true);
                } else {
                    options.write(true).truncate(true);
                }
                // Opened once here, so that `2>&1` to a path shares one file
                // position, as in a shell.
                let file = options
                    .open(path)
                    .map_err(|e| redirect_error(display, path, &e))?;
                Sink::File(Arc::new(file))
            }
        })
    }
}

fn redirect_error(display: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::invalid(
        display,
        InvalidInput::Redirect {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    )
}

/// One started process.
pub(crate) struct Started {
    pub(crate) pid: u32,
    pub(crate) display: String,
    pub(crate) check: Check,
    /// Its stdout feeds the next stage (for the `SIGPIPE` rule).
    pub(crate) feeds_next: bool,
}

/// Everything [`spawn`] hands to the run.
pub(crate) struct Spawned {
    pub(crate) stages: Vec<Started>,
    pub(crate) pgid: u32,
    /// Reading ends of the captured pipes, in [`Plan::channels`] order.
    pub(crate) channels: Vec<OwnedFd>,
    /// stdin bytes to write, with the pipe to write them to.
    pub(crate) feeds: Vec<(OwnedFd, Arc<[u8]>)>,
    /// The writing end of `stdin_pipe`, for the caller.
    pub(crate) caller_stdin: Option<os_pipe::PipeWriter>,
    /// The run's own cgroup, holding every stage.
    pub(crate) cgroup: Option<crate::sys::Cgroup>,
}

/// Starts every stage of `plan` in one new process group.
///
/// If a stage fails to start, the stages already started are killed and
/// reaped before the error is returned.
pub(crate) fn spawn(plan: &Plan) -> Result<Spawned, Error> {
    for stage in &plan.stages {
        validate(stage, &plan.display)?;
        if stage.new_session && plan.pipeline {
            return Err(Error::invalid(
                &plan.display,
                InvalidInput::SessionInPipeline,
            ));
        }
    }
    let mut readers = Vec::with_capacity(plan.channels.len());
    let mut writers = Vec::with_capacity(plan.channels.len());
    for _ in &plan.channels {
        let (r, w) = pipe(&plan.display)?;
        readers.push(OwnedFd::from(r));
        writers.push(OwnedFd::from(w));
    }
    let mut spawned = Spawned {
        stages: Vec::with_capacity(plan.stages.len()),
        pgid: 0,
        channels: readers,
        feeds: Vec::new(),
        caller_stdin: None,
        cgroup: if plan.cgroup {
            crate::sys::Cgroup::create().ok()
        } else {
            None
        },
    };
    let mut children: Vec<std::process::Child> = Vec::with_capacity(plan.stages.len());
    let mut prev_reader: Option<os_pipe::PipeReader> = None;
    let last = plan.stages.len() - 1;
    for (i, stage) in plan.stages.iter().enumerate() {
        let result = (|| {
            let next = if i < last {
                Some(pipe(&plan.display)?)
            } else {
                None
            };
            let stdin = match &stage.stdin {
                Source::Inherit => Stdio::inherit(),
                Source::Null => null_stdio(false),
                Source::Bytes(bytes) => {
                    let (r, w) = pipe(&plan.display)?;
                    spawned.feeds.push((OwnedFd::from(w), bytes.clone()));
                    Stdio::from(r)
                }
                Source::File(file) => Stdio::from(dup_file(file, &plan.display)?),
                Source::Caller => {
                    let (r, w) = pipe(&plan.display)?;
                    spawned.caller_stdin = Some(w);
                    Stdio::from(r)
                }
                Source::Prev => match prev_reader.take() {
                    Some(r) => Stdio::from(r),
                    None => null_stdio(false),
                },
            };
            let next_writer = next.as_ref().map(|(_, w)| w);
            let stdout = stdio_for(&stage.stdout, &writers, next_writer, &plan.display)?;
            let stderr = stdio_for(&stage.stderr, &writers, next_writer, &plan.display)?;
            let child = start_one(stage, stdin, stdout, stderr, spawned.pgid, i, plan)?;
            // Our copies of the pipe to the next stage: keep only the reader.
            prev_reader = next.map(|(r, _)| r);
            Ok(child)
        })();
        match result {
            Ok(child) => {
                if i == 0 {
                    spawned.pgid = child.id();
                }
                // At once, so that what it forks from now on is in the
                // cgroup too. Without it, the run goes on without a cgroup.
                if let Some(cgroup) = &spawned.cgroup {
                    let pgid = crate::sys::pid_from_raw(spawned.pgid);
                    let moved = crate::sys::pid_from_raw(child.id())
                        .zip(pgid)
                        .is_some_and(|(pid, pgid)| cgroup.adopt(pid, pgid).is_ok());
                    if !moved {
                        spawned.cgroup = None;
                    }
                }
                spawned.stages.push(Started {
                    pid: child.id(),
                    display: stage.display.clone(),
                    check: stage.check.clone(),
                    feeds_next: i < last && matches!(stage.stdout, Sink::Next),
                });
                children.push(child);
            }
            Err(e) => {
                abort(&mut children, spawned.pgid);
                return Err(e);
            }
        }
    }
    // The `Child` values only hold pids now: std's pipes were not used. Our
    // own reaping (by pidfd) takes over; dropping a `Child` does not wait.
    drop(children);
    drop(writers);
    Ok(spawned)
}

/// Kills and reaps the stages already started when a later one fails.
fn abort(children: &mut [std::process::Child], pgid: u32) {
    if let Some(pgid) = crate::sys::pid_from_raw(pgid) {
        let _ = crate::sys::signal_group(pgid, crate::sys::Signal::KILL);
    }
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn stdio_for(
    sink: &Sink,
    channels: &[OwnedFd],
    next: Option<&os_pipe::PipeWriter>,
    display: &str,
) -> Result<Stdio, Error> {
    let dup_err = |e| Error::io(format!("cannot set up the pipes of {display:?}"), e);
    Ok(match sink {
        Sink::Inherit => Stdio::inherit(),
        Sink::Null => null_stdio(true),
        Sink::Channel(i) => Stdio::from(channels[*i].try_clone().map_err(dup_err)?),
        Sink::File(file) => Stdio::from(dup_file(file, display)?),
        Sink::Next => match next {
            Some(w) => Stdio::from(w.try_clone().map_err(dup_err)?),
            None => null_stdio(true),
        },
    })
}

/// `/dev/null` for a child's stdin (`write` false) or an output.
fn null_stdio(write: bool) -> Stdio {
    crate::sys::dev_null(write).map_or_else(Stdio::null, Stdio::from)
}

fn dup_file(file: &File, display: &str) -> Result<File, Error> {
    file.try_clone()
        .map_err(|e| Error::io(format!("cannot duplicate a file for {display:?}"), e))
}

fn pipe(display: &str) -> Result<(os_pipe::PipeReader, os_pipe::PipeWriter), Error> {
    crate::sys::pipe().map_err(|e| Error::io(format!("cannot create a pipe for {display:?}"), e))
}

fn start_one(
    stage: &StagePlan,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    pgid: u32,
    index: usize,
    plan: &Plan,
) -> Result<std::process::Child, Error> {
    let spawn_error = |failure, detail: Option<String>, source: Option<std::io::Error>| {
        Error::Spawn(Box::new(SpawnError {
            command: plan.display.clone(),
            program: stage.program.to_string_lossy().into_owned(),
            stage: plan.pipeline.then_some(index),
            dir: stage.dir.clone(),
            failure,
            detail,
            source: source.map(Arc::new),
        }))
    };
    let Some(program) = resolve(&stage.program, &stage.env, stage.dir.as_deref()) else {
        // A missing working directory is the cause, not the program.
        return Err(match dir_problem(stage.dir.as_deref()) {
            Some(problem) => spawn_error(SpawnFailure::NoSuchDirectory, problem, None),
            None => spawn_error(SpawnFailure::NotFound, None, None),
        });
    };
    let mut std_cmd = std::process::Command::new(&program);
    // The program sees the name it was given, not the path we found.
    std_cmd.arg0(stage.arg0.as_deref().unwrap_or(&stage.program));
    std_cmd.args(&stage.args);
    for op in &stage.env {
        match op {
            EnvOp::Set(k, v) => std_cmd.env(k, v),
            EnvOp::Remove(k) => std_cmd.env_remove(k),
            EnvOp::Clear => std_cmd.env_clear(),
        };
    }
    if let Some(dir) = &stage.dir {
        std_cmd.current_dir(dir);
    }
    // Either forces std's fork + exec path.
    if let Some(gid) = stage.gid {
        std_cmd.gid(gid);
    }
    if let Some(uid) = stage.uid {
        std_cmd.uid(uid);
    }
    for hook in &stage.hooks {
        hook(&mut std_cmd).map_err(|e| spawn_error(SpawnFailure::Hook, None, Some(e)))?;
    }
    // After the hooks, so that they cannot take away what the run relies on:
    // its pipes, and the one process group it stops. A new session makes its
    // own group (`setsid` fails in a group leader).
    std_cmd.stdin(stdin).stdout(stdout).stderr(stderr);
    if !stage.new_session {
        std_cmd.process_group(pgid as i32);
    }
    let mut child = std_cmd.spawn().map_err(|e| {
        let errno = crate::sys::spawn_errno(&e);
        if index > 0 && errno == SpawnErrno::NotPermitted {
            if let Some(error) = leader_lost(pgid, index, plan) {
                return error;
            }
        }
        if let Some(ids) = ids_asked(stage) {
            if errno == SpawnErrno::NotPermitted {
                return spawn_error(SpawnFailure::IdChangeDenied, Some(ids), Some(e));
            }
            if errno == SpawnErrno::Invalid {
                let detail = format!("{ids} is not a valid id here");
                return spawn_error(SpawnFailure::Other, Some(detail), Some(e));
            }
        }
        let (failure, detail) = classify(&e, &program, stage);
        spawn_error(failure, detail, Some(e))
    })?;
    // The exec has happened when `spawn` returns, so a `setsid` before it
    // has too. A child still in this process's group must not stay there:
    // stopping "its" group would signal ours.
    if stage.new_session {
        let pid = crate::sys::pid_from_raw(child.id());
        if pid.and_then(crate::sys::leads_session) == Some(false) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::invalid(
                &plan.display,
                InvalidInput::SessionNotCreated,
            ));
        }
    }
    Ok(child)
}

/// The ids asked for with `uid` and `gid`, as error messages name them.
fn ids_asked(stage: &StagePlan) -> Option<String> {
    match (stage.uid, stage.gid) {
        (Some(uid), Some(gid)) => Some(format!("uid {uid} and gid {gid}")),
        (Some(uid), None) => Some(format!("uid {uid}")),
        (None, Some(gid)) => Some(format!("gid {gid}")),
        (None, None) => None,
    }
}

/// A later stage could not join the process group because the group is
/// gone: its first stage already ended and somebody else reaped it (the host
/// ignores `SIGCHLD`, or reaps with `waitpid(-1)`). The same error as a
/// status taken by another waiter during the run.
fn leader_lost(pgid: u32, index: usize, plan: &Plan) -> Option<Error> {
    let leader = crate::sys::pid_from_raw(pgid)?;
    if crate::sys::group_exists(leader) {
        return None;
    }
    let first = &plan.stages.first()?.display;
    Some(Error::io(
        format!(
            "cannot run stage {index} of {:?}: stage 0 {first:?} already ended and {}",
            plan.display,
            crate::exec::STATUS_TAKEN
        ),
        crate::sys::child_taken_error(),
    ))
}

/// Why the working directory cannot be used, or `None` if it can (or none
/// is set): the detail [`SpawnError`]'s message shows.
fn dir_problem(dir: Option<&Path>) -> Option<Option<String>> {
    let dir = dir?;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some(Some("is not a directory".to_string())),
        Err(_) => Some(None),
    }
}

/// Why a spawn failed, told from the OS error and a look at the files
/// (only on this error path, so the fast path pays nothing).
fn classify(
    e: &std::io::Error,
    program: &Path,
    stage: &StagePlan,
) -> (SpawnFailure, Option<String>) {
    if let Some(problem) = dir_problem(stage.dir.as_deref()) {
        return (SpawnFailure::NoSuchDirectory, problem);
    }
    match crate::sys::spawn_errno(e) {
        SpawnErrno::TooBig => (
            SpawnFailure::ArgumentListTooLong,
            Some(too_big_detail(&stage.args, &child_env(&stage.env))),
        ),
        SpawnErrno::AccessDenied => {
            if program.is_dir() {
                (SpawnFailure::IsDirectory, None)
            } else {
                (SpawnFailure::PermissionDenied, None)
            }
        }
        SpawnErrno::NotFound => {
            if program.exists() {
                // The file is there: its `#!` interpreter (or, for a binary,
                // its loader) is not.
                (SpawnFailure::InterpreterNotFound, interpreter(program))
            } else {
                (SpawnFailure::NotFound, None)
            }
        }
        _ => (SpawnFailure::Other, None),
    }
}

/// The interpreter a script's `#!` line names, if it has one.
fn interpreter(program: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let mut file = File::open(program).ok()?;
    let n = file.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let name = line
        .split(|b| b.is_ascii_whitespace())
        .find(|w| !w.is_empty())?;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// The environment the child would get: ours, changed by `env`.
fn child_env(env: &[EnvOp]) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for op in env {
        match op {
            EnvOp::Set(k, v) => {
                vars.retain(|(key, _)| key != k);
                vars.push((k.clone(), v.clone()));
            }
            EnvOp::Remove(k) => vars.retain(|(key, _)| key != k),
            EnvOp::Clear => vars.clear(),
        }
    }
    vars
}

/// Linux's limit for one argument or environment string
/// (`MAX_ARG_STRLEN`, 32 pages of 4 KiB).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What `E2BIG` counted: the arguments and the environment, each with its
/// size in bytes (every string with its NUL), and the longest string if it
/// alone is over Linux's limit for one.
fn too_big_detail(args: &[OsString], env: &[(OsString, OsString)]) -> String {
    let arg_sizes = args.iter().map(|a| a.len() + 1);
    let env_sizes = env.iter().map(|(k, v)| k.len() + v.len() + 2);
    let arg_bytes: usize = arg_sizes.clone().sum();
    let env_bytes: usize = env_sizes.clone().sum();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut detail = format!(
        "{}, {arg_bytes} bytes; {}, {env_bytes} bytes",
        plural(args.len(), "argument", "arguments"),
        plural(env.len(), "environment variable", "environment variables"),
    );
    let longest = arg_sizes.chain(env_sizes).max().unwrap_or(0);
    if longest > MAX_ARG_STRLEN {
        detail.push_str(&format!(
            "; one string has {longest} bytes, over the {MAX_ARG_STRLEN}-byte limit for a single one"
        ));
    }
    detail
}

/// Rejects what the OS cannot express, before anything starts.
fn validate(stage: &StagePlan, display: &str) -> Result<(), Error> {
    let bad = |problem| Err(Error::invalid(display, problem));
    if stage.program.is_empty() {
        return bad(InvalidInput::EmptyProgram);
    }
    if has_nul(&stage.program) {
        return bad(InvalidInput::NulInProgram);
    }
    if let Some(index) = stage.args.iter().position(|a| has_nul(a)) {
        return bad(InvalidInput::NulInArgument { index });
    }
    for op in &stage.env {
        let (key, value) = match op {
            EnvOp::Set(k, v) => (k, Some(v)),
            EnvOp::Remove(k) => (k, None),
            EnvOp::Clear => continue,
        };
        let name = || key.to_string_lossy().into_owned();
        if key.is_empty() {
            return bad(InvalidInput::EmptyEnvKey);
        }
        if has_nul(key) {
            return bad(InvalidInput::NulInEnvKey { key: name() });
        }
        if key.as_bytes().contains(&b'=') {
            return bad(InvalidInput::EqualsInEnvKey { key: name() });
        }
        if value.is_some_and(|v| has_nul(v)) {
            return bad(InvalidInput::NulInEnvValue { key: name() });
        }
    }
    Ok(())
}

fn has_nul(s: &OsStr) -> bool {
    s.as_bytes().contains(&0)
}

/// The path to execute: `program` itself if it has a `/` (joined to `dir`
/// when relative), else the first executable file of that name on the
/// child's `PATH`. `None` if there is none.
fn resolve(program: &OsStr, env: &[EnvOp], dir: Option<&Path>) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(join_dir(dir, Path::new(program)));
    }
    // A child without PATH gets the lookup of ours.
    let path = child_path(env).or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&path)
        .map(|entry| {
            // An empty entry means the current directory, by POSIX.
            let entry = if entry.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                entry
            };
            join_dir(dir, &entry).join(program)
        })
        .find(|candidate| crate::sys::is_executable(candidate))
}

/// The `PATH` the child will see.
fn child_path(env: &[EnvOp]) -> Option<OsString> {
    let mut path = std::env::var_os("PATH");
    for op in env {
        match op {
            EnvOp::Set(k, v) if k == "PATH" => path = Some(v.clone()),
            EnvOp::Remove(k) if k == "PATH" => path = None,
            EnvOp::Clear => path = None,
            _ => {}
        }
    }
    path
}
