//! The systemd driver of [`rein::Cgroup`] handles: each group a transient slice, each
//! process added to it a scope in that slice.
//!
//! systemd makes a scope from processes (StartTransientUnit with `PIDs=`), so a scope
//! cannot exist before its first process, while a handle's group must: a pool creates its
//! workers' groups, then starts them. A slice can exist empty, carries every resource
//! property a scope does (systemd.resource-control(5) applies to slices too), and its
//! limits cover everything below it. So:
//!
//! - [`Driver::create`] starts the slice `rein-a-b.slice` for the name `a/b` (in
//!   [`SliceDriver::parent`], `rein.slice` by default), with the limits as properties;
//!   what systemd cannot express (the mapping's residual) is written into the slice's own
//!   files, as for `rein run`.
//! - [`rein::Cgroup::spawn`] holds the child before execve; [`DriverGroup::add_pid`] starts a
//!   scope `rein-a-b-<pid>.scope` around it in the slice, checks `/proc/PID/cgroup`, and
//!   the child is released. The scope goes when its processes have (CollectMode
//!   `inactive-or-failed`).
//! - Stats, events, the process list and kill read and write the slice's cgroup (kill
//!   writes `cgroup.kill`: SIGKILL to everything at once, where stopping would SIGTERM each
//!   scope and wait up to its stop timeout); freeze and thaw are FreezeUnit and ThawUnit;
//!   live limits are SetUnitProperties.
//! - Removing the group kills what is left, stops the slice (and with it the scopes and
//!   child slices in it) and waits until systemd has unloaded it.
//!
//! Each level of a name becomes a slice level, joined by `-` (systemd.slice(5)), so a
//! level may hold only ASCII letters, digits and `:` `_` `.`. Slices that systemd creates
//! implicitly as parents (`rein-a.slice` for `a/b`) stay, as cgroupfs parents do.
//!
//! A process that dies without closing its handles leaves its slices (transient units
//! live until stopped): `systemctl stop rein-a-b.slice` removes one with everything in it.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use rein::driver::{Cgroupfs, Driver, DriverGroup, Entry};
use rein::{Controller, Error, Group, GroupPath, Hierarchy, Resources, Result, Spec};

use crate::bus::{Bounds, Bus, DbusBus, Instance, Left, StartError};
use crate::names;
use crate::policy::{Decision, Facts, Requested};
use crate::properties::{self, Property, Value};
use crate::unit::{add_hint, check_device_paths, not_delegated_hint, wait_unloaded, write_residual};

/// The systemd driver for [`rein::Cgroup`] handles (see the module guide).
pub struct SliceDriver<B: Bus = DbusBus> {
    bus: Arc<B>,
    h: Arc<Hierarchy>,
    version: u32,
    root: String,
    parent: String,
}

impl<B: Bus> std::fmt::Debug for SliceDriver<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceDriver")
            .field("instance", &self.bus.instance())
            .field("version", &self.version)
            .field("root", &self.root)
            .field("parent", &self.parent)
            .finish()
    }
}

impl SliceDriver<DbusBus> {
    /// Connects to the system or user manager; groups go into `parent` (a slice name as
    /// `--slice` takes it, e.g. `rein.slice`).
    pub fn connect(instance: Instance, h: Arc<Hierarchy>, parent: &str) -> Result<SliceDriver<DbusBus>> {
        SliceDriver::connect_with(instance, h, parent, Bounds::default())
    }

    /// [`SliceDriver::connect`] with `bounds` for every wait on the manager.
    pub fn connect_with(
        instance: Instance,
        h: Arc<Hierarchy>,
        parent: &str,
        bounds: Bounds,
    ) -> Result<SliceDriver<DbusBus>> {
        SliceDriver::new(DbusBus::connect_with(instance, bounds)?, h, parent)
    }
}

