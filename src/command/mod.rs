//! The command value and its builder.
//!
//! | File          | Holds                                                     |
//! |---------------|-----------------------------------------------------------|
//! | `mod.rs`      | the value: program, arguments, environment, directory, pipelines, its command line |
//! | `stdio.rs`    | redirections of stdin, stdout and stderr                  |
//! | `stopping.rs` | what counts as failure, and when and how a run is stopped |
//! | `process.rs`  | how the processes start: `argv[0]`, ids, session, hooks   |

mod process;
mod stdio;
mod stopping;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
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
    /// Job control (Ctrl-Z, `fg`) is not forwarded to the run's process
    /// group: its owner stops and continues it another way (srun, under
    /// the Slurm backend).
    pub(crate) own_job_control: bool,
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
