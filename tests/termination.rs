//! Timeouts, deadlines, stops and cancels that own the whole process tree.
//!
//! What is checked: every run mode reports a timeout or a deadline as
//! `Error::Timeout` with the output read before it; a timeout stops
//! grandchildren that hold the output pipe (R2); the stop sequence
//! (`terminate`, `kill`, `signal`); a pipe held by a process outside the group
//! never hangs a run; dropping, detaching and cancelling; the `wait_*`
//! variants; and many threads racing on shared handles (R7).
//!
//! Environment: `PROCESSION_RACE_ITERS` (default 200, suffixes K/M/G) is the
//! number of short-lived handles the race test shares between its threads.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use procession::{CancelToken, Command, Error, Event, Handle, Output, StopSequence, cmd};
use support::{procfs, pt};

/// The timeout or deadline of the run-mode tests.
const LIMIT: Duration = Duration::from_millis(300);

/// The longer limits a run-mode test tries, in turn, when its child was
/// stopped before it wrote its first line (a loaded machine can take longer
/// than `LIMIT` to start it): the last one is long enough for any load.
const LONGER_LIMITS: [Duration; 2] = [Duration::from_secs(3), Duration::from_secs(30)];

/// Slack for "returns quickly" on a shared, noisy machine.
const SLACK: Duration = Duration::from_secs(5);

/// The timeout of the R2 tests, and the grace of the default stop sequence.
const R2_TIMEOUT: Duration = Duration::from_millis(200);
const DEFAULT_GRACE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// What is left of a process tree
// ---------------------------------------------------------------------------

/// Nothing of the group `pgid` is alive, nor any of `pids`.
fn assert_tree_gone(what: &str, pgid: u32, pids: &[u32]) {
    let members = procfs::live_group_members(pgid);
    assert!(
        members.is_empty(),
        "{what}: group {pgid} still has live processes {members:?}"
    );
    let live: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| procfs::is_live(*p))
        .collect();
    assert!(
        live.is_empty(),
        "{what}: processes {live:?} are still alive"
    );
}

/// Process ids printed one per line (by `pt grandchild`).
fn parse_pids(text: &[u8]) -> Vec<u32> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------
// Reading a started command's output while it runs
// ---------------------------------------------------------------------------

/// The reading end of a socket a command writes its stdout to, so the test
/// can wait for a "ready" line without sleeping.
struct Marker {
    reader: BufReader<UnixStream>,
}

/// A socket pair: the `File` is for `stdout_file`, the `Marker` for us.
fn marker() -> (File, Marker) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    let file = File::from(OwnedFd::from(theirs));
    (
        file,
        Marker {
            reader: BufReader::new(ours),
        },
    )
}

impl Marker {
    /// The next line, without its newline. Panics at end of file or after
    /// 30 s, so a bug cannot hang the test.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("read a line from the child");
        assert!(
            n > 0,
            "the child closed its stdout before the expected line"
        );
        line.trim_end().to_string()
    }

    fn lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.line()).collect()
    }
}

/// Starts `cmd` with stdout on a socket and reads its first `n` lines.
fn start_and_read(cmd: Command, n: usize) -> (Handle, Vec<String>) {
    let (file, mut marker) = marker();
    // The command (which holds the file) is dropped once started.
    let handle = cmd.stdout_file(file).start().expect("start");
    let lines = marker.lines(n);
    (handle, lines)
}

// ---------------------------------------------------------------------------
// Timeouts and deadlines in every run mode
// ---------------------------------------------------------------------------

