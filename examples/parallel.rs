//! A small `xargs -P`-like runner built on the pool.
//!
//! Reads one argument per line from stdin (blank lines are skipped) and runs
//! `PROGRAM [ARGS...] LINE` for each, N at a time. Lines are read only as
//! jobs can start, so an endless input runs in constant memory.
//!
//! ```text
//! seq 100 | cargo run --example parallel -- -j 4 --timeout 10 echo job
//! ```
//!
//! Options (before PROGRAM):
//!
//! - `-j N`, `--jobs N`: jobs at once (default: the number of cores)
//! - `--timeout SECS`: stop a job's whole process tree after SECS seconds
//! - `-k`, `--keep-order`: print the jobs' output in input order
//! - `--joblog FILE`: write GNU parallel's job log to FILE
//! - `--halt now|soon,fail=N[%]`: give up after failures (GNU parallel's syntax)
//! - `--retries N`: retry a failed job up to N times (N + 1 attempts)
//! - `-u`, `--ungroup`: let jobs write straight to the terminal (by default
//!   each job's output is printed in one piece when it ends, like GNU parallel)
//!
//! Exit status, as xargs: 0 if every job succeeded; 123 if any failed; 124
//! if one exited with 255; 125 if one was killed by a signal; 126 if one
//! could not be run; 127 if a program was not found (the highest wins); 1
//! for a usage error. Ctrl-C stops every running job's tree; Ctrl-Z stops
//! the jobs with the runner, and `fg` continues them all.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use procession::{
    Command, Done, Error, Failure, Halt, JobOutput, Pool, Retry, SpawnFailure, Summary,
};

const USAGE: &str = "usage: parallel [-j N] [--timeout SECS] [--keep-order] [--joblog FILE] \
                     [--halt now|soon,fail=N] [--retries N] [--ungroup] PROGRAM [ARGS...]";

/// The parsed command line.
struct Options {
    jobs: Option<usize>,
    timeout: Option<Duration>,
    keep_order: bool,
    joblog: Option<String>,
    halt: Halt,
    retries: u32,
    ungroup: bool,
    command: Vec<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        jobs: None,
        timeout: None,
        keep_order: false,
        joblog: None,
        halt: Halt::Never,
        retries: 0,
        ungroup: false,
        command: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-j" | "--jobs" => o.jobs = Some(number(&value(&arg)?, &arg)?),
            "--timeout" => {
                let secs: f64 = number(&value(&arg)?, &arg)?;
                o.timeout = Some(Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?);
            }
            "-k" | "--keep-order" => o.keep_order = true,
            "--joblog" => o.joblog = Some(value(&arg)?),
            "--halt" => o.halt = value(&arg)?.parse().map_err(|e| format!("{e}"))?,
            "--retries" => o.retries = number(&value(&arg)?, &arg)?,
            "-u" | "--ungroup" => o.ungroup = true,
            "-h" | "--help" => return Err(String::new()),
            "--" => break,
            s if s.starts_with("-j") && s.len() > 2 => o.jobs = Some(number(&s[2..], "-j")?),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => {
                o.command.push(arg);
                break;
            }
        }
    }
    o.command.extend(args);
    if o.command.is_empty() {
        return Err("no PROGRAM given".to_string());
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(text: &str, option: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{option}: {text:?} is not a valid number"))
}

fn build_pool(o: &Options) -> Result<Pool, String> {
    let mut builder = Pool::builder()
        .halt(o.halt)
        .retry(Retry::attempts(o.retries.saturating_add(1)))
        .output(if o.ungroup {
            JobOutput::AsCommand
        } else {
            JobOutput::Grouped
        });
    if let Some(jobs) = o.jobs {
        builder = builder.jobs(jobs);
    }
    if let Some(timeout) = o.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(path) = &o.joblog {
        let file = std::fs::File::create(path).map_err(|e| format!("cannot create {path}: {e}"))?;
        builder = builder.joblog(file);
    }
    Ok(builder.build())
}

/// xargs' exit status for one finished job (0 if it succeeded).
fn xargs_status(done: &Done) -> u8 {
    match done.failure() {
        None => 0,
        Some(Failure::Spawn) => match done.error() {
            Some(Error::Spawn(e)) if e.failure() == SpawnFailure::NotFound => 127,
            _ => 126,
        },
        Some(Failure::Exit(255)) => 124,
        Some(Failure::Signal(_)) => 125,
        Some(_) => 123,
    }
}

fn report(summary: &Summary) {
    if let Some(reason) = summary.halted {
        eprintln!(
            "parallel: halted ({reason:?}): {} failed, {} stopped, {} skipped",
            summary.failed, summary.stopped, summary.skipped
        );
    }
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("parallel: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = procession::forward_signals() {
        eprintln!("parallel: {e}");
    }
    let pool = match build_pool(&options) {
        Ok(pool) => pool,
        Err(message) => {
            eprintln!("parallel: {message}");
            return ExitCode::from(1);
        }
    };
    let (program, args) = options.command.split_first().expect("checked in parse");
    let template = Command::new(program).args(args);
    let jobs = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|line| !line.trim().is_empty())
        .map(|line| template.clone().arg(line));
    let mut status = 0;
    let mut seen = |done: Done| {
        if let Some(error) = done.error() {
            eprintln!("parallel: {error}");
        }
        status = status.max(xargs_status(&done));
    };
    let summary = if options.keep_order {
        let mut batch = pool.map(jobs);
        batch.by_ref().for_each(&mut seen);
        batch.summary()
    } else {
        let mut batch = pool.as_completed(jobs);
        batch.by_ref().for_each(&mut seen);
        batch.summary()
    };
    report(&summary);
    ExitCode::from(status)
}
