//! The pool on a real Slurm cluster (feature `slurm`).
//!
//! Its own `main` (`harness = false`), so that its verdict is printed even
//! under `cargo test`'s capture: without `srun` on PATH and a cluster that
//! answers `sinfo`, it prints that the Slurm tests were SKIPPED and passes;
//! with `PROCESSION_SLURM=require` (as in CI, against the loopback cluster
//! of `.ci/slurm-loopback.sh`) that is a failure. Arguments filter the
//! tests by name, as libtest's do.
//!
//! Every test ends with no job of this process in `squeue` and no process
//! left that carries the test's marker in its environment (srun hands the
//! pool's environment to the task, so every descendant carries it).

const SKIP: &str =
    "slurm tests: SKIPPED (no srun/cluster; PROCESSION_SLURM=require makes this a failure)";

fn required() -> bool {
    std::env::var("PROCESSION_SLURM").is_ok_and(|v| v == "require")
}

#[cfg(not(feature = "slurm"))]
fn main() {
    println!("{SKIP} (built without feature slurm)");
    if required() {
        std::process::exit(1);
    }
}

#[cfg(feature = "slurm")]
mod support;

#[cfg(feature = "slurm")]
#[path = "slurm/cases.rs"]
mod cases;

#[cfg(feature = "slurm")]
fn main() {
    if std::env::args().any(|a| a == cases::STEPS_CHILD) {
        cases::steps_child();
        return;
    }
    if std::env::args().any(|a| a == cases::TAGGED_CHILD) {
        cases::tagged_child();
        return;
    }
    if !cases::cluster_answers() {
        println!("{SKIP}");
        if required() {
            std::process::exit(1);
        }
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in cases::ALL {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let start = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(test);
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} ... {verdict} ({:.1} s)",
            start.elapsed().as_secs_f64()
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    println!(
        "slurm tests: {} passed, {} failed {failed:?}",
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
