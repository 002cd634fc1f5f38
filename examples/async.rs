//! procession from async code, on any executor (tokio here):
//! `cargo run --example async`.
//!
//! Three commands at once with `join!`, a pipeline awaited like any
//! command, a timeout inside `select!` (dropping the losing future stops
//! and reaps the command's whole process tree), a pipeline streamed line by
//! line as `tail -f app.log | grep ERROR` would be, and a command's stdin
//! written from async code.

use std::time::{Duration, Instant};

use futures::{AsyncWriteExt, StreamExt};
use procession::{cmd, sh};

fn main() -> Result<(), Box<dyn std::error::Error>> {
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

        // A pipeline streamed as it prints, like `tail -f app.log | grep
        // ERROR`: each line comes as soon as grep lets it out.
        let log = sh("for i in 1 2 3; do echo \"$i ok\"; echo \"$i ERROR disk full\"; sleep 0.05; done");
        let mut errors = (log | cmd!("grep", "--line-buffered", "ERROR")).lines_async();
        let started = Instant::now();
        while let Some(line) = errors.next().await {
            println!("{} (after {:.2} s)", line?, started.elapsed().as_secs_f32());
        }
        // Dropping a stream early kills its command: `yes` never ends.
        let ticks: Vec<_> = cmd!("yes", "tick").lines_async().take(2).collect().await;
        println!("# took {} lines of yes, then dropped it: killed", ticks.len());

        // Writing a command's stdin without blocking the executor.
        let wc = cmd!("wc", "-l").stdin_pipe().stdout_capture().start_async().await?;
        let mut stdin = wc.take_stdin_async().expect("started with stdin_pipe");
        for i in 0..10_000 {
            stdin.write_all(format!("line {i}\n").as_bytes()).await?;
        }
        stdin.close().await?; // end of file: wc prints its count
        let out = wc.await?;
        println!("# wc counted {} lines", out.stdout_str()?.trim());
        Ok(())
    })
}
