//! Opt-in forwarding of the terminal's signals to running commands.
//!
//! Every run is its own process group, so a Ctrl-C or Ctrl-Z at the
//! terminal (which signals the terminal's foreground group) no longer
//! reaches the children.
//! A library must not install process-wide signal handlers behind its
//! user's back, so this is a function the program calls itself, once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGCONT, SIGHUP, SIGINT, SIGTERM, SIGTSTP};

use crate::control::{Control, Request};
use crate::error::Error;
use crate::sync::lock;
use crate::sys::{self, Pid, Signal};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// A terminating signal was forwarded: nothing new may start.
static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// This process is being stopped by job control, or was just continued and
/// has not yet added the time it spent stopped to [`PAUSED`].
static PAUSING: AtomicBool = AtomicBool::new(false);

/// How long this process has spent stopped by job control, in nanoseconds.
static PAUSED: AtomicU64 = AtomicU64::new(0);

/// The runs alive while forwarding is on.
fn runs() -> &'static Mutex<Vec<Weak<Control>>> {
    static RUNS: OnceLock<Mutex<Vec<Weak<Control>>>> = OnceLock::new();
    RUNS.get_or_init(Mutex::default)
}

/// Whatever else must settle before a forwarded signal ends the process.
fn hooks() -> &'static Mutex<Vec<Weak<dyn Settle>>> {
    static HOOKS: OnceLock<Mutex<Vec<Weak<dyn Settle>>>> = OnceLock::new();
    HOOKS.get_or_init(Mutex::default)
}

/// Something that has work to do when a terminating signal is forwarded:
/// a pool (stop starting, report every job), a line iterator (its run is
/// driven only while the iterator is pulled).
pub(crate) trait Settle: Send + Sync {
    /// Called once, when the signal is forwarded, before the runs are
    /// stopped.
    fn shut_down(&self) {}
    /// Does what it can now without blocking for long; returns whether
    /// nothing more is left to wait for.
    fn settled(&self) -> bool;
}

/// How long we wait for the stopped trees before the signal takes effect.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// How often we look again while waiting for what is not a run.
const SETTLE_TICK: Duration = Duration::from_millis(2);

/// Makes `SIGINT`, `SIGTERM` and `SIGHUP` sent to this process stop every
/// running command's whole process tree first, then take their usual effect
/// (the process ends with that signal); and makes `SIGTSTP` (Ctrl-Z) stop
/// every running command with this process, and `SIGCONT` (`fg`, `bg`)
/// continue them.
///
/// Call it once, early in `main`, in programs that want Ctrl-C and Ctrl-Z
/// to reach the commands they run. It installs handlers for those five
/// signals for the rest of the process's life (through `signal-hook`, with
/// one thread that waits for them); later calls do nothing.
///
/// On `SIGINT`, `SIGTERM` or `SIGHUP`: nothing new starts (a command
/// started from then on fails with [`Error::Io`]; a pool starts no more
/// jobs and counts them as skipped), every live run is stopped with its
/// [`StopSequence`](crate::StopSequence), whoever drives it (a blocking
/// `run`, a [`Handle`](crate::Handle), a pool, or a
/// [`lines`](crate::Command::lines) or [`events`](crate::Command::events)
/// iterator that nobody is pulling), and pools are left to report every
/// job (to the code iterating over them, and to their job log). We wait for
/// all that (at most ten seconds), then the signal's default action follows.
///
/// On `SIGTSTP`: every live run's process group is stopped with `SIGSTOP`,
/// then this process stops. When it is continued (`fg` or `bg`), the runs
/// are continued too. A [timeout](crate::Command::timeout) does not count
/// the time this process spent stopped; a
/// [deadline](crate::Command::deadline) is a point in time and does. The
/// jobs of a pool on Slurm are never stopped by signalling `srun`: their
/// running tasks are stopped and continued through `scancel` (see
/// `Slurm`, feature `slurm`).
///
/// Without it, nothing is installed: the children run in their own process
/// groups, so a Ctrl-C ends only this process, leaving its running commands
/// behind, and a Ctrl-Z stops only this process. (Within a living process,
/// a dropped handle, a timeout or a cancel still stops a command's whole
/// tree. A command that holds the terminal gets the terminal's signals
/// itself; see the README's "Process groups".)
///
/// # Errors
///
/// [`Error::Io`] if the handlers cannot be installed.
///
/// # Examples
///
/// ```no_run
/// fn main() -> Result<(), procession::Error> {
///     procession::forward_signals()?;
///     procession::cmd!("make", "-j8").run()?; // Ctrl-C stops make and its jobs
///     Ok(())
/// }
/// ```
pub fn forward_signals() -> Result<(), Error> {
    static INSTALLED: OnceLock<Result<(), Error>> = OnceLock::new();
    INSTALLED.get_or_init(install).clone()
}

