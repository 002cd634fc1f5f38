//! Planning a run: a [`Command`] tree flattened into stages.
//!
//! [`plan`] layers each pipeline's options over its stages' (the innermost
//! setting wins), resolves every redirection into where a stage's stdin
//! comes from and where its output goes (opening the files it names), and
//! gathers what the whole run obeys: its time limit, stop sequence, drain
//! time and cancel tokens. `spawn` then starts the plan.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::capture::Keep;
use crate::command::{Command, EnvOp, Hook, Kind, Options, join_dir};
use crate::error::{Error, InvalidInput};
use crate::pipestatus::Check;
use crate::redirect::{InSpec, OutSpec, Stream};
use crate::stop::StopSequence;
use crate::time_limit::TimeLimit;

/// Where a stage reads stdin from, once resolved.
#[derive(Clone)]
pub(crate) enum StdinFrom {
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
pub(crate) enum OutputTo {
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

/// One program to start, with everything it inherited.
pub(crate) struct StagePlan {
    pub(crate) display: String,
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<EnvOp>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) check: Check,
    pub(crate) stdin: StdinFrom,
    pub(crate) stdout: OutputTo,
    pub(crate) stderr: OutputTo,
    pub(crate) arg0: Option<OsString>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) new_session: bool,
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
    pub(crate) stages: Vec<StagePlan>,
    pub(crate) channels: Vec<ChannelPlan>,
    pub(crate) display: String,
    /// The earliest of every timeout and deadline inside the command.
    pub(crate) time_limit: TimeLimit,
    pub(crate) stop: StopSequence,
    /// Run in a cgroup of its own ([`Command::cgroup`]).
    pub(crate) cgroup: bool,
    pub(crate) drain: Duration,
    /// Where spilling captures make their files (`None`: the default).
    pub(crate) spill_dir: Option<Arc<Path>>,
    pub(crate) cancel: Vec<CancelToken>,
    pub(crate) pipeline: bool,
    /// Forwarded job control stops and continues the run's group.
    pub(crate) job_control: bool,
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
    stdin: StdinFrom,
    stdout: OutputTo,
    stderr: OutputTo,
    uid: Option<u32>,
    gid: Option<u32>,
    hooks: Vec<Hook>,
    new_session: bool,
    depth: usize,
}

impl Context {
    /// What a node inside this context inherits, with its own `opts` over
    /// it (all but the redirections: see [`Plan::redirect`]).
    fn enter(&self, opts: &Options) -> Context {
        let mut ctx = self.clone();
        ctx.depth += 1;
        ctx.env.extend(opts.env.iter().cloned());
        if let Some(dir) = &opts.dir {
            ctx.dir = Some(join_dir(self.dir.as_deref(), dir));
        }
        // The innermost setting wins, except that `unchecked()` on an
        // enclosing pipeline makes every status inside it data.
        if let Some(check) = &opts.check {
            if ctx.check != Some(Check::Unchecked) {
                ctx.check = Some(check.clone());
            }
        }
        ctx.uid = opts.uid.or(ctx.uid);
        ctx.gid = opts.gid.or(ctx.gid);
        ctx.hooks.extend(opts.hooks.iter().cloned());
        ctx.new_session |= opts.new_session;
        ctx
    }
}

