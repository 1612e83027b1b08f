//! Talking to systemd: the [`Bus`] trait (what the driver needs from a manager) and
//! [`DbusBus`], its implementation over D-Bus with zbus.
//!
//! The calls are those of `org.freedesktop.systemd1.Manager` (org.freedesktop.systemd1(5)),
//! with the signatures systemd 252 shows in `busctl introspect`:
//!
//! | call | signature |
//! |---|---|
//! | StartTransientUnit(name, mode, properties, aux) -> job | `ssa(sv)a(sa(sv))` -> `o` |
//! | StopUnit(name, mode) -> job | `ss` -> `o` |
//! | SetUnitProperties(name, runtime, properties) | `sba(sv)` |
//! | GetUnit(name) -> unit | `s` -> `o` |
//! | FreezeUnit(name), ThawUnit(name) | `s` |
//! | signal JobRemoved(id, job, unit, result) | `uoss` |
//! | property Version, ControlGroup | `s` |
//!
//! Jobs: a start or stop call returns a job path at once; the work is done when
//! `JobRemoved` names that job, with a result (`done`, `failed`, `canceled`, `timeout`,
//! `dependency`, `skipped`). systemd sends JobRemoved to the client that queued the job
//! without a `Subscribe()` (it tracks job clients on the bus), as systemd-run relies on, so
//! rein only adds a match rule, before the call, so the signal cannot slip past.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use rein::{Error, Result};
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath, Variant};

use crate::properties::{Property, Value};

/// How long rein waits for a job of systemd's before giving up.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// Which systemd instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// The system manager (PID 1), on the system bus.
    System,
    /// The calling user's manager (`user@UID.service`), on the user's session bus.
    User,
}

impl Instance {
    /// "system" or "user", as in `systemctl --system` / `--user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Instance::System => "system",
            Instance::User => "user",
        }
    }
}

/// What the systemd driver needs from a manager. [`DbusBus`] is the real one; tests of the
/// driver's sequencing use a recording implementation.
pub trait Bus {
    /// Which manager this talks to.
    fn instance(&self) -> Instance;

    /// The manager's version string, e.g. `252.39-1~deb12u2`.
    fn version(&self) -> Result<String>;

    /// The manager's root cgroup: `/` (or empty) for the system manager,
    /// `/user.slice/user-1000.slice/user@1000.service` for a user's.
    fn control_group(&self) -> Result<String>;

    /// StartTransientUnit(`name`, "fail", `properties`, `aux`), then waits for the job.
    fn start_transient(&self, name: &str, properties: &[Property], aux: &[(String, Vec<Property>)]) -> Result<()>;

    /// StopUnit(`name`, "fail"), then waits for the job. A unit that is not loaded is
    /// stopped already: that is success.
    fn stop(&self, name: &str) -> Result<()>;

    /// Whether `name` is loaded (GetUnit succeeds).
    fn is_loaded(&self, name: &str) -> Result<bool>;

    /// SetUnitProperties(`name`, runtime = true, `properties`): a live change that lasts
    /// until the unit is gone or the manager restarts.
    fn set_properties(&self, name: &str, properties: &[Property]) -> Result<()>;

    /// FreezeUnit or ThawUnit.
    fn freeze(&self, name: &str, frozen: bool) -> Result<()>;
}

/// A connection to a systemd manager over D-Bus.
#[derive(Debug)]
pub struct DbusBus {
    conn: Connection,
    instance: Instance,
}

/// A D-Bus error as (error name, message).
fn parts(e: &zbus::Error) -> (Option<String>, String) {
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            (Some(name.as_str().to_string()), msg.clone().unwrap_or_else(|| "no description".into()))
        }
        zbus::Error::FDO(fdo) => {
            use zbus::DBusError;
            (Some(fdo.name().as_str().to_string()), fdo.description().unwrap_or("no description").to_string())
        }
        other => (None, other.to_string()),
    }
}

