//! A backend that runs nothing (tests only): each job is a script in its
//! words, and the test decides when held attempts end. With it, the pool's
//! scheduling is tested deterministically, without processes or clocks.
//!
//! A job is `Command::new("fake").args([...])`; its words after the program
//! are one script per attempt, separated by `then` (the last one repeats):
//! - `ok`: exits 0 at once; `exit N`: exits N; `signal N`: killed by N;
//! - `out TEXT`: writes `TEXT` to stdout, exits 0; `err TEXT` to stderr;
//! - `spawn-fail`: `start` fails (nothing started);
//! - `reject`: started, but reports that it never ran (`NotStarted`);
//! - `hold`: runs until the test calls [`Fake::release`] or
//!   [`Fake::fire_timeouts`], or the pool stops it.
//!
//! Every report but `hold`'s is made inside `start`, before it returns,
//! which the backend contract allows.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::{Error, SpawnError, SpawnFailure};
use crate::reactor::OnDone;
use crate::sync::lock;

use super::backend::{
    Backend, Caps, Captured, Ended, Launch, Started, Status, StopHow, Stopper, Watch,
};
use super::job::Job;

/// The fake backend; clones share their state.
#[derive(Clone, Default)]
pub(crate) struct Fake {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

#[derive(Default)]
struct State {
    /// Attempts started, by sequence number.
    attempts: HashMap<u64, u32>,
    /// The attempts that run until released or stopped.
    held: HashMap<u64, Held>,
}

struct Held {
    command: String,
    timeout: Option<Duration>,
    on_done: OnDone,
}

impl Fake {
    /// Ends held attempt `seq` with `status`; false if it is not held.
    pub(crate) fn release(&self, seq: u64, status: Status) -> bool {
        let held = lock(&self.shared.state).held.remove(&seq);
        held.map(|held| end(held, status)).is_some()
    }

    /// Ends every held attempt that has a timeout as timed out.
    pub(crate) fn fire_timeouts(&self) {
        let due: Vec<Held> = {
            let mut state = lock(&self.shared.state);
            let seqs: Vec<u64> = state
                .held
                .iter()
                .filter(|(_, held)| held.timeout.is_some())
                .map(|(seq, _)| *seq)
                .collect();
            seqs.iter().filter_map(|s| state.held.remove(s)).collect()
        };
        for held in due {
            end(held, Status::TimedOut);
        }
    }

    /// Waits until `n` attempts are held; false after `limit`.
    pub(crate) fn wait_held(&self, n: usize, limit: Duration) -> bool {
        let state = lock(&self.shared.state);
        let (state, _) = self
            .shared
            .cv
            .wait_timeout_while(state, limit, |state| state.held.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        state.held.len() >= n
    }
}

fn end(held: Held, status: Status) {
    let ended = Ended {
        status,
        out: Captured::default(),
        pid: 0,
        elapsed: Duration::ZERO,
    };
    (held.on_done)(ended.into_result(&held.command, held.timeout));
}

/// The script of attempt `attempt` (from 1) of `command`.
fn script(command: &str, attempt: u32) -> Vec<String> {
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let scripts: Vec<&[&str]> = words.split(|w| *w == "then").collect();
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    let chosen = scripts
        .get(index)
        .or(scripts.last())
        .copied()
        .unwrap_or(&[]);
    chosen.iter().map(|w| (*w).to_string()).collect()
}

impl Backend for Fake {
    fn caps(&self, _job: &Job) -> Caps {
        Caps {
            stream_lines: false,
            spill_capture: false,
        }
    }

    fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error> {
        let command = job.to_string();
        let attempt = {
            let mut state = lock(&self.shared.state);
            let attempt = state.attempts.entry(launch.seq).or_insert(0);
            *attempt += 1;
            *attempt
        };
        let words = script(&command, attempt);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let number = |word: Option<&&str>| word.and_then(|w| w.parse::<i32>().ok()).unwrap_or(1);
        let mut out = Captured::default();
        let status = match words.as_slice() {
            ["spawn-fail", ..] => {
                return Err(Error::Spawn(Box::new(SpawnError {
                    command: command.clone(),
                    program: "fake".to_string(),
                    stage: None,
                    dir: None,
                    failure: SpawnFailure::NotFound,
                    detail: Some("the fake backend's spawn-fail".to_string()),
                    source: None,
                })));
            }
            ["hold", ..] => {
                let held = Held {
                    command,
                    timeout: launch.timeout,
                    on_done,
                };
                lock(&self.shared.state).held.insert(launch.seq, held);
                self.shared.cv.notify_all();
                return Ok(self.started(launch.seq));
            }
            ["exit", rest @ ..] => Status::Exited(number(rest.first())),
            ["signal", rest @ ..] => Status::Signaled {
                signal: number(rest.first()),
                core: false,
            },
            ["reject", ..] => Status::NotStarted(SpawnFailure::Other, "rejected".to_string()),
            ["out", text @ ..] => {
                out.stdout = text.join(" ").into_bytes();
                Status::Exited(0)
            }
            ["err", text @ ..] => {
                out.stderr = text.join(" ").into_bytes();
                Status::Exited(0)
            }
            _ => Status::Exited(0),
        };
        let ended = Ended {
            status,
            out,
            pid: 0,
            elapsed: Duration::ZERO,
        };
        on_done(ended.into_result(&command, launch.timeout));
        Ok(self.started(launch.seq))
    }
}

impl Fake {
    /// What `start` returns for the attempt `seq`: the fake reports its end
    /// itself, and stops it through [`FakeStopper`].
    fn started(&self, seq: u64) -> Started {
        Started {
            stopper: Arc::new(FakeStopper {
                fake: self.clone(),
                seq,
            }),
            pids: Vec::new(),
            watch: Watch::Own,
            ids: None,
        }
    }
}

/// Stops a held attempt: it ends as stopped, once, reported from another
/// thread (a stopper may be called under the pool's lock, see [`Stopper`]).
struct FakeStopper {
    fake: Fake,
    seq: u64,
}

impl Stopper for FakeStopper {
    fn stop(&self, how: StopHow) {
        let fake = self.fake.clone();
        let seq = self.seq;
        std::thread::spawn(move || fake.release(seq, Status::Stopped(how)));
    }
}

#[cfg(test)]
mod tests {
    use super::script;

    #[test]
    fn scripts_are_chosen_per_attempt_and_the_last_repeats() {
        let table: &[(&str, u32, &[&str])] = &[
            ("fake ok", 1, &["ok"]),
            ("fake exit 1 then ok", 1, &["exit", "1"]),
            ("fake exit 1 then ok", 2, &["ok"]),
            ("fake exit 1 then ok", 5, &["ok"]),
            ("fake", 1, &[]),
        ];
        for (command, attempt, expected) in table {
            assert_eq!(script(command, *attempt), *expected, "{command} #{attempt}");
        }
    }
}
