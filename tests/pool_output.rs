//! A pool's output to this process's stdout: a reader that is gone (`head`)
//! ends a grouped or tagged batch like a halt, and a reader that does not
//! read (a stopped pager) holds up only the jobs whose lines wait, never
//! the timeouts of other runs.
//!
//! Each case runs in a re-executed copy of this test binary (`child`, with
//! `CHILD` naming the case), whose stdout is a pipe the test controls; the
//! child writes what it saw to the file named by `REPORT`.

mod support;

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use procession::{Command, Failure, JobOutput, Pool};
use support::pt_cmd;

const CHILD: &str = "PROCESSION_POOL_OUTPUT_CASE";
const REPORT: &str = "PROCESSION_POOL_OUTPUT_REPORT";

/// A report file for one case.
fn report_path(case: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "procession-pool-output-{case}-{}",
        std::process::id()
    ))
}

/// This test binary, re-run as the child of `case`.
fn child_command(case: &str, report: &PathBuf) -> Command {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env(REPORT, report)
}

/// Not a test of its own: the child's side of each case.
#[test]
fn child() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    let report = std::env::var(REPORT).unwrap();
    let text = match case.as_str() {
        "grouped" => endless_batch(JobOutput::Grouped),
        "tagged" => endless_batch(JobOutput::Tagged),
        "paused" => paused_stdout(),
        other => panic!("unknown case {other}"),
    };
    std::fs::write(report, text).unwrap();
    // A batch may still wait on stdout in another thread.
    std::process::exit(0);
}

/// An endless input of jobs that print a line each, like
/// `yes | parallel echo`: it ends only if the batch notices that its
/// stdout is gone.
fn endless_batch(output: JobOutput) -> String {
    let pool = Pool::builder().jobs(2).output(output).build();
    let jobs = std::iter::repeat_with(|| pt_cmd(&["echo", "a line"]));
    let summary = pool.as_completed(jobs).finish();
    format!("{:?} {}", summary.halted, summary.finished)
}

/// Tagged jobs that print without end, with a 500 ms timeout, next to an
/// unrelated command with a 200 ms timeout, while nobody reads this
/// process's stdout: the unrelated command's wait, then (once the test
/// reads stdout, after "measured" on stderr) how long each job ran.
fn paused_stdout() -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let pool = Pool::builder()
            .jobs(4)
            .timeout(Duration::from_millis(500))
            .output(JobOutput::Tagged)
            .build();
        let jobs = (0..4).map(|_| pt_cmd(&["yes", "a line of output"]));
        for done in pool.as_completed(jobs) {
            let _ = tx.send((done.failure(), done.elapsed()));
        }
    });
    let handle = pt_cmd(&["sleep", "30"])
        .timeout(Duration::from_millis(200))
        .start()
        .unwrap();
    let waited = Instant::now();
    let unrelated = match handle.wait_timeout(Duration::from_secs(10)) {
        Err(e) if e.timeout().is_some() => format!("{:?}", waited.elapsed()),
        Err(e) => format!("unexpected {e}"),
        Ok(_) => "not stopped".to_string(),
    };
    eprintln!("measured");
    let mut jobs = Vec::new();
    for _ in 0..4 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((failure, ran)) => jobs.push(format!("{failure:?}@{}", ran.as_millis())),
            Err(_) => jobs.push("not-reported".to_string()),
        }
    }
    format!("{unrelated}\n{}", jobs.join(" "))
}

fn read_report(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("no report: {e}"));
    let _ = std::fs::remove_file(path);
    text
}

/// Runs `case` with its stdout into `head -3`, which exits after the test
/// harness's first two lines and one line of the jobs.
fn into_head(case: &str) -> (String, String) {
    let report = report_path(case);
    let out = (child_command(case, &report).stderr_null() | pt_cmd(&["head", "3"]))
        // Generous: the batch is endless unless it notices.
        .timeout(Duration::from_secs(60))
        .stdout_capture()
        .run()
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    (read_report(&report), out.stdout_lossy())
}

#[test]
fn a_closed_stdout_ends_a_grouped_batch() {
    let (report, first) = into_head("grouped");
    assert!(first.ends_with("a line\n"), "{first:?}");
    assert!(report.starts_with("Some(OutputClosed) "), "{report}");
}

#[test]
fn a_closed_stdout_ends_a_tagged_batch() {
    let (report, first) = into_head("tagged");
    assert!(first.ends_with("] a line\n"), "{first:?}");
    assert!(report.starts_with("Some(OutputClosed) "), "{report}");
}

#[test]
fn a_stdout_nobody_reads_does_not_stall_other_runs() {
    let report = report_path("paused");
    let (out_reader, out_writer) = os_pipe::pipe().unwrap();
    let (err_reader, err_writer) = os_pipe::pipe().unwrap();
    let file = |w: os_pipe::PipeWriter| std::fs::File::from(std::os::fd::OwnedFd::from(w));
    let command = child_command("paused", &report)
        .stdout_file(file(out_writer))
        .stderr_file(file(err_writer))
        // Generous: a bound on the whole case, should it hang.
        .timeout(Duration::from_secs(120));
    let handle = command.start().unwrap();
    drop(command);
    // Nobody reads the child's stdout until it says it measured.
    let mut err = std::io::BufReader::new(err_reader);
    let mut line = String::new();
    while !line.ends_with("measured\n") {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
    }
    let mut out = Vec::new();
    let mut out_reader = out_reader;
    out_reader.read_to_end(&mut out).unwrap();
    let status = handle.wait().map(|_| ());
    let text = read_report(&report);
    assert!(status.is_ok(), "{status:?} {text}");
    let mut lines = text.lines();
    let unrelated = lines.next().unwrap_or_default();
    // Generous bounds: what matters is that they are not held up by the
    // pipe (before, they waited as long as the pipe stayed full).
    let took: Result<Duration, _> = parse_debug_duration(unrelated);
    assert!(
        took.is_ok_and(|d| d < Duration::from_secs(5)),
        "the unrelated 200 ms timeout: {unrelated}"
    );
    let jobs: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    assert_eq!(jobs.len(), 4, "{text}");
    let timed_out = format!("{:?}@", Some(Failure::Timeout));
    for job in jobs {
        let ms: Option<u64> = job.strip_prefix(&timed_out).and_then(|ms| ms.parse().ok());
        assert!(
            ms.is_some_and(|ms| ms < 5_000),
            "a 500 ms pool timeout: {job}"
        );
    }
    // What the jobs printed came out line by line, each line whole but
    // for the last of each job (stopped in the middle of a write).
    let text = String::from_utf8_lossy(&out);
    let tagged: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!tagged.is_empty());
    let cut: Vec<&&str> = tagged
        .iter()
        .filter(|l| !l.ends_with("] a line of output"))
        .collect();
    assert!(cut.len() <= 4, "lines came out cut: {cut:?}");
}

/// Parses a `Duration`'s `Debug` text, such as `201.3ms` or `1.2s`.
fn parse_debug_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .map(|i| text.split_at(i))
        .ok_or_else(|| text.to_string())?;
    let value: f64 = number.parse().map_err(|_| text.to_string())?;
    let seconds = match unit {
        "s" => value,
        "ms" => value / 1e3,
        "µs" => value / 1e6,
        "ns" => value / 1e9,
        _ => return Err(text.to_string()),
    };
    Ok(Duration::from_secs_f64(seconds))
}
