//! Pipelines end to end, with `pt` stages: building them (`|`, `pipe`,
//! `Command::pipeline`), a pipeline as a command (stdin, stdout, every run
//! mode), options layered over stages (env, dir, redirections), stderr, the
//! `pipefail` status rule with its `SIGPIPE` refinement, handles (pids,
//! process group, terminate, kill), bad input (empty pipeline, a stage that
//! cannot start), and no process, zombie, thread or descriptor left behind.
//!
//! Environment: `PROCESSION_SIGPIPE_RUNS` (default 20) is how many times the
//! `SIGPIPE` success cases are repeated (the rule depends on exit order, so
//! one run proves little).
//!
//! Tests that look at process-wide state (zombie children, descriptors,
//! threads) take [`exclusive`] so no other test of this file runs meanwhile;
//! every other test takes [`shared`].

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use procession::{Command, Error, Event, InvalidInput, Output, SpawnFailure};
use support::{procfs, pt_cmd};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

static PROCESS_STATE: RwLock<()> = RwLock::new(());

/// For tests that only start and reap their own processes.
fn shared() -> RwLockReadGuard<'static, ()> {
    let guard = PROCESS_STATE.read().unwrap_or_else(PoisonError::into_inner);
    support::pt();
    guard
}

/// For tests that look at process-wide state: no other test of this file
/// runs while the guard lives.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    let guard = PROCESS_STATE
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    support::pt();
    guard
}

/// The raw arguments of a process (empty for a zombie or a gone process).
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `pid` is a live (see [`procfs::is_live`]) `pt` process. Checking the
/// program guards against a pid reused by an unrelated process.
fn live_pt(pid: u32) -> bool {
    let pt = support::pt().to_string_lossy().into_owned();
    procfs::is_live(pid) && cmdline(pid).first() == Some(&pt)
}

/// Live processes (any parent) with `marker` among their arguments.
fn live_with_arg(marker: &str) -> Vec<u32> {
    procfs::all_pids()
        .into_iter()
        .filter(|pid| cmdline(*pid).iter().any(|a| a == marker))
        .filter(|pid| procfs::is_live(*pid))
        .collect()
}

/// A `pt sleep` argument no other process uses, so a leftover can be found.
fn unique_secs() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "30.{:05}{:04}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The crate starts its one background thread the first time `start()` is
/// used; start it before measuring.
fn warm_up() {
    let handle = pt_cmd(["exit", "0"]).start().expect("start");
    handle.wait().expect("warm-up run");
    assert_eq!(pt_cmd(["echo", "w"]).read().expect("warm-up read"), "w");
}

/// A directory of our own under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "procession-pipeline-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn codes(out: &Output) -> Vec<Option<i32>> {
    out.stages.iter().map(|s| s.status.code()).collect()
}

fn signals(out: &Output) -> Vec<Option<i32>> {
    out.stages.iter().map(|s| s.status.signal()).collect()
}

/// The sorted lines of `bytes` (for output merged from stages running at once).
fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Three `pt cat` stages that run until the caller drops the stdin pipe,
/// started. No stop request is needed to end them.
fn start_three_cats() -> (procession::Handle, os_pipe::PipeWriter) {
    let handle = (pt_cmd(["cat"]) | pt_cmd(["cat"]) | pt_cmd(["cat"]))
        .stdin_pipe()
        .stdout_null()
        .start()
        .unwrap();
    let stdin = handle.take_stdin().expect("a stdin pipe");
    (handle, stdin)
}

/// Asserts every pid is gone: not alive, not a zombie child of ours.
fn assert_gone(pids: &[u32]) {
    let zombies = procfs::zombie_children();
    for pid in pids {
        assert!(!live_pt(*pid), "stage pid {pid} still runs");
        assert!(
            !zombies.contains(pid),
            "stage pid {pid} is an unreaped zombie"
        );
    }
}

// ---------------------------------------------------------------------------
// Building pipelines
// ---------------------------------------------------------------------------

/// `pt echo hello` then `n - 1` distinct pass-through stages.
fn stages(n: usize) -> Vec<Command> {
    let mut stages = vec![pt_cmd(["echo", "hello"])];
    for i in 1..n {
        // `head` with a large count passes its input through, and the
        // different counts make every stage's display distinct.
        stages.push(pt_cmd(["head", &(100 + i).to_string()]));
    }
    stages
}

