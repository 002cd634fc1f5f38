//! The progress report of a batch (feature `progress`): counts, failures
//! and an ETA. On a terminal, a bar drawn on stderr (indicatif); otherwise
//! (a CI log, `nohup`) a plain line on stderr every few seconds and one at
//! the end. Without the feature nothing is shown.
//!
//! Every bar of the process sits in one [`indicatif::MultiProgress`], so
//! that anything written to the terminal by the crate (grouped and tagged
//! output, job output routed above the bar) or by the program (through
//! [`Pool::suspend`](crate::Pool::suspend)) is written with the bars
//! hidden, and leaves no stale copy of a bar behind.

use std::io::Write;
use std::time::{Duration, Instant};

use super::job::Done;

/// How often a plain progress line is written when stderr is not a
/// terminal, unless the pool says otherwise.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// A batch's progress report.
pub(crate) struct Bar {
    /// Nothing is shown.
    off: bool,
    term: term::Term,
    plain: Option<Plain>,
    counts: Counts,
    began: Instant,
}

/// A plain line every `interval`.
struct Plain {
    interval: Duration,
    due: Instant,
}

/// What a progress line reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Jobs finished for good.
    pub(crate) finished: u64,
    /// Of them, jobs that failed.
    pub(crate) failed: u64,
    /// All jobs of the batch, once known.
    pub(crate) total: Option<u64>,
}

impl Bar {
    /// A report for a batch of `total` jobs (if known), when the pool asks
    /// for one (`interval` is then how often plain lines are written): a bar
    /// if stderr is a terminal, else plain lines.
    pub(crate) fn new(interval: Option<Duration>, total: Option<u64>) -> Bar {
        let began = Instant::now();
        let counts = Counts {
            total,
            ..Counts::default()
        };
        let Some(interval) = interval else {
            return Bar {
                off: true,
                term: term::Term::none(),
                plain: None,
                counts,
                began,
            };
        };
        let term = term::Term::new(total);
        let plain = (!term.drawn()).then(|| Plain {
            interval,
            due: began + interval,
        });
        Bar {
            off: false,
            term,
            plain,
            counts,
            began,
        }
    }

    /// Whether the bar is drawn on the terminal.
    pub(crate) fn drawn(&self) -> bool {
        self.term.drawn()
    }

    /// A job finished for good.
    pub(crate) fn finished(&mut self, done: &Done) {
        if self.off {
            return;
        }
        self.counts.finished += 1;
        if !done.is_success() {
            self.counts.failed += 1;
        }
        self.term.update(self.counts);
    }

    /// Whether the batch's total is still unknown.
    pub(crate) fn wants_total(&self) -> bool {
        !self.off && self.counts.total.is_none()
    }

    /// The batch's total became known (submitted jobs, at `close`).
    pub(crate) fn set_total(&mut self, total: u64) {
        if !self.wants_total() {
            return;
        }
        self.counts.total = Some(total);
        self.term.set_total(total, self.counts);
    }

    /// When the next plain line is due, if lines are written.
    pub(crate) fn next_tick(&self) -> Option<Instant> {
        self.plain.as_ref().map(|p| p.due)
    }

    /// Writes a plain line if one is due.
    pub(crate) fn tick(&mut self, now: Instant) {
        let Some(plain) = &mut self.plain else { return };
        if now < plain.due {
            return;
        }
        plain.due = crate::sync::after(now, plain.interval).unwrap_or(now + DEFAULT_INTERVAL);
        write_line(self.counts, now.saturating_duration_since(self.began));
    }

    /// The batch is over (`complete`: every job of its input finished):
    /// the bar's last state stays above any later bar, and plain lines end
    /// with a last one.
    pub(crate) fn finish(&mut self, complete: bool) {
        if complete {
            self.set_total(self.counts.finished);
        }
        if self.off {
            return;
        }
        self.off = true;
        let elapsed = self.began.elapsed();
        if self.plain.take().is_some() {
            write_line(self.counts, elapsed);
        }
        self.term.finish(&line(self.counts, elapsed));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // A batch dropped before its end leaves no bar drawn.
        self.term.clear();
    }
}

/// Writes a plain progress line to stderr (a failed write is ignored:
/// progress is no reason to fail a job).
fn write_line(counts: Counts, elapsed: Duration) {
    let text = line(counts, elapsed);
    let _ = suspend(|| writeln!(std::io::stderr().lock(), "{text}"));
}

/// The plain progress line: `progress: 3/10 jobs, 1 failed, 12s elapsed,
/// ETA 28s`; without a known total, `progress: 3 jobs, 1 failed, 12s
/// elapsed`.
pub(crate) fn line(counts: Counts, elapsed: Duration) -> String {
    let Counts {
        finished,
        failed,
        total,
    } = counts;
    let elapsed_text = clock(elapsed);
    match total {
        Some(total) => {
            let eta = eta(finished, total, elapsed).map_or_else(|| "?".to_string(), clock);
            format!(
                "progress: {finished}/{total} jobs, {failed} failed, {elapsed_text} elapsed, ETA {eta}"
            )
        }
        None => format!("progress: {finished} jobs, {failed} failed, {elapsed_text} elapsed"),
    }
}

