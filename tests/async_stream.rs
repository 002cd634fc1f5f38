//! `lines_async` and `events_async` on every executor: the items of the
//! blocking `Lines` and `Events`, in the same order, with the same errors;
//! and a consumer that does not keep up pauses its command, never the
//! crate's background thread.

mod support;
#[macro_use]
#[path = "support/executors.rs"]
mod executors;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use procession::{Command, Error, Event, InvalidInput};
use support::procfs;

/// An upper bound on "did not hang".
const HANG: Duration = Duration::from_secs(30);

fn pt_in(pt: &std::path::Path) -> Command {
    Command::new(pt)
}

on_every_executor!(lines_in_order_then_error_last, |pt| async move {
    // The first stage fails (pipefail); the second prints the lines.
    let items: Vec<_> = pt_in(pt)
        .args(["fail", "2", "gone wrong"])
        .pipe(pt_in(pt).args(["lines", "5"]))
        .stderr_capture()
        .lines_async()
        .collect()
        .await;
    assert_eq!(items.len(), 4, "{items:?}");
    for (item, i) in items.iter().zip([0, 2, 4]) {
        assert_eq!(item.as_deref().expect("a line"), format!("out {i}"));
    }
    let err = items[3].as_ref().expect_err("fails");
    assert_eq!(err.status().and_then(|s| s.code()), Some(2));
    assert!(err.to_string().contains("gone wrong"), "{err}");

    let mut lines = pt_in(pt).args(["lines", "7"]).stderr_null().lines_async();
    for i in [0, 2, 4, 6] {
        let line = lines.next().await.expect("a line").expect("UTF-8");
        assert_eq!(line, format!("out {i}"));
    }
    assert!(lines.next().await.is_none());
    assert!(futures::stream::FusedStream::is_terminated(&lines));
    assert!(lines.next().await.is_none(), "stays over");
});

on_every_executor!(lines_keep_bytes_that_are_not_utf8, |_pt| async move {
    let mut lines = procession::cmd!("printf", "a\\377\\nb\\n").lines_async();
    let Some(Err(Error::NotUtf8(e))) = lines.next().await else {
        panic!("not UTF-8")
    };
    assert_eq!(e.bytes(), b"a\xff");
    assert_eq!(
        lines.next().await.transpose().expect("goes on"),
        Some("b".into())
    );
    assert!(lines.next().await.is_none());
});

on_every_executor!(events_in_arrival_order_then_exit, |pt| async move {
    // One line every 20 ms, alternating stdout and stderr.
    let events: Vec<Event> = pt_in(pt)
        .args(["lines", "6", "20"])
        .events_async()
        .map(|e| e.expect("an event"))
        .collect()
        .await;
    let mut expected: Vec<Event> = (0..6)
        .map(|i| match i % 2 {
            0 => Event::Stdout(format!("out {i}")),
            _ => Event::Stderr(format!("err {i}")),
        })
        .collect();
    let Some(Event::Exit(status)) = events.last() else {
        panic!("no exit: {events:?}")
    };
    assert!(status.success());
    expected.push(events[6].clone());
    assert_eq!(events, expected);

    let mut events = pt_in(pt).args(["exit", "3"]).events_async();
    let err = events.next().await.expect("an item").expect_err("fails");
    assert_eq!(err.status().and_then(|s| s.code()), Some(3));
    assert!(events.next().await.is_none());
});

on_every_executor!(lines_of_a_pipeline, |pt| async move {
    let lines: Vec<String> = pt_in(pt)
        .args(["lines", "9"])
        .stderr_null()
        .pipe(pt_in(pt).arg("cat"))
        .lines_async()
        .map(|l| l.expect("a line"))
        .collect()
        .await;
    assert_eq!(lines, ["out 0", "out 2", "out 4", "out 6", "out 8"]);
});

on_every_executor!(overlong_line_comes_in_pieces, |pt| async move {
    // 10,000 bytes in one line, handed out in pieces of at most 4,096.
    let mut lines = pt_in(pt)
        .args(["long-line", "0123456789", "1000"])
        .lines_async()
        .max_line(4096);
    let mut whole = String::new();
    loop {
        let Some(Err(Error::LineTooLong(piece))) = lines.next().await else {
            panic!("a piece")
        };
        assert!(piece.bytes().len() <= 4096);
        whole += piece.text().expect("UTF-8");
        if piece.ends_line() {
            break;
        }
    }
    assert_eq!(whole, "0123456789".repeat(1000));
    assert!(lines.next().await.is_none());
});

