//! Unit tests for the pure parts of the hooks module.

use std::path::PathBuf;
use std::time::Duration;

use oci_spec::runtime::{Hook, Hooks};
use serde_json::json;

use super::command::HookCommand;
use super::error::{HookError, HookRef};
use super::kind::HookKind;
use super::supervise::{Capture, CAPTURE_LIMIT};

fn hook(v: serde_json::Value) -> Hook {
    serde_json::from_value(v).expect("test hook JSON must parse")
}

fn invalid_field(v: serde_json::Value) -> (String, String) {
    match HookCommand::prepare(&hook(v)) {
        Err(HookError::Invalid { field, reason, .. }) => (field, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn prepare_resolves_argv_env_and_timeout() {
    let c = HookCommand::prepare(&hook(json!({
        "path": "/usr/bin/h", "args": ["h0", "a", "b c"],
        "env": ["A=1", "B=x=y", "EMPTY="], "timeout": 5
    })))
    .unwrap();
    assert_eq!(c.argv, ["h0", "a", "b c"]);
    assert_eq!(
        c.env.as_deref(),
        Some(
            &[
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("EMPTY".into(), String::new())
            ][..]
        )
    );
    assert_eq!(c.timeout(), Some(Duration::from_secs(5)));

    // Without args, argv[0] is the path; without timeout, no deadline.
    let c = HookCommand::prepare(&hook(json!({"path": "/usr/bin/h"}))).unwrap();
    assert_eq!(c.argv, ["/usr/bin/h"]);
    // Without env, the caller's environment; an empty env is empty (runc: a Go
    // command with a nil or an empty Env).
    assert_eq!(c.env, None);
    let c = HookCommand::prepare(&hook(json!({"path": "/usr/bin/h", "env": []}))).unwrap();
    assert_eq!(c.env, Some(vec![]));
    assert_eq!(c.timeout(), None);
}

#[test]
fn prepare_rejects_invalid_fields() {
    let (f, r) = invalid_field(json!({"path": "bin/h"}));
    assert_eq!((f.as_str(), r.contains("absolute")), ("path", true));
    let (f, r) = invalid_field(json!({"path": "/h", "timeout": 0}));
    assert_eq!(
        (f.as_str(), r.contains("greater than zero")),
        ("timeout", true)
    );
    let (f, _) = invalid_field(json!({"path": "/h", "timeout": -3}));
    assert_eq!(f, "timeout");
    let (f, r) = invalid_field(json!({"path": "/h", "env": ["A=1", "NOEQUALS"]}));
    assert_eq!((f.as_str(), r.contains("KEY=VALUE")), ("env[1]", true));
    let (f, _) = invalid_field(json!({"path": "/h", "env": ["=v"]}));
    assert_eq!(f, "env[0]");
    let (f, _) = invalid_field(json!({"path": "/h", "args": ["h", "a\u{0}b"]}));
    assert_eq!(f, "args[1]");
}

#[test]
fn kinds_have_spec_names_and_select_their_list() {
    let names: Vec<_> = HookKind::ALL.iter().map(|k| k.to_string()).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let hooks: Hooks = serde_json::from_value(json!({
        "prestart": [{"path": "/p"}],
        "createRuntime": [{"path": "/cr1"}, {"path": "/cr2"}],
        "poststop": [{"path": "/ps"}]
    }))
    .unwrap();
    assert_eq!(HookKind::Prestart.select(&hooks).len(), 1);
    assert_eq!(
        HookKind::CreateRuntime.select(&hooks)[1].path(),
        &PathBuf::from("/cr2")
    );
    assert!(HookKind::StartContainer.select(&hooks).is_empty());
    assert_eq!(
        HookKind::Poststop.select(&hooks)[0].path(),
        &PathBuf::from("/ps")
    );
}

#[test]
fn messages_name_the_hook() {
    let err = HookError::Invalid {
        hook: HookRef {
            path: "/h".into(),
            position: None,
        },
        field: "timeout".into(),
        reason: "must be greater than zero".into(),
    };
    assert_eq!(
        err.to_string(),
        "hook /h: timeout: must be greater than zero"
    );
    let err = err.at(HookKind::CreateRuntime, 2);
    assert_eq!(
        err.to_string(),
        "hooks.createRuntime[2] (/h): timeout: must be greater than zero"
    );
    assert_eq!(err.hook().position, Some((HookKind::CreateRuntime, 2)));

    let err = HookError::Timeout {
        hook: HookRef {
            path: "/h".into(),
            position: None,
        },
        timeout: 3,
        stderr: String::new(),
    };
    assert_eq!(
        err.to_string(),
        "hook /h: timed out after 3s and was killed; stderr is empty"
    );
}

#[test]
fn capture_truncates() {
    let mut c = Capture::default();
    c.push(b"hello ");
    c.push(b"world\n\n");
    assert_eq!(c.text(), "hello world");
    let mut c = Capture::default();
    c.push(b"ab");
    c.push(&vec![b'x'; CAPTURE_LIMIT - 1]);
    c.push(b"yz");
    let text = c.text();
    // The tail is kept: that is where a failing program says why.
    assert!(text.starts_with("(truncated) ...xxx"), "{}", &text[..20]);
    assert!(text.ends_with("xyz"), "{}", &text[text.len() - 20..]);
    assert_eq!(text.len(), CAPTURE_LIMIT + "(truncated) ...".len());
}

#[test]
fn a_hook_without_env_inherits_the_callers() {
    // A real /bin/sh: PATH and HOME of the test process reach it; with an env of its
    // own it sees only that.
    let path = std::env::var("PATH").unwrap_or_default();
    let out = std::env::temp_dir().join(format!("husk-hook-env-{}", std::process::id()));
    let script = format!(
        "echo \"${{PATH-unset}} ${{ONLY-unset}}\" > {}",
        out.display()
    );
    let run = |env: Option<Vec<&str>>| {
        let mut h = json!({"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 10});
        if let Some(e) = env {
            h["env"] = json!(e);
        }
        super::run_hook(&hook(h), b"{}").unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        got
    };
    assert_eq!(run(None), format!("{path} unset\n"));
    assert_eq!(run(Some(vec!["ONLY=x", "PATH=/nowhere"])), "/nowhere x\n");
}

#[test]
fn default_env_fills_hooks_without_one() {
    let hooks: Vec<Hook> = serde_json::from_value(json!([
        {"path": "/a"}, {"path": "/b", "env": []}, {"path": "/c", "env": ["OWN=1"]}
    ]))
    .unwrap();
    let env = vec!["PATH=/bin".to_string(), "HOME=/root".to_string()];
    let got: Vec<_> = super::with_default_env(&hooks, &env)
        .iter()
        .map(|h| h.env().clone().unwrap_or_default())
        .collect();
    assert_eq!(got, [env.clone(), env, vec!["OWN=1".to_string()]]);
}
