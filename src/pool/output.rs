//! Where pool jobs' stdout and stderr go, and the files behind it: spool
//! files for grouped output, per-job files in a results directory, and the
//! tagged line writer.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::Poll;

use crate::capture::Keep;
use crate::control::Gate;
use crate::redirect::Stream;
use crate::run::{Exec, Line, LineSink};
use crate::sync::lock;

/// Where each job's stdout and stderr go. Set with
/// [`PoolBuilder::output`](crate::PoolBuilder::output); every mode keeps
/// this process's memory bounded, whatever the jobs print (except
/// [`Capture`](JobOutput::Capture) without a limit, and
/// [`Tagged`](JobOutput::Tagged) with a line that never ends).
///
/// # Examples
///
/// ```
/// use procession::{cmd, JobOutput, Keep, Pool};
///
/// let pool = Pool::builder()
///     .jobs(2)
///     .output(JobOutput::Capture { limit: Some(3), keep: Keep::Tail })
///     .build();
/// let done: Vec<_> = pool.map([cmd!("echo", "hello")]).collect();
/// let out = done[0].output().unwrap();
/// assert_eq!(out.stdout, b"lo\n");
/// assert!(out.stdout_truncated);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutput {
    /// As each command says (the default): inherited unless the command
    /// redirects or captures it.
    ///
    /// Under a progress bar (`PoolBuilder::progress`, feature `progress`,
    /// when stderr is a terminal), a child writing straight to the terminal would
    /// scribble over the bar and leave stale copies of it in the
    /// scrollback. So while a bar is drawn, a command's stdout and stderr
    /// that would be inherited are read through pipes instead and written
    /// line by line above the bar, as for [`Tagged`](JobOutput::Tagged)
    /// but without the tag (streams the command redirects or captures stay
    /// as it says). The trade-off: the child sees pipes, not a terminal,
    /// so it may not color its output or ask questions, and a C program
    /// buffers its stdout in blocks rather than lines, so its lines come
    /// when it flushes. Jobs that need the terminal should run without the
    /// bar.
    #[default]
    AsCommand,
    /// Discarded (`/dev/null`).
    Discard,
    /// Captured into the job's [`Output`](crate::Output), keeping at most
    /// `limit` bytes of each stream (`None`: all of it) as `keep` says.
    Capture {
        /// The most bytes kept per stream.
        limit: Option<usize>,
        /// Which bytes are kept past the limit.
        keep: Keep,
    },
    /// Written to `<dir>/<seq>/stdout` and `<dir>/<seq>/stderr` (the
    /// directories are created; a retry overwrites its files).
    Files(PathBuf),
    /// Written to this process's stdout and stderr one job at a time, never
    /// interleaved: each job's output is held back and copied out when the
    /// job is reported (in input order for [`map`](crate::Pool::map)), like
    /// GNU parallel's default.
    ///
    /// A command's stdout and stderr are captured with a spilling capture
    /// ([`Keep::Spill`]) of 64 KiB per stream: a job that prints little costs no file at all, and one
    /// that prints more continues into an unnamed temporary file, so memory
    /// stays bounded (at most twice that per job in flight or waiting for
    /// its turn) whatever the jobs print. As with any capture, a background process that a job
    /// leaves behind holding its stdout is given the drain time
    /// ([`Command::drain_timeout`](crate::Command::drain_timeout)) and then
    /// abandoned. The job's [`Output`](crate::Output) has empty `stdout` and
    /// `stderr` once they are copied out. (A `duct` expression is spooled to
    /// temporary files instead.)
    ///
    /// The copy is made on the thread that hands the job out (the one
    /// iterating over the batch), never on a thread that drives runs. If it
    /// fails (stdout is a pipe whose reader exited, as in `| head -1`), the
    /// batch halts with [`HaltReason::OutputClosed`](crate::HaltReason::OutputClosed):
    /// no job starts, running ones are stopped.
    Grouped,
    /// Written to this process's stdout and stderr line by line as it comes,
    /// each line prefixed with `[seq] `. Lines of different jobs never mix,
    /// but a partial line is held until its newline (a line longer than
    /// 64 KiB comes out in pieces of at most 64 KiB, each on a line of its
    /// own and cut between UTF-8 characters, so memory stays bounded).
    ///
    /// Lines are written by a thread of their own per stream, never by a
    /// thread that drives runs: a slow or stopped reader (a paused pager)
    /// holds up only the jobs whose lines wait. Up to 1 MiB waits per
    /// stream; past that, the jobs writing more are paused (their pipes
    /// are not read, so they block writing, as on a slow terminal) until
    /// half of it is written. Their timeouts, and every other run's, still
    /// fire on time. A job is handed out once its lines are written (so the
    /// thread iterating over the batch waits for a slow reader, as with
    /// [`Grouped`](JobOutput::Grouped)). A failed write halts the batch as
    /// for [`Grouped`](JobOutput::Grouped).
    Tagged,
}

