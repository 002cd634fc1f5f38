//! Every system call the crate makes, in one place.
//!
//! The rest of the crate is written against these small functions. They use
//! `rustix`'s safe wrappers; the one `unsafe` block of the crate is
//! [`realtime_signal`], which builds a real-time signal once its number is
//! checked to be in range.
//! Linux gives us pidfds (a file descriptor per child that becomes readable
//! when the child exits), so we never install a process-wide `SIGCHLD`
//! handler and never reap a process we did not start.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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

/// The live (not zombie) processes of a run's tree, read from `/proc`: the
/// members of the group `pgid`, the processes of `cgroup`, and every
/// descendant of `roots` (by parent links), wherever its group. Each comes
/// with whether it is in the group `pgid`.
///
/// Only used while stopping or signalling a run. A zombie has closed its
/// files and cannot take a signal, so it does not count: on machines whose
/// init is slow to reap, counting zombies would make every stop wait out its
/// whole grace period.
///
/// Reading a process's stat costs about 15 µs, so on a machine with
/// thousands of processes a full look costs milliseconds. Every process of
/// the tree was created after the group's leader, so when the group is `age`
/// old and pids cannot have gone round their whole range since, only the
/// pids allocated after the leader's need a look (see [`recent_pids`]).
pub(crate) fn tree_members(
    pgid: Pid,
    roots: &[Pid],
    cgroup: Option<&Cgroup>,
    age: Duration,
) -> Vec<(Pid, bool)> {
    let in_cgroup = cgroup.map(Cgroup::pids).unwrap_or_default();
    // The cheap answer first: nothing to look for.
    if roots.is_empty() && in_cgroup.is_empty() && !group_exists(pgid) {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let wanted = pgid.as_raw_nonzero().get();
    let recent = recent_pids(wanted, age);
    // (pid, ppid, pgrp) of every live candidate.
    let mut live = Vec::new();
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
        if let Some((state, ppid, pgrp)) = parse_stat(stat.as_ref()) {
            if state != b'Z' && state != b'X' {
                live.push((pid, ppid, pgrp));
            }
        }
    }
    let raw = |p: &Pid| p.as_raw_nonzero().get();
    let mut tree: Vec<i32> = roots.iter().map(raw).collect();
    let mut members: Vec<(Pid, bool)> = Vec::new();
    // Parents come before their children in pid order, except after the
    // pids wrap around: repeat until nothing new is found.
    loop {
        let before = members.len();
        for &(pid, ppid, pgrp) in &live {
            if members.iter().any(|(m, _)| raw(m) == pid) {
                continue;
            }
            let ours =
                pgrp == wanted || tree.contains(&ppid) || in_cgroup.iter().any(|c| raw(c) == pid);
            if ours {
                tree.push(pid);
                members.extend(Pid::from_raw(pid).map(|p| (p, pgrp == wanted)));
            }
        }
        if members.len() == before {
            return members;
        }
    }
}
/// The descendants of `roots` by parent links, each with whether it is in
/// the group `pgid`, read from `/proc/PID/task/TID/children`: a few small
/// reads per process of the tree, where [`tree_members`] lists all of
/// `/proc`. Zombies may be among them (signalling one does nothing). `None`
/// where the kernel has no `children` files (`CONFIG_PROC_CHILDREN`).
pub(crate) fn descendants(pgid: Pid, roots: &[Pid]) -> Option<Vec<(Pid, bool)>> {
    let mut queue: Vec<Pid> = roots.to_vec();
    let mut found: Vec<(Pid, bool)> = Vec::new();
    while let Some(parent) = queue.pop() {
        let raw = parent.as_raw_nonzero().get();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{raw}/task")) else {
            continue; // gone
        };
        for task in tasks.flatten() {
            let children = match std::fs::read_to_string(task.path().join("children")) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound && task.path().exists() => {
                    return None;
                }
                Err(_) => continue,
            };
            for child in children.split_ascii_whitespace() {
                let Some(pid) = child.parse().ok().and_then(Pid::from_raw) else {
                    continue;
                };
                if found.iter().all(|(p, _)| *p != pid) && !roots.contains(&pid) {
                    found.push((pid, group_of(pid) == Some(pgid)));
                    queue.push(pid);
                }
            }
        }
    }
    Some(found)
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
/// fewer than `pid_max` processes were created since (see
/// [`allocated_since`] and [`cannot_have_wrapped`]).
fn recent_pids(leader: i32, age: Duration) -> Option<impl Fn(i32) -> bool> {
    let pid_max = read_number("/proc/sys/kernel/pid_max")?;
    if !cannot_have_wrapped(age, pid_max) {
        return None;
    }
    let last = i32::try_from(read_number("/proc/sys/kernel/ns_last_pid")?).ok()?;
    Some(move |pid: i32| allocated_since(leader, last, pid))
}

