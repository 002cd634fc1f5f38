//! Every builder option of [`procession::Command`], and every run mode,
//! through real child processes (the `pt` helper).
//!
//! Covered: arguments (byte-exact, non-UTF-8, spaces and quotes), secret
//! arguments, the environment (`env`, `envs`, `env_remove`, `env_clear`, a
//! changed `PATH` with a bare program name), the working directory, every
//! stdin source, every stdout/stderr target and route, the run modes (`run`,
//! `read`, `read_lossy`, `read_bytes`, `start`, `lines`, `events`), and the
//! checked-by-default error rules (`Error::Exit`, signals, `unchecked`,
//! `ok_codes`, `Display`, `source()`, `Clone`), and std's settings (`arg0`,
//! `uid`, `gid`, `new_session`, the `before_spawn` hook).
//!
//! No environment variables tune this file. One test re-runs this test binary
//! with `PROCESSION_TEST_PATH_CHILD=1` and `pt`'s directory on `PATH` (see
//! `env_clear_then_bare_name_uses_our_path`); run as root, another re-runs it
//! as `nobody` with `PROCESSION_TEST_NOBODY_CHILD=1` (see
//! `uid_that_may_not_be_switched_to_is_a_clear_spawn_error`).

mod support;

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use procession::{Command, Error, Event, Keep, SpawnFailure, cmd};
use support::{procfs, pt_cmd};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "procession-command-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `pt` under a name of its own (a symlink in `dir`), so that its processes
/// can be told from every other test's, even as zombies: the kernel names a
/// process (`/proc/PID/comm`, kept by a zombie) after the file it ran. The
/// name is at most 15 bytes, the length the kernel keeps.
fn marked_pt(dir: &TempDir, tag: &str) -> (PathBuf, String) {
    let name = format!("pt{tag}{}", std::process::id());
    assert!(name.len() <= 15, "{name} is too long for a process name");
    let path = dir.join(&name);
    std::os::unix::fs::symlink(support::pt(), &path).expect("symlink pt");
    (path, name)
}

