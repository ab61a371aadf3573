//! Path scenarios: the default masked and read-only paths, and
//! `linux.maskedPaths` / `linux.readonlyPaths`.

use std::path::Path;

use serde_json::{json, Value};

use crate::bundle::push;
use crate::scenario::{expect, Case, Check};

/// The base config's `linux.<key>` entries that exist on this host (the
/// kernel may lack some, e.g. /proc/kcore or /proc/sysrq-trigger).
fn default_paths(key: &str) -> Vec<String> {
    let cfg = crate::bundle::default_config(&[], "");
    cfg["linux"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|p| Path::new(p).exists())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn masked_paths(c: &mut Case) -> Check {
    let defaults = default_paths("maskedPaths");
    let (dirs, files): (Vec<&String>, Vec<&String>) =
        defaults.iter().partition(|p| Path::new(p).is_dir());
    let mut args = vec!["stat"];
    args.extend(files.iter().map(|p| p.as_str()));
    args.push("read");
    args.extend(defaults.iter().map(String::as_str));
    args.extend([
        "/husk-masked-file",
        "/husk-masked-dir",
        "/husk-visible-file",
    ]);
    let r = c.checker("b", &args, |cfg, rootfs| {
        let _ = std::fs::write(rootfs.join("husk-masked-file"), "secret\n");
        let _ = std::fs::create_dir_all(rootfs.join("husk-masked-dir"));
        let _ = std::fs::write(rootfs.join("husk-masked-dir/inner"), "secret\n");
        let _ = std::fs::write(rootfs.join("husk-visible-file"), "visible\n");
        push(cfg, &["linux", "maskedPaths"], json!("/husk-masked-file"));
        push(cfg, &["linux", "maskedPaths"], json!("/husk-masked-dir"));
    })?;
    for f in &files {
        let st = r.get(&format!("stat:{f}"))?;
        expect(st.starts_with("c 1:3 "), || {
            format!("stat:{f}: got {st:?}, want /dev/null (c 1:3)")
        })?;
        r.expect(&format!("read:{f}"), "ok 0")?;
    }
    for d in &dirs {
        r.expect(&format!("read:{d}"), "dir 0")?;
    }
    r.expect("read:/husk-masked-file", "ok 0")?;
    r.expect("read:/husk-masked-dir", "dir 0")?;
    r.expect("read:/husk-visible-file", "ok 8")
}

pub(super) fn readonly_paths(c: &mut Case) -> Check {
    let ro = default_paths("readonlyPaths");
    let mut args = vec!["ro"];
    args.extend(ro.iter().map(String::as_str));
    args.extend([
        "/proc",
        "/proc/self",
        "write",
        "/husk-ro-dir",
        "/husk-ro-dir/file",
        "/husk-rw-dir",
    ]);
    let r = c.checker("b", &args, |cfg, rootfs| {
        cfg["root"]["readonly"] = json!(false);
        let _ = std::fs::create_dir_all(rootfs.join("husk-ro-dir"));
        let _ = std::fs::write(rootfs.join("husk-ro-dir/file"), "x\n");
        let _ = std::fs::create_dir_all(rootfs.join("husk-rw-dir"));
        push(cfg, &["linux", "readonlyPaths"], json!("/husk-ro-dir"));
    })?;
    for p in &ro {
        r.expect(&format!("ro:{p}"), "1")?;
    }
    r.expect("ro:/proc", "0")?;
    r.expect("ro:/proc/self", "0")?;
    r.expect("write:/husk-ro-dir", "EROFS")?;
    r.expect("write:/husk-ro-dir/file", "EROFS")?;
    r.expect("write:/husk-rw-dir", "ok")
}
