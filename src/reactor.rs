//! The poll loops that drive runs.
//!
//! [`turn`] is one round: gather what every run wants watched, `poll` with
//! the earliest timer as the limit, hand out what became ready, then let each
//! run handle its requests and timers. A blocking run turns the loop on the
//! caller's thread ([`drive`]); started handles and the pool share one
//! background thread ([`submit`]) that drives all of them, so hundreds of
//! running commands cost one thread, not one per pipe.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task;
use std::time::Instant;

use crate::error::{Error, catch_panic};
use crate::output::Output;
use crate::run::{Exec, Watched};
use crate::sync::{get_or_try_init, lock};
use crate::sys::{self, Interest, Waker};

/// What a ready descriptor belongs to.
#[derive(Clone, Copy)]
enum Owner {
    Waker,
    Exec(usize, Watched),
    Orphan(usize),
    /// A one-shot fd watch of the background loop (see [`watch`]).
    Watch(usize),
}

/// One round of the loop over `execs` (and pipes being drained for nobody).
/// Waits at most until `limit`, and no longer than the earliest timer.
///
/// A panic while handling one run (a bug, or a line sink that panics)
/// breaks that run only (see [`Exec::broken`]): its owner gets an error,
/// its tree is killed and reaped, and the other runs go on.
pub(crate) fn turn(
    execs: &mut [&mut Exec],
    waker: &Waker,
    orphans: &mut Vec<OwnedFd>,
    watches: &mut [LiveWatch],
    limit: Option<Instant>,
) -> io::Result<()> {
    let mut owners = Vec::new();
    let mut ready = Vec::new();
    {
        let mut fds = vec![(waker.fd(), Interest::Read)];
        owners.push(Owner::Waker);
        let mut wanted = Vec::new();
        for (k, exec) in execs.iter().enumerate() {
            wanted.clear();
            exec.interests(&mut wanted);
            for (fd, interest, source) in wanted.drain(..) {
                fds.push((fd, interest));
                owners.push(Owner::Exec(k, source));
            }
        }
        for (j, fd) in orphans.iter().enumerate() {
            fds.push((fd.as_fd(), Interest::Read));
            owners.push(Owner::Orphan(j));
        }
        for (j, watch) in watches.iter().enumerate() {
            fds.push((watch.fd.as_fd(), watch.interest));
            owners.push(Owner::Watch(j));
        }
        let timer = execs
            .iter()
            .filter_map(|e| e.next_timer())
            .chain(limit)
            .min();
        let now = Instant::now();
        let timeout = timer.map(|t| t.saturating_duration_since(now));
        sys::poll(&fds, timeout, &mut ready)?;
    }
    let mut closed_orphans = Vec::new();
    for (owner, _) in owners.iter().zip(&ready).filter(|(_, r)| **r) {
        match *owner {
            Owner::Waker => waker.reset(),
            Owner::Exec(k, watched) => guard(execs[k], |exec| exec.on_ready(watched)),
            Owner::Orphan(j) => {
                let mut buf = [0u8; 16 * 1024];
                if !matches!(
                    sys::read(orphans[j].as_fd(), &mut buf),
                    Ok(None) | Ok(Some(1..))
                ) {
                    closed_orphans.push(j);
                }
            }
            Owner::Watch(j) => watches[j].fired = true,
        }
    }
    for j in closed_orphans.into_iter().rev() {
        orphans.swap_remove(j);
    }
    let now = Instant::now();
    for exec in execs.iter_mut() {
        guard(exec, |exec| exec.tick(now));
    }
    Ok(())
}

/// Runs `f` on `exec` unless it is broken; a panic breaks it.
fn guard(exec: &mut Exec, f: impl FnOnce(&mut Exec)) {
    if exec.is_broken() {
        return;
    }
    if let Err(message) = catch_panic(|| f(exec)) {
        exec.broken(message);
    }
}

/// A finished run's outcome; a panic while building it is an error.
fn outcome_of(exec: Exec) -> Result<Output, Error> {
    let display = exec.display().to_string();
    catch_panic(|| exec.outcome()).unwrap_or_else(|message| {
        Err(Error::panicked(
            format!("the outcome of {display:?} could not be built"),
            message,
        ))
    })
}

/// Drives `exec` on this thread until `stop(exec)` or the run is over.
pub(crate) fn drive(exec: &mut Exec, waker: &Arc<Waker>, mut stop: impl FnMut(&Exec) -> bool) {
    let mut orphans = Vec::new();
    while !exec.finished() && !stop(exec) {
        if let Err(e) = turn(&mut [&mut *exec], waker, &mut orphans, &mut [], None) {
            // Polling itself failed (out of memory for the fd set): stop the
            // tree rather than spin or hang.
            exec.fail(Error::io("cannot poll the child's pipes", e));
        }
    }
    adopt(exec.take_abandoned());
}