#[test]
fn lengths_one_to_five_built_three_ways() {
    let _g = shared();
    for n in 1..=5 {
        let by_bitor = stages(n).into_iter().reduce(|a, b| a | b).unwrap();
        let by_pipe = stages(n).into_iter().reduce(Command::pipe).unwrap();
        let by_vec = Command::pipeline(stages(n));
        let expected_display: Vec<String> = stages(n).iter().map(|s| s.to_string()).collect();
        assert_eq!(by_vec.to_string(), expected_display.join(" | "));
        for pipeline in [by_bitor, by_pipe, by_vec] {
            assert_eq!(pipeline.to_string(), expected_display.join(" | "));
            assert_eq!(pipeline.read().unwrap(), "hello", "{n} stages");
            let out = pipeline.stdout_capture().run().unwrap();
            assert_eq!(out.stdout, b"hello\n");
            let shown: Vec<&str> = out.stages.iter().map(|s| s.command.as_str()).collect();
            assert_eq!(shown, expected_display, "stages in order");
            assert!(out.stages.iter().all(|s| s.status.success()));
        }
    }
}

#[test]
fn nested_pipelines_flatten_but_configured_groups_keep_their_options() {
    let _g = shared();
    let plain = (pt_cmd(["echo", "a"]) | pt_cmd(["cat"])) | (pt_cmd(["cat"]) | pt_cmd(["cat"]));
    let out = plain.stdout_capture().run().unwrap();
    assert_eq!(out.stages.len(), 4);
    assert_eq!(out.stdout, b"a\n");

    // A group with its own options is still a part of the pipeline: its
    // env applies to its stages only.
    let group = (pt_cmd(["env", "G"]).stdout_capture() | pt_cmd(["env", "G"])).env("G", "in");
    let out = (group | pt_cmd(["env", "G"]))
        .stdout_capture()
        .run()
        .unwrap();
    assert_eq!(out.stages.len(), 3);
    assert_eq!(out.stages[0].stdout, b"G=in\n");
    assert_eq!(
        out.stdout, b"",
        "the last stage does not see the group's env"
    );
}

// ---------------------------------------------------------------------------
// A pipeline is a command
// ---------------------------------------------------------------------------

#[test]
fn stdin_bytes_feed_the_first_stage() {
    let _g = shared();
    let n = 1 << 20;
    let out = (pt_cmd(["cat"]) | pt_cmd(["cat"]) | pt_cmd(["verify", &n.to_string()]))
        .stdin_bytes(support::pattern(n))
        .run()
        .unwrap();
    assert!(out.status.success());
    let count = (pt_cmd(["cat"]) | pt_cmd(["count"]))
        .stdin_bytes(vec![b'x'; 100_000])
        .read()
        .unwrap();
    assert_eq!(count, "100000");
}

#[test]
fn stdin_pipe_feeds_the_first_stage() {
    use std::io::Write;
    let _g = shared();
    let handle = (pt_cmd(["cat"]) | pt_cmd(["count"]))
        .stdin_pipe()
        .stdout_capture()
        .start()
        .unwrap();
    let mut stdin = handle.take_stdin().expect("a pipe");
    stdin.write_all(&[b'z'; 3000]).unwrap();
    drop(stdin);
    assert_eq!(handle.wait().unwrap().stdout, b"3000\n");
}

#[test]
fn stdout_capture_captures_the_last_stage_only() {
    let _g = shared();
    let out = (pt_cmd(["write", "1000"]) | pt_cmd(["count"]))
        .stdout_capture()
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"1000\n");
    assert!(out.stages.iter().all(|s| s.stdout.is_empty()));
}

#[test]
fn every_run_mode_works_on_a_pipeline() {
    let _g = shared();
    let pipeline = pt_cmd(["echo", "one two"]) | pt_cmd(["cat"]) | pt_cmd(["cat"]);
    assert_eq!(pipeline.read().unwrap(), "one two");
    assert_eq!(pipeline.read_bytes().unwrap(), b"one two\n");

    let out = pipeline.clone().stdout_capture().run().unwrap();
    assert_eq!(out.stdout, b"one two\n");
    assert_eq!(out.stages.len(), 3);

    let handle = pipeline.clone().stdout_capture().start().unwrap();
    assert_eq!(handle.pids().len(), 3);
    let out = handle.into_output().unwrap();
    assert_eq!(out.stdout, b"one two\n");

    let lines: Vec<String> = (pt_cmd(["lines", "5"]) | pt_cmd(["cat"]))
        .stderr_null()
        .lines()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, ["out 0", "out 2", "out 4"]);
}

