//! How a [`Command`]'s processes start: their `argv[0]`, user and group
//! ids, a session of their own, and hooks on the std command.

use std::ffi::OsString;
use std::io;
use std::sync::Arc;

use super::{Command, Hook, Kind};

impl Command {
    /// The name the program sees as its `argv[0]`. By default it is the
    /// program as given to [`new`](Command::new) (not the path found on
    /// `PATH`). On a pipeline, sets it for the last stage, as
    /// [`arg`](Command::arg) does. Errors and `Display` still show the
    /// program.
    ///
    /// Keeps the fast `posix_spawn` path.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let name = procession::cmd!("sh", "-c", "echo $0").arg0("login-shell").read()?;
    /// assert_eq!(name, "login-shell");
    /// # Ok(()) }
    /// ```
    pub fn arg0(self, arg0: impl Into<OsString>) -> Command {
        let arg0 = arg0.into();
        self.with(|node| match &mut node.kind {
            Kind::Program { .. } => node.opts.arg0 = Some(arg0),
            Kind::Pipeline(stages) => {
                if let Some(last) = stages.pop() {
                    stages.push(last.arg0(arg0));
                }
            }
        })
    }

    /// Runs the child as user `uid` (a `setuid` in the child, as std's
    /// [`CommandExt::uid`](std::os::unix::process::CommandExt::uid), which
    /// also drops the supplementary groups when the process may). Changing
    /// to another user needs privileges (root, or `CAP_SETUID` on Linux);
    /// when they are missing the run fails with a
    /// [`Spawn`](crate::Error::Spawn) error of kind
    /// [`SpawnFailure::IdChangeDenied`](crate::SpawnFailure::IdChangeDenied).
    /// For every stage of a pipeline; a stage's own setting wins.
    ///
    /// **Forces `fork` + `exec`** instead of `posix_spawn` (std has no
    /// `posix_spawn` way to change ids), and a fork copies this process's
    /// page tables, so a spawn costs more as this process grows. Spawning and
    /// waiting for `/bin/true` took 0.88 ms (against 0.82 ms without `uid`)
    /// from a small parent, but 104 ms (against 0.90 ms) from a parent with
    /// 2 GiB resident: the `uid (fork)` rows of `cargo bench --bench p2_spawn`.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let me = procession::cmd!("id", "-u").read()?;
    /// let again = procession::cmd!("id", "-u").uid(me.parse().unwrap()).read()?;
    /// assert_eq!(again, me);
    /// # Ok(()) }
    /// ```
    pub fn uid(self, uid: u32) -> Command {
        self.with_opts(|o| o.uid = Some(uid))
    }

    /// Runs the child with group `gid` (a `setgid` in the child, as std's
    /// [`CommandExt::gid`](std::os::unix::process::CommandExt::gid)). Like
    /// [`uid`](Command::uid): needs privileges to change, applies to every
    /// stage of a pipeline, and **forces `fork` + `exec`**.
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let me = procession::cmd!("id", "-g").read()?;
    /// let again = procession::cmd!("id", "-g").gid(me.parse().unwrap()).read()?;
    /// assert_eq!(again, me);
    /// # Ok(()) }
    /// ```
    pub fn gid(self, gid: u32) -> Command {
        self.with_opts(|o| o.gid = Some(gid))
    }

    /// Starts the command in a new session (`setsid`): it has no controlling
    /// terminal, and a hangup or Ctrl-C on this process's terminal does not
    /// reach it. Its process is the leader of a new process group too (the
    /// group's id is its pid), so a timeout, a cancel or
    /// [`Handle::terminate`](crate::Handle::terminate) still stops its whole
    /// tree.
    ///
    /// std has no stable `setsid` (it is the unstable `process_setsid`
    /// feature) and this crate has no `unsafe` code, so the `setsid` call
    /// itself is yours: a [`before_spawn`](Command::before_spawn) hook that
    /// adds a `pre_exec`, as below. This method does the rest: the child is
    /// left out of any process group before that call (a group leader may
    /// not call `setsid`), and after the spawn the run checks that the child
    /// leads its own session. If it does not (no hook called `setsid`), the
    /// child is killed and the run fails with
    /// [`InvalidInput::SessionNotCreated`](crate::InvalidInput::SessionNotCreated)
    /// rather than run inside this process's group.
    ///
    /// For a single command only: the stages of a pipeline share one process
    /// group, and a group cannot span sessions
    /// ([`InvalidInput::SessionInPipeline`](crate::InvalidInput::SessionInPipeline)).
    /// The `pre_exec` **forces `fork` + `exec`**, with the cost given at
    /// [`uid`](Command::uid).
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// # fn main() -> Result<(), procession::Error> {
    /// // The shell prints its pid and its session id (field 6 of its stat).
    /// let c = procession::sh("echo $$; cut -d' ' -f6 /proc/$$/stat");
    /// let detached = c.new_session().before_spawn(|std_cmd| {
    ///     // SAFETY: setsid is async-signal-safe, and turning its error into
    ///     // an io::Error does not allocate.
    ///     unsafe { std_cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into)) };
    ///     Ok(())
    /// });
    /// let out = detached.read()?;
    /// let ids: Vec<&str> = out.lines().collect();
    /// assert_eq!(ids[0], ids[1], "the shell leads its own session");
    /// # Ok(()) }
    /// ```
    pub fn new_session(self) -> Command {
        self.with_opts(|o| o.new_session = true)
    }

    /// Runs `hook` on the [`std::process::Command`] of each stage just
    /// before it is spawned (on every run), for the settings this builder
    /// does not offer, as duct's `before_spawn`. Several hooks run in the
    /// order given, an enclosing pipeline's before a stage's own. An error
    /// from the hook stops the run with a [`Spawn`](crate::Error::Spawn)
    /// error of kind [`SpawnFailure::Hook`](crate::SpawnFailure::Hook) that
    /// keeps it as its source; the stages already started are stopped.
    ///
    /// The hook may change the arguments, the environment, the directory,
    /// `uid` and `gid`, and add a `pre_exec` in its own `unsafe` block (which
    /// **forces `fork` + `exec`**, with the cost given at
    /// [`uid`](Command::uid)). The rest keeps the fast `posix_spawn` path.
    /// What the run relies on is set again after the hook, so changing it has
    /// no effect: stdin, stdout and stderr (the run's pipes, captures and
    /// redirections) and the process group (the whole run is one group, which
    /// is how it stops a tree). Errors and `Display` show the command as
    /// built, without the hook's changes. For a new session, use
    /// [`new_session`](Command::new_session): a `setsid` in a `pre_exec`
    /// alone fails, since the child already leads a group.
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// # fn main() -> Result<(), procession::Error> {
    /// let c = procession::cmd!("sh", "-c", "echo $0 $TOKEN").before_spawn(|std_cmd| {
    ///     std_cmd.arg0("worker").env("TOKEN", "fresh-at-spawn");
    ///     Ok(())
    /// });
    /// assert_eq!(c.read()?, "worker fresh-at-spawn");
    /// # Ok(()) }
    /// ```
    pub fn before_spawn<F>(self, hook: F) -> Command
    where
        F: Fn(&mut std::process::Command) -> io::Result<()> + Send + Sync + 'static,
    {
        let hook: Hook = Arc::new(hook);
        self.with_opts(|o| o.hooks.push(hook))
    }
}
