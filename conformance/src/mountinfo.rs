//! `/proc/self/mountinfo` parsing shared by the library and `husk-checker`.
//!
//! std only: the checker includes this file with `#[path]`, and build.rs compiles
//! the checker with plain `rustc` into a static binary.

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes_octal() {
        assert_eq!(super::unescape(r"/a\040b\011c"), "/a b\tc");
        // Not an escape (too short, not octal): kept as it is.
        assert_eq!(super::unescape(r"/x\09"), r"/x\09");
        assert_eq!(super::unescape(r"/x\999"), r"/x\999");
    }
}
