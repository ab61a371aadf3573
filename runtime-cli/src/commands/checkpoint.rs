//! `husk checkpoint`: dump a running container with CRIU (runc's flags).

use std::path::PathBuf;

use husk::checkpoint::{CgroupsMode, CheckpointOptions};
use husk::unstable as plan;

use crate::Ctx;

// Flags `checkpoint` and `restore` share (runc's names and meanings).
#[derive(clap::Args, Debug, Clone)]
pub struct CriuFlags {
    /// Directory for the CRIU images (default: ./checkpoint).
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's log (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Lazy migration through userfaultfd (refused: husk does not run CRIU's lazy-pages daemon).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// How CRIU treats cgroups: soft, full, strict or ignore.
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// A namespace CRIU leaves out (only `network`).
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Deduplicate memory pages against the parent images.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
}

impl CriuFlags {
    /// The image path, runc's default when unset.
    pub fn image_path(&self) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let p = match &self.image_path {
            Some(p) => p.clone(),
            None => PathBuf::from("checkpoint"),
        };
        Ok(if p.is_absolute() {
            p
        } else {
            std::env::current_dir()?.join(p)
        })
    }

    /// Flags husk refuses, with why.
    pub fn refuse(&self) -> Result<(), Box<dyn std::error::Error>> {
        if self.lazy_pages {
            return Err("--lazy-pages is not supported by husk: it needs CRIU's lazy-pages daemon and page server, which husk does not run; checkpoint without it".into());
        }
        // Malformed values are refused before anything is touched.
        plan::empty_ns_bits(&self.empty_ns)?;
        self.cgroups_mode()?;
        Ok(())
    }

    /// `--manage-cgroups-mode`, parsed.
    pub fn cgroups_mode(&self) -> Result<Option<CgroupsMode>, husk::checkpoint::CheckpointError> {
        self.manage_cgroups_mode
            .as_deref()
            .map(str::parse)
            .transpose()
    }
}

// `checkpoint [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Images of a previous pre-dump, relative to the image path.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Fd CRIU writes to when lazy pages are ready (refused with --lazy-pages).
    #[arg(long = "status-fd")]
    pub status_fd: Option<String>,
    /// ADDRESS:PORT of a CRIU page server.
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Dump memory only (the container keeps running); finish with a dump using --parent-path.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// Container id.
    pub id: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    a.criu.refuse()?;
    if a.status_fd.is_some() {
        return Err(
            "--status-fd is only used with --lazy-pages, which husk does not support".into(),
        );
    }
    let opts = CheckpointOptions {
        image_path: a.criu.image_path()?,
        work_path: a.criu.work_path.clone(),
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        tcp_established: a.criu.tcp_established,
        ext_unix_sk: a.criu.ext_unix_sk,
        shell_job: a.criu.shell_job,
        file_locks: a.criu.file_locks,
        pre_dump: a.pre_dump,
        manage_cgroups_mode: a.criu.cgroups_mode()?,
        empty_ns: a.criu.empty_ns.clone(),
        auto_dedup: a.criu.auto_dedup,
        page_server: a
            .page_server
            .as_deref()
            .map(plan::parse_page_server)
            .transpose()?,
    };
    let mut c = husk::Container::load(&ctx.root, &a.id)?;
    c.checkpoint(&opts)?;
    Ok(0)
}
