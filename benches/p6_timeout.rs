//! P6: how late a timeout returns, and what it leaves behind.
//!
//! The job: `pt grandchild SECS 1 --hold 30`, stdout captured. The child
//! starts a grandchild (`pt sleep SECS`) that holds stdout too, prints its
//! pid, and sleeps 30 s; the deadline is 50 ms after the call starts. We
//! measure the overshoot (from the deadline to the moment the call returns)
//! and count survivors: processes of the job (the child, the pids it
//! printed, and for procession every member of its process group) that still
//! exist, not as zombies, when the call returns; those still alive 50 ms
//! later are "lasting" (the others were caught exiting). Survivors are then
//! killed so they do not pile up. The number of processes on the machine is
//! printed too: procession's stop scans `/proc`, so its overshoot grows with
//! it.
//!
//! - procession: `.stdout_capture().deadline(t).run()`: the whole group is
//!   stopped, and the call returns once it is gone. Goal: overshoot p50 <= 2
//!   ms, p99 <= 10 ms, and no survivor.
//! - duct: `stdout_capture().start()`, `wait_deadline(t)`, `kill()`,
//!   `wait()`. `wait` joins the thread reading stdout, which ends only when
//!   the grandchild exits: that is the point of the comparison.
//! - subprocess (0.2.9): `stdout(Pipe).popen()`,
//!   `communicate_start(None).limit_time(..).read()` (its
//!   way to capture with a time limit), then `kill()` and `wait()`.
//!
//! The baselines' grandchild sleeps only `PROCESSION_P6_BASELINE_SECS`
//! (default 2) seconds, which caps how long duct's `wait` can hang (with
//! procession's 30 s it would hang 30 s), and they run
//! `PROCESSION_P6_BASELINE_COUNT` times (default 20), spread evenly among the
//! `PROCESSION_P6_COUNT` (default 200) procession runs.
//!
//! Run: `cargo bench --bench p6_timeout`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use subprocess::{Exec, Redirection};

/// The time limit of every call.
const LIMIT: Duration = Duration::from_millis(50);

/// How long we give survivors to finish exiting before we call them lasting.
const SETTLE: Duration = Duration::from_millis(50);

/// How long the child holds stdout, in seconds (beyond any deadline here).
const HOLD: &str = "30";

/// One timed-out call.
struct Trial {
    /// From the deadline to the return of the call (zero if it returned
    /// before the deadline, which is counted in `early`).
    overshoot: Duration,
    early: bool,
    /// The call did not end in a timeout as expected (e.g. a spawn error).
    odd: Option<String>,
    /// Processes of the job alive (not zombies) when the call returned.
    survivors: usize,
    /// Of those, the ones still alive [`SETTLE`] later.
    lasting: usize,
    /// The child printed its grandchild's pid (so survivors could be seen).
    saw_grandchild: bool,
}

/// The job's command line after the program: `grandchild SECS 1 --hold 30`.
fn job_args(secs: &str) -> [&str; 5] {
    ["grandchild", secs, "1", "--hold", HOLD]
}

fn procession_trial(pt: &Path) -> Trial {
    let deadline = Instant::now() + LIMIT;
    let command = procession::Command::new(pt)
        .args(job_args(HOLD))
        .stdout_capture();
    let result = command.deadline(deadline).run();
    let returned = Instant::now();
    let (output, odd) = match &result {
        Err(e) if e.timeout().is_some() => (e.output(), None),
        Err(e) => (e.output(), Some(format!("error {e}"))),
        Ok(out) => (Some(out), Some("no timeout".to_string())),
    };
    let stdout = output.map(|o| o.stdout.as_slice()).unwrap_or_default();
    let mut pids = printed_pids(stdout);
    let saw_grandchild = !pids.is_empty();
    if let Some(out) = output {
        let leader = out.stages[0].pid;
        pids.push(leader);
        pids.extend(group_members(leader));
    }
    finish(deadline, returned, odd, &pids, saw_grandchild)
}

