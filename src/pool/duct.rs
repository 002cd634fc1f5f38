//! duct expressions as pool jobs (feature `duct`).
//!
//! duct spawns and reaps its own children, so it cannot join the engine's
//! poll loop: one shared watcher thread polls every running expression with
//! `try_wait` every couple of milliseconds, enforces timeouts and stops, and
//! reports results. The limits (no process group, so stops reach only
//! duct's direct children) are documented on [`Job::Duct`](crate::Job::Duct).

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::capture::Keep;
use crate::error::{Error, SpawnError, SpawnFailure};
use crate::output::Output;
use crate::reactor::OnDone;
use crate::sync::{get_or_try_init, lock};

use super::backend::{Captured, Ended, Launch, Started, Status, StopHow, Stopper, Watch};
use super::output::Sinks;

/// How often the watcher polls running expressions.
const POLL: Duration = Duration::from_millis(2);

/// Starts `expression` with the pool's settings and hands it to the watcher.
pub(crate) fn start(
    expression: &duct::Expression,
    launch: Launch,
    on_done: OnDone,
) -> Result<Started, Error> {
    let display = format!("{expression:?}");
    // Inner redirections win over outer ones in duct, as here.
    let mut e = expression.unchecked().stdin_null();
    for (name, value) in launch.env_vars() {
        e = e.env(name, value);
    }
    let mut limit = None;
    match launch.sinks {
        Sinks::AsCommand | Sinks::Tagged | Sinks::Lines => {}
        Sinks::Null => e = e.stdout_null().stderr_null(),
        Sinks::Capture(max, keep) => {
            e = e.stdout_capture().stderr_capture();
            limit = max.map(|m| (m, keep));
        }
        Sinks::Files(out, err) => {
            // duct takes files by value: ours, unless a copy is kept to
            // start the attempt again.
            let own = |file: Arc<File>| {
                Arc::try_unwrap(file)
                    .or_else(|shared| shared.try_clone())
                    .map_err(|e| Error::io(format!("cannot duplicate a file for {display}"), e))
            };
            e = e.stdout_file(own(out)?).stderr_file(own(err)?);
        }
    }
    let started = Instant::now();
    let timeout_at = launch.timeout.and_then(|t| crate::sync::after(started, t));
    let (deadline, timeout) = match (timeout_at, launch.deadline) {
        (Some(t), Some(d)) if d < t => (Some(d), None),
        (Some(t), _) => (Some(t), launch.timeout),
        (None, d) => (d, None),
    };
    // The watcher first: an expression is never started without one.
    let watcher = watcher()?;
    let handle = e.start().map_err(|err| spawn_error(&display, err))?;
    let pids = handle.pids();
    let run = Arc::new(Run {
        handle,
        display,
        started,
        deadline,
        timeout,
        limit,
        pid: pids.first().copied().unwrap_or(0),
        state: Mutex::new(RunState {
            requested: None,
            stopped: None,
            on_done: Some(on_done),
        }),
    });
    watcher.add(run.clone());
    Ok(Started {
        stopper: Arc::new(DuctStopper(run)),
        pids,
        watch: Watch::Own,
        ids: None,
    })
}

fn spawn_error(display: &str, err: std::io::Error) -> Error {
    let failure = match err.kind() {
        std::io::ErrorKind::NotFound => SpawnFailure::NotFound,
        std::io::ErrorKind::PermissionDenied => SpawnFailure::PermissionDenied,
        _ => SpawnFailure::Other,
    };
    Error::Spawn(Box::new(SpawnError {
        command: display.to_string(),
        program: display.to_string(),
        stage: None,
        dir: None,
        failure,
        detail: Some("a duct expression".to_string()),
        source: Some(Arc::new(err)),
    }))
}

/// Why the watcher killed an expression.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Killed {
    Timeout,
    Cancel,
    Kill,
}

struct RunState {
    requested: Option<StopHow>,
    stopped: Option<Killed>,
    on_done: Option<OnDone>,
}

/// A running expression.
struct Run {
    handle: duct::Handle,
    display: String,
    started: Instant,
    deadline: Option<Instant>,
    /// The per-job timeout, when it (not the pool's deadline) set `deadline`.
    timeout: Option<Duration>,
    limit: Option<(usize, Keep)>,
    pid: u32,
    state: Mutex<RunState>,
}