/// How the backend should wire one attempt's output (resolved from
/// [`JobOutput`] by the driver, which owns any files). Cheap to clone, so
/// an attempt that could not start for want of descriptors can be queued
/// again as it was.
#[derive(Clone)]
pub(crate) enum Sinks {
    AsCommand,
    Null,
    Capture(Option<usize>, Keep),
    /// stdout and stderr to these files.
    Files(Arc<File>, Arc<File>),
    /// Lines prefixed with the sequence number, to this process.
    Tagged,
    /// Lines as they are, to this process, written above the progress bar
    /// (terminal output under a bar: see [`JobOutput::AsCommand`]).
    Lines,
}

/// A job's grouped output, spooled to two anonymous temporary files.
pub(crate) struct Spool {
    out: File,
    err: File,
}

impl Spool {
    pub(crate) fn new() -> io::Result<Spool> {
        Ok(Spool {
            out: anonymous_file()?,
            err: anonymous_file()?,
        })
    }

    /// Empties both files for a new attempt.
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        for file in [&mut self.out, &mut self.err] {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
        }
        Ok(())
    }

    /// Copies of the two files for the child.
    pub(crate) fn sinks(&self) -> io::Result<Sinks> {
        Ok(Sinks::Files(
            Arc::new(self.out.try_clone()?),
            Arc::new(self.err.try_clone()?),
        ))
    }

    /// Copies the spooled stdout to this process's stdout, then stderr to
    /// its stderr, each in one locked run so no other job's output can come
    /// between its lines. A failed write (a closed stdout: the reader of a
    /// pipe exited) marks the output closed (see [`closed`]) and is
    /// returned.
    pub(crate) fn copy_out(&mut self) -> io::Result<()> {
        let result = self.copy_both();
        if result.is_err() {
            CLOSED.store(true, Ordering::SeqCst);
        }
        result
    }

    fn copy_both(&mut self) -> io::Result<()> {
        if !is_empty(&self.out) {
            let mut stdout = io::stdout().lock();
            stdout.flush()?;
            copy_from_start(&mut self.out, &mut stdout)?;
            stdout.flush()?;
        }
        if !is_empty(&self.err) {
            let mut stderr = io::stderr().lock();
            copy_from_start(&mut self.err, &mut stderr)?;
            stderr.flush()?;
        }
        Ok(())
    }
}

fn is_empty(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.len() == 0)
}

fn copy_from_start(file: &mut File, to: &mut impl Write) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    io::copy(file, to)
}

/// A temporary file with no name, removed by the system when closed.
fn anonymous_file() -> io::Result<File> {
    crate::sys::temp_file(&std::env::temp_dir())
}

/// The memory a grouped job's stdout, and its stderr, may take before
/// they continue into a temporary file (see [`JobOutput::Grouped`]).
pub(crate) const GROUPED_MEMORY: usize = 64 * 1024;

/// Copies a grouped job's captured stdout to this process's stdout, then
/// its stderr to its stderr, each in one locked run (as
/// [`Spool::copy_out`] does), and empties them in `output`. A failed write
/// marks the output closed and is returned.
pub(crate) fn copy_captured(output: &mut crate::Output) -> io::Result<()> {
    let result = copy_captured_streams(output);
    output.stdout = Vec::new();
    output.stderr = Vec::new();
    output.stdout_spilled = None;
    output.stderr_spilled = None;
    if result.is_err() {
        CLOSED.store(true, Ordering::SeqCst);
    }
    result
}

fn copy_captured_streams(output: &crate::Output) -> io::Result<()> {
    if !output.stdout.is_empty() || output.stdout_spilled.is_some() {
        let mut stdout = io::stdout().lock();
        stdout.flush()?;
        write_whole(&output.stdout, output.stdout_spilled.as_ref(), &mut stdout)?;
        stdout.flush()?;
    }
    if !output.stderr.is_empty() || output.stderr_spilled.is_some() {
        let mut stderr = io::stderr().lock();
        write_whole(&output.stderr, output.stderr_spilled.as_ref(), &mut stderr)?;
        stderr.flush()?;
    }
    Ok(())
}

/// Writes a captured stream: from its spill file if it has one (which
/// holds all of it), else from memory.
fn write_whole(
    memory: &[u8],
    spilled: Option<&crate::Spilled>,
    to: &mut impl Write,
) -> io::Result<()> {
    match spilled {
        Some(spilled) => crate::capture::copy_big(&mut spilled.reader(), to).map(drop),
        None => to.write_all(memory),
    }
}

