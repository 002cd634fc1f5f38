//! The end of a run: its [`Output`], or the error that explains it (a
//! failing status by the pipeline rule, a stop for time or a cancel, or what
//! went wrong while it ran).

use std::sync::Arc;
use std::time::Instant;

use super::stopping::Reason;
use super::{Exec, Proc};
use crate::capture::Spilled;
use crate::error::{Error, ExitError, StoppedError};
use crate::output::{Output, Stage};
use crate::pipestatus::{self, Verdict};
use crate::redirect::Stream;
use crate::status::ExitStatus;
use crate::sys;
use crate::trace::Span;

/// What the run's pipes captured: the run's own stdout and stderr (each
/// with whether it was truncated), and each stage's own `(stdout, stderr)`;
/// beside each, the file of a capture that spilled.
struct Captured {
    stdout: (Vec<u8>, bool),
    stderr: (Vec<u8>, bool),
    spilled: (Option<Spilled>, Option<Spilled>),
    stages: Vec<(Vec<u8>, Vec<u8>)>,
    stages_spilled: Vec<(Option<Spilled>, Option<Spilled>)>,
}

impl Exec {
    /// The result of a finished run, recorded in its span.
    pub(crate) fn outcome(mut self) -> Result<Output, Error> {
        let span = std::mem::replace(&mut self.span, Span::none());
        let started = self.started;
        let result = self.conclude();
        span.finished(&result, started.elapsed());
        result
    }

    /// The result of a finished run: an error met while it ran, else its
    /// output, unless a stop or the pipeline's status rule makes that an
    /// error (which keeps the output).
    fn conclude(mut self) -> Result<Output, Error> {
        let now = Instant::now();
        let captured = self.take_captures();
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let verdicts = self.verdicts();
        let decider = pipestatus::deciding_stage(&verdicts);
        let output = self.output(captured, decider, now);
        match self.stopping.as_ref().map(|s| (s.reason, s.signal)) {
            None | Some((Reason::Owner, _)) => {}
            Some((reason, signal)) => return Err(self.stopped_error(reason, signal, output)),
        }
        if verdicts[decider] == Verdict::CheckedError {
            return Err(self.exit_error(decider, output));
        }
        Ok(output)
    }

    fn take_captures(&mut self) -> Captured {
        let mut captured = Captured {
            stdout: (Vec::new(), false),
            stderr: (Vec::new(), false),
            spilled: (None, None),
            stages: vec![Default::default(); self.procs.len()],
            stages_spilled: vec![Default::default(); self.procs.len()],
        };
        let c = &mut captured;
        for mut channel in std::mem::take(&mut self.channels) {
            let spill = channel.capture.take_spilled();
            let (bytes, truncated) = channel.capture.finish();
            match (channel.plan.owner, channel.plan.stream) {
                (None, Stream::Stdout) => (c.stdout, c.spilled.0) = ((bytes, truncated), spill),
                (None, Stream::Stderr) => (c.stderr, c.spilled.1) = ((bytes, truncated), spill),
                (Some(i), Stream::Stdout) => {
                    (c.stages[i].0, c.stages_spilled[i].0) = (bytes, spill);
                }
                (Some(i), Stream::Stderr) => {
                    (c.stages[i].1, c.stages_spilled[i].1) = (bytes, spill);
                }
            }
        }
        captured
    }

    /// Each stage's status judged by the pipeline rule (see `pipestatus`).
    fn verdicts(&self) -> Vec<Verdict> {
        (0..self.procs.len())
            .map(|i| {
                let proc = &self.procs[i];
                let reader_gone = proc.feeds_next
                    && self
                        .procs
                        .get(i + 1)
                        .is_some_and(|next| pipestatus::reader_was_gone(proc.ended, next.ended));
                pipestatus::verdict(status_of(proc), &proc.check, reader_gone)
            })
            .collect()
    }

    /// The output, with the status of stage `decider`.
    fn output(&self, captured: Captured, decider: usize, now: Instant) -> Output {
        let stages: Vec<Stage> = self
            .procs
            .iter()
            .zip(captured.stages.into_iter().zip(captured.stages_spilled))
            .map(|(p, ((out, err), (out_spilled, err_spilled)))| Stage {
                command: p.display.clone(),
                pid: sys::pid_to_raw(p.pid),
                status: status_of(p),
                stdout: out,
                stderr: err,
                stdout_spilled: out_spilled,
                stderr_spilled: err_spilled,
            })
            .collect();
        Output {
            status: stages[decider].status,
            stdout: captured.stdout.0,
            stderr: captured.stderr.0,
            stdout_spilled: captured.spilled.0,
            stderr_spilled: captured.spilled.1,
            stdout_truncated: captured.stdout.1,
            stderr_truncated: captured.stderr.1,
            incomplete: self.incomplete,
            escaped: self.escaped(),
            elapsed: now - self.started,
            stages,
        }
    }

    /// A stop for time or a cancel (`reason`), which began with `signal`.
    fn stopped_error(&self, reason: Reason, signal: i32, output: Output) -> Error {
        let stopped = Box::new(StoppedError {
            command: self.display.clone(),
            limit: match reason {
                Reason::Timeout(limit) => limit,
                _ => None,
            },
            cancelled: reason == Reason::Cancel,
            stopped_by: None,
            signal,
            output: Arc::new(output),
        });
        match reason {
            Reason::Timeout(_) => Error::Timeout(stopped),
            _ => Error::Cancelled(stopped),
        }
    }

    /// A failing status, decided by stage `decider`.
    fn exit_error(&self, decider: usize, output: Output) -> Error {
        let stage = self
            .pipeline
            .then(|| (decider, output.stages[decider].command.clone()));
        Error::Exit(Box::new(ExitError {
            command: self.display.clone(),
            stage,
            output: Arc::new(output),
        }))
    }
}

fn status_of(proc: &Proc) -> ExitStatus {
    // A lost status only reaches here with `Exec::error` set.
    proc.status.unwrap_or(ExitStatus::from_code(-1))
}
