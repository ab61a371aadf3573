//! What a bench run measured: samples, series per runtime, rows, and the
//! medians and ranges the report shows.

use std::path::PathBuf;
use std::time::Duration;

use super::Options;

/// One measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall time.
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak RSS of the measured process (KiB), where meaningful.
    pub maxrss_kib: u64,
    /// Peak RSS (VmHWM, KiB) of the container init of a created container, before
    /// it execs the container process, where measured (0: not measured).
    pub init_hwm_kib: u64,
}

/// The samples of one benchmark on one runtime.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Measured samples.
    pub samples: Vec<Sample>,
    /// Why the series stopped, if it failed.
    pub error: Option<String>,
    /// Why it was not measured (e.g. no `exec`).
    pub na: Option<String>,
}

pub(super) fn median(mut v: Vec<Duration>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

fn median_kib(mut v: Vec<u64>) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

impl Series {
    /// Median wall time.
    pub fn wall(&self) -> Option<Duration> {
        median(self.samples.iter().map(|s| s.wall).collect())
    }
    /// Minimum and maximum wall time.
    pub fn range(&self) -> Option<(Duration, Duration)> {
        let min = self.samples.iter().map(|s| s.wall).min()?;
        let max = self.samples.iter().map(|s| s.wall).max()?;
        Some((min, max))
    }
    /// Median CPU time.
    pub fn cpu(&self) -> Option<Duration> {
        median(self.samples.iter().map(|s| s.cpu).collect())
    }
    /// Median peak RSS (KiB).
    pub fn maxrss_kib(&self) -> Option<u64> {
        median_kib(self.samples.iter().map(|s| s.maxrss_kib).collect())
    }
    /// Median VmHWM of the container init before exec (KiB).
    pub fn init_hwm_kib(&self) -> Option<u64> {
        median_kib(
            self.samples
                .iter()
                .map(|s| s.init_hwm_kib)
                .filter(|k| *k > 0)
                .collect(),
        )
    }
}

/// One benchmark row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Short key (for `--filter`).
    pub key: &'static str,
    /// Row label.
    pub label: &'static str,
    /// One series per runtime.
    pub series: Vec<Series>,
}

/// Facts about a runtime binary.
#[derive(Debug, Clone)]
pub struct RtInfo {
    /// Column name.
    pub name: String,
    /// Binary path.
    pub path: PathBuf,
    /// `--version`, first line.
    pub version: String,
    /// File size in bytes.
    pub size: u64,
    /// Statically linked.
    pub is_static: Option<bool>,
    /// The size of husk's launcher when `path` is one (`size` is then the CLI's).
    pub launcher: Option<u64>,
}

/// Everything a bench run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// The runtimes, in column order.
    pub runtimes: Vec<RtInfo>,
    /// Benchmark rows.
    pub rows: Vec<Row>,
    /// Floor rows: label and series.
    pub floor: Vec<(&'static str, Series)>,
    /// Options used.
    pub options: Options,
    /// Machine description lines.
    pub machine: Vec<(String, String)>,
    /// When the run started (UTC).
    pub started: String,
    /// How long it took.
    pub elapsed: Duration,
    /// /proc/loadavg before and after.
    pub load: (String, String),
    /// Where the time of one husk `run` goes: each `--debug` phase with its
    /// median, and the median wall time of the whole `run` (empty when husk was
    /// not benchmarked or the filter left it out).
    pub phases: Vec<(String, Duration)>,
    /// Median wall time of the `--debug` runs the phases come from.
    pub phases_total: Option<Duration>,
    /// Runtimes run with cgroup2 hidden: median `--version` wall time with
    /// and without the private mount namespace.
    pub hide_overhead: Vec<(String, Duration, Duration)>,
}
