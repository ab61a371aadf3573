//! `linux.resources.blockIO`: weights and throttles. v1 uses the `blkio`
//! controller (CFQ or BFQ file names), v2 the `io` controller.

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::super::error::CgroupError;
use super::super::layout::HierarchyVersion;
use super::{PlanHost, Write, RES};

fn field(name: &str) -> String {
    format!("{RES}.blockIO.{name}")
}

/// The four throttle lists: OCI name, v1 file, v2 `io.max` key.
fn throttles(
    b: &LinuxBlockIo,
) -> [(
    &'static str,
    &Option<Vec<LinuxThrottleDevice>>,
    &'static str,
    &'static str,
); 4] {
    [
        (
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "rbps",
        ),
        (
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "wbps",
        ),
        (
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "riops",
        ),
        (
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "wiops",
        ),
    ]
}

/// runc's linear map of blkio weight [10, 1000] onto io.weight [1, 10000].
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

/// Plan `blockIO`.
pub fn plan(b: &LinuxBlockIo, host: &PlanHost, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let weight = b.weight().filter(|&w| w != 0);
    let leaf = b.leaf_weight().filter(|&w| w != 0);
    let devices = b.weight_device().as_deref().unwrap_or(&[]);
    let first_throttle = throttles(b)
        .into_iter()
        .find(|t| t.1.as_ref().is_some_and(|l| !l.is_empty()))
        .map(|t| t.0);
    let first = [
        weight.map(|_| "weight"),
        leaf.map(|_| "leafWeight"),
        (!devices.is_empty()).then_some("weightDevice"),
        first_throttle,
    ]
    .into_iter()
    .flatten()
    .next();
    let Some(first) = first else {
        return Ok(());
    };
    // The controller is `blkio` on v1 and `io` on v2; ask for whichever the
    // host has, preferring v1 names on v1/hybrid hosts.
    let (controller, version) = match (host.controllers.get("blkio"), host.controllers.get("io")) {
        (Some(v), _) => ("blkio", *v),
        (None, Some(v)) => ("io", *v),
        (None, None) => ("blkio", host.need(&field(first), "blkio")?),
    };
    match version {
        HierarchyVersion::V1 => {
            plan_v1(b, controller, host.probe.blkio_cfq_weight, out);
            Ok(())
        }
        HierarchyVersion::V2 => plan_v2(b, controller, host.probe.io_bfq_weight, out),
    }
}

fn plan_v1(b: &LinuxBlockIo, c: &str, cfq: bool, out: &mut Vec<Write>) {
    let v = HierarchyVersion::V1;
    // Kernels without CFQ (all since 5.0) only have the BFQ weight files.
    let (weight_file, weight_device_file) = if cfq {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        out.push(Write::new(
            field("weight"),
            c,
            v,
            weight_file,
            w.to_string(),
        ));
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        out.push(Write::new(
            field("leafWeight"),
            c,
            v,
            "blkio.leaf_weight",
            w.to_string(),
        ));
    }
    for (i, d) in b
        .weight_device()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight().filter(|&w| w != 0) {
            let f = field(&format!("weightDevice[{i}].weight"));
            out.push(Write::new(
                f,
                c,
                v,
                weight_device_file,
                format!("{dev} {w}"),
            ));
        }
        if let Some(w) = d.leaf_weight().filter(|&w| w != 0) {
            let f = field(&format!("weightDevice[{i}].leafWeight"));
            out.push(Write::new(
                f,
                c,
                v,
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
            ));
        }
    }
    for (name, list, file, _) in throttles(b) {
        for (i, t) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
            let value = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            out.push(Write::new(
                field(&format!("{name}[{i}]")),
                c,
                v,
                file,
                value,
            ));
        }
    }
}

/// The v2 refusal of a leaf weight set at `field`.
fn no_leaf_weights(field: String) -> CgroupError {
    CgroupError::Unsupported {
        field,
        version: "v2",
        reason: "cgroup v2 has no leaf weights; remove the field".into(),
    }
}

