//! Reading `srun -v`'s own stderr lines: the rules the
//! Slurm backend will use to learn a run's job or step id, its node, when
//! its task started, and how it ended, without asking the cluster. Pure
//! functions, with tables of lines as Slurm 22.05 writes them.
//!
//! The backend that uses them is in `slurm/`.

/// What one of srun's stderr lines says, where the backend needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SrunLine {
    /// `srun: job N queued and waiting for resources`: the job id of a job
    /// still pending.
    Queued(String),
    /// `srun: jobid N: nodes(1):...`: the job id, once allocated.
    JobId(String),
    /// `srun: launching StepId=J.S on host H, ...` (or, before Slurm 20.11,
    /// `launching J.S on host H`): the task started.
    Launching { step: String, host: String },
    /// `... _task_finish: ... (status=0xHHHH)`: the task's raw wait status.
    WaitStatus(u32),
    /// `srun: error: H: task 0: ...`: how the task ended, in words.
    TaskEnded { host: String, how: String },
    /// `slurmstepd...: error: execve(): P: No such file or directory` (or
    /// `Permission denied`): the program could not be started.
    Execve { program: String, reason: String },
    /// Any other `srun: error: ...` line (a rejected submission says why).
    Error(String),
}

/// Whether a stderr line is srun's or slurmstepd's own, not the job's:
/// `srun: ...`, or `slurmstepd: ...` / `slurmstepd-NODE: ...`.
pub(crate) fn is_diagnostic(line: &[u8]) -> bool {
    if line.starts_with(b"srun: ") {
        return true;
    }
    let Some(rest) = line.strip_prefix(b"slurmstepd") else {
        return false;
    };
    match rest.first() {
        Some(b':') => rest.get(1) == Some(&b' '),
        Some(b'-') => rest
            .iter()
            .position(|b| *b == b':')
            .is_some_and(|colon| rest.get(colon + 1) == Some(&b' ')),
        _ => false,
    }
}

/// Where one of srun's own lines starts inside a line of the job's: srun
/// flushes a job's last line without its newline when the task ends and
/// then writes its own (`<job bytes>srun: launch/slurm: _task_finish:
/// ...`). Only lines srun writes once the task runs count (`_task_...`,
/// `error:`, slurmstepd's), so a job's own text rarely matches.
pub(crate) fn embedded(line: &[u8]) -> Option<usize> {
    let starts = |at: usize| {
        let rest = &line[at..];
        rest.starts_with(b"srun: launch/slurm: _task_")
            || rest.starts_with(b"srun: error: ")
            || (rest.starts_with(b"slurmstepd") && is_diagnostic(rest))
    };
    (1..line.len()).find(|&at| matches!(line[at], b's') && starts(at))
}

/// Reads one of srun's or slurmstepd's lines (without its newline).
pub(crate) fn parse(line: &str) -> Option<SrunLine> {
    if let Some(rest) = line.strip_prefix("srun: ") {
        if let Some(rest) = rest.strip_prefix("job ") {
            let (id, tail) = rest.split_once(' ')?;
            return (tail.starts_with("queued") && is_id(id)).then(|| SrunLine::Queued(id.into()));
        }
        if let Some(rest) = rest.strip_prefix("jobid ") {
            let id = rest.split_once(':')?.0;
            return is_id(id).then(|| SrunLine::JobId(id.into()));
        }
        if let Some(rest) = rest.strip_prefix("launching ") {
            let rest = rest.strip_prefix("StepId=").unwrap_or(rest);
            let (step, tail) = rest.split_once(" on host ")?;
            let host = tail.split([',', ' ']).next()?;
            return (is_id(step) && !host.is_empty()).then(|| SrunLine::Launching {
                step: step.into(),
                host: host.into(),
            });
        }
        if rest.contains("_task_finish:") {
            let hex = rest.split_once("(status=0x")?.1.split_once(')')?.0;
            return u32::from_str_radix(hex, 16).ok().map(SrunLine::WaitStatus);
        }
        if let Some(error) = rest.strip_prefix("error: ") {
            if let Some((host, how)) = error.split_once(": task 0: ") {
                if !host.contains(' ') {
                    return Some(SrunLine::TaskEnded {
                        host: host.into(),
                        how: how.into(),
                    });
                }
            }
            return Some(SrunLine::Error(error.into()));
        }
        return None;
    }
    if is_diagnostic(line.as_bytes()) {
        let execve = line.split_once(": error: execve(): ")?.1;
        let (program, reason) = execve.rsplit_once(": ")?;
        return Some(SrunLine::Execve {
            program: program.into(),
            reason: reason.into(),
        });
    }
    None
}

/// A job id (`1242`) or a step id (`1242.400`).
fn is_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.next().is_none_or(digits) && parts.next().is_none()
}

