//! `linux.memoryPolicy`: mode, flags and nodes checked against set_mempolicy(2)'s
//! rules and turned into its arguments.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType as F, MemoryPolicyModeType as M};
use serde::{Deserialize, Serialize};

use super::cpus;
use crate::spec::SpecError;

/// set_mempolicy(2)'s arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemPolicy {
    /// MPOL_* mode with the MPOL_F_* flags or'ed in.
    pub mode: i32,
    /// Node mask words (empty: NULL).
    pub nodes: Vec<u64>,
}

/// Every mode, by the spec's name (the features document lists these).
pub const MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];

/// Every flag, by the spec's name.
pub const FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

fn mode_value(m: M) -> i32 {
    match m {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    }
}

fn flag_value(f: F) -> i32 {
    match f {
        F::MpolFNumaBalancing => 1 << 13,
        F::MpolFRelativeNodes => 1 << 14,
        F::MpolFStaticNodes => 1 << 15,
    }
}

/// The spec's spelling of a mode or flag (its serde name).
fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Validates `linux.memoryPolicy` and computes set_mempolicy's arguments.
pub fn plan(p: &LinuxMemoryPolicy) -> Result<MemPolicy, SpecError> {
    let bad = |f: &str, r: String| SpecError::invalid(format!("linux.memoryPolicy.{f}"), r);
    let mode_name = name(&p.mode());
    let nodes = cpus::parse_list(p.nodes().as_deref().unwrap_or(""), cpus::MAX_NODE)
        .map_err(|r| bad("nodes", r))?;
    let empty = cpus::is_empty(&nodes);
    match p.mode() {
        M::MpolDefault | M::MpolLocal if !empty => {
            return Err(bad("nodes", format!("must be empty for {mode_name}")));
        }
        M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
            if empty =>
        {
            return Err(bad("nodes", format!("{mode_name} needs at least one node")));
        }
        _ => {}
    }
    let flags: Vec<F> = p.flags().clone().unwrap_or_default();
    let has = |f: F| flags.contains(&f);
    for (i, f) in flags.iter().enumerate() {
        let field = format!("flags[{i}]");
        let fname = name(f);
        match (p.mode(), f) {
            (M::MpolDefault | M::MpolLocal, _) => {
                return Err(bad(
                    &field,
                    format!("{fname} cannot be used with {mode_name}"),
                ));
            }
            (M::MpolBind | M::MpolPreferredMany, F::MpolFNumaBalancing) => {}
            (_, F::MpolFNumaBalancing) => {
                return Err(bad(
                    &field,
                    format!("{fname} needs MPOL_BIND or MPOL_PREFERRED_MANY, not {mode_name}"),
                ));
            }
            (M::MpolPreferred, _) if empty => {
                return Err(bad(
                    &field,
                    format!("{fname} needs nodes with MPOL_PREFERRED"),
                ));
            }
            _ => {}
        }
    }
    if has(F::MpolFStaticNodes) && has(F::MpolFRelativeNodes) {
        return Err(bad(
            "flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other".into(),
        ));
    }
    let mode = flags
        .iter()
        .fold(mode_value(p.mode()), |m, f| m | flag_value(*f));
    Ok(MemPolicy { mode, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mpol(json: &str) -> Result<MemPolicy, String> {
        plan(&serde_json::from_str(json).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn tables_cover_every_variant() {
        for m in [
            M::MpolDefault,
            M::MpolBind,
            M::MpolInterleave,
            M::MpolWeightedInterleave,
            M::MpolPreferred,
            M::MpolPreferredMany,
            M::MpolLocal,
        ] {
            assert!(MODES.contains(&name(&m).as_str()), "{m:?}");
        }
        for f in [
            F::MpolFNumaBalancing,
            F::MpolFRelativeNodes,
            F::MpolFStaticNodes,
        ] {
            assert!(FLAGS.contains(&name(&f).as_str()), "{f:?}");
        }
    }

    #[test]
    fn modes() {
        let p =
            mpol(r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#).unwrap();
        assert_eq!(
            p,
            MemPolicy {
                mode: 2 | 1 << 15,
                nodes: vec![1]
            }
        );
        let p = mpol(r#"{"mode":"MPOL_INTERLEAVE","nodes":"0-1,3"}"#).unwrap();
        assert_eq!(p.nodes, vec![0b1011]);
        assert_eq!(mpol(r#"{"mode":"MPOL_LOCAL"}"#).unwrap().mode, 4);
        assert_eq!(mpol(r#"{"mode":"MPOL_PREFERRED"}"#).unwrap().mode, 1);
        let p =
            mpol(r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_NUMA_BALANCING"]}"#).unwrap();
        assert_eq!(p.mode, 2 | 1 << 13);
    }

    #[test]
    fn rules_name_the_field() {
        for (json, field) in [
            (r#"{"mode":"MPOL_BIND"}"#, "linux.memoryPolicy.nodes"),
            (
                r#"{"mode":"MPOL_WEIGHTED_INTERLEAVE","nodes":""}"#,
                "linux.memoryPolicy.nodes",
            ),
            (
                r#"{"mode":"MPOL_DEFAULT","nodes":"0"}"#,
                "linux.memoryPolicy.nodes",
            ),
            (
                r#"{"mode":"MPOL_LOCAL","nodes":"1"}"#,
                "linux.memoryPolicy.nodes",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0-"}"#,
                "linux.memoryPolicy.nodes",
            ),
            (
                r#"{"mode":"MPOL_LOCAL","flags":["MPOL_F_STATIC_NODES"]}"#,
                "linux.memoryPolicy.flags[0]",
            ),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_NUMA_BALANCING"]}"#,
                "linux.memoryPolicy.flags[0]",
            ),
            (
                r#"{"mode":"MPOL_PREFERRED","flags":["MPOL_F_RELATIVE_NODES"]}"#,
                "linux.memoryPolicy.flags[0]",
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#,
                "linux.memoryPolicy.flags",
            ),
        ] {
            let e = mpol(json).unwrap_err();
            assert!(e.contains(field), "{json}: {e}");
        }
    }
}
