//! The command value and its builder.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::capture::Keep;
use crate::pipestatus::Check;
use crate::redirect::{InSpec, OutSpec, Route};
use crate::stop::StopSequence;

/// A command to run: one program, or a pipeline of commands.
///
/// A `Command` is an immutable value: cheap to clone (an [`Arc`] inside),
/// `Send + Sync`, so one template can be shared across threads and reused.
/// Builder methods take the value and return it changed; cloning first keeps
/// the original. Nothing runs until a run method is called:
///
/// | method | returns | the child's stdout |
/// |---|---|---|
/// | [`run`](Command::run) | [`Output`](crate::Output) | as configured (inherited by default) |
/// | [`read`](Command::read) | `String`, trailing newline trimmed | captured |
/// | [`read_bytes`](Command::read_bytes) | `Vec<u8>` | captured |
/// | [`start`](Command::start) | a [`Handle`](crate::Handle) to wait for or stop | as configured |
/// | [`lines`](Command::lines) | an iterator over stdout's lines | streamed |
/// | [`events`](Command::events) | stdout and stderr lines in arrival order, then the status | streamed |
///
/// By default stdin, stdout and stderr are inherited, and a non-zero exit or a
/// death by signal is an [`Error`](crate::Error).
///
/// # Examples
///
/// ```
/// use procession::cmd;
/// # fn main() -> Result<(), procession::Error> {
/// let greeting = cmd!("echo", "hello", "world").read()?;
/// assert_eq!(greeting, "hello world");
///
/// let out = cmd!("sh", "-c", "echo out; echo err >&2")
///     .env("LANG", "C")
///     .stdout_capture()
///     .stderr_capture()
///     .run()?;
/// assert_eq!(out.stdout, b"out\n");
/// assert_eq!(out.stderr, b"err\n");
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "a Command runs nothing by itself: builder methods return a changed copy, run() or start() runs it"]
pub struct Command {
    pub(crate) node: Arc<Node>,
}

#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) opts: Options,
}

#[derive(Clone)]
pub(crate) enum Kind {
    Program { program: OsString, args: Vec<Arg> },
    Pipeline(Vec<Command>),
}

#[derive(Clone)]
pub(crate) struct Arg {
    pub(crate) value: OsString,
    pub(crate) secret: bool,
}

/// One change to the environment, applied in order.
#[derive(Clone, Debug)]
pub(crate) enum EnvOp {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
}

/// Everything a command (or pipeline) can be told beyond its program and
/// arguments. `None` means "as the enclosing pipeline says, or the default".
#[derive(Clone, Default)]
pub(crate) struct Options {
    pub(crate) env: Vec<EnvOp>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) stdin: Option<InSpec>,
    pub(crate) stdout: Option<OutSpec>,
    pub(crate) stderr: Option<OutSpec>,
    pub(crate) route: Option<Route>,
    pub(crate) check: Option<Check>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) stop: Option<StopSequence>,
    pub(crate) cgroup: Option<bool>,
    pub(crate) drain: Option<Duration>,
    pub(crate) spill_dir: Option<Arc<Path>>,
    pub(crate) cancel: Vec<CancelToken>,
    /// The child's `argv[0]`: a program's own setting, never inherited.
    pub(crate) arg0: Option<OsString>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    /// Run on each stage's std `Command`, outermost first.
    pub(crate) hooks: Vec<Hook>,
    pub(crate) new_session: bool,
}

/// A [`Command::before_spawn`] hook.
pub(crate) type Hook = Arc<dyn Fn(&mut std::process::Command) -> io::Result<()> + Send + Sync>;

/// Builds a [`Command`] from a program and arguments, like a shell line
/// without the shell: no globbing, no quoting rules, no injection.
///
/// Each argument is anything that converts into an [`OsString`].
///
/// ```
/// # fn main() -> Result<(), procession::Error> {
/// let file = "name with spaces; rm -rf /";
/// assert_eq!(procession::cmd!("echo", file).read()?, file);
/// # Ok(()) }
/// ```
#[macro_export]
macro_rules! cmd {
    ($program:expr $(, $arg:expr)* $(,)?) => {
        $crate::Command::new($program)$(.arg($arg))*
    };
}

