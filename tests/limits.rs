//! One bad value, one exhausted resource: an error or "no limit", never a
//! panic, a hang or an orphan.
//!
//! What is checked: a duration too long to add to `Instant::now()`
//! (`Duration::MAX`) means "no limit" at every entry point that takes one;
//! a run in progress is stopped and reaped on every error path; a thread
//! or descriptor that cannot be had is an error (or, in a pool, a reason to
//! wait for a running job to end), never a panic.
//!
//! Scenarios that need a resource limit run in a child process: the test
//! runs this test binary again, filtered to itself, with an environment
//! variable that makes it apply the limit and play the scenario, so the
//! limit never hits the test harness.
//!
//! No environment variables tune this file.

mod support;

use std::time::{Duration, Instant};

use procession::{Command, Error, Failure, JobOutput, Keep, Pool, Retry, StopSequence};
use support::{procfs, pt_cmd};

/// An upper bound on "did not hang", generous for a shared, noisy machine.
const HANG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// 1. Durations too long to add to now are no limit
// ---------------------------------------------------------------------------

#[test]
fn a_timeout_of_duration_max_is_no_limit() {
    let out = pt_cmd(&["echo", "hi"])
        .timeout(Duration::MAX)
        .stdout_capture()
        .run()
        .expect("runs to its end");
    assert_eq!(out.stdout, b"hi\n");
    // The same through a handle and the line iterator.
    let handle = pt_cmd(&["echo", "hi"]).timeout(Duration::MAX).start();
    assert!(handle.expect("starts").wait().is_ok());
    let lines: Vec<String> = pt_cmd(&["echo", "hi"])
        .timeout(Duration::MAX)
        .lines()
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("runs to its end");
    assert_eq!(lines, ["hi"]);
}

#[test]
fn a_drain_timeout_of_duration_max_is_no_limit() {
    let out = pt_cmd(&["echo", "drained"])
        .drain_timeout(Duration::MAX)
        .stdout_capture()
        .run()
        .expect("runs to its end");
    assert_eq!(out.stdout, b"drained\n");
    assert!(!out.incomplete);
}

#[test]
fn a_stop_step_of_duration_max_waits_without_a_limit() {
    // sleep dies of SIGTERM, so the endless wait after it ends at once.
    let endless = StopSequence::new().then(15, Duration::MAX);
    let err = pt_cmd(&["sleep", "10"])
        .stop_sequence(endless.clone())
        .timeout(Duration::from_millis(20))
        .run()
        .expect_err("times out");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(err.status().and_then(|s| s.signal()), Some(15));
    let pid = err.output().expect("it ran").stages[0].pid;
    assert!(procfs::stat(pid).is_none(), "pid {pid} was not reaped");

    // The same on the background thread: it goes on driving other runs.
    let stopping = pt_cmd(&["sleep", "10"])
        .stop_sequence(endless)
        .timeout(Duration::from_millis(20))
        .start()
        .expect("starts");
    let other = pt_cmd(&["sleep", "10"])
        .timeout(Duration::from_millis(50))
        .start()
        .expect("starts");
    for (what, handle) in [("stopping", stopping), ("other", other)] {
        let over = !matches!(handle.wait_timeout(HANG), Ok(None));
        if !over {
            // Dropping it would block on the dead loop.
            std::mem::forget(handle);
            panic!("the {what} handle's timeout never fired");
        }
    }
}

#[test]
fn handle_wait_timeout_of_duration_max_waits_to_the_end() {
    let handle = pt_cmd(&["echo", "waited"])
        .stdout_capture()
        .start()
        .expect("starts");
    let out = handle.wait_timeout(Duration::MAX).expect("succeeds");
    assert_eq!(out.expect("over").stdout, b"waited\n");
}

#[test]
fn job_handle_wait_timeout_of_duration_max_waits_to_the_end() {
    let pool = Pool::new(1);
    let job = pool.submit(pt_cmd(&["echo", "job"]).stdout_capture());
    let done = job.wait_timeout(Duration::MAX).expect("over");
    assert_eq!(done.result().as_ref().expect("succeeds").stdout, b"job\n");
}

#[test]
fn a_pool_timeout_of_duration_max_is_no_limit() {
    let capture = JobOutput::Capture {
        limit: None,
        keep: Keep::Head,
    };
    let pool = Pool::builder()
        .timeout(Duration::MAX)
        .output(capture)
        .build();
    let done: Vec<_> = pool.map([pt_cmd(&["echo", "pooled"])]).collect();
    let out = done[0].result().as_ref().expect("succeeds");
    assert_eq!(out.stdout, b"pooled\n");
}

