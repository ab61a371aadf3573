//! Property tests of the shim's request decoding, with a fixed-seed driver (as
//! the library's `fuzz` module): every task API request the shim serves, encoded
//! from a filled-in valid message and then damaged (truncated, bit flips,
//! inserted and random bytes, huge length prefixes), goes through the protobuf
//! decoding the ttrpc server does; what decodes goes on through the shim's own
//! decoding of the payloads inside (create options, the exec process spec, update
//! resources, checkpoint options), with hostile JSON and option bytes too. The
//! property: no panic, no huge allocation, and every refusal a ttrpc status with
//! a code and a message. `make test` runs a bounded number of cases,
//! `HUSK_FUZZ_CASES=N` (as `make stress` sets) more.

use containerd_shim::api::{
    CheckpointTaskRequest, CloseIORequest, ConnectRequest, CreateTaskRequest, DeleteRequest,
    ExecProcessRequest, KillRequest, Options, PauseRequest, PidsRequest, ResizePtyRequest,
    ShutdownRequest, StartRequest, StateRequest, StatsRequest, UpdateTaskRequest, WaitRequest,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::oci::CheckpointOptions;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::protos::types::mount::Mount;

use super::{checkpoint, control, lifecycle};
use crate::options;

/// xorshift64*: the same sequence on every machine, so a case replays from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Cases per property: `HUSK_FUZZ_CASES`, else 1500.
fn cases() -> u64 {
    std::env::var("HUSK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Runs `f` for every seed, naming the seed when it panics.
fn run(name: &str, f: impl Fn(&mut Rng) + std::panic::RefUnwindSafe) {
    for seed in 0..cases() {
        let r = std::panic::catch_unwind(|| f(&mut Rng::new(seed)));
        assert!(r.is_ok(), "{name}: seed {seed} panicked");
    }
}

/// Byte-level damage: 1 to 3 of truncation, bit flips, inserted bytes, a varint
/// that never ends, a length-delimited field claiming 4 GiB, random bytes.
fn damage(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(b.len() + 1);
        match rng.below(7) {
            0 => b.truncate(at),
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            2 => {
                let n = rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            3 => {
                b.splice(at..at, [0x80u8; 12]);
            }
            4 => {
                // Field 1..15, wire type 2, length 0xffff_ffff.
                let tag = ((1 + rng.below(15)) << 3 | 2) as u8;
                b.splice(at..at, [tag, 0xff, 0xff, 0xff, 0xff, 0x0f]);
            }
            5 => {
                let n = rng.below(64);
                b = (0..n).map(|_| rng.next() as u8).collect();
            }
            _ if b.len() > 1 => {
                let from = rng.below(b.len());
                let to = (from + rng.below(16)).min(b.len());
                let dup = b[from..to].to_vec();
                b.splice(at..at, dup);
            }
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

/// JSON that is not what the shim expects: damaged bytes of a valid document,
/// values of the wrong type, overflowing numbers, deep nesting, long strings.
fn hostile_json(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    match rng.below(6) {
        0 => damage(rng, valid.to_vec()),
        1 => b"[".repeat(100_000),
        2 => {
            let v = [
                r#"{"args": 1}"#,
                r#"{"args": ["sh"], "cwd": 7}"#,
                r#"{"user": {"uid": -1, "gid": 18446744073709551616}}"#,
                r#"{"args": ["sh"], "cwd": "/", "env": [null]}"#,
                r#"{"memory": {"limit": "x"}}"#,
                r#"{"cpu": {"shares": -5, "quota": 1e400}}"#,
                r#"{"pids": {"limit": 9223372036854775808}}"#,
                r#"{"devices": [{"allow": "yes"}]}"#,
                "null",
                "\"\\ud800\"",
                "{\"args\": [\"\u{0}\"], \"cwd\": \"/\u{0}\"}",
            ];
            v[rng.below(v.len())].as_bytes().to_vec()
        }
        3 => {
            let mut s = b"{\"args\": [\"".to_vec();
            s.extend(std::iter::repeat_n(b'a', 1 << 16));
            s.extend_from_slice(b"\"], \"cwd\": \"/\"}");
            s
        }
        4 => vec![0xff, 0xfe, b'{', 0xc0, 0x80],
        _ => valid.to_vec(),
    }
}

fn any(url: &str, value: Vec<u8>) -> MessageField<Any> {
    MessageField::some(Any {
        type_url: url.into(),
        value,
        ..Default::default()
    })
}

/// A refusal must be a status with a code other than OK and a message.
#[track_caller]
fn typed<T>(r: ttrpc::Result<T>) {
    if let Err(e) = r {
        match e {
            ttrpc::Error::RpcStatus(s) => {
                assert_ne!(s.code(), Code::OK, "{s:?}");
                assert!(!s.message.is_empty(), "{s:?}");
            }
            other => panic!("not a status: {other:?}"),
        }
    }
}

/// Decodes damaged bytes of `valid` as `M`, as the ttrpc server does; then
/// re-encodes what decoded (the shim logs and forwards parts of requests).
fn decode<M: Message>(rng: &mut Rng, valid: &M) -> Option<M> {
    let bytes = valid.write_to_bytes().expect("encode a valid request");
    let m = M::parse_from_bytes(&damage(rng, bytes)).ok()?;
    let _ = m.write_to_bytes();
    Some(m)
}

fn runc_options() -> Vec<u8> {
    let o = Options {
        no_pivot_root: true,
        root: "/run/x".into(),
        systemd_cgroup: true,
        binary_name: "runc".into(),
        io_uid: 1,
        ..Default::default()
    };
    o.write_to_bytes().expect("encode options")
}

const PROCESS: &[u8] = br#"{"args":["sh","-c","true"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0},"terminal":false}"#;
const RESOURCES: &[u8] =
    br#"{"memory":{"limit":1048576},"cpu":{"shares":512},"pids":{"limit":10}}"#;

#[test]
fn every_task_request_decodes_or_is_refused() {
    run("task requests", |rng| {
        let id = || "c1".to_string();
        match rng.below(14) {
            0 => {
                let v = CreateTaskRequest {
                    id: id(),
                    bundle: "/run/b".into(),
                    rootfs: vec![Mount {
                        type_: "overlay".into(),
                        source: "overlay".into(),
                        options: vec!["lowerdir=/a".into(), "upperdir=/b".into()],
                        ..Default::default()
                    }],
                    stdin: "/s/in".into(),
                    stdout: "/s/out".into(),
                    terminal: true,
                    options: any(
                        "type.googleapis.com/containerd.runc.v1.Options",
                        runc_options(),
                    ),
                    ..Default::default()
                };
                if let Some(m) = decode(rng, &v) {
                    let _ = options::parse(m.options.as_ref(), "ns");
                }
            }
            1 => {
                let v = ExecProcessRequest {
                    id: id(),
                    exec_id: "e1".into(),
                    stdout: "/s/o".into(),
                    spec: any(
                        "types.containerd.io/opencontainers/runtime-spec/1/Process",
                        PROCESS.to_vec(),
                    ),
                    ..Default::default()
                };
                if let Some(m) = decode(rng, &v) {
                    typed(lifecycle::exec_spec(&m));
                }
            }
            2 => {
                let v = UpdateTaskRequest {
                    id: id(),
                    resources: any(
                        "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                        RESOURCES.to_vec(),
                    ),
                    ..Default::default()
                };
                if let Some(m) = decode(rng, &v) {
                    typed(control::update_resources(&m));
                }
            }
            3 => {
                let o = CheckpointOptions {
                    exit: true,
                    image_path: "/img".into(),
                    ..Default::default()
                };
                let v = CheckpointTaskRequest {
                    id: id(),
                    path: "/cp".into(),
                    options: any(
                        "containerd.runc.v1.CheckpointOptions",
                        o.write_to_bytes().expect("encode"),
                    ),
                    ..Default::default()
                };
                if let Some(m) = decode(rng, &v) {
                    typed(checkpoint::options(&m));
                }
            }
            4 => {
                let v = KillRequest {
                    id: id(),
                    exec_id: "e".into(),
                    signal: 9,
                    all: true,
                    ..Default::default()
                };
                let _ = decode(rng, &v);
            }
            5 => {
                let v = ResizePtyRequest {
                    id: id(),
                    width: 80,
                    height: 24,
                    ..Default::default()
                };
                let _ = decode(rng, &v);
            }
            6 => {
                let _ = decode(
                    rng,
                    &DeleteRequest {
                        id: id(),
                        exec_id: "e".into(),
                        ..Default::default()
                    },
                );
            }
            7 => {
                let _ = decode(
                    rng,
                    &StartRequest {
                        id: id(),
                        exec_id: "e".into(),
                        ..Default::default()
                    },
                );
            }
            8 => {
                let _ = decode(
                    rng,
                    &StateRequest {
                        id: id(),
                        exec_id: "e".into(),
                        ..Default::default()
                    },
                );
            }
            9 => {
                let _ = decode(
                    rng,
                    &WaitRequest {
                        id: id(),
                        exec_id: "e".into(),
                        ..Default::default()
                    },
                );
            }
            10 => {
                let _ = decode(
                    rng,
                    &CloseIORequest {
                        id: id(),
                        exec_id: "e".into(),
                        stdin: true,
                        ..Default::default()
                    },
                );
            }
            11 => {
                let _ = decode(
                    rng,
                    &PidsRequest {
                        id: id(),
                        ..Default::default()
                    },
                );
                let _ = decode(
                    rng,
                    &PauseRequest {
                        id: id(),
                        ..Default::default()
                    },
                );
            }
            12 => {
                let _ = decode(
                    rng,
                    &StatsRequest {
                        id: id(),
                        ..Default::default()
                    },
                );
                let _ = decode(
                    rng,
                    &ConnectRequest {
                        id: id(),
                        ..Default::default()
                    },
                );
            }
            _ => {
                let _ = decode(
                    rng,
                    &ShutdownRequest {
                        id: id(),
                        now: true,
                        ..Default::default()
                    },
                );
            }
        }
    });
}

#[test]
fn payloads_inside_requests_are_refused_with_a_status() {
    run("payloads", |rng| {
        let (url, valid) = match rng.below(3) {
            0 => (
                "types.containerd.io/opencontainers/runtime-spec/1/Process",
                PROCESS,
            ),
            1 => (
                "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                RESOURCES,
            ),
            _ => ("x/containerd.runc.v1.CheckpointOptions", &b"\x08\x01"[..]),
        };
        let value = hostile_json(rng, valid);
        typed(lifecycle::exec_spec(&ExecProcessRequest {
            spec: any(url, value.clone()),
            ..Default::default()
        }));
        typed(control::update_resources(&UpdateTaskRequest {
            resources: any(url, value.clone()),
            ..Default::default()
        }));
        typed(checkpoint::options(&CheckpointTaskRequest {
            options: any(url, value),
            ..Default::default()
        }));
    });
}

#[test]
fn create_options_are_decoded_or_refused_with_a_reason() {
    let urls = [
        "type.googleapis.com/containerd.runc.v1.Options",
        "containerd.runc.v1.Options",
        "runtimeoptions.v1.Options",
        "",
        "x/other.Options",
    ];
    run("create options", |rng| {
        let url = urls[rng.below(urls.len())];
        let value = damage(rng, runc_options());
        let a = Any {
            type_url: url.into(),
            value,
            ..Default::default()
        };
        if let Err(options::Unsupported(why)) = options::parse(Some(&a), "ns") {
            assert!(!why.is_empty());
        }
    });
}