/// Whether a group `age` old is young enough that the pids cannot have gone
/// round their whole range (`pid_max`) since its leader was created, at
/// [`MAX_FORKS_PER_SEC`].
fn cannot_have_wrapped(age: Duration, pid_max: u64) -> bool {
    let full_turn = Duration::from_secs_f64(pid_max as f64 / MAX_FORKS_PER_SEC as f64);
    age < full_turn
}

/// Whether `pid` lies in the cyclic interval of pids allocated after
/// `leader` (excluded) up to `last` (included), the last pid allocated:
/// `leader < pid <= last`, or, once the counter has wrapped round
/// (`last < leader`), `pid > leader` or `pid <= last`.
fn allocated_since(leader: i32, last: i32, pid: i32) -> bool {
    if leader <= last {
        pid > leader && pid <= last
    } else {
        pid > leader || pid <= last
    }
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

/// The state letter, parent and process group of a `/proc/PID/stat` line.
/// The command name in parentheses may itself hold spaces and parentheses,
/// so we parse from the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(u8, i32, i32)> {
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = *fields.next()?.as_bytes().first()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Whether `pid` is alive: it exists and is not a zombie.
pub(crate) fn is_live(pid: Pid) -> bool {
    read_stat(pid.as_raw_nonzero().get())
        .and_then(|stat| parse_stat(stat.as_ref()))
        .is_some_and(|(state, _, _)| state != b'Z' && state != b'X')
}

/// The command line of `pid` as one string (arguments joined by spaces), or
/// its name in brackets when it has none. `None` if it is gone.
pub(crate) fn command_line(pid: Pid) -> Option<String> {
    let raw = pid.as_raw_nonzero().get();
    let cmdline = std::fs::read(format!("/proc/{raw}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if !args.is_empty() {
        return Some(args.join(" "));
    }
    let comm = std::fs::read_to_string(format!("/proc/{raw}/comm")).ok()?;
    Some(format!("[{}]", comm.trim_end()))
}

/// The inode of a pipe, which names it in `/proc/PID/fd`.
pub(crate) fn inode(fd: BorrowedFd<'_>) -> Option<u64> {
    rustix::fs::fstat(fd).ok().map(|st| st.st_ino)
}

/// The processes other than us that hold one of the pipes `inodes` open,
/// found through `/proc/PID/fd`. Looks at every process (a process that left
/// the tree may be anywhere), so only called when a run gives up on a pipe.
pub(crate) fn pipe_holders(inodes: &[u64]) -> Vec<Pid> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let names: Vec<String> = inodes.iter().map(|i| format!("pipe:[{i}]")).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut holders = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| names.iter().any(|n| target.as_os_str() == n.as_str()))
        });
        if holds {
            holders.extend(Pid::from_raw(pid));
        }
    }
    holders
}

/// A cgroup (version 2) of its own for one run, under the cgroup this
/// process is in: every process moved into it, and every process they
/// create, stays in it whatever it does to its group or session, so the
/// whole tree can be listed and killed (`cgroup.kill`).
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    /// The cgroup this process is in, where stragglers are moved back to
    /// before the run's cgroup is removed.
    home: PathBuf,
}

/// Where this process's cgroup is in the file system, if the unified
/// hierarchy is mounted: the `0::PATH` line of `/proc/self/cgroup`, under
/// the mount point of `cgroup2` from `/proc/self/mountinfo`.
fn own_cgroup() -> Option<&'static Path> {
    static HOME: OnceLock<Option<PathBuf>> = OnceLock::new();
    HOME.get_or_init(|| {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let (root, mount) = mounts.lines().find_map(cgroup2_mount)?;
        let relative = path.strip_prefix(root.as_str()).unwrap_or(path);
        let dir = mount.join(relative.trim_start_matches('/'));
        dir.is_dir().then_some(dir)
    })
    .as_deref()
}

