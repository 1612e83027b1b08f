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
//!
//! # Bounds
//!
//! Every wait on the bus is bounded, as systemd's own clients bound theirs: connecting and
//! each call by [`call_timeout`] (25 s, or `$SYSTEMD_BUS_TIMEOUT` read as sd-bus reads it),
//! the end of a job by [`JOB_TIMEOUT`]. A wedged bus daemon or manager makes a call fail
//! with "no answer within 25s" instead of hanging rein, and a caller's [`Interrupt`] (`rein
//! run`'s blocked SIGINT, SIGTERM, ...) ends any of those waits at once
//! ([`Error::Interrupted`]). [`StartError::left`] says what a failed start left: only units
//! systemd made for this call are the caller's to stop.

use std::future::{Future, pending, poll_fn};
use std::os::fd::BorrowedFd;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use rein::driver::Interrupt;
use rein::{Error, Result};
use zbus::connection::Builder;
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath, Variant};

use crate::properties::{Property, Value};

/// How long rein waits for a job of systemd's before giving up.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// How long rein waits for the bus to accept its connection, and for each answer: systemd's
/// own clients wait 25 s (sd-bus's default, sd_bus_set_method_call_timeout(3)).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// The environment variable that changes [`CALL_TIMEOUT`], as it does for sd-bus clients
/// (`systemctl`, `systemd-run`): a systemd time span, a bare number being seconds.
pub const TIMEOUT_ENV: &str = "SYSTEMD_BUS_TIMEOUT";

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
const UNIT_EXISTS: &str = "org.freedesktop.systemd1.UnitExists";

/// The limit of each call: `$SYSTEMD_BUS_TIMEOUT` where it holds a valid time span other
/// than 0, else [`CALL_TIMEOUT`], as sd-bus reads it.
pub fn call_timeout() -> Duration {
    call_timeout_from(std::env::var(TIMEOUT_ENV).ok().as_deref())
}

fn call_timeout_from(value: Option<&str>) -> Duration {
    match value.map(rein::compat::systemd::parse_timespan_usec) {
        Some(Ok(usec)) if usec > 0 => Duration::from_micros(usec),
        _ => CALL_TIMEOUT,
    }
}

/// How long waits on the bus may take, and what cuts them short.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Connecting, and each call until its answer.
    pub call: Duration,
    /// A job, from its queueing to its JobRemoved signal.
    pub job: Duration,
    /// Ends any wait at once when its descriptor becomes readable.
    pub interrupt: Option<Arc<dyn Interrupt>>,
}

impl Default for Bounds {
    /// [`call_timeout`], [`JOB_TIMEOUT`], no interrupt.
    fn default() -> Bounds {
        Bounds { call: call_timeout(), job: JOB_TIMEOUT, interrupt: None }
    }
}

impl Bounds {
    /// The default limits, cut short by `interrupt`.
    pub fn interruptible(interrupt: Arc<dyn Interrupt>) -> Bounds {
        Bounds { interrupt: Some(interrupt), ..Bounds::default() }
    }
}

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

/// What a failed [`Bus::start_transient`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Nothing: systemd refused the call (a taken name, a bad property, no permission), or
    /// it was never sent. Units of those names that exist are someone else's.
    Nothing,
    /// The units: systemd made them and queued their job, which then failed, or whose end
    /// rein stopped waiting for. They are the caller's to stop.
    Units,
    /// Unknown: the call went out and no answer came back. systemd may have made the units
    /// or may make them later, and units of those names may be someone else's.
    Unknown,
}

/// A failed [`Bus::start_transient`]: the error, and what it left.
#[derive(Debug)]
pub struct StartError {
    /// What went wrong.
    pub error: Error,
    /// What exists because of the call.
    pub left: Left,
    /// systemd refused because a unit of that name, or of an auxiliary unit's, is loaded
    /// (`org.freedesktop.systemd1.UnitExists`).
    pub taken: bool,
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Error {
        e.error
    }
}

