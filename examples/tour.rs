//! A narrated tour of procession: `cargo run --example tour`.
//!
//! Each section runs a few commands and prints what it did and what came
//! back. It uses only `/bin/sh` and coreutils (`echo`, `printf`, `sort`,
//! `uniq`, `seq`, `yes`, `head`, `sleep`), finishes in a few seconds and exits
//! 0. If something does not behave as described, it stops with an error
//! that says which section and why.

use std::error::Error as StdError;
use std::thread;
use std::time::{Duration, Instant};

use procession::{CancelToken, Command, Error, Event, Keep, Pool, cmd, sh};

type Result<T = (), E = Box<dyn StdError>> = std::result::Result<T, E>;

fn main() -> std::process::ExitCode {
    match tour() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A section of the tour: a short name for errors, and the function.
type Section = (&'static str, fn() -> Result);

/// The sections, in order.
const SECTIONS: [Section; 14] = [
    ("read", read_a_command),
    ("run", capture_with_run),
    ("environment", environment_and_directory),
    ("stdin", stdin_from_bytes),
    ("failure", a_failing_command),
    ("unchecked", unchecked_and_ok_codes),
    ("secrets", secret_arguments),
    ("pipelines", pipelines),
    ("lines", lines_and_events),
    ("capture limit", capture_limit),
    ("timeout", timeout_of_a_process_tree),
    ("drain", a_grandchild_holds_the_pipe),
    ("stop", stop_from_another_thread),
    ("pool", pool),
];

fn tour() -> Result {
    let started = Instant::now();
    for (name, run_section) in SECTIONS {
        run_section().map_err(|e| format!("in section {name:?}: {e}"))?;
    }
    println!("\nTour finished in {:.2?}.", started.elapsed());
    Ok(())
}

/// Prints a section header and what the section shows.
fn section(title: &str, explanation: &str) {
    println!("\n== {title} ==");
    println!("   {explanation}");
}

/// Prints a command line the way a shell transcript would.
fn show(command: &Command) {
    println!("$ {command}");
}

/// Prints what came back. A text of several lines (an error whose stderr
/// tail has more than one line) goes on under it, marked `|`, so it cannot be
/// mistaken for the tour's own lines.
fn arrow(text: impl std::fmt::Display) {
    let text = text.to_string();
    let mut lines = text.lines();
    println!("-> {}", lines.next().unwrap_or_default());
    for line in lines {
        println!("   | {line}");
    }
}

/// Stops the tour with a message when the library did not do what the text
/// says it does.
fn check(ok: bool, what: &str) -> Result {
    if ok {
        Ok(())
    } else {
        Err(format!("tour check failed: {what}").into())
    }
}

/// The error of a run that must fail, or a tour error if it succeeded.
fn failure<T>(result: Result<T, Error>, what: &str) -> Result<Error> {
    match result {
        Ok(_) => Err(format!("tour check failed: {what}, but it succeeded").into()),
        Err(e) => Ok(e),
    }
}

fn read_a_command() -> Result {
    section(
        "A command and read()",
        "cmd! builds a command (no shell involved); read() returns stdout as a String, trailing newline trimmed.",
    );
    let command = cmd!("echo", "hello", "world; no shell here");
    show(&command);
    let text = command.read()?;
    println!("-> {text:?}");
    check(
        text == "hello world; no shell here",
        "read() returns stdout",
    )
}

fn capture_with_run() -> Result {
    section(
        "Capture with run() and Output",
        "run() returns an Output: status, captured stdout and stderr, elapsed time and every stage.",
    );
    let command = sh("echo to stdout; echo to stderr >&2")
        .stdout_capture()
        .stderr_capture();
    show(&command);
    let out = command.run()?;
    println!("-> status: {}", out.status);
    println!("-> stdout: {:?}", out.stdout_lossy());
    println!("-> stderr: {:?}", out.stderr_lossy());
    println!(
        "-> elapsed: {:.2?}, pid was {}",
        out.elapsed, out.stages[0].pid
    );
    check(
        out.stdout == b"to stdout\n" && out.stderr == b"to stderr\n",
        "both streams captured apart",
    )
}

fn environment_and_directory() -> Result {
    section(
        "Environment and working directory",
        "env() and env_remove() change the child's environment only; dir() sets where it runs.",
    );
    let dir = std::env::temp_dir();
    let command = sh("echo \"GREETING=$GREETING HOME=${HOME:-unset} in $(pwd)\"")
        .env("GREETING", "hello")
        .env_remove("HOME")
        .dir(&dir);
    show(&command);
    println!(
        "   (with GREETING=hello, HOME removed, in {})",
        dir.display()
    );
    let text = command.read()?;
    println!("-> {text}");
    check(
        text.starts_with("GREETING=hello HOME=unset in "),
        "env and env_remove reach the child",
    )
}

fn stdin_from_bytes() -> Result {
    section(
        "stdin from bytes",
        "stdin_bytes() feeds the child while its output is read, so no size can deadlock.",
    );
    let input = "pear\napple\nfig\n";
    let command = cmd!("sort").stdin_bytes(input);
    show(&command);
    println!("   (stdin: {input:?})");
    let text = command.read()?;
    println!("-> {text:?}");
    check(text == "apple\nfig\npear", "sort got its stdin")
}

fn a_failing_command() -> Result {
    section(
        "A failing command",
        "A non-zero exit is an Error::Exit whose message has the command, the status and the tail of stderr.",
    );
    let command =
        sh("echo \"reading config\" >&2; echo \"fatal: config.toml not found\" >&2; exit 2")
            .stderr_capture();
    show(&command);
    let err = failure(command.run(), "the command fails")?;
    arrow(format_args!("error: {err}"));
    if let Error::Exit(exit) = &err {
        println!("-> exit code: {:?}", exit.status().code());
        println!("-> stderr tail: {:?}", exit.stderr_tail());
    }
    check(
        err.status().and_then(|s| s.code()) == Some(2)
            && err.to_string().ends_with("fatal: config.toml not found"),
        "the error carries the status and the stderr tail",
    )
}

fn unchecked_and_ok_codes() -> Result {
    section(
        "unchecked() and ok_codes()",
        "unchecked() makes any status data instead of an error; ok_codes() accepts chosen codes, like grep's 1 for \"no match\".",
    );
    let command = sh("exit 3").unchecked();
    show(&command);
    let out = command.run()?;
    println!(
        "-> Ok, status: {} (shell code {})",
        out.status,
        out.status.shell_code()
    );

    let command = cmd!("sort", "-C").stdin_bytes("b\na\n").ok_codes([1]);
    show(&command);
    let out = command.run()?;
    println!(
        "-> Ok, status: {} (sort -C answers 1 for \"not sorted\": an answer, not a failure)",
        out.status
    );
    check(out.status.code() == Some(1), "code 1 accepted")
}

fn secret_arguments() -> Result {
    section(
        "Secret arguments",
        "arg_secret() passes the value to the child but shows *** in Display, Debug and errors.",
    );
    let command = cmd!("sh", "-c", "echo \"login refused\" >&2; exit 1", "sh")
        .arg_secret("token=hunter2")
        .stderr_capture();
    show(&command);
    let err = failure(command.run(), "the command fails")?;
    arrow(format_args!("error: {err}"));
    check(
        !err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"),
        "the secret is redacted",
    )
}

fn pipelines() -> Result {
    section(
        "Pipelines",
        "a | b | c is a command too; Output::stages has every stage's status, like bash's PIPESTATUS.",
    );
    let command = cmd!("printf", "b\\na\\nb\\n") | cmd!("sort") | cmd!("uniq", "-c");
    show(&command);
    println!("-> {:?}", command.read()?);

    let command = (sh("echo partial; exit 3") | cmd!("cat"))
        .unchecked()
        .stdout_capture();
    show(&command);
    let out = command.run()?;
    for (i, stage) in out.stages.iter().enumerate() {
        println!("-> stage {i} {:?}: {}", stage.command, stage.status);
    }
    println!(
        "-> pipeline: {} (pipefail: the rightmost failure decides)",
        out.status
    );
    check(out.status.code() == Some(3), "pipefail")?;

    println!("   A producer killed by SIGPIPE after its reader exited counts as success:");
    let command = (cmd!("yes") | cmd!("head", "-n", "1")).stdout_capture();
    show(&command);
    let out = command.run()?;
    for (i, stage) in out.stages.iter().enumerate() {
        println!("-> stage {i} {:?}: {}", stage.command, stage.status);
    }
    println!(
        "-> pipeline: {}, stdout {:?}",
        out.status,
        out.stdout_lossy()
    );
    check(
        out.status.success() && out.stages[0].status.signal() == Some(13),
        "yes dies of SIGPIPE and the pipeline succeeds",
    )
}

fn lines_and_events() -> Result {
    section(
        "lines() and events()",
        "lines() iterates over stdout as it comes; events() gives stdout and stderr lines in arrival order, then the status.",
    );
    let command = sh("for i in 1 2 3; do echo \"line $i\"; done");
    show(&command);
    for line in command.lines()? {
        println!("-> {}", line?);
    }

    let command = sh("echo out; sleep 0.05; echo err >&2; sleep 0.05; echo done");
    show(&command);
    let mut exited = false;
    for event in command.events()? {
        match event? {
            Event::Stdout(line) => println!("-> stdout: {line}"),
            Event::Stderr(line) => println!("-> stderr: {line}"),
            Event::Exit(status) => {
                exited = status.success();
                println!("-> exit: {status}");
            }
            other => println!("-> {other:?}"),
        }
    }
    check(exited, "events() ends with the exit status")
}

fn capture_limit() -> Result {
    section(
        "A capture limit",
        "stdout_capture_limit(n, Keep::Tail) reads everything but keeps only the last n bytes: the part that explains a failure.",
    );
    let command = cmd!("seq", "1", "100000").stdout_capture_limit(24, Keep::Tail);
    show(&command);
    let out = command.run()?;
    println!(
        "-> kept {} bytes, truncated: {}, tail: {:?}",
        out.stdout.len(),
        out.stdout_truncated,
        out.stdout_lossy()
    );
    check(
        out.stdout_truncated && out.stdout.ends_with(b"100000\n") && out.stdout.len() == 24,
        "the tail is kept",
    )
}

fn timeout_of_a_process_tree() -> Result {
    section(
        "A timeout that owns the process tree",
        "The shell starts a background sleep that inherits stdout. On timeout the whole process group is stopped, so the run returns on time, with the output read so far.",
    );
    let limit = Duration::from_millis(300);
    let command = sh("sleep 30 & echo started; wait")
        .stdout_capture()
        .timeout(limit);
    show(&command);
    println!("   (timeout {limit:?})");
    let started = Instant::now();
    let err = failure(command.run(), "the command runs past its timeout")?;
    let took = started.elapsed();
    arrow(format_args!("error: {err}"));
    let partial = err
        .timeout()
        .map(procession::StoppedError::partial_stdout)
        .unwrap_or_default();
    println!("-> partial stdout: {:?}", String::from_utf8_lossy(partial));
    if let Some(status) = err.status() {
        println!("-> status: {status}");
    }
    println!("-> returned after {took:.2?}");
    check(
        err.timeout().is_some() && partial == b"started\n" && took < Duration::from_secs(5),
        "the timeout returns on time with the partial output",
    )
}

fn a_grandchild_holds_the_pipe() -> Result {
    section(
        "A grandchild that keeps the pipe open",
        "The shell exits at once, but its background sleep still holds stdout. Reading to end of file would wait for the sleep; instead the run drains for drain_timeout(), then returns with `incomplete` set. The pipe is drained in the background, not closed, so the sleep is not killed by SIGPIPE.",
    );
    let drain = Duration::from_millis(200);
    let command = sh("sleep 1 & echo started")
        .stdout_capture()
        .drain_timeout(drain);
    show(&command);
    println!("   (drain_timeout {drain:?})");
    let out = command.run()?;
    println!(
        "-> status: {}, stdout {:?}, incomplete: {}, after {:.2?}",
        out.status,
        out.stdout_lossy(),
        out.incomplete,
        out.elapsed
    );
    check(
        out.incomplete && out.stdout == b"started\n" && out.elapsed < Duration::from_millis(900),
        "the run returns after the drain time",
    )
}

fn stop_from_another_thread() -> Result {
    section(
        "Stopping from another thread",
        "start() returns a Handle that one thread can wait on while another calls terminate(); a CancelToken stops every run it was given to.",
    );
    let command = cmd!("sleep", "30");
    show(&command);
    let handle = command.start()?;
    println!("   started pid {}", handle.pid());
    let started = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            println!("   another thread calls terminate()");
            handle.terminate();
        });
    });
    // wait() would do; wait_timeout() keeps the tour from hanging if the
    // stop went wrong.
    let Some(result) = handle.wait_timeout(Duration::from_secs(5)).transpose() else {
        handle.kill();
        return Err("tour check failed: terminate() did not stop `sleep 30` within 5s".into());
    };
    let err = failure(result, "terminate() stops it")?;
    arrow(format_args!(
        "wait(): {err}, after {:.2?}",
        started.elapsed()
    ));
    check(
        err.status().and_then(|s| s.signal()) == Some(15),
        "terminate() stops it with SIGTERM",
    )?;

    let token = CancelToken::new();
    let command = sh("echo working; sleep 30")
        .stdout_capture()
        .cancel_on(&token);
    show(&command);
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            println!("   another thread calls token.cancel()");
            token.cancel();
        })
    };
    let err = failure(command.run(), "the command fails")?;
    canceller
        .join()
        .map_err(|_| "the cancelling thread panicked")?;
    arrow(format_args!("run(): {err}"));
    println!(
        "-> cancelled: {}, output so far: {:?}",
        err.is_cancelled(),
        err.output().map(procession::Output::stdout_lossy)
    );
    check(err.is_cancelled(), "the token cancels the run")
}