#[test]
fn a_retry_delay_of_duration_max_never_comes_due() {
    // The retry would wait for ever; the pool's deadline ends the wait and
    // reports the first attempt.
    let pool = Pool::builder()
        .retry(Retry::attempts(2).delay(Duration::MAX))
        .deadline(Instant::now() + Duration::from_millis(200))
        .build();
    let began = Instant::now();
    let done: Vec<_> = pool.map([pt_cmd(&["exit", "3"])]).collect();
    assert!(began.elapsed() < HANG);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].attempts(), 1);
    assert_eq!(done[0].failure(), Some(Failure::Exit(3)));
}

// ---------------------------------------------------------------------------
// Scenarios in a child process
// ---------------------------------------------------------------------------

/// The variable that tells a run of this binary to play one scenario.
const SCENARIO: &str = "PROCESSION_LIMITS_SCENARIO";

/// What a scenario prints once it passed, so that a child that ran no test
/// at all cannot pass for one that passed.
const PASSED: &str = "scenario passed";

/// Plays the calling test in a child process, where it may lower its
/// resource limits without touching the test harness: in this process,
/// runs the test binary again for this one test with the variables `env`
/// set and returns from the test once the child passed; in that child,
/// does nothing and the test goes on. The test's name comes from the
/// function the macro is expanded in, so it is written only once.
macro_rules! in_a_child {
    () => {
        in_a_child!(&[])
    };
    ($env:expr) => {{
        fn here() {}
        let name = test_name(std::any::type_name_of_val(&here));
        if !playing(name) {
            return play_in_child(name, $env);
        }
    }};
}

/// The test's own name in the path of a function declared inside it
/// (`limits::the_test::here`).
fn test_name(path_of_here: &'static str) -> &'static str {
    let mut parts = path_of_here.rsplit("::");
    parts.next(); // `here`
    parts.next().expect("a test function's path")
}

/// Whether this process is the child that plays the scenario `name`.
fn playing(name: &str) -> bool {
    std::env::var(SCENARIO).is_ok_and(|v| v == name)
}

/// Runs the test `name` again in a child process, where [`playing`] holds,
/// with `env` set; panics with its output unless it passed.
fn play_in_child(name: &str, env: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, name)
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(PASSED),
        "scenario {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

fn passed() {
    println!("{PASSED}");
}

/// Lowers this process's soft limit of open descriptors to `limit`.
fn limit_fds(limit: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let old = getrlimit(Resource::Nofile);
    let new = Rlimit {
        current: Some(limit),
        maximum: old.maximum,
    };
    setrlimit(Resource::Nofile, new).expect("lower RLIMIT_NOFILE");
}

/// Takes every free descriptor (under a low limit), so that the next one
/// asked for fails with `EMFILE`.
fn take_all_fds() -> Vec<std::os::fd::OwnedFd> {
    let null = std::fs::File::open("/dev/null").expect("open /dev/null");
    let mut taken = Vec::new();
    while let Ok(fd) = null.try_clone() {
        taken.push(fd.into());
    }
    taken.push(null.into());
    taken
}

/// The children of this process that have not been reaped.
fn unreaped_children() -> Vec<(u32, char)> {
    procfs::children()
}

/// A pipeline of eight `pt sleep 10`s. After the spawn it wants more
/// descriptors (a pidfd per stage) than the spawn itself needed at once, so
/// some number of free descriptors lets the spawn succeed and leaves none
/// for what comes after it.
fn sleepers() -> Command {
    (1..8).fold(pt_cmd(&["sleep", "10"]), |p, _| {
        p | pt_cmd(&["sleep", "10"])
    })
}

/// Frees one descriptor after another until `attempt` (on a new thread, so
/// that no descriptor kept by an earlier run on this thread helps it)
/// fails with an error that names `what`: the spawn succeeded and the next
/// descriptor could not be had. Returns that error.
fn fail_after_spawn(what: &str, attempt: fn() -> Result<(), Error>) -> Error {
    let mut taken = take_all_fds();
    let mut seen = Vec::new();
    for _ in 0..16 {
        drop(taken.pop());
        let result = std::thread::spawn(attempt).join().expect("no panic");
        match result {
            Err(e) if e.to_string().contains(what) => return e,
            Err(e) => seen.push(e.to_string()),
            Ok(()) => panic!("ran to its end; errors before: {seen:?}"),
        }
    }
    panic!("never failed on {what:?} after the spawn: {seen:?}");
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "the portable mode wakes the poll loop through a pipe, not an eventfd"
)]
fn a_run_whose_eventfd_cannot_be_created_leaves_no_child() {
    in_a_child!();
    // Whatever is opened once and kept (the shared /dev/null) is open now.
    pt_cmd(&["echo"])
        .stdin_null()
        .stdout_capture()
        .run()
        .expect("runs");
    limit_fds(64);
    let err = fail_after_spawn("eventfd", || sleepers().stdout_capture().run().map(drop));
    assert!(matches!(err, Error::Io(_)), "{err}");
    let left = unreaped_children();
    assert!(left.is_empty(), "{err}: children left behind: {left:?}");
    passed();
}