/// The time left for `total - finished` jobs at the pace so far; `None`
/// before the first job finished.
pub(crate) fn eta(finished: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if finished >= total {
        return Some(Duration::ZERO);
    }
    if finished == 0 {
        return None;
    }
    let left = (total - finished) as f64;
    Some(Duration::from_secs_f64(
        elapsed.as_secs_f64() / finished as f64 * left,
    ))
}

/// A duration to the second, as `45s`, `3m05s` or `2h01m`.
pub(crate) fn clock(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Runs `f` (which writes to the terminal) with every progress bar of the
/// process hidden, then draws them again.
pub(crate) fn suspend<R>(f: impl FnOnce() -> R) -> R {
    term::suspend(f)
}

#[cfg(feature = "progress")]
mod term {
    use std::io::IsTerminal;
    use std::sync::OnceLock;

    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

    use super::Counts;

    /// Every bar of the process, drawn together on stderr.
    static BARS: OnceLock<MultiProgress> = OnceLock::new();

    fn bars() -> &'static MultiProgress {
        BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
    }

    pub(super) fn suspend<R>(f: impl FnOnce() -> R) -> R {
        match BARS.get() {
            Some(bars) => bars.suspend(f),
            None => f(),
        }
    }

    const WITH_TOTAL: &str = "{bar:30} {pos}/{len} jobs, {msg} [{elapsed_precise}, ETA {eta}]";
    const WITHOUT_TOTAL: &str = "{spinner} {pos} jobs, {msg} [{elapsed_precise}]";

    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    }

    /// A bar on the terminal, if stderr is one.
    pub(super) struct Term(Option<ProgressBar>);

    impl Term {
        pub(super) fn none() -> Term {
            Term(None)
        }

        pub(super) fn new(total: Option<u64>) -> Term {
            if !std::io::stderr().is_terminal() {
                return Term(None);
            }
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
            bar.set_style(style(if total.is_some() {
                WITH_TOTAL
            } else {
                WITHOUT_TOTAL
            }));
            bar.set_message("0 failed");
            let bar = bars().add(bar);
            // Drawn now, before any job starts: not only once the first
            // job ends, with whatever the jobs wrote until then below it.
            bar.tick();
            Term(Some(bar))
        }

        pub(super) fn drawn(&self) -> bool {
            self.0.is_some()
        }

        pub(super) fn update(&self, counts: Counts) {
            if let Some(bar) = &self.0 {
                bar.set_message(format!("{} failed", counts.failed));
                bar.set_position(counts.finished);
            }
        }

        pub(super) fn set_total(&self, total: u64, counts: Counts) {
            if let Some(bar) = &self.0 {
                bar.set_length(total);
                bar.set_style(style(WITH_TOTAL));
                self.update(counts);
            }
        }

        /// Takes the bar away and leaves its last state as a line above the
        /// remaining bars.
        pub(super) fn finish(&mut self, last: &str) {
            if let Some(bar) = self.0.take() {
                bar.finish_and_clear();
                bars().remove(&bar);
                let _ = bars().println(last);
            }
        }

        pub(super) fn clear(&mut self) {
            if let Some(bar) = self.0.take() {
                bar.finish_and_clear();
                bars().remove(&bar);
            }
        }
    }
}

#[cfg(not(feature = "progress"))]
mod term {
    use super::Counts;

    /// No bar without the `progress` feature.
    pub(super) struct Term;

    pub(super) fn suspend<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    impl Term {
        pub(super) fn none() -> Term {
            Term
        }
        pub(super) fn new(_: Option<u64>) -> Term {
            Term
        }
        pub(super) fn drawn(&self) -> bool {
            false
        }
        pub(super) fn update(&self, _: Counts) {}
        pub(super) fn set_total(&self, _: u64, _: Counts) {}
        pub(super) fn finish(&mut self, _: &str) {}
        pub(super) fn clear(&mut self) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let s = Duration::from_secs;
        let table = [
            (
                0,
                0,
                Some(10),
                s(0),
                "progress: 0/10 jobs, 0 failed, 0s elapsed, ETA ?",
            ),
            (
                2,
                1,
                Some(10),
                s(10),
                "progress: 2/10 jobs, 1 failed, 10s elapsed, ETA 40s",
            ),
            (
                5,
                0,
                Some(5),
                s(65),
                "progress: 5/5 jobs, 0 failed, 1m05s elapsed, ETA 0s",
            ),
            (
                3,
                3,
                None,
                s(7300),
                "progress: 3 jobs, 3 failed, 2h01m elapsed",
            ),
        ];
        for (finished, failed, total, elapsed, want) in table {
            let counts = Counts {
                finished,
                failed,
                total,
            };
            assert_eq!(line(counts, elapsed), want, "{counts:?}");
        }
    }

    #[test]
    fn etas() {
        let s = Duration::from_secs;
        let table = [
            (0, 10, s(5), None),
            (1, 10, s(5), Some(s(45))),
            (9, 10, s(90), Some(s(10))),
            (10, 10, s(90), Some(s(0))),
            // More finished than the total said (a total set late).
            (12, 10, s(90), Some(s(0))),
        ];
        for (finished, total, elapsed, want) in table {
            assert_eq!(eta(finished, total, elapsed), want, "{finished}/{total}");
        }
    }

    #[test]
    fn clocks() {
        let table = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m00s"),
            (3599, "59m59s"),
            (3600, "1h00m"),
            (90_061, "25h01m"),
        ];
        for (secs, want) in table {
            assert_eq!(clock(Duration::from_secs(secs)), want);
        }
    }
}
