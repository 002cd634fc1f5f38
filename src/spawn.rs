//! Starting a [`Plan`]: the pipes, then every stage in one new process
//! group, and, when a stage cannot start, the error that says why.
//!
//! Stages start with `std::process::Command`, kept on the fast
//! `posix_spawn` path: we resolve bare program names on `PATH` ourselves
//! (std falls back to `fork` + `exec` for a bare name with a changed
//! `PATH`), use `process_group` (which `posix_spawn` supports), and never
//! use `pre_exec`. Only what the caller asks for leaves that path: `uid`,
//! `gid`, and a `before_spawn` hook that adds a `pre_exec`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use crate::command::{EnvOp, join_dir};
use crate::error::{Error, InvalidInput, SpawnError, SpawnFailure};
use crate::pipestatus::Check;
use crate::plan::{OutputTo, Plan, StagePlan, StdinFrom};
use crate::sys::{self, SpawnErrno};

/// One started stage.
pub(crate) struct StartedStage {
    pub(crate) pid: u32,
    pub(crate) display: String,
    pub(crate) check: Check,
    /// Its stdout feeds the next stage (for the `SIGPIPE` rule).
    pub(crate) feeds_next: bool,
}

/// Everything [`spawn`] hands to the run.
pub(crate) struct SpawnedRun {
    pub(crate) stages: Vec<StartedStage>,
    pub(crate) pgid: u32,
    /// Reading ends of the captured pipes, in [`Plan::channels`] order.
    pub(crate) channels: Vec<OwnedFd>,
    /// stdin bytes to write, with the pipe to write them to.
    pub(crate) feeds: Vec<(OwnedFd, Arc<[u8]>)>,
    /// The writing end of `stdin_pipe`, for the caller.
    pub(crate) caller_stdin: Option<os_pipe::PipeWriter>,
    /// The run's own cgroup, holding every stage.
    pub(crate) cgroup: Option<sys::Cgroup>,
}

/// Starts every stage of `plan` in one new process group.
///
/// If a stage fails to start, the stages already started are killed and
/// reaped before the error is returned.
pub(crate) fn spawn(plan: &Plan) -> Result<SpawnedRun, Error> {
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
    let mut writers = Writers {
        fds: Vec::with_capacity(plan.channels.len()),
        uses: vec![0; plan.channels.len()],
    };
    for _ in &plan.channels {
        let (r, w) = pipe(&plan.display)?;
        readers.push(OwnedFd::from(r));
        writers.fds.push(Some(OwnedFd::from(w)));
    }
    for stage in &plan.stages {
        for sink in [&stage.stdout, &stage.stderr] {
            if let OutputTo::Channel(i) = sink {
                writers.uses[*i] += 1;
            }
        }
    }
    let mut spawned = SpawnedRun {
        stages: Vec::with_capacity(plan.stages.len()),
        pgid: 0,
        channels: readers,
        feeds: Vec::new(),
        caller_stdin: None,
        cgroup: if plan.cgroup {
            sys::Cgroup::create().ok()
        } else {
            None
        },
    };
    let mut children: Vec<std::process::Child> = Vec::with_capacity(plan.stages.len());
    let mut prev_reader: Option<os_pipe::PipeReader> = None;
    let last = plan.stages.len() - 1;
    for (i, stage) in plan.stages.iter().enumerate() {
        let child = match spawn_stage(plan, i, &mut writers, &mut prev_reader, &mut spawned) {
            Ok(child) => child,
            Err(e) => {
                abort(&mut children, spawned.pgid);
                return Err(e);
            }
        };
        if i == 0 {
            spawned.pgid = child.id();
        }
        // At once, so that what it forks from now on is in the cgroup too.
        // Without it, the run goes on without a cgroup.
        if let Some(cgroup) = &spawned.cgroup {
            let moved = sys::pid_from_raw(child.id())
                .zip(sys::pid_from_raw(spawned.pgid))
                .is_some_and(|(pid, pgid)| cgroup.adopt(pid, pgid).is_ok());
            if !moved {
                spawned.cgroup = None;
            }
        }
        spawned.stages.push(StartedStage {
            pid: child.id(),
            display: stage.display.clone(),
            check: stage.check.clone(),
            feeds_next: i < last && matches!(stage.stdout, OutputTo::Next),
        });
        children.push(child);
    }
    // The `Child` values only hold pids now: std's pipes were not used. Our
    // own reaping (by pidfd) takes over; dropping a `Child` does not wait.
    drop(children);
    drop(writers);
    Ok(spawned)
}

/// The writing ends of the captured pipes, each handed to the child that
/// uses it last rather than copied for it (a copy costs two system calls).
struct Writers {
    fds: Vec<Option<OwnedFd>>,
    /// How many stdouts and stderrs still to come write to each.
    uses: Vec<usize>,
}

impl Writers {
    /// The writing end of pipe `i` for one more stdout or stderr.
    fn give(&mut self, i: usize) -> std::io::Result<OwnedFd> {
        self.uses[i] = self.uses[i].saturating_sub(1);
        let fd = if self.uses[i] == 0 {
            self.fds[i].take()
        } else {
            self.fds[i].as_ref().map(OwnedFd::try_clone).transpose()?
        };
        fd.ok_or_else(|| std::io::Error::other("a captured pipe was used more than planned"))
    }
}