/// Undoes what a failed start of `unit` made, and only that (see [`Left`]): a unit of that
/// name the call did not make is someone else's. `ours` decides an unanswered call (a
/// scope is ours when the process it names is in it). Returns the error to report.
fn undo_start<B: Bus + ?Sized>(bus: &B, unit: &str, e: StartError, ours: impl FnOnce() -> bool) -> Error {
    let stop = match e.left {
        Left::Units => true,
        Left::Nothing => false,
        Left::Unknown => ours(),
    };
    if stop {
        return match bus.stop(unit) {
            Ok(()) => e.error,
            Err(stop) => add_hint(e.error, format!("stopping {unit} failed as well ({stop}): 'systemctl stop {unit}'")),
        };
    }
    match e.left {
        Left::Unknown => add_hint(
            e.error,
            format!("should systemd still make {unit} for this call, 'systemctl stop {unit}' removes it"),
        ),
        _ => e.error,
    }
}

/// What creating a group's slice takes (pure; see [`SliceDriver::plan`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlicePlan {
    /// The slice, e.g. `rein-workers-w1.slice`.
    pub slice: String,
    /// Its properties.
    pub properties: Vec<Property>,
    /// Written into the slice's cgroup files once it exists.
    pub residual: Resources,
    /// FreezeUnit / ThawUnit afterwards.
    pub freeze: Option<bool>,
    /// The slice's cgroup, relative to the cgroup2 mount.
    pub cgroup: String,
}

impl<B: Bus + Send + Sync + 'static> SliceDriver<B> {
    /// A driver over `bus`: reads the manager's version and root cgroup, checks `parent`.
    pub fn new(bus: B, h: Arc<Hierarchy>, parent: &str) -> Result<SliceDriver<B>> {
        let parent = names::slice_name(parent)?;
        if h.unified().is_none() {
            return Err(Error::Unsupported {
                what: "the systemd driver".into(),
                mode: h.mode().to_string(),
                reason: "it needs a cgroup2 mount".into(),
            });
        }
        let text = bus.version()?;
        let version = properties::parse_version(&text).ok_or_else(|| Error::Manager {
            manager: "systemd".into(),
            op: "read its version".into(),
            message: format!("cannot parse version '{text}'"),
            hint: None,
        })?;
        let root = bus.control_group()?.trim_matches('/').to_string();
        Ok(SliceDriver { bus: Arc::new(bus), h, version, root, parent })
    }

    /// A driver sharing `bus` with the caller (the run driver, [`crate::Systemd`]), whose
    /// manager's `version` and `root` cgroup are known already.
    pub(crate) fn from_shared(
        bus: Arc<B>,
        h: Arc<Hierarchy>,
        version: u32,
        root: &str,
        parent: &str,
    ) -> Result<SliceDriver<B>> {
        let parent = names::slice_name(parent)?;
        Ok(SliceDriver { bus, h, version, root: root.trim_matches('/').to_string(), parent })
    }

    /// The slice groups go into.
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The slice of the group `name`: its levels joined by `-`, in [`SliceDriver::parent`].
    pub fn slice_of(&self, name: &GroupPath) -> Result<String> {
        slice_of(&self.parent, name)
    }

    fn available(&self) -> Result<BTreeSet<Controller>> {
        let u = self.h.unified().expect("checked in new");
        if self.root.is_empty() {
            return Ok(u.controllers.clone());
        }
        let text = u.mount.read(&GroupPath::parse(&self.root)?, "cgroup.controllers")?;
        Ok(text.split_whitespace().filter_map(Controller::from_name).collect())
    }

    /// What [`Driver::create`] asks systemd for (for dry runs and tests).
    pub fn plan(&self, name: &GroupPath, spec: &Spec) -> Result<SlicePlan> {
        plan(&self.parent, &self.root, self.version, &self.available()?, name, spec)
    }

    fn group_at(&self, cgroup: &str) -> Result<Group> {
        Group::open(self.h.clone(), &GroupPath::parse(cgroup)?)
    }
}

