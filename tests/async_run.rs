//! The async twins of the run modes (`run_async`, `read*_async`,
//! `start_async`, `Handle::wait_async`, `handle.await`,
//! `take_stdin_async`) on every executor: the same semantics as the
//! blocking API (checked errors with the stderr tail, pipelines' per-stage
//! status, timeouts, cancel tokens, capture limits, typed input errors).

mod support;
#[macro_use]
#[path = "support/executors.rs"]
mod executors;

use std::time::Duration;

use procession::{CancelToken, Command, Error, InvalidInput, Keep};

fn pt_in(pt: &std::path::Path) -> Command {
    Command::new(pt)
}

on_every_executor!(run_captures_stdout_and_stderr, |pt| async move {
    let out = pt_in(pt)
        .args(["write", "100000", "3000"])
        .stdout_capture()
        .stderr_capture()
        .run_async()
        .await
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 100_000);
    assert!(support::is_pattern(&out.stdout));
    assert_eq!(out.stderr.len(), 3000);
});

on_every_executor!(run_failure_has_status_and_stderr_tail, |pt| async move {
    let err = pt_in(pt)
        .args(["fail", "3", "it broke"])
        .stderr_capture()
        .run_async()
        .await
        .expect_err("fails");
    assert!(matches!(err, Error::Exit(_)), "{err}");
    assert_eq!(err.status().and_then(|s| s.code()), Some(3));
    assert!(err.to_string().ends_with("it broke"), "{err}");
});

on_every_executor!(read_trims_newlines, |pt| async move {
    let text = pt_in(pt).args(["echo", "a", "b"]).read_async().await;
    assert_eq!(text.expect("reads"), "a b");
});

on_every_executor!(read_not_utf8_keeps_bytes, |_pt| async move {
    let err = procession::cmd!("printf", "a\\377")
        .read_async()
        .await
        .expect_err("not UTF-8");
    let Error::NotUtf8(e) = err else {
        panic!("{err}")
    };
    assert_eq!(e.bytes(), b"a\xff");
});

on_every_executor!(read_bytes_and_read_lossy, |_pt| async move {
    let cmd = procession::cmd!("printf", "a\\377\\n");
    assert_eq!(cmd.read_bytes_async().await.expect("reads"), b"a\xff\n");
    assert_eq!(cmd.read_lossy_async().await.expect("reads"), "a\u{FFFD}");
});

on_every_executor!(pipeline_reports_each_stage_status, |pt| async move {
    let err = pt_in(pt)
        .args(["exit", "4"])
        .pipe(pt_in(pt).args(["echo", "last"]))
        .stdout_capture()
        .run_async()
        .await
        .expect_err("pipefail");
    let out = err.output().expect("an exit error keeps the output");
    let codes: Vec<_> = out.stages.iter().map(|s| s.status.code()).collect();
    assert_eq!(codes, [Some(4), Some(0)]);
    assert_eq!(out.stdout, b"last\n");
});

on_every_executor!(timeout_stops_the_tree, |pt| async move {
    let started = std::time::Instant::now();
    let err = pt_in(pt)
        .args(["grandchild", "30", "1", "--hold", "30"])
        .stdout_capture()
        .timeout(Duration::from_millis(200))
        .run_async()
        .await
        .expect_err("times out");
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "did not hang");
    let out = err.output().expect("a timeout keeps the output");
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 1);
    assert!(
        support::procfs::eventually(Duration::from_secs(10), || !support::procfs::is_live(
            pids[0]
        )),
        "the grandchild {} survived the timeout",
        pids[0]
    );
});

on_every_executor!(cancel_token_cancels_a_run, |pt| async move {
    let token = CancelToken::new();
    let run = pt_in(pt)
        .args(["sleep", "30"])
        .cancel_on(&token)
        .run_async();
    let canceller = token.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    let err = run.await.expect_err("cancelled");
    assert!(matches!(err, Error::Cancelled(_)), "{err}");
});

on_every_executor!(capture_limit_keeps_the_tail, |pt| async move {
    let out = pt_in(pt)
        .args(["write", "100000"])
        .stdout_capture_limit(1000, Keep::Tail)
        .run_async()
        .await
        .expect("runs");
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
});

