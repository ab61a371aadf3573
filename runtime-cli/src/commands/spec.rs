//! `husk spec`: writes a default config.json, like `runc spec`.

use std::path::PathBuf;

use crate::Ctx;

// `spec [--rootless] [--bundle DIR]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A config for rootless containers.
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(a: Args, _ctx: &Ctx) -> super::CmdResult {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(format!("File {} exists. Remove it first", path.display()).into());
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let spec = if a.rootless {
        husk::spec::default_rootless_spec(uid, gid, cgroup2_host())
    } else {
        husk::spec::default_spec(None)
    };
    std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")?;
    Ok(0)
}

/// True on a cgroup v2 (unified) host: `/sys/fs/cgroup` is cgroup2.
fn cgroup2_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}
