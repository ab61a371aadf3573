//! The environment a container process gets: one entry per variable, the last
//! value winning (so `exec --env`, the builder's extra variables and socket
//! activation replace what `process.env` says, as with runc), HOME from the
//! image's /etc/passwd when the environment has none, and LISTEN_PID naming the
//! process itself under socket activation.

use std::sync::OnceLock;

/// `env` with one entry per variable: its last value, at the place of its last
/// entry (runc's order). Entries without '=' are kept as they are.
pub fn dedup(env: &[String]) -> Vec<String> {
    let key = |e: &String| e.split_once('=').map(|(k, _)| k.to_string());
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<String> = env
        .iter()
        .rev()
        .filter(|e| key(e).is_none_or(|k| seen.insert(k)))
        .cloned()
        .collect();
    out.reverse();
    out
}

/// `env` followed by `extra`, each variable of `extra` replacing the one of `env`.
pub fn merge(env: &[String], extra: &[String]) -> Vec<String> {
    let all: Vec<String> = env.iter().chain(extra).cloned().collect();
    dedup(&all)
}

/// The value of `name` in `env` (already deduplicated).
fn get<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().find_map(|e| {
        e.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// `env` with what only the process itself can know: HOME (when unset or empty,
/// as runc) from `home`, and `LISTEN_PID=pid` when `listen_pid`.
fn complete(
    env: &[String],
    home: impl FnOnce() -> Option<String>,
    listen_pid: Option<u32>,
) -> Vec<String> {
    let mut out = env.to_vec();
    if get(&out, "HOME").is_none_or(str::is_empty) {
        out.retain(|e| !e.starts_with("HOME="));
        out.push(format!("HOME={}", home().unwrap_or_else(|| "/".into())));
    }
    if let Some(pid) = listen_pid {
        out = merge(&out, &[format!("LISTEN_PID={pid}")]);
    }
    out
}

/// The environment decided by [`prepare`] (this process is a single-threaded child
/// about to exec: one value for its life).
static PREPARED: OnceLock<Vec<String>> = OnceLock::new();

/// Decides the process's final environment from its (deduplicated) `env`: called
/// inside the container's root, before the user switch. `uid` picks the
/// passwd entry; `listen_pid` adds this process's pid as it sees it (1 with a pid
/// namespace of its own: the value runc and crun set).
pub(super) fn prepare(env: &[String], uid: u32, listen_pid: bool) {
    let pid = listen_pid.then(std::process::id);
    let _ = PREPARED.set(complete(env, || passwd_home(uid), pid));
}

/// The environment to exec with: what [`prepare`] decided, else `env`.
pub(super) fn prepared(env: &[String]) -> &[String] {
    PREPARED.get().map(Vec::as_slice).unwrap_or(env)
}

/// The home directory of `uid` in the container's /etc/passwd, resolved inside the
/// container's root (the image may make it a symlink, even an absolute one). Opened
/// without blocking on a fifo; only a regular file of sane size is read.
fn passwd_home(uid: u32) -> Option<String> {
    use std::io::Read;
    let root = crate::paths::Root::open(std::path::Path::new("/")).ok()?;
    let fd = root
        .open_with(
            std::path::Path::new("/etc/passwd"),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            "open",
        )
        .ok()?;
    let f = std::fs::File::from(fd);
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > 4 << 20 {
        return None;
    }
    let mut text = String::new();
    f.take(4 << 20).read_to_string(&mut text).ok()?;
    home_of(&text, uid)
}

/// The 6th field of the first passwd line whose uid is `uid`.
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty())
            .then(|| f[5].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn last_value_wins_in_place_of_the_last_entry() {
        assert_eq!(
            dedup(&v(&["A=1", "B=2", "A=3", "C=", "junk", "B=4"])),
            v(&["A=3", "C=", "junk", "B=4"])
        );
        assert_eq!(
            merge(
                &v(&["PATH=/bin", "MY_VAR=config", "TERM=xterm"]),
                &v(&["MY_VAR=exec", "NEW=1"])
            ),
            v(&["PATH=/bin", "TERM=xterm", "MY_VAR=exec", "NEW=1"])
        );
        // '=' in the value is not a key separator.
        assert_eq!(dedup(&v(&["K=a=b", "K=c"])), v(&["K=c"]));
    }

    #[test]
    fn home_and_listen_pid() {
        let home = || Some("/home/u".to_string());
        assert_eq!(
            complete(&v(&["A=1"]), home, None),
            v(&["A=1", "HOME=/home/u"])
        );
        assert_eq!(complete(&v(&["HOME=/x"]), home, None), v(&["HOME=/x"]));
        // An empty HOME is replaced, as runc does.
        assert_eq!(
            complete(&v(&["HOME=", "B=2"]), home, None),
            v(&["B=2", "HOME=/home/u"])
        );
        assert_eq!(complete(&v(&["A=1"]), || None, None), v(&["A=1", "HOME=/"]));
        assert_eq!(
            complete(
                &v(&["LISTEN_PID=99", "LISTEN_FDS=2", "HOME=/"]),
                home,
                Some(7)
            ),
            v(&["LISTEN_FDS=2", "HOME=/", "LISTEN_PID=7"])
        );
    }

    #[test]
    fn home_from_passwd() {
        let p = "root:x:0:0:root:/root:/bin/sh\nbad line\nuser:x:1000:1000::/home/user:/bin/sh\nnohome:x:5:5:::\n";
        assert_eq!(home_of(p, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(p, 1000).as_deref(), Some("/home/user"));
        assert_eq!(home_of(p, 5), None);
        assert_eq!(home_of(p, 42), None);
    }
}