fn install() -> Result<(), Error> {
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGTSTP, SIGCONT])
            .map_err(|e| Error::io("cannot install signal handlers", e))?;
    ENABLED.store(true, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("procession-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGTSTP => suspend(),
                    // `kill -STOP` then `kill -CONT`: the runs were not
                    // stopped, and continuing them is harmless.
                    SIGCONT => continue_all(),
                    _ => {
                        stop_all();
                        let _ = signal_hook::low_level::emulate_default_handler(signal);
                    }
                }
            }
        })
        .map_err(|e| Error::io("cannot start the signal thread", e))?;
    Ok(())
}

/// Registers a run so a forwarded signal reaches it. A run that starts
/// while a terminating signal is being forwarded is stopped at once; one
/// that starts while Ctrl-Z stops the others is stopped with them. Job
/// control reaches the run's group only if `pgid` is given: without it
/// (an `srun`, whose job the Slurm backend stops through a [`JobControl`]
/// hook), the run is only ever asked to stop.
pub(crate) fn register(control: &Arc<Control>, pgid: Option<Pid>) {
    if !ENABLED.load(Ordering::SeqCst) {
        return;
    }
    if let Some(pgid) = pgid {
        control.set_group(pgid);
    }
    {
        let mut runs = lock(runs());
        runs.retain(|w| w.upgrade().is_some_and(|c| !c.is_done()));
        runs.push(Arc::downgrade(control));
    }
    if SHUTDOWN.load(Ordering::SeqCst) {
        control.post(Request::Terminate);
        control.signal_group(Signal::CONT);
    } else if PAUSING.load(Ordering::SeqCst) {
        // Started while a Ctrl-Z is stopping the others: it stops too, and
        // is continued with them.
        control.signal_group(Signal::STOP);
    }
}

/// Something that stops and continues work of its own on Ctrl-Z and
/// `fg`/`bg`, work that no process group of ours holds (the Slurm
/// backend's jobs on the cluster). Called from the signal thread: no
/// method may block.
pub(crate) trait JobControl: Send + Sync {
    /// Ctrl-Z: start stopping everything.
    fn suspend(&self);
    /// Whether everything [`suspend`](JobControl::suspend) started is
    /// done (this process is stopped only then, or after [`PAUSE_WAIT`]).
    fn suspended(&self) -> bool;
    /// This process was continued: continue everything.
    fn resume(&self);
}

/// The job-control hooks; kept whether forwarding is on or not (a hook is
/// registered once, maybe before [`forward_signals`]).
fn job_controls() -> &'static Mutex<Vec<Weak<dyn JobControl>>> {
    static HOOKS: OnceLock<Mutex<Vec<Weak<dyn JobControl>>>> = OnceLock::new();
    HOOKS.get_or_init(Mutex::default)
}

/// How long Ctrl-Z waits for the [`JobControl`] hooks before this process
/// stops anyway.
const PAUSE_WAIT: Duration = Duration::from_secs(5);

/// Registers a [`JobControl`] hook for the rest of its life. Only the
/// Slurm backend has such work today.
#[cfg(feature = "slurm")]
pub(crate) fn register_job_control(hook: Weak<dyn JobControl>) {
    let mut hooks = lock(job_controls());
    hooks.retain(|w| w.strong_count() > 0);
    hooks.push(hook);
}

