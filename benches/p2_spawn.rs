//! P2: the cost of spawning and waiting for a trivial program, from a small
//! parent and from a parent that has touched a lot of memory.
//!
//! A `fork`-based spawn copies the parent's page tables, so it slows down as
//! the parent grows; `posix_spawn` (`vfork`-like) does not. Goal: procession's
//! big-parent / small-parent ratio is at most 1.2, for an absolute path
//! (`/bin/true`) and for a bare name looked up on `PATH` (`true`).
//!
//! Compared: procession (`cmd!(..).run()`), std (`Command::status`) and duct
//! (`cmd!(..).run()`). The small and big phases alternate `PROCESSION_P2_PHASES`
//! times (default 6), each timing every case `PROCESSION_BENCH_RUNS` times
//! (default 30) round-robin; the big parent touches `PROCESSION_P2_BIG`
//! bytes (default 2G) and frees them before the next small phase (many short
//! phases, so that the machine's slow drifts hit both sizes alike). duct's
//! spawn of a bare name forks (see [`ALONE`]) and is timed apart.
//!
//! Settings that force std's `fork` + `exec` (see [`forced_fork_cases`]) are
//! timed apart too, after the others in each phase, to give their cost in
//! the docs of `Command::uid`, `gid`, `new_session` and `before_spawn`.
//!
//! Run: `cargo bench --bench p2_spawn`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

/// The programs spawned: by absolute path, and by bare name on `PATH`.
const PROGRAMS: [(&str, &str); 2] = [("/bin/true", "/bin/true"), ("true (PATH)", "true")];

/// A named case: one spawn and wait.
type Case = (String, Box<dyn FnMut()>);

/// duct clears the child's environment and sets every variable again, so std
/// sees an explicit `PATH` and spawns a bare name with `fork` + `exec`. From a
/// big parent that is slow, and the child's teardown of the copied page
/// tables runs on the other core while the next case is timed; so this case
/// is timed on its own, after the others, with a tenth of the runs.
const ALONE: &str = "duct true (PATH)";

/// Every library spawning every program.
fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (label, program) in PROGRAMS {
        cases.push((
            format!("procession {label}"),
            Box::new(move || {
                procession::cmd!(program)
                    .run()
                    .expect("procession spawns true");
            }),
        ));
        cases.push((
            format!("std {label}"),
            Box::new(move || {
                std::process::Command::new(program)
                    .status()
                    .expect("std spawns true");
            }),
        ));
        cases.push((
            format!("duct {label}"),
            Box::new(move || {
                duct::cmd!(program).run().expect("duct spawns true");
            }),
        ));
    }
    cases
}

/// Spawns with a setting that forces std's `fork` + `exec`: `uid` set to our
/// own uid (so it needs no privilege), by procession and by std. A fork
/// copies the parent's page tables, and the child's teardown of them runs on
/// the other core while the next case is timed, so these run after the rest.
fn forced_fork_cases() -> Vec<Case> {
    use std::os::unix::process::CommandExt;
    let uid = rustix::process::getuid().as_raw();
    vec![
        (
            "procession /bin/true uid (fork)".to_string(),
            Box::new(move || {
                procession::cmd!("/bin/true")
                    .uid(uid)
                    .run()
                    .expect("procession spawns true with uid");
            }),
        ),
        (
            "std /bin/true uid (fork)".to_string(),
            Box::new(move || {
                std::process::Command::new("/bin/true")
                    .uid(uid)
                    .status()
                    .expect("std spawns true with uid");
            }),
        ),
    ]
}

/// Times every case `runs` times, round-robin, and appends the timings to
/// `samples` (one list per case).
fn measure(cases: &mut [Case], runs: usize, samples: &mut [Vec<Duration>]) {
    let mut refs: Vec<(&str, &mut dyn FnMut())> = cases
        .iter_mut()
        .map(|(name, f)| (name.as_str(), &mut **f as &mut dyn FnMut()))
        .collect();
    for (i, (_, timings)) in common::interleaved_samples(runs, &mut refs)
        .into_iter()
        .enumerate()
    {
        samples[i].extend(timings);
    }
}

