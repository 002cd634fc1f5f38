//! Thread-safety of the public API, checked at compile time: every public
//! type is `Send + Sync` (`PoolBuilder` only `Send`: it holds the job log's
//! writer; the pool's batch iterators borrow the caller's input iterator, so
//! they are left out), and `Error` is a `'static`
//! `std::error::Error` that fits in `Box<dyn Error + Send + Sync>`.
//!
//! If one of these stops holding, this file no longer compiles.
//!
//! No environment variables tune this file.

mod support;

use procession::{
    CancelToken, Command, Done, Error, Event, Events, ExitError, ExitStatus, Halt, Handle,
    InvalidInput, InvalidInputError, IoError, Job, JobHandle, JobOutput, Keep, Lines, NotUtf8Error,
    Output, Pool, PoolBuilder, Retry, SpawnError, SpawnFailure, Spilled, SpilledReader, Stage,
    StopSequence, StoppedError, Summary,
};

const fn send_sync<T: Send + Sync>() {}

const fn send<T: Send>() {}

const fn unpin<T: Unpin>() {}

const fn static_error<T: std::error::Error + Send + Sync + 'static>() {}

const _: () = {
    send_sync::<Command>();
    send_sync::<Handle>();
    send_sync::<Output>();
    send_sync::<Stage>();
    send_sync::<Error>();
    send_sync::<SpawnError>();
    send_sync::<ExitError>();
    send_sync::<StoppedError>();
    send_sync::<InvalidInputError>();
    send_sync::<NotUtf8Error>();
    send_sync::<IoError>();
    send_sync::<ExitStatus>();
    send_sync::<CancelToken>();
    send_sync::<StopSequence>();
    send_sync::<Event>();
    send_sync::<Keep>();
    send_sync::<Spilled>();
    send_sync::<SpilledReader>();
    send_sync::<InvalidInput>();
    send_sync::<SpawnFailure>();
    send_sync::<Lines>();
    send_sync::<Events>();
    send_sync::<Pool>();
    // It holds the job log's writer, which need only be `Send`.
    send::<PoolBuilder>();
    send_sync::<Job>();
    send_sync::<JobHandle>();
    send_sync::<JobOutput>();
    send_sync::<Done>();
    send_sync::<Summary>();
    send_sync::<Halt>();
    send_sync::<Retry>();
    // The async futures: `Send` (and `Unpin`, see below) to be spawned as
    // tasks on any executor; `Sync` too.
    send_sync::<procession::aio::RunFuture<Output>>();
    send_sync::<procession::aio::RunFuture<String>>();
    send_sync::<procession::aio::Wait<'static>>();
    send_sync::<procession::aio::JobWait<'static>>();
    send_sync::<procession::aio::JobDone<'static>>();
    send_sync::<procession::aio::StartFuture>();
    send_sync::<procession::aio::HandleFuture>();
    send_sync::<procession::aio::LineStream>();
    send_sync::<procession::aio::EventStream>();
    send_sync::<procession::aio::AsyncStdin>();
    send_sync::<procession::aio::Join<'static>>();
    send_sync::<procession::aio::Terminate<'static>>();
    // The pool's streams: `Send` and `Unpin` (not `Sync`: they hold the
    // caller's iterator, which need only be `Send`).
    send::<procession::aio::CompletedStream<std::vec::IntoIter<Command>>>();
    send::<procession::aio::OrderedStream<std::vec::IntoIter<Command>>>();
    unpin::<procession::aio::CompletedStream<std::vec::IntoIter<Command>>>();
    unpin::<procession::aio::RunFuture<Vec<u8>>>();
    unpin::<procession::aio::StartFuture>();
    unpin::<procession::aio::HandleFuture>();
    unpin::<procession::aio::LineStream>();
    unpin::<procession::aio::EventStream>();
    unpin::<procession::aio::AsyncStdin>();
    static_error::<Error>();
    static_error::<SpawnError>();
    static_error::<ExitError>();
    static_error::<StoppedError>();
    static_error::<InvalidInputError>();
    static_error::<NotUtf8Error>();
    static_error::<IoError>();
};

/// The same facts at run time: a real error crosses into a boxed trait
/// object, and a command and a cancel token cross threads.
#[test]
fn values_cross_threads() {
    let err = Command::new("procession-no-such-program")
        .run()
        .unwrap_err();
    let boxed: Box<dyn std::error::Error + Send + Sync + 'static> = Box::new(err.clone());
    assert_eq!(boxed.to_string(), err.to_string());

    let command = Command::new("procession-no-such-program");
    let shown = std::thread::spawn(move || command.to_string())
        .join()
        .unwrap();
    assert_eq!(shown, "procession-no-such-program");

    let token = CancelToken::new();
    let remote = token.clone();
    std::thread::spawn(move || remote.cancel()).join().unwrap();
    assert!(token.is_cancelled());
}

/// A line iterator started on one thread is drained on another.
#[test]
fn lines_move_to_another_thread() {
    let lines = Command::new(support::pt())
        .args(["lines", "3"])
        .lines()
        .unwrap();
    let collected = std::thread::spawn(move || lines.collect::<Result<Vec<_>, _>>())
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(collected, ["out 0", "out 2"]);
}

/// One thread waits on a shared handle while another terminates it.
#[test]
fn handle_is_shared_between_threads() {
    let handle = std::sync::Arc::new(
        Command::new(support::pt())
            .args(["sleep", "30"])
            .start()
            .unwrap(),
    );
    let remote = handle.clone();
    std::thread::spawn(move || remote.terminate())
        .join()
        .unwrap();
    let err = handle.wait().unwrap_err();
    assert_eq!(err.status().and_then(|s| s.signal()), Some(15));
}