/// What the driver needs from a manager. [`DbusBus`] is the real one; tests of the
/// driver's sequencing use a recording implementation.
pub trait Bus {
    /// Which manager this talks to.
    fn instance(&self) -> Instance;

    /// The manager's version string, e.g. `252.39-1~deb12u2`.
    fn version(&self) -> Result<String>;

    /// The manager's root cgroup: `/` (or empty) for the system manager,
    /// `/user.slice/user-1000.slice/user@1000.service` for a user's.
    fn control_group(&self) -> Result<String>;

    /// [`Bus::version`] and [`Bus::control_group`] together: [`DbusBus`] sends both
    /// questions before it waits for the first answer.
    fn facts(&self) -> Result<(String, String)> {
        Ok((self.version()?, self.control_group()?))
    }

    /// StartTransientUnit(`name`, "fail", `properties`, `aux`), then waits for the job.
    /// On failure, says what the call left ([`Left`]).
    fn start_transient(
        &self,
        name: &str,
        properties: &[Property],
        aux: &[(String, Vec<Property>)],
    ) -> std::result::Result<(), StartError>;

    /// StopUnit(`name`, "replace"), then waits for the job. "replace", as `systemctl stop`
    /// does: a job still queued for the unit (its start, when rein gave up waiting for it)
    /// is replaced rather than failing the stop. A unit that is not loaded is stopped
    /// already: that is success.
    fn stop(&self, name: &str) -> Result<()>;

    /// Whether `name` is loaded (GetUnit succeeds).
    fn is_loaded(&self, name: &str) -> Result<bool>;

    /// SetUnitProperties(`name`, runtime = true, `properties`): a live change that lasts
    /// until the unit is gone or the manager restarts.
    fn set_properties(&self, name: &str, properties: &[Property]) -> Result<()>;

    /// FreezeUnit or ThawUnit.
    fn freeze(&self, name: &str, frozen: bool) -> Result<()>;
}

/// A connection to a systemd manager over D-Bus, its waits bounded by [`Bounds`].
#[derive(Debug)]
pub struct DbusBus {
    conn: Connection,
    instance: Instance,
    bounds: Bounds,
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

/// An error reply of the peer: it answered, with a refusal.
fn is_refusal(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(..) | zbus::Error::FDO(..))
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
            Some("a unit of that name is loaded: choose another name, or stop it ('systemctl stop NAME')".into())
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

/// `25s`, `1.5s`, `300ms`.
fn shown(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() > 0 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Why a bounded wait ended without its outcome.
#[derive(Debug)]
enum Cut {
    /// The limit passed.
    TimedOut(Duration),
    /// The caller's interrupt fired (the signal behind it, if one).
    Interrupted(Option<i32>),
    /// The runtime could not time the wait.
    Runtime(std::io::Error),
}

/// How a bounded step failed: the bus said so, or the wait was cut.
#[derive(Debug)]
enum Fail {
    Bus(zbus::Error),
    Cut(Cut),
}

/// Awaits `fut` for at most `limit`, or until `interrupt` fires. Called inside
/// `zbus::block_on`, whose runtime (zruntime) times and watches the wait.
async fn within<F: Future>(
    interrupt: Option<&dyn Interrupt>,
    limit: Duration,
    fut: F,
) -> std::result::Result<F::Output, Cut> {
    let runtime = zruntime::SharedRuntime::current().map_err(Cut::Runtime)?;
    let interrupted = async {
        let Some(i) = interrupt else { return pending().await };
        // A descriptor of our own: the runtime watches each through one registration.
        let Ok(registration) = i.fd().try_clone_to_owned().and_then(|fd| runtime.register(fd)) else {
            // Cannot watch it: the time limit still holds.
            return pending().await;
        };
        // Readiness is a hint (a failed wait of the runtime also ends it): look again.
        while !readable(i.fd()) {
            if registration.ready(zruntime::Interest::Readable).await.is_err() {
                return pending().await;
            }
        }
    };
    let mut fut = pin!(fut);
    let mut interrupted = pin!(interrupted);
    // The outcome first: one that is there when the interrupt fires still counts.
    let raced = poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        interrupted.as_mut().poll(cx).map(|()| None)
    });
    match runtime.timeout(limit, raced).await {
        Ok(Some(out)) => Ok(out),
        Ok(None) => Err(Cut::Interrupted(interrupt.and_then(|i| i.take()))),
        Err(_) => Err(Cut::TimedOut(limit)),
    }
}

