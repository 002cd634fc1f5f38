//! The redirections of a [`Command`]: where stdin comes from, where stdout
//! and stderr go (the terminal, nowhere, memory, a file), and `2>&1`-style
//! routes between them.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::capture::Keep;
use crate::redirect::{InSpec, OutSpec, Route};

use super::Command;

impl Command {
    /// stdin reads from nothing (`< /dev/null`).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// assert_eq!(procession::cmd!("wc", "-c").stdin_null().read()?.trim(), "0");
    /// # Ok(()) }
    /// ```
    pub fn stdin_null(self) -> Command {
        self.with_opts(|o| o.stdin = Some(InSpec::Null))
    }

    /// stdin is inherited from this process (the default).
    ///
    /// When that stdin is this process's controlling terminal and this
    /// process is the terminal's foreground group, the command (not a
    /// pool's job) gets the terminal while its processes run, as a shell's
    /// foreground job: it can read it and change its modes, and gets Ctrl-C
    /// and Ctrl-Z itself. A Ctrl-C that kills it is passed on to this
    /// process; a Ctrl-Z stops this process with it, and `fg` resumes both.
    /// Afterwards the terminal comes back, with its modes restored if the
    /// command was killed by a signal or stopped by a timeout, cancel or
    /// drop. One command holds the terminal at a time: another one that
    /// stops on it meanwhile gets it when it is given back. If this process
    /// is a background job of its terminal, the command stays in the
    /// background, and if it stops on the terminal, this process stops too
    /// (as a shell's background job would) and `fg` gives it the terminal.
    pub fn stdin_inherit(self) -> Command {
        self.with_opts(|o| o.stdin = Some(InSpec::Inherit))
    }

    /// stdin reads these bytes. They are written while stdout and stderr are
    /// read, so no size can deadlock.
    pub fn stdin_bytes(self, bytes: impl Into<Vec<u8>>) -> Command {
        let bytes: Arc<[u8]> = bytes.into().into();
        self.with_opts(|o| o.stdin = Some(InSpec::Bytes(bytes)))
    }

    /// stdin reads from an open file (each run gets its own duplicate of the
    /// descriptor, sharing the file position).
    ///
    /// The command owns the file from here on: it is marked close-on-exec, so
    /// a child gets it only as its stdin, never at its own descriptor number.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join("procession-doc-stdin-file");
    /// std::fs::write(&path, "from a file")?;
    /// let out = procession::cmd!("cat").stdin_file(std::fs::File::open(&path)?).read()?;
    /// assert_eq!(out, "from a file");
    /// # std::fs::remove_file(&path)?;
    /// # Ok(()) }
    /// ```
    pub fn stdin_file(self, file: File) -> Command {
        crate::sys::set_cloexec(file.as_fd());
        let file = Arc::new(file);
        self.with_opts(|o| o.stdin = Some(InSpec::File(file)))
    }

    /// stdin reads from the file at `path`, opened at each run (`< path`).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let n = procession::cmd!("wc", "-c").stdin_path("/dev/null").read()?;
    /// assert_eq!(n.trim(), "0");
    /// # Ok(()) }
    /// ```
    pub fn stdin_path(self, path: impl Into<PathBuf>) -> Command {
        let path = path.into();
        self.with_opts(|o| o.stdin = Some(InSpec::Path(path)))
    }

    /// stdin is a pipe that the caller writes to while the child runs: take
    /// its writing end with [`Handle::take_stdin`](crate::Handle::take_stdin)
    /// after [`start`](Command::start), and drop it to send end of file.
    ///
    /// ```
    /// use std::io::Write;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = procession::cmd!("wc", "-c").stdin_pipe().stdout_capture().start()?;
    /// let mut stdin = handle.take_stdin().expect("a pipe");
    /// stdin.write_all(b"streamed")?;
    /// drop(stdin);
    /// assert_eq!(handle.wait()?.stdout_str()?.trim(), "8");
    /// # Ok(()) }
    /// ```
    pub fn stdin_pipe(self) -> Command {
        self.with_opts(|o| o.stdin = Some(InSpec::Pipe))
    }

