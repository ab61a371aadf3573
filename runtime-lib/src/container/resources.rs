//! Operations on a running container's cgroup: pause, resume, update, processes,
//! stats and OOM events.

use oci_spec::runtime::LinuxResources;

use super::Container;
use crate::cgroups::{CgroupHandle, HierarchyVersion, Stats};
use crate::state::{Lock, Status};
use crate::Error;

impl Container {
    fn cgroup(&self) -> crate::Result<&CgroupHandle> {
        self.state.cgroup.as_ref().ok_or_else(|| Error::State {
            id: self.id().into(),
            msg: "container has no cgroup".into(),
        })
    }

    /// Freezes every process of the container (status `paused`).
    pub fn pause(&mut self) -> crate::Result<()> {
        let _lock = Lock::acquire(&self.dir())?;
        self.state.refresh(&self.root);
        match self.state.status {
            Status::Running | Status::Created => {}
            s => {
                return Err(Error::State {
                    id: self.id().into(),
                    msg: format!("cannot pause a {s} container"),
                })
            }
        }
        self.cgroup()?.freeze()?;
        self.state.status = Status::Paused;
        self.state.save(&self.root)?;
        Ok(())
    }

    /// Thaws a paused container.
    pub fn resume(&mut self) -> crate::Result<()> {
        let _lock = Lock::acquire(&self.dir())?;
        self.state.refresh(&self.root);
        if self.state.status != Status::Paused {
            return Err(Error::State {
                id: self.id().into(),
                msg: "container not paused".into(),
            });
        }
        self.cgroup()?.thaw()?;
        self.state.refresh(&self.root);
        self.state.save(&self.root)?;
        Ok(())
    }

    /// Applies new resource limits to a created, running or paused container. Only the
    /// fields set in `r` change; device rules are not updated (as runc).
    pub fn update(&mut self, r: &LinuxResources) -> crate::Result<()> {
        let _lock = Lock::acquire(&self.dir())?;
        self.state.refresh(&self.root);
        if self.state.status == Status::Stopped {
            return Err(Error::State {
                id: self.id().into(),
                msg: "cannot update a stopped container".into(),
            });
        }
        let mut r = r.clone();
        r.set_devices(None);
        self.cgroup()?.apply(&r)?;
        Ok(())
    }

    /// Host pids of every process in the container.
    pub fn processes(&self) -> crate::Result<Vec<i32>> {
        let cg = self.cgroup()?;
        let pids = cg.pids()?;
        // Rootless without a cgroup of its own there is no list to read: the init is
        // what is known (runc fails instead).
        if pids.is_empty() && cg.dirs().is_empty() && !cg.skipped().is_empty() {
            let pid = self.state.pid;
            if pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Ok(vec![pid]);
            }
        }
        Ok(pids)
    }

    /// cgroup statistics (runc's `events --stats` data).
    ///
    /// ```no_run
    /// let c = husk::Container::load("/run/husk".as_ref(), "c1")?;
    /// let stats = c.stats()?;
    /// println!("pids: {}", stats.pids.current);
    /// # Ok::<(), husk::Error>(())
    /// ```
    pub fn stats(&self) -> crate::Result<Stats> {
        Ok(self.cgroup()?.stats()?)
    }

    /// Number of OOM kills the container's memory cgroup has seen so far (v1
    /// `memory.oom_control`, v2 `memory.events`); `None` without a memory controller.
    pub fn oom_kills(&self) -> Option<u64> {
        let cg = self.state.cgroup.as_ref()?;
        let (dir, file, key) = match cg.dir_for(HierarchyVersion::V1, "memory") {
            Some(d) => (d.to_path_buf(), "memory.oom_control", "oom_kill"),
            None => (cg.v2_dir()?, "memory.events", "oom_kill"),
        };
        read_counter(&dir.join(file), key)
    }

    /// v2 only: the `oom_kill` count in the parent cgroup's `memory.events`, which
    /// counts the whole subtree. It outlives the container's own cgroup, which
    /// systemd removes as soon as a transient scope is empty, so a shim can still
    /// notice an OOM kill it had no time to read (see `oom_kills`). `None` on v1,
    /// where the parent's counter is not hierarchical.
    pub fn parent_oom_kills(&self) -> Option<u64> {
        let cg = self.state.cgroup.as_ref()?;
        if cg.dir_for(HierarchyVersion::V1, "memory").is_some() {
            return None;
        }
        let dir = cg.v2_dir()?;
        read_counter(&dir.parent()?.join("memory.events"), "oom_kill")
    }
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn read_counter(path: &std::path::Path, key: &str) -> Option<u64> {
    let data = std::fs::read_to_string(path).ok()?;
    data.lines().find_map(|l| {
        l.strip_prefix(key)
            .filter(|v| v.starts_with(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::read_counter;

    #[test]
    fn counters_are_read_by_exact_key() {
        let dir = std::env::temp_dir().join(format!("husk-oomctr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v1 = dir.join("memory.oom_control");
        std::fs::write(&v1, "oom_kill_disable 1\nunder_oom 0\noom_kill 3\n").unwrap();
        let v2 = dir.join("memory.events");
        std::fs::write(
            &v2,
            "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n",
        )
        .unwrap();
        let got = (
            read_counter(&v1, "oom_kill"),
            read_counter(&v2, "oom_kill"),
            read_counter(&v2, "oom"),
            read_counter(&dir.join("gone"), "oom_kill"),
        );
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got, (Some(3), Some(2), Some(2), None));
    }
}
