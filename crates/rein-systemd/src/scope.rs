//! The scope driver of `rein run`: the command's scope and its per-run slice, made in one
//! StartTransientUnit around the held command (see the crate guide, "One run").

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rein::driver::{Driver, DriverGroup, Entry};
use rein::stats::Stats;
use rein::{Controller, Error, Group, GroupPath, Hierarchy, Resources, Result, Spec};

use crate::bus::{Bounds, Bus, DbusBus, Instance, Left, StartError};
use crate::names;
use crate::properties::{self, Property, Value};
use crate::slices::SliceDriver;
use crate::unit::{add_hint, check_device_paths, not_delegated_hint, wait_unloaded, write_residual};

/// How `rein run`'s scope is named and placed.
#[derive(Debug, Clone)]
pub struct ScopeOptions {
    /// The scope's name (validated by [`names::scope_name`]); None picks
    /// `rein-run-<pid of rein>.scope`.
    pub unit: Option<String>,
    /// The slice for the per-run slice (validated by [`names::slice_name`]).
    pub slice: String,
    /// `Description=`, shown by `systemctl status`.
    pub description: String,
    /// `Delegate=yes`: let the command make child groups of its own in the scope.
    pub delegate: bool,
    /// `RuntimeMaxSec=`: systemd stops the scope after this long (µs).
    pub runtime_max_usec: Option<u64>,
}

impl Default for ScopeOptions {
    fn default() -> Self {
        ScopeOptions {
            unit: None,
            slice: names::DEFAULT_SLICE.into(),
            description: "rein run".into(),
            delegate: false,
            runtime_max_usec: None,
        }
    }
}

/// Everything one StartTransientUnit call will carry, and what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransientPlan {
    /// The scope, e.g. `rein-run-42.scope`.
    pub scope: String,
    /// Its per-run slice (an auxiliary unit of the same call).
    pub slice: String,
    /// The scope's properties.
    pub scope_properties: Vec<Property>,
    /// The slice's properties.
    pub slice_properties: Vec<Property>,
    /// Written into the scope's cgroup files once it exists.
    pub residual: Resources,
    /// FreezeUnit / ThawUnit afterwards.
    pub freeze: Option<bool>,
    /// The scope's cgroup, relative to the cgroup2 mount.
    pub scope_cgroup: String,
    /// The per-run slice's cgroup, relative to the cgroup2 mount.
    pub slice_cgroup: String,
}

