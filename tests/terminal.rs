//! Terminals and job control: a command that inherits the terminal can use
//! it (issue 11, section 1); a forwarded Ctrl-C reaches every run, whoever
//! drives it, and lets a pool report every job (section 3); Ctrl-Z and `fg`
//! reach every running command (issue 18).
//!
//! Each test re-executes this test binary as the program under test: it runs
//! only `terminal_child`, which does nothing unless `PROCESSION_TERMINAL_CHILD`
//! names a scenario. The pseudo-terminal tests run an interactive `bash`
//! (job control on) under a pseudo-terminal made by python3's `pty` module,
//! type into it and read what it shows; they are skipped, saying so, where
//! python3 or bash is missing.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use procession::{Error, JobEvent, JobOutput, Pool, cmd};
use support::procfs;

const CHILD_ENV: &str = "PROCESSION_TERMINAL_CHILD";
const DIR_ENV: &str = "PROCESSION_TERMINAL_DIR";

/// The most any step may take, so a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(30);

/// How long the tests keep the program stopped: more than the slack of the
/// jobs' timeout, so a timeout that counted stopped time would fire.
const STOPPED_FOR: Duration = Duration::from_secs(2);

/// Each job prints this many lines, one every 50 ms (two seconds), under a
/// timeout of three and a half.
const JOB_LINES: &str = "40";
const JOB_TIMEOUT: Duration = Duration::from_millis(3500);

// ---------------------------------------------------------------------------
// The program under test
// ---------------------------------------------------------------------------

fn dir() -> PathBuf {
    PathBuf::from(std::env::var_os(DIR_ENV).expect("the test sets the directory"))
}

/// A job that appends a line to `file` every 50 ms.
fn writer(file: &Path) -> procession::Command {
    cmd!(support::pt(), "lines", JOB_LINES, "50")
        .stdout_path(file)
        .stderr_to_stdout()
}

/// The program under test (see the file's doc).
#[test]
fn terminal_child() {
    let Some(scenario) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    match scenario.to_str().expect("a scenario name") {
        "pool" => child_pool(),
        "run" => child_run(),
        "tty" => child_tty(),
        "two" => child_two(),
        "read" => child_read(),
        "sigint-pool" => child_sigint_pool(),
        "sigint-lines" => child_sigint_lines(),
        other => panic!("unknown scenario {other:?}"),
    }
}

/// Two jobs at once, each appending a line to its file every 50 ms.
fn child_pool() {
    procession::forward_signals().expect("forward signals");
    let dir = dir();
    let pool = Pool::builder()
        .jobs(2)
        .timeout(JOB_TIMEOUT)
        .output(JobOutput::AsCommand)
        .on_event(|event| {
            if let JobEvent::Started { pids, .. } = event {
                for pid in *pids {
                    println!("@@pid {pid}");
                }
            }
        })
        .build();
    let jobs = (1..=2).map(|i| writer(&dir.join(format!("job{i}"))));
    for done in pool.map(jobs) {
        match done.result() {
            Ok(_) => println!("@@done {} ok", done.seq()),
            Err(e) => println!("@@done {} failed: {e}", done.seq()),
        }
    }
    println!("@@end");
}

/// One blocking `run()` of a long command that inherits the terminal.
fn child_run() {
    let file = dir().join("job1");
    match writer(&file).timeout(JOB_TIMEOUT).run() {
        Ok(_) => println!("@@end ok"),
        Err(e) => println!("@@end failed: {e}"),
    }
}

