//! P9: spilling captures (`Keep::Spill`) hold a bounded amount of memory
//! whatever a command prints, and lose nothing.
//!
//! Each case runs in a fresh copy of this benchmark (re-executed), which
//! reports its peak resident memory (`VmHWM`) when done:
//!
//! 1. `run`: `pt write N` with stdout captured by `Keep::Spill` with a
//!    1 MiB limit; every byte read back from the spill file and checked.
//! 2. `pipeline`: `pt write N | pt cat`, the same capture on the pipeline.
//! 3. `pool`: 4 such jobs, 4 in flight, through `JobOutput::Capture` with
//!    `Keep::Spill`; each job's bytes checked.
//! 4. `grouped` (the P7 goal for grouped output): 4 jobs printing N bytes
//!    each through `JobOutput::Grouped`, 4 in flight, written to this
//!    process's stdout (`/dev/null` here).
//!
//! Goals: at most 16 MiB peak for cases 1 to 3, at most 64 MiB for case 4.
//! No spill file is left behind (checked in the spill directory, where the
//! files have no name, and in the process's open files).
//!
//! N comes from `PROCESSION_P9_BYTES` (default 1G, the figure).
//!
//! Run: `cargo bench --bench p9_spill`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use procession::{Command, JobOutput, Keep, Output, Pool};

const MIB: f64 = 1024.0 * 1024.0;
const LIMIT: usize = 1 << 20;
const CASE: &str = "PROCESSION_P9_CASE";
const DIR: &str = "PROCESSION_P9_DIR";

/// Peak resident memory of this process so far, from `/proc/self/status`.
fn hwm() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn write(n: usize) -> Command {
    Command::new(support::pt()).args(["write", &n.to_string()])
}

/// Checks, reading in pieces, that the whole stdout is `n` pattern bytes.
fn check(out: &Output, n: usize) {
    let spilled = out.stdout_spilled.as_ref().expect("stdout spilled");
    assert_eq!(spilled.len(), n as u64);
    assert_eq!(support::read_pattern(out.stdout_reader()), Ok(n));
}

fn open_in(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// Runs one case in this process (the re-executed copy).
fn child(case: &str, n: usize, dir: &Path) {
    let spill = |c: Command| c.stdout_capture_limit(LIMIT, Keep::Spill).spill_dir(dir);
    match case {
        "run" => check(&spill(write(n)).run().unwrap(), n),
        "pipeline" => {
            let cat = Command::new(support::pt()).arg("cat");
            check(&spill(write(n) | cat).run().unwrap(), n);
        }
        "pool" => {
            let pool = Pool::builder()
                .jobs(4)
                .output(JobOutput::Capture {
                    limit: Some(LIMIT),
                    keep: Keep::Spill,
                })
                .build();
            let jobs = (0..4).map(|_| write(n).spill_dir(dir));
            for done in pool.as_completed(jobs) {
                check(done.output().expect("it ran"), n);
            }
        }
        "grouped" => {
            let pool = Pool::builder().jobs(4).output(JobOutput::Grouped).build();
            let jobs = (0..4).map(|_| write(n).spill_dir(dir));
            let summary = pool.as_completed(jobs).finish();
            assert_eq!(summary.succeeded, 4);
        }
        other => panic!("unknown case {other}"),
    }
    assert_eq!(open_in(dir), 0, "a spill file is still open");
    eprintln!("p9-hwm {}", hwm());
}

fn main() {
    let n = support::env_usize("PROCESSION_P9_BYTES", 1 << 30);
    if let Ok(case) = std::env::var(CASE) {
        let dir = PathBuf::from(std::env::var_os(DIR).expect("a spill directory"));
        child(&case, n, &dir);
        return;
    }
    let dir = std::env::temp_dir().join(format!("procession-p9-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("P9: spilling captures, {n} bytes per command, 1 MiB in memory");
    println!("{:<44} {:>12}", "case", "peak (VmHWM)");
    let mut met = true;
    let cases = [
        ("run", "run(), Keep::Spill", 16),
        ("pipeline", "pipeline | pt cat, Keep::Spill", 16),
        ("pool", "pool of 4, JobOutput::Capture Keep::Spill", 16),
        ("grouped", "pool of 4, JobOutput::Grouped (P7)", 64),
    ];
    for (case, name, goal) in cases {
        let out = Command::new(std::env::current_exe().unwrap())
            .env(CASE, case)
            .env(DIR, &dir)
            .stdout_null()
            .stderr_capture()
            .run()
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let text = out.stderr_lossy();
        let peak: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("p9-hwm "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{case}: no figure in {text}"));
        let ok = peak <= goal << 20;
        met &= ok;
        let verdict = if ok { "met" } else { "NOT met" };
        println!(
            "{name:<44} {:>8.1} MiB  (goal <= {goal} MiB: {verdict})",
            peak as f64 / MIB
        );
    }
    let left = std::fs::read_dir(&dir).unwrap().count();
    std::fs::remove_dir(&dir).unwrap();
    println!("files left in the spill directory: {left}");
    let verdict = if met && left == 0 { "met" } else { "NOT met" };
    println!("goal: bounded memory, every byte kept, nothing left: {verdict}");
}
