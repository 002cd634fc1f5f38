//! Descendants that leave the process group, and signals sent once.
//!
//! What is checked: a process that a command starts in a new session
//! (`setsid`) or a new group (`setpgid(0, 0)`, as coreutils `timeout` does)
//! is stopped with the rest of the tree by a timeout, `terminate`, a dropped
//! handle, a pipeline's timeout and a pool's timeout; one that also leaves
//! its parent (`setsid -f`, a daemon's double fork) is stopped when the run
//! has a cgroup, and named in the output and the error when it has not;
//! every process gets each signal once (real-time signals, which queue,
//! tell); and signals that cannot be sent are typed errors.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use procession::{Command, Error, Handle, InvalidInput, Pool, StopSequence};
use support::{procfs, pt_cmd};

/// The timeout of the tests that stop a tree.
const LIMIT: Duration = Duration::from_millis(300);

/// `pt escape HOW 100`: prints the pid of a `pt sleep 100` that left the
/// group.
fn escaper(how: &str) -> Command {
    pt_cmd(&["escape", how, "100"])
}

fn first_pid(text: &[u8]) -> u32 {
    String::from_utf8_lossy(text)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {:?}", String::from_utf8_lossy(text)))
}

fn assert_gone(what: &str, pid: u32) {
    // Stopped means dead by the time the run returns; only init's reaping of
    // the orphan's zombie may lag, and a zombie is not live.
    assert!(!procfs::is_live(pid), "{what}: {pid} survived");
}

/// Starts `cmd` with stdout on a socket and returns the handle and the
/// first line, so the test knows the tree is set up without sleeping.
fn start_and_read(cmd: Command) -> (Handle, String, BufReader<UnixStream>) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let handle = cmd
        .stdout_file(File::from(OwnedFd::from(theirs)))
        .start()
        .expect("start");
    let mut reader = BufReader::new(ours);
    let mut line = String::new();
    reader.read_line(&mut line).expect("a line");
    (handle, line.trim().to_string(), reader)
}

/// Whether this machine lets a run have a cgroup of its own: the command
/// sees itself in a cgroup named after the crate.
fn cgroups_work() -> bool {
    // `pt escape ... --after-eof` reads its stdin to the end before it
    // looks: the run closes it once the spawn (and the move) is over.
    in_cgroup(pt_cmd(&["cgroup"]).cgroup(true))
}

/// Whether `command` (`pt cgroup`) finds itself in a run's own cgroup.
fn in_cgroup(command: Command) -> bool {
    command
        .stdin_bytes("")
        .read()
        .is_ok_and(|s| s.contains("procession-"))
}

/// `pt escape HOW 100`, once the run is set up, in a cgroup of its own.
fn contained(how: &str) -> Command {
    pt_cmd(&["escape", how, "100", "--after-eof"])
        .stdin_bytes("")
        .cgroup(true)
}