/// The children of this process, live or zombie, named `name`.
fn children_named(name: &str) -> Vec<(u32, char)> {
    procfs::children()
        .into_iter()
        .filter(|(pid, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .collect()
}

/// The `argv` output `pt argv` prints for `args`: each argument, then NUL.
fn argv_bytes(args: &[&[u8]]) -> Vec<u8> {
    args.iter()
        .flat_map(|a| a.iter().copied().chain([0]))
        .collect()
}

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

#[test]
fn arguments_reach_the_child_byte_exact() {
    let args: [&[u8]; 9] = [
        b"plain",
        b"",
        b"with space",
        b"  leading and trailing  ",
        br#"it's "quoted" \back\slash"#,
        b"$HOME * ~ ; | & > <",
        b"caf\xe9 \xff\xfe",
        b"tab\there\nnewline",
        "unicode \u{2603}".as_bytes(),
    ];
    let os_args: Vec<&OsStr> = args.iter().map(|a| OsStr::from_bytes(a)).collect();
    let got = pt_cmd(["argv"]).args(os_args).read_bytes().unwrap();
    assert_eq!(got, argv_bytes(&args));
}

#[test]
fn arg_and_args_and_the_macro_agree() {
    let one_by_one = pt_cmd(["argv"]).arg("a").arg("b c").arg("d");
    let all_at_once = pt_cmd(["argv", "a", "b c", "d"]);
    let by_macro = cmd!(support::pt(), "argv", "a", "b c", "d");
    let want = argv_bytes(&[b"a", b"b c", b"d"]);
    for c in [one_by_one, all_at_once, by_macro] {
        assert_eq!(c.read_bytes().unwrap(), want, "{c}");
    }
}

#[test]
fn display_quotes_arguments_like_a_shell() {
    let c = Command::new("prog").args(["a b", "it's", "", "plain-1.0"]);
    assert_eq!(c.to_string(), r"prog 'a b' 'it'\''s' '' plain-1.0");
    assert_eq!(format!("{c:?}"), format!("Command({:?})", c.to_string()));
}

#[test]
fn secret_argument_is_delivered_but_never_shown() {
    let secret = "hunter2-secret";
    let c = pt_cmd(["argv", "--token"]).arg_secret(secret);
    assert_eq!(
        c.read_bytes().unwrap(),
        argv_bytes(&[b"--token", secret.as_bytes()])
    );
    assert!(c.to_string().ends_with("argv --token '***'"), "{c}");
    assert!(!c.to_string().contains(secret));
    assert!(!format!("{c:?}").contains(secret));
    assert!(!c.command_line().contains(secret));
}

#[test]
fn secret_argument_is_redacted_in_errors() {
    let secret = "hunter2-secret";
    // stderr is discarded: `pt fail` echoes its message, which holds the
    // secret, and the child's own words are not ours to redact.
    let exit = pt_cmd(["fail", "3", "denied"])
        .arg_secret(secret)
        .stderr_null()
        .run()
        .unwrap_err();
    let missing = Command::new("procession-no-such-program")
        .arg_secret(secret)
        .run()
        .unwrap_err();
    let invalid = pt_cmd(["argv", "a\0b"])
        .arg_secret(secret)
        .run()
        .unwrap_err();
    assert!(matches!(exit, Error::Exit(_)), "{exit:?}");
    assert!(matches!(missing, Error::Spawn(_)), "{missing:?}");
    assert!(matches!(invalid, Error::InvalidInput(_)), "{invalid:?}");
    for err in [exit, missing, invalid] {
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        assert!(shown.contains("'***'"), "{shown}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(!debug.contains(secret), "{debug}");
    }
}

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

#[test]
fn env_and_envs_set_variables() {
    let out = pt_cmd(["env", "PROCESSION_A", "PROCESSION_B", "PROCESSION_C"])
        .env("PROCESSION_A", "1=one")
        .envs([("PROCESSION_B", "two words"), ("PROCESSION_C", "")])
        .read()
        .unwrap();
    assert_eq!(
        out,
        "PROCESSION_A=1=one\nPROCESSION_B=two words\nPROCESSION_C="
    );
}

#[test]
fn env_later_setting_wins_and_remove_applies_in_order() {
    let out = pt_cmd(["env", "PROCESSION_A", "PROCESSION_B"])
        .env("PROCESSION_A", "first")
        .env("PROCESSION_A", "second")
        .env("PROCESSION_B", "set")
        .env_remove("PROCESSION_B")
        .read()
        .unwrap();
    assert_eq!(out, "PROCESSION_A=second");
}

#[test]
fn env_is_inherited_and_env_remove_removes_an_inherited_variable() {
    let ours = std::env::var_os("PATH").expect("the test runs with a PATH");
    let inherited = pt_cmd(["env", "PATH"]).read_bytes().unwrap();
    let mut want = b"PATH=".to_vec();
    want.extend_from_slice(ours.as_bytes());
    want.push(b'\n');
    assert_eq!(inherited, want);
    assert_eq!(
        pt_cmd(["env", "PATH"]).env_remove("PATH").read().unwrap(),
        ""
    );
}

#[test]
fn env_clear_starts_empty_and_keeps_later_settings() {
    let out = pt_cmd(["env"])
        .env("PROCESSION_BEFORE", "dropped")
        .env_clear()
        .env("PROCESSION_AFTER", "kept")
        .read()
        .unwrap();
    assert_eq!(out, "PROCESSION_AFTER=kept");
}

#[test]
fn env_non_utf8_value_reaches_the_child() {
    let value = OsStr::from_bytes(b"caf\xe9");
    let out = pt_cmd(["env", "PROCESSION_RAW"])
        .env("PROCESSION_RAW", value)
        .read_bytes()
        .unwrap();
    assert_eq!(out, b"PROCESSION_RAW=caf\xe9\n");
}

#[test]
fn changed_path_finds_a_bare_program_name() {
    let bin = support::bin_dir();
    let missing = std::env::temp_dir().join("procession-surely-missing-dir");
    let path = std::env::join_paths([missing.as_path(), bin]).unwrap();
    let out = Command::new("pt")
        .args(["echo", "found"])
        .env("PATH", &path)
        .read()
        .unwrap();
    assert_eq!(out, "found");
    // The child sees the PATH it was given.
    let seen = Command::new("pt")
        .args(["env", "PATH"])
        .env("PATH", &path)
        .read_bytes()
        .unwrap();
    assert_eq!(seen, [b"PATH=", path.as_bytes(), b"\n"].concat());
}

#[test]
fn changed_path_without_the_program_is_not_found() {
    let err = Command::new("pt")
        .arg("echo")
        .env("PATH", std::env::temp_dir())
        .run()
        .unwrap_err();
    match &err {
        Error::Spawn(e) => assert_eq!(e.failure(), SpawnFailure::NotFound),
        other => panic!("expected a spawn error, got {other:?}"),
    }
    assert!(
        err.to_string().contains("\"pt\" was not found on PATH"),
        "{err}"
    );
}

/// Set in the environment of the re-run of this binary, whose `PATH` holds
/// `pt`'s directory.
const PATH_CHILD_VAR: &str = "PROCESSION_TEST_PATH_CHILD";

/// Documented in `src/spawn.rs`: "A child without PATH gets the lookup of
/// ours". Our `PATH` cannot be changed without `unsafe`, so this re-runs the
/// test binary with `pt` on its `PATH` and runs the ignored test below there.
#[test]
fn env_clear_then_bare_name_uses_our_path() {
    let exe = std::env::current_exe().unwrap();
    let ours = std::env::var_os("PATH").unwrap_or_default();
    let mut entries = vec![support::bin_dir().to_path_buf()];
    entries.extend(std::env::split_paths(&ours));
    let path = std::env::join_paths(entries).unwrap();
    let child_test = "bare_name_resolves_after_env_clear";
    let out = Command::new(exe)
        .args([child_test, "--exact", "--ignored", "--test-threads=1"])
        .env("PATH", path)
        .env(PATH_CHILD_VAR, "1")
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap_or_else(|e| panic!("the re-run failed: {e}"));
    let report = out.stdout_lossy();
    assert!(report.contains("1 passed"), "{report}");
}

#[test]
#[ignore = "run by env_clear_then_bare_name_uses_our_path, with pt on PATH"]
fn bare_name_resolves_after_env_clear() {
    assert_eq!(
        std::env::var_os(PATH_CHILD_VAR).as_deref(),
        Some(OsStr::new("1")),
        "run this through env_clear_then_bare_name_uses_our_path"
    );
    // The child has no PATH at all, yet `pt` is found on ours.
    let out = Command::new("pt").arg("env").env_clear().read().unwrap();
    assert_eq!(out, "");
    let out = Command::new("pt")
        .args(["env", "PATH"])
        .env_remove("PATH")
        .read()
        .unwrap();
    assert_eq!(out, "");
}

// ---------------------------------------------------------------------------
// Working directory
// ---------------------------------------------------------------------------

#[test]
fn dir_sets_the_working_directory() {
    let tmp = TempDir::new("dir");
    let out = pt_cmd(["pwd"]).dir(tmp.path()).read().unwrap();
    let printed = PathBuf::from(out).canonicalize().unwrap();
    assert_eq!(printed, tmp.path().canonicalize().unwrap());
}

#[test]
fn relative_program_path_is_resolved_against_dir() {
    let bin = support::bin_dir();
    let out = Command::new("./pt")
        .args(["echo", "here"])
        .dir(bin)
        .read()
        .unwrap();
    assert_eq!(out, "here");
    let parent = bin.parent().unwrap();
    let relative = Path::new(bin.file_name().unwrap()).join("pt");
    let out = Command::new(relative)
        .arg("pwd")
        .dir(parent)
        .read()
        .unwrap();
    assert_eq!(
        PathBuf::from(out).canonicalize().unwrap(),
        parent.canonicalize().unwrap()
    );
}

#[test]
fn relative_program_path_is_not_looked_up_on_path() {
    let err = Command::new("./pt")
        .dir(std::env::temp_dir())
        .run()
        .unwrap_err();
    match &err {
        Error::Spawn(e) => assert_eq!(e.failure(), SpawnFailure::NotFound),
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// stdin
// ---------------------------------------------------------------------------

#[test]
fn stdin_null_is_empty() {
    assert_eq!(pt_cmd(["count"]).stdin_null().read().unwrap(), "0");
}

#[test]
fn stdin_inherit_runs() {
    // What the test harness gives as stdin is unknown: only that it runs.
    let out = pt_cmd(["exit", "0"]).stdin_inherit().run().unwrap();
    assert!(out.status.success());
}

#[test]
fn stdin_bytes_are_written_exactly() {
    let data = b"line one\nline two\0\xff".to_vec();
    assert_eq!(
        pt_cmd(["cat"])
            .stdin_bytes(data.clone())
            .read_bytes()
            .unwrap(),
        data
    );
    assert_eq!(
        pt_cmd(["count"]).stdin_bytes(Vec::new()).read().unwrap(),
        "0"
    );
}

#[test]
fn stdin_file_shares_the_file_position_across_runs() {
    let tmp = TempDir::new("stdin-file");
    let path = tmp.join("input");
    std::fs::write(&path, b"from a file").unwrap();
    let c = pt_cmd(["cat"]).stdin_file(File::open(&path).unwrap());
    assert_eq!(c.read().unwrap(), "from a file");
    // Documented: every run duplicates the one descriptor, so the second run
    // starts where the first left off: at the end.
    assert_eq!(c.read().unwrap(), "");
}

#[test]
fn stdin_path_is_opened_at_each_run() {
    let tmp = TempDir::new("stdin-path");
    let path = tmp.join("input");
    std::fs::write(&path, b"first").unwrap();
    let c = pt_cmd(["cat"]).stdin_path(&path);
    assert_eq!(c.read().unwrap(), "first");
    std::fs::write(&path, b"second").unwrap();
    assert_eq!(c.read().unwrap(), "second");
}

#[test]
fn stdin_pipe_streams_to_a_started_child() {
    let handle = pt_cmd(["cat"])
        .stdin_pipe()
        .stdout_capture()
        .start()
        .unwrap();
    let mut stdin = handle.take_stdin().expect("a pipe");
    assert!(handle.take_stdin().is_none(), "taken twice");
    stdin.write_all(b"streamed ").unwrap();
    stdin.write_all(b"in parts").unwrap();
    drop(stdin);
    assert_eq!(handle.wait().unwrap().stdout, b"streamed in parts");
}

#[test]
fn take_stdin_is_none_without_stdin_pipe() {
    let handle = pt_cmd(["exit", "0"]).stdin_null().start().unwrap();
    assert!(handle.take_stdin().is_none());
    assert!(handle.wait().unwrap().status.success());
}

// ---------------------------------------------------------------------------
// stdout and stderr targets
// ---------------------------------------------------------------------------

#[test]
fn stdout_and_stderr_inherit_run() {
    // The child writes nothing, so the test output stays clean: this only
    // shows that inheriting works and captures nothing.
    let out = pt_cmd(["write", "0", "0"])
        .stdout_inherit()
        .stderr_inherit()
        .run()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn null_discards_and_capture_keeps_each_stream() {
    let out = pt_cmd(["write", "100000", "200000"])
        .stdout_null()
        .stderr_capture()
        .run()
        .unwrap();
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr, support::pattern(200_000));
    let out = pt_cmd(["write", "100000", "200000"])
        .stdout_capture()
        .stderr_null()
        .run()
        .unwrap();
    assert_eq!(out.stdout, support::pattern(100_000));
    assert!(out.stderr.is_empty());
    assert!(!out.stdout_truncated && !out.stderr_truncated);
}

#[test]
fn capture_limit_keeps_the_head() {
    let out = pt_cmd(["write", "100000", "50000"])
        .stdout_capture_limit(1000, Keep::Head)
        .stderr_capture_limit(7, Keep::Head)
        .run()
        .unwrap();
    assert_eq!(out.stdout, support::pattern(1000));
    assert_eq!(out.stderr, support::pattern(7));
    assert!(out.stdout_truncated && out.stderr_truncated);
}

#[test]
fn capture_limit_keeps_the_tail() {
    let out = pt_cmd(["write", "100000", "50000"])
        .stdout_capture_limit(1000, Keep::Tail)
        .stderr_capture_limit(7, Keep::Tail)
        .run()
        .unwrap();
    assert_eq!(out.stdout, support::pattern(100_000)[99_000..]);
    assert_eq!(out.stderr, support::pattern(50_000)[49_993..]);
    assert!(out.stdout_truncated && out.stderr_truncated);
}

#[test]
fn capture_limit_not_reached_is_not_truncated() {
    for keep in [Keep::Head, Keep::Tail] {
        let out = pt_cmd(["write", "1000", "1000"])
            .stdout_capture_limit(1000, keep)
            .stderr_capture_limit(5000, keep)
            .run()
            .unwrap();
        assert_eq!(out.stdout, support::pattern(1000), "{keep:?}");
        assert_eq!(out.stderr, support::pattern(1000), "{keep:?}");
        assert!(!out.stdout_truncated && !out.stderr_truncated, "{keep:?}");
    }
}

#[test]
fn stdout_and_stderr_to_open_files() {
    let tmp = TempDir::new("files");
    let (out_path, err_path) = (tmp.join("out"), tmp.join("err"));
    pt_cmd(["lines", "4"])
        .stdout_file(File::create(&out_path).unwrap())
        .stderr_file(File::create(&err_path).unwrap())
        .run()
        .unwrap();
    assert_eq!(std::fs::read(&out_path).unwrap(), b"out 0\nout 2\n");
    assert_eq!(std::fs::read(&err_path).unwrap(), b"err 1\nerr 3\n");
}

/// A file opened without `FD_CLOEXEC`, as C code or an inherited descriptor
/// would have it.
fn inheritable(path: &Path, write: bool) -> File {
    let file = if write {
        File::create(path)
    } else {
        File::open(path)
    }
    .unwrap();
    rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty()).unwrap();
    file
}

#[test]
fn files_handed_in_reach_children_only_as_their_stdio() {
    let tmp = TempDir::new("fds");
    let (input, out, err) = (tmp.join("in"), tmp.join("out"), tmp.join("err"));
    std::fs::write(&input, b"").unwrap();
    // What a child has open without any file handed in: 0, 1 and 2, and
    // whatever this test process itself inherited without FD_CLOEXEC.
    let baseline = pt_cmd(["fds"]).stdin_null().read().unwrap() + "\n";
    assert!(baseline.starts_with("fds: 0 1 2"), "{baseline}");
    pt_cmd(["fds"])
        .stdin_file(inheritable(&input, false))
        .stdout_file(inheritable(&out, true))
        .stderr_file(inheritable(&err, true))
        .run()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), baseline);
    // Every stage of a pipeline.
    let output = (pt_cmd(["fds"]) | pt_cmd(["fds"]))
        .stdin_file(inheritable(&input, false))
        .stderr_file(inheritable(&err, true))
        .stdout_capture()
        .run()
        .unwrap();
    assert_eq!(output.stdout_str().unwrap(), baseline.repeat(2));
}

#[test]
fn stdout_path_truncates_at_each_run() {
    let tmp = TempDir::new("stdout-path");
    let path = tmp.join("out");
    std::fs::write(&path, b"old content that is longer than the new\n").unwrap();
    pt_cmd(["echo", "first"]).stdout_path(&path).run().unwrap();
    pt_cmd(["echo", "second"]).stdout_path(&path).run().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second\n");
}

#[test]
fn stderr_path_truncates_at_each_run() {
    let tmp = TempDir::new("stderr-path");
    let path = tmp.join("err");
    let c = |msg| pt_cmd(["fail", "0", msg]).stderr_path(&path);
    c("a longer first message").run().unwrap();
    c("second").run().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second\n");
}

#[test]
fn stdout_and_stderr_append_keep_both_runs() {
    let tmp = TempDir::new("append");
    let (out_path, err_path) = (tmp.join("out"), tmp.join("err"));
    std::fs::write(&out_path, b"existing\n").unwrap();
    for _ in 0..2 {
        pt_cmd(["lines", "2"])
            .stdout_append(&out_path)
            .stderr_append(&err_path)
            .run()
            .unwrap();
    }
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        b"existing\nout 0\nout 0\n"
    );
    assert_eq!(std::fs::read(&err_path).unwrap(), b"err 1\nerr 1\n");
}

#[test]
fn stderr_to_stdout_merges_into_one_capture() {
    let out = pt_cmd(["lines", "5"])
        .stdout_capture()
        .stderr_to_stdout()
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"out 0\nerr 1\nout 2\nerr 3\nout 4\n");
    assert!(out.stderr.is_empty());
    // `read` captures stdout, so stderr follows it there.
    let both = pt_cmd(["lines", "3"]).stderr_to_stdout().read().unwrap();
    assert_eq!(both, "out 0\nerr 1\nout 2");
}

