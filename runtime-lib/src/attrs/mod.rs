//! Process attributes of runtime-spec 1.2/1.3: `process.scheduler`,
//! `process.ioPriority`, `process.execCPUAffinity`, `linux.personality` and
//! `linux.memoryPolicy`.
//!
//! [`ProcessAttrs::for_init`] and [`ProcessAttrs::for_exec`] validate the config
//! (errors name the field) and compute plain data; the `apply*` methods are the only
//! syscalls, made by the process itself before it drops its privileges.
//!
//! `execCPUAffinity` is "not applicable to the container's init process" (runtime-spec),
//! so only exec'd processes get it: the runtime sets `initial` on its intermediate
//! process before that joins the container's cgroup, and the process sets `final`
//! on itself once in the container, before exec.

pub mod cpus;
pub mod ioprio;
pub mod mempolicy;
pub mod personality;
pub mod sched;

use oci_spec::runtime::{Linux, Process, Spec};
use serde::{Deserialize, Serialize};

pub use mempolicy::MemPolicy;

use crate::spec::SpecError;
use crate::sys::SchedAttr;

/// Errors applying process attributes; `field` is the config field.
#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    /// A syscall refused the attribute.
    #[error("{field}: {syscall}: {source}{hint}")]
    Apply {
        /// The config field.
        field: &'static str,
        /// The syscall.
        syscall: &'static str,
        /// The OS error.
        source: std::io::Error,
        /// What usually causes this error, or "".
        hint: &'static str,
    },
}

/// The container-wide attributes (`linux.*`): every process of the container gets them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxAttrs {
    /// `linux.personality` as personality(2)'s argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<u64>,
    /// `linux.memoryPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_policy: Option<MemPolicy>,
}

impl LinuxAttrs {
    /// Validates and plans the `linux.*` attributes.
    pub fn from_linux(linux: Option<&Linux>) -> Result<Self, SpecError> {
        let Some(l) = linux else {
            return Ok(Self::default());
        };
        Ok(LinuxAttrs {
            personality: l
                .personality()
                .as_ref()
                .map(personality::plan)
                .transpose()?,
            mem_policy: l
                .memory_policy()
                .as_ref()
                .map(mempolicy::plan)
                .transpose()?,
        })
    }
}

/// `process.execCPUAffinity` as CPU masks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affinity {
    /// `initial`: for the runtime's process before it joins the container's cgroup.
    pub initial: Option<Vec<u64>>,
    /// `final`: for the process right before exec.
    pub last: Option<Vec<u64>>,
}

/// Everything of this module one process applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessAttrs {
    /// `process.scheduler`.
    pub scheduler: Option<SchedAttr>,
    /// `process.ioPriority` as the ioprio value.
    pub io_priority: Option<u32>,
    /// `linux.personality` and `linux.memoryPolicy`.
    pub linux: LinuxAttrs,
    /// `process.execCPUAffinity` (exec'd processes only).
    pub affinity: Affinity,
}

fn process_attrs(p: &Process, linux: LinuxAttrs) -> Result<ProcessAttrs, SpecError> {
    Ok(ProcessAttrs {
        scheduler: p.scheduler().as_ref().map(sched::plan).transpose()?,
        io_priority: p.io_priority().as_ref().map(ioprio::plan).transpose()?,
        linux,
        affinity: Affinity::default(),
    })
}

fn cpu_mask(field: &str, list: Option<&String>) -> Result<Option<Vec<u64>>, SpecError> {
    let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let mask = cpus::parse_list(list, cpus::MAX_CPU).map_err(|r| SpecError::invalid(field, r))?;
    Ok(Some(mask))
}

impl ProcessAttrs {
    /// The container init's attributes: everything but `execCPUAffinity`.
    pub fn for_init(spec: &Spec) -> Result<Self, SpecError> {
        let linux = LinuxAttrs::from_linux(spec.linux().as_ref())?;
        match spec.process() {
            Some(p) => process_attrs(p, linux),
            None => Ok(ProcessAttrs {
                linux,
                ..Default::default()
            }),
        }
    }

    /// An exec'd process's attributes: its own scheduler, I/O priority and CPU
    /// affinity, the container's personality and memory policy.
    pub fn for_exec(p: &Process, linux: &LinuxAttrs) -> Result<Self, SpecError> {
        let mut a = process_attrs(p, linux.clone())?;
        if let Some(aff) = p.exec_cpu_affinity() {
            a.affinity = Affinity {
                initial: cpu_mask("process.execCPUAffinity.initial", aff.initial().as_ref())?,
                last: cpu_mask(
                    "process.execCPUAffinity.final",
                    aff.cpu_affinity_final().as_ref(),
                )?,
            };
        }
        Ok(a)
    }

