//! Device scenarios: the default device nodes and `linux.devices`.

use serde_json::json;

use crate::bundle::push;
use crate::scenario::{Case, Check};

pub(super) fn devices_default(c: &mut Case) -> Check {
    let nodes = [
        ("/dev/null", "c 1:3 0666 0:0"),
        ("/dev/zero", "c 1:5 0666 0:0"),
        ("/dev/full", "c 1:7 0666 0:0"),
        ("/dev/random", "c 1:8 0666 0:0"),
        ("/dev/urandom", "c 1:9 0666 0:0"),
        ("/dev/tty", "c 5:0 0666 0:0"),
        ("/dev/fd", "l -> /proc/self/fd"),
        ("/dev/stdin", "l -> /proc/self/fd/0"),
        ("/dev/stdout", "l -> /proc/self/fd/1"),
        ("/dev/stderr", "l -> /proc/self/fd/2"),
        ("/dev/ptmx", "l -> pts/ptmx"),
    ];
    let mut args = vec!["stat"];
    args.extend(nodes.iter().map(|(p, _)| *p));
    args.extend(["read", "/dev/zero", "/dev/urandom", "write", "/dev/null"]);
    let r = c.checker("b", &args, |_, _| {})?;
    for (p, want) in nodes {
        r.expect(&format!("stat:{p}"), want)?;
    }
    r.expect("read:/dev/zero", "ok 4096")?;
    r.expect("read:/dev/urandom", "ok 4096")?;
    r.expect("write:/dev/null", "ok")
}

pub(super) fn devices_custom(c: &mut Case) -> Check {
    let r = c.checker("b", &["stat", "/dev/husk-zero", "/dev/husk-null", "read", "/dev/husk-zero"], |cfg, _| {
        push(cfg, &["linux", "devices"], json!({ "path": "/dev/husk-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 0, "gid": 0 }));
        push(cfg, &["linux", "devices"], json!({ "path": "/dev/husk-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1000 }));
        push(cfg, &["linux", "resources", "devices"], json!({ "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }));
    })?;
    r.expect("stat:/dev/husk-zero", "c 1:5 0640 0:0")?;
    r.expect("stat:/dev/husk-null", "c 1:3 0600 1000:1000")?;
    r.expect("read:/dev/husk-zero", "ok 4096")
}
