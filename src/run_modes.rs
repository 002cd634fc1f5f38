//! The run modes of [`Command`] (`run`, `read`, `start`, `lines`,
//! `events`), and the one entry that plans and spawns a run, which the pool
//! calls too.

use std::time::Instant;

use crate::command::Command;
use crate::error::{Error, InvalidInput, NotUtf8Error};
use crate::handle::Handle;
use crate::lines::{Events, Lines};
use crate::output::Output;
use crate::plan::{self, Mode};
use crate::reactor;
use crate::run::Exec;
use crate::spawn;

impl Command {
    /// Runs the command to the end and returns its [`Output`].
    ///
    /// stdout and stderr go where the command says (inherited by default);
    /// captured streams are read while stdin is written, so no size of input
    /// or output can deadlock.
    ///
    /// # Errors
    ///
    /// [`Error::Exit`] for a failing status (unless
    /// [`unchecked`](Command::unchecked)), [`Error::Timeout`],
    /// [`Error::Cancelled`], [`Error::Spawn`], [`Error::InvalidInput`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::cmd!("cat").stdin_bytes("abc").stdout_capture().run()?;
    /// assert_eq!(out.stdout, b"abc");
    /// # Ok(()) }
    /// ```
    pub fn run(&self) -> Result<Output, Error> {
        self.run_mode(Mode::Run)
    }

    /// Runs the command with stdout captured and returns it as a `String`,
    /// trailing newlines trimmed, like a shell's `$(...)`.
    ///
    /// stdout is captured whatever the command's own stdout setting says
    /// (a pipeline stage's own setting still applies to that stage); a
    /// [`stderr_to_stdout`](Command::stderr_to_stdout) merges stderr in.
    ///
    /// # Errors
    ///
    /// As [`run`](Command::run), and [`Error::NotUtf8`] (which keeps the
    /// bytes) if stdout is not UTF-8.
    pub fn read(&self) -> Result<String, Error> {
        read_text(self.run_mode(Mode::Read)?, self)
    }

    /// Like [`read`](Command::read), with invalid UTF-8 replaced by
    /// `U+FFFD` instead of an error.
    ///
    /// # Errors
    ///
    /// As [`run`](Command::run).
    pub fn read_lossy(&self) -> Result<String, Error> {
        read_lossy_text(self.run_mode(Mode::Read)?, self)
    }

    /// Runs the command with stdout captured and returns the bytes as they
    /// are.
    ///
    /// # Errors
    ///
    /// As [`run`](Command::run).
    pub fn read_bytes(&self) -> Result<Vec<u8>, Error> {
        read_stdout(self.run_mode(Mode::Read)?, self)
    }

    /// Starts the command and returns a [`Handle`] at once.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] and [`Error::InvalidInput`]; [`Error::Io`] if the
    /// background thread that drives started commands cannot be started
    /// (threads exhausted), in which case the command is killed at once.
    /// How the command ends is reported by [`Handle::wait`].
    pub fn start(&self) -> Result<Handle, Error> {
        let (exec, stdin) = self.exec(Mode::Start)?;
        Handle::start(exec, stdin)
    }

    /// Starts the command and iterates over the lines of its stdout, as they
    /// come. The last item is the error, if the command fails.
    ///
    /// Lines are split on `\n` (a `\r` before it is dropped) and decoded as
    /// UTF-8; a line that is not valid UTF-8 is an [`Error::NotUtf8`] item
    /// and the iteration goes on. A line longer than 8 MiB (or the maximum
    /// set with [`Lines::max_line`]) comes whole but in pieces: several
    /// [`Error::LineTooLong`] items in a row, each holding at most that many
    /// bytes, cut between UTF-8 characters; so output without newlines
    /// cannot exhaust memory and no byte is lost. The command's timeout is
    /// enforced while you iterate. Dropping the iterator early kills the
    /// command's process tree.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] and [`Error::InvalidInput`] at once; the rest as items.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let lines: Vec<String> = procession::cmd!("printf", "a\\nb\\n")
    ///     .lines()?
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(lines, ["a", "b"]);
    /// # Ok(()) }
    /// ```
    pub fn lines(&self) -> Result<Lines, Error> {
        let exec = self.exec(Mode::Lines)?.0;
        Lines::new(exec)
    }