/// A waker for a run driven on the caller's thread, registered so that other
/// threads (a cancel, a signal forwarder) can interrupt its poll.
pub(crate) fn local_waker(exec: &Exec) -> Result<Arc<Waker>, Error> {
    let waker = Arc::new(Waker::new().map_err(|e| Error::io("cannot create an eventfd", e))?);
    exec.control().set_waker(waker.clone());
    Ok(waker)
}

/// Drives `exec` to its end on this thread and returns its outcome.
///
/// The thread keeps one waker for such runs: a run started and finished
/// here is the only one using it meanwhile, and reusing it saves creating
/// and closing an eventfd per run.
pub(crate) fn run_here(mut exec: Exec) -> Result<Output, Error> {
    thread_local! {
        static WAKER: std::cell::OnceCell<Arc<Waker>> = const { std::cell::OnceCell::new() };
    }
    let waker = WAKER.with(|cell| match cell.get() {
        Some(waker) => Ok(waker.clone()),
        None => {
            let waker =
                Arc::new(Waker::new().map_err(|e| Error::io("cannot create an eventfd", e))?);
            Ok(cell.get_or_init(|| waker).clone())
        }
    })?;
    // Clear a wake-up meant for an earlier run before this run's requests
    // can arrive; `set_waker` wakes again if some came already.
    waker.reset();
    exec.control().set_waker(waker.clone());
    drive(&mut exec, &waker, |_| false);
    exec.outcome()
}

/// What to do with a finished run's result.
pub(crate) type OnDone = Box<dyn FnOnce(Result<Output, Error>) + Send>;

/// Hands a finished run's result to its callback. A panicking callback must
/// not take down the thread that drives other runs.
pub(crate) fn deliver(on_done: OnDone, outcome: Result<Output, Error>) {
    let _ = catch_panic(|| on_done(outcome));
}

/// Hands a finished run's outcome to its callback.
pub(crate) fn finish(exec: Exec, on_done: OnDone) {
    deliver(on_done, outcome_of(exec));
}

/// The shared background loop's side of the state.
struct Global {
    waker: Arc<Waker>,
    inbox: Mutex<Inbox>,
    /// One-shot descriptor watches (see [`watch`]).
    watches: Mutex<Vec<Watch>>,
}

#[derive(Default)]
struct Inbox {
    execs: Vec<(Exec, OnDone)>,
    orphans: Vec<OwnedFd>,
}

/// The background loop, started at its first use. If its eventfd or its
/// thread cannot be had (descriptors or threads exhausted), this is an
/// error, and the next use tries again.
fn global() -> Result<&'static Global, Error> {
    static GLOBAL: OnceLock<Arc<Global>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let global = get_or_try_init(&GLOBAL, &STARTING, || {
        let waker = Waker::new()
            .map_err(|e| Error::io("cannot create an eventfd for the background thread", e))?;
        let global = Arc::new(Global {
            waker: Arc::new(waker),
            inbox: Mutex::default(),
            watches: Mutex::default(),
        });
        let looped = global.clone();
        std::thread::Builder::new()
            .name("procession".into())
            .spawn(move || background(&looped))
            .map_err(|e| {
                Error::io(
                    "cannot start the background thread that drives started commands",
                    e,
                )
            })?;
        Ok(global)
    })?;
    Ok(global)
}

/// A run the background loop could not take, given back with the reason.
pub(crate) struct Rejected {
    pub(crate) exec: Exec,
    pub(crate) on_done: OnDone,
    pub(crate) error: Error,
}

/// Hands a started run to the background loop; `on_done` gets its result.
/// If the loop cannot be started, the run is given back.
pub(crate) fn submit(exec: Exec, on_done: OnDone) -> Result<(), Box<Rejected>> {
    let global = match global() {
        Ok(global) => global,
        Err(error) => {
            return Err(Box::new(Rejected {
                exec,
                on_done,
                error,
            }));
        }
    };
    exec.control().set_waker(global.waker.clone());
    lock(&global.inbox).execs.push((exec, on_done));
    global.waker.wake();
    Ok(())
}

/// Hands a started run to the background loop or, if that cannot be
/// started, drives it to its end on this thread.
pub(crate) fn submit_or_run_here(exec: Exec, on_done: OnDone) {
    if let Err(rejected) = submit(exec, on_done) {
        let Rejected { exec, on_done, .. } = *rejected;
        deliver(on_done, run_here(exec));
    }
}

/// Drains pipes nobody reads any more until their writers close them.
/// Without a background loop they are closed instead.
pub(crate) fn adopt(orphans: Vec<OwnedFd>) {
    if orphans.is_empty() {
        return;
    }
    let Ok(global) = global() else {
        return;
    };
    lock(&global.inbox).orphans.extend(orphans);
    global.waker.wake();
}