fn duct_trial(pt: &Path, secs: &str) -> Trial {
    let deadline = Instant::now() + LIMIT;
    let expression = duct::cmd(pt, job_args(secs)).stdout_capture().unchecked();
    let handle = match expression.start() {
        Ok(handle) => handle,
        Err(e) => return failed(deadline, format!("start: {e}")),
    };
    let early = handle.wait_deadline(deadline);
    let _ = handle.kill();
    let result = handle.wait();
    let returned = Instant::now();
    let odd = match (&early, &result) {
        (Ok(None), Ok(_)) => None,
        _ => Some(format!("wait_deadline {early:?}, wait {result:?}")),
    };
    let mut pids = result.map(|o| printed_pids(&o.stdout)).unwrap_or_default();
    let saw_grandchild = !pids.is_empty();
    pids.extend(handle.pids());
    finish(deadline, returned, odd, &pids, saw_grandchild)
}

fn subprocess_trial(pt: &Path, secs: &str) -> Trial {
    let deadline = Instant::now() + LIMIT;
    let exec = Exec::cmd(pt)
        .args(&job_args(secs))
        .stdout(Redirection::Pipe);
    let mut job = match exec.popen() {
        Ok(job) => job,
        Err(e) => return failed(deadline, format!("popen: {e}")),
    };
    let limit = deadline.saturating_duration_since(Instant::now());
    let read = job.communicate_start(None).limit_time(limit).read();
    let _ = job.kill();
    let waited = job.wait();
    let returned = Instant::now();
    let (stdout, odd) = match read {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut && waited.is_ok() => (e.capture.0, None),
        Err(e) => (
            e.capture.0.clone(),
            Some(format!("read {e:?}, wait {waited:?}")),
        ),
        Ok((stdout, _)) => (stdout, Some(format!("no timeout, wait {waited:?}"))),
    };
    let mut pids = printed_pids(&stdout.unwrap_or_default());
    let saw_grandchild = !pids.is_empty();
    pids.extend(job.pid());
    drop(job);
    finish(deadline, returned, odd, &pids, saw_grandchild)
}

/// A call that failed before it could time out.
fn failed(deadline: Instant, why: String) -> Trial {
    finish(deadline, Instant::now(), Some(why), &[], false)
}

/// Counts the survivors among `pids`, kills them, and makes the trial.
/// Survivors still there after [`SETTLE`] are counted apart: the others
/// were caught exiting.
fn finish(
    deadline: Instant,
    returned: Instant,
    odd: Option<String>,
    pids: &[u32],
    saw_grandchild: bool,
) -> Trial {
    let mut alive: Vec<u32> = pids.iter().copied().filter(|&p| is_alive(p)).collect();
    alive.sort_unstable();
    alive.dedup();
    let mut lasting = 0;
    if !alive.is_empty() {
        std::thread::sleep(SETTLE);
        lasting = alive.iter().filter(|&&p| is_alive(p)).count();
    }
    for &pid in &alive {
        if let Some(pid) = Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
    Trial {
        overshoot: returned.saturating_duration_since(deadline),
        early: returned < deadline,
        odd,
        survivors: alive.len(),
        lasting,
        saw_grandchild,
    }
}

/// The number of processes on the machine: each stop of procession scans
/// them all in `/proc`.
fn process_count() -> usize {
    std::fs::read_dir("/proc").map_or(0, |dir| {
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count()
    })
}

/// The pids the helper printed, one per line.
fn printed_pids(stdout: &[u8]) -> Vec<u32> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name: state, ppid,
/// pgrp, ...
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_string).collect())
}

/// The process exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    stat_fields(&pid.to_string()).is_some_and(|f| f[0] != "Z" && f[0] != "X")
}

/// Every process (zombies too) whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let wanted = pgid.to_string();
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(&pid.to_string()).is_some_and(|f| f[2] == wanted))
        .collect()
}

/// The trials of one library, and what they add up to.
struct Tally {
    name: &'static str,
    trials: Vec<Trial>,
}

impl Tally {
    fn sorted_overshoots(&self) -> Vec<Duration> {
        let mut o: Vec<Duration> = self.trials.iter().map(|t| t.overshoot).collect();
        o.sort();
        o
    }

    fn survivors(&self) -> usize {
        self.trials.iter().map(|t| t.survivors).sum()
    }

    fn row(&self) {
        let o = self.sorted_overshoots();
        let q = |p| format!("{:.3?}", common::percentile(&o, p));
        let lasting: usize = self.trials.iter().map(|t| t.lasting).sum();
        let with_survivors = self.trials.iter().filter(|t| t.survivors > 0).count();
        println!(
            "{:<12} {:>5} {:>11} {:>11} {:>11} {:>10} {:>10} {:>10}",
            self.name,
            self.trials.len(),
            q(0.5),
            q(0.99),
            q(1.0),
            self.survivors(),
            lasting,
            with_survivors
        );
    }

