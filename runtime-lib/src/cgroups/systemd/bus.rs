//! The D-Bus calls to systemd's manager (zbus, blocking API).
//!
//! **Only ever called inside a helper process** (`helper.rs`): zbus's blocking
//! connection starts a "zbus::Connection executor" thread and the async-io
//! crate a global "async-io" reactor thread that never exits. In the runtime
//! itself those threads would make the next `clone` of an init unsafe (a
//! library user creating another container) and would take signals that
//! `husk run` blocks only after `create` (SIGINT/SIGTERM would kill husk
//! instead of being forwarded). In a forked child that exits right after, they
//! cannot.
//!
//! Errors are plain strings: they cross the helper's pipe.

use std::time::Duration;

use zbus::blocking::connection::Builder;
use zbus::blocking::{Connection, Proxy};
use zbus::proxy::CacheProperties;
use zbus::zvariant::{OwnedObjectPath, Value as ZValue};

use super::props::{Property, Value};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// The system bus when `DBUS_SYSTEM_BUS_ADDRESS` is unset.
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";
/// How long one method call may take.
const METHOD_TIMEOUT: Duration = Duration::from_secs(25);

/// A connection to systemd.
pub struct Bus {
    conn: Connection,
}

/// How a job systemd ran for us ended.
#[derive(Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// The `JobRemoved` result (`done`, `failed`, `timeout`, `canceled`, ...).
    Result(String),
    /// There was nothing to do: the unit is not loaded.
    NoSuchUnit,
}

/// A D-Bus error's name (`org.freedesktop.systemd1.UnitExists`), if `e` is one.
fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

fn to_zvalue(v: &Value) -> ZValue<'_> {
    match v {
        Value::Bool(b) => ZValue::from(*b),
        Value::Str(s) => ZValue::from(s.as_str()),
        Value::U64(n) => ZValue::from(*n),
        Value::U32s(v) => ZValue::from(v.clone()),
        Value::Bytes(b) => ZValue::from(b.clone()),
    }
}

fn to_dbus(props: &[Property]) -> Vec<(&str, ZValue<'_>)> {
    props
        .iter()
        .map(|p| (p.name.as_str(), to_zvalue(&p.value)))
        .collect()
}

/// The session bus socket: `DBUS_SESSION_BUS_ADDRESS`'s `unix:path=`, else
/// `$XDG_RUNTIME_DIR/bus` (where systemd's user manager puts it).
pub fn session_bus_socket() -> Option<String> {
    if let Some(p) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .and_then(|a| super::preflight::unix_path(&a))
    {
        return Some(p);
    }
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .ok()
        .filter(|d| !d.is_empty())?;
    Some(format!("{dir}/bus"))
}

impl Bus {
    /// The system bus, or the user's session bus (`user`, rootless: the user's
    /// own systemd manager).
    ///
    /// go-systemd (runc) falls back to systemd's private socket
    /// `/run/systemd/private` when no bus daemon runs; zbus 5 cannot talk to
    /// it (its connection thread panics on the header fields of systemd's
    /// direct-connection messages), so husk needs the bus daemon.
    pub fn connect(user: bool) -> Result<Bus, String> {
        let conn = if user {
            let socket = session_bus_socket().ok_or(
                "no session bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set",
            )?;
            // EXTERNAL auth with the uid the bus sees: as root of a user namespace
            // (rootless podman) our euid is 0, but the bus knows the host uid.
            Builder::address(format!("unix:path={socket}").as_str()).and_then(|b| {
                b.user_id(crate::rootless::host_euid())
                    .method_timeout(METHOD_TIMEOUT)
                    .build()
            })
        } else {
            Builder::system().and_then(|b| b.method_timeout(METHOD_TIMEOUT).build())
        }
        .map_err(|e| format!("{} bus: {e}", if user { "session" } else { "system" }))?;
        Ok(Bus { conn })
    }

