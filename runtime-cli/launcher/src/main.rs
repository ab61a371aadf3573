//! `husk` as installed (docs/security.md, "The launcher"): runs the husk CLI from its
//! immutable copy when the CLI's CVE-2019-5736 guard has made one, else the CLI itself
//! (whose guard then makes the copy and re-executes from it). Without it every
//! `create`, `run` and `exec` started the CLI twice: once from the installed file, to
//! find the copy, and once from the copy; a start of the CLI (libc's CPU-feature
//! set-up, Rust's runtime, the page faults of a 6 MiB binary) costs ≈ 0.6 ms of CPU
//! here, this launcher ≈ 0.05 ms. It makes no decision that matters for safety: a
//! copy it cannot find or check only costs the CLI's own, slower way.
#![no_std]
#![no_main]

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the husk launcher is written for x86_64 Linux; install the CLI as bin/husk");

use husk_launcher::{cli_path, copy_path, Identity, PathBuf, PATH_MAX};

mod sys;

// The kernel starts us with argc, argv[], NULL, envp[], NULL on the stack.
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

/// The program: argv and envp go to the CLI unchanged.
extern "C" fn entry(stack: *const usize) -> ! {
    // SAFETY: `stack` is the initial stack the kernel laid out: argc, then argc
    // argv pointers and a NULL, then the environment pointers.
    let (argv, envp) = unsafe {
        let argc = *stack;
        let argv = stack.add(1) as *const *const u8;
        (argv, argv.add(argc + 1))
    };
    let mut exe = [0u8; PATH_MAX];
    let Some(cli) = sys::readlink(b"/proc/self/exe\0", &mut exe).and_then(cli_path) else {
        fail(
            b"cannot find the husk CLI (readlink /proc/self/exe)",
            b"",
            0,
        );
    };
    let Some(cli_c) = cli.as_c() else {
        fail(b"cannot find the husk CLI (path too long)", b"", 0);
    };
    if let Some(copy) = guarded_copy(&cli) {
        if let Some(c) = copy.as_c() {
            // Only returns when the exec failed: the CLI's own way is left.
            sys::execve(c, argv, envp);
        }
    }
    let errno = sys::execve(cli_c, argv, envp);
    fail(b"cannot run ", &cli_c[..cli_c.len() - 1], errno)
}

/// The CLI's immutable copy, when it exists and is immutable (what the CLI's guard
/// would accept).
fn guarded_copy(cli: &PathBuf) -> Option<PathBuf> {
    let st = sys::stat(cli.as_c()?)?;
    let id = Identity {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size as u64,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
    };
    let copy = copy_path(cli.as_bytes()?, &id);
    sys::is_immutable(copy.as_c()?).then_some(copy)
}

/// `husk: WHAT[PATH][: errno N]` on stderr; exit 127 (not found) or 126, as a shell.
fn fail(what: &[u8], path: &[u8], errno: i64) -> ! {
    let mut msg = PathBuf::new();
    msg.push(b"husk: ").push(what).push(path);
    if errno != 0 {
        msg.push(b": ").push(sys::strerror(errno));
    }
    msg.push(b"\n");
    if let Some(m) = msg.as_bytes() {
        sys::write(2, m);
    }
    sys::exit(if errno == 2 { 127 } else { 126 })
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(126)
}