#[test]
fn stderr_to_stdout_shares_a_path() {
    let tmp = TempDir::new("merged-path");
    let path = tmp.join("both");
    pt_cmd(["lines", "4"])
        .stdout_path(&path)
        .stderr_to_stdout()
        .run()
        .unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"out 0\nerr 1\nout 2\nerr 3\n"
    );
}

#[test]
fn stdout_to_stderr_merges_into_stderr() {
    let out = pt_cmd(["lines", "5"])
        .stderr_capture()
        .stdout_to_stderr()
        .run()
        .unwrap();
    assert_eq!(out.stderr, b"out 0\nerr 1\nout 2\nerr 3\nout 4\n");
    assert!(out.stdout.is_empty());
}

#[test]
fn swap_stdout_stderr_trades_places() {
    let out = pt_cmd(["lines", "5"])
        .stdout_capture()
        .stderr_capture_limit(1 << 20, Keep::Head)
        .swap_stdout_stderr()
        .run()
        .unwrap();
    assert_eq!(out.stdout, b"err 1\nerr 3\n");
    assert_eq!(out.stderr, b"out 0\nout 2\nout 4\n");
}

#[test]
fn routes_apply_whatever_the_call_order() {
    let tmp = TempDir::new("order");
    let route_first = pt_cmd(["lines", "4"]).stderr_to_stdout().stdout_capture();
    let route_last = pt_cmd(["lines", "4"]).stdout_capture().stderr_to_stdout();
    assert_eq!(
        route_first.run().unwrap().stdout,
        route_last.run().unwrap().stdout
    );
    assert_eq!(
        route_first.run().unwrap().stdout,
        b"out 0\nerr 1\nout 2\nerr 3\n"
    );

    let swap_first = pt_cmd(["lines", "3"])
        .swap_stdout_stderr()
        .stderr_capture()
        .stdout_null();
    // The swap happens after both targets are known: stdout goes to the
    // stderr capture, stderr to null.
    let out = swap_first.run().unwrap();
    assert_eq!(out.stderr, b"out 0\nout 2\n");
    assert!(out.stdout.is_empty());

    let path = tmp.join("out");
    pt_cmd(["lines", "2"])
        .stdout_to_stderr()
        .stderr_path(&path)
        .run()
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"out 0\nerr 1\n");
}

