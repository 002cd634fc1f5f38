//! Timing and stopping Slurm attempts: one thread for every pool, which
//! starts each attempt's timeout when its task starts (so queue time does
//! not count), watches the pool's deadline, and stops attempts with
//! `scancel`, never by signalling srun (srun would kill the task without
//! a `SIGTERM`). The rules are the pure functions [`first_calls`] and
//! [`grace_calls`].

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sync::{get_or_try_init, lock};

use super::run::Run;

/// Why an attempt is stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Why {
    /// Its own timeout passed.
    Timeout,
    /// The pool's deadline passed.
    Deadline,
    /// The pool asked: `SIGTERM`, then `SIGKILL` after the grace time.
    Cancel,
    /// The pool asked for `SIGKILL` at once.
    Kill,
}

/// Where an attempt is, as far as stopping it goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase<'a> {
    /// No id yet: a stop waits for one.
    NoId,
    /// Queued or allocated, its task not started: the job id.
    Pending(&'a str),
    /// Its task runs: its step id (`J.S`; signals to a job id take
    /// `KillWait` to land, to its step at once: measured).
    Running(&'a str),
}

/// The `scancel` calls that start a stop, and whether a kill must follow
/// after the grace time. A pending job refuses `SIGTERM` ("Job can not be
/// altered now"): a plain `scancel` ends it. `SIGTERM` reaches only the
/// task's top process; `SIGKILL` the whole cgroup.
pub(crate) fn first_calls(phase: Phase<'_>, kill: bool) -> (Vec<Vec<String>>, bool) {
    let call = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    match (phase, kill) {
        (Phase::NoId, _) => (Vec::new(), false),
        (Phase::Pending(id), _) => (vec![call(&[id])], false),
        (Phase::Running(id), true) => (vec![call(&["--signal=KILL", id])], false),
        (Phase::Running(id), false) => (vec![call(&["--signal=TERM", id])], true),
    }
}

/// The calls once the grace time after `SIGTERM` is over: `SIGKILL` to
/// the step, and for a job of its own a plain `scancel` of the job too, so
/// its allocation goes.
pub(crate) fn grace_calls(step: &str, job: Option<&str>) -> Vec<Vec<String>> {
    let mut calls = vec![vec!["--signal=KILL".to_string(), step.to_string()]];
    calls.extend(job.map(|job| vec![job.to_string()]));
    calls
}

/// The job-control call an attempt needs now, if any, and whether its
/// task is stopped after it: `SIGSTOP` to a running step while this
/// process is stopped by Ctrl-Z (`paused`), `SIGCONT` once it is continued
/// or the attempt is being stopped (a stopped task would take its
/// `SIGTERM` only when continued). A pending job is left alone: it has no
/// task to stop yet (and srun, signalled, would submit it again).
pub(crate) fn job_control_call(
    phase: Phase<'_>,
    paused: bool,
    stopping: bool,
    suspended: bool,
) -> Option<(Vec<String>, bool)> {
    let Phase::Running(step) = phase else {
        return None;
    };
    let stop = paused && !stopping;
    if stop == suspended {
        return None;
    }
    let signal = if stop {
        "--signal=STOP"
    } else {
        "--signal=CONT"
    };
    Some((vec![signal.to_string(), step.to_string()], stop))
}

/// `KillWait` from `scontrol show config`'s output.
pub(crate) fn parse_kill_wait(config: &str) -> Option<Duration> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != "KillWait" {
            return None;
        }
        let secs = value.split_whitespace().next()?.parse().ok()?;
        Some(Duration::from_secs(secs))
    })
}

/// The grace time between `SIGTERM` and `SIGKILL`: the cluster's
/// `KillWait`, or 30 s (Slurm's default) if it cannot be read.
fn read_grace() -> Duration {
    tool("scontrol", &["show", "config"])
        .ok()
        .and_then(|text| parse_kill_wait(&text))
        .unwrap_or(Duration::from_secs(30))
}

/// Runs one `scancel`; its failure goes to the run's diagnostics.
fn scancel(run: &Run, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(why) = tool("scancel", &args) {
        run.note(format!("scancel {}: {why}", args.join(" ")));
    }
}

