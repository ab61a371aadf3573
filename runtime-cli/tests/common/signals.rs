//! Waiting for a container process to be ready for a signal. Self-contained: the
//! shim's tests include this file too.

use std::time::{Duration, Instant};

/// Polls /proc/PID/status until `sig` is in SigCgt (at most 10 s): a signal sent to
/// a pid 1 before it installed its handler is dropped (e.g. before a shell ran `trap`).
#[track_caller]
pub fn wait_for_caught(pid: i32, sig: i32) {
    let start = Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        if caught & (1 << (sig - 1)) != 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid {pid} never caught signal {sig}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