// ---------------------------------------------------------------------------
// Run modes
// ---------------------------------------------------------------------------

#[test]
fn run_returns_status_output_and_stage() {
    let out = pt_cmd(["lines", "3"])
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"out 0\nout 2\n");
    assert_eq!(out.stderr, b"err 1\n");
    assert!(!out.incomplete);
    assert_eq!(out.stages.len(), 1);
    assert!(out.stages[0].pid > 0);
    assert_eq!(out.stages[0].status, out.status);
    assert!(
        out.stages[0].command.ends_with("lines 3"),
        "{}",
        out.stages[0].command
    );
}

#[test]
fn read_trims_trailing_newlines() {
    let read = |input: &[u8]| pt_cmd(["cat"]).stdin_bytes(input.to_vec()).read().unwrap();
    assert_eq!(read(b"hi\n"), "hi");
    assert_eq!(read(b"hi\r\n"), "hi");
    assert_eq!(read(b"hi\n\n\r\n"), "hi");
    assert_eq!(read(b"a\nb\r\nc"), "a\nb\r\nc");
    assert_eq!(read(b"  spaces kept  \n"), "  spaces kept  ");
    assert_eq!(read(b""), "");
    assert_eq!(
        pt_cmd(["echo", "hello", "world"]).read().unwrap(),
        "hello world"
    );
}

#[test]
fn read_lossy_replaces_invalid_utf8() {
    let out = pt_cmd(["cat"])
        .stdin_bytes(b"caf\xe9 ok\n".to_vec())
        .read_lossy()
        .unwrap();
    assert_eq!(out, "caf\u{fffd} ok");
}

#[test]
fn read_bytes_keeps_everything() {
    let data = b"\xff\x00raw\r\n\n".to_vec();
    assert_eq!(
        pt_cmd(["cat"])
            .stdin_bytes(data.clone())
            .read_bytes()
            .unwrap(),
        data
    );
}

#[test]
fn read_fails_like_run_on_a_bad_exit() {
    let err = pt_cmd(["fail", "5", "no"])
        .stderr_capture()
        .read()
        .unwrap_err();
    assert!(matches!(err, Error::Exit(_)), "{err:?}");
    assert_eq!(err.status().and_then(|s| s.code()), Some(5));
}

