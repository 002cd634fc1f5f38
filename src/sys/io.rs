//! Descriptors: close-on-exec and non-blocking flags, `/dev/null`, pipes,
//! nameless temporary files, non-blocking reads and writes, `poll`, and the
//! eventfd that wakes it.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

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

/// A new temporary file in `dir` that has no name: the system removes it
/// when its last descriptor closes, on every path (a crash included).
///
/// `O_TMPFILE` where the file system supports it; elsewhere the portable
/// way, [`named_then_unlinked`]: a file created under a unique name and
/// unlinked at once.
#[cfg(all(target_os = "linux", not(procession_portable)))]
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

/// macOS, the BSDs and the portable mode on Linux: no `O_TMPFILE`.
#[cfg(not(all(target_os = "linux", not(procession_portable))))]
pub(crate) fn temp_file(dir: &Path) -> io::Result<File> {
    named_then_unlinked(dir)
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

/// A new pipe, both ends close-on-exec.
pub(crate) fn pipe() -> io::Result<(os_pipe::PipeReader, os_pipe::PipeWriter)> {
    os_pipe::pipe()
}

/// Switches a pipe end to non-blocking mode, for the poll loop.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Switches a pipe end that [`pipe`] made to non-blocking mode, in one
/// system call: such an end has no other status flag to keep (no
/// `O_APPEND`, `O_ASYNC`, ...), so there is none to read first.
pub(crate) fn set_nonblocking_new_pipe(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK)?;
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

/// Reads what is available into the spare capacity of `buf`, which grows
/// by the bytes read (none is zeroed or copied first). As [`read`]:
/// `Ok(None)`: nothing now; `Ok(Some(0))`: end of file.
pub(crate) fn read_spare(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    loop {
        match rustix::io::read(fd, rustix::buffer::spare_capacity(buf)) {
            Ok(n) => return Ok(Some(n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The size a busy pipe is grown to (see [`grow_pipe`]).
pub(crate) const BIG_PIPE: usize = 1024 * 1024;

/// The most pipes grown at once by this process (see [`grow_pipe`]).
const MAX_BIG_PIPES: usize = 16;

static BIG_PIPES: AtomicUsize = AtomicUsize::new(0);

/// A pipe grown by [`grow_pipe`]; dropping it lets another grow.
#[derive(Debug)]
pub(crate) struct BigPipe(());

impl Drop for BigPipe {
    fn drop(&mut self) {
        BIG_PIPES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Grows the pipe behind `fd` to [`BIG_PIPE`] bytes (Linux), so that a
/// child writing much at once runs ahead of its reader instead of waiting
/// on it every 64 KiB. At most [`MAX_BIG_PIPES`] at a time: the system
/// counts the pipe memory of each user, and a user past its share
/// (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default) gets small
/// pipes from then on, in every program. `None`: not grown (the limit, or
/// the system said no, or not Linux), which only costs speed.
pub(crate) fn grow_pipe(fd: BorrowedFd<'_>) -> Option<BigPipe> {
    let taken = BIG_PIPES.fetch_add(1, Ordering::Relaxed);
    let pipe = BigPipe(());
    (taken < MAX_BIG_PIPES && set_pipe_size(fd, BIG_PIPE)).then_some(pipe)
}

#[cfg(target_os = "linux")]
fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> bool {
    rustix::pipe::fcntl_setpipe_size(fd, size).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn set_pipe_size(_fd: BorrowedFd<'_>, _size: usize) -> bool {
    false
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

/// A way for other threads to wake a poll loop: an eventfd on Linux; a
/// non-blocking pipe on macOS, the BSDs and in the portable mode on Linux.
#[derive(Debug)]
pub(crate) struct Waker {
    /// The descriptor the poll loop watches (the eventfd, or the pipe's
    /// read end).
    fd: OwnedFd,
    /// The pipe's write end; `None` for an eventfd (written through `fd`).
    #[cfg_attr(all(target_os = "linux", not(procession_portable)), allow(dead_code))]
    tx: Option<OwnedFd>,
}

impl Waker {
    #[cfg(all(target_os = "linux", not(procession_portable)))]
    pub(crate) fn new() -> io::Result<Waker> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        Ok(Waker { fd, tx: None })
    }

    #[cfg(not(all(target_os = "linux", not(procession_portable))))]
    pub(crate) fn new() -> io::Result<Waker> {
        let (rx, tx) = pipe()?;
        let (rx, tx) = (OwnedFd::from(rx), OwnedFd::from(tx));
        set_nonblocking(rx.as_fd())?;
        set_nonblocking(tx.as_fd())?;
        Ok(Waker {
            fd: rx,
            tx: Some(tx),
        })
    }

    /// Makes the poll loop return. Cheap; safe from any thread.
    pub(crate) fn wake(&self) {
        // A full counter or pipe (a wake-up already pending) still leaves
        // the fd readable.
        match &self.tx {
            Some(tx) => {
                let _ = rustix::io::write(tx, &[1]);
            }
            None => {
                let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
            }
        }
    }

    /// Clears the wake-up so the next poll blocks again.
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 64];
        // An eventfd clears in one read; a pipe may hold several wake-ups.
        while let Ok(n) = rustix::io::read(&self.fd, &mut buf) {
            if n < buf.len() || self.tx.is_none() {
                break;
            }
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn busy_pipes_grow_a_few_at_a_time() {
        // Other tests in this process may hold some of the slots.
        let pipes: Vec<_> = (0..MAX_BIG_PIPES + 4).map(|_| pipe().unwrap()).collect();
        let grown: Vec<_> = pipes.iter().map(|(r, _)| grow_pipe(r.as_fd())).collect();
        let count = grown.iter().flatten().count();
        assert!(count <= MAX_BIG_PIPES, "{count} pipes grown at once");
        for ((r, _), big) in pipes.iter().zip(&grown) {
            let size = rustix::pipe::fcntl_getpipe_size(r).unwrap();
            assert_eq!(big.is_some(), size >= BIG_PIPE, "{size}");
        }
        drop(grown);
        // The slots are given back.
        let (r, _w) = pipe().unwrap();
        let mut big = grow_pipe(r.as_fd());
        for _ in 0..100 {
            if big.is_some() {
                break;
            }
            big = grow_pipe(r.as_fd());
        }
        assert!(big.is_some(), "no pipe could grow again");
    }

    #[test]
    fn waker_wakes_poll() {
        let waker = Waker::new().unwrap();
        // Many wake-ups before a reset (more than a pipe waker reads at once)
        // are cleared by one reset.
        for _ in 0..100 {
            waker.wake();
        }
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
