//! The job log, in GNU parallel's `--joblog` format, so tools that read
//! those logs read ours.
//!
//! ```text
//! Seq<TAB>Host<TAB>Starttime<TAB>JobRuntime<TAB>Send<TAB>Receive<TAB>Exitval<TAB>Signal<TAB>Command
//! 1<TAB>:<TAB>1700000000.123<TAB>     0.005<TAB>0<TAB>0<TAB>0<TAB>0<TAB>gzip -k a.txt
//! ```
//!
//! The format follows GNU parallel 20221122 and later (the releases whose
//! own test suite, `par_compare_exit_codes`, expects a job killed by signal
//! N to be logged with `Exitval` 128+N and `Signal` N).
//!
//! One tab-separated line per attempt, written (and flushed) when the
//! attempt ends, so in the order attempts finish: a job retried twice has
//! three lines with the same `Seq`, as GNU parallel's `--retries` writes
//! them. `Host` is the node a remote backend ran the attempt on, or `:` (this
//! machine, GNU parallel's way), `Send` and `Receive` are 0,
//! `Starttime` is the epoch time of the attempt's start, `JobRuntime` its
//! duration, both in seconds with three decimals (`JobRuntime`
//! right-aligned in ten columns, as GNU parallel writes it).
//!
//! A log that cannot be written never fails a job, but it is not lost
//! quietly either: after the first failed write nothing more is written
//! (so the file holds whole lines only, up to the failure), every line not
//! written is counted in the batch's
//! [`Summary::joblog_lost`](crate::Summary::joblog_lost), and
//! [`Pool::joblog_error`](crate::Pool::joblog_error) returns the error.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use crate::error::Error;

use crate::sync::lock;

use super::job::Done;
use super::policy::Failure;

/// The first line of every job log.
pub(crate) const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// The `Exitval` and `Signal` columns of a finished job.
///
/// A job that exited has its code and signal 0; one killed by signal N has
/// exit value 128+N and signal N, as a shell reports it and as GNU parallel
/// (since 20221122) logs it. Two cases have no
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
            (None, Some(signal)) => (128 + signal, signal),
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
    // A remote node's name, or `:` for this machine (GNU parallel's way).
    let host = done.host().map_or(":".to_string(), |h| {
        h.chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect()
    });
    format!(
        "{}\t{host}\t{start:.3}\t{:10.3}\t0\t0\t{exitval}\t{signal}\t{command}\n",
        done.seq,
        done.elapsed.as_secs_f64()
    )
}

/// The log's writer, shared by every batch of a pool.
pub(crate) struct JobLog {
    out: Mutex<Writer>,
}

struct Writer {
    out: Box<dyn Write + Send>,
    /// The first failed write (the header's, or a line's): nothing more is
    /// written after it.
    failed: Option<io::Error>,
}

impl JobLog {
    /// Writes the header to `out`; a failure is kept for
    /// [`error`](JobLog::error).
    pub(crate) fn new(mut out: Box<dyn Write + Send>) -> JobLog {
        let header = out
            .write_all(HEADER.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        JobLog {
            out: Mutex::new(Writer {
                out,
                failed: header.err(),
            }),
        }
    }

    /// Appends an attempt's line; `false` if it could not be written (now
    /// or because an earlier write failed). A failing log does not fail
    /// the job.
    pub(crate) fn record(&self, done: &Done) -> bool {
        let line = line(done);
        let mut writer = lock(&self.out);
        if writer.failed.is_some() {
            return false;
        }
        let out = &mut writer.out;
        match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => true,
            Err(e) => {
                writer.failed = Some(e);
                false
            }
        }
    }

    /// The first write that failed, if any.
    pub(crate) fn error(&self) -> Option<Error> {
        let writer = lock(&self.out);
        let e = writer.failed.as_ref()?;
        let copy = match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(e.kind(), e.to_string()),
        };
        Some(Error::io("cannot write the job log", copy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;
    use crate::status::ExitStatus;
    use std::time::Duration;

    use super::super::policy::StopCause;

    fn done(status: Option<ExitStatus>, failure: Option<Failure>) -> Done {
        let output = status.map(|status| Output {
            status,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_spilled: None,
            stderr_spilled: None,
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
                output: std::sync::Arc::new(o),
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
            ids: Default::default(),
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
    fn a_remote_line_names_the_node() {
        let mut d = done(Some(ExitStatus::from_code(0)), None);
        d.ids.host = Some("node-7".into());
        d.ids.remote = Some("1242".into());
        assert_eq!(
            line(&d),
            "7\tnode-7\t1700000000.123\t     0.005\t0\t0\t0\t0\techo a b\n"
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
            (Some(sig(11)), Some(Failure::Signal(11)), (139, 11)),
            (Some(sig(15)), Some(Failure::Timeout), (143, 15)),
            (
                Some(sig(9)),
                Some(Failure::Stopped(StopCause::Halt)),
                (137, 9),
            ),
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

    /// A writer that takes `room` bytes, then fails.
    struct Full {
        room: usize,
        written: std::sync::Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            lock(&self.written).extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_log_stops_at_its_first_error_and_keeps_it() {
        let d = done(Some(ExitStatus::from_code(0)), None);
        let line_len = line(&d).len();
        let written = std::sync::Arc::new(Mutex::new(Vec::new()));
        let room = HEADER.len() + 1 + line_len + line_len / 2;
        let log = JobLog::new(Box::new(Full {
            room,
            written: written.clone(),
        }));
        assert!(log.error().is_none());
        assert!(log.record(&d));
        assert!(!log.record(&d), "the second line does not fit");
        let message = log.error().expect("the error is kept").to_string();
        assert!(message.contains("job log"), "{message}");
        assert!(message.contains("No space left"), "{message}");
        assert!(!log.record(&d), "nothing is written after a failure");
        assert_eq!(lock(&written).len(), room);

        let log = JobLog::new(Box::new(Full {
            room: 3,
            written: written.clone(),
        }));
        assert!(log.error().is_some(), "a header that fails is reported");
        assert!(!log.record(&d));
    }
}
