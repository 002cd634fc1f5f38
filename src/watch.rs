//! One-shot descriptor watches on the background loop: "wake this task
//! once this descriptor is ready", for `aio::AsyncStdin` (a full stdin
//! pipe). The loop polls the watched descriptors with its runs' (see
//! `reactor::watch`); a watch belongs to no run.
//!
//! A watch holds its descriptor weakly: its owner may close it at any
//! time. For one round the loop holds it strongly ([`LiveWatch`]), so it
//! cannot close under `poll`; an owner that closes it wakes the loop, which
//! lets go at the end of that round.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;

use crate::sync::lock;
use crate::sys::Interest;

/// A task waiting until a descriptor is ready.
struct Watch {
    fd: Weak<OwnedFd>,
    interest: Interest,
    waker: Waker,
}

/// A watch for one round of the loop: its descriptor held open until the
/// round ends.
pub(crate) struct LiveWatch {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) interest: Interest,
    waker: Waker,
    /// The descriptor is ready (or in error, or hung up).
    pub(crate) fired: bool,
}

/// The background loop's watches.
#[derive(Default)]
pub(crate) struct Watches {
    list: Mutex<Vec<Watch>>,
}

impl Watches {
    /// Wake `waker` once `fd` is ready for `interest` (or in error, or hung
    /// up), then forget the watch. A descriptor ready already fires at the
    /// next round (`poll` is level-triggered), so readiness that came
    /// before the call is not lost. One watch per descriptor: a new one
    /// replaces the old one's interest and waker.
    pub(crate) fn add(&self, fd: Weak<OwnedFd>, interest: Interest, waker: &Waker) {
        let mut list = lock(&self.list);
        match list.iter_mut().find(|w| w.fd.ptr_eq(&fd)) {
            Some(old) => {
                old.interest = interest;
                old.waker.clone_from(waker);
            }
            None => list.push(Watch {
                fd,
                interest,
                waker: waker.clone(),
            }),
        }
    }

    /// The watches for this round, their descriptors held open. A watch
    /// whose descriptor is gone wakes its task (which finds it closed) and
    /// ends.
    pub(crate) fn live(&self) -> Vec<LiveWatch> {
        let taken = std::mem::take(&mut *lock(&self.list));
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

    /// After a round: wakes the tasks whose descriptors are ready, and keeps
    /// the other watches for the next round. A watch on the same descriptor
    /// added during the round is newer: it replaces the round's (its waker
    /// is the one woken, once). The round's hold on the descriptors ends.
    pub(crate) fn settle(&self, live: Vec<LiveWatch>) {
        let mut fired = Vec::new();
        {
            let mut list = lock(&self.list);
            for watch in live {
                let fd = Arc::downgrade(&watch.fd);
                let newer = list.iter().position(|w| w.fd.ptr_eq(&fd));
                if watch.fired {
                    fired.push(match newer {
                        Some(i) => list.swap_remove(i).waker,
                        None => watch.waker,
                    });
                } else if newer.is_none() {
                    list.push(Watch {
                        fd,
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

    /// Whether a watch on `fd` is kept.
    #[cfg(test)]
    pub(crate) fn holds(&self, fd: &Weak<OwnedFd>) -> bool {
        lock(&self.list).iter().any(|w| w.fd.ptr_eq(fd))
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::sync::mpsc;
    use std::task;
    use std::time::Duration;

    use super::*;
    use crate::reactor;
    use crate::sys;
    use crate::test_support::procfs;

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
        reactor::watching(&Arc::downgrade(fd))
    }

    #[test]
    fn a_watch_added_during_a_round_replaces_the_rounds() {
        let watches = Watches::default();
        let (_reader, fd) = full_pipe();
        let (old_tx, old_rx) = mpsc::channel();
        let (new_tx, new_rx) = mpsc::channel();
        let old = task::Waker::from(Arc::new(Notify(Mutex::new(old_tx))));
        let new = task::Waker::from(Arc::new(Notify(Mutex::new(new_tx))));
        // Not ready in the round: the newer watch is kept, not both.
        watches.add(Arc::downgrade(&fd), Interest::Write, &old);
        let live = watches.live();
        watches.add(Arc::downgrade(&fd), Interest::Write, &new);
        watches.settle(live);
        assert_eq!(lock(&watches.list).len(), 1);
        // Ready in the round: the newer waker is woken, once, and the
        // watch is over.
        let mut live = watches.live();
        watches.add(Arc::downgrade(&fd), Interest::Write, &new);
        live[0].fired = true;
        watches.settle(live);
        assert!(new_rx.try_recv().is_ok(), "the newer waker is woken");
        assert!(new_rx.try_recv().is_err(), "once");
        assert!(old_rx.try_recv().is_err(), "the replaced waker is not");
        assert!(!watches.holds(&Arc::downgrade(&fd)));
    }

    #[test]
    fn a_watch_fires_once_the_pipe_has_room_then_is_forgotten() {
        let (mut reader, fd) = full_pipe();
        let (tx, rx) = mpsc::channel();
        let waker = task::Waker::from(Arc::new(Notify(Mutex::new(tx))));
        reactor::watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
        // Watching the same descriptor again replaces the watch.
        reactor::watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
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
    fn a_watch_fires_when_the_reader_is_gone() {
        let (reader, fd) = full_pipe();
        let (tx, rx) = mpsc::channel();
        let waker = task::Waker::from(Arc::new(Notify(Mutex::new(tx))));
        reactor::watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
        // The pipe stays full, but in error: the writer learns it by writing.
        drop(reader);
        rx.recv_timeout(HANG)
            .expect("woken once the reader is gone");
        assert!(matches!(
            sys::write(fd.as_fd(), b"x"),
            Ok(sys::Wrote::Closed)
        ));
        assert!(procfs::eventually(HANG, || !watching(&fd)));
    }

    #[test]
    fn a_watch_on_a_closed_fd_wakes_once_and_is_dropped() {
        let (_reader, fd) = full_pipe();
        let (tx, rx) = mpsc::channel();
        let waker = task::Waker::from(Arc::new(Notify(Mutex::new(tx))));
        reactor::watch(Arc::downgrade(&fd), Interest::Write, &waker).expect("watches");
        let weak = Arc::downgrade(&fd);
        drop(fd);
        reactor::wake_loop();
        rx.recv_timeout(HANG)
            .expect("woken once the descriptor is gone");
        assert_eq!(weak.strong_count(), 0, "the loop let go of the descriptor");
        assert!(!reactor::watching(&weak));
        assert!(rx.try_recv().is_err(), "woken twice");
    }
}
