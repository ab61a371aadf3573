//! `husk pause` and `husk resume`.

use crate::Ctx;

// `pause ID` / `resume ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn pause(a: Args, ctx: &Ctx) -> super::CmdResult {
    husk::Container::load(&ctx.root, &a.id)?.pause()?;
    Ok(0)
}

pub fn resume(a: Args, ctx: &Ctx) -> super::CmdResult {
    husk::Container::load(&ctx.root, &a.id)?.resume()?;
    Ok(0)
}