    /// Validates every attribute of a config (also `execCPUAffinity`, which only
    /// exec'd processes use).
    pub fn validate(spec: &Spec) -> Result<(), SpecError> {
        let linux = LinuxAttrs::from_linux(spec.linux().as_ref())?;
        if let Some(p) = spec.process() {
            Self::for_exec(p, &linux)?;
        }
        Ok(())
    }

    /// Scheduler, I/O priority, personality, memory policy, then the final CPU
    /// affinity. Called by the process itself (after it has its own process group,
    /// before privileges are dropped).
    pub fn apply(&self) -> Result<(), AttrError> {
        let err = |field, syscall, hint| {
            move |source| AttrError::Apply {
                field,
                syscall,
                source,
                hint,
            }
        };
        if let Some(a) = &self.scheduler {
            crate::sys::sched_setattr(a).map_err(|e| {
                let hint = sched::hint(a, &e);
                err("process.scheduler", "sched_setattr", hint)(e)
            })?;
        }
        if let Some(p) = self.io_priority {
            crate::sys::ioprio_set_pgrp(p).map_err(|e| {
                let hint = ioprio::hint(p, &e);
                err("process.ioPriority", "ioprio_set", hint)(e)
            })?;
        }
        if let Some(p) = self.linux.personality {
            crate::sys::personality(p).map_err(err("linux.personality", "personality", ""))?;
        }
        if let Some(m) = &self.linux.mem_policy {
            crate::sys::set_mempolicy(m.mode, &m.nodes).map_err(err(
                "linux.memoryPolicy",
                "set_mempolicy",
                "",
            ))?;
        }
        if let Some(mask) = &self.affinity.last {
            crate::sys::sched_setaffinity(0, mask).map_err(err(
                "process.execCPUAffinity.final",
                "sched_setaffinity",
                "",
            ))?;
        }
        Ok(())
    }

    /// The initial CPU affinity, set by the runtime on its process `pid` that enters
    /// the container, before that process joins the container's cgroup.
    pub fn apply_initial_affinity(&self, pid: i32) -> Result<(), AttrError> {
        if let Some(mask) = &self.affinity.initial {
            crate::sys::sched_setaffinity(pid, mask).map_err(|source| AttrError::Apply {
                field: "process.execCPUAffinity.initial",
                syscall: "sched_setaffinity",
                source,
                hint: "",
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(process_extra: &str, linux: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.2.0","process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","args":["sh"]{process_extra}}},"linux":{linux}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn init_ignores_exec_affinity() {
        let s = spec(
            r#","scheduler":{"policy":"SCHED_BATCH","nice":3},"ioPriority":{"class":"IOPRIO_CLASS_IDLE","priority":0},"execCPUAffinity":{"initial":"0","final":"1"}"#,
            r#"{"personality":{"domain":"LINUX32"},"memoryPolicy":{"mode":"MPOL_BIND","nodes":"0"}}"#,
        );
        let a = ProcessAttrs::for_init(&s).unwrap();
        assert_eq!(a.scheduler.map(|s| (s.policy, s.nice)), Some((3, 3)));
        assert_eq!(a.io_priority, Some(3 << 13));
        assert_eq!(a.linux.personality, Some(8));
        assert_eq!(a.linux.mem_policy.as_ref().map(|m| m.mode), Some(2));
        assert_eq!(a.affinity, Affinity::default());
        let e = ProcessAttrs::for_exec(s.process().as_ref().unwrap(), &a.linux).unwrap();
        assert_eq!(e.affinity.initial, Some(vec![1]));
        assert_eq!(e.affinity.last, Some(vec![2]));
        assert_eq!(e.linux, a.linux);
    }

    #[test]
    fn empty_affinity_means_unchanged() {
        let s = spec(r#","execCPUAffinity":{"final":"0-1"}"#, "{}");
        let e =
            ProcessAttrs::for_exec(s.process().as_ref().unwrap(), &LinuxAttrs::default()).unwrap();
        assert_eq!(e.affinity.initial, None);
        assert_eq!(e.affinity.last, Some(vec![3]));
        ProcessAttrs::validate(&s).unwrap();
    }

    #[test]
    fn validate_names_fields() {
        let s = spec("", r#"{"memoryPolicy":{"mode":"MPOL_BIND"}}"#);
        let e = ProcessAttrs::validate(&s).unwrap_err().to_string();
        assert!(e.contains("linux.memoryPolicy.nodes"), "{e}");
        let s = spec(r#","execCPUAffinity":{"final":"9000"}"#, "{}");
        let e = ProcessAttrs::validate(&s).unwrap_err().to_string();
        assert!(e.contains("process.execCPUAffinity.final"), "{e}");
    }
}
