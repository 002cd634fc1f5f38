//! R6: with `forward_signals()`, a SIGINT to the program first stops every
//! running command's whole process tree, then ends the program with SIGINT.
//!
//! The test re-executes its own test binary as a child program that runs only
//! `r6_child` (which does nothing unless `PROCESSION_R6_CHILD` is set). The
//! child turns forwarding on, starts commands with grandchildren (a started
//! command, a started pipeline, and a blocking `run()` on another thread),
//! prints their pids and process groups, prints `ready` and blocks. The parent
//! sends SIGINT and checks that the child died of it and left nothing alive.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use procession::{Command, Handle, cmd};
use support::procfs;

const CHILD_ENV: &str = "PROCESSION_R6_CHILD";

/// How long the child may take, so a bug cannot hang the test.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------

/// Starts `cmd` with stdout on a socket and reads the `n` grandchild pids
/// it prints.
fn start_and_read_pids(cmd: Command, n: usize) -> (Handle, Vec<u32>) {
    let (file, mut reader) = socket();
    let handle = cmd.stdout_file(file).start().expect("start");
    (handle, read_pids(&mut reader, n))
}

/// A socket pair: the `File` for a command's stdout, the reader for us.
fn socket() -> (File, BufReader<UnixStream>) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    (File::from(OwnedFd::from(theirs)), BufReader::new(ours))
}

fn read_pids(reader: &mut BufReader<UnixStream>, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read a pid");
            line.trim().parse().expect("a pid")
        })
        .collect()
}

fn report(what: &str, groups: &[u32], pids: &[u32]) {
    for group in groups {
        println!("R6 group {group} ({what})");
    }
    for pid in pids {
        println!("R6 pid {pid} ({what})");
    }
}

fn grandchildren() -> Command {
    cmd!(support::pt(), "grandchild", "30", "2", "--hold", "30")
}

/// The child program (see the file's doc). Does nothing unless re-executed
/// by `sigint_stops_every_tree_then_ends_the_program`.
#[test]
fn r6_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    procession::forward_signals().expect("forward signals");

    let (single, pids) = start_and_read_pids(grandchildren(), 2);
    report(
        "started command",
        &[single.pid()],
        &[single.pids(), &pids].concat(),
    );

    let (pipeline, pids) = start_and_read_pids(grandchildren() | cmd!(support::pt(), "cat"), 2);
    report(
        "pipeline",
        &[pipeline.pid()],
        &[pipeline.pids(), &pids].concat(),
    );

    let (file, mut reader) = socket();
    let blocking = grandchildren().stdout_file(file);
    std::thread::spawn(move || blocking.run());
    let pids = read_pids(&mut reader, 2);
    let group = procfs::stat(pids[0]).expect("the grandchild runs").pgrp;
    report("run() on another thread", &[group], &pids);

    println!("R6 ready");
    // The SIGINT ends this process; the sleep only bounds a failure.
    std::thread::sleep(CHILD_LIMIT);
    panic!("still alive {CHILD_LIMIT:?} after `ready`: the SIGINT did not end the program");
}

// ---------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------

/// What the parent learns from the child's stdout.
#[derive(Default)]
struct Report {
    groups: Vec<u32>,
    pids: Vec<u32>,
}

/// Parses the child's `R6 ...` lines (libtest may print before them on the
/// same line) until `R6 ready`. `None` if the child ends first or times out.
fn read_report(lines: &mpsc::Receiver<String>, until: Instant) -> Option<Report> {
    let mut report = Report::default();
    loop {
        let line = lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .ok()?;
        let Some(start) = line.find("R6 ") else {
            continue;
        };
        let mut words = line[start + 3..].split_whitespace();
        match (words.next(), words.next().and_then(|w| w.parse().ok())) {
            (Some("ready"), _) => return Some(report),
            (Some("group"), Some(id)) => report.groups.push(id),
            (Some("pid"), Some(id)) => report.pids.push(id),
            _ => {}
        }
    }
}

#[test]
fn sigint_stops_every_tree_then_ends_the_program() {
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "r6_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-execute the test binary");
    let pid = child.id();
    let until = Instant::now() + CHILD_LIMIT;

    let (line_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    // Surviving grandchildren would hold stderr open: never wait on it long.
    let (stderr_tx, stderr_text) = mpsc::channel();
    let mut stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = stderr_tx.send(text);
    });
    let (status_tx, status) = mpsc::channel::<ExitStatus>();
    std::thread::spawn(move || {
        let _ = status_tx.send(child.wait().expect("wait for the child"));
    });

    let report = read_report(&lines, until);
    if report.is_some() {
        procfs::send_signal(pid, "INT");
    }
    let exit = status.recv_timeout(until.saturating_duration_since(Instant::now()));
    if exit.is_err() {
        procfs::kill(pid);
    }
    let stderr = stderr_text
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_else(|_| "(still open: something outlived the child)".into());
    let report = report.unwrap_or_else(|| panic!("the child never got ready; stderr:\n{stderr}"));
    let exit = exit.unwrap_or_else(|_| panic!("the child did not end; stderr:\n{stderr}"));

    assert_eq!(
        exit.signal(),
        Some(2),
        "the child must die of SIGINT: {exit:?}; stderr:\n{stderr}"
    );
    assert_eq!(report.groups.len(), 3, "three commands were reported");
    assert_eq!(
        report.pids.len(),
        3 + 4 + 2,
        "every stage and grandchild was reported"
    );
    for group in &report.groups {
        let members = procfs::live_group_members(*group);
        assert!(
            members.is_empty(),
            "group {group} still has live processes {members:?}"
        );
    }
    let live: Vec<u32> = report
        .pids
        .iter()
        .copied()
        .filter(|p| procfs::is_live(*p))
        .collect();
    assert!(live.is_empty(), "processes {live:?} outlived the SIGINT");
}