#[test]
fn events_merge_every_stage_stderr_with_the_last_stdout() {
    let _g = shared();
    let events: Vec<Event> = (pt_cmd(["lines", "4"]) | pt_cmd(["cat"]))
        .events()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for event in &events[..events.len() - 1] {
        match event {
            Event::Stdout(line) => out.push(line.as_str()),
            Event::Stderr(line) => err.push(line.as_str()),
            other => panic!("unexpected {other:?} before the end"),
        }
    }
    assert_eq!(out, ["out 0", "out 2"]);
    assert_eq!(err, ["err 1", "err 3"]);
    assert!(matches!(events.last(), Some(Event::Exit(s)) if s.success()));
}

#[test]
fn lines_end_with_the_pipeline_error() {
    let _g = shared();
    let items: Vec<Result<String, Error>> =
        (pt_cmd(["echo", "a"]) | pt_cmd(["cat"]) | pt_cmd(["exit", "3"]) | pt_cmd(["echo", "b"]))
            .lines()
            .unwrap()
            .collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "b");
    let Err(Error::Exit(exit)) = &items[1] else {
        panic!("expected an exit error, got {:?}", items[1]);
    };
    assert_eq!(exit.stage().map(|(i, _)| i), Some(2));
}

#[test]
fn env_applies_to_every_stage_and_a_stage_wins() {
    let _g = shared();
    let show = || pt_cmd(["env", "A", "B"]);
    let out = Command::pipeline([
        show().stdout_capture(),
        show().env("B", "stage").stdout_capture(),
        show().env_remove("A").stdout_capture(),
        show(),
    ])
    .env("A", "pipe")
    .env("B", "pipe")
    .stdout_capture()
    .run()
    .unwrap();
    assert_eq!(out.stages[0].stdout, b"A=pipe\nB=pipe\n");
    assert_eq!(out.stages[1].stdout, b"A=pipe\nB=stage\n");
    assert_eq!(out.stages[2].stdout, b"B=pipe\n");
    assert_eq!(out.stdout, b"A=pipe\nB=pipe\n");
}

#[test]
fn dir_applies_to_every_stage_and_a_stage_wins() {
    let _g = shared();
    let base = temp_dir("dir");
    let other = temp_dir("other");
    std::fs::create_dir(base.join("sub")).unwrap();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap();
    let out = Command::pipeline([
        pt_cmd(["pwd"]).stdout_capture(),
        pt_cmd(["pwd"]).dir(&other).stdout_capture(),
        pt_cmd(["pwd"]).dir("sub").stdout_capture(),
        pt_cmd(["pwd"]),
    ])
    .dir(&base)
    .stdout_capture()
    .run()
    .unwrap();
    let pwd = |bytes: &[u8]| PathBuf::from(String::from_utf8_lossy(bytes).trim_end());
    assert_eq!(pwd(&out.stages[0].stdout), canonical(&base));
    assert_eq!(pwd(&out.stages[1].stdout), canonical(&other));
    assert_eq!(pwd(&out.stages[2].stdout), canonical(&base.join("sub")));
    assert_eq!(pwd(&out.stdout), canonical(&base));
    std::fs::remove_dir_all(base).unwrap();
    std::fs::remove_dir_all(other).unwrap();
}

#[test]
fn a_middle_stage_redirection_wins_over_the_pipeline() {
    let _g = shared();
    let out = (pt_cmd(["echo", "hi"]) | pt_cmd(["tee2"]).stderr_null() | pt_cmd(["tee2"]))
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"hi\n");
    assert_eq!(
        out.stderr, b"hi\n",
        "only the last tee2 reaches the capture"
    );
}

