//! Runtime options: what containerd passes in `CreateTaskRequest.options`.
//!
//! * `containerd.runc.v1.Options` (the runc shim's, what `ctr` and the CRI plugin
//!   send for runc-style runtimes): `Root`, `NoPivotRoot`, `NoNewKeyring`,
//!   `SystemdCgroup`, `IoUid`/`IoGid` (owner of the stdio pipes the shim makes)
//!   are honoured; `BinaryName` names a runc binary and is ignored
//!   (husk runs in-process); the CRIU paths only matter to checkpoint, which is
//!   refused anyway; `ShimCgroup` is refused.
//! * `runtimeoptions.v1.Options` (what the CRI plugin sends for other runtime
//!   types): its `ConfigPath`, when set, names a TOML file holding the same
//!   option names as the runc shim's (`SystemdCgroup = true`, `Root = "..."`;
//!   see `ConfigFile`), read at create. Unknown keys are refused.
//!
//! Anything else is refused with NotImplemented. The options are saved in the
//! bundle (`options.json`, the runc shim's format) so the `delete` cleanup finds
//! the state root.

use std::path::{Path, PathBuf};

use containerd_shim::api::Options;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{CodedInputStream, Message};

/// Default state root; the namespace is appended (as the runc shim's
/// `/run/containerd/runc/<ns>`).
pub const DEFAULT_ROOT: &str = "/run/containerd/husk";

const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";
const CRI_OPTIONS: &str = "runtimeoptions.v1.Options";

/// The options husk acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeOptions {
    /// State root (with the namespace).
    pub root: PathBuf,
    /// MS_MOVE + chroot instead of pivot_root.
    pub no_pivot_root: bool,
    /// Keep the session keyring.
    pub no_new_keyring: bool,
    /// systemd cgroup driver.
    pub systemd_cgroup: bool,
    /// The runc-shaped options as received (saved in the bundle).
    pub raw: Options,
}

/// Why options were refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

fn strip_prefix(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The state root for `root` (empty: the default) in `namespace`.
pub fn root_for(root: &str, namespace: &str) -> PathBuf {
    let base = if root.is_empty() { DEFAULT_ROOT } else { root };
    Path::new(base).join(namespace)
}

/// Decodes and checks the options of a create request.
pub fn parse(any: Option<&Any>, namespace: &str) -> Result<RuntimeOptions, Unsupported> {
    let raw = match any {
        None => Options::default(),
        Some(a) if a.type_url.is_empty() && a.value.is_empty() => Options::default(),
        Some(a) => match strip_prefix(&a.type_url) {
            RUNC_OPTIONS => Options::parse_from_bytes(&a.value)
                .map_err(|e| Unsupported(format!("bad {RUNC_OPTIONS}: {e}")))?,
            CRI_OPTIONS => {
                let config_path = cri_config_path(&a.value)
                    .map_err(|e| Unsupported(format!("bad {CRI_OPTIONS}: {e}")))?;
                if config_path.is_empty() {
                    Options::default()
                } else {
                    from_config_file(Path::new(&config_path))?
                }
            }
            other => {
                return Err(Unsupported(format!(
                    "runtime options of type {other:?} are not supported by husk \
                     (use {RUNC_OPTIONS})"
                )))
            }
        },
    };
    if !raw.shim_cgroup.is_empty() {
        return Err(Unsupported(format!(
            "runtime option ShimCgroup ({}) is not supported by husk",
            raw.shim_cgroup
        )));
    }
    if !raw.binary_name.is_empty() {
        log::info!(
            "runtime option BinaryName={} ignored: husk runs in-process",
            raw.binary_name
        );
    }
    Ok(RuntimeOptions {
        root: root_for(&raw.root, namespace),
        no_pivot_root: raw.no_pivot_root,
        no_new_keyring: raw.no_new_keyring,
        systemd_cgroup: raw.systemd_cgroup,
        raw,
    })
}

/// The cgroup driver for a container: systemd when the options ask for it, and also
/// when its `linux.cgroupsPath` is written `slice:prefix:name`. containerd's CRI writes
/// that form whenever the pod's parent cgroup is a systemd slice (kubelet's systemd
/// driver), but sends `SystemdCgroup` only to runc-type handlers: without this, the
/// husk shim would take `kubepods-…slice:cri-containerd:<id>` as a directory name.
pub fn use_systemd_driver(systemd_cgroup: bool, cgroups_path: Option<&str>) -> bool {
    systemd_cgroup || cgroups_path.is_some_and(husk::cgroups::is_systemd_cgroups_path)
}

/// The TOML file a CRI handler's `ConfigPath` names: the runc shim's option
/// names, so a handler's `options` table can move into the file unchanged.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct ConfigFile {
    #[serde(default)]
    root: String,
    #[serde(default)]
    binary_name: String,
    #[serde(default)]
    no_pivot_root: bool,
    #[serde(default)]
    no_new_keyring: bool,
    #[serde(default)]
    systemd_cgroup: bool,
    #[serde(default)]
    io_uid: u32,
    #[serde(default)]
    io_gid: u32,
    #[serde(default)]
    shim_cgroup: String,
}