/// Plans a transient scope for `pid` (pure): names, properties, residual, cgroups.
///
/// `root` is the manager's root cgroup ([`Bus::control_group`]), `version` its major
/// version, `available` the controllers its root offers (checked here: a limit needing a
/// controller the manager does not have is an error naming it, an accounting-only one is
/// dropped), `default_unit` the scope name when the options give none.
pub fn transient_plan(
    spec: &Spec,
    options: &ScopeOptions,
    version: u32,
    root: &str,
    available: &BTreeSet<Controller>,
    pid: u32,
    default_unit: &str,
) -> Result<TransientPlan> {
    spec.resources.validate()?;
    let scope = match &options.unit {
        Some(u) => names::scope_name(u)?,
        None => default_unit.to_string(),
    };
    let parent = names::slice_name(&options.slice)?;
    let slice = names::run_slice(&parent, &scope);
    if slice.len() > names::MAX_UNIT_NAME {
        return Err(Error::invalid("--unit", &scope, "too long to name its per-run slice after it"));
    }
    properties::check_devices(&spec.resources)?;
    properties::check_network(&spec.resources)?;
    // Device access is no controller file under systemd: it attaches its own BPF program.
    if let Some(c) =
        spec.resources.controllers().into_iter().find(|c| *c != Controller::Devices && !available.contains(c))
    {
        return Err(Error::ControllerUnavailable {
            controller: c.to_string(),
            path: Path::new("/sys/fs/cgroup").join(root.trim_start_matches('/')).join("cgroup.controllers"),
            hint: not_delegated_hint(c, root),
        });
    }
    let mapping = properties::map(&spec.resources, version);
    let mut props = vec![
        Property::new("Description", Value::Str(options.description.clone())),
        Property::new("Slice", Value::Str(slice.clone())),
        Property::new("PIDs", Value::Pids(vec![pid])),
        // Collect the scope even when it failed (systemd 253+ fails a scope on an OOM kill
        // unless OOMPolicy=continue): rein reports the failure itself.
        Property::new("CollectMode", Value::Str("inactive-or-failed".into())),
    ];
    let wants = |c: Controller| spec.accounting.contains(&c) && available.contains(&c);
    if wants(Controller::Memory) || !mapping.residual.memory.eq(&Default::default()) {
        props.push(Property::new("MemoryAccounting", Value::Bool(true)));
    }
    if wants(Controller::Pids) {
        props.push(Property::new("TasksAccounting", Value::Bool(true)));
    }
    if wants(Controller::Io) {
        props.push(Property::new("IOAccounting", Value::Bool(true)));
    }
    if options.delegate {
        props.push(Property::new("Delegate", Value::Bool(true)));
    }
    if let Some(usec) = options.runtime_max_usec {
        props.push(Property::new("RuntimeMaxUSec", Value::U64(usec)));
    }
    props.extend(mapping.properties);
    let slice_properties = vec![
        Property::new("Description", Value::Str(format!("rein: accounting for {scope}"))),
        Property::new("CollectMode", Value::Str("inactive-or-failed".into())),
    ];
    let slice_cgroup = names::under_root(root, &names::slice_cgroup(&slice));
    Ok(TransientPlan {
        scope_cgroup: format!("{slice_cgroup}/{scope}"),
        slice_cgroup,
        scope,
        slice,
        scope_properties: props,
        slice_properties,
        residual: mapping.residual,
        freeze: mapping.freeze,
    })
}

impl TransientPlan {
    /// The writes of the residual into the scope's own cgroup files (names relative to
    /// [`TransientPlan::scope_cgroup`]), in the order cgroup v2 needs: what a dry run
    /// shows. Fails on a setting cgroup v2 cannot express, as the run itself would.
    pub fn residual_writes(&self) -> Result<Vec<rein::plan::Write>> {
        let r = &self.residual;
        rein::backend::limit_writes(rein::backend::Version::V2, r, &r.controllers(), &|_| None)
    }
}

impl fmt::Display for TransientPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "StartTransientUnit {} (mode fail)", self.scope)?;
        for p in &self.scope_properties {
            writeln!(f, "  {p}")?;
        }
        writeln!(f, "  + auxiliary unit {}", self.slice)?;
        for p in &self.slice_properties {
            writeln!(f, "    {p}")?;
        }
        Ok(())
    }
}

/// The systemd driver of `rein run`: a connection to one manager, and how to name the
/// scopes it makes around commands ([`Driver::create_around`]). The groups it creates
/// and opens by name ([`Driver::create`], [`Driver::open`]) are [`SliceDriver`]'s, in
/// [`names::DEFAULT_SLICE`].
pub struct Systemd<B: Bus = DbusBus> {
    pub(crate) bus: Arc<B>,
    h: Arc<Hierarchy>,
    slices: SliceDriver<B>,
    version_text: String,
    version: u32,
    root: String,
    options: ScopeOptions,
}

impl<B: Bus> fmt::Debug for Systemd<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Systemd")
            .field("instance", &self.bus.instance())
            .field("version", &self.version_text)
            .field("root", &self.root)
            .finish()
    }
}

impl Systemd<DbusBus> {
    /// Connects to the system or user manager, for groups in `h`.
    pub fn connect(instance: Instance, h: Arc<Hierarchy>, options: ScopeOptions) -> Result<Systemd<DbusBus>> {
        Systemd::connect_with(instance, h, options, Bounds::default())
    }

