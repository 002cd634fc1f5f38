//! Where a command's stdin comes from and where its stdout and stderr go.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::capture::Keep;

/// The source of stdin.
#[derive(Clone, Debug)]
pub(crate) enum InSpec {
    Inherit,
    Null,
    Bytes(Arc<[u8]>),
    File(Arc<File>),
    Path(PathBuf),
    /// A pipe whose writing end the caller takes from the handle.
    Pipe,
}

/// The target of stdout or stderr.
#[derive(Clone, Debug)]
pub(crate) enum OutSpec {
    Inherit,
    Null,
    /// Captured into memory, with an optional byte limit.
    Capture(Option<usize>, Keep),
    File(Arc<File>),
    /// A path, opened at each run; `true` appends.
    Path(PathBuf, bool),
}

/// One of a process's two output streams.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Moves a stream to the other one's target, after both targets are known.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Route {
    /// `2>&1`
    StderrToStdout,
    /// `1>&2`
    StdoutToStderr,
    /// Both at once: the two trade places.
    Swap,
}

impl Route {
    /// Applies the route to a pair of resolved targets `(stdout, stderr)`.
    pub(crate) fn apply<T: Clone>(self, out: T, err: T) -> (T, T) {
        match self {
            Route::StderrToStdout => (out.clone(), out),
            Route::StdoutToStderr => (err.clone(), err),
            Route::Swap => (err, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::StderrToStdout.apply(1, 2), (1, 1));
        assert_eq!(Route::StdoutToStderr.apply(1, 2), (2, 2));
        assert_eq!(Route::Swap.apply(1, 2), (2, 1));
    }
}