/// Parses the text of a `ConfigPath` file into the runc-shaped options.
fn parse_config(text: &str) -> Result<Options, String> {
    let f: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(Options {
        root: f.root,
        binary_name: f.binary_name,
        no_pivot_root: f.no_pivot_root,
        no_new_keyring: f.no_new_keyring,
        systemd_cgroup: f.systemd_cgroup,
        io_uid: f.io_uid,
        io_gid: f.io_gid,
        shim_cgroup: f.shim_cgroup,
        ..Default::default()
    })
}

/// Reads the options file CRI names in `runtimeoptions.v1.Options.config_path`.
fn from_config_file(path: &Path) -> Result<Options, Unsupported> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Unsupported(format!(
            "runtime option ConfigPath ({}): {e}",
            path.display()
        ))
    })?;
    parse_config(&text).map_err(|e| {
        Unsupported(format!(
            "runtime option ConfigPath ({}): {e}",
            path.display()
        ))
    })
}

/// Field 2 (`config_path`) of a `runtimeoptions.v1.Options`.
fn cri_config_path(value: &[u8]) -> Result<String, String> {
    let mut is = CodedInputStream::from_bytes(value);
    let mut path = String::new();
    while let Some(tag) = is.read_raw_tag_or_eof().map_err(|e| e.to_string())? {
        let (field, wire) = (tag >> 3, tag & 7);
        match (field, wire) {
            (2, 2) => path = is.read_string().map_err(|e| e.to_string())?,
            (_, 2) => {
                is.read_bytes().map_err(|e| e.to_string())?;
            }
            (_, 0) => {
                is.read_uint64().map_err(|e| e.to_string())?;
            }
            (_, 1) => {
                is.read_fixed64().map_err(|e| e.to_string())?;
            }
            (_, 5) => {
                is.read_fixed32().map_err(|e| e.to_string())?;
            }
            _ => return Err(format!("unexpected wire type {wire}")),
        }
    }
    Ok(path)
}

/// Saves the options in the bundle for the `delete` cleanup.
pub fn save(bundle: &str, o: &RuntimeOptions) {
    if let Err(e) = containerd_shim::util::write_options(bundle, &o.raw) {
        log::warn!("save options.json in {bundle}: {e}");
    }
}