/// The root and mount point of a `mountinfo` line, if it mounts `cgroup2`.
fn cgroup2_mount(line: &str) -> Option<(String, PathBuf)> {
    let (left, right) = line.split_once(" - ")?;
    if right.split(' ').next()? != "cgroup2" {
        return None;
    }
    let mut fields = left.split(' ');
    let root = fields.nth(3)?;
    let mount = fields.next()?;
    Some((unescape_mount(root), PathBuf::from(unescape_mount(mount))))
}

/// `mountinfo` writes a space, tab, newline and backslash as `\ooo`.
fn unescape_mount(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Cgroup {
    /// Creates a cgroup for one run. Fails where there is no unified
    /// hierarchy or this process may not create a cgroup under its own.
    pub(crate) fn create() -> io::Result<Cgroup> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let home = own_cgroup().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no cgroup v2 hierarchy is mounted")
        })?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let dir = home.join(format!("procession-{me}-{n}"));
        std::fs::create_dir(&dir)?;
        Ok(Cgroup {
            dir,
            home: home.to_path_buf(),
        })
    }

    /// Moves `pid` (a child of ours, not reaped yet) into the cgroup, then
    /// what it may have forked before it was moved: the processes of its
    /// group `pgid` and its descendants, found in `/proc`. (A process it
    /// forked that has already left both, in the microseconds since the
    /// spawn, stays outside.)
    pub(crate) fn adopt(&self, pid: Pid, pgid: Pid) -> io::Result<()> {
        self.add(pid)?;
        for (early, _) in tree_members(pgid, &[pid], None, Duration::ZERO) {
            let _ = self.add(early);
        }
        Ok(())
    }

    fn add(&self, pid: Pid) -> io::Result<()> {
        std::fs::write(
            self.dir.join("cgroup.procs"),
            pid.as_raw_nonzero().to_string(),
        )
    }

    /// The processes in the cgroup now (zombies have left it).
    pub(crate) fn pids(&self) -> Vec<Pid> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter_map(Pid::from_raw)
            .collect()
    }

    /// Kills every process in the cgroup at once, forks in flight included
    /// (`cgroup.kill`, Linux 5.14). Returns whether the kernel did it; the
    /// caller has signalled each process it knows of anyway.
    pub(crate) fn kill(&self) -> bool {
        std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok()
    }
}

impl Drop for Cgroup {
    /// Moves what still runs in the cgroup (a daemon a successful command
    /// left behind) back to our own cgroup, then removes the run's cgroup.
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = std::fs::write(
                self.home.join("cgroup.procs"),
                pid.as_raw_nonzero().to_string(),
            );
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
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
    let id = match pidfd {
        Some(fd) => WaitId::PidFd(fd.as_fd()),
        None => WaitId::Pid(pid),
    };
    let options = WaitIdOptions::STOPPED | WaitIdOptions::NOHANG;
    match rustix::process::waitid(id, options) {
        Ok(Some(status)) if status.stopped() => Some(status.stopping_signal()),
        _ => None,
    }
}

/// This process's group.
pub(crate) fn own_group() -> Pid {
    rustix::process::getpgrp()
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

/// The terminal on our stdin, when it is our controlling terminal: its
/// foreground process group. `None` without one (no terminal, another
/// session's terminal, or a closed stdin).
pub(crate) fn terminal_foreground() -> Option<Pid> {
    let stdin = std::io::stdin();
    if !rustix::termios::isatty(&stdin) {
        return None;
    }
    rustix::termios::tcgetpgrp(&stdin).ok()
}

/// The modes of the terminal on our stdin.
pub(crate) fn terminal_modes() -> Option<rustix::termios::Termios> {
    rustix::termios::tcgetattr(std::io::stdin()).ok()
}

/// Sets the modes of the terminal on our stdin (once its output is drained).
pub(crate) fn set_terminal_modes(modes: &rustix::termios::Termios) {
    let _ = with_sigttou_blocked(|| {
        rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Drain,
            modes,
        )
    });
}

/// Makes `group` the foreground process group of the terminal on our stdin.
pub(crate) fn set_terminal_foreground(group: Pid) -> io::Result<()> {
    Ok(with_sigttou_blocked(|| {
        rustix::termios::tcsetpgrp(std::io::stdin(), group)
    })?)
}

