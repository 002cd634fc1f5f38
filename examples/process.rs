//! The article's `multiprocessing.Process` example, for external programs:
//! `cargo run --example process`.
//!
//! The Python original (comments translated):
//!
//! ```python
//! import os
//! from multiprocessing import Process
//!
//! # The code the child process runs
//! def run_proc(name):
//!     print('Run child process %s (%s)' % (name, os.getpid()))
//!
//! if __name__ == '__main__':
//!     print('parent process %s' % os.getpid())
//!     p = Process(target=run_proc, args=('test',))  # create the child process
//!     print('Child process will start')
//!     p.start()  # the child process starts running
//!     p.join()
//!     print('Child process end.')
//! ```
//!
//! What changed, and why:
//!
//! - **`target` is a program, not a function.** procession runs external
//!   programs; a Rust closure cannot be sent to another process the way
//!   Python pickles a function. Here the target is a small `sh` script and
//!   `args=('test',)` becomes its argument `$1`. (The article's unfinished
//!   "subprocess" section, about running external programs, is what this
//!   whole crate is about.)
//! - **`Process(...)` is a [`Command`](procession::Command)**: a value that
//!   describes what to run and runs nothing yet, so it can be reused or
//!   started many times.
//! - **`start()` is [`start`](procession::Command::start)**, which returns a
//!   [`Handle`](procession::Handle) with the child's pid.
//! - **`join()` is [`wait`](procession::Handle::wait)**, which also reports
//!   how the child ended: a non-zero exit is an error, where Python's `join()`
//!   says nothing and leaves you to check `p.exitcode`.
//! - Dropping a handle whose child still runs kills the child (and anything
//!   it started), so a forgotten `join()` cannot leave a process behind.
//!
//! It prints the article's lines, then, after a blank line, what procession
//! adds (lines starting with `#`):
//!
//! ```text
//! parent process 4100
//! Child process will start
//! Run child process test (4101)
//! Child process end.
//!
//! # procession: the child 4101 exited with code 0 after 1.2ms.
//! ```

use procession::cmd;

/// The child: `run_proc(name)`, with `name` as its first argument.
const RUN_PROC: &str = r#"echo "Run child process $1 ($$)""#;

fn main() -> Result<(), procession::Error> {
    println!("parent process {}", std::process::id());

    // `sh -c SCRIPT NAME ARG`: NAME becomes `$0`, ARG becomes `$1`.
    let p = cmd!("sh", "-c", RUN_PROC, "run_proc", "test");
    println!("Child process will start");
    let child = p.start()?;
    let output = child.wait()?;
    println!("Child process end.");

    println!(
        "\n# procession: the child {} {} after {:.1?}.",
        output.stages[0].pid, output.status, output.elapsed
    );
    Ok(())
}
