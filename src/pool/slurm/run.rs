//! One running `srun`: its stderr read on a thread of its own, srun's and
//! slurmstepd's lines told apart from the job's, and its end judged from
//! what srun said.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::capture::Keep;
use crate::command::Command;
use crate::control::Gate;
use crate::error::{Error, SpawnFailure};
use crate::output::Output;
use crate::plan::Mode;
use crate::reactor::OnDone;
use crate::redirect::{OutSpec, Stream};
use crate::run::{Line, LineSink};
use crate::stop::StopSequence;
use crate::sync::lock;

/// `SIGWINCH`, a signal srun ignores.
const SIGWINCH: i32 = rustix::process::Signal::WINCH.as_raw();

use super::super::backend::{Captured, Ended, SharedIds, Started, Status, StopHow, Stopper, Watch};
use super::super::job::RunIds;
use super::super::output::{self, Sinks};
use super::super::srun::{self, SrunLine};
use super::stop::{self, Why};

/// How many of srun's error lines are kept for the error text.
const KEEP_ERRORS: usize = 20;

/// A line of the job's stderr longer than this is passed on in pieces
/// (srun's own lines are short).
const MAX_LINE: usize = 64 * 1024;

/// What `start` needs besides srun's command line.
pub(super) struct Setup {
    pub(super) display: String,
    pub(super) steps: bool,
    pub(super) timeout: Option<Duration>,
    pub(super) deadline: Option<Instant>,
    pub(super) grace: Arc<OnceLock<Duration>>,
    pub(super) err: ErrSink,
    /// The prefix of the job's lines when they go through the pool's
    /// writer threads (tagged output, or lines above the progress bar).
    pub(super) lines: Option<String>,
}

/// Where the job's own stderr lines go.
pub(super) enum ErrSink {
    Inherit,
    Null,
    Capture {
        limit: Option<usize>,
        keep: Keep,
        bytes: Vec<u8>,
        truncated: bool,
    },
    File(Arc<File>),
    /// Line by line to the pool's writer threads, paused while too many
    /// wait (as the engine pauses reading srun's stdout behind `gate`).
    Lines(LineSink, Arc<Gate>),
}

impl ErrSink {
    /// The sink for the pool's output setting and the command's own
    /// stderr setting, or why it cannot be had on Slurm.
    pub(super) fn new(sinks: &Sinks, own: Option<&OutSpec>) -> Result<ErrSink, &'static str> {
        let capture = |limit, keep| ErrSink::Capture {
            limit,
            keep,
            bytes: Vec::new(),
            truncated: false,
        };
        Ok(match sinks {
            Sinks::Null => ErrSink::Null,
            Sinks::Capture(limit, keep) => capture(*limit, *keep),
            Sinks::Files(_, err) => ErrSink::File(err.clone()),
            Sinks::AsCommand | Sinks::Tagged | Sinks::Lines => match own {
                None | Some(OutSpec::Inherit) => ErrSink::Inherit,
                Some(OutSpec::Null) => ErrSink::Null,
                Some(OutSpec::Capture(limit, keep)) => capture(*limit, *keep),
                Some(OutSpec::File(file)) => ErrSink::File(file.clone()),
                Some(OutSpec::Path(..)) => {
                    return Err("a stderr file path (give it an open file instead)");
                }
            },
        })
    }

    fn write(&mut self, data: &[u8]) {
        match self {
            ErrSink::Null => {}
            // Like an inherited stderr: a failed write is the reader's loss.
            ErrSink::Inherit => {
                let _ = std::io::stderr().lock().write_all(data);
            }
            ErrSink::File(file) => {
                let _ = (&**file).write_all(data);
            }
            // A whole line with its newline, or a piece of a long one.
            ErrSink::Lines(sink, gate) => {
                sink(Line {
                    stream: Stream::Stderr,
                    bytes: data.strip_suffix(b"\n").unwrap_or(data).to_vec(),
                    overlong: false,
                    ends_line: true,
                });
                if gate.is_closed() {
                    output::Writer::of(Stream::Stderr).wait_written();
                }
            }
            ErrSink::Capture {
                limit,
                keep,
                bytes,
                truncated,
            } => match (*limit, *keep) {
                (Some(max), Keep::Head) => {
                    let room = max.saturating_sub(bytes.len());
                    bytes.extend_from_slice(&data[..room.min(data.len())]);
                    *truncated |= data.len() > room;
                }
                (Some(max), Keep::Tail) => {
                    bytes.extend_from_slice(data);
                    if bytes.len() > 2 * max + MAX_LINE {
                        bytes.drain(..bytes.len() - max);
                        *truncated = true;
                    }
                }
                _ => bytes.extend_from_slice(data),
            },
        }
    }

    /// The captured bytes and whether some were dropped.
    fn take(&mut self) -> (Vec<u8>, bool) {
        match self {
            ErrSink::Capture {
                limit,
                keep,
                bytes,
                truncated,
            } => {
                let mut bytes = std::mem::take(bytes);
                if let (Some(max), Keep::Tail) = (*limit, *keep) {
                    if bytes.len() > max {
                        bytes.drain(..bytes.len() - max);
                        *truncated = true;
                    }
                }
                (bytes, *truncated)
            }
            _ => (Vec::new(), false),
        }
    }
}