    fn manager(&self) -> Result<Proxy<'static>, String> {
        zbus::blocking::proxy::Builder::new(&self.conn)
            .destination(DEST)
            .and_then(|b| b.path(PATH))
            .and_then(|b| b.interface(MANAGER))
            .map(|b| b.cache_properties(CacheProperties::No))
            .and_then(|b| b.build())
            .map_err(|e| format!("systemd manager proxy: {e}"))
    }

    /// systemd's version number (`252` from `"252.38-1~deb12u1"`), 0 when unknown.
    pub fn version(&self) -> u32 {
        self.manager()
            .ok()
            .and_then(|m| m.get_property::<String>("Version").ok())
            .map(|v| parse_version(&v))
            .unwrap_or(0)
    }

    /// `StartTransientUnit(unit, "replace", props)` and wait for its job.
    /// `started` runs once the unit exists (so a failure after it knows to
    /// stop it). A unit of that name that exists already is reset (a failed
    /// leftover goes away) and tried once more, as runc does.
    pub fn start_transient_unit(
        &self,
        unit: &str,
        props: &[Property],
        started: &mut dyn FnMut(),
    ) -> Result<(), String> {
        let manager = self.manager()?;
        // Listen before asking, so the job's end cannot be missed.
        let mut removed = manager
            .receive_signal("JobRemoved")
            .map_err(|e| format!("subscribe to JobRemoved: {e}"))?;
        // Older systemd sends job signals only to subscribers.
        let _: Result<(), _> = manager.call("Subscribe", &());
        let body = (
            unit,
            "replace",
            to_dbus(props),
            Vec::<(&str, Vec<(&str, ZValue<'_>)>)>::new(),
        );
        let mut retried = false;
        let job: OwnedObjectPath = loop {
            match manager.call("StartTransientUnit", &body) {
                Ok(job) => break job,
                Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.UnitExists") => {
                    if retried {
                        return Err(format!(
                            "unit {unit} already exists (another container with this id, \
                             maybe under another --root?)"
                        ));
                    }
                    retried = true;
                    self.reset_failed(unit);
                }
                Err(e) => return Err(format!("StartTransientUnit: {e}")),
            }
        };
        started();
        let result = wait_job(&mut removed, &job)?;
        if result != "done" {
            self.reset_failed(unit);
            return Err(format!(
                "systemd could not start the unit: job {} ended with \"{result}\" \
                 (see journalctl -u {unit})",
                job.as_str()
            ));
        }
        Ok(())
    }

    /// `StopUnit(unit, "replace")` and wait for its job; a unit that is not
    /// loaded (an empty scope is collected as soon as its last process exits)
    /// is [`JobEnd::NoSuchUnit`].
    pub fn stop_unit(&self, unit: &str) -> Result<JobEnd, String> {
        let manager = self.manager()?;
        let mut removed = manager
            .receive_signal("JobRemoved")
            .map_err(|e| format!("subscribe to JobRemoved: {e}"))?;
        let _: Result<(), _> = manager.call("Subscribe", &());
        let job: OwnedObjectPath = match manager.call("StopUnit", &(unit, "replace")) {
            Ok(job) => job,
            Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(JobEnd::NoSuchUnit)
            }
            Err(e) => return Err(format!("StopUnit: {e}")),
        };
        wait_job(&mut removed, &job).map(JobEnd::Result)
    }

    /// `ResetFailedUnit(unit)`: let systemd forget a failed unit. Errors (the
    /// unit is not loaded, or not failed) do not matter.
    pub fn reset_failed(&self, unit: &str) {
        if let Ok(m) = self.manager() {
            let r: Result<(), _> = m.call("ResetFailedUnit", &(unit,));
            if let Err(e) = r {
                tracing::debug!("ResetFailedUnit {unit}: {e}");
            }
        }
    }

    /// `SetUnitProperties(unit, runtime=true, props)`.
    pub fn set_unit_properties(&self, unit: &str, props: &[Property]) -> Result<(), String> {
        if props.is_empty() {
            return Ok(());
        }
        let manager = self.manager()?;
        let r: Result<(), _> = manager.call("SetUnitProperties", &(unit, true, to_dbus(props)));
        r.map_err(|e| format!("SetUnitProperties: {e}"))
    }
}

/// The `JobRemoved` result for `job`.
fn wait_job(
    removed: &mut zbus::blocking::proxy::SignalIterator<'_>,
    job: &OwnedObjectPath,
) -> Result<String, String> {
    for msg in removed.by_ref() {
        let body: Result<(u32, OwnedObjectPath, String, String), _> = msg.body().deserialize();
        match body {
            Ok((_, path, _, result)) if &path == job => return Ok(result),
            Ok(_) => {}
            Err(e) => tracing::debug!("unexpected JobRemoved body: {e}"),
        }
    }
    Err(format!(
        "the bus connection closed before job {} ended",
        job.as_str()
    ))
}

/// The leading number of systemd's `Version` property (`"v245.4-1.fc32"` -> 245).
pub fn parse_version(v: &str) -> u32 {
    let digits: String = v
        .trim_start_matches(['"', 'v'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_runc() {
        for (s, want) in [
            ("252.38-1~deb12u1", 252),
            ("v245.4-1.fc32", 245),
            ("\"v245-1.fc32\"", 245),
            ("245", 245),
            ("", 0),
            ("abc", 0),
        ] {
            assert_eq!(parse_version(s), want, "{s}");
        }
    }

    #[test]
    fn properties_have_the_dbus_signatures_systemd_expects() {
        let props = vec![
            Property {
                name: "Delegate".into(),
                value: Value::Bool(true),
            },
            Property {
                name: "PIDs".into(),
                value: Value::U32s(vec![1]),
            },
            Property {
                name: "AllowedCPUs".into(),
                value: Value::Bytes(vec![3]),
            },
            Property {
                name: "MemoryMax".into(),
                value: Value::U64(1),
            },
            Property {
                name: "Slice".into(),
                value: Value::Str("system.slice".into()),
            },
        ];
        let sigs: Vec<String> = to_dbus(&props)
            .iter()
            .map(|(_, v)| v.value_signature().to_string())
            .collect();
        assert_eq!(sigs, ["b", "au", "ay", "t", "s"]);
    }
}
