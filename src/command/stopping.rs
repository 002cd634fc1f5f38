//! How a [`Command`]'s run ends: which statuses count as failure, its
//! timeout or deadline, the stop sequence, the cgroup that holds its tree,
//! the drain time, and cancel tokens.

use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::pipestatus::Check;
use crate::stop::StopSequence;

use super::Command;

impl Command {
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

    /// Stops the command when `token` is cancelled, from any thread.
    pub fn cancel_on(self, token: &CancelToken) -> Command {
        let token = token.clone();
        self.with_opts(|o| o.cancel.push(token))
    }
}