/// Starts stage `i` of `plan`: makes its stdin (from `prev_reader`, the
/// previous stage's pipe, which it takes; or a new pipe recorded in
/// `spawned`), its outputs (to `channels`, the writing ends of the captured
/// pipes, or a new pipe to the next stage, whose reader it leaves in
/// `prev_reader`), and spawns it in the run's group.
fn spawn_stage(
    plan: &Plan,
    i: usize,
    channels: &mut Writers,
    prev_reader: &mut Option<os_pipe::PipeReader>,
    spawned: &mut SpawnedRun,
) -> Result<std::process::Child, Error> {
    let stage = &plan.stages[i];
    let next = if i + 1 < plan.stages.len() {
        Some(pipe(&plan.display)?)
    } else {
        None
    };
    let stdin = match &stage.stdin {
        StdinFrom::Inherit => Stdio::inherit(),
        StdinFrom::Null => null_stdio(false),
        StdinFrom::Bytes(bytes) => {
            let (r, w) = pipe(&plan.display)?;
            spawned.feeds.push((OwnedFd::from(w), bytes.clone()));
            Stdio::from(r)
        }
        StdinFrom::File(file) => Stdio::from(dup_file(file, &plan.display)?),
        StdinFrom::Caller => {
            let (r, w) = pipe(&plan.display)?;
            spawned.caller_stdin = Some(w);
            Stdio::from(r)
        }
        StdinFrom::Prev => match prev_reader.take() {
            Some(r) => Stdio::from(r),
            None => null_stdio(false),
        },
    };
    let next_writer = next.as_ref().map(|(_, w)| w);
    let stdout = stdio_for(&stage.stdout, channels, next_writer, &plan.display)?;
    let stderr = stdio_for(&stage.stderr, channels, next_writer, &plan.display)?;
    let child = start_one(stage, stdin, stdout, stderr, spawned.pgid, i, plan)?;
    // Our copies of the pipe to the next stage: keep only the reader.
    *prev_reader = next.map(|(r, _)| r);
    Ok(child)
}

/// Kills and reaps the stages already started when a later one fails.
fn abort(children: &mut [std::process::Child], pgid: u32) {
    if let Some(pgid) = sys::pid_from_raw(pgid) {
        let _ = sys::signal_group(pgid, sys::Signal::KILL);
    }
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn stdio_for(
    sink: &OutputTo,
    channels: &mut Writers,
    next: Option<&os_pipe::PipeWriter>,
    display: &str,
) -> Result<Stdio, Error> {
    let dup_err = |e| Error::io(format!("cannot set up the pipes of {display:?}"), e);
    Ok(match sink {
        OutputTo::Inherit => Stdio::inherit(),
        OutputTo::Null => null_stdio(true),
        OutputTo::Channel(i) => Stdio::from(channels.give(*i).map_err(dup_err)?),
        OutputTo::File(file) => Stdio::from(dup_file(file, display)?),
        OutputTo::Next => match next {
            Some(w) => Stdio::from(w.try_clone().map_err(dup_err)?),
            None => null_stdio(true),
        },
    })
}

/// `/dev/null` for a child's stdin (`write` false) or an output.
fn null_stdio(write: bool) -> Stdio {
    sys::dev_null(write).map_or_else(Stdio::null, Stdio::from)
}

fn dup_file(file: &File, display: &str) -> Result<File, Error> {
    file.try_clone()
        .map_err(|e| Error::io(format!("cannot duplicate a file for {display:?}"), e))
}

fn pipe(display: &str) -> Result<(os_pipe::PipeReader, os_pipe::PipeWriter), Error> {
    sys::pipe().map_err(|e| Error::io(format!("cannot create a pipe for {display:?}"), e))
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
        let errno = sys::spawn_errno(&e);
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
        let pid = sys::pid_from_raw(child.id());
        if pid.and_then(sys::leads_session) == Some(false) {
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
    let leader = sys::pid_from_raw(pgid)?;
    if sys::group_exists(leader) {
        return None;
    }
    let first = &plan.stages.first()?.display;
    Some(Error::io(
        format!(
            "cannot run stage {index} of {:?}: stage 0 {first:?} already ended and {}",
            plan.display,
            crate::error::STATUS_TAKEN
        ),
        sys::child_taken_error(),
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
    match sys::spawn_errno(e) {
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
        .find(|candidate| sys::is_executable(candidate))
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_captured_pipe_is_copied_for_each_user_but_its_last() {
        let (_r, w) = sys::pipe().unwrap();
        let original = w.as_raw_fd();
        let mut writers = Writers {
            fds: vec![Some(OwnedFd::from(w))],
            uses: vec![3],
        };
        let first = writers.give(0).unwrap();
        let second = writers.give(0).unwrap();
        assert_ne!(first.as_raw_fd(), original);
        assert_ne!(second.as_raw_fd(), original);
        // The last user gets the pipe itself.
        assert_eq!(writers.give(0).unwrap().as_raw_fd(), original);
        // One use more than planned is an error, not a panic.
        assert!(writers.give(0).is_err());
    }
}
