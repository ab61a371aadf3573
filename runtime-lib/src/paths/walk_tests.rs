//! The userspace walk against a temp tree, and side by side with the kernel's
//! `openat2` on the same lookups (this host has it), so the two agree.

use super::*;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

struct Tree(PathBuf);

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// root/{a/b/file, abs -> /a/b, rel -> ../../../a, loop1 <-> loop2, up -> ..,
/// dangling -> /missing, proc -> /proc/self}, and outside/secret next to root.
fn tree(tag: &str) -> (Tree, std::fs::File) {
    let dir = std::env::temp_dir().join(format!("husk-walk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = dir.join("root");
    std::fs::create_dir_all(r.join("a/b")).unwrap();
    std::fs::write(r.join("a/b/file"), b"in").unwrap();
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::write(dir.join("outside/secret"), b"out").unwrap();
    symlink("/a/b", r.join("abs")).unwrap();
    symlink("../../../a", r.join("rel")).unwrap();
    symlink("loop2", r.join("loop1")).unwrap();
    symlink("loop1", r.join("loop2")).unwrap();
    symlink("..", r.join("up")).unwrap();
    symlink("/missing", r.join("dangling")).unwrap();
    symlink("../outside/secret", r.join("a/esc")).unwrap();
    let root = std::fs::File::open(&r).unwrap();
    (Tree(dir), root)
}

fn ino(fd: &OwnedFd) -> u64 {
    nix::sys::stat::fstat(fd).unwrap().st_ino
}

/// Both resolvers on one lookup: same inode, or same errno.
fn agree(root: &std::fs::File, path: &str, flags: i32, resolve: u64) -> Result<u64, i32> {
    let p = Path::new(path);
    let ours = open(root.as_fd(), p, flags, 0, resolve);
    let kernel = crate::sys::openat2(root.as_fd(), p, flags, 0, resolve);
    let norm = |r: io::Result<OwnedFd>| {
        r.map(|f| ino(&f))
            .map_err(|e| e.raw_os_error().unwrap_or(-1))
    };
    let (ours, kernel) = (norm(ours), norm(kernel));
    assert_eq!(ours, kernel, "{path} flags {flags:#x} resolve {resolve:#x}");
    ours
}

#[test]
fn steps_split_and_mark_absolute() {
    let (abs, s) = steps(b"/a/./b//../c/");
    assert!(abs);
    let names: Vec<Step> = s.into_iter().collect();
    assert_eq!(
        names,
        vec![
            Step::Name("a".into()),
            Step::Name("b".into()),
            Step::Up,
            Step::Name("c".into())
        ]
    );
    assert!(!steps(b"x").0);
}

#[test]
fn proc_targets_plain_or_magic() {
    assert!(plain_proc_target(b"1234"));
    assert!(plain_proc_target(b"12/task/13"));
    assert!(!plain_proc_target(b"/dev/pts/0"));
    assert!(!plain_proc_target(b"pipe:[42]"));
    assert!(!plain_proc_target(b"12/task/x"));
}

#[test]
fn in_root_matches_openat2() {
    let (_t, root) = tree("inroot");
    let file = agree(&root, "a/b/file", libc::O_RDONLY, IN_ROOT).unwrap();
    // Absolute and `..`-laden symlinks resolve inside the root.
    assert_eq!(agree(&root, "abs/file", libc::O_RDONLY, IN_ROOT), Ok(file));
    assert_eq!(
        agree(&root, "/rel/b/file", libc::O_RDONLY, IN_ROOT),
        Ok(file)
    );
    assert_eq!(
        agree(&root, "../../a/b/file", libc::O_PATH, IN_ROOT),
        Ok(file)
    );
    assert_eq!(
        agree(&root, "up/up/a/b/file", libc::O_PATH, IN_ROOT),
        Ok(file)
    );
    // An escape through a symlink into the sibling directory is clamped: ENOENT.
    assert_eq!(
        agree(&root, "a/esc", libc::O_RDONLY, IN_ROOT),
        Err(libc::ENOENT)
    );
    // Loops: ELOOP; dangling: ENOENT; the link itself with O_NOFOLLOW|O_PATH.
    assert_eq!(
        agree(&root, "loop1", libc::O_PATH, IN_ROOT),
        Err(libc::ELOOP)
    );
    assert_eq!(
        agree(&root, "dangling", libc::O_PATH, IN_ROOT),
        Err(libc::ENOENT)
    );
    agree(&root, "dangling", libc::O_PATH | libc::O_NOFOLLOW, IN_ROOT).unwrap();
    agree(&root, "loop1", libc::O_PATH | libc::O_NOFOLLOW, IN_ROOT).unwrap();
    // The root itself, and a file where a directory is expected.
    agree(&root, "/", libc::O_PATH | libc::O_DIRECTORY, IN_ROOT).unwrap();
    agree(&root, ".", libc::O_RDONLY | libc::O_DIRECTORY, IN_ROOT).unwrap();
    assert_eq!(
        agree(&root, "a/b/file/x", libc::O_PATH, IN_ROOT),
        Err(libc::ENOTDIR)
    );
}

#[test]
fn no_symlinks_and_beneath_match_openat2() {
    let (_t, root) = tree("nolinks");
    let nolinks = libc::RESOLVE_NO_SYMLINKS;
    agree(&root, "a/b/file", libc::O_RDONLY, nolinks).unwrap();
    assert_eq!(
        agree(&root, "abs/file", libc::O_RDONLY, nolinks),
        Err(libc::ELOOP)
    );
    agree(&root, ".", libc::O_RDONLY | libc::O_DIRECTORY, nolinks).unwrap();
    let beneath = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV;
    agree(&root, "a/b/file", libc::O_PATH | libc::O_NOFOLLOW, beneath).unwrap();
    assert_eq!(
        agree(&root, "../outside", libc::O_PATH, beneath),
        Err(libc::EXDEV)
    );
}

#[test]
fn more_than_forty_links_is_eloop() {
    let (t, root) = tree("chain");
    let r = t.0.join("root");
    // l0 -> l1 -> ... -> l41 -> a: 42 links.
    for i in 0..42 {
        let target = if i == 41 {
            "a".to_string()
        } else {
            format!("l{}", i + 1)
        };
        symlink(&target, r.join(format!("l{i}"))).unwrap();
    }
    assert_eq!(agree(&root, "l0", libc::O_PATH, IN_ROOT), Err(libc::ELOOP));
    assert!(agree(&root, "l5", libc::O_PATH, IN_ROOT).is_ok());
}

#[test]
fn magic_links_are_refused() {
    // procfs as the root: self is plain, self/exe and self/fd/N are magic.
    let proc = std::fs::File::open("/proc").unwrap();
    let r = libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS;
    agree(&proc, "self/status", libc::O_RDONLY, r).unwrap();
    assert_eq!(agree(&proc, "self/exe", libc::O_PATH, r), Err(libc::ELOOP));
}
