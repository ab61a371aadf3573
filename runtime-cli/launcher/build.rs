//! The launcher has no libc and no start files: its own `_start` (src/main.rs) is the
//! entry point. Linked static and not position-independent, so there is nothing to
//! relocate before the first instruction runs (no loader, no self-relocation code).
//! No address randomisation for these few KiB, which parse nothing and exec at once
//! (a static PIE would need its own relocation pass: the compiler puts a few pointers
//! in data).
fn main() {
    // Unit tests run on the std harness: the flags are for the binary only.
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
