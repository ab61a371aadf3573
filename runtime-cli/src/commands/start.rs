//! `husk start`.

use crate::Ctx;

// `start ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    husk::Container::load(&ctx.root, &a.id)?.start()?;
    Ok(0)
}