/// The background loop: runs forever, driving every submitted run. A
/// panic in a round that no run can be blamed for breaks every run of the
/// round (they are reported and killed), and the loop goes on.
fn background(global: &Global) {
    let mut runs: Vec<(Exec, OnDone)> = Vec::new();
    let mut orphans: Vec<OwnedFd> = Vec::new();
    loop {
        let round = catch_panic(|| background_round(global, &mut runs, &mut orphans));
        if let Err(message) = round {
            for (exec, _) in &mut runs {
                exec.broken(message.clone());
            }
        }
        let mut i = 0;
        while i < runs.len() {
            if runs[i].0.finished() {
                let (mut exec, on_done) = runs.swap_remove(i);
                orphans.extend(exec.take_abandoned());
                finish(exec, on_done);
            } else {
                i += 1;
            }
        }
    }
}

/// One round of the background loop: take new runs and orphans, turn.
fn background_round(global: &Global, runs: &mut Vec<(Exec, OnDone)>, orphans: &mut Vec<OwnedFd>) {
    {
        let mut inbox = lock(&global.inbox);
        let now = Instant::now();
        for (mut exec, on_done) in inbox.execs.drain(..) {
            // A request posted before the run arrived here may have had
            // its wake-up consumed by an earlier round: act on it now.
            guard(&mut exec, |exec| exec.tick(now));
            runs.push((exec, on_done));
        }
        orphans.append(&mut inbox.orphans);
    }
    let mut live = live_watches(global);
    let mut execs: Vec<&mut Exec> = runs.iter_mut().map(|(e, _)| e).collect();
    if let Err(e) = turn(&mut execs, &global.waker, orphans, &mut live, None) {
        for exec in execs {
            exec.fail(Error::io(
                "cannot poll the children's pipes",
                e.kind().into(),
            ));
        }
    }
    settle_watches(global, live);
}

// --- One-shot descriptor watches ("wake me when writable"), for
// `aio::AsyncStdin`. Kept apart from the runs: a watch belongs to no run.

/// A task waiting until a descriptor it does not own alone is ready.
pub(crate) struct Watch {
    fd: Weak<OwnedFd>,
    interest: Interest,
    waker: task::Waker,
}

/// A [`Watch`] for one round of the loop: its descriptor held open until
/// the round ends.
pub(crate) struct LiveWatch {
    fd: Arc<OwnedFd>,
    interest: Interest,
    waker: task::Waker,
    fired: bool,
}

/// Asks the background loop to wake `waker` once `fd` is ready for
/// `interest` (or in error, or hung up), then forget the watch. A watch on
/// a descriptor already ready fires at once (`poll` is level-triggered),
/// so readiness that came before the call is not lost. One watch per
/// descriptor: a new one replaces the waker of the old. Once every other
/// `Arc` of `fd` is dropped, call [`wake_loop`]: the loop holds the
/// descriptor open for at most the round it is in.
pub(crate) fn watch(
    fd: Weak<OwnedFd>,
    interest: Interest,
    waker: &task::Waker,
) -> Result<(), Error> {
    let global = global()?;
    {
        let mut watches = lock(&global.watches);
        match watches.iter_mut().find(|w| w.fd.ptr_eq(&fd)) {
            Some(old) => {
                old.interest = interest;
                old.waker.clone_from(waker);
            }
            None => watches.push(Watch {
                fd,
                interest,
                waker: waker.clone(),
            }),
        }
    }
    global.waker.wake();
    Ok(())
}

/// Wakes the background loop, if it runs, so that it ends its round (and
/// lets go of descriptors it held for watches).
pub(crate) fn wake_loop() {
    if let Ok(global) = global() {
        global.waker.wake();
    }
}

/// The watches for this round: their descriptors held open. A watch whose
/// descriptor is gone wakes its task (which finds it closed) and ends.
fn live_watches(global: &Global) -> Vec<LiveWatch> {
    let taken = std::mem::take(&mut *lock(&global.watches));
    let mut live = Vec::with_capacity(taken.len());
    for watch in taken {
        match watch.fd.upgrade() {
            Some(fd) => live.push(LiveWatch {
                fd,
                interest: watch.interest,
                waker: watch.waker,
                fired: false,
            }),
            None => watch.waker.wake(),
        }
    }
    live
}

