//! Every system call the crate makes, in one place.
//!
//! The rest of the crate is written against these small functions. They use
//! `rustix`'s safe wrappers, so this module has no `unsafe` code of its own.
//! Linux gives us pidfds (a file descriptor per child that becomes readable
//! when the child exits), so we never install a process-wide `SIGCHLD`
//! handler and never reap a process we did not start.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::status::ExitStatus;

/// Marks a descriptor handed to us close-on-exec, so that children get it
/// only where we place it (as their stdin, stdout or stderr), never at its
/// own number. A failure (not possible for an open descriptor) leaves it as
/// it was.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>) {
    use rustix::io::FdFlags;
    if let Ok(flags) = rustix::io::fcntl_getfd(fd) {
        if !flags.contains(FdFlags::CLOEXEC) {
            let _ = rustix::io::fcntl_setfd(fd, flags | FdFlags::CLOEXEC);
        }
    }
}

/// Converts a raw process id from `std::process::Child::id`.
pub(crate) fn pid_from_raw(raw: u32) -> Option<Pid> {
    Pid::from_raw(raw as i32)
}

/// Opens a pidfd for a child we spawned and have not reaped yet, so the pid
/// cannot have been reused. `None` where the kernel has no pidfd (before
/// Linux 5.3, or a seccomp filter that forbids it): the caller then falls
/// back to polling `waitid` on a short timer.
pub(crate) fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
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
    let id = || match pidfd {
        Some(fd) => WaitId::PidFd(fd.as_fd()),
        None => WaitId::Pid(pid),
    };
    let status = loop {
        match rustix::process::waitid(id(), options) {
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
/// or, without a pidfd, by pid while it is known to be unreaped.
pub(crate) fn signal_process(pid: Pid, pidfd: Option<&OwnedFd>, signal: Signal) -> io::Result<()> {
    let result = match pidfd {
        Some(fd) => rustix::process::pidfd_send_signal(fd, signal),
        None => rustix::process::kill_process(pid, signal),
    };
    ignore_gone(result)
}

/// Sends `signal` to every process of the group `pgid`.
pub(crate) fn signal_group(pgid: Pid, signal: Signal) -> io::Result<()> {
    ignore_gone(rustix::process::kill_process_group(pgid, signal))
}

/// Whether `pid` leads its own session (its session id is its pid), as a
/// `setsid` in the child makes it; `None` if it is gone (already reaped by
/// a host that ignores `SIGCHLD`).
pub(crate) fn leads_session(pid: Pid) -> Option<bool> {
    rustix::process::getsid(Some(pid))
        .ok()
        .map(|sid| sid == pid)
}

/// Whether the group `pgid` has any process, zombies included. While it
/// does, its id cannot be given to a new group, so signalling it is safe.
pub(crate) fn group_exists(pgid: Pid) -> bool {
    rustix::process::test_kill_process_group(pgid).is_ok()
}

/// The live (not zombie) processes of the group `pgid`, read from `/proc`.
///
/// Only used while stopping a run, once or twice per stop. A zombie has
/// closed its files and cannot take a signal, so it does not count: on
/// machines whose init is slow to reap, counting zombies would make every
/// stop wait out its whole grace period.
///
/// Reading a process's stat costs about 15 µs, so on a machine with
/// thousands of processes a full look costs milliseconds. Every member of
/// the group was created after its leader, so when the group is `age` old
/// and pids cannot have gone round their whole range since, only the pids
/// allocated after the leader's need a look (see [`recent_pids`]).
pub(crate) fn group_members(pgid: Pid, age: Duration) -> Vec<Pid> {
    // The cheap answer first: no process at all, not even a zombie.
    if !group_exists(pgid) {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let wanted = pgid.as_raw_nonzero().get();
    let recent = recent_pids(wanted, age);
    let mut members = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if recent.as_ref().is_some_and(|in_range| !in_range(pid)) {
            continue;
        }
        let Some(stat) = read_stat(pid) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(stat.as_ref()) {
            if pgrp == wanted && state != b'Z' && state != b'X' {
                members.extend(Pid::from_raw(pid));
            }
        }
    }
    members
}

/// The fastest rate at which we assume a machine can create processes. A
/// group younger than `pid_max` divided by this rate cannot have seen the
/// pids go round their whole range.
const MAX_FORKS_PER_SEC: u64 = 250_000;

/// A test for "allocated after `leader`", or `None` when that cannot be
/// told safely (the group is too old, or `/proc/sys` cannot be read).
///
/// Linux hands out pids in increasing order and wraps around at `pid_max`,
/// so the pids allocated since `leader` form the cyclic interval from
/// `leader` (excluded) to the last pid allocated (`ns_last_pid`), provided
/// fewer than `pid_max` processes were created since.
fn recent_pids(leader: i32, age: Duration) -> Option<impl Fn(i32) -> bool> {
    let pid_max = read_number("/proc/sys/kernel/pid_max")?;
    let full_turn = Duration::from_secs_f64(pid_max as f64 / MAX_FORKS_PER_SEC as f64);
    if age >= full_turn {
        return None;
    }
    let last = i32::try_from(read_number("/proc/sys/kernel/ns_last_pid")?).ok()?;
    Some(move |pid: i32| {
        if leader <= last {
            pid > leader && pid <= last
        } else {
            pid > leader || pid <= last
        }
    })
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The start of `/proc/PID/stat`, in one `read`: the fields we need come
/// within the first few dozen bytes.
fn read_stat(pid: i32) -> Option<StatHead> {
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut head = StatHead([0; 256], 0);
    head.1 = file.read(&mut head.0).ok()?;
    Some(head)
}

/// The first bytes of a stat file and how many were read.
struct StatHead([u8; 256], usize);

impl AsRef<[u8]> for StatHead {
    fn as_ref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

/// The state letter and process group of a `/proc/PID/stat` line. The
/// command name in parentheses may itself hold spaces and parentheses, so we
/// parse from the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(u8, i32)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = *fields.next()?.as_bytes().first()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// A process that is already gone is not an error when stopping it.
fn ignore_gone(result: rustix::io::Result<()>) -> io::Result<()> {
    match result {
        Err(rustix::io::Errno::SRCH) => Ok(()),
        other => Ok(other?),
    }
}

/// Maps a signal number to a signal rustix accepts.
pub(crate) fn signal_from_raw(raw: i32) -> Option<Signal> {
    Signal::from_named_raw(raw)
}

/// Switches a pipe end to non-blocking mode, for the poll loop.
/// A new temporary file in `dir` that has no name: the system removes it
/// when its last descriptor closes, on every path (a crash included).
///
/// `O_TMPFILE` where the file system supports it; elsewhere the portable
/// way, [`named_then_unlinked`]: a file created under a unique name and
/// unlinked at once.
pub(crate) fn temp_file(dir: &Path) -> io::Result<File> {
    let flags =
        rustix::fs::OFlags::TMPFILE | rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC;
    match rustix::fs::open(dir, flags, rustix::fs::Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(File::from(fd)),
        // File systems without O_TMPFILE (a missing directory fails there
        // too, with its own error).
        Err(_) => named_then_unlinked(dir),
    }
}

/// A file created in `dir` under a name no one else uses, and unlinked
/// before it is returned.
fn named_then_unlinked(dir: &Path) -> io::Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".procession-spool-{}-{n}", std::process::id()));
        match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Reads from `file` at `offset`, leaving its file offset alone (`pread`),
/// so that readers sharing the file do not disturb each other.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    Ok(rustix::io::pread(file, buf, offset)?)
}

/// A copy of a `/dev/null` descriptor opened once for the whole process:
/// read-only for a child's stdin, write-only for its stdout or stderr.
/// `dup` costs a fraction of what opening the path again would on every
/// spawn (as `Stdio::null` does). `None` if `/dev/null` cannot be opened.
pub(crate) fn dev_null(write: bool) -> Option<OwnedFd> {
    static READ: OnceLock<Option<OwnedFd>> = OnceLock::new();
    static WRITE: OnceLock<Option<OwnedFd>> = OnceLock::new();
    let (cell, mode) = if write {
        (&WRITE, rustix::fs::OFlags::WRONLY)
    } else {
        (&READ, rustix::fs::OFlags::RDONLY)
    };
    let flags = mode | rustix::fs::OFlags::CLOEXEC;
    let fd =
        cell.get_or_init(|| rustix::fs::open("/dev/null", flags, rustix::fs::Mode::empty()).ok());
    fd.as_ref()?.try_clone().ok()
}

pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Reads what is available. `Ok(None)`: nothing now (would block).
/// `Ok(Some(0))`: end of file.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) => return Ok(Some(n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// What one non-blocking write did.
pub(crate) enum Wrote {
    Bytes(usize),
    WouldBlock,
    /// The reader has gone (`EPIPE`): nobody wants the rest.
    Closed,
}

/// Writes what fits now. `SIGPIPE` is ignored by the Rust runtime, so a
/// closed reader is `EPIPE`, which we report as [`Wrote::Closed`].
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<Wrote> {
    loop {
        match rustix::io::write(fd, buf) {
            Ok(n) => return Ok(Wrote::Bytes(n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(Wrote::WouldBlock),
            Err(rustix::io::Errno::PIPE) => return Ok(Wrote::Closed),
            Err(e) => return Err(e.into()),
        }
    }
}

/// What the poll loop asks of one descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// Waits until one of `fds` is ready or `timeout` passes (`None`: no limit).
/// Fills `ready` with one flag per descriptor: readable, writable, hung up or
/// in error (the caller finds out which by reading or writing).
pub(crate) fn poll(
    fds: &[(BorrowedFd<'_>, Interest)],
    timeout: Option<Duration>,
    ready: &mut Vec<bool>,
) -> io::Result<()> {
    let mut pollfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|(fd, interest)| {
            let flags = match interest {
                Interest::Read => PollFlags::IN,
                Interest::Write => PollFlags::OUT,
            };
            PollFd::from_borrowed_fd(*fd, flags)
        })
        .collect();
    let timeout = timeout.map(|d| {
        // ppoll takes a timespec: nanosecond precision, no rounding to ms.
        rustix::event::Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        }
    });
    match rustix::event::poll(&mut pollfds, timeout.as_ref()) {
        // A signal interrupted the wait: report nothing ready; the caller
        // re-checks its timers and polls again.
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    ready.clear();
    ready.extend(pollfds.iter().map(|p| !p.revents().is_empty()));
    Ok(())
}

/// A way for other threads to wake a poll loop: an eventfd.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        Ok(Waker { fd })
    }

    /// Makes the poll loop return. Cheap; safe from any thread.
    pub(crate) fn wake(&self) {
        // A full counter (never in practice) still leaves the fd readable.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Clears the wake-up so the next poll blocks again.
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_pids_are_a_cyclic_interval() {
        let last = read_number("/proc/sys/kernel/ns_last_pid").unwrap() as i32;
        let recent = recent_pids(last - 10, Duration::ZERO).expect("a young group");
        assert!(recent(last - 9) && recent(last));
        assert!(!recent(last - 10) && !recent(last - 11) && !recent(last + 1));
        // The leader's pid was near the top and the counter has wrapped.
        let wrapped = recent_pids(last + 10, Duration::ZERO).expect("a young group");
        assert!(wrapped(last + 11) && wrapped(1) && wrapped(last));
        assert!(!wrapped(last + 10) && !wrapped(last + 1));
        // Too old to tell: look at everything.
        assert!(recent_pids(last, Duration::from_secs(1 << 30)).is_none());
    }

    #[test]
    fn stat_lines() {
        assert_eq!(parse_stat(b"42 (a) b) S 1 7 7 0"), Some((b'S', 7)));
        assert_eq!(parse_stat(b"42 (sleep) Z 1 99 99 0"), Some((b'Z', 99)));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn this_process_is_in_its_group() {
        let me = rustix::process::getpid();
        let group = rustix::process::getpgrp();
        assert!(group_members(group, Duration::from_secs(3600)).contains(&me));
    }

    #[test]
    fn waker_wakes_poll() {
        let waker = Waker::new().unwrap();
        waker.wake();
        let mut ready = Vec::new();
        poll(
            &[(waker.fd(), Interest::Read)],
            Some(Duration::from_secs(5)),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, [true]);
        waker.reset();
        poll(
            &[(waker.fd(), Interest::Read)],
            Some(Duration::ZERO),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, [false]);
    }
}
