//! Opt-in forwarding of the terminal's signals to running commands.
//!
//! Every run is its own process group, so a Ctrl-C at the terminal (which
//! signals the terminal's foreground group) no longer reaches the children.
//! A library must not install process-wide signal handlers behind its
//! user's back, so this is a function the program calls itself, once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::control::{Control, Request};
use crate::error::Error;
use crate::sync::lock;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The runs alive while forwarding is on.
fn runs() -> &'static Mutex<Vec<Weak<Control>>> {
    static RUNS: OnceLock<Mutex<Vec<Weak<Control>>>> = OnceLock::new();
    RUNS.get_or_init(Mutex::default)
}

/// How long we wait for the stopped trees before the signal takes effect.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Makes `SIGINT`, `SIGTERM` and `SIGHUP` sent to this process stop every
/// running command's whole process tree first, then take their usual effect
/// (the process ends with that signal).
///
/// Call it once, early in `main`, in programs that want Ctrl-C to reach the
/// commands they run. It installs handlers for those three signals for the
/// rest of the process's life (through `signal-hook`, with one thread that
/// waits for them); later calls do nothing. On a signal, every live run is
/// stopped with its [`StopSequence`](crate::StopSequence), we wait for the
/// trees to be gone (at most ten seconds), and the signal's default action
/// follows.
///
/// Without it, nothing is installed: the children run in their own process
/// groups and a Ctrl-C ends only this process, leaving its running commands
/// behind. (Within a living process, a dropped handle, a timeout or a cancel
/// still stops a command's whole tree.)
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
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::io("cannot install signal handlers", e))?;
    ENABLED.store(true, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("procession-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                stop_all();
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
        })
        .map_err(|e| Error::io("cannot start the signal thread", e))?;
    Ok(())
}

/// Registers a run so a forwarded signal stops it.
pub(crate) fn register(control: &Arc<Control>) {
    if !ENABLED.load(Ordering::SeqCst) {
        return;
    }
    let mut runs = lock(runs());
    runs.retain(|w| w.upgrade().is_some_and(|c| !c.is_done()));
    runs.push(Arc::downgrade(control));
}

/// Stops every live run and waits until they are over (bounded).
fn stop_all() {
    let live: Vec<Arc<Control>> = lock(runs()).iter().filter_map(Weak::upgrade).collect();
    for control in &live {
        control.post(Request::Terminate);
    }
    let deadline = Instant::now() + STOP_WAIT;
    for control in &live {
        control.wait_done(deadline);
    }
}
