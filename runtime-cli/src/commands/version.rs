//! `husk --version`: the shape runc prints.

pub fn print() {
    println!("husk version {}", env!("CARGO_PKG_VERSION"));
    println!("spec: {}", husk::features::OCI_VERSION_MAX);
}
