//! The article's `multiprocessing.Pool` example, for external programs:
//! `cargo run --example pool`.
//!
//! The Python original (the article's missing spaces restored):
//!
//! ```python
//! import os, time, random
//! from multiprocessing import Pool
//!
//! def long_time_task(name):
//!     print('Run task %s (%s)...' % (name, os.getpid()))
//!     start = time.time()
//!     time.sleep(random.random() * 3)
//!     end = time.time()
//!     print('Task %s run %0.2f seconds.' % (name, (end - start)))
//!
//! if __name__ == '__main__':
//!     print('Parent process %s.' % os.getpid())
//!     p = Pool(4)
//!     for i in range(5):
//!         p.apply_async(long_time_task, args=(i,))
//!     print('Waiting for all subprocess done...')
//!     p.close()
//!     p.join()
//!     print('All subprocess done')
//! ```
//!
//! What changed, and why:
//!
//! - **A task is a program**: `sleep` for a "random" time up to three
//!   seconds. Python's pool keeps four worker processes and runs the function
//!   in them, so task 4 shows the pid of the worker it reused; here every
//!   task is a process of its own, with its own pid.
//! - **The task's two lines come from the pool's events**, since the program
//!   (`sleep`) prints nothing: [`JobEvent::Started`] prints "Run task ...",
//!   [`JobEvent::Finished`] prints "Task ... run ... seconds." with the time
//!   the pool measured.
//! - **`apply_async` is [`submit`](Pool::submit)**; `close()` and `join()`
//!   are [`close`](Pool::close) and [`join`](Pool::join), which also returns
//!   a summary of the batch.
//! - As in Python, the four tasks start at once and finish in any order; the
//!   fifth starts when the first one ends.
//! - "Waiting for all subprocess done..." comes before the tasks' lines, as
//!   in the article's output: `main` holds stdout while it submits the tasks
//!   and prints it, so the events (printed from the pool's thread) wait for
//!   it. The tasks start at once all the same.
//!
//! It prints the article's lines, then, after a blank line, what procession
//! adds (lines starting with `#`):
//!
//! ```text
//! Parent process 4100.
//! Waiting for all subprocess done...
//! Run task 0 (4102)...
//! Run task 1 (4103)...
//! Run task 2 (4104)...
//! Run task 3 (4105)...
//! Task 1 run 0.56 seconds.
//! Run task 4 (4110)...
//! Task 0 run 0.89 seconds.
//! Task 3 run 1.13 seconds.
//! Task 4 run 0.80 seconds.
//! Task 2 run 1.46 seconds.
//! All subprocess done
//!
//! # procession: 5 tasks, 4 at a time: 5 succeeded, 0 failed.
//! ```

use std::io::Write;

use procession::{JobEvent, Pool, cmd};

/// A fraction of three seconds that looks random, derived from the task
/// number (no random number generator needed).
fn random_secs(task: u64) -> f64 {
    let mixed = (task + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (mixed % 3000) as f64 / 1000.0
}

fn main() {
    println!("Parent process {}.", std::process::id());
    let p = Pool::builder()
        .jobs(4)
        .on_event(|event| match event {
            JobEvent::Started { seq, pids, .. } => {
                println!(
                    "Run task {} ({})...",
                    seq - 1,
                    pids.first().copied().unwrap_or(0)
                );
            }
            JobEvent::Finished(done) => {
                println!(
                    "Task {} run {:.2} seconds.",
                    done.seq() - 1,
                    done.elapsed().as_secs_f64()
                );
            }
            _ => {}
        })
        .build();
    let mut stdout = std::io::stdout().lock();
    for i in 0..5 {
        p.submit(cmd!("sleep", format!("{:.3}", random_secs(i))));
    }
    writeln!(stdout, "Waiting for all subprocess done...").expect("stdout");
    drop(stdout);
    p.close();
    let summary = p.join();
    println!("All subprocess done");

    println!(
        "\n# procession: {} tasks, {} at a time: {} succeeded, {} failed.",
        summary.finished,
        p.jobs(),
        summary.succeeded,
        summary.failed
    );
}