#[test]
fn start_gives_pid_and_waits() {
    let handle = pt_cmd(["ppid-wait"])
        .stdin_pipe()
        .stdout_capture()
        .start()
        .unwrap();
    let stdin = handle.take_stdin().expect("a pipe");
    // The child prints its own pid and then waits for end of file.
    assert!(handle.pid() > 0);
    assert_eq!(handle.pids(), [handle.pid()]);
    assert!(handle.try_wait().unwrap().is_none());
    let start = Instant::now();
    assert!(
        handle
            .wait_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(procfs::is_live(handle.pid()));
    drop(stdin);
    let output = handle.wait().unwrap();
    assert_eq!(output.stdout, format!("{}\n", handle.pid()).as_bytes());
    assert_eq!(output.stages[0].pid, handle.pid());
    assert!(handle.try_wait().unwrap().is_some());
    assert!(handle.wait_timeout(Duration::ZERO).unwrap().is_some());
    let owned = handle.into_output().unwrap();
    assert_eq!(
        owned.stdout,
        format!("{}\n", owned.stages[0].pid).as_bytes()
    );
}

#[test]
fn start_pid_is_the_process_group() {
    let handle = pt_cmd(["pgid"]).stdout_capture().start().unwrap();
    let pid = handle.pid();
    let out = handle.into_output().unwrap();
    assert_eq!(out.stdout_str().unwrap().trim(), format!("{pid} {pid}"));
}

#[test]
fn start_reports_a_failure_from_wait() {
    let handle = pt_cmd(["fail", "4", "bad"])
        .stderr_capture()
        .start()
        .unwrap();
    let err = handle.wait().unwrap_err();
    assert_eq!(err.status().and_then(|s| s.code()), Some(4));
    // Every call returns the same result, sharing one output (no copy).
    let again = handle.wait().unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    assert!(std::ptr::eq(again.output().unwrap(), err.output().unwrap()));
    let timed_out = pt_cmd(["sleep", "30"])
        .timeout(Duration::from_millis(20))
        .start()
        .unwrap();
    let (first, second) = (timed_out.wait().unwrap_err(), timed_out.wait().unwrap_err());
    assert!(std::ptr::eq(
        first.output().unwrap(),
        second.output().unwrap()
    ));
    assert_eq!(
        handle.into_output().unwrap_err().to_string(),
        err.to_string()
    );
}

#[test]
fn lines_collects_stdout_lines() {
    let lines: Vec<String> = pt_cmd(["lines", "5"])
        .lines()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, ["out 0", "out 2", "out 4"]);
}

#[test]
fn lines_drops_carriage_returns_and_keeps_a_last_partial_line() {
    let input = b"a\r\n\nb\r\n last".to_vec();
    let lines: Vec<String> = pt_cmd(["cat"])
        .stdin_bytes(input)
        .lines()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, ["a", "", "b", " last"]);
}

#[test]
fn lines_reports_invalid_utf8_and_goes_on() {
    let input = b"good\nbad \xff\nafter\n".to_vec();
    let items: Vec<Result<String, Error>> = pt_cmd(["cat"])
        .stdin_bytes(input)
        .lines()
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap(), "good");
    match &items[1] {
        Err(Error::NotUtf8(e)) => assert_eq!(e.bytes(), b"bad \xff"),
        other => panic!("expected NotUtf8, got {other:?}"),
    }
    assert_eq!(items[2].as_ref().unwrap(), "after");
}

#[test]
fn a_long_line_of_multibyte_characters_comes_whole() {
    // 30,000 euro signs: 90,000 bytes, more than a pipe read, in one line.
    let euros = "€".repeat(30_000);
    let lines: Vec<String> = pt_cmd(["long-line", "€", "30000"])
        .lines()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(lines == [euros.clone()], "the line came back changed");
    let events: Vec<Event> = pt_cmd(["long-line", "€", "30000", "err"])
        .events()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events[0] == Event::Stderr(euros),
        "the line came back changed"
    );
}

#[test]
fn a_line_past_the_maximum_comes_in_pieces_that_say_so() {
    let euros = "€".repeat(30_000);
    for events in [false, true] {
        let items: Vec<Result<String, Error>> = if events {
            let it = pt_cmd(["long-line", "€", "30000", "err"]).events().unwrap();
            it.max_line(1000)
                .filter(|e| !matches!(e, Ok(Event::Exit(_))))
                .map(|e| e.map(|_| String::new()))
                .collect()
        } else {
            let it = pt_cmd(["long-line", "€", "30000"]).lines().unwrap();
            it.max_line(1000).collect()
        };
        let mut joined = String::new();
        for (i, item) in items.iter().enumerate() {
            let Err(Error::LineTooLong(piece)) = item else {
                panic!("{events}: item {i} is {item:?}")
            };
            assert_eq!(piece.max(), 1000);
            assert!(piece.bytes().len() <= 1000);
            assert_eq!(piece.ends_line(), i == items.len() - 1);
            assert_eq!(piece.is_stderr(), events);
            joined.push_str(piece.text().expect("cut between characters"));
        }
        assert_eq!(items.len(), 91, "{events}");
        assert!(joined == euros, "{events}: the pieces do not make the line");
        let message = items[0].as_ref().unwrap_err().to_string();
        assert!(message.contains("longer than 1000 bytes"), "{message}");
    }
}

#[test]
fn lines_of_a_failing_command_end_with_the_error() {
    let items: Vec<_> = pt_cmd(["fail", "3", "boom"])
        .stderr_capture()
        .lines()
        .unwrap()
        .collect();
    assert_eq!(items.len(), 1, "{items:?}");
    let err = items[0].as_ref().unwrap_err();
    assert!(matches!(err, Error::Exit(_)), "{err:?}");
    assert_eq!(err.status().and_then(|s| s.code()), Some(3));
    assert!(
        err.to_string().ends_with("exited with code 3: boom"),
        "{err}"
    );
}

#[test]
fn lines_then_the_error_of_a_failing_pipeline() {
    let pipeline = pt_cmd(["fail", "4", "upstream"]) | pt_cmd(["echo", "x y"]);
    let items: Vec<_> = pipeline.stderr_null().lines().unwrap().collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "x y");
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.status().and_then(|s| s.code()), Some(4));
}