/// A hint for the D-Bus errors rein users meet.
fn hint_for(name: Option<&str>, message: &str, instance: Instance) -> Option<String> {
    match name? {
        "org.freedesktop.DBus.Error.AccessDenied" | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => {
            Some(match instance {
                Instance::System => "creating units in the system manager needs root (or polkit's permission); \
                                     as a user, run with --user to use your own systemd user manager"
                    .into(),
                Instance::User => "the user manager refused: is this bus your own user's?".into(),
            })
        }
        "org.freedesktop.systemd1.UnitExists" => {
            Some("pick another --unit name, or stop the one that runs ('systemctl stop NAME')".into())
        }
        "org.freedesktop.DBus.Error.InvalidArgs"
            if message.contains("Unknown assignment") || message.contains("unknown property") =>
        {
            Some(
                "this systemd is too old for that property; see docs/interface-files.md for the version each needs"
                    .into(),
            )
        }
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
            Some("systemd is not on this bus; use --driver cgroupfs".into())
        }
        _ => None,
    }
}

impl DbusBus {
    /// Connects to the system bus (`Instance::System`) or the calling user's session bus
    /// (`Instance::User`: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus).
    pub fn connect(instance: Instance) -> Result<DbusBus> {
        let conn = zbus::block_on(async {
            match instance {
                Instance::System => Connection::system().await,
                Instance::User => Connection::session().await,
            }
        })
        .map_err(|e| {
            let hint = match instance {
                Instance::System => "is systemd PID 1 and dbus running? Otherwise use --driver cgroupfs",
                Instance::User => {
                    "the user bus is $XDG_RUNTIME_DIR/bus (/run/user/UID/bus): log in through a session \
                     (not su/sudo), or set XDG_RUNTIME_DIR; 'loginctl enable-linger USER' starts the user manager \
                     without a login"
                }
            };
            Error::Manager {
                manager: "systemd".into(),
                op: format!("connect to the {} bus", if instance == Instance::System { "system" } else { "user" }),
                message: e.to_string(),
                hint: Some(hint.into()),
            }
        })?;
        Ok(DbusBus { conn, instance })
    }

    fn error(&self, op: String, e: &zbus::Error) -> Error {
        let (name, message) = parts(e);
        let hint = hint_for(name.as_deref(), &message, self.instance);
        let message = match name {
            Some(n) => format!("{message} ({n})"),
            None => message,
        };
        Error::Manager { manager: format!("systemd {} manager", self.instance.as_str()), op, message, hint }
    }

    async fn call<B>(&self, method: &str, body: &B) -> zbus::Result<Message>
    where
        B: serde::ser::Serialize + zbus::DynamicType,
    {
        self.conn.call_method(Some(DESTINATION), MANAGER_PATH, Some(MANAGER), method, body).await
    }

    async fn manager_property(&self, name: &str) -> zbus::Result<String> {
        let reply =
            self.conn.call_method(Some(DESTINATION), MANAGER_PATH, Some(PROPERTIES), "Get", &(MANAGER, name)).await?;
        let v: zbus::OwnedVariant = reply.body().deserialize()?;
        String::try_from(v).map_err(|_| zbus::Error::InvalidReply)
    }

    /// A stream of JobRemoved signals, registered before the call that queues the job.
    async fn job_signals(&self) -> zbus::Result<MessageStream> {
        let rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .interface(MANAGER)
            .member("JobRemoved")
            .path(MANAGER_PATH)
            .build()?;
        MessageStream::for_match_rule(rule, &self.conn, None).await
    }

    /// Queues a job with `method` and waits until JobRemoved reports it. Returns the result.
    async fn run_job<B>(&self, method: &str, body: &B) -> zbus::Result<String>
    where
        B: serde::ser::Serialize + zbus::DynamicType,
    {
        let mut signals = self.job_signals().await?;
        let reply = self.call(method, body).await?;
        let job: OwnedObjectPath = reply.body().deserialize()?;
        // Only systemd itself may end the job: the signal must come from the peer that
        // answered the call.
        let manager = reply.header().sender().map(|s| s.to_owned());
        let wait = async {
            loop {
                let next = poll_fn(|cx| Pin::new(&mut signals).poll_next(cx)).await;
                let Some(msg) = next else { return Err(zbus::Error::InvalidReply) };
                let msg = msg?;
                if manager.is_some() && msg.header().sender().map(|s| s.to_owned()) != manager {
                    continue;
                }
                let Ok((_id, path, _unit, result)) = msg.body().deserialize::<(u32, OwnedObjectPath, String, String)>()
                else {
                    continue;
                };
                if path == job {
                    return Ok(result);
                }
            }
        };
        let runtime = zruntime::SharedRuntime::current().map_err(|e| zbus::Error::InputOutput(e.into()))?;
        match runtime.timeout(JOB_TIMEOUT, wait).await {
            Ok(r) => r,
            Err(_) => Ok("timeout (rein waited for JobRemoved)".into()),
        }
    }
}

