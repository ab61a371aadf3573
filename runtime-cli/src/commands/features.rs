//! `husk features`.

use crate::Ctx;

// `features`.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_a: Args, _ctx: &Ctx) -> super::CmdResult {
    crate::out!(
        "{}",
        serde_json::to_string_pretty(&husk::features::features())?
    );
    Ok(0)
}
