//! Processes and signals: pids, pidfds, reaping, sending signals to a
//! process or a group, job-control stops, and what a failed `exec` means.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::status::ExitStatus;

/// Converts a raw process id from `std::process::Child::id`.
pub(crate) fn pid_from_raw(raw: u32) -> Option<Pid> {
    Pid::from_raw(raw as i32)
}

/// `pid` as a number, for users and messages.
pub(crate) fn pid_to_raw(pid: Pid) -> u32 {
    pid.as_raw_nonzero().get() as u32
}

/// A descriptor that becomes readable when `pid` (a child we spawned and
/// have not reaped yet, so the pid cannot have been reused) exits, for the
/// poll loop. `None` where there is none: the caller then falls back to
/// polling `waitid` on a short timer.
///
/// - Linux: a pidfd (`None` before Linux 5.3, or under a seccomp filter
///   that forbids it).
/// - macOS and the BSDs: a kqueue watching the process for `NOTE_EXIT`
///   (see [`kqueue_exit_watch`]).
/// - The portable mode on Linux (`--cfg procession_portable`): always
///   `None`, so the polling path runs the test suite.
#[cfg(all(target_os = "linux", not(procession_portable)))]
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

#[cfg(all(target_os = "linux", procession_portable))]
pub(crate) fn pidfd_open(_pid: Pid) -> Option<OwnedFd> {
    None
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    kqueue_exit_watch(pid)
}

/// A kqueue with one event registered: `EVFILT_PROC` / `NOTE_EXIT` for
/// `pid`. The kqueue's descriptor polls readable once the process has
/// exited (we never collect the event: the reap that follows is what
/// counts). `None` if the process is already gone (`ESRCH`) or the kqueue
/// cannot be made: the caller polls instead.
///
/// This is type-checked in CI for macOS and FreeBSD but cannot run there:
/// it is kept this small for that reason.
#[cfg(not(target_os = "linux"))]
#[allow(unsafe_code)]
fn kqueue_exit_watch(pid: Pid) -> Option<OwnedFd> {
    use rustix::event::kqueue::{Event, EventFilter, EventFlags, ProcessEvents, kevent, kqueue};
    let queue = kqueue().ok()?;
    let exit = Event::new(
        EventFilter::Proc {
            pid,
            flags: ProcessEvents::EXIT,
        },
        EventFlags::ADD,
        std::ptr::null_mut(),
    );
    let mut none: Vec<Event> = Vec::new();
    // SAFETY: rustix asks that the file descriptors the events name stay
    // valid while the kqueue lives. A process event names a pid, not a
    // descriptor, and its user data is null and never read.
    unsafe { kevent(&queue, &[exit], &mut none, Some(std::time::Duration::ZERO)) }.ok()?;
    Some(queue)
}

/// How to name the child `pid` to `waitid`: by its pidfd where there is
/// one (Linux), else by pid (it is unreaped, so the pid is still its own).
#[cfg(all(target_os = "linux", not(procession_portable)))]
fn wait_id(pid: Pid, pidfd: Option<&OwnedFd>) -> WaitId<'_> {
    use std::os::fd::AsFd;
    match pidfd {
        Some(fd) => WaitId::PidFd(fd.as_fd()),
        None => WaitId::Pid(pid),
    }
}

#[cfg(not(all(target_os = "linux", not(procession_portable))))]
fn wait_id(pid: Pid, _exit_watch: Option<&OwnedFd>) -> WaitId<'static> {
    WaitId::Pid(pid)
}

/// Reaps the child if it has exited, without blocking.
///
/// Returns `Ok(None)` while it runs. `ECHILD` means somebody else reaped our
/// child (the host set `SIGCHLD` to `SIG_IGN`, or calls `waitpid(-1)`): the
/// status is lost, and the caller reports that as a typed error.
pub(crate) fn try_reap(pid: Pid, pidfd: Option<&OwnedFd>) -> io::Result<Option<ExitStatus>> {
    wait_child(pid, pidfd, WaitIdOptions::EXITED | WaitIdOptions::NOHANG)
}

/// Reaps the child, waiting until it exits. Only for a child just sent
/// `SIGKILL`: it cannot take long.
pub(crate) fn reap(pid: Pid, pidfd: Option<&OwnedFd>) -> io::Result<Option<ExitStatus>> {
    wait_child(pid, pidfd, WaitIdOptions::EXITED)
}

