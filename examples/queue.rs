//! The article's `Queue` example, for external programs:
//! `cargo run --example queue`.
//!
//! The Python original (comments translated):
//!
//! ```python
//! from multiprocessing import Queue, Process
//! import os, time, random
//!
//! # Code run by the writing process:
//! def write(q):
//!     print('Process to write : %s' % os.getpid())
//!     for value in ['A', 'B', 'C']:
//!         print('Put %s queue...' % value)
//!         q.put(value)
//!         time.sleep(random.random())
//!
//! # Code run by the reading process:
//! def read(q):
//!     print('Process to read : %s' % os.getpid())
//!     while True:
//!         value = q.get(True)
//!         print('Get %s from queue.' % value)
//!
//! if __name__ == '__main__':
//!     # The parent creates the Queue and hands it to each child:
//!     q = Queue()
//!     pw = Process(target=write, args=(q,))
//!     pr = Process(target=read, args=(q,))
//!     # Start the child pw, which writes:
//!     pw.start()
//!     # Start the child pr, which reads:
//!     pr.start()
//!     # Wait for pw to end:
//!     pw.join()
//!     # pr is an endless loop and cannot be waited for, only terminated:
//!     pr.terminate()
//! ```
//!
//! What changed, and why:
//!
//! - **The queue is a pipe.** Between programs, the natural queue is a pipe
//!   with one value per line. The reader is started first with
//!   [`stdin_pipe`](procession::Command::stdin_pipe), and the writing end of
//!   its stdin, from [`take_stdin`](procession::Handle::take_stdin), becomes
//!   the writer's stdout. (Were the two commands one pipeline, `write | read`,
//!   the reader would end by itself at end of file; the article's reader
//!   loops forever, so we keep them apart to show `terminate`.)
//! - **The parent keeps the queue open**, as Python's parent keeps `q`: the
//!   reader never sees end of file and loops in `read` until it is stopped,
//!   like `q.get(True)`.
//! - The writer's own messages go to stderr, since its stdout is the queue.
//! - **`pw.join()` is [`wait`](procession::Handle::wait); `pr.terminate()` is
//!   [`terminate`](procession::Handle::terminate)**, which sends `SIGTERM` to
//!   the reader's whole process group (then `SIGKILL` if it has not gone
//!   after a grace period). Waiting afterwards shows how it ended: killed by
//!   signal 15. Python's `terminate()` reaches only the child itself, and
//!   nobody waits for it.
//! - The writer sleeps a fixed 0.2 s after each value instead of a random
//!   time, so the reader has printed every value before it is stopped.

use std::fs::File;
use std::os::fd::OwnedFd;

use procession::{Error, cmd};

/// `write(q)`: its stdout is the queue, so its messages go to stderr.
const WRITE: &str = r#"
echo "Process to write: $$" >&2
for value in A B C; do
    echo "Put $value to queue..." >&2
    echo "$value"
    sleep 0.2
done
"#;

/// `read(q)`: reads values from stdin until it is stopped.
const READ: &str = r#"
echo "Process to read: $$"
while read value; do
    echo "Get $value from queue."
done
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pr = cmd!("sh", "-c", READ).stdin_pipe().start()?;
    let q = File::from(OwnedFd::from(pr.take_stdin().ok_or("no stdin pipe")?));

    let pw = cmd!("sh", "-c", WRITE)
        .stdout_file(q.try_clone()?)
        .start()?;
    pw.wait()?;

    pr.terminate();
    let Err(err) = pr.wait() else {
        return Err("the reader ended before it was terminated".into());
    };
    drop(q);

    let status = err.status().ok_or("the reader's error has no status")?;
    println!("Reader stopped: {status}.");
    match (&err, status.signal()) {
        (Error::Exit(_), Some(15)) => Ok(()),
        _ => Err(format!("expected the reader to die of SIGTERM, got {err}").into()),
    }
}