/// The median of each case's timings, with the case names.
fn medians(cases: &[Case], samples: &mut [Vec<Duration>]) -> Vec<(String, Duration)> {
    cases
        .iter()
        .zip(samples.iter_mut())
        .map(|((name, _), s)| {
            s.sort();
            (name.clone(), common::percentile(s, 0.5))
        })
        .collect()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// The big/small table, and the goal for procession.
fn big_over_small(small: &[(String, Duration)], big: &[(String, Duration)]) {
    println!("\nP2 big parent / small parent, per case");
    println!(
        "{:<44} {:>14} {:>14} {:>9}",
        "case", "small", "big", "big/small"
    );
    for ((name, s), (_, b)) in small.iter().zip(big) {
        let (s_text, b_text) = (format!("{s:.3?}"), format!("{b:.3?}"));
        println!(
            "{name:<44} {s_text:>14} {b_text:>14} {:>8.3}x",
            ratio(*b, *s)
        );
    }
    for (label, _) in PROGRAMS {
        let name = format!("procession {label}");
        let find = |rows: &[(String, Duration)]| rows.iter().find(|(n, _)| *n == name).map(|r| r.1);
        if let (Some(s), Some(b)) = (find(small), find(big)) {
            let r = ratio(b, s);
            common::verdict(&format!("{name} big/small <= 1.20x: {r:.3}x"), r <= 1.2);
        }
    }
}

/// procession / std at the same parent size, per program.
fn versus_std(phase: &str, rows: &[(String, Duration)]) {
    for (label, _) in PROGRAMS {
        let find = |lib: &str| {
            let name = format!("{lib} {label}");
            rows.iter().find(|(n, _)| *n == name).map(|r| r.1)
        };
        if let (Some(p), Some(s)) = (find("procession"), find("std")) {
            println!(
                "procession / std, {phase} parent, {label}: {:.3}x",
                ratio(p, s)
            );
        }
    }
}

fn main() {
    let big_bytes = support::env_usize("PROCESSION_P2_BIG", 2 << 30);
    let phases = support::env_usize("PROCESSION_P2_PHASES", 6).max(1);
    let runs = common::runs(30);
    let mut cases = cases();
    let mut small = vec![Vec::new(); cases.len()];
    let mut big = vec![Vec::new(); cases.len()];
    let mut forks = forced_fork_cases();
    let mut small_forks = vec![Vec::new(); forks.len()];
    let mut big_forks = vec![Vec::new(); forks.len()];
    let (mut small_rss, mut big_rss) = (0, 0);
    for _ in 0..phases {
        small_rss = common::resident_bytes();
        measure(&mut cases, runs, &mut small);
        measure(&mut forks, runs, &mut small_forks);
        let memory = common::touch_memory(big_bytes);
        big_rss = common::resident_bytes();
        measure(&mut cases, runs, &mut big);
        measure(&mut forks, runs, &mut big_forks);
        drop(memory);
    }
    println!(
        "P2 spawn+wait: big parent touches {} (PROCESSION_P2_BIG); {phases} phases \
         (PROCESSION_P2_PHASES) x {runs} runs (PROCESSION_BENCH_RUNS) per case and size \
         ({ALONE}: a tenth, timed apart)",
        common::bytes_label(big_bytes)
    );
    println!(
        "resident memory: small parent {} MiB, big parent {} MiB",
        small_rss >> 20,
        big_rss >> 20
    );
    let small = medians(&cases, &mut small);
    let big = medians(&cases, &mut big);
    let title = |size: &str, rss: u64| {
        format!(
            "P2 {size} parent ({} MiB resident): median per spawn",
            rss >> 20
        )
    };
    common::report(&title("small", small_rss), "std /bin/true", &small, None);
    common::report(&title("big", big_rss), "std /bin/true", &big, None);
    big_over_small(&small, &big);
    println!();
    versus_std("small", &small);
    versus_std("big", &big);
    let small_forks = medians(&forks, &mut small_forks);
    let big_forks = medians(&forks, &mut big_forks);
    println!("\nP2 settings that force fork + exec (timed after the others), median per spawn");
    println!(
        "{:<44} {:>14} {:>14} {:>9}",
        "case", "small", "big", "big/small"
    );
    for ((name, s), (_, b)) in small_forks.iter().zip(&big_forks) {
        let (s_text, b_text) = (format!("{s:.3?}"), format!("{b:.3?}"));
        println!(
            "{name:<44} {s_text:>14} {b_text:>14} {:>8.3}x",
            ratio(*b, *s)
        );
    }
    let find =
        |rows: &[(String, Duration)], name: &str| rows.iter().find(|(n, _)| n == name).map(|r| r.1);
    if let (Some(fork), Some(spawn)) = (
        find(&big_forks, "procession /bin/true uid (fork)"),
        find(&big, "procession /bin/true"),
    ) {
        println!(
            "procession /bin/true, big parent: with uid (fork) / without (posix_spawn): {:.1}x",
            ratio(fork, spawn)
        );
    }
}