fn wait_child(
    pid: Pid,
    pidfd: Option<&OwnedFd>,
    options: WaitIdOptions,
) -> io::Result<Option<ExitStatus>> {
    let status = loop {
        match rustix::process::waitid(wait_id(pid, pidfd), options) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    Ok(status.and_then(|s| {
        if let Some(code) = s.exit_status() {
            Some(ExitStatus::from_code(code))
        } else {
            s.terminating_signal()
                .map(|sig| ExitStatus::from_signal(sig, s.dumped()))
        }
    }))
}

/// Whether `e` says the system is out of descriptors (`EMFILE`, `ENFILE`)
/// or processes (`EAGAIN`), a state that passes as others close theirs.
pub(crate) fn is_exhaustion(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let exhausted = [Errno::MFILE, Errno::NFILE, Errno::AGAIN];
    e.raw_os_error()
        .is_some_and(|code| exhausted.iter().any(|x| x.raw_os_error() == code))
}

/// Sends `signal` to one process through its pidfd (immune to pid reuse)
/// or, without a pidfd (and on macOS and the BSDs, which have none), by pid
/// while it is known to be unreaped.
#[cfg(all(target_os = "linux", not(procession_portable)))]
pub(crate) fn signal_process(pid: Pid, pidfd: Option<&OwnedFd>, signal: Signal) -> io::Result<()> {
    let result = match pidfd {
        Some(fd) => rustix::process::pidfd_send_signal(fd, signal),
        None => rustix::process::kill_process(pid, signal),
    };
    ignore_gone(result)
}

#[cfg(not(all(target_os = "linux", not(procession_portable))))]
pub(crate) fn signal_process(
    pid: Pid,
    _exit_watch: Option<&OwnedFd>,
    signal: Signal,
) -> io::Result<()> {
    ignore_gone(rustix::process::kill_process(pid, signal))
}

/// Sends `signal` to every process of the group `pgid`.
pub(crate) fn signal_group(pgid: Pid, signal: Signal) -> io::Result<()> {
    ignore_gone(rustix::process::kill_process_group(pgid, signal))
}

/// Whether `pid` leads its own session (its session id is its pid), as a
/// `setsid` in the child makes it; `None` if it is gone (already reaped by
/// a host that ignores `SIGCHLD`).
pub(crate) fn leads_session(pid: Pid) -> Option<bool> {
    nix::unistd::getsid(Some(nix_pid(pid)))
        .ok()
        .map(|sid| sid.as_raw() == pid.as_raw_pid())
}

/// The same process id as `nix` spells it. Session and group ids are read
/// through `nix`: the kernel reports 0 for a session or group whose leader
/// lives outside our pid namespace (a container's first process), and
/// `rustix`'s `Pid` cannot hold 0.
fn nix_pid(pid: Pid) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(pid.as_raw_pid())
}

/// A session or group id from `nix`; `None` for 0 (a leader outside our
/// pid namespace, which we can neither name nor signal).
fn from_nix(id: nix::unistd::Pid) -> Option<Pid> {
    Pid::from_raw(id.as_raw())
}

/// Whether the group `pgid` has any process, zombies included. While it
/// does, its id cannot be given to a new group, so signalling it is safe.
pub(crate) fn group_exists(pgid: Pid) -> bool {
    rustix::process::test_kill_process_group(pgid).is_ok()
}

/// A process that is already gone is not an error when stopping it.
fn ignore_gone(result: rustix::io::Result<()>) -> io::Result<()> {
    match result {
        Err(rustix::io::Errno::SRCH) => Ok(()),
        other => Ok(other?),
    }
}

/// If the stage `pid` was stopped by job control since we last looked, the
/// signal that stopped it (`SIGTSTP`, `SIGTTIN`, `SIGTTOU`, `SIGSTOP`), or
/// `Some(None)` if that is not known. Takes the stop report, so each stop
/// is seen once; it never reaps.
pub(crate) fn stop_signal(pid: Pid, pidfd: Option<&OwnedFd>) -> Option<Option<i32>> {
    let options = WaitIdOptions::STOPPED | WaitIdOptions::NOHANG;
    match rustix::process::waitid(wait_id(pid, pidfd), options) {
        Ok(Some(status)) if status.stopped() => Some(status.stopping_signal()),
        _ => None,
    }
}

/// This process's group; `None` if its leader lives outside our pid
/// namespace (the kernel then reports 0).
pub(crate) fn own_group() -> Option<Pid> {
    from_nix(nix::unistd::getpgrp())
}

/// Stops this process with `SIGSTOP`, as a terminal's Ctrl-Z would (a stop
/// signal cannot be caught, so no handler of the program can keep it
/// running). Returns once the process has been continued: the signal is
/// sent to this thread (`raise`), which so stops before it returns to user
/// code; sent to the process, it could be taken by another thread while
/// this one runs on.
pub(crate) fn stop_self() {
    let _ = signal_hook::low_level::raise(Signal::STOP.as_raw());
}

