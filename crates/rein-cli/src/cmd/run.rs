//! `rein run`.

use std::process::ExitCode;
use std::sync::Arc;

use crate::record::Recorder;
use crate::supervisor::{Detail, Policing, Report, RunError, Supervisor, Target};
use anyhow::Context;
use rein::launch::Prepared;
use rein::{Controller, Group, GroupPath, Hierarchy, Mode, Spec};
use rein_systemd::{Bounds, ScopeOptions, Systemd, names};
use std::time::Duration;

use super::driver::{self, Chosen, DriverOpts};
use crate::cli::{ReportFormat, RunArgs};
use crate::report;
use crate::rss_trim::Lean;

/// Controllers `rein run` enables even without limits on them. Always memory: the OOM
/// kills of the group are counted there. For a report or a recording also pids (peak),
/// io (bytes and operations per device; v1 blkio counts throttled devices only) and, on
/// v1, cpuacct (CPU time; cpu.stat gives it in the v2 core). Each one costs a directory
/// per run on v1, so a plain run leaves them out. Where one is missing, its figures are
/// simply absent. Where the cgroup2 core cannot kill the leftovers (pure v1, kernels
/// before 5.2), the v1 freezer too (`rein::group::kill_needs_v1_freezer`; the library's
/// run adds it as well, this shows it in a dry run).
fn accounting(h: &Hierarchy, full: bool) -> std::collections::BTreeSet<Controller> {
    let mut set: std::collections::BTreeSet<Controller> = [Controller::Memory].into();
    if rein::group::kill_needs_v1_freezer(h) {
        set.insert(Controller::Freezer);
    }
    if full {
        set.extend([Controller::Pids, Controller::Io]);
        if h.mode() == Mode::Legacy {
            set.insert(Controller::Cpuacct);
        }
    }
    set
}

/// The command line as a unit description: printable, and short enough for `systemctl status`.
fn description(args: &RunArgs) -> String {
    let line: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut text: String = line.join(" ").chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > 200 {
        text = text.chars().take(200).collect::<String>() + "...";
    }
    format!("rein run: {text}")
}

/// Refuses a `--name` with a `/`: a run makes and removes one group, so a path would
/// leave the groups on its way behind (and a leading `/` was read relative to --parent).
/// The message gives the --parent and --name that mean it.
fn one_name(name: &str, parent: Option<&str>) -> rein::Result<()> {
    if !name.contains('/') {
        return Ok(());
    }
    let trimmed = name.trim_matches('/');
    let (dirs, last) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    // `/a/b` names a group from the root; `a/b` one beneath --parent.
    let base = if name.starts_with('/') { "" } else { parent.unwrap_or(crate::supervisor::DEFAULT_PARENT) };
    let above: Vec<&str> = [base, dirs].into_iter().map(|s| s.trim_matches('/')).filter(|s| !s.is_empty()).collect();
    let instead = match above.is_empty() {
        true => format!("--name {last} makes it beneath --parent (default {})", crate::supervisor::DEFAULT_PARENT),
        false => format!("give the groups above it as the parent: --parent /{} --name {last}", above.join("/")),
    };
    Err(rein::Error::invalid(
        "--name",
        name,
        format!("a run's group is one name beneath --parent, not a path (no '/'); {instead}"),
    ))
}

/// How long after rein's own deadline (timeout + kill-after) systemd ends the scope.
const SYSTEMD_BACKSTOP: Duration = Duration::from_secs(5);

