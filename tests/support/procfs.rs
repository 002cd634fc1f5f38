//! Looking at processes through `/proc`, for the integration tests.
//!
//! One parser of `/proc/PID/stat` and one meaning of "live" serve every test:
//! a process is live while it exists and is neither a zombie (`Z`) nor dead
//! (`X`). PID 1 may reap orphaned zombies slowly, so "nothing of the tree is
//! left" is always checked as "no live process", never as "no process".
//!
//! Also here, for the few things a test must do to processes the library does
//! not own: sending them a signal ([`send_signal`], [`kill`]), and looking
//! until a condition that only `/proc` can tell holds ([`eventually`]).

use std::time::{Duration, Instant};

/// The fields of `/proc/PID/stat` the tests need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The state letter: `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
    /// The process group.
    pub pgrp: u32,
}

/// The `/proc/PID/stat` fields of `pid`, or `None` if there is no such
/// process (it never existed, or it was reaped).
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses a `/proc/PID/stat` line. The command name, in parentheses, may hold
/// spaces, parentheses and bytes that are not UTF-8, so the fields are read
/// after the last `)`.
fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let close = bytes.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(bytes.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid, pgrp })
}

/// A state letter of a process that has not exited: not a zombie (`Z`), not
/// dead (`X`).
fn is_live_state(state: char) -> bool {
    !matches!(state, 'Z' | 'X')
}

/// `pid` exists and has not exited: a zombie counts as gone.
pub fn is_live(pid: u32) -> bool {
    stat(pid).is_some_and(|s| is_live_state(s.state))
}

/// Every process id under `/proc`. Panics if `/proc` cannot be read, so a
/// check over all processes can never pass by seeing none.
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The live processes (see [`is_live`]) whose process group is `pgid`.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| stat(*pid).is_some_and(|s| s.pgrp == pgid && is_live_state(s.state)))
        .collect()
}

/// The children of this process, in any state, with their state letter.
pub fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    all_pids()
        .into_iter()
        .filter_map(|pid| stat(pid).map(|s| (pid, s)))
        .filter(|(_, s)| s.ppid == me)
        .map(|(pid, s)| (pid, s.state))
        .collect()
}

/// The children of this process that exited and were not reaped (state `Z`).
pub fn zombie_children() -> Vec<u32> {
    children()
        .into_iter()
        .filter(|(_, state)| *state == 'Z')
        .map(|(pid, _)| pid)
        .collect()
}

/// How many descriptors this process has open (the one reading
/// `/proc/self/fd` included, so compare two counts, never a count with a
/// number).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Threads this process runs for itself: the main thread, unnamed threads
/// (they carry the program's name) and the crate's `procession` thread. The
/// test harness's threads are named after their tests and do not count, so
/// its comings and goings do not disturb the measure.
pub fn own_threads() -> usize {
    let main = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|comm| *comm == main || comm.trim() == "procession")
        .count()
}

/// The thread ids of [`own_threads`]. A thread just started by the test
/// harness carries the program's name until it names itself, so compare
/// these as sets ("no thread that was not there before"), not as counts.
pub fn own_thread_ids() -> Vec<u32> {
    let main = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|comm| comm == main || comm.trim() == "procession")
        })
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect()
}

/// Sends the signal `name` (`"INT"`, `"TERM"`, `"KILL"`, ...) to `pid` with
/// the system's `kill`. Panics if it fails.
pub fn send_signal(pid: u32, name: &str) {
    let status = std::process::Command::new("sh")
        .args(["-c", "kill -s \"$1\" \"$2\"", "sh", name, &pid.to_string()])
        .status()
        .expect("run sh to send a signal");
    assert!(status.success(), "kill -s {name} {pid} failed");
}

/// Sends `SIGKILL` to a process the test must clean up itself (one no handle
/// owns). Panics if it fails.
pub fn kill(pid: u32) {
    send_signal(pid, "KILL");
}

/// Looks every 10 ms until `done()` holds or `limit` passes, and says whether
/// it held. Only for what no pipe or status can tell (a process no handle
/// owns).
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}
