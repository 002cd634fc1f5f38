//! Where pool jobs' stdout and stderr go, and the files behind it: spool
//! files for grouped output, per-job files in a results directory, and the
//! tagged line writer.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::capture::Keep;
use crate::exec::{Line, LineSink};
use crate::spawn::Stream;

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
    /// interleaved: each job's output is spooled to a temporary file and
    /// copied out when the job is reported (in input order for
    /// [`map`](crate::Pool::map)), like GNU parallel's default. The spool
    /// files (unnamed, in the temporary directory) are emptied and reused by
    /// the batch's later jobs, so a background process that a job leaves
    /// behind, still writing to its stdout, would write into a later job's
    /// output.
    Grouped,
    /// Written to this process's stdout and stderr line by line as it comes,
    /// each line prefixed with `[seq] `. Lines of different jobs never mix,
    /// but a partial line is held until its newline (a line longer than
    /// 64 KiB comes out in pieces, so memory stays bounded).
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
    /// between its lines. Errors writing (a closed stdout) are ignored, as a
    /// job's own writes would have been.
    pub(crate) fn copy_out(&mut self) {
        if !is_empty(&self.out) {
            let mut stdout = io::stdout().lock();
            let _ = stdout.flush();
            let _ = copy_from_start(&mut self.out, &mut stdout);
            let _ = stdout.flush();
        }
        if !is_empty(&self.err) {
            let mut stderr = io::stderr().lock();
            let _ = copy_from_start(&mut self.err, &mut stderr);
            let _ = stderr.flush();
        }
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
    let dir = std::env::temp_dir();
    let flags =
        rustix::fs::OFlags::TMPFILE | rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC;
    match rustix::fs::open(&dir, flags, rustix::fs::Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(File::from(fd)),
        // File systems without O_TMPFILE: create a named file and unlink it.
        Err(_) => named_then_unlinked(&dir),
    }
}

fn named_then_unlinked(dir: &Path) -> io::Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".procession-spool-{}-{n}", std::process::id()));
        match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
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

/// A line sink that writes `[seq] line` to this process's stdout or stderr.
pub(crate) fn tagged_sink(seq: u64) -> LineSink {
    let prefix = format!("[{seq}] ");
    Box::new(move |line: Line| {
        let mut buf = Vec::with_capacity(prefix.len() + line.bytes.len() + 1);
        buf.extend_from_slice(prefix.as_bytes());
        buf.extend_from_slice(&line.bytes);
        buf.push(b'\n');
        let _ = match line.stream {
            Stream::Stdout => io::stdout().lock().write_all(&buf),
            Stream::Stderr => io::stderr().lock().write_all(&buf),
        };
    })
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
