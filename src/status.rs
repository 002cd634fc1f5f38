//! How a process ended: an exit code or a signal.

use std::fmt;

/// How a process ended: it exited with a code, or a signal killed it.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), procession::Error> {
/// let out = procession::sh("exit 3").unchecked().run()?;
/// assert_eq!(out.status.code(), Some(3));
/// assert!(!out.status.success());
/// assert_eq!(out.status.to_string(), "exited with code 3");
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ExitStatus(Ended);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Ended {
    Code(i32),
    Signal { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    pub(crate) fn from_code(code: i32) -> ExitStatus {
        ExitStatus(Ended::Code(code))
    }

    pub(crate) fn from_signal(signal: i32, core_dumped: bool) -> ExitStatus {
        ExitStatus(Ended::Signal {
            signal,
            core_dumped,
        })
    }

    /// `true` if the process exited with code 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::cmd;
    /// # fn main() -> Result<(), procession::Error> {
    /// assert!(cmd!("true").run()?.status.success());
    /// assert!(!cmd!("false").unchecked().run()?.status.success());
    /// # Ok(()) }
    /// ```
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }

    /// The exit code, or `None` if a signal killed the process.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::sh;
    /// # fn main() -> Result<(), procession::Error> {
    /// assert_eq!(sh("exit 42").unchecked().run()?.status.code(), Some(42));
    /// assert_eq!(sh("kill -9 $$").unchecked().run()?.status.code(), None);
    /// # Ok(()) }
    /// ```
    pub fn code(&self) -> Option<i32> {
        match self.0 {
            Ended::Code(code) => Some(code),
            Ended::Signal { .. } => None,
        }
    }

    /// The signal that killed the process, or `None` if it exited.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::sh;
    /// # fn main() -> Result<(), procession::Error> {
    /// assert_eq!(sh("kill -TERM $$").unchecked().run()?.status.signal(), Some(15));
    /// assert_eq!(sh("exit 1").unchecked().run()?.status.signal(), None);
    /// # Ok(()) }
    /// ```
    pub fn signal(&self) -> Option<i32> {
        match self.0 {
            Ended::Code(_) => None,
            Ended::Signal { signal, .. } => Some(signal),
        }
    }

    /// `true` if the process was killed by a signal and dumped core.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// // `SIGKILL` never dumps core.
    /// let out = procession::sh("kill -9 $$").unchecked().run()?;
    /// assert_eq!(out.status.signal(), Some(9));
    /// assert!(!out.status.core_dumped());
    /// # Ok(()) }
    /// ```
    pub fn core_dumped(&self) -> bool {
        matches!(
            self.0,
            Ended::Signal {
                core_dumped: true,
                ..
            }
        )
    }

    /// The shell's number for this status: the code, or 128 + the signal.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = procession::sh("kill -9 $$").unchecked().run()?;
    /// assert_eq!(out.status.shell_code(), 137);
    /// let out = procession::sh("exit 3").unchecked().run()?;
    /// assert_eq!(out.status.shell_code(), 3);
    /// # Ok(()) }
    /// ```
    pub fn shell_code(&self) -> i32 {
        match self.0 {
            Ended::Code(code) => code,
            Ended::Signal { signal, .. } => 128 + signal,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ended::Code(code) => write!(f, "exited with code {code}"),
            Ended::Signal {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by signal {signal}")?;
                if let Some(name) = signal_name(signal) {
                    write!(f, " ({name})")?;
                }
                if core_dumped {
                    write!(f, " (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// The usual name of a Linux signal number, as `SIGTERM`.
///
/// `None` for a number that is not a standard signal (0, negative numbers,
/// and the real-time signals from 32 up).
///
/// # Examples
///
/// ```
/// use procession::signal_name;
/// # fn main() -> Result<(), procession::Error> {
/// assert_eq!(signal_name(9), Some("SIGKILL"));
/// assert_eq!(signal_name(64), None);
///
/// let out = procession::sh("kill -TERM $$").unchecked().run()?;
/// assert_eq!(out.status.signal().and_then(signal_name), Some("SIGTERM"));
/// # Ok(()) }
/// ```
pub fn signal_name(signal: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    usize::try_from(signal)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| NAMES.get(i).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_like_a_shell() {
        assert_eq!(ExitStatus::from_code(0).to_string(), "exited with code 0");
        assert_eq!(
            ExitStatus::from_signal(9, false).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            ExitStatus::from_signal(11, true).to_string(),
            "killed by signal 11 (SIGSEGV) (core dumped)"
        );
        assert_eq!(
            ExitStatus::from_signal(64, false).to_string(),
            "killed by signal 64"
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(1), Some("SIGHUP"));
        assert_eq!(signal_name(15), Some("SIGTERM"));
        assert_eq!(signal_name(31), Some("SIGSYS"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(-3), None);
    }
}