/// How a raw wait status ended the task: `Ok(code)` for an exit,
/// `Err((signal, core dumped))` for a signal.
pub(crate) fn decode_wait(status: u32) -> Result<i32, (i32, bool)> {
    let signal = status & 0x7f;
    if signal == 0 {
        Ok(i32::try_from((status >> 8) & 0xff).unwrap_or(0))
    } else {
        Err((i32::try_from(signal).unwrap_or(0), status & 0x80 != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_table() {
        use SrunLine::*;
        let s = String::from;
        let table: &[(&str, Option<SrunLine>)] = &[
            (
                "srun: job 1244 queued and waiting for resources",
                Some(Queued(s("1244"))),
            ),
            ("srun: job 1047 has been allocated resources", None),
            (
                "srun: jobid 26: nodes(1):`vm', cpu counts: 1(x1)",
                Some(JobId(s("26"))),
            ),
            (
                "srun: launching StepId=6.0 on host vm, 1 tasks: 0",
                Some(Launching {
                    step: s("6.0"),
                    host: s("vm"),
                }),
            ),
            (
                "srun: launching StepId=1242.400 on host node-7, 1 tasks: 0",
                Some(Launching {
                    step: s("1242.400"),
                    host: s("node-7"),
                }),
            ),
            (
                "srun: launching 123.0 on host vm",
                Some(Launching {
                    step: s("123.0"),
                    host: s("vm"),
                }),
            ),
            (
                "srun: launch/slurm: _task_finish: Received task exit notification for 1 task of StepId=6.0 (status=0x0009).",
                Some(WaitStatus(9)),
            ),
            (
                "srun: launch/slurm: _task_finish: Received task exit notification for 1 task of StepId=6.0 (status=0x0300).",
                Some(WaitStatus(0x300)),
            ),
            (
                "srun: error: vm: task 0: Exited with exit code 3",
                Some(TaskEnded {
                    host: s("vm"),
                    how: s("Exited with exit code 3"),
                }),
            ),
            (
                "srun: error: vm: task 0: Segmentation fault",
                Some(TaskEnded {
                    host: s("vm"),
                    how: s("Segmentation fault"),
                }),
            ),
            (
                "srun: error: invalid partition specified: nopart",
                Some(Error(s("invalid partition specified: nopart"))),
            ),
            (
                "srun: error: Unable to allocate resources: Invalid partition name specified",
                Some(Error(s(
                    "Unable to allocate resources: Invalid partition name specified",
                ))),
            ),
            (
                "slurmstepd-vm: error: execve(): nosuchprog: No such file or directory",
                Some(Execve {
                    program: s("nosuchprog"),
                    reason: s("No such file or directory"),
                }),
            ),
            (
                "slurmstepd-vm: error: *** STEP 40.0 ON vm CANCELLED AT 2026-11-29T10:00:00 ***",
                None,
            ),
            ("srun: defined options", None),
            ("srun: job abc queued and waiting for resources", None),
            ("hello from the job", None),
        ];
        for (line, expected) in table {
            assert_eq!(parse(line), *expected, "{line}");
        }
    }

    #[test]
    fn diagnostics_are_told_apart_from_the_job_s_lines() {
        let table: &[(&[u8], bool)] = &[
            (b"srun: error: vm: task 0: Killed", true),
            (b"slurmstepd: error: something", true),
            (
                b"slurmstepd-vm: error: execve(): x: Permission denied",
                true,
            ),
            (b"srun:no space", false),
            (b"slurmstepdx: nope", false),
            (b"the job says srun: hi", false),
            (b"\xff\x00 binary", false),
        ];
        for (line, expected) in table {
            assert_eq!(
                is_diagnostic(line),
                *expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn srun_lines_after_a_job_s_last_partial_line() {
        let table: &[(&[u8], Option<usize>)] = &[
            (
                b"\xe9\xeasrun: launch/slurm: _task_finish: Received task exit notification",
                Some(2),
            ),
            (
                b"abcsrun: error: vm: task 0: Exited with exit code 3",
                Some(3),
            ),
            (
                b"xslurmstepd-vm: error: *** STEP 4.0 ON vm CANCELLED",
                Some(1),
            ),
            (b"srun: error: at the start is not embedded", None),
            (b"the job says srun: hello", None),
            (b"abcslurmstepdx", None),
        ];
        for (line, expected) in table {
            assert_eq!(
                embedded(line),
                *expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn the_wait_status_table() {
        let table = [
            (0x0000, Ok(0)),
            (0x0300, Ok(3)),
            (0x000b, Err((11, false))),
            (0x0009, Err((9, false))),
            (0x008b, Err((11, true))),
        ];
        for (status, expected) in table {
            assert_eq!(decode_wait(status), expected, "{status:#06x}");
        }
    }
}
