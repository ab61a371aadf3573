//! `husk delete`.

use crate::Ctx;

// `delete [--force] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill the container first if it is running.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    match husk::Container::load(&ctx.root, &a.id) {
        Ok(c) => c.delete(a.force)?,
        Err(husk::Error::StateFile(husk::error::StateError::NotFound(_))) => {
            // A create that died before writing state.json leaves only the directory:
            // remove it, and with --force a missing container is not an error (as runc).
            // Only when no create holds it: one that is still running has not
            // written its state yet.
            husk::validate_id(&a.id)?;
            let dir = ctx.root.join(&a.id);
            if let Ok(Some(_lock)) = husk::unstable::Lock::try_acquire(&dir) {
                let _ = std::fs::remove_dir_all(&dir);
            }
            if !a.force {
                return Err(format!("container {} does not exist", a.id).into());
            }
        }
        Err(husk::Error::StateFile(husk::error::StateError::Stale { path, .. })) => {
            // A torn state.json from before the last boot: the crash that tore it
            // stopped the container, and its cgroups went with the boot.
            husk::validate_id(&a.id)?;
            let dir = ctx.root.join(&a.id);
            if let Ok(Some(_lock)) = husk::unstable::Lock::try_acquire(&dir) {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    format!("remove {} (state {}): {e}", dir.display(), path.display())
                })?;
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}