fn slice_of(parent: &str, name: &GroupPath) -> Result<String> {
    let mut levels = Vec::new();
    for level in name.as_str().split('/') {
        if let Some(bad) = level.chars().find(|c| !(c.is_ascii_alphanumeric() || ":_.".contains(*c))) {
            return Err(Error::invalid(
                "group name",
                name.as_str(),
                format!(
                    "'{bad}' not allowed under systemd: each level of a name becomes a slice level, and systemd \
                     joins those with '-'; use ASCII letters, digits and : _ . in each level"
                ),
            ));
        }
        levels.push(level);
    }
    let leaf = levels.join("-");
    let slice = match parent.strip_suffix(".slice") {
        Some(stem) if parent != names::ROOT_SLICE => format!("{stem}-{leaf}.slice"),
        _ => format!("{leaf}.slice"),
    };
    names::slice_name(&slice).map_err(|e| Error::invalid("group name", name.as_str(), e.to_string()))
}

fn plan(
    parent: &str,
    root: &str,
    version: u32,
    available: &BTreeSet<Controller>,
    name: &GroupPath,
    spec: &Spec,
) -> Result<SlicePlan> {
    spec.resources.validate()?;
    let slice = slice_of(parent, name)?;
    properties::check_devices(&spec.resources)?;
    properties::check_network(&spec.resources)?;
    // Device access is no controller file under systemd: it attaches its own BPF program.
    if let Some(c) =
        spec.resources.controllers().into_iter().find(|c| *c != Controller::Devices && !available.contains(c))
    {
        return Err(Error::ControllerUnavailable {
            controller: c.to_string(),
            path: std::path::Path::new("/sys/fs/cgroup").join(root).join("cgroup.controllers"),
            hint: not_delegated_hint(c, root),
        });
    }
    let mapping = properties::map(&spec.resources, version);
    let mut props = vec![Property::new("Description", Value::Str(format!("rein group {}", name.as_str())))];
    let wants = |c: Controller| spec.accounting.contains(&c) && available.contains(&c);
    for (c, property) in [
        (Controller::Memory, "MemoryAccounting"),
        (Controller::Pids, "TasksAccounting"),
        (Controller::Io, "IOAccounting"),
    ] {
        if wants(c) {
            props.push(Property::new(property, Value::Bool(true)));
        }
    }
    props.extend(mapping.properties);
    Ok(SlicePlan {
        cgroup: names::under_root(root, &names::slice_cgroup(&slice)),
        slice,
        properties: props,
        residual: mapping.residual,
        freeze: mapping.freeze,
    })
}

impl<B: Bus + Send + Sync + 'static> Driver for SliceDriver<B> {
    fn name(&self) -> &str {
        "systemd"
    }

    fn hierarchy(&self) -> &Arc<Hierarchy> {
        &self.h
    }

    fn create(&self, name: &GroupPath, spec: &Spec) -> Result<Box<dyn DriverGroup>> {
        let plan = self.plan(name, spec)?;
        check_device_paths(&spec.resources)?;
        if self.bus.is_loaded(&plan.slice)? {
            return Err(Error::state(
                format!("group {name} already exists: systemd has {} loaded", plan.slice),
                Some(format!("pick another name, or open it (systemctl status {})", plan.slice)),
            ));
        }
        if let Err(e) = self.bus.start_transient(&plan.slice, &plan.properties, &[]) {
            if e.taken {
                // Made by someone else since the look above: theirs, left alone.
                return Err(Error::state(
                    format!("group {name} already exists: systemd has {} loaded", plan.slice),
                    Some(format!("pick another name, or open it (systemctl status {})", plan.slice)),
                ));
            }
            // An unanswered call: a slice holds no process to tell whose it is, so it is
            // left alone (and named in the hint).
            return Err(undo_start(&*self.bus, &plan.slice, e, || false));
        }
        let made = || -> Result<Group> {
            let mut group = self.group_at(&plan.cgroup)?;
            if !plan.residual.is_empty() {
                write_residual(&mut group, &plan.residual)?;
            }
            if let Some(frozen) = plan.freeze {
                self.bus.freeze(&plan.slice, frozen)?;
            }
            Ok(group)
        };
        match made() {
            Ok(group) => Ok(Box::new(SliceGroup {
                bus: self.bus.clone(),
                h: self.h.clone(),
                version: self.version,
                slice: plan.slice,
                group,
            })),
            Err(e) => {
                let _ = self.bus.stop(&plan.slice);
                Err(e)
            }
        }
    }

    fn open(&self, name: &GroupPath) -> Result<Box<dyn DriverGroup>> {
        let slice = self.slice_of(name)?;
        if !self.bus.is_loaded(&slice)? {
            return Err(Error::state(
                format!("no group {name}: systemd has no unit {slice}"),
                Some("see 'systemctl list-units --type slice'".into()),
            ));
        }
        let cgroup = names::under_root(&self.root, &names::slice_cgroup(&slice));
        Ok(Box::new(SliceGroup {
            bus: self.bus.clone(),
            h: self.h.clone(),
            version: self.version,
            group: self.group_at(&cgroup)?,
            slice,
        }))
    }
}