    /// Connects with `bounds` for every wait on the manager (`rein run` passes its
    /// supervisor's interrupt, so that a ^C ends a wait on a wedged manager).
    pub fn connect_with(
        instance: Instance,
        h: Arc<Hierarchy>,
        options: ScopeOptions,
        bounds: Bounds,
    ) -> Result<Systemd<DbusBus>> {
        Systemd::new(DbusBus::connect_with(instance, bounds)?, h, options)
    }
}

/// Why [`Systemd`] could not create a unit, and whether a unit of the name was loaded.
struct CreateError {
    error: Error,
    taken: bool,
}

impl From<Error> for CreateError {
    fn from(error: Error) -> CreateError {
        CreateError { error, taken: false }
    }
}

/// The error for a name systemd has loaded already (StartTransientUnit's `UnitExists`):
/// the scope's, or its per-run slice's (two `--unit` names can share one, as `-` and `_`
/// both become `_` in it). `says` is systemd's message, which names the unit.
fn taken_error(plan: &TransientPlan, says: &str, instance: Instance) -> Error {
    let (message, hint) = if says.contains(&plan.slice) {
        (
            format!("unit {}, the per-run slice of {}, already exists", plan.slice, plan.scope),
            format!(
                "a run whose --unit gives the same slice ('-' and '_' both become '_') is going on: choose another \
                 --unit, or stop that run ('systemctl stop {}')",
                plan.slice
            ),
        )
    } else {
        (
            format!("unit {} already exists", plan.scope),
            format!(
                "another run (or systemd-run) uses that name: choose another --unit, or stop the one that runs \
                 ('systemctl stop {}')",
                plan.scope
            ),
        )
    };
    Error::Manager {
        manager: format!("systemd {} manager", instance.as_str()),
        op: format!("start {}", plan.scope),
        message: format!("{message} (org.freedesktop.systemd1.UnitExists)"),
        hint: Some(hint),
    }
}

