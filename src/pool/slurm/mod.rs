//! The Slurm backend (feature `slurm`): each attempt is one `srun`, as a
//! job of its own or, inside an allocation, as a job step.
//!
//! `mod.rs` holds the public [`Slurm`] settings and the launch line;
//! `run.rs` a running attempt (srun's stderr read and filtered, its end
//! judged from srun's own lines); `stop.rs` the one thread that times and
//! stops attempts through `scancel`, never by signalling srun. The rules
//! that read srun's lines are in `../srun.rs`.

mod run;
mod stop;

use std::ffi::OsString;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::command::{Command, Kind};
use crate::error::{Error, SpawnError, SpawnFailure};
use crate::reactor::OnDone;
use crate::redirect::{InSpec, OutSpec};

use super::backend::{Backend, Caps, Launch, Started};
use super::job::Job;
use super::output::{self, Sinks};

/// How a pool runs its jobs on a Slurm cluster (feature `slurm`); give it
/// to [`PoolBuilder::slurm`](crate::PoolBuilder::slurm).
///
/// Each attempt of a job is one `srun`: outside an allocation a job of its
/// own, with the options set here; inside one (`SLURM_JOB_ID` set, as in
/// an `salloc` shell or an `sbatch` script) a job step, `srun --exact -n1
/// -N1`. The job's stdout comes back byte for byte; its stderr too, except
/// srun's and slurmstepd's own lines, which are kept for the error text. A
/// timeout, a halt, [`Pool::terminate`](crate::Pool::terminate) or dropping
/// the pool stop a running job with `scancel`: `SIGTERM`, then `SIGKILL`
/// after the cluster's `KillWait`.
///
/// With [`forward_signals`](crate::forward_signals), Ctrl-Z (`SIGTSTP`)
/// stops every running job with `scancel --signal=STOP` on its step before
/// this process stops, and `fg` or `bg` (`SIGCONT`) continues them with
/// `--signal=CONT`; srun itself is never signalled (a stopped srun leaves
/// its job running, and a pending one submits its job again when
/// continued). A job still pending is left alone: if the cluster starts it
/// while this process is stopped, it runs. As for a local job, the time
/// this process spends stopped does not count against a job's timeout
/// (Slurm's own [`time`](Slurm::time) limit and the pool's deadline do
/// count it).
///
/// # Examples
///
/// ```no_run
/// use procession::{cmd, Pool, Slurm};
///
/// let pool = Pool::builder()
///     .slurm(Slurm::auto().partition("short").time("10").cpus_per_task(2))
///     .build();
/// for done in pool.as_completed((1..=10).map(|i| cmd!("./simulate", i.to_string()))) {
///     println!("#{} on {:?}: {:?}", done.seq(), done.host(), done.failure());
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slurm {
    mode: Place,
    partition: Option<String>,
    time: Option<String>,
    cpus: Option<u32>,
    mem: Option<String>,
    account: Option<String>,
    flags: Vec<String>,
}

/// Where attempts run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Place {
    #[default]
    Auto,
    Steps,
    Jobs,
}

impl Slurm {
    /// Steps inside the current allocation if the pool's environment has
    /// `SLURM_JOB_ID`, else a job of its own per attempt. Inside an
    /// allocation the pool's size defaults to its number of tasks
    /// (`SLURM_NTASKS`) unless [`PoolBuilder::jobs`](crate::PoolBuilder::jobs)
    /// sets it.
    pub fn auto() -> Slurm {
        Slurm::default()
    }

    /// Always steps of the current allocation (`srun --exact -n1 -N1`).
    pub fn steps() -> Slurm {
        Slurm {
            mode: Place::Steps,
            ..Slurm::default()
        }
    }

    /// Always a job of its own per attempt (`srun -n1`).
    pub fn jobs() -> Slurm {
        Slurm {
            mode: Place::Jobs,
            ..Slurm::default()
        }
    }

    /// The partition (`--partition`), for jobs of their own.
    pub fn partition(mut self, partition: impl Into<String>) -> Slurm {
        self.partition = Some(partition.into());
        self
    }

    /// The time limit as Slurm writes it (`--time`, such as `10` minutes
    /// or `1:30:00`), for jobs of their own. Slurm enforces it late (tens
    /// of seconds); [`PoolBuilder::timeout`](crate::PoolBuilder::timeout)
    /// is the pool's own, precise one.
    pub fn time(mut self, time: impl Into<String>) -> Slurm {
        self.time = Some(time.into());
        self
    }

    /// CPUs per task (`--cpus-per-task`), for jobs of their own.
    pub fn cpus_per_task(mut self, cpus: u32) -> Slurm {
        self.cpus = Some(cpus);
        self
    }

    /// Memory per node as Slurm writes it (`--mem`, such as `4G`), for
    /// jobs of their own.
    pub fn mem(mut self, mem: impl Into<String>) -> Slurm {
        self.mem = Some(mem.into());
        self
    }