/// A group of the [`SliceDriver`]: a slice and its cgroup.
struct SliceGroup<B: Bus> {
    bus: Arc<B>,
    h: Arc<Hierarchy>,
    version: u32,
    slice: String,
    group: Group,
}

impl<B: Bus> std::fmt::Debug for SliceGroup<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceGroup").field("slice", &self.slice).field("cgroup", self.group.path()).finish()
    }
}

impl<B: Bus> SliceGroup<B> {
    fn exists(&self) -> bool {
        self.h.unified().is_some_and(|u| u.mount.exists(self.group.path()))
    }

    /// Starts the scope `scope` around `pid` in the slice and checks that the process is in
    /// it. The error says whether the name was taken.
    fn adopt(&self, scope: &str, pid: u32) -> std::result::Result<(), (Error, bool)> {
        let props = [
            Property::new("Description", Value::Str(format!("rein: process {pid} of {}", self.slice))),
            Property::new("Slice", Value::Str(self.slice.clone())),
            Property::new("PIDs", Value::Pids(vec![pid])),
            Property::new("CollectMode", Value::Str("inactive-or-failed".into())),
        ];
        let want = format!("{}/{scope}", self.group.path().as_str());
        let in_scope = || rein::hierarchy::cgroup_v2_of(pid).is_some_and(|cg| cg.trim_start_matches('/') == want);
        if let Err(e) = self.bus.start_transient(scope, &props, &[]) {
            let taken = e.taken;
            return Err((undo_start(&*self.bus, scope, e, in_scope), taken));
        }
        if !crate::unit::landed(in_scope) {
            let actual = rein::hierarchy::cgroup_v2_of(pid).unwrap_or_default();
            let _ = self.bus.stop(scope);
            return Err((
                Error::state(
                    format!("systemd started {scope} but process {pid} is in '{actual}', not in /{want}"),
                    Some("the process may have exited, or another program moved it".into()),
                ),
                false,
            ));
        }
        Ok(())
    }
}

impl<B: Bus + Send + Sync + 'static> DriverGroup for SliceGroup<B> {
    fn group(&self) -> &Group {
        &self.group
    }

    fn unit(&self) -> Option<&str> {
        Some(&self.slice)
    }

    fn entry(&self) -> Entry {
        Entry::AddPid
    }

    fn add_pid(&self, pid: u32) -> Result<()> {
        if rein::hierarchy::cgroup_v2_of(pid).is_none() {
            return Err(Error::invalid("pid", pid.to_string(), "no such process"));
        }
        let stem = self.slice.strip_suffix(".slice").unwrap_or(&self.slice);
        let adopted = match self.adopt(&format!("{stem}-{pid}.scope"), pid) {
            // A scope of an earlier process with this pid, not collected yet.
            Err((_, true)) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                self.adopt(&format!("{stem}-{pid}-{nanos:x}.scope"), pid)
            }
            other => other,
        };
        adopted.map_err(|(e, _)| e)
    }

    fn update(&mut self, resources: &Resources) -> Result<()> {
        let mapping = properties::map(resources, self.version);
        if !mapping.properties.is_empty() {
            self.bus.set_properties(&self.slice, &mapping.properties)?;
        }
        if !mapping.residual.is_empty() {
            write_residual(&mut self.group, &mapping.residual)?;
        }
        if let Some(frozen) = mapping.freeze {
            self.bus.freeze(&self.slice, frozen)?;
        }
        Ok(())
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        self.bus.freeze(&self.slice, frozen)
    }

    fn persist(&mut self) -> Result<()> {
        // A transient slice lives until it is stopped: nothing to record.
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        if !self.bus.is_loaded(&self.slice)? {
            return Ok(());
        }
        // SIGKILL to everything at once first (stopping would SIGTERM each scope and wait).
        // A kill that fails does not keep the slice from being stopped: systemd then
        // signals what is left itself. The first error is the one returned.
        let killed = match self.exists() {
            true => match rein::lifecycle::kill_all(&self.group) {
                // Gone meanwhile: empty.
                Err(_) if !self.exists() => Ok(()),
                other => other,
            },
            false => Ok(()),
        };
        // Stopping the slice stops the scopes and child slices in it; each of them holds
        // the slice loaded until it is unloaded itself, so the slice goes last.
        self.bus.stop(&self.slice)?;
        wait_unloaded(&*self.bus, &[&self.slice])?;
        killed
    }
}