/// A bounded step's outcome as one result.
fn step<T>(r: std::result::Result<zbus::Result<T>, Cut>) -> std::result::Result<T, Fail> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Fail::Bus(e)),
        Err(cut) => Err(Fail::Cut(cut)),
    }
}

/// Whether `fd` has something to read now.
fn readable(fd: BorrowedFd<'_>) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let now = Timespec { tv_sec: 0, tv_nsec: 0 };
    poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0) && fds[0].revents().contains(PollFlags::IN)
}

/// Where a job failed.
#[derive(Debug)]
enum JobFailure {
    /// Before its call went out (the match rule for its signal).
    NotSent(Fail),
    /// The manager answered the call with an error: no job, nothing made.
    Refused(zbus::Error),
    /// The call went out and no answer came back.
    NoReply(Fail),
    /// The job was queued; waiting for its end failed.
    Queued(Fail),
}

impl DbusBus {
    /// Connects to the system bus (`Instance::System`: `$DBUS_SYSTEM_BUS_ADDRESS`, else
    /// /run/dbus/system_bus_socket) or the calling user's session bus (`Instance::User`:
    /// `$DBUS_SESSION_BUS_ADDRESS`, else $XDG_RUNTIME_DIR/bus), with the default [`Bounds`].
    pub fn connect(instance: Instance) -> Result<DbusBus> {
        DbusBus::connect_with(instance, Bounds::default())
    }

    /// [`DbusBus::connect`] with `bounds` for the connection and every call on it.
    pub fn connect_with(instance: Instance, bounds: Bounds) -> Result<DbusBus> {
        let builder = match instance {
            Instance::System => Builder::system(),
            Instance::User => Builder::session(),
        };
        DbusBus::connect_by(builder, instance, bounds)
    }

    fn connect_by(builder: Builder<'static>, instance: Instance, bounds: Bounds) -> Result<DbusBus> {
        let bus = match instance {
            Instance::System => "system",
            Instance::User => "user",
        };
        let op = format!("connect to the {bus} bus");
        let built = zbus::block_on(async { within(bounds.interrupt.as_deref(), bounds.call, builder.build()).await });
        let error = |message: String, hint: &str| Error::Manager {
            manager: "systemd".into(),
            op: op.clone(),
            message,
            hint: Some(hint.into()),
        };
        match built {
            Ok(Ok(conn)) => Ok(DbusBus { conn, instance, bounds }),
            Ok(Err(e)) => Err(error(
                e.to_string(),
                match instance {
                    Instance::System => "is systemd PID 1 and dbus running? Otherwise use --driver cgroupfs",
                    Instance::User => {
                        "the user bus is $XDG_RUNTIME_DIR/bus (/run/user/UID/bus): log in through a session \
                         (not su/sudo), or set XDG_RUNTIME_DIR; 'loginctl enable-linger USER' starts the user \
                         manager without a login"
                    }
                },
            )),
            Err(Cut::TimedOut(d)) => Err(error(
                format!("no answer within {}", shown(d)),
                &format!(
                    "the bus daemon (dbus-daemon or dbus-broker) accepts no connection: it may be overloaded or \
                     hung ('systemctl status dbus'); {TIMEOUT_ENV} sets how long rein waits ({} by default)",
                    shown(CALL_TIMEOUT)
                ),
            )),
            Err(Cut::Interrupted(signal)) => {
                Err(Error::Interrupted { signal, waiting_for: format!("the {bus} bus to accept the connection") })
            }
            Err(Cut::Runtime(e)) => Err(error(e.to_string(), "the D-Bus client could not time its wait")),
        }
    }

