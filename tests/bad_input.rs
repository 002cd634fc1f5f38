//! Bad input of every kind is a typed error that names its cause, never a
//! panic: one table of cases, each run under `catch_unwind`.
//!
//! Covered: NUL bytes in the program, an argument, an environment key or
//! value; `=` in and empty environment keys; an empty program and an empty
//! pipeline; a program not on `PATH`, not executable, or a directory; a
//! missing working directory; an argument list over the OS limit (`E2BIG`);
//! `read()` of output that is not UTF-8; `stdin_pipe` without `start`;
//! redirections to or from paths that cannot be opened; a stop sequence
//! with a number that is not a signal that can be sent.
//!
//! No environment variables tune this file.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use procession::{Command, Error, InvalidInput, SpawnFailure, StopSequence};
use support::pt_cmd;

/// A directory under the system temp dir with a unique name, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("procession-bad-input-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One bad input: how to run it, which error it must be, and a phrase its
/// `Display` must contain.
struct Case {
    name: &'static str,
    run: Box<dyn Fn() -> Result<(), Error>>,
    expect: fn(&Error) -> bool,
    cause: String,
}

fn case(
    name: &'static str,
    run: impl Fn() -> Result<(), Error> + 'static,
    expect: fn(&Error) -> bool,
    cause: impl Into<String>,
) -> Case {
    Case {
        name,
        run: Box::new(run),
        expect,
        cause: cause.into(),
    }
}

/// Runs `command` and throws the output away.
fn run(command: Command) -> impl Fn() -> Result<(), Error> {
    move || command.run().map(drop)
}

fn invalid(err: &Error) -> Option<&InvalidInput> {
    match err {
        Error::InvalidInput(e) => Some(e.problem()),
        _ => None,
    }
}

fn spawn_failure(err: &Error) -> Option<SpawnFailure> {
    match err {
        Error::Spawn(e) => Some(e.failure()),
        _ => None,
    }
}