    /// Lines about anything unexpected: early returns, odd results, runs
    /// where no grandchild pid was seen.
    fn notes(&self) {
        let early = self.trials.iter().filter(|t| t.early).count();
        let blind = self.trials.iter().filter(|t| !t.saw_grandchild).count();
        let odd: Vec<&String> = self.trials.iter().filter_map(|t| t.odd.as_ref()).collect();
        if early > 0 {
            println!(
                "note: {}: {early} calls returned before the deadline",
                self.name
            );
        }
        if blind > 0 {
            println!(
                "note: {}: {blind} runs printed no grandchild pid",
                self.name
            );
        }
        if let Some(first) = odd.first() {
            println!(
                "note: {}: {} calls did not time out as expected, e.g. {first}",
                self.name,
                odd.len()
            );
        }
    }
}

fn main() {
    let count = support::env_usize("PROCESSION_P6_COUNT", 200).max(1);
    let baseline_count = support::env_usize("PROCESSION_P6_BASELINE_COUNT", 20).min(count);
    let baseline_secs = support::env_usize("PROCESSION_P6_BASELINE_SECS", 2).to_string();
    let pt = support::pt();
    let processes_before = process_count();
    println!(
        "P6 timeout: job `pt grandchild SECS 1 --hold {HOLD}`, stdout captured, deadline {LIMIT:?} \
         after the call starts; procession {count} runs (PROCESSION_P6_COUNT, SECS = {HOLD}); \
         duct and subprocess {baseline_count} runs each (PROCESSION_P6_BASELINE_COUNT, SECS = \
         {baseline_secs}, PROCESSION_P6_BASELINE_SECS)"
    );
    let mut tallies = [
        Tally {
            name: "procession",
            trials: Vec::new(),
        },
        Tally {
            name: "duct",
            trials: Vec::new(),
        },
        Tally {
            name: "subprocess",
            trials: Vec::new(),
        },
    ];
    // One baseline run of each after every `every` procession runs.
    let every = count.checked_div(baseline_count).unwrap_or(usize::MAX);
    for i in 0..count {
        tallies[0].trials.push(procession_trial(pt));
        if i % every == 0 && tallies[1].trials.len() < baseline_count {
            tallies[1].trials.push(duct_trial(pt, &baseline_secs));
            tallies[2].trials.push(subprocess_trial(pt, &baseline_secs));
        }
    }
    println!(
        "processes on the machine: {processes_before} before, {} after (each procession stop \
         scans them all in /proc)",
        process_count()
    );
    report(&tallies, &baseline_secs);
}

fn report(tallies: &[Tally], baseline_secs: &str) {
    println!(
        "\nP6 overshoot past the deadline; survivors when the call returned, those still \
         alive {SETTLE:?} later, and the runs that left any"
    );
    println!(
        "{:<12} {:>5} {:>11} {:>11} {:>11} {:>10} {:>10} {:>10}",
        "library", "runs", "p50", "p99", "max", "survivors", "lasting", "runs"
    );
    for tally in tallies {
        tally.row();
    }
    for tally in tallies {
        tally.notes();
    }
    let rows: Vec<(String, Duration)> = tallies
        .iter()
        .filter(|t| !t.trials.is_empty())
        .map(|t| {
            (
                t.name.to_string(),
                common::percentile(&t.sorted_overshoots(), 0.5),
            )
        })
        .collect();
    if rows.iter().any(|(name, _)| name == "duct") {
        let title = format!("P6 median overshoot (baselines' grandchild sleeps {baseline_secs} s)");
        common::report(&title, "duct", &rows, None);
    }
    let o = tallies[0].sorted_overshoots();
    let (p50, p99) = (common::percentile(&o, 0.5), common::percentile(&o, 0.99));
    let survivors = tallies[0].survivors();
    common::verdict(
        &format!("procession p50 <= 2ms: {p50:.3?}"),
        p50 <= Duration::from_millis(2),
    );
    common::verdict(
        &format!("procession p99 <= 10ms: {p99:.3?}"),
        p99 <= Duration::from_millis(10),
    );
    common::verdict(
        &format!("procession survivors == 0: {survivors}"),
        survivors == 0,
    );
}
