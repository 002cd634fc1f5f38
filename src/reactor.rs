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
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::error::Error;
use crate::exec::{Exec, Source};
use crate::output::Output;
use crate::sync::lock;
use crate::sys::{self, Interest, Waker};

/// What a ready descriptor belongs to.
#[derive(Clone, Copy)]
enum Owner {
    Waker,
    Exec(usize, Source),
    Orphan(usize),
}

/// One round of the loop over `execs` (and pipes being drained for nobody).
/// Waits at most until `limit`, and no longer than the earliest timer.
pub(crate) fn turn(
    execs: &mut [&mut Exec],
    waker: &Waker,
    orphans: &mut Vec<OwnedFd>,
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
            Owner::Exec(k, source) => execs[k].ready(source),
            Owner::Orphan(j) => {
                let mut buf = [0u8; 16 * 1024];
                if !matches!(
                    sys::read(orphans[j].as_fd(), &mut buf),
                    Ok(None) | Ok(Some(1..))
                ) {
                    closed_orphans.push(j);
                }
            }
        }
    }
    for j in closed_orphans.into_iter().rev() {
        orphans.swap_remove(j);
    }
    let now = Instant::now();
    for exec in execs.iter_mut() {
        exec.tick(now);
    }
    Ok(())
}

/// Drives `exec` on this thread until `stop(exec)` or the run is over.
pub(crate) fn drive(exec: &mut Exec, waker: &Arc<Waker>, mut stop: impl FnMut(&Exec) -> bool) {
    let mut orphans = Vec::new();
    while !exec.finished() && !stop(exec) {
        if let Err(e) = turn(&mut [&mut *exec], waker, &mut orphans, None) {
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
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_done(outcome)));
}

struct Global {
    waker: Arc<Waker>,
    inbox: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    execs: Vec<(Exec, OnDone)>,
    orphans: Vec<OwnedFd>,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<&'static Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let waker = Arc::new(Waker::new().expect("procession: cannot create an eventfd"));
        let global: &'static Global = Box::leak(Box::new(Global {
            waker,
            inbox: Mutex::default(),
        }));
        std::thread::Builder::new()
            .name("procession".into())
            .spawn(move || background(global))
            .expect("procession: cannot start its background thread");
        global
    })
}

/// Hands a started run to the background loop; `on_done` gets its result.
pub(crate) fn submit(exec: Exec, on_done: OnDone) {
    let global = global();
    exec.control().set_waker(global.waker.clone());
    lock(&global.inbox).execs.push((exec, on_done));
    global.waker.wake();
}

/// Drains pipes nobody reads any more until their writers close them.
pub(crate) fn adopt(orphans: Vec<OwnedFd>) {
    if orphans.is_empty() {
        return;
    }
    let global = global();
    lock(&global.inbox).orphans.extend(orphans);
    global.waker.wake();
}

/// The background loop: runs forever, driving every submitted run.
fn background(global: &'static Global) {
    let mut runs: Vec<(Exec, OnDone)> = Vec::new();
    let mut orphans: Vec<OwnedFd> = Vec::new();
    loop {
        {
            let mut inbox = lock(&global.inbox);
            let now = Instant::now();
            for (mut exec, on_done) in inbox.execs.drain(..) {
                // A request posted before the run arrived here may have had
                // its wake-up consumed by an earlier round: act on it now.
                exec.tick(now);
                runs.push((exec, on_done));
            }
            orphans.append(&mut inbox.orphans);
        }
        let mut execs: Vec<&mut Exec> = runs.iter_mut().map(|(e, _)| e).collect();
        if let Err(e) = turn(&mut execs, &global.waker, &mut orphans, None) {
            for exec in execs {
                exec.fail(Error::io(
                    "cannot poll the children's pipes",
                    e.kind().into(),
                ));
            }
        }
        let mut i = 0;
        while i < runs.len() {
            if runs[i].0.finished() {
                let (mut exec, on_done) = runs.swap_remove(i);
                orphans.extend(exec.take_abandoned());
                deliver(on_done, exec.outcome());
            } else {
                i += 1;
            }
        }
    }
}