/// What srun said about the run, as its lines come.
#[derive(Default)]
pub(super) struct Evidence {
    /// The job id, from `queued` or `jobid` (jobs only).
    pub(super) job: Option<String>,
    /// The step id, from `launching`: the task started.
    pub(super) step: Option<String>,
    pub(super) wait: Option<u32>,
    pub(super) task_ended: Option<String>,
    pub(super) execve: Option<(String, String)>,
    /// srun's and slurmstepd's error lines, the last few.
    pub(super) errors: VecDeque<String>,
}

/// The shared state of a running attempt.
pub(super) struct State {
    pub(super) evidence: Evidence,
    pub(super) launched: Option<Instant>,
    /// The stop asked for or decided, the first one (a kill wins).
    pub(super) stop: Option<Why>,
    /// What was sent, to which id: `false` the first call, `true` a kill
    /// (or the plain `scancel` of a pending job).
    pub(super) sent: Option<(bool, String)>,
    /// When to send the kill that follows a `TERM`.
    pub(super) kill_at: Option<Instant>,
    pub(super) killed: bool,
    /// Its task was stopped for Ctrl-Z (`scancel --signal=STOP`).
    pub(super) suspended: bool,
    /// How long this process had spent stopped by Ctrl-Z when the task
    /// started: later stopped time does not count against its timeout.
    pub(super) paused_base: Duration,
    engine: Option<Result<Output, Error>>,
    reader: Option<(Vec<u8>, bool)>,
    on_done: Option<OnDone>,
    pub(super) over: bool,
}

/// A running attempt.
pub(super) struct Run {
    pub(super) display: String,
    pub(super) steps: bool,
    pub(super) timeout: Option<Duration>,
    pub(super) deadline: Option<Instant>,
    pub(super) grace: Arc<OnceLock<Duration>>,
    pub(super) ids: SharedIds,
    pub(super) state: Mutex<State>,
}