/// Runs `f` with `SIGTTOU` blocked in this thread. A process that is not in
/// the terminal's foreground group may change the terminal's foreground
/// group or modes only so: else the kernel stops it with `SIGTTOU`. Blocking
/// (not ignoring) keeps the change to this thread and these few calls.
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal as NixSignal, pthread_sigmask};
    let mut ttou = SigSet::empty();
    ttou.add(NixSignal::SIGTTOU);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok();
    let result = f();
    if blocked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    result
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
    rustix::process::getpgid(Some(pid)).ok()
}

/// Switches a pipe end to non-blocking mode, for the poll loop.
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
        // (leader, last allocated, pid, allocated since the leader)
        let table = [
            (100, 110, 101, true),
            (100, 110, 110, true),
            (100, 110, 100, false),
            (100, 110, 99, false),
            (100, 110, 111, false),
            // Nothing allocated since the leader.
            (100, 100, 100, false),
            (100, 100, 101, false),
            // The leader's pid was near the top and the counter has wrapped.
            (4_000_000, 50, 4_000_001, true),
            (4_000_000, 50, 1, true),
            (4_000_000, 50, 50, true),
            (4_000_000, 50, 4_000_000, false),
            (4_000_000, 50, 51, false),
            (4_000_000, 50, 3_999_999, false),
        ];
        for (leader, last, pid, want) in table {
            assert_eq!(
                allocated_since(leader, last, pid),
                want,
                "{leader} {last} {pid}"
            );
        }
    }

    #[test]
    fn old_groups_may_have_seen_the_pids_wrap() {
        let s = Duration::from_secs;
        // (age, pid_max, cannot have wrapped): a full turn of 4194304 pids
        // takes about 16.8 s at the assumed rate, of 32768 pids 131 ms.
        let table = [
            (Duration::ZERO, 32_768, true),
            (Duration::from_millis(130), 32_768, true),
            (Duration::from_millis(132), 32_768, false),
            (s(16), 4_194_304, true),
            (s(17), 4_194_304, false),
            (s(1 << 30), 4_194_304, false),
        ];
        for (age, pid_max, want) in table {
            assert_eq!(cannot_have_wrapped(age, pid_max), want, "{age:?} {pid_max}");
        }
    }

    #[test]
    fn a_pid_allocated_after_the_leader_is_recent() {
        // Threads take their ids from the pids' counter: one created after
        // the counter was read is recent, however many other processes the
        // machine creates meanwhile.
        let leader = read_number("/proc/sys/kernel/ns_last_pid").unwrap() as i32;
        let tid = std::thread::spawn(|| {
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            let tid = link.file_name().unwrap().to_str().unwrap().to_owned();
            tid.parse::<i32>().unwrap()
        })
        .join()
        .unwrap();
        let recent = recent_pids(leader, Duration::ZERO).expect("a young group");
        assert!(recent(tid), "{tid} after {leader}");
        assert!(!recent(leader));
        // Too old to tell: look at everything.
        assert!(recent_pids(leader, Duration::from_secs(1 << 30)).is_none());
    }

    #[test]
    fn stat_lines() {
        assert_eq!(parse_stat(b"42 (a) b) S 1 7 7 0"), Some((b'S', 1, 7)));
        assert_eq!(parse_stat(b"42 (sleep) Z 1 99 99 0"), Some((b'Z', 1, 99)));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn this_process_is_in_its_group() {
        let me = rustix::process::getpid();
        let group = rustix::process::getpgrp();
        let members = tree_members(group, &[], None, Duration::from_secs(3600));
        assert!(members.contains(&(me, true)));
    }

    #[test]
    fn signal_numbers() {
        assert!(signal_from_raw(0).is_none());
        assert!(signal_from_raw(-1).is_none());
        assert!(signal_from_raw(99).is_none());
        assert_eq!(signal_from_raw(15), Some(Signal::TERM));
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

    #[test]
    fn cgroup2_mount_lines() {
        let line = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(line),
            Some(("/".to_string(), PathBuf::from("/sys/fs/cgroup/unified")))
        );
        let v1 = "40 31 0:37 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
        assert_eq!(cgroup2_mount(v1), None);
        let spaced = r"41 31 0:38 /a /mnt/my\040cgroups rw - cgroup2 none rw";
        assert_eq!(
            cgroup2_mount(spaced),
            Some(("/a".to_string(), PathBuf::from("/mnt/my cgroups")))
        );
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