/// After a round: wakes the tasks whose descriptors are ready and keeps
/// the other watches for the next round (unless a newer watch on the same
/// descriptor came meanwhile). The round's hold on the descriptors ends.
fn settle_watches(global: &Global, live: Vec<LiveWatch>) {
    let mut fired = Vec::new();
    {
        let mut watches = lock(&global.watches);
        for watch in live {
            if watch.fired {
                fired.push(watch.waker);
            } else if !watches
                .iter()
                .any(|w| w.fd.ptr_eq(&Arc::downgrade(&watch.fd)))
            {
                watches.push(Watch {
                    fd: Arc::downgrade(&watch.fd),
                    interest: watch.interest,
                    waker: watch.waker,
                });
            }
        }
    }
    // Woken after unlocking: an executor may poll (and watch) at once.
    for waker in fired {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::Command;
    use crate::plan::Mode;
    use crate::test_support::{procfs, pt};

    /// An upper bound on "did not hang".
    const HANG: Duration = Duration::from_secs(30);

    /// Sends on a channel at each wake.
    struct Notify(Mutex<mpsc::Sender<()>>);

    impl task::Wake for Notify {
        fn wake(self: Arc<Self>) {
            let _ = lock(&self.0).send(());
        }
    }

    /// A pipe whose write end (non-blocking, shared) is full.
    fn full_pipe() -> (os_pipe::PipeReader, Arc<OwnedFd>) {
        let (reader, writer) = sys::pipe().expect("pipe");
        let fd = OwnedFd::from(writer);
        sys::set_nonblocking(fd.as_fd()).expect("non-blocking");
        let chunk = [0u8; 4096];
        while let Ok(sys::Wrote::Bytes(_)) = sys::write(fd.as_fd(), &chunk) {}
        (reader, Arc::new(fd))
    }

    fn watching(fd: &Arc<OwnedFd>) -> bool {
        let global = global().expect("the loop runs");
        let weak = Arc::downgrade(fd);
        lock(&global.watches).iter().any(|w| w.fd.ptr_eq(&weak))
    }

    #[test]
    fn a_watch_fires_once_the_pipe_has_room_then_is_forgotten() {
        let (mut reader, fd) = full_pipe();
        let (tx, rx) = mpsc::channel();
        let waker = task::Waker::from(Arc::new(Notify(Mutex::new(tx))));
        watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
        // Watching the same descriptor again replaces the watch.
        watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
        let mut buf = vec![0u8; 1 << 20];
        std::io::Read::read(&mut reader, &mut buf).expect("makes room");
        rx.recv_timeout(HANG).expect("woken once the pipe has room");
        assert!(
            procfs::eventually(HANG, || !watching(&fd)),
            "the watch was kept after it fired"
        );
        assert!(rx.try_recv().is_err(), "woken twice");
    }

    #[test]
    fn a_watch_on_a_closed_fd_wakes_once_and_is_dropped() {
        let (_reader, fd) = full_pipe();
        let (tx, rx) = mpsc::channel();
        let waker = task::Waker::from(Arc::new(Notify(Mutex::new(tx))));
        watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
        let weak = Arc::downgrade(&fd);
        drop(fd);
        wake_loop();
        rx.recv_timeout(HANG)
            .expect("woken once the descriptor is gone");
        assert_eq!(weak.strong_count(), 0, "the loop let go of the descriptor");
        let global = global().expect("the loop runs");
        assert!(!lock(&global.watches).iter().any(|w| w.fd.ptr_eq(&weak)));
        assert!(rx.try_recv().is_err(), "woken twice");
    }

    #[test]
    fn a_panic_while_driving_one_run_fails_that_run_only() {
        // Another run on the background loop, whose timeout must still fire.
        let other = Command::new(pt())
            .args(["sleep", "10"])
            .timeout(Duration::from_millis(100))
            .start()
            .expect("starts");
        // `pt yes` prints lines until it is killed; its line sink panics.
        let (mut exec, _) = Command::new(pt())
            .arg("yes")
            .exec(Mode::Events)
            .expect("spawns");
        let pid = exec.pids()[0];
        exec.set_line_sink(Box::new(|_| panic!("a bug in a line sink")));
        let (tx, rx) = mpsc::channel();
        let on_done: OnDone = Box::new(move |outcome| {
            let _ = tx.send(outcome.map(drop));
        });
        assert!(submit(exec, on_done).is_ok());
        let Ok(outcome) = rx.recv_timeout(HANG) else {
            // The loop is gone: dropping `other` would wait for ever.
            std::mem::forget(other);
            panic!("the panicking run was never reported");
        };
        let err = outcome.expect_err("a panic is an error");
        assert!(err.to_string().contains("a bug in a line sink"), "{err}");
        assert!(procfs::stat(pid).is_none(), "pt yes ({pid}) was not reaped");
        if matches!(other.wait_timeout(HANG), Ok(None)) {
            std::mem::forget(other);
            panic!("the other run's timeout never fired");
        }
        let err = other.wait().expect_err("times out");
        assert!(matches!(err, Error::Timeout(_)), "{err}");
    }
}
