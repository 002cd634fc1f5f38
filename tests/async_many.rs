//! Async runs at scale and in `select!`: a run that loses a `select!`
//! against a timer is stopped and reaped; a thousand runs at once on one
//! executor thread.
//!
//! Environment: `PROCESSION_ASYNC_MANY` (default 1000) is the number of
//! concurrent runs.

mod support;

use std::time::{Duration, Instant};

use procession::Command;
use support::procfs;

/// An upper bound on "did not hang".
const HANG: Duration = Duration::from_secs(20);

#[test]
fn select_with_a_timer_stops_the_loser() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (reader, writer) = os_pipe::pipe().expect("pipe");
    let cmd = Command::new(support::pt())
        .args(["grandchild", "120", "1", "--hold", "120"])
        .stdout_file(std::fs::File::from(std::os::fd::OwnedFd::from(writer)));
    let run = cmd.run_async();
    drop(cmd);
    let started = Instant::now();
    let mut reader = std::io::BufReader::new(reader);
    let (grandchild, child, mut reader) = rt.block_on(async {
        // The timer starts once the tree is up (the grandchild's pid came).
        let timer = async {
            let read = tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                std::io::BufRead::read_line(&mut reader, &mut line).expect("reads");
                let grandchild = line.trim().parse::<u32>().expect("the grandchild's pid");
                let child = procfs::stat(grandchild).expect("the grandchild lives").ppid;
                (grandchild, child, reader)
            });
            let up = read.await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            up
        };
        tokio::select! {
            r = run => panic!("the timer should win: {r:?}"),
            up = timer => up,
        }
    });
    assert!(
        procfs::eventually(HANG, || !procfs::is_live(grandchild)
            && !procfs::is_live(child)),
        "pt ({child}) or its grandchild ({grandchild}) survived the dropped future"
    );
    // Every writer is gone: the pipe ends.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).expect("reads to the end");
    assert!(started.elapsed() < HANG, "did not hang");
    assert!(
        procfs::eventually(HANG, || procfs::zombie_children().is_empty()),
        "a zombie is left: {:?}",
        procfs::children()
    );
}

/// Raises the soft limit on descriptors to the hard one: each run holds a
/// pidfd and two pipes while it runs.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).expect("raise RLIMIT_NOFILE");
}

#[test]
fn thousand_concurrent_runs() {
    raise_fd_limit();
    let n = support::env_usize("PROCESSION_ASYNC_MANY", 1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outputs = rt.block_on(async {
        let runs = (0..n).map(|i| {
            Command::new(support::pt())
                .args(["echo", &i.to_string()])
                .stderr_capture()
                .read_async()
        });
        futures::future::join_all(runs).await
    });
    assert_eq!(outputs.len(), n);
    for (i, out) in outputs.into_iter().enumerate() {
        assert_eq!(out.expect("runs"), i.to_string());
    }
    assert!(
        procfs::eventually(HANG, || procfs::zombie_children().is_empty()),
        "a zombie is left: {:?}",
        procfs::children()
    );
}
