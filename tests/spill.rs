//! Spilling captures (`Keep::Spill`): memory up to a limit, then an unnamed
//! temporary file; every byte kept, in every run mode, and no file left
//! behind.
//!
//! Environment:
//! - `PROCESSION_SPILL_BYTES`: the bytes each command writes (sizes like
//!   `64M`). Default 8M in a debug build, 64M in a release build. The
//!   memory figure for 1 GiB is measured by `cargo bench --bench p9_spill`.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use procession::{Error, JobOutput, Keep, Output, Pool};
use support::pt_cmd;

const LIMIT: usize = 1 << 20;

fn bytes() -> usize {
    let default = if cfg!(debug_assertions) {
        8 << 20
    } else {
        64 << 20
    };
    support::env_usize("PROCESSION_SPILL_BYTES", default)
}

/// A fresh, empty directory for one test's spill files.
fn spill_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("procession-spill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Files of this process open in `dir` (an unnamed file shows as
/// `dir/#inode (deleted)`), and entries in `dir`.
fn left_in(dir: &Path) -> (usize, usize) {
    let open = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count();
    (open, std::fs::read_dir(dir).unwrap().count())
}

/// Reads a whole stream in pieces and checks it is `n` pattern bytes,
/// without holding it.
fn assert_pattern_stream(reader: impl Read, n: usize, what: &str) {
    assert_eq!(
        support::read_pattern(reader),
        Ok(n),
        "{what}: Ok(length) or Err(first wrong byte)"
    );
}

fn assert_spilled_stdout(out: &Output, n: usize, what: &str) {
    let spilled = out.stdout_spilled.as_ref().expect("stdout spilled");
    assert_eq!(spilled.len(), n as u64, "{what}");
    assert_eq!(out.stdout.len(), LIMIT, "{what}: the first bytes in memory");
    assert!(support::is_pattern(&out.stdout), "{what}: memory part");
    assert!(!out.stdout_truncated, "{what}");
    assert_pattern_stream(out.stdout_reader(), n, what);
}

#[test]
fn run_spills_stdout_and_stderr_past_the_limit_and_keeps_every_byte() {
    let n = bytes();
    let dir = spill_dir("run");
    let out = pt_cmd(["write", &n.to_string(), &(n / 2).to_string()])
        .stdout_capture_limit(LIMIT, Keep::Spill)
        .stderr_capture_limit(LIMIT, Keep::Spill)
        .spill_dir(&dir)
        .run()
        .unwrap();
    assert_spilled_stdout(&out, n, "stdout");
    assert_eq!(out.stderr_spilled.as_ref().unwrap().len(), (n / 2) as u64);
    assert_pattern_stream(out.stderr_reader(), n / 2, "stderr");
    // The files have no name; they live as long as the output.
    assert_eq!(left_in(&dir), (2, 0));
    // Persisting writes the whole stream to a path.
    let copy = dir.join("copy");
    assert_eq!(out.persist_stdout(&copy).unwrap(), n as u64);
    assert_pattern_stream(std::fs::File::open(&copy).unwrap(), n, "persisted");
    std::fs::remove_file(&copy).unwrap();
    drop(out);
    assert_eq!(left_in(&dir), (0, 0));
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn output_within_the_limit_stays_in_memory() {
    let dir = spill_dir("small");
    let out = pt_cmd(["write", &LIMIT.to_string()])
        .stdout_capture_limit(LIMIT, Keep::Spill)
        .spill_dir(&dir)
        .run()
        .unwrap();
    assert!(out.stdout_spilled.is_none());
    assert_eq!(out.stdout.len(), LIMIT);
    assert!(support::is_pattern(&out.stdout));
    assert_pattern_stream(out.stdout_reader(), LIMIT, "stdout");
    assert_eq!(left_in(&dir), (0, 0));
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn start_and_wait_spill() {
    let n = bytes();
    let dir = spill_dir("start");
    let handle = pt_cmd(["write", &n.to_string()])
        .stdout_capture_limit(LIMIT, Keep::Spill)
        .spill_dir(&dir)
        .start()
        .unwrap();
    assert_spilled_stdout(handle.wait().unwrap(), n, "start + wait");
    drop(handle);
    assert_spill_file_goes(&dir);
}

/// After a dropped handle: the run's result (and its file) goes once the
/// background loop lets go of it too, just after the drop returns. Removes
/// `dir`, which must then be empty.
fn assert_spill_file_goes(dir: &Path) {
    assert!(
        support::procfs::eventually(Duration::from_secs(10), || left_in(dir) == (0, 0)),
        "the spill file stayed open"
    );
    std::fs::remove_dir(dir).unwrap();
}

#[test]
fn dropping_a_handle_mid_spill_leaves_no_file() {
    let dir = spill_dir("drop");
    let handle = pt_cmd(["write-hold", &(4 * LIMIT).to_string(), "30"])
        .stdout_capture_limit(LIMIT, Keep::Spill)
        .spill_dir(&dir)
        .start()
        .unwrap();
    // The spill file opens once the output passes the limit.
    let deadline = Instant::now() + Duration::from_secs(20);
    while left_in(&dir).0 == 0 {
        assert!(Instant::now() < deadline, "no spill file");
        assert!(handle.try_wait().unwrap().is_none(), "ended early");
        std::thread::yield_now();
    }
    drop(handle);
    assert_spill_file_goes(&dir);
}

#[test]
fn a_pipeline_spills_its_stdout_and_a_stage_its_own_stderr() {
    let n = bytes();
    let dir = spill_dir("pipeline");
    let first =
        pt_cmd(["write", &n.to_string(), &n.to_string()]).stderr_capture_limit(LIMIT, Keep::Spill);
    let out = (first | pt_cmd(["cat"]))
        .stdout_capture_limit(LIMIT, Keep::Spill)
        .spill_dir(&dir)
        .run()
        .unwrap();
    assert_spilled_stdout(&out, n, "pipeline stdout");
    let stage = &out.stages[0];
    assert_eq!(stage.stderr.len(), LIMIT);
    assert_pattern_stream(
        stage.stderr_spilled.as_ref().unwrap().reader(),
        n,
        "stage stderr",
    );
    drop(out);
    assert_eq!(left_in(&dir), (0, 0));
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn a_pool_spills_each_jobs_capture() {
    let n = bytes();
    let dir = spill_dir("pool");
    let pool = Pool::builder()
        .jobs(4)
        .output(JobOutput::Capture {
            limit: Some(LIMIT),
            keep: Keep::Spill,
        })
        .build();
    let jobs = (0..4).map(|_| pt_cmd(["write", &n.to_string()]).spill_dir(&dir));
    let done: Vec<_> = pool.map(jobs).collect();
    assert_eq!(done.len(), 4);
    for (i, d) in done.iter().enumerate() {
        assert_spilled_stdout(d.output().expect("it ran"), n, &format!("job {i}"));
    }
    drop(done);
    assert_eq!(left_in(&dir), (0, 0));
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn a_spill_dir_that_does_not_exist_is_an_error_that_names_it() {
    let dir = spill_dir("missing").join("not-there");
    let err = pt_cmd(["write", &(4 * LIMIT).to_string()])
        .stdout_capture_limit(LIMIT, Keep::Spill)
        .spill_dir(&dir)
        .run()
        .unwrap_err();
    let Error::Io(io) = &err else { panic!("{err}") };
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.contains(&format!("{:?}", dir)), "{message}");
    assert!(
        message.contains(&format!("kept the first {LIMIT} of")),
        "{message}"
    );
    std::fs::remove_dir(dir.parent().unwrap()).unwrap();
}

/// A tmpfs of 1 MiB, mounted for the test, removed on drop.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(name: &str) -> Option<TinyFs> {
        let dir = spill_dir(name);
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            Some(TinyFs(dir))
        } else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root and permission to mount)");
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_disk_is_an_error_that_says_how_much_was_kept() {
    let Some(fs) = TinyFs::mount("full") else {
        return;
    };
    let limit = 64 * 1024;
    let n = 8 << 20;
    let err = pt_cmd(["write", &n.to_string()])
        .stdout_capture_limit(limit, Keep::Spill)
        .spill_dir(&fs.0)
        .run()
        .unwrap_err();
    let Error::Io(io) = &err else { panic!("{err}") };
    assert_eq!(io.kind(), std::io::ErrorKind::StorageFull, "{err}");
    let message = err.to_string();
    let kept: u64 = message
        .split("kept the first ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no kept size in: {message}"));
    // What the 1 MiB file system took, give or take its own overhead.
    assert!(kept > limit as u64 && kept <= 1 << 20, "{message}");
    // Nothing is left on it.
    assert_eq!(left_in(&fs.0), (0, 0));
}