#[test]
#[cfg_attr(
    procession_portable,
    ignore = "the portable mode wakes the poll loop through a pipe, not an eventfd"
)]
fn a_line_iterator_whose_eventfd_cannot_be_created_leaves_no_child() {
    in_a_child!();
    pt_cmd(&["echo"])
        .stdin_null()
        .stdout_capture()
        .run()
        .expect("runs");
    limit_fds(64);
    let err = fail_after_spawn("eventfd", || sleepers().lines().map(drop));
    assert!(matches!(err, Error::Io(_)), "{err}");
    let left = unreaped_children();
    assert!(left.is_empty(), "{err}: children left behind: {left:?}");
    passed();
}

/// Lowers this process's address space limit to what it uses now plus
/// `room` bytes.
fn limit_memory(room: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let status = std::fs::read_to_string("/proc/self/status").expect("read status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let old = getrlimit(Resource::As);
    let new = Rlimit {
        current: Some(kib * 1024 + room),
        maximum: old.maximum,
    };
    setrlimit(Resource::As, new).expect("lower RLIMIT_AS");
}

#[test]
fn memory_follows_the_jobs_running_not_the_jobs_allowed() {
    // One malloc arena, so that threads do not reserve address space
    // of their own.
    in_a_child!(&[("MALLOC_ARENA_MAX", "1")]);
    let capture = JobOutput::Capture {
        limit: None,
        keep: Keep::Head,
    };
    // Warm up: the spawning threads and the background thread exist.
    let pool = Pool::builder().jobs(2).output(capture.clone()).build();
    assert_eq!(pool.map([pt_cmd(&["echo"])]).finish().succeeded, 1);
    limit_memory(64 << 20);
    for jobs in [20_000_000, 100_000_000_000, usize::MAX] {
        let pool = Pool::builder().jobs(jobs).output(capture.clone()).build();
        let done: Vec<_> = pool.map([pt_cmd(&["echo", "one"])]).collect();
        let out = done[0].result().as_ref().expect("succeeds");
        assert_eq!(out.stdout, b"one\n", "-j {jobs}");
        assert_eq!(done[0].slot(), 1);
    }
    passed();
}

#[test]
fn without_threads_a_start_fails_and_the_rest_falls_back() {
    // Every new thread asks for a 1 TiB stack, which the memory limit
    // below refuses: no thread can be started.
    in_a_child!(&[
        ("MALLOC_ARENA_MAX", "1"),
        ("RUST_MIN_STACK", "1099511627776"),
    ]);
    limit_memory(256 << 20);
    assert!(
        std::thread::Builder::new().spawn(|| {}).is_err(),
        "threads can still be started: the scenario does not hold"
    );

    // A started command needs the background thread: an error that says so,
    // and nothing left behind.
    let err = pt_cmd(&["sleep", "10"])
        .start()
        .expect_err("no background thread");
    assert!(matches!(err, Error::Io(_)), "{err}");
    assert!(err.to_string().contains("background thread"), "{err}");
    let left = unreaped_children();
    assert!(left.is_empty(), "children left behind: {left:?}");

    // A blocking run whose drain time expires closes the pipe it cannot
    // hand over.
    let out = pt_cmd(&["grandchild", "10"])
        .drain_timeout(Duration::from_millis(50))
        .stdout_capture()
        .run()
        .expect("runs");
    assert!(out.incomplete);
    let grandchild: u32 = out
        .stdout_str()
        .expect("utf-8")
        .trim()
        .parse()
        .expect("a pid");
    procfs::kill(grandchild);

    // A pool's jobs are driven by the thread that starts them.
    let capture = JobOutput::Capture {
        limit: None,
        keep: Keep::Head,
    };
    let pool = Pool::builder().jobs(2).output(capture).build();
    let done: Vec<_> = pool
        .map([pt_cmd(&["echo", "a"]), pt_cmd(&["echo", "b"])])
        .collect();
    for (done, expected) in done.iter().zip([b"a\n", b"b\n"]) {
        let out = done.result().as_ref().expect("succeeds");
        assert_eq!(out.stdout, expected);
    }

    // A duct expression needs its watcher thread: an error, nothing started.
    #[cfg(feature = "duct")]
    {
        let pool = Pool::builder().jobs(1).build();
        let done: Vec<_> = pool
            .map([duct::cmd(support::pt(), ["sleep", "10"])])
            .collect();
        let err = done[0].result().as_ref().expect_err("no watcher thread");
        assert!(err.to_string().contains("duct"), "{err}");
        let left = unreaped_children();
        assert!(left.is_empty(), "children left behind: {left:?}");
    }
    passed();
}

#[test]
fn a_pool_short_of_descriptors_waits_for_a_running_job_instead_of_failing() {
    // GNU parallel's test for its bug #53748: under `ulimit -n`, 8 jobs with
    // captured output all run, in order, none with its output lost.
    in_a_child!();
    let capture = JobOutput::Capture {
        limit: None,
        keep: Keep::Head,
    };
    let pool = Pool::builder()
        .jobs(8)
        .output(capture)
        .retry(Retry::attempts(3))
        .build();
    // Warm up: whatever the crate opens once and keeps is open now.
    assert_eq!(pool.map([pt_cmd(&["lines", "1"])]).finish().succeeded, 1);
    // Room for two or three such jobs at once, not eight.
    limit_fds(procfs::open_fds() as u64 + 12);
    // Each job runs 300 ms, so they overlap: stdout, stderr, stdout.
    let jobs = (0..8).map(|_| pt_cmd(&["lines", "3", "150"]));
    let done: Vec<_> = pool.map(jobs).collect();
    assert_eq!(done.len(), 8);
    for (i, done) in done.iter().enumerate() {
        assert_eq!(done.seq(), i as u64 + 1);
        let out = match done.result() {
            Ok(out) => out,
            Err(e) => panic!("job #{} failed: {e}", done.seq()),
        };
        assert_eq!(out.stdout, b"out 0\nout 2\n");
        assert_eq!(out.stderr, b"err 1\n");
        assert_eq!(done.attempts(), 1, "job #{}", done.seq());
    }
    passed();
}

#[test]
fn a_pool_short_of_descriptors_for_output_files_waits_for_a_running_job() {
    // Setting up a job's output files is part of its start: descriptors
    // short for them, or for the spawn that hands them to the job, while
    // another job runs are a reason to wait, as for any spawn.
    in_a_child!();
    let dir = std::env::temp_dir().join(format!("procession-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pool = Pool::builder()
        .jobs(2)
        .output(JobOutput::Files(dir.clone()))
        .build();
    // Warm up: whatever the crate opens once and keeps is open now.
    assert_eq!(pool.map([pt_cmd(&["lines", "1"])]).finish().succeeded, 1);
    // Room for one job and the files of the next, not for two jobs and
    // the files of those prepared ahead.
    limit_fds(procfs::open_fds() as u64 + 11);
    let jobs = (0..8).map(|_| pt_cmd(&["lines", "3", "150"]));
    let done: Vec<_> = pool.map(jobs).collect();
    assert_eq!(done.len(), 8);
    for done in &done {
        if let Err(e) = done.result() {
            panic!("job #{} failed: {e}", done.seq());
        }
        assert_eq!(done.attempts(), 1, "job #{}", done.seq());
        let out = std::fs::read(dir.join(format!("{}/stdout", done.seq()))).unwrap();
        assert_eq!(out, b"out 0\nout 2\n", "job #{}", done.seq());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    passed();
}

#[test]
fn a_job_that_cannot_get_descriptors_alone_fails() {
    in_a_child!();
    let capture = JobOutput::Capture {
        limit: None,
        keep: Keep::Head,
    };
    let pool = Pool::builder().jobs(2).output(capture).build();
    assert_eq!(pool.map([pt_cmd(&["lines", "1"])]).finish().succeeded, 1);
    let _taken = {
        limit_fds(procfs::open_fds() as u64 + 8);
        take_all_fds()
    };
    // Nothing runs that could give descriptors back: the job fails at once.
    let done: Vec<_> = pool.map([pt_cmd(&["echo", "never"])]).collect();
    let err = done[0].result().as_ref().expect_err("no descriptors");
    assert!(err.to_string().contains("Too many open files"), "{err}");
    passed();
}