/// Runs `script` with `/bin/sh -c`. The name says it: this is the one place
/// where a shell interprets the text, so never build `script` from input you
/// do not trust; pass such values as arguments of a [`cmd!`] instead.
///
/// ```
/// # fn main() -> Result<(), procession::Error> {
/// assert_eq!(procession::sh("echo $((6 * 7))").read()?, "42");
/// # Ok(()) }
/// ```
pub fn sh(script: impl Into<OsString>) -> Command {
    Command::new("/bin/sh").arg("-c").arg(script)
}

impl Command {
    /// A command that runs `program`.
    ///
    /// A name without a `/` is looked up on `PATH` (the command's own `PATH`
    /// if [`env`](Command::env) sets one); a path with a `/` is used as it is,
    /// relative to [`dir`](Command::dir) when that is set. We do the lookup
    /// ourselves so every spawn can use the fast `posix_spawn` path and so a
    /// missing program is a clear error.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::Command::new("echo").arg("hi").read()?;
    /// assert_eq!(out, "hi");
    /// # Ok(()) }
    /// ```
    pub fn new(program: impl Into<OsString>) -> Command {
        Command::from_kind(Kind::Program {
            program: program.into(),
            args: Vec::new(),
        })
    }

    fn from_kind(kind: Kind) -> Command {
        Command {
            node: Arc::new(Node {
                kind,
                opts: Options::default(),
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Node)) -> Command {
        change(Arc::make_mut(&mut self.node));
        self
    }

    fn with_opts(self, change: impl FnOnce(&mut Options)) -> Command {
        self.with(|node| change(&mut node.opts))
    }

    /// Appends an argument. On a pipeline, appends it to the last stage.
    pub fn arg(self, arg: impl Into<OsString>) -> Command {
        self.push_arg(arg.into(), false)
    }

    /// Appends arguments. On a pipeline, appends them to the last stage.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let c = procession::cmd!("echo").args(["a", "b"]).arg("c");
    /// assert_eq!(c.read()?, "a b c");
    /// # Ok(()) }
    /// ```
    pub fn args<I>(self, args: I) -> Command
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        args.into_iter().fold(self, |c, a| c.arg(a))
    }

    /// Appends an argument that is shown as `***` in errors, `Display` and
    /// `Debug`, for tokens and passwords.
    ///
    /// ```
    /// let c = procession::cmd!("curl", "-H").arg_secret("Authorization: hunter2");
    /// assert_eq!(c.to_string(), "curl -H '***'");
    /// ```
    pub fn arg_secret(self, arg: impl Into<OsString>) -> Command {
        self.push_arg(arg.into(), true)
    }

    fn push_arg(self, value: OsString, secret: bool) -> Command {
        self.with(|node| match &mut node.kind {
            Kind::Program { args, .. } => args.push(Arg { value, secret }),
            Kind::Pipeline(stages) => {
                if let Some(last) = stages.pop() {
                    stages.push(last.push_arg(value, secret));
                }
            }
        })
    }

    /// Sets an environment variable for the child (for every stage of a
    /// pipeline; a stage's own setting wins).
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let c = procession::sh("echo $GREETING").env("GREETING", "hello");
    /// assert_eq!(c.read()?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn env(self, key: impl Into<OsString>, value: impl Into<OsString>) -> Command {
        let op = EnvOp::Set(key.into(), value.into());
        self.with_opts(|o| o.env.push(op))
    }

