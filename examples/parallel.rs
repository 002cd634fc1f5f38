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
//! - `-j N`, `--jobs N`: run at most N jobs at once, N >= 1 (default: the number of cores)
//! - `--timeout SECS`: stop a job's whole process tree after SECS seconds (more than 0)
//! - `-k`, `--keep-order`: print the jobs' output in input order, not as they finish
//! - `--joblog FILE`: write GNU parallel's job log to FILE
//! - `--halt never|now,fail=N|soon,fail=N[%]`: give up after failures (GNU parallel's syntax)
//! - `--retries N`: retry a failed job up to N times (N + 1 attempts)
//! - `-u`, `--ungroup`: let jobs write straight to the terminal, not in one piece when each ends
//! - `--slurm`: run each job through `srun` on a Slurm cluster (feature `slurm`): a step of the
//!   current allocation inside one, else a job of its own
//! - `-h`, `--help`: print this help to stdout and exit 0
//!
//! Lines are taken as bytes, like xargs: a line that is not UTF-8 is passed
//! to PROGRAM as it is. (`-j 0`, "as many as possible" in xargs and GNU
//! parallel, is refused: give a number of jobs.)
//!
//! Exit status, as xargs: 0 if every job succeeded; 123 if any failed; 124
//! if one exited with 255; 125 if one was killed by a signal; 126 if one
//! could not be run; 127 if a program was not found (the highest wins); 1
//! for a usage error, if stdin could not be read, for a job log that could
//! not be written, and when stdout closed (`| head -1`), which stops the
//! batch. Ctrl-C stops every running job's tree; Ctrl-Z stops the jobs with
//! the runner, and `fg` continues them all.

use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use procession::{
    Command, Done, Error, Failure, Halt, HaltReason, JobOutput, Pool, Retry, SpawnFailure, Summary,
};

const USAGE: &str = "usage: parallel [OPTIONS] PROGRAM [ARGS...] < LINES";

const HELP: &str = "\
Runs PROGRAM [ARGS...] LINE for each line of stdin, N at a time (blank lines are skipped).

Options (before PROGRAM):
  -j, --jobs N        run at most N jobs at once, N >= 1 (default: the number of cores)
      --timeout SECS  stop a job's whole process tree after SECS seconds (more than 0)
  -k, --keep-order    print the jobs' output in input order, not as they finish
      --joblog FILE   write GNU parallel's job log to FILE
      --halt WHEN     give up after failures: never, now,fail=N, soon,fail=N or soon,fail=P%
      --retries N     retry a failed job up to N times (N + 1 attempts)
  -u, --ungroup       let jobs write straight to the terminal, not in one piece when each ends
      --slurm         run each job through srun on a Slurm cluster (built with feature slurm):
                      a step of the current allocation inside one, else a job of its own
  -h, --help          print this help and exit

Exit status: 0 if every job succeeded; 123 if any failed; 124 if one exited with 255;
125 if one was killed by a signal; 126 if one could not be run; 127 if a program was
not found (the highest wins); 1 for a usage error or if stdin could not be read.";

/// The parsed command line.
struct Options {
    jobs: Option<usize>,
    timeout: Option<Duration>,
    keep_order: bool,
    joblog: Option<PathBuf>,
    halt: Halt,
    /// The `--halt` value as given, to name it when it fires.
    halt_text: String,
    retries: u32,
    ungroup: bool,
    slurm: bool,
    command: Vec<OsString>,
}

/// What the command line asks for.
enum Parsed {
    Run(Options),
    Help,
}

fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
    let mut o = Options {
        jobs: None,
        timeout: None,
        keep_order: false,
        joblog: None,
        halt: Halt::Never,
        halt_text: String::new(),
        retries: 0,
        ungroup: false,
        slurm: false,
        command: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let Some(name) = arg.to_str() else {
            // Not an option: the program.
            o.command.push(arg);
            break;
        };
        match name {
            "-j" | "--jobs" => o.jobs = Some(jobs(&value(name)?, name)?),
            "--timeout" => o.timeout = Some(seconds(&value(name)?, name)?),
            "-k" | "--keep-order" => o.keep_order = true,
            "--joblog" => o.joblog = Some(value(name)?.into()),
            "--halt" => {
                let text = value(name)?.to_string_lossy().into_owned();
                o.halt = text.parse().map_err(|e| format!("{name}: {e}"))?;
                o.halt_text = text;
            }
            "--retries" => o.retries = number(&value(name)?, name)?,
            "-u" | "--ungroup" => o.ungroup = true,
            "--slurm" => o.slurm = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            "--" => break,
            s if s.len() > 2 && s.starts_with("-j") => {
                o.jobs = Some(jobs(s["-j".len()..].as_ref(), "-j")?);
            }
            s if s.len() > 1 && s.starts_with('-') => {
                return Err(format!("unknown option {s}"));
            }
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
    Ok(Parsed::Run(o))
}

fn number<T: std::str::FromStr>(text: &std::ffi::OsStr, option: &str) -> Result<T, String> {
    text.to_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("{option}: {text:?} is not a valid number"))
}

/// A number of jobs at once: 1 or more.
fn jobs(text: &std::ffi::OsStr, option: &str) -> Result<usize, String> {
    match number(text, option)? {
        0 => Err(format!(
            "{option}: 0 jobs at once is not supported (give 1 or more)"
        )),
        n => Ok(n),
    }
}

/// A duration in seconds: more than 0, and not too long to represent.
fn seconds(text: &std::ffi::OsStr, option: &str) -> Result<Duration, String> {
    let secs: f64 = number(text, option)?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("{option}: {text:?} is not more than 0 seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{option}: {text:?} seconds is too long"))
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
    if o.slurm {
        #[cfg(feature = "slurm")]
        {
            builder = builder.slurm(procession::Slurm::auto());
        }
        #[cfg(not(feature = "slurm"))]
        return Err("--slurm needs the slurm feature (cargo run --features slurm ...)".into());
    }
    if let Some(path) = &o.joblog {
        let file = std::fs::File::create(path)
            .map_err(|e| format!("--joblog: cannot create {}: {e}", path.display()))?;
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

fn report(summary: &Summary, o: &Options) {
    let by = match summary.halted {
        None => return,
        Some(HaltReason::Soon | HaltReason::Now) => format!("--halt {}", o.halt_text),
        Some(other) => format!("{other:?}"),
    };
    eprintln!(
        "parallel: halted by {by}: {} failed, {} stopped, {} never started",
        summary.failed, summary.stopped, summary.skipped
    );
}

/// Reports a usage error the way every one is reported.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("parallel: {message}");
    eprintln!("{USAGE}");
    eprintln!("Try 'parallel --help' for more information.");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            println!("{USAGE}\n\n{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => return usage_error(&message),
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
    // Each line as bytes, without its newline, like xargs.
    let mut read_error = None;
    let jobs = std::io::stdin()
        .lock()
        .split(b'\n')
        .map_while(|line| line.map_err(|e| read_error = Some(e)).ok())
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| template.clone().arg(OsString::from_vec(line)));
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
    report(&summary, &options);
    if let Some(e) = read_error {
        eprintln!("parallel: cannot read stdin: {e}");
        status = status.max(1);
    }
    if summary.halted == Some(HaltReason::OutputClosed) {
        status = status.max(1);
    }
    if let Some(error) = pool.joblog_error() {
        eprintln!("parallel: {error} ({} lines lost)", summary.joblog_lost);
        status = status.max(1);
    }
    ExitCode::from(status)
}