/// A file that exists but may not be executed (mode 0644).
fn not_executable(dir: &Path) -> PathBuf {
    let path = dir.join("not-executable");
    std::fs::write(&path, b"#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// Arguments whose total size is over the kernel's limit for any stack
/// rlimit: the limit is a quarter of the stack limit, capped at 6 MiB.
fn too_many_argument_bytes() -> Vec<String> {
    vec!["x".repeat(1023); 8 * 1024]
}

/// The size of this process's environment as `E2BIG` counts it: every
/// `key=value` string with its NUL.
fn environment_bytes() -> usize {
    std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2)
        .sum()
}

fn argument_cases() -> Vec<Case> {
    vec![
        case(
            "NUL in an argument",
            run(pt_cmd(["echo", "fine", "a\0b"])),
            |e| matches!(invalid(e), Some(InvalidInput::NulInArgument { index: 2 })),
            "argument 2 contains a NUL byte",
        ),
        case(
            "NUL in the program",
            run(Command::new("p\0t")),
            |e| matches!(invalid(e), Some(InvalidInput::NulInProgram)),
            "program name contains a NUL byte",
        ),
        case(
            "empty program",
            run(Command::new("")),
            |e| matches!(invalid(e), Some(InvalidInput::EmptyProgram)),
            "the program name is empty",
        ),
        case(
            "empty pipeline",
            run(Command::pipeline(vec![])),
            |e| matches!(invalid(e), Some(InvalidInput::EmptyPipeline)),
            "the pipeline has no stages",
        ),
        case(
            "argument list over the OS limit",
            run(pt_cmd(["echo"]).args(too_many_argument_bytes())),
            |e| spawn_failure(e) == Some(SpawnFailure::ArgumentListTooLong),
            "the argument list is too long for the system (E2BIG)",
        ),
        case(
            "environment value over the OS limit for one string",
            run(pt_cmd(["echo"]).env("PROCESSION_BIG", "x".repeat(200 * 1024))),
            |e| spawn_failure(e) == Some(SpawnFailure::ArgumentListTooLong),
            format!(
                "environment variables, {} bytes; one string has 204816 bytes, over the \
                 131072-byte limit for a single one)",
                environment_bytes() + "PROCESSION_BIG=".len() + 200 * 1024 + 1
            ),
        ),
    ]
}

fn env_cases() -> Vec<Case> {
    vec![
        case(
            "NUL in an env value",
            run(pt_cmd(["env"]).env("PROCESSION_V", "a\0b")),
            |e| matches!(invalid(e), Some(InvalidInput::NulInEnvValue { key }) if key == "PROCESSION_V"),
            "the value of environment variable \"PROCESSION_V\" contains a NUL byte",
        ),
        case(
            "= in an env key",
            run(pt_cmd(["env"]).env("A=B", "1")),
            |e| matches!(invalid(e), Some(InvalidInput::EqualsInEnvKey { key }) if key == "A=B"),
            "environment variable name \"A=B\" contains '='",
        ),
        case(
            "NUL in an env key",
            run(pt_cmd(["env"]).env("A\0B", "1")),
            |e| matches!(invalid(e), Some(InvalidInput::NulInEnvKey { .. })),
            "contains a NUL byte",
        ),
        case(
            "empty env key",
            run(pt_cmd(["env"]).env("", "1")),
            |e| matches!(invalid(e), Some(InvalidInput::EmptyEnvKey)),
            "an environment variable name is empty",
        ),
        case(
            "empty env key removed",
            run(pt_cmd(["env"]).env_remove("")),
            |e| matches!(invalid(e), Some(InvalidInput::EmptyEnvKey)),
            "an environment variable name is empty",
        ),
    ]
}

/// An executable script whose `#!` interpreter does not exist.
fn missing_interpreter(dir: &Path) -> PathBuf {
    let path = dir.join("needs-interpreter");
    std::fs::write(&path, b"#!/no/such/interpreter -x\necho should not run\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A regular file, to give as a working directory.
fn regular_file(dir: &Path) -> PathBuf {
    let path = dir.join("a-file");
    std::fs::write(&path, b"not a directory\n").unwrap();
    path
}

fn program_cases(tmp: &Path) -> Vec<Case> {
    let missing_dir = tmp.join("no-such-dir");
    let file = regular_file(tmp);
    let script = missing_interpreter(tmp);
    vec![
        case(
            "program not on PATH, in a missing working directory",
            run(Command::new("procession-no-such-program").dir(&missing_dir)),
            |e| spawn_failure(e) == Some(SpawnFailure::NoSuchDirectory),
            format!("working directory {missing_dir:?} does not exist"),
        ),
        case(
            "working directory that is a file",
            run(pt_cmd(["pwd"]).dir(&file)),
            |e| spawn_failure(e) == Some(SpawnFailure::NoSuchDirectory),
            format!("working directory {file:?} is not a directory"),
        ),
        case(
            "script whose #! interpreter is missing",
            run(Command::new(&script)),
            |e| spawn_failure(e) == Some(SpawnFailure::InterpreterNotFound),
            format!(
                "{script:?} cannot be run: its #! interpreter \"/no/such/interpreter\" does not exist"
            ),
        ),
        case(
            "program not on PATH",
            run(Command::new("procession-no-such-program")),
            |e| spawn_failure(e) == Some(SpawnFailure::NotFound),
            "program \"procession-no-such-program\" was not found on PATH",
        ),
        case(
            "path that does not exist",
            run(Command::new(tmp.join("missing-program"))),
            |e| spawn_failure(e) == Some(SpawnFailure::NotFound),
            "missing-program\" does not exist",
        ),
        case(
            "path that is not executable",
            run(Command::new(not_executable(tmp))),
            |e| spawn_failure(e) == Some(SpawnFailure::PermissionDenied),
            "permission denied",
        ),
        case(
            "directory as the program",
            run(Command::new(tmp)),
            |e| spawn_failure(e) == Some(SpawnFailure::IsDirectory),
            "is a directory",
        ),
        case(
            "working directory that does not exist",
            run(pt_cmd(["pwd"]).dir(&missing_dir)),
            |e| spawn_failure(e) == Some(SpawnFailure::NoSuchDirectory),
            format!("working directory {missing_dir:?} does not exist"),
        ),
    ]
}

fn io_cases(tmp: &Path) -> Vec<Case> {
    let missing_dir = tmp.join("no-such-dir");
    let not_utf8 = pt_cmd(["cat"]).stdin_bytes(b"ok \xff\xfe".to_vec());
    vec![
        case(
            "read() of non-UTF-8 output",
            move || not_utf8.read().map(drop),
            |e| matches!(e, Error::NotUtf8(n) if n.bytes() == b"ok \xff\xfe"),
            "is not UTF-8 (invalid at byte 3)",
        ),
        case(
            "stdin_pipe with run()",
            run(pt_cmd(["cat"]).stdin_pipe()),
            |e| matches!(invalid(e), Some(InvalidInput::StdinPipeNeedsStart)),
            "stdin_pipe() needs start()",
        ),
        case(
            "signal 0 in a stop sequence",
            run(pt_cmd(["sleep", "10"])
                .stop_sequence(StopSequence::new().then(0, Duration::from_millis(10)))),
            |e| matches!(invalid(e), Some(InvalidInput::InvalidSignal { signal: 0 })),
            "0 is not a signal that can be sent",
        ),
        case(
            "signal 99 in a stop sequence",
            run(pt_cmd(["sleep", "10"])
                .stop_sequence(StopSequence::new().then(99, Duration::from_millis(10)))),
            |e| matches!(invalid(e), Some(InvalidInput::InvalidSignal { signal: 99 })),
            "99 is not a signal that can be sent",
        ),
        case(
            "a stage the command does not have",
            || {
                let handle = pt_cmd(["sleep", "10"]).start()?;
                handle.signal_stage(1, 15)
            },
            |e| {
                matches!(
                    invalid(e),
                    Some(InvalidInput::NoSuchStage {
                        index: 1,
                        stages: 1
                    })
                )
            },
            "there is no stage 1: the command has 1",
        ),
        case(
            "stdout path in a missing directory",
            run(pt_cmd(["echo"]).stdout_path(missing_dir.join("out"))),
            |e| matches!(invalid(e), Some(InvalidInput::Redirect { .. })),
            format!("cannot open {:?}", missing_dir.join("out")),
        ),
        case(
            "stderr append in a missing directory",
            run(pt_cmd(["echo"]).stderr_append(missing_dir.join("err"))),
            |e| matches!(invalid(e), Some(InvalidInput::Redirect { .. })),
            "No such file or directory",
        ),
        case(
            "stdin path that does not exist",
            run(pt_cmd(["cat"]).stdin_path(missing_dir.join("in"))),
            |e| matches!(invalid(e), Some(InvalidInput::Redirect { .. })),
            format!("cannot open {:?}", missing_dir.join("in")),
        ),
    ]
}

/// Runs one case; `Err` describes how it went wrong.
fn check(case: &Case) -> Result<(), String> {
    let result = catch_unwind(AssertUnwindSafe(|| (case.run)()))
        .map_err(|_| "panicked instead of returning an error".to_string())?;
    let err = match result {
        Ok(()) => return Err("succeeded instead of failing".to_string()),
        Err(err) => err,
    };
    if !(case.expect)(&err) {
        return Err(format!("wrong error: {err:?}"));
    }
    let shown = err.to_string();
    if !shown.contains(&case.cause) {
        return Err(format!(
            "Display {shown:?} does not contain {:?}",
            case.cause
        ));
    }
    Ok(())
}

#[test]
fn bad_input_is_a_typed_error_never_a_panic() {
    let tmp = TempDir::new();
    let cases: Vec<Case> = [
        argument_cases(),
        env_cases(),
        program_cases(tmp.path()),
        io_cases(tmp.path()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).err().map(|why| format!("{}: {why}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
