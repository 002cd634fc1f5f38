//! The backend that runs jobs on this machine: commands through the crate's
//! engine, duct expressions through duct.

use std::sync::Arc;

use crate::command::Command;
use crate::control::{Control, Request};
use crate::error::Error;
use crate::plan::Mode;
use crate::reactor::OnDone;

use super::backend::{Backend, Caps, Launch, Started, StopHow, Stopper, Watch};
use super::job::Job;
use super::output::{self, Sinks};

/// Runs jobs on this machine.
pub(crate) struct Local;

impl Backend for Local {
    fn caps(&self, job: &Job) -> Caps {
        match job {
            Job::Command(_) => Caps {
                stream_lines: true,
                spill_capture: true,
            },
            // Duct's own pipes hand over whole outputs only.
            #[cfg(feature = "duct")]
            Job::Duct(_) => Caps {
                stream_lines: false,
                spill_capture: false,
            },
        }
    }

    fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error> {
        match job {
            Job::Command(command) => start_command(command, launch, on_done),
            #[cfg(feature = "duct")]
            Job::Duct(expression) => super::duct::start(expression, launch, on_done),
        }
    }
}

/// Starts a command, for the pool's spawner to drive: its pipes and exit
/// are watched by the spawning thread while it has nothing else to do, else
/// by the shared background loop with every other running command, so a job
/// costs no thread (see `spawner`).
fn start_command(command: &Command, launch: Launch, on_done: OnDone) -> Result<Started, Error> {
    let prefix = output::line_prefix(&launch.sinks, launch.seq);
    let command = prepare(command, launch);
    let mode = if prefix.is_some() {
        Mode::Events
    } else {
        Mode::Start
    };
    let (mut exec, stdin) = command.exec_job(mode)?;
    // A `stdin_pipe` job gets end of file: nobody writes to it.
    drop(stdin);
    if let Some(prefix) = prefix {
        output::stream_lines(&mut exec, prefix);
    }
    let pids = exec.pids();
    let control = exec.control().clone();
    Ok(Started {
        stopper: Arc::new(ControlStopper(control)),
        pids,
        watch: Watch::Engine(Box::new(exec), on_done),
        ids: None,
    })
}

/// The command as this attempt runs it: the pool's settings layered over
/// the command's own (which win where they are stricter or more specific).
fn prepare(command: &Command, launch: Launch) -> Command {
    let mut c = command.clone();
    // Jobs read nothing from this process unless asked, as with xargs.
    if c.node.opts.stdin.is_none() {
        c = c.stdin_null();
    }
    for (name, value) in launch.env_vars() {
        c = c.env(name, value);
    }
    // The command's own limits stay when they are stricter.
    if let Some(timeout) = launch
        .timeout
        .filter(|t| c.node.opts.timeout.is_none_or(|own| *t < own))
    {
        c = c.timeout(timeout);
    }
    if let Some(deadline) = launch
        .deadline
        .filter(|d| c.node.opts.deadline.is_none_or(|own| *d < own))
    {
        c = c.deadline(deadline);
    }
    match launch.sinks {
        Sinks::AsCommand => c,
        Sinks::Null => c.stdout_null().stderr_null(),
        Sinks::Capture(Some(limit), keep) => c
            .stdout_capture_limit(limit, keep)
            .stderr_capture_limit(limit, keep),
        Sinks::Capture(None, _) => c.stdout_capture().stderr_capture(),
        Sinks::Files(out, err) => c.stdout_shared_file(out).stderr_shared_file(err),
        // `Mode::Events` captures both streams as lines over the command's
        // own outermost settings.
        Sinks::Tagged | Sinks::Lines => c,
    }
}

struct ControlStopper(Arc<Control>);

impl Stopper for ControlStopper {
    fn stop(&self, how: StopHow) {
        self.0.post(match how {
            StopHow::Cancel => Request::Cancel,
            StopHow::Kill => Request::Kill,
        });
    }
}
