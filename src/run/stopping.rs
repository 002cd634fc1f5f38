//! Stopping a run: the stop sequence carried out on the whole process tree.
//!
//! The rule (which signal when) is [`stop::advance`]; here the run finds the
//! processes of its tree beyond its stages (in its group or out of it, in
//! its cgroup), watches them while it stops, and signals each once.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::Exec;
use crate::output::Escaped;
use crate::stop::{self, StopSequence, StopState};
use crate::sys::{self, Pid, Signal};

/// Why a run is being stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Reason {
    /// Out of time: the timeout that ran out, `None` for a deadline.
    Timeout(Option<Duration>),
    Cancel,
    /// By the handle's owner; the statuses tell the rest.
    Owner,
}

pub(super) struct Stopping {
    pub(super) reason: Reason,
    pub(super) sequence: StopSequence,
    /// Where the stop sequence stands (see [`stop::advance`]).
    pub(super) state: StopState,
    /// The first signal sent, for the error.
    pub(super) signal: i32,
    /// Other processes of the tree (grandchildren, in the group or not),
    /// watched by pidfd.
    pub(super) members: Vec<Member>,
    /// No live process is left in the tree.
    pub(super) empty: bool,
}

/// A process of the tree that is not one of our stages.
pub(super) struct Member {
    pub(super) pid: Pid,
    /// `None` where pidfds are not available: we look in `/proc` instead.
    pub(super) fd: Option<OwnedFd>,
    /// In the run's process group when last looked at, so a signal to the
    /// group reaches it.
    pub(super) in_group: bool,
    pub(super) exited: bool,
}

impl Exec {
    /// Whether the group id still names our group. While a stage is
    /// unreaped (even a zombie) the group exists and its id cannot be reused.
    /// Once all are reaped, the group lives only while a grandchild is in it;
    /// if none is, the id is free for reuse and must not be signalled.
    pub(super) fn group_may_exist(&self) -> bool {
        !self.all_reaped() || sys::group_exists(self.pgid)
    }

    pub(super) fn begin_stop(&mut self, reason: Reason, sequence: StopSequence, now: Instant) {
        if let Some(stopping) = &mut self.stopping {
            if stop::escalates(&stopping.sequence, &sequence) {
                stopping.sequence = sequence;
                stopping.state = StopState::start(now);
                self.advance_stop(now);
            }
            return;
        }
        if self.finished() {
            return;
        }
        self.stopping = Some(Stopping {
            reason,
            signal: sequence.first_signal(),
            sequence,
            state: StopState::start(now),
            members: Vec::new(),
            empty: false,
        });
        self.advance_stop(now);
    }

    /// Takes the due steps of the stop sequence: the rule is
    /// [`stop::advance`]; this only carries its actions out.
    pub(super) fn advance_stop(&mut self, now: Instant) {
        let Some(stopping) = &mut self.stopping else {
            return;
        };
        let actions = stop::advance(&stopping.sequence, &mut stopping.state, now, stopping.empty);
        for raw in actions.signals {
            if let Some(signal) = sys::signal_from_raw(raw) {
                self.signal_tree(signal);
            }
        }
    }

    /// Looks for the processes of the tree that are not our stages: the
    /// group's other members, the processes of the run's cgroup, and the
    /// descendants of our stages that left the group (`setsid`, `setpgid`).
    /// While stopping, they are watched by pidfd, so we learn at once when
    /// the last one is gone. Returns them, each with whether it is in the
    /// group.
    ///
    /// `everything`: list all of `/proc` (for the group's members that are
    /// no descendant of ours any more); else only follow the parent links
    /// down from our processes, which is much cheaper (before a signal,
    /// where the group is reached by the group's signal anyway).
    pub(super) fn look_at_tree(&mut self, everything: bool) -> Vec<(Pid, bool)> {
        let mut roots: Vec<Pid> = self
            .procs
            .iter()
            .filter(|p| !p.done())
            .map(|p| p.pid)
            .collect();
        if let Some(stopping) = &self.stopping {
            roots.extend(stopping.members.iter().filter(|m| !m.exited).map(|m| m.pid));
        }
        let linked = if everything {
            None
        } else {
            sys::descendants(self.pgid, &roots).map(|mut found| {
                for pid in self
                    .cgroup
                    .as_ref()
                    .map(sys::Cgroup::pids)
                    .unwrap_or_default()
                {
                    if found.iter().all(|(p, _)| *p != pid) {
                        found.push((pid, sys::group_of(pid) == Some(self.pgid)));
                    }
                }
                found
            })
        };
        let live: Vec<(Pid, bool)> = linked
            .unwrap_or_else(|| {
                sys::tree_members(
                    self.pgid,
                    &roots,
                    self.cgroup.as_ref(),
                    self.started.elapsed(),
                )
            })
            .into_iter()
            .filter(|(pid, _)| self.procs.iter().all(|p| p.pid != *pid || p.done()))
            .collect();
        if let Some(stopping) = &mut self.stopping {
            for member in &mut stopping.members {
                match live.iter().find(|(pid, _)| *pid == member.pid) {
                    Some((_, in_group)) => member.in_group = *in_group,
                    None if member.fd.is_none() && everything => member.exited = true,
                    None => {}
                }
            }
            for (pid, in_group) in &live {
                if !stopping.members.iter().any(|m| m.pid == *pid) {
                    stopping.members.push(Member {
                        pid: *pid,
                        fd: sys::pidfd_open(*pid),
                        in_group: *in_group,
                        exited: false,
                    });
                }
            }
        }
        live
    }