/// Commands that read the terminal, change its modes, are stopped with the
/// terminal in raw mode, and get Ctrl-C.
fn child_tty() {
    let modes = || cmd!("stty", "-g").read().expect("stty -g");
    let before = modes();
    cmd!("stty", "-echo").run().expect("stty -echo");
    println!("@@noecho");
    let line = cmd!(support::pt(), "head", "1")
        .read()
        .expect("read a line");
    println!("@@read {line}");
    cmd!("stty", "echo").run().expect("stty echo");
    println!("@@same-after-exit {}", modes() == before);
    // Killed by its timeout while the terminal is raw: the modes come back.
    let raw = cmd!("stty", "raw", "-echo") | cmd!(support::pt(), "sleep", "10");
    let stopped = raw.timeout(Duration::from_millis(300)).run();
    assert!(matches!(stopped, Err(Error::Timeout(_))), "{stopped:?}");
    println!("@@restored {}", modes() == before);
    // A started command gets the terminal too.
    println!("@@started");
    let handle = cmd!(support::pt(), "head", "1")
        .stdout_capture()
        .start()
        .expect("start");
    let out = handle.wait().expect("a line");
    println!(
        "@@handle-read {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    println!("@@interrupt");
    let result = cmd!(support::pt(), "sleep", "30").run();
    // A Ctrl-C ends this program, as it would without a process group.
    println!("@@survived {result:?}");
}

/// Two threads each run a command that reads a line from the terminal.
fn child_two() {
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let line = cmd!(support::pt(), "head", "1").read().expect("a line");
                println!("@@got {line}");
            })
        })
        .collect();
    println!("@@ready");
    for thread in threads {
        thread.join().expect("a thread");
    }
}

/// One command that reads a line from the terminal.
fn child_read() {
    let line = cmd!(support::pt(), "head", "1").read().expect("a line");
    println!("@@got {line}");
}

/// A pool batch of six jobs, two at a time, when SIGINT comes.
fn child_sigint_pool() {
    procession::forward_signals().expect("forward signals");
    let dir = dir();
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

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn state(pid: u32) -> Option<char> {
    procfs::stat(pid).map(|s| s.state)
}

/// Whether `pid`'s process group is the foreground group of its terminal
/// (`tpgid`, the sixth field after the command name, equals its group).
fn holds_the_terminal(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    // state ppid pgrp session tty_nr tpgid
    fields.len() > 5 && fields[2] == fields[5]
}

/// Whether `ancestor` is among the ancestors of `pid`.
fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut pid = pid;
    while let Some(stat) = procfs::stat(pid) {
        if stat.ppid == ancestor {
            return true;
        }
        if stat.ppid <= 1 {
            return false;
        }
        pid = stat.ppid;
    }
    false
}