impl<B: Bus + Send + Sync + 'static> Systemd<B> {
    /// A driver over `bus` for groups in `h`: reads the manager's version and root cgroup.
    pub fn new(bus: B, h: Arc<Hierarchy>, options: ScopeOptions) -> Result<Systemd<B>> {
        let (version_text, root) = bus.facts()?;
        let version = properties::parse_version(&version_text).ok_or_else(|| Error::Manager {
            manager: "systemd".into(),
            op: "read its version".into(),
            message: format!("cannot parse version '{version_text}'"),
            hint: None,
        })?;
        let bus = Arc::new(bus);
        let slices = SliceDriver::from_shared(bus.clone(), h.clone(), version, &root, names::DEFAULT_SLICE)?;
        Ok(Systemd { bus, h, slices, version_text, version, root, options })
    }

    /// The manager's version string.
    pub fn version(&self) -> &str {
        &self.version_text
    }

    /// Which manager.
    pub fn instance(&self) -> Instance {
        self.bus.instance()
    }

    /// The manager's root cgroup, relative to the cgroup2 mount (empty for the system manager).
    pub fn root(&self) -> &str {
        self.root.trim_matches('/')
    }

    /// The controllers the manager's root cgroup offers.
    pub fn available(&self, h: &Hierarchy) -> Result<BTreeSet<Controller>> {
        let u = h.unified().ok_or_else(|| Error::Unsupported {
            what: "the systemd driver".into(),
            mode: h.mode().to_string(),
            reason: "it needs a cgroup2 mount".into(),
        })?;
        if self.root().is_empty() {
            return Ok(u.controllers.clone());
        }
        let path = GroupPath::parse(self.root())?;
        let text = u.mount.read(&path, "cgroup.controllers")?;
        Ok(text.split_whitespace().filter_map(Controller::from_name).collect())
    }

    /// The plan [`Driver::create_around`] follows for `pid` (for dry runs).
    pub fn plan(&self, h: &Hierarchy, spec: &Spec, pid: u32) -> Result<TransientPlan> {
        check_device_paths(&spec.resources)?;
        let available = self.available(h)?;
        transient_plan(
            spec,
            &self.options,
            self.version,
            &self.root,
            &available,
            pid,
            &names::default_scope_name(std::process::id()),
        )
    }

    fn start_scope(
        &self,
        h: &Arc<Hierarchy>,
        spec: &Spec,
        pid: u32,
        default_unit: &str,
    ) -> std::result::Result<SystemdUnit<B>, CreateError> {
        let available = self.available(h)?;
        let plan = transient_plan(spec, &self.options, self.version, &self.root, &available, pid, default_unit)?;
        check_device_paths(&spec.resources)?;
        let started = self.bus.start_transient(
            &plan.scope,
            &plan.scope_properties,
            &[(plan.slice.clone(), plan.slice_properties.clone())],
        );
        if let Err(e) = started {
            let taken = e.taken;
            return Err(CreateError { error: self.undo_start(&plan, pid, e), taken });
        }
        match SystemdUnit::adopt(self.bus.clone(), h, plan, pid, self.version) {
            Ok(u) => Ok(u),
            // Started by this call: ours to stop.
            Err((e, slice)) => Err(self.stop_ours(&slice, e).into()),
        }
    }

    /// Undoes what a failed start made, and only that: units of those names that the call
    /// did not make belong to someone else (a second `rein run --unit X` must not stop the
    /// first one's units). Returns the error to report.
    fn undo_start(&self, plan: &TransientPlan, pid: u32, e: StartError) -> Error {
        let ours = match e.left {
            Left::Units => true,
            Left::Nothing => false,
            // No answer came: the held process is in the scope only if systemd made it for
            // this call (PIDs= names it), and then the slice, of the same call, is ours too.
            Left::Unknown => {
                rein::hierarchy::cgroup_v2_of(pid).is_some_and(|cg| cg.trim_start_matches('/') == plan.scope_cgroup)
            }
        };
        if ours {
            // Stopping the slice stops the scope in it too.
            return self.stop_ours(&plan.slice, e.error);
        }
        match e.left {
            Left::Nothing if e.taken => {
                let says = match &e.error {
                    Error::Manager { message, .. } => message.as_str(),
                    _ => "",
                };
                taken_error(plan, says, self.bus.instance())
            }
            Left::Unknown => add_hint(
                e.error,
                format!(
                    "should systemd still make {} and {} for this run, 'systemctl stop {}' removes both",
                    plan.scope, plan.slice, plan.slice
                ),
            ),
            _ => e.error,
        }
    }

    /// Stops `slice`, which this run made, and returns `error` (saying what is left if the
    /// stop failed too).
    fn stop_ours(&self, slice: &str, error: Error) -> Error {
        match self.bus.stop(slice) {
            Ok(()) => error,
            Err(stop) => add_hint(error, format!("stopping {slice} failed as well ({stop}): 'systemctl stop {slice}'")),
        }
    }
}

impl<B: Bus + Send + Sync + 'static> Driver for Systemd<B> {
    fn name(&self) -> &str {
        "systemd"
    }

    fn hierarchy(&self) -> &Arc<Hierarchy> {
        &self.h
    }

    fn create(&self, name: &GroupPath, spec: &Spec) -> Result<Box<dyn DriverGroup>> {
        self.slices.create(name, spec)
    }

    fn open(&self, name: &GroupPath) -> Result<Box<dyn DriverGroup>> {
        self.slices.open(name)
    }

    /// The scope of one `rein run` around its command (named by [`ScopeOptions`] or
    /// `rein-run-PID.scope`), with its per-run slice, made in one StartTransientUnit.
    fn create_around(&self, spec: &Spec, pid: u32) -> Result<Box<dyn DriverGroup>> {
        let h = &self.h;
        let default_unit = names::default_scope_name(std::process::id());
        let created = match self.start_scope(h, spec, pid, &default_unit) {
            // A unit of an earlier rein with our pid (a crash, then pid reuse): pick a
            // fresh default name, as the cgroupfs driver does for its groups.
            Err(CreateError { taken: true, .. }) if self.options.unit.is_none() => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let fresh = format!("rein-run-{}-{nanos:x}.scope", std::process::id());
                self.start_scope(h, spec, pid, &fresh)
            }
            other => other,
        };
        match created {
            Ok(u) => Ok(Box::new(u)),
            Err(e) => Err(e.error),
        }
    }
}