impl FromStr for Requested {
    type Err = Error;

    /// `auto`, `systemd` or `cgroupfs`, as `--driver` and `REIN_DRIVER` take them.
    fn from_str(s: &str) -> Result<Requested> {
        match s {
            "auto" => Ok(Requested::Auto),
            "systemd" => Ok(Requested::Systemd),
            "cgroupfs" => Ok(Requested::Cgroupfs),
            _ => Err(Error::invalid("driver", s, "expected auto, systemd or cgroupfs")),
        }
    }
}

/// The driver [`detect_driver`] chose, and why.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverChoice {
    /// The driver, to share among handles ([`rein::handle::Builder::driver`]).
    pub driver: Arc<dyn Driver>,
    /// Why, in the words of `rein check`.
    pub reason: String,
}

/// Chooses the driver for [`rein::Cgroup`] handles with the policy of the `rein` command
/// ([`crate::decide`]): the systemd driver ([`SliceDriver`], groups in `rein.slice` of
/// `instance`) where systemd manages a pure cgroup v2 hierarchy and its bus answers, the
/// cgroupfs driver otherwise. An explicit `Requested::Systemd` that cannot be honoured is an
/// error saying why; under `Auto` a system bus that does not answer means cgroupfs.
pub fn detect_driver(requested: Requested, instance: Instance) -> Result<DriverChoice> {
    let h = Arc::new(Hierarchy::detect()?);
    let user = instance == Instance::User;
    let facts = Facts { booted: crate::systemd_booted(), mode: h.mode(), fake_tree: false, user };
    match crate::decide(requested, facts)? {
        Decision::Cgroupfs(reason) => Ok(DriverChoice { driver: Arc::new(Cgroupfs::new(h)), reason }),
        Decision::Systemd(reason) => match SliceDriver::connect(instance, h.clone(), names::DEFAULT_SLICE) {
            Ok(d) => {
                let reason = format!("{reason}; systemd {} answers on the {} bus", d.version, instance.as_str());
                Ok(DriverChoice { driver: Arc::new(d), reason })
            }
            Err(e) if requested == Requested::Auto && !user => Ok(DriverChoice {
                driver: Arc::new(Cgroupfs::new(h)),
                reason: format!("auto: systemd is PID 1 but its bus does not answer ({e})"),
            }),
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rein::testing::{FakeTree, Layout};
    use rein::units::Bytes;

    use super::*;

    /// A bus that records calls; `loaded` lists the units it says are loaded; the next
    /// start fails as `fail` says (what it left, and whether the name was taken).
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        loaded: Mutex<Vec<String>>,
        fail: Mutex<Option<(Left, bool)>>,
    }

    impl Bus for Recorder {
        fn instance(&self) -> Instance {
            Instance::System
        }
        fn version(&self) -> Result<String> {
            Ok("252.39-1~deb12u2".into())
        }
        fn control_group(&self) -> Result<String> {
            Ok("/".into())
        }
        fn start_transient(
            &self,
            name: &str,
            props: &[Property],
            _: &[(String, Vec<Property>)],
        ) -> std::result::Result<(), StartError> {
            let shown: Vec<String> = props.iter().map(|p| p.to_string()).collect();
            self.calls.lock().unwrap().push(format!("start {name} {}", shown.join(" ")));
            if let Some((left, taken)) = self.fail.lock().unwrap().take() {
                return Err(StartError { error: Error::state("refused", None), left, taken });
            }
            self.loaded.lock().unwrap().push(name.to_string());
            Ok(())
        }
        fn stop(&self, name: &str) -> Result<()> {
            self.calls.lock().unwrap().push(format!("stop {name}"));
            self.loaded.lock().unwrap().retain(|u| u != name);
            Ok(())
        }
        fn is_loaded(&self, name: &str) -> Result<bool> {
            Ok(self.loaded.lock().unwrap().iter().any(|u| u == name))
        }
        fn set_properties(&self, name: &str, props: &[Property]) -> Result<()> {
            let shown: Vec<String> = props.iter().map(|p| p.to_string()).collect();
            self.calls.lock().unwrap().push(format!("set {name} {}", shown.join(" ")));
            Ok(())
        }
        fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
            self.calls.lock().unwrap().push(format!("freeze {name} {frozen}"));
            Ok(())
        }
    }

    fn driver(tree: &FakeTree) -> SliceDriver<Recorder> {
        SliceDriver::new(Recorder::default(), tree.hierarchy(), names::DEFAULT_SLICE).unwrap()
    }

    fn calls(d: &SliceDriver<Recorder>) -> Vec<String> {
        d.bus.calls.lock().unwrap().clone()
    }

    fn cgroup_of_self() -> String {
        rein::hierarchy::cgroup_v2_of(std::process::id()).unwrap_or_default()
    }

    fn path(s: &str) -> GroupPath {
        GroupPath::parse(s).unwrap()
    }

    #[test]
    fn names_become_slice_levels() {
        assert_eq!(slice_of("rein.slice", &path("workers/w1")).unwrap(), "rein-workers-w1.slice");
        assert_eq!(slice_of("-.slice", &path("a")).unwrap(), "a.slice");
        assert_eq!(slice_of("ci-jobs.slice", &path("x_1/y.2")).unwrap(), "ci-jobs-x_1-y.2.slice");
        for bad in ["rein-test", "a/b-c", "x@y", "a+b"] {
            let e = slice_of("rein.slice", &path(bad)).unwrap_err().to_string();
            assert!(e.contains("not allowed under systemd"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_plan_carries_limits_and_accounting_and_checks_controllers() {
        let mut all: BTreeSet<Controller> = [Controller::Cpu, Controller::Memory, Controller::Pids].into();
        let spec = Spec {
            resources: Resources::new().memory_max(Bytes::mib(64)).cpu_percent(20.0).unwrap(),
            accounting: [Controller::Memory, Controller::Pids, Controller::Io].into(),
        };
        let p = plan("rein.slice", "", 252, &all, &path("pool/w1"), &spec).unwrap();
        assert_eq!(p.slice, "rein-pool-w1.slice");
        assert_eq!(p.cgroup, "rein.slice/rein-pool.slice/rein-pool-w1.slice");
        let shown: Vec<String> = p.properties.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "Description=\"rein group pool/w1\"",
                "MemoryAccounting=yes",
                "TasksAccounting=yes",
                "MemoryMax=67108864",
                "CPUQuotaPerSecUSec=200000",
                "CPUQuotaPeriodUSec=100000",
            ]
        );
        // A limit needing a controller the manager lacks is an error naming it.
        all.remove(&Controller::Memory);
        let e = plan("rein.slice", "user.slice/user-1000.slice/user@1000.service", 252, &all, &path("a"), &spec);
        assert!(matches!(e, Err(Error::ControllerUnavailable { .. })), "{e:?}");
    }

    #[test]
    fn create_add_update_freeze_remove_make_the_calls_in_order() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("rein.slice/rein-pool.slice");
        tree.group("rein.slice/rein-pool.slice/rein-pool-w1.slice");
        let d = driver(&tree);
        let spec = Spec { resources: Resources::new().pids_max(9), accounting: BTreeSet::new() };
        let mut g = d.create(&path("pool/w1"), &spec).unwrap();
        assert_eq!(g.unit(), Some("rein-pool-w1.slice"));
        assert_eq!(g.group().path().as_str(), "rein.slice/rein-pool.slice/rein-pool-w1.slice");
        assert_eq!(g.entry(), Entry::AddPid);
        // A taken name is refused before any call.
        let e = d.create(&path("pool/w1"), &spec).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        // The recorder moves nothing: our own pid is not in the scope, so the scope goes.
        let me = std::process::id();
        let e = g.add_pid(me).unwrap_err();
        let scope = format!("rein.slice/rein-pool.slice/rein-pool-w1.slice/rein-pool-w1-{me}.scope");
        assert!(e.to_string().contains(&format!("is in '{}', not in /{scope}", cgroup_of_self())), "{e}");
        assert!(g.add_pid(u32::MAX - 1).unwrap_err().to_string().contains("no such process"));
        g.update(&Resources::new().memory_max(Bytes::mib(8))).unwrap();
        g.freeze(true).unwrap();
        g.remove().unwrap();
        let c = calls(&d);
        assert_eq!(
            c,
            [
                "start rein-pool-w1.slice Description=\"rein group pool/w1\" TasksMax=9".to_string(),
                format!(
                    "start rein-pool-w1-{me}.scope Description=\"rein: process {me} of rein-pool-w1.slice\" \
                     Slice=\"rein-pool-w1.slice\" PIDs=[{me}] CollectMode=\"inactive-or-failed\""
                ),
                format!("stop rein-pool-w1-{me}.scope"),
                "set rein-pool-w1.slice MemoryMax=8388608".to_string(),
                "freeze rein-pool-w1.slice true".to_string(),
                "stop rein-pool-w1.slice".to_string(),
            ]
        );
        // Removed already: nothing more to do.
        g.remove().unwrap();
        assert_eq!(calls(&d).len(), c.len());
        let e = d.open(&path("pool/w1")).unwrap_err();
        assert!(e.to_string().contains("systemd has no unit rein-pool-w1.slice"), "{e}");
    }

    #[test]
    fn a_failed_start_stops_only_what_the_call_made() {
        let tree = FakeTree::new(Layout::V2);
        tree.group("rein.slice/rein-a.slice");
        let d = driver(&tree);
        let spec = Spec { resources: Resources::new(), accounting: BTreeSet::new() };
        let fail = |left, taken| *d.bus.fail.lock().unwrap() = Some((left, taken));
        // Taken between the look and the call: someone else's slice, left alone.
        fail(Left::Nothing, true);
        let e = d.create(&path("a"), &spec).unwrap_err();
        assert!(e.to_string().contains("group /a already exists"), "{e}");
        // No answer: a slice holds no process to tell whose it is; named in the hint.
        fail(Left::Unknown, false);
        let e = d.create(&path("a"), &spec).unwrap_err();
        assert!(e.hint().unwrap().contains("'systemctl stop rein-a.slice'"), "{e:?}");
        assert_eq!(calls(&d).iter().filter(|c| c.starts_with("stop")).count(), 0, "{:?}", calls(&d));
        // Made, then failed: ours to stop.
        fail(Left::Units, false);
        d.create(&path("a"), &spec).unwrap_err();
        assert_eq!(calls(&d).last().unwrap(), "stop rein-a.slice");
        // A process's scope: made and failed, stopped; an unanswered one only if the
        // process is in it (it is not: the recorder moves nothing).
        let g = d.create(&path("a"), &spec).unwrap();
        let me = std::process::id();
        fail(Left::Units, false);
        g.add_pid(me).unwrap_err();
        assert_eq!(calls(&d).last().unwrap(), &format!("stop rein-a-{me}.scope"));
        let before = calls(&d).len();
        fail(Left::Unknown, false);
        g.add_pid(me).unwrap_err();
        assert_eq!(calls(&d).len(), before + 1, "{:?}", calls(&d));
    }

    #[test]
    fn requested_parses_the_driver_names() {
        assert_eq!("auto".parse::<Requested>().unwrap(), Requested::Auto);
        assert_eq!("cgroupfs".parse::<Requested>().unwrap(), Requested::Cgroupfs);
        assert!("docker".parse::<Requested>().unwrap_err().to_string().contains("auto, systemd or cgroupfs"));
    }
}