#[test]
fn dropping_lines_early_kills_the_tree() {
    // The child prints its grandchild's pid, then holds on for a minute.
    let mut lines = pt_cmd(["grandchild", "60", "1", "--hold", "60"])
        .lines()
        .unwrap();
    let grandchild: u32 = lines.next().unwrap().unwrap().parse().unwrap();
    let child = procfs::stat(grandchild).expect("the grandchild runs").ppid;
    assert!(procfs::is_live(child) && procfs::is_live(grandchild));
    let start = Instant::now();
    drop(lines);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "drop took {:?}",
        start.elapsed()
    );
    assert!(
        !procfs::is_live(child),
        "the child {child} survived: {:?}",
        procfs::stat(child).map(|s| s.state)
    );
    assert!(
        !procfs::is_live(grandchild),
        "the grandchild {grandchild} survived"
    );
}

#[test]
fn events_come_in_arrival_order_then_the_exit() {
    // 50 ms between lines makes the order deterministic.
    let events: Vec<Event> = pt_cmd(["lines", "5", "50"])
        .events()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        Event::Stdout("out 0".into()),
        Event::Stderr("err 1".into()),
        Event::Stdout("out 2".into()),
        Event::Stderr("err 3".into()),
        Event::Stdout("out 4".into()),
    ];
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[..5], expected);
    assert!(
        matches!(&events[5], Event::Exit(s) if s.success()),
        "{events:?}"
    );
}

#[test]
fn events_end_after_the_exit() {
    let mut events = pt_cmd(["exit", "0"]).events().unwrap();
    assert!(matches!(events.next(), Some(Ok(Event::Exit(s))) if s.success()));
    assert!(events.next().is_none());
}

#[test]
fn events_of_a_failing_command_end_with_the_error() {
    let items: Vec<_> = pt_cmd(["fail", "6", "broken"]).events().unwrap().collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &Event::Stderr("broken".into()));
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.status().and_then(|s| s.code()), Some(6));
}

// ---------------------------------------------------------------------------
// Checked by default
// ---------------------------------------------------------------------------

#[test]
fn non_zero_exit_is_an_exit_error() {
    let err = pt_cmd(["exit", "3"]).run().unwrap_err();
    let Error::Exit(exit) = &err else {
        panic!("expected Error::Exit, got {err:?}")
    };
    assert_eq!(exit.status().code(), Some(3));
    assert_eq!(err.status().and_then(|s| s.code()), Some(3));
    assert_eq!(err.output().map(|o| o.status.code()), Some(Some(3)));
    assert!(exit.command().ends_with("exit 3"));
    assert!(exit.stage().is_none());
}

#[test]
fn death_by_signal_is_an_error_with_the_signal() {
    let tmp = TempDir::new("segv");
    let err = pt_cmd(["kill-self", "SEGV"])
        .dir(tmp.path())
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::Exit(_)), "{err:?}");
    let status = err.status().unwrap();
    assert_eq!(status.signal(), Some(11));
    assert_eq!(status.code(), None);
    assert_eq!(status.shell_code(), 139);
    assert!(
        err.to_string().contains("killed by signal 11 (SIGSEGV)"),
        "{err}"
    );
}

#[test]
fn unchecked_accepts_any_exit() {
    let out = pt_cmd(["exit", "3"]).unchecked().run().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!out.status.success());
    let tmp = TempDir::new("unchecked");
    let out = pt_cmd(["kill-self", "TERM"])
        .dir(tmp.path())
        .unchecked()
        .run()
        .unwrap();
    assert_eq!(out.status.signal(), Some(15));
}

#[test]
fn ok_codes_accept_listed_codes_only() {
    assert_eq!(
        pt_cmd(["exit", "1"])
            .ok_codes([1])
            .run()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
    assert!(pt_cmd(["exit", "0"]).ok_codes([1]).run().is_ok());
    let err = pt_cmd(["exit", "2"]).ok_codes([1]).run().unwrap_err();
    assert_eq!(err.status().and_then(|s| s.code()), Some(2));
}

#[test]
fn exit_error_display_reads_like_a_shell() {
    let c = pt_cmd(["fail", "3", "something", "bad"]).stderr_capture();
    let err = c.run().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("command \"{c}\" exited with code 3: something bad")
    );
    // Without captured stderr there is no tail.
    let c = pt_cmd(["exit", "7"]);
    assert_eq!(
        c.run().unwrap_err().to_string(),
        format!("command \"{c}\" exited with code 7")
    );
}

#[test]
fn error_source_leads_to_the_cause() {
    use std::error::Error as _;
    let tmp = TempDir::new("source");
    let not_executable = tmp.join("data");
    std::fs::write(&not_executable, b"not a program").unwrap();
    let spawn = Command::new(&not_executable).run().unwrap_err();
    let io = spawn
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.and_then(std::io::Error::raw_os_error),
        Some(13),
        "{spawn:?}"
    );

    let not_utf8 = pt_cmd(["cat"]).stdin_bytes(vec![0xff]).read().unwrap_err();
    let source = not_utf8.source().expect("a source");
    assert!(
        source
            .downcast_ref::<std::string::FromUtf8Error>()
            .is_some(),
        "{source:?}"
    );

    // An exit status has no deeper cause.
    assert!(pt_cmd(["exit", "1"]).run().unwrap_err().source().is_none());
}

/// The messages down an error's `source()` chain.
fn chain(err: &dyn std::error::Error) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut next = err.source();
    while let Some(cause) = next {
        messages.push(cause.to_string());
        next = cause.source();
    }
    messages
}

#[test]
fn no_cause_is_shown_twice_down_the_chain() {
    let tmp = TempDir::new("chain");
    // Executable, but neither a binary nor a script: ENOEXEC, a spawn
    // failure without a kind of its own, whose message shows the OS error.
    let garbage = tmp.join("garbage");
    std::fs::write(&garbage, b"\x7fnot a program\n").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spawn = Command::new(&garbage).run().unwrap_err();
    assert!(matches!(&spawn, Error::Spawn(e) if e.failure() == SpawnFailure::Other));
    // An I/O error: a pool's output files under a path that cannot be a
    // directory.
    let pool = procession::Pool::builder()
        .output(procession::JobOutput::Files("/dev/null/out".into()))
        .build();
    let done: Vec<_> = pool.map([pt_cmd(["exit", "0"])]).collect();
    let io = done[0].error().expect("an error").clone();
    assert!(matches!(io, Error::Io(_)), "{io:?}");
    for err in [spawn, io] {
        let messages = chain(&err);
        for pair in messages.windows(2) {
            assert!(!pair[0].contains(&pair[1]), "shown twice: {messages:?}");
        }
    }
}