pub fn run(
    args: &RunArgs,
    drivers: DriverOpts,
    hierarchy: &dyn Fn() -> anyhow::Result<Arc<Hierarchy>>,
) -> anyhow::Result<ExitCode> {
    // Everything the user typed is checked before the host is touched.
    let resources = args.limits.to_resources(&rein::device::resolve)?;
    let policy = args.policy.to_policy()?;
    let parent =
        GroupPath::parse(args.parent.as_deref().unwrap_or(crate::supervisor::DEFAULT_PARENT)).context("--parent")?;
    if let Some(name) = &args.name {
        // What no group name may be first (`..`, an interface file's name), then a path.
        GroupPath::parse(name).context("--name")?;
        one_name(name, args.parent.as_deref())?;
    }
    let interval = rein::units::parse_duration_usec(&args.record_interval)
        .map_err(|e| rein::Error::invalid("--record-interval", &args.record_interval, e))?;
    if interval < 1000 {
        return Err(rein::Error::invalid("--record-interval", &args.record_interval, "must be at least 1ms").into());
    }
    if let Some(unit) = &args.unit {
        names::scope_name(unit)?;
    }
    if let Some(slice) = &args.slice {
        names::slice_name(slice)?;
    }
    let (program, rest) = args.command.split_first().context("no command given")?;
    let cmd = Prepared::new(program, rest).map_err(|e| anyhow::anyhow!("cannot run {program:?}: {}", e.io_error()))?;
    let h = hierarchy()?;
    rein::policy::check(&policy, &h)?;
    // `-g NAME` joins an existing group (through cgroup.procs, whichever driver made it);
    // the group keeps its directories and its other processes when the command ends.
    if let Some(g) = &args.group {
        let path = match g.contains(':') {
            // libcgroup's CONTROLLERS:NAME names the same group.
            true => rein::compat::libcgroup::parse_group_spec(g)?.path,
            false => GroupPath::parse(g).context("-g")?,
        };
        if !policy.is_empty() {
            anyhow::bail!(
                "--timeout, --cpu-time, --on-pressure and --on-oom act on the whole group, and -g {g} is shared \
                 with its other processes: run in a group of the run's own (no -g), or give the group's \
                 policies to 'rein supervise'"
            );
        }
        let target = Target::Existing(path);
        let spec = Spec { resources, accounting: Default::default() };
        if args.dry_run {
            return dry_run_cgroupfs(args, &h, &target, &spec);
        }
        let sup = Supervisor::install()?;
        let mut lean = Lean::new(None);
        let mut policing = Policing::new(&policy);
        let outcome = crate::supervisor::run_observed(
            h,
            &sup,
            &cmd,
            &target,
            &spec,
            Some(&mut lean),
            Detail::Full,
            &mut policing,
        );
        return finish(args, &program.to_string_lossy(), outcome);
    }
    let full = args.report.is_some() || args.record.is_some();
    let mut spec = Spec { resources, accounting: accounting(&h, full) };
    spec.accounting.extend(rein::policy::controllers(&policy, &h));
    if policy.on_oom == Some(rein::policy::OomAction::KillGroup)
        && matches!(h.binding(Controller::Memory), Some(rein::hierarchy::Binding::V2(_)))
    {
        // The kernel kills the whole group at once: memory.oom.group, which the systemd
        // driver gives the scope as OOMPolicy=kill.
        spec.resources.memory.oom_group = Some(true);
    }
    let mut policing = Policing::new(&policy);

    // Signals are blocked before anything else starts: the systemd driver's D-Bus
    // connection runs a helper thread, which must inherit the mask, or a ^C could land
    // there and kill rein between creating a unit and removing it. Blocked, they still end
    // every wait on the bus (the interrupt): a ^C while systemd does not answer ends rein
    // with 128 + the signal, after undoing what the run made.
    let sup = if args.dry_run { None } else { Some(Supervisor::install()?) };
    let scope = ScopeOptions {
        unit: args.unit.clone(),
        slice: args.slice.clone().unwrap_or_else(|| names::DEFAULT_SLICE.into()),
        description: description(args),
        delegate: false,
        // rein acts at the deadline itself (its report, exit 124); systemd's RuntimeMaxSec=
        // is the backstop that ends the scope should rein be gone by then.
        runtime_max_usec: policy.timeout.map(|t| (t + policy.grace() + SYSTEMD_BACKSTOP).as_micros() as u64),
    };
    let bounds = match &sup {
        Some(sup) => Bounds::interruptible(sup.interrupt()?),
        None => Bounds::default(),
    };
    let outcome = match driver::choose(drivers, &h, scope, bounds)? {
        Chosen::Cgroupfs { reason } => {
            for (flag, given) in [("--slice", args.slice.is_some()), ("--unit", args.unit.is_some())] {
                if given {
                    anyhow::bail!("{flag} applies to the systemd driver, and this run uses cgroupfs ({reason})");
                }
            }
            let target = Target::New { parent, name: args.name.clone() };
            if args.dry_run {
                return dry_run_cgroupfs(args, &h, &target, &spec);
            }
            let sup = sup.as_ref().expect("installed for real runs");
            let cmdline: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
            let mut recorder = match &args.record {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("cannot create the recording {}", path.display()))?;
                    Some((path, Recorder::new(std::io::BufWriter::new(file), Duration::from_micros(interval), cmdline)))
                }
                None => None,
            };
            let mut lean = Lean::new(recorder.as_mut().map(|(_, r)| r as &mut dyn crate::supervisor::Observer));
            let detail = if full { Detail::Full } else { Detail::OomOnly };
            let outcome =
                crate::supervisor::run_observed(h, sup, &cmd, &target, &spec, Some(&mut lean), detail, &mut policing);
            match (&outcome, recorder) {
                (Ok(rep), Some((path, r))) => {
                    if let Err(e) = r.finish(rep) {
                        crate::print_error(&anyhow::anyhow!("writing the recording {}: {e}", path.display()));
                    }
                }
                // Nothing ran: leave no recording of it.
                (Err(_), Some((path, _))) => {
                    let _ = std::fs::remove_file(path);
                }
                (_, None) => {}
            }
            outcome
        }
        Chosen::Systemd { sd, reason: _ } => {
            for (flag, given) in [("--parent", args.parent.is_some()), ("--name", args.name.is_some())] {
                if given {
                    anyhow::bail!(
                        "{flag} applies to the cgroupfs driver; under systemd use --slice and --unit \
                         (or --driver cgroupfs)"
                    );
                }
            }
            if args.record.is_some() {
                anyhow::bail!("--record works with the cgroupfs driver for now (add --driver cgroupfs)");
            }
            if args.dry_run {
                return dry_run_systemd(args, &sd, &h, &spec);
            }
            let sup = sup.as_ref().expect("installed for real runs");
            crate::supervisor::run_in_unit(sup, &cmd, &*sd, &spec, &mut policing)
        }
    };
    finish(args, &program.to_string_lossy(), outcome)
}

