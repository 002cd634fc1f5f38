//! A pool's settings, fixed when it is built.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::job::JobEvent;
use super::joblog::JobLog;
use super::output::JobOutput;
use super::policy::{Halt, Retry};

/// The event callback.
pub(crate) type OnEvent = Arc<dyn Fn(&JobEvent<'_>) + Send + Sync>;

/// A pool's settings, fixed at build time.
pub(crate) struct Config {
    pub(crate) jobs: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) halt: Halt,
    pub(crate) retry: Retry,
    pub(crate) output: JobOutput,
    pub(crate) on_event: Option<OnEvent>,
    pub(crate) joblog: Option<JobLog>,
    pub(crate) window: usize,
    pub(crate) progress: bool,
    /// How often a plain progress line is written when stderr is not a
    /// terminal.
    pub(crate) progress_interval: Duration,
    /// Jobs get `PROCESSION_SEQ` and `PROCESSION_SLOT`.
    pub(crate) job_env: bool,
}
