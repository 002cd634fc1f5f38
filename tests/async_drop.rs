//! Dropping an async future before it completes: the command's whole tree
//! is killed and reaped (no process left, no zombie), and no descriptor or
//! thread is left behind (a `run_async` or `start_async` future, a handle
//! awaited by value, a `lines_async` or `events_async` stream, a pool's
//! stream); a future dropped unpolled spawns nothing; and a dropped
//! `wait_async` leaves the handle's command running.
//!
//! The tests count this process's descriptors and threads, so they run one
//! at a time (`SERIAL`).

mod support;

use std::fs::File;
use std::future::{Future, IntoFuture};
use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use procession::Command;
use support::procfs;

/// An upper bound on "did not hang".
const HANG: Duration = Duration::from_secs(20);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one command through `run_async` to the end, so that the background
/// and spawning threads exist before a baseline is taken.
fn warm_up() {
    let out = futures::executor::block_on(
        Command::new(support::pt())
            .args(["echo", "warm"])
            .read_async(),
    );
    assert_eq!(out.expect("runs"), "warm");
}

/// `pt grandchild 120 1 --hold 120` with stdout to a pipe: the command, and
/// the pipe's read end, on which the grandchild's pid comes.
fn grandchild_to_pipe() -> (Command, BufReader<os_pipe::PipeReader>) {
    let (reader, writer) = os_pipe::pipe().expect("pipe");
    let cmd = Command::new(support::pt())
        .args(["grandchild", "120", "1", "--hold", "120"])
        .stdout_file(File::from(OwnedFd::from(writer)));
    (cmd, BufReader::new(reader))
}

/// How many of `targets` (from [`fd_targets`]) are not eventfds.
fn not_eventfds(targets: &[String]) -> usize {
    targets.iter().filter(|t| !t.ends_with("[eventfd]")).count()
}

/// What each open descriptor of this process points to, for messages.
fn fd_targets() -> Vec<String> {
    let mut targets: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!("{}->{}", e.file_name().to_string_lossy(), target.display())
        })
        .collect();
    targets.sort();
    targets
}

/// No thread of this process that was not in `before` (from
/// [`procfs::own_thread_ids`]).
fn no_new_thread(before: &[u32]) -> bool {
    procfs::own_thread_ids().iter().all(|t| before.contains(t))
}

/// The descriptors and threads of this process, taken once the crate's
/// permanent threads exist.
struct Baseline {
    threads: Vec<u32>,
    targets: Vec<String>,
}

impl Baseline {
    fn take() -> Baseline {
        Baseline {
            threads: procfs::own_thread_ids(),
            targets: fd_targets(),
        }
    }

    /// Waits until no descriptor and no thread is left over the baseline.
    /// A thread of the crate that drives a run for the first time keeps one
    /// eventfd for its later runs (a cache, not a leak), maybe created
    /// while the baseline is taken: which spawning thread that is varies,
    /// so eventfds are left out of the comparison. The run's own pipes and
    /// pidfds are not. Each count comes from one listing of the
    /// descriptors, so one made between two listings cannot skew it.
    fn assert_nothing_left(self) {
        let Baseline { threads, targets } = self;
        let fds = not_eventfds(&targets);
        assert!(
            procfs::eventually(HANG, || not_eventfds(&fd_targets()) == fds
                && no_new_thread(&threads)),
            "descriptors other than eventfds: {} (before {fds}: {targets:?}; now {:?}), \
             threads {:?} (before {threads:?})",
            not_eventfds(&fd_targets()),
            fd_targets(),
            procfs::own_thread_ids()
        );
    }
}

/// The pids of `pt grandchild`'s tree, from the grandchild's pid as it
/// printed it: (pt, the grandchild). Both are alive.
fn tree_of(line: &str) -> (u32, u32) {
    let grandchild: u32 = line.trim().parse().expect("a pid");
    let child = procfs::stat(grandchild).expect("the grandchild lives").ppid;
    assert!(procfs::is_live(child), "pt ({child}) lives");
    (child, grandchild)
}

/// Waits until `pt` (`child`) and its grandchild are gone and no zombie is
/// left.
fn assert_tree_gone(child: u32, grandchild: u32) {
    assert!(
        procfs::eventually(HANG, || !procfs::is_live(child)
            && !procfs::is_live(grandchild)
            && procfs::zombie_children().is_empty()),
        "pt ({child}) or its grandchild ({grandchild}) survived the drop, or a zombie is left: {:?}",
        procfs::children()
    );
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    future.poll(&mut Context::from_waker(&waker))
}

#[test]
fn dropping_run_future_reaps_the_tree() {
    dropping_a_future_reaps_the_tree(|cmd| Box::pin(cmd.run_async()));
}

#[test]
fn dropping_start_future_reaps_the_tree() {
    // Polled once: spawned, and the handle waits in the future, untaken.
    dropping_a_future_reaps_the_tree(|cmd| Box::pin(cmd.start_async()));
}

