//! What `/proc` tells about a run's process tree: its members in the group
//! or out of it, who holds a pipe, a process's command line.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::process::Pid;

use super::{Cgroup, group_exists, group_of};

/// Whether the run's process tree can be listed (Linux, through `/proc`).
/// Without it (macOS, the BSDs, and the portable mode on Linux) the functions
/// below find nothing, and a group is watched with signal 0 alone
/// ([`group_exists`]): a process that leaves the group is not followed,
/// and what escaped is not named.
pub(crate) const LISTS_PROCESSES: bool = cfg!(all(target_os = "linux", not(procession_portable)));

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
    if !LISTS_PROCESSES {
        return Vec::new();
    }
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
    if !LISTS_PROCESSES {
        return None;
    }
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
    if !LISTS_PROCESSES {
        return None;
    }
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
    if !LISTS_PROCESSES {
        return Vec::new();
    }
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
    #[cfg_attr(not(target_os = "linux"), ignore = "reads Linux's /proc")]
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
    #[cfg_attr(
        any(procession_portable, not(target_os = "linux")),
        ignore = "lists processes through /proc, which the portable mode does not use"
    )]
    fn this_process_is_in_its_group() {
        let me = rustix::process::getpid();
        let Some(group) = crate::sys::own_group() else {
            return; // our group's leader is outside our pid namespace
        };
        let members = tree_members(group, &[], None, Duration::from_secs(3600));
        assert!(members.contains(&(me, true)));
    }
}