#[test]
fn the_last_stage_stdout_path_wins_over_the_capture() {
    let _g = shared();
    let dir = temp_dir("path");
    let file = dir.join("out.txt");
    let pipeline = pt_cmd(["echo", "to file"]) | pt_cmd(["cat"]).stdout_path(&file);
    let out = pipeline.clone().stdout_capture().run().unwrap();
    assert_eq!(out.stdout, b"");
    assert_eq!(std::fs::read(&file).unwrap(), b"to file\n");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(pipeline.read().unwrap(), "");
    assert_eq!(std::fs::read(&file).unwrap(), b"to file\n");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_middle_stage_stdout_elsewhere_gives_the_next_stage_end_of_file() {
    let _g = shared();
    let out = (pt_cmd(["echo", "x"]) | pt_cmd(["cat"]).stdout_capture() | pt_cmd(["count"]))
        .stdout_capture()
        .run()
        .unwrap();
    assert_eq!(out.stages[1].stdout, b"x\n");
    assert_eq!(out.stdout, b"0\n");
}

// ---------------------------------------------------------------------------
// stderr
// ---------------------------------------------------------------------------

#[test]
fn stderr_to_stdout_on_a_stage_feeds_the_next_stage() {
    let _g = shared();
    // `a 2>&1 | b`
    let out = (pt_cmd(["fail", "0", "via pipe"]).stderr_to_stdout() | pt_cmd(["count"]))
        .stderr_capture()
        .stdout_capture()
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"9\n");
    assert_eq!(out.stderr, b"");
    // `{ a | b; } 2>&1`: every stage's stderr joins the pipeline's stdout.
    let text = (pt_cmd(["fail", "0", "first"]) | pt_cmd(["cat"]))
        .stderr_to_stdout()
        .read()
        .unwrap();
    assert_eq!(text, "first");
}

/// The target of `/proc/PID/fd/N`.
fn fd_target(pid: &str, fd: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).expect("read fd link")
}

#[test]
fn stderr_is_inherited_by_default() {
    let _g = shared();
    let (handle, stdin) = start_three_cats();
    let ours = fd_target("self", 2);
    for pid in handle.pids() {
        assert_eq!(fd_target(&pid.to_string(), 2), ours, "stage {pid}");
    }
    drop(stdin);
    handle.wait().unwrap();
}

#[test]
fn stderr_capture_on_the_pipeline_merges_all_stages() {
    let _g = shared();
    let out = (pt_cmd(["fail", "0", "one"])
        | pt_cmd(["fail", "0", "two"])
        | pt_cmd(["fail", "0", "three"]))
    .stderr_capture()
    .run()
    .unwrap();
    assert_eq!(sorted_lines(&out.stderr), ["one", "three", "two"]);
    assert!(out.stages.iter().all(|s| s.stderr.is_empty()));
}

#[test]
fn stderr_capture_on_a_stage_is_reported_in_its_stage() {
    let _g = shared();
    let out = (pt_cmd(["fail", "0", "one"]).stderr_capture() | pt_cmd(["fail", "0", "two"]))
        .stderr_null()
        .run()
        .unwrap();
    assert_eq!(out.stages[0].stderr, b"one\n");
    assert_eq!(out.stages[1].stderr, b"");
    assert_eq!(out.stderr, b"");

    let out = (pt_cmd(["fail", "0", "one"]) | pt_cmd(["fail", "0", "two"]).stderr_capture())
        .stderr_capture()
        .run()
        .unwrap();
    assert_eq!(out.stderr, b"one\n");
    assert_eq!(out.stages[1].stderr, b"two\n");
}

// ---------------------------------------------------------------------------
// The status rule
// ---------------------------------------------------------------------------

#[test]
fn every_stage_status_is_reported_in_order() {
    let _g = shared();
    let out = Command::pipeline([
        pt_cmd(["exit", "3"]),
        pt_cmd(["exit", "0"]),
        pt_cmd(["exit", "5"]),
        pt_cmd(["kill-self", "TERM"]),
        pt_cmd(["exit", "0"]),
    ])
    .unchecked()
    .run()
    .unwrap();
    assert_eq!(codes(&out), [Some(3), Some(0), Some(5), None, Some(0)]);
    assert_eq!(signals(&out), [None, None, None, Some(15), None]);
    assert_eq!(
        out.status.signal(),
        Some(15),
        "the rightmost failure decides"
    );
}

#[test]
fn the_rightmost_failing_stage_decides() {
    let _g = shared();
    let err = (pt_cmd(["exit", "3"]) | pt_cmd(["exit", "4"]) | pt_cmd(["exit", "0"]))
        .run()
        .unwrap_err();
    assert_eq!(err.status().and_then(|s| s.code()), Some(4));
    let Error::Exit(exit) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        exit.stage(),
        Some((1, pt_cmd(["exit", "4"]).to_string().as_str()))
    );
    assert_eq!(codes(exit.output()), [Some(3), Some(4), Some(0)]);

    // A single-stage pipeline still names its stage.
    let err = Command::pipeline([pt_cmd(["exit", "6"])])
        .run()
        .unwrap_err();
    let Error::Exit(exit) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(exit.stage().map(|(i, _)| i), Some(0));
}

