//! The Slurm test cases (see `../slurm.rs`).

use std::io::Write;
use std::process::Command as StdCommand;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use procession::{Failure, Halt, JobOutput, Pool, PoolBuilder, Retry, Slurm, Threshold};

use super::support::{self, is_pattern, procfs, pt_cmd};

pub type Case = (&'static str, fn());

pub const ALL: &[Case] = &[
    ("fault_table", fault_table),
    (
        "timeout_stops_the_tree_term_first",
        timeout_stops_the_tree_term_first,
    ),
    ("rejected_partition", rejected_partition),
    ("missing_srun", missing_srun),
    (
        "unsupported_jobs_are_typed_errors",
        unsupported_jobs_are_typed_errors,
    ),
    ("halt_now_stops_running_jobs", halt_now_stops_running_jobs),
    (
        "map_order_retries_and_joblog_host",
        map_order_retries_and_joblog_host,
    ),
    ("deadline_while_queued", deadline_while_queued),
    ("steps_fault_table", steps_fault_table),
    (
        "ctrl_c_cancels_through_scancel",
        ctrl_c_cancels_through_scancel,
    ),
    (
        "parallel_example_runs_on_slurm",
        parallel_example_runs_on_slurm,
    ),
    (
        "ctrl_z_stops_jobs_through_scancel",
        ctrl_z_stops_jobs_through_scancel,
    ),
    ("ctrl_z_time_does_not_count", ctrl_z_time_does_not_count),
    (
        "tagged_lines_come_from_the_jobs_only",
        tagged_lines_come_from_the_jobs_only,
    ),
];

/// `srun` is on PATH and the cluster answers `sinfo` within 2 s.
pub fn cluster_answers() -> bool {
    procession::cmd!("sinfo", "-h", "-o", "%T")
        .stderr_null()
        .timeout(Duration::from_secs(2))
        .read()
        .is_ok_and(|states| !states.trim().is_empty())
        && procession::cmd!("srun", "--version")
            .stderr_null()
            .timeout(Duration::from_secs(2))
            .read()
            .is_ok()
}

/// The marker every job of a test carries in its environment.
fn marker(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// A `pt` job carrying the marker.
fn job(mark: &str, args: &[&str]) -> procession::Command {
    pt_cmd(args).env("PROCESSION_SLURM_MARK", mark)
}

/// The processes whose environment holds the marker.
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("PROCESSION_SLURM_MARK={mark}\0");
    procfs::all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// The jobs in `squeue` named like a pool's.
fn queued_jobs() -> String {
    let out = StdCommand::new("squeue")
        .args(["-h", "-o", "%i %j %T"])
        .output()
        .expect("run squeue");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" procession-"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Every test's end: no job in `squeue`, no marked process left.
fn clean(mark: &str) {
    let limit = Duration::from_secs(15);
    assert!(
        procfs::eventually(limit, || queued_jobs().is_empty()),
        "jobs left in squeue: {}",
        queued_jobs()
    );
    assert!(
        procfs::eventually(limit, || marked(mark).is_empty()),
        "processes left with marker {mark}: {:?}",
        marked(mark)
    );
}

fn hostname() -> String {
    let out = StdCommand::new("hostname")
        .arg("-s")
        .output()
        .expect("run hostname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn pool(slurm: Slurm) -> PoolBuilder {
    Pool::builder()
        .slurm(slurm)
        .jobs(2)
        .output(JobOutput::Capture {
            limit: None,
            keep: procession::Keep::Tail,
        })
}

fn table(slurm: Slurm, mark: &str) {
    let ten_mb = (10 << 20).to_string();
    let jobs = vec![
        job(mark, &["echo", "hello"]),
        job(mark, &["exit", "3"]),
        job(mark, &["kill-self", "SEGV"]),
        job(mark, &["kill-self", "KILL"]),
        job(mark, &["write", &ten_mb, &ten_mb]),
        procession::cmd!("procession-no-such-program").env("PROCESSION_SLURM_MARK", mark),
    ];
    let expected = [
        None,
        Some(Failure::Exit(3)),
        Some(Failure::Signal(11)),
        Some(Failure::Signal(9)),
        None,
        Some(Failure::Spawn),
    ];
    let host = hostname();
    let pool = pool(slurm).build();
    let done: Vec<_> = pool.map(jobs).collect();
    assert_eq!(done.len(), expected.len(), "every job reported once");
    for (i, (done, expected)) in done.iter().zip(expected).enumerate() {
        assert_eq!(done.seq(), i as u64 + 1, "in input order");
        assert_eq!(
            done.failure(),
            expected,
            "job {}: {:?}",
            i + 1,
            done.result()
        );
        assert_eq!(done.host(), Some(host.as_str()), "job {} host", i + 1);
        let id = done.remote_id().expect("a remote id");
        let parts: Vec<&str> = id.split('.').collect();
        assert!(parts.iter().all(|p| p.parse::<u64>().is_ok()), "id {id}");
        let steps = std::env::var_os("SLURM_JOB_ID").is_some();
        assert_eq!(parts.len(), if steps { 2 } else { 1 }, "id {id}");
    }
    assert_eq!(done[0].output().unwrap().stdout, b"hello\n");
    assert!(
        done[0].output().unwrap().stderr.is_empty(),
        "no srun line in stderr"
    );
    let big = done[4].output().unwrap();
    assert_eq!(big.stdout.len(), 10 << 20);
    assert_eq!(big.stderr.len(), 10 << 20, "stderr without srun's lines");
    assert!(
        is_pattern(&big.stdout) && is_pattern(&big.stderr),
        "byte-exact"
    );
    let missing = done[5].result().as_ref().unwrap_err().to_string();
    assert!(missing.contains("procession-no-such-program"), "{missing}");
    let exit3 = done[1].result().as_ref().unwrap_err();
    assert!(
        exit3.output().is_some_and(|o| o.stderr.is_empty()),
        "srun's exit line is kept out of stderr: {exit3}"
    );
    drop(pool);
    clean(mark);
}

fn fault_table() {
    table(Slurm::jobs(), &marker("fault_table"));
}

fn timeout_stops_the_tree_term_first() {
    let mark = marker("timeout");
    let pool = pool(Slurm::jobs()).timeout(Duration::from_secs(2)).build();
    let start = Instant::now();
    let handle = pool.submit(job(&mark, &["term-tree", "120"]));
    let done = handle.done();
    assert_eq!(
        done.failure(),
        Some(Failure::Timeout),
        "{:?}",
        done.result()
    );
    let err = done.result().as_ref().unwrap_err();
    let stdout = String::from_utf8_lossy(&err.output().expect("its output").stdout).to_string();
    assert!(stdout.contains("ready\n"), "{stdout:?}");
    assert!(stdout.contains("term\n"), "TERM came first: {stdout:?}");
    // TERM at 2 s, KILL after KillWait (5 s on the loopback cluster).
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    drop(pool);
    clean(&mark);
}

fn rejected_partition() {
    let mark = marker("rejected");
    let job = job(&mark, &["echo", "x"]);
    fails_to_start(
        Slurm::jobs().partition("procession-nopart"),
        job,
        "invalid partition",
    );
    clean(&mark);
}

fn missing_srun() {
    let mark = marker("missing_srun");
    let job = job(&mark, &["echo", "x"]).env("PATH", "/procession-nowhere");
    fails_to_start(Slurm::jobs(), job, "srun not found on PATH");
    clean(&mark);
}

/// Runs `job` alone on a pool with `slurm`: it fails to start
/// (`Failure::Spawn`) with an error that says `cause`.
fn fails_to_start(slurm: Slurm, job: procession::Command, cause: &str) {
    let pool = pool(slurm).build();
    let handle = pool.submit(job);
    let done = handle.done();
    assert_eq!(done.failure(), Some(Failure::Spawn));
    let text = done.result().as_ref().unwrap_err().to_string();
    assert!(text.contains(cause), "{text}");
}

fn unsupported_jobs_are_typed_errors() {
    let mark = marker("unsupported");
    let pool = pool(Slurm::jobs()).build();
    let pipeline = job(&mark, &["echo", "x"]).pipe(job(&mark, &["cat"]));
    let stdin = job(&mark, &["cat"]).stdin_bytes("x");
    for (done, what) in pool.map([pipeline, stdin]).zip(["pipeline", "stdin"]) {
        assert_eq!(done.failure(), Some(Failure::Spawn), "{what}");
        let text = done.result().as_ref().unwrap_err().to_string();
        assert!(text.contains("not supported on Slurm"), "{what}: {text}");
    }
    drop(pool);
    clean(&mark);
}

fn halt_now_stops_running_jobs() {
    let mark = marker("halt_now");
    let pool = pool(Slurm::jobs())
        .halt(Halt::Now(Threshold::Failures(1)))
        .build();
    let start = Instant::now();
    // The second job fails once the first surely runs.
    let jobs = [
        job(&mark, &["term-tree", "120"]),
        job(&mark, &["sleep-exit", "2", "1"]),
        job(&mark, &["sleep", "120"]),
    ];
    let done: Vec<_> = pool.as_completed(jobs).collect();
    let find = |seq| done.iter().find(|d| d.seq() == seq);
    assert_eq!(find(2).map(|d| d.failure()), Some(Some(Failure::Exit(1))));
    let first = find(1).expect("the running job is reported");
    assert_eq!(
        first.failure(),
        Some(Failure::Stopped(procession::StopCause::Halt))
    );
    let out = first.output().expect("its output");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("term\n"),
        "stopped with SIGTERM first: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Never started: reported as skipped, or not pulled at all.
    let third = find(3).map(|d| d.failure());
    assert!(
        matches!(third, None | Some(Some(Failure::Skipped))),
        "{third:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    drop(pool);
    clean(&mark);
}

fn map_order_retries_and_joblog_host() {
    let mark = marker("map_order");
    let dir = std::env::temp_dir().join(format!("procession-slurm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let once = dir.join("once");
    let _ = std::fs::remove_file(&once);
    let log = Arc::new(Mutex::new(Vec::new()));
    let pool = pool(Slurm::jobs())
        .retry(Retry::attempts(2))
        .joblog(SharedLog(log.clone()))
        .build();
    // The first job takes longest: map still hands them out in order.
    let jobs = vec![
        job(&mark, &["sleep", "1"]),
        job(&mark, &["fail-once", once.to_str().unwrap(), "4"]),
        job(&mark, &["echo", "three"]),
    ];
    let done: Vec<_> = pool.map(jobs).collect();
    let seqs: Vec<u64> = done.iter().map(|d| d.seq()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(done.iter().all(|d| d.failure().is_none()), "all succeed");
    assert_eq!(done[1].attempts(), 2, "retried once");
    drop(pool);
    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let host = hostname();
    let lines: Vec<&str> = log.lines().skip(1).collect();
    assert_eq!(lines.len(), 4, "one line per attempt:\n{log}");
    for line in lines {
        assert_eq!(line.split('\t').nth(1), Some(host.as_str()), "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    clean(&mark);
}

/// Holds both CPUs with an allocation, so the pool's job stays queued until
/// the pool's deadline.
fn deadline_while_queued() {
    let mark = marker("deadline");
    let name = format!("phold-{}", std::process::id());
    let hold = StdCommand::new("salloc")
        .args(["-n2", "--no-shell", "-Q", &format!("--job-name={name}")])
        .output()
        .expect("run salloc");
    assert!(hold.status.success(), "salloc: {hold:?}");
    let start = Instant::now();
    let pool = pool(Slurm::jobs())
        .deadline(Instant::now() + Duration::from_secs(2))
        .build();
    let handle = pool.submit(job(&mark, &["echo", "x"]));
    let done = handle.done();
    let elapsed = start.elapsed();
    let _ = StdCommand::new("scancel").args(["-n", &name]).status();
    assert!(done.failure().is_some(), "{:?}", done.result());
    assert!(done.output().is_none_or(|o| o.stdout.is_empty()));
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    drop(pool);
    clean(&mark);
}

/// The argument that makes this program the child of [`steps_fault_table`].
pub const STEPS_CHILD: &str = "--steps-child";

/// The fault table as steps of an allocation: this program again, with
/// `SLURM_JOB_ID` and `SLURM_NTASKS` set as in an `salloc` shell, so that
/// [`Slurm::auto`] runs steps and sizes the pool from the allocation.
fn steps_fault_table() {
    let name = format!("psteps-{}", std::process::id());
    let alloc = StdCommand::new("salloc")
        .args(["-n2", "--no-shell", &format!("--job-name={name}")])
        .output()
        .expect("run salloc");
    let text = String::from_utf8_lossy(&alloc.stderr).to_string();
    let id: String = text
        .split("Granted job allocation ")
        .nth(1)
        .map(|t| t.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!id.is_empty(), "salloc: {text}");
    let child = StdCommand::new(std::env::current_exe().unwrap())
        .arg(STEPS_CHILD)
        .env("SLURM_JOB_ID", &id)
        .env("SLURM_NTASKS", "2")
        .status();
    let _ = StdCommand::new("scancel").arg(&id).status();
    assert!(
        child.expect("run the steps child").success(),
        "the steps child failed"
    );
}

/// Inside the allocation (see [`steps_fault_table`]).
pub fn steps_child() {
    let mark = marker("steps");
    let pool = Pool::builder().slurm(Slurm::auto()).build();
    assert_eq!(pool.jobs(), 2, "the allocation's size");
    drop(pool);
    table(Slurm::auto(), &mark);
}

/// Ctrl-C (`SIGINT`) to a program whose pool runs on Slurm, with
/// `forward_signals`: its jobs are stopped through `scancel` (they see
/// `SIGTERM`; srun, never signalled, does not kill them outright), the
/// program then dies of the signal, and nothing is left.
fn ctrl_c_cancels_through_scancel() {
    use std::os::unix::process::ExitStatusExt;
    let mark = marker("ctrl_c");
    let example = support::examples::example("slurm");
    let child = StdCommand::new(example)
        .args(["-n", "2", "-j", "2"])
        .arg(support::pt())
        .args(["term-tree", "120"])
        .env("PROCESSION_SLURM_MARK", &mark)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the slurm example");
    let guard = Reap(child.id());
    // Each job's tree is up (two sleepers each) once its TERM handler is.
    let sleepers = || {
        marked(&mark)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.windows(6).any(|w| w == b"sleep\0"))
            })
            .count()
    };
    assert!(
        procfs::eventually(Duration::from_secs(30), || sleepers() >= 4),
        "the jobs did not start: {} sleepers",
        sleepers()
    );
    procfs::send_signal(child.id(), "INT");
    let out = child.wait_with_output().expect("wait for the example");
    std::mem::forget(guard);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.signal(), Some(2), "{:?}\n{stdout}", out.status);
    let saw_term = stdout
        .lines()
        .filter(|l| l.contains(" stdout: ") && l.split(" | ").any(|w| w.trim() == "term"))
        .count();
    assert_eq!(saw_term, 2, "both jobs saw SIGTERM:\n{stdout}");
    clean(&mark);
}

/// Ctrl-Z (`SIGTSTP` to a program using the pool with `forward_signals`)
/// stops the job's task on the cluster through `scancel`, and `SIGCONT`
/// continues it; srun itself is never stopped, so the job is never
/// submitted again (every line carries the same job id, and the job
/// writes its lines once).
fn ctrl_z_stops_jobs_through_scancel() {
    ctrl_z_round("ctrl_z", 200, None, Duration::from_millis(500));
}

/// The time the program spends stopped does not count against a job's
/// timeout: a 5 s job with a 10 s timeout, stopped for 6 s, succeeds.
fn ctrl_z_time_does_not_count() {
    ctrl_z_round("ctrl_z_timeout", 100, Some("10"), Duration::from_secs(6));
}

/// Runs one job of `lines` lines (one every 50 ms) through the slurm
/// example (with `--timeout` if given), stops the program with `SIGTSTP`,
/// checks that the job stops writing and srun is not stopped, holds it
/// stopped for at least `hold`, continues it, and checks that the job ran
/// once, to its end.
fn ctrl_z_round(test: &str, lines_wanted: usize, timeout: Option<&str>, hold: Duration) {
    use std::os::unix::process::ExitStatusExt;
    let mark = marker(test);
    let dir = std::env::temp_dir().join(format!("procession-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lines");
    let _ = std::fs::remove_file(&file);
    let mut example = StdCommand::new(support::examples::example("slurm"));
    example.args(["-n", "1", "-j", "1"]);
    if let Some(secs) = timeout {
        example.args(["--timeout", secs]);
    }
    let child = example
        .arg(support::pt())
        .arg("append")
        .arg(&file)
        .args([&lines_wanted.to_string(), "50"])
        .env("PROCESSION_SLURM_MARK", &mark)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the slurm example");
    let guard = Reap(child.id());
    let lines = || {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    // The marked processes whose command line starts with `name`.
    let named = |name: &str| {
        marked(&mark)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    c.split(|b| *b == 0)
                        .next()
                        .is_some_and(|argv0| argv0.ends_with(name.as_bytes()))
                })
            })
            .collect::<Vec<_>>()
    };
    let state = |pid: u32| procfs::stat(pid).map(|s| s.state);
    let limit = Duration::from_secs(30);
    assert!(
        procfs::eventually(limit, || lines().len() >= 3),
        "the job did not start writing: {:?}",
        lines()
    );
    procfs::send_signal(child.id(), "TSTP");
    assert!(
        procfs::eventually(limit, || state(child.id()) == Some('T')),
        "the program did not stop: {:?}",
        state(child.id())
    );
    // The task is stopped (Slurm may freeze its cgroup rather than send
    // SIGSTOP, so its state letter says little): its file stops growing
    // (each line is one write). Seen over a window of half a second.
    let still = |window: Duration| {
        let before = lines().len();
        let until = Instant::now() + window;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        lines().len() == before
    };
    let until = Instant::now() + limit;
    let held = Instant::now();
    while !still(Duration::from_millis(500)) {
        assert!(
            Instant::now() < until,
            "the job went on writing: {}",
            lines().len()
        );
    }
    let stopped = lines().len();
    assert!(
        stopped < lines_wanted,
        "the job ended before it was stopped"
    );
    let srun = named("srun");
    assert!(!srun.is_empty(), "no srun found");
    for pid in &srun {
        assert_ne!(state(*pid), Some('T'), "srun {pid} was stopped");
    }
    assert!(
        still(hold.saturating_sub(held.elapsed())),
        "the job wrote while stopped"
    );
    procfs::send_signal(child.id(), "CONT");
    let out = child.wait_with_output().expect("wait for the example");
    std::mem::forget(guard);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?} (signal {:?})\n{stdout}",
        out.status,
        out.status.signal()
    );
    let lines = lines();
    assert_eq!(
        lines.len(),
        lines_wanted,
        "written once, all of it: {lines:?}"
    );
    let job = lines[0].split(' ').next().unwrap().to_string();
    assert_ne!(job, "-", "the task saw no SLURM_JOB_ID");
    assert!(
        lines.iter().all(|l| l.split(' ').next() == Some(&job)),
        "one job: {lines:?}"
    );
    assert!(stdout.contains(&format!("(Slurm {job})")), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    clean(&mark);
}

/// `examples/parallel --slurm`: the same runner, its jobs through srun,
/// their output grouped and in input order, the job log naming the node.
fn parallel_example_runs_on_slurm() {
    use std::io::Write as _;
    let mark = marker("parallel");
    let dir = std::env::temp_dir().join(format!("procession-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log.tsv");
    let mut child = StdCommand::new(support::examples::example("parallel"))
        .args(["--slurm", "-k", "-j", "2", "--joblog"])
        .arg(&log)
        .arg(support::pt())
        .arg("echo")
        .env("PROCESSION_SLURM_MARK", &mark)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the parallel example");
    child.stdin.take().unwrap().write_all(b"a\nb\nc\n").unwrap();
    let out = child.wait_with_output().expect("wait for parallel");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\nc\n");
    let log = std::fs::read_to_string(&log).unwrap();
    let host = hostname();
    assert_eq!(log.lines().count(), 4, "{log}");
    for line in log.lines().skip(1) {
        assert_eq!(line.split('\t').nth(1), Some(host.as_str()), "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    clean(&mark);
}

pub const TAGGED_CHILD: &str = "--tagged-child";

/// Tagged output on Slurm: this program again (tagged lines go to its own
/// stdout and stderr), running 2 jobs that print lines on both streams.
/// Every line is the job's, tagged with its number, and none is srun's
/// (srun runs with `-v`, so it has plenty to say).
fn tagged_lines_come_from_the_jobs_only() {
    let mark = marker("tagged");
    let child = StdCommand::new(std::env::current_exe().unwrap())
        .arg(TAGGED_CHILD)
        .env("PROCESSION_SLURM_MARK", &mark)
        .output()
        .expect("run the tagged child");
    let text = |bytes: &[u8]| {
        let mut lines: Vec<String> = String::from_utf8_lossy(bytes)
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let wanted = |stream: &str, numbers: [u32; 3]| {
        let mut lines: Vec<String> = [1, 2]
            .iter()
            .flat_map(|job| numbers.map(|i| format!("[{job}] {stream} {i}")))
            .collect();
        lines.sort();
        lines
    };
    assert!(child.status.success(), "{child:?}");
    assert_eq!(text(&child.stdout), wanted("out", [0, 2, 4]), "{child:?}");
    assert_eq!(text(&child.stderr), wanted("err", [1, 3, 5]), "{child:?}");
    clean(&mark);
}

/// The program of [`tagged_lines_come_from_the_jobs_only`].
pub fn tagged_child() {
    let mark = std::env::var("PROCESSION_SLURM_MARK").unwrap();
    let pool = Pool::builder()
        .slurm(Slurm::jobs())
        .jobs(2)
        .output(JobOutput::Tagged)
        .build();
    let jobs = (0..2).map(|_| job(&mark, &["lines", "6"]));
    let summary = pool.as_completed(jobs).finish();
    assert_eq!((summary.finished, summary.succeeded), (2, 2), "{summary:?}");
}

/// On a failed test: kills the program it started and cancels its jobs.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = StdCommand::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
        let out = StdCommand::new("squeue")
            .args(["-h", "-o", "%i %j"])
            .output();
        let name = format!(" procession-{}-", self.0);
        for line in out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
        {
            if line.contains(&name) {
                let id = line.split_whitespace().next().unwrap_or_default();
                let _ = StdCommand::new("scancel").arg(id).status();
            }
        }
    }
}

/// A job log written into memory.
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
