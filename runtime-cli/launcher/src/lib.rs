//! What the launcher computes, without libc or allocation: where the husk CLI is
//! installed relative to the launcher, and the path of the CLI's immutable copy that
//! the CLI's CVE-2019-5736 guard makes (`husk::unstable::exe_guard`: the directory
//! `dir_for`, the file `copy_name`). Pure; `runtime-cli/tests/launcher.rs` checks
//! that the launcher finds the very copy the CLI made.
#![cfg_attr(not(test), no_std)]

/// Where the CLI's guard keeps its copies (`exe_guard::DEFAULT_DIR`).
pub const COPY_DIR: &[u8] = b"/run/husk-exe";

/// The CLI relative to the launcher's prefix: `<prefix>/bin/husk` runs
/// `<prefix>/libexec/husk/husk`.
pub const CLI_FROM_PREFIX: &[u8] = b"/libexec/husk/husk";

/// Room for a path and its NUL (PATH_MAX).
pub const PATH_MAX: usize = 4096;

/// A NUL-terminated path built in place. Pushing past [`PATH_MAX`] marks it
/// overflowed; such a path is never used.
pub struct PathBuf {
    bytes: [u8; PATH_MAX],
    len: usize,
    overflow: bool,
}

impl PathBuf {
    /// An empty path.
    pub const fn new() -> Self {
        PathBuf {
            bytes: [0; PATH_MAX],
            len: 0,
            overflow: false,
        }
    }

    /// Appends bytes (a NUL inside them makes the path unusable).
    pub fn push(&mut self, s: &[u8]) -> &mut Self {
        if s.contains(&0) || self.len + s.len() >= PATH_MAX {
            self.overflow = true;
            return self;
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
        self.bytes[self.len] = 0;
        self
    }

    /// Appends `v` in lower-case hexadecimal, at least `width` digits.
    pub fn push_hex(&mut self, v: u64, width: usize) -> &mut Self {
        let mut digits = [b'0'; 16];
        let mut n = 0;
        let mut x = v;
        while x != 0 || n < width.clamp(1, 16) {
            digits[15 - n] = b"0123456789abcdef"[(x & 0xf) as usize];
            x >>= 4;
            n += 1;
        }
        self.push(&digits[16 - n..])
    }

    /// The path without its NUL, or None when it overflowed.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        (!self.overflow).then_some(&self.bytes[..self.len])
    }

    /// The path with its NUL (for a syscall), or None when it overflowed or is empty.
    pub fn as_c(&self) -> Option<&[u8]> {
        (!self.overflow && self.len > 0).then_some(&self.bytes[..=self.len])
    }
}

impl Default for PathBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// The CLI for a launcher at `exe` (its /proc/self/exe, so absolute and free of
/// symlinks): two components up, then [`CLI_FROM_PREFIX`]. None when `exe` has no
/// such prefix. A CLI that is itself a symlink hashes differently from the path its
/// guard uses: the launcher then finds no copy and runs the CLI, which re-executes
/// from the copy as always (slower, never less safe).
pub fn cli_path(exe: &[u8]) -> Option<PathBuf> {
    let parent = |p: &[u8]| p.iter().rposition(|&b| b == b'/');
    let dir = parent(exe)?;
    let prefix = parent(&exe[..dir])?;
    let mut out = PathBuf::new();
    out.push(&exe[..prefix]).push(CLI_FROM_PREFIX);
    out.as_bytes().is_some().then_some(out)
}

/// What names a version of the CLI binary (from its stat): a new build or an upgrade
/// has a new copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime`.
    pub mtime: i64,
    /// `st_mtime_nsec`.
    pub mtime_nsec: i64,
}

/// FNV-1a, 64 bits: the hash `exe_guard::dir_for` names a binary's directory with.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `/run/husk-exe/p-<fnv1a(cli)>/husk-<dev>-<ino>-<size>-<mtime_nsec ^ mtime>`, as
/// `exe_guard::dir_for` and `exe_guard::copy_name` name it.
pub fn copy_path(cli: &[u8], id: &Identity) -> PathBuf {
    let mut out = PathBuf::new();
    out.push(COPY_DIR)
        .push(b"/p-")
        .push_hex(fnv1a(cli), 16)
        .push(b"/husk-")
        .push_hex(id.dev, 1)
        .push(b"-")
        .push_hex(id.ino, 1)
        .push(b"-")
        .push_hex(id.size, 1)
        .push(b"-")
        .push_hex((id.mtime_nsec ^ id.mtime) as u64, 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_found_under_the_launcher_s_prefix() {
        let p = cli_path(b"/usr/local/bin/husk").unwrap();
        assert_eq!(p.as_bytes().unwrap(), b"/usr/local/libexec/husk/husk");
        assert_eq!(p.as_c().unwrap().last(), Some(&0));
        let p = cli_path(b"/bin/husk").unwrap();
        assert_eq!(p.as_bytes().unwrap(), b"/libexec/husk/husk");
        assert!(cli_path(b"husk").is_none());
    }

    #[test]
    fn copy_path_matches_the_guard_s_naming() {
        // The values of a copy the CLI made on this machine
        // (/run/husk-exe/p-0553a4ba0fb2a6bf/husk-fe00-51ca7d-5e84c8-51a6b557 for
        // /work/main/target/release/husk): the directory hash is checked here; the
        // file name's parts by the format.
        assert_eq!(
            fnv1a(b"/work/main/target/release/husk"),
            0x0553_a4ba_0fb2_a6bf
        );
        let id = Identity {
            dev: 0xfe00,
            ino: 0x51ca7d,
            size: 0x5e84c8,
            mtime: 0x5000_0000,
            mtime_nsec: 0x01a6_b557,
        };
        let p = copy_path(b"/work/main/target/release/husk", &id);
        assert_eq!(
            std::str::from_utf8(p.as_bytes().unwrap()).unwrap(),
            "/run/husk-exe/p-0553a4ba0fb2a6bf/husk-fe00-51ca7d-5e84c8-51a6b557"
        );
    }

    #[test]
    fn hex_is_padded_to_its_width_only() {
        let mut p = PathBuf::new();
        p.push_hex(0, 1)
            .push(b" ")
            .push_hex(0xab, 4)
            .push(b" ")
            .push_hex(u64::MAX, 16);
        assert_eq!(p.as_bytes().unwrap(), b"0 00ab ffffffffffffffff");
    }

    #[test]
    fn an_overlong_or_nul_path_is_unusable() {
        let mut p = PathBuf::new();
        p.push(&[b'a'; PATH_MAX]);
        assert!(p.as_bytes().is_none() && p.as_c().is_none());
        let mut p = PathBuf::new();
        p.push(b"a\0b");
        assert!(p.as_c().is_none());
        assert!(PathBuf::new().as_c().is_none());
    }
}
