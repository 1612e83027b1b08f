//! The driver's pure parts (policy, plan) and its sequencing against a recording bus. What
//! systemd does with the calls is tested for real in the systemd VM (crates/rein-cli/tests/kernel/systemd.rs).

use std::collections::BTreeSet;
use std::sync::Mutex;

use rein::driver::Driver;
use rein::testing::{FakeTree, Layout};
use rein::units::{Bytes, CpuList};
use rein::{Controller, Error, Mode, Resources, Result, Spec};

use super::*;
use crate::properties::{Property, Value};

fn facts(booted: bool, mode: Mode) -> Facts {
    Facts { booted, mode, fake_tree: false, user: false }
}

#[test]
fn policy_table() {
    use Requested::*;
    let sd = |d: &Result<Decision>| matches!(d, Ok(Decision::Systemd(_)));
    let fs = |d: &Result<Decision>| matches!(d, Ok(Decision::Cgroupfs(_)));
    // (requested, booted, mode, fake, user) -> systemd / cgroupfs / error
    assert!(sd(&decide(Auto, facts(true, Mode::Unified))));
    assert!(fs(&decide(Auto, facts(false, Mode::Unified))));
    assert!(fs(&decide(Auto, facts(true, Mode::Hybrid))));
    assert!(fs(&decide(Auto, facts(false, Mode::Hybrid))), "this host: hybrid, no systemd PID 1");
    assert!(fs(&decide(Auto, Facts { fake_tree: true, ..facts(true, Mode::Unified) })));
    assert!(sd(&decide(Systemd, facts(true, Mode::Unified))));
    assert!(fs(&decide(Cgroupfs, facts(true, Mode::Unified))));
    let e = decide(Systemd, facts(false, Mode::Hybrid)).unwrap_err().to_string();
    assert_eq!(e, "--driver systemd needs systemd, and systemd is not PID 1 (no /run/systemd/system)");
    let hint = decide(Systemd, facts(false, Mode::Hybrid)).unwrap_err().hint().unwrap().to_string();
    assert!(hint.contains("--driver cgroupfs"), "{hint}");
    let e = decide(Systemd, facts(true, Mode::Legacy)).unwrap_err().to_string();
    assert!(e.contains("needs pure cgroup v2"), "{e}");
    // --user: the user manager or an error, never a silent cgroupfs.
    let user = Facts { user: true, ..facts(false, Mode::Unified) };
    assert!(decide(Auto, user).unwrap_err().to_string().contains("systemd is not PID 1"));
    assert!(sd(&decide(Auto, Facts { booted: true, ..user })));
    assert!(decide(Cgroupfs, Facts { booted: true, ..user }).unwrap_err().to_string().contains("--user"));
    match decide(Auto, facts(false, Mode::Hybrid)).unwrap() {
        Decision::Cgroupfs(why) => assert_eq!(why, "auto: systemd is not PID 1 (no /run/systemd/system)"),
        other => panic!("{other:?}"),
    }
}

fn all_controllers() -> BTreeSet<Controller> {
    [Controller::Cpuset, Controller::Cpu, Controller::Io, Controller::Memory, Controller::Pids].into()
}

fn run_spec(r: Resources) -> Spec {
    Spec { resources: r, accounting: [Controller::Memory, Controller::Pids].into() }
}

#[test]
fn plan_of_a_run_in_the_system_manager() {
    let r = Resources::new().memory_max(Bytes::mib(64)).cpu_percent(20.0).unwrap();
    let opts = ScopeOptions { description: "rein run: sleep 1".into(), ..ScopeOptions::default() };
    let p = transient_plan(&run_spec(r), &opts, 252, "/", &all_controllers(), 4242, "rein-run-42.scope").unwrap();
    assert_eq!(p.scope, "rein-run-42.scope");
    assert_eq!(p.slice, "rein-rein_run_42.slice");
    assert_eq!(p.slice_cgroup, "rein.slice/rein-rein_run_42.slice");
    assert_eq!(p.scope_cgroup, "rein.slice/rein-rein_run_42.slice/rein-run-42.scope");
    let shown: Vec<String> = p.scope_properties.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        shown,
        [
            "Description=\"rein run: sleep 1\"",
            "Slice=\"rein-rein_run_42.slice\"",
            "PIDs=[4242]",
            "CollectMode=\"inactive-or-failed\"",
            "MemoryAccounting=yes",
            "TasksAccounting=yes",
            "MemoryMax=67108864",
            "CPUQuotaPerSecUSec=200000",
            "CPUQuotaPeriodUSec=100000",
        ]
    );
    assert!(p.residual.is_empty() && p.residual_writes().unwrap().is_empty());
    let text = p.to_string();
    assert!(text.starts_with("StartTransientUnit rein-run-42.scope (mode fail)\n"), "{text}");
    assert!(text.contains("+ auxiliary unit rein-rein_run_42.slice"), "{text}");
}

