//! Smoke tests for the `pt` test helper and `tests/support` itself (`mod.rs`
//! and `procfs.rs`).

mod support;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::procfs;

fn pt<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(support::pt());
    cmd.args(args);
    cmd
}

fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    pt(args).output().expect("run pt")
}

/// Runs `pt ARGS` with `input` on stdin, written from another thread.
fn run_with_input(args: &[&str], input: Vec<u8>) -> Output {
    let mut child = pt(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pt");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The child may legitimately stop reading early.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait pt");
    writer.join().unwrap();
    out
}

#[test]
fn builds_once_from_many_threads() {
    let paths: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(support::pt))
        .map(|t| t.join().unwrap())
        .collect();
    assert!(paths.iter().all(|p| *p == paths[0]));
    assert!(paths[0].is_file());
    assert_eq!(support::bin_dir(), paths[0].parent().unwrap());
}

#[test]
fn found_through_path() {
    let out = Command::new("pt")
        .args(["echo", "via", "PATH"])
        .env("PATH", support::bin_dir())
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"via PATH\n");
}

#[test]
fn echo() {
    let out = run(["echo", "hello", "big world"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello big world\n");
    assert!(out.stderr.is_empty());
    assert_eq!(run(["echo"]).stdout, b"\n");
}

#[test]
fn argv_round_trips_raw_bytes() {
    let weird = OsStr::from_bytes(b"caf\xe9 \xff");
    let out = run([OsStr::new("argv"), OsStr::new(""), weird, OsStr::new("x")]);
    assert_eq!(out.stdout, b"\0caf\xe9 \xff\0x\0");
}

#[test]
fn exit_and_fail() {
    assert_eq!(run(["exit", "3"]).status.code(), Some(3));
    assert_eq!(run(["exit", "0"]).status.code(), Some(0));
    let out = run(["fail", "7", "went", "wrong"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stderr, b"went wrong\n");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["no-such-subcommand"][..],
        &["exit"],
        &["sleep", "soon"],
        &[],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn write_fills_both_streams() {
    let out = run(["write", "1M", "1M"]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.stderr.len(), 1 << 20);
    assert!(support::is_pattern(&out.stdout));
    assert!(support::is_pattern(&out.stderr));
    assert_eq!(out.stdout, support::pattern(1 << 20));

    let out = run(["write", "100000"]);
    assert_eq!(out.stdout, support::pattern(100_000));
    assert!(out.stderr.is_empty());
}

#[test]
fn kill_self_dies_of_the_signal() {
    let status = run(["kill-self", "TERM"]).status;
    assert_eq!(status.signal(), Some(15));
    assert_eq!(status.code(), None);
    // std installs its own SIGSEGV handler; pt must reset it first.
    assert_eq!(run(["kill-self", "SEGV"]).status.signal(), Some(11));
    assert_eq!(run(["kill-self", "SIGKILL"]).status.signal(), Some(9));
    assert_eq!(run(["kill-self", "2"]).status.signal(), Some(2));
}

#[test]
fn grandchild_holds_the_pipe_open() {
    let start = Instant::now();
    let mut child = pt(["grandchild", "0.5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let grandchild: u32 = line.trim().parse().expect("a pid");
    assert_ne!(grandchild, child.id());

    // The parent exits at once, without waiting for its child...
    assert!(child.wait().unwrap().success());
    let exited = start.elapsed();
    // ...but the pipe only reaches EOF when the grandchild is gone.
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let eof = start.elapsed();
    assert!(rest.is_empty());
    assert!(eof >= Duration::from_millis(500), "EOF after {eof:?}");
    assert!(exited <= eof);
}

#[test]
fn grandchild_many_and_hold() {
    let out = run(["grandchild", "0", "3", "--hold", "0.1"]);
    assert!(out.status.success());
    let pids: Vec<u32> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3);
}

#[test]
fn yes_dies_of_sigpipe_when_head_is_done() {
    let mut yes = pt(["yes"]).stdout(Stdio::piped()).spawn().unwrap();
    let yes_out = yes.stdout.take().unwrap();
    // The temporary Command holds the pipe's read end until this statement
    // ends, which is fine: `head` exits on its own.
    let head = pt(["head", "1"]).stdin(yes_out).output().unwrap();
    assert!(head.status.success());
    assert_eq!(head.stdout, b"y\n");
    let status = yes.wait().unwrap();
    assert_eq!(status.signal(), Some(13), "{status:?}");
}

#[test]
fn yes_with_text_and_head() {
    let mut yes = pt(["yes", "hi there"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let yes_out = yes.stdout.take().unwrap();
    let head = pt(["head", "3"]).stdin(yes_out).output().unwrap();
    assert_eq!(head.stdout, b"hi there\nhi there\nhi there\n");
    assert_eq!(yes.wait().unwrap().signal(), Some(13));
}

#[test]
fn verify_and_count() {
    let good = support::pattern(300_000);
    assert!(
        run_with_input(&["verify", "300000"], good.clone())
            .status
            .success()
    );

    let short = run_with_input(&["verify", "300001"], good.clone());
    assert_eq!(short.status.code(), Some(1));
    assert!(!short.stderr.is_empty());

    let mut bad = good.clone();
    bad[123_456] ^= 1;
    let out = run_with_input(&["verify", "300000"], bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("offset 123456"));

    let out = run_with_input(&["count"], vec![b'x'; 12_345]);
    assert_eq!(out.stdout, b"12345\n");
    assert_eq!(run_with_input(&["count"], Vec::new()).stdout, b"0\n");
}

#[test]
fn write_piped_into_verify() {
    let mut writer = pt(["write", "2M"]).stdout(Stdio::piped()).spawn().unwrap();
    let out = pt(["verify", "2M"])
        .stdin(writer.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(writer.wait().unwrap().success());
}

#[test]
fn cat_and_tee2() {
    let data = support::pattern(200_000);
    let out = run_with_input(&["cat"], data.clone());
    assert_eq!(out.stdout, data);
    let out = run_with_input(&["tee2"], data.clone());
    assert_eq!(out.stdout, data);
    assert_eq!(out.stderr, data);
}

#[test]
fn env_and_pwd() {
    let out = pt(["env"])
        .env_clear()
        .env("B", "2")
        .env("A", "1=one")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"A=1=one\nB=2\n");

    let out = pt(["env", "B", "MISSING", "A"])
        .env_clear()
        .env("A", "1")
        .env("B", "")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"B=\nA=1\n");

    let dir = support::bin_dir();
    let out = pt(["pwd"]).current_dir(dir).output().unwrap();
    let printed = std::path::PathBuf::from(OsStr::from_bytes(out.stdout.trim_ascii_end()));
    assert_eq!(printed.canonicalize().unwrap(), dir.canonicalize().unwrap());
}

#[test]
fn lines_alternate() {
    let out = run(["lines", "5", "1"]);
    assert_eq!(out.stdout, b"out 0\nout 2\nout 4\n");
    assert_eq!(out.stderr, b"err 1\nerr 3\n");
}

#[test]
fn sleep_sleeps() {
    let start = Instant::now();
    assert!(run(["sleep", "0.2"]).status.success());
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
fn ignore_term_survives_sigterm() {
    let mut child = pt(["ignore-term", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    procfs::send_signal(child.id(), "TERM");
    procfs::send_signal(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "died of SIGTERM/SIGINT"
    );
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

#[test]
fn pgid_and_ppid_wait() {
    let out = run(["pgid"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<u32> = text
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);

    let mut child = pt(["ppid-wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim().parse::<u32>().unwrap(), child.id());
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before stdin closed"
    );
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn pattern_helpers() {
    let p = support::pattern(600);
    assert_eq!(p[0], 0);
    assert_eq!(p[250], 250);
    assert_eq!(p[251], 0);
    assert!(support::is_pattern(&p));
    assert!(support::is_pattern(&[]));
    assert!(!support::is_pattern(&[0, 2]));
    assert_eq!(support::read_pattern(&p[..]), Ok(600));
    let mut wrong = p.clone();
    wrong[300] ^= 1;
    assert_eq!(support::read_pattern(&wrong[..]), Err(300));
    assert_eq!(support::env_usize("PROCESSION_SMOKE_SURELY_UNSET", 42), 42);
}

/// A command name that would fool a parser of `/proc/PID/stat` reading up to
/// the first `)`, and that is not UTF-8.
const TRICKY_NAME: &[u8] = b"p\xff) Z 1 (q";

/// `procfs` reads a child through its life: running, a zombie, reaped. The
/// child runs `pt` through a link named [`TRICKY_NAME`], which the kernel
/// takes as its command name.
#[test]
fn procfs_follows_a_child_through_its_life() {
    let dir = std::env::temp_dir().join(format!("procession-smoke-procfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join(OsStr::from_bytes(TRICKY_NAME));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(support::pt(), &link).unwrap();
    let mut child = Command::new(&link)
        .args(["sleep", "30"])
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    std::fs::remove_dir_all(&dir).unwrap();

    let comm = std::fs::read(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm, [TRICKY_NAME, b"\n"].concat(), "the name under test");
    let stat = procfs::stat(pid).expect("the child runs");
    assert_eq!(
        (stat.ppid, stat.pgrp),
        (std::process::id(), pid),
        "{stat:?}"
    );
    assert!(procfs::is_live(pid), "{stat:?}");
    assert_eq!(procfs::live_group_members(pid), [pid]);
    assert!(procfs::children().iter().any(|(p, _)| *p == pid));
    assert!(!procfs::zombie_children().contains(&pid));

    procfs::kill(pid);
    let exited = procfs::eventually(Duration::from_secs(10), || {
        procfs::zombie_children().contains(&pid)
    });
    assert!(exited, "no zombie after SIGKILL: {:?}", procfs::stat(pid));
    assert_eq!(procfs::stat(pid).map(|s| s.state), Some('Z'));
    assert!(!procfs::is_live(pid), "a zombie is not live");
    assert_eq!(procfs::live_group_members(pid), Vec::<u32>::new());

    assert_eq!(child.wait().unwrap().signal(), Some(9));
    assert_eq!(procfs::stat(pid), None, "reaped");
    assert!(!procfs::children().iter().any(|(p, _)| *p == pid));
}

#[test]
fn eventually_says_whether_the_condition_held_in_time() {
    assert!(procfs::eventually(Duration::ZERO, || true));
    let mut calls = 0;
    assert!(procfs::eventually(Duration::from_secs(10), || {
        calls += 1;
        calls == 3
    }));
    let start = Instant::now();
    assert!(!procfs::eventually(Duration::from_millis(50), || false));
    assert!(start.elapsed() >= Duration::from_millis(50));
}
