//! The pool on a Slurm cluster (feature `slurm`): runs a command N times,
//! each through `srun`, and says where each ran.
//!
//! ```text
//! cargo run --features slurm --example slurm -- -n 8 --timeout 60 hostname
//! ```
//!
//! Outside an allocation each run is a job of its own; inside one (an
//! `salloc` shell, an `sbatch` script) a step of it, and the pool runs as
//! many at once as the allocation has tasks. Each run sees
//! `PROCESSION_SEQ` (1 to N). Ctrl-C stops every running job with
//! `scancel` before this program ends. Without `srun` and a cluster that
//! answers `sinfo`, it says so and exits 0.

#[cfg(not(feature = "slurm"))]
fn main() {
    println!("slurm example: built without feature slurm; run it with --features slurm");
}

#[cfg(feature = "slurm")]
fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    use std::time::Duration;

    use procession::{Command, JobOutput, Pool, Slurm, cmd};

    const USAGE: &str =
        "usage: slurm [-n RUNS] [-j JOBS] [--timeout SECS] [--partition P] COMMAND [ARGS...]";
    let mut args = std::env::args_os().skip(1);
    let (mut runs, mut jobs, mut timeout, mut partition) = (4u64, None, None, None);
    let mut command: Vec<std::ffi::OsString> = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.into_string().ok())
                .unwrap_or_default()
        };
        match arg.to_str() {
            Some("-n") => runs = value().parse().unwrap_or(0),
            Some("-j") => jobs = value().parse::<usize>().ok(),
            Some("--timeout") => timeout = value().parse::<f64>().ok(),
            Some("--partition") => partition = Some(value()),
            _ => {
                command.push(arg);
                command.extend(args.by_ref());
            }
        }
    }
    if command.is_empty() || runs == 0 || jobs == Some(0) || timeout.is_some_and(|t| t <= 0.0) {
        eprintln!("{USAGE}");
        return ExitCode::from(1);
    }
    let answers = cmd!("sinfo", "-h", "-o", "%T")
        .stderr_null()
        .timeout(Duration::from_secs(2))
        .read()
        .is_ok();
    if !answers {
        println!("slurm example: no Slurm cluster here (sinfo does not answer); nothing to do");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = procession::forward_signals() {
        eprintln!("slurm: {e}");
        return ExitCode::from(1);
    }
    let mut slurm = Slurm::auto();
    if let Some(p) = partition {
        slurm = slurm.partition(p);
    }
    let mut builder = Pool::builder().slurm(slurm).output(JobOutput::Capture {
        limit: Some(64 * 1024),
        keep: procession::Keep::Tail,
    });
    if let Some(jobs) = jobs {
        builder = builder.jobs(jobs);
    }
    if let Some(secs) = timeout {
        builder = builder.timeout(Duration::from_secs_f64(secs));
    }
    let pool = builder.build();
    println!("slurm: {runs} runs, {} at a time", pool.jobs());
    let job = Command::new(&command[0]).args(&command[1..]);
    let mut failed = 0;
    for done in pool.as_completed((0..runs).map(|_| job.clone())) {
        let host = done.host().unwrap_or("-");
        let id = done.remote_id().unwrap_or("-");
        match done.result() {
            Ok(output) => {
                let out = String::from_utf8_lossy(&output.stdout);
                println!("#{} on {host} (Slurm {id}): {}", done.seq(), out.trim_end());
            }
            Err(e) => {
                failed += 1;
                println!("#{} on {host} (Slurm {id}): {e}", done.seq());
                let out = e
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
                if let Some(out) = out.filter(|o| !o.is_empty()) {
                    println!(
                        "#{} stdout: {}",
                        done.seq(),
                        out.trim_end().replace('\n', " | ")
                    );
                }
            }
        }
    }
    if failed > 0 {
        ExitCode::from(123)
    } else {
        ExitCode::SUCCESS
    }
}