#[test]
fn errors_are_clone() {
    let err = pt_cmd(["fail", "9", "cloned"])
        .stderr_capture()
        .run()
        .unwrap_err();
    let copy = err.clone();
    assert_eq!(copy.to_string(), err.to_string());
    assert_eq!(copy.status(), err.status());
    assert_eq!(copy.output().unwrap().stderr, b"cloned\n");
}

/// The duration a stop error's message shows after "after ".
fn shown_duration(message: &str) -> &str {
    let start = message.find(" after ").expect("a duration") + " after ".len();
    let rest = &message[start..];
    &rest[..rest.find(' ').unwrap_or(rest.len())]
}

/// The crate's one human format: a number of at most three significant
/// digits and a unit, like "300ms", "1.2s" or "101ms".
fn is_human(shown: &str) -> bool {
    let number = shown.trim_end_matches(|c: char| c.is_alphabetic());
    let unit = &shown[number.len()..];
    let digits = number.chars().filter(char::is_ascii_digit).count();
    ["ns", "µs", "ms", "s"].contains(&unit) && digits <= 3 && number.parse::<f64>().is_ok()
}

#[test]
fn stop_errors_show_durations_in_one_format() {
    let token = procession::CancelToken::new();
    token.cancel();
    let cancelled = pt_cmd(["sleep", "30"]).cancel_on(&token).run().unwrap_err();
    let past_deadline = pt_cmd(["sleep", "30"])
        .deadline(Instant::now() + Duration::from_millis(30))
        .run()
        .unwrap_err();
    let timed_out = pt_cmd(["sleep", "30"])
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    assert_eq!(shown_duration(&timed_out.to_string()), "300ms");
    for err in [cancelled, past_deadline, timed_out] {
        let message = err.to_string();
        assert!(is_human(shown_duration(&message)), "{message}");
    }
}

// ---------------------------------------------------------------------------
// Run modes over the command's own settings
// ---------------------------------------------------------------------------

#[test]
fn read_captures_stdout_whatever_the_command_says() {
    assert_eq!(pt_cmd(["echo", "hi"]).stdout_null().read().unwrap(), "hi");
    let lines: Vec<String> = pt_cmd(["echo", "line"])
        .stdout_null()
        .lines()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(lines, ["line"]);
}

#[test]
fn events_error_keeps_the_stderr_tail() {
    let items: Vec<Result<Event, Error>> =
        pt_cmd(["fail", "6", "broken"]).events().unwrap().collect();
    assert_eq!(items[0].as_ref().unwrap(), &Event::Stderr("broken".into()));
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert!(
        err.to_string().ends_with("exited with code 6: broken"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// std's settings: arg0, uid, gid, a new session, the before_spawn hook
// ---------------------------------------------------------------------------

#[test]
fn arg0_is_what_the_child_sees() {
    // By default the program as given, not the path found.
    assert_eq!(
        pt_cmd(["argv0"]).read().unwrap(),
        support::pt().to_str().unwrap()
    );
    let renamed = pt_cmd(["argv0"]).arg0("renamed");
    assert_eq!(renamed.read().unwrap(), "renamed");
    // Errors and Display still show the program.
    assert_eq!(renamed.to_string(), pt_cmd(["argv0"]).to_string());
    // On a pipeline, the last stage's.
    let p = (pt_cmd(["echo", "x"]) | pt_cmd(["argv0"])).arg0("last");
    assert_eq!(p.read().unwrap(), "last");
}

/// Our real user and group ids, as `pt ids` prints them.
fn our_ids() -> (u32, u32) {
    (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    )
}

#[test]
fn uid_and_gid_to_the_current_ids_work() {
    let (uid, gid) = our_ids();
    let out = pt_cmd(["ids"]).uid(uid).gid(gid).read().unwrap();
    assert_eq!(out, format!("{uid} {gid}"));
    // A pipeline's ids apply to every stage.
    let stages = (pt_cmd(["ids"]).stdout_capture() | pt_cmd(["ids"]))
        .uid(uid)
        .gid(gid)
        .stdout_capture()
        .run()
        .unwrap();
    assert_eq!(stages.stages[0].stdout, format!("{uid} {gid}\n").as_bytes());
    assert_eq!(stages.stdout, format!("{uid} {gid}\n").as_bytes());
}

/// The user and group `nobody` on Linux.
const NOBODY: u32 = 65534;

/// Set in the environment of the re-run of this binary as `nobody`.
const NOBODY_CHILD_VAR: &str = "PROCESSION_TEST_NOBODY_CHILD";

/// Switching to a user we may not switch to is a spawn error that names the
/// ids. As root every switch is allowed, so root re-runs this binary as
/// `nobody` (through `uid` and `gid`, which shows they work) and checks there.
#[test]
fn uid_that_may_not_be_switched_to_is_a_clear_spawn_error() {
    // An id the kernel rejects outright, for anybody.
    let err = pt_cmd(["ids"]).uid(u32::MAX).run().unwrap_err();
    let Error::Spawn(spawn) = &err else {
        panic!("{err}")
    };
    assert_eq!(spawn.failure(), SpawnFailure::Other);
    assert!(
        err.to_string()
            .contains("uid 4294967295 is not a valid id here"),
        "{err}"
    );
    if !rustix::process::geteuid().is_root() {
        assert_switch_to_root_is_denied();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let child_test = "switch_to_root_is_denied";
    let out = Command::new(exe)
        .args([child_test, "--exact", "--ignored", "--test-threads=1"])
        .env(NOBODY_CHILD_VAR, "1")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout_capture()
        .stderr_capture()
        .run()
        .unwrap_or_else(|e| panic!("the re-run as nobody failed: {e}"));
    let report = out.stdout_lossy();
    assert!(report.contains("1 passed"), "{report}");
}

#[test]
#[ignore = "run by uid_that_may_not_be_switched_to_is_a_clear_spawn_error, as nobody"]
fn switch_to_root_is_denied() {
    assert_eq!(
        std::env::var_os(NOBODY_CHILD_VAR).as_deref(),
        Some(OsStr::new("1")),
        "run this through uid_that_may_not_be_switched_to_is_a_clear_spawn_error"
    );
    assert_eq!(our_ids(), (NOBODY, NOBODY));
    assert_switch_to_root_is_denied();
}

fn assert_switch_to_root_is_denied() {
    for (c, ids) in [
        (pt_cmd(["ids"]).uid(0), "uid 0"),
        (pt_cmd(["ids"]).gid(0), "gid 0"),
        (pt_cmd(["ids"]).uid(0).gid(0), "uid 0 and gid 0"),
    ] {
        let err = c.run().unwrap_err();
        let Error::Spawn(spawn) = &err else {
            panic!("{err}")
        };
        assert_eq!(spawn.failure(), SpawnFailure::IdChangeDenied, "{err}");
        assert!(
            err.to_string().ends_with(&format!(
                "this process may not run it as {ids} (that needs root, or CAP_SETUID / CAP_SETGID)"
            )),
            "{err}"
        );
    }
}

/// A `before_spawn` hook that makes the child a session leader.
fn setsid_hook(std_cmd: &mut std::process::Command) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe, and turning its error into an
    // io::Error does not allocate.
    unsafe {
        std_cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        })
    };
    Ok(())
}

#[test]
fn new_session_leads_a_session_and_a_timeout_still_stops_the_tree() {
    // nix, not rustix: our session id is 0 when its leader lives outside
    // our pid namespace, which rustix's `Pid` cannot hold.
    let ours = nix::unistd::getsid(None).unwrap().as_raw() as u32;
    let handle = pt_cmd(["session"])
        .new_session()
        .before_spawn(setsid_hook)
        .stdout_capture()
        .start()
        .unwrap();
    let pid = handle.pid();
    let out = handle.into_output().unwrap();
    assert_eq!(
        out.stdout_str().unwrap().trim(),
        format!("{pid} {pid} {pid}")
    );
    assert_ne!(pid, ours);

    // Grandchildren in the new session hold stdout; the timeout stops them
    // all through the session's group.
    let started = Instant::now();
    let err = pt_cmd(["grandchild", "30", "2", "--hold", "30"])
        .new_session()
        .before_spawn(setsid_hook)
        .stdout_capture()
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "did not hang");
    let stopped = err.timeout().unwrap_or_else(|| panic!("{err}"));
    let leader = stopped.output().stages[0].pid;
    let grandchildren: Vec<u32> = String::from_utf8_lossy(stopped.partial_stdout())
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(grandchildren.len(), 2, "{err}");
    assert!(
        procfs::eventually(Duration::from_secs(5), || {
            procfs::live_group_members(leader).is_empty()
                && !grandchildren.iter().any(|p| procfs::is_live(*p))
        }),
        "the session's tree survived the timeout"
    );
}

