//! What a finished run produced. [`Output::stdout_str`], the one accessor
//! that can fail, lives in `error/text.rs` beside the error it returns, so
//! that this file needs nothing from the errors that carry an `Output`.

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use crate::capture::Spilled;
use crate::status::ExitStatus;

/// What a finished command produced: its status and captured output.
///
/// `stdout` and `stderr` are empty unless they were captured. For a pipeline,
/// `status` is the pipeline's status by the `pipefail` rule (the rightmost
/// failing stage decides, a checked failure beats an unchecked one, and a
/// stage killed by `SIGPIPE` after its reader exited counts as a success), and
/// [`stages`](Output::stages) holds every stage's own status in order, like
/// bash's `PIPESTATUS`.
///
/// # Examples
///
/// ```
/// use procession::cmd;
/// # fn main() -> Result<(), procession::Error> {
/// let out = (cmd!("sh", "-c", "echo hi; exit 3") | cmd!("cat")).unchecked().stdout_capture().run()?;
/// assert_eq!(out.stdout, b"hi\n");
/// assert_eq!(out.status.code(), Some(3));
/// let codes: Vec<_> = out.stages.iter().map(|s| s.status.code()).collect();
/// assert_eq!(codes, [Some(3), Some(0)]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Output {
    /// How the command ended (for a pipeline, by the `pipefail` rule).
    pub status: ExitStatus,
    /// Captured stdout (empty if stdout was not captured). For a
    /// [`Keep::Spill`](crate::Keep::Spill) capture past its limit, only
    /// the first `limit` bytes: the whole stream is in
    /// [`stdout_spilled`](Output::stdout_spilled).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty if stderr was not captured). As for `stdout`,
    /// a spilled stream is whole in [`stderr_spilled`](Output::stderr_spilled).
    pub stderr: Vec<u8>,
    /// The whole of stdout, when a [`Keep::Spill`](crate::Keep::Spill)
    /// capture went past its memory limit (`None` while it fits in
    /// `stdout`). [`stdout_reader`](Output::stdout_reader) reads the whole
    /// stream either way.
    pub stdout_spilled: Option<Spilled>,
    /// The whole of stderr, when a [`Keep::Spill`](crate::Keep::Spill)
    /// capture went past its memory limit.
    pub stderr_spilled: Option<Spilled>,
    /// `true` if a capture limit dropped some of stdout.
    ///
    /// ```
    /// use procession::{cmd, Keep};
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = cmd!("printf", "abcdef").stdout_capture_limit(3, Keep::Head).run()?;
    /// assert_eq!(out.stdout, b"abc");
    /// assert!(out.stdout_truncated);
    /// # Ok(()) }
    /// ```
    pub stdout_truncated: bool,
    /// `true` if a capture limit dropped some of stderr.
    ///
    /// ```
    /// use procession::{sh, Keep};
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = sh("printf abcdef >&2").stderr_capture_limit(2, Keep::Tail).run()?;
    /// assert_eq!(out.stderr, b"ef");
    /// assert!(out.stderr_truncated);
    /// # Ok(()) }
    /// ```
    pub stderr_truncated: bool,
    /// `true` if reading stopped before end of file: another process still
    /// held the pipe open when the drain time ran out (see
    /// [`Command::drain_timeout`](crate::Command::drain_timeout)).
    pub incomplete: bool,
    /// Processes started by the command that were still running when the
    /// run returned, with their command lines: those that held a captured
    /// pipe open past the drain time, and those a stop could not kill or
    /// could not see die. Empty when the whole tree is gone.
    ///
    /// A process that leaves the command's process group and its parent
    /// (`setsid -f`, a daemon's double fork) is out of reach of the group's
    /// signals; unless the run has a cgroup of its own
    /// ([`Command::cgroup`](crate::Command::cgroup)), it is only seen, and
    /// named here, when it holds one of the run's pipes.
    ///
    /// Linux only: the processes are found in `/proc`. On macOS and FreeBSD
    /// this is always empty (see the README's "Platform and MSRV").
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("sleep 5 & echo started")
    ///     .drain_timeout(Duration::from_millis(100))
    ///     .stdout_capture()
    ///     .stderr_null()
    ///     .run()?;
    /// assert!(out.incomplete);
    /// # if cfg!(all(target_os = "linux", not(procession_portable))) {
    /// assert_eq!(out.escaped.len(), 1);
    /// assert_eq!(out.escaped[0].command, "sleep 5");
    /// # procession::cmd!("kill", out.escaped[0].pid.to_string()).run()?;
    /// # }
    /// # Ok(()) }
    /// ```
    pub escaped: Vec<Escaped>,
    /// From spawn to the end of the run.
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("sleep", "0.02").run()?;
    /// assert!(out.elapsed >= Duration::from_millis(20));
    /// # Ok(()) }
    /// ```
    pub elapsed: Duration,
    /// Every process of the command, in pipeline order (one for a command).
    pub stages: Vec<Stage>,
}

