//! Spans for `tracing` (feature `tracing`): one per run and one per pool
//! job, so that a service sees the commands it runs in its traces.
//!
//! A run's span, `run` (target `procession`), opens when its processes
//! have started and closes when the run is over, with the fields `command`
//! (secrets redacted, as in the command's `Display`), `pid` (the first
//! stage's), `status` (as in [`ExitStatus`]'s `Display`), `code` (the exit
//! code, when there is one), `error` (when the run failed) and
//! `elapsed_ms`. A pool job's span, `pool_job`, opens when the job is
//! prepared and closes when it is reported, with `seq`, `command`, `slot`,
//! `attempts`, `pid` (its last attempt's), `status`, `code`, `error` and
//! `elapsed_ms` (its last attempt's); the spans of its attempts' runs are
//! its children. Both are children of the current span where they open: a
//! run's, of the caller's (`run`, `start`...); a pool job's, of the span of
//! the thread that drives its batch (the caller's, in `map` and
//! `as_completed`; none, for submitted jobs).
//!
//! Without the feature, [`Span`] is an empty type whose methods do nothing
//! and evaluate none of their arguments: the spans cost nothing.

#[cfg(feature = "tracing")]
pub(crate) use on::Span;

#[cfg(not(feature = "tracing"))]
pub(crate) use off::Span;

#[cfg(feature = "tracing")]
mod on {
    use std::fmt::Display;
    use std::time::Duration;

    use tracing::field::Empty;

    use crate::error::Error;
    use crate::output::Output;
    use crate::status::ExitStatus;

    /// A run's or a pool job's span.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Span(Option<tracing::Span>);

    impl Span {
        /// No span (yet).
        pub(crate) fn none() -> Span {
            Span(None)
        }

        /// A run's span, a child of the current span (a pool job's, for
        /// the pool's runs).
        pub(crate) fn run(command: &str, pids: impl FnOnce() -> Vec<u32>) -> Span {
            let span = tracing::info_span!(
                target: "procession",
                "run",
                command,
                pid = Empty,
                status = Empty,
                code = Empty,
                error = Empty,
                elapsed_ms = Empty,
            );
            if !span.is_disabled() {
                if let Some(pid) = pids().first() {
                    span.record("pid", pid);
                }
            }
            Span(Some(span))
        }

        /// A pool job's span, a child of the current span (the caller's,
        /// for `map` and `as_completed`).
        pub(crate) fn job(seq: u64, command: impl Display) -> Span {
            let span = tracing::info_span!(
                target: "procession",
                "pool_job",
                seq,
                command = Empty,
                slot = Empty,
                attempts = Empty,
                pid = Empty,
                status = Empty,
                code = Empty,
                error = Empty,
                elapsed_ms = Empty,
            );
            if !span.is_disabled() {
                span.record("command", tracing::field::display(command));
            }
            Span(Some(span))
        }

        /// Runs `f` inside the span (spans opened by `f` are its children).
        pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
            match &self.0 {
                Some(span) => span.in_scope(f),
                None => f(),
            }
        }

        /// A pool job's attempt started.
        pub(crate) fn started(&self, slot: usize, attempt: u32, pids: &[u32]) {
            let Some(span) = &self.0 else { return };
            span.record("slot", slot);
            span.record("attempts", attempt);
            if let Some(pid) = pids.first() {
                span.record("pid", pid);
            }
        }

        /// The run or job is over, with this result after `elapsed`.
        pub(crate) fn finished(&self, result: &Result<Output, Error>, elapsed: Duration) {
            let Some(span) = &self.0 else { return };
            if span.is_disabled() {
                return;
            }
            let status = match result {
                Ok(output) => Some(output.status),
                Err(error) => {
                    span.record("error", tracing::field::display(error));
                    error.status()
                }
            };
            if let Some(status) = status {
                record_status(span, status);
            }
            span.record("elapsed_ms", elapsed.as_secs_f64() * 1000.0);
        }
    }

    fn record_status(span: &tracing::Span, status: ExitStatus) {
        span.record("status", tracing::field::display(status));
        if let Some(code) = status.code() {
            span.record("code", code);
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod off {
    use std::fmt::Display;
    use std::time::Duration;

    use crate::error::Error;
    use crate::output::Output;

    /// No span without the `tracing` feature.
    #[derive(Clone, Debug, Default)]
    pub(crate) struct Span;

    impl Span {
        #[inline]
        pub(crate) fn none() -> Span {
            Span
        }
        #[inline]
        pub(crate) fn run(_: &str, _: impl FnOnce() -> Vec<u32>) -> Span {
            Span
        }
        #[inline]
        pub(crate) fn job(_: u64, _: impl Display) -> Span {
            Span
        }
        #[inline]
        pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
            f()
        }
        #[inline]
        pub(crate) fn started(&self, _: usize, _: u32, _: &[u32]) {}
        #[inline]
        pub(crate) fn finished(&self, _: &Result<Output, Error>, _: Duration) {}
    }
}