    /// stdout goes to this process's stdout (the default).
    pub fn stdout_inherit(self) -> Command {
        self.with_opts(|o| o.stdout = Some(OutSpec::Inherit))
    }

    /// stdout is discarded (`> /dev/null`).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("echo", "gone").stdout_null().run()?;
    /// assert!(out.stdout.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn stdout_null(self) -> Command {
        self.with_opts(|o| o.stdout = Some(OutSpec::Null))
    }

    /// stdout is captured into [`Output::stdout`](crate::Output::stdout).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("echo", "kept").stdout_capture().run()?;
    /// assert_eq!(out.stdout, b"kept\n");
    /// # Ok(()) }
    /// ```
    pub fn stdout_capture(self) -> Command {
        self.with_opts(|o| o.stdout = Some(OutSpec::Capture(None, Keep::Head)))
    }

    /// stdout is captured, keeping at most `limit` bytes (the first or the
    /// last, as `keep` says). The rest is read and dropped, and
    /// [`Output::stdout_truncated`](crate::Output::stdout_truncated) says so.
    ///
    /// ```
    /// use procession::Keep;
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("seq", "1000").stdout_capture_limit(9, Keep::Tail).run()?;
    /// assert_eq!(out.stdout, b"999\n1000\n");
    /// assert!(out.stdout_truncated);
    /// # Ok(()) }
    /// ```
    pub fn stdout_capture_limit(self, limit: usize, keep: Keep) -> Command {
        self.with_opts(|o| o.stdout = Some(OutSpec::Capture(Some(limit), keep)))
    }

    /// stdout goes to an open file.
    ///
    /// The command owns the file from here on: it is marked close-on-exec, so
    /// a child gets it only as its stdout, never at its own descriptor number.
    pub fn stdout_file(self, file: File) -> Command {
        self.stdout_shared_file(Arc::new(file))
    }

    /// stdout goes to an open file that the caller keeps too (marked
    /// close-on-exec as well).
    pub(crate) fn stdout_shared_file(self, file: Arc<File>) -> Command {
        crate::sys::set_cloexec(file.as_fd());
        self.with_opts(|o| o.stdout = Some(OutSpec::File(file)))
    }

    /// stdout goes to the file at `path`, created or truncated at each run
    /// (`> path`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join("procession-doc-stdout-path");
    /// procession::cmd!("echo", "one").stdout_path(&path).run()?;
    /// procession::cmd!("echo", "two").stdout_path(&path).run()?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "two\n");
    /// # std::fs::remove_file(&path)?;
    /// # Ok(()) }
    /// ```
    pub fn stdout_path(self, path: impl Into<PathBuf>) -> Command {
        let path = path.into();
        self.with_opts(|o| o.stdout = Some(OutSpec::Path(path, false)))
    }

    /// stdout is appended to the file at `path`, created if missing
    /// (`>> path`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join("procession-doc-stdout-append");
    /// # let _ = std::fs::remove_file(&path);
    /// procession::cmd!("echo", "one").stdout_append(&path).run()?;
    /// procession::cmd!("echo", "two").stdout_append(&path).run()?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "one\ntwo\n");
    /// # std::fs::remove_file(&path)?;
    /// # Ok(()) }
    /// ```
    pub fn stdout_append(self, path: impl Into<PathBuf>) -> Command {
        let path = path.into();
        self.with_opts(|o| o.stdout = Some(OutSpec::Path(path, true)))
    }

    /// stderr goes to this process's stderr (the default).
    pub fn stderr_inherit(self) -> Command {
        self.with_opts(|o| o.stderr = Some(OutSpec::Inherit))
    }

    /// stderr is discarded (`2> /dev/null`).
    pub fn stderr_null(self) -> Command {
        self.with_opts(|o| o.stderr = Some(OutSpec::Null))
    }

    /// stderr is captured into [`Output::stderr`](crate::Output::stderr), and
    /// its tail explains a failure in the [`Error`](crate::Error).
    ///
    /// On a pipeline, every stage's stderr goes to one capture, merged in
    /// arrival order; to capture a stage's stderr on its own, call this on the
    /// stage and read it in [`Output::stages`](crate::Output::stages).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("echo oops >&2").stderr_capture().run()?;
    /// assert_eq!(out.stderr, b"oops\n");
    /// # Ok(()) }
    /// ```
    pub fn stderr_capture(self) -> Command {
        self.with_opts(|o| o.stderr = Some(OutSpec::Capture(None, Keep::Head)))
    }

    /// stderr is captured, keeping at most `limit` bytes.
    pub fn stderr_capture_limit(self, limit: usize, keep: Keep) -> Command {
        self.with_opts(|o| o.stderr = Some(OutSpec::Capture(Some(limit), keep)))
    }

    /// stderr goes to an open file.
    ///
    /// The command owns the file from here on: it is marked close-on-exec, so
    /// a child gets it only as its stderr, never at its own descriptor number.
    pub fn stderr_file(self, file: File) -> Command {
        self.stderr_shared_file(Arc::new(file))
    }

    /// stderr goes to an open file that the caller keeps too (marked
    /// close-on-exec as well).
    pub(crate) fn stderr_shared_file(self, file: Arc<File>) -> Command {
        crate::sys::set_cloexec(file.as_fd());
        self.with_opts(|o| o.stderr = Some(OutSpec::File(file)))
    }

    /// stderr goes to the file at `path`, created or truncated at each run.
    pub fn stderr_path(self, path: impl Into<PathBuf>) -> Command {
        let path = path.into();
        self.with_opts(|o| o.stderr = Some(OutSpec::Path(path, false)))
    }

    /// stderr is appended to the file at `path`.
    pub fn stderr_append(self, path: impl Into<PathBuf>) -> Command {
        let path = path.into();
        self.with_opts(|o| o.stderr = Some(OutSpec::Path(path, true)))
    }

    /// stderr goes wherever stdout goes (`2>&1`), after this command's own
    /// stdout and stderr settings are applied, whatever the call order.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let both = procession::sh("echo out; echo err >&2").stderr_to_stdout().read()?;
    /// assert_eq!(both, "out\nerr");
    /// # Ok(()) }
    /// ```
    pub fn stderr_to_stdout(self) -> Command {
        self.with_opts(|o| o.route = Some(Route::StderrToStdout))
    }

    /// stdout goes wherever stderr goes (`1>&2`).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("echo", "moved").stdout_to_stderr().stderr_capture().run()?;
    /// assert_eq!(out.stderr, b"moved\n");
    /// # Ok(()) }
    /// ```
    pub fn stdout_to_stderr(self) -> Command {
        self.with_opts(|o| o.route = Some(Route::StdoutToStderr))
    }

    /// stdout and stderr trade places (`3>&1 1>&2 2>&3`).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("echo out; echo err >&2")
    ///     .swap_stdout_stderr()
    ///     .stdout_capture()
    ///     .stderr_capture()
    ///     .run()?;
    /// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"err\n"[..], &b"out\n"[..]));
    /// # Ok(()) }
    /// ```
    pub fn swap_stdout_stderr(self) -> Command {
        self.with_opts(|o| o.route = Some(Route::Swap))
    }

    /// Where a [`Keep::Spill`] capture makes its temporary file once the
    /// output goes past its memory limit. Default: the system's temporary
    /// directory (`TMPDIR`, else `/tmp`). A relative path is relative to
    /// this process's current directory. The file has no name, so nothing
    /// is left in the directory after the run, however it ends. Set it on
    /// the command that is run (for a pipeline, on the whole pipeline); it
    /// applies to every spilling capture of the run.
    ///
    /// ```
    /// use procession::{cmd, Keep};
    /// let out = cmd!("seq", "1000")
    ///     .stdout_capture_limit(10, Keep::Spill)
    ///     .spill_dir("/no/such/dir")
    ///     .run();
    /// let err = out.unwrap_err().to_string();
    /// assert!(err.contains("kept the first 10 of"), "{err}");
    /// ```
    pub fn spill_dir(self, dir: impl AsRef<Path>) -> Command {
        let dir: Arc<Path> = dir.as_ref().into();
        self.with_opts(|o| o.spill_dir = Some(dir))
    }
}