    /// Starts the command and iterates over its stdout and stderr lines in
    /// the order they arrive, each tagged with its stream, ending with the
    /// exit status (or the error, if the command fails).
    ///
    /// Arrival order is as good as the child's own flushing: a program that
    /// buffers its stdout shows its lines late. Lines are decoded lossily. A
    /// line longer than 8 MiB (or the maximum set with
    /// [`Events::max_line`]) comes as several [`Error::LineTooLong`] items,
    /// as with [`lines`](Command::lines).
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] and [`Error::InvalidInput`] at once; the rest as items.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::Event;
    /// # fn main() -> Result<(), procession::Error> {
    /// let events: Vec<Event> = procession::sh("echo out; sleep 0.05; echo err >&2")
    ///     .events()?
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(events[0], Event::Stdout("out".into()));
    /// assert_eq!(events[1], Event::Stderr("err".into()));
    /// assert!(matches!(events[2], Event::Exit(s) if s.success()));
    /// # Ok(()) }
    /// ```
    pub fn events(&self) -> Result<Events, Error> {
        let exec = self.exec(Mode::Events)?.0;
        Events::new(exec)
    }

    fn run_mode(&self, mode: Mode) -> Result<Output, Error> {
        reactor::run_here(self.exec(mode)?.0)
    }

    /// Plans and spawns the command, ready to be driven. A command that
    /// reads our stdin gets the terminal, if we hold it (see `terminal`).
    pub(crate) fn exec(&self, mode: Mode) -> Result<(Exec, Option<os_pipe::PipeWriter>), Error> {
        self.exec_with(mode, true)
    }

    /// As [`exec`](Command::exec), for a pool's job: jobs never get the
    /// terminal (several run at once).
    pub(crate) fn exec_job(
        &self,
        mode: Mode,
    ) -> Result<(Exec, Option<os_pipe::PipeWriter>), Error> {
        self.exec_with(mode, false)
    }

    fn exec_with(
        &self,
        mode: Mode,
        foreground: bool,
    ) -> Result<(Exec, Option<os_pipe::PipeWriter>), Error> {
        if crate::signals::shutting_down() {
            return Err(Error::io(
                format!("cannot start {:?}", self.to_string()),
                std::io::Error::other("the program is ending on a forwarded signal"),
            ));
        }
        let started = Instant::now();
        let plan = plan::plan(self, mode, started)?;
        let mut spawned = spawn::spawn(&plan)?;
        let stdin = spawned.caller_stdin.take();
        if stdin.is_some() && mode != Mode::Start {
            let exec = Exec::new(plan, spawned, started);
            drop(stdin);
            kill_now(exec);
            return Err(Error::invalid(
                &self.to_string(),
                InvalidInput::StdinPipeNeedsStart,
            ));
        }
        let foreground = foreground && plan.inherits_stdin();
        let mut exec = Exec::new(plan, spawned, started);
        if foreground {
            exec.attach_terminal();
        }
        Ok((exec, stdin))
    }
}

/// Kills a run that must not go on, and reaps it.
pub(crate) fn kill_now(exec: Exec) {
    exec.control().post(crate::control::Request::Kill);
    let _ = reactor::run_here(exec);
}

/// `read`'s conversion: stdout as UTF-8, trailing newlines trimmed.
pub(crate) fn read_text(out: Output, command: &Command) -> Result<String, Error> {
    let text = String::from_utf8(out.stdout).map_err(|source| {
        Error::NotUtf8(Box::new(NotUtf8Error {
            command: command.to_string(),
            source,
        }))
    })?;
    Ok(trim_newlines(text))
}

/// `read_lossy`'s conversion.
pub(crate) fn read_lossy_text(out: Output, _: &Command) -> Result<String, Error> {
    Ok(trim_newlines(
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// `read_bytes`'s conversion.
pub(crate) fn read_stdout(out: Output, _: &Command) -> Result<Vec<u8>, Error> {
    Ok(out.stdout)
}

fn trim_newlines(mut text: String) -> String {
    while text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}
