//! docs/embedding.md lists the whole public API; this keeps the list in step with
//! the code: every item the crate root exports, every public module, every public
//! method of the container types and every field of `ExecOptions` must be named
//! there (in backticks). Pure text: it reads the sources, not the compiled crate.

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The names in `pub use path::{a, b, C};` and `pub use path::D;` lines and
/// `pub mod m;` lines of the crate root (not inside `mod unstable`, which is hidden).
fn root_exports(lib: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let top = lib.split("pub mod unstable").next().unwrap_or(lib);
    let mut stmt = String::new();
    for line in top.lines().map(str::trim) {
        if let Some(m) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            out.insert(m.to_string());
            continue;
        }
        if line.starts_with("pub use ") || !stmt.is_empty() {
            stmt.push_str(line);
            if !line.ends_with(';') {
                continue;
            }
            let body = stmt.trim_start_matches("pub use ").trim_end_matches(';');
            let names = match body.split_once('{') {
                Some((_, rest)) => rest.trim_end_matches('}').to_string(),
                None => body.rsplit("::").next().unwrap_or(body).to_string(),
            };
            for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                out.insert(n.to_string());
            }
            stmt.clear();
        }
    }
    out
}

/// `pub fn NAME` (not `pub(crate)`/`pub(super)`) in a source file.
fn pub_fns(src: &str) -> Vec<String> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("pub fn "))
        .filter_map(|r| r.split(['(', '<']).next())
        .map(str::to_string)
        .collect()
}

/// The `pub NAME:` fields of `pub struct NAME { ... }` in `src`.
fn pub_fields(src: &str, strukt: &str) -> Vec<String> {
    let start = src
        .find(&format!("pub struct {strukt} {{"))
        .unwrap_or_else(|| panic!("no struct {strukt}"));
    let body = &src[start..];
    let body = &body[..body.find("\n}").unwrap_or(body.len())];
    body.lines()
        .filter_map(|l| l.trim().strip_prefix("pub "))
        .filter_map(|r| r.split(':').next())
        .filter(|n| !n.contains(' ') && !n.contains('('))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_public_item_is_in_docs_embedding_md() {
    let doc = read("../docs/embedding.md");
    let named = |n: &str| doc.contains(&format!("`{n}`")) || doc.contains(&format!("`{n}("));
    let mut missing = Vec::new();
    let exports = root_exports(&read("src/lib.rs"));
    assert!(exports.contains("ContainerBuilder") && exports.contains("Stdio"));
    for n in &exports {
        if !named(n) && !doc.contains(&format!("`husk::{n}`")) {
            missing.push(format!("crate root: {n}"));
        }
    }
    for file in [
        "builder.rs",
        "mod.rs",
        "ops.rs",
        "exec.rs",
        "resources.rs",
        "checkpoint.rs",
    ] {
        for f in pub_fns(&read(&format!("src/container/{file}"))) {
            if !named(&f) {
                missing.push(format!("container/{file}: fn {f}"));
            }
        }
    }
    for f in pub_fields(&read("src/container/exec.rs"), "ExecOptions") {
        if !named(&f) {
            missing.push(format!("ExecOptions.{f}"));
        }
    }
    for f in pub_fns(&read("src/process/stdio.rs")) {
        if !named(&f) && f != "new" {
            missing.push(format!("Stdio::{f}"));
        }
    }
    assert!(
        missing.is_empty(),
        "public items docs/embedding.md does not name: {missing:?}"
    );
}
