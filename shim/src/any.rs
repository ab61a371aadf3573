//! Packing messages into `Any` without protobuf reflection.
//!
//! The crate's `convert_to_any` names the type through `descriptor_dyn()`, which
//! builds the reflection of the message's whole .proto file and its imports
//! (descriptor.proto with its comments among them) on first use and keeps it for
//! the life of the process: about 0.4 MiB of heap in every shim, i.e. per
//! container. The type name is known statically instead: the .proto package and
//! the message's `NAME`.

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;

/// The package of containerd's task events (api/events/task.proto).
pub const EVENTS: &str = "containerd.events";
/// The package of the runc shim's process details (api/types/runc/options/oci.proto).
pub const RUNC_V1: &str = "containerd.runc.v1";
/// The package of cgroup v1 metrics (containerd/cgroups stats/v1/metrics.proto).
pub const CGROUPS_V1: &str = "io.containerd.cgroups.v1";
/// The package of cgroup v2 metrics (containerd/cgroups cgroup2/stats/metrics.proto).
pub const CGROUPS_V2: &str = "io.containerd.cgroups.v2";

/// `m` as an `Any` whose type is `package.NAME`.
pub fn pack<M: Message>(package: &str, m: &M) -> Result<Any, String> {
    Ok(Any {
        type_url: format!("{package}.{}", M::NAME),
        value: m.write_to_bytes().map_err(|e| e.to_string())?,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::cgroups::metrics::Metrics as V1;
    use containerd_shim::protos::cgroups_v2::metrics::Metrics as V2;
    use containerd_shim::protos::events::task::*;
    use containerd_shim::protos::protobuf::MessageFull;
    use containerd_shim::protos::shim::oci::ProcessDetails;

    /// The static name is the one reflection gives (what containerd decodes by).
    fn same<M: MessageFull>(package: &str) {
        let any = pack(package, &M::default()).expect("packs");
        assert_eq!(any.type_url, M::descriptor().full_name());
        let via_crate = containerd_shim::util::convert_to_any(Box::new(M::default())).unwrap();
        assert_eq!(any, via_crate);
    }

    #[test]
    fn names_match_reflection() {
        same::<TaskCreate>(EVENTS);
        same::<TaskStart>(EVENTS);
        same::<TaskDelete>(EVENTS);
        same::<TaskExit>(EVENTS);
        same::<TaskOOM>(EVENTS);
        same::<TaskExecAdded>(EVENTS);
        same::<TaskExecStarted>(EVENTS);
        same::<TaskPaused>(EVENTS);
        same::<TaskResumed>(EVENTS);
        same::<TaskCheckpointed>(EVENTS);
        same::<ProcessDetails>(RUNC_V1);
        same::<V1>(CGROUPS_V1);
        same::<V2>(CGROUPS_V2);
    }

    #[test]
    fn value_is_the_encoding() {
        let ev = TaskExit {
            container_id: "c1".into(),
            pid: 42,
            exit_status: 3,
            ..Default::default()
        };
        let any = pack(EVENTS, &ev).unwrap();
        assert_eq!(TaskExit::parse_from_bytes(&any.value).unwrap(), ev);
    }
}