// ---------------------------------------------------------------------------
// setsid and setpgid: stopped by default
// ---------------------------------------------------------------------------

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn a_timeout_stops_descendants_that_left_the_group() {
    for how in ["setsid", "setpgid"] {
        let err = escaper(how)
            .stdout_capture()
            .timeout(LIMIT)
            .run()
            .unwrap_err();
        let stopped = err.timeout().expect("a timeout");
        let pid = first_pid(stopped.partial_stdout());
        assert_gone(how, pid);
        assert!(stopped.output().escaped.is_empty(), "{how}: {err}");
    }
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn terminate_and_drop_stop_descendants_that_left_the_group() {
    for how in ["setsid", "setpgid"] {
        let (handle, pid, _reader) = start_and_read(escaper(how));
        let pid: u32 = pid.parse().unwrap();
        handle.terminate();
        handle.wait().unwrap_err();
        assert_gone(&format!("terminate, {how}"), pid);

        let (handle, pid, _reader) = start_and_read(escaper(how));
        let pid: u32 = pid.parse().unwrap();
        drop(handle);
        assert_gone(&format!("drop, {how}"), pid);
    }
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn a_pipeline_timeout_stops_descendants_that_left_the_group() {
    for how in ["setsid", "setpgid"] {
        let err = (escaper(how) | pt_cmd(&["cat"]))
            .stdout_capture()
            .timeout(LIMIT)
            .run()
            .unwrap_err();
        let pid = first_pid(err.timeout().expect("a timeout").partial_stdout());
        assert_gone(how, pid);
    }
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn a_pool_timeout_stops_descendants_that_left_the_group() {
    let pool = Pool::builder().jobs(2).timeout(LIMIT).build();
    let jobs = [
        escaper("setsid").stdout_capture(),
        escaper("setpgid").stdout_capture(),
    ];
    for done in pool.map(jobs) {
        let Err(err) = done.result() else {
            panic!("the job was not stopped")
        };
        let pid = first_pid(err.timeout().expect("a timeout").partial_stdout());
        assert_gone("pool", pid);
    }
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn coreutils_timeout_and_its_child_are_stopped() {
    if !Path::new("/usr/bin/timeout").exists() && !Path::new("/bin/timeout").exists() {
        eprintln!("skipped: no coreutils timeout");
        return;
    }
    // `timeout` puts itself in a group of its own, then runs the program;
    // the shell (this test is about a shell line) forks it, and the `; :`
    // keeps the shell from replacing itself with it.
    let script = format!("timeout 100 {} sleep 1000; :", support::pt().display());
    let handle = procession::sh(&script).timeout(LIMIT).start().unwrap();
    let child_of = |parent: u32| {
        procfs::all_pids()
            .into_iter()
            .find(|p| procfs::stat(*p).is_some_and(|s| s.ppid == parent))
    };
    let (mut timeout, mut sleeper) = (None, None);
    assert!(procfs::eventually(Duration::from_secs(10), || {
        timeout = child_of(handle.pid());
        sleeper = timeout.and_then(child_of);
        sleeper.is_some()
    }));
    let err = handle.wait().unwrap_err();
    assert!(err.timeout().is_some(), "{err}");
    assert_gone("timeout", timeout.unwrap());
    assert_gone("timeout's child", sleeper.unwrap());
}

// ---------------------------------------------------------------------------
// setsid -f and double forks: a cgroup stops them, else they are named
// ---------------------------------------------------------------------------

#[test]
fn a_cgroup_holds_the_command() {
    if !cgroups_work() {
        eprintln!("skipped: no writable cgroup v2 hierarchy");
        return;
    }
    // Without it, the command is where we are.
    assert!(!in_cgroup(pt_cmd(&["cgroup"])));
}

#[test]
fn a_cgroup_stops_descendants_that_left_group_and_parent() {
    if !cgroups_work() {
        eprintln!("skipped: no writable cgroup v2 hierarchy");
        return;
    }
    // Timeout, a pipeline's timeout, terminate and drop.
    let err = contained("double-fork")
        .stdout_capture()
        .timeout(LIMIT)
        .run()
        .unwrap_err();
    let stopped = err.timeout().expect("a timeout");
    assert_gone("double fork", first_pid(stopped.partial_stdout()));
    assert!(!stopped.output().incomplete, "{err}");
    assert!(stopped.output().escaped.is_empty(), "{err}");

    let err = (contained("double-fork") | pt_cmd(&["cat"]))
        .cgroup(true)
        .stdout_capture()
        .timeout(LIMIT)
        .run()
        .unwrap_err();
    let pid = first_pid(err.timeout().expect("a timeout").partial_stdout());
    assert_gone("pipeline, double fork", pid);

    let (handle, pid, _reader) = start_and_read(contained("double-fork"));
    handle.terminate();
    handle.wait().unwrap_err();
    assert_gone("terminate, double fork", pid.parse().unwrap());

    let (handle, pid, _reader) = start_and_read(contained("double-fork"));
    drop(handle);
    assert_gone("drop, double fork", pid.parse().unwrap());

    // And real `setsid -f`, where installed.
    if Path::new("/usr/bin/setsid").exists() {
        // `read` waits until the run is set up (see `contained`). The
        // escaper's duration names it: ours, not another copy's of this
        // test running meanwhile.
        let secs = format!("101.{}", std::process::id());
        let script = format!(
            "read go; setsid -f {} sleep {secs}; exec {} sleep 100",
            support::pt().display(),
            support::pt().display()
        );
        let err = procession::sh(&script)
            .stdin_bytes("go\n")
            .cgroup(true)
            .stdout_null()
            .timeout(LIMIT)
            .run()
            .unwrap_err();
        assert!(err.timeout().is_some(), "{err}");
        let left: Vec<u32> = procfs::all_pids()
            .into_iter()
            .filter(|p| {
                procfs::is_live(*p)
                    && std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                        c.ends_with(format!("sleep\0{secs}\0").as_bytes())
                            && c.starts_with(support::pt().as_os_str().as_encoded_bytes())
                    })
            })
            .collect();
        assert!(left.is_empty(), "setsid -f: {left:?} survived");
    }
}

#[test]
fn a_pool_timeout_with_cgroups_stops_double_forks() {
    if !cgroups_work() {
        eprintln!("skipped: no writable cgroup v2 hierarchy");
        return;
    }
    let pool = Pool::builder().jobs(2).timeout(LIMIT).build();
    let jobs = [
        contained("double-fork").stdout_capture(),
        contained("double-fork").stdout_capture(),
    ];
    for done in pool.map(jobs) {
        let Err(err) = done.result() else {
            panic!("the job was not stopped")
        };
        let pid = first_pid(err.timeout().expect("a timeout").partial_stdout());
        assert_gone("pool, double fork", pid);
    }
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn without_a_cgroup_escaped_processes_are_named() {
    let err = escaper("double-fork")
        .stdout_capture()
        .drain_timeout(Duration::from_millis(100))
        .timeout(LIMIT)
        .run()
        .unwrap_err();
    let stopped = err.timeout().expect("a timeout");
    let pid = first_pid(stopped.partial_stdout());
    let out = stopped.output();
    // It holds stdout, so the output may be incomplete, and it is named.
    assert!(out.incomplete);
    let escaped: Vec<u32> = out.escaped.iter().map(|e| e.pid).collect();
    procfs::kill(pid);
    assert_eq!(escaped, [pid], "{err}");
    assert!(
        out.escaped[0].command.ends_with("sleep 100"),
        "{:?}",
        out.escaped
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("still running: pid {pid} (")),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// Each signal once, real-time signals, invalid signals
// ---------------------------------------------------------------------------

fn sigrtmin() -> i32 {
    pt_cmd(&["sigrtmin"]).read().unwrap().parse().unwrap()
}

#[test]
fn signal_reaches_each_process_once() {
    let rtmin = sigrtmin();
    // A real-time signal queues: a second send is a second delivery.
    let (handle, ready, mut rest) = start_and_read(pt_cmd(&["count-signal", &rtmin.to_string()]));
    assert_eq!(ready, "ready");
    handle.signal(rtmin).unwrap();
    handle.wait().unwrap();
    let mut count = String::new();
    rest.read_line(&mut count).unwrap();
    assert_eq!(count.trim(), "1", "the signal came {count} times");
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "needs /proc, which the portable mode does not use (as macOS and FreeBSD have none)"
)]
fn signal_reaches_descendants_that_left_the_group() {
    for how in ["setsid", "setpgid"] {
        let (handle, pid, _reader) = start_and_read(escaper(how));
        let pid: u32 = pid.parse().unwrap();
        // SIGTERM ends `pt sleep` (outside the group) and `pt escape` (in
        // it). Not SIGHUP: under `nohup` the children inherit it ignored.
        handle.signal(15).unwrap();
        let err = handle.wait().unwrap_err();
        assert_eq!(
            err.status().and_then(|s| s.signal()),
            Some(15),
            "{how}: {err}"
        );
        // Not a stop: the run does not wait for it to die.
        let gone = procfs::eventually(Duration::from_secs(10), || !procfs::is_live(pid));
        assert!(gone, "{how}: {pid} did not get the signal");
    }
}

#[test]
fn a_stop_sequence_sends_each_signal_once_and_real_time_signals_too() {
    let rtmin = sigrtmin();
    // The first step is a real-time signal, which the program counts; it
    // then exits by itself. Without the signal, only the SIGKILL after
    // 30 s would end it.
    let seq = StopSequence::new()
        .then(rtmin, Duration::from_secs(30))
        .then(9, Duration::from_millis(100));
    let err = pt_cmd(&["count-signal", &rtmin.to_string()])
        .stdout_capture()
        .stop_sequence(seq)
        .timeout(LIMIT)
        .run()
        .unwrap_err();
    let stopped = err.timeout().expect("a timeout");
    assert_eq!(stopped.partial_stdout(), b"ready\n1\n", "{err}");
    assert!(stopped.elapsed() < Duration::from_secs(20));
    assert!(stopped.output().status.success());
}

#[test]
fn signals_that_cannot_be_sent_are_invalid_input() {
    for bad in [0, -1, 32, 99] {
        let seq = StopSequence::new().then(bad, Duration::from_millis(100));
        let err = pt_cmd(&["sleep", "10"])
            .stop_sequence(seq)
            .timeout(LIMIT)
            .run()
            .unwrap_err();
        let Error::InvalidInput(e) = &err else {
            panic!("{bad}: {err}")
        };
        assert_eq!(e.problem(), &InvalidInput::InvalidSignal { signal: bad });
        assert!(
            err.to_string().contains(&format!("{bad} is not a signal")),
            "{err}"
        );
    }
    let handle = pt_cmd(&["sleep", "10"]).start().unwrap();
    for bad in [0, 99] {
        let err = handle.signal(bad).unwrap_err();
        let Error::InvalidInput(e) = &err else {
            panic!("{bad}: {err}")
        };
        assert_eq!(e.problem(), &InvalidInput::InvalidSignal { signal: bad });
        assert!(handle.signal_stage(0, bad).is_err());
    }
    // Nothing was sent: the command still runs.
    assert!(handle.try_wait().unwrap().is_none());
}
