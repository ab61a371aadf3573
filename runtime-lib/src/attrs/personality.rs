//! `linux.personality`: the execution domain and flags as personality(2)'s argument.
//!
//! The runtime-spec defines no flag values yet; husk accepts the kernel's names of the
//! personality(2) flags (an extension) and refuses anything else.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::spec::SpecError;

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

/// personality(2) flags by their kernel name (include/uapi/linux/personality.h).
pub const FLAGS: &[(&str, u64)] = &[
    ("UNAME26", 0x002_0000),
    ("ADDR_NO_RANDOMIZE", 0x004_0000),
    ("FDPIC_FUNCPTRS", 0x008_0000),
    ("MMAP_PAGE_ZERO", 0x010_0000),
    ("ADDR_COMPAT_LAYOUT", 0x020_0000),
    ("READ_IMPLIES_EXEC", 0x040_0000),
    ("ADDR_LIMIT_32BIT", 0x080_0000),
    ("SHORT_INODE", 0x100_0000),
    ("WHOLE_SECONDS", 0x200_0000),
    ("STICKY_TIMEOUTS", 0x400_0000),
    ("ADDR_LIMIT_3GB", 0x800_0000),
];

/// Validates `linux.personality` and returns the persona value.
pub fn plan(p: &LinuxPersonality) -> Result<u64, SpecError> {
    let mut persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    for (i, f) in p.flags().iter().flatten().enumerate() {
        let bit = FLAGS
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                SpecError::invalid(
                    format!("linux.personality.flags[{i}]"),
                    format!("unknown personality flag {f:?}"),
                )
            })?;
        persona |= bit;
    }
    Ok(persona)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona(json: &str) -> Result<u64, String> {
        plan(&serde_json::from_str(json).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn domains_and_flags() {
        assert_eq!(persona(r#"{"domain":"LINUX"}"#).unwrap(), 0);
        assert_eq!(persona(r#"{"domain":"LINUX32"}"#).unwrap(), 8);
        assert_eq!(
            persona(r#"{"domain":"LINUX32","flags":["ADDR_NO_RANDOMIZE"]}"#).unwrap(),
            0x0040008
        );
        let e = persona(r#"{"domain":"LINUX","flags":["BOGUS"]}"#).unwrap_err();
        assert!(e.contains("linux.personality.flags[0]"), "{e}");
    }
}