/// Starts `srun`, with its stderr read here; the engine drives srun.
pub(super) fn start(srun: Command, setup: Setup, on_done: OnDone) -> Result<Started, Error> {
    let Setup {
        display,
        steps,
        timeout,
        deadline,
        grace,
        err,
        lines,
    } = setup;
    let (reader, writer) =
        os_pipe::pipe().map_err(|e| Error::io("cannot make a pipe for srun's stderr", e))?;
    let writer = File::from(OwnedFd::from(writer));
    let run = Arc::new(Run {
        display: display.clone(),
        steps,
        timeout,
        deadline,
        grace,
        ids: Arc::new(Mutex::new(RunIds::default())),
        state: Mutex::new(State {
            evidence: Evidence::default(),
            launched: None,
            stop: None,
            sent: None,
            kill_at: None,
            killed: false,
            suspended: false,
            paused_base: Duration::ZERO,
            engine: None,
            reader: None,
            on_done: None,
            over: false,
        }),
    });
    let timer = stop::timer()?;
    let reading = run.clone();
    // The sink comes once srun runs (a line sink needs its run's gate).
    let (sink_tx, sink_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("procession-srun".into())
        .spawn(move || {
            if let Ok(sink) = sink_rx.recv() {
                read(&reading, reader, sink);
            }
        })
        .map_err(|e| Error::io("cannot start the thread that reads srun's stderr", e))?;
    // If srun cannot start, dropping the command closes the pipe and the
    // sender, and the reader ends with no one to report to.
    // A forwarded Ctrl-C stops the job through the pool (`scancel`), never
    // by signalling srun, which would kill a running job without a SIGTERM
    // (and a pending one, woken by SIGCONT, submits its job again): srun's
    // own stop "sequence" is SIGWINCH, which it ignores (measured, pending
    // and running), and a wait for srun to end with its job.
    // Only stdout as lines: `Mode::Events` would take stderr from the pipe.
    let mode = if lines.is_some() {
        Mode::Lines
    } else {
        Mode::Start
    };
    let (mut exec, stdin) = srun
        .stop_sequence(StopSequence::new().then(SIGWINCH, Duration::MAX))
        .stderr_shared_file(Arc::new(writer))
        .exec_job(mode)
        .map_err(|e| super::srun_missing(&display, e))?;
    drop(stdin);
    // The job's stdout as the local pool's; its stderr lines, told apart
    // from srun's here, to the same writer behind the same gate.
    let err = match lines {
        Some(prefix) => {
            let gate = output::stream_lines(&mut exec, prefix.clone());
            match err {
                ErrSink::Inherit => ErrSink::Lines(output::line_sink(prefix, gate.clone()), gate),
                own => own,
            }
        }
        None => err,
    };
    // The reader holds the receiver until the sender is gone.
    let _ = sink_tx.send(err);
    lock(&run.state).on_done = Some(on_done);
    timer.add(run.clone());
    let ending = run.clone();
    let engine_done: OnDone = Box::new(move |result| {
        let mut state = lock(&ending.state);
        state.engine = Some(result);
        ending.finish_if_over(state);
    });
    Ok(Started {
        stopper: Arc::new(RunStopper(run.clone())),
        pids: Vec::new(),
        watch: Watch::Engine(Box::new(exec), engine_done),
        ids: Some(run.ids.clone()),
    })
}

/// Reads srun's stderr to its end, line by line, byte for byte.
fn read(run: &Run, mut pipe: os_pipe::PipeReader, mut sink: ErrSink) {
    let mut buf = vec![0; 64 * 1024];
    let mut line = Vec::new();
    // The current line was passed on in part: the rest is the job's.
    let mut passing = false;
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let mut rest = &buf[..n];
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            line.extend_from_slice(&rest[..=nl]);
            rest = &rest[nl + 1..];
            let text = &line[..line.len() - 1];
            if !std::mem::take(&mut passing) && srun::is_diagnostic(text) {
                run.diagnostic(&String::from_utf8_lossy(text));
            } else if let Some(at) = srun::embedded(text) {
                sink.write(&text[..at]);
                run.diagnostic(&String::from_utf8_lossy(&text[at..]));
            } else {
                sink.write(&line);
            }
            line.clear();
        }
        line.extend_from_slice(rest);
        if line.len() > MAX_LINE {
            sink.write(&line);
            line.clear();
            passing = true;
        }
    }
    // A last line without its newline.
    if !line.is_empty() {
        if !passing && srun::is_diagnostic(&line) {
            run.diagnostic(&String::from_utf8_lossy(&line));
        } else {
            sink.write(&line);
        }
    }
    let mut state = lock(&run.state);
    state.reader = Some(sink.take());
    run.finish_if_over(state);
}

impl Run {
    /// Takes in one of srun's lines.
    fn diagnostic(&self, line: &str) {
        let parsed = srun::parse(line);
        let mut state = lock(&self.state);
        let evidence = &mut state.evidence;
        let mut wake = false;
        match parsed {
            Some(SrunLine::Queued(id) | SrunLine::JobId(id)) => {
                if !self.steps {
                    lock(&self.ids).remote = Some(id.clone());
                }
                evidence.job = Some(id);
                wake = true;
            }
            Some(SrunLine::Launching { step, host }) => {
                let mut ids = lock(&self.ids);
                ids.host = Some(host);
                if self.steps {
                    ids.remote = Some(step.clone());
                } else if ids.remote.is_none() {
                    ids.remote = step.split('.').next().map(String::from);
                }
                if evidence.job.is_none() {
                    evidence.job = step.split('.').next().map(String::from);
                }
                evidence.step = Some(step);
                drop(ids);
                state.launched = Some(Instant::now());
                state.paused_base = crate::signals::paused();
                wake = true;
            }
            Some(SrunLine::WaitStatus(status)) => evidence.wait = Some(status),
            Some(SrunLine::TaskEnded { host, how }) => {
                lock(&self.ids).host.get_or_insert(host);
                evidence.task_ended = Some(how);
            }
            Some(SrunLine::Execve { program, reason }) => {
                evidence.execve = Some((program, reason));
                keep_error(evidence, line);
            }
            Some(SrunLine::Error(_)) => keep_error(evidence, line),
            None if line.contains(": error: ") => keep_error(evidence, line),
            None => {}
        }
        drop(state);
        if wake {
            if let Ok(timer) = stop::timer() {
                timer.wake();
            }
        }
    }