fn finish(args: &RunArgs, program: &str, outcome: Result<Report, RunError>) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(rep) => {
            report::print_outcome(&rep, program);
            match args.report {
                Some(ReportFormat::Json) => eoutln!("{}", report::json(&rep)),
                Some(ReportFormat::Human) => eout!("{}", report::human(&rep)),
                None => {}
            }
            if let Some(e) = &rep.cleanup_error {
                crate::print_error(&anyhow::anyhow!("cleaning up {}: {e}", rep.unit.as_deref().unwrap_or(&rep.group)));
            }
            if let Some(code) = rep.policy.as_ref().and_then(|p| p.verdict).and_then(|v| v.exit_code()) {
                // The policy ended the run: its status, as timeout(1) gives 124 whatever
                // the command died of.
                return Ok(ExitCode::from(code.clamp(0, 255) as u8));
            }
            if let rein::launch::ExitStatus::Signaled(_) = rep.status {
                // The parent sees what it would have seen from the command itself: death
                // by the same signal (a shell stops a loop on ^C only then), after rein's
                // own lines and the report above. See rein::launch::exit_like.
                use std::io::Write;
                let _ = std::io::stdout().flush();
                rein::launch::exit_like(rep.status);
            }
            Ok(ExitCode::from(rep.exit_code.clamp(0, 255) as u8))
        }
        Err(e) => {
            let code = e.exit_code();
            let err = e.into_error();
            let signal = err.interrupted_by();
            crate::print_error(&anyhow::Error::new(err));
            if let Some(sig) = signal {
                // A signal ended rein while it waited for systemd, before the command ran,
                // and what the run made is stopped: end as that signal would have.
                rein::launch::exit_like(rein::launch::ExitStatus::Signaled(sig));
            }
            Ok(ExitCode::from(code))
        }
    }
}

