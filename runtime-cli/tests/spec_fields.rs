//! The runtime-spec 1.2/1.3 fields, observed from inside real containers:
//! `process.scheduler`, `ioPriority`, `execCPUAffinity`, `linux.personality`,
//! `memoryPolicy`, idmapped mounts, `linux.netDevices`, a user namespace without
//! mappings; and one refusal per validation rule (nothing may be left behind).
//! (`domainname` and `timeOffsets` are observed in process.rs and namespaces.rs.)

mod common;

#[path = "spec_fields/attrs.rs"]
mod attrs;
#[path = "spec_fields/idmap.rs"]
mod idmap;
#[path = "spec_fields/netdev.rs"]
mod netdev;
#[path = "spec_fields/refused.rs"]
mod refused;
#[path = "spec_fields/userns.rs"]
mod userns;

use common::*;

#[test]
fn features_list_the_new_fields() {
    let out = husk(&["features"]).ok();
    let f: serde_json::Value = serde_json::from_str(&out.stdout).expect("features JSON");
    let linux = &f["linux"];
    assert_eq!(linux["netDevices"]["enabled"], true, "{out:?}");
    assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(linux["intelRdt"]["enabled"], true);
    assert_eq!(
        linux["memoryPolicy"]["modes"].as_array().map(Vec::len),
        Some(7)
    );
    assert_eq!(
        linux["memoryPolicy"]["flags"].as_array().map(Vec::len),
        Some(3)
    );
    let opts = f["mountOptions"].as_array().expect("mountOptions");
    for o in ["idmap", "ridmap"] {
        assert!(opts.iter().any(|x| x == o), "{o} missing");
    }
    assert_eq!(f["ociVersionMax"], "1.3.0");
}
