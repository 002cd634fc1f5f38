//! Fault injection through the pool (R3 + R4): one large batch where jobs
//! succeed, exit non-zero, crash with `SIGSEGV`, kill themselves with
//! `SIGKILL`, time out (a few), print 10 MB (a few) or name a missing
//! program. Every job must be reported exactly once and classified right,
//! the batch must end within a generous deadline, and afterwards this
//! process must have no child left (zombie or not), no extra file
//! descriptor and no extra thread.
//!
//! Size: `PROCESSION_FAULT_JOBS` jobs (default 1000; CI runs 1000, a soak run
//! 10000). This file holds a single test so that nothing else runs in the
//! process while descriptors and threads are counted.

mod support;

use support::procfs;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use procession::{Command, Done, Failure, JobOutput, Keep, Pool};

/// How much output each job keeps (the tail, per stream).
const KEEP: usize = 64 * 1024;

/// What a job of the batch does, and how it must be classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Success,
    Exit,
    Segv,
    Kill,
    Timeout,
    Print10M,
    Missing,
}

/// The fault of job `i` (from 0): mostly cheap kinds, with timeouts and
/// 10 MB writers kept rare so the batch stays fast.
fn fault_of(i: usize) -> Fault {
    match i {
        i if i % 100 == 0 => Fault::Timeout,
        i if i % 250 == 7 => Fault::Print10M,
        i => match i % 5 {
            0 => Fault::Success,
            1 => Fault::Exit,
            2 => Fault::Segv,
            3 => Fault::Kill,
            _ => Fault::Missing,
        },
    }
}

fn job(fault: Fault) -> Command {
    let pt = || Command::new(support::pt());
    match fault {
        Fault::Success => pt().arg("exit").arg("0"),
        Fault::Exit => pt().arg("exit").arg("3"),
        Fault::Segv => pt().arg("kill-self").arg("SEGV"),
        Fault::Kill => pt().arg("kill-self").arg("KILL"),
        Fault::Timeout => pt()
            .arg("sleep")
            .arg("10")
            .timeout(Duration::from_millis(50)),
        Fault::Print10M => pt().arg("write").arg("10M"),
        Fault::Missing => Command::new("procession-fault-no-such-program"),
    }
}

/// Checks one report against its fault.
fn check(done: &Done, fault: Fault) {
    let want = match fault {
        Fault::Success | Fault::Print10M => None,
        Fault::Exit => Some(Failure::Exit(3)),
        Fault::Segv => Some(Failure::Signal(11)),
        Fault::Kill => Some(Failure::Signal(9)),
        Fault::Timeout => Some(Failure::Timeout),
        Fault::Missing => Some(Failure::Spawn),
    };
    assert_eq!(
        done.failure(),
        want,
        "job #{} ({fault:?}): {:?}",
        done.seq(),
        done.error()
    );
    if fault == Fault::Print10M {
        let out = done.output().unwrap();
        assert_eq!(out.stdout.len(), KEEP);
        assert!(out.stdout_truncated);
    }
}

/// Every thread of this process (the file holds one test, so the harness
/// runs no other).
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn run_batch(n: usize) -> Vec<Done> {
    let pool = Pool::builder()
        .jobs(16)
        .output(JobOutput::Capture {
            limit: Some(KEEP),
            keep: Keep::Tail,
        })
        .build();
    pool.as_completed((0..n).map(|i| job(fault_of(i))))
        .collect()
}

#[test]
fn every_fault_is_reported_once_and_nothing_leaks() {
    let n = support::env_usize("PROCESSION_FAULT_JOBS", 1000);
    // Warm up: the helper binary, the engine's background thread, the
    // spool of the allocator.
    let warm = run_batch(20);
    assert_eq!(warm.len(), 20);
    let (fds, threads_before) = (procfs::open_fds(), threads());

    // The batch runs on its own thread so a hang is a failure, not a stall.
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(run_batch(n));
    });
    let limit = Duration::from_secs(120 + n as u64 / 10);
    let reports = rx
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{n} jobs did not finish within {limit:?}"));
    worker.join().unwrap();

    let mut by_seq: BTreeMap<u64, &Done> = BTreeMap::new();
    for done in &reports {
        assert!(
            by_seq.insert(done.seq(), done).is_none(),
            "job #{} reported twice",
            done.seq()
        );
    }
    assert_eq!(by_seq.len(), n, "every job is reported");
    let mut kinds: BTreeMap<Fault, usize> = BTreeMap::new();
    for (seq, done) in &by_seq {
        let fault = fault_of(*seq as usize - 1);
        check(done, fault);
        *kinds.entry(fault).or_default() += 1;
    }
    println!("{n} jobs: {kinds:?}");
    drop(reports);

    assert_eq!(procfs::children(), [], "children left behind");
    assert_eq!(procfs::open_fds(), fds, "descriptors leaked");
    assert_eq!(threads(), threads_before, "threads leaked");
}
