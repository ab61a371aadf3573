//! Compiles `src/bin/husk-checker.rs` a second time, statically linked
//! (`-C target-feature=+crt-static`, static-pie with glibc), into OUT_DIR. The
//! library embeds that binary and copies it into each container rootfs, which
//! has no shared libraries. The checker uses std only, so plain `rustc` suffices.
//!
//! If the static build fails (no static libc, say), an empty file is embedded
//! and the scenarios that need the checker report it as missing (not a pass);
//! under CI (`CI=true`) the build fails instead, with rustc's message.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "src/bin/husk-checker.rs";
    println!("cargo:rerun-if-changed={src}");
    // The checker includes it with #[path]: a change must rebuild the static copy.
    println!("cargo:rerun-if-changed=src/mountinfo.rs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let out = out_dir.join("husk-checker-static");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("TARGET");
    let result = Command::new(rustc)
        .args([
            "--edition=2021",
            "--crate-name=husk_checker",
            "--crate-type=bin",
            "-Copt-level=2",
            "-Cpanic=abort",
            "-Cstrip=symbols",
            "-Ctarget-feature=+crt-static",
            "--target",
            &target,
            "-o",
        ])
        .arg(&out)
        .arg(src)
        .output();
    let failure = match result {
        Ok(o) if o.status.success() => None,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            println!(
                "cargo:warning=static husk-checker build failed ({}): {first}",
                o.status
            );
            Some(err)
        }
        Err(e) => {
            println!("cargo:warning=cannot run rustc for the static husk-checker: {e}");
            Some(e.to_string())
        }
    };
    if let Some(err) = failure {
        let ci = env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        if ci {
            // Under CI a scenario that cannot run must not pass: fail here, loudly.
            eprintln!("{err}");
            panic!("CI=true: the static husk-checker ({src}) did not build (rustc's output above)");
        }
        std::fs::write(&out, b"").expect("write placeholder checker");
    }
    println!("cargo:rustc-env=HUSK_CHECKER_STATIC={}", out.display());
}