#[test]
fn dropping_handle_future_reaps_the_tree() {
    dropping_a_future_reaps_the_tree(|cmd| {
        let handle = futures::executor::block_on(cmd.start_async()).expect("starts");
        Box::pin(handle.into_future())
    });
}

/// Starts `pt grandchild` through `future`, polls it once, drops it once
/// the grandchild's pid came, and checks that the tree is gone and no
/// descriptor or thread is left.
fn dropping_a_future_reaps_the_tree<F: Future + Unpin>(future: impl FnOnce(&Command) -> F) {
    let _serial = serial();
    warm_up();
    let baseline = Baseline::take();
    {
        let (cmd, mut reader) = grandchild_to_pipe();
        let mut future = future(&cmd);
        drop(cmd);
        assert!(
            poll_once(std::pin::Pin::new(&mut future)).is_pending(),
            "spawning or running"
        );
        let mut line = String::new();
        reader.read_line(&mut line).expect("the grandchild's pid");
        let (child, grandchild) = tree_of(&line);
        drop(future);
        assert_tree_gone(child, grandchild);
        // Every writer is gone: the pipe ends.
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).expect("reads to the end");
    }
    baseline.assert_nothing_left();
}

#[test]
fn unpolled_future_spawns_nothing() {
    let _serial = serial();
    let (cmd, mut reader) = grandchild_to_pipe();
    let future = cmd.run_async();
    drop(cmd);
    drop(future);
    // Had anything been spawned, its pid would come before the end.
    let mut text = String::new();
    reader.read_to_string(&mut text).expect("reads to the end");
    assert_eq!(text, "", "an unpolled future spawned a command");
}

#[test]
fn dropping_wait_async_leaves_the_handle_running() {
    let _serial = serial();
    let handle = Command::new(support::pt())
        .args(["sleep", "30"])
        .start()
        .expect("starts");
    {
        let mut wait = pin!(handle.wait_async());
        assert!(poll_once(wait.as_mut()).is_pending());
    }
    assert!(handle.try_wait().expect("runs").is_none(), "still running");
    assert!(procfs::is_live(handle.pid()));
    let pid = handle.pid();
    drop(handle);
    assert!(!procfs::is_live(pid), "dropping the handle kills and reaps");
}

/// Starts `pt grandchild` through `stream` (`lines_async` or
/// `events_async`), takes the grandchild's pid from its first item, drops
/// the stream, and checks that the tree is gone and no descriptor or
/// thread is left.
fn dropping_a_stream_reaps_the_tree<S, T>(
    stream: impl FnOnce(&Command) -> S,
    pid_of: fn(T) -> String,
) where
    S: futures::Stream<Item = Result<T, procession::Error>> + Unpin,
{
    let _serial = serial();
    warm_up();
    let baseline = Baseline::take();
    {
        let cmd = Command::new(support::pt()).args(["grandchild", "120", "1", "--hold", "120"]);
        let mut items = stream(&cmd);
        let first = futures::executor::block_on(futures::StreamExt::next(&mut items));
        let line = pid_of(first.expect("an item").expect("a line"));
        let (child, grandchild) = tree_of(&line);
        drop(items);
        assert_tree_gone(child, grandchild);
    }
    baseline.assert_nothing_left();
}

#[test]
fn dropping_line_stream_reaps_the_tree() {
    dropping_a_stream_reaps_the_tree(Command::lines_async, |line| line);
}

#[test]
fn dropping_event_stream_reaps_the_tree() {
    dropping_a_stream_reaps_the_tree(Command::events_async, |event| match event {
        procession::Event::Stdout(line) => line,
        other => panic!("{other:?}"),
    });
}

#[test]
fn dropping_pool_stream_reaps_the_tree() {
    let _serial = serial();
    warm_up();
    let pool = procession::Pool::new(2);
    // A first batch, so that whatever the pool starts once exists before
    // the baseline.
    let warm = futures::executor::block_on(
        pool.as_completed_async([Command::new(support::pt()).args(["exit", "0"])])
            .finish_async(),
    );
    assert_eq!(warm.succeeded, 1);
    let baseline = Baseline::take();
    {
        let (cmd, mut reader) = grandchild_to_pipe();
        // The second job waits for a slot behind nothing: both start.
        let (second, _second_reader) = grandchild_to_pipe();
        let mut stream = pool.map_async([cmd, second, Command::new(support::pt())]);
        let next = {
            use futures::StreamExt;
            let waker = futures::task::noop_waker();
            stream.poll_next_unpin(&mut Context::from_waker(&waker))
        };
        assert!(next.is_pending(), "jobs run");
        let mut line = String::new();
        reader.read_line(&mut line).expect("the grandchild's pid");
        let (child, grandchild) = tree_of(&line);
        drop(stream);
        assert_tree_gone(child, grandchild);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).expect("reads to the end");
    }
    baseline.assert_nothing_left();
    // The pool runs new batches after the drop.
    let after = futures::executor::block_on(
        pool.as_completed_async([Command::new(support::pt()).args(["exit", "0"])])
            .finish_async(),
    );
    assert_eq!(after.succeeded, 1);
}
