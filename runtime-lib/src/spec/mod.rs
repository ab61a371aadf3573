//! Loading and validating a bundle's `config.json`.
//!
//! Every error names the JSON path of the offending field (for example
//! `linux.namespaces[2].type`) so a user can fix the config without guessing.

pub(crate) mod compat;
mod locate;
mod strings;
mod validate;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub use validate::validate;

/// Errors from reading or validating `config.json`.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path of the config file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The JSON is malformed or a field has the wrong type or an unknown value.
    #[error("{path}: {field}: {reason}")]
    Parse {
        /// Path of the config file.
        path: PathBuf,
        /// JSON path of the field (`.` when the document itself is bad).
        field: String,
        /// What serde found wrong.
        reason: String,
    },
    /// The config parsed but breaks a rule of the runtime spec.
    #[error("config.json: {field}: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
}

impl SpecError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Reads `<bundle>/config.json` into a [`Spec`], reporting the JSON path of any bad field.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    load_file(&bundle.join("config.json"))
}

/// Reads a spec-shaped JSON file (config.json, or a process.json for exec).
pub fn load_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SpecError> {
    let file = File::open(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    from_reader(BufReader::new(file), path)
}

/// Parses spec-shaped JSON from any reader; `origin` names it in errors. Spellings
/// of the runtime-spec that oci-spec does not parse are rewritten first (`compat`).
pub fn from_reader<T: serde::de::DeserializeOwned, R: std::io::Read>(
    reader: R,
    origin: &Path,
) -> Result<T, SpecError> {
    let parse_err = |field: String, reason: String| SpecError::Parse {
        path: origin.to_path_buf(),
        field,
        // A syntax error keeps serde_json's "at line L column C"; errors found
        // after parsing (from the Value) carry the field path instead.
        reason,
    };
    let mut text = Vec::new();
    let mut reader = reader;
    reader
        .read_to_end(&mut text)
        .map_err(|source| SpecError::Read {
            path: origin.to_path_buf(),
            source,
        })?;
    // Most documents hold nothing `compat` rewrites: they parse straight into the
    // types, without building a `Value` first (a third of a `run`'s parse
    // allocations). Any error takes the general path below, whose messages name
    // the field, and which accepts what it accepted before (duplicate keys).
    if !compat::may_apply(&text) {
        if let Ok(v) = serde_json::from_slice(&text) {
            return Ok(v);
        }
    }
    let mut doc: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        // A syntax error: name the field it is in, from its line and column.
        let field = locate::path_at(&text, e.line(), e.column());
        parse_err(field, e.to_string())
    })?;
    compat::normalize(&mut doc);
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let field = e.path().to_string();
        parse_err(field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Spec, SpecError> {
        from_reader(json.as_bytes(), Path::new("config.json"))
    }

    /// The general path: `Value`, `compat`, then the types.
    fn parse_via_value(json: &str) -> Spec {
        let mut doc: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        compat::normalize(&mut doc);
        serde_json::from_value(doc).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_direct_parse_gives_what_the_general_path_gives() {
        let sink = include_str!("../features/kitchen_sink.json");
        assert!(
            compat::may_apply(sink.as_bytes()),
            "the sink has compat spellings"
        );
        // Without those spellings the sink takes the direct path.
        let plain = sink
            .replace(
                r#"["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]"#,
                r#"["SCHED_RESET_ON_FORK"]"#,
            )
            .replace("\"execCPUAffinity\"", "\"unusedAffinity\"")
            .replace("enableCMT", "enableCmt")
            .replace("enableMBM", "enableMbm");
        assert!(!compat::may_apply(plain.as_bytes()));
        let direct = parse(&plain).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(direct, parse_via_value(&plain));
        assert_eq!(parse(sink).ok(), Some(parse_via_value(sink)));
        // A duplicate key fails the direct parse; the general path keeps the last.
        let dup = r#"{"ociVersion":"1.0.2","hostname":"a","hostname":"b"}"#;
        assert_eq!(
            parse(dup).ok().and_then(|s| s.hostname().clone()),
            Some("b".into())
        );
        // An escape that may spell a rewritten key takes the general path.
        assert!(compat::may_apply(
            br#"{"linux":{"intelRdt":{"enable\u0043MT":true}}}"#
        ));
    }

    #[test]
    fn bad_namespace_type_names_the_field() {
        let err = parse(
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err =
            parse(r#"{"ociVersion":"1.0.2","process":{"user":{"uid":"zero","gid":0},"cwd":"/"}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("process.user.uid"), "{err}");
    }

    #[test]
    fn bad_capability_names_the_field() {
        let err = parse(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","capabilities":{"bounding":["CAP_CHOWN","CAP_BOGUS"]}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("process.capabilities.bounding"), "{err}");
    }

    #[test]
    fn unparsable_json() {
        let err = parse("{not json").unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
    }
}

mod default;
pub use default::{default_rootless_spec, default_spec};

/// The runtime-spec version husk writes and implements.
pub const OCI_VERSION: &str = "1.3.0";
