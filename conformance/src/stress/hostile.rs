//! Hostile input: each malformed or adversarial config must be refused (exit
//! status 1, no crash, no hang) with a message naming the field, and leave
//! nothing behind (no state directory, cgroup, mount or process). Plus a state
//! root on a full filesystem, and ids that are not ids.

use std::path::Path;

use serde_json::json;

use super::hostile_cases::{all, Case};
use super::Ctx;
use crate::cleanup::{find_cgroups, mounts_below};

/// The outcome of one input.
#[derive(Debug)]
enum Outcome {
    /// Refused, naming the field, nothing left.
    Refused,
    /// Refused, but the message does not name the field.
    Unnamed(String),
    /// Accepted (created).
    Accepted,
    /// Crashed or hung.
    Crashed(String),
    /// Something was left behind.
    Leaked(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Refused => f.write_str("refused"),
            Outcome::Unnamed(e) => write!(f, "refused without naming the field: {e}"),
            Outcome::Accepted => f.write_str("ACCEPTED"),
            Outcome::Crashed(e) => write!(f, "CRASHED or hung: {e}"),
            Outcome::Leaked(e) => write!(f, "LEFT BEHIND: {e}"),
        }
    }
}

fn left_behind(ctx: &Ctx, root: &Path, id: &str, dir: &Path) -> Vec<String> {
    let mut left = Vec::new();
    if root.join(id).exists() {
        left.push("state dir".to_string());
    }
    for cg in find_cgroups(id) {
        left.push(cg.display().to_string());
    }
    for m in mounts_below(dir) {
        left.push(format!("mount {m}"));
    }
    let _ = ctx;
    left
}

fn try_case(ctx: &Ctx, i: usize, case: &Case) -> Outcome {
    let dir = ctx.work.join(format!("hostile-{i}"));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Outcome::Crashed(format!("{}: {e}", dir.display()));
    }
    let mut cfg = ctx.config(&["true"]);
    cfg["root"]["path"] = json!(ctx.bundle.rootfs());
    let raw = (case.apply)(&mut cfg, &dir);
    let text = raw.unwrap_or_else(|| serde_json::to_vec(&cfg).unwrap_or_default());
    if let Err(e) = std::fs::write(dir.join("config.json"), text) {
        return Outcome::Crashed(format!("write config: {e}"));
    }
    let id = ctx.id("h");
    let bundle = dir.display().to_string();
    let c = ctx.call(&["create", "--bundle", &bundle, &id]);
    let out = if c.timed_out || c.code.is_none() {
        Outcome::Crashed(format!("{:?} {}", c.code, c.err.trim()))
    } else if c.ok() {
        let _ = ctx.call(&["delete", "--force", &id]);
        Outcome::Accepted
    } else if c.err.contains("panicked") {
        Outcome::Crashed(c.err.trim().to_string())
    } else if !c.err.to_lowercase().contains(&case.field.to_lowercase()) {
        Outcome::Unnamed(c.err.trim().chars().take(300).collect())
    } else {
        Outcome::Refused
    };
    crate::proc::reap_orphans();
    let left = left_behind(ctx, &ctx.root, &id, &dir);
    let _ = crate::cleanup::remove_tree(&dir);
    if !left.is_empty() {
        let _ = ctx.call(&["delete", "--force", &id]);
        return Outcome::Leaked(left.join(", "));
    }
    out
}

/// A state root on a full tmpfs: create fails naming the state root and
/// leaves no half-written state.
fn full_state_fs(ctx: &Ctx) -> Outcome {
    let mnt = ctx.work.join("full-root");
    if std::fs::create_dir_all(&mnt).is_err() {
        return Outcome::Crashed("mkdir".into());
    }
    let Ok(m) = std::ffi::CString::new(mnt.display().to_string()) else {
        return Outcome::Crashed("path".into());
    };
    // SAFETY: valid C strings; a small tmpfs below our own work directory.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            m.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=64k,mode=700".as_ptr().cast(),
        )
    };
    if r != 0 {
        return Outcome::Crashed(format!("mount tmpfs: {}", std::io::Error::last_os_error()));
    }
    // Fill it up (the last write fails with ENOSPC).
    let _ = std::fs::write(mnt.join("filler"), vec![0u8; 128 << 10]);
    let _ = ctx.write_config(&ctx.config(&["true"]));
    let id = ctx.id("full");
    let bundle = ctx.bundle.dir.display().to_string();
    let c = ctx.call_in(&mnt, &["create", "--bundle", &bundle, &id]);
    let out = if c.ok() {
        let _ = ctx.call_in(&mnt, &["delete", "--force", &id]);
        Outcome::Accepted
    } else if c.code.is_none() {
        Outcome::Crashed(c.err.trim().to_string())
    } else if !c.err.contains(&mnt.display().to_string()) {
        Outcome::Unnamed(c.err.trim().to_string())
    } else {
        Outcome::Refused
    };
    crate::proc::reap_orphans();
    let mut left = Vec::new();
    if mnt.join(&id).exists() {
        left.push("state dir".to_string());
    }
    left.extend(find_cgroups(&id).iter().map(|p| p.display().to_string()));
    // SAFETY: unmounting our own tmpfs.
    unsafe { libc::umount2(m.as_ptr(), libc::MNT_DETACH) };
    if !left.is_empty() {
        return Outcome::Leaked(left.join(", "));
    }
    out
}

/// Runs the cases (the first `limit`, 0 = all) and the special ones; prints
/// the tally; true when husk refused every one, naming the field.
pub fn run(ctx: &Ctx, limit: usize) -> bool {
    let cases = all();
    let n = if limit == 0 {
        cases.len()
    } else {
        limit.min(cases.len())
    };
    let mut results: Vec<(String, Outcome)> = Vec::new();
    for (i, case) in cases.iter().take(n).enumerate() {
        results.push((case.name.to_string(), try_case(ctx, i, case)));
    }
    results.push(("state root on a full filesystem".into(), full_state_fs(ctx)));
    for bad in ["../escape", "a/b", "", ".."] {
        let bundle = ctx.bundle.dir.display().to_string();
        let c = ctx.call(&["create", "--bundle", &bundle, bad]);
        let o = if c.ok() {
            Outcome::Accepted
        } else if c.err.to_lowercase().contains("id") {
            Outcome::Refused
        } else {
            Outcome::Unnamed(c.err.trim().to_string())
        };
        results.push((format!("container id {bad:?}"), o));
    }
    let refused = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Refused))
        .count();
    println!(
        "  hostile input: {} tried, {refused} refused naming the field",
        results.len()
    );
    let mut ok = true;
    for (name, o) in &results {
        if !matches!(o, Outcome::Refused) {
            ok = false;
            println!("    {name}: {o}");
        }
    }
    ok
}