#[test]
fn new_session_without_setsid_is_refused_and_the_child_killed() {
    let dir = TempDir::new("new-session");
    let (marked, name) = marked_pt(&dir, "ns");
    // The name tells the child apart from every other test's.
    let handle = Command::new(&marked).args(["sleep", "30"]).start().unwrap();
    assert_eq!(children_named(&name).len(), 1, "the marked child is seen");
    handle.kill();
    let _ = handle.wait();
    let started = Instant::now();
    let err = Command::new(&marked)
        .args(["sleep", "30"])
        .new_session()
        .run()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "did not hang");
    let Error::InvalidInput(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.problem(), &procession::InvalidInput::SessionNotCreated);
    assert!(err.to_string().contains("before_spawn hook"), "{err}");
    // Only this test's child: another test's may be a zombie for a moment.
    assert_eq!(children_named(&name), [], "the child was reaped");
}

#[test]
fn new_session_in_a_pipeline_is_invalid_input() {
    for p in [
        (pt_cmd(["echo", "x"]) | pt_cmd(["cat"])).new_session(),
        pt_cmd(["echo", "x"]) | pt_cmd(["cat"]).new_session(),
    ] {
        let err = p.before_spawn(setsid_hook).run().unwrap_err();
        let Error::InvalidInput(e) = &err else {
            panic!("{err}")
        };
        assert_eq!(e.problem(), &procession::InvalidInput::SessionInPipeline);
    }
}

#[test]
fn before_spawn_runs_for_every_stage_of_every_run() {
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let p = Command::pipeline([pt_cmd(["echo", "a"]), pt_cmd(["cat"]), pt_cmd(["cat"])])
        .before_spawn(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    assert_eq!(p.read().unwrap(), "a");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(p.read().unwrap(), "a");
    assert_eq!(calls.load(Ordering::SeqCst), 6);

    // A stage's own hook runs for it alone, after the pipeline's.
    let p = (pt_cmd(["env", "WHO"]).stdout_capture()
        | pt_cmd(["env", "WHO"]).before_spawn(|c| {
            c.env("WHO", "stage");
            Ok(())
        }))
    .before_spawn(|c| {
        c.env("WHO", "pipeline");
        Ok(())
    })
    .stdout_capture();
    let out = p.run().unwrap();
    assert_eq!(out.stages[0].stdout, b"WHO=pipeline\n");
    assert_eq!(out.stdout_lossy(), "WHO=stage\n");
}

#[test]
fn before_spawn_cannot_take_away_the_pipes_or_the_group() {
    use std::os::unix::process::CommandExt;
    let out = (pt_cmd(["pgid"]).stdout_capture() | pt_cmd(["pgid"]))
        .before_spawn(|c| {
            c.stdout(std::process::Stdio::null()).process_group(0);
            Ok(())
        })
        .stdout_capture()
        .run()
        .unwrap();
    let leader = out.stages[0].pid;
    assert_eq!(
        out.stages[0].stdout,
        format!("{leader} {leader}\n").as_bytes()
    );
    let second = out.stages[1].pid;
    assert_eq!(out.stdout, format!("{second} {leader}\n").as_bytes());
}

#[test]
fn before_spawn_error_is_a_spawn_error_and_stops_earlier_stages() {
    let dir = TempDir::new("before-spawn");
    let (marked, name) = marked_pt(&dir, "bs");
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let seen_in_hook = seen.clone();
    let hook_name = name.clone();
    let p = Command::new(&marked).args(["sleep", "30"])
        | pt_cmd(["cat"]).before_spawn(move |_| {
            // Stage 0 runs by now: the name tells it from other tests' children.
            seen_in_hook.store(children_named(&hook_name).len(), Ordering::SeqCst);
            Err(std::io::Error::other("no ticket"))
        });
    let started = Instant::now();
    let err = p.run().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "did not hang");
    let Error::Spawn(spawn) = &err else {
        panic!("{err}")
    };
    assert_eq!(spawn.failure(), SpawnFailure::Hook);
    assert_eq!(spawn.stage(), Some(1));
    assert!(
        err.to_string()
            .ends_with("the before_spawn hook failed: no ticket"),
        "{err}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "stage 0 was seen running");
    // Only this test's stage 0: another test's child may be a zombie for a
    // moment.
    assert_eq!(children_named(&name), [], "stage 0 was reaped");
}