/// The `@@pid N` values in `text`.
fn pids(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.split("@@pid ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Output read by a thread, for tests to wait on.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<String>>);

impl Screen {
    fn follow(mut from: impl Read + Send + 'static) -> Screen {
        let screen = Screen::default();
        let text = screen.0.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        screen
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits until `needle` shows; panics with what was shown if it does
    /// not within [`LIMIT`].
    fn expect(&self, needle: &str) -> String {
        let shown = procfs::eventually(LIMIT, || self.text().contains(needle));
        let text = self.text();
        assert!(shown, "{needle:?} never showed; the screen:\n{text}");
        text
    }
}

/// An interactive bash under a pseudo-terminal.
struct Shell {
    child: Child,
    input: ChildStdin,
    screen: Screen,
}

impl Shell {
    /// `None` (the test is skipped) where python3 or bash is missing.
    fn start() -> Option<Shell> {
        let have = |program: &str| {
            std::process::Command::new(program)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have("python3") || !have("bash") {
            eprintln!("skipped: the pseudo-terminal tests need python3 and bash");
            return None;
        }
        // pty.spawn copies our pipe to the terminal and the terminal to our
        // pipe; bash runs with the terminal as its controlling terminal.
        // The signals of the keys and of job control start at their
        // defaults, as from a terminal emulator: a shell leaves a signal
        // that was ignored when it started ignored in its jobs, and a test
        // suite started in the background of a script (`cargo test &`)
        // ignores SIGINT and SIGQUIT, so Ctrl-C would reach nobody.
        let relay = "import pty, signal as s, sys; \
                     [s.signal(n, s.SIG_DFL) for n in \
                     (s.SIGINT, s.SIGQUIT, s.SIGTSTP, s.SIGTTIN, s.SIGTTOU)]; \
                     pty.spawn(sys.argv[1:])";
        let mut child = std::process::Command::new("python3")
            .args(["-c", relay, "bash", "--norc", "--noprofile", "-i"])
            .env("PS1", "$ ")
            .env("TERM", "dumb")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
        let input = child.stdin.take().expect("piped");
        let screen = Screen::follow(child.stdout.take().expect("piped"));
        let mut shell = Shell {
            child,
            input,
            screen,
        };
        // `set -b`: report a job's stop at once, not at the next prompt.
        shell.type_in("set -b; echo @@shell-$((6 * 7))\n");
        shell.screen.expect("@@shell-42");
        Some(shell)
    }

    fn type_in(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).expect("type");
        self.input.flush().expect("type");
    }

    /// Runs `scenario` of this binary as the shell's foreground job.
    fn run_child(&mut self, scenario: &str, dir: &Path) {
        let exe = std::env::current_exe().expect("test binary");
        self.type_in(&format!(
            "{CHILD_ENV}={scenario} {DIR_ENV}='{}' '{}' --exact terminal_child --nocapture \
             --test-threads=1\n",
            dir.display(),
            exe.display()
        ));
    }

    /// The exit status of the last job, as the shell reports it.
    fn status(&mut self) -> String {
        // What the shell echoes has `$?` where what it prints has digits.
        self.type_in("echo @@status=$?@@\n");
        let find = |text: &str| {
            text.split("@@status=")
                .skip(1)
                .filter_map(|rest| rest.split("@@").next())
                .find(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_string)
        };
        let shown = procfs::eventually(LIMIT, || find(&self.screen.text()).is_some());
        let text = self.screen.text();
        assert!(shown, "no exit status showed; the screen:\n{text}");
        find(&text).expect("shown")
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid of the program under test: the shell's child that runs this
/// binary.
fn program_pid(file_of_job: &Path) -> u32 {
    // The job's parent is the program under test.
    let job = writer_pid(file_of_job);
    procfs::stat(job).expect("the job runs").ppid
}

/// The pid of the `pt lines` job writing `file`, found through /proc.
fn writer_pid(file: &Path) -> u32 {
    let mut found = None;
    let ok = procfs::eventually(LIMIT, || {
        found = procfs::all_pids().into_iter().find(|pid| {
            std::fs::read_link(format!("/proc/{pid}/fd/1")).is_ok_and(|target| target == file)
        });
        found.is_some()
    });
    assert!(ok, "no process writes {}", file.display());
    found.expect("found")
}

/// Ctrl-Z stops the program and every job (their output stops growing),
/// `fg` continues them all, and the jobs finish normally: their timeout did
/// not count the time they spent stopped.
fn ctrl_z_then_fg(shell: &mut Shell, files: &[PathBuf], jobs: &[u32]) {
    assert!(
        procfs::eventually(LIMIT, || files.iter().all(|f| size(f) > 0)),
        "the jobs never wrote"
    );
    let program = program_pid(&files[0]);
    shell.type_in("\x1a");
    shell.screen.expect("Stopped");
    let all_stopped = procfs::eventually(LIMIT, || {
        state(program) == Some('T') && jobs.iter().all(|j| state(*j) == Some('T'))
    });
    let states: Vec<_> = std::iter::once(program)
        .chain(jobs.iter().copied())
        .map(|p| (p, state(p)))
        .collect();
    assert!(all_stopped, "not everything stopped: {states:?}");
    let sizes: Vec<u64> = files.iter().map(|f| size(f)).collect();
    std::thread::sleep(STOPPED_FOR);
    let later: Vec<u64> = files.iter().map(|f| size(f)).collect();
    assert_eq!(sizes, later, "output grew while stopped");
    shell.type_in("fg\n");
    assert!(
        procfs::eventually(LIMIT, || files
            .iter()
            .zip(&sizes)
            .all(|(f, s)| size(f) > *s)),
        "the jobs did not resume"
    );
}

// ---------------------------------------------------------------------------
// Job control under a real terminal
// ---------------------------------------------------------------------------

#[test]
fn ctrl_z_and_fg_reach_every_job_of_a_pool() {
    let Some(mut shell) = Shell::start() else {
        return;
    };
    let dir = scratch("pool");
    shell.run_child("pool", &dir);
    let files = [dir.join("job1"), dir.join("job2")];
    assert!(procfs::eventually(LIMIT, || pids(&shell.screen.text())
        .len()
        == 2));
    let jobs = pids(&shell.screen.text());
    ctrl_z_then_fg(&mut shell, &files, &jobs);
    let text = shell.screen.expect("@@end");
    assert!(
        text.contains("@@done 1 ok") && text.contains("@@done 2 ok"),
        "{text}"
    );
    assert_eq!(shell.status(), "0");
    for file in &files {
        let written = std::fs::read_to_string(file).expect("the job's file");
        assert_eq!(written.lines().count(), 40, "{file:?}");
    }
}

#[test]
fn ctrl_z_and_fg_reach_a_run_that_holds_the_terminal() {
    let Some(mut shell) = Shell::start() else {
        return;
    };
    let dir = scratch("run");
    shell.run_child("run", &dir);
    let files = [dir.join("job1")];
    let job = writer_pid(&files[0]);
    assert!(
        procfs::eventually(LIMIT, || holds_the_terminal(job)),
        "the job never got the terminal"
    );
    ctrl_z_then_fg(&mut shell, &files, &[job]);
    let text = shell.screen.expect("@@end");
    assert!(text.contains("@@end ok"), "{text}");
    assert_eq!(shell.status(), "0");
}

#[test]
fn a_command_that_inherits_the_terminal_can_use_it() {
    let Some(mut shell) = Shell::start() else {
        return;
    };
    let dir = scratch("tty");
    shell.run_child("tty", &dir);
    shell.screen.expect("@@noecho");
    shell.type_in("typed-in-secret\n");
    let text = shell.screen.expect("@@read typed-in-secret");
    let after_noecho = text.split("@@noecho").nth(1).unwrap_or_default();
    assert_eq!(
        after_noecho.matches("typed-in-secret").count(),
        1,
        "the terminal echoed what was typed after `stty -echo`:\n{text}"
    );
    let text = shell.screen.expect("@@same-after-exit");
    assert!(text.contains("@@same-after-exit true"), "{text}");
    let text = shell.screen.expect("@@restored");
    assert!(text.contains("@@restored true"), "{text}");
    shell.screen.expect("@@started");
    shell.type_in("through-a-handle\n");
    shell.screen.expect("@@handle-read through-a-handle");
    shell.screen.expect("@@interrupt");
    // The sleep holds the terminal: Ctrl-C reaches it, and then the program.
    // (Ours: another copy of this test may be running a sleep of its own.)
    let shell_pid = shell.child.id();
    let sleeper = procfs::eventually(LIMIT, || {
        procfs::all_pids().into_iter().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.contains("sleep\u{0}30"))
                && descends_from(p, shell_pid)
                && holds_the_terminal(p)
        })
    });
    assert!(sleeper, "the sleep never held the terminal");
    shell.type_in("\x03");
    assert_eq!(shell.status(), "130", "{}", shell.screen.text());
    assert!(!shell.screen.text().contains("@@survived"));
}

#[test]
fn two_commands_that_read_the_terminal_take_turns() {
    let Some(mut shell) = Shell::start() else {
        return;
    };
    let dir = scratch("two");
    shell.run_child("two", &dir);
    shell.screen.expect("@@ready");
    shell.type_in("first-line\n");
    shell.screen.expect("@@got first-line");
    // The other one stopped on the terminal, and gets it now.
    shell.type_in("second-line\n");
    shell.screen.expect("@@got second-line");
    assert_eq!(shell.status(), "0");
}

#[test]
fn a_background_program_stops_when_its_command_reads_the_terminal() {
    let Some(mut shell) = Shell::start() else {
        return;
    };
    let dir = scratch("background");
    let exe = std::env::current_exe().expect("test binary");
    shell.type_in(&format!(
        "{CHILD_ENV}=read '{}' --exact terminal_child --nocapture --test-threads=1 &\n",
        exe.display()
    ));
    // As a shell's background job that reads the terminal: stopped.
    shell.screen.expect("Stopped");
    shell.type_in("fg\n");
    // In the foreground, the command gets the terminal.
    shell.type_in("from-the-foreground\n");
    shell.screen.expect("@@got from-the-foreground");
    assert_eq!(shell.status(), "0");
    let _ = dir;
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