    fn manager(&self) -> String {
        format!("systemd {} manager", self.instance.as_str())
    }

    fn error(&self, op: String, e: &zbus::Error) -> Error {
        let (name, message) = parts(e);
        let hint = hint_for(name.as_deref(), &message, self.instance);
        let message = match name {
            Some(n) => format!("{message} ({n})"),
            None => message,
        };
        Error::Manager { manager: self.manager(), op, message, hint }
    }

    /// The error for a failed step of `op`; `queued` when the manager had accepted the job.
    fn fail_error(&self, op: String, fail: Fail, queued: bool) -> Error {
        match fail {
            Fail::Bus(e) => self.error(op, &e),
            Fail::Cut(Cut::TimedOut(d)) => Error::Manager {
                manager: self.manager(),
                message: if queued {
                    format!("systemd queued the job, and it did not end within {}", shown(d))
                } else {
                    format!("no answer within {}", shown(d))
                },
                hint: Some(format!(
                    "systemd may be overloaded or hung ('systemctl status', 'systemctl list-jobs', the journal tell); \
                     {TIMEOUT_ENV} sets how long rein waits for an answer ({} by default), a job gets {}",
                    shown(CALL_TIMEOUT),
                    shown(JOB_TIMEOUT)
                )),
                op,
            },
            Fail::Cut(Cut::Interrupted(signal)) => {
                Error::Interrupted { signal, waiting_for: format!("the {} to {op}", self.manager()) }
            }
            Fail::Cut(Cut::Runtime(e)) => Error::Manager {
                manager: self.manager(),
                op,
                message: format!("cannot time the wait: {e}"),
                hint: None,
            },
        }
    }