// ---------------------------------------------------------------------------
fn pool() -> Result {
    section(
        "A pool: many commands, N at a time",
        "Pool::new(n) runs at most n jobs at once; map() gives results in input order, as_completed() as they finish.",
    );
    let pool = Pool::new(3);
    // Five jobs that take different times; each one sees its sequence number
    // and slot in PROCESSION_SEQ and PROCESSION_SLOT, like GNU parallel's {#} and {%}.
    let job = |i: u32| {
        sh(format!(
            "sleep 0.0{}; echo \"job $PROCESSION_SEQ ran in slot $PROCESSION_SLOT\"",
            5 - i
        ))
        .stdout_capture()
    };
    println!("$ 5 jobs through Pool::new(3), results with map() (input order):");
    let mut lines = Vec::new();
    for done in pool.map((0..5).map(job)) {
        let text = done.output().map(|o| o.stdout_lossy()).unwrap_or_default();
        println!("-> #{} {}", done.seq(), text.trim());
        lines.push(done.seq());
    }
    check(lines == [1, 2, 3, 4, 5], "map() keeps the input order")?;

    println!("$ the same with as_completed() (finishing order), one job failing:");
    let jobs = (0..5).map(|i| if i == 2 { sh("exit 7") } else { job(i) });
    let mut completed = pool.as_completed(jobs);
    for done in &mut completed {
        match done.error() {
            None => println!("-> #{} ok in {:.0?}", done.seq(), done.elapsed()),
            Some(e) => arrow(format_args!("#{} failed: {e}", done.seq())),
        }
    }
    let summary = completed.finish();
    println!(
        "-> summary: {} finished, {} succeeded, {} failed",
        summary.finished, summary.succeeded, summary.failed
    );
    check(
        summary.failed == 1 && summary.succeeded == 4,
        "one job failed",
    )?;

    let policy = "soon,fail=1";
    println!("$ a halt policy, {policy:?}: stop starting jobs after the first failure");
    let strict = Pool::builder().jobs(1).halt(policy.parse()?).build();
    let jobs = [sh("exit 1"), cmd!("true"), cmd!("true")];
    let mut completed = strict.as_completed(jobs);
    for done in &mut completed {
        println!(
            "-> #{} {}",
            done.seq(),
            if done.is_success() { "ok" } else { "failed" }
        );
    }
    let summary = completed.finish();
    let Some(reason) = summary.halted else {
        return Err("tour check failed: the halt policy did not fire".into());
    };
    println!(
        "-> halted ({reason:?}) by {policy:?}: {} finished, {} failed, {} stopped, {} skipped",
        summary.finished, summary.failed, summary.stopped, summary.skipped
    );
    check(summary.skipped == 2, "the halt skipped the rest")?;
    Ok(())
}
