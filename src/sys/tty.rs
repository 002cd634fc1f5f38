//! The controlling terminal: its foreground group and its modes.

use std::io;

use rustix::process::Pid;

/// The terminal on our stdin, when it is our controlling terminal: its
/// foreground process group. `None` without one (no terminal, another
/// session's terminal, or a closed stdin).
pub(crate) fn terminal_foreground() -> Option<Pid> {
    let stdin = std::io::stdin();
    if !rustix::termios::isatty(&stdin) {
        return None;
    }
    rustix::termios::tcgetpgrp(&stdin).ok()
}

/// The modes of the terminal on our stdin.
pub(crate) fn terminal_modes() -> Option<super::TerminalModes> {
    rustix::termios::tcgetattr(std::io::stdin()).ok()
}

/// Sets the modes of the terminal on our stdin (once its output is drained).
pub(crate) fn set_terminal_modes(modes: &super::TerminalModes) {
    let _ = with_sigttou_blocked(|| {
        rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Drain,
            modes,
        )
    });
}

/// Makes `group` the foreground process group of the terminal on our stdin.
pub(crate) fn set_terminal_foreground(group: Pid) -> io::Result<()> {
    Ok(with_sigttou_blocked(|| {
        rustix::termios::tcsetpgrp(std::io::stdin(), group)
    })?)
}

/// Runs `f` with `SIGTTOU` blocked in this thread. A process that is not in
/// the terminal's foreground group may change the terminal's foreground
/// group or modes only so: else the kernel stops it with `SIGTTOU`. Blocking
/// (not ignoring) keeps the change to this thread and these few calls.
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal as NixSignal, pthread_sigmask};
    let mut ttou = SigSet::empty();
    ttou.add(NixSignal::SIGTTOU);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok();
    let result = f();
    if blocked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    result
}
