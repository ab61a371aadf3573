//! `process.ioPriority`: class and level as the value ioprio_set(2) takes.

use oci_spec::runtime::{IOPriorityClass, LinuxIOPriority};

use crate::spec::SpecError;

const IOPRIO_CLASS_SHIFT: u32 = 13;

/// Validates `process.ioPriority` and returns the ioprio value (class << 13 | level).
pub fn plan(p: &LinuxIOPriority) -> Result<u32, SpecError> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(SpecError::invalid(
            "process.ioPriority.priority",
            format!("{level} is outside 0 (highest) .. 7 (lowest)"),
        ));
    }
    Ok((class << IOPRIO_CLASS_SHIFT) | level as u32)
}

/// A hint for ioprio_set's EPERM.
pub fn hint(prio: u32, e: &std::io::Error) -> &'static str {
    if prio >> IOPRIO_CLASS_SHIFT == 1 && e.raw_os_error() == Some(libc::EPERM) {
        " (IOPRIO_CLASS_RT needs CAP_SYS_ADMIN or CAP_SYS_NICE in the initial user namespace)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prio(json: &str) -> Result<u32, String> {
        plan(&serde_json::from_str(json).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn classes() {
        assert_eq!(
            prio(r#"{"class":"IOPRIO_CLASS_RT","priority":0}"#).unwrap(),
            1 << 13
        );
        assert_eq!(
            prio(r#"{"class":"IOPRIO_CLASS_BE","priority":7}"#).unwrap(),
            2 << 13 | 7
        );
        assert_eq!(
            prio(r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#).unwrap(),
            3 << 13
        );
    }

    #[test]
    fn level_out_of_range() {
        for bad in [8, -1] {
            let e = prio(&format!(
                r#"{{"class":"IOPRIO_CLASS_BE","priority":{bad}}}"#
            ))
            .unwrap_err();
            assert!(e.contains("process.ioPriority.priority"), "{e}");
        }
    }
}