on_every_executor!(timeout_ends_a_stream, |pt| async move {
    let started = Instant::now();
    let mut lines = pt_in(pt)
        .args(["grandchild", "30", "1", "--hold", "30"])
        .timeout(Duration::from_millis(200))
        .lines_async();
    let grandchild: u32 = lines
        .next()
        .await
        .expect("a line")
        .expect("the grandchild's pid")
        .parse()
        .expect("a pid");
    let err = lines.next().await.expect("an item").expect_err("times out");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert!(lines.next().await.is_none());
    assert!(started.elapsed() < HANG);
    assert!(!procfs::is_live(grandchild), "the grandchild survived");
});

on_every_executor!(spawn_error_is_the_first_and_last_item, |_pt| async move {
    let mut lines = Command::new("/nonexistent/program").lines_async();
    let err = lines
        .next()
        .await
        .expect("an item")
        .expect_err("cannot spawn");
    assert!(matches!(err, Error::Spawn(_)), "{err}");
    assert!(lines.next().await.is_none());

    let mut events = procession::cmd!("true").stdin_pipe().events_async();
    let err = events.next().await.expect("an item").expect_err("invalid");
    let Error::InvalidInput(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(*e.problem(), InvalidInput::StdinPipeNeedsStart);
    assert!(events.next().await.is_none());
});

/// Tells apart the `pt yes` of each executor's run of a test.
static TAGS: AtomicUsize = AtomicUsize::new(0);

/// The child of this process whose command line holds `arg`.
fn child_with_arg(arg: &str) -> Option<u32> {
    procfs::children().into_iter().find_map(|(pid, _)| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        cmdline
            .split(|b| *b == 0)
            .any(|a| a == arg.as_bytes())
            .then_some(pid)
    })
}

/// The bytes `pid` has written so far (`wchar` of `/proc/PID/io`).
fn written(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|n| n.parse().ok())
        .expect("a wchar line")
}

on_every_executor!(
    slow_consumer_pauses_the_child_not_the_loop,
    |pt| async move {
        let tag = format!("slow-{}", TAGS.fetch_add(1, Ordering::SeqCst));
        let mut lines = pt_in(pt).args(["yes", &tag]).lines_async();
        assert_eq!(lines.next().await.expect("a line").expect("UTF-8"), tag);
        let pid = child_with_arg(&tag).expect("pt yes is our child");
        // Without polling the stream, other commands run to their end on the
        // background thread, and `pt yes` comes to a stop: its writes stay
        // the same across three of those runs in a row.
        let deadline = Instant::now() + HANG;
        let mut same = 0;
        while same < 3 {
            assert!(Instant::now() < deadline, "pt yes was never paused");
            let before = written(pid);
            let text = pt_in(pt).args(["echo", "other"]).read_async().await;
            assert_eq!(text.expect("runs"), "other");
            same = if written(pid) == before { same + 1 } else { 0 };
        }
        let paused_at = written(pid);
        assert!(
            paused_at <= 4 << 20,
            "{paused_at} bytes written before the pause"
        );
        // Polling again takes everything, in order, and the child goes on
        // past where it was paused.
        let mut taken = 0;
        while taken <= 2 * paused_at {
            let line = lines.next().await.expect("a line").expect("UTF-8");
            assert_eq!(line, tag);
            taken += line.len() as u64 + 1;
        }
        drop(lines);
        assert!(
            procfs::eventually(HANG, || !procfs::is_live(pid)),
            "pt yes survived the drop"
        );
    }
);

/// `next()` is cancel-safe: in a `select!` loop against a fast ticker, most
/// `next()` futures are dropped before a line comes, and no line is lost.
#[test]
fn next_in_a_select_loop_loses_no_line() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // One line every 20 ms, stdout and stderr in turn.
        let mut events = Command::new(support::pt())
            .args(["lines", "10", "20"])
            .events_async();
        let mut ticker = tokio::time::interval(Duration::from_millis(2));
        let (mut got, mut ticks) = (Vec::new(), 0);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(event) => got.push(event.expect("an event")),
                    None => break,
                },
                _ = ticker.tick() => ticks += 1,
            }
        }
        assert!(ticks > 10, "the ticker won {ticks} times");
        let lines: Vec<String> = got
            .iter()
            .filter_map(|e| match e {
                Event::Stdout(l) | Event::Stderr(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        let expected: Vec<String> = (0..10)
            .map(|i| format!("{} {i}", if i % 2 == 0 { "out" } else { "err" }))
            .collect();
        assert_eq!(lines, expected);
        assert!(matches!(got.last(), Some(Event::Exit(s)) if s.success()));
    });
}
