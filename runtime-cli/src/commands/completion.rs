//! `husk completion SHELL`: shell completion scripts, and (hidden) `husk completion
//! --man DIR`: the manual pages. Both are generated from the same clap definition the
//! parser uses, at build/install time, so they cannot drift from the flags.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::Ctx;

/// The manual section of husk's pages (runc's are in section 8 too).
const MAN_SECTION: &str = "8";

// `completion`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to write a completion script for (on stdout).
    #[arg(value_parser = ["bash", "zsh", "fish"], required_unless_present = "man")]
    shell: Option<String>,
    /// Write the manual pages (husk.8 and husk-COMMAND.8) into this directory instead.
    #[arg(long, value_name = "DIR", hide = true)]
    man: Option<PathBuf>,
}

pub fn run(a: Args, _ctx: &Ctx) -> super::CmdResult {
    if let Some(dir) = a.man {
        for name in write_man_pages(&dir)? {
            crate::out!("{}", dir.join(name).display());
        }
        return Ok(0);
    }
    let shell = match a.shell.as_deref() {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        other => return Err(format!("unsupported shell {other:?}").into()),
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut crate::Cli::command(), "husk", &mut buf);
    // A closed stdout (`husk completion bash | head`) is not an error.
    let _ = std::io::stdout().write_all(&buf);
    Ok(0)
}

/// The manual pages as (file name, roff text): `husk.8`, then one page per visible
/// subcommand, `husk-create.8`, ..., each with a SEE ALSO section linking them.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let mut cmd = crate::Cli::command();
    // Resolves bin names ("husk create") and display names ("husk-create").
    cmd.build();
    // clap's generated `help` subcommand gets no page of its own.
    let cmd = cmd
        .mut_subcommand("help", |h| h.hide(true))
        // The NAME line reads "husk - <about>": the about without its "husk: " prefix.
        .about("an OCI container runtime (runc-compatible)");
    let source = format!("husk {}", env!("CARGO_PKG_VERSION"));
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut pages = Vec::new();
    let mut top = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section(MAN_SECTION)
        .source(source.as_str())
        .manual("System Manager's Manual")
        .render(&mut top)?;
    let sub_refs: Vec<String> = subs
        .iter()
        .map(|s| format!("\\fBhusk\\-{}\\fR({MAN_SECTION})", s.get_name()))
        .collect();
    see_also(&mut top, &sub_refs)?;
    pages.push((format!("husk.{MAN_SECTION}"), top));
    for sub in subs {
        let name = format!("husk-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub.clone().display_name(name.as_str()))
            .title(name.to_uppercase())
            .section(MAN_SECTION)
            .source(source.as_str())
            .manual("System Manager's Manual")
            .render(&mut page)?;
        see_also(&mut page, &[format!("\\fBhusk\\fR({MAN_SECTION})")])?;
        pages.push((format!("{name}.{MAN_SECTION}"), page));
    }
    Ok(pages)
}

/// Appends a SEE ALSO section (clap_mangen has none).
fn see_also(page: &mut Vec<u8>, refs: &[String]) -> Result<(), std::io::Error> {
    writeln!(page, ".SH \"SEE ALSO\"")?;
    writeln!(page, "{}", refs.join(", "))
}

/// Writes [`man_pages`] into `dir` (created if missing); returns the file names.
pub fn write_man_pages(dir: &Path) -> Result<Vec<String>, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    let mut names = Vec::new();
    for (name, text) in man_pages()? {
        std::fs::write(dir.join(&name), text)?;
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_subcommand_and_every_flag_documented() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "husk.8");
        assert!(names.contains(&"husk-create.8"), "{names:?}");
        assert!(names.contains(&"husk-completion.8"), "{names:?}");
        assert!(!names.contains(&"husk-help.8"), "{names:?}");
        let cmd = crate::Cli::command();
        let visible = || cmd.get_subcommands().filter(|s| !s.is_hide_set());
        assert_eq!(pages.len(), 1 + visible().count());
        for sub in visible() {
            let page = &pages
                .iter()
                .find(|(n, _)| *n == format!("husk-{}.8", sub.get_name()))
                .unwrap()
                .1;
            let text = String::from_utf8_lossy(page);
            assert!(text.contains(".SH \"SEE ALSO\""), "{}", sub.get_name());
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    // roff escapes '-' as '\-'.
                    let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(
                        text.contains(&flag),
                        "husk-{}.8 lacks {flag}",
                        sub.get_name()
                    );
                }
            }
        }
    }

    #[test]
    fn pages_are_reproducible() {
        assert_eq!(man_pages().unwrap(), man_pages().unwrap());
        let top = String::from_utf8(man_pages().unwrap().remove(0).1).unwrap();
        assert!(
            top.starts_with(".ie") || top.contains(".TH husk 8"),
            "{top}"
        );
        assert!(top.contains("husk\\-create(8)"), "{top}");
    }
}
