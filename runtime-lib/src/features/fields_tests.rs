//! The field table against oci-spec and against `docs/config-fields.md`.

use super::*;
use serde_json::Value;

/// A config with every field oci-spec knows set (in the runtime-spec's spellings).
const KITCHEN_SINK: &str = include_str!("kitchen_sink.json");

/// Maps whose keys are free (names, clocks): their values are walked as `{}`.
const FREE_KEY_MAPS: &[&str] = &[
    "linux.netDevices",
    "linux.resources.rdma",
    "linux.timeOffsets",
];
/// Maps of plain strings: one field.
const STRING_MAPS: &[&str] = &["annotations", "linux.sysctl", "linux.resources.unified"];

fn walk(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if FREE_KEY_MAPS.contains(&path.as_str()) => {
            for v in m.values() {
                walk(v, format!("{path}{{}}"), out);
            }
        }
        Value::Object(m) if !STRING_MAPS.contains(&path.as_str()) && !m.is_empty() => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, p, out);
            }
        }
        Value::Array(a) if a.first().is_some_and(Value::is_object) => {
            for v in a {
                walk(v, format!("{path}[]"), out);
            }
        }
        _ => out.push(path),
    }
}

/// Every field of the kitchen sink that survives a round trip through oci-spec
/// (a field oci-spec does not know would be dropped).
fn known_fields() -> Vec<String> {
    let spec: oci_spec::runtime::Spec = crate::spec::from_reader(
        KITCHEN_SINK.as_bytes(),
        std::path::Path::new("kitchen_sink.json"),
    )
    .expect("the kitchen sink parses");
    let back = serde_json::to_value(&spec).expect("serialize");
    let mut out = Vec::new();
    walk(&back, String::new(), &mut out);
    // Back to the spec's spelling where oci-spec's differs.
    for f in out.iter_mut() {
        for (spec, theirs) in crate::spec::compat::KEY_SPELLINGS {
            if let Some(rest) = f.strip_prefix("linux.intelRdt.") {
                if rest == *theirs {
                    *f = format!("linux.intelRdt.{spec}");
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_field_has_a_row_and_every_row_a_field() {
    let fields = known_fields();
    let missing: Vec<&String> = fields.iter().filter(|f| support(f).is_none()).collect();
    assert!(
        missing.is_empty(),
        "fields without a row in CONFIG_FIELDS: {missing:#?}"
    );
    let stale: Vec<&str> = CONFIG_FIELDS
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| !fields.iter().any(|f| covers(r, f)))
        .collect();
    assert!(
        stale.is_empty(),
        "rows that are no config field: {stale:#?}"
    );
    for (i, (a, _)) in CONFIG_FIELDS.iter().enumerate() {
        for (b, _) in &CONFIG_FIELDS[i + 1..] {
            assert!(!covers(a, b) && !covers(b, a), "{a} and {b} overlap");
        }
    }
}

#[test]
fn docs_match_the_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config-fields.md");
    let want = markdown();
    if std::env::var_os("HUSK_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/config-fields.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/config-fields.md is out of date: run HUSK_BLESS=1 cargo test -p husk features"
    );
}

#[test]
fn lookups() {
    assert!(supported("linux.netDevices{}.name"));
    assert!(supported("linux.resources.cpu.shares"));
    assert!(supported("hooks.prestart[].path"));
    assert!(supported("linux.mountLabel"));
    assert!(!supported("windows.layerFolders"));
    assert_eq!(support("no.such.field"), None);
}