/// Runs one of Slurm's short commands and returns its stdout, or why it
/// failed. Through std, not the crate's engine: a forwarded Ctrl-C stops
/// every run of the engine that starts while it is forwarded, and these
/// are how the pool's jobs are stopped then.
fn tool(program: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The thread that times and stops every running attempt.
pub(crate) struct Timer {
    state: Mutex<Watched>,
    cv: Condvar,
}

/// The runs the timer watches.
struct Watched {
    runs: Vec<Arc<Run>>,
    /// Something changed since the timer last looked (a run was added, a
    /// stop asked for, an id learned): it looks again before it waits, so
    /// a wake while it was looking is never lost.
    changed: bool,
    /// This process is being stopped by Ctrl-Z: running steps are stopped
    /// too, until it is continued.
    paused: bool,
    /// Every running step was sent its `SIGSTOP` since `paused` was set.
    pause_done: bool,
}

impl crate::signals::JobControl for Timer {
    fn suspend(&self) {
        let mut watched = lock(&self.state);
        watched.paused = true;
        watched.pause_done = false;
        watched.changed = true;
        self.cv.notify_all();
    }

    fn suspended(&self) -> bool {
        let watched = lock(&self.state);
        !watched.paused || watched.pause_done
    }

    fn resume(&self) {
        let mut watched = lock(&self.state);
        watched.paused = false;
        watched.changed = true;
        self.cv.notify_all();
    }
}

impl Timer {
    pub(crate) fn add(&self, run: Arc<Run>) {
        let mut watched = lock(&self.state);
        watched.runs.push(run);
        watched.changed = true;
        self.cv.notify_all();
    }

    pub(crate) fn wake(&self) {
        lock(&self.state).changed = true;
        self.cv.notify_all();
    }

    fn run(&self) {
        let mut watched = lock(&self.state);
        loop {
            watched.changed = false;
            watched.runs.retain(|r| !lock(&r.state).over);
            let current = watched.runs.clone();
            let paused = watched.paused;
            drop(watched);
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for run in &current {
                if let Some(at) = tick(run, now, paused) {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
            watched = lock(&self.state);
            if watched.changed {
                continue;
            }
            watched.pause_done = paused && watched.paused;
            watched = match next {
                None => self.cv.wait(watched).unwrap_or_else(|e| e.into_inner()),
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.cv
                        .wait_timeout(watched, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// Decides and sends what `run` needs now; returns when to look again.
/// While `paused` (Ctrl-Z), a running step is stopped.
fn tick(run: &Run, now: Instant, paused: bool) -> Option<Instant> {
    // Read the grace time before it can be needed, outside the run's lock.
    let may_stop = run.timeout.is_some() || run.deadline.is_some() || {
        let state = lock(&run.state);
        state.stop.is_some()
    };
    let grace = may_stop.then(|| *run.grace.get_or_init(read_grace));
    let mut calls = Vec::new();
    let mut next = None;
    {
        let mut state = lock(&run.state);
        if state.over {
            return None;
        }
        // As for a local run, the time this process spent stopped by
        // Ctrl-Z does not count (its task was stopped too), and no timeout
        // is decided while it is being stopped or just continued.
        let stopped = crate::signals::paused().saturating_sub(state.paused_base);
        let timeout_at = state
            .launched
            .zip(run.timeout)
            .and_then(|(at, t)| crate::sync::after(at, t.saturating_add(stopped)));
        if state.stop.is_none() {
            if run.deadline.is_some_and(|d| now >= d) {
                state.stop = Some(Why::Deadline);
            } else if timeout_at.is_some_and(|t| now >= t) && !crate::signals::pausing() {
                state.stop = Some(Why::Timeout);
            }
        }
        let step = state.evidence.step.clone();
        let job = state.evidence.job.clone().filter(|_| !run.steps);
        let phase = match (&step, &job) {
            (Some(step), _) => Phase::Running(step),
            (None, Some(job)) => Phase::Pending(job),
            _ => Phase::NoId,
        };
        if let Some((call, suspended)) =
            job_control_call(phase, paused, state.stop.is_some(), state.suspended)
        {
            calls.push(call);
            state.suspended = suspended;
        }
        let Some(why) = state.stop else {
            drop(state);
            for call in calls {
                scancel(run, &call);
            }
            return [timeout_at, run.deadline].into_iter().flatten().min();
        };
        let kill = why == Why::Kill;
        let (Phase::Pending(target) | Phase::Running(target)) = phase else {
            return None;
        };
        // Again for a new id: srun submits its job again when a signal
        // reaches it while pending.
        let again = |(sent_kill, to): &(bool, String)| (kill && !sent_kill) || to != target;
        if state.sent.as_ref().is_none_or(again) {
            let (first, then_kill) = first_calls(phase, kill);
            calls.extend(first);
            state.sent = Some((
                kill || matches!(phase, Phase::Pending(_)),
                target.to_string(),
            ));
            if then_kill {
                state.kill_at = grace.map(|g| now + g);
            } else {
                state.kill_at = None;
            }
        }
        if let (Some(at), Some(step)) = (state.kill_at, &step) {
            if now >= at && !state.killed {
                state.killed = true;
                state.kill_at = None;
                calls.extend(grace_calls(step, job.as_deref()));
            } else {
                next = Some(at);
            }
        }
    }
    for call in calls {
        scancel(run, &call);
    }
    next
}

/// The timer, started at its first use; if its thread cannot be started,
/// this is an error and the next use tries again.
pub(crate) fn timer() -> Result<&'static Timer, Error> {
    static TIMER: OnceLock<Arc<Timer>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let timer = get_or_try_init(&TIMER, &STARTING, || {
        let timer = Arc::new(Timer {
            state: Mutex::new(Watched {
                runs: Vec::new(),
                changed: false,
                paused: false,
                pause_done: false,
            }),
            cv: Condvar::new(),
        });
        let hook: Arc<dyn crate::signals::JobControl> = timer.clone();
        crate::signals::register_job_control(Arc::downgrade(&hook));
        let timing = timer.clone();
        std::thread::Builder::new()
            .name("procession-slurm".into())
            .spawn(move || timing.run())
            .map_err(|e| Error::io("cannot start the thread that times Slurm jobs", e))?;
        Ok(timer)
    })?;
    Ok(timer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(list: &[&[&str]]) -> Vec<Vec<String>> {
        list.iter()
            .map(|c| c.iter().map(|a| a.to_string()).collect())
            .collect()
    }

    #[test]
    fn the_stop_table() {
        let table: &[(Phase<'_>, bool, &[&[&str]], bool)] = &[
            (Phase::NoId, false, &[], false),
            (Phase::NoId, true, &[], false),
            (Phase::Pending("12"), false, &[&["12"]], false),
            (Phase::Pending("12"), true, &[&["12"]], false),
            (
                Phase::Running("12"),
                false,
                &[&["--signal=TERM", "12"]],
                true,
            ),
            (
                Phase::Running("12.3"),
                true,
                &[&["--signal=KILL", "12.3"]],
                false,
            ),
        ];
        for (phase, kill, expected, then_kill) in table {
            assert_eq!(
                first_calls(*phase, *kill),
                (calls(expected), *then_kill),
                "{phase:?} kill={kill}"
            );
        }
        assert_eq!(
            grace_calls("12.0", Some("12")),
            calls(&[&["--signal=KILL", "12.0"], &["12"]])
        );
        assert_eq!(
            grace_calls("12.3", None),
            calls(&[&["--signal=KILL", "12.3"]])
        );
    }

    #[test]
    fn the_job_control_table() {
        let stop = Some((calls(&[&["--signal=STOP", "12.0"]]).remove(0), true));
        let cont = Some((calls(&[&["--signal=CONT", "12.0"]]).remove(0), false));
        let running = Phase::Running("12.0");
        // (phase, paused, stopping, suspended) -> call
        let table = [
            (running, true, false, false, stop.clone()),
            (running, true, false, true, None),
            (running, false, false, true, cont.clone()),
            (running, false, false, false, None),
            // Being stopped: continued, so its SIGTERM lands.
            (running, true, true, true, cont),
            (running, true, true, false, None),
            // A pending job, or one with no id yet, is left alone.
            (Phase::Pending("12"), true, false, false, None),
            (Phase::NoId, true, false, false, None),
        ];
        for (phase, paused, stopping, suspended, expected) in table {
            assert_eq!(
                job_control_call(phase, paused, stopping, suspended),
                expected,
                "{phase:?} paused={paused} stopping={stopping} suspended={suspended}"
            );
        }
    }

    #[test]
    fn kill_wait_is_read_from_the_config() {
        let config = "JobCompType             = jobcomp/none\nKillWait                = 5 sec\nKillOnBadExit = 0\n";
        assert_eq!(parse_kill_wait(config), Some(Duration::from_secs(5)));
        assert_eq!(parse_kill_wait("KillOnBadExit = 0\n"), None);
    }
}
