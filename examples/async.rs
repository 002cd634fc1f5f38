//! procession from async code, on any executor (tokio here):
//! `cargo run --example async`.
//!
//! Three commands at once with `join!`, a pipeline awaited like any
//! command, and a timeout inside `select!`: dropping the losing future stops
//! and reaps the command's whole process tree.

use std::time::{Duration, Instant};

use procession::{cmd, sh};

fn main() -> Result<(), procession::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        // Three commands at once, one thread: the crate's background thread
        // drives them and wakes each future when its command ends.
        let started = Instant::now();
        let (a, b, c) = tokio::join!(
            sh("sleep 0.2; echo one").read_async(),
            sh("sleep 0.2; echo two").read_async(),
            sh("sleep 0.2; echo three").read_async(),
        );
        println!("{} {} {}", a?, b?, c?);
        println!("# all three in {:.1} s", started.elapsed().as_secs_f32());

        // A pipeline is a command too: every stage's status comes back.
        let out = (cmd!("printf", "b\\na\\nc\\n") | cmd!("sort") | cmd!("head", "-n", "2"))
            .stdout_capture()
            .run_async()
            .await?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        println!("# {} stages, all exited 0", out.stages.len());

        // A timeout in `select!`: the timer wins, the future is dropped, and
        // `sleep` and its whole process group are killed and reaped.
        tokio::select! {
            r = sh("sleep 30 & wait").run_async() => println!("ended early: {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(100)) => println!("# gave up after 100 ms"),
        }
        Ok(())
    })
}