    /// Once the stages are reaped and every watched process has exited, one
    /// more look decides whether the group is empty (a process may have
    /// forked since the last look). We wait for the pipes to close first:
    /// grandchildren that hold them are still dying until they do, and a
    /// look now would only find them and cost another look later.
    pub(super) fn check_group(&mut self) {
        if !self.all_reaped() || self.channels.iter().any(|c| c.fd.is_some()) {
            return;
        }
        let Some(stopping) = &self.stopping else {
            return;
        };
        if stopping.empty || stopping.members.iter().any(|m| m.fd.is_some() && !m.exited) {
            return;
        }
        // Without a process list (macOS, the BSDs), signal 0 tells whether
        // the group still has a process (zombies included).
        let alive = !self.look_at_tree(true).is_empty()
            || (!sys::LISTS_PROCESSES && sys::group_exists(self.pgid));
        if let Some(stopping) = &mut self.stopping {
            stopping.empty = !alive;
        }
    }

    /// Sends `signal` once to every live process of the tree: to the group,
    /// then by pidfd to each stage and descendant that has left it (a
    /// process still in the group must not get it twice: programs take a
    /// second `SIGINT` or `SIGTERM` as "quit now, skip the clean-up"). A
    /// `SIGKILL` also kills the run's cgroup, forks in flight included.
    pub(super) fn signal_tree(&mut self, signal: Signal) {
        let strays = self.look_at_tree(false);
        // Which stages left the group, asked before the group is signalled:
        // one that leaves in between misses this signal rather than getting
        // it twice.
        let outside: Vec<usize> = (0..self.procs.len())
            .filter(|&i| {
                let proc = &self.procs[i];
                !proc.done() && sys::group_of(proc.pid).is_some_and(|g| g != self.pgid)
            })
            .collect();
        if self.group_may_exist() {
            let _ = sys::signal_group(self.pgid, signal);
        }
        for i in outside {
            let proc = &self.procs[i];
            let _ = sys::signal_process(proc.pid, proc.pidfd.as_ref(), signal);
        }
        for (pid, in_group) in strays {
            if in_group {
                continue;
            }
            let watched = self
                .stopping
                .as_ref()
                .and_then(|s| s.members.iter().find(|m| m.pid == pid));
            match watched {
                Some(member) => {
                    let _ = sys::signal_process(pid, member.fd.as_ref(), signal);
                }
                None => {
                    if let Some(fd) = sys::pidfd_open(pid) {
                        let _ = sys::signal_process(pid, Some(&fd), signal);
                    }
                }
            }
        }
        if signal == Signal::KILL {
            if let Some(cgroup) = &self.cgroup {
                cgroup.kill();
            }
        }
    }

    /// The processes of the tree still running as the run ends: those that
    /// held a pipe given up on, and those a stop did not see die.
    pub(super) fn escaped(&self) -> Vec<Escaped> {
        let mut pids = self.holders.clone();
        if let Some(stopping) = &self.stopping {
            if !stopping.empty {
                pids.extend(stopping.members.iter().filter(|m| !m.exited).map(|m| m.pid));
            }
        }
        pids.sort_by_key(|p| sys::pid_to_raw(*p));
        pids.dedup();
        pids.into_iter()
            .filter(|pid| sys::is_live(*pid))
            .filter_map(|pid| {
                Some(Escaped {
                    pid: sys::pid_to_raw(pid),
                    command: sys::command_line(pid)?,
                })
            })
            .collect()
    }
}
