//! `husk state`.

use crate::Ctx;

// `state ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let c = husk::Container::load(&ctx.root, &a.id)?;
    crate::out!("{}", serde_json::to_string_pretty(&c.state())?);
    Ok(0)
}