/// A process of a command's tree that was still running when the run
/// returned (see [`Output::escaped`]).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Escaped {
    /// Its process id, when the run returned.
    pub pid: u32,
    /// Its command line, arguments joined by spaces.
    pub command: String,
}

impl std::fmt::Display for Escaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.command)
    }
}

/// One process of a finished command or pipeline.
///
/// # Examples
///
/// ```
/// use procession::{cmd, sh};
/// # fn main() -> Result<(), procession::Error> {
/// // The first stage captures its own stderr.
/// let first = sh("echo note >&2; echo data").stderr_capture();
/// let out = (first | cmd!("wc", "-c")).stdout_capture().run()?;
/// assert_eq!(out.stdout_str()?.trim(), "5");
/// let stage = &out.stages[0];
/// assert_eq!(stage.command, "/bin/sh -c 'echo note >&2; echo data'");
/// assert_eq!(stage.stderr, b"note\n");
/// assert!(stage.status.success());
/// assert_eq!(out.stages[1].command, "wc -c");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stage {
    /// The stage's command line (secrets redacted).
    pub command: String,
    /// The process id it had.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("echo $$").stdout_capture().run()?;
    /// assert_eq!(out.stdout_str()?.trim(), out.stages[0].pid.to_string());
    /// # Ok(()) }
    /// ```
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout, if this stage captured it itself.
    pub stdout: Vec<u8>,
    /// Its stderr, if this stage captured it itself.
    pub stderr: Vec<u8>,
    /// Its whole stdout, if this stage's own [`Keep::Spill`](crate::Keep::Spill)
    /// capture went past its limit (`stdout` then holds the first bytes).
    pub stdout_spilled: Option<Spilled>,
    /// Its whole stderr, likewise.
    pub stderr_spilled: Option<Spilled>,
}

impl Output {
    /// A reader over the whole captured stdout: from memory, or from the
    /// temporary file of a [`Keep::Spill`](crate::Keep::Spill) capture
    /// that went past its limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use procession::{cmd, Keep};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// for limit in [3, 1 << 20] {
    ///     let out = cmd!("echo", "hello").stdout_capture_limit(limit, Keep::Spill).run()?;
    ///     let mut all = Vec::new();
    ///     out.stdout_reader().read_to_end(&mut all)?;
    ///     assert_eq!(all, b"hello\n");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stdout_reader(&self) -> Box<dyn Read + Send + Sync + '_> {
        whole(&self.stdout, self.stdout_spilled.as_ref())
    }

    /// A reader over the whole captured stderr (see
    /// [`stdout_reader`](Output::stdout_reader)).
    pub fn stderr_reader(&self) -> Box<dyn Read + Send + Sync + '_> {
        whole(&self.stderr, self.stderr_spilled.as_ref())
    }

    /// Writes the whole captured stdout to a new file at `path` (created,
    /// or truncated if it exists), from memory or from the spill file.
    /// Returns how many bytes were written.
    ///
    /// # Errors
    ///
    /// If `path` cannot be created or written.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Keep};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let out = cmd!("seq", "10000").stdout_capture_limit(64, Keep::Spill).run()?;
    /// let path = std::env::temp_dir().join(format!("persist-doc-{}", std::process::id()));
    /// assert_eq!(out.persist_stdout(&path)?, 48_894);
    /// assert_eq!(std::fs::read(&path)?.len(), 48_894);
    /// std::fs::remove_file(&path)?;
    /// # Ok(()) }
    /// ```
    pub fn persist_stdout(&self, path: impl AsRef<Path>) -> io::Result<u64> {
        persist(&self.stdout, self.stdout_spilled.as_ref(), path.as_ref())
    }

    /// Writes the whole captured stderr to a new file at `path` (see
    /// [`persist_stdout`](Output::persist_stdout)).
    ///
    /// # Errors
    ///
    /// If `path` cannot be created or written.
    pub fn persist_stderr(&self, path: impl AsRef<Path>) -> io::Result<u64> {
        persist(&self.stderr, self.stderr_spilled.as_ref(), path.as_ref())
    }

    /// stdout as text, with invalid UTF-8 replaced by `U+FFFD`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("printf", "a\\377b").stdout_capture().run()?;
    /// assert_eq!(out.stdout_lossy(), "a\u{FFFD}b");
    /// # Ok(()) }
    /// ```
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text, with invalid UTF-8 replaced by `U+FFFD`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("printf 'bad \\377' >&2").stderr_capture().run()?;
    /// assert_eq!(out.stderr_lossy(), "bad \u{FFFD}");
    /// # Ok(()) }
    /// ```
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

fn whole<'a>(memory: &'a [u8], spilled: Option<&Spilled>) -> Box<dyn Read + Send + Sync + 'a> {
    match spilled {
        Some(spilled) => Box::new(spilled.reader()),
        None => Box::new(memory),
    }
}

fn persist(memory: &[u8], spilled: Option<&Spilled>, path: &Path) -> io::Result<u64> {
    match spilled {
        Some(spilled) => spilled.persist(path),
        None => std::fs::write(path, memory).map(|()| memory.len() as u64),
    }
}