/// A scope made by [`Systemd`], with its per-run slice.
pub struct SystemdUnit<B: Bus> {
    bus: Arc<B>,
    plan: TransientPlan,
    group: Group,
    h: Arc<Hierarchy>,
    version: u32,
    /// The scope's limits as the kernel showed them right after creation: the per-run
    /// slice's files show the slice's own (none).
    limits: Stats,
    removed: bool,
}

impl<B: Bus> fmt::Debug for SystemdUnit<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemdUnit").field("scope", &self.plan.scope).field("slice", &self.plan.slice).finish()
    }
}

impl<B: Bus> SystemdUnit<B> {
    /// Checks that `pid` landed in the scope, writes the residual and freezes as planned.
    /// On failure returns the error and the slice to stop.
    fn adopt(
        bus: Arc<B>,
        h: &Arc<Hierarchy>,
        plan: TransientPlan,
        pid: u32,
        version: u32,
    ) -> std::result::Result<SystemdUnit<B>, (Error, String)> {
        let slice = plan.slice.clone();
        let fail = |e: Error| (e, slice.clone());
        let in_scope =
            || rein::hierarchy::cgroup_v2_of(pid).is_some_and(|cg| cg.trim_start_matches('/') == plan.scope_cgroup);
        if !crate::unit::landed(in_scope) {
            let actual = rein::hierarchy::cgroup_v2_of(pid).unwrap_or_default();
            return Err(fail(Error::state(
                format!(
                    "systemd started {} but process {pid} is in '{actual}', not in /{}",
                    plan.scope, plan.scope_cgroup
                ),
                Some("another program may have moved it; see 'systemctl status' of the scope".into()),
            )));
        }
        let path = GroupPath::parse(&plan.scope_cgroup).map_err(fail)?;
        let mut group = Group::open(h.clone(), &path).map_err(fail)?;
        if !plan.residual.is_empty() {
            write_residual(&mut group, &plan.residual).map_err(fail)?;
        }
        if let Some(frozen) = plan.freeze {
            bus.freeze(&plan.scope, frozen).map_err(fail)?;
        }
        let limits = limits_in_force(h, &group).map_err(fail)?;
        Ok(SystemdUnit { bus, plan, group, h: h.clone(), version, limits, removed: false })
    }

    /// The plan the unit was made from.
    pub fn plan(&self) -> &TransientPlan {
        &self.plan
    }

    fn scope_exists(&self) -> bool {
        self.h.unified().is_some_and(|u| u.mount.exists(self.group.path()))
    }
}

/// The limits in force in `group` (the scope), for the report: only the limit files
/// (`cpu.max`, `memory.max`, `memory.high`, `memory.swap.max`, `pids.max`), read once
/// right after creation; the accounting itself comes from the per-run slice at the end.
fn limits_in_force(h: &Hierarchy, group: &Group) -> Result<Stats> {
    use rein::cgroupfs::FileSource;
    use rein::stats::{Field, Fields};
    /// A directory that answers only `files`: the other files of a stats read are absent.
    struct Only<'a> {
        dir: rein::cgroupfs::GroupDir,
        files: &'a [&'static str],
    }
    impl FileSource for Only<'_> {
        fn read_opt(&self, file: &str) -> Result<Option<String>> {
            if self.files.contains(&file) { self.dir.read_opt(file) } else { Ok(None) }
        }
    }
    let mut s = Stats::default();
    let (Some(u), Some(node)) = (h.unified(), group.nodes().iter().find(|n| n.place == rein::hierarchy::Place::V2))
    else {
        return Ok(s);
    };
    let files = rein::backend::stat_files(
        rein::backend::Version::V2,
        Fields::of(&[Field::CpuMax, Field::MemoryMax, Field::MemoryHigh, Field::MemorySwapMax, Field::PidsMax]),
    );
    let dir = Only { dir: u.mount.group_dir(group.path())?, files: &files };
    rein::backend::read_stats(rein::backend::Version::V2, &dir, &node.controllers, &mut s)?;
    Ok(s)
}