    /// Once srun has exited and its stderr is read: reports the attempt.
    fn finish_if_over(&self, mut state: std::sync::MutexGuard<'_, State>) {
        if state.engine.is_none() || state.reader.is_none() || state.over {
            return;
        }
        let (Some(on_done), Some(engine)) = (state.on_done.take(), state.engine.take()) else {
            return;
        };
        state.over = true;
        let (stderr, stderr_truncated) = state.reader.take().unwrap_or_default();
        let status = judge(
            &state.evidence,
            state.stop,
            engine.as_ref().ok().and_then(|o| o.status.code()),
        );
        drop(state);
        let result = match engine {
            Err(error) => Err(error),
            Ok(output) => Ended {
                status,
                out: Captured {
                    stdout: output.stdout,
                    stderr,
                    stdout_truncated: output.stdout_truncated,
                    stderr_truncated,
                },
                pid: output.stages.first().map_or(0, |s| s.pid),
                elapsed: output.elapsed,
            }
            .into_result(&self.display, self.timeout),
        };
        on_done(result);
        if let Ok(timer) = stop::timer() {
            timer.wake();
        }
    }
}

impl Run {
    /// Keeps a line of the backend's own for the error text.
    pub(super) fn note(&self, line: String) {
        keep_error(&mut lock(&self.state).evidence, &line);
    }
}

fn keep_error(evidence: &mut Evidence, line: &str) {
    if evidence.errors.len() == KEEP_ERRORS {
        evidence.errors.pop_front();
    }
    evidence.errors.push_back(line.to_string());
}

/// How the attempt ended, from the best evidence: a stop of ours; no task
/// ever launched (rejected, or never scheduled); a program that could not
/// be started; the raw wait status; srun's words; srun's own exit code.
pub(super) fn judge(evidence: &Evidence, stop: Option<Why>, srun_code: Option<i32>) -> Status {
    match stop {
        Some(Why::Timeout | Why::Deadline) => return Status::TimedOut,
        Some(Why::Cancel) => return Status::Stopped(StopHow::Cancel),
        Some(Why::Kill) => return Status::Stopped(StopHow::Kill),
        None => {}
    }
    let errors = || {
        evidence
            .errors
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    };
    if evidence.step.is_none() {
        let why = if evidence.errors.is_empty() {
            format!("srun ended (code {srun_code:?}) before the job started")
        } else {
            format!("Slurm did not run the job: {}", errors())
        };
        return Status::NotStarted(SpawnFailure::Other, why);
    }
    if let Some((program, reason)) = &evidence.execve {
        let failure = match reason.as_str() {
            "No such file or directory" => SpawnFailure::NotFound,
            "Permission denied" => SpawnFailure::PermissionDenied,
            _ => SpawnFailure::Other,
        };
        return Status::NotStarted(failure, format!("on the node: {program}: {reason}"));
    }
    if let Some(wait) = evidence.wait {
        return match srun::decode_wait(wait) {
            Ok(code) => Status::Exited(code),
            Err((signal, core)) => Status::Signaled { signal, core },
        };
    }
    if let Some(status) = evidence.task_ended.as_deref().and_then(task_words) {
        return status;
    }
    match srun_code {
        Some(code) if code > 128 => Status::Signaled {
            signal: code - 128,
            core: false,
        },
        Some(code) => Status::Exited(code),
        None => Status::Signaled {
            signal: 9,
            core: false,
        },
    }
}

/// srun's words for how a task ended (`Exited with exit code 3`,
/// `Segmentation fault`, ...).
fn task_words(how: &str) -> Option<Status> {
    if let Some(code) = how.strip_prefix("Exited with exit code ") {
        return code.trim().parse().ok().map(Status::Exited);
    }
    let signal = match how.trim_end_matches(" (core dumped)") {
        "Hangup" => 1,
        "Interrupt" => 2,
        "Quit" => 3,
        "Illegal instruction" => 4,
        "Aborted" => 6,
        "Bus error" => 7,
        "Floating point exception" => 8,
        "Killed" => 9,
        "Segmentation fault" => 11,
        "Broken pipe" => 13,
        "Alarm clock" => 14,
        "Terminated" => 15,
        _ => return None,
    };
    Some(Status::Signaled {
        signal,
        core: how.ends_with("(core dumped)"),
    })
}

/// Stops an attempt through the timer thread.
struct RunStopper(Arc<Run>);