/// Creates `<dir>/<seq>/` and opens (truncating) its `stdout` and `stderr`.
pub(crate) fn result_files(dir: &Path, seq: u64) -> io::Result<Sinks> {
    let job_dir = dir.join(seq.to_string());
    std::fs::create_dir_all(&job_dir)?;
    let out = File::create(job_dir.join("stdout"))?;
    let err = File::create(job_dir.join("stderr"))?;
    Ok(Sinks::Files(Arc::new(out), Arc::new(err)))
}

/// The longest line of tagged output written whole; a longer one is
/// written in pieces (see [`JobOutput::Tagged`]).
pub(crate) const TAGGED_MAX_LINE: usize = 64 * 1024;

/// A write of jobs' output to this process's stdout or stderr failed (the
/// reader of a pipe exited, say): such output has nowhere to go any more.
/// Set once, for the rest of the process.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether writing jobs' grouped or tagged output to this process's stdout
/// or stderr has failed.
pub(crate) fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// The prefix of each line of an attempt whose output goes through the
/// writer threads (`[seq] ` for tagged output, nothing for lines above the
/// progress bar), or `None` if it does not.
pub(crate) fn line_prefix(sinks: &Sinks, seq: u64) -> Option<String> {
    match sinks {
        Sinks::Tagged => Some(format!("[{seq}] ")),
        Sinks::Lines => Some(String::new()),
        _ => None,
    }
}

/// Hands a run's output lines, as its engine reads them, to the writer
/// threads with `prefix`; the returned gate pauses the run while too many
/// lines wait (see [`Writer`]).
pub(crate) fn stream_lines(exec: &mut Exec, prefix: String) -> Arc<Gate> {
    let gate = Arc::new(Gate::new(exec.control().clone()));
    exec.set_gate(gate.clone());
    exec.set_line_sink(line_sink(prefix, gate.clone()));
    exec.set_max_line(TAGGED_MAX_LINE);
    gate
}

/// A line sink that writes `<prefix>line` (`[seq] line` for tagged
/// output) to this process's stdout or stderr, through the writer threads
/// (see [`Writer`]): the thread that reads the job's pipes never writes to
/// the terminal itself.
pub(crate) fn line_sink(prefix: String, gate: Arc<Gate>) -> LineSink {
    Box::new(move |line: Line| {
        let mut buf = Vec::with_capacity(prefix.len() + line.bytes.len() + 1);
        buf.extend_from_slice(prefix.as_bytes());
        buf.extend_from_slice(&line.bytes);
        buf.push(b'\n');
        Writer::of(line.stream).push(buf, &gate);
    })
}

/// The most bytes of tagged output waiting for one destination; a job that
/// writes past it is paused (its pipes are not read) until the queue is
/// down to half of it.
pub(crate) const QUEUE_BYTES: usize = 1024 * 1024;

/// Writes tagged lines to this process's stdout or stderr on a thread of
/// its own, so that a slow or stopped reader (a pager) holds up only the
/// jobs whose lines wait, never the loop that drives every run: their
/// timeouts, and every other handle's, still fire on time.
///
/// Memory: at most [`QUEUE_BYTES`] wait, plus one read (a few lines) per
/// job that pushed past it before its pause took effect.
pub(crate) struct Writer {
    stream: Stream,
    queue: Mutex<Queue>,
    /// Lines were queued (the writer thread waits on it).
    queued: Condvar,
    /// Lines were written (waiters for a flush wait on it).
    written: Condvar,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Lines queued and written so far, for [`Writer::wait_written`].
    pushed: u64,
    done: u64,
    /// Jobs paused until the queue shrinks.
    paused: Vec<Arc<Gate>>,
    /// The thread is running (or could not be started: `inline`).
    started: bool,
    inline: bool,
    /// Async tasks waiting for lines to be written (see
    /// [`Writer::poll_written`]).
    wakers: Vec<std::task::Waker>,
}

