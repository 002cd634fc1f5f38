//! The article's `fork` example, for external programs:
//! `cargo run --example fork`.
//!
//! The Python original (the article's `%` typos fixed, comments translated):
//!
//! ```python
//! import os
//!
//! print('Process (%s) start...' % os.getpid())
//! # Only works on Unix/Linux/Mac, not on Windows:
//! pid = os.fork()
//! if pid == 0:
//!     print('I am child process (%s) and my parent is %s.' % (os.getpid(), os.getppid()))
//! else:
//!     print('I (%s) just created a child process (%s).' % (os.getpid(), pid))
//! ```
//!
//! What changed, and why:
//!
//! - **We start a program instead of forking.** `fork()` copies the calling
//!   process and runs the rest of the same program twice. In Rust that is a
//!   trap: the copy has only the thread that called `fork`, so a lock another
//!   thread held at that moment (inside the allocator, or on stdout) stays
//!   locked forever in the child, and until it calls `exec` the child may only
//!   make async-signal-safe calls. std offers no safe `fork` for that reason.
//!   Copying is also slow: the kernel duplicates the page tables of the whole
//!   parent, so a parent holding gigabytes pays for every child. procession
//!   uses `posix_spawn` instead, which creates the child and runs a new program
//!   in it in one step, at a cost that does not grow with the parent's memory.
//! - **The child's code is a program.** Here it is a one-line `sh` script: `$$`
//!   is its own pid (the shell is the process we started) and `$PPID` is the
//!   pid of its parent, this example.
//! - **`fork()`'s return value becomes [`Handle::pid`].** The parent learns the
//!   child's pid from the handle that [`start`](procession::Command::start)
//!   returns, and waits for the child with [`wait`](Handle::wait) (Python's
//!   example never reaps its child; ours is never left a zombie).
//! - The child's stdout is captured and printed after the parent's line, so
//!   the two lines come out in the article's order every time.

use procession::{Handle, cmd};

/// The child: prints its own pid and its parent's, like the `pid == 0` branch.
const CHILD: &str = r#"echo "I am child process ($$) and my parent is $PPID.""#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let me = std::process::id();
    println!("Process ({me}) start...");

    let child: Handle = cmd!("sh", "-c", CHILD).stdout_capture().start()?;
    println!("I ({me}) just created a child process ({}).", child.pid());

    let output = child.wait()?;
    let said = output.stdout_str()?.trim_end();
    println!("{said}");

    let expected = format!(
        "I am child process ({}) and my parent is {me}.",
        child.pid()
    );
    if said != expected {
        return Err(format!("the child said {said:?}, expected {expected:?}").into());
    }
    Ok(())
}