impl Stopper for RunStopper {
    fn stop(&self, how: StopHow) {
        let why = match how {
            StopHow::Cancel => Why::Cancel,
            StopHow::Kill => Why::Kill,
        };
        {
            let mut state = lock(&self.0.state);
            if state.over {
                return;
            }
            match state.stop {
                None => state.stop = Some(why),
                Some(_) if why == Why::Kill => state.stop = Some(Why::Kill),
                Some(_) => {}
            }
        }
        if let Ok(timer) = stop::timer() {
            timer.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(step: bool, wait: Option<u32>, words: Option<&str>) -> Evidence {
        Evidence {
            job: Some("7".into()),
            step: step.then(|| "7.0".into()),
            wait,
            task_ended: words.map(String::from),
            ..Evidence::default()
        }
    }

    #[test]
    fn the_status_table() {
        let signaled = |signal| Status::Signaled {
            signal,
            core: false,
        };
        let table: Vec<(Evidence, Option<Why>, Option<i32>, Status)> = vec![
            (
                evidence(true, Some(0), None),
                None,
                Some(0),
                Status::Exited(0),
            ),
            (
                evidence(true, Some(0x300), Some("Exited with exit code 3")),
                None,
                Some(3),
                Status::Exited(3),
            ),
            // The wait status tells a signal from `exit 139`.
            (
                evidence(true, Some(0x0b), None),
                None,
                Some(139),
                signaled(11),
            ),
            (
                evidence(true, Some(0x8b00), None),
                None,
                Some(139),
                Status::Exited(139),
            ),
            (
                evidence(true, None, Some("Segmentation fault")),
                None,
                Some(139),
                signaled(11),
            ),
            (
                evidence(true, None, Some("Killed")),
                None,
                Some(137),
                signaled(9),
            ),
            (evidence(true, None, None), None, Some(143), signaled(15)),
            (evidence(true, None, None), None, Some(4), Status::Exited(4)),
            (
                evidence(true, Some(9), None),
                Some(Why::Timeout),
                Some(137),
                Status::TimedOut,
            ),
            (
                evidence(false, None, None),
                Some(Why::Deadline),
                Some(1),
                Status::TimedOut,
            ),
            (
                evidence(true, Some(0xf), None),
                Some(Why::Cancel),
                Some(143),
                Status::Stopped(StopHow::Cancel),
            ),
            (
                evidence(true, Some(9), None),
                Some(Why::Kill),
                Some(137),
                Status::Stopped(StopHow::Kill),
            ),
            (
                evidence(false, None, None),
                None,
                Some(1),
                Status::NotStarted(
                    SpawnFailure::Other,
                    "srun ended (code Some(1)) before the job started".into(),
                ),
            ),
        ];
        for (i, (evidence, stop, code, expected)) in table.into_iter().enumerate() {
            assert_eq!(judge(&evidence, stop, code), expected, "row {i}");
        }
    }

    #[test]
    fn rejections_and_missing_programs_name_the_cause() {
        let mut rejected = evidence(false, None, None);
        rejected
            .errors
            .push_back("srun: error: invalid partition specified: nopart".into());
        let Status::NotStarted(SpawnFailure::Other, why) = judge(&rejected, None, Some(1)) else {
            panic!("not a rejection");
        };
        assert!(why.contains("invalid partition specified: nopart"), "{why}");
        let mut missing = evidence(true, None, Some("Exited with exit code 2"));
        missing.execve = Some(("nosuchprog".into(), "No such file or directory".into()));
        assert!(matches!(
            judge(&missing, None, Some(2)),
            Status::NotStarted(SpawnFailure::NotFound, _)
        ));
    }

    #[test]
    fn task_words_table() {
        assert_eq!(
            task_words("Exited with exit code 3"),
            Some(Status::Exited(3))
        );
        assert_eq!(
            task_words("Aborted (core dumped)"),
            Some(Status::Signaled {
                signal: 6,
                core: true
            })
        );
        assert_eq!(task_words("Something new"), None);
    }

    #[test]
    fn a_capture_keeps_its_tail_or_head() {
        let mut tail = ErrSink::Capture {
            limit: Some(4),
            keep: Keep::Tail,
            bytes: Vec::new(),
            truncated: false,
        };
        tail.write(b"abc\n");
        tail.write(b"def\n");
        assert_eq!(tail.take(), (b"def\n".to_vec(), true));
        let mut head = ErrSink::Capture {
            limit: Some(5),
            keep: Keep::Head,
            bytes: Vec::new(),
            truncated: false,
        };
        head.write(b"abc\n");
        head.write(b"def\n");
        assert_eq!(head.take(), (b"abc\nd".to_vec(), true));
    }
}