impl Writer {
    /// The writer for stdout or stderr.
    pub(crate) fn of(stream: Stream) -> &'static Writer {
        static OUT: OnceLock<Writer> = OnceLock::new();
        static ERR: OnceLock<Writer> = OnceLock::new();
        let cell = match stream {
            Stream::Stdout => &OUT,
            Stream::Stderr => &ERR,
        };
        cell.get_or_init(|| Writer {
            stream,
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            written: Condvar::new(),
        })
    }

    /// Queues a line; pauses the job behind `gate` if the queue is full. A
    /// job whose output has nowhere to go any more is stopped.
    fn push(&'static self, line: Vec<u8>, gate: &Arc<Gate>) {
        if closed() {
            gate.cancel();
            return;
        }
        let mut queue = lock(&self.queue);
        if !queue.started {
            queue.started = true;
            let spawned = std::thread::Builder::new()
                .name("procession-output".into())
                .spawn(move || self.run());
            queue.inline = spawned.is_err();
        }
        if queue.inline {
            // No thread: write here, as before there were writer threads.
            drop(queue);
            self.write(&[line]);
            return;
        }
        queue.bytes += line.len();
        queue.pushed += 1;
        queue.lines.push_back(line);
        if queue.bytes > QUEUE_BYTES {
            gate.close();
            queue.paused.push(gate.clone());
        }
        self.queued.notify_one();
    }

    /// Writes lines in one go, with any progress bar hidden meanwhile (so
    /// they are written above the bar, and the bar is redrawn once, not
    /// once per line); a failure closes the output.
    fn write(&self, lines: &[Vec<u8>]) -> bool {
        fn all(mut to: impl Write, lines: &[Vec<u8>]) -> io::Result<()> {
            lines.iter().try_for_each(|line| to.write_all(line))
        }
        let result = super::progress::suspend(|| match self.stream {
            Stream::Stdout => all(io::stdout().lock(), lines),
            Stream::Stderr => all(io::stderr().lock(), lines),
        });
        if result.is_err() {
            CLOSED.store(true, Ordering::SeqCst);
        }
        result.is_ok()
    }

    /// The writer thread.
    fn run(&self) {
        let mut queue = lock(&self.queue);
        loop {
            if queue.lines.is_empty() {
                queue = self.queued.wait(queue).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Everything queued, written in one go.
            let lines: Vec<Vec<u8>> = queue.lines.drain(..).collect();
            drop(queue);
            let ok = self.write(&lines);
            queue = lock(&self.queue);
            queue.bytes -= lines.iter().map(Vec::len).sum::<usize>();
            queue.done += lines.len() as u64;
            if !ok {
                // Nowhere to write: drop what waits, and stop the paused
                // jobs (the others are stopped as they write).
                queue.done += queue.lines.len() as u64;
                queue.lines.clear();
                queue.bytes = 0;
                for gate in queue.paused.drain(..) {
                    gate.open();
                    gate.cancel();
                }
            } else if queue.bytes <= QUEUE_BYTES / 2 {
                for gate in queue.paused.drain(..) {
                    gate.open();
                }
            }
            self.written.notify_all();
            if !queue.wakers.is_empty() {
                // Woken after unlocking: a task may be polled at once.
                let wakers = std::mem::take(&mut queue.wakers);
                drop(queue);
                wakers.into_iter().for_each(std::task::Waker::wake);
                queue = lock(&self.queue);
            }
        }
    }

    /// How many lines were queued so far: they are all written once
    /// [`poll_written`](Self::poll_written) with it is ready.
    pub(crate) fn pushed(&self) -> u64 {
        lock(&self.queue).pushed
    }

    /// The async twin of [`wait_written`](Self::wait_written): ready once
    /// the first `target` lines queued are written (or dropped because the
    /// output closed); else `waker` is woken when more are.
    pub(crate) fn poll_written(&self, target: u64, waker: &std::task::Waker) -> Poll<()> {
        let mut queue = lock(&self.queue);
        if queue.done >= target {
            return Poll::Ready(());
        }
        if !queue.wakers.iter().any(|w| w.will_wake(waker)) {
            queue.wakers.push(waker.clone());
        }
        Poll::Pending
    }

    /// Waits until every line queued so far is written (or dropped because
    /// the output closed).
    pub(crate) fn wait_written(&self) {
        let mut queue = lock(&self.queue);
        let target = queue.pushed;
        while queue.done < target {
            queue = self.written.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn spool_files_are_anonymous_and_reset() {
        let mut spool = Spool::new().unwrap();
        let Sinks::Files(out, _) = spool.sinks().unwrap() else {
            panic!("files expected")
        };
        (&*out).write_all(b"first attempt").unwrap();
        spool.reset().unwrap();
        (&*out).write_all(b"x").unwrap();
        let mut text = Vec::new();
        copy_from_start(&mut spool.out, &mut text).unwrap();
        // The child's copy shares the offset, which reset moved to 0.
        assert_eq!(text, b"x");
        let mut again = String::new();
        spool.out.seek(SeekFrom::Start(0)).unwrap();
        spool.out.read_to_string(&mut again).unwrap();
        assert_eq!(again, "x");
    }
}