    /// Sets several environment variables.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let c = procession::sh("echo $A$B").envs([("A", "1"), ("B", "2")]);
    /// assert_eq!(c.read()?, "12");
    /// # Ok(()) }
    /// ```
    pub fn envs<I, K, V>(self, vars: I) -> Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        vars.into_iter().fold(self, |c, (k, v)| c.env(k, v))
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let c = procession::sh("echo ${HOME:-unset}").env_remove("HOME");
    /// assert_eq!(c.read()?, "unset");
    /// # Ok(()) }
    /// ```
    pub fn env_remove(self, key: impl Into<OsString>) -> Command {
        let op = EnvOp::Remove(key.into());
        self.with_opts(|o| o.env.push(op))
    }

    /// Starts the child from an empty environment (then applies the
    /// [`env`](Command::env) calls that follow). Only when asked: the
    /// inherited environment is the default.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let env = procession::cmd!("env").env_clear().env("ONLY", "this").read()?;
    /// assert_eq!(env, "ONLY=this");
    /// # Ok(()) }
    /// ```
    pub fn env_clear(self) -> Command {
        self.with_opts(|o| o.env.push(EnvOp::Clear))
    }

    /// Sets the working directory. A relative `dir` on a pipeline stage is
    /// relative to the pipeline's `dir`.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// assert_eq!(procession::cmd!("pwd").dir("/").read()?, "/");
    /// # Ok(()) }
    /// ```
    pub fn dir(self, dir: impl Into<PathBuf>) -> Command {
        let dir = dir.into();
        self.with_opts(|o| o.dir = Some(dir))
    }

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