    /// The account to charge (`--account`), for jobs of their own.
    pub fn account(mut self, account: impl Into<String>) -> Slurm {
        self.account = Some(account.into());
        self
    }

    /// One more option for every `srun` (such as `--gres=gpu:1` or
    /// `--constraint=avx2`), after the others.
    pub fn flag(mut self, flag: impl Into<String>) -> Slurm {
        self.flags.push(flag.into());
        self
    }

    /// Whether attempts run as steps, given the pool's environment.
    fn steps_in(&self, job_id: Option<&str>) -> bool {
        match self.mode {
            Place::Steps => true,
            Place::Jobs => false,
            Place::Auto => job_id.is_some_and(|id| !id.is_empty()),
        }
    }

    /// srun's options before the program, for one attempt named `name`.
    fn srun_args(&self, steps: bool, name: &str) -> Vec<String> {
        let mut args = vec!["-v".to_string()];
        if steps {
            args.extend(["--exact", "-n1", "-N1"].map(String::from));
        } else {
            args.push("-n1".into());
        }
        args.push(format!("--job-name={name}"));
        // Nothing is read from this process.
        args.push("--input=none".into());
        if !steps {
            let options = [
                ("--partition", self.partition.clone()),
                ("--time", self.time.clone()),
                ("--cpus-per-task", self.cpus.map(|c| c.to_string())),
                ("--mem", self.mem.clone()),
                ("--account", self.account.clone()),
            ];
            for (option, value) in options {
                if let Some(value) = value {
                    args.push(format!("{option}={value}"));
                }
            }
        }
        args.extend(self.flags.iter().cloned());
        args
    }
}

/// The pool's size inside an allocation: its number of tasks, from
/// `SLURM_NTASKS`, else the first number of `SLURM_JOB_CPUS_PER_NODE`
/// (`4(x2)` or `4,2`).
pub(crate) fn allocation_size(ntasks: Option<&str>, cpus_per_node: Option<&str>) -> Option<usize> {
    let first_number = |s: &str| -> Option<usize> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|n| *n > 0)
    };
    ntasks
        .and_then(first_number)
        .or_else(|| cpus_per_node.and_then(first_number))
}

impl Slurm {
    /// The pool's default size: the allocation's, when attempts run as
    /// its steps.
    pub(crate) fn default_jobs(&self) -> Option<usize> {
        let var = |name| std::env::var(name).ok();
        if !self.steps_in(var("SLURM_JOB_ID").as_deref()) {
            return None;
        }
        allocation_size(
            var("SLURM_NTASKS").as_deref(),
            var("SLURM_JOB_CPUS_PER_NODE").as_deref(),
        )
    }
}

/// The backend: runs each attempt through `srun`.
pub(crate) struct SlurmBackend {
    slurm: Slurm,
    steps: bool,
    /// The cluster's `KillWait`, read at the first stop.
    grace: Arc<OnceLock<Duration>>,
    /// Numbers attempts for their unique job names.
    counter: Mutex<u64>,
}

impl SlurmBackend {
    pub(crate) fn new(slurm: Slurm) -> SlurmBackend {
        let steps = slurm.steps_in(std::env::var("SLURM_JOB_ID").ok().as_deref());
        SlurmBackend {
            slurm,
            steps,
            grace: Arc::new(OnceLock::new()),
            counter: Mutex::new(0),
        }
    }
}

impl Backend for SlurmBackend {
    fn caps(&self, _job: &Job) -> Caps {
        // stdout through the engine, stderr read here to tell srun's
        // lines apart; grouped output is spooled (srun's captures do not
        // spill to a file).
        Caps {
            stream_lines: true,
            spill_capture: false,
        }
    }

    fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error> {
        match job {
            Job::Command(command) => self.start_command(command, launch, on_done),
            #[cfg(feature = "duct")]
            Job::Duct(expression) => Err(unsupported(
                &format!("{expression:?}"),
                "duct expressions cannot run on Slurm",
            )),
        }
    }
}

