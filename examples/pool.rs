//! The classic Python `multiprocessing.Pool` example, for external programs.
//!
//! Python's version runs a function in four worker processes:
//!
//! ```python
//! p = Pool(4)
//! for i in range(5):
//!     p.apply_async(long_time_task, args=(i,))
//! print('Waiting for all subprocess done...')
//! p.close()
//! p.join()
//! print('All subprocess done.')
//! ```
//!
//! Here each task is a program (`sleep` for a "random" time up to three
//! seconds), the pool runs four at a time, and the pool's events say when
//! each starts and how long it ran.
//!
//! ```text
//! cargo run --example pool
//! ```

use procession::{JobEvent, Pool, cmd};

/// A fraction of three seconds that looks random, derived from the task
/// number (no random number generator needed).
fn random_secs(task: u64) -> f64 {
    let mixed = (task + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (mixed % 3000) as f64 / 1000.0
}

fn main() {
    println!("Parent process {}.", std::process::id());
    let pool = Pool::builder()
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
                    "Task {} runs {:.2} seconds.",
                    done.seq() - 1,
                    done.elapsed().as_secs_f64()
                );
            }
            _ => {}
        })
        .build();
    for task in 0..5 {
        pool.submit(cmd!("sleep", format!("{:.3}", random_secs(task))));
    }
    println!("Waiting for all subprocess done...");
    pool.close();
    pool.join();
    println!("All subprocess done.");
}