    /// Runs `fut` to its end within `limit` (or the interrupt).
    fn wait<T>(&self, limit: Duration, fut: impl Future<Output = zbus::Result<T>>) -> std::result::Result<T, Fail> {
        zbus::block_on(async { step(within(self.bounds.interrupt.as_deref(), limit, fut).await) })
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

    /// Queues a job with `method` and waits until JobRemoved reports it, each step bounded.
    /// Returns the job's result.
    async fn run_job<B>(&self, method: &str, body: &B) -> std::result::Result<String, JobFailure>
    where
        B: serde::ser::Serialize + zbus::DynamicType,
    {
        let b = &self.bounds;
        let interrupt = b.interrupt.as_deref();
        let mut signals = step(within(interrupt, b.call, self.job_signals()).await).map_err(JobFailure::NotSent)?;
        let reply = match step(within(interrupt, b.call, self.call(method, body)).await) {
            Ok(r) => r,
            Err(Fail::Bus(e)) if is_refusal(&e) => return Err(JobFailure::Refused(e)),
            Err(f) => return Err(JobFailure::NoReply(f)),
        };
        // From here on the job exists.
        let job: OwnedObjectPath = reply.body().deserialize().map_err(|e| JobFailure::Queued(Fail::Bus(e)))?;
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
        step(within(interrupt, b.job, wait).await).map_err(JobFailure::Queued)
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
                Value::DeviceAllow(v) => {
                    Variant::from(v.iter().map(|(d, a)| (d.as_str(), a.as_str())).collect::<Vec<_>>())
                }
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
        self.wait(self.bounds.call, self.manager_property("Version"))
            .map_err(|f| self.fail_error("read its version".into(), f, false))
    }

    fn control_group(&self) -> Result<String> {
        self.wait(self.bounds.call, self.manager_property("ControlGroup"))
            .map_err(|f| self.fail_error("read its control group".into(), f, false))
    }

    fn facts(&self) -> Result<(String, String)> {
        let mut version =
            pin!(within(self.bounds.interrupt.as_deref(), self.bounds.call, self.manager_property("Version")));
        let mut root =
            pin!(within(self.bounds.interrupt.as_deref(), self.bounds.call, self.manager_property("ControlGroup")));
        // Both calls go out on the first poll; then each answer is awaited.
        let (v, r) = zbus::block_on(async {
            let (mut v, mut r) = (None, None);
            poll_fn(|cx| {
                if v.is_none()
                    && let Poll::Ready(out) = version.as_mut().poll(cx)
                {
                    v = Some(out);
                }
                if r.is_none()
                    && let Poll::Ready(out) = root.as_mut().poll(cx)
                {
                    r = Some(out);
                }
                if v.is_some() && r.is_some() { Poll::Ready(()) } else { Poll::Pending }
            })
            .await;
            (v.expect("polled to the end"), r.expect("polled to the end"))
        });
        let version = step(v).map_err(|f| self.fail_error("read its version".into(), f, false))?;
        let root = step(r).map_err(|f| self.fail_error("read its control group".into(), f, false))?;
        Ok((version, root))
    }

    fn start_transient(
        &self,
        name: &str,
        properties: &[Property],
        aux: &[(String, Vec<Property>)],
    ) -> std::result::Result<(), StartError> {
        let op = format!("start {name}");
        let aux: Vec<(&str, Vec<(&str, Variant<'_>)>)> = aux.iter().map(|(n, p)| (n.as_str(), variants(p))).collect();
        let body = (name, "fail", variants(properties), aux);
        let failed = |error, left| StartError { error, left, taken: false };
        match zbus::block_on(self.run_job("StartTransientUnit", &body)) {
            Ok(result) => job_result(op, name, result, self.instance).map_err(|e| failed(e, Left::Units)),
            Err(JobFailure::NotSent(f)) => Err(failed(self.fail_error(op, f, false), Left::Nothing)),
            Err(JobFailure::Refused(e)) => {
                let taken = parts(&e).0.as_deref() == Some(UNIT_EXISTS);
                Err(StartError { error: self.error(op, &e), left: Left::Nothing, taken })
            }
            Err(JobFailure::NoReply(f)) => Err(failed(self.fail_error(op, f, false), Left::Unknown)),
            Err(JobFailure::Queued(f)) => Err(failed(self.fail_error(op, f, true), Left::Units)),
        }
    }

    fn stop(&self, name: &str) -> Result<()> {
        let op = format!("stop {name}");
        match zbus::block_on(self.run_job("StopUnit", &(name, "replace"))) {
            Ok(result) => job_result(op, name, result, self.instance),
            Err(JobFailure::Refused(e)) if parts(&e).0.as_deref() == Some(NO_SUCH_UNIT) => Ok(()),
            Err(JobFailure::Refused(e)) => Err(self.error(op, &e)),
            Err(JobFailure::NotSent(f) | JobFailure::NoReply(f)) => Err(self.fail_error(op, f, false)),
            Err(JobFailure::Queued(f)) => Err(self.fail_error(op, f, true)),
        }
    }

    fn is_loaded(&self, name: &str) -> Result<bool> {
        match self.wait(self.bounds.call, self.call("GetUnit", &(name,))) {
            Ok(_) => Ok(true),
            Err(Fail::Bus(e)) if parts(&e).0.as_deref() == Some(NO_SUCH_UNIT) => Ok(false),
            Err(f) => Err(self.fail_error(format!("look up {name}"), f, false)),
        }
    }

    fn set_properties(&self, name: &str, properties: &[Property]) -> Result<()> {
        self.wait(self.bounds.call, self.call("SetUnitProperties", &(name, true, variants(properties))))
            .map(|_| ())
            .map_err(|f| self.fail_error(format!("set properties of {name}"), f, false))
    }

    fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
        let method = if frozen { "FreezeUnit" } else { "ThawUnit" };
        self.wait(self.bounds.call, self.call(method, &(name,)))
            .map(|_| ())
            .map_err(|f| self.fail_error(format!("{} {name}", if frozen { "freeze" } else { "thaw" }), f, false))
    }
}

// The tests make a pipe and read and write it through libc to stand in for a signal.
#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
    use std::time::Instant;

    use super::*;
    use crate::fake_bus::{FakeBus, Peer};

    /// An interrupt the test fires by writing into a pipe (no signals in a test process).
    #[derive(Debug)]
    struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    impl Pipe {
        fn new() -> Arc<Pipe> {
            let mut fds = [0; 2];
            // SAFETY: a valid array of two descriptors.
            assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) }, 0);
            // SAFETY: fresh descriptors, owned here.
            unsafe { Arc::new(Pipe { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) }) }
        }

        /// Fires after `after`, from another thread.
        fn fire_after(self: &Arc<Pipe>, after: Duration) {
            let me = self.clone();
            std::thread::spawn(move || {
                std::thread::sleep(after);
                // SAFETY: one byte from a valid buffer.
                unsafe { libc::write(me.write.as_raw_fd(), b"!".as_ptr().cast(), 1) };
            });
        }
    }

    impl Interrupt for Pipe {
        fn fd(&self) -> BorrowedFd<'_> {
            self.read.as_fd()
        }

        fn take(&self) -> Option<i32> {
            let mut byte = [0u8; 1];
            // SAFETY: one byte into a valid buffer.
            unsafe { libc::read(self.read.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
            None
        }
    }

    fn bounds(call: Duration, job: Duration, interrupt: Option<Arc<Pipe>>) -> Bounds {
        Bounds { call, job, interrupt: interrupt.map(|p| p as Arc<dyn Interrupt>) }
    }

    fn connect(bus: &FakeBus, b: Bounds) -> Result<DbusBus> {
        DbusBus::connect_by(Builder::address(bus.address.as_str()), Instance::System, b)
    }

    const SHORT: Duration = Duration::from_millis(300);
    const LONG: Duration = Duration::from_secs(120);
    /// What a busy machine may add to a bound before the wait ends: half of LONG, so that a
    /// wait ended by the short bound (or an interrupt) is told from one that ran to LONG
    /// however loaded the machine is.
    const SLACK: Duration = Duration::from_secs(60);

    #[test]
    fn the_call_timeout_is_systemd_bus_timeout_as_sd_bus_reads_it() {
        for (value, want) in [
            (None, CALL_TIMEOUT),
            (Some("2s"), Duration::from_secs(2)),
            (Some("5"), Duration::from_secs(5)),
            (Some("500ms"), Duration::from_millis(500)),
            (Some("1min 30s"), Duration::from_secs(90)),
            // sd-bus: 0 and what does not parse mean the default.
            (Some("0"), CALL_TIMEOUT),
            (Some("soon"), CALL_TIMEOUT),
            (Some(""), CALL_TIMEOUT),
        ] {
            assert_eq!(call_timeout_from(value), want, "{value:?}");
        }
        assert_eq!(shown(CALL_TIMEOUT), "25s");
        assert_eq!(shown(SHORT), "300ms");
        assert_eq!(shown(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn a_bus_that_accepts_and_never_answers_fails_the_connect_within_the_bound() {
        let bus = FakeBus::start(Peer::Silent);
        let t = Instant::now();
        let e = connect(&bus, bounds(SHORT, LONG, None)).unwrap_err();
        let took = t.elapsed();
        assert!(took >= SHORT && took < SHORT + SLACK, "{took:?}");
        assert_eq!(e.to_string(), "systemd: cannot connect to the system bus: no answer within 300ms");
        assert!(e.hint().unwrap().contains("SYSTEMD_BUS_TIMEOUT sets how long"), "{e:?}");
    }

    #[test]
    fn an_interrupt_ends_the_connect_at_once() {
        let bus = FakeBus::start(Peer::Silent);
        let pipe = Pipe::new();
        pipe.fire_after(SHORT);
        let t = Instant::now();
        let e = connect(&bus, bounds(LONG, LONG, Some(pipe.clone()))).unwrap_err();
        assert!(t.elapsed() < SLACK, "{:?}", t.elapsed());
        assert!(matches!(e, Error::Interrupted { signal: None, .. }), "{e:?}");
        assert_eq!(e.to_string(), "interrupted by a request while waiting for the system bus to accept the connection");
        assert!(!readable(pipe.fd()), "the interrupt was not taken");
    }

    #[test]
    fn a_manager_that_never_answers_fails_each_call_within_the_bound() {
        let bus = FakeBus::start(Peer::NoManager);
        // The bus daemon answers: connecting works.
        let b = connect(&bus, bounds(SHORT, LONG, None)).expect("connect");
        let t = Instant::now();
        let e = b.version().unwrap_err();
        assert!(t.elapsed() >= SHORT && t.elapsed() < SHORT + SLACK, "{:?}", t.elapsed());
        assert_eq!(e.to_string(), "systemd system manager: cannot read its version: no answer within 300ms");
        assert!(e.hint().unwrap().contains("overloaded or hung"), "{e:?}");
        assert!(b.is_loaded("x.scope").unwrap_err().to_string().contains("no answer within"));
        // A start that got no answer: whether systemd made the units is unknown.
        let e = b.start_transient("x.scope", &[], &[]).unwrap_err();
        assert_eq!(e.left, Left::Unknown, "{e:?}");
        assert!(e.error.to_string().contains("cannot start x.scope: no answer within 300ms"), "{e:?}");
    }

    #[test]
    fn a_job_that_never_ends_leaves_units_that_are_the_callers() {
        let bus = FakeBus::start(Peer::JobNeverEnds);
        let b = connect(&bus, bounds(LONG, SHORT, None)).expect("connect");
        assert_eq!(b.version().unwrap(), "252.39-1~deb12u2");
        let t = Instant::now();
        let e = b.start_transient("x.scope", &[], &[]).unwrap_err();
        assert!(t.elapsed() >= SHORT && t.elapsed() < SHORT + SLACK, "{:?}", t.elapsed());
        assert_eq!(e.left, Left::Units, "{e:?}");
        assert!(e.error.to_string().ends_with("systemd queued the job, and it did not end within 300ms"), "{e:?}");
    }

    #[test]
    fn an_interrupt_while_waiting_for_a_job_leaves_the_units_to_stop() {
        let bus = FakeBus::start(Peer::JobNeverEnds);
        let pipe = Pipe::new();
        let b = connect(&bus, bounds(LONG, LONG, Some(pipe.clone()))).expect("connect");
        pipe.fire_after(SHORT);
        let t = Instant::now();
        let e = b.start_transient("x.scope", &[], &[]).unwrap_err();
        assert!(t.elapsed() < SLACK, "{:?}", t.elapsed());
        assert_eq!(e.left, Left::Units, "{e:?}");
        assert_eq!(
            e.error.to_string(),
            "interrupted by a request while waiting for the systemd system manager to start x.scope"
        );
        // Taken: the next wait (the cleanup's) is not cut short by the same request.
        assert!(!readable(pipe.fd()));
        assert_eq!(b.version().unwrap(), "252.39-1~deb12u2");
    }

    #[test]
    fn a_refused_start_left_nothing_and_says_why() {
        let bus = FakeBus::start(Peer::Taken);
        let b = connect(&bus, bounds(LONG, LONG, None)).expect("connect");
        let e = b.start_transient("x.scope", &[], &[]).unwrap_err();
        assert_eq!(e.left, Left::Nothing, "{e:?}");
        assert!(e.taken, "{e:?}");
        assert!(e.error.to_string().contains("was already loaded"), "{e:?}");
    }
}
