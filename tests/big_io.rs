//! Large streams: no size of stdin, stdout or stderr deadlocks a run, every
//! byte arrives intact, and a capture limit keeps only what it should.
//!
//! Environment:
//! - `PROCESSION_R1_BYTES`: N, the bytes written to stdin and read back from
//!   both stdout and stderr (sizes like `64M`). Default 16M in a debug build,
//!   256M in a release build; CI sets 64M.

mod support;

use procession::Keep;
use support::pt_cmd;

/// N, from `PROCESSION_R1_BYTES`.
fn r1_bytes() -> usize {
    let default = if cfg!(debug_assertions) {
        16 << 20
    } else {
        256 << 20
    };
    support::env_usize("PROCESSION_R1_BYTES", default)
}

/// `pattern(total)[total - len..]`, without building the whole pattern.
fn pattern_tail(total: usize, len: usize) -> Vec<u8> {
    (total - len..total).map(|i| (i % 251) as u8).collect()
}

/// Where `data` first differs from the pattern, for a readable failure.
fn first_mismatch(data: &[u8]) -> Option<usize> {
    data.iter()
        .enumerate()
        .position(|(i, &b)| b != (i % 251) as u8)
}

fn assert_pattern(data: &[u8], len: usize, what: &str) {
    assert_eq!(data.len(), len, "{what}: length");
    assert_eq!(first_mismatch(data), None, "{what}: first wrong byte");
}

/// R1: N bytes in while N come out of stdout and N out of stderr at once.
/// A runner that wrote all of stdin before reading would deadlock here.
#[test]
fn r1_stdin_to_stdout_and_stderr_at_once() {
    let n = r1_bytes();
    eprintln!("PROCESSION_R1_BYTES = {n}");
    let out = pt_cmd(["tee2"])
        .stdin_bytes(support::pattern(n))
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap();
    assert!(out.status.success());
    assert_pattern(&out.stdout, n, "stdout");
    assert_pattern(&out.stderr, n, "stderr");
    assert!(!out.stdout_truncated && !out.stderr_truncated && !out.incomplete);
}

#[test]
fn large_stdin_is_verified_by_the_child() {
    let n = r1_bytes();
    let out = pt_cmd(["verify", &n.to_string()])
        .stdin_bytes(support::pattern(n))
        .stderr_capture()
        .run()
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_lossy());
}

#[test]
fn large_stderr_alone_with_stdout_discarded() {
    let n = r1_bytes();
    let out = pt_cmd(["write", "0", &n.to_string()])
        .stdout_null()
        .stderr_capture()
        .run()
        .unwrap();
    assert!(out.stdout.is_empty());
    assert_pattern(&out.stderr, n, "stderr");
}

#[test]
fn large_stream_into_null_while_the_other_is_captured() {
    let n = r1_bytes();
    let out = pt_cmd(["write", &n.to_string(), "1000"])
        .stdout_null()
        .stderr_capture()
        .run()
        .unwrap();
    assert!(out.stdout.is_empty());
    assert_pattern(&out.stderr, 1000, "stderr");
}

#[test]
fn capture_limit_over_a_large_stream_keeps_the_tail() {
    let n = r1_bytes();
    let limit = 64 * 1024 + 17;
    let out = pt_cmd(["write", &n.to_string(), &n.to_string()])
        .stdout_capture_limit(limit, Keep::Tail)
        .stderr_capture_limit(100, Keep::Tail)
        .run()
        .unwrap();
    assert_eq!(out.stdout, pattern_tail(n, limit));
    assert_eq!(out.stderr, pattern_tail(n, 100));
    assert!(out.stdout_truncated && out.stderr_truncated);
}

#[test]
fn capture_limit_over_a_large_stream_keeps_the_head() {
    let n = r1_bytes();
    let limit = 64 * 1024 + 17;
    let out = pt_cmd(["write", &n.to_string(), &n.to_string()])
        .stdout_capture_limit(limit, Keep::Head)
        .stderr_capture_limit(0, Keep::Head)
        .run()
        .unwrap();
    assert_pattern(&out.stdout, limit, "stdout head");
    assert!(out.stderr.is_empty());
    assert!(out.stdout_truncated && out.stderr_truncated);
}

#[test]
fn large_read_bytes_round_trip() {
    let n = r1_bytes();
    let bytes = pt_cmd(["write", &n.to_string()]).read_bytes().unwrap();
    assert_pattern(&bytes, n, "read_bytes");
}