fn plan_v2(b: &LinuxBlockIo, c: &str, bfq: bool, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let v = HierarchyVersion::V2;
    if b.leaf_weight().is_some_and(|w| w != 0) {
        return Err(no_leaf_weights(field("leafWeight")));
    }
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        if bfq {
            out.push(Write::new(
                field("weight"),
                c,
                v,
                "io.bfq.weight",
                w.to_string(),
            ));
        } else {
            if !(10..=1000).contains(&w) {
                return Err(CgroupError::invalid(
                    field("weight"),
                    format!("{w} is out of range (10-1000)"),
                ));
            }
            let converted = blkio_weight_to_io_weight(w);
            out.push(Write::new(
                field("weight"),
                c,
                v,
                "io.weight",
                converted.to_string(),
            ));
        }
    }
    for (i, d) in b
        .weight_device()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if d.leaf_weight().is_some_and(|w| w != 0) {
            return Err(no_leaf_weights(field(&format!(
                "weightDevice[{i}].leafWeight"
            ))));
        }
        let Some(w) = d.weight().filter(|&w| w != 0) else {
            continue;
        };
        if !bfq {
            return Err(CgroupError::Unsupported {
                field: field(&format!("weightDevice[{i}].weight")),
                version: "v2",
                reason: "per-device weights need the BFQ I/O scheduler (io.bfq.weight is missing)"
                    .into(),
            });
        }
        let value = format!("{}:{} {}", d.major(), d.minor(), w);
        out.push(Write::new(
            field(&format!("weightDevice[{i}].weight")),
            c,
            v,
            "io.bfq.weight",
            value,
        ));
    }
    for (name, list, _, key) in throttles(b) {
        for (i, t) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
            let value = format!("{}:{} {}={}", t.major(), t.minor(), key, t.rate());
            out.push(Write::new(
                field(&format!("{name}[{i}]")),
                c,
                v,
                "io.max",
                value,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section("blockIO", json, host, |r| r.block_io().as_ref(), plan)
    }

    const ALL: &str = r#"{"weight":500,"leafWeight":300,
        "weightDevice":[{"major":8,"minor":0,"weight":600,"leafWeight":200}],
        "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
        "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2097152}],
        "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
        "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":200}]}"#;

    #[test]
    fn v1_bfq_names_when_no_cfq() {
        let w = run(ALL, &hybrid()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("blkio.bfq.weight", "500"),
                ("blkio.leaf_weight", "300"),
                ("blkio.bfq.weight_device", "8:0 600"),
                ("blkio.leaf_weight_device", "8:0 200"),
                ("blkio.throttle.read_bps_device", "8:0 1048576"),
                ("blkio.throttle.write_bps_device", "8:0 2097152"),
                ("blkio.throttle.read_iops_device", "8:0 100"),
                ("blkio.throttle.write_iops_device", "8:0 200"),
            ])
        );
        assert_eq!(
            w[4].field,
            "linux.resources.blockIO.throttleReadBpsDevice[0]"
        );
    }

    #[test]
    fn v1_cfq_names_when_present() {
        let mut host = hybrid();
        host.probe.blkio_cfq_weight = true;
        let w = run(
            r#"{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":600}]}"#,
            &host,
        )
        .unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[("blkio.weight", "500"), ("blkio.weight_device", "8:0 600")])
        );
    }

    #[test]
    fn v2_io_max_and_converted_weight() {
        let json = r#"{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":10}],
            "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":5}]}"#;
        let w = run(json, &v2()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("io.weight", "4950"),
                ("io.max", "8:0 rbps=10"),
                ("io.max", "8:16 wiops=5")
            ])
        );
        assert_eq!(w[0].controller, "io");
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    }

    #[test]
    fn v2_bfq_weights_and_refusals() {
        let mut host = v2();
        host.probe.io_bfq_weight = true;
        let w = run(
            r#"{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":600}]}"#,
            &host,
        )
        .unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[("io.bfq.weight", "500"), ("io.bfq.weight", "8:0 600")])
        );
        assert!(run(ALL, &host).is_err());
        let e = run(
            r#"{"weightDevice":[{"major":8,"minor":0,"weight":600}]}"#,
            &v2(),
        )
        .err();
        assert!(e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("weightDevice[0].weight"));
        assert!(run(r#"{"weight":5}"#, &v2()).is_err());
    }

    #[test]
    fn missing_blkio_is_reported_only_when_set() {
        let mut host = hybrid();
        host.controllers.remove("blkio");
        assert!(run(r#"{"weight":0}"#, &host).is_ok());
        let e = run(
            r#"{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1}]}"#,
            &host,
        )
        .err();
        assert_eq!(
            e.map(|e| e.to_string()).unwrap_or_default(),
            "linux.resources.blockIO.throttleReadBpsDevice: the blkio cgroup controller isn't mounted on this host"
        );
    }
}