fn live_job_controls() -> Vec<Arc<dyn JobControl>> {
    lock(job_controls())
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

/// Registers something a forwarded terminating signal must wait for.
pub(crate) fn register_settle(hook: Weak<dyn Settle>) {
    if !ENABLED.load(Ordering::SeqCst) {
        return;
    }
    let mut hooks = lock(hooks());
    hooks.retain(|w| w.strong_count() > 0);
    hooks.push(hook);
}

/// Whether a terminating signal is being forwarded: nothing new may start.
pub(crate) fn shutting_down() -> bool {
    SHUTDOWN.load(Ordering::SeqCst)
}

/// While a terminating signal is being forwarded, never returns: the
/// signal ends the process as soon as every run and pool has settled. A
/// pool's batch calls it once it has handed out its last job, so that the
/// code iterating over it cannot go on as if the batch had simply ended
/// (and exit with a status of its own) before the signal takes effect.
pub(crate) fn linger_if_ending() {
    while shutting_down() {
        std::thread::park();
    }
}

/// How long this process has spent stopped by job control so far.
pub(crate) fn paused() -> Duration {
    Duration::from_nanos(PAUSED.load(Ordering::SeqCst))
}

/// Whether this process is being stopped or was just continued, so that
/// the time it spent stopped is not yet in [`paused`]: timeouts wait.
pub(crate) fn pausing() -> bool {
    PAUSING.load(Ordering::SeqCst)
}

fn live() -> Vec<Arc<Control>> {
    lock(runs()).iter().filter_map(Weak::upgrade).collect()
}

/// Job control (Ctrl-Z): stops every live run's group, then this process;
/// once continued, continues them. The time spent stopped is added to
/// [`paused`]. Also used by a run that holds the terminal when the terminal
/// stops it.
pub(crate) fn suspend() {
    PAUSING.store(true, Ordering::SeqCst);
    let live = live();
    for control in &live {
        control.signal_group(Signal::STOP);
    }
    let hooks = live_job_controls();
    for hook in &hooks {
        hook.suspend();
    }
    let deadline = Instant::now() + PAUSE_WAIT;
    while !hooks.iter().all(|hook| hook.suspended()) && Instant::now() < deadline {
        std::thread::sleep(SETTLE_TICK);
    }
    let stopped_at = Instant::now();
    sys::stop_self();
    let nanos = u64::try_from(stopped_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
    PAUSED.fetch_add(nanos, Ordering::SeqCst);
    PAUSING.store(false, Ordering::SeqCst);
    // Those registered while we were stopping are continued too.
    continue_all();
}

/// Continues every live run's group, and whatever the job-control hooks
/// stopped.
fn continue_all() {
    for control in live() {
        control.signal_group(Signal::CONT);
    }
    for hook in live_job_controls() {
        hook.resume();
    }
}

/// Stops every live run and whatever else must settle, and waits until
/// they are over (bounded).
fn stop_all() {
    SHUTDOWN.store(true, Ordering::SeqCst);
    let hooks: Vec<Arc<dyn Settle>> = lock(hooks()).iter().filter_map(Weak::upgrade).collect();
    for hook in &hooks {
        hook.shut_down();
    }
    let deadline = Instant::now() + STOP_WAIT;
    let mut stopped: Vec<Arc<Control>> = Vec::new();
    loop {
        // Runs registered since the last round are stopped too.
        let live = live();
        for control in &live {
            if stopped.iter().any(|c| Arc::ptr_eq(c, control)) {
                continue;
            }
            control.post(Request::Terminate);
            // A run stopped by Ctrl-Z takes no signal but SIGKILL.
            control.signal_group(Signal::CONT);
            stopped.push(control.clone());
        }
        let hooks_settled = hooks.iter().all(|hook| hook.settled());
        let pending: Vec<&Arc<Control>> = live.iter().filter(|c| !c.is_done()).collect();
        if (hooks_settled && pending.is_empty()) || Instant::now() >= deadline {
            return;
        }
        let until = (Instant::now() + SETTLE_TICK).min(deadline);
        match pending.first() {
            Some(control) => control.wait_done(until),
            None => std::thread::sleep(until.saturating_duration_since(Instant::now())),
        }
    }
}
