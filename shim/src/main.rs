//! `containerd-shim-husk-v2`: the containerd shim v2 for husk
//! (`io.containerd.husk.v2`), driving the husk library in-process.

mod any;
mod criu;
mod events;
mod helper;
mod memory;
mod metrics;
mod mounts;
mod oom;
mod options;
mod service;
mod shim;
mod stdio;

/// The runtime name containerd knows this shim by.
const RUNTIME_ID: &str = "io.containerd.husk.v2";

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == helper::ARG) {
        std::process::exit(helper::main(args));
    }
    if args
        .iter()
        .any(|a| a == "-v" || a == "--version" || a == "-version")
    {
        println!(
            "{RUNTIME_ID}:\n  Version: {}\n  husk library (in-process)",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    memory::single_arena();
    containerd_shim::run::<shim::HuskShim>(RUNTIME_ID, None);
}