impl SlurmBackend {
    /// Starts one attempt of a command as an `srun` (see [`Backend::start`]).
    fn start_command(
        &self,
        command: &Command,
        launch: Launch,
        on_done: OnDone,
    ) -> Result<Started, Error> {
        let display = command.to_string();
        let Kind::Program { program, args } = &command.node.kind else {
            return Err(unsupported(
                &display,
                "a pipeline cannot run on Slurm yet (run it under `sh -c`)",
            ));
        };
        let opts = &command.node.opts;
        if !matches!(opts.stdin, None | Some(InSpec::Null)) {
            return Err(unsupported(
                &display,
                "stdin cannot be given to a job on Slurm",
            ));
        }
        if opts.route.is_some() {
            return Err(unsupported(
                &display,
                "redirecting one output stream to the other is not supported on Slurm",
            ));
        }
        let seq = {
            let mut counter = crate::sync::lock(&self.counter);
            *counter += 1;
            *counter
        };
        let name = format!("procession-{}-{seq}", std::process::id());
        let mut srun = Command::new("srun").args(self.slurm.srun_args(self.steps, &name));
        if let Some(dir) = &opts.dir {
            srun = srun.arg(OsString::from(format!("--chdir={}", dir.display())));
        }
        srun = srun.arg("--").arg(program.clone());
        for arg in args {
            srun = if arg.secret {
                srun.arg_secret(arg.value.clone())
            } else {
                srun.arg(arg.value.clone())
            };
        }
        // srun hands its own environment to the task (`--export=ALL`).
        {
            let node = Arc::make_mut(&mut srun.node);
            node.opts.env = opts.env.clone();
            node.opts.stdout = opts.stdout.clone();
            node.opts.uid = opts.uid;
            node.opts.gid = opts.gid;
            node.opts.drain = opts.drain;
            node.opts.spill_dir = opts.spill_dir.clone();
            // Never signal srun: Ctrl-Z reaches the job through `scancel`
            // (see `stop.rs`).
            node.opts.own_job_control = true;
        }
        for (name, value) in launch.env_vars() {
            srun = srun.env(name, value);
        }
        let err = run::ErrSink::new(&launch.sinks, opts.stderr.as_ref())
            .map_err(|why| unsupported(&display, why))?;
        srun = match &launch.sinks {
            Sinks::AsCommand | Sinks::Tagged | Sinks::Lines => srun,
            Sinks::Null => srun.stdout_null(),
            Sinks::Capture(Some(limit), keep) if *keep != crate::Keep::Spill => {
                srun.stdout_capture_limit(*limit, *keep)
            }
            Sinks::Capture(..) => srun.stdout_capture(),
            Sinks::Files(out, _) => srun.stdout_shared_file(out.clone()),
        };
        if let Some(OutSpec::Capture(_, crate::Keep::Spill)) = &srun.node.opts.stdout {
            srun = srun.stdout_capture();
        }
        // The stricter of the pool's timeout and the command's own.
        let timeout = match (launch.timeout, opts.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = match (launch.deadline, opts.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let setup = run::Setup {
            display,
            steps: self.steps,
            timeout,
            deadline,
            grace: self.grace.clone(),
            err,
            lines: output::line_prefix(&launch.sinks, launch.seq),
        };
        run::start(srun.unchecked().stdin_null(), setup, on_done)
    }
}

/// A job this backend cannot run: nothing was started.
fn unsupported(display: &str, why: &str) -> Error {
    Error::Spawn(Box::new(SpawnError {
        command: display.to_string(),
        program: display.to_string(),
        stage: None,
        dir: None,
        failure: SpawnFailure::Other,
        detail: Some(format!("not supported on Slurm: {why}")),
        source: None,
    }))
}

/// Whether srun is there at all: a missing srun gets its own message.
fn srun_missing(display: &str, error: Error) -> Error {
    match error {
        Error::Spawn(mut e) if e.failure == SpawnFailure::NotFound => {
            e.command = display.to_string();
            e.detail = Some("srun not found on PATH (feature slurm; is Slurm installed?)".into());
            Error::Spawn(e)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_lines() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let jobs = Slurm::jobs()
            .partition("short")
            .time("5")
            .cpus_per_task(2)
            .mem("1G")
            .account("lab")
            .flag("--gres=gpu:1");
        assert_eq!(
            jobs.srun_args(false, "n"),
            s(&[
                "-v",
                "-n1",
                "--job-name=n",
                "--input=none",
                "--partition=short",
                "--time=5",
                "--cpus-per-task=2",
                "--mem=1G",
                "--account=lab",
                "--gres=gpu:1"
            ])
        );
        // Steps share the allocation's options: only the extra flags.
        assert_eq!(
            jobs.srun_args(true, "n"),
            s(&[
                "-v",
                "--exact",
                "-n1",
                "-N1",
                "--job-name=n",
                "--input=none",
                "--gres=gpu:1"
            ])
        );
    }

    #[test]
    fn steps_or_jobs() {
        let table = [
            (Slurm::auto(), None, false),
            (Slurm::auto(), Some(""), false),
            (Slurm::auto(), Some("42"), true),
            (Slurm::jobs(), Some("42"), false),
            (Slurm::steps(), None, true),
        ];
        for (slurm, job_id, steps) in table {
            assert_eq!(slurm.steps_in(job_id), steps, "{slurm:?} {job_id:?}");
        }
    }

    #[test]
    fn allocation_sizes() {
        let table = [
            (Some("2"), None, Some(2)),
            (None, Some("4(x2)"), Some(4)),
            (None, Some("4,2"), Some(4)),
            (Some("x"), Some("3"), Some(3)),
            (Some("0"), None, None),
            (None, None, None),
        ];
        for (ntasks, cpus, size) in table {
            assert_eq!(allocation_size(ntasks, cpus), size, "{ntasks:?} {cpus:?}");
        }
    }
}