impl<B: Bus> Drop for SystemdUnit<B> {
    /// A unit dropped without [`DriverGroup::remove`] (an early return in a library
    /// user) is stopped all the same: systemd signals what still runs in it. Bounded as
    /// every wait on the bus is ([`Bounds`]); it does not wait for the unload.
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.bus.stop(&self.plan.slice);
        }
    }
}

impl<B: Bus + Send + Sync> DriverGroup for SystemdUnit<B> {
    fn group(&self) -> &Group {
        &self.group
    }

    fn unit(&self) -> Option<&str> {
        Some(&self.plan.scope)
    }

    fn entry(&self) -> Entry {
        Entry::AddPid
    }

    /// A run's scope holds the one command it was made around: systemd makes a scope
    /// from its processes in one step.
    fn add_pid(&self, pid: u32) -> Result<()> {
        Err(Error::Unsupported {
            what: format!("adding process {pid} to {}", self.plan.scope),
            mode: "systemd".into(),
            reason: "a run's scope holds the command it was made around; groups that take processes later are \
                     SliceDriver's (rein_systemd::detect_driver, Cgroup handles)"
                .into(),
        })
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        self.bus.freeze(&self.plan.scope, frozen)
    }

    /// Leaves the scope (and its per-run slice) running when the unit is dropped: systemd
    /// removes the scope once its processes are gone; the slice stays until stopped.
    fn persist(&mut self) -> Result<()> {
        self.removed = true;
        Ok(())
    }

    fn final_stats(&self) -> Result<Stats> {
        let slice = Group::open(self.h.clone(), &GroupPath::parse(&self.plan.slice_cgroup)?)?;
        let mut s = slice.stats()?;
        // The limits in force were the scope's, not the slice's.
        s.cpu.max = self.limits.cpu.max;
        if let (Some(m), Some(l)) = (s.memory.as_mut(), self.limits.memory) {
            m.max = l.max;
            m.high = l.high;
            m.swap_max = l.swap_max;
        }
        if let (Some(p), Some(l)) = (s.pids.as_mut(), self.limits.pids) {
            p.max = l.max;
        }
        Ok(s)
    }

    fn kill(&self) -> Result<()> {
        match self.group.kill() {
            Ok(()) => Ok(()),
            // systemd removes the scope's cgroup as soon as it is empty, possibly between
            // cgroup.kill and rein's look at cgroup.events: gone means empty.
            Err(_) if !self.scope_exists() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn update(&mut self, resources: &Resources) -> Result<()> {
        let mapping = properties::map(resources, self.version);
        if !mapping.properties.is_empty() {
            self.bus.set_properties(&self.plan.scope, &mapping.properties)?;
        }
        if !mapping.residual.is_empty() {
            write_residual(&mut self.group, &mapping.residual)?;
        }
        if let Some(frozen) = mapping.freeze {
            self.bus.freeze(&self.plan.scope, frozen)?;
        }
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        if self.removed {
            return Ok(());
        }
        // Stopping the slice stops the scope in it too (were it still running). The slice
        // is unloaded last: the scope's Requires= on it keeps it loaded while the scope is.
        self.bus.stop(&self.plan.slice)?;
        wait_unloaded(&*self.bus, &[&self.plan.scope, &self.plan.slice])?;
        self.removed = true;
        Ok(())
    }
}