/// Sends `signal` to this process (not only this thread).
pub(crate) fn signal_self(signal: Signal) {
    let _ = rustix::process::kill_process(rustix::process::getpid(), signal);
}

/// Maps a signal number to a signal we may send: a named signal (1 to 31 on
/// Linux) or a real-time signal the C library leaves to programs
/// ([`SIGRTMIN`] to [`SIGRTMAX`]). `None` for anything else: 0 (which sends
/// nothing), negative numbers, numbers above the range, and the real-time
/// signals the C library keeps for its own threads.
pub(crate) fn signal_from_raw(raw: i32) -> Option<Signal> {
    Signal::from_named_raw(raw).or_else(|| realtime_signal(raw))
}

/// The lowest real-time signal programs may use, as the C library reports it
/// (`SIGRTMIN`): glibc keeps 32 and 33 for its threads, musl 32 to 34.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const SIGRTMIN: i32 = if cfg!(target_env = "musl") { 35 } else { 34 };

/// The highest real-time signal (`SIGRTMAX`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const SIGRTMAX: i32 = if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
    127
} else {
    64
};

/// A real-time signal, once its number is known to be in range. rustix only
/// names the classic signals safely; this is the crate's one `unsafe` block.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn realtime_signal(raw: i32) -> Option<Signal> {
    if !(SIGRTMIN..=SIGRTMAX).contains(&raw) {
        return None;
    }
    // SAFETY: `raw` is non-zero and a valid signal number of this platform
    // (the kernel accepts 1 to SIGRTMAX), and it lies in SIGRTMIN..=SIGRTMAX
    // as the C library reports them, so it is not one of the signals the C
    // library reserves for itself. We only ever send it to another process.
    Some(unsafe { Signal::from_raw_unchecked(raw) })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn realtime_signal(_raw: i32) -> Option<Signal> {
    None
}

/// The process group of `pid`, a child of ours that is not reaped yet (so
/// its pid names it). `None` if it is gone.
pub(crate) fn group_of(pid: Pid) -> Option<Pid> {
    nix::unistd::getpgid(Some(nix_pid(pid)))
        .ok()
        .and_then(from_nix)
}

/// What a failed spawn's OS error says, for the error that explains it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SpawnErrno {
    /// `EPERM`: not allowed (to join a process group, to change ids).
    NotPermitted,
    /// `EINVAL`: an invalid argument (an id that does not exist here).
    Invalid,
    /// `E2BIG`: the arguments and environment are too long.
    TooBig,
    /// `EACCES`: the file cannot be executed.
    AccessDenied,
    /// `ENOENT`: the file, or its interpreter, does not exist.
    NotFound,
    Other,
}

/// Sorts a spawn's OS error (see [`SpawnErrno`]).
pub(crate) fn spawn_errno(e: &io::Error) -> SpawnErrno {
    use rustix::io::Errno;
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::PERM) => SpawnErrno::NotPermitted,
        Some(Errno::INVAL) => SpawnErrno::Invalid,
        Some(Errno::TOOBIG) => SpawnErrno::TooBig,
        Some(Errno::ACCESS) => SpawnErrno::AccessDenied,
        Some(Errno::NOENT) => SpawnErrno::NotFound,
        _ => SpawnErrno::Other,
    }
}

/// The error of a wait for a child that somebody else reaped (`ECHILD`).
pub(crate) fn child_taken_error() -> io::Error {
    io::Error::from_raw_os_error(rustix::io::Errno::CHILD.raw_os_error())
}

/// Whether `path` is a file this process may execute.
pub(crate) fn is_executable(path: &Path) -> bool {
    path.is_file() && rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_numbers() {
        assert!(signal_from_raw(0).is_none());
        assert!(signal_from_raw(-1).is_none());
        assert!(signal_from_raw(99).is_none());
        assert_eq!(signal_from_raw(15), Some(Signal::TERM));
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn realtime_signal_numbers() {
        // glibc's own real-time signals are not ours to send.
        assert!(signal_from_raw(32).is_none());
        assert!(signal_from_raw(SIGRTMIN - 1).is_none());
        assert_eq!(
            signal_from_raw(SIGRTMIN).map(Signal::as_raw),
            Some(SIGRTMIN)
        );
        assert_eq!(
            signal_from_raw(SIGRTMAX).map(Signal::as_raw),
            Some(SIGRTMAX)
        );
        assert!(signal_from_raw(SIGRTMAX + 1).is_none());
    }
}