impl Run {
    /// Enforces stops and the deadline; reports the result once over.
    /// Returns whether the run is over.
    fn poll(&self, now: Instant) -> bool {
        let kill = {
            let mut state = lock(&self.state);
            let why = match state.requested.take() {
                Some(StopHow::Cancel) => Some(Killed::Cancel),
                Some(StopHow::Kill) => Some(Killed::Kill),
                None if self.deadline.is_some_and(|d| now >= d) => Some(Killed::Timeout),
                None => None,
            };
            match why {
                Some(why) if state.stopped.is_none() => {
                    state.stopped = Some(why);
                    true
                }
                _ => false,
            }
        };
        if kill {
            let _ = self.handle.kill();
        }
        let result = match self.handle.try_wait() {
            Ok(None) => return false,
            Ok(Some(output)) => self.judge(output),
            Err(e) => Err(Error::io(format!("cannot wait for {}", self.display), e)),
        };
        let on_done = lock(&self.state).on_done.take();
        if let Some(on_done) = on_done {
            on_done(result);
        }
        true
    }

    fn judge(&self, raw: &std::process::Output) -> Result<Output, Error> {
        let (stdout, stdout_truncated) = self.limited(&raw.stdout);
        let (stderr, stderr_truncated) = self.limited(&raw.stderr);
        let status = match lock(&self.state).stopped {
            Some(Killed::Timeout) => Status::TimedOut,
            Some(Killed::Cancel) => Status::Stopped(StopHow::Cancel),
            _ => match (raw.status.code(), raw.status.signal()) {
                (Some(code), _) => Status::Exited(code),
                (None, Some(signal)) => Status::Signaled {
                    signal,
                    core: raw.status.core_dumped(),
                },
                (None, None) => Status::Exited(-1),
            },
        };
        let ended = Ended {
            status,
            out: Captured {
                stdout,
                stderr,
                stdout_truncated,
                stderr_truncated,
            },
            pid: self.pid,
            elapsed: self.started.elapsed(),
        };
        ended.into_result(&self.display, self.timeout)
    }

    fn limited(&self, bytes: &[u8]) -> (Vec<u8>, bool) {
        match self.limit {
            Some((max, _)) if bytes.len() <= max => (bytes.to_vec(), false),
            // duct holds the whole stream in memory already.
            Some((_, Keep::Spill)) => (bytes.to_vec(), false),
            Some((max, Keep::Head)) => (bytes[..max].to_vec(), true),
            Some((max, Keep::Tail)) => (bytes[bytes.len() - max..].to_vec(), true),
            None => (bytes.to_vec(), false),
        }
    }
}

struct DuctStopper(Arc<Run>);

impl Stopper for DuctStopper {
    fn stop(&self, how: StopHow) {
        let mut state = lock(&self.0.state);
        if state.requested != Some(StopHow::Kill) {
            state.requested = Some(how);
        }
        drop(state);
        // A run was started, so the watcher is there.
        if let Ok(watcher) = watcher() {
            watcher.wake();
        }
    }
}

/// The one thread that watches every running expression.
struct Watcher {
    runs: Mutex<Vec<Arc<Run>>>,
    cv: Condvar,
}

impl Watcher {
    fn add(&self, run: Arc<Run>) {
        lock(&self.runs).push(run);
        self.cv.notify_all();
    }

    fn wake(&self) {
        self.cv.notify_all();
    }

    fn run(&self) {
        let mut runs = lock(&self.runs);
        loop {
            if runs.is_empty() {
                runs = self.cv.wait(runs).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let current = runs.clone();
            drop(runs);
            let now = Instant::now();
            let over: Vec<Arc<Run>> = current.into_iter().filter(|r| r.poll(now)).collect();
            runs = lock(&self.runs);
            runs.retain(|r| !over.iter().any(|o| Arc::ptr_eq(o, r)));
            if !runs.is_empty() {
                runs = self
                    .cv
                    .wait_timeout(runs, POLL)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }
}

/// The watcher, started at its first use. If its thread cannot be started
/// (threads exhausted), this is an error, and the next use tries again.
fn watcher() -> Result<&'static Watcher, Error> {
    static WATCHER: OnceLock<Arc<Watcher>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let watcher = get_or_try_init(&WATCHER, &STARTING, || {
        let watcher = Arc::new(Watcher {
            runs: Mutex::new(Vec::new()),
            cv: Condvar::new(),
        });
        let watching = watcher.clone();
        std::thread::Builder::new()
            .name("procession-duct".into())
            .spawn(move || watching.run())
            .map_err(|e| Error::io("cannot start the thread that watches duct expressions", e))?;
        Ok(watcher)
    })?;
    Ok(watcher)
}
