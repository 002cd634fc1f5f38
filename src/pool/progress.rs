//! The progress bar of a batch (feature `progress`): counts, failures and
//! an ETA, drawn on stderr only when stderr is a terminal. Without the
//! feature, a bar that does nothing.

use super::job::Done;
use super::state::Config;

#[cfg(feature = "progress")]
pub(crate) use real::Bar;

#[cfg(not(feature = "progress"))]
pub(crate) use none::Bar;

#[cfg(feature = "progress")]
mod real {
    use std::io::IsTerminal;

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

    use super::{Config, Done};

    /// A batch's bar, if one is drawn.
    pub(crate) struct Bar {
        bar: Option<ProgressBar>,
        failed: u64,
    }

    impl Bar {
        /// A bar for a batch of `total` jobs (if known), when the pool asks
        /// for one and stderr is a terminal.
        pub(crate) fn new(config: &Config, total: Option<u64>) -> Bar {
            let bar = (config.progress && std::io::stderr().is_terminal()).then(|| {
                let template = match total {
                    Some(_) => "{bar:30} {pos}/{len} jobs, {msg} [{elapsed_precise}, ETA {eta}]",
                    None => "{spinner} {pos} jobs, {msg} [{elapsed_precise}]",
                };
                let style = ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                bar.set_style(style);
                bar.set_message("0 failed");
                bar
            });
            Bar { bar, failed: 0 }
        }

        pub(crate) fn finished(&mut self, done: &Done) {
            let Some(bar) = &self.bar else { return };
            if !done.is_success() {
                self.failed += 1;
                bar.set_message(format!("{} failed", self.failed));
            }
            bar.inc(1);
        }

        /// Runs `f` (which writes to the terminal) with the bar hidden.
        pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            match &self.bar {
                Some(bar) => bar.suspend(f),
                None => f(),
            }
        }

        pub(crate) fn finish(&mut self) {
            if let Some(bar) = self.bar.take() {
                bar.finish();
            }
        }
    }
}

#[cfg(not(feature = "progress"))]
mod none {
    use super::{Config, Done};

    /// No bar without the `progress` feature.
    pub(crate) struct Bar;

    impl Bar {
        pub(crate) fn new(_: &Config, _: Option<u64>) -> Bar {
            Bar
        }

        pub(crate) fn finished(&mut self, _: &Done) {}

        pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            f()
        }

        pub(crate) fn finish(&mut self) {}
    }
}