/// Properties as D-Bus `a(sv)` entries.
fn variants(props: &[Property]) -> Vec<(&str, Variant<'_>)> {
    props
        .iter()
        .map(|p| {
            let v = match &p.value {
                Value::Bool(b) => Variant::from(*b),
                Value::U64(n) => Variant::from(*n),
                Value::Str(s) => Variant::from(s.as_str()),
                Value::Bytes(b) => Variant::from(b.clone()),
                Value::Pids(p) => Variant::from(p.clone()),
                Value::DeviceValues(v) => Variant::from(v.iter().map(|(d, n)| (d.as_str(), *n)).collect::<Vec<_>>()),
            };
            (p.name, v)
        })
        .collect()
}

fn job_result(op: String, unit: &str, result: String, instance: Instance) -> Result<()> {
    if result == "done" {
        return Ok(());
    }
    let journal = match instance {
        Instance::System => format!("journalctl -u {unit}"),
        Instance::User => format!("journalctl --user -u {unit}"),
    };
    Err(Error::Manager {
        manager: format!("systemd {} manager", instance.as_str()),
        op,
        message: format!("the job ended with result '{result}'"),
        hint: Some(format!("see '{journal}' for systemd's reason")),
    })
}

impl Bus for DbusBus {
    fn instance(&self) -> Instance {
        self.instance
    }

    fn version(&self) -> Result<String> {
        zbus::block_on(self.manager_property("Version")).map_err(|e| self.error("read its version".into(), &e))
    }

    fn control_group(&self) -> Result<String> {
        zbus::block_on(self.manager_property("ControlGroup"))
            .map_err(|e| self.error("read its control group".into(), &e))
    }

    fn start_transient(&self, name: &str, properties: &[Property], aux: &[(String, Vec<Property>)]) -> Result<()> {
        let op = format!("start {name}");
        let aux: Vec<(&str, Vec<(&str, Variant<'_>)>)> = aux.iter().map(|(n, p)| (n.as_str(), variants(p))).collect();
        let body = (name, "fail", variants(properties), aux);
        let result =
            zbus::block_on(self.run_job("StartTransientUnit", &body)).map_err(|e| self.error(op.clone(), &e))?;
        job_result(op, name, result, self.instance)
    }

    fn stop(&self, name: &str) -> Result<()> {
        let op = format!("stop {name}");
        match zbus::block_on(self.run_job("StopUnit", &(name, "fail"))) {
            Ok(result) => job_result(op, name, result, self.instance),
            Err(e) if parts(&e).0.as_deref() == Some("org.freedesktop.systemd1.NoSuchUnit") => Ok(()),
            Err(e) => Err(self.error(op, &e)),
        }
    }

    fn is_loaded(&self, name: &str) -> Result<bool> {
        match zbus::block_on(self.call("GetUnit", &(name,))) {
            Ok(_) => Ok(true),
            Err(e) if parts(&e).0.as_deref() == Some("org.freedesktop.systemd1.NoSuchUnit") => Ok(false),
            Err(e) => Err(self.error(format!("look up {name}"), &e)),
        }
    }

    fn set_properties(&self, name: &str, properties: &[Property]) -> Result<()> {
        zbus::block_on(self.call("SetUnitProperties", &(name, true, variants(properties))))
            .map(|_| ())
            .map_err(|e| self.error(format!("set properties of {name}"), &e))
    }

    fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
        let method = if frozen { "FreezeUnit" } else { "ThawUnit" };
        zbus::block_on(self.call(method, &(name,)))
            .map(|_| ())
            .map_err(|e| self.error(format!("{} {name}", if frozen { "freeze" } else { "thaw" }), &e))
    }
}
