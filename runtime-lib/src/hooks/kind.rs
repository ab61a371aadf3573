//! The lifecycle points at which hooks run.

use std::fmt;

use oci_spec::runtime::{Hook, Hooks};

/// A list of `hooks` in `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// `prestart` (deprecated by the spec; runs with `createRuntime`).
    Prestart,
    /// `createRuntime`: runtime namespace, after the container is created.
    CreateRuntime,
    /// `createContainer`: container namespaces, before `pivot_root`.
    CreateContainer,
    /// `startContainer`: container namespaces, right before the user process.
    StartContainer,
    /// `poststart`: runtime namespace, after the user process started.
    Poststart,
    /// `poststop`: runtime namespace, after the container is deleted.
    Poststop,
}

impl HookKind {
    /// All kinds, in lifecycle order.
    pub const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    /// The name of the list in `config.json`.
    pub fn spec_name(self) -> &'static str {
        match self {
            Self::Prestart => "prestart",
            Self::CreateRuntime => "createRuntime",
            Self::CreateContainer => "createContainer",
            Self::StartContainer => "startContainer",
            Self::Poststart => "poststart",
            Self::Poststop => "poststop",
        }
    }

    /// The kind named `name` in `config.json` (`createContainer`, ...).
    pub fn from_name(name: &str) -> Option<HookKind> {
        Self::ALL.into_iter().find(|k| k.spec_name() == name)
    }

    /// The hooks of this kind in `hooks` (empty when the list is absent).
    pub fn select(self, hooks: &Hooks) -> &[Hook] {
        // `prestart` is deprecated in oci-spec, but runtimes must still run it.
        #[allow(deprecated)]
        let list = match self {
            Self::Prestart => hooks.prestart(),
            Self::CreateRuntime => hooks.create_runtime(),
            Self::CreateContainer => hooks.create_container(),
            Self::StartContainer => hooks.start_container(),
            Self::Poststart => hooks.poststart(),
            Self::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_name())
    }
}