#[test]
fn plan_of_a_user_run_names_its_options_and_the_residual() {
    let mut r = Resources::new().memory_max(Bytes::mib(30));
    r.memory.oom_group = Some(true);
    let opts = ScopeOptions {
        unit: Some("build-1".into()),
        slice: "work-ci".into(),
        delegate: true,
        ..ScopeOptions::default()
    };
    let root = "/user.slice/user-1000.slice/user@1000.service";
    let user: BTreeSet<Controller> = [Controller::Cpu, Controller::Memory, Controller::Pids].into();
    let p = transient_plan(&run_spec(r), &opts, 252, root, &user, 7, "unused.scope").unwrap();
    assert_eq!(p.scope, "build-1.scope");
    assert_eq!(p.slice, "work-ci-build_1.slice");
    assert_eq!(
        p.scope_cgroup,
        "user.slice/user-1000.slice/user@1000.service/work.slice/work-ci.slice/work-ci-build_1.slice/build-1.scope"
    );
    assert!(p.scope_properties.contains(&Property::new("Delegate", Value::Bool(true))));
    assert_eq!(p.residual.memory.oom_group, Some(true));
    let writes: Vec<String> =
        p.residual_writes().unwrap().iter().map(|w| format!("{} < {}", w.file, w.value)).collect();
    assert_eq!(writes, ["memory.oom.group < 1"]);
}

#[test]
fn a_controller_the_user_manager_lacks_is_an_error_naming_it() {
    let mut r = Resources::new();
    r.io.weight = Some(rein::Weight::new(200).unwrap());
    let user: BTreeSet<Controller> = [Controller::Cpu, Controller::Memory, Controller::Pids].into();
    let root = "/user.slice/user-1000.slice/user@1000.service";
    let e = transient_plan(&run_spec(r), &ScopeOptions::default(), 252, root, &user, 7, "x.scope").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("controller 'io' is not available under"), "{text}");
    assert!(text.contains("user@1000.service/cgroup.controllers"), "{text}");
    let hint = e.hint().unwrap();
    assert!(hint.contains("does not delegate 'io'") && hint.contains("delegate.conf"), "{hint}");
    // cpuset too; accounting-only controllers are dropped quietly instead.
    let pinned = Resources::new().cpus(CpuList::parse("0").unwrap());
    assert!(transient_plan(&run_spec(pinned), &ScopeOptions::default(), 252, root, &user, 7, "x.scope").is_err());
    let mut io_acct = run_spec(Resources::new());
    io_acct.accounting.insert(Controller::Io);
    let p = transient_plan(&io_acct, &ScopeOptions::default(), 252, root, &user, 7, "x.scope").unwrap();
    assert!(!p.scope_properties.iter().any(|p| p.name == "IOAccounting"));
}

#[test]
fn bad_names_and_values_are_refused_before_any_call() {
    let spec = run_spec(Resources::new());
    let opts = |unit: &str, slice: &str| ScopeOptions {
        unit: Some(unit.into()),
        slice: slice.into(),
        ..ScopeOptions::default()
    };
    for (unit, slice) in [("a/b", "rein"), ("x@y", "rein"), ("ok", "a--b"), ("ok", "bad slice"), ("x.service", "rein")]
    {
        assert!(
            transient_plan(&spec, &opts(unit, slice), 252, "/", &all_controllers(), 1, "d.scope").is_err(),
            "{unit} {slice}"
        );
    }
    let zero = run_spec(Resources::new().pids_max(0));
    assert!(transient_plan(&zero, &ScopeOptions::default(), 252, "/", &all_controllers(), 1, "d.scope").is_err());
}

/// A bus that records calls; each start fails as the next entry of `starts` says (then
/// succeeds).
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    starts: Mutex<Vec<(Left, Option<&'static str>)>>,
}