    /// Any exit is accepted: a non-zero code or a signal is reported in
    /// [`Output::status`](crate::Output::status), not as an error.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("false").unchecked().run()?;
    /// assert_eq!(out.status.code(), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn unchecked(self) -> Command {
        self.with_opts(|o| o.check = Some(Check::Unchecked))
    }

    /// These exit codes count as success too, as `grep` exiting 1 for "no
    /// match". Code 0 always does.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("exit 1").ok_codes([1]).run()?;
    /// assert_eq!(out.status.code(), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn ok_codes(self, codes: impl IntoIterator<Item = i32>) -> Command {
        let codes = codes.into_iter().collect();
        self.with_opts(|o| o.check = Some(Check::Codes(codes)))
    }

    /// Stops the command (its whole process tree) if it runs longer than
    /// `timeout`, and returns a [`Timeout`](crate::Error::Timeout) error that
    /// keeps the output read so far. The clock starts at spawn, and does not
    /// count the time this process spends stopped by job control (Ctrl-Z,
    /// with [`forward_signals`](crate::forward_signals) or while the command
    /// holds the terminal); a [`deadline`](Command::deadline) does. A timeout
    /// too long to add to the current time (`Duration::MAX`) is no limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = procession::cmd!("sleep", "10").timeout(Duration::from_millis(50)).run().unwrap_err();
    /// let timeout = err.timeout().expect("a timeout");
    /// assert_eq!(timeout.limit(), Some(Duration::from_millis(50)));
    /// ```
    pub fn timeout(self, timeout: Duration) -> Command {
        self.with_opts(|o| o.timeout = Some(timeout))
    }

    /// Like [`timeout`](Command::timeout), at a fixed instant (which time
    /// spent stopped by job control does not move).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let deadline = Instant::now() + Duration::from_millis(50);
    /// let err = procession::cmd!("sleep", "10").deadline(deadline).run().unwrap_err();
    /// assert!(err.timeout().is_some());
    /// ```
    pub fn deadline(self, deadline: Instant) -> Command {
        self.with_opts(|o| o.deadline = Some(deadline))
    }

    /// The signals that stop the process tree on a timeout, a cancel or
    /// [`Handle::terminate`](crate::Handle::terminate). Default:
    /// [`StopSequence::default`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::StopSequence;
    /// // Give the program 5 s to clean up after SIGTERM before SIGKILL.
    /// let c = procession::cmd!("sleep", "1").stop_sequence(StopSequence::term_then_kill(Duration::from_secs(5)));
    /// # c.run().unwrap();
    /// ```
    pub fn stop_sequence(self, sequence: StopSequence) -> Command {
        self.with_opts(|o| o.stop = Some(sequence))
    }

    /// Runs the command in a cgroup of its own (Linux, cgroup v2), so that a
    /// stop reaches every process it started, even those that left its
    /// process group and its parent (`setsid -f`, a daemon's double fork):
    /// the last `SIGKILL` of a stop kills the whole cgroup at once. Off by
    /// default: moving a process into a cgroup costs about a millisecond on
    /// many kernels, several times the spawn itself. Set it on the outermost
    /// command (for a pipeline, on the pipeline).
    ///
    /// The cgroup is created under the one this process is in, which must be
    /// on a writable cgroup v2 hierarchy (as root, or under a systemd unit
    /// with `Delegate=yes`). Where it cannot be created, or a stage cannot be
    /// moved into it, the run goes on without one, as if this were off. Each
    /// stage is moved into it right after it starts (`posix_spawn` cannot
    /// start a process in a cgroup), so a process that a stage forks in its
    /// very first microseconds may stay outside. When the run ends, what
    /// still runs in the cgroup (a daemon a successful command started) is
    /// moved back to this process's cgroup, and the run's cgroup is removed.
    /// (If this process dies first, the cgroup, named
    /// `procession-PID-N`, stays behind.)
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> Result<(), procession::Error> {
    /// // `setsid -f` leaves the group and the parent: only a cgroup stops it.
    /// // (`read` waits for stdin, written once the shell is in its cgroup.)
    /// let err = procession::sh("read go; setsid -f sleep 10; sleep 10")
    ///     .stdin_bytes("go\n")
    ///     .cgroup(true)
    ///     .timeout(Duration::from_millis(100))
    ///     .run()
    ///     .unwrap_err();
    /// assert!(err.timeout().is_some());
    /// # Ok(()) }
    /// ```
    pub fn cgroup(self, on: bool) -> Command {
        self.with_opts(|o| o.cgroup = Some(on))
    }

    /// How long to keep reading captured output once every process of the
    /// command has exited, for pipes that another process still holds open (a
    /// daemon started by the command, say). Default 500 ms. After that the
    /// run returns, [`Output::incomplete`](crate::Output::incomplete) is set,
    /// and the pipe is drained and discarded in the background rather than
    /// closed, so the other process is not killed by `SIGPIPE`. A drain time
    /// too long to add to the current time (`Duration::MAX`) is no limit.
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> Result<(), procession::Error> {
    /// // A background process keeps stdout open long after the shell exits.
    /// let out = procession::sh("sleep 5 & echo started")
    ///     .drain_timeout(Duration::from_millis(100))
    ///     .stdout_capture()
    ///     .stderr_null()
    ///     .run()?;
    /// assert_eq!(out.stdout, b"started\n");
    /// assert!(out.incomplete);
    /// # Ok(()) }
    /// ```
    pub fn drain_timeout(self, drain: Duration) -> Command {
        self.with_opts(|o| o.drain = Some(drain))
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

    /// Stops the command when `token` is cancelled, from any thread.
    pub fn cancel_on(self, token: &CancelToken) -> Command {
        let token = token.clone();
        self.with_opts(|o| o.cancel.push(token))
    }

    /// The name the program sees as its `argv[0]`. By default it is the
    /// program as given to [`new`](Command::new) (not the path found on
    /// `PATH`). On a pipeline, sets it for the last stage, as
    /// [`arg`](Command::arg) does. Errors and `Display` still show the
    /// program.
    ///
    /// Keeps the fast `posix_spawn` path.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let name = procession::cmd!("sh", "-c", "echo $0").arg0("login-shell").read()?;
    /// assert_eq!(name, "login-shell");
    /// # Ok(()) }
    /// ```
    pub fn arg0(self, arg0: impl Into<OsString>) -> Command {
        let arg0 = arg0.into();
        self.with(|node| match &mut node.kind {
            Kind::Program { .. } => node.opts.arg0 = Some(arg0),
            Kind::Pipeline(stages) => {
                if let Some(last) = stages.pop() {
                    stages.push(last.arg0(arg0));
                }
            }
        })
    }

    /// Runs the child as user `uid` (a `setuid` in the child, as std's
    /// [`CommandExt::uid`](std::os::unix::process::CommandExt::uid), which
    /// also drops the supplementary groups when the process may). Changing
    /// to another user needs privileges (root, or `CAP_SETUID` on Linux);
    /// when they are missing the run fails with a
    /// [`Spawn`](crate::Error::Spawn) error of kind
    /// [`SpawnFailure::IdChangeDenied`](crate::SpawnFailure::IdChangeDenied).
    /// For every stage of a pipeline; a stage's own setting wins.
    ///
    /// **Forces `fork` + `exec`** instead of `posix_spawn` (std has no
    /// `posix_spawn` way to change ids), and a fork copies this process's
    /// page tables, so a spawn costs more as this process grows. Spawning and
    /// waiting for `/bin/true` took 0.88 ms (against 0.82 ms without `uid`)
    /// from a small parent, but 104 ms (against 0.90 ms) from a parent with
    /// 2 GiB resident: the `uid (fork)` rows of `cargo bench --bench p2_spawn`.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let me = procession::cmd!("id", "-u").read()?;
    /// let again = procession::cmd!("id", "-u").uid(me.parse().unwrap()).read()?;
    /// assert_eq!(again, me);
    /// # Ok(()) }
    /// ```
    pub fn uid(self, uid: u32) -> Command {
        self.with_opts(|o| o.uid = Some(uid))
    }

    /// Runs the child with group `gid` (a `setgid` in the child, as std's
    /// [`CommandExt::gid`](std::os::unix::process::CommandExt::gid)). Like
    /// [`uid`](Command::uid): needs privileges to change, applies to every
    /// stage of a pipeline, and **forces `fork` + `exec`**.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let me = procession::cmd!("id", "-g").read()?;
    /// let again = procession::cmd!("id", "-g").gid(me.parse().unwrap()).read()?;
    /// assert_eq!(again, me);
    /// # Ok(()) }
    /// ```
    pub fn gid(self, gid: u32) -> Command {
        self.with_opts(|o| o.gid = Some(gid))
    }

    /// Starts the command in a new session (`setsid`): it has no controlling
    /// terminal, and a hangup or Ctrl-C on this process's terminal does not
    /// reach it. Its process is the leader of a new process group too (the
    /// group's id is its pid), so a timeout, a cancel or
    /// [`Handle::terminate`](crate::Handle::terminate) still stops its whole
    /// tree.
    ///
    /// std has no stable `setsid` (it is the unstable `process_setsid`
    /// feature) and this crate has no `unsafe` code, so the `setsid` call
    /// itself is yours: a [`before_spawn`](Command::before_spawn) hook that
    /// adds a `pre_exec`, as below. This method does the rest: the child is
    /// left out of any process group before that call (a group leader may
    /// not call `setsid`), and after the spawn the run checks that the child
    /// leads its own session. If it does not (no hook called `setsid`), the
    /// child is killed and the run fails with
    /// [`InvalidInput::SessionNotCreated`](crate::InvalidInput::SessionNotCreated)
    /// rather than run inside this process's group.
    ///
    /// For a single command only: the stages of a pipeline share one process
    /// group, and a group cannot span sessions
    /// ([`InvalidInput::SessionInPipeline`](crate::InvalidInput::SessionInPipeline)).
    /// The `pre_exec` **forces `fork` + `exec`**, with the cost given at
    /// [`uid`](Command::uid).
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// # fn main() -> Result<(), procession::Error> {
    /// // The shell prints its pid and its session id (field 6 of its stat).
    /// let c = procession::sh("echo $$; cut -d' ' -f6 /proc/$$/stat");
    /// let detached = c.new_session().before_spawn(|std_cmd| {
    ///     // SAFETY: setsid is async-signal-safe, and turning its error into
    ///     // an io::Error does not allocate.
    ///     unsafe { std_cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into)) };
    ///     Ok(())
    /// });
    /// let out = detached.read()?;
    /// let ids: Vec<&str> = out.lines().collect();
    /// assert_eq!(ids[0], ids[1], "the shell leads its own session");
    /// # Ok(()) }
    /// ```
    pub fn new_session(self) -> Command {
        self.with_opts(|o| o.new_session = true)
    }

    /// Runs `hook` on the [`std::process::Command`] of each stage just
    /// before it is spawned (on every run), for the settings this builder
    /// does not offer, as duct's `before_spawn`. Several hooks run in the
    /// order given, an enclosing pipeline's before a stage's own. An error
    /// from the hook stops the run with a [`Spawn`](crate::Error::Spawn)
    /// error of kind [`SpawnFailure::Hook`](crate::SpawnFailure::Hook) that
    /// keeps it as its source; the stages already started are stopped.
    ///
    /// The hook may change the arguments, the environment, the directory,
    /// `uid` and `gid`, and add a `pre_exec` in its own `unsafe` block (which
    /// **forces `fork` + `exec`**, with the cost given at
    /// [`uid`](Command::uid)). The rest keeps the fast `posix_spawn` path.
    /// What the run relies on is set again after the hook, so changing it has
    /// no effect: stdin, stdout and stderr (the run's pipes, captures and
    /// redirections) and the process group (the whole run is one group, which
    /// is how it stops a tree). Errors and `Display` show the command as
    /// built, without the hook's changes. For a new session, use
    /// [`new_session`](Command::new_session): a `setsid` in a `pre_exec`
    /// alone fails, since the child already leads a group.
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// # fn main() -> Result<(), procession::Error> {
    /// let c = procession::cmd!("sh", "-c", "echo $0 $TOKEN").before_spawn(|std_cmd| {
    ///     std_cmd.arg0("worker").env("TOKEN", "fresh-at-spawn");
    ///     Ok(())
    /// });
    /// assert_eq!(c.read()?, "worker fresh-at-spawn");
    /// # Ok(()) }
    /// ```
    pub fn before_spawn<F>(self, hook: F) -> Command
    where
        F: Fn(&mut std::process::Command) -> io::Result<()> + Send + Sync + 'static,
    {
        let hook: Hook = Arc::new(hook);
        self.with_opts(|o| o.hooks.push(hook))
    }

    /// Pipes this command's stdout into `next`'s stdin (`self | next`).
    ///
    /// The result is a command too: redirections, environment, timeouts and
    /// the run methods apply to the whole, and each stage keeps its own
    /// settings. Its status follows `pipefail`: see [`Output::status`](crate::Output::status).
    ///
    /// ```
    /// use procession::cmd;
    /// # fn main() -> Result<(), procession::Error> {
    /// let n = cmd!("printf", "a\\nb\\na\\n").pipe(cmd!("sort", "-u")).pipe(cmd!("wc", "-l")).read()?;
    /// assert_eq!(n.trim(), "2");
    /// # Ok(()) }
    /// ```
    pub fn pipe(self, next: Command) -> Command {
        let mut stages = self.into_stages();
        stages.extend(next.into_stages());
        Command::from_kind(Kind::Pipeline(stages))
    }

    /// A pipeline of the given stages. An empty list is an error when run.
    ///
    /// ```
    /// use procession::{cmd, Command};
    /// # fn main() -> Result<(), procession::Error> {
    /// let p = Command::pipeline([cmd!("echo", "b a"), cmd!("tr", " ", "\\n"), cmd!("sort")]);
    /// assert_eq!(p.read()?, "a\nb");
    /// # Ok(()) }
    /// ```
    pub fn pipeline(stages: impl IntoIterator<Item = Command>) -> Command {
        let stages = stages.into_iter().flat_map(Command::into_stages).collect();
        Command::from_kind(Kind::Pipeline(stages))
    }

    /// A pipeline with no options of its own flattens into its stages (an
    /// empty one stays, to be reported when run).
    fn into_stages(self) -> Vec<Command> {
        match &self.node.kind {
            Kind::Pipeline(stages) if self.node.opts.is_empty() && !stages.is_empty() => {
                stages.clone()
            }
            _ => vec![self],
        }
    }

    /// The command line as a shell would show it, with secret arguments
    /// replaced by `***`. Also what `Display` prints.
    ///
    /// ```
    /// let c = procession::cmd!("grep", "-r", "two words", ".");
    /// assert_eq!(c.command_line(), "grep -r 'two words' .");
    /// ```
    pub fn command_line(&self) -> String {
        self.to_string()
    }

    /// The program, for a single command (`None` for a pipeline).
    ///
    /// ```
    /// let c = procession::cmd!("ls", "-l");
    /// assert_eq!(c.get_program(), Some(std::ffi::OsStr::new("ls")));
    /// assert_eq!((c | procession::cmd!("wc")).get_program(), None);
    /// ```
    pub fn get_program(&self) -> Option<&OsStr> {
        match &self.node.kind {
            Kind::Program { program, .. } => Some(program),
            Kind::Pipeline(_) => None,
        }
    }
}

impl Options {
    fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.dir.is_none()
            && self.stdin.is_none()
            && self.stdout.is_none()
            && self.stderr.is_none()
            && self.route.is_none()
            && self.check.is_none()
            && self.timeout.is_none()
            && self.deadline.is_none()
            && self.stop.is_none()
            && self.cgroup.is_none()
            && self.drain.is_none()
            && self.spill_dir.is_none()
            && self.cancel.is_empty()
            && self.arg0.is_none()
            && self.uid.is_none()
            && self.gid.is_none()
            && self.hooks.is_empty()
            && !self.new_session
    }
}

impl std::ops::BitOr for Command {
    type Output = Command;

    /// `a | b` is [`a.pipe(b)`](Command::pipe).
    fn bitor(self, next: Command) -> Command {
        self.pipe(next)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node.kind {
            Kind::Program { program, args } => {
                f.write_str(&quote(program))?;
                for arg in args {
                    f.write_str(" ")?;
                    if arg.secret {
                        f.write_str("'***'")?;
                    } else {
                        f.write_str(&quote(&arg.value))?;
                    }
                }
                Ok(())
            }
            Kind::Pipeline(stages) => {
                for (i, stage) in stages.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{stage}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({:?})", self.to_string())
    }
}

/// Quotes a word for display the way a POSIX shell would need it.
pub(crate) fn quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A path made absolute against `base` when it is relative.
pub(crate) fn join_dir(base: Option<&Path>, dir: &Path) -> PathBuf {
    match base {
        Some(base) if dir.is_relative() => base.join(dir),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_like_a_shell() {
        let c = Command::new("grep")
            .arg("-e")
            .arg("a b")
            .arg("it's")
            .arg("");
        assert_eq!(c.to_string(), r"grep -e 'a b' 'it'\''s' ''");
        let p = Command::new("a") | Command::new("b").arg("x") | Command::new("c");
        assert_eq!(p.to_string(), "a | b x | c");
    }

    #[test]
    fn builders_do_not_change_clones() {
        let base = Command::new("echo").arg("a");
        let more = base.clone().arg("b");
        assert_eq!(base.to_string(), "echo a");
        assert_eq!(more.to_string(), "echo a b");
    }

    #[test]
    fn pipes_flatten_but_keep_configured_groups() {
        let p = (Command::new("a") | Command::new("b")) | Command::new("c");
        match &p.node.kind {
            Kind::Pipeline(stages) => assert_eq!(stages.len(), 3),
            Kind::Program { .. } => panic!("not a pipeline"),
        }
        let inner = (Command::new("a") | Command::new("b")).stderr_null();
        let p = inner | Command::new("c");
        match &p.node.kind {
            Kind::Pipeline(stages) => assert_eq!(stages.len(), 2),
            Kind::Program { .. } => panic!("not a pipeline"),
        }
    }
}
