//! Signals: a forwarded Ctrl-C reaches every run, whoever drives it, and
//! lets a pool report every job.
//!
//! Each test re-executes this test binary as the program under test: it runs
//! only `terminal_child`, which does nothing unless `PROCESSION_TERMINAL_CHILD`
//! names a scenario.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use procession::{JobEvent, JobOutput, Pool, cmd};
use support::procfs;

const CHILD_ENV: &str = "PROCESSION_TERMINAL_CHILD";
const DIR_ENV: &str = "PROCESSION_TERMINAL_DIR";

/// The most any step may take, so a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The program under test
// ---------------------------------------------------------------------------

/// The program under test (see the file's doc).
#[test]
fn terminal_child() {
    let Some(scenario) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    match scenario.to_str().expect("a scenario name") {
        "sigint-pool" => child_sigint_pool(),
        "sigint-lines" => child_sigint_lines(),
        other => panic!("unknown scenario {other:?}"),
    }
}

/// A pool batch of six jobs, two at a time, when SIGINT comes.
fn child_sigint_pool() {
    procession::forward_signals().expect("forward signals");
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("the test sets the directory"));
    let log = std::fs::File::create(dir.join("joblog")).expect("create the job log");
    let started = Arc::new(Mutex::new(0));
    let counter = started.clone();
    let pool = Pool::builder()
        .jobs(2)
        .output(JobOutput::Discard)
        .joblog(log)
        .on_event(move |event| {
            if let JobEvent::Started { seq, pids, .. } = event {
                for pid in *pids {
                    println!("@@pid {pid}");
                }
                println!("@@started {seq}");
                let mut started = counter.lock().unwrap();
                *started += 1;
                if *started == 2 {
                    println!("@@ready");
                }
            }
        })
        .build();
    // The second job ignores SIGTERM, so it takes its stop sequence's full
    // second to stop: meanwhile the first job's slot is free.
    let jobs = (0..6).map(|i| match i {
        1 => cmd!(support::pt(), "ignore-term", "30"),
        _ => cmd!(support::pt(), "grandchild", "30", "1", "--hold", "30"),
    });
    for done in pool.as_completed(jobs) {
        println!("@@done {}", done.seq());
    }
    println!("@@end");
}

/// A `lines()` iterator that nobody pulls when SIGINT comes.
fn child_sigint_lines() {
    procession::forward_signals().expect("forward signals");
    let mut lines = cmd!(support::pt(), "grandchild", "30", "2", "--hold", "30")
        .lines()
        .expect("start");
    for _ in 0..2 {
        let pid = lines.next().expect("a line").expect("a pid");
        println!("@@pid {pid}");
    }
    println!("@@ready");
    std::thread::sleep(LIMIT);
    panic!("still alive {LIMIT:?} after `ready`");
}

// ---------------------------------------------------------------------------
// Test helpers
// ---------------------------------------------------------------------------

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("procession-terminal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// The command line that runs `scenario` of this binary.
fn child_command(scenario: &str, dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "--exact",
            "terminal_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, scenario)
        .env(DIR_ENV, dir);
    command
}

/// The `@@pid N` values in `text`.
fn pids(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.split("@@pid ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------
// A forwarded SIGINT, without a terminal
// ---------------------------------------------------------------------------

/// Runs `scenario`, sends SIGINT once it prints `@@ready`, and returns its
/// output, its exit and how long it took to end after the signal.
fn interrupt(scenario: &str, dir: &Path) -> (String, std::process::ExitStatus, Duration) {
    let mut child = child_command(scenario, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-execute the test binary");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut text = String::new();
    let until = Instant::now() + LIMIT;
    while !text.contains("@@ready") {
        match lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(line) => text.push_str(&(line + "\n")),
            Err(_) => {
                let _ = child.kill();
                panic!("the program never got ready:\n{text}");
            }
        }
    }
    let signalled = Instant::now();
    procfs::send_signal(child.id(), "INT");
    let status = child.wait().expect("wait");
    let took = signalled.elapsed();
    text.extend(lines.iter().map(|l| l + "\n"));
    (text, status, took)
}

#[test]
fn sigint_stops_a_lines_iterator_that_nobody_pulls() {
    let dir = scratch("sigint-lines");
    let (text, status, took) = interrupt("sigint-lines", &dir);
    assert_eq!(status.signal(), Some(2), "{status:?}\n{text}");
    // The forwarder gives up after ten seconds: it must not have had to.
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    let pids = pids(&text);
    assert_eq!(pids.len(), 2, "{text}");
    let live: Vec<u32> = pids.into_iter().filter(|p| procfs::is_live(*p)).collect();
    assert!(live.is_empty(), "{live:?} outlived the SIGINT");
}

#[test]
fn sigint_during_a_pool_batch_starts_nothing_more_and_reports_every_job() {
    let dir = scratch("sigint-pool");
    let (text, status, _) = interrupt("sigint-pool", &dir);
    assert_eq!(status.signal(), Some(2), "{status:?}\n{text}");
    let started = text.matches("@@started").count();
    assert_eq!(started, 2, "jobs started after the signal:\n{text}");
    assert!(
        text.contains("@@done 1") && text.contains("@@done 2"),
        "a job was not reported:\n{text}"
    );
    let log = std::fs::read_to_string(dir.join("joblog")).expect("the job log");
    assert_eq!(log.lines().count(), 1 + 2, "the job log:\n{log}");
    // Each job's group holds its grandchild too.
    let live: Vec<u32> = pids(&text)
        .into_iter()
        .flat_map(procfs::live_group_members)
        .collect();
    assert!(live.is_empty(), "{live:?} outlived the SIGINT");
}