#[test]
fn a_checked_failure_beats_an_unchecked_one() {
    let _g = shared();
    // The unchecked failure is to the right, yet the checked one decides.
    let err = (pt_cmd(["exit", "3"]) | pt_cmd(["exit", "4"]).unchecked() | pt_cmd(["cat"]))
        .run()
        .unwrap_err();
    assert_eq!(err.status().and_then(|s| s.code()), Some(3));
    let Error::Exit(exit) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(exit.stage().map(|(i, _)| i), Some(0));

    // Only an unchecked stage fails: no error, and its status is the status.
    let out = (pt_cmd(["exit", "0"]) | pt_cmd(["exit", "4"]).unchecked() | pt_cmd(["cat"]))
        .run()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));

    // A code the stage allows is a success.
    let out = (pt_cmd(["exit", "1"]).ok_codes([1]) | pt_cmd(["cat"]))
        .run()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(codes(&out), [Some(1), Some(0)]);
}

#[test]
fn unchecked_on_the_whole_pipeline() {
    let _g = shared();
    let out = (pt_cmd(["exit", "3"])
        | pt_cmd(["exit", "0"])
        | pt_cmd(["exit", "2"])
        | pt_cmd(["exit", "0"]))
    .unchecked()
    .run()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(codes(&out), [Some(3), Some(0), Some(2), Some(0)]);
}

#[test]
fn the_error_names_the_failing_stage() {
    let _g = shared();
    let boom = pt_cmd(["fail", "4", "boom"]);
    let pipeline = pt_cmd(["echo", "x"]) | boom.clone() | pt_cmd(["cat"]);
    let err = pipeline.clone().stderr_capture().run().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("command \"{pipeline}\" failed: stage 1 \"{boom}\" exited with code 4: boom")
    );
    let Error::Exit(exit) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(exit.command(), pipeline.to_string());
    assert_eq!(exit.stderr_tail(), "boom");

    // Without a capture there is no tail; a signal reads as one.
    let killed = pt_cmd(["kill-self", "KILL"]);
    let pipeline = pt_cmd(["echo", "x"]) | pt_cmd(["cat"]) | killed.clone();
    let err = pipeline.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("command \"{pipeline}\" failed: stage 2 \"{killed}\" killed by signal 9 (SIGKILL)")
    );
}

