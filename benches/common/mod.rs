//! A tiny benchmark harness: every benchmark measures its baseline in the same
//! run (the machine is shared and noisy) and prints ratios against it.
//!
//! Benches use `#[path = "common/mod.rs"] mod common;` (or `mod common;`).

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// How many repetitions, from `PROCESSION_BENCH_RUNS` (default `default`).
pub fn runs(default: usize) -> usize {
    std::env::var("PROCESSION_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Times `f` once.
pub fn time(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// The median of `runs` timings of `f`.
pub fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs.max(1)).map(|_| time(&mut f)).collect();
    times.sort();
    times[times.len() / 2]
}

/// Measures each of `cases` `runs` times, interleaved round-robin (in a
/// shifting order, see [`round_order`]) so that noise on the machine hits
/// every case alike, and returns the medians.
pub fn interleaved(runs: usize, cases: &mut [(&str, &mut dyn FnMut())]) -> Vec<(String, Duration)> {
    interleaved_samples(runs, cases)
        .into_iter()
        .map(|(name, s)| {
            let median = s[s.len() / 2];
            (name, median)
        })
        .collect()
}

/// [`interleaved`] over named calls whose results are only kept from being
/// optimised away.
pub fn interleaved_calls<T, F: Fn() -> T>(
    runs: usize,
    cases: &[(&'static str, F)],
) -> Vec<(String, Duration)> {
    let mut timed: Vec<Box<dyn FnMut() + '_>> = cases
        .iter()
        .map(|(_, call)| -> Box<dyn FnMut() + '_> {
            Box::new(move || {
                std::hint::black_box(call());
            })
        })
        .collect();
    let mut refs: Vec<(&str, &mut dyn FnMut())> = cases
        .iter()
        .zip(timed.iter_mut())
        .map(|((name, _), f)| (*name, &mut **f as &mut dyn FnMut()))
        .collect();
    interleaved(runs, &mut refs)
}

/// Like [`interleaved`], but returns every timing of each case, sorted
/// (for percentiles, or to pool samples from several phases).
pub fn interleaved_samples(
    runs: usize,
    cases: &mut [(&str, &mut dyn FnMut())],
) -> Vec<(String, Vec<Duration>)> {
    let n = cases.len();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); n];
    for round in 0..runs.max(1) {
        for i in round_order(n, round) {
            samples[i].push(time(&mut *cases[i].1));
        }
    }
    cases
        .iter()
        .zip(samples)
        .map(|((name, _), mut s)| {
            s.sort();
            (name.to_string(), s)
        })
        .collect()
}

/// The order of the `n` cases in round `round`: each round starts one case
/// later, and every other round runs backwards, so that no case always runs
/// first, or right after the same neighbour (whose aftermath it would pay
/// for: a child still being torn down on the other core, say).
fn round_order(n: usize, round: usize) -> impl Iterator<Item = usize> {
    let backwards = round % 2 == 1;
    (0..n).map(move |k| {
        let i = (k + round) % n;
        if backwards { n - 1 - i } else { i }
    })
}

/// The `q`-quantile (0.0 to 1.0) of `sorted` timings by nearest rank (0.99
/// of 200 timings is the 198th smallest; 1.0 is the maximum). Zero for no
/// timings.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A byte count for humans: `256 MiB`, `1 GiB`, `64 KiB`, `100 B`.
pub fn bytes_label(bytes: usize) -> String {
    const UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} B")
}

/// Prints whether a goal is met, in the same words as [`report`]:
/// `goal: <goal>, met` or `goal: <goal>, NOT met`.
pub fn verdict(goal: &str, met: bool) {
    let verdict = if met { "met" } else { "NOT met" };
    println!("goal: {goal}, {verdict}");
}

/// Prints a table of `rows` with each one's ratio to the row named
/// `baseline`, and an optional goal for the row named `subject`.
pub fn report(title: &str, baseline: &str, rows: &[(String, Duration)], goal: Option<(&str, f64)>) {
    let base = rows
        .iter()
        .find(|(name, _)| name == baseline)
        .map(|(_, d)| d.as_secs_f64())
        .expect("the baseline row is measured");
    println!("\n{title}");
    println!("{:<44} {:>14} {:>8}", "case", "median", "ratio");
    for (name, d) in rows {
        println!(
            "{:<44} {:>14} {:>7.3}x",
            name,
            format!("{:.3?}", d),
            d.as_secs_f64() / base
        );
    }
    if let Some((subject, limit)) = goal {
        if let Some((_, d)) = rows.iter().find(|(name, _)| name == subject) {
            let ratio = d.as_secs_f64() / base;
            let verdict = if ratio <= limit { "met" } else { "NOT met" };
            println!("goal: {subject} <= {limit:.2}x {baseline}: {ratio:.3}x, {verdict}");
        }
    }
}

/// Grows this process by `bytes` of touched memory (every page written), to
/// measure spawning from a big parent. Keep the returned buffer alive.
pub fn touch_memory(bytes: usize) -> Vec<u8> {
    let mut v = vec![0u8; bytes];
    for i in (0..bytes).step_by(4096) {
        v[i] = 1;
    }
    std::hint::black_box(&v);
    v
}

/// Resident memory of this process in bytes, from `/proc/self/statm`.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Runs `f` while a thread samples resident memory every 2 ms; returns
/// what `f` returned and the peak seen (before, during and after it).
pub fn peak_resident_while<R>(f: impl FnOnce() -> R) -> (R, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(resident_bytes()));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let result = f();
    peak.fetch_max(resident_bytes(), Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    sampler.join().expect("the memory sampler");
    (result, peak.load(Ordering::Relaxed))
}

/// Number of OS threads of this process, from `/proc/self/status`.
pub fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
