//! Relinks husk when its symbol order (link/symbol-order.txt, given to the linker by
//! `make build`) changes: cargo does not see files named only in RUSTFLAGS.
fn main() {
    println!("cargo:rerun-if-changed=link/symbol-order.txt");
}
