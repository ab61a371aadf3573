//! Error scenarios: unknown and existing ids, starting twice, configs the
//! runtime must refuse.

use serde_json::json;

use super::SLEEP;
use crate::scenario::{expect_eq, fail, Case, Check};

pub(super) fn error_unknown_id(c: &mut Case) -> Check {
    let id = c.id("missing");
    c.call_fails(&["state", &id])?;
    c.call_fails(&["start", &id])?;
    c.call_fails(&["kill", &id, "KILL"])?;
    c.call_fails(&["delete", &id])?;
    Ok(())
}

pub(super) fn error_existing_id(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0);
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])?;
    let st = c.state(&id)?;
    expect_eq(
        "state.status",
        st["status"].as_str().unwrap_or(""),
        "created",
    )?;
    expect_eq("state.pid", &st["pid"].as_i64().unwrap_or(0), &pid)
}

pub(super) fn error_start_twice(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    c.call_ok(&["start", &id])?;
    c.call_fails(&["start", &id])?;
    expect_eq("state.status", c.status(&id)?.as_str(), "running")
}

pub(super) fn error_bad_config(c: &mut Case) -> Check {
    // Invalid JSON.
    let b = c.bundle("json", &SLEEP, |_, _| {})?;
    std::fs::write(b.join("config.json"), "{ \"ociVersion\": ").map_err(|e| fail(e.to_string()))?;
    let id = c.id("json");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])
        .map_err(|_| fail("create with invalid JSON succeeded"))?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create (invalid JSON)"))?;
    // Missing rootfs.
    let b = c.bundle("noroot", &SLEEP, |cfg, _| {
        cfg["root"]["path"] = json!("no-such-rootfs")
    })?;
    let id = c.id("noroot");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])
        .map_err(|_| fail("create with a missing rootfs succeeded"))?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create (missing rootfs)"))?;
    // Empty process.args.
    let b = c.bundle("noargs", &[], |_, _| {})?;
    let id = c.id("noargs");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])
        .map_err(|_| fail("create with empty process.args succeeded"))?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create (empty args)"))?;
    Ok(())
}