/// `pt lines 3 30000`: prints `out 0` at once, then sleeps 30 s before its
/// next line.
fn first_line_then_sleep() -> Command {
    cmd!(pt(), "lines", "3", "30000")
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Run,
    Read,
    Lines,
    Events,
    Start,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Limit {
    Timeout,
    Deadline,
}

/// Runs `cmd` in `mode` until it fails: the lines an iterator handed out
/// before the error, and the error.
fn run_until_error(mode: Mode, cmd: Command) -> (Vec<String>, Error) {
    match mode {
        Mode::Run => (Vec::new(), cmd.stdout_capture().run().unwrap_err()),
        Mode::Read => (Vec::new(), cmd.read().unwrap_err()),
        Mode::Start => {
            let handle = cmd.stdout_capture().start().expect("start");
            (Vec::new(), handle.into_output().unwrap_err())
        }
        Mode::Lines => split_error(cmd.lines().expect("lines").collect()),
        Mode::Events => {
            let items = cmd.events().expect("events").map(|item| {
                item.map(|event| match event {
                    Event::Stdout(line) => line,
                    Event::Stderr(line) => format!("stderr: {line}"),
                    other => format!("event: {other:?}"),
                })
            });
            split_error(items.collect())
        }
    }
}

/// Splits iterator items into the lines before the last item, which must be
/// the only error.
fn split_error(mut items: Vec<Result<String, Error>>) -> (Vec<String>, Error) {
    let last = items.pop().expect("at least one item");
    let error = last.expect_err("the last item is the error");
    let lines = items
        .into_iter()
        .map(|i| i.expect("only the last item fails"))
        .collect();
    (lines, error)
}

/// A timeout or deadline stops the command `make` builds in `mode`, and
/// the error says so and keeps the output read before.
///
/// `make` is given a file that the command's last stage creates once it
/// wrote its first line (`PT_READY`). Where the file exists after the stop,
/// that line must be in the output; where it does not, the child was
/// stopped before it got that far (a loaded machine can take longer than
/// `LIMIT` to start it): the output can hold at most that line, and the
/// check runs again with a longer limit. Every other check holds at every
/// limit.
fn check_stopped_by_limit(mode: Mode, limit: Limit, make: impl Fn(&Path) -> Command) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    for (i, duration) in std::iter::once(LIMIT).chain(LONGER_LIMITS).enumerate() {
        let ready = std::env::temp_dir().join(format!(
            "procession-termination-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let wrote_first_line = check_stopped_once(mode, limit, duration, make(&ready), &ready);
        let _ = std::fs::remove_file(&ready);
        if wrote_first_line {
            return;
        }
        eprintln!("{mode:?}/{limit:?}: stopped before its first line (try {i}); trying longer");
    }
    panic!("{mode:?} with a {limit:?}: the child wrote no line in {LONGER_LIMITS:?}");
}

/// One run of [`check_stopped_by_limit`] with a limit of `duration`:
/// whether the command wrote its first line (created `ready`) before the
/// stop.
fn check_stopped_once(
    mode: Mode,
    limit: Limit,
    duration: Duration,
    cmd: Command,
    ready: &Path,
) -> bool {
    let what = format!("{mode:?} with a {limit:?} of {duration:?} on {cmd}");
    let started = Instant::now();
    let deadline = started + duration;
    let cmd = match limit {
        Limit::Timeout => cmd.timeout(duration),
        Limit::Deadline => cmd.deadline(deadline),
    };
    let (lines, error) = run_until_error(mode, cmd);
    let wall = started.elapsed();
    // Created, if at all, before the child was stopped: the error is only
    // reported once every process of the run is gone.
    let wrote_first_line = ready.exists();
    let stopped = error
        .timeout()
        .unwrap_or_else(|| panic!("{what}: expected Error::Timeout, got {error:?}"));
    let output = match mode {
        // The iterators hand the lines out as they come.
        Mode::Lines | Mode::Events => lines.iter().map(|l| format!("{l}\n")).collect(),
        _ => String::from_utf8_lossy(stopped.partial_stdout()).into_owned(),
    };
    if wrote_first_line {
        assert_eq!(output, "out 0\n", "{what}: partial output");
    } else {
        // Stopped before the first line was done: it may be in, or not.
        assert!(
            output.is_empty() || output == "out 0\n",
            "{what}: partial output {output:?}"
        );
    }
    match limit {
        Limit::Timeout => {
            assert_eq!(stopped.limit(), Some(duration), "{what}");
            assert!(
                stopped.elapsed() >= duration,
                "{what}: elapsed {:?}",
                stopped.elapsed()
            );
        }
        Limit::Deadline => {
            assert_eq!(stopped.limit(), None, "{what}: a deadline is not a timeout");
            assert!(
                Instant::now() >= deadline,
                "{what}: returned before the deadline"
            );
        }
    }
    assert!(
        stopped.elapsed() <= wall,
        "{what}: elapsed {:?} > wall {wall:?}",
        stopped.elapsed()
    );
    assert!(wall < duration + SLACK, "{what}: took {wall:?}");
    let signal = error.status().and_then(|s| s.signal());
    assert_eq!(signal, Some(15), "{what}: stopped by SIGTERM");
    wrote_first_line
}

fn check_mode(mode: Mode) {
    for limit in [Limit::Timeout, Limit::Deadline] {
        check_stopped_by_limit(mode, limit, |ready| {
            first_line_then_sleep().env("PT_READY", ready)
        });
        check_stopped_by_limit(mode, limit, |ready| {
            first_line_then_sleep() | cmd!(pt(), "cat").env("PT_READY", ready)
        });
    }
}

#[test]
fn run_is_stopped_by_timeout_and_deadline() {
    check_mode(Mode::Run);
}

#[test]
fn read_is_stopped_by_timeout_and_deadline() {
    check_mode(Mode::Read);
}

#[test]
fn lines_are_stopped_by_timeout_and_deadline() {
    check_mode(Mode::Lines);
}

#[test]
fn events_are_stopped_by_timeout_and_deadline() {
    check_mode(Mode::Events);
}

#[test]
fn started_handle_is_stopped_by_timeout_and_deadline() {
    check_mode(Mode::Start);
}

#[test]
fn timeout_keeps_stderr_too() {
    // `pt lines 2 30000` prints `out 0`; swapped, that is stderr.
    let err = cmd!(pt(), "lines", "2", "30000")
        .swap_stdout_stderr()
        .stdout_capture()
        .stderr_capture()
        .timeout(LIMIT)
        .run()
        .unwrap_err();
    let stopped = err.timeout().expect("a timeout");
    assert_eq!(stopped.partial_stderr(), b"out 0\n");
    assert_eq!(stopped.partial_stdout(), b"");
}

/// A deadline's `Error::Timeout` has no `limit()`; its message must still
/// read as a timeout, not as a cancel.
#[test]
fn a_deadline_error_says_it_timed_out() {
    let err = cmd!(pt(), "sleep", "30")
        .deadline(Instant::now() + Duration::from_millis(100))
        .run()
        .unwrap_err();
    assert!(err.timeout().is_some(), "{err:?}");
    let message = err.to_string();
    assert!(
        !message.contains("cancelled")
            && (message.contains("deadline") || message.contains("timed out")),
        "a deadline is not a cancel: {message:?}"
    );
}

#[test]
fn a_deadline_already_past_stops_at_once() {
    let started = Instant::now();
    let err = cmd!(pt(), "sleep", "30")
        .deadline(started - Duration::from_secs(1))
        .run()
        .unwrap_err();
    assert!(err.timeout().is_some(), "{err:?}");
    assert!(started.elapsed() < SLACK, "took {:?}", started.elapsed());
}

#[test]
fn a_command_that_ends_in_time_is_not_stopped() {
    let out = cmd!(pt(), "echo", "quick")
        .timeout(Duration::from_secs(30))
        .stdout_capture()
        .run()
        .expect("ends well before its timeout");
    assert_eq!(out.stdout, b"quick\n");
}

// ---------------------------------------------------------------------------
// R2: a timeout stops grandchildren that hold the pipe
// ---------------------------------------------------------------------------

/// The run was stopped by its timeout within timeout + grace + 1 s, and
/// nothing of its group, nor the grandchildren it printed, is alive.
fn assert_tree_stopped_in_time(what: &str, wall: Duration, result: Result<Output, Error>) {
    let error = result.expect_err("the timeout must stop it");
    let stopped = error
        .timeout()
        .unwrap_or_else(|| panic!("{what}: expected a timeout, got {error:?}"));
    eprintln!(
        "R2 {what}: run returned after {wall:?} (error's elapsed {:?})",
        stopped.elapsed()
    );
    let bound = R2_TIMEOUT + DEFAULT_GRACE + Duration::from_secs(1);
    assert!(
        wall < bound,
        "{what}: returned after {wall:?}, bound {bound:?}"
    );
    assert!(
        wall >= R2_TIMEOUT,
        "{what}: returned after {wall:?}, before its timeout"
    );
    let pgid = stopped.output().stages[0].pid;
    let grandchildren = parse_pids(stopped.partial_stdout());
    assert_eq!(
        grandchildren.len(),
        2,
        "{what}: stdout {:?}",
        stopped.partial_stdout()
    );
    assert_tree_gone(what, pgid, &grandchildren);
}

#[test]
fn r2_timeout_stops_grandchildren_holding_stdout() {
    let started = Instant::now();
    let result = cmd!(pt(), "grandchild", "30", "2")
        .stdout_capture()
        .timeout(R2_TIMEOUT)
        .run();
    assert_tree_stopped_in_time("pt grandchild 30 2", started.elapsed(), result);
}

#[test]
fn r2_timeout_stops_grandchildren_of_a_middle_stage() {
    let pipeline = Command::pipeline([
        cmd!(pt(), "cat"),
        cmd!(pt(), "grandchild", "30", "2", "--hold", "30"),
        cmd!(pt(), "cat"),
    ]);
    let started = Instant::now();
    let result = pipeline
        .stdin_null()
        .stdout_capture()
        .timeout(R2_TIMEOUT)
        .run();
    assert_tree_stopped_in_time("pt cat | pt grandchild | pt cat", started.elapsed(), result);
}

// ---------------------------------------------------------------------------
// The stop sequence
// ---------------------------------------------------------------------------

#[test]
fn terminate_kills_a_process_that_ignores_term_after_the_grace() {
    let grace = Duration::from_millis(300);
    let cmd = cmd!(pt(), "ignore-term", "30").stop_sequence(StopSequence::term_then_kill(grace));
    let (handle, lines) = start_and_read(cmd, 1);
    assert_eq!(lines, ["ready"]);
    let asked = Instant::now();
    handle.terminate();
    let error = handle.wait().unwrap_err();
    let took = asked.elapsed();
    assert!(
        matches!(error, Error::Exit(_)),
        "a terminate is not a timeout: {error:?}"
    );
    assert_eq!(
        error.status().and_then(|s| s.signal()),
        Some(9),
        "{error:?}"
    );
    assert!(
        took >= grace,
        "SIGKILL came after {took:?}, before the grace"
    );
    assert!(took < grace + SLACK, "took {took:?}");
}

#[test]
fn terminate_stops_a_well_behaved_process_with_term_at_once() {
    let grace = Duration::from_secs(30);
    let handle = cmd!(pt(), "sleep", "30")
        .stop_sequence(StopSequence::term_then_kill(grace))
        .start()
        .expect("start");
    let asked = Instant::now();
    handle.terminate();
    let error = handle.wait().unwrap_err();
    assert_eq!(
        error.status().and_then(|s| s.signal()),
        Some(15),
        "{error:?}"
    );
    assert!(
        asked.elapsed() < SLACK,
        "took {:?}: waited out the grace",
        asked.elapsed()
    );
}

#[test]
fn kill_skips_the_grace() {
    let cmd = cmd!(pt(), "ignore-term", "30")
        .stop_sequence(StopSequence::term_then_kill(Duration::from_secs(30)));
    let (handle, lines) = start_and_read(cmd, 1);
    assert_eq!(lines, ["ready"]);
    let asked = Instant::now();
    handle.kill();
    let error = handle.wait().unwrap_err();
    assert_eq!(
        error.status().and_then(|s| s.signal()),
        Some(9),
        "{error:?}"
    );
    assert!(asked.elapsed() < SLACK, "took {:?}", asked.elapsed());
}

#[test]
fn kill_during_a_terminate_cuts_the_grace_short() {
    let cmd = cmd!(pt(), "ignore-term", "30")
        .stop_sequence(StopSequence::term_then_kill(Duration::from_secs(30)));
    let (handle, lines) = start_and_read(cmd, 1);
    assert_eq!(lines, ["ready"]);
    let asked = Instant::now();
    handle.terminate();
    assert!(
        handle
            .wait_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    handle.kill();
    let error = handle.wait().unwrap_err();
    assert_eq!(
        error.status().and_then(|s| s.signal()),
        Some(9),
        "{error:?}"
    );
    assert!(asked.elapsed() < SLACK, "took {:?}", asked.elapsed());
}

#[test]
fn signal_delivers_one_signal_and_is_not_a_stop() {
    const SIGUSR1: i32 = 10;
    const SIGWINCH: i32 = 28; // ignored by default
    let handle = cmd!(pt(), "sleep", "30").start().expect("start");
    handle.signal(SIGWINCH).unwrap();
    // Were `signal` a stop, `pt sleep` would die of SIGTERM here.
    let early = handle
        .wait_timeout(Duration::from_millis(300))
        .map(|o| o.is_some());
    assert!(
        matches!(early, Ok(false)),
        "SIGWINCH ended the run: {early:?}"
    );
    handle.signal(SIGUSR1).unwrap();
    let error = handle.wait().unwrap_err();
    assert!(matches!(error, Error::Exit(_)), "not a stop: {error:?}");
    assert!(error.timeout().is_none() && !error.is_cancelled());
    assert_eq!(
        error.status().and_then(|s| s.signal()),
        Some(SIGUSR1),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// Never hang on a pipe held outside the group
// ---------------------------------------------------------------------------

fn have_setsid() -> bool {
    std::process::Command::new("sh")
        .args(["-c", "command -v setsid"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_pipe_held_outside_the_group_does_not_hang_and_the_holder_lives() {
    if !have_setsid() {
        eprintln!("skipped: no `setsid` (util-linux) on this machine");
        return;
    }
    let drain = Duration::from_millis(200);
    let started = Instant::now();
    let out = cmd!(
        "sh",
        "-c",
        "setsid \"$1\" sleep 30 & echo $!; echo started",
        "sh",
        pt()
    )
    .stdout_capture()
    .drain_timeout(drain)
    .run()
    .expect("sh exits 0");
    let took = started.elapsed();
    let holder = parse_pids(&out.stdout)[0];
    let holder_alive = procfs::is_live(holder);
    let holder_group = procfs::stat(holder).map(|s| s.pgrp);
    if holder_alive {
        procfs::kill(holder);
    }
    assert!(
        out.stdout.ends_with(b"started\n"),
        "{:?}",
        out.stdout_lossy()
    );
    assert!(out.incomplete, "the holder still had the pipe open");
    assert!(
        took >= drain,
        "returned after {took:?}, before the drain time"
    );
    assert!(took < drain + SLACK, "took {took:?}");
    assert!(
        holder_alive,
        "the holder {holder} was killed: it is not in the run's group"
    );
    assert_eq!(
        holder_group,
        Some(holder),
        "the holder left the group with setsid"
    );
}

// ---------------------------------------------------------------------------
// Drop, detach, cancel
// ---------------------------------------------------------------------------

#[test]
fn dropping_a_running_handle_stops_and_reaps_its_tree() {
    let cmd = cmd!(pt(), "grandchild", "30", "2", "--hold", "30");
    let (handle, lines) = start_and_read(cmd, 2);
    let grandchildren: Vec<u32> = lines.iter().map(|l| l.parse().expect("a pid")).collect();
    let pgid = handle.pid();
    assert!(
        grandchildren.iter().all(|p| procfs::is_live(*p)),
        "grandchildren run before the drop"
    );
    assert!(
        !procfs::live_group_members(pgid).is_empty(),
        "the group is seen"
    );
    drop(handle);
    assert_tree_gone("dropped handle", pgid, &grandchildren);
    assert!(
        !procfs::zombie_children().contains(&pgid),
        "the dropped handle's process was not reaped"
    );
}

#[test]
fn dropping_a_lines_iterator_stops_its_tree() {
    let mut lines = cmd!(pt(), "grandchild", "30", "2", "--hold", "30")
        .lines()
        .expect("lines");
    let grandchildren: Vec<u32> = (0..2)
        .map(|_| {
            lines
                .next()
                .expect("a line")
                .expect("text")
                .parse()
                .expect("a pid")
        })
        .collect();
    let pgid = procfs::stat(grandchildren[0])
        .expect("the grandchild runs")
        .pgrp;
    drop(lines);
    assert_tree_gone("dropped lines iterator", pgid, &grandchildren);
}

#[test]
fn detach_lets_the_command_run_on_and_still_reaps_it() {
    let handle = cmd!(pt(), "sleep", "30").start().expect("start");
    let pid = handle.pid();
    handle.detach();
    assert!(procfs::is_live(pid), "a detached command runs on");
    procfs::kill(pid);
    // No handle is left to wait on: look until the background loop reaps it.
    let reaped = procfs::eventually(SLACK, || {
        procfs::stat(pid).is_none_or(|s| s.ppid != std::process::id())
    });
    assert!(
        reaped,
        "the detached command {pid} was not reaped once it ended"
    );
}

#[test]
fn cancel_token_stops_runs_on_other_threads() {
    let token = CancelToken::new();
    let (file, mut marker) = marker();
    let run = first_line_then_sleep().stdout_file(file).cancel_on(&token);
    let runner = std::thread::spawn(move || run.run());
    let handle = (cmd!(pt(), "sleep", "30") | cmd!(pt(), "cat"))
        .cancel_on(&token)
        .start()
        .expect("start");
    assert_eq!(marker.line(), "out 0");
    let asked = Instant::now();
    token.cancel();
    assert!(token.is_cancelled());
    let run_error = runner.join().expect("no panic").unwrap_err();
    let handle_error = handle.wait().unwrap_err();
    for error in [&run_error, &handle_error] {
        assert!(error.is_cancelled(), "{error:?}");
        assert!(matches!(error, Error::Cancelled(_)) && error.timeout().is_none());
        assert_eq!(
            error.status().and_then(|s| s.signal()),
            Some(15),
            "{error:?}"
        );
    }
    assert!(asked.elapsed() < SLACK, "took {:?}", asked.elapsed());
}

#[test]
fn a_token_cancelled_before_start_stops_at_once() {
    let token = CancelToken::new();
    token.cancel();
    let started = Instant::now();
    let run_error = cmd!(pt(), "sleep", "30")
        .cancel_on(&token)
        .run()
        .unwrap_err();
    let handle = cmd!(pt(), "sleep", "30")
        .cancel_on(&token)
        .start()
        .expect("start");
    let handle_error = handle.wait().unwrap_err();
    assert!(run_error.is_cancelled(), "{run_error:?}");
    assert!(handle_error.is_cancelled(), "{handle_error:?}");
    assert!(started.elapsed() < SLACK, "took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// wait_timeout, wait_deadline, try_wait
// ---------------------------------------------------------------------------

#[test]
fn wait_variants_return_none_while_running_and_the_output_after() {
    let handle = cmd!(pt(), "cat")
        .stdin_pipe()
        .stdout_capture()
        .start()
        .expect("start");
    let mut stdin = handle.take_stdin().expect("a stdin pipe");
    stdin.write_all(b"hello").expect("write");
    assert!(handle.try_wait().expect("running").is_none());
    let asked = Instant::now();
    assert!(
        handle
            .wait_timeout(Duration::from_millis(100))
            .expect("running")
            .is_none()
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(100),
        "wait_timeout returned early"
    );
    let deadline = Instant::now() + Duration::from_millis(100);
    assert!(handle.wait_deadline(deadline).expect("running").is_none());
    assert!(Instant::now() >= deadline, "wait_deadline returned early");
    drop(stdin); // end of file: `pt cat` exits
    let out = handle.wait_timeout(SLACK).expect("success").expect("over");
    assert_eq!(out.stdout, b"hello");
    let again = handle.try_wait().expect("success").expect("over");
    assert_eq!(again.stdout, b"hello");
    let past = handle
        .wait_deadline(Instant::now())
        .expect("success")
        .expect("over");
    assert_eq!(past.elapsed, out.elapsed, "the same output every time");
}

#[test]
fn wait_variants_report_the_error_once_over() {
    let handle = cmd!(pt(), "exit", "3").start().expect("start");
    let first = handle.wait_timeout(SLACK).unwrap_err();
    assert_eq!(first.status().and_then(|s| s.code()), Some(3));
    let second = handle.try_wait().unwrap_err();
    assert_eq!(second.to_string(), first.to_string());
}

// ---------------------------------------------------------------------------
// R7: many threads on the same handles
// ---------------------------------------------------------------------------

/// A small xorshift generator: random enough to scatter the calls.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Everything observable about a result, to compare calls on one handle.
fn summary(result: Result<&Output, Error>) -> String {
    format!("{result:?}")
}

fn summary_opt(result: Result<Option<&Output>, Error>) -> Option<String> {
    match result {
        Ok(None) => None,
        Ok(Some(output)) => Some(summary(Ok(output))),
        Err(error) => Some(summary(Err(error))),
    }
}

/// One random call on one random handle; the results of waits that ended
/// go to `seen` with the handle's index.
fn random_call(handles: &[Arc<Handle>], rng: &mut Rng, seen: &mut Vec<(usize, String)>) {
    const SIGNALS: [i32; 4] = [10, 15, 18, 28]; // USR1, TERM, CONT, WINCH
    let index = rng.below(handles.len() as u64) as usize;
    let handle = &handles[index];
    let result = match rng.below(6) {
        0 => Some(summary(handle.wait())),
        1 => summary_opt(handle.try_wait()),
        2 => summary_opt(handle.wait_timeout(Duration::from_millis(rng.below(20)))),
        3 => {
            handle.terminate();
            None
        }
        4 => {
            handle.kill();
            None
        }
        _ => {
            handle.signal(SIGNALS[rng.below(4) as usize]).unwrap();
            None
        }
    };
    seen.extend(result.map(|r| (index, r)));
    std::thread::sleep(Duration::from_millis(rng.below(5)));
}

/// One round: `handles` shared by `THREADS` threads making random calls,
/// then every thread waits for every handle.
fn race_round(handles: &[Arc<Handle>], round: u64) -> Vec<(usize, String)> {
    const THREADS: u64 = 8;
    const CALLS: usize = 6;
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut rng = Rng::new(round * THREADS + t + 1);
                    let mut seen = Vec::new();
                    for _ in 0..CALLS {
                        random_call(handles, &mut rng, &mut seen);
                    }
                    for (i, handle) in handles.iter().enumerate() {
                        seen.push((i, summary(handle.wait())));
                    }
                    seen
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("no thread panics"))
            .collect()
    })
}

/// A result is a success or a death by one of the signals the race sends.
fn is_plausible(result: &Result<&Output, Error>) -> bool {
    match result {
        Ok(output) => output.status.success(),
        Err(Error::Exit(e)) => matches!(e.status().signal(), Some(9 | 10 | 15)),
        Err(_) => false,
    }
}

// Why no signal can reach a reaped process: each stage is signalled through
// its pidfd (pidfd_send_signal), which names that very process and fails
// with ESRCH once it is gone, whatever process later gets the same pid; and
// the only reaper of a stage is its run's own loop (waitid on the pidfd,
// never waitid(-1)), which stops signalling a stage once it has reaped it.
// The process group is signalled by id (kill(-pgid)); that id cannot be
// reused while any member of the group, even a zombie, exists, and Linux
// hands out pids cyclically, so a reuse would need the whole pid space to
// wrap around in the instants between the last reap and the end of the run.
// What we can observe is checked: a sentinel in another group, which the
// library never started, is neither signalled nor reaped by it.
#[test]
fn r7_threads_racing_on_shared_handles() {
    let total = support::env_usize("PROCESSION_RACE_ITERS", 200);
    const BATCH: usize = 8;
    let mut sentinel = std::process::Command::new(pt())
        .args(["sleep", "120"])
        .process_group(0)
        .spawn()
        .expect("spawn the sentinel");
    let mut pids = Vec::new();
    let mut round = 0u64;
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let mut rng = Rng::new(round + 1000);
        let handles: Vec<Arc<Handle>> = (0..n)
            .map(|_| {
                let secs = format!("0.0{}", rng.below(6));
                Arc::new(cmd!(pt(), "sleep", secs).start().expect("start"))
            })
            .collect();
        pids.extend(handles.iter().map(|h| h.pid()));
        let seen = race_round(&handles, round);
        for (i, handle) in handles.iter().enumerate() {
            let last = handle.wait();
            assert!(is_plausible(&last), "handle {i} of round {round}: {last:?}");
            let last = summary(last);
            for (_, result) in seen.iter().filter(|(j, _)| *j == i) {
                assert_eq!(result, &last, "two waits on one handle disagree");
            }
        }
        done += n;
        round += 1;
    }
    let zombie_children = procfs::zombie_children();
    let zombies: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| zombie_children.contains(p))
        .collect();
    let sentinel_state = sentinel.try_wait();
    let _ = sentinel.kill();
    let _ = sentinel.wait();
    assert!(zombies.is_empty(), "children left unreaped: {zombies:?}");
    assert!(
        matches!(sentinel_state, Ok(None)),
        "the sentinel was signalled or reaped: {sentinel_state:?}"
    );
}
