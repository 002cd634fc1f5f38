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
//! - The writer's stdout is the queue, so it prints its messages to its
//!   stderr, which the parent points at its own stdout: the whole transcript
//!   is on stdout, in one stream (`cargo run --example queue > f` keeps it
//!   whole).
//! - The parent reads the reader's stdout through a pipe and passes it on,
//!   so it can start the writer once the reader has said it is ready (the
//!   article's order, which Python leaves to chance) and stop the reader
//!   once it has printed every value.
//! - **`pw.join()` is [`wait`](procession::Handle::wait); `pr.terminate()` is
//!   [`terminate`](procession::Handle::terminate)**, which sends `SIGTERM` to
//!   the reader's whole process group (then `SIGKILL` if it has not gone
//!   after a grace period). Waiting afterwards shows how it ended: killed by
//!   signal 15. Python's `terminate()` reaches only the child itself, and
//!   nobody waits for it.
//! - The writer sleeps a fixed 0.2 s after each value instead of a random
//!   time.
//!
//! It prints the article's lines, then, after a blank line, what procession
//! adds (lines starting with `#`):
//!
//! ```text
//! Process to read : 4100
//! Process to write : 4102
//! Put A queue...
//! Get A from queue.
//! Put B queue...
//! Get B from queue.
//! Put C queue...
//! Get C from queue.
//!
//! # procession: the reader was stopped by terminate(): killed by signal 15 (SIGTERM).
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use procession::{Error, cmd};

/// `write(q)`: its stdout is the queue, so its messages go to stderr.
const WRITE: &str = r#"
echo "Process to write : $$" >&2
for value in A B C; do
    echo "Put $value queue..." >&2
    echo "$value"
    sleep 0.2
done
"#;

/// `read(q)`: reads values from stdin until it is stopped.
const READ: &str = r#"
echo "Process to read : $$"
while read value; do
    echo "Get $value from queue."
done
"#;

/// How long to wait for the reader to print a line before giving up.
const PATIENCE: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stdout = || -> std::io::Result<File> {
        Ok(File::from(std::io::stdout().as_fd().try_clone_to_owned()?))
    };

    // The reader's stdout comes back to us through a pipe.
    let (said, says) = os_pipe::pipe()?;
    let pr = cmd!("sh", "-c", READ)
        .stdin_pipe()
        .stdout_file(File::from(OwnedFd::from(says)))
        .start()?;
    let q = File::from(OwnedFd::from(pr.take_stdin().ok_or("no stdin pipe")?));

    // Pass the reader's lines on, and tell the parent about each one.
    let (line_tx, line_rx) = mpsc::channel();
    let forward = thread::spawn(move || {
        for line in BufReader::new(said).lines() {
            let Ok(line) = line else { break };
            println!("{line}");
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = || line_rx.recv_timeout(PATIENCE);
    // The reader is ready: "Process to read : N".
    next_line().map_err(|_| "the reader said nothing")?;

    let pw = cmd!("sh", "-c", WRITE)
        .stdout_file(q.try_clone()?)
        .stderr_file(stdout()?)
        .start()?;
    pw.wait()?;

    // Every value has been read: "Get C from queue." was the last line.
    for value in ["A", "B", "C"] {
        let line = next_line().map_err(|_| format!("the reader never got {value}"))?;
        if line != format!("Get {value} from queue.") {
            return Err(format!("the reader said {line:?} where it should get {value}").into());
        }
    }
    pr.terminate();
    let Err(err) = pr.wait() else {
        return Err("the reader ended before it was terminated".into());
    };
    drop(q);
    forward
        .join()
        .map_err(|_| "the forwarding thread panicked")?;

    let status = err.status().ok_or("the reader's error has no status")?;
    println!("\n# procession: the reader was stopped by terminate(): {status}.");
    match (&err, status.signal()) {
        (Error::Exit(_), Some(15)) => Ok(()),
        _ => Err(format!("expected the reader to die of SIGTERM, got {err}").into()),
    }
}
