//! The job log, in GNU parallel's `--joblog` format, so tools that read
//! those logs read ours.
//!
//! ```text
//! Seq<TAB>Host<TAB>Starttime<TAB>JobRuntime<TAB>Send<TAB>Receive<TAB>Exitval<TAB>Signal<TAB>Command
//! 1<TAB>:<TAB>1700000000.123<TAB>     0.005<TAB>0<TAB>0<TAB>0<TAB>0<TAB>gzip -k a.txt
//! ```
//!
//! One tab-separated line per job, written (and flushed) when the job is
//! reported, so in the order jobs finish. `Host` is `:` (this machine),
//! `Send` and `Receive` are 0, `Starttime` is the epoch time of the last
//! attempt's start, `JobRuntime` its duration, both in seconds with three
//! decimals (`JobRuntime` right-aligned in ten columns, as GNU parallel
//! writes it).

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use crate::sync::lock;

use super::job::Done;
use super::policy::Failure;

/// The first line of every job log.
pub(crate) const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// The `Exitval` and `Signal` columns of a finished job.
///
/// A job that exited has its code and signal 0; one killed by a signal has
/// exit value 0 and the signal, as a wait status reads. Two cases have no
/// wait status, and get a shell's numbers so that nothing failed reads as
/// `0 0`: a job that could not be started has exit value 127 (not found)
/// or 126 (any other reason); a job that failed without a failing status
/// (it ignored the stop signal and exited 0 after a timeout, or an error of
/// the pool) has exit value -1.
pub(crate) fn exit_columns(done: &Done) -> (i32, i32) {
    if let Failure::Spawn = done.failure.unwrap_or(Failure::Other) {
        let not_found = matches!(
            done.error(),
            Some(crate::Error::Spawn(e)) if e.failure() == crate::SpawnFailure::NotFound
        );
        return (if not_found { 127 } else { 126 }, 0);
    }
    let columns = match done.status() {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => (code, 0),
            (None, Some(signal)) => (0, signal),
            (None, None) => (-1, 0),
        },
        None => (-1, 0),
    };
    if done.failure.is_some() && columns == (0, 0) {
        return (-1, 0);
    }
    columns
}

/// One line of the log, with its newline.
pub(crate) fn line(done: &Done) -> String {
    let start = done
        .start_time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let (exitval, signal) = exit_columns(done);
    // Tabs and newlines in the command would break the columns.
    let command: String = done
        .command
        .chars()
        .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
        .collect();
    format!(
        "{}\t:\t{start:.3}\t{:10.3}\t0\t0\t{exitval}\t{signal}\t{command}\n",
        done.seq,
        done.elapsed.as_secs_f64()
    )
}

/// The log's writer, shared by every batch of a pool.
pub(crate) struct JobLog {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JobLog {
    /// Writes the header to `out`.
    pub(crate) fn new(mut out: Box<dyn Write + Send>) -> io::Result<JobLog> {
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(JobLog {
            out: Mutex::new(out),
        })
    }

    /// Appends a job's line. A failing log does not fail the job.
    pub(crate) fn record(&self, done: &Done) {
        let line = line(done);
        let mut out = lock(&self.out);
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;
    use crate::status::ExitStatus;
    use std::time::Duration;

    fn done(status: Option<ExitStatus>, failure: Option<Failure>) -> Done {
        let output = status.map(|status| Output {
            status,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            incomplete: false,
            escaped: Vec::new(),
            elapsed: Duration::ZERO,
            stages: Vec::new(),
        });
        let result = match (output, failure) {
            (Some(o), None) => Ok(o),
            (Some(o), Some(_)) => Err(crate::Error::Exit(Box::new(crate::ExitError {
                command: "x".into(),
                stage: None,
                output: o,
            }))),
            (None, _) => Err(crate::Error::io("test", io::Error::other("test"))),
        };
        Done {
            seq: 7,
            slot: 2,
            attempts: 1,
            command: "echo\ta\nb".into(),
            start_time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            elapsed: Duration::from_micros(4_567),
            result,
            failure,
        }
    }

    #[test]
    fn a_line() {
        let d = done(Some(ExitStatus::from_code(0)), None);
        assert_eq!(
            line(&d),
            "7\t:\t1700000000.123\t     0.005\t0\t0\t0\t0\techo a b\n"
        );
    }

    #[test]
    fn exit_columns_table() {
        let code = ExitStatus::from_code;
        let sig = |s| ExitStatus::from_signal(s, false);
        type Row = (Option<ExitStatus>, Option<Failure>, (i32, i32));
        let table: &[Row] = &[
            (Some(code(0)), None, (0, 0)),
            (Some(code(3)), Some(Failure::Exit(3)), (3, 0)),
            (Some(sig(11)), Some(Failure::Signal(11)), (0, 11)),
            (Some(sig(15)), Some(Failure::Timeout), (0, 15)),
            (Some(code(0)), Some(Failure::Timeout), (-1, 0)),
            (None, Some(Failure::Other), (-1, 0)),
            (None, Some(Failure::Spawn), (126, 0)),
        ];
        for (status, failure, want) in table {
            assert_eq!(
                exit_columns(&done(*status, *failure)),
                *want,
                "{status:?} {failure:?}"
            );
        }
    }
}