/// The policy's part of a dry run: what rein watches while the command runs.
fn print_policy(p: &rein::policy::Policy) {
    let grace = rein::units::human_usec(p.grace().as_micros() as u64);
    if let Some(t) = p.timeout {
        let t = rein::units::human_usec(t.as_micros() as u64);
        outln!("# policy: at {t} SIGTERM to every process of the group, {grace} later cgroup.kill (exit 124)");
    }
    if let Some(t) = p.cpu_time {
        let t = rein::units::human_usec(t.as_micros() as u64);
        outln!("# policy: when the group's CPU time reaches {t}, SIGTERM, {grace} later cgroup.kill (exit 152)");
    }
    for r in &p.on_pressure {
        outln!("# policy: {} > {} (a PSI trigger), then {r}", r.trigger.kernel_text(), r.trigger.resource.file());
    }
    if let Some(o) = &p.on_oom {
        outln!("# policy: on each OOM kill in the group: {o}");
    }
}

fn cmdline(args: &RunArgs) -> String {
    let line: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    format!("{:?}", line.join(" "))
}

fn dry_run_cgroupfs(args: &RunArgs, h: &Arc<Hierarchy>, target: &Target, spec: &Spec) -> anyhow::Result<ExitCode> {
    let path = crate::supervisor::target_path(target)?;
    if let Target::Existing(_) = target {
        let group = Group::open(h.clone(), &path)?;
        if !spec.resources.is_empty() {
            out!("{}", group.plan_update(spec)?.display(h));
        }
        for f in group.procs_files() {
            outln!("$CHILD > {}", f.display());
        }
        outln!("# start {} there; the group stays when it exits", cmdline(args));
        return Ok(ExitCode::SUCCESS);
    }
    let (mut plan, nodes) = Group::plan(h, &path, spec, true)?;
    plan.mark_new_groups(rein::mark::Mark::transient_for_self(&Default::default())?);
    out!("{}", plan.display(h));
    let first = nodes.first().map(|n| n.place.mount(h).dir_path(&path));
    let how = if nodes.iter().any(|n| n.place == rein::plan::Place::V2) && rein::launch::has_clone3() {
        "clone3 CLONE_INTO_CGROUP"
    } else {
        "the child writes 0 to cgroup.procs before exec"
    };
    outln!("# start {} in {} ({how})", cmdline(args), first.map(|p| p.display().to_string()).unwrap_or_default());
    print_policy(&args.policy.to_policy()?);
    outln!("# when it exits: kill what is left in the group, read the accounting, then");
    for n in &nodes {
        outln!("rmdir {}", n.place.mount(h).dir_path(&path).display());
    }
    Ok(ExitCode::SUCCESS)
}

fn dry_run_systemd(args: &RunArgs, sd: &Systemd, h: &Hierarchy, spec: &Spec) -> anyhow::Result<ExitCode> {
    let plan = sd.plan(h, spec, 0)?;
    let mount = h.unified().map(|u| u.mount.path().to_path_buf()).unwrap_or_default();
    outln!(
        "# systemd {} ({} manager): start {} held before exec, then",
        sd.version(),
        sd.instance().as_str(),
        cmdline(args)
    );
    out!("{}", plan.to_string().replace("PIDs=[0]", "PIDs=[<pid of the held command>]"));
    outln!(
        "# wait for the job's JobRemoved signal; the command is then in {}",
        mount.join(&plan.scope_cgroup).display()
    );
    if !plan.residual.is_empty() {
        outln!("# what systemd {} cannot express, written into the scope's own files:", sd.version());
        for w in plan.residual_writes()? {
            outln!("{} > {}", w.value, mount.join(&plan.scope_cgroup).join(&*w.file).display());
        }
    }
    if let Some(frozen) = plan.freeze {
        outln!("{} {}", if frozen { "FreezeUnit" } else { "ThawUnit" }, plan.scope);
    }
    print_policy(&args.policy.to_policy()?);
    outln!("# release the command; when it exits: kill what is left in the scope, read the accounting");
    outln!("# from {} (it outlives the scope), then", mount.join(&plan.slice_cgroup).display());
    outln!("StopUnit {} (mode fail)", plan.slice);
    Ok(ExitCode::SUCCESS)
}
