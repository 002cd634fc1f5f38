//! `Handle::take_stdin_async`: the stdin pipe as a non-blocking
//! [`AsyncWrite`], woken by the background loop when the pipe has room.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::AsyncWrite;

use crate::handle::Handle;
use crate::reactor;
use crate::sys::{self, Interest, Wrote};

/// The writing end of a started command's stdin, for async code: a
/// [`futures_io::AsyncWrite`]. From [`Handle::take_stdin_async`].
///
/// A write never blocks the executor: when the pipe is full, the task is
/// woken by the crate's background thread once the pipe has room again.
/// Closing it ([`close`](futures_io::AsyncWrite::poll_close), or dropping
/// it) sends end of file to the command; it does not stop the command. A
/// write after the command closed its stdin is an
/// [`io::ErrorKind::BrokenPipe`] error, as with the blocking pipe. (tokio
/// users: `tokio_util::compat` adapts it to tokio's `AsyncWrite`.)
///
/// Cancel safety: a `poll_write` that returns `Pending` wrote nothing, so
/// dropping a single `write` future loses nothing; dropping a `write_all`
/// future may leave part of the buffer written.
#[derive(Debug)]
pub struct AsyncStdin {
    /// `None` once closed.
    fd: Option<Arc<OwnedFd>>,
    /// The pipe could not be made non-blocking: reported by the first
    /// write (never expected on a pipe).
    broken: Option<io::Error>,
}

impl AsyncStdin {
    fn new(fd: OwnedFd) -> AsyncStdin {
        let broken = sys::set_nonblocking(fd.as_fd()).err();
        AsyncStdin {
            fd: Some(Arc::new(fd)),
            broken,
        }
    }

    /// Drops our end; the background loop, which may hold it for the round
    /// it is in, is woken to let go, so the command sees end of file.
    fn close(&mut self) {
        if self.fd.take().is_some() {
            reactor::wake_loop();
        }
    }
}

impl AsyncWrite for AsyncStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(error) = this.broken.take() {
            this.close();
            return Poll::Ready(Err(error));
        }
        let Some(fd) = &this.fd else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the command's stdin is closed",
            )));
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match sys::write(fd.as_fd(), buf) {
            Ok(Wrote::Bytes(n)) => Poll::Ready(Ok(n)),
            Ok(Wrote::Closed) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the command closed its stdin",
            ))),
            Ok(Wrote::WouldBlock) => {
                match reactor::watch(Arc::downgrade(fd), Interest::Write, cx.waker()) {
                    Ok(()) => Poll::Pending,
                    Err(error) => Poll::Ready(Err(io::Error::other(error))),
                }
            }
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: what was written is in the pipe.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for AsyncStdin {
    fn drop(&mut self) {
        self.close();
    }
}

impl Handle {
    /// The async twin of [`take_stdin`](Handle::take_stdin): the writing
    /// end of stdin, for a command started with
    /// [`stdin_pipe`](crate::Command::stdin_pipe), as an [`AsyncStdin`].
    /// `None` otherwise, or if it was already taken. Close or drop it to
    /// send end of file.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// futures::executor::block_on(async {
    ///     let handle = procession::cmd!("cat").stdin_pipe().stdout_capture().start_async().await?;
    ///     let mut stdin = handle.take_stdin_async().expect("started with stdin_pipe");
    ///     stdin.write_all(b"hello").await?;
    ///     stdin.close().await?; // end of file: cat ends
    ///     assert_eq!(handle.await?.stdout, b"hello");
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn take_stdin_async(&self) -> Option<AsyncStdin> {
        self.take_stdin()
            .map(|pipe| AsyncStdin::new(OwnedFd::from(pipe)))
    }
}