impl Recorder {
    fn failing(starts: &[(Left, Option<&'static str>)]) -> Recorder {
        Recorder { starts: Mutex::new(starts.iter().rev().cloned().collect()), ..Recorder::default() }
    }
}

impl Bus for Recorder {
    fn instance(&self) -> Instance {
        Instance::System
    }
    fn version(&self) -> Result<String> {
        Ok("252.39-1~deb12u2".into())
    }
    fn control_group(&self) -> Result<String> {
        Ok(String::new())
    }
    fn start_transient(
        &self,
        name: &str,
        props: &[Property],
        aux: &[(String, Vec<Property>)],
    ) -> std::result::Result<(), StartError> {
        self.calls.lock().unwrap().push(format!("start {name} ({} properties) aux {}", props.len(), aux[0].0));
        let Some((left, refusal)) = self.starts.lock().unwrap().pop() else { return Ok(()) };
        let message = match (left, refusal) {
            (_, Some(name)) => {
                format!("Unit {name} was already loaded or has a fragment file. (org.freedesktop.systemd1.UnitExists)")
            }
            (Left::Unknown, None) => "no answer within 25s".to_string(),
            _ => "the job ended with result 'failed'".to_string(),
        };
        Err(StartError {
            error: Error::Manager {
                manager: "systemd system manager".into(),
                op: format!("start {name}"),
                message,
                hint: None,
            },
            left,
            taken: refusal.is_some(),
        })
    }
    fn stop(&self, name: &str) -> Result<()> {
        self.calls.lock().unwrap().push(format!("stop {name}"));
        Ok(())
    }
    fn is_loaded(&self, _: &str) -> Result<bool> {
        Ok(false)
    }
    fn set_properties(&self, name: &str, _: &[Property]) -> Result<()> {
        self.calls.lock().unwrap().push(format!("set {name}"));
        Ok(())
    }
    fn freeze(&self, name: &str, frozen: bool) -> Result<()> {
        self.calls.lock().unwrap().push(format!("freeze {name} {frozen}"));
        Ok(())
    }
}

fn calls(sd: &Systemd<Recorder>) -> Vec<String> {
    sd.bus.calls.lock().unwrap().clone()
}

fn unit(name: &str) -> ScopeOptions {
    ScopeOptions { unit: Some(name.into()), ..ScopeOptions::default() }
}

#[test]
fn a_failed_job_stops_the_slice_so_nothing_stays() {
    let tree = FakeTree::new(Layout::V2);
    let h = tree.hierarchy();
    let sd = Systemd::new(Recorder::failing(&[(Left::Units, None)]), h.clone(), ScopeOptions::default()).unwrap();
    let e = sd.create_around(&run_spec(Resources::new()), 1).unwrap_err();
    assert!(e.to_string().contains("result 'failed'"), "{e}");
    let pid = std::process::id();
    assert_eq!(
        calls(&sd),
        [
            format!("start rein-run-{pid}.scope (6 properties) aux rein-rein_run_{pid}.slice"),
            format!("stop rein-rein_run_{pid}.slice"),
        ]
    );
}

#[test]
fn a_taken_unit_is_refused_and_the_units_of_that_name_are_left_alone() {
    // A second `rein run --unit x` while the first runs: systemd refuses the call, and the
    // units named x.scope and rein-x.slice are the first run's. Nothing may stop them.
    let tree = FakeTree::new(Layout::V2);
    let h = tree.hierarchy();
    let sd = Systemd::new(Recorder::failing(&[(Left::Nothing, Some("x.scope"))]), h.clone(), unit("x")).unwrap();
    let e = sd.create_around(&run_spec(Resources::new()), 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "systemd system manager: cannot start x.scope: unit x.scope already exists (org.freedesktop.systemd1.UnitExists)"
    );
    let hint = e.hint().unwrap();
    assert!(hint.contains("choose another --unit") && hint.contains("'systemctl stop x.scope'"), "{hint}");
    assert_eq!(calls(&sd), ["start x.scope (6 properties) aux rein-x.slice"]);
    // Only the per-run slice is taken ('a-b' and 'a_b' share rein-a_b.slice): said so.
    let sd =
        Systemd::new(Recorder::failing(&[(Left::Nothing, Some("rein-a_b.slice"))]), h.clone(), unit("a_b")).unwrap();
    let e = sd.create_around(&run_spec(Resources::new()), 1).unwrap_err();
    assert!(e.to_string().contains("unit rein-a_b.slice, the per-run slice of a_b.scope, already exists"), "{e}");
    assert_eq!(calls(&sd), ["start a_b.scope (6 properties) aux rein-a_b.slice"]);
    // Any other refusal stops nothing either.
    let sd = Systemd::new(Recorder::failing(&[(Left::Nothing, None)]), h.clone(), unit("x")).unwrap();
    sd.create_around(&run_spec(Resources::new()), 1).unwrap_err();
    assert_eq!(calls(&sd).len(), 1);
}

#[test]
fn a_taken_default_name_is_retried_under_a_fresh_one() {
    let tree = FakeTree::new(Layout::V2);
    let h = tree.hierarchy();
    let pid = std::process::id();
    let stale = format!("rein-run-{pid}.scope");
    let sd =
        Systemd::new(Recorder::failing(&[(Left::Nothing, Some("stale"))]), h.clone(), ScopeOptions::default()).unwrap();
    // The retry starts; the recorder moves nothing, so adopting fails and the new slice,
    // made by this run, is stopped. The stale units are not.
    let e = sd.create_around(&run_spec(Resources::new()), pid).unwrap_err();
    assert!(e.to_string().contains("is in"), "{e}");
    let c = calls(&sd);
    assert_eq!(c.len(), 3, "{c:?}");
    assert!(c[0].starts_with(&format!("start {stale} ")), "{c:?}");
    assert!(
        c[1].starts_with(&format!("start rein-run-{pid}-")) && !c[1].starts_with(&format!("start {stale}")),
        "{c:?}"
    );
    assert!(c[2].starts_with(&format!("stop rein-rein_run_{pid}_")), "{c:?}");
}

#[test]
fn an_unanswered_start_stops_only_units_that_hold_the_process() {
    // No answer: the scope is ours only if the process it names is in it. Here it is not
    // (the recorder moves nothing), so nothing is stopped and the hint names the units.
    let tree = FakeTree::new(Layout::V2);
    let h = tree.hierarchy();
    let sd = Systemd::new(Recorder::failing(&[(Left::Unknown, None)]), h.clone(), unit("x")).unwrap();
    let e = sd.create_around(&run_spec(Resources::new()), std::process::id()).unwrap_err();
    assert!(e.to_string().contains("no answer within 25s"), "{e}");
    assert!(e.hint().unwrap().contains("'systemctl stop rein-x.slice' removes both"), "{e:?}");
    assert_eq!(calls(&sd), ["start x.scope (6 properties) aux rein-x.slice"]);
}

#[test]
fn a_pid_systemd_did_not_move_is_an_error_and_the_slice_is_stopped() {
    // The recorder "starts" the unit but moves nothing: our own pid stays where it is.
    let tree = FakeTree::new(Layout::V2);
    let h = tree.hierarchy();
    let sd = Systemd::new(Recorder::default(), h.clone(), unit("t")).unwrap();
    let e = sd.create_around(&run_spec(Resources::new()), std::process::id()).unwrap_err();
    assert!(e.to_string().contains("not in /rein.slice/rein-t.slice/t.scope"), "{e}");
    assert_eq!(calls(&sd).last().unwrap(), "stop rein-t.slice");
}

#[test]
fn a_missing_controller_makes_no_call() {
    let tree = FakeTree::new(Layout::V2);
    std::fs::write(tree.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    let h = tree.hierarchy();
    let sd = Systemd::new(Recorder::default(), h.clone(), ScopeOptions::default()).unwrap();
    let mut r = Resources::new();
    r.io.weight = Some(rein::Weight::new(300).unwrap());
    let e = sd.create_around(&run_spec(r), 1).unwrap_err();
    assert!(matches!(e, Error::ControllerUnavailable { .. }), "{e}");
    assert!(calls(&sd).is_empty());
    assert_eq!(sd.available(&h).unwrap(), [Controller::Cpu, Controller::Memory, Controller::Pids].into());
}

#[test]
fn io_limits_need_a_device_path_systemd_can_resolve() {
    let mut r = Resources::new();
    let mut m = rein::resources::IoMax::new(rein::DeviceNumber { major: 4095, minor: 4095 });
    m.wbps = Some(rein::Limit::Value(1 << 20));
    r.io.max.push(m);
    let e = check_device_paths(&r).unwrap_err().to_string();
    assert!(e.contains("/dev/block/4095:4095 does not name that block device"), "{e}");
    assert!(check_device_paths(&Resources::new()).is_ok());
    // The positive case needs udev's /dev/block: the systemd VM's parity test covers it.
}