#[test]
fn a_stage_own_stderr_explains_its_failure() {
    let _g = shared();
    let pipeline = pt_cmd(["fail", "0", "noise"]) | pt_cmd(["fail", "5", "cause"]).stderr_capture();
    let err = pipeline.stderr_null().run().unwrap_err();
    let Error::Exit(exit) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(exit.stderr_tail(), "cause");
    assert!(
        err.to_string().ends_with("exited with code 5: cause"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// SIGPIPE
// ---------------------------------------------------------------------------

fn sigpipe_runs() -> usize {
    support::env_usize("PROCESSION_SIGPIPE_RUNS", 20)
}

/// Runs `pipeline` (checked) many times: every run must succeed with
/// `expected` on stdout, and the first stage must have died of `SIGPIPE` in
/// at least one of them (else the case was not exercised).
fn assert_sigpipe_is_success(pipeline: &Command, expected: &str) {
    let runs = sigpipe_runs();
    let mut failures = Vec::new();
    let mut sigpipes = 0;
    for _ in 0..runs {
        match pipeline.clone().stdout_capture().run() {
            Ok(out) => {
                assert_eq!(out.stdout, expected.as_bytes());
                sigpipes += usize::from(out.stages[0].status.signal() == Some(13));
            }
            Err(e) => {
                let stdout = e.output().map(|o| o.stdout.clone()).unwrap_or_default();
                assert_eq!(stdout, expected.as_bytes(), "{e}");
                sigpipes += 1;
                failures.push(e.to_string());
            }
        }
    }
    assert!(sigpipes > 0, "the producer never died of SIGPIPE");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed, e.g. {}",
        failures.len(),
        failures[0]
    );
}

#[test]
fn sigpipe_after_the_reader_exited_is_success() {
    let _g = shared();
    assert_sigpipe_is_success(&(pt_cmd(["yes"]) | pt_cmd(["head", "1"])), "y\n");
    assert_sigpipe_is_success(
        &(pt_cmd(["yes"]) | pt_cmd(["cat"]) | pt_cmd(["head", "2"])),
        "y\ny\n",
    );
    let read: Vec<_> = (0..sigpipe_runs())
        .map(|_| {
            (pt_cmd(["yes"]) | pt_cmd(["head", "1"]))
                .read()
                .map_err(|e| e.to_string())
        })
        .filter(|r| r.as_deref() != Ok("y"))
        .collect();
    assert_eq!(read, [], "read() of `yes | head 1` must give \"y\"");
}

/// A reader that does not read its stdin and goes on working after its
/// producer died: it waits, with stdin closed, until the first stage of its
/// pipeline (its process group leader) has died and been reaped by the run,
/// then works on for a second before it exits 0.
///
/// The second matters: a reader that exits just after its producer's
/// `SIGPIPE` counts as gone (GNU `head` closes its input a moment before it
/// exits), so this one must clearly outlive the producer.
fn reader_outliving_the_producer(close_stdin: bool) -> Command {
    let script = r#"
        if [ "$1" = close ]; then exec 0<&-; fi
        read -r _ _ _ _ leader _ < /proc/$$/stat
        while [ -e "/proc/$leader" ]; do sleep 0.01; done
        sleep 1
    "#;
    let how = if close_stdin { "close" } else { "keep" };
    procession::sh(script).arg("reader").arg(how)
}

#[test]
fn sigpipe_while_the_reader_runs_is_a_failure() {
    let _g = shared();
    // The reader closed its input early.
    let closer = reader_outliving_the_producer(true);
    let pipeline = pt_cmd(["yes"]) | closer;
    let err = pipeline.timeout(Duration::from_secs(30)).run().unwrap_err();
    assert_eq!(err.status().and_then(|s| s.signal()), Some(13), "{err}");
    let Error::Exit(exit) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(exit.stage().map(|(i, _)| i), Some(0));
    assert_eq!(codes(exit.output())[1], Some(0));

    // The pipe led nowhere: the next stage reads /dev/null instead.
    let elsewhere = reader_outliving_the_producer(false).stdin_null();
    let err = (pt_cmd(["yes"]) | elsewhere)
        .timeout(Duration::from_secs(30))
        .run()
        .unwrap_err();
    assert_eq!(err.status().and_then(|s| s.signal()), Some(13), "{err}");
}

// ---------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------

#[test]
fn a_started_pipeline_exposes_every_pid_and_its_group() {
    let _g = shared();
    let (handle, stdin) = start_three_cats();
    let pids = handle.pids().to_vec();
    assert_eq!(pids.len(), 3);
    assert_eq!(handle.pid(), pids[0]);
    assert_eq!(BTreeSet::from_iter(&pids).len(), 3);
    for pid in &pids {
        let stat = procfs::stat(*pid).expect("a running stage");
        assert_eq!(stat.pgrp, handle.pid(), "stage {pid} is in the group");
        assert_eq!(stat.ppid, std::process::id());
    }
    drop(stdin);
    let out = handle.wait().unwrap();
    let reported: Vec<u32> = out.stages.iter().map(|s| s.pid).collect();
    assert_eq!(reported, pids);
    assert_gone(&pids);
}

#[test]
fn each_stage_reports_the_group_it_runs_in() {
    let _g = shared();
    let handle = Command::pipeline([
        pt_cmd(["pgid"]).stdout_capture(),
        pt_cmd(["pgid"]).stdout_capture(),
        pt_cmd(["pgid"]),
    ])
    .stdout_capture()
    .start()
    .unwrap();
    let pids = handle.pids().to_vec();
    let out = handle.wait().unwrap();
    let printed = [&out.stages[0].stdout, &out.stages[1].stdout, &out.stdout];
    for (i, bytes) in printed.into_iter().enumerate() {
        let text = String::from_utf8_lossy(bytes);
        let ids: Vec<u32> = text
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        assert_eq!(ids, [pids[i], pids[0]], "stage {i}: \"PID PGID\"");
    }
}

/// Starts three long sleeps, stops them at once with `stop`, and checks
/// every stage died of `signal` promptly and is gone. The pipeline's own
/// timeout is only a safety net that bounds the test if a stop request is
/// lost; it must not be what ends the run.
fn stop_all_stages(stop: impl FnOnce(&procession::Handle), signal: i32) {
    let safety = Duration::from_secs(10);
    let handle = (pt_cmd(["sleep", "30"]) | pt_cmd(["sleep", "30"]) | pt_cmd(["sleep", "30"]))
        .timeout(safety)
        .start()
        .unwrap();
    let pids = handle.pids().to_vec();
    let started = Instant::now();
    stop(&handle);
    let err = handle.wait().unwrap_err();
    let elapsed = started.elapsed();
    let output = err.output().expect("the stopped run's output");
    assert!(
        err.timeout().is_none() && elapsed < Duration::from_secs(5),
        "the stop request was not acted on for {elapsed:?}: {err}"
    );
    assert_eq!(signals(output), [Some(signal); 3], "{:?}", output.stages);
    assert_gone(&pids);
}

#[test]
fn terminate_stops_every_stage() {
    let _g = shared();
    stop_all_stages(procession::Handle::terminate, 15);
}

#[test]
fn kill_stops_every_stage() {
    let _g = shared();
    stop_all_stages(procession::Handle::kill, 9);
}

#[test]
fn a_timeout_stops_every_stage() {
    let _g = shared();
    let started = Instant::now();
    let err = (pt_cmd(["sleep", "30"]) | pt_cmd(["sleep", "30"]) | pt_cmd(["sleep", "30"]))
        .timeout(Duration::from_millis(200))
        .run()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    let stopped = err.timeout().expect("a timeout");
    let pids: Vec<u32> = stopped.output().stages.iter().map(|s| s.pid).collect();
    assert_eq!(signals(stopped.output()), [Some(15); 3]);
    assert_gone(&pids);
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn an_empty_pipeline_is_invalid_in_every_mode() {
    let _g = shared();
    let empty = Command::pipeline(Vec::new());
    let is_empty = |e: Error| match e {
        Error::InvalidInput(e) => *e.problem() == InvalidInput::EmptyPipeline,
        _ => false,
    };
    assert!(is_empty(empty.run().unwrap_err()));
    assert!(
        empty
            .run()
            .unwrap_err()
            .to_string()
            .contains("the pipeline has no stages")
    );
    assert!(is_empty(empty.read().unwrap_err()));
    assert!(is_empty(empty.start().unwrap_err()));
    assert!(is_empty(empty.lines().unwrap_err()));
    assert!(is_empty(empty.events().unwrap_err()));
}

#[test]
fn an_empty_group_inside_a_pipeline_is_invalid() {
    let _g = shared();
    // A group with options of its own is kept as a group, so it cannot
    // silently vanish from the pipeline it was put in.
    let empty_group = Command::pipeline(Vec::new()).env("A", "1");
    let pipeline = empty_group | pt_cmd(["echo", "x"]);
    let result = pipeline.clone().stdout_capture().run();
    let Err(Error::InvalidInput(invalid)) = &result else {
        panic!("{pipeline:?} ran as {result:?}");
    };
    assert_eq!(*invalid.problem(), InvalidInput::EmptyPipeline);
}

/// A pipeline of `n` stages whose stage `bad` is `program`; the others are
/// `pt sleep` with a unique argument. Runs it, and checks the spawn error and
/// that no process of it is left, live or zombie.
fn assert_missing_stage(n: usize, bad: usize, program: &str, failure: SpawnFailure) {
    let marker = unique_secs();
    let stages: Vec<Command> = (0..n)
        .map(|i| {
            if i == bad {
                Command::new(program).arg("x")
            } else {
                pt_cmd(["sleep", &marker])
            }
        })
        .collect();
    let pipeline = Command::pipeline(stages);
    let err = pipeline.run().unwrap_err();
    let Error::Spawn(spawn) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(spawn.stage(), Some(bad), "{err}");
    assert_eq!(spawn.program(), program);
    assert_eq!(spawn.failure(), failure, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot run stage {bad} of \"{pipeline}\": ")),
        "{err}"
    );
    assert_eq!(
        live_with_arg(&marker),
        Vec::<u32>::new(),
        "stages left running"
    );
    assert_eq!(procfs::children(), Vec::new(), "children left unreaped");
}

#[test]
fn a_stage_that_cannot_start_stops_the_others() {
    let _g = exclusive();
    let not_on_path = "procession-no-such-program";
    let no_file = "/nonexistent/procession-no-such-program";
    for (n, bad) in [(3, 1), (5, 2), (3, 0), (3, 2), (1, 0)] {
        assert_missing_stage(n, bad, not_on_path, SpawnFailure::NotFound);
        assert_missing_stage(n, bad, no_file, SpawnFailure::NotFound);
    }
    let dir = temp_dir("noexec");
    let not_executable = dir.join("data.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    let path = not_executable.to_str().unwrap();
    assert_missing_stage(3, 1, path, SpawnFailure::PermissionDenied);
    assert_missing_stage(3, 2, dir.to_str().unwrap(), SpawnFailure::IsDirectory);
    std::fs::remove_dir_all(dir).unwrap();
}

// ---------------------------------------------------------------------------
// Nothing left behind
// ---------------------------------------------------------------------------

/// Runs `scenario` and checks it left no descriptor, thread or zombie.
fn assert_leaves_nothing(name: &str, scenario: impl FnOnce()) {
    let (fds, threads) = (procfs::open_fds(), procfs::own_threads());
    scenario();
    // At most as many descriptors and threads: a leak adds one, but what an
    // earlier test left to end in the background (a thread exiting, pipes
    // drained until their last writer exits) may have been counted before
    // and be gone after.
    let after = procfs::open_fds();
    assert!(
        after <= fds,
        "{name}: descriptors before and after: {fds}, {after}"
    );
    let after = procfs::own_threads();
    assert!(
        after <= threads,
        "{name}: threads before and after: {threads}, {after}"
    );
    assert_eq!(
        procfs::zombie_children(),
        Vec::<u32>::new(),
        "{name}: zombie children"
    );
}

#[test]
fn no_thread_or_descriptor_is_left_however_a_pipeline_ends() {
    let _g = exclusive();
    warm_up();
    let three_sleeps =
        || pt_cmd(["sleep", "30"]) | pt_cmd(["sleep", "30"]) | pt_cmd(["sleep", "30"]);
    // Short, so a lost stop request (see `stop_all_stages`) costs little here:
    // this test is about what is left behind, not about how fast a stop is.
    let short_sleeps = || pt_cmd(["sleep", "2"]) | pt_cmd(["sleep", "2"]) | pt_cmd(["sleep", "2"]);
    let echo_cat = || pt_cmd(["echo", "x"]) | pt_cmd(["cat"]);
    assert_leaves_nothing("success", || {
        let out = echo_cat().stdout_capture().stderr_capture().run().unwrap();
        assert_eq!(out.stdout, b"x\n");
    });
    assert_leaves_nothing("stdin bytes", || {
        let out = (pt_cmd(["cat"]) | pt_cmd(["count"]))
            .stdin_bytes(vec![0; 300_000])
            .read()
            .unwrap();
        assert_eq!(out, "300000");
    });
    assert_leaves_nothing("failure", || {
        let err = (pt_cmd(["fail", "3", "no"]) | pt_cmd(["cat"]))
            .stderr_capture()
            .run();
        assert_eq!(err.unwrap_err().status().and_then(|s| s.code()), Some(3));
    });
    assert_leaves_nothing("timeout", || {
        let err = three_sleeps().timeout(Duration::from_millis(100)).run();
        assert!(err.unwrap_err().timeout().is_some());
    });
    assert_leaves_nothing("started, waited", || {
        let handle = echo_cat().stdout_capture().start().unwrap();
        assert_eq!(handle.wait().unwrap().stdout, b"x\n");
    });
    assert_leaves_nothing("started, killed", || {
        let handle = short_sleeps().start().unwrap();
        handle.kill();
        let _ = handle.wait();
    });
    assert_leaves_nothing("started, terminated", || {
        let handle = short_sleeps().stdout_capture().start().unwrap();
        handle.terminate();
        let _ = handle.wait();
    });
    assert_leaves_nothing("started, dropped", || {
        drop(short_sleeps().start().unwrap());
    });
    assert_leaves_nothing("started, waited for a timeout", || {
        let handle = three_sleeps()
            .timeout(Duration::from_millis(100))
            .start()
            .unwrap();
        assert!(handle.wait().unwrap_err().timeout().is_some());
    });
    assert_leaves_nothing("lines dropped early", || {
        let mut lines = (pt_cmd(["yes"]) | pt_cmd(["cat"])).lines().unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "y");
        drop(lines);
    });
    assert_leaves_nothing("events to the end", || {
        let events = (pt_cmd(["lines", "4"]) | pt_cmd(["cat"])).events().unwrap();
        assert_eq!(events.count(), 5);
    });
    assert_leaves_nothing("spawn failure", || {
        let err =
            (pt_cmd(["sleep", "30"]) | Command::new("/nonexistent/x") | pt_cmd(["cat"])).run();
        assert!(matches!(err, Err(Error::Spawn(_))));
    });
}

#[test]
fn unchecked_on_the_pipeline_beats_a_stage_s_own_codes() {
    let _guard = shared();
    let out = (pt_cmd(["exit", "3"]).ok_codes([2]) | pt_cmd(["cat"]))
        .stdin_null()
        .unchecked()
        .run()
        .expect("unchecked on the whole pipeline makes every status data");
    assert_eq!(out.stages[0].status.code(), Some(3));
    assert_eq!(out.status.code(), Some(3));
}
