//! `husk --version`: the shape runc prints.

pub fn print() {
    crate::out!("husk version {}", env!("CARGO_PKG_VERSION"));
    crate::out!("spec: {}", husk::features::OCI_VERSION_MAX);
}