on_every_executor!(spawn_error_is_the_output, |_pt| async move {
    let err = Command::new("/nonexistent/procession-test-program")
        .run_async()
        .await
        .expect_err("cannot spawn");
    assert!(matches!(err, Error::Spawn(_)), "{err}");
});

on_every_executor!(
    stdin_pipe_with_run_async_is_invalid_input,
    |pt| async move {
        let err = pt_in(pt)
            .arg("cat")
            .stdin_pipe()
            .run_async()
            .await
            .expect_err("needs start");
        let Error::InvalidInput(e) = &err else {
            panic!("{err}")
        };
        assert_eq!(*e.problem(), InvalidInput::StdinPipeNeedsStart);
    }
);

on_every_executor!(start_then_wait_async_twice, |pt| async move {
    let handle = pt_in(pt)
        .args(["echo", "once"])
        .stdout_capture()
        .start()
        .expect("starts");
    let (a, b) = futures::join!(handle.wait_async(), handle.wait_async());
    assert_eq!(a.expect("runs").stdout, b"once\n");
    assert_eq!(b.expect("runs").stdout, b"once\n");
    assert_eq!(handle.wait_async().await.expect("runs").stdout, b"once\n");
});

on_every_executor!(start_async_resolves_to_a_handle, |pt| async move {
    let handle = pt_in(pt)
        .args(["lines", "3"])
        .stdout_capture()
        .stderr_capture()
        .start_async()
        .await
        .expect("starts");
    assert!(handle.pid() > 0);
    assert_eq!(
        handle.wait_async().await.expect("runs").stdout,
        b"out 0\nout 2\n"
    );
    // By value: the owned output.
    let out: procession::Output = handle.await.expect("runs");
    assert_eq!(out.stderr, b"err 1\n");

    let failing = pt_in(pt).args(["fail", "5", "bad"]).stderr_capture();
    let err = failing
        .start_async()
        .await
        .expect("starts")
        .await
        .expect_err("fails");
    assert_eq!(err.status().and_then(|s| s.code()), Some(5));
    assert!(err.to_string().ends_with("bad"), "{err}");

    let err = Command::new("/nonexistent/procession-test-program")
        .start_async()
        .await
        .expect_err("cannot spawn");
    assert!(matches!(err, Error::Spawn(_)), "{err}");
});

on_every_executor!(async_stdin_writes_4_mib_to_cat, |pt| async move {
    use futures::AsyncWriteExt;
    let handle = pt_in(pt)
        .arg("cat")
        .stdin_pipe()
        .stdout_capture()
        .start_async()
        .await
        .expect("starts");
    let mut stdin = handle.take_stdin_async().expect("a stdin pipe");
    assert!(handle.take_stdin_async().is_none(), "taken already");
    let data = support::pattern(4 << 20);
    // Far more than a pipe holds: the writes wait for room many times.
    stdin.write_all(&data).await.expect("writes");
    stdin.close().await.expect("closes");
    let out = handle.await.expect("cat ends at end of file");
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "the bytes came back changed");
});

on_every_executor!(async_stdin_to_a_command_that_left, |pt| async move {
    use futures::AsyncWriteExt;
    let handle = pt_in(pt)
        .args(["exit", "0"])
        .stdin_pipe()
        .start_async()
        .await
        .expect("starts");
    let mut stdin = handle.take_stdin_async().expect("a stdin pipe");
    handle.wait_async().await.expect("exits");
    let err = stdin
        .write_all(&support::pattern(1 << 20))
        .await
        .expect_err("nobody reads");
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
});

/// `async-executor` (smol's `Executor`) with several tasks at once.
#[test]
fn many_runs_on_async_executor() {
    let executor = smol::Executor::new();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            executor.spawn(
                Command::new(support::pt())
                    .args(["echo", &i.to_string()])
                    .read_async(),
            )
        })
        .collect();
    smol::block_on(executor.run(async {
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.expect("reads"), i.to_string());
        }
    }));
}
