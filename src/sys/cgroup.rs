//! A run's own cgroup (cgroup v2): creating it, moving a stage in, listing
//! and killing what it holds.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rustix::process::Pid;

use super::tree_members;

/// A cgroup (version 2) of its own for one run, under the cgroup this
/// process is in: every process moved into it, and every process they
/// create, stays in it whatever it does to its group or session, so the
/// whole tree can be listed and killed (`cgroup.kill`).
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    /// The cgroup this process is in, where stragglers are moved back to
    /// before the run's cgroup is removed.
    home: PathBuf,
}

/// Where this process's cgroup is in the file system, if the unified
/// hierarchy is mounted: the `0::PATH` line of `/proc/self/cgroup`, under
/// the mount point of `cgroup2` from `/proc/self/mountinfo`.
fn own_cgroup() -> Option<&'static Path> {
    static HOME: OnceLock<Option<PathBuf>> = OnceLock::new();
    HOME.get_or_init(|| {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let (root, mount) = mounts.lines().find_map(cgroup2_mount)?;
        let relative = path.strip_prefix(root.as_str()).unwrap_or(path);
        let dir = mount.join(relative.trim_start_matches('/'));
        dir.is_dir().then_some(dir)
    })
    .as_deref()
}

/// The root and mount point of a `mountinfo` line, if it mounts `cgroup2`.
fn cgroup2_mount(line: &str) -> Option<(String, PathBuf)> {
    let (left, right) = line.split_once(" - ")?;
    if right.split(' ').next()? != "cgroup2" {
        return None;
    }
    let mut fields = left.split(' ');
    let root = fields.nth(3)?;
    let mount = fields.next()?;
    Some((unescape_mount(root), PathBuf::from(unescape_mount(mount))))
}

/// `mountinfo` writes a space, tab, newline and backslash as `\ooo`.
fn unescape_mount(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Cgroup {
    /// Creates a cgroup for one run. Fails where there is no unified
    /// hierarchy or this process may not create a cgroup under its own, and
    /// always outside Linux and in the portable mode.
    pub(crate) fn create() -> io::Result<Cgroup> {
        if !cfg!(all(target_os = "linux", not(procession_portable))) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "cgroups exist on Linux only",
            ));
        }
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let home = own_cgroup().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no cgroup v2 hierarchy is mounted")
        })?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let dir = home.join(format!("procession-{me}-{n}"));
        std::fs::create_dir(&dir)?;
        Ok(Cgroup {
            dir,
            home: home.to_path_buf(),
        })
    }

    /// Moves `pid` (a child of ours, not reaped yet) into the cgroup, then
    /// what it may have forked before it was moved: the processes of its
    /// group `pgid` and its descendants, found in `/proc`. (A process it
    /// forked that has already left both, in the microseconds since the
    /// spawn, stays outside.)
    pub(crate) fn adopt(&self, pid: Pid, pgid: Pid) -> io::Result<()> {
        self.add(pid)?;
        for (early, _) in tree_members(pgid, &[pid], None, Duration::ZERO) {
            let _ = self.add(early);
        }
        Ok(())
    }

    fn add(&self, pid: Pid) -> io::Result<()> {
        std::fs::write(
            self.dir.join("cgroup.procs"),
            pid.as_raw_nonzero().to_string(),
        )
    }

    /// The processes in the cgroup now (zombies have left it).
    pub(crate) fn pids(&self) -> Vec<Pid> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter_map(Pid::from_raw)
            .collect()
    }

    /// Kills every process in the cgroup at once, forks in flight included
    /// (`cgroup.kill`, Linux 5.14). Returns whether the kernel did it; the
    /// caller has signalled each process it knows of anyway.
    pub(crate) fn kill(&self) -> bool {
        std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok()
    }
}

impl Drop for Cgroup {
    /// Moves what still runs in the cgroup (a daemon a successful command
    /// left behind) back to our own cgroup, then removes the run's cgroup.
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = std::fs::write(
                self.home.join("cgroup.procs"),
                pid.as_raw_nonzero().to_string(),
            );
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup2_mount_lines() {
        let line = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(line),
            Some(("/".to_string(), PathBuf::from("/sys/fs/cgroup/unified")))
        );
        let v1 = "40 31 0:37 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
        assert_eq!(cgroup2_mount(v1), None);
        let spaced = r"41 31 0:38 /a /mnt/my\040cgroups rw - cgroup2 none rw";
        assert_eq!(
            cgroup2_mount(spaced),
            Some(("/a".to_string(), PathBuf::from("/mnt/my cgroups")))
        );
    }
}
