//! `husk-conformance`: side-by-side scenarios and benchmarks for husk, runc
//! and crun. See `husk-conformance --help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use husk_conformance::{bench, suite, Runtime};

#[derive(Parser, Debug)]
#[command(
    name = "husk-conformance",
    about = "Run OCI runtimes side by side: conformance scenarios and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the scenarios against each runtime and print a table.
    ///
    /// Exits 1 when husk (the runtime named "husk", else the first one) fails
    /// a scenario that runc passes (any failure when there is no runc), and
    /// under CI (`CI=true`) when it could not run one for a missing dependency.
    Run {
        /// NAME=PATH of a runtime (repeatable; column order).
        #[arg(long = "runtime", required = true)]
        runtimes: Vec<String>,
        /// Only scenarios whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Also write the report as Markdown to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Working directory (default /var/tmp/husk-conformance-run-PID).
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// Seconds per scenario per runtime.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Keep the working directory (bundles, call outputs).
        #[arg(long)]
        keep: bool,
        /// Table cell width.
        #[arg(long, default_value_t = 60)]
        width: usize,
    },
    /// List the scenarios.
    List,
    /// Run a command as if on an older kernel: a seccomp filter answers ENOSYS for
    /// the syscalls that kernel lacked (EINVAL/ENOTTY for the newer flags), then the
    /// command is exec'd. Its children inherit the filter.
    Oldkernel {
        /// The kernel to emulate: 5.4 or 4.18.
        #[arg(long)]
        profile: String,
        /// Also answer ENOSYS for this syscall number (repeatable; for tests).
        #[arg(long = "enosys")]
        enosys: Vec<u32>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Run a command in a child forked from this small process and print the child's
    /// peak RSS (ru_maxrss, KiB) on stdout; exits with its status. The bench measures
    /// `create` through it: a child spawned by the bench itself would carry the bench's
    /// own peak (a vfork child's exec records its parent's high-water mark).
    #[command(hide = true)]
    Maxrss {
        /// Bind this empty file over the cgroup2 controller list first (crun on a
        /// hybrid host, as the bench runs it).
        #[arg(long)]
        hide_cgroup2: Option<PathBuf>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Benchmark the runtimes (interleaved), with the floor reference.
    Bench {
        /// NAME=PATH of a runtime (repeatable; column order).
        #[arg(long = "runtime", required = true)]
        runtimes: Vec<String>,
        /// Measured iterations per benchmark.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Warm-up iterations (discarded).
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Measured iterations of the 100-run batches.
        #[arg(long = "batch-iterations", default_value_t = 3)]
        batch_iterations: usize,
        /// Only benchmarks whose key contains this (lifecycle, run,
        /// create-kill-delete, state, exec, run-seq, run-par, floor).
        #[arg(long)]
        filter: Option<String>,
        /// Write docs/benchmarks.md (tables, method, machine) from this run.
        #[arg(long = "write-docs")]
        write_docs: Option<PathBuf>,
        /// Working directory (default /var/tmp/husk-conformance-bench-PID).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Reliability under load: cycles with leak counts, parallel creates, racing
    /// commands, an exec storm, hostile configs. Exits 1 when husk (the runtime
    /// named "husk", else the first) leaks, misbehaves or accepts a hostile input.
    Stress {
        /// NAME=PATH of a runtime (repeatable).
        #[arg(long = "runtime", required = true)]
        runtimes: Vec<String>,
        /// The bounded subset (as `make test`) instead of the full run.
        #[arg(long)]
        subset: bool,
        /// create/start/wait/delete cycles (default: 2000, subset 50).
        #[arg(long)]
        cycles: Option<usize>,
        /// create/delete --force cycles (default: 2000, subset 50).
        #[arg(long = "force-cycles")]
        force_cycles: Option<usize>,
        /// Parallel creates (default 100).
        #[arg(long)]
        parallel: Option<usize>,
        /// Commands racing on one id (default 50).
        #[arg(long)]
        race: Option<usize>,
        /// Execs in the storm (default 500, 20 at a time).
        #[arg(long)]
        execs: Option<usize>,
        /// Creates SIGKILLed at a random moment (default 200, subset 20).
        #[arg(long)]
        kills: Option<usize>,
        /// Cycles for the other runtimes (runc is ~10x slower per cycle).
        #[arg(long = "other-cycles")]
        other_cycles: Option<usize>,
        /// Skip the hostile inputs.
        #[arg(long = "no-hostile")]
        no_hostile: bool,
        /// Working directory (default /var/tmp/husk-conformance-stress-PID).
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
}

fn probe(specs: &[String], work: &std::path::Path) -> Result<Vec<Runtime>, String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut out: Vec<Runtime> = Vec::new();
    for s in specs {
        let mut rt = Runtime::parse(s)?;
        if out.iter().any(|r| r.name == rt.name) {
            return Err(format!("runtime name {} given twice", rt.name));
        }
        rt.probe(work)?;
        out.push(rt);
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("husk-conformance: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Cmd::Stress {
            runtimes,
            subset,
            cycles,
            force_cycles,
            parallel,
            race,
            execs,
            kills,
            other_cycles,
            no_hostile,
            workdir,
        } => {
            let work = workdir.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "/var/tmp/husk-conformance-stress-{}",
                    std::process::id()
                ))
            });
            let rts = probe(&runtimes, &work)?;
            let mut cfg = if subset {
                husk_conformance::stress::Config::subset()
            } else {
                husk_conformance::stress::Config::full()
            };
            cfg.cycles = cycles.unwrap_or(cfg.cycles);
            cfg.force_cycles = force_cycles.unwrap_or(cfg.force_cycles);
            cfg.parallel = parallel.unwrap_or(cfg.parallel);
            cfg.race = race.unwrap_or(cfg.race);
            cfg.execs = execs.unwrap_or(cfg.execs);
            cfg.hostile &= !no_hostile;
            cfg.other_cycles = other_cycles;
            cfg.kills = kills.unwrap_or(cfg.kills);
            let pass = husk_conformance::stress::run(&rts, &cfg, &work)?;
            Ok(if pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Oldkernel {
            profile,
            enosys,
            command,
        } => {
            let profile = husk_conformance::oldkernel::Profile::parse(&profile)?;
            let e = husk_conformance::oldkernel::exec_under(profile, &enosys, &command);
            Err(format!(
                "oldkernel {}: {:?}: {e}",
                profile.name(),
                command[0]
            ))
        }
        Cmd::Maxrss {
            hide_cgroup2,
            command,
        } => {
            let (code, kib) =
                husk_conformance::runtime::run_measured(&command, hide_cgroup2.as_deref())?;
            println!("{kib}");
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        Cmd::List => {
            for s in husk_conformance::scenarios::all() {
                println!("{:<24} {:<11} {}", s.name, s.area, s.what);
            }
            let missing = husk_conformance::scenarios::NOT_YET_COVERED;
            if !missing.is_empty() {
                println!("\nnot covered yet: {}", missing.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            runtimes,
            filter,
            markdown,
            workdir,
            timeout,
            keep,
            width,
        } => {
            let opts = suite::Options {
                work: workdir.unwrap_or_else(|| suite::default_work_dir("run")),
                filter,
                timeout: Duration::from_secs(timeout),
                keep,
                progress: true,
            };
            let rts = probe(&runtimes, &opts.work)?;
            let res = suite::run_suite(&rts, &opts)?;
            println!("{}", res.table(width));
            for i in 0..res.runtimes.len() {
                println!("{}", res.summary_line(i));
            }
            let details = res.details();
            if !details.is_empty() {
                println!("\n{details}");
            }
            if let Some(p) = markdown {
                std::fs::write(&p, res.markdown()).map_err(|e| format!("{}: {e}", p.display()))?;
            }
            let subject = res.column("husk").unwrap_or(0);
            let missing = res.missing(subject);
            if husk_conformance::scenario::under_ci() && !missing.is_empty() {
                // A scenario that could not run is not a pass.
                eprintln!(
                    "CI=true: {} could not run: {}",
                    res.runtimes[subject],
                    missing.join("; ")
                );
                return Ok(ExitCode::from(1));
            }
            let regressions = res.regressions(subject, res.column("runc"));
            if regressions.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "{} fails where runc passes (or fails outright): {}",
                    res.runtimes[subject],
                    regressions.join(", ")
                );
                Ok(ExitCode::from(1))
            }
        }
        Cmd::Bench {
            runtimes,
            iterations,
            warmup,
            batch_iterations,
            filter,
            write_docs,
            workdir,
        } => {
            let opts = bench::Options {
                work: workdir.unwrap_or_else(|| suite::default_work_dir("bench")),
                iterations: iterations.max(1),
                warmup,
                batch_iterations: batch_iterations.max(1),
                filter,
                ..bench::Options::default()
            };
            let rts = probe(&runtimes, &opts.work)?;
            let res = bench::run_bench(&rts, &opts)?;
            println!("{}", res.tables());
            if let Some(p) = write_docs {
                let command = std::iter::once("husk-conformance".to_string())
                    .chain(std::env::args().skip(1))
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                std::fs::write(&p, res.markdown(&command))
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                eprintln!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