/// The state root for a bundle (from its saved options; the default otherwise).
pub fn root_of_bundle(bundle: &Path, namespace: &str) -> PathBuf {
    let root = containerd_shim::util::read_options(bundle)
        .map(|o| o.root)
        .unwrap_or_default();
    root_for(&root, namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(url: &str, value: Vec<u8>) -> Any {
        Any {
            type_url: url.into(),
            value,
            ..Default::default()
        }
    }

    #[test]
    fn runc_options_are_honoured() {
        let o = Options {
            root: "/run/x".into(),
            systemd_cgroup: true,
            binary_name: "runc".into(),
            ..Default::default()
        };
        let a = any(RUNC_OPTIONS, o.write_to_bytes().unwrap());
        let r = parse(Some(&a), "k8s.io").unwrap();
        assert_eq!(r.root, PathBuf::from("/run/x/k8s.io"));
        assert!(r.systemd_cgroup);
        assert_eq!(
            parse(None, "default").unwrap().root,
            PathBuf::from("/run/containerd/husk/default")
        );
        let typed = any(&format!("type.googleapis.com/{RUNC_OPTIONS}"), vec![]);
        assert!(parse(Some(&typed), "n").is_ok());
    }

    #[test]
    fn unsupported_options_are_refused() {
        let o = Options {
            shim_cgroup: "/x".into(),
            ..Default::default()
        };
        let a = any(RUNC_OPTIONS, o.write_to_bytes().unwrap());
        assert!(parse(Some(&a), "n").unwrap_err().0.contains("ShimCgroup"));
        assert!(parse(Some(&any("foo.Options", vec![])), "n").is_err());
        assert!(parse(Some(&any(CRI_OPTIONS, vec![0x0a, 1, b'x'])), "n").is_ok());
    }

    /// `runtimeoptions.v1.Options { type_url: "x", config_path: path }`.
    fn cri_options(path: &str) -> Any {
        let mut v = vec![0x0a, 1, b'x', 0x12, path.len() as u8];
        v.extend_from_slice(path.as_bytes());
        any(CRI_OPTIONS, v)
    }

    #[test]
    fn config_file_options_are_honoured() {
        let o = parse_config(
            "SystemdCgroup = true\nRoot = \"/run/h\"\nBinaryName = \"husk\"\nNoPivotRoot = true\n",
        )
        .unwrap();
        assert!(o.systemd_cgroup && o.no_pivot_root && !o.no_new_keyring);
        assert_eq!(
            (o.root.as_str(), o.binary_name.as_str()),
            ("/run/h", "husk")
        );
        assert_eq!(parse_config("").unwrap(), Options::default());
        assert!(
            !parse_config("SystemdCgroup = false")
                .unwrap()
                .systemd_cgroup
        );
        let e = parse_config("SystemdCgroups = true").unwrap_err();
        assert!(e.contains("SystemdCgroups"), "{e}");
        assert!(parse_config("SystemdCgroup = \"yes\"").is_err());

        let dir = std::env::temp_dir().join(format!("husk-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("husk.toml");
        std::fs::write(&file, "SystemdCgroup = true\nRoot = \"/run/h\"\n").unwrap();
        let r = parse(Some(&cri_options(file.to_str().unwrap())), "k8s.io");
        std::fs::write(&file, "ShimCgroup = \"/x\"\n").unwrap();
        let refused = parse(Some(&cri_options(file.to_str().unwrap())), "k8s.io");
        let _ = std::fs::remove_dir_all(&dir);
        let r = r.unwrap();
        assert!(r.systemd_cgroup);
        assert_eq!(r.root, PathBuf::from("/run/h/k8s.io"));
        assert_eq!(r.raw.root, "/run/h");
        assert!(refused.unwrap_err().0.contains("ShimCgroup"));
        let missing = parse(Some(&cri_options("/nonexistent/h.toml")), "n").unwrap_err();
        assert!(
            missing.0.contains("ConfigPath (/nonexistent/h.toml)"),
            "{}",
            missing.0
        );
    }

    #[test]
    fn systemd_driver_from_the_option_or_the_path() {
        let kubelet = "kubepods-besteffort-pod6d4b2c1e_77aa.slice:cri-containerd:0123abcd";
        assert!(use_systemd_driver(false, Some(kubelet)));
        assert!(use_systemd_driver(true, None));
        assert!(use_systemd_driver(
            true,
            Some("/kubepods/besteffort/pod1/x")
        ));
        assert!(!use_systemd_driver(false, None));
        assert!(!use_systemd_driver(
            false,
            Some("/kubepods/besteffort/pod1/x")
        ));
        assert!(!use_systemd_driver(false, Some("k8s.io/0123abcd")));
    }
}