/// Flattens `command` into stages and resolves its redirections.
pub(crate) fn plan(command: &Command, mode: Mode, start: Instant) -> Result<Plan, Error> {
    let display = command.to_string();
    let mut plan = Plan {
        stages: Vec::new(),
        channels: Vec::new(),
        display: display.clone(),
        time_limit: TimeLimit::default(),
        stop: command.node.opts.stop.clone().unwrap_or_default(),
        cgroup: command.node.opts.cgroup.unwrap_or(false),
        drain: command.node.opts.drain.unwrap_or(DEFAULT_DRAIN),
        spill_dir: command.node.opts.spill_dir.clone(),
        cancel: Vec::new(),
        pipeline: matches!(command.node.kind, Kind::Pipeline(_)),
        job_control: !command.node.opts.own_job_control,
        forced: (
            matches!(mode, Mode::Read | Mode::Lines | Mode::Events),
            mode == Mode::Events,
        ),
    };
    let mut root = Context {
        env: Vec::new(),
        dir: None,
        check: None,
        stdin: StdinFrom::Inherit,
        stdout: OutputTo::Inherit,
        stderr: OutputTo::Inherit,
        uid: None,
        gid: None,
        hooks: Vec::new(),
        new_session: false,
        depth: 0,
    };
    let lines = matches!(mode, Mode::Lines | Mode::Events);
    if matches!(mode, Mode::Read | Mode::Lines | Mode::Events) {
        root.stdout =
            OutputTo::Channel(plan.add_channel(Stream::Stdout, None, None, Keep::Head, lines));
    }
    if mode == Mode::Events {
        root.stderr =
            OutputTo::Channel(plan.add_channel(Stream::Stderr, None, None, Keep::Head, true));
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
            .any(|s| matches!(s.stdin, StdinFrom::Inherit))
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

    /// Adds `command`'s stages, inside `outer` (what the enclosing levels
    /// set).
    fn walk(
        &mut self,
        command: &Command,
        outer: Context,
        start: Instant,
        root_display: &str,
    ) -> Result<(), Error> {
        let opts = &command.node.opts;
        self.cancel.extend(opts.cancel.iter().cloned());
        self.time_limit.add(opts.timeout, opts.deadline, start);
        let root = outer.depth == 0;
        let mut ctx = outer.enter(opts);
        // The first stage this node will produce owns its captures.
        let owner = (!root).then_some(self.stages.len());
        self.redirect(&mut ctx, &outer, opts, owner, root_display)?;
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
                let last = stages.len() - 1;
                for (i, stage) in stages.iter().enumerate() {
                    let mut inner = ctx.clone();
                    if i > 0 {
                        inner.stdin = StdinFrom::Prev;
                    }
                    if i < last {
                        inner.stdout = OutputTo::Next;
                    }
                    self.walk(stage, inner, start, root_display)?;
                }
            }
        }
        Ok(())
    }

    /// Resolves a node's own redirections into `ctx`. `read`, `lines` and
    /// `events` capture the outermost streams they need, over the command's
    /// own setting for them.
    fn redirect(
        &mut self,
        ctx: &mut Context,
        outer: &Context,
        opts: &Options,
        owner: Option<usize>,
        root_display: &str,
    ) -> Result<(), Error> {
        let root = outer.depth == 0;
        if let Some(spec) = &opts.stdin {
            ctx.stdin = self.stdin_from(spec, root_display)?;
        }
        let out = match &opts.stdout {
            Some(spec) if !(root && self.forced.0) => {
                self.output_to(spec, Stream::Stdout, owner, root_display)?
            }
            _ => outer.stdout.clone(),
        };
        let err = match &opts.stderr {
            Some(spec) if !(root && self.forced.1) => {
                self.output_to(spec, Stream::Stderr, owner, root_display)?
            }
            _ => outer.stderr.clone(),
        };
        (ctx.stdout, ctx.stderr) = match opts.route {
            Some(route) => route.apply(out, err),
            None => (out, err),
        };
        Ok(())
    }

    fn stdin_from(&mut self, spec: &InSpec, display: &str) -> Result<StdinFrom, Error> {
        Ok(match spec {
            InSpec::Inherit => StdinFrom::Inherit,
            InSpec::Null => StdinFrom::Null,
            InSpec::Bytes(bytes) => StdinFrom::Bytes(bytes.clone()),
            InSpec::File(file) => StdinFrom::File(file.clone()),
            InSpec::Path(path) => StdinFrom::File(Arc::new(
                File::open(path).map_err(|e| redirect_error(display, path, &e))?,
            )),
            InSpec::Pipe => StdinFrom::Caller,
        })
    }

    fn output_to(
        &mut self,
        spec: &OutSpec,
        stream: Stream,
        owner: Option<usize>,
        display: &str,
    ) -> Result<OutputTo, Error> {
        Ok(match spec {
            OutSpec::Inherit => OutputTo::Inherit,
            OutSpec::Null => OutputTo::Null,
            OutSpec::Capture(limit, keep) => {
                OutputTo::Channel(self.add_channel(stream, owner, *limit, *keep, false))
            }
            OutSpec::File(file) => OutputTo::File(file.clone()),
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
                OutputTo::File(Arc::new(file))
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
